"""Forecasts over posterior draws: the law's (epistemic) interval and a new run's (predictive).

Pure NumPy functions over arrays of draws. Intervals are equal-tailed (quantiles of the draws):
unlike highest-density intervals they do not depend on whether one looks at the loss or at the
log loss, the scale the noise model lives on.

A new run is the law's value with the noise on the likelihood's scale: times ``exp(noise)``
under multiplicative noise, plus ``noise`` under additive noise (:func:`law_value` gives the
law's value itself, evaluated as written for additive noise, whose value may be <= 0).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from bayescale._format import parse_quantities, parse_quantity
from bayescale.data import check_triad as _check_triad
from bayescale.data import complete_triad, log_inputs
from bayescale.errors import DataError, closest
from bayescale.laws import Law

__all__ = [
    "forecast_draws",
    "forecast_points",
    "forecast_table",
    "law_mu",
    "law_value",
    "level_label",
    "mixture_table",
    "point_columns",
    "warn_thin_tails",
]

#: Fewest posterior draws beyond each end of an equal-tailed interval for its ends to be
#: estimated: with fewer, they are the most extreme draws, whose values are chance.
TAIL_DRAWS = 5

# Points per block: keeps each (points x draws) work array near 8 MB.
_BLOCK_ELEMENTS = 1_000_000
#: Relative difference under which two credible levels share a label: float32's resolution.
_LEVEL_TOLERANCE = float(np.finfo(np.float32).eps)
# Per-element work in float32: its rounding (6e-8 relative) is 10^4 times below the Monte Carlo
# error of an interval from a few thousand draws, and it halves the memory traffic.
DTYPE = np.float32


def law_value(
    law: Law,
    params: Mapping[str, Any],
    inputs: Mapping[str, Any],
    log_params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """The law's value L (on the scale of y) at the inputs, for arrays of draws.

    Under additive noise the formula is evaluated as written (``Law.value`` where it
    exists), since its value may be zero or negative and its inputs need not be positive;
    under multiplicative noise by :meth:`Law.predict`, the stable form for positive laws.

    Parameters
    ----------
    law : Law
        The law.
    params, inputs : mapping
        Values of every parameter and input, arrays that broadcast together.
    log_params : mapping, optional
        ``log`` of positive parameters, if known (used on the log scale only).

    Returns
    -------
    numpy.ndarray
        ``L``, the broadcast shape.
    """
    # Law.predict evaluates the formula as written for additive noise, in log form otherwise.
    return law.predict(params, inputs, log_params=log_params)


def law_mu(law: Law, params: Mapping[str, Any], inputs: Mapping[str, Any]) -> np.ndarray:
    """The law's value on the scale of its noise: ``log L`` (multiplicative) or ``L`` (additive).

    Parameters
    ----------
    law : Law
        The law.
    params, inputs : mapping
        As in :func:`law_value`.

    Returns
    -------
    numpy.ndarray
        The location of the noise family, to compare with ``law.likelihood.transform(y)``.
    """
    if law.likelihood.scale == "linear":
        return law_value(law, params, inputs)
    return np.asarray(law.log_mean(params, inputs))


def level_label(level: float) -> str:
    """Return the column suffix of a credible level: 0.9 -> ``"90"``, 0.975 -> ``"97.5"``.

    Parameters
    ----------
    level : float
        Credible level in (0, 1).

    Returns
    -------
    str
        Percent, without trailing zeros, with the fewest significant digits (up to 10) that
        give the level back to within float32 precision: ``np.float32(0.9)`` is ``"90"``,
        not ``"89.99999762"``.
    """
    level = float(level)
    for digits in range(1, 11):
        rounded = float(f"{100 * level:.{digits}g}")
        # float32's resolution: a level typed as 0.9 and stored in float32 is 0.9 to this.
        # A level is in (0, 1): never labelled 0 or 100, however close to either.
        if 0 < rounded < 100 and abs(rounded / 100 - level) <= _LEVEL_TOLERANCE * abs(level):
            return f"{rounded:.10g}"
    return f"{100 * level:.10g}"


#: What N, D and C count, for messages.
_COUNTS = {"N": "parameters", "D": "tokens", "C": "FLOPs"}


def _levels(level: float | Sequence[float]) -> list[float]:
    levels = [float(level)] if np.isscalar(level) else [float(v) for v in level]
    for value in levels:
        if not 0.0 < value < 1.0:
            raise DataError(f"credible level {value} must be between 0 and 1 (e.g. 0.9)")
    # One level per label: 0.9 and np.float32(0.9) would otherwise give two columns of a name.
    return sorted({level_label(v): v for v in sorted(set(levels))}.values())


def forecast_points(
    law: Law,
    at: Mapping[str, Any] | pd.DataFrame,
    compute_factor: float = 6.0,
    *,
    row: Callable[[int], str] | None = None,
    notes: list[str] | None = None,
    triad: bool = False,
    sources: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Validate the points to forecast at and complete the compute triad.

    Parameters
    ----------
    law : Law
        The law whose inputs are needed.
    at : mapping or DataFrame
        Input name to a number or a list of numbers (lists broadcast with numbers).
        Of N (parameters), D (tokens) and C (FLOPs), two are enough: the third follows from
        ``C = compute_factor * N * D``.
    compute_factor : float, default 6.0
        ``k`` in ``C = k N D``.
    row : callable, optional
        How messages name the point at a position (from 0), for a caller whose points are
        rows of its own table: ``row(i)`` leads each message about a point
        (``"candidate 3: N is nan; ..."``), and a text cell that is not a number is named by
        its row too; N, D and C are checked as given (finite, > 0) before the third is
        completed from two. Default: the point's number from 1 (``"forecast input N at
        point 4"``).
    notes : list of str, optional
        Where the note on a C within 2x of ``compute_factor * N * D`` but well off it goes
        (appended), instead of a :class:`~bayescale.errors.DataWarning`.
    triad : bool, default False
        Complete the third of N, D and C from two even when the law does not take it, so
        that a table over runs with all three always shows all three.
    sources : mapping of str to str, optional
        The runs' source column of each input (:attr:`Runs.columns`, e.g. ``{"N": "Model
        Size"}``): a point named by a source column is refused with the input to use.

    Returns
    -------
    pandas.DataFrame
        One row per point, one float column per input the law needs, plus any other
        column given (numbers as floats, anything else, e.g. a label, as given). The
        columns are in one order whichever were given: N, D and C (those there are), the
        law's other inputs in its order, then the other columns as given.

    Raises
    ------
    DataError
        If an input is missing (naming the columns given that were not used, with the
        input each was likely meant as), lengths differ, or a value is a bool or not
        finite, or not > 0 for an input the law takes the logarithm of; or if N, D and C
        are all given and C is more than a factor 2 from ``compute_factor * N * D``.
    """
    at = as_points(at)
    if isinstance(at, pd.DataFrame):
        columns = {str(k): at[k].to_numpy() for k in at.columns}
    else:
        columns = {str(k): v for k, v in dict(at).items()}
    arrays: dict[str, np.ndarray] = {}
    needed = {*law.inputs, "N", "D", "C"}
    for name, value in columns.items():
        if name in needed and _has_bool(value):
            # float(True) is 1.0: a flag in place of a count would be forecast at N = 1.
            raise DataError(
                f"forecast input {name}={value!r:.60} is or holds a bool (True/False), not a "
                f"number; give {name} as numbers (e.g. 7e10), one per point"
            )
        try:
            arrays[name] = np.atleast_1d(np.asarray(value, dtype=float))
        except (TypeError, ValueError):
            read = _read_texts(value) if name in needed else None
            if read is not None:  # text as bayescale prints numbers: "70B", "1.4T", "10^24"
                arrays[name] = read
            elif name not in needed:
                # Not an input (a label, a note): carried through to the table as given.
                arrays[name] = np.atleast_1d(np.asarray(value, dtype=object))
                continue
            elif row is not None:
                i, cell = _first_text(value)
                raise DataError(
                    f"{row(i)}: {name} is {cell!r}, not a number; write it as a number (7e10, "
                    f"or as bayescale prints it: '70B'), or remove the row"
                ) from None
            else:
                raise DataError(
                    f"forecast input {name}={value!r} is not a number; give {name} as numbers "
                    f"(e.g. 7e10, or text as bayescale prints them: '70B'), one per point"
                ) from None
        if arrays[name].ndim != 1:
            raise DataError(f"forecast input {name} must be a number or a flat list")
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values())) if arrays else (0,)
    except ValueError:
        lengths = {k: len(v) for k, v in arrays.items()}
        raise DataError(f"forecast inputs have different lengths: {lengths}") from None
    arrays = {k: np.broadcast_to(v, shape).copy() for k, v in arrays.items()}
    if row is not None:
        # A table's cells as given, before the triad is completed from them (a third
        # completed from a bad cell would be blamed instead of it): N, D and C count
        # parameters, tokens and FLOPs, whether or not the law takes them.
        for name in ("N", "D", "C"):
            values = arrays.get(name)
            bad = None if values is None else ~(np.isfinite(values) & (values > 0))
            if bad is not None and bad.any():
                i = int(np.argmax(bad))
                raise DataError(
                    f"{row(i)}: {name} is {float(values[i]):g}; it must be a positive number "
                    f"(it counts {_COUNTS[name]}): fill it in or remove the row"
                )
    k = float(compute_factor)
    completed = complete_triad(arrays, k)
    if completed is not None and (triad or completed[0] in law.inputs):
        arrays[completed[0]] = completed[1]
    missing = [name for name in law.inputs if name not in arrays]
    if missing:
        raise DataError(
            f"law {law.name!r} needs {', '.join(law.inputs)} to forecast; missing "
            f"{', '.join(missing)}"
            + (
                f" (of N, D, C any two are enough: C = {k:g} N D)"
                if set(missing) & {"N", "D", "C"}
                else ""
            )
            + f"{_unused_hint(columns, needed, law, sources)}"
            + (
                "; a budget alone has no point to forecast at until it is split: "
                "compute_optimal(C) gives its best split and the loss there, prob_below("
                "target, C=...) one run's chance (bayescale optimal --compute C, bayescale "
                "target --compute C)"
                if {"N", "D"} <= set(missing) and "C" in columns
                else ""
            )
        )
    if row is None:

        def where(i: int, name: str) -> str:
            return f"forecast input {name} at point {i + 1} is {float(arrays[name][i])!r}"

    else:

        def where(i: int, name: str) -> str:
            return f"{row(i)}: {name} is {float(arrays[name][i]):g}"

    if {"N", "D", "C"} <= set(columns):
        _check_triad(arrays, k, row, notes)
    logged = log_inputs(law)
    for name in law.inputs:
        bad = ~np.isfinite(arrays[name])
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{where(i, name)}; inputs must be finite numbers")
        bad = ~(arrays[name] > 0)
        if name in logged and bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"{where(i, name)}; it must be > 0: law {law.name!r} takes the logarithm of {name}"
            )
    return pd.DataFrame({name: arrays[name] for name in point_columns(arrays, law.inputs)})


