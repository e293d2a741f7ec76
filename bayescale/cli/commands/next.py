"""``bayescale next``: which runs to train next, for the least cost (bayescale.recommendation)."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..._format import format_number, size_kind
from .._fits import read_fit
from .._guard import cli_words, warnings_as_lines
from .._options import (
    FitArgument,
    FixedOption,
    FormatOption,
    OutputFormat,
    _quantity,
    check_point_names,
    fixed_inputs,
    parse_mapping,
    parse_points,
)
from .._render import console, frame_table, print_csv, print_json, records, say

if TYPE_CHECKING:
    import pandas as pd

    from bayescale.laws import Law

__all__ = ["next_command", "read_candidates"]


class Criterion(StrEnum):
    """What to be surer of (``auto``: ``optimal_N`` for a target of budgets only)."""

    auto = "auto"
    loss = "loss"
    optimal_N = "optimal_N"


class Measure(StrEnum):
    """How the uncertainty is measured."""

    variance = "variance"
    width = "width"


class Strategy(StrEnum):
    """How the runs are chosen (see :func:`bayescale.recommend`)."""

    auto = "auto"
    per_cost = "per_cost"
    reduction = "reduction"
    better = "better"


#: What the reduced uncertainty is of, per criterion: its quantity, for the legend.
_QUANTITY = {"loss": "log loss", "optimal_N": "log N"}
#: The strategies in words.
_BY = {"per_cost": "reduction per unit cost", "reduction": "reduction within the budget"}


def _two_digits(value: float) -> str:
    """A number to 2 significant digits, without an exponent from 0.001 to 1000."""
    if not math.isfinite(value):
        return format_number(value)
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e3:
        decimals = max(0, 1 - math.floor(math.log10(abs(value))))
        return f"{value:.{decimals}f}"
    return format_number(value, "short", 2)


def _decimals(value: float, digits: int) -> int:
    """Decimals that show ``value`` to ``digits`` significant digits (0 for large ones)."""
    if value == 0 or not math.isfinite(value):
        return 0
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))


def _with_se(value: float, se: float) -> str:
    """``0.41 ± 0.05``, ``29 ± 17``: an estimate (2 significant digits, more if its standard
    error needs them to show one) and its Monte Carlo standard error, rounded alike."""
    if not math.isfinite(se) or not math.isfinite(value):
        return _two_digits(value)
    decimals = max(_decimals(value, 2), _decimals(se, 1))
    if decimals > 6 or max(abs(value), se) >= 1e6:  # far from percents: as numbers print
        return f"{format_number(value, 'short', 2)} ± {format_number(se, 'short', 2)}"
    return f"{value:.{decimals}f} ± {se:.{decimals}f}"


def _display(table: pd.DataFrame, inputs: list[str], id_name: str) -> pd.DataFrame:
    """The terminal's view: few, short columns (CSV and JSON carry every column)."""
    import pandas as pd

    width = table.attrs["width_before"]
    variance = table.attrs["variance_before"]
    out = pd.DataFrame({"#": [str(o) if o else "" for o in table["order"]]})
    out[id_name] = table["candidate"].astype(str).to_numpy()
    # The candidates' own labels (a name column), so that rows can be matched to them.
    for name in table.columns:
        values = table[name]
        numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
        if name not in inputs and not numeric and name not in ("estimate", "candidate", "slip"):
            out[name] = values.astype(str).to_numpy()
    for name in inputs:
        out[name] = table[name].to_numpy()
    out["cost"] = table["cost"].to_numpy()

    def percent(column: str, before: float) -> list[str]:
        return [
            _with_se(100 * v / before, 100 * se / before)
            for v, se in zip(table[column], table[f"{column}_se"], strict=True)
        ]

    out["var -%"] = percent("variance_reduction", variance)
    out["width -%"] = percent("width_reduction", width)
    # What a chosen run adds given those before it (the ranking measure), flagged when that
    # is within two of its standard errors of zero.
    before = variance if table.attrs["measure"] == "variance" else width
    out["marginal -%"] = [
        (_with_se(100 * m / before, 100 * se / before) + (" ~" if noisy else "")) if chosen else ""
        for m, se, noisy, chosen in zip(
            table["marginal_reduction"],
            table["marginal_reduction_se"],
            table["marginal_within_noise"],
            table["chosen"],
            strict=True,
        )
    ]
    # Each candidate against the first chosen, paired over the same worlds: in standard errors.
    out["vs #1"] = [
        "" if order == 1 or not (math.isfinite(se) and se > 0) else f"{d / se:.1f}"
        for d, se, order in zip(
            table["difference"], table["difference_se"], table["order"], strict=True
        )
    ]
    out["per cost"] = [format_number(v, "short", 2) for v in table["value_per_cost"]]
    out["ESS"] = table["ess"].round().astype(int).to_numpy()
    if (table["estimate"] != "reweight").any():
        out["estimate"] = table["estimate"].to_numpy()
    flags = _flags(table)
    if any(flags):
        out["flag"] = flags
    return out


