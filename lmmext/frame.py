"""Model frames: from a formula, data and nlme-style structure arguments to the
arrays the likelihood engine works on.

nlme sorts the data by the grouping factors (outer to inner, by factor level order)
before it does anything else; the engine needs that order so every group is a
contiguous block of rows.  The frame remembers the permutation, so fitted values and
residuals are returned in the caller's row order.
"""
from __future__ import annotations

import copy
import keyword
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy

from .engine.levels import Level
from .formula import RandomLevel
from .engine.linalg import aliased_columns
from .structures.form import group_labels, level_sort_key

__all__ = ["ModelFrame", "build_frame", "frame_from_arrays", "frame_columns"]

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

    @property
    def N(self):
        return len(self.y)

    # patsy's design information and evaluation environment do not pickle: drop them
    # and rebuild the design information from the stored model frame when needed
    def __getstate__(self):
        state = self.__dict__.copy()
        state["design_info"] = None
        state["eval_env"] = None
        return state

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

    def to_caller_order(self, values):
        """Engine-order array -> caller-order array."""
        out = np.empty_like(values)
        out[self.order] = values
        return out


def _used_columns(texts, data):
    cols = set()
    for t in texts:
        if t:
            cols.update(tok for tok in _TOKEN.findall(t) if tok in data.columns)
    return [c for c in data.columns if c in cols]


def _check_names(names, data, what):
    for n in names:
        if n not in data.columns:
            raise KeyError(f"{what}: unknown column {n!r}")


def _design(formula_rhs, data, env, what):
    try:
        return patsy.dmatrix(formula_rhs, data, eval_env=env, NA_action="raise",
                             return_type="dataframe")
    except patsy.PatsyError as exc:
        raise _patsy_error(exc, what) from None


def _patsy_error(exc, what):
    msg = str(exc).splitlines()[0]
    m = re.search(r"name '([^']+)' is not defined", str(exc))
    if m:
        return KeyError(f"{what}: unknown column or name {m.group(1)!r}")
    return ValueError(f"{what}: {msg}")


