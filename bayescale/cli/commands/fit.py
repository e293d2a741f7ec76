"""``bayescale fit`` (sample a posterior and save it) and ``bayescale forecast`` (use it).

Both check every input before PyMC is imported (importing it takes seconds): ``fit`` parses
its options, reads and validates the runs and checks ``--out`` first, and only then loads
the law, which imports PyMC.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bayescale.settings import check_levels, check_seed

from .._fits import average_title, read_average, read_fit, weights_option
from .._guard import (
    check_not_inputs,
    check_outputs,
    check_suffix,
    command_line,
    echo_warning,
    one_line,
    warnings_as_lines,
)
from .._options import (
    SAMPLER_DEFAULTS,
    AtOption,
    ChainsOption,
    ComputeFactorOption,
    DataArgument,
    Discrepancy,
    DiscrepancyOption,
    DrawsOption,
    FitOrComparisonArgument,
    ForceOption,
    FormatOption,
    LevelsOption,
    OutputFormat,
    SeedOption,
    TargetAcceptOption,
    TuneOption,
    WeightsOption,
    XOption,
    YOption,
    check_point_names,
    out_option,
    parse_mapping,
    parse_points,
    sampler_settings,
)
from .._render import (
    console,
    forecast_table,
    formula_line,
    print_csv,
    print_discrepancy,
    print_json,
    print_verdict,
    records,
    say,
    summary_table,
)

if TYPE_CHECKING:
    from bayescale.data import Runs
    from bayescale.laws import Law

__all__ = ["fit_command", "forecast_command"]


def _describe(runs: Runs, law: Law, pooling: str | dict[str, str] | None = None) -> None:
    """Say what is fitted to what, before the sampler's progress bar."""
    columns = ", ".join(
        f"{name} = {column.removeprefix('derived: ')}"
        if column.startswith("derived: ")
        else f"{name} <- {column!r}"
        for name, column in runs.columns.items()
        if name in law.inputs
    )
    say(f"Fitting {law.name}: {formula_line(law.formula.text)}")
    say(f"to {len(runs)} runs from {runs.source} ({columns}; y <- {runs.y_name!r})")
    # A formula's parameters and the priors it took by default: a name meant as an input but
    # fitted as a constant shows here, before minutes of sampling.
    defaults = law.describe_defaults()
    if defaults:
        say(defaults.replace("priors= or a law file", "a law file (--law FILE.toml)"))
    if runs.group is not None:
        say(
            f"in {len(runs.group_names)} group{'s' if len(runs.group_names) != 1 else ''} by "
            f"{', '.join(runs.group_by)}: "
            f"{', '.join(runs.group_names)}"
        )
        from bayescale.hierarchy import Pooling

        # The pooling in effect: the law file's [pooling] table, with --pooling over it.
        say(f"pooling: {Pooling.of(law, pooling).describe()}")


def _parse_pooling(text: str | None, grouped: bool) -> str | dict[str, str] | None:
    """``--pooling``: a shorthand, or ``NAME=KIND`` items separated by commas."""
    from bayescale.errors import DataError

    if text is None:
        return None
    if not grouped:
        raise DataError("--pooling needs --group COLUMN: pooling is across groups of runs")
    text = text.strip()
    if "=" not in text:
        return text
    out: dict[str, str] = {}
    for item in text.split(","):
        name, sep, kind = item.partition("=")
        name, kind = name.strip(), kind.strip()
        if not sep or not name or not kind:
            raise DataError(
                f"--pooling item {item!r} is not NAME=KIND (e.g. alpha=shared,E=separate)"
            )
        if name in out:
            raise DataError(
                f"--pooling gives {name} twice ({name}={out[name]} and {name}={kind}); one kind "
                f"per parameter"
            )
        out[name] = kind
    return out


