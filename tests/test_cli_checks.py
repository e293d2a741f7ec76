"""The command line checks before it works, and stops cleanly (bayescale.cli's guard).

- inputs are checked before PyMC is imported, and outputs before any sampling;
- the sampler options travel as one SamplerSettings, checked once (seed, draws, levels...);
- Ctrl-C exits 130 with one line and writes nothing;
- the exact command line is recorded in fits and reports.

The library is replaced by stubs where the test is about what the command line does before
or instead of calling it, so these tests sample nothing.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from bayescale.cli import app
from bayescale.cli._guard import run_guarded
from bayescale.errors import OutputExistsError
from bayescale.settings import SamplerSettings

runner = CliRunner(env={"COLUMNS": "200"})
X_MAP = ["--x", "N=params", "--x", "D=tokens"]


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_one_error(result: Result, *fragments: str, code: int = 2) -> str:
    """Exit code, ONE ``error:`` line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


class Stop(Exception):
    """Raised by a stub once it has recorded what the command passed to the library."""


def recorder(calls: dict[str, Any], error: BaseException | None = None):
    """A stub of a library function: records its arguments, then raises `error` (or Stop)."""

    def stub(*args: Any, **kwargs: Any) -> None:
        calls["args"], calls["kwargs"] = args, kwargs
        raise error if error is not None else Stop("stub")

    return stub


def forbid(monkeypatch: pytest.MonkeyPatch, *targets: str) -> None:
    """Make each target fail the test if it is called: the command must stop before."""
    for target in targets:

        def called(*args: object, _target: str = target, **kwargs: object) -> None:
            raise AssertionError(f"{_target} was called")

        monkeypatch.setattr(target, called)


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n, d = 10 ** rng.uniform(7, 9, 20), 10 ** rng.uniform(9, 11, 20)
    loss = 1.8 + 480 / n**0.35 + 2000 / d**0.37
    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    pd.DataFrame({"params": n, "tokens": d, "loss": loss}).to_csv(path, index=False)
    return path


# -- 1. inputs before PyMC -------------------------------------------------------------


def run_in_fresh_process(args: list[str], cwd: Path) -> tuple[int, bool, str]:
    """Run the CLI in a new interpreter; return its exit code, whether PyMC was imported,
    and stderr."""
    code = (
        "import sys\n"
        "from bayescale.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exit:\n"
        "    print(exit.code, 'pymc' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    status, imported = done.stdout.split()
    return int(status), imported == "True", done.stderr


@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        (["fit", "missing.csv", "--law", "chinchilla", "--out", "x.nc"], "missing.csv"),
        (["fit", "{csv}", "--law", "chinchilla", "--x", "N=nope", "--out", "x.nc"], "'nope'"),
        (["compare", "missing.csv", "--laws", "chinchilla,kaplan", "--out", "cmp"], "missing"),
        (["fit", "{csv}", "--law", "chinchilla", *X_MAP, "--seed", "-1", "--out", "x.nc"], "seed"),
    ],
    ids=["missing-file", "bad-column", "compare-missing-file", "bad-seed"],
)
def test_input_errors_come_before_pymc_is_imported(
    runs_csv: Path, tmp_path: Path, command: list[str], fragment: str
) -> None:
    args = [a.replace("{csv}", str(runs_csv)) for a in command]
    status, imported, stderr = run_in_fresh_process(args, tmp_path)
    assert status == 2, stderr
    assert not imported, "PyMC was imported before the input error was reported"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_reported_before_pymc_is_imported(
    runs_csv: Path, tmp_path: Path
) -> None:
    (tmp_path / "x.nc").write_bytes(b"earlier")
    args = ["fit", str(runs_csv), "--law", "chinchilla", *X_MAP, "--out", "x.nc"]
    status, imported, stderr = run_in_fresh_process(args, tmp_path)
    assert (status, imported) == (2, False), stderr
    assert "'x.nc' exists already; choose another --out or add --force" in stderr


# -- 2. outputs before any work --------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "fragment"),
    [("no-such-folder/fit.nc", "does not exist; create it first"), (".", "is a folder")],
    ids=["missing-folder", "a-folder"],
)
def test_fit_checks_out_before_sampling(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, fragment: str
) -> None:
    forbid(monkeypatch, "bayescale.fitting.fit")
    out_path = tmp_path / out
    result = invoke("fit", str(runs_csv), "--law", "chinchilla", *X_MAP, "--out", str(out_path))
    assert_one_error(result, fragment)
    assert list(tmp_path.iterdir()) == []


def test_compare_checks_its_folder_before_fitting(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "bayescale.comparison.compare", "bayescale.fitting.fit")
    out = tmp_path / "cmp"
    (out / "fits").mkdir(parents=True)
    (out / "fits" / "kaplan.nc").write_bytes(b"earlier")
    args = ["compare", str(runs_csv), "--laws", "chinchilla,kaplan", *X_MAP, "--out", str(out)]
    assert_one_error(invoke(*args), "kaplan.nc", "exists already", "--force")
    assert (out / "fits" / "kaplan.nc").read_bytes() == b"earlier"
    file_out = tmp_path / "a-file"
    file_out.write_text("x")
    args[-1] = str(file_out)
    assert_one_error(invoke(*args), "is a file; give a folder")


