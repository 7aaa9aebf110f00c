"""Stochastic models dx = f(t, x, u) dt + G(t, x, u) dW_t (SPEC A2): drift plus diffusion."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PyTree

from .._errors import ModelError
from .vector_field import AbstractVectorField, InputValue, Scalar, State


class AbstractDiffusion(eqx.Module):
    """The noise term G(t, x, u) of an SDE.

    Diagonal noise (`noise_dim is None`): `__call__` returns the diagonal of G, shape `(n,)`, and
    each species has its own independent Wiener process. General noise: `__call__` returns G of
    shape `(n, noise_dim)` driven by `noise_dim` independent Wiener processes.
    """

    @property
    @abc.abstractmethod
    def noise_dim(self) -> int | None:
        """Number of Wiener processes, or `None` for diagonal noise (one per state)."""

    @abc.abstractmethod
    def __call__(
        self, t: Scalar, x: State, u: InputValue
    ) -> Float[Array, " n"] | Float[Array, "n m"]:
        """Diagonal of G (diagonal noise) or the full matrix G (general noise)."""


class AbstractDiagonalNoise(AbstractDiffusion):
    """Diagonal noise scaled by one standard deviation per species, `sigma`."""

    sigma: Float[Array, " n"]

    def __init__(self, sigma: ArrayLike):
        self.sigma = jnp.atleast_1d(jnp.asarray(sigma, dtype=float))

    @property
    def noise_dim(self) -> None:
        return None


class AdditiveNoise(AbstractDiagonalNoise):
    """Constant diagonal noise G = diag(sigma): an Ornstein–Uhlenbeck-type intrinsic noise."""

    def __call__(self, t: Scalar, x: State, u: InputValue) -> Float[Array, " n"]:
        return jnp.broadcast_to(self.sigma, x.shape).astype(x.dtype)


class MultiplicativeNoise(AbstractDiagonalNoise):
    """Diagonal noise proportional to the state, G = diag(sigma * x) (log-normal-like fluctuations)."""

    def __call__(self, t: Scalar, x: State, u: InputValue) -> Float[Array, " n"]:
        return (self.sigma * x).astype(x.dtype)


class FunctionDiffusion(AbstractDiffusion):
    """A diffusion given by a function `fn(t, x, u, params)` and an explicit `params` pytree.

    With `noise_dim=None` the function returns the diagonal of G (shape `(n,)`); with an integer
    `noise_dim = m` it returns G of shape `(n, m)`.
    """

    fn: Callable[[Scalar, State, InputValue, Any], Array] = eqx.field(static=True)
    params: PyTree[Array]
    dim: int | None = eqx.field(static=True, default=None)

    @property
    def noise_dim(self) -> int | None:
        return self.dim

    def __call__(self, t: Scalar, x: State, u: InputValue) -> Array:
        return self.fn(t, x, u, self.params)


class SDE(eqx.Module):
    """An SDE model: deterministic drift f (any vector field) plus diffusion G.

    Simulating it returns sample paths; `jax.vmap` over PRNG keys gives an ensemble whose
    distribution approximates the law of x(t).
    """

    drift: AbstractVectorField
    diffusion: AbstractDiffusion

    def __check_init__(self):
        if not isinstance(self.drift, AbstractVectorField):
            raise ModelError(
                f"SDE drift must be an AbstractVectorField; got {type(self.drift).__name__}. "
                "Wrap a plain function with `FunctionField(fn, params)`."
            )
        if not isinstance(self.diffusion, AbstractDiffusion):
            raise ModelError(
                f"SDE diffusion must be an AbstractDiffusion; got {type(self.diffusion).__name__}. "
                "Use AdditiveNoise, MultiplicativeNoise or FunctionDiffusion."
            )