def _check_mapped_inputs(mapping: dict[str, str] | None, law: Law, runs: Runs) -> None:
    """Refuse an --x input that the law does not take, before it is fitted without it.

    A name mapped but not taken (``--x Q=N`` for a law in N and D) leaves the law's own
    inputs unmapped, and the library's message would only say that they are missing.
    """
    from bayescale.errors import DataError

    taken = set(law.inputs)
    # N, D, C: two give the third, so a law in N and D takes C too (from C = k N D).
    if taken & {"N", "D", "C"}:
        taken |= {"N", "D", "C"}
    stray = [name for name in mapping or {} if name not in taken]
    if not stray:
        return
    name = stray[0]
    missing = [n for n in law.inputs if n not in runs.inputs]
    remedy = (
        f"; map its inputs instead, e.g. --x {missing[0]}={mapping[name]}"  # type: ignore[index]
        if missing
        else "; leave it out"
    )
    raise DataError(
        f"--x {name}={mapping[name]}: {name} is not an input of law {law.name!r} (its "  # type: ignore[index]
        f"inputs: {', '.join(law.inputs)}){remedy}"
    )


def fit_command(
    data: DataArgument,
    law: Annotated[
        str,
        typer.Option(
            "--law",
            "-l",
            metavar="LAW",
            help="Catalog law (see 'laws'), .toml file, or a formula such as "
            "'E + A / N**alpha' (default priors from the data's scale).",
        ),
    ],
    out: Annotated[Path, out_option("FIT.nc", "File to save the fit to.")],
    x: XOption = None,
    y: YOption = "loss",
    compute_factor: ComputeFactorOption = 6.0,
    draws: DrawsOption = SAMPLER_DEFAULTS.draws,
    tune: TuneOption = SAMPLER_DEFAULTS.tune,
    chains: ChainsOption = SAMPLER_DEFAULTS.chains,
    target_accept: TargetAcceptOption = SAMPLER_DEFAULTS.target_accept,
    seed: SeedOption = SAMPLER_DEFAULTS.seed,
    strict: Annotated[
        bool, typer.Option(help="Exit with code 3 and write nothing if diagnostics fail.")
    ] = False,
    discrepancy: DiscrepancyOption = Discrepancy.auto,
    force: ForceOption = False,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            metavar="COLUMN",
            help="Column naming each run's family (dataset, tokenizer ...): one hierarchical "
            "fit with per-group parameters (repeatable: groups from several columns).",
        ),
    ] = None,
    pooling: Annotated[
        str | None,
        typer.Option(
            "--pooling",
            metavar="KIND",
            help="With --group: 'partial' (default: parameters pooled across groups), 'none' "
            "(each group its own law), 'complete' (one law), or per parameter, NAME=KIND "
            "items separated by commas (kinds: shared, pooled, separate), e.g. alpha=shared.",
        ),
    ] = None,
) -> None:
    """Fit a law to a table of runs, print the posterior summary, and save it to --out.

    \f
    Parameters
    ----------
    data : str
        Path of the table of runs.
    law : str
        Catalog name or ``.toml`` path.
    out : Path
        Destination of the fit (NetCDF); checked before sampling.
    x : list of str, optional
        ``NAME=COLUMN`` mappings.
    y : str, default "loss"
        Column of the response.
    compute_factor : float, default 6.0
        ``k`` in ``C = k N D``.
    draws, tune, chains : int
        Draws and tuning steps per chain, and chains.
    target_accept : float, default 0.95
        Step-size adaptation target.
    seed : int, default 0
        Seed of the sampler and of forecasts.
    strict : bool, default False
        Treat failed diagnostics as an error (exit 3, nothing written).
    discrepancy : Discrepancy, default "auto"
        Model discrepancy (see :mod:`bayescale.discrepancy`).
    force : bool, default False
        Overwrite an existing `out`.
    group : list of str, optional
        Group column(s) (see :mod:`bayescale.hierarchy`).
    pooling : str, optional
        Pooling shorthand or ``NAME=KIND`` list.
    """
    mapping = parse_mapping(x)
    sampler = sampler_settings(draws, tune, chains, target_accept, seed)
    pooling_spec = _parse_pooling(pooling, bool(group))
    from bayescale.data import load_runs

    check_suffix(out, [".nc"], "a fit is saved as NetCDF")
    check_not_inputs([out], [("the data DATA", data)])
    # The data's warnings (a duplicated row) wait until the law is known to fit it: an
    # input error is then said alone.
    with warnings_as_lines(quiet_on_error=True):
        runs = load_runs(data, x=mapping, y=y, compute_factor=compute_factor, group=group or None)
        check_outputs([out], force)

        # PyMC is imported from here on: every input has been checked that can be without it.
        from bayescale.laws import get_law

        chosen = get_law(law, runs=runs)
        _check_mapped_inputs(mapping, chosen, runs)
        # fit() checks this too, but only after the header below has been printed.
        runs.require_law(chosen)
        from bayescale.fitting import _pooling_of

        # The pooling's names and kinds, and groups that fit() refuses (one group only, a
        # group named 'new'), before the header says what is fitted.
        _pooling_of(chosen, runs, pooling_spec)
    _describe(runs, chosen, pooling_spec)

    from bayescale.fitting import fit

    with warnings_as_lines():
        # Said below, one line per note with what to do, after the posterior's table.
        warnings.filterwarnings("ignore", message="prior checks of law")
        result = fit(
            runs,
            chosen,
            sampler=sampler,
            strict=strict,
            command=command_line(),
            discrepancy=discrepancy.value,
            pooling=pooling_spec,
        )
    console().print(summary_table(result, f"Posterior of {chosen.name}"))
    # Before the verdict: a prior-data conflict found here is named there as the likely cause
    # of chains that disagree.
    notes = result.prior_checks()
    print_verdict(result)
    for message in notes["message"]:
        say(f"Prior check: {message}.", style="yellow")
    print_discrepancy(result)
    saved = result.save(out, overwrite=force)
    say(f"Saved the fit to {saved}")
    if result.diagnostics.multimodal and result.diagnostics.prior_notes:
        say(
            "The chains disagree and a prior conflicts with the runs (see the prior checks "
            "above): fix that prior and refit before forecasting each group with --mode K.",
            style="red",
        )
    elif result.diagnostics.multimodal:
        say(
            f"The chains sampled {len(result.modes)} separate modes; forecast each with "
            f"'bayescale forecast {saved} --mode K --at ...' (K = 0 is the most probable).",
            style="red",
        )
    elif not result.ok:
        retried = len(result.diagnostics.attempts) > 1
        say(
            "Forecasts from this fit will carry a warning; "
            + (
                "the sampler already retried with longer warm-up: reparameterise the law, "
                "tighten its priors or add runs."
                if retried
                else "refit with more --tune/--draws or a higher --target-accept."
            ),
            style="red",
        )