@pytest.mark.parametrize("which", ["--out", "--pdf"])
def test_report_checks_out_and_pdf_before_loading_the_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    forbid(monkeypatch, "bayescale.fitting.load_fit", "bayescale.report.write_report")
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    (html if which == "--out" else pdf).write_text("earlier")
    result = invoke("report", "fit.nc", "--out", str(html), "--pdf", str(pdf))
    assert_one_error(result, "exists already", f"choose another {which}", "--force")


def test_demo_checks_its_folder_before_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "bayescale.demo.run_demo")
    (tmp_path / "fit.nc").write_bytes(b"earlier")
    assert_one_error(invoke("demo", "--out", str(tmp_path)), "fit.nc", "exists already", "--force")
    assert (tmp_path / "fit.nc").read_bytes() == b"earlier"


# -- 3. one SamplerSettings ------------------------------------------------------------


def test_fit_passes_one_sampler_settings_and_the_command_line(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, Any] = {}
    monkeypatch.setattr("bayescale.fitting.fit", recorder(calls))
    args = ["fit", str(runs_csv), "--law", "chinchilla", *X_MAP, "--out", str(tmp_path / "f.nc")]
    args += ["--draws", "30", "--tune", "20", "--chains", "3", "--target-accept", "0.9"]
    args += ["--seed", "7"]
    invoke(*args)
    kwargs = calls["kwargs"]
    assert kwargs["sampler"] == SamplerSettings(
        draws=30, tune=20, chains=3, target_accept=0.9, seed=7, progress=True
    )
    assert kwargs["command"] == shlex.join(["bayescale", *args])


def test_compare_passes_target_accept(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, Any] = {}
    monkeypatch.setattr("bayescale.comparison.compare", recorder(calls))
    args = ["compare", str(runs_csv), "--laws", "chinchilla,kaplan", *X_MAP]
    invoke(*args, "--out", str(tmp_path / "cmp"), "--target-accept", "0.99", "--seed", "3")
    sampler = calls["kwargs"]["sampler"]
    assert (sampler.target_accept, sampler.seed) == (0.99, 3)


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--seed", "-1"], "seed must be a whole number from 0 to 4294967295"),
        (["--seed", str(2**64)], "seed must be a whole number from 0 to 4294967295"),
        (["--seed", "1.5"], "invalid value for '--seed'"),
        (["--draws", "0"], "draws must be a whole number >= 1"),
        (["--target-accept", "1.2"], "--target-accept must be in [0.5, 1), got 1.2"),
    ],
    ids=["negative", "too-large", "fraction", "no-draws", "target-accept"],
)
@pytest.mark.parametrize("command", ["fit", "compare", "demo"])
def test_bad_sampler_settings_stop_before_any_work(
    runs_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    option: list[str],
    fragment: str,
) -> None:
    forbid(monkeypatch, "bayescale.fitting.fit", "bayescale.demo.run_demo")
    given = {
        "fit": ["fit", str(runs_csv), "--law", "chinchilla", *X_MAP],
        "compare": ["compare", str(runs_csv), "--laws", "chinchilla,kaplan", *X_MAP],
        "demo": ["demo"],
    }[command]
    result = invoke(*given, "--out", str(tmp_path / "out"), *option)
    assert_one_error(result, fragment)
    assert list(tmp_path.iterdir()) == []


# -- 4. credible levels ----------------------------------------------------------------


@pytest.mark.parametrize("level", ["1.5", "0", "-0.1", "1"])
@pytest.mark.parametrize(
    "command",
    [
        ["forecast", "fit.nc", "--at", "N=1e9,D=1e10"],
        ["optimal", "fit.nc", "--compute", "1e21"],
        ["target", "fit.nc", "--loss", "2"],
        ["report", "fit.nc", "--out", "{tmp}/r.html"],
    ],
    ids=["forecast", "optimal", "target", "report"],
)
def test_level_outside_zero_one_stops_before_loading_the_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], level: str
) -> None:
    forbid(monkeypatch, "bayescale.fitting.load_fit")
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    assert_one_error(invoke(*args, "--level", level), "--level", "between 0 and 1")
    assert list(tmp_path.iterdir()) == []


# -- 5. Ctrl-C -------------------------------------------------------------------------


@pytest.mark.parametrize("earlier", [False, True], ids=["new-file", "force-over-earlier"])
def test_interrupted_fit_exits_130_and_writes_nothing(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, earlier: bool
) -> None:
    monkeypatch.setattr("bayescale.fitting.fit", recorder({}, KeyboardInterrupt()))
    out = tmp_path / "fit.nc"
    if earlier:
        out.write_bytes(b"earlier")
    args = ["fit", str(runs_csv), "--law", "chinchilla", *X_MAP, "--out", str(out)]
    result = invoke(*args, *(["--force"] if earlier else []))
    assert_one_error(result, "interrupted: nothing was written", code=130)
    assert [p.name for p in tmp_path.iterdir()] == (["fit.nc"] if earlier else [])
    if earlier:
        assert out.read_bytes() == b"earlier"


def test_interrupted_demo_names_what_it_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def partial(out: Path, **kwargs: object) -> None:
        (Path(out) / "runs.csv").write_text("N,D,loss\n")
        raise KeyboardInterrupt

    monkeypatch.setattr("bayescale.demo.run_demo", partial)
    result = invoke("demo", "--out", str(tmp_path))
    assert_one_error(result, "interrupted: kept", str(tmp_path / "runs.csv"), code=130)


