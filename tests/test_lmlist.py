"""nlme's lmList (issue 14, item 4) against nlme 3.1-162.

References: validation/references_nlme14/lmlist.json, written by validation/R/lmlist.R
(per-group lm fits of IGF, Orthodont, an Orthodont subset with too few rows per group,
Pixel with nested groups; nlme's lme(lmList) and lme4's boundary fit of IGF).
Tolerances: estimates, SEs, intervals 1e-4 relative; logLik 1e-6 absolute.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmext
from lmmext import LMList, lmList

REF = json.loads((Path(__file__).resolve().parents[1] / "validation" / "references_nlme14"
                  / "lmlist.json").read_text())
RTOL = 1e-4
LLTOL = 1e-6
# R's coefficient names -> patsy's
NAMES = {"(Intercept)": "Intercept", "lateyes": "late[T.yes]"}


def arr(values):
    if values is None or np.isscalar(values):                   # R's length-1 vectors
        values = [values]
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def assert_close(got, want, rtol=RTOL, what=""):
    """Relative `rtol`; values R prints as exactly 0 (residuals of exact fits) to 1e-10
    absolute; NaN (R's NA/NaN, JSON null) exactly where R has them."""
    got, want = np.asarray(got, dtype=float), arr(want)
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN pattern")
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=1e-10, err_msg=what)


@pytest.fixture(scope="module")
def igf(data):
    return data("IGF")


@pytest.fixture(scope="module")
def orthodont(data):
    return data("Orthodont")


@pytest.fixture(scope="module")
def fits(igf, orthodont):
    return {"IGF": lmList("conc ~ age | Lot", data=igf),
            "Orthodont": lmList("distance ~ age | Subject", data=orthodont)}


def small_data(orthodont, key="small"):
    rows = REF[key]["rows"]
    return pd.DataFrame({
        "Subject": pd.Categorical(rows["Subject"], categories=orthodont.Subject.cat.categories,
                                  ordered=True),
        "age": rows["age"], "distance": rows["distance"],
        "late": pd.Categorical(rows["late"], categories=["no", "yes"])})


def check_lmlist(lis, ref):
    """Everything of one lmList against its reference block."""
    assert lis.groups == ref["groups"]
    # patsy's names, categorical terms before numeric ones (lmmext's convention)
    assert sorted(lis.coef_names) == sorted(NAMES.get(n, n) for n in ref["coef_names"])
    assert lis.failed == ref["failed"]
    cf = lis.coef()
    assert list(cf.index) == ref["groups"]
    for rname, vals in ref["coef"].items():
        assert_close(cf[NAMES.get(rname, rname)], vals, what=f"coef {rname}")
    assert lis.pooled_df == ref["pooledSD_df"]
    assert lis.pooled_sd == pytest.approx(ref["pooledSD"], rel=RTOL)
    assert_close(lis.sigma, ref["sigma"], what="sigma")
    assert_close(lis.df_resid, ref["df_residual"], what="df")
    # groups that fit exactly with residual df left (R: "essentially perfect fit"): their
    # SEs are rounding noise (~1e-15) and t values noise / noise, in R as here
    exact = arr(ref["sigma"]) < 1e-8
    for pool, key in ((True, "summary_pooled"), (False, "summary_unpooled")):
        s = lis.summary(pool=pool)
        for rname, cols in ref[key].items():
            tab = s[NAMES.get(rname, rname)]
            for col, vals in cols.items():
                keep = ~exact if col in ("t value", "Pr(>|t|)") else slice(None)
                assert_close(tab[col].to_numpy()[keep], arr(vals)[keep],
                             what=f"{key} {rname} {col}")
    s = lis.summary()
    assert s.RSE == pytest.approx(ref["RSE"], rel=RTOL)
    assert s.df_residual == ref["df_pooled"]
    for key, kw in (("intervals", {}), ("intervals_90", {"level": 0.9}),
                    ("intervals_unpooled", {"pool": False})):
        iv = lis.intervals(**kw)
        for rname, parts in ref[key].items():
            for part, vals in parts.items():
                assert_close(iv[(NAMES.get(rname, rname), part)], vals,
                             what=f"{key} {rname} {part}")
    assert_close(lis.fitted(), ref["fitted"], what="fitted")
    assert_close(lis.residuals(), ref["resid"], what="resid")


