"""``bayescale link``: a downstream metric's forecast through a saved loss fit."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Annotated

import typer

from .._fits import read_fit
from .._guard import check_outputs, check_suffix, command_line, echo_warning, warnings_as_lines
from .._options import (
    SAMPLER_DEFAULTS,
    AtOption,
    ChainsOption,
    DataArgument,
    DrawsOption,
    FitArgument,
    ForceOption,
    FormatOption,
    OutputFormat,
    SeedOption,
    TuneOption,
    check_point_names,
    parse_points,
    sampler_settings,
)
from .._render import emit

__all__ = ["link_command"]


def _check_link(link: str) -> None:
    """Refuse a --link that is neither a catalog link, a law file nor a formula in L.

    The library would look such a name up among the laws of the loss and list them all,
    none of which is a link. The catalog is the library's own (``downstream.LINKS``).
    """
    from bayescale.downstream import LINKS

    if link in LINKS or link.strip().lower().endswith(".toml") or re.search(r"\bL\b", link):
        return
    from bayescale.errors import DataError, closest

    match = closest(link, list(LINKS))
    hint = f" (did you mean {match}?)" if match is not None else ""
    raise DataError(
        f"--link {link!r} is not a link{hint}: give {' or '.join(LINKS)}, a .toml link file, "
        f"or a formula in the loss L, e.g. 'eps - k * exp(gamma * (3.5 - L))'"
    )


def _in_data_file(err: Exception, data: str, lines: object) -> str:
    """A data error of the link's table, with the file and the line of the row it names.

    The link's table is read here and handed to the library as a DataFrame, whose messages
    say only "row 4"; the sweep's rewriter of rows into lines says where it is.
    """
    from bayescale.sweeps import _rows_in_file

    text = str(err)
    if "column" not in text and not re.search(r"\brow \d+", text):
        return text.replace("<DataFrame>: ", "").replace("<DataFrame>", data)
    text = _rows_in_file(text, data, lines)  # type: ignore[arg-type]
    return text if text.startswith(f"{data}:") else f"{data}: {text}"


def link_command(
    fit_file: FitArgument,
    data: DataArgument,
    metric: Annotated[
        str, typer.Option("--metric", metavar="COLUMN", help="Column of the downstream metric.")
    ],
    loss: Annotated[
        str | None,
        typer.Option(
            "--loss",
            metavar="COLUMN",
            help="Column of the loss the fit models (default: the fit's own loss column).",
        ),
    ] = None,
    at: AtOption = None,
    accuracy: Annotated[
        bool, typer.Option("--accuracy", help="The metric is an accuracy (default: an error).")
    ] = False,
    chance: Annotated[
        float | None,
        typer.Option("--chance", help="The task's chance accuracy as a fraction, e.g. 0.25."),
    ] = None,
    link: Annotated[
        str,
        typer.Option(
            "--link", metavar="LINK", help="'exponential' (default), 'sigmoid', or a formula in L."
        ),
    ] = "exponential",
    level: Annotated[float, typer.Option("--level", help="Interval level.")] = 0.9,
    draws: DrawsOption = SAMPLER_DEFAULTS.draws,
    tune: TuneOption = SAMPLER_DEFAULTS.tune,
    chains: ChainsOption = SAMPLER_DEFAULTS.chains,
    seed: SeedOption = SAMPLER_DEFAULTS.seed,
    output_format: FormatOption = OutputFormat.table,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save",
            metavar="LINK.nc",
            help="Also save the link fit, e.g. for 'bayescale report --link LINK.nc'.",
        ),
    ] = None,
    force: ForceOption = False,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            metavar="NAME",
            help="For a loss fit with groups: the group whose loss to chain ('new' for a "
            "group not yet observed).",
        ),
    ] = None,
) -> None:
    """Fit a link from loss to a metric on DATA and chain it with a saved loss fit.

    Give --at for the metric's forecast at new scales; with --save alone, the link is
    fitted and saved (e.g. for 'bayescale report --link').

    \f
    Parameters
    ----------
    fit_file : str
        The loss law's saved fit.
    data : str
        Table of runs with the loss and the metric columns.
    loss : str, optional
        The loss column; default the loss fit's own response column. Another column of
        DATA than the one the fit models is refused when DATA has that one too.
    metric : str
        The metric's column.
    at : list of str
        Target points of the loss law's inputs; optional with ``--save``.
    accuracy : bool, default False
        The metric holds accuracies (the forecast is of the error, 1 - accuracy).
    chance : float, optional
        Chance accuracy of the task.
    link : str, default "exponential"
        The link law.
    level : float, default 0.9
        Interval level.
    draws, tune, chains, seed
        Sampler settings of the link fit.
    output_format : OutputFormat, default table
        ``table``, ``csv`` or ``json``.
    save : Path, optional
        Also save the link fit there; it records the metric's name and the chance accuracy
        (``info["metric"]``, ``info["chance"]``), which the report shows.
    force : bool, default False
        Overwrite an existing ``--save`` file.
    group : str, optional
        For a loss fit with groups: the group to chain (see ``Fit.group``).
    """
    import pandas as pd

    from bayescale.data import _read
    from bayescale.errors import DataError
    from bayescale.forecast import forecast_points
    from bayescale.settings import check_level

    level = check_level(level, "--level")
    if not at and save is None:
        raise DataError(
            "give at least one target with --at, e.g. --at N=7e10,D=1.4e12 (or --save LINK.nc "
            "to fit and save the link only)"
        )
    points = pd.DataFrame(parse_points(at)) if at else None
    _check_link(link)
    if save is not None:
        check_suffix(save, [".nc"], "a link fit is saved as NetCDF", "--save")
        inputs = [("the loss fit FIT.nc", fit_file), ("the data DATA", data)]
        check_outputs([save], force, "--save", inputs=inputs)
    sampler = sampler_settings(draws, tune, chains, SAMPLER_DEFAULTS.target_accept, seed)
    table, _, _, lines = _read(data)

    from bayescale import downstream

    loss_fit = read_fit(fit_file, use="link")
    if points is not None:
        check_point_names(points, list(loss_fit.law.inputs), "--at")
    modelled = loss_fit.runs.y_name
    if loss is None:
        if modelled not in table.columns:
            raise DataError(
                f"{data} has no column {modelled!r}, the loss {fit_file} models: name the "
                f"same loss's column with --loss COLUMN"
            )
        loss = modelled
    elif loss != modelled and modelled in table.columns:
        # Both columns are in the table: a link on another loss than the fit's gives wrong
        # numbers without any sign of it.
        raise DataError(
            f"--loss {loss} is not the loss {fit_file} models ({modelled!r}, also a column of "
            f"{data}): the link must map the same loss to the metric; use --loss {modelled} "
            f"(or leave --loss out)"
        )
    # All that the link's fit and its chain need is checked before the link is sampled:
    # the table (fit_link checks it again and says its warnings then), the group and the
    # targets, known from the loss fit (a missing input, D of N and D, or a group it lacks).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said once, by fit_link and the chain
        try:
            downstream._link_runs(table, loss, metric, chance, accuracy)
        except DataError as err:
            raise DataError(_in_data_file(err, data, lines)) from None
        chained = loss_fit.group(group) if group is not None else loss_fit
    if points is not None:
        forecast_points(chained.law, points, chained.runs.compute_factor)
    with warnings_as_lines():
        try:
            link_fit = downstream.fit_link(
                table,
                loss,
                metric,
                link,
                chance=chance,
                accuracy=accuracy,
                sampler=sampler,
                command=command_line(),
            )
        except DataError as err:
            raise DataError(_in_data_file(err, data, lines)) from None
        if points is not None:
            frame = downstream.chain(loss_fit, link_fit, points, level=level, group=group)
        else:
            frame = None
            downstream.check_link(loss_fit, link_fit)  # what chain would say of the two
    if not link_fit.ok:
        echo_warning(f"the link fit failed its diagnostics: {link_fit.diagnostics.verdict()}")
    if save is not None:
        # On stderr: stdout holds the table, which --format csv/json keeps machine-readable.
        typer.echo(f"Saved the link fit to {link_fit.save(save, overwrite=force)}", err=True)
    if frame is None:
        return
    extra = {"group": group} if group is not None else {}
    if group is not None:
        # A group's tables are titled with it (emit splits by the column), and its rows say it.
        frame.insert(0, "group", group)
    # An accuracy was given, but every column is of the error: say so beside the numbers.
    of = f" (error = 1 - accuracy of {metric})" if accuracy else ""
    emit(
        frame,
        output_format,
        f"Error on {metric}{of} through {loss_fit.law.name} and the {link} link "
        f"({level:.0%}): 'error' the law's, 'pred' one model's",
        "N" if "N" in frame else frame.columns[1 if group is not None else 0],
        law=loss_fit.law.name,
        link=link,
        metric=metric,
        error_of="1 - accuracy" if accuracy else "the metric",
        **extra,
    )