#: The table's flags, and what each means (for the legend).
_FLAGS = {
    "over budget": "costs more than --budget by itself, so it is never chosen (a better "
    "vs #1 is out of reach)",
    "units?": "N, D or C 1000x below every run, a slip of units most likely (warned "
    "above): left out of the choice unless --keep-slips",
    "swapped?": "N and D look swapped (warned above): valued and chosen as given",
    "target-sized": "costs at least as much as a run at the target, or lies at or beyond "
    "it in N and D: training it is the decision itself",
}


def _flags(table: pd.DataFrame) -> list[str]:
    """Each row's flags, in words of :data:`_FLAGS` (empty for a plain row)."""
    shown = []
    for _, row in table.iterrows():
        marks = {
            "over budget": not row.get("affordable", True),
            "units?": row.get("slip") == "below",
            "swapped?": row.get("slip") == "swapped",
            "target-sized": bool(row.get("reaches_target", False)),
        }
        shown.append(", ".join(flag for flag, on in marks.items() if on))
    return shown


def _flags_line(table: pd.DataFrame) -> str | None:
    """The legend of the flags the table shows."""
    shown = {flag for row in _flags(table) for flag in row.split(", ") if flag}
    if not shown:
        return None
    return "flag: " + "; ".join(f"{f} {m}" for f, m in _FLAGS.items() if f in shown) + "."


#: The library's remedies in Python's words, and the same on the command line.
_CLI_WORDS = (
    ("(cost='...')", "(--cost FORMULA)"),
    (
        "pass group= the one whose runs you plan, or 'new' (on the command line: --group NAME)",
        "pass --group NAME, the group whose runs you plan, or --group new",
    ),
    ("its own group= (on the command line: --group NAME)", "its own --group NAME"),
    ("as group=", "as --group"),
    ("attrs['group_label']", "group_label in -f json"),
    ("keep_slips=True", "--keep-slips"),
    ("(discrepancy=False)", "(--law-only)"),
    ("rename them in the candidates", "rename them in the file"),
)


def _cli_words(text: str) -> str:
    text = cli_words(text)  # the phrases every command shares first
    for python, command in _CLI_WORDS:
        text = text.replace(python, command)
    text = re.sub(r"group='([^']*)'", r"--group \1", text)
    text = re.sub(r"\(fantasies=(\d+)\)", r"(--fantasies \1)", text)
    # A file's empty cell is read as NaN: said as what the user sees in the file.
    text = re.sub(r"\b((?:line|row) \d+): (.+?) is nan;", r"\1: \2 is empty;", text)
    return re.sub(
        r"name a column (\w+), e\.g\. candidates\.rename\(columns=\{[^}]*\}\)",
        r"map a column to it with --x \1=COLUMN",
        text,
    )


@contextmanager
def _naming(path: str) -> Iterator[None]:
    """Name the candidates file in the library's messages, with the command line's words."""
    from bayescale.errors import DataError

    try:
        yield
    except DataError as err:
        text = _cli_words(str(err))
        if text.startswith("candidates: "):
            raise DataError(f"--candidates {path}: {text.removeprefix('candidates: ')}") from None
        raise DataError(text) from None


