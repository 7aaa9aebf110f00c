"""The backsolve adjoint (SPEC C5): x integrated backwards together with the adjoint, no storage."""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._simulation.problem import ODEProblem, SolveOutput
from ._common import (
    attach,
    detach,
    forward_solve,
    poison,
    solve_output,
    split_parameters,
    vector_field,
    zeros_if_none,
)
from .base import AbstractSensitivity


def backsolve_rhs(t: Array, state: tuple[Array, Array, Any], args: tuple[Any, Any]) -> tuple:
    """(dx/dt, da/dt, dg/dt) = (f, -(df/dx)^T a, -(df/dtheta)^T a), with f and both products from
    one `jax.vjp` of f at the state x carried backwards."""
    x, a, _ = state
    params, static = args
    fx, vjp = jax.vjp(lambda x_, p_: vector_field(t, x_, p_, static), x, params)
    a_dot, g_dot = vjp(a)
    return fx, -a_dot, jax.tree.map(jnp.negative, g_dot)


class BacksolveAdjoint(AbstractSensitivity):
    """The backsolve adjoint (SPEC C5), offered because users compare with it.

    The forward pass keeps only the saved states xs. The backward pass integrates, from T down
    to t0, the augmented system

        dx/dt = f,   da/dt = -(df/dx)^T a,   dg/dt = -(df/dtheta)^T a,

    reconstructing x(t) by solving the ODE *backwards in time*, with the jump
    a(t_k^-) = a(t_k^+) + (dL/dx(t_k))^T at every observation time; x restarts from the saved
    xs[k] there. grad_theta L = g(t0), grad_x0 L = a(t0).

    Warning: integrating x backwards is unstable on stiff or dissipative problems (decay forwards
    is blow-up backwards: a contraction with rate -lambda becomes growth e^{lambda t}), so the
    reconstructed x(t), and the gradient, can be wrong by orders of magnitude without any error
    being raised. Use `CheckpointedAdjoint` instead; this method exists for comparison.
    """

    def solve(self, problem: ODEProblem) -> SolveOutput:
        diff, rest = detach(problem)
        return _solve_backsolve(diff, rest)


def _forward(diff: tuple, rest: ODEProblem) -> tuple[SolveOutput, Array]:
    problem = attach(diff, rest)
    sol = forward_solve(problem, problem.ts)
    out = solve_output(sol, sol.ys[0], sol.ys[1][0])
    return out, out.xs


@eqx.filter_custom_vjp
def _solve_backsolve(diff, rest):
    out, _ = _forward(diff, rest)
    return out


@_solve_backsolve.def_fwd
def _fwd(perturbed, diff, rest):
    del perturbed
    return _forward(diff, rest)


@_solve_backsolve.def_bwd
def _bwd(xs, cotangent, perturbed, diff, rest):
    del perturbed
    problem = attach(diff, rest)
    x0 = problem.x0
    params, static = split_parameters(problem)
    jumps = zeros_if_none(cotangent.xs, xs)
    jumps = jumps.at[-1].add(zeros_if_none(cotangent.x_reached, x0))
    starts_t = jnp.concatenate([problem.t0[None], problem.ts[:-1]])

    def interval(carry, inputs_i):
        a, g, failed = carry
        t_start, t_end, x_end, jump = inputs_i
        back = diffrax.diffeqsolve(
            diffrax.ODETerm(backsolve_rhs),
            problem.solver,
            t_end,
            t_start,
            None if problem.dt0 is None else -problem.dt0,
            (x_end, a + jump, jax.tree.map(jnp.zeros_like, params)),
            (params, static),
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=problem.controller,
            max_steps=problem.max_steps,
            throw=False,
        )
        _, a_new, g_interval = jax.tree.map(lambda leaf: leaf[0], back.ys)
        g = jax.tree.map(jnp.add, g, g_interval)
        failed = failed | (back.result != diffrax.RESULTS.successful)
        return (a_new, g, failed), None

    init = (jnp.zeros_like(x0), jax.tree.map(jnp.zeros_like, params), jnp.array(False))
    (a0, g, failed), _ = jax.lax.scan(
        interval, init, (starts_t, problem.ts, xs, jumps), reverse=True
    )
    (grad_model, grad_inputs), grad_x0 = poison((g, a0), failed)
    return grad_model, grad_inputs, grad_x0
