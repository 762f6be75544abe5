"""statsmodels' door (lmmext.MixedLM): variance components as statsmodels and lme4 mean
them, one row order for the caller, fit() arguments, and where the engine hands over to
statsmodels' own optimizer."""
import json
import warnings
from pathlib import Path

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
    for call in (lambda: model.loglike(res.params_object),      # no structure parameters
                 lambda: model.score(res.params_object),
                 lambda: model.hessian(res.params_object),
                 lambda: model.get_distribution(res.params_object, res.scale, None)):
        with pytest.raises(NotImplementedError, match="no place for the structure"):
            call()
    for call in (lambda: model.fit_regularized(alpha=1.0),
                 lambda: model.get_scale(res.fe_params, res.cov_re, res.vcomp)):
        with pytest.raises(NotImplementedError, match="VarIdent variance function and a "
                                                      "CorAR1 correlation structure"):
            call()
    with pytest.raises(ValueError, match="params needs 6 values"):
        model.loglike(np.zeros(4))


def test_structured_model_likelihood_at_any_vector(structured):
    d, model, res, ref = structured
    vec = res.params.to_numpy()
    assert model.loglike(vec) == pytest.approx(res.llf, abs=1e-9)
    # away from the optimum: the independent dense criterion
    other = vec + np.array([0.3, -0.2, 0.01, 0.2, 0.3, -0.1])
    assert model.loglike(other, profile_fe=False) == pytest.approx(_dense_reml(d, other),
                                                                   abs=1e-8)
    assert np.max(np.abs(model.score(vec, profile_fe=False))) < 1e-4
    H, singular = model.hessian(vec)
    assert not singular
    np.testing.assert_allclose(np.linalg.inv(-H), res.cov_params(), rtol=1e-4)


def test_structured_simulation_has_the_fitted_covariance(structured):
    d, model, res, ref = structured
    dist = model.get_distribution(res.params.to_numpy(), res.scale, None)
    draws = np.array([dist.rvs(None, rng=k) for k in range(3000)])
    np.testing.assert_allclose(draws.mean(axis=0), res.predict(d), atol=0.25)
    phi, ratio = res.correlation_params["Phi"], res.variance_params["Female"]
    lags = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    resid = draws - res.predict(d).to_numpy()
    for sex, s in (("Male", 1.0), ("Female", ratio)):
        expected = res.cov_re.iloc[0, 0] + res.scale * s ** 2 * phi ** lags
        # 3000 draws of each of the 11 or 16 children of a sex: the covariances are
        # estimated to about 1%
        covs = [np.cov(resid[:, np.flatnonzero(d.Subject == c)].T)
                for c in d.Subject[d.Sex == sex].unique()]
        np.testing.assert_allclose(np.mean(covs, axis=0), expected, rtol=0.04)


def test_structured_summary_is_statsmodels_tables(structured):
    d, model, res, ref = structured
    smry = res.summary()
    assert len(smry.tables) == 3
    assert "cor.Phi" in smry.tables[1].index and "Female" in smry.tables[2].index
    assert "Correlation:" in str(smry) and "CorAR1" in str(smry)
    # nlme's conventions of the same fit stay at hand
    assert res.nlme.df_resid_fe["Sex[T.Female]"] == 25.0


