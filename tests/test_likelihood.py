"""The observation model: one object gives PyMC, log density, CDF and new-run noise alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bayescale.laws import prior_from_spec
from bayescale.likelihood import FAMILIES, Likelihood

STUDENT = Likelihood("student_t")
NORMAL = Likelihood("normal", nu=None)
RNG = np.random.default_rng(11)
LOG_Y = RNG.normal(0.7, 0.05, size=(1, 40))
LOG_MU = RNG.normal(0.7, 0.05, size=(25, 40))
NOISE = {"sigma": RNG.uniform(0.005, 0.05, (25, 1)), "nu": RNG.uniform(1.5, 30.0, (25, 1))}


def test_logpdf_and_cdf_are_scipys_with_location_and_scale():
    expected = stats.t.logpdf(LOG_Y, df=NOISE["nu"], loc=LOG_MU, scale=NOISE["sigma"])
    np.testing.assert_allclose(STUDENT.logpdf(LOG_Y, LOG_MU, NOISE), expected, rtol=1e-12)
    expected = stats.norm.logpdf(LOG_Y, loc=LOG_MU, scale=NOISE["sigma"])
    np.testing.assert_allclose(NORMAL.logpdf(LOG_Y, LOG_MU, NOISE), expected, rtol=1e-12)
    expected = stats.t.cdf(LOG_Y, df=NOISE["nu"], loc=LOG_MU, scale=NOISE["sigma"])
    np.testing.assert_allclose(STUDENT.cdf(LOG_Y, LOG_MU, NOISE), expected, rtol=1e-12)
    expected = stats.norm.cdf(LOG_Y, loc=LOG_MU, scale=NOISE["sigma"])
    np.testing.assert_allclose(NORMAL.cdf(LOG_Y, LOG_MU, NOISE), expected, rtol=1e-12)


def test_draw_noise_follows_the_family_and_the_seed():
    n = 100_000
    noise = {"sigma": np.full(n, 0.02), "nu": np.full(n, 3.0)}
    heavy = STUDENT.draw_noise(noise, seed=1)
    light = NORMAL.draw_noise(noise, seed=1)
    assert stats.kstest(heavy / 0.02, stats.t(df=3.0).cdf).pvalue > 1e-3
    assert stats.kstest(light / 0.02, stats.norm.cdf).pvalue > 1e-3
    np.testing.assert_array_equal(heavy, STUDENT.draw_noise(noise, seed=1))
    grid = STUDENT.draw_noise({k: v[:10, None] for k, v in noise.items()}, 2, shape=(10, 7))
    assert grid.shape == (10, 7) and len(np.unique(grid)) == 70


def test_observe_builds_the_same_density_in_pymc():
    import pymc as pm

    log_y = LOG_Y[0]
    for lik in (STUDENT, NORMAL):
        with pm.Model() as model:
            lik.observe("y", 0.7, observed=log_y)
        point = {"sigma_log__": np.log(0.03), "nu_log__": np.log(4.0)}
        point = {k: v for k, v in point.items() if k in {v.name for v in model.value_vars}}
        logp = model.compile_logp(vars=[model["y"]])(point)
        noise = {"sigma": np.array(0.03), "nu": np.array(4.0)}
        assert logp == pytest.approx(lik.logpdf(log_y, 0.7, noise).sum(), rel=1e-10)
        assert [v.name for v in model.free_RVs] == list(lik.noise_names)


def test_priors_and_replacements():
    assert STUDENT.noise_names == ("sigma", "nu") and NORMAL.noise_names == ("sigma",)
    assert STUDENT.title == "Student-t" and NORMAL.title == "normal"
    tight = prior_from_spec({"dist": "HalfNormal", "sigma": 0.01}, "test")
    assert STUDENT.with_prior("sigma", tight).priors["sigma"] is tight
    with pytest.raises(KeyError):
        NORMAL.with_prior("nu", tight)
    with pytest.raises(ValueError, match="needs a prior for nu"):
        _ = Likelihood("student_t", nu=None).priors
    with pytest.raises(ValueError, match="family must be one of"):
        _ = Likelihood("cauchy").noise_names
    assert set(FAMILIES) == {"student_t", "normal"}


def test_no_other_module_branches_on_the_noise_family():
    # Adding a family (e.g. additive noise) must be one file: nothing else names one.
    package = Path(__file__).resolve().parents[1] / "bayescale"
    for path in package.rglob("*.py"):
        if path.name != "likelihood.py":
            assert '"student_t"' not in path.read_text(), path


def test_default_scale_is_multiplicative_and_unchanged():
    assert STUDENT.scale == "log" and STUDENT.to_dict()["scale"] == "log"
    assert "Student-t" in STUDENT.title and "multiplicative noise on log y" in STUDENT.describe()
    y = np.exp(LOG_Y)
    np.testing.assert_allclose(STUDENT.transform(y), LOG_Y, rtol=1e-12)
    # Densities of y and of log y differ by the Jacobian only.
    np.testing.assert_allclose(
        STUDENT.logpdf_y(y, LOG_MU, NOISE), STUDENT.logpdf(LOG_Y, LOG_MU, NOISE) - LOG_Y
    )
    np.testing.assert_allclose(
        STUDENT.cdf_y(2.0, LOG_MU, NOISE), STUDENT.cdf(np.log(2.0), LOG_MU, NOISE)
    )
