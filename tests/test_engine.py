"""The profiled engine against the unprofiled likelihood written with dense matrices
(nlme-reference.md 2.1), at arbitrary parameter values, and the worked example 2.5."""
import numpy as np
import pytest

from lmmext import VarIdent, VarPower, lme
from lmmext.formula import parse_random
from lmmext.frame import build_frame
from lmmext.engine.likelihood import ProfiledLikelihood


def dense_loglik(y, X, Sigma_rel, reml):
    """-1/2 [Nr log 2pi + log|Sigma| + log|X'S^-1X| + r'S^-1 r] at the profiled sigma."""
    N, p = X.shape
    Vi = np.linalg.inv(Sigma_rel)
    XtVX = X.T @ Vi @ X
    beta = np.linalg.solve(XtVX, X.T @ Vi @ y)
    r = y - X @ beta
    Nr = N - p if reml else N
    s2 = r @ Vi @ r / Nr
    ll = -0.5 * (Nr * np.log(2 * np.pi * s2) + np.linalg.slogdet(Sigma_rel)[1] + Nr)
    if reml:
        ll -= 0.5 * np.linalg.slogdet(XtVX)[1]
    return ll, beta


def dense_sigma(engine, theta):
    """Relative marginal covariance Lambda + sum Z D~ Z' built densely."""
    re_theta, tc, tv = engine.split(theta)
    N = engine.N
    w = engine.varfunc.weights(tv) if engine.varfunc is not None else np.ones(N)
    V = np.diag(1.0 / w ** 2)
    for lev, t in zip(engine.levels, re_theta):
        L = lev.factor(t)
        D = L @ L.T
        G = lev.codes[:, None] == lev.codes[None, :]
        V += (lev.Z @ D @ lev.Z.T) * G
    return V


@pytest.mark.parametrize("reml", [True, False])
def test_engine_equals_dense_formula_nested_slopes_varident(data, reml):
    d = data("sim_nested")
    levels = parse_random({"a": "~ x", "b": "~ 1"})
    frame = build_frame("y ~ trt", d, levels, VarIdent(form="~ 1 | trt"))
    eng = ProfiledLikelihood(frame.y, frame.X, frame.levels, frame.varfunc, None, reml)
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = eng.start() + rng.normal(scale=0.4, size=eng.n_params)
        ll_dense, beta = dense_loglik(frame.y, frame.X, dense_sigma(eng, theta), reml)
        ev = eng.evaluate(theta, keep=True)
        assert ev.loglik == pytest.approx(ll_dense, abs=1e-9)
        np.testing.assert_allclose(ev.beta, beta, rtol=1e-9)


def test_blups_equal_dense_formula(data):
    O = data("Orthodont")
    res = lme("distance ~ age", data=O, random="~ age | Subject")
    st = res._state
    eng, ev = st.engine, st.evaluation
    V = dense_sigma(eng, st.theta) * ev.sigma2
    r = eng.y - eng.X @ ev.beta
    lev = eng.user_levels[0]         # the user's design (the engine's is centred)
    D = res.cov_re.to_numpy()
    # b_i = D Z_i' V_i^-1 r_i (nlme-reference.md 9)
    for g in (0, 5, 26):
        rows = lev.codes == g
        b = D @ lev.Z[rows].T @ np.linalg.solve(V[np.ix_(rows, rows)], r[rows])
        np.testing.assert_allclose(st.blups[0][g], b, rtol=1e-8, atol=1e-10)


def test_worked_example_2_5_pieces(data):
    """nlme-reference.md 2.5: Orthodont, random intercept, varIdent(~1|Sex), at nlme's
    estimates sd(b) = 1.83946330550078, sigma = 1.76175777011335, delta = 0.4541324..."""
    O = data("Orthodont")
    frame = build_frame("distance ~ age + Sex", O, parse_random("~ 1 | Subject"),
                        VarIdent(form="~ 1 | Sex"))
    eng = ProfiledLikelihood(frame.y, frame.X, frame.levels, frame.varfunc, None, True)
    sigma, sdb, delta = 1.76175777011335, 1.83946330550078, 0.454132413909853
    theta = np.array([np.log(sdb / sigma), np.log(delta)])
    ev = eng.evaluate(theta, keep=True)
    assert ev.log_w.sum() == pytest.approx(34.73212436632765, abs=1e-10)
    assert ev.logdet_M == pytest.approx(60.93849953064075, abs=1e-9)
    assert ev.q == pytest.approx(325.8979962582505, rel=1e-10)
    assert ev.logdet_X == pytest.approx(11.97987079384402, abs=1e-9)
    assert ev.loglik == pytest.approx(-210.1783713674412, abs=1e-9)
    # patsy orders the columns Intercept, Sex[T.Female], age
    np.testing.assert_allclose(ev.beta, [18.91999160747680, -2.32102272727273,
                                         0.54988712659302], rtol=1e-9)


def test_fitted_covariate_iterates_to_self_consistency(data):
    """varPower() on fitted values: at the returned fit the covariate equals the fitted
    values of that same fit (to the outer tolerance)."""
    BW = data("BodyWeight")
    res = lme("weight ~ Time * Diet", data=BW, random="~ Time | Rat", weights=VarPower())
    mu = res.fitted().to_numpy()
    cov = res.frame.varfunc._v
    np.testing.assert_allclose(res.frame.to_caller_order(cov), mu, rtol=1e-4)
