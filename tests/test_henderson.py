"""Henderson's mixed model equations (issue 6): ``lmmext.henderson``.

Expected values come from the seed lecture (001, "Example: birthweights of pigs": the
printed MME, GLS matrices and lambda table), from exact rational solutions of the
printed equations (fractions.Fraction), from the GLS formulas ``V = ZGZ' + R`` (an
independent route), from closed forms of the balanced one-way model, and from REML
fits (whose estimates match nlme elsewhere in the suite).
"""
import tracemalloc
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmmext import HendersonResult, VarIdent, henderson, lme


# --- exact rational linear algebra (the hand derivations) ------------------------------
def fraction_solve(A, B):
    """Solve A X = B exactly by Gauss-Jordan elimination (B: list of columns)."""
    n = len(A)
    M = [[Fraction(a) for a in row] + [Fraction(col[i]) for col in B]
         for i, row in enumerate(A)]
    for i in range(n):
        pivot = next(r for r in range(i, n) if M[r][i] != 0)
        M[i], M[pivot] = M[pivot], M[i]
        for r in range(n):
            if r != i and M[r][i] != 0:
                f = M[r][i] / M[i][i]
                M[r] = [a - f * b for a, b in zip(M[r], M[i])]
    return [[M[i][n + k] / M[i][i] for k in range(len(B))] for i in range(n)]


def fraction_inverse(A):
    n = len(A)
    return fraction_solve(A, [[int(i == k) for i in range(n)] for k in range(n)])


def as_float(M):
    return np.array([[float(v) for v in row] for row in M])


# --- the seed's pig birth weights: sex fixed (F, M), dam random (474, 475) ----------------
PIG_Y = np.array([1.72, 1.45, 1.49, 1.36, 1.54, 1.5])
PIG_SEX = ["F", "M", "M", "M", "M", "M"]
PIG_DAM = ["474"] * 3 + ["475"] * 3
SIGMA2_U, SIGMA2_E = Fraction("0.016"), Fraction("0.08")
# the seed prints these for lambda = 5 (its "X'X = [[1,0],[2,3]]" is X'Z, a typo)
SEED_LHS = [[1, 0, 1, 0], [0, 5, 2, 3], [1, 2, 8, 0], [0, 3, 0, 8]]
SEED_RHS = [Fraction("1.72"), Fraction("7.34"), Fraction("4.66"), Fraction("4.4")]


def pig_design():
    X = pd.get_dummies(pd.Series(PIG_SEX), dtype=float)      # columns F, M
    Z = pd.get_dummies(pd.Series(PIG_DAM), dtype=float)      # columns 474, 475
    return PIG_Y, X, Z


@pytest.fixture(scope="module")
def exact_pig():
    """Exact solution and inverse of the seed's printed equations (lambda = 5)."""
    solution = [row[0] for row in fraction_solve(SEED_LHS, [SEED_RHS])]
    inverse = fraction_inverse(SEED_LHS)
    C = [[c * SIGMA2_E for c in row] for row in inverse]      # the G/R form's C
    return np.array([float(v) for v in solution]), as_float(C)


