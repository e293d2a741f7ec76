"""``bayescale compare``: rank law forms by PSIS-LOO and by scores on held-out larger runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._guard import check_folder_outputs, cli_words, warnings_as_lines
from .._options import (
    SAMPLER_DEFAULTS,
    ChainsOption,
    ComputeFactorOption,
    DataArgument,
    Discrepancy,
    DiscrepancyOption,
    DrawsOption,
    ForceOption,
    SeedOption,
    TargetAcceptOption,
    TuneOption,
    XOption,
    YOption,
    out_option,
    parse_mapping,
    parse_numbers,
    sampler_settings,
)
from .._render import console, frame_table, say

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["compare_command", "loo_flags"]

LOO_COLUMNS = ["elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "pareto_k_bad"]
HELD_OUT_COLUMNS = ["law", "holdout", "n_train", "n_test", "elpd_per_run", "coverage_50"]
HELD_OUT_COLUMNS += ["coverage_90", "r2", "mare", "diagnostics_ok"]

#: What the columns of the three tables mean, printed under each.
LOO_LEGEND = (
    "elpd_loo: log density of each run's log loss when left out (nats; of the loss itself "
    "when a law's noise is additive), summed over the runs, with its standard error se; "
    "elpd_diff: how far below the best law (0 for the "
    "best; larger is worse); dse: the standard error of that gap, the one to judge it by "
    "(a gap under 2 dse is not decisive); p_loo: effective number of parameters; "
    "loo_weight: stacking weight on PSIS-LOO; pareto_k_bad: runs whose PSIS-LOO estimate "
    "is unreliable (Pareto k > 0.7)."
)
HELD_OUT_LEGEND = (
    "Each law refitted on the n_train runs at or below the threshold and scored on the "
    "n_test runs above it. elpd_per_run: mean log density of a held-out run's log loss "
    "(nats; higher is better); coverage_50/90: share of held-out runs inside the 50%/90% "
    "predictive interval (calibrated: about 50%/90%); r2: R^2 of the median law (clipped: "
    "≤ -1 is -1 or worse); mare: mean absolute relative error; diagnostics_ok: the refit "
    "passed its diagnostics."
)
WEIGHTS_LEGEND = (
    "loo_weight: stacking on PSIS-LOO (interpolation); extrapolation_weight: stacking on "
    "the held-out runs, averaged over 200 Bayesian-bootstrap reweightings of those runs "
    "(what averaged forecasts use, without laws whose fits failed); "
    "extrapolation_stacking_weight: plain stacking on the same runs. <0.001: below 0.001."
)


def weight_text(value: float) -> str:
    """A weight as people read it: 0.731, <0.001 (not 2.1e-10), >0.999, or '–' if none.

    Parameters
    ----------
    value : float
        A weight between 0 and 1, or NaN.

    Returns
    -------
    str
        The weight to 3 decimals, with the two ends spelled as bounds.
    """
    import math

    if value is None or not math.isfinite(float(value)):
        return "–"
    value = float(value)
    if value == 0.0 or value == 1.0:
        return f"{value:.3f}"
    if value < 0.0005:
        return "<0.001"
    if value > 0.9995:
        return ">0.999"
    return f"{value:.3f}"


def held_out_rows(extrapolation: pd.DataFrame) -> pd.DataFrame:
    """The held-out table as printed: shares as percents, a clipped R^2 as '≤ -1'.

    Parameters
    ----------
    extrapolation : pandas.DataFrame
        :attr:`bayescale.Comparison.extrapolation`.

    Returns
    -------
    pandas.DataFrame
        :data:`HELD_OUT_COLUMNS` indexed by law, coverages and ``mare`` as text in percent,
        ``r2`` as text.
    """
    out = extrapolation[[c for c in HELD_OUT_COLUMNS if c in extrapolation.columns]].copy()
    return score_cells(out).set_index("law")


def score_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Held-out scores as printed: coverages and ``mare`` as text in percent, a clipped
    R^2 as '≤ -1', a missing score as '–'.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns of :func:`bayescale.comparison.score` (``coverage_*``, ``mare``, ``r2``)
        among others, which are kept as they are.

    Returns
    -------
    pandas.DataFrame
        A copy with those columns as text.
    """
    import math

    out = table.copy()

    def percent(value: float) -> str:
        return "–" if not math.isfinite(float(value)) else f"{100 * float(value):.0f}%"

    def r2(value: float) -> str:
        value = float(value)
        if not math.isfinite(value):
            return "–"
        return "≤ -1" if value <= -1.0 else f"{value:.3f}"

    for column in [c for c in out.columns if str(c).startswith("coverage_")]:
        out[column] = [percent(v) for v in out[column]]
    if "mare" in out.columns:
        out["mare"] = [
            "–" if not math.isfinite(float(v)) else f"{100 * float(v):.1f}%" for v in out["mare"]
        ]
    if "r2" in out.columns:
        out["r2"] = [r2(v) for v in out["r2"]]
    return out


