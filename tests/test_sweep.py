"""Sweeps (bayescale.sweeps): the spec, the plan of fits, resuming, and Dask with a dying worker."""

from __future__ import annotations

import json
import logging
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
from bayescale.sweeps import (
    SweepSpec,
    load_spec,
    plan_sweep,
    recorded_spec,
    spec_identity,
    sweep,
)

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
            # The choices as discrepancy.check_choice names them; the spec file and the key.
            r"sweep\.toml: discrepancy must be 'auto' \(the default\), .*'backtest'.*, not 'gp'",
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


@pytest.mark.parametrize("factor", [6.0, 2.0])
def test_a_spec_mapping_n_d_and_c_loads_and_plans(tmp_path, factor):
    # C = k N D exactly: the mapping is checked on made-up runs that must agree with it too
    # (they once had C ~ 1e-8 k N D, and every spec mapping all three was refused at load).
    runs = _runs()
    runs["flops"] = factor * runs["params"] * runs["tokens"]
    body = QUICK_TOML.replace(
        'x = {N = "params", D = "tokens"}', 'x = {N = "params", D = "tokens", C = "flops"}'
    ).replace("[holdout]", f"compute_factor = {factor}\n\n[holdout]")
    spec_path = _write_spec(tmp_path, body)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    spec = load_spec(spec_path)
    assert dict(spec.x) == {"N": "params", "D": "tokens", "C": "flops"}
    assert spec.compute_factor == factor
    tasks = plan_sweep(spec)
    assert {t.slice["dataset"] for t in tasks} == {"web", "code"}
    assert all(dict(t.x)["C"] == "flops" for t in tasks)


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
    # A fit whose .nc was deleted is not finished: it is redone, with a warning.
    (tmp_path / "out" / row["fit_file"]).unlink()
    with pytest.warns(UserWarning, match=r"fits/.*\.nc' is missing; its fit is redone"):
        redone = sweep(spec, tmp_path / "out", workers=0)
    assert redone.attrs["fitted"] == [row["key"]]
    assert (tmp_path / "out" / row["fit_file"]).exists()
    # So is a fit whose .nc was cut short (a copy interrupted), its row intact: it is not
    # kept as finished (its forecasts would fail), and the rerun redoes it.
    other = table.iloc[1]
    cut_short = tmp_path / "out" / other["fit_file"]
    cut_short.write_bytes(cut_short.read_bytes()[:1000])
    with pytest.warns(UserWarning, match=r"\.nc' is damaged or truncated \(1000 bytes\); its"):
        mended = sweep(spec, tmp_path / "out", workers=0)
    assert mended.attrs["fitted"] == [other["key"]]
    assert cut_short.stat().st_size > 1000
    assert bayescale.load_fit(cut_short).law.name == "chinchilla"
    # A fit that raised is kept as an error row, and redone only when asked.
    bad = _spec(_runs(), y=["val_a"], holdout=[0.02], full=False)
    errors = sweep(bad, tmp_path / "bad", workers=0)
    assert (errors["status"] == "error").all() and len(errors) == 2
    assert errors["error"].str.contains("parameters but the data has 1 runs").all()
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
        .replace("[0.6, 0.8]", "[0.7, 0.02]")
        .replace('laws = ["chinchilla", "E + A / N**alpha + B / D**beta"]', 'laws = ["chinchilla"]')
        + "tune = 150\nchains = 2\nretries = 0\nprior_draws = 0\n",
    )
    out = tmp_path / "out"
    first = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--workers", "0"])
    # A fit that raised makes the command fail, with one line saying what to do.
    assert first.exit_code == 4, first.output
    assert "4 fits in" in first.output and "2 error" in first.output
    assert "error: val_a, code, chinchilla, below 0.02: DataError" in first.output
    assert (
        f"error: 2 of 4 fits failed: see the error column of {out / 'results.csv'}; fix and "
        f"rerun with --retry-failed"
    ) in first.output
    assert "earlier run" not in first.output
    # A rerun repeats the failures, saying they are old.
    second = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--workers", "0"])
    assert second.exit_code == 4 and "4 fits in" in second.output
    assert second.output.count("error (from an earlier run; --retry-failed redoes it)") == 2
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


# -- the audit's findings -----------------------------------------------------------------

#: A spec whose fits all raise at once (one run below the cut): rows without sampling.
QUICK_TOML = """
laws = ["chinchilla"]

[data]
path = "runs.csv"
x = {N = "params", D = "tokens"}
y = "val_a"
split_by = "dataset"

[holdout]
quantiles = [0.02]
full = false
"""


