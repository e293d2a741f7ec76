"""``bayescale optimal`` and ``bayescale target``: compute plans from a saved fit."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from bayescale.settings import check_level

from .._guard import warnings_as_lines
from .._options import (
    ComputeOption,
    FitArgument,
    FixedOption,
    FormatOption,
    LevelOption,
    OutputFormat,
    SweepOption,
    fixed_inputs,
    last_values,
)
from .._render import emit, print_csv, print_json, records, say

__all__ = ["optimal_command", "target_command"]

GroupOption = Annotated[
    list[str] | None,
    typer.Option(
        "--group",
        metavar="NAME",
        help="For a fit with groups: the group to plan for, 'new' for a group not yet "
        "observed (repeatable; default every observed group).",
    ),
]


def optimal_command(
    fit_file: FitArgument,
    compute: ComputeOption,
    level: LevelOption = 0.9,
    fixed: FixedOption = None,
    output_format: FormatOption = OutputFormat.table,
    group: GroupOption = None,
    sweep: SweepOption = None,
) -> None:
    """Compute-optimal parameters and tokens for each budget, with credible intervals.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit (a law in N and D).
    compute : list of float
        Budgets in FLOPs.
    level : float, default 0.9
        Credible level.
    fixed : list of str, optional
        ``NAME=VALUE`` for the law's other inputs.
    output_format : OutputFormat, default table
        ``table``, ``csv`` or ``json``.
    group : list of str, optional
        For a fit with groups: the groups to plan for (``new``: a group not yet observed).
    sweep : list of str, optional
        ``KEY=VALUE`` of the IsoFLOP curve a new sweep would run (runs, spread, noise).
    """
    level = check_level(level, "--level")
    others = fixed_inputs(fixed)
    planned = last_values(sweep, "--sweep")
    from bayescale.fitting import load_fit

    result = load_fit(fit_file)  # a failed fit's plan warns from the library
    with warnings_as_lines() as shown:
        frame = result.compute_optimal(
            compute, level=level, fixed=others, group=group or None, sweep=planned
        )
    k = result.runs.compute_factor
    # Why "with discrepancy" is the prior's, when no IsoFLOP curve could check the plan.
    info = {} if result.discrepancy is None else result.discrepancy.info
    unchecked = info.get("plan_note") if info.get("plan_learned") is False else None
    emit(
        frame,
        output_format,
        f"Compute-optimal split of {result.law.name} (C = {k:g} N D, {level:.0%} intervals)",
        "C",
        law=result.law.name,
        diagnostics_ok=bool(result.ok),
        **({"plan_note": unchecked} if unchecked else {}),
        warnings=sorted(shown),
    )
    if unchecked and output_format is OutputFormat.table:
        say(f"With discrepancy: {unchecked}.")
    if "N_pred_median" in frame and output_format is OutputFormat.table:
        from bayescale.planning import sweep_design

        learned = None if result.discrepancy is None else result.discrepancy.plan_sweep()
        offsets, noise = sweep_design(planned, learned)
        spread = math.exp(offsets.max() - offsets.min())
        where = (
            "placed like your largest curve, as noisy as your curves"
            if not planned
            else "as you gave it"
            if len(planned) == 3
            else "as you gave it, the rest from your curves"
        )
        lead = "'With discrepancy' is where the optimum lies; " if "N_disc_median" in frame else ""
        say(
            f"{lead}'a new IsoFLOP curve finds' is the "
            f"minimum of a parabola through a new curve's {len(offsets)} runs, spread over "
            f"{spread:.0f}x in N with {noise:.2%} noise on the loss ({where}): the interval "
            f"to check such a sweep against."
        )


def target_command(
    fit_file: FitArgument,
    loss: Annotated[float, typer.Option("--loss", help="Target loss.")],
    compute: ComputeOption = None,
    level: LevelOption = 0.9,
    fixed: FixedOption = None,
    output_format: FormatOption = OutputFormat.table,
    group: GroupOption = None,
    prob: Annotated[
        list[float] | None,
        typer.Option(
            "--prob",
            help="Also the smallest budget at which one run meets the target with this "
            "probability, e.g. 0.9 (repeatable).",
        ),
    ] = None,
) -> None:
    """Compute needed to reach a target loss, and the probability of reaching it.

    With --compute, also the probability of reaching the target with each budget
    (split compute-optimally); with --prob, the budget that gives one run that chance.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit (a law in N and D).
    loss : float
        Target loss.
    compute : list of float, optional
        Budgets at which to give the probability of meeting the target.
    level, fixed, output_format, group
        As in ``optimal``.
    prob : list of float, optional
        Probabilities for ``Fit.budget_for(..., prob=...)``.
    """
    level = check_level(level, "--level")
    probs = [check_level(p, "--prob") for p in prob or []]
    others = fixed_inputs(fixed)
    from bayescale.fitting import load_fit

    result = load_fit(fit_file)  # a failed fit's plan warns from the library
    with warnings_as_lines() as shown:
        groups = group or None
        budget = result.budget_for(
            loss, level=level, fixed=others, group=groups, prob=probs or None
        )
        chances = (
            result.prob_below(loss, C=compute, fixed=others, group=groups) if compute else None
        )
    if output_format is OutputFormat.json:
        print_json(
            {
                "law": result.law.name,
                "diagnostics_ok": bool(result.ok),
                "budget": records(budget),
                "probability": records(chances) if chances is not None else None,
                "warnings": sorted(shown),
            }
        )
        return
    if output_format is OutputFormat.csv:
        # One table: each budget's probability beside the compute the target needs.
        keys = [k for k in ("group", "target_loss") if k in budget.columns]
        print_csv(budget if chances is None else chances.merge(budget, on=keys, how="left"))
        return
    title = (
        f"Compute at which the law (the average run) reaches loss {loss:g} ({level:.0%} "
        f"credible intervals); prob run below: the chance one run with that budget does"
    )
    emit(budget, output_format, title, "target_loss")
    if chances is not None:
        emit(chances, output_format, f"Probability of reaching loss {loss:g}", "C")
