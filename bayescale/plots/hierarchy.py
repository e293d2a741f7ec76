"""Plots of hierarchical fits: per-group curves, the population of each pooled parameter,
shrinkage of each group's estimate (see :mod:`bayescale.hierarchy`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayescale._format import format_number, size_kind
from bayescale.errors import DataError, closest
from bayescale.fitting import VIEW_OF, Fit
from bayescale.hierarchy import NEW_GROUP
from bayescale.plots._common import axes_grid

__all__ = ["plot_groups", "plot_population", "plot_shrinkage"]


def _require_groups(fit: Fit) -> None:
    if fit.pooling is None:
        raise DataError(
            "this plot needs a fit with groups: fit runs loaded with load_runs(..., group=...)"
        )


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    match = closest(word, choices)
    return f" (did you mean {match!r}?)" if match is not None else ""


def _check_names(fit: Fit, names: Sequence[str], choices: Sequence[str], what: str) -> None:
    """Refuse a parameter the plot cannot draw, naming the closest one it can."""
    for name in names:
        if name in choices:
            continue
        if name in fit.law.parameters:
            kind = fit.pooling.kinds[name]
            raise DataError(
                f"{what}: {name!r} is {kind} across groups, not pooled: it has no population "
                f"to draw; pooled parameters: {', '.join(choices) or 'none'}"
            )
        raise DataError(
            f"{what}: law {fit.law.name!r} has no parameter {name!r}"
            f"{_did_you_mean(name, choices)}; choose from {', '.join(choices)}"
        )


def _grid(axes: Any, n: int, panel: tuple[float, float], what: str) -> np.ndarray:
    cols = min(n, 3)
    rows = -(-n // cols)
    # Constrained layout: the tick labels (group names) and two-line titles of one panel
    # would otherwise run into the panels beside and above it.
    size = (panel[0] * cols, panel[1] * rows)
    grid, _ = axes_grid(axes, (rows, cols), size, what, layout="constrained")
    flat = np.ravel(grid)
    for ax in flat[n:]:
        ax.set_visible(False)
    return flat[:n]


def _interval(values: np.ndarray, level: float) -> tuple[float, float, float]:
    low, mid, high = np.quantile(values, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return float(low), float(mid), float(high)


def plot_groups(
    fit: Fit,
    *,
    groups: Sequence[str] | None = None,
    new: bool = True,
    budgets: Sequence[float] | None = None,
    level: float = 0.9,
    axes: Any = None,
) -> np.ndarray:
    """One panel per group: its runs, its posterior median law and bands (see ``plot_fit``).

    Parameters
    ----------
    fit : Fit
        A hierarchical fit.
    groups : sequence of str, optional
        Groups to draw; default all of the fit's.
    new : bool, default True
        Add a panel for a group not yet observed (parameters drawn from the population),
        over all the runs: how wide a forecast for an untried family is.
    budgets : sequence of float, optional
        IsoFLOP budgets shared by the panels (laws in N and D); default each group's own.
    level : float, default 0.9
        Credible level of the bands.
    axes : array of Axes, optional
        One per panel; default a new figure.

    Returns
    -------
    numpy.ndarray of Axes
        The panels.
    """
    from bayescale.plots.fit import plot_fit

    _require_groups(fit)
    names = list(groups or fit.groups) + ([NEW_GROUP] if new else [])
    axes = _grid(axes, len(names), (6.5, 4.5), "plot_groups")
    for ax, name in zip(axes, names, strict=True):
        plot_fit(fit.group(name), budgets=budgets, level=level, ax=ax)
        what = "a new group (drawn from the population)" if name == NEW_GROUP else name
        ax.set_title(f"{what}: {fit.law.name}, {100 * level:.0f}% bands", fontsize=9)
    return axes


def _pooled_scale(fit: Fit, name: str) -> tuple[str, str]:
    """The variable the population is over (the value at the reference scale, if any), and
    its label: ``A * N^-alpha at N = 126M`` for ``A`` stated at the runs' typical N."""
    p = fit.law.parameters[name]
    if p.reference is not None:
        inp, power = p.reference
        shown = power if power.replace("_", "").replace(".", "").isalnum() else f"({power})"
        at = format_number(float(np.exp(fit.log_ref[inp])), size_kind(inp), digits=3)
        return f"{name}_ref", f"{name} * {inp}^-{shown} at {inp} = {at}"
    return name, name


