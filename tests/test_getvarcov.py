"""nlme's getVarCov (issue 14, item 3): every matrix against nlme 3.1-162
(validation/R/getvarcov.R -> validation/references_nlme14/getvarcov.json), nlme's names,
layout and printed form, individuals by label and position, and nlme's refusals."""
import json
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import lmmext
from lmmext import CorAR1, CorSymm, VarIdent, gls, lme
from lmmext.results.varcov import VarCovList, VarCovMatrix
from lmmext.validation import find_dir, fit_case, load_dataset, normalize_name

REFS = json.loads((find_dir() / "references_nlme14" / "getvarcov.json").read_text())
CASES = {c["id"]: c for c in REFS["cases"]}
RESULTS = [(c["id"], k) for c in REFS["cases"] for k in range(len(c["results"]))]


@lru_cache(maxsize=None)
def _fit(case_id):
    return fit_case(CASES[case_id])


def _call(fit, kind, ref):
    """lmmext's spelling of the R call of ``ref``: R's numeric individuals are 1-based
    positions (ints), character ones labels."""
    ind = ref["individuals"]
    if ind is not None and ref["individuals_numeric"]:
        ind = [int(v) for v in ind]
    if kind == "gls":
        return fit.getVarCov(individual=1 if ind is None else ind[0])
    return fit.getVarCov(individuals=ind, type=ref["type"])


def _pairs(out, ref):
    """(name, our matrix, R's matrix entry) of a result."""
    if isinstance(out, VarCovList):
        assert [str(k) for k in out] == [m["name"] for m in ref["matrices"]]
        return [(k, out[k], m) for k, m in zip(out, ref["matrices"])]
    assert len(ref["matrices"]) == 1 and ref["matrices"][0]["name"] is None
    return [(None, out, ref["matrices"][0])]


def _assert_matrix(ours, R, what):
    # 1e-4 relative elementwise; the floor 1e-5 of the largest entry covers the smallest
    # entries of AR(1) blocks (phi^k at lag k carries k times phi's relative difference
    # between the optimizers: GV02's flat optimum, lmmext's logLik higher by 1.3e-9,
    # phi 0.188625 vs nlme's 0.188617 -> 1.3e-4 relative on the lag-3 entry 0.0236)
    np.testing.assert_allclose(ours, R, rtol=1e-4, atol=1e-5 * np.max(np.abs(R)),
                               err_msg=what)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_fits_equal_nlme(case_id):
    assert _fit(case_id).llf == pytest.approx(CASES[case_id]["logLik"], abs=1e-6)


@pytest.mark.parametrize("case_id,k", RESULTS)
def test_matrices_equal_nlme(case_id, k):
    case = CASES[case_id]
    ref = case["results"][k]
    out = _call(_fit(case_id), case["kind"], ref)
    assert isinstance(out, VarCovList if ref["matrices"][0]["name"] is not None else VarCovMatrix)
    for name, m, rm in _pairs(out, ref):
        R = np.array(rm["value"], dtype=float)
        assert isinstance(m, VarCovMatrix) and isinstance(m, pd.DataFrame)
        assert m.vc_type == ref["type"]
        _assert_matrix(m.to_numpy(), R, f"{case_id} {ref['call']} {name}")
        if ref["type"] == "random.effects":       # nlme's names: (Intercept), covariates
            assert [normalize_name(i) for i in m.index] == \
                [normalize_name(i) for i in rm["rownames"]]
            assert list(m.index) == list(m.columns)
            assert m.index[0] == "(Intercept)"
        else:                                      # rows and columns 1..n_i
            assert list(m.index) == list(range(1, len(R) + 1)) == list(m.columns)
    if isinstance(out, VarCovList):
        assert out.group_levels == ref["group_levels"]


