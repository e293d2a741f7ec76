"""The report's "Downstream forecast" section, ``bayescale report --link`` and ``plot_link``.

A user has a loss fit and a link from the loss to a benchmark's error (fitted on the same
runs), and asks for the report with the link. The tests read the HTML as a reader's tool
would (the ``data-key``/``data-value`` of every number) and check that the section shows
exactly what :func:`bayescale.downstream.chain` gives, that a link whose runs are at chance
is flagged instead of forecast, that a link extrapolating past [0, 1] is warned about, and
that the command line refuses a bad ``--link`` file in one clear line.
"""

from __future__ import annotations

import base64
import io
import re
from contextlib import nullcontext
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

import bayescale
from bayescale import downstream, report
from bayescale.cli import app
from bayescale.errors import BayescaleError, DataError
from bayescale.plots import plot_link
from bayescale.plots.downstream import link_chance

SETTINGS = {"draws": 300, "tune": 300, "chains": 2, "seed": 5}
TARGETS = [{"N": 1e9, "D": 2e10}, {"N": 1e12, "D": 2e13}]  # in the runs; 300x beyond them
runner = CliRunner()

_SPAN = re.compile(r'<span class="num" data-key="([^"]*)" data-value="([^"]*)"[^>]*>([^<]*)</span>')


def _link_runs(eps: float, k: float, gamma: float, low: float, seed: int) -> pd.DataFrame:
    """(loss, error) of 40 runs on Gadre et al.'s exponential link, 0.5 points of noise."""
    rng = np.random.default_rng(seed)
    loss = rng.uniform(low, 3.6, 40)
    error = eps - k * np.exp(gamma * (3.5 - loss)) + 0.005 * rng.standard_normal(40)
    return pd.DataFrame({"loss": loss, "err": error})


@pytest.fixture(scope="module")
def link_fit() -> bayescale.Fit:
    """A link from a four-choice task's runs, with losses of the conftest's runs."""
    runs = _link_runs(0.72, 0.1, 0.8, low=1.9, seed=0)
    return downstream.fit_link(runs, "loss", "err", chance=0.25, **SETTINGS)


@pytest.fixture(scope="module")
def steep_fit() -> bayescale.Fit:
    """A steep link fitted on high losses only: at the far target it falls below an error of 0."""
    runs = _link_runs(0.75, 0.05, 2.5, low=2.6, seed=1)
    return downstream.fit_link(runs, "loss", "err", chance=0.25, **SETTINGS)


@pytest.fixture(scope="module")
def chance_fit() -> bayescale.Fit:
    """A link fitted on runs at chance (fit_link refuses them; bayescale.fit does not)."""
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {"L": rng.uniform(2.5, 3.6, 30), "error": 0.75 + 0.01 * rng.standard_normal(30)}
    )
    runs = bayescale.load_runs(frame, x={"L": "L"}, y="error")
    return bayescale.fit(runs, downstream.link_law("exponential", chance=0.25), **SETTINGS)


def numbers(html: str) -> dict[str, float]:
    """Key -> exact value of every number shown (a key shown twice must agree)."""
    values: dict[str, float] = {}
    for key, value, _ in _SPAN.findall(html):
        key = unescape(key)
        assert values.get(key, float(value)) == float(value), key
        values[key] = float(value)
    return values


def section(html: str) -> str:
    start = html.index('<section id="downstream">')
    return html[start : html.index("</section>", start)]


