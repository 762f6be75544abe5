"""Wald t and F tests of the fixed effects: nlme's t table, ``anova(fit)`` per term in R's
term order (sequential or marginal), and joint tests of ``L beta = 0``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
from scipy import stats

__all__ = ["t_table", "r_term_order", "term_contrasts", "wald_f_table",
           "as_contrast", "contrast_f_test"]


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
