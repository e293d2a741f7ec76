"""Compute planning over posterior draws: optimal N/D split, budget for a target, risk.

Pure NumPy functions of a law and arrays of draws. With ``C = k N D``, the compute-optimal
split minimises ``L(N, C / (k N))`` over N for each draw and budget: in closed form for the
Chinchilla law (Hoffmann et al. 2022, eq. 4), by a vectorised search over ``log N``
otherwise (a grid, then golden-section refinement, for all draws and budgets at once).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale._format import format_number, parse_quantities
from bayescale.errors import DataError, LawError, closest
from bayescale.forecast import _caller_level, law_value
from bayescale.formula import Formula
from bayescale.laws import Law
from bayescale.likelihood import Likelihood

__all__ = [
    "FAR_BEYOND_BACKTESTS",
    "PEAK_MARGIN",
    "PER_ROW_ATTRS",
    "UNCHECKED_BEYOND",
    "backtest_reach",
    "budget_draws",
    "budget_normals",
    "check_budgets",
    "check_fixed",
    "check_targets",
    "chinchilla_optimum",
    "has_closed_form",
    "in_compute_alone",
    "measured_optimum_draws",
    "optimum_draws",
    "past_peak",
    "prob_below_draws",
    "stack_tables",
    "summarise",
    "sweep_design",
]

_CHINCHILLA = Formula("E + A / N**alpha + B / D**beta").canonical()
_GRID = 161
_GOLDEN_STEPS = 40
_BISECTION_STEPS = 50
_MIN_SIZE = 1e3  # smallest N and D searched: a thousand parameters / tokens
_MAX_LOG_C = np.log(1e40)  # largest budget searched by budget_draws, in FLOPs
_PROB_BISECTION_STEPS = 24  # from two e-folds to about 1e-7 of one
#: A budget is past the peak of one run's chance when its chance is this far (in probability)
#: below the highest chance at a smaller budget: more compute lowered it.
PEAK_MARGIN = 0.01
#: A point is flagged when it lies more than this many times the farthest distance at which
#: the backtests held out runs beyond the runs: the discrepancy's growth is extrapolated there.
FAR_BEYOND_BACKTESTS = 2.0
#: A fit without a discrepancy is asked this many e-folds (2.7x) outside its runs' range:
#: its intervals allow nothing for the law's error there, and it says so once.
UNCHECKED_BEYOND = 1.0


#: A plan table's attrs that hold one value per row (dicts of lists as long as the table).
PER_ROW_ATTRS = ("sweep_no_minimum", "per_law_N_median", "per_law_tokens_per_parameter_median")


def stack_tables(
    tables: Sequence[pd.DataFrame], labels: Sequence[str] | None = None
) -> pd.DataFrame:
    """Stack plan tables (per group, or per point), each row's caveats kept with its row.

    Entries that point at rows (``past_peak``, ``beyond_backtests``: dicts with ``row``) are
    renumbered into the stacked table; per-row lists (:data:`PER_ROW_ATTRS`) are joined, NaN
    for the rows of a table without them; the sentences (``caveats``) are joined. Anything
    else (``diagnostics_ok``, a failed fit's ``warning``) is the fit's, the same in every
    table, and is kept once, from the first table that has it.

    Parameters
    ----------
    tables : sequence of pandas.DataFrame
        Tables of one method of one fit, in order (at least one).
    labels : sequence of str, optional
        The group of each table: each row entry gets a ``group`` key and each sentence a
        "group NAME: " prefix.

    Returns
    -------
    pandas.DataFrame
        The rows of every table, renumbered from 0, with the stacked attrs.
    """
    out = pd.concat(tables, ignore_index=True)

    def row_entries(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(e, dict) and "row" in e for e in value)

    def per_row(key: str, value: Any, table: pd.DataFrame) -> bool:
        return (
            key in PER_ROW_ATTRS
            and isinstance(value, dict)
            and bool(value)
            and all(isinstance(v, list) and len(v) == len(table) for v in value.values())
        )

    # What each key is, from whichever table carries it (a group without IsoFLOP curves has
    # no sweep_no_minimum; its rows get NaN there, so the others' stay on their own rows).
    rows_of: dict[str, set[str]] = {}
    entries: set[str] = set()
    for table in tables:
        for key, value in table.attrs.items():
            if key != "caveats" and row_entries(value) and value:
                entries.add(key)
            elif per_row(key, value, table):
                rows_of.setdefault(key, set()).update(value)
    attrs: dict[str, Any] = {}
    for table in tables:  # the fit's own keys, first given
        for key, value in table.attrs.items():
            if key not in attrs and key not in rows_of and key not in entries and key != "caveats":
                attrs[key] = value
    stacked: dict[str, Any] = {key: {name: [] for name in names} for key, names in rows_of.items()}
    stacked.update({key: [] for key in entries})
    offset = 0
    for number, table in enumerate(tables):
        label = None if labels is None else labels[number]
        named = {} if label is None else {"group": label}
        prefix = "" if label is None else f"group {label}: "
        for text in table.attrs.get("caveats", []):
            stacked.setdefault("caveats", []).append(f"{prefix}{text}")
        for key in entries:
            stacked[key] += [
                {**e, "row": int(e["row"]) + offset, **named} for e in table.attrs.get(key, [])
            ]
        for key, names in rows_of.items():
            value = table.attrs.get(key)
            for name in names:
                part = value.get(name) if per_row(key, value, table) else None
                stacked[key][name] += part if part is not None else [float("nan")] * len(table)
        offset += len(table)
    attrs.update(stacked)
    out.attrs.update(attrs)
    return out


def check_budgets(C: Any, name: str = "C") -> np.ndarray:
    """Compute budgets as a 1-D array of floats, or one clear error.

    Parameters
    ----------
    C : float or sequence of float
        Budgets in FLOPs, as numbers (``1e24``, ``[1e23, 1e24]``).
    name : str, default "C"
        The argument's name, for the message.

    Returns
    -------
    numpy.ndarray
        The budgets, shape ``(budgets,)`` (their sign and finiteness are checked where they
        are used).

    Raises
    ------
    DataError
        For text that is not a number as bayescale prints them (``"1e24"``, ``"10^24"``,
        ``"1e24 FLOPs"`` are), anything else that is not a number, or no budget at all.
    """
    try:
        budgets = np.atleast_1d(parse_quantities(C)).reshape(-1)
    except (TypeError, ValueError) as err:
        if isinstance(err, ValueError) and "is not a number;" in str(err):
            raise DataError(f"{name}: {err} (compute budgets in FLOPs)") from None
        raise DataError(
            f"{name}={C!r} is not a number; give compute budgets in FLOPs as numbers, e.g. "
            f"{name}=1e24 or {name}=[1e23, 1e24]"
        ) from None
    if budgets.size == 0:
        raise DataError(
            f"{name}={C!r} gives no budget; give at least one compute budget in FLOPs, e.g. "
            f"{name}=1e24 or {name}=[1e23, 1e24]"
        )
    return budgets


def check_targets(target_loss: Any) -> np.ndarray:
    """Target losses as a 1-D array of floats, or one clear error.

    Parameters
    ----------
    target_loss : float or sequence of float
        One target or several.

    Returns
    -------
    numpy.ndarray
        The targets, shape ``(targets,)`` (their range is checked where they are used).

    Raises
    ------
    DataError
        For text or anything else that is not a number, or no target at all.
    """
    try:
        targets = np.atleast_1d(np.asarray(target_loss, dtype=float)).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(
            f"target loss {target_loss!r} is not a number; give it as a number (e.g. 2.0) or "
            f"a list of numbers (e.g. [2.0, 1.9])"
        ) from None
    if targets.size == 0:
        raise DataError(
            f"target loss {target_loss!r} gives no target; give at least one (e.g. 2.0)"
        )
    return targets


def backtest_reach(info: Mapping[str, Any]) -> float | None:
    """The farthest distance at which a fit's backtests held out runs, in e-folds.

    Parameters
    ----------
    info : mapping
        A discrepancy's ``info`` (:func:`bayescale.discrepancy.backtest`): each backtest
        cut's ``max_distance`` (the largest log distance of a held-out run beyond the runs
        its refit saw, over the inputs and C).

    Returns
    -------
    float or None
        The largest ``max_distance`` over the cuts; None when no backtest ran (the slope
        then follows its prior, which the fit says).
    """
    reach = [float(cut["max_distance"]) for cut in info.get("splits", []) or []]
    return max(reach) if reach else None


def past_peak(
    prob_at: Callable[[np.ndarray], np.ndarray],
    budgets: Sequence[float] | np.ndarray,
    k: float = 6.0,
    start: float = 0.0,
) -> dict[str, np.ndarray]:
    """Which budgets are past the peak of one run's chance of meeting a target.

    The chance that one run meets a target need not rise forever with the budget: a
    discrepancy whose spread grows without bound beyond the runs pulls it back towards a
    coin toss (:func:`budget_for_prob`). A budget is past the peak when its chance is more
    than :data:`PEAK_MARGIN` below the highest chance at any smaller budget: those of
    :func:`budget_for_prob`'s scan (every two e-folds from :func:`smallest_log_budget`) below
    the largest budget asked for, and the budgets asked for.

    Parameters
    ----------
    prob_at : callable
        The probability at an array of budgets (FLOPs); deterministic (common random numbers).
    budgets : sequence of float
        The budgets to judge, in FLOPs.
    k : float, default 6.0
        FLOPs per parameter per token (where the scan starts).
    start : float, default 0.0
        No scanned budget below this (FLOPs): where the chance cannot peak, e.g. within the
        runs' compute, where the discrepancy is nil and the chance only rises.

    Returns
    -------
    dict of str to numpy.ndarray
        Per budget: ``past`` (bool), ``prob`` (its chance), ``prob_peak`` and ``C_peak``
        (the highest chance at this budget or a smaller one, and where).
    """
    budgets = np.asarray(budgets, dtype=float).reshape(-1)
    grid = np.exp(np.linspace(smallest_log_budget(k), _MAX_LOG_C, 39))
    grid = grid[(grid >= start) & (grid < budgets.max())]  # a budget's peak is at or below it
    every = np.concatenate([grid, budgets])
    probs = np.asarray(prob_at(every), dtype=float)
    own = probs[len(grid) :]
    peak, where = np.empty(len(budgets)), np.empty(len(budgets))
    for i, budget in enumerate(budgets):
        before = np.flatnonzero(every <= budget)  # holds the budget itself
        chances = np.where(np.isnan(probs[before]), -np.inf, probs[before])
        best = before[int(np.argmax(chances))]
        peak[i], where[i] = probs[best], every[best]
    return {"past": own < peak - PEAK_MARGIN, "prob": own, "prob_peak": peak, "C_peak": where}


def has_closed_form(law: Law) -> bool:
    """Whether the law is the Chinchilla form, whose compute-optimal split is closed-form.

    Parameters
    ----------
    law : Law
        The law.

    Returns
    -------
    bool
        True for ``E + A / N**alpha + B / D**beta`` (whatever the law is called).
    """
    return law.formula.canonical() == _CHINCHILLA


def check_fixed(law: Law, fixed: Mapping[str, Any] | None) -> dict[str, float]:
    """Refuse ``fixed`` values a plan cannot use: N, D or C, and names the law does not have.

    ``fixed`` holds the law's other inputs (unique tokens U, a vocabulary size...). A fixed N,
    D or C would be overwritten by, or would overwrite, the split a plan chooses; a name the
    law lacks would be carried along unused.

    Parameters
    ----------
    law : Law
        The fitted law.
    fixed : mapping or None
        Input name -> value.

    Returns
    -------
    dict of str to float
        The values, as floats.

    Raises
    ------
    DataError
        Naming the input and what to do instead.
    """
    out: dict[str, float] = {}
    others = [name for name in law.inputs if name not in ("N", "D", "C")]
    takes = (
        f"law {law.name!r} takes {', '.join(others)} there"
        if others
        else f"law {law.name!r} has no input other than {', '.join(law.inputs)}"
    )
    for name, value in (fixed or {}).items():
        if name in ("N", "D", "C"):
            raise DataError(
                f"fixed={{{name!r}: ...}} (--fixed {name}=... on the command line): N, D and C "
                f"are what a plan chooses or is given, not fixed inputs; {takes}. For a model of "
                f"a given size, ask prob_below(target, N=..., D=...) (bayescale target "
                f"--loss ... --at N=...,D=...) or forecast at N and D (bayescale forecast "
                f"--at N=...,D=...)"
            )
        if name not in law.inputs:
            match = closest(str(name), others)
            hint = f"; did you mean {match}?" if match is not None else ""
            raise DataError(f"fixed={{{name!r}: ...}}: not an input of the law; {takes}{hint}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not np.isfinite(number):
            raise DataError(f"fixed={{{name!r}: {value!r}}}: give a finite number")
        out[str(name)] = number
    return out


def in_compute_alone(law: Law) -> bool:
    """Whether the law is written in C without both N and D (e.g. ``power_law_C``).

    Parameters
    ----------
    law : Law
        The law.

    Returns
    -------
    bool
        True when the compute for a target is the law's own inverse: it has no split.
    """
    return "C" in law.inputs and not {"N", "D"} <= set(law.inputs)


def _check_law(law: Law, fixed: Mapping[str, Any], compute_alone: bool = False) -> None:
    if not compute_alone and not {"N", "D"} <= set(law.inputs):
        raise LawError(
            f"compute planning needs a law with inputs N and D (C = k N D); "
            f"law {law.name!r} has {', '.join(law.inputs)}"
        )
    check_fixed(law, fixed)
    missing = sorted(set(law.inputs) - {"N", "D", "C"} - set(fixed))
    if missing:
        raise DataError(
            f"law {law.name!r} also needs {', '.join(missing)}; give a value with "
            f"fixed={{{missing[0]!r}: ...}} (--fixed {missing[0]}=... on the command line; e.g. "
            f"the unique tokens available)"
        )


def _check_splittable(log_c: np.ndarray, k: float) -> None:
    """Refuse a budget too small for a thousand parameters trained on a thousand tokens."""
    smallest = k * _MIN_SIZE**2
    too_small = np.asarray(log_c) <= np.log(smallest)
    if np.any(too_small):
        budget = float(np.exp(np.asarray(log_c)[too_small].reshape(-1)[0]))
        raise DataError(
            f"compute budget {format_number(budget, 'flops')} FLOPs is too small to split: C "
            f"must exceed {format_number(smallest, 'flops')} FLOPs ({k:g} x a thousand "
            f"parameters x a thousand tokens)"
        )


def chinchilla_optimum(
    params: Mapping[str, np.ndarray], log_c: np.ndarray, k: float
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form compute-optimal log N and loss of the Chinchilla law.

    ``N_opt = G (C / k)**(beta / (alpha + beta))`` with
    ``G = (alpha A / (beta B))**(1 / (alpha + beta))`` (Hoffmann et al. 2022, eq. 4).

    Parameters
    ----------
    params : mapping
        Draws of E, A, B, alpha, beta, each broadcastable against ``log_c``.
    log_c : numpy.ndarray
        Log compute budgets.
    k : float
        ``C = k N D``.

    Returns
    -------
    tuple of numpy.ndarray
        ``log N_opt`` and the loss reached, broadcast over draws and budgets.
    """
    a, b = params["alpha"], params["beta"]
    log_g = (np.log(a * params["A"]) - np.log(b * params["B"])) / (a + b)
    log_n = log_g + b / (a + b) * (log_c - np.log(k))
    log_d = log_c - np.log(k) - log_n
    loss = params["E"] + params["A"] * np.exp(-a * log_n) + params["B"] * np.exp(-b * log_d)
    return log_n, loss


