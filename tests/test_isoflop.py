"""IsoFLOP curves and their minima (bayescale.isoflop), and the plan's discrepancy density."""

from __future__ import annotations

import numpy as np
import pytest

from bayescale import discrepancy as dm
from bayescale.isoflop import (
    FEWEST,
    curve_noise,
    find_curves,
    isoflop_minima,
    parabola_minimum,
)


def test_the_vertex_of_an_exact_parabola_and_its_standard_error():
    log_n = np.log(np.geomspace(1e8, 1e10, 9))
    vertex = np.log(2e9)
    log_y = 0.7 + 0.05 * (log_n - vertex) ** 2
    found, se = parabola_minimum(log_n, log_y)
    assert found == pytest.approx(vertex, abs=1e-9)
    assert se == pytest.approx(0.0, abs=1e-6)
    # With noise, the standard error says how far the vertex strays: about 95% of 400
    # replicates lie within 2 standard errors of the truth.
    rng = np.random.default_rng(0)
    x = np.log(np.geomspace(3e8, 1.5e10, 15))
    z = []
    for _ in range(400):
        y = 0.7 + 0.05 * (x - vertex) ** 2 + 0.003 * rng.standard_normal(len(x))
        got, error = parabola_minimum(x, y)
        z.append((got - vertex) / error)
    assert 0.9 < np.mean(np.abs(z) < 2) < 0.99


def test_a_curve_without_a_bracketed_minimum_has_none():
    log_n = np.log(np.geomspace(1e8, 1e9, 7))
    assert parabola_minimum(log_n, 0.7 + 0.05 * (log_n - np.log(5e9)) ** 2) is None  # beyond
    assert parabola_minimum(log_n, 0.7 - 0.05 * (log_n - np.log(3e8)) ** 2) is None  # a maximum
    assert parabola_minimum(log_n[: FEWEST - 1], (log_n[: FEWEST - 1] - 19) ** 2) is None


def test_the_window_removes_the_bias_of_a_wide_asymmetric_sweep():
    # Chinchilla's loss along an IsoFLOP curve, over a factor 1e5 in N: not a parabola far from
    # the optimum, so a parabola through every run misplaces the vertex; the window does not.
    budget, k = 1e21, 6.0
    n = np.geomspace(1e7, 1e12, 21)
    loss = 1.82 + 482 / n**0.35 + 2085 / (budget / (k * n)) ** 0.37
    grid = np.geomspace(1e7, 1e12, 200_001)
    exact = np.log(grid[np.argmin(1.82 + 482 / grid**0.35 + 2085 / (budget / (k * grid)) ** 0.37)])
    windowed = parabola_minimum(np.log(n), np.log(loss))[0]
    everything = parabola_minimum(np.log(n), np.log(loss), window=np.inf)[0]
    assert abs(windowed - exact) < 0.02
    assert abs(everything - exact) > 5 * abs(windowed - exact)


def test_curves_are_found_by_budget_and_other_runs_left_out():
    rng = np.random.default_rng(1)
    rows = []
    for budget, centre in ((1e19, 3e8), (1e20, 9e8), (1e21, 3e9)):
        # Each budget's compute jitters by up to 4%, as decoded runs do.
        for n in np.geomspace(centre / 5, centre * 5, 7):
            c = budget * (1 + rng.uniform(-0.04, 0.04))
            rows.append((n, c / (6 * n), 2.0 + 0.04 * np.log(n / centre) ** 2))
    # Scattered runs on no curve, and a short curve with its minimum outside its runs.
    rows += [(n, 1e10, 2.5) for n in np.geomspace(1e7, 1e8, 4)]
    rows += [
        (n, 1e22 / (6 * n), 2.0 + 0.04 * np.log(n / 1e12) ** 2) for n in np.geomspace(1e9, 1e10, 6)
    ]
    n, d, y = np.array(rows).T
    curves = find_curves(n, d, y)
    assert [round(np.log10(c.compute)) for c in curves] == [19, 20, 21]
    assert [len(c.rows) for c in curves] == [7, 7, 7]
    for curve, centre in zip(curves, (3e8, 9e8, 3e9), strict=True):
        assert np.exp(curve.log_n_min) == pytest.approx(centre, rel=1e-6)
        assert np.all(np.abs(np.log(6 * n[curve.rows] * d[curve.rows] / curve.compute)) < 0.1)


def test_curve_noise_is_a_typical_curves_and_one_with_outliers_does_not_rule_it():
    rng = np.random.default_rng(4)
    rows = []
    for budget, centre in ((1e19, 3e8), (1e20, 9e8), (1e21, 3e9), (3e21, 5e9), (1e22, 9e9)):
        for n in np.geomspace(centre / 6, centre * 6, 9):
            rows.append((n, budget / (6 * n), 2.0 * np.exp(0.04 * np.log(n / centre) ** 2)))
    n, d, y = np.array(rows).T
    y = y * np.exp(0.01 * rng.standard_normal(len(y)))
    y[[2, 6]] *= 1.08  # two runs of the first curve went wrong
    curves = find_curves(n, d, y)
    assert len(curves) == 5
    noise = curve_noise(curves)
    assert 0.006 < noise < 0.014
    pooled = np.sqrt(sum(c.rss for c in curves) / sum(len(c.fitted) - 3 for c in curves))
    assert pooled > 1.8 * noise  # what a sum of squares over the curves would have said
    assert curve_noise([]) is None


