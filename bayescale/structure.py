"""What a formula's structure says about its parameters: floor, exponents, amplitudes, scales.

Read from the parsed tree of :class:`~bayescale.formula.Formula`, never from the names: a
bare parameter added at the top is the *floor*; a parameter in the power of an input is an
*exponent*; one multiplying a power of an input is an *amplitude* (a coefficient), which the
sampler moves at the runs' reference scale; one dividing an input inside a power, inside
``exp`` or compared with it by ``minimum``/``maximum`` is a *scale*; the rest are *shapes*.
The same walk finds the inputs that must be positive (those whose logarithm the law takes)
and the exponents written so that a positive value is decay.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from bayescale.errors import closest
from bayescale.formula import (
    NUMPY,
    BinOp,
    Call,
    Formula,
    Name,
    Neg,
    Node,
    Num,
    _additive_terms,
    _children,
    _linear,
    _names,
    _unparse,
)

__all__ = [
    "Structure",
    "analyse",
    "exp_rates",
    "input_like_names",
    "ratio_sizes",
    "scale_references",
]


@dataclass(frozen=True)
class Structure:
    """What a formula's structure says about its parameters (see :meth:`Formula.structure`).

    Parameters
    ----------
    floor : str or None
        The parameter that is a bare term of the top-level sum (``E`` in ``E + A/N**a``), or
        the value the law tends to when every decaying power of an input vanishes (``E`` in
        ``(E + A/N**a) * (1 + B/D**b)``); None if there is none or several.
    roles : dict of str to str
        Every parameter's role (one of ``bayescale.laws.ROLES``): ``floor``; ``exponent``, in
        the exponent of a power whose base involves an input (a parameter whose reciprocal
        is such an exponent, like ``f`` in ``x**(1/f)``, and never a whole exponent itself,
        is a sharpness: ``shape``);
        ``scale``, multiplying or dividing an input in a power's base (``d`` in
        ``(C/d)**c``), dividing it inside ``exp`` (``N0`` in ``exp(-N/N0)``), multiplying
        it in a decaying ``exp`` (``k`` in ``exp(-k*N)``), or compared with it by
        ``minimum``/``maximum`` (``Nb`` in ``minimum(N, Nb)``); ``coefficient``, an
        amplitude or another factor of a term of the law;
        ``shape``, everything else.
    amplitudes : dict of str to (str, str)
        ``{parameter: (input, power)}``: the parameter multiplies ``input**(-power)`` in a
        product (also through a sum it is a term of, as ``a`` in ``(g + a) / N**alpha``);
        ``power`` is formula text over parameters only. With several inputs, the first in
        the formula's order.
    log_inputs : frozenset of str
        Inputs that must be positive: a base (or a factor or divisor of a base) of a power
        whose exponent is not a whole number, a factor of the argument of log, sqrt or
        log1p, or the input a reference scale is taken at (amplitudes, scales).
    decay_exponents : frozenset of str
        Exponent parameters written so that a positive value means decay (``N**-a``,
        ``1/N**a``, ``(Nc/N)**a``). Decided at the outermost power the parameter is an
        exponent of; a base whose direction is not clear is taken to grow with its inputs.
    """

    floor: str | None
    roles: dict[str, str]
    amplitudes: dict[str, tuple[str, str]]
    log_inputs: frozenset[str]
    decay_exponents: frozenset[str]


def _factors(node: Node, side: int = 1) -> list[tuple[Node, int]]:
    """Factors of a product chain with their side: +1 numerator, -1 denominator."""
    if isinstance(node, BinOp) and node.op in ("*", "/"):
        right = side if node.op == "*" else -side
        return _factors(node.left, side) + _factors(node.right, right)
    return [(node, side)]


def _is_whole(node: Node) -> bool:
    return isinstance(node, Num) and node.value == int(node.value)


def _combine(a: int | None, b: int | None) -> int | None:
    """Direction of a sum of two parts: same direction, else unknown (0)."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    return 0


def _flip(a: int | None) -> int | None:
    return None if a is None else -a


def _sign(node: Node) -> int:
    """Sign of an expression over names taken as positive (+1, -1, or 0 if unknown)."""
    if isinstance(node, Num):
        return int(np.sign(node.value))
    if isinstance(node, Name):
        return 1
    if isinstance(node, Neg):
        return -_sign(node.operand)
    if isinstance(node, Call):
        if node.func in ("exp", "sqrt", "softplus"):
            return 1
        if node.func in ("minimum", "maximum"):
            signs = {_sign(a) for a in node.args}
            return signs.pop() if len(signs) == 1 else 0
        return 0
    left, right = _sign(node.left), _sign(node.right)
    if node.op in ("*", "/"):
        return left * right
    if node.op == "**":
        return 1 if left == 1 else 0
    if node.op == "-":
        right = -right
    return left if left == right else 0


def _sign_in(node: Node, name: str) -> int | None:
    """Sign of d(node)/d(name), names taken positive; None if absent, 0 if unknown."""
    if isinstance(node, Name):
        return 1 if node.id == name else None
    if isinstance(node, Num):
        return None
    if isinstance(node, Neg):
        return _flip(_sign_in(node.operand, name))
    if isinstance(node, Call):
        if len(node.args) == 1 and node.func in ("exp", "log", "sqrt", "log1p", "softplus"):
            return _sign_in(node.args[0], name)
        return None if name not in _names(node) else 0
    left, right = _sign_in(node.left, name), _sign_in(node.right, name)
    if node.op == "+":
        return _combine(left, right)
    if node.op == "-":
        return _combine(left, _flip(right))
    if node.op == "**":
        return None if left is None and right is None else 0
    if left is not None and right is not None:
        return 0
    if left is not None:
        return left * _sign(node.right)
    if right is None:
        return None
    return right * _sign(node.left) * (1 if node.op == "*" else -1)


