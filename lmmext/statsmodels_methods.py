"""statsmodels' ``MixedLM`` model methods for a model with nlme's structures (or nested
levels): the log-likelihood, its score and Hessian at a parameter vector, and simulation.

They work on statsmodels' parameter vector with the structure parameters appended
(:class:`~lmmext.inference.statsmodels_layout.StatsmodelsLayout`: what the results'
``params`` holds), in the covariance parameterization (not statsmodels' square roots).
A ``MixedLMParams`` cannot carry the structure parameters and is refused.
"""
from __future__ import annotations

import numpy as np
from statsmodels.regression import mixed_linear_model as _sm
from statsmodels.regression.mixed_linear_model import MixedLMParams

from .engine.likelihood import ProfiledLikelihood
from .inference.statsmodels_layout import StatsmodelsLayout
from .structures.numdiff import central_differences, hessian

__all__ = ["StructuredModelMethods", "StructuredMethods", "StructuredDistribution"]


class StructuredMethods:
    """The criterion of a model frame's structured model, as statsmodels' methods."""

    def __init__(self, frame, reml):
        self.frame = frame
        self.engine = ProfiledLikelihood(frame.y, frame.X, frame.levels, frame.varfunc,
                                         frame.corstruct, reml=reml)
        self.layout = StatsmodelsLayout(self.engine, frame.exog_names)

    def vector(self, params, member, profile_fe=False):
        """``params`` as the full layout vector (fixed effects first)."""
        n, k_fe = len(self.layout.names), self.layout.k_fe
        if isinstance(params, MixedLMParams):
            raise NotImplementedError(
                f"MixedLM.{member}: a MixedLMParams has no place for the structure "
                f"parameters; pass the full vector of {n} values "
                f"({', '.join(self.layout.names)}), e.g. the results' params")
        vec = np.asarray(params, dtype=float).ravel()
        if profile_fe and vec.size == n - k_fe:
            vec = np.r_[np.zeros(k_fe), vec]
        if vec.size != n:
            raise ValueError(f"MixedLM.{member}: params needs {n} values "
                             f"({', '.join(self.layout.names)}), got {vec.size}")
        return vec

    def loglike(self, params, profile_fe=True):
        return self.layout.loglik(self.vector(params, "loglike", profile_fe), profile_fe)

    def score(self, params, profile_fe=True):
        vec = self.vector(params, "score", profile_fe)
        k = self.layout.k_fe if profile_fe else 0

        def f(tail):
            return self.layout.loglik(np.r_[vec[:k], tail], profile_fe)
        return central_differences(f, vec[k:], 1e-6)

    def hessian(self, params):
        vec = self.vector(params, "hessian")
        return hessian(self.layout.loglik, vec, rel=1e-3, richardson=True), False


class StructuredDistribution:
    """Draws of the response under a structured model (statsmodels' ``rvs`` interface):
    ``X beta + sum_k Z_k u_k + e`` with ``u_k ~ N(0, scale D_k)`` and ``e ~ N(0, scale
    Lambda)``, ``Lambda = W^-1 C W^-1`` from the variance function and correlation
    structure at ``params``."""

    def __init__(self, methods, params, scale, exog, model_exog):
        layout = methods.layout
        theta, beta = layout.internal(methods.vector(params, "get_distribution"))
        eng, self.frame = methods.engine, methods.frame
        exog = model_exog if exog is None else exog
        self.mean = np.asarray(exog, dtype=float) @ beta
        self.scale = float(scale)
        re_theta, th_cor, th_var = eng.split(theta)
        self.levels = eng.levels
        self.factors = [lev.factor(t) for lev, t in zip(eng.levels, re_theta)]
        vf, cs = eng.varfunc, eng.corstruct
        self.sd = np.ones(eng.N) if vf is None else np.exp(-vf.log_weights(th_var))
        self.blocks = []
        if cs is not None:
            codes = np.asarray(cs.row_blocks)
            bounds = np.flatnonzero(np.diff(codes)) + 1
            for rows in np.split(np.arange(eng.N), bounds):
                if rows.size > 1:
                    C = cs.correlation_matrix(th_cor, int(codes[rows[0]]))
                    self.blocks.append((rows, np.linalg.cholesky(C)))

    def rvs(self, n=None, rng=None):
        """One simulated response vector, in the data's row order (``n`` is ignored, as
        statsmodels')."""
        rng = np.random.default_rng(rng)
        y = np.zeros(len(self.sd))
        for lev, L in zip(self.levels, self.factors):
            u = rng.normal(size=(lev.n_groups, lev.q)) @ L.T
            y += lev.row_effects(u)
        e = rng.normal(size=len(self.sd))
        for rows, chol in self.blocks:
            e[rows] = chol @ e[rows]
        y = np.sqrt(self.scale) * (y + self.sd * e)
        return self.mean + self.frame.to_caller_order(y)


