"""nlme's ``varFixed``: variance proportional to a known covariate."""
from __future__ import annotations

import numpy as np

from ..form import eval_covariate
from .base import VarFunc

__all__ = ["VarFixed"]


class VarFixed(VarFunc):
    """Variance proportional to a covariate (nlme's ``varFixed``).

    ``Var(e_j) = sigma^2 |v_j|``: the SD multiplier is ``sqrt(|v_j|)``; nothing is
    estimated.

    Parameters
    ----------
    form : str
        ``"~ v"``: a covariate (no stratum), which must be positive.

    See Also
    --------
    VarPower : with ``fixed=0.5`` the same variance function.
    """

    def __init__(self, form="~ 1"):
        super().__init__(None, form, None)
        if self.form.covariate is None or self.form.grouping:
            raise ValueError(f"VarFixed needs a covariate and no stratum, e.g. '~ age'; got {form!r}")

    def initialize(self, data, eval_env=None):
        """Evaluate the covariate on the model frame and check it.

        Parameters
        ----------
        data : pandas.DataFrame
            Model-frame rows in engine order.
        eval_env : patsy.EvalEnvironment, optional
            Namespace for covariate expressions.

        Raises
        ------
        ValueError
            If the covariate is not positive.
        """
        v = eval_covariate(self.form.covariate, data, eval_env, "VarFixed covariate")
        if np.any(~np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"VarFixed covariate {self.form.covariate!r} must be positive "
                             f"(min {np.nanmin(v):g})")
        self._logv = 0.5 * np.log(v)
        self._all = np.zeros(0)
        self._free = np.zeros(0, dtype=bool)
        self._names = []
        self._initialized = True

    def _log_sd(self, full):
        return self._logv