@pytest.mark.parametrize("name", ["IGF", "Orthodont"])
def test_lmlist_against_nlme(fits, name):
    check_lmlist(fits[name], REF[name])
    assert fits[name].nobs == REF[name]["nobs"]


def test_igf_level_order_and_ordered_factor(igf):
    assert isinstance(igf.Lot.dtype, pd.CategoricalDtype) and igf.Lot.cat.ordered
    assert list(igf.Lot.cat.categories) == REF["IGF"]["groups"]


@pytest.mark.parametrize("name", ["IGF", "Orthodont"])
def test_print_like_nlme(fits, name):
    """The coefficient table, degrees of freedom and residual SE lines as nlme prints
    them (R's 7 significant digits); the header differs (patsy names, no data name)."""
    mine = str(fits[name]).splitlines()
    ref = REF[name]["print"]
    i, j = mine.index("Coefficients:"), ref.index("Coefficients:")
    body = lambda lines, k: [ln.split() for ln in lines[k + 2:] if ln.strip()]
    assert body(mine, i) == body(ref, j)
    assert mine[0] == "Call:" and mine[1].split() == ref[1].split()


def test_summary_print_like_nlme(fits):
    text = str(fits["IGF"].summary())
    assert text.splitlines()[-1] == REF["IGF"]["summary_print"][-2]  # RSE on df line
    ref = REF["IGF"]["summary_print"]
    k = ref.index("   age ")
    rows = [ln.split() for ln in ref[k + 1:k + 12]]
    mine = text.splitlines()
    m = mine.index("   age ")
    assert [ln.split() for ln in mine[m + 1:m + 12]] == rows


def test_residual_types(fits):
    lis, ref = fits["IGF"], REF["IGF"]
    res = arr(ref["resid"])
    sigma = dict(zip(ref["groups"], ref["sigma"]))
    lots = lis.frame["Lot"].astype(str)
    assert_close(lis.residuals("pearson"), res / lots.map(sigma).to_numpy())
    assert_close(lis.residuals("pooled.pearson"), res / ref["pooledSD"])
    assert_close(lis.resid, res)
    with pytest.raises(ValueError, match="'response', 'pearson' or 'pooled.pearson'"):
        lis.residuals("normalized")


def test_predict(fits, igf):
    ref = REF["IGF"]["predict_newdata"]
    new = pd.DataFrame({"Lot": ref["Lot"], "age": ref["age"]}, index=[5, 7, 9])
    pred = fits["IGF"].predict(new)
    assert list(pred.index) == [5, 7, 9]
    assert_close(pred, ref["fit"], what="predict")
    # the data themselves: the fitted values
    assert_close(fits["IGF"].predict(igf), REF["IGF"]["fitted"])
    # without the group column: every group's line
    allg = fits["IGF"].predict(new[["age"]])
    assert list(allg.columns) == REF["IGF"]["groups"]
    cf = fits["IGF"].coef()
    np.testing.assert_allclose(allg["6"], cf.loc["6", "Intercept"] + cf.loc["6", "age"] * new.age)
    with pytest.raises(ValueError, match="nonexistent group"):
        fits["IGF"].predict(pd.DataFrame({"Lot": ["99"], "age": [1.0]}))


def test_lme_start_is_nlmes(fits):
    for name in ("IGF", "Orthodont"):
        st = REF[name]["lme_start"]
        D = fits[name].lme_start()
        assert list(D.index) == [NAMES.get(n, n) for n in st["names"]]
        assert_close(np.diag(D), st["D"], what=f"{name} start")
        assert (D.to_numpy()[~np.eye(2, dtype=bool)] == 0).all()


