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

:func:`fit_joint` fits both as one model instead: the losses follow the loss law, and the
error follows the link of the law's *mean* loss at each run (a latent value, not the run's
noisy loss), so the benchmark also informs the loss law's parameters and the draws of the two
laws come out paired; :meth:`JointFit.forecast` gives the columns of :func:`chain`.

A task whose error stays at chance over the runs (its best run is within
:data:`CHANCE_MARGIN` of chance) has no loss-to-error relation to fit: :func:`near_chance`
flags it, :func:`fit_link` refuses it (:class:`~bayescale.errors.NearChanceError`) rather than
fit a link that would only echo its prior, and :func:`forecast_metrics` gives it a row that
says so, without numbers. (The report flags, without a forecast, a link fitted by other means
on such runs.)

:func:`chain` judges each target on its own: where more than :data:`OUTSIDE_SHARE` of a
target's draws leave what an error can be, it warns once, naming those targets, and lists
them in the table's ``attrs["outside_unit"]``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.errors import DataError, NearChanceError, closest

if TYPE_CHECKING:
    from bayescale.data import Runs
    from bayescale.fitting import Diagnostics, Fit
    from bayescale.ladder import Attempt
    from bayescale.laws import Law
    from bayescale.settings import SamplerSettings

__all__ = [
    "CHANCE_MARGIN",
    "LINKS",
    "LINK_PREFIX",
    "OUTSIDE_SHARE",
    "JointFit",
    "chain",
    "check_link",
    "fit_joint",
    "fit_link",
    "forecast_metrics",
    "link_law",
    "near_chance",
]

