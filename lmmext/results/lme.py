"""Results of lme fits: a statsmodels ``MixedLMResults`` with nlme's numbers."""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from statsmodels.base.model import LikelihoodModelResults
from statsmodels.regression.mixed_linear_model import MixedLMResults

from ..engine.linalg import design_rank
from ..structures.form import group_labels
from .core import ResultsCore
from .re_print import groups_text, random_effects_lines
from .varcov import lme_var_cov

__all__ = ["LMEResults"]


def init_mixedlm_results(res, model, params, normalized_cov, rank):
    """statsmodels' ``MixedLMResults.__init__`` given the design's ``rank`` (statsmodels
    takes a singular-value decomposition of the whole design for it)."""
    LikelihoodModelResults.__init__(res, model, params, normalized_cov_params=normalized_cov)
    res.nobs = model.nobs
    res.df_resid = res.nobs - rank


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
        N, p = frame.N, len(frame.exog_names)
        # nlme: lme ML summary SEs are small-sample adjusted by N/(N-p); vcov is not
        adj = N / (N - p) if not state.reml else 1.0
        self._vcov_nlme = self._vcov
        self._vcov_tests = self._vcov * adj
        bse = np.sqrt(np.diag(self._vcov_tests))
        self._init_statsmodels(model, self.fe_params.to_numpy(), self._vcov * adj / self.scale)
        self.params = self.fe_params.to_numpy()
        self.scale = float(state.evaluation.sigma2)
        self._bse_fe = self._fe_series(bse, "bse_fe")
        coef_df, term_df = frame.containment_df()
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

    def _init_statsmodels(self, model, params, normalized_cov):
        init_mixedlm_results(self, model, params, normalized_cov,
                             design_rank(np.asarray(model.exog)))

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
            mu = mu + lev.row_effects(b)
        return mu

    # --- grouping levels as nlme names them -------------------------------------------
    def _level_names(self):
        """nlme's names of the levels 0..Q: ``"fixed"``, then the grouping factors."""
        return ["fixed"] + [lev.name for lev in self.frame.levels]

    def _resolve_level(self, level, what="level", minimum=0):
        """One level as its number: an integer ``minimum..Q`` or a level name."""
        names, Q = self._level_names(), self._max_level
        if isinstance(level, str):
            if level not in names[minimum:]:
                raise ValueError(f"{what}: nonexistent level {level!r}; the levels are "
                                 f"{names[minimum:]} (or {minimum}..{Q})")
            return names.index(level)
        if isinstance(level, (bool, np.bool_)) or not isinstance(level, numbers.Integral):
            raise ValueError(f"{what} must be an integer between {minimum} and {Q} or a level "
                             f"name {names[minimum:]}, got {level!r}")
        if not minimum <= level <= Q:
            raise ValueError(f"{what} must be between {minimum} and {Q} "
                             f"({', '.join(f'{k}: {n}' for k, n in enumerate(names))}), "
                             f"got {level}")
        return int(level)

    def _levels_arg(self, level, what="level"):
        """None for a single level (the results are a Series, as before), else the list
        of level numbers (the results are a DataFrame with one column per level)."""
        if level is None or isinstance(level, (str, numbers.Integral)):
            return None
        try:
            items = list(level)
        except TypeError:
            raise ValueError(f"{what} must be an integer, a level name or a list of them, "
                             f"got {level!r}") from None
        if not items:
            raise ValueError(f"{what}: no levels given")
        ks = [self._resolve_level(k, what) for k in items]
        if len(set(ks)) < len(ks):
            raise ValueError(f"{what}: levels repeat in {items}")
        return ks

    def _by_level(self, ks, values_at, prefix=""):
        """DataFrame in the caller's row order, one column per level (nlme's names)."""
        names = self._level_names()
        return pd.DataFrame({prefix + names[k]: self.frame.to_caller_order(values_at(k))
                             for k in ks}, index=self.frame.index)

    def fitted(self, level=None):
        """Fitted values at one or several grouping levels, as nlme's ``fitted(fit, level=)``.

        Parameters
        ----------
        level : int, str or list of them, optional
            0 (or ``"fixed"``) for the population (``X beta``), ``k`` (or the name of the
            k-th grouping factor, outermost first) to add the BLUPs of the first ``k``
            grouping levels; default the innermost level.  Several levels (e.g.
            ``[0, 1]``) give one column each.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            In the row order of the data; for several levels a DataFrame with nlme's
            columns ``fixed``, ``<group>``, ... (e.g. ``fixed``, ``Dog``, ``Side``).
        """
        ks = self._levels_arg(level)
        if ks is None:
            k = None if level is None else self._resolve_level(level)
            return self._caller(self._fitted_engine(k), "fitted")
        return self._by_level(ks, self._fitted_engine)

    def residuals(self, type="response", level=None):
        """Residuals of a given type at one or several levels, as nlme's
        ``resid(fit, type=, level=)``.

        Parameters
        ----------
        type : {"response", "pearson", "normalized"}
            Or nlme's abbreviations ``"r"``, ``"p"``, ``"n"``.
        level : int, str or list of them, optional
            Grouping level of the fitted values subtracted (0 or ``"fixed"``: population;
            default the innermost), as in :meth:`fitted`.  Several levels give one column
            each.  For Pearson residuals the divisor is ``sigma / w_j`` at every level;
            normalized residuals decorrelate each level's Pearson residuals by the
            correlation structure, as in nlme.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            In the row order of the data; for several levels a DataFrame with nlme's
            columns ``fixed``, ``<group>``, ...
        """
        ks = self._levels_arg(level)
        if ks is None:
            k = None if level is None else self._resolve_level(level)
            return super().residuals(type=type, level=k)
        return pd.DataFrame({self._level_names()[k]: super(LMEResults, self).residuals(
            type=type, level=k).to_numpy() for k in ks}, index=self.frame.index)

    def coef(self, level=None):
        """Fixed plus random effects per group, as nlme's ``coef(fit, level=)``.

        Parameters
        ----------
        level : int or str, optional
            The grouping level (1..Q or the grouping factor's name; default the innermost):
            each group's coefficients add the BLUPs of that group and of the groups it is
            nested in to the fixed effects.

        Returns
        -------
        pandas.DataFrame
            One row per group of that level (nlme's sorted order, nested groups labelled
            ``outer/inner``), one column per fixed effect in the order of ``fe_params``,
            then random effects that are not fixed effects.
        """
        if self._levels_arg(level, "coef: level") is not None:
            raise ValueError(f"coef: only a single level is allowed (as nlme), got {level!r}")
        k = self._max_level if level is None else self._resolve_level(level, "coef: level", 1)
        levels, blups = self.frame.levels[:k], self._state.blups[:k]
        target = levels[-1]
        fe = self.fe_params
        cols = list(dict.fromkeys(list(fe.index) + [z for lev in levels for z in lev.z_names]))
        out = np.zeros((target.n_groups, len(cols)))
        out[:, :len(fe)] = fe.to_numpy()
        for lev, b in zip(levels, blups):
            idx = [cols.index(z) for z in lev.z_names]
            out[:, idx] += b[lev.codes[target.first_row]]
        return pd.DataFrame(out, index=pd.Index(target.labels, name=target.name), columns=cols)

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

    def getVarCov(self, individuals=None, type="random.effects"):
        """nlme's ``getVarCov(fit, individuals, type)``: covariance matrices of the fit.

        Parameters
        ----------
        individuals : str, int or list, optional
            For ``"conditional"`` and ``"marginal"``: the groups, as labels or 1-based
            positions among the groups in order of first appearance in the data (as
            nlme); default the first group of the data.  Ignored for
            ``"random.effects"``.
        type : {"random.effects", "conditional", "marginal"}
            ``"random.effects"``: ``D``, the covariance of the random effects, labelled by
            them (the intercept as nlme's ``(Intercept)``).  ``"conditional"``: the
            residual covariance ``sigma^2 W_i^-1 C_i W_i^-1`` of each individual, with the
            variance function and the correlation structure.  ``"marginal"``: that plus
            ``Z_i D Z_i'``.  A unique abbreviation is accepted, as nlme's ``match.arg``.

        Returns
        -------
        VarCovMatrix or VarCovList
            ``"random.effects"``: a :class:`~lmmext.results.varcov.VarCovMatrix` (a
            DataFrame).  Otherwise a :class:`~lmmext.results.varcov.VarCovList`, a dict
            from the group label to its matrix, rows and columns ``1..n_i`` in the
            data's row order within the group.  Both print as nlme's ``print.VarCov``
            (``to_text(corr=True)`` prints correlations).

        Raises
        ------
        NotImplementedError
            The fit has more than one grouping level (nlme: "not implemented for multiple
            levels of nesting").
        ValueError
            An unknown type, or an individual not in the fit.
        """
        return lme_var_cov(self, individuals, type)

    get_var_cov = getVarCov

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
        level : int, str or list of them
            0 for the population prediction ``X beta``; ``k`` adds the BLUPs of the first
            ``k`` grouping levels, which needs their grouping columns.  Groups not seen in
            the fit give NaN, as in nlme.  Several levels (e.g. ``[0, 1]``) give nlme's
            data frame.
        newdata : pandas.DataFrame, optional
            Alias of ``exog``.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            Indexed like the new data.  For several levels nlme's layout: the grouping
            columns (nested groups labelled ``outer/inner``; without new data only those of
            the levels asked for, as nlme), then ``predict.fixed``, ``predict.<group>``...
        """
        data = newdata if newdata is not None else exog
        ks = self._levels_arg(level)
        names = self._level_names()
        if data is None:
            if ks is None:
                return self.fitted(level)
            groups = pd.DataFrame({names[k]: self.frame.to_caller_order(np.asarray(
                self.frame.levels[k - 1].labels, dtype=object)[self.frame.levels[k - 1].codes])
                for k in ks if k > 0}, index=self.frame.index)
            return pd.concat([groups, self._by_level(ks, self._fitted_engine, "predict.")],
                             axis=1)
        if not isinstance(data, pd.DataFrame):
            raise TypeError("newdata must be a pandas DataFrame")
        single = ks is None
        ks = [self._max_level if level is None else self._resolve_level(level)] if single else ks
        mus, labels = self._predict_levels(data, max(ks))
        if single:
            return pd.Series(mus[ks[0]], index=data.index, name="predicted")
        out = pd.DataFrame({names[j + 1]: lab for j, lab in enumerate(labels)}, index=data.index)
        for k in ks:
            out["predict." + names[k]] = mus[k]
        return out

    def _predict_levels(self, data, top):
        """Predictions for ``data`` at levels 0..top, and the group labels of levels
        1..top (NaN where a group was not in the fit)."""
        X = self._design(data)
        mu = X.to_numpy() @ self.fe_params.to_numpy()
        mus, labels = [mu], []
        for k, (lev, b) in enumerate(zip(self.frame.levels[:top], self._state.blups[:top])):
            cols = [g for spec in self.frame.random_specs[:k + 1] for g in spec.grouping]
            for n in cols:
                if n not in data.columns:
                    raise KeyError(f"newdata needs the grouping column {n!r} for level {top}")
            # crossed effects without a common factor: one group, the whole data
            lab = (group_labels(data, cols) if cols else
                   pd.Series(lev.labels[0], index=data.index).to_numpy(dtype=object))
            Z, _ = self.frame.random_design(k, data)
            pos = pd.Index(lev.labels).get_indexer(lab)
            bz = b[np.where(pos >= 0, pos, 0)]
            contrib = (np.asarray(Z.multiply(bz).sum(axis=1)).ravel() if hasattr(Z, "multiply")
                       else np.einsum("nq,nq->n", Z, bz))
            mu = mu + np.where(pos >= 0, contrib, np.nan)
            mus.append(mu)
            labels.append(lab)
        return mus, labels

    def _summary_text(self, ddf="containment"):
        lines = self._header(f"Linear mixed-effects model fit by {self.method}")
        lines.append("Random effects:")
        for k, D in enumerate(self._re_cov):
            lines += random_effects_lines(self.frame, k, D.to_numpy())
        lines.append(f" Residual StdDev: {self.sigma:.6g}")
        lines.append("")
        lines += self._structure_lines()
        lines += self._fixed_lines(ddf)
        lines.append(f"Number of Observations: {self.nobs}")
        lines.append(f"Number of Groups: {groups_text(self.frame)}")
        return "\n".join(lines)


def lev_formula(frame, lev):
    """The random-effects formula of level ``lev`` as the summary prints it."""
    for spec in frame.random_specs:
        if spec.name == lev.name:
            return " " + spec.formula
    return " 1"
