"""CorToeplitz and CorAnte (SAS TOEP / ANTE(1), mmrm toep / adh): no R package fits them
with nlme's conventions, so the references are an independent dense (RE)ML written out
here from the definitions: per subject ``V_i = sigma^2 W_i^-1 C_i W_i^-1`` (plus
``sigma_b^2 J`` for a random intercept), ``C_i`` the Toeplitz matrix of the
autocorrelations by lag, or the ante-dependence products, at the subject's visits; beta
and sigma profiled; optimized with scipy from several starts on its own
parameterization (each correlation ``tanh(u)``, non-positive-definite points rejected).

The dense likelihood's conventions are checked first against nlme's printed numbers
(validation/references/corstruct.json: C27 gls corCompSymm REML, C29 gls corSymm ML).

SAS's documentation example "Repeated Measures" (PROC MIXED, the Pothoff-Roy growth data
= nlme's Orthodont) prints TYPE=UN fits only; no printed TOEP or ANTE(1) numbers on these
data were found through the search tool, so none are reproduced here.
"""
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import toeplitz
from scipy.optimize import minimize

from lmmext import (CorAnte, CorAR1, CorCompSymm, CorSymm, CorToeplitz, MixedLM, VarIdent,
                    gls, lme)
from lmmext.validation import find_dir

FORMULA = "distance ~ age * Sex"


# ---------------------------------------------------------------------------------
# the independent dense reference
# ---------------------------------------------------------------------------------
def toep_corr(rho, v):
    """Toeplitz correlation at integer visits ``v``: 1 on the diagonal, ``rho[k-1]`` at
    lag k, 0 beyond ``len(rho)``."""
    r = np.zeros(int(v.max() - v.min()) + 1)
    r[0] = 1.0
    k = min(len(rho), len(r) - 1)
    r[1:k + 1] = rho[:k]
    return toeplitz(r)[np.ix_(v - v.min(), v - v.min())]


def ante_corr(rho, v):
    """Ante-dependence: cor(j, k) = rho_j ... rho_(k-1) for visits j < k (1-based)."""
    n = len(v)
    C = np.eye(n)
    for a in range(n):
        for b in range(n):
            lo, hi = sorted((v[a], v[b]))
            C[a, b] = np.prod(rho[lo - 1:hi - 1])
    return C


def cs_corr(rho, v):
    return (1 - rho[0]) * np.eye(len(v)) + rho[0]


def symm_corr(rho, v):
    K = int(v.max())
    C = np.eye(K)
    C[np.triu_indices(K, 1)] = rho
    C = np.triu(C) + np.triu(C, 1).T
    return C[np.ix_(v - 1, v - 1)]


