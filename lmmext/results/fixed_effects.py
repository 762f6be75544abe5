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
from ..inference.wald import (contrast_f_test, r_term_order, t_table, term_contrasts,
                              wald_f_table)

__all__ = ["FixedEffectTests", "FTest", "check_ddf", "nlme_contrast", "select_terms"]


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


class FTest(pd.DataFrame):
    """One joint F test, nlme's ``anova(fit, Terms = )`` or ``anova(fit, L = )``: a
    one-row table (``numDF``, ``denDF``, ``F-value``, ``p-value``) printed under nlme's
    heading and, for ``L``, the contrast's non-zero columns.

    Attributes
    ----------
    heading : str
        ``"F-test for: <terms>"`` or ``"F-test for linear combination(s)"`` (gls: after
        ``"Denom. DF: <N - p>"``).
    L : pandas.DataFrame or None
        The contrast matrix tested, one column per fixed effect (``L=`` tests only).
    """

    _metadata = ["heading", "L", "shown_L"]
    heading = ""
    L = None
    shown_L = None

    @property
    def _constructor(self):
        return FTest

    def __repr__(self):
        parts = [self.heading] if self.heading else []
        if self.shown_L is not None:
            parts.append(self.shown_L.to_string())
        parts.append(pd.DataFrame(self).__repr__())
        return "\n".join(parts)

    __str__ = __repr__


def _is_named(index):
    """Whether a pandas index holds names (not R's default positions 0..n-1)."""
    return not (isinstance(index, pd.RangeIndex) or pd.api.types.is_integer_dtype(index))


def nlme_contrast(L, names):
    """nlme's ``L`` argument as a matrix with one column per fixed effect ``names``.

    A dict/Series (named vector: one contrast) or a DataFrame with named columns is
    matched by name; an unnamed vector or matrix fills the first columns and is padded
    with zeros on the right, as R does.  All-zero rows are dropped.  Returns
    ``(matrix, row labels)``.
    """
    names = pd.Index(names)
    p = len(names)
    rows = None
    if isinstance(L, dict):
        L = pd.Series(L, dtype=object)
    if isinstance(L, pd.Series):
        L = L.to_frame().T if _is_named(L.index) else L.to_numpy()
    if isinstance(L, pd.DataFrame):
        rows = list(L.index) if _is_named(L.index) else None
        cols = list(L.columns) if _is_named(L.columns) else None
        values = L.to_numpy()
    else:
        cols, values = None, L
    try:
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("anova(L=): L must hold numbers (a dict or Series named by fixed "
                         "effects, a DataFrame with named columns, or a vector or matrix)"
                         ) from None
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.size == 0:
        raise ValueError("anova(L=): L must be a non-empty vector or matrix")
    if not np.all(np.isfinite(values)):
        raise ValueError("anova(L=): L has missing or infinite values")
    full = np.zeros((values.shape[0], p))
    if cols is None:
        if values.shape[1] > p:
            raise ValueError(f"anova(L=): L must have at most {p} columns (one per fixed "
                             f"effect: {list(names)}), got {values.shape[1]}")
        full[:, :values.shape[1]] = values
    else:
        unknown = [c for c in cols if c not in names]
        if unknown:
            raise ValueError(f"anova(L=): fixed effect(s) {unknown} not matched; the fixed "
                             f"effects are {list(names)}")
        full[:, names.get_indexer(cols)] = values
    keep = np.any(full != 0, axis=1)
    if not keep.any():
        raise ValueError("anova(L=): L has no non-zero rows")
    rows = (list(np.asarray(rows, dtype=object)[keep]) if rows is not None
            else list(range(1, int(keep.sum()) + 1)))
    return full[keep], rows


