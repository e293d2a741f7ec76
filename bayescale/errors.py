"""Exceptions raised to users: one clear line each, saying what is wrong and what to do."""

from __future__ import annotations


class BayescaleError(Exception):
    """Base class of every error bayescale raises on purpose.

    The message is complete on its own (which file, row, column, value, and what to
    do), so the command-line interface prints it as a single line without a traceback.
    """


class DataError(BayescaleError, ValueError):
    """The table of runs cannot be used as given."""


class FormulaError(BayescaleError, ValueError):
    """A law's formula is not valid or uses something outside the whitelist."""


class LawError(BayescaleError, ValueError):
    """A law definition (catalog file, priors, names) is not valid."""


class ConvergenceError(BayescaleError, RuntimeError):
    """Sampling finished but failed its diagnostics, and ``strict=True`` was asked."""


class OutputExistsError(BayescaleError, FileExistsError):
    """An output file exists already and overwriting was not asked for."""


class DataWarning(UserWarning):
    """Something in the data is kept but deserves the user's attention."""