def _honours(res, model, d):
    """Each public member of a structured fit's results and model: a check that it
    honours the structures, or None for members that must raise NotImplementedError."""
    X = np.column_stack([np.ones(len(d)), (d.Sex == "Female"), d.age]).astype(float)
    fe = np.asarray(res.fe_params)
    n_par = len(res.params)
    return {
        # results
        "aic": lambda: np.isnan(res.aic), "bic": lambda: np.isnan(res.bic),
        "bootstrap": None,
        "bse": lambda: np.allclose(res.bse, np.sqrt(np.diag(res.cov_params()))),
        "bse_fe": lambda: np.allclose(res.bse_fe, res.bse.iloc[:3]),
        "bse_re": lambda: np.allclose(res.bse_re, np.sqrt(res.scale) * res.bse.iloc[3:4]),
        "bsejac": None, "bsejhj": None, "covjac": None, "covjhj": None, "hessv": None,
        "score_obsv": None,
        "conf_int": lambda: np.allclose(res.conf_int()[1] - res.conf_int()[0],
                                        2 * 1.959963984540054 * res.bse),
        "cov_params": lambda: res.cov_params().shape == (n_par, n_par),
        "normalized_cov_params": lambda: np.allclose(res.normalized_cov_params * res.scale,
                                                     res.cov_params()),
        "df_modelwc": lambda: res.df_modelwc == 6,
        "f_test": lambda: res.f_test(np.eye(n_par)[[1]]).fvalue == pytest.approx(
            (res.params.iloc[1] / res.bse.iloc[1]) ** 2),
        "t_test": lambda: np.allclose(res.t_test(np.eye(3)).effect, fe),
        "t_test_pairwise": lambda: res.t_test_pairwise("Sex").result_frame["coef"].iloc[0]
        == pytest.approx(fe[1]),
        "wald_test": lambda: res.wald_test(np.eye(n_par)[[2]], scalar=True).statistic
        == pytest.approx((res.params.iloc[2] / res.bse.iloc[2]) ** 2),
        "wald_test_terms": lambda: "Sex" in str(res.wald_test_terms(scalar=True)),
        "fittedvalues": lambda: np.allclose(res.fittedvalues, res.nlme.fittedvalues),
        "resid": lambda: np.allclose(res.resid, d.distance - res.nlme.fittedvalues),
        "get_nlfun": None,
        "initialize": lambda: True,                    # statsmodels' internal set-up
        "llf": lambda: res.llf == res.nlme.llf,
        "load": lambda: True, "save": lambda: True,    # pickling: tested below
        "remove_data": lambda: True,
        "predict": lambda: np.allclose(res.predict(d), X @ fe),
        "profile_re": lambda: res.profile_re(0, "re", 1, 0.5, 1, 0.5).shape == (3, 2),
        "pvalues": lambda: np.all(res.pvalues < 1),
        "tvalues": lambda: np.allclose(res.tvalues, res.params / res.bse),
        "random_effects": lambda: len(res.random_effects) == 27,
        "random_effects_cov": lambda: res.random_effects_cov["F01"].iloc[0, 0] < 0.3,
        "summary": lambda: "cor.Phi" in str(res.summary()),
        "use_t": lambda: res.use_t is False,
        # model
        "endog_names": lambda: model.endog_names == "distance",
        "exog_names": lambda: model.exog_names == list(res.fe_params.index),
        "fit": lambda: model.fit().llf == res.llf,
        "from_formula": lambda: True,
        "group_list": lambda: len(model.group_list(model.endog)) == 27,
        "information": None,
        "model.initialize": lambda: True,
        "model.predict": lambda: np.allclose(model.predict(res.params.to_numpy()), X @ fe),
        "fit_regularized": None, "get_fe_params": None, "get_scale": None,
        "score_full": None, "score_sqrt": None,
        "get_distribution": lambda: model.get_distribution(res.params.to_numpy(), res.scale,
                                                           None).rvs(None, rng=1).shape == (108,),
        "hessian": lambda: model.hessian(res.params.to_numpy())[0].shape == (n_par, n_par),
        "loglike": lambda: model.loglike(res.params.to_numpy()) == pytest.approx(res.llf),
        "score": lambda: np.max(np.abs(model.score(res.params.to_numpy()))) < 1e-4,
    }


def test_every_public_member_honours_the_structures_or_raises(structured):
    from statsmodels.regression.mixed_linear_model import MixedLMResults
    d, model, res, ref = structured
    res = model.fit()                     # a fresh one: some members change the results
    checks = _honours(res, model, d)
    public = {m for m in dir(MixedLMResults) if not m.startswith("_")}
    public |= {m if m not in public else f"model.{m}" for m in dir(SMMixedLM)
               if not m.startswith("_")}
    assert not public - set(checks), f"unclassified members: {sorted(public - set(checks))}"
    args = {"get_nlfun": (None,), "information": (res.params,),
            "fit_regularized": (),
            "get_fe_params": (res.cov_re, res.vcomp), "get_scale": (res.fe_params, res.cov_re,
                                                                   res.vcomp),
            "score_full": (res.params_object, True),
            "score_sqrt": (res.params_object,), "bootstrap": ()}
    for name, check in sorted(checks.items()):
        if check is not None:
            assert check(), name
            continue
        owner = model if hasattr(SMMixedLM, name) and not hasattr(MixedLMResults, name) \
            else res
        with pytest.raises(NotImplementedError, match="VarIdent"):     # names the structure
            member = getattr(owner, name)
            member(*args.get(name, ()))


