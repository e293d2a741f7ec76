"""Convergence benchmark (issue 11): does every law of the corpus converge, and how fast?

For every entry of :mod:`bench.convergence_corpus`, in its own fresh process (so that a hang
or a crash does not stop the corpus; a fit past ``--timeout`` counts as a failure):

1. the multi-start Huber point fit on the same runs (log-loss residuals, delta 1e-3, L-BFGS-B
   from 100 starts drawn from the law's priors; :func:`formula_point_law` turns any law into
   a :class:`bench.baselines.PointLaw`, its log mean evaluated by the law's own NumPy formula
   and its gradient by vectorised forward differences: no compiling, no eval);
2. ``bayescale.fit(runs, law, seed=0, discrepancy="none")`` with every other setting at its
   default (the law's own fit; its backtest refits are the calibration bench's): wall time
   (a law's first compile in the process included, and said), ``fit.diagnostics.ok``, max
   R-hat, min bulk/tail ESS, divergences, the fit's verdict and what the fit says its sampler
   did (``fit.sampler_log`` when bayescale has it).

Run::

    .venv/bin/python bench/convergence.py --out bench/convergence.md
    .venv/bin/python bench/convergence.py --quick --out /tmp/convergence.md
    .venv/bin/python bench/convergence.py --only sim_vocabulary_7p epoch_chinchilla --out /tmp/c.md
    .venv/bin/python bench/convergence.py --default-priors --out /tmp/c.md  # no priors given

writes the Markdown report and the raw records beside it (``.json``).
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # L-BFGS-B's small matrix products: OpenBLAS threads only spin on the shared second core.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import baselines, common  # noqa: E402
from bench import convergence_corpus as corpus  # noqa: E402
from bench.convergence_corpus import prior_draws  # noqa: E402

__all__ = [
    "GOAL_PASS_RATE",
    "GOAL_RATIO",
    "GOAL_SECONDS_7P",
    "formula_point_law",
    "point_fit",
    "prior_draws",
    "render",
    "run_entry",
    "summary",
    "table",
]

GOAL_PASS_RATE = 0.95
GOAL_RATIO = 3.0
GOAL_SECONDS_7P = 60.0
#: The entry the 60 s goal is about (7 parameters, about 1,000 runs).
GOAL_ENTRY_7P = "sim_vocabulary_7p"
POINT_STARTS = 100
POINT_STARTS_QUICK = 10
#: Forward-difference step in the point fit's internal coordinates (logs of positive values).
STEP = 1e-7
SEED = 0
DEFAULT_TIMEOUT = 600.0
#: ``--quick``: every code path with tiny draws (its numbers mean nothing).
QUICK_SAMPLER = {"draws": 200, "tune": 200, "chains": 2, "prior_draws": 0}
DEFAULT_OUT = ROOT / "bench" / "convergence.md"


# --------------------------------------------------------------------------- point fit


def formula_point_law(
    law: Any, frame: pd.DataFrame, starts: int = POINT_STARTS, seed: int = SEED
) -> baselines.PointLaw:
    """Turn any bayescale law into a :class:`bench.baselines.PointLaw` for the Huber fit.

    Internal coordinates are the sampler's: ``log`` of each positive parameter (of its value
    at the reference scale for a reference-stated one, as bayescale states its prior), the
    value itself otherwise. The log mean is the law's own stable NumPy evaluation
    (:meth:`bayescale.Law.log_mean`); its Jacobian comes from forward differences, all
    ``k + 1`` points evaluated in one broadcast call.

    Parameters
    ----------
    law : bayescale.Law
        The law (catalog or formula).
    frame : pandas.DataFrame
        The runs (the law's inputs): the reference scales are their geometric means.
    starts : int, default 100
        Initialisations, drawn from the priors (``grid(thin=True)`` gives a tenth of them).
    seed : int, default 0
        Seed of the draws.

    Returns
    -------
    bench.baselines.PointLaw
        For :func:`bench.baselines.huber_fit`.
    """
    from bayescale.formula import NUMPY, Formula
    from bayescale.priors import spec_of

    params = list(law.parameters.values())
    inputs = tuple(law.inputs)
    log_ref = {
        p.reference[0]: float(np.mean(np.log(frame[p.reference[0]].to_numpy(float))))
        for p in params
        if p.reference
    }
    logged = [p.positive for p in params]
    # Reference powers are formulas over parameters stated without a reference (see model.py).
    order = sorted(range(len(params)), key=lambda i: params[i].reference is not None)

    def natural_and_logs(theta: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
        values: dict[str, Any] = {}
        logs: dict[str, Any] = {}
        for i in order:
            p, t = params[i], theta[..., i]
            if p.reference is None:
                values[p.name] = np.exp(t) if logged[i] else t
                if logged[i]:
                    logs[p.name] = t
                continue
            inp, power = p.reference
            exponent = Formula(power).evaluate(values, NUMPY)
            logs[p.name] = (t if logged[i] else np.log(t)) + exponent * log_ref[inp]
            values[p.name] = np.exp(logs[p.name])
        return values, logs

    def log_mean(
        theta: np.ndarray, x: Mapping[str, np.ndarray], grad: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        theta = np.asarray(theta, dtype=float)
        points = theta
        if grad:  # theta, then theta + STEP along each coordinate
            points = np.vstack([theta, theta + STEP * np.eye(len(theta))])
        values, logs = natural_and_logs(points)
        column = {k: np.asarray(v)[..., None] for k, v in values.items()}
        log_column = {k: np.asarray(v)[..., None] for k, v in logs.items()}
        data = {name: np.exp(x[f"log_{name}"]) for name in inputs}
        with np.errstate(all="ignore"):
            out = np.asarray(law.log_mean(column, data, NUMPY, log_column), dtype=float)
        if not grad:
            return out, None
        return out[0], (out[1:] - out[0]) / STEP

    def natural(theta: np.ndarray) -> dict[str, np.ndarray]:
        return natural_and_logs(np.asarray(theta, dtype=float))[0]

    rng = np.random.default_rng(seed)
    columns = []
    for p, is_log in zip(params, logged, strict=True):
        draws = prior_draws(spec_of(p.prior), starts, rng)
        columns.append(np.log(np.maximum(draws, 1e-300)) if is_log else draws)
    grid = np.column_stack(columns)

    def starting_points(thin: bool) -> np.ndarray:
        return grid[: max(1, len(grid) // 10)] if thin else grid

    return baselines.PointLaw(
        law.name,
        inputs,
        tuple(p.sampled_name for p in params),
        log_mean,
        natural,
        starting_points,
    )


def point_fit(
    law: Any, frame: pd.DataFrame, starts: int = POINT_STARTS, seed: int = SEED
) -> dict[str, Any]:
    """The multi-start Huber point fit of any law, timed.

    Parameters
    ----------
    law : bayescale.Law
        The law.
    frame : pandas.DataFrame
        The runs (the law's inputs and ``loss``).
    starts : int, default 100
        L-BFGS-B initialisations drawn from the priors.
    seed : int, default 0
        Seed of the initialisations.

    Returns
    -------
    dict
        ``seconds``, ``objective``, ``params`` (the law's), ``starts``, ``rmse_log`` (root
        mean square of the log residuals).
    """
    t0 = time.perf_counter()
    plaw = formula_point_law(law, frame, starts, seed)
    fitted = baselines.huber_fit(frame, plaw)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "objective": float(fitted.objective),
        "params": {k: float(v) for k, v in fitted.params.items()},
        "starts": int(fitted.starts),
        "rmse_log": float(np.sqrt(np.mean(fitted.residuals**2))),
    }


# --------------------------------------------------------------------------- bayescale fit


def _sampler_log(fit: Any) -> Any:
    log = getattr(fit, "sampler_log", None)
    if log is None:
        return None
    try:
        json.dumps(log)
        return log
    except TypeError:
        return str(log)


def bayescale_fit(entry: corpus.Entry, quick: bool, default_priors: bool) -> dict[str, Any]:
    """``bayescale.fit`` of one entry with default settings (seed 0), timed and diagnosed.

    Parameters
    ----------
    entry : Entry
        The corpus entry.
    quick : bool
        Use :data:`QUICK_SAMPLER` (smoke test) instead of the defaults.
    default_priors : bool
        Fit a formula entry without its priors.

    Returns
    -------
    dict
        ``seconds``, ``compile_seconds`` (inside ``seconds``: building and compiling the log
        density, or loading it from the disk cache), ``compiled_before`` (the law was
        already compiled in this process),
        ``ok``, ``r_hat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences``,
        ``message``, ``sampler_log``.
    """
    import bayescale
    import bayescale.model

    runs = entry.runs()
    law = entry.law(default_priors)
    compiled_before = len(getattr(bayescale.model, "_COMPILED", {}))
    compile_seconds = [0.0]
    # The compile step's name has changed with bayescale's versions; time whichever exists.
    hook = next((n for n in ("compiled_model", "_compiled") if hasattr(bayescale.model, n)), None)
    original = getattr(bayescale.model, hook) if hook else None

    def timed_compile(*args: Any, **kwargs: Any) -> Any:
        # Compiling (or loading from numba's disk cache) the log density: timed from outside.
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            compile_seconds[0] += time.perf_counter() - start

    if hook:
        setattr(bayescale.model, hook, timed_compile)
    t0 = time.perf_counter()
    try:
        # The law's own fit: the backtests' refits are judged by the calibration bench.
        fit = bayescale.fit(
            runs, law, seed=SEED, discrepancy="none", **(QUICK_SAMPLER if quick else {})
        )
    finally:
        if hook:
            setattr(bayescale.model, hook, original)
    seconds = time.perf_counter() - t0
    grew = len(getattr(bayescale.model, "_COMPILED", {})) > compiled_before
    diag = fit.diagnostics
    t = diag.table
    return {
        "seconds": seconds,
        "compile_seconds": compile_seconds[0] if hook else None,
        "compiled_before": not grew,
        "ok": bool(diag.ok),
        "r_hat_max": float(t["r_hat"].max()),
        "ess_bulk_min": float(t["ess_bulk"].min()),
        "ess_tail_min": float(t["ess_tail"].min()),
        "divergences": int(diag.divergences),
        "message": diag.verdict(),
        "sampler_log": _sampler_log(fit),
    }


def worker(name: str, out: Path, quick: bool, default_priors: bool) -> int:
    """Run one entry (point fit, then bayescale) and write its record as JSON.

    The record is written after the point fit too, so that a bayescale fit killed by the
    parent's timeout still leaves the point fit's numbers.

    Parameters
    ----------
    name : str
        Entry name.
    out : Path
        JSON file to write.
    quick : bool
        Smoke-test settings.
    default_priors : bool
        Fit formula entries without priors.

    Returns
    -------
    int
        Exit status (0 also when a fit failed: the failure is in the record).
    """
    (entry,) = corpus.by_name([name])
    record: dict[str, Any] = {"name": name, "source": entry.source, "load": os.getloadavg()[0]}

    def write() -> None:
        # Atomically: the parent polls for this file and reads it while the fit runs.
        partial = out.with_suffix(".partial")
        partial.write_text(json.dumps(record, default=_json_default))
        os.replace(partial, out)

    try:
        law = entry.law(default_priors)
        frame = entry.frame()
        record.update(
            source=entry.source,
            n_params=len(law.parameters),
            n_runs=len(frame),
            formula=law.formula.text,
        )
        record["point"] = point_fit(law, frame, POINT_STARTS_QUICK if quick else POINT_STARTS, SEED)
    except corpus.DefaultPriorsUnavailable as err:
        record["error"] = str(err)
        record["skipped"] = True
        write()
        return 0
    except Exception as err:  # the record says what broke; the corpus goes on
        record["point_error"] = f"{type(err).__name__}: {err}"
    write()
    try:
        record["bayescale"] = bayescale_fit(entry, quick, default_priors)
    except Exception as err:
        record["error"] = f"{type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc(limit=5)
    write()
    return 0


# --------------------------------------------------------------------------- parent


def run_entry(
    name: str, timeout: float, quick: bool = False, default_priors: bool = False
) -> dict[str, Any]:
    """Run one entry in a fresh Python process; its bayescale fit is killed after ``timeout``.

    The clock of the timeout starts when the point fit is done (the worker writes its record
    then), so that a slow point fit does not eat the bayescale fit's time; the point fit has
    its own ``timeout`` too.

    Parameters
    ----------
    name : str
        Entry name.
    timeout : float
        Seconds allowed to the bayescale fit (and, separately, to the point fit).
    quick, default_priors : bool
        Passed to :func:`worker`.

    Returns
    -------
    dict
        The worker's record, with ``process_seconds`` and, when killed, ``timeout``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.json"
        log = Path(tmp) / "stderr.txt"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name]
        cmd += ["--record", str(out)]
        cmd += ["--quick"] if quick else []
        cmd += ["--default-priors"] if default_priors else []
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        deadline = t0 + timeout
        point_done = False
        timed_out = False
        with log.open("w") as stderr_file:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr_file, env=env)
            while proc.poll() is None:
                if not point_done and out.exists():
                    point_done = True
                    deadline = time.perf_counter() + timeout
                if time.perf_counter() > deadline:
                    timed_out = True
                    proc.kill()
                    proc.wait()
                    break
                time.sleep(0.2)
        seconds = time.perf_counter() - t0
        stderr = log.read_text()
        record = json.loads(out.read_text()) if out.exists() else {"name": name}
    record["process_seconds"] = seconds
    if timed_out:
        record["timeout"] = timeout
        where = "bayescale fit" if point_done else "point fit"
        record.setdefault("error", f"{where} timed out after {timeout:.0f} s")
    elif "bayescale" not in record and "error" not in record:
        record["error"] = "worker died: " + (stderr.strip().splitlines() or ["no output"])[-1]
    return record


