"""Tests of lmmext.structures.correlation (nlme's corStruct classes).

Expected values are the check numbers of the nlme reference (docs section 4), values
copied from the nlme reference cases (R15-R25, nlme 3.1-162), or dense computations
written out here from the textbook formulas.
"""
import numpy as np
import pandas as pd
import pytest

from lmmext.structures.correlation import (CorAR1, CorARMA, CorCAR1, CorCompSymm, CorExp,
                                           CorGaus, CorLin, CorRatio, CorSpher, CorStruct,
                                           CorSymm)

SPATIAL = [CorExp, CorGaus, CorLin, CorRatio, CorSpher]


# ---------------------------------------------------------------------------------
# independent dense references
# ---------------------------------------------------------------------------------
def helmert_factor(C):
    """nlme's compound-symmetry factor (corStruct.c, compSymm_fact): row 0 is
    1/sqrt(n(1+(n-1)rho)) times ones; row i has -1/sqrt((1-rho)i(i+1)) before the
    diagonal and i/sqrt((1-rho)i(i+1)) on it.  F'F = C^-1."""
    n = C.shape[0]
    rho = C[0, 1] if n > 1 else 0.0
    F = np.zeros((n, n))
    F[0] = 1.0 / np.sqrt(n * (1 + (n - 1) * rho))
    for i in range(1, n):
        a = 1.0 / np.sqrt((1 - rho) * i * (i + 1))
        F[i, :i] = -a
        F[i, i] = i * a
    return F


def dense_whiten(mats, blocks, A, cs=None):
    """blockdiag(F_b) A and sum log|C_b| block by block with numpy only; F_b = L_b^-1
    (lower Cholesky in row order), or nlme's Helmert factor for compound symmetry."""
    A2 = A.reshape(len(A), -1)
    out = np.empty_like(A2)
    logdet = 0.0
    for b, C in enumerate(mats):
        rows = np.flatnonzero(blocks == b)
        if isinstance(cs, CorCompSymm):
            out[rows] = helmert_factor(C) @ A2[rows]
        else:
            L = np.linalg.cholesky(C)
            out[rows] = np.linalg.solve(L, A2[rows])
        sign, ld = np.linalg.slogdet(C)
        assert sign > 0
        logdet += ld
    return out.reshape(A.shape), logdet


def arma_acf_psi(phi, theta, max_lag, n_terms=4000):
    """ARMA autocorrelations from a long MA(infinity) sum (independent of the module)."""
    psi = np.zeros(n_terms)
    psi[0] = 1.0
    for i in range(1, n_terms):
        psi[i] = (theta[i - 1] if i <= len(theta) else 0.0) + sum(
            phi[j - 1] * psi[i - j] for j in range(1, min(i, len(phi)) + 1))
    gamma = np.array([psi[:n_terms - k] @ psi[k:] for k in range(max_lag + 1)])
    return gamma / gamma[0]


def spatial_f(cls, x):
    return {CorExp: np.exp(-x), CorGaus: np.exp(-x ** 2), CorRatio: 1 / (1 + x ** 2),
            CorLin: np.maximum(1 - x, 0),
            CorSpher: np.where(x < 1, 1 - 1.5 * x + 0.5 * x ** 3, 0)}[cls]


def reference_matrix(cs, coef, pos):
    """C of one block from the natural coefficients and the block's positions/coords."""
    pos = np.asarray(pos, dtype=float)
    n = len(pos)
    if isinstance(cs, (CorAR1, CorCAR1)):
        t = pos[:, 0]
        return coef["Phi"] ** np.abs(t[:, None] - t[None, :])
    if isinstance(cs, CorARMA):
        t = pos[:, 0].astype(int)
        lags = np.abs(t[:, None] - t[None, :])
        phi = [coef[f"Phi{i}"] for i in range(1, cs.p + 1)]
        th = [coef[f"Theta{i}"] for i in range(1, cs.q + 1)]
        return arma_acf_psi(phi, th, int(lags.max()))[lags]
    if isinstance(cs, CorCompSymm):
        r = coef["Rho"]
        return (1 - r) * np.eye(n) + r
    if isinstance(cs, CorSymm):
        K = int(round((1 + np.sqrt(1 + 8 * len(coef))) / 2))
        full = np.eye(K)
        for name, v in coef.items():
            i, j = (int(s) - 1 for s in name[4:-1].split(","))
            full[i, j] = full[j, i] = v
        k = pos[:, 0].astype(int) - 1
        return full[np.ix_(k, k)]
    # spatial, euclidean
    d = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    nug = coef.get("nugget", 0.0)
    C = (1 - nug) * spatial_f(type(cs), d / coef["range"])
    np.fill_diagonal(C, 1.0)
    return C


