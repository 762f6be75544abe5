"""Parsing of nlme-style one-sided formulas and random-effects specifications.

nlme writes structure formulas as ``~ covariate | stratum`` and random effects as
``~ x | g``, ``~ 1 | a/b`` or a named list of formulas.  These helpers turn such
strings into small records; evaluation of the covariate expressions is done with
patsy in the caller's namespace.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy

__all__ = ["StructForm", "parse_struct_form", "RandomLevel", "parse_random",
           "eval_covariate", "group_labels"]


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


def _strip_tilde(text, what):
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
    body = _strip_tilde(text, what)
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


@dataclass
class RandomLevel:
    """One grouping level of the random effects (outer levels come first).

    ``formula`` is the right-hand side of the random-effects formula for this level
    (e.g. ``"1"`` or ``"age"``); ``pd_class`` is ``"pdSymm"`` (general, nlme's
    pdLogChol), ``"pdDiag"`` or ``"pdIdent"``.
    """

    name: str
    formula: str = "1"
    pd_class: str = "pdSymm"
    # columns of the design are filled in by the model builder
    columns: list = field(default_factory=list)


_PD_RE = re.compile(r"^\s*(pdSymm|pdLogChol|pdDiag|pdIdent)\s*\(\s*(~.*)\)\s*$")


def _parse_level_rhs(spec, where):
    m = _PD_RE.match(spec)
    if m:
        pd_class = "pdSymm" if m.group(1) == "pdLogChol" else m.group(1)
        rhs = _strip_tilde(m.group(2), where)
    else:
        pd_class = "pdSymm"
        rhs = _strip_tilde(spec, where)
    if "|" in rhs:
        raise ValueError(f"{where}: {spec!r} must not contain '|' inside a named level")
    return (rhs or "1"), pd_class


def parse_random(random):
    """Parse nlme's ``random=`` argument into levels, outermost first.

    Accepted forms: ``"~ 1 | g"``, ``"~ x | g"``, ``"~ 1 | a/b"`` (same formula at
    every level), ``"pdDiag(~ x | g)"``-style strings are not nlme syntax; use a dict
    ``{"g": "pdDiag(~ x)"}`` or ``{"Dog": "~ day", "Side": "~ 1"}`` (outer first).
    """
    if random is None:
        return []
    if isinstance(random, dict):
        if not random:
            raise ValueError("random= is an empty dict")
        levels = []
        for name, spec in random.items():
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"random= has a bad grouping name {name!r}")
            rhs, pd_class = _parse_level_rhs(spec, f"random[{name!r}]")
            levels.append(RandomLevel(name.strip(), rhs, pd_class))
        return levels
    if not isinstance(random, str):
        raise TypeError(f"random= must be a string like '~ 1 | g' or a dict, got {type(random).__name__}")
    m = _PD_RE.match(random.split("|")[0] + ")") if "|" in random and random.strip().startswith("pd") else None
    pd_class = "pdSymm"
    text = random
    if m:
        # "pdDiag(~ x | g)"
        inner = re.match(r"^\s*(pd\w+)\s*\((.*)\)\s*$", random)
        pd_class = "pdSymm" if inner.group(1) == "pdLogChol" else inner.group(1)
        text = inner.group(2)
    try:
        form = parse_struct_form(text, "random=")
    except ValueError as exc:
        raise ValueError(f"random= {random!r} does not parse: {exc}") from None
    if not form.grouping:
        raise ValueError(f"random= {random!r} needs a grouping factor, e.g. '~ 1 | Subject'")
    if len(form.grouping) > 1 and not form.nested:
        raise ValueError(f"random= {random!r}: use '/' for nested grouping levels")
    rhs = form.covariate or "1"
    return [RandomLevel(g, rhs, pd_class) for g in form.grouping]


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


def group_labels(data, names, what="grouping"):
    """String labels of the (interaction of the) columns ``names``, one per row.

    Nested groupings are labelled ``outer/inner`` as nlme does; this function joins
    with ``'/'``.  Raises ``KeyError`` naming a missing column.
    """
    cols = []
    for n in names:
        if n not in data.columns:
            raise KeyError(f"{what}: unknown column {n!r}")
        cols.append(data[n].astype(str).to_numpy())
    out = cols[0].astype(object)
    for c in cols[1:]:
        out = out + "/" + c.astype(object)
    return out
