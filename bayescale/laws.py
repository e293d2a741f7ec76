"""Scaling-law forms as data: the ``models/`` catalog, user formulas, and their priors.

A :class:`Law` is a formula over *inputs* (N, D, C, ...) and *parameters*, each parameter
with a prior (a pymc-extras :class:`~pymc_extras.prior.Prior`), a role (floor, exponent,
coefficient, scale, shape) and optionally a *reference scale*: the prior of ``A`` in
``A * N**-alpha`` is then placed on ``A * N_ref**-alpha``, the term's size at the runs'
typical N (geometric mean). That statement of the prior means the same in any units, and it
removes the amplitude-exponent correlation that makes samplers slow.
"""

from __future__ import annotations

import functools
import json
import keyword
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pymc_extras.prior import Prior

from bayescale.data import _DEFAULT_INPUTS
from bayescale.errors import FormulaError, LawError
from bayescale.formula import (
    CONSTANTS,
    NUMPY,
    BinOp,
    Call,
    Formula,
    Name,
    Neg,
    Num,
    Ops,
    _names,
    _shown,
    _unparse,
)
from bayescale.likelihood import Likelihood
from bayescale.priors import (
    check_keys,
    check_number,
    check_prior_object,
    is_positive,
    prior_from_spec,
    spec_of,
    suggest,
)
from bayescale.structure import (
    Structure,
    _factors,
    exp_rates,
    input_like_names,
    ratio_sizes,
    scale_references,
)

if TYPE_CHECKING:
    from bayescale.data import Runs

__all__ = [
    "ROLES",
    "Law",
    "Likelihood",
    "Parameter",
    "catalog",
    "catalog_dir",
    "catalog_formula",
    "get_law",
    "prior_from_spec",
    "refuse_constant_terms",
    "refuse_unused_columns",
]

ROLES = ("floor", "exponent", "coefficient", "scale", "shape")


def catalog_dir() -> Path:
    """Return the folder holding the catalog of law forms.

    Returns
    -------
    Path
        ``bayescale/models`` inside an installed wheel, else ``models/`` at the top of the
        source checkout (editable installs).
    """
    packaged = Path(__file__).resolve().parent / "models"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / "models"


# --------------------------------------------------------------------------- checks of law files

#: Keys of a law file, table by table: anything else is refused as a misspelling, never
#: ignored (a misspelt key would silently leave a default in place).
_LAW_KEYS = (
    "name",
    "title",
    "reference",
    "description",
    "formula",
    "inputs",
    "parameters",
    "likelihood",
    "published",
    "pooling",
)
_PARAMETER_KEYS = ("prior", "role", "at_reference", "why")
_REFERENCE_KEYS = ("input", "power")


@dataclass(frozen=True)
class Parameter:
    """One parameter of a law.

    Parameters
    ----------
    name : str
        The name used in the formula.
    prior : Prior
        Prior of the parameter, or of its value at the reference scale (see ``reference``).
    role : str
        One of :data:`ROLES`: ``floor`` (the irreducible loss E), ``exponent``,
        ``coefficient``, ``scale`` or ``shape``.
    reference : tuple of (str, str) or None
        ``(input, power)``: the prior is on ``value * input_ref**-power``, where ``input_ref``
        is the geometric mean of that input over the runs and ``power`` a formula over other
        parameters (e.g. ``"alpha"``) or a number. None: the prior is on the value itself.
    why : str
        The reasoning behind the prior.
    """

    name: str
    prior: Prior
    role: str = "coefficient"
    reference: tuple[str, str] | None = None
    why: str = ""

    @property
    def positive(self) -> bool:
        """Whether the prior's support is the positive reals."""
        return is_positive(self.prior)

    @property
    def sampled_name(self) -> str:
        """Name of the variable the sampler moves: ``A_ref`` for a reference-scale ``A``."""
        return f"{self.name}_ref" if self.reference else self.name

    def describe_prior(self) -> str:
        """Return the prior as text, saying where it is stated."""
        spec = spec_of(self.prior)
        args = ", ".join(f"{k}={v:g}" for k, v in spec.items() if k != "dist")
        text = f"{spec['dist']}({args})"
        if self.reference:
            inp, power = self.reference
            text += f" on {self.name} * {inp}_ref**-({power})"
        return text