# ---------------------------------------------------------------------------------
# test data: blocks with gaps, unsorted rows, repeated patterns and singletons
# ---------------------------------------------------------------------------------
def make_data(kind, seed=0):
    """Return (data, blocks, labels, per-block positions) for a structure kind."""
    rng = np.random.default_rng(seed)
    if kind == "int":          # integer positions: shared patterns, gaps, unsorted
        pos = [[1, 2, 3, 4], [1, 2, 3, 4], [5, 6, 7, 8], [1, 3, 4, 7], [7], [3, 1, 2],
               [2, 9, 4, 5, 1], [10, 8, 6], [1, 3, 4, 7], [4], [1, 2], [2, 1]]
        pos = [np.array(p, float)[:, None] for p in pos]
    elif kind == "real":
        pos = [np.sort(rng.uniform(0, 6, n))[:, None] for n in (4, 5, 1, 3, 6)]
        pos += [rng.uniform(0, 6, n)[:, None] for n in (4, 5)]        # unsorted
        pos += [pos[0] + 2.5, pos[0].copy()]                           # shifted / repeated
    elif kind == "symm":       # positions 1..4, missing occasions, unsorted
        pos = [[1, 2, 3, 4], [1, 2, 3, 4], [2, 4], [3, 1, 4], [1], [4, 3, 2, 1], [1, 3],
               [2, 4], [3]]
        pos = [np.array(p, float)[:, None] for p in pos]
    elif kind == "xy":
        # distinct points of a 1/8 grid, so shifted copies have bit-identical differences
        pos = [np.column_stack(np.divmod(rng.choice(1600, n, replace=False), 40)) / 8.0
               for n in (4, 1, 6, 3, 5)]
        pos += [pos[0] + 1.0, pos[2].copy()]
    else:
        raise AssertionError(kind)
    sizes = [len(p) for p in pos]
    blocks = np.repeat(np.arange(len(pos)), sizes)
    allpos = np.vstack(pos)
    data = pd.DataFrame({"g": [f"G{b:02d}" for b in blocks], "t": allpos[:, 0]})
    if allpos.shape[1] > 1:
        data["x"], data["y"] = allpos[:, 0], allpos[:, 1]
    labels = np.array([f"G{b:02d}" for b in range(len(pos))], dtype=object)
    return data, blocks, labels, pos


def build(cs, kind, seed=0):
    data, blocks, labels, pos = make_data(kind, seed)
    cs.block_labels = labels
    cs.initialize(data, blocks)
    return data, blocks, pos


CASES = [
    (lambda: CorAR1(form="~ t | g"), "int", [0.9]),
    (lambda: CorAR1(form="~ t | g"), "int", [-1.3]),          # negative phi with gaps
    (lambda: CorAR1(form="~ 1 | g"), "int", [0.7]),
    (lambda: CorCAR1(form="~ t | g"), "real", [0.4]),
    (lambda: CorARMA(form="~ t | g", p=1), "int", [1.1]),     # bidiagonal ARMA(1,0)
    (lambda: CorARMA(form="~ t | g", p=1, q=1), "int", [1.2, -0.6]),
    (lambda: CorARMA(form="~ t | g", p=2, q=1), "int", [0.8, 0.3, 0.5]),
    (lambda: CorARMA(form="~ 1 | g", q=2), "int", [0.9, 0.4]),
    (lambda: CorCompSymm(form="~ 1 | g"), "int", [0.4]),
    (lambda: CorCompSymm(form="~ 1 | g"), "int", [-1.5]),     # negative rho
    (lambda: CorSymm(form="~ t | g"), "symm", [0.3, -0.4, 0.2, 0.5, -0.1, 0.6]),
    (lambda: CorSymm(form="~ 1 | g"), "symm", [0.3, -0.4, 0.2, 0.5, -0.1, 0.6]),
] + [(lambda c=c: c(form="~ x + y | g"), "xy", [0.2]) for c in SPATIAL] + [
    (lambda c=c: c(form="~ x + y | g", nugget=True), "xy", [0.3, -1.0]) for c in SPATIAL]


def _case_id(case):
    cs = case[0]()
    return f"{type(cs).__name__}-{cs.form.text}-{case[2]}"


def block_positions(cs, data, blocks, pos):
    """Positions the structure sees: the covariate, or row ranks for ``~ 1``."""
    if cs.form.covariate is None:
        return [np.arange(1, len(p) + 1, dtype=float)[:, None] for p in pos]
    return pos


