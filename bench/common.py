"""Data, simulations, metrics and machine facts shared by the benchmark workers and the report.

Only NumPy and pandas here: every timed method imports its own libraries inside its worker,
so that import costs land in that method's "import" phase.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
EPOCH_CSV = SHARED / "chinchilla" / "svg_extracted_data.csv"
#: The loss evaluations of Gadre et al.'s runs (``overtrain/runs.csv``'s ``loss_*`` columns),
#: C4 validation (the paper's main one) first.
OVERTRAIN_LOSSES = (
    "loss_c4_val",
    "loss_openlm",
    "loss_paloma_c4_en",
    "loss_paloma_dolma_100_programing_languages",
    "loss_paloma_falcon_refinedweb",
    "loss_paloma_ptb",
    "loss_paloma_redpajama",
    "loss_de_en",
)
SCALEBENCH = SHARED / "scalebench"

#: Besiroglu et al. 2024, Table 1 (their refit of Hoffmann et al.'s Approach 3): the truth of
#: every Chinchilla simulation here.
TRUTH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
#: Truth of the other simulated laws (chosen to give Chinchilla-like losses over the designs).
TRUTH_POWER_LAW_N = {"E": 1.8172, "A": 482.01, "alpha": 0.3478}
TRUTH_DATA_CONSTRAINED = {**TRUTH, "R": 15.4}  # R: Muennighoff et al. 2023
TRUTH_BNSL = {"E": 1.7, "b": 40.0, "c0": 0.08, "c1": 0.1, "d1": 1e20, "f1": 0.5}
#: Noise of simulated runs on log loss: Student-t, as in bayescale's demo.
NOISE_SIGMA = 0.01
NOISE_NU = 5.0
LEVELS = (0.5, 0.8, 0.9)
COMPUTE_FACTOR = 6.0

PACKAGES = (
    "bayescale",
    "pymc",
    "pytensor",
    "nutpie",
    "numba",
    "arviz",
    "numpy",
    "scipy",
    "jax",
    "jaxlib",
    "numpyro",
)


# --------------------------------------------------------------------------- results files


def write_result(path: Path, text: str) -> None:
    """Replace a bench's report or results file atomically.

    An interrupted run must not leave half a file over the last good one, and a second process
    of the same bench, which rereads the results to merge its own, must never read half a file.
    """
    from bayescale._files import write_text

    write_text(path, text, overwrite=True)


@contextlib.contextmanager
def results_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a bench's results file while it is reread, merged and written.

    Two processes of a bench that merge their rows into one file would otherwise both read it
    before either writes, and the second write would drop the first's rows. The lock is on a
    ``.lock`` file beside it (POSIX ``flock``: released when the process ends, even killed).
    """
    import fcntl

    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- data


def epoch_chinchilla() -> pd.DataFrame:
    """The 245 points of Hoffmann et al.'s Figure 4 as extracted by Epoch AI.

    Returns
    -------
    pandas.DataFrame
        Columns ``N`` (parameters), ``D`` (tokens, ``C / (6 N)``), ``C`` (FLOPs), ``loss``.
    """
    raw = pd.read_csv(EPOCH_CSV)
    n = raw["Model Size"].to_numpy(dtype=float)
    c = raw["Training FLOP"].to_numpy(dtype=float)
    return pd.DataFrame(
        {"N": n, "D": c / (COMPUTE_FACTOR * n), "C": c, "loss": raw["loss"].to_numpy(float)}
    )


#: scalebench task -> (folder, {our input name: column in the parquet files}).
SCALEBENCH_TASKS: dict[str, tuple[str, dict[str, str]]] = {
    "farseer": ("farseer_scaling_law", {"N": "N", "D": "D"}),
    "data_constrained": (
        "data_constrained_scaling_law",
        {"N": "params", "D": "tokens", "U": "unique_tokens"},
    ),
}