@pytest.mark.parametrize("case_id,k", RESULTS)
def test_printed_form_is_nlmes(case_id, k):
    """nlme's values printed by lmmext's printer read exactly as print.VarCov (R's
    column formats, wrapping at 80 characters, [i,] labels of gls; trailing blanks
    aside)."""
    ref = CASES[case_id]["results"][k]
    mats = {}
    for m in ref["matrices"]:
        R = np.array(m["value"], dtype=float)
        labels = (m["rownames"] if ref["type"] == "random.effects"
                  else pd.RangeIndex(1, len(R) + 1))
        mats[m["name"]] = VarCovMatrix._make(R, labels, ref["type"],
                                             unnamed=m["rownames"] is None)
    obj = (mats[None] if None in mats
           else VarCovList(mats, ref["type"], ref["group_levels"]))
    expected = [line.rstrip() for line in ref["printed"].splitlines()]
    assert str(obj).splitlines() == expected
    assert repr(obj) == str(obj)


def test_printed_form_of_a_fit():
    fit = _fit("GV01")
    text = str(fit.getVarCov())
    assert text.splitlines()[0] == "Random effects variance covariance matrix"
    assert text.splitlines()[1].split() == ["(Intercept)", "age"]
    assert text.splitlines()[-1].startswith("  Standard Deviations: 2.327 0.2264")
    lines = str(fit.getVarCov(individuals="M01", type="marginal")).splitlines()
    assert lines[:3] == ["Subject M01", "Marginal variance covariance matrix",
                         "       1      2      3      4"]
    corr = fit.getVarCov(individuals="M01", type="conditional").to_text(corr=True,
                                                                         stdevs=False)
    assert corr.splitlines()[1] == "Conditional correlation matrix"
    assert "Standard Deviations" not in corr


def test_individuals_by_label_and_position():
    fit = _fit("GV01")
    # nlme's positions count the groups in order of first appearance in the data
    # (M01, M02, ...), not in level order (M16, M05, ...)
    by_pos = fit.getVarCov(individuals=[2, 20], type="conditional")
    assert list(by_pos) == ["M02", "F04"]
    assert list(fit.getVarCov(type="marginal")) == ["M01"]            # the data's first
    one = fit.getVarCov(individuals="F03", type="marginal")
    assert list(one) == ["F03"]
    np.testing.assert_array_equal(one["F03"], fit.getVarCov(individuals=["F03"],
                                                            type="marginal")["F03"])
    # the reversed data: the first group is F11, and positions follow the data
    rev = _fit("GV05")
    assert list(rev.getVarCov(type="conditional")) == ["F11"]
    assert list(rev.getVarCov(individuals=[1, 2], type="m")) == ["F11", "F10"]
    # nlme's match.arg: unique abbreviations
    assert fit.getVarCov(type="cond").vc_type == "conditional"
    assert fit.getVarCov(type="r").vc_type == "random.effects"


def test_row_order_within_groups_follows_the_data():
    """Reversed rows: the conditional matrix of varPower(~ age) runs from age 14 to 8,
    and the marginal one is the original's reversed."""
    rev = _fit("GV05")
    orig = lme("distance ~ age", data=load_dataset("Orthodont"), random="~ age | Subject",
               weights=lmmext.VarPower(form="~ age"))
    for kind in ("conditional", "marginal"):
        a = orig.getVarCov(individuals="M01", type=kind)["M01"].to_numpy()
        b = rev.getVarCov(individuals="M01", type=kind)["M01"].to_numpy()
        np.testing.assert_allclose(b, a[::-1, ::-1], rtol=1e-6)
    sd = np.sqrt(np.diag(rev.getVarCov(individuals="M01", type="conditional")["M01"]))
    ages = load_dataset("Orthodont").iloc[::-1].query("Subject == 'M01'")["age"].to_numpy()
    assert list(ages) == [14, 12, 10, 8]
    np.testing.assert_allclose(sd, rev.sigma * ages ** rev.variance_params["power"], rtol=1e-12)
    # moving whole groups keeps each group's matrices (AR(1) positions are within groups)
    d = load_dataset("Orthodont")
    perm = np.concatenate([np.arange(4 * g, 4 * g + 4) for g in np.random.default_rng(1)
                           .permutation(27)])
    shuffled = _fit("GV02")
    moved = lme("distance ~ age + Sex", data=d.iloc[perm], random="~ 1 | Subject",
                weights=VarIdent(form="~ 1 | Sex"), correlation=CorAR1())
    for kind in ("conditional", "marginal"):
        a = shuffled.getVarCov(individuals=["M01", "F03"], type=kind)
        b = moved.getVarCov(individuals=["M01", "F03"], type=kind)
        for k in a:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-6)


