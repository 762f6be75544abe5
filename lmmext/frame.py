"""Model frames: from a formula, data and nlme-style structure arguments to the
arrays the likelihood engine works on.

nlme sorts the data by the grouping factors (outer to inner, by factor level order)
before it does anything else; the engine needs that order so every group is a
contiguous block of rows.  The frame remembers the permutation, so fitted values and
residuals are returned in the caller's row order.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
import scipy.sparse as sparse_matrix

from .engine.levels import Level
from .engine.sparse_group import SPARSE_MIN_Q
from .structures.random_effects import PdBlocked, PdIdent, PdRepeated, pd_class_named
from .formula import RandomLevel
from .rformula import r_formula, structure_namespace
from .design_matrices import build_matrix, design_info, design_matrices
from .engine.linalg import aliased_columns
from .inference.containment import containment_df
from .inference.emmeans import DataSummary
from .structures.form import group_codes, group_labels, level_sort_key

__all__ = ["ModelFrame", "build_frame", "is_dask_dataframe", "model_columns", "frame_from_arrays", "frame_columns", "random_design",
           "NotIdentifiedWarning"]

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


@dataclass
class ModelFrame:
    """Arrays and structures of one model, rows in engine (sorted) order."""

    formula: str
    data: pd.DataFrame               # sorted model frame (all used columns)
    order: np.ndarray                # original positions (within the kept rows) of sorted rows
    index: pd.Index                  # original index labels of the kept rows, caller order
    n_dropped: int
    y: np.ndarray
    y_name: str
    X: np.ndarray
    exog_names: list
    design_info: object
    levels: list                     # list of Level, outermost first
    random_specs: list               # list of RandomLevel
    varfunc: object = None
    corstruct: object = None
    eval_env: object = None
    kind: str = "lme"
    notes: list = field(default_factory=list)
    # the caller's data (after subset=) and the positions of the kept rows in it, caller
    # order: nlme keeps the data of a fit; ACF/Variogram forms may name other columns
    source: pd.DataFrame = None
    source_rows: np.ndarray = None

    @property
    def N(self):
        return len(self.y)

    # patsy's design information and evaluation environment do not pickle: drop them
    # and rebuild the design information from the stored model frame when needed
    def __getstate__(self):
        state = self.__dict__.copy()
        state["design_info"] = None
        state["eval_env"] = None
        # the random-effects blocks hold patsy's design information too
        state["random_specs"] = [copy.copy(spec) for spec in self.random_specs]
        for spec in state["random_specs"]:
            spec.columns = None
        return state

    def random_design(self, k, data):
        """``(Z, z_names)`` of random-effects level ``k`` on new ``data`` (the fit's
        design information; see :func:`random_design`)."""
        spec = self.random_specs[k]
        if not spec.columns:
            spec.columns = _level_blocks(spec, self.data, patsy.EvalEnvironment([{"np": np}]))
        Z, names, _ = random_design(spec, data)
        return Z, names

    def get_design_info(self):
        if self.formula is None:
            raise ValueError("this model was built from arrays, not a formula: it has no "
                             "terms or design to evaluate on new data (pass design "
                             "matrices, or build the model with from_formula)")
        if self.design_info is None:
            env = patsy.EvalEnvironment([{"np": np}])
            try:
                _, X = patsy.dmatrices(self.formula, self.data, eval_env=env,
                                       NA_action="raise", return_type="dataframe")
            except patsy.PatsyError as exc:
                raise ValueError("this unpickled model's formula uses functions from the "
                                 "namespace it was fitted in; they are not available now "
                                 f"({str(exc).splitlines()[0]})") from None
            self.design_info = X.design_info
        return self.design_info

    #: whether the rows are in memory (not for a fit to a dask DataFrame)
    has_rows = True

    def data_summary(self):
        """The model's rows as a reference grid needs them
        (:class:`lmmext.inference.emmeans.DataSummary`)."""
        return DataSummary(self.data)

    def response_moments(self):
        """``(sum y, sum y^2)``: what compares the responses of fits whose rows are not
        all in memory."""
        return float(self.y.sum()), float((self.y ** 2).sum())

    def containment_df(self):
        """nlme's containment degrees of freedom: ``(per coefficient, per term)``
        (:func:`lmmext.inference.containment.containment_df`)."""
        return containment_df(self.X, self.levels, self.terms())

    def structures_text(self):
        """The model's variance function, correlation structure and nested levels in
        words, for messages of members that cannot honour them."""
        parts = [f"a {type(s).__name__} {kind}" for s, kind in
                 ((self.varfunc, "variance function"),
                  (self.corstruct, "correlation structure")) if s is not None]
        if len(self.levels) > 1:
            parts.append(f"{len(self.levels)} nested grouping levels")
        return " and ".join(parts)

    def terms(self):
        """The fixed-effects terms as (name, column indices): patsy's terms, or one
        term per column for a model built from arrays."""
        if self.formula is None:
            return [(name, [j]) for j, name in enumerate(self.exog_names)]
        di = self.get_design_info()
        return [(name, list(range(sl.start, sl.stop)))
                for name, sl in di.term_name_slices.items()]

    @functools.cached_property
    def _caller_rows(self):
        """The inverse of ``order``: each caller-order row's engine position."""
        inverse = np.empty(len(self.order), dtype=np.intp)
        inverse[self.order] = np.arange(len(self.order))
        return inverse

    def to_caller_order(self, values):
        """Engine-order array -> caller-order array (a gather by the inverse permutation:
        several times faster than scattering rows by ``order``)."""
        values = np.asarray(values)
        if values.ndim == 2 and not values.flags.c_contiguous and values.flags.f_contiguous:
            # a column-major matrix (the design's) stays column-major, and its gather
            # runs along columns
            return np.take(values.T, self._caller_rows, axis=1).T
        return np.take(values, self._caller_rows, axis=0)


