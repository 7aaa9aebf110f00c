"""Networks with general rate laws (Michaelis–Menten, Hill, text expressions): dx/dt = S v."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from .._errors import InputError
from .._networks.expressions import TIME, evaluate
from .network_field import AbstractNetworkField
from .vector_field import InputValue, Scalar, State


class RateLawField(AbstractNetworkField):
    """A reaction network with any rate laws: dx/dt = S v(t, x, u).

    Each v_j is the reaction's rate law (mass action k prod x^a, Michaelis–Menten
    Vmax S/(Km + S), Hill Vmax S^n/(K^n + S^n), or a text expression in species, parameters,
    inputs u by name, and time t), compiled from its parse tree into JAX operations when traced.
    `parameters` holds one value per network parameter (`network.parameter_names`), as the
    value or its natural log when `log_scale` is true.
    """

    def rates(self, t: Scalar, x: State, u: InputValue) -> Float[Array, " m"]:
        """The reaction rate vector v(t, x, u)."""
        net = self.network
        if net.inputs and u is None:
            raise InputError(
                f"the rates of {net.name!r} use the inputs {', '.join(net.inputs)}; pass "
                "`inputs=` (e.g. cellode.Constant([...])) when simulating."
            )
        p = jnp.exp(self.parameters) if self.log_scale else self.parameters
        env: dict[str, object] = {s: x[i] for i, s in enumerate(net.species)}
        env.update({name: p[i] for i, name in enumerate(net.parameter_names)})
        if net.inputs:
            u = jnp.atleast_1d(u)
            if u.shape[0] != len(net.inputs):
                raise InputError(
                    f"{net.name!r} has {len(net.inputs)} inputs ({', '.join(net.inputs)}) but u "
                    f"has {u.shape[0]} components."
                )
            env.update({name: u[i] for i, name in enumerate(net.inputs)})
        env[TIME] = jnp.asarray(t, dtype=x.dtype)
        values = [
            jnp.broadcast_to(jnp.asarray(evaluate(e, env), dtype=x.dtype), ())
            for e in net.rate_expressions()
        ]
        if not values:
            return jnp.zeros((0,), dtype=x.dtype)
        return jnp.stack(values)
