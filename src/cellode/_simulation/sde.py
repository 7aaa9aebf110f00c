"""Stochastic simulation: sample paths of dx = f dt + G dW on a fixed step grid (Itô)."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Float, PRNGKeyArray

from .._inputs import AbstractInput
from .._models.sde import SDE
from .problem import rhs
from .trajectory import SolverStats, Trajectory, failed_result


def _diffusion(
    t: Array, x: Array, args: tuple[SDE, AbstractInput | None]
) -> lx.AbstractLinearOperator | Array:
    sde, inputs = args
    u = None if inputs is None else inputs(t)
    g = sde.diffusion(t, x, u)
    return lx.DiagonalLinearOperator(g) if sde.diffusion.noise_dim is None else g


def _drift(t: Array, x: Array, args: tuple[SDE, AbstractInput | None]) -> Array:
    sde, inputs = args
    return rhs(t, x, (sde.drift, inputs))


def step_grid(
    t0: Array, ts: Array, n_uniform: int, inputs: AbstractInput | None
) -> Float[Array, " N"]:
    """Uniform steps on [t0, ts[-1]] merged with the save times and input jumps.

    Coinciding points are pushed apart by a tiny spacing so the grid is strictly increasing
    (its length is static, so duplicates cannot be dropped under `jit`).
    """
    t1 = ts[-1]
    parts = [jnp.linspace(t0, t1, n_uniform + 1), ts]
    if inputs is not None and inputs.discontinuities.shape[0]:
        parts.append(jnp.clip(inputs.discontinuities.astype(ts.dtype), t0, t1))
    grid = jnp.sort(jnp.concatenate(parts))
    scale = jnp.maximum(jnp.maximum(jnp.abs(t0), jnp.abs(t1)), 1.0)
    gap = jnp.maximum(1e-7 * (t1 - t0) / n_uniform, 64 * jnp.finfo(ts.dtype).eps * scale)
    offsets = gap * jnp.arange(grid.shape[0], dtype=ts.dtype)
    return jax.lax.cummax(grid - offsets) + offsets


@eqx.filter_jit
def simulate_sde(
    sde: SDE,
    inputs: AbstractInput | None,
    x0: Float[Array, " n"],
    t0: Float[Array, ""],
    ts: Float[Array, " T"],
    n_uniform: int,
    key: PRNGKeyArray,
    solver: diffrax.AbstractSolver,
    label: str,
) -> Trajectory:
    """One sample path; `jax.vmap` over `key` gives an ensemble."""
    grid = step_grid(t0, ts, n_uniform, inputs)
    m = x0.shape[0] if sde.diffusion.noise_dim is None else sde.diffusion.noise_dim
    # A Brownian tree (not a stored path) so reverse-mode gradients can re-query the noise.
    brownian = diffrax.VirtualBrownianTree(
        grid[0], grid[-1], tol=(grid[-1] - grid[0]) / (8 * n_uniform), shape=(m,), key=key
    )
    terms = diffrax.MultiTerm(diffrax.ODETerm(_drift), diffrax.ControlTerm(_diffusion, brownian))
    sol = diffrax.diffeqsolve(
        terms,
        solver,
        grid[0],
        grid[-1],
        None,
        x0,
        (sde, inputs),
        saveat=diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=ts), diffrax.SubSaveAt(t1=True)]),
        stepsize_controller=diffrax.StepTo(ts=grid),
        max_steps=grid.shape[0],
        throw=False,
    )
    xs, x_end = sol.ys
    stats = SolverStats(
        num_steps=sol.stats["num_steps"],
        num_accepted_steps=sol.stats["num_accepted_steps"],
        num_rejected_steps=sol.stats["num_rejected_steps"],
        num_rhs_evaluations=sol.stats["num_steps"],
        solver=label,
        choice="fixed-step SDE grid",
    )
    return Trajectory(
        ts=ts,
        xs=xs,
        stats=stats,
        result=failed_result(sol.result, x_end[0]),
        t_reached=sol.ts[1][0],
        x_reached=x_end[0],
    )
