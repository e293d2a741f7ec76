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
# # Comparing law forms: which one to trust for a forecast?
#
# Several functional forms can describe the same small runs about equally well and still
# disagree by a lot a hundred times further out, which is where the forecast is needed. This
# notebook compares two classic forms on runs whose truth we know:
#
# * `chinchilla` (Hoffmann et al. 2022): `E + A / N**alpha + B / D**beta`, with an irreducible
#   loss floor `E`;
# * `kaplan` (Kaplan et al. 2020): `((Nc / N)**(alphaN / alphaD) + Dc / D)**alphaD`, a joint power
#   law **without** a floor.
#
# The runs are simulated from the Chinchilla form (`bayescale.demo.demo_runs`: Besiroglu et al.'s
# 2024 parameters on Hoffmann et al.'s IsoFLOP design), so the right answer is known. The point
# is to see *how* the comparison reaches it, and which criterion answers which question.

# %%
import numpy as np
import pandas as pd

import bayescale
from bayescale.demo import TRUE_PARAMETERS, demo_runs

# %% [markdown]
# ### Sampler settings
#
# `compare` fits every law twice here (on all runs, and on the smaller runs only), so we keep
# each fit small: 4 chains x 500 draws after 500 tuning steps. **Real analyses should use the
# defaults** (4 chains x 1000 draws after 1000 tuning steps, `compare`'s own defaults). Each law
# is compiled once per machine and cached (a new Python process still spends a few seconds
# preparing it); its other fits in this process reuse the compiled model.

# %%
SAMPLER = {"draws": 500, "tune": 500, "chains": 4, "seed": 0}

# %%
print(bayescale.get_law("kaplan").describe())

# %% [markdown]
# ## Two criteria in one call
#
# `bayescale.compare(runs, laws=[...])` fits each law to all the runs and scores them by
# **PSIS-LOO**: the log predictive density of each run when the law is fitted to the other runs
# (estimated from one fit by Pareto-smoothed importance sampling, Vehtari et al. 2017).
#
# With `holdout_above={"C": 1e21}` it also plays out the real use of a law: fit on the runs at or
# below 1e21 FLOPs, **forecast the larger runs**, and score those forecasts. The demo design has
# nine budgets from 6e18 to 3e21 FLOPs, so the twelve runs at 3e21 FLOPs are held out.

# %%
runs = demo_runs(0)
compute = runs.x("C")
print(f"{len(runs)} runs; {int((compute > 1e21).sum())} of them above 1e21 FLOPs are held out")
comparison = bayescale.compare(
    runs, laws=["chinchilla", "kaplan"], holdout_above={"C": 1e21}, **SAMPLER
)

# %% [markdown]
# ## PSIS-LOO: how well does each law predict a run like the others?
#
# * `elpd_loo`: expected log predictive density (higher is better), summed over runs, with its
#   standard error `se`;
# * `elpd_diff` and `dse`: the gap to the best law and the standard error *of the gap* (more
#   informative than the two `se`, because the laws are scored on the same runs); a gap smaller
#   than about two `dse` is not decisive;
# * `weight`: stacking weights (Yao et al. 2018), the mixture of laws that predicts best;
# * `p_loo`: effective number of parameters; `pareto_k_bad`: runs with Pareto k above 0.7, whose
#   LOO estimate is unreliable (they alone shape the fit).

# %%
loo_columns = ["elpd_loo", "se", "elpd_diff", "dse", "weight", "p_loo", "pareto_k_bad"]
print(comparison.loo[loo_columns].to_string(float_format="{:.3g}".format))

# %% [markdown]
# ## Extrapolation: how well does each law forecast runs larger than any it has seen?
#
# Per law, fitted on the `n_train` smaller runs and scored on the `n_test` held-out ones:
#
# * `elpd_per_run`: mean log predictive density of a held-out run (higher is better);
# * `coverage_50/80/90`: share of held-out runs inside the 50/80/90% predictive intervals; a
#   calibrated law covers about 50/80/90% of them;
# * `r2` and `mare`: accuracy of the posterior median law (R^2 clipped to [-1, 1], and mean
#   absolute relative error).

