"""Which run next (bayescale.recommend): properties a wrong recommendation would break."""

from __future__ import annotations

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
