"""Plots of fits: data, posterior curves, credible and predictive bands, extrapolation, checks.

Every ``plot_*`` function draws into the axes it is given (``ax=`` for one panel, ``axes=``
for several) or, by default, into a new figure, and returns the axes it drew on: compose
them with your own figures, adjust them, and reach the figure as ``ax.figure``. No backend
is chosen here: new figures are made without pyplot, so writing them to files
(:func:`save_figure`) or PNG bytes (:func:`figure_to_png`) needs no display.

- :mod:`~bayescale.plots.fit`: the fit against the runs, iso-loss contours;
- :mod:`~bayescale.plots.forecast`: compute-optimal frontier, forecast fan chart;
- :mod:`~bayescale.plots.diagnostics`: residuals, posterior predictive check, rank, prior
  against posterior, joint posterior;
- :mod:`~bayescale.plots.comparison`: PSIS-LOO and held-out scores of competing laws;
- :mod:`~bayescale.plots.downstream`: a link from loss to a downstream error, with the
  chained forecast at the targets;
- :mod:`~bayescale.plots.hierarchy`: fits with groups: each group's curves, the population
  of each pooled parameter, shrinkage. The plots of one law refuse a fit with groups with a
  message naming them: give them ``fit.group(name)``; ``plot_rank`` draws the whole fit.
"""

from __future__ import annotations

from bayescale.checks import posterior_predictive
from bayescale.plots.comparison import plot_comparison
from bayescale.plots.diagnostics import (
    plot_pair,
    plot_ppc,
    plot_prior_posterior,
    plot_rank,
    plot_residuals,
)
from bayescale.plots.downstream import plot_link
from bayescale.plots.fit import plot_fit, plot_loss_contours
from bayescale.plots.forecast import plot_forecast_fan, plot_frontier
from bayescale.plots.hierarchy import plot_groups, plot_population, plot_shrinkage
from bayescale.plots.recommend import plot_recommendation
from bayescale.plots.save import figure_to_png, save_figure

__all__ = [
    "figure_to_png",
    "plot_comparison",
    "plot_fit",
    "plot_forecast_fan",
    "plot_frontier",
    "plot_groups",
    "plot_link",
    "plot_loss_contours",
    "plot_pair",
    "plot_population",
    "plot_ppc",
    "plot_prior_posterior",
    "plot_rank",
    "plot_recommendation",
    "plot_residuals",
    "plot_shrinkage",
    "posterior_predictive",
    "save_figure",
]
