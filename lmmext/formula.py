"""The model's formulas beyond the fixed effects: nlme's ``random=`` specification
(``~ x | g``, nested ``~ 1 | a/b``, ``pdDiag(~ x)``, a dict per level), statsmodels'
``re_formula``, and the namespace formulas are evaluated in.

The structures' own ``~ covariate | g`` formulas are parsed by
:mod:`lmmext.structures.form`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import patsy

from .structures.form import parse_struct_form, strip_tilde

__all__ = ["RandomLevel", "parse_random", "eval_environment", "formula_rhs"]


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
        rhs = strip_tilde(m.group(2), where)
    else:
        pd_class = "pdSymm"
        rhs = strip_tilde(spec, where)
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



def eval_environment(eval_env):
    """The patsy namespace of a public constructor's ``eval_env=`` argument: an
    ``EvalEnvironment`` as given, or a frame depth counted from that constructor."""
    if isinstance(eval_env, patsy.EvalEnvironment):
        return eval_env
    # +2: this helper and the public function that called it
    return patsy.EvalEnvironment.capture(int(eval_env) + 2)


def formula_rhs(formula):
    """``"~ x"`` or ``"x"`` -> ``"x"`` (statsmodels' ``re_formula``)."""
    s = formula.strip()
    return s[1:].strip() if s.startswith("~") else s
