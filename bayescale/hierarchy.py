"""Many families, one fit: which law parameters the groups share, pool or keep separate.

Runs often come in families (datasets, tokenizers, architectures, data mixtures): a rich
sweep on an old setup, a few runs on a new one. Fitting each family alone is noisy (a few
runs cannot pin five parameters); pooling them all pretends they are one. A hierarchical
fit declares, per law parameter:

``shared``
    one value for every group (e.g. an exponent believed universal);
``pooled``
    one value per group, drawn from a population whose centre and spread are learned: a
    group with few runs borrows strength from the others, as much as they agree
    (partial pooling);
``separate``
    one value per group, each with the law's own prior and nothing learned across groups.

Pooled parameters with a positive prior are pooled on the log scale, so every group's value
stays positive: ``log theta_g = log m + tau z_g``. The population median ``m`` gets the law's
prior (for a parameter stated at a reference scale, ``m`` is the value there), the spread
``tau`` a half-normal prior, and ``z_g ~ Normal(0, 1)``. This is the non-centred form: with
few runs per group the centred one, ``log theta_g ~ Normal(log m, tau)``, has a funnel
(``tau`` near 0 pins every ``theta_g``) that NUTS cannot cross without divergences; here
the sampler moves ``z_g`` and ``tau`` independently. Parameters with a real-valued prior are
pooled as ``theta_g = m + tau z_g``; parameters with a bounded prior (uniform, beta,
truncated) cannot be pooled this way and default to shared.

Spreads (half-normal scales of ``tau``, :data:`SPREADS`): on the log scale a spread ``s``
says that groups typically differ by a factor within ``exp(+-s)``.

* exponents 0.2: published exponents for one architecture on different corpora differ by
  10-20% (e.g. 0.28-0.37 for the Chinchilla data term across refits and datasets); 0.2 on
  log alpha is about 0.06 on an exponent of 0.3.
* floors 0.3: the irreducible loss is the data's entropy; corpora of one language differ by
  a few tenths of a nat on 2-3 nats (~10%), code or other languages by more.
* coefficients and scales 0.5: the loss a term adds at the runs' typical scale depends on
  tokenizer and data (a factor of 1.6 at one spread), and a coefficient is the least
  transferable part of a law.
* shapes 0.3; real-valued parameters: 0.1 for exponents, 0.5 otherwise (in their units).

All of this is expressed as pure functions of the free variables (:func:`group_values`), so
that the PyMC model (:func:`bayescale.model.build_model`) and the NumPy draws of a new group
(:func:`new_group_draws`) share one construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayescale.errors import DataError, LawError
from bayescale.formula import Formula
from bayescale.laws import Law, Parameter

__all__ = [
    "KINDS",
    "NEW_GROUP",
    "SHORTHANDS",
    "SPREADS",
    "Pooling",
    "group_values",
    "new_group_draws",
    "scalar_view",
]

#: How a parameter varies across groups.
KINDS = ("shared", "pooled", "separate")
#: ``pooling=`` shorthands: every parameter pooled where it can be, separate, or shared.
SHORTHANDS = {"partial": "pooled", "none": "separate", "complete": "shared"}
#: Half-normal scale of the population spread ``tau``, by role, on the log scale (see the
#: module's notes for the reasoning).
SPREADS = {"exponent": 0.2, "floor": 0.3, "coefficient": 0.5, "scale": 0.5, "shape": 0.3}
#: Spreads of parameters with a real-valued prior, in the parameter's own units.
REAL_SPREADS = {"exponent": 0.1}
REAL_SPREAD_DEFAULT = 0.5
#: The name that asks for a group not yet observed (drawn from the population).
NEW_GROUP = "new"


def _poolable(p: Parameter) -> bool:
    from bayescale.priors import _BOUNDED_DISTS

    return p.prior.distribution not in _BOUNDED_DISTS


def _default_spread(p: Parameter) -> float:
    if p.positive:
        return SPREADS.get(p.role, 0.5)
    return REAL_SPREADS.get(p.role, REAL_SPREAD_DEFAULT)


@dataclass(frozen=True)
class Pooling:
    """How each law parameter varies across groups.

    Build it with :meth:`of`; a fit stores it with its groups.

    Attributes
    ----------
    kinds : dict of str to str
        ``{parameter: "shared" | "pooled" | "separate"}`` for every law parameter; the noise
        (``sigma``, ``nu``) is always shared.
    spreads : dict of str to float
        Half-normal scale of the population spread of each pooled parameter (on the log
        scale for positive parameters).
    """

    kinds: dict[str, str]
    spreads: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, law: Law, pooling: str | Mapping[str, Any] | Pooling | None = None) -> Pooling:
        """Resolve a pooling declaration against a law, with defaults and checks.

        Parameters
        ----------
        law : Law
            The law.
        pooling : str, mapping or Pooling, optional
            ``"partial"`` (default: every parameter pooled, except those with a bounded
            prior, shared), ``"none"`` (every parameter separate: each group its own law,
            the noise shared) or ``"complete"`` (every parameter shared: one law for all
            groups); or a mapping ``{parameter: kind}`` overriding the defaults, where a
            kind is ``"shared"``, ``"pooled"``, ``"separate"`` or
            ``{"kind": "pooled", "spread": 0.1}`` to set the half-normal scale of the
            population spread. The key ``"default"`` sets the kind of the unlisted
            parameters.

        Returns
        -------
        Pooling
            One kind per law parameter.

        Raises
        ------
        LawError
            If a parameter or kind is unknown, a spread is not a positive number, or a
            parameter with a bounded prior is declared pooled.
        """
        if isinstance(pooling, Pooling):
            pooling = {
                n: {"kind": k, "spread": pooling.spreads.get(n)} for n, k in pooling.kinds.items()
            }
        if pooling is None:
            pooling = "partial"
        if isinstance(pooling, str):
            if pooling not in SHORTHANDS:
                raise LawError(
                    f"pooling must be one of {', '.join(map(repr, SHORTHANDS))} or a mapping "
                    f"{{parameter: kind}}, not {pooling!r}"
                )
            pooling = {"default": SHORTHANDS[pooling]}
        if not isinstance(pooling, Mapping):
            raise LawError(
                f"pooling must be 'partial', 'none', 'complete' or a mapping {{parameter: kind}}, "
                f"not {type(pooling).__name__}"
            )
        given = dict(pooling)
        default = given.pop("default", "pooled")
        default = SHORTHANDS.get(default, default)
        if default not in KINDS:
            kinds = ", ".join(map(repr, KINDS))
            raise LawError(f"pooling default {default!r} is not a kind; use one of {kinds}")
        noise = set(law.likelihood.noise_names)
        for name in given:
            if name in noise:
                raise LawError(
                    f"pooling: {name!r} is a noise parameter, shared by every group; declare "
                    f"only the law's parameters ({', '.join(law.parameters)})"
                )
            if name not in law.parameters:
                raise LawError(
                    f"pooling: law {law.name!r} has no parameter {name!r}; its parameters are "
                    f"{', '.join(law.parameters)}"
                )
        kinds: dict[str, str] = {}
        spreads: dict[str, float] = {}
        for name, p in law.parameters.items():
            entry = given.get(name)
            spread = None
            if isinstance(entry, Mapping):
                unknown = sorted(set(entry) - {"kind", "spread"})
                if unknown:
                    raise LawError(
                        f"pooling of {name!r}: unknown key {unknown[0]!r}; use 'kind' and 'spread'"
                    )
                spread = entry.get("spread")
                entry = entry.get("kind", "pooled")
            kind = default if entry is None else entry
            if kind not in KINDS:
                raise LawError(
                    f"pooling of {name!r}: {kind!r} is not a kind; use one of "
                    f"{', '.join(map(repr, KINDS))}"
                )
            if kind == "pooled" and not _poolable(p):
                if entry is not None:
                    raise LawError(
                        f"pooling of {name!r}: its prior ({p.prior.distribution}) is bounded, "
                        f"which partial pooling cannot respect; declare it 'shared' or 'separate'"
                    )
                kind = "shared"
            kinds[name] = kind
            if kind == "pooled":
                if spread is None:
                    spread = _default_spread(p)
                if (
                    isinstance(spread, bool)
                    or not isinstance(spread, int | float)
                    or not np.isfinite(spread)
                    or spread <= 0
                ):
                    raise LawError(
                        f"pooling of {name!r}: spread must be a positive number (the "
                        f"half-normal scale of the groups' spread), not {spread!r}"
                    )
                spreads[name] = float(spread)
        return cls(kinds, spreads)

    def varying(self, law: Law) -> set[str]:
        """Parameters whose value differs by group.

        A shared parameter stated at a reference scale (``A`` at ``N_ref**alpha``) varies
        too when its power does: the value at the reference scale is what is shared.

        Parameters
        ----------
        law : Law
            The law the pooling belongs to.

        Returns
        -------
        set of str
            Names of per-group parameters.
        """
        out = {n for n, kind in self.kinds.items() if kind != "shared"}
        for p in _ordered(law):
            if p.reference is not None and Formula(p.reference[1]).names & out:
                out.add(p.name)
        return out

    @property
    def pooled(self) -> list[str]:
        """Names of the pooled parameters, in the law's order."""
        return [n for n, kind in self.kinds.items() if kind == "pooled"]

    def population_names(self) -> list[str]:
        """Names of the population variables: ``{p}_loc`` and ``{p}_tau`` per pooled ``p``."""
        return [f"{n}_{part}" for n in self.pooled for part in ("loc", "tau")]

    def describe(self) -> str:
        """One line, e.g. ``'pooled: E, A, B, alpha, beta'``."""
        parts = []
        for kind in KINDS:
            names = [n for n, k in self.kinds.items() if k == kind]
            if names:
                parts.append(f"{kind}: {', '.join(names)}")
        return "; ".join(parts)

    @property
    def shorthand(self) -> str | None:
        """``"partial"``, ``"none"`` or ``"complete"`` when every parameter is of one kind."""
        kinds = set(self.kinds.values())
        if len(kinds) != 1:
            return None
        return {v: k for k, v in SHORTHANDS.items()}[kinds.pop()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stored with a fit)."""
        return {"kinds": dict(self.kinds), "spreads": dict(self.spreads)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pooling:
        """Rebuild from :meth:`to_dict`.

        Parameters
        ----------
        data : mapping
            As written by :meth:`to_dict`.

        Returns
        -------
        Pooling
            The pooling.
        """
        kinds = {str(k): str(v) for k, v in dict(data["kinds"]).items()}
        bad = sorted(v for v in kinds.values() if v not in KINDS)
        if bad:
            raise DataError(f"saved pooling has unknown kind {bad[0]!r}")
        spreads = {str(k): float(v) for k, v in dict(data.get("spreads", {})).items()}
        return cls(kinds, spreads)


def _ordered(law: Law) -> list[Parameter]:
    # Parameters without a reference first: reference powers are formulas over them.
    return sorted(law.parameters.values(), key=lambda p: p.reference is not None)


def group_values(
    law: Law,
    pooling: Pooling,
    free: Mapping[str, Any],
    log_ref: Mapping[str, Any],
    ops: Any,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Each parameter's value per group from the free variables of the hierarchical model.

    One construction for the PyMC graph (tensors; per-group values over the last axis) and
    for NumPy (arrays of draws, e.g. of a new group): everything broadcasts.

    Parameters
    ----------
    law : Law
        The law.
    pooling : Pooling
        Kinds of the parameters.
    free : mapping
        For a pooled ``p``: ``p_loc`` (population median, of the value at the reference
        scale if ``p`` has one), ``p_tau`` and ``p_z`` (standard normal offsets); for a
        shared or separate ``p``: its sampled variable (``p``, or ``p_ref`` at a reference
        scale).
    log_ref : mapping
        ``{input: log reference scale}`` of the inputs parameters are stated at, as tensors
        or numbers.
    ops : formula.Ops
        Elementary functions (NumPy or PyTensor).

    Returns
    -------
    tuple of dict
        The values ``{p: theta}``, the logs of positive ones ``{p: log theta}``, and the
        values at the reference scale ``{p: theta_ref}`` of reference-scale parameters.
    """
    params: dict[str, Any] = {}
    log_params: dict[str, Any] = {}
    at_ref: dict[str, Any] = {}
    for p in _ordered(law):
        kind = pooling.kinds[p.name]
        if kind == "pooled":
            loc, tau, z = free[f"{p.name}_loc"], free[f"{p.name}_tau"], free[f"{p.name}_z"]
            if p.positive:
                log_value = ops.log(loc) + tau * z
                value = ops.exp(log_value)
            else:
                value = loc + tau * z
                log_value = None
        else:
            value = free[p.sampled_name]
            log_value = ops.log(value) if p.positive else None
        if p.reference is not None:
            inp, power = p.reference
            at_ref[p.name] = value
            shift = Formula(power).evaluate(params, ops) * log_ref[inp]
            if log_value is not None:
                log_value = log_value + shift
                value = ops.exp(log_value)
            else:
                value = value * ops.exp(shift)
        params[p.name] = value
        if log_value is not None:
            log_params[p.name] = log_value
    return params, log_params, at_ref


