"""The timed methods, each run in its own fresh Python process by ``bench/run.py``.

``python -m bench.workers TASK --params JSON --out FILE`` runs one task (or several, joined by
commas, sharing the process) and writes its result as JSON: the phases it timed (exclusive
wall and CPU seconds, so that they add up to the task's total) and its metrics. Only the
standard library is imported at the top, so that every method's own imports are timed in its
"import" phase; the parent measures the whole process (interpreter start to exit) from outside.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- phase timer


class Phases:
    """Exclusive wall and CPU time of named phases; nested phases are subtracted from parents.

    Use as ``with phases("sampling"): ...``. Times of the same name add up.
    """

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = {}
        self._stack: list[list[float]] = []  # per open phase: [child wall, child cpu]

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Time one phase."""
        self._stack.append([0.0, 0.0])
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            child_wall, child_cpu = self._stack.pop()
            row = self.rows.setdefault(name, {"wall": 0.0, "cpu": 0.0})
            row["wall"] += wall - child_wall
            row["cpu"] += cpu - child_cpu
            if self._stack:
                self._stack[-1][0] += wall
                self._stack[-1][1] += cpu

    def total(self) -> float:
        """Sum of the phases' wall times."""
        return sum(row["wall"] for row in self.rows.values())


#: The phase timer that patched library functions report to (switched between fits).
CURRENT: list[Phases] = [Phases()]
#: Epoch time at which the task's method was done (before any extra measurements after it).
DONE: list[float | None] = [None]


def mark_done() -> None:
    """Record that the timed method has finished; later work is extra measurements."""
    if DONE[0] is None:
        DONE[0] = time.time()


def _patch(owner: Any, name: str, label: str, classmethod_: bool = False) -> None:
    """Wrap ``owner.name`` so that its calls are timed as phase ``label`` of :data:`CURRENT`."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        with CURRENT[0](label):
            return original(*args, **kwargs)

    if classmethod_:
        setattr(owner, name, classmethod(lambda cls, *a, **k: timed(*a, **k)))
    else:
        setattr(owner, name, timed)


# --------------------------------------------------------------------------- helpers

LAW_PARAMETERS = ("E", "A", "B", "alpha", "beta")


def _convergence(posterior: Mapping[str, Any]) -> dict[str, float]:
    """Min bulk and tail ESS and max R-hat (ArviZ) over arrays of shape (chains, draws)."""
    import arviz as az
    import numpy as np

    data = az.convert_to_dataset({k: np.asarray(v, dtype=float) for k, v in posterior.items()})
    return {
        "ess_bulk_min": float(az.ess(data, method="bulk").to_array().min()),
        "ess_tail_min": float(az.ess(data, method="tail").to_array().min()),
        "r_hat_max": float(az.rhat(data).to_array().max()),
    }


def _means(posterior: Mapping[str, Any]) -> dict[str, float]:
    import numpy as np

    return {k: float(np.mean(v)) for k, v in posterior.items()}


def _epoch_runs() -> Any:
    import bayescale
    from bench import common

    return bayescale.load_runs(
        common.EPOCH_CSV, x={"N": "Model Size", "C": "Training FLOP"}, y="loss"
    )


def _runs_from_frame(frame: Any, inputs: tuple[str, ...]) -> Any:
    import warnings

    import bayescale

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayescale.DataWarning)  # duplicated rows in farseer
        return bayescale.load_runs(
            frame[[*inputs, "loss"]], x={name: name for name in inputs}, y="loss"
        )


def _patch_bayescale() -> None:
    """Time the phases of ``bayescale.fit`` from outside (no library change)."""
    import nutpie.compile_pymc

    import bayescale.fitting
    import bayescale.model

    _patch(bayescale.model, "compiled_model", "compile: numba (log density, C callbacks)")
    _patch(bayescale.model, "build_model", "build model (PyMC graph)")
    _patch(nutpie.compile_pymc, "_make_functions", "compile: PyTensor rewrites, code generation")
    _patch(bayescale.model, "sample_posterior", "sampling (nutpie)")
    _patch(bayescale.fitting, "_data_groups", "data groups (observed, inputs)")
    _patch(bayescale.model, "sample_prior", "prior draws")
    _patch(bayescale.fitting.Diagnostics, "of", "diagnostics (ArviZ)", classmethod_=True)


def _use_nutpie_callbacks() -> None:
    """Compile with nutpie's own C callbacks (uncacheable), as bayescale did before its own."""
    import nutpie

    import bayescale._numba_cache

    def compile_model(model: Any) -> Any:
        bayescale._numba_cache.register()
        return nutpie.compile_pymc_model(model)

    bayescale._numba_cache.compile_model = compile_model


