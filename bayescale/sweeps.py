"""Sweeps: many fits from one spec, on this machine's processes or a Dask cluster.

A sweep is the product of data slices (response columns x values of slicing columns),
laws and hold-out cuts; each element is one :func:`bayescale.fit`. The result is one tidy
table (a row per fit: its slice, law, cut, diagnostics, held-out scores and parameter
quantiles) plus each fit's ``.nc``, in an output folder:

- ``fits/<key>.nc``: the fit, reloadable with :func:`bayescale.load_fit`;
- ``rows/<key>.json``: its row, written last, atomically: a fit is finished exactly when its
  row exists (and, unless it raised, its ``.nc``), so an interrupted sweep loses only the
  fits in flight and a rerun skips the rest;
- ``results.csv``: all rows, rewritten at the end of every run;
- ``sweep.json``: the spec the folder belongs to, as a hash of its content (see
  :func:`spec_identity`): a sweep of another spec is refused there, and so is a folder that
  is not a sweep's but holds files (unless ``overwrite=True``), so that a ``results.csv``
  is never replaced by accident.

The key of a fit is a hash of its data (the slice's values), its law (the full law with
priors: a law file's or catalog entry's content, not its name) and its settings: change any
of them and the fit is redone, leave them and it is kept. A row's identity columns (the
response, the slice's values, the law and the cut) are always those of the current spec.

The spec is checked when it is loaded, before any folder is made or any fit runs: its
types, its columns, its laws (catalog names, law files relative to the spec's folder,
formulas) and the inputs they need, and its sampler settings.

Engine: with ``workers=0`` the fits run one after another in this process. Otherwise they
run on Dask (``dask.distributed``): a ``LocalCluster`` of ``workers`` single-threaded
processes by default, or an existing cluster (``scheduler="tcp://host:8786"`` or a
``Client``). Fits are sent in small chunks of one law each, in law order, so that a worker
compiles a law once (the compiled model is cached per process) and then only swaps the data;
a chunk whose worker dies is rerun elsewhere and skips the fits its predecessor finished.

Stopping: Ctrl-C (SIGINT), and SIGTERM while a sweep runs in the main thread of a process
that left SIGTERM at its default, stop the sweep cleanly: the fits in flight are dropped, a
local cluster is shut down quietly (its workers ignore Ctrl-C, which a terminal sends to
them too, and leave it to the sweep) and its scratch folder, which holds the workers'
temporary files, removed, and :class:`SweepInterrupted` says how many fits are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import tomllib
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale import _files
from bayescale.data import _DATAFRAME_SOURCE
from bayescale.discrepancy import check_choice
from bayescale.errors import BayescaleError, DataError, OutputExistsError, closest

__all__ = [
    "SweepInterrupted",
    "SweepSpec",
    "SweepTask",
    "folder_conflict",
    "load_spec",
    "plan_sweep",
    "recorded_spec",
    "spec_identity",
    "sweep",
]

#: Keys a sweep spec may have, per table.
_SPEC_KEYS = {
    "": {"data", "laws", "holdout", "sampler", "discrepancy"},
    "data": {"path", "x", "y", "split_by", "compute_factor"},
    "holdout": {"quantiles", "full"},
}
#: Status of a row: the fit ran and passed its diagnostics, ran and failed them, or raised.
STATUSES = ("ok", "diagnostics failed", "error")
#: The file of an output folder that names the spec it belongs to.
SPEC_FILE = "sweep.json"
#: The label of data given as a DataFrame (as :func:`bayescale.load_runs` names it).
_FRAME = _DATAFRAME_SOURCE
#: Input columns taken when a spec maps none (as :func:`bayescale.load_runs` does).
_DEFAULT_INPUTS = ("N", "D", "C", "U")
#: The row key that lists a row's identity columns (dropped from the table).
_IDENTITY = "_identity"


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep fits.

    Parameters
    ----------
    data : pandas.DataFrame
        The runs, one row each.
    x : mapping of str to str
        Law input -> column (as in :func:`bayescale.load_runs`). Empty: the columns named
        ``N``, ``D``, ``C`` or ``U``, as :func:`bayescale.load_runs` takes by default.
    y : sequence of str
        Response columns: one slice each (e.g. eight validation losses).
    laws : sequence of str
        Catalog names, law-file paths (relative to `folder`) or formulas.
    split_by : sequence of str, default ()
        Columns whose values each make a slice (e.g. ``dataset``): fits are per value.
    holdout : sequence of float, default ()
        Compute quantiles: for each, fit on the runs at or below it and score the runs above
        (extrapolation cross-validation).
    full : bool, default True
        Also fit all the runs of each slice.
    sampler : mapping, default {}
        :class:`bayescale.SamplerSettings` fields (draws, tune, chains, seed ...).
    discrepancy : str or None, default "auto"
        Passed to :func:`bayescale.fit` (``"none"`` turns it off).
    compute_factor : float, default 6.0
        ``k`` in ``C = k N D``.
    source : str, default "<DataFrame>"
        Where the spec came from, for messages (and for the output folder's record of its
        sweep); what identifies the sweep there is the spec's content (see
        :func:`spec_identity`), not its source.
    data_source : str, default "<DataFrame>"
        Where `data` came from (its file), so that a fit's data error names the file and
        its row (and line, for a text file) as :func:`bayescale.load_runs` does. A file
        also identifies the data in the output folder (its rows may be edited and the
        sweep rerun there); data without a file are identified by their content.
    folder : str or PathLike, optional
        The folder relative law-file paths are read from; default: the current one
        (:func:`load_spec`: the spec's folder).
    data_lines : tuple of (int, int), optional
        For data read from a text file, the first and last line of each row in it, so that
        a fit's data error names the right line (blank lines and values over several lines
        put a row elsewhere than one line below its number).

    Raises
    ------
    DataError
        If a column is missing, a value is out of range or repeated, a sampler setting is
        not valid, or a law is unknown, not valid or needs an input ``x`` does not map: all
        before anything is fitted, each message naming `source` and the key.
    """

    data: pd.DataFrame
    x: Mapping[str, str]
    y: Sequence[str]
    laws: Sequence[str]
    split_by: Sequence[str] = ()
    holdout: Sequence[float] = ()
    full: bool = True
    sampler: Mapping[str, Any] = field(default_factory=dict)
    discrepancy: str | None = "auto"
    compute_factor: float = 6.0
    source: str = _FRAME
    data_source: str = _FRAME
    folder: str | os.PathLike[str] | None = None
    data_lines: tuple[tuple[int, int], ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        where = self.source
        if not isinstance(self.data, pd.DataFrame):
            raise DataError(
                f"{where}: data must be a pandas DataFrame of the runs, got "
                f"{type(self.data).__name__}; for a file, write a spec file with [data] path "
                f"and read it with load_spec"
            )
        # One name may be given as a string, as a spec file may write it.
        for name in ("y", "laws", "split_by"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, (getattr(self, name),))
        if not self.y:
            raise DataError(f"{where}: data.y names no response column; give one or more")
        if not self.laws:
            raise DataError(f"{where}: laws is empty; give one or more law names or formulas")
        for name, key in (("y", "data.y"), ("laws", "laws"), ("split_by", "data.split_by")):
            bad = [v for v in getattr(self, name) if not isinstance(v, str) or not v.strip()]
            if bad:
                raise DataError(f"{where}: {key} must be names (text), got {bad[0]!r}")
        if not isinstance(self.x, Mapping):
            raise DataError(
                f"{where}: data.x must map law inputs to columns, e.g. "
                f"{{'N': 'params', 'D': 'tokens'}}, got {self.x!r}"
            )
        if not self.x:
            object.__setattr__(self, "x", self._default_inputs())
        missing = [
            c for c in [*self.x.values(), *self.y, *self.split_by] if c not in self.data.columns
        ]
        if missing:
            hint = closest(missing[0], self.data.columns)
            raise DataError(
                f"{where}: column(s) {', '.join(map(repr, missing))} not in the data "
                f"(it has {', '.join(map(str, self.data.columns))})"
                + (f"; did you mean {hint!r}?" if hint is not None else "")
            )
        for q in self.holdout:
            if isinstance(q, bool) or not (isinstance(q, int | float) and 0 < q < 1):
                raise DataError(
                    f"{where}: holdout.quantiles must be numbers in (0, 1), got {q!r}"
                    f"{_percent_hint(q)}"
                )
        if not self.holdout and not self.full:
            raise DataError(f"{where}: holdout.full is false and there are no quantiles: no fit")
        for values, key, what in (
            (self.laws, "laws", "law"),
            (self.y, "data.y", "response"),
            (self.split_by, "data.split_by", "column"),
            ([float(q) for q in self.holdout], "holdout.quantiles", "cut"),
        ):
            repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
            if repeated is not None:
                raise DataError(
                    f"{where}: {key} gives {repeated!r} twice: each {what} makes its own "
                    f"fits; give it once"
                )
        check_choice(self.discrepancy, where)
        self._check_sampler()
        object.__setattr__(self, "_laws", self._resolve_laws())

    def _default_inputs(self) -> dict[str, str]:
        """The columns named N, D, C or U, as :func:`bayescale.load_runs` takes by default."""
        found = [c for c in self.data.columns if isinstance(c, str) and c in _DEFAULT_INPUTS]
        if not found:
            raise DataError(
                f"{self.source}: data.x is not given and the data ({self.data_source}) has no "
                f"column named N, D, C or U; map the law's inputs to columns, e.g. "
                f'x = {{N = "params", D = "tokens"}}'
            )
        return {name: name for name in dict.fromkeys(found)}

    def _check_sampler(self) -> None:
        from bayescale.settings import SamplerSettings

        where = f"{self.source}: [sampler]"
        if not isinstance(self.sampler, Mapping):
            raise DataError(f"{where} must be a table of settings, got {self.sampler!r}")
        known = [f.name for f in fields(SamplerSettings)]
        for name in self.sampler:
            if name not in known:
                hint = closest(name, known)
                raise DataError(
                    f"{where} unknown setting {name!r}"
                    + (f" (did you mean {hint!r}?)" if hint is not None else "")
                    + f"; the settings are {', '.join(sorted(known))}"
                )
        try:
            SamplerSettings.of(dict(self.sampler))
        except DataError as err:
            # A number in quotes is the commonest slip in a TOML file: say how to write it.
            quoted = [f"{k} = {v.strip()}" for k, v in self.sampler.items() if _is_number_text(v)]
            hint = f"; write {', '.join(quoted)} (a number, without quotes)" if quoted else ""
            raise DataError(f"{where} {err}{hint}") from None

    def _resolve_laws(self) -> dict[str, Any]:
        """Each law as fitted: a catalog entry's or law file's Law, a formula's text.

        Checked now, not in every fit: a catalog name (with the closest one if unknown), a
        law file, a formula, and the inputs each needs against ``x``."""
        from bayescale.errors import FormulaError, LawError
        from bayescale.laws import (
            Law,
            catalog,
            get_law,
            refuse_constant_terms,
            refuse_unused_columns,
        )

        probe = self._probe_runs()
        entries = catalog()
        resolved: dict[str, Any] = {}
        for text in self.laws:
            try:
                path = None if text in entries else _law_file(text, self.folder)
                if text in entries:
                    law = Law.from_file(entries[text])
                elif path is not None:
                    law = Law.from_file(path)
                else:
                    # A formula; an unknown name is refused here with the closest catalog one.
                    law = get_law(text, runs=probe)
                refuse_unused_columns(law, probe)
                refuse_constant_terms(law)
            except (LawError, FormulaError, DataError) as err:
                message = str(err).replace(_FRAME, self.data_source)
                raise DataError(f"{self.source}: laws: {message}") from None
            missing = [name for name in law.inputs if name not in probe.inputs]
            if missing:
                mapped = ", ".join(f'{k} = "{v}"' for k, v in self.x.items())
                wanted = ", ".join(f'{name} = "<column>"' for name in missing)
                raise DataError(
                    f"{self.source}: law {text!r} needs input(s) {', '.join(missing)}, which "
                    f"data.x does not map (it gives {', '.join(probe.inputs)}; of N, D, C two "
                    f"are enough); map a column to each: x = {{{mapped}, {wanted}}}, or "
                    f"remove the law"
                )
            resolved[text] = law if (text in entries or path is not None) else text
        return resolved

    def _probe_runs(self) -> Any:
        """Runs with the data's columns and the spec's mapping, but made-up values.

        Enough to check the mapping and each law's names at load time, whatever the real
        values: those are checked per fit (a bad value in one slice fails only its fits).
        When N, D and C are all mapped, C's made-up values are ``compute_factor N D``, so
        that the check of C against ``k N D`` passes as it does for consistent data."""
        from bayescale.data import load_runs

        used = {*self.x.values(), self.y[0]}
        n = 12
        made_up = {
            column: np.geomspace(1e7, 1e9, n) * (i + 1)
            for i, column in enumerate(self.data.columns)
            if column in used
        }
        triad = [self.x.get(name) for name in ("N", "D", "C")]
        if None not in triad and len(set(triad)) == 3:
            n_column, d_column, c_column = triad
            made_up[c_column] = self.compute_factor * made_up[n_column] * made_up[d_column]
        frame = pd.DataFrame(index=range(n))
        for i, column in enumerate(self.data.columns):
            frame.insert(i, column, made_up.get(column, [""] * n), allow_duplicates=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return load_runs(
                    frame, x=dict(self.x), y=self.y[0], compute_factor=self.compute_factor
                )
        except DataError as err:
            message = str(err).replace(_FRAME, self.data_source)
            raise DataError(f"{self.source}: data.x: {message}") from None

    def law_to_fit(self, law: str) -> Any:
        """The law `law` of the spec as fitted.

        Parameters
        ----------
        law : str
            One of :attr:`laws`.

        Returns
        -------
        Law or str
            A catalog entry's or law file's :class:`bayescale.Law` (read when the spec was
            made), or a formula's text (its default priors follow each slice's runs).
        """
        return self._laws[law]  # type: ignore[attr-defined]


def _percent_hint(value: Any) -> str:
    """For a quantile given as a percent (50 for 0.5), the hint that says so."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if value == 1:
        return " (a quantile of 1 holds out no runs; if it is a percent, give 0.01)"
    if 1 < value < 100:
        return f" (a percent? give {value / 100:g})"
    return ""


def _is_number_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _law_file(text: str, folder: str | os.PathLike[str] | None) -> Path | None:
    """The law file `text` names (relative to `folder`), or None if it names none."""
    path = Path(text).expanduser()
    if not path.is_absolute() and folder is not None:
        path = Path(folder) / path
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a formula longer than a file name can be, a NUL byte
        is_file = False
    return path if text.strip().lower().endswith(".toml") or is_file else None


@dataclass(frozen=True)
class SweepTask:
    """One fit of a sweep: a slice, a law and a cut.

    ``frame``'s index holds the positions of its runs in the sweep's data, so that a data
    error names the row of the file (``data_source``) rather than of the slice.
    """

    key: str
    response: str
    slice: Mapping[str, Any]
    law: str
    holdout: float | None
    frame: pd.DataFrame = field(repr=False)
    x: Mapping[str, str] = field(repr=False)
    sampler: Mapping[str, Any] = field(repr=False)
    discrepancy: str | None = "auto"
    compute_factor: float = 6.0
    fitted_law: Any = field(default=None, repr=False)
    data_source: str = field(default=_FRAME, repr=False)
    lines: Mapping[int, tuple[int, int]] | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        """The task's identity as table columns."""
        return {
            "key": self.key,
            "response": self.response,
            **self.slice,
            "law": self.law,
            "holdout": _cut_label(self.holdout),
        }


def _cut_label(cut: float | None) -> str:
    """A cut as the table's ``holdout`` column writes it."""
    return "all runs" if cut is None else f"below {cut:g}"


def _json_value(value: Any) -> str:
    """A spec value as TOML writes it (the same as JSON for numbers, text and lists)."""
    return json.dumps(value, default=str)


def _names(value: Any, key: str, where: str, example: str) -> list[str]:
    """A name or a list of names, as a spec writes them."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise DataError(
            f"{where}: {key} must be a name or a list of names, in quotes, got "
            f"{_json_value(value)}; write e.g. {example}"
        )
    return list(names)


def load_spec(path: str | os.PathLike[str]) -> SweepSpec:
    """Read a sweep spec from a TOML file.

    Parameters
    ----------
    path : str or PathLike
        The file. Its ``[data] path`` and law-file paths are read relative to the file's
        folder.

    Returns
    -------
    SweepSpec
        The spec.

    Raises
    ------
    DataError
        If the file cannot be read or a key or value is not valid (the message names the
        file, the key and what to write instead); see also :class:`SweepSpec`.

    Examples
    --------
    A spec for eight losses x three datasets x three laws x three cuts::

        laws = ["chinchilla", "kaplan", "E + A / N**alpha + B / D**beta"]

        [data]
        path = "runs.csv"
        x = {N = "params", D = "tokens"}
        y = ["loss_c4_val", "loss_paloma_ptb"]
        split_by = ["dataset"]

        [holdout]
        quantiles = [0.6, 0.75, 0.9]
        full = false

        [sampler]
        draws = 300
        tune = 300
    """

    if not isinstance(path, str | os.PathLike):
        raise DataError(_not_a_spec(path))
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(f"cannot read sweep spec '{path}': {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"sweep spec '{path}' is not valid TOML: {err}") from None
    where = str(path)
    for table, allowed in _SPEC_KEYS.items():
        entries = spec if not table else spec.get(table, {})
        if not isinstance(entries, dict):
            raise DataError(f"{where}: [{table}] must be a table")
        unknown = sorted(set(entries) - allowed)
        if unknown:
            here = f"[{table}] " if table else ""
            home = next((t for t, keys in _SPEC_KEYS.items() if t and unknown[0] in keys), None)
            hint = closest(unknown[0], allowed)
            note = (
                f" ({unknown[0]} belongs under [{home}])"
                if home is not None and home != table
                else f" (did you mean {hint!r}?)"
                if hint is not None
                else ""
            )
            raise DataError(
                f"{where}: unknown key(s) {here}{', '.join(unknown)}{note}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
    data = spec.get("data", {})
    if "path" not in data or "y" not in data:
        raise DataError(f"{where}: [data] needs 'path' (the runs table) and 'y' (its responses)")
    if not isinstance(data["path"], str) or not data["path"].strip():
        raise DataError(
            f"{where}: data.path must be a file name in quotes, got "
            f'{_json_value(data["path"])}; write e.g. path = "runs.csv"'
        )
    x = data.get("x", {})
    if not isinstance(x, dict):
        raise DataError(
            f"{where}: data.x must be a table of input = column, got {_json_value(x)}; "
            f'write e.g. x = {{N = "params", D = "tokens"}}'
        )
    for name, column in x.items():
        if not isinstance(column, str):
            raise DataError(
                f"{where}: data.x.{name} must be a column name in quotes, got "
                f'{_json_value(column)}; write e.g. x = {{{name} = "params"}}'
            )
    y = _names(data["y"], "data.y", where, 'y = "loss" or y = ["loss_a", "loss_b"]')
    split_by = _names(data.get("split_by", []), "data.split_by", where, 'split_by = ["dataset"]')
    laws = _names(spec.get("laws", []), "laws", where, 'laws = ["chinchilla", "kaplan"]')
    factor = data.get("compute_factor", 6.0)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor < math.inf:
        raise DataError(
            f"{where}: data.compute_factor must be a number > 0 (k in C = k N D), got "
            f"{_json_value(factor)}; write e.g. compute_factor = 6"
        )
    holdout = spec.get("holdout", {})
    quantiles = holdout.get("quantiles", [])
    if not isinstance(quantiles, list) or any(
        isinstance(q, bool) or not isinstance(q, int | float) for q in quantiles
    ):
        example: Any = 0.7
        if isinstance(quantiles, int | float) and not isinstance(quantiles, bool):
            # One number for a list of one; a percent (50) as the fraction it means.
            example = quantiles / 100 if 1 < quantiles < 100 else quantiles
        raise DataError(
            f"{where}: holdout.quantiles must be a list of numbers in (0, 1), got "
            f"{_json_value(quantiles)}; write e.g. quantiles = [{example}]"
        )
    full = holdout.get("full", True)
    if not isinstance(full, bool):
        raise DataError(
            f"{where}: holdout.full must be true or false (without quotes), got "
            f"{_json_value(full)}; write e.g. full = false"
        )
    sampler = spec.get("sampler", {})
    if not isinstance(sampler, dict):
        raise DataError(f"{where}: [sampler] must be a table, got {_json_value(sampler)}")
    source = (path.parent / data["path"]).resolve()
    from bayescale.data import _read

    try:
        table, _, _, lines = _read(source)
    except DataError as err:
        raise DataError(f"{where}: data.path: {err}") from None
    return SweepSpec(
        data=table,
        x=dict(x),
        y=y,
        laws=laws,
        split_by=split_by,
        holdout=list(quantiles),
        full=full,
        sampler=dict(sampler),
        discrepancy=spec.get("discrepancy", "auto"),
        compute_factor=float(factor),
        source=where,
        data_source=str(source),
        folder=str(path.parent),
        data_lines=lines,
    )


def _fingerprint(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame):
            digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
            digest.update(json.dumps(list(map(str, part.columns))).encode())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:20]


#: What of a law's description does not change its fits: prose and published values.
_LAW_PROSE = ("title", "reference", "description", "source_text", "published")


def _law_identity(law: Any) -> Any:
    """What of a law its fits' keys hold: its model as written (formula, inputs, priors,
    likelihood, pooling), not its prose: a comment or a typo fixed in a law file (or in the
    catalog, with a release) does not redo a sweep's fits."""
    if isinstance(law, str):
        return law
    described = {k: v for k, v in law.to_dict().items() if k not in _LAW_PROSE}
    described["parameters"] = {
        name: {k: v for k, v in entry.items() if k != "why"}
        for name, entry in described["parameters"].items()
    }
    return described


def plan_sweep(spec: SweepSpec) -> list[SweepTask]:
    """Every fit of a sweep, in law order (so that chunks share a compiled law).

    Parameters
    ----------
    spec : SweepSpec
        The sweep.

    Returns
    -------
    list of SweepTask
        One per response x slice x law x cut.

    Raises
    ------
    DataError
        If two fits would be identical (e.g. a law file with the content of a catalog law
        given beside it).
    """
    from bayescale.settings import SamplerSettings

    sampler = SamplerSettings.of(dict(spec.sampler)).to_dict()
    columns = list(dict.fromkeys([*spec.x.values()]))
    # Positions in the data, kept as each slice's index: a data error names the file's row.
    data = spec.data.reset_index(drop=True)
    if spec.split_by:
        groups = data.groupby(list(spec.split_by), sort=True, dropna=False)
        slices = [
            (dict(zip(spec.split_by, k if isinstance(k, tuple) else (k,), strict=True)), part)
            for k, part in groups
        ]
    else:
        slices = [({}, data)]
    cuts: list[float | None] = [*([None] if spec.full else []), *map(float, spec.holdout)]
    tasks = []
    for law in spec.laws:
        fitted_law = spec.law_to_fit(law)
        identity = _law_identity(fitted_law)
        for response in spec.y:
            for where, part in slices:
                frame = part[[*columns, response]]
                for cut in cuts:
                    key = _fingerprint(
                        frame, identity, cut, sampler, spec.discrepancy, spec.compute_factor, spec.x
                    )
                    tasks.append(
                        SweepTask(
                            key,
                            response,
                            {k: (v.item() if hasattr(v, "item") else v) for k, v in where.items()},
                            law,
                            cut,
                            frame,
                            dict(spec.x),
                            sampler,
                            spec.discrepancy,
                            spec.compute_factor,
                            fitted_law=fitted_law,
                            data_source=spec.data_source,
                            lines=(
                                None
                                if spec.data_lines is None
                                else {int(i): spec.data_lines[int(i)] for i in frame.index}
                            ),
                        )
                    )
    first: dict[str, SweepTask] = {}
    for task in tasks:
        if task.key in first:
            raise DataError(
                f"{spec.source}: two fits of the sweep are identical (the same data, law and "
                f"cut): {_label(first[task.key])} and {_label(task)}; remove one of the laws, "
                f"responses or cuts that repeat"
            )
        first[task.key] = task
    return tasks


def _label(task: SweepTask) -> str:
    return ", ".join(str(v) for k, v in task.describe().items() if k != "key")


def _row_path(out: Path, key: str) -> Path:
    return out / "rows" / f"{key}.json"


def _fit_file_problem(path: Path) -> str | None:
    """Why a sweep's saved fit cannot be read, or None if it opens as a fit.

    The cheap part of :func:`bayescale.load_fit`'s check: the NetCDF (HDF5) file opens,
    which HDF5 refuses for a file cut short (its recorded end lies beyond the file's), and
    holds a posterior with bayescale's metadata. Its draws are not read.
    """
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            posterior = handle.get("posterior")
            if posterior is None or "bayescale" not in posterior.attrs:
                return "holds no bayescale posterior"
    except OSError:
        try:
            size = path.stat().st_size
        except OSError:
            return "cannot be read"
        return f"is damaged or truncated ({size} bytes)"
    return None


def _read_row(
    out: Path, task: SweepTask, *, warn: bool = True, verify: bool = False
) -> dict[str, Any] | None:
    """A finished fit's row, with the task's identity columns; None if it is not finished.

    A row file that cannot be read (cut short, emptied) or a fit whose ``.nc`` is gone is
    not finished: it is redone, with a warning naming the file, rather than blocking the
    sweep. With `verify`, so is a fit whose ``.nc`` cannot be opened (a copy cut short)."""
    path = _row_path(out, task.key)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    problem = ""
    try:
        row = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        row, problem = None, "is damaged (not a complete row)"
    if row is not None and not isinstance(row, dict):
        row, problem = None, "is damaged (not a row)"
    if row is not None and row.get("status") != "error":
        fit_file = out / str(row.get("fit_file", ""))
        if not row.get("fit_file") or not fit_file.is_file():
            row, problem = None, f"is of a fit whose file '{fit_file}' is missing"
        elif verify and (damage := _fit_file_problem(fit_file)) is not None:
            row, problem = None, f"is of a fit whose file '{fit_file}' {damage}"
    if row is None:
        if warn:
            warnings.warn(
                f"sweep: row file '{path}' {problem}; its fit is redone", UserWarning, stacklevel=3
            )
        return None
    # The identity columns are the current task's: the data's labels may have been renamed
    # since (the key holds the values, not the slice's name).
    stale = set(row.pop(_IDENTITY, None) or ())
    identity = task.describe()
    return {**identity, **{k: v for k, v in row.items() if k not in stale and k not in identity}}


def _quantiles(fit_: Any) -> dict[str, float]:
    draws = fit_.draws(list(fit_.law.parameters))
    row = {}
    for name, values in draws.items():
        low, mid, high = np.quantile(values, [0.05, 0.5, 0.95])
        row |= {f"{name}_median": mid, f"{name}_lower_90": low, f"{name}_upper_90": high}
    return row


def _rows_in_file(
    message: str,
    source: str,
    lines: Mapping[int, tuple[int, int]] | Sequence[tuple[int, int]] | None = None,
    positions: Sequence[int] | np.ndarray | None = None,
) -> str:
    """A message about a DataFrame read from a data file, in the file's words.

    The one rewriter of rows into lines, for the sweep's slices and the CLI's tables alike:
    the library reads them as DataFrames, so its messages name ``<DataFrame>`` and each
    row's position (``row 4``); here they name `source` and each row's line in the file.

    Parameters
    ----------
    message : str
        The message (an error's or a warning's).
    source : str
        The data file, as the user gave it.
    lines : mapping or sequence of (int, int), optional
        The first and last line of the file each row was read from, by the row's 0-based
        number in the file (blank lines and quoted values over several lines shift rows
        against lines). Without it, a .csv or .tsv row R is said to be on line R + 1.
    positions : sequence of int, optional
        For a slice of the data: the 0-based row in the file of each of the slice's rows.

    Returns
    -------
    str
        The message with ``<DataFrame>`` as `source` and every row named (``row 6 repeats
        row 3``) with its line, but for one that names its line already.
    """
    from bayescale.data import SUPPORTED_SUFFIXES, _line_words

    text_file = SUPPORTED_SUFFIXES.get(Path(source).suffix.lower()) in ("csv", "tsv")

    def line_of(row: int) -> tuple[int, int] | None:
        if lines is None:
            return None
        if isinstance(lines, Mapping):
            return lines.get(row - 1)
        return lines[row - 1] if 0 < row <= len(lines) else None

    def in_file(match: re.Match[str]) -> str:
        row = int(match.group(1))
        if positions is not None:
            if not 0 < row <= len(positions):
                return match.group(0)
            row = int(positions[row - 1]) + 1
        at = line_of(row)
        if at is not None:
            return f"row {row} ({_line_words(at)} of the file)"
        if lines is not None:
            return f"row {row}"  # a number that is not a row of the file
        # Without the lines read: the header is line 1, so data row R is line R + 1.
        return f"row {row} (line {row + 1} of the file)" if text_file else f"row {row}"

    message = re.sub(r"\brow (\d+)\b(?! \()", in_file, message)
    return message.replace(_FRAME, source)


def _in_data_file(
    message: str,
    source: str,
    positions: np.ndarray,
    lines: Mapping[int, tuple[int, int]] | None = None,
) -> str:
    """A data error of a slice's runs, pointed at the data file's row.

    load_runs reads the slice as a DataFrame, so it names ``<DataFrame>`` and the row's
    position within the slice; ``positions`` maps those to the rows of the data (the rows
    of its file, numbered as :func:`bayescale.load_runs` numbers them)."""
    if _FRAME not in message:
        return message
    return _rows_in_file(message, source, lines, positions).replace(
        " in total)", " in this fit's runs)"
    )


def run_task(task: SweepTask, out: str | os.PathLike[str]) -> dict[str, Any]:
    """Fit one task (unless its row exists), save the fit and its row; return the row.

    Parameters
    ----------
    task : SweepTask
        The fit.
    out : str or PathLike
        The sweep's output folder.

    Returns
    -------
    dict
        The row: the task's identity, ``status`` (one of ``ok``, ``diagnostics failed``,
        ``error``), ``error``, ``n_fit``, ``n_heldout``, ``seconds``, ``r_hat_max``,
        ``ess_bulk_min``, ``divergences``, held-out scores (``elpd_per_run``,
        ``coverage_50``/``80``/``90``, ``mare``, ``r2``) for a cut, parameter quantiles
        and ``fit_file``.
    """
    from bayescale.comparison import score
    from bayescale.data import load_runs
    from bayescale.fitting import fit as fit_law

    out = Path(out)
    done = _read_row(out, task, warn=False)
    if done is not None:
        return done
    row: dict[str, Any] = {**task.describe(), "status": "error", "error": ""}
    start = time.perf_counter()
    positions = task.frame.index.to_numpy()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs = load_runs(
                task.frame.reset_index(drop=True),
                x=dict(task.x),
                y=task.response,
                compute_factor=task.compute_factor,
            )
        # Its warnings (duplicated runs, ...) name the file's rows, as its errors do.
        for w in caught:
            text = _in_data_file(str(w.message), task.data_source, positions, task.lines)
            warnings.warn_explicit(text, w.category, w.filename, w.lineno, module=__name__)
        compute = runs.x("C") if "C" in runs.inputs else runs.x(runs.inputs[0])
        train, test = runs, None
        if task.holdout is not None:
            cut = float(np.quantile(compute, task.holdout))
            below = compute <= cut
            if below.all() or not below.any():
                raise DataError(
                    f"the cut at the {task.holdout:g} compute quantile leaves no runs on one "
                    f"side ({len(compute)} runs); choose quantiles further inside (0, 1) or "
                    f"give this slice more runs"
                )
            train, test = runs.subset(below), runs.subset(~below)
            positions = positions[below]
        law = task.law if task.fitted_law is None else task.fitted_law
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the row records the diagnostics instead
            fitted = fit_law(train, law, sampler=dict(task.sampler), discrepancy=task.discrepancy)
            scores = {} if test is None else score(fitted, test)
        table = fitted.diagnostics.table
        fit_file = out / "fits" / f"{task.key}.nc"
        fitted.save(fit_file, overwrite=True)
        row |= {
            "status": "ok" if fitted.ok else "diagnostics failed",
            "n_fit": len(train.y),
            "n_heldout": 0 if test is None else len(test.y),
            "r_hat_max": float(table["r_hat"].max()),
            "ess_bulk_min": float(table["ess_bulk"].min()),
            "divergences": int(fitted.diagnostics.divergences),
            **{k: float(v) for k, v in scores.items() if k != "n_test"},
            **_quantiles(fitted),
            "fit_file": str(fit_file.relative_to(out)),
        }
        if not fitted.ok:
            row["error"] = fitted.diagnostics.verdict()
    except Exception as err:  # one failed fit must not stop a sweep of thousands
        message = str(err)
        if isinstance(err, DataError):
            message = _in_data_file(message, task.data_source, positions, task.lines)
        row["error"] = f"{type(err).__name__}: {message}"
        if not isinstance(err, DataError):
            row["traceback"] = traceback.format_exc(limit=5)
    row["seconds"] = time.perf_counter() - start
    saved = {**row, _IDENTITY: list(task.describe())}
    _files.write_text(_row_path(out, task.key), json.dumps(saved, default=float), overwrite=True)
    return row


def run_chunk(tasks: Sequence[SweepTask], out: str) -> list[dict[str, Any]]:
    """Run tasks one after another: a Dask worker's unit of work.

    Parameters
    ----------
    tasks : sequence of SweepTask
        Fits of one law.
    out : str
        The sweep's output folder.

    Returns
    -------
    list of dict
        Their rows (see :func:`run_task`); finished fits are read, not redone.
    """
    import dask

    # Inside a Dask worker xarray would take a cluster-wide lock named after the in-memory
    # NetCDF buffer when a fit is saved, and fail; a fit is written by one process anyway.
    with dask.config.set(scheduler="synchronous"):
        return [run_task(task, out) for task in tasks]


def _chunks(tasks: Sequence[SweepTask], workers: int) -> list[list[SweepTask]]:
    """Split each law's tasks into about 8 chunks per worker, in law order.

    A worker compiles a law once whatever the chunk size (the compiled model is cached in
    its process), and tasks go out in law order, so a worker mostly runs one law after
    another; small chunks keep the workers equally busy to the end, and a lost chunk costs
    little."""
    by_law: dict[str, list[SweepTask]] = {}
    for task in tasks:
        by_law.setdefault(task.law, []).append(task)
    chunks = []
    for group in by_law.values():
        size = max(1, math.ceil(len(group) / max(1, 8 * workers)))
        chunks += [group[i : i + size] for i in range(0, len(group), size)]
    return chunks


def _results(out: Path, tasks: Sequence[SweepTask]) -> pd.DataFrame:
    rows = [row for task in tasks if (row := _read_row(out, task, warn=False)) is not None]
    table = pd.DataFrame(rows)
    if len(table):
        _files.write_text(out / "results.csv", table.to_csv(index=False), overwrite=True)
    return table


def _local_client(workers: int, scratch: str | None = None) -> Any:
    import dask
    from distributed import Client, LocalCluster

    # Dask's scratch space (its lock files stayed in the system's temporary folder) in a
    # folder of the sweep's own, removed when the cluster is closed.
    with dask.config.set({"temporary-directory": scratch} if scratch else {}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
            local_directory=scratch,
            # Set up in each worker as it starts (a worker started again too).
            plugins=(_local_worker_plugin(scratch),),
        )
    return Client(cluster)


def _local_worker_class() -> type:
    """The Dask worker plugin that sets a local cluster's worker up for a sweep.

    - Ctrl-C (SIGINT) is ignored. Ctrl-C in a terminal reaches every process of its group,
      the workers too: each would die of it on its own, printing its traceback over the
      sweep's last line. The sweep's own process gets it as well, and shuts them down.
    - Dask's loggers are silenced (but for CRITICAL): stopped midway, a worker reports the
      work it drops and the scheduler it loses; the sweep's process says what matters.
    - Temporary files go into the sweep's scratch folder, which the sweep removes once its
      cluster is closed: a worker stopped in a fit (killed, once its close times out) runs
      no clean-up of its own.

    Made on first use (Dask is imported only when a sweep runs on it) and kept as a name of
    this module, from which a worker process unpickles it (see :func:`__getattr__`).
    """
    made = globals().get("_LocalWorker")
    if made is not None:
        return made
    from distributed import WorkerPlugin

    class _LocalWorker(WorkerPlugin):
        name = "bayescale-local-worker"

        def __init__(self, scratch: str | None = None) -> None:
            self.scratch = scratch

        def setup(self, worker: Any) -> None:
            # A worker's event loop, which sets its plugins up, runs in its main thread.
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            _set_levels(_dask_loggers(), logging.CRITICAL)
            if self.scratch is not None and os.path.isdir(self.scratch):
                folder = tempfile.mkdtemp(prefix="worker-", dir=self.scratch)
                tempfile.tempdir = folder
                os.environ["TMPDIR"] = folder  # and for the programs it runs

    _LocalWorker.__module__ = __name__
    _LocalWorker.__qualname__ = "_LocalWorker"
    globals()["_LocalWorker"] = _LocalWorker
    return _LocalWorker


def _local_worker_plugin(scratch: str | None) -> Any:
    """The plugin of :func:`_local_worker_class`, with the sweep's scratch folder."""
    return _local_worker_class()(scratch)


def __getattr__(name: str) -> Any:
    """The module's names made on first use: the Dask worker plugin, for its unpickling.

    Parameters
    ----------
    name : str
        The name.

    Returns
    -------
    Any
        Its value.

    Raises
    ------
    AttributeError
        For a name the module has not.
    """
    if name == "_LocalWorker":
        return _local_worker_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The loggers a local cluster's shutdown writes to after an interruption: its nannies and
#: scheduler report the workers they stop and the work they drop, its event loop the tasks
#: it cancels. The sweep has said what matters (how many fits are kept).
_DASK_LOGGERS = ("distributed", "tornado", "asyncio")


def _dask_loggers() -> list[logging.Logger]:
    """Dask's loggers (and those of its event loop), their children included."""
    names = [
        name
        for name in [*_DASK_LOGGERS, *list(logging.Logger.manager.loggerDict)]
        if any(name == root or name.startswith(f"{root}.") for root in _DASK_LOGGERS)
    ]
    return [logging.getLogger(name) for name in dict.fromkeys(names)]


def _set_levels(loggers: Sequence[logging.Logger], level: int) -> list[int]:
    """Set the loggers' level (whatever their own was); return their levels before."""
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    return before


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Silence Dask's loggers in the block (see :func:`_dask_loggers`)."""
    loggers = _dask_loggers()
    levels = _set_levels(loggers, logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _close_own(client: Any, scratch: str | None) -> None:
    """Close a client and the cluster it made, then remove the cluster's scratch folder."""
    cluster = getattr(client, "cluster", None)
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the sweep is, as Ctrl-C raises KeyboardInterrupt."""


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`_Terminated` in the block: it stops a sweep as Ctrl-C does.

    By default SIGTERM ends the process on the spot, which leaves a local cluster's scratch
    folder (and its semaphores) behind. Only in the main thread (the one Python runs signal
    handlers in), and only over the default handler: a program's own handler is left as it
    is. A second SIGTERM, during the shutdown, ends the process as usual.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise _Terminated

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _connect(scheduler: str) -> Any:
    """A client of the scheduler at `scheduler`, or a one-line error."""
    from distributed import Client

    try:
        return Client(scheduler)
    except (OSError, ValueError, TimeoutError) as err:
        raise BayescaleError(
            f"cannot connect to the Dask scheduler at {scheduler!r}: "
            f"{' '.join(str(err).split())}; check the address (tcp://host:8786) and that "
            f"'dask scheduler' runs there, or run on this machine without a scheduler"
        ) from None


class SweepInterrupted(KeyboardInterrupt):
    """A sweep was interrupted (Ctrl-C, or SIGTERM); the fits finished so far are kept.

    Parameters
    ----------
    finished : int
        Fits of the sweep finished (their rows are in ``out/rows``), this run's and earlier.
    total : int
        Fits of the sweep.
    out : Path
        The output folder.
    signum : int, default signal.SIGINT
        The signal that stopped it: ``SIGINT`` (Ctrl-C) or ``SIGTERM``.
    """

    def __init__(self, finished: int, total: int, out: Path, signum: int = signal.SIGINT) -> None:
        super().__init__(f"{finished} of {total} fits finished")
        self.finished = finished
        self.total = total
        self.out = out
        self.signum = int(signum)


#: The version of an output folder's record of its spec (``sweep.json``). The first, without
#: a version, named the spec by its file's path alone.
_RECORD_VERSION = 2
#: What ``overwrite=True`` (``--force``) does to a folder that holds something else.
FORCE_DOES = (
    "make it this spec's sweep (results.csv and sweep.json are replaced; other files and the "
    "fits in rows/ and fits/ are kept, those this spec makes reused)"
)


def _relative(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> str:
    """`path` relative to the folder `out` (absolute if it cannot be: another drive)."""
    try:
        return os.path.relpath(Path(path).resolve(), Path(out).resolve())
    except ValueError:
        return str(Path(path).resolve())


def _spec_label(spec: SweepSpec, out: str | os.PathLike[str]) -> str:
    """Where a spec came from, as the folder records it: its file, relative to the folder.

    Relative, so that a project moved or mounted elsewhere, the spec and its output folder
    together, keeps its record. (The first record identified the spec by this alone.)"""
    if spec.source == _FRAME:
        return spec.source
    return _relative(spec.source, out)


def _spec_content(spec: SweepSpec, out: str | os.PathLike[str]) -> dict[str, Any]:
    """What identifies a sweep: its spec's content, normalised (see :func:`spec_identity`)."""
    from bayescale.settings import SamplerSettings

    if spec.data_source == _FRAME:
        used = list(dict.fromkeys([*spec.x.values(), *spec.y, *spec.split_by]))
        data = {"frame": _fingerprint(spec.data[used])}
    else:
        data = {"file": _relative(spec.data_source, out)}
    content = {
        "data": data,
        "x": dict(sorted(spec.x.items())),
        "y": sorted(spec.y),
        "split_by": sorted(spec.split_by),
        "laws": sorted(spec.laws),
        "holdout": sorted(float(q) for q in spec.holdout),
        "full": bool(spec.full),
        "sampler": SamplerSettings.of(dict(spec.sampler)).to_dict(),
        "discrepancy": spec.discrepancy,
        "compute_factor": float(spec.compute_factor),
    }
    # In JSON's types, as sweep.json holds it: a record read back compares equal.
    return json.loads(json.dumps(content, default=str))


def spec_identity(spec: SweepSpec, out: str | os.PathLike[str]) -> str:
    """What identifies a spec's sweep in an output folder: a hash of the spec's content.

    The content is what decides the sweep's fits and its table, normalised (the order of a
    list does not count; sampler settings count with their defaults): the data, the input
    mapping, the responses, the slicing columns, the laws as written (catalog names, law
    files' paths, formulas), the cuts, the sampler settings, the discrepancy and the compute
    factor. The data count as their file, relative to the folder, or, for data given as a
    DataFrame (no file), as a hash of the columns the spec uses.

    The spec file's path does not count: a spec file renamed, or moved with its data and
    its output folder, keeps its sweep, and an edited one (a law removed) makes another. Nor
    does the content of the files it names: a data file's rows or a law file's priors may be
    edited (a bad value fixed), and a rerun redoes the fits they change.

    Parameters
    ----------
    spec : SweepSpec
        The spec.
    out : str or PathLike
        The output folder.

    Returns
    -------
    str
        Twenty hexadecimal digits, recorded in ``out/sweep.json``.
    """
    return _fingerprint(_spec_content(spec, out))


def _read_record(out: Path) -> dict[str, Any] | str | None:
    """``out/sweep.json``: the record, None if there is none, or what is wrong with it."""
    try:
        text = (out / SPEC_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        return f"cannot be read ({getattr(err, 'strerror', None) or err})"
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("spec"), str):
        return "is damaged (not a sweep's record)"
    return record


def recorded_spec(out: str | os.PathLike[str]) -> str | None:
    """Where the spec of an output folder's sweep came from, as ``out/sweep.json`` says.

    Parameters
    ----------
    out : str or PathLike
        The output folder.

    Returns
    -------
    str or None
        The spec's file relative to ``out`` (or its ``source`` if it was not read from a
        file), or None if the folder records none (it is new, or not a sweep's folder, or
        the file is damaged). What identifies the sweep is :func:`spec_identity`.
    """
    record = _read_record(Path(out))
    return record["spec"] if isinstance(record, dict) else None


def _shown(value: Any, key: str = "") -> str:
    """A value of a spec's content, short, for a message."""
    if key == "data" and isinstance(value, dict):
        if "file" in value:
            return f"file '{value['file']}'"
        if "frame" in value:
            return f"a DataFrame (content {str(value['frame'])[:8]})"
    if value is None:
        return "none"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _differences(there: Mapping[str, Any], here: Mapping[str, Any]) -> str:
    """What differs between two specs' contents, in words."""
    parts = []
    for key in dict.fromkeys([*here, *there]):
        old, new = there.get(key), here.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key != "data":
            parts += [
                f"{key}.{name} {_shown(old.get(name))} there, {_shown(new.get(name))} here"
                for name in dict.fromkeys([*new, *old])
                if old.get(name) != new.get(name)
            ]
        else:
            parts.append(f"{key} {_shown(old, key)} there, {_shown(new, key)} here")
    return "; ".join(parts)


def _listed(names: Sequence[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _held_files(out: Path) -> list[str]:
    """What a folder holds, but for the empty ``rows/`` and ``fits/`` a sweep starts with.

    A folder that cannot be listed holds nothing known here: writing into it fails, and
    says why, before any fit."""
    held = []
    try:
        paths = list(out.iterdir())
    except OSError:
        return []
    for path in paths:
        try:
            is_dir = path.is_dir()
            if is_dir and path.name in ("rows", "fits") and not any(path.iterdir()):
                continue
        except OSError:
            is_dir = False
        held.append(path.name + ("/" if is_dir else ""))
    # results.csv first: the file a sweep would replace.
    return sorted(held, key=lambda name: (name != "results.csv", name))


def _fits_not_planned(out: Path, spec: SweepSpec) -> list[str]:
    """The fits of ``out/results.csv`` that `spec` does not make (by response, law and cut)."""
    try:
        table = pd.read_csv(
            out / "results.csv",
            usecols=["response", "law", "holdout"],
            dtype=str,
            keep_default_na=False,
        )
    except (OSError, ValueError):
        return []
    cuts = [*([None] if spec.full else []), *map(float, spec.holdout)]
    planned = {(y, law, _cut_label(cut)) for y in spec.y for law in spec.laws for cut in cuts}
    found = set(table.itertuples(index=False, name=None))
    return [", ".join(fit) for fit in sorted(found - planned)]


def folder_conflict(spec: SweepSpec, out: str | os.PathLike[str]) -> str | None:
    """What in an output folder a sweep of `spec` would replace, or None if nothing.

    A sweep writes ``results.csv`` and ``sweep.json`` at the top of its folder. It may do
    so without being told (``overwrite=True``, ``--force``) into a folder that is missing,
    empty, or holds the sweep of the same spec (see :func:`spec_identity`), to resume it.
    A folder written by an earlier version of bayescale (whose ``sweep.json`` names the spec
    file alone) is the same spec's if it names the same file and its ``results.csv`` has
    no fit that the spec does not make.

    Parameters
    ----------
    spec : SweepSpec
        The spec.
    out : str or PathLike
        The output folder.

    Returns
    -------
    str or None
        What is in the way, beginning with the folder's name ("'out' holds the sweep of
        another spec: ..."), for a message that adds the remedy; None if nothing is.
    """
    out = Path(out)
    if not out.is_dir():
        return None
    record = _read_record(out)
    if isinstance(record, str):
        return (
            f"'{out}' has a {SPEC_FILE} that {record}, so the spec of its sweep is unknown; "
            f"its results.csv would be replaced"
        )
    if record is None:
        held = _held_files(out)
        if not held:
            return None
        replaced = ", replacing its results.csv" if "results.csv" in held else ""
        return (
            f"'{out}' is not a sweep's folder (it has no {SPEC_FILE}) and holds "
            f"{_listed(held)}: the sweep would write results.csv, {SPEC_FILE}, rows/ and fits/ "
            f"there{replaced}"
        )
    label = _spec_label(spec, out)
    if "identity" not in record:  # recorded by an earlier version: the spec file's path
        if record["spec"] != label:
            return (
                f"'{out}' holds the sweep of another spec: '{record['spec']}' (this spec is "
                f"'{label}'); its results.csv would be replaced"
            )
        extra = _fits_not_planned(out, spec)
        if not extra:
            return None
        return (
            f"'{out}' holds the sweep of another spec: '{record['spec']}' as an earlier "
            f"version of bayescale recorded it (by its file alone), and its results.csv has "
            f"fits this spec does not make ({_listed(extra, 3)}): the spec has changed "
            f"since; its results.csv would be replaced"
        )
    if record["identity"] == spec_identity(spec, out):
        return None
    there = record.get("content")
    differences = _differences(there, _spec_content(spec, out)) if isinstance(there, dict) else ""
    if record["spec"] != label:
        named = f": '{record['spec']}', not '{label}'"
    elif label == _FRAME:
        named = ", built in Python"
    else:
        named = f": '{label}' as it was before an edit"
    return (
        f"'{out}' holds the sweep of another spec{named}"
        + (f" ({differences})" if differences else "")
        + "; its results.csv would be replaced"
    )


def _check_out(out: Path, spec: SweepSpec, overwrite: bool) -> None:
    """Check the output folder before anything is made or changed in it."""
    if out.exists() and not out.is_dir():
        raise BayescaleError(f"output folder '{out}' is a file; give a folder")
    conflict = None if overwrite else folder_conflict(spec, out)
    if conflict is not None:
        raise OutputExistsError(
            f"{conflict}; use another output folder, or overwrite=True to {FORCE_DOES}",
            path=out,
        )


def _prepare(out: Path, spec: SweepSpec, overwrite: bool) -> None:
    """Check the output folder and make it this spec's, before any fit."""
    _check_out(out, spec, overwrite)
    try:
        (out / "rows").mkdir(parents=True, exist_ok=True)
        (out / "fits").mkdir(exist_ok=True)
    except OSError as err:
        raise BayescaleError(
            f"cannot create the output folder '{out}': {err.strerror or err}; choose a folder "
            f"you can write to"
        ) from None
    # Every fit writes into rows/ and fits/: a folder that refuses it would fail each fit
    # (and on Dask each retry), so try once now.
    for probe in (out / "rows" / "probe.json", out / "fits" / "probe.nc", out / SPEC_FILE):
        _files.check_destination(probe, overwrite=True)
    record = {
        "version": _RECORD_VERSION,
        "spec": _spec_label(spec, out),
        "identity": spec_identity(spec, out),
        "content": _spec_content(spec, out),
    }
    # Written when it changes: a new folder, --force, a record of an earlier version.
    if _read_record(out) != record:
        _files.write_text(out / SPEC_FILE, json.dumps(record, indent=1), overwrite=True)


def sweep(
    spec: SweepSpec | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    retry_failed: bool = False,
    overwrite: bool = False,
    on_row: Callable[[dict[str, Any], int, int], None] | None = None,
) -> pd.DataFrame:
    """Run every fit of a sweep that is not finished yet; return the table of all.

    Parameters
    ----------
    spec : SweepSpec, str or PathLike
        The sweep, or the path of its TOML spec (see :func:`load_spec`).
    out : str or PathLike
        Output folder (created if missing). A rerun with the same folder skips finished fits.
    workers : int, optional
        Processes of the local Dask cluster; default: the machine's cores. 0 runs the fits
        one after another in this process, without Dask.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) instead of a local cluster.
    client : distributed.Client, optional
        A connected Dask client instead of a local cluster.
    retry_failed : bool, default False
        Redo the fits whose row says ``error`` (e.g. after fixing the data).
    overwrite : bool, default False
        Run even if `out` holds the sweep of another spec (see :func:`spec_identity`: a
        spec edited since counts as another), or is not a sweep's folder but holds files:
        the folder becomes this spec's sweep. Its ``results.csv`` and ``sweep.json`` are
        replaced; its other files, and the fits already in ``rows/`` and ``fits/``, are
        kept, and those this spec makes are reused. Without it, such a folder is refused
        before anything is written (see :func:`folder_conflict`).
    on_row : callable, optional
        Called with ``(row, finished, total)`` as each fit finishes (progress bars).

    Returns
    -------
    pandas.DataFrame
        One row per fit (see :func:`run_task`), also written to ``out/results.csv``.
        ``attrs["fitted"]`` lists the keys of the fits run by this call (the others were
        finished by an earlier one).

    Raises
    ------
    DataError
        If the spec is not valid (checked before the folder is made), or more than one of
        `workers`, `scheduler` and `client` is given.
    OutputExistsError
        If `out` holds the sweep of another spec, or files but no sweep, and `overwrite`
        is False.
    BayescaleError
        If `out` cannot be written, or the scheduler cannot be reached (before the folder
        is made, when there are fits to run).
    SweepInterrupted
        On Ctrl-C (a ``KeyboardInterrupt``), or on SIGTERM when the sweep runs in the main
        thread and SIGTERM has its default handler: a local cluster is shut down and its
        scratch folder removed, the finished fits are kept, and a rerun resumes.

    Warns
    -----
    UserWarning
        For a row file that is damaged, or whose fit's ``.nc`` is missing or cannot be
        opened (cut short): its fit is redone.
    """
    if not isinstance(spec, SweepSpec | str | os.PathLike):
        raise DataError(_not_a_spec(spec))
    if not isinstance(out, str | os.PathLike):
        raise DataError(
            f"out must be the path of the output folder (str or pathlib.Path), e.g. "
            f"'my-sweep'; got {type(out).__name__}"
        )
    _check_workers(workers, scheduler, client)
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    if not os.fspath(out).strip():
        raise BayescaleError("the output folder is empty text; give a folder, e.g. 'my-sweep'")
    out = Path(out)
    tasks = plan_sweep(spec)
    _check_out(out, spec, overwrite)
    done: dict[str, dict[str, Any]] = {}
    redo: list[Path] = []
    for task in tasks:
        row = _read_row(out, task, verify=True)
        if row is None and _row_path(out, task.key).exists():
            redo.append(_row_path(out, task.key))  # damaged, or its fit file is
        elif row is not None and retry_failed and row.get("status") == "error":
            redo.append(_row_path(out, task.key))
        elif row is not None:
            done[task.key] = row
    todo = [t for t in tasks if t.key not in done]
    # The scheduler is reached before the folder is made: an address that does not answer
    # leaves nothing behind.
    connected = _connect(scheduler) if todo and scheduler and client is None else None
    try:
        _prepare(out, spec, overwrite)
        for path in redo:
            path.unlink(missing_ok=True)
        return _run(spec, tasks, todo, done, out, workers, client or connected, on_row)
    finally:
        if connected is not None:
            connected.close()


def _check_workers(workers: int | None, scheduler: str | None, client: Any) -> None:
    """Refuse local workers beside a cluster, and two clusters: one of them would be ignored."""
    given = [
        name
        for name, value in (("workers", workers), ("scheduler", scheduler), ("client", client))
        if value is not None
    ]
    if len(given) > 1:
        raise DataError(
            f"{' and '.join(given)} are given: the fits run on local workers (workers=), on a "
            f"running Dask scheduler (scheduler=) or through a connected client (client=); "
            f"give one of them"
        )
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 0
    ):
        raise DataError(f"workers must be a whole number >= 0, got {workers!r}")


def _run(
    spec: SweepSpec,
    tasks: list[SweepTask],
    todo: list[SweepTask],
    done: dict[str, dict[str, Any]],
    out: Path,
    workers: int | None,
    client: Any,
    on_row: Callable[[dict[str, Any], int, int], None] | None,
) -> pd.DataFrame:
    """Run the fits to do (:func:`sweep` once its folder is ready) and tabulate them all.

    Ctrl-C, and SIGTERM (see :func:`_terminate_as_interrupt`), stop it as
    :class:`SweepInterrupted`, once the fits in flight are dropped and a local cluster is
    shut down."""
    finished = len(done)
    with _terminate_as_interrupt():
        try:
            if on_row:
                for task in tasks:
                    if task.key in done:
                        on_row(done[task.key], finished, len(tasks))
            if todo:
                if workers == 0 and client is None:
                    for task in todo:
                        row = run_task(task, out)
                        finished += 1
                        if on_row:
                            on_row(row, finished, len(tasks))
                else:
                    _on_dask(todo, out, workers, None, client, on_row, finished, len(tasks))
            table = _results(out, tasks)
        except KeyboardInterrupt as stop:
            kept = sum(_row_path(out, t.key).exists() for t in tasks)
            signum = signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT
            raise SweepInterrupted(kept, len(tasks), out, signum) from None
    table.attrs["fitted"] = [t.key for t in todo]
    return table


def _not_a_spec(spec: object) -> str:
    """What :func:`sweep` takes, for a spec of another type (a dict of the TOML's tables)."""
    given = type(spec).__name__
    hint = ""
    if isinstance(spec, Mapping):
        keys = {str(k) for k in spec}
        own = {f.name for f in fields(SweepSpec)}
        # In the spec file [data] and [holdout] are tables; in a SweepSpec, a frame and cuts.
        tables = any(isinstance(spec.get(k), Mapping) for k in ("data", "holdout"))
        if keys and keys <= own and not tables:
            hint = "; its keys are SweepSpec's: pass SweepSpec(**spec)"
        else:
            hint = (
                "; a dict laid out like the spec file ([data], laws, [holdout], [sampler]) must "
                "be written as TOML and its path given, or built as SweepSpec(data=<DataFrame>, "
                "x={'N': 'params', 'D': 'tokens'}, y=['loss'], laws=['chinchilla'])"
            )
    return (
        f"sweep takes a SweepSpec or the path of a TOML spec file (see "
        f"bayescale.sweeps.load_spec); got {given}{hint}"
    )


def _on_dask(
    todo: Sequence[SweepTask],
    out: Path,
    workers: int | None,
    scheduler: str | None,
    client: Any,
    on_row: Callable[[dict[str, Any], int, int], None] | None,
    finished: int,
    total: int,
) -> int:
    from distributed import as_completed

    own = client is None
    scratch = None
    if own:
        if scheduler:
            client = _connect(scheduler)
        else:
            scratch = tempfile.mkdtemp(prefix="bayescale-dask-")
            try:
                client = _local_client(workers or os.cpu_count() or 1, scratch)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
    stopped = True
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        futures = [
            client.submit(run_chunk, chunk, str(out), pure=False, retries=3)
            for chunk in _chunks(todo, n_workers)
        ]
        for future in as_completed(futures):
            for row in future.result():
                finished += 1
                if on_row:
                    on_row(row, finished, total)
        stopped = False
    finally:
        if own:
            # Stopped midway (Ctrl-C, SIGTERM, an error), the cluster's shutdown would report
            # every worker and task it drops: the caller says what matters.
            with _quiet_dask() if stopped else nullcontext():
                _close_own(client, scratch)
    return finished
