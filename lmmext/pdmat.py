"""nlme's random-effects covariance classes as the user writes them: ``pdSymm(~ x)``,
``pdDiag``, ``pdIdent``, ``pdCompSymm``, ``pdLogChol`` and ``pdBlocked([...])``, as
objects or as nlme's strings (``"pdCompSymm(~ Variety - 1)"``,
``"pdBlocked(list(pdIdent(~ 1), pdIdent(~ sample - 1)))"``).

A specification holds the class's name and formula; the model builder evaluates the
formula on the data and creates the engine's covariance class
(:mod:`lmmext.structures.random_effects`).
"""
from __future__ import annotations

import re

from .structures.form import strip_tilde

__all__ = ["PdSpec", "pdSymm", "pdLogChol", "pdDiag", "pdIdent", "pdCompSymm", "pdBlocked",
           "parse_pd_string", "PD_CLASSES"]

PD_CLASSES = ("pdSymm", "pdLogChol", "pdDiag", "pdIdent", "pdCompSymm", "pdBlocked")
_ACCEPTED = ("pdSymm(~ x), pdLogChol(~ x), pdDiag(~ x), pdIdent(~ x), pdCompSymm(~ x - 1) "
             "or pdBlocked([pdIdent(~ 1), pdIdent(~ f - 1)]) (objects from lmmext, or "
             "the same as strings, nlme's list(...) included)")


class PdSpec:
    """A random-effects covariance class and its one-sided formula (``pd_class`` one of
    ``pdSymm``, ``pdDiag``, ``pdIdent``, ``pdCompSymm``; or ``pdBlocked`` with
    ``blocks``).  ``formula`` may carry a grouping, ``"~ x | g"``, as nlme's
    ``pdDiag(~ x | g)``; ``grouping`` then names it."""

    def __init__(self, pd_class, formula="~ 1", blocks=None):
        self.pd_class = "pdSymm" if pd_class == "pdLogChol" else pd_class
        self.blocks = blocks
        self.grouping = None
        if blocks is not None:
            self.formula = " + ".join(b.formula for b in blocks)
            return
        rhs = strip_tilde(formula, f"{pd_class}()")
        if "|" in rhs:
            rhs, grouping = (t.strip() for t in rhs.split("|", 1))
            self.grouping = grouping
        self.formula = rhs or "1"

    def __repr__(self):
        if self.blocks is not None:
            return f"pdBlocked([{', '.join(map(repr, self.blocks))}])"
        g = f" | {self.grouping}" if self.grouping else ""
        return f"{self.pd_class}(~ {self.formula}{g})"

    def __eq__(self, other):
        return isinstance(other, PdSpec) and repr(self) == repr(other)


def _simple(name):
    def make(formula="~ 1"):
        return PdSpec(name, formula)
    make.__name__ = make.__qualname__ = name
    make.__doc__ = (f"nlme's ``{name}(formula)``: the random effects of ``formula`` "
                    f"(``'~ x'``) with {_DESCRIPTIONS[name]} covariance.\n\n"
                    f"Use as ``random={{'g': lmmext.{name}('~ x')}}``.")
    return make


_DESCRIPTIONS = {"pdSymm": "a general positive-definite",
                 "pdLogChol": "a general positive-definite (log-Cholesky parameterized)",
                 "pdDiag": "a diagonal", "pdIdent": "a multiple-of-identity",
                 "pdCompSymm": "a compound-symmetry"}
pdSymm = _simple("pdSymm")
pdLogChol = _simple("pdLogChol")
pdDiag = _simple("pdDiag")
pdIdent = _simple("pdIdent")
pdCompSymm = _simple("pdCompSymm")


def pdBlocked(blocks):
    """nlme's ``pdBlocked(list(...))``: a block-diagonal covariance whose blocks are
    other classes, e.g. ``pdBlocked([pdIdent("~ 1"), pdIdent("~ sample - 1"),
    pdIdent("~ dilut - 1")])`` (nlme's Assay model).  Blocks may be class objects or
    strings; they may not be blocked themselves."""
    if isinstance(blocks, (str, PdSpec)) or not hasattr(blocks, "__iter__"):
        raise TypeError(f"pdBlocked takes a list of classes, e.g. [pdIdent('~ 1'), "
                        f"pdIdent('~ f - 1')], got {blocks!r}")
    out = []
    for b in blocks:
        b = parse_pd_string(b) if isinstance(b, str) else b
        if not isinstance(b, PdSpec):
            raise TypeError(f"pdBlocked: each block must be one of {_ACCEPTED}; got {b!r}")
        if b.blocks is not None:
            raise ValueError("pdBlocked: a block cannot itself be blocked")
        if b.grouping:
            raise ValueError(f"pdBlocked: block {b!r} must not have a grouping ('|')")
        out.append(b)
    if not out:
        raise ValueError("pdBlocked needs at least one block")
    return PdSpec("pdBlocked", blocks=out)


_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\((.*)\)\s*$", re.S)


def _split_top(text):
    """Split on commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def is_pd_string(text):
    """Whether ``text`` is written as a covariance-class call ``pd...(...)``."""
    m = _CALL.match(text) if isinstance(text, str) else None
    return bool(m and m.group(1).startswith("pd"))


def parse_pd_string(text):
    """nlme's spelling of a covariance class, e.g. ``"pdCompSymm(~ Variety - 1)"`` or
    ``"pdBlocked(list(pdIdent(~ 1), pdIdent(~ sample - 1)))"``, as a :class:`PdSpec`."""
    if isinstance(text, PdSpec):
        return text
    m = _CALL.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{text!r} is not a random-effects class; use one of {_ACCEPTED}")
    name, arg = m.group(1), m.group(2).strip()
    if name not in PD_CLASSES:
        raise ValueError(f"unsupported random-effects class {name!r} in {text!r}; "
                         f"use one of {_ACCEPTED}")
    if name == "pdBlocked":
        inner = re.match(r"^(?:list\s*\((.*)\)|\[(.*)\])$", arg, re.S)
        if not inner:
            raise ValueError(f"pdBlocked in {text!r} takes a list of classes: "
                             "'pdBlocked(list(pdIdent(~ 1), pdIdent(~ f - 1)))'")
        body = inner.group(1) if inner.group(1) is not None else inner.group(2)
        return pdBlocked([parse_pd_string(b) for b in _split_top(body)])
    if not arg.startswith("~"):
        raise ValueError(f"{name} in {text!r} takes a one-sided formula, e.g. "
                         f"'{name}(~ x)'")
    return PdSpec(name, arg)
