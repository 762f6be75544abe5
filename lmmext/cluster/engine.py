"""The driver's side of a distributed fit: the profiled criterion, its score and its
average information as map-reduces over the partitions held by the workers.

One evaluation maps :meth:`Partition.shares` (each partition's reduced cross-products
of ``[X y]`` and log-determinants, a ``(p+1)``-square matrix and three numbers) and
sums them in a tree; the driver finishes the criterion
(:func:`lmmext.engine.likelihood.profiled_criterion`).  The score needs the whole
data's fixed effects and ``sigma^2``, so it is a second map (the partitions keep the
elimination of the first); the average information a third.  The optimizer, the
degrees of freedom, anova and intervals run on the driver with these.
"""
from __future__ import annotations

import functools

import numpy as np

from ..engine.average_information import information_from_shares
from ..engine.likelihood import Evaluation, ProfiledLikelihood, profiled_criterion
from .partition import add_shares

__all__ = ["DistributedLikelihood", "Executor", "LevelSummary", "RowsOnWorkersError"]


class RowsOnWorkersError(NotImplementedError, AttributeError):
    """A member of a fit to a dask DataFrame that needs the rows in memory (an
    ``AttributeError`` too, so ``getattr(obj, name, default)`` still works)."""

    def __init__(self, what):
        super().__init__(
            f"{what} of a fit to a dask DataFrame stay on the workers; this member needs "
            "them in memory.  Use fit.fittedvalues, fit.resid, fit.fitted(level=), "
            "fit.residuals(type=, level=) and fit.ranef() (dask collections), or fit in "
            "memory (data=ddf.compute())")

# partitions' shares summed per task of the reduction tree
_FAN_IN = 8


def _call(part, method, args):
    return getattr(part, method)(*args)


def _sum(*shares):
    total = None
    for s in shares:
        total = add_shares(total, s)
    return total


class Executor:
    """Runs a method of every partition and sums the results: on a
    ``dask.distributed`` client (partitions are futures held by the workers, sums
    reduced in a tree on the workers), or in this process (partitions are objects)."""

    def __init__(self, parts, client=None):
        self.parts = list(parts)
        self.client = client

    def reduce(self, method, *args, combine=None):
        """The sum over partitions of ``part.method(*args)`` (or their ``combine``, a
        function of two results)."""
        total = _sum if combine is None else (lambda *xs: functools.reduce(combine, xs))
        if self.client is None:
            return total(*(_call(p, method, args) for p in self.parts))
        c = self.client
        futs = c.map(_call, self.parts, method=method, args=args, pure=False)
        while len(futs) > 1:
            futs = [c.submit(total, *futs[i:i + _FAN_IN], pure=False)
                    for i in range(0, len(futs), _FAN_IN)]
        return futs[0].result()

    def first(self, method, *args):
        """``part.method(*args)`` of the first partition."""
        if self.client is None:
            return _call(self.parts[0], method, args)
        return self.client.submit(_call, self.parts[0], method, args, pure=False).result()

    def update(self, method, *args):
        """Call a method that changes the partitions (and returns them)."""
        if self.client is None:
            self.parts = [_call(p, method, args) for p in self.parts]
        else:
            from distributed import wait
            self.parts = self.client.map(_call, self.parts, method=method, args=args,
                                         pure=False)
            wait(self.parts)

    def delayed(self, method, *args):
        """``dask.delayed`` results of ``part.method(*args)`` per partition (for the
        dask collections of outputs as long as the data)."""
        import dask
        return [dask.delayed(_call, pure=True)(p, method, args) for p in self.parts]


class LevelSummary:
    """A random-effects level of the whole data without its rows: name, design
    columns, covariance class, number of groups and the design's moments (what the
    optimizer, the warnings and the results need).  Its rows live in the partitions."""

    def __init__(self, level, n_groups, moments, z_sq, size_range):
        self.name, self.z_names, self.pd = level.name, list(level.z_names), level.pd
        self.pd_class = level.pd_class
        self.n_groups = int(n_groups)
        self.size_range = size_range
        self.moments = moments
        self._z_sq = z_sq
        self.q = len(self.z_names)
        self.is_sparse = False
        self.n_params = self.pd.n_params
        self.factor = self.pd.factor
        self.factor_jacobian = self.pd.factor_jacobian
        self.unfactor = self.pd.unfactor

    def start(self):
        """nlme's starting value, from the whole design (see :meth:`Level.start`)."""
        return self.pd.start(self._z_sq / self.n_groups)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise RowsOnWorkersError(f"the rows of level {self.name!r} ({name!r})")


