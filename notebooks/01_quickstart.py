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
# # Quickstart: from a CSV of training runs to a forecast with error bars
#
# You have trained a grid of small models and logged, for each run, its parameter count, its
# number of training tokens and its final loss. Before committing a large budget you want to
# know: **what loss will a much bigger run reach, and how sure can we be?**
#
# This notebook goes through the whole path once:
#
# 1. write a table of runs to a CSV file, with the column names your logs happen to use;
# 2. load it with `bayescale.load_runs`, mapping your columns to the law's inputs;
# 3. fit the Chinchilla law `L(N, D) = E + A / N**alpha + B / D**beta` and check the sampler's
#    diagnostics;
# 4. forecast the loss at Chinchilla's own scale (70B parameters, 1.4T tokens), with the
#    **credible** interval of the law kept apart from the **predictive** interval of one run;
# 5. plot the fit, then save it and load it back.
#
# The runs are simulated from a known law, so we can check the answers against the truth.

# %%
import tempfile
from pathlib import Path

import numpy as np
from IPython.display import Image, display

import bayescale
from bayescale.demo import TRUE_PARAMETERS, demo_runs
from bayescale.plots import plot_fit, save_figure

# Everything this notebook writes goes to a fresh temporary folder, never into the repository.
WORK = Path(tempfile.mkdtemp(prefix="bayescale-quickstart-"))

# %% [markdown]
# ### A note on sampler settings
#
# To keep this tutorial (and the project's CI, which executes it) fast, the fits below use
# 2 chains x 500 draws after 500 tuning steps. **Real analyses should use the defaults**
# (`bayescale.fit(runs, law)`: 4 chains x 1000 draws after 1000 tuning steps): more chains
# make the convergence check (R-hat) more trustworthy and more draws make the tails of the
# intervals more precise. The first fit of a law on a machine also compiles its model (about
# 40 s for this law in `bench/results.md`), once: the machine code is cached, so a new Python
# process prepares the law in a few seconds, and later fits in the same process reuse it.

# %%
SAMPLER = {"draws": 500, "tune": 500, "chains": 2, "seed": 0}

# %% [markdown]
# ## 1. A CSV of runs
#
# `bayescale.demo.demo_runs` simulates 108 runs on the IsoFLOP design of Hoffmann et al. 2022
# (nine compute budgets from 6e18 to 3e21 FLOPs, twelve model sizes per budget), with losses
# drawn from the Chinchilla law at the parameters of Besiroglu et al.'s 2024 refit plus about
# 1% of run-to-run noise. We write them out under the names a training log might use: `params`,
# `tokens` and `final_loss` (plus a `run` label that the fit does not need).

# %%
simulated = demo_runs(0).table
logged = simulated.rename(columns={"N": "params", "D": "tokens", "y": "final_loss"})
logged = logged[["params", "tokens", "final_loss"]]
logged.insert(0, "run", [f"run-{i:03d}" for i in range(len(logged))])
csv_path = WORK / "my_runs.csv"
logged.to_csv(csv_path, index=False)
print(f"wrote {len(logged)} runs to {csv_path}")
print(logged.head().to_string(index=False, float_format="{:.4g}".format))

# %% [markdown]
# ## 2. Load the runs, mapping your columns to the law's inputs
#
# A law's inputs have fixed names: `N` (parameters), `D` (training tokens), `C` (training
# FLOPs). `x=` says which of your columns holds which input and `y=` which column is the loss.
# Of N, D and C any two are enough: the third follows from `C = 6 N D`, and `runs.columns`
# records where each input came from. Columns you do not map (here `run`) are ignored.
#
# `load_runs` checks every value: a missing file, an unknown column, a non-number, a NaN or a
# value <= 0 stops with one message naming the file, column, row and value.

# %%
runs = bayescale.load_runs(csv_path, x={"N": "params", "D": "tokens"}, y="final_loss")
print(runs)
for name, source in runs.columns.items():
    print(f"  {name:>2} <- {source}")

