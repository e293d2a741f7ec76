"""Hierarchical fits (issue 13): pooling declarations, grouped runs, the non-centred model,
per-group and new-group forecasts, save/load."""

from __future__ import annotations

import functools
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale
from bayescale import discrepancy as dm
from bayescale.data import Runs, load_runs
from bayescale.errors import DataError, DataWarning, LawError
from bayescale.formula import NUMPY
from bayescale.hierarchy import (
    CENTRING,
    NEW_GROUP,
    WHITENED,
    Pooling,
    group_values,
    scalar_view,
)
from bayescale.laws import Law, get_law

TRUTH = {"A": 400.0, "B": 400.0, "alpha": 0.34, "beta": 0.28}
FLOORS = {"a": 1.7, "b": 1.9, "c": 2.1}


def _frame(seed: int = 0, small: int = 4) -> pd.DataFrame:
    """Three groups of a Chinchilla law differing in their floor; group 'c' has few runs."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, floor in FLOORS.items():
        sizes = np.geomspace(2e7, 1e9, 6)
        for n in sizes:
            for multiplier in (10, 20, 40):
                d = multiplier * n
                loss = floor + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]
                rows.append((group, n, d, loss * np.exp(0.01 * rng.standard_normal())))
    frame = pd.DataFrame(rows, columns=["family", "N", "D", "loss"])
    # The last group keeps only its smallest runs: it must borrow from the others.
    keep = (frame["family"] != "c") | (frame.groupby("family").cumcount() < small)
    return frame[keep].reset_index(drop=True)


# ----------------------------------------------------------------- declarations


def test_default_pooling_pools_every_parameter_of_chinchilla() -> None:
    law = get_law("chinchilla")
    pooling = Pooling.of(law)
    assert set(pooling.kinds.values()) == {"pooled"}
    assert pooling.spreads["alpha"] < pooling.spreads["A"]  # exponents transfer best
    assert pooling.population_names()[:2] == ["E_loc", "E_tau"]


@pytest.mark.parametrize(
    ("shorthand", "kind"), [("partial", "pooled"), ("none", "separate"), ("complete", "shared")]
)
def test_shorthands(shorthand: str, kind: str) -> None:
    pooling = Pooling.of(get_law("chinchilla"), shorthand)
    assert set(pooling.kinds.values()) == {kind}
    assert pooling.shorthand == shorthand


def test_mapping_overrides_defaults_and_sets_spread() -> None:
    law = get_law("chinchilla")
    pooling = Pooling.of(law, {"alpha": "shared", "E": {"kind": "pooled", "spread": 0.05}})
    assert pooling.kinds["alpha"] == "shared"
    assert pooling.kinds["beta"] == "pooled"
    assert pooling.spreads["E"] == 0.05
    # A is stated at N_ref**alpha: with alpha shared and A pooled, A still varies.
    assert "A" in pooling.varying(law)
    restored = Pooling.from_dict(json.loads(json.dumps(pooling.to_dict())))
    assert restored == pooling


def test_shared_reference_parameter_varies_with_its_pooled_power() -> None:
    law = get_law("chinchilla")
    pooling = Pooling.of(law, {"A": "shared", "default": "shared", "alpha": "pooled"})
    assert pooling.varying(law) == {"alpha", "A"}


@pytest.mark.parametrize(
    ("pooling", "words"),
    [
        ({"gamma": "pooled"}, "no parameter 'gamma'"),
        ({"alpha": "partly"}, "not a kind"),
        ({"sigma": "pooled"}, "noise parameter"),
        ("some", "must be one of"),
        ({"E": {"kind": "pooled", "spread": -1}}, "spread must be a positive number"),
        ({"E": {"kind": "pooled", "width": 1}}, "unknown key 'width'"),
        ({"default": ["pooled"]}, "pooling default .* is not a kind"),
        ({"default": {"kind": "partly"}}, "pooling default 'partly' is not a kind"),
        ({"default": {"kind": "pooled", "width": 1}}, "pooling default: unknown key 'width'"),
    ],
)
def test_bad_pooling_is_one_clear_line(pooling: object, words: str) -> None:
    with pytest.raises(LawError, match=words) as err:
        Pooling.of(get_law("chinchilla"), pooling)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("pooling", "words"),
    [
        (
            {"B": {"kind": "shared", "spread": 0.3}},
            "pooling of 'B': a spread applies only to a pooled parameter",
        ),
        (
            {"E": {"kind": "separate", "centring": 0}},
            "pooling of 'E': a centring applies only to a pooled parameter",
        ),
        (
            {"default": {"kind": "separate", "spread": 0.3}},
            "pooling default: a spread applies only to a pooled parameter .*, not to a 'separate'",
        ),
    ],
)
def test_a_spread_without_a_population_is_refused(pooling: object, words: str) -> None:
    # It was ignored without a word, then with a warning; only a pooled parameter has a
    # population to spread. A law saved with a fit still loads, with the warning.
    from bayescale.errors import DataWarning
    from bayescale.laws import Law

    with pytest.raises(LawError, match=words + r".*; drop it, or declare the kind 'pooled'"):
        Pooling.of(get_law("chinchilla"), pooling)
    saved = {**get_law("chinchilla").to_dict(), "pooling": pooling}
    with pytest.warns(DataWarning, match=words + r".*it is ignored") as caught:
        loaded = Law.from_dict(saved)
    assert len(caught) == 1  # once, not once per parameter the default covers
    # What it meant, without what was ignored: the loaded law passes today's checks.
    law = get_law("chinchilla")
    assert Pooling.of(loaded, loaded.pooling) == Pooling.of(law, pooling, saved=True)
    assert loaded.pooling != pooling


@pytest.mark.parametrize(
    ("pooling", "kind"),
    [
        ({"default": "partial"}, "pooled"),
        ({"default": {"kind": "complete"}}, "shared"),
        ({"E": "none"}, "separate"),
    ],
)
def test_a_shorthand_is_not_a_kind(pooling: dict, kind: str) -> None:
    # Before, default = "partial" was read as "pooled": the kinds are shared, pooled and
    # separate, the shorthands are for pooling= as a whole.
    with pytest.raises(LawError, match=rf"is not a kind; .*did you mean '{kind}'\?") as err:
        Pooling.of(get_law("chinchilla"), pooling)
    assert "\n" not in str(err.value)


def test_bounded_prior_cannot_be_pooled() -> None:
    law = get_law("chinchilla").with_priors(
        {"alpha": {"dist": "Uniform", "lower": 0.0, "upper": 1.0}}
    )
    assert Pooling.of(law).kinds["alpha"] == "shared"  # the default steps aside
    with pytest.raises(LawError, match="bounded"):
        Pooling.of(law, {"alpha": "pooled"})


def test_a_default_entry_applies_to_the_unlisted_parameters() -> None:
    # Before, a mapping as the default raised a bare TypeError.
    law = get_law("chinchilla").with_priors(
        {"alpha": {"dist": "Uniform", "lower": 0.0, "upper": 1.0}}
    )
    pooling = Pooling.of(
        law, {"default": {"kind": "pooled", "spread": 0.05, "centring": 0}, "E": "shared"}
    )
    assert pooling.kinds == {
        "E": "shared",
        "A": "pooled",
        "B": "pooled",
        "alpha": "shared",
        "beta": "pooled",
    }  # alpha's bounded prior: the default steps aside, as with "partial"
    assert pooling.spreads == {"A": 0.05, "B": 0.05, "beta": 0.05}
    assert pooling.centring == {"A": 0.0, "B": 0.0, "beta": 0.0}
    assert Pooling.of(law, {"default": {"kind": "shared"}}) == Pooling.of(law, "complete")
    # A law saved with a fit by an older version, with a shorthand as the default's kind,
    # still reads as it did then.
    assert Pooling.of(law, {"default": {"kind": "complete"}}, saved=True) == Pooling.of(
        law, "complete"
    )
    # Read from a saved fit, such a law is passed on as this version says it: a refit of
    # the loaded law (or a law file written from it) is not refused.
    saved = law.to_dict()
    saved["pooling"] = {"default": "partial", "E": {"kind": "shared", "spread": 0.3}}
    with pytest.warns(DataWarning, match="applies only to a pooled parameter"):
        loaded = Law.from_dict(saved)
    assert loaded.pooling == {"default": "pooled", "E": {"kind": "shared"}}
    assert Pooling.of(loaded, loaded.pooling) == Pooling.of(
        law, {"default": "pooled", "E": "shared"}
    )


def test_a_calls_mapping_is_merged_over_the_law_files_pooling() -> None:
    from bayescale.laws import catalog

    text = catalog()["chinchilla"].read_text(encoding="utf-8")
    law = Law.from_toml(text + '\n[pooling]\nalpha = "shared"\nE = "separate"\n', source="g.toml")
    assert Pooling.of(law).kinds == Pooling.of(law, law.pooling).kinds  # the file's default
    # Before, a call naming beta dropped the file's alpha and E (both became "pooled").
    kinds = Pooling.of(law, {"beta": "shared"}).kinds
    assert kinds == {
        "E": "separate",
        "A": "pooled",
        "B": "pooled",
        "alpha": "shared",
        "beta": "shared",
    }
    # The call wins where both declare, its default over the file's; a shorthand replaces.
    kinds = Pooling.of(law, {"alpha": "pooled", "default": "shared"}).kinds
    assert (kinds["alpha"], kinds["E"], kinds["beta"]) == ("pooled", "separate", "shared")
    assert set(Pooling.of(law, "partial").kinds.values()) == {"pooled"}
    resolved = Pooling.of(law, {"beta": "shared"})
    assert Pooling.of(law, resolved) == resolved


def test_group_values_reconstructs_reference_amplitudes() -> None:
    law = get_law("chinchilla")
    pooling = Pooling.of(law)
    z = np.array([-1.0, 0.0, 2.0])
    free = {}
    for name in law.parameters:
        free |= {f"{name}_loc": 0.5, f"{name}_tau": 0.1, f"{name}_z": z}
    log_ref = {"N": np.log(1e8), "D": np.log(2e9)}
    values, logs, at_ref = group_values(law, pooling, free, log_ref, NUMPY)
    alpha = np.exp(np.log(0.5) + 0.1 * z)
    np.testing.assert_allclose(values["alpha"], alpha)
    np.testing.assert_allclose(at_ref["A"], alpha)  # same loc, tau and z
    # A_ref = A / N_ref**alpha: the value at the reference scale is what is pooled.
    np.testing.assert_allclose(values["A"] / 1e8 ** values["alpha"], at_ref["A"])
    np.testing.assert_allclose(logs["A"], np.log(values["A"]))


# ----------------------------------------------------------------- grouped runs


def test_load_runs_with_groups_round_trips() -> None:
    frame = _frame()
    runs = load_runs(frame, y="loss", group="family")
    assert runs.group_names == ("a", "b", "c")
    assert runs.group_index().tolist() == [{"a": 0, "b": 1, "c": 2}[g] for g in frame["family"]]
    restored = Runs.from_dict(json.loads(json.dumps(runs.to_dict())))
    assert restored == runs
    part = runs.subset(runs.group_index() == 2)
    assert part.group_names == ("c",) and len(part) == 4
    plain = load_runs(frame, y="loss")
    assert plain.group is None
    assert plain.fingerprint() != runs.fingerprint()


def test_groups_from_two_columns_are_joined() -> None:
    frame = _frame().assign(tok=lambda f: np.where(f["N"] > 1e8, "big", "small"))
    runs = load_runs(frame, y="loss", group=["family", "tok"])
    assert "a/big" in runs.group_names and runs.group_by == ("family", "tok")


def test_missing_or_blank_group_column_is_reported() -> None:
    frame = _frame()
    with pytest.raises(DataError, match=r"no column 'famly'.*did you mean 'family'"):
        load_runs(frame, y="loss", group="famly")
    frame.loc[3, "family"] = " "
    with pytest.raises(DataError, match="group column 'family' row 4 is empty"):
        load_runs(frame, y="loss", group="family")


def test_pooling_without_groups_is_refused() -> None:
    with pytest.raises(DataError, match="needs runs in groups"):
        bayescale.fit(_frame(), "chinchilla", pooling="partial")


def test_a_single_group_is_refused_with_its_name() -> None:
    # scalebench's tasks carry a group column with one value: nothing to pool, and a new
    # group's forecast would be as wide as the priors say.
    one = _frame().query("family == 'a'").reset_index(drop=True)
    with pytest.raises(
        DataError, match=r"every one of the 18 runs is in group 'a' \(column family\)"
    ):
        bayescale.fit(one, "chinchilla", group="family", pooling="complete")


def test_model_coordinates_follow_the_centring() -> None:
    from bayescale.model import build_model, log_reference

    law = get_law("chinchilla")
    runs = load_runs(_frame(), y="loss", group="family")
    log_ref = log_reference(law, runs)
    non_centred = Pooling.of(law, {"alpha": {"kind": "pooled", "centring": 0}})
    model = build_model(law, runs, log_ref, pooling=non_centred)
    free = {v.name for v in model.free_RVs}
    assert {"alpha_loc", "alpha_tau", "alpha_z"} <= free and "alpha" not in free
    # The group-mean form: one variable per role over the pooled parameters.
    assert {"pooled_tau", WHITENED, "pooled_xi", "pooled_zeta"} <= free
    assert "pooled_mean" in {v.name for v in model.deterministics}
    assert not {"E_tau", "E_loc", "alpha_mean"} & free
    assert model.coords["pooled"] == ("E", "A", "B", "beta")
    assert model.named_vars_to_dims["pooled_zeta"] == ("pooled", "group")
    assert model["alpha_z"].eval().shape == (3,)
    assert model.named_vars_to_dims["alpha"] == ("group",)
    # Every pooled parameter's population median and spread are in the posterior, whatever
    # its form.
    assert {"E_loc", "A_loc", "E_tau", "beta_tau"} <= {v.name for v in model.deterministics}
    # Prior draws need drawable variables: the same model, non-centred.
    prior_model = build_model(law, runs, log_ref, reparameterise=False, pooling=Pooling.of(law))
    assert WHITENED not in {v.name for v in prior_model.free_RVs}
    assert "pooled_frame" not in {v.name for v in prior_model.data_vars}


def test_default_centring_round_trips_and_is_checked() -> None:
    law = get_law("chinchilla")
    pooling = Pooling.of(law)
    assert pooling.centring == dict.fromkeys(law.parameters, CENTRING)
    assert Pooling.from_dict(json.loads(json.dumps(pooling.to_dict()))) == pooling
    assert Pooling.of(law, pooling) == pooling
    # Fits saved before the choice of coordinates were non-centred.
    old = {"kinds": pooling.kinds, "spreads": pooling.spreads}
    assert Pooling.from_dict(old).centring == {}
    assert Pooling.of(law, {"E": {"kind": "pooled", "centring": 1}}).centring["E"] == 1.0
    for bad in (-0.1, 1.5, "half", True):
        with pytest.raises(LawError, match="centring must be a number from 0"):
            Pooling.of(law, {"E": {"kind": "pooled", "centring": bad}})
    assert Pooling.of(law, "complete").centring == {}


def _block(
    law: Law,
    pooling: Pooling,
    names: list[str],
    outputs: list[str],
    frame: np.ndarray | None = None,
):
    """The group-mean block of ``names`` alone, in a model of 3 groups.

    Returns its log density (without the transforms' Jacobians), a function of the block's
    values giving ``outputs`` (e.g. ``"E_position"``), and ``point(m, tau, theta)``: the
    block's coordinates of population centres ``m``, spreads ``tau`` and group values
    ``theta`` (one row per parameter, on the scale pooling works on), the groups' means
    in the ``frame`` (offset, then basis; default the identity) as its docs state it.
    """
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from bayescale.hierarchy import _group_mean_block, identity_frame

    frame = identity_frame(len(names)) if frame is None else frame
    with pm.Model(coords={"group": ["a", "b", "c"]}) as model:
        free = _group_mean_block([law.parameters[n] for n in names], pooling, frame)
    transform = model.rvs_to_transforms[model["pooled_zeta"]]
    evaluate = pytensor.function(
        model.value_vars,
        model.replace_rvs_by_values([free[o] if o in free else model[o] for o in outputs]),
        on_unused_input="ignore",
    )
    centrings = np.array([pooling.centring[n] for n in names])

    def point(m: np.ndarray, tau: np.ndarray, theta: np.ndarray) -> dict[str, np.ndarray]:
        mean = theta.mean(axis=1)
        zeta = (theta - mean[:, None]) / (tau ** (1 - centrings))[:, None]
        return {
            "pooled_tau_log__": np.log(tau),
            WHITENED: np.linalg.solve(frame[:, 1:], mean - frame[:, 0]),
            "pooled_xi": (mean - m) * np.sqrt(theta.shape[1]) / tau,
            "pooled_zeta_zerosum__": transform.forward(pt.as_tensor(zeta)).eval(),
        }

    return model.compile_logp(jacobian=False), evaluate, point


def _jacobian(tau: np.ndarray, centrings: np.ndarray, groups: int) -> float:
    # Of (mean, xi, zeta) against (log m, tau, theta): tau**(1 + (1 - c)(G - 1)) each.
    return float(((1 + (1 - centrings) * (groups - 1)) * np.log(tau)).sum())


@pytest.mark.parametrize("centring", [0.3, 1.0])
def test_group_mean_form_has_the_non_centred_density(centring: float) -> None:
    """The change of coordinates keeps the model: its density in (mean, xi, tau, zeta) is the
    hierarchical density of (log m, tau, log theta_g) times the Jacobian
    tau**(1 + (1 - c)(G - 1)) per pooled parameter, up to a constant. Two parameters with
    different centrings and priors share the block's vectors: each must get its own."""
    from scipy import stats

    law = get_law("chinchilla")
    pooling = Pooling.of(
        law,
        {
            "E": {"kind": "pooled", "centring": centring},
            "alpha": {"kind": "pooled", "centring": 0.5, "spread": 0.1},
        },
    )
    names = ["E", "alpha"]
    priors = [law.parameters[n].prior.parameters for n in names]  # LogNormal(mu, sigma)
    logp, position, point_of = _block(law, pooling, names, ["E_position", "alpha_position"])
    rng = np.random.default_rng(7)
    gaps = []
    for _ in range(6):
        log_m = np.array([rng.normal(p["mu"], 0.5) for p in priors])
        tau = rng.uniform(0.01, 0.8, size=2)
        log_theta = log_m[:, None] + tau[:, None] * rng.normal(size=(2, 3))
        point = point_of(log_m, tau, log_theta)
        np.testing.assert_allclose(np.stack(position(**point)), log_theta, rtol=1e-10)
        target = sum(
            stats.norm.logpdf(log_m[i], prior["mu"], prior["sigma"])
            + stats.halfnorm.logpdf(tau[i], scale=pooling.spreads[name])
            + stats.norm.logpdf(log_theta[i], log_m[i], tau[i]).sum()
            for i, (name, prior) in enumerate(zip(names, priors, strict=True))
        )
        jacobian = _jacobian(tau, np.array([centring, 0.5]), 3)
        gaps.append(float(logp(point)) - target - jacobian)
    np.testing.assert_allclose(gaps, gaps[0], atol=1e-8)


def test_group_mean_block_mixes_positive_and_real_valued_parameters() -> None:
    """A block with a log-scale (LogNormal) and a real-valued (Normal) parameter: each gets
    its own prior of m (with the log's Jacobian only for the positive one) and its own
    population median, on its own scale."""
    from scipy import stats

    law = Law.from_formula(
        "E + A / N**alpha + b",
        priors={
            "E": {"dist": "LogNormal", "mu": 0.4, "sigma": 1.0},
            "A": {"dist": "LogNormal", "mu": 0.0, "sigma": 1.0},
            "alpha": {"dist": "LogNormal", "mu": -1.2, "sigma": 0.75},
            "b": {"dist": "Normal", "mu": 0.2, "sigma": 0.5},
        },
    )
    pooling = Pooling.of(law, {"default": "shared", "E": "pooled", "b": "pooled"})
    names = ["E", "b"]
    logp, loc, point_of = _block(law, pooling, names, ["E_loc", "b_loc"])
    rng = np.random.default_rng(11)
    gaps = []
    for _ in range(5):
        # E on the log scale, b in its own units.
        m = np.array([rng.normal(0.4, 0.5), rng.normal(0.2, 0.4)])
        tau = rng.uniform(0.05, 0.6, size=2)
        theta = m[:, None] + tau[:, None] * rng.normal(size=(2, 3))
        point = point_of(m, tau, theta)
        np.testing.assert_allclose(loc(**point), [np.exp(m[0]), m[1]], rtol=1e-10)
        target = (
            stats.norm.logpdf(m[0], 0.4, 1.0)  # LogNormal of exp(m) times exp(m) = Normal of m
            + stats.norm.logpdf(m[1], 0.2, 0.5)
            + stats.halfnorm.logpdf(tau, scale=[pooling.spreads[n] for n in names]).sum()
            + stats.norm.logpdf(theta, m[:, None], tau[:, None]).sum()
        )
        gaps.append(float(logp(point)) - target - _jacobian(tau, np.full(2, CENTRING), 3))
    np.testing.assert_allclose(gaps, gaps[0], atol=1e-8)


def test_a_frame_of_the_group_means_keeps_the_density_and_the_values() -> None:
    """In a frame (offset o, basis L), the block gives back the same group values from the
    coordinates ``w = L^-1 (mean - o)`` (so ``mean = o + L w``, not ``L^T w`` or ``o - L w``),
    with the same log density: the flat mean's density is flat in ``w`` too, the Jacobian
    det L a constant."""
    law = get_law("chinchilla")
    pooling = Pooling.of(law, {"default": "shared", "E": "pooled", "alpha": "pooled"})
    names = ["E", "alpha"]
    outputs = ["E_position", "alpha_position", "pooled_mean"]
    frame = np.array([[0.5, 0.02, 0.0], [-1.1, -0.03, 0.05]])
    plain = _block(law, pooling, names, outputs)
    framed = _block(law, pooling, names, outputs, frame)
    rng = np.random.default_rng(5)
    gaps = []
    for _ in range(5):
        log_m = np.array([rng.normal(0.4, 0.3), rng.normal(-1.2, 0.3)])
        tau = rng.uniform(0.05, 0.5, size=2)
        log_theta = log_m[:, None] + tau[:, None] * rng.normal(size=(2, 3))
        values = []
        for logp, evaluate, point_of in (plain, framed):
            point = point_of(log_m, tau, log_theta)
            position = evaluate(**point)
            np.testing.assert_allclose(np.stack(position[:2]), log_theta, rtol=1e-10)
            np.testing.assert_allclose(position[2], log_theta.mean(axis=1), rtol=1e-10)
            values.append(float(logp(point)))
        gaps.append(values[1] - values[0])
    np.testing.assert_allclose(gaps, 0.0, atol=1e-8)


# ----------------------------------------------------------------- one fit, many checks


@pytest.fixture(scope="module")
def hierarchical() -> bayescale.Fit:
    runs = load_runs(_frame(), y="loss", group="family")
    return bayescale.fit(
        runs, "chinchilla", draws=300, tune=300, chains=2, seed=3, prior_draws=0, retries=0
    )


@pytest.mark.slow
def test_fit_recovers_each_group_and_shrinks_the_small_one(hierarchical: bayescale.Fit) -> None:
    fit = hierarchical
    assert fit.groups == ["a", "b", "c"]
    assert fit.diagnostics.divergences == 0
    # A discrepancy is learned for groups only when asked, and the fit says so.
    assert fit.discrepancy is None and fit.settings["discrepancy"] == "none"
    assert "only when asked" in fit.info["discrepancy_note"]
    post = fit.idata.posterior
    for group, floor in FLOORS.items():
        values = post["E"].sel(group=group).values.reshape(-1)
        low, high = np.quantile(values, [0.02, 0.98])
        assert low < floor < high, (group, low, high)
    table = fit.summary()
    assert {"E[a]", "E_loc", "E_tau", "sigma"} <= set(table.index)
    assert table.loc["E_tau", "role"] == "population spread"


@pytest.mark.slow
def test_centred_and_non_centred_coordinates_give_one_posterior(
    hierarchical: bayescale.Fit,
) -> None:
    runs = load_runs(_frame(), y="loss", group="family")
    non_centred = bayescale.fit(
        runs,
        "chinchilla",
        draws=300,
        tune=300,
        chains=2,
        seed=4,
        prior_draws=0,
        retries=0,
        pooling={
            "default": "pooled",
            **{n: {"centring": 0} for n in ("E", "A", "B", "alpha", "beta")},
        },
    )
    assert non_centred.pooling.centring == dict.fromkeys(non_centred.law.parameters, 0.0)
    assert hierarchical.pooling.centring["E"] == CENTRING
    for name in ("E", "A_ref", "alpha", "beta", "E_loc", "sigma"):
        a = hierarchical.idata.posterior[name]
        b = non_centred.idata.posterior[name]
        dims = ("chain", "draw")
        # Medians within 4 Monte Carlo standard errors (about 1.25 sd / sqrt(ESS) each).
        error = 1.25 * np.hypot(a.std(dims) / np.sqrt(150), b.std(dims) / np.sqrt(150))
        gap = np.abs(a.median(dims) - b.median(dims))
        assert bool((gap < 4 * error).all()), (name, gap.values, error.values)


@pytest.mark.slow
def test_forecasts_per_group_and_for_a_new_group(hierarchical: bayescale.Fit) -> None:
    fit = hierarchical
    at = {"N": [3e9], "D": [6e10]}
    table = fit.forecast(at)
    assert table["group"].tolist() == ["a", "b", "c"]
    # Ordered by their floors.
    assert table["law_median"].is_monotonic_increasing
    new = fit.forecast(at, group=NEW_GROUP)
    width = lambda t: float((t["law_upper_90"] - t["law_lower_90"]).iloc[0])  # noqa: E731
    assert width(new) > width(fit.forecast(at, group="a"))
    # A 'group' column routes each point to its group, in the caller's order.
    routed = fit.forecast(pd.DataFrame({"N": [3e9, 3e9], "D": [6e10, 6e10], "group": ["c", "a"]}))
    assert routed["group"].tolist() == ["c", "a"]
    assert routed["law_median"].iloc[1] == pytest.approx(table["law_median"].iloc[0])
    # The runs' own grouping column (here 'family') routes them the same way.
    by_family = fit.forecast(
        pd.DataFrame({"N": [3e9, 3e9], "D": [6e10, 6e10], "family": ["c", "a"]})
    )
    pd.testing.assert_frame_equal(by_family, routed)
    # Rows keep the caller's index, in the caller's order.
    indexed = fit.forecast(
        pd.DataFrame({"N": [3e9, 3e9], "D": [6e10, 6e10], "group": ["c", "a"]}, index=[7, 2])
    )
    assert list(indexed.index) == [7, 2]
    pd.testing.assert_frame_equal(indexed.reset_index(drop=True), routed)
    records = [{"N": 3e9, "D": 6e10, "family": "c"}, {"N": 3e9, "D": 6e10, "family": "a"}]
    pd.testing.assert_frame_equal(fit.forecast(records), routed)
    with pytest.raises(DataError, match="names no group; give one or more of a, b, c"):
        fit.forecast(at, group=[])
    plan = fit.compute_optimal([1e21], group=["a", NEW_GROUP])
    assert plan["group"].tolist() == ["a", NEW_GROUP] and (plan["N_median"] > 0).all()
    # Truth at this point: a 2.32, b 2.52, c 2.72.
    risk = fit.prob_below(2.45, N=3e9, D=6e10).set_index("group")["prob_law_below"]
    assert risk["a"] > 0.9 and risk["c"] < 0.1
    with pytest.raises(DataError, match="not one of this fit's groups"):
        fit.forecast(at, group="d")
    with pytest.raises(DataError, match=r"this fit has groups \(a, b, c\); pass group="):
        fit.draws()


@pytest.mark.slow
def test_saved_fit_forecasts_identically(hierarchical: bayescale.Fit, tmp_path) -> None:
    path = hierarchical.save(tmp_path / "h.nc")
    loaded = bayescale.load_fit(path)
    assert loaded.pooling == hierarchical.pooling and loaded.groups == hierarchical.groups
    at = {"N": [3e9, 1e10], "D": [6e10, 2e11]}
    for group in (None, NEW_GROUP):
        pd.testing.assert_frame_equal(
            loaded.forecast(at, group=group), hierarchical.forecast(at, group=group)
        )


@pytest.mark.slow
def test_loo_and_held_out_scores_use_each_runs_group(hierarchical: bayescale.Fit) -> None:
    from bayescale.comparison import score

    ll = hierarchical.log_likelihood()["y"]
    assert ll.shape[-1] == len(hierarchical.runs)
    held = load_runs(_frame(small=18), y="loss", group="family")
    held = held.subset(np.array([g == "c" for g in held.group]) & (held.x("N") > 3e8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scored = score(hierarchical, held, (0.9,))
        as_a = Runs(held.table, held.y_name, held.columns, held.source, group=("a",) * len(held))
        wrong = score(hierarchical, as_a, (0.9,))
    # Each run is scored with its own group's law: group c's runs are far from group a's.
    assert scored["mare"] < 0.1 < wrong["mare"]
    assert scored["elpd"] > wrong["elpd"]
    view = scalar_view(hierarchical.idata.posterior, ["alpha"])
    assert list(view.data_vars) == ["alpha[a]", "alpha[b]", "alpha[c]"]


@pytest.mark.slow
def test_readme_section_runs(tmp_path, monkeypatch) -> None:
    import re
    import runpy
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Many families, one fit", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    script = tmp_path / "families.py"
    script.write_text(code, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    names = runpy.run_path(str(script), run_name="__main__")
    table = names["fit"].forecast(names["at"])
    assert table["group"].tolist() == ["books", "new-mix", "web"]


@pytest.mark.parametrize("pooling", ["none", "complete", {"alpha": "shared", "E": "separate"}])
def test_every_pooling_builds_a_model_with_per_group_values_where_declared(pooling) -> None:
    from bayescale.model import build_model, log_reference

    law = get_law("chinchilla")
    runs = load_runs(_frame(), y="loss", group="family")
    resolved = Pooling.of(law, pooling)
    model = build_model(law, runs, log_reference(law, runs), pooling=resolved)
    for name in law.parameters:
        dims = model.named_vars_to_dims.get(name, ())
        assert (dims == ("group",)) == (name in resolved.varying(law)), (name, dims)


def test_cli_pooling_needs_groups(tmp_path) -> None:
    from typer.testing import CliRunner

    from bayescale.cli import app

    csv = tmp_path / "runs.csv"
    _frame().to_csv(csv, index=False)
    done = CliRunner().invoke(
        app, ["fit", str(csv), "--law", "chinchilla", "--pooling", "none", "--out", "x.nc"]
    )
    assert done.exit_code != 0 and "--pooling needs --group" in done.output


@pytest.mark.slow
def test_cli_forecasts_and_plans_per_group(hierarchical: bayescale.Fit, tmp_path) -> None:
    from typer.testing import CliRunner

    from bayescale.cli import app

    path = str(hierarchical.save(tmp_path / "h.nc"))
    runner = CliRunner()
    done = runner.invoke(
        app, ["forecast", path, "--at", "N=3e9,D=6e10", "--group", "c", "--group", "new"]
    )
    assert done.exit_code == 0, done.output
    assert "new" in done.output and " c " in done.output
    done = runner.invoke(app, ["forecast", path, "--at", "N=3e9,D=6e10", "--format", "json"])
    rows = json.loads(done.stdout)["forecast"]
    assert [r["group"] for r in rows] == ["a", "b", "c"]
    done = runner.invoke(app, ["optimal", path, "--compute", "1e21", "--group", "a"])
    assert done.exit_code == 0 and "group a" in done.output


@pytest.mark.slow
def test_report_has_a_groups_section(hierarchical: bayescale.Fit) -> None:
    from bayescale.report import build_context
    from bayescale.report.render import render_html

    context = build_context(hierarchical, figures=False)
    assert context["groups"]["focus"] == "c"  # the group with the fewest runs
    assert list(context["meta"]["sections"])[:2] == ["summary", "groups"]
    html = render_html(context)
    assert 'id="table-groups"' in html and 'id="table-population"' in html
    assert [r["group"] for r in context["groups"]["rows"]] == ["a", "b", "c", NEW_GROUP]
    # The figures of the whole fit: curves, population and every group's predictive check.
    from bayescale.report.context import _group_figures

    context["figures"] = _group_figures(hierarchical, 0.9)
    html = render_html(context)
    for name in ("groups", "population", "groups_ppc"):
        assert f'id="fig-{name}"' in html, name


@pytest.mark.slow
def test_a_groups_report_takes_its_default_target_and_budgets_from_every_groups_runs(
    hierarchical: bayescale.Fit,
) -> None:
    import html as html_module

    from bayescale.plots._common import runs_compute
    from bayescale.report import build_context
    from bayescale.report.render import render_html

    fit = hierarchical
    context = build_context(fit, figures=False)
    assert context["groups"]["focus"] == "c"  # four small runs: its own largest N is 1e8
    own = fit.runs.subset(np.array([g == "c" for g in fit.runs.group]))
    row = context["summary"]["rows"][0]
    # 10x the largest N and D of every group's runs, not of group c's.
    assert row["N"].value == pytest.approx(10 * fit.runs.x("N").max())
    assert row["D"].value == pytest.approx(10 * fit.runs.x("D").max())
    assert row["N"].value > 50 * own.x("N").max()
    largest = float(runs_compute(fit).max())
    plan = context["plan"]
    assert plan["largest"].value == pytest.approx(largest) and plan["of_every_group"]
    assert min(r["C"].value for r in plan["rows"]) == pytest.approx(largest)
    # The default target is 10x N and 10x D of the largest run: 100x its compute.
    assert context["meta"]["default_compute"]["ratio"].value == pytest.approx(100, rel=1e-6)
    meta = context["meta"]
    assert meta["runs_words"] == "group c's 4 runs"
    assert meta["whole_reach"].value == pytest.approx(100, rel=1e-6)
    # The forecast column is still measured against the group's own runs: far beyond them.
    assert context["summary"]["max_extrapolation"].value > 1000
    text = " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", render_html(context))).split())
    assert "to its largest value in group c's 4 runs." in text
    assert "10× the largest value of each input in every group's runs (all 40 runs" in text
    assert "the compute of the fit's largest run, of any group" in text
    assert "the fit's largest run, of any group, used" in text
    # A new group's report measures from every group's runs: no second ratio.
    new = build_context(fit, figures=False, group=NEW_GROUP)
    assert new["meta"]["whole_reach"] is None
    assert new["summary"]["rows"][0]["N"].value == pytest.approx(row["N"].value)
    with pytest.raises(DataError, match=r"did you mean 'new'\?"):
        build_context(fit, figures=False, group="nwe")


@pytest.mark.slow
def test_a_groups_report_states_the_spread_priors_and_whose_parameters_it_checks(
    hierarchical: bayescale.Fit,
) -> None:
    import html as html_module

    from bayescale.hierarchy import SPREADS
    from bayescale.report import build_context
    from bayescale.report.render import render_html

    context = build_context(hierarchical, figures=False)
    spreads = {row["name"]: row for row in context["law"]["spreads"]}
    assert list(spreads) == ["E_tau", "A_tau", "B_tau", "alpha_tau", "beta_tau"]
    assert spreads["alpha_tau"]["prior"] == f"HalfNormal(sigma={SPREADS['exponent']:g})"
    assert spreads["E_tau"]["prior"] == f"HalfNormal(sigma={SPREADS['floor']:g})"
    assert "entropy" in spreads["E_tau"]["why"] and spreads["E_tau"]["log_scale"]
    rows = {row["name"]: row for row in context["sensitivity"]["rows"]}
    assert rows["E"]["of"] == "group c" and rows["sigma"]["of"] == "shared"
    assert rows["E_tau"]["of"] == "population"
    assert rows["E_tau"]["diagnosis"] == "not computed"
    text = " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", render_html(context))).split())
    assert "E_tau population spread HalfNormal(sigma=0.3) (log scale)" in text
    assert "the population median (E_loc, A_loc, B_loc, alpha_loc, beta_loc)" in text
    assert "E (group c)" in text and "E_tau (population)" in text
    assert "Power-scaling sensitivity is computed from the law's priors only" in text
    assert "Runs are assumed comparable within each group (by family)" in text
    assert "Runs are assumed comparable: same data" not in text


