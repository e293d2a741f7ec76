"""Load and validate the table of training runs that a scaling law is fitted to.

The one job of this module is to turn a user's file (or DataFrame) into a `Runs`
object whose values are known to be usable: finite floats, one column per law input
plus ``y``. Whether a value must also be > 0 depends on the law: only an input whose
logarithm the law takes (a power of it, ``log(N)``) and ``y`` under multiplicative noise
(which takes ``log y``); `Runs.require_law` checks that when the law is known, so that a
metric that can be zero or negative (a unigram-normalised loss, a mixture proportion)
loads and fits with additive noise. Every problem is reported as a single-line
`~bayescale.errors.DataError` naming the file, column, row and value, and saying what
to do, so that the command-line interface can print it without a traceback.

Derived columns (the compute triad)
-----------------------------------
Training compute ``C`` (FLOPs), parameter count ``N`` and training tokens ``D`` are
linked by the usual approximation ``C = k N D`` with ``k = compute_factor`` (6 by
default: 2 FLOPs per parameter per token for the forward pass, 4 for the backward
pass). When exactly two of ``N``, ``D`` and ``C`` are mapped, the third is derived:

* ``D = C / (k N)``
* ``N = C / (k D)``
* ``C = k N D``

and `Runs.columns` records it, e.g. ``columns["D"] == "derived: C / (6 N)"``. When all
three are mapped, they are used as given, once checked against each other (see
:func:`check_triad`): a run whose C is more than :data:`RUNS_TRIAD_LIMIT` times off ``k N D``
(either way) is a slip of units and refused; one more than 1.5x off is warned about, as N and
C may count parameters differently (N without embeddings, C with them: 12x for the smallest
Pythia model). A forecast point is refused beyond :data:`TRIAD_LIMIT`. Deriving one needs the
other two > 0.

Tokens per parameter ``D / N`` outside :data:`TOKENS_PER_PARAMETER` draw a warning: no
training run is that far off, but N given in billions, or C in PF-days, is.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import keyword
import math
import numbers
import os
import re
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale._format import format_number
from bayescale.errors import DataError, DataWarning, MappingError, closest

__all__ = [
    "BELOW_RUNS_LIMIT",
    "PLAUSIBLE_MAX",
    "RUNS_TRIAD_LIMIT",
    "SPREAD_LIMIT",
    "SUPPORTED_SUFFIXES",
    "SWAPPED_BELOW",
    "TOKENS_PER_PARAMETER",
    "TRIAD_LIMIT",
    "Runs",
    "below_points",
    "below_sentence",
    "check_triad",
    "complete_triad",
    "load_runs",
    "log_inputs",
    "read_table",
    "swapped_points",
    "swapped_sentence",
]

#: File extensions `load_runs` reads (compared case-insensitively), and their format.
SUPPORTED_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

_TRIAD = ("N", "D", "C")
#: The group name that asks a fit with groups for a group not yet observed
#: (:data:`bayescale.hierarchy.NEW_GROUP`): no group of the runs may be named so. Here, not
#: imported, so that reading runs does not import the laws (and PyMC).
_NEW_GROUP = "new"
#: A forecast point whose C is more than this factor off k N D (either way) is refused: the
#: user writes all three of one point, and a FLOP count other than k N D (attention) differs
#: by tens of percent, not 2x.
TRIAD_LIMIT = 2.0
#: A run whose C is more than this factor off k N D (either way) is refused: a slip of units
#: (C in PF-days, N in billions, TFLOPs) moves it 1e9x to 1e20x. Published tables stay far
#: inside: N without embeddings with C counted from all parameters reaches 1.85x (Gadre et
#: al.) and 12x (Pythia's 14M model, whose embeddings outweigh the rest).
RUNS_TRIAD_LIMIT = 100.0
# Beyond this factor but within the limit: N and C likely count different parameters, or the
# FLOPs another compute factor, so said in a warning (the distance beyond the runs reads C).
_TRIAD_NOTE = 1.5
#: Tokens per parameter (D / N) of plausible training runs; outside, a warning. Real runs span
#: 0.036 (Chinchilla's IsoFLOPs) to 6.4e4 (Muennighoff et al.'s data-constrained runs), more
#: than 10x inside; N in millions or billions, D in billions or C in PF-days move it 1e6 or more.
#: Learning-curve data can fall below the range and be warned about although right: an early
#: checkpoint has seen few tokens (Pythia-12B after its first step, 2e6 tokens, has 1.7e-4).
TOKENS_PER_PARAMETER = (1e-3, 1e6)
#: Runs (by their median) or a point with fewer tokens per parameter than this are most
#: likely N and D the wrong way round: few runs are trained on less than a token per
#: parameter, and 20 (Hoffmann et al.'s ratio) swapped is 0.05.
SWAPPED_BELOW = 0.25
#: The most tokens per parameter a swapped point's other way round may have and still read
#: as a run (Llama 3 8B: 1900; heavily overtrained small models reach a few thousand).
PLAUSIBLE_RATIO = 1e4
#: A forecast point whose N, D or C is this many times below the smallest run's is most
#: likely in other units (N typed in billions): no one extrapolates a scaling law that far
#: down, and a point within the runs' reach upwards would not be flagged as far.
BELOW_RUNS_LIMIT = 1000.0
#: Inputs beyond these draw a warning: 500x the largest models trained (2e12 parameters),
#: 250x the largest datasets (4e13 tokens) and 1e5x the largest budgets (5e26 FLOPs). Above
#: them a value is a typo (an extra zero run of digits) or in other units, not a run.
PLAUSIBLE_MAX = {"N": 1e15, "D": 1e16, "C": 1e32}
#: A value this many times its column's median, or this many times below it, draws a
#: warning: real ladders lie within 500x of their median (N, D, C, unique tokens, learning
#: rates) and losses within a few x; a run six orders away is a slip, not a rung.
SPREAD_LIMIT = 1e6
_UNITS_OF = {"N": "parameters", "D": "tokens", "C": "FLOPs"}
_DICT_SOURCE = "<dict>"
# Column names taken as inputs when the caller gives no mapping.
_DEFAULT_INPUTS = ("N", "D", "C", "U")
_DATAFRAME_SOURCE = "<DataFrame>"
_DICT_FORMAT = "bayescale.runs"
_DICT_VERSION = 1
# Long lists in messages are cut so that the message stays one readable line.
_MAX_LISTED_COLUMNS = 30
_MAX_LISTED_DUPLICATES = 5


@dataclass(frozen=True)
class Runs:
    """Validated table of training runs.

    Build it with `load_runs`, which guarantees the invariants below; constructing it
    directly checks them again.

    Parameters
    ----------
    table : pandas.DataFrame
        One column per input (e.g. ``"N"``, ``"D"``, ``"C"``) then ``"y"``; a
        ``RangeIndex`` ``0..n-1``; float64 values, all finite; at least one row.
        The table is copied, so later changes to the caller's frame do not leak in.
    y_name : str
        The source column used as ``y``, e.g. ``"loss"``.
    columns : dict of str to str
        Input name -> source column name, or a description such as
        ``"derived: C / (6 N)"``. Keys are the inputs, in table order.
    source : str
        The file path as given to `load_runs`, or ``"<DataFrame>"``.
    compute_factor : float, default 6.0
        ``k`` in ``C = k N D``, used to derive one column of the compute triad.
    group : tuple of str, optional
        The group of each run (its dataset, tokenizer, architecture ...), for hierarchical
        fits (see :mod:`bayescale.hierarchy`); None when the runs form one family.
    group_by : tuple of str, default ()
        The source column(s) the group labels come from (labels of several columns are
        joined with ``"/"``).
    other_columns : tuple of str, default ()
        The source table's columns that are neither an input, the response nor a group: a
        formula's parameter named like one of them is most likely an input left unmapped
        (see :meth:`bayescale.laws.Law.from_formula`).
    lines : tuple of (int, int), optional
        For runs read from a text file, the first and last line of the file each run was
        read from, so that messages point at the right line; None otherwise. Not part of
        the runs' identity: ``==``, the fingerprint and `to_dict` ignore it.

    Raises
    ------
    DataError
        If the table or metadata break the invariants above.
    """

    table: pd.DataFrame
    y_name: str
    columns: dict[str, str]
    source: str
    compute_factor: float = 6.0
    group: tuple[str, ...] | None = None
    group_by: tuple[str, ...] = ()
    other_columns: tuple[str, ...] = ()
    lines: _Lines | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        table = _check_table(self.table, self.columns, self.source)
        if self.lines is not None:
            lines = tuple((int(first), int(last)) for first, last in self.lines)
            if len(lines) != len(table):
                raise DataError(
                    f"{self.source}: {len(lines)} line numbers for {len(table)} runs; give "
                    f"one (first, last) line per run"
                )
            object.__setattr__(self, "lines", lines)
        _check_compute_factor(self.compute_factor)
        if self.group is not None:
            labels = tuple(str(g) for g in self.group)
            if len(labels) != len(table):
                raise DataError(
                    f"{self.source}: {len(labels)} group labels for {len(table)} runs; give "
                    f"one group per run"
                )
            object.__setattr__(self, "group", labels)
            object.__setattr__(self, "group_by", tuple(str(c) for c in self.group_by))
        # Copies keep the frozen object independent of frames and dicts the caller holds.
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "columns", dict(self.columns))
        object.__setattr__(self, "compute_factor", float(self.compute_factor))
        object.__setattr__(self, "other_columns", tuple(str(c) for c in self.other_columns))

    # -- access -----------------------------------------------------------------------

    @property
    def inputs(self) -> tuple[str, ...]:
        """Input names, in table order, without ``"y"``.

        Returns
        -------
        tuple of str
            E.g. ``("N", "D", "C")``.
        """
        return tuple(str(c) for c in self.table.columns[:-1])

    @property
    def y(self) -> np.ndarray:
        """The response values (e.g. the final loss of each run).

        Returns
        -------
        numpy.ndarray
            A float64 copy, one value per run.
        """
        return self.table["y"].to_numpy(dtype=np.float64, copy=True)

    def x(self, name: str) -> np.ndarray:
        """Return the values of one input.

        Parameters
        ----------
        name : str
            An input name, one of `inputs`.

        Returns
        -------
        numpy.ndarray
            A float64 copy, one value per run.

        Raises
        ------
        DataError
            If `name` is not an input; the message lists the available inputs.
        """
        if name not in self.inputs:
            hint = " (the response is Runs.y)" if name == "y" else ""
            raise DataError(
                f"{self.source}: no input {name!r}{hint}; available inputs: {_quoted(self.inputs)}"
            )
        return self.table[name].to_numpy(dtype=np.float64, copy=True)

    @property
    def group_names(self) -> tuple[str, ...]:
        """The distinct groups, sorted; empty when the runs have no groups.

        Returns
        -------
        tuple of str
            E.g. ``("c4", "rpj", "rw")``.
        """
        return tuple(sorted(set(self.group))) if self.group is not None else ()

    def group_index(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Return the position of each run's group in ``names``.

        Parameters
        ----------
        names : sequence of str, optional
            The groups, in the order a fit numbers them; default :attr:`group_names`.

        Returns
        -------
        numpy.ndarray
            Integers, one per run.

        Raises
        ------
        DataError
            If the runs have no groups, or a run's group is not in ``names``.
        """
        if self.group is None:
            raise DataError(
                f"{self.source}: the runs have no groups; load them with "
                f"load_runs(..., group='<column>') (on the command line: --group COLUMN)"
            )
        names = list(self.group_names if names is None else names)
        position = {name: i for i, name in enumerate(names)}
        unknown = sorted(set(self.group) - set(position))
        if unknown:
            raise DataError(
                f"{self.source}: group {unknown[0]!r} is not one of the fit's groups "
                f"({_quoted(names)}); forecast it as a new group instead"
            )
        return np.array([position[g] for g in self.group], dtype=int)

    def __len__(self) -> int:
        """Return the number of runs (rows).

        Returns
        -------
        int
            Number of rows of `table`.
        """
        return len(self.table)

    def __repr__(self) -> str:
        """Return a short summary; the full table would flood a console.

        Returns
        -------
        str
            E.g. ``Runs(n=245, inputs=('N', 'C', 'D'), y='loss', source='runs.csv')``.
        """
        groups = f", groups={self.group_names!r}" if self.group is not None else ""
        return (
            f"Runs(n={len(self)}, inputs={self.inputs!r}, y={self.y_name!r}, "
            f"source={self.source!r}{groups})"
        )

    def __eq__(self, other: object) -> bool:
        """Compare values and metadata (the generated ``==`` cannot compare DataFrames).

        Parameters
        ----------
        other : object
            Anything.

        Returns
        -------
        bool
            True if `other` is a `Runs` with an equal table and equal metadata.
        """
        if not isinstance(other, Runs):
            return NotImplemented
        return (
            self.y_name == other.y_name
            and self.columns == other.columns
            and self.source == other.source
            and self.compute_factor == other.compute_factor
            and self.group == other.group
            and self.group_by == other.group_by
            and self.other_columns == other.other_columns
            and self.table.equals(other.table)
        )

    def __hash__(self) -> int:
        """Hash consistently with ``==``.

        Returns
        -------
        int
            A hash of the fingerprint and the metadata.
        """
        return hash(
            (
                self.fingerprint(),
                self.y_name,
                tuple(self.columns.items()),
                self.source,
                self.compute_factor,
                self.group_by,
            )
        )

    # -- checks and derived objects ---------------------------------------------------

    def require(
        self,
        inputs: Sequence[str],
        n_parameters: int,
        law_name: str,
        *,
        positive_inputs: Sequence[str] | None = None,
        positive_y: bool = True,
    ) -> None:
        """Check that a law can be fitted to these runs.

        Parameters
        ----------
        inputs : sequence of str
            The input names the law's formula uses.
        n_parameters : int
            The number of free parameters of the law.
        law_name : str
            The law's name, for the messages.
        positive_inputs : sequence of str, optional
            Inputs whose logarithm the law takes (see :func:`log_inputs`): each must be
            > 0. Default: all of ``inputs`` (the safe assumption when it is not known).
        positive_y : bool, default True
            Whether ``y`` must be > 0: under multiplicative noise, which takes ``log y``;
            False for additive noise.

        Raises
        ------
        DataError
            If an input the law needs is missing (the message names the law, the
            missing inputs, the available inputs and how to map a column), if there
            are fewer runs than the law has parameters, or if a value whose logarithm
            is taken is <= 0 (the message names the file, row, column and value, and
            why it must be > 0).
        """
        if isinstance(inputs, str):
            # A lone name, not a sequence of one-letter names.
            inputs = (inputs,)
        if (
            isinstance(n_parameters, bool)
            or not isinstance(n_parameters, numbers.Integral)
            or n_parameters < 0
        ):
            raise DataError(
                f"law {law_name!r}: n_parameters must be a whole number >= 0, not {n_parameters!r}"
            )
        missing = [name for name in dict.fromkeys(inputs) if name not in self.inputs]
        if missing:
            first = missing[0]
            noun = "input" if len(missing) == 1 else "inputs"
            hint = ""
            if any(name in _TRIAD for name in missing):
                k = _format_factor(self.compute_factor)
                hint = f" (when two of N, D, C are mapped the third is derived from C = {k} N D)"
            # A column named as a missing input but read as another (x={'N': 'D'}): say so,
            # the user may have meant that column for this input.
            read_as = {column: name for name, column in self.columns.items() if name != column}
            taken = [name for name in missing if name in read_as]
            if taken:
                hint += "; " + "; ".join(
                    f"column {name!r} is read as {read_as[name]} "
                    f"(x={{{read_as[name]!r}: {name!r}}})"
                    for name in taken
                )
            # Inputs the law does not take (--x Q=N): N, D, C of a law in the triad are
            # taken (two give the third), and derived ones were not asked for.
            triad = bool(set(inputs) & set(_TRIAD))
            unused = [
                name
                for name in self.inputs
                if name not in inputs
                and not self.columns.get(name, "").startswith("derived:")
                and not (triad and name in _TRIAD)
            ]
            if unused:
                verb = "is not an input" if len(unused) == 1 else "are not inputs"
                hint += f"; {_quoted(unused)} {verb} of law {law_name!r}"
            raise MappingError(
                f"law {law_name!r} needs {noun} {_quoted(missing)}, but the data from "
                f"{self.source} has only {_quoted(self.inputs)}; map a column to each "
                f"with load_runs(..., x={{{first!r}: '<column>'}}){hint}",
                tuple(missing),
            )
        if len(self) < n_parameters:
            raise DataError(
                f"law {law_name!r} has {int(n_parameters)} parameters but the data has "
                f"{len(self)} runs ({self.source}); a fit needs at least as many runs as "
                f"parameters: add runs or choose a law with fewer parameters"
            )
        if positive_inputs is None:
            positive_inputs = inputs
        elif isinstance(positive_inputs, str):
            positive_inputs = (positive_inputs,)
        for name in dict.fromkeys(positive_inputs):
            self._require_positive(
                name,
                f"law {law_name!r} takes the logarithm of {name} (a power of it, or log({name})); "
                f"fix or remove the row, or write the law without a power of {name}",
            )
        if positive_y:
            self._require_positive(
                "y",
                f"multiplicative noise (law {law_name!r}) takes log({self.y_name}); use "
                f"scale='linear' (additive noise: [likelihood] scale = \"linear\" in a law "
                f"file) for a metric that can be <= 0, or fix or remove the row",
            )

    def require_law(self, law: Any) -> None:
        """Check that a law can be fitted to these runs: :meth:`require` with what it needs.

        Parameters
        ----------
        law : Law
            The law: its inputs, parameter count, the inputs it takes the logarithm of
            (:func:`log_inputs`) and its noise scale (``y`` > 0 under multiplicative noise).

        Raises
        ------
        DataError
            As :meth:`require`.
        """
        self.require(
            list(law.inputs),
            law.n_parameters,
            law.name,
            positive_inputs=log_inputs(law),
            positive_y=law.likelihood.scale == "log",
        )

    def _require_positive(self, name: str, why: str) -> None:
        """Raise about the first value of a column that is not > 0, saying why it must be."""
        values = self.y if name == "y" else self.x(name)
        bad = np.flatnonzero(~(values > 0))
        if not bad.size:
            return
        first = int(bad[0])
        if name == "y":
            column = f"column {self.y_name!r} (y)"
        elif self.columns.get(name, name).startswith("derived:"):
            column = f"input {name!r} ({self.columns[name]})"
        else:
            column = f"column {self.columns.get(name, name)!r} (input {name!r})"
        row = f"row {first + 1}"
        if self.lines is not None:
            row += f" ({_line_words(self.lines[first])} of the file)"
        count = f"{bad.size} row{'s' if bad.size != 1 else ''} in total"
        raise DataError(
            f"{self.source}: {column} {row} has {float(values[first])!r}, which is not > 0 "
            f"({count}): {why}"
        )

    def subset(self, mask: np.ndarray) -> Runs:
        """Keep the runs where `mask` is True.

        Parameters
        ----------
        mask : numpy.ndarray
            Boolean array with one entry per run.

        Returns
        -------
        Runs
            The selected rows, renumbered ``0..m-1``, with the same metadata.

        Raises
        ------
        DataError
            If `mask` is not a boolean array of length ``len(self)``, or selects no
            run.
        """
        array = np.asarray(mask)
        if array.dtype != np.bool_ or array.shape != (len(self),):
            raise DataError(
                f"{self.source}: subset needs a boolean mask of shape ({len(self)},), "
                f"got dtype {array.dtype} and shape {array.shape}"
            )
        if not array.any():
            raise DataError(f"{self.source}: the subset mask selects no runs")
        table = self.table.loc[array].reset_index(drop=True)
        group = None
        if self.group is not None:
            group = tuple(g for g, keep in zip(self.group, array, strict=True) if keep)
        lines = None
        if self.lines is not None:
            lines = tuple(at for at, keep in zip(self.lines, array, strict=True) if keep)
        return Runs(
            table=table,
            y_name=self.y_name,
            columns=self.columns,
            source=self.source,
            compute_factor=self.compute_factor,
            group=group,
            group_by=self.group_by,
            other_columns=self.other_columns,
            lines=lines,
        )

    def fingerprint(self) -> str:
        """Return a digest of the table, for reproducibility records.

        The digest covers the column names, the shape and the exact float64 values
        (little-endian, row-major), so it is the same across platforms and sessions
        and changes when any value changes.

        Returns
        -------
        str
            SHA-256 hex digest (64 characters).
        """
        digest = hashlib.sha256()
        digest.update(json.dumps([str(c) for c in self.table.columns]).encode("utf-8"))
        digest.update(np.asarray(self.table.shape, dtype="<i8").tobytes())
        values = np.ascontiguousarray(self.table.to_numpy(dtype=np.float64), dtype="<f8")
        digest.update(values.tobytes())
        # Runs without groups keep the digest they always had (saved fits record it).
        if self.group is not None:
            digest.update(json.dumps([list(self.group_by), list(self.group)]).encode("utf-8"))
        return digest.hexdigest()

    # -- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description, e.g. to store in a NetCDF attribute.

        Floats survive a JSON round trip exactly (shortest repr), so
        ``Runs.from_dict(json.loads(json.dumps(runs.to_dict()))) == runs``.

        Returns
        -------
        dict
            Keys ``format``, ``version``, ``source``, ``y_name``, ``compute_factor``,
            ``columns``, ``inputs``, ``table`` (column name -> list of floats) and
            ``fingerprint``; ``group`` and ``group_by`` for runs in groups, and
            ``other_columns`` when the source table had any.
        """
        out = {
            "format": _DICT_FORMAT,
            "version": _DICT_VERSION,
            "source": self.source,
            "y_name": self.y_name,
            "compute_factor": self.compute_factor,
            "columns": dict(self.columns),
            "inputs": list(self.inputs),
            "table": {str(c): self.table[c].astype(np.float64).tolist() for c in self.table},
            "fingerprint": self.fingerprint(),
        }
        if self.group is not None:
            out["group"] = list(self.group)
            out["group_by"] = list(self.group_by)
        if self.other_columns:
            out["other_columns"] = list(self.other_columns)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Runs:
        """Rebuild a `Runs` from the output of `to_dict`.

        Parameters
        ----------
        data : mapping
            As returned by `to_dict` (possibly after a JSON round trip).

        Returns
        -------
        Runs
            Equal to the object that was saved.

        Raises
        ------
        DataError
            If `data` is not a saved `Runs`, is incomplete, or its values no longer
            match the stored fingerprint.
        """
        if not isinstance(data, Mapping) or data.get("format") != _DICT_FORMAT:
            raise DataError(
                f"not a saved table of runs (expected format {_DICT_FORMAT!r}); "
                f"it must come from Runs.to_dict()"
            )
        if data.get("version") != _DICT_VERSION:
            raise DataError(
                f"saved table of runs has version {data.get('version')!r}, but this "
                f"bayescale reads version {_DICT_VERSION}; use a matching bayescale"
            )
        needed = ("source", "y_name", "compute_factor", "columns", "inputs", "table")
        absent = [key for key in needed if key not in data]
        if absent:
            raise DataError(f"saved table of runs lacks {_quoted(absent)}; it is damaged")
        source = str(data["source"])
        stored = data["table"]
        names = [*map(str, data["inputs"]), "y"]
        if not isinstance(stored, Mapping) or [str(k) for k in stored] != names:
            raise DataError(
                f"{source}: saved table of runs has columns "
                f"{_quoted(list(stored) if isinstance(stored, Mapping) else [])} but "
                f"inputs {_quoted(names)}; it is damaged"
            )
        try:
            table = pd.DataFrame(
                {name: np.asarray(stored[name], dtype=np.float64) for name in names}
            )
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"{source}: saved table of runs has unusable values ({_one_line(exc)}); "
                f"it is damaged"
            ) from exc
        runs = cls(
            table=table,
            y_name=str(data["y_name"]),
            columns={str(k): str(v) for k, v in dict(data["columns"]).items()},
            source=source,
            compute_factor=data["compute_factor"],
            group=None if data.get("group") is None else tuple(map(str, data["group"])),
            group_by=tuple(map(str, data.get("group_by", ()))),
            other_columns=tuple(map(str, data.get("other_columns", ()))),
        )
        expected = data.get("fingerprint")
        if expected is not None and expected != runs.fingerprint():
            raise DataError(
                f"{source}: saved table of runs does not match its fingerprint; it was "
                f"edited or damaged after saving"
            )
        return runs


def load_runs(
    source: str | os.PathLike[str] | pd.DataFrame | Mapping[str, Sequence[Any]],
    x: Mapping[str, str] | None = None,
    y: str = "loss",
    *,
    compute_factor: float = 6.0,
    group: str | Sequence[str] | None = None,
) -> Runs:
    """Read and validate a table of training runs.

    Parameters
    ----------
    source : str, os.PathLike, pandas.DataFrame or mapping
        A ``.csv``, ``.tsv``, ``.parquet`` or ``.pq`` file (by extension,
        case-insensitive), a DataFrame, which is never modified, or a mapping of column
        name -> values of equal length (``{"N": [...], "D": [...], "loss": [...]}``), read
        as the DataFrame built from it.
    x : mapping of str to str, optional
        Input name (an identifier used in law formulas, such as ``"N"``, ``"D"``,
        ``"C"``, ``"U"``) -> source column name. By default every column named exactly
        ``"N"``, ``"D"``, ``"C"`` or ``"U"`` is used. When exactly two of ``N``, ``D``,
        ``C`` are given, the third is derived from ``C = k N D`` (see the module
        docstring).
    y : str, default "loss"
        The source column holding the response.
    compute_factor : float, default 6.0
        ``k`` in ``C = k N D``; finite and > 0.
    group : str or sequence of str, optional
        Column(s) naming each run's family (dataset, tokenizer, architecture ...) for a
        hierarchical fit (see :mod:`bayescale.hierarchy`); with several columns a run's
        group is their values joined by ``"/"``.

    Returns
    -------
    Runs
        Validated float64 table with the inputs then ``"y"``.

    Raises
    ------
    DataError
        If the file is missing, a directory, of an unsupported type or unreadable (a text
        file also if it is not UTF-8, names a column twice in its header, or has a row with
        more values than the header has columns); if the table is empty; if two different
        group values would become one group name (``' c4'`` and ``'c4'``, or ``('x/y', 'z')``
        and ``('x', 'y/z')``); if a column is unknown (with the available columns and a
        suggestion); if an input name is not a valid identifier or is ``"y"``; if a used
        value is not a number, missing or infinite (naming the first offending row and
        how many rows share the problem); if one of N, D, C is derived from the others
        and they are not > 0; if N, D and C are all given and a run's C is more than
        :data:`RUNS_TRIAD_LIMIT` times off ``compute_factor * N * D`` (a slip of units, see
        :func:`check_triad`); if a mapping's columns differ in length or one is not a list
        of values; or if `compute_factor` is not finite and > 0. Values <= 0 are accepted
        here: whether a law can use them is checked when it is fitted (`Runs.require_law`).

    Warns
    -----
    DataWarning
        If some rows are identical in every used column (they are kept); if a run's C is
        more than 1.5x off ``compute_factor * N * D`` (N and C counting parameters
        differently, or FLOPs with another compute factor), naming the first row, how many
        and the range of the ratio; or if a run's tokens per parameter ``D / N`` lie
        outside :data:`TOKENS_PER_PARAMETER` (N in billions, D in billions or C in PF-days,
        most likely; or an early checkpoint of a learning curve). Each names the first such
        row.
    """
    k = _check_compute_factor(compute_factor)
    frame, label, text_file, lines = _read(source)
    if len(frame) == 0:
        raise DataError(
            f"{label}: the table has no rows; it needs a header and one row per training run"
        )
    if not isinstance(y, str):
        raise DataError(f"{label}: y must be a column name (a string), not {y!r}")
    _find_column(frame, y, label, role="y")
    mapping = _infer_inputs(frame, label) if x is None else _check_mapping(x, label)
    for name, column in mapping.items():
        _find_column(frame, column, label, role=name)
        if column == y:
            raise DataError(
                f"{label}: column {y!r} is used both as y and as input {name!r}; "
                f"map the input to another column"
            )

    rows = _RowNamer(
        label, text_file, frame.index, lines, decimal_comma=frame.attrs.get("separator") == ";"
    )
    values: dict[str, np.ndarray] = {
        name: _to_finite_floats(frame[column], column, rows, quantities=True)
        for name, column in mapping.items()
    }
    y_values = _to_finite_floats(frame[y], y, rows)
    columns = {name: str(column) for name, column in mapping.items()}
    if all(name in values for name in _TRIAD):
        check_triad(
            values, k, lambda i: f"{label}: {rows(i)}", columns=columns, limit=RUNS_TRIAD_LIMIT
        )
    _derive_triad(values, columns, k, rows)
    if "N" in values and "D" in values:
        _check_tokens_per_parameter(values, columns, rows)
        _check_swapped(values, columns, label)
    for name, column in columns.items():
        if not column.startswith("derived:"):
            _check_plausible(values[name], f"column {column!r} (input {name})", name, rows)
    _check_plausible(y_values, f"column {str(y)!r} (y)", None, rows)

    table = pd.DataFrame({**values, "y": y_values})
    group_by, labels = _group_labels(frame, group, label, rows)
    checked = table if labels is None else table.assign(_group=list(labels))
    _warn_duplicates(checked, [*dict.fromkeys(map(str, mapping.values())), str(y)], rows)
    return Runs(
        table=table,
        y_name=y,
        columns=columns,
        source=label,
        compute_factor=k,
        group=labels,
        group_by=group_by,
        other_columns=_other_columns(frame, [*mapping.values(), y, *group_by]),
        lines=lines,
    )


def _other_columns(frame: pd.DataFrame, used: Sequence[Hashable]) -> tuple[str, ...]:
    """The table's column names that no input, response or group uses."""
    taken = {str(c) for c in used}
    return tuple(str(c) for c in frame.columns if str(c) not in taken)