def test_nested_correlation_groups():
    """random ~ 1 | Sex, corAR1(~ 1 | Sex/Subject): nlme 3.1-162 fails; the reference is
    the hand computation in R (block-diagonal AR(1) per subject)."""
    ref = CASES["GV08"]["results"][1]
    assert ref["source"] == "derived" and "dimnames" in ref["nlme_error"]
    C = _fit("GV08").getVarCov(individuals="Female", type="conditional")["Female"].to_numpy()
    assert C.shape == (44, 44)
    assert np.all(C[:4, 4:] == 0) and np.all(C[:4, :4] > 0)


def test_top_level_function_and_alias():
    fit = _fit("GV02")
    for f in (lmmext.getVarCov, lmmext.get_var_cov):
        out = f(fit, individuals=["M01", "F03"], type="marginal")
        np.testing.assert_array_equal(out["F03"], fit.getVarCov(["M01", "F03"], "marginal")["F03"])
        np.testing.assert_array_equal(f(fit), fit.getVarCov())
    np.testing.assert_array_equal(lmmext.getVarCov(fit, individual="F03", type="marginal")["F03"],
                                  fit.get_var_cov("F03", "marginal")["F03"])
    g = _fit("GV06")
    np.testing.assert_array_equal(lmmext.getVarCov(g), g.getVarCov(1))
    np.testing.assert_array_equal(lmmext.getVarCov(g, individual="1"), g.get_var_cov("1"))
    np.testing.assert_array_equal(lmmext.getVarCov(g, 3), g.getVarCov(individual=3))


def test_varcov_objects_are_dataframes():
    D = _fit("GV01").getVarCov()
    assert type(D.copy()) is pd.DataFrame          # derived frames are plain
    assert type(D * 2) is pd.DataFrame
    np.testing.assert_allclose(D.stdevs, np.sqrt(np.diag(D)))
    assert D.stdevs.index.tolist() == ["(Intercept)", "age"]
    out = _fit("GV01").getVarCov(individuals=["M01", "F03"], type="marginal")
    assert isinstance(out, dict) and out.vc_type == "marginal"


# -- the statsmodels doors ------------------------------------------------------------------
def test_statsmodels_door_mixedlm():
    d = load_dataset("Orthodont")
    res = lmmext.MixedLM.from_formula("distance ~ age + Sex", data=d, groups="Subject",
                                      weights=VarIdent(form="~ 1 | Sex"),
                                      correlation=CorAR1(form="~ 1 | Subject")).fit()
    case = CASES["GV02"]
    for ref in case["results"]:
        out = res.getVarCov(individuals=ref["individuals"], type=ref["type"])
        for name, m, rm in _pairs(out, ref):
            _assert_matrix(m.to_numpy(), np.array(rm["value"]), f"door {ref['call']} {name}")
    assert list(res.getVarCov(type="marginal")) == ["M01"]
    np.testing.assert_array_equal(lmmext.getVarCov(res), res.get_var_cov())
    with pytest.raises(ValueError, match="not a group of this model"):
        res.getVarCov(individuals="M99", type="conditional")
    with pytest.raises(ValueError, match="not a group of this model"):
        res.getVarCov(individuals=1, type="conditional")   # labels, not positions


def test_statsmodels_door_gls():
    d = load_dataset("Orthodont")
    res = lmmext.GLS.from_formula("distance ~ Sex * I(age - 11)", data=d,
                                  correlation=CorSymm(form="~ 1 | Subject"),
                                  weights=VarIdent(form="~ 1 | age")).fit()
    for ref in CASES["GV07"]["results"]:
        ind = ref["individuals"]
        out = res.getVarCov(individual=1 if ind is None else ind[0])
        _assert_matrix(out.to_numpy(), np.array(ref["matrices"][0]["value"]), ref["call"])
    np.testing.assert_array_equal(lmmext.getVarCov(res, individual="F03"),
                                  res.nlme.getVarCov("F03"))


