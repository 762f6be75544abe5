"""Variance functions of a covariate or of the fitted values, optionally per stratum:
nlme's ``varPower``, ``varExp`` and ``varConstPower``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..form import eval_covariate
from .base import VarFunc, stratum_labels

__all__ = ["VarPower", "VarExp", "VarConstPower"]


class _CovariateVarFunc(VarFunc):
    """Variance functions of a covariate ``v`` (or the fitted values), optionally
    with one parameter set per stratum (``form = "~ v | s"``).

    Subclasses define ``_pnames`` (names of the parameters of one stratum),
    ``_defaults`` (their unconstrained defaults), ``_to_unc``/``_to_nat`` and
    ``_log_sd_of(v, params)`` where ``params`` has one row per observation.
    """

    _pnames = ("power",)
    _defaults = (0.0,)

    def __init__(self, value=None, form="~ fitted", fixed=None):
        super().__init__(value, form, fixed)
        self.uses_fitted = self.form.uses_fitted
        if self.form.covariate is None:
            raise ValueError(f"{type(self).__name__} needs a covariate, e.g. '~ age' or '~ fitted'")

    def initialize(self, data, eval_env=None):
        """Evaluate the covariate and the strata on the model frame; set the starting values.

        Parameters
        ----------
        data : pandas.DataFrame
            Model-frame rows in engine order.
        eval_env : patsy.EvalEnvironment, optional
            Namespace for covariate expressions.

        Raises
        ------
        ValueError
            Invalid covariate values, or ``value=``/``fixed=`` naming unknown strata.
        """
        name = type(self).__name__
        if self.uses_fitted:
            self._v = np.ones(len(data))
        else:
            self._v = eval_covariate(self.form.covariate, data, eval_env, f"{name} covariate")
            self._check_covariate(self._v)
        if self.form.grouping:
            labels, levels = stratum_labels(data, self.form.grouping, name)
            self.levels = levels
            self._codes = np.asarray(pd.Categorical(labels, categories=levels).codes)
        else:
            self.levels = [None]
            self._codes = np.zeros(len(data), dtype=int)
        k, s = len(self._pnames), len(self.levels)
        start = np.tile(np.asarray(self._defaults, dtype=float), (s, 1))   # (s, k)
        free = np.ones((s, k), dtype=bool)
        if self.value is not None:
            start = self._apply(self.value, start, "value")
        if self.fixed is True:
            free[:] = False                    # hold value= (or the default)
        elif self.fixed not in (None, False):
            # nlme's convention: fixed= is the value itself (a number, or per stratum)
            start = self._apply(self.fixed, start, "fixed")
            if isinstance(self.fixed, dict):
                for key in self.fixed:
                    free[self.levels.index(str(key))] = False
            else:
                free[:] = False
        # parameters are stored parameter-major (all strata of p1, then p2), as nlme
        self._all = start.T.ravel()
        self._free = free.T.ravel()
        if len(self._pnames) == 1:
            self._names = ([self._pnames[0]] if self.levels == [None]
                           else [str(lev) for lev in self.levels])
        else:
            self._names = [p if lev is None else f"{p}.{lev}"
                           for p in self._pnames for lev in self.levels]
        self._initialized = True

    def _apply(self, spec, start, what):
        name = type(self).__name__
        if isinstance(spec, dict):
            if self.levels == [None]:
                raise ValueError(f"{name} {what}= is a dict but the form has no stratum")
            missing = [k for k in spec if str(k) not in self.levels]
            if missing:
                raise ValueError(f"{name} {what}= names strata not in the data: {missing} "
                                 f"(strata: {self.levels})")
            for key, v in spec.items():
                start[self.levels.index(str(key))] = self._to_unc(v, what)
        else:
            start[:] = self._to_unc(spec, what)
        return start

    def _check_covariate(self, v):
        if np.any(~np.isfinite(v)):
            raise ValueError(f"{type(self).__name__} covariate {self.form.covariate!r} "
                             "has non-finite values")

    def set_fitted(self, mu):
        """Use the current fitted values as the covariate (``form="~ fitted"``).

        Parameters
        ----------
        mu : ndarray
            Fitted values, rows in engine order.
        """
        mu = np.asarray(mu, dtype=float)
        self._check_covariate(mu)
        self._v = mu

    def _log_sd(self, full):
        k, s = len(self._pnames), len(self.levels)
        params = full.reshape(k, s).T[self._codes]      # (N, k)
        return self._log_sd_of(self._v, params)

    def _natural(self, full):
        k, s = len(self._pnames), len(self.levels)
        return self._to_nat(full.reshape(k, s).T).T.ravel()

    # default: parameters are on the natural scale
    def _to_unc(self, v, what):
        arr = np.atleast_1d(np.asarray(v, dtype=float))
        if arr.size != len(self._pnames) or np.any(~np.isfinite(arr)):
            raise ValueError(f"{type(self).__name__} {what}= must be "
                             f"{len(self._pnames)} finite number(s), got {v!r}")
        return arr

    def _to_nat(self, params):
        return params


class VarPower(_CovariateVarFunc):
    """SD a power of a covariate (nlme's ``varPower``).

    ``Var(e_j) = sigma^2 |v_j|^(2 delta)``; ``form="~ fitted"`` (the default) uses the
    fitted values as the covariate, iterated to self-consistency.  The parameter
    ``delta`` is reported as ``power``, or, with ``form="~ v | s"``, one power per
    stratum (named by the stratum; no reference stratum).

    Parameters
    ----------
    value : float or dict, optional
        Starting power (default 0), or a dict ``{stratum: power}``.
    form : str
        ``"~ v"``, ``"~ v | s"``, ``"~ fitted"`` or ``"~ fitted | s"``.  The covariate
        must not be zero (use :class:`VarConstPower` then).
    fixed : bool, float or dict, optional
        ``True`` holds ``value=``; a number (or a dict per stratum) is the power to
        hold, nlme's convention (``fixed=1.0`` is power 1, not a flag).
    """

    _pnames = ("power",)
    _defaults = (0.0,)

    def _check_covariate(self, v):
        super()._check_covariate(v)
        if np.any(v == 0):
            raise ValueError(f"VarPower covariate {self.form.covariate!r} has zeros: the "
                             "weight |v|^(-power) is undefined; use VarConstPower or shift it")

    def _log_sd_of(self, v, params):
        return params[:, 0] * np.log(np.abs(v))


class VarExp(_CovariateVarFunc):
    """SD exponential in a covariate (nlme's ``varExp``).

    ``Var(e_j) = sigma^2 exp(2 delta v_j)``; the parameter ``delta`` is reported as
    ``expon`` (or one per stratum with ``form="~ v | s"``).  The covariate may be zero
    or negative.

    Parameters
    ----------
    value : float or dict, optional
        Starting value (default 0), or a dict per stratum.
    form : str
        ``"~ v"``, ``"~ v | s"`` or ``"~ fitted"`` (the default).
    fixed : bool, float or dict, optional
        ``True`` holds ``value=``; a number (or dict) is the value to hold, as in nlme.
    """

    _pnames = ("expon",)
    _defaults = (0.0,)

    def _log_sd_of(self, v, params):
        return params[:, 0] * v


class VarConstPower(_CovariateVarFunc):
    """SD a constant plus a power of a covariate (nlme's ``varConstPower``).

    ``Var(e_j) = sigma^2 (c + |v_j|^delta)^2`` with ``c > 0``; reported as ``const`` and
    ``power`` (names suffixed ``.stratum`` with ``form="~ v | s"``).  The optimizer works
    on ``(log c, delta)``, starting at ``c = 0.1``, ``delta = 0``.

    Parameters
    ----------
    value : sequence of two floats or dict, optional
        Starting ``(const, power)`` on the natural scale, or a dict per stratum.
    form : str
        ``"~ v"``, ``"~ v | s"`` or ``"~ fitted"`` (the default).
    fixed : bool, sequence or dict, optional
        ``True`` holds ``value=``; ``(const, power)`` (or a dict) is the value to hold.
    """

    _pnames = ("const", "power")
    _defaults = (np.log(0.1), 0.0)

    def _to_unc(self, v, what):
        arr = super()._to_unc(v, what)
        if arr[0] <= 0:
            raise ValueError(f"VarConstPower {what}= const must be positive, got {arr[0]!r}")
        return np.array([np.log(arr[0]), arr[1]])

    def _to_nat(self, params):
        return np.column_stack([np.exp(params[:, 0]), params[:, 1]])

    def _log_sd_of(self, v, params):
        return np.log(np.exp(params[:, 0]) + np.abs(v) ** params[:, 1])