def _group_labels(
    frame: pd.DataFrame, group: str | Sequence[str] | None, label: str, rows: _RowNamer
) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """The group columns and each run's label (their values joined by '/'), or none."""
    if group is None:
        return (), None
    names = (group,) if isinstance(group, str) else tuple(group)
    if not names or not all(isinstance(n, str) for n in names):
        raise DataError(
            f"{label}: group must be a column name or a list of column names, not {group!r}"
        )
    repeated = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if repeated:
        # ('dataset', 'dataset') would name every group twice ('c4/c4'), as one column does.
        raise DataError(
            f"{label}: the group column {repeated[0]!r} is given {names.count(repeated[0])} "
            f"times; give each group column once"
        )
    parts = []
    for name in names:
        _find_column(frame, name, label, role="group")
        values = frame[name]
        blank = np.array(
            [pd.isna(v) or (isinstance(v, str) and not v.strip()) for v in values], dtype=bool
        )
        _raise_first(
            blank,
            lambda i, name=name: f"{label}: group column {name!r} {rows(i)} is empty",
            "give every run a group, or remove the row",
        )
        parts.append([str(v).strip() for v in values])
    labels = tuple("/".join(p) for p in zip(*parts, strict=True))
    _check_distinct_groups(frame, names, labels, label, rows)
    said = (
        f"group column {names[0]!r} {{row}} is"
        if len(names) == 1
        else f"group columns {_quoted(names)} {{row}} make the group"
    )
    _raise_first(
        np.array([g == _NEW_GROUP for g in labels], dtype=bool),
        lambda i: f"{label}: {said.format(row=rows(i))} {_NEW_GROUP!r}",
        f"{_NEW_GROUP!r} is the name that asks a fit for a group not yet observed: rename that "
        f"group in the data",
    )
    return names, labels


