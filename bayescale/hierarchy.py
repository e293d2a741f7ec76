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
stays positive: ``log theta_g ~ Normal(log m, tau)``, i.e. ``log theta_g = log m + tau z_g``
with ``z_g ~ Normal(0, 1)``. The population median ``m`` gets the law's prior (for a
parameter stated at a reference scale, ``m`` is the value there), the spread ``tau`` a
half-normal prior. Parameters with a real-valued prior are pooled as ``theta_g = m + tau z_g``;
parameters with a bounded prior (uniform, beta, truncated) cannot be pooled this way and
default to shared.

Coordinates of the sampler (one model, several coordinate systems; :data:`CENTRING`).
Neither textbook form suits scaling-law families. The centred one (the sampler moves
``log theta_g``) has a funnel: ``tau`` near 0 pins every ``theta_g`` to ``m``, and with three
groups whose values barely differ the posterior of ``tau`` reaches far into it
(divergences). The non-centred one (``m``, ``tau``, ``z_g``) has no funnel, but the runs pin
combinations of one group's parameters (the loss at the reference scale, ``E + A_ref +
B_ref``) to within a fraction of their spread, and in ``z`` coordinates those combinations
are ``sum_p w_p (log m_p + tau_p z_pg)``: their direction turns with every ``tau_p``, which no
mass matrix follows, so NUTS takes tiny steps and ~300 gradients a draw (bench/hierarchy.md,
"Speed"). The default coordinates, for a pooled parameter with a plain-number prior:

