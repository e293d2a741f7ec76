"""Tests of bayescale.checks: replicated runs and prior sensitivity, as pure functions of a fit.

They use the session's fits of simulated Chinchilla runs (tests/conftest.py): the healthy fit
(1% noise, prior draws kept) and the starved one (no prior draws).
"""

from __future__ import annotations

import dataclasses

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


# --------------------------------------------------------------------------- prior checks


def _with_posterior(fit, law=None, **values):
    """The fit with some posterior variables replaced (synthetic draws, no sampling)."""
    import dataclasses

    import arviz as az

    post = fit.idata.posterior.copy()
    shape = (post.sizes["chain"], post.sizes["draw"])
    for name, draws in values.items():
        post[name] = (("chain", "draw"), np.reshape(draws, shape))
    groups = {g: fit.idata[g] for g in fit.idata.groups() if g != "posterior"}
    idata = az.InferenceData(posterior=post, **groups)
    return dataclasses.replace(fit, law=law or fit.law, idata=idata, discrepancy=None)


def _draws(fit):
    return fit.idata.posterior.sizes["chain"] * fit.idata.posterior.sizes["draw"]


def test_healthy_fit_has_no_prior_notes(healthy_fit) -> None:
    table = healthy_fit.prior_checks()
    assert table.empty, table["message"].tolist()
    assert list(table.columns) == ["parameter", "check", "value", "message"]
    assert healthy_fit.diagnostics.prior_notes == ()


def test_posterior_at_a_bound_of_its_prior_is_noted(healthy_fit) -> None:
    rng = np.random.default_rng(0)
    law = healthy_fit.law.with_priors({"alpha": {"dist": "Uniform", "lower": 0.4, "upper": 1.0}})
    piled = 0.4 + np.abs(0.01 * rng.standard_normal(_draws(healthy_fit)))
    table = checks.prior_checks(_with_posterior(healthy_fit, law, alpha=piled))
    row = table[table["check"] == "at lower bound"]
    assert list(row["parameter"]) == ["alpha"]
    assert "lower bound 0.4 of its prior Uniform" in row["message"].iloc[0]
    assert "Widen the prior's support past 0.4" in row["message"].iloc[0]
    # The same posterior well inside the bounds is not.
    inside = checks.prior_checks(_with_posterior(healthy_fit, law, alpha=piled + 0.2))
    assert inside.empty, inside["message"].tolist()


def test_floor_prior_above_every_run_is_a_conflict(healthy_fit) -> None:
    lowest = float(np.min(healthy_fit.runs.y))
    law = healthy_fit.law.with_priors(
        {"E": {"dist": "LogNormal", "mu": float(np.log(3 * lowest)), "sigma": 0.1}}
    )
    fit = _with_posterior(healthy_fit, law)
    table = fit.prior_checks()
    first = table.iloc[0]
    assert (first["parameter"], first["check"]) == ("E", "floor prior above the runs")
    assert first["value"] == pytest.approx(1.0)
    assert f"above the lowest observed loss {lowest:.4g}" in first["message"]
    assert "Give E a prior below" in first["message"]
    # Recorded as a conflict for the verdict; convergence is judged as before.
    assert fit.diagnostics.prior_notes == ("E: floor prior above the runs",)
    assert fit.ok == healthy_fit.ok


def test_a_reloaded_fit_keeps_its_prior_notes(healthy_fit, tmp_path) -> None:
    import bayescale

    lowest = float(np.min(healthy_fit.runs.y))
    law = healthy_fit.law.with_priors(
        {"E": {"dist": "LogNormal", "mu": float(np.log(3 * lowest)), "sigma": 0.1}}
    )
    fit = _with_posterior(healthy_fit, law)
    fit.prior_checks()
    back = bayescale.load_fit(fit.save(tmp_path / "conflict.nc"))
    assert back.diagnostics.prior_notes == ("E: floor prior above the runs",)
    assert back.diagnostics.verdict() == fit.diagnostics.verdict()


def test_posterior_far_outside_its_prior_is_noted(healthy_fit) -> None:
    before = np.log(healthy_fit.idata.prior["beta"].values.reshape(-1))
    rng = np.random.default_rng(1)
    far = np.exp(before.mean() + 6 * before.std() + 0.01 * rng.standard_normal(_draws(healthy_fit)))
    table = checks.prior_checks(_with_posterior(healthy_fit, beta=far))
    row = table[table["parameter"] == "beta"]
    assert list(row["check"]) == ["shift"]
    assert row["value"].iloc[0] == pytest.approx(6.0, abs=0.3)
    assert "prior-data conflict" in row["message"].iloc[0]


def test_uninformed_and_unidentified_pairs_are_noted(healthy_fit) -> None:
    # A_ref follows its prior; B_ref is its mirror image: only their product is learned.
    rng = np.random.default_rng(2)
    prior = healthy_fit.idata.prior
    log_a = np.log(rng.choice(prior["A_ref"].values.reshape(-1), _draws(healthy_fit)))
    log_b = np.log(prior["B_ref"].values.reshape(-1))
    mirrored = log_b.mean() - (log_a - log_a.mean()) * log_b.std() / log_a.std()
    fit = _with_posterior(healthy_fit, A_ref=np.exp(log_a), B_ref=np.exp(mirrored))
    table = checks.prior_checks(fit)
    uninformed = table[table["check"] == "uninformed"]
    assert set(uninformed["parameter"]) == {"A", "B"}
    assert "the runs did not inform it" in uninformed["message"].iloc[0]
    pair = table[table["check"] == "correlated"]
    assert list(pair["parameter"]) == ["A_ref, B_ref"]
    assert pair["value"].iloc[0] == pytest.approx(-1.0, abs=1e-6)
    assert "only a combination of them" in pair["message"].iloc[0]
    # Not conflicts: nothing for the verdict to name.
    fit.prior_checks()
    assert fit.diagnostics.prior_notes == ()


