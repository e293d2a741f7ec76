"""``bayescale isoflop``: each IsoFLOP curve's measured minimum, and the frontier through them."""

from __future__ import annotations

from typing import Annotated

import typer

from bayescale._format import format_number
from bayescale.settings import check_level

from .._fits import read_fit
from .._guard import warnings_as_lines
from .._options import (
    ComputeFactorOption,
    DataArgument,
    FixedOption,
    FormatOption,
    LevelOption,
    OutputFormat,
    XOption,
    YOption,
    fixed_inputs,
    parse_mapping,
)
from .._render import console, frame_table, print_csv, print_json, records, say

__all__ = ["isoflop_command"]


def isoflop_command(
    data: DataArgument,
    x: XOption = None,
    y: YOption = "loss",
    compute_factor: ComputeFactorOption = 6.0,
    level: LevelOption = 0.9,
    fit_file: Annotated[
        str | None,
        typer.Option(
            "--fit",
            metavar="FIT.nc",
            help="A saved fit of a law in N and D: its plan at each budget beside the "
            "measured minimum, and whether each of its intervals holds it.",
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            "--group-by",
            metavar="COLUMN",
            help="Column(s) of the runs' families (dataset, ...): curves are found within "
            "each family, never across.",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            metavar="NAME",
            help="With --group-by: only this family's runs. Without it, for a --fit with "
            "groups: the group whose plan is set beside the runs.",
        ),
    ] = None,
    fixed: FixedOption = None,
) -> None:
    """Each IsoFLOP curve's minimum in N, and the frontier N_opt ~ C^a (Hoffmann's approach 2).

    Runs within 10% of one compute C = k N D form a curve (5 runs or more); a
    parabola in log N through its log loss places the minimum, with an
    interval from the parabola's own error; a weighted line through the
    minima gives the frontier's exponent. No law is fitted: this is the
    measurement a law's plan ('bayescale optimal') is checked against. With
    --fit, that fit's plan at each budget and whether the minimum lies inside
    its intervals (law alone, with the plan's discrepancy, a new curve's
    minimum): on the fit's own runs a consistency check, not a forecast.

    \f
    Parameters
    ----------
    data : str
        Path of the table of runs.
    x : list of str, optional
        ``NAME=COLUMN`` mappings.
    y : str, default "loss"
        Column of the loss.
    compute_factor : float, default 6.0
        ``k`` in ``C = k N D``.
    level : float, default 0.9
        Level of the intervals.
    fit_file : str, optional
        A saved fit whose plan is set beside the minima.
    output_format : OutputFormat, default table
        ``table``, ``csv`` or ``json``.
    group_by : list of str, optional
        Family column(s) of the runs.
    group : str, optional
        One family, or a grouped fit's group.
    fixed : list of str, optional
        ``NAME=VALUE``: the law's other inputs, for the fit's plan.
    """
    level = check_level(level, "--level")
    mapping = parse_mapping(x)
    others = fixed_inputs(fixed)
    from bayescale.data import load_runs
    from bayescale.errors import DataError
    from bayescale.forecast import level_label

    if others and fit_file is None:
        raise DataError(
            f"--fixed {next(iter(others))}=... sets a law's other inputs for the plan of a "
            f"--fit; without --fit no law is used: give --fit FIT.nc, or leave out --fixed"
        )
    with warnings_as_lines():
        try:
            runs = load_runs(
                data, x=mapping, y=y, compute_factor=compute_factor, group=group_by or None
            )
        except DataError as err:
            # load_runs words its remedy as 'bayescale fit' takes the column: --group.
            text = str(err).replace(
                "choose the group column with group='<column>'", "choose it with --group-by COLUMN"
            )
            if text == str(err):
                raise
            raise DataError(text) from None
    fit = None
    if fit_file is not None:
        fit = read_fit(fit_file, flag="--fit")
    fit_grouped = fit is not None and fit.pooling is not None
    if group is not None and runs.group is None and not fit_grouped:
        # The library would measure every run's curves, as if no --group had been given.
        whose = " and the --fit has no groups" if fit is not None else ""
        raise DataError(
            f"--group {group}: the runs are not in groups{whose}; give --group-by COLUMN (the "
            f"column naming each run's family) to measure one family's curves"
            + ("" if fit is not None else ", or a --fit with groups to set its plan beside them")
        )
    from bayescale.isoflop import isoflop_minima

    with warnings_as_lines():
        table = isoflop_minima(runs, level=level, fit=fit, fixed=others, group=group)
    frontier = table.attrs["frontier"]
    missed = table.attrs["missed"]
    if output_format is OutputFormat.json:
        print_json(
            {
                "source": runs.source,
                "compute_factor": runs.compute_factor,
                "level": level,
                "noise": table.attrs["noise"],
                "frontier": frontier,
                "missed": missed,
                "fit": fit_file,
                "rows": records(table),
            }
        )
        return
    if output_format is OutputFormat.csv:
        print_csv(table)
        return
    tag = level_label(level)
    intervals = [c for c in table.columns if c.startswith("plan_N_") and c != "plan_N_median"]
    shown = table.drop(columns=["se_log_N", *intervals]).rename(
        columns={
            "N_min": "N at minimum",
            f"N_lower_{tag}": f"lower {tag}%",
            f"N_upper_{tag}": f"upper {tag}%",
            "D_min": "D at minimum",
            "tokens_per_parameter": "tokens/param",
            "loss_min": "loss at minimum",
            "plan_N_median": "plan N (median)",
            "in_law": "in law's",
            "in_disc": "in with disc.",
            "in_pred": "in new curve's",
        }
    )
    for column in ("in law's", "in with disc.", "in new curve's"):
        if column in shown.columns:
            shown[column] = ["yes" if v else "NO" for v in shown[column]]
    sizes = ["N at minimum", f"lower {tag}%", f"upper {tag}%", "D at minimum", "plan N (median)"]
    console().print(
        frame_table(
            shown,
            f"IsoFLOP minima of {len(runs)} runs from {runs.source} (C = {runs.compute_factor:g} "
            f"N D; {tag}% intervals of the parabola's vertex)",
            [c for c in sizes if c in shown.columns],
        )
    )
    grouped = "group" in table.columns
    for label, line in frontier.items() if grouped else [(None, frontier)]:
        of = f" of group {label}" if label is not None else ""
        if line is None:
            say(f"Frontier{of}: fewer than 3 curves, too few for a line through the minima.")
            continue
        a, low, high = line["exponent"], line["exponent_lower"], line["exponent_upper"]
        say(
            f"Frontier{of} through the {line['curves']} minima: N_opt ~ C^{a:.3f} ({tag}%: "
            f"{low:.3f} to {high:.3f}), D_opt ~ C^{1 - a:.3f} (Hoffmann et al. 2022 found "
            f"0.49 / 0.51 this way on their runs)."
        )
    for problem in table.attrs.get("skipped", []):
        say(f"Left out: {problem}.", style="yellow")
    say(
        "runs: on the curve (within 10% of its C); fitted: those within a factor 10 in N of "
        "its minimum, the parabola's."
    )
    if missed:
        budgets = ", ".join(
            format_number(m["C"], "flops") + (f" ({m['group']})" if "group" in m else "")
            for m in missed
        )
        say(
            f"{len(missed)} budget(s) had 5 or more runs but no minimum inside them (the "
            f"parabola opens downward or its vertex lies beyond the runs): {budgets}. Sweep "
            f"wider in N there to measure one."
        )
    if fit is not None:
        counts = [
            f"{label} {int(table[column].sum())} of {len(table)}"
            for column, label in (
                ("in_law", "the law's interval"),
                ("in_disc", "with the plan's discrepancy"),
                ("in_pred", "a new curve's minimum"),
            )
            if column in table.columns
        ]
        say(
            f"The measured minimum lies inside the fit's {tag}% intervals (the law's and with "
            f"the discrepancy widened by the minimum's own error; a new curve's for a curve of "
            f"its runs, spread and noise): {'; '.join(counts)}."
        )
        if not fit.ok:
            say("The fit failed its diagnostics: its plan is not to be trusted.", style="yellow")
