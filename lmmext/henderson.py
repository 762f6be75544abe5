"""Henderson's mixed model equations for known variance components.

For ``y = X beta + Z u + e`` with ``u ~ N(0, G)``, ``e ~ N(0, R)`` and ``G``, ``R``
known, the mixed model equations (MME)::

    [ X'R^-1X   X'R^-1Z        ] [beta]   [X'R^-1y]
    [ Z'R^-1X   Z'R^-1Z + G^-1 ] [u   ] = [Z'R^-1y]

give the BLUE of ``beta`` and the BLUP of ``u``; the inverse ``C`` of the coefficient
matrix gives ``var(beta_hat) = C_XX``, ``PEV = var(u_hat - u) = C_ZZ`` and
``var(u_hat) = G - C_ZZ`` (nlme-reference.md, section 10).
"""
import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import ArpackError, eigsh, splu

from .engine.linalg import aliased_columns

__all__ = ["henderson", "HendersonResult"]

# relative asymmetry accepted in G, R and A (round-off of products such as T T')
_SYMMETRY_RTOL = 1e-8
# error messages quote the smallest eigenvalue; dense up to this size, ARPACK beyond
_DENSE_EIGEN_MAX = 2000
# dense entries per block when a sparse LU is applied to a sparse right-hand side
_SOLVE_BATCH_ENTRIES = 4_000_000
# blocks up to this size are inverted as one stack (numpy), larger ones one by one
_STACKED_BLOCK_MAX = 64


def _error(message):
    return ValueError(f"henderson: {message}")


def _is_diagonal(M):
    """True when every non-zero of the square matrix M is on its diagonal."""
    nonzero = M.count_nonzero() if sp.issparse(M) else np.count_nonzero(M)
    return nonzero == np.count_nonzero(M.diagonal())


def _smallest_eigenvalue(M):
    """Smallest eigenvalue of the symmetric M, for error messages (nan if ARPACK fails)."""
    if sp.issparse(M) and M.shape[0] > _DENSE_EIGEN_MAX:
        try:
            return float(eigsh(M, k=1, which="SA", return_eigenvectors=False)[0])
        except ArpackError:
            return np.nan
    dense = M.toarray() if sp.issparse(M) else M
    return float(np.linalg.eigvalsh(dense)[0])