def read_candidates(
    path: str,
    mapping: dict[str, str] | None = None,
    fit_columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read the table of candidate runs (.csv, .tsv, .parquet or .pq).

    Parameters
    ----------
    path : str
        The file.
    mapping : dict of str to str, optional
        Input name -> column (``--x``): the input takes that column's values (the column is
        kept under its own name too).
    fit_columns : mapping of str to str, optional
        The fit's own mapping (``Runs.columns``): an input the file has no column of, and
        ``mapping`` does not map, is read from the column the fit's runs had it in, when
        the file has that column.

    Returns
    -------
    pandas.DataFrame
        One row per candidate, indexed by the file's line of each (index ``line``; a parquet
        file's row, from 1: index ``row``); columns of numbers as numbers, others as text.
        ``attrs["columns"]`` maps each input read from another column to it, and
        ``attrs["from_fit"]`` lists those taken from the fit's mapping.

    Raises
    ------
    DataError
        If the file is missing, of another type, unreadable or empty, or a mapped column
        is not in it, is mapped twice, or would replace a column of the input's name.
    """
    import pandas as pd

    from bayescale.data import _read
    from bayescale.errors import DataError, closest

    try:
        # The reader of 'bayescale fit': every failure is one line; with each row's line.
        raw, _, _, lines = _read(path)
    except DataError as err:
        raise DataError(f"--candidates {path}: {str(err).removeprefix(path + ': ')}") from None
    if raw.empty:
        raise DataError(f"--candidates {path}: no candidate rows; give one run per row")
    frame = raw.copy()
    for column in frame.columns:
        try:
            frame[column] = pd.to_numeric(frame[column])
        except (TypeError, ValueError):
            pass  # a label, '70B', or a number written wrongly: read or named by recommend
    if lines is not None and len(lines) == len(frame):
        frame.index = pd.Index([first for first, _ in lines], name="line")
    else:
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    columns = [str(c) for c in frame.columns]
    used: dict[str, str] = {}
    for name, column in (mapping or {}).items():
        if column in used.values():
            twice = next(n for n, c in used.items() if c == column)
            raise DataError(
                f"--candidates {path}: column {column!r} is mapped to both {twice} "
                f"and {name} (--x); each input needs a column of its own"
            )
        if column not in columns:
            match = closest(column, columns)
            hint = f" (did you mean {match!r}?)" if match else ""
            raise DataError(
                f"--candidates {path}: no column {column!r} for --x {name}={column}{hint}; "
                f"its columns: {', '.join(columns)}"
            )
        if name != column and name in columns:
            raise DataError(
                f"--candidates {path}: --x {name}={column} reads {name} from column "
                f"{column!r}, but the file has a column {name!r} too; rename one, or leave "
                f"out --x {name}"
            )
        used[name] = column
    from_fit = []
    for name, column in (fit_columns or {}).items():
        taken = name in used or name in columns or column in used.values()
        if not taken and not column.startswith("derived:") and column in columns:
            used[name] = column
            from_fit.append(name)
    for name, column in used.items():
        frame[name] = frame[column]
    frame.attrs["columns"] = {n: c for n, c in used.items() if n != c}
    frame.attrs["from_fit"] = from_fit
    return frame


def _check_inputs(pool: pd.DataFrame, law: Law, path: str, fit_columns: Mapping[str, str]) -> None:
    """Refuse candidates without an input of the law, saying which --x would give it."""
    from bayescale.errors import DataError, closest
    from bayescale.recommendation import _missing_inputs

    missing = _missing_inputs(pool.columns, law)
    if not missing:
        return
    columns = [str(c) for c in pool.columns]
    hints = []
    for name in missing:
        source = fit_columns.get(name, name)
        source = name if source.startswith("derived:") else source
        guess = closest(source, columns) or closest(name, columns)
        had = f" (the fit's runs had it as {source!r})" if source != name else ""
        hints.append(f"--x {name}={guess or 'COLUMN'}{had}")
    triad = " (of N, D, C any two are enough)" if {"N", "D", "C"} & set(missing) else ""
    raise DataError(
        f"--candidates {path}: law {law.name!r} needs {', '.join(law.inputs)}; missing "
        f"{', '.join(missing)}{triad}; the candidates' columns: {', '.join(columns)}; map a "
        f"column to {'it' if len(missing) == 1 else 'each'} with {', '.join(hints)}"
    )


def _cheap_but_weak(table: pd.DataFrame, attrs: dict, inputs: list[str]) -> str | None:
    """Without a budget the choice is per unit cost: a note when a costlier run helps far more."""
    if attrs.get("budget") is not None or not table["chosen"].any():
        return None
    if attrs.get("strategy") != "per_cost":
        return None
    variance = float(attrs["variance_before"])
    gained = variance - float(attrs["variance_after"])
    import pandas as pd

    # Only what the plan could choose: not a slip of units it left out, nor the target run.
    could = pd.Series(True, index=table.index)
    if "slip" in table and not attrs.get("keep_slips"):
        could &= table["slip"] != "below"
    if "reaches_target" in table:
        could &= ~table["reaches_target"].astype(bool)
    if not could.any():
        return None
    best = table.loc[table.loc[could, "variance_reduction"].idxmax()]
    if variance <= 0 or float(best["variance_reduction"]) < max(4 * gained, 0.05 * variance):
        return None
    where = ", ".join(f"{n}={format_number(float(best[n]), size_kind(n))}" for n in inputs)
    return (
        f"Ranked by reduction per unit cost, the choice is cheap and shortens the target's "
        f"variance by {gained / variance:.1%}; the candidate that shortens it most ({where}) "
        f"would by {float(best['variance_reduction']) / variance:.0%}, at cost "
        f"{format_number(float(best['cost']), 'short', 3)}. Give --budget to choose the most "
        f"reduction within a budget."
    )


def _cost_line(attrs: Mapping[str, Any]) -> str:
    """The cost model in words: formula, compute factor, units."""
    k = float(attrs["compute_factor"])
    if attrs["cost"] == f"{k:g}*N*D":
        return (
            f"Cost: {attrs['cost']} FLOPs ({k:g} is the fit's compute factor k of C = k N D); "
            f"--budget in FLOPs."
        )
    if attrs["cost_units"] == "FLOPs":
        return "Cost: the candidates' C, in FLOPs; --budget in FLOPs."
    from bayescale.recommendation import COST_FROM_COLUMN

    if attrs["cost"] == COST_FROM_COLUMN:
        return (
            f"Cost: {COST_FROM_COLUMN}, in its own units (used as --cost was not given; "
            f"--cost FORMULA for another, e.g. --cost '6*N*D' for FLOPs); --budget in the same."
        )
    return f"Cost: {attrs['cost']} (--cost), in the units of its columns; --budget in the same."


def _legend(attrs: Mapping[str, Any], id_name: str, path: str, gaussian: bool) -> str:
    """What each column of the table means, with its units."""
    quantity = _QUANTITY.get(attrs["criterion"].split(":")[0], "the target's quantity")
    ranked = "variance" if attrs["measure"] == "variance" else "90% interval width"
    unit = f"({quantity})^2" if attrs["measure"] == "variance" else quantity
    per = "FLOP" if attrs["cost_units"] == "FLOPs" else "cost unit"
    value = f"reduction per {per}" if attrs["strategy"] == "per_cost" else "reduction"
    draws, total = attrs["draws"], attrs.get("posterior_draws", attrs["draws"])
    subsets = (
        f", each reweighting its own random {draws} of the fit's {total} draws (--max-draws)"
        if draws < total
        else ""
    )
    return (
        f"Columns: # the order chosen; {id_name} the candidate's {id_name} in {path}; var -% "
        f"and width -% the expected reduction of the target's variance "
        f"({format_number(attrs['variance_before'], 'short', 3)} {quantity}^2 now) and 90% "
        f"interval width ({format_number(attrs['width_before'], 'short', 3)} {quantity}) if "
        f"that run alone were added, in percent of now, ± its Monte Carlo standard error over "
        f"{attrs['fantasies']} fantasies{subsets}: another --seed moves a value by about that "
        f"much; marginal -% what a chosen run adds to the reduction of the {ranked} given the "
        f"runs chosen before it (~ when within two of its standard errors of zero: it may add "
        f"nothing); vs #1 how far the candidate's {value} of the {ranked} lies from the first "
        f"chosen run's, in standard errors of that difference, paired over the same fantasies "
        f"(far surer than either value alone): within ±2 their order is Monte Carlo noise "
        f"that --seed may flip, and more --fantasies shrink it as 1/sqrt; per cost the "
        f"expected reduction of the {ranked} (absolute, in {unit}, not percent) per {per}; ESS "
        f"the effective sample size of the importance weights over {draws} posterior draws"
        + (
            "; estimate 'gaussian': they collapsed, and the linear-Gaussian estimate is shown "
            "(no ± for it)."
            if gaussian
            else "."
        )
    )


def _draws_text(attrs: Mapping[str, Any]) -> str:
    """The posterior draws each fantasy reweights: all, or a subset of the fit's."""
    draws, total = attrs["draws"], attrs.get("posterior_draws", attrs["draws"])
    if draws < total:
        return f"{draws} of the fit's {total} draws each"
    return f"{draws} draws"