@dataclass(frozen=True)
class Law:
    """A scaling-law form: formula, inputs, parameters with priors, and likelihood.

    Build one with :meth:`from_file`, :meth:`from_toml`, :meth:`from_formula` or
    :func:`get_law`; a law is immutable, :meth:`with_priors` returns a changed copy.

    Parameters
    ----------
    name : str
        Short identifier (e.g. ``"chinchilla"``).
    formula : Formula
        The parsed formula.
    inputs : dict of str to str
        Input names in the formula, with a description each.
    parameters : dict of str to Parameter
        Every other name in the formula.
    likelihood : Likelihood
        Noise model.
    title, reference, description : str
        Human-readable title, paper reference and description.
    published : dict
        Published parameter values, ``{source: {parameter: value}}``, for reports.
    source_text : str
        The catalog file's text, kept so that a saved fit records exactly what was used.
    pooling : dict
        How the parameters vary across groups when the runs have groups (a ``[pooling]``
        table, as :meth:`bayescale.hierarchy.Pooling.of` reads it); empty: the default
        partial pooling. A mapping given to ``fit(..., pooling=...)`` is merged over it
        (the call's entry wins per parameter); a shorthand such as ``"partial"`` replaces it.
    """

    name: str
    formula: Formula
    inputs: dict[str, str]
    parameters: dict[str, Parameter]
    likelihood: Likelihood = field(default_factory=Likelihood)
    title: str = ""
    reference: str = ""
    description: str = ""
    published: dict[str, dict[str, float]] = field(default_factory=dict)
    source_text: str = ""
    pooling: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._validate()
        self._validate_roles()
        self._validate_priors()

    # ------------------------------------------------------------------ validation

    def _validate_roles(self) -> None:
        where = f"law {self.name!r}"
        for p in self.parameters.values():
            if p.role not in ROLES:
                raise LawError(
                    f"{where}: parameters.{p.name}.role = {p.role!r}: unknown role"
                    f"{suggest(p.role, ROLES)}; use one of {', '.join(ROLES)}"
                )
        # Reports and plots draw the floor as the loss never reached: there is one at most.
        floors = [p.name for p in self.parameters.values() if p.role == "floor"]
        if len(floors) > 1:
            raise LawError(
                f"{where}: {', '.join(floors[:-1])} and {floors[-1]} both have the role "
                f"'floor'; a law has one floor (the irreducible loss): give the others "
                f"another role"
            )

    def _validate_priors(self) -> None:
        # Again here, for priors given as Prior objects to the constructor or to Likelihood.
        where = f"law {self.name!r}"
        for p in self.parameters.values():
            check_prior_object(p.prior, f"{where}: parameters.{p.name}.prior")
        self.likelihood.check(f"{where}: likelihood")

    def _validate(self) -> None:
        where = f"law {self.name!r}"
        if not self.name.isidentifier():
            raise LawError(f"{where}: the name must be letters, digits and '_'")
        for name in [*self.inputs, *self.parameters]:
            if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
                raise LawError(f"{where}: {name!r} is not a valid input or parameter name")
        shadowed = sorted(set(self.formula.intermediates) & {*self.inputs, *self.parameters})
        if shadowed:
            raise LawError(
                f"{where}: {', '.join(shadowed)} is an intermediate of the formula and also "
                f"declared as an input or parameter; rename the intermediate"
            )
        both = set(self.inputs) & set(self.parameters)
        if both:
            raise LawError(f"{where}: {sorted(both)} are declared as inputs and as parameters")
        if not self.inputs:
            raise LawError(f"{where}: the law has no inputs")
        declared = set(self.inputs) | set(self.parameters)
        undeclared = sorted(self.formula.names - declared)
        if len(undeclared) == 1:
            raise LawError(
                f"{where}: the formula uses {undeclared[0]}, which is neither an input nor a "
                f"parameter; declare it (an input, or a parameter with a prior)"
            )
        if undeclared:
            raise LawError(
                f"{where}: the formula uses {_names_text(undeclared)}, which are neither inputs "
                f"nor parameters; declare each (an input, or a parameter with a prior)"
            )
        unused = sorted(declared - self.formula.names)
        constants = [name for name in unused if name in CONSTANTS]
        if constants:
            raise LawError(
                f"{where}: {constants[0]!r} is the number {CONSTANTS[constants[0]]:.6g} in every "
                f"formula, not a name to declare; call the parameter or input otherwise "
                f"(e.g. {constants[0]}0)"
            )
        if unused:
            verb = "is" if len(unused) == 1 else "are"
            raise LawError(
                f"{where}: {_names_text(unused)} {verb} declared but not used in the formula"
            )
        if not self.parameters:
            raise LawError(
                f"{where}: the formula {_shown(self.formula.text)} has no parameters, only "
                f"inputs ({', '.join(self.inputs)}); a law needs at least one parameter to fit, "
                f"e.g. 'E + A / N**alpha'"
            )
        reserved = {"sigma", "nu", "y", "log_y"}
        clash = sorted(reserved & declared)
        if clash:
            raise LawError(
                f"{where}: {', '.join(clash)} is reserved for the noise model; rename it"
            )
        sampled = {p.sampled_name for p in self.parameters.values() if p.reference}
        clash = sorted(sampled & (declared | {"log_y"}))
        if clash:
            raise LawError(
                f"{where}: {', '.join(clash)} is the name of a reference-scale parameter "
                f"(A_ref for A); rename it"
            )
        for p in self.parameters.values():
            if p.reference is None:
                continue
            inp, power = p.reference
            if inp not in self.inputs:
                raise LawError(
                    f"{where}: parameter {p.name} is stated at the reference of {inp!r}, "
                    f"which is not an input ({', '.join(self.inputs)})"
                )
            if not p.positive:
                raise LawError(
                    f"{where}: parameter {p.name} is stated at a reference scale, so its prior "
                    f"must be positive (LogNormal, Gamma, ...), not {p.prior.distribution} (it "
                    f"is a prior on {p.name} * {inp}_ref**-({power})). For a prior of either "
                    f"sign on {p.name} itself, drop its reference: no at_reference in the law "
                    f"file, or Law.from_formula(..., priors={{{p.name!r}: ...}}) without "
                    f"at_reference"
                )
            try:
                power_names = Formula(str(power)).names
            except FormulaError as err:
                raise FormulaError(
                    f"{where}: parameters.{p.name}.at_reference.power: {err}"
                ) from None
            unknown = sorted(n for n in power_names if n not in self.parameters)
            if unknown:
                raise LawError(
                    f"{where}: the reference power of {p.name} ({power!r}) uses "
                    f"{_names_text(unknown)}, which "
                    f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of "
                    f"the law (its parameters are {', '.join(self.parameters)})"
                )
            bad = sorted(n for n in power_names if self.parameters[n].reference is not None)
            if bad:
                raise LawError(
                    f"{where}: the reference power of {p.name} ({power!r}) may use only "
                    f"parameters without a reference scale; not {', '.join(bad)}"
                )

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_toml(cls, text: str, source: str = "<text>") -> Law:
        """Read a law from the text of a catalog file.

        Parameters
        ----------
        text : str
            TOML text (see any file in ``models/`` for the format).
        source : str
            File name for error messages.

        Returns
        -------
        Law
            The law.

        Raises
        ------
        LawError
            If the text is not valid TOML or not a valid law: a misspelt key, a prior
            parameter out of its range, ... The message names ``source`` and the key path.
        FormulaError
            If the formula is not valid (the message names ``source``).
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise LawError(f"{source}: not valid TOML: {err}") from None
        return cls._from_dict(data, source, text)

    @classmethod
    def _from_dict(
        cls,
        data: Mapping[str, Any],
        source: str,
        text: str = "",
        keys: tuple[str, ...] = _LAW_KEYS,
        saved: bool = False,
    ) -> Law:
        if not isinstance(data, Mapping):
            raise LawError(
                f"{source}: a law is a table of name, formula, inputs and parameters, "
                f"not a {type(data).__name__}"
            )
        # Unknown keys first: a misspelt 'formla' is reported as such, not as 'formula' missing.
        check_keys(data, keys, f"{source}: ", "key", "a law takes")
        for key in ("name", "formula", "inputs", "parameters"):
            if key not in data:
                raise LawError(f"{source}: the key {key!r} is missing")
        inputs = data["inputs"]
        if isinstance(inputs, list):
            inputs = {str(name): "" for name in inputs}
        if not isinstance(inputs, Mapping):
            raise LawError(f"{source}: 'inputs' must be a table of name = description")
        for key in ("parameters", "likelihood", "published", "pooling"):
            if not isinstance(data.get(key, {}), Mapping):
                raise LawError(f"{source}: {key!r} must be a table, got {data[key]!r}")
        params = {
            str(pname): _read_parameter(str(pname), spec, source)
            for pname, spec in data["parameters"].items()
        }
        likelihood = Likelihood.from_dict(data.get("likelihood", {}), f"{source}: likelihood")
        known = [*params, *likelihood.noise_names]
        published = _read_published(data.get("published", {}), known, source)
        try:
            formula = Formula(str(data["formula"]))
            if any(not p.role for p in params.values()):
                # A parameter without a role takes the one the formula's structure gives it.
                roles = formula.structure(inputs).roles
                params = {
                    n: p if p.role else replace(p, role=roles.get(n, "shape"))
                    for n, p in params.items()
                }
            law = cls(
                name=str(data["name"]),
                formula=formula,
                inputs={str(k): str(v) for k, v in inputs.items()},
                parameters=params,
                likelihood=likelihood,
                title=str(data.get("title", "")),
                reference=str(data.get("reference", "")),
                description=str(data.get("description", "")).strip(),
                published=published,
                source_text=text,
                pooling=dict(data.get("pooling", {})),
            )
            if law.pooling:
                from bayescale.hierarchy import Pooling

                # A wrong declaration fails here, not at a fit; a law saved with a fit is read
                # as it was accepted then (with a warning where it was lenient).
                Pooling.of(law, law.pooling, saved=saved)
                if saved:
                    from bayescale.hierarchy import as_accepted_now

                    # Passed on (a refit of this law, a law file written from it), the
                    # declaration must pass today's checks: what it meant, said as now.
                    law = replace(law, pooling=as_accepted_now(law.pooling))
            return law
        except (FormulaError, LawError) as err:
            raise _in_source(err, source) from None

    @classmethod
    def from_file(cls, path: str | Path) -> Law:
        """Read a law from a catalog-style TOML file.

        Parameters
        ----------
        path : str or Path
            The file.

        Returns
        -------
        Law
            The law.

        Raises
        ------
        LawError
            If the file is missing, unreadable or not a valid law.
        """
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise LawError(f"law file not found: '{path}'") from None
        except OSError as err:
            raise LawError(f"cannot read law file '{path}': {err}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = raw.count(b"\n", 0, err.start) + 1
            column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
            raise LawError(
                f"cannot read law file '{path}': it is not UTF-8 text: byte "
                f"0x{raw[err.start]:02x} at line {line}, column {column} cannot be read (the "
                f"file was most likely saved as Latin-1 or Windows-1252); save it as UTF-8"
            ) from None
        # As read_text does: universal newlines.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return cls.from_toml(text, source=str(path))

    @classmethod
    def from_formula(
        cls,
        formula: str,
        priors: Mapping[str, Prior | Mapping[str, Any]] | None = None,
        *,
        runs: Runs | None = None,
        name: str = "custom",
        inputs: Mapping[str, str] | list[str] | None = None,
        roles: Mapping[str, str] | None = None,
        at_reference: Mapping[str, tuple[str, str | float]] | None = None,
        likelihood: Likelihood | None = None,
        title: str = "",
        reference: str = "",
        declared: tuple[str, ...] = (),
    ) -> Law:
        """Build a law from a formula written by the user; a formula alone is enough.

        Parameters
        ----------
        formula : str
            E.g. ``"E + A * N**-alpha"``, or with named intermediates
            ``"Ls = E + A / N**alpha; Ls * (1 + B / D**beta)"``; see
            :data:`bayescale.formula.FUNCTIONS`.
        priors : mapping, optional
            Priors of some or all parameters: a ``Prior`` or ``{"dist": ..., **params}``. A
            prior given here is kept exactly as written, on the parameter's own value (the
            sampler may move a transformed variable, but the prior means what it says).
        runs : Runs, optional
            The runs the law will be fitted to: they name the inputs and set the scale of
            the default priors.
        name : str, default "custom"
            Identifier of the law.
        inputs : mapping or list, optional
            Input names (with descriptions). Default: the formula's names that are inputs of
            ``runs``; without runs, every name without a prior if priors are given, else
            the names that are the base of a power with a parameter exponent (``N`` in
            ``N**-alpha``).
        roles : mapping, optional
            Role of each parameter (:data:`ROLES`). Default: read from the formula's
            structure (:meth:`~bayescale.formula.Formula.structure`), never from names.
        at_reference : mapping, optional
            ``{parameter: (input, power)}``: state that parameter's prior at the reference
            scale of the input (see :class:`Parameter`); a parameter without a prior keeps
            its default there if that is stated at a reference, else takes an amplitude's.
        likelihood : Likelihood, optional
            Default: Student-t on log loss.
        title, reference : str
            Description and paper reference.
        declared : tuple of str, default ()
            Names the caller gives priors to afterwards (as :func:`bayescale.fit`'s
            ``priors=``): parameters, never taken for a misspelt input.

        Returns
        -------
        Law
            The law.

        Raises
        ------
        FormulaError
            If the formula is not valid or not whitelisted.
        LawError
            If names and priors do not match, or the inputs cannot be told apart from the
            parameters; if the law has no parameter; or, when the inputs are read from the
            formula and the runs, if a name without a prior differs from an input only by
            letter case (``n`` for ``N``) or is a column of the runs (mapped to an input, or
            the response): give such a name a prior to make it a parameter. Likewise a name
            without a prior used the way a forgotten or misnamed input would be (inside
            ``log(lr / lr0)`` with no input there; or alone under ``log`` or as the base of a
            fitted power, ``Tokens`` in ``B / Tokens**beta``, when it is named like a column
            or input of the runs, or the formula leaves out one of the runs' inputs; see
            :func:`bayescale.structure.input_like_names`); and an ``at_reference`` entry that
            is not ``(input, power)`` over the law's names.

        Notes
        -----
        Default priors, weakly informative, one per parameter without a prior, chosen by its
        structural role; each records in ``why`` that it is a default and how it was derived
        (the report shows it). ``y`` below is the runs' measured values.

        - floor: ``LogNormal(log(0.5 * min y), 1)`` (median half the lowest loss seen);
          without runs ``LogNormal(0.4, 1)`` (median 1.5 nats, as the catalog); if ``min y
          <= 0`` (a metric that is not a loss) ``Normal(min y, max y - min y)``;
        - amplitude (``A`` in ``A * N**-alpha``): stated at the reference scale, on
          ``A * N_ref**-alpha``: ``LogNormal(log(0.2 * median y), 1.5)``; without runs (or
          ``median y <= 0``) ``LogNormal(-0.7, 1.5)`` (median 0.5, as the catalog);
        - exponent written so that a positive value means decay (``N**-a``, ``1/N**a``):
          ``LogNormal(-1.2, 0.75)`` (median 0.30, 95% between 0.07 and 1.3); an exponent of
          either sign: ``Normal(0, 0.5)``;
        - scale of an input (``d`` in ``(C/d)**c``, ``N0`` in ``exp(-N/N0)``, ``k`` in
          ``exp(-k*N)``, ``Nb`` in ``minimum(N, Nb)``): stated at the input's reference, on
          ``d / C_ref`` (``k * N_ref``): ``LogNormal(0, 2)`` (within a factor of about 50 of
          the typical value, 95%); with a plain prior when the input reaches 0 in the runs;
        - a rate of either sign inside ``exp`` (``t`` in ``exp(t*N)``): ``Normal(0, 1 /
          N_ref)``, so that ``t * N`` is of order 1 at the runs' typical N;
        - other coefficients and shapes: ``LogNormal(0, 1)`` where the formula needs the
          parameter positive (a factor of a power's base or of a log argument, a divisor),
          else ``Normal(0, 1)``.

        Examples
        --------
        >>> law = Law.from_formula("E + A * N**-alpha", inputs=["N"])
        >>> {p.name: p.role for p in law.parameters.values()}
        {'A': 'coefficient', 'E': 'floor', 'alpha': 'exponent'}
        >>> law.parameters["A"].reference
        ('N', 'alpha')
        """
        parsed = Formula(formula)
        priors = dict(priors or {})
        roles = dict(roles or {})
        at_reference = dict(at_reference or {})
        clash = sorted(set(priors) & set(parsed.intermediates))
        if clash:
            raise LawError(
                f"a prior is given for {', '.join(clash)}, an intermediate of the formula, not a "
                f"parameter; give priors for the parameters it is made of"
            )
        unknown = sorted(set(priors) - parsed.names)
        constants = [name for name in unknown if name in CONSTANTS]
        if constants:
            raise LawError(
                f"a prior is given for {constants[0]!r}, the number "
                f"{CONSTANTS[constants[0]]:.6g} in every formula; call the parameter otherwise "
                f"(e.g. {constants[0]}0)"
            )
        if unknown:
            raise LawError(
                f"priors are given for {', '.join(unknown)}, which the formula {formula!r} "
                f"does not use (it uses {', '.join(sorted(parsed.names))})"
            )
        inputs = _formula_inputs(parsed, {**dict.fromkeys(declared), **priors}, inputs, runs)
        # The order the user gave priors in, then the rest sorted (tables list them so).
        free = parsed.names - set(inputs)
        params_names = [n for n in priors if n in free] + sorted(free - set(priors))
        for option, table in (("roles", roles), ("at_reference", at_reference)):
            prefix = f"Law.from_formula: {option}."
            check_keys(table, params_names, prefix, "parameter", "the parameters are")
        given_inputs = sorted(set(priors) & set(inputs))
        if given_inputs:
            raise LawError(
                f"{', '.join(given_inputs)} in formula {formula!r} is an input and has a prior; "
                f"remove the prior or the input"
            )
        references = {
            pname: _read_reference(pname, spec, list(inputs), params_names)
            for pname, spec in at_reference.items()
        }
        structure = parsed.structure(inputs)
        defaults = _default_priors(parsed, inputs, structure, runs)
        twin = catalog_formula(parsed)
        if twin is not None:
            note = (
                f" This is the formula of the catalog law {twin!r}, whose priors are tuned for "
                f"it: law={twin!r} (--law {twin})."
            )
            defaults = {n: (prior, ref, why + note) for n, (prior, ref, why) in defaults.items()}
        params = {}
        for pname in params_names:
            role = roles.get(pname, structure.roles[pname])
            if pname in priors:
                params[pname] = Parameter(
                    name=pname,
                    prior=prior_from_spec(priors[pname], f"Law.from_formula: priors.{pname}"),
                    role=role,
                    reference=references.get(pname),
                    why="set by the user",
                )
            elif pname in references:
                prior, why = _default_at_reference(pname, references[pname], defaults, runs)
                params[pname] = Parameter(pname, prior, role, references[pname], why)
            else:
                prior, ref, why = defaults[pname]
                params[pname] = Parameter(pname, prior, role, ref, why)
        return cls(
            name=name,
            formula=parsed,
            inputs=dict(inputs),
            parameters=params,
            likelihood=likelihood or Likelihood(),
            title=title or f"User law {_one_line(formula)}",
            reference=reference,
        )

    def with_priors(self, priors: Mapping[str, Prior | Mapping[str, Any]]) -> Law:
        """Return a copy with some priors replaced.

        Parameters
        ----------
        priors : mapping
            ``{name: prior}`` for law parameters, or ``sigma`` / ``nu`` for the noise.
            A parameter whose reference scale the law declares (``at_reference`` in a law
            file) keeps it: the new prior is on the value at the reference scale. A
            reference that came with a default prior (a formula's amplitude or scale) is
            dropped: the prior is on the parameter itself, as :meth:`from_formula` takes
            ``priors=``.

        Returns
        -------
        Law
            The changed law (its ``source_text`` is dropped, ``to_dict`` records the priors).

        Raises
        ------
        LawError
            If a name is not a parameter of the law.
        """
        params = dict(self.parameters)
        lik = self.likelihood
        for pname, spec in priors.items():
            prior = prior_from_spec(spec, f"Law.with_priors (law {self.name!r}): priors.{pname}")
            if pname in lik.noise_names:
                lik = lik.with_prior(pname, prior)
            elif pname in params:
                p = params[pname]
                reference = p.reference
                if reference and _is_default(p):
                    # The reference came with the default prior, not from the user: the
                    # prior given is on the parameter itself, whatever its sign, as
                    # from_formula(priors=) reads it.
                    reference = None
                params[pname] = Parameter(p.name, prior, p.role, reference, "set by the user")
            else:
                raise LawError(
                    f"law {self.name!r} has no parameter {pname!r}"
                    f"{suggest(str(pname), [*self.parameters, *lik.noise_names])}; "
                    f"its parameters are {', '.join([*self.parameters, *lik.noise_names])}"
                )
        return Law(
            name=self.name,
            formula=self.formula,
            inputs=self.inputs,
            parameters=params,
            likelihood=lik,
            title=self.title,
            reference=self.reference,
            description=self.description,
            published=self.published,
            pooling=self.pooling,
        )

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description that :meth:`from_dict` reads back.

        Returns
        -------
        dict
            Name, formula, inputs, parameters with priors and references, likelihood,
            published values and the catalog file's text.
        """
        params = {}
        for p in self.parameters.values():
            entry: dict[str, Any] = {"prior": spec_of(p.prior), "role": p.role, "why": p.why}
            if p.reference:
                entry["at_reference"] = {"input": p.reference[0], "power": p.reference[1]}
            params[p.name] = entry
        lik = self.likelihood.to_dict()
        return {
            "name": self.name,
            "title": self.title,
            "reference": self.reference,
            "description": self.description,
            "formula": self.formula.text,
            "inputs": dict(self.inputs),
            "parameters": params,
            "likelihood": lik,
            "published": self.published,
            "source_text": self.source_text,
            # Only when declared: fits saved before keep the same description and cache keys.
            **({"pooling": self.pooling} if self.pooling else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Law:
        """Rebuild a law from :meth:`to_dict` output.

        Parameters
        ----------
        data : mapping
            As returned by :meth:`to_dict`.

        Returns
        -------
        Law
            The same law.

        Raises
        ------
        LawError, FormulaError
            As :meth:`from_toml`, if the description was edited into an invalid law. A
            ``pooling`` declaration that older versions accepted (a spread given to a
            parameter that is not pooled, a shorthand as the default kind) is read as it
            was then, with a warning where it was ignored: the fit saved with it loads.
        """
        if not isinstance(data, Mapping):
            return cls._from_dict(data, "law")  # refused there, with the expected form
        source = f"law {data.get('name', '?')!r}"
        return cls._from_dict(
            data,
            source,
            data.get("source_text", ""),
            keys=(*_LAW_KEYS, "source_text"),
            saved=True,
        )

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True)

    # ------------------------------------------------------------------ evaluation

    @property
    def floor(self) -> str | None:
        """Name of the floor parameter (the irreducible loss E), or None."""
        return next((p.name for p in self.parameters.values() if p.role == "floor"), None)

    @property
    def exponents(self) -> tuple[str, ...]:
        """Names of the exponent parameters."""
        return tuple(p.name for p in self.parameters.values() if p.role == "exponent")

    @property
    def defaulted_parameters(self) -> dict[str, Parameter]:
        """The parameters whose prior is a default (chosen from their role, not given).

        Only a formula given as text has such parameters (:meth:`from_formula`); a law file
        declares every prior. Each name here is fitted as a constant: a name meant as an
        input (a column of the runs) that shows up here is a mistake to fix before sampling
        (:meth:`describe_defaults` says so).

        Returns
        -------
        dict of str to Parameter
            ``{name: parameter}`` in the law's order; its ``role`` and ``describe_prior()``
            say what the structure made of it.
        """
        return {n: p for n, p in self.parameters.items() if _is_default(p)}

    @property
    def catalog_twin(self) -> str | None:
        """The catalog law with this law's formula, for a law whose priors are defaults.

        A formula typed as text (``"E + b * C**-c0 * ..."``) gets default priors; the
        catalog law with the same formula (up to spacing and parentheses) has priors
        chosen and tuned for it, which may be what makes it converge.

        Returns
        -------
        str or None
            The catalog name, or None if no catalog law has the formula or if every prior
            of this law was given.
        """
        if not self.defaulted_parameters:
            return None
        return catalog_formula(self.formula)

    def describe_defaults(self) -> str:
        """Return the parameters that took default priors, one a line, for printing before a fit.

        Returns
        -------
        str
            Empty if every prior was given; else a heading and ``name [role] ~ prior``
            lines, so that a name fitted as a constant by mistake (a misspelt input, a
            column not mapped) is seen before sampling.

        Examples
        --------
        >>> law = Law.from_formula("E + A / N**alpha", {"E": {"dist": "Normal"}}, inputs=["N"])
        >>> print(law.describe_defaults())  # doctest: +NORMALIZE_WHITESPACE
        law 'custom': 2 parameters fitted with default priors (set them with priors= or a
        law file; a name meant as an input must be a column mapped to it):
          A        [coefficient] ~ LogNormal(mu=-0.7, sigma=1.5) on A * N_ref**-(alpha)
          alpha    [exponent] ~ LogNormal(mu=-1.2, sigma=0.75)
        """
        found = self.defaulted_parameters
        if not found:
            return ""
        count = f"{len(found)} parameter{'s' if len(found) > 1 else ''}"
        lines = [
            f"law {self.name!r}: {count} fitted with default priors (set them with priors= or "
            f"a law file; a name meant as an input must be a column mapped to it):"
        ]
        lines += [f"  {p.name:<8} [{p.role}] ~ {p.describe_prior()}" for p in found.values()]
        twin = self.catalog_twin
        if twin is not None:
            lines.append(
                f"  note: this is the formula of the catalog law {twin!r}, whose priors are "
                f"tuned for it; use it instead (law={twin!r}, --law {twin})"
            )
        return "\n".join(lines)

    @property
    def n_parameters(self) -> int:
        """Number of parameters, counting the noise model's."""
        return len(self.parameters) + len(self.likelihood.noise_names)

    def _envs(
        self,
        params: Mapping[str, Any],
        inputs: Mapping[str, Any],
        ops: Ops,
        log_params: Mapping[str, Any] | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        log_env = {name: ops.log(inputs[name]) for name in self.inputs}
        log_params = log_params or {}
        for p in self.parameters.values():
            if p.positive:
                log_env[p.name] = (
                    log_params[p.name] if p.name in log_params else ops.log(params[p.name])
                )
        env = {**{n: params[n] for n in self.parameters}, **{n: inputs[n] for n in self.inputs}}
        return env, log_env

    def log_mean(
        self,
        params: Mapping[str, Any],
        inputs: Mapping[str, Any],
        ops: Ops = NUMPY,
        log_params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Return ``log`` of the law's value, in the numerically stable form.

        Parameters
        ----------
        params : mapping
            Values of every parameter (arrays broadcast with the inputs, e.g. shape
            ``(1, draws)`` against inputs of shape ``(points, 1)``).
        inputs : mapping
            Values of every input (positive).
        ops : Ops, default NUMPY
            Backend.
        log_params : mapping, optional
            ``log`` of positive parameters if already known (saves work and keeps precision);
            computed from ``params`` otherwise.

        Returns
        -------
        array-like
            ``log L``.
        """
        env, log_env = self._envs(params, inputs, ops, log_params)
        return self.formula.log_evaluate(env, log_env, ops)

    def predict(
        self,
        params: Mapping[str, Any],
        inputs: Mapping[str, Any],
        log_params: Mapping[str, Any] | None = None,
    ) -> np.ndarray:
        """Return the law's value with NumPy (one ``exp`` per term: the fast path for forecasts).

        With additive noise (``likelihood.scale == "linear"``) the value is computed as
        written (:meth:`value`): the metric may be zero or negative, where logs fail.

        Parameters
        ----------
        params, inputs, log_params
            As in :meth:`log_mean`.

        Returns
        -------
        numpy.ndarray
            ``L``.
        """
        if self.likelihood.scale == "linear":
            return np.asarray(self.value(params, inputs))
        env, log_env = self._envs(params, inputs, NUMPY, log_params)
        return self.formula.stable_evaluate(env, log_env, NUMPY)

    def value(self, params: Mapping[str, Any], inputs: Mapping[str, Any], ops: Ops = NUMPY) -> Any:
        """Return the law's value computed as written (no logarithm taken anywhere).

        For metrics that can be zero or negative (additive noise, ``Likelihood.scale ==
        "linear"``), where the log form would be NaN.

        Parameters
        ----------
        params : mapping
            Values of every parameter (arrays broadcast with the inputs).
        inputs : mapping
            Values of every input.
        ops : Ops, default NUMPY
            Backend.

        Returns
        -------
        array-like
            ``L``.
        """
        env = {**{n: params[n] for n in self.parameters}, **{n: inputs[n] for n in self.inputs}}
        return self.formula.evaluate(env, ops)

    def describe(self) -> str:
        """Return a multi-line text description: formula, inputs, priors, reference."""
        lines = [f"{self.name}: {self.title}", f"  L = {_one_line(self.formula.text)}"]
        if self.reference:
            lines.append(f"  reference: {self.reference}")
        lines.append(
            "  inputs: " + ", ".join(f"{k} ({v})" if v else k for k, v in self.inputs.items())
        )
        lines.append("  priors:")
        for p in self.parameters.values():
            lines.append(f"    {p.name:<8} [{p.role}] ~ {p.describe_prior()}")
        lines.append(f"    noise: {self.likelihood.describe()}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading law files


def _in_source(err: FormulaError | LawError, source: str) -> FormulaError | LawError:
    """Return the error with its message prefixed by the file it comes from, if it is not yet."""
    message = str(err)
    return err if message.startswith(source) else type(err)(f"{source}: {message}")


def _toml_key(key: str) -> str:
    """Write a key as in a TOML key path: bare if it can be, else quoted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _read_parameter(name: str, spec: Any, source: str) -> Parameter:
    """Read ``[parameters.<name>]`` of a law file."""
    where = f"{source}: parameters.{name}"
    if isinstance(spec, Mapping):
        check_keys(spec, _PARAMETER_KEYS, f"{where}.", "key", "a parameter takes")
    if not isinstance(spec, Mapping) or "prior" not in spec:
        raise LawError(f"{source}: parameter {name} needs a prior = {{ dist = ... }}")
    ref = spec.get("at_reference")
    if ref is not None:
        if isinstance(ref, Mapping):
            check_keys(ref, _REFERENCE_KEYS, f"{where}.at_reference.", "key", "it takes")
        if not isinstance(ref, Mapping) or "input" not in ref:
            raise LawError(
                f"{source}: at_reference of {name} is written like "
                f'{{ input = "N", power = "alpha" }}'
            )
        ref = (str(ref["input"]), str(ref.get("power", 1)))
    return Parameter(
        name=name,
        prior=prior_from_spec(spec["prior"], f"{where}.prior"),
        role=str(spec.get("role", "")),
        reference=ref,
        why=str(spec.get("why", "")).strip(),
    )


def _read_published(
    published: Mapping[str, Any], names: list[str], source: str
) -> dict[str, dict[str, float]]:
    """Read ``[published.<source>]`` tables: finite values of the law's parameters."""
    out = {}
    for src, values in published.items():
        where = f"{source}: published.{_toml_key(str(src))}"
        if not isinstance(values, Mapping):
            raise LawError(f"{where} = {values!r}: must be a table of parameter = value")
        check_keys(values, names, f"{where}.", "parameter", "the law's parameters are")
        out[str(src)] = {str(k): float(check_number(v, f"{where}.{k}")) for k, v in values.items()}
    return out


def _is_default(parameter: Parameter) -> bool:
    """Whether the parameter's prior is a default (of a formula given as text)."""
    return str(parameter.why).startswith("Default for")


def _one_line(text: str) -> str:
    # A formula with intermediate lines, as one line: its statements joined by "; ".
    statements = [part.strip() for line in text.splitlines() for part in line.split(";")]
    return "; ".join(part for part in statements if part)


def _read_reference(
    name: str, spec: Any, inputs: list[str], parameters: list[str]
) -> tuple[str, str]:
    """Read one ``at_reference=`` entry of :meth:`Law.from_formula`: ``(input, power)``."""
    where = f"Law.from_formula: at_reference[{name!r}] = {spec!r}"
    example = f"e.g. at_reference={{{name!r}: ({(inputs or ['N'])[0]!r}, 'alpha')}}"
    if (
        isinstance(spec, str | bytes)
        or not isinstance(spec, tuple | list)
        or len(spec) != 2
        or not isinstance(spec[0], str)
        or isinstance(spec[1], bool)
        or not isinstance(spec[1], str | int | float)
    ):
        raise LawError(
            f"{where}: expected (input, power), an input name and a power (a number or a "
            f"formula over parameters), {example}"
        )
    inp, power = spec[0], str(spec[1])
    if inp not in inputs:
        raise LawError(
            f"{where}: {inp!r} is not an input of the law ({', '.join(inputs)}); expected "
            f"(input, power), {example}"
        )
    try:
        power_names = Formula(power).names
    except FormulaError as err:
        raise FormulaError(f"{where}: the power is not a valid formula: {err}") from None
    unknown = sorted(power_names - set(parameters))
    if unknown:
        raise LawError(
            f"{where}: the power uses {_names_text(unknown)}, which "
            f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of the law "
            f"(its parameters are {', '.join(parameters)})"
        )
    return inp, power


def _default_at_reference(
    name: str,
    reference: tuple[str, str],
    defaults: Mapping[str, tuple[Prior, tuple[str, str] | None, str]],
    runs: Runs | None,
) -> tuple[Prior, str]:
    """Default prior of a parameter the user stated at a reference scale without a prior.

    The default it has anyway if that is stated at a reference (an amplitude, a scale),
    else an amplitude's: the parameter's value at the reference is a term of the law.
    """
    inp, power = reference
    stated = f"{name} * {inp}_ref**-({power})"
    prior, ref, why = defaults[name]
    if ref is not None:
        return prior, (
            f"Default for {name}, stated as {stated} (at_reference): {why.split(': ', 1)[-1]}"
        )
    y = None if runs is None else np.asarray(runs.y, dtype=float)
    if y is not None and np.median(y) > 0:
        mu = float(np.log(0.2 * np.median(y)))
        text = f"LogNormal(log(0.2 * median y) = {mu:.3g}, 1.5)"
    else:
        mu, text = -0.7, "LogNormal(-0.7, 1.5), median 0.5"
    return Prior("LogNormal", mu=mu, sigma=1.5), (
        f"Default for {name}, stated as {stated} (at_reference), as an amplitude: {text}."
    )


def _formula_inputs(
    formula: Formula,
    priors: Mapping[str, Any],
    inputs: Mapping[str, str] | list[str] | None,
    runs: Runs | None,
) -> dict[str, str]:
    """The inputs of a user formula: given, else from the runs, the priors or the structure."""
    found = _read_inputs(formula, priors, inputs, runs)
    _refuse_input_like_names(formula, found, priors, runs, given=inputs is not None)
    return found


def _read_inputs(
    formula: Formula,
    priors: Mapping[str, Any],
    inputs: Mapping[str, str] | list[str] | None,
    runs: Runs | None,
) -> dict[str, str]:
    if inputs is not None:
        if isinstance(inputs, Mapping):
            return {str(k): str(v) for k, v in inputs.items()}
        return {str(n): "" for n in inputs}
    if runs is not None:
        found = [n for n in runs.inputs if n in formula.names]
        _refuse_misread_names(formula, found, priors, runs)
        if not found:
            raise LawError(
                f"the formula {formula.text!r} uses none of the runs' inputs "
                f"({', '.join(runs.inputs)}); write it in those names or pass inputs=[...]"
            )
        return {n: "" for n in found}
    if priors:
        return {n: "" for n in sorted(formula.names - set(priors))}
    # Only the structure is left: the base of a power with a parameter exponent (N in
    # N**-alpha) is an input; anything subtler needs the user to say.
    bases = set()
    for node in _nodes(formula.tree):
        if isinstance(node, BinOp) and node.op == "**" and isinstance(node.left, Name):
            if _names_of(node.right) - {node.left.id}:
                bases.add(node.left.id)
    bases -= {
        n
        for node in _nodes(formula.tree)
        if isinstance(node, BinOp) and node.op == "**"
        for n in _names_of(node.right)
    }
    if not bases:
        raise LawError(
            f"cannot tell the inputs of formula {formula.text!r} from its parameters; "
            f"pass inputs=['N', ...] or runs="
        )
    _refuse_misread_names(formula, bases, priors, None)
    return {n: "" for n in sorted(bases)}


def _signed_terms(node: Any) -> list[Any]:
    """The terms of a top-level sum or difference (``E - k*lr``: ``E`` and ``k*lr``)."""
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        return _signed_terms(node.left) + _signed_terms(node.right)
    if isinstance(node, Neg):
        return _signed_terms(node.operand)
    return [node]


def _names_text(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _refuse_input_like_names(
    formula: Formula,
    inputs: Iterable[str],
    priors: Mapping[str, Any],
    runs: Runs | None,
    given: bool,
) -> None:
    """Refuse a name without a prior that looks like a forgotten or misnamed input.

    ``lr`` and ``lr0`` in ``log(lr / lr0)`` (no input there), or ``Tokens`` in
    ``B / Tokens**beta`` when the formula leaves out the runs' input D, would otherwise be
    fitted as constants with default priors, and the column the user meant silently ignored
    (see :func:`bayescale.structure.input_like_names`). A prior (or ``declared``) makes such
    a name a parameter on purpose.
    """
    inputs = list(inputs)
    known, left_out = _input_like_context(formula, inputs, runs, given)
    found = input_like_names(formula, inputs, known=known, left_out=left_out)
    groups: dict[tuple[str, str], list[str]] = {}
    for name, (where, why) in found.items():
        if name not in priors:
            groups.setdefault((where, why), []).append(name)
    if not groups:
        return
    (where, why), names = next(iter(groups.items()))
    raise LawError(_input_like_message(formula, inputs, runs, given, left_out, names, where, why))


def _input_like_context(
    formula: Formula, inputs: list[str], runs: Runs | None, given: bool
) -> tuple[list[str], list[str]]:
    """Names a user could have meant (columns, inputs), and the inputs the formula leaves out.

    With the inputs read from the runs, an input is left out only when the formula uses
    fewer inputs than the runs have mapped columns (N and D mapped, C derived: a formula of
    N and D leaves nothing out).
    """
    known = [*inputs, *_DEFAULT_INPUTS]
    left_out: list[str] = []
    if given:
        left_out = [n for n in inputs if n not in formula.names]
    if runs is not None:
        mapped = [n for n, c in runs.columns.items() if not c.startswith("derived:")]
        known += [*runs.inputs, *runs.other_columns]
        known += [c for n, c in runs.columns.items() if n in mapped]
        if not given:
            used = [n for n in runs.inputs if n in formula.names]
            if len(used) < len(mapped):
                left_out = [n for n in mapped if n not in formula.names]
    return known, left_out


def _input_like_message(
    formula: Formula,
    inputs: list[str],
    runs: Runs | None,
    given: bool,
    left_out: list[str],
    names: list[str],
    where: str,
    why: str,
) -> str:
    """Why names are taken for inputs, and the two ways out (map a column, give a prior)."""
    one = len(names) == 1
    listed = _names_text([repr(n) for n in names])
    if runs is not None and not given:
        of = f"an input of the runs ({', '.join(runs.inputs)})"
    else:
        of = f"one of the law's inputs ({', '.join(inputs) or 'none'})"
    use = (
        f"the base of the fitted power {where}"
        if "**" in where and not where.startswith("log(")
        else f"inside {where}"
    )
    use = f"{use}, {why}"
    if one:
        said = (
            f"{listed} is used like an input ({use}) but is not {of} and has no prior, so it "
            f"would be fitted as a constant"
        )
    else:
        said = (
            f"{listed} are used like inputs ({use}) but none is {of} and none has a prior, so "
            f"they would be fitted as constants"
        )
    hints = []
    if runs is not None:
        # Only when the formula leaves an input out: N and D cover a derived C.
        unused = [n for n in runs.inputs if n not in formula.names] if left_out else []
        if unused:
            verb = "is an input" if len(unused) == 1 else "are inputs"
            hints.append(f"{_names_text(unused)} {verb} of the runs the formula does not use")
        if runs.other_columns:
            hints.append(f"columns no input uses: {', '.join(runs.other_columns)}")
    hint = f" ({'; '.join(hints)})" if hints else ""
    first = names[0]
    if one:
        fix = (
            f"If it is an input, write the runs' name for it in the formula, or map a column to "
            f"it (load_runs(..., x={{{first!r}: 'COLUMN'}}); on the command line --x "
            f"{first}=COLUMN). If it really is a parameter, give it a prior "
            f"(priors={{{first!r}: {{'dist': ...}}}}) or declare it in a .toml law file "
            f"([parameters.{first}] with a prior)"
        )
    else:
        fix = (
            f"If one of them is an input, write the runs' name for it in the formula, or map a "
            f"column to it (load_runs(..., x={{{first!r}: 'COLUMN'}}); on the command line --x "
            f"{first}=COLUMN). If they really are parameters, give them priors "
            f"(priors={{{first!r}: {{'dist': ...}}, ...}}) or declare them in a .toml law file "
            f"([parameters.{first}] with a prior)"
        )
    return f"formula {_shown(formula.text)}: {said}{hint}. {fix}"


def _refuse_misread_names(
    formula: Formula, inputs: Iterable[str], priors: Mapping[str, Any], runs: Runs | None
) -> None:
    """Refuse a name about to become a parameter that is most likely meant as an input.

    Only for inputs read from the formula and the runs (not given by the user), and only for
    names without a prior (a prior declares a parameter): a name that differs from an input
    (the runs', the law's, or a default column name N, D, C, U) only by letter case, and a
    name that is a column of the runs' table (mapped to an input, the response, or a column
    no input uses).
    """
    inputs = list(inputs)
    parameters = sorted(formula.names - set(inputs) - set(priors))
    where = f"formula {_shown(formula.text)}"
    if runs is not None:
        mapped = {
            column: name
            for name, column in runs.columns.items()
            if column != name and not column.startswith("derived:")
        }
        for name in parameters:
            if name in mapped:
                raise LawError(
                    f"{where}: {name!r} is the column mapped to input {mapped[name]!r}, not a "
                    f"parameter; write {mapped[name]} in the formula"
                )
            if name == runs.y_name:
                raise LawError(
                    f"{where}: {name!r} is the column of the response (y), not a parameter; "
                    f"a law predicts it from the inputs ({', '.join(runs.inputs)})"
                )
            if name in runs.other_columns:
                raise LawError(_unused_column_message(where, name, runs))
    named = list(runs.inputs) if runs is not None else list(dict.fromkeys(inputs))
    known = list(dict.fromkeys([*named, *_DEFAULT_INPUTS]))
    for name in parameters:
        match = next((n for n in known if n != name and n.casefold() == name.casefold()), None)
        if match is None:
            continue
        if runs is None:
            listed = f"inputs are named {', '.join(known)}"
        else:
            listed = f"the runs' inputs are named {', '.join(named)}"
        unmapped = ""
        if runs is not None and match not in runs.inputs:
            unmapped = (
                f" (no column is mapped to {match}: map one with x={{{match!r}: '<column>'}}, "
                f"on the command line --x {match}=COLUMN)"
            )
        raise LawError(
            f"{where}: {name!r} is not an input; {listed}: did you mean {match!r}?{unmapped} "
            f"If {name!r} really is a parameter, give it a prior "
            f"(Law.from_formula(..., priors={{{name!r}: {{'dist': ...}}}})) or declare it in a "
            f".toml law file ([parameters.{name}] with a prior)"
        )


def _unused_column_message(where: str, name: str, runs: Runs) -> str:
    return (
        f"{where}: {name!r} is a column of {runs.source} that no input uses, so it would be "
        f"fitted as a parameter and the column's values ignored. To use the column, map it to "
        f"an input (load_runs(..., x={{..., 'X': {name!r}}}); on the command line --x "
        f"X={name}) and write that input (X) in the formula; to keep a parameter, rename it or "
        f"give it a prior"
    )


def refuse_unused_columns(law: Law, runs: Runs, declared: Iterable[str] = ()) -> None:
    """Refuse a law whose default-prior parameter is named like a column no input uses.

    :meth:`Law.from_formula` checks this when it is given the runs; a law built without
    them (``Law.from_formula(text)`` then ``fit(runs, law)``) is checked here. A parameter
    with a prior the user set, or from a law file, is the user's choice.

    Parameters
    ----------
    law : Law
        The law to fit.
    runs : Runs
        The runs it is fitted to.
    declared : iterable of str, default ()
        Names the caller gives priors to.

    Raises
    ------
    LawError
        Naming the column and how to map it.
    """
    declared = set(declared)
    for name, parameter in law.parameters.items():
        if name in runs.other_columns and name not in declared and _is_default(parameter):
            raise LawError(
                _unused_column_message(f"law {law.name!r} ({law.formula.text})", name, runs)
            )


def refuse_constant_terms(law: Law, declared: Iterable[str] = ()) -> None:
    """Refuse terms of the top-level sum that hold parameters but no input, when the runs
    cannot tell those parameters apart: two or more of them learned only through their sum
    (``E + k*lr``) or one term's combination (``k*lr`` alone). Each then follows its prior
    and the sampler cannot converge; most often an input was left unmapped (``lr``).

    A parameter that also appears in a term with an input (``A`` in ``E - A + A*x**-a``) is
    learned there, and one with a prior the user gave (``declared``, or a law file's) is
    held by it: neither counts. Checked when the law is fitted, after
    :func:`refuse_unused_columns` (a column of the runs named in the formula is said as
    such first). Terms inside a term with an input (``(A + B)/N**a``) are not looked into.

    Parameters
    ----------
    law : Law
        The law to fit.
    declared : iterable of str, default ()
        Parameters the caller gives priors to.

    Raises
    ------
    LawError
        Naming the terms and what to do.
    """
    where = f"law {law.name!r}"
    inputs, parameters = set(law.inputs), set(law.parameters)
    terms = _signed_terms(law.formula.tree)
    bound = set().union(*(_names(t) for t in terms if _names(t) & inputs))
    held = set(declared) | {n for n, p in law.parameters.items() if not _is_default(p)}
    free_terms = [
        (t, sorted((_names(t) & parameters) - bound - held))
        for t in terms
        if not _names(t) & inputs
    ]
    free_terms = [(t, names) for t, names in free_terms if names]
    names = sorted({n for _, found in free_terms for n in found})
    if len(names) < 2:
        return
    # _unparse brackets every operation: not the term's own outer one.
    texts = [_unparse(t)[1:-1] if isinstance(t, BinOp) else _unparse(t) for t, _ in free_terms]
    if len(free_terms) > 1:
        what = (
            f"the terms {_names_text(texts)} of the formula hold no input: together they "
            f"are one constant, and the runs learn only their sum"
        )
    else:
        what = (
            f"the term {texts[0]} of the formula holds no input: the runs learn it as one constant"
        )
    others = [n for n in names if n != law.floor] or names
    which = f"If {others[0]} is" if len(others) == 1 else f"If one of {_names_text(others)} is"
    raise LawError(
        f"{where}: {what}, never {_names_text(names)} apart (the sampler cannot converge "
        f"on them). {which} an input (a column of the runs), declare it an input and map it "
        f"(x={{'NAME': COLUMN}}, --x NAME=COLUMN); otherwise merge the constant into one "
        f"parameter, give all but one of them a prior (priors=), or drop the term"
    )


def _needs_positive(formula: Formula, inputs: Mapping[str, str]) -> set[str]:
    """Parameters the formula needs positive: factors of a power's base or of a log
    argument (a non-whole power of a negative number is not a real number), and divisors."""
    out: set[str] = set()

    def factors_of(node: Any) -> None:
        for factor, _ in _factors(node):
            if isinstance(factor, Name):
                out.add(factor.id)
            elif isinstance(factor, Call) and factor.func in ("minimum", "maximum"):
                for arg in factor.args:
                    factors_of(arg)

    for node in _nodes(formula.tree):
        if isinstance(node, BinOp) and node.op == "**":
            right = node.right
            if not (isinstance(right, Num) and right.value == int(right.value)):
                factors_of(node.left)
        elif isinstance(node, BinOp) and node.op == "/":
            factors_of(node.right)
        elif isinstance(node, Call) and node.func in ("log", "sqrt"):
            factors_of(node.args[0])
    return out - set(inputs)


def _default_priors(
    formula: Formula,
    inputs: Mapping[str, str],
    structure: Structure,
    runs: Runs | None,
) -> dict[str, tuple[Prior, tuple[str, str] | None, str]]:
    """Weakly informative default priors by structural role (see Law.from_formula)."""
    y = None if runs is None else np.asarray(runs.y, dtype=float)
    positive = _needs_positive(formula, inputs)
    scales = scale_references(formula, inputs)
    rates = exp_rates(formula, inputs)
    # The typical size of each input (geometric mean), where all its values are positive.
    typical: dict[str, float] = {}
    if runs is not None:
        for inp in inputs:
            if inp in runs.inputs:
                values = np.asarray(runs.x(inp), dtype=float)
                if values.size and np.all(values > 0):
                    typical[inp] = float(np.exp(np.mean(np.log(values))))
    ratios: dict[str, float] = {}
    if runs is not None and set(inputs) <= set(runs.inputs):
        ratios = ratio_sizes(formula, {inp: np.asarray(runs.x(inp), float) for inp in inputs})
    out: dict[str, tuple[Prior, tuple[str, str] | None, str]] = {}
    for name, role in structure.roles.items():
        ref: tuple[str, str] | None = None
        if role == "floor":
            if y is not None and y.min() > 0:
                mu = float(np.log(0.5 * y.min()))
                prior = Prior("LogNormal", mu=mu, sigma=1.0)
                why = (
                    f"Default for a floor: LogNormal(log(0.5 * min y) = {mu:.3g}, 1), median "
                    f"half the lowest value observed ({y.min():.4g})."
                )
            elif y is not None:
                spread = float(y.max() - y.min()) or 1.0
                prior = Prior("Normal", mu=float(y.min()), sigma=spread)
                why = (
                    f"Default for a floor of a metric that reaches {y.min():.4g} <= 0: "
                    f"Normal(min y, max y - min y = {spread:.3g})."
                )
            else:
                prior = Prior("LogNormal", mu=0.4, sigma=1.0)
                why = "Default for a floor (no runs given): LogNormal(0.4, 1), median 1.5 nats."
        elif name in structure.amplitudes:
            ref = structure.amplitudes[name]
            inp, power = ref
            term = f"{name} * {inp}_ref**-({power})"
            if y is not None and np.median(y) > 0:
                mu = float(np.log(0.2 * np.median(y)))
                prior = Prior("LogNormal", mu=mu, sigma=1.5)
                why = (
                    f"Default for an amplitude, stated as {term}, the term at the runs' typical "
                    f"{inp}: LogNormal(log(0.2 * median y) = {mu:.3g}, 1.5)."
                )
            else:
                prior = Prior("LogNormal", mu=-0.7, sigma=1.5)
                why = (
                    f"Default for an amplitude, stated as {term}, the term at the runs' typical "
                    f"{inp}: LogNormal(-0.7, 1.5), median 0.5."
                )
        elif role == "exponent" and name in structure.decay_exponents:
            prior = Prior("LogNormal", mu=-1.2, sigma=0.75)
            why = (
                "Default for an exponent written so that positive means decay: "
                "LogNormal(-1.2, 0.75), median 0.30, 95% between 0.07 and 1.3."
            )
        elif role == "exponent":
            prior = Prior("Normal", mu=0.0, sigma=0.5)
            why = "Default for an exponent of either sign: Normal(0, 0.5)."
        elif role == "scale" and name in scales and (runs is None or scales[name][0] in typical):
            ref = scales[name]
            inp, power = ref
            stated = f"{name} / {inp}_ref" if power == "1" else f"{name} * {inp}_ref"
            prior = Prior("LogNormal", mu=0.0, sigma=2.0)
            why = (
                f"Default for a scale of {inp}, stated as {stated}: LogNormal(0, 2), within a "
                f"factor of about 50 of the runs' typical {inp} (95%)."
            )
        elif role == "scale" and name in ratios:
            mu = float(np.log(ratios[name]))
            prior = Prior("LogNormal", mu=mu, sigma=2.0)
            why = (
                f"Default for a scale set by a ratio of inputs: LogNormal(log {ratios[name]:.3g} "
                f"= {mu:.3g}, 2), centred where the product it is in is 1 at the runs "
                f"(geometric mean), within a factor of about 50 of it (95%)."
            )
        elif role == "shape" and name in ratios and name not in positive:
            prior = Prior("Normal", mu=0.0, sigma=ratios[name])
            why = (
                f"Default for a rate of a product of inputs inside exp, of either sign: "
                f"Normal(0, {ratios[name]:.3g}), so that the product it is in is of order 1 "
                f"at the runs (geometric mean)."
            )
        elif role == "scale" and name not in positive:
            # A scale is positive by what it is (exp(-R*D/U) grows without bound for R < 0);
            # with no runs to size it, a wide prior around 1.
            prior = Prior("LogNormal", mu=0.0, sigma=2.0)
            why = (
                "Default for a scale whose size the runs do not give (no runs, or an input "
                "that reaches 0): LogNormal(0, 2), positive, within a factor of about 50 of 1."
            )
        elif name in rates and rates[name] in typical and name not in positive:
            inp = rates[name]
            width = 1.0 / typical[inp]
            prior = Prior("Normal", mu=0.0, sigma=width)
            why = (
                f"Default for a rate of {inp} inside exp, of either sign: Normal(0, 1 / "
                f"{inp}_ref = {width:.3g}), so that {name} * {inp} is of order 1 at the runs' "
                f"typical {inp} ({typical[inp]:.3g})."
            )
        elif name in positive:
            prior = Prior("LogNormal", mu=0.0, sigma=1.0)
            why = (
                f"Default for a {role} the formula needs positive (a base, log argument or "
                f"divisor): LogNormal(0, 1)."
            )
        else:
            prior = Prior("Normal", mu=0.0, sigma=1.0)
            why = f"Default for a {role}: Normal(0, 1)."
        out[name] = (prior, ref, why)
    return out


def _nodes(tree: Any) -> list[Any]:
    """Every node of a formula tree (pre-order)."""
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, BinOp):
            stack.extend((node.right, node.left))
        elif isinstance(node, Neg):
            stack.append(node.operand)
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))
    return out


def _names_of(node: Any) -> set[str]:
    return {n.id for n in _nodes(node) if isinstance(n, Name)}


def catalog() -> dict[str, Path]:
    """List the law forms of the catalog.

    Returns
    -------
    dict of str to Path
        Law name to its file, sorted by name.
    """
    return {path.stem: path for path in sorted(catalog_dir().glob("*.toml"))}


@functools.cache
def _catalog_formulas(folder: Path) -> dict[str, str]:
    """``{canonical formula: catalog name}`` of the catalog in ``folder`` (read once)."""
    out: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            text = tomllib.loads(path.read_text(encoding="utf-8"))["formula"]
            out.setdefault(Formula(str(text)).canonical(), path.stem)
        except (OSError, UnicodeDecodeError, KeyError, tomllib.TOMLDecodeError, FormulaError):
            continue  # a broken catalog file is reported when it is read as a law
    return out


def catalog_formula(formula: Formula | str) -> str | None:
    """Return the name of the catalog law with this formula, or None.

    Formulas are compared as parsed (:meth:`Formula.canonical`): spacing, redundant
    parentheses and ``^`` for ``**`` do not matter; names do.

    Parameters
    ----------
    formula : Formula or str
        The formula.

    Returns
    -------
    str or None
        The catalog name, e.g. ``"bnsl"``.

    Examples
    --------
    >>> catalog_formula("E + A/N**alpha + B/D^beta")
    'chinchilla'
    """
    parsed = formula if isinstance(formula, Formula) else Formula(formula)
    return _catalog_formulas(catalog_dir()).get(parsed.canonical())


def get_law(
    law: str | Path | Law, *, runs: Runs | None = None, declared: tuple[str, ...] = ()
) -> Law:
    """Return a law from the catalog by name, from a TOML file path, a formula, or as given.

    Parameters
    ----------
    law : str, Path or Law
        A catalog name (``"chinchilla"``), a path to a law file (a Path, a string ending in
        ``.toml`` or naming an existing file), a formula (``"E + A / N**alpha"``: any other
        string with an operator or a parenthesis), or a Law.
    runs : Runs, optional
        For a formula: the runs it will be fitted to, which name its inputs and set the
        scale of its default priors (see :meth:`Law.from_formula`).
    declared : tuple of str, default ()
        For a formula: names the caller gives priors to afterwards (see
        :meth:`Law.from_formula`).

    Returns
    -------
    Law
        The law (named ``"custom"`` for a formula).

    Raises
    ------
    LawError
        If the string is empty or a folder; if the name is not in the catalog (the message
        lists the catalog and the closest match), not an existing file and not a formula;
        or as :meth:`Law.from_formula` and :meth:`Law.from_file`.
    FormulaError
        If the string is read as a formula and is not a valid one.
    """
    if isinstance(law, Law):
        return law
    entries = catalog()
    if isinstance(law, str) and not law.strip():
        raise LawError(
            f"the law is empty; give a catalog name ({', '.join(entries)}), the path of a "
            f".toml law file, or a formula like 'E + A / N**alpha'"
        )
    if str(law) in entries:
        return Law.from_file(entries[str(law)])
    # A string is a path only if it looks like one: a formula may be longer than a file
    # name can be, and '' or '.' name the current folder.
    if not isinstance(law, str) or law.strip().lower().endswith(".toml") or _is_file(law):
        return Law.from_file(law)
    if _is_dir(law):
        raise LawError(f"law {law!r} is a folder; give the path of a .toml law file")
    if re.search(r"[-+*/^()=;]", law):
        return Law.from_formula(law, runs=runs, declared=declared)
    hint = suggest(str(law), entries)
    raise LawError(
        f"unknown law {str(law)!r}{hint}; the catalog has {', '.join(entries)}; "
        f"or give the path of a .toml law file, or a formula like 'E + A / N**alpha'"
    )


def _is_file(text: str) -> bool:
    """Whether ``text`` names an existing file (False for text no file name can be)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # too long a name, a NUL byte...
        return False


def _is_dir(text: str) -> bool:
    """Whether ``text`` names an existing folder (False for text no path can be)."""
    try:
        return Path(text).is_dir()
    except (OSError, ValueError):
        return False
