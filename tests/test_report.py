"""Tests of the due-diligence report (bayescale.report and ``bayescale report``), as a user.

A user fits, saves the fit, compares laws, then runs ``bayescale report`` with targets, a
target loss, a budget and a PDF. The tests read what they get: they parse the HTML and check
that every section is there, that every number shown carries the library's exact value and
is formatted from it, that those values are the ones the library gives for the same
questions, that the file needs no network, and that a rendered page (through the PDF, or a
headless Chromium where installed) is neither blank nor broken.

One small Chinchilla fit serves the module; the report is built once, through the CLI.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import os
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import simulate_runs
from PIL import Image
from typer.testing import CliRunner

import bayescale
from bayescale import report
from bayescale.cli import app

# Not bayescale.compare(...): importing the submodule bayescale.compare rebinds that name.
from bayescale.comparison import Comparison, compare, score
from bayescale.demo import TARGET, demo_runs

# 2 x 500 draws: a fit that passes its diagnostics (2 x 300 at this seed misses R-hat by
# 0.002 on some CPUs, and a warning would then precede every message checked here).
SMALL = {"draws": 500, "tune": 500, "chains": 2, "seed": 0}
TARGETS = [TARGET, {"N": 7e9, "D": 1.4e11}]
TARGET_LOSS = 2.0
BUDGET = 1e24
runner = CliRunner(env={"COLUMNS": "200"})


# -- reading the HTML as a user's tools would ----------------------------------------


class ReportParser(HTMLParser):
    """Collects sections, numbers, numeric cells, images, links and scripts of a report."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[str] = []
        self.headings: dict[str, str] = {}
        self.numbers: list[dict[str, str]] = []
        self.cells: list[dict[str, object]] = []
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.scripts = 0
        self._section: str | None = None
        self._h2: list[str] | None = None
        self._span: dict[str, str] | None = None
        self._cell: dict[str, object] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section":
            self._section = a.get("id", "")
            self.sections.append(self._section)
        elif tag == "h2":
            self._h2 = []
        elif tag == "span" and a.get("class") == "num":
            self._span = {**a, "text": ""}
            if self._cell is not None:
                self._cell["numbers"] += 1
        elif tag == "td" and "n" in a.get("class", "").split():
            self._cell = {"text": "", "numbers": 0}
        elif tag == "img":
            self.images.append(a)
        elif tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if name in a:
                self.urls.append(a[name])

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._h2 is not None:
            self.headings[self._section or ""] = "".join(self._h2).strip()
            self._h2 = None
        elif tag == "span" and self._span is not None:
            self.numbers.append(self._span)
            self._span = None
        elif tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._h2 is not None:
            self._h2.append(data)
        if self._span is not None:
            self._span["text"] += data
        if self._cell is not None:
            self._cell["text"] += data


def parse(html: str) -> ReportParser:
    parser = ReportParser()
    parser.feed(html)
    parser.close()
    return parser


def shown(parsed: ReportParser) -> dict[str, float]:
    """Key -> exact value of every number in the report (a key shown twice agrees)."""
    values: dict[str, float] = {}
    for span in parsed.numbers:
        value = float(span["data-value"])
        key = span["data-key"]
        if key in values:
            assert values[key] == value or (math.isnan(value) and math.isnan(values[key])), key
        values[key] = value
    return values


def same(value: float, expected: float) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(value)
    return value == pytest.approx(float(expected), rel=1e-12, abs=0)


def not_blank(png: bytes | Image.Image) -> float:
    """Share of the page's pixels that carry ink."""
    image = png if isinstance(png, Image.Image) else Image.open(io.BytesIO(png))
    grey = np.asarray(image.convert("L"))
    return float((grey < 235).mean())


# -- the user's work: fit, save, compare, report ------------------------------------


@pytest.fixture(scope="module")
def demo_fit() -> bayescale.Fit:
    return bayescale.fit(demo_runs(0), "chinchilla", **SMALL)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def fit_file(demo_fit, workdir) -> Path:
    return demo_fit.save(workdir / "fit.nc")


@pytest.fixture(scope="module")
def comparison_dir(demo_fit, workdir) -> Path:
    """A saved comparison: LOO of two laws' fits and their scores on held-out large runs."""
    fits = {"chinchilla": demo_fit, "chinchilla_twin": demo_fit}
    loo = compare(fits).loo
    runs = demo_fit.runs
    held_out = runs.subset(runs.compute_factor * runs.x("N") * runs.x("D") > 1e21)
    scores = score(demo_fit, held_out)
    rows = [
        {"law": law, "holdout": "C > 1e+21", "threshold": 1e21, "n_train": 94, **scores}
        for law in fits
    ]
    folder = workdir / "comparison"
    Comparison(fits, loo, pd.DataFrame(rows)).save(folder)
    return folder


