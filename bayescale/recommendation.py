"""Which run next: cost-aware choice of the next experiments from a posterior.

Given a fit, a pool of runnable candidates and a cost model, :func:`recommend` picks the run
(or a greedy batch of runs) that is expected to reduce most, per unit of cost, the
uncertainty of what the user cares about:

- ``criterion="loss"``: the law's log loss at one or more target points (the credible
  interval of the forecast there; on the law's scale for additive noise);
- ``criterion="optimal_N"``: the compute-optimal model size ``log N`` at one or more target
  budgets ``C``.

The expected reduction comes from posterior simulation, no refit. In each of a few
*fantasy worlds* one posterior draw plays the truth; a candidate's outcome is simulated
from it with the law's noise (:meth:`Likelihood.draw_noise`), and the posterior draws are
reweighted by that outcome's likelihood (:meth:`Likelihood.logpdf`, importance weights, as
in :func:`bayescale.discrepancy.heldout_log_density`). The target's weighted variance (and
90% interval width), averaged over the worlds, is its expected posterior uncertainty after
the run. The draw that plays the truth is left out of its own world's reweighting, so a
world never "learns" the answer by matching itself. A batch is chosen greedily on the joint
fantasy: each world keeps the likelihood of the runs chosen so far, so a second run near
the first is worth less, and a replicate of a chosen run gets fresh noise. Within a budget,
the batch (a single run too) is the better of two greedy choices, by reduction per unit
cost and by reduction among the runs the budget still affords (Leskovec et al. 2007's rule
for budgeted choices whose value has diminishing returns): ranking by ratio alone fills a
budget with cheap runs that teach little.

When the data a candidate would add are so informative that the importance weights
collapse (their effective sample size below ``min_ess``), the reweighted estimate is
unreliable; the candidate's estimate then falls back to the linear-Gaussian one computed
from the same draws (``Var q - c' (S + s^2 I)^-1 c``, with ``c`` the covariance of the
target and the law's values at the runs, ``S`` their covariance and ``s^2`` the noise
variance), is marked ``estimate="gaussian"`` in the table and a warning says so.

Candidates compete within one step on common random numbers (the same worlds and noise
draws), so that two identical candidates get identical values. The fantasy worlds are the
replicates of that Monte Carlo average: the standard error of each expected reduction is
reported beside it (``variance_reduction_se``, ``width_reduction_se``), and another seed moves
the estimate by about that much (more fantasies shrink it as ``1/sqrt``). Every world
reweights all the fit's draws, up to ``max_draws`` (4000: all of a default fit's); a larger
fit gives each world its own random subset of that many, so that the worlds stay independent
replicates and the standard error covers the subsets' error too (one subset shared by all the
worlds would offset them alike, unseen by their spread). The error of the fit's own finite
draws, the same for every seed, is not in it.

To compare candidates, their own standard errors overstate the noise: the worlds are shared,
so the difference of two is far surer than either. ``difference`` is each candidate's value
on what ranked (reduction per unit cost, or reduction within a budget) minus the first chosen
run's, and ``difference_se`` its standard error paired world by world: within about two of it,
their order is Monte Carlo noise that another seed may flip.

A run is chosen at a step if its expected reduction given the runs chosen before is above
zero; a run is not dropped for good for a value at or below zero alone. The reduction is not
submodular: a run may teach nothing alone and much after another (one on the compute-optimal
frontier, after one far off it, pins the curvature across it). A chosen run whose marginal
reduction is within two standard errors of zero is flagged (``marginal_within_noise``), and a
batch that ends with fewer runs than asked says why (the budget, or no run left that is
expected to reduce the uncertainty further).

A fit with a discrepancy (every fit by default where it can be learned, see
:mod:`bayescale.discrepancy`) knows its law may be off beyond the runs, by a variance
``s^2 d^2`` at a target ``d`` e-folds beyond their range (``s0^2 + s^2 d^2`` for the compute-optimal
plan: learned from IsoFLOP curves, else its prior). The posterior variance of the law does not
see that part shrink when a run nears the target, yet that is where a misspecified law's error
lies. So the uncertainty reduced is then the law's variance plus the discrepancy's, ``E[s^2]``
kept and ``d`` measured from the range the chosen runs would leave (widths add the discrepancy
as an independent normal term). On farseer's misspecified law this turns the choice towards runs
nearer the target region (``bench/recommend.md``), whose fits' intervals are narrower and whose
forecasts are a little less accurate; ``discrepancy=False`` plans on the law's variance alone.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale._format import format_number, parse_quantity, size_kind
from bayescale.data import (
    below_points,
    below_sentence,
    swapped_points,
    swapped_sentence,
)
from bayescale.data import log_inputs as data_log_inputs
from bayescale.discrepancy import log_inputs, log_ranges
from bayescale.errors import (
    DataError,
    ExtrapolationWarning,
    FormulaError,
    SlipWarning,
    closest,
)
from bayescale.forecast import forecast_points, law_mu
from bayescale.formula import Formula
from bayescale.settings import DEFAULT_MAX_DRAWS

if TYPE_CHECKING:
    from bayescale.data import Runs
    from bayescale.discrepancy import Discrepancy
    from bayescale.fitting import Fit

__all__ = ["CRITERIA", "MEASURES", "STRATEGIES", "candidate_costs", "recommend"]

#: What the recommendation can reduce the uncertainty of, in words.
CRITERIA: dict[str, str] = {
    "loss": "the law's log loss at the target points",
    "optimal_N": "the compute-optimal log N at the target budgets",
}
#: How that uncertainty is measured: posterior variance, or width of the 90% interval.
MEASURES = ("variance", "width")
#: How a batch is chosen (see :func:`recommend`).
STRATEGIES = ("auto", "per_cost", "reduction", "better")
#: Fewest posterior draws a plan may weigh (``max_draws``).
MIN_DRAWS = 100
_INTERVAL = 0.9
#: Width of a standard normal's 90% equal-tailed interval.
_Z_WIDTH = 2 * 1.6448536269514722
#: The columns the plan's table adds beside the candidates' own.
_ADDED = (
    "candidate", "cost", "affordable", "slip", "reaches_target", "variance_reduction",
    "variance_reduction_se", "width_reduction", "width_reduction_se", "value_per_cost", "ess",
    "estimate", "chosen", "order", "marginal_reduction", "marginal_reduction_se",
    "marginal_within_noise", "difference", "difference_se",
)  # fmt: skip
#: A candidates' column used as the cost when no cost is given.
COST_COLUMN = "cost"
#: The cost model's name (``attrs["cost"]``) when that column is used.
COST_FROM_COLUMN = f"the candidates' column {COST_COLUMN}"


def candidate_costs(
    candidates: pd.DataFrame, cost: str | Sequence[float] | np.ndarray | None, compute_factor: float
) -> np.ndarray:
    """Cost of each candidate run.

    Parameters
    ----------
    candidates : pandas.DataFrame
        The candidates, one column per input (and any other column the cost uses). Messages
        name a row by its index label (``candidate 3``; ``line 5`` for an index named
        ``line``).
    cost : str, sequence of float or None
        A formula of the candidates' columns (``"6*N*D"``, ``"N*D*epochs"``, ``"gpu_hours"``),
        parsed by :class:`bayescale.formula.Formula` (never evaluated by Python); the costs
        themselves, one per candidate; or None for the candidates' column ``cost`` if they
        have one, else ``compute_factor * N * D`` (the column ``C`` when the candidates give
        compute rather than N and D).
    compute_factor : float
        ``k`` of the default cost ``k N D`` (the runs' compute factor).

    Returns
    -------
    numpy.ndarray
        One positive finite cost per candidate.

    Raises
    ------
    DataError
        If the cost uses a name that is not a column, the default needs N and D and they
        are missing, the number of costs differs from the candidates', or a cost is not a
        positive number (naming the row).
    FormulaError
        If the cost formula is not valid.
    """
    return _costs(candidates, cost, compute_factor)[0]


def _costs(
    candidates: pd.DataFrame, cost: str | Sequence[float] | np.ndarray | None, compute_factor: float
) -> tuple[np.ndarray, str, str]:
    """The costs, the cost model in words (``6*N*D``) and the costs' units."""
    row = _row_namer(candidates.index)
    columns = ", ".join(map(str, candidates.columns))
    if cost is None and COST_COLUMN in map(str, candidates.columns):
        # The user's own costs: replacing them by FLOPs unasked would plan in other units
        # than the budget they wrote beside them.
        values = _numbers(candidates[COST_COLUMN], COST_COLUMN, row, "candidates")
        label, units = COST_FROM_COLUMN, f"the units of the column {COST_COLUMN}"
    elif cost is None and not {"N", "D"} <= set(candidates.columns) and "C" in candidates.columns:
        values = _numbers(candidates["C"], "C", row, "candidates")  # C = k N D already
        label, units = "C (the candidates' compute)", "FLOPs"
    elif cost is None:
        missing = [name for name in ("N", "D") if name not in candidates.columns]
        if missing:
            raise DataError(
                f"the default cost {compute_factor:g}*N*D needs columns N and D in the "
                f"candidates; {missing[0]} is missing: give it, or a cost formula of the "
                f"columns {columns} (cost='...')"
            )
        n = _numbers(candidates["N"], "N", row, "candidates")
        values = compute_factor * n * _numbers(candidates["D"], "D", row, "candidates")
        label, units = f"{compute_factor:g}*N*D", "FLOPs"
    elif isinstance(cost, str):
        try:
            formula = Formula(cost)
        except FormulaError as err:
            raise FormulaError(
                f"cost {cost!r} is not a valid formula ({err}); write it like '6*N*D'"
            ) from err
        unknown = sorted(formula.names - set(map(str, candidates.columns)))
        if unknown:
            raise DataError(
                f"cost {cost!r} uses {', '.join(unknown)}, not a column of the candidates "
                f"(columns: {columns}); add the column or change the formula"
            )
        env = {name: _numbers(candidates[name], name, row, "candidates") for name in formula.names}
        with np.errstate(all="ignore"):
            values = np.broadcast_to(
                np.asarray(formula.evaluate(env), dtype=float), (len(candidates),)
            ).copy()
        label, units = cost, f"the units of {cost}"
    else:
        values = np.asarray(cost, dtype=float).reshape(-1)
        if len(values) != len(candidates):
            raise DataError(
                f"{len(values)} costs given for {len(candidates)} candidates; give one each"
            )
        label, units = "the costs given", "the units given"
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if len(bad):
        raise DataError(
            f"cost of {row(int(bad[0]))} is {float(values[bad[0]]):g} by {label}: every cost "
            f"must be a positive number; check that row or the cost formula"
        )
    return values, label, units


# --------------------------------------------------------------------------- the candidates


def _label(value: Any) -> Any:
    """A row label as Python shows it (``3``, ``'run0'``), not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def _row_namer(index: pd.Index) -> Callable[[int], str]:
    """How messages name the row at a position: by its label, as the table's ``candidate``
    column shows it (``candidate 3``, ``candidate 'run0'``; ``line 5`` for an index named
    ``line``, as ``bayescale next`` reads a file)."""

    def row(position: int) -> str:
        label = _label(index[position])
        return f"{index.name} {label!r}" if index.name is not None else f"candidate {label!r}"

    return row


def _rows_text(index: pd.Index, positions: Sequence[int], limit: int = 5) -> str:
    """Several rows named as :func:`_row_namer` does: ``candidates 0, 3 and 7``."""
    labels = [repr(_label(index[i])) for i in positions]
    name = str(index.name) if index.name is not None else "candidate"
    if len(labels) == 1:
        return f"{name} {labels[0]}"
    if len(labels) > limit:
        listed = f"{', '.join(labels[:limit])} and {len(labels) - limit} more"
    else:
        listed = f"{', '.join(labels[:-1])} and {labels[-1]}"
    return f"{name}s {listed}"


def _where(points: pd.DataFrame, i: int, names: Sequence[str] | None = None) -> str:
    """A point's inputs as bayescale prints them: ``N=70B, D=1.4T``."""
    names = [n for n in (names or points.columns) if n in points.columns]
    return ", ".join(f"{n}={format_number(float(points[n].iloc[i]), size_kind(n))}" for n in names)


def _rows_with(
    index: pd.Index, positions: Sequence[int], values: Callable[[int], str], limit: int = 3
) -> str:
    """Several rows each with its values, as :func:`_rows_text` names them: ``candidates 0
    (N=1B, D=20B) and 3 (N=2B, D=40B)``; past ``limit``, how many more."""
    shown = [f"{_label(index[i])!r} ({values(i)})" for i in positions[:limit]]
    name = str(index.name) if index.name is not None else "candidate"
    if len(positions) == 1:
        return f"{name} {shown[0]}"
    if len(positions) > limit:
        return f"{name}s {', '.join(shown)} and {len(positions) - limit} more"
    return f"{name}s {', '.join(shown[:-1])} and {shown[-1]}"


def _numbers(values: pd.Series, column: str, row: Callable[[int], str], what: str) -> np.ndarray:
    """A column as floats, text as bayescale prints numbers ('70B', '1.4T') read; a cell that
    is neither is named by its row."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(float)
    out = np.empty(len(values))
    for i, value in enumerate(values.to_numpy(object)):
        try:
            if isinstance(value, bool | np.bool_):
                raise TypeError(value)
            out[i] = parse_quantity(value) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise DataError(
                f"{what}: {row(i)}: {column} is {_label(value)!r}, not a number; write it as a "
                f"number (7e10, or as bayescale prints it: '70B'), or remove the row"
            ) from None
    return out


def _budgets(frame: pd.DataFrame, law: Any) -> pd.DataFrame:
    """A target of budgets alone (the compute-optimal plan's: no point to forecast at) as
    numbers, finite, and > 0 where counted or logged, each bad cell named by its point."""
    logged = {*data_log_inputs(law), "N", "D", "C"}
    out = frame.copy()
    for column in frame.columns:
        name = str(column)
        values = _numbers(frame[column], name, _point, "target")
        bad = ~(np.isfinite(values) & ((values > 0) | (name not in logged)))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"target: {_point(i)}: {name} is {float(values[i]):g}; it must be a "
                f"{'positive' if name in logged else 'finite'} number"
            )
        out[column] = values
    return out


def _point(position: int) -> str:
    """How messages name a target point: from 1."""
    return f"point {position + 1}"


def _missing_inputs(columns: Sequence[str], law: Any) -> list[str]:
    """The law's inputs neither among the columns nor completed from two of N, D, C."""
    present = set(map(str, columns))
    if len(present & {"N", "D", "C"}) >= 2:
        present |= {"N", "D", "C"}
    return [name for name in law.inputs if name not in present]


def _candidate_points(frame: pd.DataFrame, law: Any, k: float) -> tuple[pd.DataFrame, list[str]]:
    """The candidates' points of the law's inputs (the triad completed; every column, numbers
    read), each bad cell named by its row; and notes."""
    missing = _missing_inputs(frame.columns, law)
    if missing:
        triad = (
            f" (of N, D, C any two are enough: C = {k:g} N D)"
            if {"N", "D", "C"} & set(missing)
            else ""
        )
        raise DataError(
            f"candidates: law {law.name!r} needs {', '.join(law.inputs)}; missing "
            f"{', '.join(missing)}{triad} (the candidates' columns: "
            f"{', '.join(map(str, frame.columns))}); name a column {missing[0]}, e.g. "
            f"candidates.rename(columns={{'<column>': '{missing[0]}'}})"
        )
    notes: list[str] = []
    row = _row_namer(frame.index)
    try:
        points = forecast_points(law, frame.reset_index(drop=True), k, row=row, notes=notes)
    except DataError as err:
        raise DataError(f"candidates: {_every_bad_row(frame, law, k, row, err)}") from None
    return points, [f"candidates: {note}" for note in notes]


#: Bad rows named in one message; the rest are counted.
_BAD_ROWS_SHOWN = 5


def _every_bad_row(
    frame: pd.DataFrame, law: Any, k: float, row: Callable[[int], str], first: DataError
) -> str:
    """The bad rows in the candidates' order, each as the check of its own row says it, so
    that one message lists what to fix (the check of the whole table stops at the first it
    meets, column by column)."""
    found = []
    for i in range(len(frame)):
        try:
            forecast_points(
                law, frame.iloc[[i]].reset_index(drop=True), k, row=lambda _, i=i: row(i), notes=[]
            )
        except DataError as err:
            found.append(str(err))
    if len(found) <= 1:
        return str(first)  # a fault of the whole table, or of one row: as the check said it
    shown = found[:_BAD_ROWS_SHOWN]
    more = len(found) - len(shown)
    return (
        f"{len(found)} rows cannot be used, in order: "
        + ". Also ".join(shown)
        + (f". And {more} more row{'s' if more > 1 else ''} like them" if more else "")
    )


def _candidate_groups(fit: Fit, frame: pd.DataFrame, group: str | None) -> str | None:
    """Refuse candidates whose own group column puts them in another group than the one
    planned (they would be valued for it, and labelled as theirs); the new group's label."""
    from bayescale.hierarchy import NEW_GROUP

    by = [str(c) for c in fit.runs.group_by]
    labels = None
    if by and all(c in frame.columns for c in by):
        parts = [[str(v).strip() for v in frame[c]] for c in by]
        labels = ["/".join(values) for values in zip(*parts, strict=True)]
    where = f"column {by[0]!r}" if len(by) == 1 else f"columns {', '.join(map(repr, by))}"
    found = list(dict.fromkeys(labels or []))
    unseen = [label for label in found if label not in fit.groups]

    def as_new(names: Sequence[str], subject: bool = True) -> str:
        """The remedy for labels the fit has no group of: plan them as a new group."""
        one = len(names) == 1
        said = f"{', '.join(map(repr, names))} {'is' if one else 'are'} " if subject else ""
        return (
            f"{said}not {'a group' if one else 'groups'} of this fit (its groups: "
            f"{', '.join(fit.groups)}): plan {'it' if one else 'each in turn'} with "
            f"group='new', a group the fit has not seen (the label is kept as "
            f"attrs['group_label'])"
        )

    if group is None:
        hint = ""
        if len(found) == 1 and not unseen:
            hint = f"; the candidates' {where} says {found[0]!r}: pass group={found[0]!r}"
        elif len(found) == 1:
            hint = f"; the candidates' {where} says {found[0]!r}, {as_new(unseen, False)}"
        elif found:
            hint = (
                f"; the candidates' {where} holds {', '.join(found)}: plan one group at a time "
                f"(keep its rows and pass its name as group=)"
                + (f"; {as_new(unseen)}" if unseen else "")
            )
        raise DataError(
            f"this fit has groups ({', '.join(fit.groups)}); pass group= the one whose runs "
            f"you plan, or 'new' (on the command line: --group NAME){hint}"
        )
    if labels is None:
        return None
    index = frame.index
    if str(group) == NEW_GROUP:
        known = [i for i, label in enumerate(labels) if label in fit.groups]
        if known:
            groups = ", ".join(dict.fromkeys(labels[i] for i in known))
            raise DataError(
                f"candidates: {_rows_text(index, known)} {'is' if len(known) == 1 else 'are'} "
                f"of group {groups} by the "
                f"candidates' {where}, which the fit has; group='new' plans a group it has not "
                f"seen: pass their group as group=, or keep only the new group's rows"
            )
        if len(found) > 1:
            raise DataError(
                f"candidates: the candidates' {where} holds several new groups "
                f"({', '.join(found)}); group='new' values them as one: plan one at a time"
            )
        return found[0] if found else None
    other = [i for i, label in enumerate(labels) if label != str(group)]
    if other:
        named = list(dict.fromkeys(labels[i] for i in other))
        groups = ", ".join(named)
        fresh = [label for label in named if label not in fit.groups]
        raise DataError(
            f"candidates: {_rows_text(index, other)} ({len(other)} of {len(labels)}) "
            f"{'is' if len(other) == 1 else 'are'} of "
            f"group {groups} by the candidates' {where}, not of group {str(group)!r} planned: "
            f"a plan values every candidate for one group, so they would be valued for "
            f"{str(group)!r} and labelled {groups}; keep only the {str(group)!r} rows, or "
            f"plan each group in turn with its own group= (on the command line: --group NAME)"
            + (f"; {as_new(fresh)}" if fresh else "")
        )
    return None


def _duplicates(
    points: pd.DataFrame, inputs: Sequence[str], runs: Runs | None, index: pd.Index
) -> list[str]:
    """Notes on candidates that repeat a run the fit has, or another candidate."""

    def key(values: np.ndarray) -> tuple[float, ...]:
        return tuple(float(f"{v:.9g}") for v in values)

    def where(i: int) -> str:
        return ", ".join(
            f"{n}={format_number(float(points[n].iloc[i]), size_kind(n))}" for n in inputs
        )

    keys = [key(row) for row in points[list(inputs)].to_numpy(float)]
    notes = []
    if runs is not None:
        try:
            taken = {key(r) for r in np.column_stack([runs.x(n) for n in inputs])}
        except (DataError, KeyError):
            taken = set()
        hits = [i for i, k in enumerate(keys) if k in taken]
        if hits:
            one = len(hits) == 1
            notes.append(
                f"{_rows_with(index, hits, where)} repeat{'s a run' if one else ' runs'} the "
                f"fit already has: such a run adds only a replicate's noise; "
                f"remove {'it' if one else 'them'} unless a replicate is meant"
            )
    first: dict[tuple[float, ...], int] = {}
    copies = []
    for i, k in enumerate(keys):
        if k in first:
            copies.append(i)
        else:
            first[k] = i
    if copies:
        row = _row_namer(index)
        notes.append(
            f"{_rows_with(index, copies, lambda j: f'{where(j)}, as {row(first[keys[j]])}')} "
            f"repeat{'s' if len(copies) == 1 else ''} the inputs of another candidate; a "
            f"batch may choose both, as a replicate with fresh noise: remove the copies unless "
            f"replicates are meant"
        )
    if not index.is_unique:
        repeated = [repr(_label(v)) for v in index[index.duplicated()].unique()[:5]]
        notes.append(
            f"the candidates' labels repeat ({', '.join(repeated)}): the table's candidate "
            f"column cannot tell those rows apart; give each row its own label "
            f"(candidates.reset_index(drop=True))"
        )
    return notes


def _candidate_slips(
    points: pd.DataFrame, runs: Runs, index: pd.Index, keep: bool, swaps: bool
) -> tuple[np.ndarray, list[str]]:
    """The candidates that look like a slip, checked as forecast points are, and the
    warnings that name them: ``""``, ``"below"`` (N, D or C far below every run) or
    ``"swapped"`` (N and D the wrong way round; checked only when ``swaps``) for each.

    A run far below the runs (N = 3 for 3B) costs next to nothing and seems to teach much
    (the law's curve is steep there): it would win the ranking, so it is left out of the
    choice unless ``keep``. A swap keeps the cost (N D is the same) and is only warned
    about: a run with few tokens per parameter may be meant, off the compute-optimal
    frontier, to learn its curvature.
    """
    row = _row_namer(index)
    kind = np.full(len(points), "", dtype=object)
    notes = []
    swapped = swapped_sentence(points, runs, "candidate", row) if swaps else None
    if swapped is not None:
        odd = swapped_points(points, runs)
        kind[odd] = "swapped"
        notes.append(
            f"candidates: {swapped}; {_rows_text(index, odd.tolist())} "
            f"{'is' if len(odd) == 1 else 'are'} valued as given and may be chosen (a swap "
            f"keeps the cost): swap {'its' if len(odd) == 1 else 'their'} N and D if so"
        )
    below = below_sentence(points, runs, "candidate", row)
    if below is not None:
        odd = below_points(points, runs)
        kind[odd] = "below"
        one = len(odd) == 1
        named = _rows_text(index, odd.tolist())
        if keep:
            tail = (
                f"{named} {'is' if one else 'are'} valued and may be chosen as given "
                f"(keep_slips=True)"
            )
        else:
            tail = (
                f"{named} {'is' if one else 'are'} left out of the choice (valued in the table, "
                f"never chosen): fix {'its' if one else 'their'} units, or pass keep_slips=True "
                f"if {'it is' if one else 'they are'} meant as given"
            )
        notes.append(f"candidates: {below}; {tail}")
    return kind, notes


def _target_slips(points: pd.DataFrame, runs: Runs) -> list[str]:
    """The forecast points' slip checks for the target (a plan for N = 70 when 70B was
    meant values every run for the wrong question)."""
    found = (swapped_sentence(points, runs), below_sentence(points, runs))
    return [
        f"target: {s}; fix the target (N in parameters: 7e10 or '70B'), or plan as given"
        for s in found
        if s is not None
    ]


def _target_costs(
    target: pd.DataFrame, cost: str | Sequence[float] | np.ndarray | None, label: str, k: float
) -> np.ndarray | None:
    """What a run at each target point would cost by the candidates' cost model; None when
    the model cannot say (costs given one per candidate, or a formula of columns the target
    has not)."""
    if label == COST_FROM_COLUMN or not (cost is None or isinstance(cost, str)):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _costs(target, cost, k)[0]
    except (DataError, FormulaError):
        return None


def _reaches_target(
    points: pd.DataFrame, costs: np.ndarray, target: pd.DataFrame, target_costs: np.ndarray | None
) -> np.ndarray:
    """Candidates that cost at least as much as a run at a target point, or lie at or beyond
    one in N and D: training one is the decision itself, not a step towards it."""
    out = np.zeros(len(points), dtype=bool)
    if {"N", "D"} <= set(target.columns) and {"N", "D"} <= set(points.columns):
        tol = 1 - 1e-9
        for n, d in target[["N", "D"]].to_numpy(float):
            out |= (points["N"].to_numpy(float) >= n * tol) & (
                points["D"].to_numpy(float) >= d * tol
            )
        if target_costs is not None and len(target_costs):
            out |= costs >= float(np.min(target_costs)) * tol
    return out


def _decision_itself_note(
    chosen: Sequence[int],
    reaches: np.ndarray,
    points: pd.DataFrame,
    inputs: Sequence[str],
    costs: np.ndarray,
    label: str,
    target: pd.DataFrame,
    target_costs: np.ndarray | None,
    index: pd.Index,
) -> str | None:
    """The warning for chosen runs that cost as much as the target run or reach it."""
    flagged = [j for j in chosen if reaches[j]]
    if not flagged:
        return None

    def where(j: int) -> str:
        at = ", ".join(
            f"{n}={format_number(float(points[n].iloc[j]), size_kind(n))}" for n in inputs
        )
        return f"{at}; costs {format_number(float(costs[j]), 'short', 3)}"

    t = int(np.argmin(target_costs)) if target_costs is not None and len(target_costs) else 0
    at = ", ".join(
        f"{n}={format_number(float(target[n].iloc[t]), size_kind(n))}" for n in ("N", "D")
    )
    run = (
        f", which costs {format_number(float(target_costs[t]), 'short', 3)} by {label}"
        if target_costs is not None and len(target_costs)
        else ""
    )
    one = len(flagged) == 1
    return (
        f"{_rows_with(index, flagged, where)}, chosen, {'costs' if one else 'cost'} at least "
        f"as much as a run at the target itself (point {t + 1}: {at}{run}), or "
        f"{'lies' if one else 'lie'} at or beyond it in N and D: "
        f"{'this run is' if one else 'these runs are'} the decision itself, not a step "
        f"towards it (once trained, the forecast is moot); train "
        f"the target run instead, or remove such candidates and plan again"
    )


def _checked_options(
    budget: Any, batch: Any, fantasies: Any, max_draws: Any, min_ess: Any
) -> float | None:
    """Refuse options out of range, naming them; the budget as a number."""

    def whole(value: Any) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)

    if not whole(batch) or batch < 1:
        raise DataError(f"batch = {batch!r}: give the number of runs to choose, 1 or more")
    if not whole(fantasies) or fantasies < 2:
        raise DataError(
            f"fantasies = {fantasies!r}: give a whole number, 2 or more (32 is the default)"
        )
    if max_draws is not None and (not whole(max_draws) or max_draws < MIN_DRAWS):
        # Fewer draws cannot hold the posterior's spread: the law's variance, weighed by a
        # handful of draws, is about nil, and every run would seem to teach nothing.
        raise DataError(
            f"max_draws = {max_draws!r}: give a whole number of posterior draws, {MIN_DRAWS} "
            f"or more ({DEFAULT_MAX_DRAWS} is the default), or None for all the fit's"
        )
    if min_ess is not None and (
        isinstance(min_ess, bool | np.bool_)
        or not isinstance(min_ess, int | float | np.integer | np.floating)
        or not (np.isfinite(min_ess) and min_ess > 0)
    ):
        raise DataError(
            f"min_ess = {min_ess!r}: give a positive number of draws, or None for the default "
            f"(max(20, 2% of the draws))"
        )
    if budget is None:
        return None
    try:
        if isinstance(budget, bool | np.bool_):
            raise TypeError(budget)
        value = parse_quantity(budget) if isinstance(budget, str) else float(budget)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise DataError(
            f"budget = {budget!r}: give a positive number in the cost's units (1e21, or as "
            f"bayescale prints it: '1e21')"
        )
    return value


# --------------------------------------------------------------------------- weighted moments


def _weighted_variance(w: np.ndarray, q: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Mean over targets of the weighted variance; ``w`` (F, J, S), ``q`` (G, S, T) with G
    1 (draws shared by every world) or F (each world's own)."""
    mean = w @ q
    return np.maximum(w @ q2 - mean**2, 0.0).mean(axis=-1)


def _weighted_width(
    w: np.ndarray, sorted_q: np.ndarray, order: np.ndarray, extra: np.ndarray | None = None
) -> np.ndarray:
    """Mean over targets of the weighted 90% equal-tailed interval width; ``w`` (F, J, S),
    ``sorted_q`` and ``order`` (G, S, T) as in :func:`_weighted_variance`.

    ``extra`` (J, T) or (T,), a variance added at each target (the discrepancy's), widens
    each width as an independent normal term would: ``sqrt(width^2 + (2 z_0.95)^2 extra)``.
    """
    low, high = (1 - _INTERVAL) / 2, (1 + _INTERVAL) / 2
    widths = []
    last = w.shape[-1] - 1
    shared = len(order) == 1
    world = 0 if shared else np.arange(len(w))[:, None]
    for t in range(sorted_q.shape[-1]):
        if shared:
            ranked = w[..., order[0, :, t]]
        else:
            ranked = np.take_along_axis(w, order[:, None, :, t], axis=-1)
        cw = np.cumsum(ranked, axis=-1)
        i_low = np.minimum((cw < low).sum(axis=-1), last)
        i_high = np.minimum((cw < high).sum(axis=-1), last)
        width = sorted_q[world, i_high, t] - sorted_q[world, i_low, t]
        if extra is not None:
            width = np.sqrt(width**2 + _Z_WIDTH**2 * extra[..., t])
        widths.append(width)
    return np.mean(widths, axis=0)


def _normalized(log_w: np.ndarray) -> np.ndarray:
    """Weights from log weights along the last axis (all zero where every one is -inf)."""
    top = np.max(log_w, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        w = np.exp(log_w - np.where(np.isfinite(top), top, 0.0))
    total = w.sum(axis=-1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def _ess(w: np.ndarray) -> np.ndarray:
    return 1.0 / np.sum(w**2, axis=-1)


# --------------------------------------------------------------------------- the target


def _table_of(given: Any, what: str) -> pd.DataFrame:
    """Candidates or targets as a DataFrame: a mapping's scalars broadcast with its lists.

    Cells are kept as given (text too): :func:`_numbers` reads them, naming a bad one.
    """
    if isinstance(given, pd.DataFrame):
        return given.copy()
    if isinstance(given, Mapping) and given:
        values = {str(k): np.atleast_1d(np.asarray(v, dtype=object)) for k, v in given.items()}
        size = max(len(v) for v in values.values())
        odd = [k for k, v in values.items() if v.ndim != 1 or len(v) not in (1, size)]
        if odd:
            raise DataError(
                f"{what}: every input needs numbers of one length (or single numbers), "
                f"e.g. {{'N': [1e8, 1e9], 'D': 2e10}}; {odd[0]} has "
                f"{values[odd[0]].shape[0] if values[odd[0]].ndim else 0} against {size}"
            )
        frame = pd.DataFrame({k: np.broadcast_to(v, (size,)) for k, v in values.items()})
        return frame.infer_objects()
    raise DataError(
        f"{what} must be a DataFrame or a mapping of inputs such as "
        f"{{'N': 7e10, 'D': 1.4e12}}, not {type(given).__name__}"
    )


def _target_table(target: Any, law: Any, k: float) -> tuple[pd.DataFrame, list[str]]:
    """The target points as numbers ('70B' read, the triad completed), refusing a name that
    is not an input; budgets alone (``C``) as numbers."""
    frame = _table_of(target, "target").reset_index(drop=True)
    if frame.empty:
        raise DataError("target: no point given; give e.g. {'N': 7e10, 'D': 1.4e12}")
    known = [*law.inputs, *(n for n in ("N", "D", "C") if n not in law.inputs)]
    unknown = [str(c) for c in frame.columns if str(c) not in known]
    if unknown:
        match = closest(unknown[0], known)
        hint = f"; did you mean {match}?" if match is not None else ""
        raise DataError(
            f"target: {', '.join(unknown)} is not an input of law {law.name!r} (its inputs: "
            f"{', '.join(law.inputs)}; of N, D, C any two are enough){hint}"
        )
    if _missing_inputs(frame.columns, law):
        return _budgets(frame, law), []  # budgets alone: no point to forecast at
    notes: list[str] = []
    try:
        points = forecast_points(law, frame, k, row=_point, notes=notes)
    except DataError as err:
        raise DataError(f"target: {err}") from None
    return points, [f"target: {note}" for note in notes]


def _criterion_of(criterion: str, target: pd.DataFrame, inputs: Sequence[str]) -> str:
    if criterion == "auto":
        only_budget = set(target.columns) == {"C"} and "C" not in inputs
        return "optimal_N" if only_budget else "loss"
    if criterion not in CRITERIA:
        raise DataError(
            f"criterion {criterion!r} is unknown; use 'auto', {', '.join(map(repr, CRITERIA))}"
        )
    return criterion


def _target_draws(
    fit: Fit,
    params: Mapping[str, np.ndarray],
    target: pd.DataFrame,
    criterion: str,
    fixed: Mapping[str, float] | None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """The quantity whose uncertainty is reduced, per draw and target: shape (S, T)."""
    law = fit.law
    k = fit.runs.compute_factor
    if criterion == "loss":
        # Checked as points already (notes said there), unless budgets alone: then refused.
        points = forecast_points(law, target, k, row=_point, notes=[])
        theta = {name: params[name][:, None] for name in law.parameters}
        inputs = {name: points[name].to_numpy(float)[None, :] for name in law.inputs}
        return np.asarray(law_mu(law, theta, inputs), dtype=float), points
    from bayescale.planning import optimum_draws

    if "C" not in target.columns:
        raise DataError(
            "criterion 'optimal_N' needs target budgets, e.g. target={'C': 1e23} (FLOPs); "
            f"the target has {', '.join(map(str, target.columns))}"
        )
    budgets = target["C"].to_numpy(float)
    plan = optimum_draws(law, {n: params[n] for n in law.parameters}, budgets, k, fixed)
    return np.log(plan["N"]), pd.DataFrame({"C": budgets})


# --------------------------------------------------------------------------- the estimators


def _noise_variance(fit: Fit, noise: Mapping[str, np.ndarray]) -> float:
    """Posterior mean of the noise variance (Student-t: ``sigma^2 nu / (nu - 2)``, nu > 2)."""
    var = noise["sigma"] ** 2
    if "nu" in noise:
        nu = np.maximum(noise["nu"], 2.5)  # heavier tails have no variance: cap them
        var = var * nu / (nu - 2.0)
    return float(np.mean(var))


def _gaussian_gain(
    mu: np.ndarray, q: np.ndarray, chosen: Sequence[int], candidates: np.ndarray, noise_var: float
) -> np.ndarray:
    """Linear-Gaussian expected reduction of q's variance (mean over targets) by each candidate,
    given the runs chosen before."""
    qc = q - q.mean(axis=0)
    mc = mu - mu.mean(axis=0)
    n = len(q)
    var_q = (qc**2).sum(axis=0) / (n - 1)

    def after(runs: list[int]) -> float:
        if not runs:
            return float(var_q.mean())
        m = mc[:, runs]
        cov_mm = m.T @ m / (n - 1) + noise_var * np.eye(len(runs))
        cov_qm = qc.T @ m / (n - 1)
        explained = np.einsum("tr,tr->t", cov_qm, np.linalg.solve(cov_mm, cov_qm.T).T)
        return float(np.maximum(var_q - explained, 0.0).mean())

    now = after(list(chosen))
    return np.array([now - after([*chosen, int(j)]) for j in candidates])


class _RangeTerm:
    """The discrepancy's variance at the targets as chosen runs widen the runs' range.

    A fit with a discrepancy (:mod:`bayescale.discrepancy`) says its law may be off by
    ``s0^2 + s^2 d^2`` in variance at a target ``d`` e-folds beyond the runs' range. A run
    nearer the target shortens ``d`` for the refit: that is a reduction of the forecast's
    uncertainty the law's posterior variance does not see. The slopes' posterior is kept as
    it is (the refit's backtests would update it too).
    """

    def __init__(
        self,
        discrepancy: Discrepancy,
        criterion: str,
        targets: pd.DataFrame,
        candidates: pd.DataFrame,
        compute_factor: float,
    ) -> None:
        plan = criterion == "optimal_N"
        self.offset2, self.slope2 = discrepancy.variance_terms(plan=plan)
        names = ["C"] if plan else list(discrepancy.log_max)
        #: The inputs the distance beyond the runs is measured along.
        self.names = names
        #: The fitted runs' log range, (low, high), each of shape (inputs,).
        self.start = (
            np.array([discrepancy.log_min[n] for n in names]),
            np.array([discrepancy.log_max[n] for n in names]),
        )
        self.targets = self._logs(targets, names, compute_factor, "target")
        self.candidates = self._logs(candidates, names, compute_factor, "candidates")

    @staticmethod
    def _logs(frame: pd.DataFrame, names: list[str], k: float, what: str) -> np.ndarray:
        # Only the inputs: a table may carry labels and costs beside them.
        known = {*names, "N", "D", "C"}
        logs = log_inputs(
            {str(c): frame[c].to_numpy(float) for c in frame.columns if str(c) in known}, names, k
        )
        missing = [n for n in names if n not in logs]
        if missing:
            raise DataError(
                f"the fit's discrepancy measures distance beyond the runs along "
                f"{', '.join(names)}: give {', '.join(missing)} in the {what} too"
            )
        return np.stack([logs[n] for n in names], axis=-1)  # (rows, inputs)

    def variance(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Variance at each target given a log range: (T,) for a range of shape (K,), (J, T)
        for J ranges of shape (J, K)."""
        beyond = np.maximum(self.targets - high[..., None, :], low[..., None, :] - self.targets)
        d = np.maximum(beyond, 0.0).max(axis=-1)
        return self.offset2 + self.slope2 * d**2

    def widened(
        self, low: np.ndarray, high: np.ndarray, idx: np.ndarray | int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The range with candidate ``idx`` added (one range per candidate for an array)."""
        c = self.candidates[idx]
        return np.minimum(low, c), np.maximum(high, c)


def _extrapolation(
    fit: Fit, targets: pd.DataFrame, criterion: str
) -> tuple[float | None, list[str], str | None, np.ndarray | None]:
    """E-folds by which the farthest target lies outside the fit's runs (C for optimal_N),
    the inputs along which it does (those whose distance is the largest), on which side
    (``"beyond"``, or ``"below"`` when below the runs along every one of them), and each
    target's distance."""
    log_min, log_max = log_ranges(fit.runs, list(fit.law.inputs))
    if criterion == "optimal_N":
        log_min = {n: v for n, v in log_min.items() if n == "C"}
        log_max = {n: v for n, v in log_max.items() if n == "C"}
    if not log_max:
        return None, [], None, None
    points = {str(c): targets[c].to_numpy(float) for c in targets.columns}
    logs = log_inputs(points, list(log_max), fit.runs.compute_factor)
    if set(log_max) - set(logs):  # a target without an input the runs range over
        return None, [], None, None
    beyond = {
        n: np.maximum(np.maximum(logs[n] - log_max[n], log_min[n] - logs[n]), 0.0) for n in logs
    }
    d = np.max(np.stack(list(beyond.values())), axis=0)
    far = int(np.argmax(d))
    along = [n for n, b in beyond.items() if d[far] > 0 and b[far] >= d[far] - 1e-9]
    below = bool(along) and all(logs[n][far] < log_min[n] for n in along)
    return float(d[far]), along, "below" if below else "beyond", d


def _discrepancy_note(
    term: _RangeTerm,
    end: tuple[np.ndarray, np.ndarray],
    shares: tuple[float, float],
    costs: np.ndarray,
    chosen: Sequence[int],
    budget: float | None,
    points: pd.DataFrame,
    inputs: Sequence[str],
    index: pd.Index,
    eligible: np.ndarray,
) -> str:
    """What the discrepancy's part of the target's variance is, and what would shorten it:
    the inputs along which the farthest target lies beyond the runs (as the plan leaves
    them), and the cheapest candidate that would bring the runs nearer."""
    low, high = end

    def share(value: float) -> str:
        return ">99%" if 0.99 < value < 1 else f"{value:.0%}"

    before, after = shares
    text = (
        f"the law's discrepancy beyond the runs is {share(after)} of the target's variance "
        f"after this plan ({share(before)} before)"
    )
    beyond = np.maximum(np.maximum(term.targets - high, low - term.targets), 0.0)  # (T, K)
    d = beyond.max(axis=1)
    far = int(np.argmax(d))
    if d[far] <= 0:
        return (
            f"{text}: the target lies within the runs' range, and this part (the "
            f"discrepancy's offset) no run removes"
        )

    def shown(name: str, log_value: float) -> str:
        return format_number(math.exp(log_value), size_kind(name))

    where, need, flagged = [], [], []
    for k, name in enumerate(term.names):
        if beyond[far, k] < d[far] - 1e-9:
            continue
        flagged.append(k)
        above = term.targets[far, k] > high[k]
        edge = high[k] if above else low[k]
        side = ("largest", "above") if above else ("smallest", "below")
        where.append(
            f"{name} ({shown(name, term.targets[far, k])} against {shown(name, edge)}, the "
            f"{side[0]} of the runs{' and the plan' if len(chosen) else ''})"
        )
        need.append(f"{name} {side[1]} {shown(name, edge)}")
    side = "below" if all(term.targets[far, k] < low[k] for k in flagged) else "beyond"
    text += (
        f": the target lies {d[far]:.1f} e-folds {side} the runs' range"
        f"{' as this plan leaves it' if len(chosen) else ''}, in {' and '.join(where)}, and only "
        f"runs with {' and '.join(need)} shorten that"
    )
    now = float(term.variance(low, high).mean())
    after_each = term.variance(*term.widened(low, high, np.arange(len(costs)))).mean(axis=1)
    helps = (after_each < now * (1 - 1e-9)) & eligible
    helps[list(chosen)] = False
    if not helps.any():
        return f"{text}. No candidate does: add candidates with {' and '.join(need)}"
    j = int(np.flatnonzero(helps)[np.argmin(costs[helps])])
    at = ", ".join(f"{n}={format_number(float(points[n].iloc[j]), size_kind(n))}" for n in inputs)
    text += (
        f". The cheapest candidate that does, {_row_namer(index)(j)} ({at}), costs "
        f"{format_number(float(costs[j]), 'flops')}"
    )
    if budget is not None and costs[j] > budget:
        text += (
            f", more than the budget ({format_number(budget, 'flops')}): no run within it can "
            f"shorten this part, the most of the target's uncertainty"
        )
    return text


def _se(gains: np.ndarray) -> np.ndarray:
    """Monte Carlo standard error of the mean over the fantasy worlds (axis 0)."""
    return gains.std(axis=0, ddof=1) / math.sqrt(gains.shape[0])


def _se_text(fantasies: int, draws: int, total: int) -> str:
    """What the standard errors cover, in words."""
    if draws < total:
        return (
            f"over {fantasies} fantasy worlds, each reweighting its own random {draws} of the "
            f"fit's {total} draws: the error of the subsets is included"
        )
    return f"over {fantasies} fantasy worlds, each reweighting all {total} of the fit's draws"


def _nothing_to_choose_note(
    alone: Mapping[str, Any],
    measure: str,
    pool: np.ndarray,
    budget: float | None,
    index: pd.Index,
    fantasies: int,
    var_before: float,
    width_before: float,
) -> str:
    """Why no run was chosen though some are affordable: every expected reduction is zero
    or below; within Monte Carlo noise of zero (a run may still teach a little, which more
    fantasies would tell), or surely so."""
    within = " within the budget" if budget is not None else ""
    gain = np.asarray(alone[f"{measure}_reduction"], dtype=float)
    se = np.asarray(alone[f"{measure}_reduction_se"], dtype=float)
    which = np.flatnonzero(pool & np.isfinite(gain))
    # An expected posterior variance cannot truly rise: a reduction below zero is the Monte
    # Carlo estimate's error, and within two standard errors of zero it says nothing.
    noisy = which[np.isfinite(se[which]) & (gain[which] + 2 * se[which] >= 0)]
    if len(which) and len(noisy) == len(which):
        best = int(which[np.argmax(gain[which])])
        before = var_before if measure == "variance" else width_before
        more = max(4 * fantasies, 128)
        return (
            f"no candidate{within} is expected to shorten the target's uncertainty, but every "
            f"expected reduction{within} is within Monte Carlo noise of zero (the largest, "
            f"{_row_namer(index)(best)}'s, is {100 * gain[best] / before:.2g}% ± "
            f"{100 * se[best] / before:.2g}% of the {measure}): these runs may teach the "
            f"target a little, which {fantasies} fantasies cannot tell from nothing; more "
            f"fantasies tell (fantasies={more}), or try candidates nearer the target"
        )
    return (
        f"no candidate{within} is expected to shorten the target's uncertainty (every "
        f"expected reduction{within} is zero or below): what these runs would show does not "
        f"bear on the target; try candidates nearer the target, or check the target"
    )


def _short_batch_note(
    run: Mapping[str, Any],
    batch: int,
    budget: float | None,
    costs: np.ndarray,
    index: pd.Index,
    eligible: np.ndarray,
) -> str:
    """Why a batch came back with fewer runs than asked, candidates remaining."""
    chosen = run["chosen"]
    n = len(chosen)
    head = f"batch = {batch} but {n} run{'s were' if n > 1 else ' was'} chosen: "
    others = eligible.copy()
    others[chosen] = False
    if not others.any():
        return head + (
            "the other candidates are left out as likely units slips (warned above); fix "
            "them, or pass keep_slips=True"
        )
    if run["stop"] == "budget":
        return head + (
            f"the budget {budget:g} affords no other candidate ({run['spent']:g} spent; the "
            f"cheapest of the others costs {costs[others].min():g}); raise the budget or add "
            f"cheaper candidates"
        )
    within = ""
    if budget is not None:
        within = " that the budget still affords"
    return head + (
        f"given {'it' if n == 1 else 'them'}, no other candidate{within} is expected to reduce "
        f"the target's uncertainty further (every marginal reduction is zero or below: "
        f"Monte Carlo noise around little left to learn from them); add candidates nearer the "
        f"target, or more fantasies to tell a small reduction from noise"
    )


def recommend(
    fit: Fit,
    candidates: pd.DataFrame | Mapping[str, Any],
    target: pd.DataFrame | Mapping[str, Any],
    *,
    cost: str | Sequence[float] | np.ndarray | None = None,
    budget: float | str | None = None,
    batch: int = 1,
    criterion: str = "auto",
    measure: str = "variance",
    fixed: Mapping[str, float] | None = None,
    fantasies: int = 32,
    max_draws: int | None = DEFAULT_MAX_DRAWS,
    min_ess: float | None = None,
    method: str = "auto",
    strategy: str = "auto",
    discrepancy: bool = True,
    group: str | None = None,
    seed: int | None = None,
    keep_slips: bool = False,
) -> pd.DataFrame:
    """Recommend the next run(s): the most expected reduction of uncertainty per unit cost.

    Parameters
    ----------
    fit : Fit
        The posterior of the law given the runs so far.
    candidates : DataFrame or mapping
        The runnable candidates, one row each, with a column per input of the law (of N, D
        and C two are enough) and any column the cost uses. Numbers may be text as
        bayescale prints them (``"70B"``). A row is named by its index label, in the table's
        ``candidate`` column and in messages (``candidate 3``; with an index named, e.g.
        ``line``, ``line 5``). For a fit with groups, candidates that carry the runs' group
        column must all be of ``group``.
    target : DataFrame or mapping
        What to be surer of: points of the law's inputs (``{"N": 7e10, "D": 1.4e12}``, a
        region as several points; ``"70B"`` and ``"1.4T"`` are read as numbers) for
        ``criterion="loss"``; budgets ``{"C": [1e23]}`` for ``criterion="optimal_N"``. A
        name that is not an input of the law (nor N, D, C) is refused.
    cost : str, sequence of float, optional
        The cost model: a formula of the candidates' columns (``"6*N*D"``, ``"gpu_hours"``),
        or one cost per candidate. Default: the candidates' column ``cost`` if they have
        one (``attrs["cost"]`` then says "the candidates' column cost"), else ``k N D`` with
        ``k`` the runs' compute factor.
    budget : float or str, optional
        Most the chosen runs may cost together (in the cost's units; ``"1e21"`` is read as
        a number); a candidate costing more is never chosen. Default: no limit. Within a
        budget the default strategy keeps the better of the choices by reduction per unit
        cost and by reduction (see ``strategy``). If every candidate costs more, a warning
        says so and none is chosen.
    batch : int, default 1
        Most runs to choose, greedily, each given the fantasised outcomes of those before.
    criterion : {"auto", "loss", "optimal_N"}, default "auto"
        What the uncertainty is of (see :data:`CRITERIA`); ``auto`` is ``optimal_N`` when
        the target gives only budgets ``C``, else ``loss``.
    measure : {"variance", "width"}, default "variance"
        What is reduced: the posterior variance, or the width of the 90% credible interval
        (mean over the targets). Both are reported; this one ranks. With the fit's
        discrepancy, both include it (see the module's notes).
    fixed : mapping, optional
        For ``optimal_N``: values of the law's inputs besides N and D (e.g. ``U``).
    fantasies : int, default 32
        Fantasy worlds (simulated outcomes) per candidate: the replicates of the Monte Carlo
        estimates, whose error shrinks as ``1/sqrt(fantasies)``; the time grows in proportion.
    max_draws : int or None, default 4000
        Posterior draws each world reweights: all of a fit with at most this many (a default
        fit, 4 chains x 1000, uses all of its); a larger fit gives each world its own random
        subset of this many, whose error the standard errors then include. None: all draws.
        The time grows in proportion.
    min_ess : float, optional
        Effective sample size of the importance weights below which a candidate's estimate
        falls back to the linear-Gaussian one; default ``max(20, 2% of the draws)``.
    method : {"auto", "reweight", "gaussian"}, default "auto"
        ``reweight``: importance reweighting only (collapsed weights are kept, with a
        warning); ``gaussian``: the linear-Gaussian estimate only; ``auto``: reweighting,
        with the fallback.
    strategy : {"auto", "per_cost", "reduction", "better"}, default "auto"
        How the batch is chosen greedily: ``per_cost``, by expected reduction per unit cost;
        ``reduction``, by expected reduction among the runs the budget still affords;
        ``better``, both, keeping the one that ends with the smaller uncertainty (within a
        budget, ranking by ratio alone can fill it with cheap runs that teach little; the
        better of the two has a constant-factor guarantee, Leskovec et al. 2007). ``auto``
        is ``better`` with a budget (for one run too: the run that teaches most among those
        the budget affords, unless the cheapest per unit of reduction ends as sure), else
        ``per_cost``. ``attrs["strategy"]`` says which greedy choice was kept.
    discrepancy : bool, default True
        Count the fit's discrepancy (if it has one) in the uncertainty to reduce, so that a
        run nearer the target is also valued for shortening the extrapolation. False: the
        law's posterior uncertainty alone (the fit's forecasts keep their discrepancy either
        way). A trade (``bench/recommend.md``, Li et al.'s scalebench tasks at 5% and 10% of
        the pool's compute): counting the discrepancy chose runs whose fits' 90% intervals
        were narrower (farseer at 10%: 1.7% of the loss against 3.1%), both covering at least
        90% of the larger held-out runs; the law's uncertainty alone chose runs whose fits
        forecast them about as well or better (R^2 0.917 against 0.913 there; 0.957 against
        0.929 on data_constrained).
    group : str, optional
        For a hierarchical fit: the group whose runs are planned (``"new"`` allowed); the
        joint posterior's draws are reweighted, so the other groups learn through the
        pooled parameters too.
    seed : int, optional
        Seed of the fantasies (and of the draws' subsets); default the fit's seed. The
        expected reductions are Monte Carlo averages over the fantasies: another seed moves
        them by about their standard errors (``*_se``), and may flip the order of two
        candidates whose ``difference`` is within about two of its ``difference_se``.
    keep_slips : bool, default False
        Let candidates far below every run be chosen. Candidates are checked as forecast
        points are, each finding a :class:`~bayescale.errors.SlipWarning` naming the rows:
        N, D or C more than 1000x below the smallest run's
        (:func:`bayescale.data.below_points`), and, for ``criterion="loss"``, N and D
        swapped (:func:`bayescale.data.swapped_points`). A run far below the runs (N = 3
        for 3B) costs next to nothing and seems to teach much, so it would win the ranking:
        by default it is valued in the table and never chosen. A swap keeps the cost and is
        only warned about (a run off the compute-optimal frontier may be meant).

    Returns
    -------
    pandas.DataFrame
        One row per candidate, the chosen ones first in the order chosen, then those the
        budget affords alone before those it does not, each by value per cost (by the
        ranking measure's reduction when the batch was chosen by reduction within a budget),
        then the likely slips of units left out: ``candidate`` (the row label in
        ``candidates``), the candidates' columns (one named as a column below is kept as
        ``<name>_candidates``, with a warning; ``attrs["renamed_columns"]``), ``cost``,
        ``affordable`` (within the budget by itself; True without one), ``slip`` (``""``;
        ``"below"``, far below every run, left out of the choice unless ``keep_slips``; or
        ``"swapped"``, N and D the wrong way round, by the forecasts' checks, warned only),
        ``reaches_target`` (costs at least as much as
        a run at a target point by the same cost model, or lies at or beyond one in N and D:
        a chosen one is warned about, as the decision itself), ``variance_reduction`` and
        ``width_reduction`` (expected, if this run alone were added; absolute, in the
        squared and plain units of the target's quantity: log loss, or log N) each with its
        Monte Carlo standard error over the fantasies (``variance_reduction_se``,
        ``width_reduction_se``; NaN for the linear-Gaussian estimate, which is not an
        average over them), ``value_per_cost`` (the ranking measure's reduction per unit
        cost), ``ess`` (mean effective sample size of the weights), ``estimate``
        (``"reweight"`` or ``"gaussian"``), ``chosen`` and ``order`` (1, 2 ... in the batch,
        0 otherwise), ``marginal_reduction`` and ``marginal_reduction_se`` (the ranking
        measure's reduction when chosen, given the runs chosen before: a run may be chosen
        for it though its reduction alone is zero or below), ``marginal_within_noise`` (a
        chosen run whose marginal reduction is within two of its standard errors of zero),
        ``difference`` and ``difference_se`` (the value that ranked, ``value_per_cost`` or,
        for the greedy choice by reduction, the reduction, minus the first chosen run's, and
        its standard error paired over the same worlds; NaN if none was chosen). ``attrs``
        holds ``criterion`` (in words), ``measure``, ``target`` (records),
        ``variance_before``, ``width_before``, ``variance_after`` and
        ``width_after`` (expected, after the whole batch), ``strategy`` (the greedy choice
        kept: ``per_cost`` or ``reduction``), ``strategy_rule`` (``per_cost``,
        ``reduction`` or ``better``, ``auto`` resolved), ``spent``, ``budget``, ``batch``,
        ``cost`` (the cost model, e.g. ``6*N*D``) and ``cost_units``, ``compute_factor``,
        ``seed`` (the one used), ``group`` (None without groups) and ``group_label`` (a new
        group's name in the candidates' group column), ``fixed``, ``draws`` (per world),
        ``posterior_draws`` (the fit's), ``standard_errors`` (what they cover, in words),
        ``fantasies``, ``marginal_within_noise`` (the labels of those runs), ``law`` and
        ``warnings`` (also issued as ``UserWarning``: among them candidates that repeat a
        run or each other, a batch shorter than asked and why, chosen runs that reach the
        target, and, when the discrepancy is most of the target's variance after the plan,
        what would shorten it; as a :class:`~bayescale.errors.SlipWarning`, candidates or
        target points that look like a slip of units, checked as forecast points are; as an
        :class:`~bayescale.errors.ExtrapolationWarning`, target points far beyond what the
        discrepancy's backtests checked); with a fit's
        discrepancy, the variances and widths include it, ``discrepancy`` says so and
        ``discrepancy_variance_before`` and ``discrepancy_variance_after`` give its part
        (mean over the targets); ``extrapolation``, the e-folds by which the farthest target
        lies outside the runs' range (in C for ``optimal_N``; None if it cannot be measured),
        ``extrapolation_along``, the inputs along which it does, and ``extrapolation_side``
        (``"beyond"`` or ``"below"``); ``slips_left_out`` (labels) and ``keep_slips``;
        ``caveats``, sentences on what the plan rests on (backtest refits behind the
        discrepancy it counts that failed their diagnostics); ``diagnostics_ok`` and,
        from a fit that failed its diagnostics, ``warning`` (also issued once per fit as a
        ``UserWarning``).

    Raises
    ------
    DataError
        If the candidates or the target lack an input or hold a cell that is not a finite
        number (> 0 where the law takes its logarithm), naming the row; the target names a
        name that is not an input; candidates are of another group than ``group``; a cost
        is not positive; or an option is out of range (the message names it).
    FormulaError
        If the cost formula is not valid.

    Examples
    --------
    >>> import bayescale
    >>> fit = bayescale.fit(bayescale.demo_runs(), "chinchilla")  # doctest: +SKIP
    >>> grid = {"N": [1e8, 4e8, 1e9], "D": [2e9, 8e9, 2e10]}
    >>> table = recommend(fit, grid, target={"N": 7e10, "D": 1.4e12})  # doctest: +SKIP
    >>> table.loc[table["chosen"], ["N", "D", "cost"]]  # doctest: +SKIP
    """
    from bayescale.fitting import _outside_level
    from bayescale.hierarchy import NEW_GROUP
    from bayescale.planning import check_fixed
    from bayescale.settings import check_seed

    law = fit.law
    budget = _checked_options(budget, batch, fantasies, max_draws, min_ess)
    if measure not in MEASURES:
        raise DataError(f"measure {measure!r} is unknown; use 'variance' or 'width'")
    if strategy not in STRATEGIES:
        raise DataError(
            f"strategy {strategy!r} is unknown; use 'auto', 'per_cost', 'reduction' or 'better'"
        )
    if method not in ("auto", "reweight", "gaussian"):
        raise DataError(f"method {method!r} is unknown; use 'auto', 'reweight' or 'gaussian'")
    if not isinstance(discrepancy, bool | np.bool_):
        raise DataError(f"discrepancy = {discrepancy!r}: give True or False")
    fixed = check_fixed(law, fixed)
    frame = _table_of(candidates, "candidates")
    if len(frame) == 0:
        raise DataError("no candidates: give at least one row of inputs to choose from")
    index = frame.index
    if fit.pooling is not None and group is None:
        _candidate_groups(fit, frame, group)  # refused: says which group, from the rows
    view = fit.group(group) if group is not None else fit
    new_label = _candidate_groups(fit, frame, group) if fit.pooling is not None else None
    k = view.runs.compute_factor
    target_frame, notes = _target_table(target, law, k)
    criterion = _criterion_of(criterion, target_frame, list(law.inputs))
    points, found = _candidate_points(frame, law, k)
    notes += found
    # Each note's category: slips of units are SlipWarnings and a target far beyond the
    # backtests an ExtrapolationWarning, as forecasts warn them; the rest UserWarnings.
    kinds: dict[str, type[Warning]] = {}
    # Slips are judged against every run a fit has (a group's or a new group's plan too).
    slips = _target_slips(target_frame, fit.runs)
    target_slipped = bool(slips)
    # Off the frontier is the point of a compute-optimal plan's runs: no swap is suspected.
    slip, said = _candidate_slips(
        points, fit.runs, index, bool(keep_slips), swaps=criterion == "loss"
    )
    slips += said
    notes += slips
    kinds.update(dict.fromkeys(slips, SlipWarning))
    eligible = (slip != "below") | bool(keep_slips)
    columns = frame.assign(**{n: points[n].to_numpy() for n in points.columns})
    costs, cost_label, cost_units = _costs(columns, cost, k)
    inputs = list(law.inputs)
    runs = None if group is not None and str(group) == NEW_GROUP else view.runs
    notes += _duplicates(points, inputs, runs, index)
    used_seed = view.seed if seed is None else check_seed(seed)
    rng = np.random.default_rng(used_seed)

    draws = view.draws()
    total = len(next(iter(draws.values())))
    n_draws = total if max_draws is None else min(total, int(max_draws))
    if n_draws < total:
        # Each fantasy world reweights its own random subset of the draws: the worlds are
        # then independent replicates of the whole estimate, the subset's error included,
        # and their spread gives its standard error (one subset shared by every world would
        # offset them all alike, unseen by that spread).
        sub = np.stack(
            [np.sort(rng.choice(total, n_draws, replace=False)) for _ in range(fantasies)]
        )
    else:
        sub = np.arange(total)[None, :]  # every world reweights all the draws
    noise = {name: draws[name] for name in law.likelihood.noise_names}
    min_ess = max(20.0, 0.02 * n_draws) if min_ess is None else float(min_ess)

    q, target_points = _target_draws(view, draws, target_frame, criterion, fixed)
    bad = ~np.all(np.isfinite(q), axis=1)
    theta = {name: draws[name][:, None] for name in law.parameters}
    at = {name: points[name].to_numpy(float)[None, :] for name in law.inputs}
    mu = np.asarray(law_mu(law, theta, at), dtype=float)  # (draws, J)
    bad |= ~np.all(np.isfinite(mu), axis=1)
    if bad.all():
        raise DataError(
            "the law is not finite at the candidates or the target for any posterior draw; "
            "check their inputs"
        )
    noise_var = _noise_variance(view, noise)
    # Per world's subset (one shared by all the worlds without subsets): (G, S, ...).
    qz = np.where(bad[:, None], 0.0, q)
    qz_w, q2z_w = qz[sub], (qz**2)[sub]
    order = np.argsort(np.where(np.isfinite(q), q, np.inf)[sub], axis=1)
    sorted_q = np.take_along_axis(q[sub], order, axis=1)
    mu_w = np.ascontiguousarray(mu[sub].transpose(0, 2, 1))  # (G, J, S)

    # Fantasy worlds: draws spread evenly over each world's draws play the truth.
    truth_at = ((rng.random() + np.arange(fantasies)) / fantasies * n_draws).astype(int)
    truth = sub[np.arange(fantasies) % len(sub), truth_at]
    base = np.broadcast_to(np.where(bad[sub], -np.inf, 0.0), (fantasies, n_draws)).copy()
    base[np.arange(fantasies), truth_at] = -np.inf  # leave the truth out of its own world
    per_draw = {name: value[sub][:, None, :] for name, value in noise.items()}
    truth_noise = {name: value[truth] for name, value in noise.items()}
    mu_truth = mu[truth]  # (F, J)
    n_cand = len(frame)

    counted = getattr(view, "discrepancy", None) if discrepancy else None
    if counted is not None and criterion == "optimal_N" and counted.plan_weights is None:
        counted = None  # a law without a compute-optimal plan has no plan error
    term = None if counted is None else _RangeTerm(counted, criterion, target_points, columns, k)
    n_targets = q.shape[1]
    disc_before = term.variance(*term.start) if term is not None else np.zeros(n_targets)
    extrapolation, along, side, distances = _extrapolation(view, target_points, criterion)
    if term is not None and distances is not None:
        # The plan values runs by the discrepancy's growth at the target: checked by the
        # backtests only so far out, as forecasts say of the same points.
        from bayescale.fitting import beyond_backtests_sentence, far_rows
        from bayescale.planning import backtest_reach

        reach = backtest_reach(counted.info)
        far = far_rows(distances, reach)
        if reach is not None and len(far):
            far_note = beyond_backtests_sentence(
                far,
                distances,
                reach,
                lambda i: f"point {i + 1} at {_where(target_points, i)}",
                "target: ",
                "and so is the part of the target's variance this plan values runs for "
                "shortening; check the target's units, or plan on the law alone "
                "(discrepancy=False)",
            )
            notes.append(far_note)
            kinds[far_note] = ExtrapolationWarning
    w0 = _normalized(base)[:, None, :]
    # Per fantasy world (F,): the worlds are the Monte Carlo replicates of every estimate.
    law_var_worlds = _weighted_variance(w0, qz_w, q2z_w)[:, 0]
    width_worlds = _weighted_width(w0, sorted_q, order, disc_before)[:, 0]
    law_var_before = float(law_var_worlds.mean())
    var_before = law_var_before + float(disc_before.mean())
    width_before = float(width_worlds.mean())
    caveats = []
    if term is not None and counted.failed_refits_note() is not None:
        caveats.append(
            f"the discrepancy this plan counts ({float(disc_before.mean()) / var_before:.0%} "
            f"of the target's variance now) was learned from backtests on the runs, and "
            f"{counted.failed_refits_note()}, and so is what a run nearer the target is "
            f"valued for; compare with the plan on the law alone (discrepancy=False)"
        )

    # Fantasised noise of each step, shared by both greedy strategies (common random numbers).
    eps_steps = [law.likelihood.draw_noise(truth_noise, rng) for _ in range(batch)]

    def evaluate(
        log_base: np.ndarray,
        step: int,
        idx: np.ndarray,
        low: np.ndarray | None,
        high: np.ndarray | None,
        need_width: bool,
    ) -> dict[str, Any]:
        """Each candidate of ``idx`` added in every world: its log likelihood there, the
        weights, and the target's variance and width after, per world."""
        # Common random numbers: one noise draw per world, shared by every candidate.
        y = mu_truth[:, idx] + eps_steps[step][:, None]  # (F, J)
        with np.errstate(all="ignore"):
            ll = law.likelihood.logpdf(y[:, :, None], mu_w[:, idx, :], per_draw)
        ll = np.where(np.isfinite(ll), ll, -np.inf)  # (F, J, S)
        w = _normalized(log_base[:, None, :] + ll)
        disc_after = (
            term.variance(*term.widened(low, high, idx))
            if term is not None
            else np.zeros((len(idx), n_targets))
        )
        return {
            "ll": ll,
            "w": w,
            "ess": _ess(w).mean(axis=0),  # (J,)
            "law_after_w": _weighted_variance(w, qz_w, q2z_w),  # (F, J)
            "disc_after": disc_after,
            # The widths' weighted quantiles are the costly part: only when they are needed.
            "width_after_w": (
                _weighted_width(w, sorted_q, order, disc_after) if need_width else None
            ),
        }

    start = term.start if term is not None else (None, None)
    # The first step is the same for both greedy strategies: every candidate alone.
    first = evaluate(base, 0, np.arange(n_cand), *start, need_width=True)
    collapsed = int(np.sum(first["ess"] < min_ess))
    if method == "reweight" and collapsed:
        notes.append(
            f"the importance weights collapsed (ESS < {min_ess:g}) for {collapsed} "
            f"candidates; their estimates are unreliable (use method='auto' for the "
            f"Gaussian fallback)"
        )
    elif method == "auto" and collapsed:
        notes.append(
            f"the importance weights collapsed (ESS < {min_ess:g}) for {collapsed} of "
            f"{n_cand} candidates: their expected reductions are the linear-Gaussian "
            f"estimate (estimate='gaussian')"
        )

    def greedy(per_cost: bool) -> dict[str, Any]:
        # var_now and width_now include the discrepancy; law_var_now is the law's alone.
        var_now, width_now, law_var_now = var_before, width_before, law_var_before
        law_now_w, width_now_w = law_var_worlds, width_worlds  # per world, for the se
        disc_now = disc_before
        low, high = start
        log_base = base
        chosen: list[int] = []
        marginal: dict[int, float] = {}
        marginal_se: dict[int, float] = {}
        alone: dict[str, np.ndarray] = {}
        worlds: dict[str, np.ndarray] = {}
        spent = 0.0
        stop = None  # why fewer than batch were chosen: "all", "budget" or "gain"
        for step in range(batch):
            active = eligible.copy()  # a likely slip of units is never chosen unasked
            active[chosen] = False
            if step and not active.any():
                stop = "all"
                break
            if budget is not None:
                active &= spent + costs <= budget * (1 + 1e-12)
            if step and not active.any():
                stop = "budget"
                break
            # Every candidate is valued alone for the table; later steps value the eligible only.
            idx = np.arange(n_cand) if step == 0 else np.flatnonzero(active)
            need_width = step == 0 or measure == "width"
            now = first if step == 0 else evaluate(log_base, step, idx, low, high, need_width)
            ll, w, ess = now["ll"], now["w"], now["ess"]
            law_after_w, disc_after = now["law_after_w"], now["disc_after"]
            width_after_w = now["width_after_w"]
            law_var_after = law_after_w.mean(axis=0)
            width_after = None if width_after_w is None else width_after_w.mean(axis=0)
            # The discrepancy's part is exact given the runs: the worlds vary the law's part.
            var_gain_w = law_now_w[:, None] - law_after_w
            width_gain_w = None if width_after_w is None else width_now_w[:, None] - width_after_w
            var_se = _se(var_gain_w)
            width_se = None if width_gain_w is None else _se(width_gain_w)
            estimate = np.full(len(idx), "reweight", dtype=object)
            fallback = np.zeros(len(idx), dtype=bool)
            if method == "gaussian":
                fallback[:] = True
            elif method == "auto":
                fallback = ess < min_ess
            if fallback.any():
                which = np.flatnonzero(fallback)
                g_gain = _gaussian_gain(mu[~bad], q[~bad], chosen, idx[which], noise_var)
                law_var_after[which] = np.maximum(law_var_now - g_gain, 0.0)
                var_se[which] = np.nan  # not an average over the worlds
                if width_se is not None:
                    width_se[which] = np.nan
            var_after = law_var_after + disc_after.mean(axis=1)
            if fallback.any():
                if width_after is not None:
                    width_after[which] = width_now * np.sqrt(
                        var_after[which] / max(var_now, 1e-300)
                    )
                estimate[which] = "gaussian"
            var_gain = var_now - var_after
            width_gain = None if width_after is None else width_now - width_after
            gain = var_gain if measure == "variance" else width_gain
            gain_se = var_se if measure == "variance" else width_se
            value = gain / costs[idx]
            rank = value if per_cost else gain
            if step == 0:
                alone = {
                    "variance_reduction": var_gain,
                    "variance_reduction_se": var_se,
                    "width_reduction": width_gain,
                    "width_reduction_se": width_se,
                    "value_per_cost": value,
                    "ess": ess,
                    "estimate": estimate,
                }
                # Per world, for the paired comparison of candidates (NaN: no worlds).
                gain_w = var_gain_w if measure == "variance" else width_gain_w
                worlds = {"gain": np.where(fallback[None, :], np.nan, gain_w)}
            # Within a step, the runs expected to reduce the uncertainty given those before.
            # No run is dropped for good: the reduction is not submodular, and a run worth
            # nothing alone may be worth much after another (a second D at the same N).
            ok = active[idx] & np.isfinite(value) & (gain > 0)
            if not ok.any():
                stop = "budget" if step == 0 and not active.any() else "gain"
                break
            pos = int(np.flatnonzero(ok)[np.argmax(rank[ok])])
            best = int(idx[pos])
            chosen.append(best)
            marginal[best] = float(gain[pos])
            marginal_se[best] = float(gain_se[pos]) if gain_se is not None else np.nan
            spent += float(costs[best])
            if width_after_w is not None:
                width_best_w = width_after_w[:, pos]
            else:
                width_best_w = _weighted_width(
                    w[:, pos : pos + 1, :], sorted_q, order, disc_after[pos]
                )[:, 0]
            if width_after is not None:
                width_best = float(width_after[pos])
            elif fallback[pos]:
                width_best = width_now * np.sqrt(var_after[pos] / max(var_now, 1e-300))
            else:
                width_best = float(width_best_w.mean())
            log_base = log_base + ll[:, pos, :]
            var_now, width_now = float(var_after[pos]), width_best
            law_var_now, disc_now = float(law_var_after[pos]), disc_after[pos]
            law_now_w, width_now_w = law_after_w[:, pos], width_best_w
            if term is not None:
                low, high = term.widened(low, high, best)

        return {
            "chosen": chosen,
            "marginal": marginal,
            "marginal_se": marginal_se,
            "alone": alone,
            "worlds": worlds,
            "spent": spent,
            "stop": stop,
            "variance": var_now,
            "width": width_now,
            "discrepancy_variance": float(disc_now.mean()),
            "range": (low, high),
        }

    # With a budget, the better of the two greedy choices (by default for one run too: the
    # best run the budget affords, not the cheapest per unit of what it teaches).
    rule = ("better" if budget is not None else "per_cost") if strategy == "auto" else strategy
    run = greedy(rule != "reduction")
    alone = run["alone"]
    chose = "reduction" if rule == "reduction" else "per_cost"
    if rule == "better":
        # Budgeted choice of runs: ranking by reduction per cost alone can fill the budget
        # with cheap runs that teach little; the better of it and the greedy by reduction
        # within the budget keeps a constant-factor guarantee (Leskovec et al. 2007, CELF).
        other = greedy(False)
        if other[measure] < run[measure]:
            run, chose = other, "reduction"
    chosen, marginal, spent = run["chosen"], run["marginal"], run["spent"]
    var_now, width_now = run["variance"], run["width"]
    disc_final = run["discrepancy_variance"]
    # Each candidate against the first chosen run, on what ranked them, paired world by world:
    # the same worlds and noise make the difference far surer than either value alone.
    difference = np.full(n_cand, np.nan)
    difference_se = np.full(n_cand, np.nan)
    if chosen:
        ref = chosen[0]
        scale = costs if chose == "per_cost" else np.ones(n_cand)
        ranked = np.asarray(
            alone["variance_reduction" if measure == "variance" else "width_reduction"]
        )
        difference = ranked / scale - ranked[ref] / scale[ref]
        per_world = run["worlds"]["gain"] / scale
        difference_se = _se(per_world - per_world[:, [ref]])
        difference_se[ref] = 0.0 if np.isfinite(per_world[:, ref]).all() else np.nan
    marginal_se = run["marginal_se"]
    # A chosen run whose marginal reduction is within two of its standard errors of zero may
    # add nothing given the runs before it: another seed may leave it out.
    noisy = [j for j in chosen if np.isfinite(marginal_se[j]) and marginal[j] < 2 * marginal_se[j]]

    n_eligible = int(eligible.sum())
    if batch > n_cand:
        notes.append(
            f"batch = {batch} but there are {n_cand} candidates: at most {n_cand} can be "
            f"chosen; add candidates to choose from"
        )
    cheapest = float(costs[eligible].min()) if n_eligible else math.inf
    affordable = costs <= budget * (1 + 1e-12) if budget is not None else np.ones(n_cand, bool)
    if not n_eligible:
        notes.append(
            "every candidate is left out as a likely slip of units (warned above), so none "
            "was chosen: fix their units, or pass keep_slips=True to value them as given"
        )
    elif budget is not None and not chosen and cheapest > budget:
        notes.append(
            f"no candidate fits the budget {budget:g} (the cheapest costs {cheapest:g}): raise "
            f"the budget or add cheaper candidates"
        )
    elif not chosen:
        notes.append(
            _nothing_to_choose_note(
                alone, measure, eligible & affordable, budget, index, fantasies, var_before,
                width_before,
            )
        )  # fmt: skip
    if chosen and len(chosen) < min(batch, n_cand):
        notes.append(_short_batch_note(run, batch, budget, costs, index, eligible))
    # Runs that are the decision itself: as costly as the target run, or at or past it.
    target_costs = (
        _target_costs(target_points, cost, cost_label, k) if criterion == "loss" else None
    )
    # A target that looks like a slip itself (warned) would flag every run as reaching it.
    reaches = (
        _reaches_target(points, costs, target_points, target_costs)
        if criterion == "loss" and not target_slipped
        else np.zeros(n_cand, dtype=bool)
    )
    itself = _decision_itself_note(
        chosen, reaches, points, inputs, costs, cost_label, target_points, target_costs, index
    )
    if itself is not None:
        notes.append(itself)
    # A plan that chose nothing because nothing fits the budget has no "after" to speak of.
    unaffordable = budget is not None and not chosen and cheapest > budget
    if term is not None and var_now > 0 and disc_final / var_now > 0.5 and not unaffordable:
        notes.append(
            _discrepancy_note(
                term,
                run["range"],
                (float(disc_before.mean()) / var_before, disc_final / var_now),
                costs,
                chosen,
                budget,
                points,
                inputs,
                index,
                eligible,
            )
        )

    out = frame.reset_index(drop=True)
    out.attrs = {}  # the candidates' own attrs (a reader's) are not the plan's
    # A column of the user's named as one the plan adds is kept under another name, never
    # overwritten (their own costs beside the cost model's, say).
    renamed = {}
    for name in _ADDED:
        used = name == "cost" and cost_label == COST_FROM_COLUMN  # the same values: kept
        if name in map(str, out.columns) and not used:
            new = f"{name}_candidates"
            while new in map(str, out.columns):
                new += "_"
            renamed[name] = new
    if renamed:
        out = out.rename(columns=renamed)
        notes.append(
            "the candidates' "
            + ", ".join(f"column {a} is kept as {b}" for a, b in renamed.items())
            + ": the plan's table has columns of those names (its cost is by "
            + f"{cost_label}); rename them in the candidates to keep their names"
        )
    for note in dict.fromkeys(notes):  # both strategies see the same first step
        # At the user's line, whether they called recommend or Fit.recommend.
        warnings.warn(note, kinds.get(note, UserWarning), stacklevel=_outside_level())
    out.insert(0, "candidate", [_label(v) for v in index])
    for name in points.columns:
        if name not in renamed:  # the inputs read as numbers, not the plan's own columns
            out[name] = points[name].to_numpy()
    out["cost"] = costs
    out["affordable"] = affordable
    out["slip"] = slip
    out["reaches_target"] = reaches
    for name, values in alone.items():
        out[name] = np.nan if values is None else values
    rank = {j: i + 1 for i, j in enumerate(chosen)}
    out["chosen"] = [j in rank for j in range(n_cand)]
    out["order"] = [rank.get(j, 0) for j in range(n_cand)]
    out["marginal_reduction"] = [marginal.get(j, np.nan) for j in range(n_cand)]
    out["marginal_reduction_se"] = [marginal_se.get(j, np.nan) for j in range(n_cand)]
    out["marginal_within_noise"] = [j in noisy for j in range(n_cand)]
    out["difference"] = difference
    out["difference_se"] = difference_se
    # Chosen first, in order; then what the budget affords alone; then the rest; the slips
    # left out of the choice last.
    last = np.where(~eligible, n_cand + 3, np.where(~affordable, n_cand + 2, n_cand + 1))
    out["_sort"] = np.where(out["chosen"], out["order"], last)
    # The others as the batch was chosen: per unit cost, or (within a budget, by reduction)
    # by what they would reduce, so that the table's first rows are the pick's alternatives.
    after = "value_per_cost" if chose == "per_cost" else f"{measure}_reduction"
    out = out.sort_values(["_sort", after], ascending=[True, False], kind="stable")
    out = out.drop(columns="_sort").reset_index(drop=True)
    out.attrs.update(
        {
            "criterion": f"{criterion}: {CRITERIA[criterion]}",
            "measure": measure,
            "target": target_points.to_dict(orient="records"),
            "variance_before": var_before,
            "width_before": width_before,
            "variance_after": var_now,
            "width_after": width_now,
            "spent": spent,
            "budget": budget,
            "batch": int(batch),
            "cost": cost_label,
            "cost_units": cost_units,
            "compute_factor": float(k),
            "seed": int(used_seed),
            "group": None if group is None else str(group),
            "group_label": new_label,
            "fixed": dict(fixed) or None,
            "draws": n_draws,
            "posterior_draws": total,
            "standard_errors": _se_text(fantasies, n_draws, total),
            "marginal_within_noise": [_label(index[j]) for j in noisy],
            "fantasies": int(fantasies),
            "law": law.name,
            "warnings": list(dict.fromkeys(notes)),
            "strategy": chose,
            "strategy_rule": rule,
            "discrepancy": (
                None
                if term is None
                else "the fit's discrepancy, whose variance shrinks as runs near the target"
            ),
            "discrepancy_variance_before": float(disc_before.mean()),
            "extrapolation": extrapolation,
            "extrapolation_along": along,
            "extrapolation_side": side,
            "slips_left_out": [_label(index[j]) for j in np.flatnonzero(~eligible)],
            "keep_slips": bool(keep_slips),
            "renamed_columns": renamed,
            "caveats": caveats,
            "discrepancy_variance_after": disc_final,
        }
    )
    return view._flag_failed(out, "recommendation")
