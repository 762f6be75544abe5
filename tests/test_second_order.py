"""The second-order optimizer (issue 15): the average-information matrix against an
independent dense derivation, boundary fits against nlme and lme4 (nlme's Spruce), and
the boundary probe releasing a variance held at zero."""
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

from lmmext import CorAR1, CorCAR1, CorCompSymm, CorSymm, VarIdent, VarPower, gls, lme
from lmmext.engine.average_information import average_information

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _fit(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _dense_H(eng, theta):
    """``V / sigma^2`` as a dense matrix from the structures' own definitions."""
    re, tc, tv = eng.split(theta)
    N = eng.N
    H = np.zeros((N, N))
    for k, lev in enumerate(eng.levels):
        L = lev.factor(re[k])
        same = lev.codes[:, None] == lev.codes[None, :]
        H += (lev.Z @ L @ L.T @ lev.Z.T) * same
    C = np.eye(N)
    if eng.corstruct is not None:
        for g, (Cs, _) in zip(eng.corstruct.dense_layout(),
                              eng.corstruct.dense_correlations(tc)):
            pattern = np.repeat(np.arange(len(g.counts)), g.counts)
            for rows, Cb in zip(g.rows, Cs[pattern]):
                C[np.ix_(rows, rows)] = Cb
    iw = np.exp(-eng.varfunc.log_weights(tv)) if eng.varfunc is not None else np.ones(N)
    return H + iw[:, None] * C * iw[None, :]


def _dense_ai(eng, theta):
    """``(w_i' P w_j - (w_i' P y)(w_j' P y) / y'P y) / (2 sigma^2)`` with ``P`` the
    REML projection of the dense ``H``, ``w_i = dH/dtheta_i P y`` by central differences
    of ``H`` (Gilmour, Thompson and Cullis 1995, sigma^2 profiled out)."""
    X = eng.A[:, eng.z_offsets[-1]:-1]
    y = eng.A[:, -1]
    Hi = np.linalg.inv(_dense_H(eng, theta))
    P = Hi - Hi @ X @ np.linalg.solve(X.T @ Hi @ X, X.T @ Hi)
    Py = P @ y
    q = y @ Py
    W = np.column_stack([
        (_dense_H(eng, theta + e) - _dense_H(eng, theta - e)) @ Py / 2e-6
        for e in np.eye(theta.size) * 1e-6])
    wPy = W.T @ Py
    return (W.T @ P @ W - np.outer(wPy, wPy) / q) / (2.0 * q / eng.Nr)


_AI_CASES = {
    "ri+varident+ar1-gaps": dict(random="~ 1 | Subject", weights=VarIdent(form="~ 1 | Sex"),
                                 correlation=CorAR1(form="~ visit | Subject")),
    "slope+varpower": dict(random="~ age | Subject", weights=VarPower(form="~ age")),
    "nested+compsymm": dict(random="~ 1 | Sex/Subject",
                            correlation=CorCompSymm(form="~ 1 | Sex/Subject")),
    "gls-symm+varident": dict(correlation=CorSymm(form="~ 1 | Subject"),
                              weights=VarIdent(form="~ 1 | age")),
    "ml-car1": dict(random="~ 1 | Subject", correlation=CorCAR1(form="~ age | Subject"),
                    method="ML"),
    # bidiagonal whitening (recurrences, no dense blocks) with weights, with a gls and
    # with times jittered within subjects
    "gls-ar1+varpower": dict(correlation=CorAR1(form="~ visit | Subject"),
                             weights=VarPower(form="~ age")),
    "slope+car1-jittered+varident": dict(random="~ age | Subject",
                                         correlation=CorCAR1(form="~ tj | Subject"),
                                         weights=VarIdent(form="~ 1 | Sex")),
    # no residual structure: the [Z X] blocks from the evaluation's cached cross-products
    # (widened_crossproducts), one random effect and two
    "ri": dict(random="~ 1 | Subject"),
    "ml-slope": dict(random="~ age | Subject", method="ML"),
}


@pytest.mark.parametrize("case", list(_AI_CASES))
def test_average_information_equals_a_dense_derivation(data, case):
    O = data("Orthodont")
    O["visit"] = O["age"].map({8: 1, 10: 2, 12: 4, 14: 5})
    O["tj"] = O["age"] + np.random.default_rng(5).uniform(-0.9, 0.9, len(O))
    kw = dict(_AI_CASES[case])
    fn = lme if "random" in kw else gls
    fit = _fit(fn, "distance ~ age + Sex", data=O, **kw)
    eng = fit._state.engine
    theta = fit._state.theta + 0.05
    np.testing.assert_allclose(average_information(eng, theta), _dense_ai(eng, theta),
                               rtol=1e-6, atol=1e-8 * np.abs(_dense_ai(eng, theta)).max())


@pytest.fixture(scope="module")
def spruce():
    d = pd.read_csv(ROOT / "benchmarks" / "data" / "Spruce.csv", dtype={"plot": str})
    ref = json.loads((ROOT / "validation" / "references_nlme15" / "spruce.json").read_text())
    return d, ref


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_spruce_boundary_fit_equals_lme4_and_nlme(spruce, method):
    """nlme's Spruce (plot / Tree, 4 plots of ~250 rows): the plot variance goes to zero.
    The second-order steps hold it there (a ConvergenceWarning names it) in at most 15
    evaluations, with lme4's optimum (lme4 and nlme agree to 3e-7 in logLik; nlme stops
    that much lower)."""
    d, ref = spruce
    r = ref[method]
    with pytest.warns(Warning, match="'Intercept' at level 'plot' is on the boundary"):
        fit = lme("logSize ~ days", data=d, random={"plot": "~ 1", "Tree": "~ I(days/100)"},
                  method=method)
    info = fit.optim_info
    assert info.methods == ["AI-Newton"] and info.converged and info.n_evals <= 15
    assert fit.llf == pytest.approx(r["lme4_logLik"], abs=1e-6)
    assert fit.llf >= r["nlme_logLik"] - 1e-6
    np.testing.assert_allclose(fit.fe_params.to_numpy(), list(r["lme4_fixef"].values()),
                               rtol=1e-4)
    assert np.sqrt(fit.scale) == pytest.approx(r["lme4_sigma"], rel=1e-4)
    tree = fit.re_sd["Tree"]
    np.testing.assert_allclose(tree["sd"].to_numpy(), r["lme4_tree_sd"], rtol=1e-4)
    assert tree.iloc[0, 2] == pytest.approx(r["lme4_tree_cor"], abs=1e-4)
    assert fit.re_sd["plot"]["sd"].iloc[0] < 1e-4 * np.sqrt(fit.scale)


def test_a_variance_held_at_zero_is_released_when_its_optimum_is_inside(data):
    """Started with the random-intercept SD on its lower bound (zero for every purpose),
    the probe at a small positive variance finds the gradient pointing inside, releases
    it, and the fit reaches the interior optimum of an ordinary start."""
    O = data("Orthodont")
    ref = _fit(lme, "distance ~ age + Sex", data=O, random="~ 1 | Subject")
    start = ref._state.theta.copy()
    start[0] = -30.0
    fit = _fit(lme, "distance ~ age + Sex", data=O, random="~ 1 | Subject", start=start)
    assert fit.optim_info.methods == ["AI-Newton"]
    assert fit.llf == pytest.approx(ref.llf, abs=1e-8)
    assert fit._state.theta[0] == pytest.approx(ref._state.theta[0], abs=1e-5)
