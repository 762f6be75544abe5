"""Cluster-robust (sandwich) covariances and coefficient tests of lme and gls fits
(issue 17) against R's clubSandwich 0.5.8 on nlme 3.1-162 fits
(validation/R/robust.R -> validation/references_nlme14/robust.json): vcovCR of types
CR0, CR1, CR1p, CR1S, CR2 and coef_test with Satterthwaite, naive-t, naive-tp and z
degrees of freedom, default and user-given clusters, and the refusals."""
import json
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from lmmext import CorAR1, CorSymm, VarIdent, VarPower, gls, lme
from lmmext.validation import find_dir, load_dataset, normalize_name

REFS = json.loads((find_dir() / "references_nlme14" / "robust.json").read_text())
CASES = {c["id"]: c for c in REFS["cases"]}
F = "distance ~ age * Sex"

# Relative tolerance per case.  The algebra reproduces clubSandwich to ~1e-13 where both
# fits reach the same optimum to ~1e-14 (RB01, RB03: tested at 1e-9); elsewhere the
# variance parameters of the two optimizers differ in the 7th-8th digit (logLik within
# 2e-12) and the sandwich moves with them: 1e-6.  RB06 (corSymm, six correlations on
# unbalanced data, a flat optimum; nlme's BFGS logLik higher by 7.5e-11) differs by
# up to 1.6e-5 on the smallest vcov entries, 6.6e-7 on the estimates: 5e-5.
TOL = {"RB01": 1e-9, "RB03": 1e-9, "RB06": 5e-5}


