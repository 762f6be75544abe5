"""lmmext.MixedLM's constructor against statsmodels' own: every attribute statsmodels sets
must be there with the same value (the per-group copies of the data are built on first
access in lmmext), and statsmodels' likelihood and fit must work on the subclass."""
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM as SMMixedLM
from statsmodels.regression.mixed_linear_model import VCSpec

import lmmext


def _same(a, b, path="value"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for k in a:
            _same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)) and not isinstance(b, np.ndarray):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, (np.ndarray, pd.Series, pd.DataFrame)) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=path)
    elif isinstance(a, VCSpec):
        assert (a.names, a.colnames, a.mats) == (b.names, b.colnames, b.mats), path
    else:
        assert a == b, path


def _data(seed=3, labels=None):
    rng = np.random.default_rng(seed)
    n_per = rng.integers(2, 6, size=9)
    g = np.repeat(np.arange(9), n_per)
    rng.shuffle(g)                         # groups not contiguous: row_indices matter
    n = g.size
    exog = np.column_stack([np.ones(n), rng.normal(size=n)])
    exog_re = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = exog @ [1.0, 0.5] + rng.normal(size=9)[g] + rng.normal(size=n)
    groups = g if labels is None else np.asarray(labels)[g]
    return y, exog, groups, exog_re


@pytest.mark.parametrize("kind", ["arrays", "pandas", "string groups", "random slope"])
def test_constructor_matches_statsmodels(kind):
    labels = [f"s{k}" for k in (7, 3, 11, 0, 5, 2, 9, 1, 4)] if kind == "string groups" else None
    y, exog, groups, exog_re = _data(labels=labels)
    args, kw = (y, exog, groups), {}
    if kind == "pandas":
        args = (pd.Series(y, name="yy"), pd.DataFrame(exog, columns=["c", "x"]),
                pd.Series(groups, name="g"))
    if kind == "random slope":
        kw["exog_re"] = pd.DataFrame(exog_re, columns=["i", "z"])
    ref = SMMixedLM(*args, **kw)
    ours = lmmext.MixedLM(*args, **kw)
    for name in vars(ref):
        if name == "data":
            continue
        _same(getattr(ref, name), getattr(ours, name), name)
    assert ours.data.param_names == ref.data.param_names
    assert ours.data.exog_re_names == ref.data.exog_re_names
    assert ours.data.exog_re_names_full == ref.data.exog_re_names_full
    # statsmodels' own optimizer, likelihood and score run on the subclass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_fit, our_fit = ref.fit(reml=True), SMMixedLM.fit(ours, reml=True)
    assert our_fit.llf == pytest.approx(ref_fit.llf, rel=1e-12)
    np.testing.assert_allclose(our_fit.params, ref_fit.params, rtol=1e-10)
    params = ref_fit.params_object
    np.testing.assert_allclose(ours.score(params), ref.score(params), rtol=1e-10)


def test_variance_components_keep_statsmodels_constructor():
    y, exog, groups, _ = _data()
    rng = np.random.default_rng(0)
    sub = rng.integers(0, 2, size=y.size)
    mats = [np.column_stack([(sub[groups == g] == k).astype(float) for k in (0, 1)])
            for g in np.unique(groups)]
    vc = VCSpec(["sub"], [[["a", "b"]] * len(mats)], [mats])
    ref = SMMixedLM(y, exog, groups, exog_vc=vc)
    ours = lmmext.MixedLM(y, exog, groups, exog_vc=vc)
    assert ours.k_vc == ref.k_vc == 1
    _same(ref.exog_li, ours.exog_li, "exog_li")


def test_formula_model_defers_the_per_group_copies(data):
    # a model with a structure is fitted by lmmext's engine alone, which never reads
    # statsmodels' per-group copies (statsmodels' fit of a model without one does)
    model = lmmext.MixedLM.from_formula("distance ~ age", data=data("Orthodont"),
                                        groups="Subject",
                                        weights=lmmext.VarIdent(form="~ 1 | Sex"))
    assert "exog_li" not in vars(model)
    fit = model.fit()
    assert "exog_li" not in vars(model)
    assert len(model.exog_li) == 27 and "exog_li" in vars(model)
    assert np.isfinite(fit.llf)


@pytest.mark.parametrize("kind", ["categorical", "strings", "integers"])
def test_nlme_door_model_holds_statsmodels_arrays(data, kind):
    # lme() builds statsmodels' model from the sorted frame (groups from each group's
    # first row, group labels deferred): the caller's order and statsmodels'
    # from_formula values, whatever the grouping column's type
    d = data("Orthodont").sample(frac=1.0, random_state=4)        # rows not sorted
    if kind == "strings":
        d["Subject"] = d["Subject"].astype(str)
    elif kind == "integers":
        d["Subject"] = d["Subject"].cat.codes.astype(np.int64) * 7 + 3
    fit = lmmext.lme("distance ~ age + Sex", data=d, random="~ age | Subject")
    ref = SMMixedLM.from_formula("distance ~ age + Sex", data=d, groups="Subject",
                                 re_formula="~ age")
    model = fit.model
    assert "group_labels" not in vars(model)
    _same(ref.groups, model.groups, "groups")
    assert model.groups.dtype == np.asarray(d["Subject"]).dtype
    assert model.group_labels == ref.group_labels and model.n_groups == ref.n_groups
    np.testing.assert_array_equal(model.endog, ref.endog)
    np.testing.assert_array_equal(model.exog, ref.exog)
    np.testing.assert_array_equal(model.exog_re, ref.exog_re)
    assert list(model.data.row_labels) == list(d.index)


def test_caller_order_gathers_any_layout(data):
    d = data("Orthodont").sample(frac=1.0, random_state=2)
    frame = lmmext.lme("distance ~ age", data=d, random="~ 1 | Subject").frame
    rng = np.random.default_rng(0)
    C = rng.normal(size=(frame.N, 3))
    for values in (C, np.asfortranarray(C), C[:, 1], C[:, 1].astype(object)):
        expected = np.empty_like(values)
        expected[frame.order] = values                     # the definition: a scatter
        got = frame.to_caller_order(values)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == values.dtype
        if values.ndim == 2:
            assert got.flags.f_contiguous == values.flags.f_contiguous
