"""Many simulations in one compiled call: a vmap over the leading axis that skips a batch of one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def map_simulations(fn: Callable[..., Any], *batched: Any) -> Any:
    """`jax.vmap(fn)(*batched)` over the leading (simulation) axis of every array in `batched`,
    but a plain call when there is a single simulation.

    A vmapped solve batches diffrax's while loop: the loop is traced a second time to batch it,
    and every step selects over the whole loop state, because each member could stop at a
    different step. With one member that is pure cost, in compile time and at run time.
    """
    leaves = jax.tree.leaves(batched)
    if not leaves or leaves[0].shape[0] != 1:
        return jax.vmap(fn)(*batched)
    out = fn(*jax.tree.map(lambda a: a[0], batched))
    return jax.tree.map(lambda a: jnp.expand_dims(a, 0), out)
