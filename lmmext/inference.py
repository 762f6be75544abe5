"""Denominator degrees of freedom and Wald tests for the fixed effects."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["containment_df", "t_table"]

_SQRT_EPS = np.sqrt(np.finfo(float).eps)


def _is_constant(x):
    if x[0] == 0:
        return bool(np.all(np.abs(x) < _SQRT_EPS))
    return bool(np.all(np.abs(x - x[0]) <= _SQRT_EPS * abs(x[0])))


def _column_strata(X, levels):
    """Stratum (1..Q+1, 1 = outermost level, Q+1 = residual) of each column of X by
    nlme's containment rule, and which columns are constant (the intercept role)."""
    strata, const = [], []
    for j in range(X.shape[1]):
        x = X[:, j]
        if _is_constant(x):
            strata.append(None)
            const.append(True)
            continue
        const.append(False)
        s = 1
        for k, lev in enumerate(levels, start=1):
            lo = np.minimum.reduceat(x, lev.first_row)
            hi = np.maximum.reduceat(x, lev.first_row)
            if np.any(lo != hi):
                s = k + 1
        strata.append(s)
    return strata, np.array(const, dtype=bool)


def _base_df(N, levels):
    m = [lev.n_groups for lev in levels]
    return np.array([m[0]] + [m[k] - m[k - 1] for k in range(1, len(m))] + [N - m[-1]],
                    dtype=float)


def _apply_intercept(df, has_const):
    if has_const:
        df[0] -= 1
    else:
        df[1:] += 1
    return df


def containment_df(X, levels, terms=None):
    """nlme's inner-outer ("containment") denominator degrees of freedom.

    Parameters
    ----------
    X : ndarray (N, p), rows in engine order
    levels : list of Level (outermost first)
    terms : list of (name, column indices), optional
        The model terms in formula order; when given, the term DFs are returned too.

    Returns
    -------
    coef_df : ndarray (p,)
    term_df : dict name -> df (only when ``terms`` is given)
    """
    N, p = X.shape
    strata, const = _column_strata(X, levels)
    base = _base_df(N, levels)
    dfX = base.copy()
    for s in strata:
        if s is not None:
            dfX[s - 1] -= 1
    dfX = _apply_intercept(dfX, const.any())
    coef_df = np.array([dfX.max() if s is None else dfX[s - 1] for s in strata])
    if terms is None:
        return coef_df
    dfT = base.copy()
    term_stratum = {}
    for name, cols in terms:
        ss = [strata[c] for c in cols if strata[c] is not None]
        if not ss:
            term_stratum[name] = None
            continue
        s = max(ss)
        term_stratum[name] = s
        dfT[s - 1] -= len(cols)
    dfT = _apply_intercept(dfT, const.any())
    term_df = {n: (dfT.max() if s is None else dfT[s - 1]) for n, s in term_stratum.items()}
    return coef_df, term_df


def t_table(params, bse, df):
    """Fixed-effects table: Value, Std.Error, DF, t-value, p-value."""
    t = params / bse
    pv = 2.0 * stats.t.sf(np.abs(t), df)
    return pd.DataFrame({"Value": params, "Std.Error": bse, "DF": df,
                         "t-value": t, "p-value": pv}, index=params.index)


# ---------------------------------------------------------------------------------
# F tests per model term (nlme's anova.lme / anova.gls)
# ---------------------------------------------------------------------------------
def r_term_order(formula, design_info):
    """Model terms in R's order: as written, main effects before two-way interactions
    before three-way ones (patsy instead moves terms with numeric factors last).

    Returns a list of (name, column indices).
    """
    import patsy
    try:
        desc = patsy.ModelDesc.from_formula(formula)
        written = [t for t in desc.rhs_termlist if t in design_info.term_slices]
    except patsy.PatsyError:      # pragma: no cover - the formula was parsed before
        written = []
    missing = [t for t in design_info.terms if t not in written]
    terms = sorted(written + missing, key=lambda t: len(t.factors))   # stable
    out = []
    for t in terms:
        sl = design_info.term_slices[t]
        if sl.stop > sl.start:
            out.append((t.name(), list(range(sl.start, sl.stop))))
    return out


