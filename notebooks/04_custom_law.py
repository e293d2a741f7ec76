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
# # Writing your own law
#
# The catalog (`bayescale laws`) holds the common forms, but a scaling-law study often needs a
# variant: a shared exponent, an extra term, a different floor. A law in bayescale is a formula
# plus a prior for each parameter. This notebook:
#
# 1. writes a law from Python with `Law.from_formula`, with priors stated at the runs' reference
#    scale (`at_reference`);
# 2. shows that formulas are parsed against a whitelist, never evaluated by Python;
# 3. fits the law and plans compute with it;
# 4. writes the same law as a TOML file in the format of the catalog (`models/*.toml`) and fits
#    it from the file, as `bayescale fit --law my_law.toml` would.
#
# The example law asks a real question: **is the 20-tokens-per-parameter rule independent of
# scale?** In the Chinchilla law `E + A / N**alpha + B / D**beta` the compute-optimal number of
# tokens per parameter changes with compute as `C**((alpha - beta) / (alpha + beta))`; it is
# constant exactly when `alpha == beta`. So we write the Chinchilla law with one shared exponent.

# %%
import tempfile
from pathlib import Path

import numpy as np

import bayescale
from bayescale.demo import TRUE_PARAMETERS, demo_runs

WORK = Path(tempfile.mkdtemp(prefix="bayescale-custom-law-"))  # nothing lands in the repository

# %% [markdown]
# ### Sampler settings
#
# The fits use 2 chains x 500 draws after 500 tuning steps to keep this notebook fast. **Real
# analyses should use the defaults** (4 chains x 1000 draws after 1000 tuning steps). A new law
# compiles once per Python process (20-30 s); fits of the same formula with the same priors
# reuse the compiled model.

# %%
SAMPLER = {"draws": 500, "tune": 500, "chains": 2, "seed": 0}

# %% [markdown]
# ## 1. The law from Python
#
# Every name in the formula that has a prior is a parameter; the others are inputs (here `N`
# and `D`; `C` is also available, with `C = 6 N D`). Priors are written as
# `{"dist": <PyMC distribution>, **its parameters}`.
#
# **Why state a prior at the reference scale?** The coefficient `A` in `A / N**alpha` has no
# meaning on its own: its value depends on the units of N and it is tightly correlated with
# `alpha` (a slightly larger exponent needs a much larger `A` to fit the same runs).
# `at_reference={"A": ("N", "alpha")}` puts the prior on `A / N_ref**alpha` instead: the loss the
# N-term adds at the runs' typical size `N_ref` (their geometric mean). That quantity is easy to
# reason about (a fraction of a nat to a few nats: `LogNormal(-0.7, 1.5)` has median 0.5) and
# nearly uncorrelated with `alpha`, which also makes the sampler fast. `A` itself is what the
# posterior reports.
#
# Roles (`floor` for `E`, `exponent` for names starting with alpha/beta/gamma, `coefficient`
# otherwise) are guessed from the names; pass `roles=` to override them.

# %%
PRIORS = {
    "E": {"dist": "LogNormal", "mu": 0.4, "sigma": 1.0},
    "A": {"dist": "LogNormal", "mu": -0.7, "sigma": 1.5},
    "B": {"dist": "LogNormal", "mu": -0.7, "sigma": 1.5},
    "alpha": {"dist": "LogNormal", "mu": -1.2, "sigma": 0.75},
}
law = bayescale.Law.from_formula(
    "E + A / N**alpha + B / D**alpha",
    priors=PRIORS,
    name="shared_exponent",
    inputs={"N": "parameters", "D": "training tokens"},
    at_reference={"A": ("N", "alpha"), "B": ("D", "alpha")},
    title="Chinchilla with one exponent for N and D",
)
print(law.describe())

# %% [markdown]
# ## 2. Formulas are parsed, never evaluated
#
# A law file may come from a colleague, a paper's supplement or a pull request, so a formula
# must not be able to run code. bayescale parses it into a small tree of numbers, names,
# `+ - * / **` (or `^`), parentheses and a fixed list of functions (`log exp sqrt log1p expm1
# softplus logaddexp logsumexp minimum maximum`). Anything else is refused with a
# `FormulaError` that says what is not allowed, before anything is built or run:

# %%
hostile = [
    "__import__('os').system('rm -rf ~')",
    "E + A.__class__.__bases__",
    "E + eval('A') / N**alpha",
    "E + A / N**alpha if N > 0 else 0",
]
for formula in hostile:
    try:
        bayescale.Law.from_formula(formula, priors={})
    except bayescale.FormulaError as err:
        print(f"refused: {err}\n")

# %% [markdown]
# Honest mistakes get equally direct messages (`LawError`): a prior for a name the formula
# does not use (a misspelt parameter, say) is refused. A parameter you give no prior is not
# an error: it gets a weakly informative default chosen by its role in the formula (read
# from the formula's structure, not from its name), with a `why` that says so, and the
# report shows it.

# %%
try:
    bayescale.Law.from_formula(
        "E + A / N**alpha",
        priors={"E": PRIORS["E"], "Alpha": PRIORS["alpha"]},
        inputs={"N": "parameters"},
    )
except bayescale.LawError as err:
    print(f"refused: {err}")

defaulted = bayescale.Law.from_formula(
    "E + A / N**alpha", priors={"E": PRIORS["E"]}, inputs={"N": "parameters"}
)
for p in defaulted.parameters.values():
    print(f"{p.name:6} {p.role:12} {p.describe_prior()}\n       {p.why}")

