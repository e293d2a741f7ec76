"""Benchmark of ``bayescale.recommend`` (issue 14): which runs to train, for the least compute.

Li et al. 2026's protocol ("Spend Less, Fit Better", github PlanarG/active-sl) on two
scalebench tasks (``../shared/data/scalebench``): the training split is the pool of runnable
runs, the test split (larger runs) the target region. Every method starts from the cheapest
runs, enough to fit (the law's parameter count + 3), and adds runs from the pool until 1%, 5%
and 10% of the pool's total cost (``6 N D``) is spent; the law is then fitted on the runs
chosen and scored on the test split:

* R^2 of the posterior median of the law against the test losses, clipped to [-1, 1] as
  Li et al.'s metric;
* coverage of the 90% predictive interval;
* the gap to the whole pool: root mean square, in percent, of the posterior median's
  departure from the forecast of the law fitted on every run of the pool (bayescale's default
  settings) at the test inputs. R^2 adds the law's own error at the test runs, which no
  selection can remove; this gap is the selection's part alone.

Methods:

* ``bayescale``: fits of the law alone (``discrepancy=None``); sequential,
  :func:`bayescale.recommend` with the test split's inputs as the
  target (criterion ``loss``, measure ``variance``), batches of up to ``BATCH`` runs, refit
  after each batch, ``ROUNDS`` batches per budget level, each spending at most an equal
  share of what is left of that level; the batch is chosen by the default strategy within
  a budget (the better of the greedy by reduction per cost and the greedy by reduction);
* ``bayescale_discrepancy``: the same, with every fit learning its law's discrepancy
  (``discrepancy="backtest"``, what ``fit`` does by default), so that a run's value also
  counts how much it shortens the extrapolation to the target (see :mod:`bayescale.recommendation`);
* ``bayescale_law_choice``: fits as ``bayescale_discrepancy`` (forecasts with the
  discrepancy), choices on the law's uncertainty alone (``recommend(..., discrepancy=False)``);
* ``bayescale_per_cost``: the same as ``bayescale`` with ``strategy="per_cost"`` (reduction per
  unit cost only);
* ``random``: runs in a random order (one per seed), each taken if it still fits the budget;
* ``cheapest``: runs by increasing cost until the budget is spent (the selection does not
  depend on the seed; only the sampler's seed does).

Tasks and laws: ``farseer`` with the catalog's ``farseer`` law (N, D), ``data_constrained``
with ``models/data_constrained.toml`` (N, D, U). Small fits (2 chains x 300 draws, no retries)
keep the benchmark affordable on 2 shared cores.

Run::

    .venv/bin/python bench/recommend.py --seeds 3            # runs, then writes the report
    .venv/bin/python bench/recommend.py --report-only       # the report from recommend.json
    .venv/bin/python bench/recommend.py --speed             # 100 candidates, Chinchilla
    .venv/bin/python bench/recommend.py --ceiling           # each task's whole pool
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

#: task -> (law, inputs)
TASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "farseer": ("farseer", ("N", "D")),
    "data_constrained": (str(ROOT / "models" / "data_constrained.toml"), ("N", "D", "U")),
}
LEVELS = (0.01, 0.05, 0.10)
METHODS = (
    "bayescale",
    "bayescale_discrepancy",
    "bayescale_law_choice",
    "bayescale_per_cost",
    "random",
    "cheapest",
)
#: Li et al. 2026, Table 2: R^2 of their method (MSPE) at 5% and 10% of the budget.
PUBLISHED = {
    ("farseer", 0.05): 0.88,
    ("farseer", 0.10): 0.93,
    ("data_constrained", 0.05): 0.85,
    ("data_constrained", 0.10): 0.86,
}
#: Li et al. 2026, Table 2 (as their repository's README reproduces it): mean R^2 and its
#: spread over repeats, at 1%, 5% and 10% of the budget, of their own baselines and method, all
#: fitted by least squares (64 restarts); "All Data" is the whole pool. Their data_con column
#: averages 10 law forms, of which this bench fits one.
PUBLISHED_TABLE = {
    "farseer": {
        "Random": ("-0.77 ± 0.55", "0.78 ± 0.18", "0.79 ± 0.09"),
        "V-opt": ("0.67 ± 0.22", "0.87 ± 0.01", "0.92 ± 0.01"),
        "Ours (MSPE)": ("0.60 ± 0.11", "0.88 ± 0.02", "0.93 ± 0.00"),
        "All Data": ("", "", "0.91 ± 0.01"),
    },
    "data_constrained": {
        "Random": ("-0.74 ± 0.48", "-0.36 ± 0.71", "0.12 ± 0.62"),
        "V-opt": ("0.58 ± 0.53", "0.83 ± 0.17", "0.85 ± 0.13"),
        "Ours (MSPE)": ("0.73 ± 0.37", "0.85 ± 0.16", "0.86 ± 0.11"),
        "All Data": ("", "", "0.79 ± 0.23"),
    },
}
SETTINGS = {"chains": 2, "draws": 300, "tune": 300, "prior_draws": 0, "retries": 0}
BATCH = 8
ROUNDS = 2
DEFAULT_OUT = ROOT / "bench" / "recommend.md"
#: Variations measured once, by hand, on farseer at 10% with ``bayescale_discrepancy``: kept in
#: the report because they say where the gap to Li et al.'s 0.93 is not.
TRIED = [
    "The farseer rows above are with the catalog's curvature priors as of 2026-11-27 evening: "
    "g1, g2, g3 ~ Normal(0, 0.075 / 0.25 / 0.2), centred on the plain power law in N that "
    "the form nests, either sign, instead of LogNormal priors with the same median |g|, "
    "which have no density at g = 0. Why: least-squares fits (40 starts) of random 10% "
    "selections (seeds 0-19) often land at g2 -> 0; they beat the posterior median's R^2 "
    "in 16 of 20 seeds (median 0.937 against 0.907), but fail badly on 3 (0.58-0.76), so "
    "the means tied (0.904, 0.906): the log-normal priors pushed the posterior off where "
    "the runs put it. With the new priors the same random selections score 0.937 on "
    "average (their 2 x 300 fits; half-normal priors, which keep g >= 0, gave 0.922-0.932 "
    "but made the whole-pool fit need 4 x 4000 draws), and the whole-pool fit with "
    "default settings passes its diagnostics at the first attempt (4 x 1000 draws, 17 s) "
    "where it needed a second, of 4 x 2000 (64 s; one run each, beside this bench's "
    "processes); its R^2 is unchanged (0.937 against 0.936). Random "
    "choice gained (10%: 0.909 -> 0.937, reaching the whole pool's fit), `recommend`'s "
    "choice did not (0.909 -> 0.908 with the discrepancy, 0.894 -> 0.917 without), so on "
    "farseer at 10% random choice now beats it. The rows before the change are in the git "
    "history of `bench/recommend.json` (commit 3bb631b). Not the number of runs (seeds 0-9 of "
    "`bayescale_discrepancy` rerun with their 10% selections kept: 46 runs against random's "
    "63): the same selections plus the 111 cheapest runs they left (1% more of the pool's "
    "cost), fitted without the discrepancy, score 0.923 against 0.913 (7 of 10 seeds "
    "higher), short of random's 0.937; not the model sizes: the chosen runs' median N is "
    "3.4e8, random choice's too, and 35% of their cost is on models of at least half the "
    "largest chosen size (random: 33%).",
    "",
    "Where it is (2026-11-27, from the forecasts this table's rows keep; the column `gap to "
    "whole pool`): one test run. The whole pool's fit over-predicts the run of N = 2.5e10 by "
    "0.97% and that run carries 70% of its squared error on the test split; the other six "
    "are within 0.36%. Shifting only that run's forecast moves R^2 by about 0.01 per 0.1%: "
    "the whole pool's forecast scores 0.937, 0.947 with that run 0.12% lower, 0.923 with it "
    "0.14% higher, 0.898 with it 0.36% higher. At 10%, random choice's fits put that run "
    "0.12% below the whole pool's forecast on average (16 of 20 seeds below), the law-alone "
    "fits of `recommend`'s choice 0.14% above it (8 of 10 above), and the shipped choice, "
    "with its discrepancy, 0.36% above it (20 of 20; why its runs pull the forecast up there "
    "was not isolated). That shift alone orders the three R^2s (0.937, 0.917, 0.908; the "
    "whole pool's forecast shifted so scores 0.947, 0.923, 0.898). Over all seven test "
    "points the law-alone choice lands nearer the whole pool's forecast than random "
    "choice at every budget (root mean square gap 0.52% / 0.14% / 0.13% at 1% / 5% / 10%, "
    "against 1.02% / 0.32% / 0.20%); the shipped choice, with its discrepancy, does at 1% "
    "(0.36%), not at 5% and 10% (0.35%, 0.25%). Across the law-alone choice's seeds a "
    "smaller gap does not go with a higher R^2 (correlation +0.29 at 10%). So random choice "
    "scores higher on farseer at 10% because its fits land below the whole pool's forecast "
    "at the one run the law over-predicts, offsetting the law's own error there, not because "
    "they recover what the whole pool says better. Li et al.'s own table (above) shows the "
    "same effect: their chosen 10% (0.93) scores above their fit of the whole pool (0.91). "
    "It also shows what bayescale's fits give random choice: their least-squares fits of "
    "random selections score 0.79 at 10% (0.78 at 5%), bayescale's posterior medians of the "
    "same protocol's random selections 0.937 (0.912), above their chosen runs' 0.93 (0.88).",
    "",
    "* Half of every batch at random (measured 2026-11-27, an a priori guard against a "
    "misspecified law pulling the choice: each batch's budget split in two, the first half "
    "filled from the seed's random order, the second by `recommend`, law alone): 10 seeds, "
    "R^2 0.728 / 0.894 / 0.881 at 1% / 5% / 10% (93 runs at 10%), below both pure choices.",
    "",
    "Where farseer's gap at 10% was not, measured before that change (2026-11-27, "
    "`bayescale_discrepancy`, the former priors, the protocol above unless said):",
    "",
    "* The sampler: two seeds' 10% selections refitted with bayescale's default 4 x 1000 "
    "draws (diagnostics pass) score 0.916 and 0.898 against 0.917 and 0.903 from the "
    "2 x 300 fits; the posterior mean scores as the median (within 0.001).",
    "* More sequential choice: 4 batches of at most 4 runs per level (refit after each) "
    "instead of 2 of 8: 10 seeds, R^2 0.843 / 0.901 / 0.897 at 1% / 5% / 10% (0.876..0.919 "
    "at 10%), no better.",
    "* More runs per batch: 2 batches of at most 16 runs per level instead of 8 (the cap of "
    "8 kept the choice to fewer, larger runs than random choice takes): 10 seeds, 0.841 / "
    "0.906 / 0.911 (0.892..0.932 at 10%, 54 runs against 46), no better.",
    "* Seed noise and the machine: seeds 0-9 rerun on another machine (AVX-512; floating "
    "point differs in the last bits, the selections diverge after the first refit) give a "
    "mean of 0.917 at 10% (0.902..0.937); the table's seeds 10-19 were run there too. Over "
    "the 20 seeds of the table the standard error of the mean is about 0.003.",
    "* The law's own limit: the test split has 7 runs, and one (N = 2.5e10, 4x the pool's "
    "largest model) carries most of the squared error. Fitted on the whole pool the law "
    "over-predicts it by 1.0% and misses the other six by 0.05-0.36%; seed 1's 10% selection "
    "over-predicts it by 1.2%. Li et al. 2025's own published parameters score 0.917 (see "
    "the whole pool below): neither fit gets all seven runs right at once, so 0.93 needs the "
    "selection's fit to land near the whole pool's (0.938).",
]


# --------------------------------------------------------------------------- pieces


def r2_clipped(y: np.ndarray, prediction: np.ndarray) -> float:
    """``1 - SS_res / SS_tot`` on the loss, clipped to [-1, 1] (Li et al.'s metric)."""
    y, prediction = np.asarray(y, float), np.asarray(prediction, float)
    ss_res = np.sum((y - prediction) ** 2)
    ss_tot = np.sum((y - y.mean()) ** 2)
    return float(np.clip(1.0 - ss_res / ss_tot, -1.0, 1.0))


def _fit(
    task: str,
    runs: pd.DataFrame,
    seed: int,
    discrepancy: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Any:
    """The task's law fitted on ``runs``, with the bench's small settings unless given."""
    import bayescale

    law, inputs = TASKS[task]
    data = bayescale.load_runs(runs, x={n: n for n in inputs}, y="loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bayescale.fit(
            data,
            law,
            sampler=bayescale.SamplerSettings(
                **(SETTINGS if settings is None else settings), seed=seed
            ),
            discrepancy=discrepancy,
        )


def _score(task: str, fitted: Any, test: pd.DataFrame) -> dict[str, float]:
    inputs = TASKS[task][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = fitted.forecast(test[list(inputs)], level=0.9)
    y = test["loss"].to_numpy(float)
    inside = (y >= table["pred_lower_90"].to_numpy()) & (y <= table["pred_upper_90"].to_numpy())
    return {
        "r2": r2_clipped(y, table["law_median"].to_numpy()),
        "coverage_90": float(inside.mean()),
        "ok": bool(fitted.ok),
        # Kept so that a selection's forecast can be set against the whole pool's.
        "median": [float(m) for m in table["law_median"]],
        "width_90": float(
            np.mean((table["pred_upper_90"] - table["pred_lower_90"]) / table["law_median"])
        ),
    }


def gap_to_pool(median: Any, pool_median: Any) -> float:
    """Root mean square gap, in percent, of a forecast to the whole pool's at the test points.

    How far a selection's fit lands from what all the runs say. R^2 on the test split mixes
    this with the law's own error at the test runs, which no selection can remove (and which
    a fit off the whole pool's can happen to cancel); this measures the selection alone.
    Not a number (NaN) when either forecast is missing.
    """
    if not isinstance(median, list) or not isinstance(pool_median, list):
        return float("nan")
    ratio = np.asarray(median, float) / np.asarray(pool_median, float)
    return float(100.0 * np.sqrt(np.mean((ratio - 1.0) ** 2)))


def _law_size(task: str) -> int:
    from bayescale.laws import get_law

    return len(get_law(TASKS[task][0]).parameters)


def run_bayescale(
    task: str,
    seed: int,
    pool: pd.DataFrame,
    test: pd.DataFrame,
    strategy: str = "auto",
    discrepancy: str | None = None,
    choose_with_discrepancy: bool = True,
) -> list[dict]:
    """Sequential selection with :func:`bayescale.recommend`; scores at each budget level.

    With ``discrepancy="backtest"`` every fit learns the law's discrepancy, so that the
    recommendation counts how much a run shortens the extrapolation to the target.
    """
    from bayescale.recommendation import recommend

    inputs = TASKS[task][1]
    total = pool["C"].sum()
    chosen = list(pool.sort_values("C").index[: _law_size(task) + 3])
    fitted = _fit(task, pool.loc[chosen], seed, discrepancy)
    out = []
    seconds_recommend = 0.0
    start = time.perf_counter()
    for level in LEVELS:
        limit = level * total
        for round_ in range(ROUNDS):
            spent = pool.loc[chosen, "C"].sum()
            share = (limit - spent) / (ROUNDS - round_)
            rest = pool.drop(index=chosen)
            rest = rest[rest["C"] <= share]
            if len(rest) == 0:
                continue
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = recommend(
                    fitted,
                    rest[list(inputs)],
                    target=test[list(inputs)],
                    cost=rest["C"].to_numpy(),
                    budget=share,
                    batch=BATCH,
                    seed=seed,
                    strategy=strategy,
                    discrepancy=choose_with_discrepancy,
                )
            seconds_recommend += time.perf_counter() - t0
            picked = table.loc[table["chosen"], "candidate"].tolist()
            if not picked:
                continue
            chosen += picked
            fitted = _fit(task, pool.loc[chosen], seed, discrepancy)
        out.append(
            {
                "task": task,
                "method": "bayescale"
                + ("" if strategy == "auto" else f"_{strategy}")
                + (
                    ""
                    if discrepancy is None
                    else "_discrepancy"
                    if choose_with_discrepancy
                    else "_law_choice"
                ),
                "seed": seed,
                "level": level,
                "runs": len(chosen),
                "spent": float(pool.loc[chosen, "C"].sum() / total),
                **_score(task, fitted, test),
            }
        )
    out[-1]["seconds"] = time.perf_counter() - start
    out[-1]["seconds_recommend"] = seconds_recommend
    return out


def run_baseline(
    task: str, method: str, seed: int, pool: pd.DataFrame, test: pd.DataFrame
) -> list[dict]:
    """Random or cheapest-first selection, fitted at each budget level."""
    total = pool["C"].sum()
    initial = list(pool.sort_values("C").index[: _law_size(task) + 3])
    rest = pool.drop(index=initial)
    if method == "random":
        order = list(np.random.default_rng(seed).permutation(rest.index))
    else:
        order = list(rest.sort_values("C").index)
    out = []
    for level in LEVELS:
        chosen = list(initial)
        spent = pool.loc[chosen, "C"].sum()
        for i in order:
            if spent + pool.loc[i, "C"] <= level * total:
                chosen.append(i)
                spent += pool.loc[i, "C"]
        fitted = _fit(task, pool.loc[chosen], seed)
        out.append(
            {
                "task": task,
                "method": method,
                "seed": seed,
                "level": level,
                "runs": len(chosen),
                "spent": float(spent / total),
                **_score(task, fitted, test),
            }
        )
    return out


# --------------------------------------------------------------------------- speed


def ceiling(task: str, seed: int = 0) -> dict[str, Any]:
    """The whole training pool, fitted as the selections are: what 100% of the budget scores.

    No selection can be expected to beat this fit of the same law on the test split; it tells
    how much of a gap to a published R^2 is the selection's and how much the law's.
    """
    pool, test = common.scalebench(task)
    start = time.perf_counter()
    scored = _score(task, _fit(task, pool, seed), test)
    seconds = time.perf_counter() - start
    # What all the runs say, as precisely as bayescale's defaults (4 x 1000 draws, retried
    # until the diagnostics pass) give it: the forecast each selection is set against.
    reference = _fit(task, pool, seed, settings={})
    return {
        "task": task,
        "seed": seed,
        "runs": len(pool),
        **scored,
        "seconds": seconds,
        "published_r2": published_r2(task, test),
        "reference_median": _score(task, reference, test)["median"],
        "reference_ok": bool(reference.ok),
    }


def published_r2(task: str, test: pd.DataFrame) -> dict[str, float]:
    """R^2 on the test split of each parameter set the law's catalog file publishes.

    The law's authors fitted these on their own (larger) runs: what the form itself reaches
    on the test split, with no selection and no fit of ours.
    """
    from bayescale.laws import get_law

    law = get_law(TASKS[task][0])
    inputs = {n: test[n].to_numpy(float) for n in TASKS[task][1]}
    y = test["loss"].to_numpy(float)
    return {
        name: r2_clipped(y, np.exp(law.log_mean(values, inputs)))
        for name, values in law.published.items()
    }


def speed(candidates: int = 100) -> dict[str, float]:
    """Seconds of one recommendation (batch 1 and 5) over a Chinchilla fit of the demo runs,
    and of batch 5 over the same runs fitted with a discrepancy."""
    import bayescale
    from bayescale.demo import demo_runs
    from bayescale.recommendation import recommend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bayescale.fit(demo_runs(), "chinchilla", seed=0, discrepancy="none")  # 4 x 1000
    rng = np.random.default_rng(0)
    grid = pd.DataFrame(
        {"N": 10 ** rng.uniform(7.5, 10.5, candidates), "D": 10 ** rng.uniform(9, 12, candidates)}
    )
    out = {"draws": float(fitted.diagnostics.chains * fitted.diagnostics.draws)}
    table = recommend(fitted, grid, target={"N": 7e10, "D": 1.4e12}, batch=1)  # warm-up
    out["used"] = float(table.attrs["draws"])
    for batch in (1, 5):
        start = time.perf_counter()
        recommend(fitted, grid, target={"N": 7e10, "D": 1.4e12}, batch=batch)
        out[f"loss_batch_{batch}"] = time.perf_counter() - start
    start = time.perf_counter()
    recommend(fitted, grid, target={"C": 1e23}, batch=1)
    out["optimal_N_batch_1"] = time.perf_counter() - start
    # The same fit with a discrepancy: the range term adds array operations only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        careful = bayescale.fit(demo_runs(), "chinchilla", seed=0, discrepancy="backtest")
    start = time.perf_counter()
    recommend(careful, grid, target={"N": 7e10, "D": 1.4e12}, batch=5)
    out["loss_batch_5_discrepancy"] = time.perf_counter() - start
    return out


# --------------------------------------------------------------------------- report


def report(results: dict[str, Any]) -> str:
    """The markdown report of the saved results."""
    rows = pd.DataFrame(results.get("selection", []))
    lines = [
        "# Which run next: `bayescale.recommend` against random and cheapest-first selection",
        "",
        "Generated by `bench/recommend.py` (see its docstring for the protocol). Li et al. "
        "2026's protocol on scalebench: start from the cheapest runs (the law's parameter "
        "count + 3), add runs from the training pool until 1%, 5%, 10% of its total cost "
        "(6ND) is spent, fit (2 chains x 300 draws), score the test split (larger runs): R^2 "
        "of the posterior median (clipped to [-1, 1]) and coverage of the 90% predictive "
        "interval. `gap to whole pool`: root mean square, in percent, of the posterior "
        "median's departure from the forecast of the same law fitted on the whole pool "
        "(bayescale's default settings), at the test inputs: how far the selection's fit lands "
        "from what all the runs say, without the law's own error at the test runs that R^2 "
        "also holds (mean over seeds, and median; `—` for rows saved before forecasts were "
        "kept). `90% width`: the 90% predictive interval's width over the forecast, mean over "
        "the test runs and seeds (for the seeds that kept it). `published` is Li et al.'s "
        "Table 2 (their MSPE method).",
        "",
    ]
    if len(rows):
        seeds = rows.groupby(["task", "method"])["seed"].nunique()
        lines += [
            f"Seeds per method: {', '.join(f'{t}/{m} {n}' for (t, m), n in seeds.items())} "
            "(the issue asks 10; what fitted in the time is shown). `cheapest` does not "
            "depend on the seed.",
            "",
            "| task | budget | method | R^2 mean | R^2 min..max | gap to whole pool | "
            "90% coverage | 90% width | runs | cost spent | fits ok | published R^2 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        pool_median = {c["task"]: c.get("reference_median") for c in results.get("ceiling", [])}
        if "median" not in rows:
            rows["median"] = None
        if "width_90" not in rows:
            rows["width_90"] = np.nan
        rows["gap"] = [
            gap_to_pool(m, pool_median.get(t))
            for m, t in zip(rows["median"], rows["task"], strict=True)
        ]
        for (task, level, method), part in rows.groupby(["task", "level", "method"], sort=True):
            pub = PUBLISHED.get((task, level))
            gaps = part["gap"].dropna()
            gap = (
                f"{gaps.mean():.2f}% (median {gaps.median():.2f}%)"
                if len(gaps) == len(part)
                else "—"
            )
            widths = part["width_90"].dropna()
            width = "—" if widths.empty else f"{100 * widths.mean():.1f}%"
            if 0 < len(widths) < len(part):
                width += f" ({len(widths)} of {len(part)} seeds)"
            lines.append(
                f"| {task} | {level:.0%} | {method} | {part['r2'].mean():.3f} | "
                f"{part['r2'].min():.2f}..{part['r2'].max():.2f} | {gap} | "
                f"{part['coverage_90'].mean():.2f} | {width} | {part['runs'].mean():.1f} | "
                f"{part['spent'].mean():.2%} | {part['ok'].mean():.0%} | "
                f"{'' if pub is None else f'{pub:.2f}'} |"
            )
        timed = rows.dropna(subset=["seconds"]) if "seconds" in rows else rows.iloc[:0]
        if len(timed):
            lines += [
                "",
                "Wall time of one seed of sequential selection (every fit and recommendation, "
                "to 10%): "
                + ", ".join(
                    f"{t} {m} {g['seconds'].mean():.0f} s "
                    f"(recommend {g['seconds_recommend'].mean():.0f} s)"
                    for (t, m), g in timed.groupby(["task", "method"])
                )
                + " (means over seeds run on 2 cores shared with other jobs, load average "
                "1 to 7).",
            ]
    if len(rows):
        lines += [
            "",
            "Notes. `fits ok` is bayescale's own verdict (R-hat <= 1.01, ESS >= 200 on every "
            "parameter): 2 chains x 300 draws without retries rarely pass it; the scores are "
            "of these small fits as they are. `bayescale_per_cost` (ratio ranking only, an "
            "earlier version run on fewer seeds) spends a small part of each budget: with "
            f"batches of at most {BATCH} runs and {ROUNDS} batches per level it keeps choosing "
            "the cheapest runs; it is kept as the ablation that motivated the default "
            "strategy. `bayescale` fits the law alone (`discrepancy=None`); "
            '`bayescale_discrepancy` fits every selection with `discrepancy="backtest"`, '
            "as `fit` does by default: the target's uncertainty then includes the law's "
            "possible error beyond the runs, which a run nearer the target shortens; its 90% "
            "coverage is of the discrepancy-aware predictive interval. "
            "`bayescale_law_choice` fits as `bayescale_discrepancy` and forecasts with the "
            "discrepancy, but chooses on the law's uncertainty alone "
            "(`recommend(..., discrepancy=False)`). Seeds vary the sampler, "
            "the fantasies and the random order; the initial runs and the pool are the same.",
        ]
    if len(rows):
        lines += [
            "",
            "## Li et al.'s own baselines",
            "",
            "Their Table 2 (github PlanarG/active-sl, README), every row fitted by least "
            "squares: the same protocol, their fits. Their data_con column averages 10 law "
            "forms; this bench fits one.",
            "",
            "| task | method | 1% | 5% | 10% |",
            "| --- | --- | --- | --- | --- |",
        ]
        for task, methods in PUBLISHED_TABLE.items():
            for method, values in methods.items():
                lines.append(f"| {task} | {method} | {' | '.join(values)} |")
        lines += ["", *TRIED]
    if results.get("ceiling"):
        lines += [
            "",
            "## The whole pool",
            "",
            "Each task's law fitted on its whole training pool (100% of the budget), as the "
            "selections are fitted, scored on the same test split: what no selection can be "
            "expected to beat.",
            "",
            "| task | runs | R^2 | 90% coverage | fit ok |",
            "| --- | --- | --- | --- | --- |",
        ]
        for c in results["ceiling"]:
            lines.append(
                f"| {c['task']} | {c['runs']} | {c['r2']:.3f} | {c['coverage_90']:.2f} | "
                f"{'yes' if c['ok'] else 'no'} |"
            )
        references = [
            f"{c['task']} {'pass' if c['reference_ok'] else 'FAIL'}"
            for c in results["ceiling"]
            if "reference_ok" in c
        ]
        if references:
            lines += [
                "",
                "The forecast each selection's gap is measured against is this pool's fit with "
                "bayescale's default settings (4 x 1000 draws, retried while its diagnostics "
                f"fail). Its diagnostics: {', '.join(references)}.",
            ]
        published = [
            f"{c['task']}'s law with the parameters {name} published (fitted on their own "
            f"runs, catalog file `[published]`): R^2 {r2:.3f}"
            for c in results["ceiling"]
            for name, r2 in c.get("published_r2", {}).items()
        ]
        if published:
            lines += ["", "; ".join(published) + "."]
    if results.get("speed"):
        s = results["speed"]
        lines += [
            "",
            "## Speed",
            "",
            f"One recommendation among 100 candidates over a Chinchilla fit of the demo runs "
            f"({s['draws']:.0f} posterior draws, {s.get('used', 1000):.0f} used, 32 fantasies): "
            f"loss at one target, batch 1: {s['loss_batch_1']:.2f} s; batch 5: "
            f"{s['loss_batch_5']:.2f} s"
            + (
                f" ({s['loss_batch_5_discrepancy']:.2f} s from the same runs fitted with "
                f'`discrepancy="backtest"`)'
                if "loss_batch_5_discrepancy" in s
                else ""
            )
            + f"; compute-optimal N at 1e23 FLOPs, batch 1: {s['optimal_N_batch_1']:.2f} s "
            "(the issue asks under 30 s).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--seeds``, ``--tasks``, ``--methods``, ``--speed``, ``--ceiling``,
    ``--report-only``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--speed", action="store_true", help="Only time recommendations.")
    parser.add_argument(
        "--ceiling", action="store_true", help="Only fit and score each task's whole pool."
    )
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    raw = args.out.with_suffix(".json")

    def load() -> dict[str, Any]:
        return json.loads(raw.read_text()) if raw.exists() else {}

    def save(update: dict[str, Any]) -> None:
        # Locked and reread before writing: another process of this bench may add results.
        with common.results_lock(raw):
            saved = load()
            if "speed" in update:
                saved["speed"] = update["speed"]
            # One task's whole-pool fit replaces that task's alone.
            tasks = {c["task"] for c in update.get("ceiling", [])}
            if tasks:
                kept = [c for c in saved.get("ceiling", []) if c["task"] not in tasks]
                saved["ceiling"] = [*kept, *update["ceiling"]]
            for row in update.get("selection", []):
                key = (row["task"], row["method"], row["seed"], row["level"])
                kept = [
                    r
                    for r in saved.get("selection", [])
                    if (r["task"], r["method"], r["seed"], r["level"]) != key
                ]
                saved["selection"] = [*kept, row]
            common.write_result(raw, json.dumps(saved, indent=1))
            common.write_result(args.out, report(saved))

    if args.report_only:
        common.write_result(args.out, report(load()))
        return 0
    if args.speed:
        save({"speed": speed()})
        return 0
    if args.ceiling:
        save({"ceiling": [ceiling(task) for task in args.tasks]})
        return 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for task in args.tasks:
            pool, test = common.scalebench(task)
            for method in args.methods:
                if method == "cheapest" and seed != args.first_seed:
                    continue
                start = time.perf_counter()
                if method == "bayescale":
                    rows = run_bayescale(task, seed, pool, test)
                elif method == "bayescale_discrepancy":
                    rows = run_bayescale(task, seed, pool, test, discrepancy="backtest")
                elif method == "bayescale_law_choice":
                    rows = run_bayescale(
                        task,
                        seed,
                        pool,
                        test,
                        discrepancy="backtest",
                        choose_with_discrepancy=False,
                    )
                elif method == "bayescale_per_cost":
                    rows = run_bayescale(task, seed, pool, test, strategy="per_cost")
                else:
                    rows = run_baseline(task, method, seed, pool, test)
                print(
                    f"{task} {method} seed {seed}: "
                    + ", ".join(
                        f"{r['level']:.0%} R2 {r['r2']:.3f} cov {r['coverage_90']:.2f}"
                        for r in rows
                    )
                    + f" ({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
                save({"selection": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
