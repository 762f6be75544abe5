"""Results of lme / gls fits, with nlme's quantities and statsmodels' names."""
from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLMResults

from .inference import (as_contrast, containment_df, contrast_f_test, r_term_order,
                        t_table, term_contrasts, wald_f_table)
from .intervals import intervals as _intervals

__all__ = ["LMEResults", "GLSResults"]


class _ResultsCore:
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
        N, p = frame.X.shape
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

    def fe_table(self, ddf="containment"):
        """nlme's fixed-effects table, ``summary(fit)$tTable``.

        Parameters
        ----------
        ddf : {"containment", "satterthwaite", "kenward-roger"}
            Denominator degrees of freedom: nlme's containment rule (gls: ``N - p``),
            Satterthwaite's approximation, or Kenward-Roger's (which also adjusts the
            standard errors; REML fits only).  Satterthwaite t tests use the unadjusted
            covariance ``sigma^2 (X'V^-1X)^-1``, as SAS and lmerTest do.

        Returns
        -------
        pandas.DataFrame
            Columns ``Value``, ``Std.Error``, ``DF``, ``t-value``, ``p-value``, one row per
            fixed effect.
        """
        ddf = _check_ddf(ddf)
        if ddf == "containment":
            return t_table(self.fe_params, self.bse_fe, self.df_resid_fe)
        # Kenward-Roger also adjusts the covariance (its SEs are larger)
        cov = self._kenward_roger().Phi_A if ddf == "kenward-roger" else self._satterthwaite().Phi
        se = self._fe_series(np.sqrt(np.diag(cov)), "se")
        return t_table(self.fe_params, se, self.coef_df(ddf))

    # --- tests and intervals ------------------------------------------------------------
    def anova(self, type="sequential", L=None, ddf="containment"):
        """F tests per model term, as nlme's ``anova(fit)``.

        Parameters
        ----------
        type : {"sequential", "marginal"}
            Sequential (Type I: each term adjusted for the terms before it, in R's term
            order: as written, main effects first) or marginal (each term adjusted for all
            others) Wald F tests.
        L : array_like, optional
            A contrast matrix (one row per contrast, one column per fixed effect in the
            order of ``fe_params``) for one joint test of ``L beta = 0``.  With the
            containment rule all coefficients involved must have the same denominator
            degrees of freedom, as in nlme.
        ddf : {"containment", "satterthwaite", "kenward-roger"}
            Denominator degrees of freedom: nlme's rule (gls: ``N - p``), Satterthwaite's
            approximation (Fai and Cornelius for multi-df terms), or Kenward-Roger (REML
            fits only; the F statistic is scaled as Kenward and Roger's).

        Returns
        -------
        pandas.DataFrame
            Columns ``numDF``, ``denDF``, ``F-value``, ``p-value``, one row per term (or
            one row ``L``).

        See Also
        --------
        lmmext.anova : compares several fits.
        """
        ddf = _check_ddf(ddf)
        beta = self.fe_params.to_numpy()
        terms = r_term_order(self.frame.formula, self.frame.get_design_info())
        if ddf == "containment":
            if L is not None:
                return contrast_f_test(beta, self._vcov_tests, L, self.fe_params.index,
                                       self.df_resid_fe.to_numpy())
            return wald_f_table(beta, self._vcov_tests, terms, self._term_df, type)
        sat = self._satterthwaite() if ddf == "satterthwaite" else self._kenward_roger()
        rows = ([("L", as_contrast(L, self.fe_params.index))] if L is not None
                else term_contrasts(terms, sat.Phi, type))
        out = []
        for name, Lt in rows:
            F, q, den = sat.f_test(Lt, beta)
            out.append((name, q, den, F))
        tab = pd.DataFrame(out, columns=["term", "numDF", "denDF", "F-value"]).set_index("term")
        tab.index.name = None
        tab["p-value"] = stats.f.sf(tab["F-value"], tab["numDF"], tab["denDF"])
        return tab

    def _kenward_roger(self):
        if getattr(self, "_kr", None) is None:
            if not self.reml:
                raise ValueError("Kenward-Roger degrees of freedom need a REML fit")
            from .kenward_roger import KenwardRoger
            self._kr = KenwardRoger(self._state)
        return self._kr

    def _satterthwaite(self):
        if getattr(self, "_sat", None) is None:
            from .inference import Satterthwaite
            self._sat = Satterthwaite(self._state)
        return self._sat

    def coef_df(self, ddf="containment"):
        """Denominator degrees of freedom per fixed effect.

        Parameters
        ----------
        ddf : {"containment", "satterthwaite", "kenward-roger"}
            nlme's containment rule (gls: ``N - p``; the same as ``df_resid_fe``),
            Satterthwaite's approximation, or Kenward-Roger's (REML fits only).

        Returns
        -------
        pandas.Series
        """
        ddf = _check_ddf(ddf)
        if ddf == "containment":
            return self.df_resid_fe
        if ddf == "kenward-roger":
            return self._fe_series(self._kenward_roger().coef_df(self.fe_params.to_numpy()), "df")
        return self._fe_series(self._satterthwaite().coef_df(), "df")

    def intervals(self, level=0.95, which="all", method="wald"):
        """Approximate confidence intervals, as nlme's ``intervals()``.

        Fixed effects get ``estimate +- t * SE`` with t quantiles on their denominator
        degrees of freedom; random-effect SDs and correlations, variance-function and
        correlation-structure parameters and sigma get Wald intervals on nlme's natural
        scale (log SDs, Fisher z of correlations, the structures' own transformations),
        mapped back, from the approximate covariance of the variance parameters (nlme's
        ``apVar``, here from an accurate Hessian).

        Parameters
        ----------
        level : float
            Confidence level, in (0, 1).
        which : {"all", "fixed", "var-cov"}
            ``"fixed"`` computes the fixed-effect intervals only.
        method : {"wald", "satterthwaite"}
            ``"satterthwaite"`` adds SAS PROC MIXED's ``CL`` chi-square intervals for the
            variance components as the attribute ``varcomp``.

        Returns
        -------
        Intervals
            Printing it shows nlme's layout.  Attributes ``fixed`` (DataFrame with columns
            ``lower``, ``est.``, ``upper``), ``re`` (dict of such DataFrames per grouping
            level), ``corStruct``, ``varStruct`` (DataFrames or None), ``sigma`` (Series),
            and with ``method="satterthwaite"`` ``varcomp``.

        Warns
        -----
        UserWarning
            When the approximate covariance is not positive definite (a flat likelihood, e.g.
            a variance on the boundary); only the fixed-effect intervals are returned.
        """
        return _intervals(self, level, which, method)

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
        r = self._pearson_engine()
        cs = self.frame.corstruct
        if cs is not None:
            r, _ = cs.whiten(self._theta_cor, r)
        return self._caller(r, "resid_normalized")

    def residuals(self, type="response", level=None):
        """Residuals of a given type and level, as nlme's ``resid(fit, type=, level=)``.

        Parameters
        ----------
        type : {"response", "pearson", "normalized"}
            Or nlme's abbreviations ``"r"``, ``"p"``, ``"n"``.
        level : int, optional
            Grouping level of the fitted values subtracted (0: population; default the
            innermost).  Normalized residuals exist at the innermost level only.  For
            Pearson residuals the divisor is ``sigma / w_j`` at every level, as in nlme.

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
            if level is not None and level != self._max_level:
                raise ValueError("normalized residuals are defined at the innermost level")
            return self.resid_normalized
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
        from .diagnostics import Variogram
        return Variogram(self, **kwargs)

    def acf(self, **kwargs):
        """nlme's ``ACF(fit, ...)``: see :func:`lmmext.ACF`."""
        from .diagnostics import ACF
        return ACF(self, **kwargs)

    # --- text ---------------------------------------------------------------------------
    def _header(self, title):
        lines = [title, f"  Data: {self.nobs} observations"
                 + (f" ({self.n_dropped} rows with missing values dropped)" if self.n_dropped else ""),
                 f"{'AIC':>12} {'BIC':>12} {'logLik':>12}",
                 f"{self.aic:12.6g} {self.bic:12.6g} {self.llf:12.6g}", ""]
        return lines

    def _structure_lines(self):
        lines = []
        cs = self.frame.corstruct
        if cs is not None:
            lines += [f"Correlation Structure: {type(cs).__name__}",
                      f" Formula: {cs.form.text}", " Parameter estimate(s):",
                      _indent(self.correlation_params.to_string()), ""]
        vf = self.frame.varfunc
        if vf is not None:
            lines += [f"Variance function: {vf.describe()}", " Parameter estimates:",
                      _indent(self.variance_params.to_string()), ""]
        return lines

    def _fixed_lines(self, ddf="containment"):
        tt = self.fe_table(ddf)
        lines = ["Coefficients:" if self._is_gls else "Fixed effects:",
                 _indent(tt.to_string(float_format=lambda v: f"{v:.6g}")), ""]
        if len(tt) > 1:
            # nlme prints the lower triangle of the correlation of the estimates
            V = self._vcov_tests
            sd = np.sqrt(np.diag(V))
            C = pd.DataFrame(V / np.outer(sd, sd), index=tt.index, columns=tt.index)
            low = C.where(np.tril(np.ones(C.shape, dtype=bool), -1)).iloc[1:, :-1]
            lines += [" Correlation:",
                      _indent(low.to_string(na_rep="", float_format=lambda v: f"{v:.3f}")), ""]
        q = np.quantile(self._pearson_engine(), [0, .25, .5, .75, 1])
        lines += ["Standardized Within-Group Residuals:" if not self._is_gls
                  else "Standardized residuals:",
                  _indent(pd.Series(q, index=["Min", "Q1", "Med", "Q3", "Max"]).to_string()), ""]
        return lines

    def _summary_text(self, ddf="containment"):
        raise NotImplementedError

    def summary(self, ddf="containment"):
        """nlme-style summary of the fit.

        Parameters
        ----------
        ddf : {"containment", "satterthwaite", "kenward-roger"}
            Denominator degrees of freedom of the fixed-effects table.

        Returns
        -------
        str
            A string subclass; printing it shows AIC, BIC and logLik, the random effects,
            the correlation structure and variance function, the fixed-effects table with
            the correlation of the estimates, the quantiles of the standardized residuals
            and the numbers of observations and groups.
        """
        return _Summary(self._summary_text(_check_ddf(ddf)))


