"""Stacking weights (Yao et al. 2018) and leave-future-out weights of a comparison.

The math is checked on synthetic log densities, where the optimum is known in closed form;
the comparison-level tests build a Comparison from hand-made tables, so nothing samples
except the save/load round trip, which reuses the session's shared fits.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayescale
from bayescale.comparison import (
    BOOTSTRAP_REPLICATES,
    BOOTSTRAP_SEED,
    Average,
    Comparison,
    average,
    bagged_stacking_weights,
    stacking_weights,
)
from bayescale.errors import DataError, DataWarning, ExtrapolationWarning
from bayescale.report.context import _averaged_forecast
from bayescale.report.sections import comparison_section


def _mixture_score(lpd: np.ndarray, w: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        return float(np.log(np.exp(lpd) @ w).sum())


# --------------------------------------------------------------------------- the math


def test_a_law_that_predicts_every_point_best_gets_all_the_weight() -> None:
    rng = np.random.default_rng(0)
    good = rng.normal(0.0, 0.3, 40)
    lpd = np.column_stack([good, good - 3.0 - rng.uniform(0, 1, 40)])
    w = stacking_weights(lpd)
    assert w[0] > 0.999
    assert w.sum() == pytest.approx(1.0)
    assert (w >= 0).all()


def test_complementary_laws_share_the_weight_by_the_points_they_predict() -> None:
    # Law a predicts the first k points (density 1 vs e^-20), law b the rest: the mixture
    # likelihood is (w)^k (1 - w)^(n - k) up to e^-20 terms, maximal at w = k / n.
    n, k = 40, 10
    lpd = np.full((n, 2), -20.0)
    lpd[:k, 0] = 0.0
    lpd[k:, 1] = 0.0
    w = stacking_weights(lpd)
    assert w[0] == pytest.approx(k / n, abs=1e-4)
    assert w[1] == pytest.approx(1 - k / n, abs=1e-4)


def test_the_weights_maximise_the_mixture_score() -> None:
    # Three overlapping laws with no closed form: no other point of the simplex does better.
    rng = np.random.default_rng(3)
    y = rng.normal(0.0, 1.0, 60)
    lpd = np.column_stack(
        [
            stats.norm.logpdf(y, -0.5, 0.8),
            stats.norm.logpdf(y, 0.6, 0.7),
            stats.norm.logpdf(y, 0.0, 3.0),
        ]
    )
    w = stacking_weights(lpd)
    best = _mixture_score(lpd, w)
    for trial in rng.dirichlet(np.ones(3), 2000):
        assert _mixture_score(lpd, trial) <= best + 1e-7


def test_identical_laws_get_equal_weights() -> None:
    rng = np.random.default_rng(1)
    column = rng.normal(-1.0, 0.5, 25)
    w = stacking_weights(np.column_stack([column, column, column]))
    np.testing.assert_allclose(w, [1 / 3, 1 / 3, 1 / 3], atol=1e-9)


def test_a_law_with_an_undefined_density_is_excluded() -> None:
    lpd = np.array([[0.0, -1.0, 0.5], [0.0, -1.0, np.nan], [-2.0, 0.0, 0.5]])
    w = stacking_weights(lpd)
    assert w[2] == 0.0
    # The rest are the weights of the two usable laws alone.
    np.testing.assert_allclose(w[:2], stacking_weights(lpd[:, :2]), atol=1e-9)


def test_zero_densities_are_kept_and_hopeless_points_dropped() -> None:
    # Law a gives point 2 zero density; law b explains it, so b must keep some weight.
    lpd = np.array([[0.0, -1.0], [0.0, -1.0], [-np.inf, -1.0]])
    w = stacking_weights(lpd)
    assert 0 < w[1] < 1
    # A point no law can explain does not change the weights.
    with_hopeless = np.vstack([lpd, [-np.inf, -np.inf]])
    np.testing.assert_allclose(stacking_weights(with_hopeless), w, atol=1e-9)


def _near_tie() -> np.ndarray:
    """Law a forecasts five points twice as well as b, b one point three times as well as a.

    The mixture score's slope at w_a = 1 is sum(1 - p_b / p_a) = 5 * 0.5 + (1 - 3) = 0.5 > 0,
    so plain stacking puts all the weight on a, although b wins a point by more than a wins
    any: a reweighting of the six points that counts that one a little more prefers a mix.
    """
    return np.log(np.array([[1.0, 0.5]] * 5 + [[1.0, 3.0]]))


def test_plain_stacking_gives_a_near_tie_to_one_law_and_bagging_hedges_it() -> None:
    lpd = _near_tie()
    plain = stacking_weights(lpd)
    assert plain[1] < 1e-6  # the knife-edge: all to a
    bagged = bagged_stacking_weights(lpd, replicates=200, seed=0)
    assert bagged.sum() == pytest.approx(1.0) and (bagged >= 0).all()
    assert 0.05 < bagged[1] < 0.5, bagged  # b keeps a share; a still leads
    # A law that wins every point clearly keeps all the weight over every reweighting.
    decisive = np.log(np.array([[1.0, 0.01]] * 6))
    assert bagged_stacking_weights(decisive)[0] > 0.999


def test_point_weights_are_the_weights_of_the_mixture_score() -> None:
    lpd = _near_tie()
    # Counting the last point four times is the same as repeating it four times.
    weighted = stacking_weights(lpd, point_weights=np.array([1, 1, 1, 1, 1, 4.0]))
    repeated = stacking_weights(np.vstack([lpd] + [lpd[-1:]] * 3))
    np.testing.assert_allclose(weighted, repeated, atol=1e-7)
    assert weighted[1] > 0.1
    with pytest.raises(DataError, match="one per point"):
        stacking_weights(lpd, point_weights=np.ones(3))
    with pytest.raises(DataError, match="non-negative"):
        stacking_weights(lpd, point_weights=-np.ones(6))


def test_a_run_held_out_at_two_thresholds_counts_once_in_the_bootstrap() -> None:
    lpd = _near_tie()
    runs = np.arange(6)
    once = bagged_stacking_weights(lpd, runs, replicates=50, seed=3)
    # Every run forecast again from a second threshold, with the same densities: grouped by
    # run, each replicate's score is doubled, so the weights are the same.
    twice = bagged_stacking_weights(np.vstack([lpd, lpd]), np.r_[runs, runs], 50, 3)
    np.testing.assert_allclose(twice, once, atol=1e-7)
    # Counted as twelve separate points, the resampling is another (tighter) one.
    apart = bagged_stacking_weights(np.vstack([lpd, lpd]), None, 50, 3)
    assert abs(apart[1] - once[1]) > 1e-3
    with pytest.raises(DataError, match="one label per point"):
        bagged_stacking_weights(lpd, groups=np.arange(5))
    with pytest.raises(DataError, match="replicates must be a positive integer"):
        bagged_stacking_weights(lpd, replicates=0)


def test_bagged_weights_are_reproducible_from_their_seed() -> None:
    lpd = _near_tie()
    first = bagged_stacking_weights(lpd, replicates=40, seed=7)
    from bayescale import comparison as module

    module._BAGGED.clear()  # computed afresh, not read from the cache
    np.testing.assert_array_equal(bagged_stacking_weights(lpd, replicates=40, seed=7), first)
    assert not np.array_equal(bagged_stacking_weights(lpd, replicates=40, seed=8), first)


def test_stacking_refuses_unusable_input() -> None:
    with pytest.raises(DataError, match="points, laws"):
        stacking_weights(np.zeros(3))
    with pytest.raises(DataError, match="no law"):
        stacking_weights(np.array([[np.nan, np.nan]]))
    with pytest.raises(DataError, match="no point"):
        stacking_weights(np.array([[-np.inf, -np.inf]]))


# --------------------------------------------------------------------------- comparisons


def _loo(names: list[str], weights: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "elpd_loo": [10.0 - i for i in range(len(names))],
            "se": 1.0,
            "elpd_diff": [float(i) for i in range(len(names))],
            "dse": 1.0,
            "weight": weights,
            "pareto_k_bad": 0,
            "diagnostics_ok": True,
        },
        index=pd.Index(names, name="law"),
    )
    return frame


def _heldout(densities: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (law, split), values in densities.items():
        threshold = float(split.split("> ")[1])
        for run, value in enumerate(values):
            rows.append(
                {
                    "law": law,
                    "holdout": split,
                    "threshold": threshold,
                    "run": 100 + run,
                    "log_density": value,
                }
            )
    return pd.DataFrame(rows)


def test_extrapolation_weights_pool_the_splits_every_law_was_scored_at() -> None:
    held = _heldout(
        {
            ("a", "C > 1e+20"): [0.0, 0.0, 0.0],
            ("b", "C > 1e+20"): [-5.0, -5.0, -5.0],
            ("a", "C > 1e+21"): [0.0, -5.0],
            ("b", "C > 1e+21"): [-5.0, 0.0],
            # Only law a was scored at the smallest threshold: that split is left out.
            ("a", "C > 1e+19"): [-9.0] * 6,
        }
    )
    result = Comparison({}, _loo(["b", "a"], [0.9, 0.1]), None, [], held)
    w = result.extrapolation_weights
    assert list(w.index) == ["b", "a"]
    assert w.sum() == pytest.approx(1.0)
    # Rows by threshold, then run: runs 100 and 101 were held out at both thresholds, and
    # count once each in the Bayesian bootstrap.
    pooled = np.array([[-5, 0], [-5, 0], [-5, 0], [-5, 0], [0, -5]], dtype=float)
    runs = np.array([100, 101, 102, 100, 101])
    bagged = bagged_stacking_weights(pooled, runs, BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED)
    np.testing.assert_allclose(w.to_numpy(), bagged, atol=1e-9)
    assert w["a"] > 0.7
    _, notes, basis = result._leave_future_out()
    assert any("C > 1e+19" in n and "b was not scored" in n for n in notes)
    assert "5 held-out forecast(s)" in basis and "2 threshold(s)" in basis
    assert "Bayesian-bootstrap" in basis
    table = result.weights_table()
    assert list(table.columns) == [
        "loo_weight",
        "extrapolation_weight",
        "extrapolation_stacking_weight",
    ]
    assert table.loc["b", "loo_weight"] == 0.9
    assert table.loc["a", "extrapolation_weight"] == pytest.approx(w["a"])
    # Plain stacking stays available, in the table and by name.
    plain = stacking_weights(pooled)
    np.testing.assert_allclose(table["extrapolation_stacking_weight"].to_numpy(), plain, atol=1e-9)
    assert not np.allclose(plain, bagged, atol=1e-3)


def test_a_law_with_a_failed_forecast_gets_no_extrapolation_weight() -> None:
    held = _heldout(
        {
            ("a", "C > 1e+20"): [0.0, np.nan],
            ("b", "C > 1e+20"): [-1.0, -1.0],
            ("c", "C > 1e+20"): [-2.0, 0.0],
        }
    )
    result = Comparison({}, _loo(["a", "b", "c"], [0.5, 0.3, 0.2]), None, [], held)
    w = result.extrapolation_weights
    assert w["a"] == 0.0
    assert w.sum() == pytest.approx(1.0)
    assert any(n.startswith("a gets extrapolation weight 0") for n in result._leave_future_out()[1])


def test_without_held_out_densities_there_are_no_extrapolation_weights() -> None:
    result = Comparison({}, _loo(["a", "b"], [0.6, 0.4]))
    assert result.extrapolation_weights is None
    assert result.weights_table()["extrapolation_weight"].isna().all()
    # No threshold has both laws: no weights either.
    held = _heldout({("a", "C > 1e+20"): [0.0]})
    assert (
        Comparison({}, _loo(["a", "b"], [0.6, 0.4]), None, [], held).extrapolation_weights is None
    )


def test_average_names_its_weights_and_refuses_unknown_ones() -> None:
    fits = {"a": object(), "b": object()}  # only names are needed to choose weights
    held = _heldout({("a", "C > 1e+20"): [0.0, 0.0], ("b", "C > 1e+20"): [-4.0, -4.0]})
    result = Comparison(fits, _loo(["b", "a"], [0.8, 0.2]), None, [], held)  # type: ignore[arg-type]
    auto = average(result)
    assert auto.method == "extrapolation"
    assert "leave-future-out" in auto.reason
    assert auto.weights["a"] > 0.99
    assert list(auto.weights.index) == ["a", "b"]
    loo = average(result, weights="stacking")
    assert loo.method == "stacking"
    assert loo.weights.to_dict() == pytest.approx({"a": 0.2, "b": 0.8})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # relative weights naming every law: rescaled silently
        user = average(result, weights={"a": 1.0, "b": 3.0})
    assert (user.method, user.weights["b"]) == ("user", 0.75)
    by_name = average(result, weights="extrapolation_stacking")
    assert by_name.method == "extrapolation_stacking" and by_name.weights["a"] > 0.99
    assert "Bayesian-bootstrap" not in by_name.reason
    plain = Comparison(fits, _loo(["b", "a"], [0.8, 0.2]))  # type: ignore[arg-type]
    fallback = average(plain)
    assert fallback.method == "stacking" and "no held-out" in fallback.reason
    with pytest.raises(DataError, match="held-out larger runs"):
        average(plain, weights="extrapolation")
    with pytest.raises(DataError, match="weights must be one of"):
        average(plain, weights="pseudo-bma")


def test_user_weights_that_leave_a_law_out_warn_and_say_what_they_became() -> None:
    import warnings

    fits = {"mylaw": object(), "fake": object(), "kaplan": object()}
    result = Comparison(fits, _loo(["mylaw", "fake", "kaplan"], [0.5, 0.3, 0.2]))  # type: ignore[arg-type]
    with pytest.warns(DataWarning) as caught:
        partial = average(result, weights={"mylaw": 0.7, "fake": 0.2})
    message = str(caught[0].message)
    assert "sum to 0.9, not 1" in message
    assert "mylaw 0.78, fake 0.22, kaplan 0.00" in message
    assert "kaplan given no weight" in message
    assert partial.weights.to_dict() == pytest.approx({"mylaw": 7 / 9, "fake": 2 / 9, "kaplan": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # weights that sum to 1 are used as they are, silently
        whole = average(result, weights={"mylaw": 0.7, "fake": 0.2, "kaplan": 0.1})
    assert whole.weights["kaplan"] == pytest.approx(0.1)


def test_laws_that_forecast_the_held_out_runs_alike_are_named_and_their_split_arbitrary() -> None:
    held = _heldout(
        {
            # a and b are one model: their densities differ by hundredths of a nat.
            ("a", "C > 1e+20"): [0.0, -1.0, -2.0, 0.5],
            ("b", "C > 1e+20"): [0.02, -1.03, -2.01, 0.49],
            ("c", "C > 1e+20"): [-3.0, 0.0, -4.0, -1.0],
        }
    )
    result = Comparison({}, _loo(["a", "b", "c"], [0.5, 0.3, 0.2]), None, [], held)
    notes = result._leave_future_out()[1]
    alike = [n for n in notes if "almost identically" in n]
    assert len(alike) == 1
    assert alike[0].startswith("a and b predict the held-out runs almost identically")
    assert "arbitrarily" in alike[0] and "keep one of them" in alike[0]
    # Distinct laws are not called alike, even when one dominates.
    apart = _heldout({("a", "C > 1e+20"): [0.0, -1.0], ("c", "C > 1e+20"): [-0.5, -0.7]})
    other = Comparison({}, _loo(["a", "c"], [0.5, 0.5]), None, [], apart)
    assert not any("almost identically" in n for n in other._leave_future_out()[1])


def test_the_verdict_names_laws_alike_on_loo_and_explains_weights_against_the_ranking() -> None:
    loo = _loo(["a", "b", "c"], [0.96, 0.0, 0.04])
    loo["alike"] = ["b", "a", np.nan]  # as read back from loo.csv: an empty cell is NaN
    extrapolation = pd.DataFrame(
        {
            "law": ["a", "b", "c"],
            "holdout": "C > 1e+20",
            "elpd_per_run": [0.0, -9.0, -4.25],  # the means of the densities below
            "coverage_90": [0.9, 0.1, 0.7],
        }
    )
    # c forecasts worse alone (one run it misses badly) but better than a at the others,
    # and the mixture needs only a little of a for that run: stacking leans on c.
    held = _heldout(
        {
            ("a", "C > 1e+20"): [0.0, 0.0, 0.0, 0.0],
            ("b", "C > 1e+20"): [-9.0, -9.0, -9.0, -9.0],
            ("c", "C > 1e+20"): [1.0, 1.0, 1.0, -20.0],
        }
    )
    fits = {name: SimpleNamespace(ok=True) for name in "abc"}  # the verdict reads fit.ok
    result = Comparison(fits, loo, extrapolation, [], held)  # type: ignore[arg-type]
    verdict = result.verdict()
    assert (
        "a and b predict the runs (PSIS-LOO) almost identically" in verdict
        and "stacking splits their weight (0.96, 0.00) arbitrarily" in verdict
    )
    assert "extrapolation) a predicts best" in verdict
    weights = result.extrapolation_weights
    assert weights.idxmax() == "c"
    assert f"give most to c ({weights['c']:.2f}), not to a" in verdict
    assert "complements the others" in verdict
    # When the best law also carries most weight, there is nothing to explain.
    held_best = _heldout(
        {
            ("a", "C > 1e+20"): [2.0, 2.0, 2.0, 2.0],
            ("b", "C > 1e+20"): [-1.0, -1.0, -1.0, -1.0],
            ("c", "C > 1e+20"): [-3.0, -3.0, -3.0, -3.0],
        }
    )
    best = Comparison(fits, loo, extrapolation, [], held_best)  # type: ignore[arg-type]
    assert "give most to" not in best.verdict()


def _with_failed_law(refit_failed: bool) -> Comparison:
    """Laws a, b, c on one threshold: b forecasts two runs a and c miss, so it carries weight;
    b's fit (or its refit for the threshold) failed its diagnostics."""
    held = _heldout(
        {
            ("a", "C > 1e+20"): [0.0, 0.0, 0.0, -6.0, -6.0, 0.0],
            ("b", "C > 1e+20"): [-2.0, -2.0, -2.0, 0.0, 0.0, -2.0],
            ("c", "C > 1e+20"): [-0.5, -0.5, -0.5, -3.0, -3.0, -0.5],
        }
    )
    extrapolation = pd.DataFrame(
        {
            "law": ["a", "b", "c"],
            "holdout": "C > 1e+20",
            "n_test": 6,
            "elpd_per_run": [-2.0, -1.33, -1.33],
            "coverage_90": [0.9, 0.9, 0.9],
            "diagnostics_ok": [True, not refit_failed, True],
        }
    )
    fits = {
        "a": SimpleNamespace(ok=True),
        "b": SimpleNamespace(ok=refit_failed, diagnostics=SimpleNamespace(verdict=lambda: "bad")),
        "c": SimpleNamespace(ok=True),
    }
    return Comparison(fits, _loo(["a", "b", "c"], [0.5, 0.3, 0.2]), extrapolation, [], held)  # type: ignore[arg-type]


