"""nlme's ``intervals()``: Wald intervals for the fixed effects on their denominator
degrees of freedom, and for the variance parameters on nlme's natural scale from apVar
(:mod:`.apvar`); SAS's Satterthwaite chi-square limits for variance components.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .apvar import approximate_covariance, level_names

__all__ = ["Intervals", "intervals"]


@dataclass
class Intervals:
    """nlme's ``intervals()``: lower limits, estimates and upper limits.

    Returned by :meth:`LMEResults.intervals <lmmext.results.LMEResults.intervals>`;
    printing it shows nlme's layout.

    Attributes
    ----------
    level : float
        The confidence level.
    fixed : pandas.DataFrame or None
        Fixed effects: columns ``lower``, ``est.``, ``upper`` (None with
        ``which="var-cov"``, which neither computes nor prints them, as nlme).
    re : dict of pandas.DataFrame
        Random-effect SDs and correlations per grouping level, same columns.
    corStruct, varStruct : pandas.DataFrame or None
        Correlation-structure and variance-function parameters, on nlme's reported
        scale.
    sigma : pandas.Series or None
        The residual SD (``lower``, ``est.``, ``upper``).
    is_gls : bool
        Whether the fit is a gls fit (only changes the printed labels).
    varcomp : pandas.DataFrame
        With ``method="satterthwaite"`` only: random-effect variances and the residual
        variance with Satterthwaite chi-square limits (SAS PROC MIXED's ``CL``) and
        their degrees of freedom ``df``.
    apVar : ApVar
        The approximate covariance of the variance parameters the intervals come from.
    """

    level: float
    fixed: pd.DataFrame | None
    re: dict = field(default_factory=dict)
    corStruct: pd.DataFrame | None = None
    varStruct: pd.DataFrame | None = None
    sigma: pd.Series | None = None
    is_gls: bool = False

    def __str__(self):
        out = [f"Approximate {self.level:.0%} confidence intervals"]
        if self.fixed is not None:
            out += ["", " Fixed effects:", _fmt(self.fixed)]
        if self.re:
            out += ["", " Random Effects:"]
            for lev, df in self.re.items():
                out += [f"  Level: {lev}", _fmt(df)]
        if self.corStruct is not None:
            out += ["", " Correlation structure:", _fmt(self.corStruct)]
        if self.varStruct is not None:
            out += ["", " Variance function:", _fmt(self.varStruct)]
        if getattr(self, "varcomp", None) is not None:
            out += ["", " Variance components (Satterthwaite):", _fmt(self.varcomp)]
        if self.sigma is not None:
            label = "Residual standard error:" if self.is_gls else "Within-group standard error:"
            out += ["", f" {label}", _fmt(self.sigma.to_frame().T)]
        return "\n".join(out)

    __repr__ = __str__


def _fmt(df):
    return "\n".join("  " + line for line in df.to_string(float_format=lambda v: f"{v:.6g}").splitlines())


def _tab(lower, est, upper, index):
    return pd.DataFrame({"lower": lower, "est.": est, "upper": upper}, index=index)


def intervals(res, level=0.95, which="all", method="wald"):
    """Approximate confidence intervals as nlme's ``intervals()``.

    ``method="satterthwaite"`` adds SAS PROC MIXED's ``CL`` intervals for the variance
    components (``varcomp``: random-effect variances and the residual variance):
    ``nu s / chi2_{nu, 1-a/2} .. nu s / chi2_{nu, a/2}`` with ``nu = 2 s^2 / var(s)``.
    """
    if method not in ("wald", "satterthwaite"):
        raise ValueError(f"method must be 'wald' or 'satterthwaite', got {method!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if which not in ("all", "fixed", "var-cov"):
        raise ValueError("which must be 'all', 'fixed' or 'var-cov'")
    state = res._state
    eng = state.engine
    est = res.fe_params
    se = np.sqrt(np.diag(res._vcov_nlme))           # nlme: vcov, not the ML-adjusted one
    tq = stats.t.ppf((1 + level) / 2, res.df_resid_fe.to_numpy())
    fixed = _tab(est - tq * se, est, est + tq * se, est.index) if which != "var-cov" else None
    out = Intervals(level, fixed, is_gls=res._is_gls)
    if which == "fixed":
        return out
    z = stats.norm.ppf((1 + level) / 2)
    if res._is_gls and eng.n_params == 0:
        # nlme: chi-square interval for sigma when there are no variance parameters
        Nr, s = eng.Nr, res.sigma
        out.sigma = pd.Series({"lower": s * np.sqrt(Nr / stats.chi2.ppf((1 + level) / 2, Nr)),
                               "est.": s,
                               "upper": s * np.sqrt(Nr / stats.chi2.ppf((1 - level) / 2, Nr))})
        return out
    ap = approximate_covariance(state)
    if ap.cov is None:
        if which == "var-cov":
            raise ValueError("cannot get confidence intervals on var-cov components: "
                             "Non-positive definite approximate variance-covariance; "
                             "consider which='fixed'")
        warnings.warn("Non-positive definite approximate variance-covariance: intervals "
                      "are given for the fixed effects only", UserWarning, stacklevel=3)
        return out
    se_phi = np.sqrt(np.diag(ap.cov))
    lo, hi = ap.estimate - z * se_phi, ap.estimate + z * se_phi
    for kind, obj, sl in ap.blocks:
        trio = [lo[sl], ap.estimate[sl], hi[sl]]
        if kind == "re":
            lev = eng.levels[obj]
            out.re[lev.name] = _tab(*(lev.pd.report(v) for v in trio), level_names(lev))
        elif kind == "cor":
            nat = [obj.apvar_report(v) for v in trio]
            out.corStruct = _tab(*(n.to_numpy() for n in nat), nat[1].index)
        elif kind == "var":
            names = obj.apvar_names()
            nat = [obj.apvar_report(v) for v in trio]
            out.varStruct = _tab(*(n[names].to_numpy() for n in nat), names)
        else:
            out.sigma = pd.Series({"lower": np.exp(trio[0][0]), "est.": np.exp(trio[1][0]),
                                   "upper": np.exp(trio[2][0])})
    out.apVar = ap
    if method == "satterthwaite":
        out.varcomp = _satterthwaite_varcomp(ap, eng, level)
    return out


def _satterthwaite_varcomp(ap, eng, level):
    """Variance components with Satterthwaite chi-square intervals (SAS ``CL``)."""
    rows = {}
    for kind, obj, sl in ap.blocks:
        if kind == "re":
            lev = eng.levels[obj]
            log_sd = lev.pd.natural_log_sd
            for i, name in zip(np.flatnonzero(log_sd), np.asarray(level_names(lev))[log_sd]):
                label = f"var{name[2:]}" if name.startswith("sd(") else "var"
                rows[f"{lev.name}: {label}"] = sl.start + i
        elif kind == "sigma":
            rows["Residual"] = sl.start
    out = []
    for name, i in rows.items():
        s2 = np.exp(2 * ap.estimate[i])
        v = (2 * s2) ** 2 * ap.cov[i, i]            # delta method from log sd
        nu = 2 * s2 ** 2 / v
        out.append((name, nu * s2 / stats.chi2.ppf((1 + level) / 2, nu), s2,
                    nu * s2 / stats.chi2.ppf((1 - level) / 2, nu), nu))
    return pd.DataFrame(out, columns=["name", "lower", "est.", "upper", "df"]).set_index("name")
