"""The methods bayescale is measured against: the Huber/L-BFGS point fit (with a bootstrap) and
NumPyro on the same Bayesian model.

Point fit (Hoffmann et al. 2022, Approach 3, as replicated by Besiroglu et al. 2024,
arXiv:2404.10102): minimise ``sum_i Huber_delta(log L(x_i; theta) - log y_i)`` with
``delta = 1e-3`` by L-BFGS-B (SciPy) from every point of a grid of initialisations, keeping the
best; the Chinchilla law is written ``log L = LSE(a - alpha log N, b - beta log D, e)`` with
``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``. Their grid: alpha, beta in {0, 0.5, ..., 2},
e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25} (4,500 starts). Intervals come from a
bootstrap over runs (each resample refitted from the full fit's optimum, percentile intervals);
predictive intervals add the full fit's residuals on log loss, resampled (the empirical noise
distribution), to the bootstrap law draws.

NumPyro: bayescale's Chinchilla model written in NumPyro: the same priors, reference-scale
amplitudes (``A_ref = A N_ref**-alpha`` with ``log N_ref`` the mean of ``log N``), Student-t
likelihood on log loss, ``log L = LSE(log E, log A_ref - alpha (log N - log N_ref),
log B_ref - beta (log D - log D_ref))``. NumPyro's positive-support transform (exp) gives the
same unconstrained space as PyMC's log transform, so both samplers see the same posterior.

JAX and NumPyro are imported only inside the functions that need them (they are optional).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = [
    "CHINCHILLA_PRIORS",
    "HUBER_DELTA",
    "POINT_LAWS",
    "PointFit",
    "bootstrap",
    "huber_fit",
    "numpyro_chinchilla_model",
    "numpyro_data",
    "numpyro_draws",
    "numpyro_mcmc",
    "numpyro_sample",
    "numpyro_warmup",
    "point_forecast",
]

HUBER_DELTA = 1e-3

# --------------------------------------------------------------------------- point-fit laws


def _lse_weights(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``logsumexp`` over the first axis and the softmax weights (the gradient of the LSE)."""
    top = terms.max(axis=0)
    shifted = np.exp(terms - top)
    total = shifted.sum(axis=0)
    return top + np.log(total), shifted / total