def test_pig_g_r_form_exact(exact_pig):
    solution, C = exact_pig
    y, X, Z = pig_design()
    res = henderson(y, X, Z, G=0.016 * np.eye(2), R=0.08 * np.eye(6))
    assert isinstance(res, HendersonResult) and res.lambda_ is None
    assert list(res.blue.index) == ["F", "M"] and list(res.blup.index) == ["474", "475"]
    np.testing.assert_allclose(res.blue, solution[:2], rtol=1e-13)
    np.testing.assert_allclose(res.blup, solution[2:], rtol=1e-10)
    # the G/R form is the printed system divided by sigma_e^2
    np.testing.assert_allclose(res.lhs, np.array(SEED_LHS) / 0.08, rtol=1e-14)
    np.testing.assert_allclose(res.rhs, np.array(SEED_RHS, dtype=float) / 0.08, rtol=1e-14)
    np.testing.assert_allclose(res.C, C, rtol=1e-12)
    np.testing.assert_allclose(res.C_XX, C[:2, :2], rtol=1e-12)
    np.testing.assert_allclose(res.C_XZ, C[:2, 2:], rtol=1e-12)
    np.testing.assert_allclose(res.C_ZZ, C[2:, 2:], rtol=1e-12)
    np.testing.assert_allclose(res.pev, C[2:, 2:], rtol=1e-12)
    np.testing.assert_allclose(res.var_blup, 0.016 * np.eye(2) - C[2:, 2:], rtol=1e-10)
    # the decimals of the hand derivation (nlme-reference.md section 10)
    np.testing.assert_allclose(res.blue, [1.71945945945946, 1.46810810810811], rtol=1e-14)
    np.testing.assert_allclose(res.blup, [0.000540540540541, -0.000540540540541], rtol=1e-11)
    np.testing.assert_allclose(res.C_XX, [[0.093405405405, 0.006918918919],
                                          [0.006918918919, 0.024216216216]], atol=1e-12)
    np.testing.assert_allclose(res.pev, [[0.013405405405, 0.002594594595],
                                         [0.002594594595, 0.013405405405]], atol=1e-12)
    np.testing.assert_allclose(np.diag(res.var_blup), 0.002594594595, atol=1e-12)
    np.testing.assert_allclose(res.blue_se, np.sqrt(np.diag(C[:2, :2])), rtol=1e-12)
    # reliability 1 - PEV/G = 1 - 0.0134054/0.016 = 6/37 exactly
    np.testing.assert_allclose(res.reliability, [6 / 37, 6 / 37], rtol=1e-12)


def test_pig_lambda_form_is_the_printed_system(exact_pig):
    solution, C = exact_pig
    y, X, Z = pig_design()
    res = henderson(y, X, Z, lambda_=5)
    assert res.lambda_ == 5.0
    np.testing.assert_array_equal(res.lhs, SEED_LHS)
    np.testing.assert_allclose(res.rhs, np.array(SEED_RHS, dtype=float), rtol=1e-15)
    np.testing.assert_allclose(res.blue, solution[:2], rtol=1e-13)
    np.testing.assert_allclose(res.blup, solution[2:], rtol=1e-10)
    # C, PEV and var_blup in units of sigma_e^2; var_blup = A/lambda - C_ZZ
    np.testing.assert_allclose(res.C * 0.08, C, rtol=1e-12)
    np.testing.assert_allclose(res.var_blup * 0.08, 0.016 * np.eye(2) - C[2:, 2:],
                               rtol=1e-10)
    np.testing.assert_allclose(res.blue_se * np.sqrt(0.08), np.sqrt(np.diag(C[:2, :2])),
                               rtol=1e-12)
    np.testing.assert_allclose(res.reliability, [6 / 37, 6 / 37], rtol=1e-12)


def test_pig_gls_slide():
    """The seed's GLS slide: X'V^-1X = [[10.9375, -3.125], [-3.125, 42.1875]] with
    inverse printed [[0.0934, 0.0069], [0.0069, 0.0242]], X'V^-1y = (14.22, 56.56) and
    beta = (1.7195, 1.4681).  (That slide's "G = 0.02 I" is a typo: its printed V^-1
    entries 10.94 and -1.56 are those of G = 0.016 I, R = 0.08 I.)"""
    y, X, Z = pig_design()
    res = henderson(y, X, Z, G=0.016 * np.eye(2), R=0.08 * np.eye(6))
    xvx = np.array([[10.9375, -3.125], [-3.125, 42.1875]])
    np.testing.assert_allclose(np.linalg.solve(res.C_XX, np.eye(2)), xvx, rtol=1e-12)
    np.testing.assert_allclose(res.C_XX, [[0.0934, 0.0069], [0.0069, 0.0242]], atol=0.5e-4)
    # X'V^-1y = (X'V^-1X) beta, printed to 2 decimals
    np.testing.assert_allclose(xvx @ res.blue, [14.22, 56.56], atol=0.5e-2)
    np.testing.assert_allclose(res.blue, [1.7195, 1.4681], atol=0.5e-4)


