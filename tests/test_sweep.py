"""Sweeps (bayescale.sweeps): the spec, the plan of fits, resuming, and Dask with a dying worker."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TRUTH

import bayescale
from bayescale.errors import DataError
from bayescale.sweeps import SweepSpec, load_spec, plan_sweep, sweep

SAMPLER = {"draws": 150, "tune": 150, "chains": 2, "seed": 3, "retries": 0, "prior_draws": 0}


def _runs(seed: int = 0) -> pd.DataFrame:
    """Two datasets of 30 runs each, two validation losses (the second 3% higher)."""
    rng = np.random.default_rng(seed)
    rows = []
    for dataset, shift in (("web", 0.0), ("code", -0.2)):
        n = 10 ** rng.uniform(7.0, 9.5, 30)
        d = 10 ** rng.uniform(8.5, 11.0, 30)
        law = (
            TRUTH["E"] + shift + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]
        )
        noise = np.exp(0.01 * rng.standard_normal(30))
        rows.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "params": n,
                    "tokens": d,
                    "val_a": law * noise,
                    "val_b": 1.03 * law * noise,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _spec(frame: pd.DataFrame, **changes) -> SweepSpec:
    given = {
        "data": frame,
        "x": {"N": "params", "D": "tokens"},
        "y": ["val_a", "val_b"],
        "laws": ["chinchilla"],
        "split_by": ["dataset"],
        "holdout": [0.7],
        "full": True,
        "sampler": SAMPLER,
    }
    return SweepSpec(**{**given, **changes})


def _write_spec(tmp_path: Path, body: str) -> Path:
    _runs().to_csv(tmp_path / "runs.csv", index=False)
    path = tmp_path / "sweep.toml"
    path.write_text(body)
    return path


SPEC_TOML = """
laws = ["chinchilla", "E + A / N**alpha + B / D**beta"]

[data]
path = "runs.csv"
x = {N = "params", D = "tokens"}
y = ["val_a", "val_b"]
split_by = "dataset"

[holdout]
quantiles = [0.6, 0.8]
full = false