def test_spread_priors_say_when_the_pooling_sets_its_own() -> None:
    from bayescale.hierarchy import spread_priors

    law = get_law("chinchilla")
    rows = {r["name"]: r for r in spread_priors(law, Pooling.of(law, {"E": {"spread": 0.1}}))}
    assert rows["E_tau"]["spread"] == 0.1 and not rows["E_tau"]["default"]
    assert "set in the fit's pooling (the default for a floor is 0.3" in rows["E_tau"]["why"]
    assert rows["A_tau"]["default"] and rows["A_tau"]["spread"] == 0.5
    assert spread_priors(law, Pooling.of(law, "complete")) == []


def test_a_pooling_shorthand_typo_gets_a_did_you_mean() -> None:
    with pytest.raises(LawError, match=r"not 'partiall'; did you mean 'partial'\?"):
        Pooling.of(get_law("chinchilla"), "partiall")


def test_group_names_differing_only_in_case_are_said_at_load() -> None:
    frame = _frame()
    frame.loc[frame["family"] == "b", "family"] = "A"
    with pytest.warns(DataWarning, match=r"groups 'a' at row 1 and 'A' at row 19 differ only in "):
        runs = load_runs(frame, y="loss", group="family")
    assert set(runs.group_names) == {"a", "A", "c"}  # still two groups: said, not merged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_runs(_frame(), y="loss", group="family")  # distinct names: silent