# The seed's lambda table (printed with 4 decimals): sexF, sexM, dam474, dam475,
# dif_sex, dif_dam.  Every entry agrees with the exact solution to its rounding.
LAMBDA_TABLE = [
    ("1e-04", 1.7183, 1.4683, 0.0017, -0.0017, 0.25, 0.0033),
    ("0.05", 1.7184, 1.4683, 0.0016, -0.0016, 0.25, 0.0033),
    ("0.1", 1.7184, 1.4683, 0.0016, -0.0016, 0.2501, 0.0032),
    ("0.3", 1.7185, 1.4683, 0.0015, -0.0015, 0.2502, 0.003),
    ("0.5", 1.7186, 1.4683, 0.0014, -0.0014, 0.2503, 0.0028),
    ("0.75", 1.7187, 1.4683, 0.0013, -0.0013, 0.2505, 0.0025),
    ("1", 1.7188, 1.4682, 0.0012, -0.0012, 0.2506, 0.0024),
    ("5", 1.7195, 1.4681, 5e-04, -5e-04, 0.2514, 0.0011),
    ("10", 1.7197, 1.4681, 3e-04, -3e-04, 0.2516, 6e-04),
    ("20", 1.7198, 1.468, 2e-04, -2e-04, 0.2518, 4e-04),
]


@pytest.mark.parametrize("row", LAMBDA_TABLE, ids=[r[0] for r in LAMBDA_TABLE])
def test_seed_lambda_table(row):
    lam, printed = Fraction(row[0]), np.array(row[1:])
    y, X, Z = pig_design()
    res = henderson(y, X, Z, lambda_=float(lam))
    sol = np.concatenate([res.blue, res.blup])
    ours = np.concatenate([sol, [sol[0] - sol[1], sol[2] - sol[3]]])
    assert np.all(np.abs(ours - printed) <= 0.5e-4 + 1e-12)
    lhs = [list(r) for r in SEED_LHS]          # Z'Z + lambda I: replace the 8s (3 + 5)
    lhs[2][2] = lhs[3][3] = 3 + lam
    exact = np.array([float(v[0]) for v in fraction_solve(lhs, [SEED_RHS])])
    # lambda = 1e-4 makes the system nearly singular (cond ~ 1e5)
    np.testing.assert_allclose(sol, exact, rtol=0, atol=1e-10)


# --- a relationship matrix: against the GLS formulas ---------------------------------------
def gls_route(y, X, Z, G, R):
    """BLUE, BLUP, var(BLUE), PEV and var(BLUP) from V = ZGZ' + R (Henderson 1975:
    var(u_hat) = GZ'PZG, PEV = G - GZ'PZG, P = V^-1 - V^-1X(X'V^-1X)^-1X'V^-1)."""
    V = Z @ G @ Z.T + R
    Vi = np.linalg.inv(V)
    var_beta = np.linalg.inv(X.T @ Vi @ X)
    beta = var_beta @ X.T @ Vi @ y
    u = G @ Z.T @ Vi @ (y - X @ beta)
    P = Vi - Vi @ X @ var_beta @ X.T @ Vi
    var_u = G @ Z.T @ P @ Z @ G
    return beta, u, var_beta, G - var_u, var_u


A_PIG = np.array([[1.0, 0.5], [0.5, 1.0]])


