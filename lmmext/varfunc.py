"""Variance functions (nlme's varFunc classes).

Every variance function follows one protocol, used by the likelihood engine:

``initialize(data, eval_env)``
    bind to the model frame (rows in engine order): evaluate the covariate, find the
    strata, validate, set starting values.
``n_params``, ``start()``, ``param_names()``
    the free parameters on the unconstrained scale the optimizer sees.
``weights(theta)``
    nlme's variance weights ``w_j`` (the *inverse* SD multiplier):
    ``Var(e_j) = sigma^2 / w_j^2``.  The engine multiplies rows by ``w`` and adds
    ``sum(log w)`` to the log-likelihood.
``coefficients(theta)``
    the parameters on nlme's reported scale, all of them (fixed ones included), as
    ``coef(varFunc, unconstrained = FALSE, allCoef = TRUE)`` prints them.
``uses_fitted`` / ``set_fitted(mu)``
    for ``form = "~ fitted"``: the engine supplies the current fitted values.

A new variance function is one subclass of :class:`_CovariateVarFunc` (or of
:class:`VarFunc`) implementing ``_log_sd`` -- the log of the SD multiplier ``1/w``.
"""
from __future__ import annotations

import itertools
import numbers

import numpy as np
import pandas as pd

from .formula import eval_covariate, parse_struct_form
from .natural_scale import ApVarScale
from .optimize import central_differences

__all__ = ["VarFunc", "VarFixed", "VarIdent", "VarPower", "VarExp",
           "VarConstPower", "VarComb"]


def _stratum_labels(data, names, what):
    """Row labels and level order of the (interaction) stratum ``names``.

    Level order follows the Categorical order of each factor (else sorted values);
    interaction labels are joined with ``'*'`` as nlme does.  Only combinations that
    occur in the data are levels.
    """
    per_factor = []
    for n in names:
        if n not in data.columns:
            raise KeyError(f"{what}: unknown column {n!r} in the stratum")
        col = data[n]
        if isinstance(col.dtype, pd.CategoricalDtype):
            order = [str(c) for c in col.cat.categories]
        else:
            vals = pd.unique(col.dropna())
            try:
                order = [str(v) for v in sorted(vals)]
            except TypeError:
                order = sorted(str(v) for v in vals)
        per_factor.append((col.astype(str).to_numpy(), order))
    labels = per_factor[0][0].astype(object)
    for lab, _ in per_factor[1:]:
        labels = labels + "*" + lab.astype(object)
    rank = {}
    # lexicographic order of the factors' level positions, first factor slowest
    for combo in itertools.product(*[o for _, o in per_factor]):
        rank.setdefault("*".join(combo), len(rank))
    present = set(labels)
    levels = [lev for lev in sorted(rank, key=rank.get) if lev in present]
    return labels, levels


