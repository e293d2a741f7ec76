"""Beyond the runs: the compute-optimal frontier and fan charts out to target scales."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayescale.errors import BayescaleError, ExtrapolationWarning
from bayescale.fitting import Fit
from bayescale.forecast import level_label
from bayescale.plots._common import (
    axes_grid,
    complete_target,
    finish,
    has_n_and_d,
    input_label,
    one_law,
    plain_numbers,
    runs_compute,
    shade_beyond,
    target_star,
)
from bayescale.settings import check_level

__all__ = ["plot_forecast_fan", "plot_frontier"]


def plot_frontier(
    fit: Fit,
    *,
    budgets: Sequence[float] = (),
    level: float = 0.9,
    fixed: Mapping[str, float] | None = None,
    axes: Any = None,
) -> np.ndarray:
    """The compute-optimal frontier with credible bands: N, D, tokens per parameter, loss.

    Each panel has the law's credible band (darker) and, for a fit with a discrepancy of
    its plan, the wider band with that discrepancy (lighter): the one to budget with, as
    :meth:`Fit.compute_optimal`'s ``*_disc_*`` columns give it (the loss has one where
    those columns have it).

    Parameters
    ----------
    fit : Fit
        A fit of a law with inputs N and D.
    budgets : sequence of float, optional
        Budgets to mark (vertical lines); the frontier spans the runs' compute up to 10x
        beyond the largest of these and of the runs.
    level : float, default 0.9
        Credible level of the bands.
    fixed : mapping, optional
        Values of the law's inputs other than N and D.
    axes : array of 4 matplotlib.axes.Axes, optional
        Where to draw (N, D, tokens per parameter, loss); default a new 2 x 2 figure.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        The four panels, against compute.

    Raises
    ------
    BayescaleError
        If the law lacks N or D, or fewer than four axes are given.
    DataError
        If the fit has groups (one group's law at a time: ``fit.group(name)``).
    """
    if not has_n_and_d(fit):
        raise BayescaleError(
            f"the compute-optimal frontier needs a law of N and D; {fit.law.name} has "
            f"{', '.join(fit.law.inputs)}"
        )
    one_law(fit, "plot_frontier")
    axes, owned = axes_grid(axes, (2, 2), (10, 7), "the frontier", sharex=True)
    c_runs = runs_compute(fit)
    grid = np.geomspace(c_runs.min(), max([c_runs.max(), *budgets]) * 10, 40)
    with warnings.catch_warnings():
        # The frontier's grid runs 10x past the budgets by design; the shading marks where
        # it leaves the runs, and fit.compute_optimal at a budget says how far.
        warnings.simplefilter("ignore", ExtrapolationWarning)
        table = fit.compute_optimal(grid, level=level, fixed=fixed)
    tag = level_label(level)
    panels = [
        ("N", "optimal parameters N", fit.runs.x("N")),
        ("D", "optimal tokens D", fit.runs.x("D")),
        ("tokens_per_parameter", "tokens per parameter D/N", None),
        ("loss", f"{fit.runs.y_name} at the optimum (law)", fit.runs.y),
    ]
    flat = np.ravel(axes)
    percent = f"{100 * level:.0f}%"
    for ax, (name, label, observed) in zip(flat, panels, strict=False):
        if f"{name}_disc_lower_{tag}" in table.columns:
            # The plan's error beyond the runs: wider, lighter (edged, to show on the grey
            # beyond the runs), under the law's own band.
            ax.fill_between(
                grid,
                table[f"{name}_disc_lower_{tag}"],
                table[f"{name}_disc_upper_{tag}"],
                facecolor="C0",
                edgecolor="C0",
                alpha=0.18,
                lw=0.8,
                ls="--",
                label=f"{percent} with discrepancy (to budget with)",
            )
        ax.fill_between(
            grid,
            table[f"{name}_lower_{tag}"],
            table[f"{name}_upper_{tag}"],
            color="C0",
            alpha=0.45,
            lw=0,
            label=f"{percent} credible (law)",
        )
        ax.plot(grid, table[f"{name}_median"], color="C0", lw=1.6, label="median (law)")
        if observed is not None:
            ax.scatter(c_runs, observed, s=8, color="0.35", zorder=3, label="runs")
        for budget in budgets:
            ax.axvline(budget, color="crimson", ls="--", lw=1)
        ax.set_xscale("log")
        linear = name == "loss" and fit.law.likelihood.scale == "linear"
        ax.set_yscale("linear" if linear else "log")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(True, which="major", alpha=0.25)
        low, high = ax.get_ylim()
        if name in ("tokens_per_parameter", "loss") and high < 100 * low:
            plain_numbers(ax.yaxis)  # over more decades, the log axis's own labels read better
        shade_beyond(ax, c_runs.max())
    for ax in flat[2:4]:
        ax.set_xlabel(input_label(fit, "C"))
    flat[0].legend(fontsize=7, loc="upper left")
    marks = " (dashed: your budgets)" if len(budgets) else ""
    finish(flat[0].figure, owned, f"{fit.law.name}: compute-optimal frontier{marks}")
    return axes


def _fan_path(
    fit: Fit, target: Mapping[str, float]
) -> tuple[str, dict[str, np.ndarray], np.ndarray, float]:
    """Points from the smallest run's scale to past a target, along the target's direction.

    Laws of N and D follow the target's tokens per parameter, with compute on the x-axis;
    other laws scale their first input and keep the others at the target's values.

    Returns
    -------
    tuple
        The x-axis input's name, the points, their x values, and the target's x value.
    """
    if has_n_and_d(fit):
        point = complete_target(fit, target)
        c_runs = runs_compute(fit)
        factors = np.geomspace(min(c_runs.min(), point["C"]) / point["C"], 4.0, 80)
        points = {name: np.full_like(factors, value) for name, value in point.items()}
        points.update({"N": point["N"] * factors**0.5, "D": point["D"] * factors**0.5})
        points.pop("C")
        return "C", points, point["C"] * factors, point["C"]
    name = next(n for n in fit.law.inputs if n in target)
    observed = fit.runs.x(name)
    factors = np.geomspace(min(observed.min(), target[name]) / target[name], 4.0, 80)
    points = {n: np.full_like(factors, v) for n, v in target.items()}
    points[name] = target[name] * factors
    return name, points, points[name], float(target[name])


def _fan(ax: Any, fit: Fit, target: Mapping[str, float], levels: list[float], level: float) -> None:
    """One panel of the fan chart: the path towards one target, its bar at ``level``."""
    axis_name, points, x, x_target = _fan_path(fit, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a failed fit is stated elsewhere
        table = fit.forecast(points, level=levels)
        at_target = fit.forecast(dict(target), level=levels)
    for i, lv in enumerate(reversed(levels)):
        tag = level_label(lv)
        ax.fill_between(
            x,
            table[f"pred_lower_{tag}"],
            table[f"pred_upper_{tag}"],
            color="C0",
            alpha=0.15 + 0.12 * i,
            lw=0,
            label=f"{100 * lv:.0f}% predictive",
        )
    ax.plot(x, table["law_median"], color="k", lw=1.2, label="median law")
    label = f"target ({level_label(level)}% predictive)"
    target_star(ax, x_target, at_target, "pred_median", level_label(level), label)
    beyond = table["extrapolation"].to_numpy() > 1
    if beyond.any():
        start = float(x[np.argmax(beyond)])
        ax.axvspan(start, x.max(), color="0.92", zorder=0, lw=0, label="beyond the data")
    ax.set_xscale("log")
    ax.set_yscale("log" if fit.law.likelihood.scale == "log" else "linear")
    ax.set_xlim(x.min(), x.max())
    plain_numbers(ax.yaxis)
    ax.set_xlabel(input_label(fit, axis_name))
    ax.set_title(", ".join(f"{k}={v:.3g}" for k, v in target.items()), fontsize=9)
    ax.grid(True, which="major", alpha=0.25)


def plot_forecast_fan(
    fit: Fit,
    targets: Sequence[Mapping[str, float]],
    *,
    levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95),
    level: float = 0.9,
    axes: Any = None,
) -> np.ndarray:
    """Fan chart of the predictive distribution of a new run, out to each target.

    Each panel follows one target's direction from the runs' scale to 4x past it: nested
    predictive intervals (darker: narrower), the median law, the target with its
    predictive interval at ``level`` (the legend says which), and the region beyond the
    data shaded (where ``forecast`` reports an extrapolation ratio above 1).

    Parameters
    ----------
    fit : Fit
        The fit.
    targets : sequence of mapping
        At most four points, e.g. ``[{"N": 70e9, "D": 1.4e12}]``.
    levels : sequence of float, default (0.5, 0.8, 0.9, 0.95)
        Nested predictive levels.
    level : float, default 0.9
        Level of the targets' bars (a forecast table's usual level); added to ``levels``
        if it is not among them.
    axes : array of matplotlib.axes.Axes, optional
        One per target; default a new figure with a row of panels.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One panel per target.

    Raises
    ------
    BayescaleError
        If no target is given, or fewer axes than targets.
    DataError
        If ``level`` is not between 0 and 1.
    DataError
        If the fit has groups (one group's law at a time: ``fit.group(name)``).
    """
    one_law(fit, "plot_forecast_fan")
    targets = list(targets)[:4]
    if not targets:
        raise BayescaleError("the fan chart needs at least one target point")
    level = check_level(level)
    levels = sorted({*levels, level})
    size = (max(8.0, 5.2 * len(targets) + 0.5), 4.2)
    axes, owned = axes_grid(axes, (1, len(targets)), size, "the fan chart")
    flat = np.ravel(axes)
    for ax, target in zip(flat, targets, strict=False):
        _fan(ax, fit, target, levels, level)
    flat[0].set_ylabel(f"{fit.runs.y_name} of a new run")
    flat[0].legend(fontsize=7, loc="upper right")
    finish(flat[0].figure, owned, f"{fit.law.name}: forecast fan chart towards the targets")
    return axes
