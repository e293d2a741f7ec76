"""Fast checks of the convergence benchmark (bench/convergence.py): no bayescale fits."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bayescale  # noqa: E402
from bench import common  # noqa: E402
from bench import convergence as cv  # noqa: E402
from bench import convergence_corpus as cc  # noqa: E402

SHARED_DATA = common.SHARED.exists()


def _available(entry: cc.Entry) -> bool:
    return (entry.source != "real" and entry.name != "epoch_chinchilla") or SHARED_DATA


def test_corpus_names_are_unique_and_span_the_issue() -> None:
    names = [e.name for e in cc.CORPUS]
    assert len(names) == len(set(names))
    assert 25 <= len(names) <= 32
    assert {"catalog", "real", "simulated"} == {e.source for e in cc.CORPUS}
    # every catalog law is in the corpus on simulated runs
    simulated_catalog = {e.catalog for e in cc.CORPUS if e.source == "catalog"}
    assert set(bayescale.catalog()) <= simulated_catalog
    assert set(cc.QUICK) <= set(names) and len(cc.QUICK) == 4


@pytest.mark.parametrize("entry", cc.CORPUS, ids=lambda e: e.name)
def test_entries_build(entry: cc.Entry) -> None:
    if not _available(entry):
        pytest.skip("needs ../shared/data")
    law = entry.law()
    frame = entry.frame()
    assert set(law.inputs) == set(entry.inputs)
    assert set(entry.inputs) <= set(frame.columns)
    assert np.all(frame["loss"].to_numpy() > 0)
    assert np.all(frame[list(entry.inputs)].to_numpy() > 0)
    if entry.catalog is None:
        assert set(law.parameters) == set(entry.priors)
        assert law.formula.text == entry.formula


def test_issue_sizes_are_present() -> None:
    by = {e.name: e for e in cc.CORPUS}
    seven = by[cv.GOAL_ENTRY_7P]
    assert seven.n_params == 7 and 900 <= seven.n_runs <= 1200
    twenty = by["sim_mixture_scale_20p"]
    assert twenty.n_params == 20 and 2500 <= twenty.n_runs <= 3000
    sizes = [e.n_params for e in cc.CORPUS if _available(e)]
    assert min(sizes) == 3 and max(sizes) == 20


@pytest.mark.parametrize("name", ["sim_mixture_ye", "catalog_bnsl", "sim_lr_batch_11p"])
def test_simulations_are_deterministic(name: str) -> None:
    (entry,) = cc.by_name([name])
    pd.testing.assert_frame_equal(entry.frame(), entry.frame())


def test_noise_is_seeded_and_small() -> None:
    mean = np.full(20_000, 2.0)
    a = cc.noisy(mean, np.random.default_rng(1))
    b = cc.noisy(mean, np.random.default_rng(1))
    c = cc.noisy(mean, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(np.median(np.log(a / mean))) < 1e-3
    assert 0.006 < np.median(np.abs(np.log(a / mean))) < 0.009  # 0.01 t5: median |t5| 0.73


def test_simulated_data_follow_the_truth() -> None:
    (entry,) = cc.by_name(["sim_moe_granularity"])
    frame = entry.frame()
    p = cc.MOE_TRUTH
    mean = entry.law().predict(p, {k: frame[k].to_numpy() for k in entry.inputs})
    assert np.median(np.abs(np.log(frame["loss"] / mean))) < 0.02


def test_by_name_refuses_unknown_names() -> None:
    with pytest.raises(KeyError, match="no corpus entry nope"):
        cc.by_name(["nope"])


def test_formulas_parse_with_their_roles() -> None:
    law = cc.by_name(["sim_mixture_scale_20p"])[0].law()
    assert len(law.parameters) == 20
    assert {f"r{j}" for j in range(1, 9)} <= set(law.inputs)


def test_prior_draws_match_their_distribution() -> None:
    rng = np.random.default_rng(0)
    draws = cv.prior_draws({"dist": "LogNormal", "mu": 1.0, "sigma": 0.5}, 20_000, rng)
    assert abs(np.mean(np.log(draws)) - 1.0) < 0.02
    assert abs(np.std(np.log(draws)) - 0.5) < 0.02
    half = cv.prior_draws({"dist": "HalfNormal", "sigma": 2.0}, 1000, rng)
    assert np.all(half >= 0)
    with pytest.raises(ValueError, match="no sampler for prior 'Wald'"):
        cv.prior_draws({"dist": "Wald", "mu": 1.0}, 3, rng)


def test_huber_fit_recovers_a_noiseless_power_law() -> None:
    law = bayescale.Law.from_formula(
        "E + A * N**-alpha",
        priors={
            "E": {"dist": "LogNormal", "mu": 0.5, "sigma": 0.75},
            "A": {"dist": "LogNormal", "mu": 6.0, "sigma": 3.0},
            "alpha": {"dist": "LogNormal", "mu": -1.2, "sigma": 0.6},
        },
    )
    n = np.geomspace(1e6, 1e10, 30)
    truth = {"E": 1.8, "A": 480.0, "alpha": 0.35}
    frame = pd.DataFrame({"N": n, "loss": truth["E"] + truth["A"] * n ** -truth["alpha"]})
    result = cv.point_fit(law, frame, starts=20, seed=0)
    for name, value in truth.items():
        assert result["params"][name] == pytest.approx(value, rel=1e-3)
    assert result["rmse_log"] < 1e-5


def test_point_law_handles_reference_parameters() -> None:
    # The catalog's A is stated at the reference scale: the fit must still return A itself.
    law = bayescale.get_law("power_law_N")
    n = np.geomspace(1e7, 1e10, 25)
    truth = common.TRUTH_POWER_LAW_N
    frame = pd.DataFrame({"N": n, "loss": truth["E"] + truth["A"] * n ** -truth["alpha"]})
    result = cv.point_fit(law, frame, starts=20, seed=0)
    assert result["params"]["A"] == pytest.approx(truth["A"], rel=1e-2)
    assert result["params"]["alpha"] == pytest.approx(truth["alpha"], rel=1e-3)


def _record(name: str, ok: bool, seconds: float, point: float, **extra: object) -> dict:
    return {
        "name": name,
        "source": "simulated",
        "n_params": 7,
        "n_runs": 1080,
        "point": {"seconds": point},
        "bayescale": {
            "seconds": seconds,
            "ok": ok,
            "compiled_before": False,
            "r_hat_max": 1.002 if ok else 1.2,
            "ess_bulk_min": 900.0,
            "ess_tail_min": 800.0,
            "divergences": 0 if ok else 4,
            "message": "diagnostics pass" if ok else "DIAGNOSTICS FAIL: R-hat | bad",
            "sampler_log": None,
        },
        **extra,
    }


def test_summary_and_table() -> None:
    records = [
        _record(cv.GOAL_ENTRY_7P, True, 30.0, 20.0),
        _record("b", False, 90.0, 10.0),
        {"name": "c", "point": {"seconds": 5.0}, "timeout": 600.0, "error": "timed out"},
        {"name": "d", "skipped": True, "error": "no default priors"},
    ]
    s = cv.summary(records)
    assert s["entries"] == 3 and s["passed"] == 1
    assert s["max_ratio"] == pytest.approx(120.0) and s["max_ratio_entry"] == "c"
    assert s["seconds_7p"] == 30.0
    assert s["verdicts"] == {"pass_rate": "FAIL", "max_ratio": "FAIL", "seconds_7p": "PASS"}
    lines = cv.table(records)
    assert len(lines) == 2 + len(records) + 1
    assert all(line.count(" | ") == lines[0].count(" | ") for line in lines[2:-1])
    assert "no (timeout)" in lines[4] and "skipped" in lines[5]
    assert "R-hat \\| bad" in lines[3]  # a pipe in a message does not break the row
    text = cv.render(records, {"timeout": 600.0, "seconds": 12.0})
    assert "**FAIL**" in text and "**PASS**" in text


def test_all_pass_summary() -> None:
    records = [_record(cv.GOAL_ENTRY_7P, True, 30.0, 20.0), _record("b", True, 20.0, 10.0)]
    assert set(cv.summary(records)["verdicts"].values()) == {"PASS"}
