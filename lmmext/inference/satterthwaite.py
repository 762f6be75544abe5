"""Satterthwaite's denominator degrees of freedom for contrasts of the fixed effects (Fai
and Cornelius for multi-df tests, as lmerTest), from nlme's apVar.
"""
from __future__ import annotations

import numpy as np

from .apvar import NaturalParameters, approximate_covariance

__all__ = ["Satterthwaite"]


class Satterthwaite:
    """Satterthwaite's approximation for contrasts of the fixed effects.

    For a contrast ``c``, ``df = 2 (c' Phi c)^2 / (g' A g)`` with ``Phi`` the
    covariance of beta as a function of the variance parameters, ``g`` its gradient
    (``g_i = c' dPhi/dphi_i c``) and ``A`` the asymptotic covariance of the variance
    parameters (inverse of minus the Hessian of the (RE)ML criterion, sigma included).
    Multi-df tests follow Fai and Cornelius (1996) as lmerTest does.  The df do not
    depend on the parameterization; nlme's natural one (apVar's) is used.
    """
    def __init__(self, state):
        params = NaturalParameters(state)
        ap = approximate_covariance(state, params, drop_boundary=True)
        if ap.cov is None:
            raise ValueError("Satterthwaite degrees of freedom need a positive definite "
                             "approximate covariance of the variance parameters, and the "
                             "Hessian at this fit is not negative definite")
        self.A = ap.cov
        self.Phi = params.cov_beta(params.estimate)
        self.dPhi = params.cov_beta_gradient()

    def df(self, c):
        c = np.asarray(c, dtype=float)
        v = c @ self.Phi @ c
        g = np.array([c @ d @ c for d in self.dPhi])
        return float(2.0 * v ** 2 / (g @ self.A @ g))

    def coef_df(self):
        return np.array([self.df(np.eye(len(self.Phi))[j]) for j in range(len(self.Phi))])

    def f_test(self, L, beta):
        """F statistic, numerator and denominator df of ``L beta = 0``."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        VL = L @ self.Phi @ L.T
        d, P = np.linalg.eigh((VL + VL.T) / 2)
        if np.ptp(d) <= 1e-8 * d.max() and np.allclose(VL, d.mean() * np.eye(len(d)),
                                                    atol=1e-8 * d.max()):
            # VL is a multiple of I (e.g. nlme's sequential contrasts, rows of the
            # Cholesky factor): every basis is an eigenbasis, and Fai-Cornelius' df
            # depend on which; take the contrast rows themselves, not rounding noise
            P = np.eye(len(d))
        keep = d > d.max() * 1e-10
        d, P = d[keep], P[:, keep]
        q = d.size
        t2 = (P.T @ L @ beta) ** 2 / d
        nu = np.array([self.df(P[:, m] @ L) for m in range(q)])
        F = float(t2.sum() / q)
        if q == 1 or np.all(np.abs(np.diff(nu)) < 1e-8):
            ddf = float(nu.mean())
        elif np.any(nu <= 2):
            ddf = 2.0
        else:
            E = float(np.sum(nu / (nu - 2)))
            ddf = 2 * E / (E - q)
        return F, q, ddf
