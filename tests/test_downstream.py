"""Downstream metrics through the loss (bayescale.downstream): link laws, fits and the chain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale import downstream
from bayescale.errors import DataError

TRUE_LINK = {"eps": 0.72, "k": 0.1, "gamma": 0.8}
SETTINGS = {"draws": 300, "tune": 300, "chains": 2, "seed": 5}


def _link_runs(n: int = 40, noise: float = 0.005, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    loss = rng.uniform(1.9, 3.6, n)  # the losses of the Chinchilla runs in conftest
    error = TRUE_LINK["eps"] - TRUE_LINK["k"] * np.exp(TRUE_LINK["gamma"] * (3.5 - loss))
    return pd.DataFrame({"val_loss": loss, "err": error + noise * rng.standard_normal(n)})


@pytest.fixture(scope="module")
def link_fit():
    return downstream.fit_link(_link_runs(), "val_loss", "err", chance=0.25, **SETTINGS)


def test_link_laws_come_from_the_link_catalog_with_chance_in_the_prior():
    plain = downstream.link_law("exponential")
    assert list(plain.inputs) == ["L"] and plain.likelihood.scale == "linear"
    assert plain.parameters["eps"].prior.distribution == "Uniform"
    centred = downstream.link_law("exponential", chance=0.25)
    prior = centred.parameters["eps"].prior
    assert prior.distribution == "TruncatedNormal"
    assert prior.parameters["mu"] == pytest.approx(0.75)
    assert downstream.link_law("sigmoid", chance=0.5).parameters["e_max"].prior.parameters[
        "mu"
    ] == pytest.approx(0.5)
    assert list(downstream.link_law("a - b * L").inputs) == ["L"]
    with pytest.raises(DataError, match=r"maps the loss L to a metric.*inputs N"):
        downstream.link_law("chinchilla")
    with pytest.raises(DataError, match=r"chance is an accuracy in \[0, 1\), got 25"):
        downstream.link_law("exponential", chance=25)


def test_a_task_at_chance_is_flagged_and_not_fitted():
    at_chance = np.array([0.76, 0.74, 0.73, 0.75])  # four choices: chance error 0.75
    assert downstream.near_chance(at_chance, 0.25)
    assert not downstream.near_chance(at_chance - 0.1, 0.25)
    assert not downstream.near_chance(at_chance, None)
    frame = pd.DataFrame({"val_loss": [3.0, 3.5, 4.0, 4.5], "acc": 1 - at_chance})
    with pytest.raises(DataError, match=r"'acc' stays at chance.*train larger models"):
        downstream.fit_link(frame, "val_loss", "acc", chance=0.25, accuracy=True)
    with pytest.raises(DataError, match=r"column\(s\) 'acc2' not in the runs"):
        downstream.fit_link(frame, "val_loss", "acc2")


def test_the_link_fit_recovers_its_parameters(link_fit):
    assert link_fit.ok
    summary = link_fit.summary(level=0.9)
    for name, value in TRUE_LINK.items():
        low, high = summary.loc[name, "hdi_90_lower"], summary.loc[name, "hdi_90_upper"]
        assert low <= value <= high, (name, low, value, high)


def test_the_chain_carries_both_posteriors_to_the_metric(healthy_fit, link_fit):
    near, far = {"N": 1e9, "D": 2e10}, {"N": 1e12, "D": 2e13}  # in the runs; 300x beyond
    points = pd.DataFrame([near, far])
    table = downstream.chain(healthy_fit, link_fit, points, level=0.9)
    loss = table["loss_median"].to_numpy()
    # The median follows the link at the median loss (a monotone link keeps medians).
    theta = link_fit.draws(["eps", "k", "gamma"])
    at_median = theta["eps"][:, None] - theta["k"][:, None] * np.exp(
        theta["gamma"][:, None] * (3.5 - loss[None, :])
    )
    np.testing.assert_allclose(table["error_median"], np.median(at_median, axis=0), atol=0.01)
    width = (table["error_upper_90"] - table["error_lower_90"]).to_numpy()
    pred_width = (table["pred_upper_90"] - table["pred_lower_90"]).to_numpy()
    assert np.all(pred_width > width)  # one model adds both noises
    # Far beyond the runs the loss is less certain, and so is the metric.
    assert width[1] > 1.5 * width[0]
    again = downstream.chain(healthy_fit, link_fit, points, level=0.9)
    pd.testing.assert_frame_equal(again, table)
    with pytest.raises(DataError, match=r"need the loss law's input.*D"):
        downstream.chain(healthy_fit, link_fit, {"N": [1e9]})


def test_the_link_command_chains_a_saved_loss_fit(healthy_fit, tmp_path):
    import json

    from typer.testing import CliRunner

    from bayescale.cli import app

    fit_file = healthy_fit.save(tmp_path / "loss.nc")
    _link_runs().to_csv(tmp_path / "runs.csv", index=False)
    base = ["link", str(fit_file), str(tmp_path / "runs.csv"), "--loss", "val_loss"]
    runner = CliRunner(env={"COLUMNS": "200"})
    done = runner.invoke(
        app,
        [
            *base,
            "--metric",
            "err",
            "--chance",
            "0.25",
            "--at",
            "N=1e9,D=2e10",
            "--draws",
            "200",
            "--tune",
            "200",
            "--format",
            "json",
        ],
    )
    assert done.exit_code == 0, done.output
    (row,) = json.loads(done.output)["rows"]
    assert row["pred_lower_90"] < row["error_median"] < row["pred_upper_90"]
    missing = runner.invoke(app, [*base, "--metric", "err"])
    assert missing.exit_code == 2 and "give at least one target with --at" in missing.output
    wrong = runner.invoke(app, [*base, "--metric", "nope", "--at", "N=1e9,D=2e10"])
    assert wrong.exit_code == 2 and "'nope' not in the runs" in wrong.output
