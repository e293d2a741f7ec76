"""``bayescale sweep``: many fits from one spec, here or on a Dask cluster."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path
from typing import Annotated, Any

import typer

from bayescale.errors import BayescaleError, OutputExistsError

from .._guard import (
    EXIT_FITS_FAILED,
    EXIT_INTERRUPTED,
    check_not_inputs,
    check_output_folder,
    echo_error,
    echo_warning,
    warnings_as_lines,
)
from .._options import ForceOption
from .._render import console

__all__ = ["sweep_command"]

# A failed fit's message is shown on one line: long ones (a diagnostics verdict) are cut at
# a word, the whole text stays in the error column of results.csv.
_SHOWN = 300


def sweep_command(
    spec: Annotated[
        Path, typer.Argument(metavar="SPEC", help="The sweep's TOML spec (data, laws, cuts).")
    ],
    out: Annotated[
        str,
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
    force: ForceOption = False,
) -> None:
    """Run every fit of a sweep (responses x slices x laws x cuts) and tabulate them.

    Exits with 4 when a fit raised an error (its row's status is "error"; the error column
    of results.csv says why, and that of a fit that failed its diagnostics what failed).
    Ctrl-C (exit 130) and SIGTERM (exit 143) keep the finished fits: rerun to resume.

    \f
    Parameters
    ----------
    spec : Path
        The TOML spec (see :func:`bayescale.sweeps.load_spec`).
    out : str
        Output folder: ``results.csv``, ``sweep.json``, ``fits/``, ``rows/``.
    workers : int, optional
        Local Dask worker processes; 0 runs the fits one after another without Dask.
    scheduler : str, optional
        Address of a running Dask scheduler.
    retry_failed : bool, default False
        Redo the fits whose row says ``error``.
    force : bool, default False
        Run even if the folder holds the sweep of another spec (or of this spec file as it
        was before an edit), or files but no sweep: the folder becomes this spec's sweep
        (its results.csv and sweep.json are replaced; its other files and earlier fits are
        kept, and the fits this spec makes reused).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from bayescale.sweeps import (
        FORCE_DOES,
        SPEC_FILE,
        SweepInterrupted,
        folder_conflict,
        load_spec,
        sweep,
    )

    if not out.strip():
        raise BayescaleError("--out is empty; give the output folder, e.g. --out my-sweep")
    if workers is not None and scheduler is not None:
        raise BayescaleError(
            f"--workers {workers} and --scheduler {scheduler} are both given: --workers sets "
            f"the processes of a cluster on this machine, --scheduler runs on a running one "
            f"(with its own workers); give one of them"
        )
    folder = Path(out)
    check_output_folder(folder)
    plan = load_spec(spec)
    # What the run writes at the top of the folder; its fits and rows are named by hashes.
    check_not_inputs(
        [folder / "results.csv", folder / SPEC_FILE],
        [("the spec SPEC", spec), ("the spec's data", plan.data_source)],
    )
    # Another spec's sweep (this spec file before an edit too), or a folder of other files.
    conflict = None if force else folder_conflict(plan, folder)
    if conflict is not None:
        raise OutputExistsError(
            f"--out {conflict}; use another --out, or --force to {FORCE_DOES}", path=folder
        )
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

    try:
        with warnings_as_lines(), progress:
            table = sweep(
                plan,
                folder,
                workers=workers,
                scheduler=scheduler,
                retry_failed=retry_failed,
                overwrite=force,
                on_row=on_row,
            )
    except SweepInterrupted as stop:
        # The guard would say "nothing was written": the finished fits are kept.
        terminated = stop.signum == signal.SIGTERM
        echo_error(
            f"{'terminated (SIGTERM)' if terminated else 'interrupted'}: {stop.finished} of "
            f"{stop.total} fits are finished and kept in '{stop.out / 'rows'}'; rerun the "
            f"same command to resume"
        )
        # As a shell reports a process ended by the signal: 128 + its number.
        raise typer.Exit(128 + signal.SIGTERM if terminated else EXIT_INTERRUPTED) from None
    results = folder / "results.csv"
    counts = table["status"].value_counts() if len(table) else {}
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "diagnostics failed", "error"))
    console().print(f"{len(table)} fits in {results}: {summary}")
    fitted_now = set(table.attrs.get("fitted", ()))
    failed = table[table["status"] != "ok"] if len(table) else table
    for _, row in failed.iterrows():
        where = ", ".join(
            str(row[c])
            for c in ("response", *plan.split_by, "law", "holdout")
            if c in row and str(row[c]) != "nan"
        )
        earlier = (
            " (from an earlier run; --retry-failed redoes it)"
            if row["status"] == "error" and row["key"] not in fitted_now
            else ""
        )
        lines = str(row["error"]).splitlines() or [""]
        text = textwrap.shorten(lines[0], _SHOWN, placeholder=" [...]")
        echo_warning(f"{row['status']}{earlier}: {where}: {text}")
    errors = int(counts.get("error", 0)) if len(table) else 0
    if errors:
        echo_error(
            f"{errors} of {len(table)} fits failed: see the error column of {results}; fix "
            f"and rerun with --retry-failed"
        )
        raise typer.Exit(EXIT_FITS_FAILED)
