"""Finite-difference derivatives.

The structures use them for the Jacobians of their cheap parameter maps where no
analytic form is written; the optimizer and ``intervals`` use them for Hessians of the
profiled criterion.  They live in the bottom layer so that every layer can import them.
"""
from __future__ import annotations

import numpy as np

__all__ = ["central_differences", "hessian", "step_sizes"]


def step_sizes(x, rel):
    """Difference steps ``rel * max(1, |x|)``: relative for large parameters, absolute
    near 0."""
    return rel * np.maximum(1.0, np.abs(x))


def central_differences(fun, x, rel=1e-4):
    """Central-difference derivatives of ``fun`` (scalar- or array-valued) at ``x``,
    stacked along a new first axis (one entry per element of ``x``)."""
    x = np.asarray(x, dtype=float)
    h = step_sizes(x, rel)
    out = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h[i]
        out.append((np.asarray(fun(x + e)) - np.asarray(fun(x - e))) / (2.0 * h[i]))
    return np.array(out, dtype=float)


def hessian(f, x, rel=1e-3, richardson=False):
    """Central-difference Hessian with steps ``rel * max(1, |x|)``; with
    ``richardson=True`` the steps ``h`` and ``h/2`` are combined to cancel the
    ``O(h^2)`` error (needed for ill-conditioned criteria, e.g. a power and sigma)."""
    if richardson:
        return (4.0 * hessian(f, x, rel / 2) - hessian(f, x, rel)) / 3.0
    k = x.size
    h = step_sizes(x, rel)
    H = np.empty((k, k))
    f0 = f(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                 + f(x - ei - ej)) / (4 * h[i] * h[j])
    return H
