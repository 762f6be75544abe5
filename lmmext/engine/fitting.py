"""Fitting a model frame: the optimizer around the engine, nlme's outer loop for
variance covariates that are fitted values, and the warnings users need."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from .blas_threads import single_blas_thread
from .likelihood import ProfiledLikelihood
from .optimize import maximize

__all__ = ["FitState", "fit_frame", "initial_theta", "lower_bounds", "optimize_engine",
           "start_vector", "warn_fit"]

# log relative SD below which a random-effects SD is reported as on the boundary
_BOUNDARY_LOG_SD = np.log(1e-4)
_LOWER_LOG_SD = -30.0


@dataclass
class FitState:
    """What a fit leaves for the results: the frame, the engine, the estimates, the
    final evaluation, the BLUPs and the optimizer's record."""

    frame: object
    engine: ProfiledLikelihood
    theta: np.ndarray
    evaluation: object
    blups: list
    optim_info: object
    reml: bool
    outer_iterations: int = 0


def start_vector(start):
    """Starting variance parameters from ``start=``: ``None``, an array (the optimizer's
    unconstrained scale) or a previous fit (its estimates)."""
    if start is None:
        return None
    if hasattr(start, "_state"):
        return start._state.theta
    return np.asarray(start, dtype=float)


def initial_theta(engine, start):
    """The optimizer's start: ``engine``'s default, or ``start`` (an array, checked
    against the model's variance parameters)."""
    if start is None:
        # (the distributed engine has no rows at hand for the moments: nlme's start)
        theta0 = getattr(engine, "data_start", engine.start)()
    else:
        theta0 = np.asarray(start, dtype=float)
    if theta0.size != engine.n_params:
        raise ValueError(f"start= has {theta0.size} values; this model has "
                         f"{engine.n_params} variance parameters {engine.param_names()}")
    return theta0


def lower_bounds(engine):
    """Lower bounds of the engine's parameters: the log SDs of the random effects
    (a relative SD of e^-30 is zero for every purpose); the rest unbounded."""
    lower = np.full(engine.n_params, -np.inf)
    i = 0
    for lev in engine.levels:
        n = lev.n_params
        lower[i:i + n][lev.pd.log_sd] = _LOWER_LOG_SD
        i += n
    return lower


def optimize_engine(engine, start, max_evals=None):
    """Maximize ``engine``'s criterion from ``start`` (an :class:`OptimInfo`): its
    gradient and average information where it has them (``engine`` is a
    :class:`ProfiledLikelihood` or anything with its protocol, such as the distributed
    engine of :mod:`lmmext.cluster`)."""
    lower = lower_bounds(engine)
    x0 = np.maximum(np.asarray(start, dtype=float), lower)
    vg = engine.value_and_gradient if engine.has_gradient else None
    ai = (None if vg is None or not engine.supports_average_information
          else engine.average_information)
    # the random-effects parameters come first in theta
    faces = [lev.pd.zero_faces for lev in engine.levels]
    holdable = np.zeros(lower.size, bool)
    if faces:
        f = np.concatenate(faces)
        holdable[:f.size] = f
    return maximize(engine.loglik, x0, lower, value_and_grad=vg, max_evals=max_evals,
                    curvature=ai, holdable=holdable,
                    reference=np.maximum(engine.start(), lower))


def _blups_and_fitted(engine, ev):
    blups = engine.blups(ev) if engine.levels else []
    return blups, engine.fitted_inner(ev, blups)


def _distinct_blocks(lev, L):
    """``(names, factor)`` of each distinct block of a level's covariance: a repeated or
    multiple-of-identity block once (its first level, named by its term), so a crossed
    factor with thousands of levels is judged once."""
    pd_mat = lev.pd
    blocks = getattr(pd_mat, "blocks", [pd_mat])
    c0 = 0
    for b in blocks:
        k = b.block_q
        names = list(lev.z_names[c0:c0 + k])
        if k < b.q and b.label is not None:
            # a crossed term's columns are "factor[level]:effect": name the effect once
            names = [b.label] if k == 1 else [f"{n.split(']:', 1)[-1]} ({b.label})"
                                              for n in names]
        yield names, L[c0:c0 + k, c0:c0 + k]
        c0 += b.q