def create_free_variables(law: Law, pooling: Pooling) -> dict[str, Any]:
    """Create the free variables of a hierarchical model, in the current PyMC model.

    The model needs a ``group`` coordinate. See :func:`group_values` for their names.

    Parameters
    ----------
    law : Law
        The law.
    pooling : Pooling
        Kinds of the parameters.

    Returns
    -------
    dict of str to TensorVariable
        The free variables, for :func:`group_values`.

    Raises
    ------
    LawError
        If a separate parameter's prior has parameters that are not plain numbers.
    """
    import pymc as pm

    free: dict[str, Any] = {}
    for name, p in law.parameters.items():
        kind = pooling.kinds[name]
        if kind == "pooled":
            free[f"{name}_loc"] = p.prior.create_variable(f"{name}_loc")
            free[f"{name}_tau"] = pm.HalfNormal(f"{name}_tau", sigma=pooling.spreads[name])
            free[f"{name}_z"] = pm.Normal(f"{name}_z", 0.0, 1.0, dims="group")
        elif kind == "shared":
            free[p.sampled_name] = p.prior.create_variable(p.sampled_name)
        else:
            if not all(isinstance(v, int | float) for v in p.prior.parameters.values()):
                raise LawError(
                    f"pooling of {name!r}: a separate parameter needs a prior with plain "
                    f"numbers as parameters; declare it 'pooled' or 'shared'"
                )
            free[p.sampled_name] = p.prior.pymc_distribution(
                p.sampled_name, **p.prior.parameters, dims="group"
            )
    return free


