"""statsmodels' door on a dask DataFrame: ``lmmext.MixedLM.from_formula(..., data=ddf)``.

The model holds no arrays (statsmodels' ``endog``/``exog`` would be the data): only the
names statsmodels' results need.  ``fit()`` runs the distributed fit of
:mod:`.fit` and returns statsmodels' results with the structures
(:class:`~lmmext.results.statsmodels_door.StructuredMixedLMResults`: ``params`` layout,
``cov_params``, ``t_test``/``f_test``/``wald_test``, ``summary()``), whose outputs as
long as the data are dask collections.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from statsmodels.base.data import handle_data
from statsmodels.regression.mixed_linear_model import MixedLM as _SMMixedLM
from statsmodels.regression.mixed_linear_model import MixedLMResultsWrapper

from ..engine.fitting import start_vector
from ..formula import RandomLevel, formula_rhs
from ..inference.statsmodels_layout import statsmodels_re_names
from ..results.statsmodels_door import StructuredMixedLMResults
from .engine import RowsOnWorkersError
from .fit import DistributedResults, _OnWorkers, fit_dask

__all__ = ["distributed_mixedlm"]


def distributed_mixedlm(base, formula, data, groups, re_formula, weights, correlation,
                        missing, contrasts):
    """The model of :meth:`lmmext.MixedLM.from_formula` (``base``) on a dask DataFrame:
    an instance of ``base`` with :class:`DistributedDoor`'s behaviour."""
    return _door_class(base)(formula, data, groups, re_formula, weights, correlation,
                             missing, contrasts)


@functools.lru_cache(maxsize=None)
def _door_class(base):
    # lmmext.MixedLM is passed in, not imported: the front doors import this package
    return type("DistributedMixedLM", (DistributedDoor, base), {"__module__": __name__})


class _NoVarianceComponents:
    names = []
    colnames = []


class DistributedDoor:
    """``lmmext.MixedLM`` of a dask DataFrame (mixed into it by
    :func:`distributed_mixedlm`).

    Members that need the data's arrays (``endog``, ``exog``, ``groups``, ``exog_re``,
    ``loglike(params)``) raise; :meth:`fit` takes ``start_params`` and ``reml``.
    """

    def __init__(self, formula, data, groups, re_formula=None, weights=None,
                 correlation=None, missing="drop", contrasts=None):
        # statsmodels' __init__ is not called: its arrays would be the data
        if not isinstance(groups, str) or groups not in data.columns:
            raise ValueError("with a dask DataFrame, groups= must name a column of data, "
                             f"got {groups!r}")
        self.formula = formula
        self._ddf = data
        self._random = [RandomLevel(groups, formula_rhs(re_formula) if re_formula else "1")]
        self.weights_struct, self.correlation = weights, correlation
        self._missing, self._contrasts = missing, contrasts
        self.use_sqrt = True
        self.reml = True
        self.exog_vc = _NoVarianceComponents()
        self.k_vc = 0

    def __getattr__(self, name):
        if name in ("endog", "exog", "groups", "exog_re", "exog_re_li", "exog_li",
                    "endog_li", "row_indices", "group_labels", "group_rows"):
            raise RowsOnWorkersError(f"the model's {name!r}")
        raise AttributeError(name)

    def loglike(self, params, profile_fe=True):
        raise RowsOnWorkersError("the model's arrays (loglike(params))")

    def _names(self, nlme):
        """statsmodels' names and sizes from the fitted frame (what its ``__init__``
        derives from the arrays)."""
        frame = nlme.frame
        outer = frame.levels[0]
        self.nobs = frame.N
        self.n_groups = outer.n_groups
        self.k_fe = len(frame.exog_names)
        self.k_re = outer.q
        self.k_re2 = self.k_re * (self.k_re + 1) // 2
        re_names = statsmodels_re_names(outer)
        one = pd.DataFrame(np.ones((1, self.k_fe)), columns=frame.exog_names)
        data = handle_data(pd.Series([0.0], name=frame.y_name), one, missing="none")
        data.xnames, data.ynames                # names cached before the row is dropped
        data.orig_exog, data.orig_endog = one.iloc[:0], data.orig_endog.iloc[:0]
        data.endog = data.exog = _OnWorkers("the model's data")
        self.data = data
        param_names, exog_re_names, _ = _SMMixedLM._make_param_names(
            self, pd.DataFrame(columns=re_names))
        data.param_names = param_names
        data.exog_re_names = exog_re_names
        data.exog_re_names_full = param_names[self.k_fe:]

    def fit(self, start_params=None, reml=True, **kwargs):
        """Fit by REML (default) or ML on the dask cluster (see
        :meth:`lmmext.MixedLM.fit`; statsmodels' optimizer options do not apply).

        Returns
        -------
        MixedLMResults
            :class:`~lmmext.results.statsmodels_door.StructuredMixedLMResults`, whose
            ``fittedvalues``, ``resid`` and ``random_effects`` are dask collections.
        """
        if kwargs:
            raise NotImplementedError(f"MixedLM.fit on a dask DataFrame: {sorted(kwargs)} "
                                      "apply to statsmodels' optimizer; pass reml= and "
                                      "start_params= only")
        self.reml = bool(reml)
        nlme = fit_dask("lme", self.formula, self._ddf, self._random, self.weights_struct,
                        self.correlation, self.reml, self._missing,
                        start_vector(start_params), self._contrasts, None)
        self._names(nlme)
        self._frame = nlme.frame
        return self._door_results(nlme._state, nlme)

    def _door_results_class(self):
        return DistributedStructuredMixedLMResults

    def _door_results(self, state, nlme):
        # statsmodels' wrapper, less its row labelling (the rows are dask collections)
        return _RowlessWrapper(super()._door_results(state, nlme)._results)


class _RowlessWrapper(MixedLMResultsWrapper):
    _wrap_attrs = {k: v for k, v in MixedLMResultsWrapper._wrap_attrs.items()
                   if v != "rows"}
    _wrap_methods = {k: v for k, v in MixedLMResultsWrapper._wrap_methods.items()
                     if v != "rows"}


class DistributedStructuredMixedLMResults(DistributedResults, StructuredMixedLMResults):
    """statsmodels' results of a :class:`DistributedMixedLM` fit: ``fittedvalues``,
    ``resid`` and ``random_effects`` (outermost level, one row per group) are dask
    collections; the rest as in memory."""

    @property
    def fittedvalues(self):
        return self.nlme.fittedvalues

    @property
    def resid(self):
        return self.nlme.resid

    @property
    def random_effects(self):
        """BLUPs per group: a dask DataFrame indexed by the group labels, columns named as
        statsmodels names them (in memory: statsmodels' dict of Series)."""
        names = dict(zip(self._state.frame.levels[0].z_names,
                         self.model.data.exog_re_names))
        return self.nlme.random_effects.rename(columns=names)

    @property
    def random_effects_cov(self):
        raise RowsOnWorkersError("the groups' conditional covariances")

    def _group_sizes(self):
        outer = self._state.frame.levels[0]
        return (outer.n_groups, *outer.size_range)
