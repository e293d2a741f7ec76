"""Model comparison and averaging on runs simulated from a known law."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.comparison import (
    Comparison,
    average,
    bagged_stacking_weights,
    compare,
    score,
    stacking_weights,
)
from bayescale.data import load_runs
from bayescale.demo import TRUE_PARAMETERS, demo_runs
from bayescale.errors import (
    BayescaleError,
    DataError,
    DataWarning,
    ExtrapolationWarning,
    LawError,
    OutputExistsError,
)

SETTINGS = {"draws": 500, "tune": 500, "chains": 2, "seed": 0}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def true_loss(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    p = TRUE_PARAMETERS
    return p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    # Chinchilla-law runs on Hoffmann's IsoFLOP design (6e18..3e21 FLOPs); the Kaplan law is
    # the competitor; the 12 runs at 3e21 FLOPs are held out for the extrapolation score.
    return compare(
        demo_runs(0), laws=["chinchilla", "kaplan"], holdout_above={"C": 1e21}, **SETTINGS
    )


@pytest.mark.slow
def test_compare_prefers_the_true_law_by_both_criteria(comparison: Comparison) -> None:
    assert comparison.best() == {"loo": "chinchilla", "extrapolation": "chinchilla"}
    loo = comparison.loo
    assert list(loo.index) == ["chinchilla", "kaplan"]
    assert {"elpd_loo", "se", "elpd_diff", "dse", "weight", "pareto_k_bad"} <= set(loo.columns)
    assert loo["weight"].sum() == pytest.approx(1.0)
    assert loo.loc["chinchilla", "weight"] > 0.5
    ext = comparison.extrapolation
    assert set(ext["law"]) == {"chinchilla", "kaplan"}
    assert (ext["n_train"] == 96).all() and (ext["n_test"] == 12).all()
    row = ext.set_index("law").loc["chinchilla"]
    assert row["coverage_90"] >= 0.75  # 12 held-out runs: 90% nominal, allow sampling error
    assert row["r2"] > 0.5
    verdict = comparison.verdict()
    assert "PSIS-LOO (interpolation) prefers chinchilla" in verdict
    assert "extrapolation) chinchilla predicts best" in verdict


def _held_out_score(lpd: np.ndarray, weights: np.ndarray) -> float:
    """Held-out log score of the mixture of the laws' predictive densities."""
    top = lpd.max(axis=1, keepdims=True)
    return float((np.log(np.exp(lpd - top) @ weights) + top[:, 0]).sum())


@pytest.mark.slow
def test_extrapolation_weights_are_the_best_mixture_of_held_out_forecasts(
    comparison: Comparison,
) -> None:
    # Kaplan's law has no data term in the form the runs were simulated from: it is the
    # misspecified law, and the held-out larger runs should show it.
    held = comparison.heldout
    runs = comparison.fits["chinchilla"].runs
    large = np.flatnonzero(runs.x("C") > 1e21)
    for law in ("chinchilla", "kaplan"):
        rows = held[held["law"] == law]
        assert sorted(rows["run"]) == list(large)
        elpd = comparison.extrapolation.set_index("law").loc[law, "elpd"]
        assert rows["log_density"].sum() == pytest.approx(elpd)
    extra = comparison.extrapolation_weights
    loo = comparison.weights.reindex(extra.index)
    assert extra.sum() == pytest.approx(1.0)
    assert extra["chinchilla"] > 0.5
    # Plain stacking maximises the held-out score over the simplex: it beats every single
    # law and the LOO weights on the very runs it was fitted to.
    plain = comparison.weights_table()["extrapolation_stacking_weight"].reindex(extra.index)
    lpd = held.pivot(index="run", columns="law", values="log_density")[list(extra.index)]
    runs_of_rows = lpd.index.to_numpy()
    lpd = lpd.to_numpy()
    best = _held_out_score(lpd, plain.to_numpy())
    assert best >= _held_out_score(lpd, loo.to_numpy()) - 1e-6
    for k in range(lpd.shape[1]):
        assert best >= lpd[:, k].sum() - 1e-6
    np.testing.assert_allclose(plain.to_numpy(), stacking_weights(lpd), atol=1e-6)
    # The default averages it over Bayesian-bootstrap reweightings of the held-out runs.
    np.testing.assert_allclose(
        extra.to_numpy(), bagged_stacking_weights(lpd, runs_of_rows), atol=1e-9
    )
    averaged = comparison.average()
    assert averaged.method == "extrapolation"
    assert averaged.weights.to_dict() == pytest.approx(extra.to_dict())
    assert "Stacking weights on the held-out larger runs" in comparison.verdict()
    table = comparison.weights_table()
    assert table.loc["chinchilla", "extrapolation_weight"] == pytest.approx(extra["chinchilla"])


@pytest.mark.slow
def test_averaged_forecast_covers_the_truth_beyond_the_data(comparison: Comparison) -> None:
    avg = comparison.average()
    at = {"N": np.array([3e10, 7e10, 2e11]), "D": np.array([6e11, 1.4e12, 4e12])}
    table = avg.forecast(at, level=0.9)
    truth = true_loss(at["N"], at["D"])
    assert (table["extrapolation"] > 1).all()
    assert ((table["law_lower_90"] <= truth) & (truth <= table["law_upper_90"])).all(), table
    assert (table["pred_lower_90"] <= table["law_lower_90"]).all()


@pytest.mark.slow
def test_user_weights_reproduce_a_single_law(comparison: Comparison) -> None:
    only = average(comparison.fits, weights={"chinchilla": 1.0, "kaplan": 0.0})
    at = {"N": [1e9, 1e10], "D": [2e10, 2e11]}
    pooled = only.forecast(at)
    single = comparison.fits["chinchilla"].forecast(at)
    # The pooled draws are the law's own draws, reordered: the same law quantiles.
    np.testing.assert_allclose(pooled["law_median"], single["law_median"], rtol=1e-6)
    np.testing.assert_allclose(pooled["law_upper_90"], single["law_upper_90"], rtol=1e-6)
    with pytest.raises(DataError, match="unknown laws"):
        average(comparison.fits, weights={"gpt": 1.0})
    with pytest.raises(DataError, match="non-negative"):
        average(comparison.fits, weights={"chinchilla": -1.0, "kaplan": 2.0})


@pytest.mark.slow
def test_an_average_warns_of_an_interval_its_pooled_draws_cannot_estimate(
    comparison: Comparison,
) -> None:
    # Each fit has 2 x 500 draws; half the weight each pools 2000 of them, all the weight 1000.
    at = {"N": [1e9], "D": [2e10]}
    half = average(comparison.fits, weights={"chinchilla": 0.5, "kaplan": 0.5})
    with pytest.warns(UserWarning, match=r"99\.9% interval from 2000 posterior draws has 1 "):
        half.forecast(at, level=0.999)
    only = average(comparison.fits, weights={"chinchilla": 1.0, "kaplan": 0.0})
    with pytest.warns(UserWarning, match=r"99\.9% interval from 1000 posterior draws"):
        only.compute_optimal(1e21, level=0.999)


@pytest.mark.slow
def test_comparison_saves_and_refuses_to_overwrite(comparison: Comparison, tmp_path: Path) -> None:
    files = comparison.save(tmp_path / "cmp")
    assert pd.read_csv(files["loo"]).shape[0] == 2
    back = Comparison.load(tmp_path / "cmp")
    pd.testing.assert_frame_equal(back.heldout, comparison.heldout, check_dtype=False)
    assert back.extrapolation_weights.to_dict() == pytest.approx(
        comparison.extrapolation_weights.to_dict()
    )
    assert "prefers chinchilla" in files["verdict"].read_text()
    assert bs.load_fit(files["fit_kaplan"]).law.name == "kaplan"
    before = files["loo"].read_bytes()
    with pytest.raises(OutputExistsError):
        comparison.save(tmp_path / "cmp")
    assert files["loo"].read_bytes() == before
    # Another comparison over it (no held-out runs): the earlier held-out tables went with
    # the earlier comparison, instead of being loaded as this one's (stale weights).
    loo_only = compare(dict(comparison.fits))
    loo_only.save(tmp_path / "cmp", overwrite=True)
    again = Comparison.load(tmp_path / "cmp")
    assert again.extrapolation is None and again.heldout is None
    assert not (tmp_path / "cmp" / "extrapolation.csv").exists()
    # And a comparison of other laws leaves no fit of the earlier ones, but a user's own.
    mine = tmp_path / "cmp" / "fits" / "my_favourite.nc"
    mine.write_bytes(b"a user's file")
    compare({"kaplan": comparison.fits["kaplan"], "k2": comparison.fits["kaplan"]}).save(
        tmp_path / "cmp", overwrite=True
    )
    names = sorted(p.name for p in (tmp_path / "cmp" / "fits").iterdir())
    assert names == ["k2.nc", "kaplan.nc", "my_favourite.nc"]
    # A folder that held no comparison keeps everything but what is written.
    other = tmp_path / "other"
    (other / "fits").mkdir(parents=True)
    (other / "heldout.csv").write_text("mine\n")
    (other / "fits" / "best.nc").write_bytes(b"mine")
    loo_only.save(other, overwrite=True)
    assert (other / "heldout.csv").read_text() == "mine\n" and (other / "fits" / "best.nc").exists()
    # Nor does a comparison over one that wrote no held-out table remove the user's.
    loo_only.save(other, overwrite=True)
    assert (other / "heldout.csv").read_text() == "mine\n"


@pytest.mark.slow
def test_loo_needs_fits_on_the_same_runs(comparison: Comparison) -> None:
    chinchilla = comparison.fits["chinchilla"]
    runs = chinchilla.runs
    other = bs.fit(runs.subset(np.arange(len(runs)) % 2 == 0), "chinchilla", **SETTINGS)
    with pytest.raises(DataError, match="same runs"):
        compare({"all": chinchilla, "half": other})
    with pytest.raises(DataError, match="no held-out runs"):
        compare(runs, laws=["chinchilla", "kaplan"], holdout_above={"C": 1e30}, **SETTINGS)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::bayescale.DataWarning")  # farseer's train has duplicate rows
@pytest.mark.parametrize(
    ("task", "law", "mapping"),
    [
        ("farseer_scaling_law", "chinchilla", {"N": "N", "D": "D"}),
        (
            "data_constrained_scaling_law",
            "data_constrained",
            {"N": "params", "D": "tokens", "U": "unique_tokens"},
        ),
        # The README's held-out table has this row too.
        (
            "data_constrained_scaling_law",
            "chinchilla",
            {"N": "params", "D": "tokens", "U": "unique_tokens"},
        ),
    ],
)
def test_scalebench_held_out_scores(task: str, law: str, mapping: dict[str, str]) -> None:
    folder = SHARED / "scalebench" / task
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: CI checks out ../shared beside the project")
    train = bs.load_runs(folder / "train.parquet", x=mapping, y="loss")
    test = bs.load_runs(folder / "test.parquet", x=mapping, y="loss")
    result = bs.fit(train, law, seed=0, prior_draws=0)
    scores = score(result, test)
    # The measured values are reported in the README; these bounds catch regressions.
    assert scores["n_test"] == len(test)
    assert 0.0 <= scores["coverage_90"] <= 1.0
    assert scores["mare"] < 0.06
    if task == "data_constrained_scaling_law":
        assert scores["r2"] > 0.79  # the published point-fit baseline of Li et al. 2026
        assert scores["coverage_90"] >= 0.8


