"""Checks of a fit against its data and its priors: pure functions of a Fit.

- :func:`posterior_predictive`: replicated runs from the posterior, for posterior predictive
  checks (does the model reproduce the runs it was fitted to?).
- :func:`prior_sensitivity`: how much each parameter's posterior depends on its prior
  (power-scaling sensitivity, and the shift from prior to posterior).

They return ArviZ/xarray and pandas objects; the plots and the report draw and show them.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from bayescale.fitting import Fit

__all__ = ["PSENS_THRESHOLD", "posterior_predictive", "prior_sensitivity"]

#: Power-scaling sensitivity above this suggests an influential prior or likelihood
#: (Kallioinen et al. 2024, "Detecting and diagnosing prior and likelihood sensitivity").
PSENS_THRESHOLD = 0.05


def posterior_predictive(fit: Fit, seed: int | None = None) -> Any:
    """Replicated runs from the posterior, computed in NumPy (no resampling of the model).

    For every posterior draw and observed run: the law at the run's inputs with the noise
    of the likelihood on its scale (times ``exp(noise)`` for multiplicative noise on log
    loss, plus ``noise`` for additive noise on the loss), one independent noise term per
    draw and run. For a fit with groups, each run's law is its own group's
    (:meth:`bayescale.Fit.group`).

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

    from bayescale.forecast import law_mu

    post = fit.idata.posterior
    shape = (post.sizes["chain"], post.sizes["draw"])
    # One law per group: each run's mean from its group's view of the draws.
    views = (
        [(fit, np.ones(len(fit.runs), dtype=bool))]
        if fit.pooling is None
        else [(fit.group(g), np.asarray(fit.runs.group) == g) for g in fit.groups]
    )
    mu = np.empty((*shape, len(fit.runs)))
    for view, rows in views:
        theta = {name: view.idata.posterior[name].values[..., None] for name in fit.law.parameters}
        x = {name: fit.runs.x(name)[rows] for name in fit.law.inputs}
        mu[..., rows] = np.broadcast_to(law_mu(fit.law, theta, x), (*shape, int(rows.sum())))
    rng = np.random.default_rng(fit.seed if seed is None else seed)
    lik = fit.law.likelihood
    noise = {name: post[name].values[..., None] for name in lik.noise_names}
    replicated = lik.inverse(mu + lik.draw_noise(noise, rng, shape=mu.shape))
    return az.from_dict(
        posterior_predictive={"loss": replicated},
        observed_data={"loss": fit.runs.y},
        dims={"loss": ["run"]},
    )


def _prior_of(fit: Fit, name: str) -> tuple[str, Any]:
    """The posterior variable a parameter's prior is stated on (``A_ref`` for ``A``)."""
    if name in fit.law.parameters:
        p = fit.law.parameters[name]
        return p.sampled_name, p.prior
    return name, fit.law.likelihood.priors[name]


def _log_prior(fit: Fit) -> Any:
    """Log prior density of every posterior draw, per variable the priors are stated on."""
    import pymc as pm
    import xarray as xr

    post = fit.idata.posterior
    data = {}
    for name in fit.parameter_names:
        variable, prior = _prior_of(fit, name)
        dist = getattr(pm, prior.distribution).dist(**prior.parameters)
        data[variable] = (("chain", "draw"), pm.logp(dist, post[variable].values).eval())
    return xr.Dataset(data, coords={"chain": post["chain"], "draw": post["draw"]})


def _psens_diagnosis(prior: float, likelihood: float) -> str:
    """Kallioinen et al. 2024's reading of the two sensitivities."""
    if prior >= PSENS_THRESHOLD and likelihood >= PSENS_THRESHOLD:
        return "prior-data conflict"
    if prior >= PSENS_THRESHOLD:
        return "strong prior / weak likelihood"
    return "none"


