"""Plots of fits: data, posterior curves, credible and predictive bands, extrapolation."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from bayescale.errors import BayescaleError
from bayescale.fitting import Fit
from bayescale.forecast import level_label

__all__ = ["plot_fit", "save_figure"]

_MAX_CURVES = 9


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 130) -> Path:
    """Write a figure atomically (to a temporary file, then renamed) and close it.

    Parameters
    ----------
    fig : Figure
        The figure.
    path : str or PathLike
        Destination; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    dpi : int, default 130
        Resolution of raster formats.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    except OSError as err:
        raise BayescaleError(f"cannot write '{path}': {err}") from None
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _budgets(fit: Fit, given: Sequence[float] | None) -> np.ndarray:
    if given is not None:
        return np.asarray(sorted(given), dtype=float)
    k = fit.runs.compute_factor
    compute = k * fit.runs.x("N") * fit.runs.x("D")
    unique = np.unique(np.round(np.log10(compute), 2))
    if len(unique) <= _MAX_CURVES:
        return 10.0**unique
    return np.quantile(compute, np.linspace(0.05, 0.95, 6))


def _band(ax: Any, x: np.ndarray, table: Any, level: float, color: Any, dashed: bool) -> None:
    tag = level_label(level)
    style = "--" if dashed else "-"
    ax.plot(x, table["law_median"], style, color=color, lw=1.6)
    ax.fill_between(
        x, table[f"law_lower_{tag}"], table[f"law_upper_{tag}"], color=color, alpha=0.35, lw=0
    )
    ax.fill_between(
        x, table[f"pred_lower_{tag}"], table[f"pred_upper_{tag}"], color=color, alpha=0.12, lw=0
    )


def _isoflop(
    ax: Any, fit: Fit, budgets: np.ndarray, targets: Sequence[Mapping[str, float]], level: float
) -> None:
    runs, k = fit.runs, fit.runs.compute_factor
    n_obs, d_obs = runs.x("N"), runs.x("D")
    c_obs = k * n_obs * d_obs
    target_budgets = [k * t["N"] * t["D"] for t in targets if "N" in t and "D" in t]
    all_budgets = np.concatenate([budgets, target_budgets])
    norm = matplotlib.colors.LogNorm(all_budgets.min(), all_budgets.max())
    cmap = matplotlib.colormaps["viridis"]
    nearest = np.argmin(np.abs(np.log(c_obs)[:, None] - np.log(budgets)[None, :]), axis=1)
    for i, budget in enumerate(budgets):
        color = cmap(norm(budget))
        mine = nearest == i
        ax.scatter(n_obs[mine], runs.y[mine], s=14, color=color, edgecolor="k", lw=0.3, zorder=3)
        low = n_obs[mine].min() / 2 if mine.any() else n_obs.min()
        high = n_obs[mine].max() * 2 if mine.any() else n_obs.max()
        grid = np.geomspace(low, high, 60)
        table = fit.forecast({"N": grid, "C": np.full_like(grid, budget)}, level=level)
        _band(ax, grid, table, level, color, dashed=False)
    for target in targets:
        budget = k * target["N"] * target["D"]
        color = cmap(norm(budget))
        grid = np.geomspace(target["N"] / 8, target["N"] * 8, 60)
        table = fit.forecast({"N": grid, "C": np.full_like(grid, budget)}, level=level)
        _band(ax, grid, table, level, color, dashed=True)
        point = fit.forecast(dict(target), level=level)
        tag = level_label(level)
        median = point["law_median"].iloc[0]
        err = [
            [median - point[f"pred_lower_{tag}"].iloc[0]],
            [point[f"pred_upper_{tag}"].iloc[0] - median],
        ]
        ax.errorbar(
            [target["N"]],
            [median],
            yerr=err,
            fmt="*",
            ms=12,
            color="crimson",
            capsize=4,
            zorder=4,
            label=f"forecast N={target['N']:.3g}, D={target['D']:.3g}",
        )
    xlim = ax.get_xlim()
    ax.axvspan(n_obs.max(), xlim[1], color="0.9", zorder=0, label="beyond the largest run")
    ax.set_xlim(xlim)
    ax.set_xlabel("parameters N")
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    ax.figure.colorbar(sm, ax=ax, label=f"compute C = {k:g} N D (FLOPs)")


def _single(ax: Any, fit: Fit, level: float) -> None:
    name = fit.law.inputs and next(iter(fit.law.inputs))
    x_obs = fit.runs.x(name)
    ax.scatter(x_obs, fit.runs.y, s=14, color="C0", edgecolor="k", lw=0.3, zorder=3, label="runs")
    grid = np.geomspace(x_obs.min() / 2, x_obs.max() * 10, 120)
    _band(ax, grid, fit.forecast({name: grid}, level=level), level, "C0", dashed=False)
    ax.axvspan(x_obs.max(), grid.max(), color="0.9", zorder=0, label="beyond the largest run")
    ax.set_xlabel(f"{name} ({fit.law.inputs[name]})" if fit.law.inputs[name] else name)


def _observed_vs_predicted(ax: Any, fit: Fit, level: float) -> None:
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
) -> Figure:
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
        Points to forecast, e.g. ``[{"N": 70e9, "D": 1.4e12}]``.
    level : float, default 0.9
        Credible level of the bands (dark: the law; light: a new run).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (write it with :func:`save_figure`).
    """
    fig, ax = plt.subplots(figsize=(8, 5.5))
    inputs = set(fit.law.inputs)
    if {"N", "D"} <= inputs and inputs <= {"N", "D", "C"}:
        _isoflop(ax, fit, _budgets(fit, budgets), targets, level)
        ax.set_yscale("log")
    elif len(inputs) == 1:
        _single(ax, fit, level)
        ax.set_yscale("log")
    else:
        _observed_vs_predicted(ax, fit, level)
        ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_ylabel(fit.runs.y_name)
    pct = f"{100 * level:.0f}%"
    verdict = "" if fit.ok else "  [DIAGNOSTICS FAILED]"
    ax.set_title(
        f"{fit.law.name}: posterior median, {pct} credible (dark) and predictive (light) "
        f"bands{verdict}",
        fontsize=10,
    )
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    return fig
