"""Which run next (bayescale.recommend): properties a wrong recommendation would break."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from bayescale.errors import DataError, FormulaError
from bayescale.recommendation import candidate_costs, recommend

TARGET = {"N": 7e10, "D": 1.4e12}
#: Inside the simulated runs (N 1e7..3e9, D 3e8..1e11): little left to learn there.
INSIDE = {"N": 3e8, "D": 1e10}
#: Between the runs and the target: extrapolation, informative about it.
TOWARDS = {"N": 2e10, "D": 4e11}


@pytest.fixture(scope="module")
def healthy_fit(healthy_fit):
    """The shared fit without the discrepancy it learned by default: these tests judge the
    law's own variance, and the ones about a discrepancy give it one of a known slope."""
    return dataclasses.replace(healthy_fit, discrepancy=None)


def _pool(*points: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(list(points))


def test_a_run_towards_the_target_beats_one_inside_the_data(healthy_fit):
    table = recommend(healthy_fit, _pool(INSIDE, TOWARDS), TARGET, cost=[1.0, 1.0], seed=3)
    by = table.set_index("candidate")
    assert by.loc[1, "variance_reduction"] > 3 * by.loc[0, "variance_reduction"]
    assert by.loc[1, "chosen"] and not by.loc[0, "chosen"]
    assert table.attrs["variance_after"] < table.attrs["variance_before"]
    assert table.attrs["criterion"].startswith("loss")


def test_of_two_equal_runs_the_cheaper_wins(healthy_fit):
    table = recommend(healthy_fit, _pool(TOWARDS, TOWARDS), TARGET, cost=[2.0, 1.0], seed=3)
    by = table.set_index("candidate")
    # Common random numbers: identical candidates get identical expected reductions.
    assert by.loc[0, "variance_reduction"] == pytest.approx(by.loc[1, "variance_reduction"])
    assert by.loc[1, "chosen"] and not by.loc[0, "chosen"]
    assert by.loc[1, "value_per_cost"] == pytest.approx(2 * by.loc[0, "value_per_cost"])


def test_a_batch_never_repeats_a_row_and_a_replicate_is_worth_less(healthy_fit):
    pool = _pool(TOWARDS, TOWARDS, INSIDE)
    table = recommend(healthy_fit, pool, TARGET, cost=[1.0, 1.0, 1.0], batch=2, seed=3)
    chosen = table[table["chosen"]].sort_values("order")
    assert chosen["candidate"].is_unique and len(chosen) == 2
    # The replicate is still the better second run here, but worth less than alone.
    assert set(chosen["candidate"]) == {0, 1}
    second = chosen.iloc[1]
    assert second["marginal_reduction"] < 0.9 * second["variance_reduction"]


def test_the_budget_is_respected(healthy_fit):
    pool = _pool(INSIDE, TOWARDS, {"N": 5e9, "D": 1e11})
    costs = 6 * pool["N"] * pool["D"]
    budget = float(costs.iloc[0] + costs.iloc[2]) * 1.01
    table = recommend(healthy_fit, pool, TARGET, budget=budget, batch=3, seed=3)
    chosen = table[table["chosen"]]
    assert chosen["cost"].sum() <= budget
    assert 1 not in set(chosen["candidate"])  # costs more than the whole budget
    assert table.attrs["spent"] == pytest.approx(chosen["cost"].sum())


def test_default_cost_is_the_fits_compute_factor_times_n_d(healthy_fit):
    pool = _pool(INSIDE, TOWARDS)
    table = recommend(healthy_fit, pool, TARGET, seed=3).set_index("candidate").sort_index()
    k = healthy_fit.runs.compute_factor
    assert np.allclose(table["cost"], k * pool["N"] * pool["D"])


def test_compute_optimal_n_is_learnt_off_the_frontier(healthy_fit):
    # The split of compute is set by the curvature across an IsoFLOP curve: a run far from
    # the compute-optimal ratio teaches it more than one near it (about 20 tokens/param).
    pool = _pool(TOWARDS, {"N": 1e11, "D": 1e10})
    table = recommend(healthy_fit, pool, {"C": 1e23}, cost=[1.0, 1.0], seed=3)
    assert table.attrs["criterion"].startswith("optimal_N")
    by = table.set_index("candidate")
    assert by.loc[1, "variance_reduction"] > 3 * max(by.loc[0, "variance_reduction"], 0.0)
    assert by.loc[1, "chosen"]
    assert table.attrs["target"] == [{"C": 1e23}]


def test_reweighting_agrees_with_the_gaussian_estimate(healthy_fit):
    pool = _pool(INSIDE, TOWARDS, {"N": 5e9, "D": 1e11})
    kw = {"cost": [1.0, 1.0, 1.0], "seed": 3, "fantasies": 64}
    reweight = recommend(healthy_fit, pool, TARGET, method="reweight", **kw)
    gaussian = recommend(healthy_fit, pool, TARGET, method="gaussian", **kw)
    a = reweight.set_index("candidate").sort_index()["variance_reduction"]
    b = gaussian.set_index("candidate").sort_index()["variance_reduction"]
    assert a.idxmax() == b.idxmax()
    assert a.max() == pytest.approx(b.max(), rel=0.5)


def test_collapsed_weights_fall_back_to_the_gaussian_estimate_with_a_warning(healthy_fit):
    with pytest.warns(UserWarning, match="collapsed"):
        table = recommend(healthy_fit, _pool(TOWARDS), TARGET, min_ess=1e9, seed=3)
    assert (table["estimate"] == "gaussian").all()
    assert table.attrs["warnings"]


def test_cost_formula_and_its_errors():
    pool = pd.DataFrame({"N": [1e8, 2e8], "D": [1e9, 1e9], "epochs": [1.0, 4.0]})
    assert np.allclose(candidate_costs(pool, "6*N*D*epochs", 6.0), [6e17, 4.8e18])
    with pytest.raises(FormulaError, match="cost '6\\*N\\*'"):
        candidate_costs(pool, "6*N*", 6.0)
    with pytest.raises(DataError, match="uses gpu_hours, not a column"):
        candidate_costs(pool, "gpu_hours", 6.0)
    with pytest.raises(DataError, match=r"candidate 0 is -5e\+07"):
        candidate_costs(pool, "N - 1.5e8", 6.0)
    with pytest.raises(DataError, match="2 candidates"):
        candidate_costs(pool, [1.0], 6.0)
    with pytest.raises(DataError, match="needs columns N and D"):
        candidate_costs(pool[["N"]], None, 6.0)
    with pytest.raises(FormulaError):
        candidate_costs(pool, "__import__('os')", 6.0)


def test_bad_options_are_named(healthy_fit):
    pool = _pool(TOWARDS)
    with pytest.raises(DataError, match="batch"):
        recommend(healthy_fit, pool, TARGET, batch=0)
    with pytest.raises(DataError, match="criterion"):
        recommend(healthy_fit, pool, TARGET, criterion="entropy")
    with pytest.raises(DataError, match="optimal_N"):
        recommend(healthy_fit, pool, TARGET, criterion="optimal_N")
    with pytest.raises(DataError, match="budget"):
        recommend(healthy_fit, pool, TARGET, budget=-1.0)


def test_plot_marks_the_chosen_runs(healthy_fit):
    from bayescale.plots.recommend import plot_recommendation

    table = recommend(healthy_fit, _pool(INSIDE, TOWARDS), TARGET, batch=2, seed=3)
    ax = plot_recommendation(healthy_fit, table)
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["1", "2"]
    assert "target" in [h.get_label() for h in ax.get_legend().legend_handles]


def _app() -> typer.Typer:
    from bayescale.cli._guard import Group
    from bayescale.cli.commands.next import next_command

    app = typer.Typer(cls=Group, add_completion=False, pretty_exceptions_enable=False)
    app.command("next")(next_command)

    @app.callback()
    def _root() -> None:
        """Test app."""

    return app


def test_cli_next(healthy_fit, tmp_path):
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    _pool(INSIDE, TOWARDS, {"N": 5e9, "D": 1e11}).to_csv(grid, index=False)
    runner = CliRunner()
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = runner.invoke(_app(), [*args, "--budget", "1e21", "--batch", "2"])
        assert done.exit_code == 0, done.output
        assert "Chosen:" in done.output
        as_csv = runner.invoke(_app(), [*args, "--format", "csv"])
        assert as_csv.exit_code == 0
        assert as_csv.output.splitlines()[0].startswith("candidate,N,D")
        bad = runner.invoke(_app(), [*args, "--cost", "6*N*tokens"])
        assert bad.exit_code == 2
        assert "tokens" in bad.output and "not a column" in bad.output
        # More runs asked for than there are candidates: said, not silently all taken.
        every = runner.invoke(_app(), [*args, "--batch", "100", "--top", "2"])
        assert every.exit_code == 0 and "batch = 100 but there are" in every.output
        # Every chosen run is in the table, beyond --top.
        chosen = int(every.output.split("Chosen: ")[1].split()[0])
        rows = [line for line in every.output.splitlines() if line.startswith("│")]
        assert chosen > 2 and len(rows) >= chosen
    # A candidates file without the law's inputs: the file, its columns and the --x to give.
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(grid).rename(columns={"N": "size"}).to_csv(renamed, index=False)
    args[3] = str(renamed)
    done = runner.invoke(_app(), args)
    assert done.exit_code == 2
    said = " ".join(done.output.split())
    assert f"--candidates {renamed}: law" in said and "missing N" in said
    assert "the candidates' columns: size, D" in said
    assert "--x N=COLUMN (the fit's runs had it as 'params')" in said


def test_within_a_budget_the_batch_is_the_better_of_two_greedy_choices(healthy_fit):
    # Cheap runs at the data's edge have the best ratio; one costly run towards the target
    # teaches far more. Ranking by ratio alone fills the budget with the cheap ones.
    edge = [{"N": 3e9, "D": 1e11}, {"N": 2.5e9, "D": 9e10}, {"N": 3e9, "D": 8e10}]
    pool = _pool(*edge, TOWARDS)
    costs = [1.0, 1.0, 1.0, 200.0]
    kw = {"cost": costs, "budget": 201.5, "batch": 3, "seed": 3}
    per_cost = recommend(healthy_fit, pool, TARGET, strategy="per_cost", **kw)
    auto = recommend(healthy_fit, pool, TARGET, **kw)
    assert per_cost.attrs["strategy"] == "per_cost"
    assert auto.attrs["strategy"] == "reduction"
    assert auto.attrs["variance_after"] < per_cost.attrs["variance_after"]
    assert 3 in set(auto.loc[auto["chosen"], "candidate"])
    assert 3 not in set(per_cost.loc[per_cost["chosen"], "candidate"])
    assert auto.loc[auto["chosen"], "cost"].sum() <= 201.5


def _with_discrepancy(fit, slope: float, plan: tuple[float, float] | None = None):
    """The fit with a discrepancy whose slope (and plan offset, slope) sit at one value."""
    from bayescale.discrepancy import PLAN_OFFSET_GRID, S_GRID, Discrepancy

    runs = fit.runs
    n, d = runs.x("N"), runs.x("D")
    logs = {"N": np.log(n), "D": np.log(d), "C": np.log(runs.compute_factor * n * d)}
    weights = np.zeros(len(S_GRID))
    weights[np.argmin(np.abs(S_GRID - slope))] = 1.0
    plan_weights = None
    if plan is not None:
        plan_weights = np.zeros((len(PLAN_OFFSET_GRID), len(S_GRID)))
        plan_weights[
            np.argmin(np.abs(PLAN_OFFSET_GRID - plan[0])), np.argmin(np.abs(S_GRID - plan[1]))
        ] = 1.0
    found = Discrepancy(
        "backtest",
        {k: float(v.min()) for k, v in logs.items()},
        {k: float(v.max()) for k, v in logs.items()},
        runs.compute_factor,
        S_GRID.copy(),
        weights,
        plan_weights=plan_weights,
    )
    return dataclasses.replace(fit, discrepancy=found), found


def test_a_discrepancy_adds_what_a_run_shortens_of_the_extrapolation(healthy_fit):
    from bayescale.discrepancy import distance

    beyond = {"N": 2e10, "D": 1e10}  # beyond the runs in N and C, not in D
    pool = _pool(INSIDE, TOWARDS, beyond)
    plain = recommend(healthy_fit, pool, TARGET, cost=[1.0, 1.0, 1.0], seed=3)
    fit, found = _with_discrepancy(healthy_fit, 0.03)
    aware = recommend(fit, pool, TARGET, cost=[1.0, 1.0, 1.0], seed=3)
    slope2 = found.s_grid[np.argmax(found.s_weights)] ** 2
    d_now = distance(TARGET, found.log_min, found.log_max, found.compute_factor)
    assert aware.attrs["discrepancy_variance_before"] == pytest.approx(slope2 * d_now**2)
    assert aware.attrs["variance_before"] == pytest.approx(
        plain.attrs["variance_before"] + slope2 * d_now**2
    )
    by_plain, by_aware = plain.set_index("candidate"), aware.set_index("candidate")
    for j, point in enumerate((INSIDE, TOWARDS, beyond)):
        logs = {"N": np.log(point["N"]), "D": np.log(point["D"])}
        logs["C"] = np.log(found.compute_factor * point["N"] * point["D"])
        low = {k: min(v, logs[k]) for k, v in found.log_min.items()}
        high = {k: max(v, logs[k]) for k, v in found.log_max.items()}
        d_after = distance(TARGET, low, high, found.compute_factor)
        shortened = slope2 * (d_now**2 - d_after**2)
        assert by_aware.loc[j, "variance_reduction"] == pytest.approx(
            by_plain.loc[j, "variance_reduction"] + shortened, rel=1e-9, abs=1e-15
        )
    assert by_aware.loc[0, "variance_reduction"] == pytest.approx(
        by_plain.loc[0, "variance_reduction"]
    )
    # Nearer the target in every input, the run towards it shortens the extrapolation most,
    # and the batch's expected variance keeps the discrepancy left after it.
    assert by_aware.loc[1, "chosen"]
    left, before = (aware.attrs[f"discrepancy_variance_{w}"] for w in ("after", "before"))
    assert 0 < left < before
    assert aware.attrs["width_before"] > plain.attrs["width_before"]
    assert aware.attrs["discrepancy"] and plain.attrs["discrepancy"] is None
    assert plain.attrs["extrapolation"] == pytest.approx(d_now)
    # A batch: the range grows by every run chosen, in turn.
    two = recommend(fit, pool, TARGET, cost=[1.0, 1.0, 1.0], batch=2, seed=3)
    picked = [(INSIDE, TOWARDS, beyond)[j] for j in two.loc[two["chosen"], "candidate"]]
    low, high = dict(found.log_min), dict(found.log_max)
    for point in picked:
        logs = {"N": np.log(point["N"]), "D": np.log(point["D"])}
        logs["C"] = np.log(found.compute_factor * point["N"] * point["D"])
        low = {k: min(v, logs[k]) for k, v in low.items()}
        high = {k: max(v, logs[k]) for k, v in high.items()}
    d_two = distance(TARGET, low, high, found.compute_factor)
    assert len(picked) == 2
    assert two.attrs["discrepancy_variance_after"] == pytest.approx(slope2 * d_two**2)


def test_a_discrepancy_turns_the_choice_to_the_run_that_nears_the_target(healthy_fit):
    # Per unit of compute, the law alone learns more from a cheap run beyond the runs in N
    # only; a discrepancy makes the run that extends the compute range worth more (here 30x).
    pool = _pool({"N": 3e9, "D": 1e11}, {"N": 1e10, "D": 3e9})
    plain = recommend(healthy_fit, pool, TARGET, seed=3).set_index("candidate")
    fit, _ = _with_discrepancy(healthy_fit, 0.01)
    aware = recommend(fit, pool, TARGET, seed=3).set_index("candidate")
    assert plain.loc[1, "chosen"] and not plain.loc[0, "chosen"]
    assert aware.loc[0, "chosen"] and not aware.loc[1, "chosen"]
    # The run beyond in N alone leaves the target's distance (set by C) as it was.
    assert aware.loc[1, "variance_reduction"] == pytest.approx(plain.loc[1, "variance_reduction"])


def test_discrepancy_false_plans_on_the_law_alone_from_a_fit_that_has_one(healthy_fit):
    # The same choice, reductions and attributes as the fit without its discrepancy, where
    # counting the discrepancy would choose the other run (the test above).
    pool = _pool({"N": 3e9, "D": 1e11}, {"N": 1e10, "D": 3e9})
    plain = recommend(healthy_fit, pool, TARGET, seed=3)
    fit, _ = _with_discrepancy(healthy_fit, 0.01)
    law_only = recommend(fit, pool, TARGET, seed=3, discrepancy=False)
    pd.testing.assert_frame_equal(law_only, plain)
    assert law_only.attrs == plain.attrs
    assert law_only.attrs["discrepancy"] is None
    assert law_only.set_index("candidate").loc[1, "chosen"]
    with pytest.raises(DataError, match="discrepancy = 'no': give True or False"):
        recommend(fit, pool, TARGET, seed=3, discrepancy="no")


def test_the_plan_discrepancy_counts_for_optimal_n_only_when_learnt(healthy_fit):
    target = {"C": 1e23}
    pool = _pool(TOWARDS, {"N": 1e11, "D": 1e10})
    plain = recommend(healthy_fit, pool, target, cost=[1.0, 1.0], seed=3)
    no_plan, _ = _with_discrepancy(healthy_fit, 0.05)
    same = recommend(no_plan, pool, target, cost=[1.0, 1.0], seed=3)
    assert same.attrs["discrepancy"] is None
    assert np.allclose(same["variance_reduction"], plain["variance_reduction"])
    fit, found = _with_discrepancy(healthy_fit, 0.05, plan=(0.1, 0.05))
    aware = recommend(fit, pool, target, cost=[1.0, 1.0], seed=3)
    offset2, slope2 = found.variance_terms(plan=True)
    d_c = np.log(1e23) - found.log_max["C"]
    assert aware.attrs["discrepancy_variance_before"] == pytest.approx(offset2 + slope2 * d_c**2)
    # The offset holds at every budget: no run removes it.
    assert aware.attrs["discrepancy_variance_after"] >= offset2 - 1e-15


def test_cli_next_says_what_the_discrepancy_adds_and_a_saved_fit_agrees(healthy_fit, tmp_path):
    import bayescale

    fit, _ = _with_discrepancy(healthy_fit, 0.03)
    fit_file = fit.save(tmp_path / "fit.nc")
    pool = _pool(INSIDE, TOWARDS)
    direct = recommend(fit, pool, TARGET, seed=3)
    again = recommend(bayescale.load_fit(fit_file), pool, TARGET, seed=3)
    pd.testing.assert_frame_equal(direct, again)
    grid = tmp_path / "grid.csv"
    pool.to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = CliRunner().invoke(_app(), args)
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert "discrepancy beyond the runs" in said and "takes the law's form as exact" not in said
    # Without a discrepancy, the CLI says how far the target is and what the plan assumes.
    plain = CliRunner().invoke(
        _app(), ["next", str(healthy_fit.save(tmp_path / "plain.nc")), *args[2:]]
    )
    said = " ".join(plain.output.split())
    d = direct.attrs["extrapolation"]
    assert f"lies {d:.1f} e-folds" in said and "takes the law's form as exact" in said
    # --law-only: the same choice as the fit without its discrepancy, and it says so.
    law_only = CliRunner().invoke(_app(), [*args, "--law-only", "--format", "csv"])
    no_disc = CliRunner().invoke(
        _app(), ["next", str(tmp_path / "plain.nc"), *args[2:], "--format", "csv"]
    )
    assert law_only.exit_code == 0, law_only.output
    assert law_only.output == no_disc.output
    said = " ".join(CliRunner().invoke(_app(), [*args, "--law-only"]).output.split())
    assert "Planned on the law's posterior uncertainty alone" in said
    assert "discrepancy beyond the runs" not in said


def test_a_discrepancy_along_an_input_the_candidates_lack_is_named(healthy_fit):
    import dataclasses

    _, found = _with_discrepancy(healthy_fit, 0.03)
    found.log_min["U"], found.log_max["U"] = 20.0, 25.0
    fit = dataclasses.replace(healthy_fit, discrepancy=found)
    with pytest.raises(DataError, match=r"give U in the target too"):
        recommend(fit, _pool(INSIDE), TARGET, seed=3)


def test_cli_next_reads_any_candidates_file_as_fit_does(healthy_fit, tmp_path):
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    runner = CliRunner()

    def run(name: str, text: str | bytes, *extra: str, target: str = "N=7e10,D=1.4e12"):
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        args = ["next", str(fit_file), "--candidates", str(path), "--target", target]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return runner.invoke(_app(), [*args, *extra])

    # Unreadable files: one line naming the file, exit 2 (they were 'unexpected' errors).
    for name, text, fragment in [
        ("empty.csv", "", "the file is empty"),
        ("ragged.csv", "N,D\n1e9,2e10\n1e9,2e10,5\n", "cannot read the file as CSV"),
        ("bad.parquet", b"garbage", "cannot read the file as PARQUET"),
    ]:
        done = run(name, text)
        assert done.exit_code == 2, done.output
        assert f"--candidates {tmp_path / name}: " in done.output and fragment in done.output
        assert "unexpected" not in done.output
    # Own column names mapped with --x, a cost column and a label column kept.
    own = "params,tokens,gpu_hours,name\n1e8,2e9,10,a\n4e8,8e9,80,b\n2e10,4e11,9000,c\n"
    done = run("own.csv", own, "--x", "N=params", "--x", "D=tokens", "--cost", "gpu_hours",
               "-f", "json")  # fmt: skip
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)["rows"]
    assert [r["name"] for r in rows] and {r["N"] for r in rows} == {1e8, 4e8, 2e10}
    assert isinstance(rows[0]["chosen"], bool) and isinstance(rows[0]["order"], int)
    shown = run("own0.csv", own, "--x", "N=params", "--x", "D=tokens", "--cost", "gpu_hours")
    assert shown.exit_code == 0 and "┃ name ┃" in shown.output  # labels match rows to runs
    done = run("own1.csv", own, "--x", "N=params", "--x", "D=tokens", "--x", "C=tokens")
    assert done.exit_code == 2 and "column 'tokens' is mapped to both D and C" in done.output
    done = run("own2.csv", own, "--x", "N=param", "--x", "D=tokens")
    assert done.exit_code == 2 and "no column 'param' for --x N=param" in done.output
    assert "did you mean 'params'?" in done.output
    # A target's input the law lacks is named, not reported as a missing N.
    done = run("own3.csv", own, "--x", "N=params", "--x", "D=tokens", target="X=1")
    assert done.exit_code == 2 and "X is not an input of the fit's law" in done.output
    done = run("own4.csv", own, "--x", "N=params", "--x", "D=tokens", "--target", "C=1e23")
    assert done.exit_code == 2 and "every --target must name the same inputs" in done.output


