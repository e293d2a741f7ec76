"""Tables and numbers as the command line prints them (rich), and machine-readable output.

Numbers go through :mod:`bayescale._format`, the formatter the report uses too, so a value
reads the same in a terminal and in the report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from bayescale._format import format_interval, format_number, format_prior, size_kind

from ._options import OutputFormat

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from bayescale.fitting import Fit
    from bayescale.laws import Law

__all__ = [
    "console",
    "emit",
    "forecast_table",
    "frame_table",
    "print_discrepancy",
    "print_law",
    "print_verdict",
    "records",
    "summary_table",
]

#: Input columns shown as sizes (70B, 1.4T) in plans.
SIZED = frozenset({"N", "D", "C"})


#: Width of tables written to a file or a pipe (COLUMNS, when set, still decides).
WIDTH_NOT_A_TERMINAL = 160


def console(stderr: bool = False) -> Console:
    """A rich console on the current stream (tests swap sys.stdout, so never cache it)."""
    import os

    from rich.console import Console

    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # Into a file or a pipe nothing wraps: a table 80 columns wide would cut its numbers.
        out = Console(stderr=stderr, highlight=False, width=WIDTH_NOT_A_TERMINAL)
    return out


def say(text: str, **style: Any) -> None:
    """Print one logical line of plain text (no markup), wrapped by the terminal, not rich."""
    console().print(text, markup=False, soft_wrap=True, **style)


def formula_line(text: str) -> str:
    """A formula on one line: its named intermediates first, then ``L = `` the loss.

    ``"t = A * N^(-a)\nE + t"`` (a law file's formula over several lines) is shown as
    ``"t = A * N^(-a); L = E + t"``.
    """
    parts = [p.strip() for line in text.strip().splitlines() for p in line.split(";")]
    parts = [p for p in parts if p]
    return "; ".join([*parts[:-1], f"L = {parts[-1]}"]) if parts else "L = "


def paragraph(text: str) -> str:
    """Reflow text from TOML triple-quoted strings, whose line breaks are not meaningful."""
    return " ".join(text.split())


def records(frame: pd.DataFrame) -> list[dict[str, float | int | bool | str | None]]:
    """Rows as JSON-ready dicts; a non-finite number becomes null (JSON has no NaN).

    Text (a hierarchical fit's ``group``) stays text, a yes/no column true/false and a
    column of whole numbers (a candidate's row, an order) integers.
    """
    import numpy as np
    import pandas as pd

    kinds = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            kinds[column] = bool
        elif pd.api.types.is_integer_dtype(values):
            kinds[column] = int

    def value(column: Any, v: Any) -> Any:
        if isinstance(v, str) or v is None:
            return v
        if isinstance(v, bool | np.bool_):
            return bool(v)
        if not math.isfinite(float(v)):
            return None
        return kinds.get(column, float)(v)

    return [
        {str(k): value(k, v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]


def print_json(document: dict[str, Any]) -> None:
    """Print a JSON document on stdout."""
    typer.echo(json.dumps(document, indent=2))


def print_csv(frame: pd.DataFrame) -> None:
    """Print a table as CSV on stdout."""
    typer.echo(frame.to_csv(index=False), nl=False)


def _simple_table(title: str, **options: Any) -> Table:
    from rich import box
    from rich.table import Table

    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, **options)


def summary_table(result: Fit, title: str) -> Table:
    """Posterior summary of every parameter, with failing diagnostics in red.

    The mean and the role are left out so that the table fits 80 columns; ``bayescale laws
    NAME`` shows the roles, and the library's ``Fit.summary()`` has every column.
    """
    from bayescale.fitting import RHAT_MAX

    summary = result.summary()
    lower = next(c for c in summary.columns if c.endswith("_lower"))
    upper = next(c for c in summary.columns if c.endswith("_upper"))
    level = lower.removeprefix("hdi_").removesuffix("_lower")
    ess_min = result.diagnostics.ess_min
    table = _simple_table(title)
    table.add_column("parameter", style="bold", no_wrap=True)
    table.add_column("median", justify="right", no_wrap=True)
    table.add_column(f"{level}% HDI", justify="center", no_wrap=True)
    table.add_column("sd", justify="right", no_wrap=True)
    table.add_column("R-hat", justify="right", no_wrap=True)
    table.add_column("ESS bulk", justify="right")
    table.add_column("ESS tail", justify="right")

    def flag(text: str, bad: bool) -> str:
        return f"[red]{text}[/red]" if bad else text

    for name, row in summary.iterrows():
        table.add_row(
            escape(str(name)),  # 'E[c4]' is a group's parameter, not rich markup
            format_number(row["median"]),
            format_interval(row[lower], row[upper]),
            format_number(row["sd"], digits=3),
            flag(f"{row['r_hat']:.3f}", not row["r_hat"] <= RHAT_MAX),
            flag(f"{row['ess_bulk']:.0f}", not row["ess_bulk"] >= ess_min),
            flag(f"{row['ess_tail']:.0f}", not row["ess_tail"] >= ess_min),
        )
    return table


def print_verdict(result: Fit) -> None:
    """What the sampler did when it had to retry, then the verdict (green or red)."""
    if len(result.diagnostics.attempts) > 1:
        for line in result.sampler_log:
            say(line)
    say(result.diagnostics.verdict(), style="bold green" if result.ok else "bold red")


def print_discrepancy(result: Fit) -> None:
    """What the fit's discrepancy found, or why it has none and what its intervals then assume."""
    if result.discrepancy is not None:
        say(f"Discrepancy: {result.discrepancy.describe()}.")
    else:
        say(
            f"No discrepancy: {result.discrepancy_note}; the intervals assume the law's form is "
            f"exact beyond the runs"
        )


def _forecast_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The input columns (before ``law_median``) and the level tags (``"90"``, ...)."""
    columns = list(frame.columns)
    inputs = columns[: columns.index("law_median")] if "law_median" in columns else []
    tags = [c.removeprefix("law_lower_") for c in columns if c.startswith("law_lower_")]
    return inputs, tags


def forecast_table(frame: pd.DataFrame, title: str) -> Table:
    """Forecast as a table: per point, a row for the law and one for a new run.

    One row per kind keeps the table within 80 columns with two credible levels, where one
    wide row per point would not fit.
    """
    inputs, tags = _forecast_columns(frame)
    table = _simple_table(
        title,
        caption=(
            "law: the law's value (credible interval, if its form is right); "
            + (
                "with discrepancy: the law's value allowing for its form's error beyond the data; "
                if "disc_median" in frame.columns
                else ""
            )
            + "new run: the loss of one more run (predictive interval); extrap.: largest "
            "ratio of an input or of C to its maximum in the data (> 1: beyond the data; "
            "inside: within the data's range; below: under it)"
        ),
        caption_justify="left",
    )
    for name in inputs:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("median", justify="right", no_wrap=True, style="bold")
    for tag in tags:
        table.add_column(f"{tag}% interval", justify="center")
    table.add_column("extrap.", justify="right", no_wrap=True)
    last = len(frame) - 1
    for position, (_, row) in enumerate(frame.iterrows()):
        extrapolation = float(row.get("extrapolation", float("nan")))
        ratio = format_number(extrapolation, "ratio")
        if extrapolation <= 1 and float(row.get("distance", 0.0)) > 0:
            ratio, extrapolation = "below", 2.0  # outside the data all the same: flagged
        elif extrapolation <= 1 and "distance" in row:
            # A ratio below 1 would read as "under the data's range", as "below" does.
            ratio = "inside"
        table.add_row(
            *[
                escape(str(row[name]))
                if name == "group"
                else format_number(row[name], size_kind(name))
                for name in inputs
            ],
            "law",
            format_number(row["law_median"]),
            *[format_interval(row[f"law_lower_{t}"], row[f"law_upper_{t}"]) for t in tags],
            f"[yellow]{ratio}[/yellow]" if extrapolation > 1 else ratio,
        )
        if "disc_median" in frame.columns:
            table.add_row(
                *["" for _ in inputs],
                "with discrepancy",
                format_number(row["disc_median"]),
                *[format_interval(row[f"disc_lower_{t}"], row[f"disc_upper_{t}"]) for t in tags],
                "",
            )
        table.add_row(
            *["" for _ in inputs],
            "new run",
            format_number(row["pred_median"]),
            *[format_interval(row[f"pred_lower_{t}"], row[f"pred_upper_{t}"]) for t in tags],
            "",
            end_section=position < last,
        )
    return table


def frame_table(frame: pd.DataFrame, title: str, size_columns: Sequence[str] = ()) -> Table:
    """A DataFrame as a rich table: sizes as 70B / 1.4T, other numbers to 4 digits."""
    import numpy as np
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    index_name = frame.index.name
    if index_name:
        table.add_column(str(index_name), style="bold")
    for column in frame.columns:
        # A narrow terminal folds a number onto two lines rather than cut it to '0.00…'.
        table.add_column(str(column), justify="right", overflow="fold")
    counts = {column for column in frame.columns if _is_count(frame[column])}
    for key, row in frame.iterrows():
        cells = [escape(str(key))] if index_name else []
        for column, value in row.items():
            if isinstance(value, bool | np.bool_):
                cells.append("yes" if value else "NO")
            elif column in counts and np.isfinite(value):
                cells.append(f"{int(value):d}")
            elif isinstance(value, int | float | np.integer | np.floating):
                cells.append(format_number(value, _column_kind(str(column), size_columns)))
            else:
                cells.append(escape(str(value)))
        table.add_row(*cells)
    return table


def _column_kind(column: str, size_columns: Sequence[str] = ()) -> str:
    """How a column's numbers are shown: sizes, FLOPs, probabilities in percent, or plain."""
    if column in size_columns:
        return size_kind(column)
    return "pct" if column.startswith("prob_") else "num"


def _is_count(values: pd.Series) -> bool:
    """A column of counts (runs, bad Pareto k): whole numbers, shown without decimals."""
    import numpy as np
    import pandas as pd

    name = str(values.name)
    if not (
        pd.api.types.is_integer_dtype(values) or name.startswith("n_") or name.endswith("_bad")
    ):
        return False
    finite = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(finite)) and bool(np.all(finite == np.round(finite)))


#: How a plan's rows with discrepancy and of a new IsoFLOP curve's minimum are named.
PLAN_LABELS = {"_disc": " with discrepancy", "_pred": " a new IsoFLOP curve finds"}
#: The loss at the optimum's three intervals, named as a forecast's law / with discrepancy /
#: new run (its ``_pred`` is one run's loss, not a sweep's measurement).
LOSS_LABELS = {
    "loss": "loss (law)",
    "loss_disc": "loss with discrepancy",
    "loss_pred": "loss of one run",
}
#: A plan's rows that are not intervals: their labels and formats.
PLAN_ROWS = {
    "prob_sweep_no_minimum": ("chance a new IsoFLOP curve finds no minimum", "pct"),
    "distance": ("outside the runs (e-folds, median plan)", "short"),
}


def interval_table(frame: pd.DataFrame, key: str, title: str) -> Table:
    """One column per row of `frame` (a budget, a target) and one row per quantity.

    Each cell is ``median [lower, upper]``: the ``{q}_median`` / ``{q}_lower_*`` /
    ``{q}_upper_*`` columns regrouped so that a plan fits a terminal.
    """
    from rich.table import Table

    quantities = [c.removesuffix("_median") for c in frame.columns if c.endswith("_median")]
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for value in frame[key]:
        table.add_column(f"{key} = {format_number(value, 'short', 3)}", justify="right")
    for q in quantities:
        lower = next(c for c in frame.columns if c.startswith(f"{q}_lower_"))
        upper = next(c for c in frame.columns if c.startswith(f"{q}_upper_"))
        base = q.removesuffix("_disc").removesuffix("_pred")
        kind = size_kind(base) if base in SIZED else "num"
        cells = [
            f"{format_number(r[f'{q}_median'], kind)} "
            f"[{format_number(r[lower], kind)}, {format_number(r[upper], kind)}]"
            for _, r in frame.iterrows()
        ]
        label = LOSS_LABELS.get(q) or base.replace("_", " ") + PLAN_LABELS.get(
            q.removeprefix(base), ""
        )
        if q == base and q not in LOSS_LABELS and f"{q}_disc" in quantities:
            # Beside its row with discrepancy, the law's own interval says whose it is: it is
            # the narrowest, and the one a measured minimum most often falls outside.
            label += " (law)"
        table.add_row(label, *cells)
    shown = {f"{q}_{part}" for q in quantities for part in ("median", "lower_", "upper_")}
    rest = [c for c in frame.columns if c != key and not c.startswith(tuple(shown))]
    for column in rest:
        odds = column.removeprefix("C_run_prob_")
        if column in PLAN_ROWS:
            label, kind = PLAN_ROWS[column]
        elif odds != column:  # Fit.budget_for(prob=...): a budget, in FLOPs
            label, kind = f"C for a {odds}% chance one run meets it", "flops"
        elif column in SIZED:  # an input of the targets (a link's D beside its N columns)
            label, kind = column, size_kind(column)
        else:
            label, kind = column.replace("_", " "), _column_kind(column)
        table.add_row(label, *(format_number(v, kind) for v in frame[column]))
    return table


def emit(
    frame: pd.DataFrame, output_format: OutputFormat, title: str, key: str, **extra: Any
) -> None:
    """Print a plan in the chosen format: a table, CSV, or JSON with `extra` fields."""
    if output_format is OutputFormat.csv:
        print_csv(frame)
    elif output_format is OutputFormat.json:
        print_json({**extra, "rows": records(frame)})
    elif "group" in frame.columns:
        # A hierarchical fit's plan: one table per group, each within 80 columns.
        for group, part in frame.groupby("group", sort=False):
            rest = part.drop(columns="group").reset_index(drop=True)
            emit(rest, output_format, f"{title}, group {group}", key, **extra)
    elif any(c.endswith("_median") for c in frame.columns):
        console().print(interval_table(frame, key, title))
    else:
        # The points' sizes as every other table shows them (6.9B, not 6.900e9).
        sized = [key, *(c for c in frame.columns if c in SIZED and c != key)]
        console().print(frame_table(frame, title, sized))


def print_law(law: Law) -> None:
    """Everything a user needs to judge a law's priors before fitting it."""
    from rich.table import Table
    from rich.text import Text

    out = console()
    out.print(Text(f"{law.name}: {law.title}", style="bold"))
    out.print(Text("  ") + Text(formula_line(law.formula.text), style="cyan"))
    if law.description:
        out.print(Text(paragraph(law.description)))
    if law.reference:
        out.print(Text(f"Reference: {paragraph(law.reference)}"))

    inputs = Table(title="Inputs", title_justify="left")
    inputs.add_column("input", style="bold")
    inputs.add_column("meaning")
    for name, meaning in law.inputs.items():
        inputs.add_row(name, Text(meaning))
    out.print(inputs)

    # The reasoning is the longest text: give it the most room.
    priors = Table(title="Priors", title_justify="left", show_lines=True, expand=True)
    priors.add_column("parameter", style="bold", no_wrap=True)
    priors.add_column("role", no_wrap=True)
    priors.add_column("prior", ratio=2)
    priors.add_column("why", ratio=3)
    for p in law.parameters.values():
        priors.add_row(p.name, p.role, Text(p.describe_prior()), Text(paragraph(p.why)))
    lik = law.likelihood
    # One reasoning covers the noise model: the first row carries it, the others point to it.
    why = paragraph(lik.why)
    for name, prior in lik.priors.items():
        priors.add_row(name, "noise", Text(format_prior(prior)), Text(why))
        why = "see sigma"
    out.print(priors)
    out.print(Text(f"Likelihood: {lik.describe()}"))

    if law.published:
        names = list(dict.fromkeys(n for values in law.published.values() for n in values))
        published = Table(title="Published values", title_justify="left")
        published.add_column("source", style="bold")
        for name in names:
            published.add_column(name, justify="right")
        for source, values in law.published.items():
            published.add_row(
                Text(source),
                *[format_number(values[n], "short") if n in values else "" for n in names],
            )
        out.print(published)
