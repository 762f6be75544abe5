"""Serial correlation at integer or continuous lags: nlme's ``corAR1``, ``corCAR1`` and
``corARMA``.  The AR(1)-type structures whiten with the bidiagonal inverse factor.
"""
from __future__ import annotations

import numbers

import numpy as np
from scipy.special import expit, logit

from .base import as_vector, fmt_values
from .position import PositionCor

__all__ = ["CorAR1", "CorCAR1", "CorARMA"]


def _durbin_levinson(x, sign, inverse=False):
    """Map partial autocorrelations to ARMA coefficients (or back, ``inverse=True``).

    Forward: ``a^(k)_j = a^(k-1)_j + sign * pi_k * a^(k-1)_{k-j}`` (``j < k``),
    ``a^(k)_k = pi_k``.  nlme uses ``sign = -1`` for the AR block and ``+1`` for the MA
    block.  The inverse runs the recursion backwards; it raises ``ValueError`` when a
    partial autocorrelation is not inside (-1, 1) (non-stationary / non-invertible).
    """
    x = np.asarray(x, dtype=float)
    if not inverse:
        a = np.zeros(0)
        for pk in x:
            a = np.concatenate([a + sign * pk * a[::-1], [pk]])
        return a
    a = x.copy()
    pis = np.empty(len(a))
    for k in range(len(a) - 1, -1, -1):
        pk = a[k]
        if not abs(pk) < 1:
            raise ValueError("partial autocorrelation outside (-1, 1)")
        pis[k] = pk
        head = a[:k]
        a = (head - sign * pk * head[::-1]) / (1.0 - pk * pk)
    return pis


def _arma_acf(phi, theta, max_lag):
    """Autocorrelations ``rho(0..max_lag)`` of a stationary ARMA(p, q) process.

    Solves the first ``p + 1`` autocovariance equations
    ``gamma(k) - sum_j phi_j gamma(|k - j|) = sum_{j=k}^{q} theta_j psi_{j-k}``
    (``theta_0 = 1``, ``psi`` the MA(infinity) weights) and extends by the recursion;
    exact, unlike a truncated psi-weight sum, when ``phi`` is close to the boundary.
    """
    p, q = len(phi), len(theta)
    psi = np.zeros(q + 1)
    psi[0] = 1.0
    for i in range(1, q + 1):
        psi[i] = theta[i - 1] + sum(phi[j - 1] * psi[i - j] for j in range(1, min(i, p) + 1))
    th = np.concatenate([[1.0], theta])
    c = np.array([th[k:] @ psi[:q + 1 - k] for k in range(q + 1)])
    M = np.eye(p + 1)
    for k in range(p + 1):
        for j in range(1, p + 1):
            M[k, abs(k - j)] -= phi[j - 1]
    rhs = np.zeros(p + 1)
    m = min(p, q) + 1
    rhs[:m] = c[:m]
    n_out = max(max_lag, p) + 1
    gamma = np.zeros(n_out)
    gamma[:p + 1] = np.linalg.solve(M, rhs)
    for k in range(p + 1, n_out):
        gamma[k] = sum(phi[j - 1] * gamma[k - j] for j in range(1, p + 1)) + (c[k] if k <= q else 0.0)
    return gamma[:max_lag + 1] / gamma[0]


