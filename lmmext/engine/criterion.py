"""The profiled (RE)ML criterion from the reduced cross-products ``[X y]' V~^-1 [X y]``
of the whole data and the log-determinants: the last step of every evaluation, whichever
algebra (the level-by-level elimination, the per-unit dense algebra, the partitions of a
distributed fit) produced them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from .linalg import LOG2PI

__all__ = ["Criterion", "profiled_criterion"]


@dataclass
class Criterion:
    """The profiled criterion from the reduced cross-products of the whole data."""

    loglik: float
    R: np.ndarray
    beta_s: np.ndarray
    q: float
    sigma2: float
    logdet_X: float


def profiled_criterion(part, p, Nr, reml, logdet_T, beta_s=None):
    """The profiled (RE)ML criterion from the summed shares of all rows (``part``: a
    :class:`Partial`, or anything with its ``S``, ``logdet_M``, ``logdet_C`` and
    ``sum_log_w``): ``beta``, ``sigma^2 = q / Nr`` and the log-likelihood of the module
    docstring.  With ``beta_s`` (engine scale) the fixed effects are held there."""
    S = part.S
    Sxx, Sxy, Syy = S[:p, :p], S[:p, p], S[p, p]
    try:
        R = np.linalg.cholesky(Sxx)
    except np.linalg.LinAlgError:
        raise FloatingPointError("X' V^-1 X is not positive definite") from None
    c = solve_triangular(R, Sxy, lower=True)
    q = float(Syy - c @ c)
    if not q > 0:
        raise FloatingPointError("the penalized residual sum of squares is not positive")
    logdet_X = 2.0 * np.log(np.diag(R)).sum() - 2.0 * logdet_T
    beta_hat = solve_triangular(R.T, c, lower=False)
    if beta_s is not None:
        d = R.T @ (beta_s - beta_hat)
        q += float(d @ d)
    sigma2 = q / Nr
    ll = (-0.5 * Nr * (LOG2PI + 1.0 + np.log(sigma2)) + part.sum_log_w
          - 0.5 * part.logdet_C - 0.5 * part.logdet_M - (0.5 * logdet_X if reml else 0.0))
    return Criterion(ll, R, beta_hat, q, sigma2, logdet_X)
