"""The report's sections, each a dict of the library's results (numbers as :class:`Num`)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayescale._format import format_prior, size_kind
from bayescale.checks import CONFLICTS, PSENS_THRESHOLD, prior_sensitivity
from bayescale.errors import ExtrapolationWarning
from bayescale.fitting import RHAT_MAX, Fit
from bayescale.forecast import level_label
from bayescale.hierarchy import Pooling
from bayescale.planning import in_compute_alone
from bayescale.plots._common import has_n_and_d, runs_compute
from bayescale.report.numbers import Num, nums

#: Targets beyond this many times the largest value of an input in the runs are flagged as
#: far extrapolations; for the compute C, which grows as N times D, its square.
FAR_EXTRAPOLATION = 10.0
#: Targets less than this factor beyond the largest run are at the runs' edge, not called an
#: extrapolation: their ratio shows as "1x" and their intervals are barely wider.
EDGE = 1.01
#: Laws with at least this weight carry an averaged forecast: the summary names them and
#: flags those whose fit failed (lighter ones barely move its numbers).
CARRYING_WEIGHT = 0.01


def summary_section(
    fit: Fit,
    forecast: pd.DataFrame,
    levels: list[float],
    level: float,
    target_loss: float | None,
    compute: list[float],
    fixed: dict[str, float] | None,
) -> dict[str, Any]:
    """The forecast at the targets, the chance of reaching the target loss, its budget.

    Parameters
    ----------
    fit : Fit
        The fit (one group's, for a fit with groups).
    forecast : pandas.DataFrame
        ``Fit.forecast`` at the targets, at ``levels``.
    levels : list of float
        The forecast's credible levels.
    level : float
        The report's level.
    target_loss : float, optional
        A loss to reach.
    compute : list of float
        Budgets in FLOPs.
    fixed : dict, optional
        The law's inputs other than N, D and C.

    Returns
    -------
    dict
        The forecast's rows, the probability of the target at the targets and budgets and
        the budget it needs (laws of N and D, split compute-optimally, or of compute C,
        which have no split), and what the report says of the extrapolation and the
        discrepancy.
    """
    inputs = list(forecast.columns[: list(forecast.columns).index("law_median")])
    rows = [nums(row, f"forecast.{i}") for i, row in enumerate(forecast.to_dict(orient="records"))]
    split = has_n_and_d(fit)
    # A law of compute alone answers the same questions, by inverting the law: no N/D split.
    plannable = split or in_compute_alone(fit.law)
    probability = budget = floor = None
    budget_notes: list[str] = []
    if target_loss is not None and plannable:
        # The forecast's input columns are the targets completed (any two of N, D, C given).
        if split:
            at_points = fit.prob_below(target_loss, N=forecast["N"], D=forecast["D"], fixed=fixed)
            extra = list(compute)
        else:
            at_points = fit.prob_below(target_loss, C=forecast["C"], fixed=fixed)
            # For a law of C a budget is a point: one row each, not the same row twice.
            targets_c = forecast["C"].to_numpy(dtype=float)
            extra = [c for c in compute if not np.isclose(c, targets_c, rtol=1e-9).any()]
        at_budgets = fit.prob_below(target_loss, C=extra, fixed=fixed) if extra else pd.DataFrame()
        probability = {
            "points": _flagged(at_points, "prob.point"),
            "budgets": _flagged(at_budgets, "prob.budget"),
        }
        # Which rows are past the peak of one run's chance or far beyond the backtests (the
        # tables' attrs, as `bayescale target` marks them): a column only when one is.
        probability["caveat_column"] = any(
            r["caveat"] for r in probability["points"] + probability["budgets"]
        )
        # Its caveats (a target the runs already reach) belong in the report, not only on
        # the console: kept, and said again for the caller.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # With the budget that gives one run the report's level as its chance: what a
            # plan is asked ("how much compute for a 90% chance that our run gets there?").
            found = fit.budget_for(target_loss, level=level, fixed=fixed, prob=level)
        for warning in caught:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        budget = nums(found.iloc[0].to_dict(), "budget.0")
        budget["run_prob_finite"] = bool(np.isfinite(found[f"C_run_prob_{level_label(level)}"][0]))
        # The average run never gets there in most of the posterior (a target at or below
        # the floor): no budget to give, and the report says why instead of "inf".
        budget["reachable"] = bool(np.isfinite(found["C_median"][0]))
        budget["upper_finite"] = bool(np.isfinite(found[f"C_upper_{level_label(level)}"][0]))
        if not budget["reachable"]:
            floor = _floor(fit, level)
        budget_notes = [
            # The table's column name is for a Python user, not for the report's reader.
            str(w.message).split("; C_run_prob_")[0]
            for w in caught
            if "is met below the compute" in str(w.message)
            or str(w.message).startswith(("no budget up to", "one run meets loss"))
        ]
        # The chances' caveats (past the peak, far beyond the backtests), from the tables'
        # attrs rather than the warnings' wording: each sentence once.
        probability["caveats"] = list(
            dict.fromkeys(
                str(sentence)
                for table in (at_points, at_budgets, found)
                for sentence in table.attrs.get("caveats", [])
            )
        )
    largest = float(forecast["extrapolation"].max())
    discrepancy = None
    if fit.discrepancy is not None and "disc_median" in forecast.columns:
        # How much the form's error widens the law's interval at the farthest target.
        far = int(forecast["extrapolation"].to_numpy().argmax())
        tag = level_label(level)
        law_width = forecast[f"law_upper_{tag}"][far] - forecast[f"law_lower_{tag}"][far]
        disc_width = forecast[f"disc_upper_{tag}"][far] - forecast[f"disc_lower_{tag}"][far]
        # Its 90% interval, as ``bayescale fit`` and ``Discrepancy.describe`` state it.
        low, mid, high = fit.discrepancy.s_quantiles([0.05, 0.5, 0.95])
        discrepancy = {
            "cuts": len(fit.discrepancy.info.get("splits", [])),
            "s_low": Num(low, "discrepancy.s_5", "percent"),
            "s_median": Num(mid, "discrepancy.s_median", "percent"),
            "s_high": Num(high, "discrepancy.s_95", "percent"),
            "widening": Num(disc_width / law_width, "discrepancy.widening", "ratio"),
            "widening_small": bool(disc_width / law_width < EDGE),
            # The backtests' refits sample briefly: said when some did not converge.
            "failed_refits": fit.discrepancy.failed_refits_note(),
        }
    return {
        "inputs": inputs,
        "levels": [level_label(lv) for lv in levels],
        "level": level_label(level),
        "rows": rows,
        "target_loss": None if target_loss is None else Num(target_loss, "target_loss"),
        "plannable": plannable,
        # Laws of N and D split a budget compute-optimally; a law of C alone has no split.
        "split": split,
        "probability": probability,
        "budget": budget,
        "floor": floor,
        # Whether the fit has a discrepancy, and whether the forecast shows its interval.
        "has_discrepancy": fit.discrepancy is not None,
        "disc_columns": "disc_median" in forecast.columns,
        "budget_notes": budget_notes,
        "ok": fit.ok,
        "verdict": fit.diagnostics.verdict(),
        "max_extrapolation": Num(largest, "forecast.max_extrapolation", "ratio"),
        "far": _far(fit, forecast),
        "beyond": bool(largest > EDGE),
        "at_edge": bool(1 < largest <= EDGE),
        "edge": Num(EDGE - 1, "forecast.edge", "percent"),
        "discrepancy": discrepancy,
        "discrepancy_note": fit.discrepancy_note,
        # Targets far beyond the backtests: the forecast's sentence (its console warning is
        # silenced by build_context), said under its table.
        "caveats": [str(sentence) for sentence in forecast.attrs.get("caveats", [])],
    }


#: The words of a probability row's caveat, per key of ``Fit.prob_below``'s attrs (as
#: ``bayescale target`` marks its rows).
_ROW_CAVEATS = (("past_peak", "past the peak"), ("beyond_backtests", "far beyond the backtests"))


def _flagged(table: pd.DataFrame, key: str) -> list[dict[str, Any]]:
    """A probability table's rows (numbers as Num), each with its ``caveat`` ("" if none)."""
    flagged = {
        name: {int(entry["row"]) for entry in table.attrs.get(name, [])} for name, _ in _ROW_CAVEATS
    }
    rows = []
    for i, record in enumerate(table.to_dict("records")):
        row = nums(record, f"{key}.{i}")
        row["caveat"] = "; ".join(words for name, words in _ROW_CAVEATS if i in flagged[name])
        rows.append(row)
    return rows


def _far(fit: Fit, table: pd.DataFrame) -> bool:
    """Whether a target lies far beyond the runs: an input beyond :data:`FAR_EXTRAPOLATION`
    times its largest value in them, or the compute beyond that squared (10x N and 10x D is
    100x the compute, and no farther than 10x in each)."""
    from bayescale.discrepancy import log_inputs, log_ranges

    for name in fit.law.inputs:
        largest = np.max(fit.runs.x(name))
        if name in table and largest > 0 and (table[name] > FAR_EXTRAPOLATION * largest).any():
            return True
    _, log_max = log_ranges(fit.runs, [n for n in ("N", "D", "C") if n in fit.runs.inputs])
    points = {c: table[c].to_numpy(dtype=float) for c in ("N", "D", "C") if c in table}
    logs = log_inputs(points, ["C"], fit.runs.compute_factor)
    if "C" not in log_max or "C" not in logs:
        return False
    return bool(np.any(logs["C"] - log_max["C"] > 2 * np.log(FAR_EXTRAPOLATION)))


def _floor(fit: Fit, level: float) -> dict[str, Any] | None:
    """The law's floor (the irreducible loss) with its HDI, as the parameters table gives it;
    None for a law without one."""
    import arviz as az

    name = fit.law.floor
    if name is None:
        return None
    values = np.asarray(fit.draws([name])[name], dtype=float).reshape(-1)
    low, high = (float(v) for v in az.hdi(values, hdi_prob=level))
    tag = level_label(level)
    return {
        "name": name,
        "median": Num(float(np.median(values)), f"floor.{name}.median"),
        "lower": Num(low, f"floor.{name}.hdi_{tag}_lower"),
        "upper": Num(high, f"floor.{name}.hdi_{tag}_upper"),
    }


def data_section(fit: Fit) -> dict[str, Any]:
    """The runs: how many, the range of each input and of the loss, the data fingerprint."""
    runs = fit.runs
    rows = []
    for name in runs.inputs:
        values = runs.x(name)
        rows.append(
            {
                "name": name,
                "column": runs.columns.get(name, name),
                "meaning": fit.law.inputs.get(name, "not used by the law"),
                "used": name in fit.law.inputs,
                "min": Num(float(values.min()), f"data.{name}.min", size_kind(name)),
                "median": Num(float(np.median(values)), f"data.{name}.median", size_kind(name)),
                "max": Num(float(values.max()), f"data.{name}.max", size_kind(name)),
            }
        )
    y = runs.y
    return {
        "n_runs": Num(len(runs), "data.n_runs", "int"),
        "source": runs.source,
        "y_name": runs.y_name,
        "inputs": rows,
        "y": {
            "min": Num(float(y.min()), "data.y.min"),
            "median": Num(float(np.median(y)), "data.y.median"),
            "max": Num(float(y.max()), "data.y.max"),
        },
        "compute_factor": Num(runs.compute_factor, "data.compute_factor", digits=3),
        "fingerprint": runs.fingerprint(),
        "fingerprint_matches": runs.fingerprint() == fit.info.get("data_fingerprint"),
    }


def law_section(fit: Fit, pooling: Pooling | None = None) -> dict[str, Any]:
    """The law's formula, inputs, priors with their reasoning, likelihood and reference.

    Parameters
    ----------
    fit : Fit
        The fit (one group's view, for a fit with groups).
    pooling : Pooling, optional
        The whole fit's pooling, for a fit with groups: the priors of the population spreads
        (``E_tau`` ...), which set a new group's width, are stated with their reasoning.

    Returns
    -------
    dict
        The law's text, ``priors`` (law parameters), ``noise``, and for a fit with groups
        ``spreads`` (:func:`bayescale.hierarchy.spread_priors`) and ``pooled``, ``shared``,
        ``separate`` (parameter names by kind); else ``spreads`` empty.
    """
    from bayescale.hierarchy import spread_priors

    law = fit.law
    priors = [
        {
            "name": p.name,
            "role": p.role,
            "prior": p.describe_prior(),
            "why": " ".join(p.why.split()),
        }
        for p in law.parameters.values()
    ]
    lik = law.likelihood
    noise = [{"name": name, "prior": format_prior(prior)} for name, prior in lik.priors.items()]
    references = [
        {"input": name, "value": Num(float(np.exp(value)), f"law.ref.{name}", size_kind(name))}
        for name, value in fit.log_ref.items()
    ]
    return {
        "name": law.name,
        "title": law.title,
        "formula": law.formula.text,
        "description": " ".join(law.description.split()),
        "reference": " ".join(law.reference.split()),
        "inputs": [{"name": k, "meaning": v} for k, v in law.inputs.items()],
        "priors": priors,
        "family": lik.title,
        "additive": lik.scale == "linear",
        "noise": noise,
        "noise_why": " ".join(lik.why.split()),
        "references": references,
        "grouped": pooling is not None,
        "spreads": [] if pooling is None else spread_priors(law, pooling),
        **{
            kind: [n for n, k in (pooling.kinds if pooling else {}).items() if k == kind]
            for kind in ("pooled", "shared", "separate")
        },
    }


def diagnostics_section(fit: Fit) -> dict[str, Any]:
    """R-hat and ESS per parameter against their thresholds, divergences, the verdict."""
    diag = fit.diagnostics
    rows = []
    for name, row in diag.table.iterrows():
        rhat = float(row["r_hat"])
        rows.append(
            {
                "name": name,
                "r_hat": Num(rhat, f"diag.{name}.r_hat", digits=4),
                "r_hat_ok": diag.chains == 1 or rhat <= RHAT_MAX,
                "ess_bulk": Num(float(row["ess_bulk"]), f"diag.{name}.ess_bulk", "int"),
                "ess_bulk_ok": float(row["ess_bulk"]) >= diag.ess_min,
                "ess_tail": Num(float(row["ess_tail"]), f"diag.{name}.ess_tail", "int"),
                "ess_tail_ok": float(row["ess_tail"]) >= diag.ess_min,
            }
        )
    return {
        "rows": rows,
        "rhat_max": Num(RHAT_MAX, "diag.rhat_max"),
        "ess_min": Num(diag.ess_min, "diag.ess_min", "int"),
        "divergences": Num(diag.divergences, "diag.divergences", "int"),
        "chains": Num(diag.chains, "diag.chains", "int"),
        "draws": Num(diag.draws, "diag.draws", "int"),
        "ok": diag.ok,
        "verdict": diag.verdict(),
        "problems": diag.problems,
        "sampler_log": fit.sampler_log,
    }


def parameters_section(fit: Fit, level: float) -> dict[str, Any]:
    """The posterior of every parameter, next to published values (inside its HDI or not)."""
    summary = fit.summary(level=level)
    tag = level_label(level)
    sources = list(fit.law.published)
    rows = []
    for name, row in summary.iterrows():
        low, high = row[f"hdi_{tag}_lower"], row[f"hdi_{tag}_upper"]
        published = []
        for source in sources:
            value = fit.law.published[source].get(str(name))
            published.append(
                None
                if value is None
                else {
                    "value": Num(value, f"published.{source}.{name}"),
                    "inside": bool(low <= value <= high),
                }
            )
        rows.append(
            {
                "name": name,
                "role": row["role"],
                "median": Num(row["median"], f"param.{name}.median"),
                "mean": Num(row["mean"], f"param.{name}.mean"),
                "sd": Num(row["sd"], f"param.{name}.sd", digits=3),
                "lower": Num(low, f"param.{name}.hdi_{tag}_lower"),
                "upper": Num(high, f"param.{name}.hdi_{tag}_upper"),
                "published": published,
            }
        )
    noise = {"sigma": Num(float(summary.loc["sigma", "median"]), "param.sigma.median", "percent")}
    return {"level": tag, "sources": sources, "rows": rows, "noise": noise}


def plan_budgets(fit: Fit, compute: list[float]) -> list[float]:
    """The plan's budgets: the largest run's compute, 10x and 100x it, and the given ones.

    Parameters
    ----------
    fit : Fit
        The fit whose runs set the budgets: for a fit with groups the whole fit (every
        group's runs), not one group's view.
    compute : list of float
        Budgets given, in FLOPs.

    Returns
    -------
    list of float
        The budgets, sorted, each once.
    """
    largest = float(runs_compute(fit).max())
    return sorted({largest, largest * 10, largest * 100, *compute})


def plan_section(
    fit: Fit,
    level: float,
    compute: list[float],
    fixed: dict[str, float] | None,
    averaged: dict[str, Any] | None = None,
    *,
    whole: Fit | None = None,
) -> dict[str, Any] | None:
    """The compute-optimal split at the largest run's compute, 10x, 100x and the budgets,
    and, with a comparison, the same split under the averaged laws (``averaged``: see
    :func:`averaged_plan_section`).

    Parameters
    ----------
    fit : Fit
        The fit whose law splits the budgets (one group's view, for a fit with groups).
    level : float
        Credible level of the intervals.
    compute : list of float
        Budgets given, in FLOPs.
    fixed : dict, optional
        The law's inputs other than N, D and C.
    averaged : dict, optional
        The plan under the averaged laws (see :func:`averaged_plan_section`).
    whole : Fit, optional
        The fit whose largest run sets the default budgets: the whole fit, for a fit with
        groups (every group's runs); default ``fit``.

    Returns
    -------
    dict or None
        None for a law without an N/D split.
    """
    if not has_n_and_d(fit):
        return None
    source = fit if whole is None else whole
    largest = float(runs_compute(source).max())
    budgets = plan_budgets(source, compute)
    with warnings.catch_warnings():
        # Budgets far beyond the backtests are said under the plan's table (its caveats), as
        # the forecast's are: not on the console too.
        warnings.simplefilter("ignore", ExtrapolationWarning)
        table = fit.compute_optimal(budgets, level=level, fixed=fixed)
    rows = [nums(r, f"plan.{i}") for i, r in enumerate(table.to_dict(orient="records"))]
    tag = level_label(level)
    return {
        "level": tag,
        "rows": rows,
        # Which intervals the table has beside the law's: with the plan's discrepancy (the
        # one to budget with), and the minimum a new IsoFLOP curve would measure.
        "with_disc": f"N_disc_lower_{tag}" in table.columns,
        "with_pred": f"N_pred_lower_{tag}" in table.columns,
        # The law's loss at the optimum with its discrepancy and one run's, where given.
        "loss_disc": f"loss_disc_lower_{tag}" in table.columns,
        "loss_pred": f"loss_pred_lower_{tag}" in table.columns,
        "discrepancy": _plan_discrepancy(fit),
        "largest": Num(largest, "plan.largest_run_compute", "flops"),
        # A group's plan still takes its budgets from every group's runs.
        "of_every_group": source.pooling is not None,
        "fixed": {
            name: Num(value, f"plan.fixed.{name}", "size") for name, value in (fixed or {}).items()
        },
        "caveats": [str(sentence) for sentence in table.attrs.get("caveats", [])],
        "averaged": averaged_plan_section(averaged, level),
    }


def averaged_plan_section(averaged: dict[str, Any] | None, level: float) -> dict[str, Any] | None:
    """The plan under the comparison's averaged laws, beside the fit's own.

    Parameters
    ----------
    averaged : dict or None
        None without a comparison; else ``table`` (:meth:`bayescale.Average.compute_optimal`
        at the plan's budgets), ``budget`` (:meth:`bayescale.Average.budget_for` of the
        target loss with one run's chance at ``level``, or None) and ``weights``, or
        ``why_not`` when the average gives no plan here.
    level : float
        Credible level of the intervals.

    Returns
    -------
    dict or None
        The table's rows and each law's own median N and tokens per parameter (Num), the
        budget's row, the weights, the caveats; or only ``why_not``.
    """
    if averaged is None:
        return None
    table = averaged.get("table")
    if table is None:
        return {"rows": [], "why_not": averaged.get("why_not")}
    rows = [nums(r, f"plan.averaged.{i}") for i, r in enumerate(table.to_dict(orient="records"))]
    # Where the laws disagree: each law's own median plan, from all its draws.
    per_law = []
    for law, medians in table.attrs.get("per_law_N_median", {}).items():
        ratios = table.attrs["per_law_tokens_per_parameter_median"][law]
        per_law.append(
            {
                "law": str(law),
                "weight": Num(
                    float(averaged["weights"][law]), f"plan.averaged.weight.{law}", "num"
                ),
                "N": [
                    Num(v, f"plan.averaged.{law}.N_median.{i}", "size")
                    for i, v in enumerate(medians)
                ],
                "ratio": [
                    Num(v, f"plan.averaged.{law}.tokens_per_parameter_median.{i}", "num")
                    for i, v in enumerate(ratios)
                ],
            }
        )
    budget = averaged.get("budget")
    caveats = [str(c) for c in table.attrs.get("caveats", [])]
    found = None
    if budget is not None:
        found = nums(budget.iloc[0].to_dict(), "plan.averaged.budget")
        tag = level_label(level)
        found["reachable"] = bool(np.isfinite(budget["C_median"].iloc[0]))
        found["upper_finite"] = bool(np.isfinite(budget[f"C_upper_{tag}"].iloc[0]))
        found["run_prob_finite"] = bool(np.isfinite(budget[f"C_run_prob_{tag}"].iloc[0]))
        caveats += [str(c) for c in budget.attrs.get("caveats", []) if str(c) not in caveats]
    return {
        "rows": rows,
        "per_law": per_law,
        "with_disc": f"N_disc_lower_{level_label(level)}" in table.columns,
        "budget": found,
        "caveats": caveats,
        "why_not": None,
    }


def _plan_discrepancy(fit: Fit) -> dict[str, Any] | None:
    """What the backtests learned about the plan's error, or why they could not."""
    disc = fit.discrepancy
    if disc is None:
        return None
    if disc.plan_weights is None:
        return {"learned": False, "prior": False, "note": disc.info.get("plan_note", "")}
    # 90% intervals, as the discrepancy of the loss is stated (and ``bayescale fit`` says).
    low, mid, high = disc.s_quantiles([0.05, 0.5, 0.95], plan=True)
    offset_low, offset_mid, offset_high = disc.plan_offset_quantiles([0.05, 0.5, 0.95])
    # Fits saved before the prior fallback only had plan weights when curves taught them.
    learned = bool(disc.info.get("plan_learned", True))
    curves = disc.info.get("plan_curves", [])
    # How the runs' IsoFLOP curves measure a minimum; None when they hold none (or the fit
    # predates it): then the report has no "N a new IsoFLOP curve finds" column.
    sweep = disc.plan_sweep()
    return {
        "learned": learned,
        "prior": not learned,
        # Nothing checked the plan, not even inside the runs: offset and growth are the prior's.
        "prior_only": not learned and not curves,
        "note": disc.info.get("plan_note", ""),
        "measured": sweep is not None,
        "sweep_runs": (
            None if sweep is None else Num(len(sweep[0]), "plan.discrepancy.sweep_runs", "int")
        ),
        "sweep_noise": (
            None if sweep is None else Num(sweep[1], "plan.discrepancy.sweep_noise", "percent")
        ),
        "curves": Num(len(curves), "plan.discrepancy.curves", "int"),
        "s_low": Num(low, "plan.discrepancy.s_5", "percent"),
        "s_median": Num(mid, "plan.discrepancy.s_median", "percent"),
        "s_high": Num(high, "plan.discrepancy.s_95", "percent"),
        "offset_low": Num(offset_low, "plan.discrepancy.offset_5", "percent"),
        "offset_median": Num(offset_mid, "plan.discrepancy.offset_median", "percent"),
        "offset_high": Num(offset_high, "plan.discrepancy.offset_95", "percent"),
    }


def sensitivity_section(
    fit: Fit,
    checks: pd.DataFrame | None = None,
    *,
    whole: Fit | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """:func:`bayescale.checks.prior_sensitivity`, with the parameters it flags, and the
    prior checks (:meth:`bayescale.Fit.prior_checks`) beside it.

    Parameters
    ----------
    fit : Fit
        The fit (one group's, for a fit with groups).
    checks : pandas.DataFrame, optional
        ``Fit.prior_checks()`` of the whole fit; default that of ``fit``.
    whole : Fit, optional
        The whole fit, for a fit with groups: the population spreads (``E_tau`` ...) get
        rows of their prior-to-posterior shift (power-scaling sensitivity is computed from
        the law's priors, which have no spread).
    group : str, optional
        The group ``fit`` is the view of, named by the rows of its parameters.

    Returns
    -------
    dict
        The sensitivity table's rows (each with the prior checks' ``checks`` of its
        parameter, and ``of``: whose parameter it is, "" without groups), what it flags, the
        prior checks' ``notes`` and ``conflicts`` (the notes of the
        :data:`~bayescale.checks.CONFLICTS` kinds), and ``group``.
    """
    table = prior_sensitivity(fit)
    notes = fit.prior_checks() if checks is None else checks
    conflicts = notes[notes["check"].isin(CONFLICTS)]
    rows = []
    for name, row in table.iterrows():
        variable = str(row["prior_variable"])
        found = [
            {"check": str(check), "conflict": check in CONFLICTS}
            for parameter, check in zip(notes["parameter"], notes["check"], strict=True)
            if {name, variable} & {p.strip() for p in str(parameter).split(",")}
        ]
        rows.append(
            {
                "checks": found,
                "name": name,
                "variable": row["prior_variable"],
                "scale": row["scale"],
                "psens_prior": Num(row["psens_prior"], f"psens.{name}.prior", digits=3),
                "psens_likelihood": Num(
                    row["psens_likelihood"], f"psens.{name}.likelihood", digits=3
                ),
                "diagnosis": row["diagnosis"],
                "contraction": Num(row["contraction"], f"shift.{name}.contraction", digits=3),
                "shift": Num(row["shift"], f"shift.{name}.shift", digits=3),
                "of": _parameter_owner(whole, str(name), group),
            }
        )
    rows += _spread_rows(whole, notes)
    flagged = [r["name"] for r in rows if r["diagnosis"] not in ("none", "not computed")]
    return {
        "rows": rows,
        "threshold": Num(PSENS_THRESHOLD, "psens.threshold", digits=2),
        "psens_error": table.attrs.get("psens_error"),
        "has_prior_draws": "prior" in fit.idata.groups(),
        "flagged": flagged,
        "flagged_law": [n for n in flagged if n in fit.law.parameters],
        "notes": [
            {
                "parameter": str(r["parameter"]),
                "check": str(r["check"]),
                "message": str(r["message"]),
                "conflict": r["check"] in CONFLICTS,
            }
            for r in notes.to_dict("records")
        ],
        # "alpha: at lower bound", as the fit's verdict and its forecasts' warning name them.
        "conflicts": [
            f"{p}: {c}" for p, c in zip(conflicts["parameter"], conflicts["check"], strict=True)
        ],
        "conflict_messages": [str(m) for m in conflicts["message"]],
        "group": group,
        "spreads": [r["name"] for r in rows if r["of"] == "population"],
    }


def _parameter_owner(whole: Fit | None, name: str, group: str | None) -> str:
    """Whose value a sensitivity row is: "" without groups, "shared" for the noise and a
    parameter every group shares, else the group's ("a new group" for one not observed)."""
    from bayescale.hierarchy import NEW_GROUP

    if group is None or whole is None or whole.pooling is None:
        return ""
    if name not in whole.law.parameters or whole.pooling.kinds.get(name) == "shared":
        return "shared"
    return "a new group" if group == NEW_GROUP else f"group {group}"


def _spread_rows(whole: Fit | None, notes: pd.DataFrame) -> list[dict[str, Any]]:
    """The population spreads' rows of the sensitivity table: their prior-to-posterior shift
    (from the whole fit's prior draws); power-scaling sensitivity is not computed for them."""
    from bayescale.checks import _prior_shift

    if whole is None or whole.pooling is None:
        return []
    rows = []
    for name in whole.pooling.pooled:
        variable = f"{name}_tau"
        contraction, shift, scale = _prior_shift(whole, variable)
        found = [
            {"check": str(check), "conflict": check in CONFLICTS}
            for parameter, check in zip(notes["parameter"], notes["check"], strict=True)
            if variable in {p.strip() for p in str(parameter).split(",")}
        ]
        rows.append(
            {
                "checks": found,
                "name": variable,
                "variable": variable,
                "scale": scale,
                "psens_prior": Num(float("nan"), f"psens.{variable}.prior", digits=3),
                "psens_likelihood": Num(float("nan"), f"psens.{variable}.likelihood", digits=3),
                "diagnosis": "not computed",
                "contraction": Num(contraction, f"shift.{variable}.contraction", digits=3),
                "shift": Num(shift, f"shift.{variable}.shift", digits=3),
                "of": "population",
            }
        )
    return rows


_LOO_COLUMNS = ("elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "pareto_k_bad")
_HELD_OUT_COLUMNS = (
    "n_train",
    "n_test",
    "elpd_per_run",
    "coverage_50",
    "coverage_80",
    "coverage_90",
    "r2",
    "mare",
)


def comparison_section(
    fit: Fit,
    tables: dict[str, Any] | None,
    averaged: dict[str, Any] | None = None,
    level: float = 0.9,
) -> dict[str, Any] | None:
    """PSIS-LOO of the laws compared, their held-out scores, both stacking weights, the
    verdict and the laws' averaged forecast at the targets.

    Parameters
    ----------
    fit : Fit
        The report's fit.
    tables : dict or None
        :func:`bayescale.report.inputs.comparison_tables`, with ``weights``
        (:meth:`bayescale.Comparison.weights_table`) when the comparison itself was given.
    averaged : dict, optional
        The averaged forecast (``table``, ``method``, ``reason``, ``weights``,
        ``warning`` and, to flag failed fits, each law's ``fits_ok`` and ``verdicts``), or
        why there is none (``why_not``).
    level : float, default 0.9
        Credible level of the averaged forecast's intervals.

    Returns
    -------
    dict or None
        None without a comparison.
    """
    if tables is None:
        return None
    loo = tables["loo"]
    columns = [c for c in _LOO_COLUMNS if c in loo.columns]
    loo_rows = []
    for law, row in loo.iterrows():
        entry = nums(row[columns].to_dict(), f"loo.{law}", {"weight": "num", "pareto_k_bad": "int"})
        entry["law"] = str(law)
        entry["ok"] = bool(row["diagnostics_ok"]) if "diagnostics_ok" in loo.columns else None
        entry["this"] = str(law) == fit.law.name
        loo_rows.append(entry)
    extrapolation = tables["extrapolation"]
    extra_rows, extra_columns = [], []
    if extrapolation is not None and len(extrapolation):
        extra_columns = [c for c in _HELD_OUT_COLUMNS if c in extrapolation.columns]
        for i, row in enumerate(extrapolation.to_dict(orient="records")):
            entry = nums({c: row[c] for c in extra_columns}, f"extrap.{i}", {"mare": "percent"})
            entry["law"] = row["law"]
            entry["holdout"] = row["holdout"]
            # Each held-out score comes from a refit on the smaller runs, with its own
            # diagnostics (absent from comparisons saved before they were kept).
            ok = row.get("diagnostics_ok")
            entry["ok"] = None if ok is None or pd.isna(ok) else bool(ok)
            extra_rows.append(entry)
    fingerprint = fit.info.get("data_fingerprint", fit.runs.fingerprint())
    # Every law of a comparison is fitted to the same runs, so any of them tells whether the
    # comparison is of this fit's data, even when this fit's law is not among them.
    prints = tables["fingerprints"]
    other = prints.get(fit.law.name, next(iter(prints.values()), None))
    weight_rows = []
    weights = tables.get("weights")
    has_extrapolation_weights = False
    if weights is not None:
        has_extrapolation_weights = bool(weights["extrapolation_weight"].notna().any())
        for law, row in weights.iterrows():
            entry = nums(row.to_dict(), f"weights.{law}", {c: "num" for c in weights.columns})
            entry["law"] = str(law)
            entry["this"] = str(law) == fit.law.name
            weight_rows.append(entry)
    return {
        "loo_columns": columns,
        "loo": loo_rows,
        "extrapolation_columns": extra_columns,
        "extrapolation": extra_rows,
        "extrapolation_has_diagnostics": any(r["ok"] is not None for r in extra_rows),
        "failed_refits": [f"{r['law']} ({r['holdout']})" for r in extra_rows if r["ok"] is False],
        "verdict": [line for line in tables["verdict"].splitlines() if line.strip()],
        "folder": None if tables["folder"] is None else str(tables["folder"]),
        "includes_this_law": fit.law.name in [str(i) for i in loo.index],
        "same_data": None if other is None else other == fingerprint,
        "best": str(loo.index[0]),
        # The law that forecast the held-out larger runs best, when the comparison has them.
        "best_extrapolation": (tables.get("best") or {}).get("extrapolation"),
        "weights": weight_rows,
        "has_extrapolation_weights": has_extrapolation_weights,
        "averaged": _averaged_section(averaged, level),
    }


def _averaged_section(averaged: dict[str, Any] | None, level: float) -> dict[str, Any] | None:
    """The averaged forecast's rows (numbers as Num), the weights it used and why."""
    if averaged is None:
        return None
    table = averaged.get("table")
    if table is None:
        return {"rows": [], "why_not": averaged.get("why_not")}
    inputs = list(table.columns[: list(table.columns).index("law_median")])
    rows = [nums(row, f"averaged.{i}") for i, row in enumerate(table.to_dict(orient="records"))]
    # Each law's diagnostics (None where not given), so the summary can flag failed fits.
    fits_ok, verdicts = averaged.get("fits_ok", {}), averaged.get("verdicts", {})
    weights = [
        {
            "law": str(law),
            "weight": Num(float(w), f"averaged.weight.{law}", "num"),
            "ok": None if fits_ok.get(law) is None else bool(fits_ok[law]),
            "verdict": verdicts.get(law),
        }
        for law, w in averaged["weights"].items()
    ]
    carriers = sorted(
        (w for w in weights if w["weight"].value >= CARRYING_WEIGHT),
        key=lambda w: -w["weight"].value,
    )
    # The average's own reach: per target, the farthest any law with weight goes beyond its
    # runs (a law of C alone is measured in C), not the report's fit's.
    largest = float(table["extrapolation"].max())
    return {
        "rows": rows,
        "inputs": inputs,
        "max_extrapolation": Num(largest, "averaged.max_extrapolation", "ratio"),
        "far": bool(largest > FAR_EXTRAPOLATION**2),
        "beyond": bool(largest > EDGE),
        "level": level_label(level),
        "method": averaged["method"],
        "reason": averaged["reason"],
        "weights": weights,
        "carriers": carriers,
        "failed_carriers": [w for w in carriers if w["ok"] is False],
        "negligible": [w["law"] for w in weights if w["weight"].value < CARRYING_WEIGHT],
        "carrying_weight": Num(CARRYING_WEIGHT, "averaged.carrying_weight", "short"),
        "warning": averaged.get("warning"),
        "why_not": None,
    }


def groups_section(
    fit: Fit, focus: str, targets: list[dict[str, float]], level: float
) -> dict[str, Any]:
    """A hierarchical fit's groups: each one's forecast at the first target, a new group's,
    and the population of each pooled parameter (centre and spread)."""
    from bayescale.hierarchy import NEW_GROUP

    tag = level_label(level)
    target = targets[0]
    names = [*fit.groups, NEW_GROUP]
    table = fit.forecast({k: [v] for k, v in target.items()}, level=level, group=names)
    counts = dict(zip(*np.unique(np.asarray(fit.runs.group), return_counts=True), strict=True))
    rows = []
    for _, row in table.iterrows():
        g = str(row["group"])
        key = f"groups.{g}"
        rows.append(
            {
                "group": g,
                "new": g == NEW_GROUP,
                "focus": g == focus,
                "runs": Num(int(counts.get(g, 0)), f"{key}.runs", "int"),
                "law_median": Num(float(row["law_median"]), f"{key}.law_median"),
                "law_lower": Num(float(row[f"law_lower_{tag}"]), f"{key}.law_lower_{tag}"),
                "law_upper": Num(float(row[f"law_upper_{tag}"]), f"{key}.law_upper_{tag}"),
                "pred_lower": Num(float(row[f"pred_lower_{tag}"]), f"{key}.pred_lower_{tag}"),
                "pred_upper": Num(float(row[f"pred_upper_{tag}"]), f"{key}.pred_upper_{tag}"),
            }
        )
    post = fit.idata.posterior
    population = []
    for name in fit.pooling.pooled:
        loc = np.asarray(post[f"{name}_loc"].values, dtype=float).reshape(-1)
        tau = np.asarray(post[f"{name}_tau"].values, dtype=float).reshape(-1)
        p = fit.law.parameters[name]
        population.append(
            {
                "name": name,
                "at_reference": p.reference is not None,
                "loc": Num(float(np.median(loc)), f"groups.population.{name}.loc"),
                "tau": Num(float(np.median(tau)), f"groups.population.{name}.tau", digits=3),
                "log_scale": p.positive,
            }
        )
    point = ", ".join(f"{k} = {v:.3g}" for k, v in target.items())
    return {
        "level": tag,
        "by": ", ".join(fit.runs.group_by),
        "focus": focus,
        "pooling": _pooling_words(fit),
        # Where a group's parameters come from: a population (partial pooling), nowhere
        # else (none: each its own law) or one law for all (complete).
        "kind": fit.pooling.shorthand if fit.pooling.shorthand in ("none", "complete") else "",
        "point": point,
        "rows": rows,
        "population": population,
    }


def _pooling_words(fit: Fit) -> str:
    """The pooling in effect, and where a new group's parameters come from when it is not
    the population: the Groups section's row ``new`` is read against it."""
    from bayescale.hierarchy import NEW_GROUP

    pooling = fit.pooling
    words = pooling.describe()
    separate = [n for n, kind in pooling.kinds.items() if kind == "separate"]
    if pooling.shorthand == "none":
        return (
            f"{words}; no parameter is pooled, so the row {NEW_GROUP!r} is drawn from the law's "
            f"prior, not from a population"
        )
    if pooling.shorthand == "complete":
        return (
            f"{words}; one law for every group, so the row {NEW_GROUP!r} is that law: it "
            f"assumes a new group behaves exactly like the observed ones"
        )
    if separate:
        return (
            f"{words}; for the row {NEW_GROUP!r}, {', '.join(separate)} "
            f"{'is' if len(separate) == 1 else 'are'} drawn from the law's prior"
        )
    return words


def downstream_section(
    fit: Fit,
    points: pd.DataFrame,
    links: Mapping[str, Fit],
    level: float,
) -> dict[str, Any] | None:
    """Each downstream metric forecast through the loss at the targets, with its link.

    Parameters
    ----------
    fit : Fit
        The report's loss fit.
    points : pandas.DataFrame
        The targets, completed with every input of the loss law.
    links : mapping of str to Fit
        Metric name -> its link's fit (:func:`bayescale.downstream.fit_link`).
    level : float
        Credible level of the intervals.

    Returns
    -------
    dict or None
        None without links; else ``metrics``, one entry per metric: the link, its runs,
        the chance level, whether the runs are near chance (no forecast is then made), the
        chain's rows (numbers as :class:`Num` keyed ``downstream.<metric>.<i>.<column>``)
        and its warnings.
    """
    if not links:
        return None
    from bayescale import downstream
    from bayescale.errors import BayescaleError
    from bayescale.plots.downstream import link_chance

    tag = level_label(level)
    inputs = list(fit.law.inputs)
    metrics = []
    for name, link in links.items():
        key = f"downstream.{name}"
        loss, error = link.runs.x("L"), link.runs.y
        chance = link_chance(link)
        flagged = downstream.near_chance(error, chance)
        entry: dict[str, Any] = {
            "name": name,
            "link": link.law.name,
            "title": link.law.title,
            "formula": link.law.formula.text,
            "n_runs": Num(len(link.runs), f"{key}.n_runs", "int"),
            "loss_min": Num(float(loss.min()), f"{key}.runs_loss_min"),
            "loss_max": Num(float(loss.max()), f"{key}.runs_loss_max"),
            "best_error": Num(float(np.nanmin(error)), f"{key}.runs_best_error"),
            "chance": None if chance is None else Num(chance, f"{key}.chance", "percent"),
            "chance_error": None if chance is None else Num(1 - chance, f"{key}.chance_error"),
            "margin": Num(downstream.CHANCE_MARGIN, "downstream.chance_margin", "short"),
            "near_chance": flagged,
            "ok": link.ok,
            "verdict": link.diagnostics.verdict(),
            "rows": [],
            "warnings": [],
            "failed": None,
            "extrapolated": False,
        }
        metrics.append(entry)
        if flagged:
            continue  # the link is the prior's echo: no forecast is made of it
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                table = downstream.chain(fit, link, points[inputs], level=level)
        except BayescaleError as err:
            entry["failed"] = str(err)
            continue
        # A failed fit is stated by its own verdict (the link's here, the loss fit's in the
        # diagnostics section), not again among the chain's warnings.
        said = table.attrs.get("warning")
        entry["warnings"] = list(
            dict.fromkeys(
                str(w.message)
                for w in caught
                if issubclass(w.category, UserWarning) and str(w.message) != said
            )
        )
        entry["rows"] = [nums(r, f"{key}.{i}") for i, r in enumerate(table.to_dict("records"))]
        entry["table"] = table
        entry["extrapolated"] = bool((table["loss_median"] < float(loss.min())).any())
    return {"level": tag, "inputs": inputs, "metrics": metrics}
