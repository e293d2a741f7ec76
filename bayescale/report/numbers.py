"""Numbers of the report: each carries the library's exact value next to its rounded text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from markupsafe import escape

from bayescale._format import format_number

__all__ = ["Num", "nums"]


@dataclass(frozen=True)
class Num:
    """A number of the report: the library's exact value, a key saying what it is, a format.

    It renders as ``<span class="num" data-key="..." data-value="..." data-format="...">``
    around its text, so a reader (or a test) can check each number shown.

    Attributes
    ----------
    value : float
        The value as the library returned it.
    key : str
        Where it comes from, e.g. ``forecast.0.law_median`` or ``param.alpha.median``.
    kind : str
        Format (see :func:`bayescale._format.format_number`).
    digits : int
        Significant digits of the ``num`` format.
    """

    value: float
    key: str
    kind: str = "num"
    digits: int = 4

    @property
    def text(self) -> str:
        """The number as shown."""
        return format_number(self.value, self.kind, self.digits)

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        return (
            f'<span class="num" data-key="{escape(self.key)}" data-value="{float(self.value)!r}" '
            f'data-format="{self.kind}:{self.digits}">{escape(self.text)}</span>'
        )


def nums(
    row: Mapping[str, Any], prefix: str, kinds: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Every numeric entry of a row as a Num keyed ``prefix.column``; others as they are."""
    kinds = kinds or {}
    out: dict[str, Any] = {}
    for column, value in row.items():
        column = str(column)
        if isinstance(value, bool | np.bool_):
            out[column] = bool(value)
        elif isinstance(value, int | float | np.integer | np.floating):
            out[column] = Num(float(value), f"{prefix}.{column}", _kind(column, kinds))
        else:
            out[column] = value
    return out


def _kind(column: str, kinds: Mapping[str, str]) -> str:
    """The format of a table column: FLOPs for C, sizes for N, D, U; percents for probabilities."""
    if column in kinds:
        return kinds[column]
    if column.split("_")[0] == "C":
        return "flops"
    if column.split("_")[0] in ("N", "D", "U"):
        return "size"
    if column in ("n_train", "n_test"):
        return "int"
    if column.startswith(("prob_", "coverage_")):
        return "pct"
    if column == "extrapolation":
        return "ratio"
    return "num"
