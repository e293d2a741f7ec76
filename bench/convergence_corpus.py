"""The convergence corpus of issue 11: laws as users meet them, on real and simulated sweeps.

Three kinds of entry (``Entry.source``):

- ``catalog``: every law of bayescale's catalog, on runs simulated from it (published or
  benchmark truths, a sweep shaped like its paper's);
- ``real``: published laws written as formulas (:meth:`bayescale.Law.from_formula`) on the
  real data of ``../shared/data`` (farseer, data_constrained, overtrain, Epoch's Chinchilla);
- ``simulated``: formulas on simulated sweeps shaped like vocabulary-size, mixture-of-experts,
  learning-rate/batch-size and data-mixture studies (3 to 20 parameters, up to 2,700 runs).

Every simulated run is ``law(x) * exp(0.01 t)`` with ``t`` Student-t (5 degrees of freedom),
from a fixed seed. Formula entries carry the weakly informative priors a user would write out;
``Entry.law(default_priors=True)`` drops them, for bayescale's data-derived default priors.

Only NumPy and pandas at import time: bayescale is imported inside the functions that need it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench import common

__all__ = [
    "CORPUS",
    "QUICK",
    "DefaultPriorsUnavailable",
    "Entry",
    "by_name",
    "natural_values",
    "noisy",
    "prior_draws",
    "prior_medians",
]

OVERTRAIN = common.SHARED / "overtrain" / "runs.csv"
#: Seed of every simulated sweep (design and noise).
SEED = 0


class DefaultPriorsUnavailable(RuntimeError):
    """This bayescale cannot build a formula law without priors (no default priors yet)."""


def noisy(mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiply by ``exp(0.01 t)``, ``t`` Student-t with 5 degrees of freedom (as bench/common).

    Parameters
    ----------
    mean : numpy.ndarray
        Noiseless values of the law (positive).
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    numpy.ndarray
        The observed values.
    """
    mean = np.asarray(mean, dtype=float)
    return mean * np.exp(common.NOISE_SIGMA * rng.standard_t(common.NOISE_NU, mean.shape))


def prior_draws(spec: Mapping[str, Any], size: int, rng: np.random.Generator) -> np.ndarray:
    """Draws from a prior given as a spec (``{"dist": "LogNormal", "mu": 0, "sigma": 1}``).

    Parameters
    ----------
    spec : mapping
        As :func:`bayescale.priors.spec_of` returns.
    size : int
        Number of draws.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        The draws.

    Raises
    ------
    ValueError
        If the distribution is not one this benchmark knows how to draw from.
    """
    dist = spec["dist"]
    p = {k: float(v) for k, v in spec.items() if k != "dist"}
    if dist == "LogNormal":
        return rng.lognormal(p.get("mu", 0.0), p.get("sigma", 1.0), size)
    if dist == "Normal":
        return rng.normal(p.get("mu", 0.0), p.get("sigma", 1.0), size)
    if dist == "HalfNormal":
        return np.abs(rng.normal(0.0, p.get("sigma", 1.0), size))
    if dist == "Gamma":
        return rng.gamma(p["alpha"], 1.0 / p["beta"], size)
    if dist == "Exponential":
        return rng.exponential(1.0 / p["lam"], size)
    if dist == "Uniform":
        return rng.uniform(p["lower"], p["upper"], size)
    if dist == "Beta":
        return rng.beta(p["alpha"], p["beta"], size)
    if dist == "HalfCauchy":
        return np.abs(p.get("beta", 1.0) * rng.standard_cauchy(size))
    if dist == "StudentT":
        return p.get("mu", 0.0) + p.get("sigma", 1.0) * rng.standard_t(p["nu"], size)
    if dist == "TruncatedNormal":
        lo, hi = p.get("lower", -np.inf), p.get("upper", np.inf)
        draws = rng.normal(p.get("mu", 0.0), p.get("sigma", 1.0), 50 * size)
        kept = draws[(draws > lo) & (draws < hi)][:size]
        return np.resize(kept, size) if len(kept) else np.full(size, (lo + hi) / 2)
    raise ValueError(f"prior_draws: no sampler for prior {dist!r} (spec {dict(spec)!r})")


#: Log-uniform ranges of the generic design, by input name (a catalog law without a sweep here).
INPUT_RANGES = {
    "N": (1e7, 1e10),
    "D": (1e8, 1e12),
    "C": (1e17, 1e23),
    "H": (4e8, 4e12),
    "Nnv": (3e7, 3e9),
    "Nv": (1e6, 1e9),
    "lr": (1e-4, 1e-2),
    "bs": (3e4, 3e6),
    "E": (1.0, 512.0),
}


