"""Second-order steps with the average-information matrix (ASReml's AI-REML, as a
damped Newton method on the profiled criterion).

Each iteration takes one gradient evaluation and, unless the quadratic model predicted
the last gain well, one average-information pass (:mod:`.average_information`).  The
steps are Levenberg-Marquardt steps in a trust region (a move of at most ``radius`` on
the log scale, doubled while the model predicts well), backtracked along the step when
the criterion does not improve.  The average information differs from the Hessian by
terms that do not vanish at the optimum, so a structured secant (BFGS) correction learns
the difference from the steps taken.  From the starting values (the residuals' moments,
or nlme's: :mod:`.moment_start`) a fit typically takes 4-15 evaluations.

Boundaries: random-effects standard deviations are optimized on the log scale, where a
variance that belongs at zero is approached by ever smaller steps (the crawl that
costs quasi-Newton methods dozens of evaluations).  The steps of variances heading down
are therefore taken on the variance scale (``v = exp(2 x)``, the AI matrix carried
along), where the Newton step crosses zero in one move; so is a variance whose
optimum a step has bracketed (its gradient changed sign), whose steps would otherwise
alternate between the scales and overshoot on both sides in turn.  A variance whose
step crosses zero is divided by a hundred until it is small (a hundredth of its
starting SD), then held at its lower bound (zero for every purpose) while the others
converge.  The boundary is then confirmed by the score: at the point where the held
coordinates sit at small positive values, their gradient must point to zero and a joint
step with every coordinate free must send each of them back through zero; those that do
not are released and the iterations continue.  Which coordinates may be held is the
covariance class's choice (``PdMat.zero_faces``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["ai_newton"]

# trust radius (largest move of a log-scale coordinate in one step): the first and the
# largest
_RADIUS0, _RADIUS_MAX = 1.0, 8.0
# releases of held coordinates after which the boundary is accepted
_MAX_PROBES = 3
# a Newton step that would move no parameter (log SDs: relatively) by this much ends
# the iterations: the estimates are then fixed to about seven digits and the criterion
# far below 1e-6 (quadratic in the step).  1e-6 left a variance 1e-6 (relatively) off
# its optimum, too far for the six digits PROC MIXED prints of a Satterthwaite limit
# (tests/test_inference.py, the sires); 1e-8 costs one more evaluation in a third of
# the benchmark fits, for changes below 1e-7
_NEGLIGIBLE_STEP = 1e-7
# a held SD is probed this far (on the log scale) below its reference (start) value
_PROBE = np.log(1e-2)


def _solve(B, g):
    """``B^-1 g`` for a positive semi-definite ``B`` (tiny ridge where singular)."""
    d = np.sqrt(np.clip(np.diag(B), 1e-300, None))
    Bs = B / np.outer(d, d)
    for ridge in (0.0, 1e-10, 1e-6, 1e-3):
        try:
            c = np.linalg.cholesky(Bs + ridge * np.eye(len(d)))
        except np.linalg.LinAlgError:
            continue
        return np.linalg.solve(c.T, np.linalg.solve(c, g / d)) / d
    return None


def _u_scale(x, bounded):
    """``(u, dx/du)``: the step coordinates (variances for the bounded log SDs)."""
    v = np.exp(2.0 * np.where(bounded, x, 0.0))
    return np.where(bounded, v, x), np.where(bounded, 1.0 / (2.0 * v), 1.0)


def _step(x, g, B, C, alpha, scaled, held, small, radius=_RADIUS_MAX):
    """A Newton step of length ``alpha`` for the free coordinates, the ``scaled`` ones
    on the variance scale, cut to move no coordinate (on the log scale for variances
    that grow) by more than ``radius``.  Returns ``(x_new, moved, model)``: ``moved``
    the coordinates not moved by the Newton step (held at zero or shrunk), ``model`` the
    step's ``(predicted gain, directional derivative, whether it was cut)`` (``None``
    when some were moved).  A variance whose step crosses zero is held at its bound
    (``-inf`` in ``x_new``, for the caller to put on the bound) once it is ``small``
    already (below its probe point); before that it is divided by a hundred (by
    ``100 ** alpha``), so that a poor start cannot send a variance to zero in one step."""
    v, dx_du = _u_scale(x, scaled)
    active = ~held
    newly, shrunk = [], []
    model = None
    while True:
        idx = np.flatnonzero(active)
        xn = x.copy()
        if not idx.size:
            break
        J = dx_du[idx]
        Bu = B[np.ix_(idx, idx)] * np.outer(J, J) + C[np.ix_(idx, idx)]
        gu = g[idx] * J
        b = scaled[idx]

        vb = np.where(b, v[idx], 1.0)

        def size(du):
            # the largest move, on the log scale for variances that grow
            return np.max(np.where(b, 0.5 * np.log1p(np.maximum(du, 0.0) / vb),
                                   np.abs(du)), initial=0.0)

        du = _solve(Bu, -gu)
        if du is None:
            return None, [], None
        cut = size(du) > radius
        if cut:
            du = _trust_region_step(Bu, gu, size, radius)
        du = du * alpha
        crossing = b & (v[idx] + du <= 0.0)
        if crossing.any():
            active[idx[crossing]] = False
            cross = idx[crossing]
            newly += list(cross[small[cross]])
            shrunk += list(cross[~small[cross]])
            continue
        xn[idx[b]] = 0.5 * np.log(v[idx[b]] + du[b])
        xn[idx[~b]] += du[~b]
        slope = float(gu @ du)
        model = (-(slope + 0.5 * float(du @ Bu @ du)), slope, cut)
        break
    xn[newly] = -np.inf
    # (backtracking shrinks less: the hundredth is a step, not a point to return to)
    xn[shrunk] = x[shrunk] + alpha * 0.5 * np.log(0.01)
    moved = newly + shrunk
    return xn, moved, (None if moved else model)


def _move(x, xn):
    """The largest move of a coordinate (held ones, at ``-inf``, excluded)."""
    d = np.abs(xn - x)
    return float(np.max(d[np.isfinite(d)], initial=0.0))


def _trust_region_step(B, g, size, radius):
    """Levenberg-Marquardt's step ``-(B + mu I)^-1 g`` with ``mu`` found by bisection
    (on the log scale) so that ``size(step)`` is the trust ``radius``: a poorly
    determined direction of the average information (a flat one, e.g. a variance
    function's constant near zero) is curbed without stalling the others, as cutting
    the whole Newton step would."""
    scale = max(float(np.max(np.abs(np.diag(B)))), 1e-300)
    lo, hi = -12.0, 12.0                       # log10(mu / scale)
    best = None
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        du = _solve(B + (scale * 10.0 ** mid) * np.eye(len(g)), -g)
        if du is None or size(du) > radius:
            lo = mid
        else:
            hi, best = mid, du
        if hi - lo < 0.05:
            break
    if best is None:
        best = -g / (scale * 1e12)
    return best


def _rescaled(C, x, old, new):
    """The correction ``C`` carried from the step coordinates ``old`` to ``new`` (a
    coordinate switching between log SD and variance scales by ``dv/dx = 2 v``)."""
    v = np.exp(2.0 * np.where(old | new, x, 0.0))
    f = np.where(old & ~new, 2.0 * v, np.where(new & ~old, 1.0 / (2.0 * v), 1.0))
    return C * np.outer(f, f)


def ai_newton(f, curvature, x0, lower, gtol, holdable=None, reference=None, max_iter=40):
    """Maximize with average-information steps.

    Parameters
    ----------
    f : the optimizer's counted criterion (``f.fg(x)`` gives ``(-loglik, -gradient)``)
    curvature : callable, ``x -> AI`` (the information of the log-likelihood)
    x0 : start
    lower : lower bounds (finite for the log SDs, which are stepped on the variance
        scale and held at the bound when the step crosses zero)
    gtol : gradient tolerance of the free coordinates
    holdable : the bounded coordinates that may be held at their bound (default: all);
        the other bounded ones are stepped on the log scale and clipped at the bound
    reference : the scale of the coordinates (nlme's default start; default ``x0``):
        a variance counts as small, and is probed, a hundredth of its SD below it

    Returns
    -------
    x : the best point
    n_ai : number of average-information passes
    converged : whether the free coordinates' gradient reached ``gtol`` (held ones
        confirmed by their probe)
    """
    lower = np.full(x0.size, -np.inf) if lower is None else np.asarray(lower, dtype=float)
    bounded = np.isfinite(lower)
    if holdable is not None:
        bounded &= np.asarray(holdable, dtype=bool)
    x = np.maximum(np.asarray(x0, dtype=float), lower)
    held = bounded & (x <= lower + 1e-8)
    ref = x if reference is None else np.asarray(reference, dtype=float)
    floor = np.maximum(ref + _PROBE, lower + 1.0)     # where a variance counts as small
    F, g = f.fg(x)
    n_ai = 0
    alpha = 1.0
    radius = _RADIUS0
    probes = 0
    B = None
    fresh = True
    C = np.zeros((x.size, x.size))     # secant correction of the AI matrix
    C_scaled = np.zeros(x.size, dtype=bool)     # the step coordinates C refers to
    secant = None
    bracketed = np.zeros(x.size, dtype=bool)

    last_ai = [None, None]

    def counted(point):
        # a failed step returns to the same point: its information is known already
        nonlocal n_ai
        key = np.asarray(point, dtype=float).tobytes()
        if last_ai[0] != key:
            n_ai += 1
            last_ai[:] = key, curvature(point)
        return last_ai[1]

    def restart(point):
        nonlocal x, held, F, g, B, C, secant, alpha
        x, held = point
        F, g = f.fg(x)
        B, C, secant, alpha = None, np.zeros_like(C), None, 1.0

    negligible = False
    for _ in range(max_iter):
        free = ~held
        # a hundredth of the first-order methods' tolerance: near the optimum a step
        # costs one evaluation and gains the last digits of the estimates
        if negligible or not free.any() or np.max(np.abs(g[free])) < 1e-2 * gtol:
            negligible = False
            released = _probe_held(f, counted, x, floor, held, bounded)
            if released is None or probes >= _MAX_PROBES:
                return x, n_ai, True
            probes += 1
            restart(released)
            continue
        if B is None:
            B = counted(x)
            fresh = True
        if secant is not None:
            J = _u_scale(x, C_scaled)[1]
            C = _corrected(B * np.outer(J, J), C, *secant, ~held)
            secant = None
        # variances heading down are stepped on the variance scale (where zero is a
        # step away), the others on the log scale (a variance of few groups grows
        # slowly on its own scale, its likelihood being far from quadratic there)
        scaled = bounded & ((g > 0) | (x <= floor) | bracketed)
        C = _rescaled(C, x, C_scaled, scaled)
        C_scaled = scaled
        xn, moved, model = _step(x, g, B, C, alpha, scaled, held, x <= floor, radius)
        if C.any():
            plain = _step(x, g, B, np.zeros_like(C), alpha, scaled, held, x <= floor, radius)
            if xn is None or (plain[0] is not None
                              and _move(x, xn) > 1.5 * _move(x, plain[0]) + 0.05):
                # the correction learned elsewhere does not fit this curvature (it
                # would send the step far beyond the plain information's): drop it
                C = np.zeros_like(C)
                xn, moved, model = plain
        if xn is None:
            break
        if (model is not None and alpha == 1.0
                and np.all(np.abs(np.where(held, 0.0, xn - x)) < _NEGLIGIBLE_STEP)):
            # the Newton step would move no estimate in the digits that are reported
            negligible = True
            continue
        newly = bounded & ~held & (xn <= lower)
        xn = np.maximum(np.where(newly, lower, xn), lower)
        Fn, gn = f.fg(xn)
        if Fn <= F + 1e-13 * max(1.0, abs(F)):
            gain = F - Fn
            if newly.any():
                C = np.zeros_like(C)
            elif not moved and gain > 1e-12 * max(1.0, abs(F)):
                # (a step whose gain is near rounding carries gradient noise, not curvature)
                (u0, J0), (u1, J1) = _u_scale(x, scaled), _u_scale(xn, scaled)
                secant = (np.where(held, 0.0, u1 - u0),
                          np.where(held, 0.0, gn * J1 - g * J0))
            # a variance whose gradient changed sign over a Newton step has its optimum
            # bracketed: it keeps the variance scale (alternating scales with the sign,
            # the steps would overshoot on both sides in turn)
            if not moved:
                bracketed |= bounded & (np.sign(gn) * np.sign(g) < 0)
            x, F, g = xn, Fn, gn
            held = held | newly
            # where the quadratic model predicted the gain well, the next step uses the
            # same average information (with the secant correction): one pass saved
            good = bool(model) and 0.75 <= gain / model[0] <= 1.33
            if not (good and alpha == 1.0 and 0.8 <= gain / model[0] <= 1.25):
                B = None
            if good and model[2]:
                radius = min(2.0 * radius, _RADIUS_MAX)    # a cut step the model predicted
            alpha = 1.0
            if gain < 1e-12 * max(1.0, abs(F)) and not newly.any():
                # no measurable gain left: at the optimum to rounding
                released = _probe_held(f, counted, x, floor, held, bounded)
                if released is None or probes >= _MAX_PROBES:
                    return x, n_ai, bool(np.max(np.abs(g[~held]), initial=0.0) < gtol * 1e3)
                probes += 1
                restart(released)
        elif not fresh or C.any():
            # a step from reused or corrected curvature failed: the plain average
            # information at this point first
            B, C, secant, alpha = None, np.zeros_like(C), None, 1.0
        else:
            # backtrack along the step, to the minimum of the quadratic through the
            # slope and the value found (within a tenth and a half of the step)
            t = 0.5
            if model is not None:
                curv = Fn - F - model[1]
                if curv > 0:
                    t = min(0.5, max(0.1, -model[1] / (2.0 * curv)))
            alpha *= t
            if alpha < 1e-8:
                break
    return x, n_ai, False


def _corrected(AI, C, s, y, free):
    """The structured secant update of the correction ``C`` (on the step coordinates;
    Dennis, Gay and Welsch's idea for least squares: the exact part of the curvature is
    recomputed, only the rest is learned), in the BFGS form: ``AI + C_new`` maps the
    last step ``s`` onto the change ``y`` of the gradient and stays positive definite.
    The average information differs from the Hessian by terms that do not vanish at the
    optimum (near a boundary they make plain AI steps overshoot, one coordinate
    alternating in sign); the correction restores fast convergence.  Kept unchanged
    when the pair carries no curvature information (``s'y <= 0``)."""
    sy = float(s @ y)
    if not sy > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
        return C
    Bs = (AI + C) @ s
    sBs = float(s @ Bs)
    if not sBs > 0:
        return C
    return C - np.outer(Bs, Bs) / sBs + np.outer(y, y) / sy


def _probe_held(f, curvature, x, floor, held, bounded):
    """Confirm the held coordinates: with them at their probe values (small positive
    variances), each must want to go back: its gradient must point to zero and a joint
    average-information step (every coordinate free) must send it back through zero.
    Returns ``None`` when every held coordinate does (a maximum on the boundary), else
    ``(probe point, held mask)`` to continue from, with the others released (a face of
    the boundary may be left through a valley, the probe point being worse than the
    boundary point: e.g. a random intercept held at zero while the optimum has it small
    and the slope's conditional variance near zero instead).  An optimum below the
    probe point is not resolved: the log-SD gradient, ``2 v dl/dv``, vanishes there,
    and the criterion is within ~1e-6 of its value at zero."""
    if not held.any():
        return None
    xp = np.where(held, floor, x)
    _, gp = f.fg(xp)
    xn, _, _ = _step(xp, gp, curvature(xp), np.zeros((x.size, x.size)), 1.0,
                     bounded & ((gp > 0) | held), np.zeros_like(held), held)
    back = held & (gp > 0)
    if xn is not None:
        back &= np.isneginf(xn)
    if back.sum() == held.sum():
        return None
    return xp, back
