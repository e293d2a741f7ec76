"""Plot of a recommendation: the (N, D) plane with the runs, the candidates and the target."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from bayescale.errors import BayescaleError, ExtrapolationWarning
from bayescale.fitting import Fit
from bayescale.plots._common import finish, input_label, one_axes, one_law

__all__ = ["plot_recommendation"]


def plot_recommendation(
    fit: Fit,
    table: pd.DataFrame,
    ax: Axes | None = None,
    annotate: bool = True,
) -> Axes:
    """Draw the runs, the candidates (coloured by value per cost), the chosen runs and the target.

    A target of budgets (criterion ``optimal_N``) is drawn as its IsoFLOP line, with the
    compute-optimal N now and the 90% interval the plan was valued on: with the law's
    discrepancy (``N_disc_*`` of :meth:`Fit.compute_optimal`) when the plan counted it
    (``table.attrs["discrepancy"]``), else the law's posterior interval.

    Parameters
    ----------
    fit : Fit
        The fit the recommendation was made from (its runs are drawn); a law with inputs
        N and D.
    table : pandas.DataFrame
        The result of :func:`bayescale.recommend` (its ``attrs`` give the target).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    annotate : bool, default True
        Number the chosen runs in the order chosen.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (the figure is ``ax.figure``).

    Raises
    ------
    BayescaleError
        If the law has no inputs N and D, or the table is not a recommendation.
    DataError
        If the fit has groups: give the group the recommendation was made for,
        ``fit.group(name)``.
    """
    if not {"N", "D"} <= set(fit.law.inputs):
        raise BayescaleError(
            f"plot_recommendation draws the (N, D) plane; law {fit.law.name!r} has inputs "
            f"{', '.join(fit.law.inputs)}"
        )
    one_law(fit, "plot_recommendation", " (the group the recommendation was made for)")
    needed = {"N", "D", "value_per_cost", "chosen", "order"}
    if not needed <= set(table.columns):
        missing = sorted(needed - set(table.columns))
        raise BayescaleError(
            f"the table lacks {', '.join(missing)}: give the table bayescale.recommend returned"
        )
    ax, owned = one_axes(ax, (6.4, 4.8))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.scatter(
        fit.runs.x("N"), fit.runs.x("D"), s=14, color="0.35", marker="o", label="runs so far"
    )
    value = table["value_per_cost"].to_numpy(float)
    positive = np.where(value > 0, value, np.nan)
    # Relative to the best candidate: the absolute value, (log loss)^2 per FLOP, means
    # nothing to read off a colour.
    best = np.nanmax(positive) if np.isfinite(positive).any() else 1.0
    shown = np.log10(positive / best)
    cand = ax.scatter(
        table["N"],
        table["D"],
        c=shown,
        cmap="viridis",
        s=28,
        marker="s",
        edgecolors="none",
        label="candidates",
        plotnonfinite=True,
    )
    colorbar = ax.figure.colorbar(cand, ax=ax)
    measure = table.attrs.get("measure", "variance")
    colorbar.set_label(f"expected {measure} reduction per cost\n(log10 of its ratio to the best)")
    chosen = table[table["chosen"]].sort_values("order")
    ax.scatter(
        chosen["N"],
        chosen["D"],
        s=120,
        facecolors="none",
        edgecolors="crimson",
        linewidths=1.8,
        label="chosen",
        zorder=6,
    )
    if annotate:
        for _, row in chosen.iterrows():
            # Above the target's star, which a chosen run can sit under.
            ax.annotate(
                str(int(row["order"])),
                (row["N"], row["D"]),
                xytext=(6, 6),
                textcoords="offset points",
                color="crimson",
                fontsize=9,
                fontweight="bold",
                zorder=7,
            )
    _draw_target(ax, fit, table.attrs)
    ax.set_xlabel(input_label(fit, "N"))
    ax.set_ylabel(input_label(fit, "D"))
    # Below the axes: inside, a long label spills off the figure and hides runs.
    _, labels = ax.get_legend_handles_labels()
    ncol = 2 if max(map(len, labels), default=0) <= 40 else 1
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=ncol, frameon=False)
    criterion = table.attrs.get("criterion", "")
    finish(ax.figure, owned, f"Which run next: {criterion}" if criterion else "Which run next")
    return ax


def _draw_target(ax: Axes, fit: Fit, attrs: dict[str, Any]) -> None:
    points = pd.DataFrame(list(attrs.get("target", [])))
    if points.empty:
        return
    if {"N", "D"} <= set(points.columns):
        ax.scatter(
            points["N"],
            points["D"],
            marker="*",
            s=220,
            color="gold",
            edgecolors="black",
            label="target",
            zorder=5,
        )
        return
    if "C" in points.columns:
        # A compute budget: its IsoFLOP line N D = C / k, across the runs and candidates
        # only (drawn further, it stretches the axes to 1e14 tokens).
        xlim, ylim = ax.get_xlim(), ax.get_ylim()
        low, high = xlim
        n = np.geomspace(low, high, 50)
        budgets = points["C"].to_numpy(float)
        for i, c in enumerate(budgets):
            ax.plot(
                n,
                c / (fit.runs.compute_factor * n),
                color="gold",
                linestyle="--",
                label="target budget" if i == 0 else None,
            )
        # Where the posterior puts the optimum on it now, with the 90% interval in N that the
        # plan is valued on: with the law's discrepancy when the plan counted it.
        with warnings.catch_warnings():
            # A mark on the picture: the recommendation's own table and fit.compute_optimal
            # say how far beyond the backtests the budgets lie.
            warnings.simplefilter("ignore", ExtrapolationWarning)
            plan = fit.compute_optimal(C=list(budgets), fixed=attrs.get("fixed") or None)
        disc = bool(attrs.get("discrepancy")) and "N_disc_lower_90" in plan.columns
        low, high = ("N_disc_lower_90", "N_disc_upper_90") if disc else ("N_lower_90", "N_upper_90")
        what = "with the law's discrepancy" if disc else "the law's posterior"
        ax.errorbar(
            plan["N_median"],
            plan["D_median"],
            xerr=[plan["N_median"] - plan[low], plan[high] - plan["N_median"]],
            fmt="*",
            markersize=14,
            color="gold",
            markeredgecolor="black",
            ecolor="black",
            elinewidth=1.5,
            capsize=4,
            label=f"optimal N now, 90% interval the plan is valued on ({what})",
            zorder=5,
        )
        # The axes hold the runs, the candidates and the optimum with its interval.
        n_ends = [plan[low].min(), plan[high].max()]
        d_ends = [plan["D_median"].min(), plan["D_median"].max()]
        ax.set_xlim(min(xlim[0], n_ends[0] / 1.5), max(xlim[1], n_ends[1] * 1.5))
        ax.set_ylim(min(ylim[0], d_ends[0] / 1.5), max(ylim[1], d_ends[1] * 1.5))