def _direction(node: Node, inputs: frozenset[str]) -> int | None:
    """How a node moves as its inputs grow: +1, -1, 0 (mixed or unknown), None (constant)."""
    if isinstance(node, Name):
        return 1 if node.id in inputs else None
    if isinstance(node, Num):
        return None
    if isinstance(node, Neg):
        return _flip(_direction(node.operand, inputs))
    if isinstance(node, Call):
        dirs = [_direction(a, inputs) for a in node.args]
        if node.func in ("expm1", "exp", "log", "sqrt", "log1p", "softplus", "logaddexp"):
            return functools.reduce(_combine, dirs, None)
        if node.func in ("minimum", "maximum", "logsumexp"):
            return functools.reduce(_combine, dirs, None)
        return 0
    left, right = _direction(node.left, inputs), _direction(node.right, inputs)
    if node.op == "**":
        if right is not None:
            return 0
        return None if left is None else left * _sign(node.right)
    if node.op in ("-", "/"):
        right = _flip(right)
    if node.op in ("*", "/"):
        # A constant factor of known sign turns the direction; factors with inputs are
        # taken as positive.
        if left is None and right is not None:
            return right * (_sign(node.left) or 1)
        if right is None and left is not None:
            return left * (_sign(node.right) or 1)
    return _combine(left, right)


def _negated_text(node: Node) -> str:
    """Formula text of ``-node``, simplified for ``-(-x)``."""
    if isinstance(node, Neg):
        return _bare(node.operand)
    if isinstance(node, Num):
        return _bare(Num(-node.value))
    return f"-({_bare(node)})"


def _bare(node: Node) -> str:
    """Formula text without the outermost parentheses of the canonical form."""
    text = _unparse(node)
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, char in enumerate(text):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and i < len(text) - 1:
                return text
        return text[1:-1]
    return text


def _limit(node: Node, inputs: frozenset[str]) -> Node | str:
    """The node's value as every input grows without bound, taking parameters positive.

    Returns a node over parameters, ``"0"``, ``"inf"``, ``"-inf"`` or ``"?"`` (unknown).
    """
    if isinstance(node, Name):
        return "inf" if node.id in inputs else node
    if isinstance(node, Num):
        return node
    if isinstance(node, Neg):
        inner = _limit(node.operand, inputs)
        return (
            {"0": "0", "inf": "-inf", "-inf": "inf", "?": "?"}.get(inner, Neg(inner))
            if isinstance(inner, str)
            else Neg(inner)
        )
    if isinstance(node, Call):
        args = [_limit(a, inputs) for a in node.args]
        if any(isinstance(a, str) for a in args):
            if node.func == "exp" and args[0] in ("-inf", "inf"):
                return "0" if args[0] == "-inf" else "inf"
            if node.func in ("log", "sqrt", "log1p", "softplus") and args[0] == "inf":
                return "inf"
            return "?"
        return Call(node.func, tuple(args))  # type: ignore[arg-type]
    left, right = _limit(node.left, inputs), _limit(node.right, inputs)
    op = node.op
    if op in ("+", "-"):
        if op == "-":
            right = (
                {"0": "0", "inf": "-inf", "-inf": "inf", "?": "?"}.get(right, right)
                if isinstance(right, str)
                else Neg(right)
            )
        if left == "0":
            return right
        if right == "0":
            return left
        if "?" in (left, right):
            return "?"
        infinite = {x for x in (left, right) if isinstance(x, str)}
        if infinite:
            return infinite.pop() if len(infinite) == 1 else "?"
        return BinOp("+", left, right)
    if op == "**":
        if isinstance(right, str):
            return "?"
        sign = _sign(right)
        if left == "inf":
            return {1: "inf", -1: "0"}.get(sign, "?")
        if left == "0":
            return {1: "0", -1: "inf"}.get(sign, "?")
        if isinstance(left, str):
            return "?"
        if isinstance(left, Num) and left.value == 1:
            return Num(1.0)
        return BinOp("**", left, right)
    if op == "/":
        right = (
            {"0": "inf", "inf": "0", "-inf": "0", "?": "?"}.get(right, right)
            if isinstance(right, str)
            else BinOp("/", Num(1.0), right)
        )
    if "?" in (left, right):
        return "?"
    if "0" in (left, right):
        return "?" if {"inf", "-inf"} & {left, right} else "0"  # type: ignore[operator]
    if isinstance(left, str) or isinstance(right, str):
        return "?"
    for one, other in ((left, right), (right, left)):
        if isinstance(one, Num) and one.value == 1:
            return other
        if (
            isinstance(one, BinOp)
            and one.op == "/"
            and isinstance(one.left, Num)
            and one.left.value == 1
            and isinstance(one.right, Num)
            and one.right.value == 1
        ):
            return other
    return BinOp("*", left, right)


