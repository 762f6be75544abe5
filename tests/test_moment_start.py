"""The moment-based start of one level of random effects
(:mod:`lmmext.engine.moment_start`), checked against the moment equations written out
pair by pair, and against the one-way ANOVA estimator they reduce to."""
import numpy as np
import pytest

from lmmext import CorAR1
from lmmext.engine.likelihood import ProfiledLikelihood
from lmmext.engine.moment_start import moment_start
from lmmext.formula import parse_random
from lmmext.frame import build_frame


def _engine(d, fixed, random, correlation=None):
    frame = build_frame(fixed, d, parse_random(random), correlation=correlation)
    return ProfiledLikelihood(frame.y, frame.X, frame.levels, frame.varfunc,
                              frame.corstruct, reml=True)


def _start_covariance(eng, theta):
    """``(D, sigma^2)`` the start stands for: ``D~ = L L'`` of the engine's design and
    ``sigma^2`` from the rows' mean square less the random effects' share."""
    lev = eng.levels[0]
    L = lev.pd.factor(theta)
    Dt = L @ L.T
    r = np.asarray(eng.y - eng.X @ np.linalg.lstsq(eng.X, eng.y, rcond=None)[0])
    # sigma^2 (r'r - sum z' D z) / (N - p) = sigma^2  =>  solve for sigma^2
    zDz = np.einsum("nq,qk,nk->", lev.Z, Dt, lev.Z)
    sigma2 = (r @ r) / (eng.N - eng.p + zDz)
    return sigma2 * Dt, sigma2, r


def test_random_slope_start_solves_the_pairwise_moment_equations(data):
    """Orthodont, random intercept and age: sum over the pairs i != j of a subject's rows
    of z_i z_j' r_i r_j equals sum over the same pairs of z_i z_i' D z_j z_j', written out
    pair by pair (not the module's stacked sums)."""
    eng = _engine(data("Orthodont"), "distance ~ age * Sex", "~ age | Subject")
    theta = moment_start(eng, eng.start())
    assert theta is not None and theta.shape == (3,)
    D, _, r = _start_covariance(eng, theta)
    lev = eng.levels[0]
    lhs, rhs = np.zeros((2, 2)), np.zeros((2, 2))
    for g in range(lev.n_groups):
        rows = np.flatnonzero(lev.codes == g)
        for i in rows:
            for j in rows:
                if i != j:
                    zi, zj = lev.Z[i][:, None], lev.Z[j][:, None]
                    lhs += zi @ zj.T * r[i] * r[j]
                    rhs += zi @ zi.T @ D @ zj @ zj.T
    np.testing.assert_allclose(rhs, lhs, rtol=1e-8, atol=1e-8 * np.abs(lhs).max())


def _pairwise_log_relative_sd(d):
    """One-way ANOVA by pairs: tau^2 the mean product of distinct calves' residuals of
    one sire, sum_g [(sum r)^2 - sum r^2] / sum n (n - 1), sigma^2 the residual mean
    square less it; their log relative SD."""
    r = d["bw"].to_numpy() - d["bw"].mean()
    groups = [r[(d["sire"] == s).to_numpy()] for s in d["sire"].cat.categories]
    tau2 = (sum(g.sum() ** 2 - (g ** 2).sum() for g in groups)
            / sum(g.size * (g.size - 1) for g in groups))
    sigma2 = ((r ** 2).sum() - r.size * tau2) / (r.size - 1)
    return 0.5 * np.log(tau2 / sigma2)


def test_random_intercept_start_is_the_pairwise_anova_estimator(data):
    """sires (5 sires x 8 calves): a single random effect starts at the pairs' estimate
    where nlme's start is above it (as here); where nlme's is below, at nlme's but at
    most 0.5 below the pairs' estimate (a sire effect of 100 kg per sire code)."""
    d = data("sires")
    eng = _engine(d, "bw ~ 1", "~ 1 | sire")
    expected = _pairwise_log_relative_sd(d)
    assert expected < eng.levels[0].start()[0]
    assert moment_start(eng, eng.start())[0] == pytest.approx(expected, rel=1e-10)
    big = d.assign(bw=d["bw"] + 100.0 * d["sire"].cat.codes.to_numpy())
    eng = _engine(big, "bw ~ 1", "~ 1 | sire")
    expected = _pairwise_log_relative_sd(big)
    assert expected - 0.5 > eng.levels[0].start()[0]
    assert moment_start(eng, eng.start())[0] == pytest.approx(expected - 0.5, rel=1e-10)


def test_simulated_covariance_is_recovered():
    """10,000 subjects with a known intercept-slope covariance: the start is the truth
    to sampling error (a few percent)."""
    import pandas as pd
    rng = np.random.default_rng(7)
    G, n = 10_000, 6
    D = np.array([[4.0, 0.6], [0.6, 0.25]])
    t = np.tile(np.arange(n, dtype=float), G)
    b = rng.multivariate_normal([0, 0], D, size=G)
    subject = np.repeat(np.arange(G), n)
    y = 1.0 + 0.5 * t + b[subject, 0] + b[subject, 1] * t + rng.normal(size=G * n)
    d = pd.DataFrame({"y": y, "t": t, "subject": subject})
    eng = _engine(d, "y ~ t", "~ t | subject")
    D_hat, sigma2, _ = _start_covariance(eng, moment_start(eng, eng.start()))
    # the engine centres and scales the design for a general covariance: back to t
    A = eng.transforms[0]
    D_user = A @ D_hat @ A.T
    np.testing.assert_allclose(D_user, D, rtol=0.05, atol=0.02)
    assert sigma2 == pytest.approx(1.0, rel=0.05)


def test_nested_levels_solve_their_pairwise_moment_equations(data):
    """sim_nested, a slope at the outer level and an intercept within: for each level k,
    over the pairs i != j sharing a group of level k, sum z_i^k z_j^k' r_i r_j equals
    sum z_i^k z_j^k' (sum over the levels l whose group the pair shares of
    z_i^l' D_l z_j^l), written out pair by pair."""
    from lmmext.engine.moment_start import _matched_covariances, _row_outer
    eng = _engine(data("sim_nested"), "y ~ trt", {"a": "~ x", "b": "~ 1"})
    r = np.asarray(eng.A[:, -1])
    Ds = _matched_covariances(eng.levels, r, [_row_outer(lev.Z, lev.Z) for lev in eng.levels])
    levels = eng.levels
    for k, lev_k in enumerate(levels):
        lhs = np.zeros((lev_k.q, lev_k.q))
        rhs = np.zeros_like(lhs)
        for g in range(lev_k.n_groups):
            rows = np.flatnonzero(lev_k.codes == g)
            for i in rows:
                for j in rows:
                    if i == j:
                        continue
                    zz = np.outer(lev_k.Z[i], lev_k.Z[j])
                    lhs += zz * r[i] * r[j]
                    rhs += zz * sum(lev.Z[i] @ D @ lev.Z[j] for lev, D in zip(levels, Ds)
                                    if lev.codes[i] == lev.codes[j])
        np.testing.assert_allclose(rhs, lhs, rtol=1e-8, atol=1e-8 * np.abs(lhs).max())


def test_models_without_a_matched_start_keep_nlmes(data):
    d = data("Orthodont")
    serial = _engine(d, "distance ~ age", "~ 1 | Subject",
                     correlation=CorAR1(form="~ 1 | Subject"))
    assert moment_start(serial, serial.start()) is None
    np.testing.assert_array_equal(serial.data_start(), serial.start())