@single_blas_thread
def fit_frame(frame, reml=True, start=None, maxiter_outer=50, tol_outer=1e-6,
              max_evals=None):
    """Maximize the (RE)ML criterion of ``frame``; returns a :class:`FitState`.
    ``max_evals`` is the optimizer's evaluation budget per optimization
    (:data:`lmmext.engine.optimize.MAX_EVALS` by default)."""
    engine = ProfiledLikelihood(frame.y, frame.X, frame.levels, frame.varfunc,
                                frame.corstruct, reml=reml)
    theta0 = initial_theta(engine, start)
    vf = frame.varfunc
    outer = 0
    if vf is not None and vf.uses_fitted:
        # nlme's scheme: the covariate is the current fitted values, held fixed while
        # the variance parameters are optimized; iterate to self-consistency
        vf.set_fitted(np.ones(frame.N))
        ev = engine.evaluate(theta0, keep=True)
        _, mu = _blups_and_fitted(engine, ev)
        vf.set_fitted(mu)
        theta = theta0
        for outer in range(1, maxiter_outer + 1):
            info = optimize_engine(engine, theta, max_evals)
            change = np.max(np.abs(info.x - theta) / np.where(info.x == 0, 1, np.abs(info.x)))
            theta = info.x
            ev = engine.evaluate(theta, keep=True)
            blups, mu = _blups_and_fitted(engine, ev)
            if change <= tol_outer:
                break
            vf.set_fitted(mu)
            ev = None                       # the covariate changed: ev is stale
        else:
            warnings.warn(f"the fitted-values variance covariate did not converge in "
                          f"{maxiter_outer} outer iterations", ConvergenceWarning, stacklevel=3)
    else:
        info = optimize_engine(engine, theta0, max_evals)
        theta = info.x
        ev = None
    if ev is None:
        ev = engine.evaluate(theta, keep=True)
        blups, _ = _blups_and_fitted(engine, ev)
    state = FitState(frame, engine, theta, ev, blups, info, reml, outer)
    warn_fit(state)
    return state


# a covariate whose mean exceeds this many SDs is far from zero for its variance's sake
_FAR_FROM_ZERO = 100.0


def _warn_conditioning(engine):
    """Poor conditioning the reparameterization cannot remove: a random-effects covariate
    far from zero in a covariance class that centring would leave (pdDiag, pdIdent,
    pdCompSymm, blocks of pdBlocked); lme4's "nearly unidentifiable" warning, naming
    the covariate."""
    for lev, A in zip(engine.user_levels, engine.transforms):
        if A is not None or lev.q < 2 or lev.is_sparse:
            continue
        mom = lev.moments
        spread = mom.hi - mom.lo
        if not np.any((spread == 0) & (mom.first != 0)):
            continue                                 # no intercept: nothing to centre on
        mean, sd = mom.mean, np.sqrt(mom.m2 / mom.n)
        for name, m, s in zip(lev.z_names, mean, sd):
            if s > 0 and abs(m) > _FAR_FROM_ZERO * s:
                warnings.warn(
                    f"the random-effects covariate {name!r} of level {lev.name!r} is far "
                    f"from zero (mean {m:.4g}, SD {s:.3g}) and its {lev.pd_class} "
                    "covariance cannot be centred without changing the model: the "
                    "intercept's variance is nearly unidentifiable from the slope's. "
                    "Centre the covariate (which changes a pdDiag model) or use a general "
                    "(pdSymm) covariance", ConvergenceWarning, stacklevel=5)


def warn_fit(state):
    info = state.optim_info
    _warn_conditioning(state.engine)
    if not info.converged:
        warnings.warn(f"the optimizer did not converge: {info.message}; the estimates are "
                      "the best point found, not a maximum (optim_info has the record). "
                      "Try centring and scaling covariates, a simpler random-effects or "
                      "residual structure, or start= from this fit", ConvergenceWarning,
                      stacklevel=4)
    engine = state.engine
    re_theta, th_cor, _ = engine.split(state.theta)
    cs = engine.corstruct
    if cs is not None and th_cor.size:
        for name, bound in zip(cs.param_names(), cs.at_boundary(th_cor)):
            if bound:
                warnings.warn(f"correlation parameter {name!r} of {type(cs).__name__} is on "
                              f"the boundary of its range ({cs.coefficients(th_cor).to_dict()})",
                              ConvergenceWarning, stacklevel=4)
    # judged on the engine's centred and scaled design: a zero variance or a correlation
    # of +/-1 there is a boundary; in the user's design a far-off origin alone makes the
    # intercept-slope correlation approach +/-1
    for lev, L_level in zip(engine.levels, state.evaluation.factors):
        for names, L in _distinct_blocks(lev, L_level):
            D = L @ L.T
            sd = np.sqrt(np.diag(D))
            for name, s in zip(names, sd):
                if s <= 0 or np.log(s) < _BOUNDARY_LOG_SD:
                    warnings.warn(f"random-effects SD of {name!r} at level {lev.name!r} is on "
                                  f"the boundary (relative SD {s:.3g}); the variance estimate "
                                  "is zero for practical purposes", ConvergenceWarning,
                                  stacklevel=4)
            if len(names) > 1 and np.all(sd > 0):
                C = D / np.outer(sd, sd)
                off = np.abs(C[np.triu_indices(len(names), 1)])
                if np.any(off > 1 - 1e-6):
                    warnings.warn(f"a random-effects correlation at level {lev.name!r} is at "
                                  "+/-1 (boundary)", ConvergenceWarning, stacklevel=4)
