"""Diagnostic plots of lmmext fits, after nlme's plot methods (matplotlib).

matplotlib is an optional dependency (``pip install "lmmext[plot]"``); it is imported
only when a plot is drawn.  Every function returns the matplotlib ``Figure``; those
that draw a single panel accept ``ax=`` to draw into an existing Axes.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .fit_rows import RES_TYPES, frame_of, match_arg, model_data, position_in_group

__all__ = ["plot_resid_fitted", "plot_qq", "plot_observed_fitted", "plot_variogram",
           "plot_acf"]

# nlme's axis labels of the residual types
_RESID_LABEL = {"pearson": "Standardized residuals", "response": "Residuals",
                "normalized": "Normalized residuals"}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("lmmext's plots need matplotlib: install lmmext[plot] "
                          "(pip install \"lmmext[plot]\")") from None
    return plt


def _single_axes(ax):
    if ax is None:
        fig, ax = _pyplot().subplots()
        return fig, ax
    return ax.figure, ax


def _panels(n, ax, what):
    """A figure with ``n`` panels (unused grid cells removed); ``ax`` only for one."""
    if n == 1:
        fig, ax = _single_axes(ax)
        return fig, [ax]
    if ax is not None:
        raise ValueError(f"{what} draws {n} panels; ax= is only for a single panel")
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig, grid = _pyplot().subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True,
                                   layout="constrained",
                                   figsize=(2.8 * ncols + 1, 2.4 * nrows + 0.8))
    axes = list(grid.ravel())
    for extra in axes[n:]:
        fig.delaxes(extra)
    return fig, axes[:n]


def _by_levels(res, by, data):
    """Labels (caller order) and the levels, in order, of a panel variable: a column
    of the model data (or of ``data``) or one value per observation; ``by=None`` is one
    panel (level ``None``) with no name."""
    nobs = frame_of(res).N
    if by is None:
        return np.zeros(nobs), [None], None
    if isinstance(by, str):
        rows = model_data(res, data)
        if by not in rows.columns:
            raise KeyError(f"by={by!r} is not a column of the fit's data "
                           f"({', '.join(map(str, rows.columns))}); pass data= with it")
        values = rows[by]
        name = by
    else:
        values = pd.Series(np.asarray(by, dtype=object).ravel())
        if len(values) != nobs:
            raise ValueError(f"by= must be a column name or have one value per observation "
                             f"({nobs}), got {len(values)} values")
        name = None
    if values.isna().any():
        raise ValueError(f"by={by if name else 'values'!r} has missing values")
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.astype(object))
        levels = [c for c in values.cat.categories if c in present]
    else:
        levels = sorted(pd.unique(values.astype(object)), key=lambda v: (str(type(v)), v))
    return values.to_numpy(dtype=object), levels, name


def _panel_title(name, level):
    return f"{name} = {level}" if name else str(level)


def plot_resid_fitted(res, by=None, type="pearson", ax=None, data=None):
    """Residuals against fitted values, as nlme's
    ``plot(fit, resid(., type = "p") ~ fitted(.) | by)``.

    Parameters
    ----------
    res : LMEResults or GLSResults
    by : str or array_like, optional
        One panel per level of this column of the fit's data (or of these values,
        one per observation).
    type : {"pearson", "response", "normalized"}
        Residual type.
    ax : matplotlib Axes, optional
        Draw into it (single panel only).
    data : DataFrame, optional
        The data the model was fitted to, when ``by`` names a column the model does
        not use.

    Returns
    -------
    matplotlib.figure.Figure
        Each panel has the scatter of (fitted, residual) and a horizontal line at 0.
    """
    frame_of(res)
    type = match_arg(type, RES_TYPES, "type")
    fitted = res.fittedvalues.to_numpy(dtype=float)
    resid = res.residuals(type=type).to_numpy(dtype=float)
    labels, levels, name = _by_levels(res, by, data)
    fig, axes = _panels(len(levels), ax, "plot_resid_fitted")
    for panel, level in zip(axes, levels):
        rows = slice(None) if level is None else labels == level
        panel.scatter(fitted[rows], resid[rows], s=12)
        panel.axhline(0.0, color="0.4", linewidth=1)
        if level is not None:
            panel.set_title(_panel_title(name, level), fontsize="medium")
    _label(fig, axes, "Fitted values", _RESID_LABEL[type])
    return fig


def _label(fig, axes, xlabel, ylabel):
    if len(axes) == 1:
        axes[0].set_xlabel(xlabel)
        axes[0].set_ylabel(ylabel)
    else:
        fig.supxlabel(xlabel)
        fig.supylabel(ylabel)


def _ppoints(n):
    """R's ``ppoints(n)``: ``(i - a) / (n + 1 - 2a)``, ``a = 3/8`` for ``n <= 10``
    else ``1/2``."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def _qq_panel(ax, values):
    y = np.sort(np.asarray(values, dtype=float))
    ax.scatter(stats.norm.ppf(_ppoints(len(y))), y, s=12)