# %%
extrapolation_columns = ["law", "holdout", "n_train", "n_test", "elpd_per_run"]
extrapolation_columns += ["coverage_50", "coverage_80", "coverage_90", "r2", "mare"]
print(
    comparison.extrapolation[extrapolation_columns].to_string(
        index=False, float_format="{:.3g}".format
    )
)

# %% [markdown]
# ## The verdict
#
# `comparison.verdict()` says which law wins on which criterion, whether the lead is decisive,
# and what to watch out for (unreliable LOO estimates, fits that failed their diagnostics).

# %%
print(comparison.verdict())

# %% [markdown]
# ### Why two criteria?
#
# **LOO measures interpolation.** Leaving out one run among 108 that sit on the same nine
# IsoFLOP curves asks: *does the law describe the region the runs cover?* A flexible law can do
# well there and still bend the wrong way outside it. LOO is precise (every run counts), cheap
# (one fit per law) and the right tool to compare laws for describing your runs.
#
# **The held-out score measures extrapolation**, which is what a forecast is. It is noisier (here
# twelve runs at one budget) and costs extra fits, but it asks the question you care about
# before a big run: *when this law was fitted on smaller runs, did it predict the larger ones,
# and were its intervals honest?* Kaplan's form has no floor: its loss keeps falling as a pure
# power law, so it extrapolates below the floor the runs imply. The held-out scores show what
# that means for a forecast: a larger error on the held-out runs, and predictive intervals that
# contain them less often than they claim to.
#
# When the two criteria disagree, trust the extrapolation score for forecasts beyond your largest
# run, hold out at several thresholds (`holdout_above={"C": [1e20, 1e21]}`) to see whether the
# ranking is stable, or average the laws.

# %% [markdown]
# ## Averaging laws instead of choosing one
#
# `comparison.average()` (or `bayescale.average(fits)`) pools the laws' posterior draws in
# proportion to their weights and returns the same forecast table as a single fit. With
# held-out runs, as here, the weights are stacking weights fitted to the held-out larger runs
# (leave-future-out: which mix of laws, refitted on the smaller runs, best forecast the
# larger ones), averaged over 200 Bayesian-bootstrap reweightings of those runs so that a
# narrow win on a few runs does not turn into a weight of 1; without held-out runs, stacking
# weights on PSIS-LOO. `comparison.weights_table()` shows them all (plain stacking on the
# held-out runs too).
# When the data cannot tell two forms apart, the averaged interval honestly includes both
# stories. When the data can, the weights say so and the average is close to the winner.
#
# Below: the forecast at Chinchilla's scale (70B parameters, 1.4T tokens) and ten times further,
# from each law alone, from the stacking average, and from an average with equal weights forced
# by hand, next to the true law (known because the runs are simulated).

# %%
targets = {"N": [7e10, 7e11], "D": [1.4e12, 1.4e13]}
print(comparison.weights_table().round(3).to_string())
stacked = comparison.average()
print(f"weights used: {stacked.method} ({stacked.reason})")
forecasts = {name: fit.forecast(targets) for name, fit in comparison.fits.items()}
forecasts["average (held-out weights)"] = stacked.forecast(targets)
forecasts["average (50/50 by hand)"] = bayescale.average(
    comparison.fits, weights={"chinchilla": 0.5, "kaplan": 0.5}
).forecast(targets)

truth = bayescale.get_law("chinchilla").predict(
    TRUE_PARAMETERS, {"N": np.array(targets["N"]), "D": np.array(targets["D"])}
)
print("stacking weights:", {name: round(float(w), 3) for name, w in stacked.weights.items()})
rows = []
for source, table in forecasts.items():
    for i, row in table.iterrows():
        rows.append(
            {
                "forecast": source,
                "N": row["N"],
                "D": row["D"],
                "law median": row["law_median"],
                "law 90% lower": row["law_lower_90"],
                "law 90% upper": row["law_upper_90"],
                "one run 90% lower": row["pred_lower_90"],
                "one run 90% upper": row["pred_upper_90"],
                "contains the true law": row["law_lower_90"] <= truth[i] <= row["law_upper_90"],
            }
        )
