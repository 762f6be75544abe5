"""``group=`` on correlation structures (SAS ``GROUP=``, mmrm ``us(visit | arm / id)``):
one copy of the parameters per level of a between-subject factor.

nlme cannot fit group-specific correlations, so the references are

* an independent dense (RE)ML written out here from the definitions: per subject
  ``V_i = sigma^2 S_i C_i S_i`` with ``C_i`` the structure's correlation at the subject's
  visits from *its level's* parameters and ``S_i`` the VarIdent ratios; beta and sigma
  profiled; optimized with scipy from several starts on its own parameterization
  (``tanh`` of each correlation, non-positive-definite points rejected).  The fixed
  effects ``distance ~ Sex * age`` are shared by the two levels (not a block-diagonal
  design), so this is a genuinely joint fit;
* nlme through separate fits per level (validation/references_mmrm/mmrm.json,
  ``by_sex``): with a block-diagonal design ``0 + Sex + Sex:visit`` and every parameter
  separate per level the joint log-likelihood is the sum of the separate ones
  (tests/test_mmrm.py).
"""
import pickle
import warnings

import numpy as np
import pandas as pd
import patsy
import pytest
from scipy.optimize import minimize

import lmmext
from lmmext import (CorAnte, CorAR1, CorCompSymm, CorExp, CorSymm, CorToeplitz, VarIdent,
                    gls, lme)
from lmmext.structures.numdiff import central_differences

FORMULA = "distance ~ Sex * age"
LEVELS = ["Male", "Female"]


# ---------------------------------------------------------------------------------
# the independent dense reference
# ---------------------------------------------------------------------------------
def _lagged(r, lag):
    out = np.zeros(lag.shape)
    inside = lag < len(r)
    out[inside] = np.asarray(r)[lag[inside]]
    return out


CORR = {
    # correlation at the positions v (1-based visits, or ages for "exp") of one subject
    "toep": lambda p, v: _lagged(np.r_[1.0, p], np.abs(v[:, None] - v[None, :])),
    "ar1": lambda p, v: p[0] ** np.abs(v[:, None] - v[None, :]),
    "cs": lambda p, v: (1 - p[0]) * np.eye(len(v)) + p[0],
    "exp": lambda p, v: np.exp(-np.abs(v[:, None] - v[None, :]) / p[0]),
    "ante": lambda p, v: np.array([[np.prod(p[min(a, b) - 1:max(a, b) - 1]) for b in v]
                                   for a in v]),
    "symm": lambda p, v: (lambda C: C[np.ix_(v - 1, v - 1)])(
        np.triu(_full_symm(p)) + np.triu(_full_symm(p), 1).T),
}


def _full_symm(p):
    K = int(round((1 + np.sqrt(1 + 8 * len(p))) / 2))
    C = np.eye(K)
    C[np.triu_indices(K, 1)] = p
    return C


