"""nlme's result-access conveniences against nlme 3.1-162: anova(Terms=, L=) of one fit,
anova(fit1, fit2, test=FALSE), coef(fit, level=), fitted/residuals/predict at several
levels, intervals(which=).  References: validation/references_nlme14/results_api.json
(validation/R/results_api.R)."""
import json
import pickle

import numpy as np
import pandas as pd
import pytest

import lmmext
from lmmext import CorAR1, CorCompSymm, gls, lme
from lmmext.validation import find_dir, load_dataset

REF = json.loads((find_dir() / "references_nlme14" / "results_api.json").read_text())
RTOL = 1e-4          # estimates, F values, p-values (relative), as the validation standard
LL_ATOL = 1e-6       # log-likelihoods (absolute)


def frame(ref, name_map=None, data_rows=True):
    """A reference data frame; with ``data_rows`` R's row names are the 1-based row
    numbers of the CSV (the data's index is 0-based)."""
    index = ref["index"] if isinstance(ref["index"], list) else [ref["index"]]
    cols = {k: (v if isinstance(v, list) else [v]) for k, v in ref["columns"].items()}
    df = pd.DataFrame(cols).astype(float, errors="ignore")
    df.index = [int(i) - 1 for i in index] if data_rows else index
    return df.rename(columns=name_map or {})


