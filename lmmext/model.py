"""The front doors: statsmodels' ``MixedLM`` subclass, the ``GLS`` model, and nlme's
``lme()`` and ``gls()``.  Each builds a model frame (:mod:`lmmext.frame`), fits it with
the engine and wraps the fitted state in results (:mod:`lmmext.results`)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import pandas as pd
from statsmodels.base.model import LikelihoodModel, LikelihoodResultsWrapper
from statsmodels.regression import mixed_linear_model as _sm

from .engine.fitting import fit_frame, start_vector as _start_vector
from .formula import RandomLevel, eval_environment, formula_rhs, parse_random
from .frame import build_frame, frame_columns, frame_from_arrays, is_dask_dataframe
from .inference.statsmodels_layout import statsmodels_re_names
from .rformula import r_formula
from .results import GLSResults, LMEResults
from .results.statsmodels_door import StructuredGLSResults, StructuredMixedLMResults
from .statsmodels_fit import engine_optimum, random_design
from .statsmodels_methods import StructuredModelMethods
from .structures.numdiff import central_differences
from .structures.numdiff import hessian as numerical_hessian

__all__ = ["MixedLM", "GLS", "lme", "gls"]


def _method_to_reml(method):
    if not isinstance(method, str) or method.upper() not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
    return method.upper() == "REML"


class _Deferred:
    """An attribute of statsmodels' MixedLM built on first access.  statsmodels'
    constructor copies the data group by group for its own likelihood (a Python loop over
    rows and groups: ~0.1 s per 10,000 groups); lmmext's engine never reads the copies, so
    they are built only if a statsmodels method asks for them."""

    def __init__(self, build):
        self.build = build

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        # stored in the instance: later reads (and statsmodels' own assignments) bypass this
        value = obj.__dict__[self.name] = self.build(obj)
        return value


def _reparam_part(i):
    def build(model):
        model._lin, model._quad = model._reparam()
        return (model._lin, model._quad)[i]
    return build


class MixedLM(StructuredModelMethods, _sm.MixedLM):
    """statsmodels' MixedLM with nlme's variance functions and correlation structures.

    A subclass of :class:`statsmodels.regression.mixed_linear_model.MixedLM`: statsmodels'
    door.  Without a structure it is statsmodels' MixedLM (lmmext's engine finds the
    optimum); ``weights=`` and ``correlation=`` (in :meth:`from_formula`, or with the
    array constructor ``MixedLM(endog, exog, groups, exog_re, exog_vc)`` together with
    ``structure_data=``, a DataFrame, one row per observation, with the columns the
    structures' forms name; the groups are its column named like ``groups``, or
    ``"Group"``) add nlme's structures, and :meth:`fit` returns statsmodels-style results
    computed under them
    (:class:`~lmmext.results.statsmodels_door.StructuredMixedLMResults`).

    See Also
    --------
    lmmext.lme : the nlme-style front door.
    """

    # statsmodels' sorted(set(groups)) (distinct values hashed in C first), deferred too:
    # nlme's door never reads it
    group_labels = _Deferred(lambda m: sorted(set(pd.unique(np.ravel(np.asarray(
        m.groups, dtype=object))).tolist())))
    n_groups = _Deferred(lambda m: len(m.group_labels))
    row_indices = _Deferred(lambda m: dict(zip(m.group_labels, m._group_rows())))
    endog_li = _Deferred(lambda m: m.group_list(m.endog))
    exog_li = _Deferred(lambda m: m.group_list(m.exog))
    exog_re_li = _Deferred(lambda m: m.group_list(m.exog_re))
    exog_re2_li = _Deferred(lambda m: None if m.exog_re is None else
                            [np.dot(x.T, x) for x in m.exog_re_li])
    _aex_r = _Deferred(lambda m: [m._augment_exog(i) for i in range(m.n_groups)])
    _aex_r2 = _Deferred(lambda m: [_sm._dot(a.T, a) for a in m._aex_r])
    _lin = _Deferred(_reparam_part(0))
    _quad = _Deferred(_reparam_part(1))

    def __init__(self, endog, exog, groups, exog_re=None, exog_vc=None, use_sqrt=True,
                 missing="none", weights=None, correlation=None, structure_data=None,
                 **kwargs):
        # statsmodels' constructor, except that the per-group copies of the data
        # (row_indices, endog_li, exog_li, exog_re_li, exog_re2_li, _aex_r, _aex_r2, _lin,
        # _quad) are deferred to first access; tests/test_statsmodels_compat.py checks
        # that every attribute equals statsmodels' own.  weights=, correlation= and
        # structure_data= (the columns their forms name) add nlme's structures.
        self._init_statsmodels(endog, exog, groups, exog_re, exog_vc, use_sqrt, missing,
                               **kwargs)
        if weights is None and correlation is None:
            if structure_data is not None:
                raise ValueError("structure_data= is for the columns of weights= and "
                                 "correlation=; neither is given")
            return
        self._add_structures(weights, correlation, structure_data,
                             getattr(groups, "name", None) or "Group")

    def _add_structures(self, weights, correlation, structure_data, group_name):
        """The model frame of statsmodels' arrays (random effects and variance components
        as one blocked level, :func:`~lmmext.statsmodels_fit.random_design`) with the
        structures initialized on ``structure_data``."""
        Z, names, pd_mat = random_design(self)
        self._frame = frame_from_arrays(
            self.endog, self.exog, self.groups, Z, names, pd_mat, self.exog_names,
            self.endog_names, group_name, weights, correlation, structure_data)
        self.weights_struct = self._frame.varfunc
        self.correlation = self._frame.corstruct

    def _init_statsmodels(self, endog, exog, groups, exog_re, exog_vc, use_sqrt, missing,
                          **kwargs):
        for key in kwargs:
            if key not in ("missing_idx", "model_spec", "formula"):
                raise ValueError(f"argument {key} not permitted for MixedLM initialization")
        self.use_sqrt = use_sqrt
        self.reml = True
        self.fe_pen = None
        self.re_pen = None
        if exog_vc is not None:
            # statsmodels' own variance-component layout: its constructor as it is
            _sm.MixedLM.__init__(self, endog, exog, groups, exog_re=exog_re, exog_vc=exog_vc,
                                 use_sqrt=use_sqrt, missing=missing, **kwargs)
            return
        self.k_vc = 0
        self.exog_vc = _sm.VCSpec([], [], [])
        if isinstance(exog, np.ndarray) and exog.ndim == 1:
            exog = exog[:, None]
        if isinstance(exog_re, np.ndarray) and exog_re.ndim == 1:
            exog_re = exog_re[:, None]
        super(_sm.MixedLM, self).__init__(endog, exog, groups=groups, exog_re=exog_re,
                                          missing=missing, **kwargs)
        self._init_keys.extend(["use_sqrt", "exog_vc"])
        self.k_fe = exog.shape[1]
        if exog_re is None:
            self.k_re = self.k_re2 = 1
            self.exog_re = np.ones((len(endog), 1), dtype=np.float64)
            self.data.exog_re = self.exog_re
            names = ["Group Var"]
            self.data.param_names = self.exog_names + names
            self.data.exog_re_names = names
            self.data.exog_re_names_full = names
        else:
            self.data.exog_re = exog_re
            self.exog_re = np.asarray(exog_re)
            if self.exog_re.ndim == 1:
                self.exog_re = self.exog_re[:, None]
            self.k_re = self.exog_re.shape[1]
            self.k_re2 = self.k_re * (self.k_re + 1) // 2
        if not self.data._param_names:
            (self.data.param_names, self.data.exog_re_names,
             self.data.exog_re_names_full) = self._make_param_names(exog_re)
        self.k_params = self.k_fe + self.k_re2
        self.nobs = self.n_totobs = len(self.endog)
        if self.exog_names is None:
            self.exog_names = [f"FE{k + 1:d}" for k in range(self.exog.shape[1])]

    def _group_rows(self):
        """Row indices of every group, in the order of ``group_labels``."""
        codes = pd.Categorical(np.asarray(self.groups).tolist(),
                               categories=self.group_labels).codes
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(self.n_groups + 1))
        return [order[bounds[i]:bounds[i + 1]].tolist() for i in range(self.n_groups)]

    @classmethod
    def from_formula(cls, formula, data, re_formula=None, vc_formula=None, subset=None,
                     use_sparse=False, missing="none", *args, groups=None, weights=None,
                     correlation=None, eval_env=0, contrasts=None, **kwargs):
        """Create a model from a formula and a DataFrame.

        Without ``weights=`` and ``correlation=`` this is statsmodels' own
        ``MixedLM.from_formula``, argument for argument; with them the model gets nlme's
        structures.

        Parameters
        ----------
        formula : str
            Fixed effects, e.g. ``"distance ~ age"`` (patsy syntax).
        data : pandas.DataFrame or dask.dataframe.DataFrame
            A dask DataFrame gives a model holding names, not arrays, fitted on the
            current ``dask.distributed`` client (:doc:`/dask`); ``groups`` must then name
            a column.
        re_formula : str, optional
            Random effects of ``groups`` (default a random intercept), e.g. ``"~ age"``.
        vc_formula : dict, optional
            Variance components within the groups, as statsmodels (e.g. ``{"b": "0 +
            C(b)"}``: a random intercept for each level of ``b`` in a group; several
            components are independent of each other and of ``re_formula``'s effects).
        subset : array_like, optional
            Rows of ``data`` to use.
        use_sparse : bool
            statsmodels' sparse storage of the variance components.
        missing : {"none", "drop", "raise"}
            statsmodels' handling of missing values (default ``"none"``, as statsmodels).
            With a structure, ``"drop"`` drops and counts the rows with missing values in
            any variable the model uses (nlme's na.omit), and ``"none"`` and ``"raise"``
            refuse them.
        *args
            statsmodels' arguments.
        groups : str or array_like
            The grouping column's name, or one label per row.
        weights : VarFunc, optional
            A variance function, e.g. ``VarIdent(form="~ 1 | Sex")``.
        correlation : CorStruct, optional
            A correlation structure; without ``| g`` in its form it acts within ``groups``
            (or the innermost nested level).
        eval_env : int or patsy.EvalEnvironment
            Namespace for the formula's functions: the caller's frame by default.
        contrasts : dict, optional
            nlme's ``contrasts=`` for factors of the fixed effects, as in
            :func:`lmmext.lme` (``{"Variety": "contr.helmert"}``).  R's spellings in the
            formulas (``I(x^2)``, dotted column names) are translated with or without it.
        **kwargs
            statsmodels' keyword arguments.

        Returns
        -------
        MixedLM
        """
        if is_dask_dataframe(data):
            if vc_formula or subset is not None:
                raise NotImplementedError(
                    "MixedLM.from_formula on a dask DataFrame: "
                    + ("vc_formula= (variance components) cannot run distributed yet"
                       if vc_formula else "subset=: select the rows of the DataFrame first"))
            from .cluster.door import distributed_mixedlm
            return distributed_mixedlm(cls, formula, data, groups, re_formula, weights,
                                       correlation, "drop" if missing == "drop" else "raise",
                                       contrasts)
        if groups is None:
            raise ValueError("MixedLM.from_formula needs groups= (the grouping column name, "
                             "or one group label per row)")
        env = eval_environment(eval_env)
        if weights is None and correlation is None:
            # statsmodels takes the caller's namespace as a dict (a frame depth would
            # count this method's frame, an EvalEnvironment is deprecated there)
            namespace = {}
            for ns in reversed(env._namespaces):
                namespace.update(ns)
            # R's spellings (lmmext.rformula), as build_frame translates them
            formula, extra = r_formula(formula, data.columns, contrasts)
            namespace.update(extra)
            if re_formula is not None:
                re_formula = r_formula(re_formula, data.columns, what="re_formula")[0]
            if vc_formula:
                vc_formula = {k: r_formula(v, data.columns, what="vc_formula")[0]
                              for k, v in vc_formula.items()}
            return super().from_formula(formula, data, re_formula, vc_formula, subset,
                                        use_sparse, missing, *args, groups=groups,
                                        eval_env=namespace, **kwargs)
        if not isinstance(groups, str):
            # one label per row, as statsmodels: a column the structures can name too
            values = np.asarray(groups)
            if values.shape != (len(data),):
                raise ValueError(f"groups= must name a column of data or have one label per "
                                 f"row ({len(data)}), got shape {values.shape}")
            name = getattr(groups, "name", None)
            name = name if isinstance(name, str) and name not in data.columns else "Group"
            if name in data.columns:
                raise ValueError("data has a column 'Group'; pass groups= as a column name")
            data, groups = data.assign(**{name: values}), name
        if subset is not None:
            data = data.loc[subset]
        if vc_formula:
            # statsmodels' model (its variance components, groups and missing values) with
            # the structures on the rows it keeps
            columns = sorted({c for obj in (weights, correlation) if obj is not None
                              for c in frame_columns(obj, data)} | {groups})
            if missing == "drop":
                data = data.loc[data[columns].notna().all(axis=1)]
            model = cls.from_formula(formula, data, re_formula, vc_formula, None, use_sparse,
                                     missing, *args, groups=groups, eval_env=env,
                                     contrasts=contrasts, **kwargs)
            kept = data.loc[model.data.row_labels] if model.data.row_labels is not None \
                else data
            model._add_structures(weights, correlation, kept[columns].reset_index(drop=True),
                                  groups)
            return model
        levels = [RandomLevel(groups, formula_rhs(re_formula) if re_formula else "1")]
        frame = build_frame(formula, data, levels, weights, correlation,
                            "drop" if missing == "drop" else "raise", env, contrasts=contrasts)
        return cls._from_frame(frame)

    @classmethod
    def _from_frame(cls, frame):
        # statsmodels' attributes in the caller's row order (the frame's engine order
        # stays internal), so that model.endog - fittedvalues - resid is zero row by row
        outer, caller = frame.levels[0], frame.to_caller_order
        exog = pd.DataFrame(caller(frame.X), columns=frame.exog_names, index=frame.index,
                            copy=False)
        re_names = statsmodels_re_names(outer)
        # (a sparse design of crossed effects stays in the frame: statsmodels' dense
        # exog_re would be N x q)
        exog_re = (None if sp.issparse(outer.Z) else
                   pd.DataFrame(caller(outer.Z), columns=re_names, index=frame.index,
                                copy=False))
        # the groups' values as statsmodels' from_formula holds them
        # (np.asarray(data[groups])), taken from each group's first row: one value per
        # group converted, not one per row
        per_group = (np.asarray(frame.data[outer.name].iloc[outer.first_row])
                     if outer.name in frame.data else np.asarray(outer.labels, dtype=object))
        groups = caller(per_group[outer.codes])
        endog = pd.Series(caller(frame.y), index=frame.index, name=frame.y_name, copy=False)
        model = cls(endog, exog, groups, exog_re=exog_re)
        model._frame = frame
        model.formula = frame.formula
        model.weights_struct = frame.varfunc
        model.correlation = frame.corstruct
        return model

    def fit(self, start_params=None, reml=True, niter_sa=0, do_cg=True, fe_pen=None,
            cov_pen=None, free=None, full_output=False, method=None, **fit_kwargs):
        """Fit by REML (default) or ML.

        Without a variance function or correlation structure this is statsmodels' fit,
        argument for argument, and returns statsmodels' results; lmmext's engine finds
        the optimum first and statsmodels' optimizer starts there (it then only confirms
        convergence) unless ``start_params``, ``fe_pen``, ``cov_pen``, ``do_cg=False`` or
        a ``free`` pattern the engine cannot hold (other than independent or general
        random effects) is given.  With a structure, lmmext's engine fits nlme's model
        and the results keep statsmodels' conventions under the structures
        (:class:`~lmmext.results.statsmodels_door.StructuredMixedLMResults`, with nlme's
        conventions of the same fit as ``res.nlme``).

        Parameters
        ----------
        start_params : array_like or MixedLMParams, optional
            statsmodels' starting values.  With a structure: the variance parameters on
            the optimizer's unconstrained scale, or a previous fit of the same model.
        reml : bool
            True for REML, False for maximum likelihood.
        niter_sa, do_cg, fe_pen, cov_pen, free, full_output, method, **fit_kwargs
            statsmodels' options (see ``statsmodels.regression.mixed_linear_model.MixedLM
            .fit``); with a structure only ``reml`` and ``start_params`` apply, the others
            raise ``NotImplementedError``.

        Returns
        -------
        MixedLMResults
        """
        if not hasattr(self, "_frame"):
            if (start_params is None and do_cg and fe_pen is None and cov_pen is None):
                start_params = engine_optimum(self, reml=reml, free=free)
            return super().fit(start_params=start_params, reml=reml, niter_sa=niter_sa,
                               do_cg=do_cg, fe_pen=fe_pen, cov_pen=cov_pen, free=free,
                               full_output=full_output, method=method, **fit_kwargs)
        given = [name for name, used in (
            ("niter_sa", niter_sa != 0), ("do_cg", not do_cg), ("fe_pen", fe_pen is not None),
            ("cov_pen", cov_pen is not None), ("free", free is not None),
            ("full_output", bool(full_output)), ("method", method is not None)) if used]
        given += sorted(fit_kwargs)
        if given:
            raise NotImplementedError(
                f"MixedLM.fit: {', '.join(given)} apply to statsmodels' optimizer, which "
                "does not fit models with a variance function or correlation structure; "
                "lmmext's optimizer needs no options (pass reml= and start_params= only)")
        self.reml = bool(reml)
        state = fit_frame(self._frame, reml=self.reml, start=_start_vector(start_params))
        return self._door_results(state, LMEResults(self, state))

    def _door_results(self, state, nlme):
        """statsmodels' results of a structured fit (nlme's conventions as ``nlme``),
        with statsmodels' parameter names."""
        res = self._door_results_class()(self, state, nlme)
        # statsmodels' names of the fixed effects and cov_re (a random intercept named
        # after the grouping column), then the variance components and structures
        layout = res._layout
        k = layout.k_fe + layout.k_re2
        names = list(self.data.param_names[:k]) + list(layout.names[k:])
        self.data.param_names = names
        self.data.exog_re_names_full = names[layout.k_fe:k + layout.k_vc]
        return _sm.MixedLMResultsWrapper(res)

    @staticmethod
    def _door_results_class():
        return StructuredMixedLMResults

    def _fit_nlme(self, reml, start):
        """nlme's fit of the model frame (lme() and the structured statsmodels door)."""
        self.reml = bool(reml)
        state = fit_frame(self._frame, reml=self.reml, start=_start_vector(start))
        return LMEResults(self, state)


