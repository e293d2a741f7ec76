"""Sweeps: many fits from one spec, on this machine's processes or a Dask cluster.

A sweep is the product of data slices (response columns x values of slicing columns),
laws and hold-out cuts; each element is one :func:`bayescale.fit`. The result is one tidy
table (a row per fit: its slice, law, cut, diagnostics, held-out scores and parameter
quantiles) plus each fit's ``.nc``, in an output folder:

- ``fits/<key>.nc``: the fit, reloadable with :func:`bayescale.load_fit`;
- ``rows/<key>.json``: its row, written last, atomically: a fit is finished exactly when its
  row exists, so an interrupted sweep loses only the fits in flight and a rerun skips the
  rest;
- ``results.csv``: all rows, rewritten at the end of every run.

The key of a fit is a hash of its data (the slice's values), its law (the full law with
priors) and its settings: change any of them and the fit is redone, leave them and it is
kept.

Engine: with ``workers=0`` the fits run one after another in this process. Otherwise they
run on Dask (``dask.distributed``): a ``LocalCluster`` of ``workers`` single-threaded
processes by default, or an existing cluster (``scheduler="tcp://host:8786"`` or a
``Client``). Fits are sent in small chunks of one law each, in law order, so that a worker
compiles a law once (the compiled model is cached per process) and then only swaps the data;
a chunk whose worker dies is rerun elsewhere and skips the fits its predecessor finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale import _files
from bayescale.discrepancy import check_choice
from bayescale.errors import DataError

__all__ = ["SweepSpec", "SweepTask", "load_spec", "plan_sweep", "sweep"]

#: Keys a sweep spec may have, per table.
_SPEC_KEYS = {
    "": {"data", "laws", "holdout", "sampler", "discrepancy"},
    "data": {"path", "x", "y", "split_by", "compute_factor"},
    "holdout": {"quantiles", "full"},
}
#: Status of a row: the fit ran and passed its diagnostics, ran and failed them, or raised.
STATUSES = ("ok", "diagnostics failed", "error")


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep fits.

    Parameters
    ----------
    data : pandas.DataFrame
        The runs, one row each.
    x : mapping of str to str
        Law input -> column (as in :func:`bayescale.load_runs`).
    y : sequence of str
        Response columns: one slice each (e.g. eight validation losses).
    laws : sequence of str
        Catalog names, law-file paths or formulas.
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
        Where the spec came from, for messages.
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
    source: str = "<DataFrame>"

    def __post_init__(self) -> None:
        where = self.source
        if not self.y:
            raise DataError(f"{where}: data.y names no response column; give one or more")
        if not self.laws:
            raise DataError(f"{where}: laws is empty; give one or more law names or formulas")
        missing = [
            c for c in [*self.x.values(), *self.y, *self.split_by] if c not in self.data.columns
        ]
        if missing:
            raise DataError(
                f"{where}: column(s) {', '.join(map(repr, missing))} not in the data "
                f"(it has {', '.join(map(str, self.data.columns))})"
            )
        for q in self.holdout:
            if not (isinstance(q, int | float) and 0 < q < 1):
                raise DataError(f"{where}: holdout.quantiles must be numbers in (0, 1), got {q!r}")
        if not self.holdout and not self.full:
            raise DataError(f"{where}: holdout.full is false and there are no quantiles: no fit")
        check_choice(self.discrepancy, where)


@dataclass(frozen=True)
class SweepTask:
    """One fit of a sweep: a slice, a law and a cut."""

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

    def describe(self) -> dict[str, Any]:
        """The task's identity as table columns."""
        cut = "all runs" if self.holdout is None else f"below {self.holdout:g}"
        return {
            "key": self.key,
            "response": self.response,
            **self.slice,
            "law": self.law,
            "holdout": cut,
        }