def _fit_record(result: Any) -> dict[str, Any]:
    """Metrics of a bayescale fit: ESS over the law parameters, steps, divergences, means."""
    import numpy as np

    table = result.diagnostics.table.loc[list(LAW_PARAMETERS)]
    stats = result.idata.sample_stats
    return {
        "ess_bulk_min": float(table["ess_bulk"].min()),
        "ess_tail_min": float(table["ess_tail"].min()),
        "r_hat_max": float(table["r_hat"].max()),
        "divergences": int(result.diagnostics.divergences),
        "steps_sampling": int(np.asarray(stats["n_steps"]).sum()),
        "ok": bool(result.ok),
        "means": _means({k: result.idata.posterior[k].values for k in LAW_PARAMETERS}),
    }


def _gradient_cost(compiled: Any, point: Any, calls: int = 3000, repeats: int = 7) -> dict:
    """Seconds per call of nutpie's compiled logp+gradient (numba C callback), via ctypes.

    The cost of an empty C callback of the same signature, called the same way, is
    subtracted: what remains is the work of one log-density gradient.
    """
    import ctypes

    import numba
    import numpy as np

    n = int(compiled.n_dim)
    x = np.ascontiguousarray(point, dtype=float)
    grad, logp = np.zeros(n), np.zeros(())
    pointer = ctypes.POINTER(ctypes.c_double)
    args = (
        n,
        x.ctypes.data_as(pointer),
        grad.ctypes.data_as(pointer),
        logp.ctypes.data_as(pointer),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )

    @numba.cfunc(compiled.compiled_logp_func._sig)
    def empty(dim, x_, out_, logp_, user_data_):  # type: ignore[no-untyped-def]
        return 0

    def best(fn: Callable[..., int]) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                fn(*args)
            times.append((time.perf_counter() - start) / calls)
        return min(times)

    status = compiled.compiled_logp_func.ctypes(*args)
    full, overhead = best(compiled.compiled_logp_func.ctypes), best(empty.ctypes)
    return {
        "seconds": max(full - overhead, 0.0),
        "call_overhead": overhead,
        "status": int(status),
        "logp": float(logp),
    }


# --------------------------------------------------------------------------- tasks


