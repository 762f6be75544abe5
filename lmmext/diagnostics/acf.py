"""nlme's empirical autocorrelation function of within-group residuals (``ACF``), step by
step as ``ACF.lme`` / ``ACF.gls`` in nlme 3.1-162.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..structures.form import parse_struct_form
from .fit_rows import (RES_TYPES, codes_of_columns, cor_codes, frame_of, is_lme, lme_codes,
                       match_arg, model_data, positive_int, residuals_of)

__all__ = ["ACF", "ACFResult"]


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
        :func:`lmmext.plot_acf`."""
        from .plots import plot_acf
        return plot_acf(self, alpha=alpha, ax=ax)


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
        not use.  Not needed for fits of ``lme()``, ``gls()`` and the formula doors,
        which keep their data as nlme does (``fit.frame.source``).

    Returns
    -------
    ACFResult
        Columns ``lag``, ``ACF`` and ``n_pairs`` (nlme's ``n.used``); lags beyond the
        largest group have no pairs and a NaN autocorrelation.
    """
    frame = frame_of(res)
    resType = match_arg(resType, RES_TYPES, "resType")
    if is_lme(frame):
        if form is not None:
            raise ValueError("form= applies to gls fits; an lme fit's residuals are grouped "
                             "by its innermost random-effects grouping")
        codes = lme_codes(res, (), "ACF")
    else:
        codes = cor_codes(res)
        if codes is None and form is not None:
            parsed = parse_struct_form(form, "ACF form")
            if parsed.grouping:
                codes = codes_of_columns(_rows(res, data, parsed.grouping), parsed.grouping,
                                         "ACF form")
        if codes is None:
            codes = np.zeros(frame.N, dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    e, g = residuals_of(res, resType)[order], codes[order]
    if maxLag is None:
        longest = int(np.bincount(codes).max()) - 1
        maxLag = min(longest, int(10 * np.log10(longest + 1)))
    maxLag = positive_int(maxLag, "maxLag", minimum=0)
    cross = np.zeros(maxLag + 1)
    n_pairs = np.zeros(maxLag + 1, dtype=np.int64)
    for k in range(maxLag + 1):
        same = g[:len(g) - k] == g[k:]
        cross[k] = np.dot(e[:len(e) - k][same], e[k:][same])
        n_pairs[k] = int(same.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = cross / n_pairs
    return ACFResult({"lag": np.arange(maxLag + 1), "ACF": cov / cov[0], "n_pairs": n_pairs})


def _rows(res, data, names):
    """The fit's rows with the columns ``names``: ``data`` when given, else the model
    frame, else the data the fit kept (nlme's ``getData(fit)``)."""
    frame = res.frame
    source = getattr(frame, "source", None)
    if data is not None or source is None or all(n in frame.data.columns for n in names):
        return model_data(res, data)
    rows = source.iloc[frame.source_rows]
    return rows.set_axis(frame.index, axis=0)
