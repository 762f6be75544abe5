"""The diagnostics layer: nlme's residual diagnostics of a fit and their plots.

* :mod:`.fit_rows` -- a fit's rows, groups, positions and pairs in the caller's order;
* :mod:`.variogram` -- ``Variogram`` (nlme's semivariogram, with the model's);
* :mod:`.acf` -- ``ACF`` (autocorrelation of within-group residuals);
* :mod:`.plots` -- matplotlib plots of fits and of those results (matplotlib is
  optional and imported only when a plot is drawn).

The diagnostics read a fit through its public API (``residuals``, ``frame``); the plots
import the diagnostics, never the reverse: ``VariogramResult.plot()`` and
``ACFResult.plot()`` import the plotting module when called.
"""
from .acf import ACF, ACFResult
from .plots import plot_acf, plot_observed_fitted, plot_qq, plot_resid_fitted, plot_variogram
from .variogram import Variogram, VariogramResult

__all__ = ["Variogram", "VariogramResult", "ACF", "ACFResult", "plot_resid_fitted", "plot_qq",
           "plot_observed_fitted", "plot_variogram", "plot_acf"]
