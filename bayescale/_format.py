"""Numbers and priors as bayescale shows them, in the command line's tables and the report."""

from __future__ import annotations

import decimal
import math
from typing import Any

__all__ = [
    "clean_exponent",
    "format_interval",
    "format_number",
    "format_prior",
    "parse_quantities",
    "parse_quantity",
    "size_kind",
]

#: Suffixes of counts as :func:`format_number` writes them (70B, 1.4T), and their factors.
_SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
#: Units a value may be followed by (copied from a paper or a table): they change nothing.
_UNITS = ("flops", "flop", "tokens", "token", "params", "parameters")


def clean_exponent(text: str) -> str:
    """``1.2e+23`` -> ``1.2e23``, ``3e-05`` -> ``3e-5``."""
    mantissa, sep, exponent = text.partition("e")
    if not sep:
        return text
    return f"{mantissa}e{int(exponent)}"


def format_number(value: float, kind: str = "num", digits: int = 4) -> str:
    """Format a number for people.

    Parameters
    ----------
    value : float
        The number.
    kind : {"num", "short", "size", "flops", "pct", "percent", "int", "ratio"}
        ``num``: ``digits`` significant digits, trailing zeros kept so that a column's
        numbers line up (2.000); ``short``: the same without trailing zeros (2); ``size``:
        counts as ML papers write them (70B, 1.4T; beyond 1e15 as 5.88e23); ``flops``:
        a compute in FLOPs, always as 5.88e23 (121T would read as a count);
        ``pct``: a probability in percent (below 1% and above 99% as ``<1%`` / ``>99%``);
        ``percent``: a fraction in percent to 3 significant digits (1.08%); ``int``: a whole
        number; ``ratio``: a factor such as ``12x``.
    digits : int, default 4
        Significant digits of ``num`` and ``short``.

    Returns
    -------
    str
        The text shown.
    """
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if kind == "int":
        return f"{round(value):,}"
    if kind == "pct":
        percent = 100 * value
        if 0 < percent < 1:
            return "<1%"
        if 99 < percent < 100:
            return ">99%"
        return f"{percent:.0f}%"
    if kind == "percent":
        return f"{clean_exponent(f'{100 * value:.3g}')}%"
    if kind == "ratio":
        return f"{clean_exponent(f'{value:.3g}')}x"
    if kind == "flops":
        return clean_exponent(f"{value:.3g}")
    if kind == "size":
        # Rounded first, so that 999,999,999,999.9 is 1T, not 1e3B.
        value = float(f"{value:.3g}")
        magnitude = abs(value)
        for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
            if factor <= magnitude < 1e15:
                return f"{clean_exponent(f'{value / factor:.3g}')}{suffix}"
        return clean_exponent(f"{value:.3g}")
    if kind == "short":
        return clean_exponent(f"{value:.{digits}g}")
    text = f"{value:#.{digits}g}".replace(".e", "e").removesuffix(".")
    return clean_exponent(text)


def size_kind(name: str) -> str:
    """How :func:`format_number` shows an input: C in FLOPs (5.88e23), N, D, U as 70B.

    Parameters
    ----------
    name : str
        The input's name.

    Returns
    -------
    str
        ``"flops"`` or ``"size"``.
    """
    return "flops" if name == "C" else "size"


def format_interval(low: float, high: float, digits: int = 4) -> str:
    """An interval as ``[low, high]`` with ``digits`` significant digits."""
    return f"[{format_number(low, digits=digits)}, {format_number(high, digits=digits)}]"


def format_prior(prior: Any) -> str:
    """A pymc-extras Prior as ``LogNormal(mu=0.4, sigma=1)``.

    Parameters
    ----------
    prior : pymc_extras.prior.Prior
        The prior.

    Returns
    -------
    str
        Its distribution and parameters.
    """
    args = ", ".join(f"{k}={format_number(float(v), 'short')}" for k, v in prior.parameters.items())
    return f"{prior.distribution}({args})"


def parse_quantity(text: str) -> float:
    """Read a number as a person types it: ``7e10``, ``70B``, ``1.4T``, ``10^24``, ``1e24 FLOPs``.

    The inverse of :func:`format_number`'s ``size`` (K, M, B, T: thousand, million,
    billion, trillion, in either case), so a count copied from bayescale's own output reads
    back; ``10^24``
    and ``10**24`` are powers of ten; a trailing unit (FLOPs, tokens, params) is dropped.

    Parameters
    ----------
    text : str
        The text.

    Returns
    -------
    float
        The value, with its sign as written (``inf`` and ``nan`` typed as such are returned:
        the caller says whether they are allowed).

    Raises
    ------
    ValueError
        If ``text`` is none of these, or overflows a float (``1e400``); the message says
        what was read and how to write it.
    """
    raw = str(text)
    body = raw.strip()
    lowered = body.lower()
    for unit in _UNITS:
        if lowered.endswith(unit) and lowered[: -len(unit)].strip():
            body = body[: -len(unit)].strip()
            break
    factor = 1.0
    suffix = body[-1:].upper()  # 70B or 70b ("Pythia-70m"), as papers and model names write it
    if suffix in _SUFFIXES and body[:-1].strip():
        factor, body = _SUFFIXES[suffix], body[:-1].strip()
    for power in ("**", "^"):
        base, sep, exponent = body.partition(power)
        if sep and base.strip() == "10":
            body = f"1e{exponent.strip()}"
            break
    try:
        value = float(body) * factor
        if factor != 1.0 and math.isfinite(value):
            # In decimal, so that 34.3B is 34300000000, not 34.3 * 1e9 = 34299999999.999996:
            # a size read back from bayescale's own output is the number printed.
            value = float(decimal.Decimal(body.replace("_", "")) * int(factor))
    except ValueError:
        raise ValueError(
            f"{raw!r} is not a number; write e.g. 7e10, 70B or 1.4T (K, M, B, T: thousand, "
            f"million, billion, trillion), 1e24 or 10^24, without thousands separators"
        ) from None
    if math.isinf(value) and any(c.isdigit() for c in body):
        # inf or nan typed as such reach the caller's own check, which says what it needs.
        raise ValueError(f"{raw!r} is too large for a number (it overflows to infinity)")
    return value


def parse_quantities(value: Any) -> Any:
    """Numbers as given, with any text among them read by :func:`parse_quantity`.

    Parameters
    ----------
    value : number, str or sequence
        A number, a text such as ``"70B"``, or a list or array of them.

    Returns
    -------
    numpy.ndarray
        Floats, one per item (at least one dimension).

    Raises
    ------
    ValueError
        If an item is neither a number nor a text :func:`parse_quantity` reads.
    TypeError
        If an item is of another type (a mapping, None, ...).
    """
    import numpy as np

    items = np.atleast_1d(np.asarray(value, dtype=object))
    read = [parse_quantity(v) if isinstance(v, str) else float(v) for v in items.ravel()]
    return np.asarray(read, dtype=float).reshape(items.shape)
