"""nlme's inference: anova F tables, model comparisons, intervals (seed numbers and
nlme reference output)."""
import warnings

import numpy as np
import pytest

import lmmext
from lmmext import VarIdent, gls, lme
from lmmext.validation import find_dir, load_cases
import json

REF = {c["id"]: c for c in load_cases()}


@pytest.fixture(scope="module")
def lactase(data):
    d = data("lactase")
    f = "loglact ~ reg + status + reg:status"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit1 = lme(f, data=d, random="~ 1 | litter/pig")
    return fit1, lme(f, data=d, random="~ 1 | pig"), gls(f, data=d)


def test_lactase_anova_seed(lactase):
    tab = lactase[0].anova()
    assert list(tab.index) == ["Intercept", "reg", "status", "reg:status"]
    assert tab["denDF"].tolist() == [35, 35, 14, 35]
    assert tab["numDF"].tolist() == [1, 2, 1, 2]
    np.testing.assert_allclose(tab["F-value"], [478.7082, 10.2922, 2.5496, 5.6265], atol=5e-5)
    np.testing.assert_allclose(tab["p-value"][1:], [0.0003, 0.1326, 0.0076], atol=5e-5)


def test_lactase_model_comparisons_seed(lactase):
    fit1, fit2, fit3 = lactase
    t12 = lmmext.anova(fit1, fit2)
    assert t12["df"].tolist() == [9, 8]
    np.testing.assert_allclose(t12["AIC"], [97.91436, 95.91436], atol=5e-6)
    np.testing.assert_allclose(t12["BIC"], [115.6470, 111.6767], atol=5e-5)
    assert t12["L.Ratio"].iloc[1] < 1e-6 and t12["p-value"].iloc[1] > 0.999
    t23 = lmmext.anova(fit2, fit3)
    assert t23["Test"].iloc[1] == "1 vs 2"
    assert t23["L.Ratio"].iloc[1] == pytest.approx(9.548944, abs=5e-7)
    assert t23["p-value"].iloc[1] == pytest.approx(0.002, abs=5e-4)


def test_orthodont_anova_and_lrt_seed(data):
    O = data("Orthodont")
    fit2 = lme("distance ~ Sex * I(age - 11)", data=O, random="~ 1 | Subject")
    fit3 = lme("distance ~ Sex * I(age - 11)", data=O, random="~ 1 | Subject",
               weights=VarIdent(form="~ 1 | Sex"))
    tab = fit2.anova()
    assert list(tab.index) == ["Intercept", "Sex", "I(age - 11)", "Sex:I(age - 11)"]
    assert tab["denDF"].tolist() == [79, 25, 79, 79]
    np.testing.assert_allclose(tab["F-value"], [4123.156, 9.292, 122.450, 6.303], atol=5e-4)
    t = lmmext.anova(fit2, fit3)
    assert t["L.Ratio"].iloc[1] == pytest.approx(18.53677, abs=5e-6)
    assert t["p-value"].iloc[1] < 1e-4


def test_anova_follows_formula_order_not_patsy(data):
    """weight ~ Lsize + treatment*sex: R tests Lsize second (patsy puts it last)."""
    rp = data("ratpup")
    fit = lme("weight ~ Lsize + treatment + sex + treatment:sex", data=rp,
              random="~ 1 | Litter", weights=VarIdent(form="~ 1 | treatment"))
    tab = fit.anova()
    ref = REF["S06"]["anova"]["sequential"]
    assert list(tab.index) == ["Intercept", "Lsize", "treatment", "sex", "treatment:sex"]
    np.testing.assert_allclose(tab["F-value"], [r["F-value"] for r in ref], rtol=1e-4)
    assert tab["denDF"].tolist() == [r["denDF"] for r in ref]


@pytest.mark.parametrize("cid", [c for c in REF if REF[c].get("anova")
                                 and not REF[c].get("expect_error")])