@dataclass
class _Walk:
    """What one walk over the tree collects, per parameter."""

    inputs: frozenset[str]
    exponent: dict[str, int] = field(default_factory=dict)  # name -> decay verdict (first)
    reciprocal: set[str] = field(default_factory=set)
    whole: set[str] = field(default_factory=set)  # the whole exponent (up to sign) somewhere
    scales: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Scales met outside a power (exp(-N/N0), minimum(N, Nb)): the law needs no log there.
    soft_scales: dict[str, tuple[str, str]] = field(default_factory=dict)
    rates: dict[str, str] = field(default_factory=dict)  # t in exp(t * N): sign open
    # R in exp(-D/(R*U)) or minimum(D, R*U): sized by a product of inputs (see _ratio).
    ratios: dict[str, tuple[int, tuple[tuple[Node, int], ...], bool]] = field(
        default_factory=dict
    )  # (side, the other factors, whether the sign is open)
    amplitudes: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    factors: set[str] = field(default_factory=set)
    log_inputs: set[str] = field(default_factory=set)
    position: dict[int, int] = field(default_factory=dict)

    def order(self, node: Node) -> None:
        """Number the nodes in formula order (pre-order), for 'the first input'."""
        stack = [node]
        while stack:
            n = stack.pop()
            self.position.setdefault(id(n), len(self.position))
            stack.extend(reversed(_children(n)))


def _positive_needed(node: Node, walk: _Walk) -> None:
    """Record the inputs a node that must be positive is made of (factors, min/max)."""
    for factor, _ in _factors(node):
        if isinstance(factor, Name) and factor.id in walk.inputs:
            walk.log_inputs.add(factor.id)
        elif isinstance(factor, Call) and factor.func in ("minimum", "maximum"):
            for arg in factor.args:
                _positive_needed(arg, walk)
        elif isinstance(factor, BinOp) and factor.op == "**" and not _is_whole(factor.right):
            _positive_needed(factor.left, walk)


def _scales_in(base: Node, walk: _Walk) -> None:
    """Record parameters that multiply or divide an input inside a power's base."""
    stack = [base]
    while stack:
        node = stack.pop()
        if isinstance(node, BinOp) and node.op in ("+", "-"):
            terms = _additive_terms_signed(node)
            inputs = [t.id for t in terms if isinstance(t, Name) and t.id in walk.inputs]
            for term in terms:
                if inputs and not _names(term) & walk.inputs:
                    # Added to an input, so in its units (E_start in E - 1 + E_start).
                    for name in sorted(_names(term)):
                        walk.scales.setdefault(name, (inputs[0], "1"))
                else:
                    stack.append(term)
        elif isinstance(node, Call) and len(node.args) == 1:
            stack.append(node.args[0])
        elif isinstance(node, Neg):
            stack.append(node.operand)
        elif isinstance(node, BinOp) and node.op == "**":
            stack.append(node.left)
        elif isinstance(node, BinOp):
            factors = _factors(node)
            found = [
                (f.id, side) for f, side in factors if isinstance(f, Name) and f.id in walk.inputs
            ]
            if not found:
                stack.extend(f for f, _ in factors if not isinstance(f, Name | Num))
                continue
            inp, inp_side = found[0]
            for f, side in factors:
                if isinstance(f, Name) and f.id not in walk.inputs:
                    # d in C/d is like C (reference power 1); k in k*C is like 1/C (-1).
                    walk.scales.setdefault(f.id, (inp, "1" if side != inp_side else "-1"))
                elif not isinstance(f, Name):
                    stack.append(f)


def _exp_scales(argument: Node, walk: _Walk) -> None:
    """Record scales of an input inside ``exp``: ``N0`` in ``exp(-N/N0)``, ``k`` in ``exp(-k*N)``.

    A parameter dividing the input is in the input's units whatever the sign; one
    multiplying it is a scale only in a decaying term (``-k*N``): in ``exp(t*r)`` the sign
    of ``t`` is open (a data-mixing law's proportions r), so it is left a shape. A sum that
    holds an input as a term counts as that input: ``N0`` in ``exp(-(N + N1)/N0)`` is a
    scale of N, and ``N1``, added to N, a shift in N's units. A term with more than one
    input (``exp(-N*D/K)``, K in units of N*D) gives its parameters no reference: they
    keep a plain default prior.
    """
    for term, sign in _signed_terms(argument, 1):
        factors, flipped = _signed_factors(term)
        sign *= flipped
        found: list[tuple[str, int]] = []
        shifted: list[Node] = []
        for factor, side in factors:
            if isinstance(factor, Name) and factor.id in walk.inputs:
                found.append((factor.id, side))
            elif (inp := _shifted_input(factor, walk.inputs)) is not None:
                found.append((inp, side))
                shifted.append(factor)
        if _ratio(factors, walk, sign):
            continue
        if not found:
            inner = _Walk(walk.inputs)
            for factor, _ in factors:
                if not isinstance(factor, Name | Num):
                    _scales_in(factor, inner)
            for name, (inp, power) in inner.scales.items():
                if power == "1":
                    walk.soft_scales.setdefault(name, (inp, power))
            continue
        if len(found) > 1 or any(
            _names(f) & walk.inputs
            for f, _ in factors
            if not isinstance(f, Name) and not any(f is g for g in shifted)
        ):
            continue  # units of a product of inputs (or of an input and more): no reference
        inp, inp_side = found[0]
        for factor in shifted:
            # N1 in N + N1: added to N, in its units.
            for term_ in _additive_terms_signed(factor):
                for name in sorted(_names(term_) - walk.inputs):
                    walk.soft_scales.setdefault(name, (inp, "1"))
        for factor, side in factors:
            if isinstance(factor, Name) and factor.id not in walk.inputs:
                power = "1" if side != inp_side else "-1"
                if power == "1" or sign < 0:
                    walk.soft_scales.setdefault(factor.id, (inp, power))
                else:
                    walk.rates.setdefault(factor.id, inp)


