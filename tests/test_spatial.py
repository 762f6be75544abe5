"""Spatial correlation structures in fitted models: bad coordinates, missing values,
duplicated locations and one-plot groups.

The fits use ``validation/data/sim_spatial.csv`` (irregular plot coordinates x, y
within 36 fields, see validation/R/cases_spatial.R).  Expected values
come from nlme (validation/references/spatial.json) or from the same fit on data with
the offending rows removed by hand.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmmext import CorExp, CorGaus, CorLin, CorRatio, CorSpher, gls, lme
from lmmext.validation import find_dir

SPATIAL = [CorExp, CorGaus, CorLin, CorRatio, CorSpher]
FORMULA = "biomass ~ trt + moist"


@pytest.fixture
def fields(data):
    """sim_spatial: 36 fields, 348 plots (an lme fit with CorExp takes ~0.3 s)."""
    return data("sim_spatial")


def _lme(d, cs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lme(FORMULA, data=d, random="~ 1 | field", correlation=cs, **kw)


# ---------------------------------------------------------------------------------
# duplicated locations
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", SPATIAL)
def test_duplicate_location_without_nugget_suggests_nugget(fields, cls):
    d = fields.copy()
    second = d.index[d["field"] == "F03"][1]
    first = d.index[d["field"] == "F03"][0]
    d.loc[second, ["x", "y"]] = d.loc[first, ["x", "y"]].to_numpy()
    with pytest.raises(ValueError, match=r"group 'F03'.*same location.*nugget=True"):
        _lme(d, cls(form="~ x + y | field"))


def test_duplicate_location_with_nugget_fits(fields):
    d = fields.copy()
    rows = d.index[d["field"] == "F03"]
    d.loc[rows[1], ["x", "y"]] = d.loc[rows[0], ["x", "y"]].to_numpy()
    res = _lme(d, CorExp(form="~ x + y | field", nugget=True))
    assert np.isfinite(res.llf)
    # two rows at one location correlate 1 - nugget
    cs = res.frame.corstruct
    C = cs.correlation_matrix(cs.to_unconstrained(res.correlation_params), "F03")
    assert C[0, 1] == pytest.approx(1 - res.correlation_params["nugget"], rel=1e-12)


def test_same_location_in_different_groups_is_allowed(fields):
    d = fields.copy()
    a = d.index[d["field"] == "F01"][0]
    b = d.index[d["field"] == "F02"][0]
    d.loc[b, ["x", "y"]] = d.loc[a, ["x", "y"]].to_numpy()
    res = _lme(d, CorExp(form="~ x + y | field"))
    assert np.isfinite(res.llf)


# ---------------------------------------------------------------------------------
# missing, infinite and non-numeric coordinates
# ---------------------------------------------------------------------------------
def _with_nan_coordinates(d):
    d = d.copy()
    d["x"] = d["x"].astype(float)
    d.loc[[3, 17], "x"] = np.nan
    d.loc[40, "y"] = np.nan
    return d, [3, 17, 40]


@pytest.mark.parametrize("fit", ["lme", "gls"])
def test_nan_coordinates_are_dropped_like_missing_values(fields, fit):
    d, bad = _with_nan_coordinates(fields)
    cs = CorExp(form="~ x + y | field", nugget=True)
    if fit == "lme":
        res, ref = _lme(d, cs), _lme(fields.drop(index=bad).reset_index(drop=True), cs)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = gls(FORMULA, data=d, correlation=cs)
            ref = gls(FORMULA, data=fields.drop(index=bad).reset_index(drop=True), correlation=cs)
    assert res.n_dropped == 3 and ref.n_dropped == 0
    assert res.nobs == len(fields) - 3
    assert res.llf == pytest.approx(ref.llf, abs=1e-9)
    np.testing.assert_allclose(res.fe_params, ref.fe_params, rtol=1e-8)
    np.testing.assert_allclose(res.correlation_params, ref.correlation_params, rtol=1e-7)
    assert "3 rows with missing values dropped" in str(res.summary())


def test_nan_coordinates_with_missing_raise_name_the_column(fields):
    d, _ = _with_nan_coordinates(fields)
    d["y"] = fields["y"]                      # only x is missing now
    with pytest.raises(ValueError, match=r"missing values in column\(s\) \['x'\]"):
        _lme(d, CorExp(form="~ x + y | field"), missing="raise")


@pytest.mark.parametrize("col", ["x", "y"])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_coordinates_name_the_column(fields, col, value):
    d = fields.copy()
    d[col] = d[col].astype(float)
    d.loc[5, col] = value
    with pytest.raises(ValueError, match=rf"CorGaus: coordinate '{col}' has missing or infinite"):
        _lme(d, CorGaus(form="~ x + y | field", nugget=True))
    with pytest.raises(ValueError, match=rf"coordinate '{col}'"):
        gls(FORMULA, data=d, correlation=CorGaus(form="~ x + y | field"))


@pytest.mark.parametrize("as_category", [False, True])
def test_non_numeric_coordinate_is_rejected(fields, as_category):
    d = fields.copy()
    d["y"] = d["y"].map(lambda v: f"{v:.1f}m")
    if as_category:
        d["y"] = d["y"].astype("category")
    with pytest.raises(ValueError, match=r"CorSpher coordinate 'y' must be numeric"):
        _lme(d, CorSpher(form="~ x + y | field"))


# ---------------------------------------------------------------------------------
# groups with a single observation
# ---------------------------------------------------------------------------------
def _reference(case_id):
    cases = json.loads((Path(find_dir()) / "references" / "spatial.json").read_text())
    return next(c for c in cases if c["id"] == case_id)


def test_one_plot_field_matches_nlme(data):
    """sim_spatial's field F36 has one plot (a 1x1 correlation block): its BLUP and the
    fit as a whole agree with nlme (case P01)."""
    d = data("sim_spatial")
    assert (d["field"] == "F36").sum() == 1
    ref = _reference("P01")
    res = _lme(d, CorExp(form="~ x + y | field", nugget=True))
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-6)
    blup = res.ranef().loc["F36", "Intercept"]
    assert blup == pytest.approx(ref["ranef"]["field"]["F36"]["(Intercept)"], abs=1e-4 * ref["sigma"])
    cs = res.frame.corstruct
    np.testing.assert_array_equal(
        cs.correlation_matrix(cs.to_unconstrained(res.correlation_params), "F36"), [[1.0]])


CORR = {CorExp: lambda x: np.exp(-x), CorGaus: lambda x: np.exp(-x ** 2),
        CorRatio: lambda x: 1 / (1 + x ** 2), CorLin: lambda x: np.maximum(1 - x, 0),
        CorSpher: lambda x: np.where(x < 1, 1 - 1.5 * x + 0.5 * x ** 3, 0)}


@pytest.mark.parametrize("cls", SPATIAL)
def test_one_observation_groups_in_gls_match_dense_likelihood(fields, cls):
    """Three extra one-row groups among the fields, correlation held at (range 12,
    nugget 0.3): the REML log-likelihood equals the dense formula of the nlme
    reference (section 2.2) with 1x1 blocks for the one-row groups."""
    extra = fields.iloc[[0, 9, 20]].copy()
    extra["field"] = ["S1", "S2", "S3"]
    d = pd.concat([fields.assign(field=fields["field"].astype(str)), extra], ignore_index=True)
    rng, nugget = 12.0, 0.3
    res = gls(FORMULA, data=d, correlation=cls(value=[rng, nugget], form="~ x + y | field",
                                              nugget=True, fixed=True))
    # dense block-diagonal correlation matrix in data order
    xy, g = d[["x", "y"]].to_numpy(), d["field"].to_numpy()
    D = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    C = np.where(g[:, None] == g[None, :], (1 - nugget) * CORR[cls](D / rng), 0.0)
    np.fill_diagonal(C, 1.0)
    X = np.column_stack([np.ones(len(d)), d["trt"] == "fert", d["moist"]]).astype(float)
    y = d["biomass"].to_numpy()
    Ci = np.linalg.inv(C)
    XtCiX = X.T @ Ci @ X
    beta = np.linalg.solve(XtCiX, X.T @ Ci @ y)
    r = y - X @ beta
    Nr = len(y) - X.shape[1]
    s2 = r @ Ci @ r / Nr
    ll = (-Nr / 2 * (np.log(2 * np.pi) + 1 + np.log(s2)) - 0.5 * np.linalg.slogdet(C)[1]
          - 0.5 * np.linalg.slogdet(XtCiX)[1])
    assert res.llf == pytest.approx(ll, abs=1e-8)
    np.testing.assert_allclose(res.fe_params.to_numpy(), beta, rtol=1e-9)
    np.testing.assert_array_equal(res.frame.corstruct.correlation_matrix(None, "S2"), [[1.0]])
