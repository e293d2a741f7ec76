"""Plots of fits: data, posterior curves, credible and predictive bands, extrapolation."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from bayescale._files import temporary_beside
from bayescale.errors import BayescaleError
from bayescale.fitting import Fit
from bayescale.forecast import level_label

__all__ = [
    "figure_to_png",
    "plot_comparison",
    "plot_fit",
    "plot_forecast_fan",
    "plot_frontier",
    "plot_loss_contours",
    "plot_pair",
    "plot_ppc",
    "plot_prior_posterior",
    "plot_rank",
    "plot_residuals",
    "posterior_predictive",
    "save_figure",
]

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
    tmp = temporary_beside(path, suffix=path.suffix)
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
    # Log scales first: the shading of the extrapolated region reads the autoscaled limits,
    # which on a linear axis can start below zero and then vanish on the log axis.
    ax.set_xscale("log")
    ax.set_yscale("log")
    inputs = set(fit.law.inputs)
    if {"N", "D"} <= inputs and inputs <= {"N", "D", "C"}:
        _isoflop(ax, fit, _budgets(fit, budgets), targets, level)
    elif len(inputs) == 1:
        _single(ax, fit, level)
    else:
        _observed_vs_predicted(ax, fit, level)
    ax.set_ylabel(fit.runs.y_name)
    _plain_numbers(ax.yaxis)
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


# ---------------------------------------------------------------------------------------
# Due-diligence plots: each answers one question a reviewer asks of a fit.


def _has_n_and_d(fit: Fit) -> bool:
    return {"N", "D"} <= set(fit.law.inputs)


def _is_n_d_law(fit: Fit) -> bool:
    """Laws of N and D alone (C is derived), which have a plane to draw contours in."""
    inputs = set(fit.law.inputs)
    return {"N", "D"} <= inputs <= {"N", "D", "C"}


@contextlib.contextmanager
def _quiet_arviz() -> Iterator[None]:
    """Hide ArviZ's deprecation notices about its own use of matplotlib and pandas: they are
    not the user's to act on, and would repeat once per panel."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
        yield


def _figure_of(axes: Any) -> Figure:
    """The figure behind what ArviZ returns (one axis or an array of them)."""
    first = np.ravel(np.asarray(axes, dtype=object))[0]
    return first.figure


def _input_label(fit: Fit, name: str) -> str:
    if name == "C" and not fit.law.inputs.get("C"):
        return f"compute C = {fit.runs.compute_factor:g} N D (FLOPs)"
    meaning = fit.law.inputs.get(name, "")
    return f"{name} ({meaning})" if meaning else name


def _plain_numbers(axis: Any) -> None:
    """Label a log axis spanning less than a decade or two with plain numbers (2.5, not
    2.5 x 10^0), on minor ticks too, which are the only ticks in such a range."""
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda value, _: f"{value:.3g}")
    axis.set_major_formatter(formatter)
    axis.set_minor_formatter(formatter)


def _shade_beyond(ax: Any, start: float, label: str | None = "beyond the largest run") -> None:
    """Shade the part of a log x-axis to the right of `start` (the extrapolation region)."""
    low, high = ax.get_xlim()
    if start < high:
        ax.axvspan(max(start, low), high, color="0.92", zorder=0, lw=0, label=label)
    ax.set_xlim(low, high)


