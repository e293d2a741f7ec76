"""Tests of the ``bayescale`` command line (bayescale.cli).

Most tests run the CLI in-process with typer's CliRunner; one runs the installed console
script in a subprocess to prove the entry point works end to end (fit, then forecast).
The first chinchilla fit in a process compiles the model (~25 s); later ones reuse it, so
the in-process fits all use chinchilla with its default priors and small settings.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
import xarray as xr
from typer.testing import CliRunner, Result

import bayescale
from bayescale.cli import app, parse_mapping, parse_points
from bayescale.laws import catalog

# Besiroglu et al. 2024's refit of Chinchilla: the truth of the simulated runs.
TRUTH = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
SMALL = ["--draws", "200", "--tune", "200", "--chains", "2"]
X_MAP = ["--x", "N=Model Size", "--x", "D=Tokens"]
AT = "N=7e10,D=1.4e12"

# Wide enough that rich does not wrap the text the tests look for.
runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in-process; stdout and stderr are kept apart."""
    return runner.invoke(app, list(args), env=env)


def assert_user_error(result: Result, *fragments: str, code: int = 2) -> str:
    """The contract of every error: exit code, ONE ``error:`` line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 runs simulated from Chinchilla with 1% noise; column names with spaces, a text column."""
    rng = np.random.default_rng(11)
    n = 10 ** rng.uniform(7.0, 9.5, 40)
    d = 10 ** rng.uniform(8.5, 11.0, 40)
    law = TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]
    frame = pd.DataFrame(
        {
            "Model Size": n,
            "Tokens": d,
            "loss": law * np.exp(0.01 * rng.standard_normal(40)),
            "comment": ["baseline"] * 40,
        }
    )
    path = tmp_path_factory.mktemp("data") / "runs.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted(runs_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """One in-process fit shared by the forecast tests."""
    out = tmp_path_factory.mktemp("fit") / "fit.nc"
    result = invoke("fit", str(runs_csv), "--law", "chinchilla", *X_MAP, *SMALL, "--out", str(out))
    assert result.exit_code == 0, result.output
    return out, result


# -- laws ------------------------------------------------------------------------------


def test_laws_lists_every_catalog_law() -> None:
    result = invoke("laws")
    assert result.exit_code == 0, result.output
    for name in catalog():
        assert name in result.stdout


def test_laws_chinchilla_shows_formula_priors_and_reasoning() -> None:
    result = invoke("laws", "chinchilla")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "L = E + A / N**alpha + B / D**beta" in out
    for text in ("LogNormal(mu=0.4, sigma=1)", "floor", "exponent", "Irreducible", "student_t"):
        assert text in out, text
    assert "Besiroglu 2024" in out and "2085" in out  # published values
    assert "arXiv:2203.15556" in out  # reference


def test_laws_unknown_name_suggests() -> None:
    assert_user_error(invoke("laws", "chinchila"), "unknown law 'chinchila'", "chinchilla")


def test_version_and_help() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"bayescale {bayescale.__version__}"
    result = invoke("fit", "--help")
    assert result.exit_code == 0
    assert "--compute-factor" in result.stdout
    assert "Parameters" not in result.stdout  # the numpydoc part stays out of --help


# -- argument parsing ------------------------------------------------------------------


def test_parse_mapping_splits_at_first_equals() -> None:
    assert parse_mapping(["N=Model Size", " D =a=b"]) == {"N": "Model Size", "D": "a=b"}
    assert parse_mapping(None) is None


def test_parse_points_one_point_per_option() -> None:
    assert parse_points(["N=7e10,D=1.4e12", "N=1e9, D=2e10"]) == {
        "N": [7e10, 1e9],
        "D": [1.4e12, 2e10],
    }


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7e10", 7e10),
        ("70B", 7e10),
        ("1.4T", 1.4e12),
        ("500M", 5e8),
        ("2k", 2e3),
        ("10^24", 1e24),
        ("10**24", 1e24),
        ("1e24 FLOPs", 1e24),
        ("3e11 params", 3e11),
        ("-5", -5.0),
    ],
)
def test_numbers_read_as_bayescale_writes_them(text: str, value: float) -> None:
    from bayescale._format import format_number, parse_quantity

    assert parse_quantity(text) == pytest.approx(value, rel=1e-12)
    # A count printed by bayescale reads back.
    assert parse_quantity(format_number(value, "size")) == pytest.approx(value, rel=1e-3)


def test_a_printed_size_reads_back_as_the_number_printed() -> None:
    # Regression: 34.3B was read as 34.3 * 1e9 = 34299999999.999996, so a size copied from
    # bayescale's output gave a forecast at a point a hair off the one printed.
    from bayescale._format import parse_quantity

    for text, value in [("34.3B", 34_300_000_000.0), ("1.93T", 1_930_000_000_000.0)]:
        assert parse_quantity(text) == value
    assert parse_quantity("0.7M") == 700_000.0 and parse_quantity("-2.5k") == -2500.0


def test_points_and_budgets_take_the_outputs_number_format() -> None:
    assert parse_points(["N=70B,D=1.4T"]) == {"N": [7e10], "D": [1.4e12]}
    for bad, said in [
        ("N=70X,D=1.4T", "'70X' is not a number; write e.g. 7e10, 70B or 1.4T"),
        ("N=1,000,D=1", "is not NAME=VALUE"),
        ("N=1e400,D=1", "'1e400' is too large for a number"),
    ]:
        with pytest.raises(typer.BadParameter, match=re.escape(said)):
            parse_points([bad])
    done = runner.invoke(app, ["optimal", "missing.nc", "-c", "10^24 FLOPs", "-c", "1e999"])
    assert done.exit_code == 2
    assert "'1e999' is too large for a number" in " ".join(done.output.split())


# -- fit -------------------------------------------------------------------------------


def test_fit_writes_file_and_prints_summary(fitted: tuple[Path, Result]) -> None:
    out, result = fitted
    assert out.is_file()
    text = result.stdout
    for name in ("E", "alpha", "beta", "sigma", "R-hat", "90% HDI"):
        assert name in text
    assert "diagnostics pass" in text or "DIAGNOSTICS FAIL" in text
    assert f"Saved the fit to {out}" in text.replace("\n", "")
    saved = bayescale.load_fit(out)
    assert saved.law.name == "chinchilla"
    assert len(saved.runs) == 40
    assert saved.runs.columns["N"] == "Model Size"
    # The default learns the discrepancy, and says what it found.
    assert saved.discrepancy is not None and saved.settings["discrepancy"] == "backtest"
    assert "Discrepancy: the law's error beyond the runs grows by" in " ".join(text.split())


def test_fit_refuses_to_overwrite_before_sampling(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "fit.nc"
    out.write_bytes(b"an earlier fit")

    def no_sampling(*args: object, **kwargs: object) -> None:
        raise AssertionError("sampling started although --out exists")

    monkeypatch.setattr("bayescale.fitting.fit", no_sampling)
    result = invoke("fit", str(runs_csv), "--law", "chinchilla", *X_MAP, "--out", str(out))
    assert_user_error(result, str(out), "--force")
    assert out.read_bytes() == b"an earlier fit"


def test_fit_force_overwrites(runs_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "fit.nc"
    out.write_bytes(b"an earlier fit")
    args = ["fit", str(runs_csv), "--law", "chinchilla", *X_MAP, *SMALL, "--seed", "1"]
    result = invoke(*args, "--out", str(out), "--force", "--discrepancy", "none")
    assert result.exit_code == 0, result.output
    saved = bayescale.load_fit(out)
    assert saved.seed == 1
    # Switched off: no backtests, and the command says what the intervals then assume.
    assert saved.discrepancy is None and saved.settings["discrepancy"] == "none"
    said = " ".join(result.stdout.split())
    assert "No discrepancy: switched off (discrepancy='none'); the intervals assume" in said


def test_fit_strict_failure_writes_nothing(runs_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "fit.nc"
    # 2 chains x 20 draws cannot reach ESS 200: the diagnostics must fail.
    starved = ["--draws", "20", "--tune", "20", "--chains", "2", "--strict"]
    result = invoke(
        "fit", str(runs_csv), "--law", "chinchilla", *X_MAP, *starved, "--out", str(out)
    )
    assert_user_error(result, "DIAGNOSTICS FAIL", "nothing was written", code=3)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(["missing.csv", *X_MAP], ["file not found", "missing.csv"], id="missing-file"),
        pytest.param(
            ["{csv}", "--x", "N=Model Sise", "--x", "D=Tokens"],
            ["no column 'Model Sise'", "'Model Size'", "'Tokens'", "'loss'"],
            id="unknown-column",
        ),
        pytest.param(
            ["{csv}", "--x", "N:Model Size"], ["--x", "NAME=COLUMN", "N:Model Size"], id="bad-x"
        ),
        pytest.param(
            ["{csv}", "--x", "N=comment", "--x", "D=Tokens"],
            ["'comment'", "'baseline'", "not a number"],
            id="non-numeric",
        ),
        pytest.param(
            ["{csv}", *X_MAP, "--y", "Loss"], ["no column 'Loss'", "did you mean 'loss'"], id="y"
        ),
    ],
)
def test_fit_bad_input(
    runs_csv: Path, tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    out = tmp_path / "fit.nc"
    args = [a.replace("{csv}", str(runs_csv)) for a in args]
    result = invoke("fit", *args, "--law", "chinchilla", "--out", str(out))
    assert_user_error(result, *fragments)
    assert not out.exists()


def test_fit_unknown_law_suggests(runs_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "fit.nc"
    result = invoke("fit", str(runs_csv), "--law", "chinchila", *X_MAP, "--out", str(out))
    assert_user_error(result, "unknown law 'chinchila'", "did you mean 'chinchilla'")
    assert not out.exists()


def test_fit_missing_option_is_one_line(runs_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "fit.nc"
    result = invoke("fit", str(runs_csv), "--out", str(out))
    assert_user_error(result, "missing option '--law'", "(see 'bayescale fit --help')")
    assert not out.exists()


def test_unexpected_error_hides_traceback_unless_debug(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("bayescale.laws.get_law", broken)
    args = ["fit", str(runs_csv), "--law", "chinchilla", *X_MAP, "--out", str(tmp_path / "f.nc")]
    line = assert_user_error(invoke(*args), "unexpected RuntimeError: boom", "report", code=1)
    assert "BAYESCALE_DEBUG=1" in line
    debug = invoke(*args, env={"BAYESCALE_DEBUG": "1"})
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("error: unexpected RuntimeError")


# -- forecast --------------------------------------------------------------------------


def check_intervals(frame: pd.DataFrame, tag: str = "90") -> None:
    for kind in ("law", "pred"):
        lower, median, upper = (
            frame[f"{kind}_{q}"] for q in (f"lower_{tag}", "median", f"upper_{tag}")
        )
        assert (lower < median).all() and (median < upper).all(), kind


def test_forecast_averages_a_saved_comparison(fitted: tuple[Path, Result], tmp_path: Path) -> None:
    from bayescale.comparison import Comparison, compare
    from bayescale.errors import BayescaleError

    out, _ = fitted
    one = bayescale.load_fit(out)
    folder = tmp_path / "cmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fixture's short chains
        compare({"one": one, "two": one}).save(folder)
        expected = Comparison.load(folder).average().forecast(parse_points([AT]))
    doc = json.loads(invoke("forecast", str(folder), "--at", AT, "--format", "json").stdout)
    assert set(doc["weights"]) == {"one", "two"} and doc["weights_method"] == "stacking"
    for column in ("law_median", "pred_lower_90", "pred_upper_90"):
        assert doc["forecast"][0][column] == pytest.approx(float(expected[column].iloc[0]))
    shown = invoke("forecast", str(folder), "--at", AT)
    assert shown.exit_code == 0 and "Averaged forecast" in shown.stdout
    assert_user_error(
        invoke("forecast", str(folder), "--at", AT, "--mode", "0"), "--mode applies to one fit"
    )
    # In Python, the folder is named for what it is; a fit is saved as .nc only.
    with pytest.raises(BayescaleError, match="is a folder written by compare, not a fit"):
        bayescale.load_fit(folder)
    with pytest.raises(BayescaleError, match=r"give a name ending in \.nc \(got '.*out\.csv'\)"):
        one.save(tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_optimal_and_target_plan_under_a_saved_comparisons_laws(
    fitted: tuple[Path, Result], tmp_path: Path
) -> None:
    from bayescale.comparison import Comparison, compare

    out, _ = fitted
    one = bayescale.load_fit(out)
    folder = tmp_path / "cmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fixture's short chains
        compare({"one": one, "two": one}).save(folder)
        averaged = Comparison.load(folder).average({"one": 0.3, "two": 0.7})
        plan = averaged.compute_optimal([1e21, 1e22])
        budget = averaged.budget_for(2.2, prob=0.9)
    weights = ["--weights", "one=0.3,two=0.7"]
    doc = json.loads(
        invoke(
            "optimal", str(folder), "-c", "1e21", "-c", "1e22", *weights, "--format", "json"
        ).stdout
    )
    assert doc["weights"] == {"one": 0.3, "two": 0.7} and doc["weights_method"] == "user"
    for row, (_, expected) in zip(doc["rows"], plan.iterrows(), strict=True):
        for column in ("N_median", "N_upper_90", "loss_pred_lower_90"):
            assert row[column] == pytest.approx(float(expected[column]))
    shown = invoke("optimal", str(folder), "-c", "1e21", *weights)
    assert shown.exit_code == 0 and "laws averaged" in shown.stdout
    said = " ".join(shown.stdout.split())
    assert "Each law's own median N: one" in said
    assert re.search(r"one \S+ \(at 1e\+?21 FLOPs\); two \S+ \(at 1e\+?21 FLOPs\)", said), said
    doc = json.loads(
        invoke(
            "target", str(folder), "--loss", "2.2", "--prob", "0.9", *weights, "--format", "json"
        ).stdout
    )
    assert doc["budget"][0]["C_median"] == pytest.approx(float(budget["C_median"].iloc[0]))
    assert doc["budget"][0]["C_run_prob_90"] == pytest.approx(
        float(budget["C_run_prob_90"].iloc[0])
    )
    assert doc["weights"] == {"one": 0.3, "two": 0.7}
    assert_user_error(
        invoke("optimal", str(folder), "-c", "1e21", "--sweep", "runs=9"), "--sweep simulates one"
    )
    assert_user_error(
        invoke("target", str(folder), "--loss", "2.2", "--weights", "onee=1"),
        "onee is not a law of the comparison",
        "did you mean one?",
    )
    assert_user_error(
        invoke("optimal", str(out), "-c", "1e21", "--weights", "stacking"),
        "--weights weighs the laws of a comparison folder",
    )
    # A saved average is read as saved (its own weights), or reweighted by name.
    averaged.save(tmp_path / "avg")
    doc = json.loads(
        invoke("optimal", str(tmp_path / "avg"), "-c", "1e21", "-c", "1e22", "-f", "json").stdout
    )
    assert [r["N_median"] for r in doc["rows"]] == pytest.approx(list(plan["N_median"]))
    assert doc["weights"] == {"one": 0.3, "two": 0.7}
    assert_user_error(
        invoke("forecast", str(tmp_path / "avg"), "--at", AT, "--weights", "stacking"),
        "is a saved average, without the comparison's scores",
    )
    assert_user_error(
        invoke("next", str(tmp_path / "avg"), "--candidates", "c.csv", "--target", AT),
        "is a folder of averaged laws (Average.save), not a fit",
    )


def test_compare_pooling_choices_from_the_command_line(runs_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(runs_csv)
    grouped = tmp_path / "grouped.csv"
    frame.assign(family=np.resize(["a", "b"], len(frame))).to_csv(grouped, index=False)
    common = ["compare", str(grouped), *X_MAP, "--out", str(tmp_path / "p")]
    base = [*common, "--laws", "chinchilla"]
    # Refused before any sampling.
    assert_user_error(invoke(*base, "--pooling", "none,partial"), "give the grouping column")
    assert_user_error(
        invoke(
            *common, "--laws", "chinchilla,kaplan", "--group", "family", "--pooling", "none,partial"
        ),
        "--pooling compares pooling choices of one law; --laws gives 2",
    )
    assert_user_error(
        invoke(*base, "--group", "family", "--pooling", "partial,parital"),
        "give two or more different choices of none, partial, complete",
    )
    assert_user_error(invoke(*base, "--group", "family"), "give at least two laws")
    cut = float(np.quantile(frame["Model Size"] * frame["Tokens"] * 6, 0.75))
    args = [*base, "--group", "family", "--pooling", "partial,complete", *SMALL]
    done = invoke(*args, "--holdout-above", f"C={cut:.3g}")
    assert done.exit_code == 0, done.output
    written = pd.read_csv(tmp_path / "p" / "pooling.csv")
    assert list(written["pooling"]) == ["partial", "complete"]
    assert {"elpd_loo", "n_train", "n_test", "elpd", "coverage_90"} <= set(written.columns)
    shown = " ".join(done.stdout.split())
    assert "Best on the held-out larger runs (summed elpd):" in shown
    assert "Its held-out lead over" in shown and "+/-" in shown
    # Shares in percent on screen (as the README says), fractions in the file; counts whole.
    coverage = written["coverage_90"].iloc[0]
    assert f"{100 * coverage:.0f}%" in shown
    assert pd.api.types.is_integer_dtype(written["n_test"])
    # The table is not overwritten without --force.
    before = (tmp_path / "p" / "pooling.csv").read_bytes()
    assert_user_error(invoke(*args), "pooling.csv")
    assert (tmp_path / "p" / "pooling.csv").read_bytes() == before


def test_forecast_csv(fitted: tuple[Path, Result]) -> None:
    out, _ = fitted
    result = invoke("forecast", str(out), "--at", AT, "--at", "N=1e9,D=2e10", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame["N"]) == [7e10, 1e9]
    assert list(frame["D"]) == [1.4e12, 2e10]
    check_intervals(frame)
    assert frame.loc[0, "extrapolation"] > 1 > frame.loc[1, "extrapolation"]
    # A failed fit's warning goes to stderr only, so stdout stays machine-readable.
    assert ("warning:" in result.stderr) == (not bayescale.load_fit(out).ok)


def test_a_law_in_one_input_named_l_is_an_ordinary_fit(tmp_path: Path) -> None:
    # L is the link fits' input, but a law of layers alone is no link: it is saved and
    # forecast like any other (only a fit recording a metric is a link fit).
    rng = np.random.default_rng(5)
    layers = np.geomspace(2, 64, 12)
    truth = lambda n: 2.0 + 3.0 / n**0.5  # noqa: E731
    data = tmp_path / "layers.csv"
    loss = truth(layers) * np.exp(0.005 * rng.standard_normal(12))
    pd.DataFrame({"layers": layers, "loss": loss}).to_csv(data, index=False)
    out = tmp_path / "layers.nc"
    law = ["--law", "E + A / L**alpha", "--x", "L=layers", "--discrepancy", "none"]
    done = invoke("fit", str(data), *law, *SMALL, "--seed", "0", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert "metric" not in bayescale.load_fit(out).info
    result = invoke("forecast", str(out), "--at", "L=128", "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["forecast"]
    assert row["L"] == 128
    assert row["law_lower_90"] < truth(128) < row["law_upper_90"]
    assert 2.0 < row["law_median"] < truth(64)


def test_forecast_json_levels_and_warning(fitted: tuple[Path, Result]) -> None:
    out, _ = fitted
    result = invoke(
        "forecast", str(out), "--at", AT, "--level", "0.5", "--level", "0.9", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["law"] == "chinchilla"
    assert (document["warning"] is None) == document["diagnostics_ok"]
    frame = pd.DataFrame(document["forecast"])
    assert len(frame) == 1
    check_intervals(frame, "90")
    check_intervals(frame, "50")
    assert (frame["law_lower_90"] < frame["law_lower_50"]).all()


def test_forecast_shows_the_librarys_warnings(
    fitted: tuple[Path, Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A new group's forecast drawn from a prior warned in Python but not on the command line,
    # which silenced every warning but a failed fit's.
    from bayescale.fitting import Fit

    original = Fit.forecast

    def forecast(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        warnings.warn(
            "separate per group: E. drawn from the law's prior", UserWarning, stacklevel=2
        )
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Fit, "forecast", forecast)
    out, _ = fitted
    table = invoke("forecast", str(out), "--at", AT)
    assert table.exit_code == 0, table.output
    assert "warning: separate per group: E. drawn from the law's prior" in table.stderr
    document = json.loads(invoke("forecast", str(out), "--at", AT, "-f", "json").stdout)
    assert "separate per group: E. drawn from the law's prior" in document["warnings"]


def test_forecast_table(fitted: tuple[Path, Result]) -> None:
    out, _ = fitted
    result = invoke("forecast", str(out), "--at", AT)
    assert result.exit_code == 0, result.output
    text = result.stdout
    for header in ("law", "median", "90% interval", "new run", "extrap."):
        assert header in text
    assert "70B" in text and "1.4T" in text  # readable scales
    csv = invoke("forecast", str(out), "--at", AT, "-f", "csv")
    median = pd.read_csv(io.StringIO(csv.stdout)).loc[0, "law_median"]
    assert 1 < median < 10
    assert f"{median:.3f}" in text


def test_a_point_inside_the_runs_reads_inside_not_as_a_tiny_ratio(
    fitted: tuple[Path, Result],
) -> None:
    out, _ = fitted
    # Inside the runs' range on N, D and C: its ratio to the largest run is about 0.01.
    result = invoke("forecast", str(out), "--at", "N=1e8,D=3e9", "--at", AT)
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if " law " in f" {line} "]
    assert rows[0][-1] == "inside" and rows[1][-1].endswith("x")  # 70B is far beyond
    assert "inside: within the data's range" in " ".join(result.stdout.split())


def test_target_at_points_shows_sizes_as_the_other_tables_do(fitted: tuple[Path, Result]) -> None:
    out, _ = fitted
    result = invoke("target", str(out), "--loss", "2.3", "--at", "N=6.9e9,D=1.38e11")
    assert result.exit_code == 0, result.output
    assert "6.9B" in result.stdout and "138B" in result.stdout
    assert "6.900e9" not in result.stdout and "1.380e11" not in result.stdout


def test_group_words_on_the_command_line(fitted: tuple[Path, Result], tmp_path: Path) -> None:
    from bayescale.cli._guard import cli_words

    out, _ = fitted
    # A report's group on a fit without groups: in the command line's words.
    message = assert_user_error(
        invoke("report", str(out), "--group", "c4", "--out", str(tmp_path / "r.html")),
        "this fit has no groups, so the report cannot be about group 'c4'",
        "fit the runs with 'bayescale fit ... --group COLUMN'",
        "or leave out --group",
    )
    assert "group=" not in message
    # (A group the fit lacks: Fit.group names the group most likely meant itself, see
    # tests/test_compare.py.)
    assert "--pooling partial for a new group" in cli_words(
        "...; fit with pooling='partial' for a new group drawn from the groups' population"
    )


def test_fit_refuses_a_single_group_and_a_pooling_typo_before_its_header(
    runs_csv: Path, tmp_path: Path
) -> None:
    frame = pd.read_csv(runs_csv)
    one = tmp_path / "one.csv"
    frame.assign(family="a").to_csv(one, index=False)
    base = ["fit", str(one), "--law", "chinchilla", *X_MAP, "--out", str(tmp_path / "f.nc")]
    done = invoke(*base, "--group", "family")
    assert_user_error(done, "every one of the 40 runs is in group 'a'")
    assert "Fitting chinchilla" not in done.stdout and "pooling:" not in done.stdout
    two = tmp_path / "two.csv"
    frame.assign(family=np.resize(["a", "b"], len(frame))).to_csv(two, index=False)
    base[1] = str(two)
    done = invoke(*base, "--group", "family", "--pooling", "partiall")
    message = assert_user_error(
        done, "--pooling must be partial, none, complete or NAME=KIND", "did you mean 'partial'?"
    )
    assert "{parameter: kind}" not in message and "Fitting" not in done.stdout


@pytest.mark.parametrize(
    ("at", "fragments"),
    [
        pytest.param("N7e10,D=1.4e12", ["--at", "NAME=VALUE"], id="no-equals"),
        pytest.param("N=7e10,D=lots", ["--at", "D='lots'", "not a number"], id="not-a-number"),
        pytest.param("N=7e10,,D=1.4e12", ["--at", "NAME=VALUE"], id="empty-item"),
        pytest.param("N=7e10", ["needs N, D", "missing D"], id="missing-input"),
        pytest.param(
            "N=-7e10,D=1.4e12", ["forecast input N", "> 0", "logarithm of N"], id="negative"
        ),
        pytest.param("N=7e10,d=1.4e12", ["--at", "d is not an input", "did you mean D"], id="case"),
        pytest.param("N=7e10,D=1.4e12,X=3", ["--at", "X is not an input"], id="unknown"),
        pytest.param(
            "N=7e10,D=1.4e12,C=1e20",
            ["point 1", "C = 1e+20", "6 N D = 5.88e+23", "factor 2"],
            id="inconsistent-C",
        ),
    ],
)
def test_forecast_bad_at(fitted: tuple[Path, Result], at: str, fragments: list[str]) -> None:
    out, _ = fitted
    result = invoke("forecast", str(out), "--at", at)
    assert_user_error(result, *fragments)
    assert result.stdout == ""


def test_forecast_points_must_name_same_inputs(fitted: tuple[Path, Result]) -> None:
    out, _ = fitted
    result = invoke("forecast", str(out), "--at", AT, "--at", "N=1e9,C=1e20")
    assert_user_error(result, "point 2", "same inputs")


def test_forecast_missing_fit_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.nc"
    assert_user_error(invoke("forecast", str(missing), "--at", AT), "fit file not found", "nope.nc")


def test_forecast_not_a_fit_file(runs_csv: Path) -> None:
    assert_user_error(invoke("forecast", str(runs_csv), "--at", AT), "not a bayescale fit")


# -- the real console script -----------------------------------------------------------


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("bayescale")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bayescale.cli"]


def test_console_script_fit_then_forecast(runs_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "fit.nc"
    # PyTensor writes the source of every graph it compiles into a temporary file and keeps
    # it; a command must leave none behind.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "COLUMNS": "120", "TMPDIR": str(scratch)}
    command = [*console_script(), "fit", str(runs_csv), "--law", "chinchilla", *X_MAP, *SMALL]
    done = subprocess.run(
        [*command, "--out", str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert list(scratch.iterdir()) == []
    # The command line is recorded in the fit for reproducibility.
    recorded = bayescale.load_fit(out).info["command"]
    assert "fit" in recorded and "--x 'N=Model Size'" in recorded

    done = subprocess.run(
        [*console_script(), "forecast", str(out), "--at", AT, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    check_intervals(pd.DataFrame(json.loads(done.stdout)["forecast"]))
    assert list(scratch.iterdir()) == []

    # The same command in another process (another hash seed: no set or dict order may leak
    # into the starts or the sampler) gives the same posterior, draw for draw.
    again = tmp_path / "again.nc"
    done = subprocess.run(
        [*command, "--out", str(again)],
        capture_output=True,
        text=True,
        env={**env, "PYTHONHASHSEED": "12345"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    first, second = bayescale.load_fit(out), bayescale.load_fit(again)
    xr.testing.assert_equal(first.idata.posterior, second.idata.posterior)
    assert first.idata.posterior["alpha"].std() > 0  # draws, not a constant


# -- demo ------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = invoke("demo", "--out", str(out), *SMALL)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "70B" in text and "1.4T" in text
    for name in ("fit", "plot", "data"):
        assert name in text
    assert (out / "fit.nc").is_file()
    assert str(out / "fit.nc") in text.replace("\n", "")
    # A second run must not clobber the first without --force.
    before = (out / "fit.nc").read_bytes()
    assert_user_error(invoke("demo", "--out", str(out), *SMALL), "exist already", "--force")
    assert (out / "fit.nc").read_bytes() == before


def test_a_groups_parameters_keep_their_labels_in_the_cli_tables() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from bayescale.cli._render import frame_table, summary_table

    # 'E[c4]' must not be read as rich markup (it was printed as a bare 'E').
    summary = pd.DataFrame(
        {
            "median": [1.6, 1.7],
            "hdi_90_lower": [1.5, 1.6],
            "hdi_90_upper": [1.7, 1.8],
            "sd": [0.05, 0.05],
            "r_hat": [1.0, 1.0],
            "ess_bulk": [900.0, 900.0],
            "ess_tail": [900.0, 900.0],
        },
        index=pd.Index(["E[c4]", "E[rpj]"], name="parameter"),
    )
    fake = SimpleNamespace(summary=lambda: summary, diagnostics=SimpleNamespace(ess_min=400.0))
    console = Console(width=100, record=True)
    console.print(summary_table(fake, "posterior"))
    console.print(frame_table(pd.DataFrame({"group": ["[b]old"], "x": [1.0]}), "t"))
    text = console.export_text()
    assert "E[c4]" in text and "E[rpj]" in text and "[b]old" in text


def test_tables_show_counts_as_counts_and_never_cut_a_number(monkeypatch) -> None:
    from rich.console import Console

    from bayescale.cli import _render

    frame = pd.DataFrame(
        {
            "law": ["chinchilla"],
            "n_train": [96.0],
            "elpd_per_run": [3.2114],
            "coverage_90": [0.8333],
            "mare": [0.006792],
            "pareto_k_bad": [0.0],
        }
    )
    narrow = Console(width=60, record=True)
    narrow.print(_render.frame_table(frame, "held out"))
    text = narrow.export_text()
    assert "…" not in text and "96.00" not in text
    assert " 96 " in text and "0.00679" in text  # folded onto two lines, not cut
    # Into a file or a pipe the tables are wide enough not to wrap.
    monkeypatch.delenv("COLUMNS", raising=False)
    assert _render.console().width == _render.WIDTH_NOT_A_TERMINAL


def test_a_formula_over_several_lines_is_shown_on_one() -> None:
    from bayescale.cli._render import formula_line

    text = "\nterm_N = A * N^(-a)\nterm_D = B * D^(-b)\nE + term_N + term_D\n"
    assert formula_line(text) == "term_N = A * N^(-a); term_D = B * D^(-b); L = E + term_N + term_D"
    assert formula_line("Ls = E + A / N**a; Ls * (1 + B / D**b)") == (
        "Ls = E + A / N**a; L = Ls * (1 + B / D**b)"
    )


def test_a_misspelt_group_column_is_answered_in_the_command_lines_words(
    runs_csv: Path, tmp_path: Path
) -> None:
    out = str(tmp_path / "fit.nc")
    result = invoke(
        "fit", str(runs_csv), "--law", "chinchilla", *X_MAP, "--group", "Tokns", "--out", out
    )
    line = assert_user_error(result, "no column 'Tokns' (for the groups)", "--group COLUMN")
    assert "group='<column>'" not in line


def test_a_grouped_fit_says_the_pooling_in_effect(capsys: pytest.CaptureFixture[str]) -> None:
    # A law file's [pooling] table decided the model without a word on the command line.
    from bayescale.cli.commands.fit import _describe
    from bayescale.laws import get_law

    frame = pd.DataFrame(
        {"N": [1e8, 2e8, 1e8, 2e8], "D": [1e9, 2e9, 1e9, 2e9], "loss": [3.0, 2.9, 3.1, 3.0]}
    )
    frame["family"] = ["a", "a", "b", "b"]
    runs = bayescale.load_runs(frame, group="family")
    law = dataclasses.replace(get_law("chinchilla"), pooling={"alpha": "shared", "E": "separate"})
    _describe(runs, law, {"beta": "shared"})
    text = " ".join(capsys.readouterr().out.split())
    assert "pooling: shared: alpha, beta; pooled: A, B; separate: E" in text


def test_the_librarys_python_remedies_are_given_in_the_command_lines_words() -> None:
    from bayescale.cli._guard import cli_words

    assert cli_words("E differs by group in this fit; pass group= one of a, b (or 'new')") == (
        "E differs by group in this fit; pass --group, one of a, b (or 'new')"
    )
    assert cli_words("pool it (pooling={'E': 'pooled'}) to learn it") == (
        "pool it (--pooling E=pooled) to learn it"
    )
    assert cli_words("nothing to change here") == "nothing to change here"


def test_a_formulas_remedies_are_said_in_the_command_lines_words(tmp_path: Path) -> None:
    frame = pd.DataFrame({"N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9, 1.28e10]})
    frame["D"] = 20 * frame["N"]
    frame["loss"] = 1.8 + 400 / frame["N"] ** 0.34 + 400 / frame["D"] ** 0.28
    data = tmp_path / "runs.csv"
    frame.to_csv(data, index=False)
    law = "E + A/N**alpha + B/D**beta + k*log(lr/lr0)**2"
    done = invoke("fit", str(data), "--law", law, "--out", str(tmp_path / "f.nc"))
    message = assert_user_error(done, "'lr' and 'lr0' are used like inputs", "(--x lr=COLUMN)")
    assert "priors=" not in message and "load_runs(" not in message
    assert "declare them in a .toml law file" in message
