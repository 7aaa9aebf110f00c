"""Vector fields built on a reaction network: dx/dt = S v(t, x, u), parameters by name."""

from __future__ import annotations

import abc
from collections.abc import Mapping

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._errors import ModelError
from .._networks.network import ReactionNetwork
from .vector_field import AbstractVectorField, InputValue, Scalar, State


def _parameter_vector(
    network: ReactionNetwork,
    values: Mapping[str, float] | ArrayLike | None,
    log_scale: bool,
) -> Array:
    if values is None or isinstance(values, Mapping):
        p = network.parameter_values(values)  # type: ignore[arg-type]
    else:
        p = np.asarray(values, dtype=np.float64)
        q = len(network.parameter_names)
        if p.shape != (q,):
            raise ModelError(
                f"expected {q} parameter values (for {', '.join(network.parameter_names)}), "
                f"got shape {p.shape}."
            )
    if log_scale:
        if np.any(p <= 0):
            bad = [n for n, v in zip(network.parameter_names, p, strict=True) if v <= 0]
            raise ModelError(
                f"log_scale=True needs positive parameters; {bad} are <= 0. Use log_scale=False."
            )
        p = np.log(p)
    return jnp.asarray(p, dtype=jnp.float64)


class AbstractNetworkField(AbstractVectorField):
    """dx/dt = S v(t, x, u) for a reaction network; subclasses say how the rates v are computed.

    `parameters` holds one value per network parameter (`network.parameter_names`), as the value
    or its natural log when `log_scale` is true; the network itself is static structure.
    """

    parameters: Float[Array, " q"]
    network: ReactionNetwork = eqx.field(static=True)
    log_scale: bool = eqx.field(static=True)

    def __init__(
        self,
        network: ReactionNetwork,
        parameters: Mapping[str, float] | Float[ArrayLike, " q"] | None = None,
        *,
        log_scale: bool = False,
    ):
        self.network = network
        self.log_scale = log_scale
        self.parameters = _parameter_vector(network, parameters, log_scale)

    @property
    def stoichiometry(self) -> Int[np.ndarray, "n m"]:
        """The stoichiometric matrix S of the network."""
        return self.network.stoichiometry

    @abc.abstractmethod
    def rates(self, t: Scalar, x: State, u: InputValue) -> Float[Array, " m"]:
        """The reaction rate vector v(t, x, u), one rate per reaction."""

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        S = jnp.asarray(self.network.stoichiometry, dtype=x.dtype)
        return S @ self.rates(t, x, u)
