"""The model's formulas beyond the fixed effects: nlme's ``random=`` specification
(``~ x | g``, nested ``~ 1 | a/b``, covariance classes such as ``pdDiag(~ x)``, a dict
per level), lme4's crossed terms ``(1 | a) + (1 | b)``, statsmodels' ``re_formula``,
and the namespace formulas are evaluated in.

The structures' own ``~ covariate | g`` formulas are parsed by
:mod:`lmmext.structures.form`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import patsy

from .pdmat import PdSpec, is_pd_string, parse_pd_string
from .structures.form import parse_struct_form, strip_tilde

__all__ = ["RandomLevel", "CrossedTerm", "parse_random", "parse_lme4_terms",
           "is_lme4_spelling", "eval_environment", "formula_rhs"]


@dataclass
class RandomLevel:
    """One grouping level of the random effects (outer levels come first).

    ``formula`` is the right-hand side of the random-effects formula for this level
    (e.g. ``"1"`` or ``"age"``); ``pd_class`` is ``"pdSymm"`` (general, nlme's
    pdLogChol), ``"pdDiag"``, ``"pdIdent"``, ``"pdCompSymm"`` or ``"pdBlocked"``;
    ``pd_spec`` is the :class:`~lmmext.pdmat.PdSpec` when the user gave one.

    A level of crossed random effects (lme4's ``(1 | plate) + (1 | sample)``) has
    ``terms``: one :class:`CrossedTerm` per term; its groups are those of the factors
    all terms share (``common``; none: the whole data is one group), and its
    covariance is block diagonal, one block per term repeated over the term's levels.
    """

    name: str
    formula: str = "1"
    pd_class: str = "pdSymm"
    pd_spec: PdSpec = None
    terms: list = None
    common: tuple = ()
    # columns of the design are filled in by the model builder
    columns: list = field(default_factory=list)

    @property
    def grouping(self):
        """The data columns whose combinations are this level's groups."""
        return list(self.common) if self.terms is not None else [self.name]


@dataclass
class CrossedTerm:
    """One lme4 term ``(rhs | f1:f2)`` (``||``: uncorrelated effects) of a crossed
    level; ``within`` are its factors beyond the level's common ones."""

    rhs: str
    factors: tuple
    diag: bool = False
    within: tuple = ()

    @property
    def text(self):
        return f"{self.rhs} {'||' if self.diag else '|'} {':'.join(self.factors)}"


def _level_from_spec(name, spec, where):
    """A level from a covariance-class object or string, or a ``"~ x"`` formula."""
    if isinstance(spec, PdSpec) or is_pd_string(spec):
        pd_spec = parse_pd_string(spec)
        if pd_spec.grouping:
            raise ValueError(f"{where}: {pd_spec!r} must not contain '|' inside a named "
                             "level")
        return RandomLevel(name, pd_spec.formula, pd_spec.pd_class, pd_spec)
    if isinstance(spec, str) and spec.strip().startswith("pd"):
        parse_pd_string(spec)                      # raises, naming the accepted classes
    rhs = strip_tilde(spec, where)
    if "|" in rhs:
        raise ValueError(f"{where}: {spec!r} must not contain '|' inside a named level")
    return RandomLevel(name, rhs or "1")


def parse_random(random):
    """Parse the ``random=`` argument into levels, outermost first.

    Accepted forms: nlme's ``"~ 1 | g"``, ``"~ x | g"``, ``"~ 1 | a/b"`` (same formula at
    every level), ``"pdDiag(~ x | g)"``; a dict per level, outer first, whose values are
    formulas or covariance classes (``{"Dog": "~ day", "Side": "~ 1"}``,
    ``{"Block": pdCompSymm("~ Variety - 1")}``, ``{"Block": "pdBlocked(list(pdIdent(~ 1),
    pdIdent(~ sample - 1)))"}``); a class object with a grouping
    (``pdDiag("~ x | g")``); lme4's terms ``"(1 | plate) + (1 | sample)"``.
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
            levels.append(_level_from_spec(name.strip(), spec, f"random[{name!r}]"))
        return levels
    if isinstance(random, str) and is_lme4_spelling(random):
        return parse_lme4_terms(random)
    if isinstance(random, PdSpec) or (isinstance(random, str) and
                                      random.strip().startswith("pd")):
        pd_spec = parse_pd_string(random)
        if not pd_spec.grouping:
            raise ValueError(f"random= {pd_spec!r} needs a grouping: write "
                             f"{{'g': {pd_spec!r}}} or put '| g' inside the formula")
        groups = _parse_grouping(f"~ 1 | {pd_spec.grouping}", random)
        return [RandomLevel(g, pd_spec.formula, pd_spec.pd_class, pd_spec) for g in groups]
    if not isinstance(random, str):
        raise TypeError("random= must be a string like '~ 1 | g' or '(1 | a) + (1 | b)', a "
                        f"covariance class or a dict, got {type(random).__name__}")
    try:
        form = parse_struct_form(random, "random=")
    except ValueError as exc:
        raise ValueError(f"random= {random!r} does not parse: {exc}") from None
    groups = _parse_grouping(random, random)
    return [RandomLevel(g, form.covariate or "1") for g in groups]


def _parse_grouping(text, random):
    try:
        form = parse_struct_form(text, "random=")
    except ValueError as exc:
        raise ValueError(f"random= {random!r} does not parse: {exc}") from None
    if not form.grouping:
        raise ValueError(f"random= {random!r} needs a grouping factor, e.g. '~ 1 | Subject'")
    if len(form.grouping) > 1 and not form.nested:
        raise ValueError(f"random= {random!r}: use '/' for nested grouping levels")
    return list(form.grouping)


# -- lme4's spelling -----------------------------------------------------------------------
def is_lme4_spelling(text):
    """Whether ``text`` is written as lme4's random terms ``(x | g) + ...``."""
    s = text.strip().lstrip("~").strip()
    return s.startswith("(") and "|" in s


def _top_level_plus(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "+" and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def parse_lme4_terms(text):
    """lme4's ``"(1 | plate) + (x || sample) + (1 | a/b)"`` as levels: one level per
    term when the terms nest (``(1 | a) + (1 | a:b)`` is nlme's ``~ 1 | a/b``), else one
    crossed level (see :class:`RandomLevel`)."""
    accepted = ("lme4's terms '(1 | g)', '(x | g)', '(x || g)', '(1 | a:b)', '(1 | a/b)', "
                "joined by '+'")
    terms = []
    for piece in _top_level_plus(text.strip().lstrip("~").strip()):
        if not (piece.startswith("(") and piece.endswith(")")) or "|" not in piece:
            raise ValueError(f"random= {text!r}: {piece!r} is not a random term; use {accepted}")
        body = piece[1:-1]
        diag = "||" in body
        rhs, grp = (t.strip() for t in body.split("||" if diag else "|", 1))
        if not grp or not re.fullmatch(r"[A-Za-z_][\w.]*(\s*[:/]\s*[A-Za-z_][\w.]*)*", grp):
            raise ValueError(f"random= {text!r}: bad grouping {grp!r} in {piece!r}; use {accepted}")
        if "/" in grp:
            names = [g.strip() for g in grp.split("/")]
            terms += [CrossedTerm(rhs or "1", tuple(names[:i + 1]), diag)
                      for i in range(len(names))]
        else:
            terms.append(CrossedTerm(rhs or "1", tuple(g.strip() for g in grp.split(":")),
                                     diag))
    keys = [frozenset(t.factors) for t in terms]
    if len(set(keys)) < len(keys):
        raise ValueError(f"random= {text!r}: two terms have the same grouping; put their "
                         "effects in one term, e.g. '(1 + x | g)'")
    order = sorted(range(len(terms)), key=lambda i: len(keys[i]))
    chain = all(len(keys[order[i]]) == i + 1 and keys[order[i - 1]] < keys[order[i]]
                for i in range(1, len(order))) and len(keys[order[0]]) == 1
    pd_of = (lambda t: "pdDiag" if t.diag else "pdSymm")
    if chain:
        out, prev = [], frozenset()
        for i in order:
            t = terms[i]
            (new,) = keys[i] - prev
            out.append(RandomLevel(new, t.rhs, pd_of(t)))
            prev = keys[i]
        return out
    common = [f for f in terms[0].factors if all(f in k for k in keys)]
    for t in terms:
        t.within = tuple(f for f in t.factors if f not in common)
    name = ":".join(common) if common else "(crossed)"
    return [RandomLevel(name, " + ".join(t.rhs for t in terms), "pdBlocked", None, terms,
                        tuple(common))]


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