def plot_loss_contours(
    fit: Fit,
    *,
    targets: Sequence[Mapping[str, float]] = (),
    grid_size: int = 60,
) -> Figure:
    """Iso-loss contours of the posterior median law in the (N, D) plane.

    The runs are drawn over the contours in the same colours, with lines of constant compute
    (C = k N D), the posterior median compute-optimal frontier and the target points; the
    region beyond the largest N or D of the runs is shaded.

    Parameters
    ----------
    fit : Fit
        A fit of a law in N and D (C derived).
    targets : sequence of mapping, optional
        Points to mark, e.g. ``[{"N": 70e9, "D": 1.4e12}]``.
    grid_size : int, default 60
        Grid points per axis.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    BayescaleError
        If the law is not a law of N and D.
    """
    if not _is_n_d_law(fit):
        raise BayescaleError(
            f"iso-loss contours need a law of N and D; {fit.law.name} has "
            f"{', '.join(fit.law.inputs)}"
        )
    runs, k = fit.runs, fit.runs.compute_factor
    n_obs, d_obs = runs.x("N"), runs.x("D")
    n_all = np.concatenate([n_obs, [t["N"] for t in targets if "N" in t]])
    d_all = np.concatenate([d_obs, [t["D"] for t in targets if "D" in t]])
    n_grid = np.geomspace(n_all.min() / 3, n_all.max() * 3, grid_size)
    d_grid = np.geomspace(d_all.min() / 3, d_all.max() * 3, grid_size)
    nn, dd = np.meshgrid(n_grid, d_grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a failed fit is flagged in the title
        table = fit.forecast({"N": nn.ravel(), "D": dd.ravel()})
    loss = table["law_median"].to_numpy().reshape(nn.shape)

    fig, ax = plt.subplots(figsize=(8, 6))
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
    for budget in 10.0 ** np.arange(
        np.ceil(np.log10(k * nn.min() * dd.min())),
        np.floor(np.log10(k * nn.max() * dd.max())) + 1,
        2,
    ):
        ax.plot(n_grid, budget / (k * n_grid), ":", color="0.3", lw=0.8)
        ax.annotate(
            f"C={budget:.0e}",
            (n_grid[-1], budget / (k * n_grid[-1])),
            fontsize=6,
            color="0.3",
            ha="right",
            va="bottom",
            annotation_clip=True,
        )
    budgets = np.geomspace(k * n_grid[0] * d_grid[0], k * n_grid[-1] * d_grid[-1], 40)
    optimum = fit.compute_optimal(budgets)
    ax.plot(
        optimum["N_median"],
        optimum["D_median"],
        color="crimson",
        lw=1.8,
        label="compute-optimal frontier (median)",
    )
    for target in targets:
        if "N" in target and "D" in target:
            ax.plot(
                target["N"],
                target["D"],
                "*",
                ms=15,
                color="crimson",
                mec="k",
                zorder=4,
                label=f"target N={target['N']:.3g}, D={target['D']:.3g}",
            )
    # Beyond the largest N or D of the runs the contours are extrapolated: lighter there.
    n_max, d_max = n_obs.max(), d_obs.max()
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
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(n_grid[0], n_grid[-1])
    ax.set_ylim(d_grid[0], d_grid[-1])
    ax.set_xlabel(_input_label(fit, "N"))
    ax.set_ylabel(_input_label(fit, "D"))
    bar = fig.colorbar(filled, ax=ax, label=f"posterior median {runs.y_name}")
    bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
    ax.set_title(f"{fit.law.name}: iso-loss contours of the posterior median law", fontsize=10)
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    return fig


def plot_residuals(fit: Fit, *, level: float = 0.9) -> Figure:
    """Relative residuals of the runs against each input, with the predictive band.

    A residual is ``observed / posterior median law - 1``; the grey bar of each run is its
    predictive interval on the same scale (what run-to-run noise and the law's uncertainty
    allow). A trend against an input means the law's form misses something at that scale.

    Parameters
    ----------
    fit : Fit
        The fit.
    level : float, default 0.9
        Level of the predictive intervals.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per input of the law (at most three).
    """
    names = list(fit.law.inputs)[:3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = fit.forecast(fit.runs.table[list(fit.law.inputs)], level=level)
    tag = level_label(level)
    median = table["law_median"].to_numpy()
    resid = 100 * (fit.runs.y / median - 1)
    low = 100 * (table[f"pred_lower_{tag}"].to_numpy() / median - 1)
    high = 100 * (table[f"pred_upper_{tag}"].to_numpy() / median - 1)
    inside = float(np.mean((resid >= low) & (resid <= high)))
    fig, axes = plt.subplots(
        1, len(names), figsize=(4.2 * len(names) + 1, 3.8), sharey=True, squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=True):
        x = fit.runs.x(name)
        ax.vlines(x, low, high, color="0.75", lw=2, label=f"{100 * level:.0f}% predictive interval")
        ax.scatter(x, resid, s=14, color="C0", edgecolor="k", lw=0.3, zorder=3, label="runs")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(_input_label(fit, name))
        ax.grid(True, which="major", alpha=0.25)
    axes[0][0].set_ylabel("observed / median law - 1 (%)")
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(
        f"{fit.law.name}: residuals vs scale ({inside:.0%} of runs inside their "
        f"{100 * level:.0f}% predictive interval)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def posterior_predictive(fit: Fit, seed: int | None = None) -> Any:
    """Replicated runs from the posterior, computed in NumPy (no resampling of the model).

    For every posterior draw and observed run: the law at the run's inputs times the
    multiplicative noise of the likelihood (Student-t or normal on log loss), one
    independent noise term per draw and run.

    Parameters
    ----------
    fit : Fit
        The fit.
    seed : int, optional
        Seed of the noise; default the fit's seed.

    Returns
    -------
    arviz.InferenceData
        ``posterior_predictive`` and ``observed_data``, each with variable ``loss`` over
        ``run``, on the loss scale (not log).
    """
    import arviz as az

    post = fit.idata.posterior
    shape = (post.sizes["chain"], post.sizes["draw"])
    theta = {name: post[name].values[..., None] for name in fit.law.parameters}
    x = {name: fit.runs.x(name) for name in fit.law.inputs}
    log_mu = np.broadcast_to(fit.law.log_mean(theta, x), (*shape, len(fit.runs)))
    rng = np.random.default_rng(fit.seed if seed is None else seed)
    sigma = post["sigma"].values[..., None]
    if fit.law.likelihood.family == "student_t":
        nu = np.broadcast_to(post["nu"].values[..., None], log_mu.shape)
        noise = rng.standard_t(nu)
    else:
        noise = rng.standard_normal(log_mu.shape)
    replicated = np.exp(log_mu + sigma * noise)
    return az.from_dict(
        posterior_predictive={"loss": replicated},
        observed_data={"loss": fit.runs.y},
        dims={"loss": ["run"]},
    )


def plot_ppc(fit: Fit, *, num_pp_samples: int = 100, seed: int | None = None) -> Figure:
    """Posterior predictive check: observed losses against replicated data sets.

    Left: densities of the log losses of replicated data sets (ArviZ's ``plot_ppc``) against
    the observed one. Right: each run's observed loss against the 5-95% range of its
    replications, sorted, showing where the model under- or over-predicts.

    Parameters
    ----------
    fit : Fit
        The fit.
    num_pp_samples : int, default 100
        Replicated data sets drawn in the density panel.
    seed : int, optional
        Seed of the replications; default the fit's seed.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    import arviz as az

    replicated = posterior_predictive(fit, seed)
    logged = az.from_dict(
        posterior_predictive={"log_loss": np.log(replicated.posterior_predictive["loss"].values)},
        observed_data={"log_loss": np.log(fit.runs.y)},
        dims={"log_loss": ["run"]},
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    with _quiet_arviz():
        az.plot_ppc(
            logged,
            num_pp_samples=min(num_pp_samples, _n_draws(fit)),
            random_seed=fit.seed,
            ax=left,
            legend=True,
            textsize=9,
        )
    left.set_xlabel(f"log {fit.runs.y_name}")
    left.set_title("density of log loss: replicated vs observed", fontsize=9)
    draws = replicated.posterior_predictive["loss"].values.reshape(-1, len(fit.runs))
    low, mid, high = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    order = np.argsort(mid)
    rank = np.arange(len(order))
    ratio_low, ratio_high = low[order] / mid[order], high[order] / mid[order]
    observed = fit.runs.y[order] / mid[order]
    right.fill_between(
        rank,
        100 * (ratio_low - 1),
        100 * (ratio_high - 1),
        color="C0",
        alpha=0.25,
        lw=0,
        label="5-95% of replications",
    )
    outside = (observed < ratio_low) | (observed > ratio_high)
    right.scatter(
        rank,
        100 * (observed - 1),
        s=10,
        c=np.where(outside, "crimson", "k"),
        zorder=3,
        label=f"observed ({outside.mean():.0%} outside)",
    )
    right.axhline(0, color="k", lw=0.6)
    right.set_xlabel("runs, sorted by predicted loss")
    right.set_ylabel("observed / median replication - 1 (%)")
    right.set_title("each run against its replications", fontsize=9)
    right.legend(fontsize=7)
    fig.suptitle(f"{fit.law.name}: posterior predictive check", fontsize=10)
    fig.tight_layout()
    return fig


def _n_draws(fit: Fit) -> int:
    return fit.diagnostics.chains * fit.diagnostics.draws


def plot_rank(fit: Fit) -> Figure:
    """Trace and rank plots of every parameter (ArviZ's ``plot_trace``, rank kind).

    Left: the marginal posterior of each chain; right: the ranks of each chain's draws among
    all draws. Well-mixed chains have flat, overlapping rank histograms.

    Parameters
    ----------
    fit : Fit
        The fit.

    Returns
    -------
    matplotlib.figure.Figure
        One row per parameter.
    """
    import arviz as az

    names = fit.parameter_names
    with _quiet_arviz():
        axes = az.plot_trace(
            fit.idata,
            var_names=names,
            kind="rank_vlines",
            figsize=(10, 1.55 * len(names) + 0.6),
            compact=False,
            legend=False,
        )
    fig = _figure_of(axes)
    for ax in np.ravel(axes):
        ax.xaxis.label.set_fontsize(8)
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=8)
    fig.suptitle(
        f"{fit.law.name}: posterior per chain (left) and rank plots (right)"
        + ("" if fit.ok else "  [DIAGNOSTICS FAILED]"),
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _log_scale(values: np.ndarray) -> bool:
    return bool(np.all(values > 0))


def _density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A Gaussian KDE scaled to peak 1 (shapes compared, not heights)."""
    from scipy import stats

    values = values[np.isfinite(values)]
    if len(values) < 2 or np.std(values) == 0:
        return np.zeros_like(grid)
    density = stats.gaussian_kde(values)(grid)
    peak = density.max()
    return density / peak if peak > 0 else density


def plot_prior_posterior(fit: Fit, *, published: bool = True) -> Figure:
    """Prior against posterior of every parameter, with published values where they exist.

    Each panel overlays the prior density (grey, from ``idata.prior``) and the posterior
    density (blue), each scaled to peak 1, on a log axis for positive parameters. A posterior
    much narrower than its prior was learnt from the data; one that looks like the prior was
    not.

    Parameters
    ----------
    fit : Fit
        The fit; without prior draws (``prior_draws=0``) only posteriors are drawn.
    published : bool, default True
        Mark the law's published values (e.g. Hoffmann 2022, Besiroglu 2024).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per parameter.
    """
    names = fit.parameter_names
    columns = min(4, len(names))
    rows = int(np.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.5 * rows), squeeze=False)
    prior = fit.idata.prior if "prior" in fit.idata.groups() else None
    posterior = fit.draws()
    styles = ["--", "-.", ":"]
    for ax, name in zip(axes.ravel(), names, strict=False):
        post = posterior[name]
        before = (
            np.asarray(prior[name].values, dtype=float).reshape(-1)
            if prior is not None and name in prior
            else None
        )
        log = _log_scale(post) and (before is None or _log_scale(before))
        transform = np.log10 if log else (lambda v: v)
        t_post = transform(post)
        span = [np.quantile(t_post, 0.001), np.quantile(t_post, 0.999)]
        if before is not None:
            t_prior = transform(before)
            span = [
                min(span[0], np.quantile(t_prior, 0.01)),
                max(span[1], np.quantile(t_prior, 0.99)),
            ]
        width = span[1] - span[0] or 1.0
        grid = np.linspace(span[0] - 0.05 * width, span[1] + 0.05 * width, 400)
        x = 10**grid if log else grid
        if before is not None:
            ax.fill_between(
                x, _density(t_prior, grid), color="0.6", alpha=0.45, lw=0, label="prior"
            )
        ax.fill_between(x, _density(t_post, grid), color="C0", alpha=0.6, lw=0, label="posterior")
        if published:
            for style, (source, values) in zip(styles, fit.law.published.items(), strict=False):
                if name in values:
                    ax.axvline(values[name], color="crimson", ls=style, lw=1.2, label=source)
        if log:
            ax.set_xscale("log")
        ax.set_yticks([])
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    handles, labels = {}, []
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    fig.legend(
        [handles[label] for label in labels],
        labels,
        loc="lower center",
        ncol=len(labels),
        fontsize=8,
        frameon=False,
    )
    note = "" if prior is not None else " (no prior draws in this fit)"
    fig.suptitle(
        f"{fit.law.name}: prior vs posterior, densities scaled to peak 1{note}", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_pair(fit: Fit) -> Figure:
    """Joint posterior of the exponents and the floor (ArviZ's ``plot_pair``).

    Correlations here show which combinations the data pin down and which they trade off
    (a lower floor with steeper exponents fits the same runs): the source of most
    extrapolation uncertainty.

    Parameters
    ----------
    fit : Fit
        The fit.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    import arviz as az

    names = [*fit.law.exponents, *([fit.law.floor] if fit.law.floor else [])]
    if len(names) < 2:
        names = list(fit.law.parameters)[:4]
    if len(names) < 2:
        names = [*names, "sigma"]
    size = 2.0 * len(names) + 1
    with _quiet_arviz():
        axes = az.plot_pair(
            fit.idata,
            var_names=names,
            kind="scatter",
            marginals=True,
            divergences=True,
            figsize=(size, size),
            scatter_kwargs={"alpha": 0.35, "s": 5},
            textsize=10,
        )
    fig = _figure_of(axes)
    fig.suptitle(f"{fit.law.name}: joint posterior of {', '.join(names)}", fontsize=10)
    return fig


def plot_frontier(
    fit: Fit,
    *,
    budgets: Sequence[float] = (),
    level: float = 0.9,
    fixed: Mapping[str, float] | None = None,
) -> Figure:
    """The compute-optimal frontier with credible bands: N, D, tokens per parameter, loss.

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

    Returns
    -------
    matplotlib.figure.Figure
        Four panels against compute.

    Raises
    ------
    BayescaleError
        If the law lacks N or D.
    """
    if not _has_n_and_d(fit):
        raise BayescaleError(
            f"the compute-optimal frontier needs a law of N and D; {fit.law.name} has "
            f"{', '.join(fit.law.inputs)}"
        )
    k = fit.runs.compute_factor
    c_runs = k * fit.runs.x("N") * fit.runs.x("D")
    top = max([c_runs.max(), *budgets]) * 10
    grid = np.geomspace(c_runs.min(), top, 40)
    table = fit.compute_optimal(grid, level=level, fixed=fixed)
    tag = level_label(level)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    panels = [
        ("N", "optimal parameters N", fit.runs.x("N")),
        ("D", "optimal tokens D", fit.runs.x("D")),
        ("tokens_per_parameter", "tokens per parameter D/N", None),
        ("loss", f"{fit.runs.y_name} at the optimum (law)", fit.runs.y),
    ]
    for ax, (name, label, observed) in zip(axes.ravel(), panels, strict=True):
        ax.fill_between(
            grid,
            table[f"{name}_lower_{tag}"],
            table[f"{name}_upper_{tag}"],
            color="C0",
            alpha=0.3,
            lw=0,
            label=f"{100 * level:.0f}% credible",
        )
        ax.plot(grid, table[f"{name}_median"], color="C0", lw=1.6, label="median")
        if observed is not None:
            ax.scatter(c_runs, observed, s=8, color="0.35", zorder=3, label="runs")
        for budget in budgets:
            ax.axvline(budget, color="crimson", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(True, which="major", alpha=0.25)
        if name in ("tokens_per_parameter", "loss"):
            _plain_numbers(ax.yaxis)
        _shade_beyond(ax, c_runs.max())
    for ax in axes[1]:
        ax.set_xlabel(f"compute C = {k:g} N D (FLOPs)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    marks = " (dashed: your budgets)" if len(budgets) else ""
    fig.suptitle(f"{fit.law.name}: compute-optimal frontier{marks}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_comparison(loo: Any, extrapolation: Any = None) -> Figure:
    """Model comparison: PSIS-LOO (ArviZ's ``plot_compare``) and held-out scores.

    Parameters
    ----------
    loo : pandas.DataFrame
        ArviZ's comparison table (:attr:`bayescale.Comparison.loo`).
    extrapolation : pandas.DataFrame, optional
        Held-out scores (:attr:`bayescale.Comparison.extrapolation`): adds panels of the
        log predictive density per held-out run and of the 90% interval coverage.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    import arviz as az

    held_out = extrapolation is not None and len(extrapolation) > 0
    height = 0.45 * len(loo) + 2.2
    fig = plt.figure(figsize=(10, height * (2 if held_out else 1)))
    grid = fig.add_gridspec(2 if held_out else 1, 2)
    top = fig.add_subplot(grid[0, :])
    with _quiet_arviz():
        az.plot_compare(loo, ax=top, legend=False, title=False, textsize=9)
    top.set_title("PSIS-LOO (interpolation): higher is better", fontsize=9)
    if held_out:
        axes = [[top, fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])]]
        laws = list(dict.fromkeys(extrapolation["law"]))
        holdouts = list(dict.fromkeys(extrapolation["holdout"]))
        width = 0.8 / len(holdouts)
        for j, holdout in enumerate(holdouts):
            part = extrapolation[extrapolation["holdout"] == holdout].set_index("law")
            ypos = np.arange(len(laws)) + j * width
            for ax, column in ((axes[0][1], "elpd_per_run"), (axes[0][2], "coverage_90")):
                values = [part[column].get(law, np.nan) for law in laws]
                ax.barh(ypos, values, height=width, label=holdout, color=f"C{j}")
        for ax in axes[0][1:]:
            ax.set_yticks(np.arange(len(laws)) + (len(holdouts) - 1) * width / 2, laws, fontsize=8)
            ax.invert_yaxis()  # first law on top, as in the LOO panel
            ax.grid(True, axis="x", alpha=0.25)
        axes[0][1].set_title("held-out runs: log density per run (higher is better)", fontsize=9)
        axes[0][2].set_yticklabels([])
        axes[0][2].axvline(0.9, color="k", ls="--", lw=1)
        axes[0][2].set_xlim(0, 1.05)
        axes[0][2].set_title("held-out runs inside the 90% interval (target 0.9)", fontsize=9)
        axes[0][1].legend(
            fontsize=7, title="held out", title_fontsize=7, loc="lower left", framealpha=0.9
        )
    fig.tight_layout()
    return fig


def _fan_path(
    fit: Fit, target: Mapping[str, float]
) -> tuple[str, dict[str, np.ndarray], np.ndarray]:
    """Points from the smallest run's scale to past a target, along the target's direction.

    Laws of N and D follow the target's tokens per parameter, with compute on the x-axis;
    other laws scale their first input and keep the others at the target's values.
    """
    if _has_n_and_d(fit) and "N" in target and "D" in target:
        k = fit.runs.compute_factor
        c_target = k * target["N"] * target["D"]
        c_runs = k * fit.runs.x("N") * fit.runs.x("D")
        factors = np.geomspace(min(c_runs.min(), c_target) / c_target, 4.0, 80)
        points = {name: np.full_like(factors, value) for name, value in target.items()}
        points.update({"N": target["N"] * factors**0.5, "D": target["D"] * factors**0.5})
        points.pop("C", None)
        return "C", points, c_target * factors
    name = next(n for n in fit.law.inputs if n in target)
    observed = fit.runs.x(name)
    factors = np.geomspace(min(observed.min(), target[name]) / target[name], 4.0, 80)
    points = {n: np.full_like(factors, v) for n, v in target.items()}
    points[name] = target[name] * factors
    return name, points, points[name]


def plot_forecast_fan(
    fit: Fit,
    targets: Sequence[Mapping[str, float]],
    *,
    levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95),
) -> Figure:
    """Fan chart of the predictive distribution of a new run, out to each target.

    Each panel follows one target's direction from the runs' scale to 4x past it: nested
    predictive intervals (darker: narrower), the median law, the target with its widest
    interval, and the region beyond the data shaded (where ``forecast`` reports an
    extrapolation ratio above 1).

    Parameters
    ----------
    fit : Fit
        The fit.
    targets : sequence of mapping
        At most four points, e.g. ``[{"N": 70e9, "D": 1.4e12}]``.
    levels : sequence of float, default (0.5, 0.8, 0.9, 0.95)
        Nested predictive levels.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per target.
    """
    targets = list(targets)[:4]
    if not targets:
        raise BayescaleError("the fan chart needs at least one target point")
    levels = sorted(levels)
    fig, axes = plt.subplots(
        1, len(targets), figsize=(max(8.0, 5.2 * len(targets) + 0.5), 4.2), squeeze=False
    )
    for ax, target in zip(axes[0], targets, strict=True):
        axis_name, points, x = _fan_path(fit, target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
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
        widest = level_label(levels[-1])
        x_target = (
            float(target[axis_name])
            if axis_name in target
            else fit.runs.compute_factor * target["N"] * target["D"]
        )
        median = float(at_target["pred_median"].iloc[0])
        ax.errorbar(
            [x_target],
            [median],
            yerr=[
                [median - float(at_target[f"pred_lower_{widest}"].iloc[0])],
                [float(at_target[f"pred_upper_{widest}"].iloc[0]) - median],
            ],
            fmt="*",
            ms=12,
            color="crimson",
            capsize=4,
            zorder=4,
            label="target",
        )
        beyond = table["extrapolation"].to_numpy() > 1
        if beyond.any():
            start = float(x[np.argmax(beyond)])
            ax.axvspan(start, x.max(), color="0.92", zorder=0, lw=0, label="beyond the data")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(x.min(), x.max())
        _plain_numbers(ax.yaxis)
        ax.set_xlabel(_input_label(fit, axis_name))
        where = ", ".join(f"{k}={v:.3g}" for k, v in target.items())
        ax.set_title(where, fontsize=9)
        ax.grid(True, which="major", alpha=0.25)
    axes[0][0].set_ylabel(f"{fit.runs.y_name} of a new run")
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{fit.law.name}: forecast fan chart towards the targets", fontsize=10)
    fig.tight_layout()
    return fig


def figure_to_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes and close it.

    Parameters
    ----------
    fig : Figure
        The figure.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    bytes
        The PNG file's content.
    """
    import io

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()
