"""nlme's ``getVarCov``: the covariance matrices of an lme or gls fit.

* lme (``getVarCov.lme``): ``"random.effects"`` is ``D``, the covariance of the random
  effects of the grouping level; ``"conditional"`` is the residual covariance of an
  individual (group), ``sigma^2 Lambda_i = sigma^2 W_i^-1 C_i W_i^-1`` with the variance
  function's weights ``W_i`` and the correlation structure's ``C_i``; ``"marginal"`` adds
  ``Z_i D Z_i'``.  nlme refuses fits with more than one grouping level.
* gls (``getVarCov.gls``): the marginal covariance of one correlation group.

Rows of an individual's matrix are its rows in the data's order (nlme's order within a
group: the fit sorts the data by group, stably).  The results print as nlme's
``print.VarCov``.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ..inference.robust import residual_cov

__all__ = ["VarCovMatrix", "VarCovList", "getVarCov", "get_var_cov", "lme_var_cov",
           "gls_var_cov", "door_var_cov", "TYPES"]

TYPES = ("random.effects", "conditional", "marginal")
_TITLES = {"random.effects": "Random effects", "conditional": "Conditional",
           "marginal": "Marginal"}


# --- the results -----------------------------------------------------------------------
class VarCovMatrix(pd.DataFrame):
    """One covariance matrix of :func:`getVarCov`: a DataFrame that prints as nlme.

    Attributes
    ----------
    vc_type : {"random.effects", "conditional", "marginal"}
        Which covariance it is (nlme's class ``c(type, "VarCov")``).
    """

    _metadata = ["vc_type", "_unnamed"]

    @property
    def _constructor(self):
        return pd.DataFrame        # derived frames are plain DataFrames

    @classmethod
    def _make(cls, values, labels, vc_type, unnamed=False):
        out = cls(np.asarray(values, dtype=float), index=labels, columns=labels)
        out.vc_type = vc_type
        out._unnamed = unnamed
        return out

    @property
    def stdevs(self):
        """Square roots of the diagonal (nlme's printed "Standard Deviations")."""
        return pd.Series(np.sqrt(np.diag(self.to_numpy())), index=self.index, name="sd")

    def to_text(self, corr=False, stdevs=True, digits=5):
        """nlme's ``print(x, corr = , stdevs = , digits = )`` as a string.

        Parameters
        ----------
        corr : bool
            Print the correlation matrix instead of the covariance matrix.
        stdevs : bool
            Print the standard deviations below the matrix.
        digits : int
            Significant digits (nlme's default 5).

        Returns
        -------
        str
        """
        return _matrix_text(self, self.vc_type, corr, stdevs, digits)

    def __repr__(self):
        return self.to_text()

    __str__ = __repr__


class VarCovList(dict):
    """The per-individual matrices of :func:`getVarCov` (``"conditional"`` or
    ``"marginal"`` of an lme fit): a dict ``label -> VarCovMatrix`` that prints as nlme's
    list of ``VarCov`` matrices.

    Attributes
    ----------
    vc_type : {"conditional", "marginal"}
    group_levels : list of str
        The grouping factor (nlme's attribute ``group.levels``), printed before each label.
    """

    def __init__(self, matrices, vc_type, group_levels):
        super().__init__(matrices)
        self.vc_type = vc_type
        self.group_levels = list(group_levels)

    def to_text(self, corr=False, stdevs=True, digits=5):
        """nlme's ``print(x, corr = , stdevs = , digits = )`` as a string (see
        :meth:`VarCovMatrix.to_text`)."""
        parts = []
        for label, m in self.items():
            parts.append(" ".join([*self.group_levels, str(label)]))
            parts.append(_matrix_text(m, self.vc_type, corr, stdevs, digits))
        return "\n".join(parts)

    def __repr__(self):
        return self.to_text()

    __str__ = __repr__


# --- nlme's printing (print.VarCov, R's print of a matrix) ------------------------------
def _format_numbers(values, digits):
    """R's common format of a column of numbers rounded to ``digits`` significant digits
    (fixed unless scientific notation is narrower), as strings."""
    vals = np.asarray(values, dtype=float) + 0.0          # no negative zeros
    finite = vals[np.isfinite(vals)]
    nsig, expo = [], []
    for v in finite:
        if v == 0:
            nsig.append(1)
            expo.append(0)
            continue
        mant, e = f"{abs(v):.{digits - 1}e}".split("e")
        nsig.append(max(1, len(mant.replace(".", "").rstrip("0"))))
        expo.append(int(e))
    if not nsig:
        return [str(v) for v in vals]
    nsig, expo = np.array(nsig), np.array(expo)
    neg = int(np.any(finite < 0))
    rgt = int(max(0, np.max(nsig - 1 - expo)))
    left = int(np.max(np.maximum(1, expo + 1)))
    w_fixed = neg + left + (rgt > 0) + rgt
    mxsl = int(np.max(nsig))
    w_sci = neg + mxsl + (mxsl > 1) + (5 if np.any(np.abs(expo) >= 100) else 4)
    out = []
    for v in vals:
        if not np.isfinite(v):
            out.append("NaN" if np.isnan(v) else ("Inf" if v > 0 else "-Inf"))
        elif w_fixed <= w_sci:
            out.append(f"{float(f'{v:.{digits - 1}e}'):.{rgt}f}")
        else:
            out.append(f"{v:.{mxsl - 1}e}")
    return out


def _matrix_text(m, vc_type, corr, stdevs, digits, width=80):
    x = np.asarray(m, dtype=float)
    sds = np.sqrt(np.diag(x))
    lines = [f"{_TITLES[vc_type]} " + ("correlation matrix" if corr
                                      else "variance covariance matrix")]
    if corr:
        x = x / np.outer(sds, sds)
    cols = [_format_numbers(x[:, j], digits) for j in range(x.shape[1])]
    if getattr(m, "_unnamed", False):
        rows = [f"[{i + 1},]" for i in range(x.shape[0])]
        heads = [f"[,{j + 1}]" for j in range(x.shape[1])]
        rw = max(len(r) for r in rows)
        rows = [r.rjust(rw) for r in rows]
    else:
        rows = [str(r) for r in m.index]
        heads = [str(c) for c in m.columns]
        rw = max(len(r) for r in rows)
        rows = [r.ljust(rw) for r in rows]
    widths = [max(len(h), *(len(s) for s in c)) for h, c in zip(heads, cols)]
    start = 0
    while start < len(cols):             # R wraps the columns at the line width
        stop, used = start, rw
        while stop < len(cols) and (stop == start or used + 1 + widths[stop] < width):
            used += 1 + widths[stop]
            stop += 1
        js = range(start, stop)
        lines.append(" " * rw + "".join(" " + heads[j].rjust(widths[j]) for j in js))
        for i, r in enumerate(rows):
            lines.append(r + "".join(" " + cols[j][i].rjust(widths[j]) for j in js))
        start = stop
    if stdevs:
        lines.append("  Standard Deviations: "
                     + " ".join(_format_numbers([s], digits)[0] for s in sds))
    return "\n".join(lines)


# --- arguments --------------------------------------------------------------------------
def _match_type(type):
    """nlme's ``match.arg(type)``: a type name or a unique abbreviation of one."""
    if isinstance(type, str):
        hits = [t for t in TYPES if t.startswith(type)] if type else []
        if type in TYPES:
            return type
        if len(hits) == 1:
            return hits[0]
    raise ValueError(f"getVarCov: type must be one of 'random.effects', 'conditional', "
                     f"'marginal' (or a unique abbreviation), got {type!r}")


def _as_list(individuals):
    if isinstance(individuals, (str, numbers.Number)):
        return [individuals]
    if isinstance(individuals, (list, tuple, np.ndarray, pd.Index, pd.Series)):
        vals = list(np.asarray(individuals, dtype=object).ravel())
        if not vals:
            raise ValueError("getVarCov: individuals= is empty; give group labels or "
                             "1-based positions")
        return vals
    raise TypeError(f"getVarCov: individuals= must be a group label, a 1-based position, "
                    f"or a list of them, got {type(individuals).__name__}")


def _pick(value, labels, what, order_note):
    """Index into ``labels`` of a label (str) or a 1-based position (int), as nlme."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"getVarCov: {what} must be a group label or a 1-based position, "
                        f"got {value!r}")
    if isinstance(value, numbers.Integral):
        if not 1 <= value <= len(labels):
            raise ValueError(f"getVarCov: {what} position {value} is out of range: positions "
                             f"run from 1 to {len(labels)} ({order_note})")
        return int(value) - 1
    if isinstance(value, numbers.Number):
        raise TypeError(f"getVarCov: {what} must be a group label (str) or a 1-based "
                        f"integer position, got {value!r}")
    key = str(value)
    if key not in labels:
        shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
        raise ValueError(f"getVarCov: {what} {key!r} was not used in the fit; the groups "
                         f"are {shown} ({len(labels)} groups; or give 1-based positions)")
    return labels.index(key)


# --- the matrices -------------------------------------------------------------------------
def _residual_cov(fit, rows):
    """``sigma^2 W^-1 C W^-1`` of the engine-order rows ``rows`` (one group, contiguous):
    the variance function's weights and the correlation blocks inside the group."""
    sd = fit.sigma * np.exp(-np.asarray(fit._log_w)[rows])
    return residual_cov(fit.frame.corstruct, fit._theta_cor, sd, rows)


def _nlme_name(name):
    return "(Intercept)" if name == "Intercept" else name


def lme_var_cov(fit, individuals=None, type="random.effects"):
    """nlme's ``getVarCov.lme`` of an :class:`~lmmext.results.LMEResults`
    (see :meth:`LMEResults.getVarCov <lmmext.results.LMEResults.getVarCov>`)."""
    type = _match_type(type)
    frame = fit.frame
    if len(frame.levels) > 1:
        raise NotImplementedError(
            "getVarCov: not implemented for multiple levels of nesting (as nlme); this fit "
            f"has {len(frame.levels)} grouping levels "
            f"({'/'.join(lev.name for lev in frame.levels)}); use fit.re_sd for the "
            "random-effects covariances of every level")
    lev = frame.levels[0]
    D = fit._re_cov[0].to_numpy()
    if type == "random.effects":
        names = [_nlme_name(z) for z in lev.z_names]
        return VarCovMatrix._make(D, names, type)
    # nlme's individuals: the groups in order of first appearance in the data
    first = np.full(lev.n_groups, np.iinfo(np.int64).max)
    np.minimum.at(first, lev.codes, np.asarray(frame.order))
    groups = [lev.labels[g] for g in np.argsort(first, kind="stable")]
    wanted = [groups[0]] if individuals is None else [
        groups[_pick(v, groups, "individual",
                     f"the groups of {lev.name} in order of first appearance in the data")]
        for v in _as_list(individuals)]
    out = {}
    for label in wanted:
        g = lev.labels.index(label)
        rows = np.flatnonzero(lev.codes == g)
        V = _residual_cov(fit, rows)
        if type == "marginal":
            Z = lev.Z[rows]
            V = V + Z @ D @ Z.T
        out[label] = VarCovMatrix._make(V, pd.RangeIndex(1, len(rows) + 1), type)
    return VarCovList(out, type, [lev.name])


def gls_var_cov(fit, individual=1, type="marginal"):
    """nlme's ``getVarCov.gls`` of a :class:`~lmmext.results.GLSResults`
    (see :meth:`GLSResults.getVarCov <lmmext.results.GLSResults.getVarCov>`)."""
    if _match_type(type) != "marginal":
        raise ValueError(f"getVarCov: a gls fit has the marginal covariance only "
                         f"(type='marginal'), got type={type!r}")
    cs = fit.frame.corstruct
    if cs is None:
        raise NotImplementedError(
            "getVarCov: not implemented for uncorrelated errors (as nlme); this gls fit has "
            "no correlation structure, so its covariance is diagonal: sigma^2 / w_j^2 "
            "(fit.sigma and the variance weights)")
    if not cs.form.grouping:
        raise NotImplementedError(
            "getVarCov: not implemented for correlation structures without a grouping "
            "factor (as nlme); give the structure a group, e.g. CorAR1(form='~ 1 | g')")
    labels = [str(b) for b in cs.block_labels]
    if individual is None:
        individual = 1
    if isinstance(individual, (list, tuple, np.ndarray, pd.Index, pd.Series)):
        raise TypeError("getVarCov: a gls fit takes one individual= (a group label or a "
                        f"1-based position), got {individual!r}")
    b = _pick(individual, labels, "individual",
              "the groups of the correlation structure in level order")
    rows = np.flatnonzero(np.asarray(cs.row_blocks) == b)
    V = _residual_cov(fit, rows)
    return VarCovMatrix._make(V, pd.RangeIndex(1, len(rows) + 1), "marginal", unnamed=True)


def getVarCov(obj, individuals=None, type=None, individual=None):
    """nlme's ``getVarCov(obj, ...)``: covariance matrices of an lme or gls fit.

    Parameters
    ----------
    obj : LMEResults, GLSResults or a structured statsmodels-door results
        The fit (:func:`lmmext.lme`, :func:`lmmext.gls`, or :class:`lmmext.MixedLM` /
        :class:`lmmext.GLS` with a variance function or correlation structure).
    individuals : label, int or list, optional
        lme: the groups whose conditional or marginal matrices are wanted, as labels or
        1-based positions among the groups in order of first appearance in the data
        (nlme's ``individuals``); default the first group of the data.  gls: the same
        as ``individual``.
    type : {"random.effects", "conditional", "marginal"}, optional
        lme: default ``"random.effects"``.  gls: only ``"marginal"`` (the default).
    individual : label or int, optional
        gls: the correlation group (label, or 1-based position in level order; default
        1), as nlme's ``getVarCov.gls``.

    Returns
    -------
    VarCovMatrix or VarCovList
        See :meth:`LMEResults.getVarCov <lmmext.results.LMEResults.getVarCov>` and
        :meth:`GLSResults.getVarCov <lmmext.results.GLSResults.getVarCov>`.

    Raises
    ------
    TypeError
        ``obj`` is not an lmmext fit.
    """
    method = getattr(obj, "getVarCov", None)
    if method is None:
        raise TypeError(f"getVarCov needs a fit of lmmext.lme or lmmext.gls (or of "
                        f"lmmext.MixedLM/GLS with a variance function or correlation "
                        f"structure), got {_type_name(obj)}")
    inner = getattr(obj, "nlme", obj)
    if getattr(inner, "_is_gls", False):
        if individuals is not None and individual is not None:
            raise ValueError("getVarCov: give individual= or individuals=, not both")
        pick = individual if individual is not None else individuals
        return method(individual=1 if pick is None else pick,
                      type="marginal" if type is None else type)
    if individual is not None:
        if individuals is not None:
            raise ValueError("getVarCov: give individual= or individuals=, not both")
        individuals = individual
    return method(individuals=individuals,
                  type="random.effects" if type is None else type)


def _type_name(obj):
    return type(obj).__name__


get_var_cov = getVarCov


def door_var_cov(res, individuals=None, type=None, individual=None):
    """:func:`getVarCov` of a statsmodels-door results (its ``nlme`` computes): for
    ``MixedLM`` the individuals are the model's group labels (``random_effects`` keys)."""
    nlme = res.nlme
    if getattr(nlme, "_is_gls", False):
        return getVarCov(nlme, individuals, type, individual)
    if individual is not None:
        if individuals is not None:
            raise ValueError("getVarCov: give individual= or individuals=, not both")
        individuals = individual
    type = _match_type("random.effects" if type is None else type)
    if type == "random.effects":
        return nlme.getVarCov(type=type)
    keys = list(res.model.group_labels)
    by_str = {str(k): k for k in keys}
    wanted = None
    if individuals is not None:
        wanted = []
        for v in _as_list(individuals):
            if str(v) not in by_str or by_str[str(v)] != v:
                shown = ", ".join(map(str, keys[:8])) + (", ..." if len(keys) > 8 else "")
                raise ValueError(f"getVarCov: individual {v!r} is not a group of this model; "
                                 f"give group labels as random_effects keys them ({shown})")
            wanted.append(str(v))
    out = nlme.getVarCov(individuals=wanted, type=type)
    return VarCovList({by_str[k]: m for k, m in out.items()}, out.vc_type, out.group_levels)