def select_terms(Terms, term_names):
    """Positions (0-based) of nlme's ``Terms`` argument: 1-based rows of the anova table
    or term names."""
    items = [Terms] if isinstance(Terms, (str, int, float, np.integer, np.floating)) \
        else list(Terms)
    n = len(term_names)
    if not items:
        raise ValueError("anova(Terms=): no terms given")
    if all(isinstance(t, str) for t in items):
        alias = {"(Intercept)": "Intercept"}
        bad = [t for t in items if alias.get(t, t) not in term_names]
        if bad:
            raise ValueError(f"anova(Terms=): term(s) {bad} not matched; the terms are "
                             f"{term_names} (or their positions 1..{n})")
        chosen = [term_names.index(alias.get(t, t)) for t in items]
    elif all(isinstance(t, (int, float, np.integer, np.floating)) and not isinstance(t, bool)
             and float(t).is_integer() for t in items):
        if min(items) < 1 or max(items) > n:
            raise ValueError(f"anova(Terms=): Terms must be between 1 and {n} (the rows of "
                             f"the anova table: {term_names}), got {items}")
        chosen = [int(t) - 1 for t in items]
    else:
        raise ValueError("anova(Terms=): terms can only be integers (1-based rows of the "
                         f"anova table) or term names {term_names}, got {Terms!r}")
    return list(dict.fromkeys(chosen))


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
    def anova(self, type="sequential", L=None, ddf="containment", Terms=None):
        """F tests per model term, as nlme's ``anova(fit)``; one joint test with ``Terms=``
        or ``L=``.

        Parameters
        ----------
        type : {"sequential", "marginal"}
            Sequential (Type I: each term adjusted for the terms before it, in R's term
            order: as written, main effects first) or marginal (each term adjusted for all
            others) Wald F tests.  Ignored with ``Terms`` or ``L``, as in nlme: their joint
            test is the Wald test of the coefficients involved (for one term, its marginal
            row).
        L : array_like, dict or pandas object, optional
            One joint test of ``L beta = 0`` (nlme's ``anova(fit, L = ...)``).  A dict or
            a Series with the fixed-effect names as keys (nlme's named vector, e.g.
            ``{"Time:Diet[T.2]": 1, "Time:Diet[T.3]": -1}``), a DataFrame with named
            columns (named matrix; its index names the contrasts), or an unnamed vector or
            matrix whose columns are the first fixed effects in the order of ``fe_params``
            (shorter rows are padded with zeros on the right, as in R).  All-zero rows are
            dropped.  With the containment rule all coefficients involved must have the
            same denominator degrees of freedom, as in nlme.
        ddf : {"containment", "satterthwaite", "kenward-roger"}
            Denominator degrees of freedom: nlme's rule (gls: ``N - p``), Satterthwaite's
            approximation (Fai and Cornelius for multi-df terms), or Kenward-Roger (REML
            fits only; the F statistic is scaled as Kenward and Roger's).
        Terms : int, str or list of them, optional
            One joint F test of these terms (nlme's ``anova(fit, Terms = ...)``): rows of
            the anova table by 1-based position (the intercept is row 1) or by name
            (``"Time:Diet"``; ``"(Intercept)"`` is accepted for ``"Intercept"``).  With
            the containment rule the terms must have the same denominator degrees of
            freedom, as in nlme.

        Returns
        -------
        pandas.DataFrame
            Columns ``numDF``, ``denDF``, ``F-value``, ``p-value``, one row per term.
            With ``Terms`` or ``L``: one row, labelled 1, printed under nlme's heading
            (``F-test for: Time, Time:Diet`` or ``F-test for linear combination(s)``
            followed by the non-zero columns of ``L``); the heading is the attribute
            ``heading`` and the contrast matrix (all fixed effects) the attribute ``L``.

        Raises
        ------
        ValueError
            Unknown or out-of-range ``Terms``, unknown names or too many columns in
            ``L``, linearly dependent rows of ``L``, coefficients with different
            denominator degrees of freedom, or both ``Terms`` and ``L``.

        See Also
        --------
        lmmext.anova : compares several fits.
        """
        ddf = check_ddf(ddf)
        if type not in ("sequential", "marginal"):
            raise ValueError(f"type must be 'sequential' or 'marginal', got {type!r}")
        beta = self.fe_params.to_numpy()
        terms = (r_term_order(self.frame.formula, self.frame.get_design_info())
                 if self.frame.formula is not None else self.frame.terms())
        if Terms is not None or L is not None:
            return self._joint_f_test(beta, terms, Terms, L, ddf)
        if ddf == "containment":
            return wald_f_table(beta, self._vcov_tests, terms, self._term_df, type)
        sat = self._satterthwaite() if ddf == "satterthwaite" else self._kenward_roger()
        out = []
        for name, Lt in term_contrasts(terms, sat.Phi, type):
            F, q, den = sat.f_test(Lt, beta)
            out.append((name, q, den, F))
        tab = pd.DataFrame(out, columns=["term", "numDF", "denDF", "F-value"]).set_index("term")
        tab.index.name = None
        tab["p-value"] = stats.f.sf(tab["F-value"], tab["numDF"], tab["denDF"])
        return tab

    def _joint_f_test(self, beta, terms, Terms, L, ddf):
        """nlme's ``anova(fit, Terms = )`` / ``anova(fit, L = )``: one joint F test."""
        names = self.fe_params.index
        if Terms is not None and L is not None:
            raise ValueError("anova: give Terms= or L=, not both")
        if L is not None:
            Lm, rows = nlme_contrast(L, names)
            heading = "F-test for linear combination(s)"
            used = np.any(Lm != 0, axis=0)
            shown = (pd.Series(Lm[0, used], index=names[used]) if len(Lm) == 1 else
                     pd.DataFrame(Lm[:, used], index=rows, columns=names[used]))
        else:
            chosen = select_terms(Terms, [n for n, _ in terms])
            cols = [c for i in chosen for c in terms[i][1]]
            Lm = np.eye(len(beta))[cols]
            heading = "F-test for: " + ", ".join(terms[i][0] for i in chosen)
            shown = None
        if ddf == "containment":
            if L is not None:
                tab = contrast_f_test(beta, self._vcov_tests, Lm, names,
                                      self.df_resid_fe.to_numpy())
                F, q, den = (tab[c].iloc[0] for c in ("F-value", "numDF", "denDF"))
            else:
                dens = sorted({float(self._term_df[terms[i][0]]) for i in chosen})
                if len(dens) > 1:
                    raise ValueError("anova(Terms=): terms must all have the same denominator "
                                     f"DF, as in nlme (these have {dens})")
                Lb = Lm @ beta
                q, den = Lm.shape[0], dens[0]
                F = float(Lb @ np.linalg.solve(Lm @ self._vcov_tests @ Lm.T, Lb)) / q
        else:
            sat = self._satterthwaite() if ddf == "satterthwaite" else self._kenward_roger()
            F, q, den = sat.f_test(Lm, beta)
        if self._is_gls:
            heading = f"Denom. DF: {den:g}\n {heading}"
        out = FTest({"numDF": [int(q)], "denDF": [float(den)], "F-value": [float(F)],
                     "p-value": [float(stats.f.sf(F, q, den))]}, index=[1])
        out.heading, out.L, out.shown_L = heading, (pd.DataFrame(Lm, columns=names)
                                                     if L is not None else None), shown
        return out

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
            ``"fixed"`` computes the fixed-effect intervals only, ``"var-cov"`` those of
            the variance parameters only (``fixed`` is then None and not printed), as nlme.
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
