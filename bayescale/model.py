"""The one place that builds the PyMC model of a law, and samples it with nutpie.

Sampler choice (measured on the 245 Epoch/Chinchilla points, 4 chains x 1000 draws, 2 cores;
numbers in the README's "Performance" section): nutpie with its low-rank modified mass matrix
needs about 10x fewer gradient evaluations than with a diagonal one and about 30x less wall time
than PyMC's own NUTS. Compiling the model with numba is the dominant cost of a small fit, so a
compiled model is kept per law and reused for new data (inputs, observations and reference
scales are ``pm.Data``), e.g. across the fits of a comparison or a test session; across
processes numba's caches keep the log density and the C callbacks nutpie calls (see
``_numba_cache``), so a new process loads machine code instead of compiling it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from bayescale.data import Runs
from bayescale.formula import Formula, pytensor_ops
from bayescale.laws import Law

__all__ = ["build_model", "log_reference", "sample_posterior", "sample_prior"]

_COMPILED: dict[str, Any] = {}


@contextlib.contextmanager
def _quiet():
    """Silence PyMC's informational logging and PyTensor's BLAS notice for one call.

    Laws are elementwise, so PyTensor's warning that it found no BLAS library is irrelevant
    here; the setting is computed lazily on first use, so it is resolved once under a filter.
    """
    import pytensor

    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
            warnings.simplefilter("ignore", FutureWarning)
            _ = pytensor.config.blas__ldflags
            yield
    finally:
        pymc_log.setLevel(level)


def log_reference(law: Law, runs: Runs) -> dict[str, float]:
    """Return the log reference scale of each input a parameter is stated at.

    Parameters
    ----------
    law : Law
        The law.
    runs : Runs
        The runs; the reference of an input is the mean of its log (geometric mean).

    Returns
    -------
    dict of str to float
        ``{input: mean(log(input))}`` for the inputs that reference-scale parameters use.
    """
    used = sorted({p.reference[0] for p in law.parameters.values() if p.reference})
    return {name: float(np.mean(np.log(runs.x(name)))) for name in used}


def _data_values(law: Law, runs: Runs, log_ref: Mapping[str, float]) -> dict[str, np.ndarray]:
    # One matrix for everything per run (the inputs, then log y): its rows share one length
    # by construction, so the graph needs no broadcast checks between them. Those checks made
    # PyTensor's order of nodes, hence its numba cache key, change from process to process.
    per_run = [runs.x(name) for name in law.inputs] + [np.log(runs.y)]
    values = {"per_run": np.vstack(per_run)}
    # Every shared variable costs seconds of compiling a law's first fit: one vector holds
    # the log reference scales (in the order of log_ref's keys, which are sorted).
    if log_ref:
        values["log_ref"] = np.array([log_ref[name] for name in sorted(log_ref)])
    return values


def build_model(law: Law, runs: Runs, log_ref: Mapping[str, float] | None = None):
    """Build the PyMC model of ``log y ~ family(log L(x; theta), sigma)``.

    Parameters
    ----------
    law : Law
        The law, with its priors and likelihood.
    runs : Runs
        Observed runs; every input of the law must be present.
    log_ref : mapping, optional
        Log reference scales (see :func:`log_reference`); computed from ``runs`` if omitted.

    Returns
    -------
    pymc.Model
        Free variables are the law's parameters (``A_ref`` for a reference-scale ``A``, with
        ``A`` as a deterministic), ``sigma`` and, for Student-t, ``nu``; the observed variable
        is ``y`` (the log of the measured values), over the dimension ``run``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    ops = pytensor_ops()
    log_ref = dict(log_reference(law, runs) if log_ref is None else log_ref)
    values = _data_values(law, runs, log_ref)
    with pm.Model(coords={"run": np.arange(len(runs))}) as model:
        data = {name: pm.Data(name, value) for name, value in values.items()}
        per_run = data.pop("per_run")
        data.update({name: per_run[i] for i, name in enumerate([*law.inputs, "log_y"])})
        if log_ref:
            log_refs = data.pop("log_ref")
            data.update({f"log_{n}_ref": log_refs[i] for i, n in enumerate(sorted(log_ref))})
        params: dict[str, Any] = {}
        log_params: dict[str, Any] = {}
        # Parameters without a reference first: reference powers are formulas over them.
        ordered = sorted(law.parameters.values(), key=lambda p: p.reference is not None)
        for p in ordered:
            if p.reference is None:
                params[p.name] = p.prior.create_variable(p.name)
                continue
            inp, power = p.reference
            at_ref = p.prior.create_variable(p.sampled_name)
            exponent = Formula(power).evaluate(params, ops)
            log_params[p.name] = pt.log(at_ref) + exponent * data[f"log_{inp}_ref"]
            params[p.name] = pm.Deterministic(p.name, pt.exp(log_params[p.name]))
        inputs = {name: data[name] for name in law.inputs}
        mu = law.log_mean(params, inputs, ops=ops, log_params=log_params)
        law.likelihood.observe("y", mu, observed=data["log_y"], dims="run")
    return model


