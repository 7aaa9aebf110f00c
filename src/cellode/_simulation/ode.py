"""Deterministic simulation: diffrax with adaptive steps that stop on every input discontinuity."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._errors import ModelError
from .._inputs import AbstractInput
from .._models.vector_field import AbstractVectorField
from .._sensitivity.base import AbstractSensitivity
from .._solvers.registry import rhs_evaluations_per_step
from .problem import ODEProblem
from .trajectory import SolverStats, Trajectory, failed_result


def step_size_controller(
    rtol: Float[ArrayLike, ""],
    atol: Float[ArrayLike, ""],
    implicit: bool,
    inputs: AbstractInput | None,
) -> diffrax.AbstractStepSizeController:
    """Adaptive control to rtol/atol; steps land exactly on every jump of u(t).

    Implicit methods get a PI controller (smoother step sequences on stiff problems), explicit
    ones the plain integral controller.
    """
    if implicit:
        pid = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.3, icoeff=0.3)
    else:
        pid = diffrax.PIDController(rtol=rtol, atol=atol)
    if inputs is None or inputs.discontinuities.shape[0] == 0:
        return pid
    return diffrax.ClipStepSizeController(pid, jump_ts=inputs.discontinuities)


def check_output_shape(model: AbstractVectorField, x0: Array, inputs: AbstractInput | None) -> None:
    """At trace time: the model must map a state of shape (n,) to a derivative of shape (n,)."""
    u = None if inputs is None else jax.eval_shape(inputs, jnp.zeros((), x0.dtype))
    u_arg = None if u is None else jnp.zeros(u.shape, u.dtype)
    out = jax.eval_shape(model, jnp.zeros((), x0.dtype), x0, u_arg)
    if not hasattr(out, "shape") or out.shape != x0.shape:
        shape = getattr(out, "shape", type(out).__name__)
        raise ModelError(
            f"{type(model).__name__} returned dx/dt of shape {shape} for a state of shape "
            f"{x0.shape}; a vector field must return one derivative per state component."
        )


@eqx.filter_jit
def simulate_ode(
    model: AbstractVectorField,
    inputs: AbstractInput | None,
    x0: Float[Array, " n"],
    t0: Float[Array, ""],
    ts: Float[Array, " T"],
    solver: diffrax.AbstractSolver,
    rtol: Float[Array, ""],
    atol: Float[Array, ""],
    implicit: bool,
    max_steps: int,
    dt0: float | None,
    sensitivity: AbstractSensitivity,
    label: str,
) -> Trajectory:
    """Compiled once per model structure, solver and shapes; new parameter values, initial
    states and tolerances reuse it (everything but the structure is built inside)."""
    check_output_shape(model, x0, inputs)
    controller = step_size_controller(rtol, atol, implicit, inputs)
    problem = ODEProblem(model, inputs, x0, t0, ts, solver, controller, max_steps, dt0)
    out = sensitivity.solve(problem)
    per_step = rhs_evaluations_per_step(solver)
    stats = SolverStats(
        num_steps=out.num_steps,
        num_accepted_steps=out.num_accepted_steps,
        num_rejected_steps=out.num_rejected_steps,
        num_rhs_evaluations=None if per_step is None else per_step * out.num_steps,
        solver=label,
    )
    return Trajectory(
        ts=ts,
        xs=out.xs,
        stats=stats,
        result=failed_result(out.result, out.x_reached),
        t_reached=out.t_reached,
        x_reached=out.x_reached,
    )