def test_the_section_shows_the_chain_numbers(healthy_fit, link_fit, steep_fit) -> None:
    links = {"mmlu": link_fit, "steep task": steep_fit}
    context = report.build_context(healthy_fit, at=TARGETS, downstream=links, figures=False)
    sections = list(context["meta"]["sections"])
    assert sections[sections.index("forecast") + 1] == "downstream"
    html = report.render_html(context)
    # Headings are numbered as the contents are, past the inserted section too.
    for number, name in enumerate(sections, start=1):
        title = context["meta"]["sections"][name]
        assert f"<h2>{number}. {title}</h2>" in html, name
    shown = numbers(html)
    points = pd.DataFrame(TARGETS)
    for name, link in links.items():
        with pytest.warns(UserWarning) if name == "steep task" else nullcontext():
            table = downstream.chain(healthy_fit, link, points, level=0.9)
        assert len(table) == 2
        for i, row in table.iterrows():
            for column, value in row.items():
                key = f"downstream.{name}.{i}.{column}"
                assert shown[key] == pytest.approx(float(value), rel=1e-12, abs=0), key
        assert shown[f"downstream.{name}.n_runs"] == len(link.runs)
        assert shown[f"downstream.{name}.chance"] == pytest.approx(0.25)
    text = section(html)
    assert 'id="table-downstream-0"' in text and 'id="table-downstream-1"' in text
    # The executive summary gives one model's error at the first target, with the same keys.
    headline = html[html.index('id="headline-downstream"') :]
    headline = headline[: headline.index("</p>")]
    # The first target as the forecast table gives it (N and D, and C when the runs have it).
    inputs = context["summary"]["inputs"]
    assert {"N", "D"} <= set(inputs)
    assert set(numbers(headline)) == {f"forecast.0.{name}" for name in inputs} | {
        f"downstream.{name}.0.pred_{part}"
        for name in links
        for part in ("median", "lower_90", "upper_90")
    }
    # The steep link leaves [0, 1] at the far target: the chain's warning is shown, once.
    warned = [m["warnings"] for m in context["downstream"]["metrics"]]
    assert warned[0] == [] and len(warned[1]) == 1 and "outside [0, 1]" in warned[1][0]
    assert text.count('class="note downstream-warning"') == 1
    assert "near-chance" not in text
    # Both laws' uncertainty and both noises are said, in words.
    assert "both laws' parameters" in text and "both noises" in text
    # Redone from Python: the links are read from files named in the call.
    call = context["reproducibility"]["reproduce"][-1]
    assert 'downstream={"mmlu": bayescale.load_fit("mmlu.link.nc")' in call


def test_no_section_without_downstream(healthy_fit) -> None:
    context = report.build_context(healthy_fit, at=TARGETS, figures=False)
    assert context["downstream"] is None
    assert "downstream" not in context["meta"]["sections"]
    html = report.render_html(context)
    assert 'id="downstream"' not in html and "Downstream forecast" not in html
    assert not any(key.startswith("downstream.") for key in numbers(html))


def test_a_link_at_chance_is_flagged_not_forecast(healthy_fit, link_fit, chance_fit) -> None:
    assert link_chance(chance_fit) == pytest.approx(0.25)
    assert link_chance(link_fit) == pytest.approx(0.25)
    links = {"at chance": chance_fit, "mmlu": link_fit}
    context = report.build_context(healthy_fit, at=TARGETS, downstream=links, figures=False)
    flagged, fine = context["downstream"]["metrics"]
    assert flagged["near_chance"] and flagged["rows"] == []
    assert not fine["near_chance"] and len(fine["rows"]) == 2
    text = section(report.render_html(context))
    assert 'id="near-chance-0"' in text and "Near chance: no forecast" in text
    assert 'id="near-chance-1"' not in text
    assert 'id="table-downstream-0"' not in text and 'id="table-downstream-1"' in text
    assert "at chance&nbsp;<em>near chance, not forecast</em>" in report.render_html(context)
    shown = numbers(text)
    assert not any(k.startswith("downstream.at chance.0.") for k in shown)
    assert shown["downstream.at chance.runs_best_error"] == pytest.approx(
        float(chance_fit.runs.y.min())
    )


