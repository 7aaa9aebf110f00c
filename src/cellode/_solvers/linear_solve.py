"""The linear solves of implicit steps: b ↦ (I - c J)⁻¹ b with one factorisation per matrix.

Rosenbrock stages and Newton iterations solve with the same matrix several times per step. For
the small systems of cell models (tens of states) the cost of a step is the number of XLA
operations, not arithmetic: a LAPACK LU solve is a permutation and two triangular solves
(three operations, each a call into LAPACK), where a product with the inverse is one small
matrix product. So up to `INVERSE_MAX_SIZE` states the inverse (`jnp.linalg.inv`, i.e. LU with
partial pivoting solved against the identity) is formed once and each solve is a product;
larger systems keep the LU factors. Either way the forward error of a solve is of order
cond(I - c J) · eps, which the step-size control absorbs.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, Float

INVERSE_MAX_SIZE = 32


def factorise(matrix: Float[Array, "n n"]) -> Callable[[Array], Array]:
    """The solve b ↦ matrix⁻¹ b (b of shape (n,) or (n, k)), factorised once."""
    if matrix.shape[0] <= INVERSE_MAX_SIZE:
        inverse = jnp.linalg.inv(matrix)
        return lambda b: inverse @ b
    lu = jsl.lu_factor(matrix)
    return lambda b: jsl.lu_solve(lu, b)


def shifted_solve(jac: Float[Array, "n n"], c: Array) -> Callable[[Array], Array]:
    """The solve b ↦ (I - c jac)⁻¹ b."""
    return factorise(jnp.eye(jac.shape[0], dtype=jac.dtype) - c * jac)
