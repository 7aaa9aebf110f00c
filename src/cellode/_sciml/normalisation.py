"""Normalisation layers (torch.nn.BatchNorm1d-3d, InstanceNorm1d-3d, LayerNorm).

Each computes y = (x - mean) / sqrt(var + eps) · weight + bias with the biased variance, over:
  BatchNorm     the batch and spatial axes, per channel (axis 1);
  InstanceNorm  the spatial axes, per sample and channel;
  LayerNorm     the trailing `normalized_shape` axes, with element-wise weight and bias.

PEtab-SciML parameter files carry weights and biases but no running statistics, so BatchNorm
normalises with the statistics of the batch it is given: PyTorch's training-mode behaviour, which
is how the PEtab-SciML test suite's reference outputs were computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from .._errors import ModelError
from .layer import AbstractLayer, float_dtype


def _normalise(x: Array, axes: tuple[int, ...], eps: float) -> Array:
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=axes, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps)


def _affine(num_features: int, affine: bool) -> tuple[Array | None, Array | None]:
    if not affine:
        return None, None
    dtype = float_dtype()
    return jnp.ones((num_features,), dtype), jnp.zeros((num_features,), dtype)


def _per_channel(y: Array, weight: Array | None, bias: Array | None, axis: int) -> Array:
    shape = (-1,) + (1,) * (y.ndim - axis - 1)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


class BatchNorm(AbstractLayer):
    """Per-channel normalisation over batch and space, input (N, C) or (N, C, *spatial)."""

    layer_id: str = eqx.field(static=True)
    weight: Array | None
    bias: Array | None
    n_spatial: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(
        self,
        layer_id: str,
        n_spatial: int,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        bias: bool = True,
    ):
        del momentum, track_running_stats  # running statistics only matter for training runs
        self.layer_id = layer_id
        self.n_spatial = n_spatial
        self.eps = float(eps)
        self.weight, self.bias = _affine(num_features, affine)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        allowed = (2, 3) if self.n_spatial == 1 else (self.n_spatial + 2,)
        if x.ndim not in allowed:
            raise ModelError(
                f"Layer '{self.layer_id}' (BatchNorm{self.n_spatial}d) needs a batch: input of "
                f"{' or '.join(str(a) for a in allowed)} dimensions, got shape {x.shape}."
            )
        y = _normalise(x, (0, *range(2, x.ndim)), self.eps)
        return _per_channel(y, self.weight, self.bias, 1)


class InstanceNorm(AbstractLayer):
    """Per-sample, per-channel normalisation over space, input (N, C, *S) or (C, *S)."""

    layer_id: str = eqx.field(static=True)
    weight: Array | None
    bias: Array | None
    n_spatial: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(
        self,
        layer_id: str,
        n_spatial: int,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        bias: bool = True,
    ):
        del momentum, track_running_stats
        self.layer_id = layer_id
        self.n_spatial = n_spatial
        self.eps = float(eps)
        self.weight, self.bias = _affine(num_features, affine)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        if x.ndim not in (self.n_spatial + 1, self.n_spatial + 2):
            raise ModelError(
                f"Layer '{self.layer_id}' (InstanceNorm{self.n_spatial}d) takes (N, C, *S) or "
                f"(C, *S) input with {self.n_spatial} spatial axes; got shape {x.shape}."
            )
        spatial = tuple(range(x.ndim - self.n_spatial, x.ndim))
        y = _normalise(x, spatial, self.eps)
        return _per_channel(y, self.weight, self.bias, x.ndim - self.n_spatial - 1)


class LayerNorm(AbstractLayer):
    """Normalisation over the trailing `normalized_shape` axes, element-wise weight and bias."""

    layer_id: str = eqx.field(static=True)
    weight: Array | None
    bias: Array | None
    normalized_shape: tuple[int, ...] = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(
        self,
        layer_id: str,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ):
        self.layer_id = layer_id
        shape = (
            (int(normalized_shape),)
            if isinstance(normalized_shape, int)
            else tuple(int(s) for s in normalized_shape)
        )
        self.normalized_shape = shape
        self.eps = float(eps)
        dtype = float_dtype()
        self.weight = jnp.ones(shape, dtype) if elementwise_affine else None
        self.bias = jnp.zeros(shape, dtype) if elementwise_affine and bias else None

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        n = len(self.normalized_shape)
        if x.shape[x.ndim - n :] != self.normalized_shape:
            raise ModelError(
                f"Layer '{self.layer_id}' (LayerNorm) normalises trailing axes of shape "
                f"{self.normalized_shape}; got input of shape {x.shape}."
            )
        y = _normalise(x, tuple(range(x.ndim - n, x.ndim)), self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y
