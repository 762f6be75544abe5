"""R's formula spellings in patsy: the one place every formula of a model passes through
before patsy or the structures evaluate it (:func:`lmmext.frame.build_frame` calls
:func:`r_formula` on the fixed formula, the random-effects formulas and the structures'
covariates; statsmodels' door on its formulas too).

* ``^`` is R's power: ``I(x^2)`` becomes ``I(x**2)`` (Python's power inside ``I()``) and
  ``(a + b)^2`` becomes ``(a + b)**2`` (patsy's interaction power, R's ``^`` between
  terms).  Inside other function calls (``np.log(x ^ 2)``) the text is Python and is
  left alone.
* Columns whose names Python cannot evaluate -- dotted names such as ``IQ.ver.cen`` and
  keywords such as ``yield`` -- are quoted as ``Q("IQ.ver.cen")``.
* R's contrast names ``contr.treatment``, ``contr.sum``, ``contr.helmert``,
  ``contr.poly`` and ``contr.SAS`` written in a formula (``C(f, contr.sum)``) become
  patsy's ``Treatment``, ``Sum``, ``Helmert``, ``Poly`` and ``Treatment(reference=-1)``.
* ``contrasts={"f": "contr.helmert"}`` (nlme's ``contrasts = list(f = "contr.helmert")``)
  wraps every term-level use of ``f`` as ``C(f, Helmert)``.  patsy's matrices are R's,
  column for column (``Helmert``/``contr.helmert`` unscaled, ``Poly``/``contr.poly``
  orthonormal on the scores 1..n, ``Sum``/``contr.sum`` omitting the last level), so the
  estimates and the REML log-likelihood are R's; the coefficients keep patsy's names.
"""
from __future__ import annotations

import keyword
import re

import numpy as np
import patsy
import patsy.builtins
import patsy.contrasts

__all__ = ["r_formula", "R_CONTRASTS", "contrast_spec", "structure_namespace"]

#: R's contrast functions and patsy's spelling of the same coding
R_CONTRASTS = {
    "contr.treatment": "Treatment",
    "contr.sum": "Sum",
    "contr.helmert": "Helmert",
    "contr.poly": "Poly",
    "contr.SAS": "Treatment(reference=-1)",
}
_PATSY_NAMES = ("Treatment", "Sum", "Helmert", "Poly", "Diff")
_PATSY_CLASSES = (patsy.contrasts.Treatment, patsy.contrasts.Sum, patsy.contrasts.Helmert,
                  patsy.contrasts.Poly, patsy.contrasts.Diff)

_LEX = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>\d[\d.]*(?:[eE][+-]?\d+)?[jJ]?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
  | (?P<caret>\^)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


def _accepted_contrasts():
    return (f"R's names {list(R_CONTRASTS)}, patsy's names {list(_PATSY_NAMES)} "
            "or a patsy contrast object (e.g. Treatment(reference='b'), a ContrastMatrix)")


def contrast_spec(value, column):
    """The patsy text of a ``contrasts=`` value, or ``None`` when the value is an object
    that must be passed through the namespace.

    Raises
    ------
    ValueError
        For a name that is neither R's nor patsy's.
    """
    if isinstance(value, str):
        name = value.strip()
        if name in R_CONTRASTS:
            return R_CONTRASTS[name]
        if name in _PATSY_NAMES:
            return name
        raise ValueError(f"contrasts= for {column!r}: unknown contrast {value!r}; accepted: "
                         + _accepted_contrasts())
    if isinstance(value, _PATSY_CLASSES):
        # patsy's own spelling, so the coefficient names read C(f, Treatment(reference='b'))
        arg = {patsy.contrasts.Treatment: "reference", patsy.contrasts.Sum: "omit",
               patsy.contrasts.Poly: "scores"}.get(type(value))
        arg_value = getattr(value, arg, None) if arg else None
        if arg_value is None:
            return type(value).__name__
        if isinstance(arg_value, (str, int, float)) and not isinstance(arg_value, bool):
            return f"{type(value).__name__}({arg}={arg_value!r})"
        return None
    if isinstance(value, (patsy.ContrastMatrix, np.ndarray, list)) or \
            hasattr(value, "code_without_intercept"):
        return None
    raise TypeError(f"contrasts= for {column!r} must be a name or a contrast object, got "
                    f"{type(value).__name__}; accepted: " + _accepted_contrasts())


