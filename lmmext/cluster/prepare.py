"""From a dask DataFrame to partitions held by the workers: the model's columns, rows
without missing values, factor levels known to every partition, every outermost group
in one partition (a shuffle by the group key), each partition's frame and engine built
with the whole data's coordinates.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ..engine.levels import design_transform
from ..engine.likelihood import SharedTransforms
from ..engine.linalg import gram_transforms
from ..frame import _parts, model_columns
from ..structures.variance.base import stratum_labels
from .engine import Executor, LevelSummary
from .partition import Partition

__all__ = ["DistributedData", "prepare"]


class DistributedData:
    """The prepared partitions and what the driver knows of the whole data."""

    def __init__(self, executor, template, levels, shared, N, n_dropped, variation,
                 y_moments, rows):
        self.executor = executor
        self.template = template
        self.levels = levels
        self.shared = shared
        self.N = N
        self.n_dropped = n_dropped
        self.variation = variation
        self.y_moments = y_moments
        self.rows = rows                   # the model's rows, lazily (a dask DataFrame)


def _unsupported(what):
    return NotImplementedError(f"{what} cannot be fitted on a dask DataFrame yet; fit it "
                               "in memory (data=ddf.compute())")


def _check_supported(random, weights, correlation, kind, subset):
    if subset is not None:
        raise NotImplementedError("subset= with a dask DataFrame: select the rows first "
                                  "(ddf[ddf.Sex == 'Female'])")
    if any(lv.terms is not None for lv in random):
        raise _unsupported("crossed random effects ((1 | a) + (1 | b))")
    if any(part.uses_fitted for part in _parts(weights)):
        raise _unsupported("a variance function of the fitted values")
    if kind == "gls" and correlation is not None and not correlation.form.grouping:
        raise ValueError("a correlation structure without groups makes the whole data one "
                         "block, which cannot be split across workers: give its groups, "
                         "e.g. CorAR1(form='~ visit | subject')")


def _outer_keys(random, correlation, kind):
    if kind == "lme":
        return list(random[0].grouping)
    if correlation is not None:
        return list(correlation.form.grouping)
    return []                              # independent rows: no shuffle


def _design_columns(formula, columns, random, weights, correlation):
    """The columns that enter a design or a structure's covariate or strata (whose
    levels every partition must know); the others only group rows."""
    texts = [formula] + [lv.formula for lv in random]
    if correlation is not None and correlation.form.covariate:
        texts.append(correlation.form.covariate)
    return model_columns(" + ".join(texts), columns, weights=weights)


def _known_categoricals(ddf, columns):
    """Every string or unknown-categorical column of ``columns`` as a categorical with
    the sorted values of the whole data (what patsy and nlme's level order give in
    memory)."""
    todo = []
    for c in columns:
        dt = ddf[c].dtype
        if isinstance(dt, pd.CategoricalDtype):
            if not ddf[c].cat.known:
                todo.append(c)
        elif dt == object or pd.api.types.is_string_dtype(dt):
            todo.append(c)
    if not todo:
        return ddf
    import dask
    values = dask.compute(*[ddf[c].dropna().unique() for c in todo])
    for c, v in zip(todo, values):
        v = pd.unique(np.asarray(v, dtype=object))
        try:
            cats = sorted(v)
        except TypeError:
            cats = sorted(v, key=str)
        ddf[c] = ddf[c].astype(pd.CategoricalDtype(cats))
    return ddf


def _strata_present(ddf, weights):
    """Set every stratified variance function's ``strata_present`` from the whole data."""
    for part in _parts(weights):
        g = list(part.form.grouping)
        if g:
            combos = ddf[g].drop_duplicates().compute()
            part.strata_present = stratum_labels(combos, g, type(part).__name__)[1]


def _combine_variation(a, b):
    return (a[0] | b[0], np.minimum(a[1], b[1]), np.maximum(a[2], b[2]))


def prepare(kind, formula, ddf, random, weights, correlation, missing, contrasts, subset,
            reml, client):
    """Partitions of ``ddf`` on the workers (see the module docstring) and the whole
    data's coordinates: a :class:`DistributedData`."""
    _check_supported(random, weights, correlation, kind, subset)
    if missing not in ("drop", "raise"):
        raise ValueError(f"missing= must be 'drop' or 'raise', got {missing!r}")
    weights = copy.deepcopy(weights)
    used = model_columns(formula, list(ddf.columns), random, weights, correlation)
    for c in (g for lv in random for g in lv.grouping):
        if c not in ddf.columns:
            raise KeyError(f"random=: unknown column {c!r}")
    ddf = ddf[used]
    n_all = ddf.shape[0]
    kept = ddf.dropna()
    import dask
    n_all, n_kept = dask.compute(n_all, kept.shape[0])
    if n_kept < n_all and missing == "raise":
        raise ValueError(f"missing values in the model's columns ({n_all - n_kept} rows); "
                         "use missing='drop' to drop them")
    if n_kept == 0:
        raise ValueError("no rows left after dropping missing values")
    ddf = _known_categoricals(
        kept, _design_columns(formula, used, random, weights, correlation))
    _strata_present(ddf, weights)
    rows = ddf
    keys = _outer_keys(random, correlation, kind)
    if keys:
        # every outermost group in one partition
        ddf = ddf.shuffle(on=keys)
    builds = [dask.delayed(Partition.build)(p, formula, random, weights, correlation, kind,
                                            contrasts) for p in ddf.to_delayed()]
    if client is not None:
        parts = client.compute(builds)
        empty = client.gather(client.map(lambda p: p is None, parts, pure=False))
        parts = [p for p, e in zip(parts, empty) if not e]
    else:
        parts = [p for p in dask.compute(*builds) if p is not None]
    executor = Executor(parts, client)
    shares = executor.reduce("data_shares")
    exog_names = list(shares.names[0])
    aliased, xT, b0 = gram_transforms(shares.XtX, shares.Xty, shares.n, exog_names)
    if aliased:
        raise ValueError(f"the fixed-effects design is rank deficient: column(s) {aliased} "
                         "are linear combinations of the others (aliased)")
    if shares.n <= len(exog_names):
        raise ValueError(f"{shares.n} observations are too few for {len(exog_names)} "
                         "fixed effects")
    template = executor.first("template")
    if kind == "lme" and shares.n_groups[0] < 2 and random[0].pd_class != "pdBlocked":
        raise ValueError(f"grouping factor {random[0].name!r} has only one level; "
                         "a random effect needs at least two groups")
    levels = [LevelSummary(lev, *rest) for lev, *rest in
              zip(template.levels, shares.n_groups, shares.moments, shares.z_sq,
                  shares.size_range)]
    shared = SharedTransforms([design_transform(lev, mom) for lev, mom in
                               zip(template.levels, shares.moments)], xT, b0)
    variation = (executor.reduce("column_variation", combine=_combine_variation)
                 if kind == "lme" else None)
    executor.update("start_engine", reml, shared)
    cs = template.corstruct
    if executor.reduce("cannot_score"):
        raise _unsupported(f"{type(cs).__name__} on these data (its score needs a "
                           "differentiable structure and groups small enough for dense "
                           "per-group algebra)")
    return DistributedData(executor, template, levels, shared, shares.n, n_all - n_kept,
                           variation, tuple(shares.y_moments), rows)