def prior_medians(law: Any, seed: int = SEED) -> dict[str, float]:
    """Median of each parameter's prior, in the coordinates its prior is stated in.

    Parameters
    ----------
    law : bayescale.Law
        The law.
    seed : int, default 0
        Seed of the draws the medians are taken from.

    Returns
    -------
    dict
        ``{parameter: median}`` (for a reference-stated parameter, at the reference scale).
    """
    from bayescale.priors import spec_of

    rng = np.random.default_rng(seed)
    return {
        name: float(np.median(prior_draws(spec_of(p.prior), 10_001, rng)))
        for name, p in law.parameters.items()
    }


def natural_values(law: Any, stated: Mapping[str, float], frame: pd.DataFrame) -> dict[str, float]:
    """A law's parameters from values in their prior's coordinates (reference scales resolved).

    Parameters
    ----------
    law : bayescale.Law
        The law.
    stated : mapping
        ``{parameter: value}``, reference-stated ones at the reference scale.
    frame : pandas.DataFrame
        The runs: a reference scale is the geometric mean of its input.

    Returns
    -------
    dict
        ``{parameter: value}``.
    """
    from bayescale.formula import NUMPY, Formula

    values: dict[str, float] = {}
    ordered = sorted(law.parameters.values(), key=lambda p: p.reference is not None)
    for p in ordered:
        if p.reference is None:
            values[p.name] = float(stated[p.name])
            continue
        inp, power = p.reference
        log_ref = float(np.mean(np.log(frame[inp].to_numpy(float))))
        exponent = float(Formula(power).evaluate(values, NUMPY))
        values[p.name] = float(stated[p.name] * np.exp(exponent * log_ref))
    return values


def _generic_catalog(name: str, runs: int = 300) -> Callable[[], pd.DataFrame]:
    def make() -> pd.DataFrame:
        import bayescale

        law = bayescale.get_law(name)
        rng = np.random.default_rng(SEED)
        frame = pd.DataFrame(
            {
                k: 10 ** rng.uniform(*np.log10(INPUT_RANGES.get(k, (1.0, 1e3))), runs)
                for k in law.inputs
            }
        )
        if "U" in law.inputs and "D" in law.inputs:
            frame["U"] = frame["D"] / 10 ** rng.uniform(0.0, 1.5, runs)
        if "E" in law.inputs:
            frame["E"] = np.round(frame["E"])
        # Published values where the law file gives them, prior medians for the rest.
        truth = natural_values(law, prior_medians(law), frame)
        if law.published:
            truth.update(next(iter(law.published.values())))
        mean = law.predict(truth, {k: frame[k].to_numpy() for k in law.inputs})
        frame["loss"] = noisy(mean, rng)
        return frame

    return make


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """One fit of the corpus: a law and the runs it is fitted on.

    Attributes
    ----------
    name : str
        Identifier (``--only NAME``).
    source : {"catalog", "real", "simulated"}
        Where the law and the runs come from.
    inputs : tuple of str
        Columns of :meth:`frame` the law reads.
    make_frame : callable
        ``() -> DataFrame`` with the inputs and ``loss``; deterministic.
    catalog : str or None
        Catalog law's name, or None for a formula entry.
    formula : str
        The formula (for a catalog entry, the catalog's, for the record).
    priors : mapping
        Priors a user would write for the formula (empty for a catalog entry).
    reference : str
        The paper the law (or the sweep's shape) comes from.
    """

    name: str
    source: str
    inputs: tuple[str, ...]
    make_frame: Callable[[], pd.DataFrame]
    catalog: str | None = None
    formula: str = ""
    priors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reference: str = ""

    def frame(self) -> pd.DataFrame:
        """The runs as a DataFrame: the inputs and ``loss``."""
        return self.make_frame()

    def law(self, default_priors: bool = False) -> Any:
        """The law as a :class:`bayescale.Law`.

        Parameters
        ----------
        default_priors : bool, default False
            For a formula entry, build it without priors (bayescale's defaults from the data).

        Returns
        -------
        bayescale.Law
            The law.

        Raises
        ------
        DefaultPriorsUnavailable
            If ``default_priors`` and this bayescale requires priors for a formula.
        """
        import bayescale

        if self.catalog is not None:
            return bayescale.get_law(self.catalog)
        if not default_priors:
            return bayescale.Law.from_formula(
                self.formula, priors=dict(self.priors), name=self.name, inputs=list(self.inputs)
            )
        try:
            return bayescale.Law.from_formula(
                self.formula, name=self.name, inputs=list(self.inputs)
            )
        except TypeError as err:
            raise DefaultPriorsUnavailable(
                f"{self.name}: Law.from_formula needs priors in this bayescale ({err})"
            ) from None

    def runs(self) -> Any:
        """The runs as :class:`bayescale.Runs` (duplicated rows kept silently)."""
        import bayescale

        frame = self.frame()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bayescale.DataWarning)
            return bayescale.load_runs(
                frame[[*self.inputs, "loss"]], x={n: n for n in self.inputs}, y="loss"
            )

    @property
    def n_params(self) -> int:
        """Parameters of the law (the noise model's not counted)."""
        if self.catalog is None:
            return len(self.priors)
        return len(self.law().parameters)

    @property
    def n_runs(self) -> int:
        """Runs fitted."""
        return len(self.frame())


