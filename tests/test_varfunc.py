"""Variance functions: weights by hand (nlme-reference.md section 3), parameters,
value= / fixed= semantics, strata and reference choice."""
import numpy as np
import pandas as pd
import pytest

from lmmext import VarComb, VarConstPower, VarExp, VarFixed, VarIdent, VarPower, lme

D = pd.DataFrame({"age": [8.0, 10, 12, 14, 8, 10],
                  "Sex": pd.Categorical(["Male"] * 4 + ["Female"] * 2, categories=["Male", "Female"]),
                  "g": ["b", "a", "b", "c", "a", "c"]})


def init(vf):
    vf.initialize(D)
    return vf


def test_varident_weights_and_reference():
    vf = init(VarIdent(form="~ 1 | Sex"))
    assert vf.reference == "Male" and vf.param_names() == ["Female"]
    w = vf.weights(np.log([0.5]))
    np.testing.assert_allclose(w, [1, 1, 1, 1, 2, 2])          # w = 1/delta
    c = vf.coefficients(np.log([0.5]))
    assert c.to_dict() == {"Male": 1.0, "Female": 0.5}


def test_varident_sorted_levels_ref_and_value():
    vf = init(VarIdent(form="~ 1 | g"))                         # strings: sorted levels
    assert vf.levels == ["a", "b", "c"]
    vf = init(VarIdent(value={"c": 3.0}, form="~ 1 | g", ref="b"))
    assert vf.reference == "b" and vf.param_names() == ["a", "c"]
    np.testing.assert_allclose(np.exp(vf.start()), [1.0, 3.0])
    vf = init(VarIdent(value=2.0, form="~ 1 | g"))               # one value: all strata
    np.testing.assert_allclose(np.exp(vf.start()), [2.0, 2.0])


def test_varident_fixed_forms():
    vf = init(VarIdent(value={"Female": 0.5}, form="~ 1 | Sex", fixed=True))
    assert vf.n_params == 0 and vf.coefficients()["Female"] == 0.5
    vf = init(VarIdent(form="~ 1 | Sex", fixed={"Female": 0.5}))   # nlme's form
    assert vf.n_params == 0
    np.testing.assert_allclose(vf.weights([]), [1, 1, 1, 1, 2, 2])


def test_varident_interaction_strata():
    vf = init(VarIdent(form="~ 1 | Sex*g"))
    assert vf.levels[0] == "Male*a"
    assert set(vf.levels) == {"Male*b", "Male*a", "Male*c", "Female*a", "Female*c"}


def test_varpower_varexp_varconstpower_weights():
    v = D["age"].to_numpy()
    vf = init(VarPower(form="~ age"))
    np.testing.assert_allclose(vf.weights([0.7]), v ** -0.7)
    vf = init(VarExp(form="~ age"))
    np.testing.assert_allclose(vf.weights([0.1]), np.exp(-0.1 * v))
    vf = init(VarConstPower(form="~ age"))
    assert vf.param_names() == ["const", "power"]
    np.testing.assert_allclose(vf.start(), [np.log(0.1), 0.0])
    np.testing.assert_allclose(vf.weights([np.log(2.0), 0.5]), 1 / (2.0 + v ** 0.5))
    assert vf.coefficients([np.log(2.0), 0.5]).to_dict() == pytest.approx({"const": 2.0, "power": 0.5})


def test_stratified_varpower_one_power_per_stratum():
    vf = init(VarPower(form="~ age | Sex"))
    assert vf.param_names() == ["Male", "Female"]
    w = vf.weights([0.5, -1.0])
    v = D["age"].to_numpy()
    np.testing.assert_allclose(w, np.r_[v[:4] ** -0.5, v[4:] ** 1.0])


def test_fixed_is_a_value_in_nlme_style_and_a_flag_in_python_style():
    assert init(VarPower(form="~ age", fixed=1.0)).coefficients()["power"] == 1.0
    vf = init(VarPower(value=0.5, form="~ age", fixed=True))
    assert vf.n_params == 0 and vf.coefficients()["power"] == 0.5


def test_varfixed_and_varcomb():
    vf = init(VarFixed("~ age"))
    np.testing.assert_allclose(vf.weights([]), 1 / np.sqrt(D["age"]))
    vc = init(VarComb(VarIdent(form="~ 1 | Sex"), VarPower(form="~ age")))
    assert vc.param_names() == ["A.Female", "B.power"]
    w = vc.weights([np.log(0.5), 0.3])
    np.testing.assert_allclose(w, np.r_[1, 1, 1, 1, 2, 2] * D["age"].to_numpy() ** -0.3)
    assert list(vc.coefficients([0.0, 0.0]).index) == ["A.Male", "A.Female", "B.power"]


def test_varident_single_stratum_equals_no_weights(data):
    O = data("Orthodont")
    O["one"] = "x"
    a = lme("distance ~ age", data=O, random="~ 1 | Subject")
    b = lme("distance ~ age", data=O, random="~ 1 | Subject", weights=VarIdent(form="~ 1 | one"))
    assert b.llf == pytest.approx(a.llf, abs=1e-9)


def test_fit_does_not_depend_on_row_order(data):
    O = data("Orthodont")
    a = lme("distance ~ age", data=O, random="~ 1 | Subject", weights=VarIdent(form="~ 1 | Sex"))
    shuffled = O.sample(frac=1.0, random_state=3)
    b = lme("distance ~ age", data=shuffled, random="~ 1 | Subject",
            weights=VarIdent(form="~ 1 | Sex"))
    assert b.llf == pytest.approx(a.llf, abs=1e-9)
    assert b.variance_params["Female"] == pytest.approx(a.variance_params["Female"], rel=1e-6)
    # residuals come back in the caller's row order
    pd.testing.assert_index_equal(b.resid.index, shuffled.index)
    np.testing.assert_allclose(b.resid.loc[O.index], a.resid, atol=1e-6)


def test_user_structure_is_not_mutated(data):
    O = data("Orthodont")
    vf = VarIdent(form="~ 1 | Sex")
    lme("distance ~ age", data=O, random="~ 1 | Subject", weights=vf)
    assert not vf._initialized
