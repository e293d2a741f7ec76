"""The one place that builds the PyMC model of a law, and samples it with nutpie.

Sampler choice (measured on the 245 Epoch/Chinchilla points, 4 chains x 1000 draws, 2 cores;
numbers in the README's "Performance" section): nutpie with its low-rank modified mass matrix
needs about 10x fewer gradient evaluations than with a diagonal one and about 30x less wall time
than PyMC's own NUTS. Hierarchical models sample with a diagonal one (see
:func:`low_rank_mass_matrix`), their groups' means in a frame set at the mode
(:func:`_whitened`). Compiling the model with numba is the dominant cost of a small
fit, so a compiled model is kept per law and reused for new data (inputs, observations and reference
scales are ``pm.Data``), e.g. across the fits of a comparison or a test session; across
processes numba's caches keep the log density and the C callbacks nutpie calls (see
``_numba_cache``), so a new process loads machine code instead of compiling it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bayescale import _numba_cache
from bayescale.data import Runs
from bayescale.formula import Formula, pytensor_ops
from bayescale.laws import Law

# Whatever compiles a graph to numba in this process (the sampler's model, prior or
# predictive draws), PyTensor's generated sources go to a folder removed at its end.
_numba_cache.keep_sources_in_scratch()

if TYPE_CHECKING:
    from bayescale.hierarchy import Pooling

__all__ = [
    "Starts",
    "build_model",
    "compiled_model",
    "find_starts",
    "log_reference",
    "sample_posterior",
    "sample_prior",
    "sampled_at_reference",
]

_COMPILED: dict[str, Any] = {}


@contextlib.contextmanager
def _quiet():
    """Silence PyMC's informational logging and PyTensor's BLAS notice for one call.

    Laws are elementwise, so PyTensor's warning that it found no BLAS library is irrelevant
    here; the setting is computed lazily on first use, so it is resolved once under a filter.
    """
    import pytensor

    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
            warnings.simplefilter("ignore", FutureWarning)
            _ = pytensor.config.blas__ldflags
            yield
    finally:
        pymc_log.setLevel(level)


def log_reference(law: Law, runs: Runs) -> dict[str, float]:
    """Return the log reference scale of each input a parameter is stated or sampled at.

    Parameters
    ----------
    law : Law
        The law.
    runs : Runs
        The runs; the reference of an input is the mean of its log (geometric mean).

    Returns
    -------
    dict of str to float
        ``{input: mean(log(input))}`` for the inputs that reference-scale parameters and
        the amplitudes the sampler moves at a reference scale (:func:`sampled_at_reference`)
        use.
    """
    used = {p.reference[0] for p in law.parameters.values() if p.reference}
    used |= {inp for inp, _ in sampled_at_reference(law).values()}
    return {name: float(np.mean(np.log(runs.x(name)))) for name in sorted(used)}


def sampled_at_reference(law: Law) -> dict[str, tuple[str, str]]:
    """Return the amplitudes the sampler moves at a reference scale, keeping their prior.

    An amplitude ``A`` in a term ``A * X**-p`` is strongly correlated with ``p`` when ``X``
    is far from 1 (a change of ``p`` moves the term by ``X**-p``; ``A`` must follow). Laws
    of the catalog state such priors at the runs' reference scale (``at_reference``). A
    user's prior on ``A`` itself means what it says, so instead the sampler moves
    ``log A - p log X_ref`` (``A * X_ref**-p`` for an amplitude of either sign, e.g. ``a`` in
    ``exp(a * N**g + b)``) and the prior of ``A`` enters the density with the Jacobian of
    that change of variables: the posterior is the same, its geometry nearly Gaussian.

    Parameters
    ----------
    law : Law
        The law.

    Returns
    -------
    dict of str to (str, str)
        ``{amplitude: (input, power)}`` for the amplitudes found in the formula's structure
        whose prior is unbounded (on the positive or on all reals) with plain numbers as
        parameters and whose power uses only parameters without a reference scale.
    """
    from bayescale.priors import _BOUNDED_DISTS

    found = {}
    for name, (inp, power) in law.formula.structure(law.inputs).amplitudes.items():
        p = law.parameters.get(name)
        if p is None or p.reference is not None or inp not in law.inputs:
            continue
        prior = p.prior
        if prior.distribution in _BOUNDED_DISTS or not all(
            isinstance(v, int | float) for v in prior.parameters.values()
        ):
            continue
        uses = Formula(power).names
        if all(n in law.parameters and law.parameters[n].reference is None for n in uses):
            found[name] = (inp, power)
    return found


def _data_values(
    law: Law,
    runs: Runs,
    log_ref: Mapping[str, float],
    groups: Sequence[str] | None = None,
    pooling: Pooling | None = None,
) -> dict[str, np.ndarray]:
    # One matrix for everything per run (the inputs, then log y): its rows share one length
    # by construction, so the graph needs no broadcast checks between them. Those checks made
    # PyTensor's order of nodes, hence its numba cache key, change from process to process.
    # The family sees log y (multiplicative noise) or y itself (additive noise).
    per_run = [runs.x(name) for name in law.inputs] + [law.likelihood.transform(runs.y)]
    if groups is not None:
        # The group of each run, as a float row of the same matrix (cast back in the graph):
        # another shared variable would cost seconds of compiling.
        per_run.append(runs.group_index(groups).astype(float))
    values = {"per_run": np.vstack(per_run)}
    # Every shared variable costs seconds of compiling a law's first fit: one vector holds
    # the log reference scales (in the order of log_ref's keys, which are sorted).
    if log_ref:
        values["log_ref"] = np.array([log_ref[name] for name in sorted(log_ref)])
    if pooling is not None:
        from bayescale.hierarchy import FRAME, group_mean_block, identity_frame

        block = group_mean_block(law, pooling)
        if block:
            # New data, new frame: the sampler sets it after finding the mode.
            values[FRAME] = identity_frame(len(block))
    return values


def build_model(
    law: Law,
    runs: Runs,
    log_ref: Mapping[str, float] | None = None,
    *,
    reparameterise: bool = True,
    pooling: Pooling | None = None,
    groups: Sequence[str] | None = None,
):
    """Build the PyMC model of ``log y ~ family(log L(x; theta), sigma)``.

    With additive noise (``likelihood.scale == "linear"``) the family is on ``y`` itself:
    ``y ~ family(L(x; theta), sigma)``.

    Parameters
    ----------
    law : Law
        The law, with its priors and likelihood.
    runs : Runs
        Observed runs; every input of the law must be present.
    log_ref : mapping, optional
        Log reference scales (see :func:`log_reference`); computed from ``runs`` if omitted.
    reparameterise : bool, default True
        Let the sampler move amplitudes at a reference scale (:func:`sampled_at_reference`).
        The posterior is the same either way; False gives every parameter a prior variable
        of its own, which prior sampling needs; in a hierarchical model, False samples the
        pooled parameters non-centred (see :mod:`bayescale.hierarchy`).
    pooling : Pooling, optional
        With ``groups``: a hierarchical model (see :mod:`bayescale.hierarchy`), whose
        per-group parameters are vectors over the ``group`` coordinate, indexed by each
        run's group; pooled ones in the coordinates the pooling names (``p_loc``, ``p_tau``
        and ``p_z`` non-centred, or the group-mean block ``pooled_tau``, ``pooled_mean``,
        ``pooled_xi``, ``pooled_zeta`` over a ``pooled`` coordinate, with ``p_loc`` and
        ``p_tau`` as deterministics; ``pooled_mean`` is moved in a frame, the shared data
        ``pooled_frame``, as ``pooled_mean_whitened``).
    groups : sequence of str, optional
        The groups, in order; every run's group must be one of them.

    Returns
    -------
    pymc.Model
        Free variables are the law's parameters (``A_ref`` for a reference-scale ``A``, with
        ``A`` as a deterministic; ``A_log_at_ref`` for an amplitude sampled at a reference
        scale), ``sigma`` and, for Student-t, ``nu``; the observed variable is ``y`` (the
        log of the measured values, or the values with additive noise), over ``run``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    ops = pytensor_ops()
    log_ref = dict(log_reference(law, runs) if log_ref is None else log_ref)
    hierarchical = pooling is not None
    if hierarchical and groups is None:
        groups = runs.group_names
    # Prior draws need every variable drawable: the non-centred coordinates (the same
    # model) have no flat group mean.
    coordinates = None
    if hierarchical:
        coordinates = pooling if reparameterise else pooling.non_centred()
    values = _data_values(law, runs, log_ref, groups if hierarchical else None, coordinates)
    at_ref = sampled_at_reference(law) if reparameterise and not hierarchical else {}
    coords: dict[str, Any] = {"run": np.arange(len(runs))}
    if hierarchical:
        coords["group"] = list(groups)
    with pm.Model(coords=coords) as model:
        data = {name: pm.Data(name, value) for name, value in values.items()}
        per_run = data.pop("per_run")
        rows = [*law.inputs, "y_obs", *(["group_index"] if hierarchical else [])]
        data.update({name: per_run[i] for i, name in enumerate(rows)})
        if log_ref:
            log_refs = data.pop("log_ref")
            data.update({f"log_{n}_ref": log_refs[i] for i, n in enumerate(sorted(log_ref))})
        if hierarchical:
            params, log_params = _group_parameters(law, coordinates, data, log_ref)
            inputs = {name: data[name] for name in law.inputs}
            if law.likelihood.scale == "linear":
                mu = law.formula.evaluate({**params, **inputs}, ops)
            else:
                mu = law.log_mean(params, inputs, ops=ops, log_params=log_params)
            law.likelihood.observe("y", mu, observed=data["y_obs"], dims="run")
            return model
        params: dict[str, Any] = {}
        log_params: dict[str, Any] = {}
        # Parameters without a reference first: reference powers are formulas over them.
        ordered = sorted(
            law.parameters.values(), key=lambda p: p.reference is not None or p.name in at_ref
        )
        for p in ordered:
            if p.reference is not None:
                inp, power = p.reference
                value_at_ref = p.prior.create_variable(p.sampled_name)
                exponent = Formula(power).evaluate(params, ops)
                log_params[p.name] = pt.log(value_at_ref) + exponent * data[f"log_{inp}_ref"]
            elif p.name in at_ref:
                inp, power = at_ref[p.name]
                shift = Formula(power).evaluate(params, ops) * data[f"log_{inp}_ref"]
                dist = p.prior.pymc_distribution.dist(**p.prior.parameters)
                if p.positive:
                    moved = pm.Flat(f"{p.name}_log_at_ref")
                    log_params[p.name] = moved + shift
                    # The user's prior on A, and log|dA/d moved| = log A: (moved, p) ->
                    # (log A, p) is a shear with unit determinant.
                    value = pt.exp(log_params[p.name])
                    pm.Potential(f"{p.name}_prior", pm.logp(dist, value) + log_params[p.name])
                else:
                    moved = pm.Flat(f"{p.name}_at_ref")
                    # A = moved * X_ref**p: log|dA/d moved| = p log X_ref.
                    params[p.name] = pm.Deterministic(p.name, moved * pt.exp(shift))
                    pm.Potential(f"{p.name}_prior", pm.logp(dist, params[p.name]) + shift)
                    continue
            else:
                params[p.name] = p.prior.create_variable(p.name)
                continue
            params[p.name] = pm.Deterministic(p.name, pt.exp(log_params[p.name]))
        inputs = {name: data[name] for name in law.inputs}
        if law.likelihood.scale == "linear":
            mu = law.formula.evaluate({**params, **inputs}, ops)
        else:
            mu = law.log_mean(params, inputs, ops=ops, log_params=log_params)
        law.likelihood.observe("y", mu, observed=data["y_obs"], dims="run")
    return model