def _shifted_input(node: Node, inputs: frozenset[str]) -> str | None:
    """The input ``N`` of a sum ``N + N1`` (or ``N - N1``): one input, a bare term, and
    terms of parameters only; None for anything else."""
    if not (isinstance(node, BinOp) and node.op in ("+", "-")):
        return None
    terms = _additive_terms_signed(node)
    bare = [t.id for t in terms if isinstance(t, Name) and t.id in inputs]
    others = [t for t in terms if not (isinstance(t, Name) and t.id in inputs)]
    if len(bare) != 1 or any(_names(t) & inputs for t in others):
        return None
    return bare[0]


def _signed_factors(node: Node, side: int = 1) -> tuple[list[tuple[Node, int]], int]:
    """Factors of a product chain with their side, negations taken out as an overall sign."""
    if isinstance(node, Neg):
        factors, sign = _signed_factors(node.operand, side)
        return factors, -sign
    if isinstance(node, BinOp) and node.op in ("*", "/"):
        left, left_sign = _signed_factors(node.left, side)
        right, right_sign = _signed_factors(node.right, side if node.op == "*" else -side)
        return left + right, left_sign * right_sign
    if isinstance(node, Num) and node.value < 0:
        return [(Num(-node.value), side)], -1
    return [(node, side)], 1


def _closed(walk: _Walk, name: str) -> bool:
    """Whether ``name`` has a ratio reading of known sign (a scale, see :func:`_ratio`)."""
    return name in walk.ratios and not walk.ratios[name][2]


def _ratio(factors: list[tuple[Node, int]], walk: _Walk, sign: int = -1) -> bool:
    """Record the one parameter of a product that must be of order 1 with several inputs.

    ``R`` in ``exp(-D/(R*U))``, ``K`` in ``exp(-N*D/K)``, ``R`` in ``exp(-(D/U - 1)/R)``:
    the other factors hold inputs only, and either more than one input or an input inside
    an expression, so no single input's reference states the parameter; its size is where
    the product is 1 at the runs (:func:`ratio_sizes`). A multiplier in a growing term
    (``t`` in ``exp(t*N*D)``, ``sign`` > 0) is a rate of either sign, not a scale.
    Returns whether one was recorded.
    """
    params = [(f, side) for f, side in factors if _names(f) - walk.inputs]
    rest = [(f, side) for f, side in factors if not _names(f) - walk.inputs]
    held = [f for f, _ in rest if _names(f)]
    if len(params) != 1 or not isinstance(params[0][0], Name) or not held:
        return False
    logs = [n for f in held for n in _iter_nodes(f) if isinstance(n, Call)]
    if any(n.func in ("log", "log1p") for n in logs):
        return False  # g in expm1(g * log(N)): a power of N, its exponent
    # A number far from 1 beside the input (w in exp(-N/(1e9*w))) sizes the parameter
    # away from the input's reference: the runs' product says where instead.
    scaled = any(isinstance(f, Num) and not 0.01 < abs(f.value) < 100 for f, _ in rest)
    if len(held) == 1 and isinstance(held[0], Name) and not scaled:
        return False  # one input, alone: a scale of it (N0 in exp(-N/N0))
    name, side = params[0][0].id, params[0][1]
    walk.ratios.setdefault(name, (side, tuple(rest), side > 0 and sign > 0))
    return True


def _bound_scales(node: Call, walk: _Walk) -> None:
    """Record ``Nb`` in ``minimum(N, Nb)`` / ``maximum(N, Nb)``: compared with N, in its units.

    ``R`` in ``minimum(D, R*U)`` is compared with D through U: a ratio (:func:`_ratio`).
    """
    inputs = [a.id for a in node.args if isinstance(a, Name) and a.id in walk.inputs]
    if not inputs:
        return
    if len(node.args) == 2:
        first, second = node.args
        for one, other in ((first, second), (second, first)):
            if isinstance(other, Name) and other.id in walk.inputs:
                _ratio([*_factors(one), (other, -1)], walk)
    for arg in node.args:
        if isinstance(arg, Name) and arg.id not in walk.inputs:
            walk.soft_scales.setdefault(arg.id, (inputs[0], "1"))


def _power_base_input(
    factor: Node, inputs: frozenset[str], free: frozenset[str] = frozenset()
) -> str | None:
    """The input ``x`` of a power ``x**p`` or ``minimum(x, b)**p`` / ``maximum(x, b)**p``.

    A hard break ``minimum(N, Nb)**-a1 * maximum(N, Nb)**-a2`` is a power of N on each side
    of ``Nb``; ``b`` a bare parameter (a scale of x). Also a compound base in one input's
    units (see :func:`_unit`; ``free``: the parameters without units of their own).
    """
    if not (isinstance(factor, BinOp) and factor.op == "**"):
        return None
    base = factor.left
    if isinstance(base, Name):
        return base.id if base.id in inputs else None
    if isinstance(base, Call) and base.func in ("minimum", "maximum"):
        if all(isinstance(a, Name) for a in base.args):
            found = [a.id for a in base.args if a.id in inputs]
            if len(found) == 1:
                return found[0]
    unit = _unit(base, inputs, free)
    if isinstance(unit, dict) and len(unit) == 1:
        ((name, power),) = unit.items()
        if name in inputs and power == 1:
            # A compound base in the units of one input (``U*R*(1 - exp(-D/(R*U)))``,
            # ``D + D0``): its amplitude is the term's size at that input's reference.
            return name
    return None