# --------------------------------------------------------------------------- priors


def _ln(mu: float, sigma: float) -> dict[str, Any]:
    return {"dist": "LogNormal", "mu": float(mu), "sigma": float(sigma)}


def _normal(mu: float, sigma: float) -> dict[str, Any]:
    return {"dist": "Normal", "mu": float(mu), "sigma": float(sigma)}


#: The priors a user writes for ``E + A / N**alpha + B / D**beta`` on the raw scales: floor
#: near 1-3 nats, amplitudes anywhere over 8 orders of magnitude, exponents 0.05 to 1.
CHINCHILLA_FORMULA = "E + A / N**alpha + B / D**beta"
CHINCHILLA_PRIORS = {
    "E": _ln(0.5, 0.75),
    "A": _ln(6.0, 3.0),
    "B": _ln(7.0, 3.0),
    "alpha": _ln(np.log(0.3), 0.6),
    "beta": _ln(np.log(0.3), 0.6),
}


# --------------------------------------------------------------------------- catalog laws


def _catalog_chinchilla_isoflop() -> pd.DataFrame:
    return common.simulate_isoflop(SEED)[0]


def _catalog_chinchilla_3000() -> pd.DataFrame:
    return common.simulate("chinchilla", 3000, seed=SEED)


def _one_input(name: str, lo: float, hi: float, n: int, law: Callable) -> Callable:
    def make() -> pd.DataFrame:
        rng = np.random.default_rng(SEED)
        x = np.geomspace(lo, hi, n)
        return pd.DataFrame({name: x, "loss": noisy(law(x), rng)})

    return make


def _power_law_n(x: np.ndarray) -> np.ndarray:
    p = common.TRUTH_POWER_LAW_N
    return p["E"] + p["A"] / x ** p["alpha"]


def _power_law_d(x: np.ndarray) -> np.ndarray:
    p = common.TRUTH
    return p["E"] + p["B"] / x ** p["beta"]


def _power_law_c(x: np.ndarray) -> np.ndarray:
    return 1.8 + 1500.0 * x**-0.15  # 1.5 nats above the floor at 1e20 FLOPs


def _bnsl(x: np.ndarray) -> np.ndarray:
    return common.bnsl_loss(x)


def _data_constrained_grid() -> pd.DataFrame:
    # Muennighoff et al.'s grid: model sizes x unique-data budgets x epochs.
    rng = np.random.default_rng(SEED)
    n, u, epochs = np.meshgrid(
        np.geomspace(1e7, 9e9, 8), [1e8, 1e9, 1e10], [1, 2, 4, 8, 16, 40], indexing="ij"
    )
    n, u, d = n.ravel(), u.ravel(), (u * epochs).ravel()
    return pd.DataFrame(
        {"N": n, "D": d, "U": u, "loss": noisy(common.data_constrained_loss(n, d, u), rng)}
    )


#: Kaplan et al. 2020's published values (non-embedding N).
KAPLAN = {"Nc": 8.8e13, "Dc": 5.4e13, "alphaN": 0.076, "alphaD": 0.095}


def _kaplan_grid() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    n, d = np.meshgrid(np.geomspace(1e7, 1e10, 8), np.geomspace(1e8, 1e12, 8), indexing="ij")
    n, d = n.ravel(), d.ravel()
    p = KAPLAN
    mean = ((p["Nc"] / n) ** (p["alphaN"] / p["alphaD"]) + p["Dc"] / d) ** p["alphaD"]
    return pd.DataFrame({"N": n, "D": d, "loss": noisy(mean, rng)})


# --------------------------------------------------------------------------- real data


def _epoch() -> pd.DataFrame:
    return common.epoch_chinchilla()


def _farseer() -> pd.DataFrame:
    return common.scalebench("farseer")[0]


def _data_constrained_real() -> pd.DataFrame:
    return common.scalebench("data_constrained")[0]


