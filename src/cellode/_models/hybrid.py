"""Hybrid models: known stoichiometry, learned non-negative rates (SPEC B4).

dx/dt = S v(t, x, u), where the rates of some reactions come from known rate laws (with fitted
constants) and the rest from a neural network whose outputs are non-negative. Every conservation
law w^T S = 0 of the network then holds exactly, whatever the network's weights are:
d/dt (w^T x) = w^T S v = 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._errors import ModelError
from .._networks.network import ReactionNetwork
from .neural import input_features
from .vector_field import AbstractVectorField, InputValue, Scalar, State

POSITIVITY: dict[str, Callable[[Array], Array]] = {"softplus": jax.nn.softplus, "exp": jnp.exp}


class NeuralRates(eqx.Module):
    """Learned reaction rates r_theta(x [, u]) >= 0 for `n_rates` reactions.

    The MLP's outputs pass through softplus (or exp), so every rate is non-negative. With
    `reactants` (an integer matrix a, species x learned reactions) each rate is additionally
    gated by its mass-action monomial, r_j = g(NN_j(x)) * prod_i x_i^(a_ij): a reaction cannot run
    without its reactants, which keeps concentrations non-negative.
    """

    mlp: eqx.nn.MLP
    positivity: str = eqx.field(static=True)
    n_inputs: int = eqx.field(static=True)
    reactants: tuple[tuple[int, ...], ...] | None = eqx.field(static=True)

    def __init__(
        self,
        n_states: int,
        n_rates: int,
        *,
        key: PRNGKeyArray,
        width: int = 32,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.softplus,
        positivity: str = "softplus",
        n_inputs: int = 0,
        reactants: Int[np.ndarray, "n m"] | None = None,
    ):
        if positivity not in POSITIVITY:
            raise ModelError(f"positivity must be one of {sorted(POSITIVITY)}; got {positivity!r}.")
        if reactants is not None and np.shape(reactants) != (n_states, n_rates):
            raise ModelError(
                f"`reactants` must have shape (n_states, n_rates) = ({n_states}, {n_rates}); got "
                f"{np.shape(reactants)}."
            )
        self.positivity = positivity
        self.n_inputs = int(n_inputs)
        self.reactants = (
            None if reactants is None else tuple(tuple(int(a) for a in row) for row in reactants)
        )
        self.mlp = eqx.nn.MLP(
            n_states + self.n_inputs, n_rates, width, depth, activation=activation, key=key
        )

    def __call__(self, t: Scalar, x: State, u: InputValue) -> Float[Array, " m"]:
        raw = self.mlp(input_features(x, u, t, self.n_inputs, use_time=False))
        rates = POSITIVITY[self.positivity](raw)
        if self.reactants is None:
            return rates
        monomials = []
        for j in range(rates.shape[0]):  # static: the monomial prod_i x_i^(a_ij), term by term
            term = jnp.ones((), x.dtype)
            for i, row in enumerate(self.reactants):
                if row[j]:
                    term = term * x[i] ** row[j]
            monomials.append(term)
        return rates * jnp.stack(monomials).astype(rates.dtype)


class HybridRates(AbstractVectorField):
    """dx/dt = S_known v_known(t, x, u) + S_learned r_theta(x, u): known and learned reactions.

    Built from a `ReactionNetwork` with `from_network`, naming the reactions whose rates are
    learned; the other reactions keep their rate laws, with their constants as fitted
    parameters. Conservation laws of the whole network hold exactly.
    """

    known: AbstractVectorField | None
    learned: NeuralRates
    network: ReactionNetwork = eqx.field(static=True)
    known_index: tuple[int, ...] = eqx.field(static=True)
    learned_index: tuple[int, ...] = eqx.field(static=True)

    @classmethod
    def from_network(
        cls,
        network: ReactionNetwork,
        learned: Sequence[str],
        *,
        key: PRNGKeyArray,
        parameters: Mapping[str, float] | None = None,
        log_scale: bool = True,
        width: int = 32,
        depth: int = 2,
        positivity: str = "softplus",
        gate_by_reactants: bool = True,
        learned_inputs: bool = False,
    ) -> HybridRates:
        """A hybrid of `network` whose reactions named in `learned` get neural rates.

        `learned_inputs=True` feeds u(t) to the rate network too (when a learned reaction
        depends on a ligand, say).
        """
        names = list(network.reaction_names)
        unknown = [r for r in learned if r not in names]
        if unknown:
            raise ModelError(
                f"Reactions {unknown} are not in network {network.name!r}; its reactions are "
                f"{names}. Name reactions in the text with a prefix, e.g. `R1: A -> B ; k`."
            )
        if not learned:
            raise ModelError("Name at least one reaction whose rate is learned (`learned=`).")
        learned_index = tuple(names.index(r) for r in learned)
        known_index = tuple(j for j in range(len(names)) if j not in learned_index)
        known = None
        if known_index:
            known_reactions = tuple(network.reactions[j] for j in known_index)
            sub = ReactionNetwork(
                network.species, known_reactions, {}, network.initial, network.inputs,
                f"{network.name} (known part)", strict=False,
            )  # fmt: skip
            values = {**network.parameters, **(parameters or {})}
            known = sub.vector_field(
                {k: values[k] for k in sub.parameter_names}, log_scale=log_scale
            )
        a = network.reactant_matrix[:, list(learned_index)] if gate_by_reactants else None
        rates = NeuralRates(
            network.n_species, len(learned_index), key=key, width=width, depth=depth,
            positivity=positivity, n_inputs=len(network.inputs) if learned_inputs else 0,
            reactants=a,
        )  # fmt: skip
        return cls(known, rates, network, known_index, learned_index)

    def rates(self, t: Scalar, x: State, u: InputValue) -> Float[Array, " m"]:
        """All reaction rates v(t, x, u) in the network's order (known and learned)."""
        v = jnp.zeros(len(self.known_index) + len(self.learned_index), dtype=x.dtype)
        if self.known is not None:
            v = v.at[np.asarray(self.known_index)].set(self.known.rates(t, x, u))
        return v.at[np.asarray(self.learned_index)].set(self.learned(t, x, u).astype(x.dtype))

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        s = jnp.asarray(self.network.stoichiometry, dtype=x.dtype)
        return s @ self.rates(t, x, u)