def _check_lme(fit, ref, rtol=RTOL):
    """logLik to 1e-6; fixed effects, sigma and random-effect SDs to `rtol`."""
    assert fit.llf == pytest.approx(ref["logLik"], abs=LLTOL)
    for rname, v in ref["fixef"].items():
        assert fit.fe_params[NAMES.get(rname, rname)] == pytest.approx(v, rel=rtol)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=rtol)
    sd = fit.re_sd[list(fit.re_sd)[0]]["sd"]
    assert_close(sd, ref["re_sd"], rtol=rtol, what="re sd")


def test_lme_of_lmlist_orthodont(fits, orthodont):
    ref = REF["Orthodont"]
    fit = lmmext.lme(fits["Orthodont"])
    _check_lme(fit, ref["lme"])
    for rname, v in ref["lme"]["se"].items():
        assert fit.bse_fe[NAMES.get(rname, rname)] == pytest.approx(v, rel=RTOL)
    plain = lmmext.lme("distance ~ age", orthodont, random="~ age | Subject")
    assert plain.llf == pytest.approx(ref["lme_formula"]["logLik"], abs=LLTOL)
    assert fit.llf == pytest.approx(plain.llf, abs=1e-8)
    _check_lme(lmmext.lme(fits["Orthodont"], method="ML"), ref["lme_ml"])
    _check_lme(lmmext.lme(fits["Orthodont"], random="pdDiag(~ age)"), ref["lme_pddiag"])
    same = lmmext.lme(fits["Orthodont"], random={"Subject": "pdDiag(~ age)"})
    assert same.llf == pytest.approx(ref["lme_pddiag"]["logLik"], abs=LLTOL)


def test_lme_of_lmlist_igf_boundary(fits):
    """nlme 3.1-162's lme(fm1IGF.lis) stops with an nlminb error and its BFGS fit stays
    inside the parameter space, 0.11 below the REML supremum, which is on the boundary
    (correlation -1) where lme4 (the same REML criterion) puts it.  lmmext reaches it (with
    a boundary warning): equal to lme4's tightly converged Nelder-Mead fit, and 4.5e-7
    above lme4's default bobyqa fit, whose estimates are off along the flat ridge by up to
    4e-4 relative (so only its logLik is compared)."""
    ref = REF["IGF"]
    assert "nlminb" in ref["lme_default_error"]
    with pytest.warns(Warning, match="boundary"):
        fit = lmmext.lme(fits["IGF"])
    _check_lme(fit, ref["lme4_boundary_nm"])
    assert ref["lme4_boundary"]["logLik"] - LLTOL < fit.llf < ref["lme4_boundary"]["logLik"] + LLTOL
    assert fit.llf > ref["lme_optim"]["logLik"]
    cor = fit.re_sd["Lot"].loc["age", "Intercept"]
    assert cor == pytest.approx(-1, abs=1e-4)
    _check_lme(lmmext.lme(fits["IGF"], random="~ 1"), ref["lme_random_int"])
    _check_lme(lmmext.lme(fits["IGF"], random="~ 1 | Lot"), ref["lme_random_int"])


def test_too_few_rows(data, orthodont):
    ref = REF["small"]
    lis = lmList("distance ~ age | Subject", small_data(orthodont))
    check_lmlist(lis, ref)
    cf = lis.coef()
    assert np.isnan(cf.loc["M01", "age"]) and cf.loc["M01", "Intercept"] == 26
    # nlme's pooled df counts M01's aliased slope: 47, not 48
    assert lis.pooled_df == 47 and lis.df_resid.sum() == 48
    assert str(lis).splitlines()[-2:] == ref["print"][-2:]       # 101 total; 47 residual


