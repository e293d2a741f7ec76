"""``bayescale sweep``: many fits from one spec, here or on a Dask cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .._guard import echo_warning
from .._render import console

__all__ = ["sweep_command"]


def sweep_command(
    spec: Annotated[
        Path, typer.Argument(metavar="SPEC", help="The sweep's TOML spec (data, laws, cuts).")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Output folder; a rerun with the same folder skips the finished fits.",
        ),
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="Local worker processes (default: the cores); 0 runs in this process.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="A running Dask scheduler, e.g. tcp://host:8786, instead of local workers.",
        ),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Redo the fits that raised an error.")
    ] = False,
) -> None:
    """Run every fit of a sweep (responses x slices x laws x cuts) and tabulate them.

    \f
    Parameters
    ----------
    spec : Path
        The TOML spec (see :func:`bayescale.sweeps.load_spec`).
    out : Path
        Output folder: ``results.csv``, ``fits/``, ``rows/``.
    workers : int, optional
        Local Dask worker processes; 0 runs the fits one after another without Dask.
    scheduler : str, optional
        Address of a running Dask scheduler.
    retry_failed : bool, default False
        Redo the fits whose row says ``error``.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from bayescale.sweeps import load_spec, sweep

    plan = load_spec(spec)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console(),
        transient=True,
    )
    bar: dict[str, Any] = {}

    def on_row(row: dict[str, Any], finished: int, total: int) -> None:
        if "id" not in bar:
            bar["id"] = progress.add_task("fits", total=total)
        progress.update(bar["id"], completed=finished)

    with progress:
        table = sweep(
            plan,
            out,
            workers=workers,
            scheduler=scheduler,
            retry_failed=retry_failed,
            on_row=on_row,
        )
    counts = table["status"].value_counts() if len(table) else {}
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "diagnostics failed", "error"))
    console().print(f"{len(table)} fits in {out / 'results.csv'}: {summary}")
    failed = table[table["status"] != "ok"] if len(table) else table
    for _, row in failed.iterrows():
        where = ", ".join(
            str(row[c])
            for c in ("response", *plan.split_by, "law", "holdout")
            if c in row and str(row[c]) != "nan"
        )
        echo_warning(f"{row['status']}: {where}: {str(row['error']).splitlines()[0][:200]}")
