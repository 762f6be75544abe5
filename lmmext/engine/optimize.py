"""Maximization of the profiled log-likelihood over the variance parameters.

With an analytic gradient and the average-information matrix, second-order steps first
(:mod:`.second_order`: ASReml's AI-REML as a damped Newton method with boundary
handling); otherwise, or if they do not converge, L-BFGS-B on the unconstrained
parameters (central-difference gradients where no analytic one exists), a few Newton
steps with a finite-difference Hessian to polish the optimum when the parameter vector
is small, derivative-free fallbacks when the first method fails, and a last search for a
maximum on a kink (criteria that are only piecewise smooth, such as corLin's in its
range).  The record of what happened is returned as :class:`OptimInfo`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..structures.numdiff import central_differences, hessian, step_sizes
from .second_order import ai_newton

__all__ = ["OptimInfo", "maximize"]

_BAD = 1e100


@dataclass
class OptimInfo:
    """The optimizer's record, stored on results as ``optim_info``."""

    x: np.ndarray
    loglik: float
    converged: bool
    message: str
    n_evals: int
    grad_norm: float
    seconds: float
    methods: list = field(default_factory=list)
    #: average-information passes of the second-order steps (each about one more
    #: evaluation's work), beside the ``n_evals`` value-and-gradient evaluations
    n_ai: int = 0


_INFEASIBLE = (FloatingPointError, np.linalg.LinAlgError, ValueError, OverflowError)

# evaluations after which the optimizer stops and reports no convergence
MAX_EVALS = 10000


class _EvaluationLimit(Exception):
    """Raised by the counted criterion when the evaluation budget is spent."""


class _Counted:
    """``-loglik`` (and its gradient) for a minimizer: counts evaluations, remembers the
    best point, and turns infeasible parameters into a huge value."""

    def __init__(self, fun, value_and_grad=None, max_evals=None):
        self.fun = fun
        self.value_and_grad = value_and_grad
        self.max_evals = MAX_EVALS if max_evals is None else int(max_evals)
        self.n = 0
        self.n_grad = 0
        self._memo = {}
        self.best_x = None
        self.best_f = np.inf

    def __call__(self, x):
        try:
            return self.checked(x)
        except _INFEASIBLE:
            return _BAD

    def checked(self, x):
        """-loglik(x), letting the model's errors through."""
        if self.value_and_grad is not None:
            try:
                return self.fg(x, strict=True)[0]
            except _INFEASIBLE:
                pass            # the plain criterion raises with the model's own message
        self._count()
        return self._record(x, -float(self.fun(x)))

    def _count(self):
        if self.n >= self.max_evals:
            raise _EvaluationLimit
        self.n += 1

    def _record(self, x, f):
        if not np.isfinite(f):
            return _BAD
        if f < self.best_f:
            self.best_f, self.best_x = f, np.array(x, dtype=float)
        return f

    def fg(self, x, strict=False):
        """``(-loglik, -gradient)``: analytic when available, else central differences.
        The last few points are remembered (line searches and the polish revisit them).
        ``strict`` lets the model's errors through instead of a huge value."""
        x = np.array(x, dtype=float)
        key = x.tobytes()
        if key in self._memo:
            return self._memo[key]
        if self.value_and_grad is None:
            out = self(x), central_differences(self, x)
        else:
            self._count()
            self.n_grad += 1
            try:
                ll, g = self.value_and_grad(x)
                f = self._record(x, -float(ll))
                ok = f < _BAD and np.all(np.isfinite(g))
            except _INFEASIBLE:
                if strict:
                    raise
                ok = False
            out = (f, -np.asarray(g, dtype=float)) if ok else (_BAD, np.zeros_like(x))
        if len(self._memo) >= 8:
            self._memo.pop(next(iter(self._memo)))
        self._memo[key] = out
        return out

    def grad(self, x):
        return self.fg(x)[1]

    def value(self, x):
        """``-loglik`` by the route that also leaves the gradient at hand."""
        return self.fg(x)[0] if self.value_and_grad is not None else self(x)

    def hessian(self, x):
        """Hessian of ``-loglik``: forward differences of the analytic gradient, or
        central differences of the function values."""
        if self.value_and_grad is None:
            return hessian(self, x)
        x = np.asarray(x, dtype=float)
        g0 = self.grad(x)
        h = step_sizes(x, 1e-5)
        H = np.empty((x.size, x.size))
        for i in range(x.size):
            e = np.zeros_like(x)
            e[i] = h[i]
            H[i] = (self.grad(x + e) - g0) / h[i]
        return (H + H.T) / 2.0


