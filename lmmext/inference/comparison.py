"""Likelihood-ratio comparison of fits: nlme's ``anova(fit1, fit2, ...)``."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["compare_models"]


def compare_models(*fits, names=None, test=True):
    """nlme's ``anova(fit1, fit2, ...)``: df, AIC, BIC, logLik and likelihood-ratio
    tests between consecutive models whose df differ.

    As nlme, the columns ``Test``, ``L.Ratio`` and ``p-value`` are left out with
    ``test=False`` or when all models have the same df.

    Raises ValueError for fits to different numbers of observations or responses, or
    by different methods; warns (as nlme) when REML fits differ in their fixed effects.
    """
    if not isinstance(test, (bool, np.bool_)):
        raise ValueError(f"anova: test must be True or False, got {test!r}")
    if len(fits) < 2:
        raise ValueError("anova() compares two or more fitted models")
    for f in fits:
        if not hasattr(f, "llf") or not hasattr(f, "frame"):
            raise TypeError(f"anova() takes lmmext results, got {type(f).__name__}")
    names = list(names) if names is not None else [f"fit{i + 1}" for i in range(len(fits))]
    n = {f.nobs for f in fits}
    if len(n) > 1:
        raise ValueError(f"models were fitted to different numbers of observations {sorted(n)}")
    try:
        ys = [np.sort(np.asarray(f.frame.y)) for f in fits]
    except NotImplementedError:                 # a fit whose rows stay on dask workers
        ys = [np.asarray(f.frame.response_moments()) for f in fits]
    if any(f.frame.y_name != fits[0].frame.y_name or not np.allclose(y, ys[0])
           for f, y in zip(fits, ys)):
        raise ValueError("models were fitted to different responses (or data)")
    methods = {f.method for f in fits}
    if len(methods) > 1:
        raise ValueError("all fitted objects must use the same estimation method (REML or ML)")
    if methods == {"REML"}:
        xs = {tuple(sorted(f.fe_params.index)) for f in fits}
        if len(xs) > 1:
            warnings.warn("fitted objects with different fixed effects. REML comparisons "
                          "are not meaningful.", UserWarning, stacklevel=3)
    rows = []
    for i, f in enumerate(fits):
        row = {"Model": i + 1, "df": f.df_modelwc, "AIC": f.aic, "BIC": f.bic,
               "logLik": f.llf, "Test": "", "L.Ratio": np.nan, "p-value": np.nan}
        if i > 0 and f.df_modelwc != fits[i - 1].df_modelwc:
            prev = fits[i - 1]
            lr = 2 * abs(f.llf - prev.llf)
            row.update({"Test": f"{i} vs {i + 1}", "L.Ratio": lr,
                        "p-value": stats.chi2.sf(lr, abs(f.df_modelwc - prev.df_modelwc))})
        rows.append(row)
    out = pd.DataFrame(rows, index=names)
    if not test or out["df"].nunique() == 1:
        out = out.drop(columns=["Test", "L.Ratio", "p-value"])
    return out
