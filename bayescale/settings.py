"""Settings checked once at the boundary: the sampler's, seeds and credible levels.

:class:`SamplerSettings` travels unchanged from the command line to :func:`bayescale.fit`,
:func:`bayescale.compare` and the report, so no caller drops a setting on the way.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from bayescale.errors import DataError

__all__ = [
    "DEFAULT_MAX_DRAWS",
    "MAX_SEED",
    "SamplerSettings",
    "check_count",
    "check_level",
    "check_levels",
    "check_seed",
]

#: Seeds are unsigned 32-bit integers: what every random generator used here accepts.
MAX_SEED = 2**32 - 1
#: Posterior draws each fantasy world of a recommendation reweights by default
#: (:func:`bayescale.recommend`): all of a default fit's (4 chains x 1000). A larger fit gives
#: each world its own random subset of this many. Here rather than in
#: :mod:`bayescale.recommendation` so that :meth:`Fit.recommend`'s default needs no import of
#: it when bayescale is loaded.
DEFAULT_MAX_DRAWS = 4000


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` as an int, or raise a clear error.

    Parameters
    ----------
    seed : object
        A whole number from 0 to :data:`MAX_SEED`: an ``int`` or any integer type
        (``numpy.int64``, as ``numpy.arange`` gives).
    name : str, default "seed"
        The argument's name, for the message.

    Returns
    -------
    int
        The seed, as a plain ``int``.

    Raises
    ------
    DataError
        If ``seed`` is not a whole number in range (bools, floats and negatives included).
    """
    value = _whole(seed)
    if value is None or not 0 <= value <= MAX_SEED:
        raise DataError(f"{name} must be a whole number from 0 to {MAX_SEED}, got {_got(seed)}")
    return value


def _whole(value: object) -> int | None:
    """``value`` as an int if it is of an integer type (numpy's included), else None.

    ``operator.index`` takes exactly the types that stand for integers (numpy's refuses its
    bool), so a float (even 300.0) is refused rather than silently truncated; a bool is an int
    to Python, but ``True`` for a count is a slip, not a number.
    """
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def _got(value: object) -> str:
    """A refused value as the user would write it (``300.5``, not ``np.float64(300.5)``),
    with the integer to write instead of a whole float."""
    item = getattr(value, "item", None)
    if type(value).__module__ == "numpy" and callable(item):
        value = item()
    if isinstance(value, float) and value.is_integer():
        return f"{value!r} (a float: write {int(value)})"
    return repr(value)


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """Return a count as an int, or raise a clear error.

    Parameters
    ----------
    value : object
        A whole number ``>= minimum``: an ``int`` or any integer type (``numpy.int64``).
    name : str
        The argument's name, for the message.
    minimum : int, default 1
        Smallest value allowed.

    Returns
    -------
    int
        The count, as a plain ``int``.

    Raises
    ------
    DataError
        If ``value`` is not a whole number ``>= minimum`` (bools and floats included).
    """
    count = _whole(value)
    if count is None or count < minimum:
        raise DataError(f"{name} must be a whole number >= {minimum}, got {_got(value)}")
    return count


def check_level(level: object, name: str = "level") -> float:
    """Return a credible level as a float, or raise a clear error.

    Parameters
    ----------
    level : object
        A probability strictly between 0 and 1 (0.9 for a 90% interval).
    name : str, default "level"
        The argument's name, for the message.

    Returns
    -------
    float
        The level.

    Raises
    ------
    DataError
        If ``level`` is not a number in (0, 1).
    """
    try:
        value = float(level)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(level, bool) or not 0.0 < value < 1.0:
        example = "a 90% chance" if "prob" in name else "a 90% interval"
        raise DataError(
            f"{name} must be a probability between 0 and 1 (0.9 for {example}), got {level!r}"
        )
    return value


def check_levels(level: object, name: str = "level") -> list[float]:
    """Check one level or a sequence of levels (see :func:`check_level`).

    Parameters
    ----------
    level : float or sequence of float
        The level(s).
    name : str, default "level"
        The argument's name, for the message.

    Returns
    -------
    list of float
        The levels, at least one.

    Raises
    ------
    DataError
        If any level is outside (0, 1) or none is given.
    """
    if isinstance(level, str) or not isinstance(level, Sequence):
        return [check_level(level, name)]
    if len(level) == 0:
        raise DataError(f"{name} needs at least one level, e.g. 0.9")
    return [check_level(v, name) for v in level]


@dataclass(frozen=True)
class SamplerSettings:
    """How the posterior is sampled: one object from the command line to every fit.

    Parameters
    ----------
    draws : int, default 1000
        Draws kept per chain.
    tune : int, default 1000
        Tuning (warm-up) steps per chain.
    chains : int, default 4
        Chains, run in parallel on the cores.
    target_accept : float, default 0.95
        Step-size adaptation target, in [0.5, 1); raise it (0.99) if a fit diverges.
    seed : int, default 0
        Seed of the sampler, the prior draws and forecasts.
    prior_draws : int, default 500
        Draws from the prior kept with the fit (0 to skip).
    progress : bool, default False
        Show the sampler's progress bar.
    retries : int, default 2
        Attempts after the first when the diagnostics fail: longer warm-up, more draws, a
        higher ``target_accept`` or deeper trees, as the failure asks (see
        :mod:`bayescale.ladder`); 0 samples once.
    time_budget : float, default 900
        Seconds the retries may bring the sampling to in total: an attempt projected to end
        beyond it is not started (the first attempt always runs).

    Raises
    ------
    DataError
        If a value is out of range; the message names the setting.
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.95
    seed: int = 0
    prior_draws: int = 500
    progress: bool = False
    retries: int = 2
    time_budget: float = 900.0

    def __post_init__(self) -> None:
        # Stored as plain ints: numpy integers would not survive the JSON a fit is saved with.
        for name in ("draws", "tune", "chains"):
            object.__setattr__(self, name, check_count(getattr(self, name), name))
        for name in ("prior_draws", "retries"):
            object.__setattr__(self, name, check_count(getattr(self, name), name, minimum=0))
        budget = self.time_budget
        if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not budget > 0:
            raise DataError(f"time_budget must be a number of seconds > 0, got {budget!r}")
        object.__setattr__(self, "time_budget", float(budget))
        object.__setattr__(self, "seed", check_seed(self.seed))
        ta = self.target_accept
        if isinstance(ta, bool) or not isinstance(ta, numbers.Real) or not 0.5 <= ta < 1.0:
            raise DataError(f"target_accept must be in [0.5, 1), got {ta!r}")
        object.__setattr__(self, "target_accept", float(ta))

    @classmethod
    def of(cls, settings: SamplerSettings | Mapping[str, Any] | None = None, **changes: Any):
        """Build settings from an instance, a mapping or nothing, then apply changes.

        Parameters
        ----------
        settings : SamplerSettings or mapping, optional
            The starting point; default: the defaults.
        **changes
            Settings to change (``None`` values are ignored).

        Returns
        -------
        SamplerSettings
            The settings.

        Raises
        ------
        DataError
            If a name is not a setting or a value is out of range.
        """
        known = {f.name for f in fields(cls)}
        base = settings if isinstance(settings, Mapping) else {}
        given = {**base, **{k: v for k, v in changes.items() if v is not None}}
        unknown = sorted(set(given) - known)
        if unknown:
            raise DataError(
                f"unknown sampler setting(s) {', '.join(unknown)}; "
                f"the settings are {', '.join(sorted(known))}"
            )
        start = settings if isinstance(settings, SamplerSettings) else cls()
        return replace(start, **given)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict (saved with each fit)."""
        return asdict(self)
