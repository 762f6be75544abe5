"""The "Random effects:" section of an lme summary, by covariance class, as nlme prints
it (``Structure: Compound Symmetry``, ``Composite Structure: Blocked`` with its blocks),
and crossed effects as lme4 prints their variance components."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..structures.random_effects import PdBlocked
from .summary import indent

__all__ = ["random_effects_lines", "groups_text"]

# a multiple-of-identity block with more columns than this is printed as one row
_MAX_ROWS = 12


def _fmt(v):
    return f"{v:.6g}"


def _sd_corr_table(D, names, with_corr):
    sd = np.sqrt(np.diag(D))
    tab = pd.DataFrame({"StdDev": sd}, index=names)
    if with_corr and len(names) > 1:
        corr = D / np.outer(sd, sd) if np.all(sd > 0) else np.eye(len(sd))
        for j, c in enumerate(names[:-1]):
            tab["Corr " + c] = [corr[i, j] if i > j else np.nan for i in range(len(names))]
    return tab


def _block_lines(pd_mat, D, names, formula, group):
    lines = [f" Formula: ~ {formula} | {group}"]
    if pd_mat.name != "pdSymm":
        lines.append(f" Structure: {pd_mat.description}")
    if pd_mat.name == "pdIdent" and len(names) > _MAX_ROWS:
        sd = np.sqrt(D[0, 0])
        lines.append(f"  StdDev: {_fmt(sd)}  (each of the {len(names)} random effects "
                     f"{names[0]}, ..., {names[-1]})")
        return lines
    tab = _sd_corr_table(D, names, pd_mat.name in ("pdSymm", "pdCompSymm"))
    lines.append(indent(tab.to_string(na_rep="", float_format=_fmt)))
    return lines


def _crossed_lines(lev, spec, D):
    """lme4's variance components: one row per term and effect."""
    rows = []
    c0 = 0
    for term, b in zip(spec.terms, lev.pd.blocks):
        k = b.block_q
        Dk = D[c0:c0 + k, c0:c0 + k]
        group = ":".join(term.factors)
        names = ([n.split("]:", 1)[-1] for n in lev.z_names[c0:c0 + k]] if term.within
                 else list(lev.z_names[c0:c0 + k]))
        if term.within and k == 1:
            names = ["(Intercept)" if term.rhs.strip() == "1" else term.rhs]
        sd = np.sqrt(np.diag(Dk))
        for i in range(k):
            corr = [Dk[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                    for j in range(i)]
            rows.append((group if i == 0 else "", names[i], sd[i],
                         " ".join(f"{c:.3f}" for c in corr)))
        c0 += b.q
    tab = pd.DataFrame(rows, columns=["Groups", "Name", "Std.Dev.", "Corr"])
    if not tab["Corr"].str.len().any():
        tab = tab.drop(columns="Corr")
    return [" Crossed random effects: " + " + ".join(f"({t.text})" for t in spec.terms),
            indent(tab.to_string(index=False, float_format=_fmt))]


def random_effects_lines(frame, k, D):
    """Summary lines of random-effects level ``k`` whose covariance is ``D``
    (``sigma^2 D~``, the user's design)."""
    lev, spec = frame.levels[k], frame.random_specs[k]
    D = np.asarray(D)
    if spec.terms is not None:
        return _crossed_lines(lev, spec, D)
    if not isinstance(lev.pd, PdBlocked):
        return _block_lines(lev.pd, D, list(lev.z_names), spec.formula, lev.name)
    lines = [" Composite Structure: Blocked"]
    blocks = spec.pd_spec.blocks if spec.pd_spec is not None else [None] * len(lev.pd.blocks)
    c0 = 0
    for i, (b, bspec) in enumerate(zip(lev.pd.blocks, blocks), start=1):
        names = list(lev.z_names[c0:c0 + b.q])
        shown = names if len(names) <= _MAX_ROWS else names[:2] + ["..."] + names[-1:]
        lines.append(f" Block {i}: {', '.join(shown)}")
        formula = bspec.formula if bspec is not None else " + ".join(names)
        lines += _block_lines(b, D[c0:c0 + b.q, c0:c0 + b.q], names, formula, lev.name)
        c0 += b.q
    return lines


def groups_text(frame):
    """nlme's "Number of Groups" (``Subject: 27``), with each crossed factor's levels
    as lme4 counts them (``plate: 24, sample: 6``)."""
    parts = []
    for lev, spec in zip(frame.levels, frame.random_specs):
        if spec.terms is None:
            parts.append(f"{lev.name}: {lev.n_groups}")
            continue
        if spec.common:
            parts.append(f"{lev.name}: {lev.n_groups}")
        for term, b in zip(spec.terms, lev.pd.blocks):
            if term.within:
                m = b.q // b.block_q
                parts.append(f"{':'.join(term.factors)}: {m}")
    return ", ".join(parts)
