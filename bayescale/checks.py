"""Checks of a fit against its data and its priors: pure functions of a Fit.

- :func:`posterior_predictive`: replicated runs from the posterior, for posterior predictive
  checks (does the model reproduce the runs it was fitted to?).
- :func:`prior_sensitivity`: how much each parameter's posterior depends on its prior
  (power-scaling sensitivity, and the shift from prior to posterior).

They return ArviZ/xarray and pandas objects; the plots and the report draw and show them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.fitting import Fit
from bayescale.priors import is_positive

__all__ = [
    "PSENS_THRESHOLD",
    "posterior_predictive",
    "prior_checks",
    "prior_sensitivity",
]

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


# --------------------------------------------------------------------------- prior checks

#: A posterior mean this many prior standard deviations from the prior's (on the log scale
#: for a positive prior) is a prior-data conflict worth a note. Healthy catalog and default
#: fits on Epoch AI's and the demo's runs stay within 1.6 sd for law parameters, and within
#: 3.3 sd for the noise (nu falls towards heavy tails on Epoch AI's runs); a LogNormal(-1, 1)
#: amplitude whose value is in the hundreds shifts 6 sd.
SHIFT_SDS = 4.0
#: Posterior variance above this share of the prior's (contraction below 1 minus it, sd above
#: 87% of the prior's): the runs did not inform the parameter, its posterior is its prior.
#: The prior's variance comes from 500 prior draws (about 6% Monte Carlo error), so a
#: parameter equal to its prior shows contractions from -0.1 to 0.15 (g of the audit's
#: mylaw on Epoch AI's runs: -0.06 and 0.14); the catalog laws' parameters on Epoch AI's and
#: the demo's runs reach 0.94 or more, except BNSL's break (d1, f1: below 0, rightly noted on
#: runs without a break), farseer's g1 (0.68) and nu, which this check leaves out.
UNINFORMED_VARIANCE = 0.75
#: Posterior correlation beyond which two parameters are not identified separately, when
#: neither is learned well alone (contraction below :data:`CORRELATED_CONTRACTION`). Healthy
#: catalog fits reach -0.998 (E and A of power_law_C on Epoch AI's runs) and +0.999 (farseer),
#: but each parameter of those is learned (contraction 0.99 or more); E1 and E2 of
#: ``E1 + E2 + ...`` correlate at -0.9997 with contractions 0.56.
CORRELATION_MAX = 0.99
CORRELATED_CONTRACTION = 0.8
#: Posterior mass within ``BOUND_BAND`` posterior sds of a bound of the prior's support at
#: or above this share, and ``BOUND_RATIO`` times the prior's there: the bound cuts the
#: posterior.
BOUND_BAND = 0.2
BOUND_SHARE = 0.04
BOUND_RATIO = 3.0
#: The floor's prior mass above the lowest observed loss at or above this share: the prior
#: says the loss never reached lies above losses that were reached. (The default floor prior
#: puts 24% there, the catalog's 28% to 37% on Epoch AI's runs; a wide Normal(0, 2) floor of a
#: metric reaching -0.48 puts 60%, and is no conflict.)
FLOOR_ABOVE = 0.9

#: An input whose whole range in the runs moves the fitted law by less than this share of
#: the noise (the posterior median over draws of the largest change at any run, against the
#: noise's median scale: relative for log-scale noise, in y's units for additive noise): the
#: law ignores it, its terms switched off by the posterior.
IGNORED_EFFECT = 0.01
#: ... and the runs' residuals from the fitted law trend with that input (absolute Spearman
#: correlation at least this): the runs say it matters, so the prior, not the runs, cut it.
IGNORED_TREND = 0.3

_CHECK_COLUMNS = ["parameter", "check", "value", "message"]
#: The checks that find a prior-data conflict (the others find what the runs did not teach).
CONFLICTS = (
    "at lower bound",
    "at upper bound",
    "floor prior above the runs",
    "shift",
    "input ignored",
)


def _support(prior: Any) -> tuple[float | None, float | None]:
    """Bounds of a prior's support that a posterior can pile against (None: unbounded).

    Only bounds the user chose: Uniform, TruncatedNormal and Beta; the zero of a positive
    distribution (LogNormal, HalfNormal...) is approached on the log scale, which the shift
    check reads.
    """
    params = prior.parameters
    if prior.distribution == "Uniform":
        return float(params.get("lower", 0.0)), float(params.get("upper", 1.0))
    if prior.distribution == "Beta":
        return 0.0, 1.0
    if prior.distribution == "TruncatedNormal":
        lower, upper = params.get("lower"), params.get("upper")
        return (
            None if lower is None else float(lower),
            None if upper is None else float(upper),
        )
    return None, None


def _prior_cdf(prior: Any, values: Sequence[float]) -> np.ndarray | None:
    """The prior's CDF at ``values`` (None if PyMC cannot give it)."""
    import pymc as pm

    try:
        dist = getattr(pm, prior.distribution).dist(**prior.parameters)
        with np.errstate(all="ignore"):
            out = np.exp(np.asarray(pm.logcdf(dist, np.asarray(values, dtype=float)).eval()))
    except Exception:
        return None
    return np.asarray(out, dtype=float)