class Correction(AbstractVectorField):
    """A universal differential equation: dx/dt = f_mech(t, x, u) + P g_theta(x [, u]).

    `g_theta` is a neural network whose outputs are added to the species listed in `species`
    (P places them; all species when `species` is None).
    """

    mechanistic: AbstractVectorField
    learned: eqx.nn.MLP
    species_index: tuple[int, ...] = eqx.field(static=True)
    n_states: int = eqx.field(static=True)
    n_inputs: int = eqx.field(static=True)

    def __init__(
        self,
        mechanistic: AbstractVectorField,
        n_states: int,
        *,
        key: PRNGKeyArray,
        species_index: Sequence[int] | None = None,
        width: int = 32,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.softplus,
        n_inputs: int = 0,
        initial_scale: float = 1e-2,
    ):
        index = tuple(range(n_states)) if species_index is None else tuple(species_index)
        if not index or any(not 0 <= i < n_states for i in index) or len(set(index)) < len(index):
            raise ModelError(
                f"`species_index` must list distinct species positions in 0..{n_states - 1}; "
                f"got {species_index}."
            )
        self.mechanistic = mechanistic
        self.species_index = index
        self.n_states = int(n_states)
        self.n_inputs = int(n_inputs)
        mlp = eqx.nn.MLP(
            n_states + self.n_inputs, len(index), width, depth, activation=activation, key=key
        )
        # Start near the mechanistic model: scale the last layer down.
        last = mlp.layers[-1]
        mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, last.weight * initial_scale)
        if last.bias is not None:
            mlp = eqx.tree_at(lambda m: m.layers[-1].bias, mlp, last.bias * initial_scale)
        self.learned = mlp

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        correction = self.learned(input_features(x, u, t, self.n_inputs, use_time=False))
        base = self.mechanistic(t, x, u)
        return base.at[np.asarray(self.species_index)].add(correction.astype(base.dtype))
