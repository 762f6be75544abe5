"""Estimated marginal means (R's emmeans, SAS LSMEANS): the reference grid of a model,
the weights that average it into marginal means, contrast coefficients, and
emmeans' containment rule for the degrees of freedom of a linear function.

The reference grid is every combination of the levels of the factors of the fixed
effects, with each numeric covariate at its mean over the rows of the fit (or at the
values given in ``at=``; several values make the covariate a dimension of the grid).
The grid's rows are ordered as emmeans orders them: the first variable varies
fastest.  A marginal mean of the cells of ``specs`` (and ``by``) averages the grid rows
over the other dimensions with emmeans' weights (``"equal"``, ``"proportional"``,
``"outer"``, ``"cells"``, ``"flat"``), as a linear function ``L beta``.
"""
from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import patsy

__all__ = ["ReferenceGrid", "WEIGHTS", "CONTRAST_METHODS", "contrast_coefficients",
           "level_labels", "containment_linfct_df", "nonestimable_basis"]

WEIGHTS = ("equal", "proportional", "outer", "cells", "flat")
CONTRAST_METHODS = ("pairwise", "revpairwise", "trt.vs.ctrl", "consec", "poly", "eff")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


class DataSummary:
    """What a reference grid needs of the model's rows: their columns, the means of
    covariates and the rows per combination of factor levels.  In memory from the
    DataFrame; a fit to a dask DataFrame gives the same from its partitions."""

    def __init__(self, data):
        self.data = data
        self.columns = data.columns
        self.n_rows = len(data)

    def mean(self, name):
        return float(np.nanmean(pd.to_numeric(self.data[name], errors="coerce")
                                .to_numpy(dtype=float)))

    def counts(self, names, categories, weights=None):
        """Rows per combination of the factors' levels (``categories`` of each), flat in
        Fortran order (first factor fastest); rows of other levels are not counted.
        With ``weights`` (a column) each row counts that many times."""
        codes = [np.array([{v: i for i, v in enumerate(cats)}.get(v, -1)
                           for v in self.data[name]]) for name, cats in zip(names, categories)]
        ok = np.all(np.column_stack(codes) >= 0, axis=1)
        shape = [len(c) for c in categories]
        flat = np.ravel_multi_index([c[ok] for c in codes], shape, order="F")
        w = None if weights is None else self.data[weights].to_numpy(dtype=float)[ok]
        return np.bincount(flat, weights=w, minlength=int(np.prod(shape))).astype(np.int64)