# -- nlme's refusals and bad input ----------------------------------------------------------
def _messages():
    return {(e["setup"], e["call"]): e["message"] for e in REFS["errors"]}


def test_multiple_levels_of_nesting_refused_as_nlme():
    msg = _messages()[("fit <- lme(distance ~ age, data = Orthodont, random = ~ 1 | Sex/Subject)",
                       "getVarCov(fit)")]
    assert msg == "not implemented for multiple levels of nesting"
    fit = lme("distance ~ age", data=load_dataset("Orthodont"), random="~ 1 | Sex/Subject")
    for kind in ("random.effects", "conditional", "marginal"):
        with pytest.raises(NotImplementedError, match=msg + r".*Sex/Subject"):
            fit.getVarCov(type=kind)


def test_gls_refusals_as_nlme():
    msgs = _messages()
    d = load_dataset("Orthodont")
    plain = gls("distance ~ age", data=d)
    with pytest.raises(NotImplementedError,
                       match=msgs[("fit <- gls(distance ~ age, data = Orthodont)",
                                   "getVarCov(fit)")]):
        plain.getVarCov()
    ungrouped = gls("distance ~ age", data=d, correlation=CorAR1())
    with pytest.raises(NotImplementedError, match="without a grouping factor"):
        ungrouped.getVarCov()
    g = _fit("GV06")
    with pytest.raises(ValueError, match="'99' was not used in the fit"):
        g.getVarCov("99")                       # nlme: "invalid 'times' argument"
    with pytest.raises(ValueError, match="position 12 is out of range.*1 to 11"):
        g.getVarCov(12)                         # nlme: "subscript out of bounds"
    with pytest.raises(TypeError, match="one individual="):
        g.getVarCov(["1", "2"])
    with pytest.raises(ValueError, match="marginal covariance only"):
        g.getVarCov(1, type="conditional")
    with pytest.raises(ValueError, match="not both"):
        lmmext.getVarCov(g, individuals=1, individual=2)


def test_lme_bad_input():
    fit = _fit("GV01")
    msgs = _messages()
    setup = "fit <- lme(distance ~ age, data = Orthodont, random = ~ 1 | Subject)"
    assert "should be one of" in msgs[(setup, 'getVarCov(fit, type = "foo")')]
    with pytest.raises(ValueError, match="type must be one of 'random.effects', "
                                         "'conditional', 'marginal'"):
        fit.getVarCov(type="foo")
    with pytest.raises(ValueError, match="type must be one of"):
        fit.getVarCov(type="")
    assert "'M99' was not used in the fit" in msgs[
        (setup, 'getVarCov(fit, individuals = "M99", type = "conditional")')].replace(
            "\u2018", "'").replace("\u2019", "'")
    with pytest.raises(ValueError, match="individual 'M99' was not used in the fit"):
        fit.getVarCov(individuals="M99", type="conditional")
    with pytest.raises(ValueError, match="position 99 is out of range.*1 to 27"):
        fit.getVarCov(individuals=99, type="conditional")      # nlme: "individual 'NA' ..."
    with pytest.raises(ValueError, match="position 0 is out of range"):
        fit.getVarCov(individuals=0, type="conditional")
    with pytest.raises(TypeError, match="group label or a 1-based position"):
        fit.getVarCov(individuals=True, type="conditional")
    with pytest.raises(TypeError, match="integer position"):
        fit.getVarCov(individuals=2.5, type="conditional")
    with pytest.raises(TypeError, match="individuals= must be"):
        fit.getVarCov(individuals={"M01"}, type="conditional")
    with pytest.raises(ValueError, match="individuals= is empty"):
        fit.getVarCov(individuals=[], type="conditional")
    with pytest.raises(TypeError, match="getVarCov needs a fit of lmmext.lme"):
        lmmext.getVarCov(load_dataset("Orthodont"))
