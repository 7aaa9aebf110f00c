"""Dropout layers (torch.nn.Dropout, Dropout1d-3d, AlphaDropout).

Without a `key` a dropout layer is the identity: PyTorch's evaluation mode. With a `key` it
drops at random as PyTorch does in training mode, so that averages over many passes match the
training-mode expectation:
  Dropout       keeps each element with probability q = 1 - p and scales it by 1/q (E = x);
  DropoutNd     the same for whole channels (the trailing n axes share one draw);
  AlphaDropout  sets dropped elements to α' = -λα (SELU's saturation value) and applies
                y = a·(x·m + α'(1-m)) + b with a = (q(1 + pα'²))^(-1/2), b = -a α' p, which keeps
                zero mean and unit variance for standardised input (E = a q x).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from .._errors import ModelError
from .functional import SELU_ALPHA, SELU_SCALE
from .layer import AbstractLayer


def _check_p(p: float, layer_id: str) -> float:
    if not 0 <= p <= 1:
        raise ModelError(f"Layer '{layer_id}': dropout probability p={p} must lie in [0, 1].")
    return float(p)


class Dropout(AbstractLayer):
    """Element-wise (n_spatial = 0) or channel-wise (n_spatial = 1-3) inverted dropout."""

    layer_id: str = eqx.field(static=True)
    p: float = eqx.field(static=True)
    n_spatial: int = eqx.field(static=True)

    def __init__(self, layer_id: str, p: float = 0.5, n_spatial: int = 0, inplace: bool = False):
        del inplace
        self.layer_id = layer_id
        self.p = _check_p(p, layer_id)
        self.n_spatial = n_spatial

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        if key is None or self.p == 0:
            return x
        q = 1 - self.p
        shape = x.shape[: x.ndim - self.n_spatial] + (1,) * self.n_spatial
        keep = jax.random.bernoulli(key, q, shape)
        return jnp.where(keep, x / q, jnp.zeros((), x.dtype)) if q > 0 else jnp.zeros_like(x)


class AlphaDropout(AbstractLayer):
    """Dropout for SELU networks: keeps the mean and variance of standardised input."""

    layer_id: str = eqx.field(static=True)
    p: float = eqx.field(static=True)

    def __init__(self, layer_id: str, p: float = 0.5, inplace: bool = False):
        del inplace
        self.layer_id = layer_id
        self.p = _check_p(p, layer_id)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        if key is None or self.p == 0:
            return x
        p, q = self.p, 1 - self.p
        alpha = -SELU_SCALE * SELU_ALPHA
        a = (q * (1 + p * alpha**2)) ** -0.5
        b = -a * alpha * p
        keep = jax.random.bernoulli(key, q, x.shape)
        return a * jnp.where(keep, x, alpha) + b