def _overtrain(dataset: str) -> Callable[[], pd.DataFrame]:
    def make() -> pd.DataFrame:
        raw = pd.read_csv(OVERTRAIN)
        part = raw[raw["dataset"] == dataset]
        n, d = part["params"].to_numpy(float), part["tokens"].to_numpy(float)
        return pd.DataFrame(
            {
                "N": n,
                "D": d,
                "C": common.COMPUTE_FACTOR * n * d,
                "M": d / n,  # tokens per parameter (Gadre et al.'s M; 20 x their multiplier)
                "loss": part["loss_c4_val"].to_numpy(float),
            }
        )

    return make


# --------------------------------------------------------------------------- simulated sweeps

#: Tao et al. 2024 (vocabulary) shaped truth: non-vocabulary, vocabulary parameters, data.
VOCAB_TRUTH = {
    "E": 1.7,
    "A": 400.0,
    "alpha": 0.34,
    "G": 20.0,
    "gamma": 0.3,
    "B": 2000.0,
    "beta": 0.37,
}
VOCAB_FORMULA = "E + A / Nnv**alpha + G / Nv**gamma + B / D**beta"


def _vocabulary() -> pd.DataFrame:
    # 10 model sizes x 9 vocabularies x 12 token budgets = 1,080 runs; width from 24 layers.
    rng = np.random.default_rng(SEED)
    nnv, vocab, ratio = np.meshgrid(
        np.geomspace(3e7, 3e9, 10),
        np.geomspace(4096, 262144, 9),
        np.geomspace(5, 200, 12),
        indexing="ij",
    )
    nnv, vocab, ratio = nnv.ravel(), vocab.ravel(), ratio.ravel()
    width = np.sqrt(nnv / (12 * 24))
    nv, d = vocab * width, ratio * nnv
    p = VOCAB_TRUTH
    mean = p["E"] + p["A"] / nnv ** p["alpha"] + p["G"] / nv ** p["gamma"] + p["B"] / d ** p["beta"]
    return pd.DataFrame({"Nnv": nnv, "Nv": nv, "D": d, "loss": noisy(mean, rng)})


#: Krajewski et al. 2024 (fine-grained MoE), their Table 2 fit.
MOE_TRUTH = {
    "E": 0.47,
    "a": 18.1,
    "alpha": 0.115,
    "b": 30.8,
    "beta": 0.147,
    "g": 2.1,
    "gamma": 0.58,
}
MOE_FORMULA = "E + (g / G**gamma + a) / N**alpha + b / D**beta"


def _moe_granularity() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    g, n, ratio = np.meshgrid(
        [1, 2, 4, 8, 16], np.geomspace(1e7, 3e9, 8), np.geomspace(5, 100, 6), indexing="ij"
    )
    g, n, ratio = (v.ravel().astype(float) for v in (g, n, ratio))
    d = ratio * n
    p = MOE_TRUTH
    mean = p["E"] + (p["g"] / g ** p["gamma"] + p["a"]) / n ** p["alpha"] + p["b"] / d ** p["beta"]
    return pd.DataFrame({"G": g, "N": n, "D": d, "loss": noisy(mean, rng)})


#: Clark et al. 2022 (routed language models), shaped: N in millions of parameters.
CLARK_TRUTH = {"a": -0.082, "b": -0.108, "c": 0.009, "d": 1.104}
CLARK_FORMULA = "exp(d) * N**(a + c * log(X)) * X**b"


def _moe_experts() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    n, x = np.meshgrid(np.geomspace(15, 1300, 8), 2.0 ** np.arange(0, 9, 8 / 7), indexing="ij")
    n, x = n.ravel(), np.round(x.ravel())
    p = CLARK_TRUTH
    mean = np.exp(p["d"]) * n ** (p["a"] + p["c"] * np.log(x)) * x ** p["b"]
    return pd.DataFrame({"N": n, "X": x, "loss": noisy(mean, rng)})


LR_BOWL_FORMULA = "L0 + k * (log(lr) - m)**2"
LR_BOWL_TRUTH = {"L0": 2.5, "k": 0.02, "m": float(np.log(3e-3))}


def _lr_bowl() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    lr = np.geomspace(1e-4, 1e-1, 24)
    p = LR_BOWL_TRUTH
    return pd.DataFrame(
        {"lr": lr, "loss": noisy(p["L0"] + p["k"] * (np.log(lr) - p["m"]) ** 2, rng)}
    )


