"""The observation model of a law: how a measured loss scatters around the law's value.

One :class:`Likelihood` owns its noise family everywhere it matters: the PyMC model
(:meth:`Likelihood.observe`), the pointwise log density for LOO and held-out scores
(:meth:`Likelihood.logpdf`), the probability of a new run below a target
(:meth:`Likelihood.cdf`) and the noise of a new run in forecasts (:meth:`Likelihood.draw_noise`).
Adding a family is one entry in ``_FAMILIES``; no other module branches on the family.

Noise is multiplicative: ``log y = log L(x; theta) + sigma * eps`` with ``eps`` standard
Student-t (robust to outlying runs, like the Huber loss of Hoffmann et al. 2022) or normal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pymc_extras.prior import Prior
from scipy import stats

from bayescale.errors import LawError
from bayescale.priors import check_keys, check_prior_object, is_positive, prior_from_spec, spec_of

__all__ = ["DEFAULT_FAMILY", "DEFAULT_PRIORS", "FAMILIES", "Likelihood"]

DEFAULT_FAMILY = "student_t"
#: Default priors of the noise parameters: a relative error of a few percent at most, and
#: Student-t degrees of freedom from about 2 (heavy tails) to 50 (nearly normal).
DEFAULT_PRIORS: dict[str, dict[str, Any]] = {
    "sigma": {"dist": "HalfNormal", "sigma": 0.1},
    "nu": {"dist": "Gamma", "alpha": 2.0, "beta": 0.1},
}
#: Keys of a law file's ``[likelihood]`` table besides the noise parameters' priors.
_KEYS = ("family", "why")


@dataclass(frozen=True)
class _Family:
    """What differs between noise families: their shape parameters and distributions."""

    title: str
    shape_names: tuple[str, ...]
    # PyMC distribution of the observed log values, given mu, sigma and the shape variables.
    pymc: Callable[..., Any]
    # SciPy's standard distribution (loc 0, scale 1) given the shape parameters' arrays.
    standard: Callable[..., Any]


def _pymc_student_t(name: str, mu: Any, sigma: Any, nu: Any, **kwargs: Any) -> Any:
    import pymc as pm

    return pm.StudentT(name, nu=nu, mu=mu, sigma=sigma, **kwargs)


def _pymc_normal(name: str, mu: Any, sigma: Any, **kwargs: Any) -> Any:
    import pymc as pm

    return pm.Normal(name, mu=mu, sigma=sigma, **kwargs)


_FAMILIES: dict[str, _Family] = {
    "student_t": _Family("Student-t", ("nu",), _pymc_student_t, lambda nu: stats.t(df=nu)),
    "normal": _Family("normal", (), _pymc_normal, lambda: stats.norm()),
}
FAMILIES = tuple(_FAMILIES)


def _default_prior(spec: Mapping[str, Any]) -> Prior:
    return Prior(str(spec["dist"]), **{k: v for k, v in spec.items() if k != "dist"})


@dataclass(frozen=True)
class Likelihood:
    """Observation model of the log of the measured loss.

    Parameters
    ----------
    family : {"student_t", "normal"}
        Noise distribution on log loss (multiplicative noise on the loss).
    sigma : Prior
        Prior of the noise scale (a relative error: 0.01 is about 1%).
    nu : Prior or None
        Prior of the Student-t degrees of freedom (None for ``normal``).
    why : str
        The reasoning.
    """

    family: str = DEFAULT_FAMILY
    sigma: Prior = field(default_factory=lambda: _default_prior(DEFAULT_PRIORS["sigma"]))
    nu: Prior | None = field(default_factory=lambda: _default_prior(DEFAULT_PRIORS["nu"]))
    why: str = ""

    # ------------------------------------------------------------------ reading and writing

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], where: str) -> Likelihood:
        """Read the ``[likelihood]`` table of a law file; a noise prior left out is the default.

        Parameters
        ----------
        spec : mapping
            ``family``, ``why`` and a prior spec per noise parameter (``sigma``, ``nu``).
        where : str
            Where the table comes from, for messages (``"chinchilla.toml: likelihood"``).

        Returns
        -------
        Likelihood
            The likelihood, checked.

        Raises
        ------
        LawError
            If a key is unknown or belongs to another family, the family is unknown, or a
            prior is invalid or not positive.
        """
        if not isinstance(spec, Mapping):
            raise LawError(f"{where} = {spec!r}: must be a table (family, sigma, nu, why)")
        every = list(
            dict.fromkeys(n for f in _FAMILIES.values() for n in ("sigma", *f.shape_names))
        )
        check_keys(spec, (*_KEYS, *every), f"{where}.", "key", "it takes")
        family = str(spec.get("family", DEFAULT_FAMILY))
        if family not in _FAMILIES:
            raise LawError(
                f"{where}.family = {family!r}: unknown; use one of {', '.join(FAMILIES)}"
            )
        names = ("sigma", *_FAMILIES[family].shape_names)
        unused = [n for n in every if n in spec and n not in names]
        if unused:
            raise LawError(
                f"{where}.{unused[0]}: a {family} likelihood has no {unused[0]}; "
                f"remove it, or choose a family that has it"
            )
        priors = {
            name: prior_from_spec(spec.get(name, DEFAULT_PRIORS[name]), f"{where}.{name}")
            for name in names
        }
        shapes = {name: priors.get(name) for name in every if name != "sigma"}
        return cls(family, priors["sigma"], **shapes, why=str(spec.get("why", "")).strip())

    def to_dict(self) -> dict[str, Any]:
        """Return the table :meth:`from_dict` reads back."""
        out: dict[str, Any] = {"family": self.family}
        out.update({name: spec_of(prior) for name, prior in self.priors.items()})
        out["why"] = self.why
        return out

    def check(self, where: str) -> None:
        """Refuse an unknown family, a missing or invalid prior, or a noise prior not positive.

        Parameters
        ----------
        where : str
            Where the likelihood comes from, for messages.

        Raises
        ------
        LawError
            Naming the problem and what to do.
        """
        if self.family not in _FAMILIES:
            raise LawError(
                f"{where}.family = {self.family!r}: unknown; use one of {', '.join(FAMILIES)}"
            )
        try:
            priors = self.priors
        except ValueError as err:
            raise LawError(f"{where}: {err}") from None
        for name, prior in priors.items():
            check_prior_object(prior, f"{where}.{name}")
            # A scale and degrees of freedom are positive: a prior with negative support
            # would start the sampler outside the model.
            if not is_positive(prior):
                raise LawError(
                    f"{where}.{name}: the prior of the noise {name} must be positive "
                    f"(HalfNormal, LogNormal, Gamma, ...), not {prior.distribution}"
                )

    def describe(self) -> str:
        """One line: the family and the noise priors."""
        priors = ", ".join(f"{name} ~ {spec_of(prior)}" for name, prior in self.priors.items())
        return f"{self.family} on log loss, {priors}"

    @property
    def _kind(self) -> _Family:
        try:
            return _FAMILIES[self.family]
        except KeyError:
            raise ValueError(
                f"likelihood family must be one of {', '.join(FAMILIES)}, not {self.family!r}"
            ) from None

    @property
    def title(self) -> str:
        """The family's name for people (``Student-t``, ``normal``)."""
        return self._kind.title

    @property
    def noise_names(self) -> tuple[str, ...]:
        """Names of the noise parameters in the posterior (``sigma`` first)."""
        return ("sigma", *self._kind.shape_names)

    @property
    def priors(self) -> dict[str, Prior]:
        """The prior of each noise parameter, by name.

        Raises
        ------
        ValueError
            If the family needs a shape parameter whose prior is missing.
        """
        out = {"sigma": self.sigma}
        for name in self._kind.shape_names:
            prior = getattr(self, name)
            if prior is None:
                raise ValueError(f"a {self.family} likelihood needs a prior for {name}")
            out[name] = prior
        return out

    def with_prior(self, name: str, prior: Prior) -> Likelihood:
        """Return a copy with the prior of one noise parameter replaced.

        Parameters
        ----------
        name : str
            One of :attr:`noise_names`.
        prior : Prior
            The new prior.

        Returns
        -------
        Likelihood
            The changed likelihood.

        Raises
        ------
        KeyError
            If ``name`` is not a noise parameter of this family.
        """
        if name not in self.noise_names:
            raise KeyError(name)
        return replace(self, **{name: prior})

    # ------------------------------------------------------------------ PyMC

    def observe(self, name: str, log_mu: Any, observed: Any, dims: str | None = None) -> Any:
        """Add the noise parameters and the observed log values to the current PyMC model.

        Parameters
        ----------
        name : str
            Name of the observed variable.
        log_mu : TensorVariable
            The law's log value per run.
        observed : TensorVariable or array
            The log of the measured values.
        dims : str, optional
            Dimension of the runs.

        Returns
        -------
        TensorVariable
            The observed variable.
        """
        noise = {pname: prior.create_variable(pname) for pname, prior in self.priors.items()}
        return self._kind.pymc(name, log_mu, **noise, observed=observed, dims=dims)

    # ------------------------------------------------------------------ NumPy

    def _standard(self, noise: Mapping[str, np.ndarray]) -> Any:
        return self._kind.standard(*(noise[name] for name in self._kind.shape_names))

    def logpdf(
        self, log_y: np.ndarray, log_mu: np.ndarray, noise: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Log density of observed log values, per draw and run.

        Parameters
        ----------
        log_y : numpy.ndarray
            Log of the measured values.
        log_mu : numpy.ndarray
            The law's log value, broadcastable against ``log_y``.
        noise : mapping of str to numpy.ndarray
            The noise parameters (:attr:`noise_names`), shaped to broadcast (e.g.
            ``(draws, 1)`` against ``(draws, runs)``).

        Returns
        -------
        numpy.ndarray
            ``log p(log_y | log_mu, noise)``, the broadcast shape.
        """
        sigma = noise["sigma"]
        return self._standard(noise).logpdf((log_y - log_mu) / sigma) - np.log(sigma)

    def cdf(
        self, log_y: np.ndarray, log_mu: np.ndarray, noise: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Probability that a new run's log value is below ``log_y``.

        Parameters
        ----------
        log_y, log_mu, noise
            As in :meth:`logpdf`.

        Returns
        -------
        numpy.ndarray
            ``P(log Y <= log_y | log_mu, noise)``, the broadcast shape.
        """
        return self._standard(noise).cdf((log_y - log_mu) / noise["sigma"])

    def draw_noise(
        self,
        noise: Mapping[str, np.ndarray],
        seed: int | np.random.Generator,
        shape: tuple[int, ...] | None = None,
    ) -> np.ndarray:
        """Draw the noise of new runs on log loss.

        Parameters
        ----------
        noise : mapping of str to numpy.ndarray
            The noise parameters per posterior draw (:attr:`noise_names`).
        seed : int or numpy.random.Generator
            Random seed (the same seed gives the same draws) or a generator.
        shape : tuple of int, optional
            Shape of the result, to which the noise parameters broadcast; default their
            own shape (one term per posterior draw).

        Returns
        -------
        numpy.ndarray
            ``sigma * eps`` with ``eps`` from the standard noise distribution.
        """
        rng = np.random.default_rng(seed)
        sigma = np.asarray(noise["sigma"])
        shape = sigma.shape if shape is None else shape
        shapes = {name: np.broadcast_to(noise[name], shape) for name in self._kind.shape_names}
        eps = self._standard(shapes).rvs(size=shape, random_state=rng)
        return sigma * eps