def model_columns(formula, columns, random=(), weights=None, correlation=None):
    """The columns (of ``columns``, in their order) that a model's formula, random
    effects and structures name."""
    group_names = [g for lv in random for g in lv.grouping]
    texts = ([formula] + [lv.formula for lv in random] + group_names
             + [f for lv in random for t in (lv.terms or []) for f in t.factors])
    for obj in (weights, correlation):
        if obj is not None:
            texts += _struct_texts(obj)
    cols = set()
    for t in texts:
        if t:
            cols.update(tok for tok in _TOKEN.findall(t) if tok in columns)
    return [c for c in columns if c in cols]


def _check_names(names, data, what):
    for n in names:
        if n not in data.columns:
            raise KeyError(f"{what}: unknown column {n!r}")


def _design(formula_rhs, data, env, what):
    formula_rhs, _ = r_formula(formula_rhs, data.columns, what=what)   # R's spellings
    try:
        return design_info(formula_rhs, data, env)
    except patsy.PatsyError as exc:
        raise _patsy_error(exc, what) from None


def _patsy_error(exc, what):
    msg = str(exc).splitlines()[0]
    m = re.search(r"name '([^']+)' is not defined", str(exc))
    if m:
        return KeyError(f"{what}: unknown column or name {m.group(1)!r}")
    return ValueError(f"{what}: {msg}")


