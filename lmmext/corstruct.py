"""Correlation structures (nlme's corStruct classes).

Every structure follows one protocol, used by the likelihood engine:

``initialize(data, blocks, eval_env)``
    bind to the model frame (rows in engine order, ``blocks`` the block id of each row,
    contiguous ``0..B-1``): evaluate positions or coordinates, validate, precompute what
    whitening needs and set the starting values.
``n_params``, ``start()``, ``param_names()``
    the free parameters on the unconstrained scale the optimizer sees (none if fixed).
``whiten(theta, A)``
    ``(blockdiag(L_b^-1) A, sum_b log|C_b|)`` with ``C_b = L_b L_b'`` the lower Cholesky
    factor of block ``b``'s correlation matrix in the given row order.
``coefficients(theta)``, ``to_unconstrained(natural)``
    nlme's ``coef(cs, unconstrained = FALSE)`` and its inverse.
``correlation_matrix(theta, block)``
    the dense ``C_b`` (reporting and tests).

Whitening strategies
--------------------
* AR(1)-type structures (``CorAR1``, ``CorCAR1``, ``CorARMA(p=1, q=0)``) have a
  bidiagonal inverse factor on blocks whose positions are monotone; this is applied to
  all such rows at once.
* Everything else is dense: blocks are grouped by size and, within a size, by identical
  geometry ("pattern"); each pattern's Cholesky factor is computed once per ``theta`` and
  applied to all its blocks with one triangular solve (many distinct patterns of one size
  switch to a batched solve).  ``CorCompSymm`` uses its closed-form innovations instead.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular
from scipy.special import expit, logit

from .formula import eval_covariate, parse_struct_form
from .natural_scale import ApVarScale
from .optimize import central_differences

__all__ = ["CorStruct", "CorAR1", "CorCAR1", "CorARMA", "CorCompSymm", "CorSymm",
           "CorExp", "CorGaus", "CorLin", "CorRatio", "CorSpher"]


# ---------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------
class _PatternGroup:
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


def _group_patterns(starts, sizes, selected, keys):
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
    list of _PatternGroup
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
        groups.append(_PatternGroup(int(n), rows[order], blk[order], bounds))
    return groups


def bidiagonal_map(M, a, b, out=None):
    """Rows ``a_j M_j + b_j M_{j-1}`` (``b_0`` is ignored): a bidiagonal factor applied
    to the rows of ``M`` (N, m)."""
    out = np.multiply(M, a[:, None], out=out)
    out[1:] += b[1:, None] * M[:-1]
    return out


def _durbin_levinson(x, sign, inverse=False):
    """Map partial autocorrelations to ARMA coefficients (or back, ``inverse=True``).

    Forward: ``a^(k)_j = a^(k-1)_j + sign * pi_k * a^(k-1)_{k-j}`` (``j < k``),
    ``a^(k)_k = pi_k``.  nlme uses ``sign = -1`` for the AR block and ``+1`` for the MA
    block.  The inverse runs the recursion backwards; it raises ``ValueError`` when a
    partial autocorrelation is not inside (-1, 1) (non-stationary / non-invertible).
    """
    x = np.asarray(x, dtype=float)
    if not inverse:
        a = np.zeros(0)
        for pk in x:
            a = np.concatenate([a + sign * pk * a[::-1], [pk]])
        return a
    a = x.copy()
    pis = np.empty(len(a))
    for k in range(len(a) - 1, -1, -1):
        pk = a[k]
        if not abs(pk) < 1:
            raise ValueError("partial autocorrelation outside (-1, 1)")
        pis[k] = pk
        head = a[:k]
        a = (head - sign * pk * head[::-1]) / (1.0 - pk * pk)
    return pis


def _arma_acf(phi, theta, max_lag):
    """Autocorrelations ``rho(0..max_lag)`` of a stationary ARMA(p, q) process.

    Solves the first ``p + 1`` autocovariance equations
    ``gamma(k) - sum_j phi_j gamma(|k - j|) = sum_{j=k}^{q} theta_j psi_{j-k}``
    (``theta_0 = 1``, ``psi`` the MA(infinity) weights) and extends by the recursion;
    exact, unlike a truncated psi-weight sum, when ``phi`` is close to the boundary.
    """
    p, q = len(phi), len(theta)
    psi = np.zeros(q + 1)
    psi[0] = 1.0
    for i in range(1, q + 1):
        psi[i] = theta[i - 1] + sum(phi[j - 1] * psi[i - j] for j in range(1, min(i, p) + 1))
    th = np.concatenate([[1.0], theta])
    c = np.array([th[k:] @ psi[:q + 1 - k] for k in range(q + 1)])
    M = np.eye(p + 1)
    for k in range(p + 1):
        for j in range(1, p + 1):
            M[k, abs(k - j)] -= phi[j - 1]
    rhs = np.zeros(p + 1)
    m = min(p, q) + 1
    rhs[:m] = c[:m]
    n_out = max(max_lag, p) + 1
    gamma = np.zeros(n_out)
    gamma[:p + 1] = np.linalg.solve(M, rhs)
    for k in range(p + 1, n_out):
        gamma[k] = sum(phi[j - 1] * gamma[k - j] for j in range(1, p + 1)) + (c[k] if k <= q else 0.0)
    return gamma[:max_lag + 1] / gamma[0]


def _split_terms(expr):
    """Split ``"x + y"`` on top-level ``+`` (not inside parentheses)."""
    parts, depth, cur = [], 0, []
    for ch in expr:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "+" and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _fmt_values(vals, limit=5):
    vals = [f"{v:g}" for v in np.asarray(vals, dtype=float).ravel()[:limit]]
    return "[" + ", ".join(vals) + "]"


def _as_vector(value, what):
    try:
        arr = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numeric, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return arr


# ---------------------------------------------------------------------------------
# base class
# ---------------------------------------------------------------------------------
class CorStruct(ApVarScale):
    """Base class of the correlation structures (nlme's ``corStruct``).

    Parameters
    ----------
    value : scalar, sequence or None
        Starting (or, with ``fixed=True``, fixed) value on nlme's natural scale.
    form : str
        nlme one-sided formula ``"~ covariate | grouping"``; the engine reads
        ``form.grouping`` to build the blocks.
    fixed : bool
        Hold the structure at ``value`` (no free parameters).

    Notes
    -----
    Subclasses implement the natural/unconstrained maps (``_to_natural``,
    ``_from_natural``, ``_names``), the per-row geometry (``_row_coords``,
    ``_pattern_keys``, ``_geometry``) and ``_corr_stack`` (correlation matrices of a
    stack of geometries).
    """

    description = "correlation structure"
    #: the correlation is continuously differentiable in its parameters (the engine
    #: then optimizes with the analytic gradient)
    differentiable = True
    #: AR(1)-type structure: bidiagonal inverse factor on monotone blocks
    _markov = False
    #: largest number of distinct patterns of one size solved pattern by pattern;
    #: beyond it all blocks of that size go through one batched solve
    _max_pattern_loop = 64

    def __init__(self, value=None, form="~ 1", fixed=False):
        self.form = parse_struct_form(form, f"{type(self).__name__} form")
        if not isinstance(fixed, (bool, np.bool_)):
            raise ValueError(f"{self._cls}: fixed must be True or False, got {fixed!r}")
        self.fixed = bool(fixed)
        self.value = value
        self.block_labels = None
        self._initialized = False
        self._theta0 = None

    # -- small utilities -----------------------------------------------------------
    @property
    def _cls(self):
        return type(self).__name__

    def _where(self, b):
        """Human name of block ``b`` for error messages."""
        labels = self.block_labels
        if labels is not None:
            return f"group '{labels[b]}'"
        if self._n_blocks == 1:
            return "the data"
        return f"block {b}"

    def _require_init(self, why):
        if not self._initialized:
            raise RuntimeError(f"{self._cls}: call initialize(data, blocks) first ({why})")

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in self._repr_extra().items())
        return (f"{self._cls}(value={self.value!r}, form={self.form.text!r}{extra}, "
                f"fixed={self.fixed})")

    def _repr_extra(self):
        return {}

    # -- protocol --------------------------------------------------------------------
    def initialize(self, data, blocks=None, eval_env=None):
        """Bind the structure to the model frame.

        Parameters
        ----------
        data : pandas.DataFrame
            Model-frame rows in engine order.
        blocks : array of int, shape (N,), optional
            Block id of every row, non-decreasing and contiguous ``0..B-1``; ``None``
            means one block.
        eval_env : patsy.EvalEnvironment, optional
            Namespace for covariate expressions.

        Raises
        ------
        ValueError
            Invalid positions/coordinates or values, naming the structure and the
            block (``self.block_labels``, set by the engine, gives block names).
        """
        if not isinstance(data, pd.DataFrame):
            raise ValueError(f"{self._cls}: data must be a pandas DataFrame")
        N = len(data)
        if N == 0:
            raise ValueError(f"{self._cls}: the data have no rows")
        blocks = np.zeros(N, dtype=np.int64) if blocks is None else np.asarray(blocks)
        if blocks.shape != (N,) or not np.issubdtype(blocks.dtype, np.integer):
            raise ValueError(f"{self._cls}: blocks must be an integer array with one entry per row")
        steps = np.diff(blocks)
        if blocks[0] != 0 or np.any((steps != 0) & (steps != 1)):
            raise ValueError(f"{self._cls}: blocks must be non-decreasing and contiguous 0..B-1 "
                             "(sort the rows by block first)")
        blocks = blocks.astype(np.int64)
        starts = np.concatenate([[0], np.flatnonzero(steps) + 1])
        sizes = np.diff(np.concatenate([starts, [N]]))
        self._N, self._n_blocks = N, len(starts)
        self._blocks, self._starts, self._sizes = blocks, starts, sizes
        if self.block_labels is not None and len(self.block_labels) != len(starts):
            raise ValueError(f"{self._cls}: block_labels has {len(self.block_labels)} "
                             f"entries for {len(starts)} blocks")

        coords = self._row_coords(data, eval_env)
        self._coords = coords
        self._validate_coords()

        dense = sizes >= 2
        self._bi_rows = np.zeros(0, dtype=np.int64)
        if self._markov:
            dense &= ~self._setup_bidiagonal()
        self._groups = _group_patterns(starts, sizes, np.flatnonzero(dense), self._pattern_keys())
        self._all_groups = None
        for g in self._groups:
            g.geom = self._geometry(coords[g.first_rows])
        self._setup_params()
        self._initialized = True

    @property
    def n_params(self):
        """Number of free unconstrained parameters (0 when fixed)."""
        return 0 if self.fixed else len(self._free_names())

    def param_names(self):
        """Names of the free unconstrained parameters (empty when fixed)."""
        return [] if self.fixed else list(self._free_names())


    # |theta| beyond this on the transformed scales puts the natural value at its
    # bound (e.g. |phi| > 0.99999)
    _BOUNDARY_THETA = 12.0

    def at_boundary(self, theta):
        """Which free parameters are on the boundary of their range.

        Parameters
        ----------
        theta : array_like
            Free parameters on the unconstrained scale.

        Returns
        -------
        ndarray of bool
        """
        return np.abs(np.asarray(theta, dtype=float)) > self._BOUNDARY_THETA

    def start(self):
        """Unconstrained starting values (length ``n_params``).

        Returns
        -------
        ndarray
        """
        if self.fixed:
            return np.zeros(0)
        if self._theta0 is None:
            self._require_init("the starting value depends on the data")
        return np.array(self._theta0, dtype=float)

    def coefficients(self, theta=None):
        """nlme's ``coef(cs, unconstrained = FALSE)`` at ``theta`` (the fixed value if fixed).

        Returns
        -------
        pandas.Series
        """
        nat = self._natural_for(theta)
        return pd.Series(nat, index=self._names(len(nat)), dtype=float)

    def to_unconstrained(self, natural):
        """Inverse of :meth:`coefficients`: natural values to the free unconstrained ``theta``.

        Parameters
        ----------
        natural : float, sequence, dict or pandas.Series
            A scalar, a sequence in reported order, or a Series/dict indexed by the reported
            names.

        Returns
        -------
        ndarray
            Empty for a fixed structure.
        """
        if self.fixed:
            return np.zeros(0)
        if isinstance(natural, dict):
            natural = pd.Series(natural)
        if isinstance(natural, pd.Series):
            names = self._names(len(natural))
            if set(natural.index) == set(names):
                natural = natural.reindex(names)
            natural = natural.to_numpy(dtype=float)
        nat = _as_vector(natural, f"{self._cls}: natural values")
        return np.asarray(self._from_natural(nat), dtype=float)

    def whiten(self, theta, A):
        """Pre-multiply ``A`` by ``blockdiag(L_b^-1)`` and return ``sum_b log|C_b|``.

        Parameters
        ----------
        theta : array_like
            Free unconstrained parameters (ignored when fixed).
        A : ndarray, shape (N,) or (N, m)
            Rows in engine order.

        Returns
        -------
        A_tilde : ndarray, same shape as ``A``
        logdet : float

        Raises
        ------
        numpy.linalg.LinAlgError
            (a ``ValueError``) when a correlation matrix is not positive definite.
        """
        self._require_init("whiten")
        nat = self._natural_for(theta)
        A = np.asarray(A, dtype=float)
        if A.shape[:1] != (self._N,) or A.ndim > 2:
            raise ValueError(f"{self._cls}: whiten expects {self._N} rows, got shape {A.shape}")
        A2 = A.reshape(self._N, -1)
        logdet = 0.0
        if self._bi_rows.size:
            out = np.empty_like(A2)
            logdet += self._whiten_bidiagonal(nat, A2, out)
        else:
            out = A2.copy()
        for g in self._groups:
            logdet += self._whiten_group(nat, g, A2, out)
        return out.reshape(A.shape), float(logdet)

    def dense_layout(self):
        """All blocks of two or more rows grouped by size and pattern (a list of
        ``_PatternGroup``), for algebra on the dense blocks (the analytic gradient)."""
        self._require_init("dense_layout")
        if self._all_groups is None:
            sizes = self._sizes
            self._all_groups = _group_patterns(self._starts, sizes, np.flatnonzero(sizes >= 2),
                                               self._pattern_keys())
            for g in self._all_groups:
                g.geom = self._geometry(self._coords[g.first_rows])
        return self._all_groups

    def dense_correlations(self, theta, jacobian=False):
        """Correlation matrices per pattern of :meth:`dense_layout`.

        Returns
        -------
        list of (C, dC)
            ``C`` of shape ``(P, n, n)``; ``dC`` of shape ``(k, P, n, n)``, the
            derivatives with respect to the ``k`` free unconstrained parameters (central
            differences of this cheap map; ``None`` unless ``jacobian``).
        """
        nat = self._natural_for(theta)
        out = []
        for g in self.dense_layout():
            C = self._corr_stack(nat, g.geom)
            dC = None
            if jacobian and self.n_params:
                dC = self._corr_jacobian(theta, g.geom, C)
                if dC is None:
                    dC = central_differences(
                        lambda t: self._corr_stack(self._natural_for(t), g.geom), theta, 1e-6)
            out.append((C, dC))
        return out

    @property
    def row_blocks(self):
        """Block index of every row (engine order), as passed to ``initialize``."""
        self._require_init("row_blocks")
        return self._blocks

    def correlation_matrix(self, theta, block):
        """Dense correlation matrix of one block, rows in engine order.

        Parameters
        ----------
        theta : array_like
            Free parameters on the unconstrained scale.
        block : int or str
            Block index, or a label from ``block_labels``.

        Returns
        -------
        ndarray
        """
        self._require_init("correlation_matrix")
        b = block
        if not isinstance(b, numbers.Integral):
            labels = [] if self.block_labels is None else [str(x) for x in self.block_labels]
            if str(b) not in labels:
                raise KeyError(f"{self._cls}: unknown block {block!r}")
            b = labels.index(str(b))
        if not 0 <= b < self._n_blocks:
            raise KeyError(f"{self._cls}: block index {b} out of range 0..{self._n_blocks - 1}")
        rows = self._starts[b] + np.arange(self._sizes[b])
        nat = self._natural_for(theta)
        return self._corr_stack(nat, self._geometry(self._coords[rows][None]))[0]

    # -- shared machinery --------------------------------------------------------------
    def _natural_for(self, theta):
        if self.fixed:
            if getattr(self, "_nat0", None) is None:
                self._require_init("the value comes from the data")
            return np.array(self._nat0, dtype=float)
        theta = np.zeros(0) if theta is None else np.asarray(theta, dtype=float).ravel()
        self._check_theta_size(theta.size)
        return np.asarray(self._to_natural(theta), dtype=float)

    def _check_theta_size(self, size):
        if size != self.n_params:
            raise ValueError(f"{self._cls}: expected {self.n_params} unconstrained "
                             f"parameter(s), got {size}")

    def _row_index(self):
        """Position 1..n_b of each row inside its block (nlme's default ``~ 1``)."""
        return (np.arange(self._N) - self._starts[self._blocks] + 1).astype(float)

    def _shifted_keys(self):
        """Coordinates relative to the block's first row: structures that depend only on
        differences share a pattern across shifted blocks."""
        c = self._coords
        return c - c[self._starts[self._blocks]]

    def _whiten_group(self, nat, g, A, out):
        """Dense whitening of one size group; returns its log-determinant."""
        C = self._corr_stack(nat, g.geom)
        try:
            L = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            raise np.linalg.LinAlgError(
                f"{self._cls}: correlation matrix is not positive definite at "
                + ", ".join(f"{k}={v:.6g}" for k, v in zip(self._names(len(nat)), nat))) from None
        counts = g.counts
        logdet = 2.0 * float(counts @ np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1))
        Ab = A[g.rows]                                    # (G, n, m)
        if len(counts) <= self._max_pattern_loop:
            res = np.empty_like(Ab)
            for p in range(len(counts)):
                b0, b1 = g.bounds[p], g.bounds[p + 1]
                # one triangular solve for all blocks of the pattern: RHS (n, G_p * m)
                rhs = Ab[b0:b1].transpose(1, 0, 2).reshape(g.n, -1)
                sol = solve_triangular(L[p], rhs, lower=True, check_finite=False)
                res[b0:b1] = sol.reshape(g.n, b1 - b0, -1).transpose(1, 0, 2)
        else:
            res = np.linalg.solve(np.repeat(L, counts, axis=0), Ab)
        out[g.rows] = res
        return logdet

    def _setup_bidiagonal(self):
        """Find blocks with monotone positions; store, for every row, the position step
        to its predecessor in the bidiagonal inverse factor (as an index into the distinct
        steps; index 0 means "no predecessor").  Returns a boolean mask of those blocks."""
        t = self._coords[:, 0]
        blocks, sizes = self._blocks, self._sizes
        same = np.flatnonzero(blocks[1:] == blocks[:-1]) + 1   # rows with a predecessor
        d = t[same] - t[same - 1]
        B = self._n_blocks
        n_up = np.bincount(blocks[same], (d > 0).astype(float), minlength=B)
        n_down = np.bincount(blocks[same], (d < 0).astype(float), minlength=B)
        # a stationary Gaussian Markov process is Markov in reversed time too, so
        # decreasing positions give the same bidiagonal form
        mono = (sizes >= 2) & ((n_up == sizes - 1) | (n_down == sizes - 1))
        keep = mono[blocks[same]]
        self._bi_rows = same[keep]
        steps, inverse = np.unique(np.abs(d[keep]), return_inverse=True)
        self._bi_steps = steps
        self._bi_step_of_row = np.zeros(self._N, dtype=np.int64)
        self._bi_step_of_row[self._bi_rows] = inverse.ravel() + 1
        return mono

    def _bidiagonal(self, phi, dphi=None):
        """The bidiagonal inverse factor as per-row coefficients: ``x~_j = a_j x_j + b_j
        x_{j-1}`` with ``a = (1 - r^2)^(-1/2)``, ``b = -r a``, ``r = phi^dt`` (``a = 1,
        b = 0`` for rows without a predecessor), computed on the distinct steps.  With
        ``dphi`` (``d phi / d theta``) also ``da`` and ``db``."""
        dt = self._bi_steps
        r = np.power(phi, dt)
        with np.errstate(divide="ignore"):
            # 1 - phi^(2 dt) without cancellation near |phi| = 1
            a = np.exp(-0.5 * np.log(-np.expm1(2.0 * dt * np.log(abs(phi)))))
        coefs = [a, -r * a]
        if dphi is not None:
            # da = r a^3 dr, db = -a^3 dr, dr = dt phi^(dt - 1) dphi
            dr = dt * np.power(phi, dt - 1.0) * dphi
            a3 = a ** 3
            coefs += [r * a3 * dr, -a3 * dr]
        k = self._bi_step_of_row
        return [np.r_[1.0 if i == 0 else 0.0, c][k] for i, c in enumerate(coefs)]

    def _whiten_bidiagonal(self, nat, A, out):
        """x~_j = (x_j - r_j x_{j-1}) / sqrt(1 - r_j^2), r_j = phi^dt_j, all rows at once
        (rows of other blocks come out unchanged: a = 1 and b = 0 there)."""
        a, b = self._bidiagonal(float(self._phi(nat)))
        bidiagonal_map(A, a, b, out=out)
        return float(-2.0 * np.log(a).sum())

    @property
    def is_banded(self):
        """Whether every block is whitened by the bidiagonal (Markov) factor, so that
        :meth:`banded_factor` describes the whitening."""
        return self._markov and not self._groups

    def banded_factor(self, theta):
        """The whitening as a bidiagonal map with its derivatives (banded structures).

        ``whiten(theta, A)`` is ``a_j A_j + b_j A_{j-1}`` row by row, and its derivative
        with respect to the free parameter ``da_j A_j + db_j A_{j-1}``.

        Parameters
        ----------
        theta : array_like
            Free unconstrained parameters.

        Returns
        -------
        a, b : ndarray (N,)
        da, db : ndarray (k, N)
            Derivatives with respect to the ``k`` free parameters (``k = 0`` when fixed).
        dlogdet : ndarray (k,)
            ``d sum_b log|C_b| / d theta``.
        """
        self._require_init("banded_factor")
        if not self.is_banded:
            raise NotImplementedError(f"{self._cls}: some blocks are not whitened by the "
                                      "bidiagonal factor")
        phi = float(self._phi(self._natural_for(theta)))
        if not self.n_params:
            a, b = self._bidiagonal(phi)
            return a, b, np.zeros((0, a.size)), np.zeros((0, a.size)), np.zeros(0)
        a, b, da, db = self._bidiagonal(phi, self._dphi(theta, phi))
        return a, b, da[None], db[None], np.array([-2.0 * float(np.sum(da / a))])

    def _dphi(self, theta, phi):
        """``d phi / d theta`` (central differences; the Markov structures override)."""
        h = 1e-6 * max(1.0, abs(float(theta[0])))
        t = np.asarray(theta, dtype=float)
        return float(self._phi(self._natural_for(t + h)) - self._phi(self._natural_for(t - h))) / (2 * h)

    def _setup_params(self):
        """Data-dependent parameter setup (bounds, defaults); sets ``_nat0``/``_theta0``."""
        self._theta0 = np.asarray(self._from_natural(self._nat0), dtype=float)

    def positive_definite(self, theta):
        """True when every block's correlation matrix is positive definite by
        construction at ``theta`` (no numerical check needed)."""
        return False

    def _corr_jacobian(self, theta, geom, C):
        """Analytic ``dC/dtheta`` (``(k, P, n, n)``) where a structure provides it;
        ``None``: central differences of :meth:`_corr_stack`."""
        return None

    # -- to be provided by subclasses ----------------------------------------------------
    def _names(self, k):
        raise NotImplementedError

    def _free_names(self):
        return self._names(len(self._nat0))

    def _to_natural(self, theta):
        raise NotImplementedError

    def _from_natural(self, nat):
        raise NotImplementedError

    def _row_coords(self, data, eval_env):
        raise NotImplementedError

    def _validate_coords(self):
        pass

    def _pattern_keys(self):
        return self._shifted_keys()

    def _geometry(self, coords):
        raise NotImplementedError

    def _corr_stack(self, nat, geom):
        raise NotImplementedError


# ---------------------------------------------------------------------------------
# position-based structures (AR1, CAR1, ARMA, Symm)
# ---------------------------------------------------------------------------------
class _PositionCor(CorStruct):
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
                    f"{_fmt_values(t[bad])} (first in {self._where(b)}); "
                    "use CorCAR1 or a spatial structure for continuous positions")
        return t[:, None]

    def _validate_coords(self):
        t, blocks = self._coords[:, 0], self._blocks
        order = np.lexsort((t, blocks))
        ts, bs = t[order], blocks[order]
        dup = (ts[1:] == ts[:-1]) & (bs[1:] == bs[:-1])
        if dup.any():
            b = bs[1:][dup][0]
            vals = np.unique(ts[1:][dup & (bs[1:] == b)])
            raise ValueError(f"{self._cls}: {self._where(b)} has repeated positions "
                             f"{_fmt_values(vals)}; positions must be unique within groups")

    def _geometry(self, coords):
        t = coords[..., 0]
        return np.abs(t[:, :, None] - t[:, None, :])


