"""Results of lme fits: a statsmodels ``MixedLMResults`` with nlme's numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
from statsmodels.regression.mixed_linear_model import MixedLMResults

from ..inference.containment import containment_df
from ..structures.form import group_labels
from .core import ResultsCore
from .summary import indent

__all__ = ["LMEResults"]


class LMEResults(ResultsCore, MixedLMResults):
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
        coef_df, term_df = containment_df(frame.X, frame.levels, frame.terms())
        self.df_resid_fe = self._fe_series(coef_df, "df")
        self._term_df = term_df
        self._max_level = len(frame.levels)
        self._re_cov = []
        for lev, L in zip(frame.levels, state.engine.user_factors(state.evaluation)):
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
        for lev, b in list(zip(engine.user_levels, self._state.blups))[:level]:
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
            lines.append(indent(tab.to_string(na_rep="", float_format=lambda v: f"{v:.6g}")))
        lines.append(f" Residual StdDev: {self.sigma:.6g}")
        lines.append("")
        lines += self._structure_lines()
        lines += self._fixed_lines(ddf)
        groups = ", ".join(f"{lev.name}: {lev.n_groups}" for lev in self.frame.levels)
        lines.append(f"Number of Observations: {self.nobs}")
        lines.append(f"Number of Groups: {groups}")
        return "\n".join(lines)


def lev_formula(frame, lev):
    """The random-effects formula of level ``lev`` as the summary prints it."""
    for spec in frame.random_specs:
        if spec.name == lev.name:
            return " " + spec.formula
    return " 1"
