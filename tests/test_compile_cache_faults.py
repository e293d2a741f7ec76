"""A broken compile cache must not break fits.

Everything bayescale compiles for a model is cached by numba: the log-density graphs and our C
callbacks in PyTensor's folder (``<pytensor.config.base_compiledir>/numba``, where PyTensor's
cache locator puts every function registered with a cache key), digamma in numba's own
(``NUMBA_CACHE_DIR`` or ``__pycache__``). numba raises on an entry it cannot unpickle (it only
tolerates a missing file) and on a folder it cannot write to (PyTensor's locator does not check
that it is writable); either used to fail every later fit of the law.

The tests in this process keep the entries they damage in a temporary folder, by sending the
cache entries of a few functions there (the others stay where PyTensor keeps them, and are
not damaged). A read-only folder is simulated by making numba's writes into it fail, since the
tests may run as root, for whom permission bits do not block writes. One test runs fresh
processes on a whole cache of their own (``NUMBA_CACHE_DIR`` and PyTensor's ``base_compiledir``
are read at import); it is marked slow.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bayescale import _numba_cache

CALLBACKS = ("bayescale_logp", "bayescale_expand")
#: PyTensor's name for the function of a whole graph (log density and gradient; deterministics).
GRAPHS = ("numba_funcified_fgraph",)


@pytest.fixture(scope="module")
def model():
    """A small model, quick to compile (the test in new processes uses a law's)."""
    import pymc as pm

    with pm.Model() as model:
        data = pm.Data("data", np.array([[1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.2, 3.9]]))
        slope = pm.Normal("slope")
        sigma = pm.HalfNormal("sigma")
        pm.StudentT("y", nu=4.0, mu=slope * data[0], sigma=sigma, observed=data[1])
        pm.Deterministic("twice", 2.0 * slope)
    return model


@pytest.fixture(scope="module")
def reference(model):
    """The model compiled with the user's cache: what a damaged cache must still give."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _numba_cache.compile_model(model)


@contextlib.contextmanager
def _entries_in(folder: Path, names: tuple[str, ...]) -> Iterator[None]:
    """Keep the cache entries of the generated functions called ``names`` in ``folder``."""
    from pytensor.link.numba.cache import NumbaPyTensorCacheLocator

    original = NumbaPyTensorCacheLocator.get_cache_path

    def get_cache_path(self):  # type: ignore[no-untyped-def]
        return str(folder) if self._py_func.__name__ in names else original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(NumbaPyTensorCacheLocator, "get_cache_path", get_cache_path)
        yield


@pytest.fixture(scope="module")
def seeded(model, tmp_path_factory) -> Path:
    """A folder with the cache entries of the model's C callbacks and graphs."""
    folder = tmp_path_factory.mktemp("seeded")
    with _entries_in(folder, CALLBACKS + GRAPHS), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _numba_cache.compile_model(model)
    assert {p.suffix for p in folder.iterdir()} == {".nbi", ".nbc"}
    return folder


@pytest.fixture
def cache(seeded, tmp_path, monkeypatch) -> Path:
    """A copy of ``seeded`` to damage; warnings of this process are forgotten."""
    monkeypatch.setattr(_numba_cache, "_warned", set(), raising=False)
    return Path(shutil.copytree(seeded, tmp_path / "cache"))


def _read_only(monkeypatch, folder: Path) -> None:
    """Make numba's writes into ``folder`` fail as in a read-only folder (reads still work)."""
    from numba.core import caching

    original = caching.IndexDataCacheFile._open_for_write

    def open_for_write(self, filepath):  # type: ignore[no-untyped-def]
        if Path(filepath).parent == folder:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), f"{filepath}.tmp")
        return original(self, filepath)

    monkeypatch.setattr(caching.IndexDataCacheFile, "_open_for_write", open_for_write)


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":  # as by a full disk or a killed copy
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbled":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), np.uint8).tobytes())
    else:
        raise ValueError(how)


def _compile(model, folder: Path, names: tuple[str, ...]):
    """Compile with the entries of ``names`` in ``folder``; also the cache warnings issued."""
    with _entries_in(folder, names), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _numba_cache.compile_model(model)
    cache_warnings = [w for w in caught if issubclass(w.category, _numba_cache.CompileCacheWarning)]
    return compiled, [str(w.message) for w in cache_warnings]


def _pointer(array: np.ndarray) -> ctypes._Pointer:
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_double))


def _values(compiled, x: np.ndarray) -> tuple[int, float, list[float], int, list[float]]:
    """Log density, gradient and deterministics at ``x``, as nutpie's sampler calls them."""
    grad, logp, expanded = np.zeros(compiled.n_dim), np.zeros(()), np.zeros(compiled.n_expanded)
    user_data = ctypes.c_void_p(compiled.user_data.ctypes.data)
    code = compiled.compiled_logp_func.ctypes(
        compiled.n_dim, _pointer(x), _pointer(grad), _pointer(logp), user_data
    )
    expand_code = compiled.compiled_expand_func.ctypes(
        compiled.n_dim, compiled.n_expanded, _pointer(x), _pointer(expanded), user_data
    )
    return code, float(logp), grad.tolist(), expand_code, expanded.tolist()


def _assert_same_values(compiled, reference) -> None:
    rng = np.random.default_rng(3)
    for x in [np.zeros(reference.n_dim)] + [
        rng.normal(0.0, 1.0, reference.n_dim) for _ in range(4)
    ]:
        assert _values(compiled, x) == _values(reference, x)


