"""Where a small fit's time goes: lmmext's phases against the time nlme's ratio target
leaves, and what the Python formula and model stack costs on the same data.

    python -m benchmarks.overhead --shape regular --size 1000 --cases a b c \
        --nlme results.jsonl

Per case, medians of ``--repeat`` warm fits (after two discarded ones) of the four
phases of ``lme()``/``gls()``: the model frame (formula, ordering, design matrices,
structures), statsmodels' model object, the optimization, the results object.  The
reference rows time, on the same data, patsy's ``dmatrices`` of the fixed-effects
formula (what statsmodels' ``from_formula`` runs first) and statsmodels' ``MixedLM``
constructor on the resulting arrays.  With ``--nlme`` (JSON lines of
``python -m benchmarks.run``) each case also shows nlme's seconds and the budget
``nlme / 20`` that the issue's ratio target leaves for the whole call.  Not part of the
test suite.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import time
import warnings

import numpy as np
import patsy

import lmmext.model as door
from benchmarks.run import FIXED, FIXED_NESTED, lmmext_fit, shape_data

_PHASES = ("frame", "model", "fit", "results")


@contextlib.contextmanager
def _phase_timers(seconds):
    """Time the phases of the nlme door by wrapping the names ``lme()``/``gls()`` call
    (restored on exit)."""
    def timer(phase, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[phase].append(time.perf_counter() - t0)
        return timed

    saved = {name: getattr(door, name) for name in
             ("build_frame", "fit_frame", "LMEResults", "GLSResults")}
    from_frame = door.MixedLM.__dict__["_from_frame"]
    gls_init = door.GLS.__init__
    try:
        door.build_frame = timer("frame", saved["build_frame"])
        door.fit_frame = timer("fit", saved["fit_frame"])
        door.LMEResults = timer("results", saved["LMEResults"])
        door.GLSResults = timer("results", saved["GLSResults"])
        door.MixedLM._from_frame = classmethod(timer("model", from_frame.__func__))
        door.GLS.__init__ = timer("model", gls_init)
        yield
    finally:
        for name, fn in saved.items():
            setattr(door, name, fn)
        door.MixedLM._from_frame = from_frame
        door.GLS.__init__ = gls_init


def _median_ms(fn, repeat):
    times = []
    for _ in range(repeat + 2):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times[2:]))


def phases(case, d, repeat):
    """Median milliseconds of the whole call and of each phase."""
    seconds = {p: [] for p in _PHASES}
    per_fit = {p: [] for p in _PHASES}
    total = []
    with _phase_timers(seconds):
        for _ in range(repeat + 2):
            before = {p: len(seconds[p]) for p in _PHASES}
            t0 = time.perf_counter()
            lmmext_fit(case, d)
            total.append(time.perf_counter() - t0)
            for p in _PHASES:               # (a phase a model does not have counts zero)
                per_fit[p].append(sum(seconds[p][before[p]:]))
    out = {"whole call": 1e3 * float(np.median(total[2:]))}
    out.update({p: 1e3 * float(np.median(per_fit[p][2:])) for p in _PHASES})
    return out


def references(shape, d, repeat):
    """Milliseconds of patsy's ``dmatrices`` and of statsmodels' ``MixedLM``
    constructor on the same data."""
    from statsmodels.regression.mixed_linear_model import MixedLM
    fixed = FIXED_NESTED if shape in ("nested", "nested3") else FIXED
    fixed = "logSize ~ days" if shape == "spruce" else fixed
    group = "Tree" if shape == "spruce" else "subject"
    y, X = patsy.dmatrices(fixed, d, return_type="dataframe")
    g = d[group].to_numpy()
    return {"patsy dmatrices": _median_ms(lambda: patsy.dmatrices(fixed, d), repeat),
            "statsmodels MixedLM(arrays)": _median_ms(lambda: MixedLM(y, X, groups=g),
                                                      repeat)}


def _nlme_seconds(path, shape, G):
    out = {}
    if path:
        for line in open(path):
            row = json.loads(line)
            if row["shape"] == shape and (shape == "spruce" or row["G"] == G):
                if row.get("nlme s") is not None:
                    out[row["case"]] = row["nlme s"]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.overhead")
    ap.add_argument("--shape", default="regular")
    ap.add_argument("--size", type=int, default=1000, help="number of subjects G")
    ap.add_argument("--cases", nargs="+", default=["a"])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--nlme", default=None,
                    help="JSON lines of benchmarks.run with nlme's seconds")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    d = shape_data(args.shape, args.size)
    nlme = _nlme_seconds(args.nlme, args.shape, args.size)
    ref = references(args.shape, d, args.repeat)
    print(f"{args.shape}, G = {args.size:,}, {len(d):,} rows; medians of {args.repeat} "
          "warm fits, ms\n")
    cols = ["whole call", *_PHASES]
    print("| case | " + " | ".join(cols) + " | nlme | nlme / 20 |")
    print("|---" * (len(cols) + 3) + "|")
    for case in args.cases:
        ms = phases(case, d, args.repeat)
        n = nlme.get(case)
        tail = f"{1e3 * n:.0f} | {50 * n:.1f}" if n is not None else " | "
        print(f"| {case} | " + " | ".join(f"{ms[c]:.1f}" for c in cols) + f" | {tail} |")
    print("\n" + "; ".join(f"{k}: {v:.1f} ms" for k, v in ref.items()) + "\n")


if __name__ == "__main__":
    main()