class GLS(LikelihoodModel):
    """Generalized least squares with nlme's variance functions and correlation structures.

    statsmodels' door of :func:`lmmext.gls`: build it with :meth:`from_formula`;
    :meth:`fit` returns statsmodels-style results
    (:class:`~lmmext.results.statsmodels_door.StructuredGLSResults`: ``t_test``,
    ``f_test``, ``wald_test``, ``conf_int``, ``summary()`` tables), with nlme's
    conventions of the same fit as ``res.nlme``.  ``endog`` and ``exog`` are in the
    data's row order.

    Parameters
    ----------
    frame : ModelFrame
        The model frame (built by :meth:`from_formula`).
    """

    def __init__(self, frame):
        caller = frame.to_caller_order
        super().__init__(pd.Series(caller(frame.y), index=frame.index, name=frame.y_name),
                         pd.DataFrame(caller(frame.X), index=frame.index,
                                      columns=frame.exog_names))
        self._frame = frame
        self.formula = frame.formula
        self.weights_struct = frame.varfunc
        self.correlation = frame.corstruct
        self.nobs = frame.N
        self.df_model, self.df_resid = frame.X.shape[1] - 1, frame.N - frame.X.shape[1]
        self._fitted = None

    @classmethod
    def from_formula(cls, formula, data, weights=None, correlation=None, missing="drop",
                     subset=None, eval_env=0, contrasts=None):
        """Create a GLS model from a formula and a DataFrame.

        Parameters
        ----------
        formula : str
            The model, e.g. ``"y ~ x"`` (patsy syntax).
        data : pandas.DataFrame
            (For a dask DataFrame use :func:`lmmext.gls`.)
        weights : VarFunc, optional
            A variance function.
        correlation : CorStruct, optional
            A correlation structure; without ``| g`` in its form the whole data set is one
            group.
        missing : {"drop", "raise"}
            Drop (and count) or refuse rows with missing values.
        subset : array_like, optional
            Rows of ``data`` to use.
        eval_env : int or patsy.EvalEnvironment
            Namespace for the formula's functions: the caller's frame by default.
        contrasts : dict, optional
            Codings of factors, as :func:`lmmext.gls`'s ``contrasts=``.

        Returns
        -------
        GLS
        """
        _refuse_dask(data, "GLS.from_formula", "lmmext.gls(formula, data=ddf)")
        if subset is not None:
            data = data.loc[subset]
        frame = build_frame(formula, data, [], weights, correlation, missing,
                            eval_environment(eval_env), kind="gls", contrasts=contrasts)
        return cls(frame)

    def fit(self, reml=True, start=None):
        """Fit by REML (default) or ML.

        Parameters
        ----------
        reml : bool
            True for REML, False for maximum likelihood.
        start : array_like or results, optional
            Starting parameters (unconstrained scale) or a previous fit.

        Returns
        -------
        StructuredGLSResults
        """
        state = fit_frame(self._frame, reml=bool(reml), start=_start_vector(start))
        self._fitted = state
        res = StructuredGLSResults(self, state, GLSResults(self, state))
        return LikelihoodResultsWrapper(res)

    def _fit_nlme(self, reml, start):
        """nlme's fit and results (gls())."""
        return GLSResults(self, fit_frame(self._frame, reml=bool(reml),
                                          start=_start_vector(start)))

    def loglike(self, params):
        """The fitted (RE)ML criterion with the coefficients held at ``params`` (``sigma^2``
        profiled out), under the variance function and correlation structure estimated
        by the last :meth:`fit`."""
        if self._fitted is None:
            raise ValueError("GLS.loglike needs the estimated structures: call fit() first")
        return self._fitted.engine.loglik_at_beta(self._fitted.theta, params)

    def score(self, params):
        """Central-difference gradient of :meth:`loglike`."""
        return central_differences(self.loglike, np.asarray(params, dtype=float), 1e-6)

    def hessian(self, params):
        """Central-difference Hessian of :meth:`loglike`."""
        return numerical_hessian(self.loglike, np.asarray(params, dtype=float), 1e-4)

    def information(self, params):
        """Not available: the results' ``cov_params()`` is the inverse observed
        information of the coefficients."""
        raise NotImplementedError("GLS.information: the Fisher information is not available "
                                  "for a model with nlme's structures; use the results' "
                                  "cov_params()")

    def predict(self, params, exog=None):
        """``exog @ params`` (default the model's ``exog``)."""
        exog = self.exog if exog is None else exog
        return np.asarray(exog, dtype=float) @ np.asarray(params, dtype=float)


