"""Fit a law to runs: posterior sampling, diagnostics, summaries, forecasts, save and load."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayescale._files import temporary_beside
from bayescale.data import Runs, load_runs
from bayescale.errors import BayescaleError, ConvergenceError, DataError, OutputExistsError
from bayescale.forecast import forecast_points, forecast_table, new_run_noise
from bayescale.laws import Law, get_law

__all__ = ["Diagnostics", "Fit", "fit", "load_fit"]

FORMAT_VERSION = 1
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100  # Vehtari et al. 2021: bulk and tail ESS above 100 per chain
_PACKAGES = ("bayescale", "pymc", "pytensor", "nutpie", "arviz", "numpy", "pandas", "pymc-extras")


def package_versions(packages: Sequence[str] = _PACKAGES) -> dict[str, str]:
    """Return the Python version and the installed version of each package.

    Parameters
    ----------
    packages : sequence of str
        Distribution names; default: those a fit depends on.

    Returns
    -------
    dict of str to str
        ``{"python": ..., package: version or "not installed"}``.
    """
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of a fit, computed every time.

    Parameters
    ----------
    table : pandas.DataFrame
        Per parameter: ``r_hat``, ``ess_bulk``, ``ess_tail``.
    divergences : int
        Divergent transitions after tuning.
    chains, draws : int
        Chains and draws per chain.
    """

    table: pd.DataFrame
    divergences: int
    chains: int
    draws: int

    @property
    def ess_min(self) -> float:
        """Minimum ESS asked of bulk and tail: 100 per chain."""
        return float(ESS_PER_CHAIN_MIN * self.chains)

    @property
    def problems(self) -> list[str]:
        """What failed, in words, with what to do; empty if the fit passes."""
        found = []
        rhat = self.table["r_hat"]
        if self.chains > 1 and (rhat.isna().any() or (rhat > RHAT_MAX).any()):
            worst = rhat.fillna(np.inf).idxmax()
            found.append(
                f"R-hat of {worst} is {rhat[worst]:.3f} (> {RHAT_MAX}): chains disagree; "
                f"run longer (more tune/draws)"
            )
        for kind in ("ess_bulk", "ess_tail"):
            ess = self.table[kind]
            if (ess < self.ess_min).any():
                worst = ess.idxmin()
                found.append(
                    f"{kind.replace('_', ' ')} of {worst} is {ess[worst]:.0f} "
                    f"(< {self.ess_min:.0f}): take more draws"
                )
        if self.divergences:
            found.append(
                f"{self.divergences} divergent transitions: the posterior may be biased; "
                f"raise target_accept (e.g. 0.95) or tighten the priors"
            )
        return found

    @property
    def ok(self) -> bool:
        """True when R-hat, ESS and divergences all pass."""
        return not self.problems

    def verdict(self) -> str:
        """Return a one-line verdict for summaries and reports."""
        if self.ok:
            return (
                f"diagnostics pass: R-hat <= {RHAT_MAX}, bulk/tail ESS >= {self.ess_min:.0f}, "
                f"no divergences ({self.chains} chains x {self.draws} draws)"
            )
        return "DIAGNOSTICS FAIL: " + "; ".join(self.problems)

    @classmethod
    def of(cls, idata: Any, var_names: Sequence[str]) -> Diagnostics:
        """Compute the diagnostics of a posterior.

        Parameters
        ----------
        idata : arviz.InferenceData
            With ``posterior`` and ``sample_stats``.
        var_names : sequence of str
            Variables to check.

        Returns
        -------
        Diagnostics
            The diagnostics.
        """
        import arviz as az

        post = idata.posterior[list(var_names)]
        table = pd.DataFrame(
            {
                "r_hat": az.rhat(post).to_pandas(),
                "ess_bulk": az.ess(post, method="bulk").to_pandas(),
                "ess_tail": az.ess(post, method="tail").to_pandas(),
            }
        )
        diverging = idata.sample_stats.get("diverging")
        return cls(
            table=table,
            divergences=int(diverging.sum()) if diverging is not None else 0,
            chains=int(post.sizes["chain"]),
            draws=int(post.sizes["draw"]),
        )


