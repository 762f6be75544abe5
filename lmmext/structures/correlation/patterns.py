"""Correlation blocks grouped for whitening: blocks of one size that share a geometry
("pattern") are factored once per parameter value, and AR(1)-type blocks are whitened
by a bidiagonal map applied to all their rows at once.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["PatternGroup", "group_patterns", "bidiagonal_map"]


class PatternGroup:
    """Blocks of one size ``n``, ordered so that blocks sharing a pattern are adjacent.

    Attributes
    ----------
    n : int
        Block size.
    rows : ndarray of int, shape (G, n)
        Row indices of each block (engine order inside the block).
    blocks : ndarray of int, shape (G,)
        Block ids, in the order of ``rows``.
    bounds : ndarray of int, shape (P + 1,)
        Blocks ``bounds[p]:bounds[p+1]`` share pattern ``p``.
    geom : ndarray
        Per-pattern geometry (``P`` leading), filled in by the structure.
    """

    __slots__ = ("n", "rows", "blocks", "bounds", "geom")

    def __init__(self, n, rows, blocks, bounds):
        self.n, self.rows, self.blocks, self.bounds = n, rows, blocks, bounds
        self.geom = None

    @property
    def counts(self):
        return np.diff(self.bounds)

    @property
    def first_rows(self):
        """Row indices (P, n) of one representative block per pattern."""
        return self.rows[self.bounds[:-1]]


def group_patterns(starts, sizes, selected, keys):
    """Group blocks by size and, within a size, by identical per-row keys.

    Parameters
    ----------
    starts, sizes : ndarray of int, shape (B,)
        First row and size of every block.
    selected : ndarray of int
        The blocks to group (blocks of size one should be left out: they whiten to
        themselves).
    keys : ndarray, shape (N, k)
        Per-row key values; two blocks of equal size share a pattern when their key
        rows are identical (in row order).

    Returns
    -------
    list of PatternGroup
    """
    groups = []
    selected = np.asarray(selected, dtype=np.int64)
    sel_sizes = sizes[selected]
    for n in np.unique(sel_sizes):
        blk = selected[sel_sizes == n]
        rows = starts[blk, None] + np.arange(n)
        flat = keys[rows].reshape(len(blk), -1)
        _, inv = np.unique(flat, axis=0, return_inverse=True)
        inv = np.asarray(inv).ravel()
        order = np.argsort(inv, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(inv))])
        groups.append(PatternGroup(int(n), rows[order], blk[order], bounds))
    return groups


def bidiagonal_map(M, a, b, transpose=False):
    """Rows ``a_j M_j + b_j M_{j-1}`` (``b_0`` is ignored): a bidiagonal factor applied
    to the rows of ``M`` (``(N,)`` or ``(N, m)``), as one sparse product (numpy's
    broadcasting over a few columns costs three times as much per row).  With
    ``transpose`` its transpose: rows ``a_j M_j + b_(j+1) M_(j+1)``.  A vector is mapped
    by shifted products (five times faster than building the sparse factor for it)."""
    N = len(a)
    if np.ndim(M) == 1:
        out = a * M
        if transpose:
            out[:-1] += b[1:] * M[1:]
        else:
            out[1:] += b[1:] * M[:-1]
        return out
    index = _BIDIAGONAL_INDEX.get(N)
    if index is None:
        indices = np.empty(2 * N, dtype=np.int64)
        indices[0::2] = np.maximum(np.arange(N) - 1, 0)
        indices[1::2] = np.arange(N)
        index = (indices, np.arange(0, 2 * N + 1, 2))
        if len(_BIDIAGONAL_INDEX) >= 8:
            _BIDIAGONAL_INDEX.clear()
        _BIDIAGONAL_INDEX[N] = index         # one assignment: safe across threads (dask)
    data = np.empty(2 * N)
    data[0::2] = b
    data[1::2] = a
    data[0] = 0.0                      # row 0 has no predecessor (its column 0 is a_0's)
    U = sparse.csr_matrix((data, *index), shape=(N, N))
    return (U.T if transpose else U) @ M


# the column indices and row pointers of the bidiagonal maps of the last few sizes
_BIDIAGONAL_INDEX = {}