def loo_flags(loo: pd.DataFrame, held_out: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """The LOO table's printed columns with a ``check`` column, and its footnotes.

    ``check`` marks a law whose fit failed its diagnostics (✗) and one whose PSIS-LOO
    estimate ArviZ warns about (k: a Pareto k above ArviZ's threshold for these draws);
    one footnote per mark says what it means for that law. The stacking weight is shown
    as ``loo_weight`` (the name the weights table gives it), as text (``<0.001``).

    Parameters
    ----------
    loo : pandas.DataFrame
        :attr:`bayescale.Comparison.loo`.
    held_out : bool, default True
        Whether the comparison has held-out scores: a Pareto-k footnote then points at
        them, else at ``--holdout-above``.

    Returns
    -------
    tuple of (pandas.DataFrame, list of str)
        The columns to print, and the footnotes (none when nothing is marked).
    """
    out = loo[[c for c in LOO_COLUMNS if c in loo.columns]].copy()
    if "weight" in out.columns:
        out["weight"] = [weight_text(w) for w in out["weight"]]
        out = out.rename(columns={"weight": "loo_weight"})
    marks, notes = [], []
    for name, row in loo.iterrows():
        mark = []
        ok = row.get("diagnostics_ok", True)
        if str(ok) == "False":  # a boolean, or the string after a CSV round trip
            mark.append("✗")
            notes.append(
                f"✗ {name}: its fit failed its diagnostics, so its LOO score and weight "
                f"are not to be trusted; the verdict below says why and what to do."
            )
        k_max = float(row.get("pareto_k_max", float("nan")))
        if str(row.get("warning", False)) == "True" or int(row.get("pareto_k_bad", 0)) > 0:
            mark.append("k")
            notes.append(
                f"k {name}: Pareto k up to {k_max:.2f}, above ArviZ's threshold for these "
                f"draws: its PSIS-LOO estimate is unreliable; "
                + (
                    "rely on the held-out score."
                    if held_out
                    else "score the laws on held-out larger runs instead (--holdout-above, "
                    "see the verdict)."
                )
            )
        marks.append(" ".join(mark))
    if any(marks):
        out["check"] = marks
    return out, notes


def _law_names(laws: str, fewest: int = 2) -> list[str]:
    """The laws of ``--laws``: split on the commas outside parentheses (at least ``fewest``).

    A formula's function calls take commas (``maximum(N, D)``) that do not separate laws;
    an unbalanced parenthesis would swallow the laws after it, so it is refused.
    """
    names, depth, start, opened = [], 0, 0, []
    for i, char in enumerate(laws):
        if char == "(":
            depth += 1
            opened.append(i)
        elif char == ")":
            if depth == 0:
                raise typer.BadParameter(
                    f"the ')' at character {i + 1} of {laws!r} closes no parenthesis; remove "
                    f"it, or open it in its formula",
                    param_hint="'--laws'",
                )
            depth -= 1
            opened.pop()
        elif char == "," and depth == 0:
            names.append(laws[start:i])
            start = i + 1
    if depth:
        at = opened[-1]
        raise typer.BadParameter(
            f"the '(' at character {at + 1} of {laws!r} is never closed, so the commas after "
            f"it are read as part of one formula; close it with ')'",
            param_hint="'--laws'",
        )
    names.append(laws[start:])
    names = [name.strip() for name in names if name.strip()]
    if len(names) < fewest:
        raise typer.BadParameter(
            "give at least two laws, e.g. chinchilla,kaplan (or one law with --group and "
            "--pooling none,partial,complete to compare pooling choices)",
            param_hint="'--laws'",
        )
    return names


def compare_command(
    data: DataArgument,
    laws: Annotated[
        str,
        typer.Option(
            "--laws",
            metavar="LAW,LAW,...",
            help="Laws to compare, comma-separated: catalog names, .toml law files or "
            "formulas (commas inside parentheses belong to the formula, as in "
            "'E + A / maximum(N, D)**alpha,chinchilla'). Formulas are named custom_1, "
            "custom_2, ... in the order given.",
        ),
    ],
    out: Annotated[Path, out_option("DIR", "Folder for tables and fits.")],
    x: XOption = None,
    y: YOption = "loss",
    compute_factor: ComputeFactorOption = 6.0,
    holdout_above: Annotated[
        list[str] | None,
        typer.Option(
            "--holdout-above",
            metavar="NAME=VALUE[,VALUE]",
            help="Fit on the runs at or below the threshold, score the larger ones, "
            "e.g. --holdout-above C=1e20,1e21 (repeatable).",
        ),
    ] = None,
    draws: DrawsOption = SAMPLER_DEFAULTS.draws,
    tune: TuneOption = SAMPLER_DEFAULTS.tune,
    chains: ChainsOption = SAMPLER_DEFAULTS.chains,
    target_accept: TargetAcceptOption = SAMPLER_DEFAULTS.target_accept,
    seed: SeedOption = SAMPLER_DEFAULTS.seed,
    discrepancy: DiscrepancyOption = Discrepancy.auto,
    force: ForceOption = False,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            metavar="COLUMN",
            help="Column naming each run's family: every law is fitted hierarchically, "
            "with partial pooling (repeatable: groups from several columns).",
        ),
    ] = None,
    pooling: Annotated[
        str | None,
        typer.Option(
            "--pooling",
            metavar="KIND,KIND,...",
            help="With --group and one law: compare pooling choices instead of laws, e.g. "
            "--pooling none,partial,complete (PSIS-LOO, and held-out scores with "
            "--holdout-above); writes pooling.csv into --out.",
        ),
    ] = None,
) -> None:
    """Compare law forms: PSIS-LOO with stacking weights, and scores on held-out larger runs.

    With --group every law is fitted hierarchically; with --group, one law and
    --pooling none,partial,complete, the pooling choices are compared instead.

    \f
    Parameters
    ----------
    data : str
        Path of the table of runs.
    laws : str
        Comma-separated catalog names, ``.toml`` paths or formulas; commas inside
        parentheses belong to a formula. Formulas are named ``custom_1``, ``custom_2``...
    out : Path
        Folder for loo.csv, extrapolation.csv and heldout.csv (with held-out runs),
        verdict.txt, notes.json and fits/.
    x, y, compute_factor
        As in ``fit``.
    holdout_above : list of str, optional
        ``NAME=VALUE[,VALUE]`` thresholds for the extrapolation score.
    draws, tune, chains, target_accept, seed
        Sampler settings of every fit, as in ``fit``.
    discrepancy : Discrepancy, default "auto"
        Model discrepancy of every fit, as in ``fit``: held-out scores then judge each law
        with its own.
    force : bool, default False
        Overwrite earlier outputs in `out`.
    group : list of str, optional
        Grouping column(s), as in ``fit``.
    pooling : str, optional
        Comma-separated pooling choices to compare (with ``group`` and one law).
    """
    mapping = parse_mapping(x)
    names = _law_names(laws, fewest=1 if pooling is not None else 2)
    thresholds = parse_numbers(holdout_above, "--holdout-above")
    sampler = sampler_settings(draws, tune, chains, target_accept, seed)
    choices = _pooling_choices(pooling, group, names)
    from bayescale.data import load_runs

    with warnings_as_lines():
        runs = load_runs(data, x=mapping, y=y, compute_factor=compute_factor, group=group or None)
    if choices is not None:
        _compare_pooling(
            data, runs, names[0], choices, thresholds, out, force, sampler, discrepancy
        )
        return

    # PyMC is imported from here on: every input has been checked that can be without it.
    from bayescale.comparison import compare, comparison_files, name_laws
    from bayescale.errors import DataError

    # The library names the laws (formulas custom_1, custom_2, ...) as compare() does.
    try:
        chosen = list(name_laws(names, runs=runs).values())
    except DataError as err:
        raise typer.BadParameter(str(err), param_hint="'--laws'") from None
    for law in chosen:
        runs.require_law(law)
    if thresholds:
        from bayescale.comparison import _check_holdout

        # Thresholds that leave nothing to score or to fit are refused before any sampling.
        try:
            _check_holdout(runs, thresholds, {law.name: law for law in chosen})
        except DataError as err:
            raise typer.BadParameter(str(err), param_hint="'--holdout-above'") from None
    # The library's own list of what it writes, relative to the folder.
    files = comparison_files(Path(), [law.name for law in chosen], bool(thresholds))
    inputs = [
        ("the data DATA", data),
        *((f"the law file {n}", n) for n in names if n.endswith(".toml")),
    ]
    check_folder_outputs(out, list(files.values()), force, inputs=inputs)

    # Each law by the name its rows and files take, with the formula or path it came from.
    shown = [
        law.name if law.name == entry else f"{law.name} ({entry})"
        for law, entry in zip(chosen, names, strict=True)
    ]
    say(f"Comparing {', '.join(shown)} on {len(runs)} runs from {runs.source}")
    with warnings_as_lines():
        result = compare(
            runs,
            laws=chosen,
            holdout_above=thresholds or None,
            sampler=sampler,
            discrepancy=discrepancy.value,
        )
    held = result.extrapolation is not None
    loo, footnotes = loo_flags(result.loo, held_out=held)
    table = frame_table(loo, "PSIS-LOO (interpolation): higher elpd is better")
    console().print(table)
    say(LOO_LEGEND)
    for line in footnotes:
        say(line)
    if result.extrapolation is not None:
        title = "Held-out larger runs (extrapolation): higher elpd per run is better"
        console().print(frame_table(held_out_rows(result.extrapolation), title))
        say(HELD_OUT_LEGEND)
    weights = result.weights_table()
    if result.extrapolation_weights is None:
        weights = weights[["loo_weight"]]
        title = "Stacking weights (PSIS-LOO): averaged forecasts use these"
    else:
        title = (
            "Stacking weights: on PSIS-LOO (interpolation) and on the held-out larger runs "
            "(extrapolation); averaged forecasts use extrapolation_weight"
        )
    shown = weights.apply(lambda column: column.map(weight_text))
    console().print(frame_table(shown, title))
    say(
        WEIGHTS_LEGEND
        if held
        else "loo_weight: stacking on PSIS-LOO (interpolation). <0.001: below 0.001."
    )
    say(result.verdict())
    written = result.save(out, overwrite=force)
    say(f"Wrote {len(written)} files into {out}")