@pytest.mark.slow
def test_a_reused_compiled_model_takes_the_new_groups_names(hierarchical: bayescale.Fit) -> None:
    # Same structure (three groups, all pooled) as the fixture: the compiled model is reused.
    frame = _frame().replace({"family": {"a": "x", "b": "y", "c": "z"}})
    runs = load_runs(frame, y="loss", group="family")
    other = bayescale.fit(runs, "chinchilla", draws=20, tune=20, chains=1, prior_draws=0, retries=0)
    assert list(other.idata.posterior["group"].values) == ["x", "y", "z"]
    with pytest.warns(UserWarning, match="failed its diagnostics"):  # 20 draws, on purpose
        table = other.forecast({"N": [1e9], "D": [2e10]})
    assert table["group"].tolist() == ["x", "y", "z"]


@pytest.mark.slow
def test_the_sampler_moves_the_group_means_in_a_whitened_frame(
    hierarchical: bayescale.Fit,
) -> None:
    """The frame set from the mode: there the means' coordinates are 0, with unit
    curvature; every start keeps its means, other coordinates and log density; the model
    compiled for the next fit keeps the identity frame; the fit's posterior keeps
    ``pooled_mean``, not the frame's coordinates."""
    from bayescale.hierarchy import FRAME, identity_frame
    from bayescale.model import (
        _log_density,
        _whitened,
        compiled_model,
        find_starts,
        log_reference,
    )

    law = get_law("chinchilla")
    runs = load_runs(_frame(), y="loss", group="family")
    compiled = compiled_model(law, runs, log_reference(law, runs), Pooling.of(law))
    mode = find_starts(compiled, 1, 0).points[0]
    points = [mode, mode + np.random.default_rng(0).normal(0.0, 0.01, mode.shape)]
    framed, moved = _whitened(compiled, points)
    names, slices, _ = compiled.shape_info
    block = slices[names.index(WHITENED)]
    index = np.arange(block.start, block.stop)
    frame = framed.shared_data[FRAME]
    # Both models share one Python density function: each closure must use its own data,
    # whichever was made last.
    before, after = _log_density(compiled), _log_density(framed)
    for x, y in zip(points, moved, strict=True):
        np.testing.assert_array_equal(np.delete(y, index), np.delete(x, index))
        np.testing.assert_allclose(frame[:, 0] + frame[:, 1:] @ y[index], x[index], atol=1e-12)
        assert after(y)[0] == pytest.approx(before(x)[0], abs=1e-8)
    np.testing.assert_allclose(moved[0][index], 0.0, atol=1e-12)
    step = 1e-3
    curvature = np.empty((len(index), len(index)))
    for column, i in enumerate(index):
        shift = np.zeros_like(mode)
        shift[i] = step
        gradient = after(moved[0] + shift)[1] - after(moved[0] - shift)[1]
        curvature[:, column] = gradient[index] / (2 * step)
    np.testing.assert_allclose(curvature, np.eye(len(index)), atol=1e-3)
    assert np.abs(frame[:, 1:] - np.eye(len(index))).max() > 1e-3  # a frame was set
    np.testing.assert_array_equal(compiled.shared_data[FRAME], identity_frame(len(index)))
    posterior = hierarchical.idata.posterior
    assert WHITENED not in posterior and posterior["pooled_mean"].dims[-1] == "pooled"


