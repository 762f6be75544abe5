"""nlme's semivariogram of within-group residuals (``Variogram``).

It follows nlme 3.1-162's ``Variogram.lme`` / ``Variogram.gls`` step by step (pairs
within groups, R's quantile and ``cut`` rules for the distance classes, the
Cressie-Hawkins robust estimator, the model semivariogram of a spatial correlation
structure), so that the numbers equal nlme's.  Residuals are taken
in the caller's row order within each group, which is nlme's order on data sorted by
the grouping factors; nlme itself mixes up rows of unsorted data in two places
(positions for ``form = ~ 1`` and normalized residuals), lmmext does not.

The plots live in :mod:`lmmext.diagnostics.plots` (matplotlib is optional).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..structures.correlation.spatial import SPATIAL_STRUCTURES
from ..structures.form import parse_struct_form
from .fit_rows import (RES_TYPES, codes_of_columns, cor_codes, distances, finite_number,
                       form_coordinates, frame_of, is_lme, lme_codes, match_arg, model_data,
                       positive_int, residuals_of, within_group_pairs)

__all__ = ["Variogram", "VariogramResult"]


_COLLAPSE = ("quantiles", "fixed", "none")
_METRICS = ("euclidean", "maximum", "manhattan")
# Cressie-Hawkins robust semivariogram: (mean |dr|^(1/2))^4 / (0.457 + 0.494 / n_h)
_CH_A, _CH_B = 0.457, 0.494


class VariogramResult(pd.DataFrame):
    """Semivariogram of residuals (nlme's ``Variogram`` object): a DataFrame.

    Its columns are

    * ``variog``: the semivariogram value of the distance class;
    * ``dist``: the median distance of the pairs in the class;
    * ``n_pairs``: the number of residual pairs in the class (nlme's ``n.pairs``; 1 per
      row when ``collapse="none"``).

    Attributes
    ----------
    model : DataFrame or None
        ``variog`` and ``dist`` of the fitted model's semivariogram (nlme's
        ``attr(, "modelVariog")``), present for fits with a spatial correlation
        structure unless the residuals are normalized.
    collapsed : bool
        Whether pairs were collapsed into distance classes.
    """

    _metadata = ["model", "collapsed"]

    @property
    def _constructor(self):
        return VariogramResult

    def plot(self, ax=None, **kwargs):
        """Draw the semivariogram; see :func:`lmmext.plot_variogram`."""
        from .plots import plot_variogram
        return plot_variogram(self, ax=ax, **kwargs)


# ---------------------------------------------------------------------------------
# R's numeric rules behind the distance classes
# ---------------------------------------------------------------------------------
def _r_quantile(x, probs):
    """R's ``quantile(x, probs)`` (type 7) with its exact arithmetic."""
    xs = np.sort(np.asarray(x, dtype=float))
    index = 1.0 + (len(xs) - 1) * np.asarray(probs, dtype=float)
    lo = np.floor(index).astype(np.int64)
    hi = np.ceil(index).astype(np.int64)
    qs = xs[lo - 1].copy()
    interp = (index > lo) & (xs[hi - 1] != qs)
    h = (index - lo)[interp]
    qs[interp] = (1.0 - h) * qs[interp] + h * xs[hi - 1][interp]
    return qs


def _r_seq_by(start, stop, by):
    """R's ``seq(start, stop, by)``."""
    n = int((stop - start) / by + 1e-10)
    return np.minimum(start + np.arange(n + 1) * by, stop)


def _r_seq_length(start, stop, length_out):
    """R's ``seq(start, stop, length.out = n)``."""
    if length_out == 1:
        return np.array([start])
    if start == stop:
        return np.full(length_out, float(start))
    step = (stop - start) / (length_out - 1)
    return np.concatenate([[start], start + np.arange(1, length_out - 1) * step, [stop]])


def _as_r_factor_key(values):
    """Class key of R's ``factor(x)`` of doubles: values that print alike with 15
    significant digits are one level."""
    uniq, inverse = np.unique(values, return_inverse=True)
    keys = np.array([float(f"{v:.15g}") for v in uniq])
    return keys[np.asarray(inverse).ravel()]


