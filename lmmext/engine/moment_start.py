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
from .linalg import stack_times, stacked_inner_sum

__all__ = ["moment_start"]

# the largest number of random effects per group of a level whose covariance is matched
# (q (q + 1) / 2 unknowns, each's equations formed by stacked products)
_MAX_Q = 3
# how far below the moments (log relative SD) nlme's start of a single random effect
# may be and still be taken
_BELOW = 0.5


def moment_start(engine):
    """The random-effects part of ``engine``'s start from the residuals' moments (levels
    of at most three random effects with a general, diagonal or identity covariance,
    dense designs, no correlation structure), or ``None`` where nlme's start stays
    (other models, or moments that identify no positive variance).  A level whose
    moments identify no positive variance keeps nlme's start, and so does a single
    random effect whose moment start is above nlme's."""
    levels = engine.levels
    if (not levels or engine.sparse is not None or engine.corstruct is not None
            or any(lev.q > _MAX_Q or not isinstance(lev.pd, (PdSymm, PdDiag, PdIdent))
                   for lev in levels)):
        return None
    r = engine.A[:, -1]
    Ds = _matched_covariances(levels, r)
    if Ds is None:
        return None
    shares = sum(np.einsum("nq,qk,nk->", lev.Z, D, lev.Z) for lev, D in zip(levels, Ds))
    sigma2 = (r @ r - shares) / max(engine.N - engine.p, 1)
    if not sigma2 > 0:
        return None
    parts, matched = [], False
    for lev, D in zip(levels, Ds):
        nlme = lev.start()
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


def _matched_covariances(levels, r):
    """Every level's ``D`` solving the moment equations, or ``None``.  For nested levels
    the pairs of rows sharing a group of level ``k`` give level ``k``'s equations
    (``z^(k)`` outer products), and a pair's expected product has a term of every level
    whose group it shares: the equations of level ``k`` in the unknowns of level ``l``
    sum over the groups of the inner of the two."""
    keys = [np.triu_indices(lev.q) for lev in levels]
    offsets = np.cumsum([0] + [k[0].size for k in keys])
    system = np.empty((offsets[-1], offsets[-1]))
    target = np.empty(offsets[-1])
    for k, (lev_k, (rows, cols)) in enumerate(zip(levels, keys)):
        Zk = lev_k.Z
        u = np.add.reduceat(Zk * r[:, None], lev_k.first_row, axis=0)      # Z_g' r_g
        moment = u.T @ u - (Zk * (r ** 2)[:, None]).T @ Zk
        target[offsets[k]:offsets[k + 1]] = moment[rows, cols]
        for m, (lev_l, (a_idx, b_idx)) in enumerate(zip(levels, keys)):
            Zl = lev_l.Z
            inner = levels[max(k, m)]
            C = np.add.reduceat(Zk[:, :, None] * Zl[:, None, :], inner.first_row,
                                axis=0)                                  # Z_g^k' Z_g^l
            for j, (a, b) in enumerate(zip(a_idx, b_idx)):
                E = np.zeros((lev_l.q, lev_l.q))
                E[a, b] = E[b, a] = 1.0
                zEz = np.einsum("nq,qk,nk->n", Zl, E, Zl)
                image = stacked_inner_sum(stack_times(C, E), C) - (Zk * zEz[:, None]).T @ Zk
                system[offsets[k]:offsets[k + 1], offsets[m] + j] = image[rows, cols]
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