# %% [markdown]
# ## 3. The law and its priors
#
# Each law of the catalog (`bayescale.catalog()`, files in `models/`) comes with a prior per
# parameter and the reasoning behind it. The priors are deliberately broad, covering every
# published language-model fit. The coefficients `A` and `B` are stated at the runs' typical
# size (`A / N_ref**alpha`: the loss the N-term adds there), which means the same in any units
# and helps the sampler. The noise model is a Student-t on log loss: multiplicative noise,
# robust to the odd outlying run.

# %%
print(bayescale.get_law("chinchilla").describe())

# %% [markdown]
# ## 4. Fit
#
# `bayescale.fit` samples the posterior: it draws values of `E, A, B, alpha, beta` (and of the
# noise scale `sigma` and tail weight `nu`) with probability proportional to the prior times
# how well they explain the runs. The result holds the posterior draws, the runs, the law and
# convergence diagnostics computed on every fit.

# %%
fit = bayescale.fit(runs, "chinchilla", **SAMPLER)
print(fit)
print(fit.diagnostics.verdict())

# %% [markdown]
# `summary()` gives, per parameter, the posterior mean, standard deviation, median and 90%
# highest-density interval, with R-hat (do the chains agree? must be <= 1.01) and the bulk and
# tail effective sample sizes (how many independent draws the correlated chain is worth; at
# least 100 per chain). A fit that fails these checks says so in its verdict, carries
# `fit.ok == False` and its forecasts warn; pass `strict=True` to make it raise instead.

# %%
print(fit.summary().round(4).to_string())

# %% [markdown]
# Because the runs are simulated, we know the truth. The posterior medians should be close
# to it and the 90% intervals should contain it (for most parameters: a 90% interval misses
# one time in ten).

# %%
summary = fit.summary()
for name, truth in TRUE_PARAMETERS.items():
    row = summary.loc[name]
    inside = row["hdi_90_lower"] <= truth <= row["hdi_90_upper"]
    print(
        f"{name:>5}: truth {truth:9.4g}   posterior median {row['median']:9.4g}   "
        f"90% HDI [{row['hdi_90_lower']:9.4g}, {row['hdi_90_upper']:9.4g}]   "
        f"{'contains the truth' if inside else 'MISSES the truth'}"
    )

# %% [markdown]
# ## 5. Forecast at a scale you have not trained
#
# Chinchilla itself had N = 70e9 parameters trained on D = 1.4e12 tokens: 6 N D = 5.9e23 FLOPs,
# about two hundred times the largest budget in our runs (3e21). We also ask for a point ten
# times further (700B parameters, 14T tokens).
#
# The forecast table has three kinds of interval, from narrowest to widest:
#
# * `law_*`: the **credible interval of the law**: where the *average* run at that scale would
#   land, given what we do not know about `E, A, B, alpha, beta`, *if the law's form is exactly
#   right*.
# * `disc_*`: the law **with its discrepancy**: no law is exactly right, and how far its
#   forecasts drift beyond the data is learned from your runs. The fit refitted the law on its
#   smaller runs three times and checked how well each refit forecast the larger ones (its
#   backtests: `fit.discrepancy`); the interval widens with the distance beyond the runs by
#   as much as those backtests say. Compare two plans, or a law with a scaling target, with this
#   one.
# * `pred_*`: the **predictive interval of one new run**: the above *plus* the run-to-run noise
#   (seeds, data order, hardware non-determinism) estimated from the scatter of your runs. This
#   is what you need to bet on the one big run you will actually train.
#
# (`bayescale.fit(..., discrepancy="none")` skips the backtests and gives `law_*` and `pred_*`
# alone, which assume the form is exact; notebook 05 shows when that goes wrong.)
#
# `extrapolation` is the largest ratio of an input (N, D or the compute C = 6ND) to its largest
# value in the runs: above 1 the forecast is beyond the data and rests on the law's form holding
# there. `distance` is how far outside the runs' range a point lies, in e-folds (natural logs),
# above or below it, on any input or C (0 inside): the distance the discrepancy's interval grows
# with.

