"""Figures out of the plots: to a file (atomically) or to PNG bytes (for the report)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bayescale._files import write_atomic
from bayescale.plots._common import figure_of

__all__ = ["figure_to_png", "save_figure"]


def _release(fig: Figure) -> None:
    """Close a figure that pyplot keeps (a caller's); the plots' own figures are not kept."""
    if fig.canvas.manager is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)


def save_figure(
    fig: Figure | Any,
    path: str | os.PathLike[str],
    dpi: int = 130,
    *,
    overwrite: bool = True,
) -> Path:
    """Write a figure atomically (to a temporary file beside it, then moved into place).

    Parameters
    ----------
    fig : Figure, Axes or array of Axes
        The figure, or what a ``plot_*`` function returned (its figure is written).
    path : str or PathLike
        Destination; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    dpi : int, default 130
        Resolution of raster formats.
    overwrite : bool, default True
        Replace an existing file, as ``Figure.savefig`` does; False refuses to.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    OutputExistsError
        If the file exists and ``overwrite`` is False.
    BayescaleError
        If the folder is missing or the file cannot be written; nothing is left behind.
    """
    path = Path(path)
    figure = figure_of(fig)
    try:
        write_atomic(
            path,
            lambda tmp: figure.savefig(tmp, dpi=dpi, bbox_inches="tight"),
            overwrite=overwrite,
            suffix=path.suffix,  # savefig picks the format from the file name
        )
    finally:
        _release(figure)
    return path


def figure_to_png(fig: Figure | Any, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes.

    Parameters
    ----------
    fig : Figure, Axes or array of Axes
        The figure, or what a ``plot_*`` function returned.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    bytes
        The PNG file's content.
    """
    figure = figure_of(fig)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        _release(figure)
    return buffer.getvalue()
