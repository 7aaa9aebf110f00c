"""The linear solves of implicit steps: b ↦ (I - c J)⁻¹ b with one factorisation per matrix.

Rosenbrock stages and Newton iterations solve with the same matrix several times per step. For
the small systems of cell models (tens of states) the cost of a step is the number of XLA
operations, not arithmetic. So up to `INVERSE_MAX_SIZE` states the inverse is formed once and
each solve is one matrix product; larger systems keep LAPACK's LU factors.

The small inverse is Gauss–Jordan elimination with partial pivoting written in XLA operations
(`gauss_jordan_inverse`), not LAPACK's `getrf`/`getri`: a LAPACK call is a custom call, and a
while loop that contains one cannot be compiled by XLA:CPU into a single function (see
`cellode._xla_flags`), so every operation of every solver step would again pay its launch.
Either way the forward error of a solve is of order cond(I - c J) · eps, which the step-size
control absorbs.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax
from jaxtyping import Array, Float

INVERSE_MAX_SIZE = 32


@jax.custom_jvp
def gauss_jordan_inverse(matrix: Float[Array, "n n"]) -> Float[Array, "n n"]:
    """A⁻¹ by Gauss–Jordan elimination on [A | I] with partial pivoting (row swaps).

    Step k brings the largest |entry| of column k at or below the diagonal to row k, scales
    that row to a unit pivot and eliminates column k from every other row; after n steps the
    right half is A⁻¹. A singular matrix gives inf/nan entries, as LAPACK's inverse does.
    Its derivative is the inverse's, d(A⁻¹) = -A⁻¹ dA A⁻¹, not the derivative of the steps.
    """
    n = matrix.shape[-1]
    if n == 0:
        return matrix
    rows = jnp.arange(n)
    augmented = jnp.concatenate([matrix, jnp.eye(n, dtype=matrix.dtype)], axis=1)

    def eliminate(k, m):
        pivot = jnp.argmax(jnp.where(rows >= k, jnp.abs(m[:, k]), -1.0))
        row_k, row_pivot = m[k], m[pivot]
        m = m.at[pivot].set(row_k).at[k].set(row_pivot)
        unit_row = m[k] / m[k, k]
        m = m - m[:, k].at[k].set(0.0)[:, None] * unit_row[None, :]
        return m.at[k].set(unit_row)

    return lax.fori_loop(0, n, eliminate, augmented)[:, n:]


@gauss_jordan_inverse.defjvp
def _gauss_jordan_inverse_jvp(primals, tangents):
    (matrix,), (d_matrix,) = primals, tangents
    inverse = gauss_jordan_inverse(matrix)
    return inverse, -inverse @ d_matrix @ inverse


def factorise(matrix: Float[Array, "n n"]) -> Callable[[Array], Array]:
    """The solve b ↦ matrix⁻¹ b (b of shape (n,) or (n, k)), factorised once."""
    if matrix.shape[0] <= INVERSE_MAX_SIZE:
        inverse = gauss_jordan_inverse(matrix)
        return lambda b: inverse @ b
    lu = jsl.lu_factor(matrix)
    return lambda b: jsl.lu_solve(lu, b)


def shifted_solve(jac: Float[Array, "n n"], c: Array) -> Callable[[Array], Array]:
    """The solve b ↦ (I - c jac)⁻¹ b."""
    return factorise(jnp.eye(jac.shape[0], dtype=jac.dtype) - c * jac)