@pytest.mark.parametrize("refit_failed", [False, True], ids=["fit-failed", "refit-failed"])
def test_the_default_average_leaves_out_a_law_whose_fit_failed(refit_failed: bool) -> None:
    result = _with_failed_law(refit_failed)
    full = result.extrapolation_weights
    assert full["b"] > 0.1  # it would carry weight
    with pytest.warns(DataWarning) as caught:
        auto = average(result)
    message = str(caught[0].message)
    assert message.startswith("b is left out of the averaged forecast: its ")
    assert "refit for the held-out runs at C > 1e+20 failed" in message or not refit_failed
    assert f"it would have had weight {full['b']:.2f} (extrapolation weights)" in message
    assert "average(weights='extrapolation') or weights={...}" in message
    assert auto.weights["b"] == 0.0 and auto.weights.sum() == pytest.approx(1.0)
    # Stacked again without b: the weights a and c get from their own densities.
    again = result._leave_future_out(leave_out=["b"])[0]
    assert auto.weights.to_dict() == pytest.approx(again.reindex(auto.weights.index).to_dict())
    assert "left out for failed diagnostics: b (would have had" in auto.reason
    verdict = result.verdict()
    assert "Averaged forecasts use the held-out weights without b (its " in verdict
    # Asked for by name, or given, the weights keep it.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        named = average(result, weights="extrapolation")
    assert named.weights["b"] == pytest.approx(full["b"])


