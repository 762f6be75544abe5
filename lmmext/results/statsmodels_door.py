"""Results of fits with nlme's structures through statsmodels' doors (``lmmext.MixedLM``
and ``lmmext.GLS``): statsmodels' conventions, every member computed under the fitted
variance function and correlation structure.

For ``MixedLM``, ``params`` is statsmodels' vector with the structure parameters
appended (see :mod:`lmmext.inference.statsmodels_layout`), ``cov_params()`` the inverse
of minus the Hessian of the criterion in those parameters, so ``bse``, ``conf_int``,
``t_test``, ``f_test`` and ``wald_test`` are statsmodels' (normal tests unless
``use_t``); ``t_test``, ``f_test`` and ``wald_test_terms`` opt in to mixed-model
degrees of freedom with ``ddf=``.  nlme's quantities of the same fit are ``res.nlme``
(an :class:`~lmmext.results.LMEResults`: ``anova``, ``intervals``,
containment/Satterthwaite/Kenward-Roger DFs, nlme's summary).
"""
from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd
import patsy
from scipy.stats import norm
from statsmodels.base.model import LikelihoodModelResults
from statsmodels.regression.mixed_linear_model import MixedLMParams, MixedLMResults
from statsmodels.stats.contrast import ContrastResults, WaldTestResults

from ..engine.levels import Level
from ..engine.linalg import design_rank
from ..engine.likelihood import ProfiledLikelihood
from ..inference.profile import profile_parameter
from ..inference.statsmodels_layout import StatsmodelsLayout
from .fixed_effects import check_ddf
from .lme import init_mixedlm_results
from .varcov import door_var_cov

__all__ = ["StructuredMixedLMResults", "StructuredGLSResults"]


class _DoorResults:
    """What both doors' results share: the fit's record, the formula's design for
    statsmodels' term-based members, and the structures in the summary."""

    def _attach_fit(self, state, nlme):
        self._state, self.nlme = state, nlme
        self.method = "REML" if state.reml else "ML"
        self.converged = state.optim_info.converged
        self.optim_info = state.optim_info
        self.variance_params = nlme.variance_params
        self.correlation_params = nlme.correlation_params

    def _structure_info(self, info):
        """``info`` (the summary's first table) with the structures' names."""
        frame = self._state.frame
        if frame.varfunc is not None:
            info["Variance function:"] = type(frame.varfunc).__name__
        if frame.corstruct is not None:
            info["Correlation:"] = type(frame.corstruct).__name__
        return info

    def _add_structure_table(self, smry):
        nat = pd.concat([self.correlation_params, self.variance_params])
        if len(nat):
            smry.add_df(nat.to_frame("nlme scale").map(lambda v: f"{v:.4g}"), align="r")

    def getVarCov(self, individuals=None, type=None, individual=None):
        """nlme's ``getVarCov`` of this fit, computed by ``res.nlme`` (see
        :meth:`LMEResults.getVarCov <lmmext.results.LMEResults.getVarCov>`,
        :meth:`GLSResults.getVarCov <lmmext.results.GLSResults.getVarCov>`).

        ``MixedLM``: ``individuals`` are group labels as ``random_effects`` keys them
        (default the first group of the data), and the returned dict has those keys;
        ``type`` defaults to ``"random.effects"``.  ``GLS``: ``individual`` as nlme's
        gls (a correlation group's label or 1-based position).
        """
        return door_var_cov(self, individuals, type, individual)

    get_var_cov = getVarCov

    def emmeans(self, specs, by=None, at=None, weights="equal", ddf=None, level=0.95,
                vcov=None):
        """Estimated marginal means of this fit (see :func:`lmmext.emmeans`), computed by
        ``res.nlme``; an ML fit's covariance is not multiplied by ``N / (N - p)`` here."""
        from .emmeans import emmeans
        return emmeans(self, specs, by=by, at=at, weights=weights, ddf=ddf, level=level,
                       vcov=vcov)

    def predict(self, exog=None, transform=True, *args, **kwargs):
        """Fixed-effects predictions ``X beta``: ``exog`` a DataFrame with the formula's
        columns (or a design matrix with ``transform=False``); without it, the data's."""
        if (exog is not None and transform and isinstance(exog, pd.DataFrame)
                and self._state.frame.formula is not None):
            X = self.nlme._design(exog)
            return pd.Series(X.to_numpy() @ np.asarray(self.fe_params), index=exog.index)
        return super().predict(exog, transform, *args, **kwargs)

    def t_test_pairwise(self, term_name, method="hs", alpha=0.05, factor_labels=None):
        """statsmodels' pairwise t tests of a categorical term's levels (its design is
        the model formula's)."""
        data = self.model.data
        saved = {k: data.__dict__[k] for k in ("design_info", "model_spec") if k in data.__dict__}
        data.design_info = data.model_spec = self._state.frame.get_design_info()
        try:
            return super().t_test_pairwise(term_name, method=method, alpha=alpha,
                                           factor_labels=factor_labels)
        finally:
            del data.design_info, data.model_spec
            data.__dict__.update(saved)


