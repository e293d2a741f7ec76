# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Beyond loss: forecast a benchmark's error, with the uncertainty carried through
#
# Nobody ships a validation loss. The question asked of a big run is "what will it score on
# the benchmarks?". Scaling laws describe the loss well, and benchmark scores much less
# directly: a score is noisy, bounded by chance and by 100%, and for a small model often
# stuck at chance. The field's answer (Gadre et al. 2024; Llama 3; OLMo's ladders) is to go
# **through the loss**, in two steps:
#
# 1. the **loss law**: the validation loss from the parameters N and the tokens D;
# 2. a **link**: the benchmark's error as a function of the loss, fitted on the same small
#    runs.
#
# Chaining two point fits gives one number with no honest interval. bayescale fits both
# steps as posteriors and pairs their draws, so the forecast of the error carries the
# uncertainty of both laws and both kinds of noise.
#
# This notebook replays Gadre et al.'s own test on their over-training runs: fit on the C4
# runs up to 411M parameters, and forecast the 6.9B-parameter model trained on 138B tokens,
# whose true scores we know:
#
# 1. the loss law on the small runs;
# 2. the exponential link for the average top-1 error over the tasks above chance;
# 3. the chain to the 6.9B model, next to what it really scored;
# 4. a task still at chance: flagged, not forecast;
# 5. one task alone, with a link bounded by chance;
# 6. the picture, and what each interval means.

# %%
import os
import warnings
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

import bayescale
from bayescale import downstream
from bayescale.errors import DataError
from bayescale.plots import figure_to_png, plot_link

# Small sampler settings, and no automatic retries with more draws, so that the notebook runs
# in about a minute: 2 chains x 1000 draws. bayescale's defaults (4 chains x 1000 draws,
# retried longer when the diagnostics fail) are for real analyses; bench/downstream.py uses
# them.
SAMPLER = {"draws": 1000, "tune": 1000, "chains": 2, "seed": 0, "retries": 0}
# The loss law's posterior is a narrow ridge (see section 1): a longer warm-up, smaller steps.
LOSS_SAMPLER = {**SAMPLER, "tune": 1500, "target_accept": 0.99}
SMALL = 411_616_256  # parameters of the largest model fitted on, as in the paper
LEVEL = 0.9

# %% [markdown]
# ## The data
#
# Gadre et al. 2024 ("Language models scale reliably with over-training and on downstream
# tasks") released 104 models trained on three datasets, with their validation losses and
# their top-1 accuracy on 46 downstream tasks. bayescale does not ship them; the notebook
# reads `overtrain/` (`runs.csv`, `downstream.csv`, `downstream_tasks.csv`) from the folder
# named by the environment variable `BAYESCALE_DATA`, or from `shared/data` beside the
# checkout (`../../shared/data` from this folder). Without it, it says so and skips its
# remaining cells.

# %%
RELATIVE = Path("overtrain")


def find_overtrain() -> Path | None:
    """Return the folder of Gadre et al.'s over-training data, or None if it is not found."""
    if os.environ.get("BAYESCALE_DATA"):
        folders = [Path(os.environ["BAYESCALE_DATA"]).expanduser()]
    else:
        folders = [
            Path.cwd() / ".." / ".." / "shared" / "data",
            Path.cwd() / ".." / "shared" / "data",
        ]
    for folder in folders:
        for candidate in (folder, folder / RELATIVE):
            if (candidate / "runs.csv").is_file() and (candidate / "downstream.csv").is_file():
                return candidate.resolve()
    return None


def skip_remaining_cells(reason: str) -> None:
    """Say why, then make every later cell a no-op (in Jupyter) or exit (plain Python)."""
    print(reason)
    shell = get_ipython()  # noqa: F821 (defined in a notebook's kernel)
    if shell is None:
        raise SystemExit(0)
    shell.input_transformers_cleanup.append(lambda lines: ["# skipped: no over-training data\n"])


FOLDER = find_overtrain()
if FOLDER is None:
    where = os.environ.get("BAYESCALE_DATA") or "../../shared/data or ../shared/data"
    skip_remaining_cells(
        f"Gadre et al.'s data ({RELATIVE}/runs.csv, downstream.csv) was not found in {where}; "
        "set BAYESCALE_DATA to the folder holding it. The remaining cells are skipped."
    )
else:
    print(f"using {FOLDER}")

# %% [markdown]
# One row per model: its parameters, tokens and C4 validation loss, joined with its accuracy
# on each task. Each task has a chance accuracy (25% for four choices, 0 for free text).

# %%
runs = pd.read_csv(FOLDER / "runs.csv").merge(pd.read_csv(FOLDER / "downstream.csv"), on="model")
meta = pd.read_csv(FOLDER / "downstream_tasks.csv")
tasks = [t for t in meta["Eval Task"] if t in runs.columns]
chance = dict(zip(meta["Eval Task"], meta["Random baseline"] / 100.0, strict=True))

