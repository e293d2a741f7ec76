"""Everything the report shows, gathered from the library's results into one dict."""

from __future__ import annotations

import base64
import datetime as _dt
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bayescale.comparison import Comparison
from bayescale.errors import BayescaleError, DataError, DataWarning
from bayescale.fitting import Fit
from bayescale.forecast import level_label
from bayescale.planning import in_compute_alone
from bayescale.plots._common import has_n_and_d, is_n_d_law, runs_compute
from bayescale.report import sections
from bayescale.report.inputs import (
    comparison_tables,
    default_targets,
    held_inputs,
    other_inputs,
    read_budgets,
    read_comparison,
    read_fit,
    read_target_loss,
    read_targets,
    target_compute,
    target_points,
)
from bayescale.report.numbers import Num
from bayescale.report.reproducibility import _Code, _literal, reproducibility_section, when

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SECTIONS", "build_context"]

#: Section ids of the report, in order, with their headings.
SECTIONS = {
    "summary": "Executive summary",
    "data": "Data",
    "law": "Law and priors",
    "diagnostics": "Sampling diagnostics",
    "parameters": "Parameters",
    "fit": "Fit to the runs",
    "forecast": "Forecast",
    "comparison": "Model comparison",
    "plan": "Compute plan",
    "sensitivity": "Prior sensitivity",
    "caveats": "Assumptions and caveats",
    "reproducibility": "Reproducibility",
}

#: Credible levels of the forecast table (the report's own level is added).
FORECAST_LEVELS = (0.5, 0.8, 0.9)
#: Predictive levels of the fan chart (the report's own level is added: the targets' bars).
FAN_LEVELS = (0.5, 0.8, 0.9, 0.95)
#: Heading of the downstream section, shown after the forecast when links are given.
DOWNSTREAM_HEADING = "Downstream forecast"
#: Up to this many metrics get a figure each; more share one figure of panels.
LINK_FIGURES = 3


def fan_levels(level: float) -> list[float]:
    """The fan chart's predictive levels: :data:`FAN_LEVELS` and the report's own level."""
    return sorted({*FAN_LEVELS, level})


def _figures(
    fit: Fit,
    targets: list[dict[str, float]],
    level: float,
    compute: list[float],
    fixed: dict[str, float] | None,
    comparison: dict[str, Any] | None,
) -> dict[str, str]:
    """Every plot as a ``data:image/png;base64`` URI, so the file needs nothing else."""
    from bayescale import plots

    makers: dict[str, Any] = {
        "fit": lambda: plots.plot_fit(fit, targets=targets, level=level),
        "residuals": lambda: plots.plot_residuals(fit, level=level),
        "ppc": lambda: plots.plot_ppc(fit),
        "rank": lambda: plots.plot_rank(fit),
        "prior_posterior": lambda: plots.plot_prior_posterior(fit),
        "pair": lambda: plots.plot_pair(fit),
        "fan": lambda: plots.plot_forecast_fan(fit, targets, levels=fan_levels(level), level=level),
    }
    if is_n_d_law(fit):
        makers["contours"] = lambda: plots.plot_loss_contours(fit, targets=targets)
    if has_n_and_d(fit):
        makers["frontier"] = lambda: plots.plot_frontier(
            fit, budgets=compute, level=level, fixed=fixed
        )
    if comparison is not None:
        makers["comparison"] = lambda: plots.plot_comparison(
            comparison["loo"], comparison["extrapolation"]
        )
    figures = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed fit is stated in the report itself
        for name, make in makers.items():
            png = plots.figure_to_png(make())
            figures[name] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return figures


def _comparison_inputs(comparison: Any) -> tuple[dict[str, Any] | None, Comparison | None]:
    """The comparison's tables (with both weightings) and the comparison itself, if any.

    Tables already read (a dict) have no fits, so no averaged forecast can be made of them.
    """
    if comparison is None or isinstance(comparison, dict):
        return comparison_tables(comparison), None
    loaded = comparison if isinstance(comparison, Comparison) else Comparison.load(comparison)
    tables = comparison_tables(loaded)
    if tables is not None:
        if isinstance(comparison, str | os.PathLike):
            tables["folder"] = Path(comparison)
        tables["weights"] = loaded.weights_table()
    return tables, loaded


