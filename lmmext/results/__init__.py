"""The results layer: fitted lme and gls models with nlme's quantities and statsmodels'
names (:class:`LMEResults` is a statsmodels ``MixedLMResults``).

It imports the inference, engine and structures layers; its convenience methods
``variogram()`` and ``acf()`` import the diagnostics when called.
"""
from .gls import GLSResults
from .lme import LMEResults

__all__ = ["LMEResults", "GLSResults"]