def _strategy_line(attrs: Mapping[str, Any], chosen: int) -> str:
    """Which greedy choice chose, and by which rule."""
    rule, chose = attrs["strategy_rule"], attrs["strategy"]
    if chosen == 0:
        return ""
    if rule == "better":
        other = _BY["per_cost" if chose == "reduction" else "reduction"]
        than = "surer than" if chose == "reduction" else "as sure as or surer than"
        return (
            f" Chosen greedily by {_BY[chose]}, which ends {than} the choice by {other} "
            f"(--strategy better, the default with --budget)."
        )
    if rule == "per_cost":
        default = ", the default without --budget" if attrs["budget"] is None else ""
        return f" Chosen by reduction per unit cost (--strategy per_cost{default})."
    within = " within the budget" if attrs["budget"] is not None else ""
    return f" Chosen by reduction{within} (--strategy reduction)."


def _distance_line(attrs: Mapping[str, Any], law_only: bool) -> str | None:
    """How far the target lies beyond the runs, and along which inputs."""
    beyond = attrs.get("extrapolation")
    if beyond is None:
        return None
    from bayescale.hierarchy import NEW_GROUP

    # A new group has no runs of its own: its distance is from every group's runs.
    new = attrs.get("group") == NEW_GROUP
    span = "the range of every group's runs" if new else "the runs' range"
    none_own = " (the new group has no runs of its own)" if new else ""
    if beyond <= 0:
        return f"The target lies within {span}{none_own}."
    along = attrs.get("extrapolation_along") or []
    side = attrs.get("extrapolation_side") or "beyond"
    line = (
        f"The target lies {beyond:.1f} e-folds (x{math.exp(beyond):.3g}) {side} {span}"
        + (f", along {' and '.join(along)}" if along else "")
        + f"{none_own}."
    )
    if not attrs.get("discrepancy") and not law_only and beyond > 1.0:
        line += (
            " This plan takes the law's form as exact there: the fit has no discrepancy. A fit "
            "with one (the default of 'bayescale fit', where it can be learned) also counts the "
            "law's possible error, which runs nearer the target shorten."
        )
    return line