def _has_bool(value: Any) -> bool:
    """Whether a point's value is, or holds, a bool (numpy's too)."""
    if isinstance(value, bool | np.bool_):
        return True
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind != "O":
        return dtype.kind == "b"
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return False
    return any(isinstance(item, bool | np.bool_) for item in np.ravel(np.asarray(value, object)))


def point_columns(names: Iterable[str], inputs: Iterable[str]) -> list[str]:
    """The order every table of points has: N, D, C, the other inputs, then the rest.

    Whichever two of N, D, C are given, a table has the same columns in the same place, for
    code that indexes by position and for CSVs compared across calls.

    Parameters
    ----------
    names : iterable of str
        The table's columns.
    inputs : iterable of str
        The law's inputs (several laws': all of them), in their order.

    Returns
    -------
    list of str
        ``names`` reordered: N, D and C (those there are), the other inputs in their order,
        then the remaining names (labels) in their order.
    """
    names = list(names)
    first = [name for name in ("N", "D", "C") if name in names]
    first += [name for name in inputs if name in names and name not in first]
    return [*first, *(name for name in names if name not in first)]


def _unused_hint(
    columns: Mapping[str, Any],
    needed: set[str],
    law: Law,
    sources: Mapping[str, str] | None,
) -> str:
    """For a point that misses an input: the columns given that were not used, each with
    the input it was likely meant as (a slip of case, or a source column of the runs)."""
    unused = [name for name in columns if name not in needed]
    if not unused:
        return ""
    by_source = {
        str(column): name
        for name, column in (sources or {}).items()
        if not str(column).startswith("derived") and str(column) != name
    }
    choices = [*law.inputs, *(n for n in ("N", "D", "C") if n not in law.inputs)]
    renamed = [f"{by_source[name]} (your {name!r})" for name in unused if name in by_source]
    hints = (
        [f"use {' and '.join(renamed)}: points are named by the law's inputs"] if renamed else []
    )
    for name in unused:
        match = None if name in by_source else closest(name, choices)
        if match is not None:
            hints.append(f"did you mean {match}{f' for {name!r}' if len(unused) > 1 else ''}?")
    listed = ", ".join(map(repr, unused))
    verb = "was" if len(unused) == 1 else "were"
    return f"; {listed} {verb} not used" + (f": {'; '.join(hints)}" if hints else "")