def task_bayescale(p: Mapping[str, Any], ph: Phases) -> dict[str, Any]:
    """bayescale on the Epoch data (the law's fit alone unless ``p["discrepancy"]`` says
    otherwise), then a warm refit, the floor, settings."""
    with ph("import"):
        import numpy as np
        import nutpie

        import bayescale
        import bayescale.fitting
        import bayescale.model
    with ph("data"):
        runs = _epoch_runs()
    if p.get("nutpie_callbacks"):
        _use_nutpie_callbacks()
    _patch_bayescale()
    settings = {k: p[k] for k in ("draws", "tune", "chains")}
    with ph("fit: other"):
        result = bayescale.fit(
            runs,
            "chinchilla",
            seed=p["seed"],
            discrepancy=p.get("discrepancy", "none"),
            **settings,
        )
    mark_done()
    out: dict[str, Any] = {"fit": _fit_record(result)}
    if not p.get("extras", True):
        return out

    # The same fit again in the same process: the compiled model is reused.
    warm = Phases()
    CURRENT[0] = warm
    with warm("fit: other"):
        again = bayescale.fit(
            runs, "chinchilla", seed=p["seed"] + 1, discrepancy="none", **settings
        )
    CURRENT[0] = Phases()  # later fits are not part of any reported phase table
    out["warm"] = {"phases": warm.rows, "total": warm.total(), "fit": _fit_record(again)}

    # The floor: one gradient's cost times every gradient NUTS used (warmup included).
    compiled = next(iter(bayescale.model._COMPILED.values()))
    names = compiled.shape_info[0]
    post = result.idata.posterior
    point = np.array(
        [
            np.log(float(post[n.removesuffix("_log__")].mean()))
            if n.endswith("_log__")
            else float(post[n].mean())
            for n in names
        ]
    )
    cost = _gradient_cost(compiled, point)
    cores = min(p["chains"], os.cpu_count() or 1)
    with bayescale.model._quiet():
        start = time.perf_counter()
        trace = nutpie.sample(
            compiled,
            draws=p["draws"],
            tune=p["tune"],
            chains=p["chains"],
            cores=cores,
            seed=p["seed"],
            target_accept=0.95,
            low_rank_modified_mass_matrix=True,
            save_warmup=True,
            progress_bar=False,
        )
        sampling = time.perf_counter() - start
    steps_warm = int(np.asarray(trace.warmup_sample_stats["n_steps"]).sum())
    steps_draw = int(np.asarray(trace.sample_stats["n_steps"]).sum())
    per_chain = [
        int(np.asarray(trace.warmup_sample_stats["n_steps"][c]).sum())
        + int(np.asarray(trace.sample_stats["n_steps"][c]).sum())
        for c in range(p["chains"])
    ]
    out["floor"] = {
        "gradient_seconds": cost["seconds"],
        "call_overhead_seconds": cost["call_overhead"],
        "logp_at_point": cost["logp"],
        "steps_warmup": steps_warm,
        "steps_sampling": steps_draw,
        "steps_per_chain": per_chain,
        "cores": cores,
        "sampling_wall": sampling,
        "floor_cpu": cost["seconds"] * (steps_warm + steps_draw),
        # Chains run in parallel on the cores: the wall floor is the busiest core's share.
        "floor_wall": cost["seconds"] * _busiest_core(per_chain, cores),
        "n_runs": len(runs),
    }

    # Sampler settings: the shipped ones against cheaper ones, on the warm compiled model.
    variants = []
    for label, kwargs in p.get("variants", []):
        phases = Phases()
        CURRENT[0] = phases
        with phases("fit: other"):
            fitted = bayescale.fit(
                runs,
                "chinchilla",
                seed=p["seed"] + 2,
                discrepancy="none",
                **{**settings, **kwargs},
            )
        CURRENT[0] = Phases()
        variants.append(
            {
                "label": label,
                "settings": kwargs,
                "sampling": phases.rows.get("sampling (nutpie)", {}).get("wall", float("nan")),
                "total": phases.total(),
                "fit": _fit_record(fitted),
            }
        )
    out["variants"] = variants
    return out


def _busiest_core(per_chain: list[int], cores: int) -> int:
    """Gradient evaluations on the busiest core when chains are dealt to cores greedily."""
    loads = [0] * max(cores, 1)
    for steps in sorted(per_chain, reverse=True):
        loads[loads.index(min(loads))] += steps
    return max(loads)