@pytest.fixture(scope="module")
def cli_report(fit_file, comparison_dir, workdir) -> dict[str, Path]:
    """``bayescale report`` as a user runs it, with a PDF."""
    out, pdf = workdir / "report.html", workdir / "report.pdf"
    args = ["report", str(fit_file), "--out", str(out), "--compare", str(comparison_dir)]
    for target in TARGETS:
        args += ["--at", ",".join(f"{k}={v:g}" for k, v in target.items())]
    args += ["--target-loss", f"{TARGET_LOSS:g}", "--compute", f"{BUDGET:g}"]
    if report_pdf_available():
        args += ["--pdf", str(pdf)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Wrote the HTML report" in result.stdout
    return {"html": out, "pdf": pdf, "stdout": result.stdout}


@pytest.fixture(scope="module")
def parsed(cli_report) -> ReportParser:
    return parse(cli_report["html"].read_text(encoding="utf-8"))


def report_pdf_available() -> bool:
    try:
        import pypdfium2  # noqa: F401
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


# -- structure -----------------------------------------------------------------------


def test_report_has_every_section_in_order(parsed) -> None:
    assert parsed.sections == list(report.SECTIONS)
    for number, (section, title) in enumerate(report.SECTIONS.items(), start=1):
        assert parsed.headings[section] == f"{number}. {title}"
    text = " ".join(" ".join(parsed.text).split())
    for words in (
        "The sampler converged",
        "Probability of reaching loss 2.000",
        "L = E + A / N**alpha + B / D**beta",
        "Hoffmann 2022",
        "Besiroglu 2024",
        "PSIS-LOO (interpolation) prefers",
        "Held-out larger runs",
        "Credible versus predictive intervals",
        "The law's form is fixed",
        "If the diagnostics fail",
        "To reproduce",
        'bayescale.fit(runs, "chinchilla", seed=0, draws=500',
    ):
        assert words in text, words


def test_every_number_carries_its_value_and_is_formatted_from_it(parsed) -> None:
    assert len(parsed.numbers) > 200
    for span in parsed.numbers:
        assert span["data-key"], span
        kind, digits = span["data-format"].split(":")
        expected = report.format_number(float(span["data-value"]), kind, int(digits))
        assert span["text"] == expected, span
    # Every numeric table cell shows library numbers, not text typed into the template.
    numeric = [c for c in parsed.cells if str(c["text"]).strip() not in ("", "–")]
    assert numeric
    assert all(c["numbers"] >= 1 for c in numeric), [c for c in numeric if not c["numbers"]]


def test_report_is_self_contained(cli_report, parsed) -> None:
    assert parsed.scripts == 0
    external = [u for u in parsed.urls if not u.startswith(("data:", "#"))]
    assert external == []
    expected = {
        "fit",
        "contours",
        "residuals",
        "ppc",
        "rank",
        "prior_posterior",
        "pair",
        "fan",
        "frontier",
        "comparison",
    }
    assert {img["alt"] and img["src"][:22] for img in parsed.images} == {"data:image/png;base64,"}
    assert len(parsed.images) == len(expected)
    for image in parsed.images:
        png = base64.b64decode(image["src"].split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert not_blank(png) > 0.03, image["alt"]
    html = cli_report["html"].read_text(encoding="utf-8")
    assert [name for name in expected if f'id="fig-{name}"' not in html] == []
    assert oct(cli_report["html"].stat().st_mode & 0o777) == "0o644"


# -- the numbers are the library's ------------------------------------------------------


def test_forecast_and_decisions_match_the_library(parsed, fit_file) -> None:
    values = shown(parsed)
    fit = bayescale.load_fit(fit_file)  # a reloaded fit forecasts identically
    points = {name: [t[name] for t in TARGETS] for name in ("N", "D")}
    table = fit.forecast(points, level=(0.5, 0.8, 0.9))
    assert fit.discrepancy is not None  # so the tables must show the interval with it
    checked = 0
    for i, row in table.iterrows():
        for column in ("law_median", "pred_median", "law_lower_90", "law_upper_90"):
            assert same(values[f"forecast.{i}.{column}"], row[column]), column
        # The interval with discrepancy, which the text says the predictive one builds on.
        for column in ("disc_median", "disc_lower_90", "disc_upper_90", "disc_lower_50"):
            assert same(values[f"forecast.{i}.{column}"], row[column]), column
        for column in ("pred_lower_50", "pred_upper_80", "pred_upper_90", "extrapolation"):
            assert same(values[f"forecast.{i}.{column}"], row[column]), column
        checked += 1
    assert checked == len(TARGETS)
    chances = fit.prob_below(TARGET_LOSS, **points)
    for i, row in chances.iterrows():
        assert same(values[f"prob.point.{i}.prob_run_below"], row["prob_run_below"])
        assert same(values[f"prob.point.{i}.prob_law_below"], row["prob_law_below"])
    at_budget = fit.prob_below(TARGET_LOSS, C=[BUDGET])
    assert same(values["prob.budget.0.prob_run_below"], at_budget["prob_run_below"].iloc[0])
    budget = fit.budget_for(TARGET_LOSS, level=0.9, prob=0.9).iloc[0]
    for column in (
        "C_median",
        "C_lower_90",
        "C_upper_90",
        "N_median",
        "prob_unreachable",
        "C_run_prob_90",
    ):
        assert same(values[f"budget.0.{column}"], budget[column]), column
    # The plan: the largest run's compute, 10x and 100x it, and the budget asked about.
    largest = float((6 * fit.runs.x("N") * fit.runs.x("D")).max())
    plan = fit.compute_optimal(sorted({largest, 10 * largest, 100 * largest, BUDGET}))
    for i, row in plan.iterrows():
        for column in (
            "C",
            "N_median",
            "D_upper_90",
            "tokens_per_parameter_median",
            "loss_median",
            "distance",
        ):
            assert same(values[f"plan.{i}.{column}"], row[column]), column
        # The plan's intervals to budget with, for D and tokens per parameter as for N.
        for column in (
            "N_disc_upper_90",
            "D_disc_lower_90",
            "tokens_per_parameter_disc_lower_90",
            "tokens_per_parameter_disc_upper_90",
        ):
            assert same(values[f"plan.{i}.{column}"], row[column]), column


def test_forecast_tables_show_the_interval_with_discrepancy(cli_report) -> None:
    html = cli_report["html"].read_text(encoding="utf-8")
    summary = html.split('id="table-summary-forecast"')[1].split("</table>")[0]
    assert "90% with discrepancy" in summary
    assert 'data-key="forecast.1.disc_upper_90"' in summary
    forecast = html.split('id="table-forecast"')[1].split("</table>")[0]
    rows = forecast.split("<tr>")[2:]
    assert [r.split("<td>")[-1].split("</td>")[0] for r in rows[1:3]] == [
        "with discrepancy",
        "new run",
    ]
    assert 'data-key="forecast.0.disc_lower_80"' in rows[1]
    plan = html.split('id="table-plan"')[1].split("</table>")[0]
    for words in ("N with discrepancy", "D with discrepancy", "tokens per parameter with discr"):
        assert words in plan, words
    caption = paragraph(html, "fig-frontier", "figure")
    assert "band with the plan's discrepancy (light: the one to budget with" in caption


def test_parameters_diagnostics_and_sensitivity_match_the_library(parsed, fit_file) -> None:
    values = shown(parsed)
    demo_fit = bayescale.load_fit(fit_file)  # what the report was made from
    summary = demo_fit.summary(level=0.9)
    for name, row in summary.iterrows():
        for column in ("median", "mean", "sd", "hdi_90_lower", "hdi_90_upper"):
            assert same(values[f"param.{name}.{column}"], row[column]), (name, column)
        for column in ("r_hat", "ess_bulk", "ess_tail"):
            assert same(values[f"diag.{name}.{column}"], row[column]), (name, column)
    assert values["diag.divergences"] == demo_fit.diagnostics.divergences
    for source, published in demo_fit.law.published.items():
        for name, value in published.items():
            assert values[f"published.{source}.{name}"] == value
    sensitivity = report.prior_sensitivity(demo_fit)
    for name, row in sensitivity.iterrows():
        assert same(values[f"psens.{name}.prior"], row["psens_prior"]), name
        assert same(values[f"psens.{name}.likelihood"], row["psens_likelihood"]), name
        assert same(values[f"shift.{name}.contraction"], row["contraction"]), name
    # The data taught the law's parameters a lot: their posteriors are far narrower than priors.
    assert (sensitivity.loc[list(demo_fit.law.parameters), "contraction"] > 0.9).all()
    assert values["data.n_runs"] == len(demo_fit.runs)
    assert values["data.N.max"] == demo_fit.runs.x("N").max()


def test_comparison_tables_match_the_saved_comparison(parsed, comparison_dir) -> None:
    values = shown(parsed)
    loo = pd.read_csv(comparison_dir / "loo.csv", index_col=0)
    for law, row in loo.iterrows():
        for column in ("elpd_loo", "se", "weight", "p_loo"):
            assert same(values[f"loo.{law}.{column}"], row[column]), (law, column)
    extrapolation = pd.read_csv(comparison_dir / "extrapolation.csv")
    for i, row in extrapolation.iterrows():
        for column in ("elpd_per_run", "coverage_90", "r2", "mare"):
            assert same(values[f"extrap.{i}.{column}"], row[column]), column


def test_reproducibility_block(parsed, cli_report, fit_file, demo_fit) -> None:
    html = cli_report["html"].read_text(encoding="utf-8")
    assert demo_fit.runs.fingerprint() in html
    assert "&#10003;&nbsp;verified" in html or "✓\xa0verified" in html
    assert str(fit_file) in html
    text = " ".join(parsed.text)
    # The fit was made from Python: the Python call that redoes it, from its saved settings.
    assert (
        'bayescale.fit(runs, "chinchilla", seed=0, draws=500, tune=500, chains=2, '
        'target_accept=0.95, prior_draws=500, discrepancy="backtest")'
    ) in text
    assert "--draws" not in text and "--force" not in text  # the library speaks no CLI flags
    assert 'name = "chinchilla"' in text  # the law file itself
    assert values_include(parsed, "repro.seed", 0)
    # Each entry of the block on its own line: the fit file's hash and the report's command
    # were run together.
    block = html.split('<dl class="kv">')[1].split("</dl>")[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert [line.count("<dt>") for line in lines] == [1] * len(lines)
    assert any(line.lstrip().startswith("<dt>report command</dt>") for line in lines)


def test_the_discrepancy_is_worded_as_the_fit_command_words_it(
    parsed, cli_report, demo_fit
) -> None:
    # Regression: "95%: up to 0.491%" in the report, "90%: 0.33% to 0.49%" from ``fit``.
    values = shown(parsed)
    low, high = demo_fit.discrepancy.s_quantiles([0.05, 0.95])
    assert same(values["discrepancy.s_5"], low) and same(values["discrepancy.s_95"], high)
    assert "(90%: " in demo_fit.discrepancy.describe()
    words = paragraph(cli_report["html"].read_text(encoding="utf-8"), "discrepancy")
    low_text, high_text = (report.format_number(v, "percent") for v in (low, high))
    assert f"beyond the data (90%: {low_text} to {high_text})." in words
    assert "95%: up to" not in " ".join(parsed.text)
    # Backtest refits that did not converge are said, as `bayescale fit` says them.
    note = demo_fit.discrepancy.failed_refits_note()
    html = cli_report["html"].read_text(encoding="utf-8")
    if note is None:
        assert 'id="discrepancy-refits"' not in html
    else:
        assert f"Of the backtests: {note}." in " ".join(words.split())
        assert note in demo_fit.discrepancy.describe()


def reproduce_lines(fit, **options) -> list[str]:
    context = report.build_context(fit, figures=False, **options)
    return context["reproducibility"]["reproduce"]


def test_reproduce_shows_the_commands_that_made_fit_and_report(demo_fit) -> None:
    made_by_cli = dataclasses.replace(
        demo_fit, info={**demo_fit.info, "command": "bayescale fit runs.csv --law chinchilla"}
    )
    command = "bayescale report fit.nc --out report.html --target-loss 2"
    lines = reproduce_lines(made_by_cli, command=command, target_loss=2.0)
    assert lines == ["bayescale fit runs.csv --law chinchilla", command]
    # Without a command, the Python calls; the runs were a DataFrame, which the notes say.
    context = report.build_context(demo_fit, figures=False, at=[TARGET], compute=[BUDGET])
    lines = context["reproducibility"]["reproduce"]
    assert lines[0] == "import bayescale"
    assert lines[1].startswith('runs = bayescale.load_runs("runs.csv", x={"N": "N", "D": "D"')
    assert lines[-1] == (
        'bayescale.report.write_report(bayescale.load_fit("fit.nc"), "report.html", '
        'at=[{"N": 7e10, "D": 1.4e12}], compute=[1e24], level=0.9)'
    )
    notes = " ".join(context["reproducibility"]["reproduce_notes"])
    assert "write the table there first" in notes
    namespace: dict = {}
    exec(lines[1].replace("bayescale.load_runs", "(lambda source, **kw: kw)"), namespace)
    assert namespace["runs"]["x"] == {"N": "N", "D": "D", "C": "C"}


def test_a_fit_from_before_the_default_discrepancy_is_redone_without_one(demo_fit) -> None:
    # Saved before the discrepancy was the default: no "discrepancy" setting, none learned.
    settings = {k: v for k, v in demo_fit.settings.items() if k != "discrepancy"}
    old = dataclasses.replace(demo_fit, settings=settings, discrepancy=None)
    fit_line = next(line for line in reproduce_lines(old) if line.startswith("fit = "))
    assert 'discrepancy="none"' in fit_line
    # Made by a command that did not say: the notes say how to redo it as it was.
    by_cli = dataclasses.replace(old, info={**old.info, "command": "bayescale fit r.csv"})
    context = report.build_context(by_cli, figures=False)
    notes = " ".join(context["reproducibility"]["reproduce_notes"])
    assert "add --discrepancy none" in notes
    # A fit of today records its choice and needs no such note.
    today = dataclasses.replace(demo_fit, info={**demo_fit.info, "command": "bayescale fit r.csv"})
    notes = " ".join(
        report.build_context(today, figures=False)["reproducibility"]["reproduce_notes"]
    )
    assert "--discrepancy none" not in notes


def values_include(parsed: ReportParser, key: str, value: float) -> bool:
    return shown(parsed).get(key) == value


# -- rendering: is a page readable? ----------------------------------------------------


@pytest.mark.skipif(not report_pdf_available(), reason="WeasyPrint/pypdfium2 not installed")
def test_pdf_pages_render_with_the_numbers(cli_report, parsed) -> None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(cli_report["pdf"]))
    assert len(document) >= 8
    first = document[0]
    text = " ".join(first.get_textpage().get_text_range().split())
    assert "Executive summary" in text
    values = {s["data-key"]: s["text"] for s in parsed.numbers}
    for key in ("forecast.0.pred_median", "forecast.0.law_median", "prob.point.0.prob_run_below"):
        assert values[key] in text, key
    image = first.render(scale=1.0).to_pil()
    assert image.size[0] > 500
    assert 0.03 < not_blank(image) < 0.6
    # A page with a plot: the residuals figure's page has much more ink than text alone.
    inks = [not_blank(document[i].render(scale=0.5).to_pil()) for i in range(len(document))]
    assert max(inks) > 0.15


def chromium() -> str | None:
    return next(
        (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
    )


@pytest.mark.skipif(chromium() is None, reason="no headless Chromium (apt-get install chromium)")
def test_chromium_screenshot_is_not_blank(cli_report, tmp_path) -> None:
    shot = tmp_path / "page.png"
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--hide-scrollbars",
        "--window-size=1200,1600",
        f"--screenshot={shot}",
        cli_report["html"].resolve().as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120, env=os.environ.copy())
    image = Image.open(shot)
    assert image.size == (1200, 1600)
    assert 0.03 < not_blank(image) < 0.7
    # The header band is the report's dark blue, so the stylesheet was applied.
    r, _, b = image.convert("RGB").getpixel((20, 20))
    assert b > r + 40 and b < 140


# -- the command line ------------------------------------------------------------------


def test_report_is_not_overwritten_without_force(cli_report, fit_file) -> None:
    out = cli_report["html"]
    before = out.read_bytes()
    result = runner.invoke(app, ["report", str(fit_file), "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: '{out}' exists already"), lines
    assert out.read_bytes() == before


def test_destinations_are_checked_before_any_work(demo_fit, tmp_path, monkeypatch) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("the report was built before its destinations were checked")

    monkeypatch.setattr("bayescale.report.render.build_context", no_work)
    taken = tmp_path / "taken.html"
    taken.write_text("keep me")
    with pytest.raises(bayescale.OutputExistsError, match="exists already") as err:
        report.write_report(demo_fit, taken)
    assert "--force" not in str(err.value)  # the library's words, not the command line's
    with pytest.raises(bayescale.OutputExistsError):
        report.write_report(demo_fit, tmp_path / "new.html", pdf=taken)
    with pytest.raises(bayescale.BayescaleError, match="does not exist"):
        report.write_report(demo_fit, tmp_path / "missing" / "r.html")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        with pytest.raises(bayescale.BayescaleError, match="cannot write into folder"):
            report.write_report(demo_fit, locked / "r.html")
    assert taken.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["taken.html", *(["locked"] if os.geteuid() != 0 else [])]
    )


def test_overwrite_and_its_old_name_force(demo_fit, tmp_path) -> None:
    out = tmp_path / "r.html"
    out.write_text("old")
    report.write_report(demo_fit, out, overwrite=True, figures=False)
    assert "<html" in out.read_text(encoding="utf-8")
    out.write_text("old")
    report.write_report(demo_fit, out, force=True, figures=False)
    assert "<html" in out.read_text(encoding="utf-8")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def numbers_of(context: dict) -> dict[str, float]:
    """The report's numbers by key, but for those of when and from which file it was made."""
    values = shown(parse(report.render_html(context)))
    return {k: v for k, v in values.items() if not k.startswith(("reproducibility", "meta"))}


def test_options_take_the_forms_the_fit_methods_take(demo_fit, fit_file) -> None:
    # Only records, a list of budgets and a number for the target loss used to work.
    records = report.build_context(
        demo_fit, at=TARGETS, target_loss=TARGET_LOSS, compute=[BUDGET], figures=False
    )
    expected = numbers_of(records)
    assert len(expected) > 20  # the forecast, the chances and the plan: not a vacuous match
    columns = {name: [t[name] for t in TARGETS] for name in TARGETS[0]}
    variants = [
        {"fit": demo_fit, "at": columns, "compute": BUDGET, "target_loss": "2.0"},
        {"fit": demo_fit, "at": pd.DataFrame(TARGETS), "compute": "1e24", "level": "0.9"},
        {"fit": fit_file, "at": tuple(TARGETS), "compute": np.array([BUDGET])},
    ]
    for options in variants:
        options.setdefault("target_loss", TARGET_LOSS)
        context = report.build_context(options.pop("fit"), figures=False, **options)
        assert numbers_of(context) == expected, sorted(options)
        # The call that redoes the report is the same whichever form was given.
        redo = context["reproducibility"]["reproduce"][-1]
        assert redo == records["reproducibility"]["reproduce"][-1]
    # A fit given as its file records that file.
    assert context["meta"]["fit_file"] == fit_file.name
    # Of N, D and C any two, as for Fit.forecast: the report keeps the points as given.
    by_compute = [{"N": t["N"], "C": 6 * t["N"] * t["D"]} for t in TARGETS]
    context = report.build_context(demo_fit, at=by_compute, figures=False)
    rows = context["summary"]["rows"]
    assert [row["D"].value for row in rows] == pytest.approx([t["D"] for t in TARGETS])


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"target": 2.0}, "write_report does not take target=2.0; did you mean target_loss=? ("),
        ({"compare": "folder"}, "did you mean comparison=? (its options: overwrite, pdf,"),
        (
            {"at": {"n": [7e10], "D": [1.4e12]}},
            "at names 'n', not an input of law 'chinchilla' (it takes N, D; of N, D and C any "
            "two); did you mean 'N'?",
        ),
        ({"at": {"N": [7e10]}}, "needs N, D to forecast; missing D"),
        ({"at": 7e10}, "forecast points must be a mapping like"),
        ({"at": {"N": [7e10], "D": [1.4e12], "group": ["a"]}}, "give it as group="),
        ({"compute": "lots"}, "compute: 'lots' is not a number"),
        ({"compute": -1.0}, "compute budgets must be positive numbers, got -1.0"),
        ({"target_loss": "two"}, "target loss 'two' is not a number"),
        ({"target_loss": [2.0, 1.9]}, "target loss must be a positive number"),
        ({"level": 90}, "level must be a probability between 0 and 1"),
        ({"comparison": 3}, "comparison must be a Comparison (bayescale.compare) or the folder"),
    ],
)
def test_a_bad_option_is_one_data_error_and_no_file(demo_fit, tmp_path, options, fragment) -> None:
    out = tmp_path / "r.html"
    with pytest.raises(bayescale.DataError) as err:
        report.write_report(demo_fit, out, figures=False, **options)
    assert fragment in str(err.value) and "build_context" not in str(err.value)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_the_fit_is_a_fit_or_its_file(tmp_path) -> None:
    with pytest.raises(bayescale.DataError, match=r"is of a fit .* or the file it was saved to"):
        report.write_report(pd.DataFrame({"N": [1.0]}), tmp_path / "r.html")
    with pytest.raises(bayescale.BayescaleError, match="fit file not found"):
        report.write_report(tmp_path / "none.nc", tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_a_comparison_object_is_reported_like_its_folder(demo_fit, comparison_dir) -> None:
    fits = {"chinchilla": demo_fit, "chinchilla_twin": demo_fit}
    from_object = report.build_context(demo_fit, comparison=compare(fits), figures=False)
    from_folder = report.build_context(demo_fit, comparison=comparison_dir, figures=False)
    for context in (from_object, from_folder):
        section = context["comparison"]
        assert [row["law"] for row in section["loo"]] == ["chinchilla", "chinchilla_twin"]
        assert section["same_data"] is True and section["includes_this_law"]
        assert section["verdict"][0].startswith("PSIS-LOO (interpolation) prefers")
    assert from_folder["comparison"]["folder"] == str(comparison_dir)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--compare", "missing-folder"], "comparison folder not found"),
        (["--at", "N=7e10"], "missing D"),
        (["--at", "N=7e10,D=x"], "is not a number"),
        (["--target-loss", "-1"], "target loss must be a positive number"),
        (["--level", "1.5"], "between 0 and 1"),
    ],
)
def test_bad_input_is_one_error_line_and_no_file(fit_file, tmp_path, args, fragment) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(fit_file), "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left either


