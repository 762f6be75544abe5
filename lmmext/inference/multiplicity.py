"""Multiplicity adjustments of t tests and confidence intervals for families of
estimates, as R's emmeans (``summary(..., adjust = )``): Tukey, Scheffe, Sidak, R's
``p.adjust`` methods (Bonferroni, Holm, Hochberg, FDR/BH, BY), Dunnett's approximation
``dunnettx`` and the exact multivariate t (``mvt``).

Each family is one ``by`` group.  The rules are emmeans':

* a family of one estimate is not adjusted (except Scheffe);
* ``"tukey"`` is valid only for one set of pairwise comparisons; otherwise it becomes
  ``"sidak"`` (emmeans says so in a note);
* confidence intervals use the critical value of the method; ``p.adjust`` methods
  (Holm, FDR, ...) have no interval form and use Bonferroni's, as emmeans.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, stats

__all__ = ["ADJUST_METHODS", "check_adjust", "adjust_pvalues", "critical_values"]

ADJUST_METHODS = ("tukey", "scheffe", "sidak", "bonferroni", "holm", "hochberg", "fdr",
                  "BH", "BY", "dunnettx", "mvt", "none")
_PADJUST = ("bonferroni", "holm", "hochberg", "fdr", "BH", "BY")


def check_adjust(adjust):
    """The canonical name of an ``adjust=`` choice, or a ValueError listing them."""
    if adjust is None:
        return None
    key = str(adjust)
    for m in ADJUST_METHODS:
        if key.lower() == m.lower():
            return "fdr" if m == "BH" else m
    raise ValueError(f"adjust must be one of {', '.join(repr(m) for m in ADJUST_METHODS)}, "
                     f"got {adjust!r}")


def _effective(adjust, n_contr, pairs, note):
    if n_contr == 1 and adjust != "scheffe":
        return "none"
    if adjust == "tukey" and not pairs:
        note.append('adjust = "tukey" was changed to "sidak" because "tukey" is only '
                    "appropriate for one set of pairwise comparisons")
        return "sidak"
    return adjust


def _p_adjust(p, method):
    """R's ``p.adjust`` (bonferroni, holm, hochberg, fdr/BH, BY)."""
    p = np.asarray(p, dtype=float)
    n = p.size
    if method == "bonferroni":
        return np.minimum(1.0, n * p)
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    i = np.arange(1, n + 1)
    if method == "holm":
        adj = np.minimum(1.0, np.maximum.accumulate((n - i + 1) * ps))
    elif method == "hochberg":
        adj = np.minimum(1.0, np.minimum.accumulate(((n - i + 1) * ps)[::-1])[::-1])
    else:                                                      # fdr (BH), BY
        q = np.sum(1.0 / i) if method == "BY" else 1.0
        adj = np.minimum(1.0, np.minimum.accumulate((q * n / i * ps)[::-1])[::-1])
    out = np.empty(n)
    out[order] = adj
    return out


def _ptukey_sf(q, nmeans, df):
    df = np.inf if (not np.isfinite(df) or df > 1e5) else df
    return float(stats.studentized_range.sf(q, nmeans, df))


def _qtukey(level, nmeans, df):
    df = np.inf if (not np.isfinite(df) or df > 1e5) else df
    return float(stats.studentized_range.ppf(level, nmeans, df))


def _pdunnx(x, k, df):
    """emmeans' ``.pdunnx``: Dunnett's distribution approximated by a mix of Tukey's
    (weight ``(k-1)/k``) and Sidak's."""
    twt = (k - 1) / k
    fam = (1 + np.sqrt(1 + 8 * k)) / 2
    df_ = np.inf if not np.isfinite(df) else df
    tukey = 1.0 - _ptukey_sf(np.sqrt(2) * x, fam, df_)
    sidak = stats.f.cdf(x ** 2, 1, df_) ** k
    return twt * tukey + (1 - twt) * sidak


