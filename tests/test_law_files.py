"""Law files and prior specifications are checked when they are read, not by the sampler.

Every refusal is one line naming where (the file, or the call), the key path and the bad
value, and saying what to do: a law that loads is a law PyMC can sample.
"""

from __future__ import annotations

import json

import pytest
from pymc_extras.prior import Prior

from bayescale.errors import FormulaError, LawError
from bayescale.laws import Law, Likelihood, catalog, get_law

BASE = catalog()["power_law_N"].read_text(encoding="utf-8")
E_PRIOR = '{ dist = "LogNormal", mu = 0.4, sigma = 1.0 }'
SIGMA_PRIOR = '{ dist = "HalfNormal", sigma = 0.1 }'
NU_PRIOR = '{ dist = "Gamma", alpha = 2.0, beta = 0.1 }'
LOGNORMAL = {"dist": "LogNormal", "mu": 0.0, "sigma": 1.0}
PL_PRIORS = {"E": LOGNORMAL, "A": LOGNORMAL, "alpha": LOGNORMAL}


def refusal(text: str, error: type[Exception] = LawError) -> str:
    """Load a law file's text and return the one-line message of its refusal."""
    with pytest.raises(error) as info:
        Law.from_toml(text, source="bad.toml")
    message = str(info.value)
    assert "\n" not in message
    return message


def with_e_prior(prior: str) -> str:
    assert BASE.count(E_PRIOR) == 1
    return BASE.replace(E_PRIOR, prior)


# --------------------------------------------------------------------------- prior values

#: (prior of E, key, value as printed, what the message says must hold).
BAD_VALUES = [
    ('{ dist = "LogNormal", mu = 0.4, sigma = -1.0 }', "sigma", "-1.0", "> 0"),
    ('{ dist = "LogNormal", mu = 0.4, sigma = 0 }', "sigma", "0", "> 0"),
    ('{ dist = "LogNormal", mu = 0.4, sigma = nan }', "sigma", "nan", "finite"),
    ('{ dist = "LogNormal", mu = 0.4, sigma = inf }', "sigma", "inf", "finite"),
    ('{ dist = "LogNormal", mu = inf, sigma = 1.0 }', "mu", "inf", "finite"),
    ('{ dist = "LogNormal", mu = -inf, sigma = 1.0 }', "mu", "-inf", "finite"),
    ('{ dist = "LogNormal", mu = nan, sigma = 1.0 }', "mu", "nan", "finite"),
    ('{ dist = "LogNormal", mu = 0.4, tau = 0.0 }', "tau", "0.0", "> 0"),
    ('{ dist = "Normal", mu = 0.4, sigma = -0.5 }', "sigma", "-0.5", "> 0"),
    ('{ dist = "HalfNormal", sigma = 0.0 }', "sigma", "0.0", "> 0"),
    ('{ dist = "HalfStudentT", nu = -1.0, sigma = 1.0 }', "nu", "-1.0", "> 0"),
    ('{ dist = "HalfStudentT", nu = 3.0, sigma = 0.0 }', "sigma", "0.0", "> 0"),
    ('{ dist = "HalfStudentT", nu = 3.0, lam = -2.0 }', "lam", "-2.0", "> 0"),
    ('{ dist = "HalfCauchy", beta = -1.0 }', "beta", "-1.0", "> 0"),
    ('{ dist = "StudentT", nu = 0.0, mu = 0.0, sigma = 1.0 }', "nu", "0.0", "> 0"),
    ('{ dist = "Cauchy", alpha = 0.0, beta = 0.0 }', "beta", "0.0", "> 0"),
    ('{ dist = "Gamma", alpha = 0.0, beta = 1.0 }', "alpha", "0.0", "> 0"),
    ('{ dist = "Gamma", alpha = 2.0, beta = -1.0 }', "beta", "-1.0", "> 0"),
    ('{ dist = "Gamma", mu = -2.0, sigma = 1.0 }', "mu", "-2.0", "> 0"),
    ('{ dist = "InverseGamma", alpha = -2.0, beta = 1.0 }', "alpha", "-2.0", "> 0"),
    ('{ dist = "Exponential", lam = 0.0 }', "lam", "0.0", "> 0"),
    ('{ dist = "Exponential", scale = -1.0 }', "scale", "-1.0", "> 0"),
    ('{ dist = "Weibull", alpha = 0.0, beta = 1.0 }', "alpha", "0.0", "> 0"),
    ('{ dist = "Weibull", alpha = 1.0, beta = nan }', "beta", "nan", "finite"),
    ('{ dist = "TruncatedNormal", mu = 1.0, sigma = 0.0, lower = 0.0 }', "sigma", "0.0", "> 0"),
    (
        '{ dist = "TruncatedNormal", mu = 1.0, sigma = 1.0, lower = 2.0, upper = 1.0 }',
        "lower",
        "2.0",
        "below upper = 1.0",
    ),
    ('{ dist = "Uniform", lower = 1.0, upper = 1.0 }', "lower", "1.0", "below upper = 1.0"),
    ('{ dist = "Uniform", lower = 2.0 }', "lower", "2.0", "below upper = 1 (the default)"),
    ('{ dist = "Uniform", lower = 0.0, upper = inf }', "upper", "inf", "finite"),
    ('{ dist = "Beta", alpha = 0.0, beta = 1.0 }', "alpha", "0.0", "> 0"),
    ('{ dist = "Beta", alpha = 1.0, beta = -1.0 }', "beta", "-1.0", "> 0"),
    ('{ dist = "Beta", mu = 1.5, sigma = 0.1 }', "mu", "1.5", "between 0 and 1"),
    ('{ dist = "Laplace", mu = 0.0, b = -1.0 }', "b", "-1.0", "> 0"),
    ('{ dist = "ChiSquared", nu = 0 }', "nu", "0", "> 0"),
    ('{ dist = "Pareto", alpha = 1.0, m = -1.0 }', "m", "-1.0", "> 0"),
    # A distribution without a table entry: every number must still be finite.
    ('{ dist = "Moyal", mu = nan, sigma = 1.0 }', "mu", "nan", "finite"),
    ('{ dist = "Moyal", mu = 0.0, sigma = -inf }', "sigma", "-inf", "finite"),
    ('{ dist = "LogNormal", mu = true, sigma = 1.0 }', "mu", "True", "must be a number"),
    ('{ dist = "LogNormal", mu = "a", sigma = 1.0 }', "mu", "'a'", "must be a number"),
]


