"""IsoFLOP curves in a set of runs, and the minimum of each (Hoffmann et al. 2022, approach 2).

An IsoFLOP curve is a set of runs at one compute budget ``C = k N D`` with different model
sizes. Its loss is about a parabola in ``log N`` near the optimum, and the vertex of that
parabola is the budget's empirical compute-optimal size: what a user would call "the minimum
of the IsoFLOP curve". The discrepancy of a compute-optimal plan is learned by comparing the
plans of backtest refits with these minima (:func:`bayescale.discrepancy.backtest`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from bayescale.data import Runs
    from bayescale.fitting import Fit

__all__ = [
    "IsoFLOPCurve",
    "curve_noise",
    "find_curves",
    "isoflop_minima",
    "parabola_minimum",
    "parabola_vertices",
]

#: Runs within this relative distance of a budget's compute belong to its curve.
TOLERANCE = 0.1
#: Half-width in log N of the runs a minimum is fitted on (a factor 10 either side): the loss
#: along an IsoFLOP curve is a parabola in log N only near its minimum, and a parabola through
#: a very wide sweep misplaces the vertex by more than its noise. A narrower window costs more
#: in noise than it saves in bias on sweeps of the usual width (a factor 30-100 in N).
WINDOW = np.log(10.0)
#: Fewest runs on a curve: a parabola has 3 coefficients, and its vertex's standard error
#: needs at least 2 residual degrees of freedom.
FEWEST = 5


@dataclass(frozen=True)
class IsoFLOPCurve:
    """One budget's runs and the minimum of the parabola through them.

    Attributes
    ----------
    compute : float
        Geometric mean compute of the curve's runs, in FLOPs.
    rows : numpy.ndarray
        Positions of the curve's runs in the arrays given to :func:`find_curves`.
    log_n_min : float
        ``log N`` at the parabola's vertex.
    se : float
        Standard error of ``log_n_min`` (delta method on the least-squares fit).
    fitted : numpy.ndarray
        The rows (a subset of ``rows``) the final parabola was fitted on: a law's own
        minimum on this curve is measured on the same runs (:func:`parabola_vertices`).
    rss : float
        Sum of the squared residuals of log loss around that parabola.
    """

    compute: float
    rows: np.ndarray
    log_n_min: float
    se: float
    fitted: np.ndarray
    rss: float = 0.0


def parabola_minimum(
    log_n: np.ndarray, log_y: np.ndarray, window: float = WINDOW, noise: float = 0.0
) -> tuple[float, float] | None:
    """Vertex of the least-squares parabola of ``log_y`` in ``log_n``, with its standard error.

    The parabola is fitted to all runs, then again (twice) to the runs within ``window`` of
    its vertex, as long as :data:`FEWEST` runs lie there.

    Parameters
    ----------
    log_n, log_y : numpy.ndarray
        Log model size and log loss of the runs on one curve, at least :data:`FEWEST`.
    window : float, default log(10)
        Half-width in ``log N`` of the runs the final parabola is fitted on.
    noise : float, default 0
        The runs' noise (standard deviation of log loss), when known from a fit of all the
        runs: the standard error uses the larger of it and the parabola's own residual
        standard deviation, which with 5-7 runs (2-4 degrees of freedom) is often far too
        small by chance.

    Returns
    -------
    tuple of float, or None
        ``(log_n_min, se)``; None when the parabola opens downward, or its vertex lies outside
        the runs' range of ``log N`` (the curve does not bracket its minimum), or there are
        too few runs.
    """
    found = _windowed(np.asarray(log_n, float), np.asarray(log_y, float), window, noise)
    return None if found is None else found[:2]


def _windowed(
    log_n: np.ndarray, log_y: np.ndarray, window: float, noise: float
) -> tuple[float, float, float, np.ndarray] | None:
    """:func:`parabola_minimum`, its residual sum of squares and the mask of the runs its
    final parabola used."""
    used = np.ones(len(log_n), dtype=bool)
    found = _vertex(log_n, log_y, noise)
    for _ in range(2):
        if found is None:
            break
        near = np.abs(log_n - found[0]) <= window
        if near.sum() < FEWEST or near.all():
            break
        refined = _vertex(log_n[near], log_y[near], noise)
        if refined is None:  # too few runs near it to bracket the vertex: keep the wider fit
            break
        found, used = refined, near
    return None if found is None else (*found, used)


def parabola_vertices(log_n: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    """Vertex of the least-squares parabola in ``log_n`` of each row of ``log_y``.

    How a law's loss curve would place the minimum if measured like the runs: the same
    ``log N`` values and the same parabola, so the parabola's own approximation error cancels
    when it is compared with the runs' minimum.

    Parameters
    ----------
    log_n : numpy.ndarray
        Log model sizes, shape ``(runs,)``.
    log_y : numpy.ndarray
        Log losses, shape ``(draws, runs)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(draws,)``; NaN where the parabola opens downward.
    """
    log_n = np.asarray(log_n, dtype=float)
    centre = log_n.mean()
    x = log_n - centre
    design = np.column_stack([np.ones_like(x), x, x**2])
    coef = np.linalg.pinv(design) @ np.asarray(log_y, dtype=float).T
    b, c = coef[1], coef[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, centre - b / (2 * c), np.nan)


def curve_noise(curves: list[IsoFLOPCurve]) -> float | None:
    """Standard deviation of a typical curve's log loss around its parabola.

    The median over curves of each one's residual standard deviation: one curve with
    outliers (a mislabelled run, a diverged one) would dominate a pooled sum of squares.

    Parameters
    ----------
    curves : list of IsoFLOPCurve
        Curves from :func:`find_curves`.

    Returns
    -------
    float or None
        The median of ``sqrt(rss / (runs - 3))`` over the curves; None without any.
    """
    sds = [
        np.sqrt(curve.rss / (len(curve.fitted) - 3)) for curve in curves if len(curve.fitted) > 3
    ]
    return float(np.median(sds)) if sds else None


def _vertex(
    log_n: np.ndarray, log_y: np.ndarray, noise: float
) -> tuple[float, float, float] | None:
    if len(log_n) < FEWEST or np.ptp(log_n) <= 0:
        return None
    centre = log_n.mean()
    x = log_n - centre
    design = np.column_stack([np.ones_like(x), x, x**2])
    coef, _, rank, _ = np.linalg.lstsq(design, log_y, rcond=None)
    _, b, c = coef
    if rank < 3 or c <= 0:
        return None
    vertex = -b / (2 * c)
    if not x.min() < vertex < x.max():
        return None
    residual = log_y - design @ coef
    rss = float(residual @ residual)
    sigma2 = max(rss / (len(x) - 3), noise**2)
    covariance = sigma2 * np.linalg.inv(design.T @ design)
    gradient = np.array([0.0, -1 / (2 * c), b / (2 * c**2)])
    se = float(np.sqrt(max(gradient @ covariance @ gradient, 0.0)))
    return float(vertex + centre), se, rss


def _sharing(sorted_log_c: np.ndarray, width: float) -> np.ndarray:
    """For each run (sorted by log compute), how many runs lie within ``width`` of its."""
    return np.searchsorted(sorted_log_c, sorted_log_c + width, "right") - np.searchsorted(
        sorted_log_c, sorted_log_c - width, "left"
    )


def find_curves(
    N: np.ndarray,
    D: np.ndarray,
    y: np.ndarray,
    compute_factor: float = 6.0,
    tolerance: float = TOLERANCE,
    noise: float = 0.0,
    missed: list[dict[str, float]] | None = None,
) -> list[IsoFLOPCurve]:
    """The IsoFLOP curves among runs, each with a bracketed minimum.

    Budgets are found greedily: the compute with the most runs within ``tolerance`` of it
    becomes a curve, its runs are removed, and so on while a budget has :data:`FEWEST` runs.
    A curve whose parabola has no minimum inside its runs' range is left out.

    Parameters
    ----------
    N, D : numpy.ndarray
        Parameters and training tokens of each run.
    y : numpy.ndarray
        Loss of each run (> 0).
    compute_factor : float, default 6.0
        ``k`` in ``C = k N D``.
    tolerance : float, default 0.1
        Relative distance in compute within which runs share a budget.
    noise : float, default 0
        The runs' noise on log loss (see :func:`parabola_minimum`).
    missed : list, optional
        If given, a budget with enough runs but no minimum inside them is appended to it as
        ``{"C": compute, "runs": count}``.

    Returns
    -------
    list of IsoFLOPCurve
        Sorted by compute.
    """
    log_n, log_y = np.log(np.asarray(N, dtype=float)), np.log(np.asarray(y, dtype=float))
    log_c = np.log(compute_factor) + log_n + np.log(np.asarray(D, dtype=float))
    width = np.log1p(tolerance)
    free = np.ones(len(log_c), dtype=bool)
    curves = []
    while free.sum() >= FEWEST:
        rows = np.flatnonzero(free)
        order = rows[np.argsort(log_c[rows], kind="stable")]
        sorted_c = log_c[order]
        counts = _sharing(sorted_c, width)
        best = int(np.argmax(counts))
        if counts[best] < FEWEST:
            break
        members = order[np.abs(sorted_c - sorted_c[best]) <= width]
        free[members] = False
        members = np.sort(members)
        found = _windowed(log_n[members], log_y[members], WINDOW, noise)
        compute = float(np.exp(log_c[members].mean()))
        if found is not None:
            log_n_min, se, rss, used = found
            curves.append(IsoFLOPCurve(compute, members, log_n_min, se, members[used], rss))
        elif missed is not None:
            missed.append({"C": compute, "runs": len(members)})
    return sorted(curves, key=lambda curve: curve.compute)


def isoflop_minima(
    runs: Runs | pd.DataFrame | str | os.PathLike[str],
    level: float = 0.9,
    tolerance: float = TOLERANCE,
    fit: Fit | None = None,
    fixed: dict[str, float] | None = None,
    group: str | None = None,
    *,
    x: Mapping[str, str] | None = None,
    y: str | None = None,
    compute_factor: float | None = None,
) -> pd.DataFrame:
    """Each IsoFLOP curve's measured minimum and the frontier through them (approach 2).

    Hoffmann et al. 2022's second approach, without a law: the runs sharing a compute budget
    (within ``tolerance``) form a curve; a parabola in ``log N`` through each curve's log loss
    places its minimum; a straight line through the minima in ``log C`` gives the frontier
    ``N_opt ~ C^a`` (``D_opt ~ C^(1-a)``). This is the measurement a law's compute-optimal plan
    (:meth:`bayescale.Fit.compute_optimal`) is checked against. Runs in groups
    (``load_runs(..., group=...)``) are measured group by group: a curve never mixes
    datasets.

    Parameters
    ----------
    runs : Runs, DataFrame or path
        From :func:`bayescale.load_runs`, with N and D (or C and one of them); or a table
        (DataFrame or path), read with :func:`bayescale.load_runs` and ``x``, ``y`` and
        ``compute_factor`` below (runs in groups: load them with ``load_runs(...,
        group=...)`` and pass the Runs).
    level : float, default 0.9
        Level of the intervals.
    tolerance : float, default 0.1
        Relative distance in compute within which runs share a budget.
    fit : Fit, optional
        A fit of a law in N and D (usually of these runs, with the same compute factor):
        each budget's plan (``compute_optimal``) is set beside the measured minimum, and
        whether the minimum lies inside the law's interval (``in_law``), the one with the
        plan's discrepancy (``in_disc``), each widened by the minimum's own error (in
        quadrature on log N, as a measured point is compared with an interval), and the
        interval of a new curve's minimum (``in_pred``) for a curve of this one's runs,
        spread and noise. On the fit's own runs this is a consistency check, not a
        forecast. For a fit with groups, each group's runs are set beside that group's plan.
    fixed : mapping, optional
        The law's inputs other than N and D (e.g. unique tokens ``U``), for its plan.
    group : str, optional
        Only this group's runs (runs in groups), or the group of a fit with groups whose
        plan is set beside ungrouped runs.
    x : mapping of str to str, optional
        For a table: input name to column, as in :func:`bayescale.load_runs` (default the
        columns named N, D, C and U).
    y : str, optional
        For a table: the loss column; default ``"loss"``.
    compute_factor : float, optional
        For a table: ``k`` in ``C = k N D``; default the fit's runs' with ``fit``, else 6.

    Returns
    -------
    pandas.DataFrame
        One row per curve with a minimum inside its runs, by compute (after a ``group``
        column for runs in groups): ``C``, ``runs`` (on the curve), ``fitted`` (near the
        minimum, the parabola's runs), ``N_min`` with ``N_lower_*`` / ``N_upper_*`` (the
        vertex's interval: delta method, normal), ``D_min`` (``C / (k N_min)``),
        ``tokens_per_parameter``, ``loss_min`` (the parabola's value there) and
        ``se_log_N``; with ``fit``, ``plan_N_median``, the plan's intervals the checks use
        (``plan_N_lower_*``, ``plan_N_disc_*``, ``plan_N_pred_*``; the last for a curve like
        this one) and the ``in_*`` columns. ``attrs``:
        ``frontier`` (``exponent`` a with ``exponent_lower`` / ``exponent_upper``,
        ``intercept`` of ``log N_opt`` at ``log C``, ``curves``, ``level``; None with fewer
        than 3 curves; for runs in groups a mapping of group to that), ``noise`` (the
        typical curve's residual sd of log loss, the floor of each vertex's standard error;
        per group likewise), ``missed`` (budgets with enough runs but no minimum inside
        them, each with its ``group`` for runs in groups) and ``compute_factor``.

    Raises
    ------
    DataError
        For runs that are neither Runs nor a table (or a table that cannot be read), ``x``,
        ``y`` or ``compute_factor`` given with Runs, runs without N and D (or C to derive
        one), without any IsoFLOP curve (the message says what a curve needs), a fit of
        another compute factor, a fit with groups but no group to set beside, or a group
        the runs or the fit lack.
    """
    from bayescale.errors import DataError
    from bayescale.forecast import level_label
    from bayescale.settings import check_level

    runs = _as_runs(runs, fit, x, y, compute_factor)
    level = check_level(level, "level")
    tag = level_label(level)
    if not {"N", "D"} <= set(runs.inputs):
        raise DataError(
            f"IsoFLOP curves need each run's N and D (or C and one of them); the runs from "
            f"{runs.source} have {', '.join(runs.inputs)}"
        )
    if fit is not None and not np.isclose(fit.runs.compute_factor, runs.compute_factor):
        raise DataError(
            f"the runs take C = {runs.compute_factor:g} N D but the fit's runs "
            f"{fit.runs.compute_factor:g} N D: give the runs the fit's compute factor "
            f"(load_runs(..., compute_factor={fit.runs.compute_factor:g}); --compute-factor)"
        )
    fit_groups = list(fit.groups) if fit is not None and fit.pooling is not None else []
    if runs.group is None:
        if group is not None and not fit_groups:
            raise DataError(
                f"group {group!r} is asked but neither the runs nor the fit have groups; load "
                f"the runs with their group column (load_runs(..., group=COLUMN); --group-by "
                f"COLUMN), or leave group out"
            )
        if fit_groups and group is None:
            raise DataError(
                f"the fit has groups ({', '.join(fit_groups)}): say whose plan to set beside "
                f"these runs with group= (--group NAME)"
            )
        view = _group_view(fit, group, fit_groups)
        return _minima(runs, level, tag, tolerance, view, fixed)
    labels = list(runs.group_names)
    if group is not None and group not in labels:
        raise DataError(
            f"group {group!r} is not among the runs' groups ({', '.join(labels)}); give one of "
            f"them, or leave group out for every group"
        )
    tables, frontiers, noises, missed = [], {}, {}, []
    problems = []
    for label in [group] if group is not None else labels:
        part = runs.subset(np.array([g == label for g in runs.group]))
        view = _group_view(fit, label if fit_groups else None, fit_groups)
        try:
            table = _minima(part, level, tag, tolerance, view, fixed)
        except DataError as err:
            problems.append(f"group {label}: {err}")
            continue
        frontiers[label] = table.attrs["frontier"]
        noises[label] = table.attrs["noise"]
        missed += [{**m, "group": label} for m in table.attrs["missed"]]
        table.insert(0, "group", label)
        tables.append(table)
    if not tables:
        raise DataError("; ".join(problems))
    import pandas as pd

    out = pd.concat(tables, ignore_index=True)
    out.attrs.update(
        frontier=frontiers,
        noise=noises,
        missed=missed,
        compute_factor=runs.compute_factor,
        skipped=problems,
    )
    if fit is not None:
        out.attrs["fit_ok"] = bool(fit.ok)
    return out


def _as_runs(
    runs: Any,
    fit: Fit | None,
    x: Mapping[str, str] | None,
    y: str | None,
    compute_factor: float | None,
) -> Runs:
    """:func:`isoflop_minima`'s runs as Runs: a table is read with load_runs, as fit does."""
    import pandas as pd

    from bayescale.data import Runs, load_runs
    from bayescale.errors import DataError

    reading = {"x": x, "y": y, "compute_factor": compute_factor}
    given = [f"{key}=" for key, value in reading.items() if value is not None]
    if isinstance(runs, Runs):
        if given:
            raise DataError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for reading a table; "
                f"isoflop_minima was given Runs already loaded: leave "
                f"{'it' if len(given) == 1 else 'them'} out, or give the table itself"
            )
        return runs
    if not isinstance(runs, pd.DataFrame | str | os.PathLike):
        raise DataError(
            f"isoflop_minima needs runs: Runs from bayescale.load_runs(...), a pandas "
            f"DataFrame or the path of a table; got {type(runs).__name__}"
        )
    if compute_factor is None and fit is not None:
        # The fit's plans are set beside the runs: the same C = k N D for both.
        compute_factor = fit.runs.compute_factor
    options = {"x": x, "y": y, "compute_factor": compute_factor}
    return load_runs(runs, **{key: value for key, value in options.items() if value is not None})


def _group_view(fit: Fit | None, group: str | None, fit_groups: list[str]) -> Fit | None:
    """The fit, or its law for one group (a fit with groups plans group by group)."""
    from bayescale.errors import DataError

    if fit is None or not fit_groups:
        return fit
    if group is None:
        return None
    if group not in fit_groups and group != "new":
        raise DataError(
            f"group {group!r} is not one of the fit's groups ({', '.join(fit_groups)}); "
            f"give one of them (or 'new')"
        )
    return fit.group(group)


def _minima(
    runs: Runs,
    level: float,
    tag: str,
    tolerance: float,
    fit: Fit | None,
    fixed: dict[str, float] | None,
) -> pd.DataFrame:
    """:func:`isoflop_minima` of one family of runs."""
    import pandas as pd
    from scipy import stats

    from bayescale.errors import DataError

    n, d, y, k = runs.x("N"), runs.x("D"), runs.y, runs.compute_factor
    if np.any(y <= 0):
        raise DataError(f"IsoFLOP curves are fitted on log loss; {runs.source} has a loss <= 0")
    # The vertices' standard errors need the runs' noise: a parabola through 5-7 runs often
    # has a residual sd far too small by chance, so the typical curve's sd is their floor.
    noise = curve_noise(find_curves(n, d, y, k, tolerance)) or 0.0
    missed: list[dict[str, float]] = []
    curves = find_curves(n, d, y, k, tolerance, noise=noise, missed=missed)
    if not curves:
        most = int(np.max(_sharing(np.sort(np.log(k * n * d)), np.log1p(tolerance))))
        raise DataError(
            f"no IsoFLOP curve in the {len(runs)} runs from {runs.source}: a curve is "
            f"{FEWEST} or more runs within {tolerance:.0%} of one compute C = {k:g} N D whose "
            f"loss has its minimum in N inside them; "
            + (
                f"{len(missed)} budgets had the runs but no minimum inside"
                if missed
                else f"at most {most} of these runs share a budget (runs that vary N and D "
                f"on a grid, or tokens per parameter at each N, are not IsoFLOP curves)"
            )
        )
    z = float(stats.norm.ppf(0.5 + level / 2))
    rows = []
    log_n, log_y = np.log(n), np.log(y)
    for curve in curves:
        used = curve.fitted
        coef = np.polyfit(log_n[used], log_y[used], 2)
        n_min = float(np.exp(curve.log_n_min))
        rows.append(
            {
                "C": curve.compute,
                "runs": len(curve.rows),
                "fitted": len(used),
                "N_min": n_min,
                f"N_lower_{tag}": float(np.exp(curve.log_n_min - z * curve.se)),
                f"N_upper_{tag}": float(np.exp(curve.log_n_min + z * curve.se)),
                "D_min": curve.compute / (k * n_min),
                "tokens_per_parameter": curve.compute / (k * n_min**2),
                "loss_min": float(np.exp(np.polyval(coef, curve.log_n_min))),
                "se_log_N": curve.se,
            }
        )
    table = pd.DataFrame(rows)
    table.attrs.update(
        frontier=_frontier(curves, level),
        noise=noise,
        missed=missed,
        compute_factor=k,
    )
    if fit is not None:
        table = _beside_plan(table, curves, log_n, fit, level, tag, z, noise, fixed)
    return table


def _frontier(curves: list[IsoFLOPCurve], level: float) -> dict[str, Any] | None:
    """Weighted least squares of the minima's ``log N`` on ``log C`` (weights 1 / se^2)."""
    from scipy import stats

    if len(curves) < 3:
        return None
    x = np.log([c.compute for c in curves])
    y = np.array([c.log_n_min for c in curves])
    w = 1.0 / np.maximum(np.array([c.se for c in curves]), 1e-6) ** 2
    design = np.column_stack([np.ones_like(x), x])
    gram = design.T @ (w[:, None] * design)
    coef = np.linalg.solve(gram, design.T @ (w * y))
    residual = y - design @ coef
    dof = len(x) - 2
    # Minima that scatter more than their standard errors say: the frontier's own error grows
    # with that scatter (never shrinks below the errors' own).
    scale = max(1.0, float(residual @ (w * residual)) / dof)
    se = float(np.sqrt(scale * np.linalg.inv(gram)[1, 1]))
    t = float(stats.t.ppf(0.5 + level / 2, dof))
    return {
        "exponent": float(coef[1]),
        "exponent_lower": float(coef[1] - t * se),
        "exponent_upper": float(coef[1] + t * se),
        "intercept": float(coef[0]),
        "curves": len(curves),
        "level": level,
    }


def _beside_plan(
    table: pd.DataFrame,
    curves: list[IsoFLOPCurve],
    log_n: np.ndarray,
    fit: Fit,
    level: float,
    tag: str,
    z: float,
    noise: float,
    fixed: dict[str, float] | None,
) -> pd.DataFrame:
    """The fit's plan at each curve's budget, and whether each interval holds the minimum."""
    import warnings

    from bayescale.errors import DataError

    if not {"N", "D"} <= set(fit.law.inputs):
        raise DataError(
            f"a plan needs a law in N and D; law {fit.law.name!r} has {', '.join(fit.law.inputs)}"
        )
    import pandas as pd

    with warnings.catch_warnings():
        # The plan's own caveats (a failed fit's flag is kept in its attrs and said below).
        warnings.simplefilter("ignore", UserWarning)
        # Budget by budget: each with the minimum a new curve like this one would measure
        # (its runs, its spread in N about the optimum, the runs' noise). A budget's interval
        # does not depend on the other budgets asked.
        plan = pd.concat(
            [
                fit.compute_optimal(
                    [curve.compute],
                    level=level,
                    fixed=fixed,
                    sweep={
                        "runs": len(curve.fitted),
                        "spread": max(float(np.exp(np.ptp(log_n[curve.fitted]) / 2)), 1.01),
                        "noise": noise,
                    },
                )
                for curve in curves
            ],
            ignore_index=True,
        )
    out = table.copy()
    out["plan_N_median"] = plan["N_median"].to_numpy()
    # The intervals the checks below judge by, so that a table of them can be checked.
    for prefix in ("N", "N_disc", "N_pred"):
        for end in ("lower", "upper"):
            column = f"{prefix}_{end}_{tag}"
            if column in plan.columns:
                out[f"plan_{column}"] = plan[column].to_numpy()
    log_min = np.log(out["N_min"].to_numpy())
    own = z * out["se_log_N"].to_numpy()
    for column, prefix in (("in_law", "N"), ("in_disc", "N_disc")):
        low, high = f"{prefix}_lower_{tag}", f"{prefix}_upper_{tag}"
        if low in plan.columns:
            a, b = np.log(plan[low].to_numpy()), np.log(plan[high].to_numpy())
            # The measured minimum has an error of its own: a point against an interval,
            # both uncertain, widened in quadrature (the half-widths on log N).
            half = np.sqrt(((b - a) / 2) ** 2 + own**2)
            out[column] = np.abs(log_min - (a + b) / 2) <= half
    low, high = f"N_pred_lower_{tag}", f"N_pred_upper_{tag}"
    if low in plan.columns:
        n_min = out["N_min"].to_numpy()
        out["in_pred"] = (plan[low].to_numpy() <= n_min) & (n_min <= plan[high].to_numpy())
    if not {"in_law", "in_disc", "in_pred"} & set(out.columns):
        raise DataError(f"the fit's plan has no {tag}% interval of N to set the minima beside")
    out.attrs.update(table.attrs)
    out.attrs["fit_ok"] = bool(fit.ok)
    return out