# -- 6. the command line recorded, and the library's words completed -------------------


def test_report_records_the_exact_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = SimpleNamespace(
        ok=True,
        diagnostics=SimpleNamespace(verdict=lambda: "pass"),
        info={},
        law=SimpleNamespace(name="chinchilla", inputs=("N", "D")),
    )
    monkeypatch.setattr("bayescale.fitting.load_fit", lambda path: fake)
    calls: dict[str, Any] = {}
    monkeypatch.setattr("bayescale.report.write_report", recorder(calls))
    args = ["report", "my fit.nc", "--out", str(tmp_path / "r.html"), "--at", "N=7e10,D=1.4e12"]
    invoke(*args)
    assert calls["kwargs"]["command"] == shlex.join(["bayescale", *args])
    assert "'my fit.nc'" in calls["kwargs"]["command"]
    assert calls["kwargs"]["at"] == [{"N": 7e10, "D": 1.4e12}]


def run(error: BaseException, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    def command() -> None:
        raise error

    code = run_guarded(command)
    return code, capsys.readouterr().err


def test_guard_adds_the_force_flag_to_the_library_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = run(OutputExistsError("'fit.nc' exists already; choose another name"), capsys)
    assert code == 2
    assert (
        err == "error: 'fit.nc' exists already; choose another name; add --force to overwrite it\n"
    )


def test_guard_interrupt_and_unexpected(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(KeyboardInterrupt(), capsys) == (130, "error: interrupted: nothing was written\n")
    code, err = run(ZeroDivisionError("x"), capsys)
    assert code == 1 and err.startswith("error: unexpected ZeroDivisionError: x;")


@pytest.mark.slow
def test_ctrl_c_during_a_real_fit_keeps_the_earlier_file(tmp_path: Path) -> None:
    """A real SIGINT to the console script while it samples: exit 130, the file untouched."""
    from bayescale.demo import demo_runs

    runs = demo_runs(0)
    runs.table.rename(columns={"y": runs.y_name}).to_csv(tmp_path / "runs.csv", index=False)
    out = tmp_path / "fit.nc"
    out.write_bytes(b"earlier")
    # Enough draws to sample for minutes: the interrupt always comes before the save.
    args = ["fit", "runs.csv", "--law", "chinchilla", "--out", "fit.nc", "--force"]
    args += ["--draws", "2000000", "--chains", "2"]
    code = f"from bayescale.cli import main; main({args!r})"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # A shell's background job inherits SIGINT ignored; a user's Ctrl-C is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("to "):  # the header is printed: the sampler starts next
            break
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted: nothing was written"
    assert out.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc", "runs.csv"]


def test_ctrl_c_inside_compiled_code_is_an_interrupt() -> None:
    # A KeyboardInterrupt landing in numba-compiled code (finding the sampler's starts) comes
    # out as "SystemError: ... returned a result with an exception set", its cause the
    # interrupt: the CLI said "unexpected SystemError ... please report it" (seen once in a
    # run of the test above, whose Ctrl-C came during the start search).
    from bayescale.cli._guard import EXIT_INTERRUPTED, _error_and_code
    from bayescale.errors import interrupt_in

    def compiled() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("CPUDispatcher(...) returned a result with an exception set") from (
                interrupt
            )

    with pytest.raises(SystemError) as caught:
        compiled()
    assert isinstance(interrupt_in(caught.value), KeyboardInterrupt)
    message, code = _error_and_code(caught.value)
    assert code == EXIT_INTERRUPTED and message.startswith("interrupted: ")
    assert interrupt_in(ValueError("x")) is None
    message, code = _error_and_code(SystemError("a real one"))
    assert code != EXIT_INTERRUPTED and message.startswith("unexpected SystemError")


def test_a_column_to_map_is_named_with_the_cli_option(runs_csv: Path) -> None:
    # The library's message says x={'N': ...}; the command line says its own option instead.
    result = invoke(
        "fit",
        str(runs_csv),
        "--law",
        "chinchilla",
        "--x",
        "N=param",
        "--x",
        "D=tokens",
        "--out",
        "x.nc",
    )
    line = assert_one_error(
        result, "no column 'param'", "(did you mean 'params'?); map it with --x N=COLUMN"
    )
    assert "x={" not in line and "on the command line" not in line
    result = invoke(
        "fit", str(runs_csv), "--law", "chinchilla", *X_MAP, "--y", "Loss", "--out", "x.nc"
    )
    line = assert_one_error(
        result, "no column 'Loss'", "choose the response column with --y COLUMN"
    )
    assert "y='" not in line


# -- 7. --law: a catalog name, a law file or a formula ---------------------------------

#: 14 terms, 279 characters: longer than a file name may be, well within the formula limit.
LONG_LAW = "E + " + " + ".join(f"A{i}*N**-a{i}*D**-b{i}" for i in range(14))


def test_a_long_formula_is_a_law_not_a_file_name(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert 255 < len(LONG_LAW) < 2000
    # 45 parameters with the noise: as many runs at least.
    frame = pd.concat([pd.read_csv(runs_csv)] * 3, ignore_index=True)
    frame["params"] *= np.repeat([1.0, 1.1, 1.2], len(frame) // 3)
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    calls: dict[str, Any] = {}
    monkeypatch.setattr("bayescale.fitting.fit", recorder(calls))
    invoke("fit", str(path), "--law", LONG_LAW, *X_MAP, "--out", str(tmp_path / "f.nc"))
    law = calls["args"][1]
    assert law.formula.text == LONG_LAW and len(law.parameters) == 43


@pytest.mark.parametrize(
    ("law", "fragments"),
    [
        ("", ["the law is empty; give a catalog name (bnsl, chinchilla"]),
        ("E + A/N**alpha + B/d**beta", ["'d' is not an input", "did you mean 'D'?"]),
        ("E + A/N**a + B/tokens**b", ["'tokens' is the column mapped to input 'D'"]),
        ("1 / N", ["has no parameters", "a law needs at least one parameter"]),
    ],
    ids=["empty", "letter-case", "column", "no-parameter"],
)
def test_a_law_the_user_mistook_is_refused_before_fitting(
    runs_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    law: str,
    fragments: list[str],
) -> None:
    forbid(monkeypatch, "bayescale.fitting.fit")
    result = invoke("fit", str(runs_csv), "--law", law, *X_MAP, "--out", str(tmp_path / "f.nc"))
    assert_one_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_a_formula_parameter_named_as_an_unmapped_column_is_refused(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only N is mapped: 'tokens' in the formula would be fitted as a number, the column unused.
    forbid(monkeypatch, "bayescale.fitting.fit")
    result = invoke(
        "fit", str(runs_csv), "--law", "E + A/N**a + B/tokens**b", "--x", "N=params",
        "--out", str(tmp_path / "f.nc"),
    )  # fmt: skip
    assert_one_error(
        result, "'tokens' is a column of", "that no input uses", "--x X=tokens", "write that input"
    )
    assert list(tmp_path.iterdir()) == []


def test_compare_splits_laws_outside_parentheses_and_numbers_formulas(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, Any] = {}
    monkeypatch.setattr("bayescale.comparison.compare", recorder(calls))
    laws = "E + A / maximum(N, D)**alpha,chinchilla,E + B / D**beta"
    result = invoke("compare", str(runs_csv), "--laws", laws, *X_MAP, "--out", str(tmp_path / "c"))
    chosen = calls["kwargs"]["laws"]
    assert [law.name for law in chosen] == ["custom_1", "chinchilla", "custom_2"]
    assert chosen[0].formula.text == "E + A / maximum(N, D)**alpha"
    assert "Comparing custom_1 (E + A / maximum(N, D)**alpha), chinchilla, custom_2" in (
        result.output
    )


def test_compare_refuses_a_law_given_twice_before_it_starts(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "bayescale.comparison.compare")
    laws = "chinchilla,kaplan,chinchilla"
    result = invoke("compare", str(runs_csv), "--laws", laws, *X_MAP, "--out", str(tmp_path / "c"))
    assert_one_error(result, "--laws", "chinchilla given more than once")
    assert "Comparing" not in result.output


def test_compare_shows_which_held_out_refits_failed(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bayescale.comparison import Comparison

    names = pd.Index(["chinchilla", "kaplan"], name="law")
    loo = pd.DataFrame(
        {"elpd_loo": [60.0, 50.0], "se": 5.0, "elpd_diff": [0.0, 10.0], "dse": [0.0, 2.0]}
        | {"p_loo": 4.0, "weight": [0.9, 0.1], "pareto_k_bad": 0},
        index=names,
    )
    scores = {"elpd_per_run": [2.0, 1.0], "coverage_50": 0.5, "coverage_90": 0.9, "r2": 0.9}
    extrapolation = pd.DataFrame(
        {"law": names, "holdout": "N > 1e8", "threshold": 1e8, "n_train": 12, "n_test": 8}
        | scores
        | {"mare": 0.01, "diagnostics_ok": [True, False]}
    )
    fits = {name: SimpleNamespace(ok=True) for name in names}
    made = Comparison(fits, loo, extrapolation)  # type: ignore[arg-type]
    monkeypatch.setattr("bayescale.comparison.compare", lambda *args, **kwargs: made)
    monkeypatch.setattr(Comparison, "save", lambda self, folder, overwrite=False: {})
    args = ["compare", str(runs_csv), "--laws", "chinchilla,kaplan", *X_MAP]
    result = invoke(*args, "--holdout-above", "N=1e8", "--out", str(tmp_path / "c"))
    assert result.exit_code == 0, result.output
    held_out = result.stdout[result.stdout.index("Held-out larger runs") :].split("Stacking")[0]
    assert "diagnostics_ok" in held_out
    rows = {line.split()[1]: line for line in held_out.splitlines() if "N > 1e8" in line}
    last = {law: row.rstrip(" │").split()[-1] for law, row in rows.items()}
    assert last == {"chinchilla": "yes", "kaplan": "NO"}
    assert "kaplan: the refit for the held-out runs at N > 1e8 failed its diagnostics" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["--out", "fit.csv"],
            "--out fit.csv: a fit is saved as NetCDF; give a name ending in .nc",
        ),
    ],
)
def test_an_output_named_for_another_format_is_refused(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], fragment: str
) -> None:
    forbid(monkeypatch, "bayescale.fitting.fit")
    monkeypatch.chdir(tmp_path)
    result = invoke("fit", str(runs_csv), "--law", "chinchilla", *X_MAP, *args)
    assert_one_error(result, fragment)
    assert list(tmp_path.iterdir()) == []


def test_a_report_must_be_named_html_and_pdf(tmp_path: Path) -> None:
    fit_file = tmp_path / "fit.nc"
    fit_file.write_bytes(b"not read: the names are checked first")
    result = invoke("report", str(fit_file), "--out", str(tmp_path / "r.txt"))
    assert_one_error(result, "the report is HTML; give a name ending in .html or .htm")
    result = invoke(
        "report", str(fit_file), "--out", str(tmp_path / "r.html"), "--pdf", str(tmp_path / "r")
    )
    assert_one_error(result, "--pdf writes a PDF; give a name ending in .pdf")


# -- 5. an output is never an input; one rule for missing folders ---------------------------


def test_same_file_sees_one_file_under_any_spelling(tmp_path: Path) -> None:
    from bayescale.cli._guard import same_file

    fit = tmp_path / "fit.nc"
    fit.write_bytes(b"a fit")
    (tmp_path / "hard.nc").hardlink_to(fit)
    (tmp_path / "soft.nc").symlink_to(fit)
    assert same_file(fit, tmp_path / "hard.nc") and same_file(fit, tmp_path / "soft.nc")
    assert same_file(fit, tmp_path / "sub" / ".." / "fit.nc")
    assert not same_file(fit, tmp_path / "other.nc")  # absent: compared by its path
    (tmp_path / "copy.nc").write_bytes(b"a fit")
    assert not same_file(fit, tmp_path / "copy.nc")  # equal bytes, another file


@pytest.mark.parametrize("spelling", ["same", "dot", "hard-link"])
def test_link_never_saves_over_its_input_fit_even_with_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    forbid(monkeypatch, "bayescale.fitting.load_fit", "bayescale.downstream.fit_link")
    monkeypatch.chdir(tmp_path)
    fit = tmp_path / "loss.nc"
    fit.write_bytes(b"hours of sampling")
    pd.DataFrame({"N": [1e8], "D": [2e9], "loss": [3.0], "err": [0.5]}).to_csv("ot.csv")
    save = {"same": "loss.nc", "dot": "./sub/../loss.nc", "hard-link": "again.nc"}[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "hard-link":
        Path(save).hardlink_to(fit)
    result = invoke("link", "loss.nc", "ot.csv", "--metric", "err", "--save", save, "--force")
    assert_one_error(result, "--save:", "is the loss fit FIT.nc", "even with --force")
    assert fit.read_bytes() == b"hours of sampling"


def test_compare_never_writes_over_its_data(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "bayescale.comparison.compare", "bayescale.fitting.fit")
    out = tmp_path / "cmp"
    out.mkdir()
    data = out / "loo.csv"  # a table of runs named as the comparison's own table
    data.write_bytes(runs_csv.read_bytes())
    args = ["compare", str(data), "--laws", "chinchilla,kaplan", *X_MAP, "--out", str(out)]
    assert_one_error(invoke(*args, "--force"), "loo.csv' is the data DATA", "even with --force")
    assert data.read_bytes() == runs_csv.read_bytes()


@pytest.mark.parametrize(
    "command",
    [
        ["compare", "{csv}", "--laws", "chinchilla,kaplan", *X_MAP, "--out", "{tmp}/nodir/cmp"],
        ["demo", "--out", "{tmp}/nodir/demo"],
        ["report", "fit.nc", "--out", "{tmp}/nodir/r.html"],
        ["report", "fit.nc", "--out", "{tmp}/r.html", "--pdf", "{tmp}/nodir/r.pdf"],
    ],
    ids=["compare", "demo", "report", "report-pdf"],
)
def test_a_missing_parent_folder_is_refused_as_fit_refuses_it(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    forbid(
        monkeypatch,
        "bayescale.comparison.compare",
        "bayescale.demo.run_demo",
        "bayescale.fitting.load_fit",
    )
    args = [a.replace("{csv}", str(runs_csv)).replace("{tmp}", str(tmp_path)) for a in command]
    assert_one_error(invoke(*args), "nodir' does not exist; create it first")
    assert not (tmp_path / "nodir").exists()


# -- 6. inputs checked before anything is printed ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("spread=1e300", "spread=1e+300 is out of range: give more than 1 and at most 1000"),
        ("spread=1", "spread=1 is out of range"),
        ("noise=1e10", "noise=1e+10 is out of range: give at least 0 and at most 1"),
        ("runs=3", "runs=3 is out of range: give at least 5"),
        ("runs=7.5", "runs=7.5 is out of range"),
        ("width=3", "width=3: the sweep takes runs, spread, noise"),
    ],
)
def test_optimal_checks_the_sweep_before_reading_the_fit(
    monkeypatch: pytest.MonkeyPatch, value: str, fragment: str
) -> None:
    forbid(monkeypatch, "bayescale.fitting.load_fit")
    result = invoke("optimal", "fit.nc", "-c", "1e24", "--sweep", value)
    assert_one_error(result, fragment)
    assert result.stdout == ""


def fake_fit(*, link: bool = False, groups: bool = False) -> SimpleNamespace:
    """What the commands read of a loaded fit before they use it: a loss or a link fit."""
    law = SimpleNamespace(
        name="exponential" if link else "chinchilla", inputs=("L",) if link else ("N", "D")
    )
    runs = SimpleNamespace(
        y_name="error" if link else "loss",
        columns={"L": "loss"} if link else {"N": "N", "D": "D"},
        compute_factor=6.0,
    )
    info = {"metric": "err", "loss": "loss"} if link else {}
    pooling = SimpleNamespace() if groups else None
    return SimpleNamespace(law=law, runs=runs, info=info, pooling=pooling, ok=True)


@pytest.mark.parametrize(
    ("command", "remedy"),
    [
        (["report", "lk.nc", "--out", "{tmp}/r.html"], "with --link: 'bayescale report LOSS"),
        (["forecast", "lk.nc", "--at", "N=7e10,D=1.4e12"], "'bayescale link LOSS_FIT.nc DATA"),
        (["optimal", "lk.nc", "-c", "1e24"], "this command takes the loss law's fit"),
        (["target", "lk.nc", "--loss", "2"], "this command takes the loss law's fit"),
        (["link", "lk.nc", "{csv}", "--metric", "loss", "--save", "{tmp}/x.nc"], "as FIT.nc"),
    ],
    ids=["report", "forecast", "optimal", "target", "link"],
)
def test_a_link_fit_where_a_loss_fit_is_expected_is_named_as_such(
    runs_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    remedy: str,
) -> None:
    forbid(monkeypatch, "bayescale.report.write_report", "bayescale.downstream.fit_link")
    monkeypatch.setattr("bayescale.fitting.load_fit", lambda path: fake_fit(link=True))
    args = [a.replace("{csv}", str(runs_csv)).replace("{tmp}", str(tmp_path)) for a in command]
    assert_one_error(invoke(*args), "FIT.nc 'lk.nc' is a link fit (loss → err)", remedy)
    assert not (tmp_path / "r.html").exists()


def test_a_comparison_folder_given_as_a_fit_lists_its_fits(tmp_path: Path) -> None:
    folder = tmp_path / "cmp"
    (folder / "fits").mkdir(parents=True)
    (folder / "loo.csv").write_text("law\n")
    for name in ("chinchilla", "kaplan"):
        (folder / "fits" / f"{name}.nc").write_bytes(b"")
    candidates = tmp_path / "candidates.csv"
    candidates.write_text("N,D\n1e9,2e10\n")
    line = assert_one_error(
        invoke("next", str(folder), "--candidates", str(candidates), "--target", "N=7e10,D=1e12"),
        "written by 'bayescale",
    )
    assert f"'{folder / 'fits' / 'chinchilla.nc'}', '{folder / 'fits' / 'kaplan.nc'}'" in line
    assert "Comparison.load" not in line
    assert "only 'bayescale forecast', 'optimal' and 'target' take the folder itself" in line
    # Those that take it read it as a comparison, and say when it is not a whole one.
    assert_one_error(invoke("optimal", str(folder), "-c", "1e24"), "it is not a saved comparison")


def test_report_says_that_a_compare_file_is_not_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "bayescale.fitting.load_fit")
    fit = tmp_path / "base.nc"
    fit.write_bytes(b"a fit")
    result = invoke("report", str(fit), "--compare", str(fit), "--out", str(tmp_path / "r.html"))
    assert_one_error(result, "base.nc: a fit file, not a comparison folder", "bayescale compare")
    result = invoke("report", str(fit), "--compare", "nocmp", "--out", str(tmp_path / "r.html"))
    assert_one_error(result, "--compare nocmp: comparison folder not found")


def test_isoflop_refuses_a_group_or_fixed_it_could_not_use(
    runs_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "bayescale.isoflop.isoflop_minima")
    args = ["isoflop", str(runs_csv), *X_MAP]
    assert_one_error(invoke(*args, "--group", "foo"), "--group foo: the runs are not in groups")
    assert_one_error(invoke(*args, "--fixed", "U=1e9"), "--fixed U=... sets", "give --fit")
    monkeypatch.setattr("bayescale.fitting.load_fit", lambda path: fake_fit())
    result = invoke(*args, "--fit", "fit.nc", "--group", "foo")
    assert_one_error(result, "not in groups and the --fit has no groups", "--group-by COLUMN")


# -- 7. one value per option ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["-l", "kaplan"], "--law/-l is given twice ('chinchilla' and 'kaplan')"),
        (
            ["--group", "g", "--pooling", "alpha=shared,alpha=separate"],
            "--pooling gives alpha twice",
        ),
        (["--draws", "100", "--draws", "200"], "--draws is given twice ('100' and '200')"),
    ],
)
def test_an_option_given_twice_with_two_values_is_refused(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list, fragment: str
) -> None:
    forbid(monkeypatch, "bayescale.fitting.fit", "bayescale.data.load_runs")
    args = ["fit", str(runs_csv), "-l", "chinchilla", *X_MAP, "--out", str(tmp_path / "f.nc")]
    assert_one_error(invoke(*args, *extra), fragment)


