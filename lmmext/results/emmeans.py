"""Estimated marginal means and contrasts of a fit (R's emmeans, SAS LSMEANS /
ESTIMATE / CONTRAST) with mixed-model denominator degrees of freedom.

:func:`emmeans` builds the reference grid of the fit's fixed effects
(:class:`~lmmext.inference.emmeans.ReferenceGrid`), averages it into the marginal means
of ``specs`` (within ``by`` groups) and returns an :class:`EMMeans`: ``summary()``,
``contrast()``, ``pairs()`` and ``plot()``.  :func:`estimate` is SAS's ``ESTIMATE``:
named linear combinations of the fixed effects with their t tests and intervals.

Degrees of freedom (``ddf=``): ``"containment"`` (lme: emmeans' rule, the smallest of
nlme's coefficient DFs among the coefficients a linear function involves, the intercept
counting as the number of outermost groups - 1; gls: ``N - p``), ``"satterthwaite"``
(analytic), ``"kenward-roger"`` (REML; the standard errors from Kenward and Roger's
adjusted covariance) or ``"asymptotic"`` (z tests).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..inference.emmeans import (ReferenceGrid, containment_linfct_df, contrast_coefficients,
                                 level_labels)
from ..inference.multiplicity import adjust_pvalues, check_adjust, critical_values

__all__ = ["EMMeans", "emmeans", "estimate"]

_DDF = {"containment": "containment", "nlme": "containment", "satterthwaite": "satterthwaite",
        "kenward-roger": "kenward-roger", "kr": "kenward-roger", "asymptotic": "asymptotic",
        "z": "asymptotic"}
_UNSET = object()


def _check_ddf(ddf):
    key = _DDF.get(str(ddf).lower()) if ddf is not None else "containment"
    if key is None:
        raise ValueError("ddf must be 'containment', 'satterthwaite', 'kenward-roger' or "
                         f"'asymptotic', got {ddf!r}")
    return key


def _nlme_fit(fit):
    """The nlme-door results of ``fit`` and whether nlme's ML adjustment applies."""
    res = getattr(fit, "_results", fit)                 # statsmodels' wrapper
    if hasattr(res, "_vcov_tests") and hasattr(res, "frame"):
        return res, True
    nl = getattr(res, "nlme", None)
    if nl is not None and hasattr(nl, "_vcov_tests"):
        return nl, False
    raise TypeError("emmeans/estimate need a fit of lmmext.lme(), lmmext.gls(), or "
                    "lmmext.MixedLM / lmmext.GLS with nlme's structures (their results "
                    f"keep the fit's state); got {type(fit).__name__}")


class _Inference:
    """Covariance of the fixed effects and degrees of freedom of linear functions."""

    def __init__(self, fit, ddf=None, vcov=None):
        if ddf is None and vcov is None:
            # the method the fit uses (an mmrm() fit: its ddf=, Kenward-Roger by default)
            ddf = getattr(fit, "default_ddf", None)
        self.fit, adjust_ml = _nlme_fit(fit)
        fit = self.fit
        self.ddf = _check_ddf(ddf)
        self.beta = fit.fe_params.to_numpy()
        p = self.beta.size
        self.names = list(fit.fe_params.index)
        self.vcov_name = None
        if vcov is not None:
            if self.ddf not in ("containment", "asymptotic"):
                raise ValueError("vcov= (a robust covariance) combines with ddf='containment' "
                                 f"or 'asymptotic', not {self.ddf!r}")
            if isinstance(vcov, str):
                self.V = fit.vcov_robust(type=vcov).to_numpy()
                self.vcov_name = vcov
            else:
                V = np.asarray(vcov, dtype=float)
                if V.shape != (p, p):
                    raise ValueError(f"vcov must be 'CR2', 'CR0', ... or a ({p}, {p}) matrix "
                                     f"(one row and column per fixed effect), got shape "
                                     f"{V.shape}")
                self.V = V
                self.vcov_name = "user"
        elif self.ddf == "kenward-roger":
            self.V = fit._kenward_roger().Phi_A
        elif self.ddf == "satterthwaite":
            self.V = fit._satterthwaite().Phi
        else:
            self.V = fit._vcov_tests if adjust_ml else fit._vcov_nlme

    def df(self, L):
        L = np.atleast_2d(L)
        fit = self.fit
        if self.ddf == "asymptotic":
            return np.full(L.shape[0], np.inf)
        if self.ddf == "containment":
            if fit._is_gls:
                N, p = fit.frame.N, len(fit.frame.exog_names)
                return np.full(L.shape[0], float(N - p))
            return containment_linfct_df(L, fit.df_resid_fe.to_numpy(),
                                         fit.frame.levels[0].n_groups,
                                         self.names[0] == "Intercept")
        out = np.full(L.shape[0], np.nan)
        for i, row in enumerate(L):
            if np.isnan(row).any() or not np.any(row != 0):
                continue
            if self.ddf == "satterthwaite":
                out[i] = fit._satterthwaite().df(row)
            else:
                out[i] = fit._kenward_roger().f_test(row[None, :], self.beta)[2]
        return out

    def estimate(self, L):
        """Estimates, standard errors and DFs of the rows of ``L`` (NaN rows give NaN)."""
        L = np.atleast_2d(L)
        bad = np.isnan(L).any(axis=1)
        L0 = np.where(bad[:, None], 0.0, L)
        est = L0 @ self.beta
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", L0, self.V, L0), 0.0))
        df = self.df(L)
        est[bad] = se[bad] = df[bad] = np.nan
        return est, se, df

    @property
    def df_text(self):
        return {"containment": "containment", "satterthwaite": "Satterthwaite",
                "kenward-roger": "Kenward-Roger", "asymptotic": "asymptotic (z)"}[self.ddf]


