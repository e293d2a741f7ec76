"""``bayescale report``: the due-diligence report of a fit, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bayescale.settings import check_level

from .._guard import check_outputs, command_line, echo_warning, warnings_as_lines
from .._options import (
    AtOption,
    ComputeOption,
    FitArgument,
    ForceOption,
    LevelOption,
    out_option,
    point_list,
)
from .._render import print_verdict, say

__all__ = ["report_command"]


def report_command(
    fit_file: FitArgument,
    out: Annotated[Path, out_option("REPORT.html", "The HTML file to write.")],
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare", metavar="DIR", help="Folder written by 'bayescale compare --out'."
        ),
    ] = None,
    at: AtOption = None,
    target_loss: Annotated[
        float | None,
        typer.Option(
            "--target-loss",
            help="Loss to reach: adds its probability and the compute it needs (laws of N, D).",
        ),
    ] = None,
    compute: ComputeOption = None,
    level: LevelOption = 0.9,
    pdf: Annotated[
        Path | None,
        typer.Option(
            "--pdf", metavar="REPORT.pdf", help="Also print the report to PDF (needs WeasyPrint)."
        ),
    ] = None,
    force: ForceOption = False,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            metavar="NAME",
            help="For a fit with groups: the group the forecast and plan are about ('new': "
            "a group not yet observed; default the group with the fewest runs).",
        ),
    ] = None,
) -> None:
    """Write the due-diligence report of a fit: one self-contained HTML file.

    Without --at, the report forecasts 10x the largest value of each input in the runs;
    without --compute, the probability and the compute plan use the targets' compute.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit.
    out : Path
        The HTML file.
    compare : Path, optional
        A comparison folder to include.
    at : list of str, optional
        Target points, each ``NAME=VALUE,NAME=VALUE``.
    target_loss : float, optional
        Loss to reach.
    compute : list of float, optional
        Budgets in FLOPs.
    level : float, default 0.9
        Credible level.
    pdf : Path, optional
        Also write a PDF of the report.
    force : bool, default False
        Overwrite existing outputs.
    group : str, optional
        The group the report is about (see ``build_context``).
    """
    targets = point_list(at) if at else None
    level = check_level(level, "--level")
    check_outputs([out], force)
    if pdf is not None:
        check_outputs([pdf], force, "--pdf")
    from bayescale.fitting import load_fit
    from bayescale.report import write_report

    result = load_fit(fit_file)
    if not result.ok:
        echo_warning(f"report of a fit that failed its diagnostics: {result.diagnostics.verdict()}")
    with warnings_as_lines():
        files = write_report(
            result,
            out,
            overwrite=force,
            pdf=pdf,
            comparison=compare,
            at=targets,
            target_loss=target_loss,
            compute=compute,
            level=level,
            command=command_line(),
            fit_path=fit_file,
            group=group,
        )
    print_verdict(result)
    for kind, path in files.items():
        size = path.stat().st_size / 1024
        say(f"Wrote the {kind.upper()} report to {path} ({size:.0f} KB)")
