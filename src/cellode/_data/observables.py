"""Observation functions y = h(x, theta): what an assay measures of the state (SPEC C1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import ModelError
from .._networks.expressions import Expr, evaluate, free_names, parse_expression


class Observables(eqx.Module):
    """Named observables, each a safe-parsed expression of species and observable parameters.

        Observables.from_expressions(
            {"pKinase": "scale * Kp + offset", "Gene": "G"},
            species=["R", "LR", "K", "Kp", "G"],
            parameters={"scale": 2.0, "offset": 0.1},
        )

    The parameters (scalings, offsets) are array fields, so they are fitted with the model;
    `log_scale` keeps positive ones positive.
    """

    parameters: Float[Array, " p"]
    names: tuple[str, ...] = eqx.field(static=True)
    trees: tuple[Expr, ...] = eqx.field(static=True)
    species: tuple[str, ...] = eqx.field(static=True)
    parameter_names: tuple[str, ...] = eqx.field(static=True)
    log_scale: bool = eqx.field(static=True, default=False)

    @classmethod
    def from_species(
        cls, species: Sequence[str], observed: Sequence[str] | None = None
    ) -> Observables:
        """Observe species directly (all of them when `observed` is None)."""
        observed = list(species) if observed is None else list(observed)
        return cls.from_expressions({s: s for s in observed}, species=species)

    @classmethod
    def from_expressions(
        cls,
        expressions: Mapping[str, str],
        *,
        species: Sequence[str],
        parameters: Mapping[str, float] | None = None,
        log_scale: bool = False,
    ) -> Observables:
        """Observables from text; every name must be a species or a declared parameter."""
        parameters = dict(parameters or {})
        species = tuple(species)
        overlap = set(species) & set(parameters)
        if overlap:
            raise ModelError(f"Observable parameters {sorted(overlap)} have the names of species.")
        trees = []
        for name, text in expressions.items():
            tree = parse_expression(text)
            unknown = sorted(free_names(tree) - set(species) - set(parameters))
            if unknown:
                raise ModelError(
                    f"Observable {name!r} = {text!r} uses {unknown}, which are neither species "
                    f"({', '.join(species)}) nor observable parameters; declare them in `parameters`."
                )
            trees.append(tree)
        if log_scale and any(v <= 0 for v in parameters.values()):
            raise ModelError("log_scale=True needs positive observable parameters.")
        values = np.array(list(parameters.values()), dtype=np.float64)
        return cls(
            parameters=jnp.asarray(np.log(values) if log_scale else values),
            names=tuple(expressions),
            trees=tuple(trees),
            species=species,
            parameter_names=tuple(parameters),
            log_scale=log_scale,
        )

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, " q"]:
        """h(x): one value per observable."""
        p = jnp.exp(self.parameters) if self.log_scale else self.parameters
        env: dict[str, object] = {s: x[i] for i, s in enumerate(self.species)}
        env.update({n: p[i].astype(x.dtype) for i, n in enumerate(self.parameter_names)})
        return jnp.stack(
            [jnp.broadcast_to(jnp.asarray(evaluate(t, env), x.dtype), ()) for t in self.trees]
        )

    @property
    def values(self) -> dict[str, float]:
        """Observable parameters by name, on their natural scale."""
        p = np.exp(self.parameters) if self.log_scale else np.asarray(self.parameters)
        return dict(zip(self.parameter_names, p.tolist(), strict=True))