def _distance_classes(dist, collapse, nint, breaks):
    """Class index of every pair (-1: in no class) and the number of classes, by nlme's
    rules: ``cut(dist, breaks)`` (right-closed, the lowest break excluded) when there
    are more distinct distances than ``nint``, else one class per distance."""
    udist = np.unique(dist)
    if breaks is not None:
        breaks = np.asarray(breaks, dtype=float)
        if breaks.min() > udist[0]:
            breaks = np.concatenate([[udist[0]], breaks])
        if len(udist) > 1 and breaks.max() < udist[1]:
            breaks = np.concatenate([breaks, [udist[1]]])
        if nint is not None and nint != len(breaks) - 1:
            raise ValueError(f"nint = {nint} is not consistent with breaks "
                             f"({len(breaks) - 1} intervals)")
        nint = len(breaks) - 1
    elif nint is None:
        nint = 20
    if nint < len(udist):
        if breaks is None:
            if collapse == "quantiles":
                breaks = np.unique(_r_quantile(dist, _r_seq_by(0.0, 1.0, 1.0 / nint)))
            else:
                breaks = _r_seq_length(udist[0], udist[-1], nint + 1)
        breaks = np.sort(breaks)
        if np.any(np.diff(breaks) == 0):
            raise ValueError("breaks must be distinct")
        k = np.searchsorted(breaks, dist, side="left")        # breaks[k-1] < d <= breaks[k]
        inside = (k >= 1) & (k <= len(breaks) - 1)
        return np.where(inside, k - 1, -1), len(breaks) - 1
    keys = _as_r_factor_key(dist)
    levels, cls = np.unique(keys, return_inverse=True)
    return np.asarray(cls).ravel(), len(levels)


def _collapse(variog, dist, cls, n_classes, robust):
    """Mean (or robust) semivariogram, median distance and count of every non-empty
    class (nlme's lme method drops empty classes; its gls method keeps NaN rows)."""
    out_v, out_d, out_n = [], [], []
    for c in range(n_classes):
        rows = np.flatnonzero(cls == c)
        if rows.size == 0:
            continue
        v = variog[rows]
        out_v.append(np.mean(v ** 0.25) ** 4 / (_CH_A + _CH_B / v.size) if robust
                     else np.mean(v))
        out_d.append(np.median(dist[rows]))
        out_n.append(rows.size)
    return np.array(out_v), np.array(out_d), np.array(out_n, dtype=np.int64)


# ---------------------------------------------------------------------------------
# Variogram
# ---------------------------------------------------------------------------------
def _structure_distances(res):
    """Codes, coordinates (caller order) and metric of a spatial correlation
    structure's own geometry (nlme's ``getCovariate(corStruct)``)."""
    frame = res.frame
    cs = frame.corstruct
    coords = frame.to_caller_order(np.asarray(cs._coords, dtype=float))
    codes = frame.to_caller_order(cs.row_blocks)
    return codes, coords, cs.metric


def _model_variogram(res, resType, length_out):
    """The fitted structure's semivariogram ``sig2 (1 - (1 - nugget) f(d / range))``
    over the range of its within-group distances (nlme's ``Variogram.corSpatial``)."""
    cs = res.frame.corstruct
    if getattr(cs, "group", None):
        return None         # group-specific ranges: one curve per level, none is drawn
    codes, coords, metric = _structure_distances(res)
    i, j = within_group_pairs(codes)
    d = distances(coords, i, j, metric)
    if d.size == 0:
        return None
    params = res.correlation_params
    rng = float(params["range"])
    nugget = float(params["nugget"]) if "nugget" in params.index else 0.0
    sig2 = 1.0 if resType == "pearson" else res.sigma ** 2
    grid = _r_seq_length(float(d.min()), float(d.max()), length_out)
    variog = sig2 * (1.0 - (1.0 - nugget) * cs._f(grid / rng))
    return pd.DataFrame({"variog": variog, "dist": grid})