#: The units of a parameter that is not free (``N0`` in ``N/N0``): unknown, so that
#: ``N/N0`` is not read as in N's units (its value at N_ref is not N_ref).
_OWN = "?"


def _plain(unit: dict[str, float] | None) -> bool:
    """Whether a unit (see :func:`_unit`) is an input's, known: ``D/U``, ``N``; not ``{}``."""
    return isinstance(unit, dict) and bool(unit) and _OWN not in unit


def _unit(
    node: Node, inputs: frozenset[str], free: frozenset[str] = frozenset()
) -> dict[str, float] | None:
    """The inputs a node is in the units of (``{input: power}``), None if unclear.

    Numbers and the results of ``exp`` are dimensionless (a product with a number other
    than 1, like ``N/1e8``, is unclear: its size is not the input's). A parameter in
    ``free`` takes whatever units its place needs (``R`` in ``U*R*(...)``, set by the
    ratio ``D/(R*U)``); any other has units of its own, unknown (``_OWN``): ``N/N0`` is
    not in N's units. A sum is in the units its input-holding terms share (a term of
    parameters only adopts them, a number is dimensionless); a power of an input with a
    fitted exponent, or a logarithm of one, has no units this can name.
    """
    if isinstance(node, Name):
        if node.id in inputs:
            return {node.id: 1.0}
        return {} if node.id in free else {_OWN: 1.0}
    if isinstance(node, Num):
        return {}
    if isinstance(node, Neg):
        return _unit(node.operand, inputs, free)
    if isinstance(node, Call):
        if not _names(node) & inputs or node.func in ("exp", "expm1"):
            return {}
        if node.func in ("minimum", "maximum"):
            # What is compared is in one unit: that of the first input compared bare
            # (``minimum(D, R*U)`` is in D's units, R*U adopting them).
            bare = [a.id for a in node.args if isinstance(a, Name) and a.id in inputs]
            return {bare[0]: 1.0} if bare else _sum_unit(list(node.args), inputs, free)
        return None
    if node.op in ("+", "-"):
        return _sum_unit(_additive_terms_signed(node), inputs, free)
    left = _unit(node.left, inputs, free)
    if node.op == "**":
        if left == {}:
            return {}
        if left is None or not isinstance(node.right, Num):
            return None
        return {k: v * node.right.value for k, v in left.items()}
    right = _unit(node.right, inputs, free)
    if left is None or right is None:
        return None
    if any(isinstance(n, Num) and n.value != 1 for n in (node.left, node.right)):
        # N/1e8 is N's units, but its value at N_ref is not N_ref: an amplitude stated at
        # N_ref would be off by 1e8**alpha (the law author normalised the base already).
        return None
    sign = 1.0 if node.op == "*" else -1.0
    out = dict(left)
    for k, v in right.items():
        out[k] = out.get(k, 0.0) + sign * v
    return {k: v for k, v in out.items() if v != 0}


def _sum_unit(
    terms: list[Node], inputs: frozenset[str], free: frozenset[str] = frozenset()
) -> dict[str, float] | None:
    """Units shared by the terms of a sum (see :func:`_unit`); None if they differ."""
    units = []
    for term in terms:
        if isinstance(term, Num) or _names(term) & inputs:
            unit = _unit(term, inputs, free)
            if unit is not None and unit and set(unit) == {_OWN}:
                continue  # R*(1 - exp(...)) in 1 + R*(...): its parameter's units adopt the sum's
            units.append(unit)
    if not units or any(u is None for u in units) or any(u != units[0] for u in units):
        return None
    return units[0]


def _joint_power(candidates: list[tuple[int, str, str]]) -> tuple[int, str, str]:
    """The first input's power, summed over the factors that are powers of that input.

    ``A * minimum(N, Nb)**-a1 * maximum(N, Nb)**-a2`` is ``A * N**-(a1 + a2)`` at N = Nb.
    """
    first = candidates[0]
    same = [power for _, inp, power in candidates if inp == first[1]]
    if len(same) == 1:
        return first
    joint = Formula(" + ".join(f"({power})" for power in same))
    return first[0], first[1], _bare(joint.tree)


