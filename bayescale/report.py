"""The due-diligence report: one self-contained HTML file a reviewer can read, trust and rerun.

:func:`build_context` gathers every number of the report from the library (``Fit.summary``,
``Fit.forecast``, the diagnostics, ``compute_optimal``, ``budget_for``, ``prob_below``, the
comparison tables) into a dict; :func:`render_html` fills the Jinja2 template
``templates/report.html.j2`` with it; :func:`write_report` does both and writes the file (and
optionally a PDF of the same HTML, with WeasyPrint) atomically.

Every number is carried as a :class:`Num`, which renders as
``<span class="num" data-key="..." data-value="..." data-format="...">text</span>``: the exact
value the library returned sits next to its rounded text, so a reader (or a test) can check
each one.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import math
import os
import shlex
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import escape

from bayescale.errors import BayescaleError, DataError, OutputExistsError
from bayescale.fitting import RHAT_MAX, Fit, load_fit, package_versions
from bayescale.forecast import level_label

__all__ = [
    "SECTIONS",
    "Num",
    "build_context",
    "default_targets",
    "format_number",
    "html_to_pdf",
    "load_comparison",
    "prior_sensitivity",
    "render_html",
    "write_report",
]

#: Section ids of the report, in order, with their headings.
SECTIONS = {
    "summary": "Executive summary",
    "data": "Data",
    "law": "Law and priors",
    "diagnostics": "Sampling diagnostics",
    "parameters": "Parameters",
    "fit": "Fit to the runs",
    "forecast": "Forecast",
    "comparison": "Model comparison",
    "plan": "Compute plan",
    "sensitivity": "Prior sensitivity",
    "caveats": "Assumptions and caveats",
    "reproducibility": "Reproducibility",
}

#: Credible levels of the forecast table (the report's own level is added).
FORECAST_LEVELS = (0.5, 0.8, 0.9)
#: Power-scaling sensitivity above this suggests an influential prior or likelihood
#: (Kallioinen et al. 2024, "Detecting and diagnosing prior and likelihood sensitivity").
PSENS_THRESHOLD = 0.05
#: Targets beyond this many times the largest run are flagged as far extrapolations.
FAR_EXTRAPOLATION = 10.0
_REPORT_PACKAGES = ("bayescale", "arviz", "matplotlib", "jinja2", "numpy", "pandas")


# ---------------------------------------------------------------------------------------
# Numbers


def _clean_exponent(text: str) -> str:
    """``1.2e+23`` -> ``1.2e23``, ``3e-05`` -> ``3e-5``."""
    mantissa, sep, exponent = text.partition("e")
    if not sep:
        return text
    return f"{mantissa}e{int(exponent)}"


def format_number(value: float, kind: str = "num", digits: int = 4) -> str:
    """Format a number the way the report shows it.

    Parameters
    ----------
    value : float
        The number.
    kind : {"num", "size", "pct", "percent", "int", "ratio"}
        ``num``: ``digits`` significant digits; ``size``: counts as ML papers write them
        (70B, 1.4T; FLOPs and beyond 1e15 as 5.88e23); ``pct``: a probability in percent
        (below 1% and above 99% as ``<1%`` / ``>99%``); ``percent``: a fraction in percent
        to 3 significant digits (1.08%); ``int``: a whole number; ``ratio``:
        a factor such as ``12x``.
    digits : int, default 4
        Significant digits of ``num``.

    Returns
    -------
    str
        The text shown.
    """
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if kind == "int":
        return f"{round(value):,}"
    if kind == "pct":
        percent = 100 * value
        if 0 < percent < 1:
            return "<1%"
        if 99 < percent < 100:
            return ">99%"
        return f"{percent:.0f}%"
    if kind == "percent":
        return f"{_clean_exponent(f'{100 * value:.3g}')}%"
    if kind == "ratio":
        return f"{_clean_exponent(f'{value:.3g}')}x"
    if kind == "size":
        magnitude = abs(value)
        for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
            if factor <= magnitude < 1e15:
                return f"{_clean_exponent(f'{value / factor:.3g}')}{suffix}"
        return _clean_exponent(f"{value:.3g}")
    text = f"{value:#.{digits}g}".replace(".e", "e").removesuffix(".")
    return _clean_exponent(text)


@dataclass(frozen=True)
class Num:
    """A number of the report: the library's exact value, a key saying what it is, a format.

    Attributes
    ----------
    value : float
        The value as the library returned it.
    key : str
        Where it comes from, e.g. ``forecast.0.law_median`` or ``param.alpha.median``.
    kind : str
        Format (see :func:`format_number`).
    digits : int
        Significant digits of the ``num`` format.
    """

    value: float
    key: str
    kind: str = "num"
    digits: int = 4

    @property
    def text(self) -> str:
        """The number as shown."""
        return format_number(self.value, self.kind, self.digits)

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        return (
            f'<span class="num" data-key="{escape(self.key)}" data-value="{float(self.value)!r}" '
            f'data-format="{self.kind}:{self.digits}">{escape(self.text)}</span>'
        )


def _nums(row: Mapping[str, Any], prefix: str, kinds: Mapping[str, str] | None = None) -> dict:
    """Every numeric entry of a row as a Num keyed ``prefix.column``; others as they are."""
    kinds = kinds or {}
    out: dict[str, Any] = {}
    for column, value in row.items():
        column = str(column)
        if isinstance(value, bool | np.bool_):
            out[column] = bool(value)
        elif isinstance(value, int | float | np.integer | np.floating):
            out[column] = Num(float(value), f"{prefix}.{column}", _kind(column, kinds))
        else:
            out[column] = value
    return out


def _kind(column: str, kinds: Mapping[str, str]) -> str:
    if column in kinds:
        return kinds[column]
    if column.split("_")[0] in ("N", "D", "C", "U"):
        return "size"
    if column in ("n_train", "n_test"):
        return "int"
    if column.startswith(("prob_", "coverage_")):
        return "pct"
    if column == "extrapolation":
        return "ratio"
    return "num"


# ---------------------------------------------------------------------------------------
# Inputs of the report: targets, budgets, comparison


def default_targets(fit: Fit) -> list[dict[str, float]]:
    """One target at 10x the largest value of each of the law's inputs in the runs.

    Parameters
    ----------
    fit : Fit
        The fit.

    Returns
    -------
    list of dict
        ``[{input: 10 * max}]``.
    """
    return [{name: float(10 * fit.runs.x(name).max()) for name in fit.law.inputs}]


def _points(targets: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    names = list(dict.fromkeys(name for t in targets for name in t))
    missing = [i + 1 for i, t in enumerate(targets) if set(t) != set(names)]
    if missing:
        raise DataError(
            f"every target must name the same inputs ({', '.join(names)}); "
            f"target {missing[0]} names {', '.join(targets[missing[0] - 1])}"
        )
    return {name: [float(t[name]) for t in targets] for name in names}


def _has_n_and_d(fit: Fit) -> bool:
    return {"N", "D"} <= set(fit.law.inputs)


def _other_inputs(fit: Fit, targets: Sequence[Mapping[str, float]]) -> dict[str, float] | None:
    """Values of inputs other than N, D and C for compute planning: the first target's."""
    others = [name for name in fit.law.inputs if name not in ("N", "D", "C")]
    if not others:
        return None
    return {name: float(targets[0][name]) for name in others if name in targets[0]}