def _data(name):
    """Orthodont with the derived columns of robust.R (visit, t, pair); ``OU``: without
    the rows ``drop_rows`` (1-based)."""
    d = load_dataset("Orthodont")
    d["visit"] = pd.Categorical(d["age"], categories=[8, 10, 12, 14])
    d["t"] = ((d["age"] - 8) // 2 + 1).astype(int)
    sub = d["Subject"].astype(str)
    d["pair"] = sub.str[0] + np.ceil(sub.str[1:].astype(int) / 2).astype(int).astype(str)
    if name == "OU":
        d = d.drop(index=np.array(REFS["drop_rows"]) - 1).reset_index(drop=True)
    return d


@lru_cache(maxsize=None)
def _fit(case_id):
    c = CASES[case_id]
    d = _data(c["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case_id == "RB01":
            return lme(F, data=d, random="~ 1 | Subject")
        if case_id in ("RB02", "RB08"):
            return lme(F, data=d, random="~ 1 | Subject", weights=VarIdent(form="~ 1 | Sex"),
                       correlation=CorAR1(form="~ 1 | Subject"))
        if case_id in ("RB03", "RB06"):
            form = "~ 1 | Subject" if case_id == "RB03" else "~ t | Subject"
            return gls("distance ~ visit * Sex", data=d, correlation=CorSymm(form=form),
                       weights=VarIdent(form="~ 1 | age"))
        if case_id in ("RB04", "RB07"):
            return gls(F, data=d, correlation=CorAR1(form="~ 1 | Subject"),
                       weights=VarPower(form="~ age"), method=c["method"])
        if case_id == "RB05":
            return lme(F, data=d, random="~ age | Subject")
        if case_id == "RB09":
            return gls(F, data=d, weights=VarIdent(form="~ 1 | Sex"))
        if case_id == "RB10":
            return lme(F, data=d, random="~ 1 | Subject",
                       correlation=CorAR1(form="~ 1 | Subject"))
    raise KeyError(case_id)


def _perm(fit, case):
    """Positions of R's coefficients among ours (patsy orders age * Sex differently)."""
    keys = [normalize_name(k) for k in fit.fe_params.index]
    return [keys.index(normalize_name(n)) for n in case["fixef_names"]]


def _cluster(case):
    return case["cluster"]          # None: the default cluster


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_fit_equals_nlme(case_id):
    c, fit = CASES[case_id], _fit(case_id)
    assert fit.llf == pytest.approx(c["logLik"], abs=1e-6)
    P = _perm(fit, c)
    np.testing.assert_allclose(fit.fe_params.to_numpy()[P], c["fixef"], rtol=TOL.get(case_id, 1e-6))


@pytest.mark.parametrize("case_id", sorted(CASES))
@pytest.mark.parametrize("type", ["CR0", "CR1", "CR1p", "CR1S", "CR2"])
def test_vcov_robust(case_id, type):
    c, fit = CASES[case_id], _fit(case_id)
    P = _perm(fit, c)
    V = fit.vcov_robust(type, cluster=_cluster(c))
    assert isinstance(V, pd.DataFrame)
    assert list(V.index) == list(fit.fe_params.index) == list(V.columns)
    R = np.array(c["vcovCR"][type])
    np.testing.assert_allclose(V.to_numpy()[np.ix_(P, P)], R, rtol=TOL.get(case_id, 1e-6),
                               atol=0, err_msg=f"{case_id} {type}")
    np.testing.assert_allclose(V.to_numpy(), V.to_numpy().T, rtol=1e-12, atol=0)


@pytest.mark.parametrize("case_id", sorted(CASES))
@pytest.mark.parametrize("type", ["CR0", "CR1", "CR2"])
@pytest.mark.parametrize("test,key", [("satterthwaite", "Satt"), ("naive-t", "t"),
                                      ("naive-tp", "tp"), ("z", "z")])
def test_coef_test(case_id, type, test, key):
    c, fit = CASES[case_id], _fit(case_id)
    P = _perm(fit, c)
    ref = c["coef_test"][type]
    tol = TOL.get(case_id, 1e-6)
    out = fit.coef_test(vcov=type, test=test, cluster=_cluster(c))
    assert list(out.columns) == ["Estimate", "SE", "t", "df", "p"]
    assert list(out.index) == list(fit.fe_params.index)
    out = out.iloc[P]
    np.testing.assert_allclose(out["Estimate"], ref["estimate"], rtol=tol)
    np.testing.assert_allclose(out["SE"], ref["SE"], rtol=tol)
    np.testing.assert_allclose(out["t"], ref["t"], rtol=tol)
    if test == "z":
        assert np.all(np.isinf(out["df"]))
    else:
        np.testing.assert_allclose(out["df"], ref["df_" + key], rtol=tol)
    # a p-value's relative error is about t^2 (z; t^2 df / (df + t^2) for t) times that
    # of t: for |t| up to 40 (intercepts) the tolerance on p scales with t^2
    t = np.asarray(ref["t"])
    rtol_p = tol * np.maximum(1.0, t ** 2)
    p_R = np.asarray(ref["p_" + key], dtype=float)
    assert np.all(np.abs(out["p"].to_numpy() - p_R) <= rtol_p * p_R + 1e-300), out["p"]


def test_robust_df_with_ml_gls_uses_nlme_vcov():
    """An ML gls: clubSandwich's bread is nlme's vcov (with its N / (N - p)); RB07 vs
    RB04 differ by more than that factor, and both match R (tested above)."""
    fit = _fit("RB07")
    N, p = fit.nobs, fit.k_fe
    assert not np.allclose(fit.vcov_robust("CR0"), _fit("RB04").vcov_robust("CR0"))
    assert N / (N - p) > 1


def test_cluster_spellings_agree():
    """A column name, labels in the data's row order (all rows or only the rows used),
    and the default give the same covariance; labels follow the caller's row order."""
    fit = _fit("RB02")
    d = _data("O")
    base = fit.vcov_robust("CR2")
    np.testing.assert_allclose(fit.vcov_robust("CR2", cluster="Subject"), base, rtol=1e-12)
    np.testing.assert_allclose(fit.vcov_robust("CR2", cluster=d["Subject"].to_numpy()),
                               base, rtol=1e-12)
    pair = fit.vcov_robust("CR2", cluster=d["pair"].tolist())
    np.testing.assert_allclose(pair, fit.vcov_robust("CR2", cluster="pair"), rtol=1e-12)
    # shuffled rows (no row-order dependent structure): the same fit, the labels read
    # in the shuffled order
    rng = np.random.default_rng(1)
    ds = d.iloc[rng.permutation(len(d))].reset_index(drop=True)
    fs = lme(F, data=ds, random="~ 1 | Subject")
    np.testing.assert_allclose(fs.vcov_robust("CR2", cluster=ds["pair"].to_numpy()),
                               _fit("RB01").vcov_robust("CR2", cluster="pair"), rtol=1e-6)


def test_bad_input():
    fit, g = _fit("RB01"), _fit("RB09")
    d = _data("O")
    with pytest.raises(ValueError, match="type must be one of 'CR0', 'CR1'"):
        fit.vcov_robust("CR7")
    with pytest.raises(ValueError, match="coef_test: type must be one of"):
        fit.coef_test(vcov="HC3")
    with pytest.raises(ValueError, match="test must be one of 'satterthwaite'"):
        fit.coef_test(test="saddle")
    with pytest.raises(ValueError, match=r"has 50 labels; it needs one per row .*\(108\)"):
        fit.vcov_robust(cluster=d["Subject"].to_numpy()[:50])
    # clubSandwich: "Random effects are not nested within clustering variable."
    assert "not nested" in REFS["errors"]["not_nested"]
    with pytest.raises(ValueError, match="must nest the random-effects groups of Subject"):
        fit.vcov_robust(cluster="age")
    with pytest.raises(ValueError, match="must nest the groups of the correlation"):
        _fit("RB04").vcov_robust(cluster=d["age"].to_numpy())
    assert "single cluster" in REFS["errors"]["one_cluster"]
    with pytest.raises(ValueError, match="at least two clusters"):
        fit.vcov_robust(cluster=np.ones(len(d)))
    with pytest.raises(ValueError, match="no default cluster"):
        g.vcov_robust()
    with pytest.raises(ValueError, match="not a column of the fit's data"):
        g.vcov_robust(cluster="Rat")
    with pytest.raises(ValueError, match="missing values"):
        lab = np.array(d["Subject"].astype(str), dtype=object)
        lab[3] = None
        g.vcov_robust(cluster=lab)