def test_the_default_average_keeps_every_law_when_all_failed() -> None:
    result = _with_failed_law(refit_failed=False)
    for f in result.fits.values():
        f.ok = False  # type: ignore[attr-defined]
        f.diagnostics = SimpleNamespace(verdict=lambda: "bad")  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left out, nothing to warn about here
        auto = average(result)
    assert auto.weights.to_dict() == pytest.approx(result.extrapolation_weights.to_dict())


def test_the_verdict_names_every_law_whose_held_out_intervals_are_too_narrow() -> None:
    n = 52  # two binomial standard errors below 90%: 90% - 8.3% = 81.7%
    extrapolation = pd.DataFrame(
        {
            "law": ["farseer", "chinchilla", "kaplan", "close"],
            "holdout": "C > 1e+21",
            "n_test": n,
            "elpd_per_run": [4.5, 1.7, 1.0, 0.5],
            "coverage_90": [50 / n, 17 / n, 40 / n, 43 / n],
        }
    )
    means = dict(zip(extrapolation["law"], extrapolation["elpd_per_run"], strict=True))
    held = _heldout({(law, "C > 1e+21"): [v] * n for law, v in means.items()})
    fits = {name: SimpleNamespace(ok=True) for name in extrapolation["law"]}
    loo = _loo(list(extrapolation["law"]), [0.7, 0.1, 0.1, 0.1])
    verdict = Comparison(fits, loo, extrapolation, [], held).verdict()  # type: ignore[arg-type]
    assert (
        "Held-out 90% intervals too narrow: chinchilla 33% (17 of 52) and kaplan 77% (40 of 52) "
        "of the held-out forecasts fell inside" in verdict
    )
    assert "close 83%" not in verdict and "farseer 96%" not in verdict
    # The average carries them: its results say so (see the next test).
    narrow = {"chinchilla": "33% (17 of 52)", "kaplan": "77% (40 of 52)"}
    comparison = Comparison(fits, loo, extrapolation, [], held)  # type: ignore[arg-type]
    assert comparison.narrow_laws() == narrow
    assert average(comparison, weights="stacking").narrow == narrow


