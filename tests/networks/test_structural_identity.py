"""A network read twice is the same static structure: models built on it share compiled code."""

import jax.numpy as jnp

import cellode as cd


def test_reloaded_network_is_equal_and_hashes_alike_whatever_the_values():
    path = cd.builtin_model_path("cascade")
    a, b = cd.load_model(path).network, cd.load_model(path).network
    assert a is not b and a == b and hash(a) == hash(b)
    other_values = cd.ReactionNetwork(
        a.species, a.reactions, {**a.parameters, "kon": 9.0}, a.initial, a.inputs, a.name
    )
    assert other_values == a
    renamed = cd.ReactionNetwork(a.species, a.reactions[:-1], {}, a.initial, a.inputs, a.name,
                                 strict=False)  # fmt: skip
    assert renamed != a


CALLS = []


def counted(t, x, u, field):
    CALLS.append(1)  # runs only while JAX traces
    return field(t, x, u)


def test_simulating_a_reloaded_model_does_not_retrace():
    path = cd.builtin_model_path("cascade")
    counts = []
    for _ in range(3):
        model = cd.load_model(path)  # a new network object each time
        traced = cd.FunctionField(counted, model.network.vector_field())
        cd.simulate(traced, model.x0, jnp.linspace(0, 10, 5), inputs=model.inputs, solver="tsit5")
        counts.append(len(CALLS))
    assert counts[0] > 0
    assert counts[2] == counts[1] == counts[0]
