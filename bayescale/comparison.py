"""Compare law forms (PSIS-LOO, stacking, extrapolation-aware cross-validation) and average them.

PSIS-LOO judges how well a law predicts a run *like* the others (interpolation). Users
extrapolate, so :func:`compare` can also fit every law on the runs below a scale threshold and
score the held-out larger runs: their log predictive density and how often they fall in the
predictive intervals. The two criteria can disagree; the comparison says which law wins on
which.

Averaging follows the same split. Stacking (Yao et al. 2018) chooses the mixture of the laws'
predictive distributions that best predicts a set of runs: on PSIS-LOO's left-out runs it
weighs laws by how they interpolate; on the held-out larger runs (leave-future-out by scale,
pooled over the thresholds) by how they extrapolate, which is what a forecast beyond the
largest run needs. :func:`average` uses the latter whenever the comparison has held-out runs.

Densities are of the value each law's noise lives on: ``log y`` under multiplicative noise,
``y`` under additive noise. Laws with different noise scales are compared on the density of
``y`` itself: a log-scale law's density of ``log y`` times the Jacobian ``1 / y`` (its log
density minus ``log y``), which :func:`compare` applies to LOO and held-out scores alike.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from bayescale import _files
from bayescale.data import Runs, load_runs
from bayescale.errors import BayescaleError, DataError, OutputExistsError
from bayescale.fitting import Fit, fit, load_fit
from bayescale.forecast import forecast_points, law_mu, level_label, mixture_table
from bayescale.laws import Law, get_law
from bayescale.settings import SamplerSettings, check_levels, check_seed

__all__ = [
    "Average",
    "Comparison",
    "average",
    "compare",
    "compare_pooling",
    "score",
    "stacking_weights",
]

PARETO_K_BAD = 0.7  # Vehtari et al. 2024: above 0.7 the PSIS estimate is unreliable
#: Names of the weights :func:`average` can compute from a comparison.
WEIGHT_METHODS = ("auto", "stacking", "extrapolation")
# A law's name becomes a file name (fits/<name>.nc) and a table row: keep it plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _log_density(fit_: Fit, runs: Runs, of_y: bool = False) -> np.ndarray:
    """Pointwise log predictive density of held-out runs, over the posterior draws.

    With a discrepancy, one draw of it per posterior draw joins the law's value on the
    noise's scale: the average over draws integrates it, as the forecast's ``pred_*``
    intervals do. The density is that of the noise's scale (``log y`` or ``y``), or of ``y``
    itself with ``of_y``.
    """
    if fit_.pooling is not None:
        # A hierarchical fit scores each run with its own group's parameters.
        out = np.empty(len(runs))
        labels = np.array(runs.group if runs.group is not None else [])
        if len(labels) != len(runs):
            raise DataError(
                "held-out runs for a fit with groups need groups too: load_runs(..., group=...)"
            )
        for g in dict.fromkeys(labels):
            mask = labels == g
            out[mask] = _log_density(fit_.group(g), runs.subset(mask), of_y)
        return out
    draws = fit_.draws()
    theta = {name: draws[name][:, None] for name in fit_.law.parameters}
    x = {name: runs.x(name)[None, :] for name in fit_.law.inputs}
    mu = law_mu(fit_.law, theta, x)
    if fit_.discrepancy is not None:
        points = {name: runs.x(name) for name in runs.inputs}
        mu = mu + fit_.discrepancy.log_delta(points, len(draws["sigma"]), fit_.seed).T
    lik = fit_.law.likelihood
    noise = {name: draws[name][:, None] for name in lik.noise_names}
    y = runs.y[None, :]
    logp = lik.logpdf_y(y, mu, noise) if of_y else lik.logpdf(lik.transform(y), mu, noise)
    return special.logsumexp(logp, axis=0) - np.log(logp.shape[0])


def _scales(laws: Sequence[Law]) -> set[str]:
    return {law.likelihood.scale for law in laws}


def score(
    fit_: Fit,
    test: Runs,
    levels: Sequence[float] = (0.5, 0.8, 0.9),
    *,
    of_y: bool = False,
) -> dict[str, float]:
    """Score a fit on held-out runs: predictive density, calibration and point accuracy.

    Parameters
    ----------
    fit_ : Fit
        A fit (typically on smaller runs).
    test : Runs
        Held-out runs with the law's inputs.
    levels : sequence of float, default (0.5, 0.8, 0.9)
        Levels of the predictive intervals whose coverage is reported.
    of_y : bool, default False
        Score the density of y itself, for comparing laws with multiplicative and
        additive noise (the Jacobian ``1 / y`` joins a log-scale law's density); by
        default the density of the value the noise lives on (``log y`` or ``y``).

    Returns
    -------
    dict of str to float
        ``n_test``; ``elpd`` (sum of log predictive densities: of the log losses under
        multiplicative noise, of the losses under additive noise or with ``of_y``) and
        ``elpd_per_run``; ``coverage_50`` ... (share of held-out runs inside the
        predictive interval, to compare with the level); ``r2`` (of the posterior median
        law against the observed loss, clipped to [-1, 1] as in Li et al. 2026) and
        ``mare`` (mean absolute relative error; NaN when a held-out loss is 0).
    """
    return _score(fit_, test, levels, of_y)[0]


def _score(
    fit_: Fit, test: Runs, levels: Sequence[float], of_y: bool
) -> tuple[dict[str, float], np.ndarray]:
    """:func:`score`'s table and the pointwise log predictive densities it sums."""
    at = test.table[list(fit_.law.inputs)]
    if fit_.pooling is not None and test.group is not None:
        at = at.assign(group=list(test.group))
    table = fit_.forecast(at, level=levels)
    y = test.y
    logpd = _log_density(fit_, test, of_y=of_y)
    out: dict[str, float] = {
        "n_test": float(len(test)),
        "elpd": float(logpd.sum()),
        "elpd_per_run": float(logpd.mean()),
    }
    for lv in levels:
        tag = level_label(lv)
        inside = (y >= table[f"pred_lower_{tag}"].to_numpy()) & (
            y <= table[f"pred_upper_{tag}"].to_numpy()
        )
        out[f"coverage_{tag}"] = float(inside.mean())
    predicted = table["law_median"].to_numpy()
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else float("nan")
    out["r2"] = float(np.clip(r2, -1.0, 1.0))
    # A relative error has no meaning against a loss of 0 (an additive-noise metric).
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mare"] = float(np.mean(np.abs(predicted / y - 1.0))) if np.all(y != 0) else np.nan
    return out, logpd


def stacking_weights(log_density: np.ndarray) -> np.ndarray:
    """Stacking weights of predictive distributions (Yao et al. 2018).

    Maximises ``sum_i log sum_k w_k p_k(y_i)`` over the simplex, with ``p_k(y_i)`` the
    predictive density law ``k`` gives point ``i``. The objective is concave in ``w``; it is
    maximised over ``w = softmax(z)`` with its exact gradient
    ``d/dz_k = sum_i r_ik - n w_k`` (``r_ik`` the share of point ``i``'s mixture density that
    law ``k`` contributes), starting from equal weights, so that laws with identical
    densities keep identical weights.

    Parameters
    ----------
    log_density : numpy.ndarray
        ``(points, laws)`` log predictive densities.

    Returns
    -------
    numpy.ndarray
        One non-negative weight per law, summing to 1.

    Raises
    ------
    DataError
        If the array is not two-dimensional, or no law or no point is usable.

    Notes
    -----
    Non-finite densities follow one rule each:

    - NaN or +inf (the law's density could not be evaluated at a point): the law gets
      weight 0 and takes no part in the optimisation, since its mixture share is undefined.
    - -inf (a density of exactly zero): kept; the mixture can still explain the point through
      the other laws, and a law that gives a point zero density is rightly penalised.
    - A point to which every usable law gives density zero: dropped, since no weighting
      changes its (infinitely bad) score.
    """
    lpd = np.asarray(log_density, dtype=float)
    if lpd.ndim != 2 or lpd.shape[1] == 0:
        raise DataError(
            f"stacking needs a (points, laws) array of log densities, got shape {lpd.shape}"
        )
    usable = ~(np.isnan(lpd) | (lpd == np.inf)).any(axis=0)
    if not usable.any():
        raise DataError(
            "stacking has no law with a finite log density at every point; check the "
            "held-out scores for failed forecasts"
        )
    kept = lpd[:, usable]
    kept = kept[np.isfinite(kept).any(axis=1)]
    if not len(kept):
        raise DataError("stacking has no point to which any law gives a positive density")
    weights = np.zeros(lpd.shape[1])
    if kept.shape[1] == 1:
        weights[usable] = 1.0
        return weights
    n = len(kept)
    # Shift each point's densities by their maximum: the optimum is unchanged, and exp()
    # cannot overflow or underflow to an all-zero row.
    shifted = kept - kept.max(axis=1, keepdims=True)

    def negative(z: np.ndarray) -> tuple[float, np.ndarray]:
        log_w = z - special.logsumexp(z)
        joint = shifted + log_w[None, :]
        mixture = special.logsumexp(joint, axis=1)
        shares = np.exp(joint - mixture[:, None])
        return -float(mixture.sum()), -(shares.sum(axis=0) - n * np.exp(log_w))

    start = np.zeros(kept.shape[1])
    result = optimize.minimize(
        negative, start, jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "maxiter": 2000}
    )
    z = result.x
    weights[usable] = np.exp(z - special.logsumexp(z))
    return weights