def test_an_option_given_twice_alike_passes_and_contradicting_flags_do_not(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "f.nc").write_bytes(b"earlier")
    args = ["fit", str(runs_csv), "-l", "chinchilla", "-l", "chinchilla", *X_MAP]
    # The same value twice is no conflict: the command goes on, to its next check.
    assert_one_error(invoke(*args, "--out", str(tmp_path / "f.nc")), "exists already")
    forbid(monkeypatch, "bayescale.fitting.load_fit")
    result = invoke(
        "next", "f.nc", "--candidates", "c.csv", "--target", "C=1e23", "--law-only", "--discrepancy"
    )
    assert_one_error(result, "--law-only and --discrepancy contradict: give one")
    result = invoke("optimal", "f.nc", "-c", "1e24", "--fixed", "U=1e9", "--fixed", "U=2e9")
    assert_one_error(result, "U is given twice (U=1e+09 and U=2e+09); one value per name")


def test_help_wins_over_an_option_given_twice(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "bayescale.fitting.fit", "bayescale.data.load_runs")
    args = ["fit", str(runs_csv), "-l", "chinchilla", "-l", "kaplan", "--out", str(tmp_path / "f")]
    for where in (len(args), 1):  # --help last, and before the repetition
        result = invoke(*args[:where], "--help", *args[where:])
        assert result.exit_code == 0, result.output
        assert "Usage: " in result.stdout and "--law" in result.stdout
        assert "error:" not in result.output
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize(
    ("twice", "fragment"),
    [
        (["--seed", "1", "--seed", "01"], None),  # one number, two spellings
        (["--draws", "300", "--draws", "0300"], None),
        (["--target-accept", "0.9", "--target-accept", ".90"], None),
        (["--seed", "1", "--seed", "2"], "--seed is given twice ('1' and '2')"),
        (
            ["--target-accept", "0.9", "--target-accept", "0.95"],
            "--target-accept is given twice ('0.9' and '0.95')",
        ),
    ],
)
def test_two_spellings_of_one_value_pass_and_two_values_do_not(
    runs_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    twice: list[str],
    fragment: str | None,
) -> None:
    (tmp_path / "f.nc").write_bytes(b"earlier")
    forbid(monkeypatch, "bayescale.fitting.fit")
    args = ["fit", str(runs_csv), "-l", "chinchilla", *X_MAP, "--out", str(tmp_path / "f.nc")]
    # Equal values go on to the command's next check (the output exists); others stop here.
    assert_one_error(invoke(*args, *twice), fragment or "exists already")