def _check_distinct_groups(
    frame: pd.DataFrame,
    names: tuple[str, ...],
    labels: tuple[str, ...],
    label: str,
    rows: _RowNamer,
) -> None:
    """Refuse two different values that would become one group.

    Labels are stripped and joined with '/', so ' c4' and 'c4', or ('x/y', 'z') and
    ('x', 'y/z'), would silently merge two families into one.
    """
    raw = list(zip(*(frame[name].tolist() for name in names), strict=True))
    first_seen: dict[str, tuple[int, Any]] = {}
    spaced: dict[str, tuple[int, Any, int, Any]] = {}
    for position, (name, values) in enumerate(zip(labels, raw, strict=True)):
        key = values if len(names) > 1 else values[0]
        seen = first_seen.setdefault(name, (position, key))
        if _same_value(seen[1], key):
            continue
        where = f"column {names[0]!r} has" if len(names) == 1 else f"columns {_quoted(names)} have"
        if _stripped(seen[1]) == _stripped(key):
            # 'c4 ' and 'c4': one group typed with a stray space, most likely; said, not
            # refused (files that loaded before still do).
            spaced.setdefault(name, (seen[0], seen[1], position, key))
            continue
        raise DataError(
            f"{label}: {where} {_group_value(seen[1])} at {rows(seen[0])} and "
            f"{_group_value(key)} at {rows(position)}, which would both be group {name!r} "
            f"(group names are stripped of spaces and joined with '/'); if they are the same "
            f"group, write them the same, otherwise rename one"
        )
    for name, (first, a, position, b) in spaced.items():
        warnings.warn(
            f"{label}: {_group_value(a)} at {rows(first)} and {_group_value(b)} at "
            f"{rows(position)} differ only in spaces around them: both are group {name!r}; if "
            f"they are different groups, rename one",
            DataWarning,
            stacklevel=4,
        )
    # 'C4' and 'c4' stay two groups (a name's case may matter), but are more often one
    # group typed two ways: said, naming where each first appears.
    spelled: dict[str, tuple[str, int]] = {}
    said: set[str] = set()
    for position, name in enumerate(labels):
        spelling, first = spelled.setdefault(name.casefold(), (name, position))
        if spelling != name and name not in said:
            said.add(name)  # once per spelling, at its first run
            warnings.warn(
                f"{label}: groups {spelling!r} at {rows(first)} and {name!r} at "
                f"{rows(position)} differ only in letter case: they are fitted as two groups; "
                f"if they are the same group, write them the same",
                DataWarning,
                stacklevel=4,
            )