def test_missing_fit_and_folder(tmp_path, fit_file) -> None:
    result = runner.invoke(app, ["report", str(tmp_path / "no.nc"), "--out", "r.html"])
    assert result.exit_code == 2 and "fit file not found" in result.stderr
    result = runner.invoke(app, ["report", str(fit_file), "--out", str(tmp_path / "x" / "r.html")])
    assert result.exit_code == 2 and "does not exist; create it first" in result.stderr


# -- defaults and failures, through the library --------------------------------------


def test_defaults_forecast_ten_times_beyond_the_data(demo_fit) -> None:
    from html import unescape

    context = report.build_context(demo_fit, figures=False)
    rows = context["summary"]["rows"]
    assert len(rows) == 1
    assert rows[0]["N"].value == pytest.approx(10 * demo_fit.runs.x("N").max())
    assert rows[0]["D"].value == pytest.approx(10 * demo_fit.runs.x("D").max())
    # 10x the largest N and D: at least 10x, and 100x the compute of a run with both.
    n, d = demo_fit.runs.x("N"), demo_fit.runs.x("D")
    compute = 100 * n.max() * d.max() / (n * d).max()
    assert rows[0]["extrapolation"].value == pytest.approx(max(10, compute))
    far = rows[0]["extrapolation"].value > 100
    assert context["summary"]["far"] is far and context["summary"]["beyond"] is True
    assert context["summary"]["probability"] is None and context["comparison"] is None
    html = report.render_html(context)
    for words in ("No target was given", "No target loss was given", "No comparison was given"):
        assert words in html, words
    assert parse(html).sections == list(report.SECTIONS)
    # Said as one run: its compute against the largest run's (not "10x bigger").
    values = shown(parse(html))
    assert values["meta.default_target.C"] == rows[0]["C"].value
    assert values["meta.default_target.compute_ratio"] == pytest.approx(compute)
    sentence = html.split('id="default-compute">')[1].split("in compute.</span>")[0]
    words = " ".join(unescape("".join(part.split(">")[-1] for part in sentence.split("<"))).split())
    ratio = report.format_number(compute, "ratio")
    assert words.startswith("That target is a run of ")
    assert words.endswith(f"{ratio} the largest run's compute, not a run 10× larger")