@pytest.mark.slow
def test_recommend_plans_one_groups_runs(hierarchical: bayescale.Fit) -> None:
    from bayescale.recommendation import recommend

    target = {"N": 3e9, "D": 6e10}
    # Runs of group 'c' (its 4 smallest runs so far) at the sizes 'a' already covers.
    pool = pd.DataFrame({"N": [2e8, 1e9], "D": [4e9, 2e10]})
    with pytest.raises(DataError, match="pass group="):
        recommend(hierarchical, pool, target, seed=0)
    few = recommend(hierarchical, pool, target, cost=[1.0, 1.0], group="c", seed=0)
    many = recommend(hierarchical, pool, target, cost=[1.0, 1.0], group="a", seed=0)
    # The group with few runs learns much more from the same runs than one that has them.
    assert few["variance_reduction"].max() > 3 * many["variance_reduction"].max()
    assert few.attrs["variance_before"] > many.attrs["variance_before"]
    new = recommend(hierarchical, pool, target, cost=[1.0, 1.0], group="new", seed=0)
    assert new.attrs["variance_before"] > few.attrs["variance_before"]
    assert new["chosen"].sum() == 1 and new["variance_reduction"].max() > 0


def test_a_discrepancy_asked_of_a_fit_with_groups_widens_each_group_beyond_its_own_runs(
    tmp_path,
) -> None:
    runs = load_runs(_frame(), y="loss", group="family")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bayescale.fit(
            runs,
            "chinchilla",
            draws=300,
            tune=300,
            chains=2,
            seed=3,
            prior_draws=0,
            retries=0,
            discrepancy="backtest",
        )
    disc = fit.discrepancy
    assert disc is not None and fit.settings["discrepancy"] == "backtest"
    assert disc.info["splits"] and all(s["n_heldout"] >= 2 for s in disc.info["splits"])
    assert disc.s_weights[1:].sum() > 0.5  # the slope has a posterior, not a point at 0
    assert "groups" in disc.info["plan_note"]
    # Inside groups a and b's runs, beyond c's four smallest: only c's interval widens.
    at = {"N": [5e8], "D": [1e10]}
    table = fit.forecast(at, group=["a", "c", "new"]).set_index("group")
    widened = table["disc_upper_90"] - table["disc_lower_90"]
    law = table["law_upper_90"] - table["law_lower_90"]
    assert widened["a"] == pytest.approx(law["a"]) and widened["new"] == pytest.approx(law["new"])
    assert widened["c"] > 1.05 * law["c"]
    assert fit.group("c").discrepancy.distance(at)[0] > 1.0
    # Each group's caveats stay with its own rows of a stacked plan.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chances = fit.prob_below(float(np.median(runs.y)), C=[1e20, 1e40], group=["a", "c"])
    far = chances.attrs["beyond_backtests"]
    assert sorted(e["group"] for e in far) == ["a", "c"]
    for entry in far:
        row = chances.iloc[entry["row"]]
        assert row["group"] == entry["group"] and row["C"] == entry["C"] == 1e40
    # One law for all is pinned by every run: its distance is from all of them.
    complete = type("Complete", (), {"pooling": Pooling.of(fit.law, "complete"), "runs": runs})
    complete.law = fit.law
    few = runs.subset(np.array([g == "c" for g in runs.group]))
    assert dm.group_ranges(complete, few) == dm.log_ranges(runs, list(fit.law.inputs))
    assert dm.group_ranges(fit, few) == dm.log_ranges(few, list(fit.law.inputs))
    # Saved and reloaded, the same intervals.
    again = bayescale.load_fit(fit.save(tmp_path / "g.nc"))
    pd.testing.assert_frame_equal(again.forecast(at, group="c"), fit.forecast(at, group="c"))