def _chinchilla(
    theta: np.ndarray, x: Mapping[str, np.ndarray], grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    # Written out term by term (no stacking): this is the inner loop of 4,500 L-BFGS runs.
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    log_n, log_d = x["log_N"], x["log_D"]
    t1 = a - alpha * log_n
    t2 = b - beta * log_d
    top = np.maximum(np.maximum(t1, t2), e)
    s1, s2, s3 = np.exp(t1 - top), np.exp(t2 - top), np.exp(e - top)
    total = s1 + s2 + s3
    lse = top + np.log(total)
    if not grad:
        return lse, None
    w1, w2 = s1 / total, s2 / total
    return lse, np.stack([w1, w2, s3 / total, -w1 * log_n, -w2 * log_d])


def _effective_data(r: np.ndarray, x: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``log D'`` of Muennighoff et al. and its derivative with respect to ``log R``."""
    R = np.exp(r)
    u, excess = x["U_eff"], x["excess"]  # excess = D / U' - 1 >= 0
    decay = np.exp(-excess / R)
    d_eff = u * (1.0 + R * (1.0 - decay))
    d_deff_dr = u * R * ((1.0 - decay) - (excess / R) * decay)
    return np.log(d_eff), d_deff_dr / d_eff


def _data_constrained(
    theta: np.ndarray, x: Mapping[str, np.ndarray], grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    a, b, e, alpha, beta, r = (theta[..., i, None] for i in range(6))
    log_deff, dlog_deff_dr = _effective_data(r, x)
    terms = np.stack(
        np.broadcast_arrays(a - alpha * x["log_N"], b - beta * log_deff, e + 0.0 * log_deff)
    )
    lse, w = _lse_weights(terms)
    if not grad:
        return lse, None
    jac = np.stack(
        [w[0], w[1], w[2], -w[0] * x["log_N"], -w[1] * log_deff, -w[1] * beta * dlog_deff_dr]
    )
    return lse, jac


def _chinchilla_natural(theta: np.ndarray) -> dict[str, np.ndarray]:
    a, b, e, alpha, beta = (theta[..., i] for i in range(5))
    return {"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": alpha, "beta": beta}


def _data_constrained_natural(theta: np.ndarray) -> dict[str, np.ndarray]:
    return {**_chinchilla_natural(theta[..., :5]), "R": np.exp(theta[..., 5])}


def _grid(*axes: Sequence[float]) -> np.ndarray:
    return np.array(list(itertools.product(*axes)), dtype=float)


#: Besiroglu et al.'s grid, in the order (a, b, e, alpha, beta).
BESIROGLU_GRID = {
    "a": np.arange(0.0, 26.0, 5.0),
    "b": np.arange(0.0, 26.0, 5.0),
    "e": np.arange(-1.0, 1.01, 0.5),
    "alpha": np.arange(0.0, 2.01, 0.5),
    "beta": np.arange(0.0, 2.01, 0.5),
}
#: A thinned grid (every other value) for smoke runs: 3 x 3 x 3 x 3 x 3 = 243 starts.
THIN_GRID = {
    "a": np.array([0.0, 10.0, 20.0]),
    "b": np.array([0.0, 10.0, 20.0]),
    "e": np.array([-1.0, 0.0, 1.0]),
    "alpha": np.array([0.0, 1.0, 2.0]),
    "beta": np.array([0.0, 1.0, 2.0]),
}
#: log R of the data-constrained law's grid: R in {5, 15, 50} (Muennighoff et al. fit 15.4).
LOG_R_GRID = np.log([5.0, 15.0, 50.0])


@dataclass(frozen=True)
class PointLaw:
    """A law for the point fit: its log mean and gradient, written out in NumPy.

    Attributes
    ----------
    name : str
        Name (as in bayescale's catalog).
    inputs : tuple of str
        Inputs read from the runs' table.
    parameters : tuple of str
        Internal parameters, in the optimiser's order (logs of positive amplitudes).
    log_mean : callable
        ``(theta, x, grad) -> (log L, d log L / d theta or None)``; ``theta`` of shape
        ``(..., k)`` broadcasts against the points.
    natural : callable
        Internal parameters to the law's own (``E``, ``A``, ...).
    grid : callable
        ``thin -> (starts, k)`` array of initialisations.
    """

    name: str
    inputs: tuple[str, ...]
    parameters: tuple[str, ...]
    log_mean: Callable[..., tuple[np.ndarray, np.ndarray | None]]
    natural: Callable[[np.ndarray], dict[str, np.ndarray]]
    grid: Callable[[bool], np.ndarray]

    def prepare(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The logs (and derived columns) of the inputs that :attr:`log_mean` reads."""
        x = {f"log_{name}": np.log(frame[name].to_numpy(dtype=float)) for name in self.inputs}
        if "U" in self.inputs:
            d, u = frame["D"].to_numpy(dtype=float), frame["U"].to_numpy(dtype=float)
            x["U_eff"] = np.minimum(u, d)
            x["excess"] = d / x["U_eff"] - 1.0
        return x


def _chinchilla_grid(thin: bool) -> np.ndarray:
    g = THIN_GRID if thin else BESIROGLU_GRID
    return _grid(g["a"], g["b"], g["e"], g["alpha"], g["beta"])


def _data_constrained_grid(thin: bool) -> np.ndarray:
    g = THIN_GRID if thin else BESIROGLU_GRID
    return _grid(g["a"], g["b"], g["e"], g["alpha"], g["beta"], LOG_R_GRID)


POINT_LAWS: dict[str, PointLaw] = {
    "chinchilla": PointLaw(
        "chinchilla",
        ("N", "D"),
        ("a", "b", "e", "alpha", "beta"),
        _chinchilla,
        _chinchilla_natural,
        _chinchilla_grid,
    ),
    "data_constrained": PointLaw(
        "data_constrained",
        ("N", "D", "U"),
        ("a", "b", "e", "alpha", "beta", "log_R"),
        _data_constrained,
        _data_constrained_natural,
        _data_constrained_grid,
    ),
}

# --------------------------------------------------------------------------- Huber fit


def huber_objective(
    theta: np.ndarray, law: PointLaw, x: Mapping[str, np.ndarray], log_y: np.ndarray
) -> tuple[float, np.ndarray]:
    """Sum of Huber losses of the log residuals, and its gradient.

    Parameters
    ----------
    theta : numpy.ndarray
        Internal parameters, shape ``(k,)``.
    law : PointLaw
        The law.
    x : mapping
        From :meth:`PointLaw.prepare`.
    log_y : numpy.ndarray
        Log of the observed losses.

    Returns
    -------
    (float, numpy.ndarray)
        Objective and gradient; ``(inf, 0)`` where the law is not finite.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean, jac = law.log_mean(theta, x, True)
        residual = mean - log_y
        value = float(special.huber(HUBER_DELTA, residual).sum())
        # Not `jac @ g`: a BLAS call on a 5 x n matrix is slower than this (threads spin).
        grad = (jac * np.clip(residual, -HUBER_DELTA, HUBER_DELTA)).sum(axis=-1)
    if not np.isfinite(value) or not np.all(np.isfinite(grad)):
        return float("inf"), np.zeros_like(theta)
    return value, grad


#: L-BFGS-B settings for a refit that must converge (the polish of the best start, and every
#: bootstrap refit). The objective is tiny (delta = 1e-3 makes each term at most ~1e-3 |r|), so
#: SciPy's default tolerances, which Besiroglu et al.'s code used for every start, can stop
#: short of the optimum: harmless among 4,500 starts, but a bootstrap refit that starts at the
#: full fit's optimum would then barely move and understate the spread.
LBFGS_TIGHT = {"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-10}


def _minimise(
    start: np.ndarray,
    law: PointLaw,
    x: Mapping[str, np.ndarray],
    log_y: np.ndarray,
    tight: bool = True,
) -> tuple[np.ndarray, float]:
    result = optimize.minimize(
        huber_objective,
        start,
        args=(law, x, log_y),
        jac=True,
        method="L-BFGS-B",
        options=LBFGS_TIGHT if tight else None,
    )
    return np.asarray(result.x, dtype=float), float(result.fun)


@dataclass
class PointFit:
    """Result of :func:`huber_fit`.

    Attributes
    ----------
    law : PointLaw
        The law.
    theta : numpy.ndarray
        Best internal parameters.
    objective : float
        Sum of Huber losses at ``theta``.
    starts : int
        Initialisations optimised.
    residuals : numpy.ndarray
        ``log y - log L(x; theta)`` on the fitted runs.
    """

    law: PointLaw
    theta: np.ndarray
    objective: float
    starts: int
    residuals: np.ndarray

    @property
    def params(self) -> dict[str, float]:
        """The law's parameters (``E``, ``A``, ``B``, ``alpha``, ``beta`` ...)."""
        return {k: float(v) for k, v in self.law.natural(self.theta).items()}


def huber_fit(
    frame: pd.DataFrame,
    law: str | PointLaw = "chinchilla",
    *,
    thin: bool = False,
    top_k: int | None = None,
) -> PointFit:
    """Fit a law by Huber loss on log loss with L-BFGS-B from a grid of initialisations.

    Every start runs L-BFGS-B with SciPy's default tolerances (as Besiroglu et al.'s code);
    the best result is then polished with tight tolerances (:data:`LBFGS_TIGHT`).

    Parameters
    ----------
    frame : pandas.DataFrame
        Runs: the law's inputs and ``loss``.
    law : str or PointLaw, default "chinchilla"
        A key of :data:`POINT_LAWS` or a law.
    thin : bool, default False
        Use :data:`THIN_GRID` instead of Besiroglu et al.'s grid.
    top_k : int, optional
        Optimise only from the ``top_k`` grid points with the lowest objective (evaluated in
        one vectorised pass); default: from every grid point, as Besiroglu et al.

    Returns
    -------
    PointFit
        The best of the local optima.
    """
    law = POINT_LAWS[law] if isinstance(law, str) else law
    x = law.prepare(frame)
    log_y = np.log(frame["loss"].to_numpy(dtype=float))
    starts = law.grid(thin)
    if top_k is not None and top_k < len(starts):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            values = np.concatenate(
                [
                    special.huber(HUBER_DELTA, law.log_mean(chunk, x, False)[0] - log_y).sum(-1)
                    for chunk in np.array_split(starts, max(1, len(starts) // 500))
                ]
            )
        starts = starts[np.argsort(np.where(np.isfinite(values), values, np.inf))[:top_k]]
    best_theta, best_value = starts[0], float("inf")
    for start in starts:
        theta, value = _minimise(start, law, x, log_y, tight=False)
        if value < best_value:
            best_theta, best_value = theta, value
    polished, value = _minimise(best_theta, law, x, log_y)
    if value <= best_value:
        best_theta, best_value = polished, value
    residuals = log_y - law.log_mean(best_theta, x, False)[0]
    return PointFit(law, best_theta, best_value, len(starts), residuals)


def bootstrap(fit: PointFit, frame: pd.DataFrame, resamples: int, seed: int = 0) -> np.ndarray:
    """Refit on runs resampled with replacement, each from the full fit's optimum.

    Parameters
    ----------
    fit : PointFit
        The fit on all the runs.
    frame : pandas.DataFrame
        The same runs.
    resamples : int
        Number of bootstrap resamples.
    seed : int, default 0
        Seed of the resampling.

    Returns
    -------
    numpy.ndarray
        Internal parameters, shape ``(resamples, k)`` (a failed refit keeps the full fit's).
    """
    law = fit.law
    x = law.prepare(frame)
    log_y = np.log(frame["loss"].to_numpy(dtype=float))
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, len(fit.theta)))
    for i in range(resamples):
        rows = rng.integers(0, len(log_y), len(log_y))
        theta, value = _minimise(fit.theta, law, {k: v[rows] for k, v in x.items()}, log_y[rows])
        out[i] = theta if np.isfinite(value) else fit.theta
    return out


def point_forecast(
    fit: PointFit,
    boot: np.ndarray,
    at: pd.DataFrame,
    levels: Sequence[float] = (0.5, 0.8, 0.9),
    pairs: int = 20_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Point prediction and bootstrap intervals of the law and of a new run.

    Parameters
    ----------
    fit : PointFit
        The fit on all the runs (gives the point prediction and the residuals).
    boot : numpy.ndarray
        Bootstrap parameters from :func:`bootstrap`.
    at : pandas.DataFrame
        Points with the law's inputs.
    levels : sequence of float
        Interval levels.
    pairs : int, default 20000
        Predictive draws: random pairs (bootstrap law draw, resampled residual) per point.
    seed : int, default 0
        Seed of the pairing.

    Returns
    -------
    pandas.DataFrame
        ``point`` (the full fit's law), ``law_lower_50`` ... (percentile intervals of the
        bootstrap law) and ``pred_lower_50`` ... (bootstrap law times ``exp`` of a resampled
        residual: percentile predictive intervals).
    """
    law = fit.law
    x = law.prepare(at)
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore", invalid="ignore"):
        log_law = law.log_mean(boot, x, False)[0]  # (resamples, points)
        which = rng.integers(0, len(boot), pairs)
        noise = fit.residuals[rng.integers(0, len(fit.residuals), pairs)]
        log_pred = log_law[which] + noise[:, None]
    out = pd.DataFrame({"point": np.exp(law.log_mean(fit.theta, x, False)[0])})
    for lv in levels:
        tag = round(100 * lv)
        for kind, draws in (("law", log_law), ("pred", log_pred)):
            low, high = np.quantile(draws, [(1 - lv) / 2, (1 + lv) / 2], axis=0)
            out[f"{kind}_lower_{tag}"] = np.exp(low)
            out[f"{kind}_upper_{tag}"] = np.exp(high)
    return out


# --------------------------------------------------------------------------- NumPyro

#: bayescale's Chinchilla priors (models/chinchilla.toml), as (distribution, parameters).
#: ``tests/test_bench.py`` checks them against the catalog file.
CHINCHILLA_PRIORS: dict[str, tuple[str, dict[str, float]]] = {
    "E": ("LogNormal", {"mu": 0.4, "sigma": 1.0}),
    "A_ref": ("LogNormal", {"mu": -0.7, "sigma": 1.5}),
    "B_ref": ("LogNormal", {"mu": -0.7, "sigma": 1.5}),
    "alpha": ("LogNormal", {"mu": -1.2, "sigma": 0.75}),
    "beta": ("LogNormal", {"mu": -1.2, "sigma": 0.75}),
    "sigma": ("HalfNormal", {"sigma": 0.1}),
    "nu": ("Gamma", {"alpha": 2.0, "beta": 0.1}),
}


def _numpyro_dist(spec: tuple[str, dict[str, float]]) -> Any:
    import numpyro.distributions as dist

    name, p = spec
    if name == "LogNormal":
        return dist.LogNormal(p["mu"], p["sigma"])
    if name == "HalfNormal":
        return dist.HalfNormal(p["sigma"])
    if name == "Gamma":
        return dist.Gamma(p["alpha"], p["beta"])  # PyMC's beta is NumPyro's rate
    raise ValueError(f"no NumPyro translation of prior {name}")


def numpyro_data(frame: pd.DataFrame) -> dict[str, Any]:
    """Arguments of :func:`numpyro_chinchilla_model` from a table with ``N``, ``D``, ``loss``.

    The log inputs are centred here (``log N - log N_ref``): data, not work per gradient.
    """
    log_n = np.log(frame["N"].to_numpy(dtype=float))
    log_d = np.log(frame["D"].to_numpy(dtype=float))
    return {
        "log_n_c": log_n - log_n.mean(),
        "log_d_c": log_d - log_d.mean(),
        "log_n_ref": float(log_n.mean()),
        "log_d_ref": float(log_d.mean()),
        "log_y": np.log(frame["loss"].to_numpy(dtype=float)),
    }


def numpyro_chinchilla_model(
    log_n_c: Any, log_d_c: Any, log_n_ref: float, log_d_ref: float, log_y: Any = None
) -> None:
    """bayescale's Chinchilla model in NumPyro (see the module docstring).

    Parameters
    ----------
    log_n_c, log_d_c : array
        ``log N - log N_ref`` and ``log D - log D_ref``.
    log_n_ref, log_d_ref : float
        The reference scales (mean log N and log D).
    log_y : array, optional
        Log of the observed losses.
    """
    import jax.numpy as jnp
    import numpyro
    from jax.scipy.special import logsumexp

    p = {name: numpyro.sample(name, _numpyro_dist(s)) for name, s in CHINCHILLA_PRIORS.items()}
    mu = logsumexp(
        jnp.stack(
            [
                jnp.broadcast_to(jnp.log(p["E"]), jnp.shape(log_n_c)),
                jnp.log(p["A_ref"]) - p["alpha"] * log_n_c,
                jnp.log(p["B_ref"]) - p["beta"] * log_d_c,
            ]
        ),
        axis=0,
    )
    numpyro.sample("y", _numpyro_dist_t(p["nu"], mu, p["sigma"]), obs=log_y)


def _numpyro_dist_t(nu: Any, mu: Any, sigma: Any) -> Any:
    import numpyro.distributions as dist

    return dist.StudentT(nu, mu, sigma)


def numpyro_mcmc(
    *,
    draws: int,
    tune: int,
    chains: int,
    chain_method: str = "sequential",
    dense_mass: bool = False,
    target_accept: float = 0.8,
) -> Any:
    """NumPyro's MCMC with NUTS on :func:`numpyro_chinchilla_model`.

    Parameters
    ----------
    draws, tune, chains : int
        Draws and warmup steps per chain, and chains.
    chain_method : {"sequential", "vectorized", "parallel"}
        How NumPyro runs the chains ("parallel" needs one device per chain, else it falls
        back to "sequential").
    dense_mass : bool, default False
        Dense mass matrix (NumPyro's default is diagonal).
    target_accept : float, default 0.8
        NumPyro's ``target_accept_prob`` (its default).

    Returns
    -------
    numpyro.infer.MCMC
        Not yet run.
    """
    from numpyro.infer import MCMC, NUTS

    kernel = NUTS(numpyro_chinchilla_model, dense_mass=dense_mass, target_accept_prob=target_accept)
    return MCMC(
        kernel,
        num_warmup=tune,
        num_samples=draws,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=False,
    )


def numpyro_warmup(mcmc: Any, data: Mapping[str, Any], seed: int) -> int:
    """Run the warmup (the first call also JIT-compiles); return its gradient evaluations."""
    import jax

    mcmc.warmup(jax.random.PRNGKey(seed), **data, extra_fields=("num_steps",), collect_warmup=True)
    return int(np.asarray(mcmc.get_extra_fields()["num_steps"]).sum())


def numpyro_draws(mcmc: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """Draw after :func:`numpyro_warmup`.

    Returns
    -------
    dict
        ``posterior`` (name -> array ``(chains, draws)``, with ``A`` and ``B`` derived from
        the reference-scale amplitudes), ``steps_sampling`` (gradient evaluations) and
        ``divergences``.
    """
    mcmc.run(mcmc.post_warmup_state.rng_key, **data, extra_fields=("num_steps", "diverging"))
    extra = mcmc.get_extra_fields()
    samples = {
        k: np.asarray(v, dtype=float) for k, v in mcmc.get_samples(group_by_chain=True).items()
    }
    samples["A"] = samples["A_ref"] * np.exp(samples["alpha"] * data["log_n_ref"])
    samples["B"] = samples["B_ref"] * np.exp(samples["beta"] * data["log_d_ref"])
    return {
        "posterior": samples,
        "steps_sampling": int(np.asarray(extra["num_steps"]).sum()),
        "divergences": int(np.asarray(extra["diverging"]).sum()),
    }


def numpyro_sample(
    data: Mapping[str, Any], *, draws: int, tune: int, chains: int, seed: int, **kwargs: Any
) -> dict[str, Any]:
    """Warmup then draws (see :func:`numpyro_mcmc` for ``kwargs``).

    Returns
    -------
    dict
        As :func:`numpyro_draws`, plus ``steps_warmup``.
    """
    mcmc = numpyro_mcmc(draws=draws, tune=tune, chains=chains, **kwargs)
    steps_warmup = numpyro_warmup(mcmc, data, seed)
    return {**numpyro_draws(mcmc, data), "steps_warmup": steps_warmup}
