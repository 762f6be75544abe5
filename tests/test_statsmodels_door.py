"""statsmodels' door (lmmext.MixedLM): variance components as statsmodels and lme4 mean
them, one row order for the caller, fit() arguments, and where the engine hands over to
statsmodels' own optimizer."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM as SMMixedLM
from statsmodels.regression.mixed_linear_model import MixedLMParams

import lmmext
from lmmext.statsmodels_fit import engine_optimum
from lmmext.validation import find_dir


@pytest.fixture(scope="module")
def crossed():
    vdir = find_dir()
    data = pd.read_csv(vdir / "data" / "sm_crossed_vc.csv")
    refs = json.loads((vdir / "references_statsmodels" / "crossed_vc.json").read_text())
    return data, refs


def _crossed_model(data):
    return lmmext.MixedLM.from_formula(
        "y ~ x0 + x1", data=data, groups="g", re_formula="~0 + z0 + z1",
        vc_formula={"v0": "0 + C(v0)", "v1": "0 + C(v1)"})


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_crossed_variance_components_equal_lme4(crossed, method):
    # lme4: y ~ x0 + x1 + (0 + z0 + z1 | g) + (1 | g:v0) + (1 | g:v1)
    # (validation/R/statsmodels_door.R); statsmodels' test_random_effects_getters data
    data, refs = crossed
    ref = refs[method]
    res = _crossed_model(data).fit(reml=method == "REML")
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-6)
    fe = np.array(list(ref["fe_params"].values()))
    se = np.array(list(ref["bse_fe"].values()))
    # x1's estimate is -3e-4, so a relative tolerance would ask for 3e-8: the estimates
    # are compared to 1e-4 of their standard errors instead
    np.testing.assert_allclose(res.fe_params, fe, rtol=0, atol=1e-4 * se.min())
    np.testing.assert_allclose(res.cov_re, ref["cov_re"], rtol=1e-4)
    np.testing.assert_allclose(res.vcomp, [ref["vcomp"]["v0"], ref["vcomp"]["v1"]], rtol=1e-4)
    assert res.scale == pytest.approx(ref["scale"], rel=1e-4)


def test_nested_reading_of_two_components_is_not_the_model(crossed):
    # the defect of the nlme-style reading (g/v0/v1): a different, lower likelihood
    data, refs = crossed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nested = lmmext.lme("y ~ x0 + x1", data=data.assign(v0=data.v0.astype(str),
                                                            v1=data.v1.astype(str)),
                            random={"g": "~ 0 + z0 + z1", "v0": "~ 1", "v1": "~ 1"})
    assert nested.llf < refs["REML"]["logLik"] - 100


def _shuffled(data):
    return data.sample(frac=1.0, random_state=7)


@pytest.mark.parametrize("structure", [None, "VarIdent"])
def test_one_row_order_for_the_caller(data, structure):
    d = _shuffled(data("Orthodont"))
    kw = {} if structure is None else {"weights": lmmext.VarIdent(form="~ 1 | Sex")}
    model = lmmext.MixedLM.from_formula("distance ~ age", data=d, groups="Subject", **kw)
    res = model.fit()
    endog = np.asarray(model.endog)
    np.testing.assert_array_equal(endog, d["distance"].to_numpy())
    np.testing.assert_allclose(endog - np.asarray(res.fittedvalues) - np.asarray(res.resid),
                               0.0, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(model.groups), d["Subject"].to_numpy())


def test_array_constructor_fits_as_statsmodels():
    rng = np.random.default_rng(5)
    g = rng.integers(0, 30, size=240)
    x = np.column_stack([np.ones(240), rng.normal(size=240)])
    z = np.column_stack([np.ones(240), rng.normal(size=240)])
    y = x @ [1.0, -0.5] + (rng.normal(size=(30, 2)) * [1.0, 0.5])[g].__mul__(z).sum(1) \
        + rng.normal(size=240)
    ours = lmmext.MixedLM(y, x, g, exog_re=z).fit()
    theirs = SMMixedLM(y, x, g, exog_re=z).fit()
    assert ours.llf >= theirs.llf - 1e-8          # statsmodels' optimum is less accurate
    np.testing.assert_allclose(ours.params, theirs.params, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(ours.bse, theirs.bse, rtol=1e-3)


def test_free_independent_random_effects_use_the_engine():
    rng = np.random.default_rng(6)
    g = np.repeat(np.arange(40), 5)
    x = np.column_stack([np.ones(200), rng.normal(size=200)])
    z = np.column_stack([np.ones(200), rng.normal(size=200)])
    y = x @ [0.5, 1.0] + (rng.normal(size=(40, 2)) * [1.0, 0.7])[g].__mul__(z).sum(1) \
        + rng.normal(size=200)
    free = MixedLMParams.from_components(np.ones(2), cov_re=np.eye(2), vcomp=np.zeros(0))
    model = lmmext.MixedLM(y, x, g, exog_re=z)
    start = engine_optimum(model, free=free)
    assert start is not None and start.cov_re[0, 1] == 0.0
    ours = model.fit(free=free)
    theirs = SMMixedLM(y, x, g, exog_re=z).fit(free=free)
    assert np.asarray(ours.cov_re)[0, 1] == 0.0
    assert ours.llf == pytest.approx(theirs.llf, abs=1e-5)
    assert ours.llf >= theirs.llf - 1e-8


def test_free_patterns_beyond_the_engine_go_to_statsmodels():
    model = lmmext.MixedLM(np.arange(12.0), np.ones((12, 1)), np.repeat([0, 1, 2], 4))
    free = MixedLMParams.from_components(np.zeros(1), cov_re=np.ones((1, 1)), vcomp=np.zeros(0))
    assert engine_optimum(model, free=free) is None        # a fixed fixed effect


def test_structured_fit_names_the_options_it_cannot_take(data):
    model = lmmext.MixedLM.from_formula("distance ~ age", data=data("Orthodont"),
                                        groups="Subject",
                                        weights=lmmext.VarIdent(form="~ 1 | Sex"))
    with pytest.raises(NotImplementedError, match="free, method"):
        model.fit(method="bfgs", free=object())
    with pytest.raises(NotImplementedError, match="maxiter"):
        model.fit(maxiter=5)


# -- a model with structures through statsmodels' door --------------------------------
@pytest.fixture(scope="module")
def structured(data):
    d = data("Orthodont")
    model = lmmext.MixedLM.from_formula(
        "distance ~ age + Sex", data=d, groups="Subject",
        weights=lmmext.VarIdent(form="~ 1 | Sex"),
        correlation=lmmext.CorAR1(form="~ 1 | Subject"))
    ref = json.loads((find_dir() / "references_statsmodels" /
                      "orthodont_varident_ar1.json").read_text())
    return d, model, model.fit(), ref


def test_structured_fit_has_statsmodels_layout(structured):
    d, model, res, ref = structured
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-6)             # nlme
    assert list(res.params.index) == ["Intercept", "Sex[T.Female]", "age", "Subject Var",
                                      "cor.Phi", "var.Female"]
    fe = ref["fe_params"]
    np.testing.assert_allclose(res.fe_params, [fe["(Intercept)"], fe["SexFemale"], fe["age"]],
                               rtol=1e-4)
    assert res.params["Subject Var"] == pytest.approx(res.cov_re.iloc[0, 0] / res.scale)
    # the structure parameters on nlme's apVar scale: 2 atanh(Phi), log(ratio)
    assert res.params["cor.Phi"] == pytest.approx(2 * np.arctanh(res.correlation_params["Phi"]))
    assert res.params["var.Female"] == pytest.approx(np.log(res.variance_params["Female"]))
    assert np.isnan(res.aic)                                  # statsmodels: none for REML


def _dense_reml(d, vec):
    """The REML criterion (sigma^2 profiled, beta held) from the dense marginal covariance
    of each child: V~ = D~ 1 1' + diag(s) C diag(s), C_jk = phi^|j - k|, s = ratio by sex."""
    b, dre, zphi, logr = vec[:3], vec[3], vec[4], vec[5]
    phi, ratio = np.tanh(zphi / 2), np.exp(logr)
    X = np.column_stack([np.ones(len(d)), (d.Sex == "Female").astype(float), d.age])
    y = d.distance.to_numpy()
    q, logdet, XVX = 0.0, 0.0, np.zeros((3, 3))
    for _, rows in d.groupby("Subject", observed=True).indices.items():
        n = rows.size
        s = np.where(d.Sex.to_numpy()[rows] == "Female", ratio, 1.0)
        C = phi ** np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
        V = dre * np.ones((n, n)) + np.outer(s, s) * C
        Vi = np.linalg.inv(V)
        r = y[rows] - X[rows] @ b
        q += r @ Vi @ r
        logdet += np.linalg.slogdet(V)[1]
        XVX += X[rows].T @ Vi @ X[rows]
    nr = len(y) - 3
    return -0.5 * (nr * (np.log(2 * np.pi) + 1 + np.log(q / nr)) + logdet
                   + np.linalg.slogdet(XVX)[1])


