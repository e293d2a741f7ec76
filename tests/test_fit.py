"""Tests of bayescale.fitting on simulated Chinchilla runs: summaries, diagnostics, save/load."""

from __future__ import annotations

import json
import math
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import HEALTHY, TRUTH, chinchilla_loss

import bayescale
from bayescale.errors import (
    BayescaleError,
    ConvergenceError,
    DataError,
    ExtrapolationWarning,
    OutputExistsError,
    SlipWarning,
)
from bayescale.laws import catalog, get_law

PARAMS = ["E", "A", "B", "alpha", "beta", "sigma", "nu"]
AT = {"N": [1e8, 1e9, 1e10, 7e10], "D": [2e9, 2e10, 2e11, 1.4e12]}


# --------------------------------------------------------------------------- summary


def test_summary_has_every_parameter_and_column(healthy_fit):
    table = healthy_fit.summary()
    assert list(table.index) == PARAMS
    assert list(table.columns) == [
        "role",
        "mean",
        "sd",
        "median",
        "hdi_90_lower",
        "hdi_90_upper",
        "r_hat",
        "ess_bulk",
        "ess_tail",
    ]
    assert table.loc["E", "role"] == "floor" and table.loc["sigma", "role"] == "noise"
    numbers = table.drop(columns="role")
    assert np.isfinite(numbers.to_numpy(dtype=float)).all()
    assert (table["hdi_90_lower"] < table["median"]).all()
    assert (table["median"] < table["hdi_90_upper"]).all()
    assert (table["sd"] > 0).all()
    # The values are those of the draws.
    draws = healthy_fit.draws()
    for name in PARAMS:
        assert table.loc[name, "mean"] == pytest.approx(draws[name].mean(), rel=1e-12)
        assert table.loc[name, "median"] == pytest.approx(np.median(draws[name]), rel=1e-12)
        assert table.loc[name, "sd"] == pytest.approx(draws[name].std(ddof=1), rel=1e-12)
        assert len(draws[name]) == HEALTHY["chains"] * HEALTHY["draws"]
    # A wider level gives a wider interval, and the column names follow the level.
    wide = healthy_fit.summary(level=0.99)
    assert "hdi_99_lower" in wide.columns
    assert (wide["hdi_99_lower"] <= table["hdi_90_lower"]).all()
    assert (wide["hdi_99_upper"] >= table["hdi_90_upper"]).all()


def test_healthy_fit_recovers_the_simulation(healthy_fit):
    table = healthy_fit.summary()
    # 60 runs with 1% noise: E and the exponents are pinned to a few percent.
    assert table.loc["E", "median"] == pytest.approx(TRUTH["E"], rel=0.08)
    assert table.loc["alpha", "median"] == pytest.approx(TRUTH["alpha"], rel=0.15)
    assert table.loc["beta", "median"] == pytest.approx(TRUTH["beta"], rel=0.15)
    assert table.loc["sigma", "median"] == pytest.approx(0.01, rel=0.4)
    # The law is pinned much more tightly than its parameters, inside the data.
    forecast = healthy_fit.forecast({"N": [1e8, 1e9], "D": [3e9, 3e10]})
    truth = chinchilla_loss([1e8, 1e9], [3e9, 3e10])
    np.testing.assert_allclose(forecast["law_median"], truth, rtol=0.01)


def test_reference_scale_parameters_are_consistent(healthy_fit, sim_runs):
    assert healthy_fit.log_ref == {
        "N": pytest.approx(np.mean(np.log(sim_runs.x("N"))), rel=1e-14),
        "D": pytest.approx(np.mean(np.log(sim_runs.x("D"))), rel=1e-14),
    }
    post = healthy_fit.idata.posterior
    np.testing.assert_allclose(
        np.log(post["A"]),
        np.log(post["A_ref"]) + post["alpha"] * healthy_fit.log_ref["N"],
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        np.log(post["B"]),
        np.log(post["B_ref"]) + post["beta"] * healthy_fit.log_ref["D"],
        rtol=1e-10,
    )


# --------------------------------------------------------------------------- diagnostics


def test_healthy_fit_passes_its_diagnostics(healthy_fit):
    diag = healthy_fit.diagnostics
    assert healthy_fit.ok and diag.ok and diag.problems == []
    assert diag.verdict().startswith("diagnostics pass")
    assert diag.divergences == 0
    assert (diag.chains, diag.draws) == (2, 500)
    assert list(diag.table.index) == PARAMS
    assert (diag.table["r_hat"] <= 1.01).all()
    assert (diag.table[["ess_bulk", "ess_tail"]] >= 200).all().all()
    assert "ok" in repr(healthy_fit) and "FAILED" not in repr(healthy_fit)
    assert "discrepancy=backtest" in repr(healthy_fit)  # learned by default
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = healthy_fit.forecast(AT)
    assert table.attrs["diagnostics_ok"] is True
    assert "warning" not in table.attrs


