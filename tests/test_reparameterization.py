"""A general random-effects covariance is fitted on a centred and scaled design
(lmmext.engine.levels.design_transform), the fixed effects on an orthogonalized one
(lmmext.engine.linalg.fixed_effects_transform), both mapped back exactly: shifting or
scaling a random-slope covariate leaves the maximized criterion and the fitted values
unchanged, with no boundary warning (issue 19)."""
import json
import warnings

import numpy as np
import pytest

import lmmext
from lmmext.validation import find_dir

MODELS = {
    "plain": {},
    "VarIdent": {"weights": lambda: lmmext.VarIdent(form="~ 1 | Sex")},
    "VarIdent+AR1": {"weights": lambda: lmmext.VarIdent(form="~ 1 | Sex"),
                     "correlation": lambda: lmmext.CorAR1(form="~ 1 | Subject")},
}
CHANGES = [(10, 1.0), (100, 1.0), (1000, 1.0), (1e5, 1.0), (0, 1e-3), (0, 1e3)]


def _fit(d, kind):
    kw = {k: make() for k, make in MODELS[kind].items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmmext.lme("distance ~ Sex * age", data=d, random="~ age | Subject", **kw)


@pytest.fixture(scope="module")
def reference(data):
    O = data("Orthodont")
    return O, {kind: _fit(O, kind) for kind in MODELS}


def test_unshifted_plain_fit_is_lme4s_maximum(reference):
    # lme4's deviance, tightly optimized (validation/R/shifted_covariates.R)
    O, fits = reference
    ref = json.loads((find_dir() / "references_statsmodels" / "shifted_age.json").read_text())
    assert fits["plain"].llf == pytest.approx(ref["shift_0"]["logLik_at_mapped"], abs=1e-6)
    # lme4 evaluates the same maximum at the mapped parameters of every shift
    for shift in (10, 100, 1000):
        assert ref[f"shift_{shift}"]["logLik_at_mapped"] == pytest.approx(
            fits["plain"].llf, abs=1e-6)


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("shift, scale", CHANGES)
def test_shifted_or_scaled_slope_covariate_gives_the_same_fit(reference, kind, shift, scale):
    O, fits = reference
    fit = _fit(O.assign(age=(O.age + shift) * scale), kind)
    # REML: X's two age columns scale by s, so the criterion moves by -2 log|s|
    assert fit.llf + 2 * np.log(abs(scale)) == pytest.approx(fits[kind].llf, abs=1e-6)
    np.testing.assert_allclose(fit.fittedvalues, fits[kind].fittedvalues, rtol=0, atol=1e-6)
    assert fit.converged and fit.optim_info.n_evals <= 200


def test_statsmodels_door_with_a_shifted_slope(reference):
    O, fits = reference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lmmext.MixedLM.from_formula("distance ~ Sex * age", data=O.assign(age=O.age + 1000),
                                          groups="Subject", re_formula="~ age").fit()
    assert res.llf == pytest.approx(fits["plain"].llf, abs=1e-6)


def test_the_transform_maps_back_exactly(reference):
    O, fits = reference
    eng = fits["plain"]._state.engine
    A = eng.transforms[0]
    user, internal = eng.user_levels[0].Z, eng.levels[0].Z
    np.testing.assert_allclose(internal, user @ A)
    np.testing.assert_allclose(internal[:, 1].mean(), 0.0, atol=1e-12)      # centred age
    # BLUPs and the covariance are reported in the user's design
    b = fits["plain"].ranef().to_numpy()
    Zb = np.einsum("nq,nq->n", user, b[eng.levels[0].codes])
    L = eng.user_factors(fits["plain"]._state.evaluation)[0]
    assert np.allclose(fits["plain"].cov_re, fits["plain"].scale * L @ L.T)
    assert np.isfinite(Zb).all()