def _stripped(value: object) -> tuple[str, ...]:
    """A group value as its name is made: each part as text, without surrounding spaces."""
    parts = value if isinstance(value, tuple) else (value,)
    return tuple(str(v).strip() for v in parts)


def _same_value(a: object, b: object) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # values with no plain ==, e.g. arrays in cells
        return False


def _group_value(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_group_value(v) for v in value) + ")"
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


# -- reading ---------------------------------------------------------------------------


def read_table(
    source: str | os.PathLike[str] | pd.DataFrame | Mapping[str, Sequence[Any]],
) -> tuple[pd.DataFrame, str, bool]:
    """Read a table as :func:`load_runs` does, before any column is interpreted.

    Every tool that reads a user's table (candidates for ``next``, a link's runs; a sweep's
    data through the same reader, with each row's lines) uses it, so each failure (no such
    file, a folder, an unknown type, an empty, ragged or damaged file) is the same one-line
    :class:`DataError`.

    A text file is read as its lines show it: blank lines are skipped, empty fields at the
    end of a row and rows of empty fields at the end of the file (as spreadsheets write
    them) are dropped, and a row with more values than the header has columns is refused:
    pandas would silently take the surplus leading values as the row's index, so that
    ``10,569,312,...`` (a thousands separator) would shift every value by two columns.

    Parameters
    ----------
    source : str, path, pandas.DataFrame or mapping
        A ``.csv``, ``.tsv`` or ``.parquet`` file (see :data:`SUPPORTED_SUFFIXES`), a frame,
        which is returned as it is (not copied), or a mapping of equal-length columns.

    Returns
    -------
    tuple
        The raw frame (text files read as text, so that messages quote values as written),
        the label messages name the table by, and whether it is a text file.

    Raises
    ------
    DataError
        If the table cannot be read: also when a text file is not UTF-8, names a column
        twice in its header, or has a row with more values than the header has columns.
    """
    frame, label, text_file, _ = _read(source)
    return frame, label, text_file


#: The lines of a text file each row was read from: (first, last), 1-based.
_Lines = tuple[tuple[int, int], ...]


def _read(
    source: str | os.PathLike[str] | pd.DataFrame | Mapping[str, Sequence[Any]],
) -> tuple[pd.DataFrame, str, bool, _Lines | None]:
    """:func:`read_table`, and for a text file the lines each row was read from."""
    if isinstance(source, pd.DataFrame):
        # Only read from the caller's frame: no assignment touches it below.
        return source, _DATAFRAME_SOURCE, False, None
    if isinstance(source, Mapping):
        return _frame_of_columns(source), _DICT_SOURCE, False, None
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(
            f"source must be a file path, a pandas DataFrame or a dict of columns "
            f"({{'N': [...], 'D': [...], 'loss': [...]}}), not {type(source).__name__}"
        )
    label = os.fspath(source)
    if not isinstance(label, str):
        raise DataError(f"source path must be text, not {type(label).__name__}")
    path = Path(label)
    if not path.exists():
        where = "" if path.is_absolute() else f" (relative to {os.getcwd()})"
        raise DataError(f"file not found: {label!r}{where}; check the path")
    if path.is_dir():
        raise DataError(
            f"{label!r} is a directory, not a file; give the path of a {_supported_list()} file"
        )
    suffix = path.suffix.lower()
    kind = SUPPORTED_SUFFIXES.get(suffix)
    if kind is None:
        what = f"file type {path.suffix!r}" if path.suffix else "a file without extension"
        raise DataError(
            f"{label}: cannot read {what}; supported: {_supported_list()}; save the table in "
            f"one of them (from Python, a pandas DataFrame works too)"
        )
    if kind != "parquet":
        frame, lines = _read_text(path, label, kind)
        return frame, label, True, lines
    try:
        frame = pd.read_parquet(path)
    # Readers raise many unrelated types (Arrow, OS errors); every one must become a
    # single-line DataError rather than a pyarrow traceback.
    except Exception as exc:
        raise DataError(
            f"{label}: cannot read the file as PARQUET: {_one_line(exc)}; "
            f"check that it is a valid PARQUET file"
        ) from exc
    return frame, label, False, None


