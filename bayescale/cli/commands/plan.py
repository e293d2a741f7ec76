"""``bayescale optimal`` and ``bayescale target``: compute plans from a saved fit."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bayescale._format import format_number, size_kind
from bayescale.settings import check_level

from .._fits import (
    average_title,
    is_folder,
    read_average,
    read_fit,
    weight_shares,
    weights_option,
)
from .._guard import echo_warning, warnings_as_lines
from .._options import (
    AtOption,
    ComputeOption,
    FitOrComparisonArgument,
    FixedOption,
    FormatOption,
    LevelOption,
    OutputFormat,
    SweepOption,
    WeightsOption,
    check_point_names,
    fixed_inputs,
    last_values,
    parse_points,
)
from .._render import emit, print_csv, print_json, records, say

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from bayescale.comparison import Average
    from bayescale.fitting import Fit

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


def sweep_option(items: list[str] | None) -> dict[str, float] | None:
    """Parse and check ``--sweep KEY=VALUE`` options, before the fit is read.

    Parameters
    ----------
    items : list of str, optional
        The options.

    Returns
    -------
    dict of str to float, or None
        The values by key.

    Raises
    ------
    typer.BadParameter
        For an unknown key or a value outside
        :data:`bayescale.planning.SWEEP_RANGES`, saying the range.
    """
    from bayescale.errors import DataError
    from bayescale.planning import SWEEP_KEYS, check_sweep

    planned = last_values(items, "--sweep")
    for key, value in (planned or {}).items():
        if key not in SWEEP_KEYS:
            raise typer.BadParameter(
                f"{key}={value:g}: the sweep takes {', '.join(SWEEP_KEYS)}",
                param_hint="'--sweep'",
            )
    try:
        check_sweep(planned or {})
    except DataError as err:
        raise typer.BadParameter(
            str(err).removeprefix("sweep "),
            param_hint="'--sweep'",
        ) from None
    return planned


def optimal_command(
    fit_file: FitOrComparisonArgument,
    compute: ComputeOption,
    level: LevelOption = 0.9,
    fixed: FixedOption = None,
    output_format: FormatOption = OutputFormat.table,
    group: GroupOption = None,
    sweep: SweepOption = None,
    weights: WeightsOption = None,
) -> None:
    """Compute-optimal parameters and tokens for each budget, with credible intervals.

    The loss at the optimum has three rows, as a forecast has: "loss
    (law)" (the law's credible interval), "loss with discrepancy"
    (allowing for the law's error beyond the runs) and "loss of one run"
    (one compute-optimal run, run-to-run noise included); in JSON and CSV
    loss_*, loss_disc_* and loss_pred_*. Where the fit learned IsoFLOP
    curves (or --sweep is given), "a new IsoFLOP curve finds" rows give
    the minimum such a sweep would measure, and prob_sweep_no_minimum the
    chance that it finds none within its runs.

    Given a comparison's folder, each law's posterior plans with its own
    law and the plans are pooled by the weights: where the laws disagree on
    the split, the intervals hold both.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit (a law in N and D), or of a comparison's folder.
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
    weights : str, optional
        A comparison's averaging weights: a method's name, or ``NAME=W,...``.
    """
    level = check_level(level, "--level")
    others = fixed_inputs(fixed)
    planned = sweep_option(sweep)
    source = plan_source(fit_file, weights)
    if not _is_fit(source):
        if planned is not None:
            raise typer.BadParameter(
                f"--sweep simulates one law's IsoFLOP curve; '{fit_file}' is a comparison: "
                f"give one of its laws' fits to plan a sweep",
                param_hint="'--sweep'",
            )
        with warnings_as_lines() as shown:
            frame = source.compute_optimal(compute, level=level, fixed=others, group=group or None)
        k = _source_compute_factor(source)
        emit(
            frame,
            output_format,
            f"Compute-optimal split, laws averaged ({average_title(source, fit_file)}; "
            f"C = {k:g} N D, {level:.0%} intervals)",
            "C",
            **_source_facts(source),
            warnings=sorted(shown),
        )
        if output_format is OutputFormat.table:
            say(
                "Each law's posterior plans with its own law; the table pools the plans by "
                f"the weights. Each law's own median N: {_per_law_medians(frame)}. Weights: "
                f"{source.reason}."
            )
        return
    result = source  # a failed fit's plan warns from the library
    with warnings_as_lines() as shown:
        frame = result.compute_optimal(
            compute, level=level, fixed=others, group=group or None, sweep=planned
        )
    k = result.runs.compute_factor
    # Why "with discrepancy" is the prior's, when no IsoFLOP curve could check the plan.
    info = {} if result.discrepancy is None else result.discrepancy.info
    unchecked = info.get("plan_note") if info.get("plan_learned") is False else None
    design = caveat = None
    if "N_pred_median" in frame:
        from bayescale.planning import sweep_design

        learned = None if result.discrepancy is None else result.discrepancy.plan_sweep()
        design = sweep_design(planned, learned)
        caveat = sweep_caveat(frame, design[0])
    sweep_line = None
    if design is not None and output_format is OutputFormat.table:
        # Before anything is printed: a line that could not be made would leave half a result.
        offsets, noise = design
        spread = math.exp(float(offsets.max() - offsets.min()))
        where = (
            "placed like your largest curve, as noisy as your curves"
            if not planned
            else "as you gave it"
            if len(planned) == 3
            else "as you gave it, the rest from your curves"
        )
        lead = "'With discrepancy' is where the optimum lies; " if "N_disc_median" in frame else ""
        sweep_line = (
            f"{lead}'a new IsoFLOP curve finds' is the "
            f"minimum of a parabola through a new curve's {len(offsets)} runs, spread over "
            f"{spread:.0f}x in N with {noise:.2%} noise on the loss ({where}): the interval "
            f"to check such a sweep against."
        )
    emit(
        frame,
        output_format,
        f"Compute-optimal split of {result.law.name} (C = {k:g} N D, {level:.0%} intervals)",
        "C",
        law=result.law.name,
        diagnostics_ok=bool(result.ok),
        **({"plan_note": unchecked} if unchecked else {}),
        **({"sweep_note": caveat} if caveat else {}),
        warnings=sorted(shown),
    )
    if unchecked and output_format is OutputFormat.table:
        say(f"With discrepancy: {unchecked}.")
    if output_format is OutputFormat.table and "loss_pred_median" in frame:
        disc = (
            "; with discrepancy: allowing for its error beyond the runs"
            if ("loss_disc_median" in frame)
            else ""
        )
        say(
            f"Loss (law): the law's loss at the optimum{disc}; of one run: the loss one "
            f"compute-optimal run would reach, its noise included (as forecast's new run)."
        )
    if sweep_line is not None:
        say(sweep_line)
        say(str(caveat))


#: Runs placed this far off-centre (the mean of log(N / N_opt) over the runs, in e-folds)
#: shift the minimum a noisy curve finds towards the side with more runs.
OFF_CENTRE = 0.1


def sweep_caveat(frame: pd.DataFrame, offsets: np.ndarray) -> str:
    """What 'a new IsoFLOP curve finds' leaves out, and why its median is not the optimum's.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``Fit.compute_optimal``'s table, with ``prob_sweep_no_minimum`` (and, per group,
        the rows of every group: the largest share is said).
    offsets : numpy.ndarray
        ``log(N / N_opt)`` of the simulated curve's runs.

    Returns
    -------
    str
        One or two sentences.
    """
    import numpy as np

    shares = frame["prob_sweep_no_minimum"].to_numpy(dtype=float)
    worst = int(np.nanargmax(shares))
    budget = format_number(float(frame["C"].iloc[worst]), "flops")
    parts = frame.attrs.get("sweep_no_minimum", {})
    split = ""
    if parts and len(parts.get("opens_downward", [])) == len(frame):
        down, out = parts["opens_downward"][worst], parts["outside_runs"][worst]
        split = (
            f" ({down:.0%} whose parabola opens downward, {out:.0%} whose vertex lies outside "
            f"the runs)"
        )
    text = (
        f"At C = {budget}, {shares[worst]:.0%} of the simulated curves find no minimum within "
        f"their runs{split}; they are left out of 'a new IsoFLOP curve finds', as you would "
        f"rerun such a sweep wider."
    )
    if abs(float(np.mean(offsets))) > OFF_CENTRE:
        low, high = math.exp(float(offsets.min())), math.exp(float(offsets.max()))
        side = "larger" if np.mean(offsets) > 0 else "smaller"
        text += (
            f" Its median is not the optimum's: the curve's runs lie from {low:.2g}x to "
            f"{high:.2g}x the optimum, and a parabola through noisy runs mostly on one side "
            f"puts its vertex towards that side ({side} N), the more so beyond the runs, "
            f"where the curve flattens and the noise does not. A sweep centred on the "
            f"optimum (--sweep runs=9 --sweep spread=4) has almost none."
        )
    return text


def target_command(
    fit_file: FitOrComparisonArgument,
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
    at: AtOption = None,
    weights: WeightsOption = None,
) -> None:
    """Compute needed to reach a target loss, and the probability of reaching it.

    With --compute, also the probability of reaching the target with each budget
    (split compute-optimally); with --prob, the budget that gives one run that chance;
    with --at, the probability at a given model size and tokens (e.g. --at
    N=70B,D=1.4T), for a run whose size is already decided.

    A target at or below the law's floor has no budget: its compute, N and
    D are ∞ and a warning says so. In JSON, ∞ is null, as a value not
    computed is; each row's "infinite" lists its columns that are ∞ (null
    there means unreachable, elsewhere not computed).

    A budget past the peak of one run's chance (more compute lowers it, as
    the discrepancy's spread grows beyond the runs), or far beyond the
    distance the backtests checked, gets a warning, and in JSON its
    probability row "past_peak" or "beyond_backtests" true.

    Given a comparison's folder, every answer is under its laws averaged
    by the weights (each law's posterior with its own floor and split).

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit (a law in N and D), or of a comparison's folder.
    loss : float
        Target loss.
    compute : list of float, optional
        Budgets at which to give the probability of meeting the target.
    level, fixed, output_format, group
        As in ``optimal``.
    prob : list of float, optional
        Probabilities for ``Fit.budget_for(..., prob=...)``.
    at : list of str, optional
        Points, each ``NAME=VALUE,NAME=VALUE`` (as ``forecast --at``), for
        ``Fit.prob_below(loss, N=..., D=...)``.
    weights : str, optional
        A comparison's averaging weights, as in ``optimal``.
    """
    level = check_level(level, "--level")
    probs = [check_level(p, "--prob") for p in prob or []]
    others = fixed_inputs(fixed)
    points = parse_points(at) if at else None
    result = plan_source(fit_file, weights)  # a failed fit's plan warns from the library
    inputs = _source_inputs(result)
    if points is not None:
        check_point_names(points, inputs, "--at")
    # The budget needs the law's other inputs (U...) fixed: --fixed, or the one value every
    # --at point gives; points that differ in them have no single budget to set beside.
    planned = dict(others or {})
    needed = [n for n in inputs if n not in ("N", "D", "C") and n not in planned]
    for name in needed:
        values = set(points[name]) if points is not None and name in points else set()
        if len(values) == 1:
            planned[name] = values.pop()
    unplanned = [n for n in needed if n not in planned]
    given_nowhere = [n for n in unplanned if points is None or n not in points]
    if given_nowhere and points is not None:
        from bayescale.errors import DataError

        name = given_nowhere[0]
        raise DataError(
            f"{_source_name(result)} also needs {', '.join(given_nowhere)}: give it in each "
            f"--at point (e.g. --at N=7e10,D=1.4e12,{name}=...) or once with --fixed {name}=..."
        )
    # Only the chances at the points were asked, and no one budget fits them all.
    skip_budget = bool(unplanned) and points is not None and not compute and not probs
    budget = None
    if skip_budget:
        echo_warning(
            f"no budget table: the --at points differ in {', '.join(unplanned)}; give one value "
            f"with --fixed {unplanned[0]}=... for the compute the target needs"
        )
    with warnings_as_lines() as shown:
        groups = group or None
        if not skip_budget:
            budget = result.budget_for(
                loss, level=level, fixed=planned or None, group=groups, prob=probs or None
            )
        chances = (
            result.prob_below(loss, C=compute, fixed=planned or None, group=groups)
            if compute
            else None
        )
        at_points = (
            _chances_at(result, loss, points, others, groups) if points is not None else None
        )
    if output_format is OutputFormat.json:
        print_json(
            {
                **_source_facts(result),
                "budget": plan_records(budget) if budget is not None else None,
                "probability": (plan_records(chances, flags=True) if chances is not None else None),
                "probability_at": (
                    plan_records(at_points, flags=True) if at_points is not None else None
                ),
                "warnings": sorted(shown),
            }
        )
        return
    if output_format is OutputFormat.csv:
        # One table: each budget's probability beside the compute the target needs.
        # With the rows' flags, as JSON has them (a CSV has no room for the warnings).
        given = [_with_flags(t) for t in (chances, at_points) if t is not None]
        if not given:
            print_csv(budget)
            return
        import pandas as pd

        # Budgets and points in one table: a point's C is its own, a budget's N and D blank.
        both = pd.concat(given, ignore_index=True) if len(given) > 1 else given[0]
        if budget is None:
            print_csv(both)
            return
        keys = [k for k in ("group", "target_loss") if k in budget.columns]
        print_csv(both.merge(budget, on=keys, how="left", suffixes=("", "_needed")))
        return
    held = {n: v for n, v in planned.items() if n not in ("N", "D", "C")}
    with_held = (
        " with " + ", ".join(f"{n} = {format_number(v, 'short')}" for n, v in held.items())
        if held
        else ""
    )
    averaged = "" if _is_fit(result) else f" under {_source_name(result)}"
    title = (
        f"Compute at which the law (the average run) reaches loss {loss:g}{with_held}{averaged} "
        f"({level:.0%} credible intervals); prob run below: the chance one run with that "
        f"budget does"
    )
    if budget is not None:
        emit(budget, output_format, title, "target_loss")
    if chances is not None:
        emit(with_caveats(chances), output_format, f"Probability of reaching loss {loss:g}", "C")
    if at_points is not None:
        emit(
            with_caveats(at_points),
            output_format,
            f"Probability of reaching loss {loss:g} at the given points",
            "C",
        )


def _chances_at(
    result: Any,
    loss: float,
    points: dict[str, list[float]],
    fixed: dict[str, float] | None,
    groups: list[str] | None,
) -> pd.DataFrame:
    """``Fit.prob_below`` at ``--at`` points: their N, D, C as given, other inputs fixed.

    A law's other inputs (U...) may differ by point; ``prob_below`` fixes them for all its
    points, so such points are asked one by one and stacked with their caveats.
    """
    from bayescale.planning import stack_tables

    where = [n for n in ("N", "D", "C") if n in points]
    extra = [n for n in points if n not in where]
    count = len(points[where[0] if where else extra[0]])
    if all(len(set(points[n])) == 1 for n in extra):
        batches = [list(range(count))]
    else:
        batches = [[i] for i in range(count)]
    tables = []
    for rows in batches:
        kwargs = {n: [points[n][i] for i in rows] for n in where}
        held = {**(fixed or {}), **{n: points[n][rows[0]] for n in extra}}
        tables.append(result.prob_below(loss, **kwargs, fixed=held or None, group=groups))
    table = tables[0] if len(tables) == 1 else stack_tables(tables)
    if "C" not in table.columns and {"N", "D"} <= set(table.columns):
        # The compute of each point, as a budget's row gives it: the planner's unit.
        at = list(table.columns).index("D") + 1
        table.insert(at, "C", _source_compute_factor(result) * table["N"] * table["D"])
    return table


def _is_fit(source: Fit | Average) -> bool:
    """One law's fit, not an average (imported here: the CLI starts without the library)."""
    from bayescale.comparison import Average

    return not isinstance(source, Average)


def plan_source(path: str, weights: str | None) -> Fit | Average:
    """What ``optimal`` and ``target`` plan from: a saved fit, or a comparison's average.

    Parameters
    ----------
    path : str
        The FIT argument: a fit file or a comparison's folder.
    weights : str or None
        ``--weights``, for a comparison's folder only.

    Returns
    -------
    Fit or Average
        The fit, or the comparison's laws averaged by the weights.

    Raises
    ------
    typer.BadParameter
        For ``--weights`` with one fit, or weights the comparison cannot take.
    """
    if is_folder(path):
        return read_average(path, weights_option(weights))
    if weights is not None:
        raise typer.BadParameter(
            f"--weights weighs the laws of a comparison folder; '{path}' is one fit",
            param_hint="'--weights'",
        )
    return read_fit(path)


def _source_inputs(source: Fit | Average) -> list[str]:
    """The law's inputs, or every input of the averaged laws with weight."""
    if _is_fit(source):
        return list(source.law.inputs)
    return list(dict.fromkeys(i for f in source._active().values() for i in f.law.inputs))


def _source_name(source: Fit | Average) -> str:
    """``law 'chinchilla'``, or the averaged laws with their weights."""
    if _is_fit(source):
        return f"law {source.law.name!r}"
    return f"the averaged laws ({weight_shares(source)})"


def _source_compute_factor(source: Fit | Average) -> float:
    """``k`` in ``C = k N D`` of the fit's runs (the averaged laws with weight share one)."""
    if _is_fit(source):
        return float(source.runs.compute_factor)
    return float(next(iter(source._active().values())).runs.compute_factor)


def _source_facts(source: Fit | Average) -> dict[str, Any]:
    """The JSON keys naming what a plan is of: the law, or the averaged laws' weights (as
    ``forecast`` names them), and whether the fits with weight passed their diagnostics
    (an average's verdict, as its tables': laws of negligible weight do not count)."""
    if _is_fit(source):
        return {"law": source.law.name, "diagnostics_ok": bool(source.ok)}
    failed = source.failed_laws()
    return {
        "weights": {str(n): float(w) for n, w in source.weights.items()},
        "weights_method": source.method,
        "weights_reason": source.reason,
        "diagnostics_ok": not failed,
        "failed_laws": failed,
    }


def _per_law_medians(frame: pd.DataFrame) -> str:
    """Each law's own median N per row of an averaged plan, rows named by budget (and
    group): where the laws disagree."""
    # "(at 1e22 FLOPs, group new)": a bare "(new: 1e22)" read as neither.
    labels = [
        f"at {format_number(float(row['C']), 'flops')} FLOPs"
        + (f", group {row['group']}" if "group" in frame.columns else "")
        for _, row in frame.iterrows()
    ]
    return "; ".join(
        f"{name} "
        + ", ".join(
            f"{format_number(n, size_kind('N'))} ({label})"
            for n, label in zip(medians, labels, strict=True)
        )
        for name, medians in frame.attrs.get("per_law_N_median", {}).items()
    )


def _flagged_rows(frame: pd.DataFrame, key: str) -> set[int]:
    """Positions of the rows a table's ``attrs[key]`` flags (past the peak, ...)."""
    return {int(entry["row"]) for entry in frame.attrs.get(key, [])}


def with_caveats(frame: pd.DataFrame) -> pd.DataFrame:
    """The probability table with a ``caveat`` column when any row is flagged.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``Fit.prob_below``'s table.

    Returns
    -------
    pandas.DataFrame
        The same rows; ``caveat`` says "past the peak" and/or "far beyond the backtests".
    """
    past, far = _flagged_rows(frame, "past_peak"), _flagged_rows(frame, "beyond_backtests")
    if not past and not far:
        return frame
    notes = [
        "; ".join(
            text
            for text, flagged in (
                ("past the peak", i in past),
                ("far beyond the backtests", i in far),
            )
            if flagged
        )
        for i in range(len(frame))
    ]
    return frame.assign(caveat=notes)


def _with_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """The probability table with ``past_peak`` and ``beyond_backtests`` (bool) columns."""
    past, far = _flagged_rows(frame, "past_peak"), _flagged_rows(frame, "beyond_backtests")
    flagged = frame.assign(
        past_peak=[i in past for i in range(len(frame))],
        beyond_backtests=[i in far for i in range(len(frame))],
    )
    flagged.attrs = frame.attrs
    return flagged


def plan_records(frame: pd.DataFrame, flags: bool = False) -> list[dict[str, Any]]:
    """Rows as JSON (:func:`records`), saying which nulls are ∞.

    Parameters
    ----------
    frame : pandas.DataFrame
        A plan's table.
    flags : bool, default False
        Add ``past_peak`` and ``beyond_backtests`` (bool) from the table's attrs.

    Returns
    -------
    list of dict
        Each row with ``infinite``: the names of its columns that are ∞ (null in JSON, as
        a value not computed is).
    """
    import numpy as np

    rows = records(frame)
    past, far = _flagged_rows(frame, "past_peak"), _flagged_rows(frame, "beyond_backtests")
    for i, (row, (_, values)) in enumerate(zip(rows, frame.iterrows(), strict=True)):
        row["infinite"] = [
            str(column)
            for column, value in values.items()
            if isinstance(value, float | int | np.floating | np.integer)
            and not isinstance(value, bool | np.bool_)
            and np.isinf(value)
        ]
        if flags:
            row["past_peak"] = i in past
            row["beyond_backtests"] = i in far
    return rows