class DistributedLikelihood:
    """The :class:`~lmmext.engine.likelihood.ProfiledLikelihood` protocol of the whole
    data held in partitions (see the module docstring).

    Parameters
    ----------
    executor : Executor
        The partitions, built and started (:meth:`Partition.start_engine`).
    template : Partition-built frame
        A frame of some rows, for the structures' objects and names.
    levels : list of LevelSummary
    shared : SharedTransforms
        The transforms every partition's engine uses.
    N, p : int
    reml : bool
    """

    sparse = None
    has_gradient = True
    supports_average_information = True

    # parameter bookkeeping and the user's coordinates are the in-memory engine's
    _set_sizes = ProfiledLikelihood._set_sizes
    split = ProfiledLikelihood.split
    start = ProfiledLikelihood.start                 # the levels' starts are the data's
    param_names = ProfiledLikelihood.param_names
    user_factor = ProfiledLikelihood.user_factor
    user_factors = ProfiledLikelihood.user_factors
    theta_from_user_cov = ProfiledLikelihood.theta_from_user_cov
    cov_beta = ProfiledLikelihood.cov_beta
    _engine_beta = ProfiledLikelihood._engine_beta

    def __init__(self, executor, template, levels, shared, N, p, reml):
        self.executor = executor
        self.levels = self.user_levels = list(levels)
        self.varfunc, self.corstruct = template.varfunc, template.corstruct
        self.transforms = list(shared.level_transforms)
        self.xT, self.b0 = shared.xT, shared.b0
        self.logdet_T = float(np.log(np.abs(np.diag(self.xT))).sum())
        self.N, self.p = int(N), int(p)
        self.reml = bool(reml)
        self.Nr = self.N - self.p if self.reml else self.N
        self.z_offsets = np.cumsum([0] + [lev.q for lev in self.levels])
        self._set_sizes()
        self._last = None
        self.n_maps = 0

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise RowsOnWorkersError(f"the engine's {name!r} (the rows)")

    def blups(self, ev):
        raise RowsOnWorkersError("the random effects")

    fitted_inner = blups

    # -- the criterion ----------------------------------------------------------------
    def criterion(self, theta, gradient=False, beta_s=None):
        """The whole data's :class:`~lmmext.engine.likelihood.Criterion` at ``theta``
        (one map-reduce; the last one is remembered)."""
        key = np.asarray(theta, dtype=float).tobytes()
        if beta_s is None and self._last is not None and self._last[0] == key and (
                self._last[2] or not gradient):
            return self._last[1]
        self.n_maps += 1
        S, logdet_M, logdet_C, sum_log_w = self.executor.reduce(
            "shares", np.asarray(theta, dtype=float), gradient)
        total = _Shares(S, logdet_M, logdet_C, sum_log_w)
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            crit = profiled_criterion(total, self.p, self.Nr, self.reml, self.logdet_T, beta_s)
        if beta_s is None:
            self._last = (key, crit, gradient, total)
        return crit

    def evaluate(self, theta, keep=False, gradient=False):
        crit = self.criterion(theta, gradient)
        if gradient:
            self.n_maps += 1
            return crit.loglik, self.executor.reduce("score", np.asarray(theta, dtype=float),
                                                     crit)
        if not keep:
            return crit.loglik
        re_theta = self.split(theta)[0]
        factors = [lev.factor(t) for lev, t in zip(self.levels, re_theta)]
        total = self._last[3]
        return Evaluation(crit.loglik, self.b0 + self.xT @ crit.beta_s, crit.sigma2, crit.q,
                          crit.R, None, total.logdet_C, total.logdet_M, crit.logdet_X,
                          factors, None)

    def loglik(self, theta):
        return self.evaluate(theta)

    def value_and_gradient(self, theta):
        return self.evaluate(theta, gradient=True)

    def loglik_at_beta(self, theta, beta):
        return self.criterion(theta, beta_s=self._engine_beta(np.asarray(beta, float))).loglik

    def average_information(self, theta):
        ev = self.evaluate(theta, keep=True)
        crit = self.criterion(theta)
        self.n_maps += 1
        S, wPy = self.executor.reduce("information", np.asarray(theta, dtype=float), crit)
        return information_from_shares(S, wPy, ev)


class _Shares:
    def __init__(self, S, logdet_M, logdet_C, sum_log_w):
        self.S, self.logdet_M, self.logdet_C, self.sum_log_w = S, logdet_M, logdet_C, sum_log_w
