"""Crossed random effects of one group with a sparse design (lme4's
``(1 | a) + (1 | b)`` over thousands of levels): the elimination of
:mod:`lmmext.engine.likelihood` for a single group whose ``q`` is large.

With ``u = L v`` and ``M = I + L' Z~' Z~ L`` the criterion needs ``log|M|`` and
``B' M^-1 B`` for ``B = L' Z~' [X~ y~]``.  Every row lies in exactly one level of each
crossed factor, so the block of ``M`` of one factor is block diagonal (one ``k x k``
block per level).  The factor with the most levels is eliminated first, level by level
(a Schur complement, as lme4's fill-reducing ordering does); what is left is a dense
matrix of the other factors' levels, factored by Cholesky.  The cross-products of the
unweighted design are formed once; variance weights rescale the rows.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve, solve_triangular

from ..structures.random_effects import PdBlocked, PdIdent, PdRepeated
from .linalg import size_plan

__all__ = ["SparseGroup", "SPARSE_MIN_Q"]

# a single group with more random effects than this gets the sparse design
SPARSE_MIN_Q = 200
# the coupling of the first crossed factor with the others is held dense up to this size
_DENSE_COUPLING = 2e7


def _block_levels(Zb, k):
    """Level (column // k) of every row in the block's columns, or ``None`` when a row
    touches two levels (then the block is not eliminated level by level)."""
    Zb = Zb.tocsr()
    lev = np.full(Zb.shape[0], -1, dtype=np.int64)
    nnz = np.diff(Zb.indptr)
    has = nnz > 0
    first = Zb.indices[Zb.indptr[:-1][has]] // k
    lev[has] = first
    rows = np.repeat(np.arange(Zb.shape[0]), nnz)
    if np.any(Zb.indices // k != lev[rows]):
        return None
    return lev


class SparseGroup:
    """The elimination of one group of crossed random effects (see the module
    docstring).  ``Z`` is the level's sparse design, ``pd`` its covariance class (a
    :class:`~lmmext.structures.random_effects.PdBlocked` of ``PdIdent`` /
    ``PdRepeated`` blocks, one per crossed term), ``R`` the engine's ``[X~ y~]``."""

    def __init__(self, Z, pd_mat, R):
        self.q = Z.shape[1]
        blocks = pd_mat.blocks if isinstance(pd_mat, PdBlocked) else [pd_mat]
        self.blocks = blocks
        cols = np.cumsum([0] + [b.q for b in blocks])
        self.pars = np.cumsum([0] + [b.n_params for b in blocks])
        # the block with the most levels whose rows each lie in one level goes first
        first, first_levels, best = None, None, 0
        for j, b in enumerate(blocks):
            k = b.block_q
            if not isinstance(b, (PdIdent, PdRepeated)) or b.q // k <= best:
                continue
            lev = _block_levels(Z[:, cols[j]:cols[j + 1]], k)
            if lev is not None:
                first, first_levels, best = j, lev, b.q // k
        order = ([first] if first is not None else []) + [j for j in range(len(blocks))
                                                          if j != first]
        self.order = order
        self.perm = np.concatenate([np.arange(cols[j], cols[j + 1]) for j in order])
        self.Z = sp.csr_matrix(Z)[:, self.perm].tocsr()
        self.R = R
        self.q1 = blocks[first].q if first is not None else 0
        self.k1 = blocks[first].block_q if first is not None else 0
        if self.q1:
            rows = np.flatnonzero(first_levels >= 0)
            srt = rows[np.argsort(first_levels[rows], kind="stable")]
            self._first_rows = srt
            self._first_plan = size_plan(first_levels[srt], self.q1 // self.k1)
            self._first_codes = first_levels[srt]
        self._cache = None

    # -- cross-products ----------------------------------------------------------------
    def crossproducts(self, log_w):
        """``(S_11 blocks, S_z.z (sparse), Z~' R~)`` for the weights ``exp(log_w)``."""
        key = None if log_w is None else log_w.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        Zw = self.Z if log_w is None else sp.diags(np.exp(log_w)) @ self.Z
        Rw = self.R if log_w is None else self.R * np.exp(log_w)[:, None]
        Szz = (Zw.T @ Zw).tocsr()
        Szr = np.asarray(Zw.T @ Rw)
        S11 = None
        if self.q1:
            # the first factor's block of Z~'Z~ is block diagonal: its k1 x k1 blocks
            q1, k1 = self.q1, self.k1
            bsr = Szz[:q1, :q1].tobsr(blocksize=(k1, k1))
            rows = np.repeat(np.arange(q1 // k1), np.diff(bsr.indptr))
            S11 = np.zeros((q1 // k1, k1, k1))
            S11[rows] = bsr.data
        # the rest, and the coupling with the first factor, dense when affordable (BLAS
        # beats sparse products at these sizes)
        q1 = self.q1
        S12 = Szz[:q1, q1:]
        if q1 * (self.q - q1) <= _DENSE_COUPLING:
            S12 = S12.toarray()
        S22 = Szz[q1:, q1:].toarray()
        Szz = (S12, S22)
        out = (S11, Szz, Szr)
        self._cache = (key, out)
        return out

    # -- the factor ----------------------------------------------------------------------
    def factor(self, theta):
        """The sparse factor ``L`` of ``D~`` in the engine's column order."""
        parts = []
        for j in self.order:
            b, t = self.blocks[j], theta[self.pars[j]:self.pars[j + 1]]
            if isinstance(b, PdIdent):
                parts.append(sp.identity(b.q, format="csr") * np.exp(t[0]))
            elif isinstance(b, PdRepeated):
                parts.append(sp.kron(sp.identity(b.m), sp.csr_matrix(b.inner.factor(t)),
                                     format="csr"))
            else:
                parts.append(sp.csr_matrix(b.factor(t)))
        return sp.block_diag(parts, format="csr"), parts

    def eliminate(self, theta, log_w):
        """``(log|M|, B' M^-1 B, X)`` with ``X = M^-1 B`` (for the BLUPs) at the
        random-effects parameters ``theta`` and the weights ``exp(log_w)``."""
        S11, (S12, S22), Szr = self.crossproducts(log_w)
        L, parts = self.factor(theta)
        B = np.asarray(L.T @ Szr)
        q1, k1 = self.q1, self.k1
        q2 = self.q - q1
        L2 = L[q1:, q1:]
        M22 = np.asarray(L2.T @ (L2.T @ S22).T) + np.eye(q2)       # L2' S22 L2 + I
        if not q1:
            c = cho_factor(M22, lower=True)
            X = cho_solve(c, B)
            return 2.0 * np.log(np.diag(c[0])).sum(), B.T @ X, X
        m1 = q1 // k1
        Li = parts[0][:k1, :k1].toarray()
        M11 = np.matmul(np.matmul(Li.T, S11), Li)
        M11[:, np.arange(k1), np.arange(k1)] += 1.0
        C11 = np.linalg.cholesky(M11)
        logdet = 2.0 * np.log(np.diagonal(C11, axis1=1, axis2=2)).sum()
        # M12 = L1' S12 L2 (L1 = I (x) Li)
        if k1 == 1:
            M12 = Li[0, 0] * S12
        else:
            S12d = S12.toarray() if sp.issparse(S12) else S12
            M12 = np.einsum("ba,mbj->maj", Li, S12d.reshape(m1, k1, q2)).reshape(q1, q2)
        M12 = (L2.T @ M12.T).T if not sp.issparse(M12) else M12 @ L2

        def solve11(rhs):                  # M11^-1 rhs, block by block
            r = np.asarray(rhs).reshape(m1, k1, -1)
            return np.linalg.solve(M11, r).reshape(q1, -1)

        B1, B2 = B[:q1], B[q1:]
        T1 = solve11(B1)
        if k1 == 1:
            G = (sp.diags(1.0 / M11[:, 0, 0]) @ M12 if sp.issparse(M12)
                 else M12 / M11[:, 0, :])
        else:
            G = solve11(M12.toarray() if sp.issparse(M12) else M12)
        cross = M12.T @ G
        schur = M22 - (cross.toarray() if sp.issparse(cross) else cross)
        c2 = cho_factor(schur, lower=True)
        logdet += 2.0 * np.log(np.diag(c2[0])).sum()
        B2s = B2 - np.asarray(M12.T @ T1)
        X2 = cho_solve(c2, B2s)
        X1 = T1 - np.asarray(G @ X2)
        self._last = (M11, G, c2)
        return logdet, B1.T @ T1 + B2s.T @ X2, np.vstack([X1, X2])

    @property
    def has_score(self):
        """Whether :meth:`re_score` applies: a first factor eliminated level by level and
        a coupling small enough to hold dense."""
        return bool(self.q1) and self.q1 * (self.q - self.q1) <= _DENSE_COUPLING

    def _diag_block_sums(self, Minv_first, Sinv):
        """Per block (engine order), the sum over its levels of the ``k x k`` diagonal
        blocks of ``M^-1``."""
        out, c0 = [], self.q1
        out.append(Minv_first)
        for j in self.order[1:]:
            b = self.blocks[j]
            k = b.block_q
            sl = slice(c0 - self.q1, c0 - self.q1 + b.q)
            blk = Sinv[sl, sl].reshape(b.q // k, k, b.q // k, k)
            out.append(np.einsum("akal->kl", blk))
            c0 += b.q
        return out

    def re_score(self, theta, X, Hinv, beta_s, sigma2, reml):
        """Score of the criterion with respect to the random-effects parameters, from
        the last :meth:`eliminate` (``X = M^-1 B``).

        With ``v = M^-1 L' Z~'(y~ - X~ beta)``, ``E = M^-1 L' Z~' X~`` and ``H = X'V~^-1X``
        the score of parameter ``t`` of block ``j`` is ``-tr(A_j Li^-1 dLi_t)``, ``A_j``
        the sum over the block's levels of the diagonal blocks of ``I - M^-1 - v v' /
        sigma^2 - [REML] E H^-1 E'`` and ``Li`` the block's factor per level.
        """
        M11, G, c2 = self._last
        q1, k1 = self.q1, self.k1
        m1 = q1 // k1
        Gd = G.toarray() if sp.issparse(G) else np.asarray(G)
        W = solve_triangular(c2[0], Gd.T, lower=True)          # C2^-1 G'
        first = (np.linalg.inv(M11).sum(axis=0)
                 + np.einsum("iak,ial->kl", W.reshape(-1, m1, k1), W.reshape(-1, m1, k1)))
        Sinv = cho_solve(c2, np.eye(self.q - q1))
        minv = self._diag_block_sums(first, Sinv)
        p = X.shape[1] - 1
        E = X[:, :p]
        v = X[:, p] - E @ beta_s
        score = np.zeros(int(self.pars[-1]))
        c0 = 0
        for idx, j in enumerate(self.order):
            b = self.blocks[j]
            # the block's distinct unit: one level of a repeated block, the 1 x 1 of a
            # multiple of the identity, else the whole block (one "level")
            unit = b.inner if isinstance(b, PdRepeated) else b
            k = b.block_q
            m = b.q // k
            vj = v[c0:c0 + b.q].reshape(m, k)
            A = m * np.eye(k) - minv[idx] - vj.T @ vj / sigma2
            if reml:
                Ej = E[c0:c0 + b.q].reshape(m, k, p)
                A -= np.einsum("mkp,pq,mlq->kl", Ej, Hinv, Ej)
            t = theta[self.pars[j]:self.pars[j + 1]]
            if isinstance(b, PdIdent):           # Li^-1 dLi = 1
                score[self.pars[j]] = -np.trace(A)
            else:
                Li = unit.factor(t)
                dL = unit.factor_jacobian(t)
                score[self.pars[j]:self.pars[j + 1]] = -np.einsum(
                    "ab,jba->j", A, np.linalg.solve(Li, dL))
            c0 += b.q
        return score

    def blups(self, theta, X, beta_s):
        """The random effects ``u = L M^-1 L' Z~'(y~ - X~ beta)`` in the level's column
        order, shape ``(1, q)``."""
        L, _ = self.factor(theta)
        v = X[:, -1] - X[:, :-1] @ beta_s
        u = np.empty(self.q)
        u[self.perm] = L @ v
        return u[None, :]