def test_the_plan_density_tells_an_offset_from_a_slope():
    rng = np.random.default_rng(2)
    curves = 60
    d = np.where(np.arange(curves) < 20, 0.0, rng.uniform(0.5, 3.0, curves))  # 20 in the data
    se, plan_sd = np.full(curves, 0.05), np.full(curves, 0.02)
    on_target = np.hypot(0.05, 0.02) * rng.standard_normal(curves)
    drifting = on_target + 0.15 * d * rng.standard_normal(curves)
    offset = on_target + 0.2 * rng.standard_normal(curves)  # as far off inside as beyond

    def best(minima):
        density = dm.plan_log_density(minima, se, np.zeros(curves), plan_sd, d).sum(axis=2)
        row, column = np.unravel_index(np.argmax(density), density.shape)
        return dm.PLAN_OFFSET_GRID[row], dm.S_GRID[column]

    s0, s = best(on_target)
    assert s0 < 0.03 and s < 0.02
    s0, s = best(drifting)
    assert s0 < 0.05 and 0.1 < s < 0.2
    s0, s = best(offset)
    assert 0.14 < s0 < 0.26 and s < 0.05


def test_the_curves_of_one_fit_share_the_plans_trend():
    # One refit planning three held-out budgets. A drift that grows with distance and keeps
    # its sign is a trend; the same errors with alternating signs are not. Independent
    # errors cannot tell the two apart (only their squares count); a shared trend can.
    d = np.array([1.0, 2.0, 3.0])
    se, plan_sd, zero = np.full(3, 0.03), np.full(3, 0.02), np.zeros(3)
    drift, zigzag = 0.15 * d, 0.15 * d * np.array([1, -1, 1])

    def slope(errors, groups):
        density = dm.plan_log_density(errors, se, zero, plan_sd, d, groups=groups).sum(axis=2)
        weights = np.exp(density - density.max())
        return (weights.sum(axis=0) * dm.S_GRID).sum() / weights.sum()

    alone = [slope(e, None) for e in (drift, zigzag)]
    assert alone[0] == pytest.approx(alone[1])
    shared = [slope(e, ["refit"] * 3) for e in (drift, zigzag)]
    assert shared[0] > 1.5 * shared[1]

    # The backtest's posterior groups the curves by the fit that planned them.
    def posterior_slope(errors):
        found = [
            {"n_min": np.exp(e), "se_log_n": 0.03, "plan_mean": 0.0, "plan_sd": 0.02}
            | {"distance": di, "fit": "below 50%"}
            for e, di in zip(errors, d, strict=True)
        ]
        return (dm._plan_posterior(found).sum(axis=0) * dm.S_GRID).sum()

    assert posterior_slope(drift) > 1.5 * posterior_slope(zigzag)
    # Three fits of one curve each are independent: the same as no groups.
    np.testing.assert_allclose(
        dm.plan_log_density(drift, se, zero, plan_sd, d, groups=["a", "b", "c"]),
        dm.plan_log_density(drift, se, zero, plan_sd, d),
    )


def test_an_off_centre_sweep_finds_its_minimum_off_the_optimum():
    # "A new IsoFLOP curve finds" (compute_optimal's N_pred) is placed like the runs' largest
    # curve. Epoch's has 9 runs from 0.67x to 4.1x its minimum: a property of that design, not
    # of the simulation, moves the median it finds. One law (Besiroglu et al.'s), many
    # simulated sweeps at 1e25 FLOPs, 0.41% noise on log loss (Epoch's curves').
    from bayescale import planning
    from bayescale.laws import get_law

    law = get_law("chinchilla")
    truth = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
    n_draws, budget = 4000, 1e25
    params = {name: np.full(n_draws, value) for name, value in truth.items()}
    log_opt, _ = planning.chinchilla_optimum(truth, np.log(budget), 6.0)
    at = np.full((n_draws, 1), log_opt)
    off_centre = np.array([1.416, 1.163, 1.070, 0.861, 0.548, 0.140, -0.276, -0.398, -0.276])
    centred = np.linspace(-np.ptp(off_centre) / 2, np.ptp(off_centre) / 2, len(off_centre))

    def found(offsets, noise):
        got = planning.measured_optimum_draws(law, params, [budget], at, offsets, noise, 1)
        vertex = got[:, 0] - log_opt
        inside = (vertex > offsets.min()) & (vertex < offsets.max())
        return vertex, inside

    # Without noise the parabola's vertex is the optimum (to its approximation error).
    for offsets in (off_centre, centred):
        vertex, inside = found(offsets, 0.0)
        assert inside.all() and np.all(np.abs(vertex) < 0.02)
    # With noise, many sweeps find no minimum within their runs, and the off-centre design's
    # median moves towards its side with more runs (larger N); the centred one's does not.
    vertex, inside = found(off_centre, 0.0041)
    assert np.isnan(vertex).mean() > 0.1 and (~inside).mean() > 0.2
    assert np.median(vertex[inside]) > 0.1 and np.nanmedian(vertex) > 0.1
    vertex, inside = found(centred, 0.0041)
    assert abs(np.median(vertex[inside])) < 0.03