def _refuse_dask(data, door, use):
    """statsmodels' door holds the data's arrays (``model.endog``, ``model.exog``): a dask
    DataFrame is fitted by nlme's door instead."""
    if is_dask_dataframe(data):
        raise NotImplementedError(
            f"{door} holds the data's arrays (statsmodels' model.endog, model.exog) and "
            f"cannot take a dask DataFrame; fit it distributed with {use}, whose results "
            "are the same LMEResults/GLSResults classes")


def lme(fixed, data=None, random=None, weights=None, correlation=None, method="REML",
        missing="drop", start=None, eval_env=0, subset=None, contrasts=None):
    """Fit a linear mixed-effects model the way nlme's ``lme`` does.

    Parameters
    ----------
    fixed : str or LMList
        Fixed-effects formula, e.g. ``"distance ~ Sex * I(age - 11)"``; evaluated with
        patsy in the caller's namespace (``np.log(x)`` works).  Or an
        :class:`~lmmext.lmlist.LMList`, as nlme's ``lme(lmList)``: its formula without
        the grouping, its data, ``random`` by default ``"~ <same rhs>"`` per its group,
        started at ``lis.lme_start()`` (nlme's ``lme.lmList``).
    data : pandas.DataFrame or dask.dataframe.DataFrame
        A dask DataFrame is fitted on the current ``dask.distributed`` client, its
        rows staying on the workers (:doc:`/dask`).
    random : str or dict
        ``"~ 1 | g"``, ``"~ x | g"``, ``"~ 1 | a/b"`` (nested), ``"pdDiag(~ x | g)"``,
        or a dict ``{"Dog": "~ day", "Side": "~ 1"}`` (outer level first) whose values
        may be ``"pdDiag(~ x)"`` (uncorrelated random effects) or ``"pdIdent(~ x)"``
        (equal variances, uncorrelated).
    weights : VarFunc, optional
        A variance function (:class:`VarIdent`, :class:`VarPower`, ...).
    correlation : CorStruct, optional
        A within-group correlation structure; without ``| g`` in its form it acts
        within the innermost grouping level.
    method : {"REML", "ML"}
        Restricted maximum likelihood (default) or maximum likelihood.
    missing : {"drop", "raise"}
        Rows with missing values in the columns the model uses are dropped (their count
        is reported as ``n_dropped``), as nlme's ``na.omit``, or raise ``ValueError``.
    start : array_like or LMEResults, optional
        Starting variance parameters (unconstrained scale) or a previous fit.
    eval_env : int or patsy.EvalEnvironment
        Namespace for the formula's functions: the caller's frame by default.
    subset : str or array_like of bool, optional
        nlme's ``subset=``: the rows of ``data`` to use, a boolean array or Series (one
        value per row) or a condition evaluated on ``data`` (R's ``subset = Sex ==
        "Female"`` is ``subset='Sex == "Female"'``; ``@name`` refers to a variable).
    contrasts : dict, optional
        nlme's ``contrasts=``: ``{column: coding}`` for factors of the fixed effects, R's
        names (``"contr.treatment"``, ``"contr.sum"``, ``"contr.helmert"``,
        ``"contr.poly"``, ``"contr.SAS"``), patsy's (``"Treatment"``, ``"Sum"``,
        ``"Helmert"``, ``"Poly"``) or a patsy contrast object.  The coefficients are R's
        numbers with patsy's names (``C(Variety, Helmert)[H.Marvellous]``).

    Returns
    -------
    LMEResults

    See Also
    --------
    gls : the model without random effects.
    MixedLM.from_formula : the statsmodels-style interface.
    """
    if hasattr(fixed, "_lme"):               # nlme's lme(lmList): lme.lmList
        return fixed._lme(data=data, random=random, weights=weights, correlation=correlation,
                          method=method, missing=missing, start=start,
                          eval_env=eval_environment(eval_env), subset=subset,
                          contrasts=contrasts)
    reml = _method_to_reml(method)
    levels = parse_random(random)
    if not levels:
        raise ValueError("random= is required for lme(); use gls() for a model without "
                         "random effects")
    if is_dask_dataframe(data):
        from .cluster import fit_dask
        return fit_dask("lme", fixed, data, levels, weights, correlation, reml, missing,
                        _start_vector(start), contrasts, subset)
    frame = build_frame(fixed, data, levels, weights, correlation, missing,
                        eval_environment(eval_env), contrasts=contrasts, subset=subset)
    return MixedLM._from_frame(frame)._fit_nlme(reml, start)


