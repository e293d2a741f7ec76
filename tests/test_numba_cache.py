"""The numba caches keep bayescale's compiled models across processes.

For the log density, two properties make that so, and each has broken it before: every
operation of the graph has a cache key (SciPy's digamma, used by the Student-t gradient, has
none: we supply one), and the graph's key is the same in every process (the order of its nodes
must not depend on object ids, which broadcasting checks between separate data vectors made it
do). nutpie's C callbacks around it are replaced by cacheable ones of ours, which must behave
exactly as nutpie's own. Where nutpie's private functions are not as expected, or ours fail to
build, nutpie's own are used, with one warning per process.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import warnings

import numba
import numpy as np
import pytest
from scipy import special

from bayescale import _numba_cache
from bayescale._numba_cache import digamma
from bayescale.demo import demo_runs
from bayescale.laws import get_law
from bayescale.model import _data_values, build_model, log_reference

KEY_SCRIPT = """
import warnings
warnings.simplefilter("ignore")
from nutpie import compile_pymc
from pytensor.graph.fg import FunctionGraph
from pytensor.link.numba.dispatch import basic
from bayescale import _numba_cache
from bayescale.demo import demo_runs
from bayescale.laws import get_law
from bayescale.model import build_model

_numba_cache.register()
keys = []
original = basic.numba_funcify_and_cache_key
def recording(op, *args, **kwargs):
    func, key = original(op, *args, **kwargs)
    if isinstance(op, FunctionGraph):
        keys.append(key)
    return func, key
basic.numba_funcify_and_cache_key = recording

model = build_model(get_law("chinchilla"), demo_runs())
# The graphs nutpie compiles (log density and gradient; deterministics), as nutpie builds them.
compile_pymc._make_functions(
    model,
    mode="NUMBA",
    compute_grad=True,
    join_expanded=True,
    pymc_initial_point_fn=lambda seed: {},
)
print("KEYS", keys)
"""


def test_digamma_matches_scipy() -> None:
    positive = np.concatenate([np.geomspace(1e-8, 1e8, 2000), [0.5, 1.0, 1.4616321, 9.99, 10.0]])
    got = np.array([digamma(x) for x in positive])
    ref = special.digamma(positive)
    np.testing.assert_array_less(np.abs(got - ref), 1e-14 * np.maximum(np.abs(ref), 1.0))
    negative = -np.geomspace(1e-6, 50.0, 1000) + 1e-3 * np.pi  # away from the poles
    got = np.array([digamma(x) for x in negative])
    np.testing.assert_allclose(got, special.digamma(negative), rtol=1e-11)


@pytest.mark.parametrize("x", [0.0, -0.0, -1.0, -7.0, np.nan, np.inf])
def test_digamma_special_values_as_scipy(x: float) -> None:
    np.testing.assert_equal(digamma(x), special.digamma(x))


def test_log_density_has_the_same_cache_key_in_every_process() -> None:
    keys = []
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", KEY_SCRIPT],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        keys.append(next(line for line in out.stdout.splitlines() if line.startswith("KEYS")))
    assert "None" not in keys[0], f"a graph has no numba cache key: {keys[0]}"
    assert keys[0] == keys[1]


# --- nutpie's C callbacks: ours must behave as nutpie's own and load from the cache ---------

CALLBACK_SCRIPT = """
import warnings
warnings.simplefilter("ignore")
from bayescale import _numba_cache
from bayescale.demo import demo_runs
from bayescale.laws import get_law
from bayescale.model import build_model

compiled = _numba_cache.compile_model(build_model(get_law("chinchilla"), demo_runs()))
for func in (compiled.compiled_logp_func, compiled.compiled_expand_func):
    print("CALLBACK", func._pyfunc.__name__, func._cache_hits)