@pytest.mark.parametrize(
    ("prior", "key", "value", "rule"), BAD_VALUES, ids=[p for p, *_ in BAD_VALUES]
)
def test_bad_prior_values_are_refused_at_load(prior, key, value, rule):
    message = refusal(with_e_prior(prior))
    assert f"bad.toml: parameters.E.prior.{key} = {value}:" in message
    assert rule in message


#: (prior of E, what the message says): names PyMC does not know, or cannot use.
BAD_SPECS = [
    (
        '{ dist = "LogNormal", mu = 0.4, sigmaa = 1.0 }',
        "parameters.E.prior.sigmaa: unknown parameter of LogNormal (did you mean 'sigma'?); "
        "LogNormal takes mu, sigma, tau",
    ),
    (
        '{ dist = "Gamma", alpha = 2.0, bta = 1.0 }',
        "parameters.E.prior.bta: unknown parameter of Gamma (did you mean 'beta'?)",
    ),
    (
        '{ dist = "LogNormall", mu = 0.4, sigma = 1.0 }',
        "parameters.E.prior.dist = 'LogNormall': unknown distribution (did you mean 'LogNormal'?)",
    ),
    ('{ dist = "Model" }', "parameters.E.prior.dist = 'Model': unknown distribution"),
    ("{ dist = 3 }", "parameters.E.prior.dist = 3: unknown distribution"),
    ('{ dist = "Poisson", mu = 1.0 }', "parameters.E.prior.dist = 'Poisson': not a continuous"),
    ('{ dist = "MvNormal" }', "parameters.E.prior: MvNormal() cannot be built"),
    (
        '{ dist = "ZeroInflatedPoisson", psi = 0.5, mu = 1.0 }',
        "parameters.E.prior.dist = 'ZeroInflatedPoisson': not a continuous",
    ),
    ('{ dist = "HalfFlat" }', "parameters.E.prior.dist = 'HalfFlat': an improper"),
    (
        '{ dist = "Gamma", alpha = 2.0 }',
        "parameters.E.prior: Gamma(alpha=2.0) cannot be built: Incompatible parameterization",
    ),
    (
        '{ dist = "LogNormal", mu = 0.0, sigma = 1.0, tau = 1.0 }',
        "parameters.E.prior: LogNormal(mu=0.0, sigma=1.0, tau=1.0) cannot be built: "
        "Can't pass both tau and sigma",
    ),
    (
        '{ dist = "StudentT", mu = 0.0, sigma = 1.0 }',
        "parameters.E.prior: StudentT(mu=0.0, sigma=1.0) cannot be built: StudentT.dist() missing",
    ),
    ("{ mu = 0.4, sigma = 1.0 }", "parameters.E.prior: a prior is written like"),
]


