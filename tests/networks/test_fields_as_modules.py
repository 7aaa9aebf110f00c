"""Network vector fields are equinox Modules: jit without retracing, vmap over parameter sets."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from cellode import ReactionNetwork

NET = ReactionNetwork.from_text(
    "E + S <-> ES ; k1, k2\nES -> E + P ; kcat\n-> S ; rate = ks * L",
    inputs=["L"],
    parameters={"k1": 2.0, "k2": 1.0, "kcat": 0.5, "ks": 0.3},
)


def test_new_parameter_values_do_not_retrace():
    field = NET.vector_field()

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def f(model, x):
        return model(0.0, x, jnp.array([1.0]))

    x = jnp.array([1.0, 2.0, 0.5, 0.0])
    first = f(field, x)
    other = eqx.tree_at(lambda m: m.parameters, field, field.parameters * 2.0)
    second = f(other, x)
    # every rate doubles with every parameter: v is linear in each parameter here
    np.testing.assert_allclose(second, 2.0 * first, rtol=1e-14)


def test_vmap_over_parameter_sets_equals_a_loop():
    field = NET.vector_field(log_scale=True)
    rng = np.random.default_rng(0)
    stack = jnp.asarray(rng.normal(size=(5, len(NET.parameter_names))))
    population = eqx.tree_at(lambda m: m.parameters, field, stack)
    x, u = jnp.array([1.0, 2.0, 0.5, 0.1]), jnp.array([0.7])
    batched = eqx.filter_vmap(lambda m: m(0.0, x, u))(population)
    for i in range(5):
        one = eqx.tree_at(lambda m: m.parameters, field, stack[i])
        np.testing.assert_allclose(batched[i], one(0.0, x, u), rtol=1e-14)


def test_gradient_matches_finite_differences():
    field = NET.vector_field(log_scale=True)
    x, u = jnp.array([1.0, 2.0, 0.5, 0.1]), jnp.array([0.7])

    def loss(p):
        return jnp.sum(eqx.tree_at(lambda m: m.parameters, field, p)(0.0, x, u) ** 2)

    p0 = field.parameters
    g = jax.grad(loss)(p0)
    eps = 1e-6
    fd = [(loss(p0.at[i].add(eps)) - loss(p0.at[i].add(-eps))) / (2 * eps) for i in range(len(p0))]
    np.testing.assert_allclose(g, jnp.stack(fd), rtol=1e-7)
