"""Model discrepancy: intervals that stay honest far from the runs when the law's form is off.

A posterior is conditional on the law's form. Far from the runs, a form that misses structure
in them (an exponent that drifts with scale, a break) is wrong by more than its credible
interval says. The discrepancy ``delta(x)`` on log loss,
``log y = log L(x; theta) + delta(x) + noise``, is learned from the runs themselves, the way a
forecaster backtests:

- refit the law on the runs below several compute quantiles (50%, 65% and 80%), forecast the
  runs above each cut;
- ``delta(x) ~ Normal(0, (s d(x))^2)``, where ``d(x)`` is the largest log-ratio by which a
  point lies beyond the fitted runs' range along any input (N, D, U ...) or compute
  ``C = k N D``: 0 inside the data, so nothing changes there, and growing linearly in log
  scale beyond it (a random slope starting at the edge of the data);
- the slope ``s`` gets a posterior on a grid, from a half-normal prior (scale 0.05 per
  e-fold: 10x beyond the data, 95% of the prior below +-23%) and the backtests' held-out
  predictive likelihood: each refit's law draws, the full fit's run-to-run noise, widened by
  ``s d``. Forecasts integrate over ``s``.

Every fit learns it by default (``discrepancy="auto"``, :func:`resolve`): on the calibration
benchmark (``bench/calibration.md``) it is what brings every real task's 90% intervals within
the bar, for 1.4-1.7x a fit's time. A law with additive noise learns none, and says so
(``fit.discrepancy_note``); ``discrepancy="none"`` switches it off. A fit with groups learns
one only when asked (``discrepancy="backtest"``): its backtests are hierarchical refits, each
held-out run forecast through its own group's parameters, and a group's distance is measured
from its own runs (:func:`group_ranges`), where its parameters are pinned. On Gadre et al.'s
datasets (``bench/hierarchy.md``) it lifted the worst held-out coverage (c4 with 10 runs) from
54% to 67% and left the others within their noise, so it is not yet the default there.

Where the law extrapolates well (its own backtests say so) ``s`` is near 0 and intervals
barely widen (1.12x on correctly specified synthetic data); where it does not, they widen in
proportion to the distance. Measured against held-out larger runs in
``bench/calibration.md`` (``make bench-calibration``). A Gaussian process on the
residuals was tried too (Kennedy & O'Hagan): it reverts to its amplitude beyond the data,
which the runs do not constrain, and lost on the benchmark.

The discrepancy is learned on log loss, so it needs a law with multiplicative noise: for a
law with additive noise (``scale = "linear"``, a metric that can be <= 0) :func:`backtest`
refuses, since a slope in log loss per e-fold has no meaning there and a slope in the metric's
own units would need a prior in those units, which nothing here calibrates yet.

Forecast columns then read: ``law_*`` the law's credible interval (if its form were right),
``disc_*`` the law with its discrepancy (what runs at that scale would average to), and
``pred_*`` one new run (discrepancy and run-to-run noise).

The compute-optimal plan needs a discrepancy of its own. Along one budget's IsoFLOP curve
every point lies the same distance beyond the data, so the loss discrepancy shifts the curve
without moving its minimum; yet a form that misses structure puts the minimum in the wrong
place (on Hoffmann et al.'s IsoFLOPs, Chinchilla's law fitted on the smaller budgets plans
1.2-1.4x too large a model for the next). So when the held-out runs of a backtest contain
IsoFLOP curves (:mod:`bayescale.isoflop`), the minimum of the parabola through each curve's
runs is compared with where each refit's law puts it (its loss curve at the same sizes, through
the same parabola, so that the parabola's own error cancels), and so is the full fit's law on
the IsoFLOP curves among the runs themselves (a parametric law can place
the minimum off even inside its data: Hoffmann et al.'s approaches 2 and 3 disagree). The
plan's error is ``log N_min - log N_plan = s0 z_C + s_plan d_C z``: an offset ``s0`` drawn
afresh at every budget and a trend ``s_plan`` per e-fold ``d_C`` of compute beyond the runs,
with one ``z`` shared by every budget one fit plans (a law that extrapolates badly drifts the
same way at each of them, so its curves are not counted as independent evidence). Both have
half-normal priors (scale 0.2) and a joint posterior on a grid, from the
minima's predictive density (each plan's posterior spread and the minimum's own standard
error included). :meth:`bayescale.Fit.compute_optimal` then adds ``N_disc_*``, ``D_disc_*``
and ``tokens_per_parameter_disc_*`` columns. Without IsoFLOP curves among the held-out runs
no refit's plan can be checked beyond its runs: the trend (and, without curves among the runs,
the offset) then follows its prior, wide because published plans disagree that much, and
``info["plan_learned"]`` is False with a note that says so. A plan that nothing could check is
not taken to be exact.

``N_disc_*`` is where the optimum lies. A minimum measured through a parabola is noisy too (a
factor 1.1-1.5 with 9 runs at 1% noise), so when the runs hold IsoFLOP curves the backtest also
records how they measure one (:meth:`Discrepancy.plan_sweep`: the largest curve's sizes relative
to its minimum, and the median over curves of the runs' noise around their parabolas), and
``compute_optimal`` adds ``N_pred_*``: each draw runs such a curve at the budget through its law,
adds that noise, and takes the parabola's vertex, then the plan's discrepancy. It is to the plan
what ``pred_*`` is to a forecast, and the interval to check a new sweep's minimum against.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special, stats

from bayescale.data import complete_triad
from bayescale.errors import DataError, LawError, closest
from bayescale.isoflop import IsoFLOPCurve, curve_noise, find_curves, parabola_vertices

if TYPE_CHECKING:
    from bayescale.data import Runs
    from bayescale.fitting import Fit
    from bayescale.laws import Law
    from bayescale.likelihood import Likelihood

__all__ = [
    "AUTO",
    "KINDS",
    "Discrepancy",
    "backtest",
    "check_choice",
    "distance",
    "group_ranges",
    "log_inputs",
    "log_ranges",
    "resolve",
]

#: The designs :func:`bayescale.fit` accepts for ``discrepancy=``.
KINDS = ("backtest",)
#: What ``discrepancy="auto"`` (the default) becomes for a fit that can learn one. On the
#: calibration benchmark it is what brings every real task's 90% intervals within the bar
#: (``bench/calibration.md``) for 1.4-1.7x the time of a fit without it (``bench/results.md``).
AUTO = "backtest"
#: Grid of the slope s (log loss per e-fold of distance beyond the data).
S_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 0.5, 200)])
#: Half-normal prior scale of s.
S_PRIOR_SCALE = 0.05
#: Half-normal prior scale of the plan's slope (log N per e-fold of compute beyond the runs)
#: and offset. The slope is an error in the exponent ``a`` of ``N_opt ~ C^a``; published
#: values run from 0.46-0.51 (Hoffmann et al.'s three approaches, Besiroglu et al.) to 0.73
#: (Kaplan et al.), so careful studies disagree by 0.03-0.27 per e-fold: 0.2 puts the median
#: at 0.13 and 5% of the prior above 0.39.
PLAN_PRIOR_SCALE = 0.2
#: Grid of the plan's offset s0 (log N at every budget).
PLAN_OFFSET_GRID = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 80)])
#: Compute quantiles of the runs at which the backtests cut.
BACKTEST_QUANTILES = (0.5, 0.65, 0.8)
#: Sampler settings of the backtest refits: only their held-out predictive is needed, so
#: they sample once (no retries: 3 refits x 3 attempts would triple a fit's cost) from the
#: posterior modes, as every fit starts.
BACKTEST_SAMPLER = {"chains": 2, "draws": 300, "tune": 300, "prior_draws": 0, "retries": 0}


def check_choice(kind: Any, where: str = "") -> None:
    """Refuse a ``discrepancy=`` that is none of the choices, before anything is fitted.

    Parameters
    ----------
    kind : object
        The value given.
    where : str, optional
        Where it was given (a spec file), to start the message with.

    Raises
    ------
    DataError
        If ``kind`` is not "auto", "none", None or one of :data:`KINDS`.
    """
    choices = ("auto", *KINDS, "none")
    if kind is None or (isinstance(kind, str) and kind in choices):
        return
    named = [f"{c!r}{' (the default)' if c == 'auto' else ''}" for c in choices]
    match = closest(kind, choices) if isinstance(kind, str) else None
    raise DataError(
        f"{where + ': ' if where else ''}discrepancy must be {', '.join(named[:-1])} or "
        f"{named[-1]} (or None), not {kind!r}"
        + (f"; did you mean {match!r}?" if match is not None else "")
    )


def resolve(kind: str | None, law: Law, grouped: bool) -> tuple[str | None, str]:
    """The discrepancy a fit learns, given the one asked for, and why when it learns none.

    Parameters
    ----------
    kind : {"auto", "backtest", "none", None}
        What was asked for: ``"auto"`` is :data:`AUTO` where a discrepancy can be learned
        and none elsewhere; ``"none"`` and None turn it off.
    law : Law
        The law fitted.
    grouped : bool
        Whether the fit has groups (a hierarchical fit).

    Returns
    -------
    tuple of (str or None, str)
        The kind (None: no discrepancy), and the reason there is none ("" otherwise).

    Raises
    ------
    DataError
        If ``kind`` is not one of the above, or an explicit ``"backtest"`` cannot be learned
        for this fit.
    """
    check_choice(kind)
    if kind is None or kind == "none":
        return None, "switched off (discrepancy='none')"
    if grouped and kind == "auto" and law.likelihood.scale == "log":
        # Opt-in for now: three hierarchical refits cost several times the fit itself.
        return None, (
            "a fit with groups learns one only when asked (discrepancy='backtest'; three more "
            "hierarchical fits)"
        )
    if law.likelihood.scale != "log":
        why = (
            f"law {law.name!r} has additive noise (scale 'linear'), and the discrepancy is "
            f"learned on log loss"
        )
    else:
        return (AUTO if kind == "auto" else kind), ""
    if kind != "auto":
        raise DataError(
            f"discrepancy={kind!r} cannot be learned here: {why}; fit with discrepancy='none' "
            f"(or 'auto', which skips it where it cannot be learned)"
        )
    return None, why


def log_inputs(
    points: Mapping[str, Any], names: Sequence[str], k: float = 6.0
) -> dict[str, np.ndarray]:
    """Log of the named inputs at some points, C derived from N and D when missing.

    Parameters
    ----------
    points : mapping
        Input name to values (arrays of one shape).
    names : sequence of str
        The inputs wanted (those missing from ``points`` and not derivable are left out).
    k : float, default 6.0
        ``k`` in ``C = k N D``.

    Returns
    -------
    dict of str to numpy.ndarray
        The log values, by name.
    """
    wanted = {*names, "N", "D", "C"}  # other columns (labels) play no part
    values = {name: np.asarray(points[name], dtype=float) for name in points if name in wanted}
    completed = complete_triad(values, k)
    if completed is not None:
        values[completed[0]] = completed[1]
    return {name: np.log(values[name]) for name in names if name in values}


def _range_names(inputs: Sequence[str]) -> list[str]:
    names = list(inputs)
    if {"N", "D"} <= set(names) and "C" not in names:
        names.append("C")
    return names


def distance(
    points: Mapping[str, Any] | pd.DataFrame,
    log_min: Mapping[str, float],
    log_max: Mapping[str, float],
    compute_factor: float = 6.0,
) -> np.ndarray:
    """Log distance of each point beyond the runs' range: the largest over the inputs (and C).

    Parameters
    ----------
    points : mapping or DataFrame
        Input values (arrays of any one shape); C is derived from N and D when missing.
    log_min, log_max : mapping
        Log of the smallest and largest value of each input over the fitted runs.
    compute_factor : float, default 6.0
        ``k`` in ``C = k N D``.

    Returns
    -------
    numpy.ndarray
        ``max_k max(0, log x_k - log_max_k, log_min_k - log x_k)``: 0 inside the range.
    """
    if isinstance(points, pd.DataFrame):
        points = {str(c): points[c].to_numpy() for c in points.columns}
    logs = log_inputs(points, list(log_max), compute_factor)
    missing = sorted(set(log_max) - set(logs))
    if missing:
        raise DataError(f"the discrepancy needs {', '.join(missing)} at every forecast point")
    d = np.zeros(np.broadcast_shapes(*(v.shape for v in logs.values())))
    for name, value in logs.items():
        d = np.maximum(d, np.maximum(value - log_max[name], log_min[name] - value))
    return d


@contextlib.contextmanager
def _quiet_prior_checks() -> Iterator[None]:
    """A backtest's refits keep their prior checks to themselves: the user's fit says its own,
    and a refit's, on part of the runs, would read as the fit's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="prior checks of law")
        yield


