"""The ``bayescale`` command line: a thin layer over the library.

Commands: ``laws`` (the catalog), ``fit`` (sample a posterior and save it), ``forecast``
(loss at new scales from a saved fit), ``report`` (the due-diligence report of a fit) and
``demo``. Every modelling decision lives in the library; this module parses arguments, calls
it, and renders the results.

Errors are reported as one line on stderr starting with ``error:`` and no traceback;
exit codes: 0 success, 1 unexpected error (a bug), 2 bad input or usage, 3 a ``--strict``
fit failed its diagnostics, 130 interrupted.

Heavy modules (``bayescale.fitting`` imports PyMC) are imported inside the commands that
need them, so that ``--help`` and argument errors do not pay for them.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# typer >= 0.29 vendors click and does not re-export these three; they are needed to turn
# usage errors into the one-line format used for every other error.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from bayescale.errors import BayescaleError, ConvergenceError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from bayescale.fitting import Fit
    from bayescale.laws import Law

__all__ = ["app", "main"]

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_NOT_CONVERGED = 3
EXIT_INTERRUPTED = 130

DEBUG_ENV = "BAYESCALE_DEBUG"
DEMO_AT = {"N": 70e9, "D": 1.4e12}

# OS errors that come from what the user asked for (a path), not from a bug.
_USER_OS_ERRORS = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
)


class OutputFormat(StrEnum):
    """Output formats of ``bayescale forecast``."""

    table = "table"
    csv = "csv"
    json = "json"


# -- error handling --------------------------------------------------------------------


# Options shared by several commands, declared once.
LevelOption = Annotated[float, typer.Option(help="Credible level.")]
FixedOption = Annotated[
    list[str] | None,
    typer.Option("--fixed", metavar="NAME=VALUE", help="Other inputs, e.g. U=1e11."),
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
DrawsOption = Annotated[int, typer.Option(min=1, help="Draws kept per chain.")]
TuneOption = Annotated[int, typer.Option(min=1, help="Tuning steps per chain.")]
ChainsOption = Annotated[int, typer.Option(min=1, help="Chains.")]


def _one_line(text: object) -> str:
    """Collapse whitespace so that a message is exactly one line."""
    return " ".join(str(text).split())


def _echo_error(message: str) -> None:
    # Plain echo, not rich: rich would hard-wrap a long message onto several lines.
    typer.echo(f"{typer.style('error:', fg='red', bold=True)} {_one_line(message)}", err=True)


def _echo_warning(message: str) -> None:
    typer.echo(f"{typer.style('warning:', fg='yellow', bold=True)} {_one_line(message)}", err=True)


def _usage_message(exc: UsageError) -> str:
    """Click's message, lower-cased like ours, with a pointer to the command's help."""
    text = _one_line(exc.format_message()).rstrip(".")
    text = text[:1].lower() + text[1:]
    if exc.ctx is not None:
        text += f" (see '{exc.ctx.command_path} --help')"
    return text


def _run_guarded(invoke: Callable[[], Any]) -> int:
    """Run the command line and turn every exception into an exit code and one line.

    Parameters
    ----------
    invoke : callable
        Runs click's parsing and the command, in non-standalone mode.

    Returns
    -------
    int
        The exit code.
    """
    try:
        result = invoke()
    except NoArgsIsHelpError:
        # typer printed the help already, as click does; keep click's exit code.
        return EXIT_USAGE
    except UsageError as exc:
        _echo_error(_usage_message(exc))
        return EXIT_USAGE
    except ClickException as exc:
        _echo_error(exc.format_message())
        return EXIT_USAGE
    except typer.Abort:
        _echo_error("aborted")
        return EXIT_UNEXPECTED
    except ConvergenceError as exc:
        _echo_error(f"{exc}; nothing was written")
        return EXIT_NOT_CONVERGED
    except BayescaleError as exc:
        _echo_error(str(exc))
        return EXIT_USAGE
    except _USER_OS_ERRORS as exc:
        where = f": '{exc.filename}'" if exc.filename is not None else ""
        _echo_error(f"{exc.strerror or exc}{where}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _echo_error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        # A bug: the traceback helps a developer, but only on request.
        if os.environ.get(DEBUG_ENV) == "1":
            traceback.print_exc(file=sys.stderr)
            hint = "please report it with the command line and the traceback above"
        else:
            hint = f"please report it with the command line (set {DEBUG_ENV}=1 for a traceback)"
        _echo_error(f"unexpected {type(exc).__name__}: {_one_line(exc) or '(no message)'}; {hint}")
        return EXIT_UNEXPECTED
    # typer returns the code of an explicit Exit (e.g. 0 after --help) in non-standalone mode.
    return result if isinstance(result, int) else EXIT_OK


class _Group(TyperGroup):
    """The command group, with errors reported as single lines (also under CliRunner)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Parse `args`, run the command, and exit with its code.

        Parameters
        ----------
        args : sequence of str, optional
            Arguments; default ``sys.argv[1:]``.
        prog_name : str, optional
            Program name shown in usage lines.
        complete_var : str, optional
            Environment variable of shell completion.
        standalone_mode : bool, default True
            Exit the process with the code (else return it).
        windows_expand_args : bool, default True
            Expand wildcards on Windows.
        **extra
            Passed on to the context.

        Returns
        -------
        int
            The exit code, when `standalone_mode` is False.
        """
        code = _run_guarded(
            lambda: super(_Group, self).main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    name="bayescale",
    cls=_Group,
    help="Bayesian fitting and forecasting of neural scaling laws.",
    epilog=(
        "Exit codes: 0 success, 1 unexpected error, 2 bad input, "
        "3 --strict fit failed its diagnostics."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


# -- rendering helpers ------------------------------------------------------------------


def _console(stderr: bool = False) -> Console:
    """A rich console on the current stream (tests swap sys.stdout, so never cache it)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _clean_exponent(text: str) -> str:
    """``1.2e+23`` -> ``1.2e23``, ``3e-05`` -> ``3e-5``."""
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{'-' if m[1] == '-' else ''}{m[2]}", text)