_DDF = {"containment": "containment", "nlme": "containment", "satterthwaite": "satterthwaite",
        "kenward-roger": "kenward-roger", "kr": "kenward-roger"}


def _check_ddf(ddf):
    key = _DDF.get(str(ddf).lower())
    if key is None:
        raise ValueError(f"ddf must be 'containment', 'satterthwaite' or 'kenward-roger', "
                         f"got {ddf!r}")
    return key


def _indent(text, n=2):
    return "\n".join(" " * n + line for line in text.splitlines())


class _Summary(str):
    def __repr__(self):
        return str(self)

    def as_text(self):
        return str(self)


class LMEResults(_ResultsCore, MixedLMResults):
    """Results of an :func:`~lmmext.lme` / :class:`~lmmext.MixedLM` fit.

    A :class:`statsmodels.regression.mixed_linear_model.MixedLMResults` whose numbers
    are nlme's: ``llf``, ``aic`` and ``bic`` as nlme counts them, ``bse_fe`` as nlme's
    summary prints them, ``df_resid_fe`` by nlme's containment rule.  Created by
    :meth:`lmmext.MixedLM.fit` and :func:`lmmext.lme`, not by the user.

    Attributes
    ----------
    fe_params : pandas.Series
        Fixed effects, named as patsy names the columns of the design.
    bse_fe, tvalues, pvalues : pandas.Series
        Standard errors (nlme's summary), t statistics and their p-values on
        ``df_resid_fe``.
    df_resid_fe : pandas.Series
        Denominator degrees of freedom per fixed effect (nlme's containment rule).
    llf, aic, bic : float
        (Restricted) log-likelihood and information criteria, as nlme's ``logLik``,
        ``AIC`` and ``BIC``.
    df_modelwc : int
        Degrees of freedom of the likelihood: fixed effects, free variance parameters
        and sigma.
    scale, sigma : float
        Residual variance and residual standard deviation.
    cov_re : pandas.DataFrame
        Covariance matrix of the random effects of the outermost grouping level.
    vcomp : ndarray
        Variances of the random intercepts of the inner (nested) levels, as statsmodels'
        variance components.
    re_sd : dict of DataFrame
        Random-effect SDs and correlations of every level.
    variance_params, correlation_params : pandas.Series
        Parameters of the variance function and of the correlation structure on nlme's
        reported scale (empty without a structure).
    method : {"REML", "ML"}
        The estimation method; ``reml`` is the same as a bool.
    nobs, n_dropped : int
        Observations used, and rows dropped for missing values.
    converged : bool
        Whether the optimizer converged; ``optim_info`` has its record.
    frame : ModelFrame
        The model frame the fit was computed on (data sorted by group).

    See Also
    --------
    lmmext.lme, lmmext.MixedLM, GLSResults
    """

    _is_gls = False

    def __init__(self, model, state):
        self._setup(state)
        frame = state.frame
        N, p = frame.X.shape
        # nlme: lme ML summary SEs are small-sample adjusted by N/(N-p); vcov is not
        adj = N / (N - p) if not state.reml else 1.0
        self._vcov_nlme = self._vcov
        self._vcov_tests = self._vcov * adj
        bse = np.sqrt(np.diag(self._vcov_tests))
        MixedLMResults.__init__(self, model, self.fe_params.to_numpy(),
                                self._vcov * adj / self.scale)
        self.params = self.fe_params.to_numpy()
        self.scale = float(state.evaluation.sigma2)
        self._bse_fe = self._fe_series(bse, "bse_fe")
        coef_df, term_df = containment_df(frame.X, frame.levels, _terms(frame))
        self.df_resid_fe = self._fe_series(coef_df, "df")
        self._term_df = term_df
        self._max_level = len(frame.levels)
        self._re_cov = []
        for lev, L in zip(frame.levels, state.evaluation.factors):
            D = self.scale * (L @ L.T)
            self._re_cov.append(pd.DataFrame(D, index=lev.z_names, columns=lev.z_names))
        self.cov_re = self._re_cov[0]
        self.cov_re_unscaled = self.cov_re / self.scale
        # variances of the inner (nested) levels' first random effect, as statsmodels'
        # variance components
        self.vcomp = np.array([c.iloc[0, 0] for c in self._re_cov[1:]])
        self.k_re2 = self._state.engine._sizes[0]
        self.k_vc = len(self.vcomp)
        self.hist = None
        self.use_sqrt = True

    @property
    def bse_fe(self):
        """Standard errors of the fixed effects, as nlme's ``summary`` prints them.

        From ``cov_fe`` (``sigma^2 (X'V^-1X)^-1``); for ML fits multiplied by
        ``sqrt(N / (N - p))``, as nlme's summary does.
        """
        return self._bse_fe

    @property
    def bse(self):
        """The same as ``bse_fe`` (the parameters are the fixed effects)."""
        return self._bse_fe

    @property
    def re_sd(self):
        """Random-effect SDs and correlations of every grouping level (nlme's ``VarCorr``).

        Returns
        -------
        dict of pandas.DataFrame
            Keyed by the grouping factor, outermost first; each DataFrame has a column
            ``sd`` and the correlation matrix of that level's random effects.
        """
        out = {}
        for lev, D in zip(self.frame.levels, self._re_cov):
            sd = np.sqrt(np.diag(D.to_numpy()))
            corr = D.to_numpy() / np.outer(sd, sd) if np.all(sd > 0) else np.eye(len(sd))
            df = pd.DataFrame(corr, index=lev.z_names, columns=lev.z_names)
            df.insert(0, "sd", sd)
            out[lev.name] = df
        return out

    def _fitted_engine(self, level=None):
        engine = self._state.engine
        level = self._max_level if level is None else int(level)
        if not 0 <= level <= self._max_level:
            raise ValueError(f"level must be between 0 and {self._max_level}")
        mu = engine.X @ self._state.evaluation.beta
        for lev, b in list(zip(engine.levels, self._state.blups))[:level]:
            mu = mu + np.einsum("nq,nq->n", lev.Z, b[lev.codes])
        return mu

    def fitted(self, level=None):
        """Fitted values at a grouping level, as nlme's ``fitted(fit, level=)``.

        Parameters
        ----------
        level : int, optional
            0 for the population (``X beta``), ``k`` to add the BLUPs of the first ``k``
            grouping levels; default the innermost level.

        Returns
        -------
        pandas.Series
            In the row order of the data.
        """
        return self._caller(self._fitted_engine(level), "fitted")

    def ranef(self):
        """The BLUPs of the random effects, as nlme's ``ranef(fit)``.

        Returns
        -------
        pandas.DataFrame or dict of pandas.DataFrame
            One row per group (in nlme's sorted order; nested groups labelled
            ``outer/inner``) and one column per random effect; with several grouping levels a
            dict keyed by the grouping factor, outermost first.
        """
        out = {}
        for lev, b in zip(self.frame.levels, self._state.blups):
            out[lev.name] = pd.DataFrame(b, index=pd.Index(lev.labels, name=lev.name),
                                         columns=lev.z_names)
        return next(iter(out.values())) if len(out) == 1 else out

    @property
    def random_effects(self):
        """BLUPs per group of the outermost level, as statsmodels' ``random_effects``.

        Returns
        -------
        dict of pandas.Series
            Keyed by the group label.  The random effects of inner (nested) levels are
            appended to their outer group's Series, labelled ``"<level>[<label>]:<coef>"``.
        """
        levels, blups = self.frame.levels, self._state.blups
        outer = levels[0]
        res = {lab: pd.Series(blups[0][g], index=outer.z_names, dtype=float)
               for g, lab in enumerate(outer.labels)}
        for lev, b in zip(levels[1:], blups[1:]):
            anc = outer.codes[lev.first_row]
            for g, lab in enumerate(lev.labels):
                key = outer.labels[anc[g]]
                extra = pd.Series(b[g], index=[f"{lev.name}[{lab}]:{z}" for z in lev.z_names])
                res[key] = pd.concat([res[key], extra])
        return res

    def predict(self, exog=None, level=0, newdata=None):
        """Predictions for new data, as nlme's ``predict(fit, newdata, level=)``.

        Parameters
        ----------
        exog : pandas.DataFrame, optional
            New data with the columns the formula uses (``newdata`` is the same).  Without
            new data the fitted values at ``level`` are returned.
        level : int
            0 for the population prediction ``X beta``; ``k`` adds the BLUPs of the first
            ``k`` grouping levels, which needs their grouping columns.  Groups not seen in
            the fit give NaN, as in nlme.
        newdata : pandas.DataFrame, optional
            Alias of ``exog``.

        Returns
        -------
        pandas.Series
            Indexed like the new data.
        """
        data = newdata if newdata is not None else exog
        if data is None:
            return self.fitted(level)
        if not isinstance(data, pd.DataFrame):
            raise TypeError("newdata must be a pandas DataFrame")
        X = self._design(data)
        mu = X.to_numpy() @ self.fe_params.to_numpy()
        if not 0 <= level <= self._max_level:
            raise ValueError(f"level must be between 0 and {self._max_level}")
        names = [lev.name for lev in self.frame.levels]
        for k, (lev, b) in enumerate(zip(self.frame.levels[:level], self._state.blups[:level])):
            for n in names[:k + 1]:
                if n not in data.columns:
                    raise KeyError(f"newdata needs the grouping column {n!r} for level {level}")
            from .formula import group_labels
            labels = group_labels(data, names[:k + 1])
            spec = self.frame.random_specs[k]
            Z = patsy.dmatrix(spec.formula, data, return_type="dataframe").to_numpy()
            pos = pd.Index(lev.labels).get_indexer(labels)
            contrib = np.einsum("nq,nq->n", Z, b[np.where(pos >= 0, pos, 0)])
            mu = mu + np.where(pos >= 0, contrib, np.nan)
        return pd.Series(mu, index=data.index, name="predicted")

    def _summary_text(self, ddf="containment"):
        lines = self._header(f"Linear mixed-effects model fit by {self.method}")
        lines.append("Random effects:")
        for lev, (name, df) in zip(self.frame.levels, self.re_sd.items()):
            lines.append(f" Formula: ~{lev_formula(self.frame, lev)} | {name}"
                         + (f"  ({lev.pd_class})" if lev.pd_class != "pdSymm" else ""))
            tab = pd.DataFrame({"StdDev": df["sd"]})
            if len(df) > 1 and lev.pd_class == "pdSymm":
                corr = df.drop(columns="sd")
                for c in corr.columns[:-1]:
                    tab["Corr " + c] = [corr.loc[r, c] if i > list(corr.index).index(c) else np.nan
                                        for i, r in enumerate(corr.index)]
            lines.append(_indent(tab.to_string(na_rep="", float_format=lambda v: f"{v:.6g}")))
        lines.append(f" Residual StdDev: {self.sigma:.6g}")
        lines.append("")
        lines += self._structure_lines()
        lines += self._fixed_lines(ddf)
        groups = ", ".join(f"{lev.name}: {lev.n_groups}" for lev in self.frame.levels)
        lines.append(f"Number of Observations: {self.nobs}")
        lines.append(f"Number of Groups: {groups}")
        return "\n".join(lines)


