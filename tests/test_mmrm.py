"""``lmmext.mmrm()``: R mmrm's covariance spellings on lmmext's structures.

References (validation/R/mmrm.R -> validation/references_mmrm/mmrm.json, nlme 3.1-162):

* ``fits``: the spellings nlme can express (us, cs, csh, ar1, ar1h, sp_exp; us by ML and
  on unbalanced data) as gls fits of ``distance ~ Sex * visit`` on Orthodont
  (Potthoff-Roy).  logLik to 1e-6, coefficients, standard errors, sigma and the
  structures' parameters to 1e-4 relative; nlme's F tests (``ddf="containment"``).
* ``by_sex``: group-specific covariances (``us(visit | Sex / Subject)`` ..), which nlme
  cannot fit jointly: each Sex fitted on its own.  With the block-diagonal design
  ``0 + Sex + Sex:visit`` and every parameter separate per Sex, the joint logLik is the
  sum of the separate ones and every estimate is the separate fit's.

The spellings nlme cannot express (toep, toeph, ad, adh, grouped toeph/ad/exp) are
checked against the independent dense (RE)ML of tests/test_cor_toeplitz_ante.py and
tests/test_grouped_cor.py through the structures ``mmrm()`` builds (checked here).

SAS's documentation example "Repeated Measures" of PROC MIXED fits these data
(Potthoff-Roy) with TYPE=UN; its printed numbers could not be retrieved through the
search tool, so none are reproduced here.
"""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import lmmext
import lmmext.validation
from lmmext import (CorAnte, CorAR1, CorCompSymm, CorExp, CorSymm, CorToeplitz, VarIdent,
                    gls)
from lmmext.mmrm import MMRMResults
from lmmext.validation import find_dir


@pytest.fixture(scope="module")
def ref():
    return json.loads((find_dir() / "references_mmrm" / "mmrm.json").read_text())


@pytest.fixture(scope="module")
def orth():
    d = lmmext.validation.load_dataset("Orthodont")
    d["visit"] = pd.Categorical(d["age"].astype(int), categories=[8, 10, 12, 14])
    return d


@pytest.fixture(scope="module")
def data(orth, ref):
    drop = np.asarray(ref["drop_rows"]) - 1              # R's 1-based row numbers
    return {"O": orth, "OU": orth.drop(index=drop).reset_index(drop=True)}


def _values(x):
    return np.asarray(list(x.values()) if isinstance(x, dict) else x, dtype=float)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


SPELLINGS = {"MM01": "us(visit | Subject)", "MM02": "us(visit | Subject)",
             "MM03": "cs(visit | Subject)", "MM04": "csh(visit | Subject)",
             "MM05": "ar1(visit | Subject)", "MM06": "ar1h(visit | Subject)",
             "MM07": "sp_exp(age | Subject)", "MM08": "us(visit | Subject)"}


@pytest.mark.parametrize("cid", list(SPELLINGS))
def test_mmrm_equals_nlme(cid, ref, data):
    r = ref["fits"][cid]
    fit = lmmext.mmrm("distance ~ Sex * visit + " + SPELLINGS[cid], data=data[r["data"]],
                      reml=r["method"] == "REML")
    assert isinstance(fit, MMRMResults) and isinstance(fit, lmmext.results.GLSResults)
    assert fit.converged and fit.nobs == r["nobs"]
    assert fit.llf == pytest.approx(r["logLik"], abs=1e-6)
    np.testing.assert_allclose(fit.fe_params.to_numpy(), _values(r["coef"]), rtol=1e-4)
    np.testing.assert_allclose(fit.bse_fe.to_numpy(), _values(r["se"]), rtol=1e-4)
    assert fit.sigma == pytest.approx(r["sigma"], rel=1e-4)
    np.testing.assert_allclose(fit.correlation_params.to_numpy(), _values(r["cor"]),
                               rtol=1e-4)
    if r["var"]:
        # nlme orders varIdent's strata by appearance: compare by name
        np.testing.assert_allclose(fit.variance_params[list(r["var"])].to_numpy(),
                                   _values(r["var"]), rtol=1e-4)
    else:
        assert fit.frame.varfunc is None
    for kind, key in (("sequential", "anova"), ("marginal", "anova_marginal")):
        tab = fit.anova(type=kind, ddf="containment")
        np.testing.assert_allclose(tab["F-value"].to_numpy(),
                                   [row["F-value"] for row in r[key]], rtol=1e-4)
        np.testing.assert_allclose(tab["denDF"].to_numpy(),
                                   [row["denDF"] for row in r[key]])