def _cli(*args: str):
    from typer.testing import CliRunner

    from bayescale.cli import app

    return CliRunner(env={"COLUMNS": "200"}).invoke(app, ["sweep", *map(str, args)])


def _catalog_text(name: str) -> str:
    from bayescale.laws import catalog

    return catalog()[name].read_text(encoding="utf-8")


def test_a_fit_key_holds_the_law_file_as_written_read_beside_the_spec(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    law = folder / "mylaw.toml"
    law.write_text(_catalog_text("chinchilla").replace('name = "chinchilla"', 'name = "mylaw"'))
    spec = _write_spec(folder, QUICK_TOML.replace('["chinchilla"]', '["mylaw.toml"]'))
    # Read beside the spec, not from the current folder.
    monkeypatch.chdir(tmp_path)
    before = plan_sweep(load_spec(spec))
    assert {t.law for t in before} == {"mylaw.toml"}
    # Editing the file's priors makes new fits: the stale ones are not reused.
    law.write_text(law.read_text().replace("mu = 0.4, sigma = 1.0", "mu = 0.5, sigma = 0.5"))
    after = plan_sweep(load_spec(spec))
    assert not {t.key for t in before} & {t.key for t in after}
    # Its prose does not: a comment or a reworded 'why' keeps the fits.
    law.write_text(law.read_text().replace('why = """', 'why = """Reworded. ', 1) + "# a note\n")
    assert {t.key for t in plan_sweep(load_spec(spec))} == {t.key for t in after}
    # The key holds the law, not its name: the catalog's own chinchilla is another law.
    catalog = plan_sweep(load_spec(_write_spec(folder, QUICK_TOML)))
    assert not {t.key for t in catalog} & {t.key for t in before}


def test_cached_rows_take_their_identity_from_the_current_spec(tmp_path):
    spec = _write_spec(tmp_path, QUICK_TOML)
    first = sweep(spec, tmp_path / "out", workers=0)
    assert set(first["dataset"]) == {"web", "code"}
    # Rename a slice's value in the data: same runs, same fits, new label.
    runs = _runs()
    runs["dataset"] = runs["dataset"].replace({"web": "webtext"})
    runs.to_csv(tmp_path / "runs.csv", index=False)
    again = sweep(spec, tmp_path / "out", workers=0)
    assert again.attrs["fitted"] == []  # nothing redone
    assert set(again["dataset"]) == {"webtext", "code"}
    assert set(pd.read_csv(tmp_path / "out" / "results.csv")["dataset"]) == {"webtext", "code"}
    assert "_identity" not in again.columns


def test_a_folder_of_another_spec_is_refused_unless_forced(tmp_path):
    from bayescale.errors import OutputExistsError

    one = _write_spec(tmp_path, QUICK_TOML)
    other = tmp_path / "other.toml"
    other.write_text(QUICK_TOML.replace('y = "val_a"', 'y = "val_b"'))
    out = tmp_path / "out"
    sweep(one, out, workers=0)
    record = json.loads((out / "sweep.json").read_text())
    assert record["spec"] == "../sweep.toml" and record["identity"] == spec_identity(
        load_spec(one), out
    )
    before = (out / "results.csv").read_text()
    with pytest.raises(
        OutputExistsError,
        match=r"holds the sweep of another spec: '\.\./sweep\.toml', not '\.\./other\.toml' "
        r'\(y \["val_a"\] there, \["val_b"\] here\); .*use another output folder, or '
        r"overwrite=True",
    ):
        sweep(other, out, workers=0)
    assert (out / "results.csv").read_text() == before
    result = _cli(other, "--out", out, "--workers", "0")
    assert result.exit_code == 2
    assert "use another --out, or --force to make it this spec's sweep" in result.output
    assert (out / "results.csv").read_text() == before
    # --force makes the folder the other spec's; the first spec's fits stay.
    forced = _cli(other, "--out", out, "--workers", "0", "--force")
    assert "2 fits in" in forced.output, forced.output
    assert json.loads((out / "sweep.json").read_text())["spec"] == "../other.toml"
    assert len(list((out / "rows").glob("*.json"))) == 4


#: Spec values the loader refuses: (id, text replaced in QUICK_TOML, replacement, message).
BAD_VALUES = [
    (
        "laws-number",
        'laws = ["chinchilla"]',
        "laws = 5",
        r"laws must be a name or a list .*got 5; write e\.g\. laws = \[",
    ),
    ("laws-numbers", 'laws = ["chinchilla"]', "laws = [5]", r"laws must be a name .*got \[5\]"),
    (
        "quantiles-number",
        "[0.02]",
        "0.5",
        r"holdout\.quantiles must be a list .*got 0\.5; write e\.g\. quantiles = \[0\.5\]",
    ),
    (
        "y-number",
        'y = "val_a"',
        "y = 5",
        r'data\.y must be a name .*got 5; write e\.g\. y = "loss"',
    ),
    (
        "split-by-number",
        'split_by = "dataset"',
        "split_by = 5",
        r"data\.split_by must be a name .*got 5",
    ),
    (
        "factor-text",
        'y = "val_a"',
        'y = "val_a"\ncompute_factor = "six"',
        r'data\.compute_factor must be a number > 0 .*got "six"; write e\.g\. compute_factor = 6',
    ),
    ("full-text", "full = false", 'full = "no"', r'holdout\.full must be true or false .*got "no"'),
    (
        "x-number",
        'x = {N = "params", D = "tokens"}',
        "x = {N = 1}",
        r"data\.x\.N must be a column name .*got 1",
    ),
    ("repeated-cut", "[0.02]", "[0.5, 0.5]", r"holdout\.quantiles gives 0\.5 twice: each cut"),
    (
        "quantiles-percent",
        "[0.02]",
        "[0.6, 50]",
        r"sweep\.toml: holdout\.quantiles must be numbers in \(0, 1\), got 50 "
        r"\(a percent\? give 0\.5\)$",
    ),
    (
        "quantiles-one",
        "[0.02]",
        "[1]",
        r"got 1 \(a quantile of 1 holds out no runs; if it is a percent, give 0\.01\)$",
    ),
    (
        "quantiles-percent-not-a-list",
        "[0.02]",
        "70",
        r"holdout\.quantiles must be a list .*got 70; write e\.g\. quantiles = \[0\.7\]$",
    ),
    (
        "sampler-typo",
        "full = false",
        "full = false\n[sampler]\ndrwas = 5",
        r"sweep\.toml: \[sampler\] unknown setting 'drwas' \(did you mean 'draws'\?\)",
    ),
    (
        "sampler-quoted",
        "full = false",
        'full = false\n[sampler]\ndraws = "200"',
        r"\[sampler\] draws must be .*; write draws = 200 \(a number, without quotes\)",
    ),
    (
        "sampler-seed",
        "full = false",
        "full = false\n[sampler]\nseed = -1",
        r"sweep\.toml: \[sampler\] seed must be",
    ),
    (
        "misplaced-key",
        "full = false",
        "full = false\ncompute_factor = 6",
        r"unknown key\(s\) \[holdout\] compute_factor \(compute_factor belongs under \[data\]\)",
    ),
    (
        "law-typo",
        'laws = ["chinchilla"]',
        'laws = ["chinchila"]',
        r"sweep\.toml: laws: unknown law 'chinchila' \(did you mean 'chinchilla'\?\)",
    ),
    (
        "bad-formula",
        'laws = ["chinchilla"]',
        'laws = ["E + A / N**alpha +"]',
        r"sweep\.toml: laws: formula .* is not valid",
    ),
    (
        "missing-law-file",
        'laws = ["chinchilla"]',
        'laws = ["nolaw.toml"]',
        r"sweep\.toml: laws: law file not found: .*nolaw\.toml",
    ),
    (
        "unmapped-input",
        'x = {N = "params", D = "tokens"}',
        'x = {N = "params"}',
        r"law 'chinchilla' needs input\(s\) D, which data\.x does not map",
    ),
    (
        "no-x-no-default",
        'x = {N = "params", D = "tokens"}\n',
        "",
        r"data\.x is not given and the data .*runs\.csv\) has no column named N, D, C or U",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "message"), [b[1:] for b in BAD_VALUES], ids=[b[0] for b in BAD_VALUES]
)
def test_a_bad_spec_value_is_refused_at_load_naming_the_key(tmp_path, old, new, message):
    assert old in QUICK_TOML
    spec = _write_spec(tmp_path, QUICK_TOML.replace(old, new))
    with pytest.raises(DataError, match=message):
        sweep(spec, tmp_path / "out", workers=0)
    # Refused before the output folder is made.
    assert not (tmp_path / "out").exists()


def test_a_spec_without_x_uses_the_columns_named_n_and_d(tmp_path):
    runs = _runs().rename(columns={"params": "N", "tokens": "D"})
    runs.to_csv(tmp_path / "runs.csv", index=False)
    body = QUICK_TOML.replace('x = {N = "params", D = "tokens"}\n', "")
    (tmp_path / "sweep.toml").write_text(body)
    spec = load_spec(tmp_path / "sweep.toml")
    assert dict(spec.x) == {"N": "N", "D": "D"}
    table = sweep(spec, tmp_path / "out", workers=0)
    # The fits get as far as the cut (one run is too few), not "x is empty".
    assert table["error"].str.contains("parameters but the data has 1 runs").all()


def test_a_damaged_row_file_is_redone_with_a_warning(tmp_path):
    spec = _write_spec(tmp_path, QUICK_TOML)
    out = tmp_path / "out"
    sweep(spec, out, workers=0)
    damaged = sorted((out / "rows").glob("*.json"))[0]
    damaged.write_text("")
    with pytest.warns(UserWarning, match=rf"row file '.*{damaged.name}' is damaged"):
        table = sweep(spec, out, workers=0)
    assert table.attrs["fitted"] == [damaged.stem] and len(table) == 2
    assert json.loads(damaged.read_text())["status"] == "error"
    damaged.write_text("{")
    with pytest.warns(UserWarning, match=damaged.name):
        table = sweep(spec, out, workers=0, retry_failed=True)
    assert len(table) == 2 and (table["status"] == "error").all()


def test_an_unwritable_folder_or_unreachable_scheduler_stops_before_any_fit(tmp_path, monkeypatch):
    import errno

    import dask

    import bayescale.sweeps as sweeps_module
    from bayescale import _files
    from bayescale.errors import BayescaleError

    spec = _write_spec(tmp_path, QUICK_TOML)

    def no_fit(*args, **kwargs):
        raise AssertionError("a fit ran")

    monkeypatch.setattr(sweeps_module, "run_task", no_fit)
    read_only = OSError(errno.EROFS, "Read-only file system")
    # A folder that cannot be made.
    with monkeypatch.context() as patch:
        patch.setattr(Path, "mkdir", lambda *a, **k: (_ for _ in ()).throw(read_only))
        with pytest.raises(BayescaleError, match=r"cannot create the output folder .*Read-only"):
            sweep(spec, tmp_path / "out", workers=0)
    # A folder where files cannot be written.
    with monkeypatch.context() as patch:
        patch.setattr(_files, "temporary_beside", lambda *a, **k: (_ for _ in ()).throw(read_only))
        with pytest.raises(BayescaleError, match=r"cannot write into folder .*rows"):
            sweep(spec, tmp_path / "ro", workers=0)
    result = _cli(spec, "--out", tmp_path / "sched", "--scheduler", "notanaddress")
    assert result.exit_code == 2, result.output
    assert "cannot connect to the Dask scheduler at 'notanaddress': missing port" in result.output
    assert "unexpected" not in result.output
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(BayescaleError, match=r"cannot connect .*127\.0\.0\.1:1"):
            sweep(spec, tmp_path / "sched", scheduler="tcp://127.0.0.1:1")
    # The scheduler is tried before the folder is made: nothing is left behind to block a
    # later sweep of another spec there.
    assert not (tmp_path / "sched").exists()
    # Local workers beside a scheduler would be ignored: both are refused, before anything.
    both = _cli(spec, "--out", tmp_path / "both", "--workers", "2", "--scheduler", "tcp://h:1")
    assert both.exit_code == 2 and both.stderr.count("\n") == 1, both.output
    assert "--workers 2 and --scheduler tcp://h:1 are both given" in both.stderr
    with pytest.raises(DataError, match=r"^workers and scheduler are given: .* give one of them"):
        sweep(spec, tmp_path / "both", workers=2, scheduler="tcp://h:1")
    assert not (tmp_path / "both").exists()
    assert _cli(spec, "--out", "").output.strip() == (
        "error: --out is empty; give the output folder, e.g. --out my-sweep"
    )


def test_a_data_error_names_the_file_row_and_line(tmp_path):
    runs = _runs().astype({"val_a": object})
    runs.loc[40, "val_a"] = "n/a"  # the 11th run of the second dataset
    spec = _write_spec(tmp_path, QUICK_TOML)
    lines = runs.to_csv(index=False).splitlines()
    # A blank line after the 10th run: row 41 is on line 43, not 42.
    (tmp_path / "runs.csv").write_text("\n".join([*lines[:11], "", *lines[11:]]) + "\n")
    table = sweep(spec, tmp_path / "out", workers=0)
    error = table.set_index("dataset").loc["code", "error"]
    assert f"{tmp_path / 'runs.csv'}: column 'val_a' row 41 (line 43 of the file)" in error
    assert "<DataFrame>" not in error


def test_ctrl_c_says_how_many_fits_were_kept(tmp_path, monkeypatch):
    import bayescale.sweeps as sweeps_module

    spec = _write_spec(tmp_path, QUICK_TOML)
    real = sweeps_module.run_task
    calls = []

    def interrupted_second(task, out):
        calls.append(task)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(task, out)

    monkeypatch.setattr(sweeps_module, "run_task", interrupted_second)
    result = _cli(spec, "--out", tmp_path / "out", "--workers", "0")
    assert result.exit_code == 130
    assert (
        f"error: interrupted: 1 of 2 fits are finished and kept in '{tmp_path / 'out' / 'rows'}'; "
        f"rerun the same command to resume"
    ) in result.output
    assert "nothing was written" not in result.output


def test_a_long_failure_is_cut_at_a_word(tmp_path):
    spec = _write_spec(tmp_path, QUICK_TOML)
    out = tmp_path / "out"
    sweep(spec, out, workers=0)
    for path in (out / "rows").glob("*.json"):
        row = json.loads(path.read_text())
        row["error"] = "DataError: " + " ".join(["alphabetical"] * 60)
        path.write_text(json.dumps(row))
    result = _cli(spec, "--out", out, "--workers", "0")
    lines = [line for line in result.output.splitlines() if line.startswith("warning: error")]
    assert len(lines) == 2
    assert all(line.endswith(" alphabetical [...]") for line in lines), lines


@pytest.mark.slow
def test_a_local_dask_sweep_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # Here and in the worker processes, which read TMPDIR when they start.
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    spec = _spec(_runs(), y=["val_a"], laws=["chinchilla"])
    table = sweep(spec, tmp_path / "out", workers=1)
    assert len(table) and (table["status"] != "error").all(), table.get("error")
    assert sorted(p.name for p in scratch.iterdir()) == []


def test_a_data_warning_names_the_file_rows(tmp_path):
    from bayescale.errors import DataWarning

    runs = _runs()
    runs.iloc[37] = runs.iloc[34]  # in the second dataset: its 5th and 8th runs
    spec = _write_spec(tmp_path, QUICK_TOML)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    with pytest.warns(DataWarning) as caught:
        sweep(spec, tmp_path / "out", workers=0)
    texts = [str(w.message) for w in caught if "duplicated" in str(w.message)]
    assert texts and all(str(tmp_path / "runs.csv") in t for t in texts), texts
    assert any("row 38 (line 39 of the file) repeats row 35 (line 36" in t for t in texts), texts


def test_a_project_moved_whole_keeps_its_sweep(tmp_path):
    # The folder records the spec relative to itself: moved together, they still match.
    import shutil as sh

    project = tmp_path / "project"
    project.mkdir()
    spec = _write_spec(project, QUICK_TOML)
    sweep(spec, project / "out", workers=0)
    moved = tmp_path / "moved"
    sh.move(project, moved)
    again = sweep(moved / spec.name, moved / "out", workers=0)
    assert again.attrs["fitted"] == []


def test_a_spec_or_folder_of_another_type_says_what_sweep_takes(tmp_path):
    fields_only = {"data": _runs(), "x": {}, "y": ["val_a"], "laws": ["chinchilla"]}
    with pytest.raises(
        DataError,
        match=r"^sweep takes a SweepSpec or the path of a TOML .*"
        r"got dict; its keys are SweepSpec's: pass SweepSpec\(\*\*spec\)$",
    ):
        sweep(fields_only, tmp_path / "out")
    laid_out_like_the_file = {"laws": ["chinchilla"], "data": {"path": "runs.csv", "y": "val_a"}}
    with pytest.raises(DataError, match=r"got dict; a dict laid out like the spec file .* TOML"):
        bayescale.sweep(laid_out_like_the_file, tmp_path / "out")
    with pytest.raises(DataError, match=r"^sweep takes a SweepSpec .*; got list$"):
        load_spec(["sweep.toml"])
    with pytest.raises(DataError, match=r"^out must be the path of the output folder .* got int$"):
        sweep(_spec(_runs()), 3)
    # Nothing was made before the refusals.
    assert not (tmp_path / "out").exists()


def test_spec_data_that_is_not_a_dataframe_is_refused() -> None:
    with pytest.raises(
        DataError, match=r"^<DataFrame>: data must be a pandas DataFrame .* got dict"
    ):
        _spec(_runs().to_dict("list"))


def test_the_cli_refuses_an_output_that_is_an_input_or_under_a_missing_folder(
    tmp_path, monkeypatch
):
    import bayescale.sweeps as sweeps_module

    def no_fit(*args, **kwargs):
        raise AssertionError("a fit ran")

    monkeypatch.setattr(sweeps_module, "run_task", no_fit)
    # The spec's data is named results.csv and lives in the output folder: the sweep's own
    # table would replace it, --force or not.
    spec = _write_spec(tmp_path, QUICK_TOML.replace("runs.csv", "results.csv"))
    (tmp_path / "runs.csv").rename(tmp_path / "results.csv")
    before = (tmp_path / "results.csv").read_bytes()
    done = _cli(spec, "--out", tmp_path, "--workers", "0", "--force")
    assert done.exit_code == 2, done.output
    assert "results.csv' is the spec's data" in done.stderr
    assert "even with --force" in done.stderr
    assert (tmp_path / "results.csv").read_bytes() == before
    assert not (tmp_path / "sweep.json").exists() and not (tmp_path / "rows").exists()
    # A parent folder that does not exist is a typo, refused as fit -o refuses it.
    missing = _cli(spec, "--out", tmp_path / "nodir" / "out", "--workers", "0")
    assert missing.exit_code == 2, missing.output
    assert "folder '" in missing.stderr and "nodir' does not exist" in missing.stderr
    assert not (tmp_path / "nodir").exists()


# -- the downstream audit's findings: folders, stopping ------------------------------------

#: QUICK_TOML with two laws: four fits, all raising at once.
TWO_LAWS_TOML = QUICK_TOML.replace('laws = ["chinchilla"]', 'laws = ["chinchilla", "kaplan"]')


def test_a_folder_of_other_files_is_refused_unless_forced(tmp_path):
    from bayescale.errors import OutputExistsError

    spec = _write_spec(tmp_path, QUICK_TOML)
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "results.csv").write_text("my precious results\n")
    (user / "notes.txt").write_text("notes\n")
    with pytest.raises(
        OutputExistsError,
        match=r"'.*userdir' is not a sweep's folder \(it has no sweep\.json\) and holds "
        r"results\.csv, notes\.txt: .*, replacing its results\.csv; use another output "
        r"folder, or overwrite=True",
    ):
        sweep(spec, user, workers=0)
    result = _cli(spec, "--out", user, "--workers", "0")
    assert result.exit_code == 2, result.output
    assert f"--out '{user}' is not a sweep's folder" in result.stderr
    assert "holds results.csv, notes.txt" in result.stderr
    assert "use another --out, or --force to make it this spec's sweep" in result.stderr
    assert (user / "results.csv").read_text() == "my precious results\n"
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt", "results.csv"]
    # --force writes the sweep there: its results.csv is replaced, its other files kept.
    forced = _cli(spec, "--out", user, "--workers", "0", "--force")
    assert forced.exit_code == 4 and "2 fits in" in forced.output, forced.output
    assert len(pd.read_csv(user / "results.csv")) == 2
    assert (user / "notes.txt").read_text() == "notes\n"
    # An empty folder is the sweep's to fill, as are the empty rows/ and fits/ of a run
    # stopped before it recorded its spec.
    empty = tmp_path / "empty"
    (empty / "rows").mkdir(parents=True)
    (empty / "fits").mkdir()
    assert len(sweep(spec, empty, workers=0)) == 2


