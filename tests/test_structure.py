"""Tests of formula structure (roles, amplitudes, positivity), default priors and formula laws."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bayescale.data import load_runs
from bayescale.errors import FormulaError, LawError
from bayescale.formula import Formula
from bayescale.laws import ROLES, Law, Likelihood, catalog, get_law
from bayescale.structure import Structure, scale_references

# --------------------------------------------------------------------------- catalog laws

#: Catalog roles that the structure reads differently, with the reason. Everything else in
#: the catalog must match exactly.
DISAGREE = {
    # farseer writes each term as exp(c - s * expm1(g * log(N / 1e9)) / g): as g -> 0 this is
    # exp(c) * (N / 1e9)**-s, so s is a slope (the catalog's exponent) and g a curvature; the
    # structure sees s and g only inside exp(...), as shapes.
    **{("farseer", f"s{i}"): ("shape", "exponent") for i in "123"},
    # Muennighoff's repetitions divide D/U - 1 inside exp: a scale of the number of epochs to
    # the structure. The catalog keeps them shapes, so that a fit with groups keeps their
    # population spread (0.3 on the log scale, not a scale's 0.5).
    ("data_constrained", "R"): ("scale", "shape"),
    ("data_constrained_full", "RD_star"): ("scale", "shape"),
}


@pytest.mark.parametrize("name", list(catalog()))
def test_structural_roles_match_the_catalog(name):
    law = get_law(name)
    structure = law.formula.structure(law.inputs)
    assert set(structure.roles) == set(law.parameters)
    assert set(structure.roles.values()) <= set(ROLES)
    for pname, p in law.parameters.items():
        expected = DISAGREE.get((name, pname), (p.role, p.role))
        assert (structure.roles[pname], p.role) == expected, pname
    assert structure.floor == law.floor


#: Amplitudes the structure states at another input of the same units as the catalog does.
TOKEN_UNITS = {("data_constrained", "B", "U"), ("data_constrained_full", "B", "U")}


@pytest.mark.parametrize("name", list(catalog()))
def test_amplitudes_and_scales_match_the_catalog_references(name):
    law = get_law(name)
    structure = law.formula.structure(law.inputs)
    scales = scale_references(law.formula, law.inputs)
    for pname, p in law.parameters.items():
        # data_constrained's B divides a power of the effective data D' = minimum(U, D) *
        # (...), in tokens: the structure states it at U_ref (the first input compared), the
        # catalog at D_ref by choice; both are token counts, the power is the same.
        if p.reference and p.role == "coefficient" and pname in structure.amplitudes:
            inp, power = structure.amplitudes[pname]
            assert inp == p.reference[0] or (name, pname, inp) in TOKEN_UNITS
            assert Formula(power).tree == Formula(str(p.reference[1])).tree
        if p.reference and p.role == "scale":
            assert scales[pname] == (p.reference[0], str(p.reference[1]))
    found = {n for n, p in law.parameters.items() if p.reference and p.role == "coefficient"}
    assert found - set(structure.amplitudes) <= {"A", "B"}  # effective N and D' likewise


def test_catalog_structures_in_detail():
    chin = get_law("chinchilla").formula.structure(["N", "D"])
    assert chin == Structure(
        floor="E",
        roles={
            "A": "coefficient",
            "B": "coefficient",
            "E": "floor",
            "alpha": "exponent",
            "beta": "exponent",
        },
        amplitudes={"A": ("N", "alpha"), "B": ("D", "beta")},
        log_inputs=frozenset({"N", "D"}),
        decay_exponents=frozenset({"alpha", "beta"}),
    )
    kaplan = get_law("kaplan").formula.structure(["N", "D"])
    # (Nc/N)**a falls as N grows: a positive exponent of a decreasing base is a decay.
    assert kaplan.floor is None and kaplan.decay_exponents == {"alphaN", "alphaD"}
    assert kaplan.log_inputs == {"N", "D"}
    bnsl = get_law("bnsl").formula.structure(["C"])
    # f1 is a sharpness (the break's exponent is 1/f1), not a slope.
    assert bnsl.roles["f1"] == "shape" and bnsl.roles["d1"] == "scale"
    assert bnsl.amplitudes == {"b": ("C", "c0")}
    # c1 is written so that a positive value steepens the decay after the break; the catalog
    # deliberately gives it a prior of either sign (an explicit prior wins over the default).
    assert bnsl.decay_exponents == {"c0", "c1"}
    dc = get_law("data_constrained").formula.structure(["N", "D", "U"])
    # U and D are factors of the effective data, the base of a power: both must be > 0. R
    # divides D/U - 1 inside exp: a scale of the number of epochs.
    assert dc.log_inputs == {"N", "D", "U"} and dc.roles["R"] == "scale"
    assert dc.amplitudes == {"A": ("N", "alpha"), "B": ("U", "beta")}
    assert "beta" in dc.decay_exponents


# --------------------------------------------------------------------------- published forms


@pytest.mark.parametrize(
    ("formula", "inputs", "roles", "amplitudes", "floor"),
    [
        (  # Farseer-like: exponents of the data term that depend on N.
            "exp(b3 - a3 * N**g3) + exp(b2 + a2 * N**-g2) * D**-exp(b1 - a1 * N**g1)",
            ["N", "D"],
            {"g1": "exponent", "g2": "exponent", "g3": "exponent", "a2": "coefficient"},
            {"a1": ("N", "-(g1)"), "a2": ("N", "g2"), "a3": ("N", "-(g3)")},
            None,
        ),
        (  # Krajewski et al. 2024, fine-grained MoE: granularity G inside the N term.
            "c + (g / G**gamma + a) / N**alpha + b / D**beta",
            ["G", "N", "D"],
            {"c": "floor", "gamma": "exponent", "g": "coefficient", "a": "coefficient"},
            {"g": ("G", "gamma"), "a": ("N", "alpha"), "b": ("D", "beta")},
            "c",
        ),
        (  # Tao et al. 2024 vocabulary law, unigram-normalised loss: -E is not a floor.
            "-E + A1 / Nnv**a1 + A2 / Nv**a2 + B / H**b",
            ["Nnv", "Nv", "H"],
            {"E": "shape", "a1": "exponent", "A2": "coefficient"},
            {"A1": ("Nnv", "a1"), "A2": ("Nv", "a2"), "B": ("H", "b")},
            None,
        ),
        (  # Ye et al. 2024 data-mixing law: exp of a sum, proportions may be 0.
            "c + k * exp(t1 * r1 + t2 * r2 + t3 * r3)",
            ["r1", "r2", "r3"],
            {"c": "floor", "k": "coefficient", "t1": "shape"},
            {},
            "c",
        ),
        (  # Clark et al. 2022 routed models, log-bilinear: a and b are exponents.
            "exp(d + a * log(N) + b * log(E) + c * log(N) * log(E))",
            ["N", "E"],
            {"d": "coefficient", "a": "exponent", "b": "exponent", "c": "shape"},
            {},
            None,
        ),
        (  # One amplitude over two inputs: the first input in formula order.
            "E + A * N**-a * D**-b",
            ["N", "D"],
            {"A": "coefficient", "a": "exponent", "b": "exponent"},
            {"A": ("N", "a")},
            "E",
        ),
        (  # A growing term: the power is '-(g)'.
            "E + A * N**g",
            ["N"],
            {"g": "exponent"},
            {"A": ("N", "-(g)")},
            "E",
        ),
        (  # Two bare terms: the floor is ambiguous.
            "E + F + A / N**a",
            ["N"],
            {"E": "shape", "F": "shape"},
            {"A": ("N", "a")},
            None,
        ),
        (  # Multiplicative law through an intermediate: the limit at large N, D is E.
            "Ls = E + A / N**alpha; Ls * (1 + B / D**beta)",
            ["N", "D"],
            {"E": "floor", "B": "coefficient"},
            {"A": ("N", "alpha"), "B": ("D", "beta")},
            "E",
        ),
    ],
)
def test_structure_of_published_forms(formula, inputs, roles, amplitudes, floor):
    s = Formula(formula).structure(inputs)
    assert {k: s.roles[k] for k in roles} == roles
    assert s.amplitudes == amplitudes
    assert s.floor == floor
    assert set(s.roles) == Formula(formula).names - set(inputs)


def test_roles_come_from_structure_not_names():
    # 'alpha' is an amplitude and 'E' an exponent here; names say nothing.
    s = Formula("L0 + alpha * N**-E").structure(["N"])
    assert s.roles == {"L0": "floor", "alpha": "coefficient", "E": "exponent"}
    assert s.decay_exponents == {"E"}


def test_log_inputs_only_where_a_log_is_taken():
    assert Formula("c + k * exp(t * r)").structure(["r"]).log_inputs == frozenset()
    assert Formula("E + A * N**2").structure(["N"]).log_inputs == frozenset()
    assert Formula("E + A * (C / d1)**(1 / f)").structure(["C"]).log_inputs == {"C"}
    assert Formula("E + A * log(N / x)").structure(["N", "x"]).log_inputs == {"N", "x"}
    assert Formula("E + A * log1p(N / N0)").structure(["N"]).log_inputs == {"N"}


def test_decay_exponents_follow_how_the_exponent_is_written():
    assert Formula("A / N**a").structure(["N"]).decay_exponents == {"a"}
    assert Formula("A * N**-a").structure(["N"]).decay_exponents == {"a"}
    assert Formula("A * N**a").structure(["N"]).decay_exponents == frozenset()
    assert Formula("A * (Nc / N)**a").structure(["N"]).decay_exponents == {"a"}


# --------------------------------------------------------------------------- default priors


@pytest.fixture
def runs():
    rng = np.random.default_rng(0)
    n = np.geomspace(1e7, 1e9, 12)
    d = 20 * n
    y = 1.8 + 400 / n**0.34 + 400 / d**0.28
    y *= np.exp(rng.normal(0, 0.01, n.size))
    return load_runs(pd.DataFrame({"N": n, "D": d, "loss": y}))


def test_default_priors_follow_the_runs_scale(runs):
    law = Law.from_formula("E + A / N**alpha + B / D**beta", runs=runs)
    assert set(law.inputs) == {"N", "D"}
    E, A, alpha = law.parameters["E"], law.parameters["A"], law.parameters["alpha"]
    assert E.role == "floor"
    assert E.prior.parameters["mu"] == pytest.approx(np.log(0.5 * runs.y.min()))
    assert A.reference == ("N", "alpha")
    assert A.prior.parameters["mu"] == pytest.approx(np.log(0.2 * np.median(runs.y)))
    assert A.prior.parameters["sigma"] == 1.5
    assert alpha.prior.distribution == "LogNormal"
    assert all(p.why.startswith("Default") for p in law.parameters.values())
    # Without runs, the catalog's values.
    bare = Law.from_formula("E + A / N**alpha + B / D**beta", inputs=["N", "D"])
    assert bare.parameters["E"].prior.parameters == {"mu": 0.4, "sigma": 1.0}
    assert bare.parameters["A"].prior.parameters == {"mu": -0.7, "sigma": 1.5}


def test_default_priors_by_role():
    law = Law.from_formula(
        "E + b * C**-c0 * (1 + (C / d1)**(1 / f1))**(-c1 * f1) + k * exp(t * C) + A * C**g",
        inputs=["C"],
    )
    p = law.parameters
    assert p["d1"].reference == ("C", "1") and p["d1"].prior.parameters == {"mu": 0, "sigma": 2}
    assert p["f1"].prior.distribution == "LogNormal"  # a divisor: must be positive
    assert p["t"].prior.distribution == "Normal"  # inside exp: any sign
    assert p["g"].prior.distribution == "Normal" and p["g"].prior.parameters["sigma"] == 0.5
    assert p["b"].reference == ("C", "c0") and p["A"].reference == ("C", "-(g)")


def test_a_floor_of_a_metric_below_zero_is_not_lognormal():
    frame = pd.DataFrame({"N": [1e6, 1e7, 1e8], "loss": [0.5, -0.1, -0.4]})
    law = Law.from_formula("E + A / N**alpha", runs=load_runs(frame))
    assert law.parameters["E"].prior.distribution == "Normal"


def test_user_priors_are_kept_and_roles_can_be_given():
    user = {"dist": "LogNormal", "mu": 2.0, "sigma": 0.5}
    law = Law.from_formula("E + A / N**alpha", {"A": user}, inputs=["N"], roles={"E": "shape"})
    assert law.parameters["A"].prior.parameters == {"mu": 2.0, "sigma": 0.5}
    assert law.parameters["A"].reference is None
    assert law.parameters["E"].role == "shape"


@pytest.mark.parametrize(
    "formula",
    [
        "E + A / N**alpha",
        "Ls = E + A / N**alpha; Ls * (1 + B / D**beta)",
        "((Nc / N)**(aN / aD) + Dc / D)**aD",
        "exp(d + a * log(N) + b * log(D) + c * log(N) * log(D))",
    ],
)
def test_a_formula_alone_round_trips(formula):
    law = Law.from_formula(formula, inputs=["N", "D"] if "D" in formula else ["N"])
    again = Law.from_dict(law.to_dict())
    assert again.to_dict() == law.to_dict()
    x = {"N": np.array([1e8, 1e9]), "D": np.array([1e9, 1e10])}
    theta = {n: 0.5 for n in law.parameters}
    np.testing.assert_allclose(again.predict(theta, x), law.predict(theta, x))


def test_inputs_needed_when_structure_cannot_tell():
    with pytest.raises(LawError, match="cannot tell the inputs"):
        Law.from_formula("a + b * c")


def test_law_file_without_roles_gets_structural_roles():
    text = get_law("bnsl").source_text
    stripped = "\n".join(line for line in text.splitlines() if not line.startswith("role ="))
    law = Law.from_toml(stripped)
    assert {n: p.role for n, p in law.parameters.items()} == {
        n: p.role for n, p in get_law("bnsl").parameters.items()
    }


def test_intermediate_shadowing_a_declared_name_is_refused():
    text = get_law("power_law_N").source_text.replace(
        'formula = "E + A * N**-alpha"', 'formula = "N = A * 2; E + N**-alpha"'
    )
    with pytest.raises(LawError, match="N is an intermediate"):
        Law.from_toml(text)
    with pytest.raises(LawError, match="Ls, an intermediate"):
        Law.from_formula("Ls = E + A / N**a; Ls", {"Ls": {"dist": "Normal", "mu": 0, "sigma": 1}})


# --------------------------------------------------------------------------- get_law, value


def test_get_law_reads_a_formula(runs):
    law = get_law("E + A / N**alpha", runs=runs)
    assert law.name == "custom" and set(law.inputs) == {"N"}
    assert law.parameters["E"].prior.parameters["mu"] == pytest.approx(np.log(0.5 * runs.y.min()))
    with pytest.raises(LawError, match="or a formula like"):
        get_law("chinchila")
    with pytest.raises(FormulaError):
        get_law("E + A / (N")


def test_value_is_the_formula_as_written_and_predict_uses_it_on_the_linear_scale():
    law = Law.from_formula("-E + A / N**alpha", inputs=["N"])
    theta = {"E": 2.0, "A": 1.0, "alpha": 1.0}
    x = {"N": np.array([0.5, 1.0, 4.0])}
    np.testing.assert_allclose(law.value(theta, x), [0.0, -1.0, -1.75])
    # A positive floor takes the log path in predict; on the linear scale, the value as written.
    law = Law.from_formula("E + A / N**alpha", inputs=["N"])
    theta = {"E": 1.0, "A": 1.0, "alpha": 1.0}
    x = {"N": np.array([0.5, 2.0])}
    np.testing.assert_allclose(law.predict(theta, x), [3.0, 1.5])
    log_only = {"E": 1.0, "A": 1.0, "alpha": 1.0}
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(law.predict({**log_only, "E": -5.0}, x)).all()
    if "scale" in Likelihood.__dataclass_fields__:  # added with additive noise
        linear = replace(law, likelihood=Likelihood(scale="linear"))
        np.testing.assert_allclose(linear.predict({**log_only, "E": -5.0}, x), [-3.0, -4.5])


@pytest.mark.slow
def test_a_formula_alone_fits(runs):
    import bayescale

    fit = bayescale.fit(runs, "E + A / N**alpha", draws=200, tune=200, chains=2, seed=1)
    assert fit.law.name == "custom"
    median = float(np.median(fit.idata.posterior["E"].values))
    assert 0.5 < median < 2.6


# --------------------------------------------------------------------------- scales outside powers


@pytest.mark.parametrize(
    ("formula", "inputs", "scales"),
    [
        ("E + A * exp(-N/N0)", ["N"], {"N0": ("N", "1")}),
        ("E + A * exp(-k*N) + B/D**beta", ["N", "D"], {"k": ("N", "-1")}),
        ("E + A * exp(-2*k*N)", ["N"], {"k": ("N", "-1")}),
        # A sum holding the input counts as the input: w divides it, N0 shifts it.
        ("E + A * exp(-(N - N0)/w)", ["N"], {"N0": ("N", "1"), "w": ("N", "1")}),
        ("E + A * exp(-(N + N1)/N0)", ["N"], {"N0": ("N", "1"), "N1": ("N", "1")}),
        ("E + A * exp(-k*(N + N1))", ["N"], {"k": ("N", "-1"), "N1": ("N", "1")}),
        ("E + A * minimum(N, Nb)**-a1 * maximum(N, Nb)**-a2", ["N"], {"Nb": ("N", "1")}),
        ("E + A * maximum(Nb, N)**-a", ["N"], {"Nb": ("N", "1")}),
        # Unchanged: a scale inside a power, and no scale where the sign is open.
        ("E + A * exp(-(C/c0)**a)", ["C"], {"c0": ("C", "1")}),
        ("c + k * exp(t1 * r1 + t2 * r2)", ["r1", "r2"], {}),
        ("E + A * exp(k*N)", ["N"], {}),
    ],
)
def test_a_scale_inside_exp_or_minimum_is_read_as_a_scale_of_its_input(formula, inputs, scales):
    parsed = Formula(formula)
    assert scale_references(parsed, inputs) == scales
    roles = parsed.structure(inputs).roles
    assert {n for n, r in roles.items() if r == "scale"} == set(scales)


@pytest.mark.parametrize(
    ("formula", "inputs", "name"),
    [
        # More than one input in a term: K is in units of N*D, not of N; a scale with no
        # reference to one input (its size is read from the runs: ratio_sizes).
        ("E + A * exp(-N*D/K)", ["N", "D"], "K"),
        ("E + A * exp(-k*N*D)", ["N", "D"], "k"),
        ("E + A * exp(-(N + D)/K)", ["N", "D"], "K"),
        # Muennighoff et al.'s repetitions: R*U is compared with D.
        ("E + A/N**a + B/(U*R*(1 - exp(-D/(R*U))))**b", ["N", "D", "U"], "R"),
        ("E + A/N**a + B/(U + U*R*(1 - exp(-(D/U - 1)/R)))**b", ["N", "D", "U"], "R"),
        ("E + A/N**a + B/minimum(D, R*U)**b", ["N", "D", "U"], "R"),
    ],
)
def test_a_scale_of_several_inputs_has_no_one_reference(formula, inputs, name):
    parsed = Formula(formula)
    assert name not in scale_references(parsed, inputs)
    assert parsed.structure(inputs).roles[name] == "scale"


def test_a_scale_outside_a_power_takes_no_logarithm_of_its_input():
    # N may be <= 0 as far as exp(-N/N0) goes; the reference of N0's prior needs N > 0,
    # which data.log_inputs adds from the parameter's reference, not the structure.
    assert Formula("E + A * exp(-N/N0)").structure(["N"]).log_inputs == frozenset()


def test_a_hard_break_s_amplitude_is_stated_with_both_powers():
    s = Formula("E + A * minimum(N, Nb)**-a1 * maximum(N, Nb)**-a2").structure(["N"])
    assert s.amplitudes == {"A": ("N", "a1 + a2")}
    assert s.roles == {"E": "floor", "A": "coefficient", "Nb": "scale", "a1": "exponent",
                       "a2": "exponent"}  # fmt: skip
    assert s.decay_exponents == {"a1", "a2"}


@pytest.fixture
def epoch_like():
    """N spanning 5e7 to 2e10, as in the Epoch/Chinchilla runs."""
    rng = np.random.default_rng(4)
    n = 10 ** rng.uniform(7.7, 10.2, 40)
    d = 10 ** rng.uniform(9.5, 11.5, 40)
    y = 1.8 + 0.6 * np.exp(-n / 3e8) + 400 / d**0.3
    return load_runs(pd.DataFrame({"N": n, "D": d, "loss": y}))


def test_default_priors_of_scales_inside_exp_are_at_the_inputs_reference(epoch_like):
    n_ref = float(np.exp(np.mean(np.log(epoch_like.x("N")))))
    law = Law.from_formula("E + A * exp(-N/N0) + B/D**beta", runs=epoch_like)
    N0 = law.parameters["N0"]
    assert (N0.role, N0.reference) == ("scale", ("N", "1"))
    assert N0.prior.parameters == {"mu": 0.0, "sigma": 2.0}
    law = Law.from_formula("E + A * exp(-k*N) + B/D**beta", runs=epoch_like)
    assert law.parameters["k"].reference == ("N", "-1")
    law = Law.from_formula("E + A * minimum(N, Nb)**-a1 * maximum(N, Nb)**-a2", runs=epoch_like)
    assert law.parameters["Nb"].reference == ("N", "1")
    assert law.parameters["A"].reference == ("N", "a1 + a2")
    # A rate of either sign: Normal at the scale of 1 / N_ref, not Normal(0, 1).
    law = Law.from_formula("E + A * exp(t*N) + B/D**beta", runs=epoch_like)
    t = law.parameters["t"]
    assert t.role == "shape" and t.reference is None
    assert t.prior.distribution == "Normal"
    assert t.prior.parameters["sigma"] == pytest.approx(1 / n_ref)
    assert "Normal(0, 1 / N_ref" in t.why


def test_a_scale_of_a_shifted_input_or_of_several_inputs_inside_exp(epoch_like):
    # exp(-(N + N1)/N0): N0, dividing the sum, is N's scale (not a shape near 1), and N1,
    # added to N, a shift in N's units.
    law = Law.from_formula("E + A * exp(-(N + N1)/N0) + B/D**beta", runs=epoch_like)
    for name in ("N0", "N1"):
        p = law.parameters[name]
        assert (p.role, p.reference) == ("scale", ("N", "1")), name
        assert p.prior.parameters == {"mu": 0.0, "sigma": 2.0}, name
    # exp(-N*D/K): K is in units of N*D; scaled to N alone its prior would put N*D/K near
    # D_ref ~ 1e10 (a dead term), and LogNormal(0, 1) near 1e20 (the same). It is centred
    # where N*D/K is 1 at the runs, with no reference to one input.
    n, d = epoch_like.x("N"), epoch_like.x("D")
    nd_ref = float(np.exp(np.mean(np.log(n * d))))
    law = Law.from_formula("E + A * exp(-N*D/K) + B/D**beta", runs=epoch_like)
    K = law.parameters["K"]
    assert K.reference is None and K.role == "scale"
    assert K.prior.distribution == "LogNormal"
    assert K.prior.parameters == pytest.approx({"mu": np.log(nd_ref), "sigma": 2.0})
    assert "K" in law.describe_defaults()  # listed before sampling
    law = Law.from_formula("E + A * exp(-k*N*D) + B/D**beta", runs=epoch_like)
    assert law.parameters["k"].prior.parameters == pytest.approx(
        {"mu": -np.log(nd_ref), "sigma": 2.0}
    )
    # A rate of either sign on a product of inputs: Normal at the scale of 1 / (N*D)_ref.
    law = Law.from_formula("E + A * exp(t*N*D) + B/D**beta", runs=epoch_like)
    t = law.parameters["t"]
    assert t.role == "shape" and t.prior.distribution == "Normal"
    assert t.prior.parameters == pytest.approx({"mu": 0.0, "sigma": 1 / nd_ref})


def test_a_scale_of_an_input_that_reaches_zero_keeps_a_plain_prior():
    # Proportions may be 0: no geometric mean, so no reference and no positivity asked.
    frame = pd.DataFrame({"r": [0.0, 0.2, 0.5, 0.8], "loss": [2.0, 1.9, 1.8, 1.75]})
    law = Law.from_formula("E + A * exp(-r/r0)", runs=load_runs(frame, x={"r": "r"}))
    assert law.parameters["r0"].reference is None
    assert law.parameters["r0"].prior.distribution == "LogNormal"  # a divisor
    law = Law.from_formula("E + A * exp(t*r)", runs=load_runs(frame, x={"r": "r"}))
    assert law.parameters["t"].prior.parameters == {"mu": 0.0, "sigma": 1.0}


def test_muennighoff_s_law_as_written_gets_amplitude_and_repetition_priors():
    # B divides a power of effective data in tokens: an amplitude at U_ref, like B/D**beta,
    # not Normal(0, 1) on B itself; R (repetitions, compared with D/U) centred at the runs'
    # D/U, not at 1/U_ref.
    rng = np.random.default_rng(3)
    u = 10 ** rng.uniform(8, 10, 30)
    d = u * 10 ** rng.uniform(0, 1.5, 30)
    n = 10 ** rng.uniform(7, 9, 30)
    runs = load_runs(pd.DataFrame({"N": n, "D": d, "U": u, "loss": 2 + 400 / n**0.3}))
    epochs = float(np.exp(np.mean(np.log(d / u))))
    law = Law.from_formula("E + A/N**alpha + B/(U*R*(1 - exp(-D/(R*U))))**beta", runs=runs)
    B, R = law.parameters["B"], law.parameters["R"]
    assert (B.role, B.reference, B.prior.distribution) == (
        "coefficient",
        ("U", "beta"),
        "LogNormal",
    )
    assert (R.role, R.reference) == ("scale", None)
    assert R.prior.parameters == pytest.approx({"mu": np.log(epochs), "sigma": 2.0})
    law = Law.from_formula("E + A/N**alpha + B/minimum(D, R*U)**beta", runs=runs)
    assert law.parameters["B"].reference == ("D", "beta")
    assert law.parameters["R"].prior.parameters == pytest.approx(
        {"mu": np.log(epochs), "sigma": 2.0}
    )


def test_a_base_normalised_by_a_number_states_no_amplitude_at_the_input_s_reference():
    # A * (N/1e8)**-a at N_ref is A * N_ref**-a * 1e8**a: stated at N_ref, its prior would be
    # off by 1e8**a and the sampler's A-a decorrelation would add one (found by the ladder's
    # two-mode test). The author normalised the base already: A keeps a plain prior.
    s = Formula("E + A * (N / 1e8)**-a + B * (N / 1e8)**-b").structure(["N"])
    assert s.amplitudes == {} and s.roles["A"] == "coefficient"
    assert Formula("E + A/(2*N)**a").structure(["N"]).amplitudes == {}
    # Nor by a fitted scale: N/N0 is N over a scale stated at N_ref, of order 1 there.
    for formula in (
        "E + A*(N/N0)**-a",
        "E + A*(N/Nb)**-a1 * (1 + (N/Nb)**(1/f))**(-(a2 - a1)*f)",  # a broken power law
        "E + A*(N0/N)**a",
    ):
        assert Formula(formula).structure(["N"]).amplitudes == {}, formula
    # A term with an input's units outside its powers is not sized at D_ref either.
    assert Formula("E + A*N/D**beta").structure(["N", "D"]).amplitudes == {}


def test_a_number_beside_an_input_in_exp_sizes_its_scale_from_the_runs():
    # w in exp(-N/(1e9*w)) is of order N_ref/1e9, 20 e-folds from N_ref.
    n = np.geomspace(1e7, 1e10, 20)
    runs = load_runs(pd.DataFrame({"N": n, "loss": 2 + np.exp(-n / 3e8)}))
    w = Law.from_formula("E + A * exp(-N/(1e9*w))", runs=runs).parameters["w"]
    n_ref = float(np.exp(np.mean(np.log(n))))
    assert (w.role, w.reference) == ("scale", None)
    assert w.prior.parameters == pytest.approx({"mu": np.log(n_ref / 1e9), "sigma": 2.0})
    # A small number leaves the input's reference: 2*k*N is k at 1/N_ref.
    k = Law.from_formula("E + A * exp(-2*k*N)", runs=runs).parameters["k"]
    assert k.reference == ("N", "-1")
    # With no runs to size it, a scale set by several inputs is still positive.
    R = Law.from_formula("E + A*exp(-R*D/U)", inputs=["D", "U"]).parameters["R"]
    assert (R.role, R.prior.distribution) == ("scale", "LogNormal")


def test_a_factor_of_one_plus_a_ratio_is_no_amplitude_of_the_power_beside_it():
    # G*D/U is sized against 1, not against B/D**beta (which made G ~ 800 at the reference).
    s = Formula("E + A/N**alpha + B/D**beta * (1 + G*D/U)").structure(["N", "D", "U"])
    assert "G" not in s.amplitudes and s.amplitudes["B"] == ("D", "beta")
    for rewrite in ("(B/D**beta)*(G + D/U)", "G*D/U/D**beta"):
        s = Formula(f"E + A/N**alpha + {rewrite}").structure(["N", "D", "U"])
        assert "G" not in s.amplitudes, rewrite
    # A dimensionless factor still is: exp(-D/D0) has no units.
    s = Formula("E + (g + a*exp(-D/D0)) / N**alpha").structure(["N", "D"])
    assert s.amplitudes["a"] == ("N", "alpha")


def test_an_exponent_inside_a_squared_log_has_either_sign():
    # The learning-rate optimum lr* = c0 * N**g moves down with N in every published law
    # (g < 0); the squared log rises on both sides, so no sign of g means decay.
    s = Formula("E + A/N**alpha + k*log(lr/(c0*N**g))**2").structure(["N", "lr"])
    assert s.roles["g"] == "exponent" and "g" not in s.decay_exponents
    assert "alpha" in s.decay_exponents
    # An odd power keeps its direction: (c/N)**a cubed still decays with a.
    s = Formula("E + ((Nc/N)**a)**3").structure(["N"])
    assert "a" in s.decay_exponents