# -- 8. messages in the command line's words ------------------------------------------------


@pytest.mark.parametrize(
    ("library", "command_line"),
    [
        ("draws must be a whole number >= 1, got 0", "--draws must be a whole number >= 1, got 0"),
        ("target_accept must be in [0.5, 1), got 1.5", "--target-accept must be in [0.5, 1)"),
        ("compute_factor must be finite and > 0", "--compute-factor must be finite and > 0"),
        ("seed must be a whole number from 0", "--seed must be a whole number from 0"),
        ("mode must be a whole number from 0 to 0, got 3", "--mode must be a whole number"),
        (
            "fixed={'U': ...}: not an input of the law; law 'chinchilla' has no input",
            "--fixed U=...: not an input of the law; law 'chinchilla' has no input",
        ),
        (
            "fixed={'N': ...} (--fixed N=... on the command line): N, D and C are what",
            "--fixed N=...: N, D and C are what",
        ),
        (
            "criterion 'optimal_N' needs target budgets, e.g. target={'C': 1e23} (FLOPs)",
            "criterion 'optimal_N' needs target budgets, e.g. --target C=1e23 (FLOPs)",
        ),
        (
            "extrapolation weights need a comparison with held-out larger runs: compare(runs, "
            "laws=[...], holdout_above={'C': [...]}), then .average()",
            "extrapolation weights need a comparison with held-out larger runs: 'bayescale "
            "compare DATA --laws ... --holdout-above C=VALUE --out DIR', then forecast with that "
            "folder",
        ),
        (
            "the formula 'E + A/Z**alpha' uses none of the runs' inputs (N, D, C); write it in "
            "those names or pass inputs=[...]",
            "the formula 'E + A/Z**alpha' uses none of the runs' inputs (N, D, C); write it in "
            "those names, or map columns to its inputs with --x NAME=COLUMN",
        ),
        (
            "weights must be non-negative with a positive sum, got {'chinchilla': 0.0, "
            "'kaplan': 0.0}",
            "weights must be non-negative with a positive sum, got --weights "
            "chinchilla=0.0,kaplan=0.0",
        ),
        (
            "this fit has no groups; fit runs loaded with load_runs(..., group='<column>') (on "
            "the command line: bayescale fit ... --group COLUMN) to forecast per group",
            "this fit has no groups; fit the runs with 'bayescale fit ... --group COLUMN' to "
            "forecast per group",
        ),
        (
            "best() names only the PSIS-LOO (interpolation) winner: no extrapolation check was "
            "made; hold out your largest runs: compare(..., holdout_above={'C': [threshold, "
            "...]}) (bayescale compare ... --holdout-above C=VALUE).",
            "the comparison names only the PSIS-LOO (interpolation) winner: no extrapolation "
            "check was made; hold out your largest runs: bayescale compare ... --holdout-above "
            "C=VALUE.",
        ),
        (
            "choose the response column with y='<column>'",
            "choose the response column with --y COLUMN",
        ),
    ],
)
def test_the_librarys_python_words_are_said_as_options(library: str, command_line: str) -> None:
    from bayescale.cli._guard import cli_words

    said = cli_words(library)
    assert command_line in said, said
    for python in ("={", "()", "load_runs(", "inputs=[", "target=", "fixed="):
        assert python not in said, (python, said)


