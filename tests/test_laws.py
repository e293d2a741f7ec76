"""Tests of bayescale.laws: the catalog, user laws, validation messages, and prior predictives."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pymc_extras.prior import Prior

import bayescale
from bayescale.errors import FormulaError, LawError
from bayescale.formula import Formula
from bayescale.laws import Law, Likelihood, catalog, catalog_dir, catalog_formula, get_law
from bayescale.model import log_reference, sample_prior
from bayescale.priors import spec_of
from bayescale.structure import input_like_names

CATALOG = [
    "bnsl",
    "chinchilla",
    "data_constrained",
    "data_constrained_full",
    "farseer",
    "kaplan",
    "lr_batch",
    "moe",
    "power_law_C",
    "power_law_D",
    "power_law_N",
    "vocabulary",
]

LOGNORMAL = {"dist": "LogNormal", "mu": 0.0, "sigma": 1.0}
PL_PRIORS = {"E": LOGNORMAL, "A": LOGNORMAL, "alpha": LOGNORMAL}


def test_catalog_lists_every_file():
    entries = catalog()
    assert list(entries) == CATALOG
    assert all(path.parent == catalog_dir() and path.suffix == ".toml" for path in entries.values())


@pytest.mark.parametrize("name", CATALOG)
def test_every_catalog_file_loads(name):
    law = get_law(name)
    assert law.name == name
    assert law.source_text == catalog()[name].read_text(encoding="utf-8")
    assert set(law.inputs) | set(law.parameters) == set(law.formula.names)
    assert all(law.inputs.values()), "every input is described"
    assert law.title and law.reference
    # Every prior is documented, and every parameter has a valid role.
    for p in law.parameters.values():
        assert p.why, p.name
        assert p.role in bayescale.laws.ROLES
    assert law.n_parameters == len(law.parameters) + len(law.likelihood.noise_names)
    assert get_law(catalog()[name]).to_dict() == law.to_dict()  # by path too
    assert get_law(law) is law


def test_chinchilla_roles_and_published_values():
    law = get_law("chinchilla")
    assert law.floor == "E"
    assert law.exponents == ("alpha", "beta")
    assert list(law.inputs) == ["N", "D"]
    assert law.parameters["A"].reference == ("N", "alpha")
    assert law.parameters["B"].reference == ("D", "beta")
    assert law.parameters["E"].reference is None
    assert law.parameters["A"].sampled_name == "A_ref"
    assert all(p.positive for p in law.parameters.values())
    assert law.likelihood.family == "student_t"
    assert law.likelihood.noise_names == ("sigma", "nu")
    assert law.n_parameters == 7
    assert law.published["Besiroglu 2024"]["E"] == 1.82
    assert law.published["Hoffmann 2022"]["alpha"] == 0.34
    assert (
        law.parameters["A"].describe_prior()
        == "LogNormal(mu=-0.7, sigma=1.5) on A * N_ref**-(alpha)"
    )


def test_kaplan_has_no_floor_and_bnsl_has_a_signed_exponent():
    kaplan = get_law("kaplan")
    assert kaplan.floor is None
    assert kaplan.exponents == ("alphaN", "alphaD")
    bnsl = get_law("bnsl")
    assert bnsl.floor == "E"
    assert not bnsl.parameters["c1"].positive  # Normal prior: either sign
    assert bnsl.parameters["c0"].positive


# --------------------------------------------------------------------------- user laws


def test_from_formula_infers_inputs_and_roles():
    law = Law.from_formula("E + A * N^-alpha", priors=PL_PRIORS)
    assert law.inputs == {"N": ""}
    assert set(law.parameters) == {"E", "A", "alpha"}
    assert law.floor == "E" and law.exponents == ("alpha",)
    assert law.parameters["A"].role == "coefficient"
    assert law.formula.text == "E + A * N^-alpha"
    # A name without a prior is taken as an input when inputs are not given...
    law2 = Law.from_formula("E + A * N**-alpha", priors={"E": LOGNORMAL, "A": LOGNORMAL})
    assert set(law2.inputs) == {"N", "alpha"}


def test_from_formula_gives_a_default_prior_to_names_without_one():
    law = Law.from_formula(
        "E + A * N**-alpha", priors={"E": LOGNORMAL, "A": LOGNORMAL}, inputs=["N"]
    )
    alpha = law.parameters["alpha"]
    assert alpha.prior.distribution == "LogNormal" and alpha.prior.parameters["mu"] == -1.2
    assert alpha.why.startswith("Default for an exponent")
    # The user's priors are kept exactly, on the raw value (not restated at a reference).
    assert law.parameters["A"].reference is None
    assert law.parameters["A"].why == "set by the user"


def test_from_formula_rejects_priors_for_unknown_names():
    with pytest.raises(LawError, match=r"priors are given for Z, which the formula"):
        Law.from_formula("E + A * N**-alpha", priors={**PL_PRIORS, "Z": LOGNORMAL})


def test_pi_is_the_number_not_a_parameter():
    law = Law.from_formula("E + A * N**-alpha * sqrt(2 * pi)", priors=PL_PRIORS, inputs=["N"])
    assert set(law.parameters) == {"E", "A", "alpha"}
    value = law.formula.evaluate({"E": 1.0, "A": 2.0, "alpha": 0.5, "N": 4.0})
    assert value == pytest.approx(1.0 + 2.0 * 0.5 * np.sqrt(2 * np.pi))
    with pytest.raises(LawError, match=r"prior is given for 'pi', the number 3\.14159"):
        Law.from_formula("E + A * N**-pi", priors={**PL_PRIORS, "pi": LOGNORMAL}, inputs=["N"])
    text = BASE.replace("E + A * N**-alpha", "E + A * N**-0.3 * pi").replace(
        "[parameters.alpha]", "[parameters.pi]"
    )
    with pytest.raises(LawError, match=r"'pi' is the number 3\.14159 in every formula"):
        Law.from_toml(text)


def test_from_formula_refuses_a_hostile_formula():
    with pytest.raises(FormulaError):
        Law.from_formula("__import__('os')", priors={})


def test_from_formula_accepts_prior_objects_and_references():
    law = Law.from_formula(
        "E + A * N**-alpha",
        priors={"E": Prior("LogNormal", mu=0.4, sigma=1.0), "A": LOGNORMAL, "alpha": LOGNORMAL},
        at_reference={"A": ("N", "alpha")},
        likelihood=Likelihood(family="normal", nu=None),
    )
    assert law.parameters["A"].reference == ("N", "alpha")
    assert law.likelihood.noise_names == ("sigma",)
    assert law.n_parameters == 4


def test_reference_scale_needs_a_positive_prior():
    with pytest.raises(LawError, match=r"parameter A is stated at a reference scale.*not Normal"):
        Law.from_formula(
            "E + A * N**-alpha",
            priors={**PL_PRIORS, "A": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}},
            at_reference={"A": ("N", "alpha")},
        )


@pytest.mark.parametrize(
    ("formula", "names", "message"),
    [
        ("sigma + N", ["sigma"], "reserved for the noise model"),
        ("E + A * N", ["E", "A"], None),
    ],
)
def test_reserved_names(formula, names, message):
    priors = {n: LOGNORMAL for n in names}
    if message is None:
        assert set(Law.from_formula(formula, priors=priors).parameters) == set(names)
    else:
        with pytest.raises(LawError, match=message):
            Law.from_formula(formula, priors=priors)


# ---------------------------------------------------------------- names a formula mistakes


@pytest.fixture(scope="module")
def mapped_runs():
    """Runs from columns named otherwise than the inputs: N <- params, D <- tokens."""
    rng = np.random.default_rng(3)
    n, d = 10 ** rng.uniform(7, 9, 60), 10 ** rng.uniform(9, 11, 60)
    frame = pd.DataFrame({"params": n, "tokens": d, "loss": 1.8 + 480 / n**0.35})
    return {
        "both": bayescale.load_runs(frame, x={"N": "params", "D": "tokens"}),
        "N only": bayescale.load_runs(frame, x={"N": "params"}),
    }


@pytest.mark.parametrize(
    ("formula", "which", "fragments"),
    [
        ("E + A / n**alpha + B/D**beta", "both", ["'n' is not an input", "did you mean 'N'?"]),
        ("E + A/N**alpha + B/d**beta", "both", ["'d' is not an input", "did you mean 'D'?"]),
        ("E + A/n**alpha", "both", ["the runs' inputs are named N, D, C", "did you mean 'N'?"]),
        ("E + A/N**alpha + B/d**beta", "N only", ["did you mean 'D'?", "x={'D': '<column>'}"]),
        ("E + c / N**alpha", None, ["'c' is not an input", "did you mean 'C'?"]),
    ],
)
def test_a_name_that_differs_from_an_input_only_by_case_is_refused(
    mapped_runs, formula, which, fragments
):
    runs = mapped_runs[which] if which else None
    with pytest.raises(LawError) as info:
        get_law(formula, runs=runs)
    message = str(info.value)
    for fragment in [*fragments, "really is a parameter, give it a prior", ".toml law file"]:
        assert fragment in message, (fragment, message)


def test_a_prior_declares_a_name_that_differs_from_an_input_a_parameter(mapped_runs):
    runs = mapped_runs["both"]
    law = Law.from_formula("E + A/N**alpha + c * N**-beta", runs=runs, priors={"c": LOGNORMAL})
    assert set(law.inputs) == {"N"} and law.parameters["c"].why == "set by the user"
    # Inputs given: the user said which names are inputs.
    law = Law.from_formula("E + A/N**alpha + c * N**-beta", runs=runs, inputs=["N"])
    assert "c" in law.parameters
    # bayescale.fit(runs, formula, priors={"c": ...}) declares it so (its priors come later).
    with pytest.raises(LawError, match="'c' is not an input"):
        get_law("E + A/N**alpha + c * N**-beta", runs=runs)
    law = get_law("E + A/N**alpha + c * N**-beta", runs=runs, declared=("c",))
    assert "c" in law.parameters and set(law.inputs) == {"N"}


@pytest.mark.parametrize(
    ("formula", "fragments"),
    [
        (
            "E + A/N**a + B/tokens**b",
            ["'tokens' is the column mapped to input 'D'", "write D in the formula"],
        ),
        ("E + A/params**a + B/D**b", ["'params' is the column mapped to input 'N'"]),
        ("E + A/N**a + loss", ["'loss' is the column of the response (y), not a parameter"]),
    ],
)
def test_a_column_of_the_runs_is_not_a_parameter(mapped_runs, formula, fragments):
    with pytest.raises(LawError) as info:
        get_law(formula, runs=mapped_runs["both"])
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_a_column_no_input_uses_is_not_a_parameter(mapped_runs):
    # Only N is mapped: 'tokens' in the formula would be fitted as one number, the column unused.
    runs = mapped_runs["N only"]
    assert runs.other_columns == ("tokens",)
    with pytest.raises(LawError) as info:
        get_law("E + A/N**a + B/tokens**b", runs=runs)
    for fragment in [
        "'tokens' is a column of <DataFrame> that no input uses",
        "x={..., 'X': 'tokens'}",
        "--x X=tokens",
        "give it a prior",
    ]:
        assert fragment in str(info.value), (fragment, str(info.value))
    # The same through fit() with a DataFrame (default mapping: the other columns are kept).
    frame = pd.DataFrame(
        {"N": [1e8, 2e8, 4e8, 8e8], "lr": [1e-3] * 4, "loss": [3.0, 2.9, 2.8, 2.7]}
    )
    with pytest.raises(LawError, match="'lr' is a column of <DataFrame> that no input uses"):
        bayescale.fit(frame, "E + A/N**a + lr", draws=10, tune=10)
    # A law built without the runs is checked when it is fitted to them.
    with pytest.raises(LawError, match="'lr' is a column of <DataFrame> that no input uses"):
        bayescale.fit(frame, Law.from_formula("E + A/N**a + lr"), draws=10, tune=10)
    # A prior declares it a parameter; the column is then the user's business.
    law = get_law("E + A/N**a + B/tokens**b", runs=runs, declared=("tokens",))
    assert "tokens" in law.parameters


def test_runs_keep_their_other_columns_through_subset_and_saving(mapped_runs):
    runs = mapped_runs["N only"]
    again = bayescale.Runs.from_dict(json.loads(json.dumps(runs.to_dict())))
    assert again == runs and again.other_columns == ("tokens",)
    assert runs.subset(np.arange(len(runs)) < 5).other_columns == ("tokens",)
    # Runs saved before the field existed load with none.
    saved = runs.to_dict()
    del saved["other_columns"]
    assert bayescale.Runs.from_dict(saved).other_columns == ()
    assert mapped_runs["both"].other_columns == ()


@pytest.mark.parametrize("formula", ["1 / N", "log(N)", "N**-0.5 + 2"])
def test_a_law_without_parameters_is_refused(mapped_runs, formula):
    with pytest.raises(LawError, match=r"has no parameters, only inputs \(N\); a law needs at"):
        get_law(formula, runs=mapped_runs["both"])
    text = 'name = "x"\nformula = "1 / N"\n[inputs]\nN = "n"\n[parameters]\n'
    with pytest.raises(LawError, match=r"x\.toml: law 'x': the formula '1 / N' has no parameters"):
        Law.from_toml(text, source="x.toml")


LONG_FORMULA = "E + " + " + ".join(f"A{i}*N**-a{i}*D**-b{i}" for i in range(14))


def test_a_law_string_is_a_path_only_if_it_looks_like_one(tmp_path, monkeypatch):
    # Longer than a file name may be (255 bytes), far below the formula limit (2,000).
    assert 255 < len(LONG_FORMULA) < 2000
    law = get_law(LONG_FORMULA)
    assert len(law.parameters) == 43 and set(law.inputs) == {"N", "D"}
    for empty in ("", "  "):
        with pytest.raises(LawError, match=r"the law is empty; give a catalog name \(bnsl"):
            get_law(empty)
    with pytest.raises(LawError, match=r"law '\.' is a folder; give the path of a \.toml"):
        get_law(".")
    with pytest.raises(LawError, match=r"law file not found"):
        get_law("no/such/law.TOML")
    # An existing file is read as a law file whatever its name; a formula never as a path.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_law.txt").write_text(BASE, encoding="utf-8")
    assert get_law("my_law.txt").name == "power_law_N"
    assert get_law("E + A/N**alpha").name == "custom"


# --------------------------------------------------------------------------- TOML


BASE = catalog()["power_law_N"].read_text(encoding="utf-8")
E_PRIOR = 'prior = { dist = "LogNormal", mu = 0.4, sigma = 1.0 }'
A_PRIOR = 'prior = { dist = "LogNormal", mu = -0.7, sigma = 1.5 }'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = \n", r"bad\.toml: not valid TOML"),
        (BASE.replace('formula = "E + A * N**-alpha"', ""), r"the key 'formula' is missing"),
        (BASE.replace("[inputs]", "[inputz]"), r"inputz: unknown key \(did you mean 'inputs'\?\)"),
        (BASE.replace('[inputs]\nN = "parameters"\n', ""), r"the key 'inputs' is missing"),
        ('name = "x"\nformula = "E + N"\n[inputs]\nN = "n"\n', r"the key 'parameters' is missing"),
        (
            BASE.replace('"LogNormal", mu = 0.4', '"LogNormalz", mu = 0.4'),
            r"bad\.toml: parameters\.E\.prior\.dist = 'LogNormalz': unknown distribution",
        ),
        (
            BASE.replace("mu = 0.4, sigma", "mux = 0.4, sigma"),
            r"bad\.toml: parameters\.E\.prior\.mux: unknown parameter of LogNormal",
        ),
        (BASE.replace("mu = 0.4,", 'mu = "a",'), r"prior\.mu = 'a': must be a number"),
        (BASE.replace(E_PRIOR, 'prior = "LogNormal"'), r"a prior is written like"),
        (BASE.replace(E_PRIOR, ""), r"parameter E needs a prior"),
        (
            BASE.replace(A_PRIOR, 'prior = { dist = "Normal", mu = 0.0, sigma = 1.0 }'),
            r"parameter A is stated at a reference scale, so its prior must be positive",
        ),
        (
            BASE.replace(A_PRIOR, 'prior = { dist = "StudentT", nu = 3, mu = 0.0, sigma = 1.0 }'),
            r"must be positive .* not StudentT",
        ),
        (
            BASE.replace('input = "N", power', 'input = "Q", power'),
            r"stated at the reference of 'Q', which is not an input",
        ),
        (
            BASE.replace('at_reference = { input = "N", power = "alpha" }', 'at_reference = "N"'),
            r"at_reference of A is written like",
        ),
        (BASE.replace('role = "floor"', 'role = "flor"'), r"role = 'flor': unknown role"),
        (
            BASE.replace('family = "student_t"', 'family = "cauchy"'),
            r"likelihood\.family = 'cauchy': unknown; use one of student_t, normal",
        ),
        (
            BASE.replace("E + A * N**-alpha", "E + A * N**-alpha + Z"),
            r"the formula uses Z, which is neither an input nor a parameter",
        ),
        (BASE.replace("E + A * N**-alpha", "E + A * N**-0.3"), r"alpha is declared but not used"),
        (BASE.replace('name = "power_law_N"', 'name = "power law"'), r"the name must be letters"),
        (BASE.replace('[inputs]\nN = "parameters"', 'inputs = "N"'), r"'inputs' must be a table"),
        (
            'name = "x"\nformula = "E + N"\nparameters = 3\n[inputs]\nN = "n"\n',
            r"'parameters' must be a table",
        ),
        (
            BASE.split("[likelihood]")[0].replace("[inputs]", "likelihood = 3\n[inputs]"),
            r"'likelihood' must be a table",
        ),
        (BASE + '\n[published.x]\nE = "a"\n', r"published\.x\.E = 'a': must be a number"),
        (BASE + "\n[published]\nx = 3\n", r"published\.x = 3: must be a table"),
    ],
)
def test_invalid_law_files_give_clear_errors(text, message):
    with pytest.raises(LawError, match=message) as info:
        Law.from_toml(text, source="bad.toml")
    assert "\n" not in str(info.value)


def test_law_file_with_a_hostile_formula_is_refused():
    text = BASE.replace("E + A * N**-alpha", "E + A * N**-alpha + open('x')")
    with pytest.raises(FormulaError, match=r"function 'open' is not allowed"):
        Law.from_toml(text, source="bad.toml")


def test_from_file_missing_and_unreadable(tmp_path):
    with pytest.raises(LawError, match=r"law file not found: .*nope\.toml"):
        Law.from_file(tmp_path / "nope.toml")
    with pytest.raises(LawError, match=r"law file not found"):
        get_law(str(tmp_path / "nope.toml"))
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(LawError, match=r"cannot read law file"):
        Law.from_file(binary)


def test_user_law_file_round_trip(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(BASE.replace('name = "power_law_N"', 'name = "mine"'), encoding="utf-8")
    law = get_law(str(path))
    assert law.name == "mine"
    assert law.to_dict()["parameters"] == get_law("power_law_N").to_dict()["parameters"]


def test_unknown_law_lists_the_catalog_and_suggests():
    with pytest.raises(LawError) as info:
        get_law("chinchila")
    message = str(info.value)
    assert "unknown law 'chinchila'" in message
    assert "did you mean 'chinchilla'" in message
    for name in CATALOG:
        assert name in message
    with pytest.raises(LawError) as info:
        get_law("qqqqqq")
    assert "did you mean" not in str(info.value)
    assert "power_law_N" in str(info.value)


# --------------------------------------------------------------------------- copies


@pytest.mark.parametrize("name", CATALOG)
def test_dict_round_trip_gives_equal_predictions(name):
    law = get_law(name)
    data = json.loads(law.to_json())
    copy = Law.from_dict(data)
    assert copy.to_dict() == law.to_dict()
    assert copy.formula.tree == law.formula.tree
    rng = np.random.default_rng(0)
    params = {}
    for p in law.parameters.values():
        draws = np.abs(rng.normal(0.3, 0.05, 20))
        params[p.name] = draws * (1e3 if p.role in ("coefficient",) else 1.0)
    if name == "kaplan":
        params.update(Nc=np.full(20, 8.8e13), Dc=np.full(20, 5.4e13))
    if name == "bnsl":
        params["d1"] = np.full(20, 1e20)
    N = np.geomspace(1e7, 1e11, 20)
    inputs = {"N": N, "D": 20 * N, "U": 5 * N, "C": 120 * N**2}
    # The other catalog inputs: learning rate, batch size, experts, vocabulary, characters.
    inputs.update(lr=np.full(20, 3e-4), bs=np.full(20, 1e6), E=np.full(20, 8.0))
    inputs.update(Nnv=N, Nv=N / 10, H=100 * N)
    inputs = {k: inputs[k] for k in law.inputs}
    np.testing.assert_array_equal(copy.predict(params, inputs), law.predict(params, inputs))
    assert np.all(np.isfinite(law.predict(params, inputs)))


def test_with_priors_changes_one_prior():
    law = get_law("chinchilla")
    changed = law.with_priors(
        {
            "E": {"dist": "LogNormal", "mu": 0.6, "sigma": 0.1},
            "sigma": {"dist": "HalfNormal", "sigma": 0.05},
        }
    )
    assert changed.parameters["E"].prior.parameters == {"mu": 0.6, "sigma": 0.1}
    assert changed.likelihood.sigma.parameters == {"sigma": 0.05}
    assert changed.parameters["alpha"].prior.parameters == law.parameters["alpha"].prior.parameters
    assert changed.parameters["A"].reference == ("N", "alpha")
    # The original is unchanged (laws are immutable), and the copy says the prior is new.
    assert law.parameters["E"].prior.parameters == {"mu": 0.4, "sigma": 1.0}
    assert changed.to_dict()["parameters"]["E"]["prior"] == {
        "dist": "LogNormal",
        "mu": 0.6,
        "sigma": 0.1,
    }
    assert changed.source_text == ""
    # A reference-scale parameter keeps its reference; a non-positive prior is refused.
    with pytest.raises(LawError, match="must be positive"):
        law.with_priors({"A": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})


def test_with_priors_rejects_unknown_names():
    law = get_law("chinchilla")
    with pytest.raises(LawError) as info:
        law.with_priors({"gamma": LOGNORMAL})
    message = str(info.value)
    assert "no parameter 'gamma'" in message
    assert "E, A, B, alpha, beta, sigma, nu" in message
    normal = Law.from_formula(
        "E + N", priors={"E": LOGNORMAL}, likelihood=Likelihood(family="normal", nu=None)
    )
    with pytest.raises(LawError, match="no parameter 'nu'"):
        normal.with_priors({"nu": LOGNORMAL})


# --------------------------------------------------------------------------- prior predictive


@pytest.fixture(scope="module")
def lm_runs():
    """Typical language-model scales: N 1e7..1e10, D 1e9..1e12, U = D/4, C = 6 N D."""
    rng = np.random.default_rng(11)
    N = 10 ** rng.uniform(7, 10, 50)
    D = 10 ** rng.uniform(9, 12, 50)
    frame = pd.DataFrame({"N": N, "D": D, "U": D / 4, "C": 6 * N * D, "loss": 3.0})
    return bayescale.load_runs(frame)


#: Laws of N, D, U and C that fall along every input. The other catalog laws (a bowl in the
#: learning rate, experts, vocabulary; farseer's nested exponentials) have their own prior
#: predictive checks in test_catalog_laws.py.
MONOTONE = [
    "bnsl",
    "chinchilla",
    "data_constrained",
    "kaplan",
    "power_law_C",
    "power_law_D",
    "power_law_N",
]


@pytest.mark.parametrize("name", MONOTONE)
def test_prior_predictive_is_plausible(name, lm_runs):
    law = get_law(name)
    log_ref = log_reference(law, lm_runs)
    prior = sample_prior(law, lm_runs, log_ref, draws=2000, seed=5)
    assert prior.sizes == {"chain": 1, "draw": 2000}
    draws = {n: prior[n].values.reshape(-1) for n in law.parameters}
    # The reference-scale statement holds draw by draw: A = A_ref * N_ref**alpha.
    for p in law.parameters.values():
        if p.reference:
            inp, power = p.reference
            exponent = bayescale.Formula(power).evaluate(draws)
            np.testing.assert_allclose(
                np.log(draws[p.name]),
                np.log(prior[p.sampled_name].values.reshape(-1)) + exponent * log_ref[inp],
                rtol=1e-10,
                atol=1e-10,
            )
    theta = {k: v[None, :] for k, v in draws.items()}
    ref = {k: float(np.exp(np.mean(np.log(lm_runs.x(k))))) for k in ("N", "D", "U", "C")}

    # Curves along each input (others at the reference), over every draw.
    sweeps = {
        "N": np.geomspace(1e7, 1e10, 30),
        "D": np.geomspace(1e9, 1e12, 30),
        "U": np.geomspace(ref["D"] / 100, ref["D"], 30),  # U <= D: repetition falls
        "C": np.geomspace(6e16, 6e22, 30),
    }
    checked = 0
    for inp in law.inputs:
        x = {k: np.full((30, 1), ref[k]) for k in law.inputs}
        x[inp] = sweeps[inp][:, None]
        if name == "data_constrained" and inp == "D":
            x["U"] = np.full((30, 1), 1e9 / 4)  # D from 1e9 up: always D >= U
        curve = law.predict(theta, x)
        assert curve.shape == (30, 2000)
        assert np.all(np.isfinite(curve)), (name, inp)
        assert np.all(curve > 0), (name, inp)
        keep = draws["c1"] >= 0 if name == "bnsl" else np.ones(2000, bool)
        step = np.diff(curve[:, keep], axis=0)
        assert np.all(step <= 1e-12 * curve[1:, keep]), (name, inp)
        checked += 1
    assert checked == len(law.inputs)

    # At the reference scale: a language-model loss, with a wide prior range.
    at_ref = law.predict(theta, {k: np.array([[ref[k]]]) for k in law.inputs}).reshape(-1)
    q05, q50, q95 = np.quantile(at_ref, [0.05, 0.5, 0.95])
    assert 0.5 <= q50 <= 20.0, (name, q50)
    assert q95 / q05 >= 3.0, (name, q05, q95)
    # With a floor, the law never falls below it.
    if law.floor:
        big = {k: np.array([[1e30]]) for k in law.inputs}
        assert np.all(law.predict(theta, big).reshape(-1) >= draws[law.floor] * (1 - 1e-12))


# --------------------------------------------------------------------------- names used like inputs


@pytest.fixture
def lr_runs():
    """A learning-rate sweep whose lr column is not mapped to an input."""
    rng = np.random.default_rng(5)
    n, d = 10 ** rng.uniform(7, 9, 40), 10 ** rng.uniform(9, 11, 40)
    lr = 10 ** rng.uniform(-4, -2, 40)
    y = 1.8 + 480 / n**0.35 + 400 / d**0.3 + 0.05 * np.log(lr / 1e-3) ** 2
    frame = pd.DataFrame({"params": n, "tokens": d, "lr": lr, "loss": y})
    return bayescale.load_runs(frame, x={"N": "params", "D": "tokens"})


@pytest.mark.parametrize(
    ("formula", "fragments"),
    [
        (  # eta written for the column lr: both names would be fitted as constants.
            "E + A/N**alpha + B/D**beta + k*log(eta/eta0)**2",
            ["'eta' and 'eta0' are used like inputs", "inside log(eta / eta0), with no input "
             "there", "columns no input uses: lr", "--x eta=COLUMN", "priors={'eta'"],
        ),
        (  # The tokens written under another name than the runs' input D.
            "E + A/N**alpha + B/Tokens**beta",
            ["'Tokens' is used like an input", "the base of the fitted power Tokens ** beta",
             "D and C are inputs of the runs the formula does not use", "--x Tokens=COLUMN"],
        ),
    ],
)  # fmt: skip
def test_a_name_used_like_an_input_is_refused(lr_runs, formula, fragments):
    with pytest.raises(LawError) as info:
        Law.from_formula(formula, runs=lr_runs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "no column's values used" not in message
    # The same through get_law (bayescale.fit and the CLI), and with the inputs given.
    with pytest.raises(LawError, match=r"used like (an )?input"):
        get_law(formula, runs=lr_runs)
    with pytest.raises(LawError, match="one of the law's inputs"):
        Law.from_formula(formula, inputs=["N", "D"])


@pytest.mark.parametrize(
    ("formula", "why"),
    [
        # The runs' column lr (mapped to no input) under another name.
        ("E + A/N**alpha + B/D**beta + g*log(LR)", "inside log(LR), named like 'lr'"),
        ("E + A/N**alpha + B/D**beta + g*log(Toks)", "inside log(Toks), named like 'tokens'"),
        # A power's base named like a column, though the formula uses N and D.
        ("E + A/N**alpha + B/D**beta + G/Tokens**gamma", "named like 'tokens'"),
        # The base of a power of one parameter, while the formula leaves out D.
        ("E + A/N**alpha + B/X**beta", "while the formula leaves out the input D"),
        ("E + A/N**alpha + B*X**-beta", "while the formula leaves out the input D"),
    ],
)
def test_a_name_like_a_column_or_standing_for_a_left_out_input_is_refused(lr_runs, formula, why):
    with pytest.raises(LawError, match="used like an input") as info:
        Law.from_formula(formula, runs=lr_runs)
    assert why in str(info.value), str(info.value)


def test_the_audit_s_log_ratio_is_refused_on_runs_without_the_column():
    # Chinchilla-like runs (N and C mapped, D derived) have no lr column at all.
    rng = np.random.default_rng(4)
    n, d = 10 ** rng.uniform(7, 9, 20), 10 ** rng.uniform(9, 11, 20)
    frame = pd.DataFrame({"Model Size": n, "Training FLOP": 6 * n * d, "loss": 2 + 1 / n**0.1})
    runs = bayescale.load_runs(frame, x={"N": "Model Size", "C": "Training FLOP"})
    with pytest.raises(LawError, match=r"'lr' and 'lr0' are used like inputs") as info:
        Law.from_formula("E + A/N**alpha + B/D**beta + k*log(lr/lr0)**2", runs=runs)
    # N and D cover the runs (C is k N D): no input is said to be left out.
    assert "does not use" not in str(info.value)
    with pytest.raises(LawError, match="while the formula leaves out the input C"):
        Law.from_formula("E + A/N**alpha + B/Tokens**beta", runs=runs)


@pytest.mark.parametrize(
    "formula",
    [
        "E + A**(1/s)/N**alpha + B/D**beta",  # a sharpness on an amplitude
        "E + (A**(1/s) + B/D**beta)",  # the same, with N left out
        "E + exp(log(A) - alpha*log(N)) + B/D**beta",  # a log-amplitude
        "E + A/N**alpha*log(k) + B/D**beta",  # the log of one parameter
        "E + A/N**alpha + B/D**beta + g*log(V)",  # one name like no column or input
    ],
)
def test_ordinary_reparameterisations_are_not_taken_for_inputs(lr_runs, formula):
    law = Law.from_formula(formula, runs=lr_runs)
    assert set(law.inputs) <= {"N", "D"}
    assert input_like_names(law.formula, law.inputs, known=["params", "tokens", "lr"]) == {}
    # Their default-prior parameters are listed before sampling.
    assert law.describe_defaults().startswith("law 'custom': ")
    # The same with the inputs given.
    assert Law.from_formula(formula, inputs=list(law.inputs)).parameters.keys() == (
        law.parameters.keys()
    )


def test_a_name_used_like_an_input_is_a_parameter_once_it_has_a_prior(lr_runs):
    formula = "E + A/N**alpha + B/D**beta + k*log(eta/eta0)**2"
    prior = {"dist": "LogNormal", "mu": -7, "sigma": 1}
    law = Law.from_formula(formula, {"eta": prior, "eta0": prior}, runs=lr_runs)
    assert {"eta", "eta0"} <= set(law.parameters)
    # Names the caller will give priors to (fit(..., priors=)) are parameters too.
    law = get_law(formula, runs=lr_runs, declared=("eta", "eta0"))
    assert law.parameters["eta"].role == "shape"


@pytest.mark.parametrize(
    "formula",
    [
        "E + A * N0**alpha / N**alpha",  # N0 raised to N's own exponent
        "E + A * (N/Nb)**-a1 * (1 + N/Nb)**(a1 - a2)",  # a base that holds an input
        "E + A * N**-a1 * Nb**(a1 - a2)",  # a parameter exponent shared with N's power
        "E + A/N**alpha + k*log(N/N0)**2",  # the log of an input over its scale
        "E + A/N**alpha + B/D**beta + k*log(lr/lr0)**2",  # lr mapped below
    ],
)
def test_parameters_raised_to_a_power_of_an_input_law_are_kept(formula):
    rng = np.random.default_rng(2)
    n, d = 10 ** rng.uniform(7, 9, 20), 10 ** rng.uniform(9, 11, 20)
    lr = 10 ** rng.uniform(-4, -2, 20)
    frame = pd.DataFrame({"N": n, "D": d, "lr": lr, "loss": 2 + 100 / n**0.3})
    runs = bayescale.load_runs(frame, x={"N": "N", "D": "D", "lr": "lr"})
    law = Law.from_formula(formula, runs=runs)
    assert set(law.inputs) == {"N", "D", "lr"} & Formula(formula).names


@pytest.mark.parametrize("name", CATALOG)
def test_no_catalog_formula_has_a_parameter_used_like_an_input(name):
    law = get_law(name)
    known = [*law.inputs, "N", "D", "C", "U"]
    assert input_like_names(law.formula, law.inputs, known=known) == {}
    # Typed as text with its inputs, the formula is accepted (with default priors).
    typed = Law.from_formula(law.formula.text, inputs=list(law.inputs))
    assert set(typed.parameters) == set(law.parameters)


def test_the_parameters_with_default_priors_are_listed_with_their_roles(lr_runs):
    law = Law.from_formula(
        "E + A/N**alpha + B/D**beta", {"E": {"dist": "LogNormal", "mu": 0.5, "sigma": 0.5}},
        runs=lr_runs,
    )  # fmt: skip
    assert list(law.defaulted_parameters) == ["A", "B", "alpha", "beta"]
    assert law.defaulted_parameters["alpha"].role == "exponent"
    text = law.describe_defaults()
    assert text.startswith("law 'custom': 4 parameters fitted with default priors")
    assert "  A        [coefficient] ~ LogNormal(mu=" in text and " on A * N_ref**-(alpha)" in text
    assert "E " not in text  # given a prior
    # A law file declares every prior: nothing to list.
    assert get_law("chinchilla").describe_defaults() == ""
    assert get_law("chinchilla").defaulted_parameters == {}


def test_a_formula_typed_as_the_catalog_s_points_to_the_catalog_law():
    bnsl = "E + b*C^-c0 * (1 + (C/d1)**(1/f1))**(-c1*f1)"  # spacing and ^ differ
    assert catalog_formula(bnsl) == "bnsl"
    assert catalog_formula("E + A / N**alpha") is None  # power_law_N is E + A * N**-alpha
    law = Law.from_formula(bnsl, inputs=["C"])
    assert law.catalog_twin == "bnsl"
    assert "catalog law 'bnsl', whose priors are tuned for it" in law.describe_defaults()
    assert "law='bnsl' (--law bnsl)" in law.parameters["c1"].why
    # With every prior given, the user chose them: no note.
    given = {n: {"dist": "LogNormal", "mu": 0, "sigma": 1} for n in law.parameters}
    assert Law.from_formula(bnsl, given, inputs=["C"]).catalog_twin is None
    assert get_law("bnsl").catalog_twin is None


# --------------------------------------------------------------------------- at_reference


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize(
    ("at_reference", "message"),
    [
        ({"A": "N"}, r"at_reference\['A'\] = 'N': expected \(input, power\)"),
        ({"A": ("N",)}, r"expected \(input, power\)"),
        ({"A": ("N", "alpha", 1)}, r"expected \(input, power\)"),
        ({"A": ("N", None)}, r"expected \(input, power\)"),
        ({"A": ("D", "alpha")}, r"'D' is not an input of the law \(N\); expected \(input, power\)"),
        ({"A": ("N", "beta")}, r"the power uses beta, which is not a parameter of the law"),
    ],
)
def test_at_reference_is_checked_with_or_without_a_prior(at_reference, message, with_prior):
    priors = {"A": LOGNORMAL} if with_prior else None
    with pytest.raises(LawError, match=message):
        Law.from_formula("E + A/N**alpha", priors, inputs=["N"], at_reference=at_reference)


def test_at_reference_without_a_prior_is_applied_to_the_default():
    law = Law.from_formula("E + A/N**alpha", inputs=["N"], at_reference={"A": ("N", 0.5)})
    A = law.parameters["A"]
    assert A.reference == ("N", "0.5")
    assert A.describe_prior().endswith("on A * N_ref**-(0.5)")
    assert A.why.startswith("Default for A, stated as A * N_ref**-(0.5)")
    # A parameter whose default has no reference gets an amplitude's default there.
    law = Law.from_formula("E + A/N**alpha + c", inputs=["N"], at_reference={"c": ("N", "1")})
    assert law.parameters["c"].reference == ("N", "1")
    assert law.parameters["c"].prior.distribution == "LogNormal"
    assert "c" in law.defaulted_parameters


def test_a_wrong_name_in_a_law_file_s_reference_power_is_named_as_such():
    text = BASE.replace('power = "alpha"', 'power = "beta"')
    with pytest.raises(LawError, match=r"uses beta, which is not a parameter of the law"):
        Law.from_toml(text)


def test_a_prior_of_either_sign_on_a_default_amplitude_is_on_the_amplitude_itself():
    law = Law.from_formula("E + A/N**alpha", inputs=["N"])
    assert law.parameters["A"].reference == ("N", "alpha")
    signed = law.with_priors({"A": {"dist": "Normal", "mu": 0, "sigma": 1e-8}})
    assert signed.parameters["A"].reference is None
    assert signed.parameters["A"].prior.distribution == "Normal"
    # So is a positive prior: with_priors (fit(priors=)) reads a prior as from_formula does.
    for formula in ("E + A/N**alpha", "E + A*exp(-N/N0)"):
        name = "A" if "alpha" in formula else "N0"
        base = Law.from_formula(formula, inputs=["N"])
        assert base.parameters[name].reference is not None  # a default reference
        given = base.with_priors({name: LOGNORMAL}).parameters[name]
        built = Law.from_formula(formula, inputs=["N"], priors={name: LOGNORMAL}).parameters[name]
        assert given.reference is None is built.reference, formula
        assert spec_of(given.prior) == spec_of(built.prior), formula
    # A reference the law declares stays: the message says how to do without it.
    with pytest.raises(LawError, match=r"prior must be positive.*drop its reference"):
        get_law("power_law_N").with_priors({"A": {"dist": "Normal", "mu": 0, "sigma": 1}})


# --------------------------------------------------------------------------- messages


def test_a_law_file_not_in_utf8_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "latin.toml"
    text = BASE.replace('title = "', 'title = "Régime ', 1)
    assert text != BASE
    path.write_bytes(text.encode("latin-1"))
    line = text.splitlines().index(next(x for x in text.splitlines() if "Régime" in x)) + 1
    with pytest.raises(LawError) as info:
        Law.from_file(path)
    message = str(info.value)
    assert f"law file '{path}': it is not UTF-8 text: byte 0xe9 at line {line}" in message
    assert message.endswith("save it as UTF-8")


def test_several_undeclared_names_are_listed_in_the_plural():
    text = BASE.replace("E + A * N**-alpha", "E + A * N**-alpha + Z + W")
    with pytest.raises(LawError, match=r"uses W and Z, which are neither inputs nor parameters"):
        Law.from_toml(text)
    text = BASE.replace("E + A * N**-alpha", "E + 0.5 * N**-0.3")
    with pytest.raises(LawError, match=r"A and alpha are declared but not used"):
        Law.from_toml(text)


@pytest.mark.parametrize(
    ("formula", "said"),
    [
        # An unmapped learning rate: k*lr is a constant beside the floor.
        (
            "E + A/N**alpha + B/D**beta + k*lr",
            "the terms E and k * lr of the formula hold no input: together they are one "
            "constant, and the runs learn only their sum, never E, k and lr apart",
        ),
        ("E - k*lr + A/N**alpha", "the terms E and k * lr of the formula hold no input"),
        (
            "k*lr + A/N**alpha",
            "the term k * lr of the formula holds no input: the runs learn it as one "
            "constant, never k and lr apart",
        ),
        ("c0 + c1 + A/N**alpha", "the terms c0 and c1 of the formula hold no input"),
    ],
)
def test_constant_terms_the_runs_cannot_tell_apart_are_refused(formula: str, said: str) -> None:
    # Regression: 'k*lr' (lr meant as an unmapped column) became two parameters; the sampler
    # retried for two minutes and advised more draws, which cannot help.
    # Refused when fitted, before any sampling (draws=10 would fail the diagnostics).
    frame = pd.DataFrame(
        {"N": [1e8, 2e8, 4e8, 8e8], "D": [2e9, 4e9, 8e9, 2e10], "loss": [3.0, 2.9, 2.8, 2.7]}
    )
    with pytest.raises(LawError) as caught:
        bayescale.fit(frame, formula, draws=10, tune=10)
    message = str(caught.value)
    assert said in message, message
    assert "an input (a column of the runs), declare it an input and map it" in message
    assert "give all but one of them a prior (priors=)" in message
    # The same law built without the runs first, then fitted.
    law = Law.from_formula(formula, inputs=["N", "D"] if "D" in formula else ["N"])
    with pytest.raises(LawError, match=r"holds? no input"):
        bayescale.fit(frame, law, draws=10, tune=10)


def test_one_constant_parameter_is_a_floor_not_a_problem() -> None:
    from bayescale.laws import refuse_constant_terms

    for formula in [
        "E + A/N**alpha",
        "E + 2 + A/N**alpha",
        "A/N**alpha",
        "E - A/N**alpha",
        # A parameter of a constant term learned in a term with an input tells it apart.
        "E - A + A*(N/1e9)**(-alpha)",
        "E + alpha + A/N**alpha",
    ]:
        refuse_constant_terms(Law.from_formula(formula, inputs=["N"]))
    # A prior the user gives holds a constant: the runs need not tell it from the floor.
    law = Law.from_formula("E + k + A/N**alpha", inputs=["N"])
    with pytest.raises(LawError, match="never E and k apart"):
        refuse_constant_terms(law)
    refuse_constant_terms(law, declared=("k",))
    refuse_constant_terms(law.with_priors({"k": {"dist": "Normal", "mu": 0.1, "sigma": 0.01}}))
