"""Additive noise on y, for metrics that can be zero or negative (scale = "linear").

Most tests build a Fit from hand-made posterior draws, so that everything downstream of the
sampler (forecasts, probabilities, LOO, checks, comparisons) is checked against closed forms
without sampling; one small fit checks the whole path, and its predictive coverage.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayescale.checks import posterior_predictive
from bayescale.comparison import _as_density_of_y, _log_density
from bayescale.data import load_runs, log_inputs
from bayescale.discrepancy import backtest
from bayescale.errors import DataError, LawError
from bayescale.fitting import Fit, fit, pointwise_log_likelihood
from bayescale.forecast import forecast_points, law_value
from bayescale.laws import Law
from bayescale.likelihood import Likelihood
from bayescale.planning import prob_below_draws

ADDITIVE = Likelihood("normal", nu=None, scale="linear")
# A unigram-normalised loss: the floor E is below zero, so the metric crosses zero.
TRUTH = {"E": -0.5, "A": 40.0, "alpha": 0.3}
SIGMA = 0.02
PRIORS = {
    "E": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "A": {"dist": "LogNormal", "mu": 3.0, "sigma": 1.0},
    "alpha": {"dist": "Gamma", "alpha": 6.0, "beta": 20.0},
}


def _law(likelihood: Likelihood = ADDITIVE, formula: str = "E + A / N**alpha") -> Law:
    return Law.from_formula(formula, PRIORS, name="normalised", likelihood=likelihood)


def _runs(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = np.geomspace(1e6, 1e9, n)
    mean = TRUTH["E"] + TRUTH["A"] / size ** TRUTH["alpha"]
    return pd.DataFrame({"N": size, "loss": mean + SIGMA * rng.standard_normal(n)})


def _fake_fit(law: Law, frame: pd.DataFrame, draws: int = 400, seed: int = 1) -> Fit:
    """A Fit whose posterior is the truth with small scatter: no sampling needed."""
    rng = np.random.default_rng(seed)
    shape = (2, draws // 2)
    posterior = {
        name: value * (1 + 0.01 * rng.standard_normal(shape)) for name, value in TRUTH.items()
    }
    posterior["sigma"] = SIGMA * (1 + 0.05 * rng.standard_normal(shape))
    if "nu" in law.likelihood.noise_names:
        posterior["nu"] = np.full(shape, 5.0)
    idata = az.from_dict(posterior=posterior, sample_stats={"diverging": np.zeros(shape, bool)})
    runs = load_runs(frame)
    return Fit(law, runs, idata, {}, 0, {"target_accept": 0.95})


# --------------------------------------------------------------------------- the likelihood


def test_scale_round_trips_and_is_described():
    spec = ADDITIVE.to_dict()
    assert spec["scale"] == "linear"
    assert Likelihood.from_dict(spec, "test") == ADDITIVE
    assert Likelihood.from_dict({}, "test").scale == "log"
    assert "additive noise on y" in ADDITIVE.describe()
    assert "sigma in units of y" in ADDITIVE.describe()
    assert "multiplicative noise on log y" in Likelihood().describe()
    law = _law()
    assert Law.from_dict(law.to_dict()).likelihood.scale == "linear"
    with pytest.raises(LawError, match=r"likelihood.scale = 'cubic': unknown; use 'log'"):
        Likelihood.from_dict({"scale": "cubic"}, "law.toml: likelihood")


def test_law_file_states_the_scale():
    text = """
