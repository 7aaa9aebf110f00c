"""Steady states: pre-equilibration and measurements at time `inf`.

The steady state of dx/dt = f(x, p) from x0 is found by integrating the model itself to a long
time T (`SolverSettings.steady_state_time`, 1e6 by default): a stiff solver's steps grow
geometrically once transients have died, so this costs a few hundred steps, and, unlike a Newton
solve, it needs no care with the singular Jacobian of a model with conservation laws (the totals
of the start are kept). The state is accepted as steady when ||f(x(T))||_inf <= tol (1 + ||x||);
gradients flow through the same sensitivity method as every other solve.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._sensitivity.base import AbstractSensitivity


def steady_state(
    model: Any,
    p: Float[Array, " P"],
    x0: Float[Array, " n"],
    settings: Any,
    sensitivity: AbstractSensitivity,
    solve: Callable,
) -> tuple[Float[Array, " n"], Array]:
    """(x_ss, converged) for the constants p, starting from x0."""
    ts = jnp.full((1,), settings.steady_state_time, dtype=x0.dtype)
    out = solve(model, p, x0, ts, settings, sensitivity)
    x = out.xs[-1]
    rate = model.value.rhs(ts[0], x, p)
    scale = 1.0 + jnp.max(jnp.abs(x))
    converged = (out.result == diffrax.RESULTS.successful) & (
        jnp.max(jnp.abs(rate)) <= settings.steady_state_tol * scale
    )
    return x, converged