@pytest.mark.parametrize(("prior", "message"), BAD_SPECS, ids=[p for p, _ in BAD_SPECS])
def test_unknown_distributions_and_parameters_are_refused(prior, message):
    assert f"bad.toml: {message}" in refusal(with_e_prior(prior))


# --------------------------------------------------------------------------- likelihood

BAD_NOISE = [
    (SIGMA_PRIOR, '{ dist = "HalfNormal", sigma = -0.1 }', "likelihood.sigma.sigma = -0.1:"),
    (SIGMA_PRIOR, '{ dist = "HalfNormal", sigma = 0.0 }', "likelihood.sigma.sigma = 0.0:"),
    (SIGMA_PRIOR, '{ dist = "HalfNormal", sigma = nan }', "likelihood.sigma.sigma = nan:"),
    (
        SIGMA_PRIOR,
        '{ dist = "Normal", mu = 0.0, sigma = 0.1 }',
        "likelihood.sigma: the prior of the noise sigma must be positive",
    ),
    (NU_PRIOR, '{ dist = "Gamma", alpha = 2.0, beta = -0.1 }', "likelihood.nu.beta = -0.1:"),
    (NU_PRIOR, '{ dist = "Gamma", alpha = inf, beta = 0.1 }', "likelihood.nu.alpha = inf:"),
    (
        NU_PRIOR,
        '{ dist = "Normal", mu = 3.0, sigma = 1.0 }',
        "likelihood.nu: the prior of the noise nu must be positive",
    ),
    (
        'family = "student_t"',
        'family = "normal"',
        "likelihood.nu: a normal likelihood has no nu; remove it",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD_NOISE, ids=[n for _, n, _ in BAD_NOISE])
def test_bad_noise_priors_are_refused_at_load(old, new, message):
    assert BASE.count(old) == 1
    message_ = refusal(BASE.replace(old, new))
    assert "bad.toml" in message_
    assert message in message_


# --------------------------------------------------------------------------- unknown keys

#: (text replaced, replacement, key path, suggestion).
MISSPELT = [
    ('formula = "', 'formla = "', "bad.toml: formla: unknown key", "did you mean 'formula'?"),
    ('title = "', 'titel = "', "bad.toml: titel: unknown key", "did you mean 'title'?"),
    ("[inputs]", "[inputz]", "bad.toml: inputz: unknown key", "did you mean 'inputs'?"),
    ('name = "', 'famly = "normal"\nname = "', "bad.toml: famly: unknown key", "likelihood"),
    ('name = "', 'source_text = ""\nname = "', "bad.toml: source_text: unknown key", "formula"),
    (
        'role = "floor"',
        'rol = "floor"',
        "bad.toml: parameters.E.rol: unknown key",
        "did you mean 'role'?",
    ),
    (
        "at_reference = {",
        "at_referance = {",
        "bad.toml: parameters.A.at_referance: unknown key",
        "did you mean 'at_reference'?",
    ),
    (
        'why = "Irreducible',
        'whyy = "Irreducible',
        "bad.toml: parameters.E.whyy: unknown key",
        "did you mean 'why'?",
    ),
    (
        'power = "alpha"',
        'powr = "alpha"',
        "bad.toml: parameters.A.at_reference.powr: unknown key",
        "did you mean 'power'?",
    ),
    (
        'family = "student_t"',
        'famly = "student_t"',
        "bad.toml: likelihood.famly: unknown key",
        "did you mean 'family'?",
    ),
    (
        'family = "student_t"',
        'family = "student_t"\nsgima = 0.1',
        "bad.toml: likelihood.sgima: unknown key",
        "did you mean 'sigma'?",
    ),
    (
        'role = "floor"',
        'role = "flor"',
        "bad.toml: law 'power_law_N': parameters.E.role = 'flor': unknown role",
        "did you mean 'floor'?",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "where", "hint"), MISSPELT, ids=[n.split("=")[0] for _, n, *_ in MISSPELT]
)
def test_misspelt_keys_are_refused_with_a_suggestion(old, new, where, hint):
    assert old in BASE
    message = refusal(BASE.replace(old, new, 1))
    assert where in message
    assert hint in message


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[published."Hoffmann 2022"]\nalpah = 0.34\n',
            'bad.toml: published."Hoffmann 2022".alpah: unknown parameter '
            "(did you mean 'alpha'?)",
        ),
        ("[published.x]\nE = nan\n", "bad.toml: published.x.E = nan: not a finite number"),
        ("[published.x]\nE = -inf\n", "bad.toml: published.x.E = -inf: not a finite number"),
    ],
)
def test_bad_published_values_are_refused(table, message):
    assert message in refusal(BASE + "\n" + table)


