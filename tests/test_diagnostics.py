"""Variogram and ACF against nlme 3.1-162 (validation/references_diag/diagnostics.json,
written by validation/R/diagnostics.R), plus hand-derived checks and bad input."""
import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmmext import (ACF, ACFResult, CorAR1, CorExp, CorSpher, Variogram, VariogramResult,
                    gls, lme)
from lmmext.validation import fit_case, load_dataset

REF_FILE = Path(__file__).resolve().parents[1] / "validation" / "references_diag" / "diagnostics.json"
CASES = json.loads(REF_FILE.read_text())

# Semivariances and autocorrelations are built from products and squared differences
# of fitted residuals, which agree with nlme's to ~1e-6 relative (5e-6 for the
# BodyWeight fit, whose likelihood is flat in the corExp range); differencing and
# squaring amplify that, so values are compared to 1e-4 relative.  Values close to 0
# (autocorrelations near 0, single pairs with nearly equal residuals) inherit the
# absolute error of the residuals, so the comparison also allows 1e-5 of the
# largest value in the table.
VALUE_RTOL = 1e-4
VALUE_ATOL_OF_MAX = 1e-5
# distances are computed from the data with the same floating-point operations as R
DIST_RTOL = 1e-10


# Wheat2's spatial gls fits take ~15 s each; test_validation (cases C12, C14) checks
# that lmmext's fits reproduce nlme's.  Here their structure is held fixed at nlme's
# estimates, so the residuals are nlme's (closed-form beta and sigma given the structure).
FIXED_AT_NLME = {"wheat_spher": (CorSpher, {"nugget": True}), "wheat_exp": (CorExp, {})}


@lru_cache(maxsize=None)
def _fit(fit_id):
    case = next(c for c in CASES if c["fit"] == fit_id)
    if fit_id not in FIXED_AT_NLME:
        return fit_case(case)
    cls, options = FIXED_AT_NLME[fit_id]
    value = list(case["corStruct"].values())
    structure = cls(value=value, form="~ latitude + longitude", fixed=True, **options)
    return gls("Q('yield') ~ variety - 1", data=load_dataset("Wheat2"), correlation=structure)


def _compute(case):
    kwargs = dict(case["kwargs"])
    if "form" in kwargs:          # coordinates may be columns the model does not use
        kwargs["data"] = load_dataset(case["dataset"])
    func = Variogram if case["func"] == "Variogram" else ACF
    return func(_fit(case["fit"]), **kwargs)


def _assert_values(ours, ref, what):
    ours, ref = np.asarray(ours, dtype=float), np.asarray(ref, dtype=float)
    atol = VALUE_ATOL_OF_MAX * np.max(np.abs(ref))
    np.testing.assert_allclose(ours, ref, rtol=VALUE_RTOL, atol=atol, err_msg=what)


def test_reference_file_covers_the_required_cases():
    ids = {c["fit"] for c in CASES}
    assert {"wheat_spher", "ovary_lme_ar1", "ovary_gls_ar1", "bw_lme_exp", "orth_lme"} <= ids
    kwargs = [c["kwargs"] for c in CASES]
    assert any(k.get("robust") for k in kwargs) and any("maxDist" in k for k in kwargs)
    assert {"normalized", "response"} <= {k.get("resType") for k in kwargs}
    assert sum(c["model"] is not None for c in CASES) >= 1