def _header(
    attrs: Mapping[str, Any], fit_file: str, path: str, id_name: str, pool: pd.DataFrame
) -> dict[str, Any]:
    """What a saved plan needs to be read and reproduced: the settings and their meaning."""
    return {
        "fit": fit_file,
        "candidates": path,
        "candidate": f"the {id_name} of {path} each candidate was read from",
        "columns": dict(pool.attrs.get("columns", {})),
        "columns_from_fit": list(pool.attrs.get("from_fit", [])),
        "legend": {
            "variance_reduction": "expected reduction of the target's variance if the run alone "
            "were added (absolute); *_se: its Monte Carlo standard error over the fantasies "
            "(standard_errors says what it covers)",
            "width_reduction": "the same for the 90% interval's width",
            "value_per_cost": "the ranking measure's expected reduction per unit of cost",
            "marginal_reduction": "its reduction when chosen, given the runs chosen before; "
            "marginal_within_noise: within two of its standard errors of zero",
            "difference": "what ranked (value_per_cost, or the reduction within a budget) minus "
            "the first chosen run's; difference_se: its standard error paired over the same "
            "fantasies (within two of it, the order is Monte Carlo noise)",
            "ess": "effective sample size of the importance weights",
            "affordable": "costs no more than --budget by itself (True without one)",
            "slip": "'below': N, D or C 1000x below every run, a slip of units most likely, "
            "never chosen unless --keep-slips (slips_left_out); 'swapped': N and D look "
            "swapped, warned only",
            "reaches_target": "costs at least as much as a run at the target, or lies at or "
            "beyond it in N and D: a chosen one is the decision itself (warned)",
        },
    }