#: Learning rate and batch size around optima that move with scale (DeepSeek 2024, Li et al.
#: 2025 "Predictable scale"): a Chinchilla law plus a quadratic penalty in each log.
LRBS_FORMULA = (
    "E + A / N**alpha + B / D**beta"
    " + klr * (log(lr) - h0 - h1 * log(N / 1e8))**2"
    " + kbs * (log(bs) - g0 - g1 * log(D / 1e10))**2"
)
LRBS_TRUTH = {
    **common.TRUTH,
    "klr": 0.01,
    "h0": float(np.log(1e-3)),
    "h1": -0.3,
    "kbs": 0.005,
    "g0": float(np.log(256.0)),
    "g1": 0.4,
}
LRBS_PRIORS = {
    **CHINCHILLA_PRIORS,
    "klr": _ln(np.log(0.01), 1.5),
    "h0": _normal(-7.0, 2.0),
    "h1": _normal(0.0, 0.5),
    "kbs": _ln(np.log(0.01), 1.5),
    "g0": _normal(5.0, 2.0),
    "g1": _normal(0.0, 0.5),
}


def _lrbs_mean(frame: pd.DataFrame, p: Mapping[str, float]) -> np.ndarray:
    n, d, lr, bs = (frame[k].to_numpy(float) for k in ("N", "D", "lr", "bs"))
    return (
        p["E"]
        + p["A"] / n ** p["alpha"]
        + p["B"] / d ** p["beta"]
        + p["klr"] * (np.log(lr) - p["h0"] - p["h1"] * np.log(n / 1e8)) ** 2
        + p["kbs"] * (np.log(bs) - p["g0"] - p["g1"] * np.log(d / 1e10)) ** 2
    )


def _lr_batch() -> pd.DataFrame:
    # 5 sizes x 4 token ratios x 8 learning rates x 8 batch sizes = 1,280 runs.
    rng = np.random.default_rng(SEED)
    n, ratio, lr, bs = np.meshgrid(
        np.geomspace(1e7, 1e9, 5),
        [10.0, 20.0, 40.0, 80.0],
        np.geomspace(1e-4, 1e-2, 8),
        np.geomspace(32, 2048, 8),
        indexing="ij",
    )
    frame = pd.DataFrame(
        {"N": n.ravel(), "D": (n * ratio).ravel(), "lr": lr.ravel(), "bs": bs.ravel()}
    )
    frame["loss"] = noisy(_lrbs_mean(frame, LRBS_TRUTH), rng)
    return frame


def _proportions(rng: np.random.Generator, runs: int, domains: int) -> np.ndarray:
    # Mixtures drawn uniformly on the simplex, kept off 0 (bayescale refuses inputs <= 0).
    r = rng.dirichlet(np.ones(domains), runs) + 0.005
    return r / r.sum(axis=1, keepdims=True)


#: Ye et al. 2024's data mixing law for one validation domain, over five training domains.
MIXTURE_FORMULA = "c + k * exp(t1 * r1 + t2 * r2 + t3 * r3 + t4 * r4 + t5 * r5)"
MIXTURE_TRUTH = {"c": 2.0, "k": 1.5, "t1": -1.2, "t2": -0.5, "t3": 0.3, "t4": -2.0, "t5": 0.8}


def _mixture() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    r = _proportions(rng, 80, 5)
    p = MIXTURE_TRUTH
    exponent = sum(p[f"t{j + 1}"] * r[:, j] for j in range(5))
    frame = pd.DataFrame({f"r{j + 1}": r[:, j] for j in range(5)})
    frame["loss"] = noisy(p["c"] + p["k"] * np.exp(exponent), rng)
    return frame


#: 20 parameters: Chinchilla (5) + a mixing term over 9 domains written with 8 proportions
#: (the 9th is 1 minus the others; 9 would make k and a shift of every t unidentified) (9) +
#: learning-rate and batch-size penalties (6).
MIX20_DOMAINS = 8
MIX20_FORMULA = (
    "E + A / N**alpha + B / D**beta"
    " + k * exp(" + " + ".join(f"t{j} * r{j}" for j in range(1, MIX20_DOMAINS + 1)) + ")"
    " + klr * (log(lr) - h0 - h1 * log(N / 1e8))**2"
    " + kbs * (log(bs) - g0 - g1 * log(D / 1e10))**2"
)
MIX20_TRUTH = {
    **LRBS_TRUTH,
    "k": 0.3,
    **{f"t{j}": t for j, t in enumerate([-1.0, -0.4, 0.5, -1.5, 0.2, 0.8, -0.7, 0.1], 1)},
}
MIX20_PRIORS = {
    **LRBS_PRIORS,
    "k": _ln(np.log(0.3), 1.5),
    **{f"t{j}": _normal(0.0, 2.0) for j in range(1, MIX20_DOMAINS + 1)},
}