def _products(node: Node, inherited: list[tuple[int, str, str]], top: bool, walk: _Walk) -> None:
    """Record amplitudes (and other factors of the law's terms) through sums and products."""
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        _products(node.left, inherited, top, walk)
        _products(node.right, inherited, top, walk)
        return
    if isinstance(node, Neg):
        _products(node.operand, inherited, top, walk)
        return
    factors = _factors(node)
    free = frozenset(walk.ratios)
    powers: list[tuple[int, str, str]] = []
    for factor, side in factors:
        base = _power_base_input(factor, walk.inputs, free)
        if base is not None:
            names = _names(factor.right)
            if names and not names & walk.inputs:
                power = _negated_text(factor.right) if side > 0 else _bare(factor.right)
                powers.append((walk.position.get(id(factor), 0), base, power))
    # G in B/D**beta * (1 + G*D/U) sizes G*D/U against 1, not the term B/D**beta, and A in
    # A*N/D**beta is not the term's size at D_ref: a product holding an input with units
    # outside the powers found states no amplitude (a in (g + a*exp(-D/D0)) / N**alpha
    # still does: exp is dimensionless; so does A in A*N**-a*(1 + D/Dc): D/Dc's units are
    # not known to be D's).
    loose = any(
        _plain(_unit(f, walk.inputs, free))
        and not any(p[0] == walk.position.get(id(f)) for p in powers)
        for f, _ in factors
    )
    if loose:
        inherited, powers = [], []
    for i, (factor, side) in enumerate(factors):
        if isinstance(factor, Name) and factor.id not in walk.inputs:
            if top and len(factors) > 1:
                walk.factors.add(factor.id)
            candidates = sorted(inherited + powers) if side > 0 else []
            if candidates and factor.id not in walk.amplitudes:
                walk.amplitudes[factor.id] = _joint_power(candidates)
        elif isinstance(factor, BinOp) and factor.op in ("+", "-") and side > 0:
            others = [
                p
                for j, (f, _) in enumerate(factors)
                if j != i
                for p in powers
                if p[0] == walk.position.get(id(f))
            ]
            # (G + D/U) * B/D**beta: a sum with a term in an input's units is no sum of
            # amplitudes of the power beside it (g / G**gamma + a, in G's fitted power, is).
            if any(_plain(_unit(t, walk.inputs, free)) for t in _additive_terms_signed(factor)):
                others, inherited_here = [], []
            else:
                inherited_here = inherited
            _products(factor, inherited_here + others, top, walk)
        elif len(factors) > 1 or not isinstance(factor, Name):
            for child in _children(factor):
                _products(child, [], False, walk)


def _walk_powers(node: Node, context: int, walk: _Walk) -> None:
    """Record exponents, their decay verdicts, scales and inputs that must be positive."""
    if isinstance(node, Call):
        if node.func in ("log", "sqrt", "log1p"):
            _positive_needed(node.args[0], walk)
            if _names(node.args[0]) & walk.inputs:
                _scales_in(node.args[0], walk)
        if node.func == "exp":
            _log_linear(node.args[0], context, walk)
        if node.func in ("exp", "expm1") and _names(node.args[0]) & walk.inputs:
            _exp_scales(node.args[0], walk)
        if node.func in ("minimum", "maximum"):
            _bound_scales(node, walk)
        for arg in node.args:
            _walk_powers(arg, context, walk)
        return
    if isinstance(node, Neg):
        _walk_powers(node.operand, -context, walk)
        return
    if not isinstance(node, BinOp):
        return
    if node.op == "**":
        base, exponent = node.left, node.right
        if not _is_whole(exponent):
            _positive_needed(base, walk)
        if _names(base) & walk.inputs and not _names(exponent) & walk.inputs:
            direction = -1 if _direction(base, walk.inputs) == -1 else 1
            for name in sorted(_names(exponent) - walk.inputs):
                verdict = context * direction * (_sign_in(exponent, name) or 0)
                walk.exponent.setdefault(name, verdict)
            for sub in _iter_nodes(exponent):
                if (
                    isinstance(sub, BinOp)
                    and sub.op == "/"
                    and isinstance(sub.left, Num)
                    and isinstance(sub.right, Name)
                ):
                    walk.reciprocal.add(sub.right.id)
            bare = exponent.operand if isinstance(exponent, Neg) else exponent
            if isinstance(bare, Name):
                walk.whole.add(bare.id)
            _scales_in(base, walk)
        even = _is_whole(exponent) and int(exponent.value) % 2 == 0  # type: ignore[union-attr]
        if even and _sign(base) != 1:
            # log(lr/(c0*N**g))**2 rises on both sides of its optimum: no direction of the
            # base (nor the sign of g) means decay.
            _walk_powers(base, 0, walk)
        else:
            _walk_powers(base, context * _sign(exponent), walk)
        _walk_powers(exponent, 0, walk)
        return
    if node.op in ("+", "*"):
        _walk_powers(node.left, context, walk)
        _walk_powers(node.right, context, walk)
    else:  # '-' and '/': the right operand moves the other way
        _walk_powers(node.left, context, walk)
        _walk_powers(node.right, -context, walk)


def _additive_terms_signed(node: Node) -> list[Node]:
    """Terms of a sum or difference, negations dropped (only which names share a sum matters)."""
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        return _additive_terms_signed(node.left) + _additive_terms_signed(node.right)
    if isinstance(node, Neg):
        return _additive_terms_signed(node.operand)
    return [node]


def _log_linear(argument: Node, context: int, walk: _Walk) -> None:
    """Read ``exp(d + a * log(N) + ...)``: ``a`` is an exponent (N**a), ``d`` a coefficient."""
    for term, sign in _signed_terms(argument, 1):
        factors = _factors(term)
        logs = [
            f
            for f, _ in factors
            if isinstance(f, Call) and f.func in ("log", "log1p") and _names(f) & walk.inputs
        ]
        params = [f.id for f, _ in factors if isinstance(f, Name) and f.id not in walk.inputs]
        if not logs and len(factors) == 1 and params:
            walk.factors.add(params[0])  # exp(d) multiplies the law
        elif (
            len(logs) == 1
            and params
            and all(isinstance(f, Name | Num) or f is logs[0] for f, _ in factors)
        ):
            direction = _direction(logs[0].args[0], walk.inputs)
            direction = -1 if direction == -1 else 1
            for name, side in ((f.id, s) for f, s in factors if isinstance(f, Name)):
                if name in walk.inputs:
                    continue
                constant = functools.reduce(
                    lambda acc, f: acc * (_sign(f[0]) if isinstance(f[0], Num) else 1), factors, 1
                )
                walk.exponent.setdefault(name, context * sign * direction * side * constant)
                walk.whole.add(name)


