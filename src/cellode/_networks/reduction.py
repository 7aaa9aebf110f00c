"""Model reduction by conservation laws (SPEC B2).

With k independent laws W x = T (W integer k x n, T the totals from x0), k species are
*dependent*: split x into independent x_I and dependent x_D, then W_D x_D + W_I x_I = T gives

    x_D = W_D^{-1} (T - W_I x_I),

and the reduced model dx_I/dt = f_I(t, x(x_I), u) has n - k states and a Jacobian that is no
longer singular along the conserved directions -- which implicit (stiff) solvers need.

Choice of the dependent species: QR with column pivoting on W diag(s), s_i = |x0_i| plus a
small floor. Pivoting takes the column of largest norm first, i.e. the species with the largest
coefficient times abundance in the laws, and keeps W_D well conditioned. Eliminating *abundant*
species matters numerically: x_D is recovered as a difference T - W_I x_I, and that difference
loses relative accuracy when the eliminated species is small compared with the total.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jaxtyping import Array, ArrayLike, Float

from .._errors import ModelError
from .._models.vector_field import AbstractVectorField, InputValue, Scalar, State
from .conservation import ConservationLaws


def choose_dependent_species(
    laws: ConservationLaws | np.ndarray, x0: Float[ArrayLike, " n"] | None = None
) -> np.ndarray:
    """Indices of the k species to eliminate (see the module docstring for the rule)."""
    W = np.asarray(laws.matrix if isinstance(laws, ConservationLaws) else laws, dtype=np.float64)
    k, n = W.shape
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if x0 is None:
        scale = np.ones(n)
    else:
        a = np.abs(np.asarray(x0, dtype=np.float64))
        scale = a + 1e-6 * max(float(a.max(initial=0.0)), 1.0)
    _, _, perm = scipy.linalg.qr(W * scale[None, :], pivoting=True, mode="economic")
    return np.sort(perm[:k])


class ReducedField(AbstractVectorField):
    """The model on the independent species only, with the conserved totals as parameters:

        dx_I/dt = f_I(t, x(x_I), u),   x_D = W_D^{-1} (T - W_I x_I).

    `full` is the model on all species, `totals` the conserved totals T = W x0 (an array field,
    so gradients flow to x0 through them). `reduce_state` and `reconstruct` convert between the
    full and the reduced state (also for whole trajectories, shape (T, n)).
    """

    full: AbstractVectorField
    totals: Float[Array, " k"]
    independent: tuple[int, ...] = eqx.field(static=True)
    dependent: tuple[int, ...] = eqx.field(static=True)
    _offset_map: tuple[tuple[float, ...], ...] = eqx.field(static=True)  # W_D^{-1}
    _coupling: tuple[tuple[float, ...], ...] = eqx.field(static=True)  # W_D^{-1} W_I
    species: tuple[str, ...] | None = eqx.field(static=True)

    def __init__(
        self,
        full: AbstractVectorField,
        laws: ConservationLaws,
        x0: Float[ArrayLike, " n"],
        *,
        dependent: ArrayLike | None = None,
    ):
        W = np.asarray(laws.matrix, dtype=np.float64)
        k, n = W.shape
        x0 = jnp.asarray(x0)
        if x0.shape != (n,):
            raise ModelError(f"x0 has shape {x0.shape}; the laws are over {n} species.")
        dep = (
            choose_dependent_species(laws, np.asarray(x0))
            if dependent is None
            else np.sort(np.asarray(dependent, dtype=np.int64))
        )
        if dep.shape != (k,):
            raise ModelError(f"need one dependent species per law ({k}); got {dep.tolist()}.")
        ind = np.array([i for i in range(n) if i not in set(dep.tolist())], dtype=np.int64)
        WD = W[:, dep]
        if k and np.linalg.matrix_rank(WD) < k:
            names = [laws.species[i] for i in dep]
            raise ModelError(
                f"cannot eliminate {names}: their columns of the conservation laws are linearly "
                "dependent; choose other species (or leave `dependent` unset)."
            )
        WD_inv = np.linalg.inv(WD) if k else np.zeros((0, 0))
        self.full = full
        self.totals = laws.totals(x0)
        self.independent = tuple(int(i) for i in ind)
        self.dependent = tuple(int(i) for i in dep)
        self._offset_map = tuple(map(tuple, WD_inv.tolist()))
        self._coupling = tuple(map(tuple, (WD_inv @ W[:, ind]).tolist()))
        self.species = tuple(laws.species[i] for i in ind)

    @property
    def n_full(self) -> int:
        return len(self.independent) + len(self.dependent)

    def reduce_state(self, x: Float[ArrayLike, "*batch n"]) -> Float[Array, "*batch n_ind"]:
        """The independent part x_I of a full state (or of every row of a trajectory)."""
        return jnp.asarray(x)[..., jnp.asarray(self.independent, dtype=jnp.int32)]

    def reconstruct(self, x_ind: Float[ArrayLike, "*batch n_ind"]) -> Float[Array, "*batch n"]:
        """The full state: x_I as given, x_D = W_D^{-1} (T - W_I x_I)."""
        x_ind = jnp.asarray(x_ind)
        dtype = x_ind.dtype
        k = len(self.dependent)
        offset = jnp.asarray(self._offset_map, dtype=dtype).reshape(k, k) @ self.totals.astype(
            dtype
        )
        coupling = jnp.asarray(self._coupling, dtype=dtype).reshape(k, len(self.independent))
        x_dep = offset - x_ind @ coupling.T
        out = jnp.zeros((*x_ind.shape[:-1], self.n_full), dtype=dtype)
        out = out.at[..., jnp.asarray(self.independent, dtype=jnp.int32)].set(x_ind)
        return out.at[..., jnp.asarray(self.dependent, dtype=jnp.int32)].set(x_dep)

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        return self.full(t, self.reconstruct(x), u)[jnp.asarray(self.independent, jnp.int32)]