class _SPDSolver:
    """Applies ``M^-1`` for a symmetric positive definite M, checking definiteness.

    Diagonal M (dense or sparse) is inverted elementwise, dense M by Cholesky.  A sparse
    M that is block-diagonal up to a permutation with small blocks (repeated records
    in R, random regressions in G) gets its sparse inverse block by block; any other
    sparse M a sparse LU with symmetric permutation and diagonal pivots, whose pivots
    are those of ``L D L'``: all positive exactly when M is positive definite
    (Sylvester's law of inertia).
    """

    def __init__(self, M, name):
        self.size = M.shape[0]
        self._name = name
        self._inv_diag = self._cho = self._lu = self._sparse_inv = None
        if _is_diagonal(M):
            d = np.asarray(M.diagonal(), dtype=float)
            if d.min() <= 0:
                self._not_pd(d.min())
            self._inv_diag = 1.0 / d
        elif sp.issparse(M):
            self._sparse_inv = self._block_inverse(M)
            if self._sparse_inv is None:
                self._lu = self._sparse_lu(M)
        else:
            try:
                self._cho = cho_factor(M, lower=True)
            except LinAlgError:
                self._not_pd(_smallest_eigenvalue(M))

    def _not_pd(self, eigenvalue):
        raise _error(f"{self._name} must be positive definite "
                     f"(smallest eigenvalue {eigenvalue:.6g})")

    def _sparse_lu(self, M):
        try:
            lu = splu(M.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                      options={"SymmetricMode": True})
        except RuntimeError:  # exactly singular
            self._not_pd(_smallest_eigenvalue(M))
        if not (np.array_equal(lu.perm_r, lu.perm_c) and lu.U.diagonal().min() > 0):
            self._not_pd(_smallest_eigenvalue(M))
        return lu

    def _block_inverse(self, M):
        """Sparse inverse of M from its connected components (its diagonal blocks up to
        a permutation); None (use a sparse LU) when there is one large block or the
        inverse would be much denser than M."""
        n_blocks, block_of = connected_components(M, directed=False)
        sizes = np.bincount(block_of, minlength=n_blocks)
        dense_enough = (sizes.astype(float) ** 2).sum() <= 4 * M.nnz + self.size
        if sizes.max() > _STACKED_BLOCK_MAX and (n_blocks == 1 or not dense_enough):
            return None
        members = np.argsort(block_of, kind="stable")
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        position = np.empty(self.size, dtype=np.intp)  # index of a row within its block
        position[members] = np.arange(self.size) - np.repeat(first, sizes)
        entries = M.tocoo()
        entries.sum_duplicates()
        rows, cols, values = [], [], []
        for size in np.unique(sizes):  # blocks of equal size are inverted together
            which = np.flatnonzero(sizes == size)
            slot = np.full(n_blocks, -1)
            slot[which] = np.arange(which.size)
            keep = slot[block_of[entries.row]] >= 0
            blocks = np.zeros((which.size, size, size))
            blocks[slot[block_of[entries.row[keep]]], position[entries.row[keep]],
                   position[entries.col[keep]]] = entries.data[keep]
            inverse = self._invert_blocks(blocks)
            index = members[first[which][:, None] + np.arange(size)]  # (blocks, size)
            rows.append(np.repeat(index, size, axis=1).ravel())
            cols.append(np.tile(index, size).ravel())
            values.append(inverse.ravel())
        return sp.csc_matrix((np.concatenate(values), (np.concatenate(rows),
                                                        np.concatenate(cols))),
                             shape=M.shape)

    def _invert_blocks(self, blocks):
        """Inverses of a stack of symmetric blocks, checking positive definiteness."""
        size = blocks.shape[1]
        try:
            if size <= _STACKED_BLOCK_MAX:  # many small blocks: numpy's stacked routines
                np.linalg.cholesky(blocks)
                return np.linalg.solve(blocks, np.broadcast_to(np.eye(size), blocks.shape))
            return np.stack([cho_solve(cho_factor(b, lower=True), np.eye(size))
                             for b in blocks])
        except LinAlgError:
            self._not_pd(np.linalg.eigvalsh(blocks)[:, 0].min())

    def solve(self, B):
        """``M^-1 B``; sparse for a sparse B, dense (same shape as B) otherwise."""
        if self._inv_diag is not None:
            if sp.issparse(B):
                return sp.csc_matrix(sp.diags(self._inv_diag) @ B)
            return B * (self._inv_diag if B.ndim == 1 else self._inv_diag[:, None])
        if self._sparse_inv is not None:
            product = self._sparse_inv @ B
            return sp.csc_matrix(product) if sp.issparse(B) else product
        if not sp.issparse(B):
            if self._cho is not None:
                return cho_solve(self._cho, B)
            return self._lu.solve(np.ascontiguousarray(B, dtype=float))
        # a sparse right-hand side with a general factor: solve blocks of columns (at
        # most ~32 MB dense at a time) and keep the result sparse
        B = sp.csc_matrix(B)
        width = max(1, min(256, _SOLVE_BATCH_ENTRIES // max(B.shape[0], 1)))
        blocks = [sp.csc_matrix(self.solve(B[:, j:j + width].toarray()))
                  for j in range(0, B.shape[1], width)]
        return sp.hstack(blocks, format="csc") if blocks else sp.csc_matrix(B.shape)

    def inverse(self, sparse):
        """``M^-1`` as a CSC matrix (sparse=True) or a dense array."""
        if sparse:
            return self.solve(sp.identity(self.size, format="csc"))
        return self.solve(np.eye(self.size))


# --- input checks -----------------------------------------------------------------------
def _pandas_index(obj):
    return obj.index if isinstance(obj, (pd.Series, pd.DataFrame)) else None


def _check_finite(values, name):
    if not np.all(np.isfinite(values)):
        raise _error(f"{name} contains NaN or infinite values")


def _response(y):
    try:
        values = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise _error("y must be numeric") from None
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise _error(f"y must be a vector, got shape {values.shape}")
    if values.size == 0:
        raise _error("y is empty")
    _check_finite(values, "y")
    return values


def _design(M, name, nobs):
    """X or Z as a dense float array or a CSC matrix, and its column labels (or None)."""
    labels = None
    if sp.issparse(M):
        M = sp.csc_matrix(M, dtype=float)
        _check_finite(M.data, name)
    else:
        if isinstance(M, pd.DataFrame):
            labels = list(M.columns)
        try:
            M = np.asarray(M, dtype=float)
        except (TypeError, ValueError):
            raise _error(f"{name} must be numeric") from None
        if M.ndim == 1:
            M = M[:, None]
        if M.ndim != 2:
            raise _error(f"{name} must be a matrix, got {M.ndim} dimensions")
        _check_finite(M, name)
    if M.shape[0] != nobs:
        raise _error(f"{name} has {M.shape[0]} rows but y has {nobs} observations")
    return M, labels


def _covariance(M, name, size, what):
    """G, R or A checked (shape, finite, symmetric) and symmetrized."""
    if sp.issparse(M):
        M = sp.csc_matrix(M, dtype=float)
        _check_finite(M.data, name)
    else:
        try:
            M = np.asarray(M, dtype=float)
        except (TypeError, ValueError):
            raise _error(f"{name} must be a numeric matrix") from None
        if M.ndim != 2:
            raise _error(f"{name} must be a {size} x {size} matrix ({what}), got "
                         f"{M.ndim} dimensions")
        _check_finite(M, name)
    if M.shape != (size, size):
        raise _error(f"{name} must be {size} x {size} ({what}), got "
                     f"{M.shape[0]} x {M.shape[1]}")
    asymmetry = abs(M - M.T).max() if M.size else 0.0
    if asymmetry > _SYMMETRY_RTOL * abs(M).max():
        raise _error(f"{name} must be symmetric (largest |{name} - {name}'| is "
                     f"{asymmetry:.6g})")
    return (M + M.T) / 2


def _check_form(G, R, lambda_, A):
    """Which form was asked for; returns lambda_ as a float (None for the G/R form)."""
    if lambda_ is not None:
        if G is not None or R is not None:
            raise _error("give either G and R, or lambda_ (with an optional A), not both")
        if isinstance(lambda_, bool) or not isinstance(lambda_, numbers.Real):
            if not (isinstance(lambda_, np.ndarray) and lambda_.ndim == 0
                    and np.issubdtype(lambda_.dtype, np.number)):
                raise _error(f"lambda_ must be a positive number, got {lambda_!r}")
        lambda_ = float(lambda_)
        if not np.isfinite(lambda_) or lambda_ <= 0:
            raise _error(f"lambda_ must be a positive finite number, got {lambda_!r}")
        return lambda_
    if A is not None:
        raise _error("A is used only with lambda_; for the G/R form pass "
                     "G = A * sigma_u^2")
    if G is None and R is None:
        raise _error("give G and R, or lambda_ (= sigma_e^2 / sigma_u^2)")
    if G is None or R is None:
        missing = "G" if G is None else "R"
        raise _error(f"{missing} is missing: the G/R form needs both G and R")
    return None


def _check_aligned(y, X, Z):
    """pandas inputs must share their row index (their rows are used by position)."""
    indexes = [(name, _pandas_index(obj)) for name, obj in (("y", y), ("X", X), ("Z", Z))]
    indexes = [(name, idx) for name, idx in indexes if idx is not None]
    for name, idx in indexes[1:]:
        if len(idx) == len(indexes[0][1]) and not idx.equals(indexes[0][1]):
            raise _error(f"{indexes[0][0]} and {name} have different pandas row indexes; "
                         "align them (rows are matched by position)")


def _check_full_column_rank(X, labels):
    """X must have full column rank (BLUE is not unique otherwise)."""
    p = X.shape[1]
    if p == 0:
        return
    if not sp.issparse(X):
        names = labels if labels is not None else [f"X[:, {j}]" for j in range(p)]
        aliased = aliased_columns(X, names)
        if aliased:
            verb = "depends" if len(aliased) == 1 else "depend"
            raise _error(f"X is rank deficient: {', '.join(map(str, aliased))} {verb} "
                         "linearly on earlier columns; drop them")
        return
    # sparse X: numerical rank of the column-equilibrated X'X (p x p, never N x N)
    gram = (X.T @ X).toarray()
    scale = np.sqrt(np.diag(gram))
    scale[scale == 0] = 1.0
    eigenvalues = np.linalg.eigvalsh(gram / np.outer(scale, scale))
    tol = eigenvalues[-1] * max(X.shape) * np.finfo(float).eps
    rank = int((eigenvalues > tol).sum())
    if rank < p:
        raise _error(f"X is rank deficient (numerical rank {rank} of {p} columns); "
                     "drop the redundant fixed-effect columns")


# --- the solver -------------------------------------------------------------------------
def henderson(y, X, Z, G=None, R=None, *, lambda_=None, A=None, compute_C=True):
    """Solve Henderson's mixed model equations for known variance components.

    Model ``y = X beta + Z u + e`` with ``u ~ N(0, G)``, ``e ~ N(0, R)``.  Returns the
    BLUE of ``beta``, the BLUP of ``u`` and the inverse ``C`` of the coefficient matrix,
    with ``C_XX = var(beta_hat)``, ``C_ZZ = PEV = var(u_hat - u)`` and
    ``var(u_hat) = G - C_ZZ``.

    Parameters
    ----------
    y : array_like, shape (N,)
        Observations.
    X : array_like, pandas.DataFrame or scipy.sparse matrix, shape (N, p)
        Fixed-effects design; must have full column rank (p may be 0).
    Z : array_like, pandas.DataFrame or scipy.sparse matrix, shape (N, q)
        Random-effects design (need not have full rank).
    G : array_like or scipy.sparse matrix, shape (q, q), optional
        Covariance of ``u``; symmetric positive definite.  Give with ``R``.
    R : array_like or scipy.sparse matrix, shape (N, N), optional
        Covariance of ``e``; symmetric positive definite.  A diagonal R is inverted
        elementwise; give large problems a sparse R (``sigma2 * scipy.sparse.identity(N)``).
    lambda_ : float, optional, keyword-only
        Instead of G and R: the variance ratio ``sigma_e^2 / sigma_u^2`` of the model
        ``G = A sigma_u^2``, ``R = I sigma_e^2``.  The equations solved are then
        ``[[X'X, X'Z], [Z'X, Z'Z + lambda_ A^-1]]`` (the G/R form multiplied by
        ``sigma_e^2``), so ``C``, ``C_XX``, ``C_XZ``, ``C_ZZ``, ``pev`` and ``var_blup``
        are in units of ``sigma_e^2`` and ``blue_se`` in units of ``sigma_e``; BLUE,
        BLUP and ``reliability`` are the same as in the G/R form.
    A : array_like or scipy.sparse matrix, shape (q, q), optional, keyword-only
        Relationship matrix of the ``lambda_`` form (default identity); symmetric positive
        definite.  Only with ``lambda_``.
    compute_C : bool, default True, keyword-only
        Compute the full inverse ``C`` ((p + q) x (p + q), dense).  With False only the
        p columns giving ``C_XX`` and ``C_XZ`` (hence ``blue_se``) are solved for, which
        keeps large-q problems cheap; ``C``, ``C_ZZ``, ``pev``, ``var_blup`` and
        ``reliability`` are then unavailable.

    Returns
    -------
    HendersonResult

    Raises
    ------
    ValueError
        Non-conformable shapes, NaN or infinite values, G/R/A not symmetric or not
        positive definite, X rank deficient, ``lambda_`` not positive, both or neither
        of the G/R and ``lambda_`` forms given.

    Notes
    -----
    If any of X, Z, G, R or A is a scipy.sparse matrix the sparse path is used: the
    cross products ``X'R^-1X``, ``X'R^-1Z``, ``Z'R^-1Z`` are formed sparsely (no N x N
    dense matrix), ``G^-1`` (``A^-1``) and the coefficient matrix are factorized by a
    sparse LU.  ``G^-1`` is formed explicitly, so G (or A) should have a sparse inverse
    (diagonal or block-diagonal) for large q.  Otherwise dense Cholesky factorizations
    are used (``R`` diagonal: elementwise).

    Examples
    --------
    The pig birth weights of the seed lecture (sex fixed, dam random):

    >>> import numpy as np
    >>> y = np.array([1.72, 1.45, 1.49, 1.36, 1.54, 1.5])
    >>> X = np.array([[1, 0]] + [[0, 1]] * 5)
    >>> Z = np.repeat(np.eye(2), 3, axis=0)
    >>> res = henderson(y, X, Z, G=0.016 * np.eye(2), R=0.08 * np.eye(6))
    >>> np.round(res.blue, 6), np.round(res.blup, 6)
    (array([1.719459, 1.468108]), array([ 0.000541, -0.000541]))
    """
    lambda_ = _check_form(G, R, lambda_, A)
    _check_aligned(y, X, Z)
    y = _response(y)
    nobs = y.size
    X, fixed_names = _design(X, "X", nobs)
    Z, random_names = _design(Z, "Z", nobs)
    q = Z.shape[1]
    if q == 0:
        raise _error("Z has no columns; without random effects use GLS")
    if lambda_ is None:
        G = _covariance(G, "G", q, f"Z has {q} columns")
        R = _covariance(R, "R", nobs, f"y has {nobs} observations")
    elif A is not None:
        A = _covariance(A, "A", q, f"Z has {q} columns")
    _check_full_column_rank(X, fixed_names)
    sparse = any(sp.issparse(M) for M in (X, Z, G, R, A))
    if sparse:
        X, Z = sp.csc_matrix(X), sp.csc_matrix(Z)

    if lambda_ is None:
        residual = _SPDSolver(R, "R")
        RiX, RiZ, Riy = residual.solve(X), residual.solve(Z), residual.solve(y)
        G_inv = _SPDSolver(G, "G").inverse(sparse)
    else:  # R = I: the equations in units of sigma_e^2, G^-1 = lambda A^-1
        RiX, RiZ, Riy = X, Z, y
        if A is None:
            G_inv = lambda_ * (sp.identity(q, format="csc") if sparse else np.eye(q))
            G = (sp.identity(q, format="csc") if sparse else np.eye(q)) / lambda_
        else:
            G_inv = lambda_ * _SPDSolver(A, "A").inverse(sparse)
            G = A / lambda_
    XtRiZ = X.T @ RiZ
    ZZ_block = Z.T @ RiZ + G_inv
    if sparse:
        lhs = sp.bmat([[sp.csc_matrix(X.T @ RiX), sp.csc_matrix(XtRiZ)],
                       [sp.csc_matrix(XtRiZ).T, ZZ_block]], format="csc")
    else:
        lhs = np.block([[X.T @ RiX, XtRiZ], [XtRiZ.T, ZZ_block]])
    rhs = np.concatenate([X.T @ Riy, Z.T @ Riy])

    solver = _SPDSolver(lhs, "the coefficient matrix of the mixed model equations")
    solution = solver.solve(rhs)
    p = X.shape[1]
    if compute_C:
        C, fixed_columns = solver.inverse(sparse=False), None
    else:
        C, fixed_columns = None, solver.solve(np.eye(p + q)[:, :p])
    return HendersonResult(solution[:p], solution[p:], lhs=lhs, rhs=rhs, C=C,
                           fixed_columns=fixed_columns, G=G, lambda_=lambda_,
                           fixed_names=fixed_names, random_names=random_names, nobs=nobs)


class HendersonResult:
    """Solution of Henderson's mixed model equations (see :func:`henderson`).

    In the ``lambda_`` form the matrices ``C``, ``C_XX``, ``C_XZ``, ``C_ZZ``, ``pev``,
    ``var_blup`` and ``G`` are in units of ``sigma_e^2`` and ``blue_se`` in units of
    ``sigma_e`` (multiply by ``sigma_e^2`` resp. ``sigma_e``); ``blue``, ``blup`` and
    ``reliability`` do not depend on the units.

    Attributes
    ----------
    blue : numpy.ndarray or pandas.Series
        BLUE of the fixed effects (a Series indexed by X's columns if X was a DataFrame).
    blup : numpy.ndarray or pandas.Series
        BLUP of the random effects (a Series indexed by Z's columns if Z was a DataFrame).
    lhs : numpy.ndarray or scipy.sparse.csc_matrix
        The coefficient matrix ``[[X'R^-1X, X'R^-1Z], [Z'R^-1X, Z'R^-1Z + G^-1]]``
        (sparse on the sparse path).
    rhs : numpy.ndarray
        The right-hand side ``[X'R^-1y, Z'R^-1y]``.
    G : numpy.ndarray or scipy.sparse matrix
        The covariance of the random effects used; ``A / lambda_`` in the ``lambda_`` form.
    lambda_ : float or None
        The variance ratio of the ``lambda_`` form (None for the G/R form).
    nobs : int
        Number of observations.
    """

    def __init__(self, blue, blup, *, lhs, rhs, C, fixed_columns, G, lambda_,
                 fixed_names, random_names, nobs):
        self.lhs, self.rhs, self.G, self.lambda_, self.nobs = lhs, rhs, G, lambda_, nobs
        self._C = C
        self._fixed_columns = fixed_columns  # the first p columns of C when C is skipped
        self._fixed_names, self._random_names = fixed_names, random_names
        self._p = blue.size
        self.blue = self._labelled(blue, fixed_names, "blue")
        self.blup = self._labelled(blup, random_names, "blup")

    @staticmethod
    def _labelled(values, names, name):
        return values if names is None else pd.Series(values, index=names, name=name)

    def _need_C(self, what):
        if self._C is None:
            raise AttributeError(f"henderson: {what} needs the full inverse C, which was "
                                 "skipped (compute_C=False)")
        return self._C

    @property
    def C(self):
        """Inverse of the coefficient matrix, dense (p + q) x (p + q)."""
        return self._need_C("C")

    @property
    def C_XX(self):
        """``var(blue)``: the fixed-effects block of C (p x p)."""
        if self._C is None:
            return self._fixed_columns[:self._p]
        return self._C[:self._p, :self._p]

    @property
    def C_XZ(self):
        """``cov(blue, blup - u)``: the fixed x random block of C (p x q)."""
        if self._C is None:
            return self._fixed_columns[self._p:].T
        return self._C[:self._p, self._p:]

    @property
    def C_ZZ(self):
        """The random-effects block of C (q x q); equals ``pev``."""
        return self._need_C("C_ZZ")[self._p:, self._p:]

    @property
    def pev(self):
        """Prediction error variance ``var(blup - u) = C_ZZ`` (q x q)."""
        return self._need_C("pev")[self._p:, self._p:]

    @property
    def var_blup(self):
        """``var(blup) = G - C_ZZ`` (q x q); ``A / lambda_ - C_ZZ`` in the ``lambda_`` form."""
        G = self.G.toarray() if sp.issparse(self.G) else self.G
        return G - self.pev

    @property
    def blue_se(self):
        """Standard errors of the BLUE, ``sqrt(diag(C_XX))``."""
        return self._labelled(np.sqrt(np.diag(self.C_XX)), self._fixed_names, "blue_se")

    @property
    def reliability(self):
        """Reliability (squared accuracy) ``1 - diag(PEV) / diag(G)`` of each BLUP."""
        rel = 1.0 - np.diag(self.pev) / np.asarray(self.G.diagonal(), dtype=float)
        return self._labelled(rel, self._random_names, "reliability")

    def __repr__(self):
        form = "G/R form" if self.lambda_ is None else f"lambda_ = {self.lambda_:g}"
        return (f"<HendersonResult: {self.nobs} observations, {self._p} fixed and "
                f"{len(self.blup)} random effects, {form}>")

    def summary(self, max_rows=20):
        """The BLUE with standard errors and the BLUP with PEV and reliability as text.

        Parameters
        ----------
        max_rows : int, default 20
            Longest table printed in full; longer ones show their first rows only.

        Returns
        -------
        str
        """
        def names(given, prefix, n):
            return list(given) if given is not None else [f"{prefix}{j}" for j in range(n)]

        def show(table):
            if len(table) > max_rows:
                return (table.head(max_rows).to_string()
                        + f"\n... ({len(table) - max_rows} more rows)")
            return table.to_string()

        fixed = pd.DataFrame({"BLUE": np.asarray(self.blue),
                              "SE": np.asarray(self.blue_se)},
                             index=names(self._fixed_names, "x", self._p))
        q = len(self.blup)
        random = pd.DataFrame({"BLUP": np.asarray(self.blup)},
                              index=names(self._random_names, "u", q))
        if self._C is not None:
            random["PEV"] = np.diag(self.pev)
            random["reliability"] = np.asarray(self.reliability)
        lines = [repr(self)]
        if self.lambda_ is not None:
            lines.append("SE and PEV in units of sigma_e resp. sigma_e^2")
        lines += ["Fixed effects:", show(fixed), "Random effects:", show(random)]
        return "\n".join(lines)