def test_an_average_of_laws_whose_held_out_intervals_were_too_narrow_says_so(
    healthy_fit, tmp_path: Path
) -> None:
    fits = {"a": healthy_fit, "b": healthy_fit}
    narrow = {"a": "33% (17 of 52)"}
    at = {"N": [1e9], "D": [2e10]}
    both = Average(fits, pd.Series({"a": 0.7, "b": 0.3}), narrow=narrow)
    with pytest.warns(ExtrapolationWarning, match=r"draws on a \(weight 0\.70: 33% \(17 of 52\)"):
        table = both.forecast(at)
    assert "lower bound on the uncertainty" in table.attrs["narrow"]
    with pytest.warns(ExtrapolationWarning, match="intervals beyond the runs were too narrow"):
        both.compute_optimal(1e21)
    # Saved and reloaded, it still says so; without weight on that law it does not.
    back = Average.load(both.save(tmp_path / "avg")["average"].parent)
    assert back.narrow == narrow
    other = Average(fits, pd.Series({"a": 0.0, "b": 1.0}), narrow=narrow)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        table = other.forecast(at)
    assert "narrow" not in table.attrs
    assert not [w for w in seen if "too narrow" in str(w.message)]


def test_the_verdict_gives_the_held_out_lead_with_its_standard_error_by_run() -> None:
    # a wins three held-out runs by 1 nat each and loses the fourth by 1.
    held = _heldout(
        {
            ("a", "C > 1e+20"): [1.0, 1.0, 1.0, -1.0],
            ("b", "C > 1e+20"): [0.0, 0.0, 0.0, 0.0],
        }
    )
    extrapolation = pd.DataFrame(
        {
            "law": ["a", "b"],
            "holdout": "C > 1e+20",
            "n_test": 4,
            "elpd_per_run": [0.5, 0.0],
            "coverage_90": [1.0, 1.0],
        }
    )
    fits = {name: SimpleNamespace(ok=True) for name in "ab"}
    result = Comparison(fits, _loo(["a", "b"], [0.5, 0.5]), extrapolation, [], held)  # type: ignore[arg-type]
    per_run = np.array([1.0, 1.0, 1.0, -1.0])
    se = per_run.std(ddof=1) * 2
    assert (
        f"Its held-out lead over b: 2.0 +/- {se:.1f} (summed log density; standard error over "
        f"the 4 held-out runs), within two standard errors: not decisive." in result.verdict()
    )