print(pd.DataFrame(rows).to_string(index=False, float_format="{:.4g}".format))
print("true law:", ", ".join(f"{value:.4f}" for value in truth))

# Where the upper ends of the law's 90% intervals lie, next to the truth.
own, half = forecasts["chinchilla"], forecasts["average (50/50 by hand)"]
for i, n in enumerate(targets["N"]):
    print(
        f"N = {n:.0e}: law's 90% upper end, chinchilla {own['law_upper_90'].iloc[i]:.4f}, "
        f"50/50 average {half['law_upper_90'].iloc[i]:.4f}; true law {truth[i]:.4f}"
    )

# %% [markdown]
# Stacking gives almost all the weight to `chinchilla`, so its averaged forecast is essentially
# the Chinchilla forecast, which contains the true law. `kaplan` alone forecasts a loss far
# below the truth, with an interval about as narrow as Chinchilla's: a posterior interval is
# conditional on the law's form and cannot warn you that the form is wrong.
#
# Forcing equal weights gives a much wider interval, reaching from Kaplan's forecast towards
# Chinchilla's, but **not one that contains both laws' intervals**: the average pools the two
# laws' draws, and the 5% and 95% quantiles of a 50/50 mixture of two narrow, far-apart
# forecasts lie *inside* each law's own cluster of draws. Its upper end therefore cuts off
# Chinchilla's upper tail: the mixture's 95% quantile is about Chinchilla's own 90% quantile,
# so at both targets it lies below the upper end of Chinchilla's interval (the lines under the
# table). That tail is where the true law lies: Chinchilla's interval contains it, while the
# 50/50 interval ends within a few thousandths of it, so whether it just holds the truth (the
# table's last column) is down to sampling noise. A hand-set average is not automatically the
# cautious choice; use hand-set weights only to encode real prior belief about the forms.
#
# ## Plans under the average
#
# The laws disagree most about how to spend a budget. Kaplan's form puts the compute-optimal
# model size at a higher power of the budget than Chinchilla's, so at ten times Chinchilla's
# compute its plan is a larger model trained on fewer tokens. An average's `compute_optimal`
# lets each pooled draw plan with its own law: the interval of N then spans what both laws
# say, in proportion to the weights, and `attrs["per_law_N_median"]` keeps each law's own
# median (from all its draws). `budget_for` does the same for the compute a target needs.

# %%
budgets = [5.9e23, 5.9e24]  # Chinchilla's compute, and ten times it
half_half = bayescale.average(comparison.fits, weights={"chinchilla": 0.5, "kaplan": 0.5})
plan = half_half.compute_optimal(budgets)
for i, budget in enumerate(budgets):
    own = {name: medians[i] for name, medians in plan.attrs["per_law_N_median"].items()}
    print(
        f"C = {budget:.1e}: N 90% [{plan['N_lower_90'].iloc[i]:.3g}, "
        f"{plan['N_upper_90'].iloc[i]:.3g}], median {plan['N_median'].iloc[i]:.3g}; "
        f"chinchilla's own median {own['chinchilla']:.3g}, kaplan's {own['kaplan']:.3g}"
    )

# %% [markdown]
# Each law alone gives a narrow interval around its own median; the 50/50 plan's interval runs
# from one to the other. The plan's median lies between the two, where neither law puts its
# optimum: with laws this far apart, read the interval (and each law's median), not the
# mixture's median. Which plan to follow is the question the held-out comparison above
# answers; the held-out weights here put all the weight on Chinchilla, and so does its
# plan.
#
# ## A recipe
#
# 1. Fit the candidate forms and `compare` them with `holdout_above` at one or more thresholds
#    below your largest runs.
# 2. If LOO and extrapolation agree and the lead is decisive, use the winner.
# 3. If they disagree, or the lead is within two standard errors, forecast with the average, and
#    report the spread between the laws as part of the uncertainty.
# 4. Check each fit's diagnostics (the verdict lists failures) before reading any of this.
#
# From the command line: `bayescale compare runs.csv --laws chinchilla,kaplan --holdout-above
# C=1e21 --out my-comparison` writes the tables, the verdict and the fits.