def test_a_fit_says_its_prior_conflicts_once(healthy_fit, monkeypatch) -> None:
    import warnings

    import bayescale
    from bayescale import fitting

    lowest = float(np.min(healthy_fit.runs.y))
    law = healthy_fit.law.with_priors(
        {"E": {"dist": "LogNormal", "mu": float(np.log(3 * lowest)), "sigma": 0.1}}
    )
    with pytest.warns(UserWarning, match=r"prior checks of law 'chinchilla': .*Give E a prior"):
        fitting._warn_prior_conflicts(_with_posterior(healthy_fit, law))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fit without a conflict says nothing
        fitting._warn_prior_conflicts(healthy_fit)
    # fit() runs the checks on every fit it returns.
    seen = []
    monkeypatch.setattr(fitting, "_warn_prior_conflicts", seen.append)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 20 draws: failed diagnostics
        made = bayescale.fit(
            healthy_fit.runs, "chinchilla", draws=20, tune=20, chains=1, retries=0,
            prior_draws=0, discrepancy="none",
        )  # fmt: skip
    assert seen == [made]


def _piled_at_bound(fit):
    """The fit with alpha's prior Uniform(0.4, 1) and its posterior piled at 0.4."""
    rng = np.random.default_rng(0)
    law = fit.law.with_priors({"alpha": {"dist": "Uniform", "lower": 0.4, "upper": 1.0}})
    piled = 0.4 + np.abs(0.01 * rng.standard_normal(_draws(fit)))
    return _with_posterior(fit, law, alpha=piled)


def _conflict_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "priors conflict" in str(w.message)]


def test_forecasts_from_a_fit_whose_priors_conflict_carry_it_once(healthy_fit) -> None:
    import warnings

    fit = _piled_at_bound(healthy_fit)
    fit.prior_checks()  # records the conflict, as fit() and a report do
    assert fit.diagnostics.prior_notes == ("alpha: at lower bound",)
    at = {"N": [1e10], "D": [2e11]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = fit.forecast(at)
        plan = fit.compute_optimal([1e22])
        again = fit.forecast(at)
    assert _conflict_warnings(caught) == [
        "forecast from a fit whose priors conflict with the runs (alpha: at lower bound): "
        "see fit.prior_checks()"
    ]  # once per fit; every table still carries the notes
    for table in (first, plan, again):
        assert table.attrs["prior_conflicts"] == ["alpha: at lower bound"]
        assert table.attrs["diagnostics_ok"] is True


def test_a_failed_fit_whose_priors_conflict_warns_of_both(starved_fit) -> None:
    import warnings

    fit = _piled_at_bound(starved_fit)
    fit.prior_checks()
    assert not fit.ok and fit.diagnostics.prior_notes == ("alpha: at lower bound",)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = fit.forecast({"N": [1e10], "D": [2e11]})
    messages = [str(w.message) for w in caught]
    assert (
        sum(m.startswith("forecast from a fit that failed its diagnostics") for m in messages) == 1
    )
    assert len(_conflict_warnings(caught)) == 1
    assert table.attrs["prior_conflicts"] == ["alpha: at lower bound"]
    assert "warning" in table.attrs


def test_a_healthy_fits_forecasts_carry_no_prior_conflict(healthy_fit) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no new warning
        table = healthy_fit.forecast({"N": [1e9], "D": [2e10]})
        plan = healthy_fit.compute_optimal([1e20])
    assert "prior_conflicts" not in table.attrs and "prior_conflicts" not in plan.attrs


def test_an_input_the_fitted_law_ignores_is_a_conflict(healthy_fit) -> None:
    # Regression: Muennighoff's data-constrained law typed as a formula fitted to a posterior
    # whose law was constant in D (B's unscaled default prior pushed its term to nothing);
    # the fit passed and no check said a word. Here: the same fit with its D term switched off.
    off = _with_posterior(healthy_fit, B=1e-12 * np.ones(_draws(healthy_fit)))
    table = checks.prior_checks(off)
    row = table[table["check"] == "input ignored"]
    assert list(row["parameter"]) == ["D"], table["message"].tolist()
    assert row["value"].iloc[0] < checks.IGNORED_EFFECT
    message = row["message"].iloc[0]
    assert message.startswith("the fitted law does not depend on input D: across the runs'")
    assert "yet the runs' residuals trend with D (Spearman" in message
    assert "its forecasts ignore D, whatever the runs say of it" in message
    assert "input ignored" in checks.CONFLICTS
    # N still matters, and the healthy fit's own D term does too.
    assert "N" not in set(row["parameter"])
    assert not (healthy_fit.prior_checks()["check"] == "input ignored").any()
    # Runs that show no effect of D either: a law without it is right, and nothing is said.
    flat = healthy_fit.runs
    law = off.law
    y = law.predict(
        {k: np.median(v) for k, v in off.draws(list(law.parameters)).items()},
        {"N": flat.x("N"), "D": flat.x("D")},
    )
    import pandas as pd

    from bayescale import load_runs

    noise = np.exp(0.01 * np.random.default_rng(3).standard_normal(len(flat)))
    frame = pd.DataFrame({"N": flat.x("N"), "D": flat.x("D"), "loss": np.asarray(y) * noise})
    quiet = dataclasses.replace(off, runs=load_runs(frame))
    assert not (checks.prior_checks(quiet)["check"] == "input ignored").any()
