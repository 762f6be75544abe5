"""Structured correlation over integer visit positions: Toeplitz (SAS ``TOEP``, mmrm
``toep``) and first-order ante-dependence (SAS ``ANTE(1)``, mmrm ``adh`` with a
``VarIdent`` by visit).  Neither exists in nlme; both follow the protocol of
:mod:`.base`, with positions read as ``CorSymm`` and ``CorAR1`` read them.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .base import as_vector, fmt_values
from .position import PositionCor

__all__ = ["CorToeplitz", "CorAnte"]


def _pacf_to_acf(pis):
    """Autocorrelations ``rho_1..rho_m`` of the partial autocorrelations ``pi_1..pi_m``
    (Durbin-Levinson: ``a^(k) = (a^(k-1) - pi_k rev(a^(k-1)), pi_k)``, and
    ``rho_k = sum_j a^(k)_j rho_(k-j)``, the lag-k Yule-Walker equation)."""
    a, rho = np.zeros(0), [1.0]
    for k, p in enumerate(np.asarray(pis, dtype=float), start=1):
        a = np.concatenate([a - p * a[::-1], [p]])
        rho.append(float(a @ np.array(rho[::-1])))
    return np.array(rho[1:])


def _acf_to_pacf(rho):
    """Inverse of :func:`_pacf_to_acf`; ``ValueError`` when the Toeplitz matrix of
    ``(1, rho)`` is not positive definite (a partial autocorrelation outside (-1, 1))."""
    a, r, pis = np.zeros(0), np.concatenate([[1.0], rho]), []
    for k in range(1, len(r)):
        p = (r[k] - a @ r[k - 1:0:-1]) / (1.0 - a @ r[1:k])
        if not abs(p) < 1:
            raise ValueError("partial autocorrelation outside (-1, 1)")
        a = np.concatenate([a - p * a[::-1], [p]])
        pis.append(p)
    return np.array(pis)


class _VisitCor(PositionCor):
    """Shared by the two: the number of parameters comes from ``value`` or the data,
    each present in the data (else it is not identified), one link ``tanh(theta / 2)``."""

    def __init__(self, value, form, fixed, group=None):
        super().__init__(value, form, fixed, group)
        self._m = None
        if value is not None:
            v = as_vector(value, f"{self._cls}: value")
            if v.size == 0 or np.any(np.abs(v) >= 1):
                raise ValueError(f"{self._cls}: value must be correlations in (-1, 1), got "
                                 f"{fmt_values(v, 10)}")
            self._m = v.size
            self._nat0 = v
            self._theta0 = self._from_natural(v)
        self._m_value = self._m
        self._given = value is not None

    def _free_names(self):
        if self._m is None:
            self._require_init("the number of parameters comes from the data")
        return self._names(self._m)

    def _check_theta_size(self, size):
        if self._m is not None:
            super()._check_theta_size(size)

    def _setup_params(self):
        present, m_data = self._present(), self._needed()
        if self._m_value is not None and m_data > self._m_value:
            raise ValueError(f"{self._cls}: the data need {m_data} correlations but value= "
                             f"gives {self._m_value}")
        m = self._m_value if self._m_value is not None else m_data
        if m == 0 and not self.fixed:
            raise ValueError(f"{self._cls}: no group has two rows {self._form_hint}")
        missing = np.setdiff1d(np.arange(1, m + 1), present)
        if missing.size and not self.fixed:
            raise ValueError(f"{self._cls}: no group has {self._what} "
                             f"{fmt_values(missing)}, so its correlation is not identified "
                             f"{self._form_hint}")
        self._m = m
        if not self._given:
            self._nat0 = np.zeros(m)
            self._theta0 = np.zeros(m)

    def positive_definite(self, theta):
        return bool(np.all(np.abs(np.tanh(np.asarray(theta, dtype=float) / 2.0)) < 1 - 1e-8))


class CorToeplitz(_VisitCor):
    """Toeplitz correlation by lag, ``C_jk = rho(|t_j - t_k|)`` (SAS ``TOEP``).

    Parameters
    ----------
    value : sequence of float, optional
        Autocorrelations ``rho_1, rho_2, ..`` (``max_lag`` of them when banded); the
        Toeplitz matrix of ``(1, rho)`` must be positive definite.  Default: zeros, one per
        lag up to the largest lag in the data (``max_lag``).
    form : str, default ``"~ 1"``
        ``"~ visit | g"``: integer positions (gaps allowed, a missing visit keeps the
        others' lags); ``"~ 1 | g"``: row order.  Positions must be unique within groups.
    max_lag : int, optional
        Band: correlations beyond lag ``max_lag`` are zero (SAS ``TOEP(max_lag + 1)``).
    fixed : bool, default False
    group : str, optional
        A between-subject factor (a column constant within each group of ``form``): one
        copy of the parameters per level, named ``"<name>:<level>"`` (SAS ``GROUP=``;
        see :mod:`lmmext.structures.correlation.grouped`).

    Notes
    -----
    The optimizer sees ``theta_k = log((1 + pi_k)/(1 - pi_k))`` of the partial
    autocorrelations ``pi_1..pi_m``, mapped to ``rho_1..rho_m`` by the Durbin-Levinson
    recursion, so the full Toeplitz matrix is positive definite for every ``theta``.
    Banded, only the first ``(max_lag + 1)`` rows are guaranteed positive definite: a
    larger matrix with zeros beyond the band may not be (as in SAS), and the likelihood
    is then infeasible there (``LinAlgError``, which the optimizer steps back from).
    Reported as ``Rho1, Rho2, ..``; apVar and ``intervals`` use Fisher's z of each
    ``rho`` (as ``CorSymm``).  With ``VarIdent(form="~ 1 | visit")`` it is SAS
    ``TOEPH``.
    """

    description = "Toeplitz"
    _what = "the lag"
    _form_hint = "(use form='~ visit | g' with integer visits)"

    def __init__(self, value=None, form="~ 1", max_lag=None, fixed=False, group=None):
        if max_lag is not None and (isinstance(max_lag, bool) or not isinstance(
                max_lag, numbers.Integral) or max_lag < 1):
            raise ValueError(f"CorToeplitz: max_lag must be a positive integer or None, got "
                             f"{max_lag!r}")
        self.max_lag = None if max_lag is None else int(max_lag)
        super().__init__(value, form, fixed, group)
        if self.max_lag is not None:
            if self._m is not None and self._m != self.max_lag:
                raise ValueError(f"CorToeplitz: value needs max_lag = {self.max_lag} "
                                 f"autocorrelations, got {self._m}")
            self._m = self._m_value = self.max_lag

    def _repr_extra(self):
        return {} if self.max_lag is None else {"max_lag": self.max_lag}

    def _names(self, k):
        return [f"Rho{i}" for i in range(1, k + 1)]

    def _to_natural(self, theta):
        return _pacf_to_acf(np.tanh(np.asarray(theta, dtype=float) / 2.0))

    def _from_natural(self, nat):
        if self._m is not None and nat.size != self._m:
            raise ValueError(f"{self._cls}: expected {self._m} autocorrelations, got {nat.size}")
        try:
            pis = _acf_to_pacf(nat)
        except ValueError:
            raise ValueError(f"{self._cls}: the autocorrelations {fmt_values(nat, 10)} do not "
                             "form a positive-definite Toeplitz matrix") from None
        return 2.0 * np.arctanh(pis)

    def _present(self):
        lags = [np.unique(g.geom) for g in self._groups]
        lags = np.unique(np.rint(np.concatenate(lags or [[0.0]]))).astype(np.int64)
        return lags[lags > 0]

    def _needed(self):
        top = int(self._present().max(initial=0))
        return top if self.max_lag is None else min(top, self.max_lag)

    def _corr_stack(self, nat, geom):
        lags = np.rint(geom).astype(np.int64)
        rho = np.zeros(max(int(lags.max(initial=0)), nat.size) + 1)
        rho[0], rho[1:nat.size + 1] = 1.0, nat
        return rho[lags]

    def positive_definite(self, theta):
        return self.max_lag is None and super().positive_definite(theta)

    # apVar: Fisher's z of each autocorrelation (nlme's corNatural, as CorSymm)
    def apvar_params(self, theta):
        return 2.0 * np.arctanh(self.coefficients(theta).to_numpy())

    def apvar_theta(self, nat):
        return self.to_unconstrained(np.tanh(np.asarray(nat, dtype=float) / 2.0))

    def apvar_names(self):
        return self._names(self._m)

    def apvar_report(self, nat):
        return pd.Series(np.tanh(np.asarray(nat, dtype=float) / 2.0), index=self.apvar_names())


class CorAnte(_VisitCor):
    """First-order ante-dependence, ``C_jk = rho_j rho_(j+1) .. rho_(k-1)`` for positions
    ``j < k`` (SAS ``ANTE(1)``).

    Parameters
    ----------
    value : sequence of float, optional
        The ``K - 1`` adjacent correlations ``cor(1,2), cor(2,3), ..``, each in (-1, 1).
        Default: zeros, ``K`` the largest position in the data.
    form : str, default ``"~ 1"``
        ``"~ visit | g"``: integer positions 1..K, unique within groups (gaps allowed:
        a group with visits 1 and 3 has correlation ``rho_1 rho_2``); ``"~ 1 | g"``: row
        order.
    fixed : bool, default False
    group : str, optional
        A between-subject factor (a column constant within each group of ``form``): one
        copy of the parameters per level, named ``"<name>:<level>"`` (SAS ``GROUP=``;
        see :mod:`lmmext.structures.correlation.grouped`).

    Notes
    -----
    ``theta_j = log((1 + rho_j)/(1 - rho_j))``, which is also the apVar scale; every
    ``theta`` gives a positive-definite matrix (a non-stationary AR(1)).  Reported as
    ``cor(1,2), cor(2,3), ..``.  With ``VarIdent(form="~ 1 | visit")`` it is SAS
    ``ANTE(1)`` and mmrm's ``adh``; with all ``rho_j`` equal and consecutive positions it
    is ``CorAR1``.
    """

    description = "Ante-dependence"
    _what = "the adjacent positions (j, j+1) for j ="
    _form_hint = "(use form='~ visit | g' with integer visits 1..K)"

    def __init__(self, value=None, form="~ 1", fixed=False, group=None):
        super().__init__(value, form, fixed, group)

    def _names(self, k):
        return [f"cor({j},{j + 1})" for j in range(1, k + 1)]

    def _to_natural(self, theta):
        return np.tanh(np.asarray(theta, dtype=float) / 2.0)

    def _from_natural(self, nat):
        if self._m is not None and nat.size != self._m:
            raise ValueError(f"{self._cls}: expected {self._m} adjacent correlations, got "
                             f"{nat.size}")
        if np.any(np.abs(nat) >= 1):
            raise ValueError(f"{self._cls}: correlations must be in (-1, 1), got "
                             f"{fmt_values(nat, 10)}")
        return 2.0 * np.arctanh(nat)

    def _validate_coords(self):
        super()._validate_coords()
        self._require_positions_from_one(f" {self._form_hint}")

    def _pattern_keys(self):
        return self._coords           # absolute positions select the sub-matrix

    def _geometry(self, coords):
        return np.rint(coords[..., 0]).astype(np.int64) - 1

    def _present(self):
        pairs = [np.zeros(0)]
        for g in self._groups:
            s = np.sort(g.geom, axis=1)
            pairs.append(s[:, :-1][np.diff(s, axis=1) == 1] + 1)
        return np.unique(np.concatenate(pairs)).astype(np.int64)

    def _needed(self):
        return int(self._coords[:, 0].max()) - 1

    def _corr_stack(self, nat, geom):
        K = nat.size + 1
        C = np.eye(K)
        for i in range(K - 1):
            C[i, i + 1:] = C[i + 1:, i] = np.cumprod(nat[i:])
        return C[geom[:, :, None], geom[:, None, :]]