def test_a_mapping_error_gives_every_option_to_add() -> None:
    from bayescale.cli._guard import _error_and_code
    from bayescale.errors import MappingError

    error = MappingError(
        "law 'chinchilla' needs inputs 'N', 'D', but the data from r.csv has only 'Q'; map a "
        "column to each with load_runs(..., x={'N': '<column>'}); column 'D' is read as N "
        "(x={'N': 'D'})",
        ("N", "D"),
    )
    line, code = _error_and_code(error)
    assert code == 2
    assert line == (
        "law 'chinchilla' needs inputs 'N', 'D', but the data from r.csv has only 'Q'; map a "
        "column to each with --x N=COLUMN --x D=COLUMN; column 'D' is read as N (--x N=D)"
    )


def test_fit_says_which_mapping_leaves_the_law_without_an_input(
    runs_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "bayescale.fitting.fit")
    base = ["fit", str(runs_csv), "-l", "chinchilla", "--out", str(tmp_path / "f.nc")]
    stray = invoke(*base, "--x", "Q=params")
    assert_one_error(
        stray, "--x Q=params: Q is not an input of law 'chinchilla' (its inputs: N, D)"
    )
    assert "warning" not in stray.stderr
    both = invoke(*base, "--x", "N=tokens")  # the column meant for D, read as N
    assert_one_error(both, "needs input 'D'", "map a column to each with --x D=COLUMN")