def task_profile(p: Mapping[str, Any], ph: Phases) -> dict[str, Any]:
    """cProfile of a fresh process's import and fit, aggregated by package."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    with ph("profiled import + fit"):
        import bayescale

        runs = _epoch_runs()
        bayescale.fit(
            runs,
            "chinchilla",
            seed=p["seed"],
            draws=p["draws"],
            tune=p["tune"],
            discrepancy="none",
        )
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = {}
    functions = []
    for (filename, line, name), (_, _, tottime, cumtime, _) in stats.items():
        package = _package_of(filename, name)
        by_package[package] = by_package.get(package, 0.0) + tottime
        functions.append((tottime, cumtime, f"{package}: {name} ({Path(filename).name}:{line})"))
    functions.sort(reverse=True)
    return {
        "by_package": dict(sorted(by_package.items(), key=lambda kv: -kv[1])),
        "top_functions": [
            {"tottime": t, "cumtime": c, "function": f} for t, c, f in functions[:12]
        ],
    }


def _package_of(filename: str, name: str) -> str:
    if "PySampler" in name:
        return "nutpie sampler (Rust, runs the numba logp)"
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins / C extensions"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if "bayescale" in parts:
        return "bayescale"
    return "python stdlib"


def task_pymc(p: Mapping[str, Any], ph: Phases) -> dict[str, Any]:
    """PyMC's default NUTS (jitter+adapt_diag, C backend) on bayescale's model."""
    with ph("import"):
        import arviz  # noqa: F401
        import numpy as np
        import pymc as pm

        import bayescale
        from bayescale.model import _quiet, build_model, log_reference
    with ph("data"):
        runs = _epoch_runs()
        law = bayescale.get_law("chinchilla")
    with ph("build model (PyMC graph)"):
        model = build_model(law, runs, log_reference(law, runs))
    seeds = [int(s) for s in np.random.default_rng(p["seed"]).integers(2**30, size=p["chains"])]
    with _quiet():
        # What pm.sample does first (init="auto"), done here so that compiling is timed apart.
        with ph("compile + init (PyTensor C backend)"):
            initial_points, step = pm.init_nuts(
                init="auto",
                chains=p["chains"],
                model=model,
                random_seed=seeds,
                progressbar=False,
                tune=p["tune"],
            )
        with ph("sampling (PyMC NUTS)"):
            idata = pm.sample(
                draws=p["draws"],
                tune=p["tune"],
                chains=p["chains"],
                cores=min(p["chains"], os.cpu_count() or 1),
                step=step,
                initvals=initial_points,
                random_seed=seeds,
                model=model,
                progressbar=False,
                compute_convergence_checks=False,
                discard_tuned_samples=False,
            )
    with ph("diagnostics (ArviZ)"):
        # With discard_tuned_samples=False the tuning draws are in warmup_* groups.
        post = {k: idata.posterior[k].values for k in LAW_PARAMETERS}
        conv = _convergence(post)
    stats = idata.sample_stats
    warm = idata.get("warmup_sample_stats")
    return {
        "fit": {
            **conv,
            "divergences": int(np.asarray(stats["diverging"]).sum()),
            "steps_sampling": int(np.asarray(stats["n_steps"]).sum()),
            "steps_warmup": int(np.asarray(warm["n_steps"]).sum()) if warm is not None else None,
            "means": _means(post),
        }
    }


def task_nutpie(p: Mapping[str, Any], ph: Phases) -> dict[str, Any]:
    """nutpie with its own defaults (diagonal mass matrix, target_accept 0.8)."""
    with ph("import"):
        import arviz  # noqa: F401
        import numpy as np
        import nutpie

        import bayescale
        from bayescale.model import _quiet, build_model, log_reference
    with ph("data"):
        runs = _epoch_runs()
        law = bayescale.get_law("chinchilla")
    with _quiet():
        with ph("build model (PyMC graph)"):
            model = build_model(law, runs, log_reference(law, runs))
        with ph("compile (numba)"):
            compiled = nutpie.compile_pymc_model(model)
        with ph("sampling (nutpie)"):
            trace = nutpie.sample(
                compiled,
                draws=p["draws"],
                tune=p["tune"],
                chains=p["chains"],
                seed=p["seed"],
                progress_bar=False,
            )
    with ph("diagnostics (ArviZ)"):
        post = {k: trace.posterior[k].values for k in LAW_PARAMETERS}
        conv = _convergence(post)
    warm = trace.get("warmup_sample_stats")
    return {
        "fit": {
            **conv,
            "divergences": int(np.asarray(trace.sample_stats["diverging"]).sum()),
            "steps_sampling": int(np.asarray(trace.sample_stats["n_steps"]).sum()),
            "steps_warmup": int(np.asarray(warm["n_steps"]).sum()) if warm is not None else None,
            "means": _means(post),
        }
    }


def task_numpyro(p: Mapping[str, Any], ph: Phases) -> dict[str, Any]:
    """NumPyro NUTS on the same model (float64, as PyMC)."""
    compile_events: dict[str, float] = {}
    with ph("import"):
        import numpyro

        numpyro.set_host_device_count(min(p["chains"], os.cpu_count() or 1))
        import arviz  # noqa: F401
        import jax

        jax.config.update("jax_enable_x64", True)
        jax.monitoring.register_event_duration_secs_listener(
            lambda event, duration, **_: compile_events.__setitem__(
                event, compile_events.get(event, 0.0) + duration
            )
        )
        from bench import baselines, common
    with ph("data"):
        data = baselines.numpyro_data(common.epoch_chinchilla())
    mcmc = baselines.numpyro_mcmc(
        draws=p["draws"],
        tune=p["tune"],
        chains=p["chains"],
        chain_method=p["chain_method"],
        dense_mass=p["dense_mass"],
    )
    with ph("warmup (incl. JIT compile)"):
        steps_warmup = baselines.numpyro_warmup(mcmc, data, p["seed"])
    with ph("sampling (NumPyro)"):
        result = baselines.numpyro_draws(mcmc, data)
    with ph("diagnostics (ArviZ)"):
        post = {k: result["posterior"][k] for k in LAW_PARAMETERS}
        conv = _convergence(post)
    mark_done()
    compile_seconds = sum(v for k, v in compile_events.items() if "compile" in k or "trace" in k)

    # The gradient's cost inside XLA: a jitted loop of gradient evaluations.
    gradient = _jax_gradient_cost(data) if p.get("gradient") else None
    return {
        "fit": {
            **conv,
            "divergences": result["divergences"],
            "steps_sampling": result["steps_sampling"],
            "steps_warmup": steps_warmup,
            "means": _means(post),
        },
        "jit_compile_seconds": compile_seconds,
        "compile_events": compile_events,
        "gradient_seconds": gradient,
    }


def _jax_gradient_cost(data: Mapping[str, Any], loops: int = 20_000) -> float:
    """Seconds per log-density gradient of the NumPyro model, in a jitted loop (no dispatch)."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import initialize_model

    from bench import baselines

    info = initialize_model(
        jax.random.PRNGKey(0), baselines.numpyro_chinchilla_model, model_kwargs=dict(data)
    )
    names = list(info.param_info.z)
    potential = info.potential_fn

    def flat(z: Any) -> Any:
        return potential({name: z[i] for i, name in enumerate(names)})

    grad = jax.grad(flat)

    @jax.jit
    def run(z: Any) -> Any:
        return jax.lax.fori_loop(0, loops, lambda i, z: z - 1e-12 * grad(z), z)

    z0 = jnp.zeros(len(names))
    jax.block_until_ready(run(z0))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(run(z0))
        times.append((time.perf_counter() - start) / loops)
    return min(times)