class VarFunc(ApVarScale):
    """Base class of the variance functions (nlme's ``varFunc``).

    A variance function sets ``Var(e_j) = sigma^2 / w_j^2``; the engine multiplies the
    rows of the model by the weights ``w_j`` and adds ``sum(log w_j)`` to the
    log-likelihood.  Subclasses set ``self._free`` (boolean mask over all parameters),
    ``self._all`` (all parameters on the unconstrained scale, fixed ones included) and
    ``self._names`` in :meth:`initialize`, and implement ``_log_sd(all_params)``, the log
    of the SD multiplier ``1 / w``.

    Parameters
    ----------
    value : float, dict or sequence, optional
        Starting values on the reported scale.
    form : str
        nlme one-sided formula ``"~ v"``, ``"~ v | s"`` or ``"~ 1 | s"``.
    fixed : bool, float or dict, optional
        Parameters to hold; the meaning depends on the subclass, as in nlme.
    """

    uses_fitted = False
    _default_value = 0.0

    def __init__(self, value=None, form="~ 1", fixed=None):
        self.value = value
        self.fixed = fixed
        self.form = parse_struct_form(form, f"{type(self).__name__} form")
        self._initialized = False

    # -- protocol -----------------------------------------------------------
    @property
    def n_params(self):
        """Number of free parameters (the optimizer's)."""
        self._check_init()
        return int(self._free.sum())

    def start(self):
        """Starting values of the free parameters on the unconstrained scale.

        Returns
        -------
        ndarray
        """
        self._check_init()
        return self._all[self._free].copy()

    def param_names(self):
        """Names of the free parameters.

        Returns
        -------
        list of str
        """
        self._check_init()
        return [n for n, f in zip(self._names, self._free) if f]

    def weights(self, theta):
        """nlme's variance weights ``w_j = 1 / (SD multiplier)`` of every row.

        Parameters
        ----------
        theta : array_like
            Free parameters on the unconstrained scale.

        Returns
        -------
        ndarray
        """
        return np.exp(-self._log_sd(self._full(theta)))

    def log_weights(self, theta):
        """``log w_j`` of every row (see :meth:`weights`).

        Parameters
        ----------
        theta : array_like
            Free parameters on the unconstrained scale.

        Returns
        -------
        ndarray
        """
        return -self._log_sd(self._full(theta))

    def log_weights_jacobian(self, theta):
        """``(k, N)`` derivatives of ``log w`` with respect to the free parameters
        (central differences of this cheap map)."""
        return central_differences(self.log_weights, theta, 1e-6)

    @property
    def stratum_codes(self):
        """Integer code per row when ``log w`` is constant within each code for every
        parameter value (VarIdent), else ``None``.  The engine then forms the
        cross-products of each (group, stratum) cell once and only rescales them."""
        return None

    def coefficients(self, theta=None):
        """All parameters on nlme's reported scale, fixed ones included.

        As nlme's ``coef(varFunc, unconstrained = FALSE, allCoef = TRUE)``; this is what the
        results report as ``variance_params``.

        Parameters
        ----------
        theta : array_like, optional
            Free parameters on the unconstrained scale; default the starting values.

        Returns
        -------
        pandas.Series
        """
        self._check_init()
        full = self._full(self.start() if theta is None else theta)
        return pd.Series(self._natural(full), index=list(self._names), dtype=float)

    def set_fitted(self, mu):  # pragma: no cover - only covariate functions use it
        """Supply the current fitted values (for covariates ``"~ fitted"``).

        Parameters
        ----------
        mu : ndarray
            Fitted values, rows in engine order.
        """
        pass

    # -- helpers --------------------------------------------------------------
    def _check_init(self):
        if not self._initialized:
            raise RuntimeError(f"{type(self).__name__} is not initialized on data yet")

    def _full(self, theta):
        out = self._all.copy()
        theta = np.asarray(theta, dtype=float)
        if theta.size != self._free.sum():
            raise ValueError(f"{type(self).__name__}: expected {self._free.sum()} "
                             f"parameters, got {theta.size}")
        out[self._free] = theta
        return out

    def _natural(self, full):
        return full

    def describe(self):
        """One-line description for summaries.

        Returns
        -------
        str
        """
        return f"{type(self).__name__}(form={self.form.text!r})"

    def __repr__(self):
        return self.describe()


class VarFixed(VarFunc):
    """Variance proportional to a covariate (nlme's ``varFixed``).

    ``Var(e_j) = sigma^2 |v_j|``: the SD multiplier is ``sqrt(|v_j|)``; nothing is
    estimated.

    Parameters
    ----------
    form : str
        ``"~ v"``: a covariate (no stratum), which must be positive.

    See Also
    --------
    VarPower : with ``fixed=0.5`` the same variance function.
    """

    def __init__(self, form="~ 1"):
        super().__init__(None, form, None)
        if self.form.covariate is None or self.form.grouping:
            raise ValueError(f"VarFixed needs a covariate and no stratum, e.g. '~ age'; got {form!r}")

    def initialize(self, data, eval_env=None):
        """Evaluate the covariate on the model frame and check it.

        Parameters
        ----------
        data : pandas.DataFrame
            Model-frame rows in engine order.
        eval_env : patsy.EvalEnvironment, optional
            Namespace for covariate expressions.

        Raises
        ------
        ValueError
            If the covariate is not positive.
        """
        v = eval_covariate(self.form.covariate, data, eval_env, "VarFixed covariate")
        if np.any(~np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"VarFixed covariate {self.form.covariate!r} must be positive "
                             f"(min {np.nanmin(v):g})")
        self._logv = 0.5 * np.log(v)
        self._all = np.zeros(0)
        self._free = np.zeros(0, dtype=bool)
        self._names = []
        self._initialized = True

    def _log_sd(self, full):
        return self._logv


