"""One grouping level of the random effects as the engine sees it: its group codes, its
design, and the parameterization of its relative covariance ``D~ = L L'``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Level"]


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
    """

    name: str
    codes: np.ndarray
    labels: list
    Z: np.ndarray
    z_names: list
    pd_class: str = "pdSymm"
    first_row: np.ndarray = field(init=False)

    def __post_init__(self):
        self.codes = np.asarray(self.codes, dtype=np.int64)
        self.Z = np.asarray(self.Z, dtype=float).reshape(len(self.codes), -1)
        starts = np.flatnonzero(np.r_[True, np.diff(self.codes) != 0])
        self.first_row = starts
        if self.pd_class not in ("pdSymm", "pdDiag", "pdIdent"):
            raise ValueError(f"unknown random-effects structure {self.pd_class!r}")

    @property
    def q(self):
        return self.Z.shape[1]

    @property
    def n_groups(self):
        return len(self.first_row)

    @property
    def n_params(self):
        q = self.q
        return {"pdSymm": q * (q + 1) // 2, "pdDiag": q, "pdIdent": 1}[self.pd_class]

    def factor(self, theta):
        """Lower-triangular ``L`` with ``D~ = L L'`` from the unconstrained parameters
        (log of the diagonal, then the below-diagonal entries row by row)."""
        q = self.q
        if self.pd_class == "pdIdent":
            return np.exp(theta[0]) * np.eye(q)
        if self.pd_class == "pdDiag":
            return np.diag(np.exp(theta))
        L = np.diag(np.exp(theta[:q]))
        L[np.tril_indices(q, -1)] = theta[q:]
        return L

    def factor_jacobian(self, theta):
        """Derivatives ``dL/dtheta_j`` of :meth:`factor`, shape ``(n_params, q, q)``."""
        q = self.q
        out = np.zeros((self.n_params, q, q))
        if self.pd_class == "pdIdent":
            out[0] = np.exp(theta[0]) * np.eye(q)
            return out
        idx = np.arange(q)
        out[idx, idx, idx] = np.exp(theta[:q])
        if self.pd_class == "pdSymm":
            rows, cols = np.tril_indices(q, -1)
            out[q + np.arange(rows.size), rows, cols] = 1.0
        return out

    def unfactor(self, L):
        """Inverse of :meth:`factor` (``L`` lower triangular, positive diagonal)."""
        d = np.log(np.clip(np.diag(L), 1e-300, None))
        if self.pd_class == "pdIdent":
            return d[:1].copy()
        if self.pd_class == "pdDiag":
            return d
        return np.concatenate([d, L[np.tril_indices(self.q, -1)]])

    def start(self):
        """nlme's starting value: relative precision ``diag(0.375^2 sum z^2 / m)``."""
        ss = (self.Z ** 2).sum(axis=0) / self.n_groups
        ss = np.where(ss > 0, ss, 1.0)
        rel_sd = 1.0 / (0.375 * np.sqrt(ss))
        if self.pd_class == "pdIdent":
            return np.log([rel_sd.mean()])
        if self.pd_class == "pdDiag":
            return np.log(rel_sd)
        return np.concatenate([np.log(rel_sd), np.zeros(self.q * (self.q - 1) // 2)])
