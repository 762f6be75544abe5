"""lmmext: nlme's linear mixed-effects and GLS models for statsmodels.

Variance functions, residual correlation structures, nlme-style ``lme()`` and
``gls()``, and nlme's inference, reproducing nlme's numbers.

The package is layered; every import points down this list:

* :mod:`lmmext.structures` -- variance functions, correlation structures, their formulas;
* :mod:`lmmext.engine` -- the profiled (RE)ML criterion, its score and the optimizer;
* :mod:`lmmext.inference` -- degrees of freedom, tests, apVar and intervals;
* :mod:`lmmext.results` -- fitted lme and gls models;
* :mod:`lmmext.diagnostics` -- variograms, autocorrelations and plots;
* top level -- data in (:mod:`~lmmext.formula`, :mod:`~lmmext.frame`), the front doors
  (:mod:`~lmmext.model`), :mod:`~lmmext.henderson` and :mod:`~lmmext.validation`.
"""
from .diagnostics import (ACF, ACFResult, Variogram, VariogramResult, plot_acf,
                          plot_observed_fitted, plot_qq, plot_resid_fitted, plot_variogram)
from .henderson import HendersonResult, henderson
from .inference.comparison import compare_models
from .model import GLS, MixedLM, gls, lme
from .mmrm import mmrm
from .frame import NotIdentifiedWarning
from .results.varcov import getVarCov, get_var_cov
from .results.emmeans import EMMeans, emmeans, estimate
from .pdmat import pdBlocked, pdCompSymm, pdDiag, pdIdent, pdLogChol, pdSymm
from .lmlist import LMList, lmList
from .structures import (CorAR1, CorAnte, CorARMA, CorCAR1, CorCompSymm, CorExp, CorGaus,
                         CorLin, CorRatio, CorSpher, CorStruct, CorSymm, CorToeplitz, VarComb,
                         VarConstPower, VarExp, VarFixed, VarFunc, VarIdent, VarPower)

__version__ = "0.1.0"


def anova(*fits, type="sequential", L=None, Terms=None, names=None, test=True):
    """nlme's ``anova``: F tests of one fit, or likelihood-ratio tests between fits.

    Parameters
    ----------
    *fits : LMEResults or GLSResults
        One fit: its F tests per term (see :meth:`LMEResults.anova
        <lmmext.results.LMEResults.anova>`).  Several fits (of the same data, by the same
        method): nlme's model comparison table.
    type : {"sequential", "marginal"}
        With one fit: the type of the F tests (ignored with ``Terms`` or ``L``, as nlme).
    L : array_like, dict or pandas object, optional
        With one fit: one joint test of ``L beta = 0``; a dict or Series named by fixed
        effects (nlme's named vector), or an unnamed vector or matrix padded with zeros on
        the right (see :meth:`LMEResults.anova <lmmext.results.LMEResults.anova>`).
    Terms : int, str or list of them, optional
        With one fit: one joint F test of these terms, by 1-based row of the anova table
        (intercept included) or by name, as nlme's ``anova(fit, Terms = )``.
    names : list of str, optional
        With several fits: the row names (default ``fit1``, ``fit2``, ...).
    test : bool
        With several fits: ``False`` leaves out the columns ``Test``, ``L.Ratio`` and
        ``p-value``, as nlme's ``anova(fit1, fit2, test = FALSE)``.

    Returns
    -------
    pandas.DataFrame
        One fit: columns ``numDF``, ``denDF``, ``F-value``, ``p-value`` (with ``Terms`` or
        ``L`` one row under nlme's heading ``F-test for: ...``).  Several fits:
        columns ``Model``, ``df``, ``AIC``, ``BIC``, ``logLik``, ``Test``, ``L.Ratio``,
        ``p-value``; the likelihood ratio ``2 |llf_i - llf_(i-1)|`` is tested against a
        chi-square with ``|df_i - df_(i-1)|`` degrees of freedom between consecutive fits
        whose ``df`` differ.  As in nlme, the last three columns are left out with
        ``test=False`` or when all fits have the same ``df``.

    Raises
    ------
    ValueError
        Fits to different data or by different methods; bad ``Terms`` or ``L`` (see
        :meth:`LMEResults.anova <lmmext.results.LMEResults.anova>`).

    Warns
    -----
    UserWarning
        REML fits with different fixed effects (their likelihoods are not comparable),
        as nlme.
    """
    if len(fits) == 1:
        return fits[0].anova(type=type, L=L, Terms=Terms)
    if L is not None or Terms is not None:
        raise ValueError("anova: L= and Terms= test one fit; with several fits anova "
                         "compares them by likelihood ratios")
    return compare_models(*fits, names=names, test=test)


__all__ = ["MixedLM", "GLS", "lme", "gls", "mmrm", "anova", "NotIdentifiedWarning",
           "getVarCov", "get_var_cov", "henderson", "HendersonResult",
           "emmeans", "estimate", "EMMeans",
           "pdSymm", "pdLogChol", "pdDiag", "pdIdent", "pdCompSymm", "pdBlocked",
           "lmList", "LMList",
           "VarFunc", "VarFixed", "VarIdent", "VarPower", "VarConstPower", "VarExp", "VarComb",
           "CorStruct", "CorAR1", "CorCAR1", "CorARMA", "CorCompSymm", "CorSymm",
           "CorExp", "CorGaus", "CorLin", "CorRatio", "CorSpher", "CorToeplitz", "CorAnte",
           "Variogram", "VariogramResult", "ACF", "ACFResult",
           "plot_resid_fitted", "plot_qq", "plot_observed_fitted", "plot_variogram", "plot_acf"]
