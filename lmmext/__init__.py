"""lmmext: nlme's linear mixed-effects and GLS models for statsmodels.

Variance functions, residual correlation structures, nlme-style ``lme()`` and
``gls()``, and nlme's inference, reproducing nlme's numbers.
"""
from .varfunc import VarComb, VarConstPower, VarExp, VarFixed, VarFunc, VarIdent, VarPower
from .model import GLS, MixedLM, gls, lme
from .henderson import HendersonResult, henderson

try:  # the correlation structures
    from .corstruct import (CorAR1, CorARMA, CorCAR1, CorCompSymm, CorExp, CorGaus,
                            CorLin, CorRatio, CorSpher, CorStruct, CorSymm)
except ImportError:  # pragma: no cover - during development only
    pass

from .diagnostics import ACF, ACFResult, Variogram, VariogramResult
from .plots import plot_acf, plot_observed_fitted, plot_qq, plot_resid_fitted, plot_variogram

__version__ = "0.1.0"


def anova(*fits, type="sequential", L=None, names=None):
    """nlme's ``anova``: with one fit, its F tests per term (see
    ``LMEResults.anova``); with several, the likelihood-ratio comparison table
    (``df``, ``AIC``, ``BIC``, ``logLik``, ``L.Ratio``, ``p-value``)."""
    if len(fits) == 1:
        return fits[0].anova(type=type, L=L)
    from .inference import compare_models
    return compare_models(*fits, names=names)


__all__ = ["MixedLM", "GLS", "lme", "gls", "anova", "henderson", "HendersonResult",
           "VarFunc", "VarFixed", "VarIdent", "VarPower", "VarConstPower", "VarExp", "VarComb",
           "CorStruct", "CorAR1", "CorCAR1", "CorARMA", "CorCompSymm", "CorSymm",
           "CorExp", "CorGaus", "CorLin", "CorRatio", "CorSpher",
           "Variogram", "VariogramResult", "ACF", "ACFResult",
           "plot_resid_fitted", "plot_qq", "plot_observed_fitted", "plot_variogram", "plot_acf"]