def lev_formula(frame, lev):
    for spec in frame.random_specs:
        if spec.name == lev.name:
            return " " + spec.formula
    return " 1"


def _terms(frame):
    di = frame.get_design_info()
    return [(name, list(range(sl.start, sl.stop))) for name, sl in di.term_name_slices.items()]


class GLSResults(_ResultsCore):
    """Results of a :func:`~lmmext.gls` / :class:`~lmmext.GLS` fit (nlme's ``gls``).

    The same quantities as :class:`LMEResults` without the random effects: ``fe_params``,
    ``bse_fe``, ``tvalues``, ``pvalues``, ``df_resid_fe`` (``N - p``), ``llf``, ``aic``,
    ``bic``, ``df_modelwc``, ``scale``, ``sigma``, ``variance_params``,
    ``correlation_params``, ``method``, ``nobs``, ``n_dropped``, ``converged``, the
    residuals, ``anova``, ``intervals`` and ``summary``.  Created by
    :meth:`lmmext.GLS.fit` and :func:`lmmext.gls`.

    See Also
    --------
    lmmext.gls, lmmext.GLS, LMEResults
    """

    _is_gls = True

    def __init__(self, model, state):
        self.model = model
        self._setup(state)
        N, p = state.frame.X.shape
        # nlme: gls ML vcov uses q/(N-p), i.e. sigma_ML^2 N/(N-p)
        adj = N / (N - p) if not state.reml else 1.0
        self._vcov_nlme = self._vcov_tests = self._vcov * adj
        self._bse_fe = self._fe_series(np.sqrt(np.diag(self._vcov_nlme)), "bse_fe")
        self.df_resid_fe = self._fe_series(np.full(p, float(N - p)), "df")
        self._term_df = {name: float(N - p) for name, _ in _terms(state.frame)}
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

    def _summary_text(self, ddf="containment"):
        lines = self._header(f"Generalized least squares fit by {self.method}")
        lines += self._structure_lines()
        lines += self._fixed_lines(ddf)
        lines.append(f"Residual standard error: {self.sigma:.6g}")
        lines.append(f"Degrees of freedom: {self.nobs} total; {self.nobs - self.k_fe} residual")
        return "\n".join(lines)
