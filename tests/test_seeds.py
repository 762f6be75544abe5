"""The numbers printed in the seed documents (../shared/seeds), to the digits printed.

Lactase and Orthodont: nlme output in the ST113 / DTU lecture notes; rat pups: ASReml-R
(ASR008); sires: SAS PROC MIXED (ST518).  ASReml prints 8 digits but converges less
tightly than nlme, so its numbers are compared to 2e-5 relative (nlme itself matches
them to 1e-5, nlme-reference.md R14).
"""
import numpy as np
import pytest

from lmmext import VarIdent, gls, lme


def close(a, b, digits):
    """a equals b as printed with `digits` significant digits."""
    return abs(a - b) <= 0.5 * 10 ** (np.floor(np.log10(abs(b))) - digits + 1) * 1.0000001


@pytest.fixture(scope="module")
def lactase_fits(data):
    d = data("lactase")
    f = "loglact ~ reg + status + reg:status"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the litter SD is on the boundary
        fit1 = lme(f, data=d, random="~ 1 | litter/pig")
    fit2 = lme(f, data=d, random="~ 1 | pig")
    fit3 = gls(f, data=d)
    return fit1, fit2, fit3


def test_lactase_fit1(lactase_fits):
    fit1 = lactase_fits[0]
    assert fit1.nobs == 59 and fit1.n_dropped == 1
    assert close(fit1.aic, 97.91436, 7) and close(fit1.bic, 115.647, 7)
    assert close(fit1.llf, -39.95718, 7)
    sd = fit1.re_sd
    assert sd["litter"]["sd"].iloc[0] < 1e-3          # printed 2.269151e-05: boundary
    assert close(sd["pig"]["sd"].iloc[0], 0.3345345, 7)
    assert close(fit1.sigma, 0.3673081, 7)
    printed = {"Intercept": (2.1292914, 0.1877797, 35), "reg[T.2]": (0.0093629, 0.1963344, 35),
               "reg[T.3]": (-0.0086600, 0.1963344, 35), "status[T.2]": (-0.1211776, 0.2329121, 14),
               "reg[T.2]:status[T.2]": (0.1098179, 0.2435229, 35),
               "reg[T.3]:status[T.2]": (-0.6550188, 0.2458415, 35)}
    for name, (est, se, df) in printed.items():
        assert abs(fit1.fe_params[name] - est) <= 5e-8
        assert abs(fit1.bse_fe[name] - se) <= 5e-8
        assert fit1.df_resid_fe[name] == df
    assert abs(fit1.tvalues["reg[T.3]:status[T.2]"] - (-2.664395)) < 5e-7
    assert abs(fit1.pvalues["reg[T.3]:status[T.2]"] - 0.0116) < 5e-5


def test_lactase_fit2_and_gls(lactase_fits):
    _, fit2, fit3 = lactase_fits
    assert close(fit2.aic, 95.91436, 7) and close(fit2.bic, 111.6767, 7)
    assert close(fit2.llf, -39.95718, 7) and fit2.df_modelwc == 8
    assert close(fit3.llf, -44.73165, 7) and fit3.df_modelwc == 7
    assert close(fit3.aic, 103.46331, 8) and close(fit3.bic, 117.2554, 7)
    # the printed L.Ratio of anova(fit2, fit3)
    assert abs(2 * (fit2.llf - fit3.llf) - 9.548944) < 5e-7


def test_orthodont_fit2_fit3(data):
    O = data("Orthodont")
    fit2 = lme("distance ~ Sex * I(age - 11)", data=O, random="~ 1 | Subject")
    fit3 = lme("distance ~ Sex * I(age - 11)", data=O, random="~ 1 | Subject",
               weights=VarIdent(form="~ 1 | Sex"))
    assert close(fit2.aic, 445.7572, 7) and close(fit2.bic, 461.6236, 7)
    assert close(fit2.llf, -216.8786, 7) and fit2.df_modelwc == 6
    assert close(fit3.aic, 429.2205, 7) and close(fit3.bic, 447.7312, 7)
    assert close(fit3.llf, -207.6102, 7) and fit3.df_modelwc == 7
    # variance parameters are flat at the optimum; both optimizers agree to ~2e-7
    assert fit3.variance_params["Female"] == pytest.approx(0.4678944, rel=1e-6)
    assert fit3.variance_params["Male"] == 1.0
    assert abs(2 * (fit3.llf - fit2.llf) - 18.53677) < 5e-6


def test_ratpup_asreml(data):
    rp = data("ratpup")
    fit = lme("weight ~ Lsize + treatment + sex + treatment:sex", data=rp,
              random="~ 1 | Litter", weights=VarIdent(form="~ 1 | treatment"))
    rel = 2e-5
    assert fit.cov_re.iloc[0, 0] == pytest.approx(0.09827257, rel=rel)
    ratio = fit.variance_params
    for stratum, var in (("Control", 0.26501379), ("Low", 0.08459389), ("High", 0.10835920)):
        assert fit.scale * ratio[stratum] ** 2 == pytest.approx(var, rel=rel)
    blue = {"Intercept": 7.93716099, "Lsize": -0.13000719, "treatment[T.High]": -0.80860961,
            "treatment[T.Low]": -0.39027870, "sex[T.Male]": 0.40813188,
            "treatment[T.High]:sex[T.Male]": -0.09466631,
            "treatment[T.Low]:sex[T.Male]": -0.07601342}
    for name, v in blue.items():
        assert fit.fe_params[name] == pytest.approx(v, rel=rel)


def test_sires_reml(data):
    s = data("sires")
    fit = lme("bw ~ 1", data=s, random="~ 1 | sire")
    # PROC MIXED: sigma_tau^2 116.75, sigma^2 463.79; mean 82.5500 (SE 5.9114, DF 4)
    assert round(fit.cov_re.iloc[0, 0], 2) == 116.75
    assert round(fit.scale, 2) == 463.79
    assert round(fit.fe_params["Intercept"], 4) == 82.55
    assert round(fit.bse_fe["Intercept"], 4) == 5.9114
    # nlme's containment rule gives the intercept the largest stratum DF (35); SAS's
    # DF 4 comes from its own rule (Satterthwaite / containment of sire)
    assert fit.df_resid_fe["Intercept"] == 35
    # balanced one-way ANOVA by hand: MSE = 463.79286 (SAS), sigma_tau^2 = (MSA - MSE)/n
    y = s["bw"].to_numpy(dtype=float).reshape(5, 8)
    mse = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum() / 35
    msa = 8 * ((y.mean(axis=1) - y.mean()) ** 2).sum() / 4
    assert fit.scale == pytest.approx(mse, rel=1e-8)
    assert fit.cov_re.iloc[0, 0] == pytest.approx((msa - mse) / 8, rel=1e-6)
