"""Chemical Langevin noise for reaction networks: G = S diag(sqrt(v / Omega)) (SPEC A2, E2).

Each reaction j fires as a Poisson process; at system size Omega (molecules per unit
concentration, e.g. volume x Avogadro's number) the diffusion approximation of the
concentrations is the Itô SDE

    dx = S v(t, x, u) dt + S diag(sqrt(v(t, x, u) / Omega)) dW,   W in R^m,

one independent Wiener process per reaction. Because the noise enters through S, every
conservation law w^T S = 0 also holds path by path: w^T G = 0.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._errors import ModelError
from .mass_action import MassAction
from .rate_laws import RateLawField
from .sde import SDE, AbstractDiffusion
from .vector_field import InputValue, Scalar, State


class ChemicalLangevin(AbstractDiffusion):
    """G(t, x, u) = S diag(sqrt(max(v(t, x, u), 0) / Omega)), shape (n, m).

    `field` supplies S and the rates v (a `MassAction` or `RateLawField`); `system_size` is
    Omega. Negative rates (from a state that strayed below zero) are clipped to zero noise.
    """

    field: MassAction | RateLawField
    system_size: float = eqx.field(static=True)

    def __check_init__(self):
        if not isinstance(self.field, MassAction | RateLawField):
            raise ModelError(
                "ChemicalLangevin needs a reaction-network field (MassAction or RateLawField); "
                f"got {type(self.field).__name__}."
            )
        if not self.system_size > 0:
            raise ModelError(f"system_size must be positive; got {self.system_size}.")

    @property
    def noise_dim(self) -> int:
        return self.field.network.n_reactions

    def __call__(self, t: Scalar, x: State, u: InputValue) -> Float[Array, "n m"]:
        v = self.field.rates(t, x, u)
        S = jnp.asarray(self.field.network.stoichiometry, dtype=x.dtype)
        # sqrt has an infinite derivative at 0: guard so gradients stay finite
        safe = jnp.where(v > 0, v, 1.0)
        amplitude = jnp.where(v > 0, jnp.sqrt(safe / self.system_size), 0.0)
        return S * amplitude[None, :]


def chemical_langevin(field: MassAction | RateLawField, system_size: float) -> SDE:
    """The chemical Langevin SDE of a network: drift S v, diffusion S diag(sqrt(v / Omega))."""
    return SDE(drift=field, diffusion=ChemicalLangevin(field, float(system_size)))