def _number(value: float, digits: int = 4, *, zeros: bool = True) -> str:
    """A number with `digits` significant digits and a compact exponent.

    Trailing zeros are kept by default (``2.000``, not ``2``) so that the numbers of a
    column line up and show their precision.
    """
    if not math.isfinite(value):
        return str(value)
    text = f"{value:#.{digits}g}" if zeros else f"{value:.{digits}g}"
    return _clean_exponent(text.replace(".e", "e").removesuffix("."))


_SCALE_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def _scale(value: float) -> str:
    """A size or count as ML papers write it: 70B, 1.4T; beyond 1e15 in e-notation."""
    magnitude = abs(value)
    if math.isfinite(value) and 1e3 <= magnitude < 1e15:
        for factor, suffix in _SCALE_SUFFIXES:
            if magnitude >= factor:
                return f"{_number(value / factor, 3, zeros=False)}{suffix}"
    return _number(value, 3, zeros=False)


def _interval(low: float, high: float, digits: int = 4) -> str:
    return f"[{_number(low, digits)}, {_number(high, digits)}]"


def _prior_text(prior: Any) -> str:
    """A Prior as ``LogNormal(mu=0.4, sigma=1)``."""
    args = ", ".join(f"{k}={_number(float(v), zeros=False)}" for k, v in prior.parameters.items())
    return f"{prior.distribution}({args})"


def _paragraph(text: str) -> str:
    """Reflow text from TOML triple-quoted strings, whose line breaks are not meaningful."""
    return " ".join(text.split())


def _summary_table(result: Fit, title: str) -> Table:
    """Posterior summary of every parameter, with failing diagnostics in red.

    The mean and the role are left out so that the table fits 80 columns; ``bayescale laws
    NAME`` shows the roles, and the library's ``Fit.summary()`` has every column.
    """
    from rich import box
    from rich.table import Table

    from bayescale.fitting import RHAT_MAX

    summary = result.summary()
    lower = next(c for c in summary.columns if c.endswith("_lower"))
    upper = next(c for c in summary.columns if c.endswith("_upper"))
    level = lower.removeprefix("hdi_").removesuffix("_lower")
    ess_min = result.diagnostics.ess_min
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("parameter", style="bold", no_wrap=True)
    table.add_column("median", justify="right", no_wrap=True)
    table.add_column(f"{level}% HDI", justify="center", no_wrap=True)
    table.add_column("sd", justify="right", no_wrap=True)
    table.add_column("R-hat", justify="right", no_wrap=True)
    table.add_column("ESS bulk", justify="right")
    table.add_column("ESS tail", justify="right")
    for name, row in summary.iterrows():

        def flag(text: str, bad: bool) -> str:
            return f"[red]{text}[/red]" if bad else text

        table.add_row(
            str(name),
            _number(row["median"]),
            _interval(row[lower], row[upper]),
            _number(row["sd"], 3),
            flag(f"{row['r_hat']:.3f}", not row["r_hat"] <= RHAT_MAX),
            flag(f"{row['ess_bulk']:.0f}", not row["ess_bulk"] >= ess_min),
            flag(f"{row['ess_tail']:.0f}", not row["ess_tail"] >= ess_min),
        )
    return table


def _print_verdict(console: Console, result: Fit) -> None:
    style = "bold green" if result.ok else "bold red"
    # soft_wrap: one logical line, wrapped by the terminal, not by rich.
    console.print(result.diagnostics.verdict(), style=style, soft_wrap=True, markup=False)