def _pooling_choices(
    pooling: str | None, group: list[str] | None, names: list[str]
) -> list[str] | None:
    """``--pooling``'s choices, checked against ``--group`` and ``--laws``; None without it."""
    if pooling is None:
        return None
    if not group:
        raise typer.BadParameter(
            "--pooling compares pooling choices across groups of runs: give the grouping "
            "column with --group COLUMN",
            param_hint="'--pooling'",
        )
    if len(names) != 1:
        raise typer.BadParameter(
            f"--pooling compares pooling choices of one law; --laws gives {len(names)} "
            f"({', '.join(names)}): give one, or leave out --pooling to compare the laws",
            param_hint="'--pooling'",
        )
    choices = [c.strip() for c in pooling.split(",") if c.strip()]
    known = ("none", "partial", "complete")
    unknown = [c for c in choices if c not in known]
    if unknown or len(choices) < 2 or len(set(choices)) < len(choices):
        from bayescale.errors import closest

        guess = closest(unknown[0], known) if unknown else None
        hint = f" ({unknown[0]!r}: did you mean {guess!r}?)" if guess is not None else ""
        raise typer.BadParameter(
            f"{pooling!r}: give two or more different choices of {', '.join(known)}, e.g. "
            f"--pooling none,partial,complete{hint}",
            param_hint="'--pooling'",
        )
    return choices