def as_points(at: Any) -> Mapping[str, Any] | pd.DataFrame:
    """Forecast points as given, records (a list of mappings) as a DataFrame.

    Parameters
    ----------
    at : mapping, DataFrame or list of mappings
        The points.

    Returns
    -------
    mapping or DataFrame
        ``at`` itself, or its records as a DataFrame.

    Raises
    ------
    DataError
        If ``at`` is none of these.
    """
    if isinstance(at, pd.DataFrame | Mapping):
        return at
    if isinstance(at, list | tuple) and at and all(isinstance(r, Mapping) for r in at):
        return pd.DataFrame(list(at))
    raise DataError(
        f"forecast points must be a mapping like {{'N': [7e10], 'D': [1.4e12]}}, a DataFrame, "
        f"or a list of such mappings, one per point; got {type(at).__name__} {at!r:.60}"
    )


def _read_texts(value: Any) -> np.ndarray | None:
    """Numbers written as text ("70B", "1.4T", "10^24"), or None if an item is not one."""
    try:
        return parse_quantities(value)
    except (TypeError, ValueError):
        return None


def _first_text(value: Any) -> tuple[int, Any]:
    """The position and cell of the first item that is not a number (nor text of one)."""
    cells = np.atleast_1d(np.asarray(value, dtype=object)).ravel()
    for i, cell in enumerate(cells):
        try:
            parse_quantity(cell) if isinstance(cell, str) else float(cell)
        except (TypeError, ValueError):
            return i, cell
    return 0, value


