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
    from bayescale.comparison import Average
    from bayescale.fitting import Fit

__all__ = [
    "average_title",
    "is_folder",
    "is_link_fit",
    "read_average",
    "read_fit",
    "weight_shares",
    "weights_option",
]

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
        if (where / "average.json").is_file():
            raise BayescaleError(
                f"{flag} '{path}' is a folder of averaged laws (Average.save), not a fit: give "
                f"one law's fit, e.g. {_comparison_fits(where)}; only 'bayescale forecast', "
                f"'optimal' and 'target' take the folder itself"
            )
        if (where / "loo.csv").is_file() or (where / "fits").is_dir():
            averaged = (
                ""
                if use == "report"
                else "; only 'bayescale forecast', 'optimal' and 'target' take the folder "
                "itself (its laws averaged)"
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


def is_folder(path: str | Path) -> bool:
    """Whether the FIT argument is a folder: a comparison's or an average's, which
    :func:`read_average` reads (and names what else it is).

    Parameters
    ----------
    path : str or Path
        The FIT argument given.

    Returns
    -------
    bool
        True for a folder.
    """
    return Path(path).is_dir()


def weights_option(text: str | None) -> str | dict[str, float]:
    """Parse ``--weights``: a method's name, or ``NAME=WEIGHT,...``.

    Parameters
    ----------
    text : str or None
        The option's value.

    Returns
    -------
    str or dict of str to float
        ``"auto"`` when not given, a method's name, or the weights by law.

    Raises
    ------
    typer.BadParameter
        For an unknown method, a negative weight or weights that are all 0.
    """
    import typer

    from bayescale.comparison import WEIGHT_METHODS

    from ._options import parse_points

    if text is None:
        return "auto"
    if "=" not in text:
        if text not in WEIGHT_METHODS:
            raise typer.BadParameter(
                f"{text!r} is not a weighting; use one of {', '.join(WEIGHT_METHODS)}, or your "
                f"own weights, e.g. --weights chinchilla=0.7,kaplan=0.3",
                param_hint="'--weights'",
            )
        return text
    given = parse_points([text], "--weights")
    out = {name: values[0] for name, values in given.items()}
    negative = [name for name, value in out.items() if not value >= 0]
    if negative:
        raise typer.BadParameter(
            f"the weight of {negative[0]} is {out[negative[0]]:g}; weights are >= 0, e.g. "
            f"--weights chinchilla=0.7,kaplan=0.3",
            param_hint="'--weights'",
        )
    if not sum(out.values()) > 0:
        raise typer.BadParameter(
            f"{text!r} gives every law a weight of 0: give at least one a weight > 0, e.g. "
            f"--weights chinchilla=0.7,kaplan=0.3",
            param_hint="'--weights'",
        )
    return out


def read_average(folder: str | Path, chosen: str | dict[str, float] = "auto") -> Average:
    """The averaged laws of a folder: a saved comparison's, or a saved average.

    Parameters
    ----------
    folder : str or Path
        The comparison's folder.
    chosen : str or dict of str to float, default "auto"
        The weights (:func:`weights_option`).

    Returns
    -------
    Average
        The averaged laws: a saved average (``Average.save``, its ``average.json``) as
        saved, or reweighted by NAME=W weights; a comparison's laws by ``chosen``.

    Raises
    ------
    typer.BadParameter
        For a weight given to a name that is not one of the laws, or a weighting method
        for a saved average (which keeps no scores to weigh by).
    BayescaleError
        If the folder is not a readable comparison (:meth:`Comparison.load`'s message).
    """
    import typer

    from bayescale.comparison import AVERAGE_FILE, Average, Comparison, average

    if (Path(folder) / AVERAGE_FILE).is_file():
        saved = Average.load(folder)
        if chosen == "auto":
            return saved
        if not isinstance(chosen, dict):
            raise typer.BadParameter(
                f"'{folder}' is a saved average, without the comparison's scores that "
                f"--weights {chosen} needs: leave --weights out (its own weights), or give "
                f"NAME=W weights",
                param_hint="'--weights'",
            )
        _check_weight_names(chosen, list(saved.fits), folder, "saved average")
        return average(saved.fits, chosen, seed=saved.seed)
    comparison = Comparison.load(folder)
    if isinstance(chosen, dict):
        _check_weight_names(chosen, list(comparison.fits), folder, "comparison")
    return comparison.average(chosen)


def _check_weight_names(
    chosen: dict[str, float], laws: list[str], folder: str | Path, what: str
) -> None:
    """Refuse a weight given to a name that is not one of the laws (with a did-you-mean)."""
    import typer

    unknown = [name for name in chosen if name not in laws]
    if unknown:
        from bayescale.errors import closest

        match = closest(unknown[0], laws)
        hint = f"; did you mean {match}?" if match is not None else ""
        raise typer.BadParameter(
            f"{', '.join(unknown)} is not a law of the {what} in '{folder}' (its "
            f"laws: {', '.join(laws)}){hint}",
            param_hint="'--weights'",
        )


def average_title(average: Average, folder: str | Path) -> str:
    """How a table names an average: its folder and the laws' weights (those >= 0.5%).

    Parameters
    ----------
    average : Average
        The averaged laws.
    folder : str or Path
        Its comparison's folder.

    Returns
    -------
    str
        E.g. ``"cmp: chinchilla 0.70, kaplan 0.30"``.
    """
    return f"{folder}: {weight_shares(average)}"


def weight_shares(average: Average) -> str:
    """The laws' weights as a table title shows them: ``"chinchilla 0.70, kaplan 0.30"``.

    Parameters
    ----------
    average : Average
        The averaged laws.

    Returns
    -------
    str
        Each law with at least half a percent of the weight (the others barely move the
        average) and its weight.
    """
    from bayescale.comparison import _shares

    return _shares(average.weights, at_least=0.005)
