"""The matplotlib plots: the artists carry the fit's numbers."""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from lmmext import (ACF, CorAR1, CorExp, Variogram, gls, lme, plot_acf,  # noqa: E402
                    plot_observed_fitted, plot_qq, plot_resid_fitted, plot_variogram)
from lmmext.validation import load_dataset  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def orthodont():
    return load_dataset("Orthodont")


@pytest.fixture(scope="module")
def orth_lme(orthodont):
    return lme("distance ~ age + Sex", data=orthodont, random="~ age | Subject")


@pytest.fixture(scope="module")
def orth_gls(orthodont):
    return gls("distance ~ age + Sex", data=orthodont, correlation=CorAR1(form="~ 1 | Subject"))


def _points(ax):
    (scatter,) = ax.collections
    return np.asarray(scatter.get_offsets())


def _horizontal_zero(ax):
    return any(np.allclose(line.get_ydata(), 0.0) and len(line.get_ydata()) == 2
               for line in ax.lines)


def test_resid_fitted_single_panel(orth_lme):
    fig = plot_resid_fitted(orth_lme)
    (ax,) = fig.axes
    np.testing.assert_array_equal(_points(ax), np.column_stack(
        [orth_lme.fittedvalues, orth_lme.resid_pearson]))
    assert _horizontal_zero(ax)
    assert ax.get_ylabel() == "Standardized residuals"


def test_resid_fitted_by_sex_has_one_panel_per_level(orth_lme, orthodont):
    fig = plot_resid_fitted(orth_lme, by="Sex", type="response")
    assert [ax.get_title() for ax in fig.axes] == ["Sex = Male", "Sex = Female"]
    for ax, level in zip(fig.axes, ["Male", "Female"]):
        rows = (orthodont["Sex"] == level).to_numpy()
        np.testing.assert_array_equal(_points(ax), np.column_stack(
            [orth_lme.fittedvalues[rows], orth_lme.resid[rows]]))
        assert _horizontal_zero(ax)


def test_resid_fitted_into_given_axes_and_errors(orth_gls):
    fig, ax = plt.subplots()
    assert plot_resid_fitted(orth_gls, ax=ax) is fig
    np.testing.assert_array_equal(_points(ax)[:, 1], orth_gls.resid_pearson)
    with pytest.raises(ValueError, match="ax= is only for a single panel"):
        plot_resid_fitted(orth_gls, by="Sex", ax=ax)
    with pytest.raises(KeyError, match="'height' is not a column"):
        plot_resid_fitted(orth_gls, by="height")
    with pytest.raises(ValueError, match="one value per observation"):
        plot_resid_fitted(orth_gls, by=[1, 2, 3])
    with pytest.raises(ValueError, match="type"):
        plot_resid_fitted(orth_gls, type="studentized")


def test_by_column_from_data(orthodont):
    fit = gls("distance ~ age", data=orthodont)
    fig = plot_resid_fitted(fit, by="Sex", data=orthodont)
    assert [len(_points(ax)) for ax in fig.axes] == [64, 44]


def test_qq_residuals(orth_lme):
    fig = plot_qq(orth_lme)
    (ax,) = fig.axes
    pts = _points(ax)
    n = len(orth_lme.resid_pearson)
    # R's ppoints(n) for n > 10: (i - 1/2) / n
    np.testing.assert_allclose(pts[:, 0], stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n),
                               rtol=1e-14)
    np.testing.assert_array_equal(pts[:, 1], np.sort(orth_lme.resid_pearson))


def test_qq_by_panel(orth_lme, orthodont):
    fig = plot_qq(orth_lme, by="Sex", type="normalized")
    assert len(fig.axes) == 2
    female = (orthodont["Sex"] == "Female").to_numpy()
    np.testing.assert_array_equal(_points(fig.axes[1])[:, 1],
                                  np.sort(orth_lme.resid_normalized[female]))


def test_qq_ranef_one_panel_per_column(orth_lme):
    fig = plot_qq(orth_lme, which="ranef")
    blups = orth_lme.ranef()
    assert [ax.get_title() for ax in fig.axes] == list(blups.columns)
    for ax, col in zip(fig.axes, blups.columns):
        np.testing.assert_array_equal(_points(ax)[:, 1], np.sort(blups[col]))


def test_qq_ranef_small_sample_uses_r_ppoints():
    machines = load_dataset("Machines")
    fit = lme("score ~ Machine", data=machines, random="~ 1 | Worker")
    (ax,) = plot_qq(fit, which="ranef").axes
    # R: ppoints(6) = (1:6 - 3/8) / (6 + 1 - 3/4) = 0.1, 0.26, 0.42, 0.58, 0.74, 0.9
    np.testing.assert_allclose(_points(ax)[:, 0],
                               stats.norm.ppf([0.1, 0.26, 0.42, 0.58, 0.74, 0.9]), rtol=1e-12)