def maximize(loglik, x0, lower=None, newton_max_params=12, value_and_grad=None,
             max_evals=None, curvature=None, holdable=None, reference=None):
    """Maximize ``loglik(x)`` from ``x0``.

    Parameters
    ----------
    loglik : callable
        Returns the log-likelihood; may raise FloatingPointError/LinAlgError where the
        parameters are infeasible.
    x0 : ndarray
    lower : ndarray, optional
        Lower bounds (``-inf`` for none), used to keep log-scale parameters finite.
    value_and_grad : callable, optional
        Returns ``(loglik, gradient)``; without it gradients are central differences.
    max_evals : int, optional
        Evaluation budget (default :data:`MAX_EVALS`); when it is spent the best point so
        far is returned with ``converged=False``.
    curvature : callable, optional
        ``x -> AI``, the average-information matrix of the log-likelihood; with the
        analytic gradient the optimizer first takes its second-order steps
        (:func:`lmmext.engine.second_order.ai_newton`) and falls back to L-BFGS-B and the
        Newton polish only if they do not converge.
    holdable : ndarray of bool, optional
        The bounded coordinates the second-order steps may hold at their bound (a
        variance at zero); by default every bounded one.
    reference : ndarray, optional
        The parameters' scale for the second-order steps' boundary probes (the model's
        default start; by default ``x0``).

    ``converged`` is True only when the (projected) gradient at the returned point is at
    tolerance, or the point is a maximum on a kink (checked by one-sided differences):
    whatever the stages' own messages (an abnormal line search, say), the last word is
    the gradient at the point returned.
    """
    t0 = time.perf_counter()
    f = _Counted(loglik, value_and_grad, max_evals)
    methods = []
    try:
        return _maximize(f, loglik, x0, lower, newton_max_params, value_and_grad, methods,
                         t0, curvature, holdable, reference)
    except _EvaluationLimit:
        x = f.best_x if f.best_x is not None else np.asarray(x0, dtype=float)
        return OptimInfo(x, float(loglik(x)), False,
                         f"evaluation limit ({f.max_evals}) reached before the gradient "
                         "vanished", f.n, float("nan"), time.perf_counter() - t0, methods)