def test_report_of_a_failed_fit_says_so_everywhere(tmp_path) -> None:
    starved = bayescale.fit(
        demo_runs(0), "chinchilla", draws=20, tune=20, chains=2, seed=1, prior_draws=0
    )
    assert not starved.ok
    out = report.write_report(starved, tmp_path / "failed.html", figures=False)["html"]
    html = out.read_text(encoding="utf-8")
    assert "Do not rely on these numbers yet" in html
    assert "DIAGNOSTICS FAIL" in html
    assert "They fail here:" in html
    assert 'class="fail"' in html
    assert "This fit has no prior draws" in html  # prior_draws=0: no shift, said so
    parsed = parse(html)
    assert parsed.sections == list(report.SECTIONS)


def paragraph(html: str, pid: str, tag: str = "p") -> str:
    """The text of ``<tag id=pid>``, tags dropped, entities decoded, whitespace collapsed."""
    from html import unescape

    inner = html.split(f' id="{pid}"')[1].split(">", 1)[1].split(f"</{tag}>")[0]
    return " ".join(unescape("".join(part.split(">")[-1] for part in inner.split("<"))).split())


@pytest.fixture(scope="module")
def scattered_fit() -> bayescale.Fit:
    """Runs scattered over N and D, no IsoFLOP curve among them, with a learned discrepancy:
    the plan's discrepancy then comes from its prior."""
    rng = np.random.default_rng(20240417)
    runs = simulate_runs(10 ** rng.uniform(7.0, 9.5, 40), 10 ** rng.uniform(8.5, 11.0, 40), seed=7)
    return bayescale.fit(
        runs, "chinchilla", draws=300, tune=300, chains=2, seed=0, discrepancy="backtest"
    )


