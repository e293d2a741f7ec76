"""Priors of law parameters: read from specs, checked at load, written back.

A prior is a pymc-extras :class:`~pymc_extras.prior.Prior`. PyMC accepts almost any value
when a law is read and fails only when the sampler starts (a negative scale, ``lower >=
upper``), after seconds of compiling; so every prior is checked here, once, when a law file,
a dict or a call gives it, with a message naming the key and the value.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm  # imported by pymc_extras.prior anyway
from pymc_extras.prior import Prior

from bayescale.errors import LawError, closest

__all__ = [
    "check_keys",
    "check_number",
    "check_prior_object",
    "is_positive",
    "prior_from_spec",
    "spec_of",
    "suggest",
]

# Distributions whose support is the positive reals: such parameters enter the stable log form.
_POSITIVE_DISTS = {
    "LogNormal",
    "HalfNormal",
    "HalfStudentT",
    "HalfCauchy",
    "Gamma",
    "InverseGamma",
    "Exponential",
    "Weibull",
    "ChiSquared",
    "Pareto",
}
_BOUNDED_DISTS = {"TruncatedNormal", "Uniform", "Beta"}


@dataclass(frozen=True)
class _Rule:
    """A constraint on one prior parameter beyond being a finite number."""

    text: str
    holds: Callable[[float], bool]


_POSITIVE = _Rule("> 0", lambda value: value > 0)
_UNIT = _Rule("between 0 and 1", lambda value: 0 < value < 1)
_SCALES = {"sigma": _POSITIVE, "tau": _POSITIVE}

#: What PyMC needs of each prior parameter, for the distributions laws use. PyMC accepts any
#: value when a law is read; a negative scale fails only when the sampler starts, after the
#: model is compiled. A parameter or distribution not listed must be a finite number.
_PRIOR_RULES: dict[str, dict[str, _Rule]] = {
    "Normal": _SCALES,
    "LogNormal": _SCALES,
    "HalfNormal": _SCALES,
    "TruncatedNormal": _SCALES,
    "LogitNormal": _SCALES,
    "SkewNormal": _SCALES,
    "StudentT": {"nu": _POSITIVE, "sigma": _POSITIVE, "lam": _POSITIVE},
    "HalfStudentT": {"nu": _POSITIVE, "sigma": _POSITIVE, "lam": _POSITIVE},
    "Cauchy": {"beta": _POSITIVE},
    "HalfCauchy": {"beta": _POSITIVE},
    "Gamma": {"alpha": _POSITIVE, "beta": _POSITIVE, "mu": _POSITIVE, "sigma": _POSITIVE},
    "InverseGamma": {"alpha": _POSITIVE, "beta": _POSITIVE, "mu": _POSITIVE, "sigma": _POSITIVE},
    "Exponential": {"lam": _POSITIVE, "scale": _POSITIVE},
    "Weibull": {"alpha": _POSITIVE, "beta": _POSITIVE},
    "Beta": {
        "alpha": _POSITIVE,
        "beta": _POSITIVE,
        "mu": _UNIT,
        "sigma": _POSITIVE,
        "nu": _POSITIVE,
    },
    "ChiSquared": {"nu": _POSITIVE},
    "Pareto": {"alpha": _POSITIVE, "m": _POSITIVE},
    "Laplace": {"b": _POSITIVE},
    "Logistic": {"s": _POSITIVE},
    "Gumbel": {"beta": _POSITIVE},
    "Kumaraswamy": {"a": _POSITIVE, "b": _POSITIVE},
}

#: Proper distributions to suggest when a prior names one that cannot be used.
_EXAMPLES = "LogNormal, Normal, HalfNormal, Gamma, TruncatedNormal"


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or nothing if none is close."""
    match = closest(word, choices)
    return f" (did you mean {match!r}?)" if match is not None else ""


def check_keys(
    table: Mapping[Any, Any], allowed: Iterable[str], prefix: str, what: str, takes: str
) -> None:
    """Refuse a key of ``table`` outside ``allowed``, naming it and the closest allowed key.

    The message reads ``{prefix}{key}: unknown {what} (did you mean ...?); {takes} a, b``.
    """
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            raise LawError(
                f"{prefix}{key}: unknown {what}{suggest(str(key), allowed)}; "
                f"{takes} {', '.join(allowed)}"
            )


def check_number(value: Any, where: str) -> float:
    """Return ``value`` if it is a finite real number, else refuse it (``where = value``)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise LawError(f"{where} = {value!r}: must be a number")
    if not math.isfinite(value):
        raise LawError(f"{where} = {value!r}: not a finite number; give a finite number")
    return value


def _is_distribution(obj: Any) -> bool:
    """Whether a PyMC attribute is a distribution (a class with ``dist``, like ``pm.Normal``)."""
    return isinstance(obj, type) and callable(getattr(obj, "dist", None))


@functools.cache
def _distribution_names() -> tuple[str, ...]:
    """Names of PyMC's distributions (for suggestions)."""
    return tuple(name for name in dir(pm) if _is_distribution(getattr(pm, name)))


def _pymc_distribution(dist: Any, where: str) -> Any:
    """Return PyMC's class for a prior's ``dist``, refusing an unknown or improper one."""
    cls = getattr(pm, dist, None) if isinstance(dist, str) else None
    if not _is_distribution(cls):
        raise LawError(
            f"{where}.dist = {dist!r}: unknown distribution"
            f"{suggest(str(dist), _distribution_names())}; "
            f"use a PyMC distribution such as {_EXAMPLES}"
        )
    if dist in ("Flat", "HalfFlat"):
        raise LawError(
            f"{where}.dist = {dist!r}: an improper prior, which prior predictive checks cannot "
            f"draw from; use a proper one such as {_EXAMPLES}"
        )
    return cls