def _frame_of_columns(columns: Mapping[Any, Any]) -> pd.DataFrame:
    """The DataFrame of a mapping of column name -> values, refusing what pandas would not
    build (or would build by broadcasting a single value) with a message that says why."""
    if not columns:
        raise DataError(
            f"{_DICT_SOURCE}: the dict has no columns; give one list of values per column, "
            f"e.g. {{'N': [1e8, 2e8], 'D': [2e9, 4e9], 'loss': [3.1, 2.9]}}"
        )
    lengths: dict[str, int] = {}
    flat: dict[Any, Any] = {}
    for name, values in columns.items():
        if isinstance(values, pd.Series | pd.Index):
            # Their values, not their index: a dict of columns lines rows up by position.
            values = values.to_numpy()
        try:
            dims = np.ndim(values) if not isinstance(values, str | bytes) else 0
        except ValueError:  # lists of unequal lists
            dims = 2
        if dims != 1:
            what = "a single value" if dims == 0 else f"{dims}-dimensional"
            raise DataError(
                f"{_DICT_SOURCE}: column {str(name)!r} is {what} ({values!r:.60}); give a list "
                f"of values, one per run"
            )
        lengths[str(name)] = len(values)
        flat[name] = values
    if len(set(lengths.values())) > 1:
        raise DataError(
            f"{_DICT_SOURCE}: the columns have different lengths ({lengths}); give every "
            f"column one value per run"
        )
    return pd.DataFrame(flat)


def _read_text(path: Path, label: str, kind: str) -> tuple[pd.DataFrame, _Lines]:
    """Read a .csv or .tsv as text, with the lines each row comes from.

    The csv module rather than pandas: it reports where each record starts and ends
    (blank lines and quoted values over several lines shift rows against lines), and it
    leaves the checks of ragged rows to us (pandas takes surplus leading values as an index).
    """
    what = kind.upper()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{label}: cannot read the file: {exc.strerror or exc}") from None
    # Excel's 'CSV UTF-8' starts with a byte order mark; it is not part of the first name.
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(
            f"{label}: the file is UTF-16 text (Excel's 'Unicode Text'), not UTF-8; save it "
            f"as UTF-8 (in Excel: 'CSV UTF-8')"
        )
    body = data.removeprefix(codecs.BOM_UTF8)
    sep = "," if kind == "csv" else "\t"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(_not_utf8(label, body, exc, sep)) from None
    records = _records(text, sep, label, what)
    header = next(records, None)
    if header is None:
        raise DataError(
            f"{label}: the file is empty; it needs a header and one row per training run"
        )
    if kind == "csv" and len(header[2]) == 1:
        # A .csv whose one column holds ';' or a tab: European spreadsheets write ';'.
        other = next((s for s in (";", "\t") if s in header[2][0]), None)
        if other is not None:
            sep = other
            records = _records(text, sep, label, what)
            header = next(records)
    names = _header_names(header, label)
    width = len(names)
    rows: list[list[str]] = []
    lines: list[tuple[int, int]] = []
    records = list(records)
    # Every row one value longer than the header: R's write.table writes row names so, with
    # no header of their own (pandas took them as the index; refused here, as the same shape
    # comes from a thousands separator in every row).
    row_names = bool(records) and all(len(fields) == width + 1 for _, _, fields in records)
    for first, last, fields in records:
        if len(fields) > width:
            if any(f.strip() for f in fields[width:]):
                raise DataError(
                    _too_many_fields(
                        label, what, (first, last), fields, width, header[0], sep, row_names
                    )
                )
            # Empty cells right of the table, as spreadsheets save them ('3.1,,').
            fields = fields[:width]
        elif len(fields) < width:
            # As pandas reads a short row: the missing values are empty, reported if used.
            fields = fields + [""] * (width - len(fields))
        rows.append(fields)
        lines.append((first, last))
    # Rows of empty cells below the table (',,'), as spreadsheets save them.
    while rows and not any(f.strip() for f in rows[-1]):
        rows.pop()
        lines.pop()
    frame = pd.DataFrame(rows, columns=names, dtype=str)
    frame.attrs["separator"] = sep
    return frame, tuple(lines)