# --------------------------------------------------------------------------- formulas and roles


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("E + A * N**-alpha", "E + A * N**-alpha * 10**400", "overflow encountered"),
        ("E + A * N**-alpha", "E + A * N**-alpha * 9**9**9**9", "overflow encountered"),
        ("E + A * N**-alpha", "(" * 500 + "E + A * N**-alpha" + ")" * 500, "nested more than"),
        ("E + A * N**-alpha", "E + A * N**-alpha" + " + E" * 1000, "characters long"),
        ('power = "alpha"', 'power = "alpha * 10**400"', "overflow encountered"),
    ],
    ids=["10**400", "9**9**9**9", "deep", "long", "power"],
)
def test_formula_errors_name_the_file(old, new, message):
    assert old in BASE
    text = refusal(BASE.replace(old, new, 1), FormulaError)
    assert text.startswith("bad.toml: ")
    assert message in text


def test_two_floors_are_refused():
    text = BASE.replace('[parameters.A]\nrole = "coefficient"', '[parameters.A]\nrole = "floor"')
    assert text != BASE
    message = refusal(text)
    assert "bad.toml: law 'power_law_N': E and A both have the role 'floor'" in message


# --------------------------------------------------------------------------- calls


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        (
            {"dist": "LogNormal", "mu": 0.0, "sigma": -1},
            "Law.from_formula: priors.alpha.sigma = -1: a LogNormal's sigma must be > 0",
        ),
        (
            {"dist": "LogNormal", "mu": 0.0, "sgma": 1.0},
            "Law.from_formula: priors.alpha.sgma: unknown parameter of LogNormal "
            "(did you mean 'sigma'?)",
        ),
        (
            Prior("HalfNormal", sigma=-1.0),
            "Law.from_formula: priors.alpha.sigma = -1.0: a HalfNormal's sigma must be > 0",
        ),
        (
            Prior("HalfNormal", sigma=float("nan")),
            "Law.from_formula: priors.alpha.sigma = nan: not a finite number",
        ),
        (
            Prior("Normal", mu=Prior("Normal"), sigma=1.0),
            "Law.from_formula: priors.alpha.mu = Prior(",
        ),
        (Prior("HalfNormal", sigma=1.0, dims="x"), "Law.from_formula: priors.alpha: dims="),
        (
            Prior("HalfNormal", sigma=1.0, transform="exp"),
            "Law.from_formula: priors.alpha: transform=",
        ),
    ],
    ids=["negative", "misspelt", "Prior", "Prior-nan", "hierarchical", "dims", "transform"],
)
def test_from_formula_refuses_bad_priors(prior, message):
    with pytest.raises(LawError) as info:
        Law.from_formula("E + A * N**-alpha", priors={**PL_PRIORS, "alpha": prior})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("option", "value"), [("roles", {"alpah": "exponent"}), ("at_reference", {"Z": ("N", 1)})]
)
def test_from_formula_refuses_options_for_unknown_parameters(option, value):
    with pytest.raises(LawError) as info:
        Law.from_formula("E + A * N**-alpha", priors=PL_PRIORS, **{option: value})
    name = next(iter(value))
    assert f"Law.from_formula: {option}.{name}: unknown parameter" in str(info.value)
    assert "the parameters are E, A, alpha" in str(info.value)


def test_with_priors_suggests_the_parameter_meant():
    with pytest.raises(LawError, match=r"no parameter 'alpah' \(did you mean 'alpha'\?\)"):
        get_law("chinchilla").with_priors({"alpah": LOGNORMAL})