def next_command(
    fit_file: FitArgument,
    candidates: Annotated[
        str,
        typer.Option(
            "--candidates",
            metavar="FILE",
            help="Table of runnable candidates (.csv, .tsv, .parquet): a column per input "
            "of the law (of N, D, C two are enough), and any column the cost uses. Columns "
            "named as in the fit's runs are read as the fit read them.",
        ),
    ],
    target: Annotated[
        list[str],
        typer.Option(
            "--target",
            metavar="NAME=VALUE,...",
            help="What to be surer of: a point such as N=7e10,D=1.4e12 (the loss there), or "
            "C=1e23 (the compute-optimal N at that budget). Repeatable: a target region.",
        ),
    ],
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            parser=_quantity,
            help="Most the chosen runs may cost together (cost units: 1e21, 10^21 or 1e21 "
            "FLOPs for FLOPs). With a budget, the "
            "runs that reduce the uncertainty most within it are chosen (--strategy).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Runs to choose, greedily.")] = 1,
    cost: Annotated[
        str | None,
        typer.Option(
            "--cost",
            metavar="FORMULA",
            help="Cost of a run, a formula of the candidates' columns, e.g. '6*N*D' or "
            "'gpu_hours' (default: the candidates' column cost if they have one, else k N D "
            "FLOPs with the fit's compute factor k).",
        ),
    ] = None,
    criterion: Annotated[
        Criterion, typer.Option("--criterion", help="What the uncertainty is of.")
    ] = Criterion.auto,
    measure: Annotated[
        Measure,
        typer.Option("--measure", help="Reduce the variance or the 90% interval's width."),
    ] = Measure.variance,
    strategy: Annotated[
        Strategy,
        typer.Option(
            "--strategy",
            help="How runs are chosen: per_cost, by expected reduction per unit cost; "
            "reduction, by expected reduction (within --budget, if given); better, the one of "
            "the two that ends surer; auto, better with --budget, else per_cost.",
        ),
    ] = Strategy.auto,
    fixed: FixedOption = None,
    x: Annotated[
        list[str] | None,
        typer.Option(
            "--x",
            metavar="NAME=COLUMN",
            help="Map a law input to a column of the candidates, e.g. --x N=params "
            "(repeatable). Default: the column named as the input (N, D, C, U), else the "
            "column the fit's runs had it in.",
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    top: Annotated[
        int, typer.Option("--top", min=1, help="Candidates shown in the table format.")
    ] = 10,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the fantasies (default: the fit's).")
    ] = None,
    fantasies: Annotated[
        int,
        typer.Option(
            "--fantasies",
            min=2,
            help="Simulated outcomes (fantasy worlds) per candidate: more shrink the Monte "
            "Carlo error of the expected reductions and of their differences (as 1/sqrt), at "
            "proportional cost.",
        ),
    ] = 32,
    max_draws: Annotated[
        int | None,
        typer.Option(
            "--max-draws",
            min=2,
            help="Posterior draws each fantasy reweights (default 4000: all of a default "
            "fit's). A larger fit gives each fantasy its own random subset, whose error the "
            "± includes.",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            metavar="NAME",
            help="For a fit with groups: the group planned. Candidates with the runs' group "
            "column must all be of it.",
        ),
    ] = None,
    discrepancy: Annotated[
        bool,
        typer.Option(
            "--discrepancy/--law-only",
            help="Count the fit's discrepancy in the uncertainty to reduce (a run nearer the "
            "target shortens the extrapolation), or the law's posterior uncertainty alone.",
        ),
    ] = True,
    keep_slips: Annotated[
        bool,
        typer.Option(
            "--keep-slips",
            help="Let candidates that look like a slip of units (N, D or C 1000x below every "
            "run) be chosen; by default they are warned about, shown (flag units?) and never "
            "chosen. Candidates with N and D swapped are only warned about (flag swapped?).",
        ),
    ] = False,
) -> None:
    """Which runs to train next: most expected reduction of uncertainty, per unit cost or
    within --budget.

    Without --budget the candidates are ranked by expected reduction per unit cost; with it,
    the runs that reduce the uncertainty most within the budget are chosen. A fit with its
    discrepancy (the default of 'bayescale fit') also counts the law's possible error at the
    target, unless --law-only.

    \f
    Parameters
    ----------
    fit_file : str
        Path of a saved fit.
    candidates : str
        Table of candidate runs.
    target : list of str
        Target points (``NAME=VALUE,...``) or budgets (``C=...``).
    budget : float, optional
        Cap on the chosen runs' total cost.
    batch : int, default 1
        Runs to choose.
    cost : str, optional
        Cost formula of the candidates' columns.
    criterion, measure, strategy : str
        See :func:`bayescale.recommend`.
    fixed : list of str, optional
        ``NAME=VALUE`` for the law's other inputs (``optimal_N`` only).
    x : list of str, optional
        ``NAME=COLUMN``: the candidates' column of each input.
    output_format : OutputFormat, default table
        ``table``, ``csv`` or ``json``.
    top : int, default 10
        Rows of the terminal table.
    seed : int, optional
        Seed of the fantasies.
    fantasies : int, default 32
        Simulated outcomes per candidate.
    max_draws : int, optional
        Posterior draws per fantasy (default :data:`bayescale.recommendation.DEFAULT_MAX_DRAWS`).
    group : str, optional
        Group of a hierarchical fit.
    discrepancy : bool, default True
        Count the fit's discrepancy in the uncertainty to reduce.
    keep_slips : bool, default False
        Let candidates that look like a slip of units be chosen.

    Raises
    ------
    DataError
        If the candidates cannot be read or lack an input, or no candidate fits the budget
        (exit code 2).
    """
    points = parse_points(target, "--target")
    others = fixed_inputs(fixed)
    mapping = parse_mapping(x)

    from bayescale.errors import DataError
    from bayescale.recommendation import recommend

    result = read_fit(fit_file)
    check_point_names(points, list(result.law.inputs), "--target")
    fit_columns = dict(result.runs.columns)
    pool = read_candidates(candidates, mapping, fit_columns)
    _check_inputs(pool, result.law, candidates, fit_columns)
    id_name = str(pool.index.name)
    # A fit that failed its diagnostics: recommend warns, and the warning becomes a line.
    with warnings_as_lines(), _naming(candidates), warnings.catch_warnings():
        # Said below as the error it is on the command line (exit code 2), not a warning.
        warnings.filterwarnings("ignore", message="no candidate fits the budget")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = recommend(
                result,
                pool,
                target=points,
                cost=cost,
                budget=budget,
                batch=batch,
                criterion=criterion.value,
                measure=measure.value,
                fixed=others,
                fantasies=fantasies,
                **({} if max_draws is None else {"max_draws": max_draws}),
                strategy=strategy.value,
                seed=seed,
                group=group,
                discrepancy=discrepancy,
                keep_slips=keep_slips,
            )
        # The library's remedies in this command's words (keep_slips=True: --keep-slips).
        for item in caught:
            text = _cli_words(str(item.message))
            if text.startswith("candidates: "):  # named by the file, as its errors are
                text = f"--candidates {candidates}: {text.removeprefix('candidates: ')}"
            warnings.warn_explicit(text, item.category, item.filename, item.lineno)
    attrs = dict(table.attrs)
    # A likely slip of units is never chosen: the budget is judged by the others.
    left_out = (table["slip"] == "below") & (not keep_slips)
    pool_rows = table[~left_out] if (~left_out).any() else table
    if budget is not None and not table["chosen"].any() and pool_rows["cost"].min() > budget:
        cheapest = pool_rows.loc[pool_rows["cost"].idxmin()]
        raise DataError(
            f"--budget {format_number(budget, 'flops')} is less than every candidate's cost: "
            f"the cheapest, {id_name} {cheapest['candidate']} of {candidates}, costs "
            f"{format_number(float(cheapest['cost']), 'flops')} ({attrs['cost']}); raise "
            f"--budget or add cheaper candidates. Nothing was chosen"
        )
    inputs = [n for n in result.law.inputs if n in table.columns]
    note = _cheap_but_weak(table, attrs, inputs)
    mapped = pool.attrs.get("columns", {})
    if output_format is OutputFormat.csv:
        print_csv(table)
        # The plan's settings beside the table, not in it.
        settings = (
            f"plan: {attrs['criterion']}; target {attrs['target']}; budget {attrs['budget']}; "
            f"cost {attrs['cost']} ({attrs['cost_units']}); seed {attrs['seed']}; strategy "
            f"{attrs['strategy_rule']} (chose by {attrs['strategy']})"
            + (f"; group {attrs['group']}" if attrs.get("group") else "")
            + (f"; columns {', '.join(f'{n}={c}' for n, c in mapped.items())}" if mapped else "")
            + f"; candidate = the {id_name} of {candidates}"
        )
        typer.echo(settings, err=True)
        if note:
            typer.echo(f"note: {note}", err=True)
        for caveat in attrs.get("caveats") or []:
            typer.echo(f"caveat: {_cli_words(caveat)}", err=True)
        return
    if output_format is OutputFormat.json:
        print_json(
            {
                "law": result.law.name,
                "diagnostics_ok": bool(result.ok),
                **_header(attrs, fit_file, candidates, id_name, pool),
                **{key: attrs[key] for key in sorted(attrs)},
                "note": note,
                "rows": records(table),
            }
        )
        return
    chosen = int(table["chosen"].sum())
    # Every chosen run is shown (they come first), and at least --top rows.
    shown = max(top, chosen)
    where = f", group {attrs['group']}" if attrs.get("group") else ""
    console().print(
        frame_table(
            _display(table, inputs, id_name).head(shown),
            f"Which run next: {attrs['criterion']}{where}",
            ["cost", *result.law.inputs],
        )
    )
    if len(table) > shown:
        say(f"(the first {shown} of {len(table)} candidates; --top N shows more, -f csv all)")
    say(_legend(attrs, id_name, candidates, bool((table["estimate"] != "reweight").any())))
    flags = _flags_line(table.head(shown))
    if flags:
        say(flags)
    say(_cost_line(attrs))
    if mapped:
        from_fit = set(pool.attrs.get("from_fit", []))
        say(
            "Inputs read from the candidates' columns: "
            + ", ".join(
                f"{n}={c}" + (" (as the fit's runs)" if n in from_fit else " (--x)")
                for n, c in mapped.items()
            )
            + "."
        )

    def g(value: float) -> str:
        return format_number(value, "short", 3)

    say(
        f"Chosen: {chosen} run(s) costing {g(attrs['spent'])}"
        + (f" of a budget of {g(attrs['budget'])}" if attrs["budget"] is not None else "")
        + f". Expected 90% interval width at the target: {g(attrs['width_before'])} -> "
        f"{g(attrs['width_after'])}; variance {g(attrs['variance_before'])} -> "
        f"{g(attrs['variance_after'])} ({attrs['fantasies']} fantasies over "
        f"{_draws_text(attrs)}, seed {attrs['seed']})."
        + (
            f" Of that variance, the law's discrepancy beyond the runs: "
            f"{g(attrs['discrepancy_variance_before'])} -> "
            f"{g(attrs['discrepancy_variance_after'])}."
            if attrs.get("discrepancy")
            else ""
        )
        + _strategy_line(attrs, chosen)
    )
    if note:
        say(note)
    if attrs.get("marginal_within_noise"):
        say(
            "A run marked ~ may add nothing given the runs chosen before it: its marginal "
            "reduction is within two of its standard errors of zero, and another --seed may "
            "leave it out (more --fantasies tell)."
        )
    if not discrepancy and getattr(result, "discrepancy", None) is not None:
        say(
            "Planned on the law's posterior uncertainty alone (--law-only): the fit's "
            "discrepancy is left out of the choice, not out of its forecasts."
        )
    distance = _distance_line(attrs, not discrepancy)
    if distance:
        say(distance)
    for caveat in attrs.get("caveats") or []:
        say(f"Caveat: {_cli_words(caveat)}.")
