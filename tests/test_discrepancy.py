"""Model discrepancy (bayescale.discrepancy): pure functions, then one fit end to end."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import TRUTH

import bayescale
from bayescale import discrepancy as dm
from bayescale.comparison import score
from bayescale.errors import BayescaleError, DataError
from bayescale.likelihood import Likelihood


def test_distance_is_zero_inside_and_the_log_ratio_beyond():
    log_min = {"N": np.log(1e8), "D": np.log(1e9), "C": np.log(6e17)}
    log_max = {"N": np.log(1e9), "D": np.log(1e11), "C": np.log(6e20)}
    points = {"N": np.array([5e8, 1e10, 1e9]), "D": np.array([1e10, 1e10, 1e12])}
    d = dm.distance(points, log_min, log_max)
    assert d[0] == 0.0
    assert d[1] == pytest.approx(np.log(10.0))  # N 10x beyond (C at its edge)
    assert d[2] == pytest.approx(np.log(10.0))  # D and C 10x beyond
    # Below the smallest run counts too, and C alone is enough when N and D are missing.
    assert dm.distance({"C": np.array([6e16])}, {"C": log_min["C"]}, {"C": log_max["C"]})[
        0
    ] == pytest.approx(np.log(10.0))
    with pytest.raises(DataError, match="needs C, D at every forecast point"):
        dm.distance({"N": np.array([1e9])}, log_min, log_max)


def test_plan_draws_grow_with_the_trend_beyond_the_runs():
    # One cell of the plan's posterior: offset 0.1 at every budget, slope 0.2 per e-fold.
    weights = np.zeros((len(dm.PLAN_OFFSET_GRID), 2))
    row = int(np.argmin(np.abs(dm.PLAN_OFFSET_GRID - 0.1)))
    weights[row, 1] = 1.0
    s0 = dm.PLAN_OFFSET_GRID[row]
    # Runs from 1e18 to 1e21 FLOPs; the loss slope plays no part here.
    compute_range = ("backtest", {"C": np.log(1e18)}, {"C": np.log(1e21)})
    disc = dm.Discrepancy(
        *compute_range, s_grid=[0.0, 0.2], s_weights=[1.0, 0.0], plan_weights=weights
    )
    # Two budgets inside the runs, two 1 and 3 e-folds beyond.
    budgets = np.array([1e19, 1e20, 1e21 * np.e, 1e21 * np.e**3])
    shift = disc.plan_log_shift(budgets, 40_000, seed=0)
    np.testing.assert_allclose(
        shift.std(axis=0), np.sqrt(s0**2 + (0.2 * np.array([0, 0, 1, 3])) ** 2), rtol=0.02
    )
    corr = np.corrcoef(shift.T)
    # Only each budget's spread above is reported. The offset's draws are the same at every
    # budget (common random numbers: quantiles smooth in the budget); the trend is one per
    # draw, as the backtests learn it.
    assert corr[0, 1] == pytest.approx(1.0)
    expected = (s0**2 + 0.2**2 * 3) / np.sqrt((s0**2 + 0.2**2) * (s0**2 + (0.2 * 3) ** 2))
    assert corr[2, 3] == pytest.approx(expected, abs=0.02)
    np.testing.assert_array_equal(shift, disc.plan_log_shift(budgets, 40_000, seed=0))
    # A law without a compute-optimal plan has no plan error, and says why.
    note = "the law has no compute-optimal plan (it needs inputs N and D)"
    no_plan = dm.Discrepancy(
        *compute_range, s_grid=[0.0], s_weights=[1.0], info={"plan_note": note}
    )
    assert no_plan.plan_log_shift(budgets, 10, seed=0) is None
    with pytest.raises(DataError, match="no plan error: the law has no compute-optimal plan"):
        no_plan.plan_offset_quantiles()


def test_draws_vanish_in_range_and_grow_linearly_beyond():
    disc = dm.Discrepancy(
        "backtest", {"N": 0.0}, {"N": np.log(10.0)}, s_grid=[0.02], s_weights=[1.0]
    )
    points = {"N": np.array([5.0, 10.0 * np.e, 10.0 * np.e**2])}
    delta = disc.log_delta(points, 20_000, seed=0)
    assert np.all(delta[0] == 0.0)
    assert delta[1].std() == pytest.approx(0.02, rel=0.05)
    assert delta[2].std() == pytest.approx(0.04, rel=0.05)
    again = dm.Discrepancy.from_dict(disc.to_dict())
    np.testing.assert_array_equal(again.log_delta(points, 50, 1), disc.log_delta(points, 50, 1))
    with pytest.raises(DataError, match="weights summing to 1"):
        dm.Discrepancy("backtest", {"N": 0.0}, {"N": 1.0}, s_grid=[0.02], s_weights=[0.5])
    with pytest.raises(DataError, match="kind must be one of"):
        dm.Discrepancy("gp", {"N": 0.0}, {"N": 1.0}, s_grid=[0.02], s_weights=[1.0])


def test_heldout_density_learns_no_slope_from_noise_and_the_slope_of_a_drift():
    rng = np.random.default_rng(0)
    n, draws = 200, 100
    log_mu = np.zeros((draws, n))
    noise = {"sigma": np.full(draws, 0.01)}
    normal = Likelihood("normal", nu=None)
    log_y = 0.01 * rng.standard_normal(n)
    d = rng.uniform(0.5, 3.0, n)
    best = dm.S_GRID[np.argmax(dm.heldout_log_density(log_y, log_mu, normal, noise, d).sum(1))]
    assert best < 0.002
    drifted = log_y + 0.03 * d * rng.standard_normal(n)  # errors growing with distance
    ll = dm.heldout_log_density(drifted, log_mu, normal, noise, d).sum(1)
    assert 0.02 < dm.S_GRID[np.argmax(ll)] < 0.045


def _isoflop_runs(drift: float, seed: int) -> bayescale.Runs:
    """Runs on an IsoFLOP design (9 budgets 6e18..3e21, 12 sizes each) from Chinchilla's
    truth, with the D-exponent drifting with N by ``drift`` per decade (Farseer found such a
    drift; no Chinchilla law can express it) and 1% noise."""
    rows = []
    for budget in (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21):
        n_opt = 0.6 * (budget / 6) ** 0.5
        rows += [(n, budget / (6 * n)) for n in np.geomspace(n_opt / 6, n_opt * 5, 12)]
    n, d = np.array(rows).T
    beta = TRUTH["beta"] + drift * np.log10(n / 1e8)
    loss = TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d**beta
    noisy = loss * np.exp(0.01 * np.random.default_rng(seed).standard_normal(len(n)))
    return bayescale.load_runs(pd.DataFrame({"N": n, "D": d, "loss": noisy}))


SETTINGS = {"draws": 400, "tune": 400, "chains": 2, "seed": 2, "discrepancy": "backtest"}


@pytest.fixture(scope="module")
def misspecified_fit():
    return bayescale.fit(_isoflop_runs(0.03, seed=5), "chinchilla", **SETTINGS)


@pytest.fixture(scope="module")
def well_specified_fit():
    return bayescale.fit(_isoflop_runs(0.0, seed=5), "chinchilla", **SETTINGS)


def test_the_slope_is_learned_from_how_backtests_miss(misspecified_fit, well_specified_fit):
    # The same design and noise; only the form's error differs, and so does the slope.
    for fit_ in (misspecified_fit, well_specified_fit):
        assert fit_.discrepancy.kind == "backtest"
        assert len(fit_.discrepancy.info["splits"]) == 3
        assert fit_.settings["discrepancy"] == "backtest"
    wrong = misspecified_fit.discrepancy.s_quantiles([0.5])[0]
    right = well_specified_fit.discrepancy.s_quantiles([0.5])[0]
    assert wrong > 3 * right


def test_a_fit_with_a_discrepancy_widens_only_beyond_the_data(misspecified_fit, tmp_path):
    fit_ = misspecified_fit
    inside = {"N": [3e8], "D": [5e9]}
    far = {"N": [5e10], "D": [1e12]}  # 100x beyond the largest budget
    table = fit_.forecast(pd.DataFrame({k: inside[k] + far[k] for k in inside}), level=0.9)
    assert {"disc_median", "disc_lower_90", "disc_upper_90"} <= set(table.columns)

    def width(prefix):
        return (table[f"{prefix}_upper_90"] - table[f"{prefix}_lower_90"]) / table["law_median"]

    # Inside the runs nothing changes; beyond them the discrepancy widens the interval.
    assert width("disc")[0] == pytest.approx(width("law")[0], rel=1e-6)
    assert width("disc")[1] > 1.3 * width("law")[1]
    # A new run adds its noise: far wider inside the runs; far out, where the discrepancy
    # dominates, no narrower (beyond the Monte Carlo error of two sets of draws).
    assert width("pred")[0] > 1.5 * width("disc")[0]
    assert width("pred")[1] > 0.98 * width("disc")[1]
    # The probability that a run meets a target carries the discrepancy too.
    target = float(table["disc_median"][1])
    assert 0.3 < fit_.prob_below(target, N=far["N"], D=far["D"])["prob_run_below"][0] < 0.7
    budget = fit_.prob_below(target, C=[6 * far["N"][0] * far["D"][0]])
    assert 0.0 < budget["prob_run_below"][0] < 1.0
    # Saved and reloaded: identical forecasts, the discrepancy included.
    back = bayescale.load_fit(fit_.save(tmp_path / "fit.nc"))
    pd.testing.assert_frame_equal(back.forecast(far), fit_.forecast(far), check_exact=True)


def test_the_default_learns_a_discrepancy_and_its_backtests_sample_no_more_than_the_fit(
    healthy_fit, starved_fit
):
    # The shared fits were made with every default: each learned a discrepancy by backtests.
    for fit_ in (healthy_fit, starved_fit):
        assert fit_.settings["discrepancy"] == "backtest"
        assert fit_.discrepancy is not None and "discrepancy_note" not in fit_.info
        assert len(fit_.discrepancy.info["splits"]) == 3
    # Backtests of 2 x 300 draws at most, and no more than the fit's own (a quick look stays
    # quick).
    assert healthy_fit.discrepancy.info["sampler"]["draws"] == 300
    assert starved_fit.discrepancy.info["sampler"]["draws"] == 20
    assert starved_fit.discrepancy.info["sampler"]["tune"] == 20
    said = healthy_fit.discrepancy.describe()
    low, mid, high = healthy_fit.discrepancy.s_quantiles()
    assert f"grows by {mid:.2%} of the loss per e-fold (90%: {low:.2%} to {high:.2%})" in said
    assert "learned from 3 backtests on the runs" in said


def _with_splits(*oks, sampler=None) -> dm.Discrepancy:
    """A discrepancy whose backtest splits record these refits' diagnostics (None: a split
    saved before they were recorded)."""
    splits = [
        {"quantile": q} | ({} if ok is None else {"diagnostics_ok": ok})
        for q, ok in zip((0.5, 0.65, 0.8)[: len(oks)], oks, strict=True)
    ]
    info = {"splits": splits}
    if sampler is not False:
        info["sampler"] = sampler or {"chains": 2, "draws": 300, "tune": 300}
    return dm.Discrepancy(
        "backtest", {"N": 0.0}, {"N": 1.0}, s_grid=[0.01, 0.02], s_weights=[0.5, 0.5], info=info
    )


def test_the_discrepancy_says_when_its_backtest_refits_failed_their_diagnostics():
    # Regression: the refits behind the default discrepancy sample briefly (2 x 300 draws, no
    # retry) and often fail their diagnostics; this was stored and never said.
    said = _with_splits(False, True, False).describe()
    assert said.endswith(
        "learned from 3 backtests on the runs (2 of 3 backtest refits, 2 chains x 300 draws "
        "each, did not pass the sampler's diagnostics: the learned slope is approximate)"
    )
    assert (
        "(all 3 backtest refits, 2 chains x 300 draws each, did not pass"
        in _with_splits(False, False, False).describe()
    )
    one = _with_splits(False, sampler={"chains": 2, "draws": 20}).describe()
    assert one.endswith(
        "learned from 1 backtest on the runs (the backtest refit, 2 chains x 20 draws, did "
        "not pass the sampler's diagnostics: the learned slope is approximate)"
    )
    # Without the sampler recorded, the count alone; and it survives a save and reload.
    bare = _with_splits(True, False, sampler=False)
    assert "(1 of 2 backtest refits did not pass the sampler's diagnostics" in bare.describe()
    again = dm.Discrepancy.from_dict(json.loads(json.dumps(bare.to_dict())))
    assert again.describe() == bare.describe()


def test_the_discrepancy_says_nothing_of_refits_that_passed_or_were_not_recorded():
    for disc in (_with_splits(True, True, True), _with_splits(None, None, None)):
        said = disc.describe()
        assert said.endswith("learned from 3 backtests on the runs")
        assert disc.failed_refits_note() is None
        assert "diagnostics" not in said


def test_auto_skips_the_discrepancy_only_where_it_cannot_be_learned():
    chinchilla = bayescale.get_law("chinchilla")
    additive = bayescale.Law.from_formula(
        "E + A / N**alpha",
        {
            "E": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
            "A": {"dist": "LogNormal"},
            "alpha": {"dist": "Gamma", "alpha": 6.0, "beta": 20.0},
        },
        name="additive",
        likelihood=Likelihood("normal", nu=None, scale="linear"),
    )
    assert dm.resolve("auto", chinchilla, grouped=False) == ("backtest", "")
    assert dm.resolve("backtest", chinchilla, grouped=False) == ("backtest", "")
    kind, why = dm.resolve("auto", chinchilla, grouped=True)
    assert kind is None and "fit with groups" in why and "discrepancy='backtest'" in why
    assert dm.resolve("backtest", chinchilla, grouped=True) == ("backtest", "")
    kind, why = dm.resolve("auto", additive, grouped=False)
    assert kind is None and "additive noise" in why and "'additive'" in why
    for off in ("none", None):
        assert dm.resolve(off, chinchilla, grouped=False) == (
            None,
            "switched off (discrepancy='none')",
        )
    # Asked for explicitly where it cannot be learned: an error that says what to do.
    for grouped in (True, False):
        with pytest.raises(DataError, match=r"cannot be learned here.*discrepancy='none'"):
            dm.resolve("backtest", additive, grouped=grouped)


def test_a_law_of_fewer_inputs_than_the_runs_forecasts_at_its_own(sim_runs):
    # Runs with N and D, a law of C alone: its discrepancy ranges over C, so a forecast at C
    # alone works (it used to need N and D at every point).
    fit_ = bayescale.fit(
        sim_runs, "power_law_C", draws=100, tune=100, chains=2, seed=0, prior_draws=0, retries=0
    )
    assert set(fit_.discrepancy.log_max) == {"C"}
    top = float(np.exp(fit_.discrepancy.log_max["C"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short chains: the ranges are the point
        table = fit_.forecast({"C": [top / 10, top * 100]}, level=0.9)
    widths = table["disc_upper_90"] - table["disc_lower_90"]
    law_widths = table["law_upper_90"] - table["law_lower_90"]
    assert widths[0] == pytest.approx(law_widths[0], rel=1e-9)  # inside: unchanged
    assert widths[1] >= law_widths[1]
    # A law of C: its loss at a budget is the law's own, no split of the budget needed.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        median = float(table["law_median"][1])
        odds = fit_.prob_below(median, C=[top * 100])
    assert list(odds["C"]) == [top * 100]
    assert odds["prob_law_below"][0] == pytest.approx(0.5, abs=0.02)


def test_unknown_discrepancy_is_refused_before_sampling(sim_runs):
    choices = r"discrepancy must be 'auto' \(the default\), 'backtest' or 'none' \(or None\)"
    with pytest.raises(DataError, match=choices + r", not 'gaussian-process'$"):
        bayescale.fit(sim_runs, "chinchilla", discrepancy="gaussian-process")
    with pytest.raises(DataError, match=r"not 'backtests'; did you mean 'backtest'\?$"):
        bayescale.fit(sim_runs, "chinchilla", discrepancy="backtests")
    with pytest.raises(DataError, match=r"not True$"):
        bayescale.fit(sim_runs, "chinchilla", discrepancy=True)


def test_a_damaged_discrepancy_in_a_file_is_a_clear_error(misspecified_fit, tmp_path):
    import json

    from bayescale import _files

    path = misspecified_fit.save(tmp_path / "fit.nc")
    import arviz as az

    idata = az.from_netcdf(path, engine="h5netcdf")
    idata.load()
    meta = json.loads(idata.posterior.attrs["bayescale"])
    meta["discrepancy"]["s_weights"] = [1.0]
    idata.posterior.attrs["bayescale"] = json.dumps(meta)
    _files.write_bytes(tmp_path / "bad.nc", _files.netcdf_bytes(idata))
    with pytest.raises(BayescaleError, match=r"bad\.nc.*weights summing to 1"):
        bayescale.load_fit(tmp_path / "bad.nc")


def test_held_out_scores_judge_the_discrepancy_aware_forecast():
    # Fit on the budgets up to 3e20 FLOPs of a sweep the law cannot express, score the rest:
    # with the discrepancy, the held-out log density is higher and the 90% intervals hold.
    runs = _isoflop_runs(0.03, seed=7)
    small = runs.x("C") <= 3e20
    train, test = runs.subset(small), runs.subset(~small)
    plain = bayescale.fit(train, "chinchilla", **{**SETTINGS, "discrepancy": None})
    aware = bayescale.fit(train, "chinchilla", **SETTINGS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        before, after = score(plain, test), score(aware, test)
    assert after["elpd_per_run"] > before["elpd_per_run"]
    assert after["coverage_90"] > before["coverage_90"]
    assert after["coverage_90"] >= 0.8


def test_the_report_says_how_the_discrepancy_widened_the_interval(misspecified_fit, tmp_path):
    from bayescale._format import format_number
    from bayescale.report import write_report

    far = {"N": 5e10, "D": 1e12}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        write_report(misspecified_fit, tmp_path / "report.html", at=[far])
        table = misspecified_fit.forecast({k: [v] for k, v in far.items()})
    html = (tmp_path / "report.html").read_text()
    paragraph = html.split('<p id="discrepancy">')[1].split("</p>")[0]
    widening = (table["disc_upper_90"] - table["disc_lower_90"]) / (
        table["law_upper_90"] - table["law_lower_90"]
    )
    assert "treated as an approximation" in paragraph
    assert format_number(float(widening[0]), "ratio") in paragraph


def test_an_average_carries_each_laws_discrepancy(misspecified_fit):
    plain = bayescale.fit(misspecified_fit.runs, "chinchilla", **{**SETTINGS, "discrepancy": None})
    far = {"N": [5e10], "D": [1e12]}

    def width(table, prefix="pred"):
        return float((table[f"{prefix}_upper_90"] - table[f"{prefix}_lower_90"]).iloc[0])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        own = misspecified_fit.forecast(far)
        aware = bayescale.average({"a": misspecified_fit, "b": plain}, {"a": 1, "b": 0})
        unaware = bayescale.average({"a": misspecified_fit, "b": plain}, {"a": 0, "b": 1})
        mixed = bayescale.average({"a": misspecified_fit, "b": plain}, {"a": 1, "b": 1})
        tables = [avg.forecast(far) for avg in (aware, unaware, mixed)]
    # Draws only from the plain law: no discrepancy, no disc_* columns.
    assert ["disc_median" in table.columns for table in tables] == [True, False, True]
    assert width(tables[0]) == pytest.approx(width(own), rel=0.15)
    assert width(tables[1]) < width(tables[2]) < width(tables[0])


def test_the_plan_error_is_learned_from_the_isoflop_curves(well_specified_fit):
    # Every budget of the design is an IsoFLOP curve with its minimum inside its runs; each
    # is compared with the full fit's plan (in the data) and, above each cut, a refit's.
    info = well_specified_fit.discrepancy.info
    curves = info["plan_curves"]
    inside = [c for c in curves if c["fit"] == "all runs"]
    held = [c for c in curves if c["fit"] != "all runs"]
    assert [round(np.log10(c["compute"]), 1) for c in inside] == [
        round(np.log10(b), 1) for b in (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)
    ]
    assert all(c["distance"] == 0 for c in inside)
    assert held and all(c["distance"] > 0 for c in held)
    assert sum(s["isoflop_curves"] for s in info["splits"]) == len(held)
    # The law is right: each minimum lies where the law's own curve, measured on the same
    # runs, puts it, within the two standard errors.
    z = [
        (np.log(c["n_min"]) - c["plan_mean"]) / np.hypot(c["se_log_n"], c["plan_sd"])
        for c in curves
    ]
    assert np.max(np.abs(z)) < 3
    offset, slope = info["plan_offset_quantiles_5_50_95"][1], info["plan_s_quantiles_5_50_95"][1]
    assert offset < 0.08 and slope < 0.08


def test_the_plan_widens_with_compute_beyond_the_runs_and_reloads(well_specified_fit, tmp_path):
    fit_ = well_specified_fit
    budgets = [1e20, 3e22, 3e23, 3e24]  # inside the runs, then 10x, 100x, 1000x beyond
    table = fit_.compute_optimal(budgets, level=0.9)
    assert {"N_disc_median", "D_disc_lower_90", "tokens_per_parameter_disc_upper_90"} <= set(
        table.columns
    )

    def spread(prefix):
        return np.log(table[f"{prefix}_upper_90"] / table[f"{prefix}_lower_90"]).to_numpy()

    ratio = spread("N_disc") / spread("N")
    assert np.all(ratio >= 0.97)  # the offset holds inside the runs too; never narrower
    assert ratio[1] < ratio[2] < ratio[3]
    # D = C / (k N) at each draw: the same factor, inverted.
    np.testing.assert_allclose(
        table["N_disc_median"] * table["D_disc_median"] * 6, table["C"], rtol=0.05
    )
    back = bayescale.load_fit(fit_.save(tmp_path / "fit.nc"))
    pd.testing.assert_frame_equal(back.compute_optimal(budgets, level=0.9), table)


def test_a_budgets_plan_does_not_depend_on_the_other_budgets_asked_for(well_specified_fit):
    # A user asking for 1e24 alone, or among other budgets, must read the same interval:
    # the discrepancy's and the new curve's draws are per budget, not per call.
    fit_ = well_specified_fit
    alone = fit_.compute_optimal([3e24], level=0.9)
    among = fit_.compute_optimal([1e20, 3e22, 3e24], level=0.9)
    first = fit_.compute_optimal([3e24, 1e20], level=0.9)
    assert any("_pred_" in c for c in alone) and any("_disc_" in c for c in alone)
    pd.testing.assert_frame_equal(among.iloc[[2]].reset_index(drop=True), alone)
    pd.testing.assert_frame_equal(first.iloc[[0]].reset_index(drop=True), alone)


def test_the_plan_says_where_a_new_isoflop_curve_finds_its_minimum(well_specified_fit):
    # The runs' curves: 12 sizes over a factor 30, 1% noise. A new curve measured like the
    # largest of them adds its own noise to where the optimum lies; the law alone carries none.
    fit_ = well_specified_fit
    offsets, noise = fit_.discrepancy.plan_sweep()
    assert 6 <= len(offsets) <= 12 and 3.0 < np.ptp(offsets) < np.log(30) + 0.01
    assert 0.007 < noise < 0.013
    budgets = [1e20, 3e22]
    table = fit_.compute_optimal(budgets, level=0.9)

    def spread(prefix):
        return np.log(table[f"{prefix}_upper_90"] / table[f"{prefix}_lower_90"]).to_numpy()

    assert np.all(spread("N_pred") > spread("N_disc") + 0.05)
    np.testing.assert_allclose(
        table["N_pred_median"] * table["D_pred_median"] * 6, table["C"], rtol=0.05
    )
    np.testing.assert_allclose(
        table["tokens_per_parameter_pred_median"],
        table["D_pred_median"] / table["N_pred_median"],
        rtol=0.1,
    )
    # The measurement's share: at 1e20, among the runs, a curve like theirs pins its minimum
    # about as well as theirs did (their standard errors, in quadrature with the plan's).
    inside = [c for c in fit_.discrepancy.info["plan_curves"] if c["fit"] == "all runs"]
    se = np.median([c["se_log_n"] for c in inside])
    added = np.sqrt(spread("N_pred")[0] ** 2 - spread("N_disc")[0] ** 2) / (2 * 1.645)
    assert 0.5 * se < added < 2 * se
    # A fit saved before the sweep was recorded has no such columns.
    old = dm.Discrepancy.from_dict(fit_.discrepancy.to_dict())
    del old.info["plan_sweep"]
    assert old.plan_sweep() is None


def test_a_planned_sweep_of_more_runs_or_less_noise_pins_its_minimum_tighter(
    well_specified_fit, sim_runs
):
    fit_ = well_specified_fit
    budgets = [1e20, 3e22]

    def spread(sweep):
        table = fit_.compute_optimal(budgets, level=0.9, sweep=sweep)
        return np.log(table["N_pred_upper_90"] / table["N_pred_lower_90"]).to_numpy()

    few, many = spread({"runs": 5, "spread": 8}), spread({"runs": 25, "spread": 8})
    quiet = spread({"runs": 5, "spread": 8, "noise": 0.001})
    assert np.all(many < few) and np.all(quiet < many)
    # The law's plan alone (no discrepancy, no curves learned): the sweep must be given
    # whole, and then only its noise widens the law's interval.
    plain = bayescale.fit(sim_runs, "chinchilla", **{**SETTINGS, "discrepancy": "none"})
    with pytest.raises(DataError, match=r"learned no IsoFLOP curve .* the sweep's noise from"):
        plain.compute_optimal(budgets, sweep={"runs": 9, "spread": 8})
    assert "N_pred_median" not in plain.compute_optimal(budgets)
    table = plain.compute_optimal(budgets, sweep={"runs": 9, "spread": 8, "noise": 0.01})
    assert "N_disc_median" not in table
    law = np.log(table["N_upper_90"] / table["N_lower_90"])
    pred = np.log(table["N_pred_upper_90"] / table["N_pred_lower_90"])
    assert np.all(pred > law + 0.05)


def test_without_isoflop_curves_the_plan_follows_its_prior(sim_runs, tmp_path):
    from scipy import stats

    from bayescale.report import write_report

    # Runs scattered in N and D (log-uniform): no held-out budget holds an IsoFLOP curve, so
    # no refit's plan is checked beyond its runs. The plan is not taken to be exact there: its
    # growth beyond the runs is the prior's (the one chance curve among the runs teaches the
    # offset alone).
    fit_ = bayescale.fit(sim_runs, "chinchilla", **SETTINGS)
    disc = fit_.discrepancy
    curves = disc.info["plan_curves"]
    assert all(c["distance"] == 0 for c in curves) and disc.info["plan_learned"] is False
    note = disc.info["plan_note"]
    assert "no IsoFLOP curve" in note and "growth follows its prior" in note
    assert f"learned from the {len(curves)} IsoFLOP curve" in note
    prior = stats.halfnorm(scale=dm.PLAN_PRIOR_SCALE)
    np.testing.assert_allclose(
        disc.s_quantiles([0.25, 0.5, 0.75], plan=True), prior.ppf([0.25, 0.5, 0.75]), rtol=0.05
    )
    largest = float((6 * sim_runs.x("N") * sim_runs.x("D")).max())
    table = fit_.compute_optimal([largest / 10, largest * np.e**3], level=0.9)
    spread = {
        q: np.log(table[f"{q}_upper_90"] / table[f"{q}_lower_90"]).to_numpy()
        for q in ("N", "N_disc")
    }
    # Inside the runs the offset alone; 3 e-folds beyond, the trend on top of it.
    assert np.all(spread["N_disc"] > spread["N"])
    assert spread["N_disc"][1] - spread["N"][1] > spread["N_disc"][0] - spread["N"][0] + 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        write_report(fit_, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert "N with discrepancy" in html.split('id="table-plan"')[1].split("</table>")[0]
    paragraph = html.split('<p id="plan-discrepancy">')[1].split("</p>")[0]
    assert "could not check it" in paragraph and "no IsoFLOP curve" in paragraph
    # The CLI says why, in the table's note and in JSON; the saved fit reloads to the same plan.
    from typer.testing import CliRunner

    from bayescale.cli import app

    path = fit_.save(tmp_path / "fit.nc")
    budgets = [largest / 10, largest * np.e**3]
    pd.testing.assert_frame_equal(
        bayescale.load_fit(path).compute_optimal(budgets, level=0.9), table
    )
    runner = CliRunner(env={"COLUMNS": "200"})
    shown = runner.invoke(app, ["optimal", str(path), "--compute", "1e22"])
    assert shown.exit_code == 0, shown.output
    assert "With discrepancy: no IsoFLOP curve" in " ".join(shown.output.split())
    as_json = runner.invoke(app, ["optimal", str(path), "--compute", "1e22", "--format", "json"])
    assert json.loads(as_json.output)["plan_note"] == note


def test_the_report_shows_the_plan_with_its_discrepancy(well_specified_fit, tmp_path):
    from bayescale.report import write_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        write_report(well_specified_fit, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    table = html.split('id="table-plan"')[1].split("</table>")[0]
    assert "N with discrepancy" in table and 'data-key="plan.0.N_disc_upper_90"' in table
    assert "N a new IsoFLOP curve finds" in table and 'data-key="plan.0.N_pred_upper_90"' in table
    paragraph = html.split('<p id="plan-discrepancy">')[1].split("</p>")[0]
    curves = len(well_specified_fit.discrepancy.info["plan_curves"])
    assert f'data-key="plan.discrepancy.curves" data-value="{float(curves)}"' in paragraph
    assert 'data-key="plan.discrepancy.offset_95"' in paragraph
    assert "with. &#34;N a new IsoFLOP curve finds&#34;" in paragraph or (
        'with. "N a new IsoFLOP curve finds"' in paragraph
    )
    assert 'data-key="plan.discrepancy.sweep_noise"' in paragraph


def test_the_cli_plan_shows_the_interval_with_discrepancy(well_specified_fit, tmp_path):
    from typer.testing import CliRunner

    from bayescale.cli import app

    path = well_specified_fit.save(tmp_path / "fit.nc")
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["optimal", str(path), "--compute", "1e20", "--compute", "3e23"]
    )
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "N with discrepancy" in rows and "N (law)" in rows
    assert "With discrepancy:" not in result.output  # learned from curves: no prior's note
    assert "tokens per parameter with discrepancy" in rows
    assert "N a new IsoFLOP curve finds" in rows and "D a new IsoFLOP curve finds" in rows
    text = " ".join(result.output.split())
    assert "the interval to check such a sweep against" in text and "your largest curve" in text
    planned = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["optimal", str(path), "-c", "3e23", "--sweep", "runs=7", "--sweep", "noise=0.002"]
    )
    assert planned.exit_code == 0, planned.output
    assert "7 runs" in planned.output and "0.20% noise" in planned.output
    assert "as you gave it" in planned.output
    bad = CliRunner().invoke(app, ["optimal", str(path), "-c", "3e23", "--sweep", "runs=3"])
    assert bad.exit_code == 2
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "at least 5" in lines[0]