def _records(text: str, sep: str, label: str, what: str) -> Iterator[tuple[int, int, list[str]]]:
    """Yield each non-blank record with its first and last line (1-based)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    last = 0
    while True:
        first = last + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                problem = (
                    f'the row starting on line {first} opens a quoted value (") that is never '
                    f"closed; close the quote or remove it"
                )
            else:
                problem = f"line {reader.line_num}: {exc}; check that it is a valid {what} file"
            raise DataError(f"{label}: cannot read the file as {what}: {problem}") from None
        last = reader.line_num
        # pandas skips blank lines too; a line of spaces is blank to a reader's eye.
        if fields and not (len(fields) == 1 and not fields[0].strip()):
            yield first, last, fields


def _header_names(header: tuple[int, int, list[str]], label: str) -> list[str]:
    """The column names, refusing a name given twice (pandas would rename the copy)."""
    line, _, fields = header
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(fields, start=1):
        if name.strip():
            positions.setdefault(name, []).append(position)
    for name, where in positions.items():
        if len(where) > 1:
            columns = f"{', '.join(map(str, where[:-1]))} and {where[-1]}"
            raise DataError(
                f"{label}: column {name!r} appears {len(where)} times in the header (line "
                f"{line}, columns {columns}); rename the copies so that each column name is "
                f"unique"
            )
    # Blank names (a trailing ',' in the header) are named as pandas names them.
    names = []
    for position, name in enumerate(fields):
        if not name.strip():
            name = f"Unnamed: {position}"
            while name in positions:
                name += "_"
        names.append(name)
    return names


def _too_many_fields(
    label: str,
    what: str,
    lines: tuple[int, int],
    fields: list[str],
    width: int,
    header_line: int,
    sep: str,
    row_names: bool = False,
) -> str:
    """The message for a row with more values than the header has columns."""
    # '10,569,312' unquoted splits into '10', '569', '312': a field of three digits
    # right after a number is the trace of a thousands separator.
    thousands = sep == "," and any(
        re.fullmatch(r"\d{3}(\.\d*)?", fields[i]) and re.search(r"\d$", fields[i - 1])
        for i in range(1, len(fields))
    )
    hint = (
        "a thousands separator? remove it or quote the number"
        if thousands
        else "quote a value that contains the separator, or remove the extra values"
    )
    if row_names:
        hint += (
            "; every row has one value more than the header: if the first column holds row "
            'names without a header (R\'s write.table(sep = ",")), name it in the header, or '
            "write the file without row names (row.names = FALSE)"
        )
    shown = sep.join(fields)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return (
        f"{label}: cannot read the file as {what}: {_line_words(lines)} has {len(fields)} "
        f"values but the header (line {header_line}) has {width} columns: {shown!r}; {hint}"
    )


def _not_utf8(label: str, data: bytes, exc: UnicodeDecodeError, sep: str) -> str:
    """Where a file stops being UTF-8, in rows and lines, and how to save it as UTF-8."""
    line = data.count(b"\n", 0, exc.start) + data.count(b"\r", 0, exc.start)
    line -= data.count(b"\r\n", 0, exc.start)  # one line break, not two
    line += 1
    where = f"line {line} of the file"
    try:
        # Read the text as Latin-1 (any byte is a character) only to number the rows.
        records = list(_records(data.decode("latin-1"), sep, label, "text"))
    except DataError:
        records = []
    for number, (first, last, _) in enumerate(records):
        if first <= line <= last:
            where = "the header" if number == 0 else f"row {number}"
            where += f" ({_line_words((first, last))} of the file)"
            break
    byte = data[exc.start]
    return (
        f"{label}: {where} is not UTF-8 text (byte 0x{byte:02x}, e.g. an accented letter "
        f"saved as Latin-1 or Windows-1252); save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    )


def _line_words(lines: tuple[int, int]) -> str:
    first, last = lines
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _decimal_comma_hint(value: object, decimal_comma: bool = False) -> str:
    """A hint for '3,29' (a decimal comma) or '10,569,312' (thousands separators).

    ``decimal_comma``: the file is ';'-separated, the convention of the countries that write
    a decimal comma, so '3,290' is 3.29 there, not 3290.
    """
    text = str(value).strip()
    # Three digits after the comma may be a thousands separator (7,000): no guess then,
    # unless the file's separator says the comma is a decimal mark.
    digits = r"\d+" if decimal_comma else r"(\d{1,2}|\d{4,})"
    if re.fullmatch(rf"[-+]?\d+,{digits}([eE][-+]?\d+)?", text):
        return f" (a decimal comma? write {text.replace(',', '.')})"
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?([eE][-+]?\d+)?", text):
        return f" (a thousands separator? write {text.replace(',', '')})"
    return ""


def _supported_list() -> str:
    return ", ".join(SUPPORTED_SUFFIXES)


# -- columns ---------------------------------------------------------------------------


def _infer_inputs(frame: pd.DataFrame, label: str) -> dict[str, Hashable]:
    found = [c for c in frame.columns if isinstance(c, str) and c in _DEFAULT_INPUTS]
    if not found:
        raise MappingError(
            f"{label}: no input columns named {_quoted(_DEFAULT_INPUTS, 'or')}; available "
            f"columns: {_available(frame)}; say which columns are inputs with "
            f"load_runs(..., x={{'N': '<column>'}})",
            ("N",),
        )
    return {name: name for name in dict.fromkeys(found)}


def _check_mapping(x: Mapping[str, str], label: str) -> dict[str, Hashable]:
    if not isinstance(x, Mapping):
        raise DataError(
            f"{label}: x must map input names to columns, e.g. {{'N': 'params'}}, "
            f"not {type(x).__name__}"
        )
    if not x:
        raise DataError(f"{label}: x is empty; map at least one input, e.g. x={{'N': '<column>'}}")
    for name in x:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise DataError(
                f"{label}: input name {name!r} is not a valid identifier; input names "
                f"appear in law formulas, so use letters, digits and underscores, not "
                f"starting with a digit (e.g. 'N')"
            )
        if name == "y":
            raise DataError(
                f"{label}: 'y' cannot be an input name, it is the response; choose the "
                f"response column with y='<column>' and give the input another name"
            )
    seen: dict[Hashable, str] = {}
    for name, column in x.items():
        if column in seen:
            # Two inputs from one column: N = D, or C = D rebuilding D from itself.
            raise DataError(
                f"{label}: column {column!r} is mapped to both {seen[column]} and {name}; "
                f"each input needs a column of its own (of N, D and C two are enough)"
            )
        seen[column] = name
    return dict(x)


def _find_column(frame: pd.DataFrame, column: Hashable, label: str, role: str) -> None:
    """Check that `column` exists exactly once, else explain what is available."""
    todo = (
        "choose the response column with y='<column>'"
        if role == "y"
        else "choose the group column with group='<column>'"
        if role == "group"
        else f"map it with x={{{role!r}: '<column>'}}"
    )
    purpose = (
        "for y" if role == "y" else "for the groups" if role == "group" else f"for input {role!r}"
    )
    try:
        count = int(sum(1 for c in frame.columns if c == column))
    except (TypeError, ValueError):
        count = 0
    if count > 1:
        raise DataError(
            f"{label}: column {column!r} ({purpose}) appears {count} times; rename the "
            f"copies so that each column name is unique"
        )
    if count == 0:
        suggestion = closest(column, frame.columns)
        hint = f" (did you mean {suggestion!r}?)" if suggestion is not None else ""
        if role == "group":
            raise DataError(
                f"{label}: no column {column!r} ({purpose}); available columns: "
                f"{_available(frame)}{hint}; {todo}"
            )
        raise MappingError(
            f"{label}: no column {column!r} ({purpose}); available columns: "
            f"{_available(frame)}{hint}; {todo}",
            () if role == "y" else (str(role),),
            response=role == "y",
        )


def _available(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns]
    if not names:
        return "none"
    shown = _quoted(names[:_MAX_LISTED_COLUMNS])
    extra = len(names) - _MAX_LISTED_COLUMNS
    return f"{shown} and {extra} more" if extra > 0 else shown


# -- values ----------------------------------------------------------------------------


class _RowNamer:
    """Turns a 0-based position into the words a user can find in their file."""

    def __init__(
        self,
        label: str,
        text_file: bool,
        index: pd.Index,
        lines: _Lines | None = None,
        decimal_comma: bool = False,
    ) -> None:
        self.label = label
        self.text_file = text_file
        # A ';'-separated file: a comma in a number is a decimal mark (see the hints).
        self.decimal_comma = decimal_comma
        # The lines each row was read from: blank lines and quoted values over several
        # lines put a row elsewhere than one line below its number.
        self.lines = lines
        default = isinstance(index, pd.RangeIndex) and index.equals(pd.RangeIndex(len(index)))
        # A DataFrame's own index labels help find a row; a default 0..n-1 adds nothing.
        self.index = None if (text_file or default) else index

    def __call__(self, position: int) -> str:
        row = position + 1
        if self.lines is not None:
            return f"row {row} ({_line_words(self.lines[position])} of the file)"
        if self.index is not None:
            return f"row {row} (index label {self.index[position]!r})"
        return f"row {row}"


def _to_finite_floats(
    series: pd.Series, column: Hashable, rows: _RowNamer, quantities: bool = False
) -> np.ndarray:
    """Convert one source column to float64, or raise on the first unusable value.

    With `quantities` (an input's column), text that is not a plain number is read as a
    person writes a size, and as bayescale prints one (:func:`parse_quantity`: ``70B``,
    ``1.4T``, ``10^24``), as points and candidates are read; only the cells that are not
    plain numbers are looked at, so a column of numbers costs nothing more.
    """
    original = series.to_numpy(dtype=object)
    missing = np.array(pd.isna(series), dtype=bool)  # writable: extended below
    dtype = series.dtype
    if (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
    ):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        not_number = np.zeros(len(series), dtype=bool)
    elif (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    ):
        coerced = pd.to_numeric(pd.Series(original, dtype=object), errors="coerce")
        coerced = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
        # Blank cells and a written 'NaN' are missing values, not words.
        missing |= np.array([_is_blank_or_nan_text(v) for v in original], dtype=bool)
        # to_numeric turns True into 1.0; a flag is not a measurement.
        flags = np.array([isinstance(v, (bool, np.bool_)) for v in original], dtype=bool)
        not_number = (np.isnan(coerced) & ~missing) | flags
        if quantities and not_number.any():
            coerced, not_number = _read_quantities(original, coerced, not_number)
        values = np.where(not_number | missing, np.nan, coerced)
    else:
        # Booleans, dates, durations, complex numbers: nothing here is a usable number.
        not_number = ~missing
        values = np.full(len(series), np.nan)

    where = f"{rows.label}: column {str(column)!r}"
    _raise_first(
        not_number,
        lambda i: (
            f"{where} {rows(i)} has {original[i]!r}, which is not a number"
            + _decimal_comma_hint(original[i], rows.decimal_comma)
        ),
        "fix the value or remove the row",
    )
    missing = np.isnan(values)
    _raise_first(
        missing,
        lambda i: f"{where} {rows(i)} has a missing value (empty or NaN)",
        "fill it in or remove the row",
    )
    _raise_first(
        np.isinf(values),
        lambda i: f"{where} {rows(i)} has {_shown(original[i])}, which is not finite",
        "fix the value or remove the row",
    )
    return values


def _read_quantities(
    original: np.ndarray, coerced: np.ndarray, not_number: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Read the text cells that are not plain numbers as sizes (``70B``); the rest stay bad."""
    from bayescale._format import parse_quantity

    coerced, not_number = coerced.copy(), not_number.copy()
    for i in np.flatnonzero(not_number):
        text = original[i]
        if not isinstance(text, str):
            continue
        try:
            value = parse_quantity(text)
        except ValueError:
            continue
        coerced[i], not_number[i] = value, False
    return coerced, not_number


def _raise_first(bad: np.ndarray, describe: Callable[[int], str], todo: str) -> None:
    """Raise about the first True entry of `bad`, counting all of them."""
    positions = np.flatnonzero(bad)
    if positions.size:
        count = positions.size
        total = f"{count} row{'s' if count != 1 else ''} in total"
        raise DataError(f"{describe(int(positions[0]))} ({total}); {todo}")


def _is_blank_or_nan_text(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() in ("", "nan", "+nan", "-nan")


def _shown(value: object) -> str:
    """Show a value as the user wrote it (text from a file) or as Python prints it."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def complete_triad(
    values: Mapping[str, np.ndarray], compute_factor: float
) -> tuple[str, np.ndarray] | None:
    """The missing one of N, D and C when exactly two are given, from ``C = k N D``.

    The one place where the compute triad is completed: for tables of runs, forecast
    points and plots alike.

    Parameters
    ----------
    values : mapping of str to numpy.ndarray
        Inputs by name; only N, D and C are looked at.
    compute_factor : float
        ``k`` in ``C = k N D``.

    Returns
    -------
    tuple of (str, numpy.ndarray) or None
        The missing name and its values; None unless exactly two of N, D, C are given.
    """
    present = {name for name in _TRIAD if name in values}
    if len(present) != 2:
        return None
    k = float(compute_factor)
    if "C" not in present:
        return "C", k * np.asarray(values["N"]) * np.asarray(values["D"])
    if "D" not in present:
        return "D", np.asarray(values["C"]) / (k * np.asarray(values["N"]))
    return "N", np.asarray(values["C"]) / (k * np.asarray(values["D"]))


def check_triad(
    values: Mapping[str, np.ndarray],
    compute_factor: float,
    row: Callable[[int], str] | None = None,
    notes: list[str] | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    limit: float = TRIAD_LIMIT,
) -> None:
    """Refuse C far from ``k N D`` when N, D and C are all given; note those well off it.

    C more than ``limit`` times off ``k N D`` either way is a slip of units (PF-days, N in
    billions) and refused: :data:`TRIAD_LIMIT` (2x) for forecast points, where one writes
    all three of a point, and :data:`RUNS_TRIAD_LIMIT` (100x) for tables of runs
    (:func:`load_runs`), whose N may leave out the embeddings that their C counts (12x for
    Pythia's smallest model). Beyond 1.5x, within the limit, it is noted (warned, or
    appended to ``notes``). Ratios that are not finite and > 0 are left to the checks of the
    values themselves.

    Parameters
    ----------
    values : mapping of str to numpy.ndarray
        N, D and C (other names are ignored), one value per point or run.
    compute_factor : float
        ``k`` in ``C = k N D``.
    row : callable, optional
        Names the point or run at a 0-based position, e.g. ``"runs.csv: row 3 (line 4 of
        the file)"``; default ``"forecast point <i + 1>"``.
    notes : list of str, optional
        Where the note goes instead of a warning.
    columns : mapping of str to str, optional
        For runs read from a table: input name -> source column, named in the messages,
        which then say how to fix the table rather than the points.
    limit : float, default :data:`TRIAD_LIMIT`
        The factor (> 1.5) beyond which C is refused, either way.

    Raises
    ------
    DataError
        For the first point or run off by more than ``limit``: its values, the factor (and
        for runs, how many rows) and what to do.

    Warns
    -----
    DataWarning
        For the first one off by more than 1.5x (unless ``notes`` is given); for runs, with
        how many rows are and the range of their ratios.
    """

    def point(i: int) -> str:
        return f"forecast point {i + 1}" if row is None else row(i)

    k = float(compute_factor)
    with np.errstate(all="ignore"):
        product = k * np.asarray(values["N"], dtype=float) * np.asarray(values["D"], dtype=float)
        ratio = np.asarray(values["C"], dtype=float) / product
    usable = np.isfinite(ratio) & (ratio > 0)
    off = usable & ((ratio < 1 / limit) | (ratio > limit))
    if off.any():
        i = int(np.argmax(off))
        c, n, d = (float(values[name][i]) for name in ("C", "N", "D"))
        if columns is None:
            raise DataError(
                f"{point(i)}: C = {c:.4g} but {k:g} N D = {float(product[i]):.4g} (N = {n:.4g}, "
                f"D = {d:.4g}): they disagree by more than a factor {limit:g}. Give two of N, D, "
                f"C (the third follows from C = {k:g} N D), or load the runs with the "
                f"compute_factor their FLOPs are counted with (on the command line: "
                f"--compute-factor)"
            )
        count = int(off.sum())
        raise DataError(
            f"{point(i)}: C = {c:.4g} ({_source_of(columns, 'C')}) is {float(ratio[i]):.3g}x "
            f"{k:g} N D = {float(product[i]):.4g} (N = {n:.4g} from {_source_of(columns, 'N')}, "
            f"D = {d:.4g} from {_source_of(columns, 'D')}), more than a factor {limit:g} off "
            f"({count} row{'s' if count != 1 else ''} in total): check the units (C in FLOPs, "
            f"N in parameters, D in tokens), map only two of N, D, C so that the third is "
            f"derived, or set compute_factor (--compute-factor) to the FLOPs your C counts per "
            f"parameter and token"
        )
    # Within the limit but well off: no slip of units, yet a law reads N and D while the
    # distance beyond the runs (the discrepancy's) reads C, so a C that counts otherwise
    # moves the intervals.
    loose = usable & ((ratio < 1 / _TRIAD_NOTE) | (ratio > _TRIAD_NOTE))
    if not loose.any():
        return
    i = int(np.argmax(loose))
    c = float(values["C"][i])
    if columns is None:
        note = (
            f"{point(i)}: C = {c:.4g} is {float(ratio[i]):.2f}x {k:g} N D = "
            f"{float(product[i]):.4g}. The law forecasts from the inputs it takes; C counts in "
            f"the distance beyond the runs that widens the discrepancy's interval. If C is a "
            f"slip, leave it out (two of N, D, C are enough); if your FLOPs are counted "
            f"otherwise, load the runs with that compute_factor"
        )
    else:
        count = int(loose.sum())
        low, high = float(ratio[loose].min()), float(ratio[loose].max())
        spread = f"{low:.3g}x" if f"{low:.3g}" == f"{high:.3g}" else f"{low:.3g}x to {high:.3g}x"
        note = (
            f"{point(i)}: C = {c:.4g} ({_source_of(columns, 'C')}) is {float(ratio[i]):.2f}x "
            f"{k:g} N D = {float(product[i]):.4g} (N from {_source_of(columns, 'N')}, D from "
            f"{_source_of(columns, 'D')}; {count} row{'s' if count != 1 else ''} off by more "
            f"than {_TRIAD_NOTE:g}x, at {spread}): N and C may count parameters differently "
            f"(embeddings), or the FLOPs have another compute factor. The runs are kept as "
            f"given; the distance beyond the runs, which widens forecast intervals, reads C: "
            f"map only two of N, D, C for a C that follows from N, or set compute_factor "
            f"(--compute-factor) to how your FLOPs are counted"
        )
    if notes is not None:
        notes.append(note)
    else:
        warnings.warn(note, DataWarning, stacklevel=3)


def _source_of(columns: Mapping[str, str], name: str) -> str:
    return f"column {columns.get(name, name)!r}"


def _check_tokens_per_parameter(
    values: Mapping[str, np.ndarray], columns: Mapping[str, str], rows: _RowNamer
) -> None:
    """Warn about runs whose D / N no training run has: most likely N or D in other units."""
    low, high = TOKENS_PER_PARAMETER
    with np.errstate(all="ignore"):
        ratio = np.asarray(values["D"], dtype=float) / np.asarray(values["N"], dtype=float)
    odd = np.isfinite(ratio) & (ratio > 0) & ((ratio < low) | (ratio > high))
    if not odd.any():
        return
    i = int(np.argmax(odd))
    count = int(odd.sum())
    n_from, d_from = (_source_text(columns[name]) for name in ("N", "D"))
    warnings.warn(
        f"{rows.label}: {rows(i)} has {float(ratio[i]):.3g} tokens per parameter (N = "
        f"{float(values['N'][i]):.4g} from {n_from}, D = {float(values['D'][i]):.4g} from "
        f"{d_from}; {count} row{'s' if count != 1 else ''} outside {low:g} to {high:g} in "
        f"total), far from any training run: check the units (N in parameters, not millions "
        f"or billions; D in tokens; C in FLOPs, not PF-days)",
        DataWarning,
        stacklevel=3,
    )


def _source_text(column: str) -> str:
    """Where an input came from, as a message says it: ``column 'params'``, or how it was
    derived (``derived: C / (6 N)``)."""
    return column if column.startswith("derived:") else f"column {column!r}"


def _check_swapped(
    values: Mapping[str, np.ndarray], columns: Mapping[str, str], label: str
) -> None:
    """Warn when most runs have far fewer tokens than parameters: N and D mapped the wrong
    way round, most likely (each run's ratio is in range, so the units check is silent)."""
    with np.errstate(all="ignore"):
        ratio = np.asarray(values["D"], dtype=float) / np.asarray(values["N"], dtype=float)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    if not len(ratio) or not np.median(ratio) < SWAPPED_BELOW:
        return
    # Learning curves have few models and many checkpoints, early ones with few tokens per
    # parameter: few distinct N, many D. Swapped, a table has it the other way round.
    if len(np.unique(values["N"])) < len(np.unique(values["D"])):
        return
    n_from, d_from = (_source_text(columns[name]) for name in ("N", "D"))
    warnings.warn(
        f"{label}: the runs have a median of {float(np.median(ratio)):.3g} tokens per "
        f"parameter (N from {n_from}, D from {d_from}), {float(np.median(1 / ratio)):.3g} the "
        f"other way round: are N and D swapped? N counts a model's parameters, D its training "
        f"tokens; map each to its column (x={{'N': COLUMN, 'D': COLUMN}}, or --x N=COLUMN "
        f"--x D=COLUMN)",
        DataWarning,
        stacklevel=3,
    )


def swapped_points(points: pd.DataFrame, runs: Runs) -> np.ndarray:
    """Positions of the points whose N and D look swapped.

    A point looks swapped when it has fewer than :data:`SWAPPED_BELOW` tokens per parameter,
    fewer than any run, while D / N the other way round is at least the runs' smallest ratio
    and at most their largest or :data:`PLAUSIBLE_RATIO` (a forecast at N = 1.4T, D = 70B
    from runs of 20 tokens per parameter, say).

    Parameters
    ----------
    points : pandas.DataFrame
        Forecast points (checked), with N and D columns where the law has them.
    runs : Runs
        The fitted runs.

    Returns
    -------
    numpy.ndarray
        The positions (empty without N and D in both).
    """
    if not {"N", "D"} <= set(points.columns) or not {"N", "D"} <= set(runs.inputs):
        return np.array([], dtype=int)
    with np.errstate(all="ignore"):
        ratio = points["D"].to_numpy(dtype=float) / points["N"].to_numpy(dtype=float)
        known = runs.x("D") / runs.x("N")
    known = known[np.isfinite(known) & (known > 0)]
    if not len(known):
        return np.array([], dtype=int)
    low = float(known.min())
    # The other way round, a ratio runs are trained at (7B on 2T tokens swapped is 0.0035,
    # 285 the right way: more than Chinchilla's runs have, well within what runs use).
    high = max(float(known.max()), PLAUSIBLE_RATIO)
    with np.errstate(all="ignore"):
        odd = (ratio < SWAPPED_BELOW) & (ratio < low) & (1 / ratio >= low) & (1 / ratio <= high)
    return np.flatnonzero(odd)


def swapped_sentence(
    points: pd.DataFrame,
    runs: Runs,
    what: str = "point",
    name: Callable[[int], str] | None = None,
) -> str | None:
    """The warning for points whose N and D look swapped (:func:`swapped_points`), or None.

    Parameters
    ----------
    points : pandas.DataFrame
        Forecast points (checked).
    runs : Runs
        The fitted runs.
    what : str, default "point"
        How the points are named (``"point"``, ``"target"``).
    name : callable, optional
        Names the point at a position (from 0), for points that are rows of the caller's
        table (``"line 3"``); default ``what`` and the point's number from 1.

    Returns
    -------
    str or None
        One sentence naming the first such point and how many there are.
    """
    odd = swapped_points(points, runs)
    if not len(odd):
        return None
    i = int(odd[0])
    n, d = float(points["N"].iloc[i]), float(points["D"].iloc[i])
    known = runs.x("D") / runs.x("N")
    more = f" ({len(odd)} {what}s like it)" if len(odd) > 1 else ""
    return (
        f"{name(i) if name is not None else f'{what} {i + 1}'} (N = "
        f"{format_number(n, 'size')}, D = {format_number(d, 'size')}) has "
        f"{d / n:.3g} tokens per parameter, fewer than any run ({float(known.min()):.3g} to "
        f"{float(known.max()):.3g}), while the other way round ({n / d:.3g}) it would read as "
        f"a run{more}: are N and D swapped? N counts parameters, D training tokens"
    )


def _below(points: pd.DataFrame, runs: Runs) -> dict[int, tuple[str, float, float]]:
    """Each point far below the runs: its first such input (N, D, then C), value and the
    smallest run's."""
    flagged: dict[int, tuple[str, float, float]] = {}
    for name in ("N", "D", "C"):
        if name not in points.columns or name not in runs.inputs:
            continue
        smallest = float(runs.x(name).min())
        values = points[name].to_numpy(dtype=float)
        with np.errstate(all="ignore"):
            odd = (values > 0) & (smallest / values > BELOW_RUNS_LIMIT)
        for i in np.flatnonzero(odd):
            flagged.setdefault(int(i), (name, float(values[i]), smallest))
    return flagged


def below_points(points: pd.DataFrame, runs: Runs) -> np.ndarray:
    """Positions of the points whose N, D or C lies more than :data:`BELOW_RUNS_LIMIT` times
    below the smallest run's (in other units, most likely: N = 3 for 3B).

    Parameters
    ----------
    points : pandas.DataFrame
        Forecast points (checked).
    runs : Runs
        The fitted runs.

    Returns
    -------
    numpy.ndarray
        The positions, in order (empty when none is).
    """
    return np.array(sorted(_below(points, runs)), dtype=int)


def below_sentence(
    points: pd.DataFrame,
    runs: Runs,
    what: str = "point",
    name: Callable[[int], str] | None = None,
) -> str | None:
    """The warning for points whose N, D or C lies far below every run (more than
    :data:`BELOW_RUNS_LIMIT` times below the smallest), or None.

    Parameters
    ----------
    points : pandas.DataFrame
        Forecast points (checked).
    runs : Runs
        The fitted runs.
    what : str, default "point"
        How the points are named.
    name : callable, optional
        Names the point at a position (from 0), as in :func:`swapped_sentence`.

    Returns
    -------
    str or None
        One sentence naming the first such point and input, and how many points there are.
    """
    flagged = _below(points, runs)
    if not flagged:
        return None
    i = min(flagged)
    column, value, smallest = flagged[i]
    kind = "flops" if column == "C" else "size"
    more = f" ({len(flagged)} {what}s like it)" if len(flagged) > 1 else ""
    return (
        f"{name(i) if name is not None else f'{what} {i + 1}'}: {column} = "
        f"{format_number(value, kind)} is {smallest / value:.2g} times "
        f"below the smallest run's ({format_number(smallest, kind)}){more}: check its units "
        f"(N in parameters, not millions or billions; D in tokens; C in FLOPs); a forecast "
        f"that far below the runs rests on nothing they measured"
    )


def _check_plausible(values: np.ndarray, column: str, name: str | None, rows: _RowNamer) -> None:
    """Warn about the first value no run has: above :data:`PLAUSIBLE_MAX` for N, D, C, or
    :data:`SPREAD_LIMIT` times its column's median away (for the response, above only: an
    error rate may fall orders of magnitude as models grow)."""
    values = np.asarray(values, dtype=float)
    positive = values[values > 0]
    if positive.size == 0:
        return
    median = float(np.median(positive))
    with np.errstate(all="ignore"):
        ratio = values / median
    cap = PLAUSIBLE_MAX.get(name, np.inf) if name is not None else np.inf
    above = values > cap
    far = ratio > SPREAD_LIMIT
    if name is not None:
        far |= (values > 0) & (ratio < 1 / SPREAD_LIMIT)
    odd = above | far
    if not odd.any():
        return
    i = int(np.argmax(odd))
    value = float(values[i])
    if above[i]:
        why = f"more than {cap:g} {_UNITS_OF[name]}, beyond any run trained"  # type: ignore[index]
    elif ratio[i] > 1:
        why = f"{float(ratio[i]):.2g} times the median of the column ({median:.4g})"
    else:
        why = f"1/{1 / float(ratio[i]):.2g} of the median of the column ({median:.4g})"
    count = int(odd.sum())
    units = " or other units (N in parameters, D in tokens, C in FLOPs)" if name else ""
    warnings.warn(
        f"{rows.label}: {column} {rows(i)} has {value:.4g}, {why} ({count} "
        f"row{'s' if count != 1 else ''} like it in total): check it for a typo{units}; it is "
        f"kept, and weighs on the fit like any run",
        DataWarning,
        stacklevel=3,
    )


def log_inputs(law: Any) -> tuple[str, ...]:
    """The inputs whose logarithm a law takes: each must be > 0 in runs and forecasts.

    An input raised to a fitted power (``N**-alpha`` is ``exp(-alpha log N)``) or under
    ``log`` needs it, and so does an input a parameter is stated at the reference scale of
    (its reference is a geometric mean). An input the law only adds or multiplies (a
    learning rate in ``c * (lr - lr0)**2``) may be zero or negative.

    Parameters
    ----------
    law : Law
        The law.

    Returns
    -------
    tuple of str
        Input names, in the law's order.
    """
    names = set(law.formula.structure(tuple(law.inputs)).log_inputs)
    names |= {p.reference[0] for p in law.parameters.values() if p.reference}
    return tuple(name for name in law.inputs if name in names)


def _derive_triad(
    values: dict[str, np.ndarray], columns: dict[str, str], k: float, rows: _RowNamer
) -> None:
    """Add the missing one of N, D, C when exactly two are present (C = k N D)."""
    if len({name for name in _TRIAD if name in values}) == 2:
        # Compute, parameters and tokens are positive counts: a product or ratio of values
        # <= 0 would be a number with no meaning, or a division by zero.
        for name in (n for n in _TRIAD if n in values):
            source = str(columns.get(name, name))
            _raise_first(
                ~(values[name] > 0),
                lambda i, name=name, source=source: (
                    f"{rows.label}: column {source!r} (input {name!r}) {rows(i)} has "
                    f"{float(values[name][i])!r}, which is not > 0"
                ),
                "the third of N, D, C is derived from C = k N D, which needs the other two "
                "> 0: fix or remove the row, or map all three to columns",
            )
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        completed = complete_triad(values, k)
    if completed is None:
        return
    name, derived = completed
    kk = _format_factor(k)
    formula = {"N": f"C / ({kk} D)", "D": f"C / ({kk} N)", "C": f"{kk} N D"}[name]
    # Positive finite inputs can still overflow or underflow in the product.
    _raise_first(
        ~np.isfinite(derived) | (derived <= 0),
        lambda i: (
            f"{rows.label}: derived column {name!r} = {formula} is {float(derived[i])!r} at "
            f"{rows(i)}"
        ),
        f"the values are too extreme to derive {name}: check their units or map {name} to a column",
    )
    values[name] = derived
    columns[name] = f"derived: {formula}"


def _warn_duplicates(table: pd.DataFrame, used: list[str], rows: _RowNamer) -> None:
    repeated = table.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return
    first_seen: dict[tuple[float, ...], int] = {}
    pairs: list[tuple[int, int]] = []
    for position, key in enumerate(table.itertuples(index=False, name=None)):
        first = first_seen.setdefault(key, position)
        if first != position:
            pairs.append((position, first))
    shown = ", ".join(
        f"{rows(pos)} repeats row {first + 1}" for pos, first in pairs[:_MAX_LISTED_DUPLICATES]
    )
    more = ", ..." if len(pairs) > _MAX_LISTED_DUPLICATES else ""
    count = len(pairs)
    warnings.warn(
        f"{rows.label}: {count} duplicated row{'s' if count != 1 else ''} (identical in "
        f"{_quoted(used)}): {shown}{more}; they are kept, but check that no run "
        f"was entered twice",
        DataWarning,
        stacklevel=3,
    )


# -- invariants and small helpers ------------------------------------------------------


def _check_compute_factor(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataError(f"compute_factor must be a number (k in C = k N D), not {value!r}")
    k = float(value)
    if not math.isfinite(k) or k <= 0:
        raise DataError(
            f"compute_factor must be finite and > 0 (k in C = k N D, usually 6), not {value!r}"
        )
    return k


def _check_table(table: object, columns: Mapping[str, str], source: str) -> pd.DataFrame:
    """Check the invariants of `Runs.table` and return a float64 copy."""
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{source}: Runs.table must be a DataFrame, not {type(table).__name__}")
    names = list(table.columns)
    expected = [*columns, "y"]
    if names != expected:
        raise DataError(
            f"{source}: Runs.table has columns {_quoted(names)} but should have the inputs "
            f"then 'y': {_quoted(expected)}"
        )
    for name in columns:
        if not isinstance(name, str) or not name.isidentifier() or name == "y":
            raise DataError(f"{source}: input name {name!r} is not a valid identifier")
    if len(table) == 0:
        raise DataError(f"{source}: Runs.table has no rows")
    if not table.index.equals(pd.RangeIndex(len(table))):
        raise DataError(f"{source}: Runs.table must have a RangeIndex 0..{len(table) - 1}")
    try:
        copy = table.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{source}: Runs.table has non-numeric values ({_one_line(exc)})") from exc
    bad = ~np.isfinite(copy.to_numpy())
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(
            f"{source}: Runs.table column {names[col]!r} row {row + 1} has "
            f"{copy.iat[row, col]!r}, which is not a finite number"
        )
    return copy.reset_index(drop=True)


def _format_factor(k: float) -> str:
    return str(int(k)) if float(k).is_integer() else repr(float(k))


def _quoted(names: Sequence[object] | pd.Index, last: str = "and") -> str:
    items = [repr(str(n)) for n in names]
    if len(items) <= 1:
        return "".join(items) or "none"
    if last == "and":
        return ", ".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