def test_anova_tables_match_nlme(cid):
    from lmmext.validation import fit_case
    res = fit_case(REF[cid])
    for kind, rows in REF[cid]["anova"].items():
        if kind not in ("sequential", "marginal"):
            continue
        tab = res.anova(type=kind)
        np.testing.assert_allclose(tab["F-value"], [r["F-value"] for r in rows], rtol=2e-4)
        np.testing.assert_allclose(tab["denDF"], [r["denDF"] for r in rows])
        # F agrees to ~1e-5 relative (the two optimizers' optima), which moves
        # p-values near 0.05 by ~1e-6
        np.testing.assert_allclose(tab["p-value"], [r["p-value"] for r in rows], atol=2e-5)


def test_contrast_L(data):
    O = data("Orthodont")
    fit = lme("distance ~ age + Sex", data=O, random="~ 1 | Subject")
    one = fit.anova(L=[[0, 1, 0]])
    assert one["F-value"].iloc[0] == pytest.approx(fit.tvalues["Sex[T.Female]"] ** 2)
    with pytest.raises(ValueError, match="columns"):
        fit.anova(L=[[0, 1, 0, 0]])        # a shorter L is padded with zeros, as nlme
    with pytest.raises(ValueError, match="linearly dependent"):
        fit.anova(L=[[0, 1, 0], [0, 2, 0]])


def test_anova_refuses_different_data(data):
    O = data("Orthodont")
    a = lme("distance ~ age", data=O, random="~ 1 | Subject")
    b = lme("distance ~ age", data=O.iloc[4:], random="~ 1 | Subject")
    with pytest.raises(ValueError, match="different numbers of observations"):
        lmmext.anova(a, b)
    c = lme("distance ~ age + Sex", data=O, random="~ 1 | Subject")
    with pytest.warns(UserWarning, match="REML comparisons are not meaningful"):
        lmmext.anova(a, c)
    d = lme("distance ~ age", data=O, random="~ 1 | Subject", method="ML")
    with pytest.raises(ValueError, match="same estimation method"):
        lmmext.anova(a, d)


# nlme's apVar comes from a finite-difference design accurate to ~1e-4 (sometimes far
# less, see below), so interval endpoints of variance parameters are compared to 1e-3
@pytest.mark.parametrize("cid", ["S07", "V07", "V06", "V05", "C01", "V01", "V02"])
def test_intervals_match_nlme(cid):
    from lmmext.validation import fit_case, normalize_name
    ref = REF[cid]["intervals"]
    iv = fit_case(REF[cid]).intervals()
    fx = {normalize_name(n): n for n in iv.fixed.index}
    for row in ref.get("fixed") or ref["coef"]:          # gls: "coef"
        got = iv.fixed.loc[fx[normalize_name(row["name"])]]
        assert got["lower"] == pytest.approx(row["lower"], rel=1e-4)
        assert got["upper"] == pytest.approx(row["upper"], rel=1e-4)
    for key in ("lower", "est.", "upper"):
        assert iv.sigma[key] == pytest.approx(ref["sigma"][key], rel=1e-3)
    for lev, rows in (ref.get("reStruct") or {}).items():
        got = iv.re[lev]
        names = {normalize_name(n): n for n in got.index}
        for row in rows:
            g = got.loc[names[normalize_name(row["name"])]]
            for key in ("lower", "est.", "upper"):
                # correlation endpoints (tanh of z) amplify apVar's inaccuracy: 2e-3 abs.
                assert g[key] == pytest.approx(row[key], rel=1e-3, abs=2e-3)
    for row in ref.get("corStruct") or []:
        for key in ("lower", "est.", "upper"):
            assert iv.corStruct.loc[row["name"], key] == pytest.approx(row[key], rel=1e-3)


def test_sire_intervals_seed(data):
    fit = lme("bw ~ 1", data=data("sires"), random="~ 1 | sire")
    iv = fit.intervals()
    # nlme (validation/references S07): sd((Intercept)) 3.8056 .. 30.680, sigma 17.038 .. 27.221
    assert iv.re["sire"].loc["sd((Intercept))", "lower"] == pytest.approx(3.80555553401745, rel=1e-3)
    assert iv.sigma["upper"] == pytest.approx(27.2206947775386, rel=1e-3)