def test_from_formula_refuses_a_bad_likelihood_object():
    bad = Likelihood(sigma=Prior("HalfNormal", sigma=-0.1))
    with pytest.raises(LawError, match=r"law 'custom': likelihood\.sigma\.sigma = -0\.1: "):
        Law.from_formula("E + A * N**-alpha", priors=PL_PRIORS, likelihood=bad)


@pytest.mark.parametrize(
    ("priors", "message"),
    [
        (
            {"alpha": {"dist": "LogNormal", "mu": 0.0, "sigma": float("nan")}},
            "Law.with_priors (law 'chinchilla'): priors.alpha.sigma = nan: not a finite number",
        ),
        (
            {"sigma": {"dist": "HalfNormal", "sigma": 0.0}},
            "Law.with_priors (law 'chinchilla'): priors.sigma.sigma = 0.0: "
            "a HalfNormal's sigma must be > 0",
        ),
        (
            {"nu": {"dist": "Gamma", "alpha": 2.0, "beta": -0.1}},
            "Law.with_priors (law 'chinchilla'): priors.nu.beta = -0.1",
        ),
        (
            {"sigma": {"dist": "Normal", "mu": 0.0, "sigma": 0.1}},
            "law 'chinchilla': likelihood.sigma: the prior of the noise sigma must be positive",
        ),
    ],
    ids=["nan", "zero-noise", "nu", "signed-noise"],
)
def test_with_priors_refuses_bad_priors(priors, message):
    with pytest.raises(LawError) as info:
        get_law("chinchilla").with_priors(priors)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(formla=d.pop("formula")), "law 'chinchilla': formla: unknown key"),
        (
            lambda d: d["parameters"]["E"].update(rol="floor"),
            "law 'chinchilla': parameters.E.rol: unknown key (did you mean 'role'?)",
        ),
        (
            lambda d: d["parameters"]["E"]["prior"].update(sigma=-1.0),
            "law 'chinchilla': parameters.E.prior.sigma = -1.0",
        ),
        (
            lambda d: d["likelihood"]["sigma"].update(sigma=float("inf")),
            "law 'chinchilla': likelihood.sigma.sigma = inf",
        ),
    ],
    ids=["top", "parameter", "prior", "noise"],
)
def test_from_dict_refuses_edited_dicts(edit, message):
    data = json.loads(get_law("chinchilla").to_json())
    edit(data)
    with pytest.raises(LawError) as info:
        Law.from_dict(data)
    assert message in str(info.value)


def test_from_dict_refuses_a_non_table():
    with pytest.raises(LawError, match=r"a law is a table of name, formula, inputs"):
        Law.from_dict(["chinchilla"])


# --------------------------------------------------------------------------- what still loads

#: Valid priors of every distribution in the table, and one outside it.
GOOD_PRIORS = [
    {"dist": "LogNormal", "mu": -1.2, "sigma": 0.75},
    {"dist": "LogNormal", "mu": 0, "tau": 2},
    {"dist": "Normal", "mu": 0.3, "sigma": 0.1},
    {"dist": "HalfNormal", "sigma": 1.0},
    {"dist": "HalfStudentT", "nu": 3.0, "sigma": 1.0},
    {"dist": "HalfCauchy", "beta": 1.0},
    {"dist": "StudentT", "nu": 3.0, "mu": 0.3, "sigma": 0.1},
    {"dist": "Cauchy", "alpha": 0.3, "beta": 0.1},
    {"dist": "Gamma", "alpha": 2.0, "beta": 5.0},
    {"dist": "Gamma", "mu": 0.3, "sigma": 0.1},
    {"dist": "InverseGamma", "alpha": 3.0, "beta": 1.0},
    {"dist": "Exponential", "lam": 3.0},
    {"dist": "Exponential", "scale": 0.3},
    {"dist": "Weibull", "alpha": 2.0, "beta": 0.3},
    {"dist": "TruncatedNormal", "mu": 0.3, "sigma": 0.2, "lower": 0.0},
    {"dist": "TruncatedNormal", "mu": 0.3, "sigma": 0.2, "lower": 0.0, "upper": 1.0},
    {"dist": "Uniform", "lower": 0.0, "upper": 2.0},
    {"dist": "Uniform"},
    {"dist": "Beta", "alpha": 2.0, "beta": 5.0},
    {"dist": "Beta", "mu": 0.3, "sigma": 0.1},
    {"dist": "Laplace", "mu": 0.3, "b": 0.1},
    {"dist": "Moyal", "mu": 0.3, "sigma": 0.1},
]