# --------------------------------------------------------------------------- save and load


def test_held_out_densities_survive_save_and_load(healthy_fit, starved_fit, tmp_path: Path) -> None:
    result = bayescale.compare({"chinchilla": healthy_fit, "starved": starved_fit})
    held = _heldout(
        {
            ("chinchilla", "C > 1e+18"): [0.5, -0.25, -np.inf],
            ("starved", "C > 1e+18"): [-1.0, np.nan, 0.0],
        }
    )
    result.extrapolation = pd.DataFrame(
        {
            "law": ["chinchilla", "starved"],
            "holdout": "C > 1e+18",
            "elpd_per_run": [-1.0, np.nan],
            "coverage_90": [0.9, np.nan],
        }
    )
    result.heldout = held
    files = result.save(tmp_path / "cmp")
    assert files["heldout"].name == "heldout.csv"
    back = Comparison.load(tmp_path / "cmp")
    pd.testing.assert_frame_equal(back.heldout, held, check_dtype=False)
    assert back.extrapolation_weights.to_dict() == pytest.approx(
        result.extrapolation_weights.to_dict()
    )
    assert back.verdict() == result.verdict()
    assert "Stacking weights on the held-out larger runs" in back.verdict()
    # A folder saved before the densities were kept still loads, without those weights.
    files["heldout"].unlink()
    old = Comparison.load(tmp_path / "cmp")
    assert old.heldout is None and old.extrapolation_weights is None
    assert average(old).method == "stacking"