class _MarkovCor(_PositionCor):
    """One correlation parameter ``phi`` with ``C_jk = phi^|t_j - t_k|``: whitening by
    the bidiagonal inverse factor.  Subclasses give the open interval of ``phi``
    (``_bounds``) and its link to the unconstrained scale."""

    _markov = True
    _bounds = (-1.0, 1.0)

    def __init__(self, value, form, fixed):
        super().__init__(value, form, fixed)
        v = _as_vector(value, f"{self._cls}: value")
        self._check_phi(v, "value")
        self._nat0 = v
        self._theta0 = self._from_natural(v)

    def _check_phi(self, v, what):
        lo, hi = self._bounds
        if v.size != 1 or not lo < v[0] < hi:
            raise ValueError(f"{self._cls}: {what} must be one number in "
                             f"({lo:g}, {hi:g}), got {v if what == 'Phi' else v.tolist()}")

    def _names(self, k):
        return ["Phi"]

    def _phi(self, nat):
        return nat[0]

    def _from_natural(self, nat):
        self._check_phi(nat, "Phi")
        return self._link(nat)

    def _corr_stack(self, nat, geom):
        return np.power(nat[0], geom)

    def positive_definite(self, theta):
        # phi^|t_j - t_k| with distinct positions (checked) and |phi| < 1
        return abs(float(self._natural_for(theta)[0])) < 1.0 - 1e-8

    def _corr_jacobian(self, theta, geom, C):
        # d phi^d / d theta = d phi^(d-1) dphi/dtheta
        phi = float(self._natural_for(theta)[0])
        dphi = self._dphi(theta, phi)
        if phi == 0.0:
            return (dphi * (geom == 1))[None]
        return (dphi * geom * C / phi)[None]



