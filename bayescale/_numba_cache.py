"""Let PyTensor's numba cache keep our compiled models across processes.

PyTensor caches the numba code of a graph on disk only if every operation in it has a cache
key. The Student-t likelihood's gradient with respect to ``nu`` needs the digamma function,
which PyTensor's numba backend takes from ``scipy.special.cython_special`` through a function
pointer; such code cannot be cached, so the whole log-density graph was recompiled by numba in
every new process (about 3 s of a 10 s fit). Registering a digamma written in numba, with its
own cache key, makes the graph cacheable. Measured in ``bench/results.md``.
"""

from __future__ import annotations

import math

import numba

#: Part of the cache key: change it whenever :func:`digamma` changes.
DIGAMMA_VERSION = "bayescale-digamma-1"

_registered = False


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