@pytest.mark.parametrize(("suffix", "how"), [(".nbi", "truncated"), (".nbc", "garbled")])
def test_damaged_callback_entry_is_compiled_again(model, reference, cache, suffix, how) -> None:
    damaged = [p for p in cache.iterdir() if p.suffix == suffix and "bayescale_" in p.name]
    assert len(damaged) == 2  # one index (or data file) per callback
    for path in damaged:
        _damage(path, how)
    compiled, messages = _compile(model, cache, CALLBACKS + GRAPHS)
    _assert_same_values(compiled, reference)
    assert compiled.compiled_logp_func._cache_hits == 0
    [message] = messages  # both callbacks failed to load: one warning
    assert str(cache) in message and "delete" in message
    # The damaged entries were replaced: the next compile loads them, without a warning.
    compiled, messages = _compile(model, cache, CALLBACKS + GRAPHS)
    assert messages == []
    assert compiled.compiled_logp_func._cache_hits == 1
    assert compiled.compiled_expand_func._cache_hits == 1
    _assert_same_values(compiled, reference)


def test_damaged_graph_entry_is_compiled_again(model, reference, cache) -> None:
    # Without the callbacks' entries, numba compiles them, and loads the graphs they call.
    for path in cache.iterdir():
        if "bayescale_" in path.name:
            path.unlink()
        elif path.suffix == ".nbc":
            _damage(path, "garbled")
    compiled, messages = _compile(model, cache, CALLBACKS + GRAPHS)
    _assert_same_values(compiled, reference)
    [message] = messages
    assert str(cache) in message
    compiled, messages = _compile(model, cache, CALLBACKS + GRAPHS)
    assert messages == []
    assert compiled.compiled_logp_func._cache_hits == 1


def test_read_only_cache_folder_compiles_without_caching(
    model, reference, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(_numba_cache, "_warned", set(), raising=False)
    folder = tmp_path / "read-only"
    folder.mkdir()
    _read_only(monkeypatch, folder)
    compiled, messages = _compile(model, folder, CALLBACKS)
    _assert_same_values(compiled, reference)
    [message] = messages
    assert str(folder) in message and "writ" in message and "delete" in message
    assert list(folder.iterdir()) == []  # both callbacks failed to save: one warning


def test_read_only_cache_folder_with_entries_loads_them(
    model, reference, cache, monkeypatch
) -> None:
    # Already fine without bayescale's help: numba only writes on a miss.
    _read_only(monkeypatch, cache)
    compiled, messages = _compile(model, cache, CALLBACKS + GRAPHS)
    assert messages == []
    assert compiled.compiled_logp_func._cache_hits == 1
    _assert_same_values(compiled, reference)


# --- A whole cache of its own, damaged, in fresh processes ------------------------------------

PROCESS_SCRIPT = """
import ctypes
import warnings
warnings.simplefilter("ignore")
import numpy as np
from bayescale import _numba_cache
from bayescale.demo import demo_runs
from bayescale.laws import get_law
from bayescale.model import build_model

model = build_model(get_law("chinchilla"), demo_runs())
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    compiled = _numba_cache.compile_model(model)
for warning in caught:
    if warning.category.__module__ == _numba_cache.__name__:
        print("WARNING", str(warning.message).replace("\\n", " "))
print("HITS", compiled.compiled_logp_func._cache_hits, compiled.compiled_expand_func._cache_hits)
x, grad, logp = np.linspace(-1.0, 1.0, compiled.n_dim), np.zeros(compiled.n_dim), np.zeros(())
pointer = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
code = compiled.compiled_logp_func.ctypes(
    compiled.n_dim, pointer(x), pointer(grad), pointer(logp),
    ctypes.c_void_p(compiled.user_data.ctypes.data),
)
print("LOGP", code, repr(float(logp)), [repr(g) for g in grad])
"""


def _run(env: dict[str, str]) -> dict[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROCESS_SCRIPT],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines: dict[str, list[str]] = {"WARNING": [], "HITS": [], "LOGP": []}
    for line in out.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind in lines:
            lines[kind].append(rest)
    return lines


@pytest.mark.slow  # three new processes, the first compiling everything (about a minute)
def test_damaged_cache_in_a_new_process(tmp_path) -> None:
    pytensor_dir, numba_dir = tmp_path / "pytensor", tmp_path / "numba"
    env = {"PYTENSOR_FLAGS": f"base_compiledir={pytensor_dir}", "NUMBA_CACHE_DIR": str(numba_dir)}
    first = _run(env)
    assert first["WARNING"] == [] and first["HITS"] == ["0 0"]
    # Truncate every entry with digamma's code in it: in PyTensor's folder (our log-density
    # callback, its graph, the Elemwise and the Psi around digamma) and in numba's (digamma),
    # so the new process must load from both folders, and fails to. The rest is reused.
    graph_dir = pytensor_dir / "numba"
    data = [p for p in graph_dir.iterdir() if p.suffix == ".nbc" and b"digamma" in p.read_bytes()]
    (digamma_index,) = numba_dir.rglob("*digamma*.nbi")
    damaged = [
        *data,
        *(graph_dir / (p.name.rsplit(".", 2)[0] + ".nbi") for p in data),
        *digamma_index.parent.iterdir(),
    ]
    assert any("bayescale_logp" in p.name for p in damaged) and len(damaged) >= 8
    for path in damaged:
        _damage(path, "truncated")
    second = _run(env)
    assert second["LOGP"] == first["LOGP"]
    assert second["HITS"] == ["0 1"]  # the deterministics' callback was intact
    # One warning per folder, naming it.
    folders = [str(graph_dir), str(digamma_index.parent)]
    assert len(second["WARNING"]) == 2, second["WARNING"]
    assert sorted(next(f for f in folders if f in m) for m in second["WARNING"]) == sorted(folders)
    # The damaged entries were replaced: the next process loads them without a warning.
    third = _run(env)
    assert third["WARNING"] == [] and third["HITS"] == ["1 1"]
    assert third["LOGP"] == first["LOGP"]
