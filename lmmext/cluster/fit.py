"""``lme()`` and ``gls()`` on a dask DataFrame: prepare the partitions, maximize the
criterion by map-reduces, and return the usual results, whose outputs as long as the
data (fitted values, residuals, random effects) are dask collections."""
from __future__ import annotations

import pandas as pd

from ..engine.fitting import FitState, initial_theta, optimize_engine, warn_fit
from ..inference.emmeans import DataSummary
from ..results.gls import GLSResults
from ..results.lme import LMEResults, init_mixedlm_results
from .engine import DistributedLikelihood, RowsOnWorkersError
from .prepare import prepare
from .quantiles import exact_quantiles

__all__ = ["fit_dask"]


def _client():
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


class _OnWorkers:
    """Stands for an array as long as the data that stays on the workers: any use
    raises :class:`RowsOnWorkersError`."""

    def __init__(self, what):
        self.what = what

    def _refuse(self, *args, **kwargs):
        raise RowsOnWorkersError(self.what)

    __array__ = __len__ = __getitem__ = __iter__ = __mul__ = __rmul__ = __sub__ = _refuse
    __rsub__ = __add__ = __radd__ = __matmul__ = __rmatmul__ = _refuse

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        self._refuse()


class DaskSummary:
    """:class:`~lmmext.inference.emmeans.DataSummary` of the model's rows held as a
    dask DataFrame: covariate means and factor-combination counts by one pass each."""

    def __init__(self, rows, n_rows):
        self.rows = rows
        self.columns = rows.columns
        self.n_rows = n_rows

    def mean(self, name):
        return float(self.rows[name].astype(float).mean().compute())

    def counts(self, names, categories):
        # one row per combination present, weighted by its count
        sizes = self.rows.groupby(list(names), observed=True).size().compute()
        cells = sizes.rename("__rows__").reset_index()
        return DataSummary(cells).counts(names, categories, weights="__rows__")


class DistributedFrame:
    """The model frame of a fit to a dask DataFrame: the model's names, design
    information and structures (of a template partition), the whole data's counts and
    levels; members as long as the data raise (see :class:`_OnWorkers`)."""

    _ROWS = ("data", "order", "index", "y", "X", "source", "source_rows")

    def __init__(self, prepared):
        self._template = prepared.template
        self._prepared = prepared
        self.levels = prepared.levels
        self.N = prepared.N
        self.n_dropped = prepared.n_dropped

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._ROWS:
            return _OnWorkers(f"the model frame's {name!r}")
        if name == "to_caller_order":
            return _OnWorkers("the rows")._refuse
        return getattr(self._template, name)

    has_rows = False

    def response_moments(self):
        return self._prepared.y_moments

    def data_summary(self):
        return DaskSummary(self._prepared.rows, self.N)

    def containment_df(self):
        from ..inference.containment import containment_df
        return containment_df(None, self.levels, self._template.terms(),
                              variation=self._prepared.variation, N=self.N)


class DistributedResults:
    """What a fit to a dask DataFrame does differently from one in memory: outputs as
    long as the data are dask collections, computed by the partitions from the
    estimates (mixed into :class:`LMEResults` and :class:`GLSResults`)."""

    def _init_statsmodels(self, model, params, normalized_cov):
        # the design's full rank was checked on the whole data
        init_mixedlm_results(self, model, params, normalized_cov, model.k_fe)

    def _collection(self, method, columns, *args, index_name=None):
        """The dask DataFrame of every partition's ``method(theta, criterion, *args)``
        (float ``columns``)."""
        import dask.dataframe as dd
        st = self._state
        crit = st.engine.criterion(st.theta)
        meta = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
        meta.index.name = index_name
        return dd.from_delayed(st.engine.executor.delayed(method, st.theta, crit, *args),
                               meta=meta, verify_meta=False)

    def _rows(self, level=None):
        return self._collection("rows", ["fitted", "resid", "pearson"], level)

    def _pearson_quantiles(self, probs):
        st = self._state
        return exact_quantiles(st.engine.executor, st.theta,
                               st.engine.criterion(st.theta), probs)

    def _level_number(self, level):
        # a gls has no grouping levels (in memory its level= is ignored too)
        return None if level is None or self._is_gls else self._resolve_level(level)

    @property
    def fittedvalues(self):
        """Fitted values at the innermost level: a dask Series indexed as the data."""
        return self._rows()["fitted"]

    @property
    def resid(self):
        """Response residuals: a dask Series indexed as the data."""
        return self._rows()["resid"]

    @property
    def resid_pearson(self):
        """Pearson residuals: a dask Series indexed as the data."""
        return self._rows()["pearson"]

    def residuals(self, type="response", level=None):
        """Response or Pearson residuals at one level: a dask Series indexed as the data
        (normalized residuals need the rows in memory)."""
        kinds = {"response": "resid", "r": "resid", "pearson": "pearson", "p": "pearson"}
        if type not in kinds:
            raise NotImplementedError(f"residuals(type={type!r}) of a fit to a dask "
                                      "DataFrame: 'response' or 'pearson'")
        return self._rows(self._level_number(level))[kinds[type]]

    def _ranef_level(self, k):
        lev = self.frame.levels[k]
        return self._collection("random_effects", lev.z_names, k, index_name=lev.name)

    def ranef(self):
        """The BLUPs, as nlme's ``ranef(fit)``: a dask DataFrame indexed by the group
        labels (nested groups ``outer/inner``), one column per random effect; with
        several grouping levels a dict of them keyed by the grouping factor."""
        out = {lev.name: self._ranef_level(k) for k, lev in enumerate(self.frame.levels)}
        return next(iter(out.values())) if len(out) == 1 else out

    @property
    def random_effects(self):
        """BLUPs of the outermost grouping level: a dask DataFrame indexed by the group
        labels (in memory: statsmodels' dict of Series)."""
        return self._ranef_level(0)