def _check_level(level):
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return float(level)


class EMMeans:
    """Estimated marginal means of a fit (returned by :func:`emmeans`).

    Attributes
    ----------
    specs, by : list of str
        The variables of the means and of the groups they are compared within.
    grid : ReferenceGrid
        The reference grid (``grid.grid``: its rows; ``grid.covariates``: the values of
        the covariates).
    L : pandas.DataFrame
        The linear function of the fixed effects of each mean, one row per mean.
    ddf : str
        The degrees-of-freedom method.
    notes : list of str
        Messages (cells without data, adjustments changed, ...).
    """

    def __init__(self, fit, specs, by=None, at=None, weights="equal", ddf=None, level=0.95,
                 vcov=None):
        self._inf = _Inference(fit, ddf, vcov)
        nfit = self._inf.fit
        self.specs = _names(specs, "specs")
        self.by = _names(by, "by", empty_ok=True)
        if not self.specs:
            raise ValueError("specs must name at least one variable (a column name or a "
                             "list of column names)")
        both = [v for v in self.by if v in self.specs]
        if both:
            raise ValueError(f"{both} cannot be in both specs and by")
        self.level = _check_level(level)
        self.weights = weights
        self.grid = ReferenceGrid(nfit.frame.get_design_info(), nfit.frame.data_summary(),
                                  at)
        cells, L, notes = self.grid.marginal(self.specs + self.by, weights)
        self.notes = list(notes)
        # (a fit to a dask DataFrame has no rows here: its design's full rank was checked)
        nb = _nonestimable(nfit.frame.X) if nfit.frame.has_rows else None
        if nb is not None:
            bad = np.abs(np.nan_to_num(L) @ nb).max(axis=1) > 1e-6
            if bad.any():
                L[bad] = np.nan
                self.notes.append("non-estimable means are NaN")
        self._cells = cells.reset_index(drop=True)
        self._L = L
        self.L = pd.DataFrame(L, columns=self._inf.names)
        self.ddf = self._inf.ddf
        for n in self.notes:
            warnings.warn(f"emmeans: {n}", UserWarning, stacklevel=3)

    # --- the means -------------------------------------------------------------------
    def summary(self):
        """The marginal means with confidence intervals.

        Returns
        -------
        pandas.DataFrame
            One row per mean (the first variable of ``specs`` varying fastest, ``by``
            slowest, as emmeans): the variables' columns, ``emmean``, ``SE``, ``df``,
            ``lower_CL``, ``upper_CL`` (unadjusted ``level`` intervals, as emmeans).
        """
        est, se, df = self._inf.estimate(self._L)
        out = self._cells.copy()
        out["emmean"], out["SE"], out["df"] = est, se, df
        q = stats.t.ppf(1 - (1 - self.level) / 2, df)
        out["lower_CL"], out["upper_CL"] = est - q * se, est + q * se
        return out

    def __repr__(self):
        return (self.summary().to_string(index=False)
                + f"\n\nDegrees-of-freedom method: {self._inf.df_text}"
                + f"\nConfidence level used: {self.level:g}")

    # --- contrasts -------------------------------------------------------------------
    def contrast(self, method="pairwise", adjust=None, ref=0, by=_UNSET, confint=False):
        """Contrasts of the marginal means within each ``by`` group (emmeans'
        ``contrast``).

        Parameters
        ----------
        method : str, dict or array_like
            ``"pairwise"`` (``"A - B"`` for every pair, first level first),
            ``"revpairwise"`` (``"B - A"``), ``"trt.vs.ctrl"`` (each level minus the
            ``ref`` level), ``"consec"`` (each level minus the previous one), ``"poly"``
            (orthogonal polynomials, integer coefficients, ``"linear"``,
            ``"quadratic"``, ...), ``"eff"`` (each level minus the average), or custom
            coefficients: a dict ``{name: coefficients}`` or a matrix with one row per
            contrast, one coefficient per mean of a ``by`` group.
        adjust : str, optional
            Multiplicity adjustment within each ``by`` group: ``"tukey"``,
            ``"scheffe"``, ``"sidak"``, ``"bonferroni"``, ``"holm"``, ``"fdr"``,
            ``"dunnettx"``, ``"mvt"`` or ``"none"``.  Default as emmeans: Tukey for
            pairwise, dunnettx for trt.vs.ctrl, mvt for consec, fdr for eff, none for
            poly and custom contrasts.  A family of one contrast is not adjusted, and
            Tukey's method on contrasts other than pairwise comparisons becomes Sidak's
            (with a note), as emmeans.
        ref : int or str
            The control level of ``"trt.vs.ctrl"``: an index (0-based) or a label.
        by : str, list of str or None
            The groups within which means are contrasted (default the ``by`` of the
            means; ``None`` contrasts all cells).
        confint : bool
            Also give ``lower_CL`` and ``upper_CL``, the ``level`` intervals with the
            same adjustment (Bonferroni's for Holm and FDR, as emmeans).

        Returns
        -------
        pandas.DataFrame
            ``contrast``, the ``by`` columns, ``estimate``, ``SE``, ``df``, ``t_ratio``,
            ``p_value`` (two-sided, adjusted), and with ``confint`` the limits.  The
            attribute ``attrs["adjust"]`` names the adjustment applied and
            ``attrs["L"]`` holds the contrasts' linear functions of the fixed effects.
        """
        cby = self.by if by is _UNSET else _names(by, "by", empty_ok=True)
        facs = self.specs + self.by
        unknown = [v for v in cby if v not in facs]
        if unknown:
            raise ValueError(f"contrast(by=): {unknown} are not variables of these means "
                             f"({facs})")
        pri = [v for v in facs if v not in cby]
        cells = self._cells
        if cby:
            keys = [tuple(r) for r in cells[cby].astype(object).itertuples(index=False)]
            groups = list(dict.fromkeys(keys))
            rows_of = [[i for i, k in enumerate(keys) if k == g] for g in groups]
        else:
            groups, rows_of = [()], [list(range(len(cells)))]
        labels = level_labels(cells.iloc[rows_of[0]], pri)
        names, M, default_adjust, pairs = contrast_coefficients(method, labels, ref)
        adjust = check_adjust(adjust) or default_adjust
        Ls, con, bycols = [], [], []
        for g, rows in zip(groups, rows_of):
            Lg = self._L[rows]
            with np.errstate(invalid="ignore"):
                Lc = M @ np.nan_to_num(Lg)
            Lc[(np.abs(M) > 0) @ np.isnan(Lg).any(axis=1)] = np.nan
            Ls.append(Lc)
            con.extend(names)
            bycols.extend([g] * len(names))
        L = np.vstack(Ls)
        est, se, df = self._inf.estimate(L)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = est / se
        n = len(names)
        families = [np.arange(f * n, (f + 1) * n) for f in range(len(groups))]
        V = self._inf.V
        cov = np.nan_to_num(L) @ V @ np.nan_to_num(L).T
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
        ranks = [np.linalg.matrix_rank(np.nan_to_num(L[fam]), tol=1e-8) for fam in families]
        fam_sizes = [len(r) for r in rows_of]
        kw = dict(pairs=pairs, fam_sizes=fam_sizes, ranks=ranks, corr=corr)
        pval, used, notes = adjust_pvalues(t, df, adjust, families, **kw)
        out = pd.DataFrame({"contrast": con})
        for j, v in enumerate(cby):
            vals = [g[j] for g in bycols]
            col = cells[v]
            out[v] = (pd.Categorical(vals, categories=col.cat.categories)
                      if isinstance(col.dtype, pd.CategoricalDtype) else vals)
        out["estimate"], out["SE"], out["df"] = est, se, df
        out["t_ratio"], out["p_value"] = t, pval
        if confint:
            cv, _, more = critical_values(self.level, df, adjust, families, **kw)
            out["lower_CL"], out["upper_CL"] = est - cv * se, est + cv * se
            notes = notes + [m for m in more if m not in notes]
        for m in notes:
            warnings.warn(f"contrast: {m}", UserWarning, stacklevel=2)
        out.attrs["adjust"] = used
        out.attrs["L"] = pd.DataFrame(L, columns=self._inf.names)
        return out

    def pairs(self, adjust="tukey", by=_UNSET, confint=False, reverse=False):
        """Pairwise differences of the means within each ``by`` group: ``contrast(
        "pairwise", adjust)`` (``"revpairwise"`` with ``reverse=True``)."""
        return self.contrast("revpairwise" if reverse else "pairwise", adjust=adjust,
                             by=by, confint=confint)

    # --- plot ------------------------------------------------------------------------
    def plot(self, ax=None, **kwargs):
        """Draw the means with their confidence intervals (matplotlib).

        One point with an error bar per mean, the first variable of ``specs`` on the
        vertical axis's labels; means of different ``by`` groups (or of the other
        ``specs`` variables) get their own colours and a legend.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        **kwargs
            Passed to ``ax.errorbar``.

        Returns
        -------
        matplotlib.axes.Axes
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:                              # pragma: no cover
            raise ImportError("EMMeans.plot needs matplotlib: pip install "
                              '"lmmext[plot]"') from None
        s = self.summary()
        if ax is None:
            _, ax = plt.subplots()
        x0 = self.specs[0]
        others = self.specs[1:] + self.by
        xlabs = [str(v) for v in dict.fromkeys(s[x0])]
        pos = {v: i for i, v in enumerate(xlabs)}
        groups = (s.groupby([s[o].astype(str) for o in others], sort=False)
                  if others else [("", s)])
        n_g = max(1, len(list(groups)) if others else 1)
        groups = (s.groupby([s[o].astype(str) for o in others], sort=False)
                  if others else [("", s)])
        width = 0.3
        for j, (key, sub) in enumerate(groups):
            off = (j - (n_g - 1) / 2) * (width / max(1, n_g - 1)) if n_g > 1 else 0.0
            x = np.array([pos[str(v)] for v in sub[x0]]) + off
            y = sub["emmean"].to_numpy()
            err = np.vstack([y - sub["lower_CL"].to_numpy(), sub["upper_CL"].to_numpy() - y])
            label = (", ".join(f"{o} = {k}" for o, k in
                               zip(others, key if isinstance(key, tuple) else (key,)))
                     if others else None)
            ax.errorbar(x, y, yerr=err, fmt="o", capsize=3, label=label, **kwargs)
        ax.set_xticks(range(len(xlabs)))
        ax.set_xticklabels(xlabs)
        ax.set_xlabel(x0)
        ax.set_ylabel(f"estimated marginal mean ({self.level:.0%} CI)")
        if others:
            ax.legend()
        return ax


def _names(x, what, empty_ok=False):
    if x is None:
        if empty_ok:
            return []
        raise ValueError(f"{what} must be a column name or a list of column names")
    if isinstance(x, str):
        return [x]
    try:
        items = list(x)
    except TypeError:
        raise ValueError(f"{what} must be a column name or a list of column names, "
                         f"got {x!r}") from None
    if not all(isinstance(i, str) for i in items):
        raise ValueError(f"{what} must be a column name or a list of column names, got {x!r}")
    return items


def _nonestimable(X):
    """Null-space basis of X (None for a full-rank design, the usual case)."""
    XtX = X.T @ X
    d, U = np.linalg.eigh(XtX)
    keep = d <= 1e-10 * max(d.max(), 1e-300)
    return U[:, keep] if keep.any() else None


def emmeans(fit, specs, by=None, at=None, weights="equal", ddf=None, level=0.95, vcov=None):
    """Estimated marginal means (least-squares means) of a fit, as R's
    ``emmeans(fit, ~ specs | by)`` and SAS's ``LSMEANS``.

    Parameters
    ----------
    fit : LMEResults or GLSResults
        A fit of :func:`lmmext.lme` / :func:`lmmext.gls` (or of ``lmmext.MixedLM`` /
        ``lmmext.GLS`` with nlme's structures) from a formula.
    specs : str or list of str
        The factors whose means are wanted (a numeric covariate only when ``at`` gives
        it several values).
    by : str or list of str, optional
        Factors whose levels group the means (contrasts compare within groups).
    at : dict, optional
        ``{covariate: value or list}``; numeric covariates not given sit at their mean
        over the rows of the fit, as emmeans.  A factor given a list keeps only those
        levels.
    weights : {"equal", "proportional", "outer", "cells", "flat"} or array_like
        How the reference grid is averaged over the factors not in ``specs``/``by``, as
        emmeans: equally; in proportion to the frequencies of their level combinations
        in the data; to the product of their marginal frequencies; by the frequencies of
        each cell's own combinations (each mean is then the mean of the fitted values
        of its rows); equally over the combinations that have data.  Numbers: one
        weight per averaged combination (the first factor fastest).
    ddf : {"containment", "satterthwaite", "kenward-roger", "asymptotic"}, optional
        Degrees of freedom (default: the method the fit uses -- an :func:`lmmext.mmrm`
        fit's ``ddf=``, else ``"containment"``: lme fits by emmeans' rule, gls fits
        ``N - p``).  ``"kenward-roger"`` also uses Kenward and Roger's adjusted
        covariance (REML fits of lme and gls, any variance function and correlation
        structure).
    level : float
        Confidence level of the intervals.
    vcov : str or array_like, optional
        A cluster-robust covariance (``"CR2"``, ``"CR0"``, ... as :meth:`vcov_robust
        <lmmext.results.LMEResults.vcov_robust>`) or a ``(p, p)`` matrix to use instead
        of the model's (with ``ddf="containment"`` or ``"asymptotic"``).

    Returns
    -------
    EMMeans
        ``summary()``, ``contrast()``, ``pairs()``, ``plot()``.

    Notes
    -----
    ML fits use nlme's (and emmeans') small-sample covariance ``N / (N - p)`` times the
    ML one on the nlme door; the statsmodels door (``lmmext.MixedLM`` results) uses the
    unadjusted one.
    """
    return EMMeans(fit, specs, by=by, at=at, weights=weights, ddf=ddf, level=level,
                   vcov=vcov)


def estimate(fit, L, ddf=None, level=0.95, vcov=None):
    """Named linear combinations of the fixed effects, as SAS's ``ESTIMATE``.

    Parameters
    ----------
    fit : LMEResults or GLSResults
    L : dict, pandas object or array_like
        ``{label: {fixed effect: coefficient}}`` (or ``{label: vector}`` with one
        coefficient per fixed effect), one ``{fixed effect: coefficient}`` dict, a
        DataFrame with fixed effects as columns and labels as index, or a matrix with
        one row per combination and one column per fixed effect.
    ddf, level, vcov
        As :func:`emmeans`.

    Returns
    -------
    pandas.DataFrame
        Indexed by the labels: ``estimate``, ``SE``, ``df``, ``t_ratio``, ``p_value``
        (two-sided), ``lower_CL``, ``upper_CL``.
    """
    inf = _Inference(fit, ddf, vcov)
    level = _check_level(level)
    names = inf.names
    p = len(names)

    def row(v, label):
        if isinstance(v, (dict, pd.Series)):
            v = dict(v)
            unknown = [k for k in v if k not in names]
            if unknown:
                raise ValueError(f"estimate: {label!r} names unknown fixed effects {unknown}; "
                                 f"the fixed effects are {names}")
            r = np.zeros(p)
            for k, c in v.items():
                r[names.index(k)] = float(c)
            return r
        r = np.asarray(v, dtype=float).ravel()
        if r.size != p:
            raise ValueError(f"estimate: {label!r} needs {p} coefficients (one per fixed "
                             f"effect {names}), got {r.size}")
        return r

    if isinstance(L, pd.DataFrame):
        labels = [str(i) for i in L.index]
        rows = [row(L.loc[i].to_dict(), str(i)) for i in L.index]
    elif isinstance(L, (dict, pd.Series)) and len(L) and all(
            isinstance(v, (int, float, np.integer, np.floating)) for v in dict(L).values()):
        labels, rows = ["estimate"], [row(L, "estimate")]
    elif isinstance(L, dict):
        if not L:
            raise ValueError("estimate: L is empty")
        labels = [str(k) for k in L]
        rows = [row(v, str(k)) for k, v in L.items()]
    else:
        try:
            M = np.atleast_2d(np.asarray(L, dtype=float))
        except (TypeError, ValueError):
            raise ValueError("estimate: L must be a dict {label: {fixed effect: "
                             "coefficient}}, a DataFrame or a matrix") from None
        labels = [str(i + 1) for i in range(M.shape[0])]
        rows = [row(r, lab) for r, lab in zip(M, labels)]
    Lm = np.vstack(rows)
    est, se, df = inf.estimate(Lm)
    t = est / se
    q = stats.t.ppf(1 - (1 - level) / 2, df)
    return pd.DataFrame({"estimate": est, "SE": se, "df": df, "t_ratio": t,
                         "p_value": 2 * stats.t.sf(np.abs(t), df),
                         "lower_CL": est - q * se, "upper_CL": est + q * se}, index=labels)
