"""A fit's rows as nlme's diagnostics see them: in the caller's row order, with their
groups, positions within groups, coordinates and within-group pairs; and the argument
checks the diagnostics and plots share (R's ``match.arg`` and friends).
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ..structures.form import eval_covariate, level_sort_key, split_terms

__all__ = ["RES_TYPES", "match_arg", "positive_int", "finite_number", "frame_of", "is_lme",
           "model_data", "residuals_of", "codes_of_columns", "lme_codes", "cor_codes",
           "position_in_group", "form_coordinates", "within_group_pairs", "distances"]


RES_TYPES = ("pearson", "response", "normalized")


def match_arg(value, choices, what):
    """R's ``match.arg``: an exact name or a unique prefix of one."""
    if isinstance(value, str):
        hits = [c for c in choices if c == value] or [c for c in choices if c.startswith(value)]
        if len(hits) == 1 and value:
            return hits[0]
    raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def positive_int(value, what, minimum=1):
    """``value`` as an int, or a ValueError naming ``what`` unless it is an integer >=
    ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def finite_number(value, what):
    """``value`` as a float, or a ValueError naming ``what`` unless it is a finite real
    number."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def frame_of(res):
    """The model frame of an lmmext fit, or a TypeError naming what was passed instead."""
    frame = getattr(res, "frame", None)
    if frame is None or not hasattr(res, "residuals"):
        raise TypeError(f"expected an lmmext fit (the result of lme(), gls(), "
                        f"MixedLM.fit() or GLS.fit()), got {type(res).__name__}")
    return frame


def is_lme(frame):
    """Whether the frame has random-effects levels (an lme fit, not a gls)."""
    return bool(frame.levels)


# ---------------------------------------------------------------------------------
# rows, groups and coordinates in the caller's row order
# ---------------------------------------------------------------------------------
def model_data(res, data):
    """The model's rows in the caller's order: the model frame, or the columns of
    ``data`` (the DataFrame the model was fitted to) for its kept rows."""
    frame = res.frame
    if data is None:
        caller = frame.data.iloc[np.argsort(frame.order, kind="stable")]
        return caller.set_axis(frame.index, axis=0)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be the pandas DataFrame the model was fitted to, "
                        f"got {type(data).__name__}")
    if not data.index.is_unique:
        raise ValueError("data has duplicated index labels; cannot match its rows to the fit")
    missing = frame.index.difference(data.index)
    if len(missing):
        raise ValueError(f"data lacks {len(missing)} row(s) of the fit (e.g. index "
                         f"{missing[0]!r}); pass the DataFrame the model was fitted to")
    return data.loc[frame.index]


def residuals_of(res, resType):
    """The fit's residuals of type ``resType`` as floats, in the caller's row order."""
    return res.residuals(type=resType).to_numpy(dtype=float)


def codes_of_columns(data, names, what):
    """Group codes 0..G-1 in level order (outer column first) of grouping columns."""
    for n in names:
        if n not in data.columns:
            raise KeyError(f"{what}: unknown column {n!r} (pass data= with the columns the "
                           "fit does not use)")
        if data[n].isna().any():
            raise ValueError(f"{what}: grouping column {n!r} has missing values")
    keys = np.column_stack([level_sort_key(data[n]) for n in names])
    _, codes = np.unique(keys, axis=0, return_inverse=True)
    return np.asarray(codes).ravel()


def lme_codes(res, grouping, what):
    """Innermost random-effects groups (nlme uses ``getGroups(fit, level = Q)`` whatever
    the grouping in ``form``; a different grouping is refused instead of ignored)."""
    frame = res.frame
    names = [lev.name for lev in frame.levels]
    if grouping and list(grouping) not in (names, names[-1:]):
        raise ValueError(f"{what}: an lme fit's residuals are grouped by its innermost random "
                         f"effects grouping {names[-1]!r}, not {'/'.join(grouping)!r}")
    return frame.to_caller_order(frame.levels[-1].codes)


def cor_codes(res):
    """The groups of a gls fit's correlation structure (nlme's ``getGroups(gls)``),
    or None when it has none."""
    cs = res.frame.corstruct
    if cs is None or not cs.form.grouping:
        return None
    return res.frame.to_caller_order(cs.row_blocks)


def position_in_group(codes):
    """1, 2, ..., n_g within each group, in row order (nlme's ``form = ~ 1``)."""
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pos = np.empty(len(codes))
    pos[order] = np.arange(len(codes)) - np.repeat(starts, sizes) + 1
    return pos


def form_coordinates(covariate, data, codes, eval_env, what):
    """The coordinates of ``covariate`` (``x`` or ``x + y``) per row, or the position
    within the group when it is ``None``."""
    if covariate is None:
        return position_in_group(codes)[:, None]
    cols = []
    for term in split_terms(covariate):
        try:
            x = eval_covariate(term, data, eval_env, f"{what} covariate")
        except KeyError as exc:
            raise KeyError(f"{exc.args[0]}; pass data= (the DataFrame the model was fitted "
                           "to) for columns the model does not use") from None
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{what}: covariate {term!r} has missing or infinite values")
        cols.append(x)
    return np.column_stack(cols)


def within_group_pairs(codes):
    """Row indices ``(i, j)`` of every pair of rows of one group, groups in code order
    and pairs as R's ``dist`` lists them (column-wise lower triangle: (2,1), (3,1), ...,
    (3,2), ...) with rows in their order within the group."""
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    groups, first, second = [], [], []
    for n in np.unique(sizes[sizes >= 2]):
        g = np.flatnonzero(sizes == n)
        rows = order[starts[g, None] + np.arange(n)]
        a, b = np.triu_indices(n, 1)
        groups.append(np.repeat(g, len(a)))
        first.append(rows[:, a].ravel())
        second.append(rows[:, b].ravel())
    if not groups:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keep = np.argsort(np.concatenate(groups), kind="stable")
    return np.concatenate(first)[keep], np.concatenate(second)[keep]


def distances(coords, i, j, metric):
    """Distances as R's ``dist`` computes them (same operations, same rounding)."""
    diff = coords[i] - coords[j]
    if metric == "euclidean":
        return np.sqrt((diff * diff).sum(axis=1))
    if metric == "manhattan":
        return np.abs(diff).sum(axis=1)
    return np.abs(diff).max(axis=1)
