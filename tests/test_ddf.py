"""Satterthwaite denominator DFs against lmerTest (validation/references_ddf, produced
by validation/R/ddf_cases.R with tight lme4 optimizer control), to 1e-3 relative."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from lmmext.validation import find_dir, fit_case, normalize_name

CASES = json.loads((find_dir() / "references_ddf" / "ddf.json").read_text())


@pytest.fixture(scope="module")
def fits():
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in CASES:
            out[c["id"]] = fit_case(c)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_coefficient_df_and_se_match_lmertest(case, fits):
    res = fits[case["id"]]
    assert res.llf == pytest.approx(case["logLik"], abs=1e-6)
    tab = res.fe_table(ddf="satterthwaite")
    idx = {normalize_name(k): k for k in tab.index}
    for row in case["coef"]:
        name = idx[normalize_name(case.get("name_map", {}).get(row["term"], row["term"]))]
        assert tab.loc[name, "DF"] == pytest.approx(row["df_satterthwaite"], rel=1e-3)
        assert tab.loc[name, "Std.Error"] == pytest.approx(row["se"], rel=1e-4)


@pytest.mark.parametrize("case", [c for c in CASES if c.get("anova_nlme_sequential_satterthwaite")],
                         ids=lambda c: c["id"])
@pytest.mark.parametrize("kind", ["sequential", "marginal"])
def test_nlme_anova_tables_with_satterthwaite_df(case, kind, fits):
    """nlme's sequential / marginal F tests with lmerTest's Satterthwaite machinery
    (contestMD on the same contrasts)."""
    ref = case[f"anova_nlme_{kind}_satterthwaite"]
    tab = fits[case["id"]].anova(type=kind, ddf="satterthwaite")
    got = {normalize_name(k): r for k, r in tab.iterrows()}
    for row in ref:
        g = got[normalize_name(row["term"])]
        assert g["numDF"] == row["NumDF"]
        assert g["denDF"] == pytest.approx(row["DenDF"], rel=1e-3)
        assert g["F-value"] == pytest.approx(row["F"], rel=1e-4)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_kenward_roger_matches_pbkrtest(case, fits):
    """KR DFs and adjusted SEs (pbkrtest::vcovAdj through lmerTest) to 1e-3 relative."""
    res = fits[case["id"]]
    tab = res.fe_table(ddf="kenward-roger")
    idx = {normalize_name(k): k for k in tab.index}
    for row in case["coef"]:
        name = idx[normalize_name(case.get("name_map", {}).get(row["term"], row["term"]))]
        assert tab.loc[name, "DF"] == pytest.approx(row["df_kenward_roger"], rel=1e-3)
        assert tab.loc[name, "Std.Error"] == pytest.approx(row["se_kenward_roger"], rel=1e-4)


@pytest.mark.parametrize("case", [c for c in CASES if c.get("anova_nlme_sequential_kenward_roger")],
                         ids=lambda c: c["id"])
def test_kenward_roger_f_tests(case, fits):
    ref = case["anova_nlme_sequential_kenward_roger"]
    tab = fits[case["id"]].anova(ddf="kenward-roger")
    got = {normalize_name(k): r for k, r in tab.iterrows()}
    for row in ref:
        g = got[normalize_name(row["term"])]
        assert g["denDF"] == pytest.approx(row["DenDF"], rel=1e-3)
        assert g["F-value"] == pytest.approx(row["F"], rel=1e-4)


def test_kenward_roger_needs_reml(data):
    from lmmext import lme
    fit = lme("distance ~ age", data=data("Orthodont"), random="~ 1 | Subject", method="ML")
    with pytest.raises(ValueError, match="REML"):
        fit.coef_df("kenward-roger")