def test_a_failed_link_is_said_by_its_verdict_not_again_as_a_warning(healthy_fit) -> None:
    runs = _link_runs(0.72, 0.1, 0.8, low=1.9, seed=0)
    starved = downstream.fit_link(
        runs, "loss", "err", chance=0.25, draws=20, tune=20, chains=2, seed=1, retries=0
    )
    assert not starved.ok
    with pytest.warns(UserWarning, match="the link fit: DIAGNOSTICS FAIL"):
        chained = downstream.chain(healthy_fit, starved, TARGETS)  # what the section runs
    context = report.build_context(
        healthy_fit, at=TARGETS, downstream={"mmlu": starved}, figures=False
    )
    (entry,) = context["downstream"]["metrics"]
    assert entry["ok"] is False and entry["verdict"].startswith("DIAGNOSTICS FAIL")
    assert chained.attrs["warning"] not in entry["warnings"]
    assert not any("failed its diagnostics" in w for w in entry["warnings"])
    assert len(entry["rows"]) == 2  # still forecast, with the verdict beside it
    text = section(report.render_html(context))
    assert text.count("DIAGNOSTICS FAIL") == 1


def test_downstream_entries_must_be_link_fits(healthy_fit) -> None:
    with pytest.raises(DataError, match=r"downstream\['mmlu'\] is a fit of law 'chinchilla'"):
        report.build_context(healthy_fit, downstream={"mmlu": healthy_fit}, figures=False)
    with pytest.raises(DataError, match="must map each metric's name to its link fit"):
        report.build_context(healthy_fit, downstream=[healthy_fit], figures=False)
    with pytest.raises(BayescaleError, match="fit file not found"):
        report.build_context(healthy_fit, downstream={"x": "no-such-link.nc"}, figures=False)


def test_plot_link_draws_the_runs_the_band_the_targets_and_chance(healthy_fit, link_fit) -> None:
    table = downstream.chain(healthy_fit, link_fit, pd.DataFrame(TARGETS), level=0.9)
    ax = plot_link(link_fit, forecast=table, metric="mmlu")
    assert ax.get_xlabel().startswith("L: validation loss")
    assert ax.get_ylabel() == "mmlu error (fraction wrong)"
    chance = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(chance) == 1 and chance[0].get_ydata()[0] == pytest.approx(0.75)
    # The curve covers the runs and the targets' loss intervals.
    left, right = ax.get_xlim()
    assert left <= table["loss_lower_90"].min() and right >= link_fit.runs.x("L").max()
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert sorted(x for s in stars for x in s.get_xdata()) == pytest.approx(
        sorted(table["loss_median"])
    )
    with pytest.raises(BayescaleError, match=r"lacks loss_lower_80.*pred_upper_80: give the table"):
        plot_link(link_fit, forecast=table, level=0.8)
    with pytest.raises(BayescaleError, match="a link from the loss L"):
        plot_link(healthy_fit)