def _numpy_ops() -> Any:
    from bayescale.formula import NUMPY

    return NUMPY


def new_group_draws(
    law: Law,
    pooling: Pooling,
    posterior: Mapping[str, np.ndarray],
    log_ref: Mapping[str, float],
    seed: int,
) -> dict[str, np.ndarray]:
    """Parameter draws of a group not yet observed, one per posterior draw.

    A pooled parameter is drawn from its population (``z ~ Normal(0, 1)`` with that draw's
    ``loc`` and ``tau``), a shared one keeps its posterior value, and a separate one, of
    which the other groups say nothing, is drawn from the law's prior: such forecasts are
    as wide as the prior says.

    Parameters
    ----------
    law : Law
        The law.
    pooling : Pooling
        Kinds of the parameters.
    posterior : mapping of str to numpy.ndarray
        Flat posterior draws (shape ``(draws,)``) of ``p_loc`` and ``p_tau`` of every pooled
        ``p`` and of the sampled variable of every shared one.
    log_ref : mapping
        Log reference scales of the fit.
    seed : int
        Seed of the new group's offsets (and prior draws): a fit and its reloaded copy give
        identical draws.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{parameter: draws}`` for every law parameter.
    """
    import pymc as pm

    n = len(next(iter(posterior.values())))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 13]))
    free: dict[str, np.ndarray] = {}
    for name, p in law.parameters.items():
        kind = pooling.kinds[name]
        if kind == "pooled":
            free[f"{name}_loc"] = np.asarray(posterior[f"{name}_loc"], dtype=float)
            free[f"{name}_tau"] = np.asarray(posterior[f"{name}_tau"], dtype=float)
            free[f"{name}_z"] = rng.standard_normal(n)
        elif kind == "shared":
            free[p.sampled_name] = np.asarray(posterior[p.sampled_name], dtype=float)
        else:
            dist = p.prior.pymc_distribution.dist(**p.prior.parameters)
            free[p.sampled_name] = np.asarray(
                pm.draw(dist, draws=n, random_seed=int(rng.integers(2**31))), dtype=float
            ).reshape(n)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        params, _, _ = group_values(law, pooling, free, log_ref, _numpy_ops())
    return {
        name: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy() for name, v in params.items()
    }