# ---------------------------------------------------------------------------------
# whitening against dense computations
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_whiten_matches_dense(case):
    factory, kind, theta = case
    cs = factory()
    data, blocks, pos = build(cs, kind)
    theta = np.array(theta)
    coef = cs.coefficients(theta)
    mats = [reference_matrix(cs, coef, p) for p in block_positions(cs, data, blocks, pos)]
    rng = np.random.default_rng(1)
    A = rng.normal(size=(len(data), 3)) + 5.0
    expected, expected_ld = dense_whiten(mats, blocks, A, cs)
    got, ld = cs.whiten(theta, A)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    assert ld == pytest.approx(expected_ld, rel=1e-10, abs=1e-10)
    # a vector keeps its shape
    got1, ld1 = cs.whiten(theta, A[:, 0])
    assert got1.shape == (len(data),)
    np.testing.assert_allclose(got1, expected[:, 0], rtol=1e-10, atol=1e-10)
    assert ld1 == pytest.approx(ld)
    # correlation_matrix reports the same C (by index and by label)
    for b, C in enumerate(mats):
        np.testing.assert_allclose(cs.correlation_matrix(theta, b), C, atol=1e-12)
    np.testing.assert_allclose(cs.correlation_matrix(theta, "G03"), mats[3], atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_batched_pattern_path_equals_loop_path(case):
    factory, kind, theta = case
    loop, batched = factory(), factory()
    batched._max_pattern_loop = 0          # every size group through the batched solve
    build(loop, kind)
    build(batched, kind)
    A = np.random.default_rng(2).normal(size=(loop._N, 2))
    a1, l1 = loop.whiten(theta, A)
    a2, l2 = batched.whiten(theta, A)
    np.testing.assert_allclose(a1, a2, rtol=1e-10, atol=1e-12)
    assert l1 == pytest.approx(l2, rel=1e-12)


def test_patterns_are_shared():
    cs = CorSymm(form="~ t | g")
    build(cs, "symm")
    n_patterns = {g.n: len(g.counts) for g in cs._groups}
    # sizes 4: (1,2,3,4) twice and (4,3,2,1); size 2: (2,4) twice and (1,3); (3,1,4)
    assert n_patterns == {2: 2, 3: 1, 4: 2}
    ar = CorCAR1(form="~ t | g")
    build(ar, "real")
    # unsorted blocks go dense; sorted ones (incl. shifted copies) are bidiagonal
    assert sum(len(g.blocks) for g in ar._groups) == 2
    exp_ = CorExp(form="~ x + y | g")
    build(exp_, "xy")
    sizes = {g.n: (len(g.blocks), len(g.counts)) for g in exp_._groups}
    assert sizes[4] == (2, 1) and sizes[6] == (2, 1)     # shifted and copied blocks


def test_singletons_contribute_nothing():
    data = pd.DataFrame({"t": [1.0, 5.0, 2.0, 3.0]})
    blocks = np.array([0, 1, 2, 2])
    for cs in (CorAR1(form="~ t | g"), CorCAR1(form="~ t | g"), CorCompSymm(),
               CorExp(form="~ t | g"), CorARMA(p=1, q=1, form="~ t | g")):
        cs.initialize(data, blocks)
        theta = cs.start() + 0.3
        A = np.arange(8.0).reshape(4, 2)
        out, ld = cs.whiten(theta, A)
        np.testing.assert_array_equal(out[:2], A[:2])
        C = cs.correlation_matrix(theta, 2)
        ref, ref_ld = dense_whiten([C], np.zeros(2, int), A[2:], cs)
        np.testing.assert_allclose(out[2:], ref, atol=1e-12)
        assert ld == pytest.approx(ref_ld, abs=1e-12)


def test_single_block_without_grouping():
    data = pd.DataFrame({"t": [3.0, 1.0, 2.0, 5.0]})
    cs = CorAR1(form="~ t")
    cs.initialize(data, None)
    theta = np.array([0.8])
    phi = np.tanh(0.4)
    t = data["t"].to_numpy()
    C = phi ** np.abs(t[:, None] - t[None, :])
    A = np.arange(4.0)
    out, ld = cs.whiten(theta, A)
    ref, ref_ld = dense_whiten([C], np.zeros(4, int), A)
    np.testing.assert_allclose(out, ref, atol=1e-12)
    assert ld == pytest.approx(ref_ld)


def test_ar1_closed_form_logdet():
    # ~1|g: log|C_i| = (n_i - 1) log(1 - phi^2)
    data = pd.DataFrame({"g": np.repeat(["a", "b", "c"], [4, 1, 6])})
    blocks = np.repeat([0, 1, 2], [4, 1, 6])
    cs = CorAR1(form="~ 1 | g")
    cs.initialize(data, blocks)
    phi = 0.625867139721581
    _, ld = cs.whiten(cs.to_unconstrained(phi), np.ones(11))
    assert ld == pytest.approx(8 * np.log(1 - phi ** 2), rel=1e-12)


def test_compsymm_closed_form_logdet():
    data = pd.DataFrame({"g": np.repeat(["a", "b"], [4, 7])})
    blocks = np.repeat([0, 1], [4, 7])
    cs = CorCompSymm(form="~ 1 | g")
    cs.initialize(data, blocks)
    rho = -0.1
    _, ld = cs.whiten(cs.to_unconstrained(rho), np.ones(11))
    expected = sum(np.log(1 + (n - 1) * rho) + (n - 1) * np.log(1 - rho) for n in (4, 7))
    assert ld == pytest.approx(expected, rel=1e-12)


def test_compsymm_all_singletons():
    data = pd.DataFrame({"g": list("abc")})
    cs = CorCompSymm(value=0.2, form="~ 1 | g")
    cs.initialize(data, np.arange(3))
    assert cs._a == -np.inf and cs.n_params == 1
    A = np.arange(6.0).reshape(3, 2)
    out, ld = cs.whiten(np.array([5.0]), A)
    np.testing.assert_array_equal(out, A)
    assert ld == 0.0
    assert cs.coefficients([5.0])["Rho"] == 0.2


# ---------------------------------------------------------------------------------
# parameterizations: nlme check numbers and reference cases
# ---------------------------------------------------------------------------------
def test_ar1_parameterization():
    cs = CorAR1()
    # R15 (Orthodont gls corAR1): theta 1.4691856011636 -> Phi 0.625867139721581
    assert cs.coefficients([1.4691856011636])["Phi"] == pytest.approx(0.625867139721581, rel=1e-12)
    # R20 (Ovary gls corAR1 ML): theta 1.91787952369265 -> Phi 0.743803572767035
    assert cs.coefficients([1.91787952369265])["Phi"] == pytest.approx(0.743803572767035, rel=1e-12)
    assert cs.to_unconstrained(0.625867139721581)[0] == pytest.approx(1.4691856011636, rel=1e-12)
    assert cs.param_names() == ["Phi"] and cs.n_params == 1
    assert cs.start() == pytest.approx([0.0])
    assert CorAR1(0.771).start()[0] == pytest.approx(np.log(1.771 / 0.229))


def test_car1_parameterization():
    cs = CorCAR1()
    assert cs.start()[0] == pytest.approx(np.log(0.2 / 0.8))
    th = cs.to_unconstrained(0.81492971066083)
    assert th[0] == pytest.approx(np.log(0.81492971066083 / (1 - 0.81492971066083)))
    assert cs.coefficients(th)["Phi"] == pytest.approx(0.81492971066083, rel=1e-13)


def test_car1_equals_exp_with_range():
    # corCAR1(phi) == corExp(range = -1/log(phi)) on the same times (reference section 4)
    data, blocks, labels, pos = make_data("real")
    car, exp_ = CorCAR1(form="~ t | g"), CorExp(form="~ t | g")
    car.initialize(data, blocks)
    exp_.initialize(data, blocks)
    phi = 0.81492971066083
    A = np.random.default_rng(3).normal(size=(len(data), 2))
    a1, l1 = car.whiten(car.to_unconstrained(phi), A)
    a2, l2 = exp_.whiten(exp_.to_unconstrained(-1 / np.log(phi)), A)
    np.testing.assert_allclose(a1, a2, rtol=1e-10, atol=1e-12)
    assert l1 == pytest.approx(l2, rel=1e-10)


def test_arma_parameterization_check_numbers():
    # reference section 4: phi = (0.5, 0.2) <-> u = (1.466337068793427, 0.405465108108164)
    cs = CorARMA(p=2)
    np.testing.assert_allclose(cs.to_unconstrained([0.5, 0.2]),
                               [1.466337068793427, 0.405465108108164], rtol=1e-13)
    np.testing.assert_allclose(cs.coefficients([1.466337068793427, 0.405465108108164]),
                               [0.5, 0.2], rtol=1e-13)
    # (0.5, 0.2 | theta = -0.3) <-> u_MA = -0.619039208406224
    cs = CorARMA(value=[0.5, 0.2, -0.3], p=2, q=1)
    np.testing.assert_allclose(cs.start(), [1.466337068793427, 0.405465108108164,
                                            -0.619039208406224], rtol=1e-13)
    assert cs.param_names() == ["Phi1", "Phi2", "Theta1"]


def test_arma_reference_cases():
    # R19 (Ovary lme corARMA(1,1)): theta (2.12642136489536, -0.573973548255768)
    #   -> Phi1 0.786889594755468, Theta1 -0.279359088393043
    cs = CorARMA(p=1, q=1)
    coef = cs.coefficients([2.12642136489536, -0.573973548255768])
    assert list(coef.index) == ["Phi1", "Theta1"]
    np.testing.assert_allclose(coef, [0.786889594755468, -0.279359088393043], rtol=1e-12)
    # ARMA(1,1) autocorrelations rho(1..4) (reference section 4 / R19)
    data = pd.DataFrame({"t": np.arange(5.0)})
    cs.initialize(data, None)
    C = cs.correlation_matrix(cs.to_unconstrained([0.786889594755468, -0.279359088393043]), 0)
    np.testing.assert_allclose(C[0], [1, 0.62025017033831, 0.48806840518452,
                                      0.38405594956860, 0.30220963051946], rtol=1e-11)
    # R19 extra: MA(2) Theta (0.475242255370966, 0.257013309590131) has
    #   acf(0..3) = (1, 0.462404779109463, 0.198940407749416, 0)
    ma = CorARMA(q=2)
    ma.initialize(data, None)
    C = ma.correlation_matrix(ma.to_unconstrained([0.475242255370966, 0.257013309590131]), 0)
    np.testing.assert_allclose(C[0, :4], [1, 0.462404779109463, 0.198940407749416, 0],
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("p,q", [(1, 0), (3, 0), (0, 3), (2, 2), (3, 1)])
def test_arma_round_trip(p, q):
    cs = CorARMA(p=p, q=q)
    u = np.random.default_rng(p * 10 + q).normal(scale=1.5, size=p + q)
    nat = cs.coefficients(u)
    np.testing.assert_allclose(cs.to_unconstrained(nat.to_numpy()), u, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(cs.to_unconstrained(nat), u, rtol=1e-9, atol=1e-10)


def test_compsymm_parameterization():
    data = pd.DataFrame({"g": np.repeat(list("abc"), [4, 2, 1])})
    blocks = np.repeat([0, 1, 2], [4, 2, 1])
    cs = CorCompSymm(form="~ 1 | g")
    cs.initialize(data, blocks)
    # reference section 4: n_max = 4, rho = 0.3 <-> theta = -0.10008345855698
    assert cs.to_unconstrained(0.3)[0] == pytest.approx(-0.10008345855698, rel=1e-12)
    assert cs.coefficients([-0.10008345855698])["Rho"] == pytest.approx(0.3, rel=1e-12)
    # default start rho = 0 <-> theta = log(1 / (n_max - 1))
    assert cs.start()[0] == pytest.approx(np.log(1 / 3))
    # R17 (Orthodont, groups of 4): theta 0.976770984568137 -> Rho 0.63528938594461
    assert cs.coefficients([0.976770984568137])["Rho"] == pytest.approx(0.63528938594461, rel=1e-12)


def test_symm_parameterization():
    cs = CorSymm()
    # reference section 4: row-wise correlations <-> column-wise theta
    theta = [-0.25779516239011, -0.12771041829809, 0.02612414391784, 0.12771041829809,
             -0.29188017647205, -0.01925763991511]
    nat = [0.2, 0.1, -0.1, 0, 0.2, 0]
    np.testing.assert_allclose(cs.to_unconstrained(nat), theta, rtol=1e-11, atol=1e-13)
    coef = cs.coefficients(theta)
    assert list(coef.index) == ["cor(1,2)", "cor(1,3)", "cor(1,4)", "cor(2,3)", "cor(2,4)", "cor(3,4)"]
    np.testing.assert_allclose(coef, nat, atol=1e-12)
    # R16 (Orthodont gls corSymm): theta_unconstrained corStruct1..6 -> corStruct
    r16 = cs.coefficients([-0.811170363960343, -0.989549092353945, -0.439343941882021,
                           -0.730106120458068, -0.890165083789557, -0.784605142625589])
    expected = {"cor(1,2)": 0.568196995413375, "cor(1,3)": 0.658949345868459,
                "cor(1,4)": 0.522039260333554, "cor(2,3)": 0.580606434556844,
                "cor(2,4)": 0.724921039665896, "cor(3,4)": 0.739620741153048}
    for k, v in expected.items():
        assert r16[k] == pytest.approx(v, rel=1e-11)
    # value= gives the start and K before initialize
    cs = CorSymm(value=nat)
    assert cs.n_params == 6
    np.testing.assert_allclose(cs.start(), theta, rtol=1e-11, atol=1e-13)
    assert cs.param_names() == ["cor(1,2)", "cor(1,3)", "cor(2,3)", "cor(1,4)", "cor(2,4)", "cor(3,4)"]


def test_symm_round_trip_and_default_start():
    cs = CorSymm(form="~ t | g")
    build(cs, "symm")
    assert cs.n_params == 6
    np.testing.assert_array_equal(cs.start(), np.zeros(6))
    u = np.random.default_rng(5).normal(size=6) * 2
    np.testing.assert_allclose(cs.to_unconstrained(cs.coefficients(u)), u, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("cls,theta,d_min,expected", [
    # R23 (Wheat2 corSpher nugget, d_min 1.2)
    (CorSpher, [3.26795081223083, -1.32906327321328], 1.2, [27.4574776736782, 0.209314353020124]),
    # R24 (Wheat2 corRatio nugget)
    (CorRatio, [2.59982157059686, -1.42691189023927], 1.2, [13.4613359225701, 0.193580303571152]),
    # R24 extra (Wheat2 corGaus nugget)
    (CorGaus, [2.37030039926324, -1.03859358340797], 1.2, [10.700606255585, 0.261421454090807]),
    # R24 extra (Wheat2 corExp)
    (CorExp, [1.62740225417212], 1.2, [5.09063335557471]),
    # R25 (Orthodont corLin ~ age | Subject, minD 2) and its extras
    (CorLin, [1.60463513476165], 2.0, [6.97604368611183]),
    (CorSpher, [1.97075872015518], 2.0, [9.17611908956915]),
    (CorRatio, [0.696352109120601], 2.0, [2.0064201396704]),
    (CorGaus, [0.746799187050438], 2.0, [2.1102347285321]),
    (CorExp, [1.45111626917222], 2.0, [4.26787595550985]),
    # R21 (BodyWeight corExp ~ Time)
    (CorExp, [1.58645310135701], 7.0, [4.8863866372527]),
])
def test_spatial_reference_cases(cls, theta, d_min, expected):
    nugget = len(theta) == 2
    data = pd.DataFrame({"x": [0.0, d_min, 0.0, 0.0], "y": [0.0, 0.0, 3 * d_min, 7 * d_min]})
    cs = cls(form="~ x + y", nugget=nugget)
    cs.initialize(data, None)
    assert cs._d_min == d_min
    coef = cs.coefficients(theta)
    assert list(coef.index) == (["range", "nugget"] if nugget else ["range"])
    np.testing.assert_allclose(coef, expected, rtol=1e-12)
    np.testing.assert_allclose(cs.to_unconstrained(coef), theta, rtol=1e-11)


@pytest.mark.parametrize("cls", SPATIAL)
def test_spatial_defaults(cls):
    data = pd.DataFrame({"x": [0.0, 1.5, 4.0], "y": [0.0, 2.0, 0.0]})   # d_min 2.5
    cs = cls(form="~ x + y", nugget=True)
    cs.initialize(data, None)
    factor = 1.1 if cls in (CorLin, CorSpher) else 0.9
    np.testing.assert_allclose(cs.coefficients(cs.start()), [factor * 2.5, 0.1], rtol=1e-12)
    cs = cls(value=6.0, form="~ x + y", nugget=True)
    cs.initialize(data, None)
    np.testing.assert_allclose(cs.coefficients(cs.start()), [6.0, 0.1], rtol=1e-12)
    cs = cls(value=(6.0, 0.3), form="~ x + y", nugget=True, fixed=True)
    cs.initialize(data, None)
    np.testing.assert_allclose(cs.coefficients(None), [6.0, 0.3])


@pytest.mark.parametrize("cls", [CorLin, CorSpher])
def test_lin_spher_small_start_replaced_with_warning(cls):
    data = pd.DataFrame({"x": [0.0, 2.0, 5.0]})
    cs = cls(value=1.5, form="~ x")
    with pytest.warns(UserWarning, match=cls.__name__):
        cs.initialize(data, None)
    assert cs.coefficients(cs.start())["range"] == pytest.approx(2.2)


def test_spatial_metrics_and_row_order_distance():
    data = pd.DataFrame({"x": [0.0, 1.0, 3.0], "y": [0.0, 2.0, 1.0]})
    diff = np.abs(data.to_numpy()[:, None, :] - data.to_numpy()[None, :, :])
    for metric, d in (("manhattan", diff.sum(-1)), ("maximum", diff.max(-1)),
                      ("euclidean", np.sqrt((diff ** 2).sum(-1)))):
        cs = CorExp(form="~ x + y", metric=metric)
        cs.initialize(data, None)
        C = cs.correlation_matrix(cs.to_unconstrained(2.0), 0)
        np.testing.assert_allclose(C, np.exp(-d / 2.0), atol=1e-14)
    # no covariate: distance |j - k| of the row order within the block
    cs = CorGaus(form="~ 1 | g")
    cs.initialize(pd.DataFrame({"g": ["a"] * 4}), np.zeros(4, int))
    j = np.arange(4)
    C = cs.correlation_matrix(cs.to_unconstrained(3.0), 0)
    np.testing.assert_allclose(C, np.exp(-(np.abs(j[:, None] - j) / 3.0) ** 2), atol=1e-14)


def test_spatial_duplicate_location_allowed_with_nugget():
    data = pd.DataFrame({"x": [0.0, 0.0, 2.0]})
    cs = CorExp(form="~ x", nugget=True)
    cs.initialize(data, None)
    assert cs._d_min == 2.0
    C = cs.correlation_matrix(cs.to_unconstrained([3.0, 0.2]), 0)
    assert C[0, 1] == pytest.approx(0.8)
    cs.whiten(cs.start(), np.ones(3))


# ---------------------------------------------------------------------------------
# fixed structures
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("factory,kind,value", [
    (lambda **k: CorAR1(form="~ t | g", **k), "int", 0.5),
    (lambda **k: CorCAR1(form="~ t | g", **k), "real", 0.3),
    (lambda **k: CorARMA(form="~ t | g", p=1, q=1, **k), "int", [0.5, 0.2]),
    (lambda **k: CorCompSymm(form="~ 1 | g", **k), "int", 0.25),
    (lambda **k: CorSymm(form="~ t | g", **k), "symm", [0.2, 0.1, -0.1, 0, 0.2, 0]),
    (lambda **k: CorSpher(form="~ x + y | g", nugget=True, **k), "xy", [4.0, 0.2]),
])
def test_fixed(factory, kind, value):
    fixed, free = factory(value=value, fixed=True), factory(value=value)
    build(fixed, kind)
    build(free, kind)
    assert fixed.n_params == 0 and fixed.param_names() == [] and fixed.start().size == 0
    assert fixed.to_unconstrained(value).size == 0
    np.testing.assert_allclose(fixed.coefficients([]), np.atleast_1d(value), rtol=1e-12, atol=1e-15)
    A = np.random.default_rng(4).normal(size=(fixed._N, 2))
    a1, l1 = fixed.whiten(np.zeros(0), A)
    a2, l2 = free.whiten(free.to_unconstrained(value), A)
    np.testing.assert_allclose(a1, a2, rtol=1e-10, atol=1e-12)
    assert l1 == pytest.approx(l2)


# ---------------------------------------------------------------------------------
# bad input: ValueError naming the structure
# ---------------------------------------------------------------------------------
def _init(cs, t, blocks=None, labels=None, **cols):
    data = pd.DataFrame({"t": np.asarray(t, float), **cols})
    cs.block_labels = labels
    cs.initialize(data, None if blocks is None else np.asarray(blocks))


BAD = [
    ("CorAR1", "in \\(-1, 1\\)", lambda: CorAR1(1.0)),
    ("CorAR1", "in \\(-1, 1\\)", lambda: CorAR1(-1.2)),
    ("CorAR1", "fixed must be", lambda: CorAR1(fixed=0.5)),
    ("CorAR1", "integer-valued.*3.2", lambda: _init(CorAR1(form="~ t"), [3.2, 4, 4.8])),
    ("CorAR1", "group 'M05' has repeated positions \\[10\\]",
     lambda: _init(CorAR1(form="~ t | g"), [1, 2, 10, 3, 10], [0, 0, 1, 1, 1],
                   np.array(["M04", "M05"], dtype=object))),
    ("CorAR1", "missing", lambda: _init(CorAR1(form="~ t"), [1, np.nan, 3])),
    ("CorAR1", "form", lambda: CorAR1(form="age | g")),
    ("CorAR1", "contiguous", lambda: _init(CorAR1(), [1, 2, 3], [0, 2, 2])),
    ("CorAR1", "contiguous", lambda: _init(CorAR1(), [1, 2, 3], [1, 0, 0])),
    ("CorCAR1", "in \\(0, 1\\)", lambda: CorCAR1(0.0)),
    ("CorCAR1", "in \\(0, 1\\)", lambda: CorCAR1(-0.3)),
    ("CorCAR1", "block 1 has repeated positions \\[2.5\\]",
     lambda: _init(CorCAR1(form="~ t | g"), [2.5, 1, 2.5, 2.5], [0, 1, 1, 1])),
    ("CorARMA", "non-negative", lambda: CorARMA(p=-1, q=1)),
    ("CorARMA", "both be zero", lambda: CorARMA()),
    ("CorARMA", "p \\+ q = 2", lambda: CorARMA(value=[0.5], p=1, q=1)),
    ("CorARMA", "in \\(-1, 1\\)", lambda: CorARMA(value=[1.5], p=1)),
    ("CorARMA", "not stationary", lambda: CorARMA(value=[0.9, 0.9], p=2)),
    ("CorARMA", "integer-valued", lambda: _init(CorARMA(p=1, q=1, form="~ t"), [1, 2.5])),
    ("CorARMA", "repeated positions", lambda: _init(CorARMA(q=1, form="~ t"), [1, 2, 1])),
    ("CorCompSymm", "lower bound", lambda: _init(CorCompSymm(-0.5), [1, 2, 3, 4])),
    ("CorCompSymm", "in \\(-1, 1\\)", lambda: CorCompSymm(1.0)),
    ("CorSymm", "positive-definite", lambda: CorSymm(value=[0.9, 0.9, -0.9])),
    ("CorSymm", "K\\(K-1\\)/2", lambda: CorSymm(value=[0.1, 0.2])),
    ("CorSymm", "group 'S2' has position 4 but value= gives correlations for 3",
     lambda: _init(CorSymm(value=[0.1, 0.2, 0.3], form="~ t | g"), [1, 2, 3, 4, 1],
                   [0, 0, 0, 1, 1], np.array(["S1", "S2"], dtype=object))),
    ("CorSymm", "exactly 1..4.*\\[3\\]",
     lambda: _init(CorSymm(form="~ t | g"), [1, 2, 4, 1], [0, 0, 0, 1])),
    ("CorSymm", "integer", lambda: _init(CorSymm(form="~ t"), [1, 2.5])),
    ("CorSymm", "repeated positions", lambda: _init(CorSymm(form="~ t"), [1, 2, 2])),
    ("CorExp", "missing", lambda: _init(CorExp(form="~ t + x"), [1, 2, 3], x=[0, np.nan, 1.0])),
    ("CorExp", "zero distance.*nugget=True",
     lambda: _init(CorExp(form="~ t + x | g"), [1, 2, 1, 1], [0, 0, 1, 1],
                   np.array(["P1", "P2"], dtype=object), x=[0, 0, 3.0, 3.0])),
    ("CorGaus", "nugget=True", lambda: CorGaus(value=[3.0, 0.2])),
    ("CorLin", "positive", lambda: CorLin(value=-1.0)),
    ("CorRatio", "nugget must be in", lambda: CorRatio(value=[3.0, 1.2], nugget=True)),
    ("CorSpher", "metric", lambda: CorSpher(metric="minkowski")),
]


@pytest.mark.parametrize("cls,pattern,call", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises(cls, pattern, call):
    with pytest.raises(ValueError, match=pattern) as info:
        call()
    assert cls in str(info.value)


def test_zero_distance_message_names_group():
    with pytest.raises(ValueError, match="group 'P2' has two rows at the same location"):
        _init(CorExp(form="~ t + x | g"), [1, 2, 1, 1], [0, 0, 1, 1],
              np.array(["P1", "P2"], dtype=object), x=[0, 0, 3.0, 3.0])


def test_bad_theta_and_shape():
    cs = CorAR1()
    cs.initialize(pd.DataFrame({"t": [1.0, 2.0]}), None)
    with pytest.raises(ValueError, match="CorAR1"):
        cs.whiten([0.1, 0.2], np.ones(2))
    with pytest.raises(ValueError, match="CorAR1"):
        cs.whiten([0.1], np.ones(3))
    with pytest.raises(ValueError, match="CorAR1"):
        cs.to_unconstrained(1.0)
    with pytest.raises(ValueError, match="CorSymm"):
        CorSymm().to_unconstrained([0.9, 0.9, -0.9])


def test_requires_initialize_for_data_dependent_maps():
    with pytest.raises(RuntimeError, match="CorCompSymm"):
        CorCompSymm().coefficients([0.0])
    with pytest.raises(RuntimeError, match="CorLin"):
        CorLin().coefficients([0.0])
    with pytest.raises(RuntimeError, match="CorSymm"):
        CorSymm().n_params


def test_base_class_and_repr():
    cs = CorARMA(p=1, q=1, form="~ 1 | Mare")
    assert isinstance(cs, CorStruct)
    assert cs.form.grouping == ("Mare",)
    assert "CorARMA(" in repr(cs) and "p=1" in repr(cs)
    assert cs.description == "ARMA(1,1)"


def test_large_ar1_whiten_is_vectorized():
    # 400,000 rows in blocks of 8 (positions with gaps): bidiagonal path, no dense blocks
    n_blocks, n = 50_000, 8
    t = np.tile(np.array([1, 2, 4, 5, 6, 9, 10, 12], float), n_blocks)
    blocks = np.repeat(np.arange(n_blocks), n)
    cs = CorAR1(form="~ t | g")
    cs.initialize(pd.DataFrame({"t": t}), blocks)
    assert cs._groups == []
    A = np.random.default_rng(6).normal(size=(len(t), 3))
    out, ld = cs.whiten([0.7], A)
    # spot-check one block against the dense computation
    phi = np.tanh(0.35)
    tb = t[:n]
    C = phi ** np.abs(tb[:, None] - tb[None, :])
    rows = slice(17 * n, 18 * n)
    ref, ref_ld = dense_whiten([C], np.zeros(n, int), A[rows])
    np.testing.assert_allclose(out[rows], ref, atol=1e-12)
    assert ld == pytest.approx(n_blocks * ref_ld, rel=1e-10)


# ---------------------------------------------------------------------------------
# nlme log-likelihoods on the repository's validation data (profiled, section 2.2)
# ---------------------------------------------------------------------------------
DATA_DIR = __import__("pathlib").Path(__file__).resolve().parents[1] / "validation" / "data"


def _read(name):
    path = DATA_DIR / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"validation data {name}.csv not available")
    return pd.read_csv(path)


def profiled_loglik(df, group, X, y, cs, natural, reml=True, ratios=None):
    """gls log-likelihood at fixed correlation parameters: rows sorted by group, scaled
    by varIdent weights ``1/ratio`` (if given), whitened by ``cs``, then one QR."""
    codes = pd.factorize(df[group], sort=True)[0] if group else np.zeros(len(df), dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    cs.initialize(df.iloc[order].reset_index(drop=True), codes[order])
    w = np.ones(len(df)) if ratios is None else 1 / df["age"].map(ratios).to_numpy(float)[order]
    A = np.column_stack([X, y])[order] * w[:, None]
    At, logdet = cs.whiten(cs.to_unconstrained(natural), A)
    N, p = X.shape
    Nr = N - p if reml else N
    R = np.linalg.qr(At, mode="r")
    ll = (-(Nr / 2) * (np.log(2 * np.pi) + 1 + np.log(R[-1, -1] ** 2 / Nr))
          - 0.5 * logdet + np.log(w).sum())
    if reml:
        ll -= np.log(np.abs(np.diag(R[:p, :p]))).sum()
    return ll, logdet


def _orthodont_xy(interaction=False):
    o = _read("Orthodont")
    female = (o["Sex"] == "Female").to_numpy(float)
    age = o["age"].to_numpy(float)
    if interaction:       # Sex * I(age - 11)
        X = np.column_stack([np.ones(len(o)), female, age - 11, female * (age - 11)])
    else:                 # age + Sex
        X = np.column_stack([np.ones(len(o)), age, female])
    return o, X, o["distance"].to_numpy(float)


def test_nlme_loglik_ar1_orthodont_r15():
    o, X, y = _orthodont_xy()
    # R15 / worked example B: Phi 0.625867139721581 -> sum log|C_i| -40.2653434346365,
    # REML logLik -222.724147549406
    ll, logdet = profiled_loglik(o, "Subject", X, y, CorAR1(form="~ 1 | Subject"),
                                 0.625867139721581)
    assert logdet == pytest.approx(-40.2653434346365, abs=1e-10)
    assert ll == pytest.approx(-222.724147549406, abs=1e-9)


def test_nlme_loglik_ar1_ovary_ml_r20():
    ov = _read("Ovary")
    tt = 2 * np.pi * ov["Time"].to_numpy(float)
    X = np.column_stack([np.ones(len(ov)), np.sin(tt), np.cos(tt)])
    # R20: ML, Phi 0.743803572767035 -> logLik -782.193391738883
    ll, _ = profiled_loglik(ov, "Mare", X, ov["follicles"].to_numpy(float),
                            CorAR1(form="~ 1 | Mare"), 0.743803572767035, reml=False)
    assert ll == pytest.approx(-782.193391738883, abs=1e-9)


@pytest.mark.parametrize("cls,range_,expected", [
    # R25 (corLin) and its extras (corExp, corSpher, corRatio, corGaus), ~ age | Subject
    (CorLin, 6.97604368611183, -226.896391445824),
    (CorExp, 4.26787595550985, -222.724147549406),
    (CorSpher, 9.17611908956915, -226.138478194296),
    (CorRatio, 2.0064201396704, -225.647261593777),
    (CorGaus, 2.1102347285321, -230.477888073137),
])
def test_nlme_loglik_spatial_orthodont_r25(cls, range_, expected):
    o, X, y = _orthodont_xy()
    ll, _ = profiled_loglik(o, "Subject", X, y, cls(form="~ age | Subject"), range_)
    assert ll == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("cls,nugget,natural,expected", [
    # R23 (corSpher nugget), R24 (corRatio nugget) and R24 extras (corExp, corGaus nugget)
    (CorSpher, True, [27.4574776736782, 0.209314353020124], -533.931542691959),
    (CorRatio, True, [13.4613359225701, 0.193580303571152], -532.638888179039),
    (CorExp, False, [5.09063335557471], -549.183105643751),
    (CorGaus, True, [10.700606255585, 0.261421454090807], -533.550856860709),
])
def test_nlme_loglik_spatial_wheat2(cls, nugget, natural, expected):
    w = _read("Wheat2")
    X = pd.get_dummies(w["variety"]).to_numpy(float)          # yield ~ variety - 1
    cs = cls(form="~ latitude + longitude", nugget=nugget)
    ll, _ = profiled_loglik(w, None, X, w["yield"].to_numpy(float), cs, natural)
    assert cs._d_min == pytest.approx(1.2)
    assert ll == pytest.approx(expected, abs=1e-9)


def test_nlme_loglik_symm_and_compsymm_orthodont_r16_r17():
    o, X, y = _orthodont_xy(interaction=True)
    # R16: corSymm + varIdent(~1|age) -> REML logLik -212.273400099263
    ll, _ = profiled_loglik(
        o, "Subject", X, y, CorSymm(form="~ 1 | Subject"),
        [0.568196995413375, 0.658949345868459, 0.522039260333554, 0.580606434556844,
         0.724921039665896, 0.739620741153048],
        ratios={8: 1, 10: 0.878879284712172, 12: 1.07445964053833, 14: 0.9586878413362})
    assert ll == pytest.approx(-212.273400099263, abs=1e-9)
    # R17: corCompSymm + varIdent(~1|age) -> REML logLik -215.9861880713
    ll, _ = profiled_loglik(
        o, "Subject", X, y, CorCompSymm(form="~ 1 | Subject"), 0.63528938594461,
        ratios={8: 1, 10: 0.862364332199775, 12: 1.03395433013573, 14: 0.920374897126935})
    assert ll == pytest.approx(-215.9861880713, abs=1e-9)


def test_helmert_factor_is_an_inverse_square_root():
    for n, rho in ((4, 0.6), (3, -0.3), (1, 0.2)):
        C = (1 - rho) * np.eye(n) + rho
        F = helmert_factor(C)
        np.testing.assert_allclose(F.T @ F, np.linalg.inv(C), atol=1e-12)
