"""Convolutions in 1-3 spatial dimensions (torch.nn.Conv1d-3d, ConvTranspose1d-3d).

PyTorch's convolution is a cross-correlation: y[o, s] = b[o] + Σ_{c,k} W[o, c, k] x[c, s·stride +
k·dilation - padding], with the input channels split into `groups`. The transposed convolution
is its adjoint in x, which is what `ConvTranspose` computes: a convolution of the input dilated
by `stride` with the spatially flipped kernel, input and output channels swapped per group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, PRNGKeyArray

from .._errors import ModelError
from .layer import AbstractLayer, as_tuple, batched, fan_in_bound, unbatched, uniform

_PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _specs(n: int) -> tuple[str, str, str]:
    spatial = "DHW"[3 - n :]
    return "NC" + spatial, "OI" + spatial, "NC" + spatial


def _padding(
    padding: int | str | Sequence[int],
    kernel: tuple[int, ...],
    dilation: tuple[int, ...],
    layer_id: str,
) -> tuple[tuple[int, int], ...]:
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            return tuple((t // 2, t - t // 2) for t in total)
        raise ModelError(f"Layer '{layer_id}': padding must be a number, 'same' or 'valid'.")
    return tuple((p, p) for p in as_tuple(padding, n, "padding", layer_id))


class Conv(AbstractLayer):
    """An n-d convolution with PyTorch's weight layout out x in/groups x k_1 x ... x k_n."""

    layer_id: str = eqx.field(static=True)
    weight: Array
    bias: Array | None
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: tuple[tuple[int, int], ...] = eqx.field(static=True)
    dilation: tuple[int, ...] = eqx.field(static=True)
    groups: int = eqx.field(static=True)
    padding_mode: str = eqx.field(static=True)

    def __init__(
        self,
        layer_id: str,
        n_spatial: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | str | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        key: PRNGKeyArray | None = None,
    ):
        self.layer_id = layer_id
        kernel = as_tuple(kernel_size, n_spatial, "kernel_size", layer_id)
        self.stride = as_tuple(stride, n_spatial, "stride", layer_id)
        self.dilation = as_tuple(dilation, n_spatial, "dilation", layer_id)
        self.padding = _padding(padding, kernel, self.dilation, layer_id)
        if in_channels % groups or out_channels % groups:
            raise ModelError(
                f"Layer '{layer_id}': in_channels ({in_channels}) and out_channels "
                f"({out_channels}) must both be divisible by groups ({groups})."
            )
        if padding_mode not in _PAD_MODES:
            raise ModelError(
                f"Layer '{layer_id}': padding_mode must be one of {sorted(_PAD_MODES)}, "
                f"not {padding_mode!r}."
            )
        self.groups = int(groups)
        self.padding_mode = padding_mode
        wkey, bkey = jax.random.split(key) if key is not None else (None, None)
        bound = fan_in_bound(in_channels // groups * math.prod(kernel))
        self.weight = uniform(wkey, (out_channels, in_channels // groups, *kernel), bound)
        self.bias = uniform(bkey, (out_channels,), bound) if bias else None

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        n = self.weight.ndim - 2
        xb, added = batched(x, n, self.layer_id)
        padding = self.padding
        mode = _PAD_MODES[self.padding_mode]
        if mode is not None:
            xb = jnp.pad(xb, ((0, 0), (0, 0), *padding), mode=mode)
            padding = ((0, 0),) * n
        y = lax.conv_general_dilated(
            xb,
            self.weight,
            window_strides=self.stride,
            padding=padding,
            rhs_dilation=self.dilation,
            dimension_numbers=_specs(n),
            feature_group_count=self.groups,
            precision=lax.Precision.HIGHEST,
        )
        if self.bias is not None:
            y = y + self.bias.reshape((-1,) + (1,) * n)
        return unbatched(y, added)


class ConvTranspose(AbstractLayer):
    """An n-d transposed convolution; weight layout in x out/groups x k_1 x ... x k_n (PyTorch).

    Output length per axis: (L - 1)·stride - 2·padding + dilation·(k - 1) + output_padding + 1.
    """

    layer_id: str = eqx.field(static=True)
    weight: Array
    bias: Array | None
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: tuple[int, ...] = eqx.field(static=True)
    output_padding: tuple[int, ...] = eqx.field(static=True)
    dilation: tuple[int, ...] = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    def __init__(
        self,
        layer_id: str,
        n_spatial: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | Sequence[int] = 1,
        padding_mode: str = "zeros",
        *,
        key: PRNGKeyArray | None = None,
    ):
        self.layer_id = layer_id
        if padding_mode != "zeros":
            raise ModelError(
                f"Layer '{layer_id}': ConvTranspose only supports padding_mode='zeros' "
                "(as in PyTorch)."
            )
        kernel = as_tuple(kernel_size, n_spatial, "kernel_size", layer_id)
        self.stride = as_tuple(stride, n_spatial, "stride", layer_id)
        self.padding = as_tuple(padding, n_spatial, "padding", layer_id)
        self.output_padding = as_tuple(output_padding, n_spatial, "output_padding", layer_id)
        self.dilation = as_tuple(dilation, n_spatial, "dilation", layer_id)
        if in_channels % groups or out_channels % groups:
            raise ModelError(
                f"Layer '{layer_id}': in_channels ({in_channels}) and out_channels "
                f"({out_channels}) must both be divisible by groups ({groups})."
            )
        self.groups = int(groups)
        wkey, bkey = jax.random.split(key) if key is not None else (None, None)
        # PyTorch computes the fan-in of a transposed convolution from weight.shape[1].
        bound = fan_in_bound(out_channels // groups * math.prod(kernel))
        self.weight = uniform(wkey, (in_channels, out_channels // groups, *kernel), bound)
        self.bias = uniform(bkey, (out_channels,), bound) if bias else None

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        n = self.weight.ndim - 2
        xb, added = batched(x, n, self.layer_id)
        c_in, c_out_g, *kernel = self.weight.shape
        g = self.groups
        # (in, out/g, k) -> (g, in/g, out/g, k) -> (g, out/g, in/g, k) -> (out, in/g, k), flipped.
        w = self.weight.reshape((g, c_in // g, c_out_g, *kernel))
        w = jnp.swapaxes(w, 1, 2).reshape((g * c_out_g, c_in // g, *kernel))
        w = jnp.flip(w, axis=tuple(range(2, 2 + n)))
        padding = tuple(
            (d * (k - 1) - p, d * (k - 1) - p + op)
            for k, d, p, op in zip(
                kernel, self.dilation, self.padding, self.output_padding, strict=True
            )
        )
        y = lax.conv_general_dilated(
            xb,
            w,
            window_strides=(1,) * n,
            padding=padding,
            lhs_dilation=self.stride,
            rhs_dilation=self.dilation,
            dimension_numbers=_specs(n),
            feature_group_count=g,
            precision=lax.Precision.HIGHEST,
        )
        if self.bias is not None:
            y = y + self.bias.reshape((-1,) + (1,) * n)
        return unbatched(y, added)