def test_failed_groups(orthodont):
    ref = REF["small_factor"]
    with pytest.warns(UserWarning, match="fewer than 2 levels"):
        lis = lmList("distance ~ age + late | Subject", small_data(orthodont))
    check_lmlist(lis, ref)
    assert lis.failed == ["M02", "M01", "F11"]
    assert lis.coef().loc["M01"].isna().all()
    assert lis.fitted()[lis.frame["Subject"].astype(str).isin(lis.failed).to_numpy()].isna().all()
    assert str(lis).splitlines()[-2:] == ref["print"][-2:]       # 96 total; 24 residual


def test_nested_levels(data):
    pixel = data("Pixel")
    ref = REF["Pixel"]
    lis2 = lmList("pixel ~ day | Dog/Side", pixel)
    assert lis2.groups == ref["groups"] and lis2.group_name == "Dog/Side"
    for rname, vals in ref["coef"].items():
        assert_close(lis2.coef()[NAMES.get(rname, rname)], vals)
    assert lis2.pooled_sd == pytest.approx(ref["pooledSD"], rel=RTOL)
    assert lis2.pooled_df == ref["pooledSD_df"]
    for level in (1, "Dog"):
        lis1 = lmList("pixel ~ day | Dog/Side", pixel, level=level)
        assert lis1.groups == ref["level1"]["groups"]
        for rname, vals in ref["level1"]["coef"].items():
            assert_close(lis1.coef()[NAMES.get(rname, rname)], vals)
        assert lis1.pooled_sd == pytest.approx(ref["level1"]["pooledSD"], rel=RTOL)
        assert " Level: 1" in str(lis1)
    with pytest.raises(ValueError, match="single grouping variable"):
        lmmext.lme(lis2)


def test_groups_argument_and_row_order(igf, fits):
    want = fits["IGF"].coef()
    for kw in ({"groups": "Lot"}, {"groups": "~ Lot"}):
        pd.testing.assert_frame_equal(lmList("conc ~ age", igf, **kw).coef(), want)
    shuffled = igf.sample(frac=1, random_state=3)
    lis = lmList("conc ~ age | Lot", shuffled)
    pd.testing.assert_frame_equal(lis.coef(), want)
    # per row in the caller's order, indexed by the caller's labels
    pd.testing.assert_series_equal(lis.fitted(), fits["IGF"].fitted().loc[shuffled.index])
    assert isinstance(lis, LMList)


def test_string_groups_sorted_and_missing(orthodont):
    d = orthodont.assign(Subject=orthodont.Subject.astype(str))
    lis = lmList("distance ~ age | Subject", d)
    assert lis.groups == sorted(d.Subject.unique())       # R's factor(): sorted labels
    holes = orthodont.copy()
    holes.loc[[0, 5], "distance"] = np.nan
    lis = lmList("distance ~ age | Subject", holes)
    assert lis.n_dropped == 2 and lis.nobs == len(orthodont) - 2
    assert "(2 rows with missing values dropped)" in str(lis)
    with pytest.raises(ValueError, match=r"missing values in column\(s\) \['distance'\]"):
        lmList("distance ~ age | Subject", holes, missing="raise")


def test_pool_false_default(orthodont):
    lis = lmList("distance ~ age | Subject", orthodont, pool=False)
    s = lis.summary()
    assert not s.pool and s.RSE is None
    assert "Degrees of freedom" not in str(lis)
    ref = REF["Orthodont"]["summary_unpooled"]["age"]["Std. Error"]
    assert_close(s["age"]["Std. Error"], ref)
    assert s.table().shape == (27, 8)