c4 = runs[runs["dataset"] == "c4"]
small = c4[c4["params"] <= SMALL]
target = c4[c4["params"] > 6e9].iloc[0]
print(f"{len(small)} C4 runs up to {SMALL / 1e6:.0f}M parameters; {len(tasks)} tasks")
print(f"target: N = {target['params']:.3g} parameters, D = {target['tokens']:.3g} tokens")

# %% [markdown]
# ## 1. The loss law
#
# Chinchilla's law, `L = E + A / N^alpha + B / D^beta`, fitted to the C4 validation loss of
# the small runs.

# %%
loss_runs = bayescale.load_runs(small, x={"N": "params", "D": "tokens"}, y="loss_c4_val")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    loss_fit = bayescale.fit(loss_runs, "chinchilla", **LOSS_SAMPLER)
print(loss_fit)
print(loss_fit.diagnostics.verdict())

# %% [markdown]
# Thirty-one runs barely separate the irreducible loss E from the exponent alpha: they trade
# off along a narrow ridge, which the sampler crosses slowly, and with these short chains the
# convergence check fails narrowly (R-hat a little above 1.01, too few effective draws of E).
# We tried 4 chains, other seeds and longer warm-ups: the check stays borderline, and the
# forecast at the target moves by less than 0.01 nats between them, far less than its
# interval. Fine for a tutorial; for a decision, run the defaults (which retry with more
# draws) and read the verdict again.

# %% [markdown]
# ## 2. The link, for the average error over the tasks above chance
#
# A task whose best small model is still within 5 points of chance accuracy has shown no
# relation between loss and error yet: `downstream.near_chance` finds them, and they are left
# out of the average, as Gadre et al. do. The metric is the average top-1 *error* (1 minus
# the accuracy) over the remaining tasks.
#
# The link is Gadre et al.'s exponential, `error = eps - k exp(gamma (3.5 - L))`: the error
# falls from `eps` (learnt nothing) as the loss falls.

# %%
above = [t for t in tasks if not downstream.near_chance(1 - small[t], chance[t])]
print(f"{len(above)} of {len(tasks)} tasks are above chance on the small runs")
c4 = c4.assign(error_above_chance=1 - c4[above].mean(axis=1))
small = c4[c4["params"] <= SMALL]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    link_fit = downstream.fit_link(small, "loss_c4_val", "error_above_chance", **SAMPLER)
print(link_fit)
print(link_fit.summary(level=LEVEL)[["median", "hdi_90_lower", "hdi_90_upper"]].round(3))

# %% [markdown]
# ## 3. The chain: the 6.9B model's error, forecast from models 17 times smaller
#
# `downstream.chain` pairs every posterior draw of the loss law with one of the link:
#
# - `loss_*`: the loss law at the target (its credible interval);
# - `error_*`: the link at that loss: the **average error** of models of this size and data
#   (both laws' parameters uncertain);
# - `pred_*`: the error of **one model** trained there: its loss scatters around the law, and
#   its score around the link.

# %%
at = {"N": [target["params"]], "D": [target["tokens"]]}
forecast = downstream.chain(loss_fit, link_fit, at, level=LEVEL)
row = forecast.iloc[0]
observed = 1 - target[above].mean()
print(
    f"loss:  forecast {row['loss_median']:.3f} [{row['loss_lower_90']:.3f}, "
    f"{row['loss_upper_90']:.3f}]   observed {target['loss_c4_val']:.3f}"
)
print(
    f"error: forecast {row['error_median']:.3f}, credible [{row['error_lower_90']:.3f}, "
    f"{row['error_upper_90']:.3f}], one model [{row['pred_lower_90']:.3f}, "
    f"{row['pred_upper_90']:.3f}]   observed {observed:.3f}"
)
inside = row["pred_lower_90"] <= observed <= row["pred_upper_90"]
print(f"observed error inside the 90% interval of one model: {inside}")
# The loss law's own forecast there, with its discrepancy (the law's form error beyond the runs).
disc = loss_fit.forecast(at, level=LEVEL).iloc[0]
print(
    f"loss with the discrepancy: [{disc['disc_lower_90']:.3f}, {disc['disc_upper_90']:.3f}]; "
    f"one run: [{disc['pred_lower_90']:.3f}, {disc['pred_upper_90']:.3f}]"
)
at_observed_loss = link_fit.forecast({"L": [target["loss_c4_val"]]}, level=LEVEL).iloc[0]
print(f"the link at the observed loss: {at_observed_loss['law_median']:.3f}")