@pytest.mark.parametrize("case", CASES, ids=[f"{c['id']}-{c['fit']}-{c['func']}" for c in CASES])
def test_matches_nlme(case):
    fit = _fit(case["fit"])
    # the same model as nlme's (else the comparison below is meaningless)
    assert fit.llf == pytest.approx(case["logLik"], abs=1e-6)
    out = _compute(case)
    ref = case["table"]
    if case["func"] == "ACF":
        assert isinstance(out, ACFResult)
        assert out["lag"].tolist() == ref["lag"]
        assert out["n_pairs"].tolist() == ref["n_pairs"]
        _assert_values(out["ACF"], ref["ACF"], f"{case['id']} ACF")
        return
    assert isinstance(out, VariogramResult)
    assert len(out) == len(ref["dist"])
    if ref["n_pairs"]:
        assert out["n_pairs"].tolist() == ref["n_pairs"]
    else:                                   # collapse = "none": one row per pair
        assert (out["n_pairs"] == 1).all()
    np.testing.assert_allclose(out["dist"], ref["dist"], rtol=DIST_RTOL, err_msg=case["id"])
    _assert_values(out["variog"], ref["variog"], f"{case['id']} variog")
    if case["model"] is None:
        assert out.model is None
    else:
        np.testing.assert_allclose(out.model["dist"], case["model"]["dist"], rtol=DIST_RTOL)
        _assert_values(out.model["variog"], case["model"]["variog"], f"{case['id']} model")


def test_rows_in_any_order_give_nlmes_numbers_on_sorted_data():
    """nlme mixes up rows of unsorted data for form ~ 1 (case D11); lmmext does not:
    reversing the order of the mares (each mare's rows kept in order) changes nothing."""
    case = next(c for c in CASES if c["id"] == "D11")
    ovary = load_dataset("Ovary")
    mares = list(pd.unique(ovary["Mare"]))[::-1]
    shuffled = pd.concat([ovary[ovary["Mare"] == m] for m in mares])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lme("follicles ~ np.sin(2*np.pi*Time) + np.cos(2*np.pi*Time)", data=shuffled,
                  random={"Mare": "pdDiag(~ np.sin(2*np.pi*Time))"}, correlation=CorAR1())
    out = Variogram(fit)
    assert out["n_pairs"].tolist() == case["table"]["n_pairs"]
    _assert_values(out["variog"], case["table"]["variog"], "shuffled D11")


@pytest.fixture(scope="module")
def orth_gls():
    data = load_dataset("Orthodont")
    return gls("distance ~ age + Sex", data=data, correlation=CorAR1(form="~ 1 | Subject")), data


def _brute_force_pairs(resid, groups, position):
    """Every within-group pair by a double loop: (semivariance, distance)."""
    out = []
    for g in pd.unique(groups):
        rows = np.flatnonzero(groups == g)
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                i, j = rows[a], rows[b]
                out.append(((resid[i] - resid[j]) ** 2 / 2, abs(position[i] - position[j])))
    return np.array(out)


def test_uncollapsed_pairs_equal_a_double_loop(orth_gls):
    fit, data = orth_gls
    pairs = _brute_force_pairs(fit.resid_pearson.to_numpy(), data["Subject"].to_numpy(),
                               data["age"].to_numpy())
    out = Variogram(fit, form="~ age", collapse="none")
    assert len(out) == 27 * 6
    key = np.lexsort((pairs[:, 0], pairs[:, 1]))
    ours = np.lexsort((out["variog"], out["dist"]))
    np.testing.assert_allclose(out["dist"].to_numpy()[ours], pairs[key, 1], rtol=0)
    np.testing.assert_allclose(out["variog"].to_numpy()[ours], pairs[key, 0], rtol=1e-12)


def test_empty_distance_class_is_dropped_for_gls_too(orth_gls):
    """Orthodont: per subject 3 pairs 2 years apart, 2 at 4, 1 at 6 (81, 54, 27 in all).
    With nint = 2 the quantile breaks are 2, 3 (median between the 81st and 82nd of 162
    sorted distances: 2 and 4) and 6: (2, 3] is empty, (3, 6] holds the 81 pairs at 4
    and 6 with median distance 4.  nlme's gls method would keep a NaN row for (2, 3]."""
    fit, data = orth_gls
    out = Variogram(fit, form="~ age", nint=2)
    assert out["n_pairs"].tolist() == [81]
    assert out["dist"].tolist() == [4.0]
    pairs = _brute_force_pairs(fit.resid_pearson.to_numpy(), data["Subject"].to_numpy(),
                               data["age"].to_numpy())
    assert out["variog"].iloc[0] == pytest.approx(pairs[pairs[:, 1] > 3, 0].mean(), rel=1e-12)


