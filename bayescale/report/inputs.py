"""What the report is asked about: target points, compute budgets, a comparison of laws."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bayescale.comparison import Comparison
from bayescale.errors import DataError
from bayescale.fitting import Fit
from bayescale.planning import in_compute_alone
from bayescale.plots._common import compute_of, has_n_and_d

__all__ = ["default_targets", "load_comparison"]


def default_targets(fit: Fit, compute: Sequence[float] | None = None) -> list[dict[str, float]]:
    """The targets of a report given none: 10x the largest value of each input in the runs.

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
        ``[{input: 10 * max}]``, or for a law of compute alone with budgets one target per
        budget, ``{"C": budget}`` (its other inputs at 10x their largest value).
    """
    base = {name: float(10 * fit.runs.x(name).max()) for name in fit.law.inputs}
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
