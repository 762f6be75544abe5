"""General correlation over positions: nlme's ``corSymm`` (unstructured) and
``corCompSymm`` (compound symmetry).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from .base import CorStruct, as_vector, fmt_values
from .position import PositionCor

__all__ = ["CorSymm", "CorCompSymm"]


class CorSymm(PositionCor):
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
    group : str, optional
        A between-subject factor (a column constant within each group of ``form``): one
        copy of the parameters per level, named ``"<name>:<level>"`` (SAS ``GROUP=``;
        see :mod:`lmmext.structures.correlation.grouped`).

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

    def __init__(self, value=None, form="~ 1", fixed=False, group=None):
        super().__init__(value, form, fixed, group)
        self._K = self._K_value = None
        if value is not None:
            v = as_vector(value, f"{self._cls}: value")
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
            raise ValueError(f"{self._cls}: correlations must be in (-1, 1), got {fmt_values(nat, 10)}")
        try:
            U = np.linalg.cholesky(self._full(nat, K)).T
        except np.linalg.LinAlgError:
            raise ValueError(f"{self._cls}: the correlations {fmt_values(nat, 10)} do not form "
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
        self._require_positions_from_one()
        t = self._coords[:, 0]
        K_data = int(t.max())
        if self._K_value is not None and K_data > self._K_value:
            b = self._blocks[np.argmax(t)]
            raise ValueError(f"{self._cls}: {self._where(b)} has position {K_data} but value= "
                             f"gives correlations for {self._K_value} positions")
        K = K_data if self._K_value is None else self._K_value
        missing = np.setdiff1d(np.arange(1, K + 1), t)
        if missing.size and not self.fixed:
            raise ValueError(f"{self._cls}: the distinct positions must be exactly 1..{K}; "
                             f"{fmt_values(missing)} never occur")
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
    group : str, optional
        A between-subject factor (a column constant within each group of ``form``): one
        copy of the parameters per level, named ``"<name>:<level>"`` (SAS ``GROUP=``;
        see :mod:`lmmext.structures.correlation.grouped`).

    Notes
    -----
    ``theta = log((rho - a) / (1 - rho))``; reported as ``Rho``.  When every block has
    one row (``a = -inf``) the parameter has no effect and ``Rho`` is reported as the
    starting value.  Whitening uses nlme's closed-form factor, a scaled Helmert
    matrix (not the Cholesky factor), so normalized residuals equal nlme's.
    """

    description = "Compound symmetry"

    def __init__(self, value=0, form="~ 1", fixed=False, group=None):
        super().__init__(value, form, fixed, group)
        v = as_vector(value, f"{self._cls}: value")
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