class Dense:
    """Profiled (RE)ML of y ~ X with per-subject V_i = sigma^2 (D C_i D + d J)."""

    def __init__(self, d, corr, n_cor, var=False, re=False, method="REML"):
        self.corr, self.n_cor, self.var, self.re, self.method = corr, n_cor, var, re, method
        female = (d["Sex"] == "Female").to_numpy(float)
        age = d["age"].to_numpy(float)
        self.X = np.column_stack([np.ones(len(d)), female, age, age * female])
        self.y = d["distance"].to_numpy(float)
        self.K = int(d["visit"].max())
        v = d["visit"].to_numpy(int)
        pats = {}
        for s in pd.unique(d["Subject"]):
            rows = np.flatnonzero((d["Subject"] == s).to_numpy())
            pats.setdefault(tuple(v[rows]), []).append(rows)
        self.patterns = [(np.array(k), np.array(r)) for k, r in pats.items()]

    def split(self, u):
        u = np.asarray(u, float)
        rho = np.tanh(u[:self.n_cor])
        pos = self.n_cor
        delta = np.ones(self.K)
        if self.var:
            delta[1:] = np.exp(u[pos:pos + self.K - 1])
            pos += self.K - 1
        dre = np.exp(u[pos]) if self.re else 0.0
        return rho, delta, dre

    def loglik(self, rho, delta, dre=0.0, full=False):
        N, p = self.X.shape
        logdet, XtVX, XtVy, yVy = 0.0, np.zeros((p, p)), np.zeros(p), 0.0
        for v, rows in self.patterns:                     # subjects sharing visits
            s = delta[v - 1]
            Lam = s[:, None] * self.corr(rho, v) * s[None, :] + dre
            ev = np.linalg.eigvalsh(Lam)
            if ev.min() <= 1e-10:
                return -np.inf
            Li = np.linalg.inv(Lam)
            logdet += len(rows) * np.log(ev).sum()
            Xi, yi = self.X[rows], self.y[rows]           # (G, n, p), (G, n)
            LX, Ly = Li @ Xi, yi @ Li
            XtVX += np.einsum("gni,gnj->ij", Xi, LX)
            XtVy += np.einsum("gni,gn->i", Xi, Ly)
            yVy += np.einsum("gn,gn->", Ly, yi)
        beta = np.linalg.solve(XtVX, XtVy)
        rss = yVy - XtVy @ beta
        n = N - p if self.method == "REML" else N
        s2 = rss / n
        ll = -0.5 * (n * (np.log(2 * np.pi * s2) + 1) + logdet)
        if self.method == "REML":
            ll -= 0.5 * np.linalg.slogdet(XtVX)[1]
        return (ll, beta, np.sqrt(s2)) if full else ll

    def fit(self, starts):
        def f(u):
            ll = self.loglik(*self.split(u))
            return 1e10 if not np.isfinite(ll) else -ll
        best = None
        for u0 in starts:
            r = minimize(f, u0, method="BFGS", options={"gtol": 1e-7, "maxiter": 500})
            r = minimize(f, r.x, method="BFGS", options={"gtol": 1e-8, "maxiter": 500})
            if best is None or r.fun < best.fun:
                best = r
        rho, delta, dre = self.split(best.x)
        ll, beta, sigma = self.loglik(rho, delta, dre, full=True)
        return dict(llf=ll, rho=rho, delta=delta, sigma=sigma, beta=beta,
                    sd_re=np.sqrt(dre) * sigma)

    def starts(self, n_extra, seed=0):
        k = self.n_cor + (self.K - 1 if self.var else 0) + (1 if self.re else 0)
        rng = np.random.default_rng(seed)
        base = np.zeros(k)
        base[:self.n_cor] = 0.3
        return [base] + [base + rng.normal(0, 0.4, k) for _ in range(n_extra)]


# ---------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def orth(orthodont_visits):
    return orthodont_visits


@pytest.fixture(scope="module")
def unbalanced(orthodont_unbalanced):
    return orthodont_unbalanced


def _gls(d, cs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gls(FORMULA, data=d, correlation=cs, **kw)


def _compare(fit, ref, cor_values, var=False, re=False):
    assert fit.llf == pytest.approx(ref["llf"], abs=1e-6)
    np.testing.assert_allclose(fit.fe_params.to_numpy(), ref["beta"], rtol=1e-4)
    np.testing.assert_allclose(cor_values, ref["rho"], rtol=1e-4, atol=1e-6)
    if var:
        np.testing.assert_allclose(fit.variance_params.to_numpy(), ref["delta"], rtol=1e-4)
    if re:
        assert np.sqrt(fit.cov_re.iloc[0, 0]) == pytest.approx(ref["sd_re"], rel=1e-4)
        assert np.sqrt(fit.scale) == pytest.approx(ref["sigma"], rel=1e-4)
    else:
        assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)


def _ref_case(cid):
    path = find_dir() / "references" / "corstruct.json"
    cases = json.loads(path.read_text())
    cases = cases if isinstance(cases, list) else cases.get("cases", list(cases.values()))
    return next(c for c in cases if isinstance(c, dict) and c.get("id") == cid)


# ---------------------------------------------------------------------------------
# the dense reference reproduces nlme
# ---------------------------------------------------------------------------------
def test_dense_reference_reproduces_nlme(orth):
    def dense(corr, n, method):
        D = Dense(orth, corr, n, method=method)
        D.X = D.X[:, :3]                                  # distance ~ age + Sex
        D.X[:, [1, 2]] = D.X[:, [2, 1]]
        return D
    c27 = _ref_case("C27")                                # gls corCompSymm, REML
    D = dense(cs_corr, 1, "REML")
    ll, beta, sigma = D.loglik(np.array(list(c27["corStruct"].values())), np.ones(4), full=True)
    assert ll == pytest.approx(c27["logLik"], abs=1e-6)
    assert sigma == pytest.approx(c27["sigma"], rel=1e-6)
    c29 = _ref_case("C29")                                # gls corSymm, ML
    D = dense(symm_corr, 6, "ML")
    assert D.loglik(np.array(list(c29["corStruct"].values())), np.ones(4)) == pytest.approx(
        c29["logLik"], abs=1e-6)


