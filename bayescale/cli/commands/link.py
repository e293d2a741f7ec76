"""``bayescale link``: a downstream metric's forecast through a saved loss fit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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


def link_command(
    fit_file: FitArgument,
    data: DataArgument,
    loss: Annotated[
        str, typer.Option("--loss", metavar="COLUMN", help="Column of the loss the fit models.")
    ],
    metric: Annotated[
        str, typer.Option("--metric", metavar="COLUMN", help="Column of the downstream metric.")
    ],
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
) -> None:
    """Fit a link from loss to a metric on DATA and chain it with a saved loss fit.

    \f
    Parameters
    ----------
    fit_file : str
        The loss law's saved fit.
    data : str
        Table of runs with the loss and the metric columns.
    loss, metric : str
        Their columns.
    at : list of str
        Target points of the loss law's inputs.
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
    """
    import pandas as pd

    from bayescale.data import read_table
    from bayescale.errors import DataError
    from bayescale.settings import check_level

    level = check_level(level, "--level")
    if not at:
        raise DataError("give at least one target with --at, e.g. --at N=7e10,D=1.4e12")
    points = pd.DataFrame(parse_points(at))
    if save is not None:
        check_suffix(save, [".nc"], "a link fit is saved as NetCDF", "--save")
        check_outputs([save], force, "--save")
    sampler = sampler_settings(draws, tune, chains, SAMPLER_DEFAULTS.target_accept, seed)
    table = read_table(data)[0]

    from bayescale import downstream
    from bayescale.fitting import load_fit

    loss_fit = load_fit(fit_file)
    check_point_names(points, list(loss_fit.law.inputs), "--at")
    with warnings_as_lines():
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
        frame = downstream.chain(loss_fit, link_fit, points, level=level)
    if not link_fit.ok:
        echo_warning(f"the link fit failed its diagnostics: {link_fit.diagnostics.verdict()}")
    if save is not None:
        # On stderr: stdout holds the table, which --format csv/json keeps machine-readable.
        typer.echo(f"Saved the link fit to {link_fit.save(save, overwrite=force)}", err=True)
    emit(
        frame,
        output_format,
        f"Error on {metric} through {loss_fit.law.name} and the {link} link ({level:.0%}): "
        "'error' the law's, 'pred' one model's",
        "N" if "N" in frame else frame.columns[0],
        law=loss_fit.law.name,
        link=link,
    )
