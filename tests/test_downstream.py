"""Downstream metrics through the loss (bayescale.downstream): link laws, fits and the chain."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import TRUTH, chinchilla_loss

from bayescale import downstream
from bayescale import load_fit as bayescale_load_fit
from bayescale.downstream import OUTSIDE_SHARE
from bayescale.errors import DataError

TRUE_LINK = {"eps": 0.72, "k": 0.1, "gamma": 0.8}
SETTINGS = {"draws": 300, "tune": 300, "chains": 2, "seed": 5}


def _link_runs(
    n: int = 40, noise: float = 0.005, seed: int = 0, loss: str = "val_loss"
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.uniform(1.9, 3.6, n)  # the losses of the Chinchilla runs in conftest
    error = TRUE_LINK["eps"] - TRUE_LINK["k"] * np.exp(TRUE_LINK["gamma"] * (3.5 - values))
    return pd.DataFrame({loss: values, "err": error + noise * rng.standard_normal(n)})


@pytest.fixture(scope="module")
def link_fit():
    # 2 x 1000: passes its diagnostics at the first attempt on every CPU tried (2 x 300 at
    # this seed misses R-hat of eps by 0.001 after its retries on an AVX-512 machine).
    # On the loss column the loss fit models ('loss'), as a user's table has it.
    return downstream.fit_link(
        _link_runs(loss="loss"),
        "loss",
        "err",
        chance=0.25,
        **{**SETTINGS, "draws": 1000, "tune": 1000},
    )


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
    with pytest.raises(DataError, match=r"column\(s\) 'acc2' not in the runs; did you mean 'acc'"):
        downstream.fit_link(frame, "val_loss", "acc2")


def test_the_link_fit_recovers_its_parameters(link_fit):
    assert link_fit.ok
    summary = link_fit.summary(level=0.9)
    for name, value in TRUE_LINK.items():
        low, high = summary.loc[name, "hdi_90_lower"], summary.loc[name, "hdi_90_upper"]
        assert low <= value <= high, (name, low, value, high)


def test_the_link_says_its_input_l_is_the_loss_column(link_fit):
    # L's source is the loss column: a point named by it is pointed to L, not to N, D, C.
    assert link_fit.runs.columns == {"L": "loss"} and link_fit.runs.y_name == "error"
    table = link_fit.forecast({"L": [2.5]})
    assert 0 < table["law_median"].iloc[0] < 1
    with pytest.raises(DataError, match=r"needs L to forecast; missing L.*'loss'"):
        link_fit.forecast({"loss": [2.5]})


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
    with pytest.raises(DataError, match=r"needs N, D to forecast; missing D"):
        downstream.chain(healthy_fit, link_fit, {"N": [1e9]})


def test_many_metrics_at_once_flag_the_ones_at_chance(healthy_fit):
    runs = _link_runs()
    runs["acc_good"] = 1 - runs["err"]
    rng = np.random.default_rng(1)
    runs["acc_chance"] = 0.25 + 0.01 * rng.standard_normal(len(runs))  # four choices, at chance
    points = {"N": [1e9, 1e12], "D": [2e10, 2e13]}
    chance = {"acc_good": 0.25, "acc_chance": 0.25}
    table = downstream.forecast_metrics(
        healthy_fit, runs, "val_loss", ["acc_good", "acc_chance"], points,
        chance=chance, accuracy=True, **SETTINGS,
    )  # fmt: skip
    assert list(table["metric"]) == ["acc_good", "acc_good", "acc_chance", "acc_chance"]
    good, flat = table[table["metric"] == "acc_good"], table[table["metric"] == "acc_chance"]
    assert set(flat["status"]) == {"near chance"} and flat["note"].str.contains("at chance").all()
    assert flat["pred_median"].isna().all() and list(flat["N"]) == [1e9, 1e12]
    # The good task is the same link fit and chain as one call: identical numbers.
    link_fit = downstream.fit_link(
        runs, "val_loss", "acc_good", chance=0.25, accuracy=True, **SETTINGS
    )
    single = downstream.chain(healthy_fit, link_fit, points, level=0.9)
    assert good["status"].iloc[0] == ("ok" if link_fit.ok else "diagnostics failed")
    for column in ("loss_median", "error_median", "pred_lower_90", "pred_upper_90"):
        np.testing.assert_allclose(good[column], single[column])
    with pytest.raises(DataError, match="metrics must be a list"):
        downstream.forecast_metrics(healthy_fit, runs, "val_loss", "acc_good", points)
    with pytest.raises(DataError, match=r"column\(s\) 'nope' not in the runs"):
        downstream.forecast_metrics(healthy_fit, runs, "val_loss", ["nope"], points)


def test_a_metric_in_percent_or_a_chance_in_percent_is_refused():
    frame = _link_runs()
    frame["acc_pct"] = 100 * (1 - frame["err"])
    with pytest.raises(DataError, match=r"'acc_pct' row 1 is \d+\.\d+: .* an accuracy as a frac"):
        downstream.fit_link(frame, "val_loss", "acc_pct", accuracy=True)
    with pytest.raises(DataError, match=r"a percent\? divide the column by 100"):
        downstream.fit_link(frame, "val_loss", "acc_pct", accuracy=True)
    # Refused as a percent, not called "near chance" (the chance error would be -24).
    with pytest.raises(DataError, match=r"chance of 'err' is an accuracy in \[0, 1\), got 25 \(a"):
        downstream.fit_link(frame, "val_loss", "err", chance=25)


def test_the_loss_given_as_the_metric_is_named():
    with pytest.raises(DataError, match=r"the metric and the loss are the same column, 'val_loss'"):
        downstream.fit_link(_link_runs(), "val_loss", "val_loss")


def test_an_accuracy_taken_for_an_error_is_said_to_rise_as_the_loss_falls():
    from bayescale.errors import DataWarning

    frame = _link_runs()
    frame["acc"] = 1 - frame["err"]
    with pytest.warns(DataWarning, match=r"'acc' rises as the loss falls .* pass accuracy=True"):
        downstream._link_runs(frame, "val_loss", "acc", None, accuracy=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        downstream._link_runs(frame, "val_loss", "acc", None, accuracy=True)
        downstream._link_runs(frame, "val_loss", "err", None, accuracy=False)


def test_the_chain_says_when_the_link_was_fitted_on_another_loss(healthy_fit, link_fit):
    import dataclasses

    from bayescale.errors import DataWarning

    at = {"N": [1e9], "D": [2e10]}
    assert link_fit.info["loss"] == "loss" and healthy_fit.runs.y_name == "loss"
    # The same column, on losses that span the loss fit's runs': no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        downstream.chain(healthy_fit, link_fit, at)
    # Another column, from a table without the fit's (a rename, a join): said, with the
    # ranges, worded for the user whose two names are of one loss.
    renamed = dataclasses.replace(
        link_fit, info={**link_fit.info, "loss": "val_loss", "table_columns": ["val_loss", "err"]}
    )
    with pytest.warns(DataWarning) as caught:
        downstream.chain(healthy_fit, renamed, at)
    (message,) = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert message.startswith("the loss fit models 'loss' but the link was fitted on 'val_loss' (")
    assert "if these are the same loss under two names, ignore this" in message
    assert re.search(r"the link's runs have losses 1\.9\d* to 3\.\d+, the loss fit's \d", message)
    assert "although" not in message and "overlap" not in message
    # The link's table had the fit's loss column, and another was chosen.
    other = dataclasses.replace(
        renamed, info={**renamed.info, "table_columns": ["loss", "val_loss", "err"]}
    )
    with pytest.warns(DataWarning, match=r"models 'loss' but the link was fitted on 'val_loss', "
                      r"although its table has 'loss' too"):  # fmt: skip
        downstream.chain(healthy_fit, other, at)
    with pytest.raises(DataError, match=r"this fit has no groups"):
        downstream.chain(healthy_fit, link_fit, at, group="c4")


def test_the_chain_says_when_the_link_runs_losses_barely_overlap_the_fits(healthy_fit, link_fit):
    import dataclasses

    import bayescale
    from bayescale.errors import DataWarning

    # The same column name, but the link's runs have losses of another scale (5 to 7 nats
    # against the loss fit's 2 to 3.5): the link is another loss, or used where not fitted.
    frame = pd.DataFrame({"loss": np.linspace(5.0, 7.0, 10), "error": np.linspace(0.7, 0.5, 10)})
    shifted = dataclasses.replace(
        link_fit, runs=bayescale.load_runs(frame, x={"L": "loss"}, y="error")
    )
    apart = (
        r"fitted on other losses than the loss fit's runs have \(the link's runs have losses 5 "
        r"to 7, .*; they do not overlap\)"
    )
    with pytest.warns(DataWarning, match=apart):
        downstream.chain(healthy_fit, shifted, {"N": [1e9], "D": [2e10]})
    renamed = dataclasses.replace(
        shifted, info={**link_fit.info, "loss": "val_loss", "table_columns": ["val_loss"]}
    )
    with pytest.warns(DataWarning, match=r"fitted on 'val_loss' \(.*; they do not overlap\): if "
                      r"these are the same loss"):  # fmt: skip
        downstream.chain(healthy_fit, renamed, {"N": [1e9], "D": [2e10]})


def test_the_chain_takes_at_in_the_forms_fit_forecast_takes(healthy_fit, link_fit):
    records = [{"N": 1e9, "D": 2e10}, {"N": 1e12, "D": 2e13}]
    table = downstream.chain(healthy_fit, link_fit, records)
    columns = {"N": [1e9, 1e12], "D": [2e10, 2e13]}
    # C = 6 N D for the runs of conftest: N and C give the same D, hence the same numbers.
    by_compute = {"N": [1e9, 1e12], "C": [6 * 1e9 * 2e10, 6 * 1e12 * 2e13]}
    for at in (columns, pd.DataFrame(records), by_compute, {"N": ["1B", "1T"], "D": columns["D"]}):
        again = downstream.chain(healthy_fit, link_fit, at=at)
        np.testing.assert_allclose(again["pred_median"], table["pred_median"], rtol=1e-12)
        np.testing.assert_allclose(again["D"], columns["D"], rtol=1e-12)
    # points=, the former name, still works, as does one point given as numbers.
    pd.testing.assert_frame_equal(downstream.chain(healthy_fit, link_fit, points=records), table)
    one = downstream.chain(healthy_fit, link_fit, at={"N": 1e9, "D": 2e10})
    pd.testing.assert_frame_equal(one, downstream.chain(healthy_fit, link_fit, records[:1]))
    with pytest.raises(DataError, match=r"chain got both at= and points= \(its former name\)"):
        downstream.chain(healthy_fit, link_fit, at=records, points=records)
    with pytest.raises(DataError, match=r"chain needs the points to forecast at, e\.g\. at="):
        downstream.chain(healthy_fit, link_fit)


def test_a_chain_of_fits_that_failed_their_diagnostics_says_which(
    healthy_fit, starved_fit, link_fit
):
    at = {"N": [1e9], "D": [2e10]}
    starved_link = downstream.fit_link(
        _link_runs(), "val_loss", "err", draws=20, tune=20, chains=2, seed=1, retries=0
    )
    assert healthy_fit.ok and link_fit.ok and not starved_fit.ok and not starved_link.ok
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fine = downstream.chain(healthy_fit, link_fit, at)
    assert fine.attrs["diagnostics_ok"] is True and "warning" not in fine.attrs
    cases = [
        (starved_fit, link_fit, r"^forecast from a fit that failed its diagnostics, the loss "
         r"fit: DIAGNOSTICS FAIL"),
        (healthy_fit, starved_link, r"^forecast from a fit that failed its diagnostics, the "
         r"link fit: DIAGNOSTICS FAIL"),
        (starved_fit, starved_link, r"^forecast from fits that failed their diagnostics, the "
         r"loss fit: DIAGNOSTICS FAIL.*; the link fit: DIAGNOSTICS FAIL"),
    ]  # fmt: skip
    for loss_fit, link, pattern in cases:
        with pytest.warns(UserWarning, match=pattern):
            table = downstream.chain(loss_fit, link, at)
        assert table.attrs["diagnostics_ok"] is False
        assert re.match(pattern, table.attrs["warning"])
        if loss_fit is healthy_fit:
            assert "the loss fit" not in table.attrs["warning"]


def test_many_metrics_of_a_failed_link_are_flagged_and_warned_once(healthy_fit):
    runs = _link_runs()
    runs["err2"] = runs["err"] + 0.01
    starved = {"draws": 20, "tune": 20, "chains": 2, "seed": 1, "retries": 0}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = downstream.forecast_metrics(
            healthy_fit, runs, "val_loss", ["err", "err2"], points={"N": [1e9], "D": [2e10]},
            **starved,
        )  # fmt: skip
    assert list(table["status"]) == ["diagnostics failed", "diagnostics failed"]
    assert table["note"].str.contains("the link fit: DIAGNOSTICS FAIL").all()
    assert table.attrs["diagnostics_ok"] is False
    failed = [str(w.message) for w in caught if "failed their diagnostics" in str(w.message)]
    assert failed == [table.attrs["warning"]]
    assert "the link of 'err': DIAGNOSTICS" in failed[0] and "the link of 'err2'" in failed[0]
    assert "the loss fit" not in failed[0]
    with pytest.raises(DataError, match=r"forecast_metrics does not take draw=20; did you mean"):
        downstream.forecast_metrics(
            healthy_fit, runs, "val_loss", ["err"], {"N": 1e9, "D": 2e10}, draw=20
        )


def test_fit_link_takes_link_like_fit_joint_and_checks_its_options(monkeypatch):
    import functools
    from types import SimpleNamespace

    import bayescale.fitting

    seen = {}

    @functools.wraps(bayescale.fitting.fit)  # its signature: the keywords fit_link accepts
    def fake_fit(runs, law, **options):
        # What fit_link hands to bayescale.fit, without sampling.
        seen.update(law=law.name, options=options, columns=list(runs.table.columns))
        return SimpleNamespace(info={})

    monkeypatch.setattr(bayescale.fitting, "fit", fake_fit)
    frame = _link_runs()
    downstream.fit_link(frame, "val_loss", "err", link="sigmoid", draws=10)
    assert seen == {"law": "sigmoid", "options": {"draws": 10}, "columns": ["L", "y"]}
    downstream.fit_link(frame, "val_loss", "err", law="sigmoid")  # the former name
    assert seen["law"] == "sigmoid"
    downstream.fit_link(frame, "val_loss", "err")
    assert seen["law"] == "exponential"
    with pytest.raises(DataError, match=r"does not take lnk='sigmoid'; did you mean link=\?"):
        downstream.fit_link(frame, "val_loss", "err", lnk="sigmoid")
    with pytest.raises(DataError, match=r"does not take draw=10; did you mean draws=\? .*tune"):
        downstream.fit_link(frame, "val_loss", "err", draw=10)
    with pytest.raises(DataError, match=r"takes the link as link= \(law= is its former name\)"):
        downstream.fit_link(frame, "val_loss", "err", link="sigmoid", law="exponential")
    # Runs: only the law's inputs and its response are kept, so the metric is usually gone.
    loss_runs = bayescale.load_runs(frame.assign(N=1e9, D=2e10), y="val_loss")
    with pytest.raises(DataError, match=r"Runs hold only N, D, C, val_loss .* not 'err': pass "
                       r"the DataFrame they were loaded from"):  # fmt: skip
        downstream.fit_link(loss_runs, "val_loss", "err")
    # Runs that hold both (the link's own runs) are fitted like their table.
    both = bayescale.load_runs(frame.rename(columns={"val_loss": "L"}), x={"L": "L"}, y="err")
    downstream.fit_link(both, "L", "err", link="sigmoid")
    assert seen["law"] == "sigmoid" and seen["columns"] == ["L", "y"]


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
    # stdout alone: a short link fit may warn (on stderr) that it failed its diagnostics.
    (row,) = json.loads(done.stdout)["rows"]
    assert row["pred_lower_90"] < row["error_median"] < row["pred_upper_90"]
    missing = runner.invoke(app, [*base, "--metric", "err"])
    assert missing.exit_code == 2 and "give at least one target with --at" in missing.output
    # The fit models 'loss': a table with that column and another chosen is refused, and
    # without --loss the fit's own column is used.
    both = _link_runs().assign(loss=lambda f: f["val_loss"], other=lambda f: f["val_loss"] + 1)
    both.to_csv(tmp_path / "both.csv", index=False)
    args = ["link", str(fit_file), str(tmp_path / "both.csv"), "--metric", "err"]
    refused = runner.invoke(app, [*args, "--loss", "other", "--at", "N=1e9,D=2e10"])
    assert refused.exit_code == 2
    assert "--loss other is not the loss" in refused.output and "'loss'" in refused.output
    saved = runner.invoke(
        app, [*args, "--save", str(tmp_path / "link.nc"), "--draws", "100", "--tune", "100"]
    )
    assert saved.exit_code == 0, saved.output  # --save alone: no --at needed
    assert bayescale_load_fit(tmp_path / "link.nc").info["loss"] == "loss"
    wrong = runner.invoke(app, [*base, "--metric", "nope", "--at", "N=1e9,D=2e10"])
    assert wrong.exit_code == 2 and "'nope' not in the runs" in wrong.output


# ---------------------------------------------------------------- each target on its own


def _steep_runs() -> pd.DataFrame:
    """Runs of high losses only, with a steep task ('steep': far beyond the runs its link
    falls below an error of 0) and a gentle one ('gentle')."""
    rng = np.random.default_rng(1)
    loss = rng.uniform(2.6, 3.6, 40)
    steep = 0.75 - 0.05 * np.exp(2.5 * (3.5 - loss)) + 0.005 * rng.standard_normal(40)
    gentle = TRUE_LINK["eps"] - TRUE_LINK["k"] * np.exp(TRUE_LINK["gamma"] * (3.5 - loss))
    return pd.DataFrame(
        {"loss": loss, "steep": steep, "gentle": gentle + 0.005 * rng.standard_normal(40)}
    )


@pytest.fixture(scope="module")
def steep_link():
    """A steep link fitted on high losses only: far beyond the runs it falls below 0."""
    return downstream.fit_link(_steep_runs(), "loss", "steep", chance=0.25, **SETTINGS)


def test_one_impossible_target_among_many_good_ones_is_named(healthy_fit, steep_link):
    # 25 targets within the runs' losses and one 300x beyond: pooled over the 26, the far
    # target's draws are under 5% of all draws, which hid it.
    near = np.geomspace(1e8, 5e8, 25)
    at = {"N": [*near, 1e12], "D": [*(20 * near), 2e13]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = downstream.chain(healthy_fit, steep_link, at)
    said = [str(w.message) for w in caught if "outside [0, 1]" in str(w.message)]
    assert len(said) == 1, said
    assert said[0].startswith(
        "the 'exponential' link puts more than 5% of the draws outside [0, 1]"
    )
    assert "at 1 of 26 targets: N=1e12, D=2e13 (error_* 100% of the draws" in said[0]
    assert "a bounded link ('sigmoid'" in said[0]
    (row,) = table.attrs["outside_unit"]
    assert row["row"] == 25 and row["N"] == 1e12 and row["D"] == 2e13
    assert row["error_outside"] > 0.95 and table["error_upper_90"].iloc[25] < 0
    assert (len(table) - 1) * OUTSIDE_SHARE > 1  # pooled, its share would be under 5%
    # Within the runs nothing is flagged, and the attrs say so.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inside = downstream.chain(healthy_fit, steep_link, {"N": near[:3], "D": 20 * near[:3]})
    assert inside.attrs["outside_unit"] == []
    assert not any("outside [0, 1]" in str(w.message) for w in caught)


def test_many_metrics_list_the_targets_each_link_leaves_the_unit_at(healthy_fit):
    at = {"N": [3e8, 1e12], "D": [6e9, 2e13]}  # within the runs' losses; 300x beyond them
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        table = downstream.forecast_metrics(
            healthy_fit, _steep_runs(), "loss", ["gentle", "steep"], at, chance=0.25, **SETTINGS
        )
    # Rows of the whole table: the steep task's far target is its fourth row.
    (flagged,) = table.attrs["outside_unit"]
    assert flagged["metric"] == "steep" and flagged["row"] == 3 and flagged["N"] == 1e12
    assert table.loc[3, "metric"] == "steep" and table.loc[3, "N"] == 1e12
    assert "outside [0, 1]" in table.loc[3, "note"] and "N=1e12" in table.loc[3, "note"]
    assert "outside [0, 1]" not in " ".join(table.loc[:1, "note"])


def _fixed_draws(values: dict[str, float], n: int = 400) -> dict[str, np.ndarray]:
    return {name: np.full(n, value) for name, value in values.items()}


def test_one_models_draws_and_the_chance_error_are_judged_too():
    from bayescale.laws import get_law

    law, link = get_law("chinchilla"), downstream.link_law("exponential")
    theta = _fixed_draws({**TRUTH, "sigma": 0.01, "nu": 30.0})  # the Student-t noise
    frame = pd.DataFrame({"N": [1e9, 1e7], "D": [2e10, 2e8]})  # losses 2.53 and 5.5
    # At the first target the law's error is 0.02 for every draw, but one model's adds a
    # noise of sd 0.05: a third of its draws are below 0. The second target is at 0.71.
    near_zero = _fixed_draws({"eps": 0.75, "k": 0.2765, "gamma": 1.0, "sigma": 0.05})
    pred_only = (
        r"at 1 of 2 targets: N=1e9, D=2e10 \(error_\* 0% of the draws, pred_\* \d\d%\); one "
        r"model's error \(pred_\*\) adds"
    )
    with pytest.warns(UserWarning, match=pred_only):
        table = downstream._through_link(law, theta, link, near_zero, frame, 0.9, seed=3)
    assert [r["row"] for r in table.attrs["outside_unit"]] == [0]
    assert table["error_lower_90"].iloc[0] > 0 > table["pred_lower_90"].iloc[0]
    # An error at high loss of 0.86 is a possible error, but not with a chance of 0.25,
    # whose error is 0.75: flagged once the chance is known.
    above = _fixed_draws({"eps": 0.9, "k": 0.2765, "gamma": 1.0, "sigma": 0.01})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        unknown = downstream._through_link(law, theta, link, above, frame, 0.9, seed=3)
    assert unknown.attrs["outside_unit"] == []
    with pytest.warns(UserWarning, match=r"above the chance error 0\.75 by more than 0\.05\) at 1 "
                      r"of 2 targets: N=1e7, D=2e8 \(error_\* 100%"):  # fmt: skip
        known = downstream._through_link(law, theta, link, above, frame, 0.9, seed=3, chance=0.25)
    assert [r["row"] for r in known.attrs["outside_unit"]] == [1]


def test_a_targets_forecast_does_not_depend_on_the_other_targets(healthy_fit, link_fit):
    first, second = {"N": 6.9e9, "D": 1.38e11}, {"N": 1e9, "D": 2e10}
    alone = downstream.chain(healthy_fit, link_fit, [first]).iloc[0]
    both = downstream.chain(healthy_fit, link_fit, [first, second])
    pd.testing.assert_series_equal(both.iloc[0], alone, check_exact=True)
    swapped = downstream.chain(healthy_fit, link_fit, [second, first])
    pd.testing.assert_series_equal(swapped.iloc[1], alone, check_exact=True, check_names=False)
    pd.testing.assert_series_equal(
        swapped.iloc[0],
        downstream.chain(healthy_fit, link_fit, [second]).iloc[0],
        check_exact=True,
    )


# ---------------------------------------------------------------- refused before sampling


def test_many_metrics_are_all_checked_before_any_link_is_fitted(healthy_fit, monkeypatch):
    import functools

    import bayescale.fitting
    from bayescale.errors import LawError

    sampled = []

    @functools.wraps(bayescale.fitting.fit)
    def no_fit(runs, law, **options):
        sampled.append(law.name)
        raise AssertionError("a link was sampled before every metric was checked")

    monkeypatch.setattr(bayescale.fitting, "fit", no_fit)
    runs = _link_runs(loss="loss")
    runs["err2"] = runs["err"] + 0.01
    runs["piqa"] = runs["err"] + 0.02
    runs["pct"] = 100 * runs["err"]
    runs["holed"] = runs["err"].where(runs.index != 3)
    at = {"N": [1e9], "D": [2e10]}
    cases = [
        (["err", "err2", "piqaa"], {}, DataError, r"'piqaa' not in the runs; did you mean 'piqa'"),
        (["err", "pct"], {}, DataError, r"'pct' row 1 is .*a percent\? divide the column"),
        (["err", "holed"], {}, DataError, r"column 'holed' row 4 is not a finite number"),
        (
            ["err", "err2"],
            {"chance": {"err": 0.25, "err2": 25}},
            DataError,
            r"chance of 'err2' is an accuracy in \[0, 1\), got 25 \(a percent\? give 0\.25\)",
        ),
        (["err", "err2"], {"link": "sigmod"}, LawError, r"unknown link 'sigmod' \(did you mean"),
    ]
    for metrics, options, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            downstream.forecast_metrics(healthy_fit, runs, "loss", metrics, at, **options)
        assert sampled == [], (metrics, options)


def test_messages_name_the_link_forms_the_order_of_the_fits_and_a_chance_of_1(
    healthy_fit, link_fit
):
    from bayescale.errors import LawError

    frame = _link_runs()
    forms = (
        r"unknown link 'sigmod' \(did you mean sigmoid\?\): the link catalog has "
        r"exponential, sigmoid"
    )
    with pytest.raises(LawError, match=forms):
        downstream.fit_link(frame, "val_loss", "err", link="sigmod")
    with pytest.raises(LawError, match=forms):
        downstream.link_law("sigmod")
    # Formulas, files and loss laws are not names of links: as before.
    assert list(downstream.link_law("L * a").inputs) == ["L"]
    with pytest.raises(DataError, match=r"maps the loss L to a metric"):
        downstream.link_law("chinchilla")
    at = {"N": [1e9], "D": [2e10]}
    with pytest.raises(DataError, match=r"the first argument is a link fit of 'err' \(the second "
                       r"is a fit of 'chinchilla'\): chain takes the loss fit first and the "
                       r"link second, chain\(loss_fit, link_fit, at\)"):  # fmt: skip
        downstream.chain(link_fit, healthy_fit, at)
    with pytest.raises(DataError, match=r"the second argument is a fit of law 'chinchilla'"):
        downstream.chain(healthy_fit, healthy_fit, at)
    with pytest.raises(DataError, match=r"got 1\.0 \(a chance of 1 leaves nothing to learn; if "
                       r"it is a percent, give 0\.01\)"):  # fmt: skip
        downstream.fit_link(frame, "val_loss", "err", chance=1.0)
    # The module says what happens to a task at chance: no chain "returns its flag".
    assert "returns its flag" not in downstream.__doc__
    assert "refuses it" in downstream.__doc__


def test_the_link_command_refuses_a_missing_input_before_fitting(
    healthy_fit, tmp_path, monkeypatch
):
    import functools

    from typer.testing import CliRunner

    import bayescale.fitting
    from bayescale.cli import app

    @functools.wraps(bayescale.fitting.fit)
    def no_fit(runs, law, **options):
        raise AssertionError("the link was sampled")

    monkeypatch.setattr(bayescale.fitting, "fit", no_fit)
    fit_file = healthy_fit.save(tmp_path / "loss.nc")
    _link_runs(loss="loss").to_csv(tmp_path / "runs.csv", index=False)
    base = ["link", str(fit_file), str(tmp_path / "runs.csv"), "--metric", "err"]
    runner = CliRunner()
    missing = runner.invoke(app, [*base, "--at", "N=1e9"])
    assert missing.exit_code == 2, missing.output
    assert "needs N, D to forecast; missing D" in missing.output
    assert "sampled" not in missing.output
    grouped = runner.invoke(app, [*base, "--at", "N=1e9,D=2e10", "--group", "rw"])
    assert grouped.exit_code == 2 and "this fit has no groups" in grouped.output


def _group_runs(seed: int = 0) -> pd.DataFrame:
    """Two groups of Chinchilla runs differing in their floor, with an accuracy each."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, floor in (("c4", 1.82), ("rw", 1.95)):
        for n in np.geomspace(2e7, 1e9, 5):
            for multiplier in (10, 20, 40):
                law = chinchilla_loss(n, multiplier * n, {**TRUTH, "E": floor})
                rows.append((group, n, multiplier * n, law * np.exp(0.01 * rng.normal())))
    frame = pd.DataFrame(rows, columns=["family", "N", "D", "loss"])
    error = TRUE_LINK["eps"] - TRUE_LINK["k"] * np.exp(TRUE_LINK["gamma"] * (3.5 - frame["loss"]))
    return frame.assign(acc=1 - error - 0.005 * rng.standard_normal(len(frame)))


