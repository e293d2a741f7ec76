"""Every option shared by several commands, declared once, and the parsers of their values.

A command lists the options it takes as parameters annotated with these types; its own
options (``--law``, ``--loss``...) stay in its module. Values are checked here or by the
library's checks (:mod:`bayescale.settings`), never by a second copy of the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer

from bayescale._format import parse_quantity
from bayescale.errors import closest
from bayescale.settings import SamplerSettings

__all__ = [
    "SAMPLER_DEFAULTS",
    "AtOption",
    "ChainsOption",
    "ComputeFactorOption",
    "ComputeOption",
    "DataArgument",
    "Discrepancy",
    "DiscrepancyOption",
    "DrawsOption",
    "FitArgument",
    "FitOrComparisonArgument",
    "FixedOption",
    "ForceOption",
    "FormatOption",
    "LevelOption",
    "LevelsOption",
    "OutputFormat",
    "SeedOption",
    "SweepOption",
    "TargetAcceptOption",
    "TuneOption",
    "WeightsOption",
    "XOption",
    "YOption",
    "fixed_inputs",
    "last_values",
    "out_option",
    "parse_mapping",
    "parse_numbers",
    "parse_points",
    "point_list",
    "sampler_settings",
]

#: The sampler's defaults, shown in --help: the library's, not a copy of them.
SAMPLER_DEFAULTS = SamplerSettings()


class Discrepancy(StrEnum):
    """Choices of the model discrepancy (see :func:`bayescale.discrepancy.resolve`)."""

    auto = "auto"
    backtest = "backtest"
    none = "none"


DiscrepancyOption = Annotated[
    Discrepancy,
    typer.Option(
        help="Model discrepancy: 'backtest' learns from refits on the smaller runs how far "
        "forecasts drift beyond the data, and widens intervals there; 'auto' does so wherever "
        "it can be learned (not for --group fits or additive-noise laws); 'none' keeps the "
        "law's intervals alone, which assume its form is exact."
    ),
]


class OutputFormat(StrEnum):
    """Output formats of the commands that print tables."""

    table = "table"
    csv = "csv"
    json = "json"


def out_option(metavar: str, what: str) -> typer.models.OptionInfo:
    """The ``--out`` / ``-o`` option, with the command's kind of destination.

    Parameters
    ----------
    metavar : str
        What to give, e.g. ``FIT.nc`` or ``DIR``.
    what : str
        What is written there (the option's help).

    Returns
    -------
    typer.models.OptionInfo
        The option, for ``Annotated[Path, out_option(...)]``.
    """
    return typer.Option("--out", "-o", metavar=metavar, help=what)


DataArgument = Annotated[
    str, typer.Argument(metavar="DATA", help="Table of runs: .csv, .tsv, .parquet or .pq.")
]
FitArgument = Annotated[
    str, typer.Argument(metavar="FIT.nc", help="A fit saved by 'bayescale fit'.")
]
FitOrComparisonArgument = Annotated[
    str,
    typer.Argument(
        metavar="FIT.nc",
        help="A fit saved by 'bayescale fit', or a folder written by 'bayescale compare' "
        "or Average.save (its laws averaged with its weights).",
    ),
]
WeightsOption = Annotated[
    str | None,
    typer.Option(
        "--weights",
        metavar="METHOD|NAME=W,...",
        help="For a comparison folder: the weights of its average, 'auto' (default: "
        "held-out weights without laws whose fits failed), 'extrapolation', 'stacking' "
        "(PSIS-LOO), 'extrapolation_stacking' (plain), or your own, e.g. "
        "chinchilla=0.7,kaplan=0.3.",
    ),
]
XOption = Annotated[
    list[str] | None,
    typer.Option(
        "--x",
        metavar="NAME=COLUMN",
        help="Map a law input to a column, e.g. --x 'N=Model Size' (repeatable). "
        "Default: columns named N, D, C, U. Of N, D, C two are enough (C = k N D).",
    ),
]
YOption = Annotated[str, typer.Option("--y", metavar="COLUMN", help="Column of the loss.")]
ComputeFactorOption = Annotated[float, typer.Option("--compute-factor", help="k in C = k N D.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]
AtOption = Annotated[
    list[str] | None,
    typer.Option(
        "--at",
        metavar="NAME=VALUE,...",
        help="One point, e.g. --at N=7e10,D=1.4e12 (repeatable). "
        "Of N, D, C two are enough (C = k N D).",
    ),
]
_LEVEL_HELP = "Credible level of the intervals, between 0 and 1"
LevelOption = Annotated[float, typer.Option("--level", help=f"{_LEVEL_HELP}.")]
LevelsOption = Annotated[
    list[float] | None,
    typer.Option("--level", help=f"{_LEVEL_HELP} (repeatable; default 0.9)."),
]


def _quantity(text: str) -> float:
    """Typer's parser of a number option that takes 70B, 1.4T, 10^24 (see parse_quantity)."""
    try:
        return parse_quantity(text)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


ComputeOption = Annotated[
    list[float] | None,
    typer.Option(
        "--compute",
        "-c",
        parser=_quantity,
        help="Compute budget in FLOPs, e.g. 1e24 or 10^24 (repeatable).",
    ),
]
FixedOption = Annotated[
    list[str] | None,
    typer.Option("--fixed", metavar="NAME=VALUE", help="Other inputs, e.g. U=1e11."),
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
SweepOption = Annotated[
    list[str] | None,
    typer.Option(
        "--sweep",
        metavar="KEY=VALUE",
        help="The IsoFLOP curve a new sweep would run, for the row 'a new IsoFLOP curve "
        "finds': runs=9, spread=8 (sizes N_opt/8..N_opt*8), noise=0.01 (of log loss); "
        "default: as your runs' largest curve (repeatable).",
    ),
]

# The sampler. Ranges are checked by SamplerSettings, so the rule lives in one place.
_RETRIES = (
    " If the diagnostics fail, the sampler retries up to twice, each time with longer warm-up "
    "and, as the failure asks, more draws (both doubled): the output lists each attempt."
)
DrawsOption = Annotated[int, typer.Option("--draws", help=f"Draws kept per chain.{_RETRIES}")]
TuneOption = Annotated[
    int, typer.Option("--tune", help=f"Tuning (warm-up) steps per chain.{_RETRIES}")
]
ChainsOption = Annotated[int, typer.Option("--chains", help="Chains (run in parallel).")]
TargetAcceptOption = Annotated[
    float,
    typer.Option("--target-accept", help="Step-size target; raise it (0.99) after divergences."),
]
SeedOption = Annotated[
    int,
    typer.Option("--seed", help="Seed of the sampler and of forecasts (0 to 4294967295)."),
]


def sampler_settings(
    draws: int, tune: int, chains: int, target_accept: float, seed: int
) -> SamplerSettings:
    """The sampler options as the one settings object the library takes.

    Parameters
    ----------
    draws, tune, chains : int
        Draws and tuning steps per chain, and chains.
    target_accept : float
        Step-size adaptation target.
    seed : int
        Seed.

    Returns
    -------
    SamplerSettings
        The settings, with the progress bar on (a command line is interactive).

    Raises
    ------
    DataError
        If a value is out of range; the message names the setting.
    """
    return SamplerSettings(
        draws=draws,
        tune=tune,
        chains=chains,
        target_accept=target_accept,
        seed=seed,
        progress=True,
    )


# -- parsers ---------------------------------------------------------------------------


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


def parse_points(items: Sequence[str], option: str = "--at") -> dict[str, list[float]]:
    """Parse repeated ``--at N=7e10,D=1.4e12`` options, one point each.

    Parameters
    ----------
    items : sequence of str
        Each a comma-separated list of ``NAME=VALUE``; every point must name the same
        inputs.
    option : str, default "--at"
        The option they come from, for the messages (``next`` takes ``--target``).

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
                    f"{item!r} is not NAME=VALUE[,NAME=VALUE...]; write e.g. {option} "
                    f"N=7e10,D=1.4e12 (numbers without thousands separators)",
                    param_hint=f"'{option}'",
                )
            if name in point:
                raise typer.BadParameter(
                    f"{item!r} gives {name} twice; one value per input and point",
                    param_hint=f"'{option}'",
                )
            try:
                point[name] = parse_quantity(text)
            except ValueError as err:
                raise typer.BadParameter(
                    f"{name}={text!r} in {item!r}: {err}", param_hint=f"'{option}'"
                ) from None
        if points and set(point) != set(points[0]):
            raise typer.BadParameter(
                f"point {number} ({item!r}) gives {', '.join(point)} but point 1 gives "
                f"{', '.join(points[0])}; every {option} must name the same inputs",
                param_hint=f"'{option}'",
            )
        points.append(point)
    return {name: [p[name] for p in points] for name in points[0]}


def check_point_names(points: Mapping[str, Any], inputs: Sequence[str], option: str) -> None:
    """Refuse a name in ``--at`` that is not an input: a typo would be carried along silently.

    Parameters
    ----------
    points : mapping
        From :func:`parse_points`.
    inputs : sequence of str
        The law's inputs (N, D and C are always accepted: two of them give the third).
    option : str
        The option, for the message.

    Raises
    ------
    typer.BadParameter
        Naming the unknown input and the law's.
    """
    known = [*inputs, *(n for n in ("N", "D", "C") if n not in inputs)]
    unknown = [name for name in points if name not in known]
    if unknown:
        match = closest(unknown[0], known)
        hint = f"; did you mean {match}?" if match is not None else ""
        raise typer.BadParameter(
            f"{', '.join(unknown)} is not an input of the fit's law (its inputs: "
            f"{', '.join(inputs)}; of N, D, C any two are enough){hint}",
            param_hint=f"'{option}'",
        )


def point_list(items: Sequence[str]) -> list[dict[str, float]]:
    """Parse ``--at`` options (see :func:`parse_points`) into one mapping per point."""
    parsed = parse_points(items)
    count = len(next(iter(parsed.values())))
    return [{name: values[i] for name, values in parsed.items()} for i in range(count)]


def parse_numbers(items: Sequence[str] | None, option: str) -> dict[str, list[float]]:
    """Parse repeated ``NAME=VALUE[,VALUE...]`` options (``--holdout-above``, ``--fixed``).

    Parameters
    ----------
    items : sequence of str or None
        The option's values.
    option : str
        The option's name, for messages.

    Returns
    -------
    dict of str to list of float
        Name -> values, in the order given.

    Raises
    ------
    typer.BadParameter
        If an item is not ``NAME=VALUE`` or a value is not a number.
    """
    found: dict[str, list[float]] = {}
    for item in items or []:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not values.strip():
            raise typer.BadParameter(
                f"{item!r} is not NAME=VALUE (e.g. C=1e21)", param_hint=f"'{option}'"
            )
        try:
            found.setdefault(name, []).extend(parse_quantity(v) for v in values.split(","))
        except ValueError as err:
            raise typer.BadParameter(
                f"{item!r}: {err}",
                param_hint=f"'{option}'",
            ) from None
    return found


def last_values(items: Sequence[str] | None, option: str) -> dict[str, float] | None:
    """Parse ``NAME=VALUE`` options (``--fixed``, ``--sweep``), one value per name.

    A name given twice with two values is refused, as ``--x`` and ``--at`` refuse it: which
    one was meant is not for the command to guess (the same value twice passes).
    """
    parsed = parse_numbers(items, option)
    for name, values in parsed.items():
        if len(set(values)) > 1:
            given = " and ".join(f"{name}={v:g}" for v in dict.fromkeys(values))
            raise typer.BadParameter(
                f"{name} is given twice ({given}); one value per name", param_hint=f"'{option}'"
            )
    return {name: values[-1] for name, values in parsed.items()} or None


def fixed_inputs(items: Sequence[str] | None) -> dict[str, float] | None:
    """Parse ``--fixed NAME=VALUE`` options, one value per name (see :func:`last_values`)."""
    return last_values(items, "--fixed")
