"""Discrete-time models x_{k+1} = F(x_k, u_k) + eps_k (SPEC A2): no states between the steps."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PyTree

from .vector_field import InputValue, State

Step = Int[ArrayLike, ""]


class AbstractDiscreteMap(eqx.Module):
    """A discrete-time model x_{k+1} = F(k, x_k, u_k) + eps_k with eps_k ~ N(0, diag(noise_std^2)).

    `dt` is the time one step represents: the input is sampled at t_k = k * dt. `noise_std`
    is `None` for a deterministic map.
    """

    @abc.abstractmethod
    def __call__(self, k: Step, x: State, u: InputValue) -> State:
        """The next state F(k, x_k, u_k), before the noise is added."""

    @property
    @abc.abstractmethod
    def dt(self) -> float:
        """Time one step represents (inputs are sampled at k * dt)."""

    @property
    @abc.abstractmethod
    def noise_std(self) -> Float[Array, " n"] | None:
        """Standard deviation of the additive Gaussian noise eps_k, or None."""


class FunctionMap(AbstractDiscreteMap):
    """A discrete map given by `fn(k, x, u, params)` with an explicit `params` pytree."""

    fn: Callable[[Step, State, InputValue, Any], State] = eqx.field(static=True)
    params: PyTree[Array]
    step_time: float = eqx.field(static=True, default=1.0)
    noise: Float[Array, " n"] | None = None

    def __init__(
        self,
        fn: Callable[[Step, State, InputValue, Any], State],
        params: PyTree[Array],
        *,
        dt: float = 1.0,
        noise_std: ArrayLike | None = None,
    ):
        self.fn = fn
        self.params = params
        self.step_time = float(dt)
        self.noise = None if noise_std is None else jnp.atleast_1d(jnp.asarray(noise_std, float))

    def __call__(self, k: Step, x: State, u: InputValue) -> State:
        return self.fn(k, x, u, self.params)

    @property
    def dt(self) -> float:
        return self.step_time

    @property
    def noise_std(self) -> Float[Array, " n"] | None:
        return self.noise
