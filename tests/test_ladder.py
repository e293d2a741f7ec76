"""The sampler ladder, starting points, modes and the reparameterisation of user amplitudes."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest

import bayescale
from bayescale.errors import DataError
from bayescale.fitting import Diagnostics
from bayescale.ladder import Attempt, find_modes, next_attempt, projected_seconds
from bayescale.laws import Law
from bayescale.model import (
    build_model,
    compiled_model,
    find_starts,
    log_reference,
    sampled_at_reference,
)

FIRST = Attempt(tune=1000, draws=1000, target_accept=0.95, maxdepth=10, seed=0, seconds=10.0)


# --------------------------------------------------------------------------- ladder rules


def test_escalation_answers_the_failure():
    diverged = next_attempt(FIRST, FIRST, 1, diverged=True, short_ess=False, deep=False, seed=1)
    assert (diverged.tune, diverged.draws, diverged.target_accept) == (2000, 1000, 0.99)
    assert diverged.maxdepth == 10
    short = next_attempt(FIRST, FIRST, 1, diverged=False, short_ess=True, deep=True, seed=1)
    assert (short.draws, short.target_accept, short.maxdepth) == (2000, 0.95, 12)
    second = next_attempt(FIRST, diverged, 2, diverged=True, short_ess=True, deep=False, seed=2)
    assert (second.tune, second.draws, second.target_accept) == (4000, 4000, 0.995)
    # A user's higher target is never lowered.
    careful = Attempt(1000, 1000, 0.999, 10, 0)
    again = next_attempt(careful, careful, 1, diverged=True, short_ess=False, deep=False, seed=1)
    assert again.target_accept == 0.999


def test_projected_time_grows_with_work_and_smaller_steps():
    same = projected_seconds(FIRST, FIRST)
    assert same == pytest.approx(10.0)
    longer = next_attempt(FIRST, FIRST, 1, diverged=False, short_ess=True, deep=False, seed=1)
    assert projected_seconds(FIRST, longer) == pytest.approx(20.0)
    smaller = next_attempt(FIRST, FIRST, 1, diverged=True, short_ess=False, deep=False, seed=1)
    assert projected_seconds(FIRST, smaller) > 1.5 * 10.0 * 1.0


def test_attempt_round_trips_and_describes():
    again = Attempt.from_dict(FIRST.to_dict())
    assert again == FIRST
    assert FIRST.describe() == "tune 1000, draws 1000, target_accept 0.95"
    assert "maxdepth 12" in Attempt(1, 1, 0.9, 12, 0).describe()


# --------------------------------------------------------------------------- modes


def _idata(centres, spread=0.01, draws=300, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.asarray(centres, dtype=float)  # (chain, parameter)
    values = centres[:, None, :] + spread * rng.standard_normal((len(centres), draws, 2))
    logp = -np.abs(values).sum(axis=-1)
    return az.from_dict(
        posterior={"a": values[..., 0], "b": values[..., 1]},
        sample_stats={"logp": logp, "diverging": np.zeros(logp.shape, bool)},
    )


def test_chains_in_two_modes_are_grouped_and_ranked():
    idata = _idata([[1.0, 0.0], [3.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    modes = find_modes(idata, ["a", "b"])
    assert [m.chains for m in modes] == [(0, 2), (1, 3)]  # mode (1, 0) has the higher logp
    assert modes[0].medians["a"] == pytest.approx(1.0, abs=0.01)
    diagnostics = Diagnostics.of(idata, ["a", "b"])
    assert diagnostics.multimodal
    text = diagnostics.verdict()
    assert "2 separate modes" in text and "fit.mode(k)" in text and "chains 1, 3" in text
    assert "run longer" not in text


def test_chains_that_agree_are_one_mode():
    idata = _idata([[1.0, 0.0], [1.01, 0.0], [0.99, 0.005]])
    assert len(find_modes(idata, ["a", "b"])) == 1
    assert not Diagnostics.of(idata, ["a", "b"]).multimodal


# --------------------------------------------------------------------------- the ladder in fit


def test_failed_fit_escalates_and_says_what_was_done(sim_runs, tmp_path):
    result = bayescale.fit(
        sim_runs, "chinchilla", draws=30, tune=30, chains=2, seed=3, prior_draws=0, retries=1
    )
    attempts = result.diagnostics.attempts
    assert len(attempts) == 2
    assert attempts[1].tune == 60 and attempts[1].draws == 60
    assert result.diagnostics.draws == 60
    log = result.sampler_log
    assert log[0].startswith("chains started at") and log[1].startswith("attempt 1: tune 30")
    assert "after 2 attempts" in result.diagnostics.verdict()
    path = result.save(tmp_path / "fit.nc")
    assert bayescale.load_fit(path).sampler_log == log


def test_time_budget_stops_the_ladder(sim_runs):
    result = bayescale.fit(
        sim_runs,
        "chinchilla",
        draws=30,
        tune=30,
        chains=2,
        seed=3,
        prior_draws=0,
        sampler={"time_budget": 1e-6},
    )
    assert len(result.diagnostics.attempts) == 1
    assert "beyond the time budget" in result.sampler_log[-1]


def test_no_retries_when_the_first_attempt_passes(healthy_fit):
    assert len(healthy_fit.diagnostics.attempts) == 1
    assert healthy_fit.ok


def test_mode_restricts_the_chains(healthy_fit):
    assert len(healthy_fit.modes) == 1 and healthy_fit.modes[0].chains == (0, 1)
    only = healthy_fit.mode(0)
    assert only.idata.posterior.sizes["chain"] == 2
    with pytest.raises(DataError, match="mode must be a whole number from 0 to 0"):
        healthy_fit.mode(1)


def test_settings_refuse_bad_retries_and_budget():
    with pytest.raises(DataError, match="retries must be a whole number >= 0"):
        bayescale.SamplerSettings(retries=-1)
    with pytest.raises(DataError, match="time_budget must be a number of seconds > 0"):
        bayescale.SamplerSettings(time_budget=float("nan"))


# --------------------------------------------------------------------------- starts


def test_chains_start_at_the_posterior_mode(sim_runs):
    law = bayescale.get_law("chinchilla")
    log_ref = log_reference(law, sim_runs)
    compiled = compiled_model(law, sim_runs, log_ref)
    starts = find_starts(compiled, chains=4, seed=0)
    assert len(starts.points) == 4 and starts.optima == 1
    logp_at_start = starts.log_density[0]
    for seed in range(5):
        x0 = compiled.initial_point_func(seed)
        logp, grad = compiled.logp_func(x0)
        assert logp_at_start > float(logp)
    _, grad = compiled.logp_func(starts.points[0])
    assert np.max(np.abs(grad)) < 0.1  # an optimum: the gradient (~1e3 at x0) vanishes


def test_starts_are_found_with_one_blas_thread(sim_runs):
    # OpenBLAS threads waking for every tiny product of the gradient tripled a fit's CPU
    # time on a busy machine; the optimisations run with one.
    import dataclasses

    from threadpoolctl import threadpool_info

    law = bayescale.get_law("chinchilla")
    compiled = compiled_model(law, sim_runs, log_reference(law, sim_runs))
    seen: list[int] = []
    function = compiled.logp_func

    class Recording:
        def __getattr__(self, name):
            return getattr(function, name)

        def __call__(self, x):
            seen.append(max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"))
            return function(x)

    find_starts(dataclasses.replace(compiled, logp_func=Recording()), chains=2, seed=0, tries=2)
    assert seen and set(seen) == {1}


# --------------------------------------------------------------------------- reparameterisation

USER_PRIORS = {
    "E": {"dist": "LogNormal", "mu": 0.4, "sigma": 1.0},
    "A": {"dist": "LogNormal", "mu": 3.0, "sigma": 3.0},
    "alpha": {"dist": "LogNormal", "mu": -1.2, "sigma": 0.75},
}


def test_user_amplitude_is_sampled_at_the_reference_with_its_prior_unchanged(sim_runs):
    law = Law.from_formula("E + A * N**-alpha", priors=USER_PRIORS)
    assert sampled_at_reference(law) == {"A": ("N", "alpha")}
    log_ref = log_reference(law, sim_runs)
    plain = build_model(law, sim_runs, log_ref, reparameterise=False)
    moved = build_model(law, sim_runs, log_ref)
    assert "A_log_at_ref" in {v.name for v in moved.free_RVs}
    assert "A" not in {v.name for v in moved.free_RVs}
    logp_plain, logp_moved = plain.compile_logp(), moved.compile_logp()
    rng = np.random.default_rng(0)
    for _ in range(5):
        point = {
            "E_log__": rng.normal(0.5, 0.3),
            "alpha_log__": rng.normal(-1.0, 0.3),
            "sigma_log__": rng.normal(-4.0, 0.5),
            "nu_log__": rng.normal(2.0, 0.5),
        }
        shifted = rng.normal(0.0, 1.0)
        alpha = np.exp(point["alpha_log__"])
        log_a = shifted + alpha * log_ref["N"]
        # Same density on the unconstrained space: the change of variables is a unit shear.
        assert logp_moved({**point, "A_log_at_ref": shifted}) == pytest.approx(
            logp_plain({**point, "A_log__": log_a}), rel=1e-10
        )


def test_catalog_amplitudes_keep_their_reference_statement():
    # Chinchilla states A and B at the reference already: nothing more to move.
    assert sampled_at_reference(bayescale.get_law("chinchilla")) == {}


# --------------------------------------------------------------------------- two modes, end to end


@pytest.fixture(scope="module")
def relabelled_fit():
    """Two power laws in N with the same priors: (A, a) and (B, b) can swap, two modes."""
    rng = np.random.default_rng(0)
    N = 10 ** rng.uniform(6, 10, 80)
    x = N / 1e8
    y = (1.5 + 2.0 * x**-0.15 + 0.5 * x**-0.6) * np.exp(0.005 * rng.standard_normal(80))
    runs = bayescale.load_runs(pd.DataFrame({"N": N, "loss": y}))
    amplitude = {"dist": "LogNormal", "mu": 0.0, "sigma": 2.0}
    exponent = {"dist": "LogNormal", "mu": -1.2, "sigma": 0.75}
    law = Law.from_formula(
        "E + A * (N / 1e8)**-a + B * (N / 1e8)**-b",
        priors={
            "E": {"dist": "LogNormal", "mu": 0.4, "sigma": 1.0},
            "A": amplitude,
            "B": amplitude,
            "a": exponent,
            "b": exponent,
        },
        inputs=["N"],
    )
    return bayescale.fit(runs, law, draws=300, tune=300, chains=4, seed=0, prior_draws=0)


@pytest.mark.slow
def test_separate_modes_are_reported_not_retried(relabelled_fit, tmp_path):
    fit = relabelled_fit
    assert "2 distinct optima" in fit.sampler_log[0]  # chains started in both
    assert fit.diagnostics.multimodal and len(fit.diagnostics.attempts) == 1
    assert "separate modes" in fit.sampler_log[-1]
    first, second = fit.modes
    assert sorted(first.chains + second.chains) == [0, 1, 2, 3]
    # The two modes are the same law with (A, a) and (B, b) swapped.
    assert first.medians["a"] == pytest.approx(second.medians["b"], rel=0.15)
    assert first.medians["A"] == pytest.approx(second.medians["B"], rel=0.15)
    each = [fit.mode(k) for k in (0, 1)]
    for part, mode in zip(each, fit.modes, strict=True):
        assert part.idata.posterior.sizes["chain"] == len(mode.chains)
        assert not part.diagnostics.multimodal
    point = {"N": [1e11]}
    medians = [float(part.forecast(point)["law_median"].iloc[0]) for part in each]
    assert medians[0] == pytest.approx(medians[1], rel=0.01)  # relabelling: same forecast
    # The CLI forecasts one mode of a saved fit.
    from typer.testing import CliRunner

    from bayescale.cli import app

    path = fit.save(tmp_path / "two.nc")
    result = CliRunner().invoke(
        app, ["forecast", str(path), "--mode", "1", "--at", "N=1e11", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert "forecast" in result.stdout


def test_signed_amplitude_is_sampled_at_the_reference_with_its_prior_unchanged(sim_runs):
    # Farseer's terms exp(a * N**g + b): a has a prior on all reals; A = u * N_ref**g.
    priors = {
        "a": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
        "b": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
        "g": {"dist": "Normal", "mu": -0.2, "sigma": 0.4},
    }
    law = Law.from_formula("exp(a * N**g + b)", priors=priors, inputs=["N"])
    assert sampled_at_reference(law) == {"a": ("N", "-(g)")}
    log_ref = log_reference(law, sim_runs)
    plain = build_model(law, sim_runs, log_ref, reparameterise=False)
    moved = build_model(law, sim_runs, log_ref)
    logp_plain, logp_moved = plain.compile_logp(), moved.compile_logp()
    rng = np.random.default_rng(1)
    for _ in range(5):
        point = {
            "b": rng.normal(0.5, 0.3),
            "g": rng.normal(-0.2, 0.1),
            "sigma_log__": rng.normal(-4.0, 0.5),
            "nu_log__": rng.normal(2.0, 0.5),
        }
        moved_value = rng.normal(0.0, 1.0)
        shift = point["g"] * log_ref["N"]
        a = moved_value * np.exp(-shift)  # a * N_ref**g = u: the term's value at N_ref
        # Densities in (u, g) and (a, g) differ by log|da/du| = -g log N_ref.
        assert logp_moved({**point, "a_at_ref": moved_value}) == pytest.approx(
            logp_plain({**point, "a": a}) - shift, rel=1e-10
        )


def test_chains_that_disagree_get_more_draws_not_only_more_warm_up():
    from bayescale.ladder import climb
    from bayescale.settings import SamplerSettings

    # One mode, chains a little apart (R-hat above 1.01) and ESS to spare: the next attempt
    # must draw more, as R-hat falls with the draws.
    asked = []

    def sample(attempt):
        asked.append(attempt)
        offset = 0.23 if len(asked) == 1 else 0.0
        idata = _idata([[0, 0], [offset, 0], [-offset, 0], [0, 0]], spread=1.0, draws=1000)
        if len(asked) == 2:  # then one divergence, and nothing else wrong
            idata.sample_stats["diverging"][0, 0] = True
        return idata

    settings = SamplerSettings.of({"draws": 1000, "tune": 1000, "chains": 4, "retries": 2})
    _, diagnostics, done, _ = climb(sample, ["a", "b"], settings)
    assert "R-hat of a" in done[0].verdict and "ess" not in done[0].verdict
    assert (asked[1].tune, asked[1].draws) == (2000, 2000)
    # Smaller steps for the divergence, and still more draws: the shortfall would come back.
    assert done[1].verdict.endswith("or tighten the priors") and "R-hat" not in done[1].verdict
    assert (asked[2].tune, asked[2].draws, asked[2].target_accept) == (4000, 4000, 0.995)
    assert diagnostics.ok


def test_once_divergent_the_steps_keep_shrinking():
    from bayescale.ladder import climb
    from bayescale.settings import SamplerSettings

    asked = []

    def sample(attempt):
        asked.append(attempt)
        offset = 0.23 if len(asked) < 3 else 0.0  # chains a little apart until the last
        idata = _idata([[0, 0], [offset, 0], [-offset, 0], [0, 0]], spread=1.0, draws=1000)
        if len(asked) == 1:  # divergences first, none in the second attempt
            idata.sample_stats["diverging"][0, :5] = True
        return idata

    settings = SamplerSettings.of({"draws": 1000, "tune": 1000, "chains": 4, "retries": 2})
    _, diagnostics, done, _ = climb(sample, ["a", "b"], settings)
    assert "divergent" in done[0].verdict and "divergent" not in done[1].verdict
    assert [a.target_accept for a in asked] == [0.95, 0.99, 0.995]
    assert diagnostics.ok


# --------------------------------------------------------------------------- prior conflicts


def test_separate_modes_name_a_prior_data_conflict_when_there_is_one():
    import dataclasses

    idata = _idata([[1.0, 0.0], [3.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    plain = Diagnostics.of(idata, ["a", "b"])
    conflicted = dataclasses.replace(plain, prior_notes=("E: floor prior above the runs",))
    text = conflicted.verdict()
    assert "conflict with the runs (E: floor prior above the runs; see fit.prior_checks())" in text
    assert "fit.mode(k)" not in text and "separate modes" in text
    assert conflicted.ok is plain.ok is False  # a note changes the words, not the verdict
