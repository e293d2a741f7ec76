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
# # Many families, one fit: hierarchical scaling laws with partial pooling
#
# Teams rarely have one clean sweep. They have a rich sweep on the old dataset, another on a
# second one, and four small runs on the new data mixture they care about. Two usual answers
# both fail:
#
# * **fit the new family alone**: four runs cannot pin a five-parameter law (bayescale refuses:
#   fewer runs than parameters), and even ten leave the exponents loose;
# * **pool everything**: one law for all families pretends the new mixture has the old floor.
#
# The Bayesian answer is in between: each family gets its own parameters, drawn from a
# population whose centre and spread the fit learns. A family with few runs borrows strength
# from the others exactly as far as they agree. This notebook:
#
# 1. simulates three families whose truth we know (they differ in their floor and a little in
#    their data exponent), the third with four small runs only;
# 2. fits them once, hierarchically, and forecasts each family and a family not yet tried;
# 3. looks at the population of each pooled parameter and at how far each family's estimate
#    moves compared with fitting the families without pooling.

# %%
import warnings

import numpy as np
import pandas as pd
from IPython.display import Image, display

import bayescale
from bayescale.plots import figure_to_png
from bayescale.plots.hierarchy import plot_groups, plot_population, plot_shrinkage

warnings.filterwarnings("ignore", category=UserWarning)
SAMPLER = {"draws": 500, "tune": 500, "chains": 2, "seed": 1, "retries": 0}

# %% [markdown]
# ## Three families
#
# A Chinchilla law `E + A / N**alpha + B / D**beta` per family. "web" and "books" have twelve
# runs each (six sizes, two token budgets); "new-mix" has four, all small. Its floor is the
# highest and its data exponent a little different: it is the family a team would want to
# forecast at 7B parameters, 160 times beyond its largest run.