def test_starved_fit_is_flagged(starved_fit):
    diag = starved_fit.diagnostics
    assert not starved_fit.ok and not diag.ok
    assert diag.verdict().startswith("DIAGNOSTICS FAIL: ")
    # 2 x 20 draws can never reach 200 effective draws.
    assert any("ess bulk" in p and "(< 200)" in p for p in diag.problems)
    assert "FAILED DIAGNOSTICS" in repr(starved_fit)
    # A fresh Fit of the same posterior: the session's fixture may have warned already.
    fresh = bayescale.Fit(*(getattr(starved_fit, k) for k in FIT_FIELDS))
    with pytest.warns(UserWarning, match="forecast from a fit that failed its diagnostics"):
        table = fresh.forecast(AT)
    assert table.attrs["diagnostics_ok"] is False
    assert "DIAGNOSTICS FAIL" in table.attrs["warning"]
    # One warning per fit, not one per forecast; every table still says so. (Its 40 draws
    # leave 2 beyond each end of a 90% interval: that is said of every forecast.)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=r"a 90% interval from 40 posterior draws")
        again = fresh.forecast(AT)
    assert "DIAGNOSTICS FAIL" in again.attrs["warning"]


@pytest.mark.parametrize(
    ("what", "call"),
    [
        ("compute-optimal plan", lambda f: f.compute_optimal([1e22])),
        ("budget for the target", lambda f: f.budget_for(2.2)),
        ("probability of the target", lambda f: f.prob_below(2.2, N=[1e9], D=[2e10])),
        (
            "recommendation",
            lambda f: f.recommend(
                {"N": [1e8, 3e8], "D": [2e9, 6e9]}, {"N": [1e10], "D": [2e11]}, fantasies=4
            ),
        ),
    ],
)
def test_every_decision_from_a_failed_fit_says_so(starved_fit, what, call):
    # A plan or a probability is as untrustworthy as a forecast from such a fit: each warns
    # (once per fit) and its table carries the verdict.
    fresh = bayescale.Fit(*(getattr(starved_fit, k) for k in FIT_FIELDS))
    with pytest.warns(UserWarning, match=f"{what} from a fit that failed its diagnostics") as seen:
        table = call(fresh)
    assert seen[0].filename == __file__  # the user's line, not bayescale's
    assert table.attrs["diagnostics_ok"] is False
    assert "DIAGNOSTICS FAIL" in table.attrs["warning"]
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        assert call(fresh).attrs["diagnostics_ok"] is False
    # Once per fit: other warnings (about the candidates, say) may come again, not this one.
    assert not [w for w in again if "failed its diagnostics" in str(w.message)]


FIT_FIELDS = ("law", "runs", "idata", "log_ref", "seed", "settings", "info")


def _diagnostics(r_hat, ess, divergences=0, chains=4):
    table = pd.DataFrame(
        {"r_hat": r_hat, "ess_bulk": ess, "ess_tail": ess}, index=["E", "alpha", "beta"]
    )
    return bayescale.Diagnostics(table, divergences=divergences, chains=chains, draws=1000)


def test_diagnostics_thresholds():
    good = _diagnostics([1.0, 1.01, 1.005], [400.0, 900.0, 1000.0])
    assert good.ok and good.ess_min == 400.0
    assert good.verdict().startswith("diagnostics pass: R-hat <= 1.01, bulk/tail ESS >= 400")
    rhat = _diagnostics([1.0, 1.02, 1.011], [900.0] * 3)
    assert rhat.problems == [
        "R-hat of alpha is 1.020 (> 1.01): chains disagree; run longer (more tune/draws)"
    ]
    # Just above the limit: shown with the digit that puts it there.
    near = _diagnostics([1.0, 1.0104, 1.0], [900.0] * 3)
    assert near.problems[0].startswith("R-hat of alpha is 1.0104 (> 1.01)")
    nearer = _diagnostics([1.0, 1.01004, 1.0], [900.0] * 3)
    assert nearer.problems[0].startswith("R-hat of alpha is 1.01004 (> 1.01)")
    # After retries with fewer chains or draws than the defaults: sample more, first.
    from bayescale.ladder import Attempt

    tries = (Attempt(150, 150, 0.95, 10, 0), Attempt(300, 300, 0.95, 10, 1))
    small = bayescale.Diagnostics(rhat.table, divergences=0, chains=2, draws=300, attempts=tries)
    assert (
        "sample more (this fit kept 2 chains x 300 draws; the defaults are 4 x 1000)"
        in (small.problems[0])
    )
    nan = _diagnostics([1.0, np.nan, 1.0], [900.0] * 3)
    assert not nan.ok and "R-hat of alpha is nan" in nan.problems[0]
    ess = _diagnostics([1.0] * 3, [900.0, 399.0, 500.0])
    assert ess.problems == [
        "ess bulk of alpha is 399 (< 400): take more draws",
        "ess tail of alpha is 399 (< 400): take more draws",
    ]
    divergent = _diagnostics([1.0] * 3, [900.0] * 3, divergences=3)
    assert not divergent.ok
    assert divergent.problems[0].startswith("3 divergent transitions")
    assert "raise target_accept (e.g. 0.99)" in divergent.verdict()
    # Advice matches what was tried: no "raise target_accept" when it is 0.99 already.
    tried = bayescale.Diagnostics(
        divergent.table, divergences=3, chains=4, draws=1000, target_accept=0.99
    )
    assert "raise target_accept" not in tried.verdict()
    assert "tighten the priors or reparameterise" in tried.verdict()
    usual = bayescale.Diagnostics(
        divergent.table, divergences=3, chains=4, draws=1000, target_accept=0.95
    )
    assert "raise target_accept (e.g. 0.99, it was 0.95)" in usual.verdict()
    # One chain: R-hat is undefined and not asked for; ESS still is (100 per chain).
    single = _diagnostics([np.nan] * 3, [150.0] * 3, chains=1)
    assert single.ok and single.ess_min == 100.0