def test_dense_maps_are_the_definitions():
    v = np.array([1, 2, 4])
    np.testing.assert_allclose(toep_corr(np.array([0.5, 0.2, 0.1]), v),
                               [[1, .5, .1], [.5, 1, .2], [.1, .2, 1]])
    np.testing.assert_allclose(ante_corr(np.array([0.5, 0.4, 0.3]), v),
                               [[1, .5, .06], [.5, 1, .12], [.06, .12, 1]])


# ---------------------------------------------------------------------------------
# fits against the dense reference
# ---------------------------------------------------------------------------------
CASES = {
    # name: (structure factory, dense corr, n_cor, var, data, method)
    "toep": (lambda: CorToeplitz(form="~ visit | Subject"), toep_corr, 3, False, "orth", "REML"),
    "toeph": (lambda: CorToeplitz(form="~ visit | Subject"), toep_corr, 3, True, "orth", "REML"),
    "toep_band1": (lambda: CorToeplitz(form="~ visit | Subject", max_lag=1), toep_corr, 1,
                   False, "orth", "REML"),
    "toep_band2_h": (lambda: CorToeplitz(form="~ visit | Subject", max_lag=2), toep_corr, 2,
                     True, "orth", "REML"),
    "ante": (lambda: CorAnte(form="~ visit | Subject"), ante_corr, 3, False, "orth", "REML"),
    "adh": (lambda: CorAnte(form="~ visit | Subject"), ante_corr, 3, True, "orth", "REML"),
    "toep_unbal": (lambda: CorToeplitz(form="~ visit | Subject"), toep_corr, 3, False,
                   "unbalanced", "REML"),
    "toeph_unbal": (lambda: CorToeplitz(form="~ visit | Subject"), toep_corr, 3, True,
                    "unbalanced", "REML"),
    "ante_unbal": (lambda: CorAnte(form="~ visit | Subject"), ante_corr, 3, False,
                   "unbalanced", "REML"),
    "adh_unbal": (lambda: CorAnte(form="~ visit | Subject"), ante_corr, 3, True,
                  "unbalanced", "REML"),
    "toeph_ml": (lambda: CorToeplitz(form="~ visit | Subject"), toep_corr, 3, True, "orth", "ML"),
    "adh_ml_unbal": (lambda: CorAnte(form="~ visit | Subject"), ante_corr, 3, True,
                     "unbalanced", "ML"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gls_matches_dense_reml(name, orth, unbalanced):
    make, corr, n_cor, var, which, method = CASES[name]
    d = orth if which == "orth" else unbalanced
    ref = Dense(d, corr, n_cor, var=var, method=method)
    ref = ref.fit(ref.starts(2))
    kw = {"weights": VarIdent(form="~ 1 | visit")} if var else {}
    fit = _gls(d, make(), method=method, **kw)
    _compare(fit, ref, fit.correlation_params.to_numpy(), var=var)


@pytest.mark.parametrize("which", ["orth", "unbalanced"])
def test_lme_random_intercept_with_ante(which, orth, unbalanced):
    d = orth if which == "orth" else unbalanced
    ref = Dense(d, ante_corr, 3, re=True)
    ref = ref.fit(ref.starts(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lme(FORMULA, data=d, random="~ 1 | Subject",
                  correlation=CorAnte(form="~ visit | Subject"))
    _compare(fit, ref, fit.correlation_params.to_numpy(), re=True)


def test_lme_random_intercept_with_toeplitz(orth):
    ref = Dense(orth, toep_corr, 3, re=True)
    ref = ref.fit(ref.starts(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lme(FORMULA, data=orth, random="~ 1 | Subject",
                  correlation=CorToeplitz(form="~ visit | Subject"))
    # not identified: sigma_b^2 J + sigma^2 T(rho) is again a Toeplitz covariance, so the
    # maximum is a ridge (measured: lmmext and the dense fit sit at different points of
    # it, correlations differing by up to 17%); only the likelihood is compared, and it
    # is the gls Toeplitz fit's
    assert fit.llf == pytest.approx(ref["llf"], abs=1e-6)
    assert fit.llf == pytest.approx(_gls(orth, CorToeplitz(form="~ visit | Subject")).llf,
                                    abs=1e-6)


# ---------------------------------------------------------------------------------
# equivalences with nlme's structures
# ---------------------------------------------------------------------------------
def test_toeplitz_on_two_visits_is_compound_symmetry(orth):
    d = orth[orth["visit"] <= 2]
    t = _gls(d, CorToeplitz(form="~ visit | Subject"))
    c = _gls(d, CorCompSymm(form="~ 1 | Subject"))
    assert t.llf == pytest.approx(c.llf, abs=1e-6)
    assert t.correlation_params["Rho1"] == pytest.approx(c.correlation_params["Rho"], rel=1e-4)
    np.testing.assert_allclose(t.fe_params, c.fe_params, rtol=1e-6)


@pytest.mark.parametrize("which", ["orth", "unbalanced"])
def test_ante_with_equal_parameters_is_ar1(which, orth, unbalanced):
    d = orth if which == "orth" else unbalanced
    for phi in (0.3, 0.62, -0.4):
        a = _gls(d, CorAnte([phi] * 3, form="~ visit | Subject", fixed=True))
        b = _gls(d, CorAR1(phi, form="~ visit | Subject", fixed=True))
        assert a.llf == pytest.approx(b.llf, abs=1e-9)


@pytest.mark.parametrize("which", ["orth", "unbalanced"])
def test_toeplitz_likelihood_is_corsymm_at_toeplitz_pattern(which, orth, unbalanced):
    d = orth if which == "orth" else unbalanced
    rho = [0.55, 0.4, 0.3]
    full = toeplitz([1.0] + rho)[np.triu_indices(4, 1)]
    a = _gls(d, CorToeplitz(rho, form="~ visit | Subject", fixed=True))
    b = _gls(d, CorSymm(full, form="~ visit | Subject", fixed=True))
    assert a.llf == pytest.approx(b.llf, abs=1e-9)
    # and the fitted Toeplitz is CorSymm at its own pattern
    f = _gls(d, CorToeplitz(form="~ visit | Subject"))
    full = toeplitz(np.r_[1.0, f.correlation_params.to_numpy()])[np.triu_indices(4, 1)]
    b = _gls(d, CorSymm(full, form="~ visit | Subject", fixed=True))
    assert f.llf == pytest.approx(b.llf, abs=1e-9)


def test_banded_fixed_equals_full_with_zeros(orth):
    a = _gls(orth, CorToeplitz([0.5], form="~ visit | Subject", max_lag=1, fixed=True))
    b = _gls(orth, CorToeplitz([0.5, 0.0, 0.0], form="~ visit | Subject", fixed=True))
    assert a.llf == pytest.approx(b.llf, abs=1e-9)


# ---------------------------------------------------------------------------------
# parameterization
# ---------------------------------------------------------------------------------
def _yule_walker_pacf(rho):
    """Partial autocorrelations by solving the Yule-Walker system of each order."""
    r = np.r_[1.0, rho]
    return np.array([np.linalg.solve(toeplitz(r[:k]), r[1:k + 1])[-1]
                     for k in range(1, len(r))])


def test_toeplitz_parameterization_is_the_partial_autocorrelations(orth):
    cs = CorToeplitz(form="~ visit | Subject")
    cs.initialize(orth, pd.factorize(orth["Subject"])[0])
    rng = np.random.default_rng(1)
    for _ in range(20):
        theta = rng.normal(0, 2, 3)
        rho = cs.coefficients(theta).to_numpy()
        np.testing.assert_allclose(_yule_walker_pacf(rho), np.tanh(theta / 2), atol=1e-12)
        assert np.linalg.eigvalsh(toeplitz(np.r_[1, rho])).min() > 0
        np.testing.assert_allclose(cs.to_unconstrained(rho), theta, atol=1e-9)
        assert cs.positive_definite(theta)
    assert list(cs.coefficients(cs.start()).index) == ["Rho1", "Rho2", "Rho3"]
    np.testing.assert_allclose(cs.correlation_matrix([0.4, -0.2, 0.3], 0),
                               toep_corr(cs.coefficients([0.4, -0.2, 0.3]).to_numpy(),
                                         np.arange(1, 5)))


def test_ante_parameterization(orth):
    cs = CorAnte(form="~ visit | Subject")
    cs.initialize(orth, pd.factorize(orth["Subject"])[0])
    assert cs.param_names() == ["cor(1,2)", "cor(2,3)", "cor(3,4)"]
    theta = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(cs.coefficients(theta), np.tanh(theta / 2))
    np.testing.assert_allclose(cs.to_unconstrained(np.tanh(theta / 2)), theta)
    np.testing.assert_allclose(cs.correlation_matrix(theta, 0),
                               ante_corr(np.tanh(theta / 2), np.arange(1, 5)))


def test_intervals_summary_and_apvar(orth):
    f = _gls(orth, CorToeplitz(form="~ visit | Subject"), weights=VarIdent(form="~ 1 | visit"))
    iv = f.intervals()
    tab = iv.corStruct
    np.testing.assert_allclose(tab["est."], f.correlation_params, rtol=1e-10)
    assert (tab["lower"] < tab["est."]).all() and (tab["est."] < tab["upper"]).all()
    assert (tab["upper"] < 1).all() and (tab["lower"] > -1).all()
    text = str(f.summary())
    assert "Correlation Structure: CorToeplitz" in text and "Rho3" in text
    a = _gls(orth, CorAnte(form="~ visit | Subject"))
    tab = a.intervals().corStruct
    assert list(tab.index) == ["cor(1,2)", "cor(2,3)", "cor(3,4)"]
    assert (tab["lower"] < tab["est."]).all() and (tab["est."] < tab["upper"]).all()


def test_statsmodels_door(orth):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MixedLM.from_formula(FORMULA, data=orth, groups="Subject",
                                 correlation=CorAnte(form="~ visit | Subject"))
        r = m.fit()
        f = lme(FORMULA, data=orth, random="~ 1 | Subject",
                correlation=CorAnte(form="~ visit | Subject"))
    assert r.llf == pytest.approx(f.llf, abs=1e-6)


def test_banded_not_positive_definite_is_infeasible(orth):
    # rho = 0.7 at lag 1 only: the 2 x 2 matrix is positive definite, the 4 x 4 banded
    # one is not (smallest eigenvalue 1 - 1.4 cos(pi/5) < 0)
    cs = CorToeplitz([0.7], form="~ visit | Subject", max_lag=1, fixed=True)
    with pytest.raises(ValueError, match="CorToeplitz: correlation matrix is not positive definite"):
        _gls(orth, cs)
    assert not CorToeplitz(form="~ visit | Subject", max_lag=1).positive_definite([0.1])


# ---------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [CorToeplitz, CorAnte])
def test_duplicated_and_non_integer_positions(cls, orth):
    d = orth.copy()
    d.loc[1, "visit"] = 1
    with pytest.raises(ValueError, match=f"{cls.__name__}: group 'M01' has repeated positions"):
        _gls(d, cls(form="~ visit | Subject"))
    d = orth.copy()
    d["visit"] = d["visit"] + 0.5
    with pytest.raises(ValueError, match=f"{cls.__name__}: positions from 'visit' must be "
                                         "integer-valued"):
        _gls(d, cls(form="~ visit | Subject"))


@pytest.mark.parametrize("make, match", [
    (lambda: CorToeplitz(max_lag=0), r"CorToeplitz: max_lag must be a positive integer"),
    (lambda: CorToeplitz(max_lag=1.5), r"CorToeplitz: max_lag must be a positive integer"),
    (lambda: CorToeplitz([0.5, 0.1], max_lag=1), r"value needs max_lag = 1 autocorrelations"),
    (lambda: CorToeplitz([0.9, -0.9]), r"do not form a positive-definite Toeplitz matrix"),
    (lambda: CorToeplitz([1.2]), r"CorToeplitz: value must be correlations in \(-1, 1\)"),
    (lambda: CorAnte([0.5, 1.0]), r"CorAnte: value must be correlations in \(-1, 1\)"),
    (lambda: CorAnte("a"), r"CorAnte: value must be numeric"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_data(orth):
    d = orth[orth["visit"] != 4]
    with pytest.raises(ValueError, match=r"CorToeplitz: no group has the lag \[3\]"):
        _gls(d, CorToeplitz(form="~ visit | Subject", max_lag=3))
    with pytest.raises(ValueError, match=r"CorToeplitz: the data need 3 correlations but "
                                         r"value= gives 2"):
        _gls(orth, CorToeplitz([0.3, 0.2], form="~ visit | Subject"))
    with pytest.raises(ValueError, match=r"CorAnte: the data need 3 correlations but value= "
                                         r"gives 2"):
        _gls(orth, CorAnte([0.3, 0.2], form="~ visit | Subject"))
    d = orth.copy()
    d["visit"] = d["visit"] - 1
    with pytest.raises(ValueError, match=r"CorAnte: positions must be integers 1..K; group "
                                         r"'\w+' has position 0"):
        _gls(d, CorAnte(form="~ visit | Subject"))
    d = orth[orth["visit"].isin([1, 3, 4])]
    with pytest.raises(ValueError, match=r"CorAnte: no group has the adjacent positions "
                                         r"\(j, j\+1\) for j = \[1, 2\]"):
        _gls(d, CorAnte(form="~ visit | Subject"))
    with pytest.raises(RuntimeError, match="CorAnte: call initialize"):
        CorAnte().start()
