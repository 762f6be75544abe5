"""The analytic gradient of the profiled (RE)ML criterion (lmmext.engine.gradient and the
Henderson-equation score of ProfiledLikelihood) against central differences of the
criterion itself, which is validated against nlme in test_validation."""
import pathlib
import warnings

import numpy as np
import pytest

import lmmext
from lmmext import (CorAR1, CorARMA, CorCAR1, CorCompSymm, CorExp, CorSymm, VarComb,
                    VarConstPower, VarExp, VarIdent, VarPower)
from lmmext.engine.gradient import UnitAlgebra
from lmmext.structures.numdiff import central_differences


def _engine(fit):
    return fit._state.engine, fit._state.theta


def _check(fit, shift=0.07, rtol=2e-5):
    eng, theta = _engine(fit)
    assert eng.has_gradient
    # away from the optimum, where the gradient is not ~0
    th = theta + shift * np.linspace(1.0, -1.0, theta.size)
    ll, g = eng.value_and_gradient(th)
    assert ll == pytest.approx(eng.loglik(th), abs=1e-8)
    g_fd = central_differences(eng.loglik, th, 1e-5)
    np.testing.assert_allclose(g, g_fd, rtol=rtol, atol=1e-5 * max(1.0, np.abs(g_fd).max()))


def _fit(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("random", ["~ 1 | Subject", "~ age | Subject"])
def test_random_effects_only_score(data, method, random):
    fit = _fit(lmmext.lme, "distance ~ age + Sex", data=data("Orthodont"), random=random,
               method=method)
    assert fit._state.engine.schur_gradient
    _check(fit)


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("kw", [
    dict(weights=VarIdent(form="~ 1 | Sex")),
    dict(correlation=CorAR1()),
    dict(correlation=CorCompSymm(form="~ 1 | Subject"), weights=VarIdent(form="~ 1 | Sex"),
         random=None),
    dict(correlation=CorSymm(form="~ 1 | Subject"), random=None),
    dict(correlation=CorARMA(p=1, q=1), weights=VarPower(form="~ age")),
    dict(weights=VarComb(VarIdent(form="~ 1 | Sex"), VarExp(form="~ age"))),
    dict(weights=VarConstPower(form="~ age"), random="~ age | Subject"),
], ids=["varident", "ar1", "gls-compsymm+varident", "gls-symm", "arma+power", "comb",
        "constpower+slope"])
def test_variance_and_correlation_score(data, method, kw):
    kw = dict(kw)
    random = kw.pop("random", "~ 1 | Subject")
    O = data("Orthodont")
    if random is None:      # a random intercept would make CompSymm unidentified
        fit = _fit(lmmext.gls, "distance ~ age + Sex", data=O, method=method, **kw)
    else:
        fit = _fit(lmmext.lme, "distance ~ age + Sex", data=O, random=random,
                   method=method, **kw)
    assert fit._state.engine.analytic is not None
    _check(fit)


def test_nested_levels_and_continuous_time(data):
    fit = _fit(lmmext.lme, "loglact ~ reg * status", data=data("lactase"),
               random="~ 1 | litter/pig", weights=VarIdent(form="~ 1 | reg"))
    _check(fit)
    d = data("sim_cor")
    fit = _fit(lmmext.lme, "y ~ time * trt", data=d, random="~ 1 | id",
               correlation=CorCAR1(form="~ time | id"))
    _check(fit)


def test_spatial_score(data):
    fit = _fit(lmmext.lme, "biomass ~ trt + moist", data=data("sim_spatial"),
               random="~ 1 | field",
               correlation=CorExp(form="~ x + y | field", nugget=True))
    _check(fit)


def test_kinked_structure_uses_finite_differences(data):
    fit = _fit(lmmext.gls, "distance ~ age + Sex", data=data("Orthodont"),
               correlation=lmmext.CorLin(form="~ age | Subject"))
    assert fit._state.engine.analytic is None


def test_cached_crossproducts_follow_a_changed_fitted_covariate(data):
    """The whitened cross-products are reused while only random-effects parameters
    change; a new fitted-values covariate (same parameters) must not be served stale."""
    fit = _fit(lmmext.lme, "distance ~ age + Sex", data=data("Orthodont"),
               random="~ 1 | Subject", weights=VarPower())
    eng, theta = _engine(fit)
    vf = eng.varfunc
    before = eng.loglik(theta)
    old = vf._fitted.copy() if hasattr(vf, "_fitted") else None
    mu = eng.X @ fit._state.evaluation.beta
    vf.set_fitted(mu * 1.5)
    after = eng.loglik(theta)
    fresh = lmmext.engine.likelihood.ProfiledLikelihood(eng.y, eng.X, eng.levels, vf,
                                                        eng.corstruct, reml=eng.reml)
    assert after == pytest.approx(fresh.loglik(theta), abs=1e-9)
    assert abs(after - before) > 1e-3
    if old is not None:
        vf.set_fitted(old)


def test_optimizer_record_is_on_the_results(data):
    fit = _fit(lmmext.lme, "distance ~ age + Sex", data=data("Orthodont"),
               random="~ 1 | Subject", weights=VarIdent(form="~ 1 | Sex"))
    info = fit.optim_info
    assert info.converged and info.n_evals > 0 and info.seconds > 0
    assert info.grad_norm < 1e-3 and isinstance(info.message, str)


_ELIMINATION_CASES = {
    # stratum weights: (group, stratum) cells, one or several strata per group
    "varident": dict(weights=VarIdent(form="~ 1 | Sex")),
    "varident-within": dict(weights=VarIdent(form="~ 1 | age")),
    "gls-varident-within": dict(weights=VarIdent(form="~ 1 | age"), random=None),
    # row weights, banded correlation, both, a fixed correlation, a random slope
    "varpower": dict(weights=VarPower(form="~ age")),
    "ar1": dict(correlation=CorAR1()),
    "ar1-gaps": dict(correlation=CorAR1(form="~ visit | Subject")),
    "arma10+varident": dict(correlation=CorARMA(p=1), weights=VarIdent(form="~ 1 | Sex")),
    "fixed-ar1+varpower": dict(correlation=CorAR1(0.4, fixed=True),
                               weights=VarPower(form="~ age")),
    "slope+ar1+varident": dict(random="~ age | Subject", correlation=CorAR1(),
                               weights=VarIdent(form="~ 1 | age")),
    "gls-ar1+varexp": dict(correlation=CorAR1(form="~ 1 | Subject"),
                           weights=VarExp(form="~ age"), random=None),
    # nested levels: the selected inversion of lmmext.engine.nested_score
    "nested+varident": dict(random="~ 1 | Sex/Subject", weights=VarIdent(form="~ 1 | age")),
    "nested-slope+ar1+varpower": dict(random={"Sex": "~ 1", "Subject": "~ age"},
                                      correlation=CorAR1(form="~ visit | Sex/Subject"),
                                      weights=VarPower(form="~ age")),
}


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("case", list(_ELIMINATION_CASES))
def test_elimination_score_equals_dense_algebra(data, case, method):
    """The score from the elimination (derivative with respect to the whitened
    cross-products, pulled back through the weights and a bidiagonal whitening) equals
    the per-unit dense algebra's and central differences, away from the optimum."""
    kw = dict(_ELIMINATION_CASES[case])
    random = kw.pop("random", "~ 1 | Subject")
    O = data("Orthodont")
    O["visit"] = O["age"].map({8: 1, 10: 2, 12: 4, 14: 5})      # AR(1) with gaps
    if random is None:
        fit = _fit(lmmext.gls, "distance ~ age + Sex", data=O, method=method, **kw)
    else:
        fit = _fit(lmmext.lme, "distance ~ age + Sex", data=O, random=random,
                   method=method, **kw)
    eng, theta = _engine(fit)
    eng._schur = True                       # the elimination's score even where q > 1
    th = theta + 0.07 * np.linspace(1.0, -1.0, theta.size)
    ll, g = eng.value_and_gradient(th)
    assert ll == pytest.approx(eng.loglik(th), abs=1e-8)
    g_dense = UnitAlgebra(eng).value_and_gradient(th)[1]
    np.testing.assert_allclose(g, g_dense, rtol=1e-8, atol=1e-8 * np.abs(g_dense).max())
    g_fd = central_differences(eng.loglik, th, 1e-5)
    np.testing.assert_allclose(g, g_fd, rtol=2e-5, atol=1e-5 * max(1.0, np.abs(g_fd).max()))


def test_score_route(data):
    O = data("Orthodont")
    route = {}
    for name, kw in [("ar1", dict(correlation=CorAR1())),
                     ("compsymm", dict(correlation=CorCompSymm())),
                     ("nested", dict(random="~ 1 | Sex/Subject"))]:
        kw = dict(random="~ 1 | Subject", **kw) if "random" not in kw else kw
        fit = _fit(lmmext.lme, "distance ~ age", data=O, **kw)
        route[name] = fit._state.engine.schur_gradient
    assert route == {"ar1": True, "compsymm": False, "nested": True}


@pytest.mark.parametrize("shape", ["regular", "realistic"])
@pytest.mark.parametrize("case", ["b", "c", "d", "e", "f"])
def test_benchmark_models_converge_in_few_evaluations(case, shape, monkeypatch):
    """The benchmark's models (issues 5 and 15) at 1,000 subjects, on gap-free data and
    on data with intermittent gaps, jittered times and a random intercept that belongs
    at zero: the average-information steps alone, no fallback, at most 20 evaluations
    (of value and gradient), and the same optimum as L-BFGS-B with the Newton polish
    (the first-order route, reached by withholding the curvature)."""
    from lmmext.engine.likelihood import ProfiledLikelihood
    root = pathlib.Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(root))          # benchmarks/ is not installed
    from benchmarks.generate import make_data
    from benchmarks.run import lmmext_fit
    d = make_data(1000, shape)
    fit = _fit(lmmext_fit, case, d)
    info = fit.optim_info
    assert info.converged
    assert info.methods == ["AI-Newton"], info.methods
    assert info.n_evals <= 20
    monkeypatch.setattr(ProfiledLikelihood, "supports_average_information", False)
    first_order = _fit(lmmext_fit, case, d)
    assert first_order.optim_info.methods[0] == "L-BFGS-B"
    # (d, realistic: the slope's conditional variance has its optimum at 6e-7 of the
    # residual variance, where the log-SD gradient 2 v dl/dv is below rounding; the
    # second-order steps hold it at zero, 2.2e-6 below the first-order route's crawl)
    assert fit.llf == pytest.approx(first_order.llf, abs=1e-5 if case == "d" else 1e-6)
