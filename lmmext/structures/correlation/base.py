"""The correlation-structure protocol (nlme's corStruct): the base class every structure
subclasses, with the whitening machinery they share.

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

This module holds the protocol (:class:`CorStruct`) and the whitening machinery every
structure shares; the structures themselves live beside it: ``position`` and
``serial`` (AR(1), CAR(1), ARMA), ``general`` (CorSymm, CorCompSymm) and ``spatial``.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular

from ..form import parse_struct_form
from ..natural_scale import ApVarScale
from ..numdiff import central_differences
from .grouped import check_group, grouped_class
from .patterns import bidiagonal_map, group_patterns

__all__ = ["CorStruct", "as_vector", "fmt_values"]


def fmt_values(vals, limit=5):
    """At most ``limit`` values, formatted compactly for an error message."""
    vals = [f"{v:g}" for v in np.asarray(vals, dtype=float).ravel()[:limit]]
    return "[" + ", ".join(vals) + "]"


def as_vector(value, what):
    """``value`` as a finite 1-D float array, or a ValueError naming ``what``."""
    try:
        arr = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numeric, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return arr


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
    group : str, optional
        A between-subject factor (a column constant within each correlation group): one
        copy of the parameters per level, each group using its level's (SAS
        ``GROUP=``; see :mod:`.grouped`).

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

    def __init__(self, value=None, form="~ 1", fixed=False, group=None):
        self.form = parse_struct_form(form, f"{type(self).__name__} form")
        if not isinstance(fixed, (bool, np.bool_)):
            raise ValueError(f"{self._cls}: fixed must be True or False, got {fixed!r}")
        self.fixed = bool(fixed)
        self.value = value
        self.group = check_group(group, self._cls)
        self.block_labels = None
        self._initialized = False
        self._theta0 = None
        if self.group is not None and not getattr(self, "_grouped_base", None):
            # one copy of the parameters per level: the same class with the grouped
            # protocol in front (grouped.py), so isinstance and the printed name stay
            self.__class__ = grouped_class(type(self))

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
        extra = dict(self._repr_extra())
        if self.group is not None:
            extra["group"] = self.group
        extra = "".join(f", {k}={v!r}" for k, v in extra.items())
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
        self._bind_blocks(data, blocks)
        coords = self._row_coords(data, eval_env)
        self._coords = coords
        self._validate_coords()

        dense = self._sizes >= 2
        self._bi_rows = np.zeros(0, dtype=np.int64)
        if self._markov:
            dense &= ~self._setup_bidiagonal()
        self._groups = group_patterns(self._starts, self._sizes, np.flatnonzero(dense),
                                      self._pattern_keys())
        self._all_groups = None
        for g in self._groups:
            g.geom = self._geometry(coords[g.first_rows])
        self._setup_params()
        self._initialized = True

    def _bind_blocks(self, data, blocks):
        """Check ``data`` and ``blocks`` and store the block layout (``_N``,
        ``_n_blocks``, ``_blocks``, ``_starts``, ``_sizes``)."""
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
        nat = as_vector(natural, f"{self._cls}: natural values")
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
            out, logdet = self._whiten_bidiagonal(nat, A2)
        else:
            out = A2.copy()
        for g in self._groups:
            logdet += self._whiten_group(nat, g, A2, out)
        return out.reshape(A.shape), float(logdet)

    def dense_layout(self):
        """All blocks of two or more rows grouped by size and pattern (a list of
        ``PatternGroup``), for algebra on the dense blocks (the analytic gradient)."""
        self._require_init("dense_layout")
        if self._all_groups is None:
            sizes = self._sizes
            self._all_groups = group_patterns(self._starts, sizes, np.flatnonzero(sizes >= 2),
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
        b = self._block_index(block)
        rows = self._starts[b] + np.arange(self._sizes[b])
        nat = self._natural_for(theta)
        return self._corr_stack(nat, self._geometry(self._coords[rows][None]))[0]

    def _block_index(self, block):
        """The index of a block given by index or by label."""
        b = block
        if not isinstance(b, numbers.Integral):
            labels = [] if self.block_labels is None else [str(x) for x in self.block_labels]
            if str(b) not in labels:
                raise KeyError(f"{self._cls}: unknown block {block!r}")
            b = labels.index(str(b))
        if not 0 <= b < self._n_blocks:
            raise KeyError(f"{self._cls}: block index {b} out of range 0..{self._n_blocks - 1}")
        return int(b)

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
        self._bi_memo = None
        return mono

    def _bidiagonal(self, phi, dphi=None):
        """The bidiagonal inverse factor as per-row coefficients: ``x~_j = a_j x_j + b_j
        x_{j-1}`` with ``a = (1 - r^2)^(-1/2)``, ``b = -r a``, ``r = phi^dt`` (``a = 1,
        b = 0`` for rows without a predecessor), computed on the distinct steps.  With
        ``dphi`` (``d phi / d theta``) also ``da`` and ``db``.  The last ``phi``'s ``a``
        and ``b`` are kept: the score follows the evaluation at the same parameters, and
        irregular times have nearly as many distinct steps as rows."""
        dt, k = self._bi_steps, self._bi_step_of_row
        memo = getattr(self, "_bi_memo", None)
        if memo is None or memo[0] != phi:
            r = np.power(phi, dt)
            with np.errstate(divide="ignore"):
                # 1 - phi^(2 dt) without cancellation near |phi| = 1
                a = np.exp(-0.5 * np.log(-np.expm1(2.0 * dt * np.log(abs(phi)))))
            rows = [np.take(np.r_[1.0, a], k), np.take(np.r_[0.0, -r * a], k)]
            memo = self._bi_memo = (phi, r, a, rows)
        _, r, a, rows = memo
        if dphi is None:
            return list(rows)
        # da = r a^3 dr, db = -a^3 dr, dr = dt phi^(dt - 1) dphi
        dr = dt * np.power(phi, dt - 1.0) * dphi
        a3 = a ** 3
        return list(rows) + [np.take(np.r_[0.0, c], k) for c in (r * a3 * dr, -a3 * dr)]

    def _whiten_bidiagonal(self, nat, A):
        """x~_j = (x_j - r_j x_{j-1}) / sqrt(1 - r_j^2), r_j = phi^dt_j, all rows at once
        (rows of other blocks come out unchanged: a = 1 and b = 0 there); returns
        ``(x~, log|C|)``."""
        a, b = self._bidiagonal(float(self._phi(nat)))
        return bidiagonal_map(A, a, b), float(-2.0 * np.log(a).sum())

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