def _scalar_draws(fit: Fit, group: str, variable: str) -> np.ndarray | None:
    """A variable's draws as a flat array, if it is one number per draw in that group."""
    if group not in fit.idata.groups() or variable not in fit.idata[group]:
        return None
    data = fit.idata[group][variable]
    if set(data.dims) != {"chain", "draw"}:
        return None  # per-group parameters of a hierarchical fit: their prior is the population's
    return np.asarray(data.values, dtype=float).reshape(-1)


def _bound_notes(fit: Fit, name: str, variable: str, prior: Any) -> list[dict[str, Any]]:
    """A posterior piled against a bound of its prior's support."""
    lower, upper = _support(prior)
    after = _scalar_draws(fit, "posterior", variable)
    if after is None or (lower is None and upper is None) or after.size < 2:
        return []
    sd = float(after.std(ddof=1))
    if not np.isfinite(sd) or sd <= 0:
        return []
    band = BOUND_BAND * sd
    notes = []
    for side, bound in (("lower", lower), ("upper", upper)):
        if bound is None or not np.isfinite(bound):
            continue
        share = float(np.mean(np.abs(after - bound) <= band))
        edge = [bound, bound + band] if side == "lower" else [bound - band, bound]
        cdf = _prior_cdf(prior, edge)
        prior_share = float(abs(cdf[1] - cdf[0])) if cdf is not None else np.nan
        if share < BOUND_SHARE or (np.isfinite(prior_share) and share < BOUND_RATIO * prior_share):
            continue
        where = f"{variable} ({name} at the reference scale)" if variable != name else name
        notes.append(
            {
                "parameter": name,
                "check": f"at {side} bound",
                "value": share,
                "message": (
                    f"{where} piles against the {side} bound {bound:g} of its prior "
                    f"{prior.distribution} (posterior median {np.median(after):.4g}, "
                    f"{share:.0%} of draws within {band:.2g} of it): the runs want a value "
                    f"beyond the bound, so the prior decides it and the other parameters "
                    f"compensate. Widen the prior's support past {bound:g} unless the bound is "
                    f"known to hold"
                ),
            }
        )
    return notes


def _floor_note(fit: Fit) -> list[dict[str, Any]]:
    """The floor's prior above the lowest observed loss: it says the loss never reached lies
    above losses that were reached."""
    floor = fit.law.floor
    if floor is None:
        return []
    p = fit.law.parameters[floor]
    if p.reference or _scalar_draws(fit, "posterior", floor) is None:
        return []
    lowest = float(np.min(fit.runs.y))
    cdf = _prior_cdf(p.prior, [lowest])
    if cdf is not None and np.isfinite(cdf[0]):
        above = float(1.0 - cdf[0])
    else:
        before = _scalar_draws(fit, "prior", floor)
        if before is None:
            return []
        above = float(np.mean(before > lowest))
    if above < FLOOR_ABOVE:
        return []
    after = _scalar_draws(fit, "posterior", floor)
    return [
        {
            "parameter": floor,
            "check": "floor prior above the runs",
            "value": above,
            "message": (
                f"the floor {floor}'s prior {p.describe_prior()} puts {above:.0%} of its mass "
                f"above the lowest observed loss {lowest:.4g} (posterior median "
                f"{np.median(after):.4g}): a floor is a loss never reached, so the prior "
                f"contradicts the runs and the fit bends the other parameters (and the noise) "
                f"to follow it. Give {floor} a prior below {lowest:.4g}, e.g. LogNormal(mu="
                f"{np.log(0.5 * lowest) if lowest > 0 else 0.4:.3g}, sigma=1)"
            ),
        }
    ]