def _check_interval(dist: str, cls: Any, params: Mapping[str, float], where: str) -> None:
    """Refuse ``lower >= upper``, with PyMC's defaults for a bound left out."""
    signature = inspect.signature(cls.dist).parameters
    if not {"lower", "upper"} <= set(signature):
        return
    bounds = {
        key: (params[key], "") if key in params else (signature[key].default, " (the default)")
        for key in ("lower", "upper")
    }
    (lower, lower_note), (upper, upper_note) = bounds["lower"], bounds["upper"]
    if lower is not None and upper is not None and lower >= upper:
        raise LawError(
            f"{where}.lower = {lower!r}{lower_note}: not below upper = {upper!r}{upper_note}; "
            f"a {dist} needs lower < upper"
        )


def _check_prior(dist: Any, params: Mapping[str, Any], where: str) -> None:
    """Refuse a prior PyMC could not sample, naming the parameter, its value and the rule.

    Checked: the distribution exists and is proper; every parameter is one PyMC knows
    (else the closest is suggested), a finite number and obeys :data:`_PRIOR_RULES`;
    ``lower < upper``; PyMC builds the distribution (which refuses a missing or doubly given
    parameter, e.g. both ``sigma`` and ``tau``), and it is continuous and of one number, as
    the sampler (NUTS) needs.
    """
    cls = _pymc_distribution(dist, where)
    names = sorted(set(inspect.signature(cls.dist).parameters) - {"args", "kwargs"})
    check_keys(params, names, f"{where}.", f"parameter of {dist}", f"{dist} takes")
    rules = _PRIOR_RULES.get(dist, {})
    for key, value in params.items():
        check_number(value, f"{where}.{key}")
        rule = rules.get(key)
        if rule is not None and not rule.holds(value):
            raise LawError(
                f"{where}.{key} = {value!r}: a {dist}'s {key} must be {rule.text} (the "
                f"sampler cannot start otherwise); change this value"
            )
    _check_interval(dist, cls, params, where)
    try:
        variable = cls.dist(**params)
    except Exception as err:  # PyMC raises TypeError or ValueError, with a clear message
        args = ", ".join(f"{key}={value!r}" for key, value in params.items())
        raise LawError(f"{where}: {dist}({args}) cannot be built: {err}") from None
    if variable.ndim != 0 or not str(variable.dtype).startswith("float"):
        raise LawError(
            f"{where}.dist = {dist!r}: not a continuous distribution of one number, which the "
            f"sampler needs; use one such as {_EXAMPLES}"
        )


def check_prior_object(prior: Prior, where: str) -> None:
    """Refuse a :class:`~pymc_extras.prior.Prior` that a law cannot sample or record."""
    # A law's parameter is one number, and to_dict records only the distribution and its
    # numbers: dims, a transform or a nested prior would be lost, or break the model.
    for option in ("dims", "transform"):
        if getattr(prior, option) is not None:
            raise LawError(
                f"{where}: {option}={getattr(prior, option)!r} is not supported; a law's "
                f"prior is one distribution with numbers, like Prior('LogNormal', mu=0, sigma=1)"
            )
    _check_prior(prior.distribution, prior.parameters, where)


def prior_from_spec(spec: Prior | Mapping[str, Any], where: str) -> Prior:
    """Build a :class:`~pymc_extras.prior.Prior` from a catalog-style specification.

    Parameters
    ----------
    spec : Prior or mapping
        A ``Prior`` (returned as is once checked) or a mapping such as
        ``{"dist": "LogNormal", "mu": 0.0, "sigma": 1.0}``.
    where : str
        Where the spec comes from, for error messages: the file or call, and the key path
        (e.g. ``"chinchilla.toml: parameters.alpha.prior"``).

    Returns
    -------
    Prior
        The prior.

    Raises
    ------
    LawError
        If the spec has no ``dist``, names a distribution that is unknown, discrete,
        multivariate or improper, or a parameter that is unknown (the message suggests the
        closest), not a finite number or outside what the distribution allows (a scale
        ``<= 0``, ``lower >= upper``, ...). PyMC itself would accept these until sampling.
    """
    if isinstance(spec, Prior):
        check_prior_object(spec, where)
        return spec
    if not isinstance(spec, Mapping) or "dist" not in spec:
        raise LawError(
            f'{where}: a prior is written like {{ dist = "LogNormal", mu = 0.0, sigma = 1.0 }}, '
            f"got {spec!r}"
        )
    kwargs = {k: v for k, v in spec.items() if k != "dist"}
    _check_prior(spec["dist"], kwargs, where)
    try:
        return Prior(str(spec["dist"]), **kwargs)
    except Exception as err:  # pymc-extras raises several types for unknown names
        raise LawError(f"{where}: invalid prior {dict(spec)!r}: {err}") from None


def spec_of(prior: Prior) -> dict[str, Any]:
    """Return a prior as the spec :func:`prior_from_spec` reads back (``{"dist": ..., ...}``)."""
    return {"dist": prior.distribution, **{k: float(v) for k, v in prior.parameters.items()}}


def is_positive(prior: Prior) -> bool:
    """Whether a prior's support is the positive reals (such parameters enter the log form)."""
    if prior.distribution in _POSITIVE_DISTS:
        return True
    if prior.distribution in _BOUNDED_DISTS:
        lower = prior.parameters.get("lower", 0.0 if prior.distribution == "Beta" else None)
        return lower is not None and float(lower) >= 0.0
    return False