def test_structured_covariance_is_the_inverse_information(structured):
    # an independent derivation: central differences of the dense criterion above
    d, model, res, ref = structured
    vec = res.params.to_numpy()
    assert _dense_reml(d, vec) == pytest.approx(res.llf, abs=1e-8)
    k = vec.size
    h = 1e-4 * np.maximum(1.0, np.abs(vec))
    H = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            H[i, j] = (_dense_reml(d, vec + e_i + e_j) - _dense_reml(d, vec + e_i - e_j)
                       - _dense_reml(d, vec - e_i + e_j) + _dense_reml(d, vec - e_i - e_j)
                       ) / (4 * h[i] * h[j])
    np.testing.assert_allclose(res.bse, np.sqrt(np.diag(np.linalg.inv(-H))), rtol=1e-4)


def test_structured_tests_and_intervals_are_consistent(structured):
    d, model, res, ref = structured
    tt = res.t_test(np.eye(3))
    np.testing.assert_allclose(tt.effect, res.fe_params)
    np.testing.assert_allclose(tt.sd.ravel(), res.bse.iloc[:3])
    ci = res.conf_int()
    z = 1.959963984540054
    np.testing.assert_allclose(ci[0], res.params - z * res.bse)
    np.testing.assert_allclose(res.pvalues, 2 * (1 - __import__("scipy").stats.norm.cdf(
        np.abs(res.params / res.bse))), atol=1e-12)
    w = res.wald_test(np.eye(6)[[1]], scalar=True)
    assert w.statistic == pytest.approx((res.params.iloc[1] / res.bse.iloc[1]) ** 2)
    f = res.f_test(np.eye(6)[[1, 2]])
    assert f.df_num == 2