def _signed_terms(node: Node, sign: int) -> list[tuple[Node, int]]:
    """Terms of a sum with the sign each enters with."""
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        right = sign if node.op == "+" else -sign
        return _signed_terms(node.left, sign) + _signed_terms(node.right, right)
    if isinstance(node, Neg):
        return _signed_terms(node.operand, -sign)
    return [(node, sign)]


def _iter_nodes(node: Node) -> list[Node]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(_children(n))
    return out


def analyse(tree: Node, inputs: frozenset[str], names: frozenset[str]) -> Structure:
    """Structure of a tree (see :class:`Structure`)."""
    params = names - inputs
    walk = _Walk(inputs)
    walk.order(tree)
    _walk_powers(tree, 1, walk)
    _products(tree, [], True, walk)

    # The floor: the one bare parameter term of the top-level sum, else the limit of the law
    # when every decaying power of an input vanishes, if that is a bare parameter.
    bare = [t.id for t in _additive_terms(tree) if isinstance(t, Name) and t.id in params]
    floor: str | None = None
    if len(bare) == 1:
        floor = bare[0]
    elif not bare:
        limit = _limit(tree, inputs)
        if isinstance(limit, Name) and limit.id in params:
            floor = limit.id

    roles: dict[str, str] = {}
    for name in sorted(params):
        if name == floor:
            role = "floor"
        elif name in walk.exponent:
            sharpness = name in walk.reciprocal and name not in walk.whole
            role = "shape" if sharpness else "exponent"
        elif name in walk.scales or name in walk.soft_scales or _closed(walk, name):
            role = "scale"
        elif name in walk.amplitudes or name in walk.factors:
            role = "coefficient"
        else:
            role = "shape"
        roles[name] = role
    amplitudes = {
        name: (inp, power)
        for name, (_, inp, power) in walk.amplitudes.items()
        if roles[name] == "coefficient"
    }
    log_inputs = set(walk.log_inputs)
    log_inputs |= {inp for inp, _ in amplitudes.values()}
    # A scale met only inside exp or minimum/maximum needs no log: its input is positive
    # only if its prior is stated at the input's reference (data.log_inputs adds it then).
    log_inputs |= {
        walk.scales[n][0]
        for n in params
        if roles[n] == "scale" and n in walk.scales and not _closed(walk, n)
    }
    decay = frozenset(n for n, v in walk.exponent.items() if v < 0 and roles[n] == "exponent")
    return Structure(
        floor=floor,
        roles=roles,
        amplitudes=amplitudes,
        log_inputs=frozenset(log_inputs),
        decay_exponents=decay,
    )


