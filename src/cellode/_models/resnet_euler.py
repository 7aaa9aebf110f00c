"""A residual network with shared weights is forward Euler (SPEC B6).

The block x_{k+1} = x_k + h g(t_k, x_k), h = T/N, repeated N times with the *same* g, is the
explicit Euler method for dx/dt = g. Its output converges to the flow map x(T) of the ODE with
global error O(h) = O(1/N): doubling the depth halves the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._errors import InputError
from .vector_field import AbstractVectorField


class EulerResNet(eqx.Module):
    """x_{k+1} = x_k + h g(t_k, x_k, u), k = 0..N-1, h = T/N, weights of g shared by all blocks.

    `depth` N may be changed per call (`net(x0, depth=64)`) without recompiling.
    """

    field: AbstractVectorField
    horizon: float = eqx.field(static=True)
    depth: int = eqx.field(static=True)

    def __call__(
        self, x0: Float[ArrayLike, " n"], depth: int | Array | None = None, u=None
    ) -> Float[Array, " n"]:
        x0 = jnp.asarray(x0)
        steps = jnp.asarray(self.depth if depth is None else depth)
        h = jnp.asarray(self.horizon, dtype=x0.dtype) / steps.astype(x0.dtype)

        def block(k, x):
            t = k.astype(x0.dtype) * h
            return x + h * self.field(t, x, u)

        return jax.lax.fori_loop(jnp.asarray(0, steps.dtype), steps, block, x0)


@dataclass(frozen=True)
class EulerConvergence:
    """Errors |ResNet_N(x0) - x(T)| for depths N, and the fitted order (slope of log error
    against log h): 1 for forward Euler."""

    depths: np.ndarray
    step_sizes: np.ndarray
    errors: np.ndarray
    slope: float

    def __str__(self) -> str:
        rows = [f"{'N':>6} {'h':>10} {'error':>10}"]
        rows += [
            f"{n:6d} {h:10.3e} {e:10.3e}"
            for n, h, e in zip(self.depths, self.step_sizes, self.errors, strict=True)
        ]
        rows.append(f"fitted order (slope of log error vs log h): {self.slope:.3f}")
        return "\n".join(rows)


def euler_resnet_convergence(
    field: AbstractVectorField,
    x0: Float[ArrayLike, " n"],
    horizon: float,
    depths: Sequence[int] = tuple(2**k for k in range(4, 11)),
    *,
    rtol: float = 1e-12,
    atol: float = 1e-12,
) -> EulerConvergence:
    """Error of the depth-N weight-shared ResNet against a tight-tolerance solve of
    dx/dt = g(t, x) on [0, T], for every N in `depths`, and the fitted order."""
    depths = np.asarray(sorted(int(d) for d in depths))
    if len(depths) < 2 or depths[0] < 1:
        raise InputError("give at least two positive depths, e.g. (16, 32, 64, 128).")
    x0 = jnp.asarray(x0)
    from .._simulation.simulate import simulate

    ts = np.array([0.0, float(horizon)])
    reference = simulate(field, x0, ts, solver="dopri8", rtol=rtol, atol=atol, max_steps=10**6).xs[
        -1
    ]
    net = EulerResNet(field, float(horizon), int(depths[0]))
    run = eqx.filter_jit(lambda net, n: net(x0, depth=n))
    errors = np.array(
        [float(jnp.linalg.norm(run(net, jnp.asarray(int(n))) - reference)) for n in depths]
    )
    steps = float(horizon) / depths
    slope = float(np.polyfit(np.log(steps), np.log(errors), 1)[0])
    return EulerConvergence(depths, steps, errors, slope)
