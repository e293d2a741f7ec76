"""bayescale: Bayesian fitting, forecasting and comparison of neural scaling laws.

The API in a few names: :func:`load_runs` reads a table of training runs, :func:`fit` samples
the posterior of a law from the ``models/`` catalog (or your own, :meth:`Law.from_formula`),
:meth:`Fit.forecast` gives the loss at new scales with credible and predictive intervals,
:meth:`Fit.compute_optimal` / :meth:`Fit.budget_for` / :meth:`Fit.prob_below` plan compute,
:func:`compare` and :func:`average` weigh competing laws, and :func:`load_fit` reads a saved
fit back. Runs in groups (``load_runs(..., group="dataset")``) get one hierarchical fit with
per-group parameters pooled across groups (:mod:`bayescale.hierarchy`, :func:`compare_pooling`).
:func:`isoflop_minima` measures each IsoFLOP curve's minimum without a law,
:meth:`Fit.recommend` picks the next runs to train,
:func:`sweep` runs many fits from one spec on local processes or a Dask cluster, and
:mod:`bayescale.downstream` forecasts benchmark errors through the loss.

Names are imported on first use: ``import bayescale`` (and the command line's help) stays
fast, and PyMC is loaded only when a fit needs it.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

# ArviZ 0.23 announces its 1.0 rewrite on import; it is not actionable for bayescale's users.
warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)

__version__ = "0.1.0"

_EXPORTS = {
    "Average": "bayescale.comparison",
    "BayescaleError": "bayescale.errors",
    "Comparison": "bayescale.comparison",
    "ConvergenceError": "bayescale.errors",
    "DataError": "bayescale.errors",
    "DataWarning": "bayescale.errors",
    "Diagnostics": "bayescale.fitting",
    "ExtrapolationWarning": "bayescale.errors",
    "Fit": "bayescale.fitting",
    "Formula": "bayescale.formula",
    "FormulaError": "bayescale.errors",
    "Law": "bayescale.laws",
    "LawError": "bayescale.errors",
    "Likelihood": "bayescale.likelihood",
    "NEW_GROUP": "bayescale.hierarchy",
    "OutputExistsError": "bayescale.errors",
    "Parameter": "bayescale.laws",
    "Pooling": "bayescale.hierarchy",
    "Runs": "bayescale.data",
    "SamplerSettings": "bayescale.settings",
    "average": "bayescale.comparison",
    "catalog": "bayescale.laws",
    "compare": "bayescale.comparison",
    "compare_pooling": "bayescale.comparison",
    "fit": "bayescale.fitting",
    "get_law": "bayescale.laws",
    "isoflop_minima": "bayescale.isoflop",
    "load_fit": "bayescale.fitting",
    "load_runs": "bayescale.data",
    "recommend": "bayescale.recommendation",
    "score": "bayescale.comparison",
    "sweep": "bayescale.sweeps",
}

# Public submodules, imported on first use too: ``bayescale.plots.plot_fit(...)`` after a
# bare ``import bayescale``. None shares a name with an export, so none hides a function.
_SUBMODULES = frozenset(
    {
        "checks",
        "comparison",
        "data",
        "demo",
        "discrepancy",
        "downstream",
        "errors",
        "fitting",
        "forecast",
        "formula",
        "hierarchy",
        "isoflop",
        "ladder",
        "laws",
        "likelihood",
        "model",
        "planning",
        "plots",
        "priors",
        "recommendation",
        "report",
        "settings",
        "structure",
        "sweeps",
    }
)

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        # Importing a submodule binds it on the package, so this runs once per name.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'bayescale' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)
