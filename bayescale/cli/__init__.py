"""The ``bayescale`` command line: a thin layer over the library.

Commands: ``laws`` (the catalog), ``fit`` (sample a posterior and save it), ``forecast``
(loss at new scales from a saved fit), ``optimal`` and ``target`` (compute plans),
``isoflop`` (the runs' own IsoFLOP minima),
``compare`` (rank law forms), ``report`` (the due-diligence report of a fit) and ``demo``.
Every modelling decision lives in the library; a command parses its options, checks its
inputs and outputs, calls the library, and renders the result.

Layout (after DVC's ``commands/``): :mod:`._options` declares every shared option once,
:mod:`._guard` turns every failure into one ``error:`` line and an exit code (and refuses
an output that is an input), :mod:`._fits` reads the saved fit a command works from,
:mod:`._render` draws the tables, and :mod:`.commands` holds one module per command group.

Heavy modules (``bayescale.laws`` and ``bayescale.fitting`` import PyMC) are imported inside
the commands, after the inputs are checked, so that ``--help`` and input errors are quick.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from ._guard import Command, Group
from ._options import parse_mapping, parse_points
from .commands.compare import compare_command
from .commands.demo import demo_command
from .commands.fit import fit_command, forecast_command
from .commands.isoflop import isoflop_command
from .commands.laws import laws_command
from .commands.link import link_command
from .commands.next import next_command
from .commands.plan import optimal_command, target_command
from .commands.report import report_command
from .commands.sweep import sweep_command

__all__ = ["app", "main", "parse_mapping", "parse_points"]

app = typer.Typer(
    name="bayescale",
    cls=Group,
    help="Bayesian fitting and forecasting of neural scaling laws.",
    epilog=(
        "Exit codes: 0 success, 1 unexpected error, 2 bad input, "
        "3 --strict fit failed its diagnostics, 4 some fits of a sweep raised an error, "
        "130 interrupted, 143 terminated (SIGTERM)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# The order of --help.
for _name, _command in {
    "laws": laws_command,
    "fit": fit_command,
    "forecast": forecast_command,
    "demo": demo_command,
    "compare": compare_command,
    "optimal": optimal_command,
    "target": target_command,
    "isoflop": isoflop_command,
    "next": next_command,
    "report": report_command,
    "link": link_command,
    "sweep": sweep_command,
}.items():
    app.command(_name, cls=Command)(_command)


def _show_version(value: bool) -> None:
    if value:
        from bayescale import __version__

        typer.echo(f"bayescale {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Bayesian fitting and forecasting of neural scaling laws."""


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``bayescale`` command line (the console script's entry point).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    # A fixed program name: under ``python -m bayescale.cli`` usage lines would say "__main__.py".
    app(args=argv, prog_name="bayescale")
