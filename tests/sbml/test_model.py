"""SBML models with known solutions: amounts, concentrations, varying compartments, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode
from cellode import SbmlError, load_sbml

from .builder import SbmlBuilder

TS = jnp.linspace(0.0, 2.0, 5)


def decay_model() -> str:
    """A -> B in a compartment of size 2, rate k [A] V (amount/time): [A](t) = e^(-k t)."""
    return (
        SbmlBuilder()
        .compartment("V", 2.0)
        .species("A", "V", conc=1.0)
        .species("B", "V", conc=0.0)
        .parameter("k", 0.7)
        .reaction("R1", {"A": 1}, {"B": 1}, "k * A * V")
        .text()
    )


def growing_model() -> str:
    """Compartment V' = g V (V0 = 1); S has no reactions (its amount stays 1, [S] = e^(-g t));
    P is made at kp * V amount/time, so n_P = kp/g (e^(g t) - 1) and [P] = kp/g (1 - e^(-g t)).
    r = rateOf(S) = -g [S]."""
    return (
        SbmlBuilder()
        .compartment("V", 1.0, constant=False)
        .species("S", "V", conc=1.0)
        .species("P", "V", conc=0.0)
        .parameter("g", 0.5)
        .parameter("kp", 2.0)
        .parameter("r", constant=False)
        .rate_rule("V", "g * V")
        .reaction("make", {}, {"P": 1}, "kp * V")
        .assignment_rule("r", "rateOf(S)")
        .text()
    )


@pytest.fixture(scope="module")
def decay():
    return load_sbml(decay_model())


def test_decay_matches_the_analytic_solution(decay):
    assert decay.state_ids == ("A", "B")
    assert decay.constant_ids == ("V", "k")
    x0 = decay.initial_state()
    np.testing.assert_allclose(x0, [2.0, 0.0])  # amounts = concentration * size
    traj = cellode.simulate(decay, x0, TS, solver="tsit5", rtol=1e-10, atol=1e-12)
    conc = jax.jit(jax.vmap(lambda t, x: decay.symbols(t, x, ids=("A", "B", "R1"))["A"]))(
        TS, traj.xs
    )
    np.testing.assert_allclose(conc, np.exp(-0.7 * TS), rtol=1e-7)
    # Amount is conserved: A + B = 2 along the solution, and the network knows it.
    np.testing.assert_allclose(traj.xs.sum(axis=1), 2.0, rtol=1e-9)
    sym = decay.symbols(0.0, x0)
    np.testing.assert_allclose(sym["R1"], 0.7 * 1.0 * 2.0)


def test_constants_and_overrides_speak_sbml_units(decay):
    p = decay.constant_values.at[decay.constant_ids.index("V")].set(4.0)
    np.testing.assert_allclose(decay.initial_state(p), [4.0, 0.0])
    x0 = decay.initial_state(overrides={"A": jnp.asarray(0.5), "B": jnp.asarray(jnp.nan)})
    np.testing.assert_allclose(x0, [1.0, 0.0])  # 0.5 concentration * size 2; NaN keeps B
    batched = jax.vmap(lambda a: decay.initial_state(overrides={"A": a}))(jnp.array([1.0, 3.0]))
    np.testing.assert_allclose(batched[:, 0], [2.0, 6.0])
    with pytest.raises(SbmlError, match="constants"):
        decay.initial_state(overrides={"k": 1.0})


def test_rhs_is_differentiable_in_the_constants(decay):
    x0 = decay.initial_state()
    grad = jax.grad(lambda p: decay.rhs(0.0, x0, p)[0])(decay.constant_values)
    # dA_amount/dt = -k [A] V with [A] = n_A / V fixed by the state: d/dk = -n_A = -2, d/dV = 0
    np.testing.assert_allclose(grad, [0.0, -2.0], atol=1e-12)


def test_varying_compartment_keeps_amounts_and_dilutes_concentrations():
    model = load_sbml(growing_model())
    assert set(model.state_ids) == {"S", "P", "V"}
    traj = cellode.simulate(
        model, model.initial_state(), TS, solver="tsit5", rtol=1e-10, atol=1e-12
    )
    sym = jax.jit(jax.vmap(lambda t, x: model.symbols(t, x, ids=("S", "P", "V", "r"))))(TS, traj.xs)
    g, kp = 0.5, 2.0
    np.testing.assert_allclose(sym["V"], np.exp(g * TS), rtol=1e-8)
    np.testing.assert_allclose(sym["S"], np.exp(-g * TS), rtol=1e-8)
    np.testing.assert_allclose(sym["P"], kp / g * (1 - np.exp(-g * TS)), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(sym["r"], -g * np.exp(-g * TS), rtol=1e-7)


def test_unsupported_elements_are_listed_with_their_ids():
    text = (
        SbmlBuilder()
        .compartment("C", 1.0)
        .species("X", "C", conc=1.0)
        .parameter("k", 1.0)
        .parameter("z", 1.0, constant=False)
        .reaction("Rdelay", {"X": 1}, {}, "k * delay(X, 1)")
        .event("E1", "time > 1", "k", "2")
        .algebraic_rule("z - X")
        .text()
    )
    with pytest.raises(SbmlError) as info:
        load_sbml(text)
    message = str(info.value)
    assert "event 'E1'" in message
    assert "algebraic rule" in message
    assert "delay" in message and "'Rdelay'" in message


def test_malformed_sbml_names_the_file(tmp_path):
    path = tmp_path / "broken_model.xml"
    path.write_text(decay_model().replace("</listOfSpecies>", ""))
    with pytest.raises(SbmlError, match=r"broken_model\.xml") as info:
        load_sbml(path)
    assert "line" in str(info.value)
    with pytest.raises(SbmlError, match="does not exist"):
        load_sbml(tmp_path / "absent.xml")
