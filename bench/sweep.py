"""Sweep throughput: Dask on the machine's cores against a plain loop in one process.

The sweep is issue 16's: Gadre et al.'s over-training runs (``../shared/data/overtrain``),
8 validation losses x 3 datasets x 3 laws x 3 hold-out cuts = 216 fits, each fitted on the
runs below a compute quantile and scored on the runs above. The same fits run twice, into
fresh folders: one after another in this process (``workers=0``: bayescale's loop, the
baseline), then on a Dask ``LocalCluster`` of one single-threaded process per core. Reported:
fits per minute of each, their ratio, the engine's overhead (wall time minus the fits' own
time, per fit) and, as a projection, the throughput on more workers from the measured
per-fit times.

Run::

    make bench-sweep
    .venv/bin/python bench/sweep.py --out bench/sweep.md [--responses 2] [--workers 2]

``--responses K`` keeps the first K losses (a smaller sweep, same shape).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

LOSSES = common.OVERTRAIN_LOSSES
LAWS = ("chinchilla", "kaplan", "power_law_C")
CUTS = (0.6, 0.75, 0.9)
SAMPLER = {"draws": 300, "tune": 300, "chains": 2, "seed": 0, "retries": 0, "prior_draws": 0}
#: The sweep's throughput is measured on the law's fits alone (no backtest refits).
DISCREPANCY = "none"
DEFAULT_OUT = Path(__file__).with_name("sweep.md")


def spec(responses: int) -> Any:
    """The sweep over the first ``responses`` losses."""
    from bayescale.sweeps import SweepSpec

    frame = pd.read_csv(common.SHARED / "overtrain" / "runs.csv")
    return SweepSpec(
        data=frame,
        x={"N": "params", "D": "tokens"},
        y=list(LOSSES[:responses]),
        laws=list(LAWS),
        split_by=["dataset"],
        holdout=list(CUTS),
        full=False,
        sampler=SAMPLER,
        discrepancy=DISCREPANCY,
        source="bench/sweep.py",
    )


def timed(plan: Any, workers: int) -> dict[str, Any]:
    """Run the sweep into a fresh folder; wall time and the fits' own times."""
    from bayescale.sweeps import sweep

    with tempfile.TemporaryDirectory(prefix="bayescale-sweep-") as out:
        start, cpu = time.perf_counter(), time.process_time()
        table = sweep(plan, out, workers=workers)
        wall = time.perf_counter() - start
        # This process's CPU time over every thread: the loop's own use of the cores.
        cpu = time.process_time() - cpu
    return {
        "workers": workers,
        "fits": len(table),
        "wall": wall,
        "cpu": cpu,
        "fit_seconds": float(table["seconds"].sum()),
        "status": table["status"].value_counts().to_dict(),
        "per_minute": 60 * len(table) / wall,
    }


def render(loop: dict[str, Any], dask: dict[str, Any], meta: dict[str, Any]) -> str:
    """The Markdown report."""
    ratio = dask["per_minute"] / loop["per_minute"]
    mean_fit = loop["fit_seconds"] / loop["fits"]
    overhead = (dask["wall"] * dask["workers"] - dask["fit_seconds"]) / dask["fits"]
    lines = [
        "# Sweep throughput",
        "",
        f"`bench/sweep.py`, {meta['date']}, {meta['cpu']}; load average before/after: "
        f"{meta['load_before'][0]:.1f} / {meta['load_after'][0]:.1f}. Sweep: "
        f"{len(meta['losses'])} losses x 3 datasets x {len(LAWS)} laws ({', '.join(LAWS)}) x "
        f"{len(CUTS)} hold-out cuts (compute quantiles {', '.join(map(str, CUTS))}) = "
        f"{loop['fits']} fits of Gadre et al.'s over-training runs; sampler "
        f"{SAMPLER['chains']} chains x ({SAMPLER['tune']} tune + {SAMPLER['draws']} draws), no "
        "retries. The short sampling makes this a test of the engine, not of the fits: most "
        "miss bayescale's own verdict (R-hat <= 1.01, ESS >= 200 for every parameter), as "
        "the table says; a real sweep keeps the default sampler (4 chains x 1000 draws, and "
        "retries), whose longer sampling keeps the loop's cores busier (see the bound below).",
        "",
        "| engine | fits | wall | fits per minute | ratio | fits ok / diagnostics failed / error |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in (
        ("loop, one process (`workers=0`)", loop),
        (f"Dask LocalCluster, {dask['workers']} workers", dask),
    ):
        s = r["status"]
        lines.append(
            f"| {name} | {r['fits']} | {r['wall']:.0f} s | {r['per_minute']:.1f} | "
            f"{r['per_minute'] / loop['per_minute']:.2f}x | {s.get('ok', 0)} / "
            f"{s.get('diagnostics failed', 0)} / {s.get('error', 0)} |"
        )
    verdict = "PASS" if ratio >= 1.6 else "FAIL"
    busy = loop["cpu"] / loop["wall"]
    cores = meta["cores"]
    lines += [
        "",
        f"Target (issue 16): Dask on 2 cores at least 1.6x the loop's throughput: {ratio:.2f}x, "
        f"{verdict}.",
        "",
        f"Why the ratio is bounded: the loop itself keeps {busy:.2f} of the {cores} cores busy "
        f"(its CPU time over its wall time): a fit's chains sample in parallel threads, and "
        f"only its serial parts (compiling, finding the chains' starts, LOO, scores, saving) "
        f"leave a core idle. An engine that packed the cores perfectly, at no cost of its own, "
        f"would reach {cores / busy:.2f}x; Dask reached {ratio / (cores / busy):.0%} of that "
        f"(the bound holds on an otherwise idle machine: compare the load average above). "
        f"Longer sampling per fit makes the loop busier and the bound lower; more machines "
        f"raise it (below).",
        "",
        f"Engine overhead: {overhead:.1f} s per fit (Dask workers' busy time minus the fits' "
        f"own time; it includes each worker's start, PyMC's import and compiling each law "
        f"once per worker). A fit takes {mean_fit:.1f} s on average in the loop.",
        "",
        "Projection (not measured): with W workers of this machine's speed and one core each, "
        f"the sweep would take about {loop['fit_seconds']:.0f} s / W plus the per-worker start; "
        + ", ".join(
            f"{w} workers: {loop['fit_seconds'] / w / 60 + 0.5:.1f} min" for w in (4, 16, 64)
        )
        + " (a fit is one task: beyond the number of fits, more workers do not help).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=len(LOSSES))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    plan = spec(args.responses)
    load_before = os.getloadavg()
    print(f"loop: {args.responses} losses", flush=True)
    loop = timed(plan, 0)
    print(f"  {loop['fits']} fits in {loop['wall']:.0f} s", flush=True)
    dask = timed(plan, args.workers)
    print(f"dask: {dask['fits']} fits in {dask['wall']:.0f} s", flush=True)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu": f"{common.machine().get('cpu', '?')}, {os.cpu_count()} cores",
        "cores": os.cpu_count() or 1,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "losses": LOSSES[: args.responses],
    }
    common.write_result(args.out, render(loop, dask, meta))
    common.write_result(
        args.out.with_suffix(".json"),
        json.dumps({"meta": meta, "loop": loop, "dask": dask}, indent=1, default=str),
    )
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
