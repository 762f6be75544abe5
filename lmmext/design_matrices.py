"""patsy's design matrices without patsy's per-row work.

patsy evaluates every factor of a formula twice over all rows (once to learn the
categorical levels, once to build) and converts between pandas and numpy on the way:
on tens of thousands of rows that is most of a small model's fit.  Here the design
information is patsy's own, learned on a few rows that hold every level of every
categorical column, and the matrix is built from it: categorical factors that are
columns (``g``, ``C(g)``) by indexing the contrast matrices with level codes, numerical
columns as they are, other numerical factors (``I(age - 11)``, ``np.log(x)``) by
patsy's own evaluation of the factor on all rows -- the same columns, names and values
as patsy's.  A stateful transform (``center(x)``), a categorical factor that is not a
column (``C(g, Sum)``, ``x > 3``) or a factor that is not patsy's ``EvalFactor`` takes
patsy's own route, as does anything patsy would report as an error.
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
_REFERENCE = re.compile(r"Q\(\s*(\"[^\"]*\"|'[^']*')\s*\)|([A-Za-z_][A-Za-z0-9_]*)")


def _unquoted(name):
    if name.startswith("Q("):
        return name[name.index("(") + 1:name.rindex(")")].strip()[1:-1]
    return name


def _factor_columns(factors, data):
    """``{factor: (column, in C())}`` for the factors that are columns of ``data`` and
    ``{factor: None}`` for other expressions; ``None`` when a factor is not an
    ``EvalFactor``."""
    out = {}
    for f in factors:
        if not isinstance(f, patsy.EvalFactor):
            return None
        m = _PLAIN.fullmatch(f.code)
        name = _unquoted(m.group("cname") or m.group("name")) if m else None
        if name is not None and name in data.columns and isinstance(data[name], pd.Series):
            out[f] = (name, m.group("c") is not None)
        else:
            out[f] = None
    return out


def _referenced(columns, data):
    """The columns of ``data`` that the factors (``columns``' keys) name."""
    names = set()
    for f, col in columns.items():
        if col is not None:
            names.add(col[0])
            continue
        for quoted, ident in _REFERENCE.findall(f.code):
            name = quoted[1:-1] if quoted else ident
            if name in data.columns and isinstance(data[name], pd.Series):
                names.add(name)
    return names


def _is_numeric(col):
    return (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype))


class _Columns:
    """The data's columns as patsy's factors look them up: numbers as numpy arrays
    (pandas' per-operation overhead is most of patsy's time on few rows), other columns
    as Series (their dtype and Python scalars carry the levels patsy reads)."""

    def __init__(self, data, rows=None, categorical=()):
        self._data, self._rows, self._categorical = data, rows, set(categorical)

    def __getitem__(self, name):
        if name not in self._data.columns:
            raise KeyError(name)
        col = self._data[name]
        if not isinstance(col, pd.Series):
            raise KeyError(name)
        if name not in self._categorical and _is_numeric(col):
            values = col.to_numpy()
            return values if self._rows is None else values[self._rows]
        return col if self._rows is None else col.iloc[self._rows].reset_index(drop=True)

    def __contains__(self, name):
        return name in self._data.columns


