"""The README's examples really run: its Python block and its command lines, as a user would."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bayescale.demo import demo_runs

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent


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
    example = first + decisions
    assert "bayescale.fit(" in example and ".forecast(" in example and ".budget_for(" in example
    script = workdir / "example.py"
    script.write_text(example, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "law_lower_90" in done.stdout
    assert (workdir / "my-fit.nc").is_file()


@pytest.mark.slow
def test_cli_example_runs(workdir: Path) -> None:
    text = _blocks("bash")[1] + _blocks("bash")[2]
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    commands = [shlex.split(line) for line in lines if line.startswith("bayescale ")]
    assert [c[1] for c in commands] == [
        *("laws", "laws", "fit", "forecast", "forecast"),
        *("optimal", "target", "compare"),
    ]
    for command in commands:
        done = subprocess.run(
            [str(BIN / "bayescale"), *command[1:]],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (
            f"{shlex.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    assert (workdir / "my-cli-fit.nc").is_file()
    assert (workdir / "my-comparison" / "verdict.txt").is_file()