def test_two_dataframe_specs_are_refused_in_one_folder(tmp_path):
    from bayescale.errors import OutputExistsError

    def quick(frame: pd.DataFrame) -> SweepSpec:
        return _spec(frame, y=["val_a"], holdout=[0.02], full=False)

    out = tmp_path / "out"
    sweep(quick(_runs(0)), out, workers=0)
    before = (out / "results.csv").read_text()
    with pytest.raises(
        OutputExistsError,
        match=r"holds the sweep of another spec, built in Python "
        r"\(data a DataFrame \(content \w{8}\) there, a DataFrame \(content \w{8}\) here\)",
    ):
        sweep(quick(_runs(1)), out, workers=0)
    assert (out / "results.csv").read_text() == before
    # The same runs (another copy, with a column the spec does not use) resume it.
    same = _runs(0).assign(note="unused")
    assert sweep(quick(same), out, workers=0).attrs["fitted"] == []


def test_a_spec_file_edited_in_place_is_refused_and_the_same_spec_resumes(tmp_path):
    from bayescale.errors import OutputExistsError

    spec = _write_spec(tmp_path, TWO_LAWS_TOML)
    out = tmp_path / "out"
    assert len(sweep(spec, out, workers=0)) == 4
    before = (out / "results.csv").read_text()
    spec.write_text(QUICK_TOML)  # kaplan removed
    with pytest.raises(
        OutputExistsError,
        match=r"holds the sweep of another spec: '\.\./sweep\.toml' as it was before an edit "
        r'\(laws \["chinchilla", "kaplan"\] there, \["chinchilla"\] here\); its results\.csv '
        r"would be replaced",
    ):
        sweep(spec, out, workers=0)
    result = _cli(spec, "--out", out, "--workers", "0")
    assert result.exit_code == 2, result.output
    assert "as it was before an edit" in result.stderr and "or --force" in result.stderr
    assert (out / "results.csv").read_text() == before
    # Put back, it resumes: nothing is redone. Renamed, its laws reordered, it is the same.
    spec.write_text(TWO_LAWS_TOML)
    assert sweep(spec, out, workers=0).attrs["fitted"] == []
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(TWO_LAWS_TOML.replace('"chinchilla", "kaplan"', '"kaplan", "chinchilla"'))
    assert sweep(renamed, out, workers=0).attrs["fitted"] == []
    assert recorded_spec(out) == "../renamed.toml"
    # A sampler setting is part of the spec (with its default, when not given).
    spec.write_text(TWO_LAWS_TOML + "\n[sampler]\ndraws = 300\n")
    with pytest.raises(OutputExistsError, match=r"\(sampler\.draws 1000 there, 300 here\)"):
        sweep(spec, out, workers=0)
    # Forced, the folder becomes the edited spec's: its table has only its fits, the other
    # law's rows stay in rows/, and its own fits (finished) are not redone.
    spec.write_text(QUICK_TOML)
    forced = sweep(spec, out, workers=0, overwrite=True)
    assert set(forced["law"]) == {"chinchilla"} and forced.attrs["fitted"] == []
    assert set(pd.read_csv(out / "results.csv")["law"]) == {"chinchilla"}
    assert len(list((out / "rows").glob("*.json"))) == 4
    assert sweep(spec, out, workers=0).attrs["fitted"] == []