class StructuredMixedLMResults(_DoorResults, MixedLMResults):
    """statsmodels' ``MixedLMResults`` of a model with a variance function or a
    correlation structure (created by :meth:`lmmext.MixedLM.fit`).

    Attributes
    ----------
    params : ndarray
        ``[fe_params, cov_re (lower triangle), vcomp, structure parameters]``: the
        covariances relative to ``scale`` as statsmodels has them, the structure
        parameters on nlme's apVar scale.
    fe_params, cov_re, cov_re_unscaled, vcomp, scale, params_object
        As statsmodels.
    variance_params, correlation_params : pandas.Series
        The structures' parameters on nlme's reported scale.
    nlme : LMEResults
        The same fit with nlme's conventions and inference.
    """

    def __init__(self, model, state, nlme):
        layout = StatsmodelsLayout(state.engine, state.frame.exog_names, state.theta,
                                   state.evaluation.beta)
        ev = state.evaluation
        scale = float(ev.sigma2)
        cov = layout.covariance()
        if cov is None:
            warnings.warn("The Hessian matrix at the estimated parameter values is not "
                          "positive definite; cov_params() is NaN", UserWarning, stacklevel=3)
            cov = np.full((len(layout.names), len(layout.names)), np.nan)
        self._init_statsmodels(model, layout.estimate, cov / scale)
        self._attach_fit(state, nlme)
        self._layout = layout
        k_fe, k_re = layout.k_fe, layout.k_re
        D = np.zeros((k_re, k_re))
        D[np.tril_indices(k_re)] = layout.estimate[k_fe:k_fe + layout.k_re2]
        D = D + np.tril(D, -1).T
        vc = layout.estimate[k_fe + layout.k_re2:k_fe + layout.k_re2 + layout.k_vc]
        self.fe_params = ev.beta
        self.cov_re_unscaled = D
        self.cov_re = scale * D
        self.vcomp = scale * vc
        self.scale = scale
        self.params_object = MixedLMParams.from_components(ev.beta, cov_re=D, vcomp=vc)
        self.reml = state.reml
        self.hist = None
        self.cov_pen = None
        self.freepat = None
        self.use_sqrt = model.use_sqrt
        self.k_fe, self.k_re, self.k_re2, self.k_vc = k_fe, k_re, layout.k_re2, layout.k_vc
        self.k_struct = layout.k_struct

    def _init_statsmodels(self, model, params, normalized_cov):
        init_mixedlm_results(self, model, params, normalized_cov,
                             design_rank(np.asarray(model.exog)))

    # -- what statsmodels computes without the structures ------------------------------
    @cached_property
    def llf(self):
        """The (RE)ML log-likelihood at the estimates, under the structures."""
        return self.nlme.llf

    @cached_property
    def fittedvalues(self):
        """Fitted values ``X beta + Z b`` with the BLUPs of the structured model, in the
        data's row order."""
        return self.nlme.fittedvalues.to_numpy()

    @cached_property
    def resid(self):
        """``endog - fittedvalues``, in the data's row order."""
        return np.asarray(self.model.endog) - self.fittedvalues

    @cached_property
    def bse_re(self):
        """Standard errors of ``cov_re``'s lower triangle and of the variance components
        (statsmodels' scaling); the structure parameters' are the tail of ``bse``."""
        p, k = self.k_fe, self.k_re2 + self.k_vc
        return np.sqrt(self.scale * np.diag(self.cov_params())[p:p + k])

    def _slots(self):
        """Per outer group: the indices of its BLUP entries statsmodels reports (the
        random effects, then each variance component's own columns) and their names, as
        statsmodels' ``_expand_re_names``."""
        k_re = self.k_re
        re_names = list(self.model.data.exog_re_names)
        outer = self._state.frame.levels[0]
        vc = self.model.exog_vc
        starts = np.cumsum([k_re] + [b.q for b in getattr(outer.pd, "blocks", [outer.pd])
                                     ][1 if k_re else 0:])
        index = {g: k for k, g in enumerate(self.model.group_labels)}
        out = []
        for key in self._group_keys():
            idx, names = list(range(k_re)), list(re_names)
            for j, name in enumerate(vc.names):
                cols = vc.colnames[j][index[key]]
                idx += list(range(starts[j], starts[j] + len(cols)))
                names += [f"{name}[{c}]" for c in cols]
            out.append((key, np.array(idx, dtype=int), names))
        return out

    @cached_property
    def random_effects(self):
        """BLUPs of the structured model per group of ``groups``, keyed and labelled as
        statsmodels keys and labels them (variance components ``name[column]``); a nested
        level's BLUPs follow, one per inner group, labelled ``name[C(name)[level]]``."""
        levels, blups = self._state.frame.levels, self._state.blups
        outer = levels[0]
        out = {key: pd.Series(blups[0][g][idx], index=names, dtype=float)
               for g, (key, idx, names) in enumerate(self._slots())}
        keys = self._group_keys()
        for lev, b in zip(levels[1:], blups[1:]):
            owner = outer.codes[lev.first_row]
            for g, lab in enumerate(lev.labels):
                name = f"{lev.name}[C({lev.name})[{str(lab).rsplit('/', 1)[-1]}]]"
                key = keys[owner[g]]
                out[key] = pd.concat([out[key], pd.Series(b[g], index=[name])])
        return {key: out[key] for key in self.model.group_labels}

    def _group_keys(self):
        """The statsmodels group label of every outer group of the engine."""
        outer = self._state.frame.levels[0]
        caller_groups = np.asarray(self.model.groups, dtype=object)
        engine_rows = self._state.frame.order[outer.first_row]
        return [caller_groups[r] for r in engine_rows]

    @cached_property
    def random_effects_cov(self):
        """Conditional covariance of each group's random effects given the data,
        ``D - D Z' V^-1 Z D`` with the fitted variance function and correlation
        structure in ``V``; keyed and labelled like :attr:`random_effects`."""
        frame = self._state.frame
        if len(frame.levels) > 1:
            raise NotImplementedError("random_effects_cov of a model with nested levels "
                                      "is not available yet")
        ev = self._state.evaluation
        chol = ev.level_store[0][1]
        # D - D Z'V^-1 Z D = sigma^2 L M^-1 L' with M = I + L' Z~'Z~ L = chol chol' on the
        # engine's design; the user's factor (A L) maps it to the user's design
        L = self._state.engine.user_factors(ev)[0]
        half = np.linalg.solve(chol, np.broadcast_to(L.T, chol.shape))
        cov = self.scale * np.matmul(half.transpose(0, 2, 1), half)
        out = {key: pd.DataFrame(c[np.ix_(idx, idx)], index=names, columns=names)
               for c, (key, idx, names) in zip(cov, self._slots())}
        return {key: out[key] for key in self.model.group_labels}

    def t_test(self, r_matrix, use_t=None, ddf=None):
        """t tests of linear hypotheses, as statsmodels' ``MixedLMResults.t_test``:
        ``r_matrix`` has one column per fixed effect (or one per parameter, or is a string
        of hypotheses).

        Parameters
        ----------
        ddf : {"containment", "satterthwaite", "kenward-roger"}, optional
            Opt in to t tests on mixed-model denominator degrees of freedom, with nlme's
            covariance of the fixed effects (Kenward-Roger's adjusted one), as
            ``res.nlme.fe_table(ddf=...)``; the hypotheses may involve fixed effects only.
        """
        if ddf is not None:
            L = self._fixed_contrasts(r_matrix, "t_test")
            cov = self.nlme._test_covariance(check_ddf(ddf))
            effect = L @ np.asarray(self.fe_params)
            sd = np.sqrt(np.einsum("ij,jk,ik->i", L, cov, L))
            den = np.array([self.nlme.anova(L=row[None], ddf=ddf)["denDF"].iloc[0]
                            for row in L])
            return ContrastResults(effect=effect, t=effect / sd, sd=sd, df_denom=den,
                                   distribution="t")
        if isinstance(r_matrix, str):
            return LikelihoodModelResults.t_test(self, r_matrix, use_t=use_t)
        r_matrix = np.atleast_2d(np.asarray(r_matrix, dtype=float))
        if r_matrix.shape[1] not in (self.k_fe, len(self.params)):
            raise ValueError(f"r_matrix for t-test should have {self.k_fe} columns (or "
                             f"{len(self.params)}, one per parameter)")
        pad = np.zeros((r_matrix.shape[0], len(self.params) - r_matrix.shape[1]))
        return LikelihoodModelResults.t_test(self, np.hstack([r_matrix, pad]), use_t=use_t)

    def f_test(self, r_matrix, cov_p=None, invcov=None, ddf=None):
        """statsmodels' F test of ``r_matrix params = 0``; with ``ddf=`` (``"containment"``,
        ``"satterthwaite"``, ``"kenward-roger"``) nlme's ``anova(fit, L=)``: its F and
        denominator degrees of freedom, the hypotheses on the fixed effects only."""
        if ddf is None:
            return super().f_test(r_matrix, cov_p=cov_p, invcov=invcov)
        tab = self.nlme.anova(L=self._fixed_contrasts(r_matrix, "f_test"), ddf=ddf)
        return ContrastResults(F=tab["F-value"].iloc[0], df_num=tab["numDF"].iloc[0],
                               df_denom=tab["denDF"].iloc[0])

    def wald_test_terms(self, skip_single=False, extra_constraints=None, combine_terms=None,
                        scalar=None, ddf=None):
        """statsmodels' Wald tests per term; with ``ddf=`` (``"containment"``,
        ``"satterthwaite"``, ``"kenward-roger"``) nlme's marginal F tests per term,
        ``anova(fit, type = "marginal")``, with those denominator degrees of freedom."""
        if ddf is None:
            return super().wald_test_terms(skip_single=skip_single,
                                           extra_constraints=extra_constraints,
                                           combine_terms=combine_terms, scalar=scalar)
        if skip_single or extra_constraints is not None or combine_terms is not None:
            raise NotImplementedError("wald_test_terms(ddf=...) tests each term of the "
                                      "formula; skip_single, extra_constraints and "
                                      "combine_terms apply without ddf= only")
        tab = self.nlme.anova(type="marginal", ddf=ddf)
        table = pd.DataFrame({"statistic": tab["F-value"], "pvalue": tab["p-value"],
                              "df_constraint": tab["numDF"], "df_denom": tab["denDF"]})
        return WaldTestResults(None, "F", None, table=table)

    def _fixed_contrasts(self, r_matrix, member):
        """Hypotheses as a matrix over the fixed effects (nlme's tests know no others)."""
        if isinstance(r_matrix, str) or (isinstance(r_matrix, (list, tuple)) and r_matrix
                                         and isinstance(r_matrix[0], str)):
            constraint = patsy.DesignInfo(list(self.model.data.param_names)).linear_constraint(
                r_matrix)
            if np.any(constraint.constants != 0):
                raise ValueError(f"{member}(ddf=...) tests hypotheses L beta = 0")
            r_matrix = constraint.coefs
        L = np.atleast_2d(np.asarray(r_matrix, dtype=float))
        if L.shape[1] == len(self.params):
            if np.any(L[:, self.k_fe:] != 0):
                raise ValueError(f"{member}(ddf=...) tests the fixed effects only")
            L = L[:, :self.k_fe]
        if L.shape[1] != self.k_fe:
            raise ValueError(f"{member}: r_matrix needs {self.k_fe} columns (one per fixed "
                             f"effect) or {len(self.params)}, got {L.shape[1]}")
        return L

    def _refuse(self, member, why):
        raise NotImplementedError(f"{member}: the model has "
                                  f"{self._state.frame.structures_text()}; {why}")

    def bootstrap(self, *args, **kwargs):
        """Not available with a structure: statsmodels' bootstrap refits the model class
        on resampled arrays, without the structures."""
        self._refuse("bootstrap", "statsmodels' bootstrap refits would ignore them")

    @property
    def score_obsv(self):
        """Not available: the per-observation score is not defined for this model (the
        observations of a group are correlated)."""
        self._refuse("score_obsv", "MixedLM has no per-observation score")

    bsejac = covjac = bsejhj = covjhj = hessv = score_obsv

    def get_nlfun(self, fun):
        """Not available (nor in statsmodels)."""
        self._refuse("get_nlfun", "nonlinear functions of the parameters are not available")

    def profile_re(self, re_ix, vtype, num_low=5, dist_low=1.0, num_high=5, dist_high=1.0,
                   **fit_kwargs):
        """statsmodels' profile likelihood of a variance under the structures: the
        random effect ``re_ix``'s variance (``vtype="re"``) or the variance component
        named ``re_ix`` (``"vc"``) held at a grid around its estimate while everything
        else, the structure parameters included, is refitted.

        Returns
        -------
        ndarray (n, 2)
            The held variance (scaled by each refit's residual variance, as statsmodels)
            and the refit's log-likelihood.
        """
        if vtype not in ("re", "vc"):
            raise ValueError(f"vtype must be 're' or 'vc', got {vtype!r}")
        if fit_kwargs:
            raise NotImplementedError(f"profile_re: {', '.join(sorted(fit_kwargs))} are "
                                      "statsmodels' optimizer options; lmmext's refits take none")
        state = self._state
        eng, layout = state.engine, self._layout
        # the refits work on the user's design without the engine's centring, so that
        # the held variance is one parameter (exp(2 theta_0) of the first column)
        levels, theta = list(eng.user_levels), np.array(state.theta, dtype=float)
        if eng.transforms[0] is not None:
            theta[:levels[0].n_params] = levels[0].unfactor(
                np.linalg.cholesky(self.cov_re_unscaled))
        if vtype == "re":
            if not (isinstance(re_ix, (int, np.integer)) and 0 <= re_ix < self.k_re):
                raise ValueError(f"re_ix must be an index 0..{self.k_re - 1} of the random "
                                 f"effects, got {re_ix!r}")
            # the held variance first, as statsmodels does: then it is exp(2 theta_0)
            k = self.k_re
            perm = np.arange(levels[0].q)
            perm[[0, re_ix]] = [re_ix, 0]
            outer = levels[0]
            levels[0] = Level(outer.name, outer.codes, outer.labels, outer.Z[:, perm],
                              [outer.z_names[i] for i in perm], pd=outer.pd)
            L = np.linalg.cholesky(self.cov_re_unscaled[np.ix_(perm[:k], perm[:k])])
            block = getattr(outer.pd, "blocks", [outer.pd])[0]
            theta[:block.n_params] = block.unfactor(L)
            j, ru0 = 0, self.cov_re_unscaled[re_ix, re_ix]
            center = self.cov_re[re_ix, re_ix]
        else:
            names = [n[:-4] for n in layout.names[self.k_fe + self.k_re2:
                                                  self.k_fe + self.k_re2 + self.k_vc]]
            if re_ix not in names:
                raise ValueError(f"re_ix must name a variance component ({names}), "
                                 f"got {re_ix!r}")
            i = names.index(re_ix)
            j = layout.vc_theta_index(i)
            ru0 = self.vcomp[i] / self.scale
            center = self.vcomp[i]
        low, high = (center - dist_low) / self.scale, (center + dist_high) / self.scale
        if low <= 0:
            raise ValueError("dist_low is too large and would result in a negative "
                             "variance. Try a smaller value.")
        values = np.r_[np.linspace(low, ru0, num_low + 1), np.linspace(ru0, high, num_high + 1)[1:]]
        engine = ProfiledLikelihood(eng.y, eng.X, levels, eng.varfunc, eng.corstruct,
                                    reml=eng.reml, reparameterize=False)
        sigma2, loglik = profile_parameter(engine, theta, j, 0.5 * np.log(values))
        return np.column_stack([values * sigma2, loglik])

    def _group_sizes(self):
        """``(groups, smallest, largest)`` of the outermost level."""
        sizes = np.bincount(self._state.frame.levels[0].codes)
        return len(sizes), sizes.min(), sizes.max()

    def summary(self, yname=None, xname_fe=None, xname_re=None, title=None, alpha=0.05):
        """statsmodels' summary tables, with the structure parameters (apVar scale)
        after the variance components and a table of them on nlme's reported scale.

        Returns
        -------
        statsmodels.iolib.summary2.Summary
        """
        from statsmodels.iolib import summary2

        names = list(self.model.data.param_names)
        k_fe = self.k_fe
        if xname_fe is not None:
            if len(xname_fe) != k_fe:
                raise ValueError(f"xname_fe should be a list of length {k_fe:d}")
            names[:k_fe] = xname_fe
        if xname_re is not None:
            if len(xname_re) != len(names) - k_fe:
                raise ValueError(f"xname_re should be a list of length {len(names) - k_fe:d}")
            names[k_fe:] = xname_re
        smry = summary2.Summary()
        n_groups, smallest, largest = self._group_sizes()
        info = {"Model:": "MixedLM", "Dependent Variable:": yname or self.model.endog_names,
                "No. Observations:": str(self.nobs), "Method:": self.method,
                "No. Groups:": str(n_groups), "Scale:": self.scale,
                "Min. group size:": f"{smallest:.0f}", "Log-Likelihood:": self.llf,
                "Max. group size:": f"{largest:.0f}",
                "Converged:": "Yes" if self.converged else "No",
                "Mean group size:": f"{self.nobs / n_groups:.1f}"}
        smry.add_dict(self._structure_info(info))
        smry.add_title(title or "Mixed Linear Model Regression Results")
        se = np.sqrt(np.diag(self.cov_params()))
        tab = np.full((len(names), 6), np.nan)
        tab[:k_fe, 0], tab[:k_fe, 1] = self.fe_params, se[:k_fe]
        tab[:k_fe, 2] = tab[:k_fe, 0] / tab[:k_fe, 1]
        tab[:k_fe, 3] = 2 * norm.cdf(-np.abs(tab[:k_fe, 2]))
        q = -norm.ppf(alpha / 2)
        tab[:k_fe, 4], tab[:k_fe, 5] = tab[:k_fe, 0] - q * se[:k_fe], tab[:k_fe, 0] + q * se[:k_fe]
        k_var = self.k_re2 + self.k_vc
        scaled = np.concatenate([self.cov_re[np.tril_indices(self.k_re)], self.vcomp])
        tab[k_fe:k_fe + k_var, 0] = scaled
        tab[k_fe:k_fe + k_var, 1] = np.sqrt(self.scale) * se[k_fe:k_fe + k_var]
        tab[k_fe + k_var:, 0] = self.params[k_fe + k_var:]
        tab[k_fe + k_var:, 1] = se[k_fe + k_var:]
        df = pd.DataFrame(tab, index=names, columns=["Coef.", "Std.Err.", "z", "P>|z|",
                                                     f"[{alpha / 2}", f"{1 - alpha / 2}]"])
        smry.add_df(df.map(lambda v: f"{v:.3f}" if np.isfinite(v) else ""), align="r")
        self._add_structure_table(smry)
        return smry


