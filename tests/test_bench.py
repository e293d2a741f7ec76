"""Fast checks of the benchmark suite's baselines (bench/): the point fit recovers a known law,
its gradients are right, the bootstrap and NumPyro code paths run on tiny inputs, and the
report renders. NumPyro and JAX are optional (the ``bench`` extra): their test is skipped
without them.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import baselines, calibration, common, run, workers  # noqa: E402


def _isoflop(noise: float, seed: int = 0) -> pd.DataFrame:
    """All 12 IsoFLOP budgets of the synthetic task, with Gaussian noise on log loss."""
    train, test = common.simulate_isoflop(seed)
    frame = pd.concat([train, test], ignore_index=True)
    rng = np.random.default_rng(seed)
    frame["loss"] = common.chinchilla_loss(frame["N"], frame["D"]) * np.exp(
        noise * rng.standard_normal(len(frame))
    )
    return frame


def test_point_fit_recovers_chinchilla_parameters() -> None:
    frame = _isoflop(noise=0.002)
    fit = baselines.huber_fit(frame, "chinchilla", thin=True)
    got, truth = fit.params, common.TRUTH
    assert got["E"] == pytest.approx(truth["E"], rel=0.03)
    assert got["alpha"] == pytest.approx(truth["alpha"], abs=0.03)
    assert got["beta"] == pytest.approx(truth["beta"], abs=0.03)
    assert got["A"] == pytest.approx(truth["A"], rel=0.5)
    assert got["B"] == pytest.approx(truth["B"], rel=0.5)
    assert np.abs(fit.residuals).max() < 0.02


@pytest.mark.parametrize("law", ["chinchilla", "data_constrained"])
def test_point_fit_gradients_match_finite_differences(law: str) -> None:
    frame = common.simulate("data_constrained", 40, seed=1)
    point_law = baselines.POINT_LAWS[law]
    x = point_law.prepare(frame)
    log_y = np.log(frame["loss"].to_numpy())
    theta = np.array([6.0, 7.5, 0.6, 0.35, 0.37, 2.7][: len(point_law.parameters)])
    # Scale the residuals past delta so that both branches of the Huber loss are exercised.
    err = optimize.check_grad(
        lambda t: baselines.huber_objective(t, point_law, x, log_y)[0],
        lambda t: baselines.huber_objective(t, point_law, x, log_y)[1],
        theta,
    )
    scale = np.linalg.norm(baselines.huber_objective(theta, point_law, x, log_y)[1])
    assert err < 1e-4 * max(scale, 1.0)


def test_bootstrap_and_predictive_intervals_on_tiny_input() -> None:
    frame = _isoflop(noise=0.01).iloc[::4].reset_index(drop=True)
    fit = baselines.huber_fit(frame, "chinchilla", thin=True)
    boot = baselines.bootstrap(fit, frame, resamples=5, seed=0)
    assert boot.shape == (5, 5)
    at = pd.DataFrame({"N": [1e10, 7e10], "D": [2e11, 1.4e12]})
    table = baselines.point_forecast(fit, boot, at, levels=(0.5, 0.9), pairs=500)
    assert len(table) == 2
    for kind in ("law", "pred"):
        assert (table[f"{kind}_lower_90"] <= table[f"{kind}_lower_50"]).all()
        assert (table[f"{kind}_lower_50"] <= table[f"{kind}_upper_50"]).all()
        assert (table[f"{kind}_upper_50"] <= table[f"{kind}_upper_90"]).all()
    metrics = common.point_metrics(np.array([2.0, 2.1, 2.2]), np.array([2.0, 2.1, 2.2]))
    assert metrics == {"r2": 1.0, "mare": 0.0}


def test_data_constrained_point_fit_runs_from_the_best_grid_points() -> None:
    frame = common.simulate("data_constrained", 60, seed=2)
    fit = baselines.huber_fit(frame, "data_constrained", thin=True, top_k=3)
    assert fit.starts == 3
    assert set(fit.params) == {"E", "A", "B", "alpha", "beta", "R"}
    assert np.isfinite(fit.objective)


def test_calibration_interval_score_and_coverage_by_hand() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    lower = np.array([0.5, 2.5, 2.0, 1.0, 5.0])
    upper = np.array([1.5, 3.0, 4.0, 3.5, 6.0])
    # Inside: the width. Below by 0.5: 0.5 + (2 / 0.1) 0.5. Above by 0.5: 2.5 + 20 * 0.5. The
    # last point sits on its lower bound: covered, scored by its width.
    score = calibration.interval_score(y, lower, upper, alpha=0.1)
    np.testing.assert_allclose(score, [1.0, 10.5, 2.0, 12.5, 1.0])
    assert calibration.coverage(y, lower, upper) == pytest.approx(3 / 5)
    pred = {"median": 1.1 * y}
    for tag in (50, 80, 90):
        pred[f"lower_{tag}"], pred[f"upper_{tag}"] = lower, upper
    m = calibration.metrics(y, pred)
    assert m["n"] == 5 and m["cov_90"] == pytest.approx(0.6)
    assert m["is_90"] == pytest.approx((1 + 10.5 / 2 + 2 / 3 + 12.5 / 4 + 1 / 5) / 5)
    assert m["width_90"] == pytest.approx((1 + 0.5 / 2 + 2 / 3 + 2.5 / 4 + 1 / 5) / 5)
    assert m["mare"] == pytest.approx(0.1)


def test_isoflop_minimum_is_the_vertex_of_the_parabola_in_log_n() -> None:
    n = np.geomspace(1e8, 1e10, 9)
    x = np.log(n)
    vertex = np.log(2e9)
    loss = np.exp(0.02 * (x - vertex) ** 2 + 0.5)
    found = calibration.isoflop_minimum(n, loss)
    assert found["N"] == pytest.approx(2e9, rel=1e-6)
    assert found["inside"] and found["factor_se"] == pytest.approx(1.0, abs=1e-6)
    # A minimum beyond the runs is flagged; a concave curve has none.
    assert not calibration.isoflop_minimum(n[:4], loss[:4])["inside"]
    assert np.isnan(calibration.isoflop_minimum(n, 1.0 / loss)["N"])


def test_true_optimum_of_chinchilla_is_hoffmanns_closed_form() -> None:
    for budget in (1e19, 1e22):
        closed = calibration.chinchilla_optimal_n(common.TRUTH, budget)
        found = calibration.true_optimum(common.chinchilla_loss, budget)
        assert found == pytest.approx(float(closed), rel=1e-5)


def test_score_plan_hits_misses_and_factors_by_hand() -> None:
    plan = {"median": 2.0, "lower": 1.0, "upper": 4.0}
    assert calibration.score_plan(plan, 3.0) == {
        "hit": True,
        "ratio": pytest.approx(2 / 3),
        "width": pytest.approx(4.0),
        "miss": 1.0,
    }
    below, above = calibration.score_plan(plan, 0.5), calibration.score_plan(plan, 6.0)
    assert not below["hit"] and below["miss"] == pytest.approx(2.0)
    assert not above["hit"] and above["miss"] == pytest.approx(1.5)


def test_score_plan_allows_for_the_noise_of_the_minimum() -> None:
    plan = {"median": 2.0, "lower": 1.0, "upper": 4.0}
    # 4.4 is 10% beyond the interval: a minimum pinned to 1% misses, one known to 30% hits.
    assert not calibration.score_plan(plan, 4.4, truth_se=1.01)["hit_noise_aware"]
    assert calibration.score_plan(plan, 4.4, truth_se=1.3)["hit_noise_aware"]
    assert calibration.score_plan(plan, 3.0, truth_se=1.01)["hit_noise_aware"]


@pytest.mark.parametrize("kind", list(calibration.OPT_LAWS))
def test_synthetic_sweeps_centre_their_runs_on_the_true_optimum(kind: str) -> None:
    sweep = calibration.synthetic_sweep(kind, seed=0)
    budgets = calibration.OPT_BUDGETS
    assert sweep.budget == budgets[-1] and set(sweep.train["budget"]) == set(budgets[:-1])
    assert len(sweep.held_out) == calibration.OPT_SIZES
    held = sweep.held_out
    np.testing.assert_allclose(common.COMPUTE_FACTOR * held["N"] * held["D"], sweep.budget)
    # Noise-free, the held-out curve's parabola finds the true optimum to a few percent:
    # the criterion measures the plan, not the parabola's bias.
    _, loss = calibration.OPT_LAWS[kind]
    exact = calibration.isoflop_minimum(
        sweep.held_out["N"], loss(sweep.held_out["N"], sweep.held_out["D"])
    )
    assert exact["N"] == pytest.approx(sweep.true_n, rel=0.06)


@pytest.mark.skipif(not common.EPOCH_CSV.exists(), reason="needs ../shared/data")
def test_epoch_isoflop_budgets_and_truncations() -> None:
    frame = calibration.epoch_isoflop()
    counts = frame.groupby("budget").size()
    assert list(counts.index) == list(calibration.EPOCH_BUDGETS)
    assert counts.min() >= 7  # enough runs for a parabola at every budget
    for sweep in calibration.epoch_sweeps():
        assert sweep.train["budget"].max() < sweep.budget
        assert set(sweep.held_out["budget"]) == {sweep.budget}
    # The forecast task holds out the same budgets: every forecast run lies beyond its fit's.
    task = calibration.epoch_task()
    assert [split.label for split in task.splits] == [s.name for s in calibration.epoch_sweeps()]
    for split in task.splits:
        assert split.test["C"].min() > split.train["C"].max()
        assert {"N", "D", "loss"} <= set(split.test.columns)


def test_numpyro_priors_are_bayescale_priors() -> None:
    spec = tomllib.loads((ROOT / "models" / "chinchilla.toml").read_text())
    expected = {}
    for name, entry in spec["parameters"].items():
        prior = dict(entry["prior"])
        key = f"{name}_ref" if "at_reference" in entry else name
        expected[key] = (prior.pop("dist"), prior)
    for name in ("sigma", "nu"):
        prior = dict(spec["likelihood"][name])
        expected[name] = (prior.pop("dist"), prior)
    assert baselines.CHINCHILLA_PRIORS == expected


def test_numpyro_model_samples_tiny_input() -> None:
    pytest.importorskip("jax")
    pytest.importorskip("numpyro")
    frame = common.simulate("chinchilla", 30, seed=3)
    data = baselines.numpyro_data(frame)
    result = baselines.numpyro_sample(data, draws=20, tune=20, chains=1, seed=0)
    post = result["posterior"]
    assert post["A"].shape == (1, 20)
    assert set(post) >= {"E", "A", "B", "alpha", "beta", "sigma", "nu"}
    assert result["steps_warmup"] > 0 and result["steps_sampling"] > 0
    assert np.all(np.isfinite(post["E"]))


def test_phase_timer_is_exclusive() -> None:
    phases = workers.Phases()
    with phases("outer"):
        time.sleep(0.02)
        with phases("inner"):
            time.sleep(0.03)
    assert phases.rows["inner"]["wall"] >= 0.03
    assert 0.015 <= phases.rows["outer"]["wall"] < 0.03 + 0.02
    assert phases.total() == pytest.approx(
        phases.rows["outer"]["wall"] + phases.rows["inner"]["wall"]
    )


def test_report_renders_partial_results() -> None:
    runs = {
        "pointfit": {
            "wall": 3.0,
            "process_wall": 3.1,
            "cpu": 3.0,
            "exit": 0,
            "results": {
                "pointfit": {
                    "phases": {
                        "import": {"wall": 1.0, "cpu": 1.0},
                        "grid of L-BFGS fits": {"wall": 1.5, "cpu": 1.5},
                        "bootstrap refits": {"wall": 0.4, "cpu": 0.4},
                    },
                    "params": dict(common.TRUTH),
                    "objective": 0.002,
                    "objective_at_published": 0.002,
                    "starts": 243,
                    "resamples": 20,
                    "bootstrap_90": {k: [v, v] for k, v in common.TRUTH.items()},
                }
            },
        },
        "pymc": {
            "wall": 1.0,
            "cpu": 1.0,
            "exit": 1,
            "results": {"pymc": {"error": "boom", "log_tail": ["Traceback"]}},
        },
    }
    info = {
        "date": "today",
        "elapsed": 10.0,
        "machine": common.machine(),
        "load_before": (0.1, 0.1, 0.1),
        "load_after": (0.1, 0.1, 0.1),
        "load_max": 0.1,
    }
    text = run.report(runs, info, quick=True)
    assert "Point fit + 20 bootstrap refits" in text
    assert "failed: boom" in text
    assert "## Failures" in text


def test_speed_section_prices_the_shipped_fit_against_the_law_alone() -> None:
    fit = {"ess_bulk_min": 2000.0, "r_hat_max": 1.003, "divergences": 0, "steps_sampling": 9}
    fit["means"] = dict(common.TRUTH)
    phases = {"import": {"wall": 4.0, "cpu": 4.0}, "sampling (nutpie)": {"wall": 2.0, "cpu": 4.0}}

    def job(wall: float, **extra: Any) -> dict[str, Any]:
        result = {"phases": phases, "fit": fit, **extra}
        return {"wall": wall, "cpu": wall, "exit": 0, "results": {"bayescale": result}}

    warm = {"phases": phases, "total": 2.0, "fit": fit}
    floor = {"steps_warmup": 5, "steps_sampling": 9}
    runs = {
        "bayescale": job(10.0, warm=warm, floor=floor),
        "bayescale_discrepancy": job(17.0),
    }
    text = "\n".join(run._speed_section(run.speed_rows(runs), runs))
    assert "fit alone): as shipped, with the default discrepancy" in text
    assert "the fresh process takes 17.0 s, 1.70x: met." in text
    runs["bayescale_discrepancy"] = job(25.0)
    text = "\n".join(run._speed_section(run.speed_rows(runs), runs))
    assert "takes 25.0 s, 2.50x: NOT met." in text


def test_scaling_section_explains_a_failing_fit() -> None:
    row = {
        "law": "bnsl",
        "law_parameters": 6,
        "n_runs": 245,
        "compile": 9.4,
        "sampling": 5.9,
        "fit_without_compile": 6.4,
        "steps_sampling": 152_906,
        "ess_bulk_min": 122.7,
        "r_hat_max": 1.033,
        "divergences": 18,
        "ok": False,
        "strongest_correlation": ["b", "c0", 0.9917],
        "floor": "E",
        "floor_quantiles": [1.11, 1.46, 1.72],
        "floor_at_divergences": [1.09],
        "with_3x_draws": {
            "draws": 3000,
            "ok": False,
            "divergences": 28,
            "ess_bulk_min": 340.8,
            "ess_tail_min": 371.8,
            "r_hat_max": 1.0137,
        },
    }
    good = {**row, "law": "chinchilla", "ok": True, "divergences": 0}
    for key in ("strongest_correlation", "floor", "floor_quantiles", "with_3x_draws"):
        good.pop(key)
    text = "\n".join(
        run._scaling_section(
            {
                "scaling": {
                    "wall": 1.0,
                    "results": {"scaling": {"rows": [good, row], "forecast": None}},
                }
            }
        )
    )
    assert "`bnsl` on 245 runs fails the diagnostics" in text
    assert "b–c0 +0.99" in text
    assert "E = 1.09" in text
    assert "it still fails: 28 divergences" in text
    assert "`chinchilla` on" not in text


def test_busy_cores_sees_a_spinning_process() -> None:

    spinner = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass"]
    )
    try:
        time.sleep(0.3)
        busy = run.busy_cores(1.0)
    finally:
        spinner.kill()
        spinner.wait()
    if busy is None:
        pytest.skip("no /proc/stat on this system")
    assert busy > 0.7  # one core spinning (plus whatever else runs)


def test_published_parameters_score_one_on_their_own_law_and_less_off_it() -> None:
    from bayescale.laws import get_law
    from bench import recommend

    law = get_law("farseer")
    rng = np.random.default_rng(0)
    test = pd.DataFrame({"N": 10 ** rng.uniform(9, 10.5, 7), "D": 10 ** rng.uniform(11, 11.7, 7)})
    exact = np.exp(
        law.log_mean(law.published["Li 2025"], {n: test[n].to_numpy() for n in ("N", "D")})
    )
    assert recommend.published_r2("farseer", test.assign(loss=exact))["Li 2025"] == pytest.approx(
        1.0
    )
    off = recommend.published_r2("farseer", test.assign(loss=exact * np.exp(0.01 * np.arange(7))))
    assert off["Li 2025"] < 0.9
    assert recommend.published_r2("data_constrained", test.assign(U=1e10, loss=exact)) == {}


def test_recommend_report_sets_each_selection_against_the_whole_pool_forecast() -> None:
    from bench import recommend

    pool = [0.50, 0.40, 0.30]
    assert recommend.gap_to_pool(pool, pool) == 0.0
    # 1% above at every point, and 3% off at one point of three: RMS in percent.
    assert recommend.gap_to_pool([x * 1.01 for x in pool], pool) == pytest.approx(1.0)
    assert recommend.gap_to_pool([0.515, 0.40, 0.30], pool) == pytest.approx(np.sqrt(3.0))
    assert np.isnan(recommend.gap_to_pool(None, pool))
    assert np.isnan(recommend.gap_to_pool(pool, None))

    def row(method: str, seed: int, off: float | None) -> dict[str, Any]:
        return {
            "task": "farseer",
            "method": method,
            "seed": seed,
            "level": 0.1,
            "runs": 40,
            "spent": 0.1,
            "r2": 0.9,
            "coverage_90": 0.9,
            "ok": True,
            **({} if off is None else {"median": [x * (1 + off) for x in pool]}),
        }

    results = {
        "selection": [
            row("random", 0, 0.01) | {"width_90": 0.02},
            row("random", 1, -0.03) | {"width_90": 0.04},
            row("bayescale", 0, 0.002),
            row("cheapest", 0, None),  # a row saved before forecasts were kept
        ],
        "ceiling": [
            {"task": "farseer", "runs": 9, "r2": 0.93, "coverage_90": 0.6, "ok": True}
            | {"reference_median": pool}
        ],
    }
    lines = {
        line.split(" | ")[2]: line.split(" | ")[5:8]
        for line in recommend.report(results).splitlines()
        if line.startswith("| farseer | 10% |")
    }
    assert lines["random"] == ["2.00% (median 2.00%)", "0.90", "3.0%"]
    assert lines["bayescale"] == ["0.20% (median 0.20%)", "0.90", "—"]
    assert lines["cheapest"][0] == "—"
    # A width kept by some seeds only says how many.
    results["selection"][1] = row("random", 1, -0.03)
    assert "| 0.90 | 2.0% (1 of 2 seeds) |" in recommend.report(results)
    # Without the whole pool's forecast no gap can be measured.
    results["ceiling"] = []
    assert "| bayescale | 0.900 | 0.90..0.90 | — |" in recommend.report(results)


def test_hierarchy_report_sorts_methods_and_sets_the_discrepancy_beside_partial() -> None:
    from bench import hierarchy

    def row(k: int, target: str, method: str, elpd: float, coverage: float) -> dict[str, Any]:
        return {
            "k": k,
            "target": target,
            "method": method,
            "n_test": 20,
            "elpd": elpd,
            "mare": 0.02,
            "coverage_90": coverage,
            "ok": True,
            "divergences": 0,
        }

    rows = [row(10, "c4", "partial_disc", 25.0, 0.7), row(10, "c4", "partial", 24.0, 0.5)]
    rows += [row(10, "c4", "complete", 21.0, 0.4)]
    text = hierarchy.report(rows, [])
    table = [line for line in text.splitlines() if line.startswith("| 10 | c4 |")]
    assert [line.split("|")[3].strip() for line in table] == ["partial", "complete", "partial_disc"]
    assert "c4 70% and ELPD 25.0 (without: 50%, 24.0)" in text


def test_hierarchy_loss_report_counts_each_verdict_and_shows_a_missing_fit() -> None:
    from bench import hierarchy

    def row(k: int, target: str, method: str, elpd: float) -> dict[str, Any]:
        return {"k": k, "target": target, "method": method, "elpd": elpd, "mare": 0.02}

    rows = []
    # The held-out table's rows carry no loss: they are on C4 validation.
    for target, (mine, rival) in {"c4": (5.0, 1.0), "rpj": (2.0, 3.0), "rw": (4.0, 1.0)}.items():
        rows += [row(3, target, "partial", mine) | {"coverage_90": 0.9}]
        rows += [row(3, target, "complete", rival) | {"coverage_90": 0.5}]
    rows += [
        row(6, "c4", "partial", 9.0) | {"coverage_90": 0.7, "loss": "loss_de_en"},
        row(6, "c4", "none", 1.0) | {"coverage_90": 1.0, "loss": "loss_de_en"},
        # A failed fit is no verdict.
        row(6, "rw", "partial", float("nan")) | {"coverage_90": 0.9, "loss": "loss_de_en"},
        row(6, "rw", "none", 1.0) | {"coverage_90": 1.0, "loss": "loss_de_en"},
    ]
    text = "\n".join(hierarchy.loss_report(rows))
    assert "| c4_val | 3 | rpj | 2.0 | complete | 3.0 | NO |" in text
    assert "| c4_val | 3 | c4 | 5.0 | complete | 1.0 | yes |" in text
    assert "| de_en | 6 | c4 | 9.0 | none | 1.0 | yes | 2.00% | 2.00% | 70% | 100% |" in text
    assert "| de_en | 6 | rw | — | none | — | no fit |" in text
    assert (
        "* k = 6: partial beats none in 1 of 1 (loss, target) pairs; partial: summed ELPD 9.0, "
        "mean 90% coverage 70%, at least 80% in 0 of 1; none: summed ELPD 1.0, mean 90% "
        "coverage 100%, at least 80% in 1 of 1." in text
    )
    assert (
        "* k = 3: partial beats complete in 2 of 3 (loss, target) pairs; partial: summed ELPD "
        "11.0, mean 90% coverage 90%, at least 80% in 3 of 3; complete: summed ELPD 5.0, mean "
        "90% coverage 50%, at least 80% in 0 of 3." in text
    )


def test_results_lock_excludes_another_process_until_released(tmp_path: Path) -> None:
    from bench import common

    results = tmp_path / "recommend.json"
    probe = (
        "import fcntl, sys\n"
        f"handle = open({str(results) + '.lock'!r}, 'a')\n"
        "try:\n"
        "    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    sys.exit(3)\n"
    )
    with common.results_lock(results):
        held = subprocess.run([sys.executable, "-c", probe], check=False)
    free = subprocess.run([sys.executable, "-c", probe], check=False)
    assert (held.returncode, free.returncode) == (3, 0)
    common.write_result(results, "{}")
    common.write_result(results, '{"a": 1}')  # replaces, atomically
    assert results.read_text() == '{"a": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recommend.json", "recommend.json.lock"]


def test_the_downstream_bench_gives_each_fit_only_settings_it_takes() -> None:
    # The bench passed discrepancy= to fit_joint, which refuses it: `make bench-downstream`
    # stopped after its first loss and link fits.
    import dataclasses

    from bayescale.settings import SamplerSettings
    from bench import downstream as bench

    sampler_keys = {f.name for f in dataclasses.fields(SamplerSettings)}
    assert set(bench.JOINT_SAMPLER) <= sampler_keys
    assert set(bench.TASK_SAMPLER) <= sampler_keys | {"discrepancy"}
    assert set(bench.SAMPLER) - set(bench.JOINT_SAMPLER) == {"discrepancy"}