def plot_population(
    fit: Fit,
    parameters: Sequence[str] | None = None,
    *,
    level: float = 0.9,
    axes: Any = None,
) -> np.ndarray:
    """Forest plot of each pooled parameter: groups, population centre and a new group.

    Per group, the posterior median (dot) with the central 50% (thick) and ``level``
    (thin) intervals, as ArviZ's forest plots draw them; below, the population median
    (``p_loc``) and the distribution of a new group's value, whose width is the learned
    spread. Parameters stated at a reference scale are shown there, where they are pooled.

    Parameters
    ----------
    fit : Fit
        A hierarchical fit.
    parameters : sequence of str, optional
        Pooled parameters to draw; default every pooled one.
    level : float, default 0.9
        Outer interval's probability.
    axes : array of Axes, optional
        One per parameter.

    Returns
    -------
    numpy.ndarray of Axes
        The panels.

    Raises
    ------
    DataError
        If the fit has no groups, pools no parameter, or ``parameters`` names one it does
        not pool.
    """
    _require_groups(fit)
    names = list(parameters or fit.pooling.pooled)
    if not names:
        raise DataError(
            "the fit pools no parameter: nothing to draw (pooling is 'complete'/'none')"
        )
    _check_names(fit, names, fit.pooling.pooled, "plot_population")
    height = 0.45 * (len(fit.groups) + 3) + 1.2
    axes = _grid(axes, len(names), (4.5, height), "plot_population")
    post = fit.idata.posterior
    new = fit.group(NEW_GROUP).idata.posterior
    for ax, name in zip(axes, names, strict=True):
        variable, label = _pooled_scale(fit, name)
        rows: list[tuple[str, np.ndarray, str]] = []
        for g in fit.groups:
            rows.append((g, post[variable].sel(group=g).values.reshape(-1), "C0"))
        rows.append(("population median", post[f"{name}_loc"].values.reshape(-1), "C3"))
        values = new[name].values.reshape(-1)
        p = fit.law.parameters[name]
        if p.reference is not None:
            # The new group's value at the reference scale: undo the reference shift.
            from bayescale.formula import NUMPY, Formula

            inp, power = p.reference
            theta = {n: new[n].values.reshape(-1) for n in fit.law.parameters}
            values = values * np.exp(-Formula(power).evaluate(theta, NUMPY) * fit.log_ref[inp])
        rows.append((f"{NEW_GROUP} group", values, "C2"))
        for y, (_, draws, color) in enumerate(reversed(rows)):
            low, mid, high = _interval(draws, level)
            q25, q75 = np.quantile(draws, [0.25, 0.75])
            ax.plot([low, high], [y, y], color=color, lw=1.2)
            ax.plot([q25, q75], [y, y], color=color, lw=3.5)
            ax.plot([mid], [y], "o", color=color, mfc="white", ms=5)
        ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)], fontsize=8)
        tau = post[f"{name}_tau"].values.reshape(-1)
        ax.set_title(
            f"{label}\nspread tau median {np.median(tau):.3g}"
            + (" (log scale)" if p.positive else ""),
            fontsize=9,
        )
        ax.grid(True, axis="x", alpha=0.25)
    return axes


def _unpooled_draws(
    unpooled: Fit | Mapping[str, Fit], variable: str, group: str
) -> np.ndarray | None:
    """Group ``group``'s draws of ``variable`` fitted alone (None if the fit has none)."""
    one = unpooled if isinstance(unpooled, Fit) else unpooled.get(group)
    if one is None or variable not in one.idata.posterior:
        return None
    var = one.idata.posterior[variable]
    # The pooling="none" fit holds every group: this group's own draws, not all of them.
    return (var.sel(group=group) if "group" in var.dims else var).values.reshape(-1)