@pytest.mark.parametrize("prior", GOOD_PRIORS, ids=[json.dumps(p) for p in GOOD_PRIORS])
def test_valid_priors_load_and_round_trip(prior):
    law = Law.from_formula(
        "E + A * N**-alpha",
        priors={**PL_PRIORS, "alpha": prior},
        likelihood=Likelihood(family="normal", nu=None),
    )
    copy = Law.from_dict(json.loads(law.to_json()))
    assert copy.to_dict() == law.to_dict()
    assert copy.parameters["alpha"].prior.distribution == prior["dist"]


@pytest.mark.parametrize("name", sorted(catalog()))
def test_catalog_laws_load_unchanged_and_round_trip(name):
    law = get_law(name)
    assert law.source_text == catalog()[name].read_text(encoding="utf-8")
    assert Law.from_dict(law.to_dict()).to_dict() == law.to_dict()
    assert Law.from_dict(json.loads(law.to_json())).to_dict() == law.to_dict()
    changed = law.with_priors({"sigma": {"dist": "HalfNormal", "sigma": 0.05}})
    assert Law.from_dict(changed.to_dict()).to_dict() == changed.to_dict()


# ------------------------------------------------------------- pooling declared in the file

CHINCHILLA = catalog()["chinchilla"].read_text(encoding="utf-8")


def test_a_law_file_declares_its_pooling_and_a_call_overrides_it() -> None:
    import numpy as np
    import pandas as pd

    from bayescale.data import load_runs
    from bayescale.fitting import _pooling_of

    text = CHINCHILLA + '\n[pooling]\nalpha = "shared"\nE = "separate"\n'
    law = Law.from_toml(text, source="grouped.toml")
    assert law.pooling == {"alpha": "shared", "E": "separate"}
    again = Law.from_dict(json.loads(law.to_json()))
    assert again.pooling == law.pooling  # saved with a fit, reloaded with it
    assert "pooling" not in get_law("chinchilla").to_dict()  # undeclared: description unchanged
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"N": 10 ** rng.uniform(7, 9, 12), "D": 10 ** rng.uniform(9, 11, 12), "loss": 3.0}
    )
    runs = load_runs(frame.assign(set=["a", "b"] * 6), group="set")
    kinds = _pooling_of(law, runs, None).kinds
    assert (kinds["alpha"], kinds["E"], kinds["beta"]) == ("shared", "separate", "pooled")
    assert set(_pooling_of(law, runs, "complete").kinds.values()) == {"shared"}
    assert _pooling_of(get_law("chinchilla"), runs, None).kinds["alpha"] == "pooled"


def test_a_wrong_pooling_table_is_refused_when_the_file_is_read() -> None:
    message = refusal(CHINCHILLA + '\n[pooling]\ngamma = "shared"\n')
    assert "bad.toml" in message and "no parameter 'gamma'" in message
    message = refusal(CHINCHILLA + '\n[pooling]\nalpha = "sometimes"\n')
    assert "bad.toml" in message and "sometimes" in message
    assert "must be a table" in refusal(
        CHINCHILLA.replace('name = "chinchilla"', 'pooling = 3\nname = "chinchilla"')
    )


def test_a_pooling_table_with_a_shorthand_or_a_spread_without_population_is_refused() -> None:
    # Before, default = "partial" was read as "pooled", and a shared parameter's spread was
    # ignored (with a warning that scripts filtering warnings never showed).
    message = refusal(CHINCHILLA + '\n[pooling]\nalpha = "shared"\ndefault = "partial"\n')
    assert "bad.toml" in message and "'partial' is not a kind" in message
    assert "did you mean 'pooled'?" in message
    message = refusal(CHINCHILLA + '\n[pooling]\nE = { kind = "shared", spread = 0.3 }\n')
    assert "bad.toml" in message and "a spread applies only to a pooled parameter" in message
    assert "not to a 'shared' one" in message
    message = refusal(CHINCHILLA + '\n[pooling]\nE = { kind = "separate", spread = 0.3 }\n')
    assert "not to a 'separate' one" in message
    # Declared as documented, the same tables read.
    law = Law.from_toml(
        CHINCHILLA + '\n[pooling]\ndefault = "pooled"\nE = { kind = "pooled", spread = 0.3 }\n',
        source="good.toml",
    )
    assert law.pooling["default"] == "pooled"