@pytest.mark.slow
def test_a_new_groups_separate_parameter_is_said_to_come_from_its_prior(
    hierarchical: bayescale.Fit,
) -> None:
    import dataclasses

    pooled = hierarchical.pooling
    separate = dataclasses.replace(pooled, kinds={**pooled.kinds, "E": "separate"})
    fit = dataclasses.replace(hierarchical, pooling=separate)
    with pytest.warns(UserWarning, match=r"separate per group: E\. .* drawn from the law's prior"):
        fit.group(NEW_GROUP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hierarchical.group(NEW_GROUP)  # everything pooled: nothing to say
        fit.group(NEW_GROUP)  # said once per fit


# ----------------------------------------------------------------- plots of a fit with groups


def _plot_calls() -> dict[str, object]:
    """Every public plot of bayescale.plots, called on a fit with groups."""
    from types import SimpleNamespace

    from bayescale import plots
    from bayescale.comparison import compare
    from bayescale.downstream import link_law

    target = {"N": 3e9, "D": 6e10}
    return {
        "plot_fit": lambda f: plots.plot_fit(f),
        "plot_loss_contours": lambda f: plots.plot_loss_contours(f),
        "plot_frontier": lambda f: plots.plot_frontier(f, budgets=[1e21]),
        "plot_forecast_fan": lambda f: plots.plot_forecast_fan(f, [target]),
        "plot_residuals": lambda f: plots.plot_residuals(f),
        "plot_ppc": lambda f: plots.plot_ppc(f),
        "plot_pair": lambda f: plots.plot_pair(f),
        "plot_prior_posterior": lambda f: plots.plot_prior_posterior(f),
        "plot_recommendation": lambda f: plots.plot_recommendation(f, pd.DataFrame()),
        # A link fitted with groups (fit_link passes group= to fit): its law and groups are
        # all the plot reads before it refuses.
        "plot_link": lambda f: plots.plot_link(
            SimpleNamespace(law=link_law("exponential"), pooling=f.pooling, groups=f.groups)
        ),
        "plot_rank": lambda f: plots.plot_rank(f),
        "plot_groups": lambda f: plots.plot_groups(f, groups=["c"]),
        "plot_population": lambda f: plots.plot_population(f, ["E", "A"]),
        # The estimates alone: the pooling="none" fit (the test passes its fixture).
        "plot_shrinkage": lambda f, unpooled=None: plots.plot_shrinkage(f, unpooled, ["E"]),
        "plot_comparison": lambda f: plots.plot_comparison(compare({"one": f, "again": f}).loo),
    }


#: The plots that draw a fit with groups; every other one asks for one group.
_DRAW_GROUPS = {
    "plot_rank",
    "plot_groups",
    "plot_population",
    "plot_shrinkage",
    "plot_comparison",
    "plot_ppc",
    "plot_residuals",
}


def test_every_public_plot_is_covered() -> None:
    from bayescale import plots

    public = {name for name in plots.__all__ if name.startswith("plot_")}
    assert public == set(_plot_calls())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_plot_calls()))