def test_strict_fit_raises_convergence_error(sim_runs):
    with pytest.raises(ConvergenceError, match=r"law 'chinchilla': DIAGNOSTICS FAIL"):
        bayescale.fit(
            sim_runs, "chinchilla", draws=20, tune=20, chains=2, seed=1, prior_draws=0, strict=True
        )


def test_same_seed_gives_the_same_draws(healthy_fit, sim_runs):
    again = bayescale.fit(sim_runs, "chinchilla", **HEALTHY, prior_draws=0)
    for name in PARAMS:
        np.testing.assert_array_equal(
            again.idata.posterior[name].values, healthy_fit.idata.posterior[name].values
        )


# --------------------------------------------------------------------------- errors


def test_missing_input_is_a_data_error(sim_runs):
    only_n = bayescale.load_runs(
        pd.DataFrame({"N": sim_runs.x("N"), "loss": sim_runs.y}), x={"N": "N"}
    )
    with pytest.raises(DataError, match=r"law 'power_law_C' needs input 'C'"):
        bayescale.fit(only_n, "power_law_C", draws=10, tune=10, chains=1)


def test_too_few_runs_is_a_data_error(sim_runs):
    few = sim_runs.subset(np.arange(len(sim_runs)) < 5)
    with pytest.raises(DataError, match=r"has 7 parameters but the data has 5 runs"):
        bayescale.fit(few, "chinchilla", draws=10, tune=10, chains=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"draws": 0}, "draws must be a whole number >= 1"),
        ({"chains": 1.5}, "chains must be a whole number"),
        ({"tune": True}, "tune must be a whole number"),
        ({"target_accept": 1.0}, "target_accept must be in"),
    ],
)
def test_invalid_sampler_settings(sim_runs, kwargs, message):
    with pytest.raises(DataError, match=message):
        bayescale.fit(sim_runs, "chinchilla", **kwargs)


def test_unknown_law_and_prior_names_fail_before_sampling(sim_runs):
    with pytest.raises(bayescale.LawError, match="did you mean 'chinchilla'"):
        bayescale.fit(sim_runs, "chinchila")
    with pytest.raises(bayescale.LawError, match="no parameter 'gamma'"):
        bayescale.fit(sim_runs, "chinchilla", priors={"gamma": {"dist": "Normal"}})


# --------------------------------------------------------------------------- saved fits


@pytest.fixture(scope="module")
def saved(healthy_fit, tmp_path_factory):
    path = tmp_path_factory.mktemp("fits") / "fit.nc"
    assert healthy_fit.save(path) == path
    return path


def test_save_load_round_trip_is_exact(healthy_fit, saved):
    loaded = bayescale.load_fit(saved)
    assert loaded.forecast(AT).equals(healthy_fit.forecast(AT))
    assert loaded.forecast(AT, level=[0.5, 0.9], seed=3).equals(
        healthy_fit.forecast(AT, level=[0.5, 0.9], seed=3)
    )
    pd.testing.assert_frame_equal(loaded.summary(), healthy_fit.summary())
    assert loaded.runs == healthy_fit.runs
    assert loaded.law.to_dict() == healthy_fit.law.to_dict()
    assert loaded.seed == healthy_fit.seed == HEALTHY["seed"]
    assert loaded.log_ref == healthy_fit.log_ref
    assert loaded.settings == healthy_fit.settings
    assert loaded.ok == healthy_fit.ok