class StructuredModelMethods:
    """statsmodels' ``MixedLM`` methods of :class:`lmmext.MixedLM`: statsmodels' own for a
    model without structures; under the structures, or refused, for one with them."""

    def _structured(self):
        """The structured model's methods, or ``None`` when statsmodels' own apply (no
        variance function, correlation structure or nested level)."""
        frame = getattr(self, "_frame", None)
        if frame is None or (frame.varfunc is None and frame.corstruct is None
                             and len(frame.levels) == 1):
            return None
        key = (id(frame), self.reml)
        if getattr(self, "_methods", (None,))[0] != key:
            self._methods = (key, StructuredMethods(frame, self.reml))
        return self._methods[1]

    def _beyond_statsmodels(self, member):
        """Refuse a statsmodels computation that would ignore the structures."""
        methods = self._structured()
        if methods is not None:
            raise NotImplementedError(
                f"MixedLM.{member} is statsmodels' computation, which would ignore "
                f"{methods.frame.structures_text()} of this model; use loglike, score, "
                "hessian or "
                "the fitted results (llf, cov_params(), random_effects, ...) instead")

    def loglike(self, params, profile_fe=True):
        methods = self._structured()
        if methods is None:
            return super().loglike(params, profile_fe=profile_fe)
        return methods.loglike(params, profile_fe)

    def score(self, params, profile_fe=True):
        methods = self._structured()
        if methods is None:
            return super().score(params, profile_fe=profile_fe)
        return methods.score(params, profile_fe)

    def hessian(self, params):
        methods = self._structured()
        if methods is None:
            return super().hessian(params)
        return methods.hessian(params)

    def get_distribution(self, params, scale, exog):
        methods = self._structured()
        if methods is None:
            return super().get_distribution(params, scale, exog)
        return StructuredDistribution(methods, params, scale, exog, self.exog)

    def information(self, params):
        """Not available: statsmodels' MixedLM has no Fisher information either; the
        results' ``cov_params()`` is the inverse observed information."""
        self._beyond_statsmodels("information")
        return super().information(params)

    def score_full(self, params, calc_fe):
        self._beyond_statsmodels("score_full")
        return super().score_full(params, calc_fe)

    def score_sqrt(self, params, calc_fe=True):
        self._beyond_statsmodels("score_sqrt")
        return super().score_sqrt(params, calc_fe=calc_fe)

    def get_fe_params(self, cov_re, vcomp, tol=1e-10):
        self._beyond_statsmodels("get_fe_params")
        return super().get_fe_params(cov_re, vcomp, tol)

    def get_scale(self, fe_params, cov_re, vcomp):
        self._beyond_statsmodels("get_scale")
        return super().get_scale(fe_params, cov_re, vcomp)

    def fit_regularized(self, *args, **kwargs):
        self._beyond_statsmodels("fit_regularized")
        return super().fit_regularized(*args, **kwargs)

    _STRUCTURED = ("\n\n        lmmext: with a variance function, a correlation structure or "
                   "nested levels,\n        ``params`` is the results' full vector (the "
                   "structure parameters last)\n        and the structures are honoured.\n")
    _REFUSED = ("\n\n        lmmext: raises ``NotImplementedError`` on a model with a "
                "variance function,\n        a correlation structure or nested levels.\n")
    for _name, _note in (("loglike", _STRUCTURED), ("score", _STRUCTURED),
                         ("hessian", _STRUCTURED), ("get_distribution", _STRUCTURED),
                         ("score_full", _REFUSED), ("score_sqrt", _REFUSED),
                         ("get_fe_params", _REFUSED), ("get_scale", _REFUSED),
                         ("fit_regularized", _REFUSED)):
        locals()[_name].__doc__ = (getattr(_sm.MixedLM, _name).__doc__ or "") + _note
    del _name, _note