def test_a_folder_of_an_earlier_version_resumes_only_an_unchanged_spec(tmp_path):
    from bayescale.errors import OutputExistsError

    spec = _write_spec(tmp_path, TWO_LAWS_TOML)
    out = tmp_path / "out"
    sweep(spec, out, workers=0)
    # As the first version recorded it: the spec file's path alone.
    legacy = json.dumps({"spec": "../sweep.toml"})
    (out / "sweep.json").write_text(legacy)
    assert recorded_spec(out) == "../sweep.toml"
    assert sweep(spec, out, workers=0).attrs["fitted"] == []
    # The record is brought up to date.
    assert json.loads((out / "sweep.json").read_text())["identity"] == spec_identity(
        load_spec(spec), out
    )
    # Edited since: its results.csv has fits that the spec does not make.
    (out / "sweep.json").write_text(legacy)
    before = (out / "results.csv").read_text()
    spec.write_text(QUICK_TOML)
    with pytest.raises(
        OutputExistsError,
        match=r"'\.\./sweep\.toml' as an earlier version of bayescale recorded it .*its "
        r"results\.csv has fits this spec does not make \(val_a, kaplan, below 0\.02\): the "
        r"spec has changed since",
    ):
        sweep(spec, out, workers=0)
    other = tmp_path / "other.toml"
    other.write_text(TWO_LAWS_TOML)
    with pytest.raises(
        OutputExistsError,
        match=r"another spec: '\.\./sweep\.toml' \(this spec is '\.\./other\.toml'\)",
    ):
        sweep(other, out, workers=0)
    # A record that cannot be read names no spec: refused too.
    (out / "sweep.json").write_text("{")
    with pytest.raises(OutputExistsError, match=r"has a sweep\.json that is damaged"):
        sweep(other, out, workers=0)
    assert (out / "results.csv").read_text() == before


