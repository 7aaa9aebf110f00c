"""Discrete-time simulation: iterate x_{k+1} = F(k, x_k, u_k) + eps_k with `lax.scan`."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._inputs import AbstractInput
from .._models.discrete_map import AbstractDiscreteMap
from .trajectory import RESULTS, SolverStats, Trajectory, failed_result


@eqx.filter_jit
def simulate_map(
    model: AbstractDiscreteMap,
    inputs: AbstractInput | None,
    x0: Float[Array, " n"],
    steps: Int[Array, " T"],
    k0: int,
    n_steps: int,
    key: PRNGKeyArray | None,
) -> Trajectory:
    """States at the step indices `steps`, iterating from step k0 for n_steps steps."""
    ks = k0 + jnp.arange(n_steps)
    if key is None or model.noise_std is None:
        noise = jnp.zeros((n_steps, *x0.shape), x0.dtype)
    else:
        noise = model.noise_std * jr.normal(key, (n_steps, *x0.shape), x0.dtype)

    times = ks.astype(x0.dtype) * model.dt

    def step(x: Array, k_t_eps: tuple[Array, Array, Array]) -> tuple[Array, Array]:
        k, t, eps = k_t_eps
        u = None if inputs is None else inputs(t)
        x_next = model(k, x, u) + eps
        return x_next, x_next

    _, path = jax.lax.scan(step, x0, (ks, times, noise))
    path = jnp.concatenate([x0[None], path])
    xs = path[steps - k0]
    stats = SolverStats(
        num_steps=jnp.asarray(n_steps),
        num_accepted_steps=jnp.asarray(n_steps),
        num_rejected_steps=jnp.asarray(0),
        num_rhs_evaluations=jnp.asarray(n_steps),
        solver="discrete map",
    )
    return Trajectory(
        ts=steps.astype(x0.dtype) * model.dt,
        xs=xs,
        stats=stats,
        result=failed_result(RESULTS.successful, path[-1]),
        t_reached=jnp.asarray((k0 + n_steps) * model.dt, x0.dtype),
        x_reached=path[-1],
    )
