"""Compute planning: optimal split, budget for a target, probability of meeting it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayescale as bs
from bayescale import planning
from bayescale.errors import DataError, LawError
from bayescale.formula import Formula
from bayescale.laws import Law
from bayescale.likelihood import Likelihood

TRUTH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def draws() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    n = 2000
    return {
        "E": rng.normal(TRUTH["E"], 0.03, n),
        "A": rng.lognormal(np.log(TRUTH["A"]), 0.1, n),
        "B": rng.lognormal(np.log(TRUTH["B"]), 0.1, n),
        "alpha": rng.normal(TRUTH["alpha"], 0.01, n),
        "beta": rng.normal(TRUTH["beta"], 0.01, n),
    }


@pytest.fixture(scope="module")
def chinchilla() -> Law:
    return bs.get_law("chinchilla")


@pytest.fixture(scope="module")
def rewritten(chinchilla: Law) -> Law:
    """The Chinchilla law written differently: same function, no closed form recognised."""
    return Law(
        name="rewritten",
        formula=Formula("E + A * N**-alpha + B * D**-beta"),
        inputs=chinchilla.inputs,
        parameters=chinchilla.parameters,
    )


def test_closed_form_is_recognised_by_structure(chinchilla: Law, rewritten: Law) -> None:
    assert planning.has_closed_form(chinchilla)
    assert not planning.has_closed_form(rewritten)


def test_closed_form_and_numerical_search_agree(chinchilla: Law, draws: dict) -> None:
    budgets = [1e19, 1e21, 1e23, 1e25]
    closed = planning.optimum_draws(chinchilla, draws, budgets, method="closed_form")
    search = planning.optimum_draws(chinchilla, draws, budgets, method="numerical")
    for key in ("N", "D", "tokens_per_parameter"):
        np.testing.assert_allclose(search[key], closed[key], rtol=1e-5)
    np.testing.assert_allclose(search["loss"], closed["loss"], rtol=1e-10)
    np.testing.assert_allclose(
        closed["N"] * closed["D"] * 6, np.broadcast_to(budgets, closed["N"].shape)
    )


def test_numerical_optimum_is_a_minimum(rewritten: Law, draws: dict) -> None:
    budget = 1e22
    best = planning.optimum_draws(rewritten, draws, [budget], method="numerical")
    for factor in (0.9, 1.1):
        n = best["N"][:, 0] * factor
        inputs = {"N": n[:, None], "D": (budget / (6 * n))[:, None]}
        other = rewritten.predict({k: v[:, None] for k, v in draws.items()}, inputs)[:, 0]
        assert np.all(other >= best["loss"][:, 0] - 1e-12)


def test_tokens_per_parameter_of_published_parameters(chinchilla: Law) -> None:
    # Besiroglu et al. 2024's parameters give about 20 tokens per parameter near 1e21-1e23.
    single = {k: np.array([v]) for k, v in TRUTH.items()}
    ratio = planning.optimum_draws(chinchilla, single, [1e21, 1e23])["tokens_per_parameter"]
    assert np.all((ratio > 15) & (ratio < 26))


def test_the_measured_optimum_is_where_simulated_sweeps_find_it(chinchilla: Law) -> None:
    from bayescale.isoflop import parabola_minimum

    # One law, many draws: the spread is the sweep's noise alone. The same sweep (9 runs over
    # a factor 64 around the optimum, 1% noise), run 4000 times and measured as a user's
    # curve is (bayescale.isoflop.parabola_minimum, its parabola through every run), finds its
    # minimum there.
    n_draws, budget = 4000, 1e22
    params = {name: np.full(n_draws, value) for name, value in TRUTH.items()}
    log_opt, _ = planning.chinchilla_optimum(TRUTH, np.log(budget), 6.0)
    offsets = np.log(np.geomspace(1 / 8, 8, 9))
    rng = np.random.default_rng(5)
    at = np.full((n_draws, 1), log_opt)
    got = planning.measured_optimum_draws(chinchilla, params, [budget], at, offsets, 0.01, 5)
    assert got.shape == (n_draws, 1)
    n = np.exp(log_opt + offsets)
    law = planning.law_value(chinchilla, TRUTH, {"N": n, "D": budget / (6 * n)})
    simulated = [
        parabola_minimum(np.log(n), np.log(law) + 0.01 * rng.standard_normal(len(n)), window=np.inf)
        for _ in range(n_draws)
    ]
    simulated = np.array([found[0] for found in simulated if found is not None])
    assert len(simulated) > 0.99 * n_draws
    probs = [0.05, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_allclose(
        np.quantile(got[:, 0], probs), np.quantile(simulated, probs), atol=0.015
    )
    # Without noise it is the law's own parabola vertex: near its optimum, not at it.
    exact = planning.measured_optimum_draws(chinchilla, params, [budget], at, offsets, 0.0, 5)
    assert np.ptp(exact) == 0 and 0 < abs(exact[0, 0] - log_opt) < 0.05


def test_budget_for_reaches_the_target(chinchilla: Law, rewritten: Law, draws: dict) -> None:
    found = planning.budget_draws(chinchilla, draws, 2.0)
    assert np.all(np.isfinite(found["C"]))
    _, loss = planning.chinchilla_optimum(
        {k: v[:, None] for k, v in draws.items()}, np.log(found["C"])[:, None], 6.0
    )
    np.testing.assert_allclose(loss[:, 0], 2.0, rtol=1e-9)
    numerical = planning.budget_draws(rewritten, {k: v[:200] for k, v in draws.items()}, 2.0)
    np.testing.assert_allclose(numerical["C"], found["C"][:200], rtol=1e-4)


def test_budget_for_a_target_below_the_floor_is_unreachable(chinchilla: Law, draws: dict) -> None:
    found = planning.budget_draws(chinchilla, draws, 1.5)  # every draw has E > 1.5
    assert np.all(np.isinf(found["C"])) and np.all(np.isnan(found["N"]))
    some = planning.budget_draws(chinchilla, draws, TRUTH["E"] + 0.001)
    share = np.isinf(some["C"]).mean()
    assert share == pytest.approx((draws["E"] >= TRUTH["E"] + 0.001).mean(), abs=0.02)


def test_budget_for_prob_finds_the_first_budget_reaching_the_chance() -> None:
    def rising(budgets: np.ndarray) -> np.ndarray:  # 50% at 1e24, 90% near 1.3e25
        return 1 / (1 + np.exp(-(np.log(budgets) - np.log(1e24)) / 1.2))

    found = planning.budget_for_prob(rising, 0.9)
    assert rising(np.array([found["C"]]))[0] == pytest.approx(0.9, abs=1e-6)
    assert not found["at_least"] and found["prob_max"] > 0.99

    def rise_then_fall(budgets: np.ndarray) -> np.ndarray:  # peaks at 0.8 at 1e28
        x = np.log(budgets) - np.log(1e28)
        return 0.8 * np.exp(-(x**2) / 50)

    peak = planning.budget_for_prob(rise_then_fall, 0.7)
    assert peak["C"] < 1e28 and rise_then_fall(np.array([peak["C"]]))[0] == pytest.approx(0.7)
    out_of_reach = planning.budget_for_prob(rise_then_fall, 0.9)
    assert np.isinf(out_of_reach["C"]) and 0.79 < out_of_reach["prob_max"] <= 0.8
    assert 1e27 < out_of_reach["C_at_max"] < 1e29

    already = planning.budget_for_prob(lambda b: np.full(len(b), 0.95), 0.9)
    assert already["at_least"] and already["C"] == pytest.approx(1.5 * 6e6)


def test_prob_below_integrates_the_noise_exactly() -> None:
    rng = np.random.default_rng(3)
    values = rng.uniform(1.9, 2.1, size=(500, 2))
    sigma, nu = np.full(500, 0.02), np.full(500, 4.0)
    law_p, run_p = planning.prob_below_draws(
        values, 2.0, Likelihood("student_t"), {"sigma": sigma, "nu": nu}
    )
    np.testing.assert_allclose(law_p, (values < 2.0).mean(axis=0))
    noise = sigma[:, None, None] * stats.t.rvs(4.0, size=(500, 2, 4000), random_state=4)
    monte_carlo = (values[..., None] * np.exp(noise) < 2.0).mean(axis=(0, 2))
    np.testing.assert_allclose(run_p, monte_carlo, atol=0.01)
    tiny_law, tiny_run = planning.prob_below_draws(
        values, 2.0, Likelihood("normal", nu=None), {"sigma": np.full(500, 1e-9)}
    )
    np.testing.assert_allclose(tiny_run, tiny_law, atol=1e-6)


def test_planning_needs_n_and_d() -> None:
    with pytest.raises(LawError, match="inputs N and D"):
        planning.optimum_draws(
            bs.get_law("power_law_C"), {"E": [1.8], "A": [1.0], "alpha": [0.1]}, [1e21]
        )
    law = bs.get_law("data_constrained")
    params = {"E": [1.8], "A": [400.0], "B": [400.0], "alpha": [0.34], "beta": [0.28], "R": [15.0]}
    with pytest.raises(DataError, match="fixed="):
        planning.optimum_draws(law, params, [1e21])
    bounded = planning.optimum_draws(law, params, [1e21], fixed={"U": 1e10})
    # With only 1e10 unique tokens, repeating them is worth less: more parameters, fewer tokens.
    free = planning.optimum_draws(law, params, [1e21], fixed={"U": 1e14})
    assert bounded["tokens_per_parameter"][0, 0] < free["tokens_per_parameter"][0, 0]


@pytest.mark.slow
def test_epoch_data_tokens_per_parameter_near_20() -> None:
    path = SHARED / "chinchilla" / "svg_extracted_data.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found: CI checks out ../shared beside the project")
    runs = bs.load_runs(path, x={"N": "Model Size", "C": "Training FLOP"})
    result = bs.fit(runs, "chinchilla", seed=1, prior_draws=0)
    plan = result.compute_optimal([1e21, 1e22, 1e23])
    # Besiroglu et al. 2024: a ratio consistent with about 20 tokens per parameter.
    assert plan["tokens_per_parameter_median"].between(15, 25).all(), plan
    assert (plan["tokens_per_parameter_lower_90"] < 20).any() and (
        plan["tokens_per_parameter_upper_90"] > 20
    ).all()
    budget = result.budget_for(2.0)
    assert budget["prob_unreachable"].iloc[0] == 0.0
    lo, hi = budget["C_lower_90"].iloc[0], budget["C_upper_90"].iloc[0]
    assert 1e22 < lo < budget["C_median"].iloc[0] < hi < 1e25
    check = result.prob_below(2.0, C=[lo, hi])
    assert check["prob_law_below"].iloc[0] < 0.1 and check["prob_law_below"].iloc[1] > 0.9


def test_summarise_leaves_nan_draws_out_only_when_asked() -> None:
    draws = np.array([[1.0], [2.0], [np.nan], [3.0], [np.inf]])
    assert np.isnan(planning.summarise(draws, "x")["x_median"][0])
    kept = planning.summarise(draws, "x", level=0.5, skip_nan=True)
    assert kept["x_median"][0] == 2.0  # of 1, 2, 3, inf
    assert kept["x_lower_50"][0] == 1.0 and kept["x_upper_50"][0] == 3.0


def test_a_sweep_design_takes_what_is_given_and_the_rest_from_the_runs() -> None:
    learned = (np.array([-1.5, -0.7, 0.1, 0.8, 1.6]), 0.02)
    offsets, noise = planning.sweep_design(None, learned)
    np.testing.assert_array_equal(offsets, learned[0])
    assert noise == 0.02
    offsets, noise = planning.sweep_design({"runs": 9, "spread": 8}, learned)
    np.testing.assert_allclose(offsets, np.log(np.geomspace(1 / 8, 8, 9)))
    assert noise == 0.02
    offsets, noise = planning.sweep_design({"runs": 7, "noise": 0.005}, learned)
    assert len(offsets) == 7 and noise == 0.005
    np.testing.assert_allclose(offsets[[0, -1]], [-1.55, 1.55])  # the runs' spread, centred
    offsets, _ = planning.sweep_design({"runs": 5, "spread": 4, "noise": 0.01}, None)
    np.testing.assert_allclose(np.exp(offsets[[0, -1]]), [0.25, 4])


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"runs": 9, "spread": 8}, "give them"),
        ({"runs": 4, "spread": 8, "noise": 0.01}, "at least 5"),
        ({"runs": 9.5, "spread": 8, "noise": 0.01}, "whole number"),
        ({"runs": 9, "spread": 1, "noise": 0.01}, "spread=1 is out of range: give more than 1"),
        ({"runs": 9, "spread": 1e300, "noise": 0.01}, "at most 1000"),
        ({"runs": 9, "spread": 8, "noise": -0.01}, "give at least 0 and at most 1"),
        ({"runs": 2000, "spread": 8, "noise": 0.01}, "runs=2000 is out of range"),
        ({"runs": 9, "spread": 8, "noise": float("nan")}, "must be a finite number"),
        ({"runs": 9, "spread": True, "noise": 0.01}, "must be a number"),
        ({"runs": 9, "spread": 8, "nosie": 0.01}, "'nosie'"),
    ],
)
def test_a_bad_sweep_design_is_one_clear_error(sweep: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        planning.sweep_design(sweep, None)


def test_budget_normals_are_a_budgets_own_whatever_else_is_asked() -> None:
    budgets = np.array([1e21, 1e23, 1e25])
    together = planning.budget_normals(3, 11, budgets, (500,))
    assert together.shape == (500, 3)
    np.testing.assert_array_equal(
        planning.budget_normals(3, 11, budgets[[2]], (500,))[:, 0], together[:, 2]
    )
    np.testing.assert_array_equal(
        planning.budget_normals(3, 11, budgets[::-1], (500,)), together[:, ::-1]
    )
    # Common random numbers: the same draws at every budget, so quantiles are smooth in it.
    np.testing.assert_array_equal(together[:, 0], together[:, 2])
    # Distinct streams and seeds: independent standard normals.
    other = planning.budget_normals(3, 12, budgets, (500,))
    assert abs(np.corrcoef(together[:, 0], other[:, 0])[0, 1]) < 0.15
    assert not np.array_equal(planning.budget_normals(4, 11, budgets, (500,)), together)
    assert abs(together.mean()) < 0.1 and abs(together.std() - 1) < 0.1


@pytest.mark.parametrize(
    ("fixed", "message"),
    [
        (
            {"N": 7e10},
            r"fixed=\{'N': \.\.\.\} \(--fixed N=\.\.\. on the command line\): N, D and C",
        ),
        ({"D": 1e12}, r"are what a plan chooses or is given"),
        ({"C": 1e24}, r"prob_below\(target, N=\.\.\., D=\.\.\.\) \(bayescale target --loss"),
        ({"u": 1e10}, r"'u': \.\.\.\}: not an input of the law; law 'data_constrained' takes U"),
        ({"U": float("nan")}, r"give a finite number"),
    ],
)
def test_fixed_takes_only_the_laws_other_inputs(fixed: dict, message: str) -> None:
    # A fixed N used to overwrite the N the search varied: N = 1,000 and a loss at 70B.
    law = bs.get_law("data_constrained")
    params = {"E": [1.8], "A": [400.0], "B": [400.0], "alpha": [0.34], "beta": [0.28], "R": [15.0]}
    with pytest.raises(DataError, match=message):
        planning.optimum_draws(law, params, [1e21], fixed={"U": 1e10, **fixed})
    with pytest.raises(DataError, match=message):
        planning.budget_draws(law, params, 2.5, fixed={"U": 1e10, **fixed})
    with pytest.raises(DataError, match=r"did you mean U\?"):
        planning.check_fixed(law, {"u": 1.0})


def test_a_budget_too_small_to_split_is_refused_by_every_method(
    chinchilla: Law, draws: dict
) -> None:
    # The closed form used to split 100 FLOPs into 0.47 parameters.
    for method in ("closed_form", "numerical"):
        with pytest.raises(DataError, match=r"100 FLOPs is too small to split: C must exceed 6e6"):
            planning.optimum_draws(chinchilla, draws, [1e21, 100.0], method=method)
    fine = planning.optimum_draws(chinchilla, draws, [1e7], method="closed_form")
    assert np.all(fine["N"] > 0)


def test_a_target_above_the_runs_is_met_where_the_law_says(chinchilla: Law, draws: dict) -> None:
    # It used to stop at 1e12 FLOPs, the search's edge, with a degenerate interval.
    found = planning.budget_draws(chinchilla, draws, 30.0)
    assert np.median(found["C"]) < 1e12 and not found["at_least"].any()
    _, loss = planning.chinchilla_optimum(
        {k: v[:, None] for k, v in draws.items()}, np.log(found["C"])[:, None], 6.0
    )
    np.testing.assert_allclose(loss[:, 0], 30.0, rtol=1e-9)
    # Beyond what a thousand parameters on a thousand tokens reach: that budget, flagged.
    huge = planning.budget_draws(chinchilla, draws, 1e6)
    assert huge["at_least"].all() and np.all(huge["C"] == huge["C"][0]) and huge["C"][0] < 1e7


def test_a_law_in_compute_alone_needs_the_inverse_of_the_law() -> None:
    law = bs.get_law("power_law_C")
    rng = np.random.default_rng(5)
    params = {
        "E": rng.normal(1.7, 0.02, 300),
        "A": rng.lognormal(np.log(2.0), 0.05, 300),
        "alpha": rng.normal(0.05, 0.002, 300),
    }
    assert planning.in_compute_alone(law) and not planning.in_compute_alone(
        bs.get_law("chinchilla")
    )
    found = planning.budget_draws(law, params, 2.2)
    assert np.all(np.isnan(found["N"])) and np.all(np.isfinite(found["C"]))
    values = law.predict({k: v[:, None] for k, v in params.items()}, {"C": found["C"][:, None]})
    np.testing.assert_allclose(np.asarray(values)[:, 0], 2.2, rtol=1e-9)
    with pytest.raises(LawError, match="inputs N and D"):  # a split still needs N and D
        planning.optimum_draws(law, params, [1e21])


def test_format_rounds_before_choosing_a_unit() -> None:
    from bayescale._format import format_number, size_kind

    assert format_number(999_999_999_999.9998, "size") == "1T"  # was '1e3B'
    assert format_number(999_499.0, "size") == "999K"
    assert format_number(1.21e14, "flops") == "1.21e14"  # not '121T': a compute, not a count
    assert size_kind("C") == "flops" and size_kind("N") == "size"


# ------------------------------------------------------------------ audit fixes (#1, #3, #8, #11)


def test_the_loss_at_the_optimum_has_a_forecasts_three_intervals(healthy_fit: bs.Fit) -> None:
    # 1e19 FLOPs is inside the runs (no discrepancy yet), 1e22 and 1e24 beyond them.
    budgets = [1e19, 1e22, 1e24]
    plan = healthy_fit.compute_optimal(budgets)
    for _, row in plan.iterrows():
        # law inside "with discrepancy" inside "one run", as in a forecast.
        assert row["loss_disc_lower_90"] <= row["loss_lower_90"] + 1e-12
        assert row["loss_upper_90"] <= row["loss_disc_upper_90"] + 1e-12
        assert row["loss_pred_lower_90"] < row["loss_disc_lower_90"]
        assert row["loss_disc_upper_90"] < row["loss_pred_upper_90"]
    inside = plan.iloc[0]  # no distance beyond the runs: the discrepancy adds nothing
    assert inside["loss_disc_lower_90"] == inside["loss_lower_90"]
    for i, budget in enumerate(budgets):
        row = plan.iloc[i]
        # One run's interval is the one prob_below integrates exactly: 5% of runs end below
        # its lower end, 95% below its upper end (Monte Carlo error of 1000 draws: ~0.007).
        chances = [
            healthy_fit.prob_below(float(row[f"loss_pred_{end}_90"]), C=budget)
            for end in ("lower", "upper")
        ]
        assert chances[0]["prob_run_below"].iloc[0] == pytest.approx(0.05, abs=0.02)
        assert chances[1]["prob_run_below"].iloc[0] == pytest.approx(0.95, abs=0.02)
        # And it is a forecast's new run at the median optimum: near the optimum the loss
        # barely depends on the split, and the discrepancy and noise draws are the same.
        point = healthy_fit.forecast({"N": [row["N_median"]], "D": [row["D_median"]]})
        for end in ("lower", "upper"):
            assert row[f"loss_pred_{end}_90"] == pytest.approx(
                point[f"pred_{end}_90"].iloc[0], rel=2e-3
            )


def test_a_fit_without_discrepancy_gives_the_law_and_one_runs_loss(healthy_fit: bs.Fit) -> None:
    fields = ("law", "runs", "idata", "log_ref", "seed", "settings", "info")
    plain = bs.Fit(*(getattr(healthy_fit, k) for k in fields))  # discrepancy=None
    plan = plain.compute_optimal([1e22])
    assert "loss_disc_median" not in plan and "N_disc_median" not in plan
    assert plan["loss_median"].iloc[0] == healthy_fit.compute_optimal([1e22])["loss_median"][0]
    assert plan["loss_pred_lower_90"].iloc[0] < plan["loss_lower_90"].iloc[0]
    assert plan["loss_upper_90"].iloc[0] < plan["loss_pred_upper_90"].iloc[0]


def test_prob_below_takes_several_targets_as_budget_for_does(healthy_fit: bs.Fit) -> None:
    both = healthy_fit.prob_below([2.1, 2.0], C=[1e22, 1e24])
    assert list(both["target_loss"]) == [2.1, 2.1, 2.0, 2.0]
    assert list(both["C"]) == [1e22, 1e24, 1e22, 1e24]
    for target in (2.1, 2.0):
        alone = healthy_fit.prob_below(target, C=[1e22, 1e24])
        mine = both[both["target_loss"] == target].reset_index(drop=True)
        np.testing.assert_allclose(mine["prob_run_below"], alone["prob_run_below"])
    assert both.attrs["diagnostics_ok"] is True


def test_budgets_read_as_bayescale_prints_them(healthy_fit: bs.Fit) -> None:
    plan = healthy_fit.compute_optimal(C=["1e21", "10^22", "1e22 FLOPs"])
    np.testing.assert_allclose(plan["C"], [1e21, 1e22, 1e22])
    pd.testing.assert_frame_equal(
        healthy_fit.forecast({"N": ["1B", "2b"], "D": ["20B", "40B"]}),
        healthy_fit.forecast({"N": [1e9, 2e9], "D": [2e10, 4e10]}),
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f.compute_optimal(C=[]), r"C=\[\] gives no budget; give at least one"),
        (
            lambda f: f.compute_optimal(C="1e24 FLOPz"),
            r"C: '1e24 FLOPz' is not a number; write e\.g\. 7e10, 70B .* \(compute budgets in",
        ),
        (lambda f: f.prob_below(2.0, C={"a": 1}), r"C=\{'a': 1\} is not a number; give compute"),
        (lambda f: f.prob_below(2.0, C="big"), r"C: 'big' is not a number"),
        (lambda f: f.prob_below("two", C=1e24), r"target loss 'two' is not a number"),
        (lambda f: f.prob_below([], C=1e24), r"target loss \[\] gives no target"),
        (lambda f: f.budget_for(["2.0x"]), r"target loss \['2.0x'\] is not a number"),
    ],
)
def test_plan_inputs_that_are_not_numbers_are_one_clear_error(
    healthy_fit: bs.Fit, call, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        call(healthy_fit)


def test_past_peak_flags_budgets_where_more_compute_lowered_the_chance() -> None:
    def rise_then_fall(budgets: np.ndarray) -> np.ndarray:  # peaks at 0.8 at 1e28
        x = np.log(budgets) - np.log(1e28)
        return 0.8 * np.exp(-(x**2) / 50)

    found = planning.past_peak(rise_then_fall, [1e22, 1e28, 1.5e28, 1e33, 1e40])
    # 1.5e28 is 0.3% below the peak (within the margin); 1e33 and 1e40 far below it.
    assert list(found["past"]) == [False, False, False, True, True]
    assert found["C_peak"][-1] == pytest.approx(1e28) and found["prob_peak"][-1] == 0.8
    # A chance that creeps down by less than the margin, at 100%, is not past a peak.
    flat = planning.past_peak(lambda b: 1 - 1e-4 * np.log(b) / np.log(1e40), [1e24, 1e40])
    assert not flat["past"].any()


def test_budgets_past_the_peak_or_far_beyond_the_backtests_are_flagged(
    healthy_fit: bs.Fit,
) -> None:
    import warnings

    budgets = [1e22, 1e24, 1e35, 1e40]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = healthy_fit.prob_below(2.0, C=budgets)
    said = [str(w.message) for w in caught]
    # One sentence per kind, naming both budgets it concerns.
    peak = [s for s in said if "peaks at" in s]
    assert len(peak) == 1 and "1e35 FLOPs" in peak[0] and "1e40 FLOPs" in peak[0]
    assert "more compute than that lowers it under the discrepancy model" in peak[0]
    assert [e["C"] for e in table.attrs["past_peak"]] == [1e35, 1e40]
    # What "past the peak" means, checked on the probabilities themselves: a smaller budget
    # gives one run a better chance.
    with warnings.catch_warnings(record=True) as scanned:
        warnings.simplefilter("always")
        scan = healthy_fit.prob_below(2.0, C=np.geomspace(1e20, 1e40, 41))
    # Many budgets: still one sentence per kind, naming the first, the last and how many.
    assert len(scanned) == 2 and "... and 1e40 FLOPs" in str(scanned[0].message)
    best = scan["prob_run_below"].max()
    flagged = table["prob_run_below"].to_numpy()[[2, 3]]
    assert np.all(flagged < best - planning.PEAK_MARGIN)
    assert table["prob_run_below"].iloc[1] >= scan["prob_run_below"][scan["C"] <= 1e24].max()
    # Far beyond the backtests: more than twice the farthest distance they held runs out at.
    reach = planning.backtest_reach(healthy_fit.discrepancy.info)
    far = table.attrs["beyond_backtests"]
    assert [e["C"] for e in far] == [1e35, 1e40]
    assert all(e["distance"] > planning.FAR_BEYOND_BACKTESTS * reach for e in far)
    assert len([s for s in said if "the farthest the backtests checked" in s]) == 1
    assert table.attrs["caveats"] == [s for s in said if s in table.attrs["caveats"]]
    # The statistics are unchanged: the same chances as each budget alone.
    for i, budget in enumerate(budgets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            alone = healthy_fit.prob_below(2.0, C=budget)
        assert alone["prob_run_below"].iloc[0] == pytest.approx(
            table["prob_run_below"].iloc[i], rel=1e-12
        )


def test_a_target_below_the_floor_says_so_in_words(healthy_fit: bs.Fit) -> None:
    floor = healthy_fit.draws(["E"])["E"]
    low, high = np.quantile(floor, [0.05, 0.95])
    target = round(float(low) - 0.1, 2)
    expected = (
        rf"target loss {target:g} is below the law's floor E \(90%: {low:.3g} to {high:.3g}\): "
        rf"no budget reaches it on average"
    )
    with pytest.warns(UserWarning, match=expected):
        table = healthy_fit.budget_for(target)
    assert np.isinf(table["C_median"].iloc[0]) and table["prob_unreachable"].iloc[0] == 1.0


def test_a_new_sweeps_misses_are_counted(healthy_fit: bs.Fit) -> None:
    budgets = [1e19, 1e22, 1e24]
    plan = healthy_fit.compute_optimal(budgets)
    shares = plan["prob_sweep_no_minimum"].to_numpy()
    parts = plan.attrs["sweep_no_minimum"]
    np.testing.assert_allclose(
        shares, np.add(parts["opens_downward"], parts["outside_runs"]), atol=1e-12
    )
    # Counted independently: the same simulated sweeps, through the planning functions.
    offsets, noise = planning.sweep_design(None, healthy_fit.discrepancy.plan_sweep())
    draws = healthy_fit.draws(list(healthy_fit.law.parameters))
    log_n = np.log(planning.optimum_draws(healthy_fit.law, draws, budgets)["N"])
    vertex = (
        planning.measured_optimum_draws(
            healthy_fit.law, draws, budgets, log_n, offsets, noise, healthy_fit.seed
        )
        - log_n
    )
    np.testing.assert_allclose(parts["opens_downward"], np.isnan(vertex).mean(axis=0))
    inside = (vertex > offsets.min()) & (vertex < offsets.max())
    np.testing.assert_allclose(shares, 1 - inside.mean(axis=0))
    # Beyond the runs the curve flattens against the same noise: more sweeps miss.
    assert shares[0] < shares[1] < shares[2]
    # Without noise every sweep finds the law's own minimum.
    exact = healthy_fit.compute_optimal(budgets, sweep={"runs": 9, "spread": 4, "noise": 0.0})
    assert np.all(exact["prob_sweep_no_minimum"] == 0)


def test_a_plan_says_how_far_outside_the_runs_it_lies(healthy_fit: bs.Fit) -> None:
    runs = healthy_fit.runs
    compute = runs.compute_factor * runs.x("N") * runs.x("D")
    plan = healthy_fit.compute_optimal([1e12, 1e30])
    assert list(plan.columns)[-1] == "distance"
    # Below the smallest run's compute and beyond the largest, by at least the compute's gap.
    assert plan["distance"].iloc[0] >= np.log(compute.min() / 1e12) - 1e-9
    assert plan["distance"].iloc[1] >= np.log(1e30 / compute.max()) - 1e-9
    # The same distance a forecast at the median plan gives.
    at = {"N": plan["N_median"], "D": plan["D_median"], "C": plan["C"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        np.testing.assert_allclose(plan["distance"], healthy_fit.forecast(at)["distance"])


def test_stacked_plans_keep_each_rows_caveats_with_that_row() -> None:
    first = pd.DataFrame({"C": [1e22, 1e40]})
    first.attrs.update(
        diagnostics_ok=True,
        caveats=["past the peak at 1e40"],
        past_peak=[{"row": 1, "C": 1e40}],
        sweep_no_minimum={"opens_downward": [0.1, 0.2], "outside_runs": [0.0, 0.3]},
    )
    second = pd.DataFrame({"C": [1e35, 1e22, 1e40]})
    second.attrs.update(
        diagnostics_ok=True,
        caveats=["far at 1e35", "far at 1e40"],
        past_peak=[{"row": 0, "C": 1e35}, {"row": 2, "C": 1e40}],
        beyond_backtests=[{"row": 2, "C": 1e40, "distance": 9.0}],
        sweep_no_minimum={"opens_downward": [0.4, 0.5, 0.6], "outside_runs": [0.7, 0.8, 0.9]},
    )
    out = planning.stack_tables([first, second], ["a", "b"])
    assert list(out.index) == list(range(5))
    # Every entry points at its own row of the stacked table, and names its group.
    for entry in out.attrs["past_peak"] + out.attrs["beyond_backtests"]:
        assert out["C"].iloc[entry["row"]] == entry["C"]
    assert [e["group"] for e in out.attrs["past_peak"]] == ["a", "b", "b"]
    assert out.attrs["beyond_backtests"] == [{"row": 4, "C": 1e40, "distance": 9.0, "group": "b"}]
    assert out.attrs["caveats"] == [
        "group a: past the peak at 1e40",
        "group b: far at 1e35",
        "group b: far at 1e40",
    ]
    assert out.attrs["sweep_no_minimum"]["outside_runs"] == [0.0, 0.3, 0.7, 0.8, 0.9]
    assert out.attrs["diagnostics_ok"] is True
    # Points of one fit (no groups): renumbered, sentences as said.
    plain = planning.stack_tables([first, second])
    assert [e["row"] for e in plain.attrs["past_peak"]] == [1, 2, 4]
    assert "group" not in plain.attrs["past_peak"][0]
    assert plain.attrs["caveats"][0] == "past the peak at 1e40"


def test_stacked_plans_pad_what_only_some_groups_carry() -> None:
    # A grouped fit where only one group's runs hold IsoFLOP curves: its per-row shares stay
    # on its own rows; the others' rows get NaN; a key only a later group has is kept.
    a = pd.DataFrame({"C": [1.0, 2.0]})
    a.attrs.update(past_peak=[], diagnostics_ok=True)
    b = pd.DataFrame({"C": [3.0, 4.0]})
    b.attrs.update(
        sweep_no_minimum={"opens_downward": [0.3, 0.4]},
        past_peak=[{"row": 1, "C": 4.0}],
        note=["x"],
    )
    c = pd.DataFrame({"C": [5.0]})
    c.attrs.update(fixed={"U": [7e9]})  # one row: a dict of one list, not per-row data
    out = planning.stack_tables([a, b, c], ["g1", "g2", "g3"])
    shares = out.attrs["sweep_no_minimum"]["opens_downward"]
    assert np.isnan(shares[0]) and np.isnan(shares[1]) and np.isnan(shares[4])
    assert shares[2:4] == [0.3, 0.4]
    assert out.attrs["past_peak"] == [{"row": 3, "C": 4.0, "group": "g2"}]
    assert out.attrs["note"] == ["x"] and out.attrs["fixed"] == {"U": [7e9]}
    assert out.attrs["diagnostics_ok"] is True