def _loo_table(fits: Mapping[str, Fit]) -> pd.DataFrame:
    import arviz as az

    prints = {name: f.runs.fingerprint() for name, f in fits.items()}
    if len(set(prints.values())) > 1:
        raise DataError(
            "PSIS-LOO compares laws fitted to the same runs; these fits used different data: "
            + ", ".join(f"{name} ({len(f.runs)} runs)" for name, f in fits.items())
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pareto-k warnings are reported in the table instead
        idatas = {name: f.with_log_likelihood() for name, f in fits.items()}
        if len(_scales([f.law for f in fits.values()])) > 1:
            # Densities of log y and of y are not comparable: state every law's as a density
            # of y, the Jacobian 1 / y joining the log-scale laws' (on a copy of the idata).
            idatas = {name: _as_density_of_y(idata, fits[name]) for name, idata in idatas.items()}
        table = az.compare(idatas, ic="loo", method="stacking")
        ks = {
            name: np.asarray(az.loo(idatas[name], pointwise=True).pareto_k).reshape(-1)
            for name, f in fits.items()
        }
    table["pareto_k_bad"] = [int((ks[name] > PARETO_K_BAD).sum()) for name in table.index]
    table["pareto_k_max"] = [float(ks[name].max()) for name in table.index]
    table["diagnostics_ok"] = [fits[name].ok for name in table.index]
    table.index.name = "law"
    return table


def _as_density_of_y(idata: Any, fit_: Fit) -> Any:
    """The fit's idata with its pointwise log likelihood of y itself (a copy if changed)."""
    if fit_.law.likelihood.scale == "linear":
        return idata
    copy = idata.copy()
    log_y = np.log(fit_.runs.y)
    copy.log_likelihood["y"] = copy.log_likelihood["y"] - log_y[None, None, :]
    return copy


def _holdout_splits(
    runs: Runs, holdout_above: Mapping[str, float | Sequence[float]]
) -> list[tuple[str, float, Runs, np.ndarray]]:
    """Per threshold: input, threshold, the runs to fit, and which runs are held out."""
    splits = []
    for name, thresholds in holdout_above.items():
        if name in runs.inputs:
            scale = runs.x(name)
        else:
            raise DataError(
                f"cannot hold out runs above {name}: the runs have {', '.join(runs.inputs)} "
                f"(C can be used when N and D are present)"
            )
        for threshold in np.atleast_1d(np.asarray(thresholds, dtype=float)):
            # A run at the cut stays below it even when its C, derived as k N D, carries a
            # rounding error (6 * N * D can be 1.0000000000000002e21 for a 1e21 curve).
            below = scale <= threshold * (1 + 1e-9)
            if below.all() or not below.any():
                raise DataError(
                    f"holding out runs above {name}={threshold:g} leaves "
                    f"{'no held-out runs' if below.all() else 'no runs to fit'}; "
                    f"the runs' {name} spans {scale.min():.3g} to {scale.max():.3g}"
                )
            splits.append((name, float(threshold), runs.subset(below), ~below))
    return splits


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    fits : dict of str to Fit
        Each law fitted to all the runs.
    loo : pandas.DataFrame
        ArviZ's comparison table (``elpd_loo``, ``p_loo``, ``elpd_diff``, ``weight``
        (stacking), ``se``, ``dse``, ``warning``) plus ``pareto_k_bad`` (runs with Pareto k
        above 0.7), ``pareto_k_max`` and ``diagnostics_ok``; best law first. When the laws'
        noise scales differ, every ``elpd`` is of y itself (see the module docstring).
    extrapolation : pandas.DataFrame or None
        Per law and threshold: runs used and held out, and :func:`score`'s columns.
    notes : list of str
        Remarks on how the scores were made (skipped splits, density scales).
    heldout : pandas.DataFrame or None
        Pointwise held-out log predictive densities, one row per law, threshold and held-out
        run: ``law``, ``holdout`` (as in ``extrapolation``), ``threshold``, ``run`` (the
        run's position in the compared runs) and ``log_density`` (of the same value as
        ``elpd``). None for comparisons without held-out runs, or saved before it was kept.
    """

    fits: dict[str, Fit]
    loo: pd.DataFrame
    extrapolation: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    heldout: pd.DataFrame | None = None

    @property
    def weights(self) -> pd.Series:
        """Stacking weights of the laws (Yao et al. 2018), from PSIS-LOO (interpolation)."""
        return self.loo["weight"]

    @property
    def extrapolation_weights(self) -> pd.Series | None:
        """Stacking weights from the held-out larger runs (leave-future-out), or None.

        The runs held out at every threshold where every law was scored are pooled (a run
        held out at two thresholds counts twice, once per fit that forecast it), and
        :func:`stacking_weights` is applied to their log predictive densities. A law whose
        density is not finite at some pooled run gets weight 0 (see :attr:`verdict`).

        Returns
        -------
        pandas.Series or None
            Weight per law (same order as ``loo``), summing to 1; None without held-out
            densities, or when no threshold has every law scored.
        """
        return self._leave_future_out()[0]

    def _leave_future_out(self) -> tuple[pd.Series | None, list[str], str]:
        """Extrapolation stacking weights, remarks on what went into them, and their basis."""
        if self.heldout is None or not len(self.heldout):
            return None, [], ""
        laws = [str(name) for name in self.loo.index]
        frame = self.heldout[self.heldout["law"].astype(str).isin(laws)]
        scored = frame.groupby("holdout", sort=False)["law"].agg(lambda s: set(s.astype(str)))
        complete = [split for split, names in scored.items() if names >= set(laws)]
        notes = []
        for split, names in scored.items():
            if split not in complete:
                missing = ", ".join(sorted(set(laws) - names))
                notes.append(
                    f"Held-out runs above {split} do not enter the extrapolation weights: "
                    f"{missing} was not scored there."
                )
        if not complete:
            notes.append(
                "No threshold has every law scored, so there are no extrapolation weights."
            )
            return None, notes, ""
        used = frame[frame["holdout"].isin(complete)]
        table = used.set_index(["holdout", "run", "law"])["log_density"].unstack("law")
        lpd = table.reindex(columns=laws).to_numpy(dtype=float)
        # The rules of stacking_weights, stated here in words for the verdict.
        failed = (np.isnan(lpd) | (lpd == np.inf)).any(axis=0)
        for k in np.flatnonzero(failed):
            notes.append(
                f"{laws[k]} gets extrapolation weight 0: its log density of a held-out run is "
                f"not finite (a failed forecast), so it cannot join the mixture."
            )
        if failed.all():
            return None, notes, ""
        hopeless = int((lpd[:, ~failed] == -np.inf).all(axis=1).sum())
        if hopeless == len(lpd):
            notes.append("Every law gives every held-out run zero density: no weights.")
            return None, notes, ""
        if hopeless:
            notes.append(
                f"{hopeless} held-out run(s) to which every law gives zero density do not "
                f"enter the extrapolation weights."
            )
        weights = pd.Series(stacking_weights(lpd), index=pd.Index(laws, name="law"))
        weights.name = "extrapolation_weight"
        basis = (
            f"stacking on {len(lpd) - hopeless} held-out forecast(s) of "
            f"{used['run'].nunique()} larger run(s) over {len(complete)} threshold(s) "
            f"(leave-future-out): how well each law forecast beyond the runs it was fitted on"
        )
        return weights, notes, basis

    def weights_table(self) -> pd.DataFrame:
        """Both weightings of the laws side by side.

        Returns
        -------
        pandas.DataFrame
            One row per law (best by LOO first): ``loo_weight`` (stacking on PSIS-LOO,
            interpolation) and ``extrapolation_weight`` (stacking on held-out larger runs;
            NaN when there are none).
        """
        out = pd.DataFrame({"loo_weight": self.weights.astype(float)})
        extra = self.extrapolation_weights
        out["extrapolation_weight"] = np.nan if extra is None else extra.reindex(out.index)
        out.index.name = "law"
        return out

    def best(self) -> dict[str, str]:
        """The winning law by each criterion.

        Returns
        -------
        dict of str to str
            ``loo`` (highest elpd_loo) and, with held-out runs, ``extrapolation`` (highest
            mean held-out log predictive density per run over the thresholds).
        """
        out = {"loo": str(self.loo.index[0])}
        mean = self._extrapolation_means()
        if mean is not None and mean["elpd_per_run"].notna().any():
            out["extrapolation"] = str(mean["elpd_per_run"].idxmax())
        return out

    def _extrapolation_means(self) -> pd.DataFrame | None:
        """Mean held-out scores per law over the thresholds; NaN where any score is NaN."""
        if self.extrapolation is None or not len(self.extrapolation):
            return None
        columns = ["elpd_per_run", "coverage_90"]
        return self.extrapolation.groupby("law")[columns].mean(numeric_only=True, skipna=False)

    @property
    def unscored(self) -> list[str]:
        """Laws without a finite held-out score (a forecast or density was not finite)."""
        mean = self._extrapolation_means()
        if mean is None:
            return []
        return [str(name) for name in mean.index[mean["elpd_per_run"].isna()]]

    def verdict(self) -> str:
        """Say in words which law wins on which criterion, and what to watch out for."""
        best = self.best()
        top = self.loo.iloc[0]
        lines = [
            f"PSIS-LOO (interpolation) prefers {best['loo']} "
            f"(stacking weight {top['weight']:.2f}; "
            f"elpd_loo {top['elpd_loo']:.1f} +/- {top['se']:.1f})."
        ]
        if len(self.loo) > 1:
            second = self.loo.iloc[1]
            if second["elpd_diff"] < 2 * second["dse"]:
                lines.append(
                    f"Its lead over {self.loo.index[1]} ({second['elpd_diff']:.1f} +/- "
                    f"{second['dse']:.1f}) is within two standard errors: not decisive."
                )
        for name in self.unscored:
            lines.append(
                f"{name} has no finite held-out score (its forecast or log density of a "
                f"held-out run was not finite), so it cannot win on extrapolation; see the "
                f"extrapolation table for the threshold concerned."
            )
        if "extrapolation" in best:
            ext = self._extrapolation_means()
            w = best["extrapolation"]
            lines.append(
                f"On held-out larger runs (extrapolation) {w} predicts best "
                f"(mean log density per run {ext.loc[w, 'elpd_per_run']:.2f}, "
                f"90% interval coverage {ext.loc[w, 'coverage_90']:.0%})."
            )
            if w != best["loo"]:
                lines.append(
                    "The criteria disagree: for forecasts beyond your largest run, trust the "
                    "extrapolation score more, or average the laws."
                )
        extra, remarks, _ = self._leave_future_out()
        if extra is not None:
            lines.append(
                "Stacking weights on the held-out larger runs (extrapolation): "
                + _shares(extra)
                + "; on PSIS-LOO (interpolation): "
                + _shares(self.weights.reindex(extra.index))
                + ". Averaged forecasts use the held-out weights."
            )
        elif self.heldout is None and self.extrapolation is not None and len(self.extrapolation):
            lines.append(
                "This comparison has held-out scores but not their pointwise densities (saved "
                "by an older bayescale), so averaged forecasts use the PSIS-LOO weights; rerun "
                "compare to weigh the laws by extrapolation."
            )
        lines.extend(remarks)
        for name in self.loo.index:
            bad = int(self.loo.loc[name, "pareto_k_bad"])
            if bad:
                lines.append(
                    f"{name}: {bad} run(s) have Pareto k > {PARETO_K_BAD}: they alone shape the "
                    f"fit, so its LOO score is unreliable; check those runs, or rely on the "
                    f"held-out score."
                )
            if not self.fits[name].ok:
                lines.append(f"{name}: {self.fits[name].diagnostics.verdict()}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def average(self, weights: Mapping[str, float] | str = "auto", seed: int = 0) -> Average:
        """Model-average the fits (see :func:`average`).

        By default (``"auto"``) with the extrapolation weights when the comparison has
        held-out runs, else with the PSIS-LOO stacking weights.
        """
        return average(self.fits, weights=weights, seed=seed, comparison=self)

    def save(self, folder: str | Path, overwrite: bool = False) -> dict[str, Path]:
        """Write the tables, the verdict and every fit into a folder.

        Every destination is checked before anything is written, and each file is written
        atomically (see :func:`bayescale._files.write_atomic`).

        Parameters
        ----------
        folder : str or Path
            Created if missing.
        overwrite : bool, default False
            Replace earlier outputs.

        Returns
        -------
        dict of str to Path
            ``loo`` (loo.csv), ``extrapolation`` (extrapolation.csv) and ``heldout``
            (heldout.csv, the pointwise held-out log densities) with held-out runs,
            ``verdict`` (verdict.txt), ``notes`` (notes.json) and ``fit_<law>``
            (fits/<law>.nc) for each law.

        Raises
        ------
        OutputExistsError
            If an output exists and ``overwrite`` is False (nothing is written then).
        BayescaleError
            If the folder cannot be created or written.
        """
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise BayescaleError(f"'{folder}' is a file; give a folder for the comparison")
        files = comparison_files(folder, list(self.fits), self.extrapolation is not None)
        if self.extrapolation is None and self.heldout is not None:
            raise BayescaleError(
                "a comparison with held-out densities needs its extrapolation table to be saved"
            )
        existing = [str(p) for p in files.values() if p.exists()]
        if existing and not overwrite:
            raise OutputExistsError(
                f"{', '.join(existing)} exist already; choose another folder", path=folder
            )
        try:
            (folder / "fits").mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BayescaleError(f"cannot create folder '{folder / 'fits'}': {err}") from None
        for path in files.values():
            _files.check_destination(path, overwrite=True)
        text = {
            "loo": self.loo.to_csv(),
            "verdict": self.verdict() + "\n",
            "notes": json.dumps({"format": 1, "notes": list(self.notes)}, indent=1) + "\n",
        }
        if self.extrapolation is not None:
            text["extrapolation"] = self.extrapolation.to_csv(index=False)
            # Written even when empty, so that the folder's file list follows from the
            # comparison alone (see comparison_files).
            heldout = self.heldout if self.heldout is not None else _empty_heldout()
            text["heldout"] = heldout.to_csv(index=False)
        for key, content in text.items():
            _files.write_text(files[key], content, overwrite=overwrite)
        for name, f in self.fits.items():
            f.save(files[f"fit_{name}"], overwrite=overwrite)
        return files

    @classmethod
    def load(cls, folder: str | Path) -> Comparison:
        """Read a comparison written by :meth:`save` (or ``bayescale compare --out``).

        Parameters
        ----------
        folder : str or Path
            The folder.

        Returns
        -------
        Comparison
            Its tables, notes and fits (each reloaded with :func:`bayescale.load_fit`).
            Folders saved before the pointwise held-out densities were kept (no
            heldout.csv) load with ``heldout`` None: no extrapolation weights.

        Raises
        ------
        BayescaleError
            If the folder, its ``loo.csv`` or a fit is missing or unreadable.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise BayescaleError(f"comparison folder not found: '{folder}'")
        loo_file = folder / "loo.csv"
        if not loo_file.is_file():
            raise BayescaleError(f"'{folder}' has no loo.csv; it is not a saved comparison")
        try:
            loo = pd.read_csv(loo_file, index_col=0)
            extra = folder / "extrapolation.csv"
            extrapolation = pd.read_csv(extra) if extra.is_file() else None
            heldout_file = folder / "heldout.csv"
            heldout = None
            if heldout_file.is_file():
                heldout = pd.read_csv(heldout_file, dtype={"law": str, "holdout": str})
                if set(heldout.columns) != set(_HELDOUT_COLUMNS):
                    raise ValueError(
                        f"heldout.csv has columns {list(heldout.columns)}, "
                        f"expected {list(_HELDOUT_COLUMNS)}"
                    )
                heldout["log_density"] = heldout["log_density"].astype(float)
            notes_file = folder / "notes.json"
            notes = []
            if notes_file.is_file():
                notes = json.loads(notes_file.read_text("utf-8"))["notes"]
        except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError) as err:
            raise BayescaleError(f"cannot read the comparison in '{folder}': {err}") from None
        required = {"elpd_loo", "se", "elpd_diff", "dse", "weight", "pareto_k_bad"}
        if not required <= set(loo.columns):
            missing = ", ".join(sorted(required - set(loo.columns)))
            raise BayescaleError(f"'{loo_file}' lacks {missing}; it is not a saved comparison")
        loo.index = loo.index.astype(str)
        loo.index.name = "law"
        fits = {}
        for name in loo.index:
            path = folder / "fits" / f"{name}.nc"
            if not path.is_file():
                raise BayescaleError(f"'{folder}' lacks the fit of {name} ({path})")
            fits[name] = load_fit(path)
        return cls(fits, loo, extrapolation, [str(n) for n in notes], heldout)