def test_isoflop_minima_hold_the_true_optimum_as_often_as_they_say() -> None:
    from bayescale.demo import TRUE_PARAMETERS as p
    from bayescale.demo import demo_runs

    exponent = p["beta"] / (p["alpha"] + p["beta"])
    ratio = (p["alpha"] * p["A"]) / (p["beta"] * p["B"])
    hits, frontier_hits = [], []
    for seed in range(10):
        table = isoflop_minima(demo_runs(seed))
        assert len(table) == 9 and not table.attrs["missed"]  # 9 budgets, each bracketed
        truth = (ratio * (table["C"] / 6) ** p["beta"]) ** (1 / (p["alpha"] + p["beta"]))
        hits += list((table["N_lower_90"] <= truth) & (truth <= table["N_upper_90"]))
        np.testing.assert_allclose(table["D_min"], table["C"] / (6 * table["N_min"]))
        frontier = table.attrs["frontier"]
        frontier_hits.append(frontier["exponent_lower"] <= exponent <= frontier["exponent_upper"])
    # 90% intervals of 90 minima (measured 93%) and of 10 frontiers (9 of 10).
    assert 0.8 <= np.mean(hits) <= 0.99
    assert sum(frontier_hits) >= 8


def test_isoflop_minima_say_why_there_is_no_curve() -> None:
    import pandas as pd

    from bayescale import load_runs
    from bayescale.errors import DataError

    # Runs at five budgets, one size each: no budget has the runs of a curve.
    runs = load_runs(
        pd.DataFrame(
            {"N": [1e8, 2e8, 4e8, 8e8, 1.6e9], "D": [2e9] * 5, "loss": [3, 2.9, 2.8, 2.7, 2.6]}
        )
    )
    with pytest.raises(DataError, match=r"no IsoFLOP curve in the 5 runs .* 5 or more runs within"):
        isoflop_minima(runs)
    with pytest.raises(DataError, match=r"at most 1 of these runs share a budget"):
        isoflop_minima(runs)
    only_n = load_runs(pd.DataFrame({"N": [1e8, 2e8, 4e8], "loss": [3.0, 2.9, 2.8]}))
    with pytest.raises(DataError, match=r"need each run's N and D"):
        isoflop_minima(only_n)


def test_a_group_asked_of_runs_without_groups_is_refused() -> None:
    from bayescale.demo import demo_runs
    from bayescale.errors import DataError

    runs = demo_runs(0)
    with pytest.raises(DataError, match=r"group 'web' is asked but neither the runs nor the fit"):
        isoflop_minima(runs, group="web")
    assert len(isoflop_minima(runs)) > 0


def test_isoflop_minima_of_runs_in_groups_never_mix_families() -> None:
    import pandas as pd

    from bayescale import load_runs
    from bayescale.demo import demo_runs

    table = demo_runs(0).table.rename(columns={"y": "loss"})
    other = table.assign(loss=table["loss"] * 1.3)
    both = pd.concat([table.assign(dataset="a"), other.assign(dataset="b")], ignore_index=True)
    grouped = isoflop_minima(load_runs(both, group="dataset"))
    alone = isoflop_minima(load_runs(table))
    part = grouped[grouped["group"] == "a"].reset_index(drop=True)
    # Group a's curves are its own runs' (12 a budget), measured as if alone.
    assert list(part["runs"]) == list(alone["runs"]) == [12] * 9
    np.testing.assert_allclose(part["N_min"], alone["N_min"])
    np.testing.assert_allclose(part["N_upper_90"], alone["N_upper_90"])
    assert set(grouped.attrs["frontier"]) == {"a", "b"}
    only_b = isoflop_minima(load_runs(both, group="dataset"), group="b")
    assert set(only_b["group"]) == {"b"}


def test_isoflop_minima_read_a_table_or_a_path_as_fit_does(tmp_path) -> None:
    import pandas as pd

    from bayescale import load_runs
    from bayescale.demo import demo_runs
    from bayescale.errors import DataError

    table = demo_runs(0).table.rename(columns={"y": "loss"})
    expected = isoflop_minima(load_runs(table))
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    for given in (table, path, str(path)):
        found = isoflop_minima(given)
        pd.testing.assert_frame_equal(found, expected)
        assert found.attrs["frontier"] == expected.attrs["frontier"]
    # Other column names are mapped as load_runs maps them.
    renamed = table.rename(columns={"N": "params", "D": "tokens", "loss": "val_loss"})
    mapped = isoflop_minima(renamed, x={"N": "params", "D": "tokens", "C": "C"}, y="val_loss")
    pd.testing.assert_frame_equal(mapped, expected)
    with pytest.raises(DataError, match="isoflop_minima needs runs: Runs from"):
        isoflop_minima(table.to_numpy())
    with pytest.raises(DataError, match="y= is for reading a table"):
        isoflop_minima(load_runs(table), y="loss")
