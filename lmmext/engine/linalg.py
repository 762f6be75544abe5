"""Linear algebra shared by the likelihood and its gradient: small batched triangular
inverses, sums over contiguous runs of rows, the plan that batches units by size, and
the rank check of a design.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import cho_solve, qr, solve_triangular

LOG2PI = np.log(2.0 * np.pi)

__all__ = ["LOG2PI", "tri_inverse", "batched_cholesky", "batched_cho_solve", "batched_crossprod",
           "stack_times", "times_stack", "stacked_inner_sum",
           "row_crossprod", "group_indicator", "sum_runs", "size_plan",
           "aliased_columns", "design_rank", "fixed_effects_transform",
           "design_transforms", "gram_transforms"]


def tri_inverse(L):
    """Inverses of a stack ``(G, n, n)`` of lower-triangular matrices by forward
    substitution vectorized over the stack (for small ``n`` much cheaper than a general
    batched solve)."""
    G, n, _ = L.shape
    out = np.zeros_like(L)
    for i in range(n):
        row = -np.einsum("gk,gkj->gj", L[:, i, :i], out[:, :i, :])
        row[:, i] += 1.0
        out[:, i, :] = row / L[:, i, i, None]
    return out


# up to this order the stack's Cholesky factors are computed column by column over the
# whole stack (numpy's batched Cholesky costs a LAPACK call per matrix: 3.5x slower at
# order 2, 1.7x at 3, even at 4)
_SMALL_ORDER = 3


def batched_cholesky(M):
    """Lower Cholesky factors of a stack ``(G, n, n)`` of positive-definite matrices
    (raises ``numpy.linalg.LinAlgError`` when one is not)."""
    G, n, _ = M.shape
    if n > _SMALL_ORDER:
        return np.linalg.cholesky(M)
    L = np.zeros_like(M)
    for j in range(n):
        Lj = L[:, j, :j]
        d = M[:, j, j] - np.einsum("gk,gk->g", Lj, Lj)
        if not np.all(d > 0):
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        L[:, j, j] = np.sqrt(d)
        if j + 1 < n:
            L[:, j + 1:, j] = ((M[:, j + 1:, j] - np.einsum("gik,gk->gi", L[:, j + 1:, :j], Lj))
                               / L[:, j, j, None])
    return L


def stack_times(X, R):
    """``X_g R`` for every matrix of a stack ``X`` (``(G, a, b)``) and one matrix ``R``
    (``(b, c)``): one product over the stacked rows (numpy's broadcast of ``X @ R``
    loops over the stack: ~10x slower for small matrices)."""
    G, a, b = X.shape
    return (X.reshape(G * a, b) @ R).reshape(G, a, R.shape[1])


def times_stack(R, X):
    """``R X_g`` for one matrix ``R`` (``(a, b)``) and a stack ``X`` (``(G, b, c)``),
    as :func:`stack_times` of the transposes (for small ``c``: it copies them)."""
    return stack_times(X.transpose(0, 2, 1), R.T).transpose(0, 2, 1)


def stacked_inner_sum(X, Y):
    """``sum_g X_g Y_g'`` of two stacks (``(G, a, b)``, ``(G, c, b)``): one product
    over the stack (einsum's own loops are ~4x slower for ``a, c > 1``)."""
    G, a, b = X.shape
    return (X.transpose(1, 0, 2).reshape(a, G * b)
            @ Y.transpose(1, 0, 2).reshape(Y.shape[1], G * b).T)


def batched_cho_solve(chol, rhs):
    """``M_g^-1 rhs_g`` for a stack of lower Cholesky factors ``chol`` (``(G, n, n)``)
    of ``M_g`` and right-hand sides ``(G, n, k)``: by the factors' inverses
    (:func:`tri_inverse`), elementwise for ``n = 1`` (numpy's batched solve costs a
    LAPACK call per group)."""
    if chol.shape[1] == 1:
        return rhs / chol ** 2
    cinv = tri_inverse(chol)
    return cinv.transpose(0, 2, 1) @ (cinv @ rhs)


def batched_crossprod(At, plan, n_units, rows=None):
    """``A_u' A_u`` for every unit ``u``; ``plan`` is a list of (row index (G, n), unit
    ids).  With ``rows`` (a number or a slice of the columns), only those rows of each
    (``A_u[:, rows]' A_u``)."""
    m = At.shape[1]
    cols = (slice(None) if rows is None else rows if isinstance(rows, slice)
            else slice(0, rows))
    S = np.empty((n_units, len(range(*cols.indices(m))), m))
    for idx, uid in plan:
        T = At[idx]                                    # (G, n, m)
        S[uid] = np.matmul(T[:, :, cols].transpose(0, 2, 1), T)
    return S


def group_indicator(codes, n_units):
    """The ``n_units x N`` sparse indicator of the units of the rows (CSR): its product
    with a matrix of rows sums them by unit in one pass."""
    N = len(codes)
    return sparse.csr_matrix((np.ones(N), (codes, np.arange(N))), shape=(n_units, N))


def row_crossprod(At, indicator, rows):
    """``A_u[:, :rows]' A_u`` for every unit ``u`` by ``rows`` sparse products with the
    units' indicator (:func:`group_indicator`): for a few columns a third of the time of
    :func:`batched_crossprod`, which copies every unit's rows first."""
    S = np.empty((indicator.shape[0], rows, At.shape[1]))
    for i in range(rows):
        S[:, i] = indicator @ (At[:, i:i + 1] * At)
    return S


def sum_runs(X, plan, n_units):
    """Sums of the contiguous runs of ``X``'s rows described by ``plan`` (from
    :func:`size_plan`), one batch per run length (``np.add.reduceat`` costs ~2 us a run)."""
    if len(plan) == 1 and plan[0][0].shape[1] == 1:
        return X                                  # every run is one row, in order
    out = np.empty((n_units,) + X.shape[1:])
    for rows, uid in plan:
        out[uid] = X[rows].sum(axis=1)
    return out


def size_plan(codes, n_units):
    """Group the rows of contiguous units by unit size for batched work."""
    starts = np.flatnonzero(np.r_[True, np.diff(codes) != 0])
    sizes = np.diff(np.r_[starts, len(codes)])
    plan = []
    for n in np.unique(sizes):
        uid = np.flatnonzero(sizes == n)
        rows = starts[uid][:, None] + np.arange(n)[None, :]
        plan.append((rows, uid))
    assert len(starts) == n_units
    return plan


def _conditioned_gram(X):
    """``(column norms, L)`` with ``L`` the lower Cholesky factor of the
    column-scaled ``X'X``, when ``X``'s columns are clearly independent (the scaled
    design's condition number below 1e4, so that the normal equations lose at most eight
    digits); else ``None``.  One product over the rows instead of a QR factorization of
    the design (a tenth of its time with many rows)."""
    if X.shape[1] == 0:
        return None
    XtX = X.T @ X
    d = np.sqrt(np.diag(XtX))
    if not np.all(d > 0):
        return None
    try:
        L = np.linalg.cholesky(XtX / np.outer(d, d))
    except np.linalg.LinAlgError:
        return None
    dL = np.diag(L)
    if dL.min() <= 1e-4 * dL.max():
        return None
    return d, L


def _gram_transform(L, d, n):
    """:func:`fixed_effects_transform` from the lower Cholesky factor ``L`` of the
    column-scaled ``X'X`` (column norms ``d``, ``n`` rows): ``(X / scale)' (X / scale) /
    n = L L'`` with ``scale`` the columns' root mean squares."""
    p = len(d)
    scale = d / np.sqrt(n)
    dL = np.abs(np.diag(L))
    if dL.min() <= 1e-10 * dL.max():
        return np.diag(1.0 / scale)
    return solve_triangular(L.T, np.eye(p), lower=False) / scale[:, None]


def design_rank(X):
    """The column rank of ``X``: its number of columns when they are clearly independent
    (one product over the rows), else by a singular-value decomposition."""
    if X.shape[1] == 0 or _conditioned_gram(X) is not None:
        return X.shape[1]
    return int(np.linalg.matrix_rank(X))


def aliased_columns(X, names):
    """Names of columns that are linear combinations of earlier ones (nlme drops
    nothing: these are an error)."""
    if X.shape[1] == 0 or _conditioned_gram(X) is not None:
        return []
    scale = np.sqrt((X ** 2).sum(axis=0))
    Xs = X / np.where(scale > 0, scale, 1.0)
    _, R, piv = qr(Xs, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    tol = d.max() * max(X.shape) * np.finfo(float).eps * 10 if d.size else 0
    rank = int((d > tol).sum())
    return [names[i] for i in sorted(piv[rank:])]


def fixed_effects_transform(X):
    """Upper-triangular ``T`` with ``X T`` orthogonal columns of unit RMS (a QR
    factorization of the column-scaled design), or the column scaling alone where ``X``
    is too ill-conditioned to invert its ``R``.  Fixed effects on the engine's design
    map back as ``beta = T beta~``; ``log|X'V^-1X| = log|T'X'V^-1XT| - 2 log|det T|``."""
    n, p = X.shape
    scale = np.sqrt((X ** 2).mean(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    if p == 0:
        return np.eye(0)
    R = qr(X / scale, mode="r")[0][:p] / np.sqrt(n)
    d = np.abs(np.diag(R))
    if d.min() <= 1e-10 * d.max():
        return np.diag(1.0 / scale)
    Rinv = solve_triangular(R, np.eye(p), lower=False)
    return Rinv / scale[:, None]


def design_transforms(X, y):
    """The engine's fixed-effects transform ``T`` (:func:`fixed_effects_transform`) and
    least-squares centring ``b0`` of ``y``: from the Cholesky factor of ``X'X`` when the
    design is well conditioned (``b0`` with one step of iterative refinement), else by
    a QR factorization and ``lstsq``.  ``T`` only preconditions the engine's algebra
    and ``b0`` only centres ``y``: the likelihood is the same for any of them."""
    n, p = X.shape
    if p == 0:
        return np.eye(0), np.zeros(0)
    gram = _conditioned_gram(X)
    if gram is None:
        return fixed_effects_transform(X), np.linalg.lstsq(X, y, rcond=None)[0]
    d, L = gram

    def solve(v):
        return cho_solve((L, True), v / d) / d

    b0 = solve(X.T @ y)
    b0 = b0 + solve(X.T @ (y - X @ b0))
    return _gram_transform(L, d, n), b0


def gram_transforms(XtX, Xty, n, names):
    """What :func:`aliased_columns`, :func:`fixed_effects_transform` and the engine's
    least-squares centring ``b0`` give, from the cross-products ``X'X`` and ``X'y`` of
    ``n`` rows (sums over partitions of the data): ``(aliased names, T, b0)``.  Ranks by
    a pivoted Cholesky factor of the column-scaled ``X'X`` (which squares ``X``'s
    condition number, hence the tolerance of 1e-10 on the squared pivots)."""
    from scipy.linalg.lapack import dpstrf
    p = XtX.shape[0]
    if p == 0:
        return [], np.eye(0), np.zeros(0)
    d = np.sqrt(np.diag(XtX))
    d = np.where(d > 0, d, 1.0)
    unit = XtX / np.outer(d, d)
    _, piv, rank, _ = dpstrf(unit, lower=1, tol=1e-10 * max(np.max(np.diag(unit)), 1e-300))
    if rank < p:
        return [names[i] for i in sorted(piv[rank:] - 1)], None, None
    L = np.linalg.cholesky(unit)
    b0 = cho_solve((L, True), Xty / d) / d
    return [], _gram_transform(L, d, n), b0
