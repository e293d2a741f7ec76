"""Shared fixtures: simulated Chinchilla runs and fits made once per test session.

The first fit of a law in a process compiles its model (about 25 s); later fits of the same
law with the same priors reuse it (about 1 s). So the fits are session fixtures, and the fast
tests use one law (chinchilla) with its default priors, plus one prior override.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayescale

#: Besiroglu et al. 2024's refit of Chinchilla, used as the truth of simulations.
TRUTH = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}

#: Settings of the shared healthy fit: enough for R-hat <= 1.01 and ESS >= 200.
HEALTHY = {"draws": 500, "tune": 500, "chains": 2, "seed": 1}


def chinchilla_loss(N, D, params=TRUTH):
    """The Chinchilla law written out directly (independent of bayescale's formula code)."""
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    return params["E"] + params["A"] / N ** params["alpha"] + params["B"] / D ** params["beta"]


def simulate_runs(N, D, noise=0.01, seed=0, student_t_df=None) -> bayescale.Runs:
    """Runs with loss = law * exp(noise * eps), eps standard normal (or Student-t)."""
    rng = np.random.default_rng(seed)
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    if student_t_df is None:
        eps = rng.standard_normal(N.shape)
    else:
        eps = rng.standard_t(student_t_df, N.shape)
    loss = chinchilla_loss(N, D) * np.exp(noise * eps)
    frame = pd.DataFrame({"params": N, "tokens": D, "loss": loss})
    return bayescale.load_runs(frame, x={"N": "params", "D": "tokens"}, y="loss")


#: The files that take minutes (new processes, notebooks, fresh compile caches). Run first, so
#: that the two processes of `make test` (one file at a time each) finish together rather than
#: one waiting on a long file collected last.
SLOW_FILES = (
    "test_notebooks.py",
    "test_compile_cache_faults.py",
    "test_numba_cache.py",
    "test_catalog_laws.py",
    "test_discrepancy.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the slow files first, keeping every file's tests together and in order."""
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))


@pytest.fixture(scope="session")
def sim_runs() -> bayescale.Runs:
    """60 runs, N in 1e7..3e9 and D in 3e8..1e11 (log-uniform), 1% log-normal noise."""
    rng = np.random.default_rng(20240417)
    N = 10 ** rng.uniform(7.0, 9.5, 60)
    D = 10 ** rng.uniform(8.5, 11.0, 60)
    return simulate_runs(N, D, noise=0.01, seed=7)


@pytest.fixture(scope="session")
def healthy_fit(sim_runs):
    """Chinchilla with default priors fitted to ``sim_runs`` (2 chains x 500 draws)."""
    return bayescale.fit(sim_runs, "chinchilla", **HEALTHY)


@pytest.fixture(scope="session")
def starved_fit(sim_runs):
    """The same fit with far too few draws to converge and no retries: it must be flagged."""
    return bayescale.fit(
        sim_runs, "chinchilla", draws=20, tune=20, chains=2, seed=1, prior_draws=0, retries=0
    )
