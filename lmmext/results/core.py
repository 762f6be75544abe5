"""What lme and gls results share, computed from a fitted state: the likelihood and its
information criteria, the fixed effects, fitted values and residuals of every type,
and the diagnostics of the fit.  Tests and intervals (:mod:`.fixed_effects`) and the
printed summary (:mod:`.summary`) are mixed in.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import patsy

from ..inference.robust import ClusterRobust, cluster_codes, match_test, match_type
from ..inference.wald import t_table
from .fixed_effects import FixedEffectTests
from .summary import SummaryText

__all__ = ["ResultsCore"]


class ResultsCore(FixedEffectTests, SummaryText):

    """Quantities shared by lme and gls results, computed from a FitState."""

    def _setup(self, state):
        self._state = state
        frame, engine, ev = state.frame, state.engine, state.evaluation
        self.frame = frame
        self.reml = state.reml
        self.method = "REML" if state.reml else "ML"
        self.nobs = frame.N
        self.n_dropped = frame.n_dropped
        self.optim_info = state.optim_info
        self.converged = state.optim_info.converged
        N, p = frame.N, len(frame.exog_names)
        self.k_fe = p
        self.fe_params = pd.Series(ev.beta, index=frame.exog_names, name="fe_params")
        self.scale = float(ev.sigma2)
        self.sigma = float(np.sqrt(ev.sigma2))
        self._llf = float(ev.loglik)
        # df of the likelihood: fixed effects + free variance parameters + sigma
        self._df_ll = int(p + engine.n_params + 1)
        self._n_star = N - p if state.reml else N
        cov = engine.cov_beta(ev)
        self._vcov = cov
        _, theta_cor, theta_var = engine.split(state.theta)
        self._theta_cor, self._theta_var = theta_cor, theta_var
        self.variance_params = (frame.varfunc.coefficients(theta_var)
                                if frame.varfunc is not None else pd.Series(dtype=float))
        self.correlation_params = (frame.corstruct.coefficients(theta_cor)
                                   if frame.corstruct is not None else pd.Series(dtype=float))
        self._log_w = ev.log_w if ev.log_w is not None else np.zeros(N)

    @property
    def df_modelwc(self):
        """Degrees of freedom of the likelihood (nlme's ``attr(logLik, "df")``).

        Fixed effects plus free variance parameters plus one for sigma; parameters held with
        ``fixed=`` are not counted.
        """
        return self._df_ll

    @property
    def llf(self):
        """Log-likelihood at the estimates, as nlme's ``logLik``.

        The restricted (REML) log-likelihood for REML fits, the log-likelihood for ML fits,
        with nlme's constants (no ``log|X'X|`` term).
        """
        return self._llf

    @property
    def aic(self):
        """Akaike's information criterion, ``-2 llf + 2 df_modelwc`` (nlme's ``AIC``).

        Defined for REML fits as well (statsmodels gives NaN there).
        """
        return -2 * self._llf + 2 * self._df_ll

    @property
    def bic(self):
        """Bayesian information criterion, ``-2 llf + df_modelwc log(n)`` (nlme's ``BIC``).

        ``n`` is ``N - p`` for REML fits and ``N`` for ML fits, as in nlme.
        """
        return -2 * self._llf + self._df_ll * np.log(self._n_star)

    # --- fixed effects -------------------------------------------------------------
    def _fe_series(self, values, name):
        return pd.Series(values, index=self.fe_params.index, name=name)

    @property
    def cov_fe(self):
        """Covariance of the fixed effects as nlme's ``vcov()`` reports it.

        ``sigma^2 (X' V^-1 X)^-1`` at the estimates (for a gls ML fit times ``N / (N - p)``,
        as nlme), a DataFrame indexed by the fixed-effect names.
        """
        return pd.DataFrame(self._vcov_nlme, index=self.fe_params.index,
                            columns=self.fe_params.index)

    @property
    def tvalues(self):
        """t statistics of the fixed effects, ``fe_params / bse_fe``."""
        return self._fe_series(self.fe_params / self.bse_fe, "t")

    @property
    def pvalues(self):
        """Two-sided p-values of the t tests of the fixed effects.

        Each on its denominator degrees of freedom ``df_resid_fe`` (nlme's containment rule;
        gls: ``N - p``).  See :meth:`fe_table` for other degrees of freedom.
        """
        tt = t_table(self.fe_params, self.bse_fe, self.df_resid_fe)
        return self._fe_series(tt["p-value"].to_numpy(), "p")

    # --- cluster-robust covariances (clubSandwich) ---------------------------------------
    def _cluster_robust(self, cluster):
        codes, _ = cluster_codes(self._state, cluster)
        return ClusterRobust(self._state, codes, self._vcov_nlme / self.scale)

    def vcov_robust(self, type="CR2", cluster=None):
        """Cluster-robust (sandwich) covariance of the fixed effects, as clubSandwich's
        ``vcovCR(fit, cluster, type)``.

        Parameters
        ----------
        type : {"CR2", "CR0", "CR1", "CR1p", "CR1S"}
            The small-sample adjustment: none (CR0), ``J / (J - 1)`` (CR1),
            ``J / (J - p)`` (CR1p), ``J (N - 1) / ((J - 1)(N - p))`` (CR1S), or Bell and
            McCaffrey's bias-reduced linearization with the fit's own working covariance
            as target (CR2, clubSandwich's default for lme and gls).
        cluster : str or array-like, optional
            Default: the outermost random-effects grouping (lme) or the groups of the
            correlation structure (gls).  A column name of the data, or one label per
            row in the data's row order.  The clusters must nest the random-effects
            groups and the correlation blocks.

        Returns
        -------
        pandas.DataFrame
            ``(p, p)``, indexed by the fixed-effect names.

        See Also
        --------
        coef_test : t tests of the coefficients with a robust covariance.
        """
        type = match_type(type)
        V = self._cluster_robust(cluster).vcov(type)
        return pd.DataFrame(V, index=self.fe_params.index, columns=self.fe_params.index)

    def coef_test(self, vcov="CR2", test="satterthwaite", cluster=None):
        """t tests of the fixed effects with a cluster-robust covariance, as
        clubSandwich's ``coef_test(fit, vcov = "CR2", test = "Satterthwaite")``.

        Parameters
        ----------
        vcov : {"CR2", "CR0", "CR1", "CR1p", "CR1S"}
            The robust covariance (see :meth:`vcov_robust`).
        test : {"satterthwaite", "naive-t", "naive-tp", "z"}
            Degrees of freedom: clubSandwich's Satterthwaite approximation (Bell and
            McCaffrey 2002, Pustejovsky and Tipton 2018), ``J - 1``, ``J - p`` (``J``
            clusters, ``p`` coefficients), or the normal distribution.
        cluster : str or array-like, optional
            As in :meth:`vcov_robust`.

        Returns
        -------
        pandas.DataFrame
            Indexed by the fixed-effect names, columns ``Estimate, SE, t, df, p``
            (two-sided p-values).
        """
        type = match_type(vcov, "coef_test")
        test = match_test(test)
        out = self._cluster_robust(cluster).coef_test(self.fe_params.to_numpy(), type, test)
        return pd.DataFrame(out, index=self.fe_params.index)

    # --- marginal means (emmeans) --------------------------------------------------------
    def emmeans(self, specs, by=None, at=None, weights="equal", ddf=None, level=0.95,
                vcov=None):
        """Estimated marginal means of this fit, as R's ``emmeans(fit, ~ specs | by)``:
        see :func:`lmmext.emmeans`."""
        from .emmeans import emmeans
        return emmeans(self, specs, by=by, at=at, weights=weights, ddf=ddf, level=level,
                       vcov=vcov)

    # --- residuals ---------------------------------------------------------------------
    def _caller(self, values, name):
        return pd.Series(self.frame.to_caller_order(np.asarray(values)),
                         index=self.frame.index, name=name)

    def _fitted_engine(self, level=None):
        return self._state.engine.X @ self._state.evaluation.beta

    @property
    def fittedvalues(self):
        """Fitted values at the innermost level, in the row order of the data.

        For lme ``X beta + Z b`` with the BLUPs of every level (nlme's ``fitted(fit)``); for gls
        ``X beta``.
        """
        return self._caller(self._fitted_engine(), "fitted")

    @property
    def resid(self):
        """Response residuals ``y - fittedvalues`` (nlme's ``resid(fit)``)."""
        return self._caller(self.frame.y - self._fitted_engine(), "resid")

    def _pearson_engine(self, level=None):
        r = self.frame.y - self._fitted_engine(level)
        return r * np.exp(self._log_w) / self.sigma

    @property
    def resid_pearson(self):
        """Pearson residuals: response residuals divided by the within-group SD ``sigma / w_j``.

        nlme's ``resid(fit, type = "pearson")``; ``w_j`` are the variance-function weights.
        """
        return self._caller(self._pearson_engine(), "resid_pearson")

    @property
    def resid_normalized(self):
        """Normalized residuals: Pearson residuals decorrelated by the correlation structure.

        nlme's ``resid(fit, type = "normalized")``: each group's Pearson residuals
        pre-multiplied by the inverse Cholesky factor of its correlation matrix (equal to the
        Pearson residuals without a correlation structure).  Computed on the sorted data, so
        they are right whatever the row order (nlme 3.1-162 scrambles them on unsorted data).
        """
        return self._caller(self._normalized_engine(), "resid_normalized")

    def _normalized_engine(self, level=None):
        r = self._pearson_engine(level)
        cs = self.frame.corstruct
        if cs is not None:
            r, _ = cs.whiten(self._theta_cor, r)
        return r

    def residuals(self, type="response", level=None):
        """Residuals of a given type and level, as nlme's ``resid(fit, type=, level=)``.

        Parameters
        ----------
        type : {"response", "pearson", "normalized"}
            Or nlme's abbreviations ``"r"``, ``"p"``, ``"n"``.
        level : int, optional
            Grouping level of the fitted values subtracted (0: population; default the
            innermost).  For Pearson residuals the divisor is ``sigma / w_j`` at every
            level; normalized residuals decorrelate that level's Pearson residuals by the
            correlation structure, as in nlme.

        Returns
        -------
        pandas.Series
            In the row order of the data.
        """
        if type in ("response", "r"):
            r = self.frame.y - self._fitted_engine(level)
            return self._caller(r, "resid")
        if type in ("pearson", "p"):
            return self._caller(self._pearson_engine(level), "resid_pearson")
        if type in ("normalized", "n"):
            return self._caller(self._normalized_engine(level), "resid_normalized")
        raise ValueError(f"unknown residual type {type!r}: use 'response', 'pearson' "
                         "or 'normalized'")

    _max_level = 0

    def _design(self, newdata):
        di = self.frame.get_design_info()
        try:
            (X,) = patsy.build_design_matrices([di], newdata, NA_action="raise",
                                               return_type="dataframe")
        except patsy.PatsyError as exc:
            raise ValueError(f"newdata cannot be used with this model: "
                             f"{str(exc).splitlines()[0]}") from None
        return X

    # --- diagnostics --------------------------------------------------------------------
    def variogram(self, **kwargs):
        """nlme's ``Variogram(fit, ...)``: see :func:`lmmext.Variogram`."""
        from ..diagnostics.variogram import Variogram
        return Variogram(self, **kwargs)

    def acf(self, **kwargs):
        """nlme's ``ACF(fit, ...)``: see :func:`lmmext.ACF`."""
        from ..diagnostics.acf import ACF
        return ACF(self, **kwargs)