# --------------------------------------------------------------------------- report


def _passes(record: Mapping[str, Any]) -> bool:
    return bool(record.get("bayescale", {}).get("ok")) and "timeout" not in record


def _ratio(record: Mapping[str, Any]) -> float | None:
    if "timeout" in record:
        point = record.get("point", {}).get("seconds")
        return record["timeout"] / point if point else None
    bs, point = record.get("bayescale", {}).get("seconds"), record.get("point", {}).get("seconds")
    return bs / point if bs and point else None


def summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The goals of issue 11, each with its number and PASS/FAIL.

    Parameters
    ----------
    records : sequence of dict
        One per entry (skipped entries are left out).

    Returns
    -------
    dict
        ``pass_rate``, ``max_ratio`` (with its entry), ``seconds_7p``, and a ``verdicts``
        mapping of goal to ``"PASS"``/``"FAIL"``.
    """
    counted = [r for r in records if not r.get("skipped")]
    passed = sum(_passes(r) for r in counted)
    rate = passed / len(counted) if counted else float("nan")
    ratios = [(r_, r["name"]) for r in counted if (r_ := _ratio(r)) is not None]
    worst = max(ratios) if ratios else (None, None)
    seven = next((r for r in counted if r["name"] == GOAL_ENTRY_7P), None)
    seconds_7p = None
    if seven is not None:
        seconds_7p = seven.get("timeout") or seven.get("bayescale", {}).get("seconds")
    verdicts = {
        "pass_rate": "PASS" if counted and rate >= GOAL_PASS_RATE else "FAIL",
        "max_ratio": "PASS"
        if worst[0] is not None and worst[0] <= GOAL_RATIO and len(ratios) == len(counted)
        else "FAIL",
        "seconds_7p": "PASS"
        if seconds_7p is not None
        and seconds_7p < GOAL_SECONDS_7P
        and seven is not None
        and "timeout" not in seven
        else "FAIL",
    }
    return {
        "entries": len(counted),
        "passed": passed,
        "pass_rate": rate,
        "max_ratio": worst[0],
        "max_ratio_entry": worst[1],
        "seconds_7p": seconds_7p,
        "verdicts": verdicts,
    }


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The results table as Markdown lines, one row per entry.

    Parameters
    ----------
    records : sequence of dict
        Worker records (see :func:`run_entry`).

    Returns
    -------
    list of str
        Header, separator, rows, and a blank line.
    """
    header = [
        "entry",
        "source",
        "params",
        "runs",
        "passes",
        "max R-hat",
        "min ESS bulk/tail",
        "divergences",
        "time (s)",
        "of which compile (s)",
        "point fit (s)",
        "ratio",
        "load",
        "message",
    ]
    rows = []
    for r in records:
        b = r.get("bayescale", {})
        point = r.get("point", {}).get("seconds")
        if r.get("skipped"):
            passes, message = "skipped", r.get("error", "")
        elif "timeout" in r:
            passes, message = "no (timeout)", r["error"]
        elif "error" in r:
            passes, message = "no (error)", r["error"]
        else:
            passes, message = ("yes" if b.get("ok") else "no"), b.get("message", "")
        log = b.get("sampler_log")
        if log:
            message = f"{message} [sampler: {log if isinstance(log, str) else json.dumps(log)}]"
        seconds = (
            _f(b.get("seconds")) if b else ("—" if "timeout" not in r else f">{r['timeout']:.0f}")
        )
        if b and not b.get("compiled_before", True):
            seconds += " (compile incl.)"
        ess = f"{_f(b.get('ess_bulk_min'), 0)} / {_f(b.get('ess_tail_min'), 0)}" if b else "—"
        rows.append(
            [
                r["name"],
                r.get("source", ""),
                str(r.get("n_params", "")),
                f"{r.get('n_runs', ''):,}" if isinstance(r.get("n_runs"), int) else "",
                passes,
                _f(b.get("r_hat_max"), 3),
                ess,
                str(b.get("divergences", "—")),
                seconds,
                _f(b.get("compile_seconds")),
                _f(point),
                _f(_ratio(r)),
                _f(r.get("load")),
                _cell(message),
            ]
        )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def render(records: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    """The Markdown report: header, summary against the goals, the table.

    Parameters
    ----------
    records : sequence of dict
        Worker records.
    meta : mapping
        ``machine`` (:func:`bench.common.machine`), ``date``, ``quick``, ``default_priors``,
        ``timeout``, ``seconds`` (whole run).

    Returns
    -------
    str
        The report.
    """
    s = summary(records)
    m = meta.get("machine", {})
    versions = m.get("versions", {})
    lines = [
        "# Convergence benchmark (issue 11)",
        "",
        f"{meta.get('date', '')}; commit {m.get('commit', '?')}; {m.get('cpu', '?')}, "
        f"{m.get('cores', '?')} cores; load average at start "
        f"{', '.join(f'{v:.1f}' for v in m.get('load_average', ())) or '?'}; "
        + ", ".join(f"{k} {versions[k]}" for k in ("bayescale", "pymc", "nutpie") if k in versions)
        + ".",
        "",
        'Every fit: `bayescale.fit(runs, law, seed=0, discrepancy="none")` with default '
        "settings otherwise, in a fresh process "
        f"(timeout {meta.get('timeout', DEFAULT_TIMEOUT):.0f} s, counted as a failure); a law's "
        "first compile in the process is included. Point fit: Huber loss (delta 1e-3) on log "
        f"loss, L-BFGS-B from {POINT_STARTS_QUICK if meta.get('quick') else POINT_STARTS} starts "
        "drawn from the law's priors, forward-difference gradients (bench/convergence.py). "
        "Ratio = bayescale time / point-fit time; load = 1-minute load average as the entry "
        "started (2 cores: above 2, other work shared the cores and times are inflated)."
        + (" **Quick run: tiny draws, its numbers mean nothing.**" if meta.get("quick") else "")
        + (
            " Formula entries fitted **without priors** (bayescale's defaults)."
            if meta.get("default_priors")
            else " Formula entries with the priors written in bench/convergence_corpus.py."
        ),
        "",
        "## Goals",
        "",
        f"- Diagnostics pass: {s['passed']} of {s['entries']} ({_f(100 * s['pass_rate'], 0)}%) "
        f"vs the {100 * GOAL_PASS_RATE:.0f}% goal: **{s['verdicts']['pass_rate']}**",
        f"- Slowest relative to the point fit: {_f(s['max_ratio'])}x ({s['max_ratio_entry']}) "
        f"vs the {GOAL_RATIO:g}x goal: **{s['verdicts']['max_ratio']}**",
        f"- 7-parameter law on ~1,000 runs ({GOAL_ENTRY_7P}): {_f(s['seconds_7p'])} s vs the "
        f"{GOAL_SECONDS_7P:.0f} s goal: **{s['verdicts']['seconds_7p']}**",
        "",
        "## Results",
        "",
        *table(records),
        f"Whole run: {_f(meta.get('seconds'), 0)} s.",
        "",
    ]
    return "\n".join(lines)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="4 entries, tiny draws")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these entries only")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="per bayescale fit, s"
    )
    parser.add_argument(
        "--default-priors",
        action="store_true",
        help="fit formula entries without priors (bayescale's defaults)",
    )
    parser.add_argument("--worker", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--record", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.record, args.quick, args.default_priors)
    names = args.only or (list(corpus.QUICK) if args.quick else None)
    try:
        entries = corpus.by_name(names)
    except KeyError as err:
        parser.error(str(err.args[0]))
    meta: dict[str, Any] = {
        "machine": common.machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "default_priors": args.default_priors,
        "timeout": args.timeout,
    }
    t0 = time.perf_counter()
    records = []
    for entry in entries:
        record = run_entry(entry.name, args.timeout, args.quick, args.default_priors)
        b = record.get("bayescale", {})
        print(
            f"{entry.name}: {'ok' if b.get('ok') else 'FAIL'} "
            f"{_f(b.get('seconds'))} s (point {_f(record.get('point', {}).get('seconds'))} s) "
            f"{record.get('error', '')}",
            flush=True,
        )
        records.append(record)
    meta["seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    common.write_result(args.out, render(records, meta))
    common.write_result(
        args.out.with_suffix(".json"),
        json.dumps({"meta": meta, "records": records}, indent=1, default=_json_default),
    )
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