def test_robust_estimator_is_cressie_hawkins(orth_gls):
    fit, data = orth_gls
    out = Variogram(fit, form="~ age", robust=True)
    pairs = _brute_force_pairs(fit.resid_pearson.to_numpy(), data["Subject"].to_numpy(),
                               data["age"].to_numpy())
    for _, row in out.iterrows():
        v = pairs[pairs[:, 1] == row["dist"], 0]
        # (mean |r_i - r_j|^(1/2))^4 / (0.457 + 0.494 / n) with |dr|^(1/2) = (2 v)^(1/4)
        expected = np.mean((2 * v) ** 0.25) ** 4 / (0.457 + 0.494 / len(v)) / 2
        assert row["variog"] == pytest.approx(expected, rel=1e-12)


def test_acf_of_gls_without_groups_uses_form(orth_gls):
    _, data = orth_gls
    fit = gls("distance ~ age + Sex", data=data)
    grouped = ACF(fit, form="~ 1 | Subject", data=data)
    assert grouped["n_pairs"].tolist() == [108, 81, 54, 27]
    one_series = ACF(fit)
    # one series of 108 residuals: maxLag = min(107, int(10 log10(108))) = 20
    assert one_series["lag"].tolist() == list(range(21))
    assert one_series["n_pairs"].tolist() == [108 - k for k in range(21)]
    e = fit.resid_pearson.to_numpy()
    lag1 = (e[:-1] @ e[1:] / 107) / (e @ e / 108)
    assert one_series["ACF"].iloc[1] == pytest.approx(lag1, rel=1e-12)


def test_results_methods_and_dataframe_behaviour(orth_gls):
    fit, _ = orth_gls
    pd.testing.assert_frame_equal(fit.acf(maxLag=2), ACF(fit, maxLag=2))
    g = _fit("wheat_exp")
    v = g.variogram(maxDist=20)
    assert v["dist"].max() <= 20
    assert isinstance(v.head(3), VariogramResult)
    assert v.head(3).model is v.model and v.model is not None
    assert list(v.columns) == ["variog", "dist", "n_pairs"]
    assert Variogram(g, resType="n").model is None            # R's partial matching


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"resType": "deviance"}, ValueError, "resType"),
    ({"collapse": "median"}, ValueError, "collapse"),
    ({"nint": 0}, ValueError, "nint"),
    ({"nint": 2.5}, ValueError, "nint"),
    ({"maxDist": "far"}, ValueError, "maxDist"),
    ({"robust": "yes"}, ValueError, "robust"),
    ({"metric": "cosine", "form": "~ age"}, ValueError, "metric"),
    ({"breaks": ["a", "b"]}, ValueError, "breaks"),
    ({"form": "~ age", "breaks": [3, 5], "nint": 5}, ValueError, "nint"),
    ({"form": "~ height"}, KeyError, "height"),
    ({"form": "~ age", "maxDist": 1}, ValueError, "no pairs"),
    ({"form": "age"}, ValueError, "one-sided"),
    ({"length_out": 0}, ValueError, "length_out"),
])
def test_variogram_bad_input(orth_gls, kwargs, exc, match):
    fit, _ = orth_gls
    with pytest.raises(exc, match=match):
        Variogram(fit, **kwargs)


def test_bad_input_specific_to_fits():
    data = load_dataset("Orthodont")
    fit = lme("distance ~ age", data=data, random="~ 1 | Subject")
    with pytest.raises(ValueError, match="innermost random effects grouping 'Subject'"):
        Variogram(fit, form="~ age | Sex")
    with pytest.raises(ValueError, match="form= applies to gls"):
        ACF(fit, form="~ 1 | Sex")
    with pytest.raises(ValueError, match="maxLag"):
        ACF(fit, maxLag=-1)
    with pytest.raises(TypeError, match="lmmext fit"):
        Variogram(data)
    with pytest.raises(ValueError, match="lacks 1 row"):
        Variogram(fit, form="~ age", data=data.iloc[1:])
    with pytest.raises(ValueError, match="metric 'euclidean'; give form="):
        Variogram(_fit("wheat_exp"), metric="manhattan")
