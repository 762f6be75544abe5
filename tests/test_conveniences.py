"""nlme conveniences (issue 14, item 6): partial fixing of variance-function parameters,
R's formula spellings (``I(x^2)``, dotted column names), ``contrasts=``, ``subset=`` and
``ACF(fit, form=)`` without ``data=``.

References: ``validation/references_nlme14/conveniences.json``
(``validation/R/nlme_conveniences.R``, nlme 3.1-162).  Tolerances: logLik 1e-6 absolute,
estimates and SEs 1e-4 relative, unless a reason is given next to a looser one.
"""
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import patsy
import pytest

import lmmext
from lmmext import (ACF, GLS, CorCAR1, MixedLM, VarConstPower, VarExp, VarIdent, VarPower,
                    gls, lme)
from lmmext.rformula import r_formula

REF = json.loads((Path(__file__).resolve().parents[1] / "validation" / "references_nlme14"
                  / "conveniences.json").read_text())
CASES = {c["id"]: c for c in REF["cases"]}

SIM = {"(Intercept)": "Intercept", "x": "x", "t": "t", "grpb": "grp[T.b]", "grpc": "grp[T.c]",
       "sexM": "sex[T.M]"}
ORTH = {"(Intercept)": "Intercept", "age": "age", "SexFemale": "Sex[T.Female]"}
# R's coefficient names -> lmmext's (patsy's names, R's numbers)
NAMES = {
    **{k: SIM for k in ("K01", "K02", "K03", "K04", "K05", "K06")},
    "K07": ORTH, "K08": ORTH,
    "K09": {"(Intercept)": "Intercept", "SexFemale": "Sex[T.Female]", "age.c": 'Q("age.c")',
            "I(age.c^2)": 'I(Q("age.c") ** 2)'},
    "K10": {"(Intercept)": "Intercept", "nitro": "nitro",
            "Variety1": "C(Variety, Helmert)[H.Marvellous]",
            "Variety2": "C(Variety, Helmert)[H.Victory]"},
    "K11": {"(Intercept)": "Intercept", "nitroF.L": "C(nitroF, Poly).Linear",
            "nitroF.Q": "C(nitroF, Poly).Quadratic", "nitroF.C": "C(nitroF, Poly).Cubic",
            "Variety1": "C(Variety, Sum)[S.Golden Rain]",
            "Variety2": "C(Variety, Sum)[S.Marvellous]"},
    "K12": {"(Intercept)": "Intercept", "nitroF0.2": "C(nitroF, Treatment)[T.0.2]",
            "nitroF0.4": "C(nitroF, Treatment)[T.0.4]",
            "nitroF0.6": "C(nitroF, Treatment)[T.0.6]",
            "VarietyMarvellous": "Variety[T.Marvellous]", "VarietyVictory": "Variety[T.Victory]"},
    "K13": {"(Intercept)": "Intercept", "nitro": "nitro",
            "VarietyGolden Rain": "C(Variety, Treatment(reference=-1))[T.Golden Rain]",
            "VarietyMarvellous": "C(Variety, Treatment(reference=-1))[T.Marvellous]"},
    "K14": {"(Intercept)": "Intercept", "age": "age"},
    "K15": {"(Intercept)": "Intercept", "age": "age"},
}
# nlme names a stratified parameter free in one stratum only without the stratum
VAR_NAMES = {"K04": {"const": "const.M"}, "K06": {"const": "const.M", "power": "power.F"}}


@pytest.fixture(scope="module")
def datasets():
    from lmmext.validation import load_dataset
    orth = load_dataset("Orthodont")
    oats = load_dataset("Oats")
    return {
        "sim_var": load_dataset("sim_var"),
        "Orthodont": orth,
        "OrthodontC": orth.assign(**{"age.c": orth["age"] - 11}),
        "Oats": oats.assign(nitroF=pd.Categorical(oats["nitro"], ordered=True)),
        "OatsSAS": oats,
        "Ovary": load_dataset("Ovary"),
    }


_FITS = {}


def fit_of(cid, datasets):
    if cid not in _FITS:
        case = CASES[cid]
        ns = dict(vars(lmmext))
        ns.update({k: v for k, v in datasets.items()})
        _FITS[cid] = eval(case["lmmext_call"], ns)       # noqa: S307 - our own reference file
    return _FITS[cid]


