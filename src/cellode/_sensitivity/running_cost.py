"""Running (integral) costs, integral r(t, x, u, theta) dt, differentiated by every sensitivity method."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._models.vector_field import AbstractVectorField, InputValue, Scalar, State
from .._simulation.simulate import simulate
from .._simulation.trajectory import Trajectory

RunningCost = Callable[[Scalar, State, InputValue, AbstractVectorField], Float[Array, ""]]


class WithRunningCost(AbstractVectorField):
    """The vector field of (x, q) with q(t) = integral_{t0}^{t} r(s, x(s), u(s), theta) ds:

        dx/dt = f(t, x, u),    dq/dt = r(t, x, u, model).

    With q in the state, the adjoint of a loss that uses q(T) is SPEC C3's with the running cost:
    a_q is constant (= dL/dq), so da_x/dt = -(df/dx)^T a_x - (dr/dx)^T a_q and the parameter
    integrand gains (dr/dtheta)^T a_q. Every sensitivity method handles it unchanged.
    `cost` is a function or an `equinox.Module` (its arrays are then parameters too); it also
    receives the model, so it may use the model's parameters (e.g. a penalty on ||f||^2).
    """

    model: AbstractVectorField
    cost: Any

    def __call__(self, t: Scalar, z: State, u: InputValue) -> State:
        x = z[:-1]
        dx = self.model(t, x, u)
        dq = jnp.asarray(self.cost(t, x, u, self.model), dtype=dx.dtype)
        return jnp.concatenate([dx, dq.reshape(1)])


def simulate_with_cost(
    model: AbstractVectorField,
    x0: Float[ArrayLike, " n"],
    ts: Float[ArrayLike, " T"],
    cost: RunningCost,
    **kwargs: Any,
) -> tuple[Trajectory, Float[Array, " T"]]:
    """`simulate` an ODE and integrate the running cost r along it (SPEC C1's integral term).

    Returns the trajectory of x and Q with Q[k] = integral_{t0}^{ts[k]} r(t, x, u, model) dt,
    so the total is `Q[-1]`. Keyword arguments are those of `simulate` (`sensitivity=`,
    `solver=`, `rtol=`, ...); the solver's error control covers Q too.

        traj, Q = simulate_with_cost(model, x0, ts, lambda t, x, u, m: jnp.sum(x**2),
                                     sensitivity=CheckpointedAdjoint())
        loss = Q[-1] + jnp.sum((traj.xs - data) ** 2)
    """
    x0 = jnp.asarray(x0)
    z0 = jnp.concatenate([x0, jnp.zeros((1,), x0.dtype)])
    traj = simulate(WithRunningCost(model, cost), z0, ts, **kwargs)
    xs, integral = traj.xs[:, :-1], traj.xs[:, -1]
    traj = dataclasses.replace(traj, xs=xs, x_reached=traj.x_reached[:-1])
    return traj, integral