def forecast_command(
    fit_file: FitOrComparisonArgument,
    at: AtOption,
    level: LevelsOption = None,
    output_format: FormatOption = OutputFormat.table,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of the new-run noise (default: the fit's seed)."),
    ] = None,
    mode: Annotated[
        int | None,
        typer.Option(
            "--mode",
            min=0,
            help="Forecast from one mode's chains, when the fit's chains sampled separate "
            "modes (0 = the most probable).",
        ),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            metavar="NAME",
            help="For a fit with groups: the group to forecast, 'new' for a group not yet "
            "observed (repeatable; default every observed group).",
        ),
    ] = None,
    weights: WeightsOption = None,
) -> None:
    """Forecast the loss at new scales from a saved fit, with credible and predictive intervals.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit, or of a comparison's folder (its averaged forecast).
    at : list of str
        Points, each ``NAME=VALUE,NAME=VALUE``.
    level : list of float, optional
        Credible levels; default 0.9.
    output_format : OutputFormat, default table
        ``table`` (rich), ``csv`` or ``json`` (machine-readable, on stdout).
    seed : int, optional
        Seed of the new-run noise; default the fit's.
    mode : int, optional
        Forecast from the chains of this mode only (see ``Fit.modes``).
    group : list of str, optional
        Groups to forecast (see ``Fit.group``).
    weights : str, optional
        A comparison's averaging weights: a method's name, or ``NAME=W,...``.
    """
    points = parse_points(at or [])
    levels = check_levels(level or [0.9], "--level")
    if seed is not None:
        check_seed(seed, "--seed")
    if Path(fit_file).is_dir():
        chosen = weights_option(weights)
        _forecast_average(fit_file, points, levels, output_format, seed, mode, group, chosen)
        return
    if weights is not None:
        raise typer.BadParameter(
            f"--weights weighs the laws of a comparison folder; '{fit_file}' is one fit",
            param_hint="'--weights'",
        )
    result = read_fit(fit_file)
    check_point_names(points, list(result.law.inputs), "--at")
    if mode is not None:
        result = result.mode(mode)
    # Every warning of the library is shown (a new group's prior, ...); a failed fit's is
    # also recorded in attrs, and shown once.
    with warnings_as_lines() as shown:
        frame = result.forecast(points, level=levels, seed=seed, group=group or None)
    warning = frame.attrs.get("warning")
    if warning and one_line(warning) not in shown:
        echo_warning(warning)
        shown.add(one_line(warning))

    if output_format is OutputFormat.csv:
        print_csv(frame)
    elif output_format is OutputFormat.json:
        print_json(
            {
                "law": result.law.name,
                "fit": fit_file,
                "diagnostics_ok": bool(result.ok),
                "warning": warning or None,
                "warnings": sorted(shown),
                "forecast": records(frame),
            }
        )
    else:
        console().print(forecast_table(frame, f"Forecast of {result.law.name} ({fit_file})"))