GROUPED = {"MG01": "us(visit | Sex / Subject)", "MG02": "us(visit | Sex / Subject)",
           "MG03": "ar1h(visit | Sex / Subject)", "MG04": "cs(visit | Sex / Subject)",
           "MG05": "csh(visit | Sex / Subject)"}


@pytest.mark.parametrize("cid", list(GROUPED))
def test_group_specific_covariance_equals_separate_nlme_fits(cid, ref, data):
    r = ref["by_sex"][cid]
    reml = r["levels"]["Male"]["method"] == "REML"
    fit = lmmext.mmrm("distance ~ 0 + Sex + Sex:visit + " + GROUPED[cid],
                      data=data[r["data"]], reml=reml)
    assert fit.converged
    assert fit.llf == pytest.approx(r["logLik_sum"], abs=1e-6)
    hetero = GROUPED[cid].split("(")[0] in ("us", "ar1h", "csh")
    for sex in ("Male", "Female"):
        part = r["levels"][sex]
        coef = _values(part["coef"])
        mine = [fit.fe_params[f"Sex[{sex}]"]] + [
            fit.fe_params[f"Sex[{sex}]:visit[T.{v}]"] for v in (10, 12, 14)]
        np.testing.assert_allclose(mine, coef, rtol=1e-4)
        se = [fit.bse_fe[f"Sex[{sex}]"]] + [
            fit.bse_fe[f"Sex[{sex}]:visit[T.{v}]"] for v in (10, 12, 14)]
        # REML: equal; ML: nlme's gls scales the ML covariance by N/(N - p) with its
        # own N and p, so the joint and separate SEs differ by that factor
        if reml:
            np.testing.assert_allclose(se, _values(part["se"]), rtol=1e-4)
        cor = fit.correlation_params
        np.testing.assert_allclose(cor[[k for k in cor.index if k.endswith(":" + sex)]],
                                   _values(part["cor"]), rtol=1e-4, atol=1e-6)
        # standard deviation per visit: sigma * ratio of (visit, Sex) or of Sex
        vp = fit.variance_params
        ratios = (np.array([part["var"][str(a)] for a in (8, 10, 12, 14)]) if hetero
                  else np.ones(1))
        sd_sep = part["sigma"] * ratios
        sd_joint = fit.sigma * (np.array([vp[f"{a}*{sex}"] for a in (8, 10, 12, 14)])
                                if hetero else np.array([vp[sex]]))
        np.testing.assert_allclose(sd_joint, sd_sep, rtol=1e-4)


# ---------------------------------------------------------------------------------
# what mmrm() builds
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("term, cls, weights", [
    ("us(visit | Subject)", CorSymm, "~ 1 | visit"),
    ("toep(visit | Subject)", CorToeplitz, None),
    ("toeph(visit | Subject)", CorToeplitz, "~ 1 | visit"),
    ("ar1(visit | Subject)", CorAR1, None),
    ("ar1h(visit | Subject)", CorAR1, "~ 1 | visit"),
    ("ad(visit | Subject)", CorAnte, None),
    ("adh(visit | Subject)", CorAnte, "~ 1 | visit"),
    ("cs(visit | Subject)", CorCompSymm, None),
    ("csh(visit | Subject)", CorCompSymm, "~ 1 | visit"),
    ("sp_exp(age | Subject)", CorExp, None),
    ("toeph(visit | Sex / Subject)", CorToeplitz, "~ 1 | visit * Sex"),
    ("ad(visit | Sex / Subject)", CorAnte, "~ 1 | Sex"),
])
def test_structures_built(orth, term, cls, weights):
    fit = _quiet(lmmext.mmrm, "distance ~ Sex * visit", data=orth, covariance=term)
    cs, vf = fit.frame.corstruct, fit.frame.varfunc
    assert type(cs).__name__ == cls.__name__ and isinstance(cs, cls)
    assert cs.form.grouping == ("Subject",)
    assert cs.group == ("Sex" if "/" in term else None)
    assert cs.form.covariate == ("age" if cls is CorExp else "visit_position")
    assert (vf is None) == (weights is None)
    if weights:
        assert vf.form.text == weights
    assert fit.covariance == term


