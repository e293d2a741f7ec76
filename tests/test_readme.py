"""The README's examples really run: its Python blocks and its command lines, as a user would.

They run in this process (the Python blocks with runpy, the commands through the CLI's own
app), so that they share the compiled models of the rest of the suite; the installed console
script itself is exercised by tests/test_cli.py. The examples share one working folder, as a
user's session would; the downstream ones need Gadre et al.'s data from ../shared/data (or the
folder named by BAYESCALE_DATA) and are skipped without it.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayescale.cli import app
from bayescale.demo import demo_runs

README = Path(__file__).resolve().parents[1] / "README.md"
OVERTRAIN = Path("overtrain") / "downstream.csv"


@contextmanager
def _inside(folder: Path) -> Iterator[None]:
    """Run with `folder` as the working directory, as a user who cd'ed there."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _block_with(language: str, text: str) -> str:
    """The one block of `language` that contains `text`."""
    (block,) = [b for b in _blocks(language) if text in b]
    return block


def _commands(block: str) -> list[list[str]]:
    """The `bayescale` command lines of a shell block: continuations joined, comments cut."""
    lines = [line.split("#")[0].strip() for line in block.replace("\\\n", " ").splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("bayescale ")]


def _run_commands(folder: Path, commands: list[list[str]]) -> list[str]:
    """Run each command as `bayescale` would, in `folder`; return their outputs."""
    runner = CliRunner()
    outputs = []
    with _inside(folder):
        for command in commands:
            done = runner.invoke(app, command[1:])
            assert done.exit_code == 0, f"{shlex.join(command)}\n{done.output[-3000:]}"
            outputs.append(done.output)
    return outputs


def _shared_data() -> Path | None:
    """The folder of the real datasets, found as the notebooks find it; None if absent."""
    if os.environ.get("BAYESCALE_DATA"):
        folder = Path(os.environ["BAYESCALE_DATA"]).expanduser()
    else:
        folder = Path(__file__).resolve().parents[2] / "shared" / "data"
    return folder.resolve() if (folder / OVERTRAIN).is_file() else None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding demo-output/runs.csv, as `make demo` leaves it."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "demo-output").mkdir()
    runs = demo_runs(0)
    runs.table.rename(columns={"y": runs.y_name}).to_csv(
        folder / "demo-output" / "runs.csv", index=False
    )
    return folder


def test_readme_shows_the_two_commands_first() -> None:
    first = _blocks("bash")[0]
    assert [line.split("#")[0].strip() for line in first.splitlines()] == ["make demo", "make test"]
    # ... and how to reach the environment they build.
    assert "source .venv/bin/activate" in _blocks("bash")[1]


def test_every_code_block_names_its_language() -> None:
    text = README.read_text(encoding="utf-8")
    fences = re.findall(r"^```(\S*)$", text, re.M)
    openings = fences[::2]
    assert len(fences) % 2 == 0 and all(openings), openings
    assert not any(fences[1::2]), "a closing fence carries a language"


@pytest.mark.slow
def test_python_example_runs(workdir: Path) -> None:
    # The decisions block continues the first example (it uses its `fit`).
    first, decisions = _blocks("python")[:2]
    # "Which run next" continues it too.
    (nxt,) = [b for b in _blocks("python") if "fit.recommend(" in b]
    example = first + decisions + nxt
    assert "bayescale.fit(" in example and ".forecast(" in example and ".budget_for(" in example
    script = workdir / "example.py"
    script.write_text(example, encoding="utf-8")
    with _inside(workdir):
        names = runpy.run_path(str(script), run_name="__main__")
    assert "law_lower_90" in names["table"].columns
    assert names["plan"]["chosen"].sum() == 3 and (workdir / "grid.csv").is_file()
    assert (workdir / "my-fit.nc").is_file()
    assert (
        names["same"]
        .forecast({"N": 7e10, "D": 1.4e12})
        .equals(names["fit"].forecast({"N": 7e10, "D": 1.4e12}))
    )


@pytest.mark.slow
def test_cli_example_runs(workdir: Path) -> None:
    text = _block_with("bash", "bayescale laws ") + _block_with("bash", "bayescale optimal ")
    commands = _commands(text)
    assert [c[1] for c in commands] == [
        *("laws", "laws", "fit", "forecast", "forecast"),
        *("optimal", "target", "target", "compare", "optimal"),
    ]
    _run_commands(workdir, commands)
    runner = CliRunner()
    assert (workdir / "my-cli-fit.nc").is_file()
    assert (workdir / "my-comparison" / "verdict.txt").is_file()
    # The IsoFLOP minima beside that fit's plan.
    (block,) = [b for b in _blocks("bash") if "bayescale isoflop" in b]
    with _inside(workdir):
        done = runner.invoke(app, shlex.split(block.strip())[1:])
    assert done.exit_code == 0, done.output[-3000:]
    assert "The measured minimum lies inside the fit's 90% intervals" in " ".join(
        done.output.split()
    )
    # The README's report of that fit and comparison: one set of runs, so the report averages.
    with _inside(workdir):
        args = ["report", "my-cli-fit.nc", "--compare", "my-comparison"]
        done = runner.invoke(app, [*args, "--at", "N=7e10,D=1.4e12", "--out", "report.html"])
    assert done.exit_code == 0, done.output[-3000:]
    html = (workdir / "report.html").read_text(encoding="utf-8")
    assert "different data" not in html and "other runs than this fit" not in html


@pytest.mark.slow
def test_hierarchy_example_runs(workdir: Path) -> None:
    # The Python block writes families.csv, which its command lines then fit.
    block = _block_with("python", 'group="dataset"')
    script = workdir / "families.py"
    script.write_text(block, encoding="utf-8")
    with _inside(workdir):
        names = runpy.run_path(str(script), run_name="__main__")
    assert set(names["frame"]["dataset"]) == {"web", "books", "new-mix"}
    assert (workdir / "families.csv").is_file()
    commands = _commands(_block_with("bash", "--group dataset"))
    assert [c[1] for c in commands] == ["fit", "forecast"]
    _, forecast = _run_commands(workdir, commands)
    assert (workdir / "families.nc").is_file()
    assert "new-mix" in forecast and "new" in forecast.replace("new-mix", "")


@pytest.mark.slow
def test_downstream_example_runs(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _shared_data()
    if data is None:
        pytest.skip("Gadre et al.'s data (overtrain/) is absent: CI has ../shared/data")
    # The README reads $BAYESCALE_DATA, else ../shared/data: the working folder is elsewhere.
    monkeypatch.setenv("BAYESCALE_DATA", str(data))
    block = _block_with("python", "downstream.fit_link(")
    script = workdir / "downstream_example.py"
    script.write_text(block, encoding="utf-8")
    with _inside(workdir):
        names = runpy.run_path(str(script), run_name="__main__")
    assert len(names["small"]) > 0 and (workdir / "small.csv").is_file()
    # The command lines fit small.csv, chain the link and write a report with it.
    commands = _commands(_block_with("bash", "bayescale link "))
    assert [c[1] for c in commands] == ["fit", "link", "report"]
    _run_commands(workdir, commands)
    assert (workdir / "hellaswag.nc").is_file()
    html = (workdir / "c4-report.html").read_text(encoding="utf-8")
    assert "Downstream forecast" in html