def _forecast_average(
    folder: str,
    points: dict[str, list[float]],
    levels: list[float],
    output_format: OutputFormat,
    seed: int | None,
    mode: int | None,
    group: list[str] | None,
    chosen: str | dict[str, float] = "auto",
) -> None:
    """``bayescale forecast COMPARE_FOLDER``: the averaged forecast of a saved comparison."""
    for given, option in ((seed, "--seed"), (mode, "--mode")):
        if given is not None:
            raise typer.BadParameter(
                f"{option} applies to one fit; '{folder}' is a comparison: forecast one of its "
                f"laws ('{Path(folder) / 'fits' / 'NAME.nc'}') to use it",
                param_hint=f"'{option}'",
            )
    with warnings_as_lines() as shown:
        averaged = read_average(folder, chosen)
        weighted = [name for name, w in averaged.weights.items() if w > 0]
        inputs = sorted({n for name in weighted for n in averaged.fits[name].law.inputs})
        check_point_names(points, inputs, "--at")
        frame = averaged.forecast(points, level=levels, group=group or None)
    weights = {str(name): float(w) for name, w in averaged.weights.items()}
    if output_format is OutputFormat.csv:
        # Two last columns say that this is an average, and of what: the CSV of one fit's
        # forecast keeps all its columns, in their order, before them.
        shares = " ".join(f"{name}:{w:.6g}" for name, w in weights.items() if w > 0)
        print_csv(frame.assign(weights_method=averaged.method, weights=shares))
    elif output_format is OutputFormat.json:
        print_json(
            {
                "comparison": folder,
                "weights": weights,
                "weights_method": averaged.method,
                "weights_reason": averaged.reason,
                "warning": frame.attrs.get("warning"),
                "warnings": sorted(shown),
                "forecast": records(frame),
            }
        )
    else:
        title = f"Averaged forecast ({average_title(averaged, folder)})"
        console().print(forecast_table(frame, title))
        say(f"Weights: {averaged.reason}.")
