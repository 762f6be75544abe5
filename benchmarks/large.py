"""One large fit (issue 15's case (c) at 200,000 subjects): seconds, evaluations and the
process's peak resident memory (data included).

    /usr/bin/time -v python -m benchmarks.large --subjects 200000 --shape realistic
"""
from __future__ import annotations

import argparse
import json
import resource
import time
import warnings

from benchmarks.generate import SHAPES, make_data
from benchmarks.run import lmmext_fit


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.large")
    ap.add_argument("--subjects", type=int, default=200000)
    ap.add_argument("--shape", default="realistic", choices=SHAPES)
    ap.add_argument("--case", default="c")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    d = make_data(args.subjects, args.shape)
    t0 = time.perf_counter()
    res = lmmext_fit(args.case, d)
    sec = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"G": args.subjects, "shape": args.shape, "case": args.case,
                      "rows": len(d), "seconds": sec, "evals": res.optim_info.n_evals,
                      "AI passes": res.optim_info.n_ai, "peak RSS MiB": peak,
                      "logLik": res.llf, "converged": bool(res.optim_info.converged)}))


if __name__ == "__main__":
    main()
