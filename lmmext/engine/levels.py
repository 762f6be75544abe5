"""One grouping level of the random effects as the engine sees it: its group codes, its
design, and the parameterization of its relative covariance ``D~ = L L'``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..structures.random_effects import PdMat, pd_class_named

__all__ = ["DesignMoments", "Level", "design_transform"]


@dataclass
class Level:
    """One grouping level of the random effects.

    Parameters
    ----------
    name : str
        Grouping name (``"Subject"``; nested ``"Machine"`` within ``"Worker"``).
    codes : ndarray of int, shape (N,)
        Group index per row, in engine order: non-decreasing, ``0..n_groups-1``, and
        nested within the codes of the next outer level.
    labels : sequence of str
        Label of each group (nlme style, ``outer/inner`` for nested levels).
    Z : ndarray, shape (N, q)
        Random-effects design of this level.
    z_names : list of str
    pd_class : {"pdSymm", "pdDiag", "pdIdent"}
        The covariance class by name, or
    pd : PdMat, optional
        the covariance class itself (e.g. a ``PdBlocked``); ``pd_class`` then becomes its
        name.
    """

    name: str
    codes: np.ndarray
    labels: list
    Z: np.ndarray
    z_names: list
    pd_class: str = "pdSymm"
    pd: PdMat = None
    first_row: np.ndarray = field(init=False)

    def __post_init__(self):
        self.codes = np.asarray(self.codes, dtype=np.int64)
        if sp.issparse(self.Z):               # crossed effects of one group (sparse_group)
            self.Z = sp.csr_matrix(self.Z, dtype=float)
        else:
            self.Z = np.asarray(self.Z, dtype=float).reshape(len(self.codes), -1)
        starts = np.flatnonzero(np.r_[True, np.diff(self.codes) != 0])
        self.first_row = starts
        if self.pd is None:
            self.pd = pd_class_named(self.pd_class, self.q)
        elif self.pd.q != self.q:
            raise ValueError(f"level {self.name!r}: {self.pd!r} is for {self.pd.q} random "
                             f"effects, the design has {self.q}")
        self.pd_class = self.pd.name

    @property
    def q(self):
        return self.Z.shape[1]

    @property
    def n_groups(self):
        return len(self.first_row)

    @property
    def n_params(self):
        return self.pd.n_params

    def factor(self, theta):
        """Lower-triangular ``L`` with ``D~ = L L'`` from the unconstrained parameters
        (see :mod:`lmmext.structures.random_effects`)."""
        return self.pd.factor(theta)

    def factor_jacobian(self, theta):
        """Derivatives ``dL/dtheta_j`` of :meth:`factor`, shape ``(n_params, q, q)``."""
        return self.pd.factor_jacobian(theta)

    def unfactor(self, L):
        """Inverse of :meth:`factor` (``L`` lower triangular, positive diagonal)."""
        return self.pd.unfactor(L)

    @property
    def is_sparse(self):
        """Whether the design is a ``scipy.sparse`` matrix (crossed effects)."""
        return sp.issparse(self.Z)

    @property
    def moments(self):
        """The design's :class:`DesignMoments`."""
        return DesignMoments.of(self.Z)

    def start(self):
        """nlme's starting value: relative precision ``diag(0.375^2 sum z^2 / m)``."""
        sq = self.Z.multiply(self.Z) if sp.issparse(self.Z) else self.Z ** 2
        return self.pd.start(np.asarray(sq.sum(axis=0)).ravel() / self.n_groups)

    def row_effects(self, b):
        """Every row's ``z_i' b_g(i)`` for the random effects ``b`` (n_groups, q)."""
        if sp.issparse(self.Z):                # only a single group is held sparse
            return np.asarray(self.Z @ b[0]).ravel()
        return np.einsum("nq,nq->n", self.Z, b[self.codes])


@dataclass
class DesignMoments:
    """Column moments of a random-effects design that :func:`design_transform` needs:
    rows, means, sums of squared deviations, ranges, the first row and the means
    of squares.  Moments of
    disjoint row sets combine exactly (Chan et al.'s pairwise update), so a partitioned
    design gets the whole design's transform."""

    n: int
    mean: np.ndarray
    m2: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    first: np.ndarray
    mean_sq: np.ndarray

    @classmethod
    def of(cls, Z):
        mean = Z.mean(axis=0)
        return cls(Z.shape[0], mean, ((Z - mean) ** 2).sum(axis=0), Z.min(axis=0),
                   Z.max(axis=0), Z[0].copy(), (Z ** 2).mean(axis=0))

    def combine(self, other):
        n = self.n + other.n
        delta = other.mean - self.mean
        return DesignMoments(n, self.mean + delta * other.n / n,
                             self.m2 + other.m2 + delta ** 2 * self.n * other.n / n,
                             np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi),
                             self.first,
                             (self.mean_sq * self.n + other.mean_sq * other.n) / n)


def design_transform(level, moments=None):
    """``A`` with ``Z A`` a well-conditioned design for a general (pdSymm) level, or
    ``None``.

    A covariate far from zero (calendar year, age + 1000) makes the random intercept and
    slope nearly collinear, and the criterion nearly flat along their covariance.
    ``Z A`` centres and scales every non-constant column when the design has a constant
    column (then ``Z A`` spans the same space and pdSymm's ``D = A D~ A'`` is the same
    family), else only scales them; ``D`` and the BLUPs ``b = A b~`` map back exactly.
    Other covariance classes are left as they are: centring would leave their family.
    ``moments`` (:class:`DesignMoments`) are the whole design's, when ``level`` holds a
    partition of its rows.
    """
    if level.pd_class != "pdSymm" or level.q < 2:
        return None
    mom = level.moments if moments is None else moments
    spread = mom.hi - mom.lo
    const = np.flatnonzero((spread == 0) & (mom.first != 0))
    A = np.eye(level.q)
    for j in range(level.q):
        if spread[j] == 0:
            continue
        if const.size:
            k0 = const[0]
            centre, scale = mom.mean[j], np.sqrt(mom.m2[j] / mom.n)
            A[j, j] = 1.0 / scale
            A[k0, j] = -centre / (scale * mom.first[k0])
        else:
            A[j, j] = 1.0 / np.sqrt(mom.mean_sq[j])
    return None if np.array_equal(A, np.eye(level.q)) else A
