"""Nothing lost under faults: interrupted fits, racing and failing writes, bad settings.

Each test reproduces a fault that lost or corrupted work before (issue 10) and checks that the
user gets one clear error, no stray file, and any earlier output intact.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayescale
from bayescale import _files, fitting
from bayescale.comparison import Comparison
from bayescale.errors import BayescaleError, DataError, LawError, OutputExistsError

REPO = Path(__file__).resolve().parents[1]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- Ctrl-C


def test_interrupted_sampling_is_cancelled_and_raised(monkeypatch, sim_runs):
    import nutpie

    class Interrupted:
        cancelled = False

        def wait(self):
            raise KeyboardInterrupt

        def cancel(self):
            Interrupted.cancelled = True

    monkeypatch.setattr(nutpie, "sample", lambda *args, **kwargs: Interrupted())
    with pytest.raises(KeyboardInterrupt):
        bayescale.fit(sim_runs, "chinchilla", draws=10, tune=10, chains=1)
    assert Interrupted.cancelled


def test_a_second_ctrl_c_still_cancels_every_sampler(monkeypatch, sim_runs):
    # Two presses: the second lands while the first's clean-up cancels chain 0's sampler.
    # Before, chain 1's sampler was never cancelled and went on sampling after the fit raised.
    import nutpie

    made = []

    class Sampler:
        def __init__(self):
            self.cancelled = False
            self.calls = 0
            made.append(self)

        def wait(self):
            raise KeyboardInterrupt

        def cancel(self):
            self.calls += 1
            if self is made[0] and self.calls == 1:
                raise KeyboardInterrupt
            self.cancelled = True

    monkeypatch.setattr(nutpie, "sample", lambda *args, **kwargs: Sampler())
    with pytest.raises(KeyboardInterrupt):
        bayescale.fit(sim_runs, "chinchilla", draws=10, tune=10, chains=2)
    assert len(made) == 2 and all(s.cancelled for s in made)


_INTERRUPT_SCRIPT = """
import faulthandler, os, signal, sys, threading
# Should the process hang, every thread's stack goes to stderr and it exits, failing the test.
faulthandler.dump_traceback_later(200, exit=True)
# A terminal's Ctrl-C: a test run started in the background (`make test &`) ignores SIGINT,
# and so would this process, which inherits that.
signal.signal(signal.SIGINT, signal.default_int_handler)
import nutpie
import bayescale
from bayescale.demo import demo_runs

stop = threading.Event()
presses = []

def press():
    # Ctrl-C once sampling runs, again every 2 s until the fit stops, as a user would.
    delay = float(os.environ["DELAY"])
    while not stop.wait(delay):
        presses.append(1)
        os.kill(os.getpid(), signal.SIGINT)
        delay = 2.0

real_sample = nutpie.sample
def sample(*args, **kwargs):
    sampler = real_sample(*args, **kwargs)
    if not sample.started:
        sample.started = True
        threading.Thread(target=press, daemon=True).start()
    return sampler
nutpie.sample = sample

runs = demo_runs(0)
# Interrupted during tuning in the first fit, while drawing in the second.
for tune, draws in ((10**7, 100), (20, 10**7)):
    stop.clear()
    presses.clear()
    sample.started = False
    try:
        bayescale.fit(runs, "chinchilla", tune=tune, draws=draws, chains=2, prior_draws=0)
    except KeyboardInterrupt:
        stop.set()
        print("interrupted", len(presses), flush=True)
    else:
        stop.set()
        print("finished", flush=True)