def _forecast_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The input columns (before ``law_median``) and the level tags (``"90"``, ...)."""
    columns = list(frame.columns)
    inputs = columns[: columns.index("law_median")] if "law_median" in columns else []
    tags = [c.removeprefix("law_lower_") for c in columns if c.startswith("law_lower_")]
    return inputs, tags


def _forecast_table(frame: pd.DataFrame, title: str) -> Table:
    """Forecast as a table: per point, a row for the law and one for a new run.

    One row per kind keeps the table within 80 columns with two credible levels, where one
    wide row per point would not fit.
    """
    from rich import box
    from rich.table import Table

    inputs, tags = _forecast_columns(frame)
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        caption=(
            "law: the law's value (credible interval); new run: the loss of one more run "
            "(predictive interval); extrap.: largest ratio of an input to its maximum in "
            "the data (> 1: beyond the data)"
        ),
        caption_justify="left",
    )
    for name in inputs:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("median", justify="right", no_wrap=True, style="bold")
    for tag in tags:
        table.add_column(f"{tag}% interval", justify="center")
    table.add_column("extrap.", justify="right", no_wrap=True)
    last = len(frame) - 1
    for position, (_, row) in enumerate(frame.iterrows()):
        extrapolation = float(row.get("extrapolation", float("nan")))
        ratio = f"{_number(extrapolation, 3, zeros=False)}x"
        table.add_row(
            *[_scale(float(row[name])) for name in inputs],
            "law",
            _number(row["law_median"]),
            *[_interval(row[f"law_lower_{t}"], row[f"law_upper_{t}"]) for t in tags],
            f"[yellow]{ratio}[/yellow]" if extrapolation > 1 else ratio,
        )
        table.add_row(
            *["" for _ in inputs],
            "new run",
            _number(row["pred_median"]),
            *[_interval(row[f"pred_lower_{t}"], row[f"pred_upper_{t}"]) for t in tags],
            "",
            end_section=position < last,
        )
    return table


def _records(frame: pd.DataFrame) -> list[dict[str, float | None]]:
    """Rows as JSON-ready dicts; a non-finite number becomes null (JSON has no NaN)."""
    records = []
    for row in frame.to_dict(orient="records"):
        records.append(
            {
                str(k): (float(v) if v is not None and math.isfinite(float(v)) else None)
                for k, v in row.items()
            }
        )
    return records


@contextmanager
def _warnings_as_lines() -> Iterator[set[str]]:
    """Show the library's warnings as one ``warning:`` line each, once, on stderr.

    Yields the set of messages shown (filled when the block ends), so that a caller can
    avoid repeating one. Only `UserWarning` (which `DataWarning` and the library's own
    warnings are) reaches the user; dependencies' deprecation notices are not theirs to act on.
    """
    shown: set[str] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield shown
        finally:
            for item in caught:
                text = _one_line(item.message)
                if issubclass(item.category, UserWarning) and text not in shown:
                    shown.add(text)
                    _echo_warning(text)


# -- argument parsing -------------------------------------------------------------------


def parse_mapping(items: Sequence[str] | None) -> dict[str, str] | None:
    """Parse repeated ``--x NAME=COLUMN`` options.

    Parameters
    ----------
    items : sequence of str or None
        E.g. ``["N=Model Size", "D=Tokens"]``. Only the first ``=`` separates: column
        names may contain ``=`` and spaces.

    Returns
    -------
    dict of str to str or None
        Input name -> column, or None when no ``--x`` was given (the library then uses
        the columns named N, D, C, U).

    Raises
    ------
    typer.BadParameter
        If an item has no ``=``, an empty side, or repeats an input name.
    """
    if not items:
        return None
    mapping: dict[str, str] = {}
    for item in items:
        name, sep, column = item.partition("=")
        name = name.strip()
        if not sep or not name or not column:
            raise typer.BadParameter(
                f"{item!r} is not NAME=COLUMN; write e.g. --x 'N=Model Size' "
                f"(input name, '=', column name)",
                param_hint="'--x'",
            )
        if name in mapping:
            raise typer.BadParameter(
                f"input {name!r} is given twice ({mapping[name]!r} and {column!r}); "
                f"give one column per input",
                param_hint="'--x'",
            )
        mapping[name] = column
    return mapping


def parse_points(items: Sequence[str]) -> dict[str, list[float]]:
    """Parse repeated ``--at N=7e10,D=1.4e12`` options, one point each.

    Parameters
    ----------
    items : sequence of str
        Each a comma-separated list of ``NAME=VALUE``; every point must name the same
        inputs.

    Returns
    -------
    dict of str to list of float
        Input name -> one value per point, in the order given.

    Raises
    ------
    typer.BadParameter
        If an item is malformed, a value is not a number, a name repeats within a point,
        or points name different inputs.
    """
    points: list[dict[str, float]] = []
    for number, item in enumerate(items, start=1):
        point: dict[str, float] = {}
        for part in item.split(","):
            name, sep, text = part.partition("=")
            name, text = name.strip(), text.strip()
            if not sep or not name or not text:
                raise typer.BadParameter(
                    f"{item!r} is not NAME=VALUE[,NAME=VALUE...]; write e.g. --at N=7e10,D=1.4e12",
                    param_hint="'--at'",
                )
            if name in point:
                raise typer.BadParameter(
                    f"{item!r} gives {name} twice; one value per input and point",
                    param_hint="'--at'",
                )
            try:
                point[name] = float(text)
            except ValueError:
                raise typer.BadParameter(
                    f"{name}={text!r} in {item!r} is not a number (e.g. 7e10)",
                    param_hint="'--at'",
                ) from None
        if points and set(point) != set(points[0]):
            raise typer.BadParameter(
                f"point {number} ({item!r}) gives {', '.join(point)} but point 1 gives "
                f"{', '.join(points[0])}; every --at must name the same inputs",
                param_hint="'--at'",
            )
        points.append(point)
    return {name: [p[name] for p in points] for name in points[0]}


def _check_output(out: Path, force: bool) -> None:
    """Fail before sampling if the fit could not be saved; saving re-checks atomically."""
    from bayescale.errors import OutputExistsError

    if out.is_dir():
        raise BayescaleError(f"--out '{out}' is a directory; give a file name such as fit.nc")
    if out.exists() and not force:
        raise OutputExistsError(
            f"'{out}' exists already; choose another --out or add --force to overwrite it"
        )
    folder = out.parent
    if not folder.is_dir():
        raise BayescaleError(f"folder '{folder}' of --out does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise BayescaleError(f"folder '{folder}' of --out is not writable")


# -- commands --------------------------------------------------------------------------


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


@app.command("laws")
def laws_command(
    law: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME_OR_FILE]",
            help="A catalog law or a .toml law file to show in detail; omit to list the catalog.",
        ),
    ] = None,
) -> None:
    """List the catalog of laws, or show one law: formula, priors and their reasoning.

    \f
    Parameters
    ----------
    law : str, optional
        Catalog name or ``.toml`` path; None lists the catalog.
    """
    from bayescale.laws import catalog, get_law

    console = _console()
    if law is None:
        from rich.table import Table
        from rich.text import Text

        table = Table(title="Scaling laws in the catalog", title_justify="left")
        table.add_column("name", style="bold", no_wrap=True)
        table.add_column("title")
        table.add_column("inputs")
        table.add_column("formula")
        for name in catalog():
            try:
                entry = get_law(name)
            except BayescaleError as exc:
                # One broken catalog file should not hide the others.
                table.add_row(name, Text(f"invalid: {exc}", style="red"), "", "")
                continue
            table.add_row(
                name, Text(entry.title), ", ".join(entry.inputs), Text(entry.formula.text)
            )
        console.print(table)
        console.print("Details: bayescale laws NAME", markup=False)
        return
    _print_law(console, get_law(law))


def _print_law(console: Console, law: Law) -> None:
    """Everything a user needs to judge a law's priors before fitting it."""
    from rich.table import Table
    from rich.text import Text

    console.print(Text(f"{law.name}: {law.title}", style="bold"))
    console.print(Text("  L = ") + Text(law.formula.text, style="cyan"))
    if law.description:
        console.print(Text(_paragraph(law.description)))
    if law.reference:
        console.print(Text(f"Reference: {_paragraph(law.reference)}"))

    inputs = Table(title="Inputs", title_justify="left")
    inputs.add_column("input", style="bold")
    inputs.add_column("meaning")
    for name, meaning in law.inputs.items():
        inputs.add_row(name, Text(meaning))
    console.print(inputs)

    # The reasoning is the longest text: give it the most room.
    priors = Table(title="Priors", title_justify="left", show_lines=True, expand=True)
    priors.add_column("parameter", style="bold", no_wrap=True)
    priors.add_column("role", no_wrap=True)
    priors.add_column("prior", ratio=2)
    priors.add_column("why", ratio=3)
    for p in law.parameters.values():
        priors.add_row(p.name, p.role, Text(p.describe_prior()), Text(_paragraph(p.why)))
    lik = law.likelihood
    noise_why = Text(_paragraph(lik.why))
    priors.add_row("sigma", "noise", Text(_prior_text(lik.sigma)), noise_why)
    if lik.nu is not None:
        priors.add_row("nu", "noise", Text(_prior_text(lik.nu)), Text("see sigma"))
    console.print(priors)
    console.print(Text(f"Likelihood: {lik.family} on log loss (multiplicative noise)"))

    if law.published:
        names = list(dict.fromkeys(n for values in law.published.values() for n in values))
        published = Table(title="Published values", title_justify="left")
        published.add_column("source", style="bold")
        for name in names:
            published.add_column(name, justify="right")
        for source, values in law.published.items():
            published.add_row(
                Text(source),
                *[_number(values[n], zeros=False) if n in values else "" for n in names],
            )
        console.print(published)