def test_a_run_at_the_cut_is_not_held_out_when_its_compute_is_derived() -> None:
    from bayescale.comparison import _holdout_splits

    # The demo's 1e21 curve: with C derived as 6 N D, rounding puts some runs a hair above.
    given = demo_runs(0)
    table = given.table.rename(columns={"y": given.y_name})
    derived = load_runs(table.drop(columns="C"), x={"N": "N", "D": "D"}, y=given.y_name)
    assert derived.columns["C"].startswith("derived") and (derived.x("C") > 1e21).sum() > 12
    for runs in (given, derived):
        [(_, _, train, held)] = _holdout_splits(runs, {"C": 1e21})
        assert (len(train), int(held.sum())) == (96, 12)


# --------------------------------------------------------------------------- audit fixes


def _stub_comparison(extrapolation: pd.DataFrame, loo_order: list[str]) -> Comparison:
    """A comparison of tables alone: its laws' fits only say that they passed."""
    loo = pd.DataFrame(
        {
            "elpd_loo": [100.0 - i for i in range(len(loo_order))],
            "se": 5.0,
            "elpd_diff": [float(i) for i in range(len(loo_order))],
            "dse": 1.0,
            "weight": 1.0 / len(loo_order),
            "pareto_k_bad": 0,
        },
        index=pd.Index(loo_order, name="law"),
    )
    fits = {name: SimpleNamespace(ok=True) for name in loo_order}
    held = [
        pd.DataFrame(
            {
                "law": row["law"],
                "holdout": row["holdout"],
                "threshold": row["threshold"],
                "run": np.arange(int(row["n_test"])),
                "log_density": row["elpd_per_run"],
            }
        )
        for _, row in extrapolation.iterrows()
    ]
    return Comparison(fits, loo, extrapolation, [], pd.concat(held, ignore_index=True))  # type: ignore[arg-type]