def test_fit_file_records_law_priors_seed_and_versions(saved):
    idata = az.from_netcdf(saved, engine="h5netcdf")
    meta = json.loads(idata.posterior.attrs["bayescale"])
    law = meta["law"]
    assert law["formula"] == "E + A / N**alpha + B / D**beta"
    assert law["source_text"] == catalog()["chinchilla"].read_text(encoding="utf-8")
    assert law["parameters"]["E"]["prior"] == {"dist": "LogNormal", "mu": 0.4, "sigma": 1.0}
    assert law["parameters"]["A"]["at_reference"] == {"input": "N", "power": "alpha"}
    assert law["likelihood"]["nu"] == {"dist": "Gamma", "alpha": 2.0, "beta": 0.1}
    assert meta["seed"] == HEALTHY["seed"]
    assert meta["settings"]["draws"] == 500 and meta["settings"]["chains"] == 2
    versions = meta["info"]["versions"]
    for package in ("python", "bayescale", "pymc", "pytensor", "nutpie", "arviz", "numpy"):
        assert versions[package] and versions[package] != "not installed", package
    assert versions["bayescale"] == bayescale.__version__
    assert len(meta["info"]["data_fingerprint"]) == 64
    assert meta["runs"]["table"]["N"] == meta["runs"]["table"]["N"]  # plain JSON lists
    assert len(meta["runs"]["table"]["y"]) == 60


def test_idata_groups(healthy_fit, sim_runs):
    idata = healthy_fit.idata
    for group in (
        "posterior",
        "sample_stats",
        "observed_data",
        "constant_data",
        "prior",
    ):
        assert hasattr(idata, group), group
    ll = healthy_fit.log_likelihood()["y"]
    assert ll.dims == ("chain", "draw", "run")
    assert ll.shape == (2, 500, 60)
    np.testing.assert_array_equal(idata.observed_data["y"].values, np.log(sim_runs.y))
    np.testing.assert_array_equal(idata.constant_data["N"].values, sim_runs.x("N"))
    np.testing.assert_array_equal(idata.constant_data["D"].values, sim_runs.x("D"))
    np.testing.assert_array_equal(idata.constant_data["loss"].values, sim_runs.y)
    assert idata.prior.sizes["draw"] == 500
    for name in ("E", "A", "A_ref", "B_ref", "alpha", "sigma", "nu"):
        assert name in idata.prior
    # The prior is the prior: E ~ LogNormal(0.4, 1) has median 1.5 and log-sd 1.
    log_e = np.log(idata.prior["E"].values.reshape(-1))
    assert np.median(log_e) == pytest.approx(0.4, abs=0.15)
    assert np.std(log_e) == pytest.approx(1.0, abs=0.12)
    assert int(idata.sample_stats["diverging"].sum()) == 0


def _student_t_logpdf(x, nu, mu, sigma):
    z = (x - mu) / sigma
    return (
        math.lgamma((nu + 1) / 2)
        - math.lgamma(nu / 2)
        - 0.5 * math.log(nu * math.pi)
        - math.log(sigma)
        - (nu + 1) / 2 * math.log1p(z * z / nu)
    )


def test_log_likelihood_matches_an_independent_computation(healthy_fit, sim_runs):
    post = healthy_fit.idata.posterior.isel(chain=1, draw=123)
    p = {name: float(post[name]) for name in PARAMS}
    N, D, y = sim_runs.x("N"), sim_runs.x("D"), sim_runs.y
    expected = [
        _student_t_logpdf(
            math.log(y[i]), p["nu"], math.log(chinchilla_loss(N[i], D[i], p)), p["sigma"]
        )
        for i in range(len(y))
    ]
    got = healthy_fit.log_likelihood()["y"].isel(chain=1, draw=123).values
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_save_refuses_to_overwrite(healthy_fit, starved_fit, saved):
    before = saved.read_bytes()
    with pytest.raises(OutputExistsError, match=r"exists already.*overwrite=True"):
        healthy_fit.save(saved)
    assert saved.read_bytes() == before
    # overwrite=True replaces it (with another fit, to tell them apart); no temporary left.
    copy = saved.parent / "copy.nc"
    copy.write_bytes(before)
    starved_fit.save(copy, overwrite=True)
    assert bayescale.load_fit(copy).diagnostics.draws == 20
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.nc", "fit.nc"]


def test_save_into_a_missing_folder(healthy_fit, tmp_path):
    target = tmp_path / "missing" / "fit.nc"
    with pytest.raises(BayescaleError, match=r"folder .*missing.* does not exist"):
        healthy_fit.save(target)
    assert list(tmp_path.iterdir()) == []


