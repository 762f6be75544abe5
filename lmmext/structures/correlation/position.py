"""Correlation structures indexed by one position per row (a covariate or the row order)."""
from __future__ import annotations

import numpy as np

from ..form import eval_covariate
from .base import CorStruct, fmt_values

__all__ = ["PositionCor"]


class PositionCor(CorStruct):
    """Structures indexed by a scalar position per row (covariate or row order)."""

    _integer_positions = True

    def _row_coords(self, data, eval_env):
        cov = self.form.covariate
        if cov is None:
            return self._row_index()[:, None]
        t = eval_covariate(cov, data, eval_env, f"{self._cls} covariate")
        if not np.all(np.isfinite(t)):
            raise ValueError(f"{self._cls}: covariate {cov!r} has missing or infinite values")
        if self._integer_positions:
            bad = t != np.round(t)
            if bad.any():
                b = self._blocks[np.argmax(bad)]
                raise ValueError(
                    f"{self._cls}: positions from {cov!r} must be integer-valued, got "
                    f"{fmt_values(t[bad])} (first in {self._where(b)}); "
                    "use CorCAR1 or a spatial structure for continuous positions")
        return t[:, None]

    def _validate_coords(self):
        t, blocks = self._coords[:, 0], self._blocks
        new_run = blocks[1:] != blocks[:-1]
        if (np.all(new_run | (t[1:] > t[:-1]))
                and np.unique(blocks[np.r_[True, new_run]]).size == np.count_nonzero(new_run) + 1):
            return      # each block's rows contiguous and increasing: no repeats (no sort)
        order = np.lexsort((t, blocks))
        ts, bs = t[order], blocks[order]
        dup = (ts[1:] == ts[:-1]) & (bs[1:] == bs[:-1])
        if dup.any():
            b = bs[1:][dup][0]
            vals = np.unique(ts[1:][dup & (bs[1:] == b)])
            raise ValueError(f"{self._cls}: {self._where(b)} has repeated positions "
                             f"{fmt_values(vals)}; positions must be unique within groups")

    def _require_positions_from_one(self, hint=""):
        """Positions that index a correlation matrix directly must be 1..K."""
        t = self._coords[:, 0]
        if t.min() < 1:
            b = self._blocks[np.argmin(t)]
            raise ValueError(f"{self._cls}: positions must be integers 1..K; {self._where(b)} "
                             f"has position {t.min():g}{hint}")

    def _geometry(self, coords):
        t = coords[..., 0]
        return np.abs(t[:, :, None] - t[:, None, :])
