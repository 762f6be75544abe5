"""``mmrm()``: mixed models for repeated measures in the spelling of R's mmrm package.

``mmrm("FEV1 ~ ARMCD * AVISIT + us(AVISIT | USUBJID)", data)`` is a :func:`~lmmext.gls`
fit whose residual covariance is written as mmrm writes it; the covariance spellings
map onto lmmext's correlation structures and variance functions:

=================  =========  ==============================================================
mmrm               SAS TYPE=  lmmext (``v`` the visit position, ``s`` the subject)
=================  =========  ==============================================================
``us``             UN         ``CorSymm(form="~ v | s")`` + ``VarIdent(form="~ 1 | visit")``
``toep``           TOEP       ``CorToeplitz(form="~ v | s")``
``toeph``          TOEPH      ``CorToeplitz`` + ``VarIdent(form="~ 1 | visit")``
``ar1``            AR(1)      ``CorAR1(form="~ v | s")``
``ar1h``           ARH(1)     ``CorAR1`` + ``VarIdent(form="~ 1 | visit")``
``ad``             ANTE(1)*   ``CorAnte(form="~ v | s")`` (homogeneous variance)
``adh``            ANTE(1)    ``CorAnte`` + ``VarIdent(form="~ 1 | visit")``
``cs``             CS         ``CorCompSymm(form="~ v | s")``
``csh``            CSH        ``CorCompSymm`` + ``VarIdent(form="~ 1 | visit")``
``sp_exp``         SP(EXP)    ``CorExp(form="~ time | s")`` (``rho^d = exp(-d / range)``)
=================  =========  ==============================================================

``us(visit | arm / subject)`` gives every level of ``arm`` its own covariance matrix:
the correlation structure with ``group="arm"`` and the variance function by
``visit * arm`` (heterogeneous spellings) or by ``arm`` (homogeneous ones).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .formula import eval_environment
from .model import gls
from .results.fixed_effects import check_ddf
from .results.gls import GLSResults
from .structures import (CorAnte, CorAR1, CorCompSymm, CorExp, CorSymm, CorToeplitz,
                         VarIdent)

__all__ = ["mmrm", "MMRMResults", "COVARIANCES"]

#: mmrm's covariance spellings: (correlation class, heterogeneous variances by visit)
COVARIANCES = {
    "us": (CorSymm, True), "toep": (CorToeplitz, False), "toeph": (CorToeplitz, True),
    "ar1": (CorAR1, False), "ar1h": (CorAR1, True), "ad": (CorAnte, False),
    "adh": (CorAnte, True), "cs": (CorCompSymm, False), "csh": (CorCompSymm, True),
    "sp_exp": (CorExp, False),
}

_ACCEPTED = ("us(visit | subject), toep, toeph, ar1, ar1h, ad, adh, cs, csh (each with "
             "'visit | subject' or 'visit | group / subject'), or sp_exp(time | subject) "
             "with one or more numeric coordinates")
_VISITS = ("the visit must be a pandas Categorical (its category order is the visit order, "
           "positions 1..K) or integer-valued positions, unique within each subject")
_TERM = re.compile(r"\b(" + "|".join(sorted(COVARIANCES, key=len, reverse=True)) + r")\s*\(")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class MMRMResults(GLSResults):
    """Results of :func:`mmrm`: a :class:`~lmmext.results.GLSResults` whose tests
    default to mmrm's degrees of freedom.

    Everything of a gls fit works (``anova``, ``intervals``, ``vcov_robust``,
    ``coef_test``, ``getVarCov``, ``lmmext.emmeans``); ``summary``, ``anova``,
    ``fe_table`` and ``coef_df`` use :attr:`default_ddf` (the ``ddf=`` given to
    :func:`mmrm`, ``"kenward-roger"`` unless told otherwise) when called without ``ddf``.
    The attributes ``pvalues``, ``tvalues`` and ``df_resid_fe`` stay nlme's (``N - p``).

    Attributes
    ----------
    covariance : str
        The covariance term as written, e.g. ``"us(visit | Subject)"``.
    default_ddf : str
        The degrees of freedom the tests use by default.
    """

    covariance = None
    default_ddf = "kenward-roger"

    def _ddf(self, ddf):
        return self.default_ddf if ddf is None else ddf

    def summary(self, ddf=None):
        return super().summary(self._ddf(ddf))

    def anova(self, type="sequential", L=None, ddf=None, Terms=None):
        return super().anova(type=type, L=L, ddf=self._ddf(ddf), Terms=Terms)

    def fe_table(self, ddf=None):
        return super().fe_table(self._ddf(ddf))

    def coef_df(self, ddf=None):
        return super().coef_df(self._ddf(ddf))

    summary.__doc__ = GLSResults.summary.__doc__
    anova.__doc__ = GLSResults.anova.__doc__
    fe_table.__doc__ = GLSResults.fe_table.__doc__
    coef_df.__doc__ = GLSResults.coef_df.__doc__


def _split_term(formula, covariance):
    """``(fixed formula, covariance term)`` from a formula with an mmrm covariance term
    and/or ``covariance=``."""
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"mmrm: formula must be a string like 'y ~ arm * visit', got "
                         f"{formula!r}")
    lhs, rhs = formula.split("~", 1)
    m = _TERM.search(rhs)
    term = None
    if m:
        depth, end = 0, None
        for i in range(m.end() - 1, len(rhs)):
            depth += {"(": 1, ")": -1}.get(rhs[i], 0)
            if depth == 0:
                end = i + 1
                break
        if end is None:
            raise ValueError(f"mmrm: unbalanced parentheses in the covariance term of "
                             f"{formula!r}")
        term = rhs[m.start():end]
        rest = (rhs[:m.start()] + rhs[end:]).strip()
        rest = re.sub(r"\+\s*\+", "+", rest).strip().strip("+").strip()
        if _TERM.search(rest):
            raise ValueError(f"mmrm: the formula {formula!r} has more than one covariance term")
        rhs = rest or "1"
    if term is not None and covariance is not None:
        raise ValueError("mmrm: give the covariance either in the formula or as "
                         "covariance=, not both")
    if term is None:
        if covariance is None:
            raise ValueError(f"mmrm: no covariance term; add one to the formula or give "
                             f"covariance=: {_ACCEPTED}")
        if not isinstance(covariance, str):
            raise ValueError(f"mmrm: covariance must be a string such as "
                             f"'us(visit | subject)', got {covariance!r}")
        term = covariance.strip()
    return f"{lhs.strip()} ~ {rhs.strip()}", term


def _parse_term(term):
    """``(spelling, coordinates, group or None, subject)`` of ``us(visit | g / s)``."""
    m = re.fullmatch(r"\s*([A-Za-z_0-9]+)\s*\((.*)\)\s*", term, flags=re.S)
    if not m or m.group(1) not in COVARIANCES:
        raise ValueError(f"mmrm: unknown covariance {term!r}; accepted: {_ACCEPTED}")
    kind, body = m.group(1), m.group(2)
    if body.count("|") != 1:
        raise ValueError(f"mmrm: covariance {term!r} must read '{kind}(visit | subject)' "
                         f"or '{kind}(visit | group / subject)'")
    left, right = (p.strip() for p in body.split("|"))
    coords = [c.strip() for c in left.split(",")]
    grouping = [g.strip() for g in right.split("/")]
    if len(grouping) > 2 or not all(_NAME.match(n) for n in coords + grouping):
        raise ValueError(f"mmrm: covariance {term!r} must read '{kind}(visit | subject)' or "
                         f"'{kind}(visit | group / subject)' with column names")
    if kind != "sp_exp" and len(coords) != 1:
        raise ValueError(f"mmrm: {kind} takes one visit variable, got {left!r} (only sp_exp "
                         "takes several coordinates)")
    group = grouping[0] if len(grouping) == 2 else None
    return kind, coords, group, grouping[-1]


def _visit_positions(data, visit, subject, kind):
    """Integer positions 1..K of a Categorical visit, or the integer values given."""
    if visit not in data.columns:
        raise KeyError(f"mmrm: unknown visit column {visit!r}")
    col = data[visit]
    if isinstance(col.dtype, pd.CategoricalDtype):
        pos = col.cat.codes.to_numpy().astype(float) + 1.0
        pos[col.isna().to_numpy()] = np.nan
        return pos
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise ValueError(f"mmrm: visit {visit!r} has dtype {col.dtype}; {_VISITS} "
                         f"(e.g. data[{visit!r}] = pd.Categorical(data[{visit!r}], "
                         "categories=[...in visit order...]))")
    pos = col.to_numpy(dtype=float)
    bad = np.isfinite(pos) & (pos != np.round(pos))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"mmrm: {kind} needs integer visit positions; subject "
                         f"{data[subject].iloc[i]!r} has {visit} = {pos[i]:g}; {_VISITS} "
                         "(continuous times: sp_exp(time | subject))")
    return pos


def _check_unique(data, cols, subject, kind, shown=None):
    """A ValueError naming the first subject with two rows at the same ``cols``
    (reported by the columns ``shown``)."""
    shown = cols if shown is None else shown
    keys = data[[subject] + cols].dropna()
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        i = keys.index[np.argmax(dup)]
        at = ", ".join(f"{c} = {data.at[i, c]}" for c in shown)
        row = {subject: data.at[i, subject]}
        raise ValueError(f"mmrm: subject {row[subject]!r} has more than one row at {at}; "
                         f"{kind} needs visits unique within each subject "
                         f"({_VISITS if kind != 'sp_exp' else 'distinct times'})")


def _free_name(data, base):
    name = base
    while name in data.columns:
        name = "_" + name
    return name


def mmrm(formula, data, covariance=None, ddf="kenward-roger", reml=True, contrasts=None,
         missing="drop", eval_env=0):
    """Fit a mixed model for repeated measures, spelled as R's mmrm package.

    Parameters
    ----------
    formula : str
        ``"FEV1 ~ ARMCD * AVISIT + us(AVISIT | USUBJID)"``: the fixed effects and,
        optionally, the covariance term (else give ``covariance=``).
    data : pandas.DataFrame
    covariance : str, optional
        The covariance term when the formula has none: ``"us(AVISIT | USUBJID)"``,
        ``"toeph(AVISIT | ARMCD / USUBJID)"``, ``"sp_exp(time | USUBJID)"``; one of
        ``us``, ``toep``, ``toeph``, ``ar1``, ``ar1h``, ``ad``, ``adh``, ``cs``, ``csh``,
        ``sp_exp`` (see the table of :mod:`lmmext.mmrm`).  ``visit | group / subject``
        gives each level of ``group`` (a between-subject factor) its own covariance
        matrix (all parameters separate).
    ddf : {"kenward-roger", "satterthwaite", "containment"}
        The default degrees of freedom of the result's ``summary``, ``anova``,
        ``fe_table`` and ``coef_df`` (mmrm's ``method``).
    reml : bool
        REML (default) or ML.
    contrasts : dict, optional
        As :func:`~lmmext.gls`.
    missing : {"drop", "raise"}
        Rows with missing values in the columns the model uses are dropped (mmrm's
        default) or refused.
    eval_env : int or patsy.EvalEnvironment
        Namespace of the formula's functions: the caller's frame by default.

    Returns
    -------
    MMRMResults
        A gls result (:class:`~lmmext.results.GLSResults`) with ``covariance`` and
        ``default_ddf``.

    Raises
    ------
    ValueError
        An unknown or malformed covariance term, a visit that is neither a Categorical
        nor integer positions, a visit repeated within a subject, a group that varies
        within a subject, or a bad ``ddf``.
    KeyError
        A column of the covariance term missing from ``data``.

    Notes
    -----
    Visits: for every spelling but ``sp_exp`` the visit is a pandas Categorical, whose
    category order gives the positions 1..K (a subject's missing visits are gaps), or a
    numeric column of integer positions (``us`` and ``ad`` need them to be 1..K).  The
    correlation structures read the positions from a column ``<visit>_position`` added
    to a copy of the data.  ``sp_exp(time | s)`` is ``CorExp(form="~ time | s")``:
    mmrm's ``rho^d`` is reported as ``range = -1 / log(rho)`` (``rho = exp(-1 /
    range)``).

    Examples
    --------
    >>> import lmmext
    >>> fit = lmmext.mmrm("distance ~ Sex * visit + us(visit | Subject)", data=orth)  # doctest: +SKIP
    >>> fit.anova()                                           # doctest: +SKIP
    """
    ddf = check_ddf(ddf)
    if not isinstance(reml, (bool, np.bool_)):
        raise ValueError(f"mmrm: reml must be True or False, got {reml!r}")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"mmrm: data must be a pandas DataFrame, got {type(data).__name__}")
    fixed, term = _split_term(formula, covariance)
    kind, coords, group, subject = _parse_term(term)
    for c in coords + [subject] + ([group] if group else []):
        if c not in data.columns:
            raise KeyError(f"mmrm: unknown column {c!r} in the covariance term {term!r}")
    cls, hetero = COVARIANCES[kind]
    data = data.copy()
    if kind == "sp_exp":
        for c in coords:
            if not pd.api.types.is_numeric_dtype(data[c]):
                raise ValueError(f"mmrm: sp_exp coordinate {c!r} must be numeric, got "
                                 f"dtype {data[c].dtype}")
        _check_unique(data, coords, subject, kind)
        form = f"~ {' + '.join(coords)} | {subject}"
    else:
        visit = coords[0]
        pos_name = _free_name(data, f"{visit}_position")
        data[pos_name] = _visit_positions(data, visit, subject, kind)
        _check_unique(data, [pos_name], subject, kind, shown=[visit])
        form = f"~ {pos_name} | {subject}"
    correlation = cls(form=form, group=group)
    weights = None
    if hetero:
        weights = VarIdent(form=f"~ 1 | {coords[0]}" + (f" * {group}" if group else ""))
    elif group:
        weights = VarIdent(form=f"~ 1 | {group}")
    fit = gls(fixed, data=data, weights=weights, correlation=correlation,
              method="REML" if reml else "ML", missing=missing,
              eval_env=eval_environment(eval_env), contrasts=contrasts)
    fit.__class__ = MMRMResults
    fit.covariance = term
    fit.default_ddf = ddf
    return fit
