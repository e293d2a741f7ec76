# The two commands of the README: `make demo` and `make test`. Each creates .venv (plain venv +
# pip, the project installed editable with its test tools) when it is missing or when
# pyproject.toml changed, then does its job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bayescale-installed

.PHONY: demo test test-fast bench bench-quick bench-calibration bench-convergence bench-hierarchy bench-recommend bench-downstream bench-sweep lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bayescale demo --out demo-output --force

# Two processes, a test file each at a time (the files' shared fits are made once per process).
test: $(STAMP)
	$(BIN)/python -m pytest -ra -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -ra -n 2 --dist loadfile -m "not slow"

# The benchmarks need the baselines' packages too (the `bench` extra: NumPyro, JAX).
BENCH_STAMP := $(VENV)/.bayescale-bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py --out bench/results.md
	$(BIN)/python bench/calibration.py --out bench/calibration.md
	$(BIN)/python bench/hierarchy.py --out bench/hierarchy.md
	$(BIN)/python bench/downstream.py --out bench/downstream.md
	$(BIN)/python bench/sweep.py --out bench/sweep.md
	$(BIN)/python bench/recommend.py --seeds 3 --out bench/recommend.md
	$(BIN)/python bench/recommend.py --ceiling --out bench/recommend.md

bench-quick: $(BENCH_STAMP)
	$(BIN)/python bench/run.py --quick --out bench/results/quick.md

# Calibration far from the data: bayescale, its backtest discrepancy and the bootstrapped point
# fit on held-out larger runs (NumPy/SciPy only: no bench extra). A few minutes on 2 cores.
bench-calibration: $(STAMP)
	$(BIN)/python bench/calibration.py --out bench/calibration.md

# Hierarchical fits (issue 13): partial pooling against each dataset alone and complete pooling
# on Gadre et al.'s three datasets (held-out larger runs), and the speed of a hierarchical fit
# against the single-law Epoch fit in fresh processes. NumPy/SciPy only. About 30 min on 2 cores.
bench-hierarchy: $(STAMP)
	$(BIN)/python bench/hierarchy.py --out bench/hierarchy.md

# Which run next (issue 14): sequential selection on scalebench; ~3 min per farseer seed,
# ~5 min per data_constrained seed (4 of them the per-cost ablation) on 2 cores.
bench-recommend: $(STAMP)
	$(BIN)/python bench/recommend.py --seeds 3 --out bench/recommend.md
	$(BIN)/python bench/recommend.py --ceiling --out bench/recommend.md

# Downstream errors through the loss (issue 15): Gadre et al.'s protocol, ~10 min.
bench-downstream: $(BENCH_STAMP)
	$(BIN)/python bench/downstream.py --out bench/downstream.md

# Sweep throughput (issue 16): Dask on the cores against the in-process loop.
bench-sweep: $(STAMP)
	$(BIN)/python bench/sweep.py --out bench/sweep.md

# Convergence corpus of issue 11: every catalog law, published laws as formulas on real and
# simulated sweeps (3-20 parameters, up to 3,000 runs), each fitted with default settings in its
# own process, against a 100-start Huber point fit. NumPy/SciPy only. About an hour on 2 cores.
bench-convergence: $(STAMP)
	$(BIN)/python bench/convergence.py --out bench/convergence.md

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
