"""``bayescale report``: the due-diligence report of a fit, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bayescale.errors import BayescaleError
from bayescale.settings import check_level

from .._fits import read_fit
from .._guard import check_outputs, check_suffix, command_line, echo_warning, warnings_as_lines
from .._options import (
    AtOption,
    ComputeOption,
    FitArgument,
    ForceOption,
    LevelOption,
    check_point_names,
    out_option,
    parse_points,
    point_list,
)
from .._render import print_verdict, say

if TYPE_CHECKING:
    from bayescale.fitting import Fit

__all__ = ["report_command"]

#: The response name of a link fitted by ``bayescale.downstream.fit_link``, which says
#: nothing of the metric: the file's name names it instead.
_GENERIC_RESPONSE = "error"


def _check_link_files(paths: list[Path]) -> None:
    """Refuse missing link files at once, before the fit is read."""
    for path in paths:
        if not path.is_file():
            what = "a folder" if path.is_dir() else "not found"
            raise BayescaleError(
                f"--link {path}: {what}; give a link fit saved by 'bayescale link ... --save "
                f"LINK.nc' (FIT.nc DATA --metric COLUMN before --save)"
            )


def _check_comparison_folder(path: Path | None) -> None:
    """Refuse a --compare that is not a folder at once, saying what it is instead."""
    if path is None or path.is_dir():
        return
    if path.exists():
        what = "a fit file" if path.suffix.lower() == ".nc" else "a file"
        raise BayescaleError(
            f"--compare {path}: {what}, not a comparison folder; give the folder written by "
            f"'bayescale compare DATA --laws ... --out DIR'"
        )
    raise BayescaleError(
        f"--compare {path}: comparison folder not found; give the folder written by "
        f"'bayescale compare DATA --laws ... --out DIR'"
    )


def _read_links(paths: list[Path]) -> dict[str, Fit]:
    """The link fits by metric name: the fit's response, or the file's name for a link
    whose response is the generic ``error``; a repeated name gets the file's name too."""
    from bayescale.fitting import load_fit

    links: dict[str, Fit] = {}
    for path in paths:
        try:
            link = load_fit(path)
        except BayescaleError as err:
            raise BayescaleError(f"--link {path}: {err}") from None
        if "L" not in link.law.inputs:
            raise BayescaleError(
                f"--link {path}: a fit of law {link.law.name!r} (inputs "
                f"{', '.join(link.law.inputs)}), not a link from the loss L; give it as FIT.nc, "
                f"and as --link a link fitted with 'bayescale link FIT.nc DATA --metric COLUMN "
                f"--save LINK.nc'"
            )
        name = str(link.info.get("metric") or link.runs.y_name)
        if name == _GENERIC_RESPONSE or name in links:
            name = path.stem if path.stem not in links else str(path)
        links[name] = link
    return links


def _warn_link_losses(fit: Fit, links: dict[str, Fit]) -> None:
    """Say on the terminal what the report says of a link fitted on another loss.

    The report's section states it, but a user who reads only the terminal would not see
    it, and the numbers look plausible (:func:`bayescale.downstream.check_link`).
    """
    import warnings

    from bayescale.downstream import check_link

    for name, link in links.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                check_link(fit, link)
            except BayescaleError:
                continue  # the report's section says why it has no forecast
        for item in caught:
            if issubclass(item.category, UserWarning):
                echo_warning(f"the link of {name}: {item.message}")


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
            help="Loss to reach: adds the chance of reaching it and the compute it needs "
            "(for a law of N and D split compute-optimally; a law of C alone has no split).",
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
    link: Annotated[
        list[Path] | None,
        typer.Option(
            "--link",
            metavar="LINK.nc",
            help="A link fit from loss to a downstream metric, saved by 'bayescale link FIT.nc "
            "DATA --metric COLUMN --save LINK.nc': adds the metric's forecast through the loss "
            "(repeatable, one file per metric).",
        ),
    ] = None,
) -> None:
    """Write the due-diligence report of a fit: one self-contained HTML file.

    Without --at, the report forecasts at 10x the largest N, D, C (and unique tokens U) in
    the runs, other inputs (a learning rate, a batch size) held at their median there (a
    law of compute alone: at the --compute budgets, if given): for a law of N and D that is
    100x the largest run's compute or more, as the report says; give --at for a run 10x
    larger in compute. Without --compute, the probability and the compute plan use the
    targets' compute.

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
    link : list of Path, optional
        Saved link fits; each metric is named by its fit's response, or by its file's name
        when the response is the generic ``error``.
    """
    targets = point_list(at) if at else None
    level = check_level(level, "--level")
    inputs = [("the fit FIT.nc", fit_file), *(("a --link fit", path) for path in link or [])]
    check_suffix(out, [".html", ".htm"], "the report is HTML")
    check_outputs([out], force, inputs=inputs)
    if pdf is not None:
        check_suffix(pdf, [".pdf"], "--pdf writes a PDF", "--pdf")
        check_outputs([pdf], force, "--pdf", inputs=inputs)
    _check_link_files(link or [])
    _check_comparison_folder(compare)
    from bayescale.report import write_report

    result = read_fit(fit_file, use="report")
    if at:
        check_point_names(parse_points(at), list(result.law.inputs), "--at")
    if not result.ok:
        echo_warning(f"report of a fit that failed its diagnostics: {result.diagnostics.verdict()}")
    downstream = _read_links(link) if link else None
    for name, fitted in (downstream or {}).items():
        if not fitted.ok:
            echo_warning(
                f"the link of {name} failed its diagnostics: {fitted.diagnostics.verdict()}"
            )
    if downstream:
        _warn_link_losses(result, downstream)
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
            downstream=downstream,
        )
    print_verdict(result)
    for kind, path in files.items():
        size = path.stat().st_size / 1024
        say(f"Wrote the {kind.upper()} report to {path} ({size:.0f} KB)")
