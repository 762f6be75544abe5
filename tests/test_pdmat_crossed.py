"""nlme's random-effects covariance classes (pdCompSymm, pdDiag, pdIdent, pdBlocked) and
crossed random effects (lme4's ``(1 | plate) + (1 | sample)``, nlme's pdBlocked within a
constant group, statsmodels' variance components of a one-level group) against nlme
and lme4 (validation/R/pdmat_crossed.R -> references_nlme14/pdmat_crossed.json)."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import lmmext
from lmmext import CorAR1, VarIdent, pdBlocked, pdCompSymm, pdDiag, pdIdent
from lmmext.structures.random_effects import PdCompSymm, PdRepeated, PdSymm
from lmmext.validation import find_dir, load_dataset

# nlme's intervals come from its own finite-difference apVar, whose standard errors are
# accurate to ~1e-3 (docs/inference.rst; validation/R/apvar_accurate.R): bounds are
# compared to 3e-3 of the interval's width
INTERVAL_WIDTH_TOL = 3e-3


@pytest.fixture(scope="module")
def ref():
    return json.loads((find_dir() / "references_nlme14" / "pdmat_crossed.json").read_text())


@pytest.fixture(scope="module")
def data():
    pen = load_dataset("Penicillin")
    pen["one"] = "1"
    return {"Oats": load_dataset("Oats"), "Assay": load_dataset("Assay"), "Penicillin": pen}


CROSSED = "(1 | plate) + (1 | sample)"
NLME_CROSSED = {"one": "pdBlocked(list(pdIdent(~ plate - 1), pdIdent(~ sample - 1)))"}
ASSAY_BLOCKED = pdBlocked([pdIdent("~ 1"), pdIdent("~ sample - 1"), pdIdent("~ dilut - 1")])

CASES = {
    "PD01": ("Oats", "yield ~ nitro", {"random": {"Block": pdCompSymm("~ Variety - 1")}}),
    "PD02": ("Oats", "yield ~ nitro", {"random": {"Block": "pdCompSymm(~ Variety - 1)"},
                                       "method": "ML"}),
    "PD03": ("Assay", "logDens ~ sample * dilut", {"random": {"Block": ASSAY_BLOCKED}}),
    "PD04": ("Oats", "yield ~ nitro", {"random": {"Block": pdDiag("~ Variety - 1")}}),
    "PD05": ("Penicillin", "diameter ~ 1", {"random": CROSSED}),
    "PD06": ("Penicillin", "diameter ~ 1", {"random": CROSSED,
                                            "weights": VarIdent(form="~ 1 | sample")}),
    "PD07": ("Penicillin", "diameter ~ 1", {"random": CROSSED,
                                            "correlation": CorAR1(form="~ 1 | plate")}),
    "PD08": ("Penicillin", "diameter ~ 1", {"random": CROSSED, "method": "ML"}),
}


def _fit(data, case):
    ds, formula, kw = CASES[case]
    return lmmext.lme(formula, data[ds], **kw)


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_equals_nlme(data, ref, case):
    r = ref["nlme"][case]
    fit = _fit(data, case)
    assert fit.llf == pytest.approx(r["logLik"], abs=1e-6)
    assert fit.df_modelwc == r["df"]
    fe = pd.DataFrame(r["fixef"])
    np.testing.assert_allclose(fit.fe_params.to_numpy(), fe["estimate"], rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(fit.bse_fe.to_numpy(), fe["se"], rtol=1e-4)
    np.testing.assert_array_equal(fit.df_resid_fe.to_numpy(), fe["df"])
    assert fit.sigma == pytest.approx(r["sigma"], rel=1e-4)
    D = np.array(r["D"])
    np.testing.assert_allclose(fit.cov_re.to_numpy(), D, rtol=1e-4, atol=1e-4 * np.abs(D).max())
    if "varStruct" in r:
        for k, v in r["varStruct"].items():
            assert fit.variance_params[k] == pytest.approx(v, rel=1e-4)
    if "corStruct" in r:
        assert fit.correlation_params.iloc[0] == pytest.approx(r["corStruct"]["Phi"], rel=1e-4)


@pytest.mark.parametrize("case", ["PD01", "PD03", "PD05", "PD07"])
def test_intervals_of_the_classes_equal_nlme(data, ref, case):
    r = ref["nlme"][case]
    (name, rows), = r["intervals"]["reStruct"].items()
    fit = _fit(data, case)
    (tab,) = fit.intervals().re.values()
    want = pd.DataFrame(rows).set_index("name")
    if case in ("PD05", "PD07"):
        # nlme's labels come from its pdIdent formulas (~ plate - 1); lme4's spelling names
        # the terms
        assert list(tab.index) == ["sd(1 | plate)", "sd(1 | sample)"]
        tab.index = want.index
    else:
        assert list(tab.index) == list(want.index)
    np.testing.assert_allclose(tab["est."], want["est."], rtol=1e-4)
    width = (want["upper"] - want["lower"]).to_numpy()
    for col in ("lower", "upper"):
        assert np.all(np.abs(tab[col].to_numpy() - want[col].to_numpy())
                      <= INTERVAL_WIDTH_TOL * width), (col, tab, want)


@pytest.mark.parametrize("reml", [True, False])
def test_crossed_spellings_equal_lme4(data, ref, reml):
    r = ref["lme4"]["penicillin_reml" if reml else "penicillin_ml"]
    method = "REML" if reml else "ML"
    pen = data["Penicillin"]
    fits = [lmmext.lme("diameter ~ 1", pen, random=CROSSED, method=method),
            lmmext.lme("diameter ~ 1", pen, random="~ (1 | plate) + (1 | sample)",
                       method=method),
            lmmext.lme("diameter ~ 1", pen, random=NLME_CROSSED, method=method),
            lmmext.lme("diameter ~ 1", pen, method=method, random={"one": pdBlocked(
                [pdIdent("~ plate - 1"), pdIdent("~ sample - 1")])})]
    vc = pd.DataFrame(r["vcov"]).set_index("grp")["sdcor"]
    for fit in fits:
        assert fit.llf == pytest.approx(r["logLik"], abs=1e-6)
        assert fit.fe_params.iloc[0] == pytest.approx(r["fixef"]["(Intercept)"], rel=1e-6)
        # lme4's vcov is nlme's (its summary's ML SEs are scaled by N/(N - p))
        assert np.sqrt(fit.cov_fe.iloc[0, 0]) == pytest.approx(r["se"]["(Intercept)"], rel=1e-4)
        sd = np.sqrt(np.diag(fit.cov_re.to_numpy()))
        assert sd[0] == pytest.approx(vc["plate"], rel=1e-4)
        assert sd[-1] == pytest.approx(vc["sample"], rel=1e-4)
        assert fit.sigma == pytest.approx(r["sigma"], rel=1e-4)


def test_crossed_blups_equal_lme4(data, ref):
    r = ref["lme4"]["penicillin_reml"]
    fit = lmmext.lme("diameter ~ 1", data["Penicillin"], random=CROSSED)
    (b,) = fit._state.blups
    want = np.r_[r["ranef"]["plate"]["values"]["(Intercept)"],
                 r["ranef"]["sample"]["values"]["(Intercept)"]]
    np.testing.assert_allclose(b[0], want, rtol=1e-4, atol=1e-6)
    assert fit.frame.levels[0].z_names[:2] == ["plate[a]", "plate[b]"]


def test_lme4_spelling_with_a_common_factor_is_nlmes_pdblocked(data, ref):
    r = ref["lme4"]["assay_reml"]
    fit = lmmext.lme("logDens ~ sample * dilut", data["Assay"],
                     random="(1 | Block) + (1 | Block:sample) + (1 | Block:dilut)")
    assert fit.llf == pytest.approx(r["logLik"], abs=1e-6)
    assert fit.frame.levels[0].n_groups == 2         # blocked within Block, as nlme
    vc = pd.DataFrame(r["vcov"]).set_index("grp")["sdcor"]
    sd = np.sqrt(np.diag(fit.cov_re.to_numpy()))
    np.testing.assert_allclose(sd[[0, 1, 7]], vc[["Block", "Block:sample", "Block:dilut"]],
                               rtol=1e-4)


def test_nested_lme4_terms_are_nlmes_nested_levels(data):
    oats = data["Oats"]
    a = lmmext.lme("yield ~ nitro", oats, random="(1 | Block) + (1 | Block:Variety)")
    b = lmmext.lme("yield ~ nitro", oats, random="(1 | Block/Variety)")
    c = lmmext.lme("yield ~ nitro", oats, random="~ 1 | Block/Variety")
    assert [lev.name for lev in a.frame.levels] == ["Block", "Variety"]
    assert a.llf == pytest.approx(c.llf, abs=1e-9) and b.llf == pytest.approx(c.llf, abs=1e-9)


def test_summary_prints_the_classes_as_nlme(data):
    s = _fit(data, "PD01").summary().as_text() if hasattr(
        _fit(data, "PD01").summary(), "as_text") else str(_fit(data, "PD01").summary())
    assert "Structure: Compound Symmetry" in s and "Corr" in s
    s = str(_fit(data, "PD03").summary())
    assert "Composite Structure: Blocked" in s and "Block 2: sample[a]" in s
    assert "Structure: Multiple of an Identity" in s
    s = str(_fit(data, "PD05").summary())
    assert "(1 | plate) + (1 | sample)" in s and "plate: 24, sample: 6" in s


def test_pdcompsymm_allows_a_negative_correlation():
    # the class's range is -1/(q-1) < rho < 1: a negative rho is a valid covariance, so a
    # model with it is not nested in the model without the random effects
    pd3 = PdCompSymm(3)
    for rho in (-0.49, -0.2, 0.0, 0.7, 0.999):
        D = 4.0 * ((1 - rho) * np.eye(3) + rho)
        th = pd3.natural(D)
        np.testing.assert_allclose(pd3.factor(th) @ pd3.factor(th).T, D, rtol=1e-10)
        np.testing.assert_allclose(pd3.report(th), [2.0, rho], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(pd3.unfactor(np.linalg.cholesky(D)), th, atol=1e-10)


def test_factor_jacobians_are_derivatives():
    rng = np.random.default_rng(0)
    for pdm in (PdCompSymm(4), PdRepeated(PdSymm(2), 3)):
        th = rng.normal(size=pdm.n_params) * 0.3
        J = pdm.factor_jacobian(th)
        for j in range(pdm.n_params):
            e = np.zeros_like(th)
            e[j] = 1e-6
            # the factor is the Cholesky factor, so compare the covariances' derivatives
            num = (pdm.factor(th + e) @ pdm.factor(th + e).T
                   - pdm.factor(th - e) @ pdm.factor(th - e).T) / 2e-6
            L = pdm.factor(th)
            ana = J[j] @ L.T + L @ J[j].T
            np.testing.assert_allclose(ana, num, atol=1e-6)


@pytest.mark.parametrize("random, match", [
    ({"Block": "pdNatural(~ Variety - 1)"}, "unsupported random-effects class 'pdNatural'"),
    ({"Block": "pdCompSymm(Variety - 1)"}, "takes a one-sided formula"),
    ({"Block": "pdBlocked(pdIdent(~ 1))"}, "takes a list of classes"),
    ({"Block": "pdCompSymm(~ 1)"}, "pdCompSymm needs at least two random effects"),
    ("pdCompSymm(~ Variety - 1)", "needs a grouping"),
    ("(1 | plate) + sample", "is not a random term"),
    ("(1 | plate) + (1 | plate)", "same grouping"),
    ("(1 | pla te)", "bad grouping"),
])
def test_bad_spellings_name_the_feature(data, random, match):
    d = data["Oats"].assign(plate=data["Oats"]["Block"])
    with pytest.raises((ValueError, TypeError), match=match):
        lmmext.lme("yield ~ nitro", d, random=random)


def test_pdblocked_rejects_bad_blocks():
    with pytest.raises(TypeError, match="list of classes"):
        pdBlocked(pdIdent("~ 1"))
    with pytest.raises(ValueError, match="cannot itself be blocked"):
        pdBlocked([pdBlocked([pdIdent("~ 1")])])
    with pytest.raises(TypeError, match="each block must be"):
        pdBlocked([3])


def test_statsmodels_spelling_of_crossed_effects(data, ref):
    # statsmodels: one group holding every row, the crossed factors as variance components
    pen = data["Penicillin"].assign(one=1)
    vcf = {"plate": "0 + C(plate)", "sample": "0 + C(sample)"}
    res = lmmext.MixedLM.from_formula("diameter ~ 1", pen, groups="one", vc_formula=vcf,
                                      re_formula="0").fit()
    assert res.llf == pytest.approx(ref["lme4"]["penicillin_reml"]["logLik"], abs=1e-6)
    # with a variance function the structured door fits it, as nlme's PD06
    res = lmmext.MixedLM.from_formula("diameter ~ 1", pen, groups="one", vc_formula=vcf,
                                      re_formula="0",
                                      weights=VarIdent(form="~ 1 | sample")).fit()
    assert res.llf == pytest.approx(ref["nlme"]["PD06"]["logLik"], abs=1e-6)


def _simulated_crossed(n=1500, na=120, nb=60, seed=3):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    x, s = rng.normal(size=n), rng.integers(0, 2, n)
    y = (1 + 0.5 * x + 0.8 * rng.normal(size=na)[a] + 0.4 * x * rng.normal(size=na)[a]
         + 0.5 * rng.normal(size=nb)[b] + rng.normal(size=n) * (1 + s))
    return pd.DataFrame({"y": y, "x": x, "a": pd.Categorical(a), "b": pd.Categorical(b),
                         "s": pd.Categorical(s)})


@pytest.mark.parametrize("random, weights", [
    ("(1 | a) + (1 | b)", None),
    ("(1 | a) + (1 | b)", VarIdent(form="~ 1 | s")),
    ("(1 + x | a) + (1 | b)", None),
    ("(1 | a) + (x || b)", VarIdent(form="~ 1 | s")),
])
def test_sparse_elimination_equals_the_dense_one(monkeypatch, random, weights):
    # the sparse design (lmmext/engine/sparse_group.py, used above SPARSE_MIN_Q random
    # effects) against the dense elimination of the same single group
    import lmmext.frame as frame
    d = _simulated_crossed()
    fits = []
    for min_q in (10 ** 9, 50):
        monkeypatch.setattr(frame, "SPARSE_MIN_Q", min_q)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fits.append(lmmext.lme("y ~ x", d, random=random, weights=weights))
        # the data have no random slope on b: its SD is on the boundary, said once
        boundary = [str(w.message) for w in caught if "boundary" in str(w.message)]
        assert boundary == (["random-effects SD of 'x (x || b)' at level '(crossed)' is on "
                             "the boundary" + boundary[0].split("the boundary", 1)[1]]
                            if "x || b" in random else [])
    dense, sparse = fits
    assert not hasattr(dense.frame.levels[0].Z, "tocsr")
    assert hasattr(sparse.frame.levels[0].Z, "tocsr")
    assert sparse.llf == pytest.approx(dense.llf, abs=1e-6)
    np.testing.assert_allclose(sparse.fe_params, dense.fe_params, rtol=1e-6)
    np.testing.assert_allclose(sparse.bse_fe, dense.bse_fe, rtol=1e-4)
    np.testing.assert_allclose(sparse._state.blups[0], dense._state.blups[0], atol=1e-5)
    np.testing.assert_allclose(sparse.fittedvalues, dense.fittedvalues, atol=1e-5)
    new = d.iloc[:7].copy()
    np.testing.assert_allclose(sparse.predict(new, level=1), dense.predict(new, level=1),
                               atol=1e-5)


def test_crossed_predictions_and_pickle(data):
    import pickle
    fit = lmmext.lme("diameter ~ 1", data["Penicillin"], random=CROSSED)
    new = data["Penicillin"].iloc[[0, 7, 30]]
    np.testing.assert_allclose(fit.predict(new, level=1), fit.fittedvalues.iloc[[0, 7, 30]],
                               rtol=1e-12)
    again = pickle.loads(pickle.dumps(fit))
    np.testing.assert_allclose(again.predict(new, level=1), fit.predict(new, level=1),
                               rtol=1e-12)


@pytest.mark.parametrize("random, weights, reml", [
    ("(1 | a) + (1 | b)", None, True),
    ("(1 + x | a) + (1 | b)", None, False),
    ("(1 | a) + (1 + x | b)", VarIdent(form="~ 1 | s"), True),
    ("(1 | b) + (x || a)", None, True),
])
def test_sparse_score_is_the_derivative(monkeypatch, random, weights, reml):
    # the analytic random-effects score of the sparse path (SparseGroup.re_score) against
    # central differences of the criterion itself, away from the optimum
    import lmmext.frame as frame
    from lmmext.engine.likelihood import ProfiledLikelihood
    from lmmext.formula import parse_random
    monkeypatch.setattr(frame, "SPARSE_MIN_Q", 50)
    f = frame.build_frame("y ~ x", _simulated_crossed(), parse_random(random), weights=weights)
    eng = ProfiledLikelihood(f.y, f.X, f.levels, varfunc=f.varfunc, reml=reml)
    assert eng.sparse is not None and eng.has_gradient
    th = eng.start() + np.random.default_rng(5).normal(size=eng.n_params) * 0.2
    _, g = eng.value_and_gradient(th)
    h = 1e-6
    num = [(eng.loglik(th + e) - eng.loglik(th - e)) / (2 * h) for e in np.eye(th.size) * h]
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-5)


def test_a_dense_crossed_design_too_large_is_refused(monkeypatch, data):
    # with a correlation structure crossed effects use the dense single-group design;
    # beyond the size limit the error names the problem and the ways out
    import lmmext.frame as frame
    monkeypatch.setattr(frame, "_DENSE_DESIGN_LIMIT", 1000)
    with pytest.raises(ValueError, match=r"dense design of 144 rows x 30 random effects is "
                                         r"too large.*drop correlation="):
        lmmext.lme("diameter ~ 1", data["Penicillin"], random=CROSSED,
                   correlation=CorAR1(form="~ 1 | plate"))


def test_sparse_score_with_a_general_block(monkeypatch):
    # nlme's spelling may put a general block beside the crossed indicators of one group
    # (pdBlocked(list(pdIdent(~ a - 1), pdSymm(~ s - 1)))): its score is -tr(A L^-1 dL)
    # over the whole block, checked against central differences of the criterion
    import lmmext.frame as frame
    from lmmext.engine.likelihood import ProfiledLikelihood
    from lmmext.formula import parse_random
    monkeypatch.setattr(frame, "SPARSE_MIN_Q", 50)
    d = _simulated_crossed().assign(one=1)
    random = {"one": pdBlocked([pdIdent("~ a - 1"), lmmext.pdSymm("~ s - 1")])}
    f = frame.build_frame("y ~ x", d, parse_random(random))
    eng = ProfiledLikelihood(f.y, f.X, f.levels, reml=True)
    assert eng.sparse is not None and eng.has_gradient
    th = eng.start() + np.random.default_rng(7).normal(size=eng.n_params) * 0.2
    _, g = eng.value_and_gradient(th)
    h = 1e-6
    num = [(eng.loglik(th + e) - eng.loglik(th - e)) / (2 * h) for e in np.eye(th.size) * h]
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-5)
