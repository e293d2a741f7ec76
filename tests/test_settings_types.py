"""Counts and seeds of any integer type (numpy's too) are accepted; bools and floats are not."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bayescale.errors import DataError
from bayescale.settings import SamplerSettings, check_count, check_seed


@pytest.mark.parametrize("kind", [np.int8, np.int64, np.uint32, np.intp])
def test_numpy_integers_are_counts_and_seeds_stored_as_plain_ints(kind) -> None:
    settings = SamplerSettings(
        draws=kind(30), tune=kind(20), chains=kind(2), seed=kind(7), prior_draws=kind(0)
    )
    values = settings.to_dict()
    assert (values["draws"], values["tune"], values["chains"], values["seed"]) == (30, 20, 2, 7)
    # Plain ints: the settings are saved with each fit as JSON, which has no numpy types.
    assert all(type(values[k]) is int for k in ("draws", "tune", "chains", "seed", "retries"))
    assert json.loads(json.dumps(values)) == values
    assert check_seed(kind(3)) == 3 and type(check_seed(kind(3))) is int
    assert check_count(kind(5), "draws") == 5 and type(check_count(kind(5), "draws")) is int


def test_seeds_from_a_numpy_range_are_accepted() -> None:
    assert [SamplerSettings(seed=seed).seed for seed in np.arange(3)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "True"),
        (np.True_, "True"),
        (300.5, "300.5"),
        (np.float64(300.5), "300.5"),
        (300.0, r"300.0 \(a float: write 300\)"),
        (np.float32(300.0), r"300.0 \(a float: write 300\)"),
        ("300", "'300'"),
        (np.int64(0), "0"),
    ],
)
def test_bools_floats_text_and_too_small_counts_are_refused(value, shown) -> None:
    with pytest.raises(DataError, match=rf"^draws must be a whole number >= 1, got {shown}$"):
        SamplerSettings(draws=value)


@pytest.mark.parametrize(
    "value", [np.int64(-1), np.uint64(2**32), np.float64(3.0), np.bool_(False)]
)
def test_seeds_out_of_range_or_not_integers_are_refused(value) -> None:
    with pytest.raises(DataError, match=r"^seed must be a whole number from 0 to 4294967295, got"):
        check_seed(value)


def test_numpy_numbers_for_the_float_settings_are_accepted() -> None:
    settings = SamplerSettings(target_accept=np.float32(0.9), time_budget=np.int64(60))
    assert type(settings.target_accept) is float and settings.target_accept == pytest.approx(0.9)
    assert settings.time_budget == 60.0 and type(settings.time_budget) is float


def test_public_submodules_resolve_from_the_package_without_shadowing_a_function() -> None:
    # In a fresh interpreter: in this one, other tests may have imported them already.
    script = """
import sys, types
import bayescale
assert "bayescale.report" not in sys.modules and "pymc" not in sys.modules
for name in ("report", "plots", "downstream", "forecast", "sweeps"):
    module = getattr(bayescale, name)
    assert isinstance(module, types.ModuleType) and module.__name__ == "bayescale." + name
assert callable(bayescale.report.write_report) and callable(bayescale.plots.plot_fit)
assert callable(bayescale.fit) and not isinstance(bayescale.fit, types.ModuleType)
assert not bayescale._SUBMODULES & set(bayescale._EXPORTS)
assert {"report", "plots"} <= set(dir(bayescale))
try:
    bayescale.reports
except AttributeError as error:
    assert "has no attribute 'reports'" in str(error)
else:
    raise AssertionError("bayescale.reports resolved")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
