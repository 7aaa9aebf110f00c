"""A stand-in for the SBML importer's model interface (docs: the sbml/petab contract), written by
hand for the model of PEtab test case v1 0001: A <-> B, A(0) = a0, B(0) = b0, compartment 1."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np


class ReversibleAB(eqx.Module):
    state_ids: tuple[str, ...] = eqx.field(static=True, default=("A", "B"))
    constant_ids: tuple[str, ...] = eqx.field(
        static=True, default=("compartment", "a0", "b0", "k1", "k2")
    )
    constant_values: np.ndarray = eqx.field(
        static=True, default_factory=lambda: np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    )

    def rhs(self, t, x, p):
        _, _, _, k1, k2 = (p[i] for i in range(5))
        flux = k1 * x[0] - k2 * x[1]
        return jnp.stack([-flux, flux])

    def initial_state(self, p=None, overrides=None):
        p = jnp.asarray(self.constant_values) if p is None else p
        x = jnp.stack([p[1], p[2]])
        for i, s in enumerate(self.state_ids):
            if overrides and s in overrides:
                x = x.at[i].set(jnp.where(jnp.isnan(overrides[s]), x[i], overrides[s]))
        return x

    def symbols(self, t, x, p):
        env = {c: p[i] for i, c in enumerate(self.constant_ids)}
        env.update({"A": x[0], "B": x[1]})
        return env