def _power_scaling(fit: Fit, table: pd.DataFrame) -> None:
    """Add ArviZ's power-scaling sensitivities and their diagnosis to ``table``."""
    import arviz as az

    names = list(table.index)
    try:
        # A copy of the fit's InferenceData with the pointwise log likelihood (computed once
        # and kept by the fit) and the log prior (added to the copy only): what psens needs.
        idata = fit.with_log_likelihood().copy()
        with warnings.catch_warnings():
            # ArviZ warns about its own internals (and about the group added here).
            warnings.simplefilter("ignore")
            idata.add_groups({"log_prior": _log_prior(fit)})
            prior_s = az.psens(idata, component="prior", var_names=names)
            lik_s = az.psens(idata, component="likelihood", var_names=names)
        table["psens_prior"] = [float(prior_s[n]) for n in names]
        table["psens_likelihood"] = [float(lik_s[n]) for n in names]
        table["diagnosis"] = [
            _psens_diagnosis(p, q)
            for p, q in zip(table["psens_prior"], table["psens_likelihood"], strict=True)
        ]
    except (AttributeError, KeyError, NotImplementedError, TypeError, ValueError) as err:
        # The shift from prior to posterior is still informative: report why this part is
        # missing rather than failing the whole check.
        table["psens_prior"] = np.nan
        table["psens_likelihood"] = np.nan
        table["diagnosis"] = "not computed"
        table.attrs["psens_error"] = f"{type(err).__name__}: {err}"


def _prior_shift(fit: Fit, variable: str) -> tuple[float, float, str]:
    """Contraction, shift of the mean in prior sd, and the scale they were measured on."""
    prior = fit.idata.prior if "prior" in fit.idata.groups() else None
    if prior is None or variable not in prior:
        return np.nan, np.nan, ""
    before = np.asarray(prior[variable].values, dtype=float).reshape(-1)
    after = np.asarray(fit.idata.posterior[variable].values, dtype=float).reshape(-1)
    scale = "linear"
    if np.all(before > 0) and np.all(after > 0):
        # Positive priors span decades: their spread is only comparable on the log scale.
        before, after, scale = np.log(before), np.log(after), "log"
    sd = before.std(ddof=1)
    return float(1 - after.var(ddof=1) / sd**2), float((after.mean() - before.mean()) / sd), scale


def prior_sensitivity(fit: Fit) -> pd.DataFrame:
    """How much each parameter's posterior depends on its prior.

    Two measures. ArviZ's power-scaling sensitivity (``az.psens``; Kallioinen et al. 2024):
    how much the posterior moves when the prior (or the likelihood) is raised to a power near
    1; above :data:`PSENS_THRESHOLD` the component is influential. It needs the log prior of
    every draw, which is computed here from the law's priors. And the prior-to-posterior
    shift, from ``idata.prior``: ``contraction = 1 - var(posterior) / var(prior)`` (near 1:
    the data taught a lot) and ``shift``, the move of the mean in prior standard deviations;
    both on the variable the prior is stated on (``A_ref`` for a reference-scale ``A``), on
    the log scale for positive priors.

    Parameters
    ----------
    fit : Fit
        The fit.

    Returns
    -------
    pandas.DataFrame
        Per parameter: ``prior_variable``, ``psens_prior``, ``psens_likelihood``,
        ``diagnosis``, ``contraction``, ``shift`` (NaN where not computable) and ``scale``
        (``log`` or ``linear``: where the shift was measured; empty without prior draws).
        ``attrs`` holds ``psens_error`` if the power-scaling check could not run.
    """
    names = fit.parameter_names
    table = pd.DataFrame(index=pd.Index(names, name="parameter"))
    table["prior_variable"] = [_prior_of(fit, n)[0] for n in names]
    _power_scaling(fit, table)
    shifts = [_prior_shift(fit, variable) for variable in table["prior_variable"]]
    table["contraction"] = [s[0] for s in shifts]
    table["shift"] = [s[1] for s in shifts]
    table["scale"] = [s[2] for s in shifts]
    return table
