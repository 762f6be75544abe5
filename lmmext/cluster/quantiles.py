"""Exact quantiles of the Pearson residuals held by the partitions (nlme's summary
prints their minimum, quartiles and maximum): a distributed selection.

Each partition sorts its residuals once; a pass counts, for a threshold per wanted
order statistic, the residuals at or below it (a map-reduce of a few integers), and the
driver bisects each bracket until it holds at most ``_GATHER`` residuals, which are then
brought to the driver and the order statistic read off exactly.  The quantiles are
numpy's default (linear interpolation between order statistics), as in memory.
"""
from __future__ import annotations

import numpy as np

__all__ = ["exact_quantiles"]

# residuals brought to the driver per bracket at the end
_GATHER = 4096


def _concatenate(a, b):
    return np.concatenate([a, b])


def exact_quantiles(executor, theta, crit, probs):
    """``np.quantile`` of the partitions' Pearson residuals at ``probs``."""
    def counts(t):
        return executor.reduce("pearson_counts", theta, crit, np.asarray(t, dtype=float))

    def between(a, b):
        return np.sort(executor.reduce("pearson_between", theta, crit, a, b,
                                       combine=_concatenate))

    n = int(counts([np.inf])[0])
    h = (n - 1) * np.asarray(probs, dtype=float)
    k = np.floor(h).astype(int)
    k1 = np.minimum(k + 1, n - 1)
    ranks = np.unique(np.r_[k, k1])
    # brackets (lo, hi] with count(x <= lo) <= r < count(x <= hi), from the extremes
    lo = np.full(ranks.size, np.nextafter(
        executor.reduce("pearson_edge", theta, crit, True, combine=min), -np.inf))
    hi = np.full(ranks.size, executor.reduce("pearson_edge", theta, crit, False,
                                             combine=max))
    c_lo = np.zeros(ranks.size, dtype=np.int64)
    c_hi = np.full(ranks.size, n, dtype=np.int64)
    while np.any(c_hi - c_lo > _GATHER):
        wide = c_hi - c_lo > _GATHER
        mid = np.where(wide, lo + (hi - lo) / 2, hi)
        c = counts(mid)
        up = wide & (c >= ranks + 1)
        down = wide & ~up
        hi, c_hi = np.where(up, mid, hi), np.where(up, c, c_hi)
        lo, c_lo = np.where(down, mid, lo), np.where(down, c, c_lo)
    stats = {r: between(a, b)[r - c] for r, a, b, c in zip(ranks, lo, hi, c_lo)}
    x0 = np.array([stats[i] for i in k])
    x1 = np.array([stats[i] for i in k1])
    return x0 + (h - k) * (x1 - x0)
