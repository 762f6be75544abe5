"""Benchmark lmmext against statsmodels' MixedLM and, when Rscript with nlme/lme4 is on
the PATH, nlme and lme4, on the same synthetic longitudinal data (benchmarks/generate.py).

    python -m benchmarks.run --sizes 100 1000 10000 --cases a b c d e f --repeat 3

Cases (issue 5): (a) random intercept; (b) + VarIdent(~1|trt); (c) + VarIdent +
CorAR1(~visit|subject); (d) random intercept and slope + VarIdent + CorAR1; (e) gls with
VarIdent + CorAR1; (f) random intercept + CorCAR1(~t|subject).  Prints median seconds,
peak traced memory (Python side) and logLik per tool, and the ratios to lmmext.  Not
part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.generate import make_data

FIXED = "y ~ t*trt + sex + x"

R_MODELS = {
    "a": ("nlme", "lme(y ~ t*trt + sex + x, data = d, random = ~ 1 | subject)"),
    "b": ("nlme", "lme(y ~ t*trt + sex + x, data = d, random = ~ 1 | subject, "
                  "weights = varIdent(form = ~ 1 | trt))"),
    "c": ("nlme", "lme(y ~ t*trt + sex + x, data = d, random = ~ 1 | subject, "
                  "weights = varIdent(form = ~ 1 | trt), correlation = corAR1(form = ~ visit | subject))"),
    "d": ("nlme", "lme(y ~ t*trt + sex + x, data = d, random = ~ t | subject, "
                  "weights = varIdent(form = ~ 1 | trt), correlation = corAR1(form = ~ visit | subject))"),
    "e": ("nlme", "gls(y ~ t*trt + sex + x, data = d, weights = varIdent(form = ~ 1 | trt), "
                  "correlation = corAR1(form = ~ visit | subject))"),
    "f": ("nlme", "lme(y ~ t*trt + sex + x, data = d, random = ~ 1 | subject, "
                  "correlation = corCAR1(form = ~ t | subject))"),
    "a4": ("lme4", "lmer(y ~ t*trt + sex + x + (1 | subject), data = d)"),
    "slope4": ("lme4", "lmer(y ~ t*trt + sex + x + (t | subject), data = d)"),
}


def lmmext_fit(case, d):
    import lmmext as L
    vi = L.VarIdent(form="~ 1 | trt")
    ar = L.CorAR1(form="~ visit | subject")
    if case == "a":
        return L.lme(FIXED, data=d, random="~ 1 | subject")
    if case == "b":
        return L.lme(FIXED, data=d, random="~ 1 | subject", weights=vi)
    if case == "c":
        return L.lme(FIXED, data=d, random="~ 1 | subject", weights=vi, correlation=ar)
    if case == "d":
        return L.lme(FIXED, data=d, random="~ t | subject", weights=vi, correlation=ar)
    if case == "e":
        return L.gls(FIXED, data=d, weights=vi, correlation=ar)
    if case == "f":
        return L.lme(FIXED, data=d, random="~ 1 | subject",
                     correlation=L.CorCAR1(form="~ t | subject"))
    if case == "slope":
        return L.lme(FIXED, data=d, random="~ t | subject")
    raise ValueError(case)


def statsmodels_fit(case, d):
    from statsmodels.regression.mixed_linear_model import MixedLM
    re = {"a": None, "slope": "~ t"}.get(case, "missing")
    if re == "missing":
        return None
    m = MixedLM.from_formula(FIXED, data=d, groups="subject", re_formula=re)
    return m.fit(reml=True)


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


def r_fits(d, cases, repeat):
    """Median seconds and logLik per R model, or {} without Rscript."""
    if shutil.which("Rscript") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        d.to_csv(csv, index=False)
        lines = ["suppressPackageStartupMessages({library(nlme); library(lme4); library(jsonlite)})",
                 f"d <- read.csv('{csv}', stringsAsFactors = TRUE)",
                 "d$subject <- factor(d$subject); out <- list()"]
        for key, (_, call) in R_MODELS.items():
            if key.rstrip("4") in cases or key in ("a4", "slope4") and ("a" in cases):
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
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--cases", nargs="+", default=list("abcdef"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--r-max-size", type=int, default=10**9,
                    help="skip nlme/lme4 above this G (nlme needs minutes there)")
    ap.add_argument("--sm-max-size", type=int, default=10**9,
                    help="skip statsmodels above this G")
    args = ap.parse_args(argv)
    rows = []
    lmmext_fit("a", make_data(20))          # warm-up: imports and first-call overheads
    for G in args.sizes:
        d = make_data(G)
        use_r = not args.no_r and G <= args.r_max_size
        r = r_fits(d, args.cases, args.repeat) if use_r else {}
        if "error" in r:
            print("R failed:", r["error"], flush=True)
        for case in args.cases + (["slope"] if "a" in args.cases else []):
            sec, mem, res = timed(lambda: lmmext_fit(case, d), args.repeat)
            info = res.optim_info
            row = {"G": G, "rows": len(d), "case": case, "lmmext s": sec, "lmmext MiB": mem,
                   "lmmext logLik": res.llf, "evals": info.n_evals,
                   "converged": bool(info.converged)}
            if case in ("a", "slope") and G <= args.sm_max_size:
                s_sec, s_mem, s_res = timed(lambda: statsmodels_fit(case, d), 1)
                row.update({"statsmodels s": s_sec, "statsmodels MiB": s_mem,
                            "statsmodels logLik": s_res.llf})
            for tool, key in (("nlme", {"slope": None}.get(case, case)),
                              ("lme4", {"a": "a4", "slope": "slope4"}.get(case))):
                if key in r:
                    row.update({f"{tool} s": r[key]["sec"], f"{tool} MiB": r[key]["MiB"],
                                f"{tool} logLik": r[key]["logLik"]})
                    if r[key].get("error"):
                        row[f"{tool} error"] = r[key]["error"]
            for tool in ("statsmodels", "nlme", "lme4"):
                if f"{tool} s" in row:
                    row[f"{tool}/lmmext"] = row[f"{tool} s"] / sec
            ref = row.get("nlme logLik", row.get("lme4 logLik"))
            if ref is not None and np.isfinite(ref):
                row["lmmext - R logLik"] = res.llf - ref
            rows.append(row)
            print(json.dumps(row), flush=True)
    tab = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(tab.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
