"""The decision commands: compare, optimal, target."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import bayescale as bs
from bayescale.cli import app
from bayescale.demo import demo_runs

# 2 x 500 draws: a fit that passes its diagnostics (2 x 300 at this seed misses R-hat by
# 0.002 on some CPUs, and a warning would then precede every message checked here).
SMALL = {"draws": 500, "tune": 500, "chains": 2, "seed": 0}


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("decisions") / "fit.nc"
    bs.fit(demo_runs(0), "chinchilla", **SMALL).save(path)
    return path


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    runs = demo_runs(0)
    runs.table.rename(columns={"y": "loss"}).to_csv(path, index=False)
    return path


def test_optimal_json_matches_the_library(runner: CliRunner, fit_file: Path) -> None:
    done = runner.invoke(
        app,
        ["optimal", str(fit_file), "--compute", "1e21", "--compute", "1e24", "--format", "json"],
    )
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)["rows"]
    expected = bs.load_fit(fit_file).compute_optimal([1e21, 1e24])
    assert [r["C"] for r in rows] == [1e21, 1e24]
    assert rows[1]["N_median"] == pytest.approx(expected["N_median"].iloc[1])
    assert rows[0]["N_lower_90"] < rows[0]["N_median"] < rows[0]["N_upper_90"]


def test_optimal_table_is_one_column_per_budget(runner: CliRunner, fit_file: Path) -> None:
    done = runner.invoke(app, ["optimal", str(fit_file), "-c", "1e21", "-c", "1e23"])
    assert done.exit_code == 0, done.output
    assert "C = 1e21" in done.stdout and "C = 1e23" in done.stdout
    assert "tokens per parameter" in done.stdout


def test_target_gives_budget_and_probability(runner: CliRunner, fit_file: Path) -> None:
    done = runner.invoke(
        app,
        [
            "target",
            str(fit_file),
            "--loss",
            "2.0",
            "--compute",
            "1e22",
            "--compute",
            "1e25",
            "--format",
            "json",
        ],
    )
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    budget = doc["budget"][0]
    assert budget["C_lower_90"] < budget["C_median"] < budget["C_upper_90"]
    probs = [row["prob_run_below"] for row in doc["probability"]]
    assert probs[0] < 0.5 < probs[1]  # more compute, better odds
    csv = runner.invoke(app, ["target", str(fit_file), "--loss", "2.0", "--format", "csv"])
    assert csv.exit_code == 0 and "C_median" in csv.stdout.splitlines()[0]
    # With budgets: one table, a row per budget, the compute needed beside each.
    args = ["target", str(fit_file), "--loss", "2.0", "-c", "1e22", "-c", "1e25", "-f", "csv"]
    both = pd.read_csv(io.StringIO(runner.invoke(app, args).stdout))
    assert list(both["C"]) == [1e22, 1e25] and both.columns.is_unique
    assert both["C_median"].nunique() == 1 and both["prob_run_below"].is_monotonic_increasing


def test_target_below_the_floor_is_unreachable(runner: CliRunner, fit_file: Path) -> None:
    done = runner.invoke(app, ["target", str(fit_file), "--loss", "1.0", "--format", "json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    budget = doc["budget"][0]
    assert budget["prob_unreachable"] == 1.0
    # null for infinite, told apart from null for not computed (one run's odds at no budget).
    assert budget["C_median"] is None and "C_median" in budget["infinite"]
    assert budget["prob_run_below_median_C"] is None
    assert "prob_run_below_median_C" not in budget["infinite"]
    said = [w for w in doc["warnings"] if "below the law's floor E (90%: " in w]
    assert len(said) == 1 and said[0].startswith("target loss 1 is below the law's floor E")
    assert "no budget reaches it on average" in said[0]
    # The table says it in words too, once.
    table = runner.invoke(app, ["target", str(fit_file), "--loss", "1.0"])
    text = " ".join(table.stderr.split())
    assert text.count("warning: target loss 1 is below the law's floor E (90%: ") == 1, text
    reachable = json.loads(
        runner.invoke(app, ["target", str(fit_file), "--loss", "2.0", "-f", "json"]).stdout
    )
    assert reachable["budget"][0]["infinite"] == []


def test_optimal_gives_the_loss_of_one_run_at_the_optimum(
    runner: CliRunner, fit_file: Path
) -> None:
    # Wide, so that no label is wrapped whatever the terminal (xdist workers differ).
    wide = CliRunner(env={"COLUMNS": "240"})
    done = wide.invoke(app, ["optimal", str(fit_file), "-c", "1e21", "-c", "1e24"])
    assert done.exit_code == 0, done.output
    labels = [line.split("│")[1].strip() for line in done.stdout.splitlines() if "│" in line]
    loss_rows = [label for label in labels if label.startswith("loss")]
    assert loss_rows == ["loss (law)", "loss with discrepancy", "loss of one run"]
    assert "chance a new IsoFLOP curve finds no minimum" in labels
    text = " ".join(done.stdout.split())
    assert "of the simulated curves find no minimum within their runs" in text
    doc = json.loads(
        runner.invoke(
            app, ["optimal", str(fit_file), "-c", "1e21", "-c", "1e24", "-f", "json"]
        ).stdout
    )
    expected = bs.load_fit(fit_file).compute_optimal([1e21, 1e24])
    for i, row in enumerate(doc["rows"]):
        for column in ("loss_pred_lower_90", "loss_disc_upper_90", "prob_sweep_no_minimum"):
            assert row[column] == pytest.approx(expected[column].iloc[i])
        # law inside "with discrepancy" inside "one run"
        assert row["loss_disc_lower_90"] <= row["loss_lower_90"] + 1e-12
        assert row["loss_pred_lower_90"] < row["loss_disc_lower_90"]
        assert row["loss_upper_90"] <= row["loss_disc_upper_90"] + 1e-12
        assert row["loss_disc_upper_90"] < row["loss_pred_upper_90"]
    assert "find no minimum within their runs" in doc["sweep_note"]
    csv = runner.invoke(app, ["optimal", str(fit_file), "-c", "1e24", "-f", "csv"])
    assert "loss_pred_median" in csv.stdout.splitlines()[0]


def test_target_flags_a_budget_past_the_peak(runner: CliRunner, fit_file: Path) -> None:
    args = ["target", str(fit_file), "--loss", "2.0", "-c", "1e24", "-c", "1e40"]
    doc = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    rows = doc["probability"]
    assert [r["past_peak"] for r in rows] == [False, True]
    assert [r["beyond_backtests"] for r in rows] == [False, True]
    assert len([w for w in doc["warnings"] if "peaks at" in w and "1e40 FLOPs" in w]) == 1
    assert any("farthest the backtests checked the discrepancy" in w for w in doc["warnings"])
    # The statistics are the library's, unchanged.
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        chances = bs.load_fit(fit_file).prob_below(2.0, C=[1e24, 1e40])
    assert sorted(str(w.message) for w in seen) == doc["warnings"]  # the CLI's, word for word
    assert [r["prob_run_below"] for r in rows] == pytest.approx(list(chances["prob_run_below"]))
    table = CliRunner(env={"COLUMNS": "240"}).invoke(app, args)  # no cell wrapped
    assert table.exit_code == 0, table.output
    flagged = next(line for line in table.stdout.splitlines() if line.startswith("│ 1e40"))
    assert "past the peak" in flagged and "far beyond the backtests" in flagged
    assert "more compute than that lowers it" in " ".join(table.stderr.split())
    # The CSV keeps the flags too (it had only the numbers).
    import io

    import pandas as pd

    csv = pd.read_csv(io.StringIO(runner.invoke(app, [*args, "-f", "csv"]).stdout))
    assert csv["past_peak"].tolist() == [False, True]
    assert csv["beyond_backtests"].tolist() == [False, True]


def test_target_at_a_decided_size_gives_one_runs_chance_there(
    runner: CliRunner, fit_file: Path
) -> None:
    at = ["--at", "N=7e8,D=1.4e10", "--at", "N=700M,D=1e13"]
    doc = json.loads(
        runner.invoke(app, ["target", str(fit_file), "--loss", "2.62", *at, "-f", "json"]).stdout
    )
    rows = doc["probability_at"]
    fit = bs.load_fit(fit_file)
    expected = fit.prob_below(2.62, N=[7e8, 7e8], D=[1.4e10, 1e13])
    assert [r["N"] for r in rows] == [7e8, 7e8] and [r["D"] for r in rows] == [1.4e10, 1e13]
    assert [r["prob_run_below"] for r in rows] == pytest.approx(list(expected["prob_run_below"]))
    # Each point's compute, in the runs' own C = k N D.
    assert [r["C"] for r in rows] == pytest.approx(
        [fit.runs.compute_factor * 7e8 * 1.4e10, fit.runs.compute_factor * 7e8 * 1e13]
    )
    # 2.62 is about one run's median at 14B tokens; 700x more tokens all but reach it.
    assert 0.2 < rows[0]["prob_run_below"] < 0.8 < rows[1]["prob_run_below"]
    # The old way in is pointed here.
    done = runner.invoke(app, ["target", str(fit_file), "--loss", "3.2", "--fixed", "N=7e8"])
    assert done.exit_code != 0 and "--at N=...,D=..." in " ".join(done.output.split())
    # A name that is not an input is refused, as forecast --at refuses it.
    bad = runner.invoke(app, ["target", str(fit_file), "--loss", "3.2", "--at", "N=7e8,Q=1"])
    assert bad.exit_code != 0 and "Q is not an input" in " ".join(bad.output.split())


def test_target_at_takes_a_laws_other_input_from_the_points(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A law with unique tokens U: the budget table needs one U; the points each give theirs.
    from types import SimpleNamespace

    import bayescale.fitting

    asked: dict[str, list] = {"budget": [], "points": []}

    def budget_for(loss, level, fixed, group, prob):
        asked["budget"].append(fixed)
        return pd.DataFrame({"target_loss": [loss], "C_median": [1e21]})

    def prob_below(loss, N=None, D=None, C=None, fixed=None, group=None):
        asked["points"].append(fixed)
        table = pd.DataFrame({"N": N, "D": D, "target_loss": loss, "prob_run_below": 0.5})
        return table.assign(prob_law_below=0.5)

    law = SimpleNamespace(name="data_constrained", inputs=("N", "D", "U"))
    stub = SimpleNamespace(
        law=law,
        ok=True,
        info={},
        runs=SimpleNamespace(compute_factor=6.0),
        budget_for=budget_for,
        prob_below=prob_below,
    )
    monkeypatch.setattr(bayescale.fitting, "load_fit", lambda path: stub)
    same = ["--at", "N=1B,D=20B,U=20B", "--at", "N=2B,D=20B,U=20B"]
    done = runner.invoke(app, ["target", "x.nc", "--loss", "2.3", *same, "-f", "json"])
    assert done.exit_code == 0, done.output
    assert asked["budget"] == [{"U": 2e10}] and asked["points"] == [{"U": 2e10}]
    # Points that differ in U: each asked with its own, and no budget table (one U needed).
    asked = {"budget": [], "points": []}
    differ = ["--at", "N=1B,D=20B,U=20B", "--at", "N=1B,D=20B,U=5B"]
    done = runner.invoke(app, ["target", "x.nc", "--loss", "2.3", *differ, "-f", "json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["budget"] is None and asked["budget"] == []
    assert asked["points"] == [{"U": 2e10}, {"U": 5e9}]
    assert "give one value with --fixed U=" in " ".join(done.stderr.split())
    # No point gives U and no --fixed: one error naming both ways, nothing asked.
    asked = {"budget": [], "points": []}
    done = runner.invoke(app, ["target", "x.nc", "--loss", "2.3", "--at", "N=1B,D=20B"])
    assert done.exit_code == 2 and asked == {"budget": [], "points": []}
    said = " ".join(done.output.split())
    assert "also needs U: give it in each --at point" in said and "--fixed U=" in said
    assert "differ" not in said


def test_isoflop_sets_each_measured_minimum_beside_the_fits_plan(
    runner: CliRunner, fit_file: Path, runs_csv: Path
) -> None:
    from bayescale.isoflop import isoflop_minima

    done = runner.invoke(app, ["isoflop", str(runs_csv), "--fit", str(fit_file), "-f", "json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    runs = bs.load_runs(runs_csv)
    expected = isoflop_minima(runs, fit=bs.load_fit(fit_file))
    assert len(doc["rows"]) == len(expected) == 9
    for row, (_, want) in zip(doc["rows"], expected.iterrows(), strict=True):
        assert row["N_min"] == pytest.approx(want["N_min"])
        assert row["plan_N_median"] == pytest.approx(want["plan_N_median"])
        assert row["in_disc"] == bool(want["in_disc"])
    assert doc["frontier"]["exponent"] == pytest.approx(expected.attrs["frontier"]["exponent"])
    # The fit's plan at each budget is its compute_optimal's.
    plan = bs.load_fit(fit_file).compute_optimal(list(expected["C"]))
    assert list(expected["plan_N_median"]) == pytest.approx(list(plan["N_median"]))
    # A measured minimum inside the law's own interval is inside it once widened by the
    # minimum's error too; the interval with the discrepancy is wider still.
    inside = (plan["N_lower_90"] <= expected["N_min"]) & (expected["N_min"] <= plan["N_upper_90"])
    assert not (inside & ~expected["in_law"]).any()
    assert not (expected["in_law"] & ~expected["in_disc"]).any()
    # The table holds the intervals its checks judge by: a reader can redo them.
    import math

    for row in doc["rows"]:
        low, high = math.log(row["plan_N_lower_90"]), math.log(row["plan_N_upper_90"])
        half = math.hypot((high - low) / 2, 1.6448536 * row["se_log_N"])
        assert row["in_law"] == (abs(math.log(row["N_min"]) - (low + high) / 2) <= half)
        inside = row["plan_N_pred_lower_90"] <= row["N_min"] <= row["plan_N_pred_upper_90"]
        assert row["in_pred"] == inside
    # Another level names its columns as compute_optimal does, and keeps its checks.
    odd = json.loads(
        runner.invoke(
            app,
            ["isoflop", str(runs_csv), "--fit", str(fit_file), "--level", "0.975", "-f", "json"],
        ).stdout
    )
    assert {"N_lower_97.5", "in_law", "in_disc", "in_pred"} <= set(odd["rows"][0])
    table = CliRunner(env={"COLUMNS": "240"}).invoke(app, ["isoflop", str(runs_csv)])
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())
    assert "Frontier through the 9 minima: N_opt ~ C^" in text
    # Too few runs for a curve: one error line, what a curve needs.
    few = runs_csv.parent / "few.csv"
    pd.read_csv(runs_csv).head(4).to_csv(few, index=False)
    bad = runner.invoke(app, ["isoflop", str(few)])
    assert bad.exit_code == 2 and "no IsoFLOP curve in the 4 runs" in " ".join(bad.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimal", "{fit}", "--compute", "-5"], "positive"),
        (["target", "{fit}", "--loss", "0"], "positive"),
        (["optimal", "missing.nc", "--compute", "1e21"], "not found"),
        (["optimal", "{fit}", "--compute", "1e21", "--fixed", "U"], "NAME=VALUE"),
    ],
)
def test_decision_commands_reject_bad_input(
    runner: CliRunner, fit_file: Path, args: list[str], message: str
) -> None:
    done = runner.invoke(app, [a.replace("{fit}", str(fit_file)) for a in args])
    assert done.exit_code == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], done.stderr
    assert "Traceback" not in done.output


@pytest.mark.slow
def test_compare_command_end_to_end(runner: CliRunner, runs_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    args = [
        "compare",
        str(runs_csv),
        "--laws",
        "chinchilla,kaplan",
        "--holdout-above",
        "C=1e21",
        "--out",
        str(out),
    ]
    args += ["--draws", "300", "--tune", "300", "--chains", "2", "--discrepancy", "none"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "PSIS-LOO (interpolation) prefers chinchilla" in done.stdout
    loo = pd.read_csv(out / "loo.csv", index_col=0)
    assert list(loo.index) == ["chinchilla", "kaplan"]
    assert (out / "extrapolation.csv").is_file() and (out / "fits" / "kaplan.nc").is_file()
    # --discrepancy reaches every fit (the library's default would learn one).
    saved = bs.load_fit(out / "fits" / "kaplan.nc")
    assert saved.discrepancy is None and saved.settings["discrepancy"] == "none"
    before = (out / "loo.csv").read_bytes()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "exist already" in again.stderr
    assert (out / "loo.csv").read_bytes() == before


def test_compare_command_checks_before_fitting(
    runner: CliRunner, runs_csv: Path, tmp_path: Path
) -> None:
    one = runner.invoke(
        app, ["compare", str(runs_csv), "--laws", "chinchilla", "--out", str(tmp_path / "x")]
    )
    assert one.exit_code == 2 and "at least two laws" in one.stderr
    bad = runner.invoke(
        app, ["compare", str(runs_csv), "--laws", "chinchilla,nope", "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == 2 and "unknown law 'nope'" in bad.stderr
    hold = runner.invoke(
        app,
        [
            "compare",
            str(runs_csv),
            "--laws",
            "chinchilla,kaplan",
            "--holdout-above",
            "C=big",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert hold.exit_code == 2 and "not a number" in hold.stderr
    assert not (tmp_path / "x").exists()


def test_target_table_says_whose_compute_it_is_and_one_runs_odds(
    runner: CliRunner, fit_file: Path
) -> None:
    done = runner.invoke(app, ["target", str(fit_file), "--loss", "2.0"])
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert "Compute at which the law (the average run) reaches loss 2" in text
    assert "prob run below median C" in text and "prob run below upper 90 C" in text
    odds = json.loads(
        runner.invoke(app, ["target", str(fit_file), "--loss", "2.0", "-f", "json"]).stdout
    )["budget"][0]
    again = bs.load_fit(fit_file).prob_below(2.0, C=odds["C_upper_90"])
    assert odds["prob_run_below_upper_90_C"] == pytest.approx(again["prob_run_below"].iloc[0])
    # C in FLOPs, probabilities in percent.
    low = runner.invoke(app, ["target", str(fit_file), "--loss", "10"])
    assert low.exit_code == 0, low.output
    assert "warning: target loss 10 is met below the compute of the smallest run" in " ".join(
        low.output.split()
    )
    row = next(line for line in low.output.splitlines() if line.startswith("│ C "))
    assert "e1" in row and "T " not in row and "B " not in row, row
    assert "0%" in next(line for line in low.output.splitlines() if "unreachable" in line)


def test_target_gives_the_budget_for_one_runs_chance(runner: CliRunner, fit_file: Path) -> None:
    done = runner.invoke(app, ["target", str(fit_file), "--loss", "2.0", "--prob", "0.9"])
    assert done.exit_code == 0, done.output
    row = next(line for line in done.output.splitlines() if "90% chance one run" in line)
    expected = bs.load_fit(fit_file).budget_for(2.0, prob=0.9)["C_run_prob_90"].iloc[0]
    assert f"{expected:.3g}".replace("+", "") in row, row
    # JSON carries the warnings a table prints on stderr (why a budget is missing, ...).
    high = runner.invoke(
        app, ["target", str(fit_file), "--loss", "10", "--prob", "0.9", "-f", "json"]
    )
    assert any("is met below the compute" in w for w in json.loads(high.stdout)["warnings"])
    bad = runner.invoke(app, ["target", str(fit_file), "--loss", "2.0", "--prob", "90"])
    assert bad.exit_code == 2 and "--prob must be a probability" in " ".join(bad.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimal", "{fit}", "-c", "1e24", "--fixed", "N=7e10"], "N, D and C are what a plan"),
        (["target", "{fit}", "--loss", "2", "--fixed", "D=1e12"], "N, D and C are what a plan"),
        (["optimal", "{fit}", "-c", "1e24", "--fixed", "U=1e11"], "--fixed U=...: not an input"),
        (["optimal", "{fit}", "-c", "100"], "100 FLOPs is too small to split"),
    ],
)
def test_plans_refuse_what_they_cannot_use(
    runner: CliRunner, fit_file: Path, args: list[str], message: str
) -> None:
    done = runner.invoke(app, [a.replace("{fit}", str(fit_file)) for a in args])
    assert done.exit_code == 2, done.output
    assert message in " ".join(done.output.split())


def test_target_for_a_law_in_compute_alone(runner: CliRunner, tmp_path: Path) -> None:
    runs = demo_runs(0)
    table = runs.table.assign(C=6 * runs.table["N"] * runs.table["D"])
    runs = bs.load_runs(table[["C", "y"]], y="y")
    path = tmp_path / "c.nc"
    bs.fit(runs, "power_law_C", **SMALL, discrepancy="none").save(path)
    done = runner.invoke(app, ["target", str(path), "--loss", "2.3", "-c", "1e22", "-f", "json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    budget = doc["budget"][0]
    assert "N_median" not in budget and 0 < budget["C_median"] < float("inf")
    assert doc["probability"][0]["C"] == 1e22