class CorAR1(_MarkovCor):
    """First-order autoregressive correlation, ``C_jk = phi^|t_j - t_k|`` (nlme corAR1).

    Parameters
    ----------
    value : float, default 0
        ``phi``, ``|phi| < 1``.
    form : str, default ``"~ 1"``
        ``"~ 1 | g"`` uses positions 1..n in row order; ``"~ t | g"`` integer positions
        (gaps allowed: ``phi^|dt|``, nlme's ARMA(1, 0) behaviour); non-integer or
        repeated positions raise ``ValueError``.
    fixed : bool, default False

    Notes
    -----
    ``theta = log((1 + phi) / (1 - phi))``; reported as ``Phi``.
    """

    description = "AR(1)"

    def __init__(self, value=0, form="~ 1", fixed=False):
        super().__init__(value, form, fixed)

    def _to_natural(self, theta):
        return np.tanh(np.asarray(theta) / 2.0)

    def _link(self, nat):
        return 2.0 * np.arctanh(nat)

    @staticmethod
    def _dphi(theta, phi):
        return (1.0 - phi * phi) / 2.0          # d tanh(theta / 2) / d theta


class CorCAR1(_MarkovCor):
    """Continuous-time AR(1), ``C_jk = phi^|t_j - t_k|`` with real ``t`` (nlme corCAR1).

    Parameters
    ----------
    value : float, default 0.2
        ``phi`` in (0, 1).
    form : str, default ``"~ 1"``
        Usually ``"~ t | g"``; repeated positions within a group raise ``ValueError``.
    fixed : bool, default False

    Notes
    -----
    ``theta = log(phi / (1 - phi))``; reported as ``Phi``.  Equals ``CorExp`` with
    ``range = -1 / log(phi)``.
    """

    description = "Continuous AR(1)"
    _integer_positions = False
    _bounds = (0.0, 1.0)

    def __init__(self, value=0.2, form="~ 1", fixed=False):
        super().__init__(value, form, fixed)

    def _to_natural(self, theta):
        return expit(np.asarray(theta))

    def _link(self, nat):
        return logit(nat)

    @staticmethod
    def _dphi(theta, phi):
        return phi * (1.0 - phi)                # d expit(theta) / d theta

    def at_boundary(self, theta):
        # phi -> 0 is a matter of the time units, not a boundary; phi -> 1 is
        return np.asarray(theta, dtype=float) > self._BOUNDARY_THETA


