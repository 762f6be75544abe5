"""nlme's inner-outer ("containment") denominator degrees of freedom of the fixed effects."""
from __future__ import annotations

import numpy as np

__all__ = ["column_variation", "containment_df"]


_SQRT_EPS = np.sqrt(np.finfo(float).eps)


def _is_constant(x):
    if x[0] == 0:
        return bool(np.all(np.abs(x) < _SQRT_EPS))
    return bool(np.all(np.abs(x - x[0]) <= _SQRT_EPS * abs(x[0])))


def column_variation(X, levels):
    """``(within, lo, hi)``: whether each column of ``X`` varies within a group of each
    level (``(p, Q)`` booleans), and the columns' minima and maxima -- what nlme's
    containment rule needs from the data (sums and extremes: a partitioned design's
    combine)."""
    within = np.zeros((X.shape[1], len(levels)), dtype=bool)
    # a column varies within a group when a row differs from the one before it in the
    # group (the groups' rows are contiguous)
    changes = X[1:] != X[:-1]
    for k, lev in enumerate(levels):
        same_group = lev.codes[1:] == lev.codes[:-1]
        within[:, k] = np.any(changes & same_group[:, None], axis=0)
    return within, X.min(axis=0), X.max(axis=0)


def _column_strata(X, levels, variation=None):
    """Stratum (1..Q+1, 1 = outermost level, Q+1 = residual) of each column of X by
    nlme's containment rule, and which columns are constant (the intercept role);
    ``variation`` is :func:`column_variation`'s result (then ``X`` is unused)."""
    within, lo, hi = column_variation(X, levels) if variation is None else variation
    strata, const = [], []
    for j in range(within.shape[0]):
        if _is_constant(np.array([lo[j], hi[j]])):
            strata.append(None)
            const.append(True)
            continue
        const.append(False)
        s = 1
        for k in range(within.shape[1]):
            if within[j, k]:
                s = k + 2
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


def containment_df(X, levels, terms=None, variation=None, N=None):
    """nlme's inner-outer ("containment") denominator degrees of freedom.

    Parameters
    ----------
    X : ndarray (N, p), rows in engine order
    levels : list of Level (outermost first)
    terms : list of (name, column indices), optional
        The model terms in formula order; when given, the term DFs are returned too.
    variation, N : optional
        :func:`column_variation` of the design and its rows, given instead of ``X``
        (``None``) for a design held in partitions.

    Returns
    -------
    coef_df : ndarray (p,)
    term_df : dict name -> df (only when ``terms`` is given)
    """
    if X is not None:
        N = X.shape[0]
    strata, const = _column_strata(X, levels, variation)
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