def _quantiles(values: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Quantiles along the last axis, equal to ``np.quantile`` (linear interpolation).

    One single-index partition per probability, the next order statistic being the minimum
    of the part above it: several times faster than ``np.quantile``, whose multi-index
    partition is slower than a full sort on (points x draws) arrays.
    """
    n = values.shape[-1]
    out = np.empty((len(probs), *values.shape[:-1]))
    for i, prob in enumerate(probs):
        pos = (n - 1) * float(prob)
        lo = int(np.floor(pos))
        part = np.partition(values, lo, axis=-1)
        low = part[..., lo]
        weight = pos - lo
        if weight > 0 and lo + 1 < n:
            out[i] = low + weight * (part[..., lo + 1 :].min(axis=-1) - low)
        else:
            out[i] = low
    return out


def forecast_table(
    law: Law,
    params: Mapping[str, np.ndarray],
    noise: np.ndarray,
    points: pd.DataFrame,
    level: float | Sequence[float] = 0.9,
    log_delta: np.ndarray | None = None,
) -> pd.DataFrame:
    """Summarise the law and a new run's loss at each point over the posterior draws.

    Parameters
    ----------
    law : Law
        The law.
    params : mapping
        Posterior draws of every law parameter, each of shape ``(draws,)``.
    noise : numpy.ndarray
        Noise of a new run on the likelihood's scale (log y or y) per draw, shape
        ``(draws,)`` (see :meth:`bayescale.likelihood.Likelihood.draw_noise`).
    points : DataFrame
        From :func:`forecast_points`.
    level : float or sequence of float, default 0.9
        Credible level(s) of the intervals.
    log_delta : numpy.ndarray, optional
        Model discrepancy on the likelihood's scale per point and draw, shape
        ``(points, draws)`` (see :mod:`bayescale.discrepancy`).

    Returns
    -------
    pandas.DataFrame
        The points' inputs, then ``law_median``, ``law_mean``, and per level ``l`` (in
        percent): ``law_lower_l``, ``law_upper_l`` (credible interval of the law: what more
        runs at this scale would average to if the law's form were right) and
        ``pred_lower_l``, ``pred_upper_l`` (predictive interval of one new run: law,
        discrepancy if given, and run-to-run noise), and ``pred_median``. With
        ``log_delta``, also ``disc_median``, ``disc_lower_l``, ``disc_upper_l``: the law
        with its discrepancy (what runs at this scale would average to).
    """
    return mixture_table([(law, params, noise)], points, level, log_delta=log_delta)


def mixture_table(
    components: Sequence[tuple[Law, Mapping[str, np.ndarray], np.ndarray]],
    points: pd.DataFrame,
    level: float | Sequence[float] = 0.9,
    log_delta: np.ndarray | None = None,
) -> pd.DataFrame:
    """As :func:`forecast_table`, for draws pooled from several laws (model averaging).

    Parameters
    ----------
    components : sequence of (Law, params, noise)
        Each law with the draws it contributes; the pooled draws are summarised together,
        so a law contributing more draws weighs more.
    points : DataFrame
        Values of every input any of the laws needs.
    level : float or sequence of float, default 0.9
        Credible level(s).
    log_delta : numpy.ndarray, optional
        Model discrepancy on each law's likelihood scale, shape ``(points, pooled draws)``.

    Returns
    -------
    pandas.DataFrame
        Same columns as :func:`forecast_table`.
    """
    levels = _levels(level)
    probs = sorted({0.5, *[(1 - lv) / 2 for lv in levels], *[(1 + lv) / 2 for lv in levels]})
    prepared, is_additive = _prepare(components, points)
    n_draws = sum(len(noise) for *_, noise in components)
    n_points = len(points)
    law_q = np.empty((len(probs), n_points))
    pred_q = np.empty((len(probs), n_points))
    law_mean = np.empty(n_points)
    disc_q = None if log_delta is None else np.empty((len(probs), n_points))
    # Per point: draws of a law with multiplicative noise whose value is <= 0 (or undefined),
    # where a run's loss L * exp(noise) does not exist.
    broken = np.zeros(n_points, dtype=np.int64)
    undefined = np.zeros(n_points, dtype=bool)

    def run_block(bounds: tuple[int, int]) -> None:
        start, stop = bounds
        with np.errstate(over="ignore", invalid="ignore"):
            value, shifted, pred = _block_draws(prepared, is_additive, log_delta, start, stop)
            bad = ~is_additive[None, :] & ~(value > 0)
            broken[start:stop] = bad.sum(axis=-1)
            undefined[start:stop] = (bad & np.isnan(value)).any(axis=-1)
            law_q[:, start:stop] = _quantiles(value, probs)
            law_mean[start:stop] = value.mean(axis=-1)
            if disc_q is not None:
                disc_q[:, start:stop] = _quantiles(shifted, probs)
            pred_q[:, start:stop] = _quantiles(pred, probs)

    # NumPy releases the GIL in these loops, so blocks run in parallel on the cores.
    size = max(1, _BLOCK_ELEMENTS // max(n_draws, 1))
    blocks = [(i, min(i + size, n_points)) for i in range(0, n_points, size)]
    if len(blocks) > 1:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(run_block, blocks))
    elif blocks:
        run_block(blocks[0])
    if broken.any():
        # A run's loss under multiplicative noise is L * exp(noise) > 0: where the law is <= 0
        # its form has broken down, and a negative "new run" would be a wrong number.
        rows = broken > 0
        pred_q[:, rows] = np.nan
        if disc_q is not None:
            disc_q[:, rows] = np.nan
        _warn_not_positive(broken, n_draws, bool(undefined.any()))
    out = points.copy()
    index = {p: i for i, p in enumerate(probs)}
    out["law_median"] = law_q[index[0.5]]
    out["law_mean"] = law_mean
    for lv in levels:
        tag = level_label(lv)
        out[f"law_lower_{tag}"] = law_q[index[(1 - lv) / 2]]
        out[f"law_upper_{tag}"] = law_q[index[(1 + lv) / 2]]
    if disc_q is not None:
        out["disc_median"] = disc_q[index[0.5]]
        for lv in levels:
            tag = level_label(lv)
            out[f"disc_lower_{tag}"] = disc_q[index[(1 - lv) / 2]]
            out[f"disc_upper_{tag}"] = disc_q[index[(1 + lv) / 2]]
    out["pred_median"] = pred_q[index[0.5]]
    for lv in levels:
        tag = level_label(lv)
        out[f"pred_lower_{tag}"] = pred_q[index[(1 - lv) / 2]]
        out[f"pred_upper_{tag}"] = pred_q[index[(1 + lv) / 2]]
    return out


#: A law prepared for :func:`_block_draws`: the law, its parameters' draws (and their logs),
#: the points' inputs and a new run's noise term per draw, all in :data:`DTYPE`.
_Prepared = tuple[Law, dict[str, np.ndarray], dict[str, np.ndarray] | None, dict, np.ndarray]


def _prepare(
    components: Sequence[tuple[Law, Mapping[str, np.ndarray], np.ndarray]],
    points: pd.DataFrame,
) -> tuple[list[_Prepared], np.ndarray]:
    """Each law's draws and inputs as :func:`_block_draws` takes them, and per pooled draw
    whether its law's noise (and discrepancy) is additive."""
    # Draws on the last axis, so that selection runs over contiguous memory.
    prepared = []
    additive = []
    for law, params, noise in components:
        theta = {n: np.asarray(params[n], dtype=DTYPE)[None, :] for n in law.parameters}
        linear = law.likelihood.scale == "linear"
        log_theta = (
            None
            if linear
            else {p.name: np.log(theta[p.name]) for p in law.parameters.values() if p.positive}
        )
        inputs = {name: points[name].to_numpy(dtype=DTYPE) for name in law.inputs}
        noise = np.asarray(noise)
        # A heavy-tailed (Student-t) noise draw can exceed float32 on the loss's scale: it
        # becomes inf, a new run's extreme tail, and only the outer quantiles can reach it.
        with np.errstate(over="ignore"):
            factor = (noise if linear else np.exp(noise)).astype(DTYPE)
        prepared.append((law, theta, log_theta, inputs, factor))
        additive.append(np.full(len(noise), linear))
    is_additive = np.concatenate(additive) if additive else np.zeros(0, dtype=bool)
    return prepared, is_additive


def _block_draws(
    prepared: Sequence[_Prepared],
    is_additive: np.ndarray,
    log_delta: np.ndarray | None,
    start: int,
    stop: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The law's value, with its discrepancy (None without one) and one new run's loss at
    points ``start:stop``, each of shape ``(points, pooled draws)`` in :data:`DTYPE`: the
    draws :func:`mixture_table` summarises and :func:`forecast_draws` returns."""
    values, noisy = [], []
    for law, theta, log_theta, inputs, noise_term in prepared:
        x = {name: value[start:stop, None] for name, value in inputs.items()}
        value = law_value(law, theta, x, log_params=log_theta)
        value = np.broadcast_to(value, (stop - start, noise_term.shape[0]))
        values.append(value)
        # The noise of a new run: one term per draw, shared by the points; each
        # point's marginal predictive distribution is exact.
        if law.likelihood.scale == "linear":
            noisy.append(value + noise_term[None, :])
        else:
            noisy.append(value * noise_term[None, :])
    value = values[0] if len(values) == 1 else np.concatenate(values, axis=-1)
    pred = noisy[0] if len(noisy) == 1 else np.concatenate(noisy, axis=-1)
    shifted = None
    if log_delta is not None:
        factor = np.exp(log_delta[start:stop]).astype(DTYPE)
        if is_additive.any():
            # The discrepancy lives on each law's noise scale: added to an additive
            # law's value, a factor exp(delta) on a multiplicative law's.
            delta = np.asarray(log_delta[start:stop], dtype=DTYPE)
            shifted = np.where(is_additive, value + delta, value * factor)
            pred = np.where(is_additive, pred + delta, pred * factor)
        else:
            shifted = value * factor
            pred = pred * factor
    return value, shifted, pred


def forecast_draws(
    law: Law,
    params: Mapping[str, np.ndarray],
    noise: np.ndarray,
    points: pd.DataFrame,
    log_delta: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The draws :func:`forecast_table` summarises, one per posterior draw and point.

    Parameters
    ----------
    law, params, noise, points, log_delta
        As in :func:`forecast_table`.

    Returns
    -------
    dict of str to numpy.ndarray
        ``law`` (the law's value), with ``log_delta`` ``disc`` (the law with its
        discrepancy), and ``pred`` (one new run's loss: discrepancy and noise included),
        each of shape ``(points, draws)`` in :data:`DTYPE` (float32), computed as
        :func:`forecast_table` computes them, so their quantiles are its columns. Where a
        law with multiplicative noise is <= 0 (its form broken down) ``disc`` and ``pred``
        are NaN in that draw, with the warning :func:`forecast_table` gives (which leaves
        the whole point's ``disc_*`` and ``pred_*`` NaN).
    """
    prepared, is_additive = _prepare([(law, params, noise)], points)
    with np.errstate(over="ignore", invalid="ignore"):
        value, shifted, pred = _block_draws(prepared, is_additive, log_delta, 0, len(points))
        bad = ~is_additive[None, :] & ~(value > 0)
    out = {"law": np.ascontiguousarray(value)}
    if shifted is not None:
        out["disc"] = np.where(bad, np.float32(np.nan), shifted)
    out["pred"] = np.where(bad, np.float32(np.nan), pred)
    if bad.any():
        _warn_not_positive(bad.sum(axis=-1), bad.shape[-1], bool((bad & np.isnan(value)).any()))
    return out


def _warn_not_positive(broken: np.ndarray, n_draws: int, undefined: bool) -> None:
    """Warn once about the points where a log-scale law is <= 0 in some draws."""
    where = [
        f"point {i + 1} in {100 * count / n_draws:.3g}% of draws"
        for i, count in enumerate(broken)
        if count > 0
    ]
    shown = ", ".join(where[:5]) + (f" and {len(where) - 5} more points" if len(where) > 5 else "")
    what = "<= 0 or undefined" if undefined else "<= 0"
    warnings.warn(
        f"the law is {what} at {shown}: its form breaks down there (a run's loss under "
        f"multiplicative noise, L * exp(noise), must be > 0). The new-run (pred_*) and "
        f"discrepancy (disc_*) columns are left NaN at those points; the law_* columns show the "
        f"law's value where it is finite. Forecast closer to the runs, or use a law that stays "
        f"positive there",
        UserWarning,
        stacklevel=_caller_level(),
    )


def warn_thin_tails(level: float | Sequence[float], n_draws: int) -> None:
    """Warn when the widest interval asked for leaves too few draws beyond its ends.

    A 99.99% interval from 4000 draws has 0.2 draws beyond each end: its ends are the most
    extreme draws, not the quantiles they stand for, and change from seed to seed.

    Parameters
    ----------
    level : float or sequence of float
        The credible level(s) asked for (already checked).
    n_draws : int
        The posterior draws the intervals are taken from.
    """
    widest = max(_levels(level))
    tail = n_draws * (1 - widest) / 2
    if tail >= TAIL_DRAWS:
        return
    needed = math.ceil(2 * TAIL_DRAWS / (1 - widest))
    warnings.warn(
        f"a {level_label(widest)}% interval from {n_draws} posterior draws has {tail:.2g} "
        f"draws beyond each end: its ends are the most extreme draws, whose values are "
        f"chance, not the interval's. Take more draws (at least {needed} over all chains: "
        f"fit(..., draws=..., chains=...), --draws, --chains) or ask for a lower level",
        UserWarning,
        stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside bayescale (the user's line)."""
    import sys

    package = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        level += 1
    return level