def task_pointfit(p: Mapping[str, Any], ph: Phases) -> dict[str, Any]:
    """Besiroglu et al.'s Huber/L-BFGS point fit on the Epoch data, then the bootstrap."""
    with ph("import"):
        import numpy as np

        from bench import baselines, common
    with ph("data"):
        frame = common.epoch_chinchilla()
    with ph("grid of L-BFGS fits"):
        fit = baselines.huber_fit(frame, "chinchilla", thin=p["thin"])
    with ph("bootstrap refits"):
        boot = baselines.bootstrap(fit, frame, p["resamples"], seed=p["seed"])
    mark_done()
    law = fit.law
    x = law.prepare(frame)
    log_y = np.log(frame["loss"].to_numpy())
    published = np.array([np.log(482.01), np.log(2085.43), np.log(1.8172), 0.3478, 0.3658])
    natural = law.natural(boot)
    return {
        "params": fit.params,
        "objective": fit.objective,
        "objective_at_published": baselines.huber_objective(published, law, x, log_y)[0],
        "starts": fit.starts,
        "resamples": p["resamples"],
        "bootstrap_90": {
            k: [float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95))]
            for k, v in natural.items()
        },
    }


def _bayescale_scores(fit: Any, test: Any) -> dict[str, Any]:
    import bayescale

    scores = bayescale.score(fit, test)
    return {
        **{k: float(v) for k, v in scores.items()},
        "ok": bool(fit.ok),
        "divergences": int(fit.diagnostics.divergences),
        "ess_bulk_min": float(fit.diagnostics.table["ess_bulk"].min()),
    }