def Variogram(res, form=None, resType="pearson", robust=False, maxDist=None,
              length_out=None, collapse="quantiles", nint=20, breaks=None, metric=None,
              data=None):
    """Semivariogram of within-group residuals, as nlme's ``Variogram(fit, ...)``.

    For every pair of observations in the same group, half the squared difference of
    their residuals is paired with their distance; pairs are then averaged within
    distance classes.

    Parameters
    ----------
    res : LMEResults or GLSResults
        A fitted lmmext model.
    form : str, optional
        nlme one-sided formula ``"~ x + y"`` (coordinates; ``"~ 1"``: positions 1, 2,
        ... in row order within each group) optionally with ``"| g"``.  Default, as
        nlme: the distances of the fit's spatial correlation structure (``CorExp``,
        ``CorGaus``, ``CorLin``, ``CorRatio``, ``CorSpher``), else ``"~ 1"``.  Groups
        are the innermost random-effects grouping (lme), or the grouping of ``form``,
        else of the correlation structure (gls); a gls without either is one group.
    resType : {"pearson", "response", "normalized"}
        Residual type (unique prefixes accepted, as R does).  nlme's default is
        ``"pearson"``.
    robust : bool
        Cressie-Hawkins robust estimator ``mean(|dr|^(1/2))^4 / (0.457 + 0.494/n)``
        instead of the mean of ``dr^2 / 2``.
    maxDist : float, optional
        Keep only pairs at distance ``<= maxDist``.
    length_out : int, optional
        Number of points of the model semivariogram (nlme's ``length.out``, 50).
    collapse : {"quantiles", "fixed", "none"}
        Distance classes bounded by quantiles of the distances (default) or of equal
        width; ``"none"`` returns every pair.  Classes are used only when there are
        more than ``nint`` distinct distances (else one class per distance) and are
        right-closed intervals, so, as in nlme, pairs at the smallest distance fall
        outside the first class.
    nint : int
        Number of distance classes (default 20).
    breaks : sequence of float, optional
        Class boundaries; the smallest distance is prepended when it lies below them
        (nlme).  With breaks, ``nint`` must be left at its default or equal the number
        of intervals.
    metric : {"euclidean", "maximum", "manhattan"}, optional
        Distance for coordinates from ``form`` (default euclidean); the structure's
        own metric is used for its distances.
    data : DataFrame, optional
        The data the model was fitted to, when ``form`` names columns the model does
        not use.

    Returns
    -------
    VariogramResult
        Columns ``variog``, ``dist``, ``n_pairs``; attribute ``model`` with the fitted
        model's semivariogram (``variog``, ``dist``) for a spatial correlation
        structure and non-normalized residuals, else None.

    Raises
    ------
    ValueError
        Unknown option values, a grouping that differs from an lme fit's, missing
        coordinates, or no pairs within groups.

    Notes
    -----
    Empty distance classes are dropped (nlme's ``Variogram.lme`` does so; its gls
    method keeps them as NaN rows).  The model semivariogram is nlme's
    ``sig2 * (nugget + (1 - nugget) * (1 - cor(d)))`` with ``sig2 = 1`` for Pearson
    and ``sigma^2`` for response residuals.
    """
    frame = frame_of(res)
    resType = match_arg(resType, RES_TYPES, "resType")
    collapse = match_arg(collapse, _COLLAPSE, "collapse")
    if not isinstance(robust, (bool, np.bool_)):
        raise ValueError(f"robust must be True or False, got {robust!r}")
    nint = positive_int(nint, "nint")
    length_out = 50 if length_out is None else positive_int(length_out, "length_out")
    if maxDist is not None:
        maxDist = finite_number(maxDist, "maxDist")
    if breaks is not None:
        try:
            breaks = np.asarray(breaks, dtype=float).ravel()
        except (TypeError, ValueError):
            raise ValueError(f"breaks must be numbers, got {breaks!r}") from None
        if breaks.size == 0 or not np.all(np.isfinite(breaks)):
            raise ValueError(f"breaks must be finite numbers, got {breaks!r}")
    cs = frame.corstruct
    spatial = isinstance(cs, SPATIAL_STRUCTURES)

    if form is None and spatial:
        if metric is not None and match_arg(metric, _METRICS, "metric") != cs.metric:
            raise ValueError(f"the distances come from the fit's {type(cs).__name__} with "
                             f"metric {cs.metric!r}; give form= to use another metric")
        codes, coords, metric = _structure_distances(res)
    else:
        metric = match_arg("euclidean" if metric is None else metric, _METRICS, "metric")
        parsed = parse_struct_form("~ 1" if form is None else form, "Variogram form")
        rows = model_data(res, data)
        if is_lme(frame):
            codes = lme_codes(res, parsed.grouping, "Variogram form")
        elif parsed.grouping:
            codes = codes_of_columns(rows, parsed.grouping, "Variogram form")
        else:
            codes = cor_codes(res)
            if codes is None:
                codes = np.zeros(frame.N, dtype=np.int64)
        coords = form_coordinates(parsed.covariate, rows, codes, frame.eval_env,
                                   "Variogram form")

    r = residuals_of(res, resType)
    i, j = within_group_pairs(codes)
    dist = distances(coords, i, j, metric)
    variog = (r[i] - r[j]) ** 2 / 2.0
    if maxDist is not None:
        keep = dist <= maxDist
        variog, dist = variog[keep], dist[keep]
    if dist.size == 0:
        raise ValueError("no pairs of observations within groups"
                         + (f" at distance <= maxDist = {maxDist:g}" if maxDist is not None else ""))

    if collapse == "none":
        table = {"variog": variog, "dist": dist, "n_pairs": np.ones(dist.size, dtype=np.int64)}
    else:
        # with breaks, nlme checks nint only when it was given: treat the default as not given
        given_nint = None if breaks is not None and nint == 20 else nint
        cls, n_classes = _distance_classes(dist, collapse, given_nint, breaks)
        v, d, n = _collapse(variog, dist, cls, n_classes, robust)
        table = {"variog": v, "dist": d, "n_pairs": n}
    out = VariogramResult(table)
    out.collapsed = collapse != "none"
    out.model = (_model_variogram(res, resType, length_out)
                 if spatial and resType != "normalized" else None)
    return out
