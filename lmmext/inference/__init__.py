"""The inference layer: nlme's, SAS's and lmerTest's inference on a fitted state.

* :mod:`.containment` -- nlme's containment denominator degrees of freedom;
* :mod:`.wald` -- t tables, F tests per term (``anova``) and contrasts ``L beta = 0``;
* :mod:`.comparison` -- likelihood-ratio comparison of fits;
* :mod:`.apvar` -- the approximate covariance of the variance parameters (nlme's apVar);
* :mod:`.intervals` -- nlme's ``intervals()``;
* :mod:`.satterthwaite`, :mod:`.kenward_roger` -- small-sample degrees of freedom.

It imports the engine and structures layers only.
"""
from .comparison import compare_models
from .containment import containment_df
from .intervals import Intervals, intervals

__all__ = ["compare_models", "containment_df", "Intervals", "intervals"]
