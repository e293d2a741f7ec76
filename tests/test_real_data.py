"""Chinchilla on the 245 runs extracted from Hoffmann et al.'s figure (Besiroglu et al. 2024)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bayescale

pytestmark = pytest.mark.slow

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHINCHILLA_CSV = SHARED_DATA / "chinchilla" / "svg_extracted_data.csv"


@pytest.fixture(scope="module")
def real_fit():
    if not CHINCHILLA_CSV.is_file():
        pytest.skip(f"the Chinchilla data is not available at {CHINCHILLA_CSV}")
    runs = bayescale.load_runs(CHINCHILLA_CSV, x={"N": "Model Size", "C": "Training FLOP"})
    assert len(runs) == 245
    assert runs.columns["D"] == "derived: C / (6 N)"
    # The package defaults: 4 chains x 1000 draws.
    return bayescale.fit(runs, "chinchilla", seed=0)


def test_diagnostics_pass(real_fit):
    assert real_fit.ok, real_fit.diagnostics.verdict()
    assert (real_fit.diagnostics.chains, real_fit.diagnostics.draws) == (4, 1000)


def test_posterior_matches_the_besiroglu_refit(real_fit):
    # Besiroglu et al. 2024: E = 1.82, alpha = 0.35, beta = 0.37 (Huber loss fit);
    # with the default priors and 4 x 1000 draws: E ~ 1.805, alpha ~ 0.342, beta ~ 0.362.
    median = real_fit.summary()["median"]
    assert 1.7 <= median["E"] <= 1.95, median["E"]
    assert 0.30 <= median["alpha"] <= 0.40, median["alpha"]
    assert 0.32 <= median["beta"] <= 0.42, median["beta"]


def test_chinchilla_forecast_is_sensible(real_fit):
    # Chinchilla itself: 70B parameters, 1.4T tokens; Gopher: 280B parameters, 300B tokens.
    # The law says Chinchilla's loss is lower (that is the paper's point), above the floor.
    table = real_fit.forecast({"N": [7e10, 2.8e11], "D": [1.4e12, 3e11]})
    chinchilla, gopher = table["law_median"]
    assert chinchilla < gopher
    e = real_fit.summary().loc["E", "median"]
    assert e < chinchilla < e + 0.5
    assert np.all(table["law_lower_90"] < table["law_upper_90"])
