"""What the report is asked about: target points, compute budgets, a comparison of laws.

The ``read_*`` functions check the report's options at the boundary, in the forms the
:class:`~bayescale.Fit` methods take them (points as ``Fit.forecast``'s ``at``, budgets as
``compute_optimal``'s, a target loss as ``budget_for``'s), so that a slip is one clear
:class:`~bayescale.errors.DataError` rather than a traceback from deep in the report.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.comparison import Comparison
from bayescale.errors import DataError, closest
from bayescale.fitting import Fit
from bayescale.planning import in_compute_alone
from bayescale.plots._common import compute_of, has_n_and_d

__all__ = [
    "default_targets",
    "held_inputs",
    "load_comparison",
    "read_budgets",
    "read_comparison",
    "read_fit",
    "read_target_loss",
    "read_targets",
]


def read_fit(
    fit: Any, fit_path: str | os.PathLike[str] | None = None
) -> tuple[Fit, str | os.PathLike[str] | None]:
    """The fit to report on, read from its file when given a path.

    Parameters
    ----------
    fit : Fit, str or PathLike
        A fit, or the file it was saved to (:meth:`bayescale.Fit.save`).
    fit_path : str or PathLike, optional
        The fit's file as the caller gave it; default the path ``fit`` is, if it is one.

    Returns
    -------
    tuple of (Fit, str or PathLike or None)
        The fit and its file (whose SHA-256 the report records).

    Raises
    ------
    DataError
        If ``fit`` is neither a fit nor a path.
    BayescaleError
        If the file cannot be read as a fit.
    """
    if isinstance(fit, str | os.PathLike):
        from bayescale.fitting import load_fit

        return load_fit(fit), fit if fit_path is None else fit_path
    if not isinstance(fit, Fit):
        raise DataError(
            f"the report is of a fit (bayescale.fit) or the file it was saved to (Fit.save), "
            f"not {type(fit).__name__}"
        )
    return fit, fit_path


def read_targets(fit: Fit, at: Any) -> list[dict[str, float]] | None:
    """The report's target points as one mapping of numbers per point.

    Parameters
    ----------
    fit : Fit
        The fit whose law the points are for.
    at : mapping, DataFrame, list of mappings or None
        The points in any form :meth:`bayescale.Fit.forecast` takes (e.g.
        ``{"N": [7e10], "D": [1.4e12]}``, ``[{"N": 7e10, "D": 1.4e12}]``, text such as
        ``"70B"``); of N, D and C any two.

    Returns
    -------
    list of dict or None
        ``[{input: value}]`` with the inputs as given, one per point; None for no ``at``.

    Raises
    ------
    DataError
        If ``at`` is not a form of points, names a column that is not an input of the law
        (a group column: the report's group is ``group=``), gives no point, or a point is
        not valid (see :func:`bayescale.forecast.forecast_points`).
    """
    from bayescale.forecast import as_points, forecast_points

    if at is None:
        return None
    points = as_points(at)
    given = [str(c) for c in (points.columns if isinstance(points, pd.DataFrame) else points)]
    inputs = list(fit.law.inputs)
    triad = bool({"N", "D", "C"} & set(inputs))
    known = [*inputs, *(n for n in ("N", "D", "C") if triad and n not in inputs)]
    for name in given:
        if name in known:
            continue
        if name == "group" or name in fit.runs.group_by:
            raise DataError(
                f"at has a {name!r} column, but the report is about one group: give it as "
                f"group=, and the points without it"
            )
        guess = closest(name, known)
        hint = f"; did you mean {guess!r}?" if guess is not None else ""
        any_two = "; of N, D and C any two" if triad else ""
        raise DataError(
            f"at names {name!r}, not an input of law {fit.law.name!r} (it takes "
            f"{', '.join(inputs)}{any_two}){hint}"
        )
    frame = forecast_points(fit.law, points, fit.runs.compute_factor)
    if frame.empty:
        raise DataError(
            "at gives no point; give at least one, e.g. at={'N': [7e10], 'D': [1.4e12]}"
        )
    return [{name: float(row[name]) for name in given} for _, row in frame.iterrows()]


def read_budgets(compute: Any) -> list[float]:
    """The report's compute budgets, as ``compute_optimal`` takes them.

    Parameters
    ----------
    compute : float, str, sequence of float or None
        One budget in FLOPs or several (``1e24``, ``[1e23, 1e24]``, ``"1e24"``).

    Returns
    -------
    list of float
        The budgets; empty for none given (None or an empty list).

    Raises
    ------
    DataError
        If a budget is not a positive number.
    """
    from bayescale.planning import check_budgets

    if compute is None:
        return []
    if not isinstance(compute, str) and np.ndim(compute) == 1 and len(compute) == 0:
        return []
    budgets = [float(c) for c in check_budgets(compute, "compute")]
    if any(not (math.isfinite(c) and c > 0) for c in budgets):
        raise DataError(f"compute budgets must be positive numbers, got {compute!r}")
    return budgets


def read_target_loss(target_loss: Any) -> float | None:
    """The report's target loss, as ``budget_for`` takes one.

    Parameters
    ----------
    target_loss : float, str or None
        A loss to reach (``2.0`` or ``"2.0"``).

    Returns
    -------
    float or None
        The loss; None for none given.

    Raises
    ------
    DataError
        If it is not one positive number.
    """
    from bayescale.planning import check_targets

    if target_loss is None:
        return None
    values = [] if isinstance(target_loss, bool) else check_targets(target_loss)
    if len(values) != 1 or not (math.isfinite(values[0]) and values[0] > 0):
        raise DataError(f"target loss must be a positive number, got {target_loss!r}")
    return float(values[0])


def read_comparison(comparison: Any) -> Any:
    """The report's comparison as given, refusing what is none of its forms.

    Parameters
    ----------
    comparison : Comparison, str, PathLike, dict or None
        A :class:`~bayescale.Comparison`, the folder it was saved to, or its tables
        already read (:func:`load_comparison`).

    Returns
    -------
    Comparison, str, PathLike, dict or None
        ``comparison`` itself.

    Raises
    ------
    DataError
        If ``comparison`` is of another type.
    """
    if comparison is None or isinstance(comparison, Comparison | str | os.PathLike | dict):
        return comparison
    raise DataError(
        f"comparison must be a Comparison (bayescale.compare) or the folder it was saved to "
        f"(Comparison.save), not {type(comparison).__name__}"
    )


#: Inputs a default target scales up: sizes of the model, the data and the compute. Every
#: other input (learning rate, batch size, number of experts ...) is a setting whose 10x
#: would be a run nobody makes, so a default target holds it at its median in the runs.
SCALE_INPUTS = ("N", "D", "C", "U")
#: How far a default target reaches beyond the largest run, in each scale input.
DEFAULT_FACTOR = 10.0


def held_inputs(fit: Fit) -> dict[str, float]:
    """The inputs a default target holds, at their median in the runs (none for laws of
    scale inputs alone, or of no scale input at all: then every input is scaled).

    The median, rather than the value of the run with the lowest loss: that run is the
    largest, so its setting is tied to its scale, and one noisy run would decide it; the
    median is a value the runs actually cover, whichever of them did best.

    Parameters
    ----------
    fit : Fit
        The fit.

    Returns
    -------
    dict of str to float
        ``{input: median}`` for each input that is not in :data:`SCALE_INPUTS`.
    """
    inputs = list(fit.law.inputs)
    others = [name for name in inputs if name not in SCALE_INPUTS]
    if len(others) == len(inputs):  # e.g. a law of Nnv, Nv and H: its inputs are the scales
        return {}
    return {name: float(np.median(fit.runs.x(name))) for name in others}


def default_targets(fit: Fit, compute: Sequence[float] | None = None) -> list[dict[str, float]]:
    """The targets of a report given none: 10x the largest N, D and C in the runs.

    Only the scale inputs (:data:`SCALE_INPUTS`: N, D, C and unique tokens U) are scaled;
    any other input (a learning rate, a batch size ...) is held at its median in the runs
    (:func:`held_inputs`). A law with no scale input among its inputs scales every input.
    A law of compute C without N and D (e.g. ``power_law_C``) forecasts at the budgets
    instead, when some are given: for such a law a budget is a point to forecast.

    Parameters
    ----------
    fit : Fit
        The fit.
    compute : sequence of float, optional
        Budgets in FLOPs (used by a law of compute alone only).

    Returns
    -------
    list of dict
        ``[{input: 10 * max, other input: median}]``, or for a law of compute alone with
        budgets one target per budget, ``{"C": budget}`` (its other inputs as above).
    """
    held = held_inputs(fit)
    base = {
        name: held[name] if name in held else float(DEFAULT_FACTOR * fit.runs.x(name).max())
        for name in fit.law.inputs
    }
    if compute and in_compute_alone(fit.law):
        return [{**base, "C": float(c)} for c in compute]
    return [base]


def target_points(targets: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    """Targets as columns ``{input: [value per target]}``, as ``Fit.forecast`` takes them.

    Raises
    ------
    DataError
        If the targets do not all name the same inputs.
    """
    names = list(dict.fromkeys(name for t in targets for name in t))
    missing = [i + 1 for i, t in enumerate(targets) if set(t) != set(names)]
    if missing:
        raise DataError(
            f"every target must name the same inputs ({', '.join(names)}); "
            f"target {missing[0]} names {', '.join(targets[missing[0] - 1])}"
        )
    return {name: [float(t[name]) for t in targets] for name in names}


def other_inputs(fit: Fit, targets: Sequence[Mapping[str, float]]) -> dict[str, float] | None:
    """Values of inputs other than N, D and C for compute planning: the first target's."""
    others = [name for name in fit.law.inputs if name not in ("N", "D", "C")]
    if not others:
        return None
    return {name: float(targets[0][name]) for name in others if name in targets[0]}


def target_compute(fit: Fit, points: pd.DataFrame) -> list[float]:
    """Compute of the target points (complete, as in a forecast table): for laws of N and
    D, or of compute C itself; other laws have no compute (an empty list)."""
    if in_compute_alone(fit.law):
        return [float(c) for c in points["C"]]
    if not has_n_and_d(fit):
        return []
    if "C" in points:
        return [float(c) for c in points["C"]]
    return [float(c) for c in compute_of(fit, points["N"], points["D"])]


def comparison_tables(comparison: Any) -> dict[str, Any] | None:
    """The tables the report shows of a comparison.

    Parameters
    ----------
    comparison : Comparison, str, PathLike, dict or None
        A :class:`~bayescale.Comparison`, a folder it was saved to, or tables already read.

    Returns
    -------
    dict or None
        As :func:`load_comparison` returns.
    """
    if comparison is None or isinstance(comparison, dict):
        return comparison
    if isinstance(comparison, str | os.PathLike):
        return load_comparison(comparison)
    return _tables(comparison, folder=None)


def _tables(comparison: Comparison, folder: Path | None) -> dict[str, Any]:
    return {
        "loo": comparison.loo,
        "extrapolation": comparison.extrapolation,
        "weights": comparison.weights_table(),
        "verdict": comparison.verdict(),
        "best": comparison.best(),
        "folder": folder,
        "fingerprints": {
            name: f.info.get("data_fingerprint", f.runs.fingerprint())
            for name, f in comparison.fits.items()
        },
    }


def load_comparison(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a saved comparison (:meth:`bayescale.Comparison.load`) as the report's tables.

    Parameters
    ----------
    folder : str or PathLike
        The folder the comparison was saved to.

    Returns
    -------
    dict
        ``loo`` (DataFrame, one row per law), ``extrapolation`` (DataFrame or None),
        ``verdict`` (str), ``best`` (the winning law by each criterion,
        :meth:`bayescale.Comparison.best`), ``folder`` (Path) and ``fingerprints`` ({law:
        data fingerprint} of the saved fits).

    Raises
    ------
    BayescaleError
        If the folder, its ``loo.csv`` or a fit is missing or unreadable.
    """
    return _tables(Comparison.load(folder), Path(folder))
