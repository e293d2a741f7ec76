"""``bayescale next``: which runs to train next, for the least cost (bayescale.recommendation)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from ..._format import format_number, size_kind
from .._guard import warnings_as_lines
from .._options import (
    FitArgument,
    FixedOption,
    FormatOption,
    OutputFormat,
    check_point_names,
    fixed_inputs,
    parse_mapping,
    parse_points,
)
from .._render import console, frame_table, print_csv, print_json, records, say

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["next_command", "read_candidates"]


class Criterion(StrEnum):
    """What to be surer of (``auto``: ``optimal_N`` for a target of budgets only)."""

    auto = "auto"
    loss = "loss"
    optimal_N = "optimal_N"


class Measure(StrEnum):
    """How the uncertainty is measured."""

    variance = "variance"
    width = "width"


def _display(table: pd.DataFrame, inputs: list[str]) -> pd.DataFrame:
    """The terminal's view: few, short columns (CSV and JSON carry every column)."""
    import pandas as pd

    width = table.attrs["width_before"]
    variance = table.attrs["variance_before"]
    out = pd.DataFrame({"#": [str(o) if o else "" for o in table["order"]]})
    # The candidates' own labels (a name column), so that rows can be matched to them.
    for name in table.columns:
        values = table[name]
        numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
        if name not in inputs and not numeric and name != "estimate":
            out[name] = values.astype(str).to_numpy()
    for name in inputs:
        out[name] = table[name].to_numpy()
    out["cost"] = table["cost"].to_numpy()
    out["var -%"] = 100 * table["variance_reduction"].to_numpy() / variance
    out["width -%"] = 100 * table["width_reduction"].to_numpy() / width
    out["per cost"] = table["value_per_cost"].to_numpy()
    out["ESS"] = table["ess"].round().to_numpy()
    if (table["estimate"] != "reweight").any():
        out["estimate"] = table["estimate"].to_numpy()
    return out


@contextmanager
def _naming(path: str) -> Iterator[None]:
    """Name the candidates file in the library's messages about the candidates."""
    from bayescale.errors import DataError

    try:
        yield
    except DataError as err:
        text = str(err)
        if text.startswith("candidates: "):
            raise DataError(f"--candidates {path}: {text.removeprefix('candidates: ')}") from None
        raise