class CorARMA(_PositionCor):
    """Stationary ARMA(p, q) autocorrelation at integer lags (nlme corARMA).

    Parameters
    ----------
    value : sequence of float, optional
        ``(phi_1..phi_p, theta_1..theta_q)``, default zeros; each must be in (-1, 1) and
        the whole must be stationary and invertible.
    form : str, default ``"~ 1"``
        Integer positions (``~ 1``: row order); ``C_jk = rho(|t_j - t_k|)``.
    p, q : int
        Orders, non-negative and not both zero.
    fixed : bool, default False

    Notes
    -----
    Each block (AR, then MA) is parameterized by partial autocorrelations
    ``pi_k = tanh(u_k / 2)`` mapped by a Durbin-Levinson recursion with sign -1 (AR)
    or +1 (MA).  Reported as ``Phi1..Phip, Theta1..Thetaq``.  ARMA(1, 0) whitens with
    the AR(1) bidiagonal factor.
    """

    def __init__(self, value=None, form="~ 1", p=0, q=0, fixed=False):
        super().__init__(value, form, fixed)
        for name, k in (("p", p), ("q", q)):
            if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
                raise ValueError(f"{self._cls}: {name} must be a non-negative integer, got {k!r}")
        if p == 0 and q == 0:
            raise ValueError(f"{self._cls}: p and q cannot both be zero")
        self.p, self.q = int(p), int(q)
        self._markov = self.p == 1 and self.q == 0
        self.description = f"ARMA({self.p},{self.q})"
        if value is None:
            v = np.zeros(p + q)
        else:
            v = _as_vector(value, f"{self._cls}: value")
            if v.size != p + q:
                raise ValueError(f"{self._cls}: value needs p + q = {p + q} numbers, got {v.size}")
            if np.any(np.abs(v) >= 1):
                raise ValueError(f"{self._cls}: every value must be in (-1, 1), got {_fmt_values(v)}")
        self._nat0 = v
        self._theta0 = self._from_natural(v)

    def _repr_extra(self):
        return {"p": self.p, "q": self.q}

    def _names(self, k):
        return [f"Phi{i}" for i in range(1, self.p + 1)] + [f"Theta{i}" for i in range(1, self.q + 1)]

    def _phi(self, nat):
        return nat[0]

    def _to_natural(self, theta):
        pis = np.tanh(np.asarray(theta, dtype=float) / 2.0)
        return np.concatenate([_durbin_levinson(pis[:self.p], -1.0),
                               _durbin_levinson(pis[self.p:], +1.0)])

    def _from_natural(self, nat):
        if nat.size != self.p + self.q:
            raise ValueError(f"{self._cls}: expected {self.p + self.q} coefficients, got {nat.size}")
        pis = []
        for part, sign, what in ((nat[:self.p], -1.0, "stationary"),
                                 (nat[self.p:], +1.0, "invertible")):
            try:
                pis.append(_durbin_levinson(part, sign, inverse=True))
            except ValueError:
                raise ValueError(f"{self._cls}: coefficients {_fmt_values(nat)} are not "
                                 f"{what}") from None
        pis = np.concatenate(pis)
        return np.log((1.0 + pis) / (1.0 - pis))

    def _corr_stack(self, nat, geom):
        lags = np.rint(geom).astype(np.int64)
        rho = _arma_acf(nat[:self.p], nat[self.p:], int(lags.max(initial=0)))
        return rho[lags]