def test_every_plot_draws_a_fit_with_groups_or_asks_for_one_group(
    hierarchical: bayescale.Fit, name: str, request: pytest.FixtureRequest
) -> None:
    # Before, most plots failed on a fit with groups with NumPy's or matplotlib's errors
    # ("x and y must have same first dimension", "cannot reshape array ...").
    make = _plot_calls()[name]
    if name == "plot_shrinkage":
        unpooled = request.getfixturevalue("none_fit")
        make = functools.partial(make, unpooled=unpooled)
    if name not in _DRAW_GROUPS:
        message = f"{name} shows one law: pass fit.group(name) (groups: a, b, c, or 'new')"
        with pytest.raises(DataError, match=re.escape(message)) as err:
            make(hierarchical)
        assert "\n" not in str(err.value)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the short chains' diagnostics
        axes = make(hierarchical)
    flat = np.ravel(np.asarray(axes, dtype=object))
    assert flat.size and all(ax.has_data() for ax in flat if ax.get_visible()), name
    if name == "plot_rank":
        # One row per variable the diagnostics check: each group's, each population's.
        titles = [ax.get_title() for ax in np.asarray(axes)[:, 0]]
        assert titles == hierarchical.diagnostic_names
        assert {"alpha[c]", "alpha_tau", "sigma"} <= set(titles)


def test_each_run_is_replicated_from_its_own_groups_law(hierarchical: bayescale.Fit) -> None:
    from bayescale import checks, plots

    fit = hierarchical
    replicated = checks.posterior_predictive(fit).posterior_predictive["loss"].values
    median = np.median(replicated.reshape(-1, len(fit.runs)), axis=0)
    at = fit.runs.table[["N", "D"]].assign(group=list(fit.runs.group))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the short chains' diagnostics
        law = fit.forecast(at)["law_median"].to_numpy()
        # The groups' floors are 0.2 apart: another group's law would miss by about 8%.
        np.testing.assert_allclose(median, law, rtol=0.01)
        _, per_run = plots.plot_ppc(fit)
        panels = plots.plot_residuals(fit)
    assert "outside, by group: a " in per_run.get_title()
    assert {"runs of a", "runs of b", "runs of c"} <= set(panels[0].get_legend_handles_labels()[1])


@pytest.mark.slow
def test_a_groups_law_draws_where_the_whole_fit_is_refused(hierarchical: bayescale.Fit) -> None:
    from bayescale import plots

    view = hierarchical.group("c")
    assert plots.plot_fit(view).has_data()
    assert plots.plot_residuals(view)[0].has_data()