def _group_runs(fit: Fit, group: str) -> Any:
    """The runs of one group of a fit with groups (all the runs of a fit without, a group's
    view included)."""
    if fit.pooling is None:
        return fit.runs
    return fit.runs.subset(np.array([g == group for g in fit.runs.group]))


def _same_runs(mine: Any, theirs: Any) -> bool:
    """Whether two tables of runs hold the same runs (inputs and response), in any order."""
    inputs = [n for n in mine.inputs if n in theirs.inputs]
    if len(mine) != len(theirs) or not inputs:
        return False

    def rows(runs: Any) -> np.ndarray:
        table = np.column_stack([*(runs.x(n) for n in inputs), runs.y])
        return table[np.lexsort(table.T[::-1])]

    return bool(np.array_equal(rows(mine), rows(theirs)))


def _alone_kind(one: Fit) -> str | None:
    """What keeps a fit's estimates from being each group's alone (None when they are)."""
    if one.pooling is not None:
        if one.pooling.shorthand != "none":
            return f"a fit with groups ({one.pooling.describe()})"
        return None
    view = one.info.get(VIEW_OF)
    if isinstance(view, Mapping) and view.get("pooling"):
        from bayescale.hierarchy import Pooling

        pooling = Pooling.from_dict(view["pooling"])
        if pooling.shorthand != "none":
            return (
                f"the view of group {view.get('group')!r} (fit.group(...)) of a fit with groups "
                f"({pooling.describe()})"
            )
    return None


def _check_unpooled(fit: Fit, unpooled: Any) -> None:
    """Refuse estimates that are not each group's alone: a fit without groups (one law for
    all the runs is complete pooling), a fit with groups that pools or shares, or a fit of
    other runs than the group's."""
    remedy = (
        "give the same runs fitted with pooling='none', or {group: the fit of that group's "
        "runs alone}"
    )
    if isinstance(unpooled, Mapping):
        # A group left out of the mapping is drawn without its estimate alone; a key that is
        # no group is a slip.
        for g, one in unpooled.items():
            if str(g) not in fit.groups:
                raise DataError(
                    f"plot_shrinkage: unpooled has a fit for {g!r}, which is not one of the "
                    f"fit's groups{_did_you_mean(str(g), fit.groups)}; its groups: "
                    f"{', '.join(fit.groups)}"
                )
            if not isinstance(one, Fit):
                raise DataError(
                    f"plot_shrinkage: unpooled[{g!r}] is a {type(one).__name__}, not a Fit"
                )
            g = str(g)
            if one.pooling is not None and g not in one.groups:
                raise DataError(
                    f"plot_shrinkage: unpooled[{g!r}] is a fit with groups "
                    f"({', '.join(one.groups)}) but not {g!r}; {remedy}"
                )
            kind = _alone_kind(one)
            if kind is not None:
                raise DataError(
                    f"plot_shrinkage: unpooled[{g!r}] is {kind}: its estimates are not those "
                    f"of group {g!r} alone; {remedy}"
                )
            _check_same_runs(fit, one, g, f"unpooled[{g!r}]")
        return
    if not isinstance(unpooled, Fit):
        raise DataError(
            f"plot_shrinkage: unpooled must be a Fit (the same runs with pooling='none') or "
            f"a mapping {{group: Fit}}, not {type(unpooled).__name__}"
        )
    if unpooled.pooling is None:
        raise DataError(
            "plot_shrinkage: unpooled is a fit without groups: one law for all the runs is "
            f"complete pooling, not each group's estimate alone; {remedy}"
        )
    theirs = unpooled.groups
    missing = [g for g in fit.groups if g not in theirs]
    if missing:
        raise DataError(
            f"plot_shrinkage: the unpooled fit has no group {missing[0]!r}"
            f"{_did_you_mean(missing[0], theirs)} (its groups: {', '.join(theirs)}); fit the "
            f"same runs with pooling='none'"
        )
    kind = _alone_kind(unpooled)
    if kind is not None:
        raise DataError(
            f"plot_shrinkage: unpooled is {kind}: its groups' estimates are not each group's "
            f"alone; {remedy}"
        )
    for g in fit.groups:
        _check_same_runs(fit, unpooled, g, "the unpooled fit")


