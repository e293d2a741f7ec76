"""What the report is asked about: target points, compute budgets, a comparison of laws."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.comparison import Comparison
from bayescale.errors import DataError
from bayescale.fitting import Fit
from bayescale.planning import in_compute_alone
from bayescale.plots._common import compute_of, has_n_and_d

__all__ = ["default_targets", "held_inputs", "load_comparison"]


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