def test_structured_results_pickle(structured, tmp_path):
    from statsmodels.regression.mixed_linear_model import MixedLMResults
    d, model, res, ref = structured
    res.save(tmp_path / "fit.pkl")
    back = MixedLMResults.load(tmp_path / "fit.pkl")
    assert back.llf == res.llf
    pd.testing.assert_series_equal(back.params, res.params)
    pd.testing.assert_series_equal(back.predict(d.head(4)), res.predict(d.head(4)))
    assert str(back.summary()) == str(res.summary())


def _orthodont_arrays(d):
    X = pd.DataFrame({"Intercept": 1.0, "Sex[T.Female]": (d.Sex == "Female").astype(float),
                      "age": d.age.astype(float)})
    return d.distance, X, d.Subject


def test_array_constructor_takes_the_structures(data):
    d = data("Orthodont").sample(frac=1.0, random_state=3)
    kw = dict(weights=lmmext.VarIdent(form="~ 1 | Sex"),
              correlation=lmmext.CorAR1(form="~ 1 | Subject"))
    by_formula = lmmext.MixedLM.from_formula("distance ~ age + Sex", data=d,
                                             groups="Subject", **kw).fit()
    model = lmmext.MixedLM(*_orthodont_arrays(d), structure_data=d[["Sex"]], **kw)
    by_arrays = model.fit()
    # the AR(1) positions are the rows' order within each child, in both
    assert by_arrays.llf == pytest.approx(by_formula.llf, abs=1e-9)
    np.testing.assert_allclose(by_arrays.params, by_formula.params, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(model.endog) - by_arrays.fittedvalues
                               - by_arrays.resid, 0.0, atol=1e-12)
    # no formula: one term per column in nlme's anova
    assert list(by_arrays.nlme.anova().index) == ["Intercept", "Sex[T.Female]", "age"]


def test_array_constructor_structure_errors(data):
    d = data("Orthodont")
    y, X, g = _orthodont_arrays(d)
    vi = lmmext.VarIdent(form="~ 1 | Sex")
    with pytest.raises(KeyError, match="Sex"):
        lmmext.MixedLM(y, X, g, weights=vi)                     # no structure_data
    with pytest.raises(ValueError, match="one row per observation"):
        lmmext.MixedLM(y, X, g, weights=vi, structure_data=d[["Sex"]].iloc[:5])
    with pytest.raises(ValueError, match="structure_data= is for the columns"):
        lmmext.MixedLM(y, X, g, structure_data=d[["Sex"]])
    bad = y.copy()
    bad.iloc[3] = np.nan
    with pytest.raises(ValueError, match="endog has missing"):
        lmmext.MixedLM(bad, X, g, weights=vi, structure_data=d[["Sex"]])


# -- lmmext.GLS: statsmodels-style results ------------------------------------------------
@pytest.fixture(scope="module")
def gls_door(data):
    d = data("Orthodont")
    model = lmmext.GLS.from_formula("distance ~ age + Sex", data=d,
                                    weights=lmmext.VarIdent(form="~ 1 | Sex"),
                                    correlation=lmmext.CorAR1(form="~ 1 | Subject"))
    return d, model, model.fit()


def _sigma(d, phi, ratio):
    """The dense marginal covariance (up to scale) of the fitted structures: AR(1) in row
    order within each child, SD multiplied by ``ratio`` for girls."""
    S = np.zeros((len(d), len(d)))
    s = np.where(d.Sex == "Female", ratio, 1.0)
    for _, rows in d.groupby("Subject", observed=True).indices.items():
        n = rows.size
        C = phi ** np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
        S[np.ix_(rows, rows)] = np.outer(s[rows], s[rows]) * C
    return S


