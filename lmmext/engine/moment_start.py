"""A moment-based start for one level of random effects: their covariance matched to
the products of least-squares residuals within groups.

nlme's default start (a relative precision of ``0.375^2`` times each design column's
mean square) ignores the data's response; where the random effects are much smaller or
larger than that guess, the first average-information steps are spent getting there
(realistic data, random intercept: nine evaluations from nlme's start, the optimum a
quarter of its variance).  The residuals ``r`` of ``y`` on ``X`` are already at hand
(the engine's working response); for rows ``i != j`` of one group ``E r_i r_j ~ z_i' D
z_j``, so

    sum_g (Z_g' r_g)(Z_g' r_g)' - sum_i r_i^2 z_i z_i'
        ~ sum_g (Z_g'Z_g) D (Z_g'Z_g) - sum_i z_i z_i' D z_i z_i',

a linear system in the ``q (q + 1) / 2`` entries of ``D``; ``sigma^2`` follows from
``E r_i^2 ~ z_i' D z_i + sigma^2``.  (Henderson's method 3 in spirit, without its
projections: a start needs the right order of magnitude, not unbiasedness.)
"""
from __future__ import annotations

import numpy as np

from ..structures.random_effects import PdDiag, PdIdent, PdSymm
from .linalg import stack_times, stacked_inner_sum

__all__ = ["moment_start"]

# the largest number of random effects per group whose covariance is matched (the
# system has q (q + 1) / 2 unknowns, formed by q^2 stacked products)
_MAX_Q = 3


def moment_start(engine):
    """The random-effects part of ``engine``'s start from the residuals' moments (one
    level of at most three random effects with a general, diagonal or identity
    covariance, dense design, no correlation structure), or ``None`` where nlme's start
    stays (other models, or moments that identify no positive variance).  A single
    random effect starts at the lower of the two."""
    if len(engine.levels) != 1 or engine.sparse is not None or engine.corstruct is not None:
        return None
    lev = engine.levels[0]
    q = lev.q
    if q > _MAX_Q or not isinstance(lev.pd, (PdSymm, PdDiag, PdIdent)):
        return None
    Z, r = lev.Z, engine.A[:, -1]
    D = _matched_covariance(Z, r, lev)
    if D is None:
        return None
    sigma2 = (r @ r - np.einsum("nq,qk,nk->", Z, D, Z)) / max(engine.N - engine.p, 1)
    if not sigma2 > 0:
        return None
    D = _projected(D / sigma2, lev.pd)
    if D is None:
        return None
    theta = lev.pd.unfactor(np.linalg.cholesky(D))
    if q == 1:
        # the lower of this and nlme's start: from above, the steps of a variance
        # heading down are taken on the variance scale (for the boundary's sake) and
        # overshoot an interior optimum (a random intercept of data with random slopes:
        # 7 evaluations from the moments 36% above the optimum, 5 from nlme's below it)
        theta = np.minimum(theta, lev.start())
    return theta


def _matched_covariance(Z, r, lev):
    """``D`` solving the moment equations (module docstring), or ``None``."""
    q = lev.q
    first = lev.first_row
    u = np.add.reduceat(Z * r[:, None], first, axis=0)              # Z_g' r_g
    S = np.add.reduceat(Z[:, :, None] * Z[:, None, :], first, axis=0)   # Z_g' Z_g
    target = u.T @ u - (Z * (r ** 2)[:, None]).T @ Z
    rows, cols = np.triu_indices(q)
    system = np.empty((rows.size, rows.size))
    for k, (a, b) in enumerate(zip(rows, cols)):
        E = np.zeros((q, q))
        E[a, b] = E[b, a] = 1.0
        zEz = np.einsum("nq,qk,nk->n", Z, E, Z)
        image = stacked_inner_sum(stack_times(S, E), S) - (Z * zEz[:, None]).T @ Z
        system[:, k] = image[rows, cols]
    try:
        d = np.linalg.solve(system, target[rows, cols])
    except np.linalg.LinAlgError:
        return None
    D = np.zeros((q, q))
    D[rows, cols] = d
    D[cols, rows] = d
    return D if np.all(np.isfinite(D)) else None


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