@app.command("fit")
def fit_command(
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="Table of runs: .csv, .tsv, .parquet or .pq.")
    ],
    law: Annotated[
        str,
        typer.Option(
            "--law", "-l", metavar="NAME_OR_FILE", help="Catalog law (see 'laws') or .toml file."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="FIT.nc", help="File to save the fit to.")
    ],
    x: Annotated[
        list[str] | None,
        typer.Option(
            "--x",
            metavar="NAME=COLUMN",
            help="Map a law input to a column, e.g. --x 'N=Model Size' (repeatable). "
            "Default: columns named N, D, C, U. Of N, D, C two are enough (C = k N D).",
        ),
    ] = None,
    y: Annotated[str, typer.Option("--y", metavar="COLUMN", help="Column of the loss.")] = "loss",
    compute_factor: Annotated[
        float, typer.Option("--compute-factor", help="k in C = k N D.")
    ] = 6.0,
    draws: DrawsOption = 1000,
    tune: TuneOption = 1000,
    chains: ChainsOption = 4,
    seed: Annotated[int, typer.Option(help="Seed of the sampler and of forecasts.")] = 0,
    target_accept: Annotated[
        float, typer.Option(help="Step-size target; raise it (0.99) after divergences.")
    ] = 0.95,
    strict: Annotated[
        bool, typer.Option(help="Exit with code 3 and write nothing if diagnostics fail.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out.")] = False,
) -> None:
    """Fit a law to a table of runs, print the posterior summary, and save it to --out.

    \f
    Parameters
    ----------
    data : str
        Path of the table of runs.
    law : str
        Catalog name or ``.toml`` path.
    out : Path
        Destination of the fit (NetCDF); checked before sampling.
    x : list of str, optional
        ``NAME=COLUMN`` mappings.
    y : str, default "loss"
        Column of the response.
    compute_factor : float, default 6.0
        ``k`` in ``C = k N D``.
    draws, tune, chains, seed : int
        Sampler settings.
    target_accept : float, default 0.95
        Step-size adaptation target.
    strict : bool, default False
        Treat failed diagnostics as an error (exit 3, nothing written).
    force : bool, default False
        Overwrite an existing `out`.
    """
    mapping = parse_mapping(x)
    # Every check that can fail runs before sampling, which takes minutes.
    _check_output(out, force)
    from bayescale.data import load_runs
    from bayescale.laws import get_law

    chosen = get_law(law)
    with _warnings_as_lines():
        runs = load_runs(data, x=mapping, y=y, compute_factor=compute_factor)
    # fit() checks this too, but only after the header below has been printed.
    runs.require(list(chosen.inputs), chosen.n_parameters, chosen.name)

    console = _console()
    columns = ", ".join(
        f"{name} = {column.removeprefix('derived: ')}"
        if column.startswith("derived: ")
        else f"{name} <- {column!r}"
        for name, column in runs.columns.items()
        if name in chosen.inputs
    )
    console.print(f"Fitting {chosen.name}: L = {chosen.formula.text}", markup=False, soft_wrap=True)
    console.print(
        f"to {len(runs)} runs from {runs.source} ({columns}; y <- {runs.y_name!r})",
        markup=False,
        soft_wrap=True,
    )

    from bayescale.fitting import fit

    with _warnings_as_lines():
        result = fit(
            runs,
            chosen,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            target_accept=target_accept,
            strict=strict,
            progress=True,
            command=shlex.join(sys.argv),
        )
    console.print(_summary_table(result, f"Posterior of {chosen.name}"))
    _print_verdict(console, result)
    saved = result.save(out, overwrite=force)
    console.print(f"Saved the fit to {saved}", markup=False, soft_wrap=True)
    if not result.ok:
        console.print(
            "Forecasts from this fit will carry a warning; refit with more --tune/--draws "
            "or a higher --target-accept.",
            style="red",
            markup=False,
        )


