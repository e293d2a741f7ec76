"""Tests of bayescale.forecast on synthetic posterior draws (no sampling)."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from conftest import TRUTH, chinchilla_loss, simulate_runs

from bayescale.errors import DataError, ExtrapolationWarning, SlipWarning
from bayescale.fitting import Fit
from bayescale.forecast import TAIL_DRAWS, forecast_points, forecast_table, level_label
from bayescale.laws import get_law
from bayescale.likelihood import Likelihood

STUDENT = Likelihood("student_t")
NORMAL = Likelihood("normal", nu=None)

LAW = get_law("chinchilla")
N_DRAWS = 4000


def synthetic_draws(n=N_DRAWS, spread=0.05, seed=0):
    """Parameters scattered around the truth (log-normal), like a posterior."""
    rng = np.random.default_rng(seed)
    return {k: v * np.exp(spread * rng.standard_normal(n)) for k, v in TRUTH.items()}


POINTS = pd.DataFrame({"N": [1e8, 1e9, 1e10, 1e11], "D": [2e9, 2e10, 2e11, 2e12]})


def _quantile_check(got, values, prob):
    want = np.quantile(values, prob, axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_quantiles_and_mean_agree_with_numpy():
    draws = synthetic_draws()
    noise = STUDENT.draw_noise(
        {"sigma": np.full(N_DRAWS, 0.02), "nu": np.full(N_DRAWS, 5.0)}, seed=1
    )
    table = forecast_table(LAW, draws, noise, POINTS, level=[0.5, 0.9])
    values = chinchilla_loss(
        POINTS["N"].to_numpy()[:, None],
        POINTS["D"].to_numpy()[:, None],
        {k: v[None, :] for k, v in draws.items()},
    )
    _quantile_check(table["law_median"], values, 0.5)
    _quantile_check(table["law_lower_90"], values, 0.05)
    _quantile_check(table["law_upper_90"], values, 0.95)
    _quantile_check(table["law_lower_50"], values, 0.25)
    _quantile_check(table["law_upper_50"], values, 0.75)
    np.testing.assert_allclose(table["law_mean"], values.mean(axis=-1), rtol=1e-5)
    predictive = values * np.exp(noise)[None, :]
    _quantile_check(table["pred_median"], predictive, 0.5)
    _quantile_check(table["pred_lower_90"], predictive, 0.05)
    _quantile_check(table["pred_upper_90"], predictive, 0.95)
    _quantile_check(table["pred_upper_50"], predictive, 0.75)
    # The inputs come first, as given.
    pd.testing.assert_frame_equal(table[["N", "D"]], POINTS)
    assert list(table.columns) == [
        "N",
        "D",
        "law_median",
        "law_mean",
        "law_lower_50",
        "law_upper_50",
        "law_lower_90",
        "law_upper_90",
        "pred_median",
        "pred_lower_50",
        "pred_upper_50",
        "pred_lower_90",
        "pred_upper_90",
    ]


def test_intervals_are_ordered_and_nested():
    draws = synthetic_draws()
    noise = NORMAL.draw_noise({"sigma": np.full(N_DRAWS, 0.05)}, seed=2)
    table = forecast_table(LAW, draws, noise, POINTS, level=[0.9, 0.5, 0.8])
    for kind in ("law", "pred"):
        assert (table[f"{kind}_lower_90"] < table[f"{kind}_lower_80"]).all()
        assert (table[f"{kind}_lower_80"] < table[f"{kind}_lower_50"]).all()
        assert (table[f"{kind}_lower_50"] < table[f"{kind}_median"]).all()
        assert (table[f"{kind}_median"] < table[f"{kind}_upper_50"]).all()
        assert (table[f"{kind}_upper_50"] < table[f"{kind}_upper_80"]).all()
        assert (table[f"{kind}_upper_80"] < table[f"{kind}_upper_90"]).all()
    # A new run varies more than the law: its interval contains the law's.
    for tag in ("50", "80", "90"):
        assert (table[f"pred_lower_{tag}"] < table[f"law_lower_{tag}"]).all()
        assert (table[f"pred_upper_{tag}"] > table[f"law_upper_{tag}"]).all()
    # Loss falls with scale.
    assert table["law_median"].is_monotonic_decreasing


def test_zero_noise_collapses_the_predictive_interval():
    draws = synthetic_draws()
    noise = STUDENT.draw_noise(
        {"sigma": np.full(N_DRAWS, 1e-12), "nu": np.full(N_DRAWS, 4.0)}, seed=3
    )
    table = forecast_table(LAW, draws, noise, POINTS)
    for a, b in [
        ("pred_median", "law_median"),
        ("pred_lower_90", "law_lower_90"),
        ("pred_upper_90", "law_upper_90"),
    ]:
        np.testing.assert_allclose(table[a], table[b], rtol=1e-6)


def test_constant_draws_give_a_point():
    draws = {k: np.full(100, v) for k, v in TRUTH.items()}
    table = forecast_table(LAW, draws, np.zeros(100), POINTS)
    truth = chinchilla_loss(POINTS["N"], POINTS["D"])
    for column in ("law_median", "law_mean", "law_lower_90", "law_upper_90", "pred_upper_90"):
        np.testing.assert_allclose(table[column], truth, rtol=1e-6)


def test_many_points_in_parallel_blocks_match_one_by_one():
    # 4000 draws and 700 points: three blocks of 250 points, run on a thread pool.
    draws = synthetic_draws()
    noise = NORMAL.draw_noise({"sigma": np.full(N_DRAWS, 0.03)}, seed=4)
    N = np.geomspace(1e7, 1e12, 700)
    points = pd.DataFrame({"N": N, "D": 20 * N})
    table = forecast_table(LAW, draws, noise, points)
    for i in (0, 249, 250, 499, 500, 699):
        one = forecast_table(LAW, draws, noise, points.iloc[[i]].reset_index(drop=True))
        for column in one.columns:
            assert table[column].iloc[i] == one[column].iloc[0], (i, column)


def test_levels_are_validated_and_labelled():
    draws = synthetic_draws(n=50)
    for bad in (0.0, 1.0, 90, -0.5):
        with pytest.raises(DataError, match="must be between 0 and 1"):
            forecast_table(LAW, draws, np.zeros(50), POINTS, level=bad)
    assert level_label(0.9) == "90"
    assert level_label(0.975) == "97.5"
    assert level_label(0.5) == "50"
    table = forecast_table(LAW, draws, np.zeros(50), POINTS, level=0.975)
    assert {"law_lower_97.5", "pred_upper_97.5"} <= set(table.columns)


def test_new_run_noise():
    sigma = np.full(200_000, 0.02)
    normal = NORMAL.draw_noise({"sigma": sigma}, seed=9)
    assert normal.shape == (200_000,)
    assert normal.std() == pytest.approx(0.02, rel=0.01)
    np.testing.assert_array_equal(normal, NORMAL.draw_noise({"sigma": sigma}, seed=9))
    assert not np.array_equal(normal, NORMAL.draw_noise({"sigma": sigma}, seed=10))
    heavy = STUDENT.draw_noise({"sigma": sigma, "nu": np.full(200_000, 3.0)}, seed=9)
    # Student-t with 3 degrees of freedom: sd sqrt(3) times the scale, heavy tails.
    assert heavy.std() == pytest.approx(0.02 * np.sqrt(3.0), rel=0.1)
    assert np.mean(np.abs(heavy) > 0.1) > 10 * np.mean(np.abs(normal) > 0.1)


# --------------------------------------------------------------------------- points


def test_points_complete_the_compute_triad():
    law_c = get_law("power_law_C")
    points = forecast_points(LAW, {"N": [1e9, 2e9], "C": [6e19, 1.2e21]})
    np.testing.assert_allclose(points["D"], [1e10, 1e11], rtol=1e-15)
    points = forecast_points(LAW, {"D": 1e10, "C": [6e19, 1.2e20]})
    np.testing.assert_allclose(points["N"], [1e9, 2e9], rtol=1e-15)
    points = forecast_points(law_c, {"N": 1e9, "D": [1e10, 2e10]})
    np.testing.assert_allclose(points["C"], [6e19, 1.2e20], rtol=1e-15)
    points = forecast_points(law_c, {"N": 1e9, "D": 1e10}, compute_factor=8.0)
    assert points["C"].iloc[0] == pytest.approx(8e19)
    # What the law does not need is not derived; a DataFrame works like a mapping.
    points = forecast_points(LAW, pd.DataFrame({"N": [1e9], "D": [2e10]}))
    assert list(points.columns) == ["N", "D"]
    assert points.dtypes.tolist() == [np.float64, np.float64]


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ({"N": [1e9]}, r"law 'chinchilla' needs N, D to forecast; missing D"),
        ({"C": [1e20]}, r"missing N, D .*; a budget alone .*bayescale optimal --compute C"),
        ({"N": [1e9, 0.0], "D": 1e10}, r"forecast input N at point 2 is 0\.0"),
        (
            {"N": [1e9], "D": [-1.0]},
            r"forecast input D at point 1 is -1\.0; it must be > 0: law 'chinchilla' takes the "
            r"logarithm of D",
        ),
        ({"N": [np.nan], "D": [1e10]}, r"forecast input N at point 1 is nan"),
        ({"N": [np.inf], "D": [1e10]}, r"forecast input N at point 1 is inf"),
        ({"N": [1e9, 2e9], "D": [1e10, 2e10, 3e10]}, r"different lengths: \{'N': 2, 'D': 3\}"),
        ({"N": ["big"], "D": [1e10]}, r"forecast input N=\['big'\] is not a number"),
        ({"N": [[1e9]], "D": [1e10]}, r"must be a number or a flat list"),
    ],
)
def test_points_errors(at, message):
    with pytest.raises(DataError, match=message):
        forecast_points(LAW, at)


def test_a_compute_well_off_k_n_d_is_warned_about_and_kept():
    from bayescale.errors import DataWarning

    at = {"N": [7e10, 7e10], "D": [1.4e12, 1.4e12], "C": [6.5e23, 1e24]}  # 6ND = 5.88e23
    with pytest.warns(DataWarning, match=r"point 2: C = 1e\+24 is 1\.70x 6 N D = 5\.88e\+23"):
        points = forecast_points(LAW, at)
    assert points["C"].tolist() == at["C"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # within 50%: FLOPs counted otherwise, no warning
        forecast_points(LAW, {**at, "C": [6.5e23, 8.5e23]})


# --------------------------------------------------------------------------- Fit.forecast


@pytest.fixture(scope="module")
def synthetic_fit():
    """A Fit made from independent draws (chains x draws = 4 x 500) without sampling."""
    rng = np.random.default_rng(5)
    N = np.geomspace(1e7, 1e9, 20)
    runs = simulate_runs(N, 20 * N, seed=6)
    draws = synthetic_draws(n=2000, spread=0.02, seed=8)
    posterior = {k: v.reshape(4, 500) for k, v in draws.items()}
    posterior["sigma"] = np.abs(0.01 + 0.001 * rng.standard_normal((4, 500)))
    posterior["nu"] = np.exp(3.0 + 0.1 * rng.standard_normal((4, 500)))
    idata = az.from_dict(
        posterior=posterior, sample_stats={"diverging": np.zeros((4, 500), dtype=bool)}
    )
    return Fit(LAW, runs, idata, {"N": 0.0, "D": 0.0}, seed=3, settings={})


def test_fit_forecast_extrapolation_column(synthetic_fit):
    assert synthetic_fit.ok  # independent draws pass R-hat and ESS
    n_max, d_max = 1e9, 2e10
    table = synthetic_fit.forecast({"N": [1e8, 2e9, 1e9, 1e9], "D": [1e9, 2e10, 1e11, 2e10]})
    np.testing.assert_allclose(table["extrapolation"], [0.1, 2.0, 5.0, 1.0], rtol=1e-12)
    assert n_max == synthetic_fit.runs.x("N").max()
    assert d_max == pytest.approx(synthetic_fit.runs.x("D").max())
    # C given with N: D is derived with the runs' compute factor (6).
    table = synthetic_fit.forecast({"N": [1e10], "C": [6 * 1e10 * 2e11]})
    assert table["D"].iloc[0] == pytest.approx(2e11)
    # 10x the largest N and D is 100x the largest compute.
    assert table["extrapolation"].iloc[0] == pytest.approx(100.0)
    assert table["distance"].iloc[0] == pytest.approx(np.log(100.0))
    # Below the runs: every ratio under 1, but outside their range all the same.
    table = synthetic_fit.forecast({"N": [1e5, 1e8], "D": [1e6, 2e9]})
    assert (table["extrapolation"] < 1).all()
    # The farthest of N (100x under), D (200x) and C (2e4x under 6 x 1e7 x 2e8).
    np.testing.assert_allclose(table["distance"], [np.log(1.2e16 / 6e11), 0.0], atol=1e-9)


def test_fit_forecast_uses_the_posterior_draws(synthetic_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = synthetic_fit.forecast(POINTS, level=[0.5, 0.9])
    draws = synthetic_fit.draws()
    noise = STUDENT.draw_noise(draws, seed=3)
    direct = forecast_table(LAW, draws, noise, POINTS, level=[0.5, 0.9])
    # The runs have N, D and C: the table shows C too, after the two given.
    assert list(table.columns[:3]) == ["N", "D", "C"]
    np.testing.assert_allclose(table["C"], 6 * POINTS["N"] * POINTS["D"], rtol=1e-15)
    pd.testing.assert_frame_equal(table.drop(columns=["C", "extrapolation", "distance"]), direct)
    assert table.attrs["diagnostics_ok"] is True
    # The fit's seed is the default: the same call gives the same table, another seed not.
    assert table.equals(synthetic_fit.forecast(POINTS, level=[0.5, 0.9]))
    other = synthetic_fit.forecast(POINTS, level=[0.5, 0.9], seed=4)
    assert not other["pred_upper_90"].equals(table["pred_upper_90"])
    assert other["law_upper_90"].equals(table["law_upper_90"])


# --------------------------------------------------------------------------- law <= 0


def _log_law():
    """A law with an unbounded log term and multiplicative noise: <= 0 for large D."""
    from bayescale.laws import Law

    return Law.from_formula(
        "E + g * log(D / 1e10)",
        priors={
            "E": {"dist": "LogNormal", "mu": 0.5, "sigma": 0.5},
            "g": {"dist": "Normal", "mu": 0, "sigma": 1},
        },
        inputs=["D"],
    )


def test_law_at_or_below_zero_leaves_new_run_columns_nan_and_warns():
    law = _log_law()
    rng = np.random.default_rng(3)
    # E about 2, g about -0.1: the law is 2 - 0.1 log(D / 1e10), 0 at D = 1e10 e^20 = 4.9e18.
    draws = {
        "E": 2.0 + 0.01 * rng.standard_normal(500),
        "g": -0.1 + 0.001 * rng.standard_normal(500),
    }
    noise = 0.01 * rng.standard_normal(500)
    points = pd.DataFrame({"D": [1e11, 1e25]})
    log_delta = 0.01 * rng.standard_normal((2, 500))
    with pytest.warns(UserWarning, match=r"<= 0 at point 2 in 100% of draws: its form breaks"):
        table = forecast_table(law, draws, noise, points, log_delta=log_delta)
    assert table.loc[1, "law_median"] < 0  # the law's own value is shown
    far = table.loc[1, table.columns.str.match(r"^(pred|disc)_")]
    assert far.isna().all()  # never a negative "new run" loss
    near = table.loc[0, table.columns.str.match(r"^(pred|disc)_")]
    assert near.notna().all() and (near > 0).all()


def test_positive_law_gives_no_warning_about_its_sign():
    draws = synthetic_draws(200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = forecast_table(LAW, draws, np.zeros(200), POINTS)
    assert table.filter(regex="^pred_").notna().all().all()


def test_prob_below_says_why_a_run_has_no_probability_where_the_law_is_not_positive():
    from bayescale.planning import prob_below_draws

    law = _log_law()
    values = np.column_stack([np.full(100, 2.0), np.linspace(-1.0, 1.0, 100)])  # (draws, points)
    noise = {"sigma": np.full(100, 0.01), "nu": np.full(100, 5.0)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        law_p, run_p = prob_below_draws(values, 1.5, law.likelihood, noise)
    messages = [str(w.message) for w in caught]
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]  # no raw numpy
    assert len(messages) == 1 and "point 2 in 50% of draws" in messages[0]
    assert "prob_run_below is NaN" in messages[0]
    assert run_p[0] == pytest.approx(0.0, abs=1e-5) and np.isnan(run_p[1])
    assert law_p[1] == pytest.approx(1.0)  # the law is below 1.5 in every draw there


# --------------------------------------------------------------------------- levels, points


def test_a_float32_level_is_labelled_as_typed():
    # float32(0.9) is 0.8999999762: its label is 90, the column one looks up.
    assert level_label(np.float32(0.9)) == "90"
    assert level_label(np.float32(0.975)) == "97.5"
    assert level_label(0.975) == "97.5"
    # Close to 1, never rounded up to 100 (a level is below 1).
    assert level_label(0.9999999) == "99.99999"
    draws = synthetic_draws(200)
    table = forecast_table(LAW, draws, np.zeros(200), POINTS, level=[np.float32(0.9), 0.9])
    assert [c for c in table.columns if c.startswith("law_lower")] == ["law_lower_90"]
    plain = forecast_table(LAW, draws, np.zeros(200), POINTS, level=0.9)
    pd.testing.assert_series_equal(table["pred_upper_90"], plain["pred_upper_90"])


@pytest.mark.parametrize(
    ("at", "sources", "message"),
    [
        ({"n": 7e10, "D": 1.4e12}, None, r"missing N .*; 'n' was not used: did you mean N\?"),
        (
            {"params": 7e10, "tokens": 1.4e12},
            {"N": "params", "D": "tokens", "C": "derived: 6 N D"},
            r"'params', 'tokens' were not used: use N \(your 'params'\) and D \(your 'tokens'\)",
        ),
        (
            {"Model Size": 7e10, "d": 1.4e12},
            {"N": "Model Size"},
            r"use N \(your 'Model Size'\).*; did you mean D for 'd'\?",
        ),
        ({"N": True, "D": 1.4e12}, None, r"forecast input N=True is or holds a bool"),
        ({"N": [7e10, False], "D": 1.4e12}, None, r"forecast input N=.* holds a bool"),
        ({"N": 7e10, "D": np.array([True])}, None, r"forecast input D=.* holds a bool"),
    ],
    ids=["case", "source-columns", "source-and-case", "bool", "bool-in-list", "numpy-bool"],
)
def test_points_named_by_mistake_say_what_to_use(at, sources, message):
    with pytest.raises(DataError, match=message):
        forecast_points(LAW, at, sources=sources)


def test_a_bool_label_is_still_a_label():
    points = forecast_points(LAW, {"N": [7e10], "D": [1.4e12], "final": [True]})
    assert list(points.columns) == ["N", "D", "final"]


def test_points_come_in_one_order_n_d_c_inputs_then_labels_whatever_was_given():
    given = {"name": ["a"], "D": [2e10], "N": [1e9]}
    assert list(forecast_points(LAW, given).columns) == ["N", "D", "name"]
    points = forecast_points(LAW, given, triad=True)
    assert list(points.columns) == ["N", "D", "C", "name"]
    assert points["C"].iloc[0] == 6 * 1e9 * 2e10
    # A law with an input beyond N and D: the triad, then that input, then the labels.
    law = get_law("data_constrained")
    for at in (
        {"U": [1e10], "run": ["a"], "C": [1.2e20], "N": [1e9]},
        {"run": ["a"], "D": [2e10], "U": [1e10], "N": [1e9]},
        {"C": [1.2e20], "D": [2e10], "run": ["a"], "U": [1e10]},
    ):
        points = forecast_points(law, at, triad=True)
        assert list(points.columns) == ["N", "D", "C", "U", "run"]
        np.testing.assert_allclose(points[["N", "D", "C"]].iloc[0], [1e9, 2e10, 1.2e20])


def test_fit_forecast_shows_the_whole_triad_whichever_two_are_given(synthetic_fit):
    n, d = np.array([1e8, 3e9]), np.array([2e9, 5e10])
    tables = [
        synthetic_fit.forecast({"N": n, "D": d}),
        synthetic_fit.forecast({"N": n, "C": 6 * n * d}),
        synthetic_fit.forecast({"D": d, "C": 6 * n * d}),
    ]
    for table in tables:
        # One schema whichever two are given: code indexing by position and CSVs agree.
        assert list(table.columns[:4]) == ["N", "D", "C", "law_median"]
        pd.testing.assert_frame_equal(
            table[["N", "D", "C", "law_median", "pred_upper_90"]],
            tables[0][["N", "D", "C", "law_median", "pred_upper_90"]],
            rtol=1e-6,
        )


def test_fit_forecast_records_what_it_forecasts(synthetic_fit):
    import json

    table = synthetic_fit.forecast({"N": [1e9], "D": [2e10]})
    assert table.attrs["y"] == synthetic_fit.runs.y_name == "loss"
    assert table.attrs["law"] == "chinchilla"
    assert json.loads(json.dumps(table.attrs)) == table.attrs  # JSON as it is
    with pytest.raises(DataError, match=r"use N \(your 'params'\) and D \(your 'tokens'\)"):
        synthetic_fit.forecast({"params": [1e9], "tokens": [2e10]})
    with pytest.raises(DataError, match=r"'n' was not used: did you mean N\?"):
        synthetic_fit.forecast({"n": [1e9], "D": [2e10]})


def test_a_fit_without_a_learned_discrepancy_says_its_far_intervals_lack_the_laws_error(
    synthetic_fit,
):
    # No backtests, no reach to compare with: the distance column says how far, and the
    # caveat that its intervals there allow nothing for the law's own error (warned once per
    # fit; every table keeps it). Within an e-fold of the runs, nothing is said.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ExtrapolationWarning)
        warnings.simplefilter("ignore", SlipWarning)  # 1e4x below the runs, on purpose
        table = synthetic_fit.forecast({"N": [1e3], "D": [1e4]})
    assert table["distance"].iloc[0] > 15
    (caveat,) = table.attrs["caveats"]
    assert "from a fit without a discrepancy" in caveat and "e-folds outside" in caveat
    runs = synthetic_fit.runs
    inside = {"N": [float(np.median(runs.x("N")))], "D": [float(np.median(runs.x("D")))]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = synthetic_fit.forecast(inside)
    assert "caveats" not in table.attrs


def test_a_law_in_the_loss_is_not_told_about_n_d_and_c() -> None:
    from bayescale.errors import DataError
    from bayescale.forecast import forecast_points
    from bayescale.laws import Law

    link = Law.from_formula("eps - k * exp(-gamma * L)", inputs=["L"])
    with pytest.raises(DataError, match=r"missing L") as info:
        forecast_points(link, {"loss": [2.5]}, sources={"L": "loss"})
    assert "any two are enough" not in str(info.value)
    assert "your 'loss'" in str(info.value)
    chinchilla = Law.from_formula("E + A / N**alpha + B / D**beta", inputs=["N", "D"])
    with pytest.raises(DataError, match=r"any two are enough: C = 6 N D"):
        forecast_points(chinchilla, {"N": [7e10]})


def test_a_forecast_with_n_and_d_swapped_is_warned_about(healthy_fit) -> None:
    # Regression: N = 1.4T, D = 70B (Chinchilla-70B the wrong way round) was forecast without
    # a word, only 'far outside the runs'. Fit and Average forecasts and prob_below say it.
    from bayescale.comparison import average
    from bayescale.errors import DataWarning

    swapped = {"N": [1e11, 1e11], "D": [2e12, 1e9]}
    calls = {
        "forecast": lambda: healthy_fit.forecast(swapped),
        "predictive": lambda: healthy_fit.predictive(swapped),
        "prob_below": lambda: healthy_fit.prob_below(2.0, **swapped),
        "average": lambda: average({"chinchilla": healthy_fit}).forecast(swapped),
        "average prob_below": lambda: average({"chinchilla": healthy_fit}).prob_below(
            2.0, **swapped
        ),
    }
    for name, call in calls.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        said = [w for w in caught if "are N and D swapped?" in str(w.message)]
        assert len(said) == 1, (name, [str(w.message) for w in caught])
        assert issubclass(said[0].category, DataWarning)
        assert str(said[0].message).startswith("point 2 (N = 100B, D = 1B) has 0.01 tokens")
        assert said[0].filename == __file__, name  # at the user's line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        healthy_fit.forecast({"N": 1e11, "D": 2e12})
    assert not [w for w in caught if "swapped" in str(w.message)]


def test_a_point_far_below_every_run_is_warned_about_as_a_slip_of_units(healthy_fit) -> None:
    # Regression: N = 70 (70B typed without its unit) was forecast 12 e-folds below the runs
    # without a word: the far-point rule measures against the backtests' reach, not units.
    from bayescale.errors import DataWarning

    smallest = float(healthy_fit.runs.x("N").min())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        healthy_fit.forecast({"N": [7e10, 70.0, 60.0], "D": [1.4e12, 1.4e12, 1.4e12]})
    (said,) = [w for w in caught if "below the smallest run's" in str(w.message)]
    assert issubclass(said.category, DataWarning) and said.filename == __file__
    text = str(said.message)
    assert text.startswith(f"point 2: N = 70 is {smallest / 70:.2g} times below the smallest")
    assert "(2 points like it): check its units (N in parameters, not millions" in text
    # Within a factor 1000 of the smallest run: a short extrapolation downward, not a slip.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        healthy_fit.forecast({"N": smallest / 900, "D": 1e10})
    assert not [w for w in caught if "below the smallest run's" in str(w.message)]


def test_an_interval_wider_than_the_draws_can_estimate_is_warned_about(synthetic_fit) -> None:
    # 4 chains x 500 draws (synthetic_fit): a 99.9% interval has 1 draw beyond each end, its
    # ends the most extreme draws; a 99% interval has 10 and is quiet.
    assert synthetic_fit._n_draws * (1 - 0.99) / 2 >= TAIL_DRAWS
    at = {"N": [1e9], "D": [2e10]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        synthetic_fit.forecast(at, level=0.99)
    with pytest.warns(
        UserWarning, match=r"a 99\.9% interval from 2000 posterior draws has 1 "
    ) as seen:
        synthetic_fit.forecast(at, level=[0.5, 0.999])
    thin = [w for w in seen if "posterior draws has" in str(w.message)]
    assert f"at least {int(np.ceil(2 * TAIL_DRAWS / 0.001))} over all chains" in str(
        thin[0].message
    )
    assert thin[0].filename == __file__  # points at the caller's line
    with pytest.warns(UserWarning, match="posterior draws has"):
        synthetic_fit.compute_optimal(1e21, level=0.999)
