"""bayescale: Bayesian fitting, forecasting and comparison of neural scaling laws.

The API in four names: :func:`load_runs` reads a table of training runs, :func:`fit` samples
the posterior of a law from the ``models/`` catalog (or your own, :meth:`Law.from_formula`),
:meth:`Fit.forecast` gives the loss at new scales with credible and predictive intervals, and
:func:`load_fit` reads a saved fit back.
"""

from __future__ import annotations

import warnings

# ArviZ 0.23 announces its 1.0 rewrite on import; it is not actionable for bayescale's users.
warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)

from bayescale.data import Runs, load_runs  # noqa: E402
from bayescale.errors import (  # noqa: E402
    BayescaleError,
    ConvergenceError,
    DataError,
    DataWarning,
    FormulaError,
    LawError,
    OutputExistsError,
)
from bayescale.fitting import Diagnostics, Fit, fit, load_fit  # noqa: E402
from bayescale.formula import Formula  # noqa: E402
from bayescale.laws import Law, Likelihood, Parameter, catalog, get_law  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "BayescaleError",
    "ConvergenceError",
    "DataError",
    "DataWarning",
    "Diagnostics",
    "Fit",
    "Formula",
    "FormulaError",
    "Law",
    "LawError",
    "Likelihood",
    "OutputExistsError",
    "Parameter",
    "Runs",
    "__version__",
    "catalog",
    "fit",
    "get_law",
    "load_fit",
    "load_runs",
]
