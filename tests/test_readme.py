"""The README's examples really run: its Python blocks and its command lines, as a user would.

They run in this process (the Python blocks with runpy, the commands through the CLI's own
app), so that they share the compiled models of the rest of the suite; the installed console
script itself is exercised by tests/test_cli.py.
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
    text = _blocks("bash")[1] + _blocks("bash")[2]
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    commands = [shlex.split(line) for line in lines if line.startswith("bayescale ")]
    assert [c[1] for c in commands] == [
        *("laws", "laws", "fit", "forecast", "forecast"),
        *("optimal", "target", "target", "compare"),
    ]
    runner = CliRunner()
    with _inside(workdir):
        for command in commands:
            done = runner.invoke(app, command[1:])
            assert done.exit_code == 0, f"{shlex.join(command)}\n{done.output[-3000:]}"
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
