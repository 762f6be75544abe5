"""nlme's ``varComb``: the product of several variance functions."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .base import VarFunc

__all__ = ["VarComb"]


class VarComb(VarFunc):
    """Product of variance functions (nlme's ``varComb``).

    The SD multipliers multiply (the log-weights add); the parameters are concatenated
    in the given order and reported with the prefixes ``A.``, ``B.``, ... as nlme does,
    e.g. ``A.Female``, ``B.power``.

    Parameters
    ----------
    *varfuncs : VarFunc
        Two or more variance functions.
    """

    def __init__(self, *varfuncs):
        if len(varfuncs) < 2 or not all(isinstance(v, VarFunc) for v in varfuncs):
            raise ValueError("VarComb needs two or more variance functions")
        self.parts = list(varfuncs)
        self.form = varfuncs[0].form
        self.uses_fitted = any(v.uses_fitted for v in varfuncs)
        self._initialized = False

    def initialize(self, data, eval_env=None):
        """Initialize every component on the model frame.

        Parameters
        ----------
        data : pandas.DataFrame
            Model-frame rows in engine order.
        eval_env : patsy.EvalEnvironment, optional
            Namespace for covariate expressions.
        """
        for v in self.parts:
            v.initialize(data, eval_env)
        self._sizes = [v.n_params for v in self.parts]
        self._initialized = True

    @property
    def n_params(self):
        """Number of free parameters of all components."""
        return sum(v.n_params for v in self.parts)

    def start(self):
        """Starting values of all components' free parameters, concatenated.

        Returns
        -------
        ndarray
        """
        return np.concatenate([v.start() for v in self.parts])

    def param_names(self):
        """Free parameter names, prefixed ``A.``, ``B.``, ...

        Returns
        -------
        list of str
        """
        return [f"{chr(65 + i)}.{n}" for i, v in enumerate(self.parts) for n in v.param_names()]

    def _split(self, theta):
        return np.split(np.asarray(theta, dtype=float), np.cumsum(self._sizes)[:-1])

    def log_weights(self, theta):
        """Sum of the components' log-weights.

        Parameters
        ----------
        theta : array_like
            Free parameters of all components, concatenated.

        Returns
        -------
        ndarray
        """
        return sum(v.log_weights(t) for v, t in zip(self.parts, self._split(theta)))

    def weights(self, theta):
        """Product of the components' weights.

        Parameters
        ----------
        theta : array_like
            Free parameters of all components, concatenated.

        Returns
        -------
        ndarray
        """
        return np.exp(self.log_weights(theta))

    def coefficients(self, theta=None):
        """All components' reported parameters, prefixed ``A.``, ``B.``, ...

        Parameters
        ----------
        theta : array_like, optional
            Free parameters of all components; default the starting values.

        Returns
        -------
        pandas.Series
        """
        theta = self.start() if theta is None else theta
        out = []
        for i, (v, t) in enumerate(zip(self.parts, self._split(theta))):
            c = v.coefficients(t)
            c.index = [f"{chr(65 + i)}.{n}" for n in c.index]
            out.append(c)
        return pd.concat(out)

    def set_fitted(self, mu):
        """Pass the fitted values to the components that use them.

        Parameters
        ----------
        mu : ndarray
            Fitted values, rows in engine order.
        """
        for v in self.parts:
            if v.uses_fitted:
                v.set_fitted(mu)

    def describe(self):
        """One-line description for summaries.

        Returns
        -------
        str
        """
        return "VarComb(" + ", ".join(v.describe() for v in self.parts) + ")"
