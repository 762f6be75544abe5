"""The score of the profiled criterion from the level-by-level elimination, for any
number of nested levels (Spruce-like plots of trees, region/farm/animal).

The elimination (``ProfiledLikelihood._evaluate``) removes the innermost level's random
effects group by group, then the next level's, and leaves ``[X y]' V~^-1 [X y]``.  The
score needs blocks of the inverse of Henderson's coefficient matrix: for each group its
own random effects jointly with its ancestors' and the fixed effects.  They follow by
running the elimination backwards (a selected inversion): with ``M_g = chol chol'`` and
``K_g = chol^-1 L' S_g,rest``, the block of the rest's unknowns ``Sigma_r`` (the parent's
joint block, the fixed effects' ``(X' V~^-1 X)^-1`` at the top, zero for ML, where the
determinant is of the random-effects block alone) gives::

    Sigma_vv = M_g^-1 + E Sigma_r E',   Sigma_vr = -E Sigma_r,   E = chol^-T K_g,rest

on the scale ``u = L v``.  The random effects' score is ``-tr(A_k L_k^-1 dL_k)`` with
``A_k = sum_g (I - Sigma_vv,g - v_g v_g' / sigma^2)``, and the derivative of the
criterion with respect to an innermost group's whitened cross-products is::

    Gamma_g = -Sigma_g / 2 - b_g b_g' / (2 sigma^2),   b_g = (-u_anc, -u_g, -beta, 1)

(``Sigma_g`` the joint block padded with zeros for ``y``), which the residual
parameters' score contracts with their row derivatives
(``ProfiledLikelihood._residual_score``).  Cost per evaluation ``O(G m^3 + N m^2)``
with ``m`` the columns of the augmented design: no dense per-outer-group algebra.
"""
from __future__ import annotations

import numpy as np

from .linalg import stack_times, times_stack

__all__ = ["level_score", "nested_blocks", "rows_gamma_forms"]


def level_score(level, theta, L, sum_C, v, sigma2):
    """The score of one level's parameters, ``-tr(A L^-1 dL_j)`` with ``A = sum_g (I -
    C_g - v_g v_g' / sigma^2)``: ``sum_C`` the sum of the groups' blocks ``C_g`` of the
    inverse of Henderson's coefficient matrix and ``v`` their BLUPs, on the scale
    ``u = L v``."""
    A = (level.n_groups * np.eye(L.shape[0]) - sum_C
         - np.tensordot(v, v, axes=([0], [0])) / sigma2)
    return -np.einsum("ab,jba->j", A, np.linalg.solve(L, level.factor_jacobian(theta)))


def nested_blocks(engine, re_theta, factors, elims, Hinv, beta_s, sigma2, gamma=True):
    """Random effects' score of every level and ``Gamma`` of the innermost groups.

    Parameters
    ----------
    engine : ProfiledLikelihood
    re_theta, factors : per level (outermost first), its parameters and ``L``
    elims : per level, ``(chol^-1, K)`` of its groups from the elimination, ``K`` over
        the rest columns (ancestors' random effects, ``X``, ``y``)
    Hinv : ``(X' V~^-1 X)^-1`` on the engine's scale
    beta_s : fixed effects on the engine's scale
    sigma2 : the profiled residual variance
    gamma : whether ``Gamma`` is needed (residual parameters to score)

    Returns
    -------
    grads : list of ndarray, the score of each level's parameters
    Gamma : ndarray (G_inner, m, m), or None without ``gamma``
    """
    p = engine.p
    J = (Hinv if engine.reml else np.zeros((p, p)))[None]
    coef = np.asarray(beta_s, dtype=float)[None]
    grads = []
    for k, lev in enumerate(engine.levels):
        cinv, K = elims[k]
        L = factors[k]
        lo, hi = engine.z_offsets[k], engine.z_offsets[k + 1]
        parent = (engine.levels[k - 1].codes[lev.first_row] if k
                  else np.zeros(lev.n_groups, dtype=np.int64))
        Sr, br = J[parent], coef[parent]
        Kr, Ky = K[:, :, :-1], K[:, :, -1]
        cinvT = cinv.transpose(0, 2, 1)
        v = np.einsum("gab,gb->ga", cinvT, Ky - np.einsum("gab,gb->ga", Kr, br))
        E = cinvT @ Kr
        ES = E @ Sr
        Svv = cinvT @ cinv + ES @ E.transpose(0, 2, 1)
        grads.append(level_score(lev, re_theta[k], L, Svv.sum(axis=0), v, sigma2))
        if k == len(engine.levels) - 1 and not gamma:
            return grads, None          # the innermost joint block only feeds Gamma
        # the joint block of this level's groups over (Z[0:hi], X), on the u scale
        rest = np.r_[0:lo, hi:hi + p]
        Jn = np.empty((lev.n_groups, hi + p, hi + p))
        Sur = -times_stack(L, ES)
        Jn[:, lo:hi, lo:hi] = times_stack(L, stack_times(Svv, L.T))
        Jn[:, lo:hi, rest] = Sur
        Jn[:, rest, lo:hi] = Sur.transpose(0, 2, 1)
        Jn[:, rest[:, None], rest[None, :]] = Sr
        u = v @ L.T
        J, coef = Jn, np.concatenate([br[:, :lo], u, br[:, lo:]], axis=1)
    G, m1 = coef.shape
    b = np.concatenate([-coef, np.ones((G, 1))], axis=1)
    Gamma = np.zeros((G, m1 + 1, m1 + 1))
    Gamma[:, :m1, :m1] = -0.5 * J
    Gamma -= np.einsum("ga,gb->gab", b, b) / (2.0 * sigma2)
    return grads, Gamma


def rows_gamma_forms(Gamma, codes, M, lag, chunk=65536):
    """``q0_r = a_r' Gamma_g(r) a_r`` and, with ``lag``, ``q1_r = a_r' Gamma_g(r)
    a_(r+1)`` for the rows ``a_r`` of ``M`` (chunked: ``Gamma_g(r) a_r`` is formed for
    ``chunk`` rows at a time)."""
    N = M.shape[0]
    q0 = np.empty(N)
    q1 = np.empty(max(N - 1, 0)) if lag else None
    for s in range(0, N, chunk):
        e = min(N, s + chunk)
        Ga = np.einsum("nab,nb->na", Gamma[codes[s:e]], M[s:e])
        q0[s:e] = np.einsum("na,na->n", Ga, M[s:e])
        if lag:
            e1 = min(e, N - 1)
            if e1 > s:
                q1[s:e1] = np.einsum("na,na->n", Ga[:e1 - s], M[s + 1:e1 + 1])
    return q0, q1