"""


def test_ctrl_c_during_tuning_and_drawing_raises_keyboard_interrupt(tmp_path):
    # A real SIGINT against nutpie: before, it returned NaN-padded draws as a complete fit
    # (or raised an unexpected ValueError during tuning).
    env = {**os.environ, "DELAY": "1.5"}
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-8000:]
    lines = [line.split() for line in done.stdout.splitlines()]
    assert [line[0] for line in lines] == ["interrupted", "interrupted"], done.stderr[-2000:]
    # A fit that swallowed Ctrl-C would take press after press (until the timeout).
    assert all(int(line[1]) <= 2 for line in lines), lines
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- writes


def test_a_file_created_during_the_write_is_not_replaced(tmp_path):
    target = tmp_path / "fit.nc"

    def write(tmp):
        Path(tmp).write_text("ours")
        target.write_text("theirs")  # another process finished first

    with pytest.raises(OutputExistsError, match="created by someone else"):
        _files.write_atomic(target, write)
    assert target.read_text() == "theirs"
    assert _leftovers(tmp_path) == []


def test_concurrent_saves_to_one_name_keep_exactly_one(healthy_fit, tmp_path):
    target = tmp_path / "same.nc"
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def save():
        barrier.wait()
        try:
            healthy_fit.save(target)
            outcomes.append("saved")
        except OutputExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=save) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "saved"]
    assert bayescale.load_fit(target).seed == healthy_fit.seed
    assert _leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    healthy_fit, tmp_path, monkeypatch
):
    target = tmp_path / "fit.nc"
    healthy_fit.save(target)
    before = target.read_bytes()

    def full_disk(data):
        def write(tmp):
            Path(tmp).write_bytes(data[:100])
            raise OSError(errno.ENOSPC, "No space left on device")

        return write

    monkeypatch.setattr(_files, "_write_all", full_disk)
    with pytest.raises(BayescaleError, match=r"cannot write .*fit\.nc.*disk is full"):
        healthy_fit.save(target, overwrite=True)
    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 64 kB file system (tmpfs); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_one_clear_error(healthy_fit, small_disk):
    # Before, HDF5 wrote straight to the disk and crashed the process (exit 139).
    old = small_disk / "fit.nc"
    old.write_bytes(b"an earlier fit")
    with pytest.raises(BayescaleError, match="disk is full"):
        healthy_fit.save(old, overwrite=True)
    assert old.read_bytes() == b"an earlier fit"
    assert sorted(p.name for p in small_disk.iterdir()) == ["fit.nc"]


def test_a_read_only_folder_is_refused_before_any_work(tmp_path, healthy_fit, starved_fit):
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a read-only file system here (needs root)")
    try:
        with pytest.raises(BayescaleError, match=r"cannot write into folder .*ro"):
            _files.check_destination(folder / "fit.nc")
        with pytest.raises(BayescaleError, match=r"cannot write into folder"):
            healthy_fit.save(folder / "fit.nc")
        comparison = bayescale.compare({"a": healthy_fit, "b": starved_fit})
        with pytest.raises(BayescaleError, match=r"cannot create folder .*fits"):
            comparison.save(folder)
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_comparison_save_checks_every_file_before_writing(healthy_fit, starved_fit, tmp_path):
    comparison = bayescale.compare({"chinchilla": healthy_fit, "starved": starved_fit})
    folder = tmp_path / "cmp"
    (folder / "fits").mkdir(parents=True)
    (folder / "fits" / "starved.nc").write_text("keep me")
    with pytest.raises(OutputExistsError):
        comparison.save(folder)
    assert sorted(p.name for p in folder.rglob("*")) == ["fits", "starved.nc"]
    assert (folder / "fits" / "starved.nc").read_text() == "keep me"


def test_comparison_reloads_as_saved(healthy_fit, starved_fit, tmp_path):
    comparison = bayescale.compare({"chinchilla": healthy_fit, "starved": starved_fit})
    files = comparison.save(tmp_path / "cmp")
    assert {"loo", "verdict", "notes", "fit_chinchilla", "fit_starved"} <= set(files)
    back = Comparison.load(tmp_path / "cmp")
    assert sorted(back.fits) == ["chinchilla", "starved"]
    pd.testing.assert_frame_equal(back.loo, comparison.loo, check_dtype=False)
    assert back.verdict() == comparison.verdict()
    at = {"N": [7e10], "D": [1.4e12]}
    pd.testing.assert_frame_equal(
        back.fits["chinchilla"].forecast(at), healthy_fit.forecast(at), check_exact=True
    )
    with pytest.raises(BayescaleError, match=r"has no loo\.csv"):
        Comparison.load(tmp_path)


# --------------------------------------------------------------------------- memory


def test_per_run_per_draw_arrays_are_neither_kept_nor_saved(healthy_fit, tmp_path):
    # 100k runs x 2 chains x 200 draws took 4.1 GB and a 310 MB file: the pointwise
    # log-likelihood was stored per run and draw. It is now computed on demand.
    fresh = bayescale.fit(healthy_fit.runs, "chinchilla", draws=50, tune=50, chains=2)
    for group in fresh.idata.groups():
        for name, var in getattr(fresh.idata, group).data_vars.items():
            assert not {"draw", "run"} <= set(var.dims), (group, name)
    path = fresh.save(tmp_path / "fit.nc")
    back = bayescale.load_fit(path)
    assert "log_likelihood" not in back.idata.groups()
    xr.testing.assert_identical(back.log_likelihood(), fresh.log_likelihood())
    with_ll = fresh.with_log_likelihood()
    assert with_ll is fresh.idata and "log_likelihood" in with_ll.groups()
    fresh.save(tmp_path / "again.nc")  # the group computed on demand is not written
    assert "log_likelihood" not in bayescale.load_fit(tmp_path / "again.nc").idata.groups()


def test_log_likelihood_too_large_for_memory_is_refused(healthy_fit, monkeypatch):
    monkeypatch.setattr(fitting, "_available_memory", lambda: 10_000)
    with pytest.raises(BayescaleError, match=r"60 runs x 1,000 draws needs .* GB"):
        healthy_fit.log_likelihood()


def test_log_likelihood_in_blocks_equals_small_blocks(healthy_fit):
    # 60 runs fit in one block; blocks of 7 draws must give the same numbers.
    whole = healthy_fit.log_likelihood()
    law, runs, post = healthy_fit.law, healthy_fit.runs, healthy_fit.idata.posterior
    np.testing.assert_array_equal(_blocks_of(law, runs, post, 7), whole["y"].values)


def _blocks_of(law, runs, post, step):
    lik = law.likelihood
    x = {name: runs.x(name) for name in law.inputs}
    names = [*law.parameters, *lik.noise_names]
    flat = {n: post[n].values.reshape(-1) for n in names}
    out = []
    for start in range(0, len(flat["sigma"]), step):
        block = {n: v[start : start + step, None] for n, v in flat.items()}
        log_mu = law.log_mean({n: block[n] for n in law.parameters}, x)
        out.append(lik.logpdf(np.log(runs.y), log_mu, {n: block[n] for n in lik.noise_names}))
    return np.concatenate(out).reshape(post.sizes["chain"], post.sizes["draw"], -1)


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True, "0"])
def test_bad_seeds_are_refused_before_any_work(sim_runs, seed, monkeypatch):
    from bayescale import model

    monkeypatch.setattr(model, "sample_posterior", _must_not_run)
    with pytest.raises(DataError, match="seed must be a whole number from 0 to"):
        bayescale.fit(sim_runs, "chinchilla", seed=seed)


def _must_not_run(*args, **kwargs):
    raise AssertionError("sampling started before the settings were checked")


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, float("nan"), "high"])
def test_levels_outside_0_1_are_clear_errors(healthy_fit, level):
    message = "level must be a probability between 0 and 1"
    with pytest.raises(DataError, match=message):
        healthy_fit.summary(level=level)
    with pytest.raises(DataError, match=message):
        healthy_fit.forecast({"N": [1e9], "D": [1e10]}, level=level)
    with pytest.raises(DataError, match=message):
        healthy_fit.forecast({"N": [1e9], "D": [1e10]}, level=[0.5, level])
    with pytest.raises(DataError, match=message):
        healthy_fit.compute_optimal(1e21, level=level)
    with pytest.raises(DataError, match=message):
        healthy_fit.budget_for(2.0, level=level)
    with pytest.raises(DataError, match=message):
        bayescale.average({"a": healthy_fit}).forecast({"N": [1e9], "D": [1e10]}, level=level)


def test_other_bad_arguments_are_clear_errors(sim_runs, monkeypatch):
    from bayescale import model

    monkeypatch.setattr(model, "sample_posterior", _must_not_run)
    with pytest.raises(DataError, match="prior_draws must be a whole number >= 0"):
        bayescale.fit(sim_runs, "chinchilla", prior_draws=-5)
    with pytest.raises(LawError, match="law must be a Law, a catalog name"):
        bayescale.fit(sim_runs, None)
    with pytest.raises(DataError, match="unknown sampler setting"):
        bayescale.fit(sim_runs, "chinchilla", sampler={"draw": 10})
    with pytest.raises(DataError, match="average needs fits"):
        bayescale.average({})
    with pytest.raises(DataError, match="average needs fits"):
        bayescale.average(None)


def test_sampler_settings_reach_every_fit(sim_runs, monkeypatch):
    seen = []

    def record(law, runs, log_ref, **kwargs):
        seen.append((law.name, kwargs["target_accept"], kwargs["draws"], kwargs["seed"]))
        raise KeyboardInterrupt

    from bayescale import model

    monkeypatch.setattr(model, "sample_posterior", record)
    sampler = bayescale.SamplerSettings(draws=33, target_accept=0.99, seed=5)
    with pytest.raises(KeyboardInterrupt):
        bayescale.compare(sim_runs, ["chinchilla", "kaplan"], sampler=sampler)
    assert seen == [("chinchilla", 0.99, 33, 5)]
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        bayescale.fit(sim_runs, "chinchilla", sampler=sampler, draws=12)
    assert seen == [("chinchilla", 0.99, 12, 5)]


def test_compare_passes_priors_to_the_law_named(sim_runs, monkeypatch):
    seen = {}

    def record(law, runs, log_ref, **kwargs):
        seen[law.name] = law.parameters["alpha"].prior.parameters
        raise KeyboardInterrupt

    from bayescale import model

    monkeypatch.setattr(model, "sample_posterior", record)
    tight = {"alpha": {"dist": "LogNormal", "mu": -1.0, "sigma": 0.05}}
    with pytest.raises(KeyboardInterrupt):
        bayescale.compare(sim_runs, ["chinchilla", "kaplan"], priors={"chinchilla": tight})
    assert seen == {"chinchilla": {"mu": -1.0, "sigma": 0.05}}
    with pytest.raises(DataError, match="priors name laws that are not compared: chinchila"):
        bayescale.compare(sim_runs, ["chinchilla", "kaplan"], priors={"chinchila": tight})


# --------------------------------------------------------------------------- compare


def test_laws_with_one_name_are_refused(sim_runs):
    priors = {
        "E": {"dist": "LogNormal", "mu": 0.4, "sigma": 1.0},
        "A": {"dist": "LogNormal", "mu": 0.0, "sigma": 2.0},
        "a": {"dist": "LogNormal", "mu": -1.0, "sigma": 0.5},
    }
    one = bayescale.Law.from_formula("E + A * N**-a", priors)
    two = bayescale.Law.from_formula("E + A * D**-a", priors)
    with pytest.raises(DataError, match="two laws are named 'custom'; give each a distinct"):
        bayescale.compare(sim_runs, [one, two], draws=5)
    with pytest.raises(DataError, match="cannot name a comparison's row and file"):
        bayescale.compare({"../evil": object(), "b": object()})


def test_a_law_without_a_finite_held_out_score_does_not_win(healthy_fit, starved_fit):
    loo = bayescale.compare({"good": healthy_fit, "broken": starved_fit}).loo
    extrapolation = pd.DataFrame(
        {
            "law": ["good", "good", "broken", "broken"],
            "holdout": ["C > 1e18", "C > 1e19"] * 2,
            "elpd_per_run": [1.0, 1.0, 5.0, np.nan],
            "coverage_90": [0.9, 0.9, 0.9, 0.9],
        }
    )
    comparison = Comparison({"good": healthy_fit, "broken": starved_fit}, loo, extrapolation)
    assert comparison.best()["extrapolation"] == "good"
    assert comparison.unscored == ["broken"]
    assert "broken has no finite held-out score" in comparison.verdict()


# --------------------------------------------------------------------------- saved files


def _with_metadata(source: Path, target: Path, change) -> Path:
    import arviz as az

    idata = az.from_netcdf(source, engine="h5netcdf")
    idata.load()
    meta = json.loads(idata.posterior.attrs["bayescale"])
    idata.posterior.attrs["bayescale"] = change(meta)
    _files.write_bytes(target, _files.netcdf_bytes(idata))
    return target


def _drop(key):
    def change(meta):
        del meta[key]
        return json.dumps(meta)

    return change


def _set(path, value):
    def change(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return json.dumps(meta)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda meta: "{not json", "is not a bayescale fit file"),
        (lambda meta: json.dumps([1, 2]), "has fit format None"),
        (_drop("law"), "metadata is damaged .*missing 'law'"),
        (_drop("log_ref"), "metadata is damaged"),
        (_set(["seed"], "zero"), "metadata is not valid: the saved seed must be"),
        (_set(["log_ref"], {"N": "big"}), "metadata is damaged"),
        (_set(["law", "formula"], "E +* N"), "metadata is not valid"),
        (_set(["runs", "table"], None), "metadata is (damaged|not valid)"),
    ],
)
def test_malformed_metadata_in_a_saved_fit(healthy_fit, tmp_path, change, message):
    source = healthy_fit.save(tmp_path / "fit.nc")
    bad = _with_metadata(source, tmp_path / "bad.nc", change)
    with pytest.raises(BayescaleError, match=message) as caught:
        bayescale.load_fit(bad)
    assert "bad.nc" in str(caught.value)


@pytest.mark.parametrize("keep", [2000, 0.5])
def test_truncated_fit_file_is_called_damaged(healthy_fit, tmp_path, keep):
    # Regression: a fit file cut short (interrupted copy) was called "not a bayescale fit
    # file ...: OSError", which says neither what is wrong nor what to do.
    data = healthy_fit.save(tmp_path / "fit.nc").read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    with pytest.raises(BayescaleError) as caught:
        bayescale.load_fit(cut)
    message = str(caught.value)
    assert "cut.nc' is damaged or truncated" in message
    assert "cannot be read as NetCDF" in message and "restore the file" in message
    assert "OSError" not in message and "\n" not in message


def test_an_empty_fit_file_is_called_empty(tmp_path):
    empty = tmp_path / "empty.nc"
    empty.write_bytes(b"")
    with pytest.raises(BayescaleError, match=r"empty\.nc' is empty \(0 bytes\), not a fit"):
        bayescale.load_fit(empty)


def test_repo_has_no_fixed_temporary_names():
    # Two writers used a fixed ".tmp" name: concurrent writes clobbered each other and a
    # failed write left it behind. Every write now goes through bayescale._files.
    for path in (REPO / "bayescale").rglob("*.py"):
        text = path.read_text()
        assert 'f".{path.name}.tmp"' not in text, path
        if path.name != "_files.py":
            assert "os.replace(" not in text, path
            assert "mkstemp(" not in text, path