def _group_parameters(
    law: Law, pooling: Pooling, data: Mapping[str, Any], log_ref: Mapping[str, float]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-run parameter values of a hierarchical model, recording per-group deterministics."""
    import pymc as pm
    import pytensor.tensor as pt

    from bayescale.hierarchy import FRAME, create_free_variables, group_values

    free = create_free_variables(law, pooling, data.get(FRAME))
    refs = {inp: data[f"log_{inp}_ref"] for inp in log_ref}
    values, logs, at_ref = group_values(law, pooling, free, refs, pytensor_ops())
    varying = pooling.varying(law)
    for name, value in values.items():
        if name in varying:
            if name not in free:  # a separate parameter is its own (free) variable
                pm.Deterministic(name, value, dims="group")
            ref_name = f"{name}_ref"
            if name in at_ref and ref_name not in free:
                pm.Deterministic(ref_name, at_ref[name], dims="group")
        elif name not in free:
            pm.Deterministic(name, value)
    index = pt.cast(data["group_index"], "int64")
    per_run = {n: (v[index] if n in varying else v) for n, v in values.items()}
    log_per_run = {n: (v[index] if n in varying else v) for n, v in logs.items()}
    return per_run, log_per_run


def compiled_model(
    law: Law,
    runs: Runs,
    log_ref: Mapping[str, float],
    pooling: Pooling | None = None,
    groups: Sequence[str] | None = None,
) -> Any:
    """Return the law's compiled model (nutpie, numba) with the data of ``runs``.

    Compiled once per law and process (see the module's notes); later calls swap the data.

    Parameters
    ----------
    law, runs, log_ref, pooling, groups
        As in :func:`build_model`.

    Returns
    -------
    nutpie compiled model
        Ready for :func:`sample_posterior` and :func:`find_starts`.
    """
    if pooling is not None and groups is None:
        groups = runs.group_names
    # Everything compiled into the graph, and nothing else (not the prose), makes the key.
    spec = law.to_dict()
    key = json.dumps(
        {
            "formula": spec["formula"],
            "inputs": list(spec["inputs"]),
            "parameters": {
                name: [entry["prior"], entry.get("at_reference")]
                for name, entry in spec["parameters"].items()
            },
            "likelihood": [
                spec["likelihood"]["family"],
                spec["likelihood"]["sigma"],
                spec["likelihood"].get("nu"),
                spec["likelihood"].get("scale", "log"),
            ],
            "sampled_at_reference": sampled_at_reference(law),
            # The group structure shapes the graph: kinds, spreads and the number of groups.
            "pooling": None if pooling is None else [pooling.to_dict(), len(groups)],
        },
        sort_keys=True,
    )
    compiled = _COMPILED.get(key)
    if compiled is None:
        with _quiet():
            compiled = _numba_cache.compile_model(
                build_model(law, runs, log_ref, pooling=pooling, groups=groups)
            )
        _COMPILED[key] = compiled
        return compiled
    hierarchical = groups if pooling is not None else None
    return compiled.with_data(**_data_values(law, runs, log_ref, hierarchical, pooling))


@dataclass(frozen=True)
class Starts:
    """Where the chains start: distinct optima of the posterior density, best first.

    Attributes
    ----------
    points : list of numpy.ndarray
        One point per chain, on the sampler's unconstrained space.
    log_density : list of float
        The log posterior density (up to a constant) at each chain's point.
    optima : int
        Distinct optima found by the multi-start optimisation (1 for a unimodal posterior).
    tries : int
        Optimisations run.
    """

    points: list[np.ndarray]
    log_density: list[float]
    optima: int
    tries: int

    def describe(self) -> str:
        """One line for the fit's sampler log."""
        gap = max(self.log_density) - min(self.log_density)
        where = (
            "at the posterior mode"
            if self.optima == 1
            else f"at {self.optima} distinct optima (log density within {gap:.1f})"
        )
        return f"chains started {where}, found by {self.tries} L-BFGS optimisations"


#: Optima whose log density is this far below the best hold a negligible share of the mass
#: (e^-10) unless far wider; chains do not start there.
START_GAP = 10.0


def _log_density(compiled: Any):
    # nutpie's with_data updates the C callbacks' data only: the Python function keeps the
    # data it was compiled with, and every copy of a compiled model shares it (the frame of
    # _whitened is one such copy). Each closure gives it its own data whenever another has
    # set different data since.
    function = compiled.logp_func
    mine = [
        (shared, np.array(compiled.shared_data[shared.name]))
        for shared in function.get_shared()
        if shared.name in compiled.shared_data
    ]

    def load() -> None:
        if getattr(function, "_bayescale_data", None) is not mine:
            for shared, value in mine:
                shared.set_value(value)
            function._bayescale_data = mine

    load()

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        load()
        logp, grad = function(x)
        logp = float(logp)
        if not np.isfinite(logp) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(x)
        return -logp, -np.asarray(grad, dtype=float)

    return negative


#: A valley deeper than this (in log density) between two optima makes them separate modes.
BARRIER = 1.0


def _separated(
    negative: Any, value: float, x: np.ndarray, other_value: float, other: np.ndarray
) -> bool:
    # Two optima are separate modes if the log density dips between them; optimisers that
    # stop at different points of one flat ridge (a Student-t's nu, say) find one mode.
    if np.max(np.abs(x - other)) <= 0.05:
        return False
    along = [negative(x + t * (other - x))[0] for t in np.linspace(0.1, 0.9, 9)]
    return max(along) > max(value, other_value) + BARRIER


def find_starts(compiled: Any, chains: int, seed: int, tries: int | None = None) -> Starts:
    """Optimise the posterior density from many points and pick where each chain starts.

    Chains that start in the tails spend their warm-up finding the bulk, and with laws whose
    parameters trade off (a floor against an amplitude, a break against a slope) they may
    not find it in time. L-BFGS from prior-like points (PyMC's jittered initial points,
    half of them jittered further) finds the posterior's optima in well under a second.
    Each chain starts at a different optimum within :data:`START_GAP` of the best, if there
    are several separated by a valley (:data:`BARRIER`), so that R-hat still sees modes;
    otherwise all start at the best.

    Parameters
    ----------
    compiled : nutpie compiled model
        The model (see :func:`sample_posterior`).
    chains : int
        Chains to place.
    seed : int
        Seed of the starting points.
    tries : int, optional
        Optimisations; default ``max(8, 2 * chains)``.

    Returns
    -------
    Starts
        One point per chain.
    """
    from threadpoolctl import threadpool_limits

    # The density's gradient multiplies tiny matrices thousands of times; OpenBLAS's worker
    # threads would wake and spin for each one. On a busy machine (a sweep's workers, other
    # jobs) that tripled a fit's CPU time (bench/sweep.md).
    with threadpool_limits(limits=1, user_api="blas"):
        return _find_starts(compiled, chains, seed, tries)


def _find_starts(compiled: Any, chains: int, seed: int, tries: int | None) -> Starts:
    from scipy.optimize import minimize

    negative = _log_density(compiled)
    tries = tries or max(8, 2 * chains)
    rng = np.random.default_rng(seed)
    found: list[tuple[float, np.ndarray]] = []
    for i in range(tries):
        x0 = np.asarray(compiled.initial_point_func(int(rng.integers(2**31))), dtype=float)
        if i >= tries // 2:
            x0 = x0 + rng.normal(0.0, 1.0, x0.shape)
        if not np.isfinite(negative(x0)[0]):
            continue
        with np.errstate(all="ignore"):
            result = minimize(negative, x0, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
        if np.isfinite(result.fun):
            found.append((float(result.fun), np.asarray(result.x, dtype=float)))
    if not found:
        # Nothing finite to optimise from: nutpie's own initialisation (and its error).
        zero = np.zeros(compiled.n_dim)
        return Starts([zero] * chains, [float("nan")] * chains, 0, tries)
    found.sort(key=lambda item: item[0])
    best = found[0][0]
    distinct: list[tuple[float, np.ndarray]] = []
    for value, x in found:
        if value - best > START_GAP:
            break
        if all(_separated(negative, value, x, v, other) for v, other in distinct):
            distinct.append((value, x))
    picks = [distinct[i % len(distinct)] for i in range(chains)]
    return Starts([x for _, x in picks], [-v for v, _ in picks], len(distinct), tries)


def _no_finite_start(law: Law, tries: int) -> Exception:
    """The error for a posterior density that is finite nowhere the sampler looked.

    nutpie says "All initialization points failed ... ErrorCode(3)" with a Rust backtrace;
    the usual cause is a law whose value is not positive at the runs.
    """
    from bayescale.errors import LawError

    positive = law.likelihood.scale != "linear"
    why = (
        "the law's value is most likely <= 0 (or not finite) at the runs for parameters "
        "near their priors' centres, where a loss with multiplicative noise must stay "
        "positive"
        if positive
        else "the law's value is most likely not finite at the runs for parameters near "
        "their priors' centres"
    )
    return LawError(
        f"law {law.name!r} ({law.formula.text}): the posterior density is not finite at any "
        f"starting point ({tries} optimisations from the priors, then the sampler's own "
        f"tries): {why}; check the formula's signs and the priors"
        + (
            ", or fit a metric that can be <= 0 with an additive likelihood (scale='linear'; "
            'in a law file, scale = "linear" under [likelihood])'
            if positive
            else ""
        )
    )


def _starting_at(compiled: Any, point: np.ndarray) -> Any:
    # nutpie's PyMC models start where their initial-point function says (PyMC's, jittered
    # by up to 1 around the prior's centre); its init_mean argument is not used for them.
    # Jitter of that size throws a law like exp(a * N**g) far off (N**1 ~ 1e9): chains start
    # at the optimum itself, and their own seeds set them apart.
    start = np.array(point, dtype=np.float64)

    def initial_point(seed: Any) -> np.ndarray:
        return start.copy()

    return dataclasses.replace(compiled, initial_point_func=initial_point)


#: Step of the central differences of the gradient that give the curvature of the groups'
#: means at the mode: below a thousandth of the smallest posterior spread seen (0.01 on a log
#: floor) and far above the rounding of gradients summed over runs.
CURVATURE_STEP = 1e-5


def _whitened(compiled: Any, points: Sequence[np.ndarray]) -> tuple[Any, list[np.ndarray]]:
    """Set the group-mean block's frame from the curvature at the mode; move the starts to it.

    The frame (see :mod:`bayescale.hierarchy`) is the mode ``o`` of the groups' means and the
    Cholesky factor ``L`` of their covariance given the other variables, the inverse of the
    Hessian of the negative log density in the means. In ``w`` the runs' pinned directions
    are then of unit scale and uncorrelated, for a diagonal mass matrix to adapt to.
    Measured on the hierarchical Chinchilla fit of 104 runs in 3 groups (2 chains x 1000
    draws, seeds 1-3): 102-106 gradients a draw against 133-142 in the means themselves,
    the smallest bulk ESS as before. A model without a block, or whose curvature at the mode
    is not positive definite (the means are not pinned there), is returned as it is.

    Parameters
    ----------
    compiled : nutpie compiled model
        The model, in the frame ``points`` are in.
    points : sequence of numpy.ndarray
        Starting points on its unconstrained space; the first is the mode.

    Returns
    -------
    tuple
        The model with its new frame, and the points in it.
    """
    from bayescale.hierarchy import FRAME, WHITENED

    points = [np.asarray(x, dtype=float) for x in points]
    if FRAME not in compiled.shared_data:
        return compiled, points
    names, slices, _ = compiled.shape_info
    block = slices[names.index(WHITENED)]
    index = np.arange(block.start, block.stop)
    frame = np.asarray(compiled.shared_data[FRAME], dtype=float)
    offset, basis = frame[:, 0], frame[:, 1:]
    negative = _log_density(compiled)
    mode = points[0]
    hessian = np.empty((len(index), len(index)))
    for column, i in enumerate(index):
        step = np.zeros_like(mode)
        step[i] = CURVATURE_STEP
        forward, backward = negative(mode + step)[1], negative(mode - step)[1]
        hessian[:, column] = (forward[index] - backward[index]) / (2 * CURVATURE_STEP)
    # In the means m = o + L w: H_m = L^-T H_w L^-1, so cov_m = L H_w^-1 L^T.
    hessian = (hessian + hessian.T) / 2
    try:
        np.linalg.cholesky(hessian)  # positive definite: a mode in the means
    except np.linalg.LinAlgError:
        return compiled, points
    new_basis = np.linalg.cholesky(basis @ np.linalg.inv(hessian) @ basis.T)
    if not np.all(np.isfinite(new_basis)):
        return compiled, points
    means = [offset + basis @ x[index] for x in points]
    new_offset = means[0]
    moved = []
    for x, m in zip(points, means, strict=True):
        x = x.copy()
        x[index] = np.linalg.solve(new_basis, m - new_offset)
        moved.append(x)
    framed = compiled.with_data(**{FRAME: np.hstack([new_offset[:, None], new_basis])})
    return framed, moved


def _stop(samplers: Sequence[Any]) -> None:
    """Cancel every sampler, even through further Ctrl-C presses.

    People press Ctrl-C twice. A second ``KeyboardInterrupt`` raised while the first is
    handled would skip the samplers not yet cancelled, and their threads would keep
    sampling after the fit has raised, using the cores until garbage-collected. In the
    main thread further presses are ignored until every sampler is cancelled; elsewhere
    (no handler can be set there) a cancel that was interrupted is tried again.
    """
    import signal
    import threading

    held = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: None) if held else None
    try:
        for sampler in samplers:
            while True:
                try:
                    sampler.cancel()
                except KeyboardInterrupt:
                    continue
                except Exception:
                    pass  # already finished or cancelled: nothing to stop
                break
    finally:
        if held:
            # None: the handler was not set from Python; Python's own is the closest.
            signal.signal(
                signal.SIGINT, signal.default_int_handler if previous is None else previous
            )


def low_rank_mass_matrix(pooling: Pooling | None) -> bool:
    """Whether nutpie adapts a low-rank modified mass matrix (else a diagonal one).

    Low-rank for a single law: its parameters trade off along fixed directions (a floor
    against an amplitude), which a linear map follows, for ~10x fewer gradients a draw.
    Diagonal for a hierarchical model: there the directions the runs pin turn with the
    population spreads, no linear map follows them, and the low-rank adaptation only adds
    its cost. Measured on the hierarchical Chinchilla fit of 104 runs in 3 groups (4 chains
    x 1000 draws, seeds 1-3): the same wall time (diagonal 17.7-19.6 s, low-rank 17.6-21.1
    s), but the diagonal gave twice the smallest bulk ESS (1154-1410 against 513-790, the
    bar being 400), so the first attempt passes more often. Low-rank spends ~390
    gradients a tuning step in its first 300 steps against ~150 for the diagonal. With
    the groups' means in their frame (:func:`_whitened`), the one linear map that helps, the
    diagonal still wins: 95-102 gradients a draw against 80-91, but 5.9-7.4 s against
    7.5-8.9 s (2 chains x 1000 draws, seeds 1-3).

    Parameters
    ----------
    pooling : Pooling or None
        The fit's pooling (None for a single law).

    Returns
    -------
    bool
        ``low_rank_modified_mass_matrix`` for nutpie.
    """
    return pooling is None


def sample_posterior(
    law: Law,
    runs: Runs,
    log_ref: Mapping[str, float],
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    target_accept: float = 0.95,
    maxdepth: int = 10,
    starts: Starts | None = None,
    progress: bool = False,
    pooling: Pooling | None = None,
    groups: Sequence[str] | None = None,
):
    """Sample the posterior with nutpie (mass matrix: :func:`low_rank_mass_matrix`).

    Each chain is its own nutpie sampler, so that chains can start at different optima
    (a compiled model has one starting point); they run at once, on the cores.

    Parameters
    ----------
    law, runs, log_ref
        As in :func:`build_model`.
    draws, tune, chains : int
        Draws kept and tuning steps per chain, number of chains.
    seed : int
        Seed of the sampler; the same seed and data give the same draws.
    target_accept : float, default 0.95
        Step-size adaptation target; raise it (0.95, 0.99) if a fit reports divergences.
    maxdepth : int, default 10
        Largest tree depth (at most ``2**maxdepth`` gradients per draw).
    starts : Starts, optional
        Where each chain starts (see :func:`find_starts`); default: found here.
    progress : bool, default False
        Show nutpie's progress bar.
    pooling, groups : optional
        A hierarchical model (see :func:`build_model`).

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior`` and ``sample_stats``.

    Raises
    ------
    KeyboardInterrupt
        If sampling is interrupted (Ctrl-C). The samplers are stopped and their partial
        draws discarded: nutpie would return them, padded with NaN, as if complete.
    """
    import arviz as az
    import nutpie

    from bayescale.hierarchy import WHITENED

    compiled = compiled_model(law, runs, log_ref, pooling, groups)
    if starts is None:
        starts = find_starts(compiled, chains, seed)
    compiled, points = _whitened(compiled, starts.points)
    seeds = np.random.SeedSequence(seed).generate_state(chains)
    samplers = []
    with _quiet():
        try:
            for chain in range(chains):
                samplers.append(
                    nutpie.sample(
                        _starting_at(compiled, points[chain]),
                        draws=draws,
                        tune=tune,
                        chains=1,
                        cores=1,
                        seed=int(seeds[chain]),
                        target_accept=target_accept,
                        maxdepth=maxdepth,
                        low_rank_modified_mass_matrix=low_rank_mass_matrix(pooling),
                        save_warmup=False,
                        progress_bar=progress and chain == 0,
                        blocking=False,
                    )
                )
            traces = [sampler.wait() for sampler in samplers]
        except RuntimeError as err:
            _stop(samplers)
            if "initialization points failed" not in str(err):
                raise
            raise _no_finite_start(law, starts.tries) from None
        except BaseException:
            _stop(samplers)
            raise
    if pooling is not None:
        # A compiled model reused for other data keeps the group labels it was built with.
        names = list(runs.group_names if groups is None else groups)
        for trace in traces:
            if "group" in trace.posterior.dims:
                trace.posterior = trace.posterior.assign_coords(group=names)
            # Coordinates of this fit's frame only, which is not kept: pooled_mean is.
            if WHITENED in trace.posterior:
                trace.posterior = trace.posterior.drop_vars(WHITENED)
    if chains == 1:
        return traces[0]
    # Each trace numbers its one chain 0; concat numbers them 0..chains-1.
    return az.concat(*traces, dim="chain", reset_dim=True)


def sample_prior(
    law: Law,
    runs: Runs,
    log_ref: Mapping[str, float],
    draws: int,
    seed: int,
    pooling: Pooling | None = None,
    groups: Sequence[str] | None = None,
):
    """Draw from the prior of every parameter (for prior-vs-posterior plots and checks).

    Parameters
    ----------
    law, runs, log_ref, pooling, groups
        As in :func:`build_model`.
    draws : int
        Number of prior draws.
    seed : int
        Random seed.

    Returns
    -------
    xarray.Dataset
        One variable per parameter (reference-scale ones both ways) and the noise
        parameters, over ``(chain, draw)`` with one chain.
    """
    import pymc as pm

    model = build_model(law, runs, log_ref, reparameterise=False, pooling=pooling, groups=groups)
    names = [v.name for v in model.free_RVs] + [v.name for v in model.deterministics]
    with _quiet():
        prior = pm.sample_prior_predictive(
            draws=draws, model=model, var_names=names, random_seed=seed
        )
    return prior.prior