def test_gls_door_equals_statsmodels_gls_at_the_fitted_covariance(gls_door):
    # statsmodels' own GLS with the dense covariance of the estimated structures: the
    # same coefficients, standard errors and tests
    from statsmodels.regression.linear_model import GLS as SMGLS
    d, model, res = gls_door
    S = _sigma(d, res.correlation_params["Phi"], res.variance_params["Female"])
    sm = SMGLS(model.endog, model.exog, sigma=S).fit()
    np.testing.assert_allclose(res.params, sm.params, rtol=1e-8)
    np.testing.assert_allclose(res.bse, sm.bse, rtol=1e-8)
    np.testing.assert_allclose(res.pvalues, sm.pvalues, rtol=1e-6)
    np.testing.assert_allclose(res.conf_int(), sm.conf_int(), rtol=1e-8)
    # S is the relative covariance Lambda itself, so the scales agree too
    assert res.scale == pytest.approx(sm.scale, rel=1e-8)
    L = np.eye(3)[[1]]
    f_ours, f_sm = res.f_test(L), sm.f_test(L)
    assert float(f_ours.fvalue) == pytest.approx(float(f_sm.fvalue), rel=1e-8)
    assert f_ours.df_denom == f_sm.df_denom == 105
    # nlme's conventions of the same fit: the same SEs (nlme's vcov), its logLik
    np.testing.assert_allclose(res.bse, res.nlme.bse_fe, rtol=1e-10)
    assert res.llf == res.nlme.llf


def test_gls_door_every_public_member(gls_door):
    from statsmodels.base.model import LikelihoodModel, LikelihoodModelResults
    d, model, res = gls_door
    X = np.asarray(model.exog)
    checks = {
        "bse": lambda: np.allclose(res.bse, np.sqrt(np.diag(res.cov_params()))),
        "conf_int": lambda: np.all(res.conf_int()[0] < res.params),
        "cov_params": lambda: res.cov_params().shape == (3, 3),
        "f_test": lambda: res.f_test(np.eye(3)[[1]]).df_denom == 105,
        "initialize": lambda: True, "load": lambda: True, "save": lambda: True,
        "remove_data": lambda: True,
        "llf": lambda: res.llf == res.nlme.llf,
        "normalized_cov_params": lambda: np.allclose(res.normalized_cov_params * res.scale,
                                                     res.cov_params()),
        "predict": lambda: np.allclose(res.predict(d), X @ res.params),
        "pvalues": lambda: np.all(res.pvalues < 0.01),
        "summary": lambda: "Phi" in str(res.summary()),
        "t_test": lambda: np.allclose(res.t_test(np.eye(3)).effect, res.params),
        "t_test_pairwise": lambda: res.t_test_pairwise("Sex").result_frame["coef"].iloc[0]
        == pytest.approx(res.params.iloc[1]),
        "tvalues": lambda: np.allclose(res.tvalues, res.params / res.bse),
        "use_t": lambda: res.use_t is True,
        "wald_test": lambda: res.wald_test(np.eye(3)[[2]], scalar=True).df_denom == 105,
        "wald_test_terms": lambda: "Sex" in str(res.wald_test_terms(scalar=True)),
        "endog_names": lambda: model.endog_names == "distance",
        "exog_names": lambda: model.exog_names == list(res.params.index),
        "fit": lambda: model.fit().llf == res.llf,
        "from_formula": lambda: True,
        "hessian": lambda: np.all(np.linalg.eigvalsh(model.hessian(res.params.to_numpy())) < 0),
        "information": None,
        "loglike": lambda: model.loglike(res.params.to_numpy()) == pytest.approx(res.llf),
        "model.initialize": lambda: True,
        "model.predict": lambda: np.allclose(model.predict(res.params), X @ res.params),
        "score": lambda: np.max(np.abs(model.score(res.params.to_numpy()))) < 1e-4,
    }
    public = {m for m in dir(LikelihoodModelResults) if not m.startswith("_")}
    public |= {m if m not in public else f"model.{m}" for m in dir(LikelihoodModel)
               if not m.startswith("_")}
    assert not public - set(checks), f"unclassified members: {sorted(public - set(checks))}"
    for name, check in sorted(checks.items()):
        if check is None:
            with pytest.raises(NotImplementedError, match="structures"):
                getattr(model, name)(res.params)
        else:
            assert check(), name