def term_contrasts(terms, cov, kind="sequential"):
    """(term, L) for each model term; ``terms`` is a list of (name, columns) in R's
    order.  Marginal: the term's columns.  Sequential: the rows of ``R`` (``R'R =
    cov^-1``, columns in R's term order) that belong to the term -- the rotation of a QR
    decomposition of the whitened X, i.e. the term adjusted for the terms before it
    (these rows satisfy ``L cov L' = I``)."""
    p = cov.shape[0]
    if kind == "marginal":
        return [(n, np.eye(p)[cols]) for n, cols in terms]
    if kind != "sequential":
        raise ValueError(f"type must be 'sequential' or 'marginal', got {kind!r}")
    order = [c for _, cols in terms for c in cols]
    Lc = np.linalg.cholesky(cov[np.ix_(order, order)])
    prec = np.linalg.solve(Lc.T, np.linalg.solve(Lc, np.eye(p)))
    R = np.zeros((p, p))
    R[:, order] = np.linalg.cholesky((prec + prec.T) / 2).T
    out, pos = [], 0
    for n, cols in terms:
        out.append((n, R[pos:pos + len(cols)]))
        pos += len(cols)
    return out


def wald_f_table(beta, cov, terms, den_df, kind="sequential"):
    """nlme's F table.  ``cov`` is the covariance used for tests (nlme: vcov, times
    N/(N-p) for lme ML fits); ``terms`` a list of (name, columns) in R's order;
    ``den_df`` a dict name -> denominator df."""
    rows = []
    for name, L in term_contrasts(terms, cov, kind):
        Lb = L @ beta
        rows.append((name, L.shape[0], float(Lb @ np.linalg.solve(L @ cov @ L.T, Lb)) / L.shape[0]))
    tab = pd.DataFrame(rows, columns=["term", "numDF", "F-value"]).set_index("term")
    tab.index.name = None
    tab.insert(1, "denDF", [float(den_df[n]) for n in tab.index])
    tab["p-value"] = stats.f.sf(tab["F-value"], tab["numDF"], tab["denDF"])
    return tab