class _MarkovCor(PositionCor):
    """One correlation parameter ``phi`` with ``C_jk = phi^|t_j - t_k|``: whitening by
    the bidiagonal inverse factor.  Subclasses give the open interval of ``phi``
    (``_bounds``) and its link to the unconstrained scale."""

    _markov = True
    _bounds = (-1.0, 1.0)

    def __init__(self, value, form, fixed, group=None):
        super().__init__(value, form, fixed, group)
        v = as_vector(value, f"{self._cls}: value")
        self._check_phi(v, "value")
        self._nat0 = v
        self._theta0 = self._from_natural(v)

    def _check_phi(self, v, what):
        lo, hi = self._bounds
        if v.size != 1 or not lo < v[0] < hi:
            raise ValueError(f"{self._cls}: {what} must be one number in "
                             f"({lo:g}, {hi:g}), got {v if what == 'Phi' else v.tolist()}")

    def _names(self, k):
        return ["Phi"]

    def _phi(self, nat):
        return nat[0]

    def _from_natural(self, nat):
        self._check_phi(nat, "Phi")
        return self._link(nat)

    def _corr_stack(self, nat, geom):
        return np.power(nat[0], geom)

    def positive_definite(self, theta):
        # phi^|t_j - t_k| with distinct positions (checked) and |phi| < 1
        return abs(float(self._natural_for(theta)[0])) < 1.0 - 1e-8

    def _corr_jacobian(self, theta, geom, C):
        # d phi^d / d theta = d phi^(d-1) dphi/dtheta
        phi = float(self._natural_for(theta)[0])
        dphi = self._dphi(theta, phi)
        if phi == 0.0:
            return (dphi * (geom == 1))[None]
        return (dphi * geom * C / phi)[None]


class CorAR1(_MarkovCor):
    """First-order autoregressive correlation, ``C_jk = phi^|t_j - t_k|`` (nlme corAR1).

    Parameters
    ----------
    value : float, default 0
        ``phi``, ``|phi| < 1``.
    form : str, default ``"~ 1"``
        ``"~ 1 | g"`` uses positions 1..n in row order; ``"~ t | g"`` integer positions
        (gaps allowed: ``phi^|dt|``, nlme's ARMA(1, 0) behaviour); non-integer or
        repeated positions raise ``ValueError``.
    fixed : bool, default False
    group : str, optional
        A between-subject factor (a column constant within each group of ``form``): one
        copy of the parameters per level, named ``"<name>:<level>"`` (SAS ``GROUP=``;
        see :mod:`lmmext.structures.correlation.grouped`).

    Notes
    -----
    ``theta = log((1 + phi) / (1 - phi))``; reported as ``Phi``.
    """

    description = "AR(1)"

    def __init__(self, value=0, form="~ 1", fixed=False, group=None):
        super().__init__(value, form, fixed, group)

    def _to_natural(self, theta):
        return np.tanh(np.asarray(theta) / 2.0)

    def _link(self, nat):
        return 2.0 * np.arctanh(nat)

    @staticmethod
    def _dphi(theta, phi):
        return (1.0 - phi * phi) / 2.0          # d tanh(theta / 2) / d theta


class CorCAR1(_MarkovCor):
    """Continuous-time AR(1), ``C_jk = phi^|t_j - t_k|`` with real ``t`` (nlme corCAR1).

    Parameters
    ----------
    value : float, default 0.2
        ``phi`` in (0, 1).
    form : str, default ``"~ 1"``
        Usually ``"~ t | g"``; repeated positions within a group raise ``ValueError``.
    fixed : bool, default False
    group : str, optional
        A between-subject factor (a column constant within each group of ``form``): one
        copy of the parameters per level, named ``"<name>:<level>"`` (SAS ``GROUP=``;
        see :mod:`lmmext.structures.correlation.grouped`).

    Notes
    -----
    ``theta = log(phi / (1 - phi))``; reported as ``Phi``.  Equals ``CorExp`` with
    ``range = -1 / log(phi)``.
    """

    description = "Continuous AR(1)"
    _integer_positions = False
    _bounds = (0.0, 1.0)

    def __init__(self, value=0.2, form="~ 1", fixed=False, group=None):
        super().__init__(value, form, fixed, group)

    def _to_natural(self, theta):
        return expit(np.asarray(theta))

    def _link(self, nat):
        return logit(nat)

    @staticmethod
    def _dphi(theta, phi):
        return phi * (1.0 - phi)                # d expit(theta) / d theta

    def at_boundary(self, theta):
        # phi -> 0 is a matter of the time units, not a boundary; phi -> 1 is
        return np.asarray(theta, dtype=float) > self._BOUNDARY_THETA


