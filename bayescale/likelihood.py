"""The observation model of a law: how a measured loss scatters around the law's value.

One :class:`Likelihood` owns its noise family everywhere it matters: the PyMC model
(:meth:`Likelihood.observe`), the pointwise log density for LOO and held-out scores
(:meth:`Likelihood.logpdf`), the probability of a new run below a target
(:meth:`Likelihood.cdf`) and the noise of a new run in forecasts (:meth:`Likelihood.draw_noise`).
Adding a family is one entry in ``_FAMILIES``; no other module branches on the family.

Two scales of noise, ``eps`` standard Student-t (robust to outlying runs, like the Huber loss
of Hoffmann et al. 2022) or normal:

- ``scale="log"`` (default), multiplicative noise: ``log y = log L(x; theta) + sigma * eps``;
  ``sigma`` is a relative error (0.01 is about 1%) and every ``y`` must be > 0.
- ``scale="linear"``, additive noise: ``y = L(x; theta) + sigma * eps``, for a metric that can
  be zero or negative (a unigram-normalised loss, a mixture proportion); ``sigma`` is in the
  units of ``y``, so its default prior HalfNormal(0.1) suits metrics of order 1 and should be
  restated for others (``[likelihood] sigma = {...}`` in a law file).

The family works on the *transformed* value ``z = transform(y)`` (``log y`` or ``y``) around
the law's value on that scale (``log L`` or ``L``); :meth:`Likelihood.logpdf_y` and
:meth:`Likelihood.cdf_y` speak of ``y`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pymc_extras.prior import Prior
from scipy import special, stats

from bayescale.errors import DataError, LawError
from bayescale.priors import check_keys, check_prior_object, is_positive, prior_from_spec, spec_of

__all__ = ["DEFAULT_FAMILY", "DEFAULT_PRIORS", "DEFAULT_SCALE", "FAMILIES", "SCALES", "Likelihood"]

DEFAULT_FAMILY = "student_t"
DEFAULT_SCALE = "log"
#: The scales noise can live on, and how people read them.
SCALES: dict[str, str] = {
    "log": "multiplicative noise on log y",
    "linear": "additive noise on y",
}
#: Default priors of the noise parameters: a relative error of a few percent at most (on the
#: log scale; in the units of y on the linear scale), and Student-t degrees of freedom from
#: about 2 (heavy tails) to 50 (nearly normal).
DEFAULT_PRIORS: dict[str, dict[str, Any]] = {
    "sigma": {"dist": "HalfNormal", "sigma": 0.1},
    "nu": {"dist": "Gamma", "alpha": 2.0, "beta": 0.1},
}
#: Keys of a law file's ``[likelihood]`` table besides the noise parameters' priors.
_KEYS = ("family", "scale", "why")


@dataclass(frozen=True)
class _Family:
    """What differs between noise families: their shape parameters and distributions."""

    title: str
    shape_names: tuple[str, ...]
    # PyMC distribution of the observed log values, given mu, sigma and the shape variables.
    pymc: Callable[..., Any]
    # SciPy's standard distribution (loc 0, scale 1) given the shape parameters' arrays.
    standard: Callable[..., Any]
    # Its log density at x given the shape parameters' arrays, in NumPy: a backtest scores
    # held-out runs at 200 slopes x 600 draws, where SciPy's per-call overhead dominated.
    log_standard: Callable[..., np.ndarray]


def _pymc_student_t(name: str, mu: Any, sigma: Any, nu: Any, **kwargs: Any) -> Any:
    import pymc as pm

    return pm.StudentT(name, nu=nu, mu=mu, sigma=sigma, **kwargs)


def _pymc_normal(name: str, mu: Any, sigma: Any, **kwargs: Any) -> Any:
    import pymc as pm

    return pm.Normal(name, mu=mu, sigma=sigma, **kwargs)


def _student_t_logpdf(x: np.ndarray, nu: np.ndarray) -> np.ndarray:
    nu = np.asarray(nu, dtype=float)
    constant = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
    return constant - (nu + 1) / 2 * np.log1p(x * x / nu)


def _normal_logpdf(x: np.ndarray) -> np.ndarray:
    return -0.5 * x * x - 0.5 * np.log(2 * np.pi)


_FAMILIES: dict[str, _Family] = {
    "student_t": _Family(
        "Student-t", ("nu",), _pymc_student_t, lambda nu: stats.t(df=nu), _student_t_logpdf
    ),
    "normal": _Family("normal", (), _pymc_normal, lambda: stats.norm(), _normal_logpdf),
}
FAMILIES = tuple(_FAMILIES)


def _default_prior(spec: Mapping[str, Any]) -> Prior:
    return Prior(str(spec["dist"]), **{k: v for k, v in spec.items() if k != "dist"})


@dataclass(frozen=True)
class Likelihood:
    """Observation model of the measured metric (loss): its noise family and scale.

    Parameters
    ----------
    family : {"student_t", "normal"}
        Noise distribution on the transformed value (see ``scale``).
    sigma : Prior
        Prior of the noise scale: a relative error on the log scale (0.01 is about 1%), in
        the units of y on the linear scale (the default HalfNormal(0.1) assumes a metric
        of order 1).
    nu : Prior or None
        Prior of the Student-t degrees of freedom (None for ``normal``).
    why : str
        The reasoning.
    scale : {"log", "linear"}, default "log"
        ``"log"``: multiplicative noise on log y (y must be > 0); ``"linear"``: additive
        noise on y, for a metric that can be zero or negative.
    """

    family: str = DEFAULT_FAMILY
    sigma: Prior = field(default_factory=lambda: _default_prior(DEFAULT_PRIORS["sigma"]))
    nu: Prior | None = field(default_factory=lambda: _default_prior(DEFAULT_PRIORS["nu"]))
    why: str = ""
    scale: str = DEFAULT_SCALE

    # ------------------------------------------------------------------ reading and writing

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], where: str) -> Likelihood:
        """Read the ``[likelihood]`` table of a law file; a noise prior left out is the default.

        Parameters
        ----------
        spec : mapping
            ``family``, ``scale`` (``"log"``, the default, or ``"linear"``), ``why`` and a
            prior spec per noise parameter (``sigma``, ``nu``).
        where : str
            Where the table comes from, for messages (``"chinchilla.toml: likelihood"``).

        Returns
        -------
        Likelihood
            The likelihood, checked.

        Raises
        ------
        LawError
            If a key is unknown or belongs to another family, the family or scale is
            unknown, or a prior is invalid or not positive.
        """
        if not isinstance(spec, Mapping):
            raise LawError(f"{where} = {spec!r}: must be a table (family, scale, sigma, nu, why)")
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
        scale = spec.get("scale", DEFAULT_SCALE)
        _check_scale(scale, where)
        shapes = {name: priors.get(name) for name in every if name != "sigma"}
        return cls(
            family, priors["sigma"], **shapes, why=str(spec.get("why", "")).strip(), scale=scale
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the table :meth:`from_dict` reads back."""
        out: dict[str, Any] = {"family": self.family, "scale": self.scale}
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
        _check_scale(self.scale, where)
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
        """One line: the family, the scale of the noise and the noise priors."""
        priors = ", ".join(f"{name} ~ {spec_of(prior)}" for name, prior in self.priors.items())
        units = " (sigma in units of y)" if self.scale == "linear" else ""
        return f"{self.family} {self.kind}{units}, {priors}"

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
        """The family's name for people (``Student-t``, ``normal``); see also :attr:`kind`."""
        return self._kind.title

    @property
    def kind(self) -> str:
        """The scale of the noise for people: ``multiplicative noise on log y`` or
        ``additive noise on y``."""
        _check_scale(self.scale, "likelihood")
        return SCALES[self.scale]

    # ------------------------------------------------------------------ scale

    def transform(self, y: np.ndarray) -> np.ndarray:
        """Return the value the noise family sees: ``log y`` (scale "log") or ``y``.

        Parameters
        ----------
        y : numpy.ndarray
            Measured values.

        Returns
        -------
        numpy.ndarray
            ``log y`` or a float copy of ``y``.

        Raises
        ------
        DataError
            On the log scale, if a value is <= 0 (its logarithm is undefined).
        """
        y = np.asarray(y, dtype=float)
        if self.scale == "linear":
            return y.copy()
        _check_scale(self.scale, "likelihood")
        bad = ~(y > 0)
        if bad.any():
            raise DataError(
                f"multiplicative noise takes log(y), but y = {float(y[bad].flat[0])!r} is "
                f"not > 0; use scale='linear' (additive noise) for a metric that can be <= 0"
            )
        return np.log(y)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Map a transformed value back to y: ``exp(z)`` (scale "log") or ``z``.

        Parameters
        ----------
        z : numpy.ndarray
            Values on the scale of the noise.

        Returns
        -------
        numpy.ndarray
            Values of y.
        """
        return np.asarray(z) if self.scale == "linear" else np.exp(z)

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

    def observe(self, name: str, mu: Any, observed: Any, dims: str | None = None) -> Any:
        """Add the noise parameters and the observed values to the current PyMC model.

        Parameters
        ----------
        name : str
            Name of the observed variable.
        mu : TensorVariable
            The law's value per run on the scale of the noise (``log L`` or ``L``).
        observed : TensorVariable or array
            The measured values on that scale (:meth:`transform` of y).
        dims : str, optional
            Dimension of the runs.

        Returns
        -------
        TensorVariable
            The observed variable.
        """
        noise = {pname: prior.create_variable(pname) for pname, prior in self.priors.items()}
        return self._kind.pymc(name, mu, **noise, observed=observed, dims=dims)

    # ------------------------------------------------------------------ NumPy

    def _standard(self, noise: Mapping[str, np.ndarray]) -> Any:
        return self._kind.standard(*(noise[name] for name in self._kind.shape_names))

    def logpdf(self, z: np.ndarray, mu: np.ndarray, noise: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log density of observed values on the scale of the noise, per draw and run.

        Parameters
        ----------
        z : numpy.ndarray
            The measured values on the scale of the noise (:meth:`transform` of y: the log
            of y on the log scale, y itself on the linear one).
        mu : numpy.ndarray
            The law's value on that scale, broadcastable against ``z``.
        noise : mapping of str to numpy.ndarray
            The noise parameters (:attr:`noise_names`), shaped to broadcast (e.g.
            ``(draws, 1)`` against ``(draws, runs)``).

        Returns
        -------
        numpy.ndarray
            ``log p(z | mu, noise)``, the broadcast shape.
        """
        sigma = noise["sigma"]
        shapes = (noise[name] for name in self._kind.shape_names)
        return self._kind.log_standard((z - mu) / sigma, *shapes) - np.log(sigma)

    def cdf(self, z: np.ndarray, mu: np.ndarray, noise: Mapping[str, np.ndarray]) -> np.ndarray:
        """Probability that a new run's transformed value is below ``z``.

        Parameters
        ----------
        z, mu, noise
            As in :meth:`logpdf`.

        Returns
        -------
        numpy.ndarray
            ``P(transform(Y) <= z | mu, noise)``, the broadcast shape.
        """
        return self._standard(noise).cdf((z - mu) / noise["sigma"])

    def logpdf_y(
        self, y: np.ndarray, mu: np.ndarray, noise: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Log density of y itself, whatever the scale: comparable between scales.

        On the log scale the density of y is that of ``log y`` times the Jacobian
        ``1 / y``; on the linear scale it is :meth:`logpdf`.

        Parameters
        ----------
        y : numpy.ndarray
            Measured values (> 0 on the log scale).
        mu : numpy.ndarray
            The law's value on the scale of the noise (``log L`` or ``L``).
        noise : mapping of str to numpy.ndarray
            As in :meth:`logpdf`.

        Returns
        -------
        numpy.ndarray
            ``log p(y | mu, noise)``, the broadcast shape.
        """
        z = self.transform(y)
        logp = self.logpdf(z, mu, noise)
        return logp if self.scale == "linear" else logp - z

    def cdf_y(self, target: float, mu: np.ndarray, noise: Mapping[str, np.ndarray]) -> np.ndarray:
        """Probability that a new run's y is below ``target``, whatever the scale.

        Parameters
        ----------
        target : float
            A value of y; on the log scale a target <= 0 is never reached (probability 0).
        mu : numpy.ndarray
            The law's value on the scale of the noise (``log L`` or ``L``).
        noise : mapping of str to numpy.ndarray
            As in :meth:`logpdf`.

        Returns
        -------
        numpy.ndarray
            ``P(Y <= target | mu, noise)``, the broadcast shape.
        """
        if self.scale != "linear" and not target > 0:
            return np.zeros(np.broadcast_shapes(np.shape(mu), np.shape(noise["sigma"])))
        return self.cdf(self.transform(np.asarray(target, dtype=float)), mu, noise)

    def draw_noise(
        self,
        noise: Mapping[str, np.ndarray],
        seed: int | np.random.Generator,
        shape: tuple[int, ...] | None = None,
    ) -> np.ndarray:
        """Draw the noise of new runs on the scale of the noise (log y or y).

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


def _check_scale(scale: object, where: str) -> None:
    if scale not in SCALES:
        raise LawError(
            f"{where}.scale = {scale!r}: unknown; use 'log' (multiplicative noise on log y, "
            f"the default) or 'linear' (additive noise on y, for a metric that can be <= 0)"
        )