def test_summary_col_takes_both_doors(structured, gls_door):
    from statsmodels.iolib.summary2 import summary_col
    text = str(summary_col([structured[2], gls_door[2]]))
    assert "cor.Phi" in text and "var.Female" in text and "Sex[T.Female]" in text


def test_groups_array_with_structures(data):
    d = data("Orthodont")
    kw = dict(weights=lmmext.VarIdent(form="~ 1 | Sex"),
              correlation=lmmext.CorAR1(form="~ 1 | Group"))
    by_name = lmmext.MixedLM.from_formula("distance ~ age", data=d, groups="Subject",
                                          weights=kw["weights"],
                                          correlation=lmmext.CorAR1(form="~ 1 | Subject"))
    by_array = lmmext.MixedLM.from_formula("distance ~ age", data=d,
                                           groups=d["Subject"].to_numpy(), **kw)
    assert by_array.fit().llf == pytest.approx(by_name.fit().llf, abs=1e-9)
    with pytest.raises(ValueError, match="one label per row"):
        lmmext.MixedLM.from_formula("distance ~ age", data=d, groups=np.arange(5), **kw)


def test_crossed_variance_components_with_a_variance_function(crossed):
    # nlme: pdBlocked(pdLogChol(~ 0 + z0 + z1), pdIdent(~ 0 + v0), pdIdent(~ 0 + v1)) within
    # g with varIdent(~ 1 | v0), REML (validation/R/statsmodels_door.R)
    data, _ = crossed
    ref = json.loads((find_dir() / "references_statsmodels" /
                      "crossed_vc_varident.json").read_text())
    model = lmmext.MixedLM.from_formula(
        "y ~ x0 + x1", data=data, groups="g", re_formula="~0 + z0 + z1",
        vc_formula={"v0": "0 + C(v0)", "v1": "0 + C(v1)"},
        weights=lmmext.VarIdent(form="~ 1 | v0"))
    res = model.fit()
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-6)
    fe = np.array(list(ref["fe_params"].values()))
    np.testing.assert_allclose(res.fe_params, fe, rtol=0, atol=1e-4 * res.bse.iloc[:3].min())
    v = ref["variances"]
    np.testing.assert_allclose(np.diag(res.cov_re), v[:2], rtol=1e-4)
    np.testing.assert_allclose(res.vcomp, [v[2], v[4]], rtol=1e-4)
    assert res.variance_params["1"] == pytest.approx(ref["ratio"], rel=1e-4)
    assert list(res.params.index[3:]) == ["z0 Var", "z0 x z1 Cov", "z1 Var", "v0 Var",
                                          "v1 Var", "var.1"]
    # statsmodels' labels of the BLUPs and of their conditional covariance
    assert list(res.random_effects["g0"].index) == ["z0", "z1", "v0[C(v0)[0]]",
                                                    "v0[C(v0)[1]]", "v1[C(v1)[0]]",
                                                    "v1[C(v1)[1]]"]
    assert res.random_effects_cov["g0"].shape == (6, 6)
    prof = res.profile_re("v1", "vc", num_low=1, dist_low=0.2, num_high=1, dist_high=0.2)
    assert prof[1, 1] == pytest.approx(res.llf, abs=1e-8) and np.all(prof[[0, 2], 1] < res.llf)
    # nlme's intervals of the blocked covariance: one sd per variance component
    iv = res.nlme.intervals().re["g"]
    assert list(iv.index) == ["sd(z0)", "sd(z1)", "cor(z0,z1)", "sd(v0)", "sd(v1)"]
    np.testing.assert_allclose(iv["est."].iloc[[0, 1, 3, 4]] ** 2, np.array(v)[[0, 1, 2, 4]],
                               rtol=2e-4)
    assert np.all(iv["lower"] < iv["est."]) and np.all(iv["est."] < iv["upper"])