"""


def _pointer(array: np.ndarray) -> ctypes._Pointer:
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_double))


def _logp(compiled, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    """Call a compiled model's log-density callback as nutpie's sampler does."""
    grad, logp = np.zeros(compiled.n_dim), np.zeros(())
    user_data = ctypes.c_void_p(compiled.user_data.ctypes.data)
    func = compiled.compiled_logp_func.ctypes
    code = func(compiled.n_dim, _pointer(x), _pointer(grad), _pointer(logp), user_data)
    return code, float(logp), grad


def _expand(compiled, x: np.ndarray) -> tuple[int, np.ndarray]:
    """Call a compiled model's deterministics callback as nutpie's sampler does."""
    values = np.zeros(compiled.n_expanded)
    user_data = ctypes.c_void_p(compiled.user_data.ctypes.data)
    func = compiled.compiled_expand_func.ctypes
    code = func(compiled.n_dim, compiled.n_expanded, _pointer(x), _pointer(values), user_data)
    return code, values


@pytest.fixture(scope="module")
def compiled_pair(sim_runs):
    """The Chinchilla model compiled by bayescale and by nutpie alone (its own callbacks)."""
    import nutpie

    law = get_law("chinchilla")
    model = build_model(law, sim_runs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _numba_cache.compile_model(model), nutpie.compile_pymc_model(model)


def _assert_same_callbacks(ours, theirs, seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = [rng.normal(0.0, 2.0, ours.n_dim) for _ in range(100)]
    points += [np.full(ours.n_dim, 800.0), np.full(ours.n_dim, np.nan)]  # overflow, NaN
    codes = set()
    for x in points:
        got, want = _logp(ours, x), _logp(theirs, x)
        assert got[0] == want[0]
        codes.add(got[0])
        if got[0] == 0:
            assert got[1] == want[1]
            # Equal up to rounding: the two compilations may contract a*b+c into one FMA
            # differently (seen on AVX-512 CPUs, 3e-15 relative).
            np.testing.assert_allclose(got[2], want[2], rtol=1e-12, atol=1e-12)
        got_expanded, want_expanded = _expand(ours, x), _expand(theirs, x)
        assert got_expanded[0] == want_expanded[0]
        np.testing.assert_allclose(got_expanded[1], want_expanded[1], rtol=1e-12, atol=1e-12)
    assert 0 in codes and codes - {0}, f"the points exercised only return codes {codes}"
    wrong_dim = ctypes.c_void_p(ours.user_data.ctypes.data)
    x, out, logp = np.zeros(ours.n_dim), np.zeros(ours.n_dim), np.zeros(())
    assert ours.compiled_logp_func.ctypes(99, _pointer(x), _pointer(out), _pointer(logp), wrong_dim)
    assert out.sum() == 0.0  # a call with the wrong dimension writes nothing


def test_callbacks_are_ours_and_agree_with_nutpies_own(compiled_pair) -> None:
    ours, theirs = compiled_pair
    assert ours.compiled_logp_func._pyfunc.__name__ == "bayescale_logp"
    assert ours.compiled_expand_func._pyfunc.__name__ == "bayescale_expand"
    _assert_same_callbacks(ours, theirs, seed=0)


def test_callbacks_read_new_data_of_another_size(compiled_pair) -> None:
    # The data's shape is read at each call, so one compiled model serves any number of runs.
    law = get_law("chinchilla")
    runs = demo_runs()
    values = _data_values(law, runs, log_reference(law, runs))
    ours, theirs = (c.with_data(**values) for c in compiled_pair)
    assert ours.shared_data["per_run"].shape[1] != compiled_pair[0].shared_data["per_run"].shape[1]
    _assert_same_callbacks(ours, theirs, seed=1)
    x = np.zeros(ours.n_dim)
    assert _logp(ours, x)[1] != _logp(compiled_pair[0], x)[1]


def test_callbacks_load_from_the_cache_in_a_new_process(compiled_pair) -> None:
    # compiled_pair compiled (and so cached) the same model; a new process must load it.
    out = subprocess.run(
        [sys.executable, "-c", CALLBACK_SCRIPT], capture_output=True, text=True, check=True
    )
    lines = [line.split() for line in out.stdout.splitlines() if line.startswith("CALLBACK")]
    assert lines == [
        ["CALLBACK", "bayescale_logp", "1"],
        ["CALLBACK", "bayescale_expand", "1"],
    ], out.stdout + out.stderr


def test_no_cacheable_callback_without_a_graph_key() -> None:
    # A compiled graph PyTensor could not cache: nutpie's own callback is kept.
    user_data = np.zeros((), dtype=[("shared", [("data", [("a", np.uintp)])])])
    assert (
        _numba_cache._cacheable_callback(
            _numba_cache._LOGP_TEMPLATE, numba.njit(lambda x: x), user_data, [], {}, n_dim=1
        )
        is None
    )


# --- nutpie's private functions changed: its own callbacks, a warning, and the fit goes on ---


def _compile_warning(model) -> tuple[object, list[str]]:
    """Compile ``model``; also the messages of the warnings about nutpie's internals."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _numba_cache.compile_model(model)
    category = _numba_cache.InternalsChangedWarning
    return compiled, [str(w.message) for w in caught if issubclass(w.category, category)]


def _assert_nutpies_own(compiled, theirs, messages: list[str]) -> None:
    import nutpie

    assert compiled.compiled_logp_func._pyfunc.__name__ == "logp_numba"
    assert compiled.compiled_expand_func._pyfunc.__name__ == "expand_numba"
    _assert_same_callbacks(compiled, theirs, seed=2)
    [message] = messages
    assert f"nutpie {nutpie.__version__} changed its internals" in message
    assert "compile in every new process" in message


def test_nutpies_own_callbacks_when_a_factory_was_renamed(
    compiled_pair, sim_runs, monkeypatch
) -> None:
    from nutpie import compile_pymc

    monkeypatch.setattr(_numba_cache, "_warned", set(), raising=False)
    # A nutpie release that renamed _make_c_logp_func (and calls it by its new name).
    compile_numba = compile_pymc._compile_pymc_model_numba
    names = compile_numba.__code__.co_names
    assert "_make_c_logp_func" in names
    renamed = tuple("_c_logp_func" if name == "_make_c_logp_func" else name for name in names)
    monkeypatch.setattr(compile_pymc, "_c_logp_func", compile_pymc._make_c_logp_func, raising=False)
    monkeypatch.delattr(compile_pymc, "_make_c_logp_func")
    monkeypatch.setattr(compile_numba, "__code__", compile_numba.__code__.replace(co_names=renamed))
    compiled, messages = _compile_warning(build_model(get_law("chinchilla"), sim_runs))
    _assert_nutpies_own(compiled, compiled_pair[1], messages)
    assert "_make_c_logp_func" in messages[0]