# %% [markdown]
# Read the lines together. The loss law is too optimistic this far out (17 times the
# parameters): the observed loss is above the law's credible interval (the `loss` line), as
# the small runs do not show how the loss flattens at this scale. The error forecast inherits
# that optimism through the link: it is about two points of error too low. The link itself,
# given the model's *observed* loss, errs the other way (last line), so the two errors partly
# cancel, and one model's interval covers the observed error.
#
# The `loss` and `error` lines are credible intervals: what the two fits know about their
# parameters. The form's own error is in the other lines: the loss fit learned a discrepancy
# from backtests on its runs (the default), and with it the loss interval's upper end comes up
# to about the observed loss; one model's error interval carries it too, with a new run's
# noise and the benchmark's (notebook `05_honest_intervals.py` shows how the discrepancy is
# learned).

# %% [markdown]
# ## 4. A task at chance is flagged, not forecast
#
# MMLU (four choices, chance accuracy 25%) is a famous case: models of this size answer it no
# better than chance. Its best small run is within 5 points of chance, so there is no
# loss-to-error relation to learn, and any "forecast" would only echo the link's prior.
# `fit_link` refuses it, with the reason.

# %%
mmlu_error = 1 - small["mmlu"]
print("near chance:", downstream.near_chance(mmlu_error, chance["mmlu"]))
print(f"best small run's MMLU error {mmlu_error.min():.3f}; chance error {1 - chance['mmlu']:.2f}")
try:
    downstream.fit_link(small, "loss_c4_val", "mmlu", accuracy=True, chance=chance["mmlu"])
except DataError as err:
    print("refused:", err)
print(f"(the 6.9B model's MMLU error: {1 - target['mmlu']:.3f}: still at chance)")

# %% [markdown]
# ## 5. One task alone, with a link bounded by chance
#
# A single task is noisier than an average, and its error cannot leave [0, 1]. The `sigmoid`
# link goes from the chance error (high loss) down to a floor, and is given the task's
# chance accuracy as the centre of its prior at high loss. Here: the Winograd schemas (two
# choices, chance accuracy 50%).

# %%
TASK = "winograd"
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    task_fit = downstream.fit_link(
        small, "loss_c4_val", TASK, "sigmoid", chance=chance[TASK], accuracy=True, **SAMPLER
    )
task_row = downstream.chain(loss_fit, task_fit, at, level=LEVEL).iloc[0]
print(task_fit.diagnostics.verdict())
print(
    f"{TASK} error: forecast {task_row['error_median']:.3f}, one model "
    f"[{task_row['pred_lower_90']:.3f}, {task_row['pred_upper_90']:.3f}]   "
    f"observed {1 - target[TASK]:.3f}"
)

# %% [markdown]
# Not every task is this tame. For a task whose small runs have not yet bent toward a floor,
# the sigmoid's floor and midpoint are barely constrained by them, and the diagnostics say so
# (try `TASK = "boolq"`): its interval is then wide, as it should be, and the sampler needs
# more draws to describe it.

# %% [markdown]
# ## 6. The picture
#
# `plot_link` draws the small runs (points), the link's posterior (line, credible band dark,
# one model's band light), the chance error (dashed, when the link knows it) and the target:
# a star at its loss and error, with the loss interval across and one model's error interval
# up (thick: the error's credible interval). The grey region is lower loss than any run: the
# link is extrapolated there. The black cross is what the 6.9B model really reached: a higher
# loss than forecast, and an error the link puts a little above the observed one.

# %%
ax = plot_link(link_fit, forecast=forecast, level=LEVEL, metric="average above-chance")
# The plot returns its axes: add what the 6.9B model really reached (black cross).
ax.scatter(
    [target["loss_c4_val"]],
    [observed],
    marker="X",
    s=70,
    color="black",
    zorder=5,
    label="the 6.9B model, observed",
)
ax.legend(fontsize=7, loc="lower right")
display(Image(data=figure_to_png(ax.figure)))

# %% [markdown]
# ## Three intervals, in plain words
#
# - **The loss interval** (`loss_*`): how sure we are of the validation loss a model of this
#   size and data reaches on average. It comes from the loss law alone.
# - **The error's credible interval** (`error_*`): how sure we are of the benchmark error of
#   such models *on average*. It carries both laws' uncertainty: the loss is uncertain, and so
#   is how error depends on loss.
# - **One model's predictive interval** (`pred_*`): what the one model you are about to train
#   will score. On top of the above, your run's loss differs a little from the law's, and its
#   benchmark score differs from the link's (a finite test set, the seed). This is the interval
#   to plan with; it is the widest.
#
# From the command line: `bayescale link fit.nc runs.csv --loss loss_c4_val --metric mmlu
# --accuracy --chance 0.25 --at N=6.9e9,D=1.38e11` gives the chain's table; a saved link fit
# (`link_fit.save("mmlu.nc")`) adds a "Downstream forecast" section to the report:
# `bayescale report fit.nc --out report.html --link mmlu.nc`.
