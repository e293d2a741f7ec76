"""The fit against the runs: IsoFLOP curves (or the law's one input) and iso-loss contours."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes

from bayescale.errors import BayescaleError, ExtrapolationWarning, SlipWarning
from bayescale.fitting import Fit
from bayescale.forecast import forecast_points, level_label
from bayescale.plots._common import (
    MAX_CURVES,
    complete_target,
    compute_of,
    input_label,
    is_n_d_law,
    one_axes,
    one_law,
    plain_numbers,
    runs_compute,
    shade_beyond,
    target_star,
)

__all__ = ["plot_fit", "plot_loss_contours"]


def _budgets(fit: Fit, given: Sequence[float] | None) -> np.ndarray:
    if given is not None:
        return np.asarray(sorted(given), dtype=float)
    compute = runs_compute(fit)
    unique = np.unique(np.round(np.log10(compute), 2))
    if len(unique) <= MAX_CURVES:
        return 10.0**unique
    return np.quantile(compute, np.linspace(0.05, 0.95, 6))


def _band(ax: Axes, x: np.ndarray, table: Any, level: float, color: Any, dashed: bool) -> None:
    tag = level_label(level)
    style = "--" if dashed else "-"
    ax.plot(x, table["law_median"], style, color=color, lw=1.6)
    ax.fill_between(
        x, table[f"law_lower_{tag}"], table[f"law_upper_{tag}"], color=color, alpha=0.35, lw=0
    )
    ax.fill_between(
        x, table[f"pred_lower_{tag}"], table[f"pred_upper_{tag}"], color=color, alpha=0.12, lw=0
    )


def _isoflop_curve(
    ax: Axes, fit: Fit, grid: np.ndarray, budget: float, level: float, color: Any, dashed: bool
) -> None:
    table = fit.forecast({"N": grid, "C": np.full_like(grid, budget)}, level=level)
    _band(ax, grid, table, level, color, dashed=dashed)


def _isoflop(
    ax: Axes, fit: Fit, budgets: np.ndarray, targets: Sequence[Mapping[str, float]], level: float
) -> None:
    runs = fit.runs
    n_obs, c_obs = runs.x("N"), runs_compute(fit)
    points = [complete_target(fit, t) for t in targets]
    all_budgets = np.concatenate([budgets, [p["C"] for p in points]])
    norm = matplotlib.colors.LogNorm(all_budgets.min(), all_budgets.max())
    cmap = matplotlib.colormaps["viridis"]
    nearest = np.argmin(np.abs(np.log(c_obs)[:, None] - np.log(budgets)[None, :]), axis=1)
    for i, budget in enumerate(budgets):
        color = cmap(norm(budget))
        mine = nearest == i
        ax.scatter(n_obs[mine], runs.y[mine], s=14, color=color, edgecolor="k", lw=0.3, zorder=3)
        low = n_obs[mine].min() / 2 if mine.any() else n_obs.min()
        high = n_obs[mine].max() * 2 if mine.any() else n_obs.max()
        _isoflop_curve(ax, fit, np.geomspace(low, high, 60), budget, level, color, dashed=False)
    tag = level_label(level)
    for point in points:
        color = cmap(norm(point["C"]))
        grid = np.geomspace(point["N"] / 8, point["N"] * 8, 60)
        _isoflop_curve(ax, fit, grid, point["C"], level, color, dashed=True)
        label = f"forecast N={point['N']:.3g}, D={point['D']:.3g}"
        at = fit.forecast(point, level=level)
        target_star(ax, point["N"], at, "law_median", tag, label)
    shade_beyond(ax, n_obs.max())
    ax.set_xlabel("parameters N")
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    ax.figure.colorbar(sm, ax=ax, label=f"compute C = {fit.runs.compute_factor:g} N D (FLOPs)")


def _single(ax: Axes, fit: Fit, level: float) -> None:
    name = next(iter(fit.law.inputs))
    x_obs = fit.runs.x(name)
    ax.scatter(x_obs, fit.runs.y, s=14, color="C0", edgecolor="k", lw=0.3, zorder=3, label="runs")
    grid = np.geomspace(x_obs.min() / 2, x_obs.max() * 10, 120)
    _band(ax, grid, fit.forecast({name: grid}, level=level), level, "C0", dashed=False)
    shade_beyond(ax, x_obs.max())
    ax.set_xlabel(input_label(fit, name))


def _observed_vs_predicted(ax: Axes, fit: Fit, level: float) -> None:
    table = fit.forecast(fit.runs.table[list(fit.law.inputs)], level=level)
    tag = level_label(level)
    median = table["pred_median"].to_numpy()
    err = [median - table[f"pred_lower_{tag}"], table[f"pred_upper_{tag}"] - median]
    ax.errorbar(fit.runs.y, median, yerr=err, fmt="o", ms=3, alpha=0.7, label="runs")
    span = [min(fit.runs.y.min(), median.min()), max(fit.runs.y.max(), median.max())]
    ax.plot(span, span, "k--", lw=1, label="observed = predicted")
    ax.set_xlabel(f"observed {fit.runs.y_name}")


def plot_fit(
    fit: Fit,
    *,
    budgets: Sequence[float] | None = None,
    targets: Sequence[Mapping[str, float]] = (),
    level: float = 0.9,
    ax: Axes | None = None,
) -> Axes:
    """Plot the runs with the posterior median law, its credible band and the predictive band.

    Laws in N and D are drawn along IsoFLOP curves (loss against N at fixed compute
    C = k N D), one per budget, with target scales as stars (predictive interval as error
    bars) on dashed extrapolated curves; single-input laws against their input; other laws
    as observed against predicted. Both axes are logarithmic; the region beyond the largest
    run is shaded.

    Parameters
    ----------
    fit : Fit
        The fit.
    budgets : sequence of float, optional
        Compute budgets of the IsoFLOP curves; default: the runs' own (at most nine).
    targets : sequence of mapping, optional
        Points to forecast, e.g. ``[{"N": 70e9, "D": 1.4e12}]`` (any two of N, D, C).
    level : float, default 0.9
        Credible level of the bands (dark: the law; light: a new run).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (``ax.figure`` is the figure; write it with
        :func:`~bayescale.plots.save_figure`).

    Raises
    ------
    DataError
        If the fit has groups: its colours are the budgets, so one group's law at a time
        (``fit.group(name)``), or every group in its own panel
        (:func:`~bayescale.plots.plot_groups`).
    """
    one_law(fit, "plot_fit", "; bayescale.plots.plot_groups draws every group")
    ax, _ = one_axes(ax, (8, 5.5))
    # Log scales first: the shading of the extrapolated region reads the autoscaled limits,
    # which on a linear axis can start below zero and then vanish on the log axis.
    ax.set_xscale("log")
    # Additive noise is for metrics that can be <= 0: a log axis would hide them.
    ax.set_yscale("log" if fit.law.likelihood.scale == "log" else "linear")
    inputs = set(fit.law.inputs)
    with warnings.catch_warnings():
        # The curves run over the plot's own grids, beyond the runs by design; the shading
        # shows where the law extrapolates, and fit.forecast at a target says how far.
        warnings.simplefilter("ignore", ExtrapolationWarning)
        # The plot's own grids (an IsoFLOP curve's large N has few tokens): no user's slip.
        warnings.simplefilter("ignore", SlipWarning)
        if is_n_d_law(fit):
            _isoflop(ax, fit, _budgets(fit, budgets), targets, level)
        elif len(inputs) == 1:
            _single(ax, fit, level)
        else:
            _observed_vs_predicted(ax, fit, level)
    ax.set_ylabel(fit.runs.y_name)
    plain_numbers(ax.yaxis)
    verdict = "" if fit.ok else "  [DIAGNOSTICS FAILED]"
    ax.set_title(
        f"{fit.law.name}: posterior median, {100 * level:.0f}% credible (dark) and predictive "
        f"(light) bands{verdict}",
        fontsize=10,
    )
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    return ax


def _compute_lines(ax: Axes, fit: Fit, n_grid: np.ndarray, low: float, high: float) -> None:
    """Dotted lines of constant compute, every two decades from ``low`` to ``high``."""
    k = fit.runs.compute_factor
    for budget in 10.0 ** np.arange(np.ceil(np.log10(low)), np.floor(np.log10(high)) + 1, 2):
        line = forecast_points(
            fit.law, {"N": n_grid, "C": np.full_like(n_grid, budget)}, k
        )  # D = C / (k N) along the line
        ax.plot(n_grid, line["D"], ":", color="0.3", lw=0.8)
        ax.annotate(
            f"C={budget:.0e}",
            (n_grid[-1], line["D"].iloc[-1]),
            fontsize=6,
            color="0.3",
            ha="right",
            va="bottom",
            annotation_clip=True,
        )


def plot_loss_contours(
    fit: Fit,
    *,
    targets: Sequence[Mapping[str, float]] = (),
    grid_size: int = 60,
    ax: Axes | None = None,
) -> Axes:
    """Iso-loss contours of the posterior median law in the (N, D) plane.

    The runs are drawn over the contours in the same colours, with lines of constant compute
    (C = k N D), the posterior median compute-optimal frontier and the target points; the
    region beyond the largest N or D of the runs is shaded.

    Parameters
    ----------
    fit : Fit
        A fit of a law in N and D (C derived).
    targets : sequence of mapping, optional
        Points to mark, e.g. ``[{"N": 70e9, "D": 1.4e12}]`` (any two of N, D, C).
    grid_size : int, default 60
        Grid points per axis.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    BayescaleError
        If the law is not a law of N and D.
    DataError
        If the fit has groups (one group's law at a time: ``fit.group(name)``).
    """
    if not is_n_d_law(fit):
        raise BayescaleError(
            f"iso-loss contours need a law of N and D; {fit.law.name} has "
            f"{', '.join(fit.law.inputs)}"
        )
    one_law(fit, "plot_loss_contours")
    runs = fit.runs
    n_obs, d_obs = runs.x("N"), runs.x("D")
    points = [complete_target(fit, t) for t in targets]
    n_all = np.concatenate([n_obs, [p["N"] for p in points]])
    d_all = np.concatenate([d_obs, [p["D"] for p in points]])
    n_grid = np.geomspace(n_all.min() / 3, n_all.max() * 3, grid_size)
    d_grid = np.geomspace(d_all.min() / 3, d_all.max() * 3, grid_size)
    nn, dd = np.meshgrid(n_grid, d_grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a failed fit is flagged in the title
        table = fit.forecast({"N": nn.ravel(), "D": dd.ravel()})
    loss = table["law_median"].to_numpy().reshape(nn.shape)

    ax, _ = one_axes(ax, (8, 6))
    levels = np.geomspace(np.nanmin(loss), np.nanmax(loss), 14)
    norm = matplotlib.colors.Normalize(levels[0], levels[-1])
    filled = ax.contourf(nn, dd, loss, levels=levels, norm=norm, cmap="viridis", alpha=0.85)
    lines = ax.contour(nn, dd, loss, levels=levels, colors="white", linewidths=0.6)
    ax.clabel(lines, fmt=lambda v: f"{v:.3g}", fontsize=7)
    ax.scatter(
        n_obs,
        d_obs,
        c=runs.y,
        norm=norm,
        cmap="viridis",
        s=18,
        edgecolor="k",
        lw=0.5,
        zorder=3,
        label="runs (colour: observed loss)",
    )
    low, high = compute_of(fit, n_grid[[0, -1]], d_grid[[0, -1]])
    _compute_lines(ax, fit, n_grid, low, high)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)  # the frontier's own budgets
        optimum = fit.compute_optimal(np.geomspace(low, high, 40))
    ax.plot(
        optimum["N_median"],
        optimum["D_median"],
        color="crimson",
        lw=1.8,
        label="compute-optimal frontier (median)",
    )
    for point in points:
        ax.plot(
            point["N"],
            point["D"],
            "*",
            ms=15,
            color="crimson",
            mec="k",
            zorder=4,
            label=f"target N={point['N']:.3g}, D={point['D']:.3g}",
        )
    _lighten_beyond(ax, n_grid, d_grid, n_obs.max(), d_obs.max())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(n_grid[0], n_grid[-1])
    ax.set_ylim(d_grid[0], d_grid[-1])
    ax.set_xlabel(input_label(fit, "N"))
    ax.set_ylabel(input_label(fit, "D"))
    bar = ax.figure.colorbar(filled, ax=ax, label=f"posterior median {runs.y_name}")
    bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
    ax.set_title(f"{fit.law.name}: iso-loss contours of the posterior median law", fontsize=10)
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    return ax


def _lighten_beyond(
    ax: Axes, n_grid: np.ndarray, d_grid: np.ndarray, n_max: float, d_max: float
) -> None:
    """Beyond the largest N or D of the runs the contours are extrapolated: lighter there."""
    ax.fill_between(n_grid, d_max, d_grid[-1], color="white", alpha=0.35, lw=0)
    ax.fill_betweenx(
        [d_grid[0], d_max],
        n_max,
        n_grid[-1],
        color="white",
        alpha=0.35,
        lw=0,
        label="beyond the largest N or D (lighter)",
    )
    ax.plot([n_grid[0], n_max, n_max], [d_max, d_max, d_grid[0]], "--", color="k", lw=0.8)