* ``mean``: the groups' mean of ``log theta_g``, centred (the runs pin its combinations in
  fixed directions) with a flat density; the population median is
  ``log m = mean - tau xi / sqrt(G)`` with ``xi ~ Normal(0, 1)``, and the law's prior of
  ``m`` enters as a potential (in ``log m``: with the log's Jacobian);
* ``zeta``: the groups' deviations from their mean, partially centred
  (Papaspiliopoulos et al. 2007): ``log theta_g = mean + tau**(1 - c) zeta_g`` with
  ``zeta ~ ZeroSumNormal(tau**c)``, ``c`` = :data:`CENTRING`; ``c = 0`` is non-centred,
  ``c = 1`` centred.

The parameters in this form share one variable per role, over a ``pooled`` coordinate
(``pooled_tau``, ``pooled_mean``, ``pooled_xi``, ``pooled_zeta``), so that the log density
has a few vector operations instead of a chain of scalar ones per parameter (a third of each
gradient's cost before); each parameter's ``p_loc`` and ``p_tau`` are deterministics.

The runs pin the groups' means jointly, as they pin a single law's parameters: a floor
against the exponents, a floor against the amplitudes at the reference scale (posterior
correlations of 0.9 and more on the Chinchilla fit of bench/hierarchy.md). Those directions
are set by the data, not by the spreads, so one linear map follows them: the sampler moves
``w`` with ``mean = o + L w`` (``w`` flat), where the frame ``(o, L)`` is shared data
(:data:`FRAME`) that :func:`bayescale.model.sample_posterior` sets from the curvature of the
log density at the posterior mode. A flat density stays flat under an affine map, so the
posterior is the same whatever the frame; :func:`identity_frame` moves the means themselves.

Both changes of variables leave the density of ``(log m, tau, log theta)`` as it was (the
Jacobians ``tau / sqrt(G)``, ``sqrt(G) tau**(G - 1)`` and the normal's ``tau**-G`` cancel),
so the posterior is the same; ``Pooling.of(law, {"E": {"centring": 0}})`` asks for the
non-centred form (``m``, ``tau``, ``z``), which fits saved before this choice used, and
which prior draws use (a flat ``mean`` cannot be drawn from).

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

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayescale.errors import DataError, LawError, closest
from bayescale.formula import Formula
from bayescale.laws import Law, Parameter

__all__ = [
    "KINDS",
    "NEW_GROUP",
    "SHORTHANDS",
    "SPREADS",
    "SPREAD_REASONS",
    "Pooling",
    "group_values",
    "new_group_draws",
    "scalar_view",
    "spread_priors",
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
#: Why each role's spread has its default (the module's notes), as a report states it.
SPREAD_REASONS = {
    "exponent": "published exponents for one architecture on different corpora differ by "
    "10-20% (e.g. 0.28-0.37 for the Chinchilla data term across refits and datasets); 0.2 "
    "on log alpha is about 0.06 on an exponent of 0.3",
    "floor": "the irreducible loss is the data's entropy; corpora of one language differ by a "
    "few tenths of a nat on 2-3 nats (~10%), code or other languages by more",
    "coefficient": "the loss a term adds at the runs' typical scale depends on tokenizer and "
    "data (a factor of 1.6 at one spread), and a coefficient is the least transferable part "
    "of a law",
    "scale": "where a term turns over (a break, a saturation, a number of repetitions) "
    "depends on tokenizer and data as the loss it adds does: a factor of 1.6 at one spread",
    "shape": "a curvature or sharpness moves less between corpora than a term's size: 0.3 "
    "on the log scale, about 35% at one spread",
}
#: The name that asks for a group not yet observed (drawn from the population).
NEW_GROUP = "new"
#: Default centring ``c`` of pooled parameters (see the module's notes). Measured on the
#: hierarchical Chinchilla fit of 104 runs in 3 groups (2 chains x 500 draws, bench/hierarchy.md):
#: gradients per draw / smallest bulk ESS per 1000 gradients / divergences: non-centred
#: 300 / 0.6 / 0; c = 0 (centred mean only) 193 / 1.0 / 0; c = 0.3: 83 / 2.6 / 0;
#: c = 0.5: 46 / 2.7 / 1; c = 1 (centred) 46 / 3.5 / 16. With the default 4 chains x 1000
#: draws c = 0.3 passed its first attempt for every seed tried; c = 0.4 (59 gradients a
#: draw) and 0.5 diverged for some seeds, sending the fit up the sampler ladder.
CENTRING = 0.3
#: The shared data of a hierarchical model holding its group-mean block's frame: an array
#: ``(P, P + 1)``, an offset ``o`` then a basis ``L``; the groups' means are ``o + L w``
#: with ``w`` the free variable :data:`WHITENED` (see the module's notes).
FRAME = "pooled_frame"
#: The whitened coordinates of the groups' means, the block's free variable.
WHITENED = "pooled_mean_whitened"


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
    centring : dict of str to float
        The sampler's coordinates of each pooled parameter (see the module's notes): 0 for
        the non-centred form (``p_loc``, ``p_tau``, ``p_z``), ``0 < c <= 1`` for the group
        mean centred and the deviations partially centred. A missing entry is 0. The
        posterior is the same whatever the value; only the sampler's speed changes.
    """

    kinds: dict[str, str]
    spreads: dict[str, float] = field(default_factory=dict)
    centring: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        law: Law,
        pooling: str | Mapping[str, Any] | Pooling | None = None,
        *,
        saved: bool = False,
    ) -> Pooling:
        """Resolve a pooling declaration against a law, with defaults and checks.

        Parameters
        ----------
        law : Law
            The law.
        pooling : str, mapping or Pooling, optional
            ``"partial"`` (every parameter pooled, except those with a bounded prior,
            shared), ``"none"`` (every parameter separate: each group its own law, the noise
            shared) or ``"complete"`` (every parameter shared: one law for all groups); or a
            mapping ``{parameter: kind}`` overriding the defaults, where a kind is
            ``"shared"``, ``"pooled"``, ``"separate"`` or ``{"kind": "pooled", "spread":
            0.1}`` to set the half-normal scale of the population spread (and
            ``"centring"``, between 0 and 1, the sampler's coordinates, default
            :data:`CENTRING`: the posterior is the same); a spread or centring applies to a
            pooled parameter only. The key ``"default"`` sets the kind, or the whole entry,
            of the unlisted parameters (e.g. ``{"default": {"kind": "pooled", "centring":
            0}}``); with it, a parameter with a bounded prior is shared, as with
            ``"partial"``. Default: the law file's ``[pooling]`` table (``law.pooling``) if
            it has one, else ``"partial"``.

            A mapping is merged over the law file's table: the call's entry wins for each
            parameter it names (and its ``"default"`` over the file's), the file's entries
            stay for the others; ``{"beta": "shared"}`` with a file declaring ``alpha =
            "shared"`` shares both. A shorthand replaces the file's table, as does a
            resolved ``Pooling``.
        saved : bool, default False
            The declaration of a law saved with a fit (:meth:`bayescale.laws.Law.from_dict`):
            what older versions accepted is accepted with a warning (a spread or centring
            given to a parameter that is not pooled, which never did anything) or as it was
            read then (a shorthand as a kind), so that the fit still loads.

        Returns
        -------
        Pooling
            One kind per law parameter.

        Raises
        ------
        LawError
            If a parameter or kind is unknown (a shorthand such as ``"partial"`` is not a
            kind: the message names the kind it stands for), a spread is not a positive
            number, a spread or centring is given to a parameter that is not pooled (only a
            pooled parameter has a population), or a parameter with a bounded prior is
            declared pooled.
        """
        if isinstance(pooling, Pooling):
            # Resolved already: every parameter listed, so the law file's table adds nothing.
            pooling = {
                n: (
                    {
                        "kind": k,
                        "spread": pooling.spreads.get(n),
                        "centring": pooling.centring.get(n, 0.0),
                    }
                    if k == "pooled"
                    else k
                )
                for n, k in pooling.kinds.items()
            }
        elif isinstance(pooling, Mapping) and law.pooling:
            # A call that declares one parameter keeps the file's other declarations: silently
            # dropping them (the file's shared alpha turning into a pooled one) would change
            # the model behind the user's back.
            pooling = {**law.pooling, **pooling}
        if pooling is None:
            pooling = law.pooling or "partial"
        if isinstance(pooling, str):
            if pooling not in SHORTHANDS:
                guess = closest(pooling, SHORTHANDS)
                hint = f"; did you mean {guess!r}?" if guess is not None else ""
                raise LawError(
                    f"pooling must be one of {', '.join(map(repr, SHORTHANDS))} or a mapping "
                    f"{{parameter: kind}}, not {pooling!r}{hint}"
                )
            pooling = {"default": SHORTHANDS[pooling]}
        if not isinstance(pooling, Mapping):
            raise LawError(
                f"pooling must be 'partial', 'none', 'complete' or a mapping {{parameter: kind}}, "
                f"not {type(pooling).__name__}"
            )
        given = dict(pooling)
        default = given.pop("default", "pooled")
        # A default may be a whole entry ({"kind": "pooled", "centring": 0}): the unlisted
        # parameters' entry.
        default_entry = dict(default) if isinstance(default, Mapping) else None
        if default_entry is not None:
            unknown = sorted(set(default_entry) - {"kind", "spread", "centring"})
            if unknown:
                raise LawError(
                    f"pooling default: unknown key {unknown[0]!r}; use 'kind', 'spread' and "
                    f"'centring'"
                )
            default = default_entry.get("kind", "pooled")
        if saved and isinstance(default, str):
            default = SHORTHANDS.get(default, default)
        if not isinstance(default, str) or default not in KINDS:
            kinds = ", ".join(map(repr, KINDS))
            raise LawError(
                f"pooling default {default!r} is not a kind; use one of {kinds}, or a table "
                f"with 'kind', 'spread' and 'centring'{_shorthand_hint(default)}"
            )
        if default_entry is not None:
            _only_pooled("pooling default", default, default_entry, saved)
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
        centrings: dict[str, float] = {}
        for name, p in law.parameters.items():
            entry = given.get(name, default_entry)
            spread = centring = None
            if isinstance(entry, Mapping):
                unknown = sorted(set(entry) - {"kind", "spread", "centring"})
                if unknown:
                    raise LawError(
                        f"pooling of {name!r}: unknown key {unknown[0]!r}; use 'kind', 'spread' "
                        f"and 'centring'"
                    )
                spread = entry.get("spread")
                centring = entry.get("centring")
                # The default entry's kind was read and checked above.
                entry = entry.get("kind", "pooled") if name in given else default
            kind = default if entry is None else entry
            if kind not in KINDS:
                raise LawError(
                    f"pooling of {name!r}: {kind!r} is not a kind; use one of "
                    f"{', '.join(map(repr, KINDS))}{_shorthand_hint(kind)}"
                )
            if name in given:  # the default entry's own was said once, above
                _only_pooled(
                    f"pooling of {name!r}", kind, {"spread": spread, "centring": centring}, saved
                )
            if kind == "pooled" and not _poolable(p):
                if name in given:
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
                centrings[name] = _centring(p, centring)
        return cls(kinds, spreads, centrings)

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
        return {
            "kinds": dict(self.kinds),
            "spreads": dict(self.spreads),
            "centring": dict(self.centring),
        }

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
        # Fits saved before the choice of coordinates were non-centred.
        centring = {str(k): float(v) for k, v in dict(data.get("centring", {})).items()}
        return cls(kinds, spreads, centring)

    def non_centred(self) -> Pooling:
        """The same pooling in the non-centred form (every centring 0), e.g. for prior draws.

        Returns
        -------
        Pooling
            Same kinds and spreads.
        """
        return Pooling(dict(self.kinds), dict(self.spreads), {})


def spread_priors(law: Law, pooling: Pooling) -> list[dict[str, Any]]:
    """The prior of each pooled parameter's population spread, with its reasoning.

    With two or three groups the runs say little about how far groups differ, so these
    priors, more than the data, set the width of a new group's forecast.

    Parameters
    ----------
    law : Law
        The fit's law.
    pooling : Pooling
        The fit's pooling.

    Returns
    -------
    list of dict
        One per pooled parameter, in the law's order: ``name`` (the spread's variable,
        ``E_tau``), ``parameter``, ``role``, ``spread`` (the half-normal scale),
        ``log_scale`` (the spread is on the log scale), ``default`` (the role's default,
        not one set in the pooling), ``prior`` (as text) and ``why``.
    """
    out = []
    for name in pooling.pooled:
        p = law.parameters[name]
        spread = float(pooling.spreads.get(name, _default_spread(p)))
        default = _default_spread(p)
        if p.positive:
            unit = (
                f"on the log scale: groups typically differ by a factor within "
                f"exp(+-{spread:g}) = {np.exp(spread):.2g}"
            )
        else:
            unit = f"in {name}'s own units: groups typically differ by about {spread:g}"
        reason = SPREAD_REASONS.get(p.role) if p.positive else None
        if reason is None:
            reason = f"the default spread of a {p.role} ({'log scale' if p.positive else 'units'})"
        if np.isclose(spread, default):
            why = f"Spread of {name} between groups, {unit}. {reason[0].upper()}{reason[1:]}."
        else:
            why = (
                f"Spread of {name} between groups, {unit}; set in the fit's pooling (the "
                f"default for a {p.role} is {default:g}: {reason})."
            )
        out.append(
            {
                "name": f"{name}_tau",
                "parameter": name,
                "role": p.role,
                "spread": spread,
                "log_scale": bool(p.positive),
                "default": bool(np.isclose(spread, default)),
                "prior": f"HalfNormal(sigma={spread:g})",
                "why": why,
            }
        )
    return out


def _shorthand_hint(kind: Any) -> str:
    """For a ``pooling=`` shorthand written as a kind: the kind it stands for."""
    if not isinstance(kind, str) or kind not in SHORTHANDS:
        return ""
    return (
        f" (did you mean {SHORTHANDS[kind]!r}? {kind!r} is the shorthand pooling={kind!r}, "
        f"every parameter {SHORTHANDS[kind]})"
    )


def as_accepted_now(declared: Mapping[str, Any]) -> dict[str, Any]:
    """A ``[pooling]`` declaration saved by an older version, as this version accepts it.

    Older versions read a shorthand as the default kind (``default = "partial"``) and
    ignored a spread or centring given to a shared or separate parameter; both are refused
    now. The same meaning, written as now: the shorthand's kind, without what was ignored.

    Parameters
    ----------
    declared : mapping
        The declaration (``Law.pooling``), already read with ``saved=True``.

    Returns
    -------
    dict
        The declaration with the same effect, that :meth:`Pooling.of` accepts.
    """
    out: dict[str, Any] = {}
    for name, entry in declared.items():
        if isinstance(entry, str):
            out[name] = SHORTHANDS.get(entry, entry) if name == "default" else entry
            continue
        if not isinstance(entry, Mapping):
            out[name] = entry
            continue
        kept = dict(entry)
        kind = kept.get("kind", "pooled")
        if name == "default" and isinstance(kind, str) and kind in SHORTHANDS:
            kind = kept["kind"] = SHORTHANDS[kind]
        if kind != "pooled":
            kept.pop("spread", None)
            kept.pop("centring", None)
        out[name] = kept
    return out


def _only_pooled(where: str, kind: str, entry: Mapping[str, Any], saved: bool = False) -> None:
    """Refuse a spread or centring declared with a kind that has no population.

    A law saved with a fit (``saved``) is read with a warning instead: older versions
    accepted it (it never did anything), and the fit must still load.

    Raises
    ------
    LawError
        For a spread or centring of a shared or separate parameter, unless ``saved``.
    """
    from bayescale.errors import DataWarning

    given = [key for key in ("spread", "centring") if entry.get(key) is not None]
    if not given or kind == "pooled":
        return
    said = (
        f"{where}: a {given[0]} applies only to a pooled parameter (the groups' population), "
        f"not to a {kind!r} one"
    )
    if not saved:
        raise LawError(f"{said}; drop it, or declare the kind 'pooled'")
    warnings.warn(
        f"{said}: it is ignored; drop it, or declare the kind 'pooled'",
        DataWarning,
        stacklevel=4,
    )


def _plain_prior(p: Parameter) -> bool:
    return all(isinstance(v, int | float) for v in p.prior.parameters.values())


def _centring(p: Parameter, value: Any) -> float:
    """A pooled parameter's centring: the default, or the one declared, checked."""
    if value is None:
        # The group-mean form writes the prior of m as a density: plain-number priors only.
        return CENTRING if _plain_prior(p) else 0.0
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not np.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise LawError(
            f"pooling of {p.name!r}: centring must be a number from 0 (non-centred) to 1 "
            f"(centred), not {value!r}"
        )
    if value > 0 and not _plain_prior(p):
        raise LawError(
            f"pooling of {p.name!r}: centring {value!r} needs a prior with plain numbers as "
            f"parameters; use centring 0"
        )
    return float(value)


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
        scale if ``p`` has one), ``p_tau`` and ``p_z`` (standard normal offsets), or, in
        the group-mean form (see the module's notes), ``p_position``: the groups' ``log
        theta_g`` (``theta_g`` for a real-valued ``p``) built from the block's variables;
        for a shared or separate ``p``: its sampled variable (``p``, or ``p_ref`` at a
        reference scale).
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
        if kind == "pooled" and f"{p.name}_position" in free:
            position = free[f"{p.name}_position"]
            log_value = position if p.positive else None
            value = ops.exp(position) if p.positive else position
        elif kind == "pooled":
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


def group_mean_block(law: Law, pooling: Pooling) -> list[Parameter]:
    """The pooled parameters sampled in the group-mean form (see the module's notes).

    Parameters
    ----------
    law : Law
        The law.
    pooling : Pooling
        Kinds and centrings of the parameters.

    Returns
    -------
    list of Parameter
        In the order of the block's ``pooled`` coordinate (the law's); empty if none.
    """
    return [
        p
        for name, p in law.parameters.items()
        if pooling.kinds[name] == "pooled" and pooling.centring.get(name, 0.0) > 0
    ]


def identity_frame(size: int) -> np.ndarray:
    """The frame of a group-mean block of ``size`` parameters that moves the means themselves.

    Parameters
    ----------
    size : int
        Parameters in the block.

    Returns
    -------
    numpy.ndarray
        ``(size, size + 1)``: a zero offset, then the identity basis (see :data:`FRAME`).
    """
    return np.hstack([np.zeros((size, 1)), np.eye(size)])


def create_free_variables(law: Law, pooling: Pooling, frame: Any = None) -> dict[str, Any]:
    """Create the free variables of a hierarchical model, in the current PyMC model.

    The model needs a ``group`` coordinate. See :func:`group_values` for their names.

    Parameters
    ----------
    law : Law
        The law.
    pooling : Pooling
        Kinds of the parameters.
    frame : tensor or array, optional
        The group-mean block's frame (:data:`FRAME`), e.g. a ``pm.Data`` the sampler sets;
        default :func:`identity_frame`.

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
    block = group_mean_block(law, pooling)
    if block:
        free.update(_group_mean_block(block, pooling, frame))
    in_block = {p.name for p in block}
    for name, p in law.parameters.items():
        kind = pooling.kinds[name]
        if name in in_block:
            continue
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


def _group_mean_block(
    params: Sequence[Parameter], pooling: Pooling, frame: Any = None
) -> dict[str, Any]:
    """Free variables of the pooled parameters in the group-mean form (see the module's notes).

    One variable per role over a ``pooled`` coordinate (``pooled_tau``, ``pooled_mean``,
    ``pooled_xi``, ``pooled_zeta`` over ``(pooled, group)``), not four per parameter: the
    log density then has a few vector operations where it had a chain of scalar ones per
    parameter, which cost a third of each gradient of the hierarchical Chinchilla fit
    (bench/hierarchy.md, "Speed"). Each parameter's ``p_loc`` and ``p_tau`` are recorded as
    deterministics: what a new group, the reports and the diagnostics read. The groups'
    means ``pooled_mean`` are a deterministic too, ``o + L w`` from the free
    :data:`WHITENED` ``w`` in ``frame`` (:data:`FRAME`; default :func:`identity_frame`).

    Returns ``{p_tau, p_position}`` per parameter for :func:`group_values` (the position is
    ``log theta_g``, or ``theta_g`` for a real-valued parameter), and ``p_loc``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    model = pm.modelcontext(None)
    names = [p.name for p in params]
    model.add_coord("pooled", names)
    groups = len(model.coords["group"])
    spreads = np.array([pooling.spreads[n] for n in names])
    centring = np.array([pooling.centring[n] for n in names])
    tau = pm.HalfNormal("pooled_tau", sigma=spreads, dims="pooled")
    if frame is None:
        frame = identity_frame(len(names))
    frame = pt.as_tensor(frame)
    whitened = pm.Flat(WHITENED, dims="pooled")
    mean = pm.Deterministic("pooled_mean", frame[:, 0] + frame[:, 1:] @ whitened, dims="pooled")
    xi = pm.Normal("pooled_xi", 0.0, 1.0, dims="pooled")
    zeta = pm.ZeroSumNormal("pooled_zeta", sigma=(tau**centring)[:, None], dims=("pooled", "group"))
    log_m = mean - tau * xi / np.sqrt(groups)
    # tau**(1 - c) through the log: tau > 0, and c = 1 gives exp(0) = 1.
    position = mean[:, None] + pt.exp((1 - centring) * pt.log(tau))[:, None] * zeta
    positive = [i for i, p in enumerate(params) if p.positive]
    loc = log_m
    if positive:
        loc = pt.set_subtensor(loc[positive], pt.exp(log_m[positive]))
    # The law's prior of each m, one vector per distribution; for a positive m as a density
    # of log m: times |dm / d log m| = m.
    by_dist: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for i, p in enumerate(params):
        by_dist.setdefault((p.prior.distribution, tuple(sorted(p.prior.parameters))), []).append(i)
    for (dist_name, keys), index in by_dist.items():
        first = params[index[0]].prior
        stacked = {k: np.array([params[i].prior.parameters[k] for i in index]) for k in keys}
        dist = first.pymc_distribution.dist(**stacked)
        logp = pm.logp(dist, loc[index]).sum()
        jacobian = [i for i in index if params[i].positive]
        if jacobian:
            logp = logp + log_m[jacobian].sum()
        pm.Potential(f"pooled_loc_prior_{dist_name}_{index[0]}", logp)
    free: dict[str, Any] = {}
    for i, name in enumerate(names):
        free[f"{name}_loc"] = pm.Deterministic(f"{name}_loc", loc[i])
        free[f"{name}_tau"] = pm.Deterministic(f"{name}_tau", tau[i])
        free[f"{name}_position"] = position[i]
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
    size: int | None = None,
) -> dict[str, np.ndarray]:
    """Parameter draws of a group not yet observed, one per posterior draw.

    A pooled parameter is drawn from its population (``z ~ Normal(0, 1)`` with that draw's
    ``loc`` and ``tau``), a shared one keeps its posterior value, and a separate one, of
    which the other groups say nothing, is drawn from the law's prior: such forecasts are
    as wide as the prior says. With every parameter separate (``pooling="none"``) the new
    group is the prior's, and ``posterior`` holds nothing it needs: ``size`` says how many
    draws to make.

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
    size : int, optional
        Number of draws (the posterior's draws); default the length of ``posterior``'s
        arrays, which must then hold one.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{parameter: draws}`` for every law parameter.

    Raises
    ------
    ValueError
        If ``size`` is not given and ``posterior`` is empty.
    """
    import pymc as pm

    if size is None:
        if not posterior:
            raise ValueError("new_group_draws: give size= when the posterior holds no variable")
        size = len(next(iter(posterior.values())))
    n = int(size)
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
