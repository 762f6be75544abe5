"""Benchmark lmmext against nlme and lme4 (and statsmodels' MixedLM) in one run, on
several data shapes (benchmarks/generate.py) and on nlme's Spruce data.

    python -m benchmarks.run --sizes 1000 10000 50000 --repeat 3 --r-repeat 1

Cases of the longitudinal shapes (``regular``, ``realistic``, ``skewed``; fixed effects
``y ~ t*trt + sex + x``): (a) random intercept; (b) + ``VarIdent(~1|trt)``; (c) +
``VarIdent`` + ``CorAR1(~visit|subject)`` (positions with gaps where the data have them);
(d) random intercept and slope + ``VarIdent`` + ``CorAR1``; (e) gls with ``VarIdent`` +
``CorAR1``; (f) random intercept + ``CorCAR1(~t|subject)`` (continuous times);
(slope) random intercept and slope.  Nested shapes: (n) ``plot ~ 1, subject ~ t``, (nv)
+ ``VarIdent``; (m) ``~ 1 | region/farm/subject``, (mv) + ``VarIdent``.  ``mmrm``: (un)
gls ``CorSymm`` + ``VarIdent`` by visit (an unstructured covariance).  ``spruce``: (S)
nlme's Spruce, ``random = list(plot = ~1, Tree = ~I(days/100))``.

Per case: lmmext's first fit in a fresh process (imports excluded: what a user waits
for), the warm median of ``--repeat`` fits, the value-and-gradient evaluations and the
average-information passes, microseconds per row per pass, peak traced memory, and
nlme's and lme4's median seconds and logLik in the same run.  Ratios above 1 mean
lmmext is faster.  Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.generate import make_data

FIXED = "y ~ t*trt + sex + x"
FIXED_NESTED = "y ~ t*trt + x"
SPRUCE = Path(__file__).resolve().parent / "data" / "Spruce.csv"

CASES = {
    "regular": ["a", "b", "c", "d", "e", "f", "slope"],
    "realistic": ["a", "b", "c", "d", "e", "f", "slope"],
    "skewed": ["a", "b", "c", "d", "e", "f", "slope"],
    "nested": ["n", "nv"],
    "nested3": ["m", "mv"],
    "mmrm": ["un"],
    "spruce": ["S"],
}

_VI = "weights = varIdent(form = ~ 1 | trt)"
_AR = "correlation = corAR1(form = ~ visit | subject)"
R_MODELS = {
    "a": ("nlme", f"lme({FIXED}, data = d, random = ~ 1 | subject)"),
    "b": ("nlme", f"lme({FIXED}, data = d, random = ~ 1 | subject, {_VI})"),
    "c": ("nlme", f"lme({FIXED}, data = d, random = ~ 1 | subject, {_VI}, {_AR})"),
    "d": ("nlme", f"lme({FIXED}, data = d, random = ~ t | subject, {_VI}, {_AR})"),
    "e": ("nlme", f"gls({FIXED}, data = d, {_VI}, {_AR})"),
    "f": ("nlme", f"lme({FIXED}, data = d, random = ~ 1 | subject, "
                  "correlation = corCAR1(form = ~ t | subject))"),
    "slope": ("nlme", f"lme({FIXED}, data = d, random = ~ t | subject)"),
    "n": ("nlme", f"lme({FIXED_NESTED}, data = d, random = list(plot = ~ 1, subject = ~ t))"),
    "nv": ("nlme", f"lme({FIXED_NESTED}, data = d, random = list(plot = ~ 1, subject = ~ t), "
                   f"{_VI})"),
    "m": ("nlme", f"lme({FIXED_NESTED}, data = d, random = ~ 1 | region/farm/subject)"),
    "mv": ("nlme", f"lme({FIXED_NESTED}, data = d, random = ~ 1 | region/farm/subject, {_VI})"),
    "un": ("nlme", "gls(y ~ trt * AVISIT, data = d, correlation = corSymm(form = ~ visit | "
                   "subject), weights = varIdent(form = ~ 1 | AVISIT))"),
    "S": ("nlme", "lme(logSize ~ days, data = d, random = list(plot = ~ 1, Tree = ~ I(days/100)))"),
    "a4": ("lme4", f"lmer({FIXED} + (1 | subject), data = d)"),
    "slope4": ("lme4", f"lmer({FIXED} + (t | subject), data = d)"),
    "n4": ("lme4", f"lmer({FIXED_NESTED} + (1 | plot) + (t | plot:subject), data = d)"),
    "m4": ("lme4", f"lmer({FIXED_NESTED} + (1 | region) + (1 | region:farm) + "
                   "(1 | region:farm:subject), data = d)"),
    "S4": ("lme4", "lmer(logSize ~ days + (1 | plot) + (I(days/100) | plot:Tree), data = d)"),
}
LME4_TWIN = {"a": "a4", "slope": "slope4", "n": "n4", "m": "m4", "S": "S4"}


def lmmext_fit(case, d):
    """The lmmext fit of a benchmark case on the data ``d``."""
    import lmmext as L
    vi = L.VarIdent(form="~ 1 | trt")
    ar = L.CorAR1(form="~ visit | subject")
    calls = {
        "a": lambda: L.lme(FIXED, data=d, random="~ 1 | subject"),
        "b": lambda: L.lme(FIXED, data=d, random="~ 1 | subject", weights=vi),
        "c": lambda: L.lme(FIXED, data=d, random="~ 1 | subject", weights=vi, correlation=ar),
        "d": lambda: L.lme(FIXED, data=d, random="~ t | subject", weights=vi, correlation=ar),
        "e": lambda: L.gls(FIXED, data=d, weights=vi, correlation=ar),
        "f": lambda: L.lme(FIXED, data=d, random="~ 1 | subject",
                           correlation=L.CorCAR1(form="~ t | subject")),
        "slope": lambda: L.lme(FIXED, data=d, random="~ t | subject"),
        "n": lambda: L.lme(FIXED_NESTED, data=d, random={"plot": "~ 1", "subject": "~ t"}),
        "nv": lambda: L.lme(FIXED_NESTED, data=d, random={"plot": "~ 1", "subject": "~ t"},
                            weights=vi),
        "m": lambda: L.lme(FIXED_NESTED, data=d, random="~ 1 | region/farm/subject"),
        "mv": lambda: L.lme(FIXED_NESTED, data=d, random="~ 1 | region/farm/subject",
                            weights=vi),
        "un": lambda: L.gls("y ~ trt * AVISIT", data=d,
                            correlation=L.CorSymm(form="~ visit | subject"),
                            weights=L.VarIdent(form="~ 1 | AVISIT")),
        "S": lambda: L.lme("logSize ~ days", data=d,
                           random={"plot": "~ 1", "Tree": "~ I(days/100)"}),
    }
    if case not in calls:
        raise ValueError(f"unknown case {case!r}; cases: {sorted(calls)}")
    return calls[case]()


def statsmodels_fit(case, d):
    from statsmodels.regression.mixed_linear_model import MixedLM
    re = {"a": None, "slope": "~ t"}.get(case, "missing")
    if re == "missing":
        return None
    return MixedLM.from_formula(FIXED, data=d, groups="subject", re_formula=re).fit(reml=True)


def shape_data(shape, G):
    if shape == "spruce":
        d = pd.read_csv(SPRUCE)
        d["plot"] = d["plot"].astype(str)
        return d
    return make_data(G, shape)


def timed(fn, repeat):
    """Median seconds over ``repeat`` untraced runs, then the peak traced memory (MiB,
    numpy buffers included) of one more run: tracing would slow the timed runs."""
    times, res = [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = fn()
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return float(np.median(times)), peak / 2 ** 20, res


_FRESH = """
import pickle, sys, time, warnings
warnings.simplefilter("ignore")
import lmmext
from benchmarks.run import lmmext_fit
d = pickle.load(open(sys.argv[1], "rb"))
t0 = time.perf_counter()
lmmext_fit(sys.argv[2], d)
print(time.perf_counter() - t0)
"""


def first_fit(case, data_file):
    """Seconds of the first fit in a fresh Python process (imports and data loading
    excluded)."""
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(data_file), case],
                          capture_output=True, text=True, cwd=root)
    if proc.returncode != 0:
        return float("nan")
    return float(proc.stdout.strip().splitlines()[-1])


def r_fits(d, keys, repeat):
    """Median seconds and logLik per R model, or {} without Rscript."""
    if shutil.which("Rscript") is None or not keys:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        d.to_csv(csv, index=False)
        lines = ["suppressPackageStartupMessages({library(nlme); library(lme4); library(jsonlite)})",
                 f"d <- read.csv('{csv}', stringsAsFactors = TRUE)",
                 "for (v in intersect(c('subject', 'plot', 'Tree', 'region', 'farm'), names(d)))"
                 " d[[v]] <- factor(d[[v]])",
                 "if ('AVISIT' %in% names(d)) d$AVISIT <- factor(d$AVISIT, "
                 "levels = paste0('V', 1:6))",
                 "out <- list()"]
        for key in keys:
            call = R_MODELS[key][1]
            lines.append(
                f"tt <- c(); ll <- NA; mb <- NA; for (i in 1:{repeat}) {{ invisible(gc(reset = TRUE));"
                f" s <- system.time(f <- try({call}, silent = TRUE))[['elapsed']];"
                f" mb <- max(mb, sum(gc()[, 6]), na.rm = TRUE);"
                f" tt <- c(tt, s); if (!inherits(f, 'try-error')) ll <- as.numeric(logLik(f)) }};"
                f" out[['{key}']] <- list(sec = median(tt), logLik = ll, MiB = mb,"
                f" error = if (inherits(f, 'try-error')) conditionMessage(attr(f, 'condition')) else '')")
        lines.append("cat(toJSON(out, auto_unbox = TRUE, digits = NA))")
        script = Path(tmp) / "b.R"
        script.write_text("\n".join(lines))
        proc = subprocess.run(["Rscript", str(script)], capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": proc.stderr[-500:]}
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000],
                    help="numbers of subjects (innermost groups) G")
    ap.add_argument("--shapes", nargs="+", default=list(CASES),
                    help=f"data shapes, of {list(CASES)}")
    ap.add_argument("--cases", nargs="+", default=None,
                    help="only these cases (default: every case of each shape)")
    ap.add_argument("--repeat", type=int, default=3, help="warm lmmext fits per case")
    ap.add_argument("--r-repeat", type=int, default=None,
                    help="nlme/lme4 fits per case (default --repeat)")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-fresh", action="store_true",
                    help="skip the first fit in a fresh process")
    ap.add_argument("--r-max-size", type=int, default=10**9,
                    help="skip nlme/lme4 above this G")
    ap.add_argument("--sm-max-size", type=int, default=10000,
                    help="skip statsmodels above this G")
    ap.add_argument("--out", default=None, help="also write the rows as JSON lines here")
    args = ap.parse_args(argv)
    r_repeat = args.r_repeat or args.repeat
    rows = []
    lmmext_fit("a", make_data(20))          # warm-up: imports and first-call overheads
    out = open(args.out, "a") if args.out else None
    for shape in args.shapes:
        for G in ([0] if shape == "spruce" else args.sizes):
            d = shape_data(shape, G)
            cases = [c for c in CASES[shape] if args.cases is None or c in args.cases]
            use_r = not args.no_r and G <= args.r_max_size
            keys = [c for c in cases] + [LME4_TWIN[c] for c in cases if c in LME4_TWIN]
            r = r_fits(d, keys, r_repeat) if use_r else {}
            if "error" in r:
                print("R failed:", r["error"], flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                data_file = Path(tmp) / "d.pkl"
                d.to_pickle(data_file)
                for case in cases:
                    fresh = float("nan") if args.no_fresh else first_fit(case, data_file)
                    sec, mem, res = timed(lambda: lmmext_fit(case, d), args.repeat)
                    rows.append(_row(shape, G, d, case, fresh, sec, mem, res, r, args))
                    print(json.dumps(rows[-1]), flush=True)
                    if out:
                        out.write(json.dumps(rows[-1]) + "\n")
                        out.flush()
    tab = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(tab.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _row(shape, G, d, case, fresh, sec, mem, res, r, args):
    info = res.optim_info
    passes = info.n_evals + info.n_ai
    row = {"shape": shape, "G": G or d["Tree"].nunique(), "rows": len(d), "case": case,
           "lmmext first s": fresh, "lmmext s": sec, "lmmext MiB": mem,
           "evals": info.n_evals, "AI passes": info.n_ai,
           "us/row/pass": 1e6 * sec / len(d) / max(passes, 1),
           "converged": bool(info.converged), "lmmext logLik": res.llf}
    if case in ("a", "slope") and shape == "regular" and G <= args.sm_max_size:
        s_sec, _, s_res = timed(lambda: statsmodels_fit(case, d), 1)
        row.update({"statsmodels s": s_sec, "statsmodels logLik": s_res.llf})
    for tool, key in (("nlme", case), ("lme4", LME4_TWIN.get(case))):
        if key in r:
            row.update({f"{tool} s": r[key]["sec"], f"{tool} MiB": r[key]["MiB"],
                        f"{tool} logLik": r[key]["logLik"]})
            if r[key].get("error"):
                row[f"{tool} error"] = r[key]["error"]
    for tool in ("statsmodels", "nlme", "lme4"):
        if f"{tool} s" in row:
            row[f"{tool}/lmmext"] = row[f"{tool} s"] / sec
    for tool in ("nlme", "lme4"):
        ref = row.get(f"{tool} logLik")
        if ref is not None and np.isfinite(ref):
            row[f"lmmext - {tool} logLik"] = res.llf - ref
    return row


if __name__ == "__main__":
    main()