def test_qq_errors(orth_gls, orth_lme):
    with pytest.raises(ValueError, match="no random effects"):
        plot_qq(orth_gls, which="ranef")
    with pytest.raises(ValueError, match="which"):
        plot_qq(orth_lme, which="fixef")


def test_observed_fitted_with_identity_line(orth_lme, orthodont):
    fig = plot_observed_fitted(orth_lme, level=0)
    (ax,) = fig.axes
    np.testing.assert_array_equal(_points(ax), np.column_stack(
        [orth_lme.fitted(level=0), orthodont["distance"]]))
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_xdata(), line.get_ydata())


def test_observed_fitted_by_group(orth_lme, orthodont):
    fig = plot_observed_fitted(orth_lme, by_group=True, x="age", max_panels=6)
    assert len(fig.axes) == 6
    assert "first 6 of 27" in fig.get_suptitle()
    first = orthodont["Subject"].cat.categories[0]        # nlme's first group
    ax = fig.axes[0]
    assert ax.get_title() == first
    rows = (orthodont["Subject"] == first).to_numpy()
    np.testing.assert_array_equal(_points(ax), orthodont.loc[rows, ["age", "distance"]])
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_ydata(), orth_lme.fittedvalues[rows])


def test_observed_fitted_errors(orth_gls, orthodont):
    assert len(plot_observed_fitted(orth_gls, by_group=True).axes) == 16
    plain = gls("distance ~ age", data=orthodont)
    with pytest.raises(ValueError, match="no grouped correlation"):
        plot_observed_fitted(plain, by_group=True)
    with pytest.raises(ValueError, match="level 0"):
        plot_observed_fitted(plain, level=1)


def test_variogram_plot_shows_table_and_model():
    wheat = load_dataset("Wheat2")
    fit = gls("Q('yield') ~ variety - 1", data=wheat,
              correlation=CorExp(value=5.09, form="~ latitude + longitude", fixed=True))
    vario = Variogram(fit)
    fig = vario.plot()
    (ax,) = fig.axes
    np.testing.assert_array_equal(_points(ax), vario[["dist", "variog"]])
    (model,) = ax.lines
    np.testing.assert_array_equal(model.get_xdata(), vario.model["dist"])
    np.testing.assert_array_equal(model.get_ydata(), vario.model["variog"])
    with pytest.raises(ValueError, match="no model semivariogram"):
        plot_variogram(Variogram(fit, resType="normalized"), show_model=True)


def test_variogram_plot_without_model_has_a_smooth(orth_gls):
    vario = Variogram(orth_gls)
    fig, ax = plt.subplots()
    assert plot_variogram(vario, ax=ax) is fig
    np.testing.assert_array_equal(_points(ax), vario[["dist", "variog"]])
    assert [line.get_label() for line in ax.lines] == ["smooth"]


def test_acf_plot_bars_and_bands(orth_lme):
    acf = ACF(orth_lme)
    fig = acf.plot(alpha=0.05)
    (ax,) = fig.axes
    (bars,) = ax.collections
    for seg, (lag, value) in zip(bars.get_segments(), acf[["lag", "ACF"]].to_numpy()):
        np.testing.assert_array_equal(seg, [[lag, 0.0], [lag, value]])
    assert len(bars.get_segments()) == len(acf)
    bands = [line for line in ax.lines if line.get_linestyle() == "--"]
    # nlme's plot.ACF: +-qnorm(1 - alpha/2) / sqrt(n.used)
    height = 1.959963984540054 / np.sqrt(acf["n_pairs"].to_numpy())
    np.testing.assert_allclose(bands[0].get_ydata(), height, rtol=1e-12)
    np.testing.assert_allclose(bands[1].get_ydata(), -height, rtol=1e-12)
    assert _horizontal_zero(ax)


def test_acf_plot_without_bands_and_errors(orth_lme):
    acf = ACF(orth_lme)
    (ax,) = plot_acf(acf, alpha=0).axes
    assert not [line for line in ax.lines if line.get_linestyle() == "--"]
    with pytest.raises(ValueError, match="alpha"):
        plot_acf(acf, alpha=1.5)
    with pytest.raises(TypeError, match="ACF"):
        plot_acf(acf[["lag"]])


def test_missing_matplotlib_gives_install_hint(orth_lme, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"lmmext\[plot\]"):
        plot_resid_fitted(orth_lme)
