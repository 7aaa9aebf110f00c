"""Memory of one gradient versus the horizon: O(N d) when every step is stored, independent of N
for the checkpointed adjoint (K checkpoints and one segment's dense output, both fixed)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode as cd

A = jnp.array([[-0.01, 1.0], [-1.0, -0.01]])
X0 = jnp.array([1.0, 0.0])


def oscillator(t, x, u, a):
    return a @ x


def temp_bytes_and_grad(horizon, sensitivity, max_steps):
    def loss(a, x0):
        traj = cd.simulate(
            cd.FunctionField(oscillator, a),
            x0,
            jnp.array([horizon]),
            t0=0.0,
            solver="tsit5",
            rtol=1e-8,
            atol=1e-8,
            max_steps=max_steps,
            sensitivity=sensitivity,
        )
        return jnp.sum(traj.xs[-1] ** 2)

    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(A, X0).compile()
    return compiled.memory_analysis().temp_size_in_bytes, compiled(A, X0)


@pytest.mark.slow
def test_memory_scaling_with_the_number_of_steps():
    """Horizon x8 (about 8x the steps, max_steps with it): storing every step costs ~8x the
    memory; CheckpointedAdjoint(K=16, segment_max_steps=128) costs the same at both horizons,
    and its gradient is still right (x(T) = e^{AT} x0, so |x(T)|^2 = e^{-0.02 T} |x0|^2)."""
    horizons, steps = (25.0, 200.0), (500, 4000)
    stored = [
        temp_bytes_and_grad(h, cd.DiscreteAdjoint(checkpoints=s), s)[0]
        for h, s in zip(horizons, steps, strict=True)
    ]
    assert stored[1] / stored[0] > 5
    method = cd.CheckpointedAdjoint(checkpoints=16, segment_max_steps=128)
    checkpointed = []
    for h, s in zip(horizons, steps, strict=True):
        mem, (_, grad_x0) = temp_bytes_and_grad(h, method, s)
        checkpointed.append(mem)
        np.testing.assert_allclose(
            grad_x0, 2 * np.exp(-0.02 * h) * np.asarray(X0), rtol=1e-6, atol=1e-6
        )
    assert checkpointed[1] == pytest.approx(checkpointed[0], rel=0.05)
    assert checkpointed[1] < stored[1] / 3
