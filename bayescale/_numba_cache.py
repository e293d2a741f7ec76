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

PyTensor also writes the Python source of each graph it compiles to numba into a file of the
system's temporary folder, and never deletes it: about 18 files per new process, which piled
up by the thousand under ``/tmp`` for a user who fits from the command line or in a sweep.
:func:`keep_sources_in_scratch` sends them to a folder of the process's own, removed when the
process ends (they are only read while it runs: for tracebacks; numba's cache is keyed by
PyTensor's hash, not by the file).

Both rely on private functions of nutpie and PyTensor. Where those are not as expected (checked
before use) or our callbacks fail to build, :func:`compile_model` falls back to nutpie's own
callbacks and warns (:class:`InternalsChangedWarning`): fits are the same, only slower to
compile in a new process. And numba's cache may be damaged or read-only; while compiling, an
entry that cannot be loaded is compiled again and rewritten, a failed save skipped, with a
warning naming the folder (:class:`CompileCacheWarning`).

Measured in ``bench/results.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import multiprocessing.util
import os
import shutil
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numba
import numpy as np

#: Part of the cache key: change it whenever :func:`digamma` changes.
DIGAMMA_VERSION = "bayescale-digamma-1"
#: Part of the C callbacks' cache key: change it whenever their templates change.
CALLBACK_VERSION = "bayescale-callbacks-1"

_registered = False
_patch_lock = threading.Lock()

#: The parameters of nutpie's private callback factories that :func:`compile_model` wraps.
_FACTORY_PARAMETERS = {
    "_make_c_logp_func": ["n_dim", "logp_fn", "user_data", "shared_logp", "shared_data"],
    "_make_c_expand_func": [
        "n_dim",
        "n_expanded",
        "expand_fn",
        "user_data",
        "shared_vars",
        "shared_data",
    ],
}

#: How the packages are written in messages (keys: their distribution names).
_NAMES = {"pytensor": "PyTensor"}

# What this process has warned about already (each warning is given once per process).
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


class InternalsChangedWarning(UserWarning):
    """nutpie's or PyTensor's private functions are not as bayescale expects.

    bayescale then compiles models with nutpie's own C callbacks: fits give the same results,
    but numba cannot cache those callbacks, so each new process compiles them again.
    """


class CompileCacheWarning(UserWarning):
    """numba's compile cache could not be read or written; the model was compiled anyway."""


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


def _warn_once(key: tuple[str, str], message: str, category: type[Warning]) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, category, stacklevel=2)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "(unknown version)"