def plot_qq(res, which="resid", type="pearson", by=None, ax=None, data=None):
    """Normal quantile-quantile plot of residuals or random effects, as nlme's
    ``qqnorm(fit, ~ resid(., type = "p") | by)`` and ``qqnorm(fit, ~ ranef(.))``.

    Parameters
    ----------
    res : LMEResults or GLSResults
    which : {"resid", "ranef"}
        Residuals, or the BLUPs (lme only) with one panel per random-effect column
        (per grouping level for nested random effects).
    type : {"pearson", "response", "normalized"}
        Residual type (``which="resid"``).
    by : str or array_like, optional
        One residual panel per level (as in :func:`plot_resid_fitted`).
    ax : matplotlib Axes, optional
        Draw into it (single panel only).
    data : DataFrame, optional
        The data the model was fitted to, for a ``by`` column the model does not use.

    Returns
    -------
    matplotlib.figure.Figure
        Each panel plots the sorted values (y) against the normal quantiles of R's
        ``ppoints(n)`` (x).
    """
    frame_of(res)
    which = match_arg(which, ("resid", "ranef"), "which")
    if which == "ranef":
        if by is not None:
            raise ValueError("by= applies to which='resid'")
        if not hasattr(res, "ranef"):
            raise ValueError("a gls fit has no random effects; use which='resid'")
        blups = res.ranef()
        blups = blups if isinstance(blups, dict) else {None: blups}
        columns = [(lev, col, df[col]) for lev, df in blups.items() for col in df.columns]
        fig, axes = _panels(len(columns), ax, "plot_qq")
        for panel, (lev, col, values) in zip(axes, columns):
            _qq_panel(panel, values)
            panel.set_title(col if lev is None else f"{lev}: {col}", fontsize="medium")
        _label(fig, axes, "Quantiles of standard normal", "Random effects")
        return fig
    type = match_arg(type, RES_TYPES, "type")
    resid = res.residuals(type=type).to_numpy(dtype=float)
    labels, levels, name = _by_levels(res, by, data)
    fig, axes = _panels(len(levels), ax, "plot_qq")
    for panel, level in zip(axes, levels):
        _qq_panel(panel, resid if level is None else resid[labels == level])
        if level is not None:
            panel.set_title(_panel_title(name, level), fontsize="medium")
    _label(fig, axes, "Quantiles of standard normal", _RESID_LABEL[type])
    return fig


def _fit_groups(res):
    """Group codes (caller order) and labels of the fit: innermost random-effects
    groups (lme) or the correlation structure's groups (gls)."""
    frame = res.frame
    if frame.levels:
        lev = frame.levels[-1]
        return frame.to_caller_order(lev.codes), list(lev.labels)
    cs = frame.corstruct
    if cs is None or not cs.form.grouping:
        raise ValueError("by_group=True needs groups: this gls fit has no grouped "
                         "correlation structure")
    return frame.to_caller_order(cs.row_blocks), [str(b) for b in cs.block_labels]