class _FakeCluster:
    """A local cluster's client whose only work is `stop` (a signal, Ctrl-C)."""

    def __init__(self, stop, events: dict) -> None:
        self.stop = stop
        self.events = events
        self.cluster = self

    def scheduler_info(self) -> dict:
        return {"workers": {"tcp://fake:1": {}}}

    def submit(self, *args, **kwargs):
        return self

    def result(self):
        return self.stop()

    def close(self) -> None:
        # The shutdown's reports (workers lost, tasks dropped) are silenced.
        quiet = logging.getLogger("distributed.nanny").getEffectiveLevel() > logging.CRITICAL
        self.events.setdefault("closed quietly", []).append(quiet)


def _on_a_fake_cluster(monkeypatch, tmp_path: Path, stop) -> dict:
    """Run a sweep's local-cluster path on :class:`_FakeCluster`; what it saw."""
    import tempfile

    import distributed

    import bayescale.sweeps as sweeps_module

    events: dict = {}

    def local_client(workers: int, scratch: str) -> _FakeCluster:
        events["scratch"] = Path(scratch)
        (events["scratch"] / "dask-scratch-space").mkdir()
        return _FakeCluster(stop, events)

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(sweeps_module, "_local_client", local_client)
    monkeypatch.setattr(distributed, "as_completed", iter)
    return events