def _scores(*rows: tuple[str, str, float, int, float, bool]) -> pd.DataFrame:
    columns = ["law", "holdout", "threshold", "n_test", "elpd_per_run", "diagnostics_ok"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(coverage_90=0.9)


def test_the_extrapolation_winner_is_ranked_where_every_law_was_scored() -> None:
    # As on Epoch's runs: bnsl (8 parameters) cannot be refitted on the 5 runs below 2.9e18;
    # the low threshold is hard on power_law_C, which wins at the one threshold both share.
    scores = _scores(
        ("power_law_C", "C > 2.9e18", 2.9e18, 240, 1.23, True),
        ("power_law_C", "C > 1e21", 1e21, 23, 2.67, True),
        ("bnsl", "C > 1e21", 1e21, 23, 2.63, True),
    )
    result = _stub_comparison(scores, ["power_law_C", "bnsl"])
    assert result.extrapolation_weights["power_law_C"] > 0.99
    assert result.best() == {"loo": "power_law_C", "extrapolation": "power_law_C"}
    verdict = result.verdict()
    assert "(extrapolation) power_law_C predicts best (mean log density per run 2.67" in verdict
    assert (
        "Held-out runs at C > 2.9e18 do not enter the extrapolation ranking or weights: "
        "bnsl was not scored there." in verdict
    )
    # Saved before the pointwise densities were kept: the ranking still says what it left out.
    result.heldout = None
    assert result.best()["extrapolation"] == "power_law_C"
    assert "C > 2.9e18 do not enter the extrapolation ranking" in result.verdict()


def test_laws_left_out_of_a_threshold_are_named_with_plural_agreement() -> None:
    scores = _scores(
        ("chinchilla", "C > 1e18", 1e18, 4, 1.0, True),
        ("chinchilla", "C > 1e21", 1e21, 2, 2.0, True),
        ("kaplan", "C > 1e21", 1e21, 2, 1.5, True),
        ("power_law_C", "C > 1e21", 1e21, 2, 1.0, True),
    )
    verdict = _stub_comparison(scores, ["chinchilla", "kaplan", "power_law_C"]).verdict()
    assert "kaplan and power_law_C were not scored there." in verdict


def test_the_verdict_names_each_held_out_refit_that_failed() -> None:
    scores = _scores(
        ("a", "C > 1e20", 1e20, 3, 1.0, False),
        ("b", "C > 1e20", 1e20, 3, 0.5, True),
        ("a", "C > 1e21", 1e21, 2, 1.0, False),
        ("b", "C > 1e21", 1e21, 2, 0.5, False),
    )
    verdict = _stub_comparison(scores, ["a", "b"]).verdict()
    assert (
        "a: the refits for the held-out runs at C > 1e20 and C > 1e21 failed their "
        "diagnostics, so those held-out scores are less trustworthy" in verdict
    )
    assert "b: the refit for the held-out runs at C > 1e21 failed its diagnostics" in verdict


@pytest.fixture(scope="module")
def refits(healthy_fit: bs.Fit, starved_fit: bs.Fit) -> tuple[Comparison, list[str]]:
    """A comparison whose 'starved' law is refitted with 2 x 20 draws: its refit fails."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compare(
            {"chinchilla": healthy_fit, "starved": starved_fit}, holdout_above={"N": 1e9}
        )
    return result, [str(w.message) for w in caught]


def test_a_failed_held_out_refit_is_named_in_the_verdict_and_its_warnings(
    refits: tuple[Comparison, list[str]],
) -> None:
    result, messages = refits
    row = result.extrapolation.set_index("law").loc["starved"]
    assert row["holdout"] == "N > 1e9"  # not 1e+09
    assert not row["diagnostics_ok"]
    assert "starved: the refit for the held-out runs at N > 1e9 failed its diagnostics" in (
        result.verdict()
    )
    failed = [m for m in messages if "failed its diagnostics" in m]
    assert any(
        m.startswith("starved, refitted to score the held-out runs at N > 1e9: ") for m in failed
    )
    assert all(m.startswith(("starved, refitted", "chinchilla, refitted")) for m in failed), failed


def test_identical_laws_tie_on_both_criteria(healthy_fit: bs.Fit) -> None:
    result = compare({"a": healthy_fit, "b": healthy_fit}, holdout_above={"N": 1e9})
    verdict = result.verdict()
    # Their pointwise densities agree: the verdict says the weights split arbitrarily.
    assert result.loo["alike"].to_dict() == {"a": "b", "b": "a"}
    assert "a and b predict the runs (PSIS-LOO) almost identically" in verdict
    assert "a and b predict the held-out runs almost identically" in verdict
    assert "PSIS-LOO (interpolation) prefers neither a nor b: they tie" in verdict
    assert "On held-out larger runs (extrapolation) a and b predict equally well" in verdict
    assert "prefers a" not in verdict and "a predicts best" not in verdict
    assert "criteria disagree" not in verdict


def test_distinct_laws_are_not_called_alike(comparison: Comparison) -> None:
    assert (comparison.loo["alike"] == "").all()
    assert "almost identically" not in comparison.verdict()


class _Stop(Exception):
    """Raised by a stub fit once it has seen the laws compare() made."""


def _recording_fit(seen: list[str], stop_after: int):
    def fake_fit(runs, law, **options):
        seen.append(law.name)
        if len(seen) == stop_after:
            raise _Stop
        return SimpleNamespace(law=law)

    return fake_fit


def test_python_compare_names_formulas_as_the_cli_does(
    sim_runs: bs.Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: two formulas were both named 'custom' and refused in Python, while
    # `bayescale compare --laws` named them custom_1 and custom_2.
    seen: list[str] = []
    monkeypatch.setattr("bayescale.comparison.fit", _recording_fit(seen, 3))
    one, two = "E + A/N**alpha + B/D**beta", "E + A/N**alpha + B/D**alpha"
    with pytest.raises(_Stop):
        compare(sim_runs, laws=[one, "chinchilla", two])
    assert seen == ["custom_1", "chinchilla", "custom_2"]
    seen.clear()
    with pytest.raises(_Stop):
        compare(sim_runs, laws={"two": two, "shared": "chinchilla", "kap": "kaplan"})
    assert seen == ["two", "shared", "kap"]


def test_name_laws_says_which_file_repeats_a_name(sim_runs: bs.Runs, tmp_path: Path) -> None:
    from bayescale.comparison import name_laws
    from bayescale.laws import catalog

    fake = tmp_path / "fake_chin.toml"  # a law file whose name = "chinchilla"
    fake.write_text(catalog()["chinchilla"].read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DataError) as err:
        name_laws([str(fake), "chinchilla"], runs=sim_runs)
    message = str(err.value)
    assert message.startswith("chinchilla given more than once: the law file")
    assert "fake_chin.toml" in message and "the catalog law 'chinchilla'" in message
    assert "name = line of a law file" in message
    with pytest.raises(DataError, match=r"the catalog law 'kaplan', 2 times"):
        name_laws(["kaplan", "chinchilla", "kaplan"])
    laws = name_laws({"mine": str(fake), "chinchilla": "chinchilla"}, runs=sim_runs)
    assert list(laws) == ["mine", "chinchilla"] and laws["mine"].name == "mine"
    with pytest.raises(DataError, match="cannot name a comparison's row and file"):
        name_laws({"../evil": "chinchilla", "b": "kaplan"})
    # A formula's priors declare its parameters, as fit(priors=) does; without them a name
    # used like an input that the runs lack is refused.
    formula = "E + A/N**alpha + B/D**beta + k*log(lr/lr0)**2"
    with pytest.raises(LawError, match="'lr' and 'lr0' are used like inputs"):
        name_laws([formula, "chinchilla"], runs=sim_runs)
    given = {
        "lr": {"dist": "LogNormal", "mu": -7.0, "sigma": 1.0},
        "lr0": {"dist": "LogNormal", "mu": -7.0, "sigma": 1.0},
    }
    laws = name_laws([formula, "chinchilla"], runs=sim_runs, priors={"custom_1": given})
    assert {"lr", "lr0"} <= set(laws["custom_1"].parameters)


def test_the_cli_loo_table_marks_failed_fits_and_pareto_warnings() -> None:
    from bayescale.cli.commands.compare import loo_flags

    loo = pd.DataFrame(
        {
            "elpd_loo": [10.0, 9.0, 8.0],
            "se": 1.0,
            "elpd_diff": [0.0, 1.0, 2.0],
            "dse": 1.0,
            "p_loo": 5.0,
            "weight": [0.6, 0.3, 0.1],
            "warning": [False, True, False],
            "pareto_k_bad": [0, 0, 0],
            "pareto_k_max": [0.3, 0.69, 0.4],
            "diagnostics_ok": [True, True, False],
        },
        index=pd.Index(["good", "kaplan", "bnsl"], name="law"),
    )
    table, notes = loo_flags(loo)
    assert table["check"].to_dict() == {"good": "", "kaplan": "k", "bnsl": "✗"}
    assert notes[0].startswith("k kaplan: Pareto k up to 0.69")
    assert notes[1].startswith("✗ bnsl: its fit failed its diagnostics")
    # A reloaded table (booleans as strings) is read the same; a clean one gets no column.
    table, _ = loo_flags(loo.astype({"diagnostics_ok": str, "warning": str}))
    assert table["check"].tolist() == ["", "k", "✗"]
    clean = loo.assign(warning=False, diagnostics_ok=True)
    table, notes = loo_flags(clean)
    assert "check" not in table.columns and notes == []


AT = {"N": [1e9, 1e10], "D": [2e10, 2e11]}


def test_a_law_with_all_the_weight_forecasts_as_its_own_fit(
    healthy_fit: bs.Fit, starved_fit: bs.Fit
) -> None:
    # The starved fit has 40 draws: with weight 0 it does not cut the pool to 40.
    only = average({"starved": starved_fit, "healthy": healthy_fit}, {"healthy": 1.0})
    pd.testing.assert_frame_equal(only.forecast(AT), healthy_fit.forecast(AT), check_like=True)
    # A DataFrame's index carries over, as in Fit.forecast.
    frame = pd.DataFrame(AT, index=["small", "large"])
    assert list(only.forecast(frame).index) == ["small", "large"]


@pytest.mark.filterwarnings("ignore:averaged forecast includes fits that failed")
def test_the_averaged_forecast_does_not_depend_on_the_order_of_the_fits(
    healthy_fit: bs.Fit, starved_fit: bs.Fit
) -> None:
    weights = {"healthy": 0.7, "starved": 0.3}
    one = average({"healthy": healthy_fit, "starved": starved_fit}, weights).forecast(AT)
    two = average({"starved": starved_fit, "healthy": healthy_fit}, weights).forecast(AT)
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.filterwarnings("ignore:averaged forecast includes fits that failed")
def test_a_reloaded_comparison_averages_as_the_original(
    healthy_fit: bs.Fit, starved_fit: bs.Fit, tmp_path: Path
) -> None:
    result = compare({"chinchilla": healthy_fit, "starved": starved_fit})
    # The fits in the reverse of the LOO order, which a reloaded comparison lists them in.
    result.fits = {name: result.fits[name] for name in reversed(result.loo.index)}
    result.save(tmp_path / "cmp")
    back = Comparison.load(tmp_path / "cmp")
    # In the order they were given, not the LOO order (see the reload test below).
    assert list(back.fits) == list(result.fits) == list(reversed(result.loo.index))
    # By name: the default ("auto") would leave the failed starved fit out.
    pd.testing.assert_frame_equal(
        back.average("stacking").forecast(AT), result.average("stacking").forecast(AT)
    )


@pytest.mark.filterwarnings("ignore:.*failed")
def test_averaging_fits_of_other_runs_warns_and_measures_extrapolation_per_fit(
    sim_runs: bs.Runs, healthy_fit: bs.Fit
) -> None:
    small = sim_runs.subset(sim_runs.x("N") < np.median(sim_runs.x("N")))
    # Converged or not, a fit of other runs (2 x 20 draws: quick).
    other = bs.fit(small, "chinchilla", draws=20, tune=20, chains=2, prior_draws=0, retries=0)
    with pytest.warns(bs.DataWarning, match=r"averaging fits of different runs \(all: 60 runs"):
        both = average({"all": healthy_fit, "small": other}, {"all": 0.5, "small": 0.5})
    table = both.forecast(AT)
    # Beyond the runs of either fit: the smaller runs' fit extrapolates further.
    own = np.maximum(healthy_fit.forecast(AT)["extrapolation"], other.forecast(AT)["extrapolation"])
    np.testing.assert_allclose(table["extrapolation"], own)


@pytest.fixture(scope="module")
def grouped_fit(sim_runs: bs.Runs) -> bs.Fit:
    """Chinchilla fitted hierarchically to the simulated runs split into two groups."""
    frame = pd.DataFrame(
        {
            "params": sim_runs.x("N"),
            "tokens": sim_runs.x("D"),
            "loss": sim_runs.y,
            "family": np.resize(["x", "y"], len(sim_runs)),
        }
    )
    runs = load_runs(frame, x={"N": "params", "D": "tokens"}, y="loss", group="family")
    return bs.fit(runs, "chinchilla", draws=300, tune=300, chains=2, seed=0, prior_draws=0)


def test_every_group_far_from_its_runs_is_warned_of_and_each_asked_once(
    grouped_fit: bs.Fit,
) -> None:
    # The CLI shows the warnings said: each group beyond its runs without a discrepancy is
    # named, not only the first (it once said "group x" alone, for x, y and new alike).
    grouped_fit._warned_no_discrepancy = False  # as a fit asked for the first time
    far = {"N": [7e10], "D": [1.4e12]}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        table = grouped_fit.forecast(far, group=["x", "y", "new", "x"])
    assert table["group"].tolist() == ["x", "y", "new"]  # x once
    said = [str(w.message) for w in seen if "a fit without a discrepancy" in str(w.message)]
    assert [m.split(":")[0] for m in said] == ["group x", "group y", "group new"]
    assert len(table.attrs["caveats"]) >= 3
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        grouped_fit.forecast(far)
    assert not [w for w in again if "a fit without a discrepancy" in str(w.message)]
    # A group the fit lacks: the one most likely meant, if one is close.
    with pytest.raises(DataError, match=r"use 'new' for a group not yet observed; did you mean"):
        grouped_fit.group("nwe")
    with pytest.raises(DataError, match=r"not yet observed$"):
        grouped_fit.group("zzzzzz")


def test_fits_with_groups_average_per_group(grouped_fit: bs.Fit) -> None:
    only = average({"a": grouped_fit, "b": grouped_fit}, {"a": 1.0, "b": 0.0})
    pd.testing.assert_frame_equal(only.forecast(AT), grouped_fit.forecast(AT), check_like=True)
    mixed = average({"a": grouped_fit, "b": grouped_fit})  # equal weights
    table = mixed.forecast(AT, group=["y", "new"])
    assert table["group"].tolist() == ["y", "y", "new", "new"]
    assert (table["pred_lower_90"] < table["pred_upper_90"]).all()


def test_group_needs_fits_with_groups(healthy_fit: bs.Fit) -> None:
    with pytest.raises(DataError, match="applies to fits of runs in groups"):
        average({"a": healthy_fit}).forecast(AT, group="x")


def _cut_mid_line(folder: Path) -> None:
    path = folder / "heldout.csv"
    path.write_bytes(path.read_bytes()[:-20])


def _drop_last_line(folder: Path) -> None:
    path = folder / "heldout.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))


def _one_law(folder: Path) -> None:
    path = folder / "loo.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]))


def _renamed_split(folder: Path) -> None:
    path = folder / "extrapolation.csv"
    path.write_text(path.read_text().replace("N > 1e9", "N > 1e8", 1))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_cut_mid_line, "heldout.csv: the file ends mid-line"),
        (_drop_last_line, "heldout.csv: 14 held-out densities of starved at N > 1e9, "),
        (_one_law, "loo.csv: only 1 law(s); a comparison has at least 2"),
        (_renamed_split, "extrapolation.csv: chinchilla at N > 1e8 has no densities in heldout"),
    ],
    ids=["cut-mid-line", "cut-at-a-line", "one-law", "renamed-threshold"],
)
def test_a_damaged_comparison_folder_is_refused(
    refits: tuple[Comparison, list[str]], tmp_path: Path, damage, message: str
) -> None:
    result, _ = refits
    folder = tmp_path / "cmp"
    result.save(folder)
    assert Comparison.load(folder).extrapolation_weights is not None
    damage(folder)
    with pytest.raises(BayescaleError, match="damaged comparison folder") as err:
        Comparison.load(folder)
    assert message in str(err.value) and str(err.value).endswith("; re-run compare")


def test_a_fit_file_swapped_into_a_comparison_folder_is_refused(
    refits: tuple[Comparison, list[str]], tmp_path: Path
) -> None:
    # Same law, same runs, same file name: only the draws tell the starved fit apart. It
    # loaded before, and the averaged forecast moved with it.
    result, _ = refits
    folder = tmp_path / "cmp"
    result.save(folder)
    (folder / "fits" / "chinchilla.nc").write_bytes((folder / "fits" / "starved.nc").read_bytes())
    with pytest.raises(BayescaleError, match="is not the fit this comparison saved as chinch"):
        Comparison.load(folder)


def test_a_heavy_tailed_noise_draw_does_not_leak_an_overflow_warning() -> None:
    from bayescale.forecast import mixture_table

    law = bs.get_law("chinchilla")
    params = {"E": [1.8, 1.8], "A": [400.0, 400.0], "B": [2000.0, 2000.0]}
    params |= {"alpha": [0.34, 0.34], "beta": [0.37, 0.37]}
    points = pd.DataFrame({"N": [1e9], "D": [2e10]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = mixture_table([(law, params, np.array([0.01, 200.0]))], points, 0.5)
    assert np.isinf(table["pred_upper_50"]).all()


def test_a_comparison_that_scored_no_law_saves_and_loads(healthy_fit: bs.Fit, tmp_path) -> None:
    # A comparison without a held-out table (it was once saved as a blank extrapolation.csv,
    # and the folder then failed to load as damaged).
    result = compare({"a": healthy_fit, "b": healthy_fit})
    result.notes.append("a was not scored at N > 1.2e7: 1 runs are fewer than its 7 parameters.")
    assert result.extrapolation is None
    result.save(tmp_path / "cmp")
    again = Comparison.load(tmp_path / "cmp")
    assert again.extrapolation is None and again.verdict() == result.verdict()
    # A threshold that leaves too few runs for any law is now refused before any refit.
    with pytest.raises(DataError, match=r"leaves 1 run\(s\) to fit, fewer than any law's"):
        compare({"a": healthy_fit, "b": healthy_fit}, holdout_above={"N": 1.2e7})


# --------------------------------------------------------------------------- audit 2 fixes


def _other_target(fit_: bs.Fit, column: str) -> bs.Fit:
    """The fit as if made from another column of the same file (same values: the column
    name alone differs, which the runs' fingerprint does not see)."""
    import dataclasses

    return dataclasses.replace(fit_, runs=dataclasses.replace(fit_.runs, y_name=column))


def test_fits_of_different_target_columns_are_not_averaged(healthy_fit: bs.Fit) -> None:
    other = _other_target(healthy_fit, "loss_openlm")
    with pytest.raises(DataError) as err:
        average({"c4val": healthy_fit, "openlm": other}, weights={"c4val": 1, "openlm": 1})
    message = str(err.value)
    assert "c4val fits 'loss'" in message and "openlm fits 'loss_openlm'" in message
    assert "Fit every law to the same column (load_runs(..., y=...))" in message


def test_compare_says_what_differs_between_the_fits_data(healthy_fit: bs.Fit) -> None:
    import dataclasses

    other = _other_target(healthy_fit, "loss_openlm")
    with pytest.raises(DataError) as err:
        compare({"c4val": healthy_fit, "openlm": other})
    message = str(err.value)
    assert "target column 'loss' (c4val) vs 'loss_openlm' (openlm)" in message
    assert "Fit every law to the same runs and target column" in message
    runs = healthy_fit.runs
    half = dataclasses.replace(healthy_fit, runs=runs.subset(np.arange(len(runs)) < 30))
    with pytest.raises(DataError, match=r"60 runs \(all\) vs 30 \(half\)"):
        compare({"all": healthy_fit, "half": half})
    table = runs.table.copy()
    table.loc[[3, 7], "y"] = table.loc[[3, 7], "y"] * 1.01
    moved = dataclasses.replace(healthy_fit, runs=dataclasses.replace(runs, table=table))
    with pytest.raises(DataError, match=r"the values of run\(s\) 3, 7 \(0-based"):
        compare({"given": healthy_fit, "moved": moved})


def test_without_held_out_runs_best_and_the_verdict_say_how_to_check_extrapolation(
    healthy_fit: bs.Fit,
) -> None:
    from bayescale.comparison import _check_holdout

    result = compare({"a": healthy_fit, "b": healthy_fit})  # PSIS-LOO only: no sampling
    with pytest.warns(bs.DataWarning, match="best\\(\\) names only the PSIS-LOO") as caught:
        assert result.best() == {"loo": "a"}
    suggested = result.suggest_holdout()
    assert list(suggested) == ["C"] and 1 <= len(suggested["C"]) <= 2
    # The thresholds proposed are ones compare accepts (checked without sampling).
    _check_holdout(healthy_fit.runs, suggested, {"a": healthy_fit.law})
    listed = ", ".join(clean(v) for v in suggested["C"])
    for text in (str(caught[0].message), result.verdict()):
        assert "no extrapolation check was made" in text.lower()
        assert f"holdout_above={{'C': [{listed}]}}" in text
        assert f"--holdout-above C={listed.replace(', ', ',')}" in text
    # A Pareto-k remark points at a held-out check to make, not at one that was not made.
    result.loo["pareto_k_bad"] = [2, 0]
    verdict = result.verdict()
    assert "judge the laws on held-out larger runs instead" in verdict
    assert "rely on the held-out score" not in verdict
    from bayescale.cli.commands.compare import loo_flags

    _, notes = loo_flags(result.loo.assign(warning=True), held_out=False)
    assert notes and not any("rely on the held-out score" in n for n in notes)
    assert all("--holdout-above" in n for n in notes if n.startswith("k "))


def clean(value: float) -> str:
    from bayescale.comparison import _threshold_text

    return _threshold_text(value)


def _no_fit(*args, **kwargs):
    raise AssertionError("compare sampled before checking its input")


def test_compare_checks_laws_and_thresholds_before_any_sampling(
    sim_runs: bs.Runs, healthy_fit: bs.Fit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bayescale.comparison.fit", _no_fit)
    with pytest.raises(DataError, match=r"laws is empty: give at least two laws"):
        compare(sim_runs, laws=[])
    with pytest.raises(DataError, match="compare needs at least two laws, got chinchilla"):
        compare(sim_runs, laws=["chinchilla"])
    with pytest.raises(DataError, match="compare needs at least two laws, got 1"):
        compare({"a": healthy_fit})
    with pytest.raises(DataError, match=r"above C=1e30 leaves no held-out runs.*between the two"):
        compare(sim_runs, laws=["chinchilla", "kaplan"], holdout_above={"C": [1e20, 1e30]})
    with pytest.raises(DataError, match=r"above N=1.2e7 leaves 1 run\(s\) to fit.*chinchilla 7"):
        compare(sim_runs, laws=["chinchilla", "kaplan"], holdout_above={"N": 1.2e7})
    with pytest.raises(DataError, match="leaves 1 run"):
        compare({"a": healthy_fit, "b": healthy_fit}, holdout_above={"N": 1.2e7})


@pytest.fixture(scope="module")
def runs_csv(sim_runs: bs.Runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    frame = pd.DataFrame({"N": sim_runs.x("N"), "D": sim_runs.x("D"), "loss": sim_runs.y})
    frame.to_csv(path, index=False)
    return path


def _invoke(*args: str):
    from typer.testing import CliRunner

    from bayescale.cli import app

    return CliRunner(env={"COLUMNS": "250"}).invoke(app, list(args))


def test_the_cli_refuses_a_threshold_before_any_sampling(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bayescale.comparison.fit", _no_fit)
    monkeypatch.setattr("bayescale.comparison.compare", _no_fit)
    args = ["compare", str(runs_csv), "--laws", "chinchilla,kaplan", "--out", str(tmp_path / "c")]
    result = _invoke(*args, "--holdout-above", "C=1e30")
    assert result.exit_code == 2, result.output
    assert "--holdout-above" in result.stderr and "leaves no held-out runs" in result.stderr
    assert "Comparing" not in result.stdout and not (tmp_path / "c").exists()


def _stub_for_cli() -> Comparison:
    """A comparison as the CLI prints it: a clipped R^2, tiny weights, no sampling."""
    loo = pd.DataFrame(
        {
            "elpd_loo": [323.0, 247.0],
            "p_loo": [6.5, 5.3],
            "elpd_diff": [0.0, 76.1],
            "weight": [0.99999999979, 2.1e-10],
            "se": [8.9, 6.5],
            "dse": [0.0, 10.5],
            "warning": False,
            "pareto_k_bad": 0,
            "diagnostics_ok": True,
        },
        index=pd.Index(["chinchilla", "kaplan"], name="law"),
    )
    extrapolation = pd.DataFrame(
        {
            "law": ["chinchilla", "kaplan"],
            "holdout": "C > 1e21",
            "threshold": 1e21,
            "n_train": 96,
            "n_test": 12,
            "elpd": [38.4, 23.8],
            "elpd_per_run": [3.2, 1.98],
            "coverage_50": [0.6667, 0.3333],
            "coverage_80": [1.0, 0.6667],
            "coverage_90": [1.0, 0.8333],
            "r2": [0.638, -1.0],
            "mare": [0.00699, 0.02724],
            "diagnostics_ok": True,
        }
    )
    held = pd.DataFrame(
        {
            "law": ["chinchilla"] * 12 + ["kaplan"] * 12,
            "holdout": "C > 1e21",
            "threshold": 1e21,
            "run": list(range(96, 108)) * 2,
            "log_density": [3.2] * 12 + [1.98] * 12,
        }
    )
    fits = {name: SimpleNamespace(ok=True) for name in loo.index}
    return Comparison(fits, loo, extrapolation, [], held)  # type: ignore[arg-type]


def test_the_cli_tables_explain_their_columns_and_show_readable_numbers(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _stub_for_cli()
    monkeypatch.setattr("bayescale.comparison.compare", lambda *args, **kwargs: made)
    monkeypatch.setattr(Comparison, "save", lambda self, folder, overwrite=False: {})
    args = ["compare", str(runs_csv), "--laws", "chinchilla,kaplan", "--out", str(tmp_path / "c")]
    result = _invoke(*args, "--holdout-above", "C=1e19")
    assert result.exit_code == 0, result.output
    out = result.stdout
    # Legends: the sign of elpd_diff, se against dse, the unit of elpd.
    assert "elpd_diff: how far below the best law (0 for the best; larger is worse)" in out
    assert "dse: the standard error of that gap, the one to judge it by" in out
    assert "log density of a held-out run's log loss (nats" in out
    assert "extrapolation_stacking_weight: plain stacking" in out
    rows = [line for line in out.splitlines() if "C > 1e21" in line]
    kaplan = next(line for line in rows if "kaplan" in line)
    assert "33%" in kaplan and "83%" in kaplan and "2.7%" in kaplan and "≤ -1" in kaplan
    assert "0.3333" not in out and "-1.000" not in out
    # Weights: one name (loo_weight) in both tables, tiny ones readable.
    assert "<0.001" in out and ">0.999" in out and "e-10" not in out
    assert out.count("loo_weight") >= 3  # two tables and the legends
    assert "┃ weight " not in out


def test_saving_over_a_comparison_says_how_to_replace_it(
    healthy_fit: bs.Fit, tmp_path: Path
) -> None:
    result = compare({"a": healthy_fit, "b": healthy_fit})
    result.save(tmp_path / "cmp")
    with pytest.raises(OutputExistsError, match=r"overwrite=True\) \(bayescale compare --force\)"):
        result.save(tmp_path / "cmp")


def test_a_fit_folder_is_not_a_comparison_and_the_message_names_its_fit(
    healthy_fit: bs.Fit, tmp_path: Path
) -> None:
    folder = tmp_path / "demo-output"
    folder.mkdir()
    healthy_fit.save(folder / "fit.nc")
    with pytest.raises(BayescaleError) as err:
        Comparison.load(folder)
    assert "has no loo.csv; it is not a saved comparison" in str(err.value)
    assert f"give the file instead, e.g. '{folder / 'fit.nc'}'" in str(err.value)
    shown = _invoke("forecast", str(folder), "--at", "N=1e9,D=2e10")
    assert shown.exit_code != 0 and "fit.nc" in shown.stderr


@pytest.mark.filterwarnings("ignore::bayescale.DataWarning")
@pytest.mark.filterwarnings("ignore:averaged forecast includes fits that failed")
def test_a_saved_comparison_reloads_to_the_same_weights_and_forecasts(
    refits: tuple[Comparison, list[str]], tmp_path: Path
) -> None:
    import json

    result, _ = refits
    folder = tmp_path / "cmp"
    result.save(folder)
    back = Comparison.load(folder)
    from bayescale import comparison as module

    module._BAGGED.clear()  # the reloaded weights are computed afresh, not read from the cache
    pd.testing.assert_frame_equal(back.weights_table(), result.weights_table(), check_exact=True)
    assert list(back.fits) == list(result.fits)
    for weights in ("auto", "extrapolation"):
        table, expected = back.average(weights).forecast(AT), result.average(weights).forecast(AT)
        pd.testing.assert_frame_equal(table, expected, check_exact=True)
        assert table.attrs == expected.attrs
    # The CLI gives the same numbers, and its CSV says they are an average, and of what.
    expected = back.average().forecast(AT)
    at = ["--at", "N=1e9,D=2e10", "--at", "N=1e10,D=2e11"]
    doc = json.loads(_invoke("forecast", str(folder), *at, "--format", "json").stdout)
    assert [row["pred_upper_90"] for row in doc["forecast"]] == list(expected["pred_upper_90"])
    csv = _invoke("forecast", str(folder), *at, "--format", "csv")
    frame = pd.read_csv(__import__("io").StringIO(csv.stdout))
    assert list(frame.columns[-2:]) == ["weights_method", "weights"]
    assert list(frame.columns[:-2]) == list(expected.columns)
    assert (frame["weights_method"] == doc["weights_method"]).all()
    shares = dict(part.split(":") for part in frame["weights"].iloc[0].split())
    assert {k: float(v) for k, v in shares.items()} == pytest.approx(
        {k: v for k, v in doc["weights"].items() if v > 0}, rel=1e-5
    )
    np.testing.assert_allclose(frame["law_median"], expected["law_median"], rtol=1e-12)
    # Other weights from the command line: by name, or the user's own.
    for option, weights in (("stacking", "stacking"), ("chinchilla=3,starved=1", None)):
        doc = json.loads(
            _invoke("forecast", str(folder), *at, "--weights", option, "-f", "json").stdout
        )
        mine = back.average(weights or {"chinchilla": 3.0, "starved": 1.0}).forecast(AT)
        assert [r["law_median"] for r in doc["forecast"]] == pytest.approx(
            list(mine["law_median"]), rel=1e-12
        )
    assert doc["weights"] == pytest.approx({"chinchilla": 0.75, "starved": 0.25})
    typo = _invoke("forecast", str(folder), *at, "--weights", "chinchila=1")
    assert typo.exit_code == 2 and "did you mean chinchilla?" in " ".join(typo.output.split())
    # The weighting is saved with the comparison; a folder saved before it was recorded
    # reloads with the plain stacking it was saved with, not a later default.
    notes = json.loads((folder / "notes.json").read_text(encoding="utf-8"))
    assert notes["weighting"] == {"method": "bagged_stacking", "replicates": 200, "seed": 0}
    del notes["weighting"]
    (folder / "notes.json").write_text(json.dumps(notes), encoding="utf-8")
    old = Comparison.load(folder)
    assert old.weighting == {"method": "stacking"}
    plain = result.weights_table()["extrapolation_stacking_weight"]
    assert old.extrapolation_weights.to_dict() == pytest.approx(plain.to_dict())
    assert "Bayesian-bootstrap" in result._leave_future_out()[2]
    assert "Bayesian-bootstrap" not in old._leave_future_out()[2]
    # Its verdict says which weighting it has, not the new default's.
    assert "plain stacking, as this comparison was saved with" in old.verdict()
    assert "Bayesian-bootstrap" not in old.verdict()


# --------------------------------------------------------------------------- API audit fixes


def test_score_reads_a_table_as_the_fits_runs_were_read(
    healthy_fit: bs.Fit, sim_runs: bs.Runs, tmp_path: Path
) -> None:
    expected = score(healthy_fit, sim_runs)
    # sim_runs came from columns params, tokens and loss: a table with them is read alike.
    frame = pd.DataFrame({"params": sim_runs.x("N"), "tokens": sim_runs.x("D"), "loss": sim_runs.y})
    path = tmp_path / "held.csv"
    frame.to_csv(path, index=False)
    for test in (frame, path):
        assert score(fit=healthy_fit, test=test) == expected
    # `level` is another name for `levels`, as in Fit.forecast; never both.
    one = score(healthy_fit, sim_runs, level=0.9)
    assert one == score(healthy_fit, sim_runs, [0.9])
    assert "coverage_90" in one and "coverage_50" not in one
    assert one["coverage_90"] == expected["coverage_90"]
    with pytest.raises(DataError, match="give level= or levels="):
        score(healthy_fit, sim_runs, levels=[0.9], level=0.9)
    with pytest.raises(DataError, match=r"the columns the fit's runs came from \(N='params'"):
        score(healthy_fit, frame.rename(columns={"params": "size"}))
    with pytest.raises(DataError, match="score's test needs runs: Runs from"):
        score(healthy_fit, frame.to_numpy())
    with pytest.raises(DataError, match="score needs a Fit first"):
        score(str(path), sim_runs)


def test_a_bare_holdout_threshold_is_one_on_compute(
    sim_runs: bs.Runs, healthy_fit: bs.Fit, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bayescale.comparison import _holdout_splits, _holdout_thresholds

    assert _holdout_thresholds(1e19, sim_runs) == {"C": [1e19]}
    assert _holdout_thresholds([1e19, 1e20], sim_runs) == {"C": [1e19, 1e20]}
    assert _holdout_thresholds({"N": 1e9}, sim_runs) == {"N": [1e9]}
    [(name, threshold, train, held)] = _holdout_splits(
        sim_runs, _holdout_thresholds(1e19, sim_runs)
    )
    assert (name, threshold) == ("C", 1e19)
    assert held.tolist() == (sim_runs.x("C") > 1e19).tolist() and len(train) == (~held).sum()
    monkeypatch.setattr("bayescale.comparison.fit", _no_fit)
    # Checked before any sampling, as thresholds given by name are.
    with pytest.raises(DataError, match=r"above C=1e30 leaves no held-out runs"):
        compare(sim_runs, laws=["chinchilla", "kaplan"], holdout_above=1e30)
    with pytest.raises(DataError, match=r"above C=1e30 leaves no held-out runs"):
        compare({"a": healthy_fit, "b": healthy_fit}, holdout_above=[1e19, 1e30])
    with pytest.raises(DataError, match=r"holdout_above maps an input to thresholds, e\.g\."):
        compare(sim_runs, laws=["chinchilla", "kaplan"], holdout_above="C")
    with pytest.raises(DataError, match=r"holdout_above\['C'\] takes numbers"):
        compare(sim_runs, laws=["chinchilla", "kaplan"], holdout_above={"C": "soon"})
    only_n = load_runs(pd.DataFrame({"N": sim_runs.x("N"), "loss": sim_runs.y}))
    with pytest.raises(
        DataError, match=r"threshold on compute C, which these runs lack \(they have N\)"
    ):
        _holdout_thresholds(1e9, only_n)


class _Levels(Exception):
    """Raised by a stub score with the levels compare() asked it for."""


def test_compare_takes_level_as_another_name_for_levels(
    healthy_fit: bs.Fit, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stub_score(fit_, test, levels, of_y):
        raise _Levels(levels)

    monkeypatch.setattr("bayescale.comparison.fit", lambda *args, **kwargs: healthy_fit)
    monkeypatch.setattr("bayescale.comparison._score", stub_score)
    for given, expected in ((dict(level=0.8), [0.8]), (dict(levels=[0.5, 0.9]), [0.5, 0.9])):
        with pytest.raises(_Levels) as err:
            compare({"a": healthy_fit, "b": healthy_fit}, holdout_above={"N": 1e9}, **given)
        assert err.value.args[0] == expected
    with pytest.raises(_Levels) as err:
        compare({"a": healthy_fit, "b": healthy_fit}, holdout_above={"N": 1e9})
    assert err.value.args[0] == [0.5, 0.8, 0.9]
    with pytest.raises(DataError, match="give level= or levels="):
        compare({"a": healthy_fit, "b": healthy_fit}, level=0.9, levels=[0.9])


def test_compare_pooling_reads_a_table_with_its_groups(
    sim_runs: bs.Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bayescale.comparison import compare_pooling

    frame = pd.DataFrame(
        {
            "params": sim_runs.x("N"),
            "tokens": sim_runs.x("D"),
            "loss": sim_runs.y,
            "family": np.resize(["x", "y"], len(sim_runs)),
        }
    )
    mapping = {"x": {"N": "params", "D": "tokens"}, "y": "loss"}
    expected = load_runs(frame, **mapping, group="family")
    seen: list[bs.Runs] = []

    def fake_fit(runs, law, **options):
        seen.append(runs)
        raise _Stop

    monkeypatch.setattr("bayescale.comparison.fit", fake_fit)
    with pytest.raises(_Stop):
        compare_pooling(frame, group="family", **mapping)
    with pytest.raises(_Stop):
        compare_pooling(expected, group="family")  # its own grouping: accepted
    assert seen == [expected, expected]
    with pytest.raises(DataError, match=r"needs runs in groups: give the grouping column"):
        compare_pooling(frame, **mapping)
    with pytest.raises(DataError, match="x= and y= are for reading a table"):
        compare_pooling(expected, **mapping)
    with pytest.raises(DataError, match="compare_pooling needs runs: Runs from"):
        compare_pooling(None)
    with pytest.raises(DataError, match="give level= or levels="):
        compare_pooling(expected, level=0.9, levels=[0.9])


def test_compare_pooling_scores_the_runs_own_larger_runs(sim_runs: bs.Runs) -> None:
    from bayescale.comparison import compare_pooling

    runs = load_runs(
        pd.DataFrame(
            {
                "N": sim_runs.x("N"),
                "D": sim_runs.x("D"),
                "loss": sim_runs.y,
                "family": np.resize(["x", "y"], len(sim_runs)),
            }
        ),
        group="family",
    )
    threshold = float(np.quantile(runs.x("C"), 0.7))
    small = dict(draws=150, tune=150, chains=2, seed=1, prior_draws=0, discrepancy="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the short chains
        table = compare_pooling(
            runs, choices=("partial", "complete"), holdout_above={"C": threshold}, **small
        )
    label = f"C<={threshold:g}".replace("e+", "e")
    assert list(table.index) == [("partial", label), ("complete", label)]
    below = int((runs.x("C") <= threshold * (1 + 1e-9)).sum())
    assert (table["n_train"] == below).all() and (table["n_test"] == len(runs) - below).all()
    assert table[["coverage_90", "mare", "elpd"]].notna().all().all()
    assert {"elpd_loo", "diagnostics_ok", "diagnostics_ok_refit"} <= set(table.columns)
    # A count is written as one (47, not 47.0), and the verdict weighs the held-out lead.
    assert pd.api.types.is_integer_dtype(table["n_test"])
    assert f",{len(runs) - below}," in table.to_csv().splitlines()[1]
    assert re.search(
        rf"Its held-out lead over \w+: -?[\d.]+ \+/- [\d.]+ \(summed log density; standard "
        rf"error over the {len(runs) - below} held-out runs\)",
        table.attrs["verdict"],
    ), table.attrs["verdict"]
    # Before any sampling: a threshold that leaves a group nothing to fit, or test= as well.
    lowest = {g: float(runs.x("C")[np.asarray(runs.group) == g].min()) for g in ("x", "y")}
    later = max(lowest, key=lowest.__getitem__)  # the group whose smallest run is larger
    with pytest.raises(DataError, match=rf"leaves no run to fit in group\(s\) {later} \("):
        compare_pooling(runs, holdout_above={"C": lowest[later] * 0.999})
    with pytest.raises(DataError, match="either held-out runs given as test= or the runs' own"):
        compare_pooling(runs, test=runs, holdout_above={"C": threshold})


def _pooling_table(
    refit_ok: dict[str, bool], noise: float = 0.0
) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """A pooling comparison's table, pointwise LOO and held-out densities, made up: partial
    leads none on 20 held-out runs by 1.0 nat in all (by 0.05 a run, give or take ``noise``),
    complete trails far; on PSIS-LOO partial and none are alike, complete trails."""
    rng = np.random.default_rng(5)
    base = rng.normal(0.0, 1.0, 20)
    jitter = rng.normal(0.0, 1.0, 20)
    jitter = noise * (jitter - jitter.mean())  # the total lead stays 1.0
    held = {"none": base, "partial": base + 0.05 + jitter, "complete": base - 2.0}
    loo = {"partial": rng.normal(2.0, 0.5, 30), "none": rng.normal(2.0, 0.5, 30)}
    loo["complete"] = loo["partial"] - 3.0
    rows = [
        {
            "pooling": c,
            "holdout": "C<=1e19",
            "elpd_loo": float(loo[c].sum()),
            "diagnostics_ok": True,
            "n_test": 20,
            "elpd": float(held[c].sum()),
            "diagnostics_ok_refit": refit_ok.get(c, True),
        }
        for c in ("none", "partial", "complete")
    ]
    heldout = pd.concat(
        pd.DataFrame({"law": c, "holdout": "C<=1e19", "run": np.arange(20), "log_density": v})
        for c, v in held.items()
    )
    return pd.DataFrame(rows).set_index(["pooling", "holdout"]), loo, heldout


def test_the_pooling_verdict_gives_each_leads_standard_error_and_names_failed_refits() -> None:
    from bayescale.comparison import pooling_verdict

    # The same small lead on every run: decisive; and the winner's refit failed.
    verdict = pooling_verdict(*_pooling_table({"partial": False}))
    assert "Best on the held-out larger runs (summed elpd): partial" in verdict
    assert (
        "Its held-out lead over none: 1.0 +/- 0.0 (summed log density; standard error over "
        "the 20 held-out runs): decisive on these runs." in verdict
    )
    assert "partial's refit at C<=1e19 (the held-out winner) failed its diagnostics" in verdict
    # The same total lead from runs that disagree: within two standard errors.
    verdict = pooling_verdict(*_pooling_table({}, noise=1.0))
    lead = next(line for line in verdict.splitlines() if "held-out lead over none" in line)
    se = float(re.search(r"1\.0 \+/- ([\d.]+)", lead).group(1))
    assert se > 2.0 and lead.endswith("within two standard errors: not decisive.")
    assert "failed its diagnostics" not in verdict
    # PSIS-LOO names its runner-up's gap with the standard error of the difference.
    table, loo, _ = _pooling_table({})
    best, second = table["elpd_loo"].droplevel(1).sort_values(ascending=False).index[:2]
    gap = loo[best] - loo[second]
    dse = float(np.sqrt(len(gap) * np.var(gap, ddof=1)))
    verdict = pooling_verdict(table, loo)
    assert f"{gap.sum():.1f} +/- {dse:.1f}" in verdict.splitlines()[1]
    decisive = gap.sum() >= 2 * dse
    assert ("not decisive" in verdict.splitlines()[1]) is not decisive


def test_a_pooling_comparison_folder_is_named_as_one(tmp_path: Path) -> None:
    folder = tmp_path / "pool_cmp"
    folder.mkdir()
    table, _, _ = _pooling_table({})
    table.to_csv(folder / "pooling.csv")
    with pytest.raises(BayescaleError) as err:
        Comparison.load(folder)
    message = str(err.value)
    assert "holds pooling.csv, a comparison of pooling choices" in message
    assert "pooling='partial'" in message  # the choice it ranks first on held-out runs
    shown = _invoke("forecast", str(folder), "--at", "N=1e9,D=2e10")
    assert shown.exit_code == 2
    assert "a comparison of pooling choices (bayescale compare ... --pooling)" in shown.stderr
    assert "'bayescale fit DATA ... --group COLUMN --pooling partial --out FIT.nc'" in (
        " ".join(shown.stderr.split())
    )
    assert "fit(runs" not in shown.stderr


@pytest.fixture(scope="module")
def half_fit(sim_runs: bs.Runs) -> bs.Fit:
    """Chinchilla on every other run, as many draws as the healthy fit (no retries, which
    would take more), and without a discrepancy: a second law whose chances differ."""
    half = sim_runs.subset(np.arange(len(sim_runs)) % 2 == 0)
    return bs.fit(
        half,
        "chinchilla",
        draws=500,
        tune=500,
        chains=2,
        seed=3,
        prior_draws=0,
        retries=0,
        discrepancy="none",
    )


def test_an_average_of_one_law_gives_its_fits_prob_below(healthy_fit: bs.Fit) -> None:
    only = average({"healthy": healthy_fit, "other": healthy_fit}, {"healthy": 1.0})
    keys = ("caveats", "past_peak", "beyond_backtests", "diagnostics_ok")
    for where in ({"N": [1e9, 1e10], "D": [2e10, 2e11]}, {"C": [1e20, 1e40]}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            own = healthy_fit.prob_below([2.2, 2.1], **where)
        with warnings.catch_warnings(record=True) as again:
            warnings.simplefilter("always")
            mine = only.prob_below([2.2, 2.1], **where)
        pd.testing.assert_frame_equal(mine, own, check_exact=True)
        assert {k: mine.attrs[k] for k in keys} == {k: own.attrs[k] for k in keys}
        assert [(str(w.message), w.category) for w in again] == [
            (str(w.message), w.category) for w in caught
        ]
        assert mine.attrs["weights_method"] == "user"
    # 1e40 FLOPs lies far beyond the backtests: flagged as the fit flags it.
    assert [e["row"] for e in mine.attrs["beyond_backtests"]] == [1, 3]
    # The points may come as at=, as forecast takes them.
    at = pd.DataFrame({"N": [1e9, 1e10], "D": [2e10, 2e11]})
    pd.testing.assert_frame_equal(
        only.prob_below(2.2, at=at), healthy_fit.prob_below(2.2, N=at["N"], D=at["D"])
    )
    with pytest.raises(DataError, match="either as at= or as N=, not both"):
        only.prob_below(2.2, at=at, N=1e9)
    with pytest.raises(DataError, match=r"'U' is not an input of the averaged laws"):
        only.prob_below(2.2, at={"N": 1e9, "D": 2e10, "U": 1e10})
    with pytest.raises(DataError, match="prob_below needs the points"):
        only.prob_below(2.2)


@pytest.mark.filterwarnings("ignore::bayescale.DataWarning")  # fits of different runs
@pytest.mark.filterwarnings("ignore:.*failed")  # whether the half fit passes does not matter
def test_an_averaged_prob_below_pools_the_laws_draws_by_weight(
    healthy_fit: bs.Fit, half_fit: bs.Fit
) -> None:
    assert len(half_fit.draws()["E"]) == len(healthy_fit.draws()["E"])
    both = average({"healthy": healthy_fit, "half": half_fit}, {"healthy": 0.5, "half": 0.5})
    at = {"N": [1e9, 1e10], "D": [2e10, 2e11]}
    # Targets at the healthy law's medians: chances well inside (0, 1) for both laws.
    targets = healthy_fit.forecast(at)["law_median"].round(3).tolist()
    for target in targets:
        for where in (at, {"C": [1e20, 1e22]}):
            mixed = both.prob_below(target, **where)
            one = healthy_fit.prob_below(target, **where)
            two = half_fit.prob_below(target, **where)
            for column in ("prob_law_below", "prob_run_below"):
                low = np.minimum(one[column], two[column])
                high = np.maximum(one[column], two[column])
                assert ((low <= mixed[column]) & (mixed[column] <= high)).all()
                # Equal weights and equal draws: every draw of both laws is pooled once.
                np.testing.assert_allclose(
                    mixed[column], (one[column] + two[column]) / 2, rtol=1e-12
                )
            assert (one["prob_run_below"] != two["prob_run_below"]).all()
    assert mixed.attrs["diagnostics_ok"] == half_fit.ok
    assert mixed.attrs["weights_method"] == "user"


def test_fits_with_groups_give_each_groups_prob_below(
    grouped_fit: bs.Fit, healthy_fit: bs.Fit
) -> None:
    only = average({"a": grouped_fit, "b": grouped_fit}, {"a": 1.0})
    mine = only.prob_below(2.2, N=[1e9, 1e10], D=[2e10, 2e11], group=["y", "new"])
    own = grouped_fit.prob_below(2.2, N=[1e9, 1e10], D=[2e10, 2e11], group=["y", "new"])
    pd.testing.assert_frame_equal(mine, own, check_exact=True)
    assert mine["group"].tolist() == ["y", "y", "new", "new"]
    with pytest.raises(DataError, match="applies to fits of runs in groups"):
        average({"h": healthy_fit}).prob_below(2.2, N=1e9, D=2e10, group="x")


@pytest.mark.filterwarnings("ignore:averaged forecast includes fits that failed")
def test_a_reloaded_comparison_keeps_its_order_weights_and_attrs(
    healthy_fit: bs.Fit, starved_fit: bs.Fit, tmp_path: Path
) -> None:
    # Three laws given in another order than their LOO rank: a reload once listed them by
    # rank, reordering the weights' JSON and summing them in another order (the last bit).
    result = compare({"c": healthy_fit, "a": starved_fit, "b": healthy_fit})
    assert list(result.loo.index) != ["c", "a", "b"]
    result.save(tmp_path / "cmp")
    back = Comparison.load(tmp_path / "cmp")
    assert list(back.fits) == ["c", "a", "b"]
    pd.testing.assert_frame_equal(back.loo, result.loo, check_exact=True)
    for weights in ("stacking", {"c": 1.0, "a": 1.0, "b": 1.0}):
        mine, theirs = back.average(weights), result.average(weights)
        assert mine.weights.to_dict() == theirs.weights.to_dict()
        assert list(mine.weights.index) == list(theirs.weights.index) == ["c", "a", "b"]
        table, expected = mine.forecast(AT), theirs.forecast(AT)
        pd.testing.assert_frame_equal(table, expected, check_exact=True)
        assert table.attrs == expected.attrs


# --------------------------------------------------------------------------- far points


FAR = {"N": [1e9, 1e12], "D": [2e10, 2e13]}  # inside the runs, and far beyond the backtests


def said_far(make) -> tuple[object, list[str]]:
    """What ``make()`` returns and the ExtrapolationWarnings it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = make()
    return out, [str(w.message) for w in caught if issubclass(w.category, ExtrapolationWarning)]


def test_score_does_not_warn_of_held_out_runs_far_beyond_the_backtests(
    healthy_fit: bs.Fit,
) -> None:
    from conftest import simulate_runs

    held = simulate_runs(FAR["N"], FAR["D"], seed=3)
    # Far held-out runs are what a score is for: nothing said, and the score is made.
    scores, said = said_far(lambda: score(healthy_fit, held))
    assert said == [] and scores["n_test"] == 2
    # The same points forecast by the fit are warned about.
    _, said = said_far(lambda: healthy_fit.forecast(FAR))
    assert len(said) == 1 and "point 2 at N = 1T" in said[0]


def test_score_takes_the_fit_under_its_old_name_with_a_deprecation_warning(
    healthy_fit: bs.Fit, sim_runs: bs.Runs
) -> None:
    expected = score(healthy_fit, sim_runs)
    with pytest.warns(DeprecationWarning, match=r"score\(fit_=\.\.\.\) is now score\(fit=\.\.\.\)"):
        assert score(fit_=healthy_fit, test=sim_runs) == expected
    with pytest.raises(DataError, match=r"give the fit as fit= \(fit_ is its old name\), not both"):
        score(healthy_fit, sim_runs, fit_=healthy_fit)
    with pytest.raises(DataError, match=r"score needs the held-out runs as test="):
        score(healthy_fit)


def test_an_averaged_forecast_warns_of_far_points_as_its_fit_does(healthy_fit: bs.Fit) -> None:
    only = average({"healthy": healthy_fit, "other": healthy_fit}, {"healthy": 1.0})
    own, expected = said_far(lambda: healthy_fit.forecast(FAR))
    mine, said = said_far(lambda: only.forecast(FAR))
    assert len(expected) == 1 and said == expected  # one sentence, worded alike
    for key in ("caveats", "beyond_backtests"):
        assert mine.attrs[key] == own.attrs[key]
    assert [e["row"] for e in mine.attrs["beyond_backtests"]] == [1]
    # Two laws with the same backtests: the same sentence, each row naming both laws.
    twice = average({"a": healthy_fit, "b": healthy_fit}, {"a": 0.5, "b": 0.5})
    table, said = said_far(lambda: twice.forecast(FAR))
    assert said == expected
    assert table.attrs["beyond_backtests"] == [
        {"row": 1, "distance": own["distance"].iloc[1], "laws": ["a", "b"]}
    ]
    # Within reach: nothing said, nothing marked.
    near, said = said_far(lambda: twice.forecast(AT))
    assert said == [] and "caveats" not in near.attrs


@pytest.mark.filterwarnings("ignore::bayescale.DataWarning")  # fits of different runs
def test_an_averaged_forecast_names_the_laws_whose_backtests_a_point_exceeds(
    healthy_fit: bs.Fit, half_fit: bs.Fit
) -> None:
    # half_fit has no discrepancy, so no backtests to exceed: the point is far for healthy.
    both = average({"healthy": healthy_fit, "half": half_fit}, {"healthy": 0.5, "half": 0.5})
    table, said = said_far(lambda: both.forecast(FAR))
    far = [m for m in said if m.startswith("forecast:")]
    assert len(far) == 1
    assert far[0].startswith("forecast: point 2 at N = 1T, D = 20T, C = 1.2e26 (")
    assert "the farthest the backtests of healthy checked the discrepancy" in far[0]
    assert [e["laws"] for e in table.attrs["beyond_backtests"]] == [["healthy"]]
    # half has no discrepancy at all: its sentence says so (warned once per fit, so maybe
    # by an earlier test; every table keeps it).
    (unchecked,) = [c for c in table.attrs["caveats"] if c not in far]
    assert unchecked.startswith("half: points up to")
    assert "from a fit without a discrepancy" in unchecked
    assert set(said) <= {*far, unchecked}
    # A law with all the weight and no backtests: no backtest to exceed.
    alone = average({"healthy": healthy_fit, "half": half_fit}, {"half": 1.0})
    table, said = said_far(lambda: alone.forecast(FAR))
    assert not [m for m in said if m.startswith("forecast:")]
    assert ["from a fit without a discrepancy" in c for c in table.attrs["caveats"]] == [True]


# -- plans under averaged laws ----------------------------------------------------------------


def _said(make) -> tuple[object, list[tuple[str, type]]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = make()
    return result, [(str(w.message), w.category) for w in caught]


def test_an_average_of_one_law_plans_as_its_fit(healthy_fit: bs.Fit) -> None:
    only = average({"healthy": healthy_fit, "other": healthy_fit}, {"healthy": 1.0})
    budgets = [1e20, 1e23, 1e30]  # 1e30 lies far beyond the backtests
    own, own_said = _said(lambda: healthy_fit.compute_optimal(budgets))
    mine, mine_said = _said(lambda: only.compute_optimal(budgets))
    # The same draws, noise and discrepancy: every column the average gives is the fit's,
    # bit for bit (the fit also simulates IsoFLOP sweeps, which an average does not).
    assert "loss_disc_median" in mine and "N_disc_median" in mine
    pd.testing.assert_frame_equal(mine, own[list(mine.columns)], check_exact=True)
    assert mine.attrs["caveats"] == own.attrs["caveats"] and mine_said == own_said
    assert mine.attrs["beyond_backtests"] == own.attrs["beyond_backtests"]
    assert mine.attrs["per_law_N_median"] == {"healthy": list(own["N_median"])}
    own, own_said = _said(lambda: healthy_fit.budget_for([2.2, 2.0], prob=0.9))
    mine, mine_said = _said(lambda: only.budget_for([2.2, 2.0], prob=0.9))
    pd.testing.assert_frame_equal(mine, own, check_exact=True)
    for key in ("caveats", "past_peak", "beyond_backtests"):
        assert mine.attrs[key] == own.attrs[key]
    assert mine_said == own_said
    # The chance's scan of budgets from 1e7 FLOPs is no slip of units of the user's.
    assert not [m for m, category in own_said if issubclass(category, bs.SlipWarning)]


@pytest.mark.filterwarnings("ignore::bayescale.DataWarning")  # fits of different runs
def test_an_averaged_plan_pools_each_laws_own_plans(healthy_fit: bs.Fit, half_fit: bs.Fit) -> None:
    fits = {"healthy": healthy_fit, "half": half_fit}
    both = average(fits, {"healthy": 0.5, "half": 0.5})
    budgets = [1e21, 1e23]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ExtrapolationWarning)
        plan = both.compute_optimal(budgets)
        alone = {name: f.compute_optimal(budgets) for name, f in fits.items()}
    assert plan.attrs["per_law_N_median"] == {
        name: list(table["N_median"]) for name, table in alone.items()
    }
    for column in ("N", "D", "loss", "loss_pred"):
        tables = list(alone.values())
        for q in ("lower_90", "median", "upper_90"):
            # A quantile of a mixture lies between its components' quantiles.
            low = np.minimum(*(t[f"{column}_{q}"] for t in tables))
            high = np.maximum(*(t[f"{column}_{q}"] for t in tables))
            assert (plan[f"{column}_{q}"] >= low * (1 - 1e-9)).all(), (column, q)
            assert (plan[f"{column}_{q}"] <= high * (1 + 1e-9)).all(), (column, q)
    # half_fit has no discrepancy: its draws add none, so with it the pool's discrepancy
    # columns are there (healthy's), and lie between healthy's and the law's own.
    assert "loss_disc_median" in plan and "N_disc_median" in plan
    # One run's chance at the averaged budget is the averaged prob_below there, and the
    # budget for a 90% chance is where that chance reaches 90%.
    table = both.budget_for(2.1, prob=0.9)
    row = table.iloc[0]
    at = both.prob_below(2.1, C=[row["C_median"], row["C_run_prob_90"]])
    assert row["prob_run_below_median_C"] == pytest.approx(at["prob_run_below"].iloc[0])
    assert at["prob_run_below"].iloc[1] >= 0.9
    assert both.prob_below(2.1, C=row["C_run_prob_90"] * 0.98)["prob_run_below"].iloc[0] < 0.9
    budgets_alone = [f.budget_for(2.1)["C_median"].iloc[0] for f in fits.values()]
    assert min(budgets_alone) <= row["C_median"] <= max(budgets_alone)
    assert json.loads(table.attrs["weights"]) == {"healthy": 0.5, "half": 0.5}


def test_an_averaged_plan_refuses_what_it_cannot_pool(healthy_fit: bs.Fit) -> None:
    from bayescale.average_plans import plan_laws

    def fake(inputs: tuple[str, ...], k: float = 6.0) -> SimpleNamespace:
        return SimpleNamespace(
            law=SimpleNamespace(inputs=inputs), runs=SimpleNamespace(compute_factor=k)
        )

    with pytest.raises(DataError, match=r"power \(inputs C\) has none: give it weight 0"):
        plan_laws({"chinchilla": fake(("N", "D")), "power": fake(("C",))}, "compute_optimal")
    # A law of compute alone answers the budget for a target.
    assert plan_laws({"chinchilla": fake(("N", "D")), "power": fake(("C",))}, "budget_for") == 6
    with pytest.raises(DataError, match=r"different factors \(C = k N D, k = 6, 8\)"):
        plan_laws({"a": fake(("N", "D")), "b": fake(("N", "D"), 8.0)}, "budget_for")
    only = average({"healthy": healthy_fit, "other": healthy_fit}, {"healthy": 1.0})
    with pytest.raises(DataError, match=r"'U': \.\.\.}: not an input of the law"):
        only.compute_optimal(1e21, fixed={"U": 1e9})
    with pytest.raises(DataError, match="N, D and C are what a plan chooses"):
        only.budget_for(2.0, fixed={"N": 1e9})
    with pytest.raises(DataError, match=r"group=.* applies to fits of runs in groups"):
        only.compute_optimal(1e21, group="x")


def test_an_average_of_grouped_fits_plans_per_group(grouped_fit: bs.Fit) -> None:
    only = average({"a": grouped_fit, "b": grouped_fit}, {"a": 1.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the short chains
        mine = only.compute_optimal([1e21, 1e22], group=["x", "new"])
        own = grouped_fit.compute_optimal([1e21, 1e22], group=["x", "new"])
        budget = only.budget_for(2.1, group=["y"])
        own_budget = grouped_fit.budget_for(2.1, group=["y"])
    pd.testing.assert_frame_equal(mine, own[list(mine.columns)], check_exact=True)
    assert list(mine["group"]) == ["x", "x", "new", "new"]
    assert mine.attrs["per_law_N_median"] == {"a": list(own["N_median"])}
    pd.testing.assert_frame_equal(budget, own_budget, check_exact=True)


@pytest.mark.filterwarnings("ignore::bayescale.DataWarning")  # fits of different runs
def test_an_average_saves_and_reloads_to_the_same_forecasts_and_plans(
    healthy_fit: bs.Fit, half_fit: bs.Fit, tmp_path: Path
) -> None:
    from bayescale.comparison import Average

    both = average(
        {"healthy": healthy_fit, "half": half_fit}, {"healthy": 0.7, "half": 0.3}, seed=4
    )
    folder = tmp_path / "avg"
    written = both.save(folder)
    assert sorted(written) == ["average", "fit_half", "fit_healthy"]
    again = Average.load(folder)
    assert again.seed == 4 and again.method == "user" and dict(again.weights) == dict(both.weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ExtrapolationWarning)
        pd.testing.assert_frame_equal(again.forecast(AT), both.forecast(AT), check_exact=True)
        pd.testing.assert_frame_equal(
            again.compute_optimal([1e21, 1e22]),
            both.compute_optimal([1e21, 1e22]),
            check_exact=True,
        )
    # Never silently replaced; a fit swapped in is refused on load.
    before = (folder / "average.json").read_bytes()
    with pytest.raises(OutputExistsError, match="exist already"):
        both.save(folder)
    assert (folder / "average.json").read_bytes() == before
    healthy_fit.save(folder / "fits" / "half.nc", overwrite=True)
    with pytest.raises(BayescaleError, match="is not the fit this average saved as half"):
        Average.load(folder)
    with pytest.raises(BayescaleError, match="holds no saved average"):
        Average.load(tmp_path)


def test_an_averaged_forecast_refuses_points_it_would_misread(
    healthy_fit: bs.Fit, grouped_fit: bs.Fit
) -> None:
    plain = average({"a": healthy_fit, "b": healthy_fit}, {"a": 0.5, "b": 0.5})
    with pytest.raises(DataError, match=r"at names 'Dd', .*; did you mean 'D'\?"):
        plain.forecast({"N": [1e9], "Dd": [2e10]})
    with pytest.raises(DataError, match=r"'group', .*these fits have no groups"):
        plain.forecast({"N": [1e9], "D": [2e10], "group": ["x"]})
    with pytest.raises(DataError, match="at's lists have different lengths"):
        plain.forecast({"N": [1e9, 2e9], "D": [2e10]})
    grouped = average({"a": grouped_fit, "b": grouped_fit}, {"a": 1.0})
    for column in ("group", "family"):
        with pytest.raises(DataError, match=rf"not as a '{column}' key of at"):
            grouped.forecast({"N": [1e9], "D": [2e10], column: ["x"]})
        with pytest.raises(DataError, match=rf"not as a '{column}' column of at"):
            grouped.forecast(pd.DataFrame({"N": [1e9], "D": [2e10], column: ["x"]}))


def test_compare_pooling_names_held_out_groups_the_runs_lack(sim_runs: bs.Runs) -> None:
    from bayescale.comparison import compare_pooling

    frame = pd.DataFrame(
        {"N": sim_runs.x("N"), "D": sim_runs.x("D"), "loss": sim_runs.y, "family": "x"}
    )
    frame.loc[::2, "family"] = "y"
    test = frame.iloc[:4].assign(family=["x", "z", "x", "z"])
    with pytest.raises(DataError, match=r"hold group\(s\) z \(rows 2, 4\) that the runs do not"):
        compare_pooling(frame, test=test, group="family")


def test_compare_refuses_a_threshold_that_leaves_a_group_nothing_before_sampling(
    sim_runs: bs.Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    compute = 6 * sim_runs.x("N") * sim_runs.x("D")
    family = np.where(compute > np.quantile(compute, 0.5), "y", "x")  # y: the larger half
    runs = load_runs(
        pd.DataFrame(
            {"N": sim_runs.x("N"), "D": sim_runs.x("D"), "loss": sim_runs.y, "family": family}
        ),
        group="family",
    )

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled before the threshold was checked")

    monkeypatch.setattr("bayescale.comparison.fit", no_sampling)
    threshold = float(np.quantile(compute, 0.4))  # enough runs to fit, none of y's
    with pytest.raises(DataError, match=r"leaves no run to fit in group\(s\) y \("):
        compare(runs, laws=["chinchilla", "kaplan"], holdout_above={"C": threshold})


@pytest.mark.filterwarnings("ignore::bayescale.DataWarning")  # fits of different runs
def test_an_averaged_plan_keeps_each_laws_own_draws_and_names(
    healthy_fit: bs.Fit, half_fit: bs.Fit
) -> None:
    fits = {"healthy": healthy_fit, "half": half_fit}
    mixed = average(fits, {"healthy": 0.7, "half": 0.3})
    budgets = np.array([1e21, 1e22])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ExtrapolationWarning)
        plan = mixed.compute_optimal(budgets)
        own = {name: f.compute_optimal(budgets) for name, f in fits.items()}
    # Each law's own median, from all its draws (not from its share of the pool).
    assert plan.attrs["per_law_N_median"] == {n: list(t["N_median"]) for n, t in own.items()}
    # The pool is each law's plans, each draw with its own noise and discrepancy, in its share.
    pooled = np.concatenate(
        [f._plan_draws(budgets, {})["loss_pred"][pick] for _, f, _, pick in mixed._picks(fits)]
    )
    expected = np.quantile(pooled, [0.05, 0.5, 0.95], axis=0, method="inverted_cdf")
    got = plan[["loss_pred_lower_90", "loss_pred_median", "loss_pred_upper_90"]].to_numpy().T
    np.testing.assert_array_equal(got, expected)
    # A target out of reach in part of the pool names each law by its name in the average.
    floor = float(np.median(healthy_fit.draws("E")["E"]))
    with pytest.warns(UserWarning, match="out of reach") as said:
        mixed.budget_for(floor)
    text = " ".join(str(w.message) for w in said)
    assert "healthy: " in text and "half: " in text and "chinchilla: " not in text


def test_an_averages_verdict_leaves_out_laws_of_negligible_weight(
    healthy_fit: bs.Fit, starved_fit: bs.Fit
) -> None:
    from bayescale.cli.commands.plan import _source_facts

    fits = {"healthy": healthy_fit, "starved": starved_fit}
    slight = average(fits, {"healthy": 0.9995, "starved": 0.0005})
    heavy = average(fits, {"healthy": 0.7, "starved": 0.3})
    assert slight.failed_laws() == [] and heavy.failed_laws() == ["starved"]
    # The CLI's JSON says what the tables say.
    assert _source_facts(slight)["diagnostics_ok"] is True
    assert _source_facts(heavy)["diagnostics_ok"] is False
    assert _source_facts(heavy)["failed_laws"] == ["starved"]


def test_a_fit_without_a_discrepancy_says_once_that_far_intervals_lack_the_laws_error(
    half_fit: bs.Fit, tmp_path: Path
) -> None:
    fresh = bs.load_fit(half_fit.save(tmp_path / "half.nc"))  # its own once-per-fit flag
    near, far = {"N": [1e9], "D": [2e10]}, {"N": [1e9, 1e12], "D": [2e10, 2e13]}
    table, said = _said(lambda: fresh.forecast(near))
    assert not [m for m, kind in said if kind is bs.ExtrapolationWarning]
    assert "caveats" not in table.attrs
    table, said = _said(lambda: fresh.forecast(far))
    words = [m for m, kind in said if kind is bs.ExtrapolationWarning]
    assert len(words) == 1 and "from a fit without a discrepancy" in words[0]
    assert "fit with discrepancy='backtest'" in words[0]
    assert table.attrs["caveats"] == words
    # Once per fit; every result still carries the sentence.
    _, said = _said(lambda: fresh.compute_optimal([1e26]))
    assert not [m for m, kind in said if kind is bs.ExtrapolationWarning]
    table, said = _said(lambda: fresh.forecast(far))
    assert not said and "from a fit without a discrepancy" in table.attrs["caveats"][0]


# ------------------------------------------------- laws left out of the average (audit R3)


def _mostly_failed() -> Comparison:
    """Five laws on one threshold, as in the audit: shared_exp forecasts the held-out runs
    best (all the weight) but its refit failed; chinchilla, custom_2 and custom_1 failed
    their fits; kaplan, the worst forecaster, is the only law that passed."""
    names = ["shared_exp", "chinchilla", "custom_2", "kaplan", "custom_1"]
    levels = {"shared_exp": 0.0, "chinchilla": -0.5, "custom_2": -1.0, "kaplan": -3.0}
    levels["custom_1"] = -1.5
    extrapolation = _scores(
        *[(n, "C > 1e+20", 1e20, 6, levels[n], n != "shared_exp") for n in names]
    )
    result = _stub_comparison(extrapolation, names)
    for name in ("chinchilla", "custom_2", "custom_1"):
        result.fits[name] = SimpleNamespace(  # type: ignore[index]
            ok=False, diagnostics=SimpleNamespace(verdict=lambda: "DIAGNOSTICS FAIL: R-hat")
        )
    return result


def test_every_law_left_out_of_the_average_is_named_with_its_weight() -> None:
    # Regression: only the heavy law left out was named; the three others that failed (weight
    # 0.00) were not, and nothing said that kaplan carried the average only because every
    # better law failed.
    result = _mostly_failed()
    assert result.extrapolation_weights["shared_exp"] > 0.99
    verdict = result.verdict()
    line = next(x for x in verdict.splitlines() if x.startswith("Averaged forecasts use"))
    assert line.startswith(
        "Averaged forecasts use the held-out weights without shared_exp (its refit for the "
        "held-out runs at C > 1e+20 failed its diagnostics; weight 1.00), chinchilla (its fit "
        "failed its diagnostics; weight 0.00), "
    )
    for name in ("custom_2", "custom_1"):
        assert f"{name} (its fit failed its diagnostics; weight 0.00)" in line
    assert "stacked again without them: " in line and "kaplan 1.00" in line
    fallback = (
        "The average falls back on kaplan only because the laws left out, which would have "
        "carried 1.00 of the weight, failed their diagnostics, not because kaplan forecasts "
        "better. Compare again with more draws (--draws"
    )
    assert fallback in verdict
    # Nor does the verdict call the average shared_exp's forecast alone: it was left out.
    assert "so the average is its forecast alone" not in verdict
    with pytest.warns(DataWarning) as caught:
        auto = average(result)
    said = [str(w.message) for w in caught if "left out of the averaged" in str(w.message)]
    assert len(said) == 1  # one warning naming them all
    assert said[0].startswith(
        "shared_exp, chinchilla, custom_2 and custom_1 are left out of the averaged forecast "
        "for failed diagnostics, with the weights they would have had (extrapolation weights)"
    )
    assert "custom_1 (its fit failed its diagnostics; weight 0.00)" in said[0]
    assert "re-weighted without them (kaplan 1.00)" in said[0] and fallback in said[0]
    assert auto.weights.to_dict() == pytest.approx(
        {"shared_exp": 0, "chinchilla": 0, "custom_2": 0, "kaplan": 1, "custom_1": 0}
    )
    assert "; the average falls back on kaplan only because they failed (compare again" in (
        auto.reason
    )


def test_a_law_left_out_with_little_weight_brings_no_fallback_remark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # PSIS-LOO weights: "failed" carries 0.3 and is left out, "idle" (also failed) none;
    # most of the weight stays, so the average does not merely fall back on the others.
    from bayescale import comparison as module

    bad = SimpleNamespace(ok=False, diagnostics=SimpleNamespace(verdict=lambda: "bad"))
    fits = {
        "good": SimpleNamespace(ok=True),
        "failed": bad,
        "idle": bad,
        "poor": SimpleNamespace(ok=True),
    }
    loo = _stub_comparison(_scores(("good", "C > 1e+20", 1e20, 1, 0.0, True)), list(fits)).loo
    loo["weight"] = [0.6, 0.3, 0.0, 0.1]
    restacked = loo.loc[["good", "poor"]].assign(weight=[0.8, 0.2])
    monkeypatch.setattr(module, "_loo_table", lambda kept: restacked)
    result = Comparison(fits, loo)  # type: ignore[arg-type]
    verdict = result.verdict()
    assert (
        "Averaged forecasts use the PSIS-LOO weights without failed (its fit failed its "
        "diagnostics; weight 0.30), idle (its fit failed its diagnostics; weight 0.00), "
        "stacked again without them: good 0.80, failed 0.00, idle 0.00, poor 0.20;"
    ) in verdict
    assert "falls back" not in verdict
    with pytest.warns(DataWarning) as caught:
        average(result)
    [message] = [str(w.message) for w in caught if "left out of" in str(w.message)]
    assert message.startswith("failed and idle are left out of the averaged forecast")
    assert "falls back" not in message
    # Most of the weight on laws that failed: the fallback is said.
    loo["weight"] = [0.3, 0.7, 0.0, 0.0]
    verdict = Comparison(fits, loo).verdict()  # type: ignore[arg-type]
    assert (
        "The average falls back on good and poor only because the laws left out, which would "
        "have carried 0.70 of the weight, failed their diagnostics, not because good and poor "
        "forecast better."
    ) in verdict


def test_an_interrupted_overwrite_leaves_the_earlier_comparison_whole(
    comparison: Comparison, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: Ctrl-C during `compare --force` left the folder half new, half old (each
    # file was written in turn over a second or more), which load then refused.
    from bayescale import _files

    folder = tmp_path / "cmp"
    comparison.save(folder)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    real = _files._write_all
    calls = []

    def interrupted(data: bytes):
        calls.append(data)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(data)

    monkeypatch.setattr(_files, "_write_all", interrupted)
    loo_only = compare(dict(comparison.fits))
    with pytest.raises(KeyboardInterrupt):
        loo_only.save(folder, overwrite=True)
    after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before
    assert Comparison.load(folder).extrapolation is not None