def _mixture_scale() -> pd.DataFrame:
    # 6 sizes x 3 token ratios x 150 (mixture, learning rate, batch size) draws = 2,700 runs.
    rng = np.random.default_rng(SEED)
    blocks = []
    for n in np.geomspace(1e7, 1e9, 6):
        for ratio in (10.0, 20.0, 40.0):
            m = 150
            r = _proportions(rng, m, MIX20_DOMAINS + 1)[:, :MIX20_DOMAINS]
            block = pd.DataFrame({f"r{j + 1}": r[:, j] for j in range(MIX20_DOMAINS)})
            block["N"], block["D"] = n, n * ratio
            block["lr"] = 10 ** rng.uniform(-4, -2, m)
            block["bs"] = 2 ** rng.uniform(5, 11, m)
            blocks.append(block)
    frame = pd.concat(blocks, ignore_index=True)
    p = MIX20_TRUTH
    exponent = sum(p[f"t{j}"] * frame[f"r{j}"].to_numpy() for j in range(1, MIX20_DOMAINS + 1))
    mean = _lrbs_mean(frame, p) + p["k"] * np.exp(exponent)
    frame["loss"] = noisy(mean, rng)
    return frame


#: Caballero et al. 2022's broken power law with two breaks, as a user writes it (raw C).
BNSL2_FORMULA = (
    "E + b * C**-c0 * (1 + (C / d1)**(1 / f1))**(-c1 * f1) * (1 + (C / d2)**(1 / f2))**(-c2 * f2)"
)
BNSL2_TRUTH = {
    "E": 1.7,
    "b": 40.0,
    "c0": 0.08,
    "c1": 0.1,
    "d1": 1e19,
    "f1": 0.5,
    "c2": -0.08,
    "d2": 1e22,
    "f2": 0.3,
}


def _bnsl2() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    c = np.geomspace(1e16, 1e24, 80)
    p = BNSL2_TRUTH
    mean = p["E"] + p["b"] * c ** -p["c0"] * (1 + (c / p["d1"]) ** (1 / p["f1"])) ** (
        -p["c1"] * p["f1"]
    ) * (1 + (c / p["d2"]) ** (1 / p["f2"])) ** (-p["c2"] * p["f2"])
    return pd.DataFrame({"C": c, "loss": noisy(mean, rng)})


POWER3_FORMULA = "E + A * N**-alpha"


def _power3() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    n = np.geomspace(1e6, 1e9, 40)
    return pd.DataFrame({"N": n, "loss": noisy(_power_law_n(n), rng)})


# --------------------------------------------------------------------------- the corpus

_MUENNIGHOFF = "E + A / N**alpha + B / (U * (1 + R * (1 - exp(-(D / U - 1) / R))))**beta"
_GADRE = "E + (a * M**eta + b * M**(-eta)) * C**(-eta)"
_GADRE_PRIORS = {
    "E": _ln(0.5, 0.75),
    "a": _ln(3.0, 3.0),
    "b": _ln(3.0, 3.0),
    "eta": _ln(np.log(0.1), 0.7),
}
_FARSEER = "exp(a3 * N**g3 + b3) + exp(a2 * N**g2 + b2) * D**(-exp(a1 * N**g1 + b1))"
_FARSEER_PRIORS = {
    **{f"a{i}": _normal(0.0, 2.0) for i in (1, 2, 3)},
    **{f"b{i}": _normal(0.0, 2.0) for i in (1, 2, 3)},
    **{f"g{i}": _normal(-0.2, 0.4) for i in (1, 2, 3)},
}


def _sim(
    name: str, inputs: Sequence[str], make: Callable, formula: str, priors: Mapping, reference: str
) -> Entry:
    return Entry(name, "simulated", tuple(inputs), make, None, formula, dict(priors), reference)


def _real(
    name: str, inputs: Sequence[str], make: Callable, formula: str, priors: Mapping, reference: str
) -> Entry:
    return Entry(name, "real", tuple(inputs), make, None, formula, dict(priors), reference)


def _cat(name: str, law: str, inputs: Sequence[str], make: Callable, reference: str) -> Entry:
    return Entry(name, "catalog", tuple(inputs), make, law, "", {}, reference)


