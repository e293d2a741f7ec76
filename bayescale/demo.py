"""The main job on embedded data: simulate Chinchilla-like runs, fit, forecast, plot, save.

The runs are generated here, not copied from anywhere: losses are drawn from the Chinchilla
law with the parameters published by Besiroglu et al. 2024 ("Chinchilla Scaling: A
replication attempt", arXiv:2404.10102, Table 1: E = 1.8172, A = 482.01, B = 2085.43,
alpha = 0.3478, beta = 0.3658), on an IsoFLOP design like Hoffmann et al. 2022's (Figure 3:
nine compute budgets from 6e18 to 3e21 FLOPs, model sizes around each budget's optimum,
D = C / (6 N)), with Student-t noise on log loss (sigma 0.01, nu 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale import _files
from bayescale.data import Runs, load_runs
from bayescale.errors import BayescaleError, OutputExistsError
from bayescale.fitting import Fit, fit
from bayescale.settings import SamplerSettings

__all__ = [
    "BUDGETS",
    "TARGET",
    "TARGET_LOSS",
    "TRUE_PARAMETERS",
    "DemoResult",
    "demo_runs",
    "run_demo",
]

#: Besiroglu et al. 2024, Table 1 (their refit of Hoffmann et al.'s Approach 3).
TRUE_PARAMETERS = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
#: Hoffmann et al. 2022, Figure 3: the IsoFLOP budgets.
BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)
#: The forecast the demo makes: Chinchilla itself (70B parameters, 1.4T tokens).
TARGET = {"N": 70e9, "D": 1.4e12}
NOISE_SIGMA = 0.01
NOISE_NU = 5.0
SIZES_PER_BUDGET = 12
#: The loss the demo's report asks about: its probability at Chinchilla's scale, and the
#: compute that reaches it.
TARGET_LOSS = 2.0
OUTPUTS = {
    "data": "runs.csv",
    "fit": "fit.nc",
    "plot": "fit.png",
    "forecast": "forecast.csv",
    "report": "report.html",
}


def demo_runs(seed: int = 0) -> Runs:
    """Simulate a Chinchilla-like set of training runs.

    Parameters
    ----------
    seed : int, default 0
        Seed of the noise; the design is fixed.

    Returns
    -------
    Runs
        108 runs (9 budgets x 12 sizes) with inputs N, D, C and the loss.
    """
    rng = np.random.default_rng(seed)
    p = TRUE_PARAMETERS
    rows = []
    for budget in BUDGETS:
        # Model sizes spanning a factor of 30 around the budget's compute-optimal size.
        ratio = (p["alpha"] * p["A"]) / (p["beta"] * p["B"])
        n_opt = (ratio * (budget / 6) ** p["beta"]) ** (1 / (p["alpha"] + p["beta"]))
        for n in np.geomspace(n_opt / 6, n_opt * 5, SIZES_PER_BUDGET):
            d = budget / (6 * n)
            loss = p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]
            noise = NOISE_SIGMA * rng.standard_t(NOISE_NU)
            rows.append({"N": n, "D": d, "C": budget, "loss": loss * np.exp(noise)})
    return load_runs(pd.DataFrame(rows), x={"N": "N", "D": "D", "C": "C"}, y="loss")


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced.

    Attributes
    ----------
    fit : Fit
        The Chinchilla fit.
    forecast : pandas.DataFrame
        The forecast at :data:`TARGET`.
    files : dict of str to Path
        ``data`` (runs.csv), ``fit`` (fit.nc), ``plot`` (fit.png), ``forecast`` (forecast.csv),
        ``report`` (report.html, the due-diligence report).
    """

    fit: Fit
    forecast: pd.DataFrame
    files: dict[str, Path]


def run_demo(
    out: str | Path = "demo-output",
    *,
    overwrite: bool = False,
    sampler: SamplerSettings | Mapping[str, Any] | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    force: bool | None = None,
) -> DemoResult:
    """Fit the Chinchilla law to the embedded runs, forecast Chinchilla's scale, write results.

    The last output is the due-diligence report (``report.html``): the forecast at
    :data:`TARGET`, the probability of reaching :data:`TARGET_LOSS` and everything a reviewer
    needs to check the fit.

    Parameters
    ----------
    out : str or Path, default "demo-output"
        Folder to write into (created if missing).
    overwrite : bool, default False
        Replace earlier demo outputs in ``out``.
    sampler : SamplerSettings or mapping, optional
        Sampler settings (see :func:`bayescale.fit`); the keywords below override it.
    draws, tune, chains, seed : int, optional
        Sampler settings (see :func:`bayescale.fit`).
    progress : bool, optional
        Show the sampler's progress bar.
    force : bool, optional
        Former name of ``overwrite``.

    Returns
    -------
    DemoResult
        The fit, the forecast and the files written.

    Raises
    ------
    OutputExistsError
        If ``out`` holds demo outputs already and ``overwrite`` is False (checked before
        any work, so nothing is written).
    """
    from bayescale.plots import plot_fit, save_figure
    from bayescale.report import write_report

    overwrite = bool(overwrite or force)
    settings = SamplerSettings.of(
        sampler, draws=draws, tune=tune, chains=chains, seed=seed, progress=progress
    )
    folder = Path(out)
    files = {name: folder / filename for name, filename in OUTPUTS.items()}
    existing = [str(path) for path in files.values() if path.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{', '.join(existing)} exist already; choose another folder", path=folder
        )
    if folder.exists() and not folder.is_dir():
        raise BayescaleError(f"'{folder}' exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BayescaleError(f"cannot create folder '{folder}': {err.strerror}") from None
    for path in files.values():
        _files.check_destination(path, overwrite=True)

    runs = demo_runs(settings.seed)
    result = fit(runs, "chinchilla", sampler=settings)
    table = result.forecast(TARGET, level=(0.5, 0.9))
    _write_csv(runs.table.rename(columns={"y": runs.y_name}), files["data"])
    _write_csv(table, files["forecast"])
    result.save(files["fit"], overwrite=True)
    save_figure(plot_fit(result, budgets=BUDGETS, targets=[TARGET]), files["plot"], overwrite=True)
    write_report(
        result,
        files["report"],
        overwrite=True,
        at=[TARGET],
        target_loss=TARGET_LOSS,
        fit_path=files["fit"],
    )
    return DemoResult(result, table, files)


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    _files.write_text(path, table.to_csv(index=False), overwrite=True)