def test_many_metrics_share_one_figure(healthy_fit, link_fit) -> None:
    links = {f"task {i}": link_fit for i in range(4)}
    context = report.build_context(healthy_fit, at=TARGETS[:1], downstream=links)
    figures = context["figures"]
    assert "links" in figures and not any(name.startswith("link-") for name in figures)
    png = base64.b64decode(figures["links"].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size[0] > 800
    assert 'id="fig-links"' in report.render_html(context)


# -- the command line ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory, healthy_fit, link_fit) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("links")
    # The runs of a four-choice benchmark, as a user's CSV: the loss and the accuracy.
    runs = _link_runs(0.72, 0.1, 0.8, low=1.9, seed=3)
    runs = runs.assign(hellaswag=1 - runs.pop("err"))
    runs.to_csv(folder / "runs.csv", index=False)
    return {
        "fit": healthy_fit.save(folder / "loss.nc"),
        "link": link_fit.save(folder / "mmlu.nc"),
        "runs": folder / "runs.csv",
        "junk": _write(folder / "junk.nc", b"not a netcdf file"),
        "folder": folder,
    }


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_cli_report_with_link_shows_the_section(saved, tmp_path) -> None:
    out = tmp_path / "report.html"
    at = "N=1e12,D=2e13"
    result = runner.invoke(
        app,
        ["report", str(saved["fit"]), "--out", str(out), "--at", at, "--link", str(saved["link"])],
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    text = section(html)
    assert "<h3" in text and ">err</h3>" in text  # the metric's column, recorded by fit_link
    table = downstream.chain(
        bayescale.load_fit(saved["fit"]),
        bayescale.load_fit(saved["link"]),
        {"N": [1e12], "D": [2e13]},
        level=0.9,
    )
    shown = numbers(html)
    for column in ("loss_median", "error_median", "error_lower_90", "pred_upper_90"):
        assert shown[f"downstream.err.0.{column}"] == pytest.approx(
            float(table[column].iloc[0]), rel=1e-12, abs=0
        )
    assert 'id="fig-link-0"' in text
    assert "--link" in html  # the command that redoes it


def test_cli_link_saves_a_link_the_report_names(saved, tmp_path) -> None:
    link = tmp_path / "cli-link.nc"
    command = ["link", str(saved["fit"]), str(saved["runs"]), "--loss", "loss"]
    command += ["--metric", "hellaswag", "--accuracy", "--chance", "0.25", "--at", "N=1e9,D=2e10"]
    command += ["--draws", "300", "--tune", "300", "--chains", "2", "--format", "csv"]
    result = runner.invoke(app, [*command, "--save", str(link)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("N,D,loss_median")  # the table alone: csv stays csv
    assert f"Saved the link fit to {link}" in result.stderr
    fitted = bayescale.load_fit(link)
    assert fitted.info["metric"] == "hellaswag" and link_chance(fitted) == 0.25
    again = runner.invoke(app, [*command, "--save", str(link)])
    assert again.exit_code == 2 and "exists" in again.stderr and "--force" in again.stderr
    # Named by the metric it records, not by the file.
    context = report.build_context(
        bayescale.load_fit(saved["fit"]), downstream={"cli": link}, figures=False
    )
    assert context["downstream"]["metrics"][0]["chance"].value == 0.25
    from bayescale.cli.commands.report import _read_links

    assert list(_read_links([link, saved["link"]])) == ["hellaswag", "err"]


@pytest.mark.parametrize(
    ("which", "fragment"),
    [
        ("missing", "not found; give a link fit saved by 'bayescale link ... --save"),
        ("folder", "a folder; give a link fit"),
        ("junk", "is not a bayescale fit file"),
        ("fit", "not a link from the loss L"),
    ],
)
def test_cli_refuses_a_bad_link_file(saved, tmp_path, which: str, fragment: str) -> None:
    path = saved["folder"] / "missing.nc" if which == "missing" else saved[which]
    out = tmp_path / "report.html"
    result = runner.invoke(
        app, ["report", str(saved["fit"]), "--out", str(out), "--link", str(path)]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --link {path}"), result.stderr
    assert fragment in lines[0] and "Traceback" not in result.output
    assert not out.exists()


def test_cli_report_says_on_the_terminal_that_a_link_is_of_another_loss(
    saved, link_fit, tmp_path
) -> None:
    import dataclasses

    # A link fitted on 'val_loss' from a table without the fit's column 'loss' (a rename).
    renamed = dataclasses.replace(
        link_fit, info={**link_fit.info, "loss": "val_loss", "table_columns": ["val_loss", "err"]}
    )
    path = renamed.save(tmp_path / "renamed.nc")
    out = tmp_path / "report.html"
    command = ["report", str(saved["fit"]), "--out", str(out), "--at", "N=1e12,D=2e13"]
    result = runner.invoke(app, [*command, "--link", str(path)])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "fitted on 'val_loss'" in line]
    assert len(said) == 1, result.stderr
    assert said[0].startswith("warning: the link of err: the loss fit models 'loss' but the link")
    assert "if these are the same loss under two names, ignore this" in said[0]
    assert "fitted on 'val_loss'" in unescape(section(out.read_text(encoding="utf-8")))
    # A link on the fit's own loss column: nothing of the kind.
    fine = runner.invoke(app, [*command, "--link", str(saved["link"]), "--force"])
    assert fine.exit_code == 0, fine.output
    assert "fitted on" not in fine.stderr