def plot_observed_fitted(res, level=None, by_group=False, x=None, max_panels=16, ax=None,
                         data=None):
    """Observed against fitted values with the identity line, or per group observed
    points and fitted values (nlme's ``plot(fit, y ~ fitted(.))`` and
    ``plot(augPred(fit))``).

    Parameters
    ----------
    res : LMEResults or GLSResults
    level : int, optional
        lme: grouping level of the fitted values (0 = population; default innermost).
    by_group : bool
        One panel per group (lme: innermost grouping; gls: the correlation
        structure's groups) with the observed values as points and the fitted values
        as a line against ``x``.
    x : str, optional
        Column of the fit's data for the horizontal axis of the group panels;
        default the position of the observation within its group.
    max_panels : int
        Largest number of group panels; the first groups (in level order) are shown.
    ax : matplotlib Axes, optional
        Draw into it (``by_group=False`` only).
    data : DataFrame, optional
        The data the model was fitted to, for an ``x`` column the model does not use.

    Returns
    -------
    matplotlib.figure.Figure
    """
    frame = frame_of(res)
    observed = frame.to_caller_order(frame.y)
    if frame.levels:
        fitted = res.fitted(level).to_numpy(dtype=float)
    else:
        if level not in (None, 0):
            raise ValueError(f"a gls fit has only population fitted values (level 0), got "
                             f"level={level!r}")
        fitted = res.fittedvalues.to_numpy(dtype=float)
    if not by_group:
        fig, ax = _single_axes(ax)
        ax.scatter(fitted, observed, s=12)
        lo = float(min(fitted.min(), observed.min()))
        hi = float(max(fitted.max(), observed.max()))
        ax.plot([lo, hi], [lo, hi], color="0.4", linewidth=1)
        ax.set_xlabel("Fitted values")
        ax.set_ylabel(frame.y_name)
        return fig
    if ax is not None:
        raise ValueError("by_group=True draws one panel per group; ax= is only for "
                         "by_group=False")
    if isinstance(max_panels, bool) or not isinstance(max_panels, int) or max_panels < 1:
        raise ValueError(f"max_panels must be a positive integer, got {max_panels!r}")
    codes, labels = _fit_groups(res)
    if x is None:
        xs, xlabel = position_in_group(codes), "Observation within group"
    else:
        rows = model_data(res, data)
        if x not in rows.columns:
            raise KeyError(f"x={x!r} is not a column of the fit's data; pass data= with it")
        xs, xlabel = rows[x].to_numpy(dtype=float), x
    shown = min(len(labels), max_panels)
    fig, axes = _panels(shown, None, "plot_observed_fitted")
    for g, panel in enumerate(axes):
        rows = np.flatnonzero(codes == g)
        rows = rows[np.argsort(xs[rows], kind="stable")]
        panel.scatter(xs[rows], observed[rows], s=12)
        panel.plot(xs[rows], fitted[rows], linewidth=1)
        panel.set_title(labels[g], fontsize="medium")
    if shown < len(labels):
        fig.suptitle(f"first {shown} of {len(labels)} groups")
    _label(fig, axes, xlabel, frame.y_name)
    return fig


def plot_variogram(vario, ax=None, smooth=None, show_model=None):
    """Semivariogram points, with the fitted model's semivariogram or a smooth, as
    nlme's ``plot(Variogram(fit))``.

    Parameters
    ----------
    vario : VariogramResult
    ax : matplotlib Axes, optional
    smooth : bool, optional
        Add a lowess smooth of the points (span 0.6); default when no model curve is
        shown (nlme).
    show_model : bool, optional
        Draw the model semivariogram (``vario.model``); default when there is one.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(vario, pd.DataFrame) or not {"variog", "dist"} <= set(vario.columns):
        raise TypeError("plot_variogram needs the result of lmmext.Variogram()")
    model = getattr(vario, "model", None)
    if show_model is None:
        show_model = model is not None
    elif show_model and model is None:
        raise ValueError("this variogram has no model semivariogram (the fit has no spatial "
                         "correlation structure, or the residuals are normalized)")
    if smooth is None:
        smooth = not show_model
    fig, ax = _single_axes(ax)
    dist = vario["dist"].to_numpy(dtype=float)
    variog = vario["variog"].to_numpy(dtype=float)
    ax.scatter(dist, variog, s=14)
    if show_model:
        ax.plot(model["dist"], model["variog"], linewidth=1.5, label="model")
    if smooth and len(dist) > 2:
        from statsmodels.nonparametric.smoothers_lowess import lowess
        fit = lowess(variog, dist, frac=0.6)
        ax.plot(fit[:, 0], fit[:, 1], linewidth=1, linestyle="--", label="smooth")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Distance")
    ax.set_ylabel("Semivariogram")
    return fig


def plot_acf(acf, alpha=0.01, ax=None):
    """Autocorrelations as vertical bars with nlme's approximate critical bands
    ``+-qnorm(1 - alpha/2) / sqrt(n_pairs)`` (nlme's ``plot(ACF(fit), alpha = 0.01)``).

    Parameters
    ----------
    acf : ACFResult
    alpha : float, optional
        Significance level of the bands; 0 or None draws none.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(acf, pd.DataFrame) or not {"lag", "ACF", "n_pairs"} <= set(acf.columns):
        raise TypeError("plot_acf needs the result of lmmext.ACF()")
    if alpha is not None and alpha != 0 and not (isinstance(alpha, (int, float))
                                                 and 0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1) (or 0/None for no bands), got {alpha!r}")
    fig, ax = _single_axes(ax)
    lag = acf["lag"].to_numpy(dtype=float)
    ax.vlines(lag, 0.0, acf["ACF"].to_numpy(dtype=float), linewidth=2)
    ax.axhline(0.0, color="0.4", linewidth=1)
    if alpha:
        with np.errstate(divide="ignore"):
            band = stats.norm.ppf(1 - alpha / 2) / np.sqrt(acf["n_pairs"].to_numpy(dtype=float))
        ax.plot(lag, band, linestyle="--", color="0.3", linewidth=1)
        ax.plot(lag, -band, linestyle="--", color="0.3", linewidth=1)
    ax.set_xlabel("Lag")
    ax.set_ylabel("Autocorrelation")
    return fig
