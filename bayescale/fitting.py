"""Fit a law to runs: posterior sampling, diagnostics, summaries, forecasts, save and load."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale import _files
from bayescale._format import format_number, size_kind
from bayescale.data import Runs, below_sentence, load_runs, swapped_sentence
from bayescale.discrepancy import Discrepancy, backtest, beyond_runs, group_ranges
from bayescale.discrepancy import resolve as resolve_discrepancy
from bayescale.errors import (
    BayescaleError,
    ConvergenceError,
    DataError,
    DataWarning,
    ExtrapolationWarning,
    LawError,
    SlipWarning,
    closest,
    interrupt_in,
)
from bayescale.forecast import (
    as_points,
    forecast_draws,
    forecast_points,
    forecast_table,
    level_label,
    warn_thin_tails,
)
from bayescale.hierarchy import NEW_GROUP, Pooling
from bayescale.ladder import Attempt, Mode, climb, find_modes
from bayescale.laws import Law, get_law, refuse_constant_terms, refuse_unused_columns
from bayescale.settings import (
    DEFAULT_MAX_DRAWS,
    SamplerSettings,
    check_level,
    check_levels,
    check_seed,
)

__all__ = ["Diagnostics", "Fit", "fit", "load_fit"]

FORMAT_VERSION = 1
#: Groups computed from the posterior and the runs when needed, never stored in a file.
DERIVED_GROUPS = ("log_likelihood",)
#: Share of the machine's available memory one derived array may take before we refuse.
MEMORY_SHARE = 0.5
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100  # Vehtari et al. 2021: bulk and tail ESS above 100 per chain
#: The key of ``Fit.info`` that marks a group's view (:meth:`Fit.group`): its group, the
#: fit's groups and pooling, and the whole fit's diagnostics, which a saved view keeps.
VIEW_OF = "view_of"
_PACKAGES = ("bayescale", "pymc", "pytensor", "nutpie", "arviz", "numpy", "pandas", "pymc-extras")


def package_versions(packages: Sequence[str] = _PACKAGES) -> dict[str, str]:
    """Return the Python version and the installed version of each package.

    Parameters
    ----------
    packages : sequence of str
        Distribution names; default: those a fit depends on.

    Returns
    -------
    dict of str to str
        ``{"python": ..., package: version or "not installed"}``.
    """
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of a fit, computed every time.

    Parameters
    ----------
    table : pandas.DataFrame
        Per parameter: ``r_hat``, ``ess_bulk``, ``ess_tail``.
    divergences : int
        Divergent transitions after tuning.
    chains, draws : int
        Chains and draws per chain.
    target_accept : float or None
        The sampler's step-size target, so that advice does not repeat what was tried.
    attempts : tuple of Attempt
        The sampler's attempts (see :mod:`bayescale.ladder`), the last one's draws kept.
    modes : tuple of Mode
        Groups of chains that sampled different modes (computed when R-hat fails); empty
        or one mode when the chains agree.
    prior_notes : tuple of str
        Prior-data conflicts found by :meth:`Fit.prior_checks` (recorded there), each as
        ``"parameter: check"``: notes, not failures (:attr:`ok` ignores them), but a
        conflict is named as the likely cause when the chains seem to sample separate modes.
    """

    table: pd.DataFrame
    divergences: int
    chains: int
    draws: int
    target_accept: float | None = None
    attempts: tuple[Attempt, ...] = ()
    modes: tuple[Mode, ...] = ()
    prior_notes: tuple[str, ...] = ()

    @property
    def multimodal(self) -> bool:
        """True when the chains sampled two or more separate modes."""
        return len(self.modes) > 1

    def _tried(self) -> str:
        if len(self.attempts) < 2:
            return ""
        return (
            f" (after {len(self.attempts)} attempts, the last with {self.attempts[-1].describe()})"
        )

    @property
    def ess_min(self) -> float:
        """Minimum ESS asked of bulk and tail: 100 per chain."""
        return float(ESS_PER_CHAIN_MIN * self.chains)

    @property
    def problems(self) -> list[str]:
        """What failed, in words, with what to do; empty if the fit passes."""
        found = []
        rhat = self.table["r_hat"]
        tried = self._tried()
        if self.multimodal:
            shown = [n for n in self.table.index if not n.startswith(("sigma", "nu"))]
            modes = "; ".join(f"mode {k} = {m.describe(shown)}" for k, m in enumerate(self.modes))
            if self.prior_notes:
                # A prior that contradicts the runs leaves a ridge the chains wander apart on:
                # that, not two optima of the runs, is the first thing to fix.
                found.append(
                    f"the chains disagree ({len(self.modes)} groups: {modes}), and the priors "
                    f"conflict with the runs ({', '.join(self.prior_notes)}; see "
                    f"fit.prior_checks()): fix that prior and refit before reading the groups "
                    f"as separate modes"
                )
            else:
                found.append(
                    f"the chains sampled {len(self.modes)} separate modes: {modes}. The runs "
                    f"do not decide between them and more sampling will not merge them: "
                    f"forecast each with fit.mode(k), add runs that tell them apart, or tighten "
                    f"the priors"
                )
        elif self.chains > 1 and (rhat.isna().any() or (rhat > RHAT_MAX).any()):
            worst = rhat.fillna(np.inf).idxmax()
            advice = (
                "reparameterise the law, tighten its priors or add runs"
                if tried
                else "run longer (more tune/draws)"
            )
            defaults = SamplerSettings()
            if tried and (self.chains < defaults.chains or self.draws < defaults.draws):
                advice = (
                    f"sample more (this fit kept {self.chains} chains x {self.draws} draws; "
                    f"the defaults are {defaults.chains} x {defaults.draws}), or "
                    f"reparameterise the law, tighten its priors or add runs"
                )
            # Enough digits to show it above the limit: 1.0104 is not "1.010 (> 1.01)".
            value = rhat[worst]
            digits = next((d for d in range(3, 7) if round(value, d) > RHAT_MAX), 6)
            shown = f"{value:.{digits}f}"
            found.append(f"R-hat of {worst} is {shown} (> {RHAT_MAX}): chains disagree; {advice}")
        for kind in ("ess_bulk", "ess_tail"):
            ess = self.table[kind]
            if (ess < self.ess_min).any():
                worst = ess.idxmin()
                found.append(
                    f"{kind.replace('_', ' ')} of {worst} is {ess[worst]:.0f} "
                    f"(< {self.ess_min:.0f}): take more draws"
                )
        if self.divergences:
            ta = self.target_accept
            advice = (
                "tighten the priors or reparameterise the law: the sampler already took "
                f"small steps (target_accept {ta:g})"
                if ta is not None and ta >= 0.99
                else f"raise target_accept (e.g. 0.99{f', it was {ta:g}' if ta else ''}) "
                f"or tighten the priors"
            )
            found.append(
                f"{self.divergences} divergent transitions: the posterior may be biased; {advice}"
            )
        return found

    @property
    def ok(self) -> bool:
        """True when R-hat, ESS and divergences all pass."""
        return not self.problems

    def verdict(self) -> str:
        """Return a one-line verdict for summaries and reports."""
        if self.ok:
            return (
                f"diagnostics pass: R-hat <= {RHAT_MAX}, bulk/tail ESS >= {self.ess_min:.0f}, "
                f"no divergences ({self.chains} chains x {self.draws} draws)"
            )
        return f"DIAGNOSTICS FAIL{self._tried()}: " + "; ".join(self.problems)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON), saved with a group's view to keep the whole fit's verdict.

        Returns
        -------
        dict
            Every field; the table as ``{column: {variable: value}}``.
        """
        return {
            "table": {
                str(c): {str(k): float(v) for k, v in self.table[c].items()}
                for c in self.table.columns
            },
            "divergences": int(self.divergences),
            "chains": int(self.chains),
            "draws": int(self.draws),
            "target_accept": None if self.target_accept is None else float(self.target_accept),
            "attempts": [a.to_dict() for a in self.attempts],
            "modes": [
                {
                    "chains": [int(c) for c in m.chains],
                    "log_density": float(m.log_density),
                    "medians": {str(k): float(v) for k, v in m.medians.items()},
                }
                for m in self.modes
            ],
            "prior_notes": [str(n) for n in self.prior_notes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Diagnostics:
        """Rebuild diagnostics written by :meth:`to_dict`.

        Parameters
        ----------
        data : mapping
            As :meth:`to_dict` returns it (after a JSON round trip).

        Returns
        -------
        Diagnostics
            The same verdict.
        """
        table = pd.DataFrame(
            {str(c): pd.Series(dict(v), dtype=float) for c, v in dict(data["table"]).items()}
        )
        target = data.get("target_accept")
        return cls(
            table=table,
            divergences=int(data["divergences"]),
            chains=int(data["chains"]),
            draws=int(data["draws"]),
            target_accept=None if target is None else float(target),
            attempts=tuple(Attempt.from_dict(a) for a in data.get("attempts", ())),
            modes=tuple(
                Mode(
                    tuple(int(c) for c in m["chains"]),
                    float(m["log_density"]),
                    {str(k): float(v) for k, v in dict(m["medians"]).items()},
                )
                for m in data.get("modes", ())
            ),
            prior_notes=tuple(str(n) for n in data.get("prior_notes", ())),
        )

    @classmethod
    def of(
        cls,
        idata: Any,
        var_names: Sequence[str],
        target_accept: float | None = None,
        attempts: Sequence[Attempt] = (),
    ) -> Diagnostics:
        """Compute the diagnostics of a posterior.

        Parameters
        ----------
        idata : arviz.InferenceData
            With ``posterior`` and ``sample_stats``.
        var_names : sequence of str
            Variables to check.
        target_accept : float, optional
            The sampler's step-size target (the advice on divergences depends on it).
        attempts : sequence of Attempt, optional
            The sampler's attempts, so that advice does not repeat what was tried.

        Returns
        -------
        Diagnostics
            The diagnostics.
        """
        import arviz as az

        from bayescale.hierarchy import scalar_view

        hierarchical = "group" in idata.posterior.coords
        post = (scalar_view(idata.posterior) if hierarchical else idata.posterior)[list(var_names)]
        table = pd.DataFrame(
            {
                "r_hat": az.rhat(post).to_pandas(),
                "ess_bulk": az.ess(post, method="bulk").to_pandas(),
                "ess_tail": az.ess(post, method="tail").to_pandas(),
            }
        )
        diverging = idata.sample_stats.get("diverging")
        chains = int(post.sizes["chain"])
        rhat = table["r_hat"]
        split = chains > 1 and (rhat.isna().any() or (rhat > RHAT_MAX).any())
        return cls(
            table=table,
            divergences=int(diverging.sum()) if diverging is not None else 0,
            chains=chains,
            draws=int(post.sizes["draw"]),
            target_accept=target_accept,
            attempts=tuple(attempts),
            modes=tuple(find_modes(_scalar_idata(idata, post), list(var_names))) if split else (),
        )


def _scalar_idata(idata: Any, post: xr.Dataset) -> Any:
    """InferenceData whose posterior is ``post`` (per-group variables split into scalars)."""
    if "group" not in idata.posterior.coords:
        return idata
    import arviz as az

    return az.InferenceData(posterior=post, sample_stats=idata.sample_stats)


@dataclass
class Fit:
    """A posterior of a law given runs, with what is needed to reproduce it.

    Made by :func:`fit` or :func:`load_fit`; not meant to be built by hand.

    Attributes
    ----------
    law : Law
        The law, with the priors used.
    runs : Runs
        The runs it was fitted to.
    idata : arviz.InferenceData
        ``posterior``, ``sample_stats``, ``prior``, ``observed_data`` (log of the measured
        values) and ``constant_data`` (inputs); the pointwise ``log_likelihood`` (for
        PSIS-LOO) is added on demand by :meth:`with_log_likelihood`.
    log_ref : dict of str to float
        Log reference scale of the inputs that reference-scale parameters are stated at.
    seed : int
        Seed of the sampler and of forecasts.
    settings : dict
        Sampler settings (draws, tune, chains, target_accept, sampler).
    diagnostics : Diagnostics
        R-hat, ESS and divergences.
    info : dict
        Package versions, creation time and the command line that made the fit.
    discrepancy : Discrepancy or None
        The model discrepancy, when the fit was made with one (see
        :mod:`bayescale.discrepancy`): forecasts then add ``disc_*`` columns and widen
        ``pred_*`` by it.
    pooling : Pooling or None
        For runs in groups (a hierarchical fit, see :mod:`bayescale.hierarchy`): which law
        parameters the groups share, pool or keep separate. Per-group parameters are over
        the posterior's ``group`` coordinate; forecasts and plans are per group
        (``group=`` or :meth:`group`), including a new group drawn from the population.
    """

    law: Law
    runs: Runs
    idata: Any
    log_ref: dict[str, float]
    seed: int
    settings: dict[str, Any]
    diagnostics: Diagnostics = field(init=False)
    info: dict[str, Any] = field(default_factory=dict)
    discrepancy: Discrepancy | None = None
    pooling: Pooling | None = None
    # A group's view (see Fit.group) carries the diagnostics of the hierarchical fit.
    _given_diagnostics: Diagnostics | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._given_diagnostics is not None:
            self.diagnostics = self._given_diagnostics
        else:
            attempts = tuple(Attempt.from_dict(a) for a in self.settings.get("attempts", ()))
            target = attempts[-1].target_accept if attempts else self.settings.get("target_accept")
            self.diagnostics = Diagnostics.of(self.idata, self.diagnostic_names, target, attempts)
            # Recorded by prior_checks() and saved with the fit: a reloaded fit's verdict is
            # the same as the fit's.
            notes = tuple(str(n) for n in self.info.get("prior_notes", ()))
            if notes:
                self.diagnostics = replace(self.diagnostics, prior_notes=notes)
        self._warned = False
        self._warned_prior = False
        self._warned_no_discrepancy = False
        # The prior checks of this posterior, made once: fit() makes them, the CLI and the
        # report read them again.
        self._prior_table: pd.DataFrame | None = None
        self._views: dict[str, Fit] = {}
        # A group's view warns through the fit it came from: once per fit, not per group.
        self._root: Fit = self

    def prior_checks(self) -> pd.DataFrame:
        """Notes on how each posterior sits against its prior (see
        :func:`bayescale.checks.prior_checks`): a posterior piled at a bound of its prior, far
        outside it, a floor prior above the runs, a parameter the runs did not inform, or two
        that only a combination of is learned.

        Notes, not failures: :attr:`Diagnostics.ok` is unchanged. The prior-data conflicts
        found (bounds, floor, shift) are recorded in ``diagnostics.prior_notes``, so that the
        verdict names a conflict rather than calling disagreeing chains separate modes.

        Returns
        -------
        pandas.DataFrame
            One row per note: ``parameter``, ``check``, ``value``, ``message``; empty when
            every posterior sits well within its prior.
        """
        from bayescale.checks import CONFLICTS, prior_checks

        if self._prior_table is None:
            self._prior_table = prior_checks(self)
        table = self._prior_table.copy()
        found = table[table["check"].isin(CONFLICTS)]
        conflicts = tuple(
            f"{p}: {c}" for p, c in zip(found["parameter"], found["check"], strict=True)
        )
        if conflicts != self.diagnostics.prior_notes:
            self.diagnostics = replace(self.diagnostics, prior_notes=conflicts)
            info = {k: v for k, v in self.info.items() if k != "prior_notes"}
            self.info = {**info, "prior_notes": list(conflicts)} if conflicts else info
        return table

    @property
    def sampler_log(self) -> list[str]:
        """What the sampler did, in words: where chains started, each attempt and its verdict."""
        lines = [self.settings["starts"]] if self.settings.get("starts") else []
        for k, a in enumerate(self.diagnostics.attempts, start=1):
            lines.append(f"attempt {k}: {a.describe()}; {a.seconds:.1f} s; {a.verdict}")
        if self.settings.get("stopped"):
            lines.append(self.settings["stopped"])
        return lines

    @property
    def modes(self) -> list[Mode]:
        """Groups of chains in separate modes (one group when the chains agree)."""
        if self.diagnostics.modes:
            return list(self.diagnostics.modes)
        if self.pooling is not None:
            from bayescale.hierarchy import scalar_view

            post = scalar_view(self.idata.posterior)[self.diagnostic_names]
            idata = _scalar_idata(self.idata, post)
            return find_modes(idata, self.diagnostic_names, separation=np.inf)
        return find_modes(self.idata, self.parameter_names, separation=np.inf)

    def mode(self, k: int) -> Fit:
        """Return the fit restricted to the chains of mode ``k`` (see :attr:`modes`).

        When the chains sampled separate modes, the pooled draws blend forecasts that the
        runs cannot tell apart; each mode's own forecast shows what each reading implies.

        Parameters
        ----------
        k : int
            Index into :attr:`modes` (0 is the most probable).

        Returns
        -------
        Fit
            A fit with the draws of that mode's chains only.

        Raises
        ------
        DataError
            If there is no mode ``k``.
        """
        modes = self.modes
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(modes):
            raise DataError(f"mode must be a whole number from 0 to {len(modes) - 1}, got {k!r}")
        chains = list(modes[k].chains)
        idata = self.idata.isel(chain=chains, groups=["posterior", "sample_stats"])
        return Fit(
            self.law,
            self.runs,
            idata,
            self.log_ref,
            self.seed,
            {**self.settings, "mode": k},
            self.info,
            self.discrepancy,
            self.pooling,
        )

    # ------------------------------------------------------------------ views

    @property
    def parameter_names(self) -> list[str]:
        """Law parameters then noise parameters, as named in the posterior."""
        return [*self.law.parameters, *self.law.likelihood.noise_names]

    @property
    def groups(self) -> list[str]:
        """The groups of a hierarchical fit, in its order (empty for a fit without groups)."""
        return list(self.runs.group_names) if self.pooling is not None else []

    @property
    def diagnostic_names(self) -> list[str]:
        """Variables the diagnostics check: per group ``alpha[c4]`` ..., populations, noise."""
        if self.pooling is None:
            return self.parameter_names
        post = self.idata.posterior
        names = []
        for name in self.law.parameters:
            if "group" in post[name].dims:
                names += [f"{name}[{g}]" for g in self.groups]
            else:
                names.append(name)
        return [*names, *self.pooling.population_names(), *self.law.likelihood.noise_names]

    def group(self, name: str) -> Fit:
        """The fit as seen by one group: its parameters' draws as a fit without groups.

        Every method of the returned fit (forecast, compute_optimal, budget_for, prob_below,
        the plots) is that group's. ``"new"`` (:data:`bayescale.hierarchy.NEW_GROUP`) is a
        group not yet observed: each posterior draw's parameters drawn from the population
        (seeded by the fit's seed, so a reloaded fit gives the same draws); a separate
        parameter, of which the groups say nothing (every one with ``pooling="none"``), is
        drawn from the law's prior, with a warning, and with ``pooling="complete"`` the new
        group is the one law of all groups, with a warning that this assumes it behaves
        like them.

        Parameters
        ----------
        name : str
            One of :attr:`groups`, or ``"new"``.

        Returns
        -------
        Fit
            A fit over that group's runs (all the runs for a new group), with the
            diagnostics of the whole fit. ``info["view_of"]`` records the group, the fit's
            groups and pooling and those diagnostics: saved with :meth:`save` and reloaded,
            the view keeps the whole fit's verdict (a failed fit's forecasts still warn),
            and its ``repr`` says which group of which fit it is (:attr:`view_of`).

        Warns
        -----
        UserWarning
            Once per fit, for a new group whose parameters come from the law's prior
            (separate ones) or that is the one law of complete pooling.

        Raises
        ------
        DataError
            If the fit has no groups or ``name`` is not one of them.
        """
        from bayescale.hierarchy import NEW_GROUP, new_group_draws, shared_variables

        if self.pooling is None:
            raise DataError(
                f"this fit has no groups; fit runs loaded with load_runs(..., group='<column>') "
                f"(on the command line: bayescale fit ... --group COLUMN) to forecast per group "
                f"(asked for group {name!r})"
            )
        name = str(name)
        if name in self._views:
            return self._views[name]
        post = self.idata.posterior
        shape = (post.sizes["chain"], post.sizes["draw"])
        noise = self.law.likelihood.noise_names
        if name == NEW_GROUP:
            separate = [p for p, kind in self.pooling.kinds.items() if kind == "separate"]
            if separate:
                # Once per fit: the view is kept, so this runs once.
                names = ", ".join(separate)
                warnings.warn(
                    f"separate per group: {names}. The other groups say nothing of a new "
                    f"group's value, so it is drawn from the law's prior and the new group's "
                    f"forecasts are as wide as that prior; pool it (pooling={{{separate[0]!r}: "
                    f"'pooled'}}) to learn it from the other groups",
                    UserWarning,
                    stacklevel=3,
                )
            elif self.pooling.shorthand == "complete":
                warnings.warn(
                    "complete pooling (every parameter shared): a new group's forecast is the "
                    "one law of the observed groups, which assumes that a new group (a new "
                    "dataset, tokenizer ...) behaves exactly like them; fit with "
                    "pooling='partial' for a new group drawn from the groups' population",
                    UserWarning,
                    stacklevel=3,
                )
            # Every parameter separate (pooling="none"): nothing of the posterior is needed,
            # every value comes from the law's prior.
            flat = self.draws(shared_variables(self.law, self.pooling))
            values = new_group_draws(
                self.law,
                self.pooling,
                flat,
                self.log_ref,
                self.seed,
                size=shape[0] * shape[1],
            )
            runs = self.runs
        elif name in self.groups:
            values = {
                n: np.asarray(
                    post[n].sel(group=name).values if "group" in post[n].dims else post[n].values,
                    dtype=float,
                ).reshape(-1)
                for n in self.law.parameters
            }
            runs = self.runs.subset(np.array([g == name for g in self.runs.group]))
        else:
            guess = closest(name, [*self.groups, NEW_GROUP])
            raise DataError(
                f"group {name!r} is not one of this fit's groups ({', '.join(self.groups)}); "
                f"use {NEW_GROUP!r} for a group not yet observed"
                + (f"; did you mean {guess!r}?" if guess is not None else "")
            )
        # A reference-scale parameter's value there (A_ref), as a fit without groups has it.
        from bayescale.formula import NUMPY, Formula

        for p in self.law.parameters.values():
            if p.reference is not None:
                inp, power = p.reference
                shift = Formula(power).evaluate(values, NUMPY) * self.log_ref[inp]
                values[p.sampled_name] = values[p.name] * np.exp(-shift)
        values.update({n: np.asarray(post[n].values, dtype=float).reshape(-1) for n in noise})
        coords = {"chain": post["chain"].values, "draw": post["draw"].values}
        view_post = xr.Dataset(
            {n: (("chain", "draw"), v.reshape(shape)) for n, v in values.items()}, coords=coords
        )
        idata = self.idata.copy()
        idata.posterior = view_post
        if "prior" in idata.groups():
            # Groups are exchangeable a priori: a new group's prior is any group's.
            chosen = name if name in self.groups else self.groups[0]
            prior = self.idata.prior
            idata.prior = xr.Dataset(
                {
                    n: prior[n].sel(group=chosen, drop=True)
                    if "group" in prior[n].dims
                    else prior[n]
                    for n in prior.data_vars
                    if n in values or n.removesuffix("_ref") in values
                }
            )
        for derived in DERIVED_GROUPS:
            if derived in idata.groups():
                delattr(idata, derived)
        # What the view is, saved with it: reloaded, it keeps the whole fit's verdict (a
        # failed population spread shaped this group's draws too) and says where it came from.
        view_of = {
            "group": name,
            "groups": list(self.groups),
            "pooling": self.pooling.to_dict(),
            "diagnostics": self.diagnostics.to_dict(),
        }
        view = Fit(
            self.law,
            runs,
            idata,
            self.log_ref,
            self.seed,
            {**self.settings, "group": name},
            {**self.info, VIEW_OF: view_of},
            self._group_discrepancy(runs),
            None,
            self.diagnostics,
        )
        view._root = self._root
        self._views[name] = view
        return view

    def _group_discrepancy(self, runs: Runs) -> Discrepancy | None:
        """The fit's discrepancy as one group sees it: distances from that group's runs (all
        the runs for a new group or one law for all), see :func:`discrepancy.group_ranges`."""
        if self.discrepancy is None:
            return None
        log_min, log_max = group_ranges(self, runs)
        return replace(self.discrepancy, log_min=log_min, log_max=log_max)

    def _groups_of(self, group: str | Sequence[str] | None) -> list[str] | None:
        """The groups a per-group method covers: None without groups, else a list."""
        # A group column of numbers gives names '1', '2', ...: group=4 means '4'.
        one = isinstance(group, str) or not isinstance(group, Iterable)
        if self.pooling is None:
            if group is not None:
                self.group(str(group) if one else next(iter(group)))  # raises
            return None
        if group is None:
            return list(self.groups)
        # Each group once, in the order asked: group=["c4", "c4"] is c4's rows once.
        chosen = [str(group)] if one else list(dict.fromkeys(str(g) for g in group))
        if not chosen:
            raise DataError(
                f"group names no group; give one or more of {', '.join(self.groups)} (or "
                f"'new'), or leave it out for every group"
            )
        return chosen

    def _in_group(self, g: str, call: Any, said: set[str]) -> Any:
        """``call`` on group ``g``'s view, its warnings said as that group's (once each)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = call(self.group(g))
        for w in caught:
            # Say which group a warning is of ("no budget gives ..." may hold for one);
            # a failed fit's warning is of the whole fit, said once.
            text = str(w.message)
            if "from a fit that failed its diagnostics" not in text:
                text = f"group {g}: {text}"
            if text not in said:
                said.add(text)
                warnings.warn_explicit(text, w.category, w.filename, w.lineno, module=__name__)
        return result

    def _per_group(self, groups: Sequence[str], call: Any) -> pd.DataFrame:
        """Stack a method's table over groups, with a ``group`` column first."""
        tables = []
        said: set[str] = set()
        # Each group is as far from its own runs as it is: one without a discrepancy is
        # warned of for every group it holds for, the first time the fit is asked.
        root = self._root
        before = said_far = root._warned_no_discrepancy
        for g in groups:
            root._warned_no_discrepancy = before
            table = self._in_group(g, call, said)
            said_far |= root._warned_no_discrepancy
            table.insert(0, "group", g)
            tables.append(table)
        root._warned_no_discrepancy = said_far
        from bayescale.planning import stack_tables

        return stack_tables(tables, groups)

    @property
    def ok(self) -> bool:
        """True when the diagnostics pass; forecasts of a failed fit carry a warning."""
        return self.diagnostics.ok

    @property
    def discrepancy_note(self) -> str:
        """Why the fit has no discrepancy ("" when it has one)."""
        if self.discrepancy is not None:
            return ""
        # Fits saved before the discrepancy was the default carry no note.
        return self.info.get("discrepancy_note", "the fit was made without one")

    @property
    def sampler(self) -> SamplerSettings:
        """The sampler settings this fit was made with (to refit the same way)."""
        known = {f.name for f in dataclasses.fields(SamplerSettings)}
        return SamplerSettings.of(
            {k: v for k, v in self.settings.items() if k in known}, seed=self.seed
        )

    @property
    def _n_draws(self) -> int:
        """The posterior draws, every chain's."""
        post = self.idata.posterior
        return int(post.sizes["chain"] * post.sizes["draw"])

    def draws(
        self, names: str | Sequence[str] | None = None, group: str | None = None
    ) -> dict[str, np.ndarray]:
        """Return posterior draws flattened over chains.

        Parameters
        ----------
        names : str or sequence of str, optional
            Variables; default :attr:`parameter_names`.
        group : str, optional
            For a hierarchical fit: the group whose parameter values to return (or
            ``"new"``, see :meth:`group`); needed for per-group variables.

        Returns
        -------
        dict of str to numpy.ndarray
            Each of shape ``(chains * draws,)``.

        Raises
        ------
        DataError
            If a name is not a variable of the posterior, or a per-group variable is asked
            for without a group.
        """
        if group is not None:
            return self.group(group).draws(names)
        post = self.idata.posterior
        names = [names] if isinstance(names, str) else names
        unknown = [n for n in (names or ()) if n not in post.data_vars]
        if unknown:
            # The sampler's own transforms (E_log__) are there too, but not what one asks for.
            known = [str(n) for n in post.data_vars if not str(n).endswith("__")]
            match = closest(unknown[0], known)
            hint = f"; did you mean {match}?" if match is not None else ""
            raise DataError(
                f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not a "
                f"variable of this fit's posterior (its variables: {', '.join(known)}){hint}"
            )
        # None is every parameter; an empty list is no variable (a new group of a fit whose
        # parameters are all separate needs none of the posterior's).
        names = self.parameter_names if names is None else list(names)
        varying = [n for n in names if "group" in post[n].dims]
        if varying:
            # On the command line "; pass group= one of" reads "; pass --group, one of".
            raise DataError(
                f"this fit has groups ({', '.join(self.groups)}); pass group= one of them (or "
                f"'new' for a group not yet observed)"
            )
        return {name: np.asarray(post[name].values, dtype=float).reshape(-1) for name in names}

    def summary(self, level: float = 0.9) -> pd.DataFrame:
        """Return the table of parameters: role, mean, sd, median, HDI, R-hat, ESS.

        Parameters
        ----------
        level : float, default 0.9
            Probability of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row per parameter (law parameters, then the noise ``sigma`` and ``nu``).
        """
        import arviz as az

        from bayescale.hierarchy import scalar_view

        level = check_level(level)
        names = self.diagnostic_names
        post = (
            scalar_view(self.idata.posterior) if self.pooling is not None else self.idata.posterior
        )[names]
        hdi = az.hdi(post, hdi_prob=level)
        tag = level_label(level)
        rows = []
        for name in names:
            values = post[name].values.reshape(-1)
            base = name.split("[")[0]
            role = self.law.parameters[base].role if base in self.law.parameters else "noise"
            if base.endswith(("_loc", "_tau")) and base not in self.law.parameters:
                role = "population" if base.endswith("_loc") else "population spread"
            low, high = (float(v) for v in hdi[name].values)
            rows.append(
                {
                    "parameter": name,
                    "role": role,
                    "mean": float(values.mean()),
                    "sd": float(values.std(ddof=1)),
                    "median": float(np.median(values)),
                    f"hdi_{tag}_lower": low,
                    f"hdi_{tag}_upper": high,
                    "r_hat": float(self.diagnostics.table.loc[name, "r_hat"]),
                    "ess_bulk": float(self.diagnostics.table.loc[name, "ess_bulk"]),
                    "ess_tail": float(self.diagnostics.table.loc[name, "ess_tail"]),
                }
            )
        return pd.DataFrame(rows).set_index("parameter")

    @property
    def view_of(self) -> str | None:
        """For a group's view (:meth:`group`, saved or not): which group of a fit with groups
        it is, in words; None for any other fit."""
        view = self.info.get(VIEW_OF)
        if not isinstance(view, Mapping):
            return None
        groups = ", ".join(map(str, view.get("groups", ())))
        pooling = Pooling.from_dict(view["pooling"]) if view.get("pooling") else None
        how = f"; {pooling.describe()}" if pooling is not None else ""
        return f"group {view.get('group')!r} of a fit with groups ({groups}{how})"

    def __repr__(self) -> str:
        view = self.view_of
        return (
            f"<Fit law={self.law.name!r} runs={len(self.runs)} "
            f"draws={self.diagnostics.chains}x{self.diagnostics.draws} "
            f"discrepancy={'none' if self.discrepancy is None else self.discrepancy.kind} "
            f"{'ok' if self.ok else 'FAILED DIAGNOSTICS'}"
            + (f"; {view}" if view is not None else "")
            + ">"
        )

    # ------------------------------------------------------------------ forecast

    def forecast(
        self,
        at: Mapping[str, Any] | pd.DataFrame,
        level: float | Sequence[float] = 0.9,
        seed: int | None = None,
        group: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Forecast the loss at new scales, with credible and predictive intervals.

        Parameters
        ----------
        at : mapping or DataFrame
            Input values, e.g. ``{"N": [7e10], "D": [1.4e12]}``; of N, D and C any two
            are enough; records (a list of mappings) work too, and a DataFrame's (or the
            records') columns that are not inputs (labels) are carried to the table; a
            mapping's keys must be inputs, its lists of one length (a single value is used
            at every point). Points are named by the law's inputs, not by the runs' source
            columns (``N``, not ``"Model Size"``: the message says which to use). For a
            hierarchical fit, a ``group`` column or key (or one named as the runs' grouping
            column) gives each point's group.
        level : float or sequence of float, default 0.9
            Credible level(s).
        seed : int, optional
            Seed of the new-run noise; default: the fit's seed, so that a fit and its
            reloaded copy give identical forecasts.
        group : str or sequence of str, optional
            For a hierarchical fit: the group(s) to forecast, ``"new"`` for a group not yet
            observed; default every observed group (or the ``group`` column of ``at``).

        Returns
        -------
        pandas.DataFrame
            For a hierarchical fit, first a ``group`` column; then inputs (all of N, D and
            C when the runs have them, whichever two were given), ``law_median``,
            ``law_mean``, ``law_lower_90`` ... (the law's credible
            interval, if its form is exact), with a discrepancy (the default, see
            :func:`bayescale.fit`) ``disc_median``, ``disc_lower_90`` ... (the law allowing
            for its form's error beyond the runs), ``pred_median``, ``pred_lower_90`` ... (a
            new run's predictive interval, that error and run-to-run noise included), and
            ``extrapolation``: the largest ratio of an input, or of the compute C, to
            its largest value in the runs (above 1: beyond the data), and ``distance``: the
            log distance (e-folds) outside the runs' range, above or below, on any input or
            C (0 inside; the distance the discrepancy grows with). One row per point,
            in the order given; a DataFrame's index is kept (except when ``group`` stacks
            several groups' tables). The draws behind these columns are
            :meth:`predictive`'s. ``attrs`` holds ``law``, ``y`` (the runs' response
            column, what is forecast), ``diagnostics_ok`` and, for a failed fit,
            ``warning``; for points far beyond the backtests (below), ``caveats`` (the
            sentence warned) and ``beyond_backtests`` (per such row: ``row`` and its
            ``distance``).

        Warns
        -----
        ExtrapolationWarning
            Once per call, naming the points, when points lie outside the runs' range
            (above or below them) by more than :data:`bayescale.planning.FAR_BEYOND_BACKTESTS`
            times the farthest distance at which the discrepancy's backtests held out runs,
            as :meth:`prob_below` warns: the discrepancy's growth there, and so the
            ``disc_*`` and ``pred_*`` intervals, are extrapolated. A fit without a learned
            discrepancy has no such reach and does not warn; read ``distance``. A
            :class:`UserWarning`: filter it alone with
            ``warnings.filterwarnings("ignore", category=bayescale.errors.ExtrapolationWarning)``.
        UserWarning
            Once per fit, for a fit that failed its diagnostics.

        Raises
        ------
        DataError
            For points that lack an input of the law (naming the columns that were not
            used and what to call them), or with values that are not numbers (bools
            included), not finite, or not positive where the law takes a logarithm; for a
            mapping with a key that is neither an input nor the group column (naming the
            closest) or lists of different lengths; for an empty cell of the group column
            (naming its row).
        """
        check_levels(level)
        seed = self.seed if seed is None else check_seed(seed)
        at = self._points(at)
        warn_thin_tails(level, self._n_draws)
        column = self._group_column(at, group)
        labels = None
        if column is not None:
            labels = self._point_groups(at, column)
            at = at.drop(columns=column)
            parts = []
            for g in dict.fromkeys(labels):
                rows = np.flatnonzero(labels == g)
                part = self.group(g)._forecast_table(at.iloc[rows], level, seed)
                part.insert(0, "group", g)
                part.index = rows
                parts.append(part)
            table = pd.concat(parts).sort_index()
            table.attrs = dict(parts[0].attrs)
            # Row i of the table is row i of at: its labels (run names, dates) carry over.
            table.index = at.index
        else:
            groups = self._groups_of(group)
            if groups is not None:
                return self._per_group(groups, lambda view: view.forecast(at, level, seed))
            table = self._forecast_table(at, level, seed)
        self._flag_far(table.attrs, table, table["extrapolation"], table["distance"], labels)
        return self._flag_failed(table, "forecast")

    def _forecast_table(
        self, at: Mapping[str, Any] | pd.DataFrame, level: Any, seed: int
    ) -> pd.DataFrame:
        """:meth:`forecast` of one fit (no groups), without its warnings."""
        points, draws, noise, log_delta = self._forecast_inputs(at, seed)
        table = forecast_table(self.law, draws, noise, points, level, log_delta=log_delta)
        table["extrapolation"], table["distance"] = beyond_runs(points, self.runs, self.law.inputs)
        table.attrs["law"] = self.law.name
        table.attrs["y"] = self.runs.y_name
        if isinstance(at, pd.DataFrame):
            table.index = at.index
        return table

    def predictive(
        self,
        at: Mapping[str, Any] | pd.DataFrame,
        seed: int | None = None,
        group: str | Sequence[str] | None = None,
    ) -> xr.Dataset:
        """The draws a forecast summarises, over ``(chain, draw, point)``.

        For questions the forecast's quantiles do not answer: the probability that the
        loss at one point is below the loss at another, joint bands over a curve, any
        functional of the posterior. The draws are exactly those :meth:`forecast`
        summarises with the same ``seed`` (its ``pred_median`` is the median of ``pred``
        over chain and draw), one posterior draw's law, discrepancy slope and new-run
        noise shared by every point, as in a forecast.

        Parameters
        ----------
        at : mapping or DataFrame
            The points, in any form :meth:`forecast` takes (two of N, D, C are enough;
            label columns are carried as coordinates).
        seed : int, optional
            Seed of the new-run noise and of the discrepancy; default the fit's seed, as
            in :meth:`forecast`.
        group : str or sequence of str, optional
            For a hierarchical fit, as in :meth:`forecast` (or a ``group`` column of
            ``at``); several groups are stacked along ``point``, with a ``group``
            coordinate.

        Returns
        -------
        xarray.Dataset
            Variables over ``(chain, draw, point)``, float32 (the precision forecasts
            are computed in): ``law``, the law's value (what runs at the point would
            average to, if its form were exact); with a discrepancy ``disc``, the law with
            its form's error beyond the runs; ``pred``, one new run's loss (discrepancy and
            run-to-run noise included). Where a law with multiplicative noise is <= 0, a
            draw's ``disc`` and ``pred`` are NaN (with a warning). Coordinates on
            ``point``: the inputs (all of N, D and C when the runs have them), the labels
            given, ``extrapolation`` and ``distance`` (as in :meth:`forecast`), and
            ``group`` for a hierarchical fit; ``point`` itself is a DataFrame's index
            when it is unique, else 0, 1, .... ``attrs``: ``law``, ``y`` (the response
            column), ``seed``, ``diagnostics_ok`` (1 or 0: NetCDF has no booleans, and
            the Dataset saves with ``to_netcdf``), for a failed fit ``warning``, and for
            points far beyond the backtests ``caveats`` and ``beyond_backtests`` (their
            positions along ``point``).

        Warns
        -----
        ExtrapolationWarning
            As :meth:`forecast`: points far beyond the backtests (once per call).
        UserWarning
            As :meth:`forecast`: a failed fit (once per fit).

        Raises
        ------
        DataError
            As :meth:`forecast`.

        Examples
        --------
        >>> draws = fit.predictive({"N": [7e10, 1.4e11], "D": [1.4e12, 2.8e12]})  # doctest: +SKIP
        >>> pred = draws["pred"]  # doctest: +SKIP
        >>> float((pred.isel(point=1) < pred.isel(point=0)).mean())  # doctest: +SKIP
        """
        seed = self.seed if seed is None else check_seed(seed)
        at = self._points(at)
        column = self._group_column(at, group)
        labels = None
        if column is not None:
            labels = self._point_groups(at, column)
            at = at.drop(columns=column)
            named = list(dict.fromkeys(labels))
            rows = [np.flatnonzero(labels == g) for g in named]
            parts = [
                self.group(g)._predictive_draws(at.iloc[r], seed)
                for g, r in zip(named, rows, strict=True)
            ]
            order = np.argsort(np.concatenate(rows), kind="stable")
            out = _stack_draws(parts, named).isel(point=order)
            point = at.index if at.index.is_unique else np.arange(len(at))
            out = out.assign_coords(point=np.asarray(point))
        else:
            groups = self._groups_of(group)
            if groups is not None:
                said: set[str] = set()
                return _stack_draws(
                    [self._in_group(g, lambda v: v.predictive(at, seed), said) for g in groups],
                    groups,
                )
            out = self._predictive_draws(at, seed)
        points = pd.DataFrame(
            {c: out[c].values for c in (*self.law.inputs, "N", "D", "C") if c in out.coords}
        )
        far = (out["extrapolation"].values, out["distance"].values)
        self._flag_far(out.attrs, points, *far, labels, positions=True)
        self._flag_failed(out, "forecast")
        out.attrs["diagnostics_ok"] = int(self.ok)
        return out

    def _predictive_draws(self, at: Mapping[str, Any] | pd.DataFrame, seed: int) -> xr.Dataset:
        """:meth:`predictive` of one fit (no groups), without its warnings."""
        points, draws, noise, log_delta = self._forecast_inputs(at, seed)
        found = forecast_draws(self.law, draws, noise, points, log_delta)
        ratio, far = beyond_runs(points, self.runs, self.law.inputs)
        post = self.idata.posterior
        shape = (post.sizes["chain"], post.sizes["draw"], len(points))
        index = at.index if isinstance(at, pd.DataFrame) and at.index.is_unique else None
        coords: dict[str, Any] = {
            "chain": post["chain"].values,
            "draw": post["draw"].values,
            "point": np.arange(len(points)) if index is None else np.asarray(index),
            **{str(c): ("point", points[c].to_numpy()) for c in points.columns},
            "extrapolation": ("point", np.asarray(ratio, dtype=float)),
            "distance": ("point", np.asarray(far, dtype=float)),
        }
        # Fit.draws flattens chain by chain: (points, chains * draws) -> (chain, draw, point).
        out = xr.Dataset(
            {
                name: (("chain", "draw", "point"), values.T.reshape(shape), _DRAWN[name])
                for name, values in found.items()
            },
            coords=coords,
        )
        out.attrs.update({"law": self.law.name, "y": self.runs.y_name, "seed": seed})
        return out

    def _points(self, at: Any) -> Mapping[str, Any] | pd.DataFrame:
        """``at`` as :meth:`forecast` and :meth:`predictive` read it, checked.

        Records become a DataFrame (:func:`~bayescale.forecast.as_points`), and a DataFrame
        is kept as it is (columns that are not inputs are labels, carried to the table). A
        mapping's keys must be inputs of the law or, for a fit with groups, the group column
        (``group`` or the runs' grouping column): then it becomes a DataFrame, one group per
        point, as that column of a DataFrame does. Its lists must have one length (a single
        value is used at every point).

        Raises
        ------
        DataError
            For a mapping with a key that is neither (naming the closest input), or lists
            of different lengths.
        """
        at = as_points(at)
        if isinstance(at, pd.DataFrame):
            return at
        given = {str(k): v for k, v in at.items()}
        grouping = ["group", *self.runs.group_by] if self.pooling is not None else []
        inputs = list(self.law.inputs)
        triad = bool({"N", "D", "C"} & set(inputs))
        known = [*inputs, *(n for n in ("N", "D", "C") if triad and n not in inputs)]
        unknown = [k for k in given if k not in {*known, *grouping}]
        if unknown:
            # A missing input is the first thing to say, with the input a stray key was likely
            # meant as ('params' for N): forecast_points says it.
            forecast_points(
                self.law,
                {k: v for k, v in given.items() if k not in grouping},
                self.runs.compute_factor,
                sources=self.runs.columns,
            )
            name = unknown[0]
            if self.pooling is None and (name == "group" or name in self.runs.other_columns):
                hint = "; this fit has no groups (its runs were loaded without group=)"
            else:
                match = closest(name, [*known, *grouping])
                hint = f"; did you mean {match!r}?" if match is not None else ""
            any_two = "; of N, D and C any two are enough" if triad else ""
            what = (
                f"not an input of law {self.law.name!r} (its inputs: {', '.join(inputs)}{any_two})"
            )
            if grouping:
                columns = " or ".join(repr(g) for g in dict.fromkeys(grouping))
                what = (
                    f"neither an input of law {self.law.name!r} ({', '.join(inputs)}{any_two}) "
                    f"nor the group column ({columns})"
                )
            raise DataError(
                f"at names {name!r}, which is {what}{hint}; to carry a label to the table, give "
                f"the points as a DataFrame"
            )
        lengths = _list_lengths(given)
        if not any(k in grouping for k in given):
            return at
        size = next(iter(lengths.values()), 1)
        return pd.DataFrame({k: list(v) if k in lengths else [v] * size for k, v in given.items()})

    def _point_groups(self, at: pd.DataFrame, column: str) -> np.ndarray:
        """Each point's group from ``at``'s group column, an empty cell refused by its row."""
        values = at[column].tolist()
        empty = [
            i
            for i, v in enumerate(values)
            if v is None
            or (isinstance(v, str) and not v.strip())
            or (not isinstance(v, str) and bool(np.all(pd.isna(v))))
        ]
        if empty:
            i = empty[0]
            more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
            label = at.index[i]
            label = label.item() if isinstance(label, np.generic) else label
            raise DataError(
                f"at: the {column!r} cell of point {i + 1} (row {label!r}) is "
                f"empty{more}; give each point a group, one of {', '.join(self.groups)} or "
                f"{NEW_GROUP!r} for a group not yet observed"
            )
        return np.array([str(v) for v in values], dtype=object)

    def _group_column(self, at: Mapping[str, Any] | pd.DataFrame, group: Any) -> str | None:
        """The column of ``at`` that gives each point's group (``group``, or the runs' own
        grouping column, e.g. ``dataset``), for a hierarchical fit; None otherwise."""
        if self.pooling is None or not isinstance(at, pd.DataFrame):
            return None
        column = next((c for c in ("group", *self.runs.group_by) if c in at.columns), None)
        if column is not None and group is not None:
            raise DataError(
                f"give the groups either as the {column!r} column of at or as group=, not both"
            )
        return column

    def _forecast_inputs(
        self, at: Mapping[str, Any] | pd.DataFrame, seed: int
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
        """The points of a forecast (checked, the triad completed) and what its draws are
        made of: posterior draws, a new run's noise per draw and the discrepancy per point
        and draw (None without one). :meth:`forecast` and :meth:`predictive` share them."""
        # The same columns whatever two of N, D, C are given, when the runs have all three;
        # C = k N D here is the value the discrepancy derives, so no draw moves.
        triad = {"N", "D", "C"} <= set(self.runs.inputs)
        points = forecast_points(
            self.law, at, self.runs.compute_factor, triad=triad, sources=self.runs.columns
        )
        warn_slips(points, self.runs)
        draws = self.draws()
        noise = self.law.likelihood.draw_noise(draws, seed)
        log_delta = None
        if self.discrepancy is not None:
            log_delta = self.discrepancy.log_delta(points, len(noise), seed)
        return points, draws, noise, log_delta

    def _beyond_backtests(
        self,
        distance: Any,
        name: Callable[[int], str],
        lead: str,
        consequence: str,
    ) -> tuple[np.ndarray, str | None]:
        """Points farther outside the runs than the backtests checked the discrepancy, by
        more than :data:`~bayescale.planning.FAR_BEYOND_BACKTESTS` times, and the sentence
        that names them (None if none is, or no backtest ran).

        The rule of every result of one fit that reads the discrepancy far out
        (:meth:`forecast`, :meth:`predictive`, :meth:`compute_optimal`, :meth:`prob_below`,
        :meth:`budget_for`; an average applies it per law): ``name(i)`` names point ``i``,
        ``lead`` starts the sentence and ``consequence`` ends it.
        """
        reach = self._backtest_reach()
        far = far_rows(distance, reach)
        self._warn_without_discrepancy(None, distance)
        if reach is None or not len(far):
            return far, None
        return far, beyond_backtests_sentence(far, distance, reach, name, lead, consequence)

    def _warn_without_discrepancy(
        self, attrs: dict[str, Any] | None, distance: Any, name: str | None = None
    ) -> None:
        """Points well outside the runs (more than
        :data:`~bayescale.planning.UNCHECKED_BEYOND` e-folds), asked of a fit without a
        discrepancy: its intervals there allow nothing for the law's own error. Said once
        per fit (an ExtrapolationWarning), and in every result's ``attrs["caveats"]``;
        ``name``: the law's name in an average."""
        from bayescale.planning import UNCHECKED_BEYOND

        if self.discrepancy is not None:
            return
        d = np.asarray(distance, dtype=float).reshape(-1)
        d = d[np.isfinite(d)]
        if not len(d) or not d.max() > UNCHECKED_BEYOND:
            return
        advice = (
            "; fit with discrepancy='backtest' (--discrepancy backtest) to learn that error"
            if self.law.likelihood.scale == "log"
            else ""
        )
        message = (
            f"{name or self.law.name}: points up to {d.max():.1f} e-folds outside the runs' "
            f"range, from "
            f"a fit without a discrepancy (why: {self.discrepancy_note}): the intervals there hold "
            f"the law's parameter uncertainty and the run noise, not the law's own error "
            f"beyond the runs, and may be too narrow{advice}"
        )
        if attrs is not None:
            attrs["caveats"] = [*attrs.get("caveats", []), message]
        if not self._root._warned_no_discrepancy:
            self._root._warned_no_discrepancy = True
            warnings.warn(message, ExtrapolationWarning, stacklevel=_outside_level())

    def _backtest_reach(self) -> float | None:
        """The farthest the discrepancy's backtests held out runs (None: no backtest ran)."""
        from bayescale.planning import backtest_reach

        return None if self.discrepancy is None else backtest_reach(self.discrepancy.info)

    def _flag_far(
        self,
        attrs: dict[str, Any],
        points: pd.DataFrame,
        ratio: Any,
        distance: Any,
        groups: Sequence[str] | None = None,
        positions: bool = False,
    ) -> None:
        """:func:`flag_far_points` for this fit's forecast points (see there)."""
        judged = {self.law.name: (distance, self._backtest_reach())}
        flag_far_points(attrs, points, self.law.inputs, ratio, judged, groups, positions)
        self._warn_without_discrepancy(attrs, distance)

    def _flag_failed(self, table: pd.DataFrame, what: str) -> pd.DataFrame:
        """Mark a result table with the fit's verdict; warn, once per fit, if it failed."""
        table.attrs["diagnostics_ok"] = self.ok
        if not self.ok:
            message = f"{what} from a fit that failed its diagnostics: {self.diagnostics.verdict()}"
            table.attrs["warning"] = message
            # Once per fit (a group's view counts as its fit): every table still carries the
            # warning in its attrs.
            if not self._root._warned:
                warnings.warn(message, stacklevel=_outside_level())
                self._root._warned = True
        self._flag_prior_conflicts(table, what)
        return table

    def _flag_prior_conflicts(self, table: pd.DataFrame, what: str) -> None:
        """Mark a result table with the fit's prior-data conflicts (``diagnostics.prior_notes``,
        recorded by :meth:`prior_checks`); warn once per fit, apart from a failed fit's warning.
        A fit without conflicts leaves the table as it was."""
        notes = self._root.diagnostics.prior_notes or self.diagnostics.prior_notes
        if not notes:
            return
        table.attrs["prior_conflicts"] = list(notes)
        if not self._root._warned_prior:
            warnings.warn(
                f"{what} from a fit whose priors conflict with the runs ({', '.join(notes)}): "
                f"see fit.prior_checks()",
                UserWarning,
                stacklevel=_outside_level(),
            )
            self._root._warned_prior = True

    # ------------------------------------------------------------------ which run next

    def recommend(
        self,
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
        """Which run(s) to train next: the most expected reduction of uncertainty per unit cost.

        :func:`bayescale.recommendation.recommend` for this fit; its docstring says more of
        each parameter and of the table.

        Parameters
        ----------
        candidates : DataFrame or mapping
            Runnable candidates: a column per input of the law (of N, D and C two are
            enough) and any the cost uses; a row is named by its index label.
        target : DataFrame or mapping
            What to be surer of: points of the inputs (criterion ``loss``, e.g.
            ``{"N": 7e10, "D": 1.4e12}``) or budgets ``{"C": ...}`` (criterion
            ``optimal_N``).
        cost : str or sequence of float, optional
            A formula of the candidates' columns (``"6*N*D"``, ``"gpu_hours"``) or one cost
            per candidate; default the candidates' column ``cost`` if they have one, else
            ``k N D`` with the runs' compute factor.
        budget : float or str, optional
            Most the chosen runs may cost together, in the cost's units; default no limit.
        batch : int, default 1
            Most runs to choose, greedily, each given the fantasised outcomes of those before.
        criterion : {"auto", "loss", "optimal_N"}, default "auto"
            What the uncertainty is of: the loss at the target points, or the compute-optimal
            N at the target budgets; ``auto`` is ``optimal_N`` for budgets alone.
        measure : {"variance", "width"}, default "variance"
            What is reduced and ranks: the posterior variance, or the 90% interval's width.
        fixed : mapping, optional
            For ``optimal_N``: values of the law's inputs besides N and D (e.g. ``U``).
        fantasies : int, default 32
            Simulated outcomes per candidate; the Monte Carlo error shrinks as
            ``1/sqrt(fantasies)`` and the time grows in proportion.
        max_draws : int or None, default 4000
            Posterior draws each simulated outcome reweights (None: all of them).
        min_ess : float, optional
            Effective sample size of the weights below which an estimate falls back to the
            linear-Gaussian one; default ``max(20, 2% of the draws)``.
        method : {"auto", "reweight", "gaussian"}, default "auto"
            Importance reweighting, the linear-Gaussian estimate, or reweighting with the
            fallback.
        strategy : {"auto", "per_cost", "reduction", "better"}, default "auto"
            How the batch is chosen greedily: by reduction per unit cost, by reduction
            within the budget, or the better of both (``auto``: ``better`` with a budget,
            else ``per_cost``).
        discrepancy : bool, default True
            Count the fit's discrepancy in the uncertainty to reduce (False: the law's
            posterior uncertainty alone).
        group : str, optional
            For a hierarchical fit: the group whose runs are planned (``"new"`` allowed).
        seed : int, optional
            Seed of the fantasies; default the fit's seed.
        keep_slips : bool, default False
            Let candidates far below every run (N = 3 for 3B, a slip of units most likely)
            be chosen; by default they are warned about and never chosen.

        Returns
        -------
        pandas.DataFrame
            One row per candidate, the chosen first in order: cost, expected reductions,
            value per cost, ESS, ``chosen``, ``order``; ``attrs`` name the criterion.

        Raises
        ------
        DataError
            For candidates, targets, a cost or options that cannot be used, as
            :func:`bayescale.recommendation.recommend` says.
        """
        from bayescale.recommendation import recommend

        return recommend(
            self,
            candidates,
            target,
            cost=cost,
            budget=budget,
            batch=batch,
            criterion=criterion,
            measure=measure,
            fixed=fixed,
            fantasies=fantasies,
            max_draws=max_draws,
            min_ess=min_ess,
            method=method,
            strategy=strategy,
            discrepancy=discrepancy,
            group=group,
            seed=seed,
            keep_slips=keep_slips,
        )

    def compute_optimal(
        self,
        C: float | Sequence[float],
        level: float | Sequence[float] = 0.9,
        fixed: Mapping[str, float] | None = None,
        method: str = "auto",
        group: str | Sequence[str] | None = None,
        sweep: Mapping[str, float] | None = None,
    ) -> pd.DataFrame:
        """Posterior of the compute-optimal split of each budget between N and D.

        Parameters
        ----------
        C : float or sequence of float
            Compute budgets in FLOPs, with ``C = k N D`` (``k`` = the runs' compute factor).
        level : float or sequence of float, default 0.9
            Credible level(s).
        fixed : mapping, optional
            Values of the law's inputs other than N and D (e.g. unique tokens ``U``).
        method : {"auto", "closed_form", "numerical"}
            ``auto``: closed form for the Chinchilla law, numerical search otherwise.
        group : str or sequence of str, optional
            For a hierarchical fit: the group(s), ``"new"`` for a group not yet observed;
            default every observed group (the table then starts with a ``group`` column).
        sweep : mapping, optional
            The IsoFLOP curve a new sweep would run at each budget, for ``N_pred_*``:
            ``runs`` (sizes, at least 5), ``spread`` (the sizes run from ``N_opt / spread``
            to ``N_opt * spread``, geometrically) and ``noise`` (standard deviation of a run's
            log loss). What is not given is the runs' own largest curve's (its sizes as they
            are, when neither ``runs`` nor ``spread`` is given) and their curves' noise; a fit
            whose runs hold no IsoFLOP curve needs all three. Given, it also adds ``N_pred_*``
            to a fit without a discrepancy (the law's plan plus the sweep's noise).

        Returns
        -------
        pandas.DataFrame
            One row per budget: ``C`` and the median and interval of ``N``, ``D`` and
            ``tokens_per_parameter``: the law's credible interval, right if its form is.
            With a discrepancy (see :mod:`bayescale.discrepancy`), also ``N_disc_*``,
            ``D_disc_*`` and ``tokens_per_parameter_disc_*``: the plan with its error,
            learned from IsoFLOP curves or else the prior's
            (``discrepancy.info["plan_learned"]``), wider beyond the runs' largest budget:
            where the optimum of runs at that budget lies. When the runs hold IsoFLOP curves
            (or ``sweep`` is given), also ``N_pred_*``, ``D_pred_*`` and
            ``tokens_per_parameter_pred_*``: the minimum that a new IsoFLOP curve at the
            budget would measure (a parabola in log N through runs placed and as noisy as
            the runs' largest curve, :meth:`Discrepancy.plan_sweep`, or as ``sweep`` says),
            the interval to check a sweep's minimum against, and
            ``prob_sweep_no_minimum``: the share of the posterior draws whose simulated
            curve finds no minimum within its runs (its parabola opens downward, or its
            vertex lies outside the runs), left out of ``N_pred_*`` as a user would rerun
            such a sweep wider. ``N_pred_*`` is the distribution of what such a sweep
            measures, not of the optimum: its median is not ``N_disc_median``, and it need
            not contain ``N_disc_*``. The vertex of a parabola through noisy losses is a
            ratio of two noisy coefficients; with runs placed off-centre (a user's largest
            curve often has most of its runs on one side of its minimum), its noise shifts
            the vertex towards the side with more runs, and the draws whose vertex falls
            outside the runs, most of them on the short side, are left out. Beyond the runs
            the curve flattens relative to the noise (the reducible loss shrinks, the noise
            does not), so the shift grows with the budget; without noise, or with runs
            placed symmetrically about the optimum, there is almost none (``sweep={"runs": 9,
            "spread": 4}`` centres a sweep).

            After the law's split (before ``N_disc_*``), the loss at the optimum, as
            :meth:`forecast` gives it at a point: ``loss_*`` (the law's credible interval),
            with a discrepancy ``loss_disc_*``
            (allowing for the law's error beyond the runs) and ``loss_pred_*`` (the loss
            of one compute-optimal run at that budget: discrepancy and run-to-run noise
            included, the interval :meth:`prob_below` with ``C=`` integrates). Each draw is
            at its own optimal split.

            Last, ``distance``: the e-folds outside the runs' range of the median plan (its
            N, D and C; 0 inside), as :meth:`forecast` gives it.
            ``attrs`` holds ``diagnostics_ok``, for a failed fit ``warning`` (issued once
            per fit), and with ``N_pred_*`` ``sweep_no_minimum``: per budget, the shares
            ``opens_downward`` and ``outside_runs`` behind ``prob_sweep_no_minimum``; for
            plans far beyond the backtests (below), ``caveats`` (the sentence warned) and
            ``beyond_backtests`` (per such row: ``row``, its budget ``C`` and ``distance``).

        Warns
        -----
        ExtrapolationWarning
            Once per call, naming the budgets, when a budget's median plan lies outside the
            runs' range by more than :data:`bayescale.planning.FAR_BEYOND_BACKTESTS` times
            the farthest distance at which the discrepancy's backtests held out runs, as
            :meth:`forecast` warns of its points: the discrepancy's growth there, and so the
            ``loss_disc_*`` and ``loss_pred_*`` intervals, are extrapolated. The plan itself
            is unchanged; a fit without a learned discrepancy does not warn.
        UserWarning
            Once per fit, for a fit that failed its diagnostics or whose priors conflict
            with the runs.

        Raises
        ------
        DataError
            For budgets that are not numbers (or none at all), a ``sweep`` with an unknown
            key or a value out of range, or without what the runs cannot give.
        """
        from bayescale.planning import check_budgets, measured_optimum_draws, sweep_design, table

        check_levels(level)
        budgets = check_budgets(C)
        warn_thin_tails(level, self._n_draws)
        groups = self._groups_of(group)
        if groups is not None:
            return self._per_group(
                groups, lambda view: view.compute_optimal(C, level, fixed, method, sweep=sweep)
            )
        learned = None if self.discrepancy is None else self.discrepancy.plan_sweep()
        design = None if sweep is None and learned is None else sweep_design(sweep, learned)
        draws = self.draws(list(self.law.parameters))
        optimum = self._plan_draws(budgets, fixed, method)
        k = self.runs.compute_factor
        columns = plan_columns(optimum, budgets, k, level)
        shift = optimum.get("plan_log_shift")
        if shift is None and sweep is not None:
            shift = np.zeros_like(optimum["N"])  # the law's plan alone: no discrepancy
        attrs: dict[str, Any] = {}
        if design is not None and shift is not None:
            offsets, noise = design
            log_n = np.log(optimum["N"])
            measured = measured_optimum_draws(
                self.law, draws, budgets, log_n, offsets, noise, self.seed, k, fixed
            )
            # A sweep whose parabola has no minimum inside its runs finds none: such draws
            # are left out, as a user would rerun that sweep wider. How many is said.
            vertex = measured - log_n
            found = (vertex > offsets.min()) & (vertex < offsets.max())
            n = np.exp(np.where(found, measured + shift, np.nan))
            columns.update(_split_summary(n, budgets, k, "pred", level))
            columns["prob_sweep_no_minimum"] = 1.0 - found.mean(axis=0)
            attrs["sweep_no_minimum"] = {
                "opens_downward": np.isnan(vertex).mean(axis=0).tolist(),
                "outside_runs": (~found & ~np.isnan(vertex)).mean(axis=0).tolist(),
            }
        # How far each budget's plan lies outside the runs (its median split and its C): a
        # plan far below or beyond them rests on the law's form there, as a forecast does.
        plan = {
            "N": np.median(optimum["N"], axis=0),
            "D": np.median(optimum["D"], axis=0),
            "C": budgets,
            **{name: np.full(len(budgets), float(v)) for name, v in (fixed or {}).items()},
        }
        columns["distance"] = beyond_runs(plan, self.runs, self.law.inputs)[1]
        far, message = self._beyond_backtests(
            columns["distance"],
            lambda i: f"C = {format_number(float(budgets[i]), 'flops')} FLOPs",
            "compute_optimal: the plan at ",
            "and so are the loss_disc_* and loss_pred_* intervals there",
        )
        if message is not None:
            attrs["caveats"] = [*attrs.get("caveats", []), message]
            attrs["beyond_backtests"] = [
                {"row": int(i), "C": float(budgets[i]), "distance": float(columns["distance"][i])}
                for i in far
            ]
            warnings.warn(message, ExtrapolationWarning, stacklevel=_outside_level())
        result = table(columns)
        result.attrs.update(attrs)
        return self._flag_failed(result, "compute-optimal plan")

    def _plan_draws(
        self,
        budgets: np.ndarray,
        fixed: Mapping[str, float] | None,
        method: str = "auto",
    ) -> dict[str, np.ndarray]:
        """The compute-optimal plan per posterior draw and budget, shape ``(draws, budgets)``.

        ``N``, ``D``, ``tokens_per_parameter`` and ``loss`` (the law's optimum of each draw);
        ``loss_pred`` (one compute-optimal run: discrepancy and noise included, as
        :meth:`forecast` builds ``pred_*`` at a point); with a discrepancy ``loss_disc``
        (the same discrepancy draws, at each draw's own split, as :meth:`prob_below` takes
        them) and, when it has a plan error, ``N_disc`` (where the optimum lies, allowing
        for it) and its ``plan_log_shift`` from ``N``. Every draw in the fit's order, so
        that an average can take its share.
        """
        from bayescale.planning import optimum_draws

        draws = self.draws(list(self.law.parameters))
        optimum = optimum_draws(self.law, draws, budgets, self.runs.compute_factor, fixed, method)
        loss = np.asarray(optimum["loss"], dtype=float)
        noise = self.law.likelihood.draw_noise(self.draws(), self.seed)[:, None]
        additive = self.law.likelihood.scale == "linear"
        shifted = loss
        if self.discrepancy is not None:
            where = {
                "C": np.broadcast_to(budgets[:, None], optimum["N"].T.shape),
                "N": optimum["N"].T,
                "D": optimum["D"].T,
                **{name: float(v) for name, v in (fixed or {}).items()},
            }
            delta = self.discrepancy.log_delta(where, len(loss), self.seed).T
            shifted = loss + delta if additive else loss * np.exp(delta)
            optimum["loss_disc"] = shifted
            shift = self.discrepancy.plan_log_shift(budgets, len(loss), self.seed)
            if shift is not None:
                # Moving N_opt by a factor moves D = C / (k N) by its inverse, at one budget.
                optimum["N_disc"] = optimum["N"] * np.exp(shift)
                optimum["plan_log_shift"] = shift
        with np.errstate(over="ignore"):
            optimum["loss_pred"] = shifted + noise if additive else shifted * np.exp(noise)
        return optimum

    def budget_for(
        self,
        target_loss: float | Sequence[float],
        level: float | Sequence[float] = 0.9,
        fixed: Mapping[str, float] | None = None,
        group: str | Sequence[str] | None = None,
        prob: float | Sequence[float] | None = None,
    ) -> pd.DataFrame:
        """Posterior of the compute needed to reach a target loss on the optimal frontier.

        Parameters
        ----------
        target_loss : float or sequence of float
            Target loss(es) of the law (the average run at that scale).
        level : float or sequence of float, default 0.9
            Credible level(s).
        fixed : mapping, optional
            Values of the law's inputs other than N and D.
        group : str or sequence of str, optional
            For a hierarchical fit, as in :meth:`compute_optimal`.
        prob : float or sequence of float, optional
            Also the smallest budget at which one run, split compute-optimally, meets the
            target with at least this probability (the question a plan answers: "how much
            compute for a 90% chance that our run reaches 2.0?"); column
            ``C_run_prob_{p}`` (``C_run_prob_90`` for 0.9). ``inf`` where no budget up to
            1e40 FLOPs gives that chance (the floor, the discrepancy or the noise keep it
            below; a warning says the highest chance and its budget). Split it as
            :meth:`compute_optimal` says.

        Returns
        -------
        pandas.DataFrame
            One row per target (and group): median and interval of ``C``, ``N`` and ``D`` at the
            optimum, where the law (the average run) meets the target; ``prob_unreachable``:
            the share of the posterior in which the target is at or below the floor (or
            beyond 1e40 FLOPs), intervals reaching such draws show ``inf``;
            ``prob_run_below_median_C`` and ``prob_run_below_upper_90_C`` (per level):
            the probability that one run with that budget, split compute-optimally, meets
            the target (:meth:`prob_below`: the discrepancy and the noise count too, so it
            is lower than the law's 50% and 95%). ``attrs`` holds
            ``diagnostics_ok`` and, for a failed fit, ``warning`` (issued once per fit);
            ``caveats``, ``past_peak`` and ``beyond_backtests`` as in :meth:`prob_below`,
            for the budgets of the row (its median, upper ends and ``C_run_prob_*``; each
            entry names its ``column``).

        Warns
        -----
        UserWarning
            When a target is out of reach in enough of the posterior that the interval
            shows ``inf`` ("target loss 1.7 is below the law's floor E (90%: 1.78 to 1.83): no
            budget reaches it on average"); when one of the row's budgets is past the peak
            of one run's chance (see :meth:`prob_below`); when the runs already reach the
            target; when no budget gives the chance ``prob``.
        ExtrapolationWarning
            When one of the row's budgets lies far outside what the backtests checked (see
            :meth:`prob_below`).

        Raises
        ------
        DataError
            For a target that is not a number (or none at all), or out of range.
        """
        from bayescale.planning import (
            budget_draws,
            check_targets,
            in_compute_alone,
            summarise,
            table,
        )

        check_levels(level)
        probs = [] if prob is None else check_levels(prob, "prob")
        targets = check_targets(target_loss)
        warn_thin_tails(level, self._n_draws)
        groups = self._groups_of(group)
        if groups is not None:
            return self._per_group(
                groups, lambda view: view.budget_for(target_loss, level, fixed, prob=prob)
            )
        levels = [level] if np.isscalar(level) else list(level)
        draws = self.draws(list(self.law.parameters))
        rows = []
        caveats: dict[str, Any] = {"caveats": [], "past_peak": [], "beyond_backtests": []}
        for position, target in enumerate(targets):
            found = budget_draws(self.law, draws, float(target), self.runs.compute_factor, fixed)
            row: dict[str, Any] = {"target_loss": target}
            row.update(summarise(found["C"], "C", level))
            # N and D are undefined where the target is out of reach; those draws sort last.
            # A law in C alone has no split: its compute is all there is to say.
            for name in () if in_compute_alone(self.law) else ("N", "D"):
                row.update(
                    summarise(np.where(np.isnan(found[name]), np.inf, found[name]), name, level)
                )
            row["prob_unreachable"] = float(np.isinf(found["C"]).mean())
            # The interval above is the law's (the average run): say what one run's odds are
            # at its median and upper end, where the discrepancy and the noise count too.
            for where in ["median", *(f"upper_{level_label(lv)}" for lv in levels)]:
                budget = float(np.asarray(row[f"C_{where}"]))
                row[f"prob_run_below_{where}_C"] = (
                    float(self._prob_run_at(float(target), budget, fixed))
                    if np.isfinite(budget)
                    else float("nan")
                )
            scan = self._run_prob_scan(float(target), fixed)
            for p in probs:
                row[f"C_run_prob_{level_label(p)}"] = self._budget_for_run_prob(
                    float(target), p, fixed, scan
                )
            rows.append({k: np.asarray(v).item() for k, v in row.items()})
            self._warn_below_runs(float(target), found)
            self._warn_out_of_reach(float(target), rows[-1], levels, draws)
            # The row's budgets (the law's median and upper ends, one run's chance's): each
            # one judged as prob_below judges a budget.
            judged = judged_budgets(rows[-1])
            if judged:
                found_caveats = self._caveats(
                    float(target), None, None, np.array(list(judged.values())), fixed, scan=scan
                )
                file_caveats(caveats, found_caveats, judged, position)
        out = table({k: [r[k] for r in rows] for k in rows[0]})
        out.attrs.update(caveats)
        return self._flag_failed(out, "budget for the target")

    def _warn_out_of_reach(
        self,
        target: float,
        row: Mapping[str, Any],
        levels: Sequence[float],
        draws: Mapping[str, np.ndarray],
    ) -> None:
        """Say in words why a budget shows ``inf``: the target is at or below the floor."""
        widest = f"C_upper_{level_label(max(levels))}"
        share = float(row["prob_unreachable"])
        if not share > 0 or np.isfinite(row.get(widest, np.inf)):
            return
        floor = self.law.floor
        if floor is not None and floor in draws:
            low, high = np.quantile(np.asarray(draws[floor], dtype=float), [0.05, 0.95])
            reason = f"below the law's floor {floor} (90%: {low:.3g} to {high:.3g})"
        else:
            reason = "beyond what the law reaches up to 1e40 FLOPs"
        if share >= 1:
            message = (
                f"target loss {target:g} is {reason}: no budget reaches it on average (its "
                f"budget, N and D are infinite)"
            )
        elif share >= 0.5:
            message = (
                f"target loss {target:g} is {reason} in {share:.0%} of the posterior: no "
                f"budget reaches it on average (its median budget is infinite)"
            )
        else:
            message = (
                f"target loss {target:g} is {reason} in {share:.0%} of the posterior: the "
                f"upper end of its budget's interval is infinite"
            )
        warnings.warn(message, UserWarning, stacklevel=_outside_level())

    def _caveats(
        self,
        target: float,
        N: Any,
        D: Any,
        C: Any,
        fixed: Mapping[str, float] | None,
        table: pd.DataFrame | None = None,
        scan: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """Flag points past the peak of one run's chance, or far beyond the backtests; warn.

        The peak applies to budgets alone (C on the frontier, or a law of C); the distance to
        every point. One warning per kind, naming every point it concerns: a UserWarning past
        the peak, an :class:`~bayescale.errors.ExtrapolationWarning` far beyond the backtests.
        """

        if table is None:
            table = self._prob_below(target, N, D, C, fixed)
        out: dict[str, Any] = {"caveats": [], "past_peak": [], "beyond_backtests": []}
        # Each sentence with its category: far beyond the backtests is an ExtrapolationWarning,
        # which callers that ask about their own grids silence alone.
        said: list[tuple[str, type[Warning]]] = []
        names = [c for c in table.columns if c in self.law.inputs or c in ("N", "D", "C")]
        names = [c for c in names if c not in (fixed or {})]

        def where(i: int) -> str:
            row = table.iloc[i]
            if "C" in names and (N is None and D is None):
                return f"{format_number(float(row['C']), 'flops')} FLOPs"
            return ", ".join(f"{c} = {format_number(float(row[c]), size_kind(c))}" for c in names)

        budgets = table["C"].to_numpy(dtype=float) if "C" in table else np.array([0.0])
        # Without a discrepancy one run's chance only rises with the budget (every draw's
        # loss falls, the noise stays), and with one it does so within the runs' compute,
        # where the discrepancy is nil: the scan looks only beyond the largest run.
        largest = (
            np.exp(self.discrepancy.log_max.get("C", -np.inf))
            if self.discrepancy is not None
            else np.inf
        )
        if N is None and D is None and C is not None and budgets.max() > largest:
            computed = dict(zip(budgets.tolist(), table["prob_run_below"].tolist(), strict=True))
            prob_at = scan or self._run_prob_scan(target, fixed, computed)
            flags = past_peak_flags(
                prob_at, budgets, self.runs.compute_factor, largest, target, where
            )
            if flags is not None:
                out["past_peak"], sentence = flags
                said.append((sentence, UserWarning))
        distance = np.asarray(table.attrs.get("distance", []), dtype=float)
        if len(distance) == len(table):
            far, message = self._beyond_backtests(
                distance, where, f"for loss {target:g}, ", "and so is one run's chance"
            )
            if message is not None:
                out["beyond_backtests"] = [
                    {
                        "target_loss": target,
                        "row": int(i),
                        **({"C": float(table["C"].iloc[i])} if "C" in table else {}),
                        "distance": float(distance[i]),
                    }
                    for i in far
                ]
                said.append((message, ExtrapolationWarning))
        for message, category in said:
            out["caveats"].append(message)
            warnings.warn(message, category, stacklevel=_outside_level())
        return out

    def _run_prob_scan(
        self,
        target: float,
        fixed: Mapping[str, float] | None,
        known: dict[float, float] | None = None,
    ) -> Callable[[np.ndarray], np.ndarray]:
        """One run's chance of ``target`` at an array of budgets, each budget computed once.

        :func:`~bayescale.planning.budget_for_prob` and :func:`~bayescale.planning.past_peak`
        scan the same budgets: for a law without a closed-form optimum each scan searches
        the split of every draw at every budget, so they share it. ``known``: chances
        computed already, by budget.
        """
        known = dict(known or {})

        def prob_at(budgets: np.ndarray) -> np.ndarray:
            budgets = np.asarray(budgets, dtype=float).reshape(-1)
            new = [b for b in dict.fromkeys(budgets.tolist()) if b not in known]
            if new:
                with warnings.catch_warnings():
                    # The scan's own budgets (from 1e7 FLOPs) are no slip of the user's.
                    warnings.simplefilter("ignore", SlipWarning)
                    found = self._prob_below(target, None, None, np.array(new), fixed)
                known.update(zip(new, found["prob_run_below"].to_numpy().tolist(), strict=True))
            return np.array([known[b] for b in budgets.tolist()])

        return prob_at

    def _prob_run_at(
        self, target: float, budget: float, fixed: Mapping[str, float] | None
    ) -> float:
        """``prob_run_below`` at one budget (split optimally); the caller flags a failed fit."""
        table = self._prob_below(target, None, None, budget, fixed)
        return float(table["prob_run_below"].iloc[0])

    def _budget_for_run_prob(
        self,
        target: float,
        prob: float,
        fixed: Mapping[str, float] | None,
        prob_at: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> float:
        """Smallest budget at which one run meets ``target`` with ``prob``; warns if none."""
        from bayescale.planning import budget_for_prob

        prob_at = prob_at or self._run_prob_scan(target, fixed)
        found = budget_for_prob(prob_at, prob, self.runs.compute_factor)
        if not np.isfinite(found["C"]):
            warnings.warn(
                f"no budget up to 1e40 FLOPs gives one run a {prob:.0%} chance of loss "
                f"{target:g}: the highest is {found['prob_max']:.1%}, at "
                f"{format_number(found['C_at_max'], 'flops')} FLOPs (the floor, the "
                f"discrepancy beyond the runs and the run's noise keep it below); "
                f"C_run_prob_{level_label(prob)} is inf",
                UserWarning,
                stacklevel=_outside_level(),
            )
        elif found["at_least"]:
            warnings.warn(
                f"one run meets loss {target:g} with a {prob:.0%} chance even at the "
                f"smallest budget searched ({format_number(found['C'], 'flops')} FLOPs, a "
                f"thousand parameters and tokens), which is shown: the target is above what "
                f"the runs reach",
                UserWarning,
                stacklevel=_outside_level(),
            )
        return float(found["C"])

    def _warn_below_runs(self, target: float, found: Mapping[str, np.ndarray]) -> None:
        """Say so when a target is met below the runs' compute: an extrapolation downward."""
        from bayescale.planning import summarise

        runs, k = self.runs, self.runs.compute_factor
        if "C" in runs.inputs:
            smallest = float(runs.x("C").min())
        elif {"N", "D"} <= set(runs.inputs):
            smallest = float((k * runs.x("N") * runs.x("D")).min())
        else:
            return
        share = float(np.mean(found["C"] < smallest))
        if share < 0.5:
            return
        message = (
            f"target loss {target:g} is met below the compute of the smallest run "
            f"({format_number(smallest, 'flops')} FLOPs) in {share:.0%} of the posterior "
            f"(median {format_number(float(summarise(found['C'], 'C')['C_median']), 'flops')} "
            f"FLOPs): the runs "
            f"already reach it, and a budget below them is an extrapolation downward"
        )
        at_least = float(np.mean(found["at_least"]))
        if at_least > 0:
            lowest = format_number(float(np.min(found["C"])), "flops")
            message += (
                f"; in {at_least:.0%} it is met even at the smallest budget searched (a "
                f"thousand parameters and tokens, {lowest} FLOPs), which is shown"
            )
        warnings.warn(message, UserWarning, stacklevel=_outside_level())

    def prob_below(
        self,
        target_loss: float | Sequence[float],
        *,
        N: float | Sequence[float] | None = None,
        D: float | Sequence[float] | None = None,
        C: float | Sequence[float] | None = None,
        fixed: Mapping[str, float] | None = None,
        group: str | Sequence[str] | None = None,
        at: Mapping[str, Any] | pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    ) -> pd.DataFrame:
        """Probability of reaching a target loss: by the law, and by one new run.

        Parameters
        ----------
        target_loss : float or sequence of float
            The target, or several (as in :meth:`budget_for`): one row per target and point,
            target by target.
        N, D, C : float or sequence of float, optional
            Where: two of N, D, C (``C = k N D``), or C alone for the compute-optimal split
            of each draw.
        fixed : mapping, optional
            Values of the law's other inputs.
        group : str or sequence of str, optional
            For a hierarchical fit, as in :meth:`compute_optimal`.
        at : mapping, DataFrame or list of mappings, optional
            Where, instead of ``N``, ``D``, ``C``: the point(s) in any form :meth:`forecast`
            takes, e.g. ``{"N": 7e10, "D": 1.4e12}`` or ``{"C": 1e24}`` (as the command
            line's ``--at``). Its N, D and C are those keywords; the law's other inputs
            are ``fixed`` (one value for all the points).

        Returns
        -------
        pandas.DataFrame
            The inputs (after a ``group`` column for a hierarchical fit),
            ``target_loss``, ``prob_law_below`` (the law's loss, i.e. the average run
            if the law's form is right, is below the target) and ``prob_run_below``
            (one new run is, noise and the fit's discrepancy included: the probability a
            single training run meets the target). ``attrs`` holds
            ``diagnostics_ok`` and, for a failed fit, ``warning`` (issued once per fit);
            ``caveats``, the sentences warned (below); ``past_peak`` and
            ``beyond_backtests``, one entry per row they flag (``target_loss``, ``row``,
            the budget ``C`` and, beyond the backtests, the ``distance`` in e-folds).

        Warns
        -----
        UserWarning
            Once per target, naming the budgets (given as C alone) past the peak of one
            run's chance: more than :data:`bayescale.planning.PEAK_MARGIN` below its chance
            at a smaller budget. The discrepancy is symmetric on log loss and its spread
            grows without bound with the distance beyond the runs, so far enough out more
            compute pulls one run's chance back towards a coin toss, even of beating the
            floor.
        ExtrapolationWarning
            Once per target, naming the points whose distance beyond the runs (the
            discrepancy's, over N, D and C) is more than
            :data:`bayescale.planning.FAR_BEYOND_BACKTESTS` times the farthest distance at
            which the backtests held out runs (``discrepancy.info["splits"]``): the
            discrepancy's growth is extrapolated there.

            The probabilities themselves are unchanged.

        Raises
        ------
        DataError
            For a target that is not a number (or none at all), or out of range, for
            points that are not numbers, and for ``at`` given with ``N``, ``D`` or ``C``.
        """
        from bayescale.planning import check_fixed, check_targets

        if at is not None:
            N, D, C, fixed = self._point_keywords(at, N, D, C, fixed)
        fixed = check_fixed(self.law, fixed)
        targets = check_targets(target_loss)
        groups = self._groups_of(group)
        if groups is not None:
            return self._per_group(
                groups, lambda view: view.prob_below(target_loss, N=N, D=D, C=C, fixed=fixed)
            )
        tables = []
        caveats: dict[str, Any] = {"caveats": [], "past_peak": [], "beyond_backtests": []}
        for target in targets:
            part = self._prob_below(float(target), N, D, C, fixed)
            found = self._caveats(float(target), N, D, C, fixed, table=part)
            for key in ("past_peak", "beyond_backtests"):
                caveats[key] += [
                    {**entry, "row": entry["row"] + sum(map(len, tables))} for entry in found[key]
                ]
            caveats["caveats"] += found["caveats"]
            part.attrs.clear()
            tables.append(part)
        table = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
        table.attrs.update(caveats)
        return self._flag_failed(table, "probability of the target")

    def _point_keywords(
        self, at: Any, N: Any, D: Any, C: Any, fixed: Mapping[str, float] | None
    ) -> tuple[Any, Any, Any, dict[str, Any] | None]:
        """``prob_below``'s ``at=`` as its ``N``, ``D``, ``C`` and ``fixed``."""
        keywords = {"N": N, "D": D, "C": C}
        owner = f"law {self.law.name!r}"
        triad, others = points_of_at(
            at, keywords, fixed, self.law.inputs, owner, self.runs.group_by
        )
        return triad.get("N"), triad.get("D"), triad.get("C"), others or None

    def _prob_below(
        self,
        target_loss: float,
        N: float | Sequence[float] | None,
        D: float | Sequence[float] | None,
        C: float | Sequence[float] | None,
        fixed: Mapping[str, float] | None,
    ) -> pd.DataFrame:
        """:meth:`prob_below` of one fit (no groups), without the failed-fit flag."""
        from bayescale.planning import (
            check_budgets,
            check_targets,
            optimum_draws,
            prob_below_draws,
        )

        target = float(check_targets(target_loss)[0])
        additive = self.law.likelihood.scale == "linear"
        if not np.isfinite(target) or (target <= 0 and not additive):
            raise DataError(f"target loss must be a positive number, got {target_loss!r}")
        draws = self.draws()
        theta = {name: draws[name] for name in self.law.parameters}
        given = {k: v for k, v in {"N": N, "D": D, "C": C}.items() if v is not None}
        if "C" in given:
            given["C"] = check_budgets(C)
        # C alone: each draw's compute-optimal split, unless the law is written in C itself.
        if set(given) == {"C"} and not set(self.law.inputs) & {"C"}:
            budgets = given["C"]
            warn_slips(pd.DataFrame({"C": budgets}), self.runs)
            optimum = optimum_draws(self.law, theta, budgets, self.runs.compute_factor, fixed)
            values = optimum["loss"]
            points = pd.DataFrame({"C": budgets})
            # Each draw's own optimal split: its distance beyond the runs differs by draw.
            where: Mapping[str, Any] = {
                "C": np.broadcast_to(budgets[:, None], optimum["N"].T.shape),
                "N": optimum["N"].T,
                "D": optimum["D"].T,
                **{k: float(v) for k, v in (fixed or {}).items()},
            }
        else:
            points = forecast_points(self.law, {**given, **(fixed or {})}, self.runs.compute_factor)
            warn_slips(points, self.runs)
            x = {name: points[name].to_numpy()[None, :] for name in self.law.inputs}
            values = self.law.predict({k: v[:, None] for k, v in theta.items()}, x)
            where = points
        log_delta = None
        distance = None
        if self.discrepancy is not None:
            log_delta = self.discrepancy.log_delta(where, len(values), self.seed).T
            # Each point's distance beyond the runs (the median over draws of their splits).
            distance = np.asarray(self.discrepancy.distance(where), dtype=float)
            distance = np.median(distance, axis=1) if distance.ndim == 2 else distance
        law_p, run_p = prob_below_draws(
            values, target, self.law.likelihood, draws, log_delta=log_delta
        )
        out = points.copy()
        out["target_loss"] = target
        out["prob_law_below"] = law_p
        out["prob_run_below"] = run_p
        if distance is not None:
            out.attrs["distance"] = distance.reshape(-1).tolist()
        return out

    # ------------------------------------------------------------------ persistence

    def _metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "law": self.law.to_dict(),
            "runs": self.runs.to_dict(),
            "log_ref": self.log_ref,
            "seed": self.seed,
            "settings": self.settings,
            "info": self.info,
            "discrepancy": None if self.discrepancy is None else self.discrepancy.to_dict(),
            "pooling": None if self.pooling is None else self.pooling.to_dict(),
        }

    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the fit to one NetCDF file (data, law, priors, seed, versions).

        The file is written next to its destination and then moved into place, so a failed
        write (full disk, Ctrl-C) never leaves a broken file and never damages an existing
        one; without ``overwrite`` the move fails if the file appeared meanwhile. Groups
        derived from the posterior (the pointwise log-likelihood) are not stored: they are
        recomputed on demand, identically. A group's view (:meth:`group`) is saved with the
        whole fit's diagnostics and the group it is of, which :func:`load_fit` restores.

        Parameters
        ----------
        path : str or PathLike
            Destination, a name ending in ``.nc``.
        overwrite : bool, default False
            Replace an existing file.

        Returns
        -------
        Path
            The path written.

        Raises
        ------
        OutputExistsError
            If the file exists and ``overwrite`` is False.
        BayescaleError
            If the name does not end in ``.nc``, the folder does not exist or is not
            writable, or the disk is full.
        """
        if Path(path).suffix.lower() != ".nc":
            raise BayescaleError(
                f"a fit is saved as NetCDF: give a name ending in .nc (got '{path}'), as "
                f"load_fit and 'bayescale forecast' expect"
            )
        path = _files.check_destination(path, overwrite)
        return _files.write_bytes(path, self._file_bytes(), overwrite=overwrite)

    def _file_bytes(self) -> bytes:
        """The content of the fit's file (:meth:`save`), serialised in memory."""
        idata = self.idata.copy()
        for group in DERIVED_GROUPS:
            if group in idata.groups():
                delattr(idata, group)
        idata.posterior.attrs["bayescale"] = json.dumps(self._metadata())
        return _files.netcdf_bytes(idata)

    # ------------------------------------------------------------------ derived groups

    def log_likelihood(self) -> xr.Dataset:
        """Pointwise log-likelihood of every run under every posterior draw (for PSIS-LOO).

        Computed on demand, not stored with the fit: it has one value per run and draw,
        which for large sweeps outweighs everything else (100,000 runs x 4,000 draws is
        3.2 GB). Computed in blocks of draws, so temporaries stay small.

        Returns
        -------
        xarray.Dataset
            Variable ``y`` over ``(chain, draw, run)``: the log density of each run's log
            loss.

        Raises
        ------
        BayescaleError
            If the array would take more than half of the memory available now; the message
            says how large it is and what to do.
        """
        return pointwise_log_likelihood(self.law, self.runs, self.idata.posterior)

    def with_log_likelihood(self) -> Any:
        """Return :attr:`idata` with its ``log_likelihood`` group, computing it once.

        Returns
        -------
        arviz.InferenceData
            The fit's own InferenceData (the group is added to it and kept), ready for
            ``arviz.loo``, ``arviz.compare`` or ``arviz.psens``.
        """
        if "log_likelihood" not in self.idata.groups():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.idata.add_groups({"log_likelihood": self.log_likelihood()})
        return self.idata


#: What each variable of :meth:`Fit.predictive` is, in its attrs.
_DRAWN = {
    "law": {"long_name": "the law's value: what runs at the point average to, if its form is"},
    "disc": {"long_name": "the law with its discrepancy: its form's error beyond the runs"},
    "pred": {"long_name": "one new run's loss: discrepancy and run-to-run noise included"},
}


def _stack_draws(parts: Sequence[xr.Dataset], groups: Sequence[str]) -> xr.Dataset:
    """Groups' :meth:`Fit.predictive` draws along ``point``, with a ``group`` coordinate;
    the attrs of the first, the caveats joined (each named by its group)."""
    tagged = [
        part.assign_coords(group=("point", np.full(part.sizes["point"], g, dtype=object)))
        for part, g in zip(parts, groups, strict=True)
    ]
    out = xr.concat(tagged, dim="point", combine_attrs="drop_conflicts")
    out = out.assign_coords(point=np.arange(out.sizes["point"]))
    attrs = {k: v for k, v in parts[0].attrs.items() if k not in ("caveats", "beyond_backtests")}
    offset = 0
    for part, g in zip(parts, groups, strict=True):
        if part.attrs.get("caveats"):
            attrs.setdefault("caveats", []).extend(f"group {g}: {c}" for c in part.attrs["caveats"])
            attrs.setdefault("beyond_backtests", []).extend(
                int(i) + offset for i in part.attrs.get("beyond_backtests", [])
            )
        offset += part.sizes["point"]
    out.attrs = attrs
    return out


def _and(items: Sequence[str], most: int = 4) -> str:
    """``a``, ``a and b``, ``a, b and c``; beyond ``most`` items, the first two and the last."""
    if len(items) > most:
        return f"{items[0]}, {items[1]}, ... and {items[-1]} ({len(items)} in all)"
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


# ------------------------------------------------------------------ far out, shared with Average
# One implementation of each sentence and rule, for a fit's results and an average's alike, so
# that their wording cannot drift apart.


def judged_budgets(row: Mapping[str, Any]) -> dict[str, float]:
    """The budgets of a :meth:`Fit.budget_for` row that :meth:`Fit.prob_below` judges.

    Parameters
    ----------
    row : mapping
        One row of the table, by column.

    Returns
    -------
    dict of str to float
        ``C_median``, the ``C_upper_*`` ends and the ``C_run_prob_*`` budgets that are
        finite, by column: each one is checked as a budget (past the peak of one run's
        chance, far beyond the backtests).
    """
    return {
        column: float(value)
        for column, value in row.items()
        if (column == "C_median" or column.startswith(("C_upper_", "C_run_prob_")))
        and np.isfinite(value)
    }


def file_caveats(
    caveats: dict[str, Any],
    found: Mapping[str, Any],
    judged: Mapping[str, float],
    position: int,
) -> None:
    """Add one row's caveats (of its :func:`judged_budgets`) to a budget table's.

    Parameters
    ----------
    caveats : dict
        The table's ``caveats``, ``past_peak`` and ``beyond_backtests``, extended in place.
    found : mapping
        The caveats found for the row's budgets, their entries numbered by budget.
    judged : mapping of str to float
        The row's budgets, by column, in the order they were judged.
    position : int
        The row's position in the table: each entry names its ``row`` and ``column``.
    """
    columns = list(judged)
    for key in ("past_peak", "beyond_backtests"):
        for entry in found[key]:
            entry = dict(entry)
            column = columns[entry.pop("row")]
            caveats[key].append({**entry, "row": position, "column": column})
    caveats["caveats"] += found["caveats"]


def far_rows(distance: Any, reach: float | None) -> np.ndarray:
    """Positions of points farther outside the runs than the backtests checked.

    Parameters
    ----------
    distance : array_like
        Each point's log distance (e-folds) outside the runs' range.
    reach : float or None
        The farthest distance at which the backtests held out runs
        (:func:`~bayescale.planning.backtest_reach`); None when no backtest ran.

    Returns
    -------
    numpy.ndarray
        The positions whose distance is more than
        :data:`~bayescale.planning.FAR_BEYOND_BACKTESTS` times ``reach`` (none without one).
    """
    from bayescale.planning import FAR_BEYOND_BACKTESTS

    if reach is None:
        return np.zeros(0, dtype=int)
    distance = np.asarray(distance, dtype=float).reshape(-1)
    return np.flatnonzero(distance > FAR_BEYOND_BACKTESTS * reach)


def beyond_backtests_sentence(
    far: Sequence[int] | np.ndarray,
    distance: Any,
    reach: float | Mapping[str, float],
    name: Callable[[int], str],
    lead: str,
    consequence: str,
) -> str:
    """The sentence said of points far beyond the backtests (:func:`far_rows`).

    Parameters
    ----------
    far : sequence of int
        The positions flagged.
    distance : array_like
        Every point's distance outside the runs, in e-folds.
    reach : float or mapping of str to float
        The backtests' reach; per law (by name) when the sentence is of several laws, which
        it then names.
    name : callable
        Names the point at a position (``"point 2 at N = 70B, D = 1.4T"``).
    lead, consequence : str
        What starts the sentence (``"forecast: "``) and what ends it (what is extrapolated).

    Returns
    -------
    str
        One sentence, without a final full stop.
    """
    from bayescale.planning import FAR_BEYOND_BACKTESTS

    distance = np.asarray(distance, dtype=float).reshape(-1)
    points = _and([f"{name(int(i))} ({distance[i]:.0f} e-folds)" for i in far])
    if isinstance(reach, Mapping):
        of = f" of {_and(list(reach))}"
        shown = dict.fromkeys(f"{r:.1f}" for r in reach.values())
        reached = (
            next(iter(shown))
            if len(shown) == 1
            else ", ".join(f"{law} {r:.1f}" for law, r in reach.items())
        )
    else:
        of, reached = "", f"{reach:.1f}"
    return (
        f"{lead}{points} {'lies' if len(far) == 1 else 'lie'} outside the runs' range by "
        f"more than {FAR_BEYOND_BACKTESTS:g}x the farthest the backtests{of} checked the "
        f"discrepancy ({reached} e-folds): its growth there is extrapolated, {consequence}"
    )


def past_peak_flags(
    prob_at: Callable[[np.ndarray], np.ndarray],
    budgets: np.ndarray,
    compute_factor: float,
    largest: float,
    target: float,
    where: str,
) -> tuple[list[dict[str, Any]], str] | None:
    """The budgets past the peak of one run's chance of ``target``: their ``attrs`` entries
    and the sentence that says so, or None if no budget is past it.

    Shared by :meth:`Fit.prob_below` and an average's, so both flag and say it alike.
    """
    from bayescale.planning import past_peak

    peak = past_peak(prob_at, budgets, compute_factor, start=largest)
    flagged = np.flatnonzero(peak["past"])
    if not len(flagged):
        return None
    entries = [{"target_loss": target, "row": int(i), "C": float(budgets[i])} for i in flagged]
    return entries, past_peak_sentence(target, peak, budgets, flagged, where)


def past_peak_sentence(
    target: float,
    peak: Mapping[str, np.ndarray],
    budgets: np.ndarray,
    flagged: np.ndarray,
    where: Callable[[int], str],
) -> str:
    """The sentence said of budgets past the peak of one run's chance.

    Parameters
    ----------
    target : float
        The target loss.
    peak : mapping
        :func:`~bayescale.planning.past_peak`'s result at ``budgets``.
    budgets : numpy.ndarray
        The budgets judged.
    flagged : numpy.ndarray
        The positions past the peak (at least one).
    where : callable
        Names the budget at a position.

    Returns
    -------
    str
        One sentence, without a final full stop.
    """
    last = flagged[np.argmax(budgets[flagged])]
    lower = _and([f"{where(int(i))} ({peak['prob'][i]:.1%})" for i in flagged])
    return (
        f"one run's chance of loss {target:g} peaks at {peak['prob_peak'][last]:.1%} "
        f"near {format_number(peak['C_peak'][last], 'flops')} FLOPs and is lower "
        f"at {lower}: more compute than that lowers it under the discrepancy model "
        f"(its spread grows without bound beyond the runs), which is not "
        f"informative this far out"
    )


def flag_far_points(
    attrs: dict[str, Any],
    points: pd.DataFrame,
    inputs: Iterable[str],
    ratio: Any,
    judged: Mapping[str, tuple[Any, float | None]],
    groups: Sequence[str] | None = None,
    positions: bool = False,
) -> None:
    """Warn, once per call, of forecast points far beyond the backtests; mark them in ``attrs``.

    A point is far when it is so for any law judged (:func:`far_rows`, each against its own
    runs and backtests). With several laws, the sentence names the laws whose backtests the
    points exceed when these are not all of them, and each row's entry lists its ``laws``.

    Parameters
    ----------
    attrs : dict
        The result's attrs: ``caveats`` (the sentence) and ``beyond_backtests`` are set.
    points : pandas.DataFrame
        The points, whose inputs (and N, D, C) name them in the sentence.
    inputs : iterable of str
        The laws' inputs.
    ratio : array_like
        Each point's ``extrapolation`` (below 1: below the runs).
    judged : mapping of str to (array_like, float or None)
        Per law (by name): the points' distance outside its runs and its backtests' reach.
    groups : sequence of str, optional
        Each point's group, named with it.
    positions : bool, default False
        Mark the rows by position alone (a Dataset's attrs hold no dicts); else per row
        ``{"row", "distance"}``.

    Warns
    -----
    ExtrapolationWarning
        Naming every point flagged, once.
    """
    inputs = set(inputs)
    shown = [c for c in points.columns if c in inputs or c in ("N", "D", "C")]
    ratio = np.asarray(ratio, dtype=float).reshape(-1)
    # Only a law whose backtests ran has a reach; one without cannot flag a point.
    reaches = {law: reach for law, (_, reach) in judged.items() if reach is not None}
    far_by = {law: far_rows(judged[law][0], reach) for law, reach in reaches.items()}
    flagging = [law for law, far in far_by.items() if len(far)]
    if not flagging:
        return

    def name(i: int) -> str:
        where = ", ".join(
            f"{c} = {format_number(float(points[c].iloc[i]), size_kind(c))}" for c in shown
        )
        of = "" if groups is None else f" (group {groups[i]})"
        # A point below every run is most often a slip of units (N in billions).
        return f"point {i + 1}{of} at {where}{', below the runs' if ratio[i] < 1 else ''}"

    far = np.unique(np.concatenate([far_by[law] for law in flagging]))
    distance = np.max(
        [np.asarray(judged[law][0], dtype=float).reshape(-1) for law in flagging], axis=0
    )
    reach: float | dict[str, float] = reaches[flagging[0]]
    if len(flagging) < len(judged):
        # Not every law with weight finds the points far: the sentence names those that do.
        reach = {law: reaches[law] for law in flagging}
    message = beyond_backtests_sentence(
        far, distance, reach, name, "forecast: ", "and so are the disc_* and pred_* intervals there"
    )
    attrs["caveats"] = [message]
    if positions:
        attrs["beyond_backtests"] = [int(i) for i in far]
    else:
        several = len(judged) > 1
        attrs["beyond_backtests"] = [
            {
                "row": int(i),
                "distance": float(distance[i]),
                **({"laws": [law for law in flagging if i in far_by[law]]} if several else {}),
            }
            for i in far
        ]
    warnings.warn(message, ExtrapolationWarning, stacklevel=_outside_level())


def _list_lengths(given: Mapping[str, Any]) -> dict[str, int]:
    """The length of each list of a mapping of points (single values left out), refusing
    lists of different lengths: numpy would broadcast ``[7e9]`` against two values."""
    lengths = {
        str(k): len(v) for k, v in given.items() if np.ndim(v) > 0 and not isinstance(v, str)
    }
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise DataError(
            f"at's lists have different lengths ({shown}); give one value per point in each, "
            f"or a single value (not in a list) to use at every point"
        )
    return lengths


def points_of_at(
    at: Any,
    keywords: Mapping[str, Any],
    fixed: Mapping[str, Any] | None,
    inputs: Sequence[str],
    owner: str,
    group_names: Iterable[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``prob_below``'s ``at=`` as its N, D and C and its ``fixed`` inputs.

    Parameters
    ----------
    at : mapping, DataFrame or list of mappings
        The points, in any form :meth:`Fit.forecast` takes.
    keywords : mapping
        ``prob_below``'s ``N``, ``D`` and ``C`` as given (None when not): refused if any is,
        as the points are then given twice.
    fixed : mapping, optional
        The other inputs given as ``fixed=``.
    inputs : sequence of str
        The inputs of the law (or of every law with weight).
    owner : str
        Whose inputs these are, for the message (``"law 'chinchilla'"``, ``"the averaged
        laws"``).
    group_names : iterable of str, default ()
        Column names that give a point's group (refused with a hint to ``group=``).

    Returns
    -------
    tuple of (dict, dict)
        N, D and C as given in ``at`` (at least one), and ``fixed`` with the other
        columns of ``at`` (one value each).

    Raises
    ------
    DataError
        For points given both as ``at`` and as keywords, an ``at`` without N, D or C, a
        mapping's lists of different lengths, a column that is not an input (naming the
        closest), an input given both in ``at`` and
        in ``fixed``, or several values of one other than N, D and C.
    """
    twice = [name for name, value in keywords.items() if value is not None]
    if twice:
        raise DataError(
            f"give the point(s) either as at= or as {', '.join(f'{n}=' for n in twice)}, not both"
        )
    points = as_points(at)
    if isinstance(points, pd.DataFrame):
        columns = {str(c): points[c].to_numpy() for c in points.columns}
    else:
        columns = {str(c): v for c, v in points.items()}
        _list_lengths(columns)
    given = {name: columns.pop(name) for name in ("N", "D", "C") if name in columns}
    if not given:
        raise DataError("prob_below(at=...) gives no N, D or C; give two of them, or C alone")
    others = dict(fixed or {})
    plural = "their" if owner.startswith("the ") else "its"
    for name, value in columns.items():
        if name not in inputs:
            choices = [*inputs, *(n for n in ("N", "D", "C") if n not in inputs)]
            match = closest(name, choices)
            hint = (
                "; give the group as group="
                if name == "group" or name in set(group_names)
                else (f"; did you mean {match}?" if match is not None else "")
            )
            raise DataError(
                f"prob_below(at=...): {name!r} is not an input of {owner} ({plural} inputs: "
                f"{', '.join(inputs)}; of N, D, C any two are enough, or C alone){hint}"
            )
        if name in others:
            raise DataError(f"{name} is given both in at= and in fixed=; give it once")
        values = np.unique(np.atleast_1d(np.asarray(value, dtype=object)))
        if len(values) != 1:
            raise DataError(
                f"prob_below(at=...) takes one value of {name} for all the points (it is "
                f"fixed while N, D or C vary); got {len(values)}: call it once per value"
            )
        others[name] = values[0]
    return given, others


def plan_columns(
    plan: Mapping[str, np.ndarray], budgets: np.ndarray, k: float, level: float | Sequence[float]
) -> dict[str, Any]:
    """The columns of :meth:`Fit.compute_optimal` from per-draw plans (:meth:`Fit._plan_draws`).

    Parameters
    ----------
    plan : mapping of str to numpy.ndarray
        Per draw and budget, shape ``(draws, budgets)``: ``N``, ``D``,
        ``tokens_per_parameter``, ``loss``, ``loss_pred`` and optionally ``loss_disc`` and
        ``N_disc``; the draws of one fit, or pooled from several laws.
    budgets : numpy.ndarray
        The budgets (FLOPs).
    k : float
        ``C = k N D``.
    level : float or sequence of float
        Credible level(s).

    Returns
    -------
    dict of str to array_like
        ``C``; the law's split (``N_*``, ``D_*``, ``tokens_per_parameter_*``); the loss at
        the optimum (``loss_*``, ``loss_disc_*`` with a discrepancy, ``loss_pred_*``); the
        split with the plan's discrepancy (``N_disc_*`` ...) when the draws carry one.
    """
    from bayescale.planning import summarise

    columns: dict[str, Any] = {"C": budgets}
    for name in ("N", "D", "tokens_per_parameter", "loss", "loss_disc", "loss_pred"):
        if name in plan:
            columns.update(summarise(plan[name], name, level))
    if "N_disc" in plan:
        columns.update(_split_summary(plan["N_disc"], budgets, k, "disc", level))
    return columns


def _split_summary(
    n: np.ndarray, budgets: np.ndarray, k: float, tag: str, level: float | Sequence[float]
) -> dict[str, np.ndarray]:
    """``N_{tag}``, ``D_{tag}`` and ``tokens_per_parameter_{tag}`` columns from draws of N
    at each budget (``D = C / (k N)``), NaN draws left out."""
    from bayescale.planning import summarise

    d = budgets[None, :] / (k * n)
    # NaN: a draw in which the quantity does not exist (a sweep that finds no minimum).
    columns = summarise(n, f"N_{tag}", level, skip_nan=True)
    columns.update(summarise(d, f"D_{tag}", level, skip_nan=True))
    columns.update(summarise(d / n, f"tokens_per_parameter_{tag}", level, skip_nan=True))
    return columns


def _available_memory() -> int:
    """Bytes of memory available now (Linux's MemAvailable; else free physical pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def pointwise_log_likelihood(law: Law, runs: Runs, posterior: xr.Dataset) -> xr.Dataset:
    """Log density of each run's measured value under each posterior draw, computed in NumPy.

    The density is that of the value the noise family sees: ``log y`` under multiplicative
    noise (as the model is written, so that PSIS-LOO of log-scale laws is unchanged), ``y``
    under additive noise. Laws with different scales are made comparable by
    :func:`bayescale.comparison.compare`, which adds the Jacobian ``-log y`` to the
    log-scale ones.

    Parameters
    ----------
    law : Law
        The law and its likelihood.
    runs : Runs
        The runs.
    posterior : xarray.Dataset
        Posterior with the law's parameters and noise parameters over ``(chain, draw)``.

    Returns
    -------
    xarray.Dataset
        Variable ``y`` over ``(chain, draw, run)``.

    Raises
    ------
    BayescaleError
        If the result would take more than :data:`MEMORY_SHARE` of the available memory.
    """
    from bayescale.forecast import law_mu

    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    n = len(runs)
    need = chains * draws * n * 8
    available = _available_memory()
    if need > MEMORY_SHARE * available:
        raise BayescaleError(
            f"the pointwise log-likelihood of {n:,} runs x {chains * draws:,} draws needs "
            f"{need / 1e9:.1f} GB, more than half of the {available / 1e9:.1f} GB available; "
            f"fit with fewer draws, or score a subset of the runs"
        )
    lik = law.likelihood
    z = lik.transform(runs.y)
    x = {name: runs.x(name) for name in law.inputs}
    names = [*law.parameters, *lik.noise_names]
    flat = {}
    index = None
    if "group" in posterior.coords:
        from bayescale.hierarchy import group_names

        index = runs.group_index(group_names(posterior))
    for name in names:
        value = np.asarray(posterior[name].values, dtype=float)
        if "group" in posterior[name].dims:
            # Each run takes its group's value: (draws, groups) -> (draws, runs).
            flat[name] = value.reshape(chains * draws, -1)[:, index]
        else:
            flat[name] = value.reshape(-1, 1)
    out = np.empty((chains * draws, n))
    # Blocks of about 4 M values keep the few temporaries of a block near 100 MB.
    step = max(1, 4_000_000 // max(n, 1))
    for start in range(0, chains * draws, step):
        block = {name: value[start : start + step] for name, value in flat.items()}
        theta = {name: block[name] for name in law.parameters}
        mu = law_mu(law, theta, x)
        noise = {name: block[name] for name in lik.noise_names}
        out[start : start + step] = lik.logpdf(z, mu, noise)
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    return xr.Dataset(
        {"y": (("chain", "draw", "run"), out.reshape(chains, draws, n))},
        coords={**coords, "run": np.arange(n)},
    )


def _data_groups(law: Law, runs: Runs) -> dict[str, xr.Dataset]:
    """Observed data (log of the measured values) and the inputs, one value per run."""
    run = np.arange(len(runs))
    x = {name: runs.x(name) for name in law.inputs}
    return {
        "observed_data": xr.Dataset(
            {"y": (("run",), law.likelihood.transform(runs.y))}, coords={"run": run}
        ),
        "constant_data": xr.Dataset(
            {name: (("run",), value) for name, value in x.items()}
            | {runs.y_name if runs.y_name not in x else "y_raw": (("run",), runs.y)},
            coords={"run": run},
        ),
    }


def fit(
    runs: Runs | pd.DataFrame | str | os.PathLike[str],
    law: Law | str = "chinchilla",
    *,
    sampler: SamplerSettings | Mapping[str, Any] | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    priors: Mapping[str, Any] | None = None,
    target_accept: float | None = None,
    prior_draws: int | None = None,
    strict: bool = False,
    progress: bool | None = None,
    command: str | None = None,
    discrepancy: str | None = "auto",
    retries: int | None = None,
    pooling: str | Mapping[str, Any] | Pooling | None = None,
    group: str | Sequence[str] | None = None,
    x: Mapping[str, str] | None = None,
    y: str | None = None,
    compute_factor: float | None = None,
) -> Fit:
    """Sample the posterior of a scaling law given observed runs.

    Parameters
    ----------
    runs : Runs, DataFrame or path
        The runs (see :func:`bayescale.load_runs`); a DataFrame or path is read with the
        default mapping (columns named N, D, C, U, and ``loss``).
    law : Law or str, default "chinchilla"
        A Law, a catalog name, the path of a ``.toml`` law file, or a formula such as
        ``"E + A / N**alpha"`` (its parameters get weakly informative default priors
        derived from the runs' scale; see :meth:`Law.from_formula`).
    sampler : SamplerSettings or mapping, optional
        All sampler settings at once (see :class:`~bayescale.settings.SamplerSettings`);
        the keywords below, when given, override it.
    draws, tune, chains : int, optional
        Draws kept and tuning steps per chain (default 1000 each), and chains (default 4,
        run in parallel on the cores).
    seed : int, optional
        Seed of the sampler, the prior draws and forecasts (default 0).
    priors : mapping, optional
        Replacement priors, ``{name: Prior or {"dist": ...}}`` (see :meth:`Law.with_priors`).
    target_accept : float, optional
        Sampler step-size target (default 0.95).
    prior_draws : int, optional
        Draws from the prior kept in ``idata.prior`` (default 500; 0 to skip).
    strict : bool, default False
        Raise :class:`~bayescale.errors.ConvergenceError` if the diagnostics fail, instead
        of returning a flagged fit.
    progress : bool, optional
        Show the sampler's progress bar (default False).
    command : str, optional
        The command line that asked for the fit, recorded for reproducibility.
    discrepancy : {"auto", "backtest", "none"}, default "auto"
        Model discrepancy, for intervals that stay honest far from the runs when the law's
        form misses structure in them (see :mod:`bayescale.discrepancy`). ``"backtest"``
        refits the law on the runs below three compute quantiles (2 x 300 draws each) and
        learns how its forecast error grows with distance beyond the data. ``"auto"`` is
        ``"backtest"`` wherever it can be learned, and none for a law with additive noise
        (``fit.discrepancy_note`` says why); a fit with groups learns one only with
        ``"backtest"`` (each group's distance from its own runs). ``"none"`` (or
        None) gives the law's intervals alone, which assume its form is exact.
    retries : int, optional
        Attempts after the first when the diagnostics fail (default 2): each one with longer
        warm-up, and more draws, a higher ``target_accept`` or deeper trees as the failure
        asks; ``fit.sampler_log`` says what was done (see :mod:`bayescale.ladder`).
    pooling : str or mapping, optional
        For runs in groups (``load_runs(..., group=...)``): which law parameters the groups
        share, pool or keep separate (see :meth:`bayescale.hierarchy.Pooling.of`):
        ``"partial"`` (the default for grouped runs: every parameter pooled, sampled in the
        coordinates of :data:`bayescale.hierarchy.CENTRING`),
        ``"none"``, ``"complete"``, or ``{parameter: kind}``. Default: the law file's
        ``[pooling]`` table if it has one, else ``"partial"``; a mapping is merged over the
        file's table (the call's entry wins per parameter), a shorthand replaces it.
    group : str or sequence of str, optional
        Group column(s), when ``runs`` is a DataFrame or a path (see :func:`load_runs`).
    x : mapping of str to str, optional
        Input name -> column (``{"N": "params", "D": "tokens"}``), when ``runs`` is a
        DataFrame or a path (see :func:`load_runs`); default the columns named N, D, C, U.
    y : str, optional
        The response column, when ``runs`` is a DataFrame or a path; default ``"loss"``.
    compute_factor : float, optional
        ``k`` in ``C = k N D``, when ``runs`` is a DataFrame or a path; default 6.

    Returns
    -------
    Fit
        Posterior, diagnostics, law and runs.

    Raises
    ------
    DataError
        If the runs lack an input of the law or have fewer rows than the law has
        parameters, or a setting is out of range (an unmapped input or response is a
        :class:`~bayescale.errors.MappingError`, a DataError); or if ``group``, ``x``,
        ``y`` or ``compute_factor`` is given with runs loaded already, and differs from
        theirs.
    LawError
        If the law is not a Law, a catalog name or a law file.
    ConvergenceError
        If ``strict`` and the diagnostics fail.
    KeyboardInterrupt
        If sampling is interrupted (Ctrl-C): the partial draws are discarded.

    Examples
    --------
    >>> import bayescale
    >>> runs = bayescale.load_runs("runs.csv", x={"N": "params", "D": "tokens"}, y="loss")
    >>> result = bayescale.fit(runs, "chinchilla")  # doctest: +SKIP
    >>> result.forecast({"N": 7e10, "D": 1.4e12})  # doctest: +SKIP
    """
    settings = SamplerSettings.of(
        sampler,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
        prior_draws=prior_draws,
        progress=progress,
        retries=retries,
    )
    if not isinstance(law, Law | str | os.PathLike):
        raise LawError(
            f"law must be a Law, a catalog name (see bayescale.catalog()), a .toml file or a "
            f"formula such as 'E + A / N**alpha', not {law!r}"
        )
    if not isinstance(runs, Runs):
        runs = load_runs(
            runs,
            x=x,
            y="loss" if y is None else y,
            compute_factor=6.0 if compute_factor is None else compute_factor,
            group=group,
        )
    else:
        _refuse_loading_options(runs, group, x, y, compute_factor)
    # A name given a prior is a parameter, even one a formula alone would take for a typo.
    law = get_law(law, runs=runs, declared=tuple(priors or ()))
    refuse_unused_columns(law, runs, declared=tuple(priors or ()))
    refuse_constant_terms(law, declared=tuple(priors or ()))
    if priors:
        law = law.with_priors(priors)
    runs.require_law(law)
    _warn_constant_inputs(law, runs)
    resolved = _pooling_of(law, runs, pooling)
    discrepancy, without = resolve_discrepancy(discrepancy, law, resolved is not None)

    from bayescale.model import log_reference, low_rank_mass_matrix, sample_prior

    log_ref = log_reference(law, runs)
    names = runs.group_names if resolved is not None else None
    idata, ladder = _climb(law, runs, log_ref, settings, resolved, names)
    groups = _data_groups(law, runs)
    if settings.prior_draws:
        groups["prior"] = sample_prior(
            law, runs, log_ref, settings.prior_draws, settings.seed, resolved, names
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        idata.add_groups(groups)
    saved = settings.to_dict()
    del saved["progress"], saved["seed"]
    saved["sampler"] = (
        "nutpie (NUTS, low-rank modified mass matrix)"
        if low_rank_mass_matrix(resolved)
        else "nutpie (NUTS, diagonal mass matrix)"
    )
    saved.update(ladder)
    info = {
        "versions": package_versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command or "",
        "data_fingerprint": runs.fingerprint(),
    }
    saved["discrepancy"] = discrepancy or "none"
    if without:
        info["discrepancy_note"] = without
    result = Fit(law, runs, idata, log_ref, settings.seed, saved, info, pooling=resolved)
    _warn_prior_conflicts(result)
    if strict and not result.ok:  # before the backtests: they would be spent for nothing
        raise ConvergenceError(f"law {law.name!r}: {result.diagnostics.verdict()}")
    if discrepancy == "backtest":
        result.discrepancy = backtest(result)
    return result


def _refuse_loading_options(
    runs: Runs, group: Any, x: Mapping[str, str] | None, y: str | None, compute_factor: Any
) -> None:
    """Refuse options of :func:`load_runs` given with runs loaded already, unless they are
    the runs' own: they would be silently ignored."""
    differ = []
    if group is not None and tuple([group] if isinstance(group, str) else group) != runs.group_by:
        differ.append(f"group={group!r} (grouped by {list(runs.group_by) or 'nothing'})")
    if x is not None and any(runs.columns.get(k) != v for k, v in dict(x).items()):
        differ.append(f"x={dict(x)!r} (mapped as {runs.columns!r})")
    if y is not None and y != runs.y_name:
        differ.append(f"y={y!r} (response {runs.y_name!r})")
    if compute_factor is not None and compute_factor != runs.compute_factor:
        differ.append(f"compute_factor={compute_factor!r} (theirs {runs.compute_factor:g})")
    if differ:
        raise DataError(
            f"{'; '.join(differ)}: these options are for loading runs, and these runs are "
            f"loaded already; pass them to load_runs (or give fit the DataFrame or the path)"
        )


def _pooling_of(law: Law, runs: Runs, pooling: Any) -> Pooling | None:
    """The fit's pooling: None for runs without groups; for grouped ones the call's, else the
    law file's ``[pooling]``, else the default 'partial'."""
    if runs.group is None:
        if pooling is not None:
            raise DataError(
                f"pooling={pooling!r} needs runs in groups: load them with "
                f"load_runs(..., group='<column>') (or fit(..., group='<column>'); on the "
                f"command line: --group COLUMN)"
            )
        return None
    if len(runs.group_names) < 2:
        # One group has nothing to pool: its spreads would be the priors' and a new group's
        # forecast would be the prior's width, with no warning (scalebench's tasks carry a
        # group column with one value).
        column = ", ".join(runs.group_by) or "group"
        raise DataError(
            f"{runs.source}: every one of the {len(runs)} runs is in group "
            f"{runs.group_names[0]!r} (column {column}); a fit with groups needs two or more. "
            f"Fit without groups (no group=, no --group: one law for these runs), or add runs of "
            f"other groups"
        )
    if NEW_GROUP in runs.group_names:
        # load_runs refuses it, naming the rows; runs built otherwise are refused here.
        column = ", ".join(runs.group_by) or "group"
        count = sum(g == NEW_GROUP for g in runs.group)
        raise DataError(
            f"{runs.source}: {count} run{'s' if count != 1 else ''} in group {NEW_GROUP!r} "
            f"(column {column}), the name that asks for a group not yet observed; rename that "
            f"group in the data"
        )
    if pooling is None:  # the law file's declaration, else the default
        pooling = law.pooling or None
    return Pooling.of(law, pooling)


def _climb(
    law: Law,
    runs: Runs,
    log_ref: Mapping[str, float],
    settings: SamplerSettings,
    pooling: Pooling | None = None,
    groups: Sequence[str] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Sample, and climb the sampler ladder while the diagnostics fail (see ``ladder``)."""
    from bayescale.model import compiled_model, find_starts, sample_posterior

    names = [*law.parameters, *law.likelihood.noise_names]
    if pooling is not None:
        varying = pooling.varying(law)
        names = [
            *(
                f"{n}[{g}]" if n in varying else n
                for n in law.parameters
                for g in (groups if n in varying else [None])
            ),
            *pooling.population_names(),
            *law.likelihood.noise_names,
        ]
    compiled = compiled_model(law, runs, log_ref, pooling, groups)
    try:
        starts = find_starts(compiled, settings.chains, settings.seed)
    except SystemError as err:
        # Ctrl-C inside the compiled log density surfaces as a SystemError: it is the
        # user's interrupt, and is raised as one.
        if interrupt_in(err) is None:
            raise
        raise KeyboardInterrupt from err

    def sample(attempt: Attempt) -> Any:
        return sample_posterior(
            law,
            runs,
            log_ref,
            draws=attempt.draws,
            tune=attempt.tune,
            chains=settings.chains,
            seed=attempt.seed,
            target_accept=attempt.target_accept,
            maxdepth=attempt.maxdepth,
            starts=starts,
            progress=settings.progress,
            pooling=pooling,
            groups=groups,
        )

    idata, _, done, stopped = climb(sample, names, settings)
    ladder = {"starts": starts.describe(), "attempts": [a.to_dict() for a in done]}
    if stopped:
        ladder["stopped"] = stopped
    return idata, ladder


def _warn_prior_conflicts(result: Fit) -> None:
    """Record the prior checks' conflicts in the diagnostics and say them, once per fit.

    A prior that contradicts the runs (a floor prior above every loss, a posterior piled at
    a bound or far outside its prior) passes convergence diagnostics and gives confident,
    wrong forecasts: the one warning a user of Python gets without asking.
    """
    from bayescale.checks import CONFLICTS

    notes = result.prior_checks()
    conflicts = notes[notes["check"].isin(CONFLICTS)]
    if len(conflicts):
        warnings.warn(
            f"prior checks of law {result.law.name!r}: "
            + "; ".join(str(m) for m in conflicts["message"])
            + " (fit.prior_checks() lists every note)",
            UserWarning,
            stacklevel=_outside_level(),
        )


def warn_slips(points: pd.DataFrame, runs: Runs) -> None:
    """Warn (a :class:`~bayescale.errors.SlipWarning` at the user's line) when forecast
    points look like a slip: N and D given the wrong way round
    (:func:`bayescale.data.swapped_points`), or N, D or C far below every run, in other units
    most likely (:func:`bayescale.data.below_sentence`).

    Parameters
    ----------
    points : pandas.DataFrame
        The points, checked.
    runs : Runs
        The fitted runs.
    """
    for sentence in (swapped_sentence(points, runs), below_sentence(points, runs)):
        if sentence is not None:
            warnings.warn(sentence, SlipWarning, stacklevel=_outside_level())


def _outside_level() -> int:
    """The ``stacklevel`` at which a warning points to the user's line, not bayescale's.

    A plan, a group's forecast or a recommendation reaches the warning through a varying
    number of bayescale's own frames; the first frame outside the package is the caller's.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)  # the function that calls warnings.warn
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        level += 1
    return level


def _warn_constant_inputs(law: Law, runs: Runs) -> None:
    """An input with one value in every run: the law's dependence on it is the priors' guess."""
    for name in law.inputs:
        values = runs.x(name)
        if len(values) > 1 and np.ptp(values) == 0:
            warnings.warn(
                f"every run has {name} = {values[0]:.4g} (column {runs.columns.get(name, name)!r}"
                f"): law {law.name!r} cannot learn how the loss depends on {name} from these "
                f"runs, so its parameters in {name} follow their priors and forecasts at other "
                f"{name} are the priors' guess; add runs at other {name}, or use a law without "
                f"{name}",
                DataWarning,
                stacklevel=3,
            )


#: First bytes of every HDF5 file, which the NetCDF-4 files of Fit.save are.
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load_fit(path: str | os.PathLike[str]) -> Fit:
    """Read a fit written by :meth:`Fit.save`.

    Parameters
    ----------
    path : str or PathLike
        The ``.nc`` file.

    Returns
    -------
    Fit
        The fit; its forecasts are identical to those of the fit that was saved.

    Raises
    ------
    DataError
        If ``path`` is not a path (a DataFrame, a Fit ...).
    BayescaleError
        If the file is missing, not NetCDF, damaged or truncated, or not a bayescale fit.
    """
    import arviz as az

    if not isinstance(path, str | os.PathLike):
        raise DataError(
            f"load_fit takes the path of a fit saved with Fit.save or 'bayescale fit' (a .nc "
            f"file), not {type(path).__name__}"
            + (": to fit runs, call bayescale.fit(...)" if isinstance(path, pd.DataFrame) else "")
        )
    path = Path(path)
    if path.is_dir() and (path / "loo.csv").is_file():
        raise BayescaleError(
            f"'{path}' is a folder written by compare, not a fit: load it with "
            f"Comparison.load('{path}') (its .average().forecast(...) averages its laws; on the "
            f"command line, 'bayescale forecast {path} --at ...'), or load one law's fit, "
            f"e.g. '{path / 'fits' / 'NAME.nc'}'"
        )
    if not path.is_file():
        raise BayescaleError(f"fit file not found: '{path}'")
    try:
        idata = az.from_netcdf(path, engine="h5netcdf")
        idata.load()
        meta = json.loads(idata.posterior.attrs["bayescale"])
    except OSError:
        # HDF5's signature with an unreadable body is a fit file cut short (a copy or download
        # interrupted), not some other file: say so, since its name and start look right.
        try:
            with path.open("rb") as head:
                hdf5 = head.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE
        except OSError as err:
            raise BayescaleError(
                f"cannot read the fit file '{path}': {err.strerror or err}; check its permissions"
            ) from None
        if path.stat().st_size == 0:
            raise BayescaleError(
                f"'{path}' is empty (0 bytes), not a fit: save the fit again (Fit.save or "
                f"'bayescale fit') or restore the file from a copy"
            ) from None
        if hdf5:
            raise BayescaleError(
                f"'{path}' is damaged or truncated ({path.stat().st_size} bytes): it cannot be "
                f"read as NetCDF; save the fit again (Fit.save or 'bayescale fit') or restore "
                f"the file from a copy"
            ) from None
        raise BayescaleError(
            f"'{path}' is not a bayescale fit file (written by Fit.save or 'bayescale fit'): "
            f"it is not NetCDF"
        ) from None
    except (ValueError, KeyError, AttributeError, TypeError):
        raise BayescaleError(
            f"'{path}' is not a bayescale fit file (written by Fit.save or 'bayescale fit'): "
            f"it holds no readable bayescale metadata"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise BayescaleError(
            f"'{path}' has fit format {found!r}; this bayescale reads {FORMAT_VERSION}"
        )
    # A group's view keeps the verdict of the whole fit it was cut from (its own posterior
    # lacks the population spreads the whole fit's diagnostics judged).
    view = dict(meta.get("info") or {}).get(VIEW_OF)
    try:
        given = (
            Diagnostics.from_dict(view["diagnostics"])
            if isinstance(view, Mapping) and view.get("diagnostics")
            else None
        )
        return Fit(
            law=Law.from_dict(meta["law"]),
            runs=Runs.from_dict(meta["runs"]),
            idata=idata,
            log_ref={str(k): float(v) for k, v in meta["log_ref"].items()},
            seed=check_seed(meta["seed"], "the saved seed"),
            settings=dict(meta["settings"]),
            info=dict(meta["info"]),
            discrepancy=(
                Discrepancy.from_dict(meta["discrepancy"]) if meta.get("discrepancy") else None
            ),
            pooling=Pooling.from_dict(meta["pooling"]) if meta.get("pooling") else None,
            _given_diagnostics=given,
        )
    except BayescaleError as err:
        raise BayescaleError(f"'{path}': its saved metadata is not valid: {err}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        what = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise BayescaleError(
            f"'{path}': its saved metadata is damaged ({type(err).__name__}: {what}); "
            f"fit again, or restore the file from a copy"
        ) from None
