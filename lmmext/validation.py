"""Validation against nlme: fit every stored reference case and compare.

Run ``python -m lmmext.validation`` from a checkout of the repository (or pass
``--dir path/to/validation``).  The reference cases are JSON files in
``validation/references/`` produced by the R scripts in ``validation/R/``; the data
sets are CSV files in ``validation/data/`` with their factor level order in
``validation/data/levels.json``.  R is needed only to regenerate the references.

Tolerances (DEVELOPERS.md): logLik 1e-6 absolute; estimates, standard errors and
variance parameters 1e-4 relative.  A case may carry ``"tol"`` overrides with a
written reason (``"notes"``), e.g. varPower on fitted values where nlme stops one outer
iteration early (nlme-reference.md section 3).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["find_dir", "load_dataset", "load_cases", "run_case", "main"]

DEFAULT_TOL = {"logLik": 1e-6, "estimate": 1e-4, "se": 1e-4, "variance": 1e-4,
               # BLUPs and fitted values in units of sigma; residuals are unitless
               "blup": 1e-4, "resid": 1e-4,
               # anova F values as estimates; nlme's apVar is a finite-difference
               # Hessian accurate to ~1e-4 at best (nlme-reference.md 5), so interval
               # endpoints of variance parameters get 1e-3 (fixed effects: 1e-4)
               "anova": 1e-4, "intervals": 1e-3}
# a random-effects SD whose reference value is below this fraction of sigma sits on the
# boundary: the likelihood is flat there and nlme's own value is arbitrary (the seed
# prints 2.269e-05 for the lactase litter SD, a rerun 2.294e-05), so it is compared
# absolutely, relative to sigma
BOUNDARY_REL_SD = 1e-3


# Variance functions of the fitted values: nlme stops its outer fixed-point loop one
# iteration before self-consistency and reports that pseudo-likelihood; lmmext iterates
# to convergence (nlme-reference.md section 3), which moves logLik by up to ~2e-6 and
# the power by up to ~1e-3 relative on these data.
FITTED_COVARIATE_TOL = {"logLik": 1e-5, "variance": 1e-3, "estimate": 1e-3, "se": 1e-3,
                        "blup": 2e-3, "resid": 2e-3}
# nlme names the AR(1) coefficient "Phi" for corAR1 but "Phi1" when corAR1 silently
# becomes corARMA(1, 0) (non-unit steps), and turns corARMA(1, 0) with unit steps into
# corAR1 ("Phi"); lmmext keeps the name of the class the user chose
_ALIASES = {"Phi": "Phi1", "Phi1": "Phi"}


def _fitted_covariate(case):
    call = case["lmmext_call"].replace(" ", "")
    return bool(re.search(r"Var(Power|Exp|ConstPower)\((\)|value=[^,)]*\)|.*form='~fitted)", call))


def find_dir(path=None):
    """The validation folder: ``path``, ``$LMMEXT_VALIDATION_DIR``, the repository's
    ``validation/`` beside this package, or ``./validation``."""
    candidates = [path, os.environ.get("LMMEXT_VALIDATION_DIR"),
                  Path(__file__).resolve().parents[1] / "validation", Path.cwd() / "validation"]
    for c in candidates:
        if c and (Path(c) / "references").is_dir():
            return Path(c)
    raise FileNotFoundError("no validation folder found; run from the repository root or "
                            "pass --dir path/to/validation")


_LEVELS_CACHE = {}


def load_dataset(name, vdir=None):
    """Read ``validation/data/<name>.csv`` with factor columns as pandas Categoricals
    in the level order recorded in ``levels.json``."""
    vdir = find_dir(vdir)
    key = str(vdir)
    if key not in _LEVELS_CACHE:
        lv_file = vdir / "data" / "levels.json"
        _LEVELS_CACHE[key] = json.loads(lv_file.read_text()) if lv_file.exists() else {}
    levels = _LEVELS_CACHE[key].get(name, {})
    df = pd.read_csv(vdir / "data" / f"{name}.csv", keep_default_na=True,
                     na_values=["NA", "."])
    for col, spec in levels.items():
        vals = df[col].astype("string").str.replace(r"\.0$", "", regex=True)
        df[col] = pd.Categorical(vals.astype(object).where(vals.notna(), None),
                                 categories=[str(v) for v in spec["levels"]],
                                 ordered=bool(spec.get("ordered", False)))
    return df


def load_cases(vdir=None, groups=None):
    """All reference cases (list of dicts), from every JSON file in references/, with
    the tolerance overrides of ``tolerances.json`` (each with its reason) merged in."""
    vdir = find_dir(vdir)
    tol_file = vdir / "tolerances.json"
    overrides = json.loads(tol_file.read_text()) if tol_file.exists() else {}
    # nlme's intervals recomputed with an accurate Hessian of nlme's own criterion
    # (validation/R/apvar_accurate.R); nlme's default apVar uses tiny finite-difference
    # steps and is noisy
    accurate = {}
    for f in sorted((vdir / "references_apvar").glob("*.json")):
        accurate.update({c["id"]: c for c in json.loads(f.read_text())})
    cases = []
    for f in sorted((vdir / "references").glob("*.json")):
        for case in json.loads(f.read_text()):
            if groups is None or case.get("group") in groups:
                acc = accurate.get(case["id"])
                if acc and acc.get("intervals_accurate"):
                    case = dict(case, intervals=acc["intervals_accurate"])
                if case["id"] in overrides:
                    ov = overrides[case["id"]]
                    case = dict(case, tol={**case.get("tol", {}), **ov.get("tol", {})},
                                skip=ov.get("skip", []), expect_error=ov.get("expect_error"))
                cases.append(case)
    return cases


def normalize_name(name):
    """Patsy or R coefficient name -> a common key (``Sex[T.Female]`` and
    ``SexFemale`` -> ``SexFemale``; ``Intercept`` -> ``(Intercept)``)."""
    s = str(name).replace(" ", "").replace("np.", "").replace("**", "^")
    s = re.sub(r"C\(([^,()]+)\)", r"\1", s)
    s = re.sub(r"\[T\.([^\]]*)\]", r"\1", s)
    s = re.sub(r"\[([^\]]*)\]", r"\1", s)
    if s == "Intercept":
        s = "(Intercept)"
    return s


def _rel(a, b):
    a, b = float(a), float(b)
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), 1e-300)


@dataclass
class CaseResult:
    id: str
    title: str
    structure: str
    dloglik: float = math.nan
    fe: float = math.nan
    se: float = math.nan
    variance: float = math.nan
    blup: float = math.nan
    anova: float = math.nan
    intervals: float = math.nan
    seconds: float = math.nan
    passed: bool = False
    failures: list = field(default_factory=list)
    error: str = ""


def _namespace(case, vdir):
    import lmmext
    ns = {"np": np, "pd": pd}
    ns.update({n: getattr(lmmext, n) for n in lmmext.__all__ if hasattr(lmmext, n)})
    ds = case.get("dataset")
    if ds:
        ns[ds] = load_dataset(ds, vdir)
    return ns


def fit_case(case, vdir=None):
    """Evaluate the case's ``lmmext_call``; returns the results object."""
    ns = _namespace(case, find_dir(vdir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return eval(case["lmmext_call"], ns)


def _structure(case):
    call = case["lmmext_call"]
    parts = re.findall(r"(Var\w+|Cor\w+)\(", call)
    head = call.split("(")[0]
    return " + ".join([head] + parts) + f" [{case.get('method', 'REML')}]"


def compare(case, res):
    """Compare a fit with its reference; returns a CaseResult."""
    tol = dict(DEFAULT_TOL)
    if _fitted_covariate(case):
        tol.update(FITTED_COVARIATE_TOL)
    tol.update(case.get("tol", {}))
    skip = set(case.get("skip", ()))
    out = CaseResult(case["id"], case.get("title", ""), _structure(case))
    fails = out.failures
    out.dloglik = abs(res.llf - case["logLik"])
    if out.dloglik > tol["logLik"]:
        fails.append(f"logLik {res.llf:.10g} vs {case['logLik']:.10g}")
    # fixed effects by name
    name_map = case.get("name_map", {})
    ours = {normalize_name(k): k for k in res.fe_params.index}
    fe_err, se_err = 0.0, 0.0
    for row in case["fixef"]:
        key = normalize_name(name_map.get(row["term"], row["term"]))
        if key not in ours:
            fails.append(f"no coefficient matches {row['term']!r} (have {list(res.fe_params.index)})")
            continue
        name = ours[key]
        # relative to the estimate, or to 1% of its SE for estimates near zero (e.g. a
        # contrast of -0.0087 with SE 0.196), where relative differences mean nothing
        scale_e = max(abs(row["estimate"]), row["se"] * 1e-2)
        e = abs(res.fe_params[name] - row["estimate"]) / scale_e
        fe_err = max(fe_err, e)
        se_err = max(se_err, _rel(res.bse_fe[name], row["se"]))
        if "df" in row and row["df"] is not None and abs(res.df_resid_fe[name] - row["df"]) > 1e-8:
            fails.append(f"df of {name}: {res.df_resid_fe[name]} vs {row['df']}")
    out.fe, out.se = fe_err, se_err
    if fe_err > tol["estimate"]:
        fails.append(f"fixed effects rel. diff {fe_err:.3g}")
    if se_err > tol["se"]:
        fails.append(f"standard errors rel. diff {se_err:.3g}")
    # variance parameters: sigma, varStruct, corStruct, random-effect SDs and correlations
    var_err = _rel(res.sigma, case["sigma"])
    for key, attr in (("varStruct", "variance_params"), ("corStruct", "correlation_params")):
        ref = case.get(key) or {}
        got = getattr(res, attr)
        for k, v in ref.items():
            if k not in got.index and _ALIASES.get(k) in got.index and len(ref) == 1:
                k = _ALIASES[k]
            if k not in got.index:
                fails.append(f"{key} has no {k!r} (have {list(got.index)})")
                continue
            err = abs(got[k] - v) / max(abs(v), 1e-2)   # correlations/powers near 0: absolute
            var_err = max(var_err, err)
    for lev, spec in (case.get("reSD") or {}).items():
        sd_tab = res.re_sd.get(lev)
        if sd_tab is None:
            fails.append(f"no random-effects level {lev!r} (have {list(res.re_sd)})")
            continue
        idx = {normalize_name(i): i for i in sd_tab.index}
        for zname, v in spec.get("sd", {}).items():
            z = idx.get(normalize_name(zname))
            if z is None:
                fails.append(f"level {lev!r} has no random effect {zname!r}")
                continue
            got = sd_tab.loc[z, "sd"]
            if v < BOUNDARY_REL_SD * case["sigma"]:
                err = 0.0 if got < BOUNDARY_REL_SD * res.sigma else abs(got - v) / case["sigma"]
            else:
                err = _rel(got, v)
            var_err = max(var_err, err)
        cors = spec.get("cor")
        if cors not in (None, [], {}):
            cors = np.atleast_1d(np.asarray(cors, dtype=float))
            C = sd_tab.drop(columns="sd").to_numpy()
            got = _lower_colwise(C)
            if got.size == cors.size:
                var_err = max(var_err, float(np.max(np.abs(got - cors))))
            else:
                fails.append(f"level {lev!r}: {got.size} correlations vs {cors.size}")
    out.variance = var_err
    if "variance" in skip:
        var_err = out.variance = math.nan
    elif var_err > tol["variance"]:
        fails.append(f"variance parameters rel. diff {var_err:.3g}")
    if "blup" not in skip:
        out.blup = _compare_predictions(case, res, tol, fails)
    if "anova" not in skip and case.get("anova"):
        out.anova = _compare_anova(case, res, tol, fails)
    if "intervals" not in skip and case.get("intervals"):
        out.intervals = _compare_intervals(case, res, tol, fails,
                                           fixed_only="intervals_varcov" in skip)
    out.passed = not fails
    return out


def _by_position(values, res):
    """Reference vector (original row positions, None for dropped rows) aligned with
    the fit's caller-order index (the CSV's RangeIndex)."""
    ref = np.array([np.nan if v is None else v for v in values], dtype=float)
    return ref[np.asarray(res.frame.index, dtype=int)]


def _compare_predictions(case, res, tol, fails):
    """BLUPs and fitted values (in units of sigma) and residuals; returns the largest
    scaled difference."""
    worst = 0.0
    checks = []
    if case.get("fitted") is not None:
        checks.append(("fitted", res.fittedvalues.to_numpy(), _by_position(case["fitted"], res),
                       res.sigma, "blup"))
    for key, attr in (("resid_pearson", "resid_pearson"), ("resid_normalized", "resid_normalized")):
        if case.get(key) is not None:
            checks.append((key, getattr(res, attr).to_numpy(), _by_position(case[key], res),
                           1.0, "resid"))
    for lev, groups in (case.get("ranef") or {}).items():
        tab = res.ranef()
        tab = tab if not isinstance(tab, dict) else tab.get(lev)
        if tab is None or (not isinstance(res.ranef(), dict) and res.frame.levels[0].name != lev):
            fails.append(f"no BLUPs for level {lev!r}")
            continue
        cols = {normalize_name(c): c for c in tab.columns}
        got, ref = [], []
        for label, coefs in groups.items():
            for z, v in coefs.items():
                c = cols.get(normalize_name(z))
                if label not in tab.index or c is None:
                    fails.append(f"no BLUP {lev}[{label}] {z}")
                    continue
                got.append(tab.loc[label, c])
                ref.append(v)
        checks.append((f"ranef {lev}", np.array(got), np.array(ref), res.sigma, "blup"))
    for name, got, ref, unit, kind in checks:
        if got.shape != ref.shape:
            fails.append(f"{name}: {got.shape} values vs {ref.shape}")
            continue
        ok = ~np.isnan(ref)
        err = float(np.max(np.abs(got[ok] - ref[ok]))) / unit if ok.any() else 0.0
        worst = max(worst, err)
        if err > tol[kind]:
            fails.append(f"{name} differ by {err:.3g}" + (" sigma" if kind == "blup" else ""))
    return worst


def _compare_anova(case, res, tol, fails):
    """Sequential and marginal F tables: F relative, denDF and numDF exactly."""
    worst = 0.0
    for kind in ("sequential", "marginal"):
        rows = case["anova"].get(kind)
        if not rows:
            continue
        tab = res.anova(type=kind)
        if len(tab) != len(rows):
            fails.append(f"anova {kind}: {len(tab)} terms vs {len(rows)}")
            continue
        for (name, got), ref in zip(tab.iterrows(), rows):
            if normalize_name(name) != normalize_name(ref["term"]):
                fails.append(f"anova {kind}: term {name!r} where nlme has {ref['term']!r}")
            if got["numDF"] != ref["numDF"] or abs(got["denDF"] - ref["denDF"]) > 1e-8:
                fails.append(f"anova {kind} {name}: DF {got['numDF']}/{got['denDF']} vs "
                             f"{ref['numDF']}/{ref['denDF']}")
            worst = max(worst, _rel(got["F-value"], ref["F-value"]))
    if worst > tol["anova"]:
        fails.append(f"anova F values rel. diff {worst:.3g}")
    return worst


def _interval_rows(ref):
    """(section, name, lower, est, upper) rows of a stored nlme intervals() result."""
    for row in ref.get("fixed") or ref.get("coef") or []:
        yield "fixed", None, row
    for lev, rows in (ref.get("reStruct") or {}).items():
        for row in rows:
            yield "re", lev, row
    for key in ("corStruct", "varStruct"):
        for row in ref.get(key) or []:
            yield key, None, row
    if ref.get("sigma"):
        yield "sigma", None, dict(ref["sigma"], name="sigma")


def _compare_intervals(case, res, tol, fails, fixed_only=False):
    """Interval endpoints: fixed effects to the estimate tolerance, the rest to
    ``tol["intervals"]`` relative (correlations: absolute)."""
    ref = case["intervals"]
    if fixed_only:
        ref = {k: v for k, v in ref.items() if k in ("fixed", "coef")}
    only_fixed = not any(k in ref for k in ("reStruct", "corStruct", "varStruct", "sigma"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        iv = res.intervals(which="fixed" if only_fixed else "all")
    worst = 0.0
    for section, lev, row in _interval_rows(ref):
        if section == "fixed":
            tab = iv.fixed
        elif section == "re":
            tab = iv.re.get(lev)
        elif section == "sigma":
            tab = None if iv.sigma is None else iv.sigma.to_frame("sigma").T
        else:
            tab = getattr(iv, section)
        if tab is None:
            fails.append(f"intervals: no {section} {lev or ''} (nlme has them)")
            continue
        names = {normalize_name(n): n for n in tab.index}
        key = normalize_name(row["name"])
        if key not in names and _ALIASES.get(row["name"]) in tab.index:
            key = _ALIASES[row["name"]]
        if key not in names:
            fails.append(f"intervals: no {row['name']!r} in {section} (have {list(tab.index)})")
            continue
        got = tab.loc[names[key]]
        # endpoints relative to the interval's width: scale-free, and meaningful for
        # parameters whose interval contains 0 (powers, correlations); fixed effects
        # are held to the estimate tolerance
        width = abs(row["upper"] - row["lower"]) if None not in (row.get("upper"), row.get("lower")) else 1.0
        scale = tol["intervals"] / tol["estimate"] if section == "fixed" else 1.0
        for k in ("lower", "est.", "upper"):
            if row.get(k) is None:
                continue
            worst = max(worst, abs(got[k] - row[k]) / max(width, 1e-300) * scale)
    if worst > tol["intervals"]:
        fails.append(f"interval endpoints differ by {worst:.3g}")
    return worst


def _lower_colwise(C):
    """Correlations in R's ``cov2cor(M)[lower.tri(M)]`` order (column-wise)."""
    q = C.shape[0]
    return np.array([C[i, j] for j in range(q) for i in range(j + 1, q)])


def run_case(case, vdir=None):
    """Fit and compare one case; errors become a failed CaseResult."""
    expect = case.get("expect_error")
    t0 = time.perf_counter()
    try:
        res = fit_case(case, vdir)
    except Exception as exc:  # report, do not stop the table
        if expect and re.search(expect, str(exc)):
            return CaseResult(case["id"], case.get("title", ""), _structure(case),
                              passed=True, error=f"raised as expected: {exc}")
        return CaseResult(case["id"], case.get("title", ""), _structure(case),
                          error=f"{type(exc).__name__}: {exc}",
                          failures=[f"{type(exc).__name__}: {exc}"])
    if expect:
        return CaseResult(case["id"], case.get("title", ""), _structure(case),
                          failures=[f"expected an error matching {expect!r}, got a fit"])
    seconds = time.perf_counter() - t0
    out = compare(case, res)
    out.seconds = seconds
    return out


def format_table(results):
    rows = []
    for r in results:
        rows.append({"case": r.id, "structure": r.structure[:60],
                     "|dlogLik|": f"{r.dloglik:.1e}", "fixef": f"{r.fe:.1e}",
                     "SE": f"{r.se:.1e}", "var.par": f"{r.variance:.1e}",
                     "BLUP/resid": f"{r.blup:.1e}", "anova F": f"{r.anova:.1e}",
                     "intervals": f"{r.intervals:.1e}", "sec": f"{r.seconds:.2f}",
                     "result": ("PASS" if r.passed else "FAIL") + (" (error expected)"
                                                                   if r.passed and r.error else "")})
    return pd.DataFrame(rows).to_string(index=False)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lmmext.validation",
                                 description="Compare lmmext with stored nlme references.")
    ap.add_argument("--dir", help="validation folder (default: the repository's)")
    ap.add_argument("--group", action="append", help="only these case groups")
    ap.add_argument("--case", action="append", help="only these case ids")
    args = ap.parse_args(argv)
    vdir = find_dir(args.dir)
    cases = load_cases(vdir, args.group)
    if args.case:
        cases = [c for c in cases if c["id"] in args.case]
    results = [run_case(c, vdir) for c in cases]
    print(format_table(results))
    n_fail = sum(not r.passed for r in results)
    for r in results:
        if not r.passed:
            print(f"\n{r.id} FAIL: " + "; ".join(r.failures))
    print(f"\n{len(results) - n_fail} passed, {n_fail} failed")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