def test_relationship_matrix_against_gls():
    y, X, Z = pig_design()
    Xa, Za = X.to_numpy(), Z.to_numpy()
    beta, u, var_beta, pev, var_u = gls_route(y, Xa, Za, 0.016 * A_PIG, 0.08 * np.eye(6))
    by_lambda = henderson(y, Xa, Za, lambda_=5, A=A_PIG)
    by_g_r = henderson(y, Xa, Za, G=0.016 * A_PIG, R=0.08 * np.eye(6))
    sparse = henderson(y, sp.csr_matrix(Xa), sp.csr_matrix(Za), lambda_=5,
                       A=sp.csr_matrix(A_PIG))
    for res, unit in ((by_lambda, 0.08), (by_g_r, 1.0), (sparse, 0.08)):
        np.testing.assert_allclose(res.blue, beta, rtol=1e-11)
        np.testing.assert_allclose(res.blup, u, rtol=1e-8)
        np.testing.assert_allclose(res.C_XX * unit, var_beta, rtol=1e-10)
        np.testing.assert_allclose(res.pev * unit, pev, rtol=1e-10)
        np.testing.assert_allclose(res.var_blup * unit, var_u, rtol=1e-8, atol=1e-14)
        np.testing.assert_allclose(res.reliability, 1 - np.diag(pev) / 0.016, rtol=1e-10)
    # the lambda form adds lambda A^-1 = 5 * [[4/3, -2/3], [-2/3, 4/3]] to Z'Z = 3 I
    np.testing.assert_allclose(by_lambda.lhs[2:, 2:], [[3 + 20 / 3, -10 / 3],
                                                       [-10 / 3, 3 + 20 / 3]], rtol=1e-14)


def test_no_fixed_effects_is_blup_with_known_mean():
    y, _, Z = pig_design()
    Za = Z.to_numpy()
    G, R = 0.016 * A_PIG, 0.08 * np.eye(6)
    u = G @ Za.T @ np.linalg.solve(Za @ G @ Za.T + R, y)
    for Xe in (np.zeros((6, 0)), sp.csr_matrix((6, 0))):
        res = henderson(y, Xe, Za, G=G, R=R)
        assert res.blue.shape == (0,) and res.C.shape == (2, 2)
        np.testing.assert_allclose(res.blup, u, rtol=1e-12)


# --- agreement with REML fits ----------------------------------------------------------------
def test_sire_reml_fit(data):
    s = data("sires")
    fit = lme("bw ~ 1", data=s, random="~ 1 | sire")
    sigma2, sigma2_u = fit.scale, fit.cov_re.iloc[0, 0]
    X = pd.DataFrame({"Intercept": np.ones(len(s))})
    Z = pd.get_dummies(s["sire"], dtype=float)
    q, n = Z.shape[1], len(s) // Z.shape[1]
    res = henderson(s["bw"], X, Z, G=sigma2_u * np.eye(q), R=sigma2 * np.eye(len(s)))
    ranef = fit.ranef()["Intercept"]
    np.testing.assert_allclose(res.blue, fit.fe_params, rtol=1e-8)
    np.testing.assert_allclose(res.blup[ranef.index], ranef, rtol=1e-8)
    np.testing.assert_allclose(res.C_XX, fit.cov_fe, rtol=1e-8)
    by_lambda = henderson(s["bw"], X, Z, lambda_=sigma2 / sigma2_u)
    np.testing.assert_allclose(by_lambda.blue, fit.fe_params, rtol=1e-8)
    np.testing.assert_allclose(by_lambda.blup[ranef.index], ranef, rtol=1e-8)
    np.testing.assert_allclose(by_lambda.C_XX * sigma2, fit.cov_fe, rtol=1e-8)
    # balanced one-way closed forms: var(mean) = (sigma^2 + n sigma_u^2)/(n t) (SAS: SE
    # 5.9114), BLUP_i = n sigma_u^2 / (sigma^2 + n sigma_u^2) (ybar_i - ybar)
    y = s["bw"].to_numpy(float)
    assert res.C_XX[0, 0] == pytest.approx((sigma2 + n * sigma2_u) / len(s), rel=1e-12)
    assert round(res.blue_se["Intercept"], 4) == 5.9114
    means = s.groupby("sire", observed=True)["bw"].mean()
    shrink = n * sigma2_u / (sigma2 + n * sigma2_u)
    np.testing.assert_allclose(res.blup[means.index], shrink * (means - y.mean()),
                               rtol=1e-12)
    # PEV of a balanced one-way: (sigma_u^2 - shrink sigma_u^2) + shrink^2 var(mean)
    pev_ii = sigma2_u * (1 - shrink) + shrink ** 2 * res.C_XX[0, 0]
    np.testing.assert_allclose(np.diag(res.pev), pev_ii, rtol=1e-10)


