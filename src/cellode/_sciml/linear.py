"""Linear and Bilinear layers (torch.nn.Linear, torch.nn.Bilinear)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .layer import AbstractLayer, fan_in_bound, uniform


class Linear(AbstractLayer):
    """y = x Wᵀ + b on the last axis; W is out_features x in_features (PyTorch layout)."""

    layer_id: str = eqx.field(static=True)
    weight: Float[Array, "out in"]
    bias: Float[Array, " out"] | None

    def __init__(
        self,
        layer_id: str,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        key: PRNGKeyArray | None = None,
    ):
        self.layer_id = layer_id
        wkey, bkey = jax.random.split(key) if key is not None else (None, None)
        bound = fan_in_bound(in_features)
        self.weight = uniform(wkey, (out_features, in_features), bound)
        self.bias = uniform(bkey, (out_features,), bound) if bias else None

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        y = jnp.matmul(x, self.weight.T)
        return y if self.bias is None else y + self.bias


class Bilinear(AbstractLayer):
    """y_k = x1ᵀ A_k x2 + b_k on the last axes; A is out x in1 x in2 (PyTorch layout)."""

    layer_id: str = eqx.field(static=True)
    weight: Float[Array, "out in1 in2"]
    bias: Float[Array, " out"] | None

    def __init__(
        self,
        layer_id: str,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        *,
        key: PRNGKeyArray | None = None,
    ):
        self.layer_id = layer_id
        wkey, bkey = jax.random.split(key) if key is not None else (None, None)
        bound = fan_in_bound(in1_features)
        self.weight = uniform(wkey, (out_features, in1_features, in2_features), bound)
        self.bias = uniform(bkey, (out_features,), bound) if bias else None

    def __call__(self, x1: Array, x2: Array, *, key: PRNGKeyArray | None = None) -> Array:
        y = jnp.einsum("...i,kij,...j->...k", x1, self.weight, x2)
        return y if self.bias is None else y + self.bias
