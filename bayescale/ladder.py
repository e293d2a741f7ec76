"""The sampler ladder: what to try after a fit fails its diagnostics, and how chains disagree.

A user who writes a law should not have to tune a sampler. :func:`bayescale.fit` samples with
the settings asked for; if the diagnostics fail it climbs this ladder, within a time budget:

1. twice the warm-up (the mass matrix and step size adapt longer); twice the draws if the
   effective sample size was short; ``target_accept`` 0.99 if transitions diverged; tree depth
   12 if trajectories hit the limit of 10;
2. four times the warm-up, 0.995 and the same rules.

It stops at the first attempt that passes, when the next one would overrun the budget, or when
the chains sit in different modes: more warm-up does not merge modes (:func:`find_modes`), and
the fit then reports each mode rather than a blend of them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Attempt", "Mode", "climb", "find_modes", "next_attempt"]

#: Share of draws at the maximum tree depth above which the depth limit is raised.
DEPTH_SHARE = 0.01
#: Tree depth of the ladder's later attempts (at most 4096 gradients per draw).
DEEP = 12
#: ``target_accept`` of the ladder's first and second escalations, when transitions diverged.
TARGET_ACCEPT = (0.99, 0.995)


@dataclass(frozen=True)
class Attempt:
    """One run of the sampler, as the fit's log records it.

    Attributes
    ----------
    tune, draws : int
        Warm-up and kept draws per chain.
    target_accept : float
        Step-size adaptation target.
    maxdepth : int
        Largest tree depth.
    seed : int
        Seed of this attempt.
    seconds : float
        Wall time of the sampling (the ladder's budget counts it).
    verdict : str
        The diagnostics' verdict on this attempt (empty before it ran).
    """

    tune: int
    draws: int
    target_accept: float
    maxdepth: int
    seed: int
    seconds: float = 0.0
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the attempt as plain values (saved with the fit)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attempt:
        """Read an attempt written by :meth:`to_dict`."""
        return cls(
            tune=int(data["tune"]),
            draws=int(data["draws"]),
            target_accept=float(data["target_accept"]),
            maxdepth=int(data["maxdepth"]),
            seed=int(data["seed"]),
            seconds=float(data.get("seconds", 0.0)),
            verdict=str(data.get("verdict", "")),
        )

    def describe(self) -> str:
        """Settings in a few words, e.g. ``tune 2000, draws 1000, target_accept 0.99``."""
        depth = f", maxdepth {self.maxdepth}" if self.maxdepth != 10 else ""
        return f"tune {self.tune}, draws {self.draws}, target_accept {self.target_accept:g}{depth}"


def next_attempt(
    first: Attempt,
    last: Attempt,
    step: int,
    *,
    diverged: bool,
    short_ess: bool,
    deep: bool,
    seed: int,
) -> Attempt:
    """Return the ladder's attempt number ``step`` (1, 2, ...) after a failed one.

    Parameters
    ----------
    first : Attempt
        The attempt the user asked for (the ladder scales from it).
    last : Attempt
        The attempt that just failed.
    step : int
        1 for the first escalation, 2 for the second...
    diverged : bool
        Whether ``last``, or an attempt before it, had divergent transitions.
    short_ess : bool
        Whether its bulk or tail ESS fell short, or its R-hat was too high: more draws.
    deep : bool
        Whether its trajectories often reached the maximum tree depth.
    seed : int
        Seed of the new attempt.

    Returns
    -------
    Attempt
        The settings of the next attempt.
    """
    target = last.target_accept
    if diverged:
        target = max(target, TARGET_ACCEPT[min(step, len(TARGET_ACCEPT)) - 1])
    return Attempt(
        tune=first.tune * 2**step,
        draws=max(last.draws, first.draws * 2**step) if short_ess else last.draws,
        target_accept=target,
        maxdepth=max(last.maxdepth, DEEP) if deep else last.maxdepth,
        seed=seed,
    )


def projected_seconds(last: Attempt, new: Attempt) -> float:
    """Expected wall time of ``new``, scaled from ``last`` by draws and step size.

    A higher ``target_accept`` takes smaller steps: the time per draw grows roughly with
    ``1 / (1 - target_accept)`` to the power one half (Betancourt 2016's step-size scaling),
    a deeper tree up to ``2**(depth difference)``; both bound rather than predict.
    """
    work = (new.tune + new.draws) / max(last.tune + last.draws, 1)
    steps = np.sqrt((1.0 - last.target_accept) / max(1.0 - new.target_accept, 1e-6))
    return float(last.seconds * work * steps)


def climb(
    sample: Callable[[Attempt], Any], names: Sequence[str], settings: Any
) -> tuple[Any, Any, list[Attempt], str]:
    """Sample, and climb the ladder while the diagnostics fail, within the time budget.

    Parameters
    ----------
    sample : callable
        Runs one attempt's sampler and returns its ``arviz.InferenceData`` (groups
        ``posterior`` and ``sample_stats``).
    names : sequence of str
        Variables the diagnostics judge (as in :class:`bayescale.fitting.Diagnostics`).
    settings : SamplerSettings
        The first attempt's settings, ``retries`` and ``time_budget``.

    Returns
    -------
    idata : arviz.InferenceData
        The last attempt's draws.
    diagnostics : Diagnostics
        Their diagnostics.
    attempts : list of Attempt
        Every attempt, with its time and verdict.
    stopped : str
        Why the ladder stopped before passing or running out of retries (empty otherwise).
    """
    from bayescale.fitting import RHAT_MAX, Diagnostics

    first = Attempt(settings.tune, settings.draws, settings.target_accept, 10, settings.seed)
    attempt, done, spent, stopped = first, [], 0.0, ""
    short = diverged = False
    seeds = np.random.SeedSequence(settings.seed).generate_state(settings.retries + 1)
    for step in range(settings.retries + 1):
        began = time.perf_counter()
        idata = sample(attempt)
        seconds = time.perf_counter() - began
        spent += seconds
        diagnostics = Diagnostics.of(idata, names, attempt.target_accept, [*done, attempt])
        attempt = dataclasses.replace(attempt, seconds=seconds, verdict=diagnostics.verdict())
        done.append(attempt)
        if diagnostics.ok or step == settings.retries:
            break
        if diagnostics.multimodal:
            stopped = (
                "stopped: the chains sampled separate modes, which more sampling does not merge"
            )
            break
        stats = idata.sample_stats
        deep = "maxdepth_reached" in stats and float(stats["maxdepth_reached"].mean()) > DEPTH_SHARE
        table = diagnostics.table
        # Chains that disagree (one mode) need more draws as much as a short ESS does: the
        # R-hat of a slowly mixing parameter falls as the draws grow, and warm-up alone left
        # catalog laws one attempt short (power_law_N on the Epoch runs).
        # Once short, the draws keep growing: an attempt that only fixed divergences (a
        # smaller step) mixes no faster, and the shortfall comes back.
        short = short or bool(
            (table[["ess_bulk", "ess_tail"]] < diagnostics.ess_min).to_numpy().any()
            or (table["r_hat"].fillna(np.inf) > RHAT_MAX).any()
        )
        # Likewise once divergent: more draws find the rare divergences again (BNSL with two
        # breaks: none in 8,000 draws at 0.99, one in 16,000).
        diverged = diverged or diagnostics.divergences > 0
        upcoming = next_attempt(
            first,
            attempt,
            step + 1,
            diverged=diverged,
            short_ess=short,
            deep=deep,
            seed=int(seeds[step + 1]),
        )
        projected = projected_seconds(attempt, upcoming)
        if spent + projected > settings.time_budget:
            stopped = (
                f"stopped: the next attempt ({upcoming.describe()}) would take about "
                f"{projected:.0f} s, beyond the time budget of {settings.time_budget:.0f} s"
            )
            break
        attempt = upcoming
    return idata, diagnostics, done, stopped


@dataclass(frozen=True)
class Mode:
    """A group of chains that agree with each other and disagree with the other chains.

    Attributes
    ----------
    chains : tuple of int
        The chains in this mode.
    log_density : float
        Mean log posterior density of its draws (higher: more probable, up to the width).
    medians : dict of str to float
        Posterior median of each parameter within the mode.
    """

    chains: tuple[int, ...]
    log_density: float
    medians: dict[str, float]

    def describe(self, names: Sequence[str] | None = None) -> str:
        """One line: chains, log density and the medians of ``names`` (default all)."""
        shown = names or list(self.medians)
        values = ", ".join(f"{n} {self.medians[n]:.4g}" for n in shown if n in self.medians)
        label = "chain" if len(self.chains) == 1 else "chains"
        return (
            f"{label} {', '.join(map(str, self.chains))} "
            f"(log density {self.log_density:.1f}): {values}"
        )


def find_modes(idata: Any, names: Sequence[str], separation: float = 3.0) -> list[Mode]:
    """Group the chains of a posterior by the mode they sampled.

    Two chains are in one mode when, for every parameter, their medians differ by less than
    ``separation`` times the larger of their within-chain spreads (1.4826 MAD). Chains that
    drift slowly through one wide mode stay together; chains stuck in separate modes do not.

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``posterior`` and, for the log density, ``sample_stats.logp``.
    names : sequence of str
        Parameters to compare.
    separation : float, default 3.0
        How many within-chain spreads apart two chains' medians may be.

    Returns
    -------
    list of Mode
        One per group of chains, the most probable first; one mode when the chains agree.
    """
    post = idata.posterior
    n_chains = int(post.sizes["chain"])
    values = np.stack([np.asarray(post[n].values, dtype=float) for n in names], axis=-1)
    medians = np.nanmedian(values, axis=1)  # (chain, parameter)
    spread = 1.4826 * np.nanmedian(np.abs(values - medians[:, None, :]), axis=1)
    scale = np.maximum(np.abs(medians), 1e-12)
    spread = np.maximum(spread, 1e-9 * scale)
    parent = list(range(n_chains))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n_chains):
        for j in range(i + 1, n_chains):
            apart = np.abs(medians[i] - medians[j]) > separation * np.maximum(spread[i], spread[j])
            if not apart.any():
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(n_chains):
        groups.setdefault(root(i), []).append(i)
    logp = idata.sample_stats.get("logp") if "sample_stats" in idata.groups() else None
    modes = []
    for chains in groups.values():
        density = (
            float(np.nanmean(np.asarray(logp.values, dtype=float)[chains]))
            if logp is not None
            else float("nan")
        )
        within = values[chains].reshape(-1, len(names))
        modes.append(
            Mode(
                chains=tuple(chains),
                log_density=density,
                medians={n: float(np.nanmedian(within[:, k])) for k, n in enumerate(names)},
            )
        )
    modes.sort(key=lambda m: -m.log_density if np.isfinite(m.log_density) else np.inf)
    return modes