class ReferenceGrid:
    """The reference grid of a fixed-effects design (emmeans' ``ref_grid``).

    Parameters
    ----------
    design_info : patsy.DesignInfo
        The fixed-effects design of the fit.
    data : pandas.DataFrame or DataSummary
        The rows the model was fitted to (their counts give the weights; numeric
        covariates not in ``at`` sit at their means over these rows).
    at : dict, optional
        ``{column: value or list of values}``: covariate values, or a subset of a
        factor's levels.

    Attributes
    ----------
    levels : dict
        Dimension name -> list of values, in grid order (first fastest).
    covariates : dict
        Covariate name -> the single value it takes on the grid.
    grid : pandas.DataFrame
        One row per combination of ``levels`` (plus the covariates' values).
    X : ndarray
        The design matrix of ``grid``.
    counts : ndarray
        Number of rows of ``data`` in each grid row's combination of factor levels.
    """

    def __init__(self, design_info, data, at=None):
        if isinstance(data, pd.DataFrame):
            data = DataSummary(data)
        at = {} if at is None else at
        if not isinstance(at, dict):
            raise ValueError("at must be a dict {column: value or list of values}, "
                             f"got {type(at).__name__}")
        factors, numeric = {}, []
        for term in design_info.terms:
            for fac in term.factors:
                info = design_info.factor_infos[fac]
                names = [t for t in _TOKEN.findall(fac.code) if t in data.columns]
                if info.type == "categorical" and len(names) == 1:
                    factors.setdefault(names[0], list(info.categories))
                else:
                    numeric.extend(n for n in names if n not in numeric)
        numeric = [n for n in numeric if n not in factors]
        unknown = [k for k in at if k not in factors and k not in numeric]
        if unknown:
            raise ValueError(f"at: {unknown} are not variables of the fixed effects; the "
                             f"factors are {list(factors)} and the covariates {numeric}")
        levels, covariates = {}, {}
        order = []
        for term in design_info.terms:
            for fac in term.factors:
                for t in _TOKEN.findall(fac.code):
                    if (t in factors or t in numeric) and t not in order:
                        order.append(t)
        for name in order:
            if name in factors:
                levs = factors[name]
                if name in at:
                    want = at[name] if isinstance(at[name], (list, tuple, np.ndarray,
                                                              pd.Index)) else [at[name]]
                    bad = [v for v in want if v not in levs]
                    if bad:
                        raise ValueError(f"at: {bad} are not levels of {name!r} "
                                         f"(its levels are {levs})")
                    levs = [v for v in levs if v in list(want)]
                levels[name] = levs
            else:
                if name in at:
                    vals = np.atleast_1d(np.asarray(at[name], dtype=float))
                else:
                    vals = np.array([data.mean(name)])
                if vals.size > 1:
                    levels[name] = list(vals)
                else:
                    covariates[name] = float(vals[0])
        self.levels, self.covariates = levels, covariates
        self.factors = [n for n in levels if n in factors]
        dims = list(levels)
        combos = list(itertools.product(*[levels[d] for d in reversed(dims)]))
        grid = pd.DataFrame([tuple(reversed(c)) for c in combos], columns=dims) \
            if dims else pd.DataFrame(index=[0])
        for name in dims:
            if name in factors:
                grid[name] = pd.Categorical(grid[name], categories=factors[name])
        for name, v in covariates.items():
            grid[name] = v
        self.grid = grid
        try:
            (X,) = patsy.build_design_matrices([design_info], grid, NA_action="raise")
        except patsy.PatsyError as exc:
            raise ValueError("emmeans: the reference grid cannot be evaluated with the "
                             f"model's formula ({str(exc).splitlines()[0]})") from None
        self.X = np.asarray(X, dtype=float)
        # counts of the data rows in each grid row's factor combination
        if self.factors:
            shape = [len(factors[n]) for n in self.factors]
            table = data.counts(self.factors, [factors[n] for n in self.factors])
            gcodes = [np.array([factors[n].index(v) for v in grid[n]]) for n in self.factors]
            self.counts = table[np.ravel_multi_index(gcodes, shape, order="F")].astype(float)
        else:
            self.counts = np.full(len(grid), float(data.n_rows))

    def marginal(self, facs, weights="equal"):
        """Linear functions of the marginal means of the ``facs`` cells.

        Returns ``(cells, L, notes)``: a DataFrame of the cells (first of ``facs``
        fastest), the matrix of their linear functions, and messages (empty cells).
        """
        for f in facs:
            if f not in self.levels:
                raise ValueError(f"emmeans: {f!r} is not a dimension of the reference grid "
                                 f"(factors {self.factors}; covariates are dimensions only "
                                 f"with several values in at=, e.g. at={{{f!r}: [8, 14]}})"
                                 if f not in self.covariates else
                                 f"emmeans: covariate {f!r} takes one value on the grid; "
                                 f"give several in at= to use it in specs or by")
        if isinstance(weights, str):
            if weights not in WEIGHTS:
                raise ValueError(f"weights must be one of {', '.join(map(repr, WEIGHTS))} "
                                 f"or a vector of numbers, got {weights!r}")
        dims = list(self.levels)
        shape = [len(self.levels[d]) for d in dims]
        idx = np.arange(len(self.grid)).reshape(shape[::-1]).transpose() if dims \
            else np.arange(1)
        use = [dims.index(f) for f in facs]
        avg = [i for i in range(len(dims)) if i not in use and shape[i] > 1]
        rest = [i for i in range(len(dims)) if i not in use and shape[i] == 1]
        # rows of the grid per cell: array (cells..., averaged...)
        arr = np.transpose(idx, use + avg + rest) if dims else idx
        arr = arr.reshape([shape[i] for i in use] + [int(np.prod([shape[i] for i in avg]))])
        cnt = self.counts
        notes = []
        n_avg = arr.shape[-1]
        ash = [shape[i] for i in avg]
        if isinstance(weights, str):
            if weights == "equal":
                wavg = np.ones(n_avg)
            elif weights in ("proportional", "outer"):
                ftbl = cnt[arr.reshape(-1, n_avg)].sum(axis=0)
                if weights == "outer":
                    T = ftbl.reshape(ash)
                    N = T.sum()
                    w = np.array(N)
                    for d in range(T.ndim):
                        other = tuple(j for j in range(T.ndim) if j != d)
                        w = np.multiply.outer(w, T.sum(axis=other) / N)
                    wavg = np.asarray(w, dtype=float).reshape(-1)
                else:
                    wavg = ftbl
            else:
                wavg = None
        else:
            wavg = np.asarray(weights, dtype=float).ravel()
            if wavg.size != n_avg:
                raise ValueError(f"weights: need {n_avg} numbers (one per combination "
                                 f"averaged over, the first factor fastest), got {wavg.size}")
            wavg = wavg.reshape(ash, order="F").reshape(-1)
        cells_shape = arr.shape[:-1]
        n_cells = int(np.prod(cells_shape)) if cells_shape else 1
        # cells in emmeans order: first of facs fastest
        flat = arr.reshape(cells_shape + (n_avg,)) if cells_shape else arr[None, :]
        L = np.empty((n_cells, self.X.shape[1]))
        cell_idx = list(itertools.product(*[range(s) for s in reversed(cells_shape)]))
        for c, rev in enumerate(cell_idx):
            rows = flat[tuple(reversed(rev))] if cells_shape else flat[0]
            if wavg is None:
                w = cnt[rows] if weights == "cells" else (cnt[rows] > 0).astype(float)
            else:
                w = wavg
            tot = w.sum()
            if tot <= 1e-8:
                L[c] = np.nan
                continue
            L[c] = w @ self.X[rows] / tot
        if np.isnan(L).any():
            notes.append(f"weights={weights!r}: cells without data have no marginal mean (NaN)")
        cells = pd.DataFrame([tuple(reversed(rev)) for rev in cell_idx],
                             columns=list(facs)) if facs else pd.DataFrame(index=[0])
        for j, f in enumerate(facs):
            vals = [self.levels[f][i] for i in cells[f]]
            col = self.grid[f]
            cells[f] = (pd.Categorical(vals, categories=col.cat.categories)
                        if isinstance(col.dtype, pd.CategoricalDtype) else vals)
        if not facs:
            cells = pd.DataFrame({"1": ["overall"]})
        return cells, L, notes


