"""Exceptions raised to users: one clear line each, saying what is wrong and what to do."""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable


class BayescaleError(Exception):
    """Base class of every error bayescale raises on purpose.

    The message is complete on its own (which file, row, column, value, and what to
    do), so the command-line interface prints it as a single line without a traceback.
    """


class DataError(BayescaleError, ValueError):
    """The table of runs cannot be used as given."""


class MappingError(DataError):
    """An input of the law is not mapped to a column of the data.

    Parameters
    ----------
    message : str
        What is missing and how to map it in Python (``x={"N": "<column>"}``).
    inputs : sequence of str
        The inputs to map (the command line names its own option for them).
    response : bool, default False
        Whether the response column (``y``) is the one to choose.
    """

    def __init__(self, message: str, inputs: tuple[str, ...] = (), response: bool = False):
        super().__init__(message)
        self.inputs = tuple(inputs)
        self.response = response


class NearChanceError(DataError):
    """A downstream task's runs stay at chance: no link from the loss can be learnt."""


class FormulaError(BayescaleError, ValueError):
    """A law's formula is not valid or uses something outside the whitelist."""


class LawError(BayescaleError, ValueError):
    """A law definition (catalog file, priors, names) is not valid."""


class ConvergenceError(BayescaleError, RuntimeError):
    """Sampling finished but failed its diagnostics, and ``strict=True`` was asked."""


class OutputExistsError(BayescaleError, FileExistsError):
    """An output file exists already and overwriting was not asked for.

    Parameters
    ----------
    message : str
        What exists and what to do, in the library's words (``overwrite=True``); the
        command line adds its own flag.
    path : Path, optional
        The file that exists.
    """

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DataWarning(UserWarning):
    """Something in the data is kept but deserves the user's attention."""


class SlipWarning(DataWarning):
    """Forecast points that look like a slip: N and D given the wrong way round, or an input
    far below every run (in other units, most likely). The result is computed as asked.

    A :class:`DataWarning`; to silence this one alone (points on a grid of your own):
    ``warnings.filterwarnings("ignore", category=SlipWarning)``.
    """


class ExtrapolationWarning(UserWarning):
    """A result far beyond what the backtests checked: the discrepancy's growth there is
    extrapolated, and so are the intervals and chances that include it.

    Warned by :meth:`~bayescale.Fit.forecast`, :meth:`~bayescale.Fit.predictive`,
    :meth:`~bayescale.Fit.compute_optimal`, :meth:`~bayescale.Fit.prob_below`,
    :meth:`~bayescale.Fit.budget_for` and an average's ``forecast`` and ``prob_below``; the
    results are unchanged, and their ``attrs["caveats"]`` keep the sentence. A
    :class:`UserWarning`, so filters written for those still apply; to silence this one
    alone: ``warnings.filterwarnings("ignore", category=ExtrapolationWarning)``.
    """


def closest(word: Hashable, choices: Iterable[Hashable]) -> str | None:
    """The choice a user most likely meant by ``word``, for a "did you mean" hint.

    Letter case is the commonest slip (``Loss`` for ``loss``, ``d`` for ``D``), so names are
    compared case-folded: a choice equal but for case wins, else difflib's closest match
    (which alone finds nothing for one-letter names).

    Parameters
    ----------
    word : hashable
        What the user wrote.
    choices : iterable of hashable
        What they could have meant (compared as strings).

    Returns
    -------
    str or None
        The choice as spelled among ``choices``, or None if none is close.
    """
    folded: dict[str, str] = {}
    for choice in choices:
        folded.setdefault(str(choice).casefold(), str(choice))
    key = str(word).casefold()
    if key in folded:
        return folded[key]
    match = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return folded[match[0]] if match else None


def interrupt_in(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The Ctrl-C behind an exception, if it is one.

    A KeyboardInterrupt that lands inside compiled code (numba, a PyTensor function) comes
    out as another exception, e.g. ``SystemError: ... returned a result with an exception
    set``, with the interrupt as its cause: it is still the user's Ctrl-C.

    Parameters
    ----------
    exc : BaseException or None
        The exception raised.

    Returns
    -------
    KeyboardInterrupt or None
        The interrupt in its chain of causes and contexts, or None.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
