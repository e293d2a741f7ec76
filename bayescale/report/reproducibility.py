"""The reproducibility section: what made the fit and the report, and how to redo both.

The library never speaks of command-line flags: a fit made by the command line records its
command (``fit.info["command"]``), which is shown as it was typed; a fit made from Python is
shown as the Python call that redoes it, built from what the fit saved (its runs' source and
columns, its law, seed and sampler settings).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bayescale._format import clean_exponent
from bayescale.fitting import Fit, package_versions
from bayescale.report.numbers import Num

#: Packages whose versions the report records next to the fit's.
REPORT_PACKAGES = ("bayescale", "arviz", "matplotlib", "jinja2", "numpy", "pandas")
#: Arguments of :func:`bayescale.fit` that the fit's settings record.
_FIT_ARGUMENTS = ("draws", "tune", "chains", "target_accept", "prior_draws", "discrepancy")


def when(stamp: str) -> str:
    """An ISO time stamp as ``2026-11-23 10:46 UTC`` (as given if it is not one)."""
    try:
        moment = _dt.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _literal(value: Any) -> str:
    """A Python literal of a value; floats as short as they can be and still exact."""
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, float):
        shortest = next(t for p in range(1, 18) if float(t := f"{value:.{p}g}") == value)
        return clean_exponent(shortest)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)  # double quotes, as the README writes Python
    return repr(value)


class _Code(str):
    """Python code written into a call as it is (a variable's name), not as a string."""


def _call(function: str, *args: Any, **kwargs: Any) -> str:
    """``function(arg, key=value, ...)`` with literals; arguments given as :class:`_Code` stay."""
    parts = [a if isinstance(a, _Code) else _literal(a) for a in args]
    parts += [f"{k}={_literal(v)}" for k, v in kwargs.items() if v is not None]
    return f"{function}({', '.join(parts)})"


def _fit_in_python(fit: Fit, in_catalog: bool, fit_file: str) -> tuple[list[str], list[str]]:
    """The Python lines that redo a fit made from Python, and what they assume."""
    runs, notes = fit.runs, []
    source = runs.source
    if not source or not Path(source).is_file():
        given = f" ({source})" if source else ""
        notes.append(
            f"The runs were given from Python{given}; the lines read them from runs.csv: "
            f"write the table there first (the data fingerprint checks it is the same)."
        )
        source = "runs.csv"
    if not in_catalog:
        notes.append("Save the law file below as law.toml.")
    columns = {k: v for k, v in runs.columns.items() if not str(v).startswith("derived: ")}
    settings = {k: fit.settings[k] for k in _FIT_ARGUMENTS if k in fit.settings}
    # A fit saved before the discrepancy was the default records none: it was made without.
    settings.setdefault("discrepancy", "none")
    lines = [
        "import bayescale",
        "runs = "
        + _call(
            "bayescale.load_runs",
            source,
            x=columns,
            y=runs.y_name,
            compute_factor=float(runs.compute_factor),
        ),
        "fit = "
        + _call(
            "bayescale.fit",
            _Code("runs"),
            fit.law.name if in_catalog else "law.toml",
            seed=fit.seed,
            **settings,
        ),
        _call("fit.save", fit_file),
    ]
    return lines, notes


def _report_in_python(request: Mapping[str, Any], fit_file: str) -> list[str]:
    """The Python lines that redo a report made from Python."""
    options = {k: v for k, v in request.items() if v is not None}
    fit = _Code(f"bayescale.load_fit({_literal(fit_file)})")
    return [
        "import bayescale.report",
        _call("bayescale.report.write_report", fit, "report.html", **options),
    ]


def reproduce(
    fit: Fit,
    in_catalog: bool,
    fit_path: Path | None,
    command: str | None,
    request: Mapping[str, Any],
) -> tuple[list[str], list[str]]:
    """What redoes the fit and this report: the commands that made them, or Python calls.

    Parameters
    ----------
    fit : Fit
        The fit.
    in_catalog : bool
        Whether the fit's law is the catalog's, unchanged (else it is saved as law.toml).
    fit_path : Path, optional
        The fit's file.
    command : str, optional
        The command that made the report.
    request : mapping
        The report's options (``at``, ``target_loss``, ``compute``, ``level``,
        ``comparison``, ``downstream``), for the Python call when no command is given.

    Returns
    -------
    tuple of (list of str, list of str)
        The lines, and notes on what they assume.
    """
    fit_file = fit_path.name if fit_path is not None else "fit.nc"
    recorded = fit.info.get("command", "")
    if recorded:
        lines, notes = [recorded], []
        if "discrepancy" not in fit.settings and "--discrepancy" not in recorded:
            notes.append(
                "This fit was made before the discrepancy was on by default: add "
                "--discrepancy none to the fit's command to redo it as it was."
            )
    else:
        lines, notes = _fit_in_python(fit, in_catalog, fit_file)
    lines += [command] if command else _report_in_python(request, fit_file)
    if not command and request.get("downstream"):
        notes.append(
            "Each downstream link is read from the file named in downstream= (a link given "
            "as a fit: save it there first, with link_fit.save)."
        )
    notes.append(
        "The same data, law, seed and sampler settings with the same versions give the same "
        "draws, hence the same numbers."
    )
    return lines, notes


def reproducibility_section(
    fit: Fit,
    fit_path: Path | None,
    command: str | None,
    created: str,
    request: Mapping[str, Any],
) -> dict[str, Any]:
    """Data fingerprint, law, seed, settings, versions, files and how to redo it all."""
    from bayescale.laws import catalog

    law = fit.law
    catalog_file = catalog().get(law.name)
    in_catalog = bool(
        catalog_file is not None
        and law.source_text
        and catalog_file.read_text(encoding="utf-8") == law.source_text
    )
    lines, notes = reproduce(fit, in_catalog, fit_path, command, request)
    return {
        "reproduce": lines,
        "reproduce_notes": notes,
        "fingerprint": fit.info.get("data_fingerprint", ""),
        "fingerprint_matches": fit.runs.fingerprint() == fit.info.get("data_fingerprint"),
        "source": fit.runs.source,
        "columns": dict(fit.runs.columns),
        "law_name": law.name,
        "law_in_catalog": in_catalog,
        "law_sha256": hashlib.sha256(law.to_json().encode("utf-8")).hexdigest(),
        "law_text": law.source_text or law.to_json(),
        "seed": Num(fit.seed, "repro.seed", "int"),
        "settings": dict(fit.settings),
        "fit_versions": dict(fit.info.get("versions", {})),
        "report_versions": package_versions(REPORT_PACKAGES),
        "fit_created": when(fit.info.get("created", "")),
        "fit_command": fit.info.get("command", ""),
        "fit_file": None if fit_path is None else str(fit_path),
        "fit_sha256": None if fit_path is None or not fit_path.is_file() else _sha256(fit_path),
        "report_command": command or "",
        "report_created": when(created),
    }
