"""Crossed random effects: lmmext against lme4 in one run, on data shaped like real
crossed designs (issue 14).

    python -m benchmarks.crossed --sizes 2000x500x200000 --repeat 3

Each size ``AxBxN`` is ``N`` rows over ``A`` levels of factor ``a`` (say raters) and
``B`` of factor ``b`` (items), with skewed level sizes (a few levels carry many rows, as
in real panels), cells observed at random (most are empty), a covariate, and the model
``y ~ x + (1 | a) + (1 | b)`` (REML).  Reports, per tool, the first fit in a fresh
process, the warm median of ``--repeat`` fits, the evaluations and the logLik.  lme4
runs through Rscript on the same CSV; not part of the test suite.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); d$a <- factor(d$a); d$b <- factor(d$b)
rep <- as.integer(args[2])
times <- numeric(rep)
for (i in seq_len(rep)) {
  t0 <- proc.time()[["elapsed"]]
  fit <- lmer(y ~ x + (1 | a) + (1 | b), data = d, REML = TRUE)
  times[i] <- proc.time()[["elapsed"]] - t0
}
cat(sprintf("%.6f %.6f %.10f %d\n", times[1], median(times), as.numeric(logLik(fit)),
            fit@optinfo$feval))
"""

LMMEXT_FIRST = r"""
import sys, time
import pandas as pd
d = pd.read_csv(sys.argv[1], dtype={"a": str, "b": str})
import lmmext
t0 = time.perf_counter()
fit = lmmext.lme("y ~ x", d, random="(1 | a) + (1 | b)")
print(f"{time.perf_counter() - t0:.6f} {fit.llf:.10f} {fit.optim_info.n_evals}")
"""


def make_crossed(n_a, n_b, n, seed=0):
    """``n`` rows over skewed levels of two crossed factors (Zipf-like level weights),
    a covariate, variance components 0.8^2 and 0.5^2 and residual variance 1."""
    rng = np.random.default_rng(seed)
    wa = 1.0 / np.arange(1, n_a + 1) ** 0.6
    wb = 1.0 / np.arange(1, n_b + 1) ** 0.4
    a = rng.choice(n_a, size=n, p=wa / wa.sum())
    b = rng.choice(n_b, size=n, p=wb / wb.sum())
    x = rng.gamma(2.0, 1.0, size=n) + 10.0            # skewed, far from zero
    y = (1.0 + 0.3 * x + 0.8 * rng.normal(size=n_a)[a] + 0.5 * rng.normal(size=n_b)[b]
         + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "a": [f"a{i}" for i in a],
                         "b": [f"b{i}" for i in b]})


def run_lmmext(path, repeat):
    proc = subprocess.run([sys.executable, "-c", LMMEXT_FIRST, str(path)],
                          capture_output=True, text=True, check=True)
    first, llf, evals = proc.stdout.split()
    import lmmext
    d = pd.read_csv(path, dtype={"a": str, "b": str})
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fit = lmmext.lme("y ~ x", d, random="(1 | a) + (1 | b)")
        times.append(time.perf_counter() - t0)
    return float(first), float(np.median(times)), fit.llf, fit.optim_info.n_evals


def run_lme4(path, repeat):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(R_SCRIPT)
    proc = subprocess.run(["Rscript", f.name, str(path), str(repeat)], capture_output=True,
                          text=True)
    if proc.returncode:
        print(proc.stderr, file=sys.stderr)
        return None
    first, med, llf, evals = proc.stdout.split()
    return float(first), float(med), float(llf), int(evals)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["200x50x10000", "2000x500x200000"])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            n_a, n_b, n = (int(v) for v in size.split("x"))
            path = Path(tmp) / f"crossed_{size}.csv"
            make_crossed(n_a, n_b, n).to_csv(path, index=False)
            mine = run_lmmext(path, args.repeat)
            r = run_lme4(path, args.repeat)
            row = {"size": size, "lmmext first s": mine[0], "lmmext warm s": mine[1],
                   "lmmext evals": mine[3], "lmmext logLik": mine[2]}
            if r is not None:
                row.update({"lme4 first s": r[0], "lme4 warm s": r[1], "lme4 evals": r[3],
                            "lme4 logLik": r[2],
                            "warm lmmext/lme4": mine[1] / r[1],
                            "logLik diff": mine[2] - r[2]})
            rows.append(row)
            print(pd.Series(row).to_string(), flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
