"""The error guard of the command line: every failure becomes one line and an exit code.

Exit codes: 0 success, 1 unexpected error (a bug), 2 bad input or usage, 3 a ``--strict``
fit failed its diagnostics, 130 interrupted (Ctrl-C).

Outputs are checked here too, before any work (:func:`check_outputs`), so that the guard
knows which files a command may write and can say, after Ctrl-C, whether any was written.
The library's messages speak of its own arguments (``overwrite=True``); the flag wording
(``--force``, ``--out``) is added here, the only place that knows the flags.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import typer

# typer >= 0.29 vendors click and does not re-export these three; they are needed to turn
# usage errors into the one-line format used for every other error.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperCommand, TyperGroup

from bayescale._files import check_destination
from bayescale.errors import (
    BayescaleError,
    ConvergenceError,
    MappingError,
    OutputExistsError,
    interrupt_in,
)

__all__ = [
    "EXIT_FITS_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_CONVERGED",
    "EXIT_OK",
    "EXIT_UNEXPECTED",
    "EXIT_USAGE",
    "Command",
    "Group",
    "check_folder_outputs",
    "check_not_inputs",
    "check_output_folder",
    "check_outputs",
    "cli_words",
    "command_line",
    "echo_error",
    "echo_warning",
    "run_guarded",
    "same_file",
    "warnings_as_lines",
]

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_NOT_CONVERGED = 3
#: A sweep ran, but some of its fits raised an error (their rows say why).
EXIT_FITS_FAILED = 4
EXIT_INTERRUPTED = 130

DEBUG_ENV = "BAYESCALE_DEBUG"
FORCE_HINT = "add --force to overwrite it"

# OS errors that come from what the user asked for (a path), not from a bug.
_USER_OS_ERRORS = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
)

# The arguments of the running command line (recorded in fits and reports), and the outputs
# it may write with their state before the command ran (None: absent), for Ctrl-C's message.
_ARGV: ContextVar[tuple[str, ...]] = ContextVar("bayescale_argv", default=())
_OUTPUTS: ContextVar[dict[Path, tuple[int, int, int] | None] | None] = ContextVar(
    "bayescale_outputs", default=None
)


_LOAD_RUNS_MAPPING = re.compile(r"load_runs\(\.\.\., x=\{[^{}]*\}\)")


def one_line(text: object) -> str:
    """Collapse whitespace so that a message is exactly one line."""
    return " ".join(str(text).split())


def echo_error(message: str) -> None:
    """Print ``error: message`` on stderr, on one line."""
    # Plain echo, not rich: rich would hard-wrap a long message onto several lines.
    typer.echo(f"{typer.style('error:', fg='red', bold=True)} {one_line(message)}", err=True)


def echo_warning(message: str) -> None:
    """Print ``warning: message`` on stderr, on one line."""
    typer.echo(f"{typer.style('warning:', fg='yellow', bold=True)} {one_line(message)}", err=True)


@contextmanager
def warnings_as_lines(quiet_on_error: bool = False) -> Iterator[set[str]]:
    """Show the library's warnings as one ``warning:`` line each, once, on stderr.

    Yields the set of messages shown (filled when the block ends), so that a caller can
    avoid repeating one. Only `UserWarning` (which `DataWarning` and the library's own
    warnings are) reaches the user; dependencies' deprecation notices are not theirs to act on.
    After Ctrl-C nothing is shown but the interruption itself.

    Parameters
    ----------
    quiet_on_error : bool, default False
        Show nothing when the block ends in an input error (`BayescaleError`): for checks
        of the inputs, whose warnings (a duplicated row) are beside the point of the error
        that stops the command, and come back once it is fixed.
    """
    shown: set[str] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield shown
        except KeyboardInterrupt:
            caught.clear()
            raise
        except (BayescaleError, ClickException):
            if quiet_on_error:
                caught.clear()
            raise
        finally:
            for item in caught:
                text = cli_words(one_line(item.message))
                if issubclass(item.category, UserWarning) and text not in shown:
                    shown.add(text)
                    echo_warning(text)


#: The library's remedies in Python's words, and the same on the command line. The library's
#: messages are written for its Python callers (most give the option too); the command line
#: says them in its own words here, the one place that knows the options. Phrases that
#: carry both spellings ("PYTHON (on the command line: OPTION)") keep the option only.
_CLI_WORDS = (
    ("choose the group column with group='<column>'", "choose it with --group COLUMN"),
    ("; pass group= one of ", "; pass --group, one of "),
    (
        "average(weights='extrapolation') or weights={...}",
        "--weights extrapolation, or your own with --weights NAME=WEIGHT,...",
    ),
    (
        "average(weights='stacking') or weights={...}",
        "--weights stacking, or your own with --weights NAME=WEIGHT,...",
    ),
    # fitting.Fit.group
    (
        "fit runs loaded with load_runs(..., group='<column>') (on the command line: "
        "bayescale fit ... --group COLUMN)",
        "fit the runs with 'bayescale fit ... --group COLUMN'",
    ),
    # fitting.Fit.group (complete pooling's warning for a new group)
    ("fit with pooling='partial' for a new group", "fit with --pooling partial for a new group"),
    # hierarchy.Pooling.of (an unknown shorthand)
    (
        "pooling must be one of 'partial', 'none', 'complete' or a mapping {parameter: kind}, not ",
        "--pooling must be partial, none, complete or NAME=KIND items (e.g. "
        "--pooling alpha=shared,E=separate), not ",
    ),
    # comparison: a pooling comparison's folder given as a comparison of laws; its verdict
    ("(compare_pooling; bayescale compare ... --pooling)", "(bayescale compare ... --pooling)"),
    (
        "give test= or holdout_above={'C': [...]} to judge extrapolation",
        "give --holdout-above C=VALUE to judge extrapolation",
    ),
    # report.context.build_context (a group asked of a fit without groups)
    (
        "to report on one group, or report on this fit without a group",
        "to report on one group, or leave out --group",
    ),
    # comparison: average weights and best()
    (
        "compare(runs, laws=[...], holdout_above={'C': [...]}), then .average()",
        "'bayescale compare DATA --laws ... --holdout-above C=VALUE --out DIR', then forecast "
        "with that folder",
    ),
    ("best() names only the PSIS-LOO", "the comparison names only the PSIS-LOO"),
    (
        "compare(..., holdout_above={'C': [threshold, ...]}) (bayescale compare ... "
        "--holdout-above C=VALUE)",
        "bayescale compare ... --holdout-above C=VALUE",
    ),
    # laws.Law.from_formula
    (
        "write it in those names or pass inputs=[...]",
        "write it in those names, or map columns to its inputs with --x NAME=COLUMN",
    ),
    # planning: fixed inputs
    (
        "ask prob_below(target, N=..., D=...) (bayescale target --loss ... --at N=...,D=...) "
        "or forecast at N and D (bayescale forecast --at N=...,D=...)",
        "ask 'bayescale target --loss ... --at N=...,D=...' or forecast at N and D "
        "('bayescale forecast --at N=...,D=...')",
    ),
    # data: a missing response column
    ("choose the response column with y='<column>'", "choose the response column with --y COLUMN"),
)

# Each rewrite below is anchored on the library message it was written for (its source is
# named): a message that merely prints a mapping ("got {'mu': 0.4}") is left as it is.
# A column or law name is quoted as a shell would need it (--x N='Model Size').

#: planning.check_fixed and planning._check_law: ``fixed={'U': ...} (--fixed U=... on the
#: command line[; e.g. ...])``: the option alone, and what follows ``;`` in parentheses.
_FIXED_BOTH = re.compile(
    r"\bfixed=\{'(\w+)': \.\.\.\} \((--fixed \1=\.\.\.) on the command line(?:; ([^()]*))?\)"
)
#: planning.check_fixed: ``fixed={'U': ...}: not an input ...`` and ``fixed={'U': 3.0}: give
#: a finite number``: ``--fixed U=...``, ``--fixed U=3.0``. One name, no comma: not a dict
#: of several.
_FIXED = re.compile(
    r"\bfixed=\{'(\w+)': ([^{},]*)\}: (?=not an input of the law|give a finite number)"
)
#: recommendation (criterion 'optimal_N'): ``e.g. target={'C': 1e23}``: ``--target C=1e23``.
_TARGET = re.compile(r"(needs target budgets, e\.g\. )target=\{'(\w+)': ([^{},]*)\}")
#: laws (a formula's unknown names; a column no input uses):
#: ``(load_runs(..., x={[..., ]'K': 'COLUMN'}); on the command line --x K=COLUMN)``.
_LOAD_RUNS_X = re.compile(
    r"\(load_runs\(\.\.\., x=\{(?:\.\.\., )?'(\w+)': '([^'{}]*)'\}\); on the command line "
    r"--x \1=\2\)"
)
#: laws (a formula's unknown names): ``give it a prior (priors={...}) or declare it``.
_PRIORS_REMEDY = re.compile(
    r"give (?:it a prior|them priors) "
    r"\((?:priors=\{[^()]*\}|Law\.from_formula\(\.\.\., priors=\{[^()]*\}\))\) or declare"
)
#: data (no input column found; a missing input): ``load_runs(..., x={'N': '<column>'})``.
_LOAD_RUNS_ONE_X = re.compile(r"load_runs\(\.\.\., x=\{'(\w+)': '<column>'\}\)")
#: laws (an input written in another case): ``map one with x={'N': '<column>'}, on the
#: command line --x N=COLUMN``: the option once.
_X_COLUMN_BOTH = re.compile(r"\bx=\{'(\w+)': '<column>'\}, on the command line (--x \1=COLUMN)")
#: data (x is empty; a missing column): ``e.g. x={'N': '<column>'}``, ``map it with x=...``.
_X_COLUMN = re.compile(r"(e\.g\.|map it with) x=\{'(\w+)': '<column>'\}")
#: data (a law's missing input read from another column): ``is read as N (x={'N': 'D'})``.
_X_MAPPED = re.compile(r"is read as (\w+) \(x=\{'\1': '([^'{}]*)'\}\)")
#: comparison (the user's average weights): ``got {'chinchilla': 0.0, 'kaplan': 0.0}``.
_WEIGHTS_GOT = re.compile(
    r"(weights must be non-negative with a positive sum), got "
    r"\{('[^']*': [^,{}']+(?:, '[^']*': [^,{}']+)*)\}"
)
#: fitting (a parameter separate per group): ``pool it (pooling={'E': 'pooled'})``.
_POOLING_ARGUMENT = re.compile(r"pool it \(pooling=\{'(\w+)': 'pooled'\}\)")
#: hierarchy (a pooling that names a noise parameter or none of the law's).
_POOLING_FIRST = re.compile(r"^pooling: (?='[^']*' is a noise parameter|law '[^']*' has no )")
#: comparison (a pooling comparison's folder): ``(fit(runs, law, pooling='partial'); on the
#: command line: bayescale fit ...)``: the command alone.
_FIT_POOLING = re.compile(r"\(fit\(runs, law, pooling='(\w+)'\); on the command line: ([^()]*)\)")
#: A setting named as the library's argument at the start of a message: the option.
_ARGUMENT_FIRST = re.compile(
    r"^(draws|tune|chains|target_accept|seed|compute_factor|mode|level|fantasies|max_draws|"
    r"batch|top) must\b"
)


def _weights_as_option(match: re.Match[str]) -> str:
    pairs = re.findall(r"'([^']*)': ([^,{}']+)", match.group(2))
    given = ",".join(f"{name}={value.strip()}" for name, value in pairs)
    return f"{match.group(1)}, got --weights {shlex.quote(given)}"


def _x_option(match: re.Match[str]) -> str:
    return f"--x {match.group(1)}={shlex.quote(match.group(2))}"


def _fixed_both(match: re.Match[str]) -> str:
    rest = match.group(3)
    return match.group(2) + (f" ({rest})" if rest else "")


def cli_words(text: str) -> str:
    """A library message with its Python remedies in the command line's words.

    Each rewrite is anchored on the message it was written for; any other message, one
    that prints a mapping of its own (``got {'mu': 0.4}``) among them, is left unchanged.

    Parameters
    ----------
    text : str
        The message (an error's or a warning's).

    Returns
    -------
    str
        ``group='<column>'`` as ``--group COLUMN``, ``pass group=`` as ``pass --group``,
        ``pooling={'E': 'pooled'}`` as ``--pooling E=pooled``, ``fixed={'U': ...}`` as
        ``--fixed U=...``, ``target={'C': 1e23}`` as ``--target C=1e23``, a setting named
        by its argument (``draws must ...``) by its option (``--draws must ...``); a
        formula's remedies (``load_runs(..., x=...)``, ``priors=``, ``inputs=[...]``) as
        ``--x NAME=COLUMN`` and a law file; the Python calls of a remedy that gives the
        command too (``compare(..., holdout_above=...)``) as the command alone; a group the
        fit does not have with the group most likely meant (``did you mean 'new'?``);
        otherwise unchanged.
    """
    for python, command in _CLI_WORDS:
        text = text.replace(python, command)
    text = _LOAD_RUNS_X.sub(lambda m: f"({_x_option(m)})", text)
    text = _LOAD_RUNS_ONE_X.sub(r"--x \1=COLUMN", text)
    text = _X_COLUMN_BOTH.sub(r"\2", text)
    text = _X_COLUMN.sub(r"\1 --x \2=COLUMN", text)
    text = _X_MAPPED.sub(lambda m: f"is read as {m.group(1)} ({_x_option(m)})", text)
    text = _PRIORS_REMEDY.sub("declare", text)
    text = _FIXED_BOTH.sub(_fixed_both, text)
    text = _FIXED.sub(r"--fixed \1=\2: ", text)
    text = _TARGET.sub(r"\1--target \2=\3", text)
    text = _WEIGHTS_GOT.sub(_weights_as_option, text)
    text = _ARGUMENT_FIRST.sub(lambda m: f"--{m.group(1).replace('_', '-')} must", text)
    text = _POOLING_FIRST.sub("--pooling: ", text)
    text = _FIT_POOLING.sub(r"('\2')", text)
    return _POOLING_ARGUMENT.sub(r"pool it (--pooling \1=pooled)", text)


def command_line() -> str:
    """The running command line, quoted so that a shell runs it again as given."""
    return shlex.join(["bayescale", *_ARGV.get()])


# -- outputs ---------------------------------------------------------------------------


def _state(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _first_missing(path: Path) -> Path:
    """The path's first component that does not exist (the library creates the folders)."""
    while not path.parent.exists() and path.parent != path.parent.parent:
        path = path.parent
    return path


