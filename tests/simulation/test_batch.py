"""`map_simulations`: the same simulations as `jax.vmap`, without batching a batch of one."""

import jax
import jax.numpy as jnp
import numpy as np

import cellode as cd
from cellode._simulation.batch import map_simulations


def decay(x0, k):
    field = cd.FunctionField(lambda t, x, u, k: -k * x, k)
    ts = jnp.linspace(0.5, 2.0, 4)
    return cd.simulate(field, x0, ts, t0=0.0, solver="tsit5", rtol=1e-10, atol=1e-12).xs


def test_a_batch_of_one_is_solved_unbatched_with_the_vmap_result():
    x0, k = jnp.array([[2.0, 1.0]]), jnp.array([[0.7, 0.3]])
    seen = []

    def spy(x, p):
        seen.append(isinstance(x, jax.core.Tracer))
        return decay(x, p)

    got = map_simulations(spy, x0, k)
    assert seen == [False]  # called once on the member's arrays, not traced under vmap
    np.testing.assert_allclose(got, jax.vmap(decay)(x0, k), rtol=1e-12)
    exact = np.asarray(x0)[:, None, :] * np.exp(
        -np.asarray(k)[:, None, :] * np.linspace(0.5, 2, 4)[None, :, None]
    )
    np.testing.assert_allclose(got, exact, rtol=1e-8)


def test_a_batch_of_several_is_vmapped():
    x0, k = jnp.array([[2.0, 1.0], [1.0, 3.0]]), jnp.array([[0.7, 0.3], [0.1, 0.2]])
    got = map_simulations(decay, x0, k)
    assert got.shape == (2, 4, 2)
    np.testing.assert_allclose(got, jax.vmap(decay)(x0, k), rtol=1e-12)
