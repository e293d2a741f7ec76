"""Model comparison and averaging on runs simulated from a known law."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.comparison import Comparison, average, compare, score, stacking_weights
from bayescale.data import load_runs
from bayescale.demo import TRUE_PARAMETERS, demo_runs
from bayescale.errors import DataError, OutputExistsError

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
    # Stacking maximises the held-out score over the simplex: it beats every single law and
    # the LOO weights on the very runs it was fitted to.
    lpd = held.pivot(index="run", columns="law", values="log_density")[list(extra.index)]
    lpd = lpd.to_numpy()
    best = _held_out_score(lpd, extra.to_numpy())
    assert best >= _held_out_score(lpd, loo.to_numpy()) - 1e-6
    for k in range(lpd.shape[1]):
        assert best >= lpd[:, k].sum() - 1e-6
    np.testing.assert_allclose(extra.to_numpy(), stacking_weights(lpd), atol=1e-6)
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
