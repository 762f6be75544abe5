"""Case (c) (RI + VarIdent + CorAR1, realistic visits with gaps) fitted from parquet on a
dask LocalCluster, beside the in-memory engine where it fits (issue 18).

    python -m benchmarks.dask_scaling --subjects 100000 300000 1000000 \
        --workers 2 --memory-limit 4GB --in-memory-max 300000 --out results_dask.jsonl

For each size: the data (``benchmarks.generate``, shape ``realistic``) are shuffled by
row and written as ``--files`` parquet files, so every subject's rows are scattered;
a fresh LocalCluster (``--workers`` processes of one thread, ``--memory-limit`` each)
reads them lazily and fits.  Reported: wall seconds from ``read_parquet`` to the
results (shuffle by subject, partition frames and engines, optimization), the
optimizer's evaluations and average-information passes, the map-reduces, every
worker's peak resident memory (``ru_maxrss``) and keys spilled to disk, and the
in-memory fit of the same data in a fresh process (``benchmarks.large``: seconds,
peak RSS, logLik) for sizes up to ``--in-memory-max``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks.generate import make_data
from benchmarks.run import FIXED


def _write_parquet(G, folder, files, seed=1):
    d = make_data(G, "realistic")
    d = d.iloc[np.random.default_rng(seed).permutation(len(d))].reset_index(drop=True)
    for i in range(files):
        d.iloc[i::files].to_parquet(folder / f"part-{i:03d}.parquet")
    return len(d)


def _worker_memory(client):
    def peak(dask_worker):
        import resource
        slow = getattr(dask_worker.data, "slow", {})
        return {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "spilled_keys": len(slow)}
    return client.run(peak)


def _distributed_fit(folder, workers, memory_limit):
    import dask.dataframe as dd
    from distributed import Client, LocalCluster
    import lmmext as L
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           memory_limit=memory_limit, dashboard_address=None)
    client = Client(cluster)
    try:
        t0 = time.perf_counter()
        ddf = dd.read_parquet(str(folder))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = L.lme(FIXED, data=ddf, random="~ 1 | subject",
                        weights=L.VarIdent(form="~ 1 | trt"),
                        correlation=L.CorAR1(form="~ visit | subject"))
        sec = time.perf_counter() - t0
        mem = _worker_memory(client)
        return {"seconds": sec, "evals": fit.optim_info.n_evals, "ai": fit.optim_info.n_ai,
                "map_reduces": fit._state.engine.n_maps, "optimizer_seconds":
                fit.optim_info.seconds, "logLik": fit.llf,
                "converged": bool(fit.optim_info.converged), "rows": fit.nobs,
                "partitions": len(fit._state.engine.executor.parts),
                "workers": {k.rsplit(":", 1)[-1]: v for k, v in mem.items()}}
    finally:
        client.close()
        cluster.close()


def _in_memory_fit(G):
    out = subprocess.run([sys.executable, "-m", "benchmarks.large", "--subjects", str(G),
                          "--shape", "realistic", "--case", "c"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.dask_scaling")
    ap.add_argument("--subjects", type=int, nargs="+", default=[100000, 300000, 1000000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--in-memory-max", type=int, default=300000)
    ap.add_argument("--out", default=None, help="append one JSON line per size here")
    args = ap.parse_args(argv)
    for G in args.subjects:
        folder = Path(tempfile.mkdtemp(prefix=f"lmmext-dask-{G}-"))
        try:
            rows = _write_parquet(G, folder, args.files)
            rec = {"G": G, "rows": rows, "files": args.files, "workers": args.workers,
                   "memory_limit": args.memory_limit,
                   "dask": _distributed_fit(folder, args.workers, args.memory_limit)}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if G <= args.in_memory_max:
            mem = _in_memory_fit(G)
            rec["in_memory"] = mem
            rec["logLik_diff"] = rec["dask"]["logLik"] - mem["logLik"]
        print(json.dumps(rec), flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
