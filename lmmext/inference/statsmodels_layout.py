"""statsmodels' parameter vector for a fit with nlme's structures, and its covariance.

statsmodels' ``MixedLMResults.params`` is ``[fe_params, cov_re (lower triangle, row by
row), vcomp]``, the covariances relative to the residual variance; lmmext appends the
free parameters of the correlation structure and of the variance function on nlme's
apVar scale (the scale of nlme's ``intervals``).  The covariance of the vector is
statsmodels' choice: the inverse of minus the Hessian of the criterion with the fixed
effects held (``sigma^2`` profiled out), here by Richardson-extrapolated central
differences of the engine's criterion, so that every structure is honoured.
"""
from __future__ import annotations

import numpy as np

from ..structures.numdiff import hessian

__all__ = ["StatsmodelsLayout", "statsmodels_re_names"]


def statsmodels_re_names(level):
    """statsmodels' names of a level's random effects: a random intercept is named
    after the grouping column."""
    return [level.name if z == "Intercept" else z for z in level.z_names]


class StatsmodelsLayout:
    """The statsmodels-layout parameter vector of a fitted state.

    Parameters
    ----------
    engine : ProfiledLikelihood
        A model whose outer level has a general (pdSymm) covariance and whose inner
        levels, if any, are random intercepts (statsmodels' variance components).
    exog_names : list of str
    theta, beta : ndarray, optional
        The engine's parameters at a fit (then ``estimate`` is the vector there).

    Attributes
    ----------
    names : list of str
    estimate : ndarray or None
    k_fe, k_re, k_re2, k_vc, k_struct : int
    """

    def __init__(self, engine, exog_names, theta=None, beta=None):
        eng = self.engine = engine
        outer, inner = eng.levels[0], eng.levels[1:]
        blocks = getattr(outer.pd, "blocks", [outer.pd])
        kinds = [b.name for b in blocks]
        re_first = kinds[0] == "pdSymm"
        if (any(k != "pdIdent" for k in kinds[1 if re_first else 0:])
                or any(lev.q != 1 for lev in inner)):
            raise NotImplementedError(
                "statsmodels' parameter layout needs a general covariance of the outer "
                "random effects, variance components and random intercepts for the inner "
                "levels; this model has "
                + ", ".join(f"{lev.pd!r} at {lev.name!r}" for lev in eng.levels))
        self._blocks = blocks
        self._first = np.cumsum([0] + [b.q for b in blocks])[:-1]
        self.k_fe = eng.p
        self.k_re = blocks[0].q if re_first else 0
        self.k_re2 = self.k_re * (self.k_re + 1) // 2
        self._vc_slots = list(self._first[1:] if re_first else self._first)
        self.k_vc = len(self._vc_slots) + len(inner)
        cs, vf = eng.corstruct, eng.varfunc
        self._structs = [s for s in (cs, vf) if s is not None and s.n_params]
        self.k_struct = sum(s.n_params for s in self._structs)
        names = list(exog_names)
        z = outer.z_names
        for i, j in zip(*np.tril_indices(self.k_re)):
            names.append(f"{z[i]} Var" if i == j else f"{z[j]} x {z[i]} Cov")
        names += [f"{z[s].rsplit('[', 1)[0]} Var" for s in self._vc_slots]
        names += [f"{lev.name} Var" for lev in inner]
        for prefix, s in (("cor", cs), ("var", vf)):
            if s is not None and s.n_params:
                names += [f"{prefix}.{n}" for n in s.apvar_names()]
        self.names = names
        self.estimate = None if theta is None else self.vector(theta, beta)

    def vc_theta_index(self, i):
        """Index, in the engine's parameters, of variance component ``i``'s log SD."""
        n_slots = len(self._vc_slots)
        if i < n_slots:
            starts = np.cumsum([0] + [b.n_params for b in self._blocks])
            return int(starts[len(self._blocks) - n_slots + i])
        sizes = np.cumsum([lev.n_params for lev in self.engine.levels])
        return int(sizes[i - n_slots])          # the inner level's one parameter

    def vector(self, theta, beta):
        """``(theta, beta)`` (the engine's parameters) as the statsmodels-layout vector."""
        re_theta, th_cor, th_var = self.engine.split(theta)
        levels = self.engine.levels
        L = self.engine.user_factor(0, levels[0].factor(re_theta[0]))
        D = L @ L.T
        parts = [np.asarray(beta, dtype=float), D[:self.k_re, :self.k_re][
            np.tril_indices(self.k_re)]]
        parts.append(np.array([D[s, s] for s in self._vc_slots]))
        parts += [np.exp(2.0 * t[:1]) for t in re_theta[1:]]
        for s, th in zip(self._structs, self._struct_thetas(th_cor, th_var)):
            parts.append(np.asarray(s.apvar_params(th), dtype=float))
        return np.concatenate(parts)

    def _struct_thetas(self, th_cor, th_var):
        cs = self.engine.corstruct
        out = []
        for s in self._structs:
            out.append(th_cor if s is cs else th_var)
        return out

    def internal(self, vec):
        """The vector as the engine's ``(theta, beta)``; raises ``FloatingPointError``
        where the covariance is not positive definite."""
        vec = np.asarray(vec, dtype=float)
        beta = vec[:self.k_fe]
        pos = self.k_fe
        D = np.zeros((self.k_re, self.k_re))
        D[np.tril_indices(self.k_re)] = vec[pos:pos + self.k_re2]
        D = D + np.tril(D, -1).T
        pos += self.k_re2
        try:
            if not self.k_re:
                re_theta = np.zeros(0)
            elif len(self._blocks) == 1:
                re_theta = self.engine.theta_from_user_cov(0, D)
            else:                  # a blocked level is fitted on the user's design itself
                re_theta = self._blocks[0].unfactor(np.linalg.cholesky(D))
        except np.linalg.LinAlgError:
            raise FloatingPointError("cov_re is not positive definite") from None
        vc = vec[pos:pos + self.k_vc]
        if np.any(vc <= 0):
            raise FloatingPointError("a variance component is not positive")
        n_slots = len(self._vc_slots)
        outer = [re_theta]
        outer += [np.array([0.5 * np.log(v)]) for v in vc[:n_slots]]
        parts = [np.concatenate(outer)]
        parts += [np.array([0.5 * np.log(v)]) for v in vc[n_slots:]]
        pos += self.k_vc
        th = {}
        for s in self._structs:
            th[id(s)] = np.asarray(s.apvar_theta(vec[pos:pos + s.n_params]), dtype=float)
            pos += s.n_params
        cs, vf = self.engine.corstruct, self.engine.varfunc
        parts.append(th.get(id(cs), np.zeros(0)))
        parts.append(th.get(id(vf), np.zeros(0)))
        return np.concatenate(parts), beta

    def loglik(self, vec, profile_fe=False):
        """The criterion at a statsmodels-layout vector: the fixed effects held, or
        (``profile_fe``) replaced by their GLS estimate at the covariance."""
        theta, beta = self.internal(vec)
        if profile_fe:
            return self.engine.loglik(theta)
        return self.engine.loglik_at_beta(theta, beta)

    def covariance(self):
        """``inv(-H)`` of the layout at the estimate, or ``None`` where ``-H`` is not
        positive definite (e.g. a variance on the boundary).

        The Hessian is taken in the engine's coordinates ``(beta, theta)`` -- where a
        random slope on a covariate far from zero is well conditioned, while the layout's
        ``cov_re`` entries are nearly singular and finite steps leave the positive
        definite cone -- and carried to the layout by the Jacobian ``J`` of
        :meth:`vector` (at the maximum the two agree: ``J inv(-H) J'``).
        """
        theta0, beta0 = self.internal(self.estimate)
        k = beta0.size
        x0 = np.concatenate([beta0, theta0])

        def criterion(x):
            return self.engine.loglik_at_beta(x[k:], x[:k])

        H = hessian(criterion, x0, rel=1e-3, richardson=True)
        try:
            c = np.linalg.cholesky(-(H + H.T) / 2)
        except np.linalg.LinAlgError:
            return None
        inv = np.linalg.solve(c.T, np.linalg.solve(c, np.eye(len(H))))
        J = np.empty((self.estimate.size, x0.size))
        for i in range(x0.size):
            h = 1e-6 * max(1.0, abs(x0[i]))
            e = np.zeros_like(x0)
            e[i] = h
            J[:, i] = (self.vector((x0 + e)[k:], (x0 + e)[:k])
                       - self.vector((x0 - e)[k:], (x0 - e)[:k])) / (2 * h)
        cov = J @ ((inv + inv.T) / 2) @ J.T
        return (cov + cov.T) / 2
