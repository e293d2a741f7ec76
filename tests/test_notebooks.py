"""The tutorial notebooks: stored as jupytext percent-format files, and executed as a user would.

Each notebook runs in its own kernel (the ``python3`` kernel of this environment, checked by a
cell added in memory), with the notebooks folder as working directory, and must finish
without an error and show what it is there to show. A law's model is compiled once per machine
and cached, so once that cache is warm a notebook takes under a minute in a fresh kernel (a
first run on a machine compiles each law: tens of seconds more); the eight together stay well
inside CI's budget.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = (
    "01_quickstart.py",
    "02_chinchilla_replication.py",
    "03_comparing_laws.py",
    "04_custom_law.py",
    "05_honest_intervals.py",
    "06_many_families.py",
    "07_next_runs.py",
    "08_downstream.py",
)
MIN_MARKDOWN_CELLS = 8
CELL_TIMEOUT = 300  # seconds; the slowest cell (a comparison: four fits, two compilations) ~45 s
EPOCH_CSV = Path("chinchilla") / "svg_extracted_data.csv"
OVERTRAIN_CSV = Path("overtrain") / "downstream.csv"


def _read(name: str):
    return jupytext.read(NOTEBOOKS / name)


def _execute(name: str):
    """Run a notebook in a fresh python3 kernel with cwd = notebooks/; return it with outputs."""
    notebook = _read(name)
    # First, so that it runs even when a notebook skips its remaining cells.
    notebook.cells.insert(
        0, nbformat.v4.new_code_cell("import sys\nprint('KERNEL-PYTHON', sys.executable)")
    )
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    return notebook


def _outputs(notebook) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def _text(notebook) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for out in _outputs(notebook):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


def _check_common(notebook) -> str:
    errors = [out for out in _outputs(notebook) if out.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
    text = _text(notebook)
    kernel_python = re.search(r"KERNEL-PYTHON (.+)", text)
    assert kernel_python, "the added cell did not run"
    # The kernel is this environment's interpreter, so the notebooks test this bayescale.
    assert Path(kernel_python.group(1).strip()).parent == Path(sys.executable).parent
    return text


def _epoch_data_available() -> bool:
    if os.environ.get("BAYESCALE_DATA"):
        folder = Path(os.environ["BAYESCALE_DATA"])
        return folder.is_file() or (folder / EPOCH_CSV).is_file()
    return any((NOTEBOOKS / up / "shared" / "data" / EPOCH_CSV).is_file() for up in ("../..", ".."))


def _overtrain_data_available() -> bool:
    if os.environ.get("BAYESCALE_DATA"):
        folder = Path(os.environ["BAYESCALE_DATA"])
        return (folder / OVERTRAIN_CSV).is_file() or (folder / OVERTRAIN_CSV.name).is_file()
    return any(
        (NOTEBOOKS / up / "shared" / "data" / OVERTRAIN_CSV).is_file() for up in ("../..", "..")
    )


# --------------------------------------------------------------------------- stored format


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_a_jupytext_percent_file(name: str) -> None:
    path = NOTEBOOKS / name
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ---\n# jupyter:\n"), "missing the jupytext header"
    notebook = _read(name)
    representation = notebook.metadata["jupytext"]["text_representation"]
    assert representation["format_name"] == "percent"
    kernel = notebook.metadata["kernelspec"]
    assert kernel["name"] == "python3" and kernel["language"] == "python"
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds[0] == "markdown" and notebook.cells[0].source.startswith("# "), "no title"
    assert kinds.count("markdown") >= MIN_MARKDOWN_CELLS, kinds.count("markdown")
    assert kinds.count("code") >= 4
    for cell in notebook.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)  # plain Python: no magics, so the file also runs as a script
    assert text.count("# %%") == len(notebook.cells), "a cell lacks its '# %%' marker"


def test_notebooks_folder_holds_no_ipynb_and_the_readme_lists_every_notebook() -> None:
    assert not list(NOTEBOOKS.glob("*.ipynb")), "commit the jupytext .py files, not .ipynb"
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.py")) == sorted(NAMES)
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert name in readme, f"notebooks/README.md does not describe {name}"


# --------------------------------------------------------------------------- execution


def _check_quickstart(notebook, text: str) -> None:
    assert "<Fit law='chinchilla' runs=108" in text
    assert "law_lower_90" in text and "pred_upper_90" in text
    assert "identical forecasts after reloading: True" in text
    images = [out for out in _outputs(notebook) if "image/png" in out.get("data", {})]
    assert images, "plot_fit's figure was not displayed"


def _check_replication(notebook, text: str) -> None:
    if not _epoch_data_available():
        assert "was not found" in text
        pytest.skip("the Epoch AI data is absent: only the notebook's graceful stop was checked")
    assert "Runs(n=245" in text
    assert "Besiroglu" in text and "Hoffmann" in text
    found = re.search(r"C = 1e\+21 FLOPs:.*?tokens per parameter ([\d.]+)", text)
    assert found, "no compute-optimal tokens per parameter at 1e21 FLOPs"
    assert 15 <= float(found.group(1)) <= 25, found.group(0)
    assert "P(unreachable)" in text and "prob_run_below" in text
    assert "N_disc_upper_90" in text and "N_pred_upper_90" in text  # the plan's three intervals


def _check_comparison(notebook, text: str) -> None:
    assert "elpd_loo" in text and "coverage_90" in text
    assert "PSIS-LOO (interpolation) prefers chinchilla" in text
    assert "(extrapolation) chinchilla predicts best" in text
    assert "average (held-out weights)" in text and "weights used: extrapolation" in text
    # A 50/50 average is not the union of the two laws: its upper end cuts off Chinchilla's
    # upper tail, at both targets (the notebook's prose says so, from these lines).
    ends = re.findall(
        r"law's 90% upper end, chinchilla ([\d.]+), 50/50 average ([\d.]+); true law ([\d.]+)",
        text,
    )
    assert len(ends) == 2, ends
    for own, half, _ in ends:
        assert float(half) < float(own), ends
    # The averaged plan's interval of N spans both laws' own medians.
    plans = re.findall(
        r"N 90% \[([\d.e+]+), ([\d.e+]+)\], median [\d.e+]+; chinchilla's own median "
        r"([\d.e+]+), kaplan's ([\d.e+]+)",
        text,
    )
    assert len(plans) == 2, plans
    for low, high, chinchilla, kaplan in plans:
        assert float(low) <= min(float(chinchilla), float(kaplan)), plans
        assert max(float(chinchilla), float(kaplan)) <= float(high), plans


def _check_custom_law(notebook, text: str) -> None:
    assert text.count("refused: in formula") >= 4, "the hostile formulas were not all refused"
    assert "which the formula 'E + A / N**alpha' does not use" in text
    assert "Default for an amplitude" in text and "set by the user" in text
    assert "<Fit law='shared_exponent' runs=108" in text
    assert "identical posterior draws: True" in text


def _check_honest_intervals(notebook, text: str) -> None:
    rates = dict(re.findall(r"(drift|control): growth rate s = ([\d.]+)", text))
    assert float(rates["drift"]) > 5 * float(rates["control"]), rates
    assert "disc_lower_90" in text and "pred_upper_90" in text
    cover = dict(re.findall(r"(drift|control) +backtest +([\d.]+)", text))
    plain = dict(re.findall(r"(drift|control) +plain +([\d.]+)", text))
    assert float(plain["drift"]) < 0.5 <= 0.8 <= float(cover["drift"]), (plain, cover)
    assert float(cover["control"]) >= 0.8
    assert "N_pred_upper_90" in text  # the plan's interval of a new curve's minimum
    # The held-out curves' minima set beside the plan by isoflop_minima: the interval with the
    # discrepancy holds them on the control sweep.
    assert re.search(r"in_law +in_disc +in_pred", text)


def _check_many_families(notebook, text: str) -> None:
    assert "refused:" in text and "parameters" in text
    assert "pooled: E, A, B, alpha, beta" in text
    assert re.search(r"truth inside the 90% interval for \d+ of 3", text)
    sds = dict(re.findall(r"new-mix E: sd alone ([\d.]+), pooled ([\d.]+)", text))
    assert sds and all(float(pooled) < float(alone) for alone, pooled in sds.items()), sds
    images = [out for out in _outputs(notebook) if "image/png" in out.get("data", {})]
    assert len(images) >= 3, "the group, population and shrinkage plots were not displayed"
    # With a discrepancy, the family with four small runs is widened more than a rich one.
    added = dict(re.findall(r"^(web|new-mix): law .* ([\d.]+) wider$", text, re.M))
    assert set(added) == {"web", "new-mix"}, added
    assert float(added["new-mix"]) > float(added["web"]) > 0, added


def _check_next_runs(notebook, text: str) -> None:
    assert "criterion: loss" in text and "criterion: optimal_N" in text
    found = re.search(r"now ([\d.]+)\n  after the recommended runs: ([\d.]+)", text)
    assert found and float(found.group(2)) < float(found.group(1)), found
    images = [out for out in _outputs(notebook) if "image/png" in out.get("data", {})]
    assert images, "plot_recommendation's figure was not displayed"
    # The discrepancy's part of the target's variance shrinks with the batch, and is a part.
    part = re.search(
        r"variance at the target ([\d.e+-]+), of which the discrepancy ([\d.e+-]+); after the "
        r"batch ([\d.e+-]+) \(([\d.e+-]+)\)",
        text,
    )
    assert part, "the discrepancy's part was not shown"
    total, disc, total_after, disc_after = map(float, part.groups())
    assert 0 < disc < total and disc_after < disc and total_after < total


def _check_downstream(notebook, text: str) -> None:
    if not _overtrain_data_available():
        assert "was not found" in text
        pytest.skip("Gadre et al.'s data is absent: only the notebook's graceful stop was checked")
    assert "31 C4 runs up to 412M parameters" in text
    assert "26 of 46 tasks are above chance" in text
    found = re.search(
        r"error: forecast ([\d.]+), credible \[([\d.]+), ([\d.]+)\], "
        r"one model \[([\d.]+), ([\d.]+)\] +observed ([\d.]+)",
        text,
    )
    assert found, "no chained forecast of the averaged error"
    median, low, high, pred_low, pred_high, observed = map(float, found.groups())
    # One model's interval holds the credible one (it adds both noises), which holds the median.
    assert pred_low < low < median < high < pred_high
    assert abs(median - observed) / observed < 0.1, (median, observed)
    assert "near chance: True" in text and "refused: 'mmlu' stays at chance" in text
    task = re.search(r"winograd error: forecast ([\d.]+), one model \[([\d.]+), ([\d.]+)\]", text)
    assert task and 0 <= float(task.group(2)) < float(task.group(1)) < float(task.group(3)) <= 1
    images = [out for out in _outputs(notebook) if "image/png" in out.get("data", {})]
    assert images, "plot_link's figure was not displayed"


CHECKS = {
    "01_quickstart.py": _check_quickstart,
    "02_chinchilla_replication.py": _check_replication,
    "03_comparing_laws.py": _check_comparison,
    "04_custom_law.py": _check_custom_law,
    "05_honest_intervals.py": _check_honest_intervals,
    "06_many_families.py": _check_many_families,
    "07_next_runs.py": _check_next_runs,
    "08_downstream.py": _check_downstream,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The notebooks keep their outputs in a temporary folder, for the reader to look at; here
    # it is the test's own, so test runs do not pile folders up in the system's.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    notebook = _execute(name)
    text = _check_common(notebook)
    after = sorted(p.name for p in NOTEBOOKS.iterdir())
    assert after == before, "the notebook wrote into the repository"
    CHECKS[name](notebook, text)


@pytest.mark.slow
def test_replication_stops_gracefully_without_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAYESCALE_DATA", str(tmp_path / "no-such-folder"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    notebook = _execute("02_chinchilla_replication.py")
    text = _check_common(notebook)
    assert "was not found" in text and "The remaining cells are skipped" in text
    assert "Runs(n=" not in text and "<Fit" not in text
