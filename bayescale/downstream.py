"""Downstream metrics: from loss to a benchmark's error, with the uncertainty of both steps.

The field's practice (Gadre et al. 2024; Llama 3's two-step method; OLMo's ladders) fits the
loss from (N, D), then a *link* from loss to a downstream error, and chains two point fits.
Here both steps are posteriors:

1. a loss fit (:func:`bayescale.fit`, any law);
2. a link fit (:func:`fit_link`): the error as a function of the loss ``L``, from the link
   catalog (``models/links/``: ``exponential``, Gadre et al.'s ``eps - k exp(-gamma L)``;
   ``sigmoid``, from chance to a floor) or a user formula in ``L``, with additive noise on the
   error fraction and the error at high loss centred on the task's chance error when given;
3. :func:`chain`: at each target, every posterior draw of the loss law is paired with a draw
   of the link: ``link(L(N, D))`` is the metric's credible interval (both laws' parameters),
   and ``link(loss of one run) + the link's noise`` the interval of one model's score.

The pairing treats the two posteriors as independent: they are fitted to the same runs, but
on different responses (loss; the benchmark's error given the loss), so their parameters share
no term of the likelihood.

A task whose error stays at chance over the runs (its best run is within
:data:`CHANCE_MARGIN` of chance) has no loss-to-error relation to fit: :func:`near_chance`
flags it, and :func:`chain` returns its flag and no numbers rather than a confident forecast
drawn from the prior.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.errors import DataError

if TYPE_CHECKING:
    from bayescale.data import Runs
    from bayescale.fitting import Fit
    from bayescale.laws import Law

__all__ = ["CHANCE_MARGIN", "LINKS", "chain", "fit_link", "link_law", "near_chance"]

#: The link catalog's laws (``models/links/<name>.toml``).
LINKS = ("exponential", "sigmoid")
#: A task is near chance when its best run's error is within this of the chance error (5
#: points of accuracy: about two standard errors of a 1,000-item benchmark at chance 25%).
CHANCE_MARGIN = 0.05
#: Prior spread of the error at high loss around a known chance error.
CHANCE_SIGMA = 0.03
_CHANCE_PARAMETER = {"exponential": "eps", "sigmoid": "e_max"}


def link_law(
    law: str | Path | Law = "exponential",
    chance: float | None = None,
    *,
    runs: Runs | None = None,
) -> Law:
    """A link law from the link catalog, a file or a formula in ``L``.

    Parameters
    ----------
    law : str, Path or Law, default "exponential"
        ``"exponential"`` or ``"sigmoid"`` (``models/links/``), a ``.toml`` path, a formula
        of the loss ``L`` or a :class:`bayescale.laws.Law`.
    chance : float, optional
        The task's chance *accuracy* (a fraction: 0.25 for four choices). For a catalog link,
        the error at high loss then gets a prior centred on ``1 - chance`` (sd 0.03, within
        [0, 1]) instead of uniform.
    runs : Runs, optional
        For a formula: the (loss, error) runs that set the scale of its default priors (see
        :meth:`bayescale.laws.Law.from_formula`). A formula's noise is additive on the
        error, as in the catalog's links.

    Returns
    -------
    Law
        A law with input ``L``.

    Raises
    ------
    DataError
        If the law has no input ``L``, or ``chance`` is not in [0, 1).
    """
    from bayescale.laws import Law, catalog_dir, get_law

    name = law if isinstance(law, str) and law in LINKS else None
    links = catalog_dir() / "links"
    if name is not None:
        law = get_law(links / f"{name}.toml")
    elif isinstance(law, str) and not law.endswith(".toml") and "L" in law:
        likelihood = get_law(links / "exponential.toml").likelihood
        law = Law.from_formula(law, runs=runs, inputs=["L"], likelihood=likelihood)
    elif not isinstance(law, Law):
        law = get_law(law)
    if "L" not in law.inputs:
        raise DataError(
            f"a link law maps the loss L to a metric, but law {law.name!r} has inputs "
            f"{', '.join(law.inputs)}; write it in L"
        )
    if chance is not None:
        if not 0 <= chance < 1:
            raise DataError(f"chance is an accuracy in [0, 1), got {chance!r}")
        if name is not None:
            law = law.with_priors(
                {
                    _CHANCE_PARAMETER[name]: {
                        "dist": "TruncatedNormal",
                        "mu": 1.0 - chance,
                        "sigma": CHANCE_SIGMA,
                        "lower": 0.0,
                        "upper": 1.0,
                    }
                }
            )
    return law


def near_chance(error: Sequence[float] | np.ndarray, chance: float | None) -> bool:
    """Whether a task's error stays at chance over the runs.

    Parameters
    ----------
    error : array-like
        The task's error fraction on each run.
    chance : float or None
        Chance accuracy (a fraction); None: never near chance (unknown).

    Returns
    -------
    bool
        True when the best run's error is within :data:`CHANCE_MARGIN` of ``1 - chance``.
    """
    if chance is None:
        return False
    return bool(np.nanmin(np.asarray(error, dtype=float)) > 1.0 - chance - CHANCE_MARGIN)


def fit_link(
    runs: pd.DataFrame,
    loss: str,
    metric: str,
    law: str | Path | Law = "exponential",
    *,
    chance: float | None = None,
    accuracy: bool = False,
    **fit_options: Any,
) -> Fit:
    """Fit a link from loss to a downstream error on the same runs as the loss law.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per model, with its loss and its metric.
    loss : str
        Column of the validation loss (the loss law's response).
    metric : str
        Column of the downstream metric: an error fraction, or an accuracy with
        ``accuracy=True`` (fitted as ``1 - accuracy``).
    law : str, Path or Law, default "exponential"
        The link (see :func:`link_law`).
    chance : float, optional
        The task's chance accuracy (a fraction), for the prior of the error at high loss.
    accuracy : bool, default False
        ``metric`` holds accuracies.
    **fit_options
        Passed to :func:`bayescale.fit` (draws, tune, chains, seed ...).

    Returns
    -------
    Fit
        The link's posterior, a fit of law input ``L`` (the loss) and response ``error``.

    Raises
    ------
    DataError
        If a column is missing, or the task is near chance (see :func:`near_chance`): its
        error does not move with the loss, so there is nothing to link.
    """
    from bayescale.data import load_runs
    from bayescale.fitting import fit

    missing = [c for c in (loss, metric) if c not in runs.columns]
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} not in the runs "
            f"(they have {', '.join(map(str, runs.columns))})"
        )
    values = pd.to_numeric(runs[metric], errors="coerce").to_numpy(float)
    error = 1.0 - values if accuracy else values
    if near_chance(error, chance):
        raise DataError(
            f"{metric!r} stays at chance: its best run's error {np.nanmin(error):.3f} is within "
            f"{CHANCE_MARGIN} of the chance error {1 - chance:.3f}; no link can be fitted "
            f"(train larger models, or leave this task out)"
        )
    frame = pd.DataFrame({"L": pd.to_numeric(runs[loss], errors="coerce"), "error": error})
    data = load_runs(frame, x={"L": "L"}, y="error")
    return fit(data, link_law(law, chance, runs=data), **fit_options)


def chain(
    loss_fit: Fit,
    link_fit: Fit,
    points: Mapping[str, Any] | pd.DataFrame,
    level: float | Sequence[float] = 0.9,
    seed: int | None = None,
) -> pd.DataFrame:
    """Forecast a downstream error at new scales: the loss posterior through the link's.

    Parameters
    ----------
    loss_fit : Fit
        The loss law's fit.
    link_fit : Fit
        The link's fit (:func:`fit_link`).
    points : mapping or DataFrame
        The loss law's inputs at each target (e.g. ``N`` and ``D``).
    level : float or sequence of float, default 0.9
        Interval level(s).
    seed : int, optional
        Seed of the pairing and the noise draws; default the loss fit's.

    Returns
    -------
    pandas.DataFrame
        One row per point: its inputs; ``loss_median`` and interval (the loss law);
        ``error_median``, ``error_lower_l``, ``error_upper_l``: the link at the loss law,
        both laws' parameter uncertainty; ``pred_median``, ``pred_lower_l``,
        ``pred_upper_l``: one model's error (a new run's loss noise, the loss fit's
        discrepancy if it has one, and the link's noise).
    """
    from bayescale.forecast import law_value
    from bayescale.planning import summarise
    from bayescale.settings import check_levels

    check_levels(level)
    frame = pd.DataFrame(points) if not isinstance(points, pd.DataFrame) else points
    missing = [name for name in loss_fit.law.inputs if name not in frame.columns]
    if missing:
        raise DataError(
            f"the targets need the loss law's input(s) {', '.join(missing)} "
            f"(law {loss_fit.law.name!r}); add them to the points"
        )
    inputs = {name: frame[name].to_numpy(float)[None, :] for name in loss_fit.law.inputs}
    seed = loss_fit.seed if seed is None else seed
    rng = np.random.default_rng([seed, 15])

    loss_law, link = loss_fit.law, link_fit.law
    theta = loss_fit.draws([*loss_law.parameters, *loss_law.likelihood.noise_names])
    n = len(next(iter(theta.values())))
    mean_loss = law_value(loss_law, {k: theta[k][:, None] for k in loss_law.parameters}, inputs)
    # One run's loss: the law, its discrepancy (if fitted) and a new run's noise.
    noise = {k: theta[k][:, None] for k in loss_law.likelihood.noise_names}
    location = loss_law.likelihood.transform(mean_loss)
    if loss_fit.discrepancy is not None:
        location = location + loss_fit.discrepancy.log_delta(frame, n, seed).T
    run_loss = loss_law.likelihood.inverse(
        location + loss_law.likelihood.draw_noise(noise, rng, mean_loss.shape)
    )

    phi = link_fit.draws([*link.parameters, *link.likelihood.noise_names])
    pick = rng.integers(0, len(next(iter(phi.values()))), n)
    params = {k: phi[k][pick, None] for k in link.parameters}
    link_noise = {k: phi[k][pick, None] for k in link.likelihood.noise_names}
    error = law_value(link, params, {"L": mean_loss})
    one_model = law_value(link, params, {"L": run_loss}) + link.likelihood.draw_noise(
        link_noise, rng, mean_loss.shape
    )

    outside = float(np.mean((error < 0) | (error > 1)))
    if outside > 0.05:
        warnings.warn(
            f"the {link.name!r} link puts {outside:.0%} of the error draws outside [0, 1] at "
            f"these targets: it extrapolates past what an error can be; a bounded link "
            f"('sigmoid', from chance to a floor) suits this metric",
            UserWarning,
            stacklevel=2,
        )
    out = {name: frame[name].to_numpy() for name in loss_law.inputs}
    for prefix, draws in (("loss", mean_loss), ("error", error), ("pred", one_model)):
        out.update(summarise(draws, prefix, level))
    return pd.DataFrame(out)