def _target_compute(fit: Fit, targets: Sequence[Mapping[str, float]]) -> list[float]:
    k = fit.runs.compute_factor
    found = []
    for t in targets:
        if "C" in t:
            found.append(float(t["C"]))
        elif "N" in t and "D" in t:
            found.append(float(k * t["N"] * t["D"]))
    return found


def load_comparison(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read what :meth:`bayescale.Comparison.save` wrote.

    Parameters
    ----------
    folder : str or PathLike
        The folder of ``bayescale compare --out``.

    Returns
    -------
    dict
        ``loo`` (DataFrame, one row per law), ``extrapolation`` (DataFrame or None),
        ``verdict`` (str), ``folder`` (Path) and ``fingerprints`` ({law: data fingerprint}
        of the saved fits).

    Raises
    ------
    BayescaleError
        If the folder or its ``loo.csv`` is missing or unreadable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BayescaleError(f"comparison folder not found: '{folder}' (see 'bayescale compare')")
    loo_file = folder / "loo.csv"
    if not loo_file.is_file():
        raise BayescaleError(
            f"'{folder}' has no loo.csv; give the --out folder of 'bayescale compare'"
        )
    try:
        loo = pd.read_csv(loo_file, index_col=0)
        extrapolation_file = folder / "extrapolation.csv"
        extrapolation = pd.read_csv(extrapolation_file) if extrapolation_file.is_file() else None
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise BayescaleError(f"cannot read the comparison in '{folder}': {err}") from None
    required = {"elpd_loo", "se", "elpd_diff", "dse", "weight"}
    if not required <= set(loo.columns):
        raise BayescaleError(
            f"'{loo_file}' lacks {', '.join(sorted(required - set(loo.columns)))}; "
            f"it was not written by 'bayescale compare'"
        )
    verdict_file = folder / "verdict.txt"
    verdict = verdict_file.read_text(encoding="utf-8").strip() if verdict_file.is_file() else ""
    fingerprints = {}
    for law in loo.index:
        saved = folder / "fits" / f"{law}.nc"
        if saved.is_file():
            fingerprints[str(law)] = load_fit(saved).info.get("data_fingerprint", "")
    return {
        "loo": loo,
        "extrapolation": extrapolation,
        "verdict": verdict,
        "folder": folder,
        "fingerprints": fingerprints,
    }


def _comparison_tables(comparison: Any) -> dict[str, Any] | None:
    """A Comparison object or a saved comparison folder, as :func:`load_comparison` gives."""
    if comparison is None or isinstance(comparison, dict):
        return comparison
    if isinstance(comparison, str | os.PathLike):
        return load_comparison(comparison)
    return {
        "loo": comparison.loo,
        "extrapolation": comparison.extrapolation,
        "verdict": comparison.verdict(),
        "folder": None,
        "fingerprints": {
            name: f.info.get("data_fingerprint", f.runs.fingerprint())
            for name, f in comparison.fits.items()
        },
    }


# ---------------------------------------------------------------------------------------
# Prior sensitivity


def _prior_of(fit: Fit, name: str) -> tuple[str, Any]:
    """The posterior variable a parameter's prior is stated on (``A_ref`` for ``A``)."""
    if name in fit.law.parameters:
        p = fit.law.parameters[name]
        return p.sampled_name, p.prior
    lik = fit.law.likelihood
    return name, lik.sigma if name == "sigma" else lik.nu


def _log_prior(fit: Fit) -> Any:
    """Log prior density of every posterior draw, per variable the priors are stated on."""
    import pymc as pm
    import xarray as xr

    post = fit.idata.posterior
    data = {}
    for name in fit.parameter_names:
        variable, prior = _prior_of(fit, name)
        dist = getattr(pm, prior.distribution).dist(**prior.parameters)
        data[variable] = (("chain", "draw"), pm.logp(dist, post[variable].values).eval())
    return xr.Dataset(data, coords={"chain": post["chain"], "draw": post["draw"]})


def _psens_diagnosis(prior: float, likelihood: float) -> str:
    """Kallioinen et al. 2024's reading of the two sensitivities."""
    if prior >= PSENS_THRESHOLD and likelihood >= PSENS_THRESHOLD:
        return "prior-data conflict"
    if prior >= PSENS_THRESHOLD:
        return "strong prior / weak likelihood"
    return "none"


def prior_sensitivity(fit: Fit) -> pd.DataFrame:
    """How much each parameter's posterior depends on its prior.

    Two measures. ArviZ's power-scaling sensitivity (``az.psens``; Kallioinen et al. 2024):
    how much the posterior moves when the prior (or the likelihood) is raised to a power near
    1; above 0.05 the component is influential. It needs the log prior of every draw, which
    is computed here from the law's priors. And the prior-to-posterior shift, from
    ``idata.prior``: ``contraction = 1 - var(posterior) / var(prior)`` (near 1: the data
    taught a lot) and ``shift``, the move of the mean in prior standard deviations; both on
    the variable the prior is stated on (``A_ref`` for a reference-scale ``A``), on the log
    scale for positive priors.

    Parameters
    ----------
    fit : Fit
        The fit.

    Returns
    -------
    pandas.DataFrame
        Per parameter: ``prior_variable``, ``psens_prior``, ``psens_likelihood``,
        ``diagnosis``, ``contraction``, ``shift`` (NaN where not computable) and ``scale``
        (``log`` or ``linear``: where the shift was measured). ``attrs``
        holds ``psens_error`` if the power-scaling check could not run.
    """
    import arviz as az

    names = fit.parameter_names
    table = pd.DataFrame(index=pd.Index(names, name="parameter"))
    table["prior_variable"] = [_prior_of(fit, n)[0] for n in names]
    try:
        idata = fit.idata.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata.add_groups({"log_prior": _log_prior(fit)})
            prior_s = az.psens(idata, component="prior", var_names=names)
            lik_s = az.psens(idata, component="likelihood", var_names=names)
        table["psens_prior"] = [float(prior_s[n]) for n in names]
        table["psens_likelihood"] = [float(lik_s[n]) for n in names]
        table["diagnosis"] = [
            _psens_diagnosis(p, q)
            for p, q in zip(table["psens_prior"], table["psens_likelihood"], strict=True)
        ]
    except (AttributeError, KeyError, NotImplementedError, TypeError, ValueError) as err:
        table["psens_prior"] = np.nan
        table["psens_likelihood"] = np.nan
        table["diagnosis"] = "not computed"
        table.attrs["psens_error"] = f"{type(err).__name__}: {err}"
    contraction, shift, scales = [], [], []
    prior = fit.idata.prior if "prior" in fit.idata.groups() else None
    for name in names:
        variable = _prior_of(fit, name)[0]
        if prior is None or variable not in prior:
            contraction.append(np.nan)
            shift.append(np.nan)
            scales.append("")
            continue
        before = np.asarray(prior[variable].values, dtype=float).reshape(-1)
        after = np.asarray(fit.idata.posterior[variable].values, dtype=float).reshape(-1)
        if np.all(before > 0) and np.all(after > 0):
            before, after = np.log(before), np.log(after)
            scales.append("log")
        else:
            scales.append("linear")
        sd = before.std(ddof=1)
        contraction.append(float(1 - after.var(ddof=1) / sd**2))
        shift.append(float((after.mean() - before.mean()) / sd))
    table["contraction"] = contraction
    table["shift"] = shift
    table["scale"] = scales
    return table


# ---------------------------------------------------------------------------------------
# Sections of the context


def _summary_section(
    fit: Fit,
    targets: list[dict[str, float]],
    level: float,
    target_loss: float | None,
    compute: list[float],
    fixed: dict[str, float] | None,
) -> dict[str, Any]:
    levels = sorted({*FORECAST_LEVELS, level})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the report states failed diagnostics
        forecast = fit.forecast(_points(targets), level=levels)
    inputs = list(forecast.columns[: list(forecast.columns).index("law_median")])
    rows = [_nums(row, f"forecast.{i}") for i, row in enumerate(forecast.to_dict(orient="records"))]
    plannable = _has_n_and_d(fit)
    probability = budget = None
    if target_loss is not None and plannable:
        at_points = fit.prob_below(target_loss, **_triad(targets), fixed=fixed)
        at_budgets = (
            fit.prob_below(target_loss, C=compute, fixed=fixed) if compute else pd.DataFrame()
        )
        probability = {
            "points": [
                _nums(r, f"prob.point.{i}") for i, r in enumerate(at_points.to_dict("records"))
            ],
            "budgets": [
                _nums(r, f"prob.budget.{i}") for i, r in enumerate(at_budgets.to_dict("records"))
            ],
        }
        found = fit.budget_for(target_loss, level=level, fixed=fixed)
        budget = _nums(found.iloc[0].to_dict(), "budget.0")
    return {
        "inputs": inputs,
        "levels": [level_label(lv) for lv in levels],
        "level": level_label(level),
        "rows": rows,
        "target_loss": None if target_loss is None else Num(target_loss, "target_loss"),
        "plannable": plannable,
        "probability": probability,
        "budget": budget,
        "ok": fit.ok,
        "verdict": fit.diagnostics.verdict(),
        "max_extrapolation": Num(
            float(forecast["extrapolation"].max()), "forecast.max_extrapolation", "ratio"
        ),
        "far": bool(forecast["extrapolation"].max() > FAR_EXTRAPOLATION),
        "beyond": bool(forecast["extrapolation"].max() > 1),
    }


def _triad(targets: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    """The N, D, C values of the targets, as ``prob_below`` takes them (two of three)."""
    points = _points(targets)
    given = {name: points[name] for name in ("N", "D", "C") if name in points}
    if len(given) == 3:
        given.pop("C")
    return given


def _data_section(fit: Fit) -> dict[str, Any]:
    runs = fit.runs
    rows = []
    for name in runs.inputs:
        values = runs.x(name)
        rows.append(
            {
                "name": name,
                "column": runs.columns.get(name, name),
                "meaning": fit.law.inputs.get(name, "not used by the law"),
                "used": name in fit.law.inputs,
                "min": Num(float(values.min()), f"data.{name}.min", "size"),
                "median": Num(float(np.median(values)), f"data.{name}.median", "size"),
                "max": Num(float(values.max()), f"data.{name}.max", "size"),
            }
        )
    y = runs.y
    return {
        "n_runs": Num(len(runs), "data.n_runs", "int"),
        "source": runs.source,
        "y_name": runs.y_name,
        "inputs": rows,
        "y": {
            "min": Num(float(y.min()), "data.y.min"),
            "median": Num(float(np.median(y)), "data.y.median"),
            "max": Num(float(y.max()), "data.y.max"),
        },
        "compute_factor": Num(runs.compute_factor, "data.compute_factor", digits=3),
        "fingerprint": runs.fingerprint(),
        "fingerprint_matches": runs.fingerprint() == fit.info.get("data_fingerprint"),
    }


def _law_section(fit: Fit) -> dict[str, Any]:
    law = fit.law
    priors = [
        {
            "name": p.name,
            "role": p.role,
            "prior": p.describe_prior(),
            "why": " ".join(p.why.split()),
        }
        for p in law.parameters.values()
    ]
    lik = law.likelihood
    noise = [{"name": "sigma", "prior": _prior_text(lik.sigma)}]
    if lik.nu is not None:
        noise.append({"name": "nu", "prior": _prior_text(lik.nu)})
    references = [
        {"input": name, "value": Num(float(np.exp(value)), f"law.ref.{name}", "size")}
        for name, value in fit.log_ref.items()
    ]
    return {
        "name": law.name,
        "title": law.title,
        "formula": law.formula.text,
        "description": " ".join(law.description.split()),
        "reference": " ".join(law.reference.split()),
        "inputs": [{"name": k, "meaning": v} for k, v in law.inputs.items()],
        "priors": priors,
        "family": "Student-t" if lik.family == "student_t" else "normal",
        "noise": noise,
        "noise_why": " ".join(lik.why.split()),
        "references": references,
    }


def _prior_text(prior: Any) -> str:
    args = ", ".join(f"{k}={float(v):g}" for k, v in prior.parameters.items())
    return f"{prior.distribution}({args})"


def _diagnostics_section(fit: Fit) -> dict[str, Any]:
    diag = fit.diagnostics
    rows = []
    for name, row in diag.table.iterrows():
        rhat = float(row["r_hat"])
        rows.append(
            {
                "name": name,
                "r_hat": Num(rhat, f"diag.{name}.r_hat", digits=4),
                "r_hat_ok": diag.chains == 1 or rhat <= RHAT_MAX,
                "ess_bulk": Num(float(row["ess_bulk"]), f"diag.{name}.ess_bulk", "int"),
                "ess_bulk_ok": float(row["ess_bulk"]) >= diag.ess_min,
                "ess_tail": Num(float(row["ess_tail"]), f"diag.{name}.ess_tail", "int"),
                "ess_tail_ok": float(row["ess_tail"]) >= diag.ess_min,
            }
        )
    return {
        "rows": rows,
        "rhat_max": Num(RHAT_MAX, "diag.rhat_max"),
        "ess_min": Num(diag.ess_min, "diag.ess_min", "int"),
        "divergences": Num(diag.divergences, "diag.divergences", "int"),
        "chains": Num(diag.chains, "diag.chains", "int"),
        "draws": Num(diag.draws, "diag.draws", "int"),
        "ok": diag.ok,
        "verdict": diag.verdict(),
        "problems": diag.problems,
    }


def _parameters_section(fit: Fit, level: float) -> dict[str, Any]:
    summary = fit.summary(level=level)
    tag = level_label(level)
    sources = list(fit.law.published)
    rows = []
    for name, row in summary.iterrows():
        low, high = row[f"hdi_{tag}_lower"], row[f"hdi_{tag}_upper"]
        published = []
        for source in sources:
            value = fit.law.published[source].get(str(name))
            published.append(
                None
                if value is None
                else {
                    "value": Num(value, f"published.{source}.{name}"),
                    "inside": bool(low <= value <= high),
                }
            )
        rows.append(
            {
                "name": name,
                "role": row["role"],
                "median": Num(row["median"], f"param.{name}.median"),
                "mean": Num(row["mean"], f"param.{name}.mean"),
                "sd": Num(row["sd"], f"param.{name}.sd", digits=3),
                "lower": Num(low, f"param.{name}.hdi_{tag}_lower"),
                "upper": Num(high, f"param.{name}.hdi_{tag}_upper"),
                "published": published,
            }
        )
    noise = {"sigma": Num(float(summary.loc["sigma", "median"]), "param.sigma.median", "percent")}
    return {"level": tag, "sources": sources, "rows": rows, "noise": noise}


def _plan_section(
    fit: Fit,
    level: float,
    compute: list[float],
    fixed: dict[str, float] | None,
) -> dict[str, Any] | None:
    if not _has_n_and_d(fit):
        return None
    k = fit.runs.compute_factor
    largest = float((k * fit.runs.x("N") * fit.runs.x("D")).max())
    budgets = sorted({largest, largest * 10, largest * 100, *compute})
    table = fit.compute_optimal(budgets, level=level, fixed=fixed)
    rows = [_nums(r, f"plan.{i}") for i, r in enumerate(table.to_dict(orient="records"))]
    return {
        "level": level_label(level),
        "rows": rows,
        "largest": Num(largest, "plan.largest_run_compute", "size"),
        "fixed": {
            name: Num(value, f"plan.fixed.{name}", "size") for name, value in (fixed or {}).items()
        },
    }


def _sensitivity_section(fit: Fit) -> dict[str, Any]:
    table = prior_sensitivity(fit)
    rows = []
    for name, row in table.iterrows():
        rows.append(
            {
                "name": name,
                "variable": row["prior_variable"],
                "scale": row["scale"],
                "psens_prior": Num(row["psens_prior"], f"psens.{name}.prior", digits=3),
                "psens_likelihood": Num(
                    row["psens_likelihood"], f"psens.{name}.likelihood", digits=3
                ),
                "diagnosis": row["diagnosis"],
                "contraction": Num(row["contraction"], f"shift.{name}.contraction", digits=3),
                "shift": Num(row["shift"], f"shift.{name}.shift", digits=3),
            }
        )
    flagged = [r["name"] for r in rows if r["diagnosis"] not in ("none", "not computed")]
    return {
        "rows": rows,
        "threshold": Num(PSENS_THRESHOLD, "psens.threshold", digits=2),
        "psens_error": table.attrs.get("psens_error"),
        "has_prior_draws": "prior" in fit.idata.groups(),
        "flagged": flagged,
        "flagged_law": [n for n in flagged if n in fit.law.parameters],
    }


def _comparison_section(fit: Fit, tables: dict[str, Any] | None) -> dict[str, Any] | None:
    if tables is None:
        return None
    loo = tables["loo"]
    columns = [
        c
        for c in ("elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "pareto_k_bad")
        if c in loo.columns
    ]
    kinds = {"weight": "num", "pareto_k_bad": "int"}
    loo_rows = []
    for law, row in loo.iterrows():
        entry = _nums(row[columns].to_dict(), f"loo.{law}", kinds)
        entry["law"] = str(law)
        entry["ok"] = bool(row["diagnostics_ok"]) if "diagnostics_ok" in loo.columns else None
        entry["this"] = str(law) == fit.law.name
        loo_rows.append(entry)
    extrapolation = tables["extrapolation"]
    extra_rows, extra_columns = [], []
    if extrapolation is not None and len(extrapolation):
        extra_columns = [
            c
            for c in (
                "n_train",
                "n_test",
                "elpd_per_run",
                "coverage_50",
                "coverage_80",
                "coverage_90",
                "r2",
                "mare",
            )
            if c in extrapolation.columns
        ]
        for i, row in enumerate(extrapolation.to_dict(orient="records")):
            entry = _nums({c: row[c] for c in extra_columns}, f"extrap.{i}", {"mare": "percent"})
            entry["law"] = row["law"]
            entry["holdout"] = row["holdout"]
            extra_rows.append(entry)
    fingerprint = fit.info.get("data_fingerprint", fit.runs.fingerprint())
    other = tables["fingerprints"].get(fit.law.name)
    return {
        "loo_columns": columns,
        "loo": loo_rows,
        "extrapolation_columns": extra_columns,
        "extrapolation": extra_rows,
        "verdict": [line for line in tables["verdict"].splitlines() if line.strip()],
        "folder": None if tables["folder"] is None else str(tables["folder"]),
        "includes_this_law": fit.law.name in [str(i) for i in loo.index],
        "same_data": None if other is None else other == fingerprint,
        "best": str(loo.index[0]),
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _when(stamp: str) -> str:
    """An ISO time stamp as ``2026-11-23 10:46 UTC`` (as given if it is not one)."""
    try:
        moment = _dt.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _reproduce(
    fit: Fit, in_catalog: bool, fit_path: Path | None, request: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """Command lines that redo the fit and this report, and what they assume."""
    runs, settings = fit.runs, fit.settings
    notes = []
    source = runs.source
    if not Path(source).is_file():
        notes.append(
            f"The runs were given from Python ({source}), so the command names runs.csv: write "
            f"the table to that file first; the data fingerprint checks it is the same."
        )
        source = "runs.csv"
    law = fit.law.name if in_catalog else "law.toml"
    if not in_catalog:
        notes.append("Save the law file below as law.toml.")
    fit_file = fit_path.name if fit_path is not None else "fit.nc"
    fit_args = ["bayescale", "fit", source, "--law", law]
    for name, column in runs.columns.items():
        if not str(column).startswith("derived: "):
            fit_args += ["--x", f"{name}={column}"]
    fit_args += ["--y", runs.y_name, "--compute-factor", f"{runs.compute_factor:g}"]
    for option in ("draws", "tune", "chains", "target_accept"):
        if option in settings:
            fit_args += [f"--{option.replace('_', '-')}", f"{settings[option]:g}"]
    fit_args += ["--seed", str(fit.seed), "--out", fit_file]
    report_args = ["bayescale", "report", fit_file, "--out", "report.html"]
    for target in request["at"] or []:
        report_args += ["--at", ",".join(f"{k}={v:g}" for k, v in target.items())]
    if request["target_loss"] is not None:
        report_args += ["--target-loss", f"{request['target_loss']:g}"]
    for budget in request["compute"] or []:
        report_args += ["--compute", f"{budget:g}"]
    report_args += ["--level", f"{request['level']:g}"]
    if request["comparison"]:
        report_args += ["--compare", str(request["comparison"])]
    notes.append(
        "The same data, law, seed and sampler settings with the same versions give the same "
        "draws, hence the same numbers."
    )
    return [shlex.join(fit_args), shlex.join(report_args)], notes


def _reproducibility_section(
    fit: Fit, fit_path: Path | None, command: str, created: str, request: Mapping[str, Any]
) -> dict[str, Any]:
    from bayescale.laws import catalog

    law = fit.law
    catalog_file = catalog().get(law.name)
    in_catalog = bool(
        catalog_file is not None
        and law.source_text
        and catalog_file.read_text(encoding="utf-8") == law.source_text
    )
    settings = dict(fit.settings)
    reproduce, notes = _reproduce(fit, in_catalog, fit_path, request)
    return {
        "reproduce": reproduce,
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
        "settings": settings,
        "fit_versions": dict(fit.info.get("versions", {})),
        "report_versions": package_versions(_REPORT_PACKAGES),
        "fit_created": _when(fit.info.get("created", "")),
        "fit_command": fit.info.get("command", ""),
        "fit_file": None if fit_path is None else str(fit_path),
        "fit_sha256": None if fit_path is None or not fit_path.is_file() else _sha256(fit_path),
        "report_command": command,
        "report_created": _when(created),
    }


def _figures(
    fit: Fit,
    targets: list[dict[str, float]],
    level: float,
    compute: list[float],
    fixed: dict[str, float] | None,
    comparison: dict[str, Any] | None,
) -> dict[str, str]:
    """Every plot as a ``data:image/png;base64`` URI, so the file needs nothing else."""
    from bayescale import plots

    makers: dict[str, Any] = {
        "fit": lambda: plots.plot_fit(fit, targets=targets, level=level),
        "residuals": lambda: plots.plot_residuals(fit, level=level),
        "ppc": lambda: plots.plot_ppc(fit),
        "rank": lambda: plots.plot_rank(fit),
        "prior_posterior": lambda: plots.plot_prior_posterior(fit),
        "pair": lambda: plots.plot_pair(fit),
        "fan": lambda: plots.plot_forecast_fan(fit, targets),
    }
    if set(fit.law.inputs) <= {"N", "D", "C"} and _has_n_and_d(fit):
        makers["contours"] = lambda: plots.plot_loss_contours(fit, targets=targets)
    if _has_n_and_d(fit):
        makers["frontier"] = lambda: plots.plot_frontier(
            fit, budgets=compute, level=level, fixed=fixed
        )
    if comparison is not None:
        makers["comparison"] = lambda: plots.plot_comparison(
            comparison["loo"], comparison["extrapolation"]
        )
    figures = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed fit is stated in the report itself
        for name, make in makers.items():
            png = plots.figure_to_png(make())
            figures[name] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return figures


# ---------------------------------------------------------------------------------------
# Public API


def build_context(
    fit: Fit,
    *,
    comparison: Any = None,
    at: Sequence[Mapping[str, float]] | None = None,
    target_loss: float | None = None,
    compute: Sequence[float] | None = None,
    level: float = 0.9,
    command: str = "",
    fit_path: str | os.PathLike[str] | None = None,
    figures: bool = True,
) -> dict[str, Any]:
    """Gather everything the report shows, from the library's results.

    Parameters
    ----------
    fit : Fit
        The fit to report on.
    comparison : Comparison, str or PathLike, optional
        A :class:`~bayescale.Comparison`, or the folder ``bayescale compare --out`` wrote.
    at : sequence of mapping, optional
        Target points, e.g. ``[{"N": 7e10, "D": 1.4e12}]``; default 10x the largest value
        of each input in the runs.
    target_loss : float, optional
        A loss to reach: adds the probability of reaching it and the compute it needs (laws
        with inputs N and D).
    compute : sequence of float, optional
        Budgets in FLOPs for the probability and the compute plan; default the targets'
        compute.
    level : float, default 0.9
        Credible level of the intervals.
    command : str, optional
        The command line that asked for the report.
    fit_path : str or PathLike, optional
        The fit's file, whose SHA-256 is recorded.
    figures : bool, default True
        Draw the plots (False: tables only, faster).

    Returns
    -------
    dict
        One entry per section of :data:`SECTIONS` plus ``meta`` and ``figures``; numbers
        are :class:`Num`.

    Raises
    ------
    DataError
        If a target or level is invalid.
    BayescaleError
        If the comparison folder cannot be read.
    """
    if not 0 < level < 1:
        raise DataError(f"credible level {level} must be between 0 and 1 (e.g. 0.9)")
    if target_loss is not None and not (math.isfinite(target_loss) and target_loss > 0):
        raise DataError(f"target loss must be a positive number, got {target_loss!r}")
    targets = [dict(t) for t in at] if at else default_targets(fit)
    fixed = _other_inputs(fit, targets)
    compute_given = bool(compute)
    compute = [float(c) for c in compute] if compute else _target_compute(fit, targets)
    if any(not (math.isfinite(c) and c > 0) for c in compute):
        raise DataError(f"compute budgets must be positive numbers, got {compute}")
    tables = _comparison_tables(comparison)
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    path = None if fit_path is None else Path(fit_path)
    return {
        "meta": {
            "title": f"Scaling-law forecast: {fit.law.name}",
            "law": fit.law.name,
            "created": _when(created),
            "fit_file": None if path is None else path.name,
            "sections": SECTIONS,
            "targets_given": bool(at),
        },
        "summary": _summary_section(fit, targets, level, target_loss, compute, fixed),
        "data": _data_section(fit),
        "law": _law_section(fit),
        "diagnostics": _diagnostics_section(fit),
        "parameters": _parameters_section(fit, level),
        "plan": _plan_section(fit, level, compute, fixed),
        "sensitivity": _sensitivity_section(fit),
        "comparison": _comparison_section(fit, tables),
        "reproducibility": _reproducibility_section(
            fit,
            path,
            command,
            created,
            {
                "at": at,
                "target_loss": target_loss,
                "compute": compute if compute_given else None,
                "level": level,
                "comparison": comparison if isinstance(comparison, str | os.PathLike) else None,
            },
        ),
        "figures": _figures(fit, targets, level, compute, fixed, tables) if figures else {},
    }


def render_html(context: Mapping[str, Any]) -> str:
    """Fill the report template with a context from :func:`build_context`.

    Parameters
    ----------
    context : mapping
        The context.

    Returns
    -------
    str
        One self-contained HTML document (styles inline, plots as data URIs).
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("bayescale", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,  # a missing entry is a bug, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(**context)


def html_to_pdf(html: str, path: str | os.PathLike[str]) -> Path:
    """Print the report's HTML to PDF with WeasyPrint, atomically.

    Parameters
    ----------
    html : str
        The report.
    path : str or PathLike
        Destination.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    BayescaleError
        If WeasyPrint is not installed or the file cannot be written.
    """
    weasyprint = _weasyprint()
    path = Path(path)
    from weasyprint.urls import URLFetcher

    # Only data: URIs may be loaded: the report is self-contained and printing needs no network.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    document = weasyprint.HTML(string=html, url_fetcher=fetcher)
    _atomic_write(path, document.write_pdf())
    return path


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as err:
        # OSError: the package is there but the system's Pango library is not.
        raise BayescaleError(
            f"PDF output needs WeasyPrint (pip install weasyprint): {err}"
        ) from None
    return weasyprint


def _atomic_write(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        # mkstemp makes the file private; a report is meant to be shared like any other file.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as err:
        raise BayescaleError(f"cannot write '{path}': {err}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_destination(path: Path, force: bool, option: str) -> None:
    if path.is_dir():
        raise BayescaleError(f"{option} '{path}' is a directory; give a file name")
    if path.exists() and not force:
        raise OutputExistsError(
            f"'{path}' exists already; choose another {option} or add --force to overwrite it"
        )
    if not path.parent.is_dir():
        raise BayescaleError(f"folder '{path.parent}' of {option} does not exist; create it first")


def write_report(
    fit: Fit,
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    pdf: str | os.PathLike[str] | None = None,
    **options: Any,
) -> dict[str, Path]:
    """Build the report of a fit and write it as one HTML file (and optionally a PDF).

    Both files are written next to their destination and renamed into place, and checked
    before any work: an existing file is kept unless ``force``.

    Parameters
    ----------
    fit : Fit
        The fit.
    out : str or PathLike
        The HTML file.
    force : bool, default False
        Overwrite existing files.
    pdf : str or PathLike, optional
        Also print the HTML to this PDF file (needs WeasyPrint).
    **options
        Passed to :func:`build_context` (``comparison``, ``at``, ``target_loss``,
        ``compute``, ``level``, ``command``, ``fit_path``).

    Returns
    -------
    dict of str to Path
        ``html`` and, if asked, ``pdf``.

    Raises
    ------
    OutputExistsError
        If a destination exists and ``force`` is False.
    BayescaleError
        If a folder is missing, WeasyPrint is needed but missing, or a write fails.
    """
    out = Path(out)
    _check_destination(out, force, "--out")
    if pdf is not None:
        pdf = Path(pdf)
        _check_destination(pdf, force, "--pdf")
        _weasyprint()
    html = render_html(build_context(fit, **options))
    _atomic_write(out, html.encode("utf-8"))
    written = {"html": out}
    if pdf is not None:
        written["pdf"] = html_to_pdf(html, pdf)
    return written