def beyond_runs(
    points: Mapping[str, Any] | pd.DataFrame, runs: Runs, inputs: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """How far points lie from the runs, as a ratio and as the discrepancy's distance.

    Parameters
    ----------
    points : mapping or DataFrame
        Input values, one array each (C is derived from N and D when missing).
    runs : Runs
        The fitted runs.
    inputs : sequence of str
        The law's inputs; C is counted with N and D.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``extrapolation``: the largest ratio of an input (or C) to its largest value in the
        runs (above 1: beyond the data; a point far below every run is below 1).
        ``distance``: the log distance outside the runs' range, above or below, on any
        input or C (:func:`distance`; 0 inside): the distance a discrepancy grows with.
    """
    if isinstance(points, pd.DataFrame):
        points = {str(c): points[c].to_numpy() for c in points.columns}
    log_min, log_max = log_ranges(runs, inputs)
    shape = np.broadcast_shapes(*(np.shape(points[n]) for n in inputs if n in points))
    ratio = np.full(shape, -np.inf)
    for name in inputs:
        if name not in log_max:  # an input <= 0 somewhere (a centred learning rate)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.asarray(points[name], dtype=float) / runs.x(name).max()
            ratio = np.maximum(ratio, values)
    logs = log_inputs(points, list(log_max), runs.compute_factor)
    for name, value in logs.items():
        ratio = np.maximum(ratio, np.exp(value - log_max[name]))
    far = distance(points, log_min, log_max, runs.compute_factor) if log_max else np.zeros(shape)
    return ratio, far


def log_ranges(
    runs: Runs, inputs: Sequence[str] | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Log of the smallest and largest value of each input (and C) over some runs.

    Parameters
    ----------
    runs : Runs
        The runs.
    inputs : sequence of str, optional
        The inputs to range over (and C with N and D), e.g. a law's; default the runs'. A
        law of C alone fitted on runs with N and D then forecasts at C alone.

    Returns
    -------
    (dict, dict)
        ``log_min`` and ``log_max`` by input, as :func:`distance` takes them; an input with
        values <= 0 is left out (it has no log range).
    """
    values = {n: runs.x(n) for n in runs.inputs}
    # Distance is measured in log scale: an input with values <= 0 (one the law does not
    # take the logarithm of, such as a centred learning rate) has no log range to leave.
    positive = [n for n in runs.inputs if np.all(values[n] > 0)]
    wanted = runs.inputs if inputs is None else inputs
    names = [n for n in _range_names(wanted) if n in positive or (n == "C" and n not in values)]
    if "C" in names and "C" not in runs.inputs and not {"N", "D"} <= set(positive):
        names.remove("C")
    logs = log_inputs(values, names, runs.compute_factor)
    return (
        {k: float(v.min()) for k, v in logs.items()},
        {k: float(v.max()) for k, v in logs.items()},
    )


@dataclass
class Discrepancy:
    """A fitted discrepancy: how far a forecast's log loss may depart from the law's.

    Attributes
    ----------
    kind : {"backtest"}
        The design (see the module docstring).
    log_min, log_max : dict of str to float
        Log range of each input (and C) over the fitted runs.
    compute_factor : float
        ``k`` in ``C = k N D``.
    s_grid, s_weights : numpy.ndarray
        Grid of the slope ``s`` and its posterior weights (summing to 1).
    info : dict
        What the backtests found: per cut, the runs fitted and held out, the largest
        distance and the errors of the median forecast.
    plan_weights : numpy.ndarray or None
        Joint posterior weights of the compute-optimal plan's offset (rows,
        :data:`PLAN_OFFSET_GRID`) and slope (columns, ``s_grid``); None where no held-out
        IsoFLOP curve could teach them.
    """

    kind: str
    log_min: dict[str, float]
    log_max: dict[str, float]
    compute_factor: float = 6.0
    s_grid: np.ndarray = field(default_factory=lambda: S_GRID.copy())
    s_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    info: dict[str, Any] = field(default_factory=dict)
    plan_weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.s_grid = np.asarray(self.s_grid, dtype=float)
        self.s_weights = np.asarray(self.s_weights, dtype=float)
        if self.plan_weights is not None:
            self.plan_weights = np.asarray(self.plan_weights, dtype=float)
            if (
                self.plan_weights.shape != (len(PLAN_OFFSET_GRID), len(self.s_grid))
                or np.any(self.plan_weights < 0)
                or not np.isclose(self.plan_weights.sum(), 1.0)
            ):
                raise DataError("a discrepancy's plan needs weights >= 0 summing to 1")
        if self.kind not in KINDS:
            raise DataError(
                f"discrepancy kind must be one of {', '.join(KINDS)}, not {self.kind!r}"
            )
        if (
            self.s_grid.shape != self.s_weights.shape
            or not len(self.s_grid)
            or np.any(self.s_grid < 0)
            or np.any(self.s_weights < 0)
            or not np.isclose(self.s_weights.sum(), 1.0)
        ):
            raise DataError("a discrepancy needs slopes >= 0 with weights summing to 1")
        if set(self.log_min) != set(self.log_max):
            raise DataError("a discrepancy needs the same inputs in log_min and log_max")

    def s_quantiles(
        self, probs: Sequence[float] = (0.05, 0.5, 0.95), plan: bool = False
    ) -> np.ndarray:
        """Posterior quantiles of the slope ``s``, or of the plan's slope.

        Parameters
        ----------
        probs : sequence of float, default (0.05, 0.5, 0.95)
            Probabilities.
        plan : bool, default False
            Quantiles of the compute-optimal plan's slope (log N per e-fold of compute).

        Returns
        -------
        numpy.ndarray
            One slope per probability (log loss, or log N, per e-fold beyond the data).
        """
        if not plan:
            return _quantiles(self.s_grid, self.s_weights, probs)
        return _quantiles(self.s_grid, self._plan().sum(axis=0), probs)

    def describe(self) -> str:
        """What the backtests found, in one sentence (for the command line and logs).

        Returns
        -------
        str
            The slope's median and 90% interval, and what it was learned from: with how many
            backtest refits failed their sampler diagnostics, when any did.
        """
        low, mid, high = self.s_quantiles()
        cuts = len(self.info.get("splits", []))
        source = (
            f"learned from {cuts} backtest{'s' if cuts != 1 else ''} on the runs"
            if cuts
            else self.info.get("note", "no backtest: the slope follows its prior")
        )
        failed = self.failed_refits_note()
        return (
            f"the law's error beyond the runs grows by {mid:.2%} of the loss per e-fold "
            f"(90%: {low:.2%} to {high:.2%}), {source}" + (f" ({failed})" if failed else "")
        )

    def failed_refits_note(self) -> str | None:
        """Say how many backtest refits failed their sampler diagnostics, if any did.

        The refits sample once, briefly (:data:`BACKTEST_SAMPLER`): their held-out forecasts
        still teach the slope, but less surely.

        Returns
        -------
        str or None
            E.g. "2 of 3 backtest refits, 2 chains x 300 draws each, did not pass the
            sampler's diagnostics: the learned slope is approximate"; None when every refit
            passed, or for a fit saved before the refits' diagnostics were recorded.
        """
        splits = [s for s in self.info.get("splits", []) if "diagnostics_ok" in s]
        failed = sum(not bool(s["diagnostics_ok"]) for s in splits)
        if not failed:
            return None
        total = len(splits)
        if total == 1:
            which = "the backtest refit"
        elif failed == total:
            which = f"all {total} backtest refits"
        else:
            which = f"{failed} of {total} backtest refits"
        sampler = self.info.get("sampler") or {}
        how = (
            f", {sampler['chains']} chain{'s' if sampler['chains'] != 1 else ''} x "
            f"{sampler['draws']} draws{' each' if total > 1 else ''},"
            if "chains" in sampler and "draws" in sampler
            else ""
        )
        return (
            f"{which}{how} did not pass the sampler's diagnostics: the learned slope is approximate"
        )

    def plan_offset_quantiles(self, probs: Sequence[float] = (0.05, 0.5, 0.95)) -> np.ndarray:
        """Posterior quantiles of the plan's offset ``s0`` (log N at every budget).

        Parameters
        ----------
        probs : sequence of float, default (0.05, 0.5, 0.95)
            Probabilities.

        Returns
        -------
        numpy.ndarray
            One offset per probability.
        """
        return _quantiles(PLAN_OFFSET_GRID, self._plan().sum(axis=1), probs)

    def variance_terms(self, plan: bool = False) -> tuple[float, float]:
        """Posterior means ``(E[s0^2], E[s^2])``: the discrepancy's variance at distance d is
        ``E[s0^2] + E[s^2] d^2``.

        Parameters
        ----------
        plan : bool, default False
            The compute-optimal plan's terms (offset and slope on log N per e-fold of compute
            beyond the runs) instead of the loss's (no offset; slope on log loss).

        Returns
        -------
        tuple of float
            The offset's and the slope's mean square.
        """
        if not plan:
            return 0.0, float(np.sum(self.s_weights * self.s_grid**2))
        weights = self._plan()
        return (
            float(np.sum(weights.sum(axis=1) * PLAN_OFFSET_GRID**2)),
            float(np.sum(weights.sum(axis=0) * self.s_grid**2)),
        )

    def _plan(self) -> np.ndarray:
        if self.plan_weights is None:
            raise DataError(
                "this discrepancy has no plan error: "
                + self.info.get("plan_note", "the law has no compute-optimal plan")
            )
        return self.plan_weights

    def distance(self, points: Mapping[str, Any] | pd.DataFrame) -> np.ndarray:
        """Log distance of points beyond the fitted runs (see :func:`distance`)."""
        return distance(points, self.log_min, self.log_max, self.compute_factor)

    def log_delta(
        self, points: Mapping[str, Any] | pd.DataFrame, n_draws: int, seed: int
    ) -> np.ndarray:
        """Draws of the discrepancy on log loss.

        Parameters
        ----------
        points : mapping or DataFrame
            Input values: arrays of shape ``(points,)``, or ``(points, draws)`` where the
            inputs differ by draw (a compute-optimal split).
        n_draws : int
            Number of draws.
        seed : int
            Seed; the same seed gives the same draws.

        Returns
        -------
        numpy.ndarray
            Shape ``(points, n_draws)``. One slope and one normal term per draw, shared by
            the points: each point's marginal is exact, as for a new run's noise.
        """
        rng = np.random.default_rng([seed, 7919])
        s = self.s_grid[rng.choice(len(self.s_grid), size=n_draws, p=self.s_weights)]
        d = self.distance(points)
        if d.ndim == 1:
            d = d[:, None]
        return d * (s * rng.standard_normal(n_draws))[None, :]

    def plan_log_shift(self, compute: np.ndarray, n_draws: int, seed: int) -> np.ndarray | None:
        """Draws of the plan's discrepancy on ``log N_opt`` at each budget.

        Parameters
        ----------
        compute : numpy.ndarray
            Budgets in FLOPs, shape ``(budgets,)``.
        n_draws : int
            Number of draws.
        seed : int
            Seed; the same seed gives the same draws.

        Returns
        -------
        numpy.ndarray or None
            Shape ``(draws, budgets)``: ``s0 z_C + s_plan d_C z``, ``d_C`` the e-folds of
            compute beyond the runs' range (0 within it), ``z_C`` the offset's draws (the same
            at every budget, :func:`bayescale.planning.budget_normals`: a budget's draws do
            not depend on the other budgets asked for, and quantiles stay smooth in the
            budget) and ``z`` once per draw (the trend); None when the discrepancy has no
            plan error (or no C range).
        """
        from bayescale.planning import budget_normals

        if self.plan_weights is None or "C" not in self.log_max:
            return None
        log_c = np.log(np.asarray(compute, dtype=float))
        d = np.maximum(0.0, np.maximum(log_c - self.log_max["C"], self.log_min["C"] - log_c))
        rng = np.random.default_rng([seed, 104729])
        cell = rng.choice(self.plan_weights.size, size=n_draws, p=self.plan_weights.ravel())
        row, column = np.unravel_index(cell, self.plan_weights.shape)
        s0, s = PLAN_OFFSET_GRID[row][:, None], self.s_grid[column][:, None]
        # Each budget's spread as learned: an offset (the same draws at every budget, so
        # quantiles are smooth in it; only each budget's distribution is reported) and a trend
        # beyond the runs. Its own stream: [seed, 104729] already drives the cells and trend.
        offset = s0 * budget_normals(seed, 1299709, compute, (n_draws,))
        return offset + s * d[None, :] * rng.standard_normal(n_draws)[:, None]

    def plan_sweep(self) -> tuple[np.ndarray, float] | None:
        """How the runs' IsoFLOP curves measure a minimum: their design and noise.

        Returns
        -------
        tuple or None
            ``log N`` of the largest curve's runs relative to its minimum, and the runs'
            standard deviation of log loss around their curves' parabolas (the median over
            curves, :func:`bayescale.isoflop.curve_noise`); None when no IsoFLOP curve was
            found among the runs (or the fit predates this).
        """
        sweep = self.info.get("plan_sweep")
        if not sweep:
            return None
        return np.asarray(sweep["log_n_offsets"], dtype=float), float(sweep["noise"])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description that :meth:`from_dict` reads back."""
        return {
            "kind": self.kind,
            "log_min": self.log_min,
            "log_max": self.log_max,
            "compute_factor": self.compute_factor,
            "s_grid": self.s_grid.tolist(),
            "s_weights": self.s_weights.tolist(),
            "info": self.info,
            "plan_weights": None if self.plan_weights is None else self.plan_weights.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Discrepancy:
        """Read what :meth:`to_dict` wrote.

        Parameters
        ----------
        data : mapping
            The description.

        Returns
        -------
        Discrepancy
            The discrepancy.

        Raises
        ------
        DataError
            If an entry is missing or not valid.
        """
        return cls(
            kind=str(data["kind"]),
            log_min={str(k): float(v) for k, v in data["log_min"].items()},
            log_max={str(k): float(v) for k, v in data["log_max"].items()},
            compute_factor=float(data["compute_factor"]),
            s_grid=np.asarray(data["s_grid"], dtype=float),
            s_weights=np.asarray(data["s_weights"], dtype=float),
            info=dict(data.get("info", {})),
            plan_weights=(
                None
                if data.get("plan_weights") is None
                else np.asarray(data["plan_weights"], dtype=float)
            ),
        )


def _quantiles(grid: np.ndarray, weights: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    order = np.argsort(grid, kind="stable")
    cdf = np.cumsum(weights[order])
    index = np.minimum(np.searchsorted(cdf, probs), len(cdf) - 1)
    return grid[order][index]


def heldout_log_density(
    log_y: np.ndarray,
    log_mu: np.ndarray,
    likelihood: Likelihood,
    noise: Mapping[str, np.ndarray],
    d: np.ndarray,
    s_grid: np.ndarray = S_GRID,
) -> np.ndarray:
    """Log predictive density of held-out runs for each slope ``s``.

    The run-to-run noise's scale is widened to ``sqrt(sigma^2 + (s d)^2)``: the normal
    discrepancy convolved with the noise, exact for normal noise and moment-matched for
    Student-t noise.

    Parameters
    ----------
    log_y : numpy.ndarray
        Log losses of the held-out runs, shape ``(runs,)``.
    log_mu : numpy.ndarray
        The refitted law's log loss at them per draw, shape ``(draws, runs)``.
    likelihood : Likelihood
        The noise model.
    noise : mapping of str to numpy.ndarray
        Noise parameters per draw, shape ``(draws,)``.
    d : numpy.ndarray
        Distance of each held-out run beyond the refit's runs, shape ``(runs,)``.
    s_grid : numpy.ndarray
        Slopes.

    Returns
    -------
    numpy.ndarray
        Shape ``(slopes, runs)``.
    """
    per_draw = {name: np.asarray(noise[name])[:, None] for name in likelihood.noise_names}
    out = np.empty((len(s_grid), len(log_y)))
    for i, s in enumerate(s_grid):
        widened = dict(per_draw, sigma=np.sqrt(per_draw["sigma"] ** 2 + (s * d[None, :]) ** 2))
        logp = likelihood.logpdf(log_y[None, :], log_mu, widened)
        top = logp.max(axis=0)  # log of the mean over draws, without SciPy's per-call cost
        out[i] = top + np.log(np.mean(np.exp(logp - top), axis=0))
    return out


def plan_log_density(
    log_n_min: np.ndarray,
    se: np.ndarray,
    plan_mean: np.ndarray,
    plan_sd: np.ndarray,
    d: np.ndarray,
    groups: Sequence[Any] | np.ndarray | None = None,
    s_grid: np.ndarray = S_GRID,
    offset_grid: np.ndarray = PLAN_OFFSET_GRID,
) -> np.ndarray:
    """Log predictive density of IsoFLOP minima for each plan offset and slope.

    ``log N_min = plan_mean + e``, with ``e ~ Normal(0, se^2 + plan_sd^2 + s0^2)`` for each
    curve (the minimum's standard error, the plan's posterior spread in log N and the
    offset) plus ``s d z``: one trend ``z ~ Normal(0, 1)`` shared by the curves of one fit,
    since a law that extrapolates badly drifts the same way at every budget beyond its runs.

    Parameters
    ----------
    log_n_min : numpy.ndarray
        ``log N`` at each curve's minimum, shape ``(curves,)``.
    se : numpy.ndarray
        Standard error of each minimum, shape ``(curves,)``.
    plan_mean, plan_sd : numpy.ndarray
        Mean and standard deviation over posterior draws of the planned ``log N`` at each
        curve's budget, shape ``(curves,)``.
    d : numpy.ndarray
        E-folds of compute of each curve beyond the fit's runs (0 for a curve among them),
        shape ``(curves,)``.
    groups : sequence, optional
        The fit each curve's plan came from, shape ``(curves,)``; curves of one fit share
        the trend. By default each curve is its own fit (independent errors).
    s_grid, offset_grid : numpy.ndarray
        Slopes and offsets.

    Returns
    -------
    numpy.ndarray
        Shape ``(offsets, slopes, fits)``, fits in order of first appearance; their sum
        over the last axis is the joint log density of all the minima.
    """
    log_n_min, se, plan_mean, plan_sd, d = (
        np.asarray(v, dtype=float) for v in (log_n_min, se, plan_mean, plan_sd, d)
    )
    labels = np.arange(len(d)) if groups is None else np.asarray(groups)
    _, first, index = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first)
    # A rank-one update of a diagonal covariance, diag(a) + s^2 d d^T, per fit: the matrix
    # determinant lemma and Sherman-Morrison give its log determinant and quadratic form.
    a = (se**2 + plan_sd**2)[None, :] + (np.asarray(offset_grid) ** 2)[:, None]
    e = log_n_min - plan_mean
    s2 = (np.asarray(s_grid) ** 2)[None, :]
    out = np.empty((a.shape[0], len(s_grid), len(order)))
    for column, g in enumerate(order):
        mask = index == g
        ag, eg, dg = a[:, mask], e[mask], d[mask]
        # Per offset (rows): sums over the fit's curves; per slope (columns): the update.
        dd, de = (dg**2 / ag).sum(axis=1)[:, None], (dg * eg / ag).sum(axis=1)[:, None]
        ee, ld = (eg**2 / ag).sum(axis=1)[:, None], np.log(ag).sum(axis=1)[:, None]
        scale = 1.0 + s2 * dd
        quad = ee - s2 * de**2 / scale
        out[:, :, column] = -0.5 * (mask.sum() * np.log(2 * np.pi) + ld + np.log(scale) + quad)
    return out


def _plan_errors(
    fit_: Fit, curves: Sequence[IsoFLOPCurve], runs: Runs, log_c_max: float
) -> list[dict[str, Any]]:
    """A fit's plan at each curve's budget against the curve's minimum."""
    from bayescale.planning import optimum_draws

    law, k = fit_.law, runs.compute_factor
    draws = fit_.draws(list(law.parameters))
    theta = {name: value[:, None] for name, value in draws.items()}
    others = [name for name in law.inputs if name not in ("N", "D")]
    found = []
    for curve in curves:
        values = {name: runs.x(name)[curve.rows] for name in others}
        # A curve over other inputs too (unique tokens that vary along it) has no plan.
        if any(np.ptp(np.log(v)) > 0.01 for v in values.values()):
            continue
        fixed = {name: float(np.median(v)) for name, v in values.items()}
        plan = np.log(optimum_draws(law, draws, [curve.compute], k, fixed or None)["N"][:, 0])
        # The law's curve measured like the runs (the same sizes, the same parabola), so that
        # the parabola's own error in placing a minimum is not taken for the law's.
        log_mu = law.log_mean(theta, {n: runs.x(n)[curve.fitted][None, :] for n in law.inputs})
        measured = parabola_vertices(np.log(runs.x("N")[curve.fitted]), np.asarray(log_mu))
        measured = measured[np.isfinite(measured)]
        if len(measured) < 2:
            continue
        found.append(
            {
                "compute": curve.compute,
                "runs": len(curve.rows),
                "n_min": float(np.exp(curve.log_n_min)),
                "se_log_n": curve.se,
                "planned_n_median": float(np.exp(np.median(plan))),
                "plan_mean": float(measured.mean()),
                "plan_sd": float(measured.std()),
                "distance": max(0.0, float(np.log(curve.compute) - log_c_max)),
            }
        )
    return found


def _plan_posterior(errors: Sequence[Mapping[str, Any]]) -> np.ndarray:
    columns = {
        key: np.array([e[key] for e in errors])
        for key in ("n_min", "se_log_n", "plan_mean", "plan_sd", "distance")
    }
    density = plan_log_density(
        np.log(columns["n_min"]),
        columns["se_log_n"],
        columns["plan_mean"],
        columns["plan_sd"],
        columns["distance"],
        groups=[e["fit"] for e in errors],
    ).sum(axis=2)
    log_prior = (
        stats.halfnorm.logpdf(PLAN_OFFSET_GRID, scale=PLAN_PRIOR_SCALE)
        + np.log(np.gradient(PLAN_OFFSET_GRID))
    )[:, None] + (
        stats.halfnorm.logpdf(S_GRID, scale=PLAN_PRIOR_SCALE) + np.log(np.gradient(S_GRID))
    )[None, :]
    log_post = density + log_prior
    return np.exp(log_post - special.logsumexp(log_post))


def _unchecked_plan_note(inside: int) -> str:
    """Why the plan's trend follows its prior, for ``info["plan_note"]``."""
    learned = (
        f"its offset is learned from the {inside} IsoFLOP curve{'s' if inside != 1 else ''} "
        "among the runs, its growth follows its prior"
        if inside
        else "its offset and growth follow their prior"
    )
    return (
        "no IsoFLOP curve (5 or more runs within 10% of one budget, with a minimum inside "
        "their range of N) among the backtests' held-out runs, so no refit's plan could be "
        f"checked beyond its runs: {learned} (half-normal, scale {PLAN_PRIOR_SCALE:g} in log N "
        "per e-fold of compute: how far published compute-optimal exponents disagree)"
    )


def _compute(runs: Runs) -> np.ndarray:
    if "C" in runs.inputs:
        return runs.x("C")
    return runs.x(runs.inputs[0])


def _compute_max(runs: Runs) -> float:
    return float((runs.compute_factor * runs.x("N") * runs.x("D")).max())


def group_ranges(fit_: Fit, group_runs: Runs) -> tuple[dict[str, float], dict[str, float]]:
    """Log ranges a group's forecasts are measured from, in a fit with groups.

    A family's own parameters (pooled or separate) are pinned by its runs, and beyond them
    its law extrapolates: the range is that of ``group_runs``. With every parameter shared
    (complete pooling) one law is pinned by all the runs: the range is theirs.

    A new group (``"new"``) has no runs; its law is the population's, which every group's
    runs pin, so its range is that of all the runs and inside it the discrepancy adds
    nothing. How far a new group may differ from the observed ones is the population
    spread's part of its interval, not the discrepancy's. An observed group with one run
    is measured from that run, as the backtests measured each held-out run from its own
    group's runs in the refit: so it gets the full widening beyond that run, while ``new``
    at the same point gets none (its interval is already the spread's, much wider).

    Parameters
    ----------
    fit_ : Fit
        The fit with groups.
    group_runs : Runs
        The group's runs (all the runs for a new group).

    Returns
    -------
    (dict, dict)
        ``log_min`` and ``log_max`` by input, as :func:`log_ranges` gives them.
    """
    shared = fit_.pooling is not None and set(fit_.pooling.kinds.values()) == {"shared"}
    return log_ranges(fit_.runs if shared else group_runs, list(fit_.law.inputs))


def _grouped_heldout(refit: Fit, held: Runs) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A grouped refit's law at the held-out runs, each through its own group's parameters.

    The distance of a run is measured from its own group's runs in the refit (see
    :func:`group_ranges`). Runs of a group the refit did not see (all its runs above the cut)
    are left out.

    Returns
    -------
    tuple of numpy.ndarray, or None
        ``log_mu`` (draws, kept runs), the kept runs' distances, and the boolean mask of the
        kept runs among ``held``; None when no held-out run's group is in the refit.
    """
    law = refit.law
    labels = np.array([str(g) for g in held.group])
    kept = np.isin(labels, list(refit.groups))
    if not kept.any():
        return None
    log_mu: np.ndarray | None = None
    d = np.empty(len(held))
    for name in np.unique(labels[kept]):
        mine = labels == name
        rows = held.subset(mine)
        view = refit.group(name)
        theta = {n: v[:, None] for n, v in view.draws(list(law.parameters)).items()}
        values = np.asarray(law.log_mean(theta, {n: rows.x(n)[None, :] for n in law.inputs}))
        if log_mu is None:
            log_mu = np.empty((values.shape[0], len(held)))
        log_mu[:, mine] = values
        log_min, log_max = group_ranges(refit, view.runs)
        d[mine] = distance(
            {n: rows.x(n) for n in rows.inputs}, log_min, log_max, held.compute_factor
        )
    assert log_mu is not None  # kept.any(): at least one group was filled
    return log_mu[:, kept], d[kept], kept


def backtest(
    fit_: Fit,
    quantiles: Sequence[float] = BACKTEST_QUANTILES,
    prior_scale: float = S_PRIOR_SCALE,
) -> Discrepancy:
    """Learn the discrepancy of a fit from its own runs, by backtests.

    Parameters
    ----------
    fit_ : Fit
        The fit on all the runs; its law, priors, seed and target_accept are reused.
    quantiles : sequence of float, default (0.5, 0.65, 0.8)
        Compute quantiles (or of the first input, without N and D) where the backtests cut:
        each refits on the runs at or below the cut (2 chains x 300 draws, or the fit's own
        draws if fewer) and forecasts the runs above. A cut leaving fewer than max(10, 3 per
        parameter) runs to fit, or fewer than 2 to forecast, is skipped.
    prior_scale : float, default 0.05
        Half-normal prior scale of the slope ``s``.

    Returns
    -------
    Discrepancy
        With the posterior of ``s``; with no possible cut, the prior alone (``info`` says so).

    Raises
    ------
    DataError
        If the law's noise is additive (``scale = "linear"``): the discrepancy is learned
        on log loss.
    """
    from bayescale.fitting import fit as fit_law
    from bayescale.settings import SamplerSettings

    runs, law = fit_.runs, fit_.law
    grouped = fit_.pooling is not None
    if law.likelihood.scale != "log":
        raise DataError(
            f"law {law.name!r} has additive noise on y (scale 'linear'), but the backtest "
            f"discrepancy is learned on log loss and needs multiplicative noise; fit without "
            f"discrepancy='backtest', or use scale='log' for a metric that is always > 0"
        )
    # A quick fit (few draws) gets quick backtests: they never sample more than the fit did.
    own = fit_.sampler
    sampler = SamplerSettings.of(
        BACKTEST_SAMPLER,
        seed=fit_.seed,
        target_accept=own.target_accept,
        draws=min(BACKTEST_SAMPLER["draws"], own.draws),
        tune=min(BACKTEST_SAMPLER["tune"], own.tune),
        chains=min(BACKTEST_SAMPLER["chains"], own.chains),
    )
    fewest = max(10, 3 * law.n_parameters)
    compute = _compute(runs)
    log_y = np.log(runs.y)
    full = fit_.draws(list(law.likelihood.noise_names))
    total = np.zeros(len(S_GRID))
    splits: list[dict[str, Any]] = []
    # A plan's discrepancy is learned from IsoFLOP curves; with groups, curves would mix
    # families, so a grouped fit's plan is not checked (its note says so).
    plans = not grouped and {"N", "D"} <= set(law.inputs) and {"N", "D"} <= set(runs.inputs)
    curves = (
        find_curves(
            runs.x("N"),
            runs.x("D"),
            runs.y,
            runs.compute_factor,
            noise=float(np.median(full["sigma"])),
        )
        if plans
        else []
    )
    plan_errors: list[dict[str, Any]] = []
    if curves:
        try:
            inside = _plan_errors(fit_, curves, runs, float(np.log(_compute_max(runs))))
        except (DataError, LawError):  # a law whose plan cannot be searched
            inside, curves = [], []
        plan_errors += [{**e, "fit": "all runs"} for e in inside]
    for q in quantiles:
        cut = float(np.quantile(compute, q))
        below = compute <= cut
        if below.sum() < fewest or (~below).sum() < 2 or any(s["cut"] == cut for s in splits):
            continue
        part, held = runs.subset(below), runs.subset(~below)
        if grouped:
            try:
                with _quiet_prior_checks():
                    refit = fit_law(
                        part, law, sampler=sampler, discrepancy="none", pooling=fit_.pooling
                    )
            except DataError:  # one group left below the cut: no population to pool
                continue
            scored = _grouped_heldout(refit, held)
            if scored is None:
                continue
            log_mu, d, kept = scored
            held_y = log_y[~below][kept]
        else:
            with _quiet_prior_checks():
                refit = fit_law(part, law, sampler=sampler, discrepancy="none")
            draws = refit.draws(list(law.parameters))
            theta = {n: v[:, None] for n, v in draws.items()}
            log_mu = np.asarray(law.log_mean(theta, {n: held.x(n)[None, :] for n in law.inputs}))
            log_min, log_max = log_ranges(part, list(law.inputs))
            d = distance({n: held.x(n) for n in held.inputs}, log_min, log_max, runs.compute_factor)
            held_y = log_y[~below]
        # The full fit's noise: the noise a forecast adds the discrepancy to. A refit's own
        # noise already holds some of the misfit, which would then be counted twice.
        pick = np.random.default_rng(fit_.seed).integers(0, len(full["sigma"]), len(log_mu))
        noise = {name: value[pick] for name, value in full.items()}
        total += heldout_log_density(held_y, log_mu, law.likelihood, noise, d).sum(axis=1)
        errors = np.median(log_mu, axis=0) - held_y
        held_curves = [c for c in curves if compute[c.rows].min() > cut]
        shown = _plan_errors(refit, held_curves, runs, log_max["C"]) if held_curves else []
        plan_errors += [{**e, "fit": f"below {q:.0%}"} for e in shown]
        splits.append(
            {
                "quantile": float(q),
                "cut": cut,
                "n_fit": int(below.sum()),
                "n_heldout": len(held_y),
                "max_distance": float(d.max()),
                "median_abs_log_error": float(np.median(np.abs(errors))),
                "max_abs_log_error": float(np.max(np.abs(errors))),
                "diagnostics_ok": bool(refit.ok),
                "isoflop_curves": len(shown),
            }
        )
    # Grid cells: the prior density times the cell width (the grid is not uniform).
    log_post = (
        total + stats.halfnorm.logpdf(S_GRID, scale=prior_scale) + np.log(np.gradient(S_GRID))
    )
    weights = np.exp(log_post - special.logsumexp(log_post))
    # Held-out curves (d > 0) teach the trend, curves among the runs the offset; what no curve
    # teaches follows the prior. A plan nothing could check is not taken to be exact.
    held_out = any(e["distance"] > 0 for e in plan_errors)
    plan_weights = _plan_posterior(plan_errors) if plans else None
    log_min, log_max = log_ranges(runs, list(law.inputs))
    result = Discrepancy(
        "backtest",
        log_min,
        log_max,
        runs.compute_factor,
        S_GRID.copy(),
        weights,
        {"splits": splits, "prior_scale": prior_scale, "sampler": sampler.to_dict()},
        plan_weights,
    )
    result.info["s_quantiles_5_50_95"] = result.s_quantiles().tolist()
    result.info["plan_curves"] = plan_errors
    noise = curve_noise(curves) if curves else None
    if plan_weights is not None and noise is not None:
        # A new IsoFLOP curve is taken to be measured like the largest one among the runs.
        largest = curves[-1]
        offsets = np.log(runs.x("N")[largest.fitted]) - largest.log_n_min
        result.info["plan_sweep"] = {
            "compute": largest.compute,
            "log_n_offsets": offsets.tolist(),
            "noise": noise,
            "curves": len(curves),
        }
    if plan_weights is not None:
        result.info["plan_learned"] = held_out
        result.info["plan_prior_scale"] = PLAN_PRIOR_SCALE
        result.info["plan_s_quantiles_5_50_95"] = result.s_quantiles(plan=True).tolist()
        result.info["plan_offset_quantiles_5_50_95"] = result.plan_offset_quantiles().tolist()
        if not held_out:
            result.info["plan_note"] = _unchecked_plan_note(len(plan_errors))
    elif grouped:
        result.info["plan_note"] = (
            "a plan's discrepancy is not learned for a fit with groups (IsoFLOP curves would "
            "mix families): the plan is the law's"
        )
    else:
        result.info["plan_note"] = "the law has no compute-optimal plan (it needs inputs N and D)"
    if not splits:
        result.info["note"] = (
            f"too few runs for a backtest (each cut needs {fewest} runs to fit and 2 to "
            f"forecast): the slope follows its prior"
        )
    return result
