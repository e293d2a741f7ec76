"""``bayescale demo``: fit Chinchilla to simulated runs and forecast a 70B model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from bayescale._format import format_number

from .._guard import check_folder_outputs, echo_warning, one_line, warnings_as_lines
from .._options import (
    SAMPLER_DEFAULTS,
    ChainsOption,
    DrawsOption,
    ForceOption,
    SeedOption,
    TargetAcceptOption,
    TuneOption,
    out_option,
    sampler_settings,
)
from .._render import (
    console,
    forecast_table,
    print_discrepancy,
    print_verdict,
    say,
    summary_table,
)

__all__ = ["demo_command"]


def demo_command(
    out: Annotated[Path, out_option("DIR", "Folder for the outputs.")] = Path("demo-output"),
    force: ForceOption = False,
    draws: DrawsOption = SAMPLER_DEFAULTS.draws,
    tune: TuneOption = SAMPLER_DEFAULTS.tune,
    chains: ChainsOption = SAMPLER_DEFAULTS.chains,
    target_accept: TargetAcceptOption = SAMPLER_DEFAULTS.target_accept,
    seed: SeedOption = SAMPLER_DEFAULTS.seed,
) -> None:
    """Fit Chinchilla to simulated runs and forecast a 70B model on 1.4T tokens.

    \f
    Parameters
    ----------
    out : Path, default "demo-output"
        Folder for the fit, the plot, the data, the forecast and the report.
    force : bool, default False
        Overwrite earlier outputs in `out`.
    draws, tune, chains, target_accept, seed
        Sampler settings, as in ``fit``; the seed also draws the data.
    """
    sampler = sampler_settings(draws, tune, chains, target_accept, seed)
    from bayescale.demo import OUTPUTS, TARGET, run_demo

    check_folder_outputs(out, list(OUTPUTS.values()), force)
    with warnings_as_lines() as shown:
        demo = run_demo(out, overwrite=force, sampler=sampler)
    console().print(summary_table(demo.fit, f"Posterior of {demo.fit.law.name} (demo data)"))
    print_verdict(demo.fit)
    print_discrepancy(demo.fit)
    warning = demo.forecast.attrs.get("warning")
    if warning and one_line(warning) not in shown:
        echo_warning(warning)
    where = ", ".join(f"{k}={format_number(v, 'size')}" for k, v in TARGET.items())
    console().print(forecast_table(demo.forecast, f"Forecast at {where}"))
    say("Files written:", style="bold")
    for name, path in demo.files.items():
        say(f"  {name}: {path}")
