"""Bad input: a clear exception that names the problem, never a numpy traceback."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from lmmext import VarFixed, VarIdent, VarPower, gls, lme


@pytest.fixture
def O(data):
    return data("Orthodont")


def test_unknown_column_in_formula(O):
    with pytest.raises(KeyError, match="agee"):
        lme("distance ~ agee", data=O, random="~ 1 | Subject")


def test_unknown_grouping_column(O):
    with pytest.raises(KeyError, match="Subj"):
        lme("distance ~ age", data=O, random="~ 1 | Subj")


def test_unknown_stratum_column(O):
    with pytest.raises(KeyError, match="Gender"):
        lme("distance ~ age", data=O, random="~ 1 | Subject", weights=VarIdent(form="~ 1 | Gender"))


@pytest.mark.parametrize("kw", [{"value": {"Other": 2.0}}, {"fixed": {"Other": 0.5}}, {"ref": "Other"}])
def test_stratum_level_absent_from_data(O, kw):
    with pytest.raises(ValueError, match="Other"):
        lme("distance ~ age", data=O, random="~ 1 | Subject",
            weights=VarIdent(form="~ 1 | Sex", **kw))


def test_varfixed_nonpositive_covariate(O):
    O["z"] = O["age"] - 10
    with pytest.raises(ValueError, match="VarFixed covariate 'z' must be positive"):
        gls("distance ~ age", data=O, weights=VarFixed("~ z"))


def test_varpower_zero_covariate(O):
    O["z"] = O["age"] - 8
    with pytest.raises(ValueError, match="VarPower covariate 'z' has zeros"):
        gls("distance ~ age", data=O, weights=VarPower(form="~ z"))


@pytest.mark.parametrize("random", ["~ 1 Subject", "1 | Subject", "~ 1 | ", "~ 1 | a | b", "~ age"])
def test_random_does_not_parse(O, random):
    with pytest.raises(ValueError, match="random="):
        lme("distance ~ age", data=O, random=random)


def test_group_with_one_level(O):
    O["one"] = "x"
    with pytest.raises(ValueError, match="'one' has only one level"):
        lme("distance ~ age", data=O, random="~ 1 | one")


def test_outcome_not_numeric(O):
    O["lab"] = np.where(O["distance"] > 24, "hi", "lo")
    with pytest.raises(ValueError, match="response .* must be numeric"):
        lme("lab ~ age", data=O, random="~ 1 | Subject")


def test_rank_deficient_design_names_columns(O):
    O["age2"] = 2 * O["age"]
    with pytest.raises(ValueError, match=r"rank deficient: column\(s\) \['age2'\]"):
        lme("distance ~ age + age2", data=O, random="~ 1 | Subject")


def test_bad_method_and_missing_option(O):
    with pytest.raises(ValueError, match="method"):
        lme("distance ~ age", data=O, random="~ 1 | Subject", method="OLS")
    with pytest.raises(ValueError, match="missing="):
        lme("distance ~ age", data=O, random="~ 1 | Subject", missing="skip")


def test_weights_must_be_a_varfunc(O):
    with pytest.raises(TypeError, match="weights= must be a VarFunc"):
        lme("distance ~ age", data=O, random="~ 1 | Subject", weights="varIdent")


def test_missing_values_dropped_and_counted_or_raised(data):
    d = data("lactase")
    fit = gls("loglact ~ reg * status", data=d)
    assert fit.n_dropped == 1 and fit.nobs == 59
    assert "1 rows with missing values dropped" in str(fit.summary())
    with pytest.raises(ValueError, match=r"missing values in column\(s\) \['loglact'\]"):
        gls("loglact ~ reg * status", data=d, missing="raise")


def test_boundary_fit_warns_and_returns_best(data):
    d = data("lactase")
    with pytest.warns(ConvergenceWarning, match="boundary"):
        fit = lme("loglact ~ reg * status", data=d, random="~ 1 | litter/pig")
    assert fit.llf == pytest.approx(-39.95718, abs=5e-6)


def test_formula_evaluated_in_callers_namespace(O):
    def offset(x):
        return x - 11
    fit = lme("distance ~ offset(age)", data=O, random="~ 1 | Subject")
    assert "offset(age)" in fit.fe_params.index
    fit2 = lme("np.log(distance) ~ age", data=O, random="~ 1 | Subject")
    assert np.isfinite(fit2.llf)


def test_correlation_bad_input_names_structure_and_group(O):
    from lmmext import CorAR1, CorARMA, CorCompSymm, CorSymm
    dup = O.copy()
    dup.loc[dup.index[1], "age"] = 8            # M01 has age 8 twice
    with pytest.raises(ValueError, match=r"CorAR1.*'M01'.*repeated"):
        gls("distance ~ age", data=dup, correlation=CorAR1(form="~ age | Subject"))
    frac = O.assign(t=O["age"] / 3)
    with pytest.raises(ValueError, match="CorAR1.*integer"):
        gls("distance ~ age", data=frac, correlation=CorAR1(form="~ t | Subject"))
    with pytest.raises(ValueError, match="CorARMA"):
        CorARMA(p=0, q=0)
    with pytest.raises(ValueError, match="CorARMA"):
        CorARMA(p=-1, q=1)
    with pytest.raises(ValueError, match="CorAR1"):
        CorAR1(value=1.0)
    with pytest.raises(ValueError, match="CorCompSymm"):
        gls("distance ~ age", data=O, correlation=CorCompSymm(value=-0.5, form="~ 1 | Subject"))
    with pytest.raises(ValueError, match="CorSymm"):
        gls("distance ~ age", data=O.assign(k=O["age"] / 2 - 3),
            correlation=CorSymm(value=[0.1] * 3, form="~ k | Subject"))


def test_groups_of_size_one_are_legal(O):
    from lmmext import CorAR1
    one = O.groupby("Subject", observed=True).head(1)
    both = O[O["Subject"].isin(["M01", "M02", "F01"])]
    d = O[~O["Subject"].isin(["M01", "M02", "F01"])].groupby("Subject", observed=True).head(1)
    d = pd.concat([d, both])
    fit = gls("distance ~ age", data=d, correlation=CorAR1(form="~ 1 | Subject"))
    assert np.isfinite(fit.llf) and len(one) == 27


def test_ar1_with_even_lags_is_not_stuck_at_independence(O):
    """nlme-reference.md trap 6: corAR1(form = ~ age | Subject) has lags 2, 4, 6; phi = 0
    is a stationary point where nlme stays (logLik -242.2619).  The model equals AR(1)
    on visit index with phi_index = phi^2, whose nlme fit is R15 (-222.7241475494,
    Phi 0.625867139721581)."""
    from lmmext import CorAR1
    g = gls("distance ~ age + Sex", data=O, correlation=CorAR1(form="~ age | Subject"))
    assert g.llf == pytest.approx(-222.72414754940607, abs=1e-6)
    assert g.correlation_params["Phi"] ** 2 == pytest.approx(0.625867139721581, rel=1e-5)


def test_nonconvergence_warns_and_returns_the_best_fit(O, monkeypatch):
    import lmmext.engine.fitting as fitting
    real = fitting.maximize

    def stalled(loglik, x0, lower=None, **kwargs):
        info = real(loglik, x0, lower, **kwargs)
        info.converged, info.message = False, "iteration limit reached"
        return info
    monkeypatch.setattr(fitting, "maximize", stalled)
    with pytest.warns(ConvergenceWarning, match="did not converge: iteration limit"):
        fit = lme("distance ~ age", data=O, random="~ 1 | Subject")
    assert not fit.converged and np.isfinite(fit.llf)


def test_coarser_correlation_grouping_warns_as_nlme(data):
    d = data("sim_nested")
    with pytest.warns(UserWarning, match="smaller level of grouping"):
        fit = lme("y ~ x", data=d, random="~ 1 | a/b", correlation=__import__("lmmext").CorAR1(form="~ 1 | a"))
    assert np.isfinite(fit.llf)


def test_hard_designs_converge(data):
    """Very unbalanced groups (one of 200 rows, many of 1-2) and a VarIdent with 30
    strata: the fits converge (small gradient) and the likelihood is finite."""
    rng = np.random.default_rng(5)
    sizes = np.r_[200, rng.integers(1, 3, size=60)]
    g = np.repeat(np.arange(sizes.size), sizes)
    x = rng.normal(size=g.size)
    s = rng.integers(0, 30, size=g.size)
    y = 2 + x + rng.normal(size=sizes.size)[g] + rng.normal(size=g.size) * (1 + s / 10)
    d = pd.DataFrame({"y": y, "x": x, "g": g.astype(str), "s": [f"s{k:02d}" for k in s]})
    a = lme("y ~ x", data=d, random="~ 1 | g")
    b = lme("y ~ x", data=d, random="~ 1 | g", weights=VarIdent(form="~ 1 | s"))
    for f in (a, b):
        assert f.converged and f.optim_info.grad_norm < 1e-3
    assert len(b.variance_params) == 30
    assert b.llf > a.llf


def test_correlation_at_its_bound_warns(data):
    """Within-group values equal up to 1e-7: compound symmetry runs to Rho = 1."""
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(15), 4)
    y = rng.normal(size=15)[g] + 1e-7 * rng.normal(size=g.size)
    d = pd.DataFrame({"y": y, "x": rng.normal(size=g.size), "g": g.astype(str)})
    from lmmext import CorCompSymm
    with pytest.warns(ConvergenceWarning, match="'.*' of CorCompSymm is on the boundary"):
        fit = gls("y ~ x", data=d, correlation=CorCompSymm(form="~ 1 | g"))
    assert fit.correlation_params["Rho"] > 0.9999
