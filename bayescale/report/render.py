"""The report as files: HTML from the Jinja2 template, PDF from that HTML (WeasyPrint)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayescale._files import check_destination, write_atomic, write_text
from bayescale.errors import BayescaleError, DataError, closest
from bayescale.fitting import Fit
from bayescale.report.context import build_context

if TYPE_CHECKING:
    import pandas as pd

    from bayescale.comparison import Comparison

__all__ = ["html_to_pdf", "render_html", "write_report"]


def render_html(context: Mapping[str, Any]) -> str:
    """Fill the report template with a context from :func:`build_context`.

    Parameters
    ----------
    context : mapping
        The context.

    Returns
    -------
    str
        One self-contained HTML document (styles inline, plots as data URIs).
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("bayescale", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,  # a missing entry is a bug, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(**context)


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as err:
        # OSError: the package is there but the system's Pango library is not.
        raise BayescaleError(
            f"PDF output needs WeasyPrint (pip install weasyprint): {err}"
        ) from None
    return weasyprint


def html_to_pdf(html: str, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Print the report's HTML to PDF with WeasyPrint, atomically.

    Parameters
    ----------
    html : str
        The report.
    path : str or PathLike
        Destination.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    OutputExistsError
        If the file exists and ``overwrite`` is False.
    BayescaleError
        If WeasyPrint is not installed or the file cannot be written.
    """
    weasyprint = _weasyprint()
    from weasyprint.urls import URLFetcher

    # Only data: URIs may be loaded: the report is self-contained and printing needs no network.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    document = weasyprint.HTML(string=html, url_fetcher=fetcher)
    return write_atomic(path, document.write_pdf, overwrite=overwrite, suffix=".pdf")


def write_report(
    fit: Fit | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    pdf: str | os.PathLike[str] | None = None,
    command: str | None = None,
    comparison: Comparison | str | os.PathLike[str] | None = None,
    at: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    target_loss: float | str | None = None,
    compute: float | str | Sequence[float] | None = None,
    level: float = 0.9,
    fit_path: str | os.PathLike[str] | None = None,
    figures: bool = True,
    group: str | None = None,
    downstream: Mapping[str, Fit | str | os.PathLike[str]] | None = None,
    force: bool | None = None,
    **unknown: Any,
) -> dict[str, Path]:
    """Build the report of a fit and write it as one HTML file (and optionally a PDF).

    Every option is checked, and both destinations (an existing file, a missing or
    read-only folder), before any work, and each file is written beside its destination
    and then moved into place, so a failure leaves nothing half-written.

    Parameters
    ----------
    fit : Fit, str or PathLike
        The fit, or the file it was saved to (:meth:`bayescale.Fit.save`).
    out : str or PathLike
        The HTML file.
    overwrite : bool, default False
        Replace existing files.
    pdf : str or PathLike, optional
        Also print the HTML to this PDF file (needs WeasyPrint).
    command : str, optional
        The command that asked for the report, shown in its reproducibility section;
        without it the section shows the Python call that redoes the report.
    comparison : Comparison, str or PathLike, optional
        A :class:`~bayescale.Comparison` or the folder it was saved to: its tables and the
        laws' averaged forecast at the targets (the command line's ``--compare``).
    at : mapping, DataFrame or sequence of mapping, optional
        Target points, in any form :meth:`bayescale.Fit.forecast` takes
        (``{"N": [7e10], "D": [1.4e12]}``, a DataFrame, records); of N, D and C any two.
        Default 10x the largest N, D and C in the runs (see :func:`build_context`).
    target_loss : float or str, optional
        A loss to reach (``2.0`` or ``"2.0"``): the probability of reaching it and the
        compute it needs.
    compute : float, str or sequence of float, optional
        One budget in FLOPs or several (``1e24``, ``[1e23, 1e24]``), for the probability
        and the compute plan; default the targets' compute.
    level : float, default 0.9
        Credible level of the intervals.
    fit_path : str or PathLike, optional
        The fit's file, whose SHA-256 is recorded; default ``fit`` when it is a path.
    figures : bool, default True
        Draw the plots (False: tables only, faster).
    group : str, optional
        For a hierarchical fit: the group the forecast, plan and plots are about
        (``"new"`` for a group not yet observed); default the group with the fewest runs.
    downstream : mapping of str to Fit or path, optional
        Metric name -> the fit of its link from the loss
        (:func:`bayescale.downstream.fit_link`) or its file: a "Downstream forecast"
        section (the command line's ``--link``).
    force : bool, optional
        Former name of ``overwrite``, still accepted.
    **unknown
        None is taken: a keyword not above is refused, naming the one most likely meant.

    Returns
    -------
    dict of str to Path
        ``html`` and, if asked, ``pdf``.

    Raises
    ------
    DataError
        If a keyword is not one of the above, ``fit`` is neither a fit nor its file, or an
        option is not valid (see :func:`build_context`).
    OutputExistsError
        If a destination exists and ``overwrite`` is False.
    BayescaleError
        If the fit's file cannot be read, a folder is missing or not writable, WeasyPrint
        is needed but missing, or a write fails.
    """
    if unknown:
        _refuse_unknown(unknown)
    overwrite = overwrite or bool(force)
    out = check_destination(out, overwrite)
    if pdf is not None:
        pdf = check_destination(pdf, overwrite)
        _weasyprint()
    context = build_context(
        fit,
        comparison=comparison,
        at=at,
        target_loss=target_loss,
        compute=compute,
        level=level,
        command=command,
        fit_path=fit_path,
        figures=figures,
        group=group,
        downstream=downstream,
    )
    html = render_html(context)
    written = {"html": write_text(out, html, overwrite=overwrite)}
    if pdf is not None:
        written["pdf"] = html_to_pdf(html, pdf, overwrite=overwrite)
    return written


#: The command line's names of write_report's options, where they differ (for the hint).
_CLI_NAMES = {"compare": "comparison", "link": "downstream", "target": "target_loss"}


def _refuse_unknown(unknown: Mapping[str, Any]) -> None:
    """Refuse keywords write_report does not take, naming the likely one and every option.

    Python's own error would name no alternative, and one passed on would be reported
    against build_context, a function the user never called.
    """
    accepted = [
        name
        for name, p in inspect.signature(write_report).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    name = next(iter(unknown))
    guess = _CLI_NAMES.get(name) or closest(name, accepted)
    hint = f"; did you mean {guess}=?" if guess is not None else ""
    raise DataError(
        f"write_report does not take {name}={unknown[name]!r:.60}{hint} (its options: "
        f"{', '.join(accepted)})"
    )
