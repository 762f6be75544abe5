"""The score of the profiled criterion from the elimination itself (no per-unit dense
algebra): a mixin of :class:`lmmext.engine.likelihood.ProfiledLikelihood`.

The criterion depends on the residual parameters only through the innermost groups'
whitened cross-products and the log-determinants of the weights and correlation blocks;
its derivative with respect to a group's cross-products (``Gamma_g``) is a small matrix
built from Henderson's BLUP operator and the profiled ``sigma^2`` and fixed effects (one
level: :meth:`EliminationScore._elimination_score`; nested levels: the selected
inversion of :mod:`.nested_score`), and the variance weights and a bidiagonal whitening
move the whitened rows only through neighbouring rows
(:meth:`EliminationScore._residual_score`).
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import cho_solve

from .gradient import dense_is_worthwhile
from .linalg import stack_times, stacked_inner_sum
from .nested_score import level_score, nested_blocks, rows_gamma_forms

__all__ = ["EliminationScore"]


class EliminationScore:
    """Score methods shared by the likelihood's evaluation (see the module docstring)."""

    @property
    def schur_gradient(self):
        """Whether the gradient comes from the elimination itself
        (:meth:`_elimination_score`, or :mod:`.nested_score` for nested levels; no
        per-unit dense algebra): a correlation structure only when its whitening is a
        bidiagonal map (AR(1), CAR(1), ARMA(1, 0) with monotone positions)."""
        if not hasattr(self, "_schur"):
            cs = self.corstruct
            if self.sparse is not None:
                self._schur = False
            elif cs is not None and not cs.is_banded:
                self._schur = False
            elif cs is None or len(self.levels) != 1 or self.levels[0].q == 1:
                # nested levels: the selected inversion of lmmext.engine.nested_score
                self._schur = True
            else:
                # several random effects with a correlation structure: the per-unit dense
                # algebra measured twice as fast (benchmark case d), where affordable
                self._schur = not dense_is_worthwhile(self)
        return self._schur

    def _elimination_score(self, elim, theta_cor, theta_var, log_w, R_X, beta_s, sigma2):
        """Score of the profiled criterion from the elimination just made.

        The criterion depends on the residual parameters only through the whitened
        cross-products ``S_g`` of the groups and the log-determinants of the weights and
        correlation blocks.  Its derivative with respect to ``S_g`` is, with ``Phi`` the
        derivative with respect to the reduced ``[X y]' V~^-1 [X y]`` (``-b b' / 2
        sigma^2 - [(X' V~^-1 X)^-1 / 2]_REML``, ``b = (-beta, 1)``), ``G_g = L M_g^-1
        L' = B_g' B_g`` and ``J_g = G_g S_g,zr`` (Henderson's BLUP operator)::

            Gamma_g = E_g' Phi E_g - diag(G_g, 0) / 2,    E_g = [-J_g' | I]

        so a parameter moving the whitened rows by ``dA`` contributes ``2 sum_rows
        dA_r' Gamma_g a_r``, evaluated as ``rho(dA_r)' Phi rho(a_r) - t(dA_r)' t(a_r) / 2``
        with ``rho(a) = E_g a`` and ``t(a) = B_g z``.  The weights act before the
        whitening (``dA = U (g o WA)``) and a banded whitening ``U`` is bidiagonal
        (``CorStruct.banded_factor``), so every term is a sum of products of
        neighbouring rows.  The random effects' score is :meth:`_re_gradient`.  Per
        evaluation this is ``O(N (p + q)^2)`` (``O(cells m^2)`` for stratum weights).

        ``elim`` is ``(theta_re, L, chol^-1, K)`` of the one level, or ``None`` (gls).
        """
        p = self.p
        b = np.r_[-beta_s, 1.0]
        Hinv = cho_solve((R_X, True), np.eye(p))
        Phi = np.outer(b, b) / (-2.0 * sigma2)
        if self.reml:
            Phi[:p, :p] -= 0.5 * Hinv
        parts = []
        if elim is not None:
            theta_re, L, cinv, K = elim
            parts.append(self._re_gradient(theta_re, L, cinv, K, Hinv, beta_s, sigma2))
            B = stack_times(cinv, L.T)                      # chol^-1 L': G_g = B' B
            J = np.matmul(B.transpose(0, 2, 1), K)
        def forms(M):
            # rho = E_g a and t = B_g z of every row a = (z, rest) of M: with D the rows'
            # z spread over their group's columns (N x G q, sparse), rho = rest - D J and
            # t = D B' (no copy of the group operators per row)
            if elim is None:
                return M, None
            G, q = B.shape[:2]
            codes = self.levels[0].codes
            D = sparse.csr_matrix(
                (M[:, :q].ravel(), (codes[:, None] * q + np.arange(q)).ravel(),
                 np.arange(0, q * len(codes) + 1, q)), shape=(len(codes), G * q))
            rho = M[:, q:] - D @ J.reshape(G * q, -1)
            return rho, D @ B.transpose(0, 2, 1).reshape(G * q, q)

        def rowdots(f1, f2, phi_rho2, lag=False):
            # f1_r' Gamma f2_r, or f1_r' Gamma f2_(r+1) with lag; phi_rho2 = rho(f2) Phi
            (r1, t1), t2 = f1, f2[1]
            if lag:
                r1, phi_rho2 = r1[:-1], phi_rho2[1:]
                t1, t2 = (None, None) if t1 is None else (t1[:-1], t2[1:])
            out = np.einsum("nk,nk->n", r1, phi_rho2)
            if t1 is not None:
                out -= 0.5 * np.einsum("nk,nk->n", t1, t2)
            return out

        def row_forms(M, lag):
            f_w = forms(M)
            phi_rho = f_w[0] @ Phi
            return (rowdots(f_w, f_w, phi_rho),
                    rowdots(f_w, f_w, phi_rho, lag=True) if lag else None)

        parts += self._residual_score(
            theta_cor, theta_var, log_w,
            lambda cells: self._cell_dots(cells, Phi, elim and (B, J)), row_forms)
        return np.concatenate(parts) if parts else np.zeros(0)

    def _residual_score(self, theta_cor, theta_var, log_w, cell_dots, row_forms):
        """The score of the correlation and variance-function parameters (a list of
        arrays), given the derivative ``Gamma_g`` of the criterion with respect to each
        innermost group's whitened cross-products through two contractions:
        ``cell_dots(cells)`` (``<Gamma_g, S_c>`` of every (group, stratum) cell) and
        ``row_forms(M, lag)`` (``q0_r = m_r' Gamma m_r`` and, with ``lag``, ``q1_r = m_r'
        Gamma m_(r+1)`` of the rows of ``M``).  A parameter moving the whitened rows by
        ``dA`` contributes ``2 sum_rows dA_r' Gamma_g a_r``; the weights act before the
        whitening and a banded whitening is bidiagonal (``CorStruct.banded_factor``), so
        every term is a sum of products of neighbouring rows."""
        cs, vf = self.corstruct, self.varfunc
        n_cor = cs.n_params if cs is not None else 0
        n_var = vf.n_params if vf is not None else 0
        if not n_cor + n_var:
            return []
        parts = []
        jac = vf.log_weights_jacobian(theta_var) if n_var else None
        cells = self._cells
        if cells is not None:
            pull = np.exp(2.0 * log_w[cells.row]) * cell_dots(cells)
            return [jac[:, cells.row] @ (cells.n + 2.0 * pull)]
        WA = self._cross_cache[4]             # weighted rows of the evaluation just made
        if cs is None:
            pull = row_forms(WA, False)[0]            # the weighted rows are whitened
        else:
            # a_r' Gamma A~_r and a_r' Gamma A~_(r+1) with a the rows before whitening
            a, bb, da, db, dlogdet = cs.banded_factor(theta_cor)
            q0, q1 = row_forms(WA, True)
            # the forms are linear and a block lies within one group, so the whitened
            # rows' forms are a_r f_r + b_r f_(r-1): with q0_r = f_r' Gamma f_r and
            # q1_r = f_r' Gamma f_(r+1), same_r = a_r' Gamma A~_r and lag_r = a_r' Gamma
            # A~_(r+1) are
            same = a * q0
            same[1:] += bb[1:] * q1
            lag = a[1:] * q1 + bb[1:] * q0[:-1]
            if n_cor:
                parts.append(2.0 * (da @ same + db[:, 1:] @ lag) - 0.5 * dlogdet)
            pull = a * same
            pull[:-1] += bb[1:] * lag
        if n_var:
            parts.append(jac @ (1.0 + 2.0 * pull))
        return parts

    def _cell_dots(self, cells, Phi, BJ):
        """``<Gamma_g, S_c>`` (the sum of ``a_r' Gamma_g a_r`` over the cell's unweighted
        rows) of every (group, stratum) cell (see
        :meth:`_elimination_score`); ``BJ`` is ``(B, J)`` or ``None`` (gls)."""
        if BJ is None:
            dots = np.tensordot(cells.S, Phi, axes=2)
        else:
            B, J = BJ
            q, p1 = J.shape[1], J.shape[2]
            JPhi = J @ Phi
            Gamma = np.empty((J.shape[0], q + p1, q + p1))
            Gamma[:, :q, :q] = (np.matmul(JPhi, J.transpose(0, 2, 1))
                                - 0.5 * np.matmul(B.transpose(0, 2, 1), B))
            Gamma[:, :q, q:] = -JPhi
            Gamma[:, q:, :q] = -JPhi.transpose(0, 2, 1)
            Gamma[:, q:, q:] = Phi
            if cells.n_cells != Gamma.shape[0]:
                Gamma = Gamma[cells.group]
            dots = np.einsum("cij,cij->c", cells.S, Gamma)
        return dots

    def _re_gradient(self, theta, L, cinv, K, Hinv, beta_s, sigma2):
        """Gradient for one random-effects level, from the stored elimination.

        With ``u = L v``, ``M_g = I + L' Z_g~' Z_g~ L = chol chol'`` and ``K_g = chol^-1 L'
        Z_g~' [X~ y~]``, the score is ``-tr(A L^-1 dL_j)`` with ``A = sum_g (I - C_g -
        v_g v_g' / sigma^2)``: ``v_g = M_g^-1 L' Z_g~' (y~ - X~ beta)`` the BLUP on the
        ``v`` scale and ``C_g`` its block of the inverse of Henderson's coefficient matrix
        (``M_g^-1``, plus ``E_g (X' V~^-1 X)^-1 E_g'`` for beta's uncertainty under REML).
        """
        p = self.p
        Kx, Ky = K[:, :, :p], K[:, :, p]
        cinvT = cinv.transpose(0, 2, 1)                             # chol^-T
        v = np.einsum("gab,gb->ga", cinvT, Ky - stack_times(Kx, beta_s[:, None])[:, :, 0])
        sum_C = stacked_inner_sum(cinvT, cinvT)                     # sum of M_g^-1
        if self.reml:
            E = cinvT @ Kx                                          # M_g^-1 L' Z~' X~
            sum_C += stacked_inner_sum(stack_times(E, Hinv), E)
        return level_score(self.levels[0], theta, L, sum_C, v, sigma2)

    def _nested_score(self, re_theta, factors, elims, theta_cor, theta_var, log_w, R_X,
                      beta_s, sigma2):
        """Score with nested levels: each level's random-effects score and ``Gamma`` of
        the innermost groups from :func:`.nested_score.nested_blocks`, then the residual
        parameters' score contracted with it."""
        Hinv = cho_solve((R_X, True), np.eye(self.p))
        residual = sum(s.n_params for s in (self.corstruct, self.varfunc) if s is not None)
        grads, Gamma = nested_blocks(self, re_theta, factors, elims, Hinv, beta_s, sigma2,
                                     gamma=residual > 0)
        codes = self.levels[-1].codes
        grads += self._residual_score(
            theta_cor, theta_var, log_w,
            lambda cells: np.einsum("cij,cij->c", cells.S, Gamma[cells.group]),
            lambda M, lag: rows_gamma_forms(Gamma, codes, M, lag))
        return np.concatenate(grads)
