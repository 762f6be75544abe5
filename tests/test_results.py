"""Results objects: statsmodels types and names, nlme's numbers, the statsmodels-style
entry points, prediction and the summary."""
import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLMResults

from lmmext import GLS, CorAR1, MixedLM, VarIdent, VarPower, gls, lme


@pytest.fixture(scope="module")
def O(data):
    return data("Orthodont")


@pytest.fixture(scope="module")
def fit(O):
    return lme("distance ~ age + Sex", data=O, random="~ 1 | Subject",
               weights=VarIdent(form="~ 1 | Sex"))


def test_results_type_and_attributes(fit):
    assert isinstance(fit, MixedLMResults)
    # nlme R07 (nlme-reference.md 2.5)
    assert fit.llf == pytest.approx(-210.178371367441, abs=1e-6)
    assert fit.aic == pytest.approx(432.356742734882, abs=1e-6)
    assert fit.bic == pytest.approx(448.280504835827, abs=1e-6)
    assert fit.df_modelwc == 6
    assert list(fit.fe_params.index) == ["Intercept", "Sex[T.Female]", "age"]
    assert fit.sigma == pytest.approx(1.76175777011335, rel=1e-6)
    assert fit.scale == pytest.approx(fit.sigma ** 2)
    assert fit.cov_re.iloc[0, 0] == pytest.approx(1.83946330550078 ** 2, rel=1e-5)
    assert fit.re_sd["Subject"].loc["Intercept", "sd"] == pytest.approx(1.83946330550078, rel=1e-5)
    assert fit.vcomp.size == 0
    assert fit.bse_fe["Sex[T.Female]"] == pytest.approx(0.762970279417407, rel=1e-5)
    assert fit.df_resid_fe.tolist() == [80, 25, 80]
    assert fit.tvalues["age"] == pytest.approx(11.623168442157, rel=1e-5)
    assert fit.pvalues["Sex[T.Female]"] == pytest.approx(0.00545619952660914, rel=1e-4)
    assert fit.variance_params.to_dict() == pytest.approx({"Male": 1.0, "Female": 0.454132413909853}, rel=1e-5)
    assert fit.correlation_params.empty
    assert fit.converged and fit.optim_info.grad_norm < 1e-3


def test_residual_types_and_fitted(fit, O):
    r = fit.resid
    assert r.index.equals(O.index)
    np.testing.assert_allclose(r + fit.fittedvalues, O["distance"])
    # pearson = response residual / (sigma / w): boys' w = 1, girls' w = 1/0.4541
    w = np.where(O["Sex"] == "Female", 1 / fit.variance_params["Female"], 1.0)
    np.testing.assert_allclose(fit.resid_pearson, r * w / fit.sigma)
    np.testing.assert_allclose(fit.resid_normalized, fit.resid_pearson)   # no corStruct
    q = np.quantile(fit.resid_pearson, [0, .25, .5, .75, 1])
    # summary's standardized residual quantiles from nlme (R07)
    np.testing.assert_allclose(q, [-3.25494114565079, -0.530133243529801, -0.0255491447084563,
                                   0.511142734061024, 3.03915817707034], rtol=1e-4, atol=1e-5)
    lvl0 = fit.fitted(level=0)
    Xb = fit.fe_params["Intercept"] + fit.fe_params["age"] * O["age"] + \
        fit.fe_params["Sex[T.Female]"] * (O["Sex"] == "Female")
    np.testing.assert_allclose(lvl0, Xb)


def test_ranef_and_random_effects(fit):
    re = fit.ranef()
    assert list(re.index[:3]) == ["M16", "M05", "M02"]            # nlme's sorted order
    assert fit.random_effects["M16"]["Intercept"] == pytest.approx(re.loc["M16", "Intercept"])


def test_predict_new_data(fit, O):
    new = O.iloc[:4].copy()
    np.testing.assert_allclose(fit.predict(new, level=1), fit.fittedvalues.iloc[:4])
    np.testing.assert_allclose(fit.predict(new, level=0), fit.fitted(level=0).iloc[:4])
    new["Subject"] = "NEW"
    assert fit.predict(new, level=1).isna().all()                  # unseen group: NaN (nlme)
    bad = O.iloc[:2].copy()
    bad["Sex"] = ["Other", "Male"]
    with pytest.raises(ValueError, match="newdata"):
        fit.predict(bad)


def test_summary_text(fit):
    text = str(fit.summary())
    for piece in ("Linear mixed-effects model fit by REML", "-210.178", "Random effects:",
                  "Variance function", "Female", "Fixed effects:", "Number of Groups: Subject: 27"):
        assert piece in text