def build_frame(formula, data, random=(), weights=None, correlation=None,
                missing="drop", eval_env=None, kind="lme"):
    """Build the :class:`ModelFrame` of an lme (``random`` non-empty) or gls model."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a string like 'y ~ x', got {formula!r}")
    if missing not in ("drop", "raise"):
        raise ValueError(f"missing= must be 'drop' or 'raise', got {missing!r}")
    random = list(random)
    env = eval_env if eval_env is not None else patsy.EvalEnvironment.capture(1)
    _check_structures(weights, correlation)
    group_names = [lv.name for lv in random]
    _check_names(group_names, data, "random=")
    texts = [formula] + [lv.formula for lv in random] + group_names
    for obj in (weights, correlation):
        if obj is not None:
            texts += _struct_texts(obj)
    used = _used_columns(texts, data)
    cor_groups = list(correlation.form.grouping) if correlation is not None else []
    vf_groups = [g for obj in _parts(weights) for g in obj.form.grouping]
    _check_names(cor_groups, data, "correlation form")
    _check_names(vf_groups, data, "weights form")
    frame = data.loc[:, used].copy() if used else pd.DataFrame(index=data.index)
    na = frame.isna().any(axis=1).to_numpy() if used else np.zeros(len(data), bool)
    n_dropped = int(na.sum())
    if n_dropped:
        if missing == "raise":
            bad = [c for c in used if frame[c].isna().any()]
            raise ValueError(f"missing values in column(s) {bad} ({n_dropped} rows); "
                             "use missing='drop' to drop them")
        frame = frame.loc[~na]
    if len(frame) == 0:
        raise ValueError("no rows left after dropping missing values")
    index = frame.index
    frame = frame.reset_index(drop=True)

    # nlme's row order: by the random grouping (outer to inner), then by the
    # correlation grouping when it is deeper; gls sorts only with a grouped corStruct
    cor_block_names = _cor_block_names(cor_groups, correlation, group_names, kind)
    order = _engine_order(frame, group_names, cor_block_names)
    sframe = frame.iloc[order].reset_index(drop=True)

    formula = _quote_keywords(formula, sframe)
    try:
        y_df, X_df = patsy.dmatrices(formula, sframe, eval_env=env, NA_action="raise",
                                     return_type="dataframe")
    except patsy.PatsyError as exc:
        raise _patsy_error(exc, "formula") from None
    if y_df.shape[1] != 1:
        raise ValueError(f"the response of {formula!r} must be numeric; it expands to "
                         f"{y_df.shape[1]} columns (a string or categorical outcome?)")
    y = y_df.iloc[:, 0].to_numpy(dtype=float)
    X = X_df.to_numpy(dtype=float)
    names = list(X_df.columns)
    if X.shape[1] == 0:
        raise ValueError("the fixed-effects formula has no columns")
    aliased = aliased_columns(X, names)
    if aliased:
        raise ValueError(f"the fixed-effects design is rank deficient: column(s) {aliased} "
                         "are linear combinations of the others (aliased)")
    if X.shape[0] <= X.shape[1]:
        raise ValueError(f"{X.shape[0]} observations are too few for {X.shape[1]} "
                         "fixed effects")

    levels = []
    for k, spec in enumerate(random):
        labels = group_labels(sframe, group_names[:k + 1], "random=")
        codes, uniques = pd.factorize(labels, sort=False)
        if k == 0 and len(uniques) < 2:
            raise ValueError(f"grouping factor {spec.name!r} has only one level; "
                             "a random effect needs at least two groups")
        Z_df = _design(spec.formula if spec.formula.strip().startswith(("0", "-1"))
                       else spec.formula, sframe, env, f"random formula for {spec.name!r}")
        if Z_df.shape[1] == 0:
            raise ValueError(f"random effects for {spec.name!r} have no columns")
        levels.append(Level(spec.name, codes, [str(u) for u in uniques],
                            Z_df.to_numpy(dtype=float), list(Z_df.columns), spec.pd_class))

    mf = ModelFrame(formula, sframe, order, index, n_dropped, y, str(y_df.columns[0]),
                    X, names, X_df.design_info, levels, random, eval_env=env, kind=kind)
    _attach_structures(mf, weights, correlation, cor_block_names, env)
    return mf


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
    """Initialize copies of the structures on the frame's sorted rows."""
    sframe = mf.data
    if weights is not None:
        vf = copy.deepcopy(weights)
        vf.initialize(sframe, env)
        mf.varfunc = vf
    if correlation is not None:
        cs = copy.deepcopy(correlation)
        if cor_block_names:
            blab = group_labels(sframe, cor_block_names, "correlation form")
            bcodes, buniq = pd.factorize(blab, sort=False)
        else:
            bcodes, buniq = np.zeros(len(sframe), dtype=np.int64), np.array(["all"], dtype=object)
        cs.block_labels = np.asarray([str(b) for b in buniq], dtype=object)
        cs.initialize(sframe, np.asarray(bcodes, dtype=np.int64), env)
        mf.corstruct = cs


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
    if len(uniques) < 2:
        raise ValueError("groups has only one level; a random effect needs at least two "
                         "groups")
    level = Level(group_name, codes, [str(u) for u in uniques], Z[order], list(z_names),
                  pd=pd_mat)
    spec = RandomLevel(group_name, "1")
    mf = ModelFrame(None, sframe, order, pd.RangeIndex(N), 0, y[order], y_name, X[order],
                    list(exog_names), None, [level], [spec], kind="lme")
    _attach_structures(mf, weights, correlation, cor_block_names, None)
    return mf


def _quote_keywords(formula, data):
    """Columns named like Python keywords (``yield``, ``lambda``) cannot be evaluated
    by patsy; quote them as ``Q("yield")``."""
    def repl(m):
        tok = m.group(0)
        return f'Q("{tok}")' if keyword.iskeyword(tok) and tok in data.columns else tok
    return re.sub(r"(?<![\"'\w.])" + _TOKEN.pattern + r"(?![\"'])", repl, formula)


def _parts(vf):
    if vf is None:
        return []
    return list(getattr(vf, "parts", [vf]))


def frame_columns(obj, data):
    """The columns of ``data`` a structure's forms name (covariates and groupings)."""
    return _used_columns(_struct_texts(obj), data)


def _struct_texts(obj):
    out = []
    for part in _parts(obj):
        form = part.form
        out.append(form.covariate or "")
        out += list(form.grouping)
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
