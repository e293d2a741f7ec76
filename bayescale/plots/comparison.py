"""Model comparison: PSIS-LOO of competing laws and their scores on held-out larger runs."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bayescale.errors import BayescaleError
from bayescale.plots._common import quiet_arviz

__all__ = ["plot_comparison"]


def _comparison_axes(axes: Any, held_out: bool, n_laws: int) -> tuple[np.ndarray, bool]:
    """The caller's axes, or a new figure: LOO across the top, held-out panels below."""
    needed = 3 if held_out else 1
    if axes is not None:
        given = np.ravel(np.asarray(axes, dtype=object))
        if given.size < needed:
            raise BayescaleError(f"the comparison plot needs {needed} axes, got {given.size}")
        return np.asarray(axes, dtype=object), False
    height = 0.45 * n_laws + 2.2
    fig = Figure(figsize=(10, height * (2 if held_out else 1)))
    grid = fig.add_gridspec(2 if held_out else 1, 2)
    made = [fig.add_subplot(grid[0, :])]
    if held_out:
        made += [fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])]
    return np.array(made, dtype=object), True


def _held_out_panels(density: Any, coverage: Any, extrapolation: Any) -> None:
    """Bars per law and held-out threshold: log density per run, and 90% coverage."""
    laws = list(dict.fromkeys(extrapolation["law"]))
    holdouts = list(dict.fromkeys(extrapolation["holdout"]))
    width = 0.8 / len(holdouts)
    for j, holdout in enumerate(holdouts):
        part = extrapolation[extrapolation["holdout"] == holdout].set_index("law")
        ypos = np.arange(len(laws)) + j * width
        for ax, column in ((density, "elpd_per_run"), (coverage, "coverage_90")):
            values = [part[column].get(law, np.nan) for law in laws]
            ax.barh(ypos, values, height=width, label=holdout, color=f"C{j}")
    for ax in (density, coverage):
        ax.set_yticks(np.arange(len(laws)) + (len(holdouts) - 1) * width / 2, laws, fontsize=8)
        ax.invert_yaxis()  # first law on top, as in the LOO panel
        ax.grid(True, axis="x", alpha=0.25)
    density.set_title("held-out runs: log density per run (higher is better)", fontsize=9)
    coverage.set_yticklabels([])
    coverage.axvline(0.9, color="k", ls="--", lw=1)
    coverage.set_xlim(0, 1.05)
    coverage.set_title("held-out runs inside the 90% interval (target 0.9)", fontsize=9)
    density.legend(fontsize=7, title="held out", title_fontsize=7, loc="lower left", framealpha=0.9)


def plot_comparison(loo: Any, extrapolation: Any = None, *, axes: Any = None) -> np.ndarray:
    """Model comparison: PSIS-LOO (ArviZ's ``plot_compare``) and held-out scores.

    Parameters
    ----------
    loo : pandas.DataFrame
        ArviZ's comparison table (:attr:`bayescale.Comparison.loo`).
    extrapolation : pandas.DataFrame, optional
        Held-out scores (:attr:`bayescale.Comparison.extrapolation`): adds panels of the
        log predictive density per held-out run and of the 90% interval coverage.
    axes : array of matplotlib.axes.Axes, optional
        Where to draw: one (LOO), or three with held-out scores (LOO, density, coverage);
        default a new figure.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        The LOO panel, then the held-out panels if any.
    """
    import arviz as az

    held_out = extrapolation is not None and len(extrapolation) > 0
    axes, owned = _comparison_axes(axes, held_out, len(loo))
    flat = np.ravel(axes)
    with quiet_arviz():
        az.plot_compare(loo, ax=flat[0], legend=False, title=False, textsize=9)
    flat[0].set_title("PSIS-LOO (interpolation): higher is better", fontsize=9)
    if held_out:
        _held_out_panels(flat[1], flat[2], extrapolation)
    if owned:
        flat[0].figure.tight_layout()
    return axes
