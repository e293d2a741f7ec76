"""Let the numba caches keep our compiled models across processes.

Two pieces of a compiled model were compiled again by numba in every new process:

- The log density. PyTensor caches the numba code of a graph on disk only if every operation
  in it has a cache key. The Student-t likelihood's gradient with respect to ``nu`` needs the
  digamma function, which PyTensor's numba backend takes from ``scipy.special.cython_special``
  through a function pointer; such code cannot be cached. :func:`register` supplies a digamma
  written in numba, with its own cache key.
- nutpie's C callbacks around it (log density and gradient; the deterministics). nutpie builds
  them as closures over the data arrays, which numba refuses to cache, and their error
  handling (``out[...] = grad`` formats a shape-mismatch message) alone took seconds of
  compiling. :func:`compile_model` has nutpie compile callbacks of ours instead: the same C
  signature, return codes and data layout, generated as source without captured arrays and
  registered under a key derived from PyTensor's key of the inner graph, so numba caches them.

Measured in ``bench/results.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numba
import numpy as np

#: Part of the cache key: change it whenever :func:`digamma` changes.
DIGAMMA_VERSION = "bayescale-digamma-1"
#: Part of the C callbacks' cache key: change it whenever their templates change.
CALLBACK_VERSION = "bayescale-callbacks-1"

_registered = False
_patch_lock = threading.Lock()

# nutpie's C callbacks, as its own (same signatures and return codes: -1 wrong dimension,
# 1 or -2 an error, 3 a non-finite gradient, 4 a non-finite log density), minus the closure
# over the data arrays: the data are read through the user-data record nutpie passes in.
_LOGP_TEMPLATE = """
def bayescale_logp(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
        x = carray(x_, ({n_dim},))
        out = carray(out_, ({n_dim},))
        logp = carray(logp_, ())
        shared = carray(user_data_, (), record_dtype)["shared"]
{extract}
        logp_val, grad = inner(x{args})
        if grad.shape[0] != {n_dim}:
            return 1
        logp[()] = logp_val
        for i in range({n_dim}):
            out[i] = grad[i]
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""

_EXPAND_TEMPLATE = """
def bayescale_expand(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        x = carray(x_, ({n_dim},))
        out = carray(out_, ({n_expanded},))
        shared = carray(user_data_, (), record_dtype)["shared"]
{extract}
        (values,) = inner(x{args})
        if values.shape[0] != {n_expanded}:
            return -2
        for i in range({n_expanded}):
            out[i] = values[i]
    except Exception:
        return -2
    return 0
"""


@numba.njit(cache=True)
def digamma(x: float) -> float:  # pragma: no cover - compiled; checked against SciPy in tests
    """Digamma function psi(x) = d/dx log Gamma(x) for a float64.

    Parameters
    ----------
    x : float
        Argument. As SciPy: -inf at +0 (+inf at -0), NaN at the poles -1, -2, ... and NaN.

    Returns
    -------
    float
        psi(x), to about 1e-15 relative error: negative arguments by reflection, then the
        recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series to
        x^-14 (the first omitted term is below 5e-17 there).
    """
    if math.isnan(x):
        return math.nan
    if x == 0.0:
        return -math.copysign(math.inf, x)
    if x < 0.0 and x == math.floor(x):
        return math.nan
    result = 0.0
    if x < 0.0:
        result = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (
        -1.0 / 12.0
        + f
        * (
            1.0 / 120.0
            + f
            * (
                -1.0 / 252.0
                + f * (1.0 / 240.0 + f * (-1.0 / 132.0 + f * (691.0 / 32760.0 - f / 12.0)))
            )
        )
    )
    return result + math.log(x) - 0.5 / x + series


def register() -> None:
    """Register :func:`digamma` as the numba implementation of PyTensor's ``Psi``, once.

    Idempotent; called before bayescale compiles a model. It changes how PyTensor compiles
    ``Psi`` to numba in this process (our digamma instead of SciPy's through a pointer), which
    only makes the code cacheable; values agree with SciPy to rounding.
    """
    global _registered
    if _registered:
        return
    from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_and_cache_key
    from pytensor.link.numba.dispatch.scalar import scalar_op_cache_key
    from pytensor.scalar.math import Psi

    @register_funcify_and_cache_key(Psi)
    def _numba_psi(op, node, **kwargs):  # type: ignore[no-untyped-def]
        def psi(x):  # type: ignore[no-untyped-def]
            return digamma(x)

        return numba_njit(psi), scalar_op_cache_key(op, implementation=DIGAMMA_VERSION)

    _registered = True


def _cacheable_callback(
    template: str,
    inner: Any,
    user_data: np.ndarray,
    shared_names: Sequence[str],
    shared_data: Mapping[str, np.ndarray],
    **sizes: int,
) -> Callable[..., int] | None:
    """Return a C callback's Python source function, registered for PyTensor's numba cache.

    ``None`` if the inner compiled graph has no cache key (it could not be cached anyway).
    """
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    inner_key = CACHED_SRC_FUNCTIONS.get(getattr(inner, "py_func", None))
    if inner_key is None:
        return None
    env: dict[str, Any] = {
        "__name__": __name__,  # numba rebuilds a cached function's environment from its module
        "np": np,
        "carray": numba.carray,
        "as_pointer": address_as_void_pointer,
        "record_dtype": user_data.dtype,
        "inner": inner,
    }
    lines = []
    for i, name in enumerate(shared_names):
        value = shared_data[name]
        env[f"dtype_{i}"] = value.dtype
        lines.append(
            f"        flat_{i} = carray(as_pointer(shared['data'][{name!r}][()]), "
            f"int(shared['size'][{name!r}][()]), dtype_{i})"
        )
        if value.ndim == 0:
            lines.append(f"        shared_{i} = flat_{i}.reshape(())")
        else:
            dims = ", ".join(f"int(shape_{i}[{k}])" for k in range(value.ndim))
            lines.append(f"        shape_{i} = shared['shape'][{name!r}]")
            lines.append(f"        shared_{i} = flat_{i}.reshape(({dims},))")
    src = template.format(
        extract="\n".join(lines),
        args="".join(f", shared_{i}" for i in range(len(shared_names))),
        **sizes,
    )
    # Everything the machine code depends on: the inner graph (PyTensor's key), our source,
    # and the layouts of the user data and of the arrays in it.
    key = hashlib.sha256(
        json.dumps(
            [
                CALLBACK_VERSION,
                inner_key,
                src,
                str(user_data.dtype.descr),
                [str(shared_data[name].dtype) for name in shared_names],
            ]
        ).encode()
    ).hexdigest()
    name = src.split("def ", 1)[1].split("(", 1)[0]
    return compile_numba_function_src(src, name, global_env=env, cache_key=f"bayescale_{key}")


def compile_model(model: Any) -> Any:
    """Compile a PyMC model for nutpie with C callbacks that numba caches across processes.

    Parameters
    ----------
    model : pymc.Model
        The model.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        As :func:`nutpie.compile_pymc_model` (numba backend) returns it; only the two C
        callbacks are ours. Where a graph has no cache key, nutpie's own callbacks are used.
    """
    import nutpie
    from nutpie import compile_pymc

    register()
    make_logp, make_expand = compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func

    # nutpie's factories only build Python closures (numba compiles later, in nutpie's
    # numba.cfunc call): they are called for the C signature and the fallback.
    def cached_logp(n_dim, logp_fn, user_data, shared_names, shared_data):  # type: ignore[no-untyped-def]
        func, signature = make_logp(n_dim, logp_fn, user_data, shared_names, shared_data)
        ours = _cacheable_callback(
            _LOGP_TEMPLATE, logp_fn, user_data, shared_names, shared_data, n_dim=n_dim
        )
        return (func if ours is None else ours), signature

    def cached_expand(n_dim, n_expanded, expand_fn, user_data, shared_names, shared_data):  # type: ignore[no-untyped-def]
        func, signature = make_expand(
            n_dim, n_expanded, expand_fn, user_data, shared_names, shared_data
        )
        ours = _cacheable_callback(
            _EXPAND_TEMPLATE,
            expand_fn,
            user_data,
            shared_names,
            shared_data,
            n_dim=n_dim,
            n_expanded=n_expanded,
        )
        return (func if ours is None else ours), signature

    # nutpie has no hook for its callbacks: swap its two factories for the call only.
    with _patch_lock:
        compile_pymc._make_c_logp_func = cached_logp
        compile_pymc._make_c_expand_func = cached_expand
        try:
            return nutpie.compile_pymc_model(model, cache=True)
        finally:
            compile_pymc._make_c_logp_func = make_logp
            compile_pymc._make_c_expand_func = make_expand