# --------------------------------------------------------------------------- the report


def _stub_fit(name: str) -> SimpleNamespace:
    """What the report's comparison section reads of a fit: its law's name and data."""
    runs = SimpleNamespace(fingerprint=lambda: "abc")
    return SimpleNamespace(law=SimpleNamespace(name=name), info={}, runs=runs)


def test_the_report_shows_both_weightings_and_the_averaged_forecast() -> None:
    held = _heldout({("a", "C > 1e+20"): [0.0, 0.0], ("b", "C > 1e+20"): [-4.0, -4.0]})
    result = Comparison({}, _loo(["b", "a"], [0.8, 0.2]), None, [], held)
    tables = {
        "loo": result.loo,
        "extrapolation": None,
        "verdict": "line one\nline two",
        "folder": None,
        "fingerprints": {"a": "abc", "b": "abc"},
        "weights": result.weights_table(),
    }
    forecast = pd.DataFrame(
        {
            "N": [1e10],
            "D": [2e11],
            "law_median": [2.0],
            "law_lower_90": [1.9],
            "law_upper_90": [2.1],
            "pred_median": [2.0],
            "pred_lower_90": [1.8],
            "pred_upper_90": [2.2],
            "extrapolation": [10.0],
        }
    )
    weights = result.extrapolation_weights.reindex(["a", "b"])
    averaged = {
        "table": forecast,
        "method": "extrapolation",
        "reason": "stacking on held-out runs",
        "weights": weights,
        "warning": None,
    }
    section = comparison_section(_stub_fit("a"), tables, averaged, 0.9)
    assert section["has_extrapolation_weights"]
    rows = {row["law"]: row for row in section["weights"]}
    assert rows["b"]["loo_weight"].value == 0.8
    assert rows["a"]["extrapolation_weight"].value == pytest.approx(weights["a"])
    assert rows["a"]["this"] and not rows["b"]["this"]
    av = section["averaged"]
    assert (av["method"], av["inputs"], av["level"]) == ("extrapolation", ["N", "D"], "90")
    assert av["rows"][0]["law_upper_90"].value == 2.1
    assert [w["law"] for w in av["weights"]] == ["a", "b"]
    # The average's own reach, from its own table (not the report's fit's).
    assert av["max_extrapolation"].value == 10.0 and av["beyond"] and not av["far"]
    # Tables read without the comparison object: no weights, no averaged forecast.
    bare = {k: v for k, v in tables.items() if k != "weights"}
    plain = comparison_section(_stub_fit("a"), bare, None, 0.9)
    assert plain["weights"] == [] and plain["averaged"] is None
    missing = comparison_section(_stub_fit("a"), bare, {"table": None, "why_not": "x"}, 0.9)
    assert missing["averaged"] == {"rows": [], "why_not": "x"}