def _compare_pooling(
    data: str,
    runs: Any,
    law: str,
    choices: list[str],
    thresholds: dict[str, list[float]] | None,
    out: Path,
    force: bool,
    sampler: Any,
    discrepancy: Discrepancy,
) -> None:
    """``compare --pooling``: each choice fitted, its LOO and held-out scores in pooling.csv."""
    from bayescale import _files
    from bayescale.comparison import _pooling_splits, compare_pooling

    if thresholds:
        from bayescale.errors import DataError

        try:
            _pooling_splits(runs, thresholds)
        except DataError as err:
            raise typer.BadParameter(str(err), param_hint="'--holdout-above'") from None
    inputs = [("the data DATA", data), *((("the law file", law),) if law.endswith(".toml") else ())]
    check_folder_outputs(out, ["pooling.csv"], force, inputs=inputs)
    say(
        f"Comparing pooling choices {', '.join(choices)} of {law} on {len(runs)} runs in "
        f"{len(set(runs.group))} groups from {runs.source}"
    )
    with warnings_as_lines():
        table = compare_pooling(
            runs,
            law,
            choices=choices,
            holdout_above=thresholds or None,
            sampler=sampler,
            discrepancy=discrepancy.value,
        )
    console().print(frame_table(score_cells(table.reset_index()), "Pooling choices"))
    say(POOLING_LEGEND)
    # The library's verdict (leads with their standard errors, failed fits named).
    for line in table.attrs["verdict"].splitlines():
        say(cli_words(line))
    out.mkdir(parents=True, exist_ok=True)
    _files.write_text(out / "pooling.csv", table.to_csv(), overwrite=force)
    say(f"Wrote {out / 'pooling.csv'}")


#: What the columns of the pooling table mean.
POOLING_LEGEND = (
    "elpd_loo, p_loo, pareto_k_bad: PSIS-LOO of each choice fitted to every run; "
    "diagnostics_ok: that fit passed its diagnostics. With --holdout-above, per threshold: "
    "the choice refitted on the n_train runs at or below it and scored on the n_test larger "
    "ones: elpd (summed log density, nats; higher is better), elpd_per_run, coverage_* (share "
    "inside the predictive intervals, in percent), r2, mare (mean absolute relative error, in "
    "percent) and diagnostics_ok_refit. pooling.csv keeps the fractions."
)
