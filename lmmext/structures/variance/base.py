"""The variance-function protocol (nlme's varFunc): the base class every variance
function subclasses, and the strata they share.

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

A new variance function is one subclass of ``_CovariateVarFunc`` (in ``covariate``) or
of :class:`VarFunc`, implementing ``_log_sd`` -- the log of the SD multiplier ``1/w``.

The concrete classes live one concept to a module beside this one: ``fixed``
(VarFixed), ``ident`` (VarIdent), ``covariate`` (VarPower, VarExp, VarConstPower) and
``comb`` (VarComb).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..form import parse_struct_form, value_strings
from ..natural_scale import ApVarScale
from ..numdiff import central_differences

__all__ = ["VarFunc", "stratum_labels"]


def stratum_labels(data, names, what, present=None):
    """Row labels and level order of the (interaction) stratum ``names``.

    Level order follows the Categorical order of each factor (else sorted values);
    interaction labels are joined with ``'*'`` as nlme does.  Only combinations that
    occur in the data are levels (or in ``present``, the labels of the whole data when
    ``data`` is a partition of it).
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
        per_factor.append((value_strings(col), order))
    labels = per_factor[0][0]
    for lab, _ in per_factor[1:]:
        labels = labels + "*" + lab
    rank = {}
    # lexicographic order of the factors' level positions, first factor slowest
    for combo in itertools.product(*[o for _, o in per_factor]):
        rank.setdefault("*".join(combo), len(rank))
    present = set(labels) | set(present or ())
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
        Parameters to hold; the meaning depends on the subclass, as in nlme.  A dict may
        name a subset of the parameters (``{"const": 1}``) or of the strata.
    """

    uses_fitted = False
    _default_value = 0.0
    #: the strata of the whole data, set before :meth:`initialize` on a partition of it
    #: (a distributed fit), so every partition has the same strata and parameters
    strata_present = None

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

    def fixed_params(self):
        """The parameters held by ``fixed=`` (or ``fixed=True``), on nlme's reported scale.

        Returns
        -------
        pandas.Series
            Empty when every parameter is estimated.
        """
        self._check_init()
        held = ~self._free
        return pd.Series(self._natural(self._all)[held],
                         index=[n for n, h in zip(self._names, held) if h], dtype=float)

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
        text = f"{type(self).__name__}(form={self.form.text!r}"
        fixed = getattr(self, "fixed", None)
        if fixed is True:
            text += f", value={self.value!r}, fixed=True"
        elif fixed is not None and fixed is not False:
            text += f", fixed={fixed!r}"
        return text + ")"

    def __repr__(self):
        return self.describe()