@pytest.mark.slow
def test_hierarchy_plots_name_what_they_cannot_draw(hierarchical: bayescale.Fit) -> None:
    import copy

    import arviz as az

    from bayescale import plots

    fit = hierarchical
    # Before: KeyError 'alpah'.
    with pytest.raises(DataError, match=r"no parameter 'alpah' \(did you mean 'alpha'\?\)"):
        plots.plot_population(fit, ["E", "alpah"])
    with pytest.raises(DataError, match=r"no parameter 'alpah' \(did you mean 'alpha'\?\)"):
        plots.plot_shrinkage(fit, fit, ["alpah"])
    # A fit of other groups as the estimates alone: before, xarray's KeyError.
    names = {"a": "x", "b": "y", "c": "z"}
    other = copy.copy(fit)
    other.runs = load_runs(_frame().replace({"family": names}), y="loss", group="family")
    renamed = fit.idata.posterior.assign_coords(group=[names[g] for g in fit.groups])
    other.idata = az.InferenceData(posterior=renamed)
    with pytest.raises(DataError, match=r"the unpooled fit has no group 'a' \(its groups: x, y, z"):
        plots.plot_shrinkage(fit, other)
    with pytest.raises(DataError, match=r"'cc', which is not one of .* \(did you mean 'c'\?\)"):
        plots.plot_shrinkage(fit, {"cc": fit.group("c")})


@pytest.mark.slow
def test_population_panels_are_titled_readably_and_do_not_overlap(
    hierarchical: bayescale.Fit,
) -> None:
    from bayescale import plots

    axes = plots.plot_population(hierarchical)
    assert len(axes) == 5  # two rows of three panels, the last hidden
    # A is pooled at the runs' typical N, where its prior is stated; before, the title read
    # "A at N_ref (times N_ref**-(alpha))".
    n_ref = np.exp(hierarchical.log_ref["N"])
    title = axes[1].get_title().splitlines()[0]
    assert re.fullmatch(r"A \* N\^-alpha at N = [0-9.]+M", title), title
    assert float(title.split("= ")[1][:-1]) == pytest.approx(n_ref / 1e6, rel=0.01)
    # Before, the second row's titles ran into the first row's tick labels, and the group
    # names of one column into the panel on their left.
    fig = axes[0].figure
    fig.draw_without_rendering()
    boxes = [ax.get_tightbbox() for ax in axes]
    for i, first in enumerate(boxes):
        for second in boxes[i + 1 :]:
            assert not first.overlaps(second)


@pytest.mark.slow
def test_a_groups_warning_says_which_group_it_is_of(hierarchical: bayescale.Fit) -> None:
    import warnings

    def warn_and_tabulate(view: bayescale.Fit) -> pd.DataFrame:
        warnings.warn("no budget up to 1e40 FLOPs gives it", UserWarning, stacklevel=2)
        return pd.DataFrame({"value": [1.0]})

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = hierarchical._per_group(["a", "b"], warn_and_tabulate)
    assert table["group"].tolist() == ["a", "b"]
    assert [str(w.message) for w in caught] == [
        "group a: no budget up to 1e40 FLOPs gives it",
        "group b: no budget up to 1e40 FLOPs gives it",
    ]


# ----------------------------------------------------------------- the audit of grouped fits


def test_a_group_named_new_is_refused_when_the_runs_are_read(tmp_path) -> None:
    # Before, load_runs took it and only fit refused it, naming no file, column or row.
    csv = tmp_path / "named.csv"
    _frame().replace({"family": {"b": NEW_GROUP}}).to_csv(csv, index=False)
    with pytest.raises(DataError) as err:
        load_runs(csv, y="loss", group="family")
    message = str(err.value)
    assert message.startswith(
        f"{csv}: group column 'family' row 19 (line 20 of the file) is 'new' (18 rows in total)"
    )
    assert "rename that group in the data" in message
    assert load_runs(csv, y="loss").group is None  # without group=, 'new' is any label


def test_a_group_column_given_twice_is_refused() -> None:
    # Before, groups came out as 'a/a', 'b/b', 'c/c'.
    with pytest.raises(DataError, match="the group column 'family' is given 2 times; give each"):
        load_runs(_frame(), y="loss", group=["family", "family"])


def test_a_new_group_of_a_fit_with_every_parameter_separate_is_the_laws_prior() -> None:
    from bayescale.hierarchy import new_group_draws

    law = get_law("chinchilla")
    none = Pooling.of(law, "none")
    draws = new_group_draws(law, none, {}, {"N": np.log(1e8), "D": np.log(1e10)}, 0, size=50)
    assert set(draws) == set(law.parameters) and all(v.shape == (50,) for v in draws.values())
    with pytest.raises(ValueError, match="give size="):
        new_group_draws(law, none, {}, {"N": 0.0, "D": 0.0}, 0)


def test_next_says_a_new_groups_distance_is_from_every_groups_runs() -> None:
    from bayescale.cli.commands.next import _distance_line

    attrs = {"extrapolation": 0.02, "extrapolation_along": ["N"], "discrepancy": True}
    line = _distance_line({**attrs, "group": NEW_GROUP}, law_only=False)
    assert line is not None and "beyond the range of every group's runs, along N" in line
    assert line.endswith("(the new group has no runs of its own).")
    assert _distance_line({**attrs, "group": "a"}, law_only=False) == (
        "The target lies 0.0 e-folds (x1.02) beyond the runs' range, along N."
    )


def _fit_with(pooling: str) -> bayescale.Fit:
    runs = load_runs(_frame(), y="loss", group="family")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bayescale.fit(
            runs,
            "chinchilla",
            pooling=pooling,
            draws=150,
            tune=150,
            chains=2,
            seed=3,
            prior_draws=0,
            retries=0,
        )


@pytest.fixture(scope="module")
def none_fit() -> bayescale.Fit:
    """The fixture's runs with every parameter separate (short chains: it fails, on purpose)."""
    return _fit_with("none")


@pytest.fixture(scope="module")
def complete_fit() -> bayescale.Fit:
    """The fixture's runs with every parameter shared: one law."""
    return _fit_with("complete")


