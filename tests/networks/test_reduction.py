"""Simulations keep every conservation law; the reduced model (SPEC B2) agrees with the full one."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cellode import (
    ReactionNetwork,
    ReducedField,
    choose_dependent_species,
    conservation_drift,
    simulate,
)

from .network_catalog import MAPK

PARAMS = {
    "a1": 5.0, "d1": 1.0, "c1": 2.0, "a2": 4.0, "d2": 1.0, "c2": 1.5,
    "a3": 3.0, "d3": 0.5, "c3": 2.5, "a4": 2.0, "d4": 0.7, "c4": 1.0,
}  # fmt: skip
X0 = {"KKK": 1.0, "E1": 0.3, "E2": 0.2, "KK": 2.0, "P1": 0.4}


@pytest.fixture(scope="module")
def m():
    net = ReactionNetwork.from_text(MAPK, parameters=PARAMS, initial=X0)
    field = net.vector_field()
    laws = net.conservation_laws()
    x0 = jnp.asarray(net.x0())
    ts = jnp.linspace(0.0, 10.0, 41)
    full = simulate(field, x0, ts, solver="tsit5", rtol=1e-10, atol=1e-12)
    return SimpleNamespace(net=net, field=field, laws=laws, x0=x0, ts=ts, full=full)


def test_full_simulation_keeps_every_law(m):
    assert len(m.laws) == 5
    drift = np.asarray(conservation_drift(m.laws, m.full.xs))
    assert np.all(drift < 1e-9), drift
    # the trajectory moves: the check is not trivially satisfied by a constant state
    assert float(jnp.max(jnp.abs(m.full.xs[-1] - m.full.xs[0]))) > 0.1


def test_reduced_model_agrees_with_full_model(m):
    reduced = ReducedField(m.field, m.laws, m.x0)
    assert len(reduced.species) == m.net.n_species - len(m.laws)
    np.testing.assert_allclose(reduced.reconstruct(reduced.reduce_state(m.x0)), m.x0, atol=1e-15)
    sol = simulate(
        reduced, reduced.reduce_state(m.x0), m.ts, solver="kvaerno5", rtol=1e-10, atol=1e-12
    )
    xs = reduced.reconstruct(sol.xs)
    np.testing.assert_allclose(xs, m.full.xs, atol=1e-7)
    assert np.all(np.asarray(conservation_drift(m.laws, xs)) < 1e-12)  # exact by construction


def test_reduction_removes_the_singular_directions(m):
    x = m.full.xs[10]
    J_full = jax.jacobian(lambda y: m.field(0.0, y, None))(x)
    reduced = ReducedField(m.field, m.laws, m.x0)
    J_red = jax.jacobian(lambda y: reduced(0.0, y, None))(reduced.reduce_state(x))
    n, k = m.net.n_species, len(m.laws)
    # W J = W S dv/dx = 0: every law is a left null vector of the full Jacobian
    np.testing.assert_allclose(m.laws.matrix @ np.asarray(J_full), 0.0, atol=1e-12)
    assert np.linalg.matrix_rank(np.asarray(J_full)) <= n - k
    assert np.linalg.matrix_rank(np.asarray(J_red)) == n - k


def test_dependent_species_rule_prefers_abundant_species():
    net = ReactionNetwork.from_text("E + S <-> ES ; k1, k2\nES -> E + P ; kcat")
    laws = net.conservation_laws()  # E + ES, S + ES + P
    x0 = net.x0({"E": 1.0, "S": 10.0})
    dep = choose_dependent_species(laws, x0)
    assert [net.species[i] for i in dep] == ["E", "S"]
    # with product abundant instead, P is eliminated from the second law
    x0b = net.x0({"E": 1.0, "S": 0.1, "P": 50.0})
    assert [net.species[i] for i in choose_dependent_species(laws, x0b)] == ["E", "P"]


def test_totals_carry_gradients_to_x0():
    net = ReactionNetwork.from_text("X1 + X2 <-> X3 ; kf, kr", parameters={"kf": 1.0, "kr": 1.0})
    field, laws = net.vector_field(), net.conservation_laws()

    def dx3_dt(x0):
        reduced = ReducedField(field, laws, x0, dependent=[0, 1])  # keep X3
        return reduced(0.0, jnp.array([0.5]), None)[0]

    x0 = jnp.array([1.0, 2.0, 0.0])
    # X1 = 1 - 0.5, X2 = 2 - 0.5: dX3/dt = kf X1 X2 - kr X3 = (x1_0 + x3_0 - 0.5)(x2_0 + x3_0 - 0.5) - 0.5
    g = jax.grad(dx3_dt)(x0)
    np.testing.assert_allclose(g, [1.5, 0.5, 2.0], rtol=1e-14)