def _maximize(f, loglik, x0, lower, newton_max_params, value_and_grad, methods, t0,
              curvature=None, holdable=None, reference=None):
    x0 = np.asarray(x0, dtype=float)
    if x0.size == 0:
        ll = loglik(x0)
        return OptimInfo(x0, ll, True, "no free variance parameters", 1, 0.0,
                         time.perf_counter() - t0, ["none"])
    try:
        f0 = f.checked(x0)
    except (FloatingPointError, np.linalg.LinAlgError, ValueError, OverflowError) as exc:
        raise ValueError(f"the log-likelihood cannot be evaluated at the starting values: "
                         f"{exc}") from None
    if f0 >= _BAD:
        raise ValueError("the log-likelihood is not finite at the starting values")
    bounds = None
    if lower is not None:
        bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]

    # the gradient's rounding noise grows with the size of the criterion
    gtol = max(1e-6, 1e-8 * abs(f0))
    gfail = max(1e-3, 1e-7 * abs(f0))      # a gradient this large is not converged

    def run_lbfgs(start, hold=(), ftol=1e-12):
        bnds = bounds
        if len(hold):
            bnds = list(bounds) if bounds is not None else [(None, None)] * start.size
            for i in hold:
                bnds[i] = (start[i], start[i])
        res = optimize.minimize(f.fg, start, jac=True, method="L-BFGS-B",
                                bounds=bnds,
                                options={"maxiter": 2000, "ftol": ftol, "gtol": gtol,
                                         "maxcor": 20})
        methods.append("L-BFGS-B")
        return res

    def polish(x):
        # a stationary point that is not a maximum (e.g. AR(1) with even lags only,
        # where phi = 0 is a saddle): leave along the direction of negative curvature
        escaped, H = _escape_saddle(f, x, lower)
        if escaped is not None:
            run_lbfgs(escaped)
            methods.append("saddle escape")
            x, H = f.best_x, None
        methods.append("Newton")
        return _newton_polish(f, x, lower, H, tol=gfail)

    newton = x0.size <= newton_max_params
    # with an analytic gradient the Newton polish takes over once L-BFGS's steps are
    # down to rounding-level changes of the criterion (its line searches stall there)
    early = newton and value_and_grad is not None
    n_ai, second_order = 0, False
    x0_start = x0
    if curvature is not None and value_and_grad is not None:
        x, n_ai, ok = ai_newton(f, curvature, x0, lower, gtol, holdable, reference)
        methods.append("AI-Newton")
        x = x0 = f.best_x
        second_order = ok and _proj_norm(f.grad(x), x, lower) < gfail
    if second_order:
        message = "average-information steps converged"
        newton = early = False
        # a coordinate still exactly at its start has had a zero gradient throughout:
        # a stationary point by symmetry (AR(1) with even lags only, phi = 0), possibly
        # a saddle that the average information (positive by construction) cannot see
        if np.any((x == np.asarray(x0_start)) & ~_at_lower(x, lower)):
            x = polish(x)
    elif early and _proj_norm(f.grad(x0), x0, lower) < gfail:
        # a start at a maximum already (e.g. a previous fit): the polish confirms it
        message = "started at a stationary point"
        x = polish(x0)
    else:
        message = run_lbfgs(x0, ftol=1e-10 if early else 1e-12).message
        x = polish(f.best_x) if early else f.best_x
    g = f.grad(x)
    gnorm = _proj_norm(g, x, lower)
    if gnorm > gfail:
        # a second start from the best point, then a derivative-free method
        early = False
        run_lbfgs(x)
        x = f.best_x
        g = f.grad(x)
        gnorm = _proj_norm(g, x, lower)
        if gnorm > gfail:
            optimize.minimize(f, x, method="Nelder-Mead",
                              options={"maxiter": 4000 * x.size, "xatol": 1e-10,
                                       "fatol": 1e-12, "adaptive": True})
            methods.append("Nelder-Mead")
            x = f.best_x
            g = f.grad(x)
            gnorm = _proj_norm(g, x, lower)
    if newton and not early:
        x = polish(x)
    # kinks come only from criteria that are not differentiable, which are optimized
    # with finite differences; an analytic gradient means a smooth criterion
    for _ in range(5 if value_and_grad is None else 0):
        x, kinked = _kink_polish(f, x, lower, tol=gfail)
        if not kinked:
            break
        methods.append("kink search")
        if x.size == len(kinked):
            break
        # the other parameters' optimum moves with the kinked one: re-optimize them
        # with the kinked parameters held on their kinks
        run_lbfgs(x, hold=kinked)
        x = f.best_x
    g = f.grad(x)
    gnorm = _proj_norm(g, x, lower)
    converged = bool(gnorm < gfail)
    msg = str(message)
    if not converged and _one_sided_norm(f, x, lower) < gfail:
        # a maximum on a kink (central differences straddle it and never vanish)
        converged, msg = True, "maximum at a kink of the criterion"
    if not converged:
        msg = f"gradient norm {gnorm:.3g} after {f.n} evaluations"
    return OptimInfo(x, -f(x), converged, msg, f.n, float(gnorm),
                     time.perf_counter() - t0, methods, n_ai)


def _at_lower(x, lower):
    if lower is None:
        return np.zeros(x.size, dtype=bool)
    return x <= np.asarray(lower) + 1e-8


def _proj_norm(g, x, lower):
    # at a lower bound a positive gradient of -loglik is not a failure to converge
    g = np.where(_at_lower(x, lower) & (g > 0), 0.0, g)
    return float(np.max(np.abs(g))) if g.size else 0.0


def _escape_saddle(f, x, lower):
    """(a better start along the direction of negative curvature or None, the Hessian
    of the free parameters at x for reuse)."""
    free = ~_at_lower(x, lower)
    if not free.any():
        return None, None
    H = f.hessian(x)[np.ix_(free, free)]
    vals, vecs = np.linalg.eigh((H + H.T) / 2)
    if vals[0] >= -1e-6 * max(1.0, np.abs(vals).max()):
        return None, H
    f0 = f.value(x)
    best, best_f = None, f0
    for t in (0.1, 0.3, 1.0, 3.0):
        for sign in (1.0, -1.0):
            xn = x.copy()
            xn[free] += sign * t * vecs[:, 0]
            fn = f.value(xn)
            if fn < best_f - 1e-10:
                best, best_f = xn, fn
    return best, H


def _newton_step(H, g):
    """``H^-1 g`` by Cholesky, or None where ``H`` is not positive definite."""
    try:
        c = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.solve(c.T, np.linalg.solve(c, g))