def test_the_link_command_says_error_is_one_minus_accuracy_and_names_the_group(tmp_path):
    import json

    from typer.testing import CliRunner

    import bayescale
    from bayescale.cli import app

    table = _group_runs()
    table.to_csv(tmp_path / "runs.csv", index=False)
    runs = bayescale.load_runs(table, y="loss", group="family")
    grouped = bayescale.fit(
        runs, "chinchilla", draws=100, tune=100, chains=2, seed=3, prior_draws=0, retries=0
    )
    fit_file = grouped.save(tmp_path / "grouped.nc")
    base = ["link", str(fit_file), str(tmp_path / "runs.csv"), "--metric", "acc", "--accuracy"]
    base += ["--chance", "0.25", "--at", "N=1e9,D=2e10", "--group", "rw"]
    base += ["--draws", "100", "--tune", "100"]
    runner = CliRunner(env={"COLUMNS": "200"})
    shown = runner.invoke(app, base)
    assert shown.exit_code == 0, shown.output
    title = " ".join(shown.stdout.split())  # the table's title wraps at its width
    assert "Error on acc (error = 1 - accuracy of acc) through chinchilla" in title
    assert "group rw" in title
    done = runner.invoke(app, [*base, "--format", "json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["group"] == "rw" and result["error_of"] == "1 - accuracy"
    (row,) = result["rows"]
    assert row["group"] == "rw" and 0 < row["error_median"] < 1


# ---------------------------------------------------------------- the joint fit


def _joint_runs(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Runs from the joint model's own story: a loss law, and an error that follows the link
    of the law's mean loss (not of the run's noisy loss) plus its own noise."""
    rng = np.random.default_rng(seed)
    N = 10 ** rng.uniform(7.0, 9.5, n)
    D = 10 ** rng.uniform(8.5, 11.0, n)
    mean = chinchilla_loss(N, D)
    error = TRUE_LINK["eps"] - TRUE_LINK["k"] * np.exp(TRUE_LINK["gamma"] * (3.5 - mean))
    return pd.DataFrame(
        {
            "params": N,
            "tokens": D,
            "val_loss": mean * np.exp(0.01 * rng.standard_normal(n)),
            "err": error + 0.005 * rng.standard_normal(n),
        }
    )


JOINT_X = {"N": "params", "D": "tokens"}
#: One attempt of 2 x 300 draws (no retries): enough for the checks below.
JOINT_SETTINGS = {**SETTINGS, "retries": 0}


@pytest.fixture(scope="module")
def joint_fit():
    return downstream.fit_joint(_joint_runs(), "val_loss", "err", x=JOINT_X, **JOINT_SETTINGS)


def test_the_joint_fit_recovers_the_link_and_the_loss_exponents(joint_fit):
    summary = joint_fit.summary(level=0.9)
    truth = {**{f"link_{k}": v for k, v in TRUE_LINK.items()}, **TRUTH}
    for name in ("link_eps", "link_k", "link_gamma", "alpha", "beta"):
        low, high = summary.loc[name, "hdi_90_lower"], summary.loc[name, "hdi_90_upper"]
        assert low <= truth[name] <= high, (name, low, truth[name], high)
    # Both laws' noises are named sigma: the link's is prefixed, and each has its own value.
    assert summary.loc["sigma", "median"] == pytest.approx(0.01, rel=0.35)
    assert summary.loc["link_sigma", "median"] == pytest.approx(0.005, rel=0.35)
    # One posterior: the link's draws come paired with the loss law's, chain by chain.
    loss, link = joint_fit.loss_draws(), joint_fit.link_draws()
    assert len(loss["alpha"]) == len(link["eps"]) == 2 * 300
    assert set(link) == {"eps", "k", "gamma", "sigma"}
    assert joint_fit.diagnostics.chains == 2 and joint_fit.diagnostics.draws == 300


def test_the_metric_informs_the_loss_law_in_the_joint_fit():
    # Few runs with loud losses but a precise metric: the metric pins the loss law's
    # exponents down better than the losses alone do (the two-step loss fit sees only them).
    import bayescale

    table = _joint_runs(n=25, seed=3)
    rng = np.random.default_rng(4)
    table["val_loss"] = table["val_loss"] * np.exp(0.04 * rng.standard_normal(len(table)))
    joint = downstream.fit_joint(table, "val_loss", "err", x=JOINT_X, **JOINT_SETTINGS)
    runs = bayescale.load_runs(table, x=JOINT_X, y="val_loss")
    alone = bayescale.fit(runs, "chinchilla", **JOINT_SETTINGS, prior_draws=0)
    for name in ("alpha", "beta"):
        assert np.std(joint.loss_draws()[name]) < 0.8 * np.std(alone.draws([name])[name]), name


def test_the_joint_forecast_has_the_chain_columns(joint_fit, healthy_fit, link_fit):
    points = pd.DataFrame({"N": [1e9, 1e12], "D": [2e10, 2e13]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 2 x 300 fit may fail its diagnostics: no matter
        table = joint_fit.forecast(points, level=(0.5, 0.9))
        again = joint_fit.forecast(points, level=(0.5, 0.9))
    chained = downstream.chain(healthy_fit, link_fit, points, level=(0.5, 0.9))
    assert list(table.columns) == list(chained.columns)
    pd.testing.assert_frame_equal(again, table)
    # The forecast is the link at the law's loss: at the true law's loss near the runs.
    true_loss = chinchilla_loss(points["N"], points["D"])
    assert table.loc[0, "loss_median"] == pytest.approx(true_loss[0], rel=0.01)
    true_error = TRUE_LINK["eps"] - TRUE_LINK["k"] * np.exp(TRUE_LINK["gamma"] * (3.5 - true_loss))
    assert table.loc[0, "error_lower_90"] <= true_error[0] <= table.loc[0, "error_upper_90"]
    assert np.all(
        table["pred_upper_90"] - table["pred_lower_90"]
        > table["error_upper_90"] - table["error_lower_90"]
    )
    assert np.all(
        table["pred_upper_90"] - table["pred_lower_90"]
        > table["pred_upper_50"] - table["pred_lower_50"]
    )
    with pytest.raises(DataError, match=r"needs N, D to forecast; missing D"):
        joint_fit.forecast({"N": [1e9]})
    # The points as at=, the name Fit.forecast and the CLI use; points= still works.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_name = joint_fit.forecast(at=points, level=(0.5, 0.9))
        by_old_name = joint_fit.forecast(points=points, level=(0.5, 0.9))
    pd.testing.assert_frame_equal(by_name, table)
    pd.testing.assert_frame_equal(by_old_name, table)
    # Each target's numbers are its own: the first alone is the first of the two, exactly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = joint_fit.forecast(points.iloc[:1], level=(0.5, 0.9))
    pd.testing.assert_series_equal(alone.iloc[0], table.iloc[0], check_exact=True)
    assert table.attrs["outside_unit"] == []


def test_a_joint_fit_that_fails_its_diagnostics_warns_on_forecast():
    starved = downstream.fit_joint(
        _joint_runs(), "val_loss", "err", x=JOINT_X, draws=20, tune=20, chains=2, seed=1, retries=0
    )
    assert not starved.ok and "FAILED DIAGNOSTICS" in repr(starved)
    with pytest.warns(UserWarning, match=r"forecast from a fit that failed its diagnostics"):
        table = starved.forecast({"N": [1e9], "D": [2e10]})
    assert table.attrs["diagnostics_ok"] is False and "R-hat" in table.attrs["warning"]


def test_fit_joint_refuses_bad_inputs_with_clear_messages():
    table = _joint_runs(n=12)
    fit_joint = downstream.fit_joint
    with pytest.raises(DataError, match=r"column\(s\) 'acc' not in the runs"):
        fit_joint(table, "val_loss", "acc", x=JOINT_X)
    with pytest.raises(DataError, match=r"no column 'toks' \(for input 'D'\)"):
        fit_joint(table, "val_loss", "err", x={"N": "params", "D": "toks"})
    holed = table.assign(err=table["err"].where(table.index != 3))
    with pytest.raises(DataError, match=r"column 'err' row 4 is not a finite number"):
        fit_joint(holed, "val_loss", "err", x=JOINT_X)
    at_chance = table.assign(acc=0.26)
    with pytest.raises(DataError, match=r"'acc' stays at chance"):
        fit_joint(at_chance, "val_loss", "acc", x=JOINT_X, chance=0.25, accuracy=True)
    with pytest.raises(DataError, match=r"maps the loss L to a metric"):
        fit_joint(table, "val_loss", "err", "chinchilla", "chinchilla", x=JOINT_X)
    with pytest.raises(DataError, match=r"does not take draw; its sampler settings are draws"):
        fit_joint(table, "val_loss", "err", x=JOINT_X, draw=100)
    with pytest.raises(DataError, match=r"does not take prior_draws"):
        fit_joint(table, "val_loss", "err", x=JOINT_X, prior_draws=100)
    with pytest.raises(DataError, match=r"must be a pandas DataFrame"):
        fit_joint("runs.csv", "val_loss", "err", x=JOINT_X)