def read_candidates(path: str, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Read the table of candidate runs (.csv, .tsv, .parquet or .pq).

    Parameters
    ----------
    path : str
        The file.
    mapping : dict of str to str, optional
        Input name -> column (``--x``): those columns take the inputs' names.

    Returns
    -------
    pandas.DataFrame
        One row per candidate; columns of numbers as numbers, others as text.

    Raises
    ------
    DataError
        If the file is missing, of another type, unreadable or empty, or a mapped column
        is not in it.
    """
    import pandas as pd

    from bayescale.data import read_table
    from bayescale.errors import DataError, closest

    try:
        raw, _, _ = read_table(path)  # the reader of 'bayescale fit': every failure is one line
    except DataError as err:
        raise DataError(f"--candidates {path}: {str(err).removeprefix(path + ': ')}") from None
    if raw.empty:
        raise DataError(f"--candidates {path}: no candidate rows; give one run per row")
    frame = raw.copy()
    for column in frame.columns:
        try:
            frame[column] = pd.to_numeric(frame[column])
        except (TypeError, ValueError):
            pass  # a label, or a number written wrongly: reported if the law or cost uses it
    renames: dict[str, str] = {}
    for name, column in (mapping or {}).items():
        if column in renames:
            raise DataError(
                f"--candidates {path}: column {column!r} is mapped to both {renames[column]} "
                f"and {name} (--x); each input needs a column of its own"
            )
        if column not in frame.columns:
            match = closest(column, [str(c) for c in frame.columns])
            hint = f" (did you mean {match!r}?)" if match else ""
            raise DataError(
                f"--candidates {path}: no column {column!r} for --x {name}={column}{hint}; "
                f"its columns: {', '.join(map(str, frame.columns))}"
            )
        renames[column] = name
    return frame.rename(columns=renames)


def _cheap_but_weak(table: pd.DataFrame, attrs: dict, inputs: list[str]) -> str | None:
    """Without a budget the choice is per unit cost: a note when a costlier run helps far more."""
    if attrs.get("budget") is not None or not table["chosen"].any():
        return None
    variance = float(attrs["variance_before"])
    gained = variance - float(attrs["variance_after"])
    best = table.loc[table["variance_reduction"].idxmax()]
    if variance <= 0 or float(best["variance_reduction"]) < max(4 * gained, 0.05 * variance):
        return None
    where = ", ".join(f"{n}={format_number(float(best[n]), size_kind(n))}" for n in inputs)
    return (
        f"Ranked by reduction per unit cost, the choice is cheap and shortens the target's "
        f"variance by {gained / variance:.1%}; the candidate that shortens it most ({where}) "
        f"would by {float(best['variance_reduction']) / variance:.0%}, at cost "
        f"{format_number(float(best['cost']), 'short', 3)}. Give --budget to choose the most "
        f"reduction within a budget."
    )


def next_command(
    fit_file: FitArgument,
    candidates: Annotated[
        str,
        typer.Option(
            "--candidates",
            metavar="FILE",
            help="Table of runnable candidates (.csv, .tsv, .parquet): a column per input "
            "of the law (of N, D, C two are enough), and any column the cost uses.",
        ),
    ],
    target: Annotated[
        list[str],
        typer.Option(
            "--target",
            metavar="NAME=VALUE,...",
            help="What to be surer of: a point such as N=7e10,D=1.4e12 (the loss there), or "
            "C=1e23 (the compute-optimal N at that budget). Repeatable: a target region.",
        ),
    ],
    budget: Annotated[
        float | None,
        typer.Option("--budget", help="Most the chosen runs may cost together (cost units)."),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Runs to choose, greedily.")] = 1,
    cost: Annotated[
        str | None,
        typer.Option(
            "--cost",
            metavar="FORMULA",
            help="Cost of a run, a formula of the candidates' columns, e.g. '6*N*D' or "
            "'gpu_hours' (default: k N D with the fit's compute factor k).",
        ),
    ] = None,
    criterion: Annotated[
        Criterion, typer.Option("--criterion", help="What the uncertainty is of.")
    ] = Criterion.auto,
    measure: Annotated[
        Measure,
        typer.Option("--measure", help="Reduce the variance or the 90% interval's width."),
    ] = Measure.variance,
    fixed: FixedOption = None,
    x: Annotated[
        list[str] | None,
        typer.Option(
            "--x",
            metavar="NAME=COLUMN",
            help="Map a law input to a column of the candidates, e.g. --x N=params "
            "(repeatable). Default: columns named N, D, C, U.",
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    top: Annotated[
        int, typer.Option("--top", min=1, help="Candidates shown in the table format.")
    ] = 10,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the fantasies (default: the fit's).")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", metavar="NAME", help="For a fit with groups: the group planned."),
    ] = None,
    discrepancy: Annotated[
        bool,
        typer.Option(
            "--discrepancy/--law-only",
            help="Count the fit's discrepancy in the uncertainty to reduce (a run nearer the "
            "target shortens the extrapolation), or the law's posterior uncertainty alone.",
        ),
    ] = True,
) -> None:
    """Which runs to train next: most expected reduction of uncertainty per unit cost.

    A fit with its discrepancy (the default of 'bayescale fit') also counts the law's possible
    error at the target, unless --law-only.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit.
    candidates : str
        Table of candidate runs.
    target : list of str
        Target points (``NAME=VALUE,...``) or budgets (``C=...``).
    budget : float, optional
        Cap on the chosen runs' total cost.
    batch : int, default 1
        Runs to choose.
    cost : str, optional
        Cost formula of the candidates' columns.
    criterion, measure : str
        See :func:`bayescale.recommend`.
    fixed : list of str, optional
        ``NAME=VALUE`` for the law's other inputs (``optimal_N`` only).
    x : list of str, optional
        ``NAME=COLUMN``: the candidates' column of each input.
    output_format : OutputFormat, default table
        ``table``, ``csv`` or ``json``.
    top : int, default 10
        Rows of the terminal table.
    seed : int, optional
        Seed of the fantasies.
    group : str, optional
        Group of a hierarchical fit.
    discrepancy : bool, default True
        Count the fit's discrepancy in the uncertainty to reduce.
    """
    points = parse_points(target, "--target")
    others = fixed_inputs(fixed)
    pool = read_candidates(candidates, parse_mapping(x))

    from bayescale.fitting import load_fit
    from bayescale.recommendation import recommend

    result = load_fit(fit_file)
    check_point_names(points, list(result.law.inputs), "--target")
    # A fit that failed its diagnostics: recommend warns, and the warning becomes a line.
    with warnings_as_lines(), _naming(candidates):
        table = recommend(
            result,
            pool,
            target=points,
            cost=cost,
            budget=budget,
            batch=batch,
            criterion=criterion.value,
            measure=measure.value,
            fixed=others,
            seed=seed,
            group=group,
            discrepancy=discrepancy,
        )
    attrs = dict(table.attrs)
    inputs = [n for n in result.law.inputs if n in table.columns]
    note = _cheap_but_weak(table, attrs, inputs)
    if output_format is OutputFormat.csv:
        print_csv(table)
        if note:
            typer.echo(f"note: {note}", err=True)  # beside the table, not in it
        return
    if output_format is OutputFormat.json:
        print_json(
            {
                "law": result.law.name,
                "diagnostics_ok": bool(result.ok),
                **{key: attrs[key] for key in sorted(attrs)},
                "note": note,
                "rows": records(table),
            }
        )
        return
    chosen = int(table["chosen"].sum())
    # Every chosen run is shown (they come first), and at least --top rows.
    shown = max(top, chosen)
    console().print(
        frame_table(
            _display(table, [n for n in result.law.inputs if n in table.columns]).head(shown),
            f"Which run next: {attrs['criterion']}",
            ["cost", *result.law.inputs],
        )
    )
    if len(table) > shown:
        say(f"(the first {shown} of {len(table)} candidates; --top N shows more, -f csv all)")

    def g(value: float) -> str:
        return format_number(value, "short", 3)

    say(
        f"Chosen: {chosen} run(s) costing {g(attrs['spent'])}"
        + (f" (greedy by {attrs['strategy'].replace('_', ' ')})" if chosen > 1 else "")
        + (f" of a budget of {g(attrs['budget'])}" if attrs["budget"] is not None else "")
        + f". Expected 90% interval width at the target: {g(attrs['width_before'])} -> "
        f"{g(attrs['width_after'])}; variance {g(attrs['variance_before'])} -> "
        f"{g(attrs['variance_after'])} ({attrs['fantasies']} fantasies over "
        f"{attrs['draws']} draws)."
        + (
            f" Of that variance, the law's discrepancy beyond the runs: "
            f"{g(attrs['discrepancy_variance_before'])} -> "
            f"{g(attrs['discrepancy_variance_after'])}."
            if attrs.get("discrepancy")
            else ""
        )
    )
    if note:
        say(note)
    beyond = attrs.get("extrapolation")
    if not discrepancy and getattr(result, "discrepancy", None) is not None:
        say(
            "Planned on the law's posterior uncertainty alone (--law-only): the fit's "
            "discrepancy is left out of the choice, not out of its forecasts."
        )
    elif not attrs.get("discrepancy") and beyond is not None and beyond > 1.0:
        say(
            f"The target lies {beyond:.1f} e-folds (x{math.exp(beyond):.3g}) beyond the runs' "
            f"range, and this plan takes the law's form as exact there: the fit has no "
            f"discrepancy. A fit with one (the default of 'bayescale fit', where it can be "
            f"learned) also counts the law's possible error, which runs nearer the target "
            f"shorten."
        )
