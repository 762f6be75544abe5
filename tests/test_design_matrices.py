"""The design matrices built from patsy's design information (lmmext.design_matrices)
equal patsy's own dmatrices / dmatrix on all rows: names, values and levels, for plain
columns of every kind and for the formulas that take patsy's route."""
import numpy as np
import pandas as pd
import patsy
import pytest

from lmmext.design_matrices import build_matrix, design_info, design_matrices


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 300
    d = pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "t": rng.uniform(0, 5, n),
        "k": rng.integers(1, 5, n),                               # integers, C(k) levels
        "s": rng.choice(["b", "a", "c"], n),                      # strings, sorted levels
        "g": pd.Categorical(rng.choice(["lo", "hi"], n), categories=["lo", "hi", "none"]),
        "flag": rng.random(n) < 0.3,                              # bool: categorical
        "a.b": rng.normal(size=n),
    })
    d["obj"] = pd.Series(rng.choice(["u", "v"], n), dtype=object)
    d.loc[:4, "s"] = "a"           # the first rows do not hold every level
    return d


FORMULAS = [
    "y ~ x", "y ~ t*s + g + x", "y ~ 0 + s", "y ~ s - 1 + x", "y ~ s:g", "y ~ s*g*flag",
    "y ~ C(k) + x:C(k)", "y ~ k", "y ~ flag + obj", "y ~ t:s + t", "y ~ s:x + g:x",
    'y ~ Q("a.b") + C(s)', "y ~ 1", "y ~ x + I(t ** 2)", "y ~ np.log(t + 1) * s",
    "y ~ center(x) + s", "y ~ C(s, Sum) + x", "t ~ s + g", "np.exp(y) ~ x",
    "y ~ I(t - 2.5) * s + np.sqrt(t):g", 'y ~ I(Q("a.b") * x) + k',
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_equals_patsy(data, formula):
    env = patsy.EvalEnvironment([{"np": np}])
    y_ref, X_ref = patsy.dmatrices(formula, data, eval_env=env, NA_action="raise",
                                   return_type="dataframe")
    y, y_name, X, names, info = design_matrices(formula, data, env)
    assert names == list(X_ref.columns) == info.column_names
    assert y_name == y_ref.columns[0]
    np.testing.assert_array_equal(X, X_ref.to_numpy())
    np.testing.assert_array_equal(y, y_ref.to_numpy()[:, 0])
    # the information learned on the covering rows builds the same matrix on new rows
    new = data.iloc[::-7]
    (X_new,) = patsy.build_design_matrices([X_ref.design_info], new)
    built = build_matrix(info, new)
    # columns and stateless numerical expressions take the fast route; a stateful
    # transform or a categorical expression patsy's
    fast = not any(s in formula.split("~")[1] for s in ("center(", "Sum"))
    assert (built is not None) == fast
    np.testing.assert_array_equal(built if built is not None else
                                  patsy.build_design_matrices([info], new)[0], X_new)


@pytest.mark.parametrize("rhs", ["~ 1", "~ t", "~ 0 + s", "~ t*g", "~ I(t / 100)",
                                 '~ np.log(Q("a.b") ** 2) : s', "~ center(t)",
                                 "~ C(s, Sum)", "~ I(t > 2)"])
def test_one_sided(data, rhs):
    env = patsy.EvalEnvironment([{"np": np}])
    ref = patsy.dmatrix(rhs, data, eval_env=env, return_type="dataframe")
    info = design_info(rhs, data, env)
    assert info.column_names == list(ref.columns)
    built = build_matrix(info, data)
    if built is None:                      # patsy builds it
        assert any(s in rhs for s in ("center(", "Sum", ">"))
        built = patsy.build_design_matrices([info], data)[0]
    np.testing.assert_array_equal(built, ref.to_numpy())
    if "center(" in rhs:                   # its state is learned on all rows
        np.testing.assert_allclose(built[:, 1].mean(), 0.0, atol=1e-12)


def test_missing_and_unknown_levels_are_patsys_errors(data):
    env = patsy.EvalEnvironment([{"np": np}])
    info = design_matrices("y ~ x + s", data, env)[4]
    bad = data.iloc[:10].copy()
    bad.loc[bad.index[0], "x"] = np.nan
    assert build_matrix(info, bad) is None
    with pytest.raises(patsy.PatsyError):
        patsy.build_design_matrices([info], bad, NA_action="raise")
    unseen = data.iloc[:10].copy()
    unseen.loc[unseen.index[0], "s"] = "zzz"
    assert build_matrix(info, unseen) is None
    with pytest.raises(patsy.PatsyError):
        patsy.build_design_matrices([info], unseen)


def test_categorical_response_is_reported(data):
    env = patsy.EvalEnvironment([{"np": np}])
    y, *_ = design_matrices("s ~ x", data, env)
    assert y is None


def test_group_codes_equal_factorized_labels():
    from lmmext.structures.form import group_codes, group_labels
    rng = np.random.default_rng(3)
    n = 500
    d = pd.DataFrame({"a": pd.Categorical(rng.choice(list("xyz"), n), categories=list("zyxw")),
                      "b": rng.integers(0, 4, n), "c": rng.choice([1.0, 2.5], n),
                      # labels joined with "/" coincide for ("p/q", "r") and ("p", "q/r")
                      "d": rng.choice(["p", "p/q"], n), "e": rng.choice(["r", "q/r"], n)})
    d["o"] = pd.Series(rng.choice([1, "1", 2], n), dtype=object)   # 1 and "1": one label
    for names in (["a"], ["a", "b"], ["b", "c", "a"], ["d", "e"], ["o"], ["o", "a"]):
        ref_codes, ref_labels = pd.factorize(group_labels(d, names), sort=False)
        codes, labels = group_codes(d, names)
        np.testing.assert_array_equal(codes, ref_codes)
        assert list(labels) == list(ref_labels)
