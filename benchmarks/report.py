"""Markdown tables of a benchmark run (the JSON lines written by
``python -m benchmarks.run --out FILE``), for benchmarks/RESULTS.md.

    python -m benchmarks.report FILE
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd


def _fmt(v, digits=3):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, str):
        return v
    return f"{v:.{digits}g}"


def table(rows):
    cols = [("shape", "shape"), ("G", "G"), ("rows", "rows"), ("case", "case"),
            ("lmmext first s", "lmmext first fit s"), ("lmmext s", "lmmext warm s"),
            ("evals", "evals"), ("AI passes", "AI"), ("us/row/pass", "us/row/pass"),
            ("lmmext MiB", "lmmext MiB"), ("nlme s", "nlme s"), ("nlme/lmmext", "nlme/lmmext"),
            ("lme4 s", "lme4 s"), ("lme4/lmmext", "lme4/lmmext"),
            ("lmmext - nlme logLik", "lmmext - nlme logLik"),
            ("lmmext - lme4 logLik", "lmmext - lme4 logLik"), ("note", "note")]
    out = ["| " + " | ".join(h for _, h in cols) + " |",
           "|" + "---|" * len(cols)]
    for r in rows:
        notes = [f"{tool} failed ({r[tool + ' error'].splitlines()[-1].strip()}); its time "
                 "is to the failure" for tool in ("nlme", "lme4") if r.get(f"{tool} error")]
        r = dict(r, note="; ".join(notes))
        cells = []
        for key, _ in cols:
            v = r.get(key)
            if key in ("lmmext - nlme logLik", "lmmext - lme4 logLik") and v is not None:
                cells.append(f"{v:.2g}")
            else:
                cells.append(_fmt(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def slopes(rows):
    """Log-log slope of lmmext's warm time against G per shape and case."""
    df = pd.DataFrame(rows)
    df = df[df["shape"] != "spruce"]
    out = ["| shape | case | G range | log-log slope | evaluations |", "|---|---|---|---|---|"]
    for (shape, case), d in df.groupby(["shape", "case"], sort=False):
        d = d.sort_values("G")
        if len(d) < 2:
            continue
        s = np.polyfit(np.log(d["G"]), np.log(d["lmmext s"]), 1)[0]
        out.append(f"| {shape} | {case} | {d['G'].min():,}-{d['G'].max():,} | {s:.2f} | "
                   + " / ".join(str(int(e)) for e in d["evals"]) + " |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report")
    ap.add_argument("file")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in open(args.file) if line.strip()]
    print(table(rows))
    print()
    print(slopes(rows))


if __name__ == "__main__":
    main()