def _ignored_input_notes(fit: Fit) -> list[dict[str, Any]]:
    """Inputs the fitted law does not depend on over the runs' range although the runs'
    residuals trend with them (see :data:`IGNORED_EFFECT`, :data:`IGNORED_TREND`): the
    posterior switched their terms off, most often because default priors did not suit how
    the formula uses the input. Fits with groups are not checked."""
    if fit.pooling is not None:
        return []
    law, runs = fit.law, fit.runs
    draws = fit.draws([*law.parameters, "sigma"])
    count = len(next(iter(draws.values())))
    pick = np.unique(np.linspace(0, count - 1, min(count, 100)).astype(int))
    theta = {name: np.asarray(draws[name])[pick][:, None] for name in law.parameters}
    noise = float(np.median(draws["sigma"]))
    linear = law.likelihood.scale == "linear"
    at_runs = {name: runs.x(name)[None, :] for name in law.inputs}
    notes = []
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no effect found
        fitted = np.nanmedian(law.predict(theta, at_runs), axis=0)
        residual = runs.y - fitted if linear else np.log(runs.y) - np.log(fitted)
        for name in law.inputs:
            values = runs.x(name)
            if not np.ptp(values) > 0:
                continue  # one value in every run: fit() warns of that
            ends = [
                law.predict(theta, {**at_runs, name: np.full_like(at_runs[name], end)})
                for end in (values.min(), values.max())
            ]
            change = np.abs(ends[1] - ends[0])
            if not linear:
                change = change / np.maximum(np.abs(ends[0]), np.abs(ends[1]))
            effect = float(np.nanmedian(np.nanmax(change, axis=1))) / noise
            if not effect < IGNORED_EFFECT:
                continue
            trend = pd.Series(residual).corr(pd.Series(values), method="spearman")
            if not abs(trend) >= IGNORED_TREND:
                continue  # the runs show no effect of it either
            notes.append(_ignored_note(fit, name, values, effect, float(trend)))
    return notes


def _ignored_note(
    fit: Fit, name: str, values: np.ndarray, effect: float, trend: float
) -> dict[str, Any]:
    law = fit.law
    defaults = [n for n in law.defaulted_parameters if n != law.floor]
    why = (
        f"; its parameters with default priors ({', '.join(defaults)}) may not suit how the "
        f"formula uses {name}: give them priors where the runs put them (a law file, or "
        f"priors=), or use a catalog law if there is one"
        if defaults
        else f"; check the priors of the parameters of {name}'s terms"
    )
    return {
        "parameter": name,
        "check": "input ignored",
        "value": effect,
        "message": (
            f"the fitted law does not depend on input {name}: across the runs' range of "
            f"{name} ({values.min():.3g} to {values.max():.3g}) it changes by "
            f"{effect:.1e} of the noise's scale (posterior median), yet the runs' residuals "
            f"trend with {name} (Spearman {trend:+.2f}): its forecasts ignore {name}, whatever "
            f"the runs say of it{why}"
        ),
    }


def _correlation_notes(fit: Fit, names: Sequence[str]) -> list[dict[str, Any]]:
    """Pairs of parameters whose posterior correlation is about +-1 and which are each barely
    learned (only a combination of them is), on the scale their priors are stated on."""
    columns, labels, logged = [], [], []  # logged: the correlation is of the logs
    for name in names:
        variable, prior = _prior_of(fit, name)
        draws = _scalar_draws(fit, "posterior", variable)
        if draws is None or not np.all(np.isfinite(draws)) or draws.std() == 0:
            continue
        contraction = _prior_shift(fit, variable)[0]
        if not (np.isfinite(contraction) and contraction < CORRELATED_CONTRACTION):
            continue
        log = is_positive(prior) and bool(np.all(draws > 0))
        columns.append(np.log(draws) if log else draws)
        labels.append(variable)
        logged.append(log)
    if len(columns) < 2:
        return []
    corr = np.corrcoef(np.stack(columns))
    notes = []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            r = float(corr[i, j])
            if abs(r) < CORRELATION_MAX:
                continue
            on = " (of their logs)" if logged[i] and logged[j] else ""
            notes.append(
                {
                    "parameter": f"{labels[i]}, {labels[j]}",
                    "check": "correlated",
                    "value": r,
                    "message": (
                        f"{labels[i]} and {labels[j]} have posterior correlation {r:+.3f}: the "
                        f"runs fix only a combination of them{on}, and each "
                        f"alone follows its prior. Merge them into one parameter, fix one, or "
                        f"add runs that tell them apart"
                    ),
                }
            )
    return notes


