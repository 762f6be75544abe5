"""One partition of a distributed fit, as it lives on a worker: whole outermost groups,
their model frame built with the whole data's factor levels and strata, and the engine
on their rows.  Every method returns a small share of a sum over outermost groups
(cross-products, log-determinants, scores, average information), or the partition's
rows of an output as long as the data; only ``theta`` and a few ``p``-sized arrays
travel to it.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from ..engine.average_information import information_shares
from ..engine.levels import DesignMoments, Level
from ..engine.likelihood import ProfiledLikelihood
from ..frame import build_frame
from ..inference.containment import column_variation

__all__ = ["DataShares", "Partition", "add_shares"]


@dataclass
class DataShares:
    """What the whole data's engine coordinates need from one partition (sums over its
    rows): rows, ``X'X``, ``X'y``, ``(sum y, sum y^2)``, and per level its groups,
    their smallest and largest sizes, the column sums of ``Z * Z`` and the design's
    moments; and its structures' starting values and names, which must agree with
    every other partition's."""

    n: int
    XtX: np.ndarray
    Xty: np.ndarray
    y_moments: np.ndarray
    n_groups: list
    size_range: list
    z_sq: list
    moments: list
    names: tuple


def add_shares(a, b):
    """The sum of two shares (tuples, dicts, arrays and numbers, recursively);
    ``None`` is the empty share."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, DataShares):
        if a.names != b.names:
            raise ValueError(_disagree(a.names, b.names))
        return DataShares(a.n + b.n, a.XtX + b.XtX, a.Xty + b.Xty, a.y_moments + b.y_moments,
                          [x + y for x, y in zip(a.n_groups, b.n_groups)],
                          [(min(x[0], y[0]), max(x[1], y[1]))
                           for x, y in zip(a.size_range, b.size_range)],
                          [x + y for x, y in zip(a.z_sq, b.z_sq)],
                          [x.combine(y) for x, y in zip(a.moments, b.moments)], a.names)
    if isinstance(a, tuple):
        return tuple(add_shares(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return {k: add_shares(a[k], b[k]) for k in a}
    return a + b


def _disagree(a, b):
    for what, x, y in zip(("fixed-effects columns", "random-effects columns",
                           "variance-function parameters", "correlation parameters",
                           "starting values"), a, b):
        if x != y and what == "starting values":
            return (f"partitions of the data disagree on the structures' default starting "
                    f"values ({list(x)} vs {list(y)}): they depend on each partition's "
                    "data (the spatial classes' range starts at 0.9 x the smallest "
                    "distance); give them explicitly with value=, e.g. "
                    "CorExp(value=2.0, form='~ t | g')")
        if x != y:
            return (f"partitions of the data disagree on the model's {what}: {list(x)} vs "
                    f"{list(y)}.  A factor's levels must be known to every partition: "
                    "make string and factor columns categorical with the same categories "
                    "(lmmext does this for string columns; a numeric column used as a "
                    "factor, C(x), needs astype('category') with known categories)")
    return "partitions of the data disagree on the model"


class Partition:
    """A partition's model frame and engine (see the module docstring).

    Built in two steps: :meth:`build` makes the frame from the partition's rows and
    :meth:`data_shares` reports what the whole data's coordinates need; then
    :meth:`start_engine` builds the engine with the whole data's transforms and drops
    the frame's copy of the data.
    """

    def __init__(self, frame):
        self.frame = frame
        self.engine = None
        self._last = None

    @classmethod
    def build(cls, rows, formula, random, weights, correlation, kind, contrasts):
        """The partition of ``rows`` (a pandas DataFrame of whole outermost groups, no
        missing values), or ``None`` when it is empty."""
        if len(rows) == 0:
            return None
        cov = correlation.form.covariate if correlation is not None else None
        if cov in rows.columns:
            # a shuffle leaves a group's rows in any order; by position they are whitened
            # by the bidiagonal factor (the criterion does not depend on the row order)
            rows = rows.sort_values(cov, kind="stable")
        # the caller's namespace does not travel to the workers: numpy and patsy's
        # builtins only
        env = patsy.EvalEnvironment([{"np": np}])
        frame = build_frame(formula, rows, copy.deepcopy(random), weights, correlation,
                            "raise", env, kind=kind, contrasts=contrasts, partition=True)
        return cls(frame)

    def data_shares(self):
        """This partition's :class:`DataShares`."""
        f = self.frame
        X = f.X
        vf, cs = f.varfunc, f.corstruct
        starts = tuple(np.round(np.r_[vf.start() if vf is not None and vf.n_params else [],
                                      cs.start() if cs is not None and cs.n_params else []],
                                12))
        names = (tuple(f.exog_names), tuple(tuple(lev.z_names) for lev in f.levels),
                 tuple(vf.param_names()) if vf is not None else (),
                 tuple(cs.param_names()) if cs is not None else (), starts)
        return DataShares(f.N, X.T @ X, X.T @ f.y, np.array([f.y.sum(), (f.y ** 2).sum()]),
                          [lev.n_groups for lev in f.levels],
                          [(int(s.min()), int(s.max())) for s in
                           (np.diff(np.r_[lev.first_row, f.N]) for lev in f.levels)],
                          [(lev.Z ** 2).sum(axis=0) for lev in f.levels],
                          [DesignMoments.of(lev.Z) for lev in f.levels], names)

    def column_variation(self):
        """:func:`~lmmext.inference.containment.column_variation` of this partition
        (outermost groups are whole here, so it combines by or, min and max)."""
        return column_variation(self.frame.X, self.frame.levels)

    def template(self, rows=1000):
        """This partition's frame on its first ``rows`` rows: the model's names, design
        information and structures for the driver."""
        f = self.frame
        m = min(rows, f.N)
        levels = [Level(lev.name, lev.codes[:m], lev.labels[:lev.codes[m - 1] + 1],
                        lev.Z[:m], lev.z_names, pd=lev.pd) for lev in f.levels]
        return dataclasses.replace(f, data=f.data.iloc[:m], order=np.arange(m),
                                   index=f.index[:m], y=f.y[:m], X=f.X[:m], levels=levels,
                                   source=None, source_rows=None)

    def cannot_score(self):
        """1 if this partition's engine has no analytic score (a correlation structure
        that is not differentiable, or units too large for the per-unit dense algebra)."""
        return int(not self.engine.has_gradient)

    def start_engine(self, reml, shared):
        """Build the engine with the whole data's ``shared`` transforms; keep of the
        frame only what the outputs as long as the data need."""
        f = self.frame
        self.engine = ProfiledLikelihood(f.y, f.X, f.levels, f.varfunc, f.corstruct,
                                         reml=reml, shared=shared)
        cs = f.corstruct
        if cs is not None and cs.is_banded:
            # the score from the elimination (in memory chosen by cost; here it needs no
            # per-unit matrices and is what every partition can do)
            self.engine._schur = True
        self.index = f.index[f.order]           # the caller's labels, engine order
        self.group_labels = [np.asarray(lev.labels, dtype=object) for lev in f.levels]
        self.frame = None
        return self

    # -- the criterion's shares -------------------------------------------------------
    def _partial(self, theta, gradient=False):
        key = np.asarray(theta, dtype=float).tobytes()
        if self._last is not None and self._last[0] == key and (self._last[2] or not gradient):
            return self._last[1]
        part = self.engine.partial(theta, keep=True, gradient=gradient)
        self._last = (key, part, gradient)
        return part

    def shares(self, theta, gradient=False):
        """``(S, log|M|, log|C|, sum log w)`` of this partition at ``theta``."""
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            part = self._partial(theta, gradient)
        return (part.S, part.logdet_M, part.logdet_C, part.sum_log_w)

    def score(self, theta, crit):
        """This partition's share of the score, given the whole data's
        :class:`~lmmext.engine.likelihood.Criterion` at ``theta``."""
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            part = self._partial(theta, gradient=True)
            return self.engine.score(theta, part, crit.R, crit.beta_s, crit.sigma2)

    def _evaluation(self, theta, crit):
        return self.engine.evaluation(self._partial(theta), crit)

    def information(self, theta, crit):
        """This partition's share of the average information (``(S, w'Py)``)."""
        return information_shares(self.engine, theta, self._evaluation(theta, crit))

    # -- outputs as long as the data ----------------------------------------------------
    def rows(self, theta, crit, level=None):
        """This partition's fitted values (``level`` random-effects levels, all by
        default), residuals and Pearson residuals, indexed by the caller's labels, as a
        DataFrame with columns ``fitted``, ``resid``, ``pearson``."""
        e = self.engine
        ev = self._evaluation(theta, crit)
        blups = e.blups(ev) if e.levels else []
        mu = e.fitted_inner(ev, blups if level is None else blups[:int(level)])
        r = e.y - mu
        w = np.exp(ev.log_w) if ev.log_w is not None else 1.0
        return pd.DataFrame({"fitted": mu, "resid": r,
                             "pearson": r * w / np.sqrt(crit.sigma2)}, index=self.index)

    def _sorted_pearson(self, theta, crit):
        key = np.asarray(theta, dtype=float).tobytes()
        cached = getattr(self, "_pearson", None)
        if cached is None or cached[0] != key:
            cached = (key, np.sort(self.rows(theta, crit)["pearson"].to_numpy()))
            self._pearson = cached
        return cached[1]

    def pearson_counts(self, theta, crit, thresholds):
        """How many of this partition's Pearson residuals are at most each threshold
        (one pass of :func:`lmmext.cluster.quantiles.exact_quantiles`)."""
        return np.searchsorted(self._sorted_pearson(theta, crit), thresholds, side="right")

    def pearson_edge(self, theta, crit, lowest):
        """This partition's smallest (or largest) Pearson residual."""
        x = self._sorted_pearson(theta, crit)
        return float(x[0] if lowest else x[-1])

    def pearson_between(self, theta, crit, lo, hi):
        """This partition's Pearson residuals in ``(lo, hi]``, sorted."""
        x = self._sorted_pearson(theta, crit)
        return x[np.searchsorted(x, lo, side="right"):np.searchsorted(x, hi, side="right")]

    def random_effects(self, theta, crit, k):
        """The BLUPs of level ``k``'s groups in this partition (a DataFrame indexed by
        the group labels, nlme's ``ranef``)."""
        e = self.engine
        blups = e.blups(self._evaluation(theta, crit))
        return pd.DataFrame(blups[k], index=pd.Index(self.group_labels[k], name=e.levels[k].name),
                            columns=list(e.user_levels[k].z_names))