@pytest.mark.parametrize("term, cor, weights", [
    ("toeph(visit | Subject)", lambda: CorToeplitz(form="~ t | Subject"),
     lambda: VarIdent(form="~ 1 | visit")),
    ("adh(visit | Sex / Subject)", lambda: CorAnte(form="~ t | Subject", group="Sex"),
     lambda: VarIdent(form="~ 1 | visit * Sex")),
])
def test_same_fit_as_the_structures(orth, term, cor, weights):
    """toeph and adh are validated against the dense REML in test_cor_toeplitz_ante.py
    and test_grouped_cor.py; mmrm() is exactly those structures."""
    d = orth.assign(t=((orth["age"] - 8) // 2 + 1).astype(int))
    a = lmmext.mmrm("distance ~ Sex * visit + " + term, data=d)
    b = _quiet(gls, "distance ~ Sex * visit", data=d, correlation=cor(), weights=weights())
    assert a.llf == pytest.approx(b.llf, abs=1e-8)
    np.testing.assert_allclose(a.fe_params, b.fe_params, rtol=1e-7)


def test_integer_visits_and_gaps(orth, data):
    """Integer positions work as the Categorical's codes; a missing visit is a gap."""
    d = data["OU"].assign(v=data["OU"]["visit"].cat.codes + 1)
    a = lmmext.mmrm("distance ~ Sex * visit + toep(v | Subject)", data=d)
    b = lmmext.mmrm("distance ~ Sex * visit + toep(visit | Subject)", data=d)
    assert a.llf == pytest.approx(b.llf, abs=1e-8)


def test_default_ddf_and_results_api(orth):
    fit = lmmext.mmrm("distance ~ Sex * visit + us(visit | Subject)", data=orth)
    assert fit.default_ddf == "kenward-roger"
    pd.testing.assert_frame_equal(fit.fe_table(), fit.fe_table("kenward-roger"))
    pd.testing.assert_frame_equal(fit.anova(), fit.anova(ddf="kenward-roger"))
    pd.testing.assert_frame_equal(lmmext.anova(fit), fit.anova(ddf="kenward-roger"))
    assert str(fit.summary()) == str(fit.summary("kenward-roger"))
    assert "Formula: ~ visit_position | Subject" in str(fit.summary())
    sat = lmmext.mmrm("distance ~ Sex * visit", data=orth, covariance="us(visit | Subject)",
                      ddf="Satterthwaite")
    assert sat.default_ddf == "satterthwaite"
    pd.testing.assert_frame_equal(sat.fe_table(), fit.fe_table("satterthwaite"))
    assert not np.allclose(sat.anova()["denDF"], fit.anova(ddf="containment")["denDF"])
    # gls results: intervals, robust SEs
    iv = fit.intervals()
    assert list(iv.corStruct.index) == list(fit.correlation_params.index)
    ct = fit.coef_test("CR2")
    assert list(ct.index) == list(fit.fe_params.index)
    np.testing.assert_allclose(ct["Estimate"], fit.fe_params)
    ml = lmmext.mmrm("distance ~ Sex * visit + us(visit | Subject)", data=orth, reml=False)
    assert ml.method == "ML"


def test_covariance_term_anywhere_in_formula(orth):
    a = lmmext.mmrm("distance ~ ar1(visit | Subject) + Sex * visit", data=orth)
    b = lmmext.mmrm("distance ~ Sex + ar1(visit | Subject) + Sex:visit + visit", data=orth)
    c = lmmext.mmrm("distance ~ Sex * visit", data=orth, covariance=" ar1(visit|Subject) ")
    assert a.llf == pytest.approx(c.llf, abs=1e-8)
    assert b.llf == pytest.approx(c.llf, abs=1e-8)


# ---------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------
def test_errors(orth):
    f = "distance ~ Sex * visit"
    with pytest.raises(ValueError, match=r"unknown covariance 'un\(visit \| Subject\)'; "
                                         r"accepted: us\(visit \| subject\), toep"):
        lmmext.mmrm(f, orth, covariance="un(visit | Subject)")
    with pytest.raises(ValueError, match="no covariance term; add one to the formula or "
                                         "give covariance="):
        lmmext.mmrm(f, orth)
    with pytest.raises(ValueError, match="either in the formula or as covariance=, not both"):
        lmmext.mmrm(f + " + us(visit | Subject)", orth, covariance="ar1(visit | Subject)")
    with pytest.raises(ValueError, match="more than one covariance term"):
        lmmext.mmrm(f + " + us(visit | Subject) + ar1(visit | Subject)", orth)
    with pytest.raises(ValueError, match=r"must read 'us\(visit \| subject\)' or "
                                         r"'us\(visit \| group / subject\)'"):
        lmmext.mmrm(f, orth, covariance="us(visit)")
    with pytest.raises(ValueError, match="us takes one visit variable"):
        lmmext.mmrm(f, orth, covariance="us(visit, age | Subject)")
    with pytest.raises(KeyError, match="unknown column 'Arm'"):
        lmmext.mmrm(f, orth, covariance="us(visit | Arm / Subject)")
    with pytest.raises(ValueError, match="ddf must be 'containment', 'satterthwaite' or "
                                         "'kenward-roger'"):
        lmmext.mmrm(f, orth, covariance="us(visit | Subject)", ddf="residual")
    with pytest.raises(ValueError, match="reml must be True or False"):
        lmmext.mmrm(f, orth, covariance="us(visit | Subject)", reml="REML")
    with pytest.raises(ValueError, match="covariance must be a string"):
        lmmext.mmrm(f, orth, covariance=CorSymm())


def test_visit_errors(orth):
    f = "distance ~ Sex * age"
    d = orth.assign(vs=orth["visit"].astype(str))
    with pytest.raises(ValueError, match=r"visit 'vs' has dtype \w+; the visit must be a "
                                         r"pandas Categorical \(its category order is the "
                                         r"visit order, positions 1..K\) or integer-valued"):
        lmmext.mmrm(f, d, covariance="us(vs | Subject)")
    d = orth.assign(t=orth["age"] / 3.0)
    with pytest.raises(ValueError, match=r"toep needs integer visit positions; subject 'M01' "
                                         r"has t = 2.66667.*sp_exp\(time \| subject\)"):
        lmmext.mmrm(f, d, covariance="toep(t | Subject)")
    d = orth.copy()
    d.loc[1, "visit"] = 8                                 # M01 twice at visit 8
    with pytest.raises(ValueError, match=r"subject 'M01' has more than one row at "
                                         r"visit = 8; us needs visits unique "
                                         r"within each subject"):
        lmmext.mmrm(f, d, covariance="us(visit | Subject)")
    d = orth.copy()
    d.loc[1, "age"] = 8
    with pytest.raises(ValueError, match="subject 'M01' has more than one row at age = 8"):
        lmmext.mmrm(f, d, covariance="sp_exp(age | Subject)")
    d = orth.assign(arm=np.where(np.arange(len(orth)) % 2 == 0, "A", "B"))
    with pytest.raises(ValueError, match="group='arm' must be a between-subject factor"):
        lmmext.mmrm(f, d, covariance="us(visit | arm / Subject)")
    d = orth.assign(g=orth["Sex"].astype(str))
    with pytest.raises(ValueError, match="sp_exp coordinate 'g' must be numeric"):
        lmmext.mmrm(f, d, covariance="sp_exp(g | Subject)")


def test_ls_means_at_each_visit(orth):
    """Complete data, unstructured covariance, cell-means model: the LS-means are the
    observed cell means, their variance Sigma_jj / n_sex, and Kenward-Roger's degrees
    of freedom those of the two-sample Hotelling problem, n - 2 = 25 (an independent
    derivation; lmmext.emmeans itself is tested in test_emmeans.py)."""
    fit = lmmext.mmrm("distance ~ Sex * visit + us(visit | Subject)", data=orth)
    lsm = lmmext.emmeans(fit, "Sex", by="visit", ddf="kenward-roger").summary()
    cells = orth.groupby(["Sex", "visit"], observed=True)["distance"].agg(["mean", "size"])
    sigma = np.diag(fit.getVarCov("M01").to_numpy())        # same for every subject
    for _, row in lsm.iterrows():
        mean, n = cells.loc[(row["Sex"], row["visit"])]
        j = [8, 10, 12, 14].index(int(row["visit"]))
        assert row["emmean"] == pytest.approx(mean, rel=1e-6)
        assert row["SE"] == pytest.approx(np.sqrt(sigma[j] / n), rel=1e-4)
        assert row["df"] == pytest.approx(25.0, rel=1e-4)


def test_emmeans_defaults_to_the_fits_ddf():
    """emmeans on an mmrm() fit uses the fit's ddf (Kenward-Roger by default): with
    complete data and an unstructured covariance a between-subject contrast has
    27 - 2 = 25 degrees of freedom (containment would give N - p = 92)."""
    import lmmext
    from lmmext.validation import load_dataset
    O = load_dataset("Orthodont")
    O["visit"] = pd.Categorical(O["age"], categories=[8, 10, 12, 14])
    fit = lmmext.mmrm("distance ~ Sex * visit + us(visit | Subject)", data=O)
    em = lmmext.emmeans(fit, "Sex", by="visit")
    assert em.ddf == "kenward-roger"
    np.testing.assert_allclose(em.summary()["df"], 25.0, rtol=1e-5)
    assert lmmext.emmeans(fit, "Sex", ddf="containment").ddf == "containment"