def load_spec(path: str | os.PathLike[str]) -> SweepSpec:
    """Read a sweep spec from a TOML file.

    Parameters
    ----------
    path : str or PathLike
        The file. Its ``[data] path`` is read relative to the file's folder.

    Returns
    -------
    SweepSpec
        The spec.

    Raises
    ------
    DataError
        If the file cannot be read or a key or value is not valid (the message names the
        file, the key and what to do).

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
    from bayescale.data import read_table

    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(f"cannot read sweep spec '{path}': {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"sweep spec '{path}' is not valid TOML: {err}") from None
    for table, allowed in _SPEC_KEYS.items():
        entries = spec if not table else spec.get(table, {})
        if not isinstance(entries, dict):
            raise DataError(f"{path}: [{table}] must be a table")
        unknown = sorted(set(entries) - allowed)
        if unknown:
            where = f"[{table}] " if table else ""
            raise DataError(
                f"{path}: unknown key(s) {where}{', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
    data = spec.get("data", {})
    if "path" not in data or "y" not in data:
        raise DataError(f"{path}: [data] needs 'path' (the runs table) and 'y' (its responses)")
    source = (path.parent / data["path"]).resolve()
    y = [data["y"]] if isinstance(data["y"], str) else list(data["y"])
    split_by = data.get("split_by", [])
    split_by = [split_by] if isinstance(split_by, str) else list(split_by)
    laws = spec.get("laws", [])
    laws = [laws] if isinstance(laws, str) else list(laws)
    holdout = spec.get("holdout", {})
    for name, value in (("data.x", data.get("x", {})), ("sampler", spec.get("sampler", {}))):
        if not isinstance(value, dict):
            raise DataError(f"{path}: {name} must be a table, got {value!r}")
    return SweepSpec(
        data=read_table(source)[0],
        x=dict(data.get("x", {})),
        y=y,
        laws=laws,
        split_by=split_by,
        holdout=list(holdout.get("quantiles", [])),
        full=bool(holdout.get("full", True)),
        sampler=dict(spec.get("sampler", {})),
        discrepancy=spec.get("discrepancy", "auto"),
        compute_factor=float(data.get("compute_factor", 6.0)),
        source=str(path),
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
    """
    from bayescale.settings import SamplerSettings

    sampler = SamplerSettings.of(dict(spec.sampler)).to_dict()
    columns = list(dict.fromkeys([*spec.x.values()]))
    if spec.split_by:
        groups = spec.data.groupby(list(spec.split_by), sort=True, dropna=False)
        slices = [
            (dict(zip(spec.split_by, k if isinstance(k, tuple) else (k,), strict=True)), part)
            for k, part in groups
        ]
    else:
        slices = [({}, spec.data)]
    cuts: list[float | None] = [*([None] if spec.full else []), *map(float, spec.holdout)]
    tasks = []
    for law in spec.laws:
        for response in spec.y:
            for where, part in slices:
                frame = part[[*columns, response]].reset_index(drop=True)
                for cut in cuts:
                    key = _fingerprint(
                        frame, law, cut, sampler, spec.discrepancy, spec.compute_factor, spec.x
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
                        )
                    )
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise DataError(
            f"{spec.source}: two fits of the sweep are identical (the same data, law and cut); "
            f"remove the repeated law or response"
        )
    return tasks


def _row_path(out: Path, key: str) -> Path:
    return out / "rows" / f"{key}.json"


def _quantiles(fit_: Any) -> dict[str, float]:
    draws = fit_.draws(list(fit_.law.parameters))
    row = {}
    for name, values in draws.items():
        low, mid, high = np.quantile(values, [0.05, 0.5, 0.95])
        row |= {f"{name}_median": mid, f"{name}_lower_90": low, f"{name}_upper_90": high}
    return row


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
    import warnings

    from bayescale.comparison import score
    from bayescale.data import load_runs
    from bayescale.fitting import fit as fit_law

    out = Path(out)
    done = _row_path(out, task.key)
    if done.exists():
        return json.loads(done.read_text())
    row: dict[str, Any] = {**task.describe(), "status": "error", "error": ""}
    start = time.perf_counter()
    try:
        runs = load_runs(
            task.frame, x=dict(task.x), y=task.response, compute_factor=task.compute_factor
        )
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the row records the diagnostics instead
            fitted = fit_law(
                train, task.law, sampler=dict(task.sampler), discrepancy=task.discrepancy
            )
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
        row["error"] = f"{type(err).__name__}: {err}"
        if not isinstance(err, DataError):
            row["traceback"] = traceback.format_exc(limit=5)
    row["seconds"] = time.perf_counter() - start
    _files.write_text(done, json.dumps(row, default=float), overwrite=True)
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
    rows = []
    for task in tasks:
        path = _row_path(out, task.key)
        if path.exists():
            rows.append(json.loads(path.read_text()))
    table = pd.DataFrame(rows)
    if len(table):
        _files.write_text(out / "results.csv", table.to_csv(index=False), overwrite=True)
    return table


def _local_client(workers: int) -> Any:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    return Client(cluster)


def sweep(
    spec: SweepSpec | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    retry_failed: bool = False,
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
    on_row : callable, optional
        Called with ``(row, finished, total)`` as each fit finishes (progress bars).

    Returns
    -------
    pandas.DataFrame
        One row per fit (see :func:`run_task`), also written to ``out/results.csv``.

    Raises
    ------
    DataError
        If the spec is not valid.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    out = Path(out)
    (out / "rows").mkdir(parents=True, exist_ok=True)
    (out / "fits").mkdir(exist_ok=True)
    tasks = plan_sweep(spec)
    if retry_failed:
        for task in tasks:
            path = _row_path(out, task.key)
            if path.exists() and json.loads(path.read_text()).get("status") == "error":
                path.unlink()
    todo = [t for t in tasks if not _row_path(out, t.key).exists()]
    finished = len(tasks) - len(todo)
    for row in _done_rows(out, tasks, todo):
        if on_row:
            on_row(row, finished, len(tasks))
    if todo:
        if workers == 0 and client is None and scheduler is None:
            for task in todo:
                row = run_task(task, out)
                finished += 1
                if on_row:
                    on_row(row, finished, len(tasks))
        else:
            finished = _on_dask(todo, out, workers, scheduler, client, on_row, finished, len(tasks))
    return _results(out, tasks)


def _done_rows(out: Path, tasks: Sequence[SweepTask], todo: Sequence[SweepTask]) -> Iterator:
    waiting = {t.key for t in todo}
    for task in tasks:
        if task.key not in waiting:
            yield json.loads(_row_path(out, task.key).read_text())


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
    from distributed import Client, as_completed

    own = client is None
    if own:
        client = Client(scheduler) if scheduler else _local_client(workers or os.cpu_count() or 1)
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
    finally:
        if own:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    return finished
