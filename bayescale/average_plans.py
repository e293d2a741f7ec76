"""Compute plans under averaged laws: the compute-optimal split and the budget for a target.

Laws disagree most where a plan is made: Kaplan et al. put the optimal model size at
``C^0.73``, Hoffmann et al. at ``C^0.5``. An average (:class:`bayescale.Average`) pools the
laws' posterior draws by weight; here each pooled draw plans with its own law, so the plan's
interval holds the laws' disagreement as well as each law's uncertainty. A law with all the
weight plans exactly as its fit does (:meth:`bayescale.Fit.compute_optimal`,
:meth:`bayescale.Fit.budget_for`): the same draws, noise and discrepancy.

The functions take the :class:`~bayescale.Average` and the fits with weight (or one group's
views of them); :class:`~bayescale.Average` calls them from its methods.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale._format import format_number
from bayescale.discrepancy import beyond_runs
from bayescale.errors import DataError, ExtrapolationWarning, SlipWarning
from bayescale.fitting import (
    Fit,
    _outside_level,
    beyond_backtests_sentence,
    far_rows,
    file_caveats,
    judged_budgets,
    plan_columns,
)
from bayescale.forecast import level_label

if TYPE_CHECKING:
    from bayescale.comparison import Average


def plan_laws(fits: Mapping[str, Fit], what: str) -> float:
    """Refuse laws a plan cannot average; return their compute factor.

    Parameters
    ----------
    fits : mapping of str to Fit
        The laws with weight.
    what : str
        The plan, for the message (``"compute_optimal"``).

    Returns
    -------
    float
        ``k`` of ``C = k N D``, the same for every law.

    Raises
    ------
    DataError
        When a law is not in N and D (for ``compute_optimal``; a law of C alone has no split
        to average), or the laws' runs count compute with different factors.
    """
    if what == "compute_optimal":
        alone = [name for name, f in fits.items() if not {"N", "D"} <= set(f.law.inputs)]
        if alone:
            inputs = ", ".join(fits[alone[0]].law.inputs)
            raise DataError(
                f"compute_optimal averages the N/D splits of laws in N and D; "
                f"{', '.join(alone)} (inputs {inputs}) has none: give it weight 0 "
                f"(average(weights={{...}})), or ask prob_below(target, C=...) or "
                f"budget_for(target), which a law of compute alone answers"
            )
    factors = {f.runs.compute_factor for f in fits.values()}
    if len(factors) > 1:
        raise DataError(
            f"the averaged laws' runs count compute with different factors (C = k N D, k = "
            f"{', '.join(f'{k:g}' for k in sorted(factors))}): fit every law to the same runs"
        )
    return float(next(iter(factors)))


def optimal_table(
    average: Average,
    fits: Mapping[str, Fit],
    budgets: np.ndarray,
    level: float | Sequence[float],
    fixed: Mapping[str, float],
    method: str,
) -> pd.DataFrame:
    """The averaged compute-optimal plan of the fits with weight (or one group's views).

    Each law's draws plan as its :meth:`Fit.compute_optimal` plans them, and the pool keeps
    its share; a law without a discrepancy adds none (zero), as in an averaged forecast.

    Parameters
    ----------
    average : Average
        The average (which draws of each law the pool takes).
    fits : mapping of str to Fit
        The laws with weight, or one group's views of them.
    budgets : numpy.ndarray
        Compute budgets in FLOPs (checked).
    level : float or sequence of float
        Credible level(s).
    fixed : mapping of str to float
        The laws' other inputs (checked; each law takes those it has).
    method : str
        ``"auto"``, ``"closed_form"`` or ``"numerical"``, for every law.

    Returns
    -------
    pandas.DataFrame
        The table of :meth:`Average.compute_optimal`, before its weights' attrs.
    """
    k = plan_laws(fits, "compute_optimal")
    plans = []
    own_medians: dict[str, dict[str, list[float]]] = {"N": {}, "tokens_per_parameter": {}}
    for name, f, _, pick in average._picks(fits):
        own = {key: v for key, v in fixed.items() if key in f.law.inputs}
        plan = f._plan_draws(budgets, own, method)
        plans.append((name, f, {key: v[pick] for key, v in plan.items()}))
        # Each law's own median, from all its draws (its share of the pool may be a few):
        # as its fit's compute_optimal gives it.
        for key, medians in own_medians.items():
            medians[name] = np.quantile(plan[key], 0.5, axis=0, method="inverted_cdf").tolist()
    for optional, base in (("loss_disc", "loss"), ("N_disc", "N")):
        if any(optional in plan for *_, plan in plans):
            for *_, plan in plans:
                plan.setdefault(optional, plan[base])
    keys = [key for key in plans[0][2] if key != "plan_log_shift"]
    pooled = {key: np.concatenate([plan[key] for *_, plan in plans]) for key in keys}
    columns = plan_columns(pooled, budgets, k, level)
    # Each budget's median plan, judged against each law's runs as Fit.compute_optimal
    # judges its own.
    median = {
        "N": np.median(pooled["N"], axis=0),
        "D": np.median(pooled["D"], axis=0),
        "C": budgets,
        **{name: np.full(len(budgets), float(v)) for name, v in fixed.items()},
    }
    distances = {
        name: beyond_runs(
            {key: v for key, v in median.items() if key in ("N", "D", "C") or key in f.law.inputs},
            f.runs,
            f.law.inputs,
        )[1]
        for name, f, _ in plans
    }
    columns["distance"] = np.max(list(distances.values()), axis=0)
    table = pd.DataFrame({key: np.asarray(v).reshape(-1) for key, v in columns.items()})
    # Where the laws disagree: each law's own median plan, per row (stacked per group).
    for key, medians in own_medians.items():
        table.attrs[f"per_law_{key}_median"] = medians
    _flag_far_plans(table, fits, distances, budgets)
    return table


def _flag_far_plans(
    table: pd.DataFrame,
    fits: Mapping[str, Fit],
    distances: Mapping[str, np.ndarray],
    budgets: np.ndarray,
) -> None:
    """Warn of plans farther beyond a law's runs than its backtests checked: one sentence
    for the laws that flag the same budgets alike (naming them unless they are all)."""
    table.attrs.setdefault("caveats", [])
    table.attrs.setdefault("beyond_backtests", [])
    several = len(fits) > 1
    for names, far, distance, reach in laws_alike_far(fits, distances):
        whose = f"{', '.join(names)}: " if len(names) < len(fits) else ""
        message = beyond_backtests_sentence(
            far,
            distance,
            reach,
            lambda i: f"C = {format_number(float(budgets[i]), 'flops')} FLOPs",
            f"compute_optimal: {whose}the plan at ",
            "and so are the loss_disc_* and loss_pred_* intervals there",
        )
        table.attrs["caveats"].append(message)
        table.attrs["beyond_backtests"] += [
            {
                "row": int(i),
                "C": float(budgets[i]),
                "distance": float(distance[i]),
                **({"laws": list(names)} if several else {}),
            }
            for i in far
        ]
        warnings.warn(message, ExtrapolationWarning, stacklevel=_outside_level())


def laws_alike_far(
    fits: Mapping[str, Fit], distances: Mapping[str, np.ndarray]
) -> list[tuple[list[str], np.ndarray, np.ndarray, float]]:
    """The points each law flags far beyond its backtests, laws flagging alike together.

    Parameters
    ----------
    fits : mapping of str to Fit
        The laws (by name).
    distances : mapping of str to numpy.ndarray
        Per law: the points' distance outside its runs, in e-folds.

    Returns
    -------
    list of (list of str, numpy.ndarray, numpy.ndarray, float)
        Per set of laws whose flags, distances and backtests' reach are the same (laws fitted
        to the same runs usually are): their names, the flagged positions, the distances and
        the reach. Laws that flag nothing are left out.
    """
    alike: dict[tuple, list[str]] = {}
    found: dict[tuple, tuple[np.ndarray, np.ndarray, float]] = {}
    for name, distance in distances.items():
        reach = fits[name]._backtest_reach()
        far = far_rows(distance, reach)
        if reach is None or not len(far):
            continue
        distance = np.asarray(distance, dtype=float).reshape(-1)
        key = (tuple(far.tolist()), tuple(np.round(distance, 9).tolist()), round(reach, 9))
        alike.setdefault(key, []).append(name)
        found[key] = (far, distance, float(reach))
    return [(names, *found[key]) for key, names in alike.items()]


def budget_table(
    average: Average,
    fits: Mapping[str, Fit],
    targets: Sequence[float],
    level: float | Sequence[float],
    fixed: Mapping[str, float],
    probs: Sequence[float],
) -> pd.DataFrame:
    """The averaged budget for each target, for the fits with weight (or one group's views).

    The law's budget (the compute at which each pooled draw's optimal loss meets the
    target) and one run's chance at it, from the averaged :meth:`Average.prob_below`.

    Parameters
    ----------
    average : Average
        The average (which draws of each law the pool takes).
    fits : mapping of str to Fit
        The laws with weight, or one group's views of them.
    targets : sequence of float
        Target losses (checked).
    level : float or sequence of float
        Credible level(s).
    fixed : mapping of str to float
        The laws' other inputs (checked).
    probs : sequence of float
        Chances for ``C_run_prob_*`` (may be empty).

    Returns
    -------
    pandas.DataFrame
        The table of :meth:`Average.budget_for`, before its weights' attrs.
    """
    from bayescale.planning import budget_draws, in_compute_alone, summarise

    k = plan_laws(fits, "budget_for")
    first = next(iter(fits.values()))
    split = not any(in_compute_alone(f.law) for f in fits.values())
    levels = [level] if np.isscalar(level) else list(level)
    picks = average._picks(fits)
    rows = []
    caveats: dict[str, Any] = {"caveats": [], "past_peak": [], "beyond_backtests": []}
    for position, target in enumerate(targets):
        parts = []
        for name, f, draws, pick in picks:
            own = {key: v for key, v in fixed.items() if key in f.law.inputs}
            theta = {p: np.asarray(draws[p])[pick] for p in f.law.parameters}
            # Each draw's budget is its own bisection: the picked draws alone give the same
            # values as the fit's, at a fraction of the cost.
            parts.append((name, f, budget_draws(f.law, theta, target, k, own)))
        found = {
            key: np.concatenate([part[key] for *_, part in parts])
            for key in ("C", "N", "D", "at_least")
            if all(key in part for *_, part in parts)
        }
        row: dict[str, Any] = {"target_loss": target}
        row.update(summarise(found["C"], "C", level))
        for name in ("N", "D") if split else ():
            row.update(summarise(np.where(np.isnan(found[name]), np.inf, found[name]), name, level))
        row["prob_unreachable"] = float(np.isinf(found["C"]).mean())
        chance = chance_of_run(average, fits, target, fixed)
        for where in ["median", *(f"upper_{level_label(lv)}" for lv in levels)]:
            budget = float(np.asarray(row[f"C_{where}"]))
            row[f"prob_run_below_{where}_C"] = (
                float(chance(np.array([budget]))[0]) if np.isfinite(budget) else float("nan")
            )
        for p in probs:
            # The fit's own search and words, over the averaged chance.
            row[f"C_run_prob_{level_label(p)}"] = first._budget_for_run_prob(
                target, p, fixed, prob_at=chance
            )
        rows.append({key: np.asarray(v).item() for key, v in row.items()})
        # Judged against the smallest runs of any law with weight (laws may be fitted to
        # other runs).
        min(fits.values(), key=_smallest_compute)._warn_below_runs(target, found)
        _warn_out_of_reach(target, rows[-1], levels, parts)
        judged = judged_budgets(rows[-1])
        if judged:
            given = {"C": np.array(list(judged.values()))}
            part, distances = average._prob_part(fits, target, given, fixed)
            found_caveats = average._prob_caveats(
                fits, target, given, fixed, part, distances, scan=chance
            )
            file_caveats(caveats, found_caveats, judged, position)
    table = pd.DataFrame({key: [r[key] for r in rows] for key in rows[0]})
    table.attrs.update(caveats)
    return table


def _smallest_compute(f: Fit) -> float:
    """The compute of a fit's smallest run (C, or k N D), inf when it has neither."""
    runs = f.runs
    if "C" in runs.inputs:
        return float(runs.x("C").min())
    if {"N", "D"} <= set(runs.inputs):
        return float((runs.compute_factor * runs.x("N") * runs.x("D")).min())
    return float("inf")


