"""Due-diligence plots: each answers one question a reviewer asks of a fit.

Residuals against scale (does the law's form miss a trend?), the posterior predictive check
(does the model reproduce the runs?), trace and rank plots (did the chains mix?), prior
against posterior (did the data teach anything?) and the joint posterior (which parameters
trade off?).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from bayescale.checks import posterior_predictive
from bayescale.fitting import Fit
from bayescale.forecast import level_label
from bayescale.plots._common import axes_grid, finish, input_label, one_law, quiet_arviz

__all__ = ["plot_pair", "plot_ppc", "plot_prior_posterior", "plot_rank", "plot_residuals"]

_FAILED = "  [DIAGNOSTICS FAILED]"


def plot_residuals(fit: Fit, *, level: float = 0.9, axes: Any = None) -> np.ndarray:
    """Relative residuals of the runs against each input, with the predictive band.

    A residual is ``observed / posterior median law - 1``; the grey bar of each run is its
    predictive interval on the same scale (what run-to-run noise and the law's uncertainty
    allow). A trend against an input means the law's form misses something at that scale.

    Parameters
    ----------
    fit : Fit
        The fit.
    level : float, default 0.9
        Level of the predictive intervals.
    axes : array of matplotlib.axes.Axes, optional
        One per input of the law (at most three); default a new figure.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One panel per input of the law (at most three).

    Notes
    -----
    For a fit with groups, each run is measured against its own group's law, and the runs
    are coloured by group.
    """
    names = list(fit.law.inputs)[:3]
    at = fit.runs.table[list(fit.law.inputs)]
    labels = None if fit.pooling is None else np.asarray(fit.runs.group, dtype=str)
    if labels is not None:
        at = at.assign(group=labels)  # each run routed to its group's law
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a failed fit is flagged elsewhere
        table = fit.forecast(at, level=level)
    tag = level_label(level)
    median = table["law_median"].to_numpy()
    resid = 100 * (fit.runs.y / median - 1)
    low = 100 * (table[f"pred_lower_{tag}"].to_numpy() / median - 1)
    high = 100 * (table[f"pred_upper_{tag}"].to_numpy() / median - 1)
    inside = float(np.mean((resid >= low) & (resid <= high)))
    size = (4.2 * len(names) + 1, 3.8)
    axes, owned = axes_grid(axes, (1, len(names)), size, "the residual plot", sharey=True)
    flat = np.ravel(axes)
    for ax, name in zip(flat, names, strict=False):
        x = fit.runs.x(name)
        ax.vlines(x, low, high, color="0.75", lw=2, label=f"{100 * level:.0f}% predictive interval")
        if labels is None:
            ax.scatter(x, resid, s=14, color="C0", edgecolor="k", lw=0.3, zorder=3, label="runs")
        for i, g in enumerate(fit.groups if labels is not None else []):
            rows = labels == g
            ax.scatter(
                x[rows],
                resid[rows],
                s=14,
                color=f"C{i % 10}",
                edgecolor="k",
                lw=0.3,
                zorder=3,
                label=f"runs of {g}",
            )
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(input_label(fit, name))
        ax.grid(True, which="major", alpha=0.25)
    flat[0].set_ylabel("observed / median law - 1 (%)")
    flat[0].legend(fontsize=7, loc="best")
    finish(
        flat[0].figure,
        owned,
        f"{fit.law.name}: residuals vs scale ({inside:.0%} of runs inside their "
        f"{100 * level:.0f}% predictive interval)",
    )
    return axes


def plot_ppc(
    fit: Fit, *, num_pp_samples: int = 100, seed: int | None = None, axes: Any = None
) -> np.ndarray:
    """Posterior predictive check: observed losses against replicated data sets.

    Left: densities of the log losses of replicated data sets (ArviZ's ``plot_ppc``) against
    the observed one. Right: each run's observed loss against the 5-95% range of its
    replications, sorted, showing where the model under- or over-predicts. The replications
    are :func:`bayescale.checks.posterior_predictive`'s, compared on the noise's scale (log
    loss for multiplicative noise). A replicated value that is not finite there (a
    heavy-tailed draw whose ``exp`` underflowed to 0 or overflowed) is left out of both
    panels, and the density panel's title says how many were.

    Parameters
    ----------
    fit : Fit
        The fit.
    num_pp_samples : int, default 100
        Replicated data sets drawn in the density panel.
    seed : int, optional
        Seed of the replications; default the fit's seed.
    axes : array of 2 matplotlib.axes.Axes, optional
        Where to draw (density, per run); default a new figure.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        The two panels.

    Notes
    -----
    For a fit with groups, every run is replicated from its own group's law, and the
    per-run panel's title gives each group's share of runs outside their range.
    """
    import arviz as az

    lik = fit.law.likelihood
    on_log = lik.scale == "log"
    replicated = posterior_predictive(fit, seed).posterior_predictive["loss"].values
    # Work on the noise's scale (log y for multiplicative noise). A heavy-tailed noise draw
    # (Student-t with small nu) can underflow exp() to 0 or overflow it to inf: such a value
    # is left out (NaN) and counted, rather than failing the check of a valid fit.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = np.log(replicated) if on_log else np.asarray(replicated, dtype=float)
    finite = np.isfinite(z)
    left_out = int(z.size - finite.sum())
    z = np.where(finite, z, np.nan)
    measured = lik.transform(fit.runs.y)  # the fitted runs: valid on the noise's scale
    logged = az.from_dict(
        posterior_predictive={"log_loss": z},
        observed_data={"log_loss": measured},
        dims={"log_loss": ["run"]},
    )
    axes, owned = axes_grid(axes, (1, 2), (11, 4), "the posterior predictive check")
    left, right = np.ravel(axes)[:2]
    with quiet_arviz():
        # ArviZ's densities skip non-finite values, so the left-out draws are simply absent.
        az.plot_ppc(
            logged,
            num_pp_samples=min(num_pp_samples, fit.diagnostics.chains * fit.diagnostics.draws),
            random_seed=fit.seed,
            ax=left,
            legend=True,
            textsize=9,
        )
    shown = f"log {fit.runs.y_name}" if on_log else fit.runs.y_name
    left.set_xlabel(shown)
    title = f"density of {shown}: replicated vs observed"
    if left_out:
        title += (
            f"\n({left_out} of {z.size} replicated values left out: "
            f"{'exp() under- or overflowed' if on_log else 'not finite'})"
        )
    left.set_title(title, fontsize=9)
    draws = z.reshape(-1, len(fit.runs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a run whose draws are all left out
        low, mid, high = np.nanquantile(draws, [0.05, 0.5, 0.95], axis=0)
    order = np.argsort(mid)
    rank = np.arange(len(order))
    # Relative to the median replication for multiplicative noise (in %, from differences of
    # logs); in units of y for additive noise, whose median may be 0.
    observed = measured[order] - mid[order]
    ratio_low, ratio_high = low[order] - mid[order], high[order] - mid[order]
    if on_log:
        scale, shift, label = 100.0, 1.0, "observed / median replication - 1 (%)"
        ratio_low, ratio_high, observed = np.exp(ratio_low), np.exp(ratio_high), np.exp(observed)
    else:
        scale, shift, label = 1.0, 0.0, f"observed - median replication ({fit.runs.y_name})"
    right.fill_between(
        rank,
        scale * (ratio_low - shift),
        scale * (ratio_high - shift),
        color="C0",
        alpha=0.25,
        lw=0,
        label="5-95% of replications",
    )
    outside = (observed < ratio_low) | (observed > ratio_high)
    right.scatter(
        rank,
        scale * (observed - shift),
        s=10,
        c=np.where(outside, "crimson", "k"),
        zorder=3,
        label=f"observed ({outside.mean():.0%} outside)",
    )
    right.axhline(0, color="k", lw=0.6)
    right.set_xlabel("runs, sorted by predicted loss")
    right.set_ylabel(label)
    title = "each run against its replications"
    if fit.pooling is not None:
        labels = np.asarray(fit.runs.group, dtype=str)[order]
        shares = ", ".join(f"{g} {outside[labels == g].mean():.0%}" for g in fit.groups)
        title += f"\n(outside, by group: {shares})"
    right.set_title(title, fontsize=9)
    right.legend(fontsize=7)
    finish(left.figure, owned, f"{fit.law.name}: posterior predictive check")
    return axes


def plot_rank(fit: Fit, *, axes: Any = None) -> np.ndarray:
    """Trace and rank plots of every parameter (ArviZ's ``plot_trace``, rank kind).

    Left: the marginal posterior of each chain; right: the ranks of each chain's draws among
    all draws. Well-mixed chains have flat, overlapping rank histograms. A fit with groups
    has a row per variable its diagnostics check (:attr:`bayescale.Fit.diagnostic_names`):
    each group's parameters (``alpha[c4]``), then each population's centre and spread
    (``alpha_loc``, ``alpha_tau``), where hierarchical samplers mix worst.

    Parameters
    ----------
    fit : Fit
        The fit.
    axes : array of matplotlib.axes.Axes, optional
        Shape (parameters, 2), as ArviZ's ``plot_trace`` takes; default a new figure.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One row per parameter.
    """
    import arviz as az

    data = fit.idata
    names = fit.parameter_names
    if fit.pooling is not None:
        from bayescale.hierarchy import scalar_view

        # One scalar variable per group (alpha[c4] ...), as the diagnostics see them: ArviZ
        # would otherwise stack every group's chains into one panel.
        names = fit.diagnostic_names
        base = [*fit.law.parameters, *fit.pooling.population_names()]
        base += fit.law.likelihood.noise_names
        groups = {"posterior": scalar_view(fit.idata.posterior, base)}
        if "sample_stats" in fit.idata.groups():  # divergences, marked on the ranks
            groups["sample_stats"] = fit.idata.sample_stats
        data = az.InferenceData(**groups)
    shape = (len(names), 2)
    axes, owned = axes_grid(axes, shape, (10, 1.55 * len(names) + 0.6), "the rank plot")
    # ArviZ stops at plot.max_subplots panels (40 by default), silently leaving the rest blank.
    with quiet_arviz(), az.rc_context({"plot.max_subplots": 2 * len(names)}):
        az.plot_trace(
            data,
            var_names=names,
            kind="rank_vlines",
            axes=np.reshape(axes, shape),
            compact=False,
            legend=False,
        )
    for ax in np.ravel(axes):
        ax.xaxis.label.set_fontsize(8)
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=8)
    title = f"{fit.law.name}: posterior per chain (left) and rank plots (right)"
    finish(np.ravel(axes)[0].figure, owned, title + ("" if fit.ok else _FAILED))
    return axes


def _density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A Gaussian KDE scaled to peak 1 (shapes compared, not heights)."""
    from scipy import stats

    values = values[np.isfinite(values)]
    if len(values) < 2 or np.std(values) == 0:
        return np.zeros_like(grid)
    density = stats.gaussian_kde(values)(grid)
    peak = density.max()
    return density / peak if peak > 0 else density


def _prior_posterior_panel(
    ax: Any, fit: Fit, name: str, post: np.ndarray, before: np.ndarray | None, published: bool
) -> None:
    """Prior and posterior densities of one parameter, on a log axis if both are positive."""
    log = bool(np.all(post > 0)) and (before is None or bool(np.all(before > 0)))
    transform = np.log10 if log else (lambda v: v)
    t_post = transform(post)
    span = [np.quantile(t_post, 0.001), np.quantile(t_post, 0.999)]
    if before is not None:
        t_prior = transform(before)
        span = [min(span[0], np.quantile(t_prior, 0.01)), max(span[1], np.quantile(t_prior, 0.99))]
    width = span[1] - span[0] or 1.0
    grid = np.linspace(span[0] - 0.05 * width, span[1] + 0.05 * width, 400)
    x = 10**grid if log else grid
    if before is not None:
        ax.fill_between(x, _density(t_prior, grid), color="0.6", alpha=0.45, lw=0, label="prior")
    ax.fill_between(x, _density(t_post, grid), color="C0", alpha=0.6, lw=0, label="posterior")
    if published:
        styles = ["--", "-.", ":"]
        for style, (source, values) in zip(styles, fit.law.published.items(), strict=False):
            if name in values:
                ax.axvline(values[name], color="crimson", ls=style, lw=1.2, label=source)
    if log:
        ax.set_xscale("log")
    ax.set_yticks([])
    ax.set_title(name, fontsize=9)
    ax.tick_params(labelsize=7)


def plot_prior_posterior(fit: Fit, *, published: bool = True, axes: Any = None) -> np.ndarray:
    """Prior against posterior of every parameter, with published values where they exist.

    Each panel overlays the prior density (grey, from ``idata.prior``) and the posterior
    density (blue), each scaled to peak 1, on a log axis for positive parameters. A posterior
    much narrower than its prior was learnt from the data; one that looks like the prior was
    not.

    Parameters
    ----------
    fit : Fit
        The fit; without prior draws (``prior_draws=0``) only posteriors are drawn.
    published : bool, default True
        Mark the law's published values (e.g. Hoffmann 2022, Besiroglu 2024).
    axes : array of matplotlib.axes.Axes, optional
        At least one per parameter; default a new figure, four panels a row.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One panel per parameter (a new figure's spare panels are hidden).

    Raises
    ------
    DataError
        If the fit has groups (one group's law at a time: ``fit.group(name)``).
    """
    one_law(fit, "plot_prior_posterior")
    names = fit.parameter_names
    columns = min(4, len(names))
    rows = int(np.ceil(len(names) / columns))
    shape = (rows, columns)
    if axes is not None:  # the caller's axes need only one panel per parameter
        shape = (1, len(names))
    axes, owned = axes_grid(axes, shape, (3.2 * columns, 2.5 * rows), "the prior-posterior plot")
    prior = fit.idata.prior if "prior" in fit.idata.groups() else None
    posterior = fit.draws()
    flat = np.ravel(axes)
    for ax, name in zip(flat, names, strict=False):
        before = None
        if prior is not None and name in prior:
            before = np.asarray(prior[name].values, dtype=float).reshape(-1)
        _prior_posterior_panel(ax, fit, name, posterior[name], before, published)
    handles: dict[str, Any] = {}
    for ax in flat[: len(names)]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if not owned:
        flat[0].legend(list(handles.values()), list(handles), fontsize=7)
        return axes
    for ax in flat[len(names) :]:
        ax.axis("off")
    fig = flat[0].figure
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="lower center",
        ncol=len(handles),
        fontsize=8,
        frameon=False,
    )
    note = "" if prior is not None else " (no prior draws in this fit)"
    title = f"{fit.law.name}: prior vs posterior, densities scaled to peak 1{note}"
    finish(fig, owned, title, rect=(0, 0.06, 1, 1))
    return axes


def plot_pair(fit: Fit, *, axes: Any = None) -> np.ndarray:
    """Joint posterior of the exponents and the floor (ArviZ's ``plot_pair``).

    Correlations here show which combinations the data pin down and which they trade off
    (a lower floor with steeper exponents fits the same runs): the source of most
    extrapolation uncertainty.

    Parameters
    ----------
    fit : Fit
        The fit.
    axes : array of matplotlib.axes.Axes, optional
        A square grid, one row and column per parameter shown, as ArviZ's ``plot_pair``
        takes with marginals; default a new figure.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        The grid (its upper triangle is removed from the figure).

    Raises
    ------
    DataError
        If the fit has groups (one group's law at a time: ``fit.group(name)``).
    """
    import arviz as az

    one_law(fit, "plot_pair")
    names = [*fit.law.exponents, *([fit.law.floor] if fit.law.floor else [])]
    if len(names) < 2:
        names = list(fit.law.parameters)[:4]
    if len(names) < 2:
        names = [*names, "sigma"]
    size = 2.0 * len(names) + 1
    shape = (len(names), len(names))
    axes, owned = axes_grid(axes, shape, (size, size), "the pair plot", sharex="col")
    with quiet_arviz():
        az.plot_pair(
            fit.idata,
            var_names=names,
            kind="scatter",
            marginals=True,
            divergences=True,
            ax=np.reshape(axes, shape),
            scatter_kwargs={"alpha": 0.35, "s": 5},
            textsize=10,
        )
    title = f"{fit.law.name}: joint posterior of {', '.join(names)}"
    finish(np.ravel(axes)[0].figure, owned, title)
    return axes
