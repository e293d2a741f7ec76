"""Tests of the plots (bayescale.plots): each draws what it claims, from the fit, readably.

One small Chinchilla fit on the demo's simulated runs serves the module. A plot is checked
by what a reader would look at: the rendered PNG is not blank, the axes are logarithmic where
the data span decades and their limits contain the data, and the curves come from the fit.
Every plot returns the axes it drew on and draws into axes it is given (composable).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from PIL import Image

import bayescale
from bayescale import plots

# Not bayescale.compare(...): importing the submodule bayescale.compare rebinds that name.
from bayescale.comparison import compare, score
from bayescale.demo import BUDGETS, TARGET, demo_runs
from bayescale.errors import BayescaleError, ExtrapolationWarning
from bayescale.laws import get_law

SMALL = {"draws": 300, "tune": 300, "chains": 2, "seed": 0}


@pytest.fixture(scope="module")
def demo_fit() -> bayescale.Fit:
    return bayescale.fit(demo_runs(0), "chinchilla", **SMALL)


def inked(drawn) -> float:
    """Share of the rendered figure's pixels that are not white (what a plot returned)."""
    png = plots.figure_to_png(drawn, dpi=60)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float((image < 245).mean())


def test_plot_fit_keeps_the_data_on_log_axes(demo_fit) -> None:
    # Regression: shading the extrapolated region before switching to log axes collapsed the
    # x-axis to a sliver when a target was drawn.
    ax = plots.plot_fit(demo_fit, budgets=BUDGETS, targets=[TARGET])
    assert isinstance(ax, Axes)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    low, high = ax.get_xlim()
    n = demo_fit.runs.x("N")
    assert 0 < low <= n.min() and high >= TARGET["N"]
    assert high / low > 100  # the curves span decades, not a sliver
    assert inked(ax) > 0.05


def test_target_given_by_compute_is_completed(demo_fit) -> None:
    # Any two of N, D, C name a target: the third follows from C = k N D.
    c = demo_fit.runs.compute_factor * TARGET["N"] * TARGET["D"]
    ax = plots.plot_fit(demo_fit, budgets=BUDGETS, targets=[{"N": TARGET["N"], "C": c}])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"forecast N={TARGET['N']:.3g}, D={TARGET['D']:.3g}" in labels


def test_save_figure_writes_files_atomically(demo_fit, tmp_path) -> None:
    ax = plots.plot_fit(demo_fit)
    path = plots.save_figure(ax.figure, tmp_path / "fit.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    # What a plot returned is accepted too; an existing file is kept when asked to.
    svg = plots.save_figure(plots.plot_residuals(demo_fit), tmp_path / "residuals.svg")
    assert b"<svg" in svg.read_bytes()[:500]
    before = path.read_bytes()
    with pytest.raises(bayescale.OutputExistsError, match=r"fit\.png"):
        plots.save_figure(ax, path, overwrite=False)
    assert path.read_bytes() == before
    with pytest.raises(BayescaleError, match="does not exist"):
        plots.save_figure(ax, tmp_path / "missing" / "fit.png")


def test_plots_draw_into_the_callers_axes_without_pyplot(demo_fit) -> None:
    before = plt.get_fignums()
    ax = plots.plot_fit(demo_fit)
    assert plt.get_fignums() == before  # a plot's own figure is not left open in pyplot
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
    try:
        assert plots.plot_fit(demo_fit, ax=left) is left
        assert len(left.get_lines()) == len(ax.get_lines())
        drawn = plots.plot_residuals(demo_fit, axes=[middle, right])
        assert list(drawn) == [middle, right]
        assert [a.get_xlabel().split()[0] for a in drawn] == ["N", "D"]
        assert fig._suptitle is None  # the caller's figure is the caller's to title
        with pytest.raises(BayescaleError, match="needs 4 axes, got 2"):
            plots.plot_frontier(demo_fit, axes=[middle, right])
    finally:
        plt.close(fig)


def test_importing_the_plots_chooses_no_backend() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    code = "import matplotlib, bayescale.plots; print(matplotlib.rcParams._get_backend_or_none())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "None"


def test_loss_contours_follow_the_posterior_median(demo_fit) -> None:
    ax = plots.plot_loss_contours(demo_fit, targets=[TARGET])
    assert ax.get_xlim()[1] >= TARGET["N"] and ax.get_ylim()[1] >= TARGET["D"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("compute-optimal frontier" in text for text in labels)
    assert any("target" in text for text in labels)
    # The frontier drawn is the library's median optimum over the plotted range of compute.
    frontier = next(line for line in ax.get_lines() if line.get_label().startswith("compute"))
    n_drawn, d_drawn = (np.asarray(v) for v in frontier.get_data())
    k = demo_fit.runs.compute_factor
    (n_low, n_high), (d_low, d_high) = ax.get_xlim(), ax.get_ylim()
    budgets = np.geomspace(k * n_low * d_low, k * n_high * d_high, len(n_drawn))
    expected = demo_fit.compute_optimal(budgets)
    np.testing.assert_allclose(n_drawn, expected["N_median"], rtol=1e-6)
    np.testing.assert_allclose(d_drawn, expected["D_median"], rtol=1e-6)
    assert inked(ax) > 0.3


def test_loss_contours_refuse_a_law_without_n_and_d() -> None:
    fake = SimpleNamespace(law=get_law("power_law_C"))
    with pytest.raises(BayescaleError, match="N and D"):
        plots.plot_loss_contours(fake)
    with pytest.raises(BayescaleError, match="N and D"):
        plots.plot_frontier(fake)


def test_residuals_have_one_panel_per_input(demo_fit) -> None:
    axes = plots.plot_residuals(demo_fit)
    panels = list(axes)
    assert [ax.get_xlabel().split()[0] for ax in panels] == ["N", "D"]
    points = panels[0].collections[-1].get_offsets()
    assert len(points) == len(demo_fit.runs)
    # Residuals of a good fit to 1% noise are a few percent at most.
    assert np.abs(np.asarray(points)[:, 1]).max() < 10
    assert "inside their 90% predictive interval" in axes[0].figure.texts[0].get_text()


def test_posterior_predictive_is_still_importable_from_plots() -> None:
    from bayescale import checks

    assert plots.posterior_predictive is checks.posterior_predictive


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("ppc", lambda f: plots.plot_ppc(f)),
        ("pair", lambda f: plots.plot_pair(f)),
        ("frontier", lambda f: plots.plot_frontier(f, budgets=[5.88e23])),
        ("fan", lambda f: plots.plot_forecast_fan(f, [TARGET, {"N": 7e9, "D": 1.4e11}])),
    ],
)
def test_every_plot_renders_with_content(demo_fit, name, make) -> None:
    axes = make(demo_fit)
    assert isinstance(axes, np.ndarray), name
    assert all(isinstance(ax, Axes) for ax in axes.ravel()), name
    fig = axes.ravel()[0].figure
    assert fig._suptitle is not None and demo_fit.law.name in fig._suptitle.get_text(), name
    assert inked(axes) > 0.03, name


