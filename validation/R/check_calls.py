"""Consistency check of the reference JSON files WITHOUT lmmext.

For every case in validation/references/*.json: load the data set the way the runner
does (CSV + levels.json, factor columns as pandas Categorical in the recorded order),
evaluate ``lmmext_call`` with stand-ins for lme/gls and the Var*/Cor* classes (they only
record their arguments), build the fixed-effects design with patsy and check that

* every R fixed-effect term maps to a patsy column (via name_map or the runner's
  normalization: drop "np.", X[T.a] -> Xa, Intercept -> (Intercept), no spaces),
* the number of complete rows equals nobs,
* variables named in random / weights / correlation formulas exist in the data,
* array fields have the data length.

    python validation/R/check_calls.py
"""
import glob
import json
import os
import re
import sys

import numpy as np
import pandas as pd
import patsy

HERE = os.path.dirname(os.path.abspath(__file__))
VAL = os.path.dirname(HERE)
LEVELS = json.load(open(os.path.join(VAL, "data", "levels.json")))


def load(name):
    lv = LEVELS.get(name, {})
    df = pd.read_csv(os.path.join(VAL, "data", name + ".csv"), dtype={c: str for c in lv})
    for col, spec in lv.items():
        df[col] = pd.Categorical(df[col], categories=spec["levels"], ordered=spec["ordered"])
    return df


class Rec:
    def __init__(self, kind, *args, **kw):
        self.kind, self.args, self.kw = kind, args, kw

    def forms(self):
        out = [a for a in self.args if isinstance(a, str)]
        if "form" in self.kw:
            out.append(self.kw["form"])
        for a in self.args:
            if isinstance(a, Rec):
                out += a.forms()
        return out


def maker(kind):
    return lambda *a, **k: Rec(kind, *a, **k)


NAMES = ["VarFixed", "VarIdent", "VarPower", "VarConstPower", "VarExp", "VarComb", "CorAR1",
         "CorCAR1", "CorARMA", "CorCompSymm", "CorSymm", "CorExp", "CorGaus", "CorLin",
         "CorRatio", "CorSpher"]


def norm(name):
    s = name.replace("np.", "")
    s = re.sub(r"\[T\.([^\]]*)\]", r"\1", s)
    s = "(Intercept)" if s == "Intercept" else s
    return s.replace(" ", "")


def vars_in(form):
    body = form.split("~", 1)[1]
    body = re.sub(r"Q\('([^']*)'\)", r"\1", body)
    toks = {t for t in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", body) if not t.startswith("np.")}
    return toks - {"np", "sin", "cos", "pi", "I", "Q", "pdDiag", "fitted", "exp", "log"}


def check_case(c):
    probs = []
    df = load(c["dataset"])
    ns = {"np": np, "lme": maker("lme"), "gls": maker("gls"), c["dataset"]: df}
    ns.update({n: maker(n) for n in NAMES})
    call = eval(c["lmmext_call"], ns)
    formula = call.args[0]
    y, X = patsy.dmatrices(formula, df, return_type="dataframe", NA_action="drop",
                           eval_env=patsy.EvalEnvironment([{"np": np}]))
    if X.shape[0] != c["nobs"]:
        probs.append(f"nobs {c['nobs']} vs patsy rows {X.shape[0]}")
    cols = list(X.columns)
    nm = c.get("name_map", {})
    want = [f["term"] for f in c["fixef"]]
    got = {norm(k): k for k in cols}
    mapped = []
    for t in want:
        if t in nm:
            if nm[t] not in cols:
                probs.append(f"name_map target {nm[t]!r} not a patsy column {cols}")
            mapped.append(nm[t])
        elif t.replace(" ", "") in got:
            mapped.append(got[t.replace(" ", "")])
        else:
            probs.append(f"R term {t!r} has no patsy match (patsy: {cols})")
    if len(cols) != len(want):
        probs.append(f"{len(cols)} patsy columns vs {len(want)} R terms")
    forms = []
    rnd = call.kw.get("random")
    if isinstance(rnd, str):
        forms.append(rnd)
    elif isinstance(rnd, dict):
        forms += [f"~ {v.split('~', 1)[1]} | {k}" for k, v in rnd.items()]
    for key in ("weights", "correlation"):
        if key in call.kw:
            forms += [f if "~" in f else "~ " + f for f in call.kw[key].forms()]
    for f in forms:
        for v in vars_in(f):
            if v not in df.columns:
                probs.append(f"variable {v!r} of {f!r} not in data")
    for key in ("fitted", "resid_pearson", "resid_normalized"):
        if key in c and len(c[key]) != len(df):
            probs.append(f"{key} has length {len(c[key])}, data {len(df)}")
    return probs


def main():
    bad = 0
    n = 0
    for fn in sorted(glob.glob(os.path.join(VAL, "references", "*.json"))):
        for c in json.load(open(fn)):
            n += 1
            try:
                probs = check_case(c)
            except Exception as e:  # noqa: BLE001
                probs = [f"{type(e).__name__}: {e}"]
            if probs:
                bad += 1
                print(c["id"], "PROBLEMS:", *probs, sep="\n  ")
    print(f"{n} cases checked, {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