class CorARMA(PositionCor):
    """Stationary ARMA(p, q) autocorrelation at integer lags (nlme corARMA).

    Parameters
    ----------
    value : sequence of float, optional
        ``(phi_1..phi_p, theta_1..theta_q)``, default zeros; each must be in (-1, 1) and
        the whole must be stationary and invertible.
    form : str, default ``"~ 1"``
        Integer positions (``~ 1``: row order); ``C_jk = rho(|t_j - t_k|)``.
    p, q : int
        Orders, non-negative and not both zero.
    fixed : bool, default False
    group : str, optional
        A between-subject factor (a column constant within each group of ``form``): one
        copy of the parameters per level, named ``"<name>:<level>"`` (SAS ``GROUP=``;
        see :mod:`lmmext.structures.correlation.grouped`).

    Notes
    -----
    Each block (AR, then MA) is parameterized by partial autocorrelations
    ``pi_k = tanh(u_k / 2)`` mapped by a Durbin-Levinson recursion with sign -1 (AR)
    or +1 (MA).  Reported as ``Phi1..Phip, Theta1..Thetaq``.  ARMA(1, 0) whitens with
    the AR(1) bidiagonal factor.
    """

    def __init__(self, value=None, form="~ 1", p=0, q=0, fixed=False, group=None):
        super().__init__(value, form, fixed, group)
        for name, k in (("p", p), ("q", q)):
            if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
                raise ValueError(f"{self._cls}: {name} must be a non-negative integer, got {k!r}")
        if p == 0 and q == 0:
            raise ValueError(f"{self._cls}: p and q cannot both be zero")
        self.p, self.q = int(p), int(q)
        self._markov = self.p == 1 and self.q == 0
        self.description = f"ARMA({self.p},{self.q})"
        if value is None:
            v = np.zeros(p + q)
        else:
            v = as_vector(value, f"{self._cls}: value")
            if v.size != p + q:
                raise ValueError(f"{self._cls}: value needs p + q = {p + q} numbers, got {v.size}")
            if np.any(np.abs(v) >= 1):
                raise ValueError(f"{self._cls}: every value must be in (-1, 1), got {fmt_values(v)}")
        self._nat0 = v
        self._theta0 = self._from_natural(v)

    def _repr_extra(self):
        return {"p": self.p, "q": self.q}

    def _names(self, k):
        return [f"Phi{i}" for i in range(1, self.p + 1)] + [f"Theta{i}" for i in range(1, self.q + 1)]

    def _phi(self, nat):
        return nat[0]

    def _to_natural(self, theta):
        pis = np.tanh(np.asarray(theta, dtype=float) / 2.0)
        return np.concatenate([_durbin_levinson(pis[:self.p], -1.0),
                               _durbin_levinson(pis[self.p:], +1.0)])

    def _from_natural(self, nat):
        if nat.size != self.p + self.q:
            raise ValueError(f"{self._cls}: expected {self.p + self.q} coefficients, got {nat.size}")
        pis = []
        for part, sign, what in ((nat[:self.p], -1.0, "stationary"),
                                 (nat[self.p:], +1.0, "invertible")):
            try:
                pis.append(_durbin_levinson(part, sign, inverse=True))
            except ValueError:
                raise ValueError(f"{self._cls}: coefficients {fmt_values(nat)} are not "
                                 f"{what}") from None
        pis = np.concatenate(pis)
        return np.log((1.0 + pis) / (1.0 - pis))

    def _corr_stack(self, nat, geom):
        lags = np.rint(geom).astype(np.int64)
        rho = _arma_acf(nat[:self.p], nat[self.p:], int(lags.max(initial=0)))
        return rho[lags]