def check_suffix(path: Path, suffixes: Sequence[str], what: str, flag: str = "--out") -> None:
    """Refuse a destination whose name says another format than the one written.

    Parameters
    ----------
    path : Path
        The destination.
    suffixes : sequence of str
        The accepted suffixes, lower case with their dot (``".nc"``).
    what : str
        What the file holds, for the message (``"a fit is saved as NetCDF"``).
    flag : str, default "--out"
        The option that names it.

    Raises
    ------
    BayescaleError
        If the name ends otherwise.
    """
    if Path(path).suffix.lower() not in suffixes and not Path(path).is_dir():  # said later
        raise BayescaleError(
            f"{flag} {path}: {what}; give a name ending in {' or '.join(suffixes)}"
        )


def same_file(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file: the same inode when both exist (links, ``./``,
    another spelling on a case-insensitive disk), else the same resolved path.

    Parameters
    ----------
    first, second : str or PathLike
        The paths.

    Returns
    -------
    bool
        True if writing to one would replace the other.
    """
    a, b = Path(first), Path(second)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links
        return os.path.abspath(a) == os.path.abspath(b)


#: An input of a command: what it is (for the message) and its path.
Input = tuple[str, "str | os.PathLike[str]"]


def check_not_inputs(paths: Sequence[Path], inputs: Sequence[Input], flag: str = "--out") -> None:
    """Refuse an output that is one of the command's inputs, whatever --force says.

    --force allows replacing earlier *outputs*; a destination that is the file the command
    reads (``link FIT.nc DATA --save FIT.nc``) would destroy an input that may have taken
    hours to make, and the command's own result would not be what it read.

    Parameters
    ----------
    paths : sequence of Path
        The files the command will write.
    inputs : sequence of (str, path)
        What each input is (``"the loss fit FIT.nc"``) and its path.
    flag : str, default "--out"
        The option that names the outputs.

    Raises
    ------
    BayescaleError
        Naming the output, the input it would replace and what to do.
    """
    for path in paths:
        for what, source in inputs:
            if same_file(path, source):
                spelled = "" if os.fspath(source) == os.fspath(path) else f" ('{source}')"
                raise BayescaleError(
                    f"{flag}: '{path}' is {what}{spelled}; writing it would replace the "
                    f"command's own input, even with --force: choose another {flag}"
                )


def check_outputs(
    paths: Sequence[Path],
    force: bool,
    flag: str = "--out",
    make_folders: bool = False,
    inputs: Sequence[Input] = (),
) -> None:
    """Check, before any work, that a command can write all its outputs.

    Parameters
    ----------
    paths : sequence of Path
        The files the command will write.
    force : bool
        Whether existing files may be replaced.
    flag : str, default "--out"
        The option that names them, for the message.
    make_folders : bool, default False
        Whether the library creates missing folders on the way (then the first of them
        must be creatable), or the folders must exist.
    inputs : sequence of (str, path), default ()
        The files the command reads (see :func:`check_not_inputs`): never an output.

    Raises
    ------
    OutputExistsError
        If a file exists and `force` is False; the message lists every such file.
    BayescaleError
        If an output is an input, a destination is a folder, or a folder is missing or
        not writable.
    """
    check_not_inputs(paths, inputs, flag)
    existing = [p for p in paths if p.exists() and not p.is_dir()]
    if existing and not force:
        names = ", ".join(f"'{p}'" for p in existing)
        verb, them = ("exists", "it") if len(existing) == 1 else ("exist", "them")
        raise OutputExistsError(
            f"{names} {verb} already; choose another {flag} or add --force to overwrite {them}",
            path=existing[0],
        )
    # check_destination creates a file to test writing: probe a folder still to be made once.
    probes = [_first_missing(p) for p in paths] if make_folders else paths
    for probe in dict.fromkeys(probes):
        check_destination(probe, overwrite=True)
    watched = _OUTPUTS.get()
    if watched is not None:
        for path in paths:
            watched.setdefault(path, _state(path))


def check_output_folder(folder: Path, flag: str = "--out") -> None:
    """Refuse an output folder that is a file, or whose parent folder does not exist.

    The command makes the folder itself, not the folders above it: a typo in a parent
    ('runs/cmp' for 'run/cmp') is said, as ``fit -o`` says it of a file's folder.

    Parameters
    ----------
    folder : Path
        The output folder.
    flag : str, default "--out"
        The option that names it.

    Raises
    ------
    BayescaleError
        If `folder` is a file, or its parent is missing or a file.
    """
    if folder.exists() and not folder.is_dir():
        raise BayescaleError(f"{flag} '{folder}' is a file; give a folder")
    parent = folder.parent
    if not folder.exists() and not parent.is_dir():
        what = "is a file, not a folder" if parent.exists() else "does not exist"
        raise BayescaleError(
            f"{flag} '{folder}': folder '{parent}' {what}; create it first, or choose "
            f"another {flag}"
        )


def check_folder_outputs(
    folder: Path,
    names: Sequence[str | Path],
    force: bool,
    flag: str = "--out",
    inputs: Sequence[Input] = (),
) -> list[Path]:
    """Check, before any work, that a command can write the files `names` into `folder`.

    Parameters
    ----------
    folder : Path
        The folder (created by the library if missing; its parent must exist).
    names : sequence of str or Path
        The files, relative to `folder`.
    force : bool
        Whether existing files may be replaced.
    flag : str, default "--out"
        The option that names the folder, for the message.
    inputs : sequence of (str, path), default ()
        The files the command reads: none may be among the files written.

    Returns
    -------
    list of Path
        The files.

    Raises
    ------
    OutputExistsError, BayescaleError
        As :func:`check_outputs`, and if `folder` is a file or its parent is missing.
    """
    check_output_folder(folder, flag)
    paths = [folder / name for name in names]
    check_outputs(paths, force, flag, make_folders=True, inputs=inputs)
    return paths


def _kept() -> list[Path]:
    """The watched outputs that the command created or changed before it stopped."""
    return [p for p, before in (_OUTPUTS.get() or {}).items() if _state(p) != before]


# -- the guard -------------------------------------------------------------------------


class _Interrupted(Exception):
    """Ctrl-C carried past typer, which would turn it into a silent exit 130."""


def _usage_message(exc: UsageError) -> str:
    """Click's message, lower-cased like ours, with a pointer to the command's help."""
    text = one_line(exc.format_message()).rstrip(".")
    text = text[:1].lower() + text[1:]
    if exc.ctx is not None:
        text += f" (see '{exc.ctx.command_path} --help')"
    return text


def _unexpected(exc: Exception) -> str:
    # A bug: the traceback helps a developer, but only on request.
    if os.environ.get(DEBUG_ENV) == "1":
        traceback.print_exc(file=sys.stderr)
        hint = "please report it with the command line and the traceback above"
    else:
        hint = f"please report it with the command line (set {DEBUG_ENV}=1 for a traceback)"
    return f"unexpected {type(exc).__name__}: {one_line(exc) or '(no message)'}; {hint}"


def _error_and_code(exc: BaseException) -> tuple[str, int]:
    """The line to print and the exit code of an exception raised by a command."""
    if isinstance(exc, UsageError):
        return _usage_message(exc), EXIT_USAGE
    if isinstance(exc, ClickException):
        return exc.format_message(), EXIT_USAGE
    if isinstance(exc, typer.Abort):
        return "aborted", EXIT_UNEXPECTED
    if isinstance(exc, ConvergenceError):
        return f"{exc}; nothing was written", EXIT_NOT_CONVERGED
    if isinstance(exc, OutputExistsError):
        # The library's own remedy (overwrite=True) is --force here.
        text = str(exc).replace(" or pass overwrite=True", "")
        return (text if "--force" in text else f"{text}; {FORCE_HINT}"), EXIT_USAGE
    if isinstance(exc, MappingError):
        flags = " ".join(
            [f"--x {name}=COLUMN" for name in exc.inputs] + ["--y COLUMN"] * exc.response
        )
        # The library's remedy (load_runs(..., x={...})) becomes every option to give.
        text = cli_words(_LOAD_RUNS_MAPPING.sub(lambda _: flags, str(exc), count=1))
        if not flags or "--x " in text or "--y " in text:
            return text, EXIT_USAGE
        return f"{text} (on the command line: {flags})", EXIT_USAGE
    if isinstance(exc, BayescaleError):
        return cli_words(str(exc)), EXIT_USAGE
    if isinstance(exc, _USER_OS_ERRORS):
        where = f": '{exc.filename}'" if exc.filename is not None else ""
        return f"{exc.strerror or exc}{where}", EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt | _Interrupted) or interrupt_in(exc) is not None:
        kept = _kept()
        what = (
            f"kept {', '.join(map(str, kept))}, written before the interrupt"
            if kept
            else "nothing was written"
        )
        return f"interrupted: {what}", EXIT_INTERRUPTED
    assert isinstance(exc, Exception)
    return _unexpected(exc), EXIT_UNEXPECTED


def run_guarded(invoke: Callable[[], Any], argv: Sequence[str] = ()) -> int:
    """Run the command line and turn every exception into an exit code and one line.

    Parameters
    ----------
    invoke : callable
        Runs click's parsing and the command, in non-standalone mode.
    argv : sequence of str, default ()
        The arguments, recorded by :func:`command_line`.

    Returns
    -------
    int
        The exit code.
    """
    argv_token = _ARGV.set(tuple(argv))
    outputs_token = _OUTPUTS.set({})
    try:
        result = invoke()
    except NoArgsIsHelpError:
        # typer printed the help already, as click does; keep click's exit code.
        return EXIT_USAGE
    except (Exception, KeyboardInterrupt) as exc:
        message, code = _error_and_code(exc)
        echo_error(message)
        return code
    finally:
        _ARGV.reset(argv_token)
        _OUTPUTS.reset(outputs_token)
    # typer returns the code of an explicit Exit (e.g. 0 after --help) in non-standalone mode.
    return result if isinstance(result, int) else EXIT_OK


class Group(TyperGroup):
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
        args = list(sys.argv[1:] if args is None else args)
        code = run_guarded(
            lambda: super(Group, self).main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            ),
            args,
        )
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx: Any) -> Any:
        """Run the command of `ctx`, letting Ctrl-C reach the guard.

        Parameters
        ----------
        ctx : click.Context
            The parsed command line.

        Returns
        -------
        Any
            What the command returns.
        """
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Interrupted from exc


# -- commands --------------------------------------------------------------------------


def reflow(text: str) -> str:
    """A command's help with each paragraph on one line, so that it wraps at any width.

    Rich keeps a docstring's line breaks: a paragraph written at 90 columns broke in the
    middle of a sentence in an 80-column terminal. Paragraphs (blank-line separated) stay
    apart; what follows ``\\f`` (the docstring's sections, never shown) is kept as it is.

    Parameters
    ----------
    text : str
        The help text (a docstring).

    Returns
    -------
    str
        The same paragraphs, each on one line.
    """
    shown, cut, rest = inspect.cleandoc(text).partition("\f")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", shown)]
    joined = "\n\n".join(p for p in paragraphs if p)
    return f"{joined}\n\n{cut}{rest}" if cut else joined


def _given(option: Any, value: Any) -> str:
    """How the user gave a single-valued option: its value, or a flag's name."""
    if option.action == "store":
        return repr(value)
    return (option._long_opts or option._short_opts or ["?"])[0]


#: Where the parser leaves the first repeated option's error until parsing is done.
_REPEATED = "bayescale.repeated_option"


def _as_typed(option: Any, value: Any, ctx: Any) -> Any:
    """A stored option value after its type's conversion (``--seed 01`` is 1), or the text
    as given if it does not convert (click says why once it converts the value it keeps).

    Typer (0.29 on) converts with its own runtime parameter rather than click's
    ``type_cast_value``; either is used, whichever the parameter has. The option's callback
    is not called: it may check more than the type, and its error would come twice.
    """
    param = option.obj
    try:
        runtime = getattr(param, "get_runtime_param", None)
        if runtime is not None:
            return runtime().coerce(value, param=param, ctx=ctx)
        return param.type_cast_value(ctx, value)
    except Exception:  # a bad value, or internals renamed: compared as written
        return value


def _refuse_repeats(parser: Any, ctx: Any) -> None:
    """Make `parser` refuse a single-valued option given twice with different values.

    Click keeps the last value silently, so ``fit -l chinchilla -l kaplan`` fitted kaplan
    and ``--discrepancy --law-only`` meant whichever came last. Options that take several
    values (``--x``, ``--at``) append, and the same value twice is harmless: both pass, as
    do two spellings of one value (``--seed 1 --seed 01``), compared after the option's
    type converts them. The error waits in ``ctx.meta`` until parsing is done (see
    :meth:`Command.parse_args`), so that ``--help`` anywhere on the line still wins.
    """
    options = [
        *getattr(parser, "_long_opt", {}).values(),
        *getattr(parser, "_short_opt", {}).values(),
    ]
    seen: dict[str, tuple[Any, str]] = {}
    for option in {id(o): o for o in options}.values():
        if getattr(option, "action", None) not in ("store", "store_const"):
            continue
        original = option.process

        def process(
            value: Any, state: Any, _option: Any = option, _original: Any = original
        ) -> None:
            store = _option.action == "store"
            given = _as_typed(_option, value, ctx) if store else _option.const
            shown = _given(_option, value)
            earlier = seen.get(_option.dest)
            if earlier is not None and earlier[0] != given and _REPEATED not in ctx.meta:
                if not store:  # --discrepancy and --law-only
                    message = f"{earlier[1]} and {shown} contradict: give one"
                else:
                    param = _option.obj
                    names = "/".join([*param.opts, *param.secondary_opts])
                    message = (
                        f"{names} is given twice ({earlier[1]} and {shown}); it takes one "
                        f"value: give it once"
                    )
                ctx.meta[_REPEATED] = UsageError(message, ctx)
            seen.setdefault(_option.dest, (given, shown))
            _original(value, state)

        option.process = process


class Command(TyperCommand):
    """A command whose help wraps at any width, and whose one-value options are given once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:
            self.help = reflow(self.help)

    def make_parser(self, ctx: Any) -> Any:
        """The option parser, refusing a one-value option given twice with two values.

        Parameters
        ----------
        ctx : click.Context
            The context being parsed.

        Returns
        -------
        click.parser.OptionParser
            The parser.
        """
        parser = super().make_parser(ctx)
        if not ctx.resilient_parsing:  # shell completion parses partial lines
            _refuse_repeats(parser, ctx)
        return parser

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Parse `args`, then refuse a one-value option given twice with two values.

        Refused after click's own handling, in which ``--help`` (eager) shows the help and
        exits: help wins over the repetition wherever it is on the line.

        Parameters
        ----------
        ctx : click.Context
            The context being parsed.
        args : list of str
            The command's arguments.

        Returns
        -------
        list of str
            The arguments left over, as click returns them.

        Raises
        ------
        UsageError
            For the first option given twice with different values.
        """
        rest = super().parse_args(ctx, args)
        repeated = ctx.meta.pop(_REPEATED, None)
        if repeated is not None:
            raise repeated
        return rest