def _check_contrasts(contrasts, columns):
    if contrasts is None:
        return {}
    if not isinstance(contrasts, dict):
        raise TypeError("contrasts= must be a dict {column: contrast} (nlme's contrasts = "
                        f"list(f = \"contr.helmert\")), got {type(contrasts).__name__}; "
                        "accepted contrasts: " + _accepted_contrasts())
    unknown = [c for c in contrasts if c not in columns]
    if unknown:
        raise KeyError(f"contrasts= names column(s) {unknown} that are not in the data")
    return contrasts


def r_formula(formula, columns, contrasts=None, what="formula"):
    """Translate R's spellings in ``formula`` (see the module docstring).

    Parameters
    ----------
    formula : str
        A patsy formula or formula right-hand side (or a structure's covariate).
    columns : collection of str
        The data's column names.
    contrasts : dict, optional
        ``{column: contrast}``: R's or patsy's names, or patsy contrast objects.
    what : str
        The formula's role, for messages.

    Returns
    -------
    text : str
        The translated formula.
    namespace : dict
        Names the formula now refers to (contrast objects), for the evaluation
        environment.

    Raises
    ------
    ValueError
        A ``contrasts=`` column the formula does not use as a term, or an unknown
        contrast.
    """
    columns = set(columns)
    contrasts = _check_contrasts(contrasts, columns)
    specs, namespace = {}, {}
    for k, (col, value) in enumerate(contrasts.items()):
        text = contrast_spec(value, col)
        if text is None:
            text = f"_lmmext_contrast_{k}"
            namespace[text] = value
        specs[col] = text
    wrapped = set()
    out, stack = [], []          # stack: "I", "call" or "group" per open bracket
    tokens = list(_LEX.finditer(formula))
    for pos, m in enumerate(tokens):
        kind, tok = m.lastgroup, m.group()
        python = any(s != "group" for s in stack)          # inside a function call
        in_i = "I" in stack
        if kind == "open":
            prev = _previous(tokens, pos)
            if tok == "(" and prev is not None and prev.lastgroup == "name":
                stack.append("I" if prev.group() == "I" else "call")
            else:
                stack.append("group" if tok == "(" and not python else "call")
        elif kind == "close":
            if stack:
                stack.pop()
        elif kind == "caret" and (in_i or not python):
            tok = "**"
        elif kind == "name" and not _is_call(tokens, pos):
            quoted = tok in columns and ("." in tok or keyword.iskeyword(tok))
            if quoted:
                tok = f'Q("{tok}")'
            elif tok in R_CONTRASTS and tok not in columns:
                tok = R_CONTRASTS[tok]
            name = m.group()
            if name in specs and not python:
                tok = f"C({tok}, {specs[name]})"
                wrapped.add(name)
        out.append(tok)
    missing = [c for c in specs if c not in wrapped]
    if missing:
        raise ValueError(f"contrasts= names {missing}, which the {what} {formula!r} does not "
                         "use as a term: write the column as a bare name in the formula "
                         "(e.g. 'y ~ f', not inside a function call)")
    return "".join(out), namespace


def _previous(tokens, pos):
    for m in reversed(tokens[:pos]):
        if not m.group().isspace():
            return m
    return None


def _is_call(tokens, pos):
    for m in tokens[pos + 1:]:
        if not m.group().isspace():
            return m.group() == "("
    return False


def structure_namespace():
    """patsy's builtins (``I``, ``Q``, ``C``, the contrasts) for evaluating the
    structures' covariates the way patsy evaluates formulas."""
    return {name: getattr(patsy.builtins, name) for name in patsy.builtins.__all__}
