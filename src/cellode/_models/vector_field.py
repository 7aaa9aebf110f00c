"""The ODE model: a vector field dx/dt = f(t, x, u) whose parameters are its array fields."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
from jaxtyping import Array, ArrayLike, Float, PyTree

Scalar = Float[ArrayLike, ""]
State = Float[Array, " n"]
InputValue = Float[Array, " p"] | None


class AbstractVectorField(eqx.Module):
    """A deterministic model dx/dt = f(t, x, u) of a well-mixed cell (SPEC A1).

    Subclasses are `equinox.Module`s whose array fields are the model's parameters, so
    `jax.grad(loss)(model)` differentiates with respect to all of them and `jax.vmap` over a
    stacked model gives a population of parameter sets. `u` is the value of the external inputs
    at time `t` (shape `(p,)`), or `None` when the simulation has no inputs.
    """

    @abc.abstractmethod
    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        """The time derivative dx/dt at state `x`, time `t` and input value `u`."""


class FunctionField(AbstractVectorField):
    """A vector field given by a plain function `fn(t, x, u, params)` and an explicit `params` pytree.

    The parameters are a field, never captured from an enclosing scope, so gradients, `vmap`
    and adjoints see them:

        field = FunctionField(lambda t, x, u, p: -p["k"] * x, {"k": jnp.array(0.5)})
    """

    fn: Callable[[Scalar, State, InputValue, Any], State] = eqx.field(static=True)
    params: PyTree[Array]

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        return self.fn(t, x, u, self.params)
