"""Tests of bayescale.checks: replicated runs and prior sensitivity, as pure functions of a fit.

They use the session's fits of simulated Chinchilla runs (tests/conftest.py): the healthy fit
(1% noise, prior draws kept) and the starved one (no prior draws).
"""

from __future__ import annotations

import numpy as np
import pytest

from bayescale import checks


def test_posterior_predictive_replicates_the_runs(healthy_fit) -> None:
    replicated = checks.posterior_predictive(healthy_fit)
    draws = replicated.posterior_predictive["loss"].values
    chains, n_draws = healthy_fit.diagnostics.chains, healthy_fit.diagnostics.draws
    assert draws.shape == (chains, n_draws, len(healthy_fit.runs))
    np.testing.assert_array_equal(replicated.observed_data["loss"].values, healthy_fit.runs.y)
    # The replications scatter around the observed runs by about the simulated 1% noise.
    ratio = np.median(draws.reshape(-1, len(healthy_fit.runs)), axis=0) / healthy_fit.runs.y
    assert np.abs(ratio - 1).mean() < 0.03
    spread = np.std(np.log(draws), axis=(0, 1)).mean()
    assert 0.005 < spread < 0.03
    # Same seed, same replications; another seed differs.
    again = checks.posterior_predictive(healthy_fit).posterior_predictive["loss"].values
    np.testing.assert_array_equal(draws, again)
    other = checks.posterior_predictive(healthy_fit, seed=99).posterior_predictive["loss"].values
    assert not np.array_equal(draws, other)


def test_prior_sensitivity_of_a_well_informed_fit(healthy_fit) -> None:
    table = checks.prior_sensitivity(healthy_fit)
    assert list(table.index) == healthy_fit.parameter_names
    assert list(table.columns) == [
        "prior_variable",
        "psens_prior",
        "psens_likelihood",
        "diagnosis",
        "contraction",
        "shift",
        "scale",
    ]
    # Coefficients stated at the reference scale have their prior on A_ref, not A.
    law = healthy_fit.law
    for name, parameter in law.parameters.items():
        assert table.loc[name, "prior_variable"] == parameter.sampled_name
    assert table.loc["sigma", "prior_variable"] == "sigma"
    assert "psens_error" not in table.attrs
    assert table["psens_prior"].notna().all() and table["psens_likelihood"].notna().all()
    assert set(table["diagnosis"]) <= {
        "none",
        "strong prior / weak likelihood",
        "prior-data conflict",
    }
    # 60 runs with 1% noise teach the law's parameters far more than their priors say.
    assert (table.loc[list(law.parameters), "contraction"] > 0.9).all()
    assert (table["scale"] == "log").all()  # every prior here is on positive values


def test_prior_sensitivity_without_prior_draws(starved_fit) -> None:
    table = checks.prior_sensitivity(starved_fit)
    assert table["contraction"].isna().all() and table["shift"].isna().all()
    assert (table["scale"] == "").all()


def test_prior_sensitivity_says_why_power_scaling_failed(healthy_fit, monkeypatch) -> None:
    import arviz as az

    def broken(*args, **kwargs):
        raise ValueError("no log likelihood")

    monkeypatch.setattr(az, "psens", broken)
    table = checks.prior_sensitivity(healthy_fit)
    assert table["psens_prior"].isna().all()
    assert (table["diagnosis"] == "not computed").all()
    assert table.attrs["psens_error"] == "ValueError: no log likelihood"
    assert table["contraction"].notna().all()  # the shift does not need power scaling


@pytest.mark.parametrize(
    ("prior", "likelihood", "diagnosis"),
    [
        (0.01, 0.2, "none"),
        (0.08, 0.01, "strong prior / weak likelihood"),
        (0.08, 0.08, "prior-data conflict"),
    ],
)
def test_reading_of_the_two_sensitivities(prior, likelihood, diagnosis) -> None:
    assert checks._psens_diagnosis(prior, likelihood) == diagnosis
