"""Residual diagnostics of nlme: the semivariogram (``Variogram``) and the
autocorrelation function (``ACF``) of within-group residuals.

Both follow nlme 3.1-162's ``Variogram.lme`` / ``Variogram.gls`` and ``ACF.lme`` /
``ACF.gls`` step by step (pairs within groups, R's quantile and ``cut`` rules for the
distance classes, the Cressie-Hawkins robust estimator, the model semivariogram of a
spatial correlation structure), so that the numbers equal nlme's.  Residuals are taken
in the caller's row order within each group, which is nlme's order on data sorted by
the grouping factors; nlme itself mixes up rows of unsorted data in two places
(positions for ``form = ~ 1`` and normalized residuals), lmmext does not.

The plots of these results live in :mod:`lmmext.plots` (matplotlib is optional).
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .corstruct import CorExp, CorGaus, CorLin, CorRatio, CorSpher, _split_terms
from .formula import eval_covariate, parse_struct_form
from .frame import _level_sort_key

__all__ = ["Variogram", "ACF", "VariogramResult", "ACFResult"]

_RES_TYPES = ("pearson", "response", "normalized")
_COLLAPSE = ("quantiles", "fixed", "none")
_METRICS = ("euclidean", "maximum", "manhattan")
_SPATIAL = (CorExp, CorGaus, CorLin, CorRatio, CorSpher)
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
        """Draw the semivariogram; see :func:`lmmext.plots.plot_variogram`."""
        from .plots import plot_variogram
        return plot_variogram(self, ax=ax, **kwargs)


class ACFResult(pd.DataFrame):
    """Empirical autocorrelation of within-group residuals (nlme's ``ACF`` object).

    A DataFrame with the columns

    * ``lag``: 0, 1, ..., ``maxLag``;
    * ``ACF``: the autocorrelation at the lag;
    * ``n_pairs``: the number of residual pairs at the lag (nlme's
      ``attr(, "n.used")``).
    """

    @property
    def _constructor(self):
        return ACFResult

    def plot(self, alpha=0.01, ax=None):
        """Draw the autocorrelations with nlme's critical bands; see
        :func:`lmmext.plots.plot_acf`."""
        from .plots import plot_acf
        return plot_acf(self, alpha=alpha, ax=ax)


# ---------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------
def _match_arg(value, choices, what):
    """R's ``match.arg``: an exact name or a unique prefix of one."""
    if isinstance(value, str):
        hits = [c for c in choices if c == value] or [c for c in choices if c.startswith(value)]
        if len(hits) == 1 and value:
            return hits[0]
    raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _positive_int(value, what, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _finite_number(value, what):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _frame_of(res):
    frame = getattr(res, "frame", None)
    if frame is None or not hasattr(res, "residuals"):
        raise TypeError(f"expected an lmmext fit (the result of lme(), gls(), "
                        f"MixedLM.fit() or GLS.fit()), got {type(res).__name__}")
    return frame


def _is_lme(frame):
    return bool(frame.levels)


# ---------------------------------------------------------------------------------
# rows, groups and coordinates in the caller's row order
# ---------------------------------------------------------------------------------
def _model_data(res, data):
    """The model's rows in the caller's order: the model frame, or the columns of
    ``data`` (the DataFrame the model was fitted to) for its kept rows."""
    frame = res.frame
    if data is None:
        caller = frame.data.iloc[np.argsort(frame.order, kind="stable")]
        return caller.set_axis(frame.index, axis=0)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be the pandas DataFrame the model was fitted to, "
                        f"got {type(data).__name__}")
    if not data.index.is_unique:
        raise ValueError("data has duplicated index labels; cannot match its rows to the fit")
    missing = frame.index.difference(data.index)
    if len(missing):
        raise ValueError(f"data lacks {len(missing)} row(s) of the fit (e.g. index "
                         f"{missing[0]!r}); pass the DataFrame the model was fitted to")
    return data.loc[frame.index]


def _residuals(res, resType):
    return res.residuals(type=resType).to_numpy(dtype=float)


def _codes_of_columns(data, names, what):
    """Group codes 0..G-1 in level order (outer column first) of grouping columns."""
    for n in names:
        if n not in data.columns:
            raise KeyError(f"{what}: unknown column {n!r} (pass data= with the columns the "
                           "fit does not use)")
        if data[n].isna().any():
            raise ValueError(f"{what}: grouping column {n!r} has missing values")
    keys = np.column_stack([_level_sort_key(data[n]) for n in names])
    _, codes = np.unique(keys, axis=0, return_inverse=True)
    return np.asarray(codes).ravel()


def _lme_codes(res, grouping, what):
    """Innermost random-effects groups (nlme uses ``getGroups(fit, level = Q)`` whatever
    the grouping in ``form``; a different grouping is refused instead of ignored)."""
    frame = res.frame
    names = [lev.name for lev in frame.levels]
    if grouping and list(grouping) not in (names, names[-1:]):
        raise ValueError(f"{what}: an lme fit's residuals are grouped by its innermost random "
                         f"effects grouping {names[-1]!r}, not {'/'.join(grouping)!r}")
    return frame.to_caller_order(frame.levels[-1].codes)


def _cor_codes(res):
    """The groups of a gls fit's correlation structure (nlme's ``getGroups(gls)``),
    or None when it has none."""
    cs = res.frame.corstruct
    if cs is None or not cs.form.grouping:
        return None
    return res.frame.to_caller_order(cs.row_blocks)


def _position_in_group(codes):
    """1, 2, ..., n_g within each group, in row order (nlme's ``form = ~ 1``)."""
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pos = np.empty(len(codes))
    pos[order] = np.arange(len(codes)) - np.repeat(starts, sizes) + 1
    return pos


def _form_coordinates(covariate, data, codes, eval_env, what):
    if covariate is None:
        return _position_in_group(codes)[:, None]
    cols = []
    for term in _split_terms(covariate):
        try:
            x = eval_covariate(term, data, eval_env, f"{what} covariate")
        except KeyError as exc:
            raise KeyError(f"{exc.args[0]}; pass data= (the DataFrame the model was fitted "
                           "to) for columns the model does not use") from None
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{what}: covariate {term!r} has missing or infinite values")
        cols.append(x)
    return np.column_stack(cols)


def _within_group_pairs(codes):
    """Row indices ``(i, j)`` of every pair of rows of one group, groups in code order
    and pairs as R's ``dist`` lists them (column-wise lower triangle: (2,1), (3,1), ...,
    (3,2), ...) with rows in their order within the group."""
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    groups, first, second = [], [], []
    for n in np.unique(sizes[sizes >= 2]):
        g = np.flatnonzero(sizes == n)
        rows = order[starts[g, None] + np.arange(n)]
        a, b = np.triu_indices(n, 1)
        groups.append(np.repeat(g, len(a)))
        first.append(rows[:, a].ravel())
        second.append(rows[:, b].ravel())
    if not groups:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keep = np.argsort(np.concatenate(groups), kind="stable")
    return np.concatenate(first)[keep], np.concatenate(second)[keep]


def _distances(coords, i, j, metric):
    """Distances as R's ``dist`` computes them (same operations, same rounding)."""
    diff = coords[i] - coords[j]
    if metric == "euclidean":
        return np.sqrt((diff * diff).sum(axis=1))
    if metric == "manhattan":
        return np.abs(diff).sum(axis=1)
    return np.abs(diff).max(axis=1)


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
    codes, coords, metric = _structure_distances(res)
    i, j = _within_group_pairs(codes)
    d = _distances(coords, i, j, metric)
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
    frame = _frame_of(res)
    resType = _match_arg(resType, _RES_TYPES, "resType")
    collapse = _match_arg(collapse, _COLLAPSE, "collapse")
    if not isinstance(robust, (bool, np.bool_)):
        raise ValueError(f"robust must be True or False, got {robust!r}")
    nint = _positive_int(nint, "nint")
    length_out = 50 if length_out is None else _positive_int(length_out, "length_out")
    if maxDist is not None:
        maxDist = _finite_number(maxDist, "maxDist")
    if breaks is not None:
        try:
            breaks = np.asarray(breaks, dtype=float).ravel()
        except (TypeError, ValueError):
            raise ValueError(f"breaks must be numbers, got {breaks!r}") from None
        if breaks.size == 0 or not np.all(np.isfinite(breaks)):
            raise ValueError(f"breaks must be finite numbers, got {breaks!r}")
    cs = frame.corstruct
    spatial = isinstance(cs, _SPATIAL)

    if form is None and spatial:
        if metric is not None and _match_arg(metric, _METRICS, "metric") != cs.metric:
            raise ValueError(f"the distances come from the fit's {type(cs).__name__} with "
                             f"metric {cs.metric!r}; give form= to use another metric")
        codes, coords, metric = _structure_distances(res)
    else:
        metric = _match_arg("euclidean" if metric is None else metric, _METRICS, "metric")
        parsed = parse_struct_form("~ 1" if form is None else form, "Variogram form")
        rows = _model_data(res, data)
        if _is_lme(frame):
            codes = _lme_codes(res, parsed.grouping, "Variogram form")
        elif parsed.grouping:
            codes = _codes_of_columns(rows, parsed.grouping, "Variogram form")
        else:
            codes = _cor_codes(res)
            if codes is None:
                codes = np.zeros(frame.N, dtype=np.int64)
        coords = _form_coordinates(parsed.covariate, rows, codes, frame.eval_env,
                                   "Variogram form")

    r = _residuals(res, resType)
    i, j = _within_group_pairs(codes)
    dist = _distances(coords, i, j, metric)
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


# ---------------------------------------------------------------------------------
# ACF
# ---------------------------------------------------------------------------------
def ACF(res, maxLag=None, resType="pearson", form=None, data=None):
    """Empirical autocorrelation of within-group residuals, as nlme's ``ACF(fit)``.

    ``ACF(k) = c(k) / c(0)`` with ``c(k) = sum e_t e_{t+k} / n(k)``, the sum over all
    pairs of residuals ``k`` rows apart in the same group (row order within groups)
    and ``n(k)`` their number.

    Parameters
    ----------
    res : LMEResults or GLSResults
        A fitted lmmext model.
    maxLag : int, optional
        Largest lag; default ``min(L, int(10 log10(L + 1)))`` with ``L`` the largest
        group size minus one (nlme).
    resType : {"pearson", "response", "normalized"}
        Residual type (default ``"pearson"``, as nlme).
    form : str, optional
        gls only: ``"~ 1 | g"`` groups the residuals when the correlation structure
        has no grouping (nlme's ``ACF.gls(form=)``); without either, the residuals are
        one series.  lme fits use their innermost random-effects groups.
    data : DataFrame, optional
        The data the model was fitted to, when ``form`` names a column the model does
        not use.

    Returns
    -------
    ACFResult
        Columns ``lag``, ``ACF`` and ``n_pairs`` (nlme's ``n.used``); lags beyond the
        largest group have no pairs and a NaN autocorrelation.
    """
    frame = _frame_of(res)
    resType = _match_arg(resType, _RES_TYPES, "resType")
    if _is_lme(frame):
        if form is not None:
            raise ValueError("form= applies to gls fits; an lme fit's residuals are grouped "
                             "by its innermost random-effects grouping")
        codes = _lme_codes(res, (), "ACF")
    else:
        codes = _cor_codes(res)
        if codes is None and form is not None:
            parsed = parse_struct_form(form, "ACF form")
            if parsed.grouping:
                codes = _codes_of_columns(_model_data(res, data), parsed.grouping, "ACF form")
        if codes is None:
            codes = np.zeros(frame.N, dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    e, g = _residuals(res, resType)[order], codes[order]
    if maxLag is None:
        longest = int(np.bincount(codes).max()) - 1
        maxLag = min(longest, int(10 * np.log10(longest + 1)))
    maxLag = _positive_int(maxLag, "maxLag", minimum=0)
    cross = np.zeros(maxLag + 1)
    n_pairs = np.zeros(maxLag + 1, dtype=np.int64)
    for k in range(maxLag + 1):
        same = g[:len(g) - k] == g[k:]
        cross[k] = np.dot(e[:len(e) - k][same], e[k:][same])
        n_pairs[k] = int(same.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = cross / n_pairs
    return ACFResult({"lag": np.arange(maxLag + 1), "ACF": cov / cov[0], "n_pairs": n_pairs})