# %%
TRUTH = {
    "web": {"E": 1.80, "beta": 0.28},
    "books": {"E": 1.95, "beta": 0.27},
    "new-mix": {"E": 2.05, "beta": 0.285},
}
rng = np.random.default_rng(0)
rows = []
for family, count in (("web", 12), ("books", 12), ("new-mix", 4)):
    truth = TRUTH[family]
    for n in np.geomspace(2e7, 1e9, 6)[: count // 2]:
        for d in (10 * n, 40 * n):
            loss = truth["E"] + 400 / n**0.34 + 400 / d ** truth["beta"]
            rows.append((family, n, d, loss * np.exp(0.01 * rng.standard_normal())))
frame = pd.DataFrame(rows, columns=["family", "N", "D", "loss"])
runs = bayescale.load_runs(frame, y="loss", group="family")
print(runs)
print(frame.groupby("family").size().to_string())

# %% [markdown]
# ## Alone, the new family cannot be fitted
#
# Four runs, five parameters: the fit is refused with a message saying why.

# %%
alone = frame[frame["family"] == "new-mix"]
try:
    bayescale.fit(alone, "chinchilla", **SAMPLER)
except bayescale.DataError as err:
    print("refused:", err)

# %% [markdown]
# ## One hierarchical fit
#
# `load_runs(..., group="family")` and `fit` do the rest. By default every parameter is
# *pooled*: per family, `log theta_g = log m + tau z_g` with the population median `m` under the
# law's prior and the spread `tau` half-normal. The sampler moves each parameter's group mean
# and partially centred deviations (see `bayescale.hierarchy`), which NUTS samples without the
# funnel of the centred form and faster than the non-centred one. `pooling=` changes this per
# parameter: `"shared"` (one value), `"pooled"`, `"separate"` (no pooling).

# %%
fit = bayescale.fit(runs, "chinchilla", **SAMPLER)
print(fit)
print(fit.pooling.describe())
print(fit.diagnostics.verdict())
fit.summary().round(3)[["role", "median", "sd", "r_hat", "ess_bulk"]]

# %% [markdown]
# ## Forecasts per family, and for a family not yet tried
#
# `forecast` gives one row per family; `group="new"` draws each posterior draw's parameters
# from the population: what the loss of a 7B model would be on a dataset we have not tried,
# and how unsure that is (much wider, as it should be). The truth of each family is printed
# beside its forecast.

# %%
at = {"N": [7e9], "D": [1.4e11]}
table = fit.forecast(at, group=[*fit.groups, "new"])
table["truth"] = [
    TRUTH[g]["E"] + 400 / 7e9**0.34 + 400 / 1.4e11 ** TRUTH[g]["beta"] if g in TRUTH else np.nan
    for g in table["group"]
]
print(table[["group", "law_median", "law_lower_90", "law_upper_90", "truth"]].round(3).to_string())
inside = (table["law_lower_90"] <= table["truth"]) & (table["truth"] <= table["law_upper_90"])
print(
    "truth inside the 90% interval for", int(inside.sum()), "of", int(table["truth"].notna().sum())
)

# %% [markdown]
# Every method of a fit works per family: `fit.group("new-mix")` is the fit as that family sees
# it, and `compute_optimal`, `budget_for` and `prob_below` take `group=`.

# %%
print(fit.compute_optimal([1e22], group=["new-mix", "new"]).filter(regex="^(group|C|N_|D_median)"))
print(fit.prob_below(2.45, N=7e9, D=1.4e11).round(3).to_string())

# %%
axes = plot_groups(fit, new=False)
display(Image(data=figure_to_png(axes[0].figure)))

# %% [markdown]
# ## The population, and shrinkage
#
# The forest plot shows, per pooled parameter, each family's posterior (thick: 50%, thin:
# 90%), the population median and a new family's value. Amplitudes are pooled at the runs'
# reference scale, where they are comparable across families.

# %%
axes = plot_population(fit, ["E", "alpha", "beta"])
display(Image(data=figure_to_png(axes[0].figure)))

# %% [markdown]
# To see what pooling does, the same runs are fitted with `pooling="none"`: each family its own
# law (the noise is still shared, so that the four runs of "new-mix" can be fitted at all, with
# the law's priors doing the rest). The arrows go from each family's unpooled estimate to its
# pooled one: the family with four runs moves most.

# %%
unpooled = bayescale.fit(runs, "chinchilla", pooling="none", **SAMPLER)
axes = plot_shrinkage(fit, unpooled, ["E", "alpha", "beta"])
for name in ("E", "beta"):
    sd_alone = float(unpooled.idata.posterior[name].sel(group="new-mix").std())
    sd_pooled = float(fit.idata.posterior[name].sel(group="new-mix").std())
    print(f"new-mix {name}: sd alone {sd_alone:.3f}, pooled {sd_pooled:.3f}")
display(Image(data=figure_to_png(axes[0].figure)))

# %% [markdown]
# ## Beyond a family's runs: the law's own error, on request
#
# The intervals above assume the Chinchilla form is right far from the runs. A fit without
# groups learns by default how wrong its form has been beyond its runs (backtests, see
# notebook 05); a fit with groups learns it when asked, `discrepancy="backtest"`, for about
# twice the fit's time. Each family's distance is measured from its own runs, where its
# parameters are pinned: "new-mix", whose four runs are all small, is widened most at 7B
# (in loss; relative to its law's interval, already wide from its few runs, less).

# %%
careful = bayescale.fit(runs, "chinchilla", discrepancy="backtest", **SAMPLER)
print(careful.discrepancy.describe())
wide = careful.forecast(at, group=["web", "new-mix"]).set_index("group")
for family, row in wide.iterrows():
    law_width = row["law_upper_90"] - row["law_lower_90"]
    disc_width = row["disc_upper_90"] - row["disc_lower_90"]
    print(
        f"{family}: law [{row['law_lower_90']:.3f}, {row['law_upper_90']:.3f}], with the "
        f"discrepancy [{row['disc_lower_90']:.3f}, {row['disc_upper_90']:.3f}]: "
        f"{disc_width - law_width:.3f} wider"
    )

# %% [markdown]
# ## What next
#
# * `bayescale.compare_pooling(runs, test=held_out)` fits no, partial and complete pooling and
#   tabulates PSIS-LOO and held-out scores, as `compare` does for laws.
# * `bench/hierarchy.md` measures the gain on real runs: Gadre et al.'s three datasets, each in
#   turn given only its smallest runs.
# * From the command line: `bayescale fit runs.csv --law chinchilla --group family --out fit.nc`
#   then `bayescale forecast fit.nc --at N=7e9,D=1.4e11 --group new`.