@pytest.mark.slow
def test_a_new_group_of_a_fit_without_pooling_comes_from_the_prior(
    none_fit: bayescale.Fit, tmp_path
) -> None:
    # Before, every call below said "E differs by group in this fit; pass group= one of a, b,
    # c (or 'new')", to a caller who had passed 'new': Fit.draws read the empty list of
    # shared variables as "every parameter".
    from bayescale.plots.hierarchy import plot_groups
    from bayescale.report import write_report

    fit = none_fit
    at = {"N": [3e9], "D": [6e10]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new = fit.forecast(at, group=NEW_GROUP)
        plan = fit.compute_optimal([1e21], group=NEW_GROUP)
        risk = fit.prob_below(2.45, N=3e9, D=6e10, group=NEW_GROUP)
    said = [str(w.message) for w in caught]
    assert any("separate per group: E, A, B, alpha, beta" in m for m in said), said
    assert any("drawn from the law's prior" in m for m in said)
    assert not any("differs by group" in m for m in said)
    # As wide as the prior: far wider than the widest observed group's.
    width = lambda t: float((t["law_upper_90"] - t["law_lower_90"]).iloc[0])  # noqa: E731
    observed = fit.forecast(at)
    assert width(new) > 5 * max(width(observed.iloc[[i]]) for i in range(3))
    assert plan["N_median"].iloc[0] > 0 and 0 < risk["prob_law_below"].iloc[0] < 1
    # The new group's draws reproduce: the prior's draws are seeded by the fit's seed.
    again = bayescale.load_fit(fit.save(tmp_path / "none.nc"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.testing.assert_frame_equal(again.forecast(at, group=NEW_GROUP), new)
        # The report writes (before, its Groups table's 'new' row failed) and says where a
        # new group comes from; the per-group panels draw the new group too.
        written = write_report(fit, tmp_path / "none.html", figures=False)
        axes = plot_groups(fit, groups=["c"])
    html = written["html"].read_text(encoding="utf-8")
    assert 'id="table-groups"' in html and "drawn from the law&#39;s prior" in html
    # Not said to come from a population the fit has none of.
    assert "learned from its own runs alone" in html and "drawn from the population" not in html
    assert len(axes) == 2 and all(ax.has_data() for ax in axes)


@pytest.mark.slow
def test_a_new_group_of_complete_pooling_says_what_it_assumes(
    complete_fit: bayescale.Fit,
) -> None:
    at = {"N": [3e9], "D": [6e10]}
    with pytest.warns(UserWarning, match=r"complete pooling .* assumes that a new group"):
        new = complete_fit.forecast(at, group=NEW_GROUP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = complete_fit.forecast(at, group="a")
    cols = ["law_median", "law_lower_90", "law_upper_90"]
    np.testing.assert_allclose(new[cols].to_numpy(), a[cols].to_numpy())


@pytest.mark.slow
def test_a_saved_groups_view_keeps_the_whole_fits_verdict(
    hierarchical: bayescale.Fit, tmp_path
) -> None:
    # Before, a view of a failed fit, saved and reloaded, recomputed its diagnostics from its
    # own draws (without the population spreads that failed), passed, and its forecasts came
    # back without their warning; nothing said it was a view.
    runs = load_runs(_frame(), y="loss", group="family")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        failed = bayescale.fit(
            runs, "chinchilla", draws=20, tune=20, chains=2, seed=5, prior_draws=0, retries=0
        )
    assert not failed.ok
    view = failed.group("c")
    loaded = bayescale.load_fit(view.save(tmp_path / "c.nc"))
    assert not loaded.ok and loaded.pooling is None
    assert loaded.diagnostics.verdict() == failed.diagnostics.verdict()
    assert "group 'c' of a fit with groups (a, b, c; pooled: E, A, B, alpha, beta)" in repr(loaded)
    assert "FAILED DIAGNOSTICS" in repr(loaded) and repr(loaded) == repr(view)
    assert loaded.info["view_of"]["group"] == "c"
    with pytest.warns(UserWarning, match="from a fit that failed its diagnostics"):
        table = loaded.forecast({"N": [3e9], "D": [6e10]})
    assert table.attrs["diagnostics_ok"] is False
    # A view of a fit that passes keeps passing; a fit that is no view says nothing of one.
    assert bayescale.load_fit(hierarchical.group("a").save(tmp_path / "a.nc")).ok == (
        hierarchical.ok
    )
    assert hierarchical.view_of is None and "of a fit with groups" not in repr(hierarchical)


@pytest.mark.slow
def test_a_mapping_at_with_the_group_column_is_read_per_point(
    hierarchical: bayescale.Fit,
) -> None:
    fit = hierarchical
    frame = pd.DataFrame({"N": [3e9, 3e9], "D": [6e10, 6e10], "family": ["c", "a"]})
    expected = fit.forecast(frame)
    # Before, the key was dropped and every group forecast.
    pd.testing.assert_frame_equal(fit.forecast(frame.to_dict("list")), expected)
    pd.testing.assert_frame_equal(
        fit.forecast({"N": 3e9, "D": [6e10, 6e10], "group": ["c", "a"]}), expected
    )
    drawn = fit.predictive({"N": [3e9], "D": [6e10], "family": "c"})
    assert list(drawn["group"].values) == ["c"]
    with pytest.raises(DataError, match="give the groups either as the 'family' column"):
        fit.forecast({"N": [3e9], "D": [6e10], "family": ["c"]}, group="a")
    # Lists of different lengths: before, [3e9] against ['c', 'a'] broadcast to 2 points.
    with pytest.raises(DataError, match=r"at's lists have different lengths \(N: 1, D: 1, "):
        fit.forecast({"N": [3e9], "D": [6e10], "family": ["c", "a"]})
    # A key that is neither an input nor the group column: before, silently carried along.
    with pytest.raises(DataError, match=r"at names 'famly', which is neither .* did you mean"):
        fit.forecast({"N": [3e9], "D": [6e10], "famly": ["c"]})
    with pytest.raises(DataError, match="nor the group column \\('group' or 'family'\\)"):
        fit.forecast({"N": [3e9], "D": [6e10], "note": ["x"]})
    # A missing input is still said first, with the input a stray key stands for.
    with pytest.raises(DataError, match=r"missing N .*'n' was not used: did you mean N\?"):
        fit.forecast({"n": [3e9], "D": [6e10], "family": ["c"]})
    # A fit without groups (here one group's view) refuses the keys too.
    view = fit.group("a")
    with pytest.raises(DataError, match=r"'group', which is not an input .*no groups"):
        view.forecast({"N": [3e9], "D": [6e10], "group": ["a"]})
    with pytest.raises(DataError, match=r"at's lists have different lengths"):
        view.predictive({"N": [3e9], "D": [6e10, 1e11]})
    # A DataFrame's other columns are labels, carried to the table, as before.
    labelled = view.forecast(pd.DataFrame({"N": [3e9], "D": [6e10], "run": ["x"]}))
    assert list(labelled["run"]) == ["x"]


@pytest.mark.slow
def test_an_empty_group_cell_of_at_is_named_by_its_row(hierarchical: bayescale.Fit) -> None:
    # Before: "group 'nan' is not one of this fit's groups".
    frame = pd.DataFrame(
        {"N": [3e9, 3e9, 3e9], "D": [6e10] * 3, "family": ["a", np.nan, None]}, index=[4, 7, 9]
    )
    for call in (hierarchical.forecast, hierarchical.predictive):
        with pytest.raises(
            DataError,
            match=r"the 'family' cell of point 2 \(row 7\) is empty \(and 1 more\); give each "
            r"point a group, one of a, b, c or 'new'",
        ):
            call(frame)


@pytest.mark.slow
def test_draws_of_a_fit_with_groups_say_which_groups_to_pass(hierarchical: bayescale.Fit) -> None:
    from bayescale.cli._guard import cli_words

    with pytest.raises(DataError) as err:
        hierarchical.draws()
    message = str(err.value)
    assert message == (
        "this fit has groups (a, b, c); pass group= one of them (or 'new' for a group not yet "
        "observed)"
    )
    assert "pass --group, one of them" in cli_words(message)
    assert set(hierarchical.draws(group=NEW_GROUP)) >= {"E", "sigma"}
    assert hierarchical.draws([]) == {}


@pytest.mark.slow
def test_shrinkage_refuses_estimates_that_are_not_each_group_alone(
    hierarchical: bayescale.Fit, none_fit: bayescale.Fit, complete_fit: bayescale.Fit
) -> None:
    import copy

    from bayescale import plots

    fit = hierarchical
    # One law for all the runs is complete pooling, not each group alone (before: drawn,
    # every group's "alone" bar that one law's).
    with pytest.raises(DataError, match="unpooled is a fit without groups: one law for all"):
        plots.plot_shrinkage(fit, fit.group("a"), ["E"])
    with pytest.raises(DataError, match=r"unpooled is a fit with groups \(shared: E, A, B"):
        plots.plot_shrinkage(fit, complete_fit, ["E"])
    with pytest.raises(DataError, match=r"unpooled is a fit with groups \(pooled: E, A"):
        plots.plot_shrinkage(fit, fit, ["E"])
    with pytest.raises(DataError, match=r"unpooled\['c'\] is the view of group 'c' .*pooled"):
        plots.plot_shrinkage(fit, {"c": fit.group("c")}, ["E"])
    # Another group's runs, or other runs of the same group names (another noise draw).
    with pytest.raises(DataError, match=r"unpooled\['c'\] was fitted to other runs than those "):
        plots.plot_shrinkage(fit, {"c": none_fit.group("b")}, ["E"])
    other = copy.copy(none_fit)
    other.runs = load_runs(_frame(seed=1), y="loss", group="family")
    with pytest.raises(DataError, match="the unpooled fit was fitted to other runs than those"):
        plots.plot_shrinkage(fit, other, ["E"])
    # The pooling="none" fit, whole or per group in a mapping: each group's own draws (before,
    # a mapping to the whole fit flattened every group's draws into each bar).
    post = none_fit.idata.posterior
    for unpooled in (none_fit, dict.fromkeys(fit.groups, none_fit), {"c": none_fit.group("c")}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            (ax,) = plots.plot_shrinkage(fit, unpooled, ["E"])
        grey = [line for line in ax.get_lines() if line.get_color() == "0.5"]
        bars = [line.get_ydata() for line in grey if len(line.get_ydata()) == 2]
        groups = list(unpooled) if isinstance(unpooled, dict) else fit.groups
        assert len(bars) == len(groups)
        for g, bar in zip(groups, bars, strict=True):
            own = post["E"].sel(group=g).values.reshape(-1)
            np.testing.assert_allclose(bar, np.quantile(own, [0.05, 0.95]))
