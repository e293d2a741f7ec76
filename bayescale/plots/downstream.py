"""Plot of a link from loss to a downstream error, with the chained forecast at the targets."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from bayescale._format import format_number
from bayescale.errors import BayescaleError, ExtrapolationWarning
from bayescale.fitting import Fit
from bayescale.forecast import level_label
from bayescale.plots._common import finish, one_axes, one_law

__all__ = ["link_chance", "plot_link"]

#: Parameters of the catalog links that hold the error at high loss (the chance error).
_CHANCE_PARAMETERS = ("eps", "e_max")
#: Points of the link's curve.
_GRID = 200


def link_chance(link_fit: Fit) -> float | None:
    """The task's chance accuracy a link was fitted with, if any.

    :func:`bayescale.downstream.fit_link` states the chance accuracy as the prior of the
    error at high loss (a truncated normal centred on ``1 - chance``, sd
    :data:`bayescale.downstream.CHANCE_SIGMA`); a fit that records ``info["chance"]`` is
    read from there first.

    Parameters
    ----------
    link_fit : Fit
        A link's fit.

    Returns
    -------
    float or None
        The chance accuracy (a fraction), or None when the link was fitted without one.
    """
    from bayescale.downstream import CHANCE_SIGMA

    stored = link_fit.info.get("chance")
    if stored is not None:
        return float(stored)
    for name in _CHANCE_PARAMETERS:
        parameter = link_fit.law.parameters.get(name)
        if parameter is None:
            continue
        prior = parameter.prior
        values = prior.parameters
        if prior.distribution == "TruncatedNormal" and values.get("sigma") == CHANCE_SIGMA:
            return 1.0 - float(values["mu"])
    return None


def plot_link(
    link_fit: Fit,
    *,
    forecast: pd.DataFrame | None = None,
    level: float = 0.9,
    ax: Axes | None = None,
    metric: str | None = None,
) -> Axes:
    """Draw a downstream error against the loss: the runs, the link's posterior, the targets.

    The runs the link was fitted on are points; the link's posterior median is a line with
    its credible band (dark: the link itself) and the band of one model's error (light: the
    benchmark's noise added), over the runs' losses and the forecast's. Losses below the
    lowest of the runs (where the link extrapolates) are shaded. Each target of a chained
    forecast is a star at its loss median and error median, with its loss interval
    (horizontal) and the interval of one model's error (vertical; the thick part is the
    error's credible interval). The chance error is a dashed line when the link was fitted
    with the task's chance accuracy.

    Parameters
    ----------
    link_fit : Fit
        The link's fit (:func:`bayescale.downstream.fit_link`).
    forecast : pandas.DataFrame, optional
        A table from :func:`bayescale.downstream.chain` made at ``level``.
    level : float, default 0.9
        Level of the bands and intervals.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    metric : str, optional
        The metric's name, for the labels.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (the figure is ``ax.figure``).

    Raises
    ------
    BayescaleError
        If the fit is not a link (no input ``L``) or the forecast lacks the columns of
        ``chain`` at ``level``.
    DataError
        If the link was fitted with groups (one group's link at a time:
        ``link_fit.group(name)``).
    """
    if "L" not in link_fit.law.inputs:
        raise BayescaleError(
            f"plot_link draws a link from the loss L; law {link_fit.law.name!r} has inputs "
            f"{', '.join(link_fit.law.inputs)}: give a fit from bayescale.downstream.fit_link"
        )
    one_law(link_fit, "plot_link")
    tag = level_label(level)
    if forecast is not None:
        needed = [
            "loss_median",
            f"loss_lower_{tag}",
            f"loss_upper_{tag}",
            "error_median",
            f"error_lower_{tag}",
            f"error_upper_{tag}",
            f"pred_lower_{tag}",
            f"pred_upper_{tag}",
        ]
        missing = [c for c in needed if c not in forecast.columns]
        if missing:
            raise BayescaleError(
                f"the forecast lacks {', '.join(missing)}: give the table "
                f"bayescale.downstream.chain returned at level={level}"
            )
    ax, owned = one_axes(ax, (6.4, 4.6))
    loss, error = link_fit.runs.x("L"), link_fit.runs.y
    low, high = float(np.min(loss)), float(np.max(loss))
    if forecast is not None and len(forecast):
        low = min(low, float(forecast[f"loss_lower_{tag}"].min()))
        high = max(high, float(forecast[f"loss_upper_{tag}"].max()))
    pad = 0.04 * (high - low or 1.0)
    grid = np.linspace(low - pad, high + pad, _GRID)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)  # the plot's own grid of losses
        curve = link_fit.forecast({"L": grid}, level=level)
    ax.fill_between(
        grid,
        curve[f"pred_lower_{tag}"],
        curve[f"pred_upper_{tag}"],
        color="C0",
        alpha=0.12,
        lw=0,
        label=f"one model's error ({tag}%)",
    )
    ax.fill_between(
        grid,
        curve[f"law_lower_{tag}"],
        curve[f"law_upper_{tag}"],
        color="C0",
        alpha=0.35,
        lw=0,
        label=f"link, {tag}% credible",
    )
    ax.plot(grid, curve["law_median"], color="C0", lw=1.6, label=f"{link_fit.law.name} link")
    ax.scatter(
        loss, error, s=16, color="C0", edgecolor="k", lw=0.3, zorder=3, label="runs (fitted)"
    )
    chance = link_chance(link_fit)
    if chance is not None:
        ax.axhline(
            1.0 - chance, color="0.35", ls="--", lw=1.0, label=f"chance error ({1 - chance:.2f})"
        )
    if forecast is not None:
        _draw_targets(ax, forecast, tag)
    lowest = float(np.min(loss))
    left, right = ax.get_xlim()
    if left < lowest:
        # The link is extrapolated toward lower loss, where the larger models are.
        ax.axvspan(left, lowest, color="0.92", zorder=0, lw=0, label="below the runs' losses")
    ax.set_xlim(left, right)
    ax.set_xlabel(f"L: {link_fit.law.inputs['L']}")
    name = f"{metric} " if metric else ""
    ax.set_ylabel(f"{name}error (fraction wrong)")
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=7, loc="best")
    finish(
        ax.figure,
        owned,
        f"{metric or 'Downstream'} error through the loss ({link_fit.law.name} link)",
    )
    return ax


def _draw_targets(ax: Axes, forecast: pd.DataFrame, tag: str) -> None:
    """Each target: loss interval across, one model's error interval up, the error's thick."""
    inputs = [c for c in ("N", "D", "C") if c in forecast.columns]
    for i, row in enumerate(forecast.itertuples(index=False)):
        r = row._asdict()
        x, y = float(r["loss_median"]), float(r["error_median"])
        ax.errorbar(
            [x],
            [y],
            xerr=[[x - float(r[f"loss_lower_{tag}"])], [float(r[f"loss_upper_{tag}"]) - x]],
            yerr=[[y - float(r[f"pred_lower_{tag}"])], [float(r[f"pred_upper_{tag}"]) - y]],
            fmt="*",
            ms=12,
            color="crimson",
            capsize=4,
            zorder=4,
            label=f"target ({tag}%: loss across, one model up)" if i == 0 else None,
        )
        ax.vlines(
            x,
            float(r[f"error_lower_{tag}"]),
            float(r[f"error_upper_{tag}"]),
            color="crimson",
            lw=4,
            zorder=4,
        )
        if inputs:
            text = ", ".join(f"{k}={format_number(float(r[k]), 'size')}" for k in inputs[:2])
            ax.annotate(
                text,
                (x, y),
                xytext=(8, -12),
                textcoords="offset points",
                color="crimson",
                fontsize=7,
            )