[sampler]
draws = 150
"""


def test_a_spec_file_plans_the_product_of_its_slices_laws_and_cuts(tmp_path):
    spec = load_spec(_write_spec(tmp_path, SPEC_TOML))
    tasks = plan_sweep(spec)
    assert len(tasks) == 2 * 2 * 2 * 2  # laws x responses x datasets x cuts
    # Grouped by law, so that a worker's chunk shares one compiled law.
    assert [t.law for t in tasks] == sorted((t.law for t in tasks), key=spec.laws.index)
    assert {
        (t.response, t.slice["dataset"], t.holdout) for t in tasks if t.law == "chinchilla"
    } == {(r, d, q) for r in ("val_a", "val_b") for d in ("web", "code") for q in (0.6, 0.8)}
    # Keys are stable, and change with the data and the settings, not with the run.
    again = [t.key for t in plan_sweep(load_spec(tmp_path / "sweep.toml"))]
    assert again == [t.key for t in tasks]
    reseeded = plan_sweep(_spec(_runs(), sampler={**SAMPLER, "seed": 4}))
    base = plan_sweep(_spec(_runs()))
    assert not {t.key for t in reseeded} & {t.key for t in base}
    # The default learns a discrepancy; switched off, the fits differ, and so do their keys.
    assert {t.discrepancy for t in base} == {"auto"}
    plain = plan_sweep(_spec(_runs(), discrepancy="none"))
    assert not {t.key for t in plain} & {t.key for t in base}
    changed = _runs()
    changed.loc[0, "val_a"] *= 1.01
    moved = {t.key for t in plan_sweep(_spec(changed))} - {t.key for t in base}
    assert len(moved) == 2  # only the fits of val_a on that run's dataset (all runs, and cut)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (SPEC_TOML.replace("split_by", "split"), r"sweep\.toml: unknown key\(s\) \[data\] split"),
        (SPEC_TOML.replace('"val_b"', '"val_c"'), r"column\(s\) 'val_c' not in the data"),
        (
            SPEC_TOML.replace("[0.6, 0.8]", "[0.6, 80]"),
            r"quantiles must be numbers in \(0, 1\), got 80",
        ),
        (
            SPEC_TOML.replace('path = "runs.csv"', 'path = "nope.csv"'),
            r"file not found: .*nope\.csv",
        ),
        (SPEC_TOML.replace("draws = 150", "drawz = 150"), r"drawz"),
        (SPEC_TOML + "\n[[", r"sweep\.toml' is not valid TOML"),
        (
            'discrepancy = "gp"\n' + SPEC_TOML,
            r"sweep\.toml: discrepancy must be 'auto' \(the default\), 'none' or one of "
            r"'backtest', not 'gp'",
        ),
    ],
    ids=[
        "unknown-key",
        "missing-column",
        "bad-quantile",
        "missing-file",
        "bad-setting",
        "toml",
        "bad-discrepancy",
    ],
)
def test_a_bad_spec_is_refused_with_the_file_and_the_key(tmp_path, body, message):
    with pytest.raises(DataError, match=message):
        plan_sweep(load_spec(_write_spec(tmp_path, body)))


def test_a_sweep_in_process_tabulates_saves_and_resumes(tmp_path):
    spec = _spec(_runs(), y=["val_a"])
    seen = []
    table = sweep(spec, tmp_path / "out", workers=0, on_row=lambda r, i, n: seen.append((i, n)))
    assert len(table) == 4 and seen[-1] == (4, 4)
    assert set(table["status"]) <= {"ok", "diagnostics failed"}
    cut = table[table["holdout"] == "below 0.7"]
    assert (cut["n_heldout"] > 0).all() and cut["coverage_90"].between(0, 1).all()
    assert table.loc[table["holdout"] == "all runs", "n_fit"].tolist() == [30, 30]
    assert (tmp_path / "out" / "results.csv").exists()
    # A saved fit reloads to the parameters its row reports.
    row = table.iloc[0]
    fit_ = bayescale.load_fit(tmp_path / "out" / row["fit_file"])
    assert float(np.median(fit_.draws(["alpha"])["alpha"])) == pytest.approx(row["alpha_median"])
    # A rerun redoes nothing: the rows are not rewritten.
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "rows").iterdir()}
    again = sweep(spec, tmp_path / "out", workers=0)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    pd.testing.assert_frame_equal(again, table)
    # A fit that raised is kept as an error row, and redone only when asked.
    bad = _spec(_runs(), y=["val_a"], laws=["E + A / U**alpha"], holdout=[])
    errors = sweep(bad, tmp_path / "bad", workers=0)
    assert (errors["status"] == "error").all() and len(errors) == 2
    assert errors["error"].str.contains("U").all()
    rows = sorted((tmp_path / "bad" / "rows").iterdir())
    before = [p.stat().st_mtime_ns for p in rows]
    sweep(bad, tmp_path / "bad", workers=0)
    assert [p.stat().st_mtime_ns for p in rows] == before
    time.sleep(0.01)
    sweep(bad, tmp_path / "bad", workers=0, retry_failed=True)
    assert all(p.stat().st_mtime_ns > t for p, t in zip(rows, before, strict=True))


@pytest.mark.slow
def test_a_dask_sweep_survives_a_killed_worker_and_matches_the_loop(tmp_path):
    from distributed import Client, LocalCluster

    spec = _spec(_runs(), y=["val_a"])
    loop = sweep(spec, tmp_path / "loop", workers=0)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    out = tmp_path / "dask"
    result: dict = {}

    def run() -> None:
        result["table"] = sweep(spec, out, client=client)

    try:
        runner = threading.Thread(target=run)
        runner.start()
        # Kill one worker as soon as the first fit is done: the others are in flight.
        deadline = time.monotonic() + 600
        while not list((out / "rows").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        pids = client.run(os.getpid)
        os.kill(pids[sorted(pids)[0]], signal.SIGKILL)
        runner.join(timeout=900)
        assert not runner.is_alive()
    finally:
        client.close()
        cluster.close()
    table = result["table"]
    assert len(table) == len(loop) == 4
    # Each fit ran once to the end: the same seed gives the same posterior as the loop's.
    merged = loop.merge(table, on="key", suffixes=("_loop", "_dask"))
    np.testing.assert_allclose(merged["alpha_median_loop"], merged["alpha_median_dask"])
    for row in table.itertuples():
        assert json.loads((out / "rows" / f"{row.key}.json").read_text())["key"] == row.key
        bayescale.load_fit(out / row.fit_file)


def test_the_sweep_command_runs_resumes_and_reports_failures(tmp_path):
    from typer.testing import CliRunner

    from bayescale.cli import app

    runner = CliRunner(env={"COLUMNS": "200"})
    spec = _write_spec(
        tmp_path,
        SPEC_TOML.replace('"val_b"', '"val_a"')
        .replace('y = ["val_a", "val_a"]', 'y = "val_a"')
        .replace("[0.6, 0.8]", "[0.7]")
        .replace(
            'laws = ["chinchilla", "E + A / N**alpha + B / D**beta"]',
            'laws = ["chinchilla", "E + A / U**alpha"]',
        )
        + "tune = 150\nchains = 2\nretries = 0\nprior_draws = 0\n",
    )
    out = tmp_path / "out"
    first = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--workers", "0"])
    assert first.exit_code == 0, first.output
    assert "4 fits in" in first.output and "2 error" in first.output
    assert "E + A / U**alpha" in first.output
    second = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--workers", "0"])
    assert second.exit_code == 0 and "4 fits in" in second.output
    bad = runner.invoke(app, ["sweep", str(tmp_path / "none.toml"), "--out", str(out)])
    assert bad.exit_code == 2 and "cannot read sweep spec" in bad.output


def test_the_readme_spec_loads_and_plans_its_fits(tmp_path):
    import re

    from bayescale.demo import demo_runs

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "sweep.toml" in b]
    (tmp_path / "demo-output").mkdir()
    runs = demo_runs(0)
    runs.table.rename(columns={"y": runs.y_name}).to_csv(
        tmp_path / "demo-output" / "runs.csv", index=False
    )
    (tmp_path / "sweep.toml").write_text(block)
    tasks = plan_sweep(load_spec(tmp_path / "sweep.toml"))
    assert len(tasks) == 2 * 3  # two laws x (all runs + two cuts)