def _covering_rows(columns, data):
    """Row positions holding every value of every categorical column (and row 0): patsy
    learns the same levels from them as from all rows (a pandas Categorical needs none:
    patsy reads its categories)."""
    rows = [np.zeros(1, dtype=np.int64)]
    for name, in_c in {c for c in columns.values() if c is not None}:
        col = data[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            continue
        if in_c or not _is_numeric(col):
            codes, uniques = pd.factorize(col, sort=False)
            present = np.flatnonzero(codes >= 0)       # (a missing value is patsy's to report)
            seen = np.zeros(len(uniques), dtype=np.int64)
            seen[codes[present]] = present             # a row of every value (any one)
            rows.append(seen)
    return np.unique(np.concatenate(rows))


def _expression_ok(info):
    """Whether patsy's evaluation of a factor that is not a column can be trusted on all
    rows with what it learned on the covering rows: numerical and stateless."""
    return info.type == "numerical" and not info.state.get("transforms")


def build_matrix(design_info, data, columns=None):
    """The design matrix (``N x k`` float array) of ``design_info`` on ``data``, or
    ``None`` when patsy must build it (see the module docstring; also when a value is
    missing or a level unknown: patsy reports those)."""
    if columns is None:
        columns = _factor_columns(design_info.factor_infos, data)
        if columns is None:
            return None
    N = len(data)
    values = {}
    for f, info in design_info.factor_infos.items():
        col = columns.get(f)
        if col is None:
            if not _expression_ok(info):
                return None
            try:
                v = np.asarray(f.eval(info.state, _Columns(data)), dtype=float)
            except Exception:                   # patsy's own route reports it
                return None
            v = v.reshape(N, -1) if v.ndim <= 2 and v.size == N * info.num_columns else None
            if v is None or np.isnan(v).any():
                return None
            values[f] = v
        elif info.type == "numerical":
            if info.num_columns != 1 or not _is_numeric(data[col[0]]):
                return None
            values[f] = data[col[0]].to_numpy(dtype=float)[:, None]
            if np.isnan(values[f]).any():          # patsy's NA_action="raise" reports it
                return None
        else:
            series = data[col[0]]
            if isinstance(series.dtype, pd.CategoricalDtype) and \
                    list(series.cat.categories) == list(info.categories):
                codes = series.cat.codes.to_numpy()
            else:
                codes = pd.Index(info.categories).get_indexer(np.asarray(series))
            if (codes < 0).any():
                return None
            values[f] = codes
    X = np.ones((N, len(design_info.column_names)), order="F")   # filled column by column
    j = 0
    for term in design_info.terms:
        for sub in design_info.term_codings[term]:
            # patsy's (and R's) column order: the product of the factors' columns, the
            # left-most factor's fastest
            ranges = [range(sub.contrast_matrices[f].matrix.shape[1]
                            if f in sub.contrast_matrices
                            else design_info.factor_infos[f].num_columns)
                      for f in sub.factors]
            for reversed_idx in itertools.product(*reversed(ranges)):
                for f, c in zip(sub.factors, reversed_idx[::-1]):
                    if f in sub.contrast_matrices:
                        X[:, j] *= sub.contrast_matrices[f].matrix[values[f], c]
                    else:
                        X[:, j] *= values[f][:, c]
                j += 1
    return X                  # column-major: the per-column passes over it (extremes,
                              # within-group variation, the door's gathers) run along columns


def _learned(formula, data, env, columns, two_sided):
    """patsy's design information learned on the covering rows, without building their
    matrices (None when patsy cannot learn it there: its own route on all rows then
    reports the problem)."""
    rows = _covering_rows(columns, data)
    categorical = [c[0] for c in columns.values() if c is not None and c[1]]
    sub = _Columns(data, rows, categorical)
    sub = {name: sub[name] for name in _referenced(columns, data)}
    try:
        if two_sided:
            return patsy.incr_dbuilders(formula, lambda: iter([sub]), eval_env=env,
                                        NA_action="raise")
        return patsy.incr_dbuilder(formula, lambda: iter([sub]), eval_env=env,
                                   NA_action="raise")
    except patsy.PatsyError:
        return None


def _columns_of(formula, data, sides):
    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError:
        return None
    terms = (desc.lhs_termlist if "lhs" in sides else []) + desc.rhs_termlist
    return _factor_columns([f for t in terms for f in t.factors], data)


def design_matrices(formula, data, env):
    """``(y, y_name, X, x_names, x_design_info)`` of a two-sided formula: patsy's
    ``dmatrices`` (``y`` one column, its response), built from the design information
    learned on the covering rows where it can be; ``None`` for ``y`` when the response
    expands to several columns (a categorical outcome, reported by the caller)."""
    columns = _columns_of(formula, data, ("lhs", "rhs"))
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
    covering rows where that is patsy's; build the matrix with :func:`build_matrix`)."""
    columns = _columns_of(formula_rhs, data, ("rhs",))
    info = _learned(formula_rhs, data, env, columns, False) if columns is not None else None
    if info is not None and all(columns.get(f) is not None or _expression_ok(fi)
                                for f, fi in info.factor_infos.items()):
        return info
    return patsy.dmatrix(formula_rhs, data, eval_env=env, NA_action="raise").design_info