def test_load_fit_refuses_what_is_not_a_fit(tmp_path):
    with pytest.raises(BayescaleError, match=r"fit file not found"):
        bayescale.load_fit(tmp_path / "nope.nc")
    text = tmp_path / "x.nc"
    text.write_text("not a fit\n")
    with pytest.raises(BayescaleError, match=r"is not a bayescale fit file"):
        bayescale.load_fit(text)
    other = tmp_path / "other.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(BayescaleError, match=r"is not a bayescale fit file"):
        bayescale.load_fit(other)
    with pytest.raises(BayescaleError):
        bayescale.load_fit(tmp_path)  # a folder


# --------------------------------------------------------------------------- priors


def test_prior_override_moves_the_posterior(healthy_fit, sim_runs):
    # A tight prior at E = 1.5 (the truth is 1.82): the data let A, B, alpha, beta adapt,
    # so E follows the prior instead of the data.
    tight = {"E": {"dist": "LogNormal", "mu": math.log(1.5), "sigma": 0.01}}
    result = bayescale.fit(sim_runs, "chinchilla", **HEALTHY, priors=tight, prior_draws=100)
    e_default = healthy_fit.summary().loc["E", "median"]
    e_tight = result.summary().loc["E", "median"]
    assert e_default > 1.65
    assert e_tight == pytest.approx(1.5, abs=0.04)
    assert result.law.parameters["E"].prior.parameters == {"mu": math.log(1.5), "sigma": 0.01}
    # The prior group holds the new prior; the other priors are unchanged.
    log_e = np.log(result.idata.prior["E"].values)
    assert np.median(log_e) == pytest.approx(math.log(1.5), abs=0.005)
    assert result.law.parameters["alpha"].prior == get_law("chinchilla").parameters["alpha"].prior


