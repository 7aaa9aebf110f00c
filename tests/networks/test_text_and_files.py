"""Reading networks from text, Python objects and model files; errors that name line and fix."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellode import (
    Constant,
    ExpressionRate,
    MassAction,
    MassActionRate,
    ModelError,
    RateLawField,
    Reaction,
    ReactionNetwork,
    load_model,
    parse_expression,
)
from cellode._networks.expressions import evaluate, free_names

MODELS = __import__("pathlib").Path(__file__).parent / "models"


def test_reversible_synthesis_and_coefficients():
    net = ReactionNetwork.from_text(
        """
        X1 + X2 <-> X3 ; kf, kr
        -> mRNA ; k_tx          # synthesis
        mRNA -> ; d             # degradation
        2 A -> A2 ; k
        """
    )
    assert net.species == ("X1", "X2", "X3", "mRNA", "A", "A2")
    assert net.n_reactions == 5
    S = net.stoichiometry
    assert S.dtype == np.int64 and S.shape == (6, 5)
    np.testing.assert_array_equal(S[:, 0], [-1, -1, 1, 0, 0, 0])
    np.testing.assert_array_equal(S[:, 1], [1, 1, -1, 0, 0, 0])
    np.testing.assert_array_equal(S[:, 2], [0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(S[:, 3], [0, 0, 0, -1, 0, 0])
    np.testing.assert_array_equal(S[:, 4], [0, 0, 0, 0, -2, 1])
    assert net.reactant_matrix[4, 4] == 2
    assert net.parameter_names == ("kf", "kr", "k_tx", "d", "k")
    assert net.is_mass_action


def test_names_and_rate_laws():
    net = ReactionNetwork.from_text(
        """
        R1: E + S <-> ES ; k1, k2
        conv: A -> B ; rate = Vmax*A/(Km + A)
        A -> C ; michaelis_menten(V2, K2)
        -> P ; rate = hill(C, vh, Kh, nh)
        """
    )
    assert net.reaction_names == ("R1_fwd", "R1_rev", "conv", "R4", "R5")
    assert isinstance(net.reactions[2].rate, ExpressionRate)
    assert net.reactions[3].rate.substrate == "A"
    assert not net.is_mass_action


def test_from_python_objects_equals_text():
    from_text = ReactionNetwork.from_text("E + S <-> ES ; k1, k2\nES -> E + P ; kcat")
    from_objects = ReactionNetwork(
        species=["E", "S", "ES", "P"],
        reactions=[
            Reaction.mass_action({"E": 1, "S": 1}, {"ES": 1}, "k1"),
            Reaction.mass_action({"ES": 1}, {"E": 1, "S": 1}, "k2"),
            Reaction(
                reactants=(("ES", 1),), products=(("E", 1), ("P", 1)), rate=MassActionRate("kcat")
            ),
        ],
    )
    np.testing.assert_array_equal(from_text.stoichiometry, from_objects.stoichiometry)
    assert from_text.parameter_names == from_objects.parameter_names
    # and round trip through the text form
    again = ReactionNetwork.from_text(from_objects.to_text())
    np.testing.assert_array_equal(again.stoichiometry, from_objects.stoichiometry)


BAD_TEXT = [
    ("A + B -> C ; k\nA => B ; k", "line 2", "unknown arrow '=>'"),
    ("A --> B ; k", "line 1", "use '->'"),
    ("A B ; k", "line 1", "no arrow"),
    ("-1 A -> B ; k", "line 1", "negative coefficient"),
    ("A -> 1.5 B ; k", "line 1", "positive integer"),
    ("A -> B", "line 1", "no rate"),
    ("R1: A -> B ; k\nR1: B -> C ; k", "line 2", "'R1' is already used on line 1"),
    ("A -> B ; rate = k * foo(A)", "line 1", "unknown function 'foo'"),
    ("A -> B ; rate = __import__('os').system('ls')", "line 1", "unexpected character"),
    ("A -> B ; rate = __import__(os)", "line 1", "may not start with '__'"),
    ("A -> B ; rate = k *", "line 1", "unexpected end"),
    ("A -> B ; rate = exp(A, B)", "line 1", "exp takes 1 arguments"),
    ("A -> B ; k1, k2", "line 1", "takes one rate"),
    ("A <-> B ; k1", "line 1", "needs two rates"),
    ("A + B -> C ; michaelis_menten(V, K)", "line 1", "exactly one reactant"),
]


@pytest.mark.parametrize(("text", "where", "what"), BAD_TEXT)
def test_malformed_text_names_line_and_fix(text, where, what):
    with pytest.raises(ModelError) as info:
        ReactionNetwork.from_text(text)
    assert where in str(info.value)
    assert what in str(info.value)


def test_declared_names_are_enforced():
    with pytest.raises(ModelError, match=r"line 2 .*'Cx'.* neither a declared species"):
        ReactionNetwork.from_text(
            "A -> B ; k\nB -> A ; rate = k * Cx", species=["A", "B"], parameters={"k": 1.0}
        )
    with pytest.raises(ModelError, match="consumes 'ATP', which is not a declared species"):
        ReactionNetwork.from_text("ATP -> ADP ; k", species=["ADP"])
    with pytest.raises(ModelError, match="same name as a species"):
        ReactionNetwork(
            species=("A", "B"), reactions=(Reaction.mass_action({"A": 1}, {"B": 1}, "B"),)
        )


def test_reaction_objects_are_validated():
    with pytest.raises(ModelError, match="not a positive integer"):
        Reaction.mass_action({"A": -1}, {"B": 1}, "k")
    with pytest.raises(ModelError, match="used twice"):
        ReactionNetwork(
            species=("A", "B"),
            reactions=(
                Reaction.mass_action({"A": 1}, {"B": 1}, "k", name="R"),
                Reaction.mass_action({"B": 1}, {"A": 1}, "k", name="R"),
            ),
        )


def test_expression_parser_is_a_parser_not_eval():
    tree = parse_expression("-x^2 + 2*y/(1 + exp(-t)) - max(x, y, 3) + pi")
    assert free_names(tree) == {"x", "y", "t"}
    value = evaluate(tree, {"x": 3.0, "y": 2.0, "t": 0.0})
    assert float(value) == pytest.approx(-9 + 4 / 2 - 3 + np.pi)
    assert float(evaluate(parse_expression("2^3^2"), {})) == 2.0**9  # right-associative
    for attack in ["().__class__", "A.__dict__", "open('f')", "lambda: 0", "x; y", "x[0]"]:
        with pytest.raises(ModelError):
            parse_expression(attack)


def test_rate_law_field_values_inputs_and_time():
    net = ReactionNetwork.from_text(
        """
        A -> B ; michaelis_menten(Vmax, Km)
        -> A ; rate = kin * L * exp(-t)
        B -> ; rate = hill(B, v, K, nh)
        """,
        inputs=["L"],
        parameters={"Vmax": 2.0, "Km": 0.5, "kin": 3.0, "v": 1.5, "K": 1.0, "nh": 2.0},
    )
    field = net.vector_field()
    assert isinstance(field, RateLawField)
    x, u, t = jnp.array([1.0, 2.0]), jnp.array([0.5]), 0.7
    mm = 2.0 * 1.0 / (0.5 + 1.0)
    hill = 1.5 * 4.0 / (1.0 + 4.0)
    supply = 3.0 * 0.5 * np.exp(-0.7)
    np.testing.assert_allclose(field.rates(t, x, u), [mm, supply, hill], rtol=1e-14)
    np.testing.assert_allclose(field(t, x, u), [supply - mm, mm - hill], rtol=1e-14)
    logged = net.vector_field(log_scale=True)
    np.testing.assert_allclose(logged(t, x, u), field(t, x, u), rtol=1e-13)
    with pytest.raises(Exception, match="pass `inputs=`"):
        field(t, x, None)


def test_mass_action_rates_and_gradients():
    net = ReactionNetwork.from_text("2 A + B -> C ; k\nC -> ; d", parameters={"k": 2.0, "d": 0.5})
    field = net.vector_field(log_scale=True)
    assert isinstance(field, MassAction)
    x = jnp.array([1.5, 2.0, 0.5])
    np.testing.assert_allclose(field.rates(0.0, x, None), [2.0 * 1.5**2 * 2.0, 0.25])
    np.testing.assert_allclose(field(0.0, x, None), [-18.0, -9.0, 9.0 - 0.25])
    grad = jax.grad(lambda m: m(0.0, x, None)[2])(field)  # d(dC/dt)/d ln k = v_1, / d ln d = -v_2
    np.testing.assert_allclose(grad.parameters, [9.0, -0.25], rtol=1e-14)
    # finite gradients at zero concentration (no x^0 terms)
    gx = jax.jacobian(lambda y: field(0.0, y, None))(jnp.zeros(3))
    assert bool(jnp.all(jnp.isfinite(gx)))


def test_model_file_loads_everything():
    model = load_model(MODELS / "enzyme.toml")
    net = model.network
    assert net.species == ("E", "S", "ES", "P")
    assert net.reaction_names[:2] == ("bind_fwd", "bind_rev")
    np.testing.assert_array_equal(model.x0, [1.0, 5.0, 0.0, 0.0])
    assert net.inputs == ("L",)
    assert model.t_end == 20.0 and model.n_points == 101
    np.testing.assert_allclose(model.inputs(1.0), [1.0])
    np.testing.assert_allclose(model.inputs(6.0), [0.0])
    field = model.vector_field()
    assert isinstance(field, RateLawField)
    rates = field.rates(0.0, jnp.asarray(model.x0), Constant([1.0])(0.0))
    np.testing.assert_allclose(rates, [2.0 * 5.0, 0.0, 0.0, 0.2, 0.0])
    assert ReactionNetwork.from_file(MODELS / "enzyme.toml").species == net.species


def _write(tmp_path, reactions: str, extra: str = "") -> str:
    path = tmp_path / "m.toml"
    path.write_text(
        f"reactions = '''\n{reactions}\n'''\n[species]\nA = 1.0\nB = 0.0\n"
        f"[parameters]\nk = 1.0\n{extra}"
    )
    return path


@pytest.mark.parametrize(
    ("reactions", "extra", "message"),
    [
        ("A -> B ; k\nA -> C ; k", "", r"m.toml, line 3 .*produces 'C', which is not a declared"),
        ("A -> B ; k\nB -> A ; rate = k * Q", "", r"line 3 .*'Q', which is neither a declared"),
        ("A -> B ; k\nB => A ; k", "", r"line 3 .*unknown arrow"),
        ("A -> B ; k", "kk = 2.0\n", r"\['kk'\] are declared but no rate uses them"),
        ("A -> B ; k", "[extra]\n", r"unknown keys \['extra'\]"),
    ],
)
def test_model_file_errors_name_the_line(tmp_path, reactions, extra, message):
    with pytest.raises(ModelError, match=message):
        load_model(_write(tmp_path, reactions, extra))


def test_model_file_rejects_negative_initial_values(tmp_path):
    path = tmp_path / "neg.toml"
    path.write_text("reactions = 'A -> B ; k'\n[species]\nA = -1.0\nB = 0\n[parameters]\nk = 1\n")
    with pytest.raises(ModelError, match="initial value of species 'A' must be >= 0"):
        load_model(path)


@st.composite
def random_networks(draw):
    n = draw(st.integers(1, 5))
    species = [f"S{i}" for i in range(n)]
    lines = []
    for j in range(draw(st.integers(1, 6))):
        sides = []
        for _ in range(2):
            coeffs = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
            sides.append(" + ".join(f"{c} {s}" for c, s in zip(coeffs, species, strict=True) if c))
        arrow = draw(st.sampled_from(["->", "<->"]))
        rate = f"k{j}, r{j}" if arrow == "<->" else f"k{j}"
        lines.append(f"{sides[0]} {arrow} {sides[1]} ; {rate}")
    return species, "\n".join(lines)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(random_networks())
def test_text_round_trip(case):
    species, text = case
    net = ReactionNetwork.from_text(text, species=species)
    again = ReactionNetwork.from_text(net.to_text(), species=species)
    np.testing.assert_array_equal(again.stoichiometry, net.stoichiometry)
    np.testing.assert_array_equal(again.reactant_matrix, net.reactant_matrix)
    assert again.parameter_names == net.parameter_names
    # S = products - reactants column by column, as written
    assert net.n_reactions == sum(2 if "<->" in line else 1 for line in text.splitlines())


def test_round_trip_of_other_rate_laws():
    text = "A -> B ; michaelis_menten(V, K)\n-> A ; rate = hill(B, v, K2, n)\nB -> ; rate = d*B^2"
    net = ReactionNetwork.from_text(text)
    again = ReactionNetwork.from_text(net.to_text())
    p = {name: 1.0 + i for i, name in enumerate(net.parameter_names)}
    x = jnp.array([0.3, 1.7])
    np.testing.assert_allclose(
        again.vector_field(p)(0.0, x, None), net.vector_field(p)(0.0, x, None), rtol=1e-15
    )


def test_reserved_names_cannot_be_species():
    with pytest.raises(ModelError, match=r"'t' cannot name a species or input: .* time"):
        ReactionNetwork.from_text("t -> B ; k")
    with pytest.raises(ModelError, match="'exp' cannot name a species or input"):
        ReactionNetwork.from_text("A -> B ; rate = k * exp", inputs=["exp"])