def _newton_polish(f, x, lower, H=None, steps=4, tol=0.0):
    """Newton steps from x; ``H`` is the free parameters' Hessian at x if known.  At a
    gradient below ``tol`` the steps stop once their gain is down to rounding."""
    moved = False
    for _ in range(steps):
        free = ~_at_lower(x, lower)
        if not free.any():
            break
        g = f.grad(x)[free]
        if np.max(np.abs(g)) < 1e-9:
            break
        stale = H is not None and moved
        if H is None or H.shape[0] != free.sum():
            H = f.hessian(x)[np.ix_(free, free)]
        step = _newton_step(H, g)
        if step is None or np.max(np.abs(step)) < 1e-8:
            break                         # not convex here, or already at the optimum
        if (np.max(np.abs(g)) < tol
                and 0.5 * float(g @ step) < 1e-12 * max(1.0, abs(f.value(x)))):
            break                         # converged; the gain would be rounding noise
        if stale:
            # the previous Hessian says the step is not negligible: refresh it
            H = f.hessian(x)[np.ix_(free, free)]
            step = _newton_step(H, g)
            if step is None:
                break
        f0 = f.value(x)
        improved = False
        for scale in (1.0, 0.5, 0.25):
            xn = x.copy()
            xn[free] -= scale * step
            if lower is not None:
                xn = np.maximum(xn, lower)
            if f.value(xn) <= f0:
                x, improved = xn, True
                break
        if not improved:
            break
        moved = True                      # H is from the previous point now
    return f.best_x if f.best_x is not None else x


# relative step of the fine-step derivatives that detect kinks: far below the
# optimizer's steps, far above rounding (noise ~ eps |loglik| / step)
_FINE_REL = 1e-7


def _fine_slope(f, x, i, t):
    """Central derivative of ``f`` along coordinate ``i`` at ``x_i = t``, fine step."""
    d = _FINE_REL * max(1.0, abs(t))
    xp, xm = x.copy(), x.copy()
    xp[i], xm[i] = t + d, t - d
    return (f(xp) - f(xm)) / (2.0 * d)


def _kink_polish(f, x, lower, rel=1e-4, tol=1e-3):
    """Move onto a kink maximum that the optimizer stopped short of.

    Criteria that are only piecewise smooth in a parameter (corLin: kinks where the
    range equals a pairwise distance) fool the central differences of the optimizer:
    within one step of a maximum on a kink they straddle it and report a stationary
    point.  A fine-step derivative reveals the slope; the sign change of that slope
    is bracketed within a few optimizer steps and the coordinate minimized there by
    golden-section search (values only: exact on a kink, where Brent's parabolic steps
    stall at ~sqrt(eps) relative).  Returns ``(x, indices of the coordinates moved)``.
    """
    x = np.array(x, dtype=float)
    moved = []
    for i in np.flatnonzero(~_at_lower(x, lower)):
        s0 = _fine_slope(f, x, i, x[i])
        if abs(s0) < tol:
            continue
        h = step_sizes(x, rel)[i]
        a, b = x[i], None
        for k in (1, 2, 4, 8):
            t = x[i] - np.sign(s0) * k * h
            if lower is not None and t < lower[i]:
                break
            if np.sign(_fine_slope(f, x, i, t)) != np.sign(s0):
                b = t
                break
            a = t
        if b is None:
            continue

        def along(t, i=i):
            xt = x.copy()
            xt[i] = t
            return f(xt)

        t, ft = _golden_section(along, min(a, b), max(a, b), 1e-12 * max(1.0, abs(x[i])))
        if ft < f(x):
            x[i] = t
            moved.append(int(i))
    return x, moved


def _one_sided_norm(f, x, lower):
    """Largest one-sided slope that still decreases ``f`` along a coordinate (0 at
    a minimum, kinked or smooth)."""
    f0 = f(x)
    worst = 0.0
    for i in np.flatnonzero(~_at_lower(x, lower)):
        d = _FINE_REL * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = d
        fwd, bwd = (f(x + e) - f0) / d, (f0 - f(x - e)) / d
        worst = max(worst, -fwd, bwd)
    return worst


def _golden_section(fun, a, b, xtol, max_iter=100):
    """Minimize a unimodal ``fun`` on ``[a, b]``; returns ``(t, fun(t))``."""
    r = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = fun(c), fun(d)
    for _ in range(max_iter):
        if b - a <= xtol:
            break
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = fun(c)
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = fun(d)
    return (c, fc) if fc <= fd else (d, fd)