def _fmt_level(v):
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else f"{float(v):.15g}"
    return str(v)


def level_labels(cells, pri, by=()):
    """emmeans' labels of the cells for contrasts: the levels of the primary variables
    joined by spaces, a numeric-looking variable's levels prefixed by its name
    (``visit8``), wrapped in parentheses when they contain ``- + / *``."""
    parts = []
    for f in pri:
        vals = [_fmt_level(v) for v in cells[f]]
        numeric = True
        for v in vals:
            try:
                float(v)
            except ValueError:
                numeric = False
                break
        parts.append([f + v for v in vals] if numeric else vals)
    labs = [" ".join(p) for p in zip(*parts)] if parts else ["overall"] * len(cells)
    return [f"({lab})" if re.search(r"-|\+|/|\*", lab) else lab for lab in labs]


def _poly(k):
    """emmeans' ``poly.emmc``: orthogonal polynomials on 1..k scaled to integers."""
    x = np.arange(1, k + 1, dtype=float)
    deg = min(6, k - 1)
    V = np.vander(x - x.mean(), deg + 1, increasing=True)
    Q, _ = np.linalg.qr(V)
    M = Q[:, 1:deg + 1]
    out = []
    for j in range(deg):
        con = M[:, j] * np.sign(M[-1, j])
        pos = con > 0.01
        con = con / con[pos].min()
        z = np.max(np.abs(con - np.round(con)))
        while z > 0.05:
            con = con / z
            z = np.max(np.abs(con - np.round(con)))
        out.append(np.round(con))
    names = ["linear", "quadratic", "cubic", "quartic"] + [f"degree {d}" for d in range(5, 21)]
    return names[:deg], np.array(out)