def _qdunnx(level, k, df):
    if k < 1.005:
        return float(stats.t.ppf(1 - 0.5 * (1 - level), df))
    fam = (1 + np.sqrt(1 + 8 * k)) / 2
    xtuk = _qtukey(level, fam, df) / np.sqrt(2)
    xsid = float(np.sqrt(stats.f.ppf(level ** (1 / k), 1, df)))
    if abs(xtuk - xsid) < 5e-4:
        return xtuk
    return float(optimize.brentq(lambda x: _pdunnx(x, k, df) - level,
                                 min(xtuk, xsid), max(xtuk, xsid), xtol=1e-10))


def _mvt_df(df):
    """emmeans' ``.fix.df``: the multivariate t uses ``floor(df + 0.25)`` degrees of
    freedom (mvtnorm needs an integer); above 9999 or infinite, the normal."""
    d = max(1.0, df) if df > 0 else df
    if not np.isfinite(d) or d > 9999:
        return 0
    return int(np.floor(d + 0.25))


def _pivoted_factor(corr, tol=1e-10):
    """Lower-trapezoidal ``L`` (k x r) and a row order with ``corr[o][:, o] = L L'``
    (pivoted Cholesky; ``r`` the numerical rank)."""
    A = np.array(corr, dtype=float)
    k = A.shape[0]
    order = np.arange(k)
    L = np.zeros((k, k))
    r = 0
    for j in range(k):
        d = np.diag(A)[j:] - np.sum(L[j:, :j] ** 2, axis=1)
        m = j + int(np.argmax(d))
        if d[m - j] <= tol:
            break
        A[[j, m]] = A[[m, j]]
        A[:, [j, m]] = A[:, [m, j]]
        L[[j, m]] = L[[m, j]]
        order[[j, m]] = order[[m, j]]
        L[j, j] = np.sqrt(d[m - j])
        L[j + 1:, j] = (A[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
        r += 1
    return L[:, :r], order


def _mvt_cdf_box(c, corr, df, n_points=4096, n_shifts=12, seed=20240616):
    """P(|T_i| <= c for all i), T multivariate t (normal for df 0) with correlation
    ``corr`` (possibly singular, as for all pairwise differences): Genz's separation of
    variables with randomized quasi-Monte Carlo (scrambled Sobol points, fixed seed),
    constraints whose last variable is the same intersected, as mvtnorm does."""
    k = corr.shape[0]
    if k == 1:
        return float(2 * (stats.t.cdf(c, df) if df else stats.norm.cdf(c)) - 1)
    L, _ = _pivoted_factor(corr)
    r = L.shape[1]
    # each constraint's last variable (its row in the lower-trapezoidal factor)
    last = np.empty(k, dtype=int)
    for i in range(k):
        nz = np.flatnonzero(np.abs(L[i]) > 1e-12)
        last[i] = nz[-1] if nz.size else -1
    dim = r + (1 if df else 0)
    est = []
    for s in range(n_shifts):
        u = stats.qmc.Sobol(dim, scramble=True, seed=seed + s).random(n_points)
        scale = (np.sqrt(stats.chi2.ppf(u[:, r], df) / df) if df else np.ones(n_points))
        lo_all, hi_all = -c * scale, c * scale
        z = np.zeros((n_points, r))
        prob = np.ones(n_points)
        for j in range(r):
            a = np.full(n_points, -np.inf)
            b = np.full(n_points, np.inf)
            for i in np.flatnonzero(last == j):
                base = z[:, :j] @ L[i, :j]
                lij = L[i, j]
                ai, bi = (lo_all - base) / lij, (hi_all - base) / lij
                if lij < 0:
                    ai, bi = bi, ai
                a, b = np.maximum(a, ai), np.minimum(b, bi)
            Fa, Fb = stats.norm.cdf(a), stats.norm.cdf(np.maximum(a, b))
            prob *= Fb - Fa
            z[:, j] = stats.norm.ppf(np.clip(Fa + u[:, j] * (Fb - Fa), 1e-300, 1 - 1e-16))
        est.append(prob.mean())
    return float(np.mean(est))


def adjust_pvalues(t, df, adjust, families, pairs=False, fam_sizes=None, ranks=None,
                   corr=None):
    """Two-sided p-values of t statistics adjusted within families.

    Parameters
    ----------
    t, df : ndarray
        t ratios and their degrees of freedom (``inf`` for z tests).
    adjust : str
        A :func:`check_adjust` name.
    families : list of index arrays
        The rows of each family (``by`` group).
    pairs : bool
        Whether each family is one set of pairwise comparisons (Tukey's condition).
    fam_sizes : list of int
        Number of means compared in each family (Tukey).
    ranks : list of int
        Rank of each family's linear functions of the fixed effects (Scheffe).
    corr : ndarray, optional
        Correlation matrix of the estimates (mvt).

    Returns
    -------
    pvalues : ndarray
    method : str
        The method applied (after emmeans' substitutions).
    notes : list of str
    """
    t = np.asarray(t, dtype=float)
    df = np.where(np.isnan(df), np.inf, np.asarray(df, dtype=float))
    p_unadj = 2 * stats.t.sf(np.abs(t), df)
    out = np.full(t.size, np.nan)
    notes, used = [], adjust
    for f, rows in enumerate(families):
        rows = np.asarray(rows)
        ok = rows[np.isfinite(t[rows])]
        n = ok.size
        if n == 0:
            continue
        meth = _effective(adjust, len(rows), pairs, notes)
        used = meth
        pu, at, d = p_unadj[ok], np.abs(t[ok]), df[ok]
        if meth == "none":
            out[ok] = pu
        elif meth in _PADJUST:
            out[ok] = _p_adjust(pu, meth)
        elif meth == "sidak":
            out[ok] = 1 - (1 - pu) ** n
        elif meth == "tukey":
            out[ok] = [_ptukey_sf(np.sqrt(2) * a, fam_sizes[f], dd) for a, dd in zip(at, d)]
        elif meth == "scheffe":
            r = ranks[f]
            out[ok] = stats.f.sf(at ** 2 / r, r, d)
        elif meth == "dunnettx":
            out[ok] = [1 - _pdunnx(a, n, dd) for a, dd in zip(at, d)]
        elif meth == "mvt":
            C = corr[np.ix_(ok, ok)]
            out[ok] = [1 - _mvt_cdf_box(a, C, _mvt_df(dd)) for a, dd in zip(at, d)]
        out[ok] = np.clip(out[ok], 0.0, 1.0)
    return out, used, list(dict.fromkeys(notes))


def critical_values(level, df, adjust, families, pairs=False, fam_sizes=None, ranks=None,
                    corr=None):
    """Critical values of two-sided simultaneous ``level`` intervals within families
    (emmeans' ``.adj.critval``); p.adjust methods use Bonferroni's."""
    df = np.where(np.isnan(df), np.inf, np.asarray(df, dtype=float))
    cv = np.full(df.size, np.nan)
    notes, used = [], adjust
    for f, rows in enumerate(families):
        rows = np.asarray(rows)
        n = rows.size
        meth = _effective(adjust, n, pairs, notes)
        if meth in _PADJUST and meth != "bonferroni":
            meth = "bonferroni"
        used = meth
        for i in rows:
            d = df[i]
            if meth == "none":
                cv[i] = stats.t.ppf(1 - (1 - level) / 2, d)
            elif meth == "sidak":
                cv[i] = stats.t.ppf(1 - (1 - level ** (1 / n)) / 2, d)
            elif meth == "bonferroni":
                cv[i] = stats.t.ppf(1 - (1 - level) / n / 2, d)
            elif meth == "tukey":
                cv[i] = _qtukey(level, fam_sizes[f], d) / np.sqrt(2)
            elif meth == "scheffe":
                cv[i] = np.sqrt(ranks[f] * stats.f.ppf(level, ranks[f], d))
            elif meth == "dunnettx":
                cv[i] = _qdunnx(level, n, d)
        if meth == "mvt":
            C = corr[np.ix_(rows, rows)]
            for i in rows:
                dd = _mvt_df(df[i])
                lo = stats.t.ppf(1 - (1 - level) / 2, dd if dd else np.inf)
                hi = stats.t.ppf(1 - (1 - level) / n / 2, dd if dd else np.inf) + 0.5
                cv[i] = optimize.brentq(lambda c: _mvt_cdf_box(c, C, dd) - level, lo, hi,
                                        xtol=1e-6)
    return cv, used, list(dict.fromkeys(notes))
