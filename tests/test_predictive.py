"""Tests of Fit.predictive: the draws a forecast summarises, as xarray over (chain, draw, point)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import chinchilla_loss

import bayescale
from bayescale.errors import DataError

AT = {"N": [1e8, 1e9, 1e10, 7e10], "D": [2e9, 2e10, 2e11, 1.4e12]}


@pytest.fixture(scope="module")
def drawn(healthy_fit: bayescale.Fit) -> xr.Dataset:
    return healthy_fit.predictive(AT)


def test_the_draws_are_over_chain_draw_and_point(healthy_fit, drawn):
    post = healthy_fit.idata.posterior
    assert set(drawn.data_vars) == {"law", "disc", "pred"}  # the fit has a discrepancy
    for name in drawn.data_vars:
        assert drawn[name].dims == ("chain", "draw", "point")
        assert drawn[name].dtype == np.float32
    assert drawn.sizes == {"chain": post.sizes["chain"], "draw": post.sizes["draw"], "point": 4}
    np.testing.assert_array_equal(drawn["N"], AT["N"])
    np.testing.assert_allclose(drawn["C"], 6 * np.array(AT["N"]) * np.array(AT["D"]))
    assert drawn.attrs["law"] == "chinchilla" and drawn.attrs["y"] == "loss"
    assert drawn.attrs["diagnostics_ok"] == 1 and drawn.attrs["seed"] == healthy_fit.seed


def test_each_draw_is_the_law_of_its_own_chain_and_draw(healthy_fit, drawn):
    # The reshape from flat draws keeps chain c, draw d where the posterior has it.
    post = healthy_fit.idata.posterior
    for chain, draw in [(0, 0), (1, 7), (1, post.sizes["draw"] - 1)]:
        params = {k: float(post[k].sel(chain=chain, draw=draw)) for k in ("E", "A", "B")}
        params |= {k: float(post[k].sel(chain=chain, draw=draw)) for k in ("alpha", "beta")}
        want = chinchilla_loss(AT["N"], AT["D"], params)
        got = drawn["law"].sel(chain=chain, draw=draw).values
        np.testing.assert_allclose(got, want, rtol=2e-6)


def test_the_forecast_is_the_summary_of_these_draws(healthy_fit, drawn):
    table = healthy_fit.forecast(AT, level=[0.5, 0.9])
    flat = {name: drawn[name].values.reshape(-1, 4) for name in drawn.data_vars}
    for name in ("law", "disc", "pred"):
        np.testing.assert_array_equal(
            drawn[name].median(("chain", "draw")).values, table[f"{name}_median"]
        )
        for prob, column in ((0.05, "lower_90"), (0.95, "upper_90"), (0.75, "upper_50")):
            np.testing.assert_allclose(
                np.quantile(flat[name], prob, axis=0), table[f"{name}_{column}"], rtol=1e-6
            )
    np.testing.assert_allclose(flat["law"].mean(axis=0), table["law_mean"], rtol=1e-6)
    np.testing.assert_array_equal(drawn["distance"], table["distance"])
    # A new run's noise and the discrepancy widen the law's spread, never narrow it.
    assert (flat["pred"].std(axis=0) > flat["law"].std(axis=0)).all()


def test_the_seed_moves_the_noise_not_the_law(healthy_fit, drawn):
    again = healthy_fit.predictive(AT)
    xr.testing.assert_identical(again, drawn)
    other = healthy_fit.predictive(AT, seed=healthy_fit.seed + 1)
    xr.testing.assert_equal(other["law"], drawn["law"])
    assert not np.array_equal(other["pred"].values, drawn["pred"].values)
    table = healthy_fit.forecast(AT, seed=healthy_fit.seed + 1)
    np.testing.assert_array_equal(other["pred"].median(("chain", "draw")), table["pred_median"])


def test_a_joint_question_the_table_cannot_answer(drawn):
    # P(the larger model's run beats the smaller's): from the joint draws, not the quantiles.
    pred = drawn["pred"]
    beats = float((pred.isel(point=3) < pred.isel(point=2)).mean())
    assert beats > 0.9


def test_labels_and_a_dataframe_index_are_coordinates(healthy_fit, tmp_path):
    frame = pd.DataFrame({"name": ["small", "large"], "N": [1e9, 7e10], "D": [2e10, 1.4e12]})
    frame.index = ["a", "b"]
    drawn = healthy_fit.predictive(frame)
    assert list(drawn["point"].values) == ["a", "b"]
    assert list(drawn["name"].values) == ["small", "large"]
    # It saves as NetCDF (no booleans or dicts in its attrs) and reads back the same.
    path = tmp_path / "drawn.nc"
    drawn.to_netcdf(path, engine="h5netcdf")
    back = xr.load_dataset(path, engine="h5netcdf")
    np.testing.assert_array_equal(back["pred"].values, drawn["pred"].values)


def test_a_reloaded_fit_gives_the_same_draws(healthy_fit, drawn, tmp_path):
    path = healthy_fit.save(tmp_path / "fit.nc")
    xr.testing.assert_identical(bayescale.load_fit(path).predictive(AT), drawn)


def test_far_points_warn_as_in_forecast(healthy_fit):
    at = {"N": [70.0, 1e9], "D": [1400.0, 2e10]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = healthy_fit.predictive(at)
    far = [str(w.message) for w in caught if "the backtests checked" in str(w.message)]
    assert len(far) == 1 and far[0].startswith("forecast: point 1 at N = 70")
    assert drawn.attrs["beyond_backtests"] == [0] and drawn.attrs["caveats"] == far


def test_bad_points_are_refused_as_in_forecast(healthy_fit):
    with pytest.raises(DataError, match=r"'n' was not used: did you mean N\?"):
        healthy_fit.predictive({"n": 1e9, "D": 2e10})


def test_a_fit_without_groups_refuses_a_group(healthy_fit):
    with pytest.raises(DataError, match="this fit has no groups"):
        healthy_fit.predictive(AT, group="a")


@pytest.fixture(scope="module")
def grouped(sim_runs: bayescale.Runs) -> bayescale.Fit:
    """Chinchilla fitted with groups (short: only the shapes and the groups are checked)."""
    frame = pd.DataFrame(
        {
            "params": sim_runs.x("N"),
            "tokens": sim_runs.x("D"),
            "loss": sim_runs.y,
            "family": np.resize(["x", "y"], len(sim_runs)),
        }
    )
    runs = bayescale.load_runs(frame, x={"N": "params", "D": "tokens"}, group="family")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bayescale.fit(runs, draws=100, tune=100, chains=2, seed=0, prior_draws=0, retries=0)


@pytest.mark.filterwarnings("ignore:.*failed its diagnostics")
def test_groups_stack_along_point_as_forecast_stacks_rows(grouped):
    at = {"N": [1e9, 1e10], "D": [2e10, 2e11]}
    drawn = grouped.predictive(at, group=["y", "new"])
    table = grouped.forecast(at, group=["y", "new"])
    assert list(drawn["group"].values) == table["group"].tolist() == ["y", "y", "new", "new"]
    assert list(drawn["point"].values) == [0, 1, 2, 3]
    np.testing.assert_array_equal(drawn["pred"].median(("chain", "draw")), table["pred_median"])
    # A group column of the points: each point its own group, in the order given.
    rows = pd.DataFrame({"family": ["y", "x", "y"], "N": [1e9, 1e9, 1e10], "D": [2e10] * 3})
    drawn = grouped.predictive(rows)
    table = grouped.forecast(rows)
    assert list(drawn["group"].values) == table["group"].tolist() == ["y", "x", "y"]
    np.testing.assert_array_equal(drawn["law"].median(("chain", "draw")), table["law_median"])
    with pytest.raises(DataError, match="not both"):
        grouped.predictive(rows, group="x")
