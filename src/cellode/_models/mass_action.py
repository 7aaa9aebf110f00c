"""Mass-action kinetics: dx/dt = S v(x), v_j = k_j prod_i x_i^(a_ij) (SPEC B1)."""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._errors import ModelError
from .._networks.network import MassActionRate, Reaction, ReactionNetwork
from .network_field import AbstractNetworkField
from .vector_field import InputValue, Scalar, State


class MassAction(AbstractNetworkField):
    """Mass-action kinetics of a reaction network: dx/dt = S v(x) with
    v_j(x) = k_j * prod_i x_i^(a_ij), a_ij the reactant coefficients.

    `parameters` holds one value per network parameter (`network.parameter_names`; reactions may
    share a rate constant), as k or as ln k when `log_scale` is true. f is a polynomial in x of
    degree max_j sum_i a_ij.

        net = ReactionNetwork.from_text("X1 + X2 <-> X3 ; kf, kr")
        field = MassAction(net, {"kf": 2.0, "kr": 1.0})
    """

    def __init__(
        self,
        network: ReactionNetwork,
        parameters: Mapping[str, float] | Float[ArrayLike, " q"] | None = None,
        *,
        log_scale: bool = False,
    ):
        if not network.is_mass_action:
            bad = [
                n
                for n, r in zip(network.reaction_names, network.reactions, strict=True)
                if not isinstance(r.rate, MassActionRate)
            ]
            raise ModelError(
                f"MassAction needs mass-action rates; reactions {bad} use other rate laws. Use "
                "RateLawField (or network.vector_field()) instead."
            )
        super().__init__(network, parameters, log_scale=log_scale)

    @classmethod
    def from_matrices(
        cls,
        reactants: Int[ArrayLike, "n m"],
        products: Int[ArrayLike, "n m"],
        k: Float[ArrayLike, " m"],
        *,
        log_scale: bool = False,
    ) -> MassAction:
        """Mass action from reactant and product coefficient matrices (species X1..Xn, one rate
        constant k1..km per reaction)."""
        A, B = np.asarray(reactants), np.asarray(products)
        if A.shape != B.shape or A.ndim != 2:
            raise ModelError(f"reactants {A.shape} and products {B.shape} must be equal n x m.")
        n, m = A.shape
        species = tuple(f"X{i + 1}" for i in range(n))
        reactions = tuple(
            Reaction(
                tuple((species[i], int(A[i, j])) for i in range(n) if A[i, j]),
                tuple((species[i], int(B[i, j])) for i in range(n) if B[i, j]),
                MassActionRate(f"k{j + 1}"),
            )
            for j in range(m)
        )
        net = ReactionNetwork(species, reactions, name="mass-action network")
        return cls(net, np.asarray(k, dtype=np.float64), log_scale=log_scale)

    @property
    def rate_constants(self) -> Float[Array, " m"]:
        """k_j for every reaction (parameters mapped to reactions, undone from log scale)."""
        p = jnp.exp(self.parameters) if self.log_scale else self.parameters
        return p[jnp.asarray(_reaction_parameter_index(self.network))]

    def rates(self, t: Scalar, x: State, u: InputValue) -> Float[Array, " m"]:
        """The reaction rates v(x) = k * prod x^a (one per reaction)."""
        index = jnp.asarray(_reactant_index(self.network))
        x_ext = jnp.concatenate([x, jnp.ones((1,), dtype=x.dtype)])  # padding index -> 1
        return self.rate_constants * jnp.prod(x_ext[index], axis=1)


def _reaction_parameter_index(network: ReactionNetwork) -> np.ndarray:
    position = {p: i for i, p in enumerate(network.parameter_names)}
    return np.array([position[r.rate.k] for r in network.reactions], dtype=np.int64)


def _reactant_index(network: ReactionNetwork) -> np.ndarray:
    """m x max_order table of reactant species indices, each repeated by its coefficient and
    padded with n (an appended 1.0), so that v_j = k_j prod_l x_ext[index[j, l]].

    Products of gathered entries (rather than x^a) keep gradients finite at x = 0.
    """
    position = {s: i for i, s in enumerate(network.species)}
    n = len(network.species)
    rows = [[position[s] for s, c in r.reactants for _ in range(c)] for r in network.reactions]
    width = max((len(row) for row in rows), default=0)
    table = np.full((len(rows), max(width, 1)), n, dtype=np.int64)
    for j, row in enumerate(rows):
        table[j, : len(row)] = row
    return table