def shared_variables(law: Law, pooling: Pooling) -> list[str]:
    """Posterior variables a new group needs: population locations, spreads, shared values.

    Parameters
    ----------
    law : Law
        The law.
    pooling : Pooling
        Kinds of the parameters.

    Returns
    -------
    list of str
        Variable names in the posterior.
    """
    out = []
    for name, p in law.parameters.items():
        kind = pooling.kinds[name]
        if kind == "pooled":
            out += [f"{name}_loc", f"{name}_tau"]
        elif kind == "shared":
            out.append(p.sampled_name)
    return out


def scalar_view(posterior: Any, names: Sequence[str] | None = None) -> Any:
    """The posterior with every per-group variable split into one variable per group.

    ``alpha`` over ``(chain, draw, group)`` becomes ``alpha[c4]``, ``alpha[rpj]`` ...:
    diagnostics, summaries and mode detection then treat them as scalars.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior over ``(chain, draw)`` and, for per-group variables, ``group``.
    names : sequence of str, optional
        Variables to keep (before splitting); default all.

    Returns
    -------
    xarray.Dataset
        Scalar variables over ``(chain, draw)``.
    """
    import xarray as xr

    keep = list(posterior.data_vars) if names is None else list(names)
    out = {}
    for name in keep:
        var = posterior[name]
        if "group" in var.dims:
            for g in var["group"].values:
                out[f"{name}[{g}]"] = var.sel(group=g, drop=True)
        else:
            out[name] = var
    return xr.Dataset(out)


def group_names(posterior: Any) -> list[str]:
    """The groups of a hierarchical posterior, in the fit's order (empty if none).

    Parameters
    ----------
    posterior : xarray.Dataset
        A fit's posterior.

    Returns
    -------
    list of str
        Values of its ``group`` coordinate.
    """
    if "group" not in posterior.coords:
        return []
    return [str(g) for g in posterior["group"].values]
