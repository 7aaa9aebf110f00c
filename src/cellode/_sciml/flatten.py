"""Flatten layer (torch.nn.Flatten)."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, PRNGKeyArray

from .functional import flatten
from .layer import AbstractLayer


class Flatten(AbstractLayer):
    """Merge axes start_dim..end_dim in row-major order (PyTorch's order, channel first).

    PyTorch's default start_dim=1 treats axis 0 as the batch, whatever the input is.
    """

    layer_id: str = eqx.field(static=True)
    start_dim: int = eqx.field(static=True)
    end_dim: int = eqx.field(static=True)

    def __init__(self, layer_id: str, start_dim: int = 1, end_dim: int = -1):
        self.layer_id = layer_id
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        return flatten(x, self.start_dim, self.end_dim)