class VarIdent(VarFunc):
    """One residual SD per stratum (nlme's ``varIdent``).

    ``Var(e_j) = sigma^2 delta_s^2`` for observations in stratum ``s``, with
    ``delta_ref = 1`` for the reference stratum; the ``delta_s`` are SD ratios to the
    reference stratum.  The optimizer works on ``log delta_s``; ``variance_params``
    reports the ratios, the reference's as 1.

    Parameters
    ----------
    value : float or dict, optional
        Starting ratios: a single number for all non-reference strata, or a dict
        ``{stratum: ratio}``.
    form : str
        ``"~ 1 | s"`` or ``"~ 1 | s1*s2"`` (strata labelled ``"a*b"``).
    fixed : bool or dict, optional
        ``True`` holds the ``value=`` ratios; a dict ``{stratum: ratio}`` (nlme's
        ``fixed = c(stratum = ratio)``) holds those strata at those ratios.
    ref : str, optional
        The reference stratum; default the first level (Categorical order, else
        sorted).  nlme uses the first stratum of its sorted data instead; the two
        agree whenever the data are ordered by level.
    """

    def __init__(self, value=None, form="~ 1", fixed=None, ref=None):
        super().__init__(value, form, fixed)
        self.ref = ref
        if not self.form.grouping:
            raise ValueError(f"VarIdent needs a stratum, e.g. form='~ 1 | Sex'; got {form!r}")

    def initialize(self, data, eval_env=None):
        """Find the strata on the model frame, the reference stratum and the starting values.

        Parameters
        ----------
        data : pandas.DataFrame
            Model-frame rows in engine order.
        eval_env : patsy.EvalEnvironment, optional
            Unused (the strata are columns).

        Raises
        ------
        ValueError
            If ``ref=``, ``value=`` or ``fixed=`` name strata that are not in the data, or a
            ratio is not positive.
        """
        labels, levels = _stratum_labels(data, self.form.grouping, "VarIdent")
        ref = levels[0] if self.ref is None else str(self.ref)
        if ref not in levels:
            raise ValueError(f"VarIdent ref={self.ref!r} is not a stratum in the data "
                             f"(strata: {levels})")
        others = [lev for lev in levels if lev != ref]
        start = dict.fromkeys(others, 0.0)
        if self.value is not None:
            if isinstance(self.value, dict):
                self._check_names(self.value, levels, "value")
                bad = [k for k in self.value if str(k) == ref]
                if bad:
                    raise ValueError(f"VarIdent value= names the reference stratum {ref!r}")
                start.update({str(k): self._log_ratio(v, k) for k, v in self.value.items()})
            else:
                lv = self._log_ratio(self.value, "value")
                start = dict.fromkeys(others, lv)
        fixed = {}
        if self.fixed is True:
            # hold the value= ratios (all non-reference strata when value is a number)
            if self.value is None:
                raise ValueError("VarIdent fixed=True needs value= (the ratios to hold)")
            fixed = {o: start[o] for o in others
                     if not isinstance(self.value, dict) or o in map(str, self.value)}
        elif self.fixed not in (None, False):
            if not isinstance(self.fixed, dict):
                raise ValueError("VarIdent fixed= must be True/False (hold value=) or a dict "
                                 "{stratum: ratio} (nlme's form)")
            self._check_names(self.fixed, levels, "fixed")
            fixed = {str(k): self._log_ratio(v, k) for k, v in self.fixed.items()}
            if ref in fixed:
                raise ValueError(f"VarIdent fixed= names the reference stratum {ref!r}")
            start.update(fixed)
        self.levels = [ref] + others
        self.reference = ref
        codes = pd.Categorical(labels, categories=self.levels).codes
        self._codes = np.asarray(codes)
        self._names = others
        self._all = np.array([start[o] for o in others], dtype=float)
        self._free = np.array([o not in fixed for o in others], dtype=bool)
        self._initialized = True

    @staticmethod
    def _log_ratio(v, name):
        if not isinstance(v, numbers.Real) or not np.isfinite(v) or v <= 0:
            raise ValueError(f"VarIdent ratio for {name!r} must be a positive number, got {v!r}")
        return float(np.log(v))

    @staticmethod
    def _check_names(d, levels, what):
        missing = [k for k in d if str(k) not in levels]
        if missing:
            raise ValueError(f"VarIdent {what}= names strata not in the data: {missing} "
                             f"(strata: {levels})")

    @property
    def stratum_codes(self):
        self._check_init()
        return self._codes

    def log_weights_jacobian(self, theta):
        # log w = -(log ratio of the row's stratum): exactly -1 on the stratum's rows
        self._check_init()
        free = np.flatnonzero(self._free) + 1          # stratum codes of free ratios
        return -(self._codes[None, :] == free[:, None]).astype(float)

    def _log_sd(self, full):
        return np.concatenate([[0.0], full])[self._codes]

    def _natural(self, full):
        return np.exp(full)

    def coefficients(self, theta=None):
        """The SD ratios of all strata, the reference stratum's (1) first.

        Parameters
        ----------
        theta : array_like, optional
            Free parameters (log ratios); default the starting values.

        Returns
        -------
        pandas.Series
        """
        s = super().coefficients(theta)
        return pd.concat([pd.Series({self.reference: 1.0}), s])


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
            labels, levels = _stratum_labels(data, self.form.grouping, name)
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