# %% [markdown]
# ## 3. Fit it
#
# `bayescale.fit` takes the `Law` object where it would take a catalog name. The runs are
# simulated from the Chinchilla law with Besiroglu et al.'s parameters, where alpha and beta
# differ a little, so we know what the shared exponent should land near.

# %%
runs = demo_runs(0)
fit = bayescale.fit(runs, law, **SAMPLER)
print(fit)
print(fit.diagnostics.verdict())
print(fit.summary().round(4).to_string())
print(
    f"\ntruth: alpha = {TRUE_PARAMETERS['alpha']}, beta = {TRUE_PARAMETERS['beta']}; "
    f"shared exponent: posterior median {fit.summary().loc['alpha', 'median']:.4f}"
)

# %% [markdown]
# Every tool works with the new law. `compute_optimal` has a closed form only for the
# Chinchilla form; for any other law with inputs N and D it searches the optimal split
# numerically for every posterior draw.

# %%
optimal = fit.compute_optimal(C=[1e21, 1e23, 1e25])
for _, row in optimal.iterrows():
    print(
        f"C = {row['C']:.0e} FLOPs: tokens per parameter {row['tokens_per_parameter_median']:.1f} "
        f"(90%: {row['tokens_per_parameter_lower_90']:.1f} to "
        f"{row['tokens_per_parameter_upper_90']:.1f}), N_opt {row['N_median']:.3g}"
    )

# %% [markdown]
# As designed, the shared exponent makes the optimal ratio the same at every budget, and its
# interval stays narrow however far we extrapolate. That certainty comes from the assumption
# `alpha == beta`, not from the data: the Chinchilla law, with two exponents, leaves the ratio
# free to drift with compute, and its interval widens with the budget (see the compute-optimal
# table of notebook `02_chinchilla_replication.py`). Whether the data support the assumption
# is a question for `bayescale.compare` (notebook `03_comparing_laws.py`): fit both laws and
# compare them by PSIS-LOO and on held-out larger runs.

# %% [markdown]
# ## 4. The same law as a file
#
# To share a law, or to use it from the command line, write it in the catalog's TOML format
# (see `models/chinchilla.toml`). Each parameter has a role, a prior, optionally
# `at_reference`, and a `why`: the reasoning behind the prior, which `bayescale laws <name>`
# shows to the next reader. Published values, if any, go in `[published."Author Year"]` tables.

# %%
LAW_TOML = '''
name = "shared_exponent"
title = "Chinchilla with one exponent for N and D"
reference = "Hoffmann et al. 2022, arXiv:2203.15556, eq. 2, with alpha = beta"
formula = "E + A / N**alpha + B / D**alpha"
description = """
The Chinchilla law with a shared exponent: the compute-optimal number of tokens per parameter
is then the same at every compute budget."""

[inputs]
N = "parameters"
D = "training tokens"

[parameters.E]
role = "floor"
prior = { dist = "LogNormal", mu = 0.4, sigma = 1.0 }
why = "Irreducible loss in nats: median 1.5, 95% between 0.21 and 10.6."

[parameters.A]
role = "coefficient"
prior = { dist = "LogNormal", mu = -0.7, sigma = 1.5 }
at_reference = { input = "N", power = "alpha" }
why = "Stated as A / N_ref**alpha: the N-term's loss at the runs' typical size (median 0.5 nats)."

[parameters.B]
role = "coefficient"
prior = { dist = "LogNormal", mu = -0.7, sigma = 1.5 }
at_reference = { input = "D", power = "alpha" }
why = "As A, for the D-term at the runs' typical token count."

[parameters.alpha]
role = "exponent"
prior = { dist = "LogNormal", mu = -1.2, sigma = 0.75 }
why = "Shared exponent of N and D: median 0.30, 95% between 0.07 and 1.3."

[likelihood]
family = "student_t"
sigma = { dist = "HalfNormal", sigma = 0.1 }
nu = { dist = "Gamma", alpha = 2.0, beta = 0.1 }
why = "Robust multiplicative noise on log loss, as in the catalog's laws."
'''
law_file = WORK / "shared_exponent.toml"
law_file.write_text(LAW_TOML.lstrip(), encoding="utf-8")

from_file = bayescale.Law.from_file(law_file)
print(from_file.describe())
print("\nA:", from_file.parameters["A"].why)

# %% [markdown]
# `bayescale.fit` also accepts the path of a `.toml` file in place of a law name (on the command
# line: `bayescale fit runs.csv --law shared_exponent.toml ...`). The file describes the same
# model as the Python law, so this fit reuses the compiled model and, with the same data and
# seed, reproduces the same posterior.

# %%
fit_from_file = bayescale.fit(runs, str(law_file), **SAMPLER)
print(fit_from_file)
medians = fit.summary()["median"]
medians_from_file = fit_from_file.summary()["median"]
both = medians.to_frame("Law.from_formula").join(medians_from_file.to_frame("TOML file"))
print("posterior medians, Python law vs file:")
print(both.to_string(float_format="{:.4g}".format))
draws, draws_from_file = fit.draws(), fit_from_file.draws()
identical = all(np.array_equal(draws[name], draws_from_file[name]) for name in draws)
print("identical posterior draws:", identical)

# %% [markdown]
# ## Where to go from here
#
# * To add the law to the catalog for everyone, put the file in `models/` (with its reasoning
#   in each `why`); `bayescale laws` lists it and `bayescale.get_law("shared_exponent")` finds it.
# * Replace the priors of any law without writing a new one: `bayescale.fit(runs, "chinchilla",
#   priors={"E": {"dist": "LogNormal", "mu": 0.6, "sigma": 0.3}})`.
# * Functions in formulas are evaluated in a numerically stable log form, so inputs such as
#   N ~ 1e12 or C ~ 1e25 do not overflow.
