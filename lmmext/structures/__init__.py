"""The structures layer: the small objects that parameterize a model's covariance.

* :mod:`.variance` -- variance functions (nlme's varFunc);
* :mod:`.correlation` -- residual correlation structures (nlme's corStruct);
* :mod:`.random_effects` -- random-effects covariance classes (nlme's pdMat);
* :mod:`.natural_scale` -- the apVar scale both protocols share;
* :mod:`.form` -- nlme's ``~ covariate | group`` formulas;
* :mod:`.numdiff` -- finite-difference derivatives.

This is the bottom layer: it imports numpy, scipy, pandas and patsy only, never the
engine or anything above it.
"""
from .correlation import (CorAR1, CorARMA, CorCAR1, CorCompSymm, CorExp, CorGaus, CorLin,
                          CorRatio, CorSpher, CorStruct, CorSymm, CorToeplitz, CorAnte)
from .variance import VarComb, VarConstPower, VarExp, VarFixed, VarFunc, VarIdent, VarPower

__all__ = ["VarFunc", "VarFixed", "VarIdent", "VarPower", "VarExp", "VarConstPower",
           "VarComb", "CorStruct", "CorAR1", "CorCAR1", "CorARMA", "CorCompSymm", "CorSymm",
           "CorExp", "CorGaus", "CorLin", "CorRatio", "CorSpher", "CorToeplitz", "CorAnte"]