def close(actual, expected, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def bw():
    d = load_dataset("BodyWeight")
    return (lme("weight ~ Time * Diet", data=d, random="~ Time | Rat"),
            lme("weight ~ Time * Diet", data=d, random="~ Time | Rat", method="ML"))


@pytest.fixture(scope="module")
def orth():
    return load_dataset("Orthodont")


@pytest.fixture(scope="module")
def slopes(orth):
    return lme("distance ~ age + Sex", data=orth, random="~ age | Subject")


@pytest.fixture(scope="module")
def pixel():
    return lme("pixel ~ day + I(day**2)", data=load_dataset("Pixel"),
               random={"Dog": "~ day", "Side": "~ 1"})


def check_ftest(tab, ref):
    assert isinstance(tab, pd.DataFrame) and len(tab) == 1
    assert list(tab.columns) == ["numDF", "denDF", "F-value", "p-value"]
    assert int(tab["numDF"].iloc[0]) == ref["numDF"]
    close(tab["F-value"].iloc[0], ref["F-value"])
    # p-values below ~1e-15 amplify the F's ~1e-6 relative optimizer differences (Pixel's
    # intercept contrast: F 6e-6, p 2.4e-4 relative at p = 3.5e-93): absolute there
    close(tab["p-value"].iloc[0], ref["p-value"], atol=1e-15)
    if "denDF" in ref:
        assert tab["denDF"].iloc[0] == ref["denDF"]
    # nlme's heading, up to R's trailing blanks (gls: "Denom. DF: 104 \n F-test for: ...")
    expected = [ln.strip() for ln in ref["label"].splitlines()]
    assert [ln.strip() for ln in tab.heading.splitlines()] == [
        e.replace("(Intercept)", "Intercept") for e in expected]


# --- anova(fit, Terms=) -------------------------------------------------------------------
def test_fits_are_nlme_fits(bw, slopes, pixel):
    assert bw[0].llf == pytest.approx(REF["bodyweight"]["logLik"], abs=LL_ATOL)
    assert bw[1].llf == pytest.approx(REF["bodyweight_ml"]["logLik"], abs=LL_ATOL)
    assert slopes.llf == pytest.approx(REF["orthodont"]["logLik"], abs=LL_ATOL)
    assert pixel.llf == pytest.approx(REF["pixel"]["logLik"], abs=LL_ATOL)


@pytest.mark.parametrize("case,i", [("bodyweight", i) for i in range(7)]
                         + [("bodyweight_ml", 0), ("bodyweight_ml", 1)])
def test_anova_terms(bw, case, i):
    fit = bw[0] if case == "bodyweight" else bw[1]
    ref = REF[case]["terms_tests"][i]
    Terms = ref["Terms"]
    tab = fit.anova(Terms=Terms, type=ref.get("type", "sequential"))
    check_ftest(tab, ref)
    # the heading names the terms as lmmext's anova table does (R's names here)
    assert tab.heading == ref["label"].replace("(Intercept)", "Intercept")
    # the module-level function is the same
    pd.testing.assert_frame_equal(lmmext.anova(fit, Terms=Terms), tab)


def test_anova_terms_is_the_marginal_wald_test(bw):
    """nlme ignores type= with Terms: one term's joint test is its marginal row."""
    fit = bw[0]
    marg = fit.anova(type="marginal")
    for i, name in enumerate(marg.index, start=1):
        seq = fit.anova(Terms=i, type="sequential")
        assert seq["F-value"].iloc[0] == pytest.approx(marg.loc[name, "F-value"], rel=1e-10)
    close(marg["F-value"], [r["F-value"] for r in REF["bodyweight"]["anova_marginal"]])
    # positions and names, in any order, are the same test
    a = fit.anova(Terms=[4, 2])
    b = fit.anova(Terms=["Time", "Time:Diet"])
    assert a["F-value"].iloc[0] == pytest.approx(b["F-value"].iloc[0], rel=1e-12)
    assert fit.anova(Terms="(Intercept)")["F-value"].iloc[0] == \
        pytest.approx(fit.anova(Terms=1)["F-value"].iloc[0])


def test_anova_terms_print(bw):
    text = repr(bw[0].anova(Terms="Time:Diet"))
    assert text.splitlines()[0] == "F-test for: Time:Diet"
    assert "numDF" in text.splitlines()[1] and text.splitlines()[2].startswith("1")


@pytest.mark.parametrize("Terms,match", [
    ([3, 4], "same denominator DF"),          # nlme: terms must all have the same denominator DF
    (5, "between 1 and 4"),                   # nlme: 'Terms' must be between 1 and 4
    (0, "between 1 and 4"),
    ("Diet:Time", r"\['Diet:Time'\] not matched"),  # nlme: term Diet:Time not matched
    ([1.5], "integers"),
    ([1, "Time"], "integers"),
    (True, "integers"),
    ([], "no terms"),
])
def test_anova_terms_errors(bw, Terms, match):
    with pytest.raises(ValueError, match=match):
        bw[0].anova(Terms=Terms)


def test_anova_terms_errors_agree_with_nlme():
    msgs = {json.dumps(e.get("Terms", e.get("L"))): e["message"]
            for e in REF["bodyweight"]["errors"]}
    assert msgs["[3, 4]"] == "terms must all have the same denominator DF"
    assert msgs["5"] == msgs["0"] == "'Terms' must be between 1 and 4"
    assert msgs['"Diet:Time"'] == "term Diet:Time not matched"
    assert msgs['{"Diet4": 1}'] == "effect Diet4 not matched"
    assert msgs["[0, 0, 0, 0, 0, 0, 1]"] == "'L' must have at most 6 columns"


# --- anova(fit, L=) ------------------------------------------------------------------------
def _named_L(ref, name_map):
    L = ref["L"]
    if isinstance(L, dict) and "columns" in L:
        return pd.DataFrame(L["rows"], columns=[name_map[c] for c in L["columns"]])
    if isinstance(L, dict):
        return {name_map[k]: v for k, v in L.items()}
    return L


@pytest.mark.parametrize("case,i", [("bodyweight", 0), ("bodyweight", 1), ("bodyweight_ml", 0),
                                    ("pixel", 0), ("pixel", 1), ("pixel", 2)])
def test_anova_L(bw, pixel, case, i):
    fit = {"bodyweight": bw[0], "bodyweight_ml": bw[1], "pixel": pixel}[case]
    ref = REF[case]["L_tests"][i]
    L = _named_L(ref, REF[case]["name_map"])
    tab = fit.anova(L=L)
    check_ftest(tab, ref)
    assert tab.heading == "F-test for linear combination(s)"
    # the printed L: nlme's non-zero columns (names mapped to patsy's)
    shown = ref["L_printed"]
    text = repr(tab)
    assert text.splitlines()[0] == "F-test for linear combination(s)"
    names = shown.get("columns") or shown.get("names") or []
    for n in names:
        assert REF[case]["name_map"][n] in text
    pd.testing.assert_frame_equal(lmmext.anova(fit, L=L), tab)


def test_anova_L_forms_agree(bw, pixel):
    fit = bw[0]
    named = fit.anova(L={"Time:Diet[T.2]": 1, "Time:Diet[T.3]": -1})
    series = fit.anova(L=pd.Series({"Time:Diet[T.3]": -1, "Time:Diet[T.2]": 1}))
    full = fit.anova(L=[0, 0, 0, 0, 1, -1])
    for t in (series, full):
        assert t["F-value"].iloc[0] == pytest.approx(named["F-value"].iloc[0], rel=1e-12)
    np.testing.assert_array_equal(named.L.to_numpy(), [[0, 0, 0, 0, 1, -1]])
    assert list(named.L.columns) == list(fit.fe_params.index)
    # short unnamed rows are padded with zeros on the right, as R
    short = pixel.anova(L=[0, 1])
    assert short["F-value"].iloc[0] == pytest.approx(pixel.anova(L=[0, 1, 0])["F-value"].iloc[0])
    assert short["F-value"].iloc[0] == pytest.approx(pixel.tvalues["day"] ** 2, rel=1e-10)
    # all-zero rows are dropped; a named DataFrame keeps its row labels
    m = pixel.anova(L=pd.DataFrame([[0, 1], [0, 0], [1, 1]], columns=["day", "Intercept"],
                                   index=["a", "b", "c"]))
    assert int(m["numDF"].iloc[0]) == 2 and list(m.shown_L.index) == ["a", "c"]


@pytest.mark.parametrize("L,match", [
    ({"Diet4": 1}, r"fixed effect\(s\) \['Diet4'\] not matched; the fixed effects are "
                   r"\['Intercept', 'Diet\[T.2\]'"),
    ({"Time:Diet2": 1}, "not matched"),                    # R's name, not patsy's
    ([0, 0, 0, 0, 0, 0, 1], "at most 6 columns"),
    ({"Time": 1, "Diet[T.2]": 1}, "denominator DF"),        # 157 and 13, as nlme refuses
    ([0, 0, 0], "no non-zero rows"),
    ([[0, 1], [0, 2]], "linearly dependent"),
    (["a", "b"], "numbers"),
    ([np.nan, 1], "missing"),
])
def test_anova_L_errors(bw, L, match):
    with pytest.raises(ValueError, match=match):
        bw[0].anova(L=L)


def test_anova_terms_and_L_together(bw):
    with pytest.raises(ValueError, match="not both"):
        bw[0].anova(Terms=2, L=[0, 1])
    with pytest.raises(ValueError, match="several fits"):
        lmmext.anova(bw[0], bw[0], Terms=2)


def test_anova_terms_other_ddf(bw):
    """Terms= also with Satterthwaite's DF: the same F as the equivalent L."""
    fit = bw[0]
    a = fit.anova(Terms="Time:Diet", ddf="satterthwaite")
    b = fit.anova(L={"Time:Diet[T.2]": 1, "Time:Diet[T.3]": 0.0, "Intercept": 0},
                  ddf="satterthwaite")
    assert a.heading == "F-test for: Time:Diet"
    assert a["F-value"].iloc[0] == pytest.approx(
        fit.anova(type="marginal", ddf="satterthwaite").loc["Time:Diet", "F-value"], rel=1e-10)
    assert b["numDF"].iloc[0] == 1


@pytest.mark.parametrize("i", [0, 1])
def test_gls_anova_terms_and_L(orth, i):
    ref = REF["gls"]
    fit = gls("distance ~ age * Sex", data=orth, correlation=CorCompSymm(form="~ 1 | Subject"))
    assert fit.llf == pytest.approx(ref["logLik"], abs=LL_ATOL)
    tt = ref["terms_tests"][i]
    tab = fit.anova(Terms=tt["Terms"])
    check_ftest(tab, tt)
    assert tab["denDF"].iloc[0] == 104
    assert tab.heading.splitlines() == ["Denom. DF: 104", " F-test for: Sex, age:Sex"]
    lt = ref["L_tests"][0]
    tab = fit.anova(L=_named_L(lt, ref["name_map"]))
    check_ftest(tab, lt)
    close(fit.coef()[[ref["name_map"][k] for k in ref["coef"]]], list(ref["coef"].values()))


def test_ftest_pickles(bw):
    tab = bw[0].anova(L={"Time:Diet[T.2]": 1, "Time:Diet[T.3]": -1})
    back = pickle.loads(pickle.dumps(tab))
    assert repr(back) == repr(tab)


# --- anova(fit1, fit2, test=False) ----------------------------------------------------------
@pytest.fixture(scope="module")
def ml_fits(orth):
    return (lme("distance ~ age + Sex", data=orth, random="~ 1 | Subject", method="ML"),
            lme("distance ~ age + Sex", data=orth, random="~ age | Subject", method="ML"),
            gls("distance ~ age + Sex", data=orth, correlation=CorCompSymm(form="~ 1 | Subject"),
                method="ML"))


@pytest.mark.parametrize("key,which,test", [("test_false", (0, 1), False),
                                            ("test_true", (0, 1), True),
                                            ("same_df", (0, 2), True),
                                            ("same_df_test_false", (0, 2), False)])
def test_model_comparison_columns(ml_fits, key, which, test):
    ref = frame(REF["comparison"][key], data_rows=False)
    tab = lmmext.anova(*(ml_fits[i] for i in which), test=test)
    assert list(tab.columns) == list(ref.columns)
    assert tab["Model"].tolist() == ref["Model"].tolist()
    assert tab["df"].tolist() == ref["df"].tolist()
    for c in ("AIC", "BIC", "logLik"):
        close(tab[c], ref[c], rtol=0, atol=2e-6)
    if "L.Ratio" in ref:
        assert tab["Test"].tolist() == ["", "1 vs 2"]
        close(tab["L.Ratio"].iloc[1], ref["L.Ratio"].iloc[1], rtol=1e-4)
        close(tab["p-value"].iloc[1], ref["p-value"].iloc[1], rtol=1e-4)


def test_model_comparison_test_must_be_bool(ml_fits):
    with pytest.raises(ValueError, match="test must be True or False"):
        lmmext.anova(ml_fits[0], ml_fits[1], test="no")


# --- coef(fit, level=) ----------------------------------------------------------------------
def test_coef_one_level(slopes):
    ref = REF["orthodont"]
    expected = frame(ref["coef_1"], ref["name_map"], data_rows=False)
    got = slopes.coef(level=1)
    assert list(got.columns) == list(slopes.fe_params.index)      # fixed-effects order
    assert list(got.index) == list(expected.index)                 # nlme's sorted groups
    assert got.index.name == "Subject"
    close(got[expected.columns], expected)
    pd.testing.assert_frame_equal(slopes.coef(), got)               # default: innermost
    pd.testing.assert_frame_equal(slopes.coef("Subject"), got)
    # the Sex column is the fixed effect in every row (no random effect of Sex)
    assert np.all(got["Sex[T.Female]"] == slopes.fe_params["Sex[T.Female]"])


@pytest.mark.parametrize("level", [1, 2])
def test_coef_nested(pixel, level):
    ref = REF["pixel"]
    expected = frame(ref[f"coef_{level}"], ref["name_map"], data_rows=False)
    got = pixel.coef(level=level)
    assert list(got.index) == list(expected.index)                 # 2: "1/L", "1/R", ...
    assert got.index.name == ["Dog", "Side"][level - 1]
    close(got[expected.columns], expected)


def test_coef_random_effect_not_in_fixed(orth):
    fit = lme("distance ~ Sex", data=orth, random="~ age | Subject")
    c = fit.coef()
    assert list(c.columns) == ["Intercept", "Sex[T.Female]", "age"]
    np.testing.assert_allclose(c["age"], fit.ranef()["age"])


@pytest.mark.parametrize("level,match", [([0, 1], "single level"), (0, "between 1 and 1"),
                                         (2, "between 1 and 1"), ("Sex", "nonexistent level"),
                                         (1.0, "integer")])
def test_coef_errors(slopes, level, match):
    assert REF["orthodont"]["coef_level_error"] == "only single level allowed"
    with pytest.raises(ValueError, match=match):
        slopes.coef(level=level)


# --- fitted / residuals / predict at several levels -----------------------------------------
def test_fitted_levels_orthodont(slopes):
    ref = frame(REF["orthodont"]["fitted_01"])
    got = slopes.fitted(level=[0, 1])
    assert list(got.columns) == ["fixed", "Subject"]
    assert got.index.equals(ref.index)
    close(got, ref)
    pd.testing.assert_series_equal(got["Subject"], slopes.fittedvalues, check_names=False)
    pd.testing.assert_series_equal(slopes.fitted(level="fixed"), slopes.fitted(level=0))
    pd.testing.assert_frame_equal(slopes.fitted(level=range(2)), got)
    pd.testing.assert_frame_equal(slopes.fitted(level=["fixed", "Subject"]), got)
    pd.testing.assert_frame_equal(slopes.fitted(level=np.array([0, 1])), got)


def test_residual_levels_orthodont(slopes):
    ref = REF["orthodont"]
    resp = slopes.residuals(level=[0, 1])
    assert list(resp.columns) == ["fixed", "Subject"]
    # residuals near 0 have no relative precision: absolute 1e-4 on the scale of sigma
    # (Pearson residuals: sigma = 1), as the fitted values' 1e-4 relative
    close(resp, frame(ref["resid_01"]), atol=1e-4 * slopes.sigma)
    pear = slopes.residuals(type="pearson", level=[0, 1])
    close(pear, frame(ref["resid_pearson_01"]), atol=1e-4)
    pd.testing.assert_series_equal(pear["Subject"], slopes.resid_pearson, check_names=False)


def test_fitted_and_residual_levels_nested(pixel):
    ref = REF["pixel"]
    got = pixel.fitted(level=[0, 1, 2])
    assert list(got.columns) == ["fixed", "Dog", "Side"]
    close(got, frame(ref["fitted_012"]))
    res = pixel.residuals(level=[1, 2])
    assert list(res.columns) == ["Dog", "Side"]
    close(res, frame(ref["resid_12"]), atol=1e-4 * pixel.sigma)
    pear = pixel.residuals(type="p", level=["fixed", "Side"])
    assert list(pear.columns) == ["fixed", "Side"]
    close(pear, frame(ref["resid_pearson_02"]), atol=1e-4)


def test_normalized_residuals_at_levels(orth):
    """nlme: normalized residuals at level k decorrelate that level's Pearson residuals."""
    ref = REF["orthodont_ar1"]
    fit = lme("distance ~ age + Sex", data=orth, random="~ 1 | Subject", correlation=CorAR1())
    assert fit.llf == pytest.approx(ref["logLik"], abs=LL_ATOL)
    got = fit.residuals(type="normalized", level=[0, 1])
    expected = frame(ref["resid_normalized_01"]).sort_index()
    assert list(got.columns) == ["fixed", "Subject"]
    close(got.loc[expected.index], expected, atol=1e-4)
    pd.testing.assert_series_equal(fit.residuals(type="n", level=1), fit.resid_normalized)
    close(fit.residuals(type="n", level=0), expected["fixed"], atol=1e-4)


def test_predict_levels_orthodont(slopes):
    ref = REF["orthodont"]
    new = pd.DataFrame(ref["newdata"]["columns"])
    got = slopes.predict(new, level=[0, 1])
    expected = frame(ref["predict_01"])
    assert list(got.columns) == ["Subject", "predict.fixed", "predict.Subject"]
    assert got["Subject"].tolist() == expected["Subject"].tolist()
    close(got[["predict.fixed", "predict.Subject"]], expected[["predict.fixed", "predict.Subject"]])
    assert np.isnan(got["predict.Subject"].iloc[2])                  # new Subject: NA, as nlme
    close(slopes.predict(new, level=1), [np.nan if v is None else v for v in ref["predict_1"]])
    nonew = slopes.predict(level=[0, 1])
    exp2 = frame(ref["predict_nonew_01"])
    assert list(nonew.columns) == list(exp2.columns)
    assert nonew["Subject"].tolist() == exp2["Subject"].tolist()
    close(nonew[["predict.fixed", "predict.Subject"]], exp2[["predict.fixed", "predict.Subject"]])


def test_predict_levels_nested(pixel):
    ref = REF["pixel"]
    new = pd.DataFrame(ref["newdata"]["columns"])
    got = pixel.predict(new, level=[0, 1, 2])
    expected = frame(ref["predict_012"])
    assert list(got.columns) == list(expected.columns)
    assert got["Side"].tolist() == ["1/L", "10/R", "99/L"]
    num = ["predict.fixed", "predict.Dog", "predict.Side"]
    close(got[num], expected[num].astype(float))
    nonew = pixel.predict(level=[0, 2])
    exp2 = frame(ref["predict_nonew_02"])
    assert list(nonew.columns) == list(exp2.columns) == ["Side", "predict.fixed", "predict.Side"]
    assert nonew["Side"].tolist() == exp2["Side"].tolist()
    close(nonew[["predict.fixed", "predict.Side"]], exp2[["predict.fixed", "predict.Side"]])
    # a scalar level keeps the Series
    single = pixel.predict(new, level=2)
    assert isinstance(single, pd.Series) and single.name == "predicted"
    close(single, got["predict.Side"])


@pytest.mark.parametrize("call,match", [
    (lambda f: f.fitted(level=[0, 3]), "between 0 and 2"),
    (lambda f: f.fitted(level=-1), "between 0 and 2"),
    (lambda f: f.fitted(level="Worker"), "nonexistent level 'Worker'"),
    (lambda f: f.fitted(level=[1, 1]), "repeat"),
    (lambda f: f.fitted(level=[]), "no levels"),
    (lambda f: f.fitted(level=1.5), "integer"),
    (lambda f: f.residuals(level=[0, 5]), "between 0 and 2"),
    (lambda f: f.predict(level=[0, 3]), "between 0 and 2"),
    (lambda f: f.coef(level=3), "between 1 and 2"),
])
def test_level_errors(pixel, call, match):
    with pytest.raises(ValueError, match=match):
        call(pixel)


def test_predict_levels_need_grouping_columns(pixel):
    with pytest.raises(KeyError, match="'Side'"):
        pixel.predict(pd.DataFrame({"Dog": ["1"], "day": [1.0]}), level=[0, 2])


# --- intervals(which=) ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ri(orth):
    return lme("distance ~ age + Sex", data=orth, random="~ 1 | Subject")


def test_intervals_var_cov_has_no_fixed_effects(ri):
    ref = REF["intervals"]
    iv = ri.intervals(which="var-cov")
    assert iv.fixed is None
    text = str(iv)
    assert "Fixed effects" not in text
    lines = text.splitlines()
    assert lines[:3] == ["Approximate 95% confidence intervals", "", " Random Effects:"]
    assert [ln.strip() for ln in ref["var_cov_printed"][:3]] == [ln.strip() for ln in lines[:3]]
    assert "Within-group standard error:" in text
    # nlme's var-cov endpoints come from its finite-difference apVar; here they agree
    # with lmmext's accurate Hessian to 3e-5
    re_ref = frame(ref["var_cov_reStruct"], data_rows=False)
    close(iv.re["Subject"][["lower", "est.", "upper"]].to_numpy(), re_ref.to_numpy())
    sig = ref["var_cov_sigma"]
    close(iv.sigma[["lower", "est.", "upper"]], [sig["lower"], sig["est."], sig["upper"]])


def test_intervals_fixed_only(ri):
    ref = REF["intervals"]
    iv = ri.intervals(which="fixed")
    assert iv.re == {} and iv.sigma is None
    text = str(iv)
    assert "Random Effects" not in text and "standard error" not in text
    expected = frame(ref["fixed"], data_rows=False)
    expected.index = [{"(Intercept)": "Intercept", "SexFemale": "Sex[T.Female]"}.get(i, i)
                      for i in expected.index]
    close(iv.fixed.loc[expected.index], expected)
    full = ri.intervals()
    pd.testing.assert_frame_equal(full.fixed, iv.fixed)