def test_structured_random_effects_match_nlme(structured):
    d, model, res, ref = structured
    assert list(res.random_effects) == model.group_labels
    for subject, value in ref["blup"].items():
        assert res.random_effects[subject].iloc[0] == pytest.approx(value, rel=1e-4, abs=1e-6)
    # D - D Z'V^-1 Z D under VarIdent + AR(1): 0.851 for boys, 0.212 for girls (nlme)
    for subject, value in ref["condvar"].items():
        assert res.random_effects_cov[subject].iloc[0, 0] == pytest.approx(value, rel=1e-4)


def test_structured_members_that_would_ignore_the_structures_raise(structured):
    d, model, res, ref = structured
    for call in (lambda: model.loglike(res.params_object),
                 lambda: model.score(res.params_object),
                 lambda: model.hessian(res.params_object),
                 lambda: model.get_distribution(res.params_object, res.scale, None),
                 lambda: model.fit_regularized(alpha=1.0)):
        with pytest.raises(NotImplementedError, match="VarIdent variance function and a "
                                                      "CorAR1 correlation structure"):
            call()
    with pytest.raises(NotImplementedError, match="profile_re"):
        res.profile_re(0, "re")


def test_structured_summary_is_statsmodels_tables(structured):
    d, model, res, ref = structured
    smry = res.summary()
    assert len(smry.tables) == 3
    assert "cor.Phi" in smry.tables[1].index and "Female" in smry.tables[2].index
    assert "Correlation:" in str(smry) and "CorAR1" in str(smry)
    # nlme's conventions of the same fit stay at hand
    assert res.nlme.df_resid_fe["Sex[T.Female]"] == 25.0