def build_frame(formula, data, random=(), weights=None, correlation=None,
                missing="drop", eval_env=None, kind="lme", contrasts=None, subset=None,
                partition=False):
    """Build the :class:`ModelFrame` of an lme (``random`` non-empty) or gls model.

    Every formula passes through :func:`lmmext.rformula.r_formula` (R's ``I(x^2)``,
    dotted and keyword column names, ``contrasts=`` of the fixed effects); ``subset=``
    (see :func:`apply_subset`) selects the rows first.  With ``partition`` the data are
    one partition of the model's data (:mod:`lmmext.cluster`): the checks that need all
    of it (rank of the design, number of groups) are the caller's.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a string like 'y ~ x', got {formula!r}")
    if missing not in ("drop", "raise"):
        raise ValueError(f"missing= must be 'drop' or 'raise', got {missing!r}")
    random = list(random)
    env = eval_env if eval_env is not None else patsy.EvalEnvironment.capture(1)
    data = apply_subset(data, subset, env)
    _check_structures(weights, correlation)
    group_names = [g for lv in random for g in lv.grouping]
    _check_names(group_names, data, "random=")
    _check_names([f for lv in random for t in (lv.terms or []) for f in t.factors], data,
                 "random=")
    used = model_columns(formula, data.columns, random, weights, correlation)
    cor_groups = list(correlation.form.grouping) if correlation is not None else []
    vf_groups = [g for obj in _parts(weights) for g in obj.form.grouping]
    _check_names(cor_groups, data, "correlation form")
    _check_names(vf_groups, data, "weights form")
    frame = data.loc[:, used].copy() if used else pd.DataFrame(index=data.index)
    frame, na = drop_missing(frame, used, missing)
    n_dropped = int(na.sum())
    index = frame.index
    source_rows = np.flatnonzero(~na)
    frame = frame.reset_index(drop=True)

    # nlme's row order: by the random grouping (outer to inner), then by the
    # correlation grouping when it is deeper; gls sorts only with a grouped corStruct
    cor_block_names = _cor_block_names(cor_groups, correlation, group_names, kind)
    order = _engine_order(frame, group_names, cor_block_names)
    sframe = frame.iloc[order].reset_index(drop=True)

    formula, namespace = r_formula(formula, data.columns, contrasts)
    env = env.with_outer_namespace({**structure_namespace(), **namespace})
    try:
        y, y_name, X, names, design_info = design_matrices(formula, sframe, env)
    except patsy.PatsyError as exc:
        raise _patsy_error(exc, "formula") from None
    if y is None:
        raise ValueError(f"the response of {formula!r} must be numeric; it expands to "
                         "several columns (a string or categorical outcome?)")
    if X.shape[1] == 0:
        raise ValueError("the fixed-effects formula has no columns")
    if not partition:
        aliased = aliased_columns(X, names)
        if aliased:
            raise ValueError(f"the fixed-effects design is rank deficient: column(s) {aliased} "
                             "are linear combinations of the others (aliased)")
        if X.shape[0] <= X.shape[1]:
            raise ValueError(f"{X.shape[0]} observations are too few for {X.shape[1]} "
                             "fixed effects")

    for spec in random:          # R's spellings, kept for predict(newdata, level=)
        spec.formula = r_formula(spec.formula, sframe.columns, what="random=")[0]
    levels = [_build_level(k, spec, random, sframe, env, sparse_ok=correlation is None
                           and not partition, single_ok=partition)
              for k, spec in enumerate(random)]

    mf = ModelFrame(formula, sframe, order, index, n_dropped, y, y_name,
                    X, names, design_info, levels, random, eval_env=env, kind=kind,
                    source=data, source_rows=source_rows)
    _attach_structures(mf, weights, correlation, cor_block_names, env)
    return mf


def is_dask_dataframe(data):
    """Whether ``data`` is a dask DataFrame (checked without importing dask): fits to it
    run distributed (:mod:`lmmext.cluster`)."""
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "npartitions")


def drop_missing(frame, used, missing, what=""):
    """``(rows without missing values in the columns used, mask of the dropped ones)``;
    with ``missing="raise"`` missing values are an error naming the columns."""
    na = frame.isna().any(axis=1).to_numpy() if used else np.zeros(len(frame), bool)
    n_dropped = int(na.sum())
    if n_dropped:
        if missing == "raise":
            bad = [c for c in used if frame[c].isna().any()]
            raise ValueError(f"{what}missing values in column(s) {bad} ({n_dropped} rows); "
                             "use missing='drop' to drop them")
        frame = frame.loc[~na]
    if len(frame) == 0:
        raise ValueError(f"{what}no rows left after dropping missing values")
    return frame, na


def apply_subset(data, subset, eval_env=None):
    """The rows of ``data`` that nlme's ``subset=`` selects.

    ``subset`` is ``None`` (all rows), a boolean array or Series with one value per row
    (a Series must have ``data``'s index), or a string evaluated by
    :meth:`pandas.DataFrame.eval` on ``data`` (R's ``subset = Sex == "Female"`` is
    ``subset='Sex == "Female"'``; ``@name`` refers to a variable of the caller).
    """
    if subset is None:
        return data
    accepted = ("subset= must be a boolean array or Series with one value per row of data "
                f"({len(data)}), or a string such as 'Sex == \"Female\"' evaluated on data")
    if isinstance(subset, str):
        local = {}
        if isinstance(eval_env, patsy.EvalEnvironment):
            for ns in reversed(eval_env._namespaces):
                local.update(ns)
        try:
            mask = data.eval(subset, local_dict=local)
        except Exception as exc:
            raise ValueError(f"subset={subset!r} cannot be evaluated on data: {exc}") from None
        mask = pd.Series(mask, index=data.index) if np.ndim(mask) else mask
        what = f"subset={subset!r}"
    else:
        mask, what = subset, "subset="
        if isinstance(mask, pd.Series):
            if not mask.index.equals(data.index):
                raise ValueError(f"{what} is a Series whose index differs from data's; "
                                 + accepted)
    arr = np.asarray(mask)
    if arr.dtype != bool or arr.shape != (len(data),):
        got = (f"dtype {arr.dtype}, shape {arr.shape}" if arr.ndim else
               f"{type(mask).__name__} {mask!r}")
        raise ValueError(f"{what} gives {got}; " + accepted)
    if not arr.any():
        raise ValueError(f"{what} selects no rows")
    return data.loc[arr]


def _build_level(k, spec, random, sframe, env, sparse_ok=False, single_ok=False):
    """The engine's :class:`Level` of ``random[k]``: its groups, design and covariance
    class (see :func:`random_design`)."""
    outer = [g for lv in random[:k + 1] for g in lv.grouping]
    if outer:
        codes, uniques = group_codes(sframe, outer, "random=")
    else:                                    # crossed effects without a common factor
        codes, uniques = np.zeros(len(sframe), dtype=np.int64), np.array(["(all)"])
    single_ok = single_ok or spec.terms is not None or spec.pd_class == "pdBlocked"
    if k == 0 and len(uniques) < 2 and not single_ok:
        raise ValueError(f"grouping factor {spec.name!r} has only one level; "
                         "a random effect needs at least two groups")
    spec.columns = _level_blocks(spec, sframe, env)
    Z, names, pd_mat = random_design(spec, sframe, sparse=sparse_ok and len(uniques) == 1)
    if Z.shape[1] == 0:
        raise ValueError(f"random effects for {spec.name!r} have no columns")
    return Level(spec.name, codes, [str(u) for u in uniques], Z, names, pd=pd_mat)


@dataclass
class _Block:
    """One block of a level's design: patsy's design of its formula, and for a term of
    crossed effects the factors it is repeated over and their levels."""

    pd_class: str
    design_info: object
    label: str
    within: tuple = ()
    within_levels: list = None


def _level_blocks(spec, sframe, env):
    what = f"random formula for {spec.name!r}"
    if spec.terms is not None:
        blocks = []
        for t in spec.terms:
            di = _design(t.rhs, sframe, env, what)
            lv = None
            if t.within:                    # the term's levels in nlme's level order
                labels = np.asarray(group_labels(sframe, list(t.within)))
                lv = list(pd.unique(labels[_engine_order(sframe, list(t.within), [])]))
            blocks.append(_Block("pdDiag" if t.diag else "pdSymm", di, t.text, t.within, lv))
        return blocks
    parts = spec.pd_spec.blocks if spec.pd_class == "pdBlocked" else [spec.pd_spec or spec]
    return [_Block(b.pd_class, _design(b.formula, sframe, env, what),
                   f"~ {b.formula}") for b in parts]


# the largest dense random-effects design built (values; 8 bytes each)
_DENSE_DESIGN_LIMIT = 2e8


def random_design(spec, data, sparse=False):
    """``(Z, z_names, covariance class)`` of a random-effects level on ``data`` (the
    model frame, or new data with the same columns): each block's formula evaluated
    with the design information of the fit; a crossed term's block repeated over the
    levels of its factors (columns level by level, zero outside the level; rows of a
    level the fit did not see get zeros).  With ``sparse``, a design with more than
    :data:`~lmmext.engine.sparse_group.SPARSE_MIN_Q` columns is a ``scipy.sparse``
    matrix (crossed effects of one group)."""
    Zs, names, pds = [], [], []
    for b in spec.columns:
        Zb = build_matrix(b.design_info, data)
        if Zb is None:
            (Zb,) = patsy.build_design_matrices([b.design_info], data, NA_action="raise")
        cols = list(b.design_info.column_names)
        Zb = np.asarray(Zb, dtype=float)
        if b.within_levels is None:
            pd_mat = pd_class_named(b.pd_class, Zb.shape[1])
        else:
            m, kq = len(b.within_levels), Zb.shape[1]
            pos = pd.Index(b.within_levels).get_indexer(
                group_labels(data, list(b.within), "random="))
            rows = np.flatnonzero(pos >= 0)
            Zb = sparse_matrix.csr_matrix(
                (Zb[rows].ravel(), (np.repeat(rows, kq),
                                    (pos[rows][:, None] * kq + np.arange(kq)).ravel())),
                shape=(len(Zb), m * kq))
            inner = pd_class_named(b.pd_class, kq)
            pd_mat = PdIdent(m) if kq == 1 else PdRepeated(inner, m)
            if kq > 1:
                inner.label = b.label
            f = ":".join(b.within)
            cols = ([f"{f}[{lab}]" for lab in b.within_levels] if kq == 1 else
                    [f"{f}[{lab}]:{c}" for lab in b.within_levels for c in cols])
        pd_mat.label = b.label
        Zs.append(Zb)
        names += cols
        pds.append(pd_mat)
    pd_mat = pds[0] if len(pds) == 1 and spec.pd_class != "pdBlocked" else PdBlocked(pds)
    if not sparse and not any(sparse_matrix.issparse(z) for z in Zs):
        # (a detour through sparse blocks costs more than the design of 7k rows)
        return (Zs[0] if len(Zs) == 1 else np.hstack(Zs)), names, pd_mat
    Z = sparse_matrix.hstack([sparse_matrix.csr_matrix(z) for z in Zs], format="csr")
    if sparse and Z.shape[1] > SPARSE_MIN_Q:
        return Z, names, pd_mat
    if Z.shape[0] * Z.shape[1] > _DENSE_DESIGN_LIMIT:
        raise ValueError(
            f"random effects {spec.name!r}: a dense design of {Z.shape[0]} rows x "
            f"{Z.shape[1]} random effects is too large ({_DENSE_DESIGN_LIMIT:.0e} values at "
            "most); crossed effects are held sparse only without a correlation structure "
            "(drop correlation=, or group the crossed effects within a common factor)")
    return Z.toarray(), names, pd_mat


def _engine_order(data, group_names, cor_block_names):
    """nlme's row order: by the random grouping (outer to inner), then by the correlation
    grouping where it is deeper, each by level order; stable, so the data's order stays
    within groups.  Without any grouping, the data's order."""
    sort_cols = list(group_names) + [g for g in cor_block_names if g not in group_names]
    if not sort_cols:
        return np.arange(len(data))
    return np.lexsort([level_sort_key(data[c]) for c in reversed(sort_cols)])


def _check_structures(weights, correlation):
    for name, obj, base in (("weights", weights, "VarFunc"), ("correlation", correlation, "CorStruct")):
        if obj is not None and base not in [c.__name__ for c in type(obj).__mro__]:
            raise TypeError(f"{name}= must be a {base} instance such as "
                            f"{'VarIdent' if name == 'weights' else 'CorAR1'}(...), got {obj!r}")


def _attach_structures(mf, weights, correlation, cor_block_names, env):
    """Initialize copies of the structures on the frame's sorted rows (their covariates
    in R's spellings translated, evaluated with patsy's builtins such as ``I`` and ``Q``)."""
    sframe = mf.data
    env = (env if env is not None else patsy.EvalEnvironment([{"np": np}])) \
        .with_outer_namespace(structure_namespace())
    if weights is not None:
        vf = copy.deepcopy(weights)
        _translate_forms(vf, sframe)
        vf.initialize(sframe, env)
        mf.varfunc = vf
    if correlation is not None:
        cs = copy.deepcopy(correlation)
        _translate_forms(cs, sframe)
        if cor_block_names:
            bcodes, buniq = group_codes(sframe, cor_block_names, "correlation form")
        else:
            bcodes, buniq = np.zeros(len(sframe), dtype=np.int64), np.array(["all"], dtype=object)
        cs.block_labels = np.asarray([str(b) for b in buniq], dtype=object)
        cs.initialize(sframe, np.asarray(bcodes, dtype=np.int64), env)
        mf.corstruct = cs
        _warn_not_identified(mf)


class NotIdentifiedWarning(UserWarning):
    """A model whose parameters are not all identified: a random intercept beside a
    compound-symmetry, Toeplitz or unstructured residual correlation of the same
    groups (the intercept's variance and the constant part of the correlation trade
    off; only their sum is estimable)."""


_CONSTANT_PART = ("CorCompSymm", "CorToeplitz", "CorSymm")


def _warn_not_identified(mf):
    cs = mf.corstruct
    if not mf.levels or cs is None:
        return
    names = [c.__name__ for c in type(cs).__mro__]
    kind = next((n for n in _CONSTANT_PART if n in names), None)
    inner = mf.levels[-1]
    if kind is None or not {"(Intercept)", "Intercept"} & set(inner.z_names):
        return
    if len(np.unique(inner.codes)) != len(np.unique(np.asarray(cs.row_blocks))):
        return                  # correlation groups nested strictly inside the level
    warnings.warn(
        f"a random intercept for {inner.name!r} and a {kind} correlation within the same "
        f"groups are not identified: the intercept's variance and the constant part of the "
        f"correlation trade off (only their sum is estimable); drop the random intercept "
        f"(gls) or use a correlation without a constant part (e.g. CorAR1)",
        NotIdentifiedWarning, stacklevel=5)


def frame_from_arrays(endog, exog, groups, Z, z_names, pd_mat, exog_names, y_name,
                      group_name, weights=None, correlation=None, structure_data=None):
    """The :class:`ModelFrame` of statsmodels' array constructor with nlme's structures:
    one grouping level with the random-effects design ``Z`` (columns ``z_names``) and
    the covariance class ``pd_mat``.

    ``structure_data`` (a DataFrame with one row per observation, in the arrays' order)
    holds the columns the structures' forms name; the grouping is available to them as
    the column ``group_name``, so ``CorAR1(form="~ 1 | <group_name>")`` (or no grouping
    at all) orders positions by the rows' order within each group.
    """
    _check_structures(weights, correlation)
    y = np.asarray(endog, dtype=float).ravel()
    N = y.size
    X = np.asarray(exog, dtype=float).reshape(N, -1)
    Z = np.asarray(Z, dtype=float).reshape(N, -1)
    if structure_data is None:
        data = pd.DataFrame(index=pd.RangeIndex(N))
    elif not isinstance(structure_data, pd.DataFrame) or len(structure_data) != N:
        raise ValueError(f"structure_data must be a DataFrame with one row per observation "
                         f"({N}), got {type(structure_data).__name__}"
                         + (f" with {len(structure_data)} rows"
                            if isinstance(structure_data, pd.DataFrame) else ""))
    else:
        data = structure_data.copy()
    if group_name in data.columns and not np.array_equal(
            data[group_name].astype(str).to_numpy(), np.asarray(groups).astype(str)):
        raise ValueError(f"structure_data's column {group_name!r} differs from groups=")
    data[group_name] = np.asarray(groups)
    for what, arr in (("endog", y), ("exog", X), ("the random-effects design", Z)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} has missing or infinite values; a model with a "
                             "variance function or correlation structure needs complete "
                             "arrays (drop the rows first)")
    cor_groups = list(correlation.form.grouping) if correlation is not None else []
    _check_names(cor_groups + [g for obj in _parts(weights) for g in obj.form.grouping],
                 data, "structure_data")
    cor_block_names = _cor_block_names(cor_groups, correlation, [group_name], "lme")
    order = _engine_order(data, [group_name], cor_block_names)
    sframe = data.iloc[order].reset_index(drop=True)
    codes, uniques = pd.factorize(sframe[group_name], sort=False)
    if len(uniques) < 2 and not isinstance(pd_mat, PdBlocked):
        # one group is statsmodels' spelling of crossed variance components (vc_formula)
        raise ValueError("groups has only one level; a random effect needs at least two "
                         "groups (crossed effects: give one group and vc_formula=, or "
                         "lme()'s random='(1 | a) + (1 | b)')")
    level = Level(group_name, codes, [str(u) for u in uniques], Z[order], list(z_names),
                  pd=pd_mat)
    spec = RandomLevel(group_name, "1")
    mf = ModelFrame(None, sframe, order, pd.RangeIndex(N), 0, y[order], y_name, X[order],
                    list(exog_names), None, [level], [spec], kind="lme")
    _attach_structures(mf, weights, correlation, cor_block_names, None)
    return mf