def task_scaling(p: Mapping[str, Any], ph: Phases) -> dict[str, Any]:
    """Fit time against runs (Chinchilla) and law parameters; forecast cost."""
    with ph("import"):
        import numpy as np
        import pandas as pd

        import bayescale
        import bayescale.fitting
        import bayescale.model
        from bench import common
    _patch_bayescale()
    settings = {k: p[k] for k in ("draws", "tune", "chains")}
    rows = []
    fits = {}
    for law, inputs, sizes in p["cases"]:
        for n in sizes:
            frame = common.simulate(law, n, seed=n)
            runs = _runs_from_frame(frame, tuple(inputs))
            phases = Phases()
            CURRENT[0] = phases
            with phases("fit: other"):
                result = bayescale.fit(
                    runs, law, seed=p["seed"], prior_draws=0, discrepancy="none", **settings
                )
            CURRENT[0] = Phases()
            compile_s = sum(
                v["wall"]
                for k, v in phases.rows.items()
                if k.startswith("compile") or k.startswith("build")
            )
            table = result.diagnostics.table.loc[list(result.law.parameters)]
            rows.append(
                {
                    "law": law,
                    "law_parameters": len(result.law.parameters),
                    "n_runs": n,
                    "compile": compile_s,
                    "sampling": phases.rows["sampling (nutpie)"]["wall"],
                    "fit_without_compile": phases.total() - compile_s,
                    "steps_sampling": int(np.asarray(result.idata.sample_stats["n_steps"]).sum()),
                    "ess_bulk_min": float(table["ess_bulk"].min()),
                    "r_hat_max": float(table["r_hat"].max()),
                    "divergences": int(result.diagnostics.divergences),
                    "ok": bool(result.ok),
                    **({} if result.ok else _why_diagnostics_fail(result)),
                }
            )
            if not result.ok:
                # The fit's message says "take more draws": check whether that is enough.
                longer = {**settings, "draws": 3 * settings["draws"]}
                CURRENT[0] = Phases()
                retry = bayescale.fit(
                    runs, law, seed=p["seed"], prior_draws=0, discrepancy="none", **longer
                )
                table = retry.diagnostics.table.loc[list(retry.law.parameters)]
                rows[-1]["with_3x_draws"] = {
                    "draws": longer["draws"],
                    "ok": bool(retry.ok),
                    "divergences": int(retry.diagnostics.divergences),
                    "ess_bulk_min": float(table["ess_bulk"].min()),
                    "ess_tail_min": float(table["ess_tail"].min()),
                    "r_hat_max": float(table["r_hat"].max()),
                }
            fits[(law, n)] = result
    # Forecast cost: 10^4 points over all the draws of the largest Chinchilla fit.
    forecast = None
    chinchilla = [key for key in fits if key[0] == "chinchilla"]
    if chinchilla:
        fitted = fits[max(chinchilla, key=lambda key: key[1])]
        rng = np.random.default_rng(0)
        size = p["forecast_points"]
        points = pd.DataFrame(
            {"N": 10 ** rng.uniform(8, 12, size), "D": 10 ** rng.uniform(9, 13, size)}
        )
        times = []
        for _ in range(3):
            start = time.perf_counter()
            fitted.forecast(points, level=(0.5, 0.8, 0.9))
            times.append(time.perf_counter() - start)
        forecast = {
            "points": p["forecast_points"],
            "draws": int(fitted.diagnostics.chains * fitted.diagnostics.draws),
            "seconds_median": float(np.median(times)),
            "seconds_all": times,
        }
    return {"rows": rows, "forecast": forecast}


def _why_diagnostics_fail(result: Any) -> dict[str, Any]:
    """Where a failing posterior is hard: its strongest correlation and where it diverges."""
    import numpy as np

    post = result.idata.posterior
    names = list(result.law.parameters)
    draws = np.array([np.asarray(post[k]).ravel() for k in names])
    corr = np.corrcoef(np.log(np.abs(draws) + 1e-300))
    np.fill_diagonal(corr, 0.0)
    i, j = np.unravel_index(np.abs(corr).argmax(), corr.shape)
    diverging = np.asarray(result.idata.sample_stats["diverging"]).ravel().astype(bool)
    floor = next((k for k, p in result.law.parameters.items() if p.role == "floor"), names[0])
    values = np.asarray(post[floor]).ravel()
    return {
        "strongest_correlation": [names[i], names[j], float(corr[i, j])],
        "floor": floor,
        "floor_quantiles": np.quantile(values, [0.05, 0.5, 0.95]).tolist(),
        "floor_at_divergences": (
            np.quantile(values[diverging], [0.5]).tolist() if diverging.any() else None
        ),
    }