def test_gls_sigma_interval_without_variance_parameters(data):
    fit = gls("distance ~ age + Sex", data=data("Orthodont"), weights=lmmext.VarFixed("~ age"))
    iv = fit.intervals()
    # nlme-reference.md 8 (R10)
    np.testing.assert_allclose([iv.sigma["lower"], iv.sigma["est."], iv.sigma["upper"]],
                               [0.614825237689363, 0.69778372557258, 0.806826192698034], rtol=1e-8)


ACCURATE = {c["id"]: c for c in json.loads(
    (find_dir() / "references_apvar" / "apvar.json").read_text())}


@pytest.mark.parametrize("cid", ["V31", "V37", "C06", "V07", "C01", "V05", "C23", "V42"])
def test_apvar_equals_accurate_hessian_of_nlmes_criterion(cid):
    """nlme's default apVar uses fdHess with tiny steps and is noisy (V31: 0.143 vs
    0.282 for the outer-level variance; C06: 0.117 vs 0.741; C23: "non-positive
    definite").  validation/R/apvar_accurate.R differentiates nlme's own criterion with
    Richardson extrapolation; lmmext's apVar equals that to 1e-3."""
    from lmmext.inference.apvar import approximate_covariance
    from lmmext.validation import fit_case
    ref = np.array(ACCURATE[cid]["apVar_accurate"])
    ap = approximate_covariance(fit_case(REF[cid])._state)
    np.testing.assert_allclose(ap.cov, ref, rtol=1e-3, atol=1e-3 * np.abs(np.diag(ref)).max())


def test_sire_satterthwaite_matches_sas_proc_mixed(data):
    """Seed ST518: PROC MIXED, mean 82.55 (SE 5.9114, DF 4 by Satterthwaite); CL for
    sigma_tau^2 116.75: 29.9707 .. 7051.37, for sigma^2 463.79: 305.11 .. 789.17."""
    fit = lme("bw ~ 1", data=data("sires"), random="~ 1 | sire")
    tab = fit.fe_table(ddf="satterthwaite")
    assert tab.loc["Intercept", "DF"] == pytest.approx(4.0, rel=1e-4)
    assert round(tab.loc["Intercept", "Std.Error"], 4) == 5.9114
    assert tab.loc["Intercept", "p-value"] == pytest.approx(0.0002, abs=5e-5)
    vc = fit.intervals(method="satterthwaite").varcomp
    sire, resid = vc.iloc[0], vc.loc["Residual"]
    assert round(sire["est."], 2) == 116.75 and round(resid["est."], 2) == 463.79
    assert sire["lower"] == pytest.approx(29.9707, abs=5e-5)
    assert sire["upper"] == pytest.approx(7051.37, rel=1e-5)
    assert round(resid["lower"], 2) == 305.11 and round(resid["upper"], 2) == 789.17


def test_satterthwaite_balanced_designs_give_the_classical_df(data):
    """Balanced designs: Satterthwaite reproduces the ANOVA strata DFs (Orthodont:
    Sex between 27 subjects -> 25; age within -> 80; random slope model -> 26)."""
    O = data("Orthodont")
    fit = lme("distance ~ age + Sex", data=O, random="~ 1 | Subject")
    df = fit.coef_df("satterthwaite")
    assert df["Sex[T.Female]"] == pytest.approx(25, rel=1e-4)
    assert df["age"] == pytest.approx(80, rel=1e-4)
    fit2 = lme("distance ~ age", data=O, random="~ age | Subject")
    assert fit2.coef_df("satterthwaite")["age"] == pytest.approx(26, rel=1e-4)
    tab = fit.anova(ddf="satterthwaite")
    assert tab.loc["Sex", "denDF"] == pytest.approx(25, rel=1e-4)
    with pytest.raises(ValueError, match="ddf"):
        fit.anova(ddf="bogus")


def test_intervals_on_a_flat_likelihood_warn_and_give_fixed_effects_only():
    """C30: a random intercept plus compound symmetry in the same groups is not
    identified; nlme says "Non-positive definite approximate variance-covariance"."""
    from lmmext.validation import fit_case
    res = fit_case(REF["C30"])
    with pytest.warns(UserWarning, match="Non-positive definite"):
        iv = res.intervals()
    assert iv.re == {} and iv.sigma is None
    assert len(iv.fixed) == 3