_HELDOUT_COLUMNS = ("law", "holdout", "threshold", "run", "log_density")


def _empty_heldout() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in _HELDOUT_COLUMNS})


def _shares(weights: pd.Series) -> str:
    return ", ".join(f"{name} {float(w):.2f}" for name, w in weights.items())


def comparison_files(folder: Path, names: Sequence[str], extrapolation: bool) -> dict[str, Path]:
    """The files :meth:`Comparison.save` writes, so that callers can check them first.

    Parameters
    ----------
    folder : Path
        The comparison's folder.
    names : sequence of str
        The laws' names (one fit file each).
    extrapolation : bool
        Whether held-out scores are saved.

    Returns
    -------
    dict of str to Path
        ``loo``, ``verdict``, ``notes``, ``extrapolation`` and ``heldout`` (if any) and
        ``fit_<law>``.
    """
    files = {
        "loo": folder / "loo.csv",
        "verdict": folder / "verdict.txt",
        "notes": folder / "notes.json",
    }
    if extrapolation:
        files["extrapolation"] = folder / "extrapolation.csv"
        files["heldout"] = folder / "heldout.csv"
    for name in names:
        files[f"fit_{name}"] = folder / "fits" / f"{name}.nc"
    return files


def _check_names(names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise DataError(
                f"law name {name!r} cannot name a comparison's row and file; use letters, "
                f"digits, '_', '.' and '-' (e.g. Law.from_formula(..., name='my_law'))"
            )
        if name in seen:
            raise DataError(
                f"two laws are named {name!r}; give each a distinct name "
                f"(Law.from_formula(..., name=...), or fits={{'a': fit_a, 'b': fit_b}})"
            )
        seen.add(name)


def compare(
    fits: Mapping[str, Fit] | Runs | pd.DataFrame | str | None = None,
    laws: Sequence[str | Law] | None = None,
    *,
    holdout_above: Mapping[str, float | Sequence[float]] | None = None,
    sampler: SamplerSettings | Mapping[str, Any] | None = None,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    target_accept: float | None = None,
    discrepancy: str | None = "auto",
    levels: Sequence[float] = (0.5, 0.8, 0.9),
) -> Comparison:
    """Compare law forms by PSIS-LOO with stacking weights and, optionally, by extrapolation.

    Parameters
    ----------
    fits : mapping of str to Fit, or runs
        Fits of several laws to the same runs, e.g. ``{"chinchilla": fit_a, "kaplan":
        fit_b}``; or the runs (Runs, DataFrame or path), in which case every law in ``laws``
        is fitted to them.
    laws : sequence of str or Law, optional
        Laws to fit when ``fits`` are runs; needed for extrapolation scores. Their names
        must differ.
    holdout_above : mapping, optional
        ``{input: threshold or thresholds}``, e.g. ``{"C": [1e20, 1e21]}``: for each
        threshold, fit every law on the runs at or below it and score the runs above it
        (see :func:`score`). ``C`` may be used when the runs have N and D. Laws given as
        fits are refitted with their own priors, and their own sampler settings unless
        settings are given here.
    sampler : SamplerSettings or mapping, optional
        Sampler settings of the fits made here (see :class:`~bayescale.SamplerSettings`);
        the keywords below, when given, override it.
    priors : mapping, optional
        Replacement priors per law name, ``{"chinchilla": {"alpha": {...}}}``.
    draws, tune, chains, seed : int, optional
        Sampler settings of the fits made here.
    target_accept : float, optional
        Sampler step-size target of the fits made here.
    discrepancy : {"auto", "backtest", "none"}, default "auto"
        Model discrepancy of the fits made here (see :func:`bayescale.fit`); laws given as
        fits are refitted with their own. Held-out scores then judge the discrepancy-aware
        predictive distribution.
    levels : sequence of float
        Predictive-interval levels whose coverage is scored.

    Returns
    -------
    Comparison
        Tables, stacking weights (on PSIS-LOO, and with held-out runs on them too:
        :attr:`Comparison.extrapolation_weights`), the pointwise held-out densities, fits
        and a verdict.

    Raises
    ------
    DataError
        If fits were made on different runs, two laws share a name, a setting is out of
        range, or a threshold leaves nothing to fit or score.
    """
    settings = SamplerSettings.of(
        sampler, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept
    )
    levels = check_levels(levels, "levels")
    priors = dict(priors or {})
    if isinstance(fits, Mapping):
        _check_names(list(fits))
        fitted = dict(fits)
        law_objects = {name: f.law for name, f in fitted.items()}
        runs = next(iter(fitted.values())).runs if fitted else None
        explicit = sampler is not None or any(
            v is not None for v in (draws, tune, chains, seed, target_accept)
        )
        refit = {name: settings if explicit else f.sampler for name, f in fitted.items()}
        kinds = {name: f.settings.get("discrepancy") for name, f in fitted.items()}
    else:
        if fits is None or not laws:
            raise DataError("give fits={'name': fit, ...}, or runs and laws=[...] to fit")
        runs = fits if isinstance(fits, Runs) else load_runs(fits)
        law_objects = {}
        names = []
        for entry in laws:
            law = get_law(entry)
            names.append(law.name)
            law_objects[law.name] = law
        _check_names(names)
        unknown = sorted(set(priors) - set(law_objects))
        if unknown:
            raise DataError(
                f"priors name laws that are not compared: {', '.join(unknown)}; "
                f"the laws are {', '.join(law_objects)}"
            )
        law_objects = {
            name: law.with_priors(priors[name]) if name in priors else law
            for name, law in law_objects.items()
        }
        refit = dict.fromkeys(law_objects, settings)
        kinds = dict.fromkeys(law_objects, discrepancy)
        fitted = {
            name: fit(runs, law, sampler=settings, discrepancy=discrepancy)
            for name, law in law_objects.items()
        }
    if len(fitted) < 2:
        raise DataError("compare needs at least two laws")
    loo = _loo_table(fitted)
    extrapolation = None
    notes: list[str] = []
    mixed = len(_scales(list(law_objects.values()))) > 1
    if mixed:
        notes.append(
            "The laws' noise differs (multiplicative on log y, additive on y): their log "
            "densities are all of y itself, the log-scale laws' including the Jacobian 1/y."
        )
    heldout = None
    if holdout_above:
        rows = []
        pointwise = []
        for name, threshold, train, held in _holdout_splits(runs, holdout_above):
            test, positions = runs.subset(held), np.flatnonzero(held)
            for law_name, law in law_objects.items():
                if len(train) < law.n_parameters:
                    notes.append(
                        f"{law_name} was not scored above {name}={threshold:g}: "
                        f"{len(train)} runs are fewer than its {law.n_parameters} parameters."
                    )
                    continue
                part = fit(train, law, sampler=refit[law_name], discrepancy=kinds[law_name])
                scores, logpd = _score(part, test, levels, of_y=mixed)
                split = f"{name} > {threshold:g}"
                rows.append(
                    {
                        "law": law_name,
                        "holdout": split,
                        "threshold": threshold,
                        "n_train": len(train),
                        **scores,
                        "diagnostics_ok": part.ok,
                    }
                )
                pointwise.append(
                    pd.DataFrame(
                        {
                            "law": law_name,
                            "holdout": split,
                            "threshold": threshold,
                            "run": positions,
                            "log_density": logpd,
                        }
                    )
                )
        extrapolation = pd.DataFrame(rows)
        heldout = pd.concat(pointwise, ignore_index=True) if pointwise else _empty_heldout()
    return Comparison(fitted, loo, extrapolation, notes, heldout)


@dataclass
class Average:
    """A model-averaged forecast: posterior draws pooled from several laws by weight.

    Attributes
    ----------
    fits : dict of str to Fit
        The laws' fits.
    weights : pandas.Series
        Weight of each law (sums to 1).
    seed : int
        Seed of the draw selection and of the new-run noise.
    method : {"extrapolation", "stacking", "user"}
        Which weights these are: stacking on held-out larger runs, stacking on PSIS-LOO, or
        given by the user.
    reason : str
        Why these weights were used, in words (shown with the forecast).
    """

    fits: dict[str, Fit]
    weights: pd.Series
    seed: int = 0
    method: str = "user"
    reason: str = "weights given by the user"

    def _components(self) -> list[tuple[Fit, dict[str, np.ndarray], np.ndarray]]:
        sizes = {name: f.diagnostics.chains * f.diagnostics.draws for name, f in self.fits.items()}
        total = min(sizes.values())
        # Largest-remainder rounding: the pooled draws follow the weights as closely as possible.
        raw = self.weights * total
        counts = np.floor(raw).astype(int)
        shortfall = total - int(counts.sum())
        for name in (raw - counts).sort_values(ascending=False).index[:shortfall]:
            counts[name] += 1
        rng = np.random.default_rng(self.seed)
        components = []
        for i, (name, f) in enumerate(self.fits.items()):
            if counts[name] == 0:
                continue
            pick = rng.permutation(sizes[name])[: counts[name]]
            draws = {k: v[pick] for k, v in f.draws().items()}
            noise = f.law.likelihood.draw_noise(draws, self.seed + i)
            components.append((f, draws, noise))
        return components

    def forecast(
        self, at: Mapping[str, Any] | pd.DataFrame, level: float | Sequence[float] = 0.9
    ) -> pd.DataFrame:
        """Forecast with the pooled draws: same table as :meth:`Fit.forecast`.

        Parameters
        ----------
        at : mapping or DataFrame
            Input values; every input any of the laws needs.
        level : float or sequence of float, default 0.9
            Credible level(s).

        Returns
        -------
        pandas.DataFrame
            Inputs, law and predictive medians and intervals, ``extrapolation``; the
            weights are in ``attrs["weights"]`` (JSON), which weights they are in
            ``attrs["weights_method"]`` and why in ``attrs["weights_reason"]``.
        """
        check_levels(level)
        first = next(iter(self.fits.values()))
        points = None
        for f in self.fits.values():
            part = forecast_points(f.law, at, f.runs.compute_factor)
            points = part if points is None else points.combine_first(part)
        components = self._components()
        # Each law's own discrepancy (none: zero) joins its share of the pooled draws.
        deltas = [
            np.zeros((len(points), len(noise)))
            if f.discrepancy is None
            else f.discrepancy.log_delta(points, len(noise), self.seed + i)
            for i, (f, _, noise) in enumerate(components)
        ]
        any_discrepancy = any(f.discrepancy is not None for f, _, _ in components)
        table = mixture_table(
            [(f.law, draws, noise) for f, draws, noise in components],
            points,
            level,
            log_delta=np.concatenate(deltas, axis=1) if any_discrepancy else None,
        )
        runs = first.runs
        used = [n for n in points.columns if n in runs.inputs]
        ratios = [points[n].to_numpy() / runs.x(n).max() for n in used]
        table["extrapolation"] = np.max(ratios, axis=0) if ratios else np.nan
        table.attrs["weights"] = json.dumps({k: float(v) for k, v in self.weights.items()})
        table.attrs["weights_method"] = self.method
        table.attrs["weights_reason"] = self.reason
        failed = [name for name, f in self.fits.items() if not f.ok and self.weights[name] > 0]
        if failed:
            names = ", ".join(failed)
            message = f"averaged forecast includes fits that failed their diagnostics: {names}"
            table.attrs["warning"] = message
            warnings.warn(message, stacklevel=2)
        return table


def average(
    fits: Mapping[str, Fit] | Comparison,
    weights: Mapping[str, float] | str = "auto",
    seed: int = 0,
    comparison: Comparison | None = None,
) -> Average:
    """Average laws' forecasts by pooling their posterior draws in proportion to weights.

    Parameters
    ----------
    fits : mapping of str to Fit, or Comparison
        The laws' fits.
    weights : {"auto", "extrapolation", "stacking"} or mapping, default "auto"
        ``"extrapolation"``: stacking weights on the held-out larger runs of a comparison
        made with ``holdout_above`` (:attr:`Comparison.extrapolation_weights`), how well
        the laws forecast beyond the runs they were fitted on. ``"stacking"``: stacking
        weights on PSIS-LOO (the fits must share their runs), how well they interpolate.
        ``"auto"``: extrapolation weights when the comparison has them, else PSIS-LOO
        stacking. Or user weights ``{name: weight}`` (normalised to sum to 1).
    seed : int, default 0
        Seed of the draw selection and the new-run noise.
    comparison : Comparison, optional
        An existing comparison whose weights to reuse.

    Returns
    -------
    Average
        Call ``.forecast(at, level)``; ``.method`` and ``.reason`` say which weights were
        used and why.

    Raises
    ------
    DataError
        If weights are negative, all zero, name unknown laws or an unknown method, or
        extrapolation weights are asked of a comparison without held-out runs.
    """
    if isinstance(fits, Comparison):
        comparison, fits = fits, fits.fits
    if not isinstance(fits, Mapping) or not fits:
        raise DataError(
            f"average needs fits as {{'name': fit, ...}} (at least one) or a Comparison, "
            f"got {fits!r}"
        )
    check_seed(seed)
    fits = dict(fits)
    if isinstance(weights, str):
        series, method, reason = _named_weights(fits, weights, comparison)
    else:
        unknown = sorted(set(weights) - set(fits))
        if unknown:
            raise DataError(f"weights name unknown laws {unknown}; the fits are {list(fits)}")
        series = pd.Series({name: float(weights.get(name, 0.0)) for name in fits})
        method, reason = "user", "weights given by the user"
    if (series < 0).any() or not np.isfinite(series).all() or series.sum() <= 0:
        raise DataError(f"weights must be non-negative with a positive sum, got {series.to_dict()}")
    return Average(fits, series / series.sum(), seed, method, reason)


def _named_weights(
    fits: dict[str, Fit], weights: str, comparison: Comparison | None
) -> tuple[pd.Series, str, str]:
    """The weights ``"auto"``, ``"extrapolation"`` or ``"stacking"`` name, and why."""
    if weights not in WEIGHT_METHODS:
        raise DataError(
            f"weights must be one of {', '.join(map(repr, WEIGHT_METHODS))} or a mapping "
            f"{{law: weight}}, got {weights!r}"
        )
    extra, _, basis = (None, [], "") if comparison is None else comparison._leave_future_out()
    if weights == "extrapolation" and extra is None:
        raise DataError(
            "extrapolation weights need a comparison with held-out larger runs: "
            "compare(runs, laws=[...], holdout_above={'C': [...]}), then .average()"
        )
    if weights != "stacking" and extra is not None:
        return extra.reindex(list(fits)).fillna(0.0), "extrapolation", basis
    comparison = comparison or Comparison(fits, _loo_table(fits))
    reason = "stacking on PSIS-LOO: how well each law predicts a left-out run among the others"
    if weights == "auto":
        reason += " (no held-out larger runs to judge extrapolation)"
    return comparison.weights.reindex(list(fits)).fillna(0.0), "stacking", reason


def compare_pooling(
    runs: Runs,
    law: Law | str = "chinchilla",
    test: Runs | None = None,
    choices: Sequence[str] = ("none", "partial", "complete"),
    levels: Sequence[float] = (0.5, 0.8, 0.9),
    **fit_options: Any,
) -> pd.DataFrame:
    """Fit grouped runs with each pooling choice and tabulate LOO and held-out scores.

    Parameters
    ----------
    runs : Runs
        Runs in groups (``load_runs(..., group=...)``).
    law : Law or str, default "chinchilla"
        The law.
    test : Runs, optional
        Held-out runs in the same groups, scored with :func:`score`.
    choices : sequence of str, default ("none", "partial", "complete")
        Pooling choices (see :meth:`bayescale.hierarchy.Pooling.of`; mappings are not
        accepted here, as they make no row name).
    levels : sequence of float, default (0.5, 0.8, 0.9)
        Levels of the intervals whose held-out coverage is reported.
    **fit_options
        Passed to :func:`bayescale.fit` (draws, tune, chains, seed ...).

    Returns
    -------
    pandas.DataFrame
        One row per choice: ``elpd_loo`` and ``p_loo`` (PSIS-LOO on ``runs``),
        ``pareto_k_bad`` (runs with k > 0.7), ``diagnostics_ok`` and, with ``test``, the
        columns of :func:`score` (``elpd``, ``mare``, ``coverage_90`` ...).

    Raises
    ------
    DataError
        If the runs have no groups.
    """
    import arviz as az

    if runs.group is None:
        raise DataError("compare_pooling needs runs in groups: load_runs(..., group='<column>')")
    rows = []
    for choice in choices:
        result = fit(runs, law, pooling=choice, **fit_options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loo = az.loo(result.with_log_likelihood(), pointwise=True)
        row: dict[str, Any] = {
            "pooling": choice,
            "elpd_loo": float(loo.elpd_loo),
            "p_loo": float(loo.p_loo),
            "pareto_k_bad": int((np.asarray(loo.pareto_k) > PARETO_K_BAD).sum()),
            "diagnostics_ok": result.ok,
        }
        if test is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row.update(score(result, test, levels))
        rows.append(row)
    return pd.DataFrame(rows).set_index("pooling")
