"""Steady states: pre-equilibration and measurements at time `inf`.

The steady state of dx/dt = f(x, p) from x0 is found by integrating the model itself to a long
time T (`SolverSettings.steady_state_time`, 1e6 by default): a stiff solver's steps grow
geometrically once transients have died, so this costs a few hundred steps, and, unlike a Newton
solve, it needs no care with the singular Jacobian of a model with conservation laws (the totals
of the start are kept). The state is accepted as steady when ||f(x(T))||_inf <= tol (1 + ||x||);
gradients flow through the same sensitivity method as every other solve (and the model's events
fire on the way, as in any other solve).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array, Float


def steady_grid(settings, dtype) -> Float[Array, " 1"]:
    """The output grid of a steady-state solve from time 0: the single time T."""
    return jnp.full((1,), settings.steady_state_time, dtype=dtype)


def is_steady(
    rhs: Callable[[Array, Array, Array], Array],
    t: Array,
    x: Float[Array, " n"],
    p: Float[Array, " P"],
    tol: float,
) -> Array:
    """Whether ||f(t, x, p)||_inf <= tol (1 + ||x||_inf)."""
    rate = rhs(t, x, p)
    scale = 1.0 + jnp.max(jnp.abs(x), initial=0.0)
    return jnp.max(jnp.abs(rate), initial=0.0) <= tol * scale