class StructuredGLSResults(_DoorResults, LikelihoodModelResults):
    """statsmodels-style results of :meth:`lmmext.GLS.fit`: a ``LikelihoodModelResults``
    with ``params`` the coefficients, ``cov_params()`` ``s^2 (X'V~^-1X)^-1`` with ``s^2``
    the whitened residual sum of squares over ``N - p`` (statsmodels' GLS and nlme's
    ``vcov``), and t tests on ``N - p`` degrees of freedom; ``t_test``, ``f_test``,
    ``wald_test``, ``conf_int`` and ``summary()`` are statsmodels'.  nlme's conventions of
    the same fit are ``res.nlme`` (a :class:`~lmmext.results.GLSResults`).

    Attributes
    ----------
    fe_params, params : coefficients
    scale : float
        ``s^2`` above.
    variance_params, correlation_params : pandas.Series
    nlme : GLSResults
    """

    def __init__(self, model, state, nlme):
        ev, eng = state.evaluation, state.engine
        N, p = eng.N, eng.p
        scale = ev.q / (N - p)
        super().__init__(model, ev.beta, normalized_cov_params=eng.cov_beta(ev) / ev.sigma2,
                         scale=scale)
        self._attach_fit(state, nlme)
        self.fe_params = ev.beta
        self.use_t = True
        self.nobs, self.df_resid, self.df_model = N, N - p, p - 1

    @cached_property
    def llf(self):
        """nlme's (RE)ML log-likelihood at the estimates."""
        return self.nlme.llf

    @cached_property
    def fittedvalues(self):
        """``X beta``, in the data's row order."""
        return np.asarray(self.model.exog) @ self.fe_params

    @cached_property
    def resid(self):
        """``endog - fittedvalues``, in the data's row order."""
        return np.asarray(self.model.endog) - self.fittedvalues

    def summary(self, yname=None, xname=None, title=None, alpha=0.05):
        """statsmodels-style summary tables: the fit, the coefficients with t tests and
        intervals, and the structure parameters on nlme's scale.

        Returns
        -------
        statsmodels.iolib.summary2.Summary
        """
        from statsmodels.iolib import summary2

        smry = summary2.Summary()
        info = {"Model:": "GLS", "Dependent Variable:": yname or self.model.endog_names,
                "No. Observations:": str(self.nobs), "Method:": self.method,
                "Df Residuals:": str(int(self.df_resid)), "Scale:": self.scale,
                "Log-Likelihood:": self.llf, "Converged:": "Yes" if self.converged else "No"}
        smry.add_dict(self._structure_info(info))
        smry.add_title(title or "Generalized Least Squares Results (nlme structures)")
        ci = np.asarray(self.conf_int(alpha))
        tab = pd.DataFrame({"Coef.": self.params, "Std.Err.": self.bse, "t": self.tvalues,
                            "P>|t|": self.pvalues, f"[{alpha / 2}": ci[:, 0],
                            f"{1 - alpha / 2}]": ci[:, 1]},
                           index=xname or list(self.model.exog_names))
        smry.add_df(tab.map(lambda v: f"{v:.4f}"), align="r")
        self._add_structure_table(smry)
        return smry