def test_ppc_survives_replicated_losses_that_under_or_overflow(demo_fit, monkeypatch) -> None:
    # Regression: with Student-t noise of small nu, exp(mu + sigma * t) can be 0 or inf; the
    # check took log(y) of them and raised "use scale='linear'", crashing the report.
    import arviz as az

    from bayescale.checks import posterior_predictive

    real = posterior_predictive(demo_fit)
    loss = real.posterior_predictive["loss"].values.copy()
    loss[0, 0, 0], loss[0, 1, 2], loss[1, 2, 3] = 0.0, np.inf, 0.0
    broken = az.from_dict(
        posterior_predictive={"loss": loss},
        observed_data={"loss": demo_fit.runs.y},
        dims={"loss": ["run"]},
    )
    monkeypatch.setattr(plots.diagnostics, "posterior_predictive", lambda fit, seed: broken)
    density, per_run = plots.plot_ppc(demo_fit)
    assert f"3 of {loss.size} replicated values left out" in density.get_title()
    band = per_run.collections[0].get_paths()[0].vertices
    assert np.isfinite(band).all()
    assert inked(np.array([density, per_run])) > 0.03


def test_rank_plot_has_a_row_per_parameter(demo_fit) -> None:
    axes = plots.plot_rank(demo_fit)
    assert axes.shape == (len(demo_fit.parameter_names), 2)
    titles = {ax.get_title() for ax in axes.ravel()}
    assert set(demo_fit.parameter_names) <= titles
    assert inked(axes) > 0.03


def test_prior_posterior_marks_published_values(demo_fit) -> None:
    axes = plots.plot_prior_posterior(demo_fit)
    fig = axes.ravel()[0].figure
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["prior", "posterior"]
    assert "Hoffmann 2022" in legend and "Besiroglu 2024" in legend
    alpha = next(ax for ax in fig.axes if ax.get_title() == "alpha")
    marked = {round(line.get_xdata()[0], 4) for line in alpha.get_lines()}
    assert marked == {0.34, 0.35}
    assert alpha.get_xscale() == "log"  # a positive parameter
    assert inked(axes) > 0.03


def band(ax: Axes, label: str) -> np.ndarray:
    """The y values of the filled band with this legend label."""
    drawn = [c for c in ax.collections if c.get_label() == label]
    assert len(drawn) == 1, [c.get_label() for c in ax.collections]
    return np.concatenate([path.vertices[:, 1] for path in drawn[0].get_paths()])