class VarComb(VarFunc):
    """Product of variance functions (nlme's ``varComb``).

    The SD multipliers multiply (the log-weights add); the parameters are concatenated
    in the given order and reported with the prefixes ``A.``, ``B.``, ... as nlme does,
    e.g. ``A.Female``, ``B.power``.

    Parameters
    ----------
    *varfuncs : VarFunc
        Two or more variance functions.
    """

    def __init__(self, *varfuncs):
        if len(varfuncs) < 2 or not all(isinstance(v, VarFunc) for v in varfuncs):
            raise ValueError("VarComb needs two or more variance functions")
        self.parts = list(varfuncs)
        self.form = varfuncs[0].form
        self.uses_fitted = any(v.uses_fitted for v in varfuncs)
        self._initialized = False

    def initialize(self, data, eval_env=None):
        """Initialize every component on the model frame.

        Parameters
        ----------
        data : pandas.DataFrame
            Model-frame rows in engine order.
        eval_env : patsy.EvalEnvironment, optional
            Namespace for covariate expressions.
        """
        for v in self.parts:
            v.initialize(data, eval_env)
        self._sizes = [v.n_params for v in self.parts]
        self._initialized = True

    @property
    def n_params(self):
        """Number of free parameters of all components."""
        return sum(v.n_params for v in self.parts)

    def start(self):
        """Starting values of all components' free parameters, concatenated.

        Returns
        -------
        ndarray
        """
        return np.concatenate([v.start() for v in self.parts])

    def param_names(self):
        """Free parameter names, prefixed ``A.``, ``B.``, ...

        Returns
        -------
        list of str
        """
        return [f"{chr(65 + i)}.{n}" for i, v in enumerate(self.parts) for n in v.param_names()]

    def _split(self, theta):
        return np.split(np.asarray(theta, dtype=float), np.cumsum(self._sizes)[:-1])

    def log_weights(self, theta):
        """Sum of the components' log-weights.

        Parameters
        ----------
        theta : array_like
            Free parameters of all components, concatenated.

        Returns
        -------
        ndarray
        """
        return sum(v.log_weights(t) for v, t in zip(self.parts, self._split(theta)))

    def weights(self, theta):
        """Product of the components' weights.

        Parameters
        ----------
        theta : array_like
            Free parameters of all components, concatenated.

        Returns
        -------
        ndarray
        """
        return np.exp(self.log_weights(theta))

    def coefficients(self, theta=None):
        """All components' reported parameters, prefixed ``A.``, ``B.``, ...

        Parameters
        ----------
        theta : array_like, optional
            Free parameters of all components; default the starting values.

        Returns
        -------
        pandas.Series
        """
        theta = self.start() if theta is None else theta
        out = []
        for i, (v, t) in enumerate(zip(self.parts, self._split(theta))):
            c = v.coefficients(t)
            c.index = [f"{chr(65 + i)}.{n}" for n in c.index]
            out.append(c)
        return pd.concat(out)

    def set_fitted(self, mu):
        """Pass the fitted values to the components that use them.

        Parameters
        ----------
        mu : ndarray
            Fitted values, rows in engine order.
        """
        for v in self.parts:
            if v.uses_fitted:
                v.set_fitted(mu)

    def describe(self):
        """One-line description for summaries.

        Returns
        -------
        str
        """
        return "VarComb(" + ", ".join(v.describe() for v in self.parts) + ")"