class DenseGrouped:
    """Profiled (RE)ML of ``distance ~ Sex * age`` with per-subject
    ``V_i = sigma^2 S_i C_i(params of its Sex) S_i``; ``S_i`` from a VarIdent by
    ``age * Sex`` (``var="visit"``) or by ``Sex`` (``var="sex"``)."""

    def __init__(self, d, kind, n_cor, var, method="REML", coord="visit"):
        self.kind, self.n_cor, self.var, self.method = kind, n_cor, var, method
        self.X = np.asarray(patsy.dmatrix(FORMULA.split("~")[1], d))
        self.y = d["distance"].to_numpy(float)
        vis = d["visit"].to_numpy(int)
        pos = d[coord].to_numpy(float if kind == "exp" else int)
        sex = (d["Sex"] == "Female").to_numpy(int)
        # variance strata: visit-by-sex (8: Male visits 1..4 then Female) or sex (2)
        self.stratum = vis - 1 + 4 * sex if var == "visit" else sex
        self.n_var = (8 if var == "visit" else 2) - 1
        pats = {}
        for s in pd.unique(d["Subject"]):
            rows = np.flatnonzero((d["Subject"] == s).to_numpy())
            key = (sex[rows[0]], tuple(pos[rows]), tuple(self.stratum[rows]))
            pats.setdefault(key, []).append(rows)
        self.patterns = [(k[0], np.array(k[1]), np.array(k[2]), np.array(r))
                         for k, r in pats.items()]

    def split(self, u):
        u = np.asarray(u, float)
        n = self.n_cor
        cor = []
        for lev in range(2):
            c = u[lev * n:(lev + 1) * n]
            cor.append(np.exp(c) if self.kind == "exp" else np.tanh(c))
        ratio = np.r_[1.0, np.exp(u[2 * n:])]
        return cor, ratio

    def loglik(self, cor, ratio, full=False):
        N, p = self.X.shape
        logdet, XtVX, XtVy, yVy = 0.0, np.zeros((p, p)), np.zeros(p), 0.0
        for lev, v, st, rows in self.patterns:
            s = ratio[st]
            Lam = s[:, None] * CORR[self.kind](cor[lev], v) * s[None, :]
            ev = np.linalg.eigvalsh(Lam)
            if ev.min() <= 1e-10:
                return -np.inf
            Li = np.linalg.inv(Lam)
            logdet += len(rows) * np.log(ev).sum()
            Xi, yi = self.X[rows], self.y[rows]
            LX, Ly = Li @ Xi, yi @ Li
            XtVX += np.einsum("gni,gnj->ij", Xi, LX)
            XtVy += np.einsum("gni,gn->i", Xi, Ly)
            yVy += np.einsum("gn,gn->", Ly, yi)
        beta = np.linalg.solve(XtVX, XtVy)
        n = N - p if self.method == "REML" else N
        s2 = (yVy - XtVy @ beta) / n
        ll = -0.5 * (n * (np.log(2 * np.pi * s2) + 1) + logdet)
        if self.method == "REML":
            ll -= 0.5 * np.linalg.slogdet(XtVX)[1]
        return (ll, beta, np.sqrt(s2)) if full else ll

    def fit(self, n_starts=3, seed=1):
        def f(u):
            ll = self.loglik(*self.split(u))
            return 1e10 if not np.isfinite(ll) else -ll
        k = 2 * self.n_cor + self.n_var
        rng = np.random.default_rng(seed)
        base = np.zeros(k)
        base[:2 * self.n_cor] = np.log(3.0) if self.kind == "exp" else 0.3
        best = None
        for u0 in [base] + [base + rng.normal(0, 0.3, k) for _ in range(n_starts - 1)]:
            r = minimize(f, u0, method="BFGS", options={"gtol": 1e-7, "maxiter": 2000})
            r = minimize(f, r.x, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
            if best is None or r.fun < best.fun:
                best = r
        cor, ratio = self.split(best.x)
        ll, beta, sigma = self.loglik(cor, ratio, full=True)
        return dict(llf=ll, cor=cor, ratio=ratio, beta=beta, sigma=sigma)


# ---------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def orth(orthodont_visits):
    return orthodont_visits


@pytest.fixture(scope="module")
def unbalanced(orthodont_unbalanced):
    return orthodont_unbalanced


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _by_level(series, level):
    return series[[k for k in series.index if k.endswith(":" + level)]].to_numpy()


# each case: structure, its dense kind, cor parameters per level, variance strata,
# data, method
CASES = {
    "toeph": (lambda: CorToeplitz(form="~ visit | Subject", group="Sex"), "toep", 3,
              "visit", "orth", "REML"),
    "ad_unbalanced": (lambda: CorAnte(form="~ visit | Subject", group="Sex"), "ante", 3,
                      "sex", "unbalanced", "REML"),
    "ar1_unbalanced_ml": (lambda: CorAR1(form="~ visit | Subject", group="Sex"), "ar1", 1,
                          "sex", "unbalanced", "ML"),
    "cs": (lambda: CorCompSymm(form="~ visit | Subject", group="Sex"), "cs", 1, "sex",
           "orth", "REML"),
    "exp": (lambda: CorExp(form="~ age | Subject", group="Sex"), "exp", 1, "sex", "orth",
            "REML"),
    "us_unbalanced": (lambda: CorSymm(form="~ visit | Subject", group="Sex"), "symm", 6,
                      "visit", "unbalanced", "REML"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_grouped_equals_dense_reml(case, request):
    make, kind, n_cor, var, data_name, method = CASES[case]
    d = request.getfixturevalue(data_name)
    weights = VarIdent(form="~ 1 | age * Sex" if var == "visit" else "~ 1 | Sex")
    fit = _quiet(gls, FORMULA, data=d, correlation=make(), weights=weights, method=method)
    ref = DenseGrouped(d, kind, n_cor, var, method=method,
                       coord="age" if kind == "exp" else "visit").fit()
    assert fit.converged
    assert fit.llf == pytest.approx(ref["llf"], abs=1e-6)
    np.testing.assert_allclose(fit.fe_params.to_numpy(), ref["beta"], rtol=1e-4)
    for lev, cor in zip(LEVELS, ref["cor"]):
        np.testing.assert_allclose(_by_level(fit.correlation_params, lev), cor,
                                   rtol=1e-4, atol=1e-6)
    # VarIdent ratios: strata 8*Male, 8*Female, 10*Male, .. (or Male, Female)
    vp = fit.variance_params
    if var == "visit":
        mine = [vp[f"{8 + 2 * j}*{lev}"] for lev in LEVELS for j in range(4)]
    else:
        mine = [vp[lev] for lev in LEVELS]
    np.testing.assert_allclose(mine, ref["ratio"], rtol=1e-4)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)


# ---------------------------------------------------------------------------------
# the protocol
# ---------------------------------------------------------------------------------
def test_names_levels_and_summary(orth):
    fit = _quiet(gls, FORMULA, data=orth, correlation=CorAR1(form="~ visit | Subject",
                                                             group="Sex"))
    cs = fit.frame.corstruct
    assert isinstance(cs, CorAR1) and type(cs).__name__ == "CorAR1"
    assert cs.group_levels == LEVELS                    # the Categorical's order
    assert list(fit.correlation_params.index) == ["Phi:Male", "Phi:Female"]
    assert cs.param_names() == ["Phi:Male", "Phi:Female"]
    text = str(fit.summary())
    assert " Group: Sex (Male, Female)" in text and "Phi:Female" in text
    iv = fit.intervals()
    assert list(iv.corStruct.index) == ["Phi:Male", "Phi:Female"]
    assert np.all(iv.corStruct["lower"] < iv.corStruct["est."])
    assert "group='Sex'" in repr(CorAR1(form="~ visit | Subject", group="Sex"))


def test_levels_sorted_without_categories(orth):
    d = orth.assign(Sex=orth["Sex"].astype(str))
    fit = _quiet(gls, FORMULA, data=d, correlation=CorCompSymm(form="~ 1 | Subject",
                                                               group="Sex"))
    assert fit.frame.corstruct.group_levels == ["Female", "Male"]
    ref = _quiet(gls, FORMULA, data=orth, correlation=CorCompSymm(form="~ 1 | Subject",
                                                                  group="Sex"))
    assert fit.llf == pytest.approx(ref.llf, abs=1e-8)


def test_one_level_equals_ungrouped(orth):
    d = orth.assign(all="one")
    a = _quiet(gls, FORMULA, data=d, correlation=CorSymm(form="~ visit | Subject", group="all"))
    b = _quiet(gls, FORMULA, data=d, correlation=CorSymm(form="~ visit | Subject"))
    assert a.llf == pytest.approx(b.llf, abs=1e-8)
    np.testing.assert_allclose(a.correlation_params.to_numpy(),
                               b.correlation_params.to_numpy(), atol=1e-5)
    assert a.correlation_params.index[0] == "cor(1,2):one"


@pytest.mark.parametrize("make", [
    lambda: CorSymm(form="~ visit | Subject", group="Sex"),
    lambda: CorToeplitz(form="~ visit | Subject", group="Sex"),
    lambda: CorAR1(form="~ visit | Subject", group="Sex"),
], ids=["symm_dense", "toep_dense", "ar1_banded"])
def test_analytic_score_and_whitening(unbalanced, make):
    fit = _quiet(gls, FORMULA, data=unbalanced, correlation=make(),
                 weights=VarIdent(form="~ 1 | Sex"))
    eng, theta = fit._state.engine, fit._state.theta
    cs = eng.corstruct
    th = theta + 0.07 * np.linspace(1.0, -1.0, theta.size)
    ll, g = eng.value_and_gradient(th)
    assert ll == pytest.approx(eng.loglik(th), abs=1e-8)
    g_fd = central_differences(eng.loglik, th, 1e-5)
    np.testing.assert_allclose(g, g_fd, rtol=2e-5, atol=1e-5 * max(1.0, np.abs(g_fd).max()))
    # whitening against the dense blocks
    _, tc, _ = eng.split(th)
    A = np.random.default_rng(3).normal(size=(eng.N, 2))
    Wt, logdet = cs.whiten(tc, A)
    blocks = np.asarray(cs.row_blocks)
    ld = 0.0
    for b in np.unique(blocks):
        r = np.flatnonzero(blocks == b)
        C = cs.correlation_matrix(tc, int(b))
        L = np.linalg.cholesky(C)
        np.testing.assert_allclose(L @ Wt[r], A[r], atol=1e-10)
        ld += np.linalg.slogdet(C)[1]
    assert logdet == pytest.approx(ld, abs=1e-9)
    if isinstance(cs, CorAR1):
        assert cs.is_banded
        a, bb, da, db, dl = cs.banded_factor(tc)
        M = a[:, None] * A
        M[1:] += bb[1:, None] * A[:-1]
        np.testing.assert_allclose(M, Wt, atol=1e-12)
        assert da.shape == (2, eng.N) and dl.shape == (2,)
    else:
        assert not cs.is_banded


def test_block_matrix_uses_its_levels_parameters(orth):
    fit = _quiet(gls, FORMULA, data=orth, correlation=CorAR1(form="~ visit | Subject",
                                                             group="Sex"))
    cs = fit.frame.corstruct
    phi = fit.correlation_params
    C = cs.correlation_matrix(fit._theta_cor, "F03")
    assert C[0, 1] == pytest.approx(phi["Phi:Female"], rel=1e-12)
    C = cs.correlation_matrix(fit._theta_cor, "M03")
    assert C[0, 2] == pytest.approx(phi["Phi:Male"] ** 2, rel=1e-12)


def test_to_unconstrained_round_trip_and_pickle(orth):
    fit = _quiet(gls, FORMULA, data=orth, correlation=CorToeplitz(form="~ visit | Subject",
                                                                  group="Sex"))
    cs = fit.frame.corstruct
    coefs = cs.coefficients(fit._theta_cor)
    np.testing.assert_allclose(cs.to_unconstrained(coefs), fit._theta_cor, atol=1e-10)
    np.testing.assert_allclose(cs.to_unconstrained(coefs.to_dict()), fit._theta_cor, atol=1e-10)
    np.testing.assert_allclose(cs.apvar_theta(cs.apvar_params(fit._theta_cor)),
                               fit._theta_cor, atol=1e-10)
    with pytest.raises(ValueError, match="expected 6 natural values"):
        cs.to_unconstrained([0.1, 0.2])
    back = pickle.loads(pickle.dumps(fit))
    assert isinstance(back.frame.corstruct, CorToeplitz)
    assert back.correlation_params.equals(fit.correlation_params)


def test_fixed_grouped_structure(orth):
    fit = _quiet(gls, FORMULA, data=orth,
                 correlation=CorAR1(0.5, form="~ visit | Subject", group="Sex", fixed=True))
    assert fit.frame.corstruct.n_params == 0
    np.testing.assert_allclose(fit.correlation_params.to_numpy(), [0.5, 0.5])
    ref = _quiet(gls, FORMULA, data=orth,
                 correlation=CorAR1(0.5, form="~ visit | Subject", fixed=True))
    assert fit.llf == pytest.approx(ref.llf, abs=1e-9)


def test_robust_and_getvarcov_on_grouped_fit(orth):
    fit = _quiet(gls, FORMULA, data=orth, correlation=CorCompSymm(form="~ 1 | Subject",
                                                                  group="Sex"),
                 weights=VarIdent(form="~ 1 | Sex"))
    V = fit.getVarCov("F01")
    rho = fit.correlation_params["Rho:Female"]
    s = fit.sigma * fit.variance_params["Female"]
    assert V.iloc[0, 1] == pytest.approx(s * s * rho, rel=1e-10)
    rob = fit.vcov_robust("CR0")
    assert rob.shape == (4, 4) and np.all(np.diag(rob) > 0)


# ---------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------
def test_group_must_be_constant_within_subject(orth):
    with pytest.raises(ValueError, match=r"group='visit' must be a between-subject factor, "
                                         r"constant within each correlation group; group "
                                         r"'M16' has the values"):
        gls(FORMULA, data=orth, correlation=CorAR1(form="~ visit | Subject", group="visit"))


def test_group_errors(orth):
    with pytest.raises(ValueError, match="group must be None or the name of a column"):
        CorAR1(form="~ 1 | Subject", group=3)
    with pytest.raises(ValueError, match="group must be None or the name of a column"):
        CorSymm(group="  ")
    with pytest.raises(KeyError, match="Arm"):
        gls(FORMULA, data=orth, correlation=CorAR1(form="~ visit | Subject", group="Arm"))
    cs = CorAR1(form="~ visit | Subject", group="Sex")
    with pytest.raises(RuntimeError, match="initialize"):
        cs.n_params
    # a level whose data do not suit the structure is named
    d = orth[(orth["Sex"] == "Male") | (orth["visit"] != 2)].reset_index(drop=True)
    with pytest.raises(ValueError, match=r"never occur \(in Sex = 'Female'\)"):
        gls(FORMULA, data=d, correlation=CorSymm(form="~ visit | Subject", group="Sex"))


# ---------------------------------------------------------------------------------
# a random intercept beside a correlation with a constant part
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cor", [lambda: CorCompSymm(form="~ 1 | Subject"),
                                 lambda: CorToeplitz(form="~ visit | Subject"),
                                 lambda: CorCompSymm(form="~ 1 | Subject", group="Sex")])
def test_not_identified_warning(orth, cor):
    with pytest.warns(lmmext.NotIdentifiedWarning, match="not identified"):
        lme("distance ~ age", data=orth, random="~ 1 | Subject", correlation=cor())


def test_no_warning_when_identified(orth):
    with warnings.catch_warnings():
        warnings.simplefilter("error", lmmext.NotIdentifiedWarning)
        lme("distance ~ age", data=orth, random="~ 1 | Subject",
            correlation=CorAR1(form="~ visit | Subject"))
        lme("distance ~ age", data=orth, random="~ age - 1 | Subject",
            correlation=CorCompSymm(form="~ 1 | Subject"))


def test_variogram_of_grouped_spatial_fit(orth):
    """The sample semivariogram; no single model curve for group-specific ranges."""
    fit = _quiet(gls, FORMULA, data=orth, correlation=CorExp(form="~ age | Subject",
                                                             group="Sex"))
    v = fit.variogram()
    ref = _quiet(gls, FORMULA, data=orth, correlation=CorExp(form="~ age | Subject")).variogram()
    np.testing.assert_allclose(v["dist"], ref["dist"])
    assert ref.model is not None and v.model is None