class DistributedLMEResults(DistributedResults, LMEResults):
    """:class:`~lmmext.results.lme.LMEResults` of a fit to a dask DataFrame."""

    def fitted(self, level=None):
        """Fitted values at one level (0 or ``"fixed"``: ``X beta``; default the
        innermost): a dask Series indexed as the data."""
        return self._rows(self._level_number(level))["fitted"]

    def predict(self, exog=None, level=0, newdata=None):
        """Predictions for new data (in memory) at level 0; at the grouping levels the
        random effects are needed in memory: ``fit.ranef().compute()``."""
        if self._level_number(level):
            raise NotImplementedError(
                "predict(level > 0) of a fit to a dask DataFrame needs the random effects "
                "in memory: compute fit.ranef() and add them to predict(level=0)")
        return super().predict(exog, level=0, newdata=newdata)


class DistributedGLSResults(DistributedResults, GLSResults):
    """:class:`~lmmext.results.gls.GLSResults` of a fit to a dask DataFrame."""


class DistributedModel:
    """The model object of a fit to a dask DataFrame: its names and structures (the
    statsmodels model of a fit in memory holds the data's arrays)."""

    def __init__(self, frame, kind):
        self._frame = frame
        self.formula = frame.formula
        self.exog_names = list(frame.exog_names)
        self.endog_names = frame.y_name
        self.nobs = frame.N
        self.k_fe = len(self.exog_names)
        self.weights_struct = frame.varfunc
        self.correlation = frame.corstruct
        self.kind = kind
        self.data = _ModelData(self.exog_names, frame.y_name)

    def __getattr__(self, name):
        if name in ("endog", "exog", "exog_re", "groups", "wexog", "wendog"):
            return _OnWorkers(f"the model's {name!r}")
        raise AttributeError(name)


class _ModelData:
    def __init__(self, names, y_name):
        self.param_names = self.xnames = list(names)
        self.ynames = y_name
        self.cov_names = None

    def __getattr__(self, name):
        if name in ("orig_endog", "orig_exog", "endog", "exog", "row_labels", "frame"):
            return _OnWorkers(f"the model's data ({name!r})")
        raise AttributeError(name)


def fit_dask(kind, formula, data, random, weights, correlation, reml, missing, start,
             contrasts, subset, max_evals=None):
    """Fit an lme (``kind="lme"``) or gls model to a dask DataFrame on the current
    ``dask.distributed`` client (or in this process with dask's default scheduler)."""
    prepared = prepare(kind, formula, data, random, weights, correlation, missing,
                       contrasts, subset, reml, _client())
    engine = DistributedLikelihood(prepared.executor, prepared.template, prepared.levels,
                                   prepared.shared, prepared.N,
                                   len(prepared.template.exog_names), reml)
    info = optimize_engine(engine, initial_theta(engine, start), max_evals)
    ev = engine.evaluate(info.x, keep=True)
    ev.log_w = _OnWorkers("the variance weights")
    frame = DistributedFrame(prepared)
    state = FitState(frame, engine, info.x, ev, [], info, reml)
    warn_fit(state)
    model = DistributedModel(frame, kind)
    cls = DistributedLMEResults if kind == "lme" else DistributedGLSResults
    return cls(model, state)