def _scaled(fit: Fit) -> str:
    """The inputs a default target scales 10x, as words: ``N``, ``N and D``, ``N, D and C``."""
    names = [name for name in fit.law.inputs if name not in held_inputs(fit)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _held(fit: Fit) -> list[dict[str, Any]]:
    """The inputs a default target holds at their median in the runs, as the report says."""
    return [
        {"name": name, "value": Num(value, f"meta.held.{name}", "num")}
        for name, value in held_inputs(fit).items()
    ]


def _averaged_forecast(
    fit: Fit, comparison: Comparison | None, targets: list[dict[str, float]], levels: list[float]
) -> dict[str, Any] | None:
    """The comparison's model-averaged forecast at the targets, with its weights and why.

    Returns None without a comparison; ``table`` is None (and ``why_not`` says why) when the
    average does not apply to this fit: its law is not compared, the comparison used other
    runs, or another law cannot forecast the targets.
    """
    if comparison is None:
        return None
    out: dict[str, Any] = {"table": None, "why_not": None, "method": None, "reason": None}
    if fit.law.name not in comparison.fits:
        out["why_not"] = f"this report's law ({fit.law.name}) is not among the compared laws"
        return out
    own = fit.info.get("data_fingerprint", fit.runs.fingerprint())
    other = comparison.fits[fit.law.name]
    if other.info.get("data_fingerprint", other.runs.fingerprint()) != own:
        out["why_not"] = "the comparison was run on other runs than this fit"
        return out
    try:
        averaged = comparison.average()
    except BayescaleError as err:
        out["why_not"] = f"the laws could not be averaged: {err}"
        return out
    # The plan may still be averaged when the forecast cannot be (and the other way round).
    out["average"] = averaged
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # failed diagnostics are in attrs
            table = averaged.forecast(target_points(targets), level=levels)
    except BayescaleError as err:
        out["why_not"] = f"the averaged forecast could not be made: {err}"
        return out
    out.update(
        table=table,
        method=averaged.method,
        reason=averaged.reason,
        weights=averaged.weights,
        warning=table.attrs.get("warning"),
        fits_ok={name: f.ok for name, f in averaged.fits.items()},
        verdicts={name: f.diagnostics.verdict() for name, f in averaged.fits.items()},
    )
    return out


def _default_compute(fit: Fit, forecast: pd.DataFrame) -> dict[str, Num] | None:
    """A default target's compute and its ratio to the largest run's, for a law of N and D
    (None otherwise, or with several targets).

    ``fit`` is the whole fit: for a fit with groups the default target is 10x every group's
    runs, so it is measured against the largest run of any group.
    """
    if len(forecast) != 1 or "C" not in forecast.columns or not has_n_and_d(fit):
        return None
    compute = float(forecast["C"].iloc[0])
    largest = float(runs_compute(fit).max())
    return {
        "C": Num(compute, "meta.default_target.C", "flops"),
        "ratio": Num(compute / largest, "meta.default_target.compute_ratio", "ratio"),
    }


def _averaged_plan(
    fit: Fit,
    averaged: dict[str, Any] | None,
    level: float,
    budgets: list[float],
    fixed: dict[str, float] | None,
    target_loss: float | None,
    group: str | None,
    whole: Fit | None = None,
) -> dict[str, Any] | None:
    """The plan under the comparison's averaged laws: each pooled draw splits the budgets
    with its own law (:meth:`bayescale.Average.compute_optimal`), and the budget for the
    target loss with one run's chance at ``level``; the budgets are those of the fit's own
    plan (from ``whole``'s largest run: every group's, for a fit with groups).

    None without a comparison or without an N/D split; ``why_not`` says why when the average
    gives no plan (it does not apply to this fit, or a law with weight has no split).
    """
    if averaged is None or not has_n_and_d(fit):
        return None
    average = averaged.get("average")
    if average is None:
        return {"why_not": averaged["why_not"]}
    budgets = sections.plan_budgets(fit if whole is None else whole, budgets)
    try:
        with warnings.catch_warnings():
            # Said under the table (its caveats), as the fit's own plan's are.
            warnings.simplefilter("ignore", UserWarning)
            table = average.compute_optimal(budgets, level=level, fixed=fixed, group=group)
            budget = None
            if target_loss is not None:
                budget = average.budget_for(
                    target_loss, level=level, fixed=fixed, group=group, prob=level
                )
    except BayescaleError as err:
        return {"why_not": f"the averaged plan could not be made: {err}"}
    return {"table": table, "budget": budget, "weights": average.weights}


def build_context(
    fit: Fit | str | os.PathLike[str],
    *,
    comparison: Comparison | str | os.PathLike[str] | None = None,
    at: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    target_loss: float | str | None = None,
    compute: float | str | Sequence[float] | None = None,
    level: float | str = 0.9,
    command: str | None = None,
    fit_path: str | os.PathLike[str] | None = None,
    figures: bool = True,
    group: str | None = None,
    downstream: Mapping[str, Fit | str | os.PathLike[str]] | None = None,
) -> dict[str, Any]:
    """Gather everything the report shows, from the library's results.

    Parameters
    ----------
    fit : Fit, str or PathLike
        The fit to report on, or the file it was saved to (:meth:`bayescale.Fit.save`;
        read with :func:`bayescale.load_fit`, its SHA-256 recorded unless ``fit_path``
        says otherwise).
    comparison : Comparison, str or PathLike, optional
        A :class:`~bayescale.Comparison`, or the folder it was saved to. The comparison
        section then also shows the laws' averaged forecast at the targets, with the
        weights :meth:`~bayescale.Comparison.average` uses by default (stacking on held-out
        larger runs when the comparison has them, else on PSIS-LOO).
    at : mapping, DataFrame or sequence of mapping, optional
        Target points, in any form :meth:`bayescale.Fit.forecast` takes:
        ``{"N": [7e10], "D": [1.4e12]}``, a DataFrame, or records
        ``[{"N": 7e10, "D": 1.4e12}]`` (of N, D, C any two); default
        10x the largest N, D and C in the runs (for a fit with groups, every group's runs,
        whichever group the report is about), other inputs (a learning rate, a batch
        size ...) held at their median in the runs (see
        :func:`~bayescale.report.inputs.default_targets`; for a law of compute alone given
        ``compute``: the budgets).
    target_loss : float or str, optional
        A loss to reach (a number, or text of one: ``"2.0"``): adds the probability of
        reaching it and the compute it needs (laws with inputs N and D, split
        compute-optimally; or laws of compute C, by inverting the law, without a split).
    compute : float, str or sequence of float, optional
        One budget in FLOPs or several (``1e24``, ``[1e23, 1e24]``, ``"1e24"``), for the
        probability and the compute plan; default the targets' compute. The plan adds the
        largest run's compute, 10x and 100x it (of every group's runs, for a fit with
        groups). A law of compute alone given no ``at`` forecasts at these budgets.
    level : float, default 0.9
        Credible level of the intervals, in (0, 1).
    command : str, optional
        The command that asked for the report, shown as it is; without it the report shows
        the Python call that redoes it.
    fit_path : str or PathLike, optional
        The fit's file, whose SHA-256 is recorded.
    figures : bool, default True
        Draw the plots (False: tables only, faster).
    group : str, optional
        For a hierarchical fit: the group the forecast, plan and plots are about (``"new"``
        for a group not yet observed); default the group with the fewest runs, usually the
        new setup being asked about. A "Groups" section shows every group, and the priors
        and sensitivity sections add the population spreads (``E_tau`` ...).
    downstream : mapping of str to Fit or path, optional
        Downstream metrics: name -> the fit of its link from the loss
        (:func:`bayescale.downstream.fit_link`), or the file it was saved to. A "Downstream
        forecast" section then chains each link with this fit at the targets
        (:func:`bayescale.downstream.chain`), flags links whose runs are near chance, and
        plots each link (:func:`bayescale.plots.plot_link`).

    Returns
    -------
    dict
        One entry per section of :data:`SECTIONS` plus ``meta`` and ``figures``; numbers
        are :class:`~bayescale.report.Num`.

    Raises
    ------
    DataError
        If ``fit`` is not a fit or its file, a target, budget, target loss or level is
        invalid, ``comparison`` is of another type, a downstream entry is not a link's
        fit, or ``group`` is given for a fit without groups or is not one of its groups.
    BayescaleError
        If the fit's file, the comparison folder or a link's file cannot be read.

    Warns
    -----
    DataWarning
        If the comparison was run on other runs than this fit.
    """
    from bayescale.settings import check_level

    # Every option is checked before any work, in the forms the Fit methods take.
    fit, fit_path = read_fit(fit, fit_path)
    level = check_level(level)
    target_loss = read_target_loss(target_loss)
    given = read_budgets(compute)
    comparison = read_comparison(comparison)
    asked = read_targets(fit, at)
    whole = fit
    # The prior checks first: they record the fit's prior-data conflicts, which its verdict
    # and its forecasts' warnings name.
    prior_notes = whole.prior_checks()
    focus = None
    if fit.pooling is not None:
        # The report's forecast, plan and plots are one group's; data, diagnostics and
        # parameters are the whole fit's, and the Groups section compares the groups.
        counts = {g: int(sum(1 for x in fit.runs.group if x == g)) for g in fit.groups}
        focus = group if group is not None else min(fit.groups, key=lambda g: counts[g])
        _check_group(whole, focus)
        fit = whole.group(focus)
    elif group is not None:
        # Fit.group's own words, which the command line says as its options.
        raise DataError(
            f"this fit has no groups, so the report cannot be about group {group!r}; fit runs "
            f"loaded with load_runs(..., group='<column>') (on the command line: bayescale fit "
            f"... --group COLUMN) to report on one group, or report on this fit without a group"
        )
    # The default target and the plan's budgets come from every group's runs, as for a fit
    # without groups: the group the report is about (by default the one with the fewest runs,
    # often a new dataset's few small runs) would otherwise set them far below the fit's runs.
    targets = asked if asked is not None else default_targets(whole, given)
    levels = sorted({*FORECAST_LEVELS, level})
    with warnings.catch_warnings():
        # The report states failed diagnostics, and the forecast's caveats under its table.
        warnings.simplefilter("ignore", UserWarning)
        forecast = fit.forecast(target_points(targets), level=levels)
    fixed = other_inputs(fit, targets)
    budgets = given or target_compute(fit, forecast)
    links, link_files = _links(downstream)
    tables, compared = _comparison_inputs(comparison)
    averaged = _averaged_forecast(fit, compared, targets, levels)
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    path = None if fit_path is None else Path(fit_path)
    request = {
        "at": asked,
        "target_loss": target_loss,
        "compute": given or None,
        "level": level,
        "comparison": str(comparison) if isinstance(comparison, str | os.PathLike) else None,
        "downstream": _links_call(link_files) if links else None,
    }
    ordered = dict(SECTIONS)
    if focus is not None:
        ordered = {"summary": SECTIONS["summary"], "groups": "Groups", **SECTIONS}
    if links:
        keys = list(ordered)
        cut = keys.index("forecast") + 1
        ordered = {
            **{k: ordered[k] for k in keys[:cut]},
            "downstream": DOWNSTREAM_HEADING,
            **{k: ordered[k] for k in keys[cut:]},
        }
    out = {
        "meta": {
            "title": f"Scaling-law forecast: {fit.law.name}"
            + (f" (group {focus})" if focus is not None else ""),
            "law": fit.law.name,
            "created": when(created),
            "fit_file": None if path is None else path.name,
            "sections": ordered,
            # Numbered in order, so that headings, contents and cross-references agree
            # whichever optional sections (groups, downstream) are shown.
            "numbers": {name: i for i, name in enumerate(ordered, start=1)},
            "targets_given": asked is not None,
            # No target given, a law of compute alone: the budgets are its targets.
            "targets_from_compute": bool(asked is None and given and in_compute_alone(fit.law)),
            # No target given: the inputs held at their median instead of scaled 10x.
            "held_inputs": [] if asked is not None else _held(whole),
            "scaled_inputs": "" if asked is not None else _scaled(whole),
            # What a default target is as one run: its compute against the largest run's (10x
            # the largest N and 10x the largest D is 100x the compute, more when they come
            # from different runs).
            "default_compute": _default_compute(whole, forecast) if asked is None else None,
            # Whose runs "x largest run" and the default target are measured against.
            **_runs_words(whole, focus, forecast),
            "fan_levels": [level_label(lv) for lv in fan_levels(level)],
        },
        "summary": sections.summary_section(
            fit, forecast, levels, level, target_loss, budgets, fixed
        ),
        "data": sections.data_section(whole),
        "law": sections.law_section(fit, whole.pooling),
        "diagnostics": sections.diagnostics_section(whole),
        "parameters": sections.parameters_section(whole, level),
        "plan": sections.plan_section(
            fit,
            level,
            budgets,
            fixed,
            _averaged_plan(fit, averaged, level, budgets, fixed, target_loss, focus, whole),
            whole=whole,
        ),
        "sensitivity": sections.sensitivity_section(fit, prior_notes, whole=whole, group=focus),
        "comparison": sections.comparison_section(fit, tables, averaged, level),
        "reproducibility": reproducibility_section(whole, path, command, created, request),
        "figures": _figures(fit, targets, level, budgets, fixed, tables) if figures else {},
    }
    compared_section = out["comparison"]
    if compared_section is not None and compared_section["same_data"] is False:
        where = f" in {compared_section['folder']}" if compared_section["folder"] else ""
        warnings.warn(
            f"the comparison{where} was run on other runs than this fit (their data "
            f"fingerprints differ): its verdict is not about this fit's data; compare the "
            f"laws on these runs to judge them here",
            DataWarning,
            stacklevel=2,
        )
    out["downstream"] = None
    if links:
        points = forecast[list(fit.law.inputs)]
        out["downstream"] = sections.downstream_section(fit, points, links, level)
        if figures:
            out["figures"].update(_link_figures(out["downstream"], links, level))
    out["groups"] = None
    if focus is not None:
        out["groups"] = sections.groups_section(whole, focus, targets, level)
        if figures:
            out["figures"].update(_group_figures(whole, level))
    return out


def _check_group(fit: Fit, group: str) -> None:
    """Refuse a group the fit does not have, with the name most likely meant.

    Raises
    ------
    DataError
        If ``group`` is neither one of the fit's groups nor ``"new"``.
    """
    from bayescale.hierarchy import NEW_GROUP

    if str(group) not in [*fit.groups, NEW_GROUP]:
        fit.group(str(group))  # raises, naming the group most likely meant


def _runs_words(whole: Fit, focus: str | None, forecast: pd.DataFrame) -> dict[str, Any]:
    """Whose runs the report's distances are measured from, in words, and for a group's
    report how far the targets reach beyond every group's runs.

    ``runs_words`` names the runs of "x largest run" (the report's group's: a group's law is
    pinned by its own runs); ``default_runs`` those of a default target and of the plan's
    budgets (every group's); ``whole_reach`` (a Num, or None) is the farthest target's ratio
    to the largest value in every group's runs, when that differs from the group's own.
    """
    from bayescale.discrepancy import beyond_runs
    from bayescale.hierarchy import NEW_GROUP

    if focus is None:
        return {
            "grouped": False,
            "runs_words": "the runs",
            "default_runs": "the runs",
            "whole_reach": None,
        }
    count = Num(len(whole.runs), "meta.whole_runs", "int")
    default = f"every group's runs (all {count.text} runs of the fit)"
    if focus == NEW_GROUP:
        # A new group has no runs: its forecasts are measured from every group's.
        return {
            "grouped": True,
            "runs_words": "every group's runs (a new group has none of its own)",
            "default_runs": default,
            "whole_reach": None,
        }
    own = int(sum(1 for g in whole.runs.group if g == focus))
    ratio, _ = beyond_runs(forecast, whole.runs, list(whole.law.inputs))
    return {
        "grouped": True,
        "runs_words": f"group {focus}'s {own} run{'s' if own != 1 else ''}",
        "default_runs": default,
        "whole_reach": Num(float(np.max(ratio)), "meta.whole_reach", "ratio"),
    }


def _group_figures(fit: Fit, level: float) -> dict[str, str]:
    """The per-group curves and the population forest plot of a hierarchical fit."""
    from bayescale import plots
    from bayescale.plots.hierarchy import plot_groups, plot_population

    makers: dict[str, Any] = {"groups": lambda: plot_groups(fit, level=level)}
    if fit.pooling.pooled:
        makers["population"] = lambda: plot_population(fit, level=level)
    makers["groups_ppc"] = lambda: plots.plot_ppc(fit)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, make in makers.items():
            png = plots.figure_to_png(make()[0].figure)
            out[name] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return out


def _links(
    downstream: Mapping[str, Fit | str | os.PathLike[str]] | None,
) -> tuple[dict[str, Fit], dict[str, str | None]]:
    """The link fits by metric name (files read), and the file each came from, if any.

    Raises
    ------
    DataError
        If ``downstream`` is not a mapping, or an entry is not the fit of a link from L.
    """
    if downstream is None:
        return {}, {}
    if not isinstance(downstream, Mapping):
        raise DataError(
            f"downstream must map each metric's name to its link fit, e.g. "
            f"{{'mmlu': link_fit}}; got {type(downstream).__name__}"
        )
    from bayescale.fitting import load_fit

    links: dict[str, Fit] = {}
    files: dict[str, str | None] = {}
    for name, value in downstream.items():
        path = None
        if isinstance(value, str | os.PathLike):
            path = os.fspath(value)
            value = load_fit(path)
        if not isinstance(value, Fit):
            raise DataError(
                f"downstream[{name!r}] must be a link fit (bayescale.downstream.fit_link) or "
                f"its saved file, not {type(value).__name__}"
            )
        if "L" not in value.law.inputs:
            raise DataError(
                f"downstream[{name!r}] is a fit of law {value.law.name!r} (inputs "
                f"{', '.join(value.law.inputs)}), not a link from the loss L: fit it with "
                f"bayescale.downstream.fit_link"
            )
        links[str(name)] = value
        files[str(name)] = path
    return links, files


def _links_call(files: Mapping[str, str | None]) -> dict[str, _Code]:
    """``downstream=`` of the Python call that redoes the report: each link read from its
    file (a link given as a fit is read from ``<metric>.link.nc``, where it must be saved)."""
    return {
        name: _Code(f"bayescale.load_fit({_literal(path if path else name + '.link.nc')})")
        for name, path in files.items()
    }


def _link_figures(
    section: Mapping[str, Any], links: Mapping[str, Fit], level: float
) -> dict[str, str]:
    """plot_link of each metric with its forecast: one figure each, or one of panels for many."""
    import numpy as np

    from bayescale import plots
    from bayescale.plots._common import axes_grid

    metrics = section["metrics"]
    drawn: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(metrics) <= LINK_FIGURES:
            for i, entry in enumerate(metrics):
                ax = plots.plot_link(
                    links[entry["name"]],
                    forecast=entry.get("table"),
                    level=level,
                    metric=entry["name"],
                )
                drawn[f"link-{i}"] = ax.figure
        else:
            columns = LINK_FIGURES
            rows = -(-len(metrics) // columns)
            grid, _ = axes_grid(None, (rows, columns), (4.2 * columns, 3.4 * rows), "links")
            axes = np.ravel(grid)
            for ax, entry in zip(axes, metrics, strict=False):
                plots.plot_link(
                    links[entry["name"]],
                    forecast=entry.get("table"),
                    level=level,
                    ax=ax,
                    metric=entry["name"],
                )
                ax.set_title(entry["name"], fontsize=9)
            for ax in axes[len(metrics) :]:
                ax.set_visible(False)
            figure = axes[0].figure
            figure.suptitle("Downstream errors through the loss", fontsize=10)
            figure.tight_layout()
            drawn["links"] = figure
    return {
        name: "data:image/png;base64,"
        + base64.b64encode(plots.figure_to_png(figure)).decode("ascii")
        for name, figure in drawn.items()
    }