@dataclass
class Fit:
    """A posterior of a law given runs, with what is needed to reproduce it.

    Made by :func:`fit` or :func:`load_fit`; not meant to be built by hand.

    Attributes
    ----------
    law : Law
        The law, with the priors used.
    runs : Runs
        The runs it was fitted to.
    idata : arviz.InferenceData
        ``posterior``, ``sample_stats``, ``prior``, ``observed_data`` (log of the measured
        values), ``constant_data`` (inputs) and ``log_likelihood`` (for PSIS-LOO).
    log_ref : dict of str to float
        Log reference scale of the inputs that reference-scale parameters are stated at.
    seed : int
        Seed of the sampler and of forecasts.
    settings : dict
        Sampler settings (draws, tune, chains, target_accept, sampler).
    diagnostics : Diagnostics
        R-hat, ESS and divergences.
    info : dict
        Package versions, creation time and the command line that made the fit.
    """

    law: Law
    runs: Runs
    idata: Any
    log_ref: dict[str, float]
    seed: int
    settings: dict[str, Any]
    diagnostics: Diagnostics = field(init=False)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.diagnostics = Diagnostics.of(self.idata, self.parameter_names)

    # ------------------------------------------------------------------ views

    @property
    def parameter_names(self) -> list[str]:
        """Law parameters then noise parameters, as named in the posterior."""
        return [*self.law.parameters, *self.law.likelihood.noise_names]

    @property
    def ok(self) -> bool:
        """True when the diagnostics pass; forecasts of a failed fit carry a warning."""
        return self.diagnostics.ok

    def draws(self, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Return posterior draws flattened over chains.

        Parameters
        ----------
        names : sequence of str, optional
            Variables; default :attr:`parameter_names`.

        Returns
        -------
        dict of str to numpy.ndarray
            Each of shape ``(chains * draws,)``.
        """
        post = self.idata.posterior
        return {
            name: np.asarray(post[name].values, dtype=float).reshape(-1)
            for name in (names or self.parameter_names)
        }

    def summary(self, level: float = 0.9) -> pd.DataFrame:
        """Return the table of parameters: role, mean, sd, median, HDI, R-hat, ESS.

        Parameters
        ----------
        level : float, default 0.9
            Probability of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row per parameter (law parameters, then the noise ``sigma`` and ``nu``).
        """
        import arviz as az

        post = self.idata.posterior[self.parameter_names]
        hdi = az.hdi(post, hdi_prob=level)
        tag = f"{100 * level:.10g}"
        rows = []
        for name in self.parameter_names:
            values = post[name].values.reshape(-1)
            role = self.law.parameters[name].role if name in self.law.parameters else "noise"
            low, high = (float(v) for v in hdi[name].values)
            rows.append(
                {
                    "parameter": name,
                    "role": role,
                    "mean": float(values.mean()),
                    "sd": float(values.std(ddof=1)),
                    "median": float(np.median(values)),
                    f"hdi_{tag}_lower": low,
                    f"hdi_{tag}_upper": high,
                    "r_hat": float(self.diagnostics.table.loc[name, "r_hat"]),
                    "ess_bulk": float(self.diagnostics.table.loc[name, "ess_bulk"]),
                    "ess_tail": float(self.diagnostics.table.loc[name, "ess_tail"]),
                }
            )
        return pd.DataFrame(rows).set_index("parameter")

    def __repr__(self) -> str:
        return (
            f"<Fit law={self.law.name!r} runs={len(self.runs)} "
            f"draws={self.diagnostics.chains}x{self.diagnostics.draws} "
            f"{'ok' if self.ok else 'FAILED DIAGNOSTICS'}>"
        )

    # ------------------------------------------------------------------ forecast

    def forecast(
        self,
        at: Mapping[str, Any] | pd.DataFrame,
        level: float | Sequence[float] = 0.9,
        seed: int | None = None,
    ) -> pd.DataFrame:
        """Forecast the loss at new scales, with credible and predictive intervals.

        Parameters
        ----------
        at : mapping or DataFrame
            Input values, e.g. ``{"N": [7e10], "D": [1.4e12]}``; of N, D and C any two
            are enough.
        level : float or sequence of float, default 0.9
            Credible level(s).
        seed : int, optional
            Seed of the new-run noise; default: the fit's seed, so that a fit and its
            reloaded copy give identical forecasts.

        Returns
        -------
        pandas.DataFrame
            Inputs, ``law_median``, ``law_mean``, ``law_lower_90`` ... (the law's credible
            interval), ``pred_median``, ``pred_lower_90`` ... (a new run's predictive
            interval), and ``extrapolation``: the largest ratio of an input to the largest
            value of that input in the runs (above 1: beyond the data). ``attrs`` holds
            ``diagnostics_ok`` and, for a failed fit, ``warning``.
        """
        points = forecast_points(self.law, at, self.runs.compute_factor)
        draws = self.draws()
        lik = self.law.likelihood
        noise = new_run_noise(
            lik.family,
            draws["sigma"],
            draws.get("nu"),
            self.seed if seed is None else seed,
        )
        table = forecast_table(self.law, draws, noise, points, level)
        ratios = [points[name].to_numpy() / self.runs.x(name).max() for name in self.law.inputs]
        table["extrapolation"] = np.max(ratios, axis=0)
        table.attrs["law"] = self.law.name
        table.attrs["diagnostics_ok"] = self.ok
        if not self.ok:
            message = (
                f"forecast from a fit that failed its diagnostics: {self.diagnostics.verdict()}"
            )
            table.attrs["warning"] = message
            warnings.warn(message, stacklevel=2)
        return table

    # ------------------------------------------------------------------ compute planning

    def compute_optimal(
        self,
        C: float | Sequence[float],
        level: float | Sequence[float] = 0.9,
        fixed: Mapping[str, float] | None = None,
        method: str = "auto",
    ) -> pd.DataFrame:
        """Posterior of the compute-optimal split of each budget between N and D.

        Parameters
        ----------
        C : float or sequence of float
            Compute budgets in FLOPs, with ``C = k N D`` (``k`` = the runs' compute factor).
        level : float or sequence of float, default 0.9
            Credible level(s).
        fixed : mapping, optional
            Values of the law's inputs other than N and D (e.g. unique tokens ``U``).
        method : {"auto", "closed_form", "numerical"}
            ``auto``: closed form for the Chinchilla law, numerical search otherwise.

        Returns
        -------
        pandas.DataFrame
            One row per budget: ``C`` and the median and interval of ``N``, ``D``,
            ``tokens_per_parameter`` and ``loss`` (the law's loss at the optimum).
        """
        from bayescale.planning import optimum_draws, summarise, table

        budgets = np.atleast_1d(np.asarray(C, dtype=float))
        draws = self.draws(list(self.law.parameters))
        optimum = optimum_draws(self.law, draws, budgets, self.runs.compute_factor, fixed, method)
        columns: dict[str, Any] = {"C": budgets}
        for name in ("N", "D", "tokens_per_parameter", "loss"):
            columns.update(summarise(optimum[name], name, level))
        return table(columns)

    def budget_for(
        self,
        target_loss: float | Sequence[float],
        level: float | Sequence[float] = 0.9,
        fixed: Mapping[str, float] | None = None,
    ) -> pd.DataFrame:
        """Posterior of the compute needed to reach a target loss on the optimal frontier.

        Parameters
        ----------
        target_loss : float or sequence of float
            Target loss(es) of the law (the average run at that scale).
        level : float or sequence of float, default 0.9
            Credible level(s).
        fixed : mapping, optional
            Values of the law's inputs other than N and D.

        Returns
        -------
        pandas.DataFrame
            One row per target: median and interval of ``C``, ``N`` and ``D`` at the
            optimum, and ``prob_unreachable``: the share of the posterior in which the
            target is at or below the floor (or beyond 1e40 FLOPs). Intervals reaching such
            draws show ``inf``.
        """
        from bayescale.planning import budget_draws, summarise, table

        targets = np.atleast_1d(np.asarray(target_loss, dtype=float))
        draws = self.draws(list(self.law.parameters))
        rows = []
        for target in targets:
            found = budget_draws(self.law, draws, float(target), self.runs.compute_factor, fixed)
            row: dict[str, Any] = {"target_loss": target}
            row.update(summarise(found["C"], "C", level))
            # N and D are undefined where the target is out of reach; those draws sort last.
            for name in ("N", "D"):
                row.update(
                    summarise(np.where(np.isnan(found[name]), np.inf, found[name]), name, level)
                )
            row["prob_unreachable"] = float(np.isinf(found["C"]).mean())
            rows.append({k: np.asarray(v).item() for k, v in row.items()})
        return table({k: [r[k] for r in rows] for k in rows[0]})

    def prob_below(
        self,
        target_loss: float,
        *,
        N: float | Sequence[float] | None = None,
        D: float | Sequence[float] | None = None,
        C: float | Sequence[float] | None = None,
        fixed: Mapping[str, float] | None = None,
    ) -> pd.DataFrame:
        """Probability of reaching a target loss: by the law, and by one new run.

        Parameters
        ----------
        target_loss : float
            The target.
        N, D, C : float or sequence of float, optional
            Where: two of N, D, C (``C = k N D``), or C alone for the compute-optimal split
            of each draw.
        fixed : mapping, optional
            Values of the law's other inputs.

        Returns
        -------
        pandas.DataFrame
            The inputs, ``target_loss``, ``prob_law_below`` (the law's loss, i.e. the
            average run, is below the target) and ``prob_run_below`` (one new run is, noise
            included: the probability a single training run meets the target).
        """
        from bayescale.planning import optimum_draws, prob_below_draws

        target = float(target_loss)
        if not np.isfinite(target) or target <= 0:
            raise DataError(f"target loss must be a positive number, got {target_loss!r}")
        draws = self.draws()
        theta = {name: draws[name] for name in self.law.parameters}
        given = {k: v for k, v in {"N": N, "D": D, "C": C}.items() if v is not None}
        if set(given) == {"C"}:
            budgets = np.atleast_1d(np.asarray(C, dtype=float))
            optimum = optimum_draws(self.law, theta, budgets, self.runs.compute_factor, fixed)
            values = optimum["loss"]
            points = pd.DataFrame({"C": budgets})
        else:
            points = forecast_points(self.law, {**given, **(fixed or {})}, self.runs.compute_factor)
            x = {name: points[name].to_numpy()[None, :] for name in self.law.inputs}
            values = self.law.predict({k: v[:, None] for k, v in theta.items()}, x)
        lik = self.law.likelihood
        law_p, run_p = prob_below_draws(values, target, lik.family, draws["sigma"], draws.get("nu"))
        out = points.copy()
        out["target_loss"] = target
        out["prob_law_below"] = law_p
        out["prob_run_below"] = run_p
        return out

    # ------------------------------------------------------------------ persistence

    def _metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "law": self.law.to_dict(),
            "runs": self.runs.to_dict(),
            "log_ref": self.log_ref,
            "seed": self.seed,
            "settings": self.settings,
            "info": self.info,
        }

    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the fit to one NetCDF file (data, law, priors, seed, versions).

        The file is written next to its destination and then renamed, so a failed write
        never leaves a broken file and never damages an existing one.

        Parameters
        ----------
        path : str or PathLike
            Destination, conventionally ``*.nc``.
        overwrite : bool, default False
            Replace an existing file.

        Returns
        -------
        Path
            The path written.

        Raises
        ------
        OutputExistsError
            If the file exists and ``overwrite`` is False.
        BayescaleError
            If the folder does not exist or is not writable.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputExistsError(
                f"'{path}' exists already; choose another name or allow overwriting "
                f"(overwrite=True, or --force on the command line)"
            )
        if not path.parent.is_dir():
            raise BayescaleError(f"folder '{path.parent}' does not exist; create it first")
        idata = self.idata.copy()
        idata.posterior.attrs["bayescale"] = json.dumps(self._metadata())
        tmp = temporary_beside(path)
        try:
            idata.to_netcdf(tmp, engine="h5netcdf")
            os.replace(tmp, path)
        except OSError as err:
            raise BayescaleError(f"cannot write '{path}': {err}") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path


def _idata_groups(law: Law, runs: Runs, posterior: xr.Dataset) -> dict[str, xr.Dataset]:
    """Observed data, inputs and pointwise log-likelihood (for LOO), computed in NumPy."""
    run = np.arange(len(runs))
    log_y = np.log(runs.y)
    post = {name: posterior[name].values for name in law.parameters}
    theta = {name: value[..., None] for name, value in post.items()}
    x = {name: runs.x(name) for name in law.inputs}
    log_mu = np.broadcast_to(law.log_mean(theta, x), (*posterior["sigma"].shape, len(runs)))
    sigma = posterior["sigma"].values[..., None]
    if law.likelihood.family == "student_t":
        nu = posterior["nu"].values[..., None]
        loglik = stats.t.logpdf(log_y, df=nu, loc=log_mu, scale=sigma)
    else:
        loglik = stats.norm.logpdf(log_y, loc=log_mu, scale=sigma)
    dims = ("chain", "draw", "run")
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values, "run": run}
    return {
        "observed_data": xr.Dataset({"y": (("run",), log_y)}, coords={"run": run}),
        "constant_data": xr.Dataset(
            {name: (("run",), value) for name, value in x.items()}
            | {runs.y_name if runs.y_name not in x else "y_raw": (("run",), runs.y)},
            coords={"run": run},
        ),
        "log_likelihood": xr.Dataset({"y": (dims, loglik)}, coords=coords),
    }


def fit(
    runs: Runs | pd.DataFrame | str | os.PathLike[str],
    law: Law | str = "chinchilla",
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    priors: Mapping[str, Any] | None = None,
    target_accept: float = 0.95,
    prior_draws: int = 500,
    strict: bool = False,
    progress: bool = False,
    command: str | None = None,
) -> Fit:
    """Sample the posterior of a scaling law given observed runs.

    Parameters
    ----------
    runs : Runs, DataFrame or path
        The runs (see :func:`bayescale.load_runs`); a DataFrame or path is read with the
        default mapping (columns named N, D, C, U, and ``loss``).
    law : Law or str, default "chinchilla"
        A Law, a catalog name, or the path of a ``.toml`` law file.
    draws, tune, chains : int
        Draws kept and tuning steps per chain, and chains (run in parallel on the cores).
    seed : int, default 0
        Seed of the sampler, the prior draws and forecasts.
    priors : mapping, optional
        Replacement priors, ``{name: Prior or {"dist": ...}}`` (see :meth:`Law.with_priors`).
    target_accept : float, default 0.95
        Sampler step-size target.
    prior_draws : int, default 500
        Draws from the prior kept in ``idata.prior`` (0 to skip).
    strict : bool, default False
        Raise :class:`~bayescale.errors.ConvergenceError` if the diagnostics fail, instead
        of returning a flagged fit.
    progress : bool, default False
        Show the sampler's progress bar.
    command : str, optional
        The command line that asked for the fit, recorded for reproducibility.

    Returns
    -------
    Fit
        Posterior, diagnostics, law and runs.

    Raises
    ------
    DataError
        If the runs lack an input of the law or have fewer rows than the law has parameters.
    ConvergenceError
        If ``strict`` and the diagnostics fail.

    Examples
    --------
    >>> import bayescale
    >>> runs = bayescale.load_runs("runs.csv", x={"N": "params", "D": "tokens"}, y="loss")
    >>> result = bayescale.fit(runs, "chinchilla")  # doctest: +SKIP
    >>> result.forecast({"N": 7e10, "D": 1.4e12})  # doctest: +SKIP
    """
    if not isinstance(runs, Runs):
        runs = load_runs(runs)
    law = get_law(law)
    if priors:
        law = law.with_priors(priors)
    for name, value in {"draws": draws, "tune": tune, "chains": chains}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataError(f"{name} must be a whole number >= 1, got {value!r}")
    if not 0.5 <= target_accept < 1.0:
        raise DataError(f"target_accept must be in [0.5, 1), got {target_accept}")
    runs.require(list(law.inputs), law.n_parameters, law.name)

    from bayescale.model import log_reference, sample_posterior, sample_prior

    log_ref = log_reference(law, runs)
    idata = sample_posterior(
        law,
        runs,
        log_ref,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
        progress=progress,
    )
    groups = _idata_groups(law, runs, idata.posterior)
    if prior_draws:
        groups["prior"] = sample_prior(law, runs, log_ref, prior_draws, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        idata.add_groups(groups)
    settings = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "target_accept": target_accept,
        "sampler": "nutpie (NUTS, low-rank modified mass matrix)",
        "prior_draws": prior_draws,
    }
    info = {
        "versions": package_versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command or "",
        "data_fingerprint": runs.fingerprint(),
    }
    result = Fit(law, runs, idata, log_ref, seed, settings, info)
    if strict and not result.ok:
        raise ConvergenceError(f"law {law.name!r}: {result.diagnostics.verdict()}")
    return result


def load_fit(path: str | os.PathLike[str]) -> Fit:
    """Read a fit written by :meth:`Fit.save`.

    Parameters
    ----------
    path : str or PathLike
        The ``.nc`` file.

    Returns
    -------
    Fit
        The fit; its forecasts are identical to those of the fit that was saved.

    Raises
    ------
    BayescaleError
        If the file is missing, not NetCDF, or not a bayescale fit.
    """
    import arviz as az

    path = Path(path)
    if not path.is_file():
        raise BayescaleError(f"fit file not found: '{path}'")
    try:
        idata = az.from_netcdf(path, engine="h5netcdf")
        idata.load()
        meta = json.loads(idata.posterior.attrs["bayescale"])
    except (OSError, ValueError, KeyError, AttributeError) as err:
        raise BayescaleError(
            f"'{path}' is not a bayescale fit file (written by Fit.save or 'bayescale fit'): "
            f"{type(err).__name__}"
        ) from None
    if meta.get("format") != FORMAT_VERSION:
        raise BayescaleError(
            f"'{path}' has fit format {meta.get('format')}; this bayescale reads {FORMAT_VERSION}"
        )
    return Fit(
        law=Law.from_dict(meta["law"]),
        runs=Runs.from_dict(meta["runs"]),
        idata=idata,
        log_ref={k: float(v) for k, v in meta["log_ref"].items()},
        seed=int(meta["seed"]),
        settings=dict(meta["settings"]),
        info=dict(meta["info"]),
    )