#: The link catalog's laws (``models/links/<name>.toml``).
LINKS = ("exponential", "sigmoid")
#: A task is near chance when its best run's error is within this of the chance error (5
#: points of accuracy: about two standard errors of a 1,000-item benchmark at chance 25%).
CHANCE_MARGIN = 0.05
#: Prior spread of the error at high loss around a known chance error.
CHANCE_SIGMA = 0.03
_CHANCE_PARAMETER = {"exponential": "eps", "sigmoid": "e_max"}
#: Share of a target's draws outside what an error can be above which :func:`chain` warns.
OUTSIDE_SHARE = 0.05
#: Share of the narrower of two loss ranges they must overlap on for a link to be taken as
#: fitted on the loss fit's loss (below it, :func:`check_link` warns).
RANGE_OVERLAP = 0.5


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
    LawError
        If ``law`` is a name that is neither a link of the catalog nor a file (the message
        lists the links, with the closest one).
    """
    from bayescale.laws import Law, catalog_dir, get_law

    name = law if isinstance(law, str) and law in LINKS else None
    links = catalog_dir() / "links"
    if name is None and isinstance(law, str):
        _check_link_name(law)
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
        _check_chance(chance)
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


def _check_link_name(text: str) -> None:
    """Refuse a bare name that is no link, listing the links rather than the loss laws.

    A name goes to the law catalog otherwise, whose message lists the *loss* laws and never
    a link. Files, formulas and the loss catalog's names (refused later for lacking ``L``)
    pass.
    """
    from bayescale.errors import LawError
    from bayescale.laws import _is_dir, _is_file, catalog

    name = text.strip()
    if (
        not re.fullmatch(r"[A-Za-z_][\w.-]*", name)
        or name == "L"
        or name.lower().endswith(".toml")
        or name in catalog()
        or _is_file(name)
        or _is_dir(name)
    ):
        return
    match = closest(name, list(LINKS))
    hint = f" (did you mean {match}?)" if match is not None else ""
    raise LawError(
        f"unknown link {text!r}{hint}: the link catalog has {', '.join(LINKS)}; or give the "
        f"path of a .toml link file, or a formula in the loss L, e.g. "
        f"'eps - k * exp(gamma * (3.5 - L))'"
    )


def _check_chance(chance: float | None, metric: str | None = None) -> None:
    """Refuse a chance accuracy outside [0, 1) (a percent, most likely: 25 for 0.25)."""
    if chance is None:
        return
    try:
        value = float(chance)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(chance, bool) or not 0 <= value < 1:
        of = f" of {metric!r}" if metric else ""
        if value == 1:
            hint = " (a chance of 1 leaves nothing to learn; if it is a percent, give 0.01)"
        elif 1 < value <= 100:
            hint = f" (a percent? give {value / 100:g})"
        else:
            hint = ""
        raise DataError(
            f"chance{of} is an accuracy in [0, 1), got {chance!r}{hint}: a fraction, 0.25 "
            f"for four choices"
        )


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
    runs: pd.DataFrame | Runs,
    loss: str,
    metric: str,
    link: str | Path | Law | None = None,
    *,
    chance: float | None = None,
    accuracy: bool = False,
    law: str | Path | Law | None = None,
    **fit_options: Any,
) -> Fit:
    """Fit a link from loss to a downstream error on the same runs as the loss law.

    Parameters
    ----------
    runs : pandas.DataFrame or Runs
        One row per model, with its loss and its metric as columns. A
        :class:`~bayescale.Runs` works only if it holds both (it keeps the law's inputs and
        its response, so most often pass the DataFrame it was loaded from).
    loss : str
        Column of the validation loss (the loss law's response).
    metric : str
        Column of the downstream metric: an error fraction, or an accuracy with
        ``accuracy=True`` (fitted as ``1 - accuracy``).
    link : str, Path or Law, optional
        The link (see :func:`link_law`); default ``"exponential"``. The name
        :func:`fit_joint` and :func:`forecast_metrics` use.
    chance : float, optional
        The task's chance accuracy (a fraction), for the prior of the error at high loss.
    accuracy : bool, default False
        ``metric`` holds accuracies.
    law : str, Path or Law, optional
        Former name of ``link``, still accepted.
    **fit_options
        Passed to :func:`bayescale.fit`: its keywords but ``runs`` and ``law`` (draws,
        tune, chains, seed, sampler, priors ...); any other is refused before sampling.

    Returns
    -------
    Fit
        The link's posterior, a fit of law input ``L`` (the loss) and response ``error``;
        its ``info`` records ``metric``, ``chance``, ``loss`` and ``table_columns`` (the
        loss column and the table's columns, which :func:`chain` compares with the loss
        fit's loss column), saved with it.

    Raises
    ------
    DataError
        If a column is missing or not finite, the metric is not a fraction in [0, 1] (a
        percent?), ``chance`` is not in [0, 1), the task is near chance (see
        :func:`near_chance`: its error does not move with the loss, so there is nothing to
        link), a keyword is not one :func:`bayescale.fit` takes, or both ``link`` and
        ``law`` are given.

    Warns
    -----
    DataWarning
        If the error rises as the loss falls (an accuracy given as an error?).
    """
    from bayescale.fitting import fit

    if law is not None and link is not None:
        raise DataError(
            "fit_link takes the link as link= (law= is its former name); give one of them"
        )
    link = law if law is not None else "exponential" if link is None else link
    _check_fit_options(fit_options, "fit_link", ("link", "chance", "accuracy"))
    table = _as_table(runs, loss, metric)
    data = _link_runs(table, loss, metric, chance, accuracy)
    result = fit(data, link_law(link, chance, runs=data), **fit_options)
    # The link's response is the generic 'error': the report names the metric from here.
    result.info.update(
        metric=metric, chance=chance, loss=loss, table_columns=[str(c) for c in table.columns]
    )
    return result


def _check_fit_options(options: Mapping[str, Any], caller: str, own: Sequence[str]) -> None:
    """Refuse a keyword bayescale.fit does not take, before any sampling, naming the likely one.

    Passed on unchecked, a typo would surface as "fit() got an unexpected keyword argument",
    about a call the user never made.
    """
    import inspect

    from bayescale.fitting import fit

    accepted = [p for p in inspect.signature(fit).parameters if p not in ("runs", "law")]
    unknown = [name for name in options if name not in accepted]
    if not unknown:
        return
    name = unknown[0]
    guess = closest(name, [*own, *accepted])
    hint = f"; did you mean {guess}=?" if guess is not None else ""
    raise DataError(
        f"{caller} does not take {name}={options[name]!r}{hint} (it takes "
        f"{', '.join(own)}, and bayescale.fit's options: {', '.join(accepted)})"
    )


def _as_table(runs: Any, loss: str, metric: str) -> pd.DataFrame:
    """The table a link is fitted from: a DataFrame as given, or Runs holding both columns."""
    from bayescale.data import Runs

    if not isinstance(runs, Runs):
        return runs
    table = runs.table.rename(columns={"y": runs.y_name})
    missing = [c for c in (loss, metric) if c not in table.columns]
    if missing:
        # Runs keep only the law's inputs and its response: a benchmark's column is gone.
        raise DataError(
            f"these Runs hold only {', '.join(map(str, table.columns))} (load_runs keeps the "
            f"law's inputs and its response), not {', '.join(map(repr, missing))}: pass the "
            f"DataFrame they were loaded from, with the loss and the metric as columns"
        )
    return table


def _link_runs(
    runs: pd.DataFrame, loss: str, metric: str, chance: float | None, accuracy: bool
) -> Runs:
    """The (loss ``L``, error) runs a link is fitted to, refusing a task at chance."""
    from bayescale.data import _RowNamer, load_runs

    if not isinstance(runs, pd.DataFrame):
        raise DataError(
            f"the runs must be a pandas DataFrame with the loss and the metric as columns, "
            f"not {type(runs).__name__}"
        )
    if metric == loss:
        raise DataError(
            f"the metric and the loss are the same column, {loss!r}: give the downstream "
            f"metric's column (a benchmark's error or accuracy) as the metric"
        )
    missing = [c for c in (loss, metric) if c not in runs.columns]
    if missing:
        guesses = [closest(c, runs.columns) for c in missing]
        hint = "".join(f"; did you mean {g!r}?" for g in guesses if g is not None)
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} not in the runs{hint} "
            f"(they have {', '.join(map(str, runs.columns))})"
        )
    where = _RowNamer("<DataFrame>", False, runs.index)
    for column in (loss, metric):
        bad = ~np.isfinite(pd.to_numeric(runs[column], errors="coerce").to_numpy(float))
        if bad.any():
            raise DataError(
                f"column {column!r} {where(int(np.argmax(bad)))} is not a finite number "
                f"({int(bad.sum())} row(s) in total); fill it in or remove the row"
            )
    _check_chance(chance, metric)
    values = pd.to_numeric(runs[metric], errors="coerce").to_numpy(float)
    outside = (values < 0) | (values > 1)
    if outside.any():
        i = int(np.argmax(outside))
        what = "an accuracy" if accuracy else "an error"
        hint = (
            " (a percent? divide the column by 100)"
            if values.min() >= 0 and values.max() <= 100
            else ""
        )
        raise DataError(
            f"column {metric!r} {where(i)} is {values[i]:g}: a metric here is {what} as a "
            f"fraction in [0, 1]{hint}"
        )
    error = 1.0 - values if accuracy else values
    _warn_rising_error(runs[loss], error, metric, accuracy)
    if near_chance(error, chance):
        raise NearChanceError(
            f"{metric!r} stays at chance: its best run's error {np.nanmin(error):.3f} is within "
            f"{CHANCE_MARGIN} of the chance error {1 - chance:.3f}; no link can be fitted "
            f"(train larger models, or leave this task out)"
        )
    # L keeps the loss column's name as its source: the fit records which loss its L is,
    # and a forecast point named by that column is pointed to L.
    source = "L" if loss == "error" else loss
    frame = pd.DataFrame({source: pd.to_numeric(runs[loss], errors="coerce"), "error": error})
    return load_runs(frame, x={"L": source}, y="error")


#: Rank correlation of the error with the loss below which a link warns that the error rises
#: as the loss falls. Inverse scaling exists, so it warns rather than refuses.
RISING_ERROR_CORRELATION = -0.5


def _warn_rising_error(loss: pd.Series, error: np.ndarray, metric: str, accuracy: bool) -> None:
    """Warn when the error clearly rises as the loss falls: an accuracy taken for an error."""
    from bayescale.errors import DataWarning

    if len(error) < 5 or np.ptp(error) == 0:
        return
    rho = float(pd.Series(error).corr(pd.Series(loss.to_numpy(float)), method="spearman"))
    if not rho < RISING_ERROR_CORRELATION:
        return
    if accuracy:
        fix = "is it an error already? leave accuracy=True (--accuracy) out"
    else:
        fix = "if it is an accuracy, pass accuracy=True (--accuracy)"
    warnings.warn(
        f"the error of {metric!r} rises as the loss falls (rank correlation {rho:.2f} over "
        f"{len(error)} runs), where an error falls with the loss: {fix}; for a task that "
        f"really gets worse with scale, the link's forecast is of that",
        DataWarning,
        stacklevel=4,
    )


def check_link(loss_fit: Fit, link_fit: Fit) -> None:
    """Check that a link can be chained with a loss fit: the fits' order and their loss.

    :func:`chain` runs it; it is public for a caller that shows a link beside a loss fit
    without chaining them (the command line's report does, to print its warnings).

    Parameters
    ----------
    loss_fit : Fit
        The loss law's fit.
    link_fit : Fit
        The link's fit (:func:`fit_link`).

    Raises
    ------
    DataError
        If the fits are given the other way round (the first is a link fit), or the second
        is not a link from the loss ``L``.

    Warns
    -----
    DataWarning
        If the link was fitted on another loss column than the one the loss fit models
        (harmless when both name the same loss), or on losses whose range barely overlaps
        the loss fit's runs'.
    """
    from bayescale.errors import DataWarning

    if _is_link(loss_fit):
        what = f" of {loss_fit.info['metric']!r}" if "metric" in loss_fit.info else ""
        second = "" if _is_link(link_fit) else f" (the second is a fit of {link_fit.law.name!r})"
        raise DataError(
            f"the first argument is a link fit{what}{second}: chain takes the loss fit first "
            f"and the link second, chain(loss_fit, link_fit, at)"
        )
    if "L" not in link_fit.law.inputs:
        raise DataError(
            f"the second argument is a fit of law {link_fit.law.name!r} (inputs "
            f"{', '.join(link_fit.law.inputs)}), not a link from the loss L: chain takes the "
            f"loss fit first and a link fit (fit_link) second"
        )
    linked, modelled = link_fit.info.get("loss"), loss_fit.runs.y_name
    link_loss = np.asarray(link_fit.runs.x("L"), dtype=float)
    fit_loss = np.asarray(loss_fit.runs.y, dtype=float)
    spans = {
        "link": (float(np.nanmin(link_loss)), float(np.nanmax(link_loss))),
        "fit": (float(np.nanmin(fit_loss)), float(np.nanmax(fit_loss))),
    }
    overlap = _overlap(spans["link"], spans["fit"])
    ranges = (
        f"the link's runs have losses {_span(spans['link'])}, the loss fit's {_span(spans['fit'])}"
    )
    apart = ""
    if overlap < RANGE_OVERLAP:
        apart = (
            "; they do not overlap"
            if overlap <= 0
            else f"; they overlap on only {overlap:.0%} of the narrower range"
        )
    if linked is not None and linked != modelled:
        had = (
            f", although its table has {modelled!r} too"
            if modelled in link_fit.info.get("table_columns", ())
            else ""
        )
        warnings.warn(
            f"the loss fit models {modelled!r} but the link was fitted on {linked!r}{had} "
            f"({ranges}{apart}): if these are the same loss under two names, ignore this; "
            f"otherwise the metric's forecast is wrong: fit the link on the column of "
            f"{modelled!r} (loss= in Python, --loss on the command line)",
            DataWarning,
            stacklevel=3,
        )
    elif apart:
        warnings.warn(
            f"the link was fitted on other losses than the loss fit's runs have ({ranges}"
            f"{apart}): if the link's loss is another loss than {modelled!r}, or measured "
            f"otherwise, the metric's forecast is wrong; if it is the same loss, the link "
            f"holds only near the losses of its own runs",
            DataWarning,
            stacklevel=3,
        )


def _is_link(fit: Fit) -> bool:
    """Whether a fit is a link's: fitted by :func:`fit_link` (it records its metric), or of
    a law of the loss ``L`` alone."""
    return "metric" in fit.info or list(fit.law.inputs) == ["L"]


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """How much two ranges overlap, as a share of the narrower (1 if it is one point inside)."""
    common = min(a[1], b[1]) - max(a[0], b[0])
    narrower = min(a[1] - a[0], b[1] - b[0])
    if common < 0:
        return 0.0
    return 1.0 if narrower <= 0 else float(common / narrower)


def _span(span: tuple[float, float]) -> str:
    return f"{span[0]:.3g} to {span[1]:.3g}"


def _recorded_chance(link_fit: Fit) -> float | None:
    """The chance accuracy a link was fitted with, as :func:`fit_link` records it."""
    value = link_fit.info.get("chance")
    try:
        value = None if value is None else float(value)
    except (TypeError, ValueError):
        return None
    return None if value is None or not np.isfinite(value) else value


def chain(
    loss_fit: Fit,
    link_fit: Fit,
    at: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    level: float | Sequence[float] = 0.9,
    seed: int | None = None,
    group: str | None = None,
    *,
    points: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Forecast a downstream error at new scales: the loss posterior through the link's.

    Parameters
    ----------
    loss_fit : Fit
        The loss law's fit.
    link_fit : Fit
        The link's fit (:func:`fit_link`).
    at : mapping, DataFrame or list of mappings
        The loss law's inputs at each target, in the forms :meth:`bayescale.Fit.forecast`
        takes (e.g. ``{"N": [6.9e9], "D": [1.38e11]}``; of N, D and C any two are enough).
    level : float or sequence of float, default 0.9
        Interval level(s).
    seed : int, optional
        Seed of the pairing and the noise draws; default the loss fit's.
    group : str, optional
        For a hierarchical loss fit: the group whose loss to chain (``"new"`` for a group
        not yet observed), as :meth:`bayescale.Fit.group`.
    points : mapping, DataFrame or list of mappings, optional
        Former name of ``at``, still accepted.

    Returns
    -------
    pandas.DataFrame
        One row per point: its inputs; ``loss_median`` and interval (the loss law);
        ``error_median``, ``error_lower_l``, ``error_upper_l``: the link at the loss law,
        both laws' parameter uncertainty; ``pred_median``, ``pred_lower_l``,
        ``pred_upper_l``: one model's error (a new run's loss noise, the loss fit's
        discrepancy if it has one, and the link's noise). ``attrs`` holds
        ``diagnostics_ok`` (both fits pass) and, if either failed, ``warning``; and
        ``outside_unit``, the targets where more than :data:`OUTSIDE_SHARE` of the draws of
        ``error`` or ``pred`` leave what an error can be (one dict per target: ``row``, its
        inputs, ``error_outside`` and ``pred_outside``, the shares of draws; empty if none).
        Each target's numbers depend on the seed alone, not on the other targets.

    Raises
    ------
    DataError
        If a point lacks an input of the loss law (or two of N, D, C), a value is not a
        positive number, both ``at`` and ``points`` are given, or the fits are given the
        other way round (see :func:`check_link`).

    Warns
    -----
    UserWarning
        If the loss fit or the link fit failed its diagnostics; once, naming the targets, if
        more than :data:`OUTSIDE_SHARE` of a target's draws fall outside [0, 1] (for
        ``error``, also more than :data:`CHANCE_MARGIN` above the chance error, when the
        link records its chance); and (a ``DataWarning``) if the link was fitted on another
        loss than the loss fit models (see :func:`check_link`).
    """
    from bayescale.settings import check_levels, check_seed

    at = _at_or_points(at, points, "chain")
    check_levels(level)
    check_link(loss_fit, link_fit)  # on every group's runs, as the link's may be
    if group is not None:
        loss_fit = loss_fit.group(group)
    frame = _target_frame(loss_fit.law, at, loss_fit.runs.compute_factor)
    seed = loss_fit.seed if seed is None else check_seed(seed)
    loss_law, link = loss_fit.law, link_fit.law
    theta = loss_fit.draws([*loss_law.parameters, *loss_law.likelihood.noise_names])
    log_delta = None
    if loss_fit.discrepancy is not None:
        n = len(next(iter(theta.values())))
        log_delta = loss_fit.discrepancy.log_delta(frame, n, seed).T
    phi = link_fit.draws([*link.parameters, *link.likelihood.noise_names])
    table = _through_link(
        loss_law,
        theta,
        link,
        phi,
        frame,
        level,
        seed,
        log_delta=log_delta,
        chance=_recorded_chance(link_fit),
    )
    return _flag_failed(table, {"the loss fit": loss_fit, "the link fit": link_fit})


def _failed_message(fits: Mapping[str, Fit | JointFit], what: str = "forecast") -> str | None:
    """The warning of a result drawn from fits of which some failed their diagnostics.

    Worded as ``Fit.forecast`` words it ("forecast from a fit that failed its
    diagnostics: ..."), naming which fit failed; None when every fit passes.
    """
    failed = {role: f for role, f in fits.items() if not f.ok}
    if not failed:
        return None
    verdicts = "; ".join(f"{role}: {f.diagnostics.verdict()}" for role, f in failed.items())
    if len(failed) == 1:
        return f"{what} from a fit that failed its diagnostics, {verdicts}"
    return f"{what} from fits that failed their diagnostics, {verdicts}"


def _flag_failed(table: pd.DataFrame, fits: Mapping[str, Fit | JointFit]) -> pd.DataFrame:
    """Mark a chained table with its fits' verdict, and warn if one of them failed."""
    message = _failed_message(fits)
    table.attrs["diagnostics_ok"] = message is None
    if message is not None:
        table.attrs["warning"] = message
        warnings.warn(message, UserWarning, stacklevel=3)
    return table


def _at_or_points(at: Any, points: Any, caller: str) -> Any:
    """The forecast points, given as ``at`` or by their former name ``points``."""
    if points is None:
        if at is None:
            raise DataError(
                f"{caller} needs the points to forecast at, e.g. at={{'N': [6.9e9], "
                f"'D': [1.38e11]}}"
            )
        return at
    if at is not None:
        raise DataError(
            f"{caller} got both at= and points= (its former name): give the points once, as at="
        )
    return points


def forecast_metrics(
    loss_fit: Fit,
    table: pd.DataFrame,
    loss: str,
    metrics: Sequence[str],
    at: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    *,
    link: str | Path | Law = "exponential",
    chance: float | Mapping[str, float] | None = None,
    accuracy: bool = False,
    level: float | Sequence[float] = 0.9,
    group: str | None = None,
    points: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    **fit_options: Any,
) -> pd.DataFrame:
    """Forecast many downstream metrics at once: a link per metric, each chained.

    Parameters
    ----------
    loss_fit : Fit
        The loss law's fit.
    table : pandas.DataFrame
        One row per model: its loss and every metric (the link's runs).
    loss : str
        Column of the validation loss.
    metrics : sequence of str
        Columns of the metrics (errors, or accuracies with ``accuracy=True``).
    at : mapping, DataFrame or list of mappings
        The loss law's inputs at each target, as :func:`chain` takes them.
    link : str, Path or Law, default "exponential"
        The link of every metric (see :func:`link_law`).
    chance : float or mapping, optional
        Chance accuracy of every task, or per metric (missing metrics: unknown).
    accuracy : bool, default False
        The metrics hold accuracies.
    level : float or sequence of float, default 0.9
        Interval level(s).
    group : str, optional
        For a hierarchical loss fit: the group whose loss to chain (see :func:`chain`).
    points : mapping, DataFrame or list of mappings, optional
        Former name of ``at``, still accepted.
    **fit_options
        Sampler settings of the link fits, as :func:`fit_link` takes them (see
        :func:`bayescale.fit`).

    Returns
    -------
    pandas.DataFrame
        One row per metric and target: ``metric``, ``status`` (``ok``, ``diagnostics
        failed`` (the loss fit's or the metric's link's) or ``near chance``), ``note``
        (why, or the chain's warnings), then :func:`chain`'s columns; a metric near chance
        has its reason and no numbers. ``attrs`` holds ``diagnostics_ok`` (the loss fit and
        every link fitted pass), ``outside_unit`` (the rows whose draws leave what an error
        can be, as in :func:`chain`, with their ``metric`` and ``row`` in this table) and,
        if a fit failed, ``warning``.

    Raises
    ------
    DataError
        If a column is missing or not finite, a metric is not a fraction, a chance is not
        in [0, 1) (near-chance metrics are rows, not errors), a point lacks an input of the
        loss law, or a keyword is not one :func:`bayescale.fit` takes: all checked for
        every metric before any link is fitted.

    Warns
    -----
    UserWarning
        Once, if the loss fit or a link fit failed its diagnostics.
    """
    at = _at_or_points(at, points, "forecast_metrics")
    if isinstance(metrics, str) or not len(metrics):
        raise DataError("metrics must be a list of one or more column names, e.g. ['mmlu']")
    _check_fit_options(fit_options, "forecast_metrics", ("link", "chance", "accuracy", "level"))
    if group is not None:
        loss_fit = loss_fit.group(group)
    frame = _target_frame(loss_fit.law, at, loss_fit.runs.compute_factor)
    chances = {
        metric: chance.get(metric) if isinstance(chance, Mapping) else chance for metric in metrics
    }
    at_chance = _check_metrics(table, loss, metrics, link, chances, accuracy)
    fitted: dict[str, Fit] = {"the loss fit": loss_fit}
    rows = []
    outside: list[dict[str, Any]] = []
    for metric in metrics:
        if metric in at_chance:
            inputs = {name: frame[name].to_numpy() for name in loss_fit.law.inputs}
            flagged = {"metric": metric, "status": "near chance", "note": at_chance[metric]}
            rows.append(pd.DataFrame({**flagged, **inputs}))
            continue
        link_fit = fit_link(
            table, loss, metric, link, chance=chances[metric], accuracy=accuracy, **fit_options
        )
        fitted[f"the link of {metric!r}"] = link_fit
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            part = chain(loss_fit, link_fit, frame, level=level)
        # The chain's own warnings (a failed fit named, a link leaving [0, 1]) are the note.
        status = "ok" if part.attrs["diagnostics_ok"] else "diagnostics failed"
        note = "; ".join(dict.fromkeys(str(w.message) for w in caught))
        part.insert(0, "note", note)
        part.insert(0, "status", status)
        part.insert(0, "metric", metric)
        # The chain's flagged targets, renumbered as rows of the whole table.
        first = sum(len(r) for r in rows)
        for flagged in part.attrs.get("outside_unit", []):
            outside.append({"metric": metric, **flagged, "row": first + flagged["row"]})
        rows.append(part)
    table = pd.concat(rows, ignore_index=True)
    table.attrs = {"outside_unit": outside}
    message = _failed_message(fitted)
    table.attrs["diagnostics_ok"] = message is None
    if message is not None:
        table.attrs["warning"] = message
        warnings.warn(message, UserWarning, stacklevel=2)
    return table


def _check_metrics(
    table: Any,
    loss: str,
    metrics: Sequence[str],
    link: str | Path | Law,
    chances: Mapping[str, float | None],
    accuracy: bool,
) -> dict[str, str]:
    """Check every metric's column, values, chance and link before any is fitted.

    :func:`fit_link` checks them too, but one metric at a time: a typo in the last of many
    tasks would surface only after every link before it was sampled, and be lost with them.

    Returns
    -------
    dict of str to str
        The metrics near chance, each with the reason (they get a row, not a fit).
    """
    near: dict[str, str] = {}
    law = None
    with warnings.catch_warnings():
        # Their warnings (an accuracy taken for an error) come with each link's fit.
        warnings.simplefilter("ignore")
        for metric in metrics:
            try:
                data = _link_runs(
                    _as_table(table, loss, metric), loss, metric, chances[metric], accuracy
                )
            except NearChanceError as err:
                near[metric] = str(err)
                continue
            if law is None:
                law = link_law(link, chances[metric], runs=data)
    return near


def _target_frame(law: Law, at: Any, compute_factor: float) -> pd.DataFrame:
    """The targets as a frame, read as ``Fit.forecast`` reads them.

    Any point form ``Fit.forecast`` takes (a mapping of scalars or lists, a DataFrame,
    records, text such as "70B"), and of N, D and C any two, the third completed.
    """
    from bayescale.forecast import forecast_points

    return forecast_points(law, at, compute_factor)


def _through_link(
    loss_law: Law,
    theta: Mapping[str, np.ndarray],
    link: Law,
    phi: Mapping[str, np.ndarray],
    frame: pd.DataFrame,
    level: float | Sequence[float],
    seed: int,
    *,
    log_delta: np.ndarray | None = None,
    joint: bool = False,
    chance: float | None = None,
) -> pd.DataFrame:
    """The loss law's draws at the targets, pushed through the link's draws: the forecast table.

    Two posteriors fitted apart (``joint=False``) are paired at random, and one model's error
    is the link at one run's loss (the law, ``log_delta`` and a new run's loss noise) plus the
    link's noise. A joint posterior's draws are already paired (``joint=True``), and its link
    noise is the scatter of the error around the link at the law's *mean* loss, which already
    holds what a run's loss noise does to its error: one model's error is the link at the mean
    loss plus that noise (adding the loss noise as well would count it twice).
    """
    from bayescale.forecast import law_value
    from bayescale.planning import summarise

    inputs = {name: frame[name].to_numpy(float)[None, :] for name in loss_law.inputs}
    rng = np.random.default_rng([seed, 15])
    n = len(next(iter(theta.values())))
    # The pairing first, then one noise term per draw shared by the targets (as
    # Fit.forecast draws a new run's noise): each target's marginal is exact, and its
    # numbers do not depend on which other targets are asked for in the same call.
    pick = np.arange(n) if joint else rng.integers(0, len(next(iter(phi.values()))), n)
    mean_loss = law_value(loss_law, {k: theta[k][:, None] for k in loss_law.parameters}, inputs)
    run_loss = mean_loss
    if not joint:
        # One run's loss: the law, its discrepancy (if fitted) and a new run's noise.
        noise = {k: theta[k][:, None] for k in loss_law.likelihood.noise_names}
        location = loss_law.likelihood.transform(mean_loss)
        if log_delta is not None:
            location = location + log_delta
        run_loss = loss_law.likelihood.inverse(
            location + loss_law.likelihood.draw_noise(noise, rng, (n, 1))
        )
    params = {k: phi[k][pick, None] for k in link.parameters}
    link_noise = {k: phi[k][pick, None] for k in link.likelihood.noise_names}
    error = law_value(link, params, {"L": mean_loss})
    one_model = law_value(link, params, {"L": run_loss}) + link.likelihood.draw_noise(
        link_noise, rng, (n, 1)
    )

    outside = _outside_unit(link, frame, list(loss_law.inputs), error, one_model, chance)
    out = {name: frame[name].to_numpy() for name in loss_law.inputs}
    for prefix, draws in (("loss", mean_loss), ("error", error), ("pred", one_model)):
        out.update(summarise(draws, prefix, level))
    table = pd.DataFrame(out)
    table.attrs["outside_unit"] = outside
    return table


def _outside_unit(
    link: Law,
    frame: pd.DataFrame,
    inputs: Sequence[str],
    error: np.ndarray,
    one_model: np.ndarray,
    chance: float | None,
) -> list[dict[str, Any]]:
    """The targets whose draws leave what an error can be, each judged on its own; one
    warning naming them all.

    A target is flagged when more than :data:`OUTSIDE_SHARE` of its draws of the law's error
    fall outside [0, 1] (or more than :data:`CHANCE_MARGIN` above a known chance error: the
    links' error at high loss has a prior of sd :data:`CHANCE_SIGMA` around it, so draws
    just above it are expected), or of one model's error outside [0, 1]. Pooled over the
    targets, one impossible target among many good ones would pass unseen.
    """
    from bayescale._format import clean_exponent

    high = 1.0 if chance is None else min(1.0, 1.0 - chance + CHANCE_MARGIN)
    error_out = np.mean((error < 0) | (error > high), axis=0)
    pred_out = np.mean((one_model < 0) | (one_model > 1), axis=0)
    rows = np.flatnonzero((error_out > OUTSIDE_SHARE) | (pred_out > OUTSIDE_SHARE))
    flagged = [
        {
            "row": int(i),
            **{name: float(frame[name].iloc[i]) for name in inputs},
            "error_outside": float(error_out[i]),
            "pred_outside": float(pred_out[i]),
        }
        for i in rows
    ]
    if not flagged:
        return flagged
    where = "; ".join(
        ", ".join(f"{name}={clean_exponent(f'{row[name]:.3g}')}" for name in inputs)
        + f" (error_* {row['error_outside']:.0%} of the draws, pred_* {row['pred_outside']:.0%})"
        for row in flagged
    )
    bounds = "outside [0, 1]"
    if chance is not None and high < 1:
        bounds += (
            f" (error_*: or above the chance error {1 - chance:.3g} by more than {CHANCE_MARGIN:g})"
        )
    if any(row["error_outside"] > OUTSIDE_SHARE for row in flagged):
        if link.name == "sigmoid":
            advice = "its error at high loss lies above the chance error: is the chance right?"
        else:
            advice = (
                "it extrapolates past what an error can be; a bounded link ('sigmoid', from "
                "chance to a floor) suits this metric"
            )
    else:
        advice = (
            "one model's error (pred_*) adds the link's noise, additive on the error "
            "fraction and bounded by no link: read its interval as ending at 0 (or 1)"
        )
    warnings.warn(
        f"the {link.name!r} link puts more than {OUTSIDE_SHARE:.0%} of the draws {bounds} at "
        f"{len(flagged)} of {len(frame)} target{'s' if len(frame) != 1 else ''}: {where}; "
        f"{advice}",
        UserWarning,
        stacklevel=4,
    )
    return flagged


#: Prefix of the link's variables in a joint posterior (both laws have a noise ``sigma``).
LINK_PREFIX = "link_"
#: The sampler settings a joint fit takes (those of bayescale.fit but its prior draws).
_JOINT_SETTINGS = (
    "draws",
    "tune",
    "chains",
    "seed",
    "target_accept",
    "progress",
    "retries",
    "time_budget",
)
_COMPILED_JOINT: dict[str, Any] = {}


@dataclass(frozen=True, eq=False)
class JointFit:
    """One posterior of a loss law and a link, fitted together (made by :func:`fit_joint`).

    Attributes
    ----------
    law : Law
        The loss law.
    link : Law
        The link, a law of the loss ``L``.
    runs : Runs
        The runs' inputs and losses (the loss law's response).
    error : numpy.ndarray
        The runs' error fractions (the link's response).
    posterior : xarray.Dataset
        Over ``(chain, draw)``: the loss law's parameters and noise under their own names,
        the link's prefixed with :data:`LINK_PREFIX` (``link_eps``, ``link_sigma`` ...).
    diagnostics : Diagnostics
        R-hat, ESS and divergences of every parameter of both laws.
    seed : int
        Seed of the sampler and of forecasts.
    settings : dict
        The sampler settings asked for (draws, tune, chains, target_accept), where the chains
        started and the ladder's attempts (the last one's draws kept).
    chance : float or None
        The task's chance accuracy, if given: the forecast judges its error draws against
        the chance error too.
    """

    law: Law
    link: Law
    runs: Runs
    error: np.ndarray
    posterior: Any
    diagnostics: Diagnostics
    seed: int
    settings: dict[str, Any]
    chance: float | None = None

    @property
    def ok(self) -> bool:
        """True when the diagnostics pass; forecasts of a failed fit carry a warning."""
        return self.diagnostics.ok

    @property
    def parameter_names(self) -> list[str]:
        """The posterior's parameters: the loss law's and its noise, then the link's."""
        link = [*self.link.parameters, *self.link.likelihood.noise_names]
        return [
            *self.law.parameters,
            *self.law.likelihood.noise_names,
            *(LINK_PREFIX + name for name in link),
        ]

    def _flat(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        return {n: np.asarray(self.posterior[n].values, dtype=float).reshape(-1) for n in names}

    def loss_draws(self) -> dict[str, np.ndarray]:
        """Draws of the loss law's parameters and noise, flattened over chains.

        Returns
        -------
        dict of str to numpy.ndarray
            By the loss law's names, each of shape ``(chains * draws,)``.
        """
        return self._flat([*self.law.parameters, *self.law.likelihood.noise_names])

    def link_draws(self) -> dict[str, np.ndarray]:
        """Draws of the link's parameters and noise, paired with :meth:`loss_draws`.

        Returns
        -------
        dict of str to numpy.ndarray
            By the link's own names (without the prefix), each of shape ``(chains * draws,)``.
        """
        names = [*self.link.parameters, *self.link.likelihood.noise_names]
        flat = self._flat([LINK_PREFIX + n for n in names])
        return {n: flat[LINK_PREFIX + n] for n in names}

    def summary(self, level: float = 0.9) -> pd.DataFrame:
        """Return the table of parameters: median, highest-density interval, R-hat and ESS.

        Parameters
        ----------
        level : float, default 0.9
            Probability of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row per parameter (:attr:`parameter_names`).
        """
        import arviz as az

        from bayescale.forecast import level_label
        from bayescale.settings import check_level

        level = check_level(level)
        names = self.parameter_names
        hdi = az.hdi(self.posterior[names], hdi_prob=level)
        tag = level_label(level)
        flat = self._flat(names)
        rows = [
            {
                "parameter": name,
                "median": float(np.median(flat[name])),
                f"hdi_{tag}_lower": float(hdi[name].values[0]),
                f"hdi_{tag}_upper": float(hdi[name].values[1]),
                **self.diagnostics.table.loc[name, ["r_hat", "ess_bulk", "ess_tail"]].to_dict(),
            }
            for name in names
        ]
        return pd.DataFrame(rows).set_index("parameter")

    def forecast(
        self,
        at: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
        level: float | Sequence[float] = 0.9,
        seed: int | None = None,
        *,
        points: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    ) -> pd.DataFrame:
        """Forecast the downstream error at new scales from the joint posterior.

        Parameters
        ----------
        at : mapping, DataFrame or list of mappings
            The loss law's inputs at each target, as :func:`chain` takes them (e.g.
            ``{"N": [6.9e9], "D": [1.38e11]}``).
        level : float or sequence of float, default 0.9
            Interval level(s).
        seed : int, optional
            Seed of the noise draws; default the fit's.
        points : mapping, DataFrame or list of mappings, optional
            Former name of ``at``, still accepted.

        Returns
        -------
        pandas.DataFrame
            The columns of :func:`chain`: inputs, ``loss_*`` (the law's loss), ``error_*``
            (the link at that loss: the parameters' uncertainty) and ``pred_*`` (one model's
            error: the link at the law's loss plus the link's noise, which in a joint fit
            already holds a run's loss noise). ``attrs`` holds ``diagnostics_ok``, the
            targets whose draws leave what an error can be (``outside_unit``, as
            :func:`chain`) and, for a failed fit, ``warning``.
        """
        from bayescale.settings import check_levels, check_seed

        at = _at_or_points(at, points, "JointFit.forecast")
        check_levels(level)
        seed = self.seed if seed is None else check_seed(seed)
        frame = _target_frame(self.law, at, self.runs.compute_factor)
        theta, phi = self.loss_draws(), self.link_draws()
        table = _through_link(
            self.law, theta, self.link, phi, frame, level, seed, joint=True, chance=self.chance
        )
        table.attrs["diagnostics_ok"] = self.ok
        if not self.ok:
            message = (
                f"forecast from a fit that failed its diagnostics: {self.diagnostics.verdict()}"
            )
            table.attrs["warning"] = message
            warnings.warn(message, stacklevel=2)
        return table

    def __repr__(self) -> str:
        return (
            f"<JointFit law={self.law.name!r} link={self.link.name!r} runs={len(self.runs)} "
            f"draws={self.diagnostics.chains}x{self.diagnostics.draws} "
            f"{'ok' if self.ok else 'FAILED DIAGNOSTICS'}>"
        )


def fit_joint(
    table: pd.DataFrame,
    loss: str,
    metric: str,
    law: str | Path | Law = "chinchilla",
    link: str | Path | Law = "exponential",
    *,
    x: Mapping[str, str] | None = None,
    chance: float | None = None,
    accuracy: bool = False,
    **fit_options: Any,
) -> JointFit:
    """Fit the loss law and the link as one model: the metric informs the loss law too.

    The runs' losses follow the loss law (its likelihood), and their metric follows the link
    of the law's *mean* loss at each run's inputs (the link's likelihood): the loss a run
    would have without its noise, a latent value, rather than the noisy loss :func:`fit_link`
    regresses on. Draws of both laws come out paired, so their correlation is kept.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per model: the loss law's inputs, the loss and the metric.
    loss : str
        Column of the validation loss (the loss law's response).
    metric : str
        Column of the downstream metric: an error fraction, or an accuracy with
        ``accuracy=True`` (fitted as ``1 - accuracy``).
    law : str, Path or Law, default "chinchilla"
        The loss law (see :func:`bayescale.fit`).
    link : str, Path or Law, default "exponential"
        The link (see :func:`link_law`).
    x : mapping, optional
        The loss law's inputs to columns, e.g. ``{"N": "params", "D": "tokens"}`` (see
        :func:`bayescale.load_runs`); default columns named after the inputs.
    chance : float, optional
        The task's chance accuracy (a fraction), for the prior of the error at high loss.
    accuracy : bool, default False
        ``metric`` holds accuracies.
    **fit_options
        Sampler settings: ``draws``, ``tune``, ``chains``, ``seed``, ``target_accept``,
        ``progress``, ``retries`` and ``time_budget``, as in :func:`bayescale.fit` (and its
        ladder of retries while the diagnostics fail).

    Returns
    -------
    JointFit
        The joint posterior, its diagnostics and :meth:`JointFit.forecast`.

    Raises
    ------
    DataError
        If a column is missing or not finite, the task is near chance (see
        :func:`near_chance`), or a sampler setting is unknown or out of range.
    """
    from bayescale.data import load_runs
    from bayescale.ladder import climb
    from bayescale.laws import get_law
    from bayescale.model import find_starts, log_reference
    from bayescale.settings import SamplerSettings

    unknown = sorted(set(fit_options) - set(_JOINT_SETTINGS))
    if unknown:
        raise DataError(
            f"fit_joint does not take {', '.join(unknown)}; its sampler settings are "
            f"{', '.join(_JOINT_SETTINGS)}"
        )
    settings = SamplerSettings.of(fit_options)
    table = _as_table(table, loss, metric)
    link_runs = _link_runs(table, loss, metric, chance, accuracy)
    runs = load_runs(table, x=x, y=loss)
    loss_law = get_law(law, runs=runs)
    runs.require_law(loss_law)
    link = link_law(link, chance, runs=link_runs)
    error = link_runs.y
    log_ref = log_reference(loss_law, runs)
    compiled = _compiled_joint(loss_law, link, runs, error, log_ref, log_reference(link, link_runs))
    starts = find_starts(compiled, settings.chains, settings.seed)
    names = [
        *loss_law.parameters,
        *loss_law.likelihood.noise_names,
        *(LINK_PREFIX + n for n in [*link.parameters, *link.likelihood.noise_names]),
    ]
    # The sampler ladder of bayescale.fit: longer warm-up, more draws or a higher
    # target_accept while the diagnostics fail (the Chinchilla law often needs a second try).
    idata, diagnostics, done, _ = climb(
        lambda attempt: _sample_joint(compiled, starts.points[0], attempt, settings),
        names,
        settings,
    )
    diagnostics = dataclasses.replace(diagnostics, attempts=tuple(done))
    used = {k: getattr(settings, k) for k in ("draws", "tune", "chains", "target_accept")}
    used["starts"] = starts.describe()
    used["attempts"] = [a.to_dict() for a in done]
    return JointFit(
        loss_law,
        link,
        runs,
        error,
        idata.posterior,
        diagnostics,
        settings.seed,
        used,
        None if chance is None else float(chance),
    )


def _sample_joint(
    compiled: Any, start: np.ndarray, attempt: Attempt, settings: SamplerSettings
) -> Any:
    """One attempt of nutpie on the joint model; the link's variables renamed ``link_*``."""
    import arviz as az
    import nutpie

    from bayescale.model import _quiet, _starting_at

    with _quiet():
        # All chains start at the best optimum; their own seeds set them apart.
        trace = nutpie.sample(
            _starting_at(compiled, start),
            draws=attempt.draws,
            tune=attempt.tune,
            chains=settings.chains,
            cores=min(settings.chains, os.cpu_count() or 1),
            seed=attempt.seed,
            target_accept=attempt.target_accept,
            maxdepth=attempt.maxdepth,
            low_rank_modified_mass_matrix=True,
            save_warmup=False,
            progress_bar=settings.progress,
        )
    moved = {v: LINK_PREFIX + v.split("::", 1)[1] for v in trace.posterior.data_vars if "::" in v}
    return az.InferenceData(
        posterior=trace.posterior.rename(moved), sample_stats=trace.sample_stats
    )


def _compiled_joint(
    law: Law,
    link: Law,
    runs: Runs,
    error: np.ndarray,
    log_ref: Mapping[str, float],
    link_ref: Mapping[str, float],
) -> Any:
    """The joint model compiled for nutpie, once per pair of laws and process; data swapped."""
    from bayescale import _numba_cache
    from bayescale.model import _data_values, _quiet

    values = {
        **_data_values(law, runs, log_ref),
        "link::error_obs": link.likelihood.transform(error),
    }
    # A link parameter stated at a reference loss bakes that loss into the graph.
    key = json.dumps([law.to_dict(), link.to_dict(), sorted(log_ref), link_ref], sort_keys=True)
    compiled = _COMPILED_JOINT.get(key)
    if compiled is None:
        with _quiet():
            compiled = _numba_cache.compile_model(
                _joint_model(law, link, runs, values, log_ref, link_ref)
            )
        _COMPILED_JOINT[key] = compiled
        return compiled
    return compiled.with_data(**values)


def _joint_model(
    law: Law,
    link: Law,
    runs: Runs,
    values: Mapping[str, np.ndarray],
    log_ref: Mapping[str, float],
    link_ref: Mapping[str, float],
):
    """The loss law's PyMC model, with the link observed at the law's mean loss per run."""
    import pymc as pm
    import pytensor.tensor as pt

    from bayescale.formula import Formula, pytensor_ops
    from bayescale.model import build_model

    ops = pytensor_ops()
    model = build_model(law, runs, log_ref)
    # build_model keeps each run's inputs as the first rows of one matrix, in the law's order.
    per_run = model["per_run"]
    inputs = {name: per_run[i] for i, name in enumerate(law.inputs)}
    params = {name: model[name] for name in law.parameters}
    with model:
        if law.likelihood.scale == "linear":
            mean_loss = law.value(params, inputs, ops)
        else:
            mean_loss = pt.exp(law.log_mean(params, inputs, ops=ops))
        # A submodel prefixes the link's names ("link::sigma"): both laws have a noise sigma.
        with pm.Model(name="link"):
            observed = pm.Data("error_obs", values["link::error_obs"])
            theta: dict[str, Any] = {}
            for p in sorted(link.parameters.values(), key=lambda p: p.reference is not None):
                if p.reference is None:
                    theta[p.name] = p.prior.create_variable(p.name)
                    continue
                inp, power = p.reference
                shift = Formula(power).evaluate(theta, ops) * link_ref[inp]
                at_ref = p.prior.create_variable(p.sampled_name)
                theta[p.name] = pm.Deterministic(p.name, at_ref * pt.exp(shift))
            if link.likelihood.scale == "linear":
                mu = link.value(theta, {"L": mean_loss}, ops)
            else:
                mu = link.log_mean(theta, {"L": mean_loss}, ops=ops)
            link.likelihood.observe("error", mu, observed=observed)
    return model