def scalebench(task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test splits of a scalebench task (Li et al. 2026), columns renamed.

    Parameters
    ----------
    task : {"farseer", "data_constrained"}
        The task.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Train (small runs) and test (held-out larger runs), with columns ``N``, ``D``
        (and ``U``), ``C = 6 N D`` and ``loss``.
    """
    folder, mapping = SCALEBENCH_TASKS[task]
    out = []
    for split in ("train", "test"):
        raw = pd.read_parquet(SCALEBENCH / folder / f"{split}.parquet")
        frame = pd.DataFrame({k: raw[v].to_numpy(dtype=float) for k, v in mapping.items()})
        frame["C"] = COMPUTE_FACTOR * frame["N"] * frame["D"]
        frame["loss"] = raw["loss"].to_numpy(dtype=float)
        out.append(frame)
    return out[0], out[1]


# --------------------------------------------------------------------------- simulation


def chinchilla_loss(N: Any, D: Any, p: Mapping[str, float] = TRUTH) -> np.ndarray:
    """``E + A / N**alpha + B / D**beta``, written out directly."""
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def data_constrained_loss(
    N: Any, D: Any, U: Any, p: Mapping[str, float] = TRUTH_DATA_CONSTRAINED
) -> np.ndarray:
    """Muennighoff et al.'s law with effective data ``U' (1 + R (1 - exp(-(D/U' - 1)/R)))``."""
    N, D, U = (np.asarray(v, dtype=float) for v in (N, D, U))
    u = np.minimum(U, D)
    d_eff = u * (1.0 + p["R"] * (1.0 - np.exp(-(D / u - 1.0) / p["R"])))
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / d_eff ** p["beta"]


def bnsl_loss(C: Any, p: Mapping[str, float] = TRUTH_BNSL) -> np.ndarray:
    """Caballero et al.'s broken power law with one break, in compute."""
    C = np.asarray(C, dtype=float)
    return p["E"] + p["b"] * C ** -p["c0"] * (1.0 + (C / p["d1"]) ** (1.0 / p["f1"])) ** (
        -p["c1"] * p["f1"]
    )


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(NOISE_SIGMA * rng.standard_t(NOISE_NU, n))


def simulate(law: str, n: int, seed: int = 0) -> pd.DataFrame:
    """Runs simulated from a known law over a log-uniform design.

    Parameters
    ----------
    law : {"chinchilla", "power_law_N", "data_constrained", "bnsl"}
        The law (with the truths of this module).
    n : int
        Number of runs.
    seed : int
        Seed of the design and the noise.

    Returns
    -------
    pandas.DataFrame
        ``N`` in 1e7..1e10, ``D`` in 1e8..1e12 (log-uniform), ``C = 6 N D``, ``U`` (unique
        tokens, D / 10**uniform(0, 1.5)) and ``loss`` with Student-t noise on log loss
        (sigma 0.01, nu 5).
    """
    rng = np.random.default_rng(seed)
    N = 10 ** rng.uniform(7.0, 10.0, n)
    D = 10 ** rng.uniform(8.0, 12.0, n)
    U = D / 10 ** rng.uniform(0.0, 1.5, n)
    C = COMPUTE_FACTOR * N * D
    if law == "chinchilla":
        mean = chinchilla_loss(N, D)
    elif law == "power_law_N":
        p = TRUTH_POWER_LAW_N
        mean = p["E"] + p["A"] / N ** p["alpha"]
    elif law == "data_constrained":
        mean = data_constrained_loss(N, D, U)
    elif law == "bnsl":
        mean = bnsl_loss(C)
    else:
        raise ValueError(f"no simulation for law {law!r}")
    return pd.DataFrame({"N": N, "D": D, "C": C, "U": U, "loss": mean * _noise(rng, n)})


#: IsoFLOP budgets of the synthetic forecast task: Hoffmann et al.'s nine (6e18..3e21) to fit
#: on, and three larger ones (1e22, 1e23, 1e24 FLOPs) to forecast.
ISOFLOP_TRAIN = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)
ISOFLOP_TEST = (1e22, 1e23, 1e24)


def simulate_isoflop(seed: int, sizes: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A Chinchilla IsoFLOP study simulated from the truth, split by compute.

    Parameters
    ----------
    seed : int
        Seed of the noise (the design is fixed).
    sizes : int, default 12
        Model sizes per budget, geometrically spaced from 1/6 to 5 times the
        compute-optimal size.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Train (budgets up to 3e21 FLOPs, 108 runs) and test (1e22 to 1e24, 36 runs).
    """
    rng = np.random.default_rng(seed)
    p = TRUTH
    ratio = (p["alpha"] * p["A"]) / (p["beta"] * p["B"])

    def design(budgets: Sequence[float]) -> pd.DataFrame:
        rows = []
        for budget in budgets:
            n_opt = (ratio * (budget / COMPUTE_FACTOR) ** p["beta"]) ** (
                1 / (p["alpha"] + p["beta"])
            )
            for n in np.geomspace(n_opt / 6, n_opt * 5, sizes):
                rows.append((n, budget / (COMPUTE_FACTOR * n), budget))
        frame = pd.DataFrame(rows, columns=["N", "D", "C"])
        frame["loss"] = chinchilla_loss(frame["N"], frame["D"]) * _noise(rng, len(frame))
        return frame

    return design(ISOFLOP_TRAIN), design(ISOFLOP_TEST)


# --------------------------------------------------------------------------- metrics


def point_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R^2 (clipped to [-1, 1], as Li et al. 2026) and mean absolute relative error.

    Parameters
    ----------
    y : numpy.ndarray
        Observed losses.
    predicted : numpy.ndarray
        Point predictions.

    Returns
    -------
    dict
        ``r2`` and ``mare``.
    """
    y, predicted = np.asarray(y, dtype=float), np.asarray(predicted, dtype=float)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else float("nan")
    return {
        "r2": float(np.clip(r2, -1.0, 1.0)),
        "mare": float(np.mean(np.abs(predicted / y - 1.0))),
    }


def coverage(
    y: np.ndarray, lower: Mapping[float, np.ndarray], upper: Mapping[float, np.ndarray]
) -> dict[str, float]:
    """Share of observations inside each interval: ``{"coverage_50": ..., ...}``."""
    y = np.asarray(y, dtype=float)
    return {
        f"coverage_{round(100 * lv)}": float(np.mean((y >= lower[lv]) & (y <= upper[lv])))
        for lv in lower
    }


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """Facts about the machine and the software, for the report's header.

    Returns
    -------
    dict
        CPU model, cores, memory, OS, Python, package versions, git commit, load average.
    """
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.0f} GiB"
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit or "unknown",
        "load_average": os.getloadavg(),
    }