def test_cli_next_says_when_the_cheap_choice_helps_little(healthy_fit, tmp_path):
    # Without a budget the ranking is per unit cost: a 100M run is chosen although a 20B
    # run would shorten the target's interval far more; the user is told, with that run.
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    _pool(INSIDE, TOWARDS).to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = recommend(healthy_fit, _pool(INSIDE, TOWARDS), TARGET)
        done = CliRunner().invoke(_app(), args)
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert table["chosen"].tolist() == [True, False]  # the cheap one, by far the best ratio
    assert "Ranked by reduction per unit cost" in text and "(N=20B, D=400B)" in text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = json.loads(CliRunner().invoke(_app(), [*args, "-f", "json"]).stdout)
    assert doc["note"].startswith("Ranked by reduction per unit cost")
    with_budget = CliRunner().invoke(_app(), [*args, "--budget", "1e23"])
    assert "Ranked by reduction per unit cost" not in " ".join(with_budget.output.split())


# --------------------------------------------------------------------------- the audit's findings


def _invoke(*args: str):
    # Wide enough that no cell wraps (a terminal of 80 columns wraps 'units?' over two lines).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CliRunner(env={"COLUMNS": "200"}).invoke(_app(), list(args))


def test_with_a_budget_one_run_is_the_best_the_budget_affords(healthy_fit, tmp_path):
    # Without a budget, one run is ranked per unit cost: the cheap run inside the data. With
    # a budget that affords the run towards the target, that run is chosen (it teaches far
    # more), and the table says which greedy choice chose.
    pool = _pool(INSIDE, TOWARDS)
    k = healthy_fit.runs.compute_factor
    budget = 1.01 * k * TOWARDS["N"] * TOWARDS["D"]
    free = recommend(healthy_fit, pool, TARGET, seed=3)
    assert (
        free.attrs["strategy_rule"] == "per_cost" and free.set_index("candidate").loc[0, "chosen"]
    )
    capped = recommend(healthy_fit, pool, TARGET, budget=budget, seed=3)
    assert capped.attrs["strategy_rule"] == "better" and capped.attrs["strategy"] == "reduction"
    assert capped.set_index("candidate").loc[1, "chosen"]
    assert capped.attrs["variance_after"] < free.attrs["variance_after"]
    # Asked for, the ratio still chooses the cheap run.
    ratio = recommend(healthy_fit, pool, TARGET, budget=budget, strategy="per_cost", seed=3)
    assert ratio.set_index("candidate").loc[0, "chosen"]
    # The command line: the same choice, said, and --strategy to ask for another.
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    pool.to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    done = _invoke(*args, "--budget", f"{budget:g}", "-f", "json")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert [r["candidate"] for r in doc["rows"] if r["chosen"]] == [3]  # line 3 of the file
    assert doc["strategy_rule"] == "better" and doc["strategy"] == "reduction"
    said = " ".join(_invoke(*args, "--budget", f"{budget:g}").output.split())
    assert "Chosen greedily by reduction within the budget" in said
    done = _invoke(*args, "--budget", f"{budget:g}", "--strategy", "per_cost", "-f", "json")
    assert [r["candidate"] for r in json.loads(done.stdout)["rows"] if r["chosen"]] == [2]