def gls(model, data, weights=None, correlation=None, method="REML", missing="drop",
        start=None, eval_env=0, subset=None, contrasts=None):
    """Fit a linear model by generalized least squares the way nlme's ``gls`` does.

    Parameters
    ----------
    model : str
        The model formula, e.g. ``"y ~ x"`` (patsy, evaluated in the caller's namespace).
    data : pandas.DataFrame or dask.dataframe.DataFrame
        A dask DataFrame is fitted on the current ``dask.distributed`` client, its
        rows staying on the workers (:doc:`/dask`).
    weights : VarFunc, optional
        A variance function.
    correlation : CorStruct, optional
        A correlation structure; give its groups in ``form`` (``"~ 1 | g"``), else the
        whole data set is one group.
    method : {"REML", "ML"}
        Restricted maximum likelihood (default) or maximum likelihood.
    missing : {"drop", "raise"}
        Drop (and count) or refuse rows with missing values.
    start : array_like or GLSResults, optional
        Starting parameters (unconstrained scale) or a previous fit.
    eval_env : int or patsy.EvalEnvironment
        Namespace for the formula's functions: the caller's frame by default.
    subset : str or array_like of bool, optional
        nlme's ``subset=``: the rows of ``data`` to use, a boolean array or Series (one
        value per row) or a condition evaluated on ``data`` (R's ``subset = Sex ==
        "Female"`` is ``subset='Sex == "Female"'``; ``@name`` refers to a variable).
    contrasts : dict, optional
        nlme's ``contrasts=``: ``{column: coding}`` for factors of the fixed effects, R's
        names (``"contr.treatment"``, ``"contr.sum"``, ``"contr.helmert"``,
        ``"contr.poly"``, ``"contr.SAS"``), patsy's (``"Treatment"``, ``"Sum"``,
        ``"Helmert"``, ``"Poly"``) or a patsy contrast object.  The coefficients are R's
        numbers with patsy's names (``C(Variety, Helmert)[H.Marvellous]``).  nlme's
        ``gls`` has no ``contrasts=``; R sets ``contrasts(d$f) <- "contr.sum"`` on the
        data instead.

    Returns
    -------
    GLSResults

    See Also
    --------
    lme : the model with random effects.
    """
    reml = _method_to_reml(method)
    if is_dask_dataframe(data):
        from .cluster import fit_dask
        return fit_dask("gls", model, data, [], weights, correlation, reml, missing,
                        _start_vector(start), contrasts, subset)
    frame = build_frame(model, data, [], weights, correlation, missing,
                        eval_environment(eval_env), kind="gls", contrasts=contrasts,
                        subset=subset)
    return GLS(frame)._fit_nlme(reml, start)