# %%
targets = {"N": [7e10, 7e11], "D": [1.4e12, 1.4e13]}
forecast = fit.forecast(targets, level=(0.5, 0.9))
columns = ["N", "D", "law_median", "law_lower_90", "law_upper_90"]
columns += ["disc_lower_90", "disc_upper_90", "pred_lower_90", "pred_upper_90"]
columns += ["extrapolation", "distance"]
print(fit.discrepancy.describe())
print(forecast[columns].to_string(index=False, float_format="{:.4g}".format))

# %% [markdown]
# How much wider is the predictive interval, and does the law's interval contain the true law
# (known here, because we simulated the runs)?

# %%
truth = bayescale.get_law("chinchilla").predict(
    TRUE_PARAMETERS, {"N": np.array(targets["N"]), "D": np.array(targets["D"])}
)
for i, row in forecast.iterrows():
    law_width = row["law_upper_90"] - row["law_lower_90"]
    pred_width = row["pred_upper_90"] - row["pred_lower_90"]
    inside = row["law_lower_90"] <= truth[i] <= row["law_upper_90"]
    print(
        f"N={row['N']:.3g}, D={row['D']:.3g}: true law {truth[i]:.4f}, "
        f"forecast median {row['law_median']:.4f}; 90% widths: law {law_width:.4f}, "
        f"one run {pred_width:.4f}; the law's interval "
        f"{'contains' if inside else 'misses'} the truth"
    )

# %% [markdown]
# The run-to-run noise is about 1% of the loss here, so one run's interval is markedly wider than
# the law's. Ten times further out, the law's own uncertainty grows (the exponents and the floor
# `E` matter more the further one extrapolates) while the noise stays the same size.

# %% [markdown]
# ## 6. Plot
#
# `plot_fit` draws the runs along IsoFLOP curves (loss against N at a fixed compute budget),
# the posterior median law, its 90% credible band (dark) and predictive band (light), and the
# forecast targets as stars on dashed, extrapolated curves. The shaded region lies beyond the
# largest run. Like every `plot_*` function, `plot_fit` returns the matplotlib axes it drew on
# (pass `ax=` to draw into a figure of your own; `ax.figure` is the figure, adjust it as you
# like); `save_figure` writes the figure (PNG, SVG or PDF by suffix).

# %%
ax = plot_fit(fit, targets=[{"N": 7e10, "D": 1.4e12}])
png = save_figure(ax.figure, WORK / "fit.png")
display(Image(filename=str(png)))

# %% [markdown]
# ## 7. Save and load
#
# `fit.save` writes one NetCDF file with the posterior, the runs, the law with its priors, the
# seed, the sampler settings and the package versions. `bayescale.load_fit` reads it back; the
# reloaded fit gives identical forecasts, so a forecast can be reproduced and audited later
# without refitting.

# %%
path = fit.save(WORK / "fit.nc")
same = bayescale.load_fit(path)
again = same.forecast(targets, level=(0.5, 0.9))
print(f"saved {path.name} ({path.stat().st_size / 1e6:.1f} MB); reloaded: {same}")
print("identical forecasts after reloading:", again.equals(forecast))

# %% [markdown]
# ## Next
#
# * The same from the command line: `bayescale fit my_runs.csv --law chinchilla --x N=params
#   --x D=tokens --y final_loss --out fit.nc`, then `bayescale forecast fit.nc --at
#   N=7e10,D=1.4e12`.
# * `02_chinchilla_replication.py`: the same fit on the real runs of Hoffmann et al., compared
#   with their published parameters and Epoch AI's refit, and compute planning.
# * `03_comparing_laws.py`: which law form to trust for a forecast.
# * `04_custom_law.py`: write your own law.
