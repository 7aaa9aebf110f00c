"""Forward sensitivities (SPEC C2): integrate S = dx/dtheta with x, as one augmented system."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from .._simulation.problem import ODEProblem, SolveOutput
from .._solvers.variational import VariationalTerm
from ._common import attach, detach, forward_solve, solve_output, split_parameters, vector_field
from .base import AbstractSensitivity


def _field(t: Array, x: Array, flat: Array, rest: tuple) -> Array:
    """f(t, x, theta) with theta as the flat vector `flat`; rest = (unravel, static)."""
    unravel, static = rest
    return vector_field(t, x, unravel(flat), static)


class ForwardSensitivity(AbstractSensitivity):
    """Forward (continuous) sensitivities (SPEC C2): the right method for few parameters.

    One solve of x together with S(t) = dx(t)/dtheta and dx(t)/dx0,

        dS/dt = (df/dx) S + df/dtheta,   S(t0) = dx0/dtheta,

    by Jacobian-vector products (no dense Jacobian). theta is every floating-point array of the
    model and of the inputs u(t) (e.g. dose values); the x0 directions start from the identity
    and are integrated only when x0 is differentiated. The cost grows with the number of
    parameters P: the augmented state has n (1 + P) components (n (1 + P + n) with the x0
    directions), and the stored sensitivities at the observation times take T n (P + n).
    With cellode's Rosenbrock solvers a stiff step factorises only the n x n matrix I - h gamma J
    (the augmented Jacobian is block triangular, `VariationalTerm`).

    Implemented as a `jax.custom_jvp`: the tangent of `xs[k]` is S(t_k) times the parameter
    tangent. So `jax.jacfwd` (all directions at once) and `jax.grad` (JAX transposes the linear
    map, i.e. sum_k S(t_k)^T dL/dx(t_k), the chain rule at every t_k) both work, and neither
    differentiates through the solver. The error control covers S as well as x.
    Gradients with respect to the times are not computed (zero).
    """

    def solve(self, problem: ODEProblem) -> SolveOutput:
        diff, rest = detach(problem)
        return _solve_with_sensitivities(diff, rest)


def _augmented_solve(
    diff: tuple, rest: ODEProblem, x0_directions: bool
) -> tuple[SolveOutput, Array, Array | None]:
    """The solve of (x, S): the output, and S_theta and S_x0 (if `x0_directions`, else None) at
    every observation time. S = [S_theta S_x0] is one (n, P + n) block of the variational term."""
    problem = attach(diff, rest)
    params, static = split_parameters(problem)
    flat, unravel = ravel_pytree(params)
    n = problem.x0.shape[0]
    dtype = problem.x0.dtype
    flat = flat.astype(dtype)
    p = flat.shape[0]
    s0 = jnp.zeros((n, p), dtype)
    if x0_directions:
        s0 = jnp.concatenate([s0, jnp.eye(n, dtype=dtype)], axis=1)
    sol = forward_solve(
        problem,
        problem.ts,
        y0=(problem.x0, s0),
        term=VariationalTerm(_field),
        args=(flat, (unravel, static)),
    )
    (xs, s), (x_end, _) = sol.ys
    s_x0 = s[:, :, p:] if x0_directions else None
    return solve_output(sol, xs, x_end[0]), s[:, :, :p], s_x0


@eqx.filter_custom_jvp
def _solve_with_sensitivities(diff: tuple, rest: ODEProblem) -> SolveOutput:
    out, _, _ = _augmented_solve(diff, rest, x0_directions=False)
    return out


@_solve_with_sensitivities.def_jvp
def _jvp(primals: tuple, tangents: tuple) -> tuple[SolveOutput, Any]:
    diff, rest = primals
    t_diff, _ = tangents  # the times and tolerances are not differentiated
    model, inputs, _ = diff
    t_model, t_inputs, t_x0 = (None, None, None) if t_diff is None else t_diff
    # The n initial-state directions are integrated only when x0 has a tangent.
    out, s_theta, s_x0 = _augmented_solve(diff, rest, x0_directions=t_x0 is not None)
    params, _ = eqx.partition((model, inputs), eqx.is_inexact_array)
    t_params = jax.tree.map(
        lambda p, tp: None if p is None else (jnp.zeros_like(p) if tp is None else tp),
        params,
        eqx.filter((t_model, t_inputs), eqx.is_inexact_array),
        is_leaf=lambda leaf: leaf is None,
    )
    t_flat, _ = ravel_pytree(t_params)
    t_xs = jnp.einsum("knp,p->kn", s_theta, t_flat.astype(s_theta.dtype))
    if s_x0 is not None:
        t_xs = t_xs + jnp.einsum("knm,m->kn", s_x0, t_x0)
    t_out = jax.tree.map(lambda _: None, out)
    t_out = eqx.tree_at(
        lambda o: (o.xs, o.x_reached), t_out, (t_xs, t_xs[-1]), is_leaf=lambda leaf: leaf is None
    )
    return out, t_out