def chance_of_run(
    average: Average,
    fits: Mapping[str, Fit],
    target: float,
    fixed: Mapping[str, float],
    known: Mapping[float, float] | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """One run's chance of a target under averaged laws, at budgets split optimally.

    Each budget is computed once: the scans for ``C_run_prob_*`` and for the peak of the
    chance bisect over the same budgets.

    Parameters
    ----------
    average : Average
        The average (its draws' picks).
    fits : mapping of str to Fit
        The laws with weight, or one group's views of them.
    target : float
        The target loss.
    fixed : mapping of str to float
        The laws' other inputs.
    known : mapping of float to float, optional
        Chances computed already, by budget.

    Returns
    -------
    callable
        Budgets (FLOPs, array) to ``prob_run_below`` at each (array).
    """
    known = dict(known or {})

    def prob_at(budgets: np.ndarray) -> np.ndarray:
        budgets = np.asarray(budgets, dtype=float).reshape(-1)
        new = [b for b in dict.fromkeys(budgets.tolist()) if b not in known]
        if new:
            with warnings.catch_warnings():
                # The scan's own budgets (from 1e7 FLOPs) are no slip of the user's.
                warnings.simplefilter("ignore", SlipWarning)
                found, _ = average._prob_part(fits, target, {"C": np.array(new)}, fixed)
            known.update(zip(new, found["prob_run_below"].tolist(), strict=True))
        return np.array([known[b] for b in budgets.tolist()])

    return prob_at


def _warn_out_of_reach(
    target: float,
    row: Mapping[str, Any],
    levels: Sequence[float],
    parts: Sequence[tuple[str, Fit, Mapping[str, np.ndarray]]],
) -> None:
    """Say why a budget shows ``inf``: the target is beyond some laws' floors."""
    widest = f"C_upper_{level_label(max(levels))}"
    share = float(row["prob_unreachable"])
    if not share > 0 or np.isfinite(row.get(widest, np.inf)):
        return
    reasons = []
    for name, f, found in parts:
        own = float(np.isinf(found["C"]).mean())
        if not own > 0:
            continue
        floor = f.law.floor
        if floor is not None:
            low, high = np.quantile(f.draws(floor)[floor], [0.05, 0.95])
            reasons.append(
                f"{name}: {own:.0%} of its draws, floor {floor} 90% {low:.3g} to {high:.3g}"
            )
        else:
            reasons.append(f"{name}: {own:.0%} of its draws")
    message = (
        f"target loss {target:g} is out of reach (at or below the floor, or beyond 1e40 FLOPs) "
        f"in {share:.0%} of the averaged posterior ({'; '.join(reasons)}): "
        + (
            "no budget reaches it on average (its budget, N and D are infinite)"
            if share >= 1
            else "its median budget is infinite"
            if share >= 0.5
            else "the upper end of its budget's interval is infinite"
        )
    )
    warnings.warn(message, UserWarning, stacklevel=_outside_level())