def task_quality(p: Mapping[str, Any], ph: Phases) -> dict[str, Any]:
    """Held-out forecast quality: bayescale against the bootstrap point fit."""
    with ph("import"):
        import numpy as np

        import bayescale
        from bench import baselines, common
    settings = {k: p[k] for k in ("draws", "tune", "chains")}
    rows = []

    def one(task: str, law: str, train: Any, test: Any, thin: bool, truth: Any = None) -> dict:
        inputs = baselines.POINT_LAWS[law].inputs
        row: dict[str, Any] = {"task": task, "law": law, "n_train": len(train), "n_test": len(test)}
        train_runs = _runs_from_frame(train, inputs)
        test_runs = _runs_from_frame(test, inputs)
        with ph(f"bayescale {law}"):
            # The law's own intervals: the discrepancy's calibration is bench/calibration.py's.
            fitted = bayescale.fit(
                train_runs, law, seed=p["seed"], prior_draws=0, discrepancy="none", **settings
            )
        row["bayescale"] = _bayescale_scores(fitted, test_runs)
        if truth is not None:
            table = fitted.forecast(test[list(inputs)], level=0.9)
            row["bayescale"]["law_covers_truth_90"] = float(
                np.mean((truth >= table["law_lower_90"]) & (truth <= table["law_upper_90"]))
            )
        for label, kwargs in p.get("variants", []):
            with ph(f"bayescale {law} ({label})"):
                other = bayescale.fit(
                    train_runs,
                    law,
                    seed=p["seed"],
                    prior_draws=0,
                    discrepancy="none",
                    **{**settings, **kwargs},
                )
            row[f"bayescale {label}"] = _bayescale_scores(other, test_runs)
        with ph("point fit"):
            top_k = p["top_k"] if law != "chinchilla" else None
            point = baselines.huber_fit(train, law, thin=thin, top_k=top_k)
        with ph("bootstrap"):
            boot = baselines.bootstrap(point, train, p["resamples"], seed=p["seed"])
        table = baselines.point_forecast(point, boot, test, levels=common.LEVELS)
        y = test["loss"].to_numpy()
        lower = {lv: table[f"pred_lower_{round(100 * lv)}"].to_numpy() for lv in common.LEVELS}
        upper = {lv: table[f"pred_upper_{round(100 * lv)}"].to_numpy() for lv in common.LEVELS}
        row["point"] = {
            **common.point_metrics(y, table["point"].to_numpy()),
            **common.coverage(y, lower, upper),
            "params": point.params,
            "starts": point.starts,
        }
        if truth is not None:
            row["point"]["law_covers_truth_90"] = float(
                np.mean((truth >= table["law_lower_90"]) & (truth <= table["law_upper_90"]))
            )
        return row

    for task, law in p["tasks"]:
        train, test = common.scalebench(task)
        rows.append(one(task, law, train, test, thin=p["thin"]))
    for seed in range(p["synthetic_replicates"]):
        train, test = common.simulate_isoflop(seed)
        truth = common.chinchilla_loss(test["N"], test["D"])
        row = one("synthetic", "chinchilla", train, test, thin=True, truth=truth)
        row["replicate"] = seed
        rows.append(row)
    return {"rows": rows}


TASKS: dict[str, Callable[[Mapping[str, Any], Phases], dict[str, Any]]] = {
    "bayescale": task_bayescale,
    "profile": task_profile,
    "pymc": task_pymc,
    "nutpie": task_nutpie,
    "numpyro": task_numpyro,
    "pointfit": task_pointfit,
    "scaling": task_scaling,
    "quality": task_quality,
}


def main(argv: list[str] | None = None) -> int:
    """Run the task(s) and write their results as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help=f"one of {', '.join(TASKS)}, or several joined by commas")
    parser.add_argument("--params", default="{}", help="JSON object of the task's parameters")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    params = json.loads(args.params)
    results: dict[str, Any] = {}
    status = 0
    for task in args.task.split(","):
        phases = Phases()
        CURRENT[0] = phases
        DONE[0] = None
        try:
            metrics = TASKS[task](params.get(task, params), phases)
            mark_done()
            results[task] = {
                "phases": phases.rows,
                "total": phases.total(),
                "done_at": DONE[0],
                **metrics,
            }
        except Exception as err:
            traceback.print_exc()
            results[task] = {"error": f"{type(err).__name__}: {err}", "phases": phases.rows}
            status = 1
    args.out.write_text(json.dumps(results, default=_json_default, allow_nan=True))
    return status


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