def test_forecast_points_as_records_with_labels_and_a_checked_compute(healthy_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain = healthy_fit.forecast({"N": [1e9, 3e9], "D": [2e10, 6e10]})
        records = healthy_fit.forecast([{"N": 1e9, "D": 2e10}, {"N": 3e9, "D": 6e10}])
        labelled = healthy_fit.forecast(
            pd.DataFrame({"run": ["small", "big"], "N": [1e9, 3e9], "D": [2e10, 6e10]})
        )
    pd.testing.assert_frame_equal(records, plain)
    # A label is carried to the table, and the numbers are the same.
    assert list(labelled["run"]) == ["small", "big"]
    pd.testing.assert_frame_equal(labelled.drop(columns="run"), plain)
    # A DataFrame's index (run names, a filtered frame's row numbers) is the table's.
    named = healthy_fit.forecast(
        pd.DataFrame({"N": [1e9, 3e9], "D": [2e10, 6e10]}, index=pd.Index(["s", "b"], name="id"))
    )
    assert list(named.index) == ["s", "b"] and named.index.name == "id"
    pd.testing.assert_frame_equal(named.reset_index(drop=True), plain)
    # C given with N and D must agree with them (up to how FLOPs are counted).
    with pytest.raises(DataError, match=r"point 2: C = 1e\+20 .* factor 2"):
        healthy_fit.forecast({"N": [1e9, 3e9], "D": [2e10, 6e10], "C": [1.2e20, 1e20]})
    with pytest.raises(DataError, match=r"forecast input N=.* is not a number"):
        healthy_fit.forecast({"N": ["big"], "D": [2e10]})
    with pytest.raises(DataError, match=r"forecast points must be a mapping like \{'N'"):
        healthy_fit.forecast([7e10, 1.4e12])


def test_an_input_with_one_value_in_every_run_is_warned_about():
    from conftest import simulate_runs

    from bayescale.errors import DataWarning

    runs = simulate_runs(np.full(12, 1e9), np.geomspace(1e9, 1e11, 12), seed=1)
    with pytest.warns(DataWarning, match=r"every run has N = 1e\+09 .* follow their priors"):
        bayescale.fit(
            runs, "chinchilla", draws=20, tune=20, chains=1, retries=0, discrepancy="none"
        )


# --------------------------------------------------------------------------- planning


def test_budget_for_gives_one_runs_odds_at_its_median_and_upper_end(healthy_fit):
    # The compute interval is the law's (the average run): a planner sizing one run from its
    # upper end must see that run's own chance, which the discrepancy and the noise lower.
    table = healthy_fit.budget_for(2.2, level=[0.5, 0.9])
    row = table.iloc[0]
    for where in ("median", "upper_50", "upper_90"):
        again = healthy_fit.prob_below(2.2, C=row[f"C_{where}"])
        assert row[f"prob_run_below_{where}_C"] == again["prob_run_below"].iloc[0]
    assert row["prob_run_below_median_C"] < row["prob_run_below_upper_90_C"] < 0.95


def test_budget_for_one_runs_chance_is_where_prob_below_reaches_it(healthy_fit):
    # "How much compute for a 90% chance that our run gets there?": the smallest budget at
    # which prob_below's one-run chance reaches 90%, beyond the law's own interval.
    table = healthy_fit.budget_for([2.2, 2.1], level=0.9, prob=[0.5, 0.9])
    for _, row in table.iterrows():
        for p in (0.5, 0.9):
            budget = row[f"C_run_prob_{p * 100:g}"]
            at, below = healthy_fit.prob_below(row["target_loss"], C=[budget, budget / 1.01])[
                "prob_run_below"
            ]
            assert at >= p > below
        assert row["C_run_prob_50"] < row["C_run_prob_90"]
        assert row["C_run_prob_90"] > row["C_upper_90"]  # one run needs more than the law
    assert table["C_run_prob_90"].iloc[0] < table["C_run_prob_90"].iloc[1]


def test_budget_for_a_chance_no_budget_gives_is_inf_and_said(healthy_fit):
    floor = float(np.median(healthy_fit.draws(["E"])["E"]))
    with pytest.warns(UserWarning, match=r"no budget up to 1e40 FLOPs gives one run a 99% chan"):
        table = healthy_fit.budget_for(floor * 1.001, prob=0.99)
    assert np.isinf(table["C_run_prob_99"].iloc[0])
    with pytest.raises(DataError, match=r"prob must be a probability .* a 90% chance"):
        healthy_fit.budget_for(2.2, prob=90)


def test_a_target_the_runs_already_reach_is_said_to_be(healthy_fit, sim_runs):
    smallest = (6 * sim_runs.x("N") * sim_runs.x("D")).min()
    with pytest.warns(UserWarning, match=r"target loss 20 is met below the compute of the smal"):
        table = healthy_fit.budget_for(20.0)
    assert table["C_median"].iloc[0] < smallest
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a target beyond the runs: no such warning
        healthy_fit.budget_for(2.0)


def test_plans_are_smooth_in_the_budget(healthy_fit):
    # Each budget used to draw its own noise: a larger budget could get a smaller lower bound.
    budgets = np.logspace(20, 26, 13)
    table = healthy_fit.compute_optimal(budgets, sweep={"runs": 7, "spread": 1.5, "noise": 0.01})
    for column in [c for c in table.columns if c.startswith("N_") and "tokens" not in c]:
        assert np.all(np.diff(table[column].to_numpy()) > 0), column
    one = healthy_fit.compute_optimal([1e24], sweep={"runs": 7, "spread": 1.5, "noise": 0.01})
    assert table["C"].iloc[8] == 1e24  # the same row, asked alone or among others
    pd.testing.assert_series_equal(one.iloc[0], table.iloc[8], check_names=False)


def test_a_group_given_as_a_number_is_taken_as_its_name(healthy_fit):
    # A group column of numbers gives group names '1', '2', ...: group=4 was a TypeError.
    for call in (
        lambda: healthy_fit.forecast({"N": [1e9], "D": [2e10]}, group=4),
        lambda: healthy_fit.prob_below(2.2, C=1e21, group=4),
        lambda: healthy_fit.budget_for(2.2, group=4),
    ):
        with pytest.raises(DataError, match=r"this fit has no groups.*asked for group '4'"):
            call()


def test_a_law_below_zero_everywhere_is_named_not_a_sampler_backtrace(sim_runs):
    # nutpie said "All initialization points failed ... ErrorCode(3)" with a Rust backtrace.
    with pytest.raises(bayescale.LawError, match=r"not finite at any starting point.*<= 0"):
        bayescale.fit(
            sim_runs,
            "E + A / N**alpha - 10",
            draws=20,
            tune=20,
            chains=1,
            retries=0,
            discrepancy="none",
        )


# --------------------------------------------------------------------------- far forecasts


def test_forecast_warns_once_of_points_far_beyond_the_backtests(healthy_fit):
    from bayescale.planning import FAR_BEYOND_BACKTESTS, backtest_reach

    reach = backtest_reach(healthy_fit.discrepancy.info)
    # N in billions by mistake (below every run), a point inside, and one far above.
    at = {"N": [70.0, 1e9, 1e14], "D": [1400.0, 2e10, 1.6e15]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = healthy_fit.forecast(at)
    far = [str(w.message) for w in caught if "the backtests checked" in str(w.message)]
    assert len(far) == 1  # once per call, naming every such point
    # Its own category, to filter alone; a UserWarning, so filters of those still apply.
    assert [w.category for w in caught if "the backtests checked" in str(w.message)] == [
        ExtrapolationWarning
    ]
    assert issubclass(ExtrapolationWarning, UserWarning)
    assert far[0].startswith("forecast: point 1 at N = 70, D = 1.4K")
    assert "below the runs" in far[0] and "point 3 at N = 100T" in far[0]
    assert "point 2" not in far[0]
    flagged = table["distance"] > FAR_BEYOND_BACKTESTS * reach
    assert flagged.tolist() == [True, False, True]
    assert [e["row"] for e in table.attrs["beyond_backtests"]] == [0, 2]
    assert table.attrs["beyond_backtests"][0]["distance"] == table["distance"].iloc[0]
    assert table.attrs["caveats"] == far
    json.dumps(table.attrs)  # the CLI's JSON carries them
    # The same rule as prob_below's: the same points are flagged there, in the same category.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        odds = healthy_fit.prob_below(2.5, N=at["N"], D=at["D"])
    assert [e["row"] for e in odds.attrs["beyond_backtests"]] == [0, 2]
    (said,) = [w for w in caught if "the backtests checked" in str(w.message)]
    assert said.category is ExtrapolationWarning
    # Filtering the category silences exactly these warnings.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=ExtrapolationWarning)
        # N = 70 is also 1e5x below the runs: a slip of units, said in its own category.
        warnings.filterwarnings("ignore", category=SlipWarning)
        quiet = healthy_fit.forecast(at)
    assert quiet.attrs["caveats"] == far
    # Points within reach: no such warning, no such attrs.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        near = healthy_fit.forecast(AT)
    assert "beyond_backtests" not in near.attrs and "caveats" not in near.attrs


def test_compute_optimal_warns_of_plans_far_beyond_the_backtests(healthy_fit):
    from bayescale.planning import FAR_BEYOND_BACKTESTS, backtest_reach

    reach = backtest_reach(healthy_fit.discrepancy.info)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = healthy_fit.compute_optimal([1e21, 1e300])
    far = [str(w.message) for w in caught if "the backtests checked" in str(w.message)]
    assert len(far) == 1 and far[0].startswith("compute_optimal: the plan at C = ")
    assert [w.category for w in caught if str(w.message) in far] == [ExtrapolationWarning]
    assert (plan["distance"] > FAR_BEYOND_BACKTESTS * reach).tolist() == [False, True]
    assert [e["row"] for e in plan.attrs["beyond_backtests"]] == [1]
    assert plan.attrs["caveats"] == far
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        near = healthy_fit.compute_optimal([1e21])
    assert "beyond_backtests" not in near.attrs


def test_forecast_of_a_failed_fit_still_warns_of_far_points(starved_fit):
    fresh = bayescale.Fit(*(getattr(starved_fit, k) for k in FIT_FIELDS))
    fresh.discrepancy = starved_fit.discrepancy
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = fresh.forecast({"N": [1e3], "D": [1e4]})
        again = fresh.forecast({"N": [1e3], "D": [1e4]})
    messages = [str(w.message) for w in caught]
    # The failed fit's warning is once per fit; the far point's once per call.
    assert sum("failed its diagnostics" in m for m in messages) == 1
    assert sum("the backtests checked" in m for m in messages) == 2
    assert again.attrs["caveats"] == first.attrs["caveats"]


# --------------------------------------------------------------------------- API details


def test_prob_below_takes_the_point_as_at(healthy_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keywords = healthy_fit.prob_below(2.0, N=[7e10, 1e10], D=[1.4e12, 2e11])
        records = [{"N": 7e10, "D": 1.4e12}, {"N": 1e10, "D": 2e11}]
        for at in (
            {"N": [7e10, 1e10], "D": [1.4e12, 2e11]},
            pd.DataFrame(records),
            records,
            {"N": ["70B", "10B"], "D": ["1.4T", "200B"]},
        ):
            pd.testing.assert_frame_equal(healthy_fit.prob_below(2.0, at=at), keywords)
        budget = healthy_fit.prob_below(2.0, C=[1e23])
        pd.testing.assert_frame_equal(healthy_fit.prob_below(2.0, at={"C": 1e23}), budget)
    with pytest.raises(DataError, match=r"either as at= or as N=, not both"):
        healthy_fit.prob_below(2.0, at={"D": 1e12}, N=1e10)
    with pytest.raises(DataError, match=r"'d' is not an input of law 'chinchilla'.*mean D\?"):
        healthy_fit.prob_below(2.0, at={"N": 1e10, "d": 1e12})


def test_prob_below_at_refuses_what_is_no_input_as_average_does(healthy_fit):
    # One reading of at= for a fit and an average: only whose inputs the message names differs.
    with pytest.raises(DataError, match=r"'group' is not an input of law .*give the group as"):
        healthy_fit.prob_below(2.0, at={"N": 1e10, "D": 1e12, "group": "a"})
    with pytest.raises(DataError, match=r"gives no N, D or C; give two of them, or C alone"):
        healthy_fit.prob_below(2.0, at={"U": 1e10})
    with pytest.raises(DataError, match=r"'U' is not an input of law 'chinchilla' \(its inputs"):
        healthy_fit.prob_below(2.0, at={"N": 1e9, "D": 1e12, "U": 1e10})


def test_recommend_takes_its_default_draws_from_settings_without_importing_recommendation():
    import inspect
    import subprocess
    import sys

    from bayescale import recommendation, settings

    default = inspect.signature(bayescale.Fit.recommend).parameters["max_draws"].default
    assert default == settings.DEFAULT_MAX_DRAWS == recommendation.DEFAULT_MAX_DRAWS
    # Loading fitting (what load_fit and fit need) leaves the recommendation unloaded.
    code = "import sys, bayescale.fitting; print('bayescale.recommendation' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_draws_of_an_unknown_variable_is_a_data_error(healthy_fit):
    with pytest.raises(DataError, match=r"'gamma' is not a variable .*\(its variables: E, "):
        healthy_fit.draws(["E", "gamma"])
    with pytest.raises(DataError, match=r"'Alpha' is not a variable .*did you mean alpha\?"):
        healthy_fit.draws(["Alpha"])
    # One name as a string is one variable, not its letters.
    np.testing.assert_array_equal(healthy_fit.draws("E")["E"], healthy_fit.draws(["E"])["E"])


def test_load_fit_of_a_dataframe_says_it_takes_a_path():
    with pytest.raises(DataError, match=r"load_fit takes the path of a fit .*not DataFrame"):
        bayescale.load_fit(pd.DataFrame({"N": [1.0]}))


def test_fit_passes_the_column_mapping_to_load_runs(sim_runs):
    frame = pd.DataFrame({"params": sim_runs.x("N"), "tokens": sim_runs.x("D"), "val": sim_runs.y})
    # Each option reaches load_runs: its own checks name what was passed.
    with pytest.raises(DataError, match=r"'nope'"):
        bayescale.fit(frame, x={"N": "params", "D": "tokens"}, y="nope")
    with pytest.raises(DataError, match=r"'size'"):
        bayescale.fit(frame, x={"N": "size", "D": "tokens"}, y="val")
    with pytest.raises(DataError, match=r"compute.factor"):
        bayescale.fit(frame, x={"N": "params", "D": "tokens"}, y="val", compute_factor=-1.0)
    # Runs loaded already: options that differ from theirs are refused, the same accepted.
    with pytest.raises(DataError, match=r"y='val' \(response 'loss'\).*loaded already"):
        bayescale.fit(sim_runs, y="val")
    with pytest.raises(DataError, match=r"compute_factor=8\.0 .*pass them to load_runs"):
        bayescale.fit(sim_runs, compute_factor=8.0, law="nope")
    with pytest.raises(BayescaleError, match=r"nope"):  # past the check: the law is next
        bayescale.fit(sim_runs, "nope", y="loss", compute_factor=6.0)


def test_fit_recommend_names_every_option_of_recommend():
    import inspect

    from bayescale.recommendation import recommend

    mine = inspect.signature(bayescale.Fit.recommend).parameters
    theirs = inspect.signature(recommend).parameters
    assert list(mine)[1:] == list(theirs)[1:]  # the same order, self for fit
    for name, parameter in theirs.items():
        if name != "fit":
            assert mine[name].default == parameter.default, name
            assert f"{name} :" in bayescale.Fit.recommend.__doc__, name


def test_a_mapping_at_names_only_inputs_in_lists_of_one_length(healthy_fit):
    # Before, a stray key was carried along silently (a 'group' key of a fit without groups
    # too), and [1e9] against two values of D broadcast to two points.
    with pytest.raises(DataError, match=r"at names 'group', which is not an input .*no groups"):
        healthy_fit.forecast({"N": [1e9], "D": [2e10], "group": ["a"]})
    with pytest.raises(DataError, match=r"at names 'Dd', .*did you mean 'D'\?; to carry a label"):
        healthy_fit.forecast({"N": [1e9], "D": [2e10], "Dd": [1.0]})
    with pytest.raises(DataError, match=r"at's lists have different lengths \(N: 1, D: 2\)"):
        healthy_fit.predictive({"N": [1e9], "D": [2e10, 4e10]})
    with pytest.raises(DataError, match=r"at's lists have different lengths \(N: 1, D: 2\)"):
        healthy_fit.prob_below(2.5, at={"N": [1e9], "D": [2e10, 4e10]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # A single value (not a list) is used at every point, as before.
        table = healthy_fit.forecast({"N": 1e9, "D": [2e10, 4e10]})
        labelled = healthy_fit.forecast(pd.DataFrame({"N": [1e9], "D": [2e10], "run": ["x"]}))
    assert list(table["N"]) == [1e9, 1e9] and list(labelled["run"]) == ["x"]
