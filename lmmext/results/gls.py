"""Results of gls fits (nlme's ``gls``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .core import ResultsCore
from .varcov import gls_var_cov

__all__ = ["GLSResults"]


class GLSResults(ResultsCore):
    """Results of a :func:`~lmmext.gls` / :class:`~lmmext.GLS` fit (nlme's ``gls``).

    The same quantities as :class:`LMEResults` without the random effects: ``fe_params``,
    ``bse_fe``, ``tvalues``, ``pvalues``, ``df_resid_fe`` (``N - p``), ``llf``, ``aic``,
    ``bic``, ``df_modelwc``, ``scale``, ``sigma``, ``variance_params``,
    ``correlation_params``, ``method``, ``nobs``, ``n_dropped``, ``converged``, the
    residuals, ``anova``, ``intervals`` and ``summary``.  Created by :func:`lmmext.gls`
    (and as ``res.nlme`` of :meth:`lmmext.GLS.fit`).

    See Also
    --------
    lmmext.gls, lmmext.GLS, LMEResults
    """

    _is_gls = True

    def __init__(self, model, state):
        self.model = model
        self._setup(state)
        N, p = state.frame.N, len(state.frame.exog_names)
        # nlme: gls ML vcov uses q/(N-p), i.e. sigma_ML^2 N/(N-p)
        adj = N / (N - p) if not state.reml else 1.0
        self._vcov_nlme = self._vcov_tests = self._vcov * adj
        self._bse_fe = self._fe_series(np.sqrt(np.diag(self._vcov_nlme)), "bse_fe")
        self.df_resid_fe = self._fe_series(np.full(p, float(N - p)), "df")
        self._term_df = {name: float(N - p) for name, _ in state.frame.terms()}
        self.params = self.fe_params

    @property
    def bse_fe(self):
        """Standard errors of the coefficients, as nlme's ``summary``, from ``cov_fe``."""
        return self._bse_fe

    bse = bse_fe

    def cov_params(self):
        """Covariance of the coefficients (``cov_fe``, nlme's ``vcov``).

        Returns
        -------
        pandas.DataFrame
        """
        return self.cov_fe

    def predict(self, exog=None, newdata=None):
        """Predictions ``X beta`` for new data, as nlme's ``predict(fit, newdata)``.

        Parameters
        ----------
        exog : pandas.DataFrame, optional
            New data with the columns the formula uses (``newdata`` is the same); without it
            the fitted values are returned.
        newdata : pandas.DataFrame, optional
            Alias of ``exog``.

        Returns
        -------
        pandas.Series
        """
        data = newdata if newdata is not None else exog
        if data is None:
            return self.fittedvalues
        X = self._design(data)
        return pd.Series(X.to_numpy() @ self.fe_params.to_numpy(), index=data.index,
                         name="predicted")

    def coef(self):
        """The coefficients, as nlme's ``coef(fit)`` of a gls fit (``fe_params``).

        Returns
        -------
        pandas.Series
        """
        return self.fe_params.rename("coef")

    def getVarCov(self, individual=1, type="marginal"):
        """nlme's ``getVarCov(fit, individual)``: the marginal covariance of one group.

        ``sigma^2 W_i^-1 C_i W_i^-1`` of one group of the correlation structure, with the
        variance function's weights, rows in the data's order within the group.

        Parameters
        ----------
        individual : str or int
            The group's label, or its 1-based position among the correlation groups in
            level order (nlme's default 1: the first level).
        type : {"marginal"}
            The only covariance of a gls fit.

        Returns
        -------
        VarCovMatrix
            A DataFrame with rows and columns ``1..n_i`` that prints as nlme's
            ``print.VarCov``.

        Raises
        ------
        NotImplementedError
            No correlation structure, or one without a grouping factor (as nlme).
        ValueError
            An individual not in the fit.
        """
        return gls_var_cov(self, individual, type)

    get_var_cov = getVarCov

    def _summary_text(self, ddf="containment"):
        lines = self._header(f"Generalized least squares fit by {self.method}")
        lines += self._structure_lines()
        lines += self._fixed_lines(ddf)
        lines.append(f"Residual standard error: {self.sigma:.6g}")
        lines.append(f"Degrees of freedom: {self.nobs} total; {self.nobs - self.k_fe} residual")
        return "\n".join(lines)
