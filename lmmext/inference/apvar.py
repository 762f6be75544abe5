"""nlme's approximate covariance of the variance parameters ("apVar") on nlme's natural
scale: the basis of ``intervals()`` and of Satterthwaite's degrees of freedom.

apVar's parameters are, in this order (nlme-reference.md section 5): for each
random-effects level, innermost first, ``log sd`` of each random effect then
``z = log((1 + r)/(1 - r))`` of each correlation; the correlation structure's
unconstrained parameters; the variance function's; and ``log sigma``.  The function
differentiated is the (RE)ML criterion with beta profiled but sigma *not*::

    l(theta, sigma) = sum log w - 1/2 log|C| - 1/2 log|I + Z*D~Z*'| - [REML] 1/2 log|X'V~^-1X|
                      - Nr log sigma - q / (2 sigma^2)

and apVar is the inverse of minus its Hessian (central differences here; nlme's own
finite-difference design is only ~1e-4 accurate).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..structures.numdiff import hessian as _hessian

__all__ = ["ApVar", "NaturalParameters", "approximate_covariance", "level_names",
           "SINGULAR_RATIO"]


@dataclass
class ApVar:
    """nlme's apVar: parameter names, estimates on the natural scale, their approximate
    covariance and the blocks (kind, object, slice) they come in."""

    names: list
    estimate: np.ndarray
    cov: np.ndarray | None          # None when the Hessian is not negative definite
    blocks: list = field(default_factory=list)   # (kind, level/object, slice)


def _level_natural(lev, L, sigma):
    """A level's natural parameters from its relative factor ``L`` (D~ = L L'), by its
    covariance class (:mod:`lmmext.structures.random_effects`)."""
    return lev.pd.natural((L @ L.T) * sigma ** 2)


def _level_theta(eng, k, nat, sigma):
    """Engine parameters of level ``k`` from its natural parameters and sigma."""
    return eng.theta_from_user_cov(k, eng.levels[k].pd.from_natural(nat) / sigma ** 2)


def level_names(lev):
    """nlme's labels: sd((Intercept)), sd(age), cor((Intercept),age); a pdIdent's
    sd(<formula>), a pdCompSymm's std. dev and corr."""
    z = ["(Intercept)" if n == "Intercept" else n for n in lev.z_names]
    return lev.pd.natural_names(z)


SINGULAR_RATIO = 1e-6


class NaturalParameters:
    """nlme's natural parameterization of a fit's variance parameters (apVar's
    order, see the module docstring) and the functions of it that inference needs."""

    def __init__(self, state):
        eng, ev = state.engine, state.evaluation
        self.engine = eng
        sigma = np.sqrt(ev.sigma2)
        re_theta, self._th_cor, self._th_var = eng.split(state.theta)
        parts, self.blocks, self.names = [], [], []
        pos = 0
        for k in range(len(eng.levels) - 1, -1, -1):          # innermost first, as nlme
            lev = eng.levels[k]
            nat = _level_natural(lev, eng.user_factor(k, ev.factors[k]), sigma)
            parts.append(nat)
            self.blocks.append(("re", k, slice(pos, pos + nat.size)))
            self.names += [f"{lev.name}.{n}" for n in level_names(lev)]
            pos += nat.size
        for kind, th, obj in (("cor", self._th_cor, eng.corstruct),
                              ("var", self._th_var, eng.varfunc)):
            if obj is not None and th.size:
                nat = obj.apvar_params(th)
                parts.append(nat)
                self.blocks.append((kind, obj, slice(pos, pos + nat.size)))
                self.names += [f"{kind}.{n}" for n in obj.apvar_names()]
                pos += nat.size
        parts.append(np.array([np.log(sigma)]))
        self.blocks.append(("sigma", None, slice(pos, pos + 1)))
        self.names.append("log(sigma)")
        self.estimate = np.concatenate(parts)

    def engine_params(self, phi):
        """(engine theta, sigma) at natural parameters ``phi``."""
        s = np.exp(phi[-1])
        theta_re = [None] * len(self.engine.levels)
        th_c, th_v = self._th_cor, self._th_var
        for kind, obj, sl in self.blocks:
            if kind == "re":
                theta_re[obj] = _level_theta(self.engine, obj, phi[sl], s)
            elif kind == "cor":
                th_c = obj.apvar_theta(phi[sl])
            elif kind == "var":
                th_v = obj.apvar_theta(phi[sl])
        theta = np.concatenate(theta_re + [np.asarray(th_c, float), np.asarray(th_v, float)])
        return theta, s

    def criterion(self, phi):
        """(RE)ML log-likelihood with beta profiled and sigma free (no constant)."""
        theta, s = self.engine_params(phi)
        eng = self.engine
        e = eng.evaluate(theta, keep=True)
        slw = e.log_w.sum() if e.log_w is not None else 0.0
        return (slw - 0.5 * e.logdet_C - 0.5 * e.logdet_M
                - (0.5 * e.logdet_X if eng.reml else 0.0)
                - eng.Nr * np.log(s) - e.q / (2 * s ** 2))

    def cov_beta(self, phi):
        """``sigma^2 (X' V~^-1 X)^-1`` at ``phi`` (sigma taken from ``phi``)."""
        theta, s = self.engine_params(phi)
        e = self.engine.evaluate(theta, keep=True)
        return self.engine.cov_beta(e) * (s ** 2 / e.sigma2)

    def cov_beta_gradient(self, rel=1e-4):
        """Central-difference derivatives of ``cov_beta`` (list, one per parameter)."""
        phi = self.estimate
        out = []
        for i in range(phi.size):
            h = rel * max(1.0, abs(phi[i]))
            e = np.zeros_like(phi)
            e[i] = h
            out.append((self.cov_beta(phi + e) - self.cov_beta(phi - e)) / (2 * h))
        return out


def approximate_covariance(state, params=None, drop_boundary=False):
    """apVar of a fit (see the module docstring).

    With ``drop_boundary=True`` random-effect SDs on the boundary (below 1e-4 of
    sigma; their log is not identified) are held fixed: their rows and columns are
    zero, as lmerTest drops zero variance components.
    """
    params = NaturalParameters(state) if params is None else params
    H = _hessian(params.criterion, params.estimate, richardson=True)
    H = -(H + H.T) / 2
    keep = np.ones(len(params.estimate), dtype=bool)
    if drop_boundary:
        log_sigma = params.estimate[-1]
        for kind, obj, sl in params.blocks:
            if kind == "re":
                idx = np.arange(sl.start, sl.stop)[state.engine.levels[obj].pd.natural_log_sd]
                keep[idx] = params.estimate[idx] - log_sigma > np.log(1e-4)
    Hk = H[np.ix_(keep, keep)]
    # the extrapolated finite-difference Hessian is accurate to ~1e-6 relative: a smaller
    # eigenvalue ratio (a flat direction: a boundary estimate or parameters that are
    # not identified) is treated as singular, as nlme's "non-positive definite"
    eig = np.linalg.eigvalsh(Hk)
    cov = None
    if eig[0] > SINGULAR_RATIO * eig[-1]:
        c = np.linalg.cholesky(Hk)
        inv = np.linalg.solve(c.T, np.linalg.solve(c, np.eye(keep.sum())))
        cov = np.zeros_like(H)
        cov[np.ix_(keep, keep)] = (inv + inv.T) / 2
    return ApVar(params.names, params.estimate, cov, params.blocks)