def _compiled(law: Law, runs: Runs, log_ref: Mapping[str, float]):
    # Everything compiled into the graph, and nothing else (not the prose), makes the key.
    spec = law.to_dict()
    key = json.dumps(
        {
            "formula": spec["formula"],
            "inputs": list(spec["inputs"]),
            "parameters": {
                name: [entry["prior"], entry.get("at_reference")]
                for name, entry in spec["parameters"].items()
            },
            "likelihood": [
                spec["likelihood"]["family"],
                spec["likelihood"]["sigma"],
                spec["likelihood"].get("nu"),
            ],
        },
        sort_keys=True,
    )
    compiled = _COMPILED.get(key)
    if compiled is None:
        from bayescale import _numba_cache

        with _quiet():
            compiled = _numba_cache.compile_model(build_model(law, runs, log_ref))
        _COMPILED[key] = compiled
        return compiled
    return compiled.with_data(**_data_values(law, runs, log_ref))


def sample_posterior(
    law: Law,
    runs: Runs,
    log_ref: Mapping[str, float],
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    target_accept: float = 0.95,
    progress: bool = False,
):
    """Sample the posterior with nutpie (low-rank modified mass matrix).

    Parameters
    ----------
    law, runs, log_ref
        As in :func:`build_model`.
    draws, tune, chains : int
        Draws kept and tuning steps per chain, number of chains.
    seed : int
        Seed of the sampler; the same seed and data give the same draws.
    target_accept : float, default 0.95
        Step-size adaptation target; raise it (0.95, 0.99) if a fit reports divergences.
    progress : bool, default False
        Show nutpie's progress bar.

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior`` and ``sample_stats``.

    Raises
    ------
    KeyboardInterrupt
        If sampling is interrupted (Ctrl-C). The sampler is stopped and its partial
        draws discarded: nutpie would return them, padded with NaN, as if complete.
    """
    import nutpie

    compiled = _compiled(law, runs, log_ref)
    with _quiet():
        sampler = nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, os.cpu_count() or 1),
            seed=seed,
            target_accept=target_accept,
            low_rank_modified_mass_matrix=True,
            save_warmup=False,
            progress_bar=progress,
            blocking=False,
        )
        try:
            return sampler.wait()
        except BaseException:
            sampler.cancel()
            raise


def sample_prior(law: Law, runs: Runs, log_ref: Mapping[str, float], draws: int, seed: int):
    """Draw from the prior of every parameter (for prior-vs-posterior plots and checks).

    Parameters
    ----------
    law, runs, log_ref
        As in :func:`build_model`.
    draws : int
        Number of prior draws.
    seed : int
        Random seed.

    Returns
    -------
    xarray.Dataset
        One variable per parameter (reference-scale ones both ways) and the noise
        parameters, over ``(chain, draw)`` with one chain.
    """
    import pymc as pm

    model = build_model(law, runs, log_ref)
    names = [v.name for v in model.free_RVs] + [v.name for v in model.deterministics]
    with _quiet():
        prior = pm.sample_prior_predictive(
            draws=draws, model=model, var_names=names, random_seed=seed
        )
    return prior.prior
