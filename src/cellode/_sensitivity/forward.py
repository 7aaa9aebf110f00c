"""Forward sensitivities (SPEC C2): integrate S = dx/dtheta with x, as one augmented system."""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from .._simulation.problem import ODEProblem, SolveOutput
from ._common import attach, detach, forward_solve, solve_output, split_parameters, vector_field
from .base import AbstractSensitivity


def sensitivity_rhs(t: Array, state: tuple[Array, Array, Array], args: tuple) -> tuple:
    """The augmented system (x, S_theta, S_x0):

        dx/dt = f,   dS_theta/dt = J S_theta + df/dtheta,   dS_x0/dt = J S_x0,

    J = df/dx. Each column is one Jacobian-vector product of f in the direction
    (S[:, j], e_j) (a parameter column) or (S[:, j], 0) (an initial-state column), so neither J
    nor df/dtheta is ever formed.
    """
    x, s_theta, s_x0 = state
    flat, unravel, static = args

    def f(x_, flat_):
        return vector_field(t, x_, unravel(flat_), static)

    fx, jvp = jax.linearize(f, x, flat)
    eye = jnp.eye(flat.shape[0], dtype=flat.dtype)
    ds_theta = jax.vmap(jvp, in_axes=(1, 1), out_axes=1)(s_theta, eye)
    ds_x0 = jax.vmap(lambda col: jvp(col, jnp.zeros_like(flat)), in_axes=1, out_axes=1)(s_x0)
    return fx, ds_theta, ds_x0


class ForwardSensitivity(AbstractSensitivity):
    """Forward (continuous) sensitivities (SPEC C2): the right method for few parameters.

    One solve of x together with S(t) = dx(t)/dtheta and dx(t)/dx0,

        dS/dt = (df/dx) S + df/dtheta,   S(t0) = dx0/dtheta,

    by Jacobian-vector products (no dense Jacobian). theta is every floating-point array of the
    model and of the inputs u(t) (e.g. dose values); the x0 directions start from the identity.
    The cost grows with the number of parameters P: the augmented state has n (1 + P + n)
    components, and the stored sensitivities at the observation times take T n (P + n).

    Implemented as a `jax.custom_jvp`: the tangent of `xs[k]` is S(t_k) times the parameter
    tangent. So `jax.jacfwd` (all directions at once) and `jax.grad` (JAX transposes the linear
    map, i.e. sum_k S(t_k)^T dL/dx(t_k), the chain rule at every t_k) both work, and neither
    differentiates through the solver. The error control covers S as well as x.
    Gradients with respect to the times are not computed (zero).
    """

    def solve(self, problem: ODEProblem) -> SolveOutput:
        diff, rest = detach(problem)
        return _solve_with_sensitivities(diff, rest)


def _augmented_solve(diff: tuple, rest: ODEProblem) -> tuple[SolveOutput, Array, Array]:
    """The solve of (x, S): the output and S_theta, S_x0 at every observation time."""
    problem = attach(diff, rest)
    params, static = split_parameters(problem)
    flat, unravel = ravel_pytree(params)
    n = problem.x0.shape[0]
    flat = flat.astype(problem.x0.dtype)
    y0 = (
        problem.x0,
        jnp.zeros((n, flat.shape[0]), problem.x0.dtype),
        jnp.eye(n, dtype=problem.x0.dtype),
    )
    sol = forward_solve(
        problem,
        problem.ts,
        y0=y0,
        term=diffrax.ODETerm(sensitivity_rhs),
        args=(flat, unravel, static),
    )
    (xs, s_theta, s_x0), (x_end, *_) = sol.ys
    return solve_output(sol, xs, x_end[0]), s_theta, s_x0


@eqx.filter_custom_jvp
def _solve_with_sensitivities(diff: tuple, rest: ODEProblem) -> SolveOutput:
    out, _, _ = _augmented_solve(diff, rest)
    return out


@_solve_with_sensitivities.def_jvp
def _jvp(primals: tuple, tangents: tuple) -> tuple[SolveOutput, Any]:
    diff, rest = primals
    t_diff, _ = tangents  # the times and tolerances are not differentiated
    out, s_theta, s_x0 = _augmented_solve(diff, rest)
    model, inputs, _ = diff
    t_model, t_inputs, t_x0 = (None, None, None) if t_diff is None else t_diff
    params, _ = eqx.partition((model, inputs), eqx.is_inexact_array)
    t_params = jax.tree.map(
        lambda p, tp: None if p is None else (jnp.zeros_like(p) if tp is None else tp),
        params,
        eqx.filter((t_model, t_inputs), eqx.is_inexact_array),
        is_leaf=lambda leaf: leaf is None,
    )
    t_flat, _ = ravel_pytree(t_params)
    t_xs = jnp.einsum("knp,p->kn", s_theta, t_flat.astype(s_theta.dtype))
    if t_x0 is not None:
        t_xs = t_xs + jnp.einsum("knm,m->kn", s_x0, t_x0)
    t_out = jax.tree.map(lambda _: None, out)
    t_out = eqx.tree_at(
        lambda o: (o.xs, o.x_reached), t_out, (t_xs, t_xs[-1]), is_leaf=lambda leaf: leaf is None
    )
    return out, t_out
