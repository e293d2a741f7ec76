"""Reading the saved fit a command works from, refusing the files that are not one.

Three things look like a fit and are not the fit a command asks for: a folder written by
``bayescale compare`` (its fits are inside), and a *link* fit (``bayescale link --save``),
which maps the loss to a metric and records the metric's name. Given to a
command of the loss (forecast, optimal, report ...), a link fit failed later with a message
about its input L, or, worse, made a "scaling-law" report of the link. Each is said here,
with the command that takes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bayescale.errors import BayescaleError

if TYPE_CHECKING:
    from bayescale.fitting import Fit

__all__ = ["is_link_fit", "read_fit"]

#: Fits of a comparison listed in a message, at most.
_LISTED = 6


def is_link_fit(fit: Fit) -> bool:
    """Whether a fit is a link from the loss to a metric (``bayescale.downstream.fit_link``).

    Parameters
    ----------
    fit : Fit
        A loaded fit.

    Returns
    -------
    bool
        True for a fit that records the metric it links to, as every link fit does
        (``info["metric"]``, since the link fits could first be saved). A law of one input
        named ``L`` alone (layers, a sequence length) is an ordinary fit.
    """
    return "metric" in fit.info


def _comparison_fits(folder: Path) -> str:
    names = sorted(p.name for p in (folder / "fits").glob("*.nc"))
    if not names:
        return f"'{folder / 'fits' / 'NAME.nc'}'"
    shown = ", ".join(f"'{folder / 'fits' / name}'" for name in names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def read_fit(path: str | Path, use: str = "loss", flag: str = "FIT.nc") -> Fit:
    """Load the fit of the loss a command works from (:func:`bayescale.fitting.load_fit`).

    Parameters
    ----------
    path : str or Path
        The file given.
    use : {"loss", "report", "link"}, default "loss"
        The command's use of it, for the remedy: ``report`` takes a link fit with
        ``--link``, ``link`` fits a new link onto a fit of the loss.
    flag : str, default "FIT.nc"
        The argument or option that names it.

    Returns
    -------
    Fit
        The fit.

    Raises
    ------
    BayescaleError
        If `path` is a folder (a comparison's: its fits are named), a link fit, or not a
        readable fit (load_fit's message).
    """
    from bayescale.fitting import load_fit

    where = Path(path)
    if where.is_dir():
        if (where / "loo.csv").is_file() or (where / "fits").is_dir():
            averaged = (
                ""
                if use == "report"
                else "; only 'bayescale forecast' takes the folder itself (its laws' averaged "
                "forecast)"
            )
            extra = (
                f"; to add the comparison to the report, give it with --compare {path}"
                if use == "report"
                else ""
            )
            raise BayescaleError(
                f"{flag} '{path}' is a folder written by 'bayescale compare', not a fit: give "
                f"one law's fit, e.g. {_comparison_fits(where)}{averaged}{extra}"
            )
        raise BayescaleError(
            f"{flag} '{path}' is a folder, not a fit file; give a .nc file saved by 'bayescale fit'"
        )
    fit = load_fit(path)
    if is_link_fit(fit):
        metric = fit.info.get("metric") or fit.runs.y_name
        if use == "report":
            remedy = (
                f"give it to the report of the loss fit with --link: 'bayescale report "
                f"LOSS_FIT.nc -o REPORT.html --link {path}'"
            )
        elif use == "link":
            remedy = (
                "give the loss law's fit (from 'bayescale fit') as FIT.nc: the link is "
                "fitted anew from DATA and chained with it"
            )
        else:
            remedy = (
                f"this command takes the loss law's fit (from 'bayescale fit'); forecast the "
                f"metric with 'bayescale link LOSS_FIT.nc DATA --metric {metric} --at ...', "
                f"or add the link to a report with 'bayescale report LOSS_FIT.nc --link {path}'"
            )
        raise BayescaleError(
            f"{flag} '{path}' is a link fit (loss → {metric}), not a fit of the loss: {remedy}"
        )
    return fit