# ---------------------------------------------------------------------------------------
# the fits against nlme
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cid", sorted(CASES))
def test_fit_matches_nlme(cid, datasets):
    case, fit = CASES[cid], fit_of(cid, datasets)
    assert fit.llf == pytest.approx(case["logLik"], abs=1e-6)
    assert fit.df_modelwc == case["df"]                  # fixed parameters are not counted
    assert fit.nobs == case["nobs"]
    assert fit.sigma == pytest.approx(case["sigma"], rel=1e-4)
    names = NAMES[cid]
    est = pd.Series({names[f["term"]]: f["estimate"] for f in case["fixef"]})
    se = pd.Series({names[f["term"]]: f["se"] for f in case["fixef"]})
    assert sorted(fit.fe_params.index) == sorted(est.index)
    np.testing.assert_allclose(fit.fe_params[est.index], est, rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(fit.bse_fe[se.index], se, rtol=1e-4)


@pytest.mark.parametrize("cid", [c for c in sorted(CASES) if CASES[c].get("varStruct_free")])
def test_variance_parameters_and_the_free_ones(cid, datasets):
    case, fit = CASES[cid], fit_of(cid, datasets)
    free = {VAR_NAMES.get(cid, {}).get(k, k): v for k, v in case["varStruct_free"].items()}
    vf = fit.frame.varfunc
    assert vf.param_names() == list(free)                 # the estimated ones only
    np.testing.assert_allclose(fit.variance_params[list(free)], list(free.values()), rtol=1e-4)
    # every parameter is reported, the held ones at their values
    held = vf.fixed_params()
    reference = 1 if isinstance(vf, VarIdent) else 0        # reported as 1, not a parameter
    assert len(held) + len(free) + reference == len(fit.variance_params)
    for name, value in held.items():
        assert fit.variance_params[name] == value


def test_held_values_as_nlme_reports_them(datasets):
    assert fit_of("K01", datasets).variance_params.to_dict() == pytest.approx(
        {"const": 1.0, "power": 1.29749262461167}, rel=1e-4)
    k06 = fit_of("K06", datasets).variance_params
    assert k06["const.F"] == 1.0 and k06["power.M"] == 1.2
    assert fit_of("K07", datasets).variance_params.to_dict() == {"expon": 0.02}


@pytest.mark.parametrize("cid", ["K01", "K02", "K08"])
def test_intervals_of_the_free_parameters_match_nlme(cid, datasets):
    case, fit = CASES[cid], fit_of(cid, datasets)
    iv = fit.intervals()
    ref = pd.DataFrame(case["intervals"]["varStruct"]).set_index("name")
    assert list(iv.varStruct.index) == list(ref.index)
    # nlme's finite-difference Hessian is accurate to ~1e-5 here (measured 1.6e-5)
    np.testing.assert_allclose(iv.varStruct.to_numpy(), ref[["lower", "est.", "upper"]],
                               rtol=1e-4)


@pytest.mark.parametrize("cid", ["K03", "K04", "K05", "K06"])
def test_apvar_of_the_free_parameters_matches_the_exact_hessian(cid, datasets):
    # apVar_exact: numDeriv's Hessian of the REML criterion written out in R (nlme's
    # own apVar of these stratified fits is off by 7-34%, see the R script)
    case, fit = CASES[cid], fit_of(cid, datasets)
    iv = fit.intervals()
    free = fit.frame.varfunc.param_names()
    assert list(iv.varStruct.index) == free
    assert iv.apVar.names == [f"var.{n}" for n in free] + ["log(sigma)"]
    exact = np.array(case["apVar_exact"]["cov"])
    np.testing.assert_allclose(iv.apVar.estimate, case["apVar_exact"]["estimate"],
                               rtol=1e-4, atol=1e-5)
    # nlme stops K04/K05 at a gradient of 7e-4 (lmmext's optimum is 2.5e-9 higher):
    # the Hessians are taken 1e-5 apart, so 1e-4 relative (measured 4.2e-5)
    np.testing.assert_allclose(iv.apVar.cov, exact, rtol=1e-4, atol=1e-6)


def test_summary_shows_the_held_parameter(datasets):
    text = str(fit_of("K01", datasets).summary())
    assert "Variance function: VarConstPower(form='~ x', fixed={'const': 1})" in text
    lines = text.splitlines()
    i = lines.index(" Parameter estimates:")
    assert lines[i + 1].split() == ["const", "1.000000"]
    assert lines[i + 2].split()[0] == "power"


def test_anova_with_contrasts_matches_nlme(datasets):
    for cid in ("K10", "K11", "K12"):
        fit = fit_of(cid, datasets)
        ref = CASES[cid]["anova"]["sequential"]
        np.testing.assert_allclose(fit.anova()["F-value"], [r["F-value"] for r in ref],
                                   rtol=1e-4)


# ---------------------------------------------------------------------------------------
# partial fixing: the forms of value= and fixed=
# ---------------------------------------------------------------------------------------
D = pd.DataFrame({"age": [8.0, 10, 12, 14, 8, 10],
                  "Sex": pd.Categorical(["Male"] * 4 + ["Female"] * 2,
                                        categories=["Male", "Female"])})


def init(vf):
    vf.initialize(D)
    return vf


def test_varconstpower_partial_fixing_forms():
    vf = init(VarConstPower(const=1, power=0.5, form="~ age", fixed={"const": 1}))
    assert vf.param_names() == ["power"] and vf.start().tolist() == [0.5]
    assert vf.coefficients().to_dict() == {"const": 1.0, "power": 0.5}
    vf = init(VarConstPower(form="~ age", fixed={"power": 0.5}))
    assert vf.param_names() == ["const"] and vf.coefficients()["power"] == 0.5
    assert init(VarConstPower(form="~ age", fixed={"const": 2, "power": 0.5})).n_params == 0
    # nlme names an unnamed single value const
    assert init(VarConstPower(form="~ age", fixed=2)).param_names() == ["power"]
    # backward compatible: (const, power), value= + fixed=True, positional value
    assert init(VarConstPower(form="~ age", fixed=(2, 0.5))).n_params == 0
    vf = init(VarConstPower([2, 0.5], "~ age", True))
    assert vf.n_params == 0 and vf.coefficients().to_dict() == pytest.approx(
        {"const": 2.0, "power": 0.5})
    np.testing.assert_allclose(vf.weights([]), 1 / (2 + D["age"] ** 0.5))


def test_stratified_partial_fixing():
    vf = init(VarConstPower(form="~ age | Sex", fixed={"const": {"Female": 2},
                                                       "power": {"Male": 1.2}}))
    assert vf.param_names() == ["const.Male", "power.Female"]
    assert vf.fixed_params().to_dict() == pytest.approx({"const.Female": 2.0, "power.Male": 1.2})
    # the same held per stratum
    vf2 = init(VarConstPower(form="~ age | Sex", fixed={"Female": {"const": 2},
                                                        "Male": {"power": 1.2}}))
    assert vf2.param_names() == vf.param_names()
    np.testing.assert_allclose(vf2.start(), vf.start())
    # a number for every stratum; value= per stratum by name
    vf = init(VarConstPower(form="~ age | Sex", fixed={"const": 1},
                            value={"power": {"Male": 0.3, "Female": 0.4}}))
    assert vf.param_names() == ["power.Male", "power.Female"]
    np.testing.assert_allclose(vf.start(), [0.3, 0.4])
    vf = init(VarExp(form="~ age | Sex", fixed={"expon": {"Male": 0.1}}))
    assert vf.param_names() == ["Female"] and vf.coefficients()["Male"] == 0.1


def test_varpower_and_varexp_named_fixed_equal_the_number(data):
    orth = data("Orthodont")
    kw = dict(data=orth, random="~ 1 | Subject")
    a = lme("distance ~ age + Sex", weights=VarPower(form="~ age", fixed={"power": 0.5}), **kw)
    # nlme -219.865708516761 (validation case V27, varPower(form = ~ age, fixed = 0.5))
    assert a.llf == pytest.approx(-219.865708516761, abs=1e-6)
    b = lme("distance ~ age + Sex", weights=VarExp(form="~ age", fixed={"expon": 0.02}), **kw)
    c = lme("distance ~ age + Sex", weights=VarExp(form="~ age", fixed=0.02), **kw)
    assert b.llf == pytest.approx(c.llf, abs=1e-10)


@pytest.mark.parametrize("make, match", [
    (lambda: VarConstPower(form="~ age", fixed={"pow": 1}),
     r"unknown parameter\(s\) or strata \['pow'\]: parameters are \['const', 'power'\]"),
    (lambda: VarPower(form="~ age", fixed={"expon": 1}),
     r"parameters are \['power'\] \(the form has no stratum\)"),
    (lambda: VarConstPower(form="~ age | Sex", fixed={"Fem": 1}),
     r"parameters are \['const', 'power'\], strata \['Male', 'Female'\]"),
    (lambda: VarConstPower(form="~ age | Sex", fixed={"const": {"X": 1}}),
     r"for 'const' names strata not in the data: \['X'\]"),
    (lambda: VarConstPower(form="~ age | Sex", fixed={"Male": {"c": 1}}),
     r"for stratum 'Male' names unknown parameter\(s\) \['c'\]"),
    (lambda: VarConstPower(form="~ age", fixed=[1, 2, 3]), "one number per parameter"),
    (lambda: VarConstPower(form="~ age", fixed={"const": 0}), "const must be positive"),
    (lambda: VarConstPower(form="~ age", value={"power": "a"}), "power must be a finite number"),
    (lambda: VarConstPower(form="~ age", fixed={}), "empty dict"),
])
def test_bad_fixed_and_value(make, match):
    with pytest.raises(ValueError, match=match):
        init(make())


def test_const_and_value_together_are_refused():
    with pytest.raises(ValueError, match="either as value= or as const=/power="):
        VarConstPower(value=[1, 0.5], const=1, form="~ age")


# ---------------------------------------------------------------------------------------
# R's formula spellings
# ---------------------------------------------------------------------------------------
COLS = ["y", "x", "a", "b", "age.c", "yield", "Variety"]


@pytest.mark.parametrize("text, expected", [
    ("y ~ x + I(x^2)", "y ~ x + I(x**2)"),
    ("y ~ I(np.log(x)^2)", "y ~ I(np.log(x)**2)"),
    ("y ~ (a + b)^2", "y ~ (a + b)**2"),                   # R's ^ between terms: patsy's **
    ("y ~ np.log(x ^ 2)", "y ~ np.log(x ^ 2)"),            # Python inside other calls
    ("y ~ age.c + I(age.c^2)", 'y ~ Q("age.c") + I(Q("age.c")**2)'),
    ("yield ~ x", 'Q("yield") ~ x'),
    ("y ~ np.exp(x) + x.mean()", "y ~ np.exp(x) + x.mean()"),  # not columns: Python
    ("y ~ C(Variety, contr.sum)", "y ~ C(Variety, Sum)"),
    ("y ~ C(Variety, contr.SAS)", "y ~ C(Variety, Treatment(reference=-1))"),
    ("y ~ I(x == 'a.b^c') + 1e-3", "y ~ I(x == 'a.b^c') + 1e-3"),   # strings, numbers
])
def test_r_formula_spellings(text, expected):
    assert r_formula(text, COLS)[0] == expected


def test_r_formula_contrasts_wrap_term_level_uses():
    text, ns = r_formula("y ~ Variety*x + (Variety + a)^2", COLS, {"Variety": "contr.helmert"})
    assert text == "y ~ C(Variety, Helmert)*x + (C(Variety, Helmert) + a)**2" and ns == {}
    m = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    text, ns = r_formula("y ~ Variety", COLS, {"Variety": m})
    assert text == "y ~ C(Variety, _lmmext_contrast_0)" and ns["_lmmext_contrast_0"] is m
    text, _ = r_formula("y ~ Variety", COLS,
                        {"Variety": patsy.contrasts.Treatment(reference="Victory")})
    assert text == "y ~ C(Variety, Treatment(reference='Victory'))"


def test_dotted_names_in_every_formula_equal_plain_names(data):
    orth = data("Orthodont")
    orth["agec"] = orth["age"] - 11
    orth["age.c"] = orth["agec"]
    plain = lme("distance ~ Sex + agec + I(agec**2)", data=orth, random="~ agec | Subject",
                weights=VarPower(form="~ agec + 12"), correlation=CorCAR1(form="~ agec"))
    dotted = lme("distance ~ Sex + age.c + I(age.c^2)", data=orth, random="~ age.c | Subject",
                 weights=VarPower(form="~ age.c + 12"), correlation=CorCAR1(form="~ age.c"))
    assert dotted.llf == pytest.approx(plain.llf, abs=1e-9)
    np.testing.assert_allclose(dotted.fe_params, plain.fe_params, rtol=1e-7)
    assert list(dotted.fe_params.index)[2:] == ['Q("age.c")', 'I(Q("age.c") ** 2)']
    # the structures keep the formula as written (printed by the summary)
    assert dotted.frame.varfunc.form.text == "~ age.c + 12"
    assert "Formula: ~ age.c" in str(dotted.summary())


def test_predict_with_translated_formulas(datasets):
    fit = fit_of("K09", datasets)
    new = datasets["OrthodontC"].iloc[[0, 5, 50]]
    np.testing.assert_allclose(fit.predict(new, level=0), fit.fitted(level=0).iloc[[0, 5, 50]])
    np.testing.assert_allclose(fit.predict(new, level=1), fit.fittedvalues.iloc[[0, 5, 50]])
    fit = fit_of("K11", datasets)
    new = datasets["Oats"].iloc[[3, 40]]
    np.testing.assert_allclose(fit.predict(new, level=0), fit.fitted(level=0).iloc[[3, 40]])
    g = fit_of("K13", datasets)
    np.testing.assert_allclose(g.predict(datasets["Oats"].iloc[:4]), g.fittedvalues.iloc[:4])


# ---------------------------------------------------------------------------------------
# contrasts
# ---------------------------------------------------------------------------------------
# R 4.2.2: contr.helmert(3), contr.sum(3), contr.poly(4), contr.SAS(3)
R_MATRICES = {
    "contr.helmert": [[-1, -1], [1, -1], [0, 2]],
    "contr.sum": [[1, 0], [0, 1], [-1, -1]],
    "contr.SAS": [[1, 0], [0, 1], [0, 0]],
    "contr.treatment": [[0, 0], [1, 0], [0, 1]],
}
R_POLY4 = [[-0.670820393249937, 0.5, -0.223606797749979],
           [-0.223606797749979, -0.5, 0.670820393249937],
           [0.223606797749979, -0.5, -0.670820393249937],
           [0.670820393249937, 0.5, 0.223606797749979]]


@pytest.mark.parametrize("name", sorted(R_MATRICES))
def test_contrast_columns_are_rs(name):
    d = pd.DataFrame({"f": pd.Categorical(["a", "b", "c"]), "y": [1.0, 2, 3]})
    text, ns = r_formula("y ~ f", d.columns, {"f": name})
    X = patsy.dmatrix(text.split("~")[1], d, return_type="dataframe",
                      eval_env=patsy.EvalEnvironment([ns]))
    np.testing.assert_allclose(X.iloc[:, 1:], R_MATRICES[name])


def test_poly_contrast_is_rs_contr_poly():
    d = pd.DataFrame({"f": pd.Categorical([1, 2, 3, 4], ordered=True)})
    text, _ = r_formula("~ f", d.columns, {"f": "contr.poly"})
    X = patsy.dmatrix(text, d, return_type="dataframe")
    np.testing.assert_allclose(X.iloc[:, 1:], R_POLY4, rtol=1e-14)


def test_contrasts_through_the_statsmodels_doors(datasets):
    oats = datasets["Oats"]
    helmert = {"Variety": "contr.helmert"}
    ref = lme("yield ~ nitro + Variety", data=oats, random="~ 1 | Block", contrasts=helmert)
    sm = MixedLM.from_formula("yield ~ nitro + Variety", oats, groups="Block",
                              contrasts=helmert).fit()
    np.testing.assert_allclose(sm.fe_params, ref.fe_params, rtol=1e-6)
    assert list(sm.fe_params.index) == list(ref.fe_params.index)
    st = MixedLM.from_formula("yield ~ nitro + Variety", oats, groups="Block",
                              contrasts=helmert, weights=VarIdent(form="~ 1 | Variety")).fit()
    assert "C(Variety, Helmert)[H.Victory]" in st.params.index
    case = CASES["K13"]
    g = GLS.from_formula("yield ~ nitro + Variety", oats, contrasts={"Variety": "contr.SAS"},
                         weights=VarIdent(form="~ 1 | Variety", ref="Victory")).fit()
    assert g.llf == pytest.approx(case["logLik"], abs=1e-6)


def test_statsmodels_door_reads_r_spellings(datasets):
    orth = datasets["OrthodontC"]
    sm = MixedLM.from_formula("distance ~ Sex + age.c + I(age.c^2)", orth, groups="Subject",
                              re_formula="~ age.c").fit()
    ref = lme("distance ~ Sex + age.c + I(age.c^2)", data=orth, random="~ age.c | Subject")
    np.testing.assert_allclose(sm.fe_params, ref.fe_params, rtol=1e-5)


def test_reml_loglik_depends_on_the_coding(datasets):
    # nlme's REML log-likelihood has no log|X'X| term: K11 (poly/sum) and K12
    # (treatment) are the same model with different logLik, each reproduced
    a, b = fit_of("K11", datasets), fit_of("K12", datasets)
    assert a.llf - b.llf == pytest.approx(CASES["K11"]["logLik"] - CASES["K12"]["logLik"],
                                          abs=1e-6)
    assert abs(a.llf - b.llf) > 1


@pytest.mark.parametrize("contrasts, err, match", [
    ({"Varity": "contr.sum"}, KeyError, r"not in the data"),
    ({"Block": "contr.sum"}, ValueError, r"does not use as a term"),
    ({"Variety": "contr.foo"}, ValueError, r"unknown contrast 'contr.foo'; accepted: R's"),
    ({"Variety": 3}, TypeError, r"must be a name or a contrast object"),
    ("contr.sum", TypeError, r"must be a dict \{column: contrast\}"),
])
def test_bad_contrasts(datasets, contrasts, err, match):
    with pytest.raises(err, match=match):
        gls("yield ~ nitro + Variety", data=datasets["Oats"], contrasts=contrasts)


# ---------------------------------------------------------------------------------------
# subset
# ---------------------------------------------------------------------------------------
def test_subset_forms_agree(data):
    orth = data("Orthodont")
    case = CASES["K14"]
    kw = dict(data=orth, random="~ 1 | Subject")
    a = lme("distance ~ age", subset='Sex == "Female"', **kw)
    b = lme("distance ~ age", subset=(orth["Sex"] == "Female").to_numpy(), **kw)
    c = lme("distance ~ age", subset=orth["Sex"] == "Female", **kw)
    sex = "Female"
    d = lme("distance ~ age", subset="Sex == @sex", **kw)
    for f in (a, b, c, d):
        assert f.llf == pytest.approx(case["logLik"], abs=1e-6)
        assert f.nobs == 44
    pd.testing.assert_index_equal(a.resid.index, orth.index[orth["Sex"] == "Female"])
    np.testing.assert_allclose(a.fittedvalues, case["fitted"], rtol=1e-6)


@pytest.mark.parametrize("subset, match", [
    ([True, False], r"subset= gives dtype bool, shape \(2,\); subset= must be a boolean"),
    (np.arange(108), r"gives dtype int64"),
    (pd.Series(True, index=range(1, 109)), "index differs"),
    ("Sexx == 'Female'", r"cannot be evaluated on data"),
    ("age", r"gives dtype (int|float)64"),
    ("age > 100", "selects no rows"),
    (3, r"gives int 3"),
])
def test_bad_subset(data, subset, match):
    with pytest.raises(ValueError, match=match):
        gls("distance ~ age", data=data("Orthodont"), subset=subset)


# ---------------------------------------------------------------------------------------
# ACF without data=
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ref", REF["acf"], ids=[a["id"] for a in REF["acf"]])
def test_acf_grouped_by_a_column_the_model_does_not_use(ref, datasets):
    ovary = datasets["Ovary"]
    fit = gls("follicles ~ np.sin(2*np.pi*Time) + np.cos(2*np.pi*Time)", data=ovary)
    assert fit.llf == pytest.approx(ref["logLik"], abs=1e-6)
    assert "Mare" not in fit.frame.data.columns
    for acf in (fit.acf(**ref["kwargs"]), ACF(fit, **ref["kwargs"])):
        np.testing.assert_array_equal(acf["lag"], ref["lag"])
        np.testing.assert_array_equal(acf["n_pairs"], ref["n_pairs"])
        np.testing.assert_allclose(acf["ACF"], ref["ACF"], rtol=1e-6, atol=1e-10)


def test_acf_keeps_the_rows_of_a_subset_and_survives_pickling(datasets):
    ovary = datasets["Ovary"]
    fit = gls("follicles ~ np.sin(2*np.pi*Time)", data=ovary, subset="Time > 0")
    kept = ovary[ovary["Time"] > 0]
    expected = fit.acf(form="~ 1 | Mare", data=kept)
    pd.testing.assert_frame_equal(fit.acf(form="~ 1 | Mare"), expected)
    again = pickle.loads(pickle.dumps(fit))
    pd.testing.assert_frame_equal(again.acf(form="~ 1 | Mare"), expected)