def _describe(exc: BaseException) -> str:
    """The exception in one short line (numba's typing errors run over dozens of lines)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _warn_internals(package: str, detail: str, consequence: str | None = None) -> None:
    name = f"{_NAMES.get(package, package)} {_version(package)}"
    consequence = consequence or "compile in every new process (slower first fit)"
    _warn_once(
        ("internals", ""),
        f"{name} changed its internals ({detail}); fits still work but {consequence}.",
        InternalsChangedWarning,
    )


def _internals_problem() -> tuple[str, str] | None:
    """What is missing or different among the private functions our callbacks use, if any.

    A cheap check before swapping anything: the names exist, and nutpie's factories take the
    parameters we pass on to them. Returns the package and the difference, or None.
    """
    try:
        from nutpie import compile_pymc
    except ImportError as exc:
        return "nutpie", _describe(exc)
    for name, expected in _FACTORY_PARAMETERS.items():
        factory = getattr(compile_pymc, name, None)
        if not callable(factory):
            return "nutpie", f"nutpie.compile_pymc.{name} is missing"
        try:
            parameters = list(inspect.signature(factory).parameters)
        except (TypeError, ValueError):
            parameters = None
        if parameters != expected:
            return "nutpie", (
                f"nutpie.compile_pymc.{name} takes ({', '.join(parameters or ['?'])}) "
                f"instead of ({', '.join(expected)})"
            )
    if not hasattr(compile_pymc, "address_as_void_pointer"):
        return "nutpie", "nutpie.compile_pymc.address_as_void_pointer is missing"
    try:
        from pytensor.link.numba import cache
    except ImportError as exc:
        return "pytensor", _describe(exc)
    if not isinstance(getattr(cache, "CACHED_SRC_FUNCTIONS", None), Mapping):
        return "pytensor", "pytensor.link.numba.cache.CACHED_SRC_FUNCTIONS is missing"
    compile_src = getattr(cache, "compile_numba_function_src", None)
    try:
        takes_key = "cache_key" in inspect.signature(compile_src).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        takes_key = False
    if not takes_key:
        return "pytensor", "pytensor.link.numba.cache.compile_numba_function_src changed"
    return None


@contextlib.contextmanager
def _tolerant_numba_cache() -> Iterator[None]:
    """While in the context, numba's cache failures cost a compile, not the fit.

    numba tolerates a missing cache file only: it raises on an entry it cannot unpickle (a
    truncated or garbled ``.nbi`` index or ``.nbc`` data file), and PyTensor's cache locator,
    unlike numba's own, does not check that its folder is writable, so a read-only folder
    raised on the first save. Either made every compile of the model fail until the files
    were deleted by hand. Here an entry that cannot be loaded is a miss: the code is compiled
    again and the entry rewritten from an empty index (the index may be what is damaged), so
    the next process loads it; a failed save is skipped. Each warns once per folder.
    """
    try:
        from numba.core.caching import Cache

        load, save = Cache.load_overload, Cache.save_overload
    except (ImportError, AttributeError):  # numba changed: compile as numba does
        yield
        return
    unreadable: weakref.WeakSet[Any] = weakref.WeakSet()

    def load_overload(self, sig, target_context):  # type: ignore[no-untyped-def]
        try:
            return load(self, sig, target_context)
        except Exception as exc:
            folder = getattr(self, "cache_path", "numba's cache folder")
            unreadable.add(self)
            _warn_once(
                ("cache-read", str(folder)),
                f"numba's compile cache in {folder} has an entry that could not be read "
                f"({_describe(exc)}); bayescale compiles that code again and replaces the "
                f"entry, and the fit goes on. If this warning comes back, delete the folder "
                f"{folder}: it only holds compiled code, which is rebuilt when needed.",
                CompileCacheWarning,
            )
            return None

    def save_overload(self, sig, data):  # type: ignore[no-untyped-def]
        try:
            if self in unreadable:
                unreadable.discard(self)
                self.flush()  # an empty index: the damaged one cannot be read to be updated
            save(self, sig, data)
        except Exception as exc:
            folder = getattr(self, "cache_path", "numba's cache folder")
            _warn_once(
                ("cache-write", str(folder)),
                f"could not write numba's compile cache in {folder} ({_describe(exc)}): is "
                f"the folder read-only, or the disk full? Fits still work but compile in "
                f"every new process (slower first fit). Make the folder writable, or delete "
                f"it: it only holds compiled code, which is rebuilt when needed.",
                CompileCacheWarning,
            )

    # Class-wide, as numba has no hook per compile; callers hold _patch_lock, and in another
    # thread the only difference is the same tolerance.
    Cache.load_overload, Cache.save_overload = load_overload, save_overload
    try:
        yield
    finally:
        Cache.load_overload, Cache.save_overload = load, save


# The folder this process's generated sources go to: (the process id that made it, its path).
_scratch: tuple[int, str] | None = None


def _scratch_folder() -> str:
    """This process's folder for PyTensor's generated sources, made on first use.

    A forked child makes its own (its parent removes the parent's when the parent ends), and a
    folder deleted while the process runs is made again.
    """
    global _scratch
    pid = os.getpid()
    if _scratch is None or _scratch[0] != pid or not os.path.isdir(_scratch[1]):
        folder = tempfile.mkdtemp(prefix="bayescale-sources-")
        _scratch = (pid, folder)
        # multiprocessing's finalizers run at the interpreter's exit and at the end of a
        # multiprocessing child, forked ones included (which skip atexit).
        multiprocessing.util.Finalize(None, _remove_scratch, args=(pid, folder), exitpriority=0)
    return _scratch[1]


def _remove_scratch(pid: int, folder: str) -> None:
    # A child forked outside multiprocessing inherits the finalizer: only the maker removes.
    if os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)


def _named_temporary_file(*args: Any, **kwargs: Any) -> Any:
    """:func:`tempfile.NamedTemporaryFile`, in this process's scratch folder by default."""
    if kwargs.get("dir") is None:
        kwargs["dir"] = _scratch_folder()
    return tempfile.NamedTemporaryFile(*args, **kwargs)


def keep_sources_in_scratch() -> None:
    """Write PyTensor's generated numba sources to a folder removed when the process ends.

    Idempotent. Where PyTensor no longer writes them with :func:`tempfile.NamedTemporaryFile`
    (its internals changed), nothing is swapped and the files stay where PyTensor puts them.
    """
    import importlib

    for name in ("pytensor.link.utils", "pytensor.link.numba.cache"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, "NamedTemporaryFile", None) is tempfile.NamedTemporaryFile:
            module.NamedTemporaryFile = _named_temporary_file


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
        callbacks are ours. Where a graph has no cache key, nutpie's own callbacks are used;
        so they are, with an :class:`InternalsChangedWarning` (once per process), where
        nutpie's private functions are not as expected or our callbacks fail to build.

    Warns
    -----
    InternalsChangedWarning
        nutpie or PyTensor changed the private functions this module relies on.
    CompileCacheWarning
        numba's cache could not be read (a damaged entry: compiled again and rewritten) or
        written (a read-only folder: not cached); once per folder and process.
    """
    import nutpie

    with _patch_lock, _tolerant_numba_cache():
        keep_sources_in_scratch()
        try:
            register()
        except Exception as exc:  # PyTensor's dispatch API changed: SciPy's digamma is kept
            _warn_internals(
                "pytensor",
                f"registering a cacheable digamma failed: {_describe(exc)}",
                "models with a Student-t likelihood compile in every new process (slower "
                "first fit)",
            )
        problem = _internals_problem()
        if problem is None:
            compiled, problem = _compile_with_our_callbacks(model)
            if compiled is not None:
                if problem is not None:
                    _warn_internals(*problem)
                return compiled
        # nutpie's own callbacks: the fallback keeps every fit working, only uncached.
        compiled = nutpie.compile_pymc_model(model)
        _warn_internals(*problem)
        return compiled


def _compile_with_our_callbacks(model: Any) -> tuple[Any, tuple[str, str] | None]:
    """Compile with our callbacks swapped into nutpie: the model, or None, and any problem.

    The model is None where the compile raised (and nutpie's own callbacks must be used); the
    problem is set where nutpie did not use our factories (the model is then nutpie's own).
    """
    import nutpie
    from nutpie import compile_pymc

    make_logp, make_expand = compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func
    called: set[str] = set()

    # nutpie's factories only build Python closures (numba compiles later, in nutpie's
    # numba.cfunc call): they are called for the C signature and the fallback.
    def cached_logp(n_dim, logp_fn, user_data, shared_names, shared_data):  # type: ignore[no-untyped-def]
        called.add("_make_c_logp_func")
        func, signature = make_logp(n_dim, logp_fn, user_data, shared_names, shared_data)
        ours = _cacheable_callback(
            _LOGP_TEMPLATE, logp_fn, user_data, shared_names, shared_data, n_dim=n_dim
        )
        return (func if ours is None else ours), signature

    def cached_expand(n_dim, n_expanded, expand_fn, user_data, shared_names, shared_data):  # type: ignore[no-untyped-def]
        called.add("_make_c_expand_func")
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
    compile_pymc._make_c_logp_func = cached_logp
    compile_pymc._make_c_expand_func = cached_expand
    try:
        compiled = nutpie.compile_pymc_model(model, cache=True)
    except Exception as exc:
        # Most likely nutpie changed what our callbacks depend on (its user data, its C
        # signatures); if the model itself is at fault, nutpie's own compile raises it again.
        return None, ("nutpie", f"bayescale's callbacks failed to build: {_describe(exc)}")
    finally:
        compile_pymc._make_c_logp_func = make_logp
        compile_pymc._make_c_expand_func = make_expand
    unused = sorted(set(_FACTORY_PARAMETERS) - called)
    if unused:
        return compiled, ("nutpie", f"nutpie.compile_pymc no longer calls {', '.join(unused)}")
    return compiled, None