def as_contrast(L, names):
    """``L`` as a 2-D float matrix with one column per fixed effect ``names``."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[1] != len(names):
        raise ValueError(f"L has {L.shape[1]} columns; the model has {len(names)} fixed "
                         f"effects {list(names)}")
    return L


def contrast_f_test(beta, cov, L, names, coef_df):
    """Joint test of ``L beta = 0`` (nlme's ``anova(fit, L = ...)``)."""
    L = as_contrast(L, names)
    L = L[np.any(L != 0, axis=1)]
    if L.shape[0] == 0:
        raise ValueError("L has no non-zero rows")
    rank = np.linalg.matrix_rank(L)
    if rank < L.shape[0]:
        raise ValueError(f"the rows of L are linearly dependent (rank {rank} < {L.shape[0]})")
    used = np.any(L != 0, axis=0)
    dfs = np.unique(np.asarray(coef_df)[used])
    if dfs.size > 1:
        raise ValueError("L involves coefficients with different denominator DFs "
                         f"({sorted(dfs.tolist())}); nlme requires one")
    Lb = L @ beta
    F = float(Lb @ np.linalg.solve(L @ cov @ L.T, Lb)) / rank
    den = float(dfs[0])
    return pd.DataFrame({"numDF": [rank], "denDF": [den], "F-value": [F],
                         "p-value": [stats.f.sf(F, rank, den)]}, index=["L"])


# ---------------------------------------------------------------------------------
# Likelihood-ratio comparisons (nlme's anova(fit1, fit2, ...))
# ---------------------------------------------------------------------------------
def compare_models(*fits, names=None):
    """nlme's ``anova(fit1, fit2, ...)``: df, AIC, BIC, logLik and likelihood-ratio
    tests between consecutive models whose df differ.

    Raises ValueError for fits to different numbers of observations or responses, or
    by different methods; warns (as nlme) when REML fits differ in their fixed effects.
    """
    import warnings
    if len(fits) < 2:
        raise ValueError("anova() compares two or more fitted models")
    for f in fits:
        if not hasattr(f, "llf") or not hasattr(f, "frame"):
            raise TypeError(f"anova() takes lmmext results, got {type(f).__name__}")
    names = list(names) if names is not None else [f"fit{i + 1}" for i in range(len(fits))]
    n = {f.nobs for f in fits}
    if len(n) > 1:
        raise ValueError(f"models were fitted to different numbers of observations {sorted(n)}")
    ys = [np.sort(f.frame.y) for f in fits]
    if any(f.frame.y_name != fits[0].frame.y_name or not np.allclose(y, ys[0])
           for f, y in zip(fits, ys)):
        raise ValueError("models were fitted to different responses (or data)")
    methods = {f.method for f in fits}
    if len(methods) > 1:
        raise ValueError("all fitted objects must use the same estimation method (REML or ML)")
    if methods == {"REML"}:
        xs = {tuple(sorted(f.fe_params.index)) for f in fits}
        if len(xs) > 1:
            warnings.warn("fitted objects with different fixed effects. REML comparisons "
                          "are not meaningful.", UserWarning, stacklevel=3)
    rows = []
    for i, f in enumerate(fits):
        row = {"Model": i + 1, "df": f.df_modelwc, "AIC": f.aic, "BIC": f.bic,
               "logLik": f.llf, "Test": "", "L.Ratio": np.nan, "p-value": np.nan}
        if i > 0 and f.df_modelwc != fits[i - 1].df_modelwc:
            prev = fits[i - 1]
            lr = 2 * abs(f.llf - prev.llf)
            row.update({"Test": f"{i} vs {i + 1}", "L.Ratio": lr,
                        "p-value": stats.chi2.sf(lr, abs(f.df_modelwc - prev.df_modelwc))})
        rows.append(row)
    return pd.DataFrame(rows, index=names)


# ---------------------------------------------------------------------------------
# Satterthwaite denominator degrees of freedom
# ---------------------------------------------------------------------------------
class Satterthwaite:
    """Satterthwaite's approximation for contrasts of the fixed effects.

    For a contrast ``c``, ``df = 2 (c' Phi c)^2 / (g' A g)`` with ``Phi`` the
    covariance of beta as a function of the variance parameters, ``g`` its gradient
    (``g_i = c' dPhi/dphi_i c``) and ``A`` the asymptotic covariance of the variance
    parameters (inverse of minus the Hessian of the (RE)ML criterion, sigma included).
    Multi-df tests follow Fai and Cornelius (1996) as lmerTest does.  The df do not
    depend on the parameterization; nlme's natural one (apVar's) is used.
    """

    def __init__(self, state):
        from .intervals import NaturalParameters, approximate_covariance
        params = NaturalParameters(state)
        ap = approximate_covariance(state, params, drop_boundary=True)
        if ap.cov is None:
            raise ValueError("Satterthwaite degrees of freedom need a positive definite "
                             "approximate covariance of the variance parameters, and the "
                             "Hessian at this fit is not negative definite")
        self.A = ap.cov
        self.Phi = params.cov_beta(params.estimate)
        self.dPhi = params.cov_beta_gradient()

    def df(self, c):
        c = np.asarray(c, dtype=float)
        v = c @ self.Phi @ c
        g = np.array([c @ d @ c for d in self.dPhi])
        return float(2.0 * v ** 2 / (g @ self.A @ g))

    def coef_df(self):
        return np.array([self.df(np.eye(len(self.Phi))[j]) for j in range(len(self.Phi))])

    def f_test(self, L, beta):
        """F statistic, numerator and denominator df of ``L beta = 0``."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        VL = L @ self.Phi @ L.T
        d, P = np.linalg.eigh((VL + VL.T) / 2)
        if np.ptp(d) <= 1e-8 * d.max() and np.allclose(VL, d.mean() * np.eye(len(d)),
                                                    atol=1e-8 * d.max()):
            # VL is a multiple of I (e.g. nlme's sequential contrasts, rows of the
            # Cholesky factor): every basis is an eigenbasis, and Fai-Cornelius' df
            # depend on which; take the contrast rows themselves, not rounding noise
            P = np.eye(len(d))
        keep = d > d.max() * 1e-10
        d, P = d[keep], P[:, keep]
        q = d.size
        t2 = (P.T @ L @ beta) ** 2 / d
        nu = np.array([self.df(P[:, m] @ L) for m in range(q)])
        F = float(t2.sum() / q)
        if q == 1 or np.all(np.abs(np.diff(nu)) < 1e-8):
            ddf = float(nu.mean())
        elif np.any(nu <= 2):
            ddf = 2.0
        else:
            E = float(np.sum(nu / (nu - 2)))
            ddf = 2 * E / (E - q)
        return F, q, ddf