def scale_references(formula: Formula, inputs: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Return ``{scale parameter: (input, power)}``: where each scale's prior is stated.

    Parameters
    ----------
    formula : Formula
        The formula.
    inputs : iterable of str
        Its inputs.

    Returns
    -------
    dict of str to (str, str)
        Power ``"1"`` for a parameter on the other side of the input (``d`` in ``C/d``,
        ``Nc`` in ``Nc/N``: the prior is on ``d / C_ref``), ``"-1"`` for one on the same
        side (``k`` in ``(k*C)**a``: the prior is on ``k * C_ref``).
    """
    inputs = frozenset(inputs) & formula.names
    walk = _Walk(inputs)
    walk.order(formula.tree)
    _walk_powers(formula.tree, 1, walk)
    roles = formula.structure(inputs).roles
    found = {**walk.soft_scales, **walk.scales}
    return {n: ref for n, ref in found.items() if roles.get(n) == "scale" and not _closed(walk, n)}


def ratio_sizes(formula: Formula, inputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Return ``{parameter: typical size}`` for scales and rates set by a product of inputs.

    ``R`` in ``exp(-D/(R*U))`` or ``minimum(D, R*U)`` (a number of repetitions, D over U),
    ``K`` in ``exp(-N*D/K)``: no one input's reference states them, so their size is
    where the product they are in is 1, on the geometric mean over the runs (``R`` of
    order ``D/U``). Such a reading wins over a power's base (``R`` in
    ``(U*R*(...))**-beta``, whose units the power's amplitude absorbs). A rate of either
    sign (a shape: ``t`` in ``exp(t*N*D)``) gets the size of ``1 / (N*D)`` so.

    Parameters
    ----------
    formula : Formula
        The formula.
    inputs : mapping of str to array
        The runs' values of the formula's inputs.

    Returns
    -------
    dict of str to float
        The scales found so whose product is finite and non-zero on some runs.
    """
    names = frozenset(inputs) & formula.names
    walk = _Walk(names)
    walk.order(formula.tree)
    _walk_powers(formula.tree, 1, walk)
    roles = formula.structure(names).roles
    out: dict[str, float] = {}
    for name, (side, rest, open_sign) in walk.ratios.items():
        if roles.get(name) != ("shape" if open_sign else "scale"):
            continue
        log_rest = np.zeros(np.shape(next(iter(inputs.values()))))
        with np.errstate(all="ignore"):
            for factor, f_side in rest:
                value = np.asarray(_linear(factor, inputs, NUMPY), dtype=float)
                log_rest = log_rest + f_side * np.log(np.abs(value))
        finite = log_rest[np.isfinite(log_rest)]
        if finite.size:
            out[name] = float(np.exp(-np.mean(finite) / side))
    return out


def exp_rates(formula: Formula, inputs: Iterable[str]) -> dict[str, str]:
    """Return ``{parameter: input}`` for a shape multiplying an input inside ``exp``.

    ``t`` in ``exp(t * N)``: its sign is open (growth or decay), so it is not a scale, but
    its size is in the units of ``1 / N`` (a default prior of size 1 would make the term
    ``exp(+-1e9)`` at N ~ 1e9).

    Parameters
    ----------
    formula : Formula
        The formula.
    inputs : iterable of str
        Its inputs.

    Returns
    -------
    dict of str to str
        The parameters with the shape role found so, each with the input it multiplies.
    """
    inputs = frozenset(inputs) & formula.names
    walk = _Walk(inputs)
    walk.order(formula.tree)
    _walk_powers(formula.tree, 1, walk)
    roles = formula.structure(inputs).roles
    return {n: inp for n, inp in walk.rates.items() if roles.get(n) == "shape"}


def _resembles(name: str, known: Iterable[str]) -> str | None:
    """The known name (a column, an input) ``name`` looks like a slip for, or None.

    Equal but for letter case, or close by :func:`bayescale.errors.closest` when both names
    have three letters or more: a short parameter like ``N0`` or ``Nb`` is a scale of N, not
    a misspelt N.
    """
    known = [k for k in dict.fromkeys(known) if k != name]
    match = closest(name, known)
    if match is None:
        return None
    if match.casefold() == name.casefold() or min(len(match), len(name)) >= 3:
        return match
    return None


def input_like_names(
    formula: Formula,
    inputs: Iterable[str],
    known: Iterable[str] = (),
    left_out: Iterable[str] = (),
) -> dict[str, tuple[str, str]]:
    """Return the parameters that look like a forgotten or misnamed input.

    A name is found so when the formula uses it the way an input is used **and** something
    says it is one:

    - inside ``log``, a ratio or product of two names or more, none of them an input
      (``lr`` and ``lr0`` in ``log(lr / lr0)**2``): always;
    - alone inside ``log`` (``log(V)``), or the base of a fitted power none of whose
      parameters is the exponent of an input (``Tokens`` in ``B / Tokens**beta``; not ``N0``
      in ``A * N0**alpha / N**alpha``, where ``alpha`` is N's exponent): when the name is,
      up to letter case or a slip of spelling, one of ``known`` (the runs' columns, the
      inputs);
    - the base of a power whose exponent is one parameter (``Tokens**beta``,
      ``Tokens**-beta``), as above: also when the formula leaves out an input
      (``left_out``).

    Otherwise the name is a parameter (``A`` in ``A**(1/s)``, ``k`` in ``log(k)``,
    ``A`` in ``exp(log(A) - alpha*log(N))``).

    Parameters
    ----------
    formula : Formula
        The formula.
    inputs : iterable of str
        Its inputs; every other name is a parameter.
    known : iterable of str, default ()
        Names a user could have meant: the runs' columns and inputs.
    left_out : iterable of str, default ()
        Inputs (of the runs, or given) that the formula does not use.

    Returns
    -------
    dict of str to (str, str)
        ``{name: (where, why)}`` in formula order: ``where`` the part of the formula that
        uses the name (formula text), ``why`` what says it is an input (a phrase).
    """
    inputs = frozenset(inputs) & formula.names
    known = list(known)
    left_out = [n for n in left_out if n not in formula.names]
    roles = formula.structure(inputs).roles
    exponents = {n for n, role in roles.items() if role == "exponent"}
    found: dict[str, tuple[str, str]] = {}

    def like(name: str) -> str | None:
        match = _resembles(name, known)
        if match is None:
            return None
        return f"named like {match!r}"

    stack = [formula.tree]
    while stack:
        node = stack.pop()
        stack.extend(reversed(_children(node)))
        if (
            isinstance(node, BinOp)
            and node.op == "**"
            and isinstance(node.left, Name)
            and node.left.id not in inputs
        ):
            fitted = _names(node.right) - inputs
            if not fitted or _names(node.right) & inputs or fitted & exponents:
                continue
            name = node.left.id
            why = like(name)
            bare = node.right.operand if isinstance(node.right, Neg) else node.right
            if why is None and left_out and isinstance(bare, Name):
                listed = ", ".join(left_out)
                why = f"while the formula leaves out the input{'s' * (len(left_out) > 1)} {listed}"
            if why is not None:
                found.setdefault(name, (_bare(node), why))
        elif isinstance(node, Call) and node.func == "log":
            factors = _factors(node.args[0])
            names = [f.id for f, _ in factors if isinstance(f, Name)]
            if (
                not names
                or not all(isinstance(f, Name | Num) for f, _ in factors)
                or set(names) & inputs
            ):
                continue
            where = f"log({_bare(node.args[0])})"
            if len(set(names)) > 1:
                for name in names:
                    found.setdefault(name, (where, "with no input there"))
            else:
                why = like(names[0])
                if why is not None:
                    found.setdefault(names[0], (where, why))
    return found
