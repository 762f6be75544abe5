"""Profile likelihood of one variance parameter: the criterion maximized over all the
other parameters (the structures' included) with that one held, as statsmodels'
``profile_re`` computes it by refitting."""
from __future__ import annotations

import numpy as np

from ..engine.fitting import lower_bounds
from ..engine.optimize import maximize

__all__ = ["profile_parameter"]


def profile_parameter(engine, theta, j, values):
    """The maximized criterion with ``theta[j]`` held at each of ``values``.

    Parameters
    ----------
    engine : ProfiledLikelihood
    theta : ndarray
        Starting parameters (the fit's); each refit starts at the previous one.
    j : int
        Index of the held parameter.
    values : sequence of float
        Values of ``theta[j]``.

    Returns
    -------
    sigma2, loglik : ndarray
        The residual variance and the criterion at each refit.
    """
    theta = np.array(theta, dtype=float)
    free = np.arange(theta.size) != j
    lower = lower_bounds(engine)[free]

    def full(t_free, t_j):
        out = np.empty(theta.size)
        out[free], out[j] = t_free, t_j
        return out

    def held(t_j):
        """The criterion (and its gradient) over the free parameters at ``t_j``."""
        def value(t):
            return engine.loglik(full(t, t_j))

        def value_and_grad(t):
            ll, g = engine.value_and_gradient(full(t, t_j))
            return ll, g[free]
        return value, (value_and_grad if engine.has_gradient else None)

    sigma2, loglik = [], []
    x = np.maximum(theta[free], lower)
    for t_j in values:
        if x.size:
            value, vg = held(t_j)
            x = maximize(value, x, lower, value_and_grad=vg).x
        ev = engine.evaluate(full(x, t_j), keep=True)
        sigma2.append(ev.sigma2)
        loglik.append(ev.loglik)
    return np.array(sigma2), np.array(loglik)