def prior_checks(fit: Fit) -> pd.DataFrame:
    """Notes on how each posterior sits against its prior: conflicts and unlearned parameters.

    Cheap checks of the posterior and prior draws (no power-scaling; see
    :func:`prior_sensitivity` for that), meant to be read after every fit. They are notes,
    not failures of convergence: :attr:`bayescale.fitting.Diagnostics.ok` ignores them.

    - ``at lower bound`` / ``at upper bound``: the posterior piles against a bound of its
      prior's support (Uniform, TruncatedNormal, Beta): at least :data:`BOUND_SHARE` of
      the draws lie within :data:`BOUND_BAND` posterior sds of it, and at least
      :data:`BOUND_RATIO` times the prior's share there.
    - ``floor prior above the runs``: at least :data:`FLOOR_ABOVE` of the floor's prior
      mass lies above the lowest observed loss, which a floor never is.
    - ``shift``: the posterior mean is :data:`SHIFT_SDS` or more prior sds from the prior's
      (log scale for a positive prior; ``shift`` of :func:`prior_sensitivity`).
    - ``uninformed``: a law parameter whose posterior variance is more than
      :data:`UNINFORMED_VARIANCE` of its prior's: the runs did not inform it.
    - ``input ignored``: an input over whose range in the runs the fitted law moves by less
      than :data:`IGNORED_EFFECT` of the noise's scale while the residuals trend with it
      (:data:`IGNORED_TREND`): the posterior switched its terms off. Not checked for fits
      with groups.
    - ``correlated``: two law parameters with posterior correlation beyond
      :data:`CORRELATION_MAX` in absolute value, each learned little alone (contraction
      below :data:`CORRELATED_CONTRACTION`; correlations near 1 between well-learned
      parameters, such as an amplitude and its exponent, are common and harmless).

    The noise parameters (``sigma``, ``nu``) enter only the shift and bound checks: a
    Student-t's ``nu`` is often barely informed by a few dozen runs, harmlessly.

    Parameters
    ----------
    fit : Fit
        The fit. Without prior draws (``prior_draws=0``) the shift and uninformed checks
        are skipped.

    Returns
    -------
    pandas.DataFrame
        One row per note: ``parameter``, ``check``, ``value`` (the share, shift,
        contraction or correlation it was flagged for) and ``message`` (one line, with what
        to do). Empty when every posterior sits well within its prior.
    """
    rows: list[dict[str, Any]] = []
    law_names = list(fit.law.parameters)
    defaulted = fit.law.defaulted_parameters
    rows += _floor_note(fit)
    for name in fit.parameter_names:
        variable, prior = _prior_of(fit, name)
        rows += _bound_notes(fit, name, variable, prior)
        if _scalar_draws(fit, "posterior", variable) is None:
            continue
        contraction, shift, scale = _prior_shift(fit, variable)
        on = ", on the log scale" if scale == "log" else ""
        # Said of the name the user wrote (d1, not d1_ref), at its reference scale if any.
        shown = name if variable == name else f"{name} (at the reference scale)"
        default = name in defaulted
        kind = "default prior" if default else "prior"
        slip = (
            " (is mu the log of the value, as a LogNormal takes it?)"
            if prior.distribution == "LogNormal"
            else ""
        )
        if (
            np.isfinite(shift)
            and abs(shift) >= SHIFT_SDS
            and not any(r["parameter"] == name for r in rows)
        ):
            rows.append(
                {
                    "parameter": name,
                    "check": "shift",
                    "value": shift,
                    "message": (
                        f"{shown}'s posterior mean is {abs(shift):.1f} prior sds "
                        f"{'above' if shift > 0 else 'below'} its {kind}'s mean{on} ({kind} "
                        f"{prior.distribution}({_arguments(prior)})): a prior-data conflict. "
                        + (
                            f"The default did not find {name}'s scale from the formula: give "
                            f"it a prior centred where the runs put it (a law file, or "
                            f"priors=), or use the catalog law if there is one"
                            if default
                            else f"Check the prior{slip} and centre it where the runs put "
                            f"{name}, or widen it"
                        )
                    ),
                }
            )
        elif (
            name in law_names
            and np.isfinite(contraction)
            and 1.0 - contraction > UNINFORMED_VARIANCE
        ):
            ratio = float(np.sqrt(max(1.0 - contraction, 0.0)))
            rows.append(
                {
                    "parameter": name,
                    "check": "uninformed",
                    "value": contraction,
                    "message": (
                        f"{shown}'s posterior is its {kind} (posterior sd {ratio:.2f}x the "
                        f"prior's{on}): the runs did not inform it, so forecasts that depend "
                        f"on it repeat the prior. Fix it to a value, drop its term, or add "
                        f"runs where it matters"
                    ),
                }
            )
    rows += _correlation_notes(fit, law_names)
    rows += _ignored_input_notes(fit)
    if len(rows) > 1 and rows[0]["check"] == "floor prior above the runs":
        rows[0]["message"] += "; fix it first: the notes that follow may come from it"
    return pd.DataFrame(rows, columns=_CHECK_COLUMNS)


def _arguments(prior: Any) -> str:
    """A prior's arguments as ``mu=1.8, sigma=0.1``."""
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, int | float) else f"{k}={v}"
        for k, v in prior.parameters.items()
    )