def _terminate() -> list:
    """SIGTERM to this process, as `kill PID` sends it, from inside the sweep."""
    # Only under the sweep's handler: the default one would end the test run.
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "no SIGTERM handler"
    signal.raise_signal(signal.SIGTERM)
    return []


def _ctrl_c() -> list:
    raise KeyboardInterrupt


@pytest.mark.parametrize(("stop", "signum"), [(_terminate, 15), (_ctrl_c, 2)], ids=["term", "int"])
def test_a_stopped_dask_sweep_closes_its_cluster_quietly_and_removes_its_scratch(
    tmp_path, monkeypatch, stop, signum
):
    from bayescale.sweeps import SweepInterrupted

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("SIGTERM has a handler here: the sweep leaves it alone")
    events = _on_a_fake_cluster(monkeypatch, tmp_path, stop)
    spec = _write_spec(tmp_path, QUICK_TOML)
    levels = {name: logging.getLogger(name).level for name in ("distributed", "tornado")}
    with pytest.raises(SweepInterrupted) as stopped:
        sweep(spec, tmp_path / "out", workers=1)
    assert (stopped.value.signum, stopped.value.finished, stopped.value.total) == (signum, 0, 2)
    # The client and the cluster were closed with Dask's loggers silenced, then restored.
    assert events["closed quietly"] == [True, True]
    assert {name: logging.getLogger(name).level for name in levels} == levels
    # The scratch folder is gone, and SIGTERM has its default handler again.
    assert events["scratch"].parent == tmp_path / "tmp" and not events["scratch"].exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_the_sweep_command_says_a_sigterm_kept_the_finished_fits(tmp_path, monkeypatch):
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("SIGTERM has a handler here: the sweep leaves it alone")
    events = _on_a_fake_cluster(monkeypatch, tmp_path, _terminate)
    spec = _write_spec(tmp_path, QUICK_TOML)
    result = _cli(spec, "--out", tmp_path / "out", "--workers", "1")
    assert result.exit_code == 143, result.output
    assert result.stderr.strip() == (
        f"error: terminated (SIGTERM): 0 of 2 fits are finished and kept in "
        f"'{tmp_path / 'out' / 'rows'}'; rerun the same command to resume"
    )
    assert not events["scratch"].exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_sigterm_handler_of_the_program_is_left_alone(tmp_path):
    from bayescale.sweeps import _terminate_as_interrupt

    def own(signum, frame) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, own)
    try:
        with _terminate_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) is own
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.slow
def test_local_workers_ignore_ctrl_c_and_keep_their_temporary_files_in_the_scratch(tmp_path):
    import tempfile

    from bayescale.sweeps import _close_own, _local_client

    scratch = tmp_path / "bayescale-dask-test"
    scratch.mkdir()
    client = _local_client(1, str(scratch))
    try:
        # Ctrl-C reaches the workers too: they leave it to the sweep's process.
        (handler,) = client.run(signal.getsignal, signal.SIGINT).values()
        (temporary,) = client.run(tempfile.gettempdir).values()
    finally:
        _close_own(client, str(scratch))
    assert handler == signal.SIG_IGN
    assert Path(temporary).parent == scratch
    assert not scratch.exists()