def test_report_of_a_plan_whose_discrepancy_is_its_prior(scattered_fit, tmp_path) -> None:
    disc = scattered_fit.discrepancy
    assert disc.plan_weights is not None and disc.info["plan_learned"] is False
    assert disc.plan_sweep() is None and not disc.info["plan_curves"]  # no IsoFLOP curve
    out = report.write_report(scattered_fit, tmp_path / "r.html", figures=False)["html"]
    html = out.read_text(encoding="utf-8")
    assert parse(html).sections == list(report.SECTIONS)
    table = html.split('id="table-plan"')[1].split("</table>")[0]
    assert "N with discrepancy" in table and "N a new IsoFLOP curve finds" not in table
    words = paragraph(html, "plan-discrepancy")
    assert words.startswith("The plan's discrepancy comes from its prior, not from your runs")
    assert "they hold no IsoFLOP curves" in words
    assert disc.info["plan_note"] in words  # the library's own words, not the report's
    assert "offset and growth follow their prior" in words
    assert 'No column "N a new IsoFLOP curve finds"' in paragraph(html, "plan-no-sweep")
    section = report.build_context(scattered_fit, figures=False)["plan"]["discrepancy"]
    assert section["prior_only"] is True and section["measured"] is False
    assert section["sweep_runs"] is None and section["sweep_noise"] is None


def test_the_form_caveat_says_what_the_discrepancy_covers(scattered_fit, demo_fit) -> None:
    with_disc = report.render_html(report.build_context(scattered_fit, figures=False))
    words = paragraph(with_disc, "caveat-form")
    assert "treats that form as an approximation" in words
    assert "the law's own error as the backtests measured it" in words
    assert "They do not cover errors unlike those the backtests saw" in words
    assert "the possibility that the formula itself is wrong" not in words
    without = dataclasses.replace(demo_fit, discrepancy=None)
    html = report.render_html(report.build_context(without, figures=False))
    words = paragraph(html, "caveat-form")
    assert "not the possibility that the formula itself is wrong" in words
    assert "approximation" not in words


# -- what the summary says of a comparison ------------------------------------------


@pytest.fixture(scope="module")
def failed_twin() -> bayescale.Fit:
    """demo_fit's runs fitted with far too few draws: same data, failed diagnostics."""
    starved = bayescale.fit(
        demo_runs(0), "chinchilla", draws=20, tune=20, chains=2, seed=1, prior_draws=0, retries=0
    )
    assert not starved.ok
    return starved


@pytest.fixture(scope="module")
def split_verdict(demo_fit, failed_twin) -> str:
    """The report of demo_fit with a comparison whose criteria disagree: PSIS-LOO prefers
    chinchilla, the held-out runs prefer "starved", whose fit and held-out refit failed their
    diagnostics and which carries the averaged forecast."""
    fits = {"chinchilla": demo_fit, "starved": failed_twin}
    loo = pd.DataFrame(
        {
            "elpd_loo": [10.0, 2.0],
            "se": 1.0,
            "elpd_diff": [0.0, 8.0],
            "dse": 1.0,
            "weight": [1.0, 0.0],
            "pareto_k_bad": 0,
            "diagnostics_ok": [True, False],
        },
        index=pd.Index(list(fits), name="law"),
    )
    runs = demo_fit.runs
    held = runs.compute_factor * runs.x("N") * runs.x("D") > 1e21
    scores = score(demo_fit, runs.subset(held))
    split = {"holdout": "C > 1e+21", "threshold": 1e21}
    rows = [
        {"law": law, **split, "n_train": int((~held).sum()), **scores, "elpd_per_run": elpd}
        | {"diagnostics_ok": ok}
        for law, elpd, ok in (("chinchilla", 1.0, True), ("starved", 2.0, False))
    ]
    pointwise = pd.DataFrame(
        [
            {"law": law, **split, "run": int(run), "log_density": density}
            for law, density in (("chinchilla", -5.0), ("starved", 0.0))
            for run in np.flatnonzero(held)
        ]
    )
    comparison = Comparison(fits, loo, pd.DataFrame(rows), [], pointwise)
    context = report.build_context(demo_fit, comparison=comparison, at=[TARGET], figures=False)
    return report.render_html(context)


def test_summary_says_which_laws_carry_the_average_and_flags_failed_ones(split_verdict) -> None:
    # Regression: a green "The sampler converged" (of this fit) stood over headline numbers
    # that were all another law's, whose failed diagnostics only section 8 mentioned. The
    # default average now leaves a failed law out, and the summary says so and what it would
    # have weighed.
    html = split_verdict
    assert "The sampler converged for chinchilla, this report's fit" in paragraph(
        html, "verdict", "div"
    )
    assert 'id="verdict-average"' not in html  # no failed law carries the average's weight
    words = paragraph(html, "headline-average")
    assert "left out for failed diagnostics: starved (would have had 1.00)" in words


def test_the_summary_states_the_averaged_forecasts_own_reach(split_verdict) -> None:
    # Regression: the averaged headline was followed by the report's own fit's "farthest
    # target is ...x", though the average reaches as far as its farthest law.
    words = paragraph(split_verdict, "reach")
    averaged = words.split("The averaged forecast (the first two numbers) is an extrapolation: ")[1]
    assert averaged.startswith("its farthest target is")
    assert "for the law with weight that reaches farthest" in averaged
    assert "chinchilla's own forecast is an extrapolation: the farthest target is" in averaged
    shown_values = shown(parse(split_verdict))
    assert "averaged.max_extrapolation" in shown_values
    assert shown_values["averaged.max_extrapolation"] == pytest.approx(
        shown_values["averaged.0.extrapolation"]
    )


def test_default_targets_scale_n_d_and_c_and_hold_a_learning_rate_at_its_median() -> None:
    from types import SimpleNamespace

    from bayescale.report.inputs import default_targets, held_inputs

    columns = {
        "N": np.array([1e7, 1e8, 1e9]),
        "D": np.array([1e9, 1e10, 2e10]),
        "lr": np.array([1e-3, 3e-3, 2e-2]),
    }
    runs = SimpleNamespace(x=lambda name: columns[name])
    law = SimpleNamespace(inputs={"N": "parameters", "D": "tokens", "lr": "learning rate"})
    fit = SimpleNamespace(law=law, runs=runs)
    assert held_inputs(fit) == {"lr": 3e-3}
    assert default_targets(fit) == [{"N": 1e10, "D": 2e11, "lr": 3e-3}]
    # A law whose inputs are all settings or other sizes (Nnv, Nv, H): every input scales.
    other = SimpleNamespace(law=SimpleNamespace(inputs={"lr": ""}), runs=runs)
    assert held_inputs(other) == {} and default_targets(other) == [{"lr": pytest.approx(0.2)}]


def test_the_report_says_which_inputs_a_default_target_holds(demo_fit) -> None:
    context = report.build_context(demo_fit, figures=False)
    assert context["meta"]["held_inputs"] == [] and context["meta"]["scaled_inputs"] == "N and D"
    plain = " ".join(report.render_html(context).split())
    assert "forecasts at 10&times; the largest value of each input in the runs; give" in plain
    context["meta"]["held_inputs"] = [{"name": "lr", "value": report.Num(3e-3, "meta.held.lr")}]
    words = " ".join(report.render_html(context).split())
    assert (
        "forecasts at 10&times; the largest value of N and D in the runs, with lr held at its "
        "median in the runs (lr&nbsp;=&nbsp;" in words
    )
    assert "10&times; a setting such as a learning rate" in words