def test_frontier_bands_come_from_compute_optimal(demo_fit) -> None:
    axes = plots.plot_frontier(demo_fit, budgets=[1e24], level=0.8)
    assert axes.shape == (2, 2)
    n_axis = axes[0, 0]
    median = next(line for line in n_axis.get_lines() if line.get_label() == "median (law)")
    budgets, n_drawn = (np.asarray(v) for v in median.get_data())
    table = demo_fit.compute_optimal(budgets, level=0.8)
    np.testing.assert_allclose(n_drawn, table["N_median"].to_numpy())
    assert budgets.max() >= 0.999e25  # 10x past the largest budget asked about
    # Regression: only the law's band was drawn, though the report budgets with the wider
    # one. Both are there, labelled, each spanning its own columns.
    assert "N_disc_lower_80" in table.columns  # the demo's runs teach the plan's error
    for ax, name in zip(axes.ravel()[:3], ("N", "D", "tokens_per_parameter"), strict=True):
        law = band(ax, "80% credible (law)")
        disc = band(ax, "80% with discrepancy (to budget with)")
        for drawn, prefix in ((law, name), (disc, f"{name}_disc")):
            np.testing.assert_allclose(drawn.min(), table[f"{prefix}_lower_80"].min(), rtol=1e-9)
            np.testing.assert_allclose(drawn.max(), table[f"{prefix}_upper_80"].max(), rtol=1e-9)
        assert disc.max() > law.max() and disc.min() < law.min()


def test_fan_chart_bars_the_target_at_the_level_asked(demo_fit) -> None:
    # Regression: the bar was the widest level's (95%), labelled only "target", in a report
    # whose tables are at 90%.
    table = demo_fit.forecast(TARGET, level=[0.8, 0.9, 0.95])
    for level, tag in ((0.9, "90"), (0.8, "80")):
        (ax,) = plots.plot_forecast_fan(demo_fit, [TARGET], level=level)
        (bar,) = [c for c in ax.containers if c.get_label().startswith("target")]
        assert bar.get_label() == f"target ({tag}% predictive)"
        low, high = bar.lines[2][0].get_segments()[0][:, 1]
        assert low == pytest.approx(table[f"pred_lower_{tag}"].iloc[0], rel=1e-9)
        assert high == pytest.approx(table[f"pred_upper_{tag}"].iloc[0], rel=1e-9)
    # A level outside the fan's own is added to it, not refused.
    (ax,) = plots.plot_forecast_fan(demo_fit, [TARGET], levels=(0.5, 0.8), level=0.9)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "90% predictive" in labels and "target (90% predictive)" in labels


def test_fan_chart_shades_only_beyond_the_data(demo_fit) -> None:
    inside = {"N": 1e9, "D": 2e10}
    far, near = plots.plot_forecast_fan(demo_fit, [TARGET, inside])
    assert any(t.get_text() == "beyond the data" for t in far.get_legend().get_texts())
    # The path to the near target leaves the data only past it (4x): its shading starts
    # beyond the target's compute.
    c_inside = demo_fit.runs.compute_factor * inside["N"] * inside["D"]
    spans = [p for p in near.patches if p.get_label() == "beyond the data"]
    assert all(p.get_x() > c_inside for p in spans)
    with pytest.raises(BayescaleError, match="at least one target"):
        plots.plot_forecast_fan(demo_fit, [])


def test_comparison_plot(demo_fit) -> None:
    comparison = compare({"chinchilla": demo_fit, "again": demo_fit})
    axes = plots.plot_comparison(comparison.loo)
    assert len(axes) == 1 and len(axes[0].figure.axes) == 1
    assert inked(axes) > 0.02
    held_out = score(demo_fit, demo_fit.runs.subset(demo_fit.runs.x("N") > 5e9))
    rows = pd.DataFrame(
        [{"law": law, "holdout": "N > 5e+09", **held_out} for law in ("chinchilla", "again")]
    )
    axes = plots.plot_comparison(comparison.loo, rows)
    assert len(axes) == 3
    assert [t.get_text() for t in axes[1].get_yticklabels()] == ["chinchilla", "again"]
    assert inked(axes) > 0.05


FAR = {"N": 1e12, "D": 2e13}  # 1T parameters on 20T tokens: far beyond the demo's backtests


def extrapolation_warnings(make) -> list[str]:
    """The ExtrapolationWarnings issued while ``make()`` runs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make()
    plt.close("all")
    return [str(w.message) for w in caught if issubclass(w.category, ExtrapolationWarning)]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("plot_fit", lambda f: plots.plot_fit(f, targets=[FAR])),
        ("plot_frontier", lambda f: plots.plot_frontier(f, budgets=[6 * FAR["N"] * FAR["D"]])),
        ("plot_loss_contours", lambda f: plots.plot_loss_contours(f, targets=[FAR])),
        ("plot_forecast_fan", lambda f: plots.plot_forecast_fan(f, [FAR])),
    ],
)
def test_plots_do_not_warn_of_their_own_grids_far_beyond_the_backtests(
    demo_fit, name, make
) -> None:
    # The plots' grids (IsoFLOP curves around the target, the frontier 10x past the budget)
    # lie beyond the runs by design, shaded as such: they say nothing on the console.
    assert extrapolation_warnings(lambda: make(demo_fit)) == [], name
    # The same far point asked of the fit itself is warned about.
    said = extrapolation_warnings(lambda: demo_fit.forecast(FAR))
    assert len(said) == 1 and said[0].startswith("forecast: point 1 at N = 1T, D = 20T")
    plan = extrapolation_warnings(lambda: demo_fit.compute_optimal(6 * FAR["N"] * FAR["D"]))
    assert len(plan) == 1 and plan[0].startswith("compute_optimal: the plan at C = 1.2e26")