name = "normalised"
formula = "E + A / N**alpha"
[inputs]
N = "parameters"
[parameters.E]
prior = { dist = "Normal", mu = 0.0, sigma = 1.0 }
role = "floor"
[parameters.A]
prior = { dist = "LogNormal", mu = 3.0, sigma = 1.0 }
role = "coefficient"
[parameters.alpha]
prior = { dist = "Gamma", alpha = 6.0, beta = 20.0 }
role = "exponent"
[likelihood]
family = "normal"
scale = "linear"
"""
    assert Law.from_toml(text).likelihood.scale == "linear"
    with pytest.raises(LawError, match="scale = 'logit': unknown"):
        Law.from_toml(text.replace('scale = "linear"', 'scale = "logit"'))


def test_transform_inverse_and_densities_of_y():
    y = np.array([-0.3, 0.0, 0.4])
    np.testing.assert_array_equal(ADDITIVE.transform(y), y)
    np.testing.assert_array_equal(ADDITIVE.inverse(y), y)
    log = Likelihood("normal", nu=None)
    np.testing.assert_allclose(log.inverse(log.transform(np.array([0.5, 2.0]))), [0.5, 2.0])
    with pytest.raises(DataError, match="multiplicative noise takes log"):
        log.transform(y)
    noise = {"sigma": np.array([[0.1]])}
    np.testing.assert_allclose(
        ADDITIVE.logpdf_y(y, 0.1, noise), stats.norm.logpdf(y, 0.1, 0.1)[None, :]
    )
    # The density of y under multiplicative noise is log-normal: the Jacobian 1/y included.
    positive = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(
        log.logpdf_y(positive, np.log(0.8), noise),
        stats.lognorm.logpdf(positive, s=0.1, scale=0.8)[None, :],
        rtol=1e-12,
    )
    assert ADDITIVE.cdf_y(-0.1, 0.0, noise) == pytest.approx(stats.norm.cdf(-1.0))
    assert log.cdf_y(-0.1, 0.0, noise) == 0.0


# --------------------------------------------------------------------------- data


def test_negative_metric_loads_and_a_log_scale_fit_refuses_it():
    frame = _runs()
    assert (frame["loss"] < 0).any() and (frame["loss"] > 0).any()
    runs = load_runs(frame)
    runs.require_law(_law())
    with pytest.raises(DataError) as info:
        fit(runs, _law(Likelihood()), draws=200, tune=200, chains=2)
    message = str(info.value)
    assert "column 'loss' (y) row" in message and "which is not > 0" in message
    assert "multiplicative noise (law 'normalised') takes log(loss)" in message
    assert "scale='linear'" in message


def test_inputs_not_under_a_logarithm_may_be_zero_or_negative():
    law = Law.from_formula(
        "E + A / N**alpha + c * lr",
        {**PRIORS, "c": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}},
        name="with_lr",
        likelihood=ADDITIVE,
    )
    assert log_inputs(law) == ("N",)
    frame = _runs(10).assign(lr=np.linspace(-1.0, 1.0, 10))
    load_runs(frame, x={"N": "N", "lr": "lr"}).require_law(law)
    bad = frame.assign(N=np.where(np.arange(10) == 3, 0.0, frame["N"]))
    with pytest.raises(DataError, match=r"row 4 has 0\.0.*takes the logarithm of N"):
        load_runs(bad, x={"N": "N", "lr": "lr"}).require_law(law)
    points = forecast_points(law, {"N": [1e9, 2e9], "lr": [0.0, -0.5]})
    assert points["lr"].tolist() == [0.0, -0.5]
    with pytest.raises(DataError, match="takes the logarithm of N"):
        forecast_points(law, {"N": [-1.0], "lr": [0.0]})


# --------------------------------------------------------------------------- downstream


def test_forecast_adds_the_noise_to_the_law():
    law = _law()
    fake = _fake_fit(law, _runs())
    at = {"N": [1e6, 1e10]}
    table = fake.forecast(at, level=0.9)
    draws = fake.draws()
    value = law_value(law, {k: draws[k][None, :] for k in TRUTH}, {"N": np.array(at["N"])[:, None]})
    np.testing.assert_allclose(table["law_median"], np.median(value, axis=1), rtol=1e-5)
    assert table["law_median"].iloc[1] < 0  # the metric crosses zero: no log was taken
    noise = law.likelihood.draw_noise(draws, fake.seed)
    expected = np.quantile(value + noise[None, :], [0.05, 0.95], axis=1)
    np.testing.assert_allclose(table["pred_lower_90"], expected[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(table["pred_upper_90"], expected[1], rtol=1e-4, atol=1e-6)
    # Additive noise: the interval is at least +-1.645 sigma in y units wide at every scale.
    width = table["pred_upper_90"] - table["pred_lower_90"]
    assert np.all(width > table["law_upper_90"] - table["law_lower_90"])
    assert np.all(width > 0.9 * 2 * 1.645 * SIGMA)


def test_probability_below_uses_the_additive_cdf():
    law = _law()
    values = np.array([[-0.1], [0.1]])
    noise = {"sigma": np.array([0.1, 0.1])}
    law_p, run_p = prob_below_draws(values, 0.0, law.likelihood, noise)
    assert law_p[0] == 0.5
    expected = (stats.norm.cdf(1.0) + stats.norm.cdf(-1.0)) / 2
    assert run_p[0] == pytest.approx(expected)


def test_pointwise_log_likelihood_and_posterior_predictive_are_on_y():
    law = _law()
    frame = _runs()
    fake = _fake_fit(law, frame)
    loglik = pointwise_log_likelihood(law, fake.runs, fake.idata.posterior)["y"].values
    post = fake.idata.posterior
    mean = (
        post["E"].values[..., None]
        + post["A"].values[..., None] / frame["N"].to_numpy() ** post["alpha"].values[..., None]
    )
    expected = stats.norm.logpdf(frame["loss"].to_numpy(), mean, post["sigma"].values[..., None])
    np.testing.assert_allclose(loglik, expected, rtol=1e-10)
    replicated = posterior_predictive(fake, seed=3).posterior_predictive["loss"].values
    assert (replicated < 0).any() and (replicated > 0).any()
    residual = (replicated - mean) / post["sigma"].values[..., None]
    assert abs(residual.std() - 1) < 0.05 and abs(residual.mean()) < 0.05


def test_densities_of_different_scales_are_made_comparable():
    frame = _runs()
    frame["loss"] = frame["loss"] + 1.0  # positive: both scales apply
    truth = dict(TRUTH, E=TRUTH["E"] + 1.0)
    additive = _fake_fit(_law(), frame)
    additive.idata.posterior["E"] = additive.idata.posterior["E"] - TRUTH["E"] + truth["E"]
    multiplicative = _fake_fit(_law(Likelihood("normal", nu=None)), frame)
    multiplicative.idata.posterior["E"] = additive.idata.posterior["E"]
    # Relative noise of about SIGMA / loss: the same scatter, stated on log y.
    multiplicative.idata.posterior["sigma"] = additive.idata.posterior["sigma"] / 0.8
    y = additive.runs.y
    idata = multiplicative.with_log_likelihood()
    on_y = _as_density_of_y(idata, multiplicative)
    np.testing.assert_allclose(
        on_y.log_likelihood["y"].values, idata.log_likelihood["y"].values - np.log(y)
    )
    assert _as_density_of_y(additive.with_log_likelihood(), additive) is additive.idata
    # Held-out densities of y: the two laws describe nearly the same data, so nearly equal.
    native = _log_density(multiplicative, additive.runs)
    np.testing.assert_allclose(
        _log_density(multiplicative, additive.runs, of_y=True), native - np.log(y)
    )
    gap = _log_density(additive, additive.runs, of_y=True).mean() - (native - np.log(y)).mean()
    assert abs(gap) < 0.5


def test_backtest_discrepancy_refuses_additive_noise():
    fake = _fake_fit(_law(), _runs())
    with pytest.raises(DataError, match="backtest discrepancy is learned on log loss"):
        backtest(fake)


# --------------------------------------------------------------------------- one real fit


@pytest.mark.slow
def test_additive_fit_forecasts_and_covers_new_runs():
    frame = _runs(60, seed=4)
    result = fit(frame, _law(), draws=200, tune=200, chains=2, seed=5, prior_draws=0)
    # By default no discrepancy for additive noise (it is learned on log loss), said so.
    assert result.discrepancy is None and "additive noise" in result.info["discrepancy_note"]
    summary = result.summary()
    assert summary.loc["E", "hdi_90_lower"] < TRUTH["E"] < summary.loc["E", "hdi_90_upper"]
    assert summary.loc["sigma", "median"] == pytest.approx(SIGMA, rel=0.3)
    # New runs at the same sizes: about 90% inside the 90% predictive interval.
    rng = np.random.default_rng(9)
    size = frame["N"].to_numpy()
    fresh = (
        TRUTH["E"]
        + TRUTH["A"] / size ** TRUTH["alpha"]
        + SIGMA * rng.standard_normal((20, size.size))
    )
    table = result.forecast({"N": size}, level=0.9)
    inside = (fresh >= table["pred_lower_90"].to_numpy()) & (
        fresh <= table["pred_upper_90"].to_numpy()
    )
    assert 0.8 <= inside.mean() <= 0.97
    assert (table["law_median"] < 0).any() and (table["law_median"] > 0).any()
    loo = az.loo(result.with_log_likelihood())
    assert np.isfinite(loo.elpd_loo)
