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
    ``_defaults`` (their unconstrained defaults), ``_to_unc_one``/``_to_nat`` and
    ``_log_sd_of(v, params)`` where ``params`` has one row per observation.

    ``value=`` and ``fixed=`` take the same forms (nlme's ``value``/``fixed``, named
    vectors and lists becoming dicts): a number (every parameter of a one-parameter
    function; ``const`` of :class:`VarConstPower`, as nlme names an unnamed single value),
    a sequence with one number per parameter, a dict by parameter name
    (``{"power": 0.5}``, ``{"const": 1}``; a subset of the parameters) whose values are
    numbers or dicts by stratum (``{"const": {"F": 1}}``), or a dict by stratum whose
    values are numbers, sequences or dicts by parameter name.  Parameters a ``fixed=``
    names are held at its values; the others are estimated.
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
            Invalid covariate values, or ``value=``/``fixed=`` naming unknown parameters
            or strata.
        """
        name = type(self).__name__
        if self.uses_fitted:
            self._v = np.ones(len(data))
        else:
            self._v = eval_covariate(self.form.covariate, data, eval_env, f"{name} covariate")
            self._check_covariate(self._v)
        if self.form.grouping:
            labels, levels = stratum_labels(data, self.form.grouping, name,
                                            self.strata_present)
            self.levels = levels
            self._codes = np.asarray(pd.Categorical(labels, categories=levels).codes)
        else:
            self.levels = [None]
            self._codes = np.zeros(len(data), dtype=int)
        k, s = len(self._pnames), len(self.levels)
        start = np.tile(np.asarray(self._defaults, dtype=float), (s, 1))   # (s, k)
        free = np.ones((s, k), dtype=bool)
        if self.value is not None:
            for (i, j), v in self._cells(self.value, "value").items():
                start[i, j] = v
        if self.fixed is True:
            free[:] = False                    # hold value= (or the default)
        elif self.fixed is not None and self.fixed is not False:
            # nlme's convention: fixed= is the value itself (a number, per parameter
            # and/or per stratum), holding just the parameters it names
            for (i, j), v in self._cells(self.fixed, "fixed").items():
                start[i, j] = v
                free[i, j] = False
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

    # -- value= / fixed= ------------------------------------------------------------
    def _accepted(self, what):
        strata = "" if self.levels == [None] else f"; strata: {self.levels}"
        example = ", ".join(f"{p!r}: ..." for p in self._pnames)
        return (f"{type(self).__name__} {what}= must be a number, one number per parameter "
                f"{list(self._pnames)}, a dict by parameter name ({{{example}}}, values "
                f"numbers or dicts by stratum) or a dict by stratum (parameters: "
                f"{list(self._pnames)}{strata})")

    def _cells(self, spec, what):
        """``{(stratum index, parameter index): unconstrained value}`` of a ``value=`` or
        ``fixed=`` specification (see the class docstring for the accepted forms)."""
        all_strata = range(len(self.levels))
        if isinstance(spec, dict):
            if not spec:
                raise ValueError(f"{type(self).__name__} {what}= is an empty dict; "
                                 + self._accepted(what))
            keys = [str(key) for key in spec]
            if all(key in self._pnames for key in keys):
                out = {}
                for key, v in spec.items():
                    j = self._pnames.index(str(key))
                    for i, x in self._per_stratum(v, what, f"{key}").items():
                        out[i, j] = self._to_unc_one(j, x, what)
                return out
            strata = [lev for lev in self.levels if lev is not None]
            unknown = [k for k in spec if str(k) not in strata]
            if unknown:
                raise ValueError(f"{type(self).__name__} {what}= names unknown parameter(s) "
                                 f"or strata {unknown}: parameters are "
                                 f"{list(self._pnames)}" + (f", strata {strata}" if strata
                                                            else " (the form has no stratum)"))
            out = {}
            for key, v in spec.items():
                i = self.levels.index(str(key))
                for j, x in self._per_parameter(v, what, str(key)).items():
                    out[i, j] = self._to_unc_one(j, x, what)
            return out
        return {(i, j): self._to_unc_one(j, x, what)
                for j, x in self._per_parameter(spec, what, None).items() for i in all_strata}

    def _per_stratum(self, v, what, pname):
        if not isinstance(v, dict):
            return dict.fromkeys(range(len(self.levels)), v)
        strata = [lev for lev in self.levels if lev is not None]
        unknown = [k for k in v if str(k) not in strata]
        if unknown:
            raise ValueError(f"{type(self).__name__} {what}= for {pname!r} names strata not in "
                             f"the data: {unknown} " + (f"(strata: {strata})" if strata
                                                        else "(the form has no stratum)"))
        return {self.levels.index(str(k)): x for k, x in v.items()}

    def _per_parameter(self, v, what, stratum):
        where = "" if stratum is None else f" for stratum {stratum!r}"
        if isinstance(v, dict):
            unknown = [k for k in v if str(k) not in self._pnames]
            if unknown:
                raise ValueError(f"{type(self).__name__} {what}={where} names unknown "
                                 f"parameter(s) {unknown} (parameters: {list(self._pnames)})")
            return {self._pnames.index(str(k)): x for k, x in v.items()}
        arr = np.atleast_1d(np.asarray(v, dtype=object))
        if arr.ndim != 1 or not 1 <= arr.size <= len(self._pnames):
            raise ValueError(self._accepted(what) + f"; got {v!r}{where}")
        # an unnamed shorter vector fills the parameters in order, as nlme names it
        return dict(enumerate(arr.tolist()))

    def _to_unc_one(self, j, x, what):
        """One parameter on the unconstrained scale (default: the natural scale)."""
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.number)) \
                or not np.isfinite(x):
            raise ValueError(f"{type(self).__name__} {what}= {self._pnames[j]} must be a "
                             f"finite number, got {x!r}")
        return float(x)

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
        hold, nlme's convention (``fixed=1.0`` is power 1, not a flag);
        ``{"power": 0.5}`` is the same as ``fixed=0.5`` (nlme's ``fixed = c(power =
        0.5)``) and ``{"Female": 0.5}`` holds one stratum's power.
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
        ``True`` holds ``value=``; a number (or dict per stratum) is the value to hold,
        as in nlme; ``{"expon": 0.02}`` is the same as ``fixed=0.02``.
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
        Starting ``(const, power)`` on the natural scale, a dict by parameter name
        (``{"power": 0.5}``, values numbers or dicts by stratum) or a dict by stratum.
        A single number is ``const``, as nlme names an unnamed single value.
    form : str
        ``"~ v"``, ``"~ v | s"`` or ``"~ fitted"`` (the default).
    fixed : bool, number, sequence or dict, optional
        ``True`` holds ``value=``; otherwise the values to hold, in the forms of
        ``value=``: ``{"const": 1}`` holds ``const`` at 1 and estimates ``power``
        (nlme's ``fixed = list(const = 1)``), ``{"const": {"F": 1}}`` holds it in
        stratum ``F`` only, ``(1, 0.5)`` holds both.
    const, power : float or dict, optional
        nlme's ``varConstPower(const =, power =)`` starting values (numbers, or dicts
        by stratum); an alternative to ``value=``.

    Examples
    --------
    nlme's ``varConstPower(const = 1, power = 0.5, fixed = list(const = 1))``:

    >>> VarConstPower(const=1, power=0.5, form="~ x", fixed={"const": 1})
    VarConstPower(form='~ x', fixed={'const': 1})
    """

    _pnames = ("const", "power")
    _defaults = (np.log(0.1), 0.0)

    def __init__(self, value=None, form="~ fitted", fixed=None, *, const=None, power=None):
        if const is not None or power is not None:
            if value is not None:
                raise ValueError("VarConstPower: give the starting values either as value= "
                                 "or as const=/power=, not both")
            value = {k: v for k, v in (("const", const), ("power", power)) if v is not None}
        super().__init__(value, form, fixed)
        self.const, self.power = const, power

    def _to_unc_one(self, j, x, what):
        x = super()._to_unc_one(j, x, what)
        if j == 0:
            if x <= 0:
                raise ValueError(f"VarConstPower {what}= const must be positive, got {x!r}")
            return float(np.log(x))
        return x

    def _to_nat(self, params):
        return np.column_stack([np.exp(params[:, 0]), params[:, 1]])

    def _log_sd_of(self, v, params):
        return np.log(np.exp(params[:, 0]) + np.abs(v) ** params[:, 1])