@pytest.fixture(scope="module")
def grouped_fit():
    """Chinchilla fitted on three pooled groups (a small fit: the checks, not the numbers)."""
    import bayescale

    rng = np.random.default_rng(0)
    rows = []
    for group, floor in {"a": 1.8, "b": 1.9, "c": 2.0}.items():
        for n in np.geomspace(2e7, 1e9, 5):
            for multiplier in (10, 40):
                loss = floor + 482.0 / n**0.348 + 2085.0 / (multiplier * n) ** 0.366
                rows.append((group, n, multiplier * n, loss * np.exp(0.01 * rng.standard_normal())))
    frame = pd.DataFrame(rows, columns=["family", "N", "D", "loss"])
    runs = bayescale.load_runs(frame, y="loss", group="family")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bayescale.fit(
            runs, "chinchilla", draws=100, tune=100, chains=1, seed=3, prior_draws=0, retries=0,
            discrepancy="none",
        )  # fmt: skip


def test_grouped_candidates_are_valued_for_their_own_group_or_refused(grouped_fit, tmp_path):
    both = pd.DataFrame(
        {"family": ["a", "b", "a", "b"], "N": [3e9, 3e9, 1e9, 1e9], "D": [6e10, 6e10, 2e10, 2e10]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=r"candidates 1 and 3 \(2 of 4\) are of group b"):
            recommend(grouped_fit, both, TARGET, group="a", seed=3)
        with pytest.raises(DataError, match="the candidates' column 'family' holds a, b"):
            recommend(grouped_fit, both, TARGET, seed=3)
        only_a = both[both["family"] == "a"]
        with pytest.raises(DataError, match="column 'family' says 'a': pass group='a'"):
            recommend(grouped_fit, only_a, TARGET, seed=3)
        table = recommend(grouped_fit, only_a, TARGET, group="a", seed=3)
        assert table.attrs["group"] == "a" and set(table["family"]) == {"a"}
        with pytest.raises(DataError, match="which the fit has; group='new'"):
            recommend(grouped_fit, only_a, TARGET, group="new", seed=3)
        fresh = recommend(grouped_fit, only_a.assign(family="d"), TARGET, group="new", seed=3)
        assert fresh.attrs["group"] == "new" and fresh.attrs["group_label"] == "d"
        # A label the fit has no group of: the hint is group='new', not a group that fails.
        new = "plan it with group='new', a group the fit has not seen"
        with pytest.raises(
            DataError, match=rf"says 'd', not a group of this fit \(its groups: a, b, c\): {new}"
        ):
            recommend(grouped_fit, only_a.assign(family="d"), TARGET, seed=3)
        with pytest.raises(
            DataError, match=rf"its own group=.*; 'd' is not a group of this fit .*{new}"
        ):
            recommend(grouped_fit, only_a.assign(family="d"), TARGET, group="a", seed=3)
    # The command line: the rows named by their lines, the group in the title and the header.
    fit_file = grouped_fit.save(tmp_path / "grouped.nc")
    path = tmp_path / "both.csv"
    both.to_csv(path, index=False)
    args = ["next", str(fit_file), "--candidates", str(path), "--target", "N=7e10,D=1.4e12"]
    done = _invoke(*args, "--group", "a")
    said = " ".join(done.output.split())
    assert done.exit_code == 2 and "lines 3 and 5 (2 of 4) are of group b" in said
    assert "run --group" not in said and "--group NAME" in said
    path_a = tmp_path / "a.csv"
    only_a.to_csv(path_a, index=False)
    args[3] = str(path_a)
    done = _invoke(*args)
    assert done.exit_code == 2 and "pass --group a" in " ".join(done.output.split())
    done = _invoke(*args, "--group", "a")
    assert done.exit_code == 0, done.output
    assert "Which run next: loss: the law's log loss at the target points, group a" in done.output
    path_d = tmp_path / "d.csv"
    only_a.assign(family="d").to_csv(path_d, index=False)
    for group in ([], ["--group", "a"]):
        done = _invoke("next", str(fit_file), "--candidates", str(path_d), *args[4:], *group)
        said = " ".join(done.output.split())
        assert done.exit_code == 2 and "plan it with --group new" in said, said
        assert "the label is kept as group_label in -f json" in said
    done = _invoke("next", str(fit_file), "--candidates", str(path_d), *args[4:], "--group", "new")
    assert done.exit_code == 0 and "group new" in done.output, done.output
    assert json.loads(_invoke(*args, "--group", "a", "-f", "json").stdout)["group"] == "a"


def _spread_over_se(tables: list[pd.DataFrame], column: str) -> float:
    """Mean over candidates of the sd of a column across seeds over its mean reported se."""
    values = np.array([t[column] for t in tables])
    se = np.array([t[f"{column}_se"] for t in tables]).mean(axis=0)
    keep = se > 0  # the first chosen run against itself: no difference, no se
    return float(np.mean(values.std(axis=0, ddof=1)[keep] / se[keep]))


def test_standard_errors_say_how_far_another_seed_moves_the_estimates(healthy_fit, tmp_path):
    # A fit of 1000 draws planned on 250 of them: the subsets' error must be in the se. (One
    # subset shared by every fantasy world offset them all alike: the spread across seeds was
    # 3 to 5 times the se, for the width above all.)
    pool = _pool(INSIDE, TOWARDS, {"N": 5e9, "D": 1e11}, {"N": 1e9, "D": 1e11},
                 {"N": 2e10, "D": 1e11})  # fmt: skip
    tables = [
        recommend(healthy_fit, pool, TARGET, cost=[1.0] * 5, seed=s, max_draws=250)
        .set_index("candidate")
        .sort_index()
        for s in range(10)
    ]
    assert tables[0].attrs["draws"] == 250 and tables[0].attrs["posterior_draws"] == 1000
    assert "its own random 250 of the fit's 1000 draws" in tables[0].attrs["standard_errors"]
    assert all(t["order"].idxmax() == 1 for t in tables)  # the same first run: comparable
    for column in ("variance_reduction", "width_reduction", "difference"):
        ratio = _spread_over_se(tables, column)
        assert 0.5 < ratio < 2.0, (column, ratio)
    # The paired se of a difference, not either candidate's own, says whether two differ.
    first = tables[0]
    assert (first["difference_se"] < first["variance_reduction_se"] / first["cost"]).sum() >= 3
    # The Gaussian fallback is not an average over the fantasies: no se.
    gaussian = recommend(healthy_fit, pool, TARGET, method="gaussian", seed=3)
    assert gaussian["variance_reduction_se"].isna().all()
    assert gaussian["difference_se"].isna().all()
    # The command line shows the se beside each value, and says what it means.
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    pool.to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    done = _invoke(*args, "--max-draws", "250")
    said = " ".join(done.output.split())
    assert done.exit_code == 0 and " ± " in done.output, done.output
    assert "another --seed moves a value by about that much" in said
    assert "vs #1 how far the candidate's reduction per FLOP" in said
    assert "within ±2 their order is Monte Carlo noise" in said
    assert "each reweighting its own random 250 of the fit's 1000 draws (--max-draws)" in said
    assert "(32 fantasies over 250 of the fit's 1000 draws each" in said
    assert not re.search(r"± [\d.]+e", said)  # no '2e1' for a standard error of 20


def test_a_default_fit_is_planned_on_all_its_draws(healthy_fit):
    # 4 chains x 1000, as 'bayescale fit' makes by default (here the shared fit's draws, 4x).
    import copy

    import xarray as xr

    idata = copy.copy(healthy_fit.idata)
    post = healthy_fit.idata.posterior
    chains = np.arange(4 * post.sizes["chain"])
    idata.posterior = xr.concat([post] * 4, dim="chain").assign_coords(chain=chains)
    default = dataclasses.replace(healthy_fit, idata=idata)
    table = recommend(default, _pool(TOWARDS), TARGET, seed=3)
    assert table.attrs["draws"] == table.attrs["posterior_draws"] == 4000
    assert table.attrs["standard_errors"].endswith("all 4000 of the fit's draws")


def test_a_run_worth_nothing_alone_is_chosen_for_what_it_adds_after_another(healthy_fit):
    # On the compute-optimal frontier of 1e23 FLOPs (30B x 400B), a run alone says nothing of
    # where that frontier lies; after a run far off it (1000 tokens per parameter) it pins the
    # curvature across it. Its reduction alone comes out at or below zero by noise at some
    # seeds: a rule that dropped such runs for good cut this batch to one run. Its marginal
    # reduction is a few Monte Carlo standard errors above zero, so at a seed (which one
    # depends on the machine's floating point) it too can fall to zero: counted, not required.
    pool = _pool({"N": 1e9, "D": 1e12}, {"N": 3e10, "D": 4e11})
    alone, added, se, flagged, rescued = [], [], [], 0, 0
    for seed in range(6):
        table = recommend(healthy_fit, pool, {"C": 1e23}, batch=2, cost=[1.0, 1.0], seed=seed)
        by = table.set_index("candidate")
        assert by.loc[0, "chosen"] and by.loc[0, "order"] == 1, seed
        alone.append(by.loc[1, "variance_reduction"])
        if not by.loc[1, "chosen"]:
            # Then only because its marginal reduction fell to zero by noise, and said so.
            assert any("batch = 2 but 1 run" in note for note in table.attrs["warnings"])
            continue
        assert by.loc[1, "order"] == 2, seed
        rescued += bool(alone[-1] <= 0)
        added.append(by.loc[1, "marginal_reduction"])
        se.append(by.loc[1, "marginal_reduction_se"])
        flagged += bool(by.loc[1, "marginal_within_noise"])
        assert not any("batch = 2" in note for note in table.attrs["warnings"])
    assert len(added) >= 4, added  # chosen after the first at most seeds
    assert rescued >= 1  # the case arose: worth nothing alone, chosen for what it adds
    # Worth much more after the first than alone, and clearly above zero over the seeds.
    assert np.mean(added) > 4 * max(np.mean(alone), 0.0)
    assert np.mean(added) > 3 * np.sqrt(np.mean(np.square(se)) / len(se))
    assert flagged < len(added)  # most seeds find it clear of the noise


def test_a_batch_shorter_than_asked_says_why(healthy_fit, tmp_path):
    # The budget: it affords the run towards the target, and nothing besides.
    pool = _pool(TOWARDS, INSIDE, {"N": 5e9, "D": 1e11})
    costs = [1.0, 10.0, 10.0]
    with pytest.warns(UserWarning, match=r"batch = 3 but 1 run was chosen: the budget 5"):
        table = recommend(healthy_fit, pool, TARGET, cost=costs, budget=5.0, batch=3, seed=3)
    assert table["chosen"].sum() == 1
    note = next(n for n in table.attrs["warnings"] if n.startswith("batch = 3"))
    assert "the cheapest of the others costs 10" in note
    # Nothing left to learn: runs inside the data teach about nothing, and after the first
    # chosen, their marginal reductions fall to zero or below (noise) at some seeds.
    inside = pd.DataFrame(
        {"N": [3e8, 2e8, 4e8, 3e8, 1e8, 5e7, 2e7], "D": [1e10, 1e10, 1e10, 2e10, 5e9, 3e9, 1e9]}
    )
    short = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in range(4):
            t = recommend(
                healthy_fit, inside, TARGET, batch=7, seed=s, cost=[1.0] * 7, fantasies=16,
                max_draws=300,
            )  # fmt: skip
            said = [n for n in t.attrs["warnings"] if n.startswith("batch = 7")]
            if t["chosen"].sum() < 7:
                short += 1
                assert len(said) == 1 and "no other candidate is expected to reduce" in said[0]
            else:
                assert not said
            # A chosen run shows what it adds given those before; a flagged one, that it may
            # add nothing (its reduction alone may be below zero: it is not what chose it).
            chosen = t[t["chosen"]]
            assert (chosen["marginal_reduction"] > 0).all()
            noisy = chosen["marginal_reduction"] < 2 * chosen["marginal_reduction_se"]
            assert (chosen["marginal_within_noise"] == noisy).all()
            assert t.attrs["marginal_within_noise"] == chosen.loc[noisy, "candidate"].tolist()
    assert short  # the case arose
    # The command line: a chosen run's marginal reduction beside its reduction alone.
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "inside.csv"
    inside.to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    done = _invoke(*args, "--batch", "7", "--seed", "1")
    assert done.exit_code == 0, done.output
    assert "marginal -%" in done.output
    assert "(~ when within two of its standard errors of zero" in " ".join(done.output.split())


def test_cli_standard_errors_are_rounded_as_their_values():
    from bayescale.cli.commands.next import _with_se

    assert _with_se(29.4, 17.2) == "29 ± 17"
    assert _with_se(120.0, 38.0) == "120 ± 38"
    assert _with_se(0.41, 0.05) == "0.41 ± 0.05"
    assert _with_se(-0.96, 0.3) == "-0.96 ± 0.30"
    assert _with_se(29.4, 0.3) == "29.4 ± 0.3"  # a smaller se shows the value's next digit
    assert _with_se(2.8, float("nan")) == "2.8"


def test_a_discrepancy_that_dominates_says_what_would_shorten_it(healthy_fit, tmp_path):
    fit, _ = _with_discrepancy(healthy_fit, 0.03)
    far = {"N": 3e10, "D": 1e12}  # beyond the runs in C: the only kind that shortens d
    pool = _pool(INSIDE, {"N": 3e10, "D": 1e9}, far)
    budget = 1e21  # affords the first two, not the one that would near the target in C
    with pytest.warns(UserWarning, match="discrepancy beyond the runs is") as caught:
        table = recommend(fit, pool, TARGET, budget=budget, batch=2, seed=3)
    note = " ".join(str(w.message) for w in caught if "discrepancy beyond" in str(w.message))
    assert "in C (5.88e23 against" in note and "only runs with C above" in note
    assert "The cheapest candidate that does, candidate 2 (N=30B, D=1T), costs 1.8e23" in note
    assert "more than the budget (1e21)" in note
    assert note in table.attrs["warnings"] and table.attrs["extrapolation_along"] == ["C"]
    # With the discrepancy too, the command line says how far the target lies, along what.
    fit_file = fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    pool.to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    said = " ".join(_invoke(*args, "--budget", "1e21").output.split())
    d = table.attrs["extrapolation"]
    assert f"The target lies {d:.1f} e-folds" in said and "along C" in said
    assert "only runs with C above" in said


def test_plot_for_optimal_n_draws_the_interval_the_plan_is_valued_on(healthy_fit):
    from matplotlib.collections import LineCollection

    from bayescale.plots.recommend import plot_recommendation

    fit, _ = _with_discrepancy(healthy_fit, 0.05, plan=(0.1, 0.05))
    pool = _pool(TOWARDS, {"N": 1e11, "D": 1e10})
    plan = fit.compute_optimal(C=[1e23])
    for counted, low, high in ((True, "N_disc_lower_90", "N_disc_upper_90"),
                               (False, "N_lower_90", "N_upper_90")):  # fmt: skip
        table = recommend(fit, pool, {"C": 1e23}, cost=[1.0, 1.0], seed=3, discrepancy=counted)
        ax = plot_recommendation(fit, table)
        bars = [c for c in ax.collections if isinstance(c, LineCollection)]
        (segment,) = bars[-1].get_segments()
        assert segment[:, 0].min() == pytest.approx(plan[low].iloc[0])
        assert segment[:, 0].max() == pytest.approx(plan[high].iloc[0])
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        what = "with the law's discrepancy" if counted else "the law's posterior"
        assert f"optimal N now, 90% interval the plan is valued on ({what})" in labels
        # The budget's IsoFLOP line does not stretch the axes past what they show (it once
        # reached 1e15 tokens at the smallest N drawn).
        tallest = max(pool["D"].max(), healthy_fit.runs.x("D").max(), plan["D_median"].max())
        assert ax.get_ylim()[1] < 3 * tallest
        # The colours are relative to the best candidate: 0 at the best.
        assert ax.collections[1].get_array().max() == pytest.approx(0.0)


def test_cli_next_explains_its_columns_and_records_its_settings(healthy_fit, tmp_path):
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    _pool(INSIDE, TOWARDS).rename(columns={"N": "params", "D": "tokens"}).to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    done = _invoke(*args, "--budget", "1e23", "--seed", "5")
    said = " ".join(done.output.split())
    assert done.exit_code == 0, done.output
    assert "┃ line ┃" in done.output  # the candidate's line in the file
    assert f"Columns: # the order chosen; line the candidate's line in {grid}" in said
    assert "per cost the expected reduction of the variance (absolute, in (log loss)^2" in said
    assert "Cost: 6*N*D FLOPs (6 is the fit's compute factor k of C = k N D)" in said
    assert "Inputs read from the candidates' columns: N=params (as the fit's runs)" in said
    doc = json.loads(_invoke(*args, "--budget", "1e23", "--seed", "5", "-f", "json").stdout)
    for key, value in {
        "cost": "6*N*D", "cost_units": "FLOPs", "compute_factor": 6.0, "seed": 5,
        "group": None, "budget": 1e23, "strategy_rule": "better",
        "columns": {"N": "params", "D": "tokens"}, "measure": "variance",
    }.items():  # fmt: skip
        assert doc[key] == value, key
    assert doc["criterion"].startswith("loss") and doc["strategy"] in ("per_cost", "reduction")
    # The user's own columns are kept beside the inputs; the rows point at file lines.
    assert {"params", "tokens", "N", "D"} <= set(doc["rows"][0])
    assert sorted(r["candidate"] for r in doc["rows"]) == [2, 3]
    # CSV: the settings beside the table (stderr), not in it.
    as_csv = _invoke(*args, "--budget", "1e23", "-f", "csv")
    assert "plan: loss" in as_csv.output and "cost 6*N*D (FLOPs)" in as_csv.output


def test_bad_candidate_cells_are_named_as_the_table_names_them(healthy_fit, tmp_path):
    pool = _pool(INSIDE, TOWARDS, {"N": 5e9, "D": 1e11}, TOWARDS)
    nan = pool.copy()
    nan.loc[3, "N"] = np.nan
    with pytest.raises(DataError, match=r"^candidates: candidate 3: N is nan; it must be a posi"):
        recommend(healthy_fit, nan, TARGET)
    labelled = nan.set_axis([f"run{i}" for i in range(4)])
    with pytest.raises(DataError, match=r"candidate 'run3': N is nan"):
        recommend(healthy_fit, labelled, TARGET)
    with pytest.raises(DataError, match=r"cost of candidate 'run1' is -1e\+10"):
        recommend(healthy_fit, labelled.fillna(1e9), TARGET, cost="1e10 - N")
    with pytest.raises(DataError, match=r"candidate 1: D is -4e\+11; it must be a positive"):
        recommend(healthy_fit, pool.assign(D=pool["D"] * [1, -1, 1, 1]), TARGET)
    # The cell given is named, not the third of N, D, C completed from it.
    with pytest.raises(DataError, match=r"candidate 1: C is -1; it must be a positive number"):
        recommend(healthy_fit, pd.DataFrame({"N": [1e9, 2e9], "C": [6e19, -1.0]}), TARGET)
    text = pool.astype(object)
    text.loc[2, "N"] = "abc"
    with pytest.raises(DataError, match=r"candidate 2: N is 'abc', not a number"):
        recommend(healthy_fit, text, TARGET)
    # Text as bayescale prints numbers is read.
    text.loc[2, "N"] = "5B"
    assert recommend(healthy_fit, text, TARGET, seed=3)["N"].max() == 2e10
    # On the command line: the file's line, in one short line.
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    path = tmp_path / "g_str.csv"
    rows = [f"{r.N},{r.D}" for r in pool.itertuples()]
    rows[3] = "abc,1e10"
    path.write_text("N,D\n" + "\n".join(rows) + "\n")
    done = _invoke("next", str(fit_file), "--candidates", str(path), "--target", "N=7e10,D=1.4e12")
    assert done.exit_code == 2
    message = " ".join(done.output.split())
    assert f"--candidates {path}: line 5: N is 'abc', not a number" in message
    assert len(message) < 300 and "forecast input" not in message


def test_candidates_and_targets_are_checked_by_forecast_points_naming_their_rows(healthy_fit):
    from bayescale.errors import DataWarning
    from bayescale.forecast import forecast_points

    # forecast_points names a table's rows when told how, and keeps its note for the caller.
    notes: list[str] = []
    at = pd.DataFrame({"N": [7e10, 7e10], "D": [1.4e12, 1.4e12], "C": [6e23, 1e24]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        points = forecast_points(healthy_fit.law, at, 6.0, row=lambda i: f"run {i}", notes=notes)
    assert len(points) == 2 and len(notes) == 1 and notes[0].startswith("run 1: C = 1e+24 is")
    with pytest.raises(DataError, match=r"^run 1: N is 'big', not a number"):
        named = at.astype(object).assign(N=[7e10, "big"])
        forecast_points(healthy_fit.law, named, row=lambda i: f"run {i}")
    # recommend says it once, naming the candidate (or the target's point) as its table does.
    c = 6 * TOWARDS["N"] * TOWARDS["D"]
    pool = _pool({**TOWARDS, "C": c}, {**TOWARDS, "C": 1.7 * c})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = recommend(healthy_fit, pool.set_axis(["a", "b"]), TARGET, seed=3)
    said = [str(w.message) for w in caught if "1.70x" in str(w.message)]
    assert len(said) == 1 and said[0].startswith("candidates: candidate 'b': C = ")
    assert not [w for w in caught if issubclass(w.category, DataWarning)]
    assert said[0] in table.attrs["warnings"]
    with pytest.warns(UserWarning, match=r"^target: point 2: C = 1e\+24 is 1\.70x"):
        recommend(healthy_fit, pool.iloc[:1], at, seed=3)
    with pytest.raises(DataError, match=r"^target: point 1: C is -1; it must be a positive"):
        recommend(healthy_fit, pool.iloc[:1], {"C": -1.0}, seed=3)


def test_python_reads_targets_and_budgets_as_the_cli_does(healthy_fit):
    pool = _pool(INSIDE, TOWARDS)
    words = recommend(healthy_fit, pool, {"N": "70B", "D": "1.4T"}, budget="1e23", seed=3)
    numbers = recommend(healthy_fit, pool, TARGET, budget=1e23, seed=3)
    pd.testing.assert_frame_equal(words, numbers)
    assert words.attrs["budget"] == 1e23
    with pytest.raises(DataError, match=r"target: lr is not an input of law 'chinchilla'"):
        recommend(healthy_fit, pool, {**TARGET, "lr": 3e-4})
    with pytest.raises(DataError, match="did you mean N"):
        recommend(healthy_fit, pool, {"n": 7e10, "D": 1.4e12})
    with pytest.raises(DataError, match=r"budget = 'lots': give a positive number"):
        recommend(healthy_fit, pool, TARGET, budget="lots")
    for option, value in [("min_ess", -1), ("max_draws", 0), ("max_draws", 2.5), ("max_draws", 50),
                          ("fantasies", True), ("batch", True), ("min_ess", "20")]:  # fmt: skip
        with pytest.raises(DataError, match=f"^{option} = "):
            recommend(healthy_fit, pool, TARGET, **{option: value})


def test_cli_next_reads_candidates_as_the_fit_read_its_runs(healthy_fit, tmp_path):
    from bayescale.cli.commands.next import _cli_words

    # The fit was made from columns params and tokens: a file of the same names needs no --x.
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    _pool(INSIDE, TOWARDS).rename(columns={"N": "params", "D": "tokens"}).to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    done = _invoke(*args, "-f", "json")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["columns"] == {"N": "params", "D": "tokens"}
    assert doc["columns_from_fit"] == ["N", "D"]
    # --x still decides; a column of the input's own name is not silently replaced.
    both = tmp_path / "both.csv"
    pd.read_csv(grid).assign(N=1e9).to_csv(both, index=False)
    done = _invoke("next", str(fit_file), "--candidates", str(both), *args[4:], "--x", "N=params")
    assert done.exit_code == 2 and "the file has a column 'N' too" in done.output
    # Python's remedies in the command line's words.
    assert _cli_words("columns a, b (cost='...')") == "columns a, b (--cost FORMULA)"


def test_candidates_that_repeat_a_run_or_each_other_are_flagged(healthy_fit, sim_runs):
    run = {"N": float(sim_runs.x("N")[0]), "D": float(sim_runs.x("D")[0])}
    pool = _pool(run, TOWARDS, INSIDE, TOWARDS, INSIDE)
    with pytest.warns(UserWarning) as caught:
        table = recommend(healthy_fit, pool, TARGET, seed=3)
    said = [str(w.message) for w in caught]
    assert any(
        m.startswith("candidate 0 (N=") and "repeats a run the fit already" in m for m in said
    )
    # Each copy with its own values and the row it copies, not the first one's for all.
    copies = "candidates 3 (N=20B, D=400B, as candidate 1) and 4 (N=300M, D=10B, as candidate 2)"
    assert any(m.startswith(f"{copies} repeat the inputs of another") for m in said)
    assert len([m for m in said if "repeat" in m]) == 2  # once each, naming them all
    assert len([m for m in table.attrs["warnings"] if "repeat" in m]) == 2
    with pytest.warns(UserWarning, match=r"the candidates' labels repeat \(0\)"):
        recommend(healthy_fit, pd.concat([_pool(TOWARDS), _pool(INSIDE)]), TARGET, seed=3)


def test_cli_next_fails_when_the_budget_affords_no_candidate(healthy_fit, tmp_path):
    pool = _pool(INSIDE, TOWARDS)
    with pytest.warns(UserWarning, match="no candidate fits the budget 1e"):
        table = recommend(healthy_fit, pool, TARGET, budget=1e10, seed=3)
    assert not table["chosen"].any()
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    pool.to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    for extra in ([], ["-f", "csv"], ["-f", "json"]):
        done = _invoke(*args, "--budget", "1e10", *extra)
        assert done.exit_code == 2, done.output
        said = " ".join(done.output.split())
        assert "--budget 1e10 is less than every candidate's cost: the cheapest, line 2" in said
        assert said.count("1.8e19") == 1 and "warning:" not in said


def test_within_a_budget_the_table_lists_the_picks_alternatives_first(healthy_fit):
    # Chosen by reduction within the budget: the rows after the pick are what the budget
    # affords, by reduction, and the candidates it does not afford come last.
    pool = pd.DataFrame(
        [(n, d) for n in np.geomspace(3e8, 2e10, 4) for d in np.geomspace(1e10, 4e11, 4)],
        columns=["N", "D"],
    )
    budget = float(np.median(6 * pool["N"] * pool["D"]))
    table = recommend(healthy_fit, pool, TARGET, budget=budget, seed=0)
    assert table.attrs["strategy"] == "reduction"
    rest = table[~table["chosen"]]
    affordable = rest["cost"] <= budget
    first_over = int(np.argmax(~affordable.to_numpy())) if (~affordable).any() else len(rest)
    assert affordable.iloc[:first_over].all() and not affordable.iloc[first_over:].any()
    ranked = rest[affordable]["variance_reduction"].to_numpy()
    assert np.all(np.diff(ranked) <= 0)


# --------------------------------------------------------------------------- the second audit


def _quick(**kw):
    """Small settings for the checks of inputs and messages (not of the estimates)."""
    return {"seed": 3, "fantasies": 8, "max_draws": 300, **kw}


def test_a_candidate_far_below_the_runs_is_warned_and_never_chosen_unasked(healthy_fit, tmp_path):
    from bayescale.errors import SlipWarning

    # N = 3 for 3B: a run costing next to nothing, which would win the ranking per unit cost.
    pool = _pool({"N": 3.0, "D": 6e10}, INSIDE, TOWARDS)
    with pytest.warns(SlipWarning, match=r"^candidates: candidate 0: N = 3 is .* times below") as w:
        table = recommend(healthy_fit, pool, TARGET, **_quick())
    said = " ".join(str(m.message) for m in w if issubclass(m.category, SlipWarning))
    assert "candidate 0 is left out of the choice" in said and "keep_slips=True" in said
    by = table.set_index("candidate")
    assert by.loc[0, "slip"] == "below" and not by.loc[0, "chosen"]
    assert by.loc[[1, 2], "slip"].tolist() == ["", ""] and by["chosen"].sum() == 1
    assert table.attrs["slips_left_out"] == [0]
    assert table["candidate"].iloc[-1] == 0  # listed after every run that may be chosen
    # Insisted on, it is valued as given: and it does win, which is why it is left out.
    kept = recommend(healthy_fit, pool, TARGET, keep_slips=True, **_quick())
    assert kept.set_index("candidate").loc[0, "chosen"] and kept.attrs["slips_left_out"] == []
    # Only slips: nothing is chosen, and the warning says why and what to do.
    with pytest.warns(UserWarning, match="every candidate is left out as a likely slip"):
        none = recommend(healthy_fit, _pool({"N": 3.0, "D": 6e10}), TARGET, **_quick())
    assert not none["chosen"].any()
    # On the command line: the file and its line, the flag in the table and its legend.
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    pool.to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    done = _invoke(*args, "--fantasies", "8", "--seed", "3")
    said = " ".join(done.output.split())
    assert done.exit_code == 0, done.output
    assert f"warning: --candidates {grid}: line 2: N = 3 is" in said
    assert "line 2 is left out of the choice" in said and "pass --keep-slips if" in said
    row = next(line for line in done.output.splitlines() if line.startswith("│   │    2 │"))
    assert "units?" in row
    assert "flag: units? N, D or C 1000x below every run" in said
    kept = json.loads(_invoke(*args, "--fantasies", "8", "--keep-slips", "-f", "json").stdout)
    assert [r["candidate"] for r in kept["rows"] if r["chosen"]] == [2]


def test_candidates_with_n_and_d_swapped_are_warned_and_kept(healthy_fit):
    from bayescale.errors import SlipWarning

    swapped = {"N": 4e11, "D": 2e10}  # TOWARDS the wrong way round: the same cost
    with pytest.warns(SlipWarning, match=r"candidate 1 \(N = 400B, D = 20B\) has 0\.05 tokens"):
        table = recommend(healthy_fit, _pool(INSIDE, swapped), TARGET, **_quick())
    assert table.set_index("candidate").loc[1, "slip"] == "swapped"
    assert table.attrs["slips_left_out"] == []
    # A compute-optimal plan wants runs off the frontier: no swap is suspected there.
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlipWarning)
        recommend(healthy_fit, _pool(INSIDE, swapped), {"C": 1e23}, **_quick())


def test_a_target_that_looks_like_a_slip_is_warned_as_a_forecast_would_be(healthy_fit, tmp_path):
    from bayescale.errors import ExtrapolationWarning, SlipWarning

    fit, found = _with_discrepancy(healthy_fit, 0.03)
    found = dataclasses.replace(found, info={"splits": [{"max_distance": 1.0}]})
    fit = dataclasses.replace(fit, discrepancy=found)
    slip = {"N": 70.0, "D": 1.4e12}  # 70 for 70B
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = recommend(fit, _pool(INSIDE, TOWARDS), slip, **_quick())
        forecast = [str(w.message) for w in caught if w.category is SlipWarning]
    said = {w.category: str(w.message) for w in caught}
    assert said[SlipWarning].startswith("target: point 1: N = 70 is ")
    assert "fix the target (N in parameters" in said[SlipWarning]
    assert said[ExtrapolationWarning].startswith("target: point 1 at N=70, D=1.4T (")
    assert (
        "the farthest the backtests checked the discrepancy (1.0 e-folds)"
        in said[ExtrapolationWarning]
    )
    assert said[SlipWarning] in table.attrs["warnings"]
    # The same check as a forecast's (its sentence, after the plan's "target: ").
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit.forecast(at=slip)
    assert next(str(w.message) for w in caught if w.category is SlipWarning) in forecast[0]
    # Below the runs, not beyond: said so. A target inside the backtests' reach: no warning.
    assert table.attrs["extrapolation_side"] == "below"
    assert table.attrs["extrapolation_along"] == ["N"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlipWarning)
        warnings.simplefilter("error", ExtrapolationWarning)
        right = recommend(fit, _pool(INSIDE, TOWARDS), {"N": 4e9, "D": 1.4e11}, **_quick())
    assert right.attrs["extrapolation_side"] == "beyond"
    fit_file = fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    _pool(INSIDE, TOWARDS).to_csv(grid, index=False)
    done = _invoke("next", str(fit_file), "--candidates", str(grid), "--target", "N=70,D=1.4T")
    said = " ".join(done.output.split())
    assert done.exit_code == 0, done.output
    assert "warning: target: point 1: N = 70 is" in said
    assert "e-folds (x" in said and ") below the runs' range, along N." in said
    assert "plan on the law alone (--law-only)" in said


def test_a_cost_column_is_the_cost_unless_another_is_given_and_is_never_lost(healthy_fit, tmp_path):
    pool = _pool(INSIDE, TOWARDS).assign(cost=[500.0, 4000.0], note=["a", "b"])
    table = recommend(healthy_fit, pool, TARGET, budget=3000, **_quick())
    assert table.attrs["cost"] == "the candidates' column cost"
    by = table.set_index("candidate").sort_index()
    assert by["cost"].tolist() == [500.0, 4000.0]
    assert by["affordable"].tolist() == [True, False] and by.loc[0, "chosen"]
    assert candidate_costs(pool, None, 6.0).tolist() == [500.0, 4000.0]
    # Another cost given: it is the table's cost, and the user's column is kept beside it.
    with pytest.warns(UserWarning, match=r"the candidates' column cost is kept as cost_candid"):
        flops = recommend(healthy_fit, pool, TARGET, cost="6*N*D", **_quick())
    by = flops.set_index("candidate").sort_index()
    assert by["cost_candidates"].tolist() == [500.0, 4000.0]
    assert np.allclose(by["cost"], 6 * pool["N"] * pool["D"])
    assert flops.attrs["renamed_columns"] == {"cost": "cost_candidates"}
    assert by["note"].tolist() == ["a", "b"]
    # The command line: said in the cost line; the file's values in the CSV.
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    pool.to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    said = " ".join(_invoke(*args, "--budget", "3000", "--fantasies", "8").output.split())
    assert "Cost: the candidates' column cost, in its own units (used as --cost was not" in said
    as_csv = pd.read_csv(io.StringIO(_invoke(*args, "-f", "csv", "--fantasies", "8").stdout))
    assert sorted(as_csv["cost"]) == [500.0, 4000.0]
    other = _invoke(*args, "-f", "csv", "--fantasies", "8", "--cost", "6*N*D")
    as_csv = pd.read_csv(io.StringIO(other.stdout))
    assert sorted(as_csv["cost_candidates"]) == [500.0, 4000.0]
    assert as_csv["cost"].min() > 1e18


def test_a_chosen_run_that_reaches_the_target_is_the_decision_itself(healthy_fit):
    bigger = {"N": 1.4e11, "D": 2.8e12}  # beyond the target in N and D
    costlier = {"N": 2e11, "D": 5e11}  # not beyond it in D, but costs more than its run
    pool = _pool(TARGET, bigger, costlier, TOWARDS)
    with pytest.warns(UserWarning, match="the decision itself") as caught:
        table = recommend(healthy_fit, pool, TARGET, budget=1e25, batch=2, **_quick())
    by = table.set_index("candidate").sort_index()
    assert by["reaches_target"].tolist() == [True, True, True, False]
    note = next(str(w.message) for w in caught if "the decision itself" in str(w.message))
    chosen = table.loc[table["chosen"], "candidate"].tolist()
    assert set(chosen) <= {0, 1, 2}  # the decision itself is what teaches most
    for j in chosen:
        assert f"{j} (N=" in note
    assert "(point 1: N=70B, D=1.4T, which costs 5.88e23 by 6*N*D)" in note
    # A cost model that cannot price the target run: only being at or past it counts.
    pool = pool.assign(gpu_hours=[1.0, 2.0, 3.0, 0.5])
    priced = recommend(healthy_fit, pool, TARGET, cost="gpu_hours", **_quick())
    priced = priced.set_index("candidate").sort_index()
    assert priced["reaches_target"].tolist() == [True, True, False, False]
    # Runs short of the target in cost and in N or D: no warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recommend(healthy_fit, _pool(INSIDE, TOWARDS), TARGET, budget=1e25, **_quick())
    assert not [w for w in caught if "decision itself" in str(w.message)]


def test_failed_backtest_refits_are_a_caveat_of_the_plan(healthy_fit, tmp_path):
    fit, found = _with_discrepancy(healthy_fit, 0.03)
    failed = {
        "splits": [{"max_distance": 3.0, "diagnostics_ok": False}] * 3,
        "sampler": {"chains": 2, "draws": 300},
    }
    fit = dataclasses.replace(fit, discrepancy=dataclasses.replace(found, info=failed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = recommend(fit, _pool(INSIDE, TOWARDS), TARGET, **_quick())
        alone = recommend(fit, _pool(INSIDE, TOWARDS), TARGET, discrepancy=False, **_quick())
    (caveat,) = table.attrs["caveats"]
    assert "all 3 backtest refits, 2 chains x 300 draws each, did not pass" in caveat
    assert alone.attrs["caveats"] == []  # the plan on the law alone does not rest on them
    fit_file = fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    _pool(INSIDE, TOWARDS).to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    said = " ".join(_invoke(*args, "--fantasies", "8").output.split())
    assert "Caveat: the discrepancy this plan counts (" in said
    assert "compare with the plan on the law alone (--law-only)" in said
    doc = json.loads(_invoke(*args, "--fantasies", "8", "-f", "json").stdout)
    assert doc["caveats"] == [caveat]
    assert "caveat: the discrepancy" in _invoke(*args, "--fantasies", "8", "-f", "csv").output


def test_cli_next_flags_the_candidates_the_budget_cannot_afford(healthy_fit, tmp_path):
    pool = _pool(INSIDE, TOWARDS, {"N": 5e9, "D": 1e11})
    budget = 1.01 * 6 * 5e9 * 1e11  # affords the last and INSIDE, not TOWARDS
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    grid = tmp_path / "grid.csv"
    pool.to_csv(grid, index=False)
    args = ["next", str(fit_file), "--candidates", str(grid), "--target", "N=7e10,D=1.4e12"]
    done = _invoke(*args, "--budget", f"{budget:g}", "--fantasies", "8")
    assert done.exit_code == 0, done.output
    rows = {line.split("│")[2].strip(): line for line in done.output.splitlines()
            if line.startswith("│")}  # fmt: skip
    assert "over budget" in rows["3"]
    assert "over budget" not in rows["2"] and "over budget" not in rows["4"]
    said = " ".join(done.output.split())
    assert "flag: over budget costs more than --budget by itself, so it is never chosen" in said
    doc = json.loads(_invoke(*args, "--budget", f"{budget:g}", "-f", "json").stdout)
    assert {r["candidate"]: r["affordable"] for r in doc["rows"]} == {2: True, 3: False, 4: True}


def test_nothing_chosen_within_monte_carlo_noise_says_so(healthy_fit):
    from bayescale.recommendation import _nothing_to_choose_note

    index = pd.Index([2, 3], name="line")
    pool = np.array([True, True])

    def note(gains, ses):
        alone = {"variance_reduction": np.array(gains), "variance_reduction_se": np.array(ses)}
        return _nothing_to_choose_note(alone, "variance", pool, 1e21, index, 32, 1e-4, 0.05)

    noisy = note([-2.2e-10, -5e-9], [1.4e-8, 4e-9])
    assert "within Monte Carlo noise of zero (the largest, line 2's, is -0.00022% ±" in noisy
    assert "more fantasies tell (fantasies=128)" in noisy and "does not bear" not in noisy
    sure = note([-2.2e-10, -5e-8], [1.4e-8, 4e-9])  # line 3 is surely below zero
    assert "does not bear on the target" in sure and "noise" not in sure
    from bayescale.cli.commands.next import _cli_words

    assert "(--fantasies 128)" in _cli_words(noisy)


def test_cli_next_names_every_bad_candidate_row_in_file_order(healthy_fit, tmp_path):
    fit_file = healthy_fit.save(tmp_path / "fit.nc")
    path = tmp_path / "bad.csv"
    path.write_text("N,D\n1e9,2e10\n,3e10\n-1e9,2e10\n2e9,abc\n3e9,6e10\n")
    done = _invoke("next", str(fit_file), "--candidates", str(path), "--target", "N=7e10,D=1.4e12")
    assert done.exit_code == 2
    said = " ".join(done.output.split())
    assert f"--candidates {path}: 3 rows cannot be used, in order: line 3: N is empty;" in said
    assert said.index("line 3:") < said.index("line 4: N is -1e+09") < said.index("line 5: D is")
    assert said.count("error:") == 1 and "nan" not in said
    # In Python: the same, the rows named by their labels; a NaN given is said as such.
    pool = pd.DataFrame({"N": [1e9, np.nan, -1e9], "D": [2e10, 3e10, 2e10]})
    with pytest.raises(DataError, match=r"2 rows cannot be used, in order: candidate 1: N is nan"):
        recommend(healthy_fit, pool, TARGET)


def test_the_advice_to_give_a_budget_names_only_a_run_the_plan_could_choose() -> None:
    from bayescale.cli.commands.next import _cheap_but_weak

    # Without a budget the cheap run was chosen; the rows that would shorten the variance
    # more are a slip of units left out (N = 3) and the target run itself.
    table = pd.DataFrame(
        {
            "N": [3.0, 1e9, 7e10, 5e9],
            "D": [6e10, 2e10, 1.4e12, 1e11],
            "cost": [1.1e12, 1.2e20, 5.9e23, 3e21],
            "chosen": [False, True, False, False],
            "variance_reduction": [0.8, 0.05, 0.9, 0.5],
            "slip": ["below", "", "", ""],
            "reaches_target": [False, False, True, False],
        }
    )
    attrs = {"budget": None, "strategy": "per_cost", "variance_before": 1.0}
    attrs |= {"variance_after": 0.95, "keep_slips": False}
    said = _cheap_but_weak(table, attrs, ["N", "D"])
    assert said is not None and "(N=5B, D=100B) would by 50%" in said
    assert _cheap_but_weak(table.drop(index=3), attrs, ["N", "D"]) is None
    # Insisted on, a slip may be chosen, so it may be named.
    kept = _cheap_but_weak(table, {**attrs, "keep_slips": True}, ["N", "D"])
    assert kept is not None and "(N=3, D=60B)" in kept