@pytest.mark.parametrize("call, exc, msg", [
    (lambda d: lmList("conc ~ age", d), ValueError,
     r"lmList needs a grouping: 'y ~ x \| g'"),
    (lambda d: lmList("conc ~ age | Lott", d), KeyError, "unknown grouping column 'Lott'"),
    (lambda d: lmList("conc ~ age", d, groups="Lott"), KeyError, "unknown grouping column"),
    (lambda d: lmList("~ age | Lot", d), ValueError, "lmList needs a response"),
    (lambda d: lmList("conc ~ | Lot", d), ValueError, "no right-hand side"),
    (lambda d: lmList(3, d), ValueError, "lmList needs a formula string"),
    (lambda d: lmList("conc ~ age | Lot", d, groups="Lot"), ValueError, "not both"),
    (lambda d: lmList("conc ~ age", d, groups=""), ValueError, "groups= must be"),
    (lambda d: lmList("conc ~ age | Lot*age", d), ValueError, "nested groups"),
    (lambda d: lmList("conc ~ age | Lot", d, level=2), ValueError, "level= must be 1..1"),
    (lambda d: lmList("conc ~ age | Lot", d, level="Dog"), ValueError, "not a grouping"),
    (lambda d: lmList("conc ~ age | Lot", d, missing="omit"), ValueError, "missing= must be"),
    (lambda d: lmList("conc ~ age | Lot", d.to_numpy()), TypeError, "pandas DataFrame"),
    (lambda d: lmList("conc ~ agee | Lot", d), KeyError, "agee"),
])
def test_bad_input(igf, call, exc, msg):
    with pytest.raises(exc, match=msg):
        call(igf)


def test_bad_method_arguments(fits, igf):
    lis = fits["IGF"]
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        lis.intervals(level=95)
    with pytest.raises(TypeError, match="pool= must be True, False or None"):
        lis.summary(pool="yes")
    with pytest.raises(ValueError, match="must group by the lmList's grouping 'Lot'"):
        lmmext.lme(lis, random="~ 1 | Other")
    with pytest.raises(ValueError, match="grouping 'Lot'"):
        lmmext.lme(lis, random={"Other": "~ 1"})
    with pytest.raises(ValueError, match="subset= and contrasts= are not supported"):
        lmmext.lme(lis, subset="age > 5")
    with pytest.raises(TypeError, match="newdata must be a pandas DataFrame"):
        lis.predict([1, 2])
    with pytest.warns(UserWarning, match="data= is ignored"):
        fit = lmmext.lme(lis, data=igf.iloc[:50], random="~ 1")
    assert fit.nobs == len(igf)
    one = pd.DataFrame({"g": ["a", "a", "b", "b"], "x": [1.0, 2, 3, 4], "y": [1.0, 2, 3, 5]})
    with pytest.raises(ValueError, match="no degrees of freedom"):
        lmList("y ~ x | g", one).pooled_sd


def test_lme_still_requires_data_and_random(igf):
    with pytest.raises(TypeError, match="data must be a pandas DataFrame"):
        lmmext.lme("conc ~ age", random="~ 1 | Lot")
    with pytest.raises(ValueError, match="random= is required"):
        lmmext.lme("conc ~ age", igf)


def test_exported():
    assert {"lmList", "LMList"} <= set(lmmext.__all__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lmmext.lmList is lmList


def test_all_groups_fail(orthodont):
    """Sex is constant within Subject: every lm() fails, as in nlme (all NA)."""
    with pytest.warns(UserWarning, match=r"27 group\(s\) \(M16, .*, \.\.\.\): factor"):
        lis = lmList("distance ~ age + Sex | Subject", orthodont)
    assert lis.coef().shape == (27, 0) and len(lis.failed) == 27
    assert "no residual degrees of freedom" in str(lis)
    with pytest.raises(ValueError, match="no degrees of freedom"):
        lis.summary()


def test_stateful_transform_per_group(orthodont):
    """center(age) is evaluated within each group, as R's lm() in each group: the
    intercept is the group's mean distance (an independent derivation)."""
    lis = lmList("distance ~ center(age) | Subject", orthodont)
    means = orthodont.groupby("Subject", observed=True).distance.mean()
    np.testing.assert_allclose(lis.coef()["Intercept"], means.loc[lis.groups], rtol=1e-12)
    slope = lmList("distance ~ age | Subject", orthodont).coef()["age"]
    np.testing.assert_allclose(lis.coef()["center(age)"], slope, rtol=1e-12)