def test_orthodont_slopes_and_varident_fit(data):
    """Random intercept and slope (block-diagonal G) with VarIdent residuals (diagonal R
    with unequal entries), dense and sparse."""
    O = data("Orthodont")
    fit = lme("distance ~ age", data=O, random="~ age | Subject",
              weights=VarIdent(form="~ 1 | Sex"))
    ranef = fit.ranef()
    subjects = list(ranef.index)
    code = pd.Categorical(O["Subject"].astype(str), categories=subjects).codes
    Z = np.zeros((len(O), 2 * len(subjects)))
    Z[np.arange(len(O)), 2 * code] = 1.0
    Z[np.arange(len(O)), 2 * code + 1] = O["age"]
    G = np.kron(np.eye(len(subjects)), fit.cov_re.to_numpy())
    ratio = O["Sex"].astype(str).map(fit.variance_params).to_numpy(float)
    R = np.diag(fit.scale * ratio ** 2)
    X = np.column_stack([np.ones(len(O)), O["age"]])
    for args in ((X, Z, G, R), (sp.csr_matrix(X), sp.csr_matrix(Z), sp.csr_matrix(G),
                                sp.csr_matrix(R))):
        res = henderson(O["distance"], *args[:2], G=args[2], R=args[3])
        np.testing.assert_allclose(res.blue, fit.fe_params, rtol=1e-8)
        np.testing.assert_allclose(res.blup.reshape(-1, 2), ranef.to_numpy(), rtol=1e-7,
                                   atol=1e-10)
        np.testing.assert_allclose(res.C_XX, fit.cov_fe, rtol=1e-7)


# --- sparse path -----------------------------------------------------------------------------
def synthetic(N, q, seed):
    rng = np.random.default_rng(seed)
    level = rng.integers(0, q, N)
    herd = rng.integers(0, 4, N)
    X = sp.hstack([sp.csc_matrix(np.ones((N, 1))),
                   sp.csc_matrix((np.ones(N), (np.arange(N), herd)), shape=(N, 4))[:, 1:],
                   sp.csc_matrix(rng.normal(size=(N, 1)))], format="csc")
    Z = sp.csc_matrix((np.ones(N), (np.arange(N), level)), shape=(N, q))
    y = X @ np.array([10.0, 1.0, -1.0, 0.5, 2.0]) + Z @ rng.normal(0, 0.5, q) \
        + rng.normal(0, 1.0, N)
    return y, X, Z


