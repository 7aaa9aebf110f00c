"""A network with quadratic activation that represents a mass-action vector field exactly (SPEC B5).

A mass-action field is a polynomial: f(x) = sum_j S[:, j] k_j x^(a_j), with monomials x^(a_j) of
degree at most 3 for up to trimolecular reactions. With the activation sigma(z) = z^2, a hidden
unit squares a linear combination of the previous layer, and the polarisation identity

    p q = ((p + q)^2 - (p - q)^2) / 4

turns two squaring units into a product. Layer l builds every needed monomial of degree l + 1 as
(a monomial of degree l) x (one variable), degree by degree; monomials (and variables) that are
still needed later are carried forward exactly with the same identity against the constant 1:

    p = ((p + 1)^2 - (p - 1)^2) / 4.

A square x_i^2 needs one unit (sigma(x_i)). The linear output layer combines the monomials with
the coefficients S[:, j] k_j. The result equals the mass-action field up to float64 round-off,
with max(D - 1, 1) hidden layers for maximal degree D.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import ModelError
from .mass_action import MassAction, _reactant_index
from .vector_field import AbstractVectorField, InputValue, Scalar, State

Monomial = tuple[int, ...]  # sorted species indices with repetition; () is the constant 1


class ExactPolynomialNet(AbstractVectorField):
    """h_0 = x, h_l = (A_l h_{l-1} + b_l)^2 (elementwise), f = W h_L + c.

    Built by `from_mass_action` to compute a mass-action vector field exactly. The weights are
    ordinary array fields, so the network can also be trained from there.
    """

    weights: tuple[Float[Array, "w_out w_in"], ...]
    biases: tuple[Float[Array, " w_out"], ...]
    out_weight: Float[Array, "n w_last"]
    out_bias: Float[Array, " n"]

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        h = x
        for A, b in zip(self.weights, self.biases, strict=True):
            z = A @ h + b
            h = z * z
        return self.out_weight @ h + self.out_bias

    @property
    def size(self) -> dict[str, object]:
        """Hidden layers, their widths, and the number of parameters (weights and biases)."""
        widths = [int(b.shape[0]) for b in self.biases]
        arrays = [*self.weights, *self.biases, self.out_weight, self.out_bias]
        return {
            "hidden_layers": len(widths),
            "widths": widths,
            "parameters": int(sum(a.size for a in arrays)),
        }

    @classmethod
    def from_mass_action(cls, model: MassAction) -> ExactPolynomialNet:
        """The exact quadratic-activation network of a mass-action model (any degree)."""
        if not isinstance(model, MassAction):
            raise ModelError(
                "ExactPolynomialNet.from_mass_action needs a MassAction model; other rate laws "
                "are not polynomials."
            )
        net = model.network
        n = net.n_species
        S = net.stoichiometry.astype(np.float64)
        k = np.asarray(model.rate_constants, dtype=np.float64)
        table = _reactant_index(net)
        monomials: list[Monomial] = [tuple(sorted(int(i) for i in row if i < n)) for row in table]
        coeff: dict[Monomial, np.ndarray] = {}
        for j, mono in enumerate(monomials):
            coeff[mono] = coeff.get(mono, np.zeros(n)) + S[:, j] * k[j]
        degree = max((len(m) for m in coeff), default=0)
        n_layers = max(degree - 1, 1)

        # needed[l]: monomials whose value must be available after layer l (l = 0 is the input)
        needed: list[set[Monomial]] = [set() for _ in range(n_layers + 1)]
        needed[n_layers] = {m for m in coeff if len(m) >= 1}
        for layer in range(n_layers, 0, -1):
            for m in needed[layer]:
                if len(m) == layer + 1:
                    needed[layer - 1] |= {m[:-1], m[-1:]}
                else:
                    needed[layer - 1].add(m)
        assert all(len(m) == 1 for m in needed[0])

        # value maps: monomial -> (coefficients on h, constant), for the current layer's h
        values: dict[Monomial, tuple[np.ndarray, float]] = {
            (i,): (np.eye(n)[i], 0.0) for i in range(n)
        }
        width = n
        weights, biases = [], []
        for layer in range(1, n_layers + 1):
            rows, consts = [], []
            new_values: dict[Monomial, tuple[np.ndarray, float]] = {}
            for m in sorted(needed[layer]):
                if len(m) == layer + 1:
                    p, q = values[m[:-1]], values[m[-1:]]
                else:
                    p, q = values[m], (np.zeros(width), 1.0)
                first = len(rows)
                if len(m) == 2 and layer == 1 and m[0] == m[1]:
                    rows.append(p[0])
                    consts.append(p[1])
                    new_values[m] = (np.array([first]), np.array([1.0]))
                else:
                    rows += [p[0] + q[0], p[0] - q[0]]
                    consts += [p[1] + q[1], p[1] - q[1]]
                    new_values[m] = (np.array([first, first + 1]), np.array([0.25, -0.25]))
            new_width = len(rows)
            weights.append(np.array(rows).reshape(new_width, width))
            biases.append(np.array(consts))
            values = {}
            for m, (units, c) in new_values.items():
                vec = np.zeros(new_width)
                vec[units] = c
                values[m] = (vec, 0.0)
            width = new_width
        out_weight = np.zeros((n, width))
        out_bias = np.zeros(n)
        for m, c in coeff.items():
            if len(m) == 0:
                out_bias += c
            else:
                vec, const = values[m]
                out_weight += np.outer(c, vec)
                out_bias += c * const
        return cls(
            weights=tuple(jnp.asarray(w) for w in weights),
            biases=tuple(jnp.asarray(b) for b in biases),
            out_weight=jnp.asarray(out_weight),
            out_bias=jnp.asarray(out_bias),
        )