def _quote_keywords(formula, data):
    """R's spellings in ``formula`` (quoted keyword and dotted column names such as
    ``Q("yield")``, ``I(x^2)``): :func:`lmmext.rformula.r_formula` without contrasts."""
    return r_formula(formula, data.columns)[0]


def _translate_forms(obj, data):
    """R's spellings in the covariates of a (copied) structure's forms; the form's text,
    which the summaries print, stays as written."""
    for part in _parts(obj):
        form = part.form
        if form.covariate and not form.uses_fitted and form.covariate not in data.columns:
            cov, _ = r_formula(form.covariate, data.columns,
                               what=f"{type(part).__name__} form")
            part.form = dataclasses.replace(form, covariate=cov)


def _parts(vf):
    if vf is None:
        return []
    return list(getattr(vf, "parts", [vf]))


def frame_columns(obj, data):
    """The columns of ``data`` a structure's forms name (covariates and groupings)."""
    return model_columns("", data.columns, weights=obj)


def _struct_texts(obj):
    out = []
    for part in _parts(obj):
        form = part.form
        out.append(form.covariate or "")
        out += list(form.grouping)
        if getattr(part, "group", None):        # a correlation structure's group=
            out.append(part.group)
    return out


def _cor_block_names(cor_groups, correlation, group_names, kind):
    """The grouping that defines correlation blocks (nlme's rules, section 1)."""
    if correlation is None:
        return []
    if not cor_groups:
        return list(group_names)             # lme: innermost groups; gls: one block
    if not group_names:
        return cor_groups
    if cor_groups == group_names[:len(cor_groups)] and len(cor_groups) < len(group_names):
        warnings.warn("cannot use smaller level of grouping for 'correlation' than for "
                      "'random'; replacing it by the random grouping", UserWarning, stacklevel=4)
        return list(group_names)
    if cor_groups[:len(group_names)] == group_names:
        return cor_groups
    if len(cor_groups) == 1 and cor_groups[0] == group_names[-1]:
        # "| Subject" with random "~ 1 | Subject": the same grouping
        return list(group_names)
    raise ValueError(f"incompatible formulas for groups in 'random' ({group_names}) and "
                     f"'correlation' ({cor_groups})")
