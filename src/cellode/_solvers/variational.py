"""An ODE with its variational equation as one diffrax term, and the block linear solve it allows.

Forward sensitivities integrate the state x together with S = dx/dθ (and dx/dx0):

    dx/dt = f(t, x, θ),     dS/dt = J S + (∂f/∂θ) P,      J = ∂f/∂x,

where column j of S follows the direction (S[:, j], P[:, j]) and P = [I_p 0] (the first p columns
are parameter directions, any further columns initial-state directions).

The Jacobian of the augmented right-hand side G(x, S) = (f, J S + F P) is block lower triangular,

    ∂G/∂(x, S) = [[J, 0], [M, I_m ⊗ J]],     M u = ∂/∂x (J S + F P) · u,

so a linearly implicit step (I - hγ ∂G) (u_x, u_S) = (b_x, b_S) is solved exactly with one
n × n factorisation of I - hγJ, by block forward substitution:

    (I - hγJ) u_x = b_x,       (I - hγJ) u_S = b_S + hγ M u_x.

A dense factorisation of the augmented system would cost O((n (1 + m))³) per step instead of
O(n³ + n² m); the Jacobian is the same, so the method keeps its order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
from jaxtyping import Array, Float

from .linear_solve import shifted_solve

__all__ = [
    "BlockJacobian",
    "VariationalTerm",
    "block_jacobian",
    "block_solver",
    "unwrap_variational",
    "variational_rhs",
]

Field = Callable[[Array, Array, Array, Any], Array]
"""f(t, x, p, rest): the vector field at time t, state x, flat parameter vector p."""


def variational_rhs(
    field: Field,
    t: Array,
    x: Float[Array, " n"],
    s: Float[Array, "n m"],
    p: Float[Array, " p"],
    rest: Any,
) -> tuple[Float[Array, " n"], Float[Array, "n m"]]:
    """(f, J S + (∂f/∂p) P): each column one Jacobian–vector product in (S[:, j], P[:, j]).

    Neither J nor ∂f/∂p is formed.
    """
    fx, jvp = jax.linearize(lambda x_, p_: field(t, x_, p_, rest), x, p)
    directions = jnp.eye(p.shape[0], s.shape[1], dtype=p.dtype)
    ds = jax.vmap(jvp, in_axes=(1, 1), out_axes=1)(s, directions)
    return fx, ds


class VariationalTerm(diffrax.AbstractTerm):
    """dx/dt = f(t, x, p) with its variational equation, on the state (x, S); args = (p, rest).

    Behaves as an `ODETerm` of the augmented system for every diffrax solver. cellode's
    Rosenbrock solvers recognise it and solve their linear systems by the block substitution of
    `block_solver` (one n × n LU per step) instead of factorising the augmented Jacobian.
    """

    field: Field = eqx.field(static=True)

    def vf(self, t, y, args):
        x, s = y
        p, rest = args
        return variational_rhs(self.field, t, x, s, p, rest)

    def contr(self, t0, t1, **kwargs):
        del kwargs
        return t1 - t0

    def prod(self, vf, control):
        return jtu.tree_map(lambda v: control * v, vf)


def unwrap_variational(terms: Any) -> tuple[VariationalTerm, Array] | None:
    """(term, direction) if `terms` is a `VariationalTerm` as diffrax hands it to a solver.

    `diffeqsolve` wraps every term in a private wrapper with a `direction` (±1) that evaluates the
    field at `direction · t`; anything else returns None.
    """
    inner = getattr(terms, "term", None)
    direction = getattr(terms, "direction", None)
    if isinstance(inner, VariationalTerm) and direction is not None:
        return inner, direction
    if isinstance(terms, VariationalTerm):
        return terms, jnp.asarray(1)
    return None


def block_solver(
    term: VariationalTerm,
    direction: Array,
    t0: Array,
    y0: tuple[Array, Array],
    args: tuple[Array, Any],
    scale: Array,
    hg: Array,
) -> Callable[[tuple[Array, Array]], tuple[Array, Array]]:
    """The solve b ↦ (I - hγ ∂G)⁻¹ b of a Rosenbrock step at (t0, y0), by block substitution.

    G = `scale` · (variational right-hand side at `direction` · t); `scale` is the step's control
    divided by its length (1 for a forward ODE solve). One n × n LU of I - hγJ serves every
    stage; M u_x is one forward-over-forward derivative, linearised once per step.
    """
    x0 = y0[0]
    f, g_s = _scaled_parts(term, direction, t0, y0, args, scale)
    jac = jax.jacfwd(f)(x0)
    _, coupling = jax.linearize(g_s, x0)
    return _substitution(shifted_solve(jac, hg), hg, coupling)


def _substitution(
    state_solve: Callable[[Array], Array], c: Array, coupling: Callable[[Array], Array]
) -> Callable[[tuple[Array, Array]], tuple[Array, Array]]:
    """b ↦ u with (I - cJ) u_x = b_x, (I - cJ) u_S = b_S + c M u_x (`state_solve` the solve
    with I - cJ, M as `coupling`): the block lower-triangular solve of the augmented system."""

    def solve(b: tuple[Array, Array]) -> tuple[Array, Array]:
        b_x, b_s = b
        u_x = state_solve(b_x)
        return u_x, state_solve(b_s + c * coupling(u_x))

    return solve


class BlockJacobian(eqx.Module):
    """The two distinct blocks of ∂G/∂(x, S): J (n, n) and M (n, m, n), M[:, j] u = ∂/∂x (J S + F P)[:, j] u.

    Kept by solvers that reuse a Jacobian over several steps (BDF); the full matrix has
    n (1 + m) rows.
    """

    state: Float[Array, "n n"]
    coupling: Float[Array, "n m n"]

    def factorise(self, c: Array) -> Callable[[tuple[Array, Array]], tuple[Array, Array]]:
        """The solve b ↦ (I - c ∂G)⁻¹ b by block substitution (one n × n factorisation)."""
        coupling = lambda u: jnp.einsum("imk,k->im", self.coupling, u)
        return _substitution(shifted_solve(self.state, c), c, coupling)


def block_jacobian(
    term: VariationalTerm,
    direction: Array,
    t: Array,
    y: tuple[Array, Array],
    args: tuple[Array, Any],
    scale: Array,
) -> BlockJacobian:
    """J and M of `scale` · (variational right-hand side) at (`direction` · t, y)."""
    f, g_s = _scaled_parts(term, direction, t, y, args, scale)
    return BlockJacobian(jax.jacfwd(f)(y[0]), jax.jacfwd(g_s)(y[0]))


def _scaled_parts(
    term: VariationalTerm,
    direction: Array,
    t: Array,
    y: tuple[Array, Array],
    args: tuple[Array, Any],
    scale: Array,
) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
    """x ↦ scale · f(t, x) and x ↦ scale · (S-part of the variational field at (x, S)), at
    the solver's time `direction` · t, cast to the state's dtype."""
    s = y[1]
    p, rest = args
    t = t * direction
    dtype = y[0].dtype

    def f(x: Array) -> Array:
        return (scale * term.field(t, x, p, rest)).astype(dtype)

    def g_s(x: Array) -> Array:
        return (scale * variational_rhs(term.field, t, x, s, p, rest)[1]).astype(dtype)

    return f, g_s