def test_summary_quotes_both_criteria_when_they_disagree(split_verdict) -> None:
    # Regression: only the PSIS-LOO half was quoted, though the held-out winner set the weights.
    words = paragraph(split_verdict, "summary-comparison")
    assert "PSIS-LOO (interpolation) prefers chinchilla" in words
    assert "On the held-out larger runs (extrapolation), however, starved forecasts best" in words
    assert "that score sets the averaged forecast's weights" in words


def test_held_out_table_shows_each_refits_diagnostics(split_verdict) -> None:
    table = split_verdict.split('id="table-extrapolation"')[1].split("</table>")[0]
    assert "<th>refit diagnostics</th>" in table
    rows = table.split("<tr>")[2:]
    assert ["starved" in r for r in rows] == [False, True]
    assert 'class="pass"' in rows[0] and 'class="fail"' in rows[1]
    note = paragraph(split_verdict, "failed-refits", "div")
    assert note.startswith("Held-out refits that failed their diagnostics: starved (C > 1e+21).")
    assert "chinchilla (C" not in note


def test_a_comparison_of_other_data_is_flagged_not_summarised(
    fit_file, starved_fit, tmp_path, monkeypatch
) -> None:
    # Regression: a comparison of another dataset was taken without a word on the command line,
    # and the summary stated its verdict as if it were about this fit's runs.
    fits = {"chinchilla": starved_fit, "twin": starved_fit}  # fitted to other (simulated) runs
    folder = tmp_path / "other"
    Comparison(fits, compare(fits).loo).save(folder)
    monkeypatch.setattr(report.context, "_figures", lambda *args: {})  # not what is tested
    out = tmp_path / "report.html"
    result = runner.invoke(
        app, ["report", str(fit_file), "--out", str(out), "--compare", str(folder)]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "other runs than this fit" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: the comparison in "), result.stderr
    words = paragraph(out.read_text(encoding="utf-8"), "summary-comparison")
    assert "it was run on different data than this fit" in words
    assert "prefers" not in words
    html = out.read_text(encoding="utf-8")
    section = html[html.index('<section id="comparison">') :]
    # In the comparison's own section, said before its verdict, not after it.
    assert section.index('id="comparison-other-data"') < section.index("PSIS-LOO (interp")


def test_far_is_judged_per_input_and_on_the_compute(demo_fit) -> None:
    from bayescale.report.sections import _far

    n, d = demo_fit.runs.x("N"), demo_fit.runs.x("D")
    i = int(np.argmax(n * d))  # the run of the largest compute
    table = lambda N, D: pd.DataFrame({"N": [N], "D": [D]})  # noqa: E731
    # 20x the largest N, at a tenth of the largest compute's tokens: far in N alone.
    assert _far(demo_fit, table(20 * n.max(), d[i] / 10))
    # 5x the N and D of the largest run: within 10x of each input, 25x its compute.
    assert not _far(demo_fit, table(5 * n[i], 5 * d[i]))
    # 10x the largest N and 10x the largest D: no input beyond 10x, but on this IsoFLOP grid
    # (the largest model is not trained on the most tokens) beyond 100x any run's compute.
    assert n.max() * d.max() > (n * d).max()
    assert _far(demo_fit, table(10 * n.max(), 10 * d.max()))


def test_a_target_at_the_edge_of_the_runs_is_not_called_an_extrapolation(demo_fit) -> None:
    # Regression: a target 1.0015x the largest run was "an extrapolation ... 1x", its interval
    # "1x as wide".
    runs = demo_fit.runs
    # Beside the run of the largest compute: every input and C at most 1.0015x the runs'.
    i = int(np.argmax(runs.x("N") * runs.x("D")))
    at = [{"N": 1.0015 * runs.x("N")[i], "D": float(runs.x("D")[i])}]
    context = report.build_context(demo_fit, at=at, figures=False)
    assert context["summary"]["max_extrapolation"].value == pytest.approx(1.0015)
    html = report.render_html(context)
    summary = " ".join(html.split('id="summary"')[1].split("</section>")[0].split())
    assert "an extrapolation" not in summary
    assert "The forecast is at the edge of the runs: the farthest target is less than" in summary
    assert "1x</span> as wide" not in summary
    assert "widens the 90% interval of the law by less than" in paragraph(html, "discrepancy")


def test_the_reason_for_no_discrepancy_reads_without_doubled_brackets(demo_fit) -> None:
    from bayescale.discrepancy import resolve

    _, why = resolve("auto", demo_fit.law, True)  # a fit with groups: ends with a bracket
    assert why.endswith(")")
    without = dataclasses.replace(
        demo_fit, discrepancy=None, info={**demo_fit.info, "discrepancy_note": why}
    )
    words = paragraph(
        report.render_html(report.build_context(without, figures=False)), "discrepancy"
    )
    assert f"this fit has no model discrepancy. Why none: {why}." in words
    assert "))" not in words


def test_format_number() -> None:
    from bayescale._format import format_number

    assert report.format_number is format_number  # one formatter, re-exported
    assert report.format_number(70e9, "size") == "70B"
    assert report.format_number(1.4e12, "size") == "1.4T"
    assert report.format_number(5.88e23, "size") == "5.88e23"
    assert report.format_number(2.0) == "2.000"
    assert report.format_number(0.9999, "pct") == ">99%"
    assert report.format_number(0.004, "pct") == "<1%"
    assert report.format_number(0.0, "pct") == "0%"
    assert report.format_number(0.01074, "percent") == "1.07%"
    assert report.format_number(2.87, "ratio") == "2.87x"
    assert report.format_number(float("inf")) == "∞"
    assert report.format_number(float("nan")) == "n/a"
    assert report.format_number(1234.4, "int") == "1,234"


@pytest.fixture(scope="module")
def compute_law_fit() -> bayescale.Fit:
    return bayescale.fit(demo_runs(0), "power_law_C", **SMALL)


@pytest.mark.slow
def test_a_law_of_compute_gets_its_budget_and_chances_without_a_split(compute_law_fit) -> None:
    # Regression: the report dropped --target-loss and --compute for power_law_C, saying they
    # need N and D, although `bayescale target` answers them by inverting the law.
    fit = compute_law_fit
    target = 2.1  # below every run (2.198 and up): the law of compute meets it beyond them
    context = report.build_context(fit, target_loss=target, compute=[BUDGET])
    assert context["plan"] is None
    assert set(context["figures"]) == {
        "fit",
        "residuals",
        "ppc",
        "rank",
        "prior_posterior",
        "pair",
        "fan",
    }
    summary = context["summary"]
    # No target given: the budget is the point forecast, as `forecast --at C=...` would.
    assert [row["C"].value for row in summary["rows"]] == [BUDGET]
    assert context["meta"]["targets_from_compute"] is True
    at_budget = fit.prob_below(target, C=[BUDGET])
    points = summary["probability"]["points"]
    assert len(points) == 1 and same(points[0]["C"].value, BUDGET)
    assert same(points[0]["prob_run_below"].value, at_budget["prob_run_below"].iloc[0])
    assert summary["probability"]["budgets"] == []  # the same budget is not listed twice
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = fit.budget_for(target, level=0.9, prob=0.9).iloc[0]
    budget = summary["budget"]
    for column in ("C_median", "C_upper_90", "prob_run_below_median_C", "C_run_prob_90"):
        assert same(budget[column].value, expected[column]), column
    assert "N_median" not in budget and budget["reachable"] is True
    html = report.render_html(context)
    words = paragraph(html, "budget")
    assert words.startswith(f"Reaching loss {target:.3f} needs ")
    assert "does not say how to split that compute between parameters and tokens" in words
    assert "For a 90% chance that one run meets it, budget" in words
    assert "split compute-optimally" not in words and "parameters and tokens)" not in words
    assert "are given for laws of parameters N and tokens D;" not in html
    assert "Compute planning needs a law of parameters N and tokens D" in html
    assert "As a law of compute it still gives the compute a target loss needs" in paragraph(
        html, "plan-none"
    )
    assert parse(html).sections == list(report.SECTIONS)
    # With targets given, the budgets are their own rows, without a split.
    at = [{"C": 1e23}]
    context = report.build_context(
        fit, at=at, target_loss=target, compute=[BUDGET, 1e23], figures=False
    )
    rows = context["summary"]["probability"]["budgets"]
    assert [row["C"].value for row in rows] == [BUDGET]
    table = report.render_html(context).split('id="table-probability"')[1].split("</table>")[0]
    assert "compute-optimal split" not in table


def test_the_target_loss_help_names_laws_of_compute() -> None:
    result = runner.invoke(app, ["report", "--help"])
    text = " ".join(result.output.split())
    assert "(laws of N, D)" not in text
    assert "a law of C alone has no split" in text


@pytest.mark.slow
def test_demo_ends_with_the_report(tmp_path) -> None:
    from bayescale.demo import run_demo

    result = run_demo(tmp_path / "demo", draws=300, tune=300, chains=2)
    out = result.files["report"]
    assert out == tmp_path / "demo" / "report.html"
    parsed = parse(out.read_text(encoding="utf-8"))
    assert parsed.sections == list(report.SECTIONS)
    values = shown(parsed)
    table = result.fit.forecast(TARGET, level=(0.5, 0.8, 0.9))
    assert same(values["forecast.0.pred_median"], table["pred_median"].iloc[0])
    assert "prob.point.0.prob_run_below" in values  # the demo asks about loss 2.0
    with pytest.raises(bayescale.OutputExistsError, match=r"report\.html"):
        run_demo(tmp_path / "demo", draws=300, tune=300, chains=2)


def test_the_budget_says_one_runs_odds_and_a_target_the_runs_already_reach(demo_fit) -> None:
    # The caveat was on the console only: the report headlined the compute without it.
    with pytest.warns(UserWarning, match="is met below the compute of the smallest run"):
        context = report.build_context(demo_fit, figures=False, target_loss=10.0)
    html = report.render_html(context)
    assert 'id="budget-note"' in html and "the runs already reach it" in html
    assert "one run with the median budget meets it with probability" in " ".join(html.split())
    plain = report.build_context(demo_fit, figures=False, target_loss=2.0)
    assert plain["summary"]["budget_notes"] == []
    assert 'id="budget-note"' not in report.render_html(plain)


def test_a_target_below_the_floor_is_said_plainly(demo_fit) -> None:
    # Regression: "needs ∞ FLOPs (90% interval ∞ – ∞), with about ∞ parameters ... n/a".
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no budget gives 90%: a caveat below
        context = report.build_context(demo_fit, figures=False, target_loss=1.0)
    summary = context["summary"]
    assert summary["budget"]["reachable"] is False
    html = report.render_html(context)
    words = paragraph(html, "budget-unreachable")
    assert words.startswith("Loss 1.000 is below the law's floor E (the irreducible loss: 90% HDI")
    assert "no budget reaches it on average" in words
    hdi = demo_fit.summary(level=0.9).loc["E"]
    floor = summary["floor"]
    assert same(floor["lower"].value, hdi["hdi_90_lower"])
    assert same(floor["upper"].value, hdi["hdi_90_upper"])
    assert f"{floor['lower'].text} – {floor['upper'].text}" in words
    top = html.split('id="summary"')[1].split("</section>")[0]
    cards = " ".join(top.split('class="cards"')[1].split("<h3>")[0].split())
    assert "out of reach" in cards and "∞" not in top and "n/a" not in top
    assert 'id="budget"' not in html


def test_the_odds_of_a_fit_without_discrepancy_say_what_counts(demo_fit) -> None:
    # Regression: "(the discrepancy and the noise count too)" for a fit that has none.
    with_disc = report.render_html(
        report.build_context(demo_fit, figures=False, target_loss=2.0, at=[TARGET])
    )
    assert "(the discrepancy and the noise count too)" in paragraph(with_disc, "budget")
    without = dataclasses.replace(demo_fit, discrepancy=None)
    html = report.render_html(
        report.build_context(without, figures=False, target_loss=2.0, at=[TARGET])
    )
    words = paragraph(html, "budget")
    assert "discrepancy and the noise" not in words
    assert "(the run's noise counts too; this fit has no discrepancy)" in words
    # Nor a column for an interval the fit does not have.
    summary = html.split('id="table-summary-forecast"')[1].split("</table>")[0]
    assert "with discrepancy" not in summary and 'id="summary-intervals"' not in html
    forecast = html.split('id="table-forecast"')[1].split("</table>")[0]
    assert "with discrepancy" not in forecast and 'rowspan="2"' in forecast


# -- caveats the library attaches: chances past the peak, priors against the runs ------


def test_the_probability_table_marks_budgets_past_the_peak_and_beyond_the_backtests(
    demo_fit,
) -> None:
    # Regression: `bayescale target` flagged these budgets, the report showed 73% unflagged.
    budgets = [BUDGET, 1e30, 1e34]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected = demo_fit.prob_below(TARGET_LOSS, C=budgets)
    assert set(expected.attrs["caveats"]) <= {str(w.message) for w in caught}
    assert expected.attrs["past_peak"] and expected.attrs["beyond_backtests"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # said on the console, and in the report
        context = report.build_context(
            demo_fit, at=[TARGET], target_loss=TARGET_LOSS, compute=budgets, figures=False
        )
    probability = context["summary"]["probability"]
    past = {e["row"] for e in expected.attrs["past_peak"]}
    far = {e["row"] for e in expected.attrs["beyond_backtests"]}
    for i, row in enumerate(probability["budgets"]):
        assert ("past the peak" in row["caveat"]) == (i in past)
        assert ("far beyond the backtests" in row["caveat"]) == (i in far)
    assert probability["budgets"][0]["caveat"] == ""  # 1e24: within reach of the backtests
    html = report.render_html(context)
    table = html.split('id="table-probability"')[1].split("</table>")[0]
    assert "<th>caveat</th>" in table
    assert "past the peak; far beyond the backtests" in table
    words = paragraph(html, "caveat-chances")
    for sentence in expected.attrs["caveats"]:
        assert sentence in words
    # A budget within the backtests' reach: no caveat column.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain = report.build_context(
            demo_fit, at=[TARGET], target_loss=TARGET_LOSS, compute=[BUDGET], figures=False
        )
    html = report.render_html(plain)
    assert "<th>caveat</th>" not in html.split('id="table-probability"')[1].split("</table>")[0]
    assert 'id="caveat-chances"' not in html


def notes_of(html: str, kind: str) -> list[str]:
    """The text of each ``<div class="note {kind}">``, entities decoded."""
    from html import unescape

    parts = html.split(f'<div class="note {kind}">')[1:]
    return [unescape(part.split("</div>")[0]) for part in parts]


def test_the_forecast_and_the_plan_say_their_caveats_far_beyond_the_backtests(demo_fit) -> None:
    # Regression: the report silenced the forecast's warning and dropped its caveat, and let
    # the plan's warn on the console only.
    far = {"N": 1e12, "D": 2e13}
    with pytest.warns(bayescale.errors.ExtrapolationWarning):  # asked directly, it warns
        expected = demo_fit.forecast({k: [v] for k, v in far.items()}).attrs["caveats"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        context = report.build_context(demo_fit, at=[far], compute=[1e30], figures=False)
    said = [w for w in caught if issubclass(w.category, bayescale.errors.ExtrapolationWarning)]
    assert said == []  # in the report instead of on the console
    assert context["summary"]["caveats"] == expected
    (plan,) = context["plan"]["caveats"]
    assert plan.startswith("compute_optimal: the plan at ") and "C = 1e30 FLOPs" in plan
    html = report.render_html(context)
    assert notes_of(html, "forecast-caveat") == [f"Caveat: {expected[0]}."]
    assert notes_of(html, "plan-caveat") == [f"Caveat: {plan}."]
    # Targets and budgets within reach: no caveat, no note.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        near = report.build_context(demo_fit, at=[TARGET], compute=[BUDGET], figures=False)
    html = report.render_html(near)
    assert notes_of(html, "forecast-caveat") == notes_of(html, "plan-caveat") == []


def _alpha_at_its_bound(fit: bayescale.Fit) -> bayescale.Fit:
    """The fit with alpha's prior Uniform(0.4, 1) and its posterior piled at 0.4 (synthetic
    draws, no sampling: as tests/test_checks.py builds one)."""
    import arviz as az

    law = fit.law.with_priors({"alpha": {"dist": "Uniform", "lower": 0.4, "upper": 1.0}})
    post = fit.idata.posterior.copy()
    shape = (post.sizes["chain"], post.sizes["draw"])
    rng = np.random.default_rng(0)
    post["alpha"] = (("chain", "draw"), 0.4 + np.abs(0.01 * rng.standard_normal(shape)))
    groups = {
        g: fit.idata[g] for g in fit.idata.groups() if g not in ("posterior", "log_likelihood")
    }
    idata = az.InferenceData(posterior=post, **groups)
    return dataclasses.replace(fit, law=law, idata=idata, discrepancy=None)


def test_a_report_of_a_fit_whose_prior_conflicts_with_the_runs_says_so(demo_fit) -> None:
    # Regression: alpha piled at its Uniform bound read "none" in the sensitivity table and
    # the prior checks' note appeared nowhere in the report.
    fit = _alpha_at_its_bound(demo_fit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        context = report.build_context(fit, figures=False)
    html = report.render_html(context)
    assert fit.diagnostics.prior_notes == ("alpha: at lower bound",)  # recorded by the report
    assert context["sensitivity"]["conflicts"] == ["alpha: at lower bound"]
    verdict = paragraph(html, "verdict-priors", "div")
    assert "The priors conflict with the runs (alpha: at lower bound)" in verdict
    # The sensitivity table names the check beside power-scaling's diagnosis.
    table = html.split('id="table-sensitivity"')[1].split("</table>")[0]
    alpha = table.split("<strong>alpha</strong>")[1].split("</tr>")[0]
    assert '<span class="fail">at lower bound</span>' in alpha
    notes = paragraph(html, "prior-check-notes", "ul")
    assert "alpha: at lower bound (a conflict with the runs)" in notes
    assert "piles against the lower bound 0.4 of its prior Uniform" in notes
    section = " ".join(html.split('id="sensitivity"')[1].split("</section>")[0].split())
    assert "Power-scaling sensitivity measures something else" in section
    assert "No parameter is flagged: the posterior is driven by the runs" not in section
    caveat = paragraph(html, "caveat-prior-conflict")
    assert caveat.startswith("The priors conflict with the runs: alpha piles against")
    assert "the runs, not the priors, determine the law's numbers" not in html
    # The report's own forecasts do not repeat the warning on the console more than once.
    assert len([w for w in caught if "priors conflict" in str(w.message)]) <= 1


def test_a_healthy_report_has_no_prior_conflict(parsed, cli_report) -> None:
    html = cli_report["html"].read_text(encoding="utf-8")
    assert 'id="verdict-priors"' not in html and 'id="caveat-prior-conflict"' not in html
    assert 'id="prior-checks"' in html  # the checks are shown, with nothing to flag
    assert "priors conflict" not in cli_report["stdout"]


# -- the plan under the averaged laws ---------------------------------------------------


def test_the_averaged_plan_shows_the_librarys_numbers(
    parsed, cli_report, comparison_dir, demo_fit
) -> None:
    # Regression: with --compare the report's headline forecast was the average's, but its plan
    # stayed the fit's own: the averaged split and budget are now beside it, as the library
    # (and ``bayescale optimal FOLDER``) gives them.
    values = shown(parsed)
    average = Comparison.load(comparison_dir).average()
    largest = float(
        (demo_fit.runs.compute_factor * demo_fit.runs.x("N") * demo_fit.runs.x("D")).max()
    )
    budgets = sorted({largest, largest * 10, largest * 100, BUDGET})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = average.compute_optimal(budgets, level=0.9)
        budget = average.budget_for(TARGET_LOSS, level=0.9, prob=0.9)
    assert len(table) == 4
    for i, row in table.iterrows():
        for column in ("C", "N_median", "N_lower_90", "D_upper_90", "N_disc_upper_90"):
            assert same(values[f"plan.averaged.{i}.{column}"], row[column]), (i, column)
        for law, medians in table.attrs["per_law_N_median"].items():
            assert same(values[f"plan.averaged.{law}.N_median.{i}"], medians[i]), (law, i)
    for column in ("C_median", "C_lower_90", "C_upper_90", "C_run_prob_90"):
        assert same(values[f"plan.averaged.budget.{column}"], budget[column].iloc[0]), column
    words = paragraph(cli_report["html"].read_text(encoding="utf-8"), "averaged-plan-budget")
    assert words.startswith(f"Under the averaged laws, a loss of {TARGET_LOSS:.3f} needs")
    assert "for a 90% chance that one run gets there" in words
    # The summary's cards say whose numbers they are: the average's forecast, the fit's odds.
    html = cli_report["html"].read_text(encoding="utf-8")
    labels = [part.split("</div>")[0] for part in html.split('<div class="label">')[1:]]
    assert [label.endswith("(laws averaged)") for label in labels] == [True, True, False, False]
    assert all(label.endswith("(chinchilla alone)") for label in labels[2:])
    headline = paragraph(html, "headline-average")
    assert "under the averaged laws" in headline and "budget for the target" in headline


def test_a_law_with_all_the_weight_plans_in_the_report_as_its_fit(split_verdict) -> None:
    # The failed law is left out of the default average, so chinchilla carries it all: the
    # averaged plan is then the fit's own, number for number.
    values = shown(parse(split_verdict))
    keys = [k for k in values if k.startswith("plan.averaged.") and k.split(".")[2].isdigit()]
    assert len(keys) >= 4 * 10
    for key in keys:
        own = "plan." + key.removeprefix("plan.averaged.")
        assert values[key] == values[own], key


def test_an_average_with_no_split_says_why_it_gives_no_plan(demo_fit, monkeypatch) -> None:
    # A law of compute alone carrying weight has no N/D split to average: the report says
    # so in the plan section instead of failing or leaving the fit's plan unexplained.
    from bayescale.comparison import average

    compute_law = bayescale.fit(demo_runs(0), "power_law_C", **SMALL, prior_draws=0, retries=0)
    # Its fit fails the diagnostics on these runs, which the default average would leave out.
    halves = {"chinchilla": 0.5, "power_law_C": 0.5}
    monkeypatch.setattr(
        Comparison, "average", lambda self, **_: average(self.fits, halves, comparison=self)
    )
    fits = {"chinchilla": demo_fit, "power_law_C": compute_law}
    loo = pd.DataFrame(
        {"elpd_loo": [10.0, 9.0], "se": 1.0, "elpd_diff": [0.0, 1.0], "dse": 1.0}
        | {"weight": [0.5, 0.5], "pareto_k_bad": 0, "diagnostics_ok": True},
        index=pd.Index(list(fits), name="law"),
    )
    comparison = Comparison(fits, loo, pd.DataFrame())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = report.build_context(demo_fit, comparison=comparison, figures=False)
    averaged = context["plan"]["averaged"]
    assert averaged["rows"] == [] and "power_law_C" in averaged["why_not"]
    html = report.render_html(context)
    words = paragraph(html, "averaged-plan-none")
    assert words.startswith("No plan under the averaged laws: the averaged plan could not be")
    assert "compute_optimal averages the N/D splits of laws in N and D" in words
