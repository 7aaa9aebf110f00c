"""Neural vector fields f_theta(x [, u] [, t]) (SPEC B3)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from .._errors import ModelError
from .vector_field import AbstractVectorField, InputValue, Scalar, State


def input_features(x: State, u: InputValue, t: Scalar, n_inputs: int, use_time: bool) -> Array:
    """The network's input vector: the state, then the inputs u(t) and the time when asked for."""
    parts = [x]
    if n_inputs:
        if u is None:
            raise ModelError(
                f"This network reads {n_inputs} input(s) u(t) but the simulation has none; pass "
                "`inputs=` to simulate, or build the network with n_inputs=0."
            )
        parts.append(jnp.asarray(u, dtype=x.dtype))
    if use_time:
        parts.append(jnp.reshape(jnp.asarray(t, dtype=x.dtype), (1,)))
    return jnp.concatenate(parts)


class NeuralField(AbstractVectorField):
    """A neural ODE dx/dt = MLP(x [, u(t)] [, t]): a multilayer perceptron as the vector field.

    Width, depth and activation are configurable; `n_inputs > 0` feeds the input value u(t) and
    `use_time=True` the time t. Parameters are the MLP's weights (float32 or float64, following
    `dtype`).
    """

    mlp: eqx.nn.MLP
    n_inputs: int = eqx.field(static=True)
    use_time: bool = eqx.field(static=True)

    def __init__(
        self,
        n_states: int,
        *,
        key: PRNGKeyArray,
        width: int = 64,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.softplus,
        n_inputs: int = 0,
        use_time: bool = False,
        dtype: jnp.dtype | None = None,
    ):
        if n_states < 1 or width < 1 or depth < 0:
            raise ModelError(
                f"NeuralField needs n_states >= 1, width >= 1, depth >= 0; got {n_states}, "
                f"{width}, {depth}."
            )
        self.n_inputs = int(n_inputs)
        self.use_time = bool(use_time)
        in_size = n_states + self.n_inputs + int(self.use_time)
        self.mlp = eqx.nn.MLP(
            in_size, n_states, width, depth, activation=activation, key=key, dtype=dtype
        )

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        return self.mlp(input_features(x, u, t, self.n_inputs, self.use_time))
