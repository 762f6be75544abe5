"""The engine layer: the profiled (RE)ML criterion and its maximization.

* :mod:`.levels` -- a random-effects grouping level and its covariance factor;
* :mod:`.linalg` -- batched small-matrix algebra shared by the criterion and its score;
* :mod:`.likelihood` -- the profiled criterion by elimination per level (and its score
  from the elimination);
* :mod:`.gradient` -- the score by dense algebra per unit, where the elimination does not
  give it;
* :mod:`.optimize` -- L-BFGS-B, the Newton polish and the fallbacks (average-information
  steps in :mod:`.second_order`, started from the residuals' moments by
  :mod:`.moment_start` where that applies);
* :mod:`.blas_threads` -- one BLAS thread while a fit runs;
* :mod:`.fitting` -- ``fit_frame``: a model frame to a fitted state, with nlme's outer
  loop for fitted-value covariates and the convergence and boundary warnings.

It imports the structures layer only.
"""
from .fitting import FitState, fit_frame
from .levels import Level
from .likelihood import Evaluation, ProfiledLikelihood
from .optimize import OptimInfo, maximize

__all__ = ["Level", "ProfiledLikelihood", "Evaluation", "FitState", "fit_frame",
           "OptimInfo", "maximize"]