def test_statsmodels_entry_point_equals_lme(O):
    a = lme("distance ~ age", data=O, random="~ age | Subject", weights=VarPower(form="~ age"))
    m = MixedLM.from_formula("distance ~ age", data=O, groups="Subject", re_formula="~ age",
                             weights=VarPower(form="~ age"))
    b = m.fit(reml=True)
    assert b.llf == pytest.approx(a.llf, abs=1e-9)
    np.testing.assert_allclose(b.fe_params, a.fe_params, rtol=1e-6)


def test_vc_formula_is_nested_level(data):
    d = data("lactase")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = lme("loglact ~ reg * status", data=d, random="~ 1 | litter/pig")
        # statsmodels' door: statsmodels' missing= (default "none": NaN rows raise)
        b = MixedLM.from_formula("loglact ~ reg * status", data=d, groups="litter",
                                 vc_formula={"pig": "0 + C(pig)"}, missing="drop").fit()
    assert b.llf == pytest.approx(a.llf, abs=1e-6)
    assert b.vcomp[0] == pytest.approx(a.vcomp[0], rel=1e-4)


def test_gls_entry_points_and_start_update(O):
    a = gls("distance ~ age + Sex", data=O, correlation=CorAR1(form="~ 1 | Subject"))
    b = GLS.from_formula("distance ~ age + Sex", data=O,
                         correlation=CorAR1(form="~ 1 | Subject")).fit()
    assert b.llf == pytest.approx(a.llf, abs=1e-9)
    # nlme R15
    assert a.llf == pytest.approx(-222.72414754940607, abs=1e-6)
    assert a.correlation_params["Phi"] == pytest.approx(0.625867139721581, rel=1e-5)
    c = gls("distance ~ age + Sex", data=O, correlation=CorAR1(form="~ 1 | Subject"), start=a)
    assert c.llf == pytest.approx(a.llf, abs=1e-9)
    assert c.optim_info.n_evals < a.optim_info.n_evals
    assert "Generalized least squares fit by REML" in str(a.summary())


def test_results_pickle_round_trip(O):
    import pickle
    from lmmext import CorAR1
    fit = lme("distance ~ age + Sex", data=O, random="~ age | Subject",
              weights=VarIdent(form="~ 1 | Sex"), correlation=CorAR1())
    back = pickle.loads(pickle.dumps(fit))
    assert back.llf == fit.llf
    pd.testing.assert_series_equal(back.fe_params, fit.fe_params)
    pd.testing.assert_frame_equal(back.anova(), fit.anova())
    np.testing.assert_allclose(back.predict(O.iloc[:5], level=1), fit.predict(O.iloc[:5], level=1))
    assert str(back.summary()) == str(fit.summary())


def test_residuals_by_type_and_level(fit, O):
    """nlme: pearson residuals at every level divide by the within-group SD sigma/w."""
    w = np.where(O["Sex"] == "Female", 1 / fit.variance_params["Female"], 1.0)
    r0 = fit.residuals(type="response", level=0)
    np.testing.assert_allclose(r0, O["distance"] - fit.fitted(level=0))
    np.testing.assert_allclose(fit.residuals(type="pearson", level=0), r0 * w / fit.sigma)
    np.testing.assert_allclose(fit.residuals(type="pearson"), fit.resid_pearson)
    with pytest.raises(ValueError, match="residual type"):
        fit.residuals(type="studentized")


SUMMARY_CASES = ["S01", "S03", "V08", "V13", "V25", "V41", "C03", "C06", "C07", "C10", "C12",
                 "C13", "C15", "C17", "C22", "C34", "C41", "C42"]


@pytest.mark.parametrize("cid", SUMMARY_CASES)
def test_summary_and_intervals_render_for_every_structure(cid):
    import warnings
    from lmmext.validation import fit_case, load_cases
    case = {c["id"]: c for c in load_cases()}[cid]
    res = fit_case(case)
    text = str(res.summary())
    assert f"{res.llf:.6g}" in text
    for cls in ("VarIdent", "VarPower", "VarExp", "VarConstPower", "VarComb", "VarFixed"):
        if cls + "(" in case["lmmext_call"]:
            assert "Variance function" in text
    if "Cor" in case["lmmext_call"]:
        assert "Correlation Structure" in text
        for name in res.correlation_params.index:
            assert name in text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert "Fixed effects" in str(res.intervals())