def _check_same_runs(fit: Fit, one: Fit, group: str, what: str) -> None:
    """Refuse an estimate alone of other runs than the group's (another dataset's fit)."""
    mine, theirs = _group_runs(fit, group), _group_runs(one, group)
    if not _same_runs(mine, theirs):
        raise DataError(
            f"plot_shrinkage: {what} was fitted to other runs than those of group {group!r} "
            f"({len(theirs)} runs from {theirs.source}, against its {len(mine)} runs from "
            f"{mine.source}): its estimate is not that group's alone; fit the runs of group "
            f"{group!r} alone"
        )


def plot_shrinkage(
    fit: Fit,
    unpooled: Fit | Mapping[str, Fit],
    parameters: Sequence[str] | None = None,
    *,
    level: float = 0.9,
    axes: Any = None,
) -> np.ndarray:
    """Each group's estimate alone (grey) and with partial pooling (colour), per parameter.

    Groups with few runs move most towards the population: the arrow from a group's
    estimate alone to its pooled estimate is the strength it borrows.

    Parameters
    ----------
    fit : Fit
        A hierarchical fit (partial pooling).
    unpooled : Fit or mapping of str to Fit
        The same runs fitted with ``pooling="none"`` (one fit), or each group's runs fitted
        alone (``{group: fit}``; a value may be the ``pooling="none"`` fit, or its
        ``fit.group(g)``, whose group ``g`` is then taken).
    parameters : sequence of str, optional
        Parameters; default the pooled ones.
    level : float, default 0.9
        Probability of the intervals.
    axes : array of Axes, optional
        One per parameter.

    Returns
    -------
    numpy.ndarray of Axes
        The panels.

    Raises
    ------
    DataError
        If the fit has no groups, ``parameters`` names no parameter of the law, or
        ``unpooled`` is not each group's estimate alone: a fit without groups (one law for
        all the runs is complete pooling), a fit with groups that pools or shares
        parameters (not ``pooling="none"``) or a view of one, a fit without one of the
        groups, or a fit of other runs than that group's (compared by their inputs and
        response).
    """
    _require_groups(fit)
    names = list(parameters or fit.pooling.pooled)
    _check_names(fit, names, list(fit.law.parameters), "plot_shrinkage")
    _check_unpooled(fit, unpooled)
    axes = _grid(axes, len(names), (4.5, 3.5), "plot_shrinkage")
    post = fit.idata.posterior
    for ax, name in zip(axes, names, strict=True):
        variable, label = _pooled_scale(fit, name)
        if variable not in post:
            variable, label = name, name
        for i, g in enumerate(fit.groups):
            pooled = post[variable]
            mine = (pooled.sel(group=g) if "group" in pooled.dims else pooled).values.reshape(-1)
            low, mid, high = _interval(mine, level)
            ax.plot([i + 0.12, i + 0.12], [low, high], color="C0", lw=2)
            ax.plot([i + 0.12], [mid], "o", color="C0", ms=5)
            alone = _unpooled_draws(unpooled, variable, g)
            if alone is not None:
                a_low, a_mid, a_high = _interval(alone, level)
                ax.plot([i - 0.12, i - 0.12], [a_low, a_high], color="0.5", lw=2)
                ax.plot([i - 0.12], [a_mid], "s", color="0.5", ms=5)
                ax.annotate(
                    "",
                    xy=(i + 0.1, mid),
                    xytext=(i - 0.1, a_mid),
                    arrowprops={"arrowstyle": "->", "color": "C3", "lw": 1},
                )
        if f"{name}_loc" in post:
            ax.axhline(float(np.median(post[f"{name}_loc"])), color="C3", ls="--", lw=1)
        ax.set_xticks(range(len(fit.groups)), fit.groups, fontsize=8)
        ax.set_title(f"{label}: alone (grey) -> pooled (blue)", fontsize=9)
        ax.grid(True, axis="y", alpha=0.25)
    return axes