class CorSymm(_PositionCor):
    """General (unstructured) correlation over positions 1..K (nlme corSymm).

    Parameters
    ----------
    value : sequence of float, optional
        The ``K(K-1)/2`` correlations row-wise ``(1,2), (1,3), .., (1,K), (2,3), ..``;
        must form a positive-definite matrix.  Default: identity.
    form : str, default ``"~ 1"``
        ``"~ 1 | g"``: positions are the row ranks 1..n_b; ``"~ k | g"``: integer
        positions whose distinct values over all groups are exactly 1..K.
    fixed : bool, default False

    Notes
    -----
    Spherical parameterization ``alpha = pi * e^u / (1 + e^u)``, ``C = U'U``;
    ``theta`` is ordered column-wise ``(1,2), (1,3), (2,3), (1,4), ..`` while the
    coefficients are reported row-wise as ``cor(1,2), cor(1,3), ..``.
    """

    description = "General correlation"

    # nlme's apVar uses Fisher's z = log((1 + r)/(1 - r)) of each correlation
    # ("corNatural"), row-wise, not the spherical parameters
    def apvar_params(self, theta):
        return 2.0 * np.arctanh(self.coefficients(theta).to_numpy())

    def apvar_theta(self, nat):
        return self.to_unconstrained(np.tanh(np.asarray(nat, dtype=float) / 2.0))

    def apvar_names(self):
        return list(self.coefficients(self.start()).index)

    def apvar_report(self, nat):
        r = np.tanh(np.asarray(nat, dtype=float) / 2.0)
        return pd.Series(r, index=self.apvar_names())

    def __init__(self, value=None, form="~ 1", fixed=False):
        super().__init__(value, form, fixed)
        self._K = self._K_value = None
        if value is not None:
            v = _as_vector(value, f"{self._cls}: value")
            self._K = self._K_value = self._dim(v.size)
            self._theta0 = self._from_natural(v)
            self._nat0 = v

    def _dim(self, k):
        K = int(round((1 + np.sqrt(1 + 8 * k)) / 2))
        if K < 2 or K * (K - 1) // 2 != k:
            raise ValueError(f"{self._cls}: {k} correlations do not fill a K x K matrix "
                             "(need K(K-1)/2 values, row-wise)")
        return K

    def _names(self, k):
        K = self._dim(k) if k else 1
        i, j = np.triu_indices(K, 1)
        return [f"cor({a + 1},{b + 1})" for a, b in zip(i, j)]

    def _free_names(self):
        if self._K is None:
            self._require_init("the number of positions K comes from the data")
        # theta order: column-wise pairs
        return [f"cor({j},{i})" for i in range(2, self._K + 1) for j in range(1, i)]

    @staticmethod
    def _full(nat, K):
        C = np.eye(K)
        i, j = np.triu_indices(K, 1)
        C[i, j] = C[j, i] = nat
        return C

    def _to_natural(self, theta):
        theta = np.asarray(theta, dtype=float)
        K = self._dim(theta.size) if theta.size else 1
        alpha = np.pi * expit(theta)
        U = np.zeros((K, K))
        U[0, 0] = 1.0
        pos = 0
        for i in range(1, K):
            a = alpha[pos:pos + i]
            pos += i
            s = np.concatenate([[1.0], np.cumprod(np.sin(a))])   # prod_{l<j} sin a_l
            U[:i, i] = np.cos(a) * s[:i]
            U[i, i] = s[i]
        C = U.T @ U
        return C[np.triu_indices(K, 1)]

    def _from_natural(self, nat):
        if nat.size == 0:
            return np.zeros(0)
        K = self._dim(nat.size)
        if self._K is not None and K != self._K:
            raise ValueError(f"{self._cls}: expected {self._K * (self._K - 1) // 2} "
                             f"correlations, got {nat.size}")
        if np.any(np.abs(nat) >= 1):
            raise ValueError(f"{self._cls}: correlations must be in (-1, 1), got {_fmt_values(nat, 10)}")
        try:
            U = np.linalg.cholesky(self._full(nat, K)).T
        except np.linalg.LinAlgError:
            raise ValueError(f"{self._cls}: the correlations {_fmt_values(nat, 10)} do not form "
                             "a positive-definite matrix") from None
        out = []
        for i in range(1, K):
            col = U[:i + 1, i]
            tail = np.sqrt(np.cumsum((col ** 2)[::-1])[::-1])  # sqrt(sum_{l>=j} U_li^2)
            alpha = np.arccos(np.clip(col[:i] / tail[:i], -1.0, 1.0))
            out.append(np.log(alpha / (np.pi - alpha)))
        return np.concatenate(out)

    def _validate_coords(self):
        super()._validate_coords()
        t = self._coords[:, 0]
        if t.min() < 1:
            b = self._blocks[np.argmin(t)]
            raise ValueError(f"{self._cls}: positions must be integers 1..K; {self._where(b)} "
                             f"has position {t.min():g}")
        K_data = int(t.max())
        if self._K_value is not None and K_data > self._K_value:
            b = self._blocks[np.argmax(t)]
            raise ValueError(f"{self._cls}: {self._where(b)} has position {K_data} but value= "
                             f"gives correlations for {self._K_value} positions")
        K = K_data if self._K_value is None else self._K_value
        missing = np.setdiff1d(np.arange(1, K + 1), t)
        if missing.size and not self.fixed:
            raise ValueError(f"{self._cls}: the distinct positions must be exactly 1..{K}; "
                             f"{_fmt_values(missing)} never occur")
        self._K_data = K

    def _pattern_keys(self):
        return self._coords           # absolute positions select the sub-matrix

    def _geometry(self, coords):
        return np.rint(coords[..., 0]).astype(np.int64) - 1

    def _corr_stack(self, nat, geom):
        K = self._K if self._K is not None else self._dim(nat.size)
        C = self._full(nat, K)
        return C[geom[:, :, None], geom[:, None, :]]

    def _setup_params(self):
        if self._K_value is None:
            self._K = self._K_data
            self._nat0 = np.zeros(self._K * (self._K - 1) // 2)
            self._theta0 = np.zeros(self._nat0.size)

    @property
    def n_params(self):
        if self.fixed:
            return 0
        if self._K is None:
            self._require_init("the number of positions K comes from the data")
        return self._K * (self._K - 1) // 2

    def _check_theta_size(self, size):
        if self._K is None:
            self._dim(size)     # before initialize: any complete K x K parameter vector
        else:
            super()._check_theta_size(size)


# ---------------------------------------------------------------------------------
# compound symmetry
# ---------------------------------------------------------------------------------
class CorCompSymm(CorStruct):
    """Compound symmetry, ``C_jk = rho`` for ``j != k`` (nlme corCompSymm).

    Parameters
    ----------
    value : float, default 0
        ``rho``; must lie in ``(a, 1)`` with ``a = -1/(n_max - 1)``, ``n_max`` the
        largest block size in the data.
    form : str, default ``"~ 1"``
        The covariate is ignored; only the grouping matters.
    fixed : bool, default False

    Notes
    -----
    ``theta = log((rho - a) / (1 - rho))``; reported as ``Rho``.  When every block has
    one row (``a = -inf``) the parameter has no effect and ``Rho`` is reported as the
    starting value.  Whitening uses nlme's closed-form factor, a scaled Helmert
    matrix (not the Cholesky factor), so normalized residuals equal nlme's.
    """

    description = "Compound symmetry"

    def __init__(self, value=0, form="~ 1", fixed=False):
        super().__init__(value, form, fixed)
        v = _as_vector(value, f"{self._cls}: value")
        if v.size != 1 or not -1 < v[0] < 1:
            raise ValueError(f"{self._cls}: value must be one number in (-1, 1), got {value!r}")
        self._nat0 = v
        self._a = None

    def _names(self, k):
        return ["Rho"]

    def _bound(self):
        if self._a is None:
            self._require_init("the lower bound depends on the largest group size")
        return self._a

    def _to_natural(self, theta):
        a = self._bound()
        if not np.isfinite(a):
            return np.array(self._nat0, dtype=float)
        return a + (1.0 - a) * expit(np.asarray(theta))

    def _from_natural(self, nat):
        a = self._bound()
        if nat.size != 1 or not nat[0] < 1:
            raise ValueError(f"{self._cls}: Rho must be one number below 1, got {nat}")
        if not np.isfinite(a):
            return np.zeros(1)
        if not nat[0] > a:
            raise ValueError(f"{self._cls}: Rho = {nat[0]:g} is not above the lower bound "
                             f"-1/(n_max - 1) = {a:g} (largest group size {self._n_max})")
        return np.log((nat - a) / (1.0 - nat))

    def _row_coords(self, data, eval_env):
        return np.zeros((self._N, 1))     # covariate ignored: pattern = block size

    def _geometry(self, coords):
        return coords[..., 0]

    def _corr_stack(self, nat, geom):
        n = geom.shape[-1]
        return np.broadcast_to((1 - nat[0]) * np.eye(n) + nat[0], (len(geom), n, n)).copy()

    def _setup_params(self):
        self._n_max = int(self._sizes.max())
        self._a = -1.0 / (self._n_max - 1) if self._n_max > 1 else -np.inf
        super()._setup_params()

    def _whiten_group(self, nat, g, A, out):
        # nlme's factor (compSymm_fact): a scaled Helmert matrix F with F'F = C^-1.
        # Row 0 is the block mean direction, row i contrasts row i with the i before
        # it.  Any square root gives the likelihood; this one gives nlme's normalized
        # residuals.
        rho, n = float(nat[0]), g.n
        i = np.arange(n, dtype=float)
        Ab = A[g.rows]                                   # (G, n, m)
        prev_sum = np.cumsum(Ab, axis=1) - Ab
        res = np.empty_like(Ab)
        res[:, 0] = Ab.sum(axis=1) / np.sqrt(n * (1.0 + (n - 1.0) * rho))
        scale = 1.0 / np.sqrt((1.0 - rho) * i[1:] * (i[1:] + 1.0))
        res[:, 1:] = (i[1:, None] * Ab[:, 1:] - prev_sum[:, 1:]) * scale[:, None]
        out[g.rows] = res
        logdet = np.log1p((n - 1.0) * rho) + (n - 1.0) * np.log1p(-rho)
        return float(len(g.rows) * logdet)


# ---------------------------------------------------------------------------------
# spatial structures
# ---------------------------------------------------------------------------------
_METRICS = ("euclidean", "manhattan", "maximum")


class _SpatialCor(CorStruct):
    """Isotropic spatial correlation ``C_jk = (1 - nugget) f(d_jk / range)``.

    Parameters
    ----------
    value : float or sequence, optional
        ``range`` or ``(range, nugget)``; defaults ``range = 0.9 d_min`` (Exp, Gaus,
        Ratio) or ``1.1 d_min`` (Lin, Spher), nugget 0.1.
    form : str, default ``"~ 1"``
        ``"~ x + y | g"``: one or more numeric coordinates; without a covariate the
        distance is ``|j - k|`` of the row order.
    nugget : bool, default False
    metric : {"euclidean", "manhattan", "maximum"}
    fixed : bool, default False

    Notes
    -----
    ``theta_1 = log(range)`` (Exp, Gaus, Ratio) or ``log(range - d_min)`` (Lin, Spher),
    ``theta_2 = logit(nugget)``; ``d_min`` is the smallest positive within-block
    distance.  Reported as ``range`` and ``nugget``.
    """

    _offset = False          # Lin/Spher: theta_1 = log(range - d_min)
    _start_factor = 0.9

    def at_boundary(self, theta):
        # a range -> 0 or infinity depends on the distance units; only the nugget
        # (second parameter) has a boundary
        out = super().at_boundary(theta)
        out[:1] = False
        return out

    def __init__(self, value=None, form="~ 1", nugget=False, metric="euclidean", fixed=False):
        super().__init__(value, form, fixed)
        if metric not in _METRICS:
            raise ValueError(f"{self._cls}: metric must be one of {_METRICS}, got {metric!r}")
        if not isinstance(nugget, (bool, np.bool_)):
            raise ValueError(f"{self._cls}: nugget must be True or False, got {nugget!r}")
        self.nugget, self.metric = bool(nugget), metric
        self._value = None
        if value is not None:
            v = _as_vector(value, f"{self._cls}: value")
            if v.size not in (1, 2) or (v.size == 2 and not self.nugget):
                need = ("range or (range, nugget)" if self.nugget else
                        "one number (range); use nugget=True for (range, nugget)")
                raise ValueError(f"{self._cls}: value must be {need}, got {value!r}")
            if not v[0] > 0:
                raise ValueError(f"{self._cls}: range must be positive, got {v[0]:g}")
            if v.size == 2 and not 0 < v[1] < 1:
                raise ValueError(f"{self._cls}: nugget must be in (0, 1), got {v[1]:g}")
            self._value = v
        self._d_min = None

    def _repr_extra(self):
        return {"nugget": self.nugget, "metric": self.metric}

    def _names(self, k):
        return ["range", "nugget"] if self.nugget else ["range"]

    def _free_names(self):
        return self._names(0)

    def _shift(self):
        if not self._offset:
            return 0.0
        if self._d_min is None:
            self._require_init("the range offset is the smallest distance in the data")
        return self._d_min

    def _to_natural(self, theta):
        theta = np.asarray(theta, dtype=float)
        out = [np.exp(theta[0]) + self._shift()]
        if self.nugget:
            out.append(expit(theta[1]))
        return np.array(out)

    def _from_natural(self, nat):
        if nat.size != len(self._names(0)):
            raise ValueError(f"{self._cls}: expected {self._names(0)}, got {nat.size} value(s)")
        shift = self._shift()
        if not nat[0] > shift:
            raise ValueError(f"{self._cls}: range must exceed {shift:g}, got {nat[0]:g}")
        out = [np.log(nat[0] - shift)]
        if self.nugget:
            if not 0 < nat[1] < 1:
                raise ValueError(f"{self._cls}: nugget must be in (0, 1), got {nat[1]:g}")
            out.append(logit(nat[1]))
        return np.array(out)

    def _row_coords(self, data, eval_env):
        cov = self.form.covariate
        if cov is None:
            return self._row_index()[:, None]
        cols = []
        for term in _split_terms(cov):
            if not term:
                raise ValueError(f"{self._cls}: empty coordinate in form {self.form.text!r}")
            x = eval_covariate(term, data, eval_env, f"{self._cls} coordinate")
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{self._cls}: coordinate {term!r} has missing or infinite values")
            cols.append(x)
        return np.column_stack(cols)

    def _geometry(self, coords):
        diff = np.abs(coords[:, :, None, :] - coords[:, None, :, :])
        if self.metric == "euclidean":
            return np.sqrt((diff ** 2).sum(axis=-1))
        if self.metric == "manhattan":
            return diff.sum(axis=-1)
        return diff.max(axis=-1)

    def _corr_stack(self, nat, geom):
        nug = nat[1] if self.nugget else 0.0
        C = (1.0 - nug) * self._f(geom / nat[0])
        n = geom.shape[-1]
        C[:, np.arange(n), np.arange(n)] = 1.0
        return C

    def _setup_params(self):
        d_pos = []
        for g in self._groups:
            off = ~np.eye(g.n, dtype=bool)
            d = g.geom[:, off]                        # (P, n(n-1))
            zero = (d == 0).any(axis=1)
            if zero.any() and not self.nugget:
                b = g.blocks[g.bounds[np.argmax(zero)]]
                raise ValueError(f"{self._cls}: {self._where(b)} has two rows at the same "
                                 "location (zero distance); use nugget=True")
            d_pos.append(d[d > 0])
        d_pos = np.concatenate(d_pos) if d_pos else np.zeros(0)
        # all blocks of size one: nothing correlates, any scale will do
        self._d_min = float(d_pos.min()) if d_pos.size else 1.0
        v = self._value
        R = self._start_factor * self._d_min if v is None else float(v[0])
        if self._offset and R <= self._d_min:
            warnings.warn(f"{self._cls}: initial range {R:g} must exceed the minimum distance "
                          f"{self._d_min:g}; using {1.1 * self._d_min:g}", UserWarning, stacklevel=3)
            R = 1.1 * self._d_min
        nat = [R]
        if self.nugget:
            nat.append(0.1 if v is None or v.size == 1 else float(v[1]))
        self._nat0 = np.array(nat)
        super()._setup_params()

    def start(self):
        self._require_init("default starting values depend on the distances")
        return super().start()

    def _natural_for(self, theta):
        if self.fixed:
            self._require_init("the value may depend on the distances")
        return super()._natural_for(theta)


def _spatial_doc(cls):
    """Append the shared parameter documentation of the spatial classes."""
    cls.__doc__ = cls.__doc__ + "\n\n" + _SpatialCor.__doc__.split("\n", 2)[2]
    return cls


@_spatial_doc
class CorExp(_SpatialCor):
    """Exponential spatial correlation, ``f(x) = exp(-x)`` (nlme corExp)."""

    description = "Exponential spatial correlation"

    @staticmethod
    def _f(x):
        return np.exp(-x)


@_spatial_doc
class CorGaus(_SpatialCor):
    """Gaussian spatial correlation, ``f(x) = exp(-x^2)`` (nlme corGaus)."""

    description = "Gaussian spatial correlation"

    @staticmethod
    def _f(x):
        return np.exp(-x * x)


@_spatial_doc
class CorRatio(_SpatialCor):
    """Rational quadratic spatial correlation, ``f(x) = 1 / (1 + x^2)`` (nlme corRatio)."""

    description = "Rational quadratic spatial correlation"

    @staticmethod
    def _f(x):
        return 1.0 / (1.0 + x * x)


@_spatial_doc
class CorLin(_SpatialCor):
    """Linear spatial correlation, ``f(x) = max(1 - x, 0)`` (nlme corLin)."""

    description = "Linear spatial correlation"
    _offset = True
    _start_factor = 1.1
    # f has a corner at x = 1: the likelihood has kinks wherever the range equals a
    # distance, so the optimizer uses (smoothing) finite differences, not the gradient
    differentiable = False

    @staticmethod
    def _f(x):
        return np.clip(1.0 - x, 0.0, None)


@_spatial_doc
class CorSpher(_SpatialCor):
    """Spherical spatial correlation, ``f(x) = 1 - 1.5 x + 0.5 x^3`` for ``x < 1``,
    else 0 (nlme corSpher)."""

    description = "Spherical spatial correlation"
    _offset = True
    _start_factor = 1.1

    @staticmethod
    def _f(x):
        return np.where(x < 1.0, 1.0 - 1.5 * x + 0.5 * x ** 3, 0.0)