def test_nutpies_own_callbacks_when_ours_fail_to_compile(
    compiled_pair, sim_runs, monkeypatch
) -> None:
    # As if nutpie renamed a field of the user data: numba cannot compile our callbacks.
    monkeypatch.setattr(_numba_cache, "_warned", set(), raising=False)
    template = _numba_cache._LOGP_TEMPLATE.replace('["shared"]', '["shared_arrays"]')
    monkeypatch.setattr(_numba_cache, "_LOGP_TEMPLATE", template)
    compiled, messages = _compile_warning(build_model(get_law("chinchilla"), sim_runs))
    _assert_nutpies_own(compiled, compiled_pair[1], messages)


def _stub_nutpie(monkeypatch) -> list[tuple[object, object]]:
    """Replace nutpie's compile by a stub; the factories it would have called are recorded."""
    import nutpie
    from nutpie import compile_pymc

    calls: list[tuple[object, object]] = []

    def compile_pymc_model(model, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func))
        return "compiled"

    monkeypatch.setattr(nutpie, "compile_pymc_model", compile_pymc_model)
    return calls


def test_changed_signature_is_detected_before_compiling_and_warned_once(monkeypatch) -> None:
    from nutpie import compile_pymc

    monkeypatch.setattr(_numba_cache, "_warned", set(), raising=False)
    original = compile_pymc._make_c_expand_func

    def _make_c_expand_func(  # type: ignore[no-untyped-def]
        n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data, fastmath=True
    ):
        return original(n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data)

    monkeypatch.setattr(compile_pymc, "_make_c_expand_func", _make_c_expand_func)
    calls = _stub_nutpie(monkeypatch)
    first, first_messages = _compile_warning(model=None)
    second, second_messages = _compile_warning(model=None)
    assert first == second == "compiled"
    [message] = first_messages  # once per process
    assert "_make_c_expand_func" in message and second_messages == []
    # nutpie compiled with its own factories: ours were not swapped in.
    assert calls == [(compile_pymc._make_c_logp_func, _make_c_expand_func)] * 2


def test_warns_when_nutpie_no_longer_calls_the_factories(monkeypatch) -> None:
    monkeypatch.setattr(_numba_cache, "_warned", set(), raising=False)
    calls = _stub_nutpie(monkeypatch)
    compiled, messages = _compile_warning(model=None)
    assert compiled == "compiled" and len(calls) == 1
    [message] = messages
    assert "compile in every new process" in message


SCRATCH_SCRIPT = """
import multiprocessing, os, sys
from pytensor.link import utils
from bayescale import _numba_cache


def write_source(queue):
    _numba_cache.keep_sources_in_scratch()  # as compile_model does (spawned: a new module)
    utils.compile_function_src("def f(x):\\n    return x + 1\\n", "f")
    queue.put(_numba_cache._scratch_folder())


if __name__ == "__main__":
    _numba_cache.keep_sources_in_scratch()
    _numba_cache.keep_sources_in_scratch()  # idempotent
    utils.compile_function_src("def g(x):\\n    return x\\n", "g")
    mine = _numba_cache._scratch_folder()
    assert len(os.listdir(mine)) == 1, os.listdir(mine)
    context = multiprocessing.get_context(sys.argv[1])
    queue = context.Queue()
    child = context.Process(target=write_source, args=(queue,))
    child.start()
    theirs = queue.get(timeout=120)
    child.join(timeout=120)
    assert child.exitcode == 0
    assert theirs != mine and not os.path.exists(theirs), theirs  # the child removed its own
    assert len(os.listdir(mine)) == 1  # and left the parent's alone
    print(mine)
"""


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_generated_sources_are_removed_when_the_process_ends(tmp_path, start: str) -> None:
    """PyTensor keeps each generated source in a temporary file: they must not pile up."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = tmp_path / "sources.py"  # a file: a spawned child imports its functions from it
    script.write_text(SCRATCH_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), start],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(scratch / "bayescale-sources-"))
    assert list(scratch.iterdir()) == []


def test_a_scratch_folder_deleted_while_running_is_made_again(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(_numba_cache, "_scratch", (os.getpid(), str(tmp_path / "gone")))
    folder = _numba_cache._scratch_folder()
    assert os.path.isdir(folder) and folder != str(tmp_path / "gone")
    with _numba_cache._named_temporary_file(delete=False) as f:
        assert os.path.dirname(f.name) == folder
    _numba_cache._remove_scratch(os.getpid() + 1, folder)  # not its maker: kept
    assert os.path.isdir(folder)
    _numba_cache._remove_scratch(os.getpid(), folder)
    assert not os.path.exists(folder)
