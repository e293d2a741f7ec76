"""The report as files: HTML from the Jinja2 template, PDF from that HTML (WeasyPrint)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bayescale._files import check_destination, write_atomic, write_text
from bayescale.errors import BayescaleError
from bayescale.fitting import Fit
from bayescale.report.context import build_context

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
    fit: Fit,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    pdf: str | os.PathLike[str] | None = None,
    command: str | None = None,
    force: bool | None = None,
    **options: Any,
) -> dict[str, Path]:
    """Build the report of a fit and write it as one HTML file (and optionally a PDF).

    Both destinations are checked before any work (an existing file, a missing or
    read-only folder fail at once), and each file is written beside its destination and
    then moved into place, so a failure leaves nothing half-written.

    Parameters
    ----------
    fit : Fit
        The fit.
    out : str or PathLike
        The HTML file.
    overwrite : bool, default False
        Replace existing files.
    pdf : str or PathLike, optional
        Also print the HTML to this PDF file (needs WeasyPrint).
    command : str, optional
        The command that asked for the report, shown in its reproducibility section;
        without it the section shows the Python call that redoes the report.
    force : bool, optional
        Former name of ``overwrite``, still accepted.
    **options
        Passed to :func:`build_context` (``comparison``, ``at``, ``target_loss``,
        ``compute``, ``level``, ``fit_path``, ``figures``, ``group``, ``downstream``: metric
        name -> link fit, for the "Downstream forecast" section).

    Returns
    -------
    dict of str to Path
        ``html`` and, if asked, ``pdf``.

    Raises
    ------
    OutputExistsError
        If a destination exists and ``overwrite`` is False.
    BayescaleError
        If a folder is missing or not writable, WeasyPrint is needed but missing, or a
        write fails.
    """
    overwrite = overwrite or bool(force)
    out = check_destination(out, overwrite)
    if pdf is not None:
        pdf = check_destination(pdf, overwrite)
        _weasyprint()
    html = render_html(build_context(fit, command=command, **options))
    written = {"html": write_text(out, html, overwrite=overwrite)}
    if pdf is not None:
        written["pdf"] = html_to_pdf(html, pdf, overwrite=overwrite)
    return written
