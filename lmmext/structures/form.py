"""nlme's one-sided structure formulas ``~ covariate | g1/g2``: parsing, evaluating the
covariate on a model frame, and labelling the groups and levels they name.

Variance functions, correlation structures, the random-effects specification and the
diagnostics all read their formulas through these helpers; covariate expressions are
evaluated with patsy in the caller's namespace.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

__all__ = ["StructForm", "parse_struct_form", "eval_covariate", "group_labels", "group_codes",
           "value_strings", "distinct_strings",
           "level_sort_key", "split_terms", "strip_tilde"]


@dataclass(frozen=True)
class StructForm:
    """A parsed ``~ covariate | g1/g2`` or ``~ covariate | s1*s2`` formula.

    Attributes
    ----------
    covariate : str or None
        The right-hand side before ``|``; ``None`` for ``~ 1``.
    grouping : tuple of str
        Names after ``|``, split on ``/`` (nesting, outer first) or ``*``
        (crossed strata, as varIdent uses them).  Empty when there is no ``|``.
    nested : bool
        True when the grouping used ``/``.
    text : str
        The original formula.
    """

    covariate: str | None
    grouping: tuple = ()
    nested: bool = False
    text: str = "~ 1"

    @property
    def uses_fitted(self):
        cov = self.covariate or ""
        return cov.replace(" ", "") in ("fitted", "fitted(.)", "fitted()")


def strip_tilde(text, what):
    """The right-hand side of a one-sided formula ``'~ rhs'``, or an error naming
    ``what``."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a formula string such as '~ 1 | g', got {text!r}")
    s = text.strip()
    if not s.startswith("~"):
        raise ValueError(f"{what} {text!r} must be a one-sided formula starting with '~'")
    return s[1:].strip()


def parse_struct_form(text, what="form"):
    """Parse a variance-function or correlation-structure formula.

    Examples
    --------
    >>> parse_struct_form("~ age | Sex")
    StructForm(covariate='age', grouping=('Sex',), nested=False, text='~ age | Sex')
    """
    body = strip_tilde(text, what)
    if body.count("|") > 1:
        raise ValueError(f"{what} {text!r} has more than one '|'")
    if "|" in body:
        lhs, rhs = (p.strip() for p in body.split("|"))
        if not rhs:
            raise ValueError(f"{what} {text!r} has nothing after '|'")
        nested = "/" in rhs
        if nested and "*" in rhs:
            raise ValueError(f"{what} {text!r} mixes '/' and '*' in its grouping")
        parts = tuple(p.strip() for p in re.split(r"[/*]", rhs))
        if any(not p for p in parts):
            raise ValueError(f"{what} {text!r} has an empty grouping name")
    else:
        lhs, parts, nested = body, (), False
    cov = None if lhs in ("", "1") else lhs
    return StructForm(cov, parts, nested, text.strip())


def split_terms(expr):
    """Split ``"x + y"`` on top-level ``+`` (not inside parentheses)."""
    parts, depth, cur = [], 0, []
    for ch in expr:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "+" and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def eval_covariate(expr, data, eval_env=None, what="covariate"):
    """Evaluate a covariate expression (a column name or a patsy-style expression)
    on ``data`` and return a float array."""
    if expr in data.columns:
        col = data[expr]
        if not pd.api.types.is_numeric_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype):
            raise ValueError(f"{what} {expr!r} must be numeric, got dtype {col.dtype}")
        return col.to_numpy(dtype=float)
    env = eval_env if eval_env is not None else patsy.EvalEnvironment.capture(0)
    try:
        val = env.with_outer_namespace({"np": np}).eval(expr, inner_namespace=_DataNamespace(data))
    except KeyError as exc:
        raise KeyError(f"{what} {expr!r}: unknown column {exc.args[0]!r}") from None
    except NameError as exc:
        raise KeyError(f"{what} {expr!r}: {exc}") from None
    arr = np.asarray(val, dtype=float)
    if arr.ndim == 0:
        arr = np.full(len(data), float(arr))
    if arr.shape != (len(data),):
        raise ValueError(f"{what} {expr!r} must evaluate to one number per row")
    return arr


class _DataNamespace(dict):
    """A mapping that reads columns from a DataFrame (for patsy's evaluator)."""

    def __init__(self, data):
        super().__init__()
        self._data = data

    def __getitem__(self, key):
        if key in self._data.columns:
            return self._data[key]
        raise KeyError(key)

    def __contains__(self, key):
        return key in self._data.columns


def value_strings(col):
    """``col.astype(str)`` as an object array, stringifying each distinct value once
    (pandas' string conversion costs a microsecond or more per row; a missing value
    stays what ``astype(str)`` makes of it)."""
    codes, uniques = pd.factorize(col, sort=False, use_na_sentinel=False)
    return distinct_strings(uniques)[codes]


def distinct_strings(values):
    """``astype(str)`` of a few (distinct) values as an object array; strings as they
    are (a categorical's labels usually are)."""
    arr = np.asarray(values, dtype=object)
    if all(type(v) is str for v in arr):
        return arr
    return pd.Series(values).astype(str).to_numpy(dtype=object)


def _column(data, name, what):
    if name not in data.columns:
        raise KeyError(f"{what}: unknown column {name!r}")
    return data[name]


def group_labels(data, names, what="grouping"):
    """String labels of the (interaction of the) columns ``names``, one per row.

    Nested groupings are labelled ``outer/inner`` as nlme does; this function joins
    with ``'/'``.  Raises ``KeyError`` naming a missing column.
    """
    cols = [value_strings(_column(data, n, what)) for n in names]
    out = cols[0]
    for c in cols[1:]:
        out = out + "/" + c
    return out


def group_codes(data, names, what="grouping"):
    """``(codes, labels)``: the groups of the (interaction of the) columns ``names``
    numbered in order of first appearance and their :func:`group_labels` -- what
    ``pd.factorize(group_labels(data, names))`` gives, without a string per row (each
    column is factorized by value, only the groups' labels are strings; values whose
    strings coincide share a group, as their labels do)."""
    codes, parts = None, []
    for n in names:
        c, uniques = pd.factorize(_column(data, n, what), sort=False)
        merged, strings = pd.factorize(distinct_strings(uniques), sort=False)
        c = merged[c]
        codes = c if codes is None else pd.factorize(codes * len(strings) + c,
                                                     sort=False)[0]
        parts.append((c, np.asarray(strings, dtype=object)))
    # the groups' first rows: factorize numbers them in order of first appearance, so
    # a row starts a group where its code exceeds every code before it
    first = np.flatnonzero(codes > np.maximum.accumulate(np.r_[-1, codes[:-1]]))
    labels = parts[0][1][parts[0][0][first]]
    for c, strings in parts[1:]:
        labels = labels + "/" + strings[c[first]]
    merged, labels = pd.factorize(labels, sort=False)
    return merged[codes].astype(np.int64), np.asarray(labels, dtype=object)


def level_sort_key(col):
    """Integer key that sorts a column by its level order (Categorical order, else
    sorted values), as nlme's ordering by factor codes does."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy()
    return pd.factorize(col, sort=True)[0]