CORPUS: list[Entry] = [
    # every catalog law on data simulated from it
    _cat(
        "catalog_chinchilla_isoflop",
        "chinchilla",
        ("N", "D"),
        _catalog_chinchilla_isoflop,
        "Hoffmann et al. 2022 IsoFLOP design, Besiroglu et al. 2024 truth",
    ),
    _cat(
        "catalog_chinchilla_3000",
        "chinchilla",
        ("N", "D"),
        _catalog_chinchilla_3000,
        "log-uniform N 1e7-1e10 x D 1e8-1e12, 3,000 runs",
    ),
    _cat(
        "catalog_power_law_N",
        "power_law_N",
        ("N",),
        _one_input("N", 1e7, 1e10, 20, _power_law_n),
        "Hestness et al. 2017 style size sweep",
    ),
    _cat(
        "catalog_power_law_D",
        "power_law_D",
        ("D",),
        _one_input("D", 1e8, 1e12, 20, _power_law_d),
        "Hestness et al. 2017 style data sweep",
    ),
    _cat(
        "catalog_power_law_C",
        "power_law_C",
        ("C",),
        _one_input("C", 1e17, 1e23, 25, _power_law_c),
        "Henighan et al. 2020 style compute sweep",
    ),
    _cat(
        "catalog_data_constrained",
        "data_constrained",
        ("N", "D", "U"),
        _data_constrained_grid,
        "Muennighoff et al. 2023 grid, R = 15.4",
    ),
    _cat(
        "catalog_kaplan",
        "kaplan",
        ("N", "D"),
        _kaplan_grid,
        "Kaplan et al. 2020 published values, 8 x 8 grid",
    ),
    _cat(
        "catalog_bnsl",
        "bnsl",
        ("C",),
        _one_input("C", 1e16, 1e23, 60, _bnsl),
        "Caballero et al. 2022, one break at 1e20 FLOPs",
    ),
    # published laws as formulas on real data
    _cat(
        "epoch_chinchilla",
        "chinchilla",
        ("N", "D"),
        _epoch,
        "Epoch AI's extraction of Hoffmann et al. 2022 Fig. 4 (catalog law)",
    ),
    _real(
        "epoch_chinchilla_formula",
        ("N", "D"),
        _epoch,
        CHINCHILLA_FORMULA,
        CHINCHILLA_PRIORS,
        "Hoffmann et al. 2022 eq. 2 as a formula",
    ),
    _real(
        "farseer_chinchilla_formula",
        ("N", "D"),
        _farseer,
        CHINCHILLA_FORMULA,
        {**CHINCHILLA_PRIORS, "E": _ln(-1.0, 1.0)},
        "scalebench farseer train split",
    ),
    _real(
        "farseer_formula",
        ("N", "D"),
        _farseer,
        _FARSEER,
        _FARSEER_PRIORS,
        "Li et al. 2025 Farseer law on the scalebench farseer train split",
    ),
    _real(
        "data_constrained_chinchilla_formula",
        ("N", "D"),
        _data_constrained_real,
        CHINCHILLA_FORMULA,
        CHINCHILLA_PRIORS,
        "scalebench data_constrained train split",
    ),
    _real(
        "data_constrained_muennighoff_formula",
        ("N", "D", "U"),
        _data_constrained_real,
        _MUENNIGHOFF,
        {**CHINCHILLA_PRIORS, "R": _ln(np.log(15.0), 1.0)},
        "Muennighoff et al. 2023 eq. 5 (data side) on scalebench data_constrained",
    ),
    _real(
        "overtrain_c4_chinchilla_formula",
        ("N", "D"),
        _overtrain("c4"),
        CHINCHILLA_FORMULA,
        CHINCHILLA_PRIORS,
        "Gadre et al. 2024 runs trained on C4, C4 validation loss",
    ),
    _real(
        "overtrain_c4_gadre_formula",
        ("C", "M"),
        _overtrain("c4"),
        _GADRE,
        _GADRE_PRIORS,
        "Gadre et al. 2024 eq. 4 (over-training law), C4",
    ),
    _real(
        "overtrain_rpj_gadre_formula",
        ("C", "M"),
        _overtrain("rpj"),
        _GADRE,
        _GADRE_PRIORS,
        "Gadre et al. 2024 eq. 4 (over-training law), RedPajama",
    ),
    # formulas on simulated sweeps shaped like published studies
    _sim(
        "sim_power3_formula",
        ("N",),
        _power3,
        POWER3_FORMULA,
        {"E": _ln(0.5, 0.75), "A": _ln(6.0, 3.0), "alpha": _ln(np.log(0.3), 0.6)},
        "a size sweep written as a raw 3-parameter power law",
    ),
    _sim(
        "sim_lr_bowl",
        ("lr",),
        _lr_bowl,
        LR_BOWL_FORMULA,
        {"L0": _ln(0.5, 0.75), "k": _ln(np.log(0.01), 1.5), "m": _normal(-6.0, 2.0)},
        "learning-rate sweep at one scale",
    ),
    _sim(
        "sim_moe_experts",
        ("N", "X"),
        _moe_experts,
        CLARK_FORMULA,
        {k: _normal(0.0, 1.0) for k in ("a", "b", "c", "d")},
        "Clark et al. 2022 routed-LM law (experts X, N in millions)",
    ),
    _sim(
        "sim_moe_granularity",
        ("G", "N", "D"),
        _moe_granularity,
        MOE_FORMULA,
        {
            "E": _ln(0.0, 1.0),
            "a": _ln(3.0, 2.0),
            "alpha": _ln(np.log(0.2), 0.7),
            "b": _ln(3.0, 2.0),
            "beta": _ln(np.log(0.2), 0.7),
            "g": _ln(0.0, 1.5),
            "gamma": _ln(np.log(0.5), 0.7),
        },
        "Krajewski et al. 2024 fine-grained MoE law and fit",
    ),
    _sim(
        "sim_mixture_ye",
        ("r1", "r2", "r3", "r4", "r5"),
        _mixture,
        MIXTURE_FORMULA,
        {
            "c": _ln(0.5, 0.75),
            "k": _ln(0.0, 1.5),
            **{f"t{j}": _normal(0.0, 2.0) for j in range(1, 6)},
        },
        "Ye et al. 2024 data mixing law, 5 domains, 80 mixtures",
    ),
    _sim(
        "sim_bnsl2_formula",
        ("C",),
        _bnsl2,
        BNSL2_FORMULA,
        {
            "E": _ln(0.5, 0.75),
            "b": _ln(3.0, 2.0),
            "c0": _ln(np.log(0.1), 0.75),
            "c1": _normal(0.0, 0.2),
            "d1": _ln(np.log(1e19), 3.0),
            "f1": _ln(-1.0, 0.75),
            "c2": _normal(0.0, 0.2),
            "d2": _ln(np.log(1e22), 3.0),
            "f2": _ln(-1.0, 0.75),
        },
        "Caballero et al. 2022 with two breaks, written on raw compute",
    ),
    _sim(
        "sim_vocabulary_7p",
        ("Nnv", "Nv", "D"),
        _vocabulary,
        VOCAB_FORMULA,
        {**CHINCHILLA_PRIORS, "G": _ln(3.0, 3.0), "gamma": _ln(np.log(0.3), 0.6)},
        "Tao et al. 2024 vocabulary sweep: 10 sizes x 9 vocabularies x 12 budgets",
    ),
    _sim(
        "sim_lr_batch_11p",
        ("N", "D", "lr", "bs"),
        _lr_batch,
        LRBS_FORMULA,
        LRBS_PRIORS,
        "learning-rate x batch-size grid (DeepSeek 2024 / Li et al. 2025 shape)",
    ),
    _sim(
        "sim_mixture_scale_20p",
        ("N", "D", "lr", "bs", *(f"r{j}" for j in range(1, MIX20_DOMAINS + 1))),
        _mixture_scale,
        MIX20_FORMULA,
        MIX20_PRIORS,
        "Ye et al. 2024 mixing law x scale x learning rate/batch size, 2,700 runs",
    ),
]


