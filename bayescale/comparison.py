"""Compare law forms (PSIS-LOO, stacking, extrapolation-aware cross-validation) and average them.

PSIS-LOO judges how well a law predicts a run *like* the others (interpolation). Users
extrapolate, so :func:`compare` can also fit every law on the runs below a scale threshold and
score the held-out larger runs: their log predictive density and how often they fall in the
predictive intervals. The two criteria can disagree; the comparison says which law wins on
which.

Averaging follows the same split. Stacking (Yao et al. 2018) chooses the mixture of the laws'
predictive distributions that best predicts a set of runs: on PSIS-LOO's left-out runs it
weighs laws by how they interpolate; on the held-out larger runs (leave-future-out by scale,
pooled over the thresholds) by how they extrapolate, which is what a forecast beyond the
largest run needs. :func:`average` uses the latter whenever the comparison has held-out runs,
averaged over Bayesian-bootstrap reweightings of those runs (:func:`bagged_stacking_weights`),
so that weights of 1 and 0 mean the held-out runs leave no doubt, not that one law won a few
of them narrowly.

Densities are of the value each law's noise lives on: ``log y`` under multiplicative noise,
``y`` under additive noise. Laws with different noise scales are compared on the density of
``y`` itself: a log-scale law's density of ``log y`` times the Jacobian ``1 / y`` (its log
density minus ``log y``), which :func:`compare` applies to LOO and held-out scores alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from bayescale import _files
from bayescale._format import clean_exponent, format_number, size_kind
from bayescale.data import Runs, load_runs
from bayescale.discrepancy import beyond_runs
from bayescale.errors import (
    BayescaleError,
    DataError,
    DataWarning,
    ExtrapolationWarning,
    MappingError,
    OutputExistsError,
    SlipWarning,
    closest,
)
from bayescale.fitting import (
    Fit,
    _outside_level,
    beyond_backtests_sentence,
    fit,
    flag_far_points,
    load_fit,
    past_peak_flags,
    points_of_at,
    warn_slips,
)
from bayescale.forecast import (
    forecast_points,
    law_mu,
    level_label,
    mixture_table,
    point_columns,
    warn_thin_tails,
)
from bayescale.laws import Law, get_law
from bayescale.settings import SamplerSettings, check_levels, check_seed

__all__ = [
    "Average",
    "Comparison",
    "average",
    "bagged_stacking_weights",
    "compare",
    "compare_pooling",
    "name_laws",
    "pooling_verdict",
    "score",
    "stacking_weights",
]

PARETO_K_BAD = 0.7  # Vehtari et al. 2024: above 0.7 the PSIS estimate is unreliable
#: Laws weighing less than this together in an average are not worth a remark or a warning:
#: their forecasts barely move it.
NEGLIGIBLE_WEIGHT = 1e-3
#: Laws left out of an ``"auto"`` average for failed diagnostics that would have carried more
#: than this share of the weight together: the average falls back on the others only because
#: they failed, and the verdict and warning say so.
FALLBACK_SHARE = 0.5
#: Laws whose pointwise log densities all agree to within this many nats predict alike:
#: stacking splits the weight between them arbitrarily (see :meth:`Comparison.verdict`).
#: Distinct laws differ by nats at some run; one law refitted with other priors, by hundredths.
ALIKE_NATS = 0.1
#: Names of the weights :func:`average` can compute from a comparison.
WEIGHT_METHODS = ("auto", "stacking", "extrapolation", "extrapolation_stacking")
#: Bayesian-bootstrap reweightings of the held-out runs that the extrapolation weights average
#: (see :func:`bagged_stacking_weights`), and the seed of their Dirichlet draws: fixed, so
#: that a saved comparison reloads to the same weights and forecasts.
BOOTSTRAP_REPLICATES = 200
BOOTSTRAP_SEED = 0
#: How a new comparison makes its extrapolation weights (see ``Comparison.weighting``).
DEFAULT_WEIGHTING: dict[str, Any] = {
    "method": "bagged_stacking",
    "replicates": BOOTSTRAP_REPLICATES,
    "seed": BOOTSTRAP_SEED,
}
# A law's name becomes a file name (fits/<name>.nc) and a table row: keep it plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _log_density(fit_: Fit, runs: Runs, of_y: bool = False) -> np.ndarray:
    """Pointwise log predictive density of held-out runs, over the posterior draws.

    With a discrepancy, one draw of it per posterior draw joins the law's value on the
    noise's scale: the average over draws integrates it, as the forecast's ``pred_*``
    intervals do. The density is that of the noise's scale (``log y`` or ``y``), or of ``y``
    itself with ``of_y``.
    """
    if fit_.pooling is not None:
        # A hierarchical fit scores each run with its own group's parameters.
        out = np.empty(len(runs))
        labels = np.array(runs.group if runs.group is not None else [])
        if len(labels) != len(runs):
            raise DataError(
                "held-out runs for a fit with groups need groups too: load_runs(..., group=...)"
            )
        for g in dict.fromkeys(labels):
            mask = labels == g
            out[mask] = _log_density(fit_.group(g), runs.subset(mask), of_y)
        return out
    draws = fit_.draws()
    theta = {name: draws[name][:, None] for name in fit_.law.parameters}
    x = {name: runs.x(name)[None, :] for name in fit_.law.inputs}
    mu = law_mu(fit_.law, theta, x)
    if fit_.discrepancy is not None:
        points = {name: runs.x(name) for name in runs.inputs}
        mu = mu + fit_.discrepancy.log_delta(points, len(draws["sigma"]), fit_.seed).T
    lik = fit_.law.likelihood
    noise = {name: draws[name][:, None] for name in lik.noise_names}
    y = runs.y[None, :]
    logp = lik.logpdf_y(y, mu, noise) if of_y else lik.logpdf(lik.transform(y), mu, noise)
    return special.logsumexp(logp, axis=0) - np.log(logp.shape[0])


def _scales(laws: Sequence[Law]) -> set[str]:
    return {law.likelihood.scale for law in laws}


def score(
    fit: Fit | None = None,
    test: Runs | pd.DataFrame | str | os.PathLike[str] | None = None,
    levels: float | Sequence[float] | None = None,
    *,
    of_y: bool = False,
    level: float | Sequence[float] | None = None,
    fit_: Fit | None = None,
) -> dict[str, float]:
    """Score a fit on held-out runs: predictive density, calibration and point accuracy.

    Parameters
    ----------
    fit : Fit
        A fit (typically on smaller runs).
    test : Runs, DataFrame or path
        Held-out runs with the law's inputs. A DataFrame or path is read with
        :func:`bayescale.load_runs` as the fit's runs were: the same source columns, response
        column, compute factor and groups (load other tables yourself and pass the Runs).
    levels : float or sequence of float, default (0.5, 0.8, 0.9)
        Levels of the predictive intervals whose coverage is reported.
    of_y : bool, default False
        Score the density of y itself, for comparing laws with multiplicative and
        additive noise (the Jacobian ``1 / y`` joins a log-scale law's density); by
        default the density of the value the noise lives on (``log y`` or ``y``).
    level : float or sequence of float, optional
        Another name for ``levels`` (as :meth:`Fit.forecast` calls it); give one of the two.
    fit_ : Fit, optional
        Deprecated: the old name of ``fit`` (``score(fit_=f, test=runs)`` still works, with
        a DeprecationWarning); give ``fit``.

    Returns
    -------
    dict of str to float
        ``n_test``; ``elpd`` (sum of log predictive densities: of the log losses under
        multiplicative noise, of the losses under additive noise or with ``of_y``) and
        ``elpd_per_run``; ``coverage_50`` ... (share of held-out runs inside the
        predictive interval, to compare with the level); ``r2`` (of the posterior median
        law against the observed loss, clipped to [-1, 1] as in Li et al. 2026) and
        ``mare`` (mean absolute relative error; NaN when a held-out loss is 0).

    Raises
    ------
    DataError
        If ``fit`` is not a Fit (or is given both as ``fit`` and ``fit_``), ``test`` is
        missing or not runs (or cannot be read as the fit's runs were), a level is not in
        (0, 1), or both ``level`` and ``levels`` are given.

    Warns
    -----
    DeprecationWarning
        When the fit is given as ``fit_``.

    Notes
    -----
    Held-out runs far beyond the fit's backtests are what a score is for: the forecast's
    :class:`~bayescale.errors.ExtrapolationWarning` is not warned here.
    """
    if fit_ is not None:
        if fit is not None:
            raise DataError("give the fit as fit= (fit_ is its old name), not both")
        warnings.warn(
            "score(fit_=...) is now score(fit=...); fit_ will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        fit = fit_
    if test is None:
        raise DataError(
            "score needs the held-out runs as test=: Runs, a DataFrame or the path of a table"
        )
    if not isinstance(fit, Fit):
        raise DataError(
            f"score needs a Fit first (bayescale.fit(...) or bayescale.load_fit(path)), got "
            f"{type(fit).__name__}"
        )
    chosen = _levels(levels, level)
    return _score(fit, _test_runs(fit, test), chosen, of_y)[0]


#: Levels whose held-out coverage :func:`score`, :func:`compare` and :func:`compare_pooling`
#: report by default.
DEFAULT_LEVELS = (0.5, 0.8, 0.9)


def _levels(levels: Any, level: Any) -> list[float]:
    """``levels``, or its other name ``level``, checked; the default without either."""
    if levels is not None and level is not None:
        raise DataError(
            "give level= or levels= (two names for the same levels), not both; e.g. "
            "levels=[0.5, 0.9]"
        )
    if level is not None:
        return check_levels(level, "level")
    return check_levels(DEFAULT_LEVELS if levels is None else levels, "levels")


def _as_runs(runs: Any, what: str, **load_options: Any) -> Runs:
    """Runs as :func:`bayescale.fit` takes them: Runs, or a DataFrame or path to load.

    ``load_options`` (``x``, ``y``, ``compute_factor``, ``group``; None when not given) are
    :func:`bayescale.load_runs`'s, for a table; runs already loaded refuse all but a
    ``group`` equal to their own.
    """
    options = {key: value for key, value in load_options.items() if value is not None}
    if isinstance(runs, Runs):
        reading = [key for key in options if key != "group"]
        if reading:
            raise DataError(
                f"{_names([f'{key}=' for key in reading])} {'is' if len(reading) == 1 else 'are'} "
                f"for reading a table; {what} was given Runs already loaded: leave "
                f"{'it' if len(reading) == 1 else 'them'} out, or give the table itself"
            )
        group = options.get("group")
        if group is not None and tuple([group] if isinstance(group, str) else group) != (
            runs.group_by
        ):
            raise DataError(
                f"group={group!r} is for reading a table; these runs are already loaded "
                f"(grouped by {list(runs.group_by) or 'nothing'}): pass group= to load_runs"
            )
        return runs
    if not isinstance(runs, pd.DataFrame | str | os.PathLike):
        raise DataError(
            f"{what} needs runs: Runs from bayescale.load_runs(...), a pandas DataFrame or the "
            f"path of a table; got {type(runs).__name__}"
        )
    return load_runs(runs, **options)


def _test_runs(fit_: Fit, test: Any) -> Runs:
    """Held-out runs for a fit: a table is read with the columns the fit's runs came from."""
    if isinstance(test, Runs) or not isinstance(test, pd.DataFrame | str | os.PathLike):
        return _as_runs(test, "score's test")
    runs = fit_.runs
    # Derived columns ("derived: C / (6 N)") are derived again from the table's own.
    x = {name: column for name, column in runs.columns.items() if not column.startswith("derived")}
    try:
        return load_runs(
            test,
            x=x,
            y=runs.y_name,
            compute_factor=runs.compute_factor,
            group=list(runs.group_by) or None,
        )
    except DataError as err:
        mapping = ", ".join(f"{name}={column!r}" for name, column in x.items())
        text = (
            f"{err}; score reads a table with the columns the fit's runs came from ({mapping}, "
            f"y={runs.y_name!r}): for other columns, load it with load_runs(..., x=..., y=...) "
            f"and pass the Runs"
        )
        if isinstance(err, MappingError):
            raise MappingError(text, err.inputs, err.response) from None
        raise DataError(text) from None


def _score(
    fit_: Fit, test: Runs, levels: Sequence[float], of_y: bool
) -> tuple[dict[str, float], np.ndarray]:
    """:func:`score`'s table and the pointwise log predictive densities it sums."""
    at = test.table[list(fit_.law.inputs)]
    if fit_.pooling is not None and test.group is not None:
        at = at.assign(group=list(test.group))
    with warnings.catch_warnings():
        # Scoring runs beyond the fit's reach is the point of a score: that they are far is
        # no news to its caller (nor, from compare, once per law and threshold).
        warnings.simplefilter("ignore", ExtrapolationWarning)
        # Held-out runs are runs, not points typed by hand: no slip to warn of.
        warnings.simplefilter("ignore", SlipWarning)
        table = fit_.forecast(at, level=levels)
    y = test.y
    logpd = _log_density(fit_, test, of_y=of_y)
    out: dict[str, float] = {
        "n_test": float(len(test)),
        "elpd": float(logpd.sum()),
        "elpd_per_run": float(logpd.mean()),
    }
    for lv in levels:
        tag = level_label(lv)
        inside = (y >= table[f"pred_lower_{tag}"].to_numpy()) & (
            y <= table[f"pred_upper_{tag}"].to_numpy()
        )
        out[f"coverage_{tag}"] = float(inside.mean())
    predicted = table["law_median"].to_numpy()
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else float("nan")
    out["r2"] = float(np.clip(r2, -1.0, 1.0))
    # A relative error has no meaning against a loss of 0 (an additive-noise metric).
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mare"] = float(np.mean(np.abs(predicted / y - 1.0))) if np.all(y != 0) else np.nan
    return out, logpd


def stacking_weights(
    log_density: np.ndarray, point_weights: np.ndarray | None = None
) -> np.ndarray:
    """Stacking weights of predictive distributions (Yao et al. 2018).

    Maximises ``sum_i u_i log sum_k w_k p_k(y_i)`` over the simplex, with ``p_k(y_i)`` the
    predictive density law ``k`` gives point ``i`` and ``u_i`` the point's weight (1 unless
    given). The objective is concave in ``w``; it is maximised over ``w = softmax(z)`` with
    its exact gradient ``d/dz_k = sum_i u_i r_ik - (sum_i u_i) w_k`` (``r_ik`` the share of
    point ``i``'s mixture density that law ``k`` contributes), starting from equal weights,
    so that laws with identical densities keep identical weights.

    Parameters
    ----------
    log_density : numpy.ndarray
        ``(points, laws)`` log predictive densities.
    point_weights : numpy.ndarray, optional
        One non-negative weight per point (a Bayesian-bootstrap draw, see
        :func:`bagged_stacking_weights`); default 1 each.

    Returns
    -------
    numpy.ndarray
        One non-negative weight per law, summing to 1.

    Raises
    ------
    DataError
        If the array is not two-dimensional, no law or no point is usable, or the point
        weights do not match the points or are negative.

    Notes
    -----
    Non-finite densities follow one rule each:

    - NaN or +inf (the law's density could not be evaluated at a point): the law gets
      weight 0 and takes no part in the optimisation, since its mixture share is undefined.
    - -inf (a density of exactly zero): kept; the mixture can still explain the point through
      the other laws, and a law that gives a point zero density is rightly penalised.
    - A point to which every usable law gives density zero: dropped, since no weighting
      changes its (infinitely bad) score.
    """
    lpd = np.asarray(log_density, dtype=float)
    if lpd.ndim != 2 or lpd.shape[1] == 0:
        raise DataError(
            f"stacking needs a (points, laws) array of log densities, got shape {lpd.shape}"
        )
    if point_weights is None:
        u = np.ones(len(lpd))
    else:
        u = np.asarray(point_weights, dtype=float)
        if u.shape != (len(lpd),) or not np.all(np.isfinite(u)) or (u < 0).any():
            raise DataError(
                f"stacking's point_weights must be {len(lpd)} finite non-negative numbers, one "
                f"per point, got shape {u.shape}"
            )
    usable = ~(np.isnan(lpd) | (lpd == np.inf)).any(axis=0)
    if not usable.any():
        raise DataError(
            "stacking has no law with a finite log density at every point; check the "
            "held-out scores for failed forecasts"
        )
    kept = lpd[:, usable]
    explained = np.isfinite(kept).any(axis=1)
    kept, u = kept[explained], u[explained]
    if not len(kept):
        raise DataError("stacking has no point to which any law gives a positive density")
    weights = np.zeros(lpd.shape[1])
    if kept.shape[1] == 1:
        weights[usable] = 1.0
        return weights
    total = float(u.sum())
    if total <= 0:
        raise DataError("stacking's point_weights are all zero on the usable points")
    # Shift each point's densities by their maximum: the optimum is unchanged, and exp()
    # cannot overflow or underflow to an all-zero row.
    shifted = kept - kept.max(axis=1, keepdims=True)

    def negative(z: np.ndarray) -> tuple[float, np.ndarray]:
        log_w = z - special.logsumexp(z)
        joint = shifted + log_w[None, :]
        mixture = special.logsumexp(joint, axis=1)
        shares = np.exp(joint - mixture[:, None])
        gradient = u @ shares - total * np.exp(log_w)
        return -float(u @ mixture), -gradient

    start = np.zeros(kept.shape[1])
    result = optimize.minimize(
        negative, start, jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "maxiter": 2000}
    )
    z = result.x
    weights[usable] = np.exp(z - special.logsumexp(z))
    return weights


def bagged_stacking_weights(
    log_density: np.ndarray,
    groups: np.ndarray | Sequence[Any] | None = None,
    replicates: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Stacking weights averaged over Bayesian-bootstrap reweightings of the points.

    Plain stacking (:func:`stacking_weights`) finds the single best mixture for the points
    at hand; with few points, or laws nearly tied on them, it often gives one law all the
    weight although another would have won on a slightly different set of runs. This
    averages the stacking weights over ``replicates`` reweightings of the points, each
    group of points (a run) weighted by a draw of Dirichlet(1, ..., 1) (Rubin's Bayesian
    bootstrap, which Yao et al. 2018 use for pseudo-BMA+; here it bags the stacking
    optimisation itself, as in Breiman's bagging). A law that wins on every plausible
    reweighting keeps its weight; a near-tie gives weights that say so.

    Parameters
    ----------
    log_density : numpy.ndarray
        ``(points, laws)`` log predictive densities, with :func:`stacking_weights`'s rules
        for non-finite values.
    groups : array-like, optional
        One label per point: points with the same label (forecasts of the same run made
        from fits below several thresholds) share one bootstrap weight, so that a run
        counts once in the resampling. Default: every point its own group.
    replicates : int, default 200
        Number of bootstrap reweightings.
    seed : int, default 0
        Seed of the Dirichlet draws: the same inputs give the same weights.

    Returns
    -------
    numpy.ndarray
        One non-negative weight per law, summing to 1.

    Raises
    ------
    DataError
        As :func:`stacking_weights`, or if ``groups`` does not give one label per point,
        or ``replicates`` is not a positive integer.
    """
    lpd = np.asarray(log_density, dtype=float)
    if lpd.ndim != 2:
        return stacking_weights(lpd)  # raises its own error
    if isinstance(replicates, bool) or not isinstance(replicates, int | np.integer):
        raise DataError(f"replicates must be a positive integer, got {replicates!r}")
    if replicates < 1:
        raise DataError(f"replicates must be a positive integer, got {replicates!r}")
    check_seed(seed)
    labels = np.arange(len(lpd)) if groups is None else np.asarray(groups)
    if labels.shape != (len(lpd),):
        raise DataError(
            f"groups must give one label per point ({len(lpd)}), got shape {labels.shape}"
        )
    _, index = np.unique(labels, return_inverse=True)
    n_groups = int(index.max()) + 1 if len(index) else 0
    key = (lpd.shape, lpd.tobytes(), index.tobytes(), int(replicates), int(seed))
    cached = _BAGGED.get(key)
    if cached is not None:
        return cached.copy()
    rng = np.random.default_rng(seed)
    total = np.zeros(lpd.shape[1])
    for _ in range(replicates):
        # Dirichlet(1, ..., 1) over the runs, scaled to average 1 per run.
        share = rng.dirichlet(np.ones(n_groups)) * n_groups
        total += stacking_weights(lpd, point_weights=share[index])
    weights = total / replicates
    weights = weights / weights.sum()
    if len(_BAGGED) >= 64:
        _BAGGED.clear()
    _BAGGED[key] = weights
    return weights.copy()


#: Bagged stacking weights already computed (the verdict, the tables and the average of
#: one comparison all ask for them): keyed by the densities, groups, replicates and seed.
_BAGGED: dict[tuple[Any, ...], np.ndarray] = {}


def _check_same_data(fits: Mapping[str, Fit]) -> None:
    """Refuse fits of different runs or targets, saying what differs and what to do."""
    names = list(fits)
    first = fits[names[0]].runs
    for name in names[1:]:
        runs = fits[name].runs
        if runs.y_name == first.y_name and runs.fingerprint() == first.fingerprint():
            continue
        raise DataError(
            f"PSIS-LOO compares laws fitted to the same runs; {names[0]} and {name} were "
            f"fitted to different data: {_data_difference(names[0], first, name, runs)}. Fit "
            f"every law to the same runs and target column, e.g. compare(runs, laws=[...]) "
            f"(bayescale compare FILE --laws ...)"
        )


def _data_difference(a: str, runs_a: Runs, b: str, runs_b: Runs) -> str:
    """What differs between two fits' runs, in words: target, file, count or which runs."""
    parts = []
    if runs_a.y_name != runs_b.y_name:
        parts.append(f"target column {runs_a.y_name!r} ({a}) vs {runs_b.y_name!r} ({b})")
    if runs_a.source != runs_b.source:
        parts.append(f"file {runs_a.source} ({a}) vs {runs_b.source} ({b})")
    if len(runs_a) != len(runs_b):
        parts.append(f"{len(runs_a)} runs ({a}) vs {len(runs_b)} ({b})")
    if not parts:
        inputs = [n for n in runs_a.inputs if n in runs_b.inputs]
        if set(runs_a.inputs) != set(runs_b.inputs):
            parts.append(
                f"inputs {', '.join(runs_a.inputs)} ({a}) vs {', '.join(runs_b.inputs)} ({b})"
            )
        else:
            left = np.column_stack([runs_a.x(n) for n in inputs] + [runs_a.y])
            right = np.column_stack([runs_b.x(n) for n in inputs] + [runs_b.y])
            rows = np.flatnonzero(~np.all(np.isclose(left, right, rtol=1e-12, atol=0), axis=1))
            if len(rows):
                shown = ", ".join(str(int(r)) for r in rows[:5])
                more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
                parts.append(
                    f"the values of run(s) {shown}{more} (0-based, in file order; "
                    f"{len(rows)} of {len(runs_a)} differ)"
                )
            else:
                parts.append("the runs' groups or column names")
    return "; ".join(parts)


def _loo_table(fits: Mapping[str, Fit]) -> pd.DataFrame:
    import arviz as az

    _check_same_data(fits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pareto-k warnings are reported in the table instead
        idatas = {name: f.with_log_likelihood() for name, f in fits.items()}
        if len(_scales([f.law for f in fits.values()])) > 1:
            # Densities of log y and of y are not comparable: state every law's as a density
            # of y, the Jacobian 1 / y joining the log-scale laws' (on a copy of the idata).
            idatas = {name: _as_density_of_y(idata, fits[name]) for name, idata in idatas.items()}
        table = az.compare(idatas, ic="loo", method="stacking")
        pointwise = {name: az.loo(idatas[name], pointwise=True) for name in fits}
        ks = {name: np.asarray(loo.pareto_k).reshape(-1) for name, loo in pointwise.items()}
        densities = {name: np.asarray(loo.loo_i).reshape(-1) for name, loo in pointwise.items()}
    table["pareto_k_bad"] = [int((ks[name] > PARETO_K_BAD).sum()) for name in table.index]
    table["pareto_k_max"] = [float(ks[name].max()) for name in table.index]
    table["diagnostics_ok"] = [fits[name].ok for name in table.index]
    alike = _alike_groups([str(name) for name in table.index], densities)
    table["alike"] = [
        " ".join(n for n in alike.get(str(name), []) if n != name) for name in table.index
    ]
    table.index.name = "law"
    return table


def _as_density_of_y(idata: Any, fit_: Fit) -> Any:
    """The fit's idata with its pointwise log likelihood of y itself (a copy if changed)."""
    if fit_.law.likelihood.scale == "linear":
        return idata
    copy = idata.copy()
    log_y = np.log(fit_.runs.y)
    copy.log_likelihood["y"] = copy.log_likelihood["y"] - log_y[None, None, :]
    return copy


def _holdout_thresholds(holdout_above: Any, runs: Runs) -> dict[str, list[float]] | None:
    """``holdout_above`` as ``{input: [thresholds]}``, None for no held-out runs.

    A bare number, or a list of numbers, is a threshold on compute C: the one input every
    law is judged along (the runs have C whenever they have N and D). Runs without C need
    the input named.
    """
    if holdout_above is None:
        return None
    example = "e.g. {'C': 1e20} or {'C': [1e20, 1e21]}"
    if isinstance(holdout_above, Mapping):
        out = {}
        for name, thresholds in holdout_above.items():
            if not isinstance(name, str):
                raise DataError(
                    f"holdout_above maps an input's name to thresholds, {example}; got the "
                    f"key {name!r}"
                )
            out[name] = _threshold_values(thresholds, f"holdout_above[{name!r}]")
        return out or None
    values = _threshold_values(holdout_above, "holdout_above", mapping_hint=example)
    if "C" not in runs.inputs:
        raise DataError(
            f"holdout_above={holdout_above!r} is a threshold on compute C, which these runs "
            f"lack (they have {', '.join(runs.inputs)}): name the input, e.g. "
            f"{{'{runs.inputs[0]}': ...}}"
        )
    return {"C": values}


def _threshold_values(value: Any, what: str, mapping_hint: str = "") -> list[float]:
    """One threshold or a list of them, as finite floats; else a message naming ``what``."""
    items = (
        value
        if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str)
        else [value]
    )
    numbers = []
    for item in np.asarray(items, dtype=object).reshape(-1):
        try:
            number = float(item)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(item, bool | str) or not np.isfinite(number):
            shape = (
                f"maps an input to thresholds, {mapping_hint}"
                if mapping_hint
                else "takes numbers, e.g. 1e20 or [1e20, 1e21]"
            )
            raise DataError(f"{what} {shape}; got {value!r}")
        numbers.append(number)
    if not numbers:
        raise DataError(f"{what} gives no threshold; give one or more, e.g. 1e20 or [1e20, 1e21]")
    return numbers


def _holdout_splits(
    runs: Runs, holdout_above: Mapping[str, float | Sequence[float]]
) -> list[tuple[str, float, Runs, np.ndarray]]:
    """Per threshold: input, threshold, the runs to fit, and which runs are held out."""
    splits = []
    for name, thresholds in holdout_above.items():
        if name in runs.inputs:
            scale = runs.x(name)
        else:
            raise DataError(
                f"cannot hold out runs above {name}: the runs have {', '.join(runs.inputs)} "
                f"(C can be used when N and D are present)"
            )
        for threshold in np.atleast_1d(np.asarray(thresholds, dtype=float)):
            # A run at the cut stays below it even when its C, derived as k N D, carries a
            # rounding error (6 * N * D can be 1.0000000000000002e21 for a 1e21 curve).
            below = scale <= threshold * (1 + 1e-9)
            if below.all() or not below.any():
                raise DataError(
                    f"holding out runs above {name}={_threshold_text(threshold)} leaves "
                    f"{'no held-out runs' if below.all() else 'no runs to fit'}; "
                    f"the runs' {name} spans {scale.min():.3g} to {scale.max():.3g}: give "
                    f"a threshold between the two"
                )
            splits.append((name, float(threshold), runs.subset(below), ~below))
    return splits


def _suggest_holdout(runs: Runs, laws: Sequence[Law | None]) -> dict[str, list[float]] | None:
    """Thresholds at the 60% and 80% quantiles of the runs' C (see
    :meth:`Comparison.suggest_holdout`), or None."""
    name = "C" if "C" in runs.inputs else runs.inputs[0]
    scale = runs.x(name)
    need = max([law.n_parameters for law in laws if isinstance(law, Law)] or [1]) + 1
    chosen: list[float] = []
    for q in (0.6, 0.8):
        value = float(np.quantile(scale, q))
        if not value > 0:
            continue
        threshold = float(f"{value:.0e}")  # one significant digit, as people write it
        below = int((scale <= threshold * (1 + 1e-9)).sum())
        if below >= need and len(scale) - below >= 3 and threshold not in chosen:
            chosen.append(threshold)
    return {name: chosen} if chosen else None


def _check_holdout(
    runs: Runs, holdout_above: Mapping[str, float | Sequence[float]], laws: Mapping[str, Law]
) -> None:
    """Refuse, before any sampling, thresholds that leave nothing to score or to fit.

    Every threshold must hold out at least one run and leave, at or below it, as many
    runs as some law has parameters (a law with more parameters than that is left out at
    that threshold, and a note says so).
    """
    fewest = min(law.n_parameters for law in laws.values())
    for name, threshold, train, held in _holdout_splits(runs, holdout_above):
        if len(train) < fewest:
            counts = ", ".join(f"{n} {law.n_parameters}" for n, law in laws.items())
            scale = runs.x(name)
            raise DataError(
                f"holding out runs above {name}={_threshold_text(threshold)} leaves "
                f"{len(train)} run(s) to fit, fewer than any law's parameters ({counts}): no "
                f"law could be scored there; raise the threshold (the runs' {name} spans "
                f"{scale.min():.3g} to {scale.max():.3g}, {int(held.sum())} runs above it)"
            )
    if runs.group is not None:
        # Runs in groups: each refit needs every group (a group missing below a threshold
        # leaves its held-out runs nothing to be forecast from).
        _pooling_splits(runs, holdout_above)


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    fits : dict of str to Fit
        Each law fitted to all the runs.
    loo : pandas.DataFrame
        ArviZ's comparison table (``elpd_loo``, ``p_loo``, ``elpd_diff``, ``weight``
        (stacking), ``se``, ``dse``, ``warning``) plus ``pareto_k_bad`` (runs with Pareto k
        above 0.7), ``pareto_k_max``, ``diagnostics_ok`` and ``alike`` (the other laws whose
        pointwise LOO log densities agree with this one's to within 0.1 at every run,
        space-separated: stacking splits the weight among them arbitrarily); best law
        first. When the laws' noise scales differ, every ``elpd`` is of y itself (see the
        module docstring).
    extrapolation : pandas.DataFrame or None
        Per law and threshold: runs used and held out, and :func:`score`'s columns.
    notes : list of str
        Remarks on how the scores were made (skipped splits, density scales).
    heldout : pandas.DataFrame or None
        Pointwise held-out log predictive densities, one row per law, threshold and held-out
        run: ``law``, ``holdout`` (as in ``extrapolation``), ``threshold``, ``run`` (the
        run's position in the compared runs) and ``log_density`` (of the same value as
        ``elpd``). None for comparisons without held-out runs, or saved before it was kept.
    weighting : dict
        How the extrapolation weights are made from ``heldout``: ``{"method":
        "bagged_stacking", "replicates": ..., "seed": ...}`` (the default, with
        :data:`BOOTSTRAP_REPLICATES` and :data:`BOOTSTRAP_SEED`) or ``{"method":
        "stacking"}``. Saved with the comparison, so that a reloaded comparison weighs its
        laws as it did when saved, whatever a later version's default; folders saved before
        it was recorded used plain stacking, and load so.
    """

    fits: dict[str, Fit]
    loo: pd.DataFrame
    extrapolation: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    heldout: pd.DataFrame | None = None
    weighting: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_WEIGHTING))

    @property
    def weights(self) -> pd.Series:
        """Stacking weights of the laws (Yao et al. 2018), from PSIS-LOO (interpolation)."""
        return self.loo["weight"]

    @property
    def extrapolation_weights(self) -> pd.Series | None:
        """Stacking weights from the held-out larger runs (leave-future-out), or None.

        The runs held out at every threshold where every law was scored are pooled, and the
        weights are :func:`bagged_stacking_weights` of their log predictive densities:
        stacking averaged over :data:`BOOTSTRAP_REPLICATES` Bayesian-bootstrap reweightings
        of the held-out runs (seed :data:`BOOTSTRAP_SEED`), each run one unit of the
        resampling however many thresholds held it out. Plain stacking of the same
        densities, which puts all the weight on one law whenever it wins, is
        ``weights_table()["extrapolation_stacking_weight"]``. A law whose density is not
        finite at some pooled run gets weight 0 (see :meth:`verdict`).

        Returns
        -------
        pandas.Series or None
            Weight per law (same order as ``loo``), summing to 1; None without held-out
            densities, or when no threshold has every law scored.
        """
        return self._leave_future_out()[0]

    def _leave_future_out(
        self, plain: bool = False, leave_out: Sequence[str] = ()
    ) -> tuple[pd.Series | None, list[str], str]:
        """Extrapolation weights, remarks on what went into them, and their basis.

        ``plain``: plain stacking instead of its Bayesian-bootstrap average. ``leave_out``:
        laws stacked without (weight 0), such as those whose fits failed.
        """
        if self.heldout is None or not len(self.heldout):
            return None, [], ""
        laws = [str(name) for name in self.loo.index]
        frame = self.heldout[self.heldout["law"].astype(str).isin(laws)]
        complete, missing = _scored_splits(frame, laws)
        notes = _left_out_notes(missing, bool(complete))
        if not complete:
            return None, notes, ""
        stacked = [name for name in laws if name not in set(leave_out)]
        if not stacked:
            return None, notes, ""
        used = frame[frame["holdout"].astype(str).isin(complete)]
        table = used.set_index(["holdout", "run", "law"])["log_density"].unstack("law")
        runs_of_rows = table.index.get_level_values("run").to_numpy()
        lpd = table.reindex(columns=stacked).to_numpy(dtype=float)
        # The rules of stacking_weights, stated here in words for the verdict.
        failed = (np.isnan(lpd) | (lpd == np.inf)).any(axis=0)
        for k in np.flatnonzero(failed):
            notes.append(
                f"{stacked[k]} gets extrapolation weight 0: its log density of a held-out run "
                f"is not finite (a failed forecast), so it cannot join the mixture."
            )
        if failed.all():
            return None, notes, ""
        hopeless = int((lpd[:, ~failed] == -np.inf).all(axis=1).sum())
        if hopeless == len(lpd):
            notes.append("Every law gives every held-out run zero density: no weights.")
            return None, notes, ""
        if hopeless:
            notes.append(
                f"{hopeless} held-out run(s) to which every law gives zero density do not "
                f"enter the extrapolation weights."
            )
        bagged = not plain and self.weighting.get("method") == "bagged_stacking"
        replicates = int(self.weighting.get("replicates", BOOTSTRAP_REPLICATES))
        values = (
            bagged_stacking_weights(
                lpd,
                runs_of_rows,
                replicates=replicates,
                seed=int(self.weighting.get("seed", BOOTSTRAP_SEED)),
            )
            if bagged
            else stacking_weights(lpd)
        )
        weights = pd.Series(values, index=pd.Index(stacked, name="law"))
        weights = weights.reindex(pd.Index(laws, name="law")).fillna(0.0)
        weights.name = "extrapolation_stacking_weight" if plain else "extrapolation_weight"
        scored = [name for k, name in enumerate(stacked) if not failed[k]]
        groups = _alike_groups(scored, {name: lpd[:, stacked.index(name)] for name in scored})
        notes.extend(_alike_lines(groups, weights, "the held-out runs"))
        how = (
            f"stacking averaged over {replicates} Bayesian-bootstrap reweightings of the "
            f"held-out runs"
            if bagged
            else "stacking"
        )
        basis = (
            f"{how} on {len(lpd) - hopeless} held-out forecast(s) of "
            f"{used['run'].nunique()} larger run(s) over {len(complete)} threshold(s) "
            f"(leave-future-out): how well each law forecast beyond the runs it was fitted on"
        )
        return weights, notes, basis

    def weights_table(self) -> pd.DataFrame:
        """Every weighting of the laws side by side.

        Returns
        -------
        pandas.DataFrame
            One row per law (best by LOO first): ``loo_weight`` (stacking on PSIS-LOO,
            interpolation), ``extrapolation_weight`` (stacking on the held-out larger runs,
            averaged over Bayesian-bootstrap reweightings of those runs: what
            ``average()`` uses) and ``extrapolation_stacking_weight`` (plain stacking on the
            same runs); the last two NaN without held-out runs.
        """
        out = pd.DataFrame({"loo_weight": self.weights.astype(float)})
        extra = self.extrapolation_weights
        out["extrapolation_weight"] = np.nan if extra is None else extra.reindex(out.index)
        plain = self._leave_future_out(plain=True)[0]
        out["extrapolation_stacking_weight"] = np.nan if plain is None else plain.reindex(out.index)
        out.index.name = "law"
        return out

    def failed_laws(self, extrapolation: bool | None = None) -> dict[str, str]:
        """Laws whose fit, or a refit behind their held-out score, failed its diagnostics.

        Parameters
        ----------
        extrapolation : bool, optional
            Also count the refits of the held-out thresholds the extrapolation weights use
            (every law scored there). Default: when the comparison has extrapolation weights.

        Returns
        -------
        dict of str to str
            Law name to what failed, in words (in the LOO table's order).
        """
        if extrapolation is None:
            extrapolation = self.extrapolation_weights is not None
        out: dict[str, str] = {}
        for name in map(str, self.loo.index):
            fit_ = self.fits.get(name)
            if fit_ is not None and not getattr(fit_, "ok", True):
                out[name] = "its fit failed its diagnostics"
        if extrapolation:
            laws = [str(name) for name in self.loo.index]
            complete = (
                _scored_splits(self.extrapolation, laws)[0]
                if self.extrapolation is not None and len(self.extrapolation)
                else []
            )
            for name, splits in self._failed_refits().items():
                used = [split for split in splits if split in complete]
                if used and name not in out:
                    many = len(used) > 1
                    out[name] = (
                        f"its refit{'s' if many else ''} for the held-out runs at "
                        f"{_names(used)} failed {'their' if many else 'its'} diagnostics"
                    )
        return out

    def best(self) -> dict[str, str]:
        """The winning law by each criterion.

        Returns
        -------
        dict of str to str
            ``loo`` (highest elpd_loo) and, with held-out runs, ``extrapolation`` (highest
            mean held-out log predictive density per run over the thresholds where every law
            was scored, the runs the extrapolation weights are stacked on too). On an
            exact tie (the same law twice, or laws that reduce to one another on these
            runs) the first in the LOO table; :meth:`verdict` names every tied law.

        Warns
        -----
        DataWarning
            If the comparison made no extrapolation check (no ``holdout_above``): the
            result then names only the interpolation winner, and the warning says which
            ``holdout_above`` to add (thresholds taken from the runs).
        """
        out = self._best()
        if "extrapolation" not in out and self.extrapolation is None and self.heldout is None:
            warnings.warn(
                "best() names only the PSIS-LOO (interpolation) winner: "
                + self._no_holdout_advice(),
                DataWarning,
                stacklevel=2,
            )
        return out

    def _best(self) -> dict[str, str]:
        """:meth:`best` without its warning."""
        out = {"loo": str(self.loo.index[0])}
        mean = self._extrapolation_means()
        if mean is not None and mean["elpd_per_run"].notna().any():
            out["extrapolation"] = str(mean["elpd_per_run"].idxmax())
        return out

    def suggest_holdout(self) -> dict[str, list[float]] | None:
        """Thresholds for ``holdout_above`` taken from the compared runs.

        The 60% and 80% quantiles of the runs' compute C (of their first input without
        N and D), each rounded to one significant digit, kept when the runs at or below it
        are more than every law's parameters and at least three runs lie above it.

        Returns
        -------
        dict of str to list of float, or None
            E.g. ``{"C": [3e20, 1e21]}``; None when no such threshold exists (too few runs).
        """
        fit_ = next(iter(self.fits.values()), None)
        runs = getattr(fit_, "runs", None)
        if not isinstance(runs, Runs):
            return None
        return _suggest_holdout(runs, [getattr(f, "law", None) for f in self.fits.values()])

    def _no_holdout_advice(self) -> str:
        """Say that no extrapolation check was made, and how to make one."""
        text = (
            "no extrapolation check was made (no held-out larger runs), so nothing here says "
            "which law forecasts best beyond your largest run"
        )
        suggested = self.suggest_holdout()
        if suggested is None:
            return (
                text + "; hold out your largest runs: compare(..., holdout_above={'C': "
                "[threshold, ...]}) (bayescale compare ... --holdout-above C=VALUE)."
            )
        (name, values), *_ = suggested.items()
        listed = ", ".join(_threshold_text(v) for v in values)
        return (
            f"{text}; hold out the larger runs, e.g. compare(..., holdout_above="
            f"{{'{name}': [{listed}]}}) (bayescale compare ... --holdout-above "
            f"{name}={listed.replace(', ', ',')}), thresholds at the 60% and 80% quantiles "
            f"of the runs' {name}."
        )

    def _extrapolation_means(self) -> pd.DataFrame | None:
        """Mean held-out scores per law over the thresholds where every law was scored.

        A law scored at more thresholds than another would otherwise be ranked on other
        runs (a low threshold, with few runs to fit, is hard on every law). NaN where any
        score is NaN; None without such a threshold.
        """
        if self.extrapolation is None or not len(self.extrapolation):
            return None
        laws = [str(name) for name in self.loo.index]
        complete, _ = _scored_splits(self.extrapolation, laws)
        if not complete:
            return None
        frame = self.extrapolation[self.extrapolation["holdout"].astype(str).isin(complete)]
        columns = ["elpd_per_run", "coverage_90"]
        means = frame.groupby("law")[columns].mean(numeric_only=True, skipna=False)
        means.index = means.index.astype(str)
        # Ranked in the order of the LOO table, so that exact ties go to the LOO winner.
        return means.reindex([name for name in laws if name in means.index])

    @property
    def unscored(self) -> list[str]:
        """Laws without a finite held-out score (a forecast or density was not finite)."""
        mean = self._extrapolation_means()
        if mean is None:
            return []
        return [str(name) for name in mean.index[mean["elpd_per_run"].isna()]]

    def verdict(self) -> str:
        """Say in words which law wins on which criterion, and what to watch out for.

        Besides the winners and whether their leads are decisive (two standard errors: of
        the LOO difference, and of the held-out difference with the runs as units), the
        verdict names every law whose held-out 90% intervals covered clearly fewer runs
        than 90% (more than two binomial standard errors below), says when no
        extrapolation check was made (and which ``holdout_above`` to add), and which laws
        the default average leaves out because their fits failed.

        Returns
        -------
        str
            The verdict, one sentence or remark per line.
        """
        best = self._best()
        top = self.loo.iloc[0]
        loo_tied = self._loo_ties()
        if len(loo_tied) > 1:
            which = (
                f"neither {loo_tied[0]} nor {loo_tied[1]}"
                if len(loo_tied) == 2
                else f"none of {_names(loo_tied)}"
            )
            lines = [
                f"PSIS-LOO (interpolation) prefers {which}: they tie (elpd_loo "
                f"{top['elpd_loo']:.1f} +/- {top['se']:.1f} each); not decisive."
            ]
        else:
            lines = [
                f"PSIS-LOO (interpolation) prefers {best['loo']} "
                f"(stacking weight {top['weight']:.2f}; "
                f"elpd_loo {top['elpd_loo']:.1f} +/- {top['se']:.1f})."
            ]
            if len(self.loo) > 1:
                second = self.loo.iloc[1]
                line = _loo_lead_line(
                    str(self.loo.index[1]), float(second["elpd_diff"]), float(second["dse"])
                )
                if line is not None:
                    lines.append(line)
        lines.extend(_alike_lines(self._loo_alike(), self.weights, "the runs (PSIS-LOO)"))
        no_check = self.extrapolation is None and self.heldout is None
        if no_check:
            text = self._no_holdout_advice()
            lines.append(text[0].upper() + text[1:])
        for name in self.unscored:
            lines.append(
                f"{name} has no finite held-out score (its forecast or log density of a "
                f"held-out run was not finite), so it cannot win on extrapolation; see the "
                f"extrapolation table for the threshold concerned."
            )
        ext_tied: list[str] = []
        if "extrapolation" in best:
            ext = self._extrapolation_means()
            w = best["extrapolation"]
            scores = ext["elpd_per_run"]
            ext_tied = [str(n) for n in scores.index if _same(scores[n], scores[w])]
            if len(ext_tied) > 1:
                lines.append(
                    f"On held-out larger runs (extrapolation) {_names(ext_tied)} predict "
                    f"equally well (mean log density per run {scores[w]:.2f}); not decisive."
                )
            else:
                lines.append(
                    f"On held-out larger runs (extrapolation) {w} predicts best "
                    f"(mean log density per run {scores[w]:.2f}, "
                    f"90% interval coverage {ext.loc[w, 'coverage_90']:.0%})."
                )
                lead = self._held_out_lead(w, scores)
                if lead is not None:
                    other, diff, se, n_runs = lead
                    if diff < 0:
                        # The ranking weighs each threshold alike, the pooled sum each
                        # forecast: a big threshold can tip the pooled runs the other way.
                        lines.append(
                            f"Yet over the pooled held-out forecasts {other} leads it by "
                            f"{-diff:.1f} +/- {se:.1f} (summed log density; standard error "
                            f"over the {n_runs} held-out runs): the mean per threshold and the "
                            f"pooled runs disagree, so neither law's lead is decisive."
                        )
                    else:
                        lines.append(_held_out_lead_line(other, diff, se, n_runs))
            if not set(ext_tied) & set(loo_tied):
                lines.append(
                    "The criteria disagree: for forecasts beyond your largest run, trust the "
                    "extrapolation score more, or average the laws."
                )
        lines.extend(self._coverage_lines())
        extra, remarks, _ = self._leave_future_out()
        if extra is not None:
            auto, _, _, left_out = _auto_weights(self.fits, self)
            bagged = self.weighting.get("method") == "bagged_stacking"
            how = (
                f"averaged over {int(self.weighting.get('replicates', BOOTSTRAP_REPLICATES))} "
                f"Bayesian-bootstrap reweightings of those runs"
                if bagged
                else "plain stacking, as this comparison was saved with"
            )
            lines.append(
                f"Stacking weights on the held-out larger runs (extrapolation; {how}): "
                + _shares(extra)
                + "; on PSIS-LOO (interpolation): "
                + _shares(self.weights.reindex(extra.index))
                + "."
            )
            announced = _worth_saying(left_out)
            if announced:
                many = len(left_out) > 1
                lines.append(
                    "Averaged forecasts use the held-out weights without "
                    + _left_out_list(left_out)
                    + ", stacked again without "
                    + ("them" if many else "it")
                    + ": "
                    + _shares(auto.reindex(extra.index))
                    + f"; to include {'them' if many else 'it'}, give the weights explicitly "
                    "(weights='extrapolation' or a dict)."
                )
                fallback = _fallback_sentence(left_out, auto)
                if fallback:
                    lines.append(fallback)
            else:
                lines.append("Averaged forecasts use the held-out weights.")
            heaviest = str(extra.idxmax())
            # (A law left out carries none of the average: the lines above say so.)
            dropped = announced and heaviest in left_out
            if len(extra) > 1 and float(extra[heaviest]) >= 1 - NEGLIGIBLE_WEIGHT and not dropped:
                lines.append(
                    f"{heaviest} carries all the held-out weight ({float(extra[heaviest]):.3f}"
                    + (", even over bootstrap reweightings of the held-out runs" if bagged else "")
                    + "), so the average is its forecast alone: the held-out runs favour it, "
                    "but say nothing of how the forms fare beyond them; to hedge anyway, set "
                    "weights yourself (weights={...})."
                )
            if "extrapolation" in best and heaviest not in ext_tied:
                alike = self._held_out_alike(extra)
                if heaviest not in alike.get(best["extrapolation"], []):
                    lines.append(
                        f"The held-out weights give most to {heaviest} ({extra[heaviest]:.2f}), "
                        f"not to {best['extrapolation']}: stacking weighs the laws as a mixture, "
                        f"so a law that forecasts worse alone can carry weight where it "
                        f"complements the others; it does not contradict the ranking above."
                    )
        elif self.heldout is None and self.extrapolation is not None and len(self.extrapolation):
            lines.append(
                "This comparison has held-out scores but not their pointwise densities (saved "
                "by an older bayescale), so averaged forecasts use the PSIS-LOO weights; rerun "
                "compare to weigh the laws by extrapolation."
            )
            # The ranking leaves out the same thresholds the weights would have.
            complete, missing = _scored_splits(self.extrapolation, list(map(str, self.loo.index)))
            remarks = _left_out_notes(missing, bool(complete))
        if extra is None:
            auto, _, _, left_out = _auto_weights(self.fits, self)
            if _worth_saying(left_out):
                many = len(left_out) > 1
                lines.append(
                    "Averaged forecasts use the PSIS-LOO weights without "
                    + _left_out_list(left_out)
                    + ", stacked again without "
                    + ("them" if many else "it")
                    + ": "
                    + _shares(auto.reindex(self.loo.index))
                    + f"; to include {'them' if many else 'it'}, give the weights explicitly "
                    "(weights='stacking' or a dict)."
                )
                fallback = _fallback_sentence(left_out, auto)
                if fallback:
                    lines.append(fallback)
        lines.extend(remarks)
        for name, splits in self._failed_refits().items():
            many = len(splits) > 1
            lines.append(
                f"{name}: the refit{'s' if many else ''} for the held-out runs at "
                f"{_names(splits)} failed {'their' if many else 'its'} diagnostics, so "
                f"{'those held-out scores are' if many else 'that held-out score is'} less "
                f"trustworthy (diagnostics_ok in the extrapolation table)."
            )
        for name in self.loo.index:
            bad = int(self.loo.loc[name, "pareto_k_bad"])
            if bad:
                instead = (
                    "judge the laws on held-out larger runs instead (holdout_above)"
                    if no_check
                    else "rely on the held-out score"
                )
                lines.append(
                    f"{name}: {bad} run(s) have Pareto k > {PARETO_K_BAD}: they alone shape the "
                    f"fit, so its LOO score is unreliable; check those runs, or {instead}."
                )
            if not getattr(self.fits[name], "ok", True):
                lines.append(f"{name}: {self.fits[name].diagnostics.verdict()}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def _held_out_lead(
        self, winner: str, scores: pd.Series
    ) -> tuple[str, float, float, int] | None:
        """The extrapolation winner's lead over the runner-up on the pooled held-out runs.

        Returns the runner-up, the difference of summed log densities over the held-out
        forecasts where every law was scored, its standard error with the runs as units (a
        run held out at several thresholds is one unit: its differences are summed first),
        and the number of runs; None without pointwise densities or a finite runner-up.
        """
        others = scores.drop(winner).dropna()
        if self.heldout is None or not len(self.heldout) or not len(others):
            return None
        other = str(others.idxmax())
        laws = [str(name) for name in self.loo.index]
        lead = _pooled_lead(self.heldout, laws, winner, other)
        return None if lead is None else (other, *lead)

    def narrow_laws(self) -> dict[str, str]:
        """Return the laws whose held-out 90% intervals covered clearly too few runs.

        Pooled over the thresholds where every law was scored; clearly too few is more
        than two binomial standard errors (``sqrt(0.9 * 0.1 / n)``) below 90%.

        Returns
        -------
        dict of str to str
            ``{law: "60% (12 of 20)"}``: the share of held-out runs inside, and the counts;
            empty without held-out runs.
        """
        table = self.extrapolation
        needed = {"law", "holdout", "coverage_90", "n_test"}
        if table is None or not len(table) or not needed <= set(table.columns):
            return {}
        laws = [str(name) for name in self.loo.index]
        complete, _ = _scored_splits(table, laws)
        used = table[table["holdout"].astype(str).isin(complete)]
        low = {}
        for name in laws:
            rows = used[used["law"].astype(str) == name]
            n = float(pd.to_numeric(rows["n_test"], errors="coerce").sum())
            cov = pd.to_numeric(rows["coverage_90"], errors="coerce")
            if not n > 0 or cov.isna().any():
                continue
            inside = float((cov * pd.to_numeric(rows["n_test"])).sum())
            share = inside / n
            if share < 0.9 - 2 * np.sqrt(0.9 * 0.1 / n):
                low[name] = f"{share:.0%} ({round(inside)} of {round(n)})"
        return low

    def _coverage_lines(self) -> list[str]:
        """Name every law whose held-out 90% intervals covered clearly too few runs."""
        low = [f"{name} {share}" for name, share in self.narrow_laws().items()]
        if not low:
            return []
        many = len(low) > 1
        return [
            f"Held-out 90% intervals too narrow: {_names(low)} of the held-out forecasts "
            f"fell inside, more than two binomial standard errors below 90%: "
            f"{'these laws are' if many else 'this law is'} overconfident beyond the runs; "
            f"read {'their' if many else 'its'} intervals there as a lower bound on the "
            f"uncertainty, or prefer a law whose held-out intervals cover."
        ]

    def _loo_alike(self) -> dict[str, list[str]]:
        """Laws whose pointwise PSIS-LOO densities agree (the ``alike`` column of ``loo``).

        Empty for comparisons saved before the column was kept.
        """
        if "alike" not in self.loo.columns:
            return {}
        names = [str(name) for name in self.loo.index]
        out: dict[str, list[str]] = {}
        for name, others in zip(names, self.loo["alike"], strict=True):
            # An empty cell reads back from CSV as NaN.
            found = str(others).split() if isinstance(others, str) else []
            if found:
                group = [n for n in names if n == name or n in found]
                out[name] = group
        return out

    def _held_out_alike(self, weights: pd.Series) -> dict[str, list[str]]:
        """Laws whose held-out densities agree, as the extrapolation weights' notes say."""
        if self.heldout is None or not len(self.heldout):
            return {}
        laws = [str(name) for name in weights.index]
        frame = self.heldout[self.heldout["law"].astype(str).isin(laws)]
        complete, _ = _scored_splits(frame, laws)
        used = frame[frame["holdout"].astype(str).isin(complete)]
        table = used.set_index(["holdout", "run", "law"])["log_density"].unstack("law")
        return _alike_groups(laws, {n: table[n].to_numpy(dtype=float) for n in laws})

    def _loo_ties(self) -> list[str]:
        """The LOO winner and every law whose elpd_loo equals it exactly (same runs, same
        fit), to within float rounding, with no standard error of the difference."""
        top = self.loo.iloc[0]
        tied = [str(self.loo.index[0])]
        for name, row in self.loo.iloc[1:].iterrows():
            if _same(row["elpd_loo"], top["elpd_loo"]) and _same(row["dse"], 0.0):
                tied.append(str(name))
        return tied

    def _failed_refits(self) -> dict[str, list[str]]:
        """Per law, the held-out splits whose refit failed its diagnostics."""
        table = self.extrapolation
        if table is None or not len(table) or "diagnostics_ok" not in table.columns:
            return {}
        # Booleans, or after a CSV round trip beside a missing value the strings "False"...
        failed = table[table["diagnostics_ok"].astype(str) == "False"]
        out: dict[str, list[str]] = {}
        for law, split in zip(failed["law"], failed["holdout"], strict=True):
            out.setdefault(str(law), []).append(str(split))
        return out

    def average(self, weights: Mapping[str, float] | str = "auto", seed: int = 0) -> Average:
        """Model-average the fits (see :func:`average`).

        By default (``"auto"``) with the extrapolation weights when the comparison has
        held-out runs, else with the PSIS-LOO stacking weights; either way without the laws
        whose fits (or held-out refits) failed their diagnostics (a warning names each and
        its weight; ``weights="extrapolation"`` or ``"stacking"`` keeps them).

        Parameters
        ----------
        weights : {"auto", "extrapolation", "extrapolation_stacking", "stacking"} or mapping
            ``"auto"`` (default): as above. ``"extrapolation"``: stacking on the held-out
            larger runs averaged over Bayesian-bootstrap reweightings of them
            (:attr:`extrapolation_weights`), failed laws included.
            ``"extrapolation_stacking"``: plain stacking on the same runs.
            ``"stacking"``: stacking on PSIS-LOO (:attr:`weights`), failed laws included.
            Or ``{law: weight}``, rescaled to sum to 1; a law not named gets 0.
        seed : int, default 0
            Seed of the selection of each law's pooled draws.

        Returns
        -------
        Average
            ``.forecast(at, level)`` and ``.prob_below(target_loss, ...)`` of the pooled
            draws; ``.weights``, and ``.method`` and ``.reason`` (which weights and why).

        Raises
        ------
        DataError
            If weights are negative, all zero, name unknown laws or an unknown method, or
            extrapolation weights are asked of a comparison without held-out runs.

        Warns
        -----
        DataWarning
            If ``"auto"`` leaves out a law whose fit failed (naming the weight it would have
            had), or user weights leave a law out and do not sum to 1.
        """
        return average(self.fits, weights=weights, seed=seed, comparison=self)

    def save(self, folder: str | Path, overwrite: bool = False) -> dict[str, Path]:
        """Write the tables, the verdict and every fit into a folder.

        Every destination is checked before anything is written, and each file is written
        atomically (see :func:`bayescale._files.write_atomic`).

        Parameters
        ----------
        folder : str or Path
            Created if missing.
        overwrite : bool, default False
            Replace earlier outputs, and remove the files of an earlier comparison in the
            folder that this one does not write (its held-out tables, other laws' fits, as
            its notes.json lists them; no other file).

        Returns
        -------
        dict of str to Path
            ``loo`` (loo.csv), ``extrapolation`` (extrapolation.csv) and ``heldout``
            (heldout.csv, the pointwise held-out log densities) with held-out runs,
            ``verdict`` (verdict.txt), ``notes`` (notes.json) and ``fit_<law>``
            (fits/<law>.nc) for each law.

        Raises
        ------
        OutputExistsError
            If an output exists and ``overwrite`` is False (nothing is written then).
        BayescaleError
            If the folder cannot be created or written.
        """
        folder = Path(folder)
        files = comparison_files(folder, list(self.fits), self.extrapolation is not None)
        if self.extrapolation is None and self.heldout is not None:
            raise BayescaleError(
                "a comparison with held-out densities needs its extrapolation table to be saved"
            )
        # What an earlier comparison here wrote (its notes list its laws), read before they
        # are replaced: only those files are removed below, never a user's own.
        earlier = _saved_files(folder) if overwrite and folder.is_dir() else None
        _ready_folder(folder, files, overwrite, "comparison", " (bayescale compare --force)")
        text = {
            "loo": self.loo.to_csv(),
            "verdict": self.verdict() + "\n",
            "notes": json.dumps(
                {
                    "format": 1,
                    "notes": list(self.notes),
                    # How the extrapolation weights are made: a reload weighs as this one.
                    "weighting": dict(self.weighting),
                    # The laws in the order given: a reload lists them so, not by LOO rank.
                    "laws": list(self.fits),
                    # Which fit each file holds, so that a file swapped in is refused on load.
                    "fits": {name: _fit_identity(f) for name, f in self.fits.items()},
                    # What this comparison wrote: all a later one over it may remove.
                    "files": sorted(str(p.relative_to(folder)) for p in files.values()),
                },
                indent=1,
            )
            + "\n",
        }
        if self.extrapolation is not None:
            text["extrapolation"] = self.extrapolation.to_csv(index=False)
            # Written even when empty, so that the folder's file list follows from the
            # comparison alone (see comparison_files).
            heldout = self.heldout if self.heldout is not None else _empty_heldout()
            text["heldout"] = heldout.to_csv(index=False)
        contents = {files[f"fit_{name}"]: f._file_bytes() for name, f in self.fits.items()}
        contents.update({files[key]: content.encode("utf-8") for key, content in text.items()})
        # What the earlier comparison in this folder wrote and this one does not: its held-out
        # tables (read back by load as this comparison's) and other laws' fits.
        written = set(files.values())
        stale = [path for path in earlier or () if path not in written]
        # One output: an interrupt or a failure leaves the earlier comparison whole.
        _files.write_many(contents, overwrite=overwrite, remove=stale)
        return files

    @classmethod
    def load(cls, folder: str | Path) -> Comparison:
        """Read a comparison written by :meth:`save` (or ``bayescale compare --out``).

        Parameters
        ----------
        folder : str or Path
            The folder.

        Returns
        -------
        Comparison
            Its tables, notes and fits (each reloaded with :func:`bayescale.load_fit`).
            Folders saved before the pointwise held-out densities were kept (no
            heldout.csv) load with ``heldout`` None: no extrapolation weights.

        Raises
        ------
        BayescaleError
            If the folder, its ``loo.csv`` or a fit is missing or unreadable, or the files
            disagree (a file cut short, fewer than two laws, held-out densities that do not
            match the extrapolation table).
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise BayescaleError(f"comparison folder not found: '{folder}'")
        try:
            tables = cls._read_tables(folder)
        except _Damaged as err:
            raise BayescaleError(
                f"damaged comparison folder '{folder}': {err}; re-run compare"
            ) from None
        loo, extrapolation, heldout, notes, identities, weighting, order = tables
        fits = {}
        # Folders saved before the order was kept list the laws by LOO rank.
        for name in order or loo.index:
            path = folder / "fits" / f"{name}.nc"
            if not path.is_file():
                raise BayescaleError(f"'{folder}' lacks the fit of {name} ({path})")
            fits[name] = load_fit(path)
            saved = identities.get(name)
            if saved is not None and saved != _fit_identity(fits[name]):
                raise BayescaleError(
                    f"damaged comparison folder '{folder}': {path} is not the fit this "
                    f"comparison saved as {name} (it holds law {fits[name].law.name!r} with "
                    f"other draws); restore it or re-run compare"
                )
        return cls(fits, loo, extrapolation, notes, heldout, weighting)

    @staticmethod
    def _read_tables(
        folder: Path,
    ) -> tuple[
        pd.DataFrame,
        pd.DataFrame | None,
        pd.DataFrame | None,
        list[str],
        dict[str, str],
        dict[str, Any],
        list[str] | None,
    ]:
        """A saved comparison's tables and notes, checked against each other, each fit's
        identity as saved (none for folders saved before it was), its weighting, and the
        laws in the order they were given (None for folders saved before it was kept)."""
        loo_file = folder / "loo.csv"
        if not loo_file.is_file() and (folder / "pooling.csv").is_file():
            choice = _favoured_pooling(folder / "pooling.csv")
            raise BayescaleError(
                f"'{folder}' holds pooling.csv, a comparison of pooling choices "
                f"(compare_pooling; bayescale compare ... --pooling), not a saved comparison "
                f"of laws: it keeps no fit to forecast from. Fit the runs with the pooling "
                f"you choose from it (fit(runs, law, pooling='{choice}'); on the command "
                f"line: bayescale fit DATA ... --group COLUMN --pooling {choice} --out FIT.nc) "
                f"and forecast or report from that fit"
            )
        if not loo_file.is_file():
            fits = sorted(p.name for p in folder.glob("*.nc"))
            hint = ""
            if fits:
                shown = ", ".join(f"'{folder / name}'" for name in fits[:3])
                hint = (
                    f"; it holds {'a saved fit' if len(fits) == 1 else 'saved fits'}: give "
                    f"the file instead, e.g. {shown}"
                )
            raise BayescaleError(f"'{folder}' has no loo.csv; it is not a saved comparison{hint}")
        try:
            _check_whole(loo_file)
            loo = pd.read_csv(loo_file, index_col=0)
            if "alike" in loo.columns:
                # An empty cell (no law alike) reads back as NaN: kept as the empty text saved.
                loo["alike"] = [v if isinstance(v, str) else "" for v in loo["alike"]]
            extra = folder / "extrapolation.csv"
            extrapolation = None
            if extra.is_file():
                _check_whole(extra)
                extrapolation = pd.read_csv(extra, dtype={"law": str, "holdout": str})
            heldout_file = folder / "heldout.csv"
            heldout = None
            if heldout_file.is_file():
                _check_whole(heldout_file)
                heldout = pd.read_csv(heldout_file, dtype={"law": str, "holdout": str})
                if set(heldout.columns) != set(_HELDOUT_COLUMNS):
                    raise _Damaged(
                        "heldout.csv",
                        f"columns {list(heldout.columns)}, expected {list(_HELDOUT_COLUMNS)}",
                    )
                heldout["log_density"] = heldout["log_density"].astype(float)
            notes_file = folder / "notes.json"
            notes, identities = [], {}
            order: list[str] | None = None
            # Saved before the weighting was recorded: plain stacking, as it was then.
            weighting: dict[str, Any] = {"method": "stacking"}
            if notes_file.is_file():
                try:
                    saved = json.loads(notes_file.read_text("utf-8"))
                    notes = saved["notes"]
                    identities = {str(k): str(v) for k, v in dict(saved.get("fits", {})).items()}
                    weighting = dict(saved.get("weighting", weighting))
                    if "laws" in saved:
                        order = [str(name) for name in saved["laws"]]
                except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                    raise _Damaged("notes.json", "not the notes compare writes") from None
                if weighting.get("method") not in ("stacking", "bagged_stacking"):
                    raise _Damaged("notes.json", f"an unknown weighting {weighting!r}")
        except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError) as err:
            raise BayescaleError(f"cannot read the comparison in '{folder}': {err}") from None
        required = {"elpd_loo", "se", "elpd_diff", "dse", "weight", "pareto_k_bad"}
        if not required <= set(loo.columns):
            missing = ", ".join(sorted(required - set(loo.columns)))
            raise BayescaleError(f"'{loo_file}' lacks {missing}; it is not a saved comparison")
        loo.index = loo.index.astype(str)
        loo.index.name = "law"
        _check_agree(loo, extrapolation, heldout)
        if order is not None and sorted(order) != sorted(loo.index):
            raise _Damaged(
                "notes.json",
                f"it lists the laws {', '.join(order)}; loo.csv has {', '.join(loo.index)}",
            )
        notes = [str(n) for n in notes]
        return loo, extrapolation, heldout, notes, identities, weighting, order


_HELDOUT_COLUMNS = ("law", "holdout", "threshold", "run", "log_density")


class _Damaged(Exception):
    """A file of a saved comparison disagrees with itself or with the other files."""

    def __init__(self, file: str, what: str) -> None:
        super().__init__(f"{file}: {what}")


def _slip_runs(fits: Mapping[str, Fit]) -> Runs:
    """The runs an average's points are checked for slips against: those of the first law
    in N and D, else the first law's."""
    return next(
        (f.runs for f in fits.values() if {"N", "D"} <= set(f.runs.inputs)),
        next(iter(fits.values())).runs,
    )


def _ready_folder(
    folder: Path, files: Mapping[str, Path], overwrite: bool, what: str, remedy: str = ""
) -> None:
    """Check every destination of a saved comparison or average before anything is written:
    the folder is one, outputs are not replaced unless asked, ``fits/`` exists, each file
    can be written.

    Raises
    ------
    OutputExistsError
        If an output exists and ``overwrite`` is False.
    BayescaleError
        If the folder is a file, or a destination cannot be created or written.
    """
    if folder.exists() and not folder.is_dir():
        raise BayescaleError(f"'{folder}' is a file; give a folder for the {what}")
    existing = [str(p) for p in files.values() if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{', '.join(existing)} exist already; choose another folder, or replace "
            f"them with save(..., overwrite=True){remedy}",
            path=folder,
        )
    try:
        (folder / "fits").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BayescaleError(f"cannot create folder '{folder / 'fits'}': {err}") from None
    for path in files.values():
        _files.check_destination(path, overwrite=True)


def _check_whole(path: Path) -> None:
    """Refuse a table cut short: :meth:`Comparison.save` ends every line, the last too."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        if handle.tell() == 0:
            raise _Damaged(path.name, "the file is empty")
        handle.seek(-1, 2)
        if handle.read(1) != b"\n":
            raise _Damaged(path.name, "the file ends mid-line (cut short)")


def _check_agree(
    loo: pd.DataFrame, extrapolation: pd.DataFrame | None, heldout: pd.DataFrame | None
) -> None:
    """Refuse a saved comparison whose tables do not describe the same laws and runs."""
    laws = set(loo.index)
    if len(loo) < 2:
        raise _Damaged("loo.csv", f"only {len(loo)} law(s); a comparison has at least 2")
    if not loo.index.is_unique:
        raise _Damaged("loo.csv", "a law appears twice")
    tables = {"extrapolation.csv": extrapolation, "heldout.csv": heldout}
    for file, table in tables.items():
        if table is None:
            continue
        if not {"law", "holdout"} <= set(table.columns):
            raise _Damaged(file, "it lacks the law and holdout columns")
        if table[["law", "holdout"]].isna().any(axis=None):
            raise _Damaged(file, "a row lacks its law or holdout")
        unknown = sorted(set(table["law"]) - laws)
        if unknown:
            raise _Damaged(file, f"it names {', '.join(unknown)}, which loo.csv does not")
    # Saved without pointwise densities (save writes an empty table then): nothing to match.
    if heldout is None or not len(heldout):
        return
    if extrapolation is None:
        raise _Damaged("extrapolation.csv", "missing, while heldout.csv is there")
    counts = heldout.groupby(["law", "holdout"]).size()
    expected = (
        extrapolation.set_index(["law", "holdout"])["n_test"]
        if "n_test" in extrapolation.columns
        else pd.Series(np.nan, index=pd.MultiIndex.from_frame(extrapolation[["law", "holdout"]]))
    )
    for law, split in sorted(set(counts.index) ^ set(expected.index)):
        if (law, split) in counts.index:
            raise _Damaged("heldout.csv", f"{law} at {split} has no row in extrapolation.csv")
        raise _Damaged("extrapolation.csv", f"{law} at {split} has no densities in heldout.csv")
    for key, n in expected.dropna().items():
        if counts[key] != n:
            raise _Damaged(
                "heldout.csv",
                f"{counts[key]} held-out densities of {key[0]} at {key[1]}, "
                f"extrapolation.csv says {int(n)}",
            )


def _empty_heldout() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in _HELDOUT_COLUMNS})


def _shares(weights: pd.Series, at_least: float = 0.0) -> str:
    """``"chinchilla 0.70, kaplan 0.30"``: the laws with at least ``at_least`` weight."""
    return ", ".join(f"{name} {float(w):.2f}" for name, w in weights.items() if w >= at_least)


def _fit_identity(fit_: Fit) -> str:
    """A digest of what makes a fit this one: its law, its runs and its draws."""
    parts = [
        fit_.law.name,
        fit_.law.formula.text,
        str(fit_.info.get("data_fingerprint", fit_.runs.fingerprint())),
    ]
    digest = hashlib.sha256(json.dumps(parts).encode("utf-8"))
    posterior = fit_.idata.posterior
    for name in sorted(posterior.data_vars):  # float64 draws survive NetCDF exactly
        digest.update(np.ascontiguousarray(posterior[name].values, dtype="<f8").tobytes())
    return digest.hexdigest()[:16]


def _alike_groups(
    names: Sequence[str], densities: Mapping[str, np.ndarray]
) -> dict[str, list[str]]:
    """Laws whose pointwise log densities all agree to within :data:`ALIKE_NATS`.

    Two such laws predict every run alike (the same model, or one that reduces to the
    other on these runs): stacking cannot tell them apart, so how it splits their weight is
    arbitrary. Agreement is transitive here (groups are connected components), so that a
    law is in one group only.

    Parameters
    ----------
    names : sequence of str
        The laws, in the order their groups list them.
    densities : mapping of str to numpy.ndarray
        Each law's log densities of the same points, in the same order.

    Returns
    -------
    dict of str to list of str
        For each law in a group of two or more, the group's laws (itself included).
    """
    group = {name: i for i, name in enumerate(names)}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = np.asarray(densities[a], dtype=float) - np.asarray(densities[b], dtype=float)
            # NaN (a failed density, or -inf against -inf) never counts as agreement.
            if len(diff) and bool(np.all(np.abs(diff) < ALIKE_NATS)):
                old, new = group[b], group[a]
                group = {n: new if g == old else g for n, g in group.items()}
    members: dict[int, list[str]] = {}
    for name in names:
        members.setdefault(group[name], []).append(name)
    return {name: members[group[name]] for name in names if len(members[group[name]]) > 1}


def _alike_lines(groups: Mapping[str, list[str]], weights: pd.Series, what: str) -> list[str]:
    """Say which laws predict alike, and that their share of the weights is arbitrary."""
    lines, said = [], set()
    for name, members in groups.items():
        if name in said:
            continue
        said.update(members)
        shares = ", ".join(f"{float(weights.get(n, np.nan)):.2f}" for n in members)
        total = float(sum(weights.get(n, 0.0) for n in members))
        if not total >= NEGLIGIBLE_WEIGHT:
            continue  # how nothing is split between them says nothing
        lines.append(
            f"{_names(members)} predict {what} almost identically (log densities within "
            f"{ALIKE_NATS:g} at every run): these runs do not tell them apart (the same "
            f"model, or forms that agree here), and stacking splits their weight ({shares}) "
            f"arbitrarily; read it as one weight ({total:.2f}), or keep one of them."
        )
    return lines


def _same(a: float, b: float) -> bool:
    """Equal to within float rounding: identical scores summed in another order."""
    return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-9))


def _threshold_text(threshold: float) -> str:
    """A threshold as people write it: 2.9e18, not 2.9e+18."""
    return clean_exponent(f"{threshold:g}")


def _names(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _pooled_lead(
    heldout: pd.DataFrame, laws: Sequence[str], winner: str, other: str
) -> tuple[float, float, int] | None:
    """``winner``'s lead over ``other`` on the pooled held-out runs.

    ``heldout`` holds pointwise log densities (columns ``law``, ``holdout``, ``run``,
    ``log_density``; ``law`` may name a pooling choice). Returns the difference of summed log
    densities over the splits where every one of ``laws`` was scored, its standard error with
    the runs as units (a run held out at several thresholds is one unit: its differences are
    summed first), and the number of runs; None when there is nothing finite to compare.
    """
    frame = heldout[heldout["law"].astype(str).isin(laws)]
    complete, _ = _scored_splits(frame, laws)
    used = frame[frame["holdout"].astype(str).isin(complete)]
    table = used.set_index(["holdout", "run", "law"])["log_density"].unstack("law")
    if winner not in table or other not in table:
        return None
    diff = (table[winner] - table[other]).to_numpy(dtype=float)
    if not len(diff) or not np.isfinite(diff).all():
        return None
    per_run = pd.Series(diff).groupby(table.index.get_level_values("run").to_numpy()).sum()
    n_runs = len(per_run)
    se = float(per_run.std(ddof=1) * np.sqrt(n_runs)) if n_runs > 1 else float("nan")
    if not np.isfinite(se):
        return None
    return float(diff.sum()), se, n_runs


def _held_out_lead_line(other: str, diff: float, se: float, n_runs: int) -> str:
    """The held-out winner's lead over ``other`` (see :func:`_pooled_lead`), and whether it
    is decisive (two standard errors)."""
    return (
        f"Its held-out lead over {other}: {diff:.1f} +/- {se:.1f} (summed log density; "
        f"standard error over the {n_runs} held-out runs)"
        + (
            ": decisive on these runs."
            if diff >= 2 * se
            else ", within two standard errors: not decisive."
        )
    )


def _loo_lead_line(other: str, diff: float, dse: float) -> str | None:
    """The PSIS-LOO winner's lead over ``other`` when it is within two standard errors (its
    difference ``dse``): not decisive; None for a decisive lead."""
    if not diff < 2 * dse:  # decisive, or no standard error to judge by
        return None
    return (
        f"Its lead over {other} ({diff:.1f} +/- {dse:.1f}) is within two standard errors: "
        f"not decisive."
    )


def _scored_splits(frame: pd.DataFrame, laws: Sequence[str]) -> tuple[list[str], dict[str, list]]:
    """The held-out splits where every law was scored, and the laws missing from each other.

    ``frame`` has a ``law`` and a ``holdout`` column (the extrapolation table or the
    pointwise densities); splits keep their order of appearance.
    """
    scored = frame.groupby("holdout", sort=False)["law"].agg(lambda s: set(s.astype(str)))
    complete, missing = [], {}
    for split, names in scored.items():
        absent = [name for name in laws if name not in names]
        if absent:
            missing[str(split)] = absent
        else:
            complete.append(str(split))
    return complete, missing


def _left_out_notes(missing: Mapping[str, Sequence[str]], any_complete: bool) -> list[str]:
    """Say which held-out splits the extrapolation ranking and weights leave out, and why."""
    notes = [
        f"Held-out runs at {split} do not enter the extrapolation ranking or weights: "
        f"{_names(absent)} {'was' if len(absent) == 1 else 'were'} not scored there."
        for split, absent in missing.items()
    ]
    if missing and not any_complete:
        notes.append(
            "No threshold has every law scored, so there is no extrapolation ranking and "
            "there are no extrapolation weights."
        )
    return notes


def _saved_files(folder: Path) -> list[Path] | None:
    """The files the comparison saved in ``folder`` wrote, as its notes list them.

    None if the folder holds no comparison's notes. Notes written before the list was kept
    give the fits they name, and the held-out tables if both are there (a comparison with
    held-out runs writes both). Only names a comparison writes are taken, so that notes
    edited by hand cannot point outside the folder.
    """
    try:
        saved = json.loads((folder / "notes.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or not isinstance(saved.get("fits"), dict):
        return None
    tables = {"loo.csv", "verdict.txt", "notes.json", "extrapolation.csv", "heldout.csv"}
    listed = saved.get("files")
    if not isinstance(listed, list):
        listed = [f"fits/{name}.nc" for name in saved["fits"]]
        if (folder / "extrapolation.csv").is_file() and (folder / "heldout.csv").is_file():
            listed += ["extrapolation.csv", "heldout.csv"]
    out = []
    for name in listed:
        path = Path(str(name))
        fit_file = (
            len(path.parts) == 2
            and path.parts[0] == "fits"
            and path.suffix == ".nc"
            and path.parts[1] not in (".", "..")
        )
        if fit_file or (len(path.parts) == 1 and path.name in tables):
            out.append(folder / path)
    return out


def comparison_files(folder: Path, names: Sequence[str], extrapolation: bool) -> dict[str, Path]:
    """The files :meth:`Comparison.save` writes, so that callers can check them first.

    Parameters
    ----------
    folder : Path
        The comparison's folder.
    names : sequence of str
        The laws' names (one fit file each).
    extrapolation : bool
        Whether held-out scores are saved.

    Returns
    -------
    dict of str to Path
        ``loo``, ``verdict``, ``notes``, ``extrapolation`` and ``heldout`` (if any) and
        ``fit_<law>``.
    """
    files = {
        "loo": folder / "loo.csv",
        "verdict": folder / "verdict.txt",
        "notes": folder / "notes.json",
    }
    if extrapolation:
        files["extrapolation"] = folder / "extrapolation.csv"
        files["heldout"] = folder / "heldout.csv"
    for name in names:
        files[f"fit_{name}"] = folder / "fits" / f"{name}.nc"
    return files


def name_laws(
    laws: Sequence[str | Path | Law] | Mapping[str, str | Path | Law],
    runs: Runs | None = None,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Law]:
    """The laws of a comparison by the names their rows and files take.

    A formula is a law named ``"custom"``: formulas given as text are named ``custom_1``,
    ``custom_2``, ... in the order given, so that several can be compared (``bayescale
    compare --laws`` names them the same way). Laws given as :class:`Law` objects keep their
    names.

    Parameters
    ----------
    laws : sequence or mapping
        Catalog names, paths of ``.toml`` law files, formulas or Laws; or a mapping
        ``{name: law}`` whose keys name them (a formula or file then takes that name).
    runs : Runs, optional
        The runs the laws will be fitted to: a formula's inputs and default priors come
        from them (see :meth:`Law.from_formula`).
    priors : mapping, optional
        Priors per law name, as :func:`compare` takes them: a formula's names given a prior
        are its parameters (see :func:`bayescale.laws.get_law`'s ``declared``).

    Returns
    -------
    dict of str to Law
        The laws by name, in the order given.

    Raises
    ------
    DataError
        If two laws take the same name (the message says where each came from: a catalog
        name, a law file or a Law), or a name cannot name a row and a file.
    LawError, FormulaError
        If an entry is not a law (see :func:`bayescale.laws.get_law`).
    """
    if isinstance(laws, str | Path | Law):
        raise DataError(
            f"laws must be several laws, e.g. laws=['chinchilla', 'kaplan'], got {laws!r}"
        )
    if isinstance(laws, Mapping):
        _check_names(list(laws))
        out = {}
        for name, entry in laws.items():
            law = get_law(entry, runs=runs, declared=tuple((priors or {}).get(name, ())))
            out[name] = law if law.name == name else replace(law, name=name)
        return out
    from bayescale.laws import catalog

    entries = catalog()
    chosen: list[tuple[Law, str]] = []
    numbered = 0
    for entry in laws:
        # A formula's name is known before it is read (the next custom_k): its priors declare
        # its parameters, as fit(priors=) does.
        declared = tuple((priors or {}).get(f"custom_{numbered + 1}", ()))
        law = get_law(entry, runs=runs, declared=declared)
        if isinstance(entry, Law):
            origin = f"a Law named {law.name!r}"
        elif isinstance(entry, str) and entry in entries:
            origin = f"the catalog law {entry!r}"
        elif law.name == "custom" and isinstance(entry, str) and not law.source_text:
            numbered += 1
            law = replace(law, name=f"custom_{numbered}")
            origin = f"the formula {entry!r}"
        else:
            origin = f'the law file {str(entry)!r} (name = "{law.name}" in the file)'
        chosen.append((law, origin))
    names = [law.name for law, _ in chosen]
    for name in dict.fromkeys(names):
        origins = [origin for law, origin in chosen if law.name == name]
        # Law objects alone: _check_names says how to name them (name=...).
        if len(origins) > 1 and not all(o.startswith("a Law") for o in origins):
            where = (
                f"{origins[0]}, {len(origins)} times"
                if len(set(origins)) == 1
                else _names(list(dict.fromkeys(origins)))
            )
            raise DataError(
                f"{name} given more than once: {where}; name each law once: drop the "
                f"repeat, change the name = line of a law file, or in Python give the laws "
                f"as a mapping {{'name': law, ...}}"
            )
    _check_names(names)
    return {law.name: law for law, _ in chosen}


def _check_names(names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise DataError(
                f"law name {name!r} cannot name a comparison's row and file; use letters, "
                f"digits, '_', '.' and '-' (e.g. Law.from_formula(..., name='my_law'))"
            )
        if name in seen:
            raise DataError(
                f"two laws are named {name!r}; give each a distinct name "
                f"(Law.from_formula(..., name=...), or fits={{'a': fit_a, 'b': fit_b}})"
            )
        seen.add(name)


def compare(
    fits: Mapping[str, Fit] | Runs | pd.DataFrame | str | None = None,
    laws: Sequence[str | Path | Law] | Mapping[str, str | Path | Law] | None = None,
    *,
    holdout_above: Mapping[str, float | Sequence[float]] | float | Sequence[float] | None = None,
    sampler: SamplerSettings | Mapping[str, Any] | None = None,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    target_accept: float | None = None,
    discrepancy: str | None = "auto",
    levels: float | Sequence[float] | None = None,
    level: float | Sequence[float] | None = None,
) -> Comparison:
    """Compare law forms by PSIS-LOO with stacking weights and, optionally, by extrapolation.

    Parameters
    ----------
    fits : mapping of str to Fit, or runs
        Fits of several laws to the same runs, e.g. ``{"chinchilla": fit_a, "kaplan":
        fit_b}``; or the runs (Runs, DataFrame or path), in which case every law in ``laws``
        is fitted to them.
    laws : sequence of str or Law, or mapping of str to str or Law, optional
        Laws to fit when ``fits`` are runs; needed for extrapolation scores: catalog names,
        ``.toml`` paths, formulas or Laws (see :func:`name_laws`: formulas are named
        ``custom_1``, ``custom_2``, ...), or ``{name: law}`` to name them. Their names
        must differ.
    holdout_above : mapping, float or sequence of float, optional
        ``{input: threshold or thresholds}``, e.g. ``{"C": [1e20, 1e21]}``: for each
        threshold, fit every law on the runs at or below it and score the runs above it
        (see :func:`score`). ``C`` may be used when the runs have N and D. A bare number
        or list of numbers (``1e20``, ``[1e20, 1e21]``) is a threshold on compute C, for
        runs that have C (or N and D); other inputs must be named. Laws given as
        fits are refitted with their own priors, and their own sampler settings unless
        settings are given here.
    sampler : SamplerSettings or mapping, optional
        Sampler settings of the fits made here (see :class:`~bayescale.SamplerSettings`);
        the keywords below, when given, override it.
    priors : mapping, optional
        Replacement priors per law name, ``{"chinchilla": {"alpha": {...}}}``.
    draws, tune, chains, seed : int, optional
        Sampler settings of the fits made here.
    target_accept : float, optional
        Sampler step-size target of the fits made here.
    discrepancy : {"auto", "backtest", "none"}, default "auto"
        Model discrepancy of the fits made here (see :func:`bayescale.fit`); laws given as
        fits are refitted with their own. Held-out scores then judge the discrepancy-aware
        predictive distribution.
    levels : float or sequence of float, default (0.5, 0.8, 0.9)
        Predictive-interval levels whose coverage is scored.
    level : float or sequence of float, optional
        Another name for ``levels`` (as :meth:`Fit.forecast` calls it); give one of the two.

    Returns
    -------
    Comparison
        Tables, stacking weights (on PSIS-LOO, and with held-out runs on them too:
        :attr:`Comparison.extrapolation_weights`), the pointwise held-out densities, fits
        and a verdict.

    Raises
    ------
    DataError
        If fewer than two laws are given (``laws=[]`` included), fits were made on
        different runs or target columns (the message says what differs), two laws share a
        name, a setting is out of range, or a threshold leaves no run to score or fewer
        runs to fit than any law's parameters; or ``holdout_above`` is not thresholds (a
        bare number for runs without C included), or both ``level`` and ``levels`` are
        given. All of these are checked before any sampling.
    """
    settings = SamplerSettings.of(
        sampler, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept
    )
    levels = _levels(levels, level)
    priors = dict(priors or {})
    if isinstance(fits, Mapping):
        _check_names(list(fits))
        if len(fits) < 2:
            raise DataError(
                f"compare needs at least two laws, got {len(fits)}: give fits={{'a': fit_a, "
                f"'b': fit_b}}"
            )
        fitted = dict(fits)
        law_objects = {name: f.law for name, f in fitted.items()}
        runs = next(iter(fitted.values())).runs if fitted else None
        _check_same_data(fitted)
        holdout_above = _holdout_thresholds(holdout_above, runs)
        if holdout_above:
            _check_holdout(runs, holdout_above, law_objects)
        explicit = sampler is not None or any(
            v is not None for v in (draws, tune, chains, seed, target_accept)
        )
        refit = {name: settings if explicit else f.sampler for name, f in fitted.items()}
        kinds = {name: f.settings.get("discrepancy") for name, f in fitted.items()}
    else:
        if fits is None:
            raise DataError("give fits={'name': fit, ...}, or runs and laws=[...] to fit")
        if laws is None:
            raise DataError(
                "compare(runs) needs the laws to fit: laws=['chinchilla', 'kaplan'] (or give "
                "fits={'name': fit, ...})"
            )
        if isinstance(laws, Sequence | Mapping) and not isinstance(laws, str) and not laws:
            raise DataError(
                "laws is empty: give at least two laws to compare, e.g. "
                "laws=['chinchilla', 'kaplan']"
            )
        runs = _as_runs(fits, "compare")
        law_objects = name_laws(laws, runs=runs, priors=priors)
        if len(law_objects) < 2:
            raise DataError(
                f"compare needs at least two laws, got {_names(list(law_objects))}: add "
                f"another, e.g. laws=['chinchilla', 'kaplan']"
            )
        unknown = sorted(set(priors) - set(law_objects))
        if unknown:
            raise DataError(
                f"priors name laws that are not compared: {', '.join(unknown)}; "
                f"the laws are {', '.join(law_objects)}"
            )
        law_objects = {
            name: law.with_priors(priors[name]) if name in priors else law
            for name, law in law_objects.items()
        }
        refit = dict.fromkeys(law_objects, settings)
        kinds = dict.fromkeys(law_objects, discrepancy)
        # Everything that can be checked without sampling is, before any fit is made.
        holdout_above = _holdout_thresholds(holdout_above, runs)
        if holdout_above:
            _check_holdout(runs, holdout_above, law_objects)
        fitted = {
            name: fit(runs, law, sampler=settings, discrepancy=discrepancy)
            for name, law in law_objects.items()
        }
    loo = _loo_table(fitted)
    extrapolation = None
    notes: list[str] = []
    mixed = len(_scales(list(law_objects.values()))) > 1
    if mixed:
        notes.append(
            "The laws' noise differs (multiplicative on log y, additive on y): their log "
            "densities are all of y itself, the log-scale laws' including the Jacobian 1/y."
        )
    heldout = None
    if holdout_above:
        rows = []
        pointwise = []
        for name, threshold, train, held in _holdout_splits(runs, holdout_above):
            test, positions = runs.subset(held), np.flatnonzero(held)
            split = f"{name} > {_threshold_text(threshold)}"
            for law_name, law in law_objects.items():
                if len(train) < law.n_parameters:
                    notes.append(
                        f"{law_name} was not scored at {split}: {len(train)} runs are fewer "
                        f"than its {law.n_parameters} parameters."
                    )
                    continue
                # A refit's warnings (a failed diagnostic above all) would not say which law
                # and threshold they are about: caught here, and said again with both.
                with warnings.catch_warnings(record=True) as caught:
                    part = fit(train, law, sampler=refit[law_name], discrepancy=kinds[law_name])
                    scores, logpd = _score(part, test, levels, of_y=mixed)
                for text, category in dict.fromkeys((str(w.message), w.category) for w in caught):
                    warnings.warn(
                        f"{law_name}, refitted to score the held-out runs at {split}: {text}",
                        category,
                        stacklevel=2,
                    )
                rows.append(
                    {
                        "law": law_name,
                        "holdout": split,
                        "threshold": threshold,
                        "n_train": len(train),
                        **scores,
                        "diagnostics_ok": part.ok,
                    }
                )
                pointwise.append(
                    pd.DataFrame(
                        {
                            "law": law_name,
                            "holdout": split,
                            "threshold": threshold,
                            "run": positions,
                            "log_density": logpd,
                        }
                    )
                )
        # No law scored anywhere (every threshold left too few runs): no table, as without
        # held-out runs; the notes say why. An empty table would be saved as a blank file.
        extrapolation = pd.DataFrame(rows) if rows else None
        heldout = pd.concat(pointwise, ignore_index=True) if pointwise else _empty_heldout()
        if extrapolation is None:
            heldout = None
    return Comparison(fitted, loo, extrapolation, notes, heldout)


@dataclass
class Average:
    """A model-averaged forecast: posterior draws pooled from several laws by weight.

    Attributes
    ----------
    fits : dict of str to Fit
        The laws' fits.
    weights : pandas.Series
        Weight of each law (sums to 1).
    seed : int
        Seed of the draw selection. Each pooled draw keeps the new-run noise (and
        discrepancy) its law's own forecast gives it, so a law with all the weight forecasts
        exactly as its fit does.
    method : {"extrapolation", "extrapolation_stacking", "stacking", "user"}
        Which weights these are: stacking on held-out larger runs (averaged over
        Bayesian-bootstrap reweightings of them, or plain), stacking on PSIS-LOO, or given
        by the user.
    reason : str
        Why these weights were used, in words (shown with the forecast).
    narrow : dict of str to str, optional
        Laws whose held-out 90% intervals covered clearly too few of the comparison's
        held-out runs (:meth:`Comparison.narrow_laws`): every result that draws on one of
        them with weight says so.
    """

    fits: dict[str, Fit]
    weights: pd.Series
    seed: int = 0
    method: str = "user"
    reason: str = "weights given by the user"
    narrow: dict[str, str] = field(default_factory=dict)

    def _warn_narrow(self, table: pd.DataFrame) -> None:
        """Say when laws with weight had held-out intervals that covered too few runs."""
        laws = [
            f"{name} (weight {self.weights[name]:.2f}: {share} of its held-out forecasts inside)"
            for name, share in self.narrow.items()
            if name in self.weights.index and self.weights[name] >= NEGLIGIBLE_WEIGHT
        ]
        if not laws:
            return
        many = len(laws) > 1
        message = (
            f"the average draws on {_names(laws)}: in the comparison, {'their' if many else 'its'} "
            f"90% intervals beyond the runs were too narrow, so read these intervals as a "
            f"lower bound on the uncertainty there"
        )
        table.attrs["narrow"] = message
        warnings.warn(message, ExtrapolationWarning, stacklevel=_outside_level())

    def _picks(
        self, fits: Mapping[str, Fit]
    ) -> list[tuple[str, Fit, dict[str, np.ndarray], np.ndarray]]:
        """Each law with weight, all its draws, and which of them the pool takes.

        The laws are taken in name order, each picking its draws with a generator seeded by
        the average's seed and the law's name: the pooled draws do not depend on the order
        of the fits. A law with all the weight takes every draw, in order.
        """
        weights = self.weights[self.weights > 0].sort_index()
        draws = {name: fits[name].draws() for name in weights.index}
        sizes = {name: len(next(iter(d.values()))) for name, d in draws.items()}
        total = _pooled_size(weights, sizes)
        # Largest-remainder rounding: the pooled draws follow the weights as closely as possible.
        raw = weights * total
        counts = np.floor(raw).astype(int)
        shortfall = total - int(counts.sum())
        for name in sorted(weights.index, key=lambda n: (counts[n] - raw[n], n))[:shortfall]:
            counts[name] += 1
        picks = []
        for name in weights.index:
            count = min(int(counts[name]), sizes[name])
            if count == 0:
                continue
            rng = np.random.default_rng([self.seed, zlib.crc32(name.encode("utf-8"))])
            pick = np.sort(rng.choice(sizes[name], count, replace=False))
            picks.append((name, fits[name], draws[name], pick))
        return picks

    def _n_draws(self, fits: Mapping[str, Fit]) -> int:
        """The pooled draws the average's intervals are taken from (see :meth:`_picks`)."""
        weights = self.weights[self.weights > 0]
        return _pooled_size(weights, {name: fits[name]._n_draws for name in weights.index})

    def _components(
        self, fits: Mapping[str, Fit], points: pd.DataFrame
    ) -> list[tuple[Fit, dict[str, np.ndarray], np.ndarray, np.ndarray | None]]:
        """Each law with weight: its share of the pooled draws, their noise and discrepancy."""
        components = []
        for _, f, draws, pick in self._picks(fits):
            size = len(next(iter(draws.values())))
            # The noise and discrepancy the law's own forecast (seeded by its fit) gives
            # each draw.
            noise = f.law.likelihood.draw_noise(draws, f.seed)[pick]
            delta = None
            if f.discrepancy is not None:
                delta = f.discrepancy.log_delta(points, size, f.seed)[:, pick]
            components.append((f, {k: v[pick] for k, v in draws.items()}, noise, delta))
        return components

    def forecast(
        self,
        at: Mapping[str, Any] | pd.DataFrame,
        level: float | Sequence[float] = 0.9,
        group: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Forecast with the pooled draws: same table as :meth:`Fit.forecast`.

        Parameters
        ----------
        at : mapping or DataFrame
            Input values; every input the laws with weight need.
        level : float or sequence of float, default 0.9
            Credible level(s).
        group : str or sequence of str, optional
            For fits of runs in groups (hierarchical fits): the group(s) to forecast, each
            averaging the laws' forecasts for that group (``"new"`` for a group not yet
            observed); default every observed group, as :meth:`Fit.forecast`.

        Returns
        -------
        pandas.DataFrame
            For fits with groups, first a ``group`` column; then inputs, law and predictive
            medians and intervals, ``extrapolation`` and ``distance`` (beyond the runs of any
            law with weight; a DataFrame's index is kept, for fits without groups); the
            weights are in ``attrs["weights"]`` (JSON), which weights they are in
            ``attrs["weights_method"]`` and why in ``attrs["weights_reason"]``. For points
            far beyond the backtests (below), ``attrs["caveats"]`` (the sentence warned) and
            ``attrs["beyond_backtests"]`` (per such row: ``row``, ``distance`` and, with
            several laws, the ``laws`` whose backtests it exceeds).

        Warns
        -----
        ExtrapolationWarning
            Once per call, naming the points, as :meth:`Fit.forecast` warns: a point is far
            when it lies farther outside a law's runs than
            :data:`bayescale.planning.FAR_BEYOND_BACKTESTS` times the farthest its
            backtests checked, for any law with weight (each against its own backtests);
            when that is not every law with weight, the sentence names the laws.
        UserWarning
            When a law with weight failed its diagnostics.

        Raises
        ------
        DataError
            If ``group`` is given for fits without groups, a group is not one of the fits',
            or fits with and without groups are averaged.
        """
        check_levels(level)
        active = {name: f for name, f in self.fits.items() if self.weights[name] > 0}
        warn_thin_tails(level, self._n_draws(active))
        grouped = _grouped(active, group)
        _check_average_points(active, at, bool(grouped))
        if not grouped:
            table, judged = self._table(active, at, level)
            if isinstance(at, pd.DataFrame):
                table.index = at.index
            labels = None
        else:
            tables, parts = [], []
            for g in active[grouped[0]]._groups_of(group) or []:
                part, found = self._table({n: f.group(g) for n, f in active.items()}, at, level)
                part.insert(0, "group", g)
                tables.append(part)
                parts.append(found)
            table = pd.concat(tables, ignore_index=True)
            labels = table["group"].astype(str).tolist()
            # Each law's distances over every group's rows; its reach is the whole fit's, as
            # Fit.forecast judges a group's points.
            judged = {
                name: (np.concatenate([p[name][0] for p in parts]), f._backtest_reach())
                for name, f in active.items()
            }
        inputs = {i for f in active.values() for i in f.law.inputs}
        flag_far_points(table.attrs, table, inputs, table["extrapolation"], judged, labels)
        for name, f in active.items():
            f._warn_without_discrepancy(table.attrs, judged[name][0], name)
        table.attrs["weights"] = json.dumps({k: float(v) for k, v in self.weights.items()})
        table.attrs["weights_method"] = self.method
        table.attrs["weights_reason"] = self.reason
        failed = self.failed_laws()
        if failed:
            names = ", ".join(failed)
            message = f"averaged forecast includes fits that failed their diagnostics: {names}"
            table.attrs["warning"] = message
            warnings.warn(message, stacklevel=2)
        self._warn_narrow(table)
        return table

    def _table(
        self, fits: Mapping[str, Fit], at: Mapping[str, Any] | pd.DataFrame, level: Any
    ) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, float | None]]]:
        """The averaged forecast of the fits with weight (or one group's views of them), and
        per law the points' distance beyond its runs and its backtests' reach."""
        points = None
        for f in fits.values():
            # All of N, D and C when the runs have them, as Fit.forecast shows them: the
            # columns do not depend on which laws carry weight.
            part = forecast_points(
                f.law,
                at,
                f.runs.compute_factor,
                triad={"N", "D", "C"} <= set(f.runs.inputs),
                sources=f.runs.columns,
            )
            points = part if points is None else points.combine_first(part)
        assert points is not None  # an average has a law with weight
        # combine_first sorts the columns: back to the order of Fit.forecast's tables.
        inputs = [i for f in fits.values() for i in f.law.inputs]
        points = points[point_columns(points.columns, inputs)]
        # Judged against the runs of the first law with N and D (laws of C alone have no
        # tokens per parameter to compare with).
        warn_slips(points, _slip_runs(fits))
        components = self._components(fits, points)
        # Each law's own discrepancy (none: zero) joins its share of the pooled draws.
        deltas = [
            np.zeros((len(points), len(noise))) if delta is None else delta
            for _, _, noise, delta in components
        ]
        any_discrepancy = any(delta is not None for *_, delta in components)
        table = mixture_table(
            [(f.law, draws, noise) for f, draws, noise, _ in components],
            points,
            level,
            log_delta=np.concatenate(deltas, axis=1) if any_discrepancy else None,
        )
        # Measured against each law's own runs: fits of other runs have other largest runs.
        measured = {name: beyond_runs(points, f.runs, f.law.inputs) for name, f in fits.items()}
        table["extrapolation"] = np.max([ratio for ratio, _ in measured.values()], axis=0)
        table["distance"] = np.max([far for _, far in measured.values()], axis=0)
        judged = {
            name: (np.asarray(measured[name][1], dtype=float), f._backtest_reach())
            for name, f in fits.items()
        }
        return table, judged

    def prob_below(
        self,
        target_loss: float | Sequence[float],
        *,
        at: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
        N: float | Sequence[float] | None = None,
        D: float | Sequence[float] | None = None,
        C: float | Sequence[float] | None = None,
        fixed: Mapping[str, float] | None = None,
        group: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Probability of reaching a target loss under the averaged laws, as :meth:`Fit.prob_below`.

        The probabilities are averages over the pooled draws (the draws
        :meth:`forecast` summarises: each law's share follows its weight), each draw with
        its own law's noise and discrepancy, so a law with all the weight gives exactly its
        fit's ``prob_below``.

        Parameters
        ----------
        target_loss : float or sequence of float
            The target, or several: one row per target and point, target by target.
        at : mapping, DataFrame or list of mappings, optional
            Where, instead of ``N``, ``D``, ``C``: the point(s) in any form :meth:`forecast`
            takes, e.g. ``{"N": 7e10, "D": 1.4e12}`` or ``{"C": 1e24}``. Its N, D and C are
            those keywords; the laws' other inputs are ``fixed`` (one value for all the
            points).
        N, D, C : float or sequence of float, optional
            Where: two of N, D, C (``C = k N D``), or C alone: for a law in N and D each of
            its draws takes its own compute-optimal split, and a law in C takes C as is.
        fixed : mapping, optional
            Values of the laws' other inputs (each law takes those it has).
        group : str or sequence of str, optional
            For fits of runs in groups, as in :meth:`forecast`.

        Returns
        -------
        pandas.DataFrame
            As :meth:`Fit.prob_below`: the inputs (after a ``group`` column for fits with
            groups), ``target_loss``, ``prob_law_below`` (the averaged law's loss is below
            the target) and ``prob_run_below`` (one new run's is, noise and discrepancy
            included). ``attrs``: ``diagnostics_ok`` (every law with weight passed),
            ``warning`` if one failed, ``caveats``, ``past_peak`` and ``beyond_backtests``
            as in :meth:`Fit.prob_below` (with several laws, each ``beyond_backtests``
            entry names the ``laws`` whose backtests it exceeds), and
            ``weights``, ``weights_method`` and ``weights_reason`` as in :meth:`forecast`.

        Raises
        ------
        DataError
            For a target that is not a positive number (for laws with multiplicative
            noise), no points or points given both as ``at`` and as ``N``/``D``/``C``, an
            ``at`` column that is no law's input (or several values of one other than N, D
            and C), a ``fixed`` input no law with weight has, or groups as in
            :meth:`forecast`.

        Warns
        -----
        UserWarning
            As :meth:`Fit.prob_below`: budgets past the peak of one run's chance (of the
            mixture); and if a law with weight failed its diagnostics.
        ExtrapolationWarning
            As :meth:`Fit.prob_below`: points farther beyond a law's runs than
            :data:`bayescale.planning.FAR_BEYOND_BACKTESTS` times its backtests reached
            (one sentence per set of laws that flag the same points, naming them when they
            are not all the laws with weight).
        """
        from bayescale.planning import check_budgets, check_targets

        targets = [float(t) for t in check_targets(target_loss)]
        active = self._active()
        inputs = list(dict.fromkeys(i for f in active.values() for i in f.law.inputs))
        given, fixed = _prob_points(at, N, D, C, fixed, inputs)
        if "C" in given:
            given["C"] = check_budgets(given["C"])
        fixed = _laws_fixed(active, fixed)
        table = self._per_group(
            active, group, lambda fits: self._prob_table(fits, targets, given, fixed)
        )
        return self._mark(table, active, "averaged probability of the target")

    def compute_optimal(
        self,
        C: float | Sequence[float],
        level: float | Sequence[float] = 0.9,
        fixed: Mapping[str, float] | None = None,
        method: str = "auto",
        group: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The compute-optimal split of each budget under the averaged laws.

        Each pooled draw (each law's share follows its weight, as in :meth:`forecast`)
        splits the budget as its own law does, so where the laws disagree on the split
        (Kaplan's ``N_opt ~ C^0.73`` against Chinchilla's ``C^0.5``) the interval holds
        both; a law with all the weight gives exactly its fit's
        :meth:`Fit.compute_optimal` (without its IsoFLOP-sweep columns).

        Parameters
        ----------
        C : float or sequence of float
            Compute budgets in FLOPs, with ``C = k N D`` (the runs' compute factor).
        level : float or sequence of float, default 0.9
            Credible level(s).
        fixed : mapping, optional
            Values of the laws' inputs other than N and D (each law takes those it has).
        method : {"auto", "closed_form", "numerical"}
            As in :meth:`Fit.compute_optimal`, for every law.
        group : str or sequence of str, optional
            For fits of runs in groups, as in :meth:`forecast`.

        Returns
        -------
        pandas.DataFrame
            The columns of :meth:`Fit.compute_optimal` (after a ``group`` column for fits
            with groups): ``C``; median and intervals of ``N``, ``D``,
            ``tokens_per_parameter``; ``loss_*``, ``loss_disc_*`` (when a law with weight
            has a discrepancy; the others add none) and ``loss_pred_*`` at each draw's
            optimum; ``N_disc_*``, ``D_disc_*``, ``tokens_per_parameter_disc_*`` when a
            law's discrepancy has a plan error; ``distance`` (the median plan's e-folds
            outside the runs of any law). ``attrs``: ``per_law_N_median`` and
            ``per_law_tokens_per_parameter_median`` (per law, its own median per row:
            where the laws disagree: each from all the law's draws),
            ``caveats`` and ``beyond_backtests`` (with several laws, each entry names the
            ``laws`` whose backtests it exceeds), ``weights``, ``weights_method``,
            ``weights_reason``, ``diagnostics_ok`` and, if a law with weight failed,
            ``warning``. Where the laws disagree the pooled draws are a mixture: a median
            (of the loss at a far budget, say) can fall between the laws' own medians, where
            neither law puts its plan; read it with ``per_law_N_median`` and the intervals.

        Warns
        -----
        ExtrapolationWarning
            As :meth:`Fit.compute_optimal` warns, each law against its own backtests: a
            budget's median plan lies outside a law's runs by more than
            :data:`bayescale.planning.FAR_BEYOND_BACKTESTS` times the farthest its
            backtests checked (one sentence for the laws that flag the same budgets alike,
            naming them when they are not all the laws with weight).
        UserWarning
            When a law with weight failed its diagnostics.

        Raises
        ------
        DataError
            For budgets that are not positive numbers, a law with weight not in N and D,
            laws whose runs count compute with different factors, a ``fixed`` input no law
            with weight has, or groups as in :meth:`forecast`.
        """
        from bayescale.average_plans import optimal_table
        from bayescale.planning import check_budgets

        check_levels(level)
        budgets = check_budgets(C)
        active = self._active()
        warn_thin_tails(level, self._n_draws(active))
        fixed = _laws_fixed(active, fixed or {})
        table = self._per_group(
            active,
            group,
            lambda fits: optimal_table(self, fits, budgets, level, fixed, method),
        )
        return self._mark(table, active, "averaged compute-optimal plan")

    def budget_for(
        self,
        target_loss: float | Sequence[float],
        level: float | Sequence[float] = 0.9,
        fixed: Mapping[str, float] | None = None,
        group: str | Sequence[str] | None = None,
        prob: float | Sequence[float] | None = None,
    ) -> pd.DataFrame:
        """The compute needed to reach a target loss under the averaged laws.

        Each pooled draw finds the budget at which its own law's compute-optimal loss
        meets the target (as :meth:`Fit.budget_for`); one run's chance at a budget is the
        averaged :meth:`prob_below` with ``C=``. A law with all the weight gives exactly its
        fit's :meth:`Fit.budget_for`.

        Parameters
        ----------
        target_loss : float or sequence of float
            Target loss(es) of the law (the average run at that scale).
        level : float or sequence of float, default 0.9
            Credible level(s).
        fixed : mapping, optional
            Values of the laws' inputs other than N and D (each law takes those it has).
        group : str or sequence of str, optional
            For fits of runs in groups, as in :meth:`forecast`.
        prob : float or sequence of float, optional
            Also the smallest budget at which one run, split compute-optimally under its
            law, meets the target with at least this probability under the average:
            ``C_run_prob_{p}`` (``inf`` where no budget up to 1e40 FLOPs gives it).

        Returns
        -------
        pandas.DataFrame
            The columns of :meth:`Fit.budget_for`: ``target_loss``; median and intervals
            of ``C`` and (when every law with weight is in N and D) ``N`` and ``D`` at the
            optimum; ``prob_unreachable`` (the share of the pooled draws in which the
            target is at or below their law's floor); ``prob_run_below_median_C`` and
            ``prob_run_below_upper_*_C``; ``C_run_prob_*`` when ``prob`` is given.
            ``attrs``: ``caveats``, ``past_peak`` and ``beyond_backtests`` for the row's
            budgets (each entry names its ``column`` and, with several laws, the ``laws``
            whose backtests it exceeds), and the weights and diagnostics as in
            :meth:`compute_optimal`.

        Warns
        -----
        UserWarning
            When a target is out of reach in enough of the pooled draws that the interval
            shows ``inf`` (naming each law's share and floor); when the runs already
            reach the target; when no budget gives the chance ``prob``; when a budget is
            past the peak of one run's chance; when a law with weight failed its
            diagnostics.
        ExtrapolationWarning
            When one of the row's budgets lies far beyond a law's backtests, as
            :meth:`prob_below` warns.

        Raises
        ------
        DataError
            For a target that is not a number, a ``prob`` outside (0, 1), laws whose runs
            count compute with different factors, a ``fixed`` input no law with weight has,
            or groups as in :meth:`forecast`.
        """
        from bayescale.average_plans import budget_table
        from bayescale.planning import check_targets

        check_levels(level)
        probs = [] if prob is None else check_levels(prob, "prob")
        targets = [float(t) for t in check_targets(target_loss)]
        active = self._active()
        warn_thin_tails(level, self._n_draws(active))
        fixed = _laws_fixed(active, fixed or {})
        table = self._per_group(
            active,
            group,
            lambda fits: budget_table(self, fits, targets, level, fixed, probs),
        )
        return self._mark(table, active, "averaged budget for the target")

    def save(self, folder: str | Path, overwrite: bool = False) -> dict[str, Path]:
        """Write the average into a folder: its weights (``average.json``) and its fits.

        A reloaded average (:meth:`load`) pools the same draws, so its forecasts and plans
        are identical. Laws with weight 0 are saved too (the weights name them). Each file
        is written atomically, every destination checked before anything is written.

        Parameters
        ----------
        folder : str or Path
            Created if missing.
        overwrite : bool, default False
            Replace an earlier average's files (``average.json`` and ``fits/NAME.nc``).

        Returns
        -------
        dict of str to Path
            ``average`` (average.json) and ``fit_<law>`` (fits/<law>.nc) for each law.

        Raises
        ------
        OutputExistsError
            If an output exists and ``overwrite`` is False (nothing is written then).
        BayescaleError
            If the folder is a file, or cannot be created or written.
        """
        folder = Path(folder)
        files = {"average": folder / AVERAGE_FILE}
        files.update({f"fit_{name}": folder / "fits" / f"{name}.nc" for name in self.fits})
        _ready_folder(folder, files, overwrite, "average")
        contents = {files[f"fit_{name}"]: f._file_bytes() for name, f in self.fits.items()}
        document = {
            "format": 1,
            "weights": {str(k): float(v) for k, v in self.weights.items()},
            "seed": int(self.seed),
            "method": self.method,
            "reason": self.reason,
            "narrow": dict(self.narrow),
            # Which fit each file holds, so that a file swapped in is refused on load.
            "fits": {name: _fit_identity(f) for name, f in self.fits.items()},
        }
        # Moved last (dicts keep order): a folder without it is not an average.
        contents[files["average"]] = (json.dumps(document, indent=1) + "\n").encode("utf-8")
        _files.write_many(contents, overwrite=overwrite)
        return files

    @classmethod
    def load(cls, folder: str | Path) -> Average:
        """Read an average written by :meth:`save`.

        Parameters
        ----------
        folder : str or Path
            The folder.

        Returns
        -------
        Average
            The same fits, weights, seed and reason: the same forecasts and plans.

        Raises
        ------
        BayescaleError
            If the folder or its ``average.json`` is missing or damaged, or a fit is
            missing or is not the fit that was saved under its name.
        """
        folder = Path(folder)
        path = folder / AVERAGE_FILE
        if not path.is_file():
            hint = (
                " (it is a comparison's folder: Comparison.load, then .average())"
                if (folder / "loo.csv").is_file()
                else ""
            )
            raise BayescaleError(f"'{folder}' holds no saved average ({path} not found){hint}")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            weights = pd.Series({str(k): float(v) for k, v in document["weights"].items()})
            identities = dict(document["fits"])
            seed, method, reason = int(document["seed"]), document["method"], document["reason"]
            narrow = {str(k): str(v) for k, v in document.get("narrow", {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise BayescaleError(
                f"damaged average '{path}' ({type(err).__name__}: {err}); save it again"
            ) from None
        fits = {}
        for name in weights.index:
            fit_path = folder / "fits" / f"{name}.nc"
            if not fit_path.is_file():
                raise BayescaleError(f"'{folder}' lacks the fit of {name} ({fit_path})")
            fits[name] = load_fit(fit_path)
            if identities.get(name) != _fit_identity(fits[name]):
                raise BayescaleError(
                    f"damaged average '{folder}': {fit_path} is not the fit this average "
                    f"saved as {name}; restore it or save the average again"
                )
        return cls(fits, weights, seed, method, reason, narrow)

    def _active(self) -> dict[str, Fit]:
        """The fits with weight."""
        return {name: f for name, f in self.fits.items() if self.weights[name] > 0}

    def _per_group(
        self,
        active: Mapping[str, Fit],
        group: Any,
        build: Callable[[Mapping[str, Fit]], pd.DataFrame],
    ) -> pd.DataFrame:
        """``build`` for the fits with weight, or per group on their views, stacked with a
        ``group`` column first; each group's warnings said as that group's, once each."""
        from bayescale.planning import stack_tables

        if not _grouped(active, group):
            return build(active)
        first = next(iter(active.values()))
        groups = first._groups_of(group) or []
        tables = []
        said: set[str] = set()
        for g in groups:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                part = build({n: f.group(g) for n, f in active.items()})
            for w in caught:
                text = f"group {g}: {w.message}"
                if text not in said:
                    said.add(text)
                    warnings.warn(text, w.category, stacklevel=_outside_level())
            part.insert(0, "group", g)
            tables.append(part)
        return stack_tables(tables, groups)

    def failed_laws(self) -> list[str]:
        """The laws whose fits failed their diagnostics and carry more than a negligible
        weight (:data:`NEGLIGIBLE_WEIGHT`): those an averaged result warns of.

        Returns
        -------
        list of str
            Their names, in the fits' order.
        """
        return [
            name
            for name, f in self.fits.items()
            if not f.ok and self.weights[name] >= NEGLIGIBLE_WEIGHT
        ]

    def _mark(self, table: pd.DataFrame, active: Mapping[str, Fit], what: str) -> pd.DataFrame:
        """Mark a result with the weights and the laws' verdict; warn if a law failed."""
        table.attrs["weights"] = json.dumps({k: float(v) for k, v in self.weights.items()})
        table.attrs["weights_method"] = self.method
        table.attrs["weights_reason"] = self.reason
        failed = self.failed_laws()
        table.attrs["diagnostics_ok"] = not failed
        if failed:
            message = f"{what} includes fits that failed their diagnostics: {', '.join(failed)}"
            table.attrs["warning"] = message
            warnings.warn(message, stacklevel=_outside_level())
        self._warn_narrow(table)
        return table

    def _prob_table(
        self,
        fits: Mapping[str, Fit],
        targets: Sequence[float],
        given: Mapping[str, Any],
        fixed: Mapping[str, float],
    ) -> pd.DataFrame:
        """:meth:`prob_below` of the fits with weight (or one group's views), target by
        target, with its caveats."""
        tables = []
        caveats: dict[str, Any] = {"caveats": [], "past_peak": [], "beyond_backtests": []}
        for target in targets:
            part, distances = self._prob_part(fits, target, given, fixed)
            found = self._prob_caveats(fits, target, given, fixed, part, distances)
            offset = sum(map(len, tables))
            for key in ("past_peak", "beyond_backtests"):
                caveats[key] += [{**e, "row": e["row"] + offset} for e in found[key]]
            caveats["caveats"] += found["caveats"]
            tables.append(part)
        table = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
        table.attrs.clear()
        table.attrs.update(caveats)
        return table

    def _prob_part(
        self,
        fits: Mapping[str, Fit],
        target: float,
        given: Mapping[str, Any],
        fixed: Mapping[str, float],
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """One target's probabilities over the pooled draws, and each law's distance of
        the points beyond its runs (laws with a discrepancy).

        Each law's values (and discrepancy) are those its fit's :meth:`Fit.prob_below`
        gives every draw; the pool keeps its share of them.
        """
        from bayescale.planning import optimum_draws, prob_below_draws

        points: pd.DataFrame | None = None
        parts: list[tuple[int, np.ndarray, np.ndarray]] = []
        distances: dict[str, np.ndarray] = {}
        for name, f, draws, pick in self._picks(fits):
            if not np.isfinite(target) or (target <= 0 and f.law.likelihood.scale != "linear"):
                raise DataError(f"target loss must be a positive number, got {target!r}")
            own = {k: v for k, v in fixed.items() if k in f.law.inputs}
            theta = {p: draws[p] for p in f.law.parameters}
            where: Any
            if set(given) == {"C"} and "C" not in f.law.inputs:
                budgets = np.asarray(given["C"], dtype=float)
                if not parts:
                    warn_slips(pd.DataFrame({"C": budgets}), _slip_runs(fits))
                optimum = optimum_draws(f.law, theta, budgets, f.runs.compute_factor, own)
                values = optimum["loss"]
                part = pd.DataFrame({"C": budgets})
                # Each draw's own optimal split: its distance beyond the runs differs by draw.
                where = {
                    "C": np.broadcast_to(budgets[:, None], optimum["N"].T.shape),
                    "N": optimum["N"].T,
                    "D": optimum["D"].T,
                    **own,
                }
            else:
                part = forecast_points(f.law, {**given, **own}, f.runs.compute_factor)
                if not parts:
                    warn_slips(part, _slip_runs(fits))
                x = {i: part[i].to_numpy()[None, :] for i in f.law.inputs}
                values = f.law.predict({k: v[:, None] for k, v in theta.items()}, x)
                where = part
            log_delta = None
            if f.discrepancy is not None:
                log_delta = f.discrepancy.log_delta(where, len(values), f.seed).T[pick]
                distance = np.asarray(f.discrepancy.distance(where), dtype=float)
                distance = np.median(distance, axis=1) if distance.ndim == 2 else distance
                distances[name] = distance.reshape(-1)
            law_p, run_p = prob_below_draws(
                values[pick],
                target,
                f.law.likelihood,
                {k: v[pick] for k, v in draws.items()},
                log_delta=log_delta,
            )
            parts.append((len(pick), law_p, run_p))
            points = part if points is None else points.combine_first(part)
        assert points is not None  # an average has a law with weight
        # combine_first sorts the columns: back to the order of Fit.prob_below's tables.
        points = points[
            point_columns(points.columns, [i for f in fits.values() for i in f.law.inputs])
        ]
        if len(parts) == 1:
            law_p, run_p = parts[0][1], parts[0][2]
        else:
            # The share of the pooled draws below the target: each law's, by its draws.
            total = sum(count for count, _, _ in parts)
            law_p = sum(count * p for count, p, _ in parts) / total
            run_p = sum(count * p for count, _, p in parts) / total
        out = points.copy()
        out["target_loss"] = target
        out["prob_law_below"] = law_p
        out["prob_run_below"] = run_p
        return out, distances

    def _prob_caveats(
        self,
        fits: Mapping[str, Fit],
        target: float,
        given: Mapping[str, Any],
        fixed: Mapping[str, float],
        table: pd.DataFrame,
        distances: Mapping[str, np.ndarray],
        scan: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """Flag budgets past the peak of one run's chance and points far beyond a law's
        backtests, as :meth:`Fit.prob_below` does; warn once per kind. ``scan``: one run's
        chance at budgets (:func:`bayescale.average_plans.chance_of_run`), shared with a
        caller that scans the same budgets."""
        from bayescale.average_plans import chance_of_run

        out: dict[str, Any] = {"caveats": [], "past_peak": [], "beyond_backtests": []}
        # Each sentence with its category, as Fit.prob_below warns them.
        said: list[tuple[str, type[Warning]]] = []
        laws = [f.law for f in fits.values()]
        names = [
            c
            for c in table.columns
            if (c in ("N", "D", "C") or any(c in law.inputs for law in laws)) and c not in fixed
        ]
        budget_alone = set(given) == {"C"}

        def where(i: int) -> str:
            row = table.iloc[i]
            if "C" in names and budget_alone:
                return f"{format_number(float(row['C']), 'flops')} FLOPs"
            return ", ".join(f"{c} = {format_number(float(row[c]), size_kind(c))}" for c in names)

        budgets = table["C"].to_numpy(dtype=float) if "C" in table else np.array([0.0])
        # Within every law's runs the discrepancies are nil and the chance only rises: the
        # scan starts beyond the smallest of the laws' largest runs.
        largest = min(
            np.exp(f.discrepancy.log_max.get("C", -np.inf)) if f.discrepancy is not None else np.inf
            for f in fits.values()
        )
        if budget_alone and budgets.max() > largest:
            known = dict(zip(budgets.tolist(), table["prob_run_below"].tolist(), strict=True))
            prob_at = scan or chance_of_run(self, fits, target, fixed, known)
            k = next(iter(fits.values())).runs.compute_factor
            flags = past_peak_flags(prob_at, budgets, k, largest, target, where)
            if flags is not None:
                out["past_peak"], sentence = flags
                said.append((sentence, UserWarning))
        from bayescale.average_plans import laws_alike_far

        several = len(fits) > 1
        for laws, far, distance, reach in laws_alike_far(fits, distances):
            if len(distance) != len(table):
                continue
            out["beyond_backtests"] += [
                {
                    "target_loss": target,
                    "row": int(i),
                    **({"C": float(table["C"].iloc[i])} if "C" in table else {}),
                    "distance": float(distance[i]),
                    **({"laws": list(laws)} if several else {}),
                }
                for i in far
            ]
            whose = f"{', '.join(laws)}: " if len(laws) < len(fits) else ""
            sentence = beyond_backtests_sentence(
                far,
                distance,
                reach,
                where,
                f"{whose}for loss {target:g}, ",
                "and so is one run's chance",
            )
            said.append((sentence, ExtrapolationWarning))
        for message, category in said:
            out["caveats"].append(message)
            warnings.warn(message, category, stacklevel=_outside_level())
        return out


def _pooled_size(weights: pd.Series, sizes: Mapping[str, int]) -> int:
    """How many draws an average pools: as many as the weights allow without repeating one
    (a law with weight 0 does not limit them, a law with all the weight brings all its)."""
    return int(min(sizes[name] / w for name, w in weights.items()))


def _check_average_points(active: Mapping[str, Fit], at: Any, grouped: bool) -> None:
    """Refuse points an averaged forecast would misread: groups given with the points
    (they are ``group=``), a mapping's key that no law with weight takes, or its lists of
    different lengths."""
    from bayescale.fitting import _list_lengths

    first = next(iter(active.values()))
    grouping = ["group", *first.runs.group_by] if grouped else ["group"]
    if isinstance(at, pd.DataFrame):
        given = [str(c) for c in at.columns]
    elif isinstance(at, Mapping):
        given = [str(k) for k in at]
    else:
        return
    named = [g for g in dict.fromkeys(grouping) if g in given]
    if named and grouped:
        raise DataError(
            f"an averaged forecast takes its groups as group=, not as a {named[0]!r} "
            f"{'column' if isinstance(at, pd.DataFrame) else 'key'} of at; drop it and pass "
            f"group=[...]"
        )
    if not isinstance(at, Mapping):
        return  # a DataFrame's other columns are labels, carried to the table
    inputs = list(dict.fromkeys(i for f in active.values() for i in f.law.inputs))
    triad = bool({"N", "D", "C"} & set(inputs))
    known = [*inputs, *(n for n in ("N", "D", "C") if triad and n not in inputs)]
    unknown = [k for k in given if k not in known]
    if unknown:
        match = closest(unknown[0], known)
        hint = f"; did you mean {match!r}?" if match is not None else ""
        why = "; these fits have no groups" if unknown[0] in grouping else ""
        raise DataError(
            f"at names {unknown[0]!r}, which is not an input of the averaged laws (their "
            f"inputs: {', '.join(known)}){why}{hint}; to carry a label to the table, give the "
            f"points as a DataFrame"
        )
    _list_lengths({str(k): v for k, v in at.items()})


def _grouped(active: Mapping[str, Fit], group: Any) -> list[str]:
    """The averaged laws fitted with groups: all of them or none, and ``group`` only then."""
    grouped = [name for name, f in active.items() if f.pooling is not None]
    if grouped and len(grouped) < len(active):
        plain = ", ".join(name for name in active if name not in grouped)
        raise DataError(
            f"cannot average fits with groups ({', '.join(grouped)}) and without ({plain}); "
            f"fit every law to the same runs"
        )
    if not grouped and group is not None:
        raise DataError(
            f"group={group!r} applies to fits of runs in groups; these fits have none, "
            f"so leave group out"
        )
    return grouped


#: The file naming a folder an average's, and holding its weights.
AVERAGE_FILE = "average.json"


def _laws_fixed(active: Mapping[str, Fit], fixed: Mapping[str, Any]) -> dict[str, float]:
    """The laws' other inputs, checked: each must be an input of a law with weight (each law
    takes those it has), and none of N, D and C."""
    from bayescale.planning import check_fixed

    refused = [
        k
        for k in fixed
        if k in ("N", "D", "C") or not any(k in f.law.inputs for f in active.values())
    ]
    if refused:
        # The first law's message says what the fixed inputs are for.
        check_fixed(next(iter(active.values())).law, {k: fixed[k] for k in refused})
    return {
        k: v
        for f in active.values()
        for k, v in check_fixed(
            f.law, {k: v for k, v in fixed.items() if k in f.law.inputs}
        ).items()
    }


def _prob_points(
    at: Any, N: Any, D: Any, C: Any, fixed: Mapping[str, Any] | None, inputs: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Where :meth:`Average.prob_below` is asked: N, D and C, from ``at`` (read as
    :meth:`Fit.prob_below` reads it) or as given, and the laws' other inputs (``fixed``).

    ``inputs``: every input of the laws with weight.
    """
    keywords = {"N": N, "D": D, "C": C}
    if at is not None:
        return points_of_at(at, keywords, fixed, inputs, "the averaged laws")
    given = {k: v for k, v in keywords.items() if v is not None}
    if not given:
        raise DataError(
            "prob_below needs the points: N=, D=, C= (two of them, or C alone for each "
            "law's compute-optimal split), or at={'N': [...], 'D': [...]}"
        )
    return given, dict(fixed or {})


def average(
    fits: Mapping[str, Fit] | Comparison,
    weights: Mapping[str, float] | str = "auto",
    seed: int = 0,
    comparison: Comparison | None = None,
) -> Average:
    """Average laws' forecasts by pooling their posterior draws in proportion to weights.

    Parameters
    ----------
    fits : mapping of str to Fit, or Comparison
        The laws' fits.
    weights : {"auto", "extrapolation", "extrapolation_stacking", "stacking"} or mapping
        ``"extrapolation"``: stacking weights on the held-out larger runs of a comparison
        made with ``holdout_above``, averaged over Bayesian-bootstrap reweightings of those
        runs (:attr:`Comparison.extrapolation_weights`): how well the laws forecast beyond
        the runs they were fitted on, with the uncertainty of that judgement.
        ``"extrapolation_stacking"``: plain stacking on the same runs (no bootstrap; it
        gives one law all the weight whenever that law wins on them). ``"stacking"``:
        stacking weights on PSIS-LOO (the fits must share their runs), how well they
        interpolate. ``"auto"`` (default): extrapolation weights when the comparison has
        them, else PSIS-LOO stacking, **leaving out every law whose fit failed its
        diagnostics** (for extrapolation weights, also one whose refit for a held-out
        threshold failed): the others are stacked again without it, and a warning names
        every law left out and the weight each would have had (and says so when those
        laws would have carried most of the weight, so that the average falls back on the
        others only because they failed). To include
        such a law, ask for the weights by name (``"extrapolation"``, ``"stacking"``) or
        give them. Or user weights ``{name: weight}``, rescaled to sum to 1 (relative
        weights such as ``{"a": 2, "b": 1}`` work); a law not named gets 0, and weights
        that leave a law out and do not sum to 1 are warned about.
    seed : int, default 0
        Seed of the draw selection and the new-run noise.
    comparison : Comparison, optional
        An existing comparison whose weights to reuse.

    Returns
    -------
    Average
        Call ``.forecast(at, level)`` or ``.prob_below(target_loss, ...)``; ``.method``
        and ``.reason`` say which weights were used and why.

    Raises
    ------
    DataError
        If weights are negative, all zero, name unknown laws or an unknown method,
        extrapolation weights are asked of a comparison without held-out runs, or the fits
        model different target columns (``runs.y_name``: an average of two metrics means
        nothing).

    Warns
    -----
    DataWarning
        If the fits with weight were made on different runs: their forecasts describe
        different data; if user weights leave a law out and do not sum to 1 (the warning
        gives the weights they were rescaled to); or if ``"auto"`` leaves out laws whose
        fits failed (one warning names them all, with the weight each would have had).

    Notes
    -----
    The forecast's three rows (``law_*``, ``disc_*`` with the discrepancy, ``pred_*`` for
    one new run) are quantiles of three distributions: the pooled law values, those plus
    each draw's discrepancy, and those plus new-run noise. Quantiles of a sum are not sums
    of quantiles, so the three medians differ a little even for one law (the added spread
    is symmetric in log y, not in y), and more for a mixture. A mixture of laws that
    disagree is also not unimodal: when one law carries a small weight far from the
    others, the law interval's lower (or upper) end can sit inside that law's narrow
    cluster, and adding spread blurs the cluster into the gap, which can move that end
    inward. So a mixture's law interval need not lie inside its interval with
    discrepancy; read each row as its own distribution (one law alone, unimodal, nests
    them in practice).
    """
    if isinstance(fits, Comparison):
        comparison, fits = fits, fits.fits
    if not isinstance(fits, Mapping) or not fits:
        raise DataError(
            f"average needs fits as {{'name': fit, ...}} (at least one) or a Comparison, "
            f"got {fits!r}"
        )
    check_seed(seed)
    fits = dict(fits)
    if isinstance(weights, str):
        series, method, reason = _named_weights(fits, weights, comparison)
    else:
        unknown = sorted(set(weights) - set(fits))
        if unknown:
            raise DataError(f"weights name unknown laws {unknown}; the fits are {list(fits)}")
        series = pd.Series({name: float(weights.get(name, 0.0)) for name in fits})
        method, reason = "user", "weights given by the user"
    if (series < 0).any() or not np.isfinite(series).all() or series.sum() <= 0:
        raise DataError(f"weights must be non-negative with a positive sum, got {series.to_dict()}")
    total = float(series.sum())
    unnamed = [name for name in fits if name not in weights] if method == "user" else []
    if unnamed and not np.isclose(total, 1.0, rtol=0, atol=1e-6):
        # Relative weights naming every law ({a: 2, b: 1}) are rescaled, as documented; a
        # sum other than 1 that leaves a law out is usually a law forgotten: said.
        warnings.warn(
            f"the weights sum to {total:.4g}, not 1: they were rescaled to "
            f"{_shares(series / total)} ({_names(unnamed)} given no weight, so 0); give "
            f"weights that sum to 1, or name every law, to use them as they are",
            DataWarning,
            stacklevel=_outside_level(),
        )
    _refuse_other_targets(fits)
    _warn_other_runs({name: f for name, f in fits.items() if series[name] > 0})
    narrow = comparison.narrow_laws() if comparison is not None else {}
    return Average(fits, series / total, seed, method, reason, narrow)


def _refuse_other_targets(fits: Mapping[str, Fit]) -> None:
    """Refuse fits of different target columns: their average would mix two metrics."""
    targets: dict[str, list[str]] = {}
    for name, f in fits.items():
        runs = getattr(f, "runs", None)
        if isinstance(runs, Runs):
            targets.setdefault(runs.y_name, []).append(name)
    if len(targets) > 1:
        sides = "; ".join(
            f"{_names(names)} {'fits' if len(names) == 1 else 'fit'} {column!r}"
            for column, names in targets.items()
        )
        raise DataError(
            f"cannot average fits of different target columns ({sides}): an average of "
            f"two metrics means nothing. Fit every law to the same column (load_runs(..., "
            f"y=...)), or forecast each target from its own fit"
        )


def _warn_other_runs(fits: Mapping[str, Fit]) -> None:
    """Warn when the averaged fits were made on different runs, naming each set."""
    by_runs: dict[str, list[str]] = {}
    for name, f in fits.items():
        if isinstance(f, Fit):  # (anything else has no runs to compare)
            by_runs.setdefault(f.runs.fingerprint(), []).append(name)
    if len(by_runs) > 1:
        sets = "; ".join(
            f"{', '.join(names)}: {len(fits[names[0]].runs)} runs from {fits[names[0]].runs.source}"
            for names in by_runs.values()
        )
        warnings.warn(
            f"averaging fits of different runs ({sets}): the average mixes forecasts of "
            f"different data; fit every law to the same runs, e.g. with compare(runs, laws=[...])",
            DataWarning,
            stacklevel=_outside_level(),
        )


def _named_weights(
    fits: dict[str, Fit], weights: str, comparison: Comparison | None
) -> tuple[pd.Series, str, str]:
    """The weights a method names (see :data:`WEIGHT_METHODS`), and why.

    ``"auto"`` leaves out laws whose fits failed, with one warning naming each and the weight
    it would have had.
    """
    if weights not in WEIGHT_METHODS:
        raise DataError(
            f"weights must be one of {', '.join(map(repr, WEIGHT_METHODS))} or a mapping "
            f"{{law: weight}}, got {weights!r}"
        )
    if weights == "auto":
        series, method, reason, left_out = _auto_weights(fits, comparison)
        message = _left_out_warning(left_out, series, method)
        if message is not None:
            warnings.warn(message, DataWarning, stacklevel=_outside_level())
        return series, method, reason
    plain = weights == "extrapolation_stacking"
    extra, _, basis = (
        (None, [], "") if comparison is None else comparison._leave_future_out(plain=plain)
    )
    if weights.startswith("extrapolation") and extra is None:
        raise DataError(
            "extrapolation weights need a comparison with held-out larger runs: "
            "compare(runs, laws=[...], holdout_above={'C': [...]}), then .average()"
        )
    if extra is not None and weights != "stacking":
        return extra.reindex(list(fits)).fillna(0.0), weights, basis
    comparison = comparison or Comparison(fits, _loo_table(fits))
    reason = "stacking on PSIS-LOO: how well each law predicts a left-out run among the others"
    return comparison.weights.reindex(list(fits)).fillna(0.0), "stacking", reason


def _auto_weights(
    fits: Mapping[str, Fit], comparison: Comparison | None
) -> tuple[pd.Series, str, str, dict[str, tuple[str, float]]]:
    """The ``"auto"`` weights, their method and reason, and the laws they leave out.

    Extrapolation weights when the comparison has them, else PSIS-LOO stacking. A law whose
    fit failed its diagnostics, or (for extrapolation weights) whose refit behind its
    held-out score did, is left out unless every law failed: the weights (extrapolation or
    PSIS-LOO) are stacked again without it.
    ``left_out`` gives, per law left out, what failed and the weight it would have had.
    """
    fits = dict(fits)
    comparison = comparison or Comparison(fits, _loo_table(fits))
    extra, _, basis = comparison._leave_future_out()
    if extra is not None:
        full, method, reason = extra.reindex(list(fits)).fillna(0.0), "extrapolation", basis
    else:
        full = comparison.weights.reindex(list(fits)).fillna(0.0)
        method = "stacking"
        reason = (
            "stacking on PSIS-LOO: how well each law predicts a left-out run among the "
            "others (no held-out larger runs to judge extrapolation)"
        )
    failed = {
        name: why
        for name, why in comparison.failed_laws(extrapolation=extra is not None).items()
        if name in fits
    }
    if not failed or len(failed) >= len(fits):
        return full, method, reason, {}
    left_out = {name: (why, float(full[name])) for name, why in failed.items()}
    weights: pd.Series | None = None
    if extra is not None:
        restacked, _, _ = comparison._leave_future_out(leave_out=list(failed))
        if restacked is not None:
            weights = restacked.reindex(list(fits)).fillna(0.0)
    if weights is None and extra is None:
        # Stacking weights are a mixture's optimum: a law redundant beside the failed one got
        # none, and rescaling would keep it at none; stacked again without the failed laws.
        kept = {name: f for name, f in fits.items() if name not in failed}
        if len(kept) == 1:
            weights = pd.Series({name: float(name in kept) for name in fits})
        else:
            try:
                weights = _loo_table(kept)["weight"].reindex(list(fits)).fillna(0.0)
            except (BayescaleError, ValueError):
                weights = None
    if weights is None:
        weights = full.copy()
        weights[list(failed)] = 0.0
        if not weights.sum() > 0:
            # The laws left have no weight of their own (stacking gave them none): equal.
            weights[[n for n in fits if n not in failed]] = 1.0
        weights = weights / weights.sum()
    reason += "; left out for failed diagnostics: " + ", ".join(
        f"{name} (would have had {w:.2f})" for name, (_, w) in _heaviest_first(left_out)
    )
    fallback = _fallback_share(left_out)
    if fallback is not None:
        kept = [str(n) for n, w in weights.items() if w >= NEGLIGIBLE_WEIGHT]
        many = len(left_out) > 1
        reason += (
            f"; the average falls back on {_names(kept)} only because "
            f"{'they' if many else next(iter(left_out))} failed (compare again with more "
            f"draws, or as {'their verdicts say' if many else 'its verdict says'})"
        )
    return weights, method, reason, left_out


def _fallback_share(left_out: Mapping[str, tuple[str, float]]) -> float | None:
    """The weight the laws left out for failed diagnostics would have carried together,
    when it is most of it (above :data:`FALLBACK_SHARE`); else None."""
    total = float(sum(w for _, w in left_out.values()))
    return total if total > FALLBACK_SHARE else None


def _left_out_list(left_out: Mapping[str, tuple[str, float]]) -> str:
    """``"a (its fit failed its diagnostics; weight 0.80), b (...; weight 0.00)"``: every law
    left out, the heaviest first."""
    return ", ".join(
        f"{name} ({why}; weight {w:.2f})" for name, (why, w) in _heaviest_first(left_out)
    )


def _heaviest_first(
    left_out: Mapping[str, tuple[str, float]],
) -> list[tuple[str, tuple[str, float]]]:
    """The laws left out, by the weight they would have had, heaviest first (stable)."""
    return sorted(left_out.items(), key=lambda item: -item[1][1])


def _fallback_sentence(left_out: Mapping[str, tuple[str, float]], weights: pd.Series) -> str:
    """Say that the average rests on the laws left only because the heavier ones failed, and
    what to do; empty when the laws left out would not have carried most of the weight."""
    share = _fallback_share(left_out)
    if share is None:
        return ""
    kept = [str(n) for n, w in weights.items() if w >= NEGLIGIBLE_WEIGHT and n not in left_out]
    many = len(left_out) > 1
    rest = _names(kept) if kept else "the other laws"
    return (
        f"The average falls back on {rest} only because "
        f"{'the laws left out' if many else next(iter(left_out))}, which would have carried "
        f"{share:.2f} of the weight, failed {'their' if many else 'its'} diagnostics, not "
        f"because {rest} {'forecasts' if len(kept) == 1 else 'forecast'} better. Compare "
        f"again with more draws (--draws on the command line, draws= in Python, with the "
        f"sampler's retries left on), which refits the held-out splits too; where a fit "
        f"failed for divergences or a parameter the runs do not inform, its verdict says "
        f"what to change instead (priors, or the law)."
    )


def _worth_saying(left_out: Mapping[str, tuple[str, float]]) -> bool:
    """Whether the laws left out would have moved the average (:data:`NEGLIGIBLE_WEIGHT`)."""
    return float(sum(w for _, w in left_out.values())) >= NEGLIGIBLE_WEIGHT


def _left_out_warning(
    left_out: Mapping[str, tuple[str, float]], weights: pd.Series, method: str
) -> str | None:
    """The warning of an ``"auto"`` average that left out laws for failed diagnostics: every
    such law, with the weight it would have had; None when together they would not have
    moved the average (:data:`NEGLIGIBLE_WEIGHT`)."""
    if not _worth_saying(left_out):
        return None
    kept = _shares(weights[weights > 0])
    fallback = _fallback_sentence(left_out, weights)
    if len(left_out) == 1:
        ((name, (why, weight)),) = left_out.items()
        text = (
            f"{name} is left out of the averaged forecast: {why}; it would have had "
            f"weight {weight:.2f} ({method} weights), and the others are re-weighted "
            f"without it ({kept})."
        )
        them = "it"
    else:
        text = (
            f"{_names([name for name, _ in _heaviest_first(left_out)])} are left out of "
            f"the averaged forecast for failed "
            f"diagnostics, with the weights they would have had ({method} weights): "
            f"{_left_out_list(left_out)}; the others are re-weighted without them ({kept})."
        )
        them = "them"
    if fallback:
        text += " " + fallback
    return (
        f"{text} To include {them}, give the weights explicitly: "
        f"average(weights='{method}') or weights={{...}}"
    )


def compare_pooling(
    runs: Runs | pd.DataFrame | str | os.PathLike[str],
    law: Law | str = "chinchilla",
    test: Runs | pd.DataFrame | str | os.PathLike[str] | None = None,
    choices: Sequence[str] = ("none", "partial", "complete"),
    levels: float | Sequence[float] | None = None,
    *,
    level: float | Sequence[float] | None = None,
    group: str | Sequence[str] | None = None,
    x: Mapping[str, str] | None = None,
    y: str | None = None,
    compute_factor: float | None = None,
    holdout_above: Mapping[str, float | Sequence[float]] | None = None,
    **fit_options: Any,
) -> pd.DataFrame:
    """Fit grouped runs with each pooling choice and tabulate LOO and held-out scores.

    Parameters
    ----------
    runs : Runs, DataFrame or path
        Runs in groups: Runs from ``load_runs(..., group=...)``, or a table (DataFrame or
        path) read with :func:`bayescale.load_runs` and the keywords ``group``, ``x``, ``y``
        and ``compute_factor`` below.
    law : Law or str, default "chinchilla"
        The law.
    test : Runs, DataFrame or path, optional
        Held-out runs in the same groups, scored with :func:`score`; a table is read with
        the same keywords as ``runs``.
    choices : sequence of str, default ("none", "partial", "complete")
        Pooling choices (see :meth:`bayescale.hierarchy.Pooling.of`; mappings are not
        accepted here, as they make no row name).
    levels : float or sequence of float, default (0.5, 0.8, 0.9)
        Levels of the intervals whose held-out coverage is reported.
    level : float or sequence of float, optional
        Another name for ``levels``; give one of the two.
    group : str or sequence of str, optional
        For a table: the column(s) naming each run's group (``load_runs(..., group=)``).
        For Runs, only their own grouping is accepted.
    x : mapping of str to str, optional
        For a table: input name to column (``load_runs(..., x=)``); default the columns
        named N, D, C and U.
    y : str, optional
        For a table: the response column; default ``"loss"``.
    compute_factor : float, optional
        For a table: ``k`` in ``C = k N D``; default 6.
    holdout_above : mapping, optional
        Instead of ``test``, the runs' own larger runs, as :func:`compare` holds them out:
        ``{"C": 1e20}`` (or several thresholds, ``{"C": [1e20, 1e21]}``) refits each choice
        on the runs at or below the threshold and scores it on the larger ones; every group
        must keep runs at or below each threshold.
    **fit_options
        Passed to :func:`bayescale.fit` (draws, tune, chains, seed ...).

    Returns
    -------
    pandas.DataFrame
        One row per choice: ``elpd_loo`` and ``p_loo`` (PSIS-LOO on ``runs``),
        ``pareto_k_bad`` (runs with k > 0.7), ``diagnostics_ok`` and, with ``test``, the
        columns of :func:`score` (``elpd``, ``mare``, ``coverage_90`` ...). With
        ``holdout_above``, one row per choice and threshold, indexed by ``pooling`` and
        ``holdout`` (e.g. ``"C<=1e20"``): the LOO columns (of the fit to every run) and,
        of the refit, ``n_train``, the columns of :func:`score` and
        ``diagnostics_ok_refit``.

    Raises
    ------
    DataError
        If the runs have no groups, are neither Runs nor a table, the table cannot be read
        (see :func:`bayescale.load_runs`), ``x``, ``y`` or ``compute_factor`` are given with
        Runs, a level is not in (0, 1), both ``level`` and ``levels`` are given, both
        ``test`` and ``holdout_above`` are given, or a threshold leaves a group without
        runs to fit or holds out no run.
    """
    import arviz as az

    chosen = _levels(levels, level)
    reading = {"x": x, "y": y, "compute_factor": compute_factor, "group": group}
    runs = _as_runs(runs, "compare_pooling", **reading)
    if test is not None:
        if holdout_above is not None:
            raise DataError(
                "compare_pooling scores either held-out runs given as test= or the runs' own "
                "larger runs (holdout_above=), not both: give one"
            )
        test = _as_runs(test, "compare_pooling's test", **reading)
    if runs.group is None:
        raise DataError(
            "compare_pooling needs runs in groups: give the grouping column, "
            "compare_pooling(table, group='<column>'), or load_runs(..., group='<column>')"
        )
    if test is not None and test.group is not None and runs.group is not None:
        known = set(np.asarray(runs.group, dtype=str).tolist())
        labels = np.asarray(test.group, dtype=str)
        unseen = [i for i, g in enumerate(labels.tolist()) if g not in known]
        if unseen:
            rows = ", ".join(str(i + 1) for i in unseen[:5]) + (" ..." if len(unseen) > 5 else "")
            raise DataError(
                f"compare_pooling's test runs ({test.source}) hold group(s) "
                f"{', '.join(dict.fromkeys(labels[unseen].tolist()))} (rows {rows}) that the runs "
                f"do not ({', '.join(sorted(known))}): a pooling choice is scored on held-out "
                f"runs of the fitted groups; drop those rows, or add runs of those groups"
            )
    splits = [] if holdout_above is None else _pooling_splits(runs, holdout_above)
    rows = []
    # Pointwise densities, for the standard errors of the verdict's leads.
    loo_points: dict[str, np.ndarray] = {}
    pointwise: list[pd.DataFrame] = []
    for choice in choices:
        result = fit(runs, law, pooling=choice, **fit_options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loo = az.loo(result.with_log_likelihood(), pointwise=True)
        loo_points[choice] = np.asarray(loo.loo_i, dtype=float).reshape(-1)
        row: dict[str, Any] = {
            "pooling": choice,
            "elpd_loo": float(loo.elpd_loo),
            "p_loo": float(loo.p_loo),
            "pareto_k_bad": int((np.asarray(loo.pareto_k) > PARETO_K_BAD).sum()),
            "diagnostics_ok": result.ok,
        }
        if test is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores, logpd = _score(result, test, chosen, False)
            # A count of runs, not a measurement: written as one (47, not 47.0).
            row.update({**scores, "n_test": len(test)})
            pointwise.append(_pointwise(choice, "test", np.arange(len(test)), logpd))
        if not splits:
            rows.append(row)
        for name, threshold, train, held in splits:
            refit = fit(train, law, pooling=choice, **fit_options)
            split = f"{name}<={_threshold_text(threshold)}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores, logpd = _score(refit, runs.subset(held), chosen, False)
            rows.append(
                {
                    **row,
                    "holdout": split,
                    "n_train": len(train),
                    **scores,
                    "n_test": int(held.sum()),
                    "diagnostics_ok_refit": refit.ok,
                }
            )
            pointwise.append(_pointwise(choice, split, np.flatnonzero(held), logpd))
    index = ["pooling", "holdout"] if splits else "pooling"
    table = pd.DataFrame(rows).set_index(index)
    heldout = pd.concat(pointwise, ignore_index=True) if pointwise else None
    table.attrs["verdict"] = pooling_verdict(table, loo_points, heldout)
    return table


def _favoured_pooling(path: Path) -> str:
    """The choice a saved pooling table ranks first (by summed held-out elpd when it has
    held-out scores, else by PSIS-LOO), or ``"partial"`` when it cannot be read."""
    try:
        table = pd.read_csv(path)
        score = "elpd" if "elpd" in table.columns else "elpd_loo"
        return str(table.groupby("pooling", sort=False)[score].sum().idxmax())
    except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError):
        return "partial"


def _pointwise(choice: str, split: str, runs: np.ndarray, logpd: np.ndarray) -> pd.DataFrame:
    """One choice's held-out log densities at one split, as :attr:`Comparison.heldout` has
    a law's (the choice in the ``law`` column)."""
    return pd.DataFrame(
        {"law": choice, "holdout": split, "run": runs, "log_density": np.asarray(logpd, float)}
    )


def pooling_verdict(
    table: pd.DataFrame,
    loo_points: Mapping[str, np.ndarray] | None = None,
    heldout: pd.DataFrame | None = None,
) -> str:
    """Say which pooling choice wins on which criterion, how sure that is, and which fits
    failed their diagnostics.

    As :meth:`Comparison.verdict` judges laws: a PSIS-LOO lead within two standard errors
    of the difference is not decisive, and the held-out winner's lead over the runner-up is
    given with its standard error over the held-out runs.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`compare_pooling`'s table.
    loo_points : mapping of str to numpy.ndarray, optional
        Each choice's pointwise PSIS-LOO elpd (one value per run), for the LOO lead's
        standard error; without it the lead is given without one.
    heldout : pandas.DataFrame, optional
        Pointwise held-out log densities (columns ``law`` naming the choice, ``holdout``,
        ``run``, ``log_density``), for the held-out lead's standard error.

    Returns
    -------
    str
        The verdict, one sentence per line.
    """
    loo = table["elpd_loo"].groupby(level=0, sort=False).first().sort_values(ascending=False)
    best = str(loo.index[0])
    lines = [f"Best by PSIS-LOO (interpolation): {best} (elpd_loo {loo.iloc[0]:.1f})."]
    if len(loo) > 1:
        second = str(loo.index[1])
        diff = float(loo.iloc[0] - loo.iloc[1])
        dse = float("nan")
        if loo_points is not None and best in loo_points and second in loo_points:
            gap = loo_points[best] - loo_points[second]
            dse = float(np.sqrt(len(gap) * np.var(gap, ddof=1))) if len(gap) > 1 else dse
        line = _loo_lead_line(second, diff, dse)
        if line is None and np.isfinite(dse):
            line = f"Its lead over {second}: {diff:.1f} +/- {dse:.1f}: decisive on these runs."
        elif line is None:
            line = f"Its lead over {second}: {diff:.1f} (no pointwise values: no standard error)."
        lines.append(line)
    ok = table["diagnostics_ok"].groupby(level=0, sort=False).first()
    failed = [str(c) for c in ok.index if not bool(ok[c])]
    if failed:
        one = len(failed) == 1
        lines.append(
            f"The fit of {_names(failed)} to every run failed "
            f"{'its' if one else 'their'} diagnostics, so {'its' if one else 'their'} PSIS-LOO "
            f"may be off: refit with more draws and tuning steps before trusting the ranking."
        )
    if "elpd" not in table:
        lines.append(
            "No held-out runs: give test= or holdout_above={'C': [...]} to judge extrapolation."
        )
        return "\n".join(lines)
    # A choice not scored at every threshold (a refit that could not forecast) is not ranked
    # on a partial sum.
    held = (
        table["elpd"]
        .groupby(level=0, sort=False)
        .apply(lambda scores: scores.sum() if scores.notna().all() else float("nan"))
    )
    unscored = [str(c) for c in held.index[held.isna()]]
    if held.notna().any():
        winner = str(held.idxmax())
        larger = "larger " if "holdout" in table.index.names else ""
        lines.append(
            f"Best on the held-out {larger}runs (summed elpd): {winner} ({held[winner]:.1f})"
            + (f"; not scored at every threshold: {', '.join(unscored)}" if unscored else "")
            + "."
        )
        others = held.drop(winner).dropna()
        lead = None
        if heldout is not None and len(others):
            other = str(others.idxmax())
            scored = [str(c) for c in held.index[held.notna()]]
            lead = _pooled_lead(heldout, scored, winner, other)
        if lead is not None:
            lines.append(_held_out_lead_line(other, *lead))
    else:
        lines.append("No choice was scored on every held-out split.")
    if "diagnostics_ok_refit" in table:
        refits = table["diagnostics_ok_refit"]
        bad = [(str(c), str(h)) for (c, h), v in refits.items() if not bool(v)]
        for choice in dict.fromkeys(c for c, _ in bad):
            where = ", ".join(h for c, h in bad if c == choice)
            ranked = " (the held-out winner)" if held.notna().any() and choice == winner else ""
            lines.append(
                f"{choice}'s refit at {where}{ranked} failed its diagnostics, so its held-out "
                f"scores may be off: refit with more draws and tuning steps before trusting "
                f"its rank."
            )
    return "\n".join(lines)


def _pooling_splits(
    runs: Runs, holdout_above: Mapping[str, float | Sequence[float]]
) -> list[tuple[str, float, Runs, np.ndarray]]:
    """:func:`_holdout_splits` for grouped runs: every group keeps runs to fit."""
    splits = _holdout_splits(runs, holdout_above)
    labels = np.asarray(runs.group, dtype=str)
    for name, threshold, train, _ in splits:
        kept = set(np.asarray(train.group, dtype=str).tolist())
        empty = [g for g in dict.fromkeys(labels.tolist()) if g not in kept]
        if empty:
            smallest = {g: float(runs.x(name)[labels == g].min()) for g in empty}
            listed = ", ".join(f"{g} (smallest {name} {v:.3g})" for g, v in smallest.items())
            raise DataError(
                f"holding out runs above {name}={_threshold_text(threshold)} leaves no run to "
                f"fit in group(s) {listed}: raise the threshold above their smallest runs, or "
                f"give held-out runs as test="
            )
    return splits
