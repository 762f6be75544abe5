"""Kenward-Roger (1997) adjusted covariance of the fixed effects and F tests.

The marginal covariance is written as ``V = sum_r s_r G_r + (nonlinear part)``:

* random-effects covariances enter linearly: one parameter per entry of each level's
  ``D`` (variances and covariances, on the absolute scale), with
  ``dV/dD_ab = Z_a Z_b' + Z_b Z_a'`` inside the level's groups (as pbkrtest does);
* the residual part ``sigma^2 Lambda(theta)`` gives ``dV/dsigma^2 = Lambda`` and, for
  variance-function and correlation parameters, ``sigma^2 dLambda/dtheta`` with second
  derivatives (KR's ``R_ij``) by central differences; for purely linear structures the
  ``R_ij`` vanish and the result is pbkrtest's.

``W``, the covariance of the variance parameters, is the inverse of the expected REML
information ``1/2 tr(P V_i P V_j)``.  Everything is accumulated over the outermost
groups of an lme fit, or the correlation structure's groups of a gls fit (single rows
without a correlation structure), with dense blocks (V is block diagonal there), so this
is meant for the data sizes where small-sample corrections matter.
"""
from __future__ import annotations

import numpy as np

__all__ = ["KenwardRoger"]


class KenwardRoger:
    """KR quantities of a fit: ``Phi`` (unadjusted), ``Phi_A`` (adjusted), and
    :meth:`f_test` / :meth:`coef_df`."""

    def __init__(self, state, step=1e-4):
        eng, ev = state.engine, state.evaluation
        if any(lev.pd_class not in ("pdSymm", "pdDiag", "pdIdent") for lev in eng.levels):
            raise NotImplementedError("Kenward-Roger degrees of freedom of a blocked "
                                      "random-effects covariance (statsmodels' variance "
                                      "components) are not available yet")
        self.engine = eng
        sigma2 = ev.sigma2
        re_theta, th_cor, th_var = eng.split(state.theta)
        X, N = eng.X, eng.N
        # V is block diagonal over the outermost random-effects groups (lme) or, for a
        # gls, over the correlation structure's groups (each row alone without one)
        if eng.levels:
            outer = eng.levels[0].codes
        elif eng.corstruct is not None:
            outer = np.asarray(eng.corstruct.row_blocks)
        else:
            outer = np.arange(N)
        bounds = np.flatnonzero(np.r_[True, np.diff(outer) != 0, True])
        self._groups = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        nonlin = np.concatenate([np.asarray(th_cor, float), np.asarray(th_var, float)])
        n_cor = np.asarray(th_cor).size

        def lam_blocks(t):
            """Relative residual covariance Lambda per outer group at nonlinear params t."""
            tc, tv = t[:n_cor], t[n_cor:]
            w = eng.varfunc.weights(tv) if eng.varfunc is not None else np.ones(N)
            out = []
            cs = eng.corstruct
            for rows in self._groups:
                Winv = np.diag(1.0 / w[rows])
                C = np.eye(len(rows))
                if cs is not None:
                    # the correlation blocks inside this outer group (contiguous rows)
                    for b in np.unique(cs.row_blocks[rows]):
                        r = np.flatnonzero(cs.row_blocks[rows] == b)
                        C[np.ix_(r, r)] = cs.correlation_matrix(tc, b)
                out.append(Winv @ C @ Winv)              # Lambda = W^-1 C W^-1
            return out

        lam0 = lam_blocks(nonlin)
        D = [sigma2 * (Lf @ Lf.T) for Lf in ev.factors]
        # derivative matrices per group: list over parameters of list over groups
        dV, names = [], []
        for k, lev in enumerate(eng.levels):
            q = lev.q
            pairs = ([(a, a) for a in range(q)] if lev.pd_class != "pdSymm"
                     else [(a, b) for a in range(q) for b in range(a + 1)])
            if lev.pd_class == "pdIdent":
                pairs = [None]
            for pair in pairs:
                blocks = []
                for rows in self._groups:
                    Z = lev.Z[rows]
                    same = lev.codes[rows][:, None] == lev.codes[rows][None, :]
                    if pair is None:
                        G = Z @ Z.T
                    else:
                        a, b = pair
                        G = np.outer(Z[:, a], Z[:, b])
                        if a != b:
                            G = G + G.T
                    blocks.append(G * same)
                dV.append(blocks)
                names.append((lev.name, pair))
        dV.append(lam0)                                        # d/d sigma^2
        names.append(("sigma2", None))
        # nonlinear residual parameters: first and second derivatives numerically
        h = step * np.maximum(1.0, np.abs(nonlin))
        first, second = [], {}
        for i in range(nonlin.size):
            e = np.zeros_like(nonlin)
            e[i] = h[i]
            lp, lm = lam_blocks(nonlin + e), lam_blocks(nonlin - e)
            first.append([sigma2 * (p - m) / (2 * h[i]) for p, m in zip(lp, lm)])
            second[(i, i)] = [sigma2 * (p - 2 * c + m) / h[i] ** 2
                              for p, c, m in zip(lp, lam0, lm)]
            for j in range(i):
                ej = np.zeros_like(nonlin)
                ej[j] = h[j]
                pp, pm = lam_blocks(nonlin + e + ej), lam_blocks(nonlin + e - ej)
                mp, mm = lam_blocks(nonlin - e + ej), lam_blocks(nonlin - e - ej)
                second[(i, j)] = [sigma2 * (a - b - c + d) / (4 * h[i] * h[j])
                                  for a, b, c, d in zip(pp, pm, mp, mm)]
        i_sig = len(dV) - 1
        for i in range(nonlin.size):
            dV.append(first[i])
            names.append(("nonlinear", i))
        n_lin = i_sig + 1
        # second derivatives of V: sigma2 x theta_i -> dLambda/dtheta_i; theta x theta
        R = {}
        for i in range(nonlin.size):
            R[(i_sig, n_lin + i)] = [d / sigma2 for d in first[i]]
            for j in range(i + 1):
                R[(n_lin + i, n_lin + j)] = second[(i, j)]
        self.names = names
        k = len(dV)
        p = X.shape[1]
        # accumulate over groups
        XtVX = np.zeros((p, p))
        P = [np.zeros((p, p)) for _ in range(k)]
        Q = [[np.zeros((p, p)) for _ in range(k)] for _ in range(k)]
        Rm = {key: np.zeros((p, p)) for key in R}
        TT = np.zeros((k, k))          # sum_g tr(V^-1 V_i V^-1 V_j)
        for g, rows in enumerate(self._groups):
            V = sigma2 * lam0[g]
            for k_, lev in enumerate(eng.levels):
                Z = lev.Z[rows]
                same = lev.codes[rows][:, None] == lev.codes[rows][None, :]
                V = V + (Z @ D[k_] @ Z.T) * same
            c = np.linalg.cholesky(V)
            Xg = X[rows]
            VinvX = _chol_solve(c, Xg)
            XtVX += Xg.T @ VinvX
            A = [_chol_solve(c, dV[i][g]) for i in range(k)]        # V^-1 V_i
            AX = [A[i] @ VinvX for i in range(k)]                     # V^-1 V_i V^-1 X
            for i in range(k):
                P[i] -= Xg.T @ AX[i]
                for j in range(k):
                    Q[i][j] += VinvX.T @ dV[i][g] @ AX[j]
                    if j <= i:
                        TT[i, j] += np.sum(A[i] * A[j].T)
            for key, mats in R.items():
                Rm[key] += VinvX.T @ mats[g] @ VinvX
        TT = TT + np.tril(TT, -1).T
        Phi = np.linalg.inv(XtVX)
        # expected REML information: 1/2 tr(P V_i P V_j)
        info = np.empty((k, k))
        for i in range(k):
            for j in range(k):
                info[i, j] = 0.5 * (TT[i, j] - 2 * np.trace(Phi @ Q[j][i])
                                    + np.trace(Phi @ P[i] @ Phi @ P[j]))
        W = np.linalg.inv((info + info.T) / 2)
        U = np.zeros((p, p))
        for i in range(k):
            for j in range(k):
                U += W[i, j] * (Q[i][j] - P[i] @ Phi @ P[j])
        for (i, j), Rij in Rm.items():
            U -= 0.25 * W[i, j] * Rij * (1 if i == j else 2)
        self.Phi = Phi
        self.Phi_A = Phi + 2 * Phi @ U @ Phi
        self.P, self.W = P, W

    def f_test(self, L, beta):
        """KR's scaled F, numerator and denominator DF for ``L beta = 0``."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        q = np.linalg.matrix_rank(L)
        Phi, W, P = self.Phi, self.W, self.P
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        M = [Theta @ Phi @ Pi @ Phi for Pi in P]
        k = len(P)
        A1 = sum(W[i, j] * np.trace(M[i]) * np.trace(M[j]) for i in range(k) for j in range(k))
        A2 = sum(W[i, j] * np.trace(M[i] @ M[j]) for i in range(k) for j in range(k))
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        E = 1 / (1 - A2 / q)
        Vs = (2 / q) * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
        rho = Vs / (2 * E ** 2)
        m = 4 + (q + 2) / (q * rho - 1)
        lam = m / (E * (m - 2))
        Lb = L @ beta
        Fw = float(Lb @ np.linalg.solve(L @ self.Phi_A @ L.T, Lb)) / q
        return lam * Fw, q, m

    def coef_df(self, beta):
        p = len(beta)
        return np.array([self.f_test(np.eye(p)[j], beta)[2] for j in range(p)])


def _chol_solve(c, B):
    return np.linalg.solve(c.T, np.linalg.solve(c, B))