def test_sparse_large_problem_against_closed_form():
    """N = 20,000, q = 2,000, compute_C=False: no N x N matrix (peak memory far below
    the 3.2 GB of one), and the compound-symmetry closed form of V^-1 per level:
    X'V^-1X = (X'X - (Z'X)' diag(g) Z'X) / s2e, g_j = s2u / (s2e + n_j s2u),
    BLUP_j = s2u * sum_j(y - X beta) / (s2e + n_j s2u)."""
    N, q, s2u, s2e = 20_000, 2_000, 0.25, 1.0
    y, X, Z = synthetic(N, q, seed=6)
    tracemalloc.start()
    try:
        res = henderson(y, X, Z, G=s2u * sp.identity(q), R=s2e * sp.identity(N),
                        compute_C=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 150e6             # about 35 MB; one dense N x N matrix is 3.2 GB
    assert sp.issparse(res.lhs) and res.lhs.shape == (5 + q, 5 + q)
    with pytest.raises(AttributeError, match="compute_C=False"):
        res.pev
    n_j = np.asarray(Z.sum(axis=0)).ravel()
    g = s2u / (s2e + n_j * s2u)
    ZtX = (Z.T @ X).toarray()
    xvx = ((X.T @ X).toarray() - ZtX.T @ (g[:, None] * ZtX)) / s2e
    xvy = (X.T @ y - ZtX.T @ (g * (Z.T @ y))) / s2e
    beta = np.linalg.solve(xvx, xvy)
    np.testing.assert_allclose(res.blue, beta, rtol=1e-9)
    np.testing.assert_allclose(res.C_XX, np.linalg.inv(xvx), rtol=1e-8)
    blup = s2u * (Z.T @ (y - X @ beta)) / (s2e + n_j * s2u)
    np.testing.assert_allclose(res.blup, blup, rtol=1e-7, atol=1e-10)
    by_lambda = henderson(y, X, Z, lambda_=s2e / s2u, compute_C=False)
    np.testing.assert_allclose(by_lambda.blue, beta, rtol=1e-9)
    np.testing.assert_allclose(by_lambda.blup, blup, rtol=1e-7, atol=1e-10)


def small_subproblem():
    y, X, Z = synthetic(20_000, 2_000, seed=6)
    rows = np.flatnonzero(Z[:, :40].sum(axis=1).A1 > 0)   # the records of 40 levels
    return y[rows], X[rows], Z[rows][:, :40]


def test_sparse_and_dense_agree_all_factorizations():
    """Diagonal, block-diagonal (stacked inverse) and banded (sparse LU) G and R give the
    dense answer."""
    y, X, Z = small_subproblem()
    N, q = Z.shape
    pair = np.array([[1.0, 0.4], [0.4, 0.8]])
    R_blocks = sp.block_diag([pair] * (N // 2) + [np.eye(N % 2)], format="csr")
    G_band = sp.diags([np.full(q - 1, 0.1), np.full(q, 0.3), np.full(q - 1, 0.1)],
                      [-1, 0, 1], format="csr")
    for G, R in ((0.3 * sp.identity(q), 2 * sp.identity(N)), (G_band, R_blocks)):
        dense = henderson(y, X.toarray(), Z.toarray(), G=G.toarray(), R=R.toarray())
        sparse = henderson(y, X, Z, G=G, R=R)
        for name in ("blue", "blup", "C", "var_blup"):
            np.testing.assert_allclose(getattr(sparse, name), getattr(dense, name),
                                       rtol=1e-9, atol=1e-12, err_msg=name)
        lean = henderson(y, X, Z, G=G, R=R, compute_C=False)
        np.testing.assert_allclose(lean.C_XX, dense.C_XX, rtol=1e-9)
        np.testing.assert_allclose(lean.C_XZ, dense.C_XZ, rtol=1e-9, atol=1e-14)
    # a large banded A (one connected block of 150 > 64: the sparse LU path)
    q2 = 150
    Z2 = sp.csc_matrix((np.ones(600), (np.arange(600), np.arange(600) % q2)),
                       shape=(600, q2))
    X2 = np.ones((600, 1))
    y2 = np.sin(np.arange(600.0))
    A = sp.diags([np.full(q2 - 1, 0.25), np.ones(q2), np.full(q2 - 1, 0.25)], [-1, 0, 1])
    dense = henderson(y2, X2, Z2.toarray(), lambda_=2.0, A=A.toarray())
    sparse = henderson(y2, X2, Z2, lambda_=2.0, A=A)
    np.testing.assert_allclose(sparse.blup, dense.blup, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(sparse.C, dense.C, rtol=1e-9, atol=1e-13)


def test_sparse_not_positive_definite_names_eigenvalue():
    y, X, Z = small_subproblem()
    q = Z.shape[1]
    G = sp.diags([np.full(q - 1, 0.75), np.ones(q), np.full(q - 1, 0.75)], [-1, 0, 1])
    # eigenvalues of the tridiagonal (0.75, 1, 0.75): 1 + 1.5 cos(k pi / (q + 1))
    smallest = 1 + 1.5 * np.cos(q * np.pi / (q + 1))
    with pytest.raises(ValueError, match=r"G must be positive definite \(smallest "
                                         rf"eigenvalue {smallest:.6g}\)"):
        henderson(y, X, Z, G=G, R=sp.identity(Z.shape[0]))
    big = 150  # beyond the stacked-block size: sparse LU pivots decide
    A = sp.diags([np.full(big - 1, 0.75), np.ones(big), np.full(big - 1, 0.75)], [-1, 0, 1])
    smallest = 1 + 1.5 * np.cos(big * np.pi / (big + 1))
    Z2 = sp.csc_matrix((np.ones(big), (np.arange(big), np.arange(big))), shape=(big, big))
    with pytest.raises(ValueError, match=rf"A must be positive definite \(smallest "
                                         rf"eigenvalue {smallest:.6g}\)"):
        henderson(np.ones(big), np.ones((big, 1)), Z2, lambda_=1.0, A=A)
    R = sp.block_diag([np.array([[1.0, 2.0], [2.0, 1.0]])] * 3)     # eigenvalues 3, -1
    y6, Xp, Zp = pig_design()
    with pytest.raises(ValueError, match=r"R must be positive definite \(smallest "
                                         r"eigenvalue -1\)"):
        henderson(y6, Xp, Zp, G=sp.identity(2), R=R)


# --- result object ----------------------------------------------------------------------------
def test_plain_arrays_repr_and_summary():
    y, X, Z = pig_design()
    res = henderson(list(y), X.to_numpy(), Z.to_numpy(), lambda_=5)
    assert isinstance(res.blue, np.ndarray) and isinstance(res.blup, np.ndarray)
    assert isinstance(res.reliability, np.ndarray)
    assert "6 observations, 2 fixed and 2 random effects, lambda_ = 5" in repr(res)
    text = henderson(y, X, Z, G=0.016 * np.eye(2), R=0.08 * np.eye(6)).summary()
    assert "1.719459" in text and "0.013405" in text and "0.162162" in text
    assert "474" in text and "F" in text
    lean = henderson(y, X, Z, lambda_=5, compute_C=False).summary()
    assert "reliability" not in lean and "units of sigma_e" in lean


# --- bad input ----------------------------------------------------------------------------------
def _pig(**changes):
    y, X, Z = pig_design()
    args = dict(y=y, X=X, Z=Z, G=0.016 * np.eye(2), R=0.08 * np.eye(6))
    args.update(changes)
    return lambda: henderson(**args)


NAN_G = np.array([[0.016, np.nan], [np.nan, 0.016]])
BAD_INPUT = [
    ("X rows", _pig(X=np.ones((5, 2))), "X has 5 rows but y has 6 observations"),
    ("Z rows", _pig(Z=np.ones((7, 2))), "Z has 7 rows but y has 6 observations"),
    ("G shape", _pig(G=np.eye(3)), r"G must be 2 x 2 \(Z has 2 columns\), got 3 x 3"),
    ("R shape", _pig(R=np.eye(5)), r"R must be 6 x 6 \(y has 6 observations\)"),
    ("A shape", _pig(G=None, R=None, lambda_=5, A=np.eye(3)), "A must be 2 x 2"),
    ("G not PD", _pig(G=[[0.016, 0.1], [0.1, 0.016]]),
     r"henderson: G must be positive definite \(smallest eigenvalue -0.084\)"),
    ("G negative diagonal", _pig(G=np.diag([0.016, -0.1])),
     r"G must be positive definite \(smallest eigenvalue -0.1\)"),
    ("R not PD", _pig(R=0.08 * np.eye(6) + 0.1 * (np.eye(6, k=1) + np.eye(6, k=-1))),
     "R must be positive definite"),
    ("A not PD", _pig(G=None, R=None, lambda_=5, A=[[1, 2], [2, 1]]),
     r"A must be positive definite \(smallest eigenvalue -1\)"),
    ("G not symmetric", _pig(G=[[0.016, 0.001], [0.0, 0.016]]), "G must be symmetric"),
    ("R not symmetric", _pig(R=0.08 * np.eye(6) + 0.01 * np.eye(6, k=1)),
     "R must be symmetric"),
    ("A not symmetric", _pig(G=None, R=None, lambda_=5, A=[[1, 0.5], [0.4, 1]]),
     "A must be symmetric"),
    ("y NaN", _pig(y=[1.72, np.nan, 1.49, 1.36, 1.54, 1.5]), "y contains NaN"),
    ("X inf", _pig(X=np.array([[1, 0]] + [[0, 1]] * 4 + [[0, np.inf]])), "X contains NaN"),
    ("Z NaN sparse", _pig(Z=sp.csr_matrix(np.array([[np.nan, 0]] + [[1, 0]] * 2
                                                     + [[0, 1]] * 3))), "Z contains NaN"),
    ("G NaN", _pig(G=NAN_G), "G contains NaN"),
    ("R inf", _pig(R=np.diag([0.08] * 5 + [np.inf])), "R contains NaN"),
    ("A NaN", _pig(G=None, R=None, lambda_=5, A=NAN_G), "A contains NaN"),
    ("lambda zero", _pig(G=None, R=None, lambda_=0), "lambda_ must be a positive"),
    ("lambda negative", _pig(G=None, R=None, lambda_=-1.0), "lambda_ must be a positive"),
    ("lambda nan", _pig(G=None, R=None, lambda_=np.nan), "lambda_ must be a positive"),
    ("lambda string", _pig(G=None, R=None, lambda_="5"), "lambda_ must be a positive"),
    ("lambda vector", _pig(G=None, R=None, lambda_=[5, 5]), "lambda_ must be a positive"),
    ("lambda and G", _pig(R=None, lambda_=5), "either G and R, or lambda_"),
    ("lambda and G, R", _pig(lambda_=5), "either G and R, or lambda_"),
    ("neither", _pig(G=None, R=None), "give G and R, or lambda_"),
    ("G without R", _pig(R=None), "R is missing"),
    ("R without G", _pig(G=None), "G is missing"),
    ("A without lambda", _pig(A=np.eye(2)), "A is used only with lambda_"),
    ("X not numeric", _pig(X=pd.DataFrame({"sex": PIG_SEX})), "X must be numeric"),
    ("y matrix", _pig(y=np.ones((6, 2))), r"y must be a vector, got shape \(6, 2\)"),
    ("y empty", _pig(y=[]), "y is empty"),
    ("Z without columns", _pig(Z=np.ones((6, 0))), "Z has no columns"),
    ("X rank deficient", _pig(X=pd.DataFrame({"one": 1.0, "F": [1.0] + [0] * 5,
                                              "M": [0.0] + [1] * 5})),
     "X is rank deficient: M depends linearly on earlier columns"),
    ("X rank deficient, Z sparse",
     _pig(X=np.column_stack([np.ones(6), [1.0] + [0] * 5, [0.0] + [1] * 5]),
          Z=sp.csr_matrix(np.repeat(np.eye(2), 3, axis=0))),
     r"X is rank deficient: X\[:, 2\] depends linearly on earlier columns"),
    ("sparse X rank deficient",
     _pig(X=sp.csr_matrix(np.column_stack([np.ones(6), [1.0] + [0] * 5, [0.0] + [1] * 5]))),
     r"X is rank deficient \(numerical rank 2 of 3 columns\)"),
    ("misaligned pandas", _pig(y=pd.Series(PIG_Y, index=range(1, 7))),
     "y and X have different pandas row indexes"),
]


@pytest.mark.parametrize("call, message", [c[1:] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert str(info.value).startswith("henderson: ")