@pytest.mark.parametrize("ddf", ["containment", "satterthwaite", "kenward-roger"])
def test_opt_in_mixed_model_degrees_of_freedom(structured, ddf):
    d, model, res, ref = structured
    table = res.nlme.fe_table(ddf=ddf)
    tt = res.t_test(np.eye(3), ddf=ddf)
    np.testing.assert_allclose(tt.tvalue.ravel(), table["t-value"], rtol=1e-8)
    np.testing.assert_allclose(tt.df_denom, table["DF"], rtol=1e-8)
    np.testing.assert_allclose(tt.pvalue.ravel(), table["p-value"], rtol=1e-6)
    # nlme's anova(fit, L=): its F and denominator DF, also from a string hypothesis
    L = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])      # one containment DF (80)
    ft = res.f_test(L, ddf=ddf)
    nl = res.nlme.anova(L=L, ddf=ddf)
    assert float(ft.fvalue) == pytest.approx(nl["F-value"].iloc[0], rel=1e-10)
    assert ft.df_denom == pytest.approx(nl["denDF"].iloc[0])
    one = res.f_test("Sex[T.Female] = 0", ddf=ddf)
    assert float(one.fvalue) == pytest.approx(np.ravel(tt.tvalue)[1] ** 2, rel=1e-6)
    if ddf == "containment":
        assert list(tt.df_denom) == [80.0, 25.0, 80.0]
    with pytest.raises(ValueError, match="fixed effects only"):
        res.f_test(np.eye(6)[[4]], ddf=ddf)


def test_profile_re_under_the_structures(structured):
    import scipy.optimize
    d, model, res, ref = structured
    prof = res.profile_re(0, "re", num_low=1, dist_low=1.0, num_high=1, dist_high=1.0)
    assert prof.shape == (3, 2)
    assert prof[1, 0] == pytest.approx(res.cov_re.iloc[0, 0], rel=1e-6)
    assert prof[1, 1] == pytest.approx(res.llf, abs=1e-8)
    assert np.all(prof[[0, 2], 1] < res.llf)
    # the low point independently: statsmodels' vector with the relative variance held,
    # the structure parameters maximized by Nelder-Mead on the model's loglike
    vec = res.params.to_numpy().copy()
    vec[3] = (res.cov_re.iloc[0, 0] - 1.0) / res.scale

    def negll(free):
        return -model.loglike(np.r_[vec[:4], free], profile_fe=True)
    opt = scipy.optimize.minimize(negll, vec[4:], method="Nelder-Mead",
                                  options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 5000})
    assert prof[0, 1] == pytest.approx(-opt.fun, abs=1e-6)
    with pytest.raises(ValueError, match="vtype"):
        res.profile_re(0, "not-a-vtype")


def test_wald_test_terms_opt_in_to_mixed_model_dfs(structured):
    d, model, res, ref = structured
    for ddf in ("containment", "kenward-roger"):
        wt = res.wald_test_terms(ddf=ddf).table
        nl = res.nlme.anova(type="marginal", ddf=ddf)
        np.testing.assert_allclose(wt["statistic"], nl["F-value"], rtol=1e-12)
        np.testing.assert_allclose(wt["df_denom"], nl["denDF"], rtol=1e-12)
    assert res.wald_test_terms(ddf="containment").table["df_denom"].to_dict() == {
        "Intercept": 80.0, "age": 80.0, "Sex": 25.0}


def test_docs_table_names_every_member():
    # docs/statsmodels.rst's table of the members with a structure is complete
    from statsmodels.regression.mixed_linear_model import MixedLMResults
    text = (Path(__file__).resolve().parents[1] / "docs" / "statsmodels.rst").read_text()
    table = text[text.index("Every member with a structure"):
                 text.index(":class:`lmmext.GLS` is statsmodels' door")]
    names = {m for cls in (MixedLMResults, SMMixedLM) for m in dir(cls)
             if not m.startswith("_")}
    missing = sorted(n for n in names if f"``{n}``" not in table and f"``{n}()``" not in table)
    assert not missing, f"members missing from the docs table: {missing}"
