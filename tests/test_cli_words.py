"""The command line says the library's Python remedies as options (bayescale.cli._guard.cli_words),
and changes no other message.

`cli_words` runs over every error and warning the commands show. Each of its rewrites was
written for one library message; the corpus below holds those messages as the library
writes them (produced by the library where a call can make them, else copied from their
source), and messages that merely look alike (a mapping printed after "got", a dict of two
keys, an ``x=`` of another meaning), which must come out unchanged.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import bayescale as bs
from bayescale.cli import app
from bayescale.cli._guard import cli_words
from bayescale.errors import BayescaleError
from bayescale.laws import Law, catalog, get_law

_N = np.geomspace(1e8, 1e10, 10)
FRAME = pd.DataFrame({"N": _N, "D": 20 * _N, "loss": 2.0 + 300.0 / _N**0.3})


def raised(call: Callable[..., object], *args: object, **kwargs: object) -> str:
    """The message of the library error `call` raises."""
    with pytest.raises(BayescaleError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def _law_with_u() -> Law:
    return next(law for law in map(get_law, catalog()) if "U" in law.inputs)


def _weights(names: list[str]) -> str:
    from bayescale.comparison import average

    fits = dict.fromkeys(names, object())  # refused on the weights, before the fits are read
    return raised(average, fits, weights=dict.fromkeys(names, 0.0))


def _check_law(law: Law, fixed: dict[str, float]) -> str:
    from bayescale.planning import _check_law

    return raised(_check_law, law, fixed)


# -- messages with a remedy in Python's words: (message, what the command line says) ---------

REWRITTEN: dict[str, tuple[Callable[[], str], str]] = {
    "weights": (
        lambda: _weights(["chinchilla", "kaplan"]),
        "weights must be non-negative with a positive sum, got --weights chinchilla=0.0,kaplan=0.0",
    ),
    "weights-spaced-name": (
        lambda: _weights(["my law", "kaplan"]),
        "weights must be non-negative with a positive sum, got --weights 'my law=0.0,kaplan=0.0'",
    ),
    "fixed-triad": (
        lambda: raised(bs.planning.check_fixed, get_law("chinchilla"), {"N": 1e9}),
        "--fixed N=...: N, D and C are what a plan chooses or is given, not fixed inputs; law "
        "'chinchilla' has no input other than N, D. For a model of a given size, ask 'bayescale "
        "target --loss ... --at N=...,D=...' or forecast at N and D ('bayescale forecast --at "
        "N=...,D=...')",
    ),
    "fixed-not-an-input": (
        lambda: raised(bs.planning.check_fixed, get_law("chinchilla"), {"U": 1e9}),
        "--fixed U=...: not an input of the law; law 'chinchilla' has no input other than N, D",
    ),
    "fixed-not-finite": (
        lambda: raised(bs.planning.check_fixed, _law_with_u(), {"U": float("nan")}),
        "--fixed U=nan: give a finite number",
    ),
    "fixed-missing": (
        lambda: _check_law(_law_with_u(), {}),
        f"law {_law_with_u().name!r} also needs U; give a value with --fixed U=... (e.g. the "
        "unique tokens available)",
    ),
    "x-empty": (
        lambda: raised(bs.load_runs, FRAME, x={}),
        "<DataFrame>: x is empty; map at least one input, e.g. --x N=COLUMN",
    ),
    "x-missing-column": (
        lambda: raised(bs.load_runs, FRAME, x={"N": "Model Size"}),
        "<DataFrame>: no column 'Model Size' (for input 'N'); available columns: 'N', 'D', "
        "'loss'; map it with --x N=COLUMN",
    ),
    "y-missing-column": (
        lambda: raised(bs.load_runs, FRAME, y="val"),
        "<DataFrame>: no column 'val' (for y); available columns: 'N', 'D', 'loss'; choose the "
        "response column with --y COLUMN",
    ),
    "no-input-column": (
        lambda: raised(bs.load_runs, FRAME[["loss"]]),
        "<DataFrame>: no input columns named 'N', 'D', 'C' or 'U'; available columns: 'loss'; "
        "say which columns are inputs with --x N=COLUMN",
    ),
    "input-read-as-another": (
        lambda: raised(bs.load_runs(FRAME, x={"N": "D"}).require, ["N", "D"], 1, "chinchilla"),
        "law 'chinchilla' needs input 'D', but the data from <DataFrame> has only 'N'; map a "
        "column to each with --x D=COLUMN (when two of N, D, C are mapped the third is derived "
        "from C = 6 N D); column 'D' is read as N (--x N=D)",
    ),
    "formula-unknown-name": (
        lambda: raised(Law.from_formula, "E + A/N**alpha + B/S**beta", runs=bs.load_runs(FRAME)),
        "map a column to it (--x S=COLUMN). If it really is a parameter, declare it in a .toml "
        "law file ([parameters.S] with a prior)",
    ),
    "formula-unknown-names": (
        lambda: raised(
            Law.from_formula, "E + A/N**alpha + k*log(lr/lr0)**2", runs=bs.load_runs(FRAME)
        ),
        "map a column to it (--x lr=COLUMN). If they really are parameters, declare them in a "
        ".toml law file ([parameters.lr] with a prior)",
    ),
    "formula-input-in-another-case": (
        lambda: raised(Law.from_formula, "E + A/n**alpha", runs=bs.load_runs(FRAME, x={"D": "D"})),
        "did you mean 'N'? (no column is mapped to N: map one with --x N=COLUMN) If 'n' really "
        "is a parameter, declare it in a .toml law file ([parameters.n] with a prior)",
    ),
    "column-no-input-uses": (
        lambda: raised(
            bs.laws.refuse_unused_columns,
            Law.from_formula("E + A/N**alpha", runs=bs.load_runs(FRAME)),
            bs.load_runs(FRAME.assign(alpha=1.0), x={"N": "N", "D": "D"}),
        ),
        "To use the column, map it to an input (--x X=alpha) and write that input (X)",
    ),
    "pooling-names-the-noise": (
        lambda: raised(
            bs.fit,
            bs.load_runs(FRAME.assign(fam=["a", "b"] * 5), group="fam"),
            "chinchilla",
            pooling={"sigma": "pooled"},
        ),
        "--pooling: 'sigma' is a noise parameter, shared by every group",
    ),
    "draws": (lambda: raised(bs.SamplerSettings, draws=0), "--draws must be a whole number >= 1"),
    # Made only by a fit or a recommendation: copied from their source.
    "separate-per-group": (
        lambda: (
            "separate per group: E. The other groups say nothing of a new group's value, "
            "so it is drawn from the law's prior and the new group's forecasts are as wide as that "
            "prior; pool it (pooling={'E': 'pooled'}) to learn it from the other groups"
        ),
        "pool it (--pooling E=pooled) to learn it",
    ),
    "target-budgets": (
        lambda: (
            "criterion 'optimal_N' needs target budgets, e.g. target={'C': 1e23} (FLOPs); "
            "the target has N, D"
        ),
        "criterion 'optimal_N' needs target budgets, e.g. --target C=1e23 (FLOPs); the target "
        "has N, D",
    ),
    "column-with-a-space": (
        lambda: (
            "'x' is a column of runs.csv that no input uses. To use the column, map it to "
            "an input (load_runs(..., x={..., 'X': 'Model Size'}); on the command line --x "
            "X=Model Size) and write that input (X) in the formula"
        ),
        "map it to an input (--x X='Model Size') and write",
    ),
    "read-as-a-spaced-column": (
        lambda: "law 'q' needs input 'Q'; column 'Model Size' is read as N (x={'N': 'Model Size'})",
        "column 'Model Size' is read as N (--x N='Model Size')",
    ),
}

# -- messages that print a mapping or an x= of their own: left as the library wrote them -----

UNCHANGED: dict[str, Callable[[], str]] = {
    "a-prior-without-dist": lambda: raised(
        bs.priors.prior_from_spec, {"mu": 0.4, "sigma": 1.0}, "f.toml: parameters.E.prior"
    ),
    "loading-options-given-with-runs": lambda: raised(
        bs.fit, bs.load_runs(FRAME), "chinchilla", x={"N": "params"}
    ),
    "pooling-without-groups": lambda: raised(
        bs.fit, bs.load_runs(FRAME), "chinchilla", pooling={"E": "pooled"}
    ),
    "sweep-x-not-a-mapping": lambda: raised(
        bs.sweeps.SweepSpec, data=FRAME, x=["N"], y=["loss"], laws=["chinchilla"]
    ),
    "a-sampler-not-a-table": lambda: raised(
        bs.sweeps.SweepSpec,
        data=FRAME,
        x={"N": "N"},
        y=["loss"],
        laws=["chinchilla"],
        sampler={"draws": {"a": 1}},
    ),
    # Dicts of two keys: not what the one-name rewrites were written for.
    "fixed-of-two-names": lambda: "fixed={'U': 1e10, 'R': 3.0}: give a finite number",
    "target-of-two-names": lambda: (
        "criterion 'optimal_N' needs target budgets, e.g. target={'N': 7e10, 'D': 1.4e12}"
    ),
    "weights-in-another-message": lambda: "got {'chinchilla': 0.5, 'kaplan': 0.5}",
    "x-in-another-message": lambda: "the spec maps x={'N': 'Model Size'} (from the file)",
    "pooling-in-another-message": lambda: "pooling: 'E' is fine",
}


@pytest.mark.parametrize("case", list(REWRITTEN))
def test_a_remedy_in_pythons_words_is_said_as_options(case: str) -> None:
    make, expected = REWRITTEN[case]
    message = make()
    said = cli_words(message)
    assert said != message
    assert expected in said, said
    # No Python spelling is left.
    for python in ("={", "load_runs(", "priors=", "pooling={", "fixed={", "target={", "x={"):
        assert python not in said, (python, said)


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("weights-spaced-name", ["--weights", "my law=0.0,kaplan=0.0"]),
        ("column-with-a-space", ["--x", "X=Model Size"]),
        ("read-as-a-spaced-column", ["--x", "N=Model Size"]),
    ],
)
def test_a_name_with_a_space_is_quoted_as_a_shell_reads_it(case: str, words: list[str]) -> None:
    said = cli_words(REWRITTEN[case][0]())
    option = re.search(rf"{words[0]} \S*'[^']*'", said)
    assert option is not None, said
    assert shlex.split(option.group(0)) == words


@pytest.mark.parametrize("case", list(UNCHANGED))
def test_a_message_that_merely_looks_alike_is_left_unchanged(case: str) -> None:
    message = UNCHANGED[case]()
    assert cli_words(message) == message


def test_every_rewrite_leaves_the_rest_of_its_message_as_it_was() -> None:
    # Only the remedy changes: the text before and after it is the library's.
    message = REWRITTEN["x-missing-column"][0]()
    said = cli_words(message)
    head = message.split("map it with")[0]
    assert said.startswith(head) and said.endswith("map it with --x N=COLUMN")


def test_a_bad_prior_in_a_law_file_is_shown_as_written(tmp_path: Path) -> None:
    # The review's repro: the law file's own values, not a made-up --weights option.
    text = Path(catalog()["power_law_C"]).read_text()
    bad = text.replace(
        'prior = { dist = "LogNormal", mu = 0.4, sigma = 1.0 }', "prior = { mu = 0.4, sigma = 1.0 }"
    )
    assert bad != text
    path = tmp_path / "badprior.toml"
    path.write_text(bad)
    done = CliRunner().invoke(app, ["laws", str(path)])
    assert done.exit_code == 2, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "got {'mu': 0.4, 'sigma': 1.0}" in lines[0]
    assert "--weights" not in lines[0]