def test_no_averaged_forecast_for_a_law_outside_the_comparison() -> None:
    result = Comparison({"b": _stub_fit("b")}, _loo(["b"], [1.0]))  # type: ignore[dict-item]
    out = _averaged_forecast(_stub_fit("a"), result, [{"N": 1e10, "D": 1e11}], [0.9])  # type: ignore[arg-type]
    assert out["table"] is None and "not among the compared laws" in out["why_not"]
    assert _averaged_forecast(_stub_fit("a"), None, [], [0.9]) is None  # type: ignore[arg-type]


def test_laws_alike_with_no_weight_between_them_are_not_remarked_on() -> None:
    from bayescale.comparison import _alike_lines

    groups = {"p": ["p", "q"], "q": ["p", "q"]}
    weights = pd.Series({"a": 1.0, "p": 1e-10, "q": 2e-10})
    assert _alike_lines(groups, weights, "the runs") == []  # nothing split, nothing to say
    said = _alike_lines(groups, pd.Series({"a": 0.5, "p": 0.3, "q": 0.2}), "the runs")
    assert len(said) == 1 and "splits their weight (0.30, 0.20) arbitrarily" in said[0]


def test_the_default_average_restacks_the_loo_weights_without_a_failed_law(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A failed law took all the PSIS-LOO weight; its twin got none beside it. Rescaling would
    # keep the twin at 0 (and give equal weights); stacking again without it does not.
    from bayescale import comparison as module

    fits = {
        "A": SimpleNamespace(ok=False, diagnostics=SimpleNamespace(verdict=lambda: "bad")),
        "twin": SimpleNamespace(ok=True),
        "poor": SimpleNamespace(ok=True),
    }
    asked = []

    def restacked(kept):
        asked.append(sorted(kept))
        return _loo(["twin", "poor"], [0.9, 0.1])

    monkeypatch.setattr(module, "_loo_table", restacked)
    result = Comparison(fits, _loo(["A", "twin", "poor"], [1.0, 0.0, 0.0]))  # type: ignore[arg-type]
    with pytest.warns(DataWarning, match="A is left out of the averaged forecast"):
        auto = average(result)
    assert asked == [["poor", "twin"]]
    assert auto.weights.to_dict() == pytest.approx({"A": 0.0, "twin": 0.9, "poor": 0.1})


def test_a_held_out_lead_that_the_pooled_runs_reverse_is_not_called_decisive() -> None:
    # a wins the small threshold clearly and loses 99 of the big one's 100 runs by 1 nat: it
    # ranks first on the mean per threshold, yet the pooled forecasts favour b.
    big = np.where(np.arange(100) < 1, 0.0, -1.0)
    held = _heldout(
        {
            ("a", "C > 1e+20"): list(big),
            ("b", "C > 1e+20"): list(np.where(np.arange(100) < 1, -3.0, 0.0)),
            ("a", "C > 1e+21"): [0.0],
            ("b", "C > 1e+21"): [-3.0],
        }
    )
    extrapolation = pd.DataFrame(
        {
            "law": ["a", "b", "a", "b"],
            "holdout": ["C > 1e+20", "C > 1e+20", "C > 1e+21", "C > 1e+21"],
            "n_test": [100, 100, 1, 1],
            "elpd_per_run": [big.mean(), -0.03, 0.0, -3.0],
            "coverage_90": [0.9] * 4,
        }
    )
    fits = {name: SimpleNamespace(ok=True) for name in "ab"}
    verdict = Comparison(fits, _loo(["a", "b"], [0.5, 0.5]), extrapolation, [], held).verdict()  # type: ignore[arg-type]
    assert "(extrapolation) a predicts best" in verdict
    assert "decisive on these runs" not in verdict
    assert "the pooled held-out forecasts b leads it by" in " ".join(verdict.split())
