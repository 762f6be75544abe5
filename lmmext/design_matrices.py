"""patsy's design matrices without patsy's per-row work, for formulas of plain columns.

patsy evaluates every factor of a formula twice over all rows (once to learn the
categorical levels, once to build) and converts between pandas and numpy on the way:
on tens of thousands of rows that is most of a small model's fit.  When every factor
of a formula is a column of the data (``x``, ``Q("x.y")``, ``C(x)``), the design
information is patsy's own, learned on a few rows that hold every level of every
categorical column, and the matrix is built from it by indexing the contrast matrices
with level codes -- the same columns, names and values as patsy's.  Any other factor
(a function of columns, a stateful transform such as ``center(x)``, contrasts given in
``C(x, Sum)``) takes patsy's own route.
"""
from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import patsy

__all__ = ["design_matrices", "design_info", "build_matrix"]

_NAME = r"(?:[A-Za-z_][A-Za-z0-9_]*|Q\(\s*(?:\"[^\"]*\"|'[^']*')\s*\))"
_PLAIN = re.compile(rf"\s*(?:(?P<c>C)\(\s*(?P<cname>{_NAME})\s*\)|(?P<name>{_NAME}))\s*")


def _column(code, data):
    """``(column name, wrapped in C())`` of a factor that is a plain column, else None."""
    m = _PLAIN.fullmatch(code)
    if m is None:
        return None
    name = m.group("cname") or m.group("name")
    if name.startswith("Q("):
        name = name[name.index("(") + 1:name.rindex(")")].strip()[1:-1]
    if name not in data.columns or not isinstance(data[name], pd.Series):
        return None
    return name, m.group("c") is not None


def _plain_columns(factors, data):
    """``{factor: (column, in C())}`` when every factor is a plain column, else None."""
    out = {}
    for f in factors:
        if not isinstance(f, patsy.EvalFactor):
            return None
        col = _column(f.code, data)
        if col is None:
            return None
        out[f] = col
    return out


def _is_numeric(col):
    return (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype))


def _covering_rows(columns, data):
    """Row positions holding every value of every categorical column (and row 0): patsy
    learns the same levels from them as from all rows."""
    rows = [np.zeros(1, dtype=np.int64)]
    for name, in_c in set(columns.values()):
        col = data[name]
        if in_c or not _is_numeric(col):
            codes = pd.factorize(col, sort=False)[0]
            rows.append(np.unique(codes, return_index=True)[1])
    return np.unique(np.concatenate(rows))


def build_matrix(design_info, data, columns=None):
    """The design matrix (``N x k`` float array) of ``design_info`` on ``data`` when every
    factor is a plain column whose values are all known levels, else ``None``."""
    if columns is None:
        columns = _plain_columns(design_info.factor_infos, data)
        if columns is None:
            return None
    values = {}
    for f, info in design_info.factor_infos.items():
        col = data[columns[f][0]]
        if info.type == "numerical":
            if info.num_columns != 1 or not _is_numeric(col):
                return None
            values[f] = col.to_numpy(dtype=float)
            if np.isnan(values[f]).any():          # patsy's NA_action="raise" reports it
                return None
        else:
            if isinstance(col.dtype, pd.CategoricalDtype) and \
                    list(col.cat.categories) == list(info.categories):
                codes = col.cat.codes.to_numpy()
            else:
                codes = pd.Index(info.categories).get_indexer(np.asarray(col))
            if (codes < 0).any():
                return None
            values[f] = codes
    X = np.ones((len(data), len(design_info.column_names)))
    j = 0
    for term in design_info.terms:
        for sub in design_info.term_codings[term]:
            # patsy's (and R's) column order: the product of the factors' columns, the
            # left-most factor's fastest
            ranges = [range(sub.contrast_matrices[f].matrix.shape[1]
                            if f in sub.contrast_matrices else 1) for f in sub.factors]
            for reversed_idx in itertools.product(*reversed(ranges)):
                idx = reversed_idx[::-1]
                for f, c in zip(sub.factors, idx):
                    if f in sub.contrast_matrices:
                        X[:, j] *= sub.contrast_matrices[f].matrix[values[f], c]
                    else:
                        X[:, j] *= values[f]
                j += 1
    return X


def _learned(formula, data, env, columns, two_sided):
    """patsy's design information learned on the covering rows, without building their
    matrices (None when patsy cannot learn it there: its own route on all rows then
    reports the problem)."""
    rows = _covering_rows(columns, data)
    categorical = {name for name, in_c in columns.values()
                   if in_c or not _is_numeric(data[name])}
    sub = {}
    for name, _ in columns.values():
        col = data[name].iloc[rows]
        # numbers as numpy arrays (pandas' per-operation overhead is most of patsy's time
        # on a few rows); categorical columns stay Series, whose dtype and values (Python
        # scalars) patsy reads its levels from
        sub[name] = (col.reset_index(drop=True) if name in categorical else col.to_numpy())
    try:
        if two_sided:
            return patsy.incr_dbuilders(formula, lambda: iter([sub]), eval_env=env,
                                        NA_action="raise")
        return patsy.incr_dbuilder(formula, lambda: iter([sub]), eval_env=env,
                                   NA_action="raise")
    except patsy.PatsyError:
        return None


def design_matrices(formula, data, env):
    """``(y, y_name, X, x_names, x_design_info)`` of a two-sided formula: patsy's
    ``dmatrices`` (``y`` one column, its response), built from the design information
    when every factor is a plain column; ``None`` for ``y`` when the response expands to
    several columns (a categorical outcome, reported by the caller)."""
    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError:
        desc = None
    factors = ([] if desc is None else
               [f for t in desc.lhs_termlist + desc.rhs_termlist for f in t.factors])
    columns = _plain_columns(factors, data) if desc is not None else None
    infos = _learned(formula, data, env, columns, True) if columns else None
    if infos is not None:
        y = build_matrix(infos[0], data, columns)
        X = build_matrix(infos[1], data, columns)
        if y is not None and X is not None:
            return _result(y, infos[0], X, infos[1])
    y_df, X_df = patsy.dmatrices(formula, data, eval_env=env, NA_action="raise",
                                 return_type="dataframe")
    return _result(y_df.to_numpy(dtype=float), y_df.design_info,
                   X_df.to_numpy(dtype=float), X_df.design_info)


def _result(y, y_info, X, x_info):
    y_name = y_info.column_names[0] if y.shape[1] else ""
    return (y[:, 0] if y.shape[1] == 1 else None, y_name, X, list(x_info.column_names),
            x_info)


def design_info(formula_rhs, data, env):
    """patsy's design information of a one-sided formula on ``data`` (learned on the
    covering rows when every factor is a plain column; build the matrix with
    :func:`build_matrix`)."""
    try:
        desc = patsy.ModelDesc.from_formula(formula_rhs)
        columns = _plain_columns([f for t in desc.rhs_termlist for f in t.factors], data)
    except patsy.PatsyError:
        columns = None
    info = _learned(formula_rhs, data, env, columns, False) if columns is not None else None
    if info is None:
        info = patsy.dmatrix(formula_rhs, data, eval_env=env, NA_action="raise").design_info
    return info