def contrast_coefficients(method, labels, ref=0):
    """Contrast coefficients on ``k`` means as emmeans' ``.emmc`` functions.

    Returns ``(names, M, default_adjust, pairs)`` with ``M`` of shape ``(n, k)``.
    """
    k = len(labels)
    if isinstance(method, str):
        if method not in CONTRAST_METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, CONTRAST_METHODS))}, "
                             "a dict {name: coefficients} or a matrix (one row per "
                             f"contrast), got {method!r}")
        if k < 2 and method != "eff":
            raise ValueError(f"contrast {method!r} needs at least two means, got {k}")
        rows, names = [], []
        if method in ("pairwise", "revpairwise"):
            pairs = ([(i, j) for i in range(k) for j in range(i + 1, k)] if method == "pairwise"
                     else [(i, j) for i in range(1, k) for j in range(i)])
            return (*_differences(pairs, labels, k), "tukey", True)
        if method == "trt.vs.ctrl":
            r = _ref_index(ref, labels)
            return (*_differences([(i, r) for i in range(k) if i != r], labels, k),
                    "dunnettx", False)
        if method == "consec":
            return (*_differences([(i + 1, i) for i in range(k - 1)], labels, k), "mvt",
                    False)
        if method == "poly":
            names, M = _poly(k)
            return names, M, "none", False
        for i in range(k):                                  # eff
            c = np.full(k, -1.0 / k)
            c[i] += 1
            rows.append(c)
            names.append(f"{labels[i]} effect")
        return names, np.array(rows), "fdr", False
    if isinstance(method, dict):
        names = [str(n) for n in method]
        M = [np.asarray(v, dtype=float).ravel() for v in method.values()]
    elif isinstance(method, pd.DataFrame):
        names = [str(n) for n in method.index]
        M = list(method.to_numpy(dtype=float))
    else:
        try:
            M = np.atleast_2d(np.asarray(method, dtype=float))
        except (TypeError, ValueError):
            raise ValueError("method must be a contrast name, a dict {name: coefficients} "
                             "or a matrix (one row per contrast)") from None
        names = [f"c{i + 1}" for i in range(M.shape[0])]
        M = list(M)
    if not M or any(m.size != k for m in M):
        raise ValueError(f"custom contrasts need {k} coefficients each (one per mean: "
                         f"{labels}), got {[m.size for m in M]}")
    return names, np.array(M), "none", False


def _differences(pairs, labels, k):
    """Labels ``"a - b"`` (emmeans') and coefficient rows ``e_i - e_j`` of the pairs of
    means ``(i, j)``."""
    M = np.zeros((len(pairs), k))
    for r, (i, j) in enumerate(pairs):
        M[r, i], M[r, j] = 1.0, -1.0
    return [f"{labels[i]} - {labels[j]}" for i, j in pairs], M


def _ref_index(ref, labels):
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        if not 0 <= ref < len(labels):
            raise ValueError(f"ref must be a level index 0..{len(labels) - 1} or a label "
                             f"{labels}, got {ref}")
        return int(ref)
    if str(ref) in labels:
        return labels.index(str(ref))
    raise ValueError(f"ref must be a level index 0..{len(labels) - 1} or a label {labels}, "
                     f"got {ref!r}")


def containment_linfct_df(L, coef_df, n_outer, has_intercept):
    """emmeans' containment degrees of freedom of linear functions of an lme fit: the
    smallest of nlme's coefficient DFs over the coefficients a function involves
    (``|l_j| > 1e-4``), the intercept counting as the number of outermost groups - 1."""
    dfx = np.asarray(coef_df, dtype=float).copy()
    if has_intercept:
        dfx[0] = n_outer - 1
    out = np.full(L.shape[0], np.nan)
    for i, row in enumerate(L):
        if np.isnan(row).any():
            continue
        used = np.abs(row) > 1e-4
        if used.any():
            out[i] = dfx[used].min()
    return out


def nonestimable_basis(X, tol=1e-8):
    """Basis of the null space of X (columns): a linear function ``l`` is estimable when
    ``l @ basis`` is 0 (empty for a full-rank design)."""
    _, s, vt = np.linalg.svd(X, full_matrices=True)
    rank = int(np.sum(s > tol * s.max())) if s.size else 0
    return vt[rank:].T