def _add_catalog_laws() -> None:
    # Every catalog law is in the corpus: the ones without a sweep above on a generic design.
    import bayescale

    covered = {e.catalog for e in CORPUS if e.source == "catalog"}
    for name in sorted(set(bayescale.catalog()) - covered):
        law = bayescale.get_law(name)
        CORPUS.insert(
            sum(e.source == "catalog" for e in CORPUS),
            _cat(
                f"catalog_{name}",
                name,
                tuple(law.inputs),
                _generic_catalog(name),
                "log-uniform design, 300 runs, published values or prior medians",
            ),
        )


_add_catalog_laws()

#: The smoke-test subset (``--quick``): one of each kind, small.
QUICK = (
    "catalog_power_law_N",
    "epoch_chinchilla",
    "sim_power3_formula",
    "sim_lr_bowl",
)


def by_name(names: Sequence[str] | None = None) -> list[Entry]:
    """Entries of :data:`CORPUS` by name (all when ``names`` is None).

    Parameters
    ----------
    names : sequence of str, optional
        Entry names.

    Returns
    -------
    list of Entry
        In the order asked.

    Raises
    ------
    KeyError
        If a name is not in the corpus (the message lists the names).
    """
    table = {e.name: e for e in CORPUS}
    if names is None:
        return list(CORPUS)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise KeyError(f"no corpus entry {', '.join(unknown)}; entries: {', '.join(table)}")
    return [table[n] for n in names]