def _loss(
    law: Law, params: Mapping[str, Any], log_n: Any, log_c: Any, k: float, fixed: Mapping[str, Any]
) -> Any:
    inputs = {"N": np.exp(log_n), "D": np.exp(log_c - np.log(k) - log_n)}
    inputs.update({name: value for name, value in fixed.items() if name in law.inputs})
    return law_value(law, params, inputs)


def _numerical_optimum(
    law: Law,
    params: Mapping[str, np.ndarray],
    log_c: np.ndarray,
    k: float,
    fixed: Mapping[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    low = np.log(_MIN_SIZE)
    high = log_c - np.log(k) - np.log(_MIN_SIZE)
    _check_splittable(log_c, k)
    # A grid over log N on a trailing axis finds the basin; golden section then refines it.
    fractions = np.linspace(0.0, 1.0, _GRID)
    grid = low + (high - low)[..., None] * fractions
    theta = {name: np.asarray(v)[..., None] for name, v in params.items()}
    values = _loss(
        law,
        theta,
        grid,
        log_c[..., None],
        k,
        {n: np.asarray(v)[..., None] for n, v in fixed.items()},
    )
    values = np.where(np.isfinite(values), values, np.inf)
    best = np.argmin(values, axis=-1)
    step = (high - low) / (_GRID - 1)
    a = np.maximum(low + (best - 1) * step, low)
    b = np.minimum(low + (best + 1) * step, high)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0

    def loss_at(log_n: np.ndarray) -> np.ndarray:
        value = _loss(law, params, log_n, log_c, k, fixed)
        return np.where(np.isfinite(value), value, np.inf)

    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss_at(c), loss_at(d)
    for _ in range(_GOLDEN_STEPS):
        left = fc < fd  # the minimum lies in [a, d]: drop (d, b]; else drop [a, c)
        a, b = np.where(left, a, c), np.where(left, d, b)
        c, d = np.where(left, b - ratio * (b - a), d), np.where(left, c, a + ratio * (b - a))
        probe = np.where(left, c, d)
        f_probe = loss_at(probe)
        fc, fd = np.where(left, f_probe, fd), np.where(left, fc, f_probe)
    log_n = (a + b) / 2
    return log_n, _loss(law, params, log_n, log_c, k, fixed)


def optimum_draws(
    law: Law,
    params: Mapping[str, np.ndarray],
    budgets: Sequence[float] | np.ndarray,
    k: float = 6.0,
    fixed: Mapping[str, float] | None = None,
    method: str = "auto",
) -> dict[str, np.ndarray]:
    """Compute-optimal N, D and loss for every draw and budget.

    Parameters
    ----------
    law : Law
        A law with inputs N and D (others given in ``fixed``).
    params : mapping
        Posterior draws of every law parameter, shape ``(draws,)``.
    budgets : sequence of float
        Compute budgets C in FLOPs.
    k : float, default 6.0
        ``C = k N D``.
    fixed : mapping, optional
        Values of the law's other inputs (e.g. unique tokens ``U``).
    method : {"auto", "closed_form", "numerical"}
        ``auto`` uses the closed form where the law has one.

    Returns
    -------
    dict of str to numpy.ndarray
        ``N``, ``D``, ``tokens_per_parameter`` and ``loss``, each of shape
        ``(draws, budgets)``.
    """
    fixed = dict(fixed or {})
    _check_law(law, fixed)
    budgets = np.asarray(budgets, dtype=float).reshape(-1)
    if not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise DataError(f"compute budgets must be positive numbers, got {budgets.tolist()}")
    # The closed form would split any budget, even into fewer than one parameter.
    _check_splittable(np.log(budgets), k)
    theta = {name: np.asarray(params[name], dtype=float)[:, None] for name in law.parameters}
    log_c = np.broadcast_to(
        np.log(budgets)[None, :], (len(next(iter(theta.values()))), len(budgets))
    )
    if method == "auto":
        method = "closed_form" if has_closed_form(law) and not fixed else "numerical"
    if method == "closed_form":
        if not has_closed_form(law):
            raise LawError(f"law {law.name!r} has no closed-form compute optimum; use 'numerical'")
        log_n, loss = chinchilla_optimum(theta, log_c, k)
    elif method == "numerical":
        log_n, loss = _numerical_optimum(law, theta, np.array(log_c), k, fixed)
    else:
        raise DataError(f"method must be 'auto', 'closed_form' or 'numerical', got {method!r}")
    n = np.exp(log_n)
    d = np.exp(log_c - np.log(k) - log_n)
    return {"N": n, "D": d, "tokens_per_parameter": d / n, "loss": loss}


def measured_optimum_draws(
    law: Law,
    params: Mapping[str, np.ndarray],
    budgets: Sequence[float] | np.ndarray,
    log_n_opt: np.ndarray,
    offsets: Sequence[float] | np.ndarray,
    noise: float,
    seed: int,
    k: float = 6.0,
    fixed: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Where an IsoFLOP curve at each budget would measure its minimum, per draw.

    Each draw runs the sweep once: runs at ``log N_opt + offsets`` (the design of the user's
    own curves, centred on the draw's optimum), their log loss the law's plus normal noise of
    standard deviation ``noise``, and the minimum the vertex of the least-squares parabola in
    ``log N`` through them (:func:`bayescale.isoflop.parabola_vertices`), as a user finds it.

    Parameters
    ----------
    law, params, budgets, k, fixed
        As in :func:`optimum_draws`.
    log_n_opt : numpy.ndarray
        Each draw's optimal ``log N`` at each budget, shape ``(draws, budgets)``.
    offsets : sequence of float
        ``log N`` of the curve's runs relative to its optimum.
    noise : float
        Standard deviation of a run's log loss around the law.
    seed : int
        Seed of the runs' noise, drawn per budget (:func:`budget_normals`).

    Returns
    -------
    numpy.ndarray
        ``log N`` of the measured minimum, shape ``(draws, budgets)``; NaN where the noisy
        curve's parabola opens downward (a sweep that finds no minimum).

    Notes
    -----
    This is what such a sweep measures, not where the optimum lies, and its median is not
    the optimum's when the runs sit off-centre: the vertex ``-b / 2c`` is a ratio of two
    noisy least-squares coefficients, and with most runs on one side of the optimum the
    noise moves it towards that side. Beyond the runs the curve flattens (the reducible
    loss shrinks) against the same noise, so the shift grows with the budget; the share of
    NaN (and of vertices outside the runs, which :meth:`bayescale.Fit.compute_optimal`
    leaves out and counts) grows too. Without noise, or with offsets symmetric about 0, the
    median is the optimum's to within the parabola's approximation error.
    """
    from bayescale.isoflop import parabola_vertices

    fixed = dict(fixed or {})
    _check_law(law, fixed)
    offsets = np.asarray(offsets, dtype=float)
    log_n_opt = np.asarray(log_n_opt, dtype=float)
    log_c = np.log(np.asarray(budgets, dtype=float).reshape(-1))
    theta = {name: np.asarray(params[name], dtype=float)[:, None, None] for name in law.parameters}
    values = _loss(
        law,
        theta,
        log_n_opt[..., None] + offsets,
        log_c[None, :, None],
        k,
        {n: np.asarray(v)[..., None, None] for n, v in fixed.items()},
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_y = np.log(np.where(np.asarray(values) > 0, values, np.nan))
    # (draws, offsets, budgets), the same noise at every budget, to (draws, budgets, offsets).
    eps = budget_normals(seed, 15485863, log_c, (log_y.shape[0], len(offsets)))
    log_y = log_y + noise * np.moveaxis(eps, -1, 1)
    vertex = parabola_vertices(offsets, log_y.reshape(-1, len(offsets)))
    return log_n_opt + vertex.reshape(log_n_opt.shape)


#: Keys of a planned IsoFLOP sweep (:func:`sweep_design`).
SWEEP_KEYS = ("runs", "spread", "noise")


def budget_normals(
    seed: int, stream: int, budgets: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Standard normal draws for each budget: the same draws at every budget.

    A budget's draws depend on the seed and the stream alone, not on which other budgets
    are asked for in the same call or in what order: a plan for 1e24 FLOPs reads the same
    whether asked alone or beside 1e21. Every budget sharing them (common random numbers)
    keeps a plan's quantiles smooth in the budget: with draws of their own, the Monte Carlo
    error of a 5% quantile made a larger budget's lower bound smaller than its neighbour's.
    Only each budget's own distribution is reported, so that is all the draws must get
    right.

    Parameters
    ----------
    seed : int
        The fit's seed.
    stream : int
        A constant naming what the draws are for, so two uses never share draws.
    budgets : numpy.ndarray
        Budgets in FLOPs, shape ``(budgets,)``.
    shape : tuple of int
        Shape of each budget's draws.

    Returns
    -------
    numpy.ndarray
        Shape ``(*shape, budgets)``.
    """
    count = np.asarray(budgets).reshape(-1).size
    draws = np.random.default_rng([int(seed), int(stream)]).standard_normal(shape)
    return np.repeat(draws[..., None], count, axis=-1)


#: The sweep values accepted: (lowest, highest, whether the lowest is allowed, what it is).
#: A curve of IsoFLOP runs spans a few e-folds around the optimum; beyond these bounds no
#: sweep is meant, and the simulation of one overflows or runs out of memory.
SWEEP_RANGES: dict[str, tuple[float, float, bool, str]] = {
    "runs": (5, 1000, True, "runs on the curve, a whole number"),
    "spread": (1, 1000, False, "sizes from N_opt / spread to N_opt * spread; sweeps use 2 to 30"),
    "noise": (0, 1, True, "standard deviation of log loss; runs show about 0.01"),
}


def check_sweep(sweep: Mapping[str, Any]) -> None:
    """Refuse a sweep design with an unknown key or a value out of :data:`SWEEP_RANGES`.

    Parameters
    ----------
    sweep : mapping of str to number
        Any of ``runs``, ``spread`` and ``noise``.

    Raises
    ------
    DataError
        For the first unknown key, non-number or value out of range, saying the range.
    """
    unknown = sorted(set(sweep) - set(SWEEP_KEYS))
    if unknown:
        raise DataError(f"sweep takes {', '.join(SWEEP_KEYS)}; got {', '.join(map(repr, unknown))}")
    for key, value in sweep.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise DataError(f"sweep {key} must be a number, got {value!r}")
        if not np.isfinite(value):
            raise DataError(f"sweep {key} must be a finite number, got {value!r}")
        low, high, closed, what = SWEEP_RANGES[key]
        above = value >= low if closed else value > low
        whole = key != "runs" or float(value).is_integer()
        if not (above and value <= high and whole):
            bound = "at least" if closed else "more than"
            raise DataError(
                f"sweep {key}={value:g} is out of range: give {bound} {low:g} and at most "
                f"{high:g} ({what})"
            )


def sweep_design(
    sweep: Mapping[str, float] | None, learned: tuple[np.ndarray, float] | None
) -> tuple[np.ndarray, float]:
    """The sizes (as log factors of the optimum) and noise of a new IsoFLOP curve.

    Parameters
    ----------
    sweep : mapping, optional
        ``runs`` (at least 5 sizes), ``spread`` (> 1: sizes from ``N_opt / spread`` to
        ``N_opt * spread``, geometric) and ``noise`` (>= 0, standard deviation of log loss);
        any may be left out.
    learned : tuple, optional
        The runs' own curves' design and noise
        (:meth:`bayescale.discrepancy.Discrepancy.plan_sweep`), used for what ``sweep``
        leaves out: their sizes as they are when neither ``runs`` nor ``spread`` is given.

    Returns
    -------
    tuple
        ``log(N / N_opt)`` of the curve's runs, and the noise.

    Raises
    ------
    DataError
        For an unknown key or a value out of range, or what neither gives.
    """

    sweep = dict(sweep or {})
    check_sweep(sweep)
    missing = [key for key in SWEEP_KEYS if key not in sweep]
    if learned is None and missing:
        raise DataError(
            f"this fit learned no IsoFLOP curve of its runs (a fit with a discrepancy learns "
            f"them, where the runs hold any) to take the sweep's {', '.join(missing)} from: "
            f"give them, e.g. sweep={{'runs': 9, 'spread': 8, 'noise': 0.01}} (on the command "
            f"line --sweep runs=9 --sweep spread=8 --sweep noise=0.01)"
        )
    if learned is not None and "runs" not in sweep and "spread" not in sweep:
        offsets = np.asarray(learned[0], dtype=float)
    else:
        runs = int(sweep["runs"]) if "runs" in sweep else len(learned[0])  # type: ignore[index]
        spread = (
            float(sweep["spread"]) if "spread" in sweep else float(np.exp(np.ptp(learned[0]) / 2))  # type: ignore[index]
        )
        offsets = np.linspace(-np.log(spread), np.log(spread), runs)
    noise = float(sweep["noise"]) if "noise" in sweep else float(learned[1])  # type: ignore[index]
    return offsets, noise


def budget_draws(
    law: Law,
    params: Mapping[str, np.ndarray],
    target: float,
    k: float = 6.0,
    fixed: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Compute needed, per draw, to reach a target loss on the compute-optimal frontier.

    The optimal loss falls as the budget grows, so a bisection over ``log C`` (for all
    draws at once, the optimal split found at every step) finds where it meets the target.

    Parameters
    ----------
    law, params, k, fixed
        As in :func:`optimum_draws`.
    target : float
        Target loss (> 0 for a law with multiplicative noise, whose value is positive; any
        finite number for a metric with additive noise).

    Returns
    -------
    dict of str to numpy.ndarray
        ``C``, ``N``, ``D`` of shape ``(draws,)``; ``inf`` (C) and NaN (N, D) for draws in
        which the target is out of reach: at or below the floor, or beyond 1e40 FLOPs.
        ``at_least`` (bool): draws already at or below the target at the smallest budget
        that can be split (a thousand parameters and tokens), whose ``C`` is that budget.
    """
    linear = law.likelihood.scale == "linear"
    if not np.isfinite(target) or (target <= 0 and not linear):
        raise DataError(
            f"target loss must be a positive number, got {target!r} (a law with "
            f"multiplicative noise never reaches 0; a metric that can be <= 0 needs "
            f"scale='linear')"
            if np.isfinite(target)
            else f"target loss must be a finite number, got {target!r}"
        )
    fixed = dict(fixed or {})
    alone = in_compute_alone(law)
    _check_law(law, fixed, compute_alone=alone)
    n_draws = len(np.asarray(params[next(iter(law.parameters))]))

    def frontier(log_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = {name: np.asarray(params[name], dtype=float)[:, None] for name in law.parameters}
        if alone:  # the law's own loss at C: no split to choose
            inputs = {"C": np.exp(log_c)[:, None], **fixed}
            return np.full(len(log_c), np.nan), np.asarray(law_value(law, theta, inputs))[:, 0]
        if has_closed_form(law) and not fixed:
            log_n, loss = chinchilla_optimum(theta, log_c[:, None], k)
        else:
            log_n, loss = _numerical_optimum(law, theta, log_c[:, None], k, fixed)
        return log_n[:, 0], loss[:, 0]

    # From the smallest budget that splits into a thousand parameters and tokens (a little
    # above it, so that the search has room), not from a round number of FLOPs: a target
    # above the runs' losses is then met where the law says, not at an arbitrary edge.
    smallest = smallest_log_budget(k)
    low = np.full(n_draws, smallest)
    high = np.full(n_draws, _MAX_LOG_C)
    _, loss_high = frontier(high)
    reachable = loss_high <= target
    _, loss_low = frontier(low)
    already = loss_low <= target  # reached at the smallest budget: report that budget
    for _ in range(_BISECTION_STEPS):
        mid = (low + high) / 2
        _, loss = frontier(mid)
        above = loss > target
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    log_c = np.where(already, smallest, high)
    if alone:
        budget = np.where(reachable, np.exp(log_c), np.inf)
        nan = np.full(n_draws, np.nan)
        return {"C": budget, "N": nan, "D": nan, "at_least": already & reachable}
    log_n, _ = frontier(log_c)
    budget = np.where(reachable, np.exp(log_c), np.inf)
    n = np.where(reachable, np.exp(log_n), np.nan)
    d = np.where(reachable, np.exp(log_c - np.log(k) - log_n), np.nan)
    return {"C": budget, "N": n, "D": d, "at_least": already & reachable}


def smallest_log_budget(k: float = 6.0) -> float:
    """Log of the smallest budget the budget searches start from, in FLOPs.

    A little above ``k`` times a thousand parameters times a thousand tokens (the smallest
    split searched), so that a search has room below its first step.

    Parameters
    ----------
    k : float, default 6.0
        FLOPs per parameter per token.

    Returns
    -------
    float
        ``log(1.5 k 1e6)``.
    """
    return float(np.log(k) + 2 * np.log(_MIN_SIZE) + np.log(1.5))


def budget_for_prob(
    prob_at: Callable[[np.ndarray], np.ndarray],
    prob: float,
    k: float = 6.0,
) -> dict[str, float | bool]:
    """Smallest budget at which a probability of meeting a target reaches ``prob``.

    The probability that one run meets a target need not rise forever with the budget: the
    floor caps it, and a discrepancy that grows beyond the runs pulls it back towards a coin
    toss. So the budgets from :func:`smallest_log_budget` to 1e40 FLOPs are scanned (every
    two e-folds), and the first step that reaches ``prob`` is refined by bisection.

    Parameters
    ----------
    prob_at : callable
        The probability at an array of budgets (FLOPs); deterministic (common random numbers),
        so that the bisection converges.
    prob : float
        The probability wanted, in (0, 1).
    k : float, default 6.0
        FLOPs per parameter per token (where the scan starts).

    Returns
    -------
    dict
        ``C``: the budget (``inf`` if no budget up to 1e40 FLOPs reaches ``prob``);
        ``prob_max``: the highest probability scanned, and ``C_at_max`` its budget (what the
        caller can say when ``prob`` is out of reach); ``at_least``: ``prob`` is reached
        at the smallest budget scanned already, whose value is ``C``.
    """
    grid = np.linspace(smallest_log_budget(k), _MAX_LOG_C, 39)
    probs = np.asarray(prob_at(np.exp(grid)), dtype=float)
    best = int(np.nanargmax(probs))
    out: dict[str, float | bool] = {
        "C": float("inf"),
        "prob_max": float(probs[best]),
        "C_at_max": float(np.exp(grid[best])),
        "at_least": False,
    }
    reached = np.flatnonzero(probs >= prob)
    if len(reached) == 0:
        return out
    first = int(reached[0])
    if first == 0:
        return {**out, "C": float(np.exp(grid[0])), "at_least": True}
    low, high = grid[first - 1], grid[first]
    for _ in range(_PROB_BISECTION_STEPS):
        mid = (low + high) / 2
        if float(np.asarray(prob_at(np.exp(np.array([mid]))))[0]) >= prob:
            high = mid
        else:
            low = mid
    return {**out, "C": float(np.exp(high))}


def prob_below_draws(
    law_values: np.ndarray,
    target: float,
    likelihood: Likelihood,
    noise: Mapping[str, np.ndarray],
    log_delta: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Probability that the law, and that one new run, is below a target loss.

    The run's noise is integrated exactly (its CDF per draw), not sampled, so the
    probability carries no extra Monte Carlo error.

    Parameters
    ----------
    law_values : numpy.ndarray
        The law's loss per draw and point, shape ``(draws, points)``.
    target : float
        Target loss.
    likelihood : Likelihood
        The law's observation model; the noise is integrated on its scale.
    noise : mapping of str to numpy.ndarray
        Noise parameters per draw (``sigma`` and the family's others), shape ``(draws,)``.
    log_delta : numpy.ndarray, optional
        Model discrepancy on the likelihood's scale per draw and point, shape
        ``(draws, points)``: under multiplicative noise a new run's loss is the law's times
        ``exp(delta)``, times its noise; under additive noise, the law's plus ``delta``
        plus its noise.

    Returns
    -------
    tuple of numpy.ndarray
        ``P(law < target)`` and ``P(new run < target)`` per point. Under multiplicative
        noise a run's loss ``L exp(noise)`` does not exist where the law ``L`` is <= 0:
        at a point where it is in any draw, ``P(new run < target)`` is NaN (with a
        warning naming the point and the share of draws); ``P(law < target)`` counts
        those draws as below.

    Warns
    -----
    UserWarning
        Once, naming the points where the law is <= 0 under multiplicative noise.
    """
    per_draw = {name: np.asarray(noise[name])[:, None] for name in likelihood.noise_names}
    law_values = np.asarray(law_values)
    broken = None
    if likelihood.scale == "linear":
        mu = law_values if log_delta is None else law_values + log_delta
    else:
        positive = law_values > 0
        broken = ~positive.all(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = np.log(np.where(positive, law_values, np.nan))
        if log_delta is not None:
            mu = mu + log_delta
    cdf = likelihood.cdf_y(target, mu, per_draw)
    run = cdf.mean(axis=0)
    if broken is not None and broken.any():
        run = np.where(broken, np.nan, run)
        share = (~(law_values > 0)).mean(axis=0)
        where = ", ".join(
            f"point {i + 1} in {100 * share[i]:.3g}% of draws" for i in np.flatnonzero(broken)[:5]
        )
        more = int(broken.sum()) - 5
        warnings.warn(
            f"the law is <= 0 at {where}{f' and {more} more points' if more > 0 else ''}: "
            f"its form breaks down there, and a run's loss under multiplicative noise "
            f"(L * exp(noise) > 0) is not defined. prob_run_below is NaN there; "
            f"prob_law_below counts those draws as below the target {target:g}. Ask closer "
            f"to the runs, or use a law that stays positive there",
            UserWarning,
            stacklevel=_caller_level(),
        )
    return (law_values < target).mean(axis=0), run


def summarise(
    draws: np.ndarray,
    name: str,
    level: float | Sequence[float] = 0.9,
    skip_nan: bool = False,
) -> dict[str, np.ndarray]:
    """Median and equal-tailed intervals of draws along the first axis.

    Parameters
    ----------
    draws : numpy.ndarray
        Shape ``(draws, ...)``; ``inf`` allowed (it sorts last).
    name : str
        Column prefix.
    level : float or sequence of float
        Credible levels.
    skip_nan : bool, default False
        Leave NaN draws out (draws in which the quantity does not exist); otherwise a NaN
        makes the summary NaN.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{name}_median``, ``{name}_lower_90``, ``{name}_upper_90``, ...
    """
    from bayescale.forecast import level_label

    quantile = np.nanquantile if skip_nan else np.quantile
    levels = [level] if np.isscalar(level) else list(level)
    out = {f"{name}_median": quantile(draws, 0.5, axis=0, method="inverted_cdf")}
    for lv in levels:
        tag = level_label(lv)
        probs = [(1 - lv) / 2, (1 + lv) / 2]
        low, high = quantile(draws, probs, axis=0, method="inverted_cdf")
        out[f"{name}_lower_{tag}"] = low
        out[f"{name}_upper_{tag}"] = high
    return out


def table(columns: Mapping[str, Any]) -> pd.DataFrame:
    """Build a tidy DataFrame from equal-length columns (helper for the Fit methods)."""
    return pd.DataFrame({name: np.asarray(value).reshape(-1) for name, value in columns.items()})
