"""A moment-based start for the random effects: their covariances matched to the
products of least-squares residuals within groups.

nlme's default start (a relative precision of ``0.375^2`` times each design column's
mean square) ignores the data's response; where the random effects are much smaller or
larger than that guess, the first average-information steps are spent getting there
(realistic data, random intercept: nine evaluations from nlme's start, the optimum a
quarter of its variance; four plots of 2,000 rows: nlme's relative SD 0.06, the
optimum's 1.5).  The residuals ``r`` of ``y`` on ``X`` are already at hand (the
engine's working response); for rows ``i != j`` of one group ``E r_i r_j ~ z_i' D
z_j``, so for one level

    sum_g (Z_g' r_g)(Z_g' r_g)' - sum_i r_i^2 z_i z_i'
        ~ sum_g (Z_g'Z_g) D (Z_g'Z_g) - sum_i z_i z_i' D z_i z_i',

a linear system in the ``q (q + 1) / 2`` entries of ``D`` (nested levels: one such
block of equations per level, coupled through the pairs that share groups of both);
``sigma^2`` follows from ``E r_i^2 ~ sum_l z_i' D_l z_i + sigma^2``.  (Henderson's
method 3 in spirit, without its projections: a start needs the right order of
magnitude, not unbiasedness.)
"""
from __future__ import annotations

import numpy as np

from ..structures.random_effects import PdDiag, PdIdent, PdSymm

__all__ = ["moment_start"]

# the largest number of random effects per group of a level whose covariance is matched
# (q (q + 1) / 2 unknowns, each's equations formed by stacked products)
_MAX_Q = 3
# how far below the moments (log relative SD) nlme's start of a single random effect
# may be and still be taken
_BELOW = 0.5


def moment_start(engine, start):
    """The random-effects part of ``engine``'s start from the residuals' moments (levels
    of at most three random effects with a general, diagonal or identity covariance,
    dense designs, no correlation structure), or ``None`` where nlme's start stays
    (other models, or moments that identify no positive variance).  A level whose
    moments identify no positive variance keeps nlme's start; a single random effect
    takes nlme's where that is below the moments' by at most ``_BELOW``.  ``start`` is
    nlme's whole start vector (:meth:`ProfiledLikelihood.start`)."""
    levels = engine.levels
    if (not levels or engine.sparse is not None or engine.corstruct is not None
            or any(lev.q > _MAX_Q or not isinstance(lev.pd, (PdSymm, PdDiag, PdIdent))
                   for lev in levels)):
        return None
    r = engine.A[:, -1]
    outer = [_row_outer(lev.Z, lev.Z) for lev in levels]              # z z' per row
    Ds = _matched_covariances(levels, r, outer)
    if Ds is None:
        return None
    shares = sum(o.sum(axis=0) @ D.ravel() for o, D in zip(outer, Ds))
    sigma2 = (r @ r - shares) / max(engine.N - engine.p, 1)
    if not sigma2 > 0:
        return None
    parts, matched = [], False
    for lev, D, nlme in zip(levels, Ds, engine.split(start)[0]):
        D = _projected(D / sigma2, lev.pd)
        if D is None:
            parts.append(nlme)
            continue
        theta = lev.pd.unfactor(np.linalg.cholesky(D))
        if lev.q == 1:
            # nlme's start where it is below this, by at most _BELOW: from above, the
            # steps of a variance heading down are taken on the variance scale (for the
            # boundary's sake) and overshoot an interior optimum (a random intercept of
            # data with random slopes: 7 evaluations from the moments 36% above the
            # optimum, 5 from nlme's 21% below it), while far below (a level of four
            # plots of 2,000 rows: nlme's relative SD 0.06) the trust region's steps
            # take several evaluations to climb
            theta = np.clip(nlme, theta - _BELOW, theta)
        parts.append(theta)
        matched = True
    return np.concatenate(parts) if matched else None


def _matched_covariances(levels, r, outer):
    """Every level's ``D`` solving the moment equations (``outer``: each level's
    :func:`_row_outer` of its design with itself), or ``None``.  For nested levels
    the pairs of rows sharing a group of level ``k`` give level ``k``'s equations
    (``z^(k)`` outer products), and a pair's expected product has a term of every level
    whose group it shares: the equations of level ``k`` in the unknowns of level ``l``
    sum over the groups of the inner of the two.  Each block is a fourth-order tensor
    ``(i, j, a, b)`` -- ``sum_g C_g[i, a] C_g[j, b]`` with ``C_g = Z_g^k' Z_g^l``, less
    the pairs ``i = j``' ``sum_n z_ni z_nj z_na z_nb`` -- from two products over the
    stacked groups and rows."""
    keys = [np.triu_indices(lev.q) for lev in levels]
    offsets = np.cumsum([0] + [k[0].size for k in keys])
    system = np.empty((offsets[-1], offsets[-1]))
    target = np.empty(offsets[-1])
    for k, (lev_k, (rows, cols)) in enumerate(zip(levels, keys)):
        qk = lev_k.q
        u = np.add.reduceat(lev_k.Z * r[:, None], lev_k.first_row, axis=0)   # Z_g' r_g
        moment = u.T @ u - ((r ** 2) @ outer[k]).reshape(qk, qk)
        target[offsets[k]:offsets[k + 1]] = moment[rows, cols]
        for m, (lev_l, (a_idx, b_idx)) in enumerate(zip(levels, keys)):
            ql = lev_l.q
            rows_kl = outer[k] if k == m else _row_outer(lev_k.Z, lev_l.Z)
            C = np.add.reduceat(rows_kl, levels[max(k, m)].first_row, axis=0)  # Z_g^k' Z_g^l
            pairs = (C.T @ C).reshape(qk, ql, qk, ql).transpose(0, 2, 1, 3)
            same = (outer[k].T @ outer[m]).reshape(qk, qk, ql, ql)
            block = pairs - same                  # the map E -> sum (...), by (i, j, a, b)
            # a symmetric unknown D[a, b] = D[b, a] enters through both entries
            image = block[:, :, a_idx, b_idx] + np.where(
                a_idx != b_idx, block[:, :, b_idx, a_idx], 0.0)
            system[offsets[k]:offsets[k + 1], offsets[m]:offsets[m + 1]] = image[rows, cols]
    try:
        d = np.linalg.solve(system, target)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(d)):
        return None
    Ds = []
    for lev, (rows, cols), lo in zip(levels, keys, offsets):
        D = np.zeros((lev.q, lev.q))
        D[rows, cols] = D[cols, rows] = d[lo:lo + rows.size]
        Ds.append(D)
    return Ds


def _row_outer(A, B):
    """``a_n b_n'`` of every row as an ``N x (p q)`` array (row-major)."""
    return (A[:, :, None] * B[:, None, :]).reshape(len(A), -1)


def _projected(D, pd):
    """``D`` made a positive definite member of ``pd``'s class (eigenvalues below a
    hundredth of the largest raised to it), or ``None`` when no variance is positive."""
    if isinstance(pd, PdDiag):
        D = np.diag(np.diag(D))
    elif isinstance(pd, PdIdent):
        D = np.mean(np.diag(D)) * np.eye(pd.q)
    w, V = np.linalg.eigh((D + D.T) / 2)
    if not w[-1] > 0:
        return None
    w = np.maximum(w, 1e-2 * w[-1])
    return (V * w) @ V.T
