"""What the plots share: where they draw, how they label, and how they reach the figure.

Each ``plot_*`` draws into axes the caller gives (``ax=`` or ``axes=``) or, without them,
into a new :class:`matplotlib.figure.Figure`, made without pyplot: no backend or display is
involved and nothing is left open in pyplot's list of figures. Figure-level decorations (a
suptitle, a shared legend, the layout) are added only to figures the plot made itself: a
caller's figure is the caller's to arrange.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayescale.data import complete_triad
from bayescale.errors import BayescaleError, DataError
from bayescale.fitting import Fit
from bayescale.forecast import forecast_points
from bayescale.hierarchy import NEW_GROUP

#: At most this many IsoFLOP curves: more would be unreadable.
MAX_CURVES = 9


def one_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Axes, bool]:
    """The caller's axes, or the axes of a new figure; and whether the figure is new."""
    if ax is not None:
        return ax, False
    return Figure(figsize=figsize).add_subplot(), True


def axes_grid(
    axes: Any,
    shape: tuple[int, int],
    figsize: tuple[float, float],
    what: str,
    layout: str | None = None,
    **subplots: Any,
) -> tuple[np.ndarray, bool]:
    """The caller's axes (as an array), or a new figure's grid; and whether it is new.

    A new figure's axes come as a 1-d array for one row of panels, else 2-d (``shape``);
    ``layout`` is the new figure's layout engine (e.g. ``"constrained"``).

    Raises
    ------
    BayescaleError
        If the caller gives fewer axes than the plot has panels.
    """
    if axes is None:
        grid = Figure(figsize=figsize, layout=layout).subplots(*shape, squeeze=False, **subplots)
        return (grid[0] if shape[0] == 1 else grid), True
    given = np.asarray(axes, dtype=object)
    needed = shape[0] * shape[1]
    if given.size < needed:
        raise BayescaleError(f"{what} needs {needed} axes, got {given.size}")
    return given, False


def figure_of(drawn: Any) -> Figure:
    """The figure behind a Figure, an Axes, or an array of axes (as the plots return)."""
    if isinstance(drawn, Figure):
        return drawn
    first = np.ravel(np.asarray(drawn, dtype=object))[0]
    return first.figure


def finish(fig: Figure, owned: bool, title: str, rect: tuple[float, ...] | None = None) -> None:
    """Title and lay out a figure the plot made (a caller's figure is left as it is)."""
    if not owned:
        return
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=rect)


def one_law(fit: Fit, what: str, hint: str = "") -> None:
    """Refuse a fit with groups in a plot that draws one law, saying how to pick a group.

    A hierarchical fit has one law per group: its forecasts and draws carry a group axis
    that a single-law plot would mix up with its own (or fail on with a bare NumPy error).

    Raises
    ------
    DataError
        If ``fit`` has groups.
    """
    if fit.pooling is None:
        return
    raise DataError(
        f"{what} shows one law: pass fit.group(name) (groups: {', '.join(fit.groups)}, or "
        f"{NEW_GROUP!r}){hint}"
    )


@contextlib.contextmanager
def quiet_arviz() -> Iterator[None]:
    """Hide ArviZ's deprecation notices about its own use of matplotlib and pandas: they are
    not the user's to act on, and would repeat once per panel."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
        yield


def has_n_and_d(fit: Fit) -> bool:
    """Laws with inputs N and D (and maybe others), which have a compute-optimal frontier."""
    return {"N", "D"} <= set(fit.law.inputs)


def is_n_d_law(fit: Fit) -> bool:
    """Laws of N and D alone (C is derived), which have a plane to draw contours in."""
    inputs = set(fit.law.inputs)
    return {"N", "D"} <= inputs <= {"N", "D", "C"}


def compute_of(fit: Fit, n: Any, d: Any) -> np.ndarray:
    """Training compute ``C = k N D`` of N parameters and D tokens (``k``: the runs')."""
    values = {"N": np.asarray(n, dtype=float), "D": np.asarray(d, dtype=float)}
    return complete_triad(values, fit.runs.compute_factor)[1]


def runs_compute(fit: Fit) -> np.ndarray:
    """Training compute of every run (for laws with inputs N and D)."""
    return compute_of(fit, fit.runs.x("N"), fit.runs.x("D"))


def complete_target(fit: Fit, target: Mapping[str, float]) -> dict[str, float]:
    """A target point with every input of the law, plus its compute C for laws of N and D.

    :func:`bayescale.forecast.forecast_points` completes two of N, D, C with the one the law
    needs; the compute is added here, because a law of N and D does not need it.
    """
    row = forecast_points(fit.law, target, fit.runs.compute_factor).iloc[0]
    point = {str(name): float(value) for name, value in row.items()}
    if "C" not in point and "N" in point and "D" in point:
        point["C"] = float(compute_of(fit, point["N"], point["D"]))
    return point


def input_label(fit: Fit, name: str) -> str:
    """Axis label of an input: its name and meaning (compute says how it was derived)."""
    if name == "C" and not fit.law.inputs.get("C"):
        return f"compute C = {fit.runs.compute_factor:g} N D (FLOPs)"
    meaning = fit.law.inputs.get(name, "")
    return f"{name} ({meaning})" if meaning else name


def plain_numbers(axis: Any) -> None:
    """Label a log axis spanning less than a decade or two with plain numbers (2.5, not
    2.5 x 10^0), on minor ticks too, which are the only ticks in such a range."""
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda value, _: f"{value:.3g}")
    axis.set_major_formatter(formatter)
    axis.set_minor_formatter(formatter)


def shade_beyond(ax: Axes, start: float, label: str | None = "beyond the largest run") -> None:
    """Shade the part of a log x-axis to the right of `start` (the extrapolation region)."""
    low, high = ax.get_xlim()
    if start < high:
        ax.axvspan(max(start, low), high, color="0.92", zorder=0, lw=0, label=label)
    ax.set_xlim(low, high)


def target_star(ax: Axes, x: float, at: Any, center: str, tag: str, label: str) -> None:
    """A target as a star at its forecast ``center`` column, its predictive interval as bars.

    ``at`` is a one-row forecast table; ``tag`` the level's column suffix (``"90"``).
    """
    median = float(at[center].iloc[0])
    low, high = float(at[f"pred_lower_{tag}"].iloc[0]), float(at[f"pred_upper_{tag}"].iloc[0])
    ax.errorbar(
        [x],
        [median],
        yerr=[[median - low], [high - median]],
        fmt="*",
        ms=12,
        color="crimson",
        capsize=4,
        zorder=4,
        label=label,
    )
