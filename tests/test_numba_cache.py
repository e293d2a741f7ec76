"""PyTensor's numba cache keeps bayescale's compiled log density across processes.

Two properties make that so, and each has broken it before: every operation of the graph
has a cache key (SciPy's digamma, used by the Student-t gradient, has none: we supply one),
and the graph's key is the same in every process (the order of its nodes must not depend on
object ids, which broadcasting checks between separate data vectors made it do).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import special

from bayescale._numba_cache import digamma

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