def test_compare_names_an_unclosed_parenthesis(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid(monkeypatch, "bayescale.data.load_runs")
    laws = "E + A / maximum(N, D**alpha,chinchilla"
    result = invoke("compare", "r.csv", "--laws", laws, "--out", "cmp")
    assert_one_error(result, "the '(' at character 16 of", "is never closed", "close it with ')'")
    result = invoke("compare", "r.csv", "--laws", "E + A/N)**a,kaplan", "--out", "cmp")
    assert_one_error(result, "the ')' at character 8 of", "closes no parenthesis")


def test_link_names_its_choices_and_the_data_files_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["link", "loss.nc", str(tmp_path / "ot.csv"), "--metric", "acc", "--accuracy"]
    with monkeypatch.context() as patch:
        forbid(patch, "bayescale.fitting.load_fit")
        result = invoke(*args, "--link", "sigmoidd", "--at", "N=1e9,D=2e10")
    assert_one_error(result, "--link 'sigmoidd' is not a link (did you mean sigmoid?)")
    assert "chinchilla" not in result.stderr  # not the catalog of loss laws
    # The links are the library's own list, read when --link is checked: no copy to drift.
    with monkeypatch.context() as patch:
        patch.setattr("bayescale.downstream.LINKS", ("exponential", "sigmoid", "probit"))
        forbid(patch, "bayescale.fitting.load_fit")
        result = invoke(*args, "--link", "probit", "--at", "N=1e9,D=2e10")
        assert_one_error(result, "file not found")  # past the check of --link: DATA is next
        result = invoke(*args, "--link", "probitt", "--at", "N=1e9,D=2e10")
    assert_one_error(result, "(did you mean probit?): give exponential or sigmoid or probit")
    # The table is checked before the link is sampled: its row is named with its line.
    monkeypatch.setattr("bayescale.fitting.load_fit", lambda path: fake_fit())
    (tmp_path / "ot.csv").write_text(
        "N,D,loss,acc\n1e8,2e9,3.5,0.3\n2e8,4e9,3.2,0.35\n4e8,8e9,3.0,0.4\n8e8,1.6e10,2.8,1.7\n"
    )
    result = invoke(*args, "--at", "N=1e9,D=2e10")
    assert_one_error(
        result, f"{tmp_path / 'ot.csv'}: column 'acc' row 4 (line 5 of the file) is 1.7"
    )


# -- 9. help texts ----------------------------------------------------------------------------


def test_help_paragraphs_wrap_at_any_width_and_nothing_is_cut() -> None:
    from typer.main import get_command

    from bayescale.cli import app

    group = get_command(app)
    for name, command in group.commands.items():
        shown = (command.help or "").partition("\f")[0]
        for paragraph in shown.split("\n\n"):
            assert "\n" not in paragraph.strip(), (name, paragraph)
        narrow = CliRunner(env={"COLUMNS": "80"}).invoke(app, [name, "--help"])
        assert narrow.exit_code == 0 and "…" not in narrow.output, (name, narrow.output)
    listing = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["--help"])
    assert "per unit cost or within --budget." in " ".join(listing.output.replace("│", "").split())


def test_help_says_retries_and_points_at_the_commands() -> None:
    def help_of(*args: str) -> str:
        text = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*args, "--help"]).output
        return " ".join(text.replace("│", "").split())

    for command in ("fit", "compare", "demo", "link"):
        text = help_of(command)
        assert "retries up to twice" in text and "(both doubled)" in text, command
    report = help_of("report")
    assert "saved by 'bayescale link FIT.nc DATA --metric COLUMN --save LINK.nc'" in report
    assert "fit_link" not in report
    assert "With --group-by: only this family's runs" in help_of("isoflop")
