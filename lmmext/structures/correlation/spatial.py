"""Isotropic spatial correlation: nlme's ``corExp``, ``corGaus``, ``corRatio``, ``corLin``
and ``corSpher``, with a nugget and three distance metrics.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit, logit

from ..form import eval_covariate, split_terms
from .base import CorStruct, as_vector

__all__ = ["CorExp", "CorGaus", "CorRatio", "CorLin", "CorSpher", "METRICS",
           "SPATIAL_STRUCTURES"]


METRICS = ("euclidean", "manhattan", "maximum")


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
    group : str, optional
        A between-subject factor (a column constant within each group of ``form``): one
        copy of the parameters per level, named ``"<name>:<level>"`` (SAS ``GROUP=``;
        see :mod:`lmmext.structures.correlation.grouped`).

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

    def __init__(self, value=None, form="~ 1", nugget=False, metric="euclidean", fixed=False,
                 group=None):
        super().__init__(value, form, fixed, group)
        if metric not in METRICS:
            raise ValueError(f"{self._cls}: metric must be one of {METRICS}, got {metric!r}")
        if not isinstance(nugget, (bool, np.bool_)):
            raise ValueError(f"{self._cls}: nugget must be True or False, got {nugget!r}")
        self.nugget, self.metric = bool(nugget), metric
        self._value = None
        if value is not None:
            v = as_vector(value, f"{self._cls}: value")
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
        for term in split_terms(cov):
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


#: the structures with a model semivariogram (``Variogram`` draws it)
SPATIAL_STRUCTURES = (CorExp, CorGaus, CorLin, CorRatio, CorSpher)