@app.command("forecast")
def forecast_command(
    fit_file: Annotated[
        str, typer.Argument(metavar="FIT.nc", help="A fit saved by 'bayescale fit'.")
    ],
    at: Annotated[
        list[str],
        typer.Option(
            "--at",
            metavar="NAME=VALUE,...",
            help="One point, e.g. --at N=7e10,D=1.4e12 (repeatable). "
            "Of N, D, C two are enough (C = k N D).",
        ),
    ],
    level: Annotated[
        list[float] | None,
        typer.Option(
            "--level", help="Credible level of the intervals (repeatable). [default: 0.9]"
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the new-run noise. [default: the fit's seed]")
    ] = None,
) -> None:
    """Forecast the loss at new scales from a saved fit, with credible and predictive intervals.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit.
    at : list of str
        Points, each ``NAME=VALUE,NAME=VALUE``.
    level : list of float, optional
        Credible levels; default 0.9.
    output_format : OutputFormat, default table
        ``table`` (rich), ``csv`` or ``json`` (machine-readable, on stdout).
    seed : int, optional
        Seed of the new-run noise; default the fit's.
    """
    points = parse_points(at)
    from bayescale.fitting import load_fit

    result = load_fit(fit_file)
    # The library warns through `warnings` and records the same text in attrs; show it once.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        frame = result.forecast(points, level=level or [0.9], seed=seed)
    warning = frame.attrs.get("warning")
    if warning:
        _echo_warning(warning)

    if output_format is OutputFormat.csv:
        typer.echo(frame.to_csv(index=False), nl=False)
    elif output_format is OutputFormat.json:
        document = {
            "law": result.law.name,
            "fit": fit_file,
            "diagnostics_ok": bool(result.ok),
            "warning": warning or None,
            "forecast": _records(frame),
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        _console().print(_forecast_table(frame, f"Forecast of {result.law.name} ({fit_file})"))


@app.command("demo")
def demo_command(
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for the outputs.")
    ] = Path("demo-output"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite outputs in DIR.")] = False,
    draws: DrawsOption = 1000,
    tune: TuneOption = 1000,
    chains: ChainsOption = 4,
    seed: Annotated[int, typer.Option(help="Seed of the data, the sampler and forecasts.")] = 0,
) -> None:
    """Fit Chinchilla to simulated runs and forecast a 70B model on 1.4T tokens.

    \f
    Parameters
    ----------
    out : Path, default "demo-output"
        Folder for the fit, the plot and the data.
    force : bool, default False
        Overwrite earlier outputs in `out`.
    draws, tune, chains, seed : int
        Sampler settings and seed.
    """
    from bayescale.demo import run_demo

    with _warnings_as_lines() as shown:
        demo = run_demo(
            out, force=force, draws=draws, tune=tune, chains=chains, seed=seed, progress=True
        )
    console = _console()
    console.print(_summary_table(demo.fit, f"Posterior of {demo.fit.law.name} (demo data)"))
    _print_verdict(console, demo.fit)
    warning = demo.forecast.attrs.get("warning")
    if warning and _one_line(warning) not in shown:
        _echo_warning(warning)
    where = ", ".join(f"{k}={_scale(v)}" for k, v in DEMO_AT.items())
    console.print(_forecast_table(demo.forecast, f"Forecast at {where}"))
    console.print("Files written:", style="bold")
    for name, path in demo.files.items():
        console.print(f"  {name}: {path}", markup=False, soft_wrap=True)


# -- decisions: comparison and compute planning -----------------------------------------


def _frame_table(frame: pd.DataFrame, title: str, scale_columns: Sequence[str] = ()) -> Table:
    """A DataFrame as a rich table: sizes as 70B / 1.4T, other numbers to 4 digits."""
    import numpy as np
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    index_name = frame.index.name
    if index_name:
        table.add_column(str(index_name), style="bold")
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for key, row in frame.iterrows():
        cells = [str(key)] if index_name else []
        for column, value in row.items():
            if isinstance(value, bool | np.bool_):
                cells.append("yes" if value else "NO")
            elif isinstance(value, int | float | np.integer | np.floating):
                number = float(value)
                cells.append(_scale(number) if column in scale_columns else _number(number))
            else:
                cells.append(str(value))
        table.add_row(*cells)
    return table


def _interval_table(frame: pd.DataFrame, key: str, title: str) -> Table:
    """One column per row of `frame` (a budget, a target) and one row per quantity, each cell
    ``median [lower, upper]``: the ``{q}_median`` / ``{q}_lower_*`` / ``{q}_upper_*`` columns
    regrouped so that a plan fits a terminal."""
    from rich.table import Table

    quantities = [c.removesuffix("_median") for c in frame.columns if c.endswith("_median")]
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for value in frame[key]:
        table.add_column(f"{key} = {_number(float(value), 3, zeros=False)}", justify="right")
    sized = {"N", "D", "C"}
    for q in quantities:
        lower = next(c for c in frame.columns if c.startswith(f"{q}_lower_"))
        upper = next(c for c in frame.columns if c.startswith(f"{q}_upper_"))
        show = _scale if q in sized else _number
        cells = [
            f"{show(float(r[f'{q}_median']))} [{show(float(r[lower]))}, {show(float(r[upper]))}]"
            for _, r in frame.iterrows()
        ]
        table.add_row(q.replace("_", " "), *cells)
    rest = [c for c in frame.columns if c != key and not c.startswith(tuple(quantities))]
    for column in rest:
        table.add_row(column.replace("_", " "), *(_number(float(v)) for v in frame[column]))
    return table


def _emit(
    frame: pd.DataFrame, output_format: OutputFormat, title: str, key: str, **extra: Any
) -> None:
    if output_format is OutputFormat.csv:
        typer.echo(frame.to_csv(index=False), nl=False)
    elif output_format is OutputFormat.json:
        typer.echo(json.dumps({**extra, "rows": _records(frame)}, indent=2))
    elif any(c.endswith("_median") for c in frame.columns):
        _console().print(_interval_table(frame, key, title))
    else:
        _console().print(_frame_table(frame, title, [key]))


def _parse_numbers(items: Sequence[str] | None, option: str) -> dict[str, list[float]]:
    """Parse repeated ``NAME=VALUE[,VALUE...]`` options (``--holdout-above``, ``--fixed``)."""
    found: dict[str, list[float]] = {}
    for item in items or []:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not values.strip():
            raise typer.BadParameter(
                f"{item!r} is not NAME=VALUE (e.g. C=1e21)", param_hint=f"'{option}'"
            )
        try:
            found.setdefault(name, []).extend(float(v) for v in values.split(","))
        except ValueError:
            raise typer.BadParameter(
                f"{values!r} in {item!r} is not a number or list of numbers",
                param_hint=f"'{option}'",
            ) from None
    return found


def _fixed(items: Sequence[str] | None) -> dict[str, float] | None:
    parsed = _parse_numbers(items, "--fixed")
    return {name: values[-1] for name, values in parsed.items()} or None


@app.command("compare")
def compare_command(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Table of runs.")],
    laws: Annotated[
        str,
        typer.Option("--laws", metavar="NAME,NAME,...", help="Laws to compare, comma-separated."),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for tables and fits.")
    ],
    x: Annotated[
        list[str] | None,
        typer.Option("--x", metavar="NAME=COLUMN", help="Map a law input to a column."),
    ] = None,
    y: Annotated[str, typer.Option("--y", metavar="COLUMN", help="Column of the loss.")] = "loss",
    compute_factor: Annotated[
        float, typer.Option("--compute-factor", help="k in C = k N D.")
    ] = 6.0,
    holdout_above: Annotated[
        list[str] | None,
        typer.Option(
            "--holdout-above",
            metavar="NAME=VALUE[,VALUE]",
            help="Fit on the runs at or below the threshold, score the larger ones, "
            "e.g. --holdout-above C=1e20,1e21 (repeatable).",
        ),
    ] = None,
    draws: DrawsOption = 1000,
    tune: TuneOption = 1000,
    chains: ChainsOption = 4,
    seed: Annotated[int, typer.Option(help="Seed of the samplers.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite outputs in DIR.")] = False,
) -> None:
    """Compare law forms: PSIS-LOO with stacking weights, and scores on held-out larger runs.

    \f
    Parameters
    ----------
    data : str
        Path of the table of runs.
    laws : str
        Comma-separated catalog names or ``.toml`` paths.
    out : Path
        Folder for loo.csv, extrapolation.csv, verdict.txt and fits/.
    x, y, compute_factor
        As in ``fit``.
    holdout_above : list of str, optional
        ``NAME=VALUE[,VALUE]`` thresholds for the extrapolation score.
    draws, tune, chains, seed : int
        Sampler settings.
    force : bool, default False
        Overwrite earlier outputs in `out`.
    """
    mapping = parse_mapping(x)
    names = [name.strip() for name in laws.split(",") if name.strip()]
    if len(names) < 2:
        raise typer.BadParameter(
            "give at least two laws, e.g. chinchilla,kaplan", param_hint="'--laws'"
        )
    thresholds = _parse_numbers(holdout_above, "--holdout-above")
    from bayescale.data import load_runs
    from bayescale.errors import OutputExistsError
    from bayescale.laws import get_law

    chosen = [get_law(name) for name in names]
    if out.exists() and not out.is_dir():
        raise BayescaleError(f"--out '{out}' is a file; give a folder")
    earlier = [p for p in (out / "loo.csv", out / "verdict.txt") if p.exists()]
    if earlier and not force:
        raise OutputExistsError(
            f"{', '.join(map(str, earlier))} exist already; choose another --out or add --force"
        )
    with _warnings_as_lines():
        runs = load_runs(data, x=mapping, y=y, compute_factor=compute_factor)
    for law in chosen:
        runs.require(list(law.inputs), law.n_parameters, law.name)

    from bayescale.comparison import compare

    console = _console()
    console.print(
        f"Comparing {', '.join(names)} on {len(runs)} runs from {runs.source}",
        markup=False,
        soft_wrap=True,
    )
    with _warnings_as_lines():
        result = compare(
            runs,
            laws=chosen,
            holdout_above=thresholds or None,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
        )
    loo = result.loo[["elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "pareto_k_bad"]]
    console.print(_frame_table(loo, "PSIS-LOO (interpolation): higher elpd is better"))
    if result.extrapolation is not None:
        columns = ["law", "holdout", "n_train", "n_test", "elpd_per_run", "coverage_50"]
        columns += ["coverage_90", "r2", "mare"]
        console.print(
            _frame_table(
                result.extrapolation[columns].set_index("law"),
                "Held-out larger runs (extrapolation): higher elpd per run is better",
            )
        )
    console.print(result.verdict(), markup=False, soft_wrap=True)
    files = result.save(out, overwrite=force)
    console.print(f"Wrote {len(files)} files into {out}", markup=False, soft_wrap=True)


@app.command("optimal")
def optimal_command(
    fit_file: Annotated[str, typer.Argument(metavar="FIT.nc", help="A saved fit.")],
    compute: Annotated[
        list[float],
        typer.Option("--compute", "-c", help="Compute budget in FLOPs (repeatable)."),
    ],
    level: LevelOption = 0.9,
    fixed: FixedOption = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Compute-optimal parameters and tokens for each budget, with credible intervals.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit (a law in N and D).
    compute : list of float
        Budgets in FLOPs.
    level : float, default 0.9
        Credible level.
    fixed : list of str, optional
        ``NAME=VALUE`` for the law's other inputs.
    output_format : OutputFormat, default table
        ``table``, ``csv`` or ``json``.
    """
    from bayescale.fitting import load_fit

    result = load_fit(fit_file)
    with _warnings_as_lines():
        frame = result.compute_optimal(compute, level=level, fixed=_fixed(fixed))
    if not result.ok:
        _echo_warning(
            f"plan from a fit that failed its diagnostics: {result.diagnostics.verdict()}"
        )
    k = result.runs.compute_factor
    _emit(
        frame,
        output_format,
        f"Compute-optimal split of {result.law.name} (C = {k:g} N D, {level:.0%} intervals)",
        "C",
        law=result.law.name,
        diagnostics_ok=bool(result.ok),
    )


@app.command("target")
def target_command(
    fit_file: Annotated[str, typer.Argument(metavar="FIT.nc", help="A saved fit.")],
    loss: Annotated[float, typer.Option("--loss", help="Target loss.")],
    compute: Annotated[
        list[float] | None,
        typer.Option(
            "--compute",
            "-c",
            help="Also give the probability of reaching the target with this budget "
            "(compute-optimal split; repeatable).",
        ),
    ] = None,
    level: LevelOption = 0.9,
    fixed: FixedOption = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Compute needed to reach a target loss, and the probability of reaching it.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit (a law in N and D).
    loss : float
        Target loss.
    compute : list of float, optional
        Budgets at which to give the probability of meeting the target.
    level : float, default 0.9
        Credible level.
    fixed : list of str, optional
        ``NAME=VALUE`` for the law's other inputs.
    output_format : OutputFormat, default table
        ``table``, ``csv`` or ``json``.
    """
    from bayescale.fitting import load_fit

    result = load_fit(fit_file)
    if not result.ok:
        _echo_warning(
            f"plan from a fit that failed its diagnostics: {result.diagnostics.verdict()}"
        )
    with _warnings_as_lines():
        budget = result.budget_for(loss, level=level, fixed=_fixed(fixed))
        chances = result.prob_below(loss, C=compute, fixed=_fixed(fixed)) if compute else None
    if output_format is OutputFormat.json:
        typer.echo(
            json.dumps(
                {
                    "law": result.law.name,
                    "diagnostics_ok": bool(result.ok),
                    "budget": _records(budget),
                    "probability": _records(chances) if chances is not None else None,
                },
                indent=2,
            )
        )
        return
    if output_format is OutputFormat.csv:
        import pandas as pd

        frame = budget if chances is None else pd.concat([budget, chances], axis=1)
        typer.echo(frame.to_csv(index=False), nl=False)
        return
    _emit(
        budget,
        output_format,
        f"Compute to reach loss {loss:g} ({level:.0%} intervals)",
        "target_loss",
    )
    if chances is not None:
        _emit(chances, output_format, f"Probability of reaching loss {loss:g}", "C")


@app.command("report")
def report_command(
    fit_file: Annotated[str, typer.Argument(metavar="FIT.nc", help="A saved fit.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="REPORT.html", help="The HTML file to write.")
    ],
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare", metavar="DIR", help="Folder written by 'bayescale compare --out'."
        ),
    ] = None,
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            metavar="NAME=VALUE,...",
            help="Target point, e.g. --at N=7e10,D=1.4e12 (repeatable). "
            "[default: 10x the largest value of each input in the runs]",
        ),
    ] = None,
    target_loss: Annotated[
        float | None,
        typer.Option(
            "--target-loss",
            help="Loss to reach: adds its probability and the compute it needs (laws of N, D).",
        ),
    ] = None,
    compute: Annotated[
        list[float] | None,
        typer.Option(
            "--compute",
            "-c",
            help="Budget in FLOPs for the probability and the compute plan (repeatable). "
            "[default: the targets' compute]",
        ),
    ] = None,
    level: LevelOption = 0.9,
    pdf: Annotated[
        Path | None,
        typer.Option(
            "--pdf", metavar="REPORT.pdf", help="Also print the report to PDF (needs WeasyPrint)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out and --pdf.")] = False,
) -> None:
    """Write the due-diligence report of a fit: one self-contained HTML file.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit.
    out : Path
        The HTML file.
    compare : Path, optional
        A comparison folder to include.
    at : list of str, optional
        Target points, each ``NAME=VALUE,NAME=VALUE``.
    target_loss : float, optional
        Loss to reach.
    compute : list of float, optional
        Budgets in FLOPs.
    level : float, default 0.9
        Credible level.
    pdf : Path, optional
        Also write a PDF of the report.
    force : bool, default False
        Overwrite existing outputs.
    """
    parsed = parse_points(at) if at else None
    targets = (
        [
            {name: values[i] for name, values in parsed.items()}
            for i in range(len(next(iter(parsed.values()))))
        ]
        if parsed
        else None
    )
    from bayescale.fitting import load_fit
    from bayescale.report import write_report

    result = load_fit(fit_file)
    if not result.ok:
        _echo_warning(
            f"report of a fit that failed its diagnostics: {result.diagnostics.verdict()}"
        )
    with _warnings_as_lines():
        files = write_report(
            result,
            out,
            force=force,
            pdf=pdf,
            comparison=compare,
            at=targets,
            target_loss=target_loss,
            compute=compute,
            level=level,
            command=shlex.join(sys.argv),
            fit_path=fit_file,
        )
    console = _console()
    _print_verdict(console, result)
    for kind, path in files.items():
        size = path.stat().st_size / 1024
        console.print(
            f"Wrote the {kind.upper()} report to {path} ({size:.0f} KB)",
            markup=False,
            soft_wrap=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``bayescale`` command line (the console script's entry point).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    # A fixed program name: under ``python -m bayescale.cli`` usage lines would say "cli.py".
    app(args=argv, prog_name="bayescale")


if __name__ == "__main__":
    main()
