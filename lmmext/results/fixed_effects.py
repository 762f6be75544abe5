"""Tests and intervals of a fit's fixed effects: nlme's t table and ``anova`` with the
containment, Satterthwaite or Kenward-Roger denominator degrees of freedom, and
``intervals()``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..inference.intervals import intervals as _intervals
from ..inference.kenward_roger import KenwardRoger
from ..inference.satterthwaite import Satterthwaite
from ..inference.wald import (as_contrast, contrast_f_test, r_term_order, t_table,
                              term_contrasts, wald_f_table)

__all__ = ["FixedEffectTests", "check_ddf"]


_DDF = {"containment": "containment", "nlme": "containment", "satterthwaite": "satterthwaite",
        "kenward-roger": "kenward-roger", "kr": "kenward-roger"}


def check_ddf(ddf):
    """The canonical name of a ``ddf=`` choice, or a ValueError listing the accepted
    ones."""
    key = _DDF.get(str(ddf).lower())
    if key is None:
        raise ValueError(f"ddf must be 'containment', 'satterthwaite' or 'kenward-roger', "
                         f"got {ddf!r}")
    return key


class FixedEffectTests:
    """Tests and intervals of the fixed effects (mixed into the results)."""

    def fe_table(self, ddf="containment"):
        """nlme's fixed-effects table, ``summary(fit)$tTable``.

        Parameters
        ----------
        ddf : {"containment", "satterthwaite", "kenward-roger"}
            Denominator degrees of freedom: nlme's containment rule (gls: ``N - p``),
            Satterthwaite's approximation, or Kenward-Roger's (which also adjusts the
            standard errors; REML fits only).  Satterthwaite t tests use the unadjusted
            covariance ``sigma^2 (X'V^-1X)^-1``, as SAS and lmerTest do.

        Returns
        -------
        pandas.DataFrame
            Columns ``Value``, ``Std.Error``, ``DF``, ``t-value``, ``p-value``, one row per
            fixed effect.
        """
        ddf = check_ddf(ddf)
        if ddf == "containment":
            return t_table(self.fe_params, self.bse_fe, self.df_resid_fe)
        se = self._fe_series(np.sqrt(np.diag(self._test_covariance(ddf))), "se")
        return t_table(self.fe_params, se, self.coef_df(ddf))

    # --- tests and intervals ------------------------------------------------------------
    def anova(self, type="sequential", L=None, ddf="containment"):
        """F tests per model term, as nlme's ``anova(fit)``.

        Parameters
        ----------
        type : {"sequential", "marginal"}
            Sequential (Type I: each term adjusted for the terms before it, in R's term
            order: as written, main effects first) or marginal (each term adjusted for all
            others) Wald F tests.
        L : array_like, optional
            A contrast matrix (one row per contrast, one column per fixed effect in the
            order of ``fe_params``) for one joint test of ``L beta = 0``.  With the
            containment rule all coefficients involved must have the same denominator
            degrees of freedom, as in nlme.
        ddf : {"containment", "satterthwaite", "kenward-roger"}
            Denominator degrees of freedom: nlme's rule (gls: ``N - p``), Satterthwaite's
            approximation (Fai and Cornelius for multi-df terms), or Kenward-Roger (REML
            fits only; the F statistic is scaled as Kenward and Roger's).

        Returns
        -------
        pandas.DataFrame
            Columns ``numDF``, ``denDF``, ``F-value``, ``p-value``, one row per term (or
            one row ``L``).

        See Also
        --------
        lmmext.anova : compares several fits.
        """
        ddf = check_ddf(ddf)
        beta = self.fe_params.to_numpy()
        terms = (r_term_order(self.frame.formula, self.frame.get_design_info())
                 if self.frame.formula is not None else self.frame.terms())
        if ddf == "containment":
            if L is not None:
                return contrast_f_test(beta, self._vcov_tests, L, self.fe_params.index,
                                       self.df_resid_fe.to_numpy())
            return wald_f_table(beta, self._vcov_tests, terms, self._term_df, type)
        sat = self._satterthwaite() if ddf == "satterthwaite" else self._kenward_roger()
        rows = ([("L", as_contrast(L, self.fe_params.index))] if L is not None
                else term_contrasts(terms, sat.Phi, type))
        out = []
        for name, Lt in rows:
            F, q, den = sat.f_test(Lt, beta)
            out.append((name, q, den, F))
        tab = pd.DataFrame(out, columns=["term", "numDF", "denDF", "F-value"]).set_index("term")
        tab.index.name = None
        tab["p-value"] = stats.f.sf(tab["F-value"], tab["numDF"], tab["denDF"])
        return tab

    def _test_covariance(self, ddf):
        """The fixed effects' covariance the tests on ``ddf`` (a :func:`check_ddf` name)
        use: nlme's, the unadjusted one for Satterthwaite (as SAS and lmerTest), or
        Kenward-Roger's adjusted one (its SEs are larger)."""
        if ddf == "kenward-roger":
            return self._kenward_roger().Phi_A
        if ddf == "satterthwaite":
            return self._satterthwaite().Phi
        return self._vcov_tests

    def _kenward_roger(self):
        if getattr(self, "_kr", None) is None:
            if not self.reml:
                raise ValueError("Kenward-Roger degrees of freedom need a REML fit")
            self._kr = KenwardRoger(self._state)
        return self._kr

    def _satterthwaite(self):
        if getattr(self, "_sat", None) is None:
            self._sat = Satterthwaite(self._state)
        return self._sat

    def coef_df(self, ddf="containment"):
        """Denominator degrees of freedom per fixed effect.

        Parameters
        ----------
        ddf : {"containment", "satterthwaite", "kenward-roger"}
            nlme's containment rule (gls: ``N - p``; the same as ``df_resid_fe``),
            Satterthwaite's approximation, or Kenward-Roger's (REML fits only).

        Returns
        -------
        pandas.Series
        """
        ddf = check_ddf(ddf)
        if ddf == "containment":
            return self.df_resid_fe
        if ddf == "kenward-roger":
            return self._fe_series(self._kenward_roger().coef_df(self.fe_params.to_numpy()), "df")
        return self._fe_series(self._satterthwaite().coef_df(), "df")

    def intervals(self, level=0.95, which="all", method="wald"):
        """Approximate confidence intervals, as nlme's ``intervals()``.

        Fixed effects get ``estimate +- t * SE`` with t quantiles on their denominator
        degrees of freedom; random-effect SDs and correlations, variance-function and
        correlation-structure parameters and sigma get Wald intervals on nlme's natural
        scale (log SDs, Fisher z of correlations, the structures' own transformations),
        mapped back, from the approximate covariance of the variance parameters (nlme's
        ``apVar``, here from an accurate Hessian).

        Parameters
        ----------
        level : float
            Confidence level, in (0, 1).
        which : {"all", "fixed", "var-cov"}
            ``"fixed"`` computes the fixed-effect intervals only.
        method : {"wald", "satterthwaite"}
            ``"satterthwaite"`` adds SAS PROC MIXED's ``CL`` chi-square intervals for the
            variance components as the attribute ``varcomp``.

        Returns
        -------
        Intervals
            Printing it shows nlme's layout.  Attributes ``fixed`` (DataFrame with columns
            ``lower``, ``est.``, ``upper``), ``re`` (dict of such DataFrames per grouping
            level), ``corStruct``, ``varStruct`` (DataFrames or None), ``sigma`` (Series),
            and with ``method="satterthwaite"`` ``varcomp``.

        Warns
        -----
        UserWarning
            When the approximate covariance is not positive definite (a flat likelihood, e.g.
            a variance on the boundary); only the fixed-effect intervals are returned.
        """
        return _intervals(self, level, which, method)
