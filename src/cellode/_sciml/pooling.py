"""Pooling in 1-3 spatial dimensions (torch.nn Max/Avg/LP/AdaptiveMax/AdaptiveAvg Pool1d-3d).

Window placement follows PyTorch: per axis the output length is
    ⌊(L + 2p - d(k-1) - 1) / s⌋ + 1          (⌈·⌉ with ceil_mode, dropping a last window that
                                              would start in the right padding),
and average pooling divides by the window's size clipped to the padded input (count_include_pad)
or to the input itself. Adaptive pooling splits an axis of length L into n windows
[⌊iL/n⌋, ⌈(i+1)L/n⌉).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, PRNGKeyArray

from .._errors import ModelError
from .layer import AbstractLayer, as_tuple, batched, unbatched


def _out_length(length: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = length + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    return out


def _window(
    x: Array,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    ceil_mode: bool,
    init: float,
    op: Callable[[Array, Array], Array],
) -> Array:
    """Reduce windows over the trailing len(kernel) axes of x, laid out as PyTorch lays them."""
    n = len(kernel)
    lead = x.ndim - n
    spatial = x.shape[lead:]
    outs = [
        _out_length(L, k, s, p, d, ceil_mode)
        for L, k, s, p, d in zip(spatial, kernel, stride, padding, dilation, strict=True)
    ]
    pads = [
        (p, max((o - 1) * s + d * (k - 1) + 1 - L - p, 0))
        for L, k, s, p, d, o in zip(spatial, kernel, stride, padding, dilation, outs, strict=True)
    ]
    y = lax.reduce_window(
        x,
        jnp.asarray(init, dtype=x.dtype),
        op,
        window_dimensions=(1,) * lead + kernel,
        window_strides=(1,) * lead + stride,
        padding=((0, 0),) * lead + tuple(pads),
        window_dilation=(1,) * lead + dilation,
    )
    return y[(slice(None),) * lead + tuple(slice(0, o) for o in outs)]


def _check_no_indices(return_indices: bool, layer_id: str) -> None:
    if return_indices:
        raise ModelError(f"Layer '{layer_id}': return_indices=True is not supported.")


class MaxPool(AbstractLayer):
    """Maximum over each window (padding counts as -inf)."""

    layer_id: str = eqx.field(static=True)
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: tuple[int, ...] = eqx.field(static=True)
    dilation: tuple[int, ...] = eqx.field(static=True)
    ceil_mode: bool = eqx.field(static=True)

    def __init__(
        self,
        layer_id: str,
        n_spatial: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        _check_no_indices(return_indices, layer_id)
        self.layer_id = layer_id
        self.kernel_size = as_tuple(kernel_size, n_spatial, "kernel_size", layer_id)
        self.stride = as_tuple(stride or kernel_size, n_spatial, "stride", layer_id)
        self.padding = as_tuple(padding, n_spatial, "padding", layer_id)
        self.dilation = as_tuple(dilation, n_spatial, "dilation", layer_id)
        self.ceil_mode = bool(ceil_mode)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        xb, added = batched(x, len(self.kernel_size), self.layer_id)
        y = _window(
            xb,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            -jnp.inf,
            lax.max,
        )
        return unbatched(y, added)


def _average(
    x: Array,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> Array:
    n = len(kernel)
    ones = (1,) * n
    total = _window(x, kernel, stride, padding, ones, ceil_mode, 0.0, lax.add)
    if divisor_override:
        return total / divisor_override
    # Window sizes from an indicator of the counted positions: the input, plus the symmetric
    # padding when count_include_pad (never the extra right margin that ceil_mode adds).
    spatial = x.shape[x.ndim - n :]
    if count_include_pad:
        counted = jnp.ones(tuple(L + 2 * p for L, p in zip(spatial, padding, strict=True)), x.dtype)
        counts = _counts_on_grid(counted, kernel, stride, total.shape[x.ndim - n :])
    else:
        counts = _window(
            jnp.ones(spatial, dtype=x.dtype), kernel, stride, padding, ones, ceil_mode, 0.0, lax.add
        )
    return total / counts


def _counts_on_grid(
    counted: Array, kernel: tuple[int, ...], stride: tuple[int, ...], outs: Sequence[int]
) -> Array:
    """Window sums of `counted` for `outs` windows per axis, windows running past its end."""
    pads = tuple(
        (0, max((o - 1) * s + k - c, 0))
        for o, s, k, c in zip(outs, stride, kernel, counted.shape, strict=True)
    )
    y = lax.reduce_window(
        counted,
        jnp.asarray(0.0, dtype=counted.dtype),
        lax.add,
        window_dimensions=kernel,
        window_strides=stride,
        padding=pads,
    )
    return y[tuple(slice(0, o) for o in outs)]


class AvgPool(AbstractLayer):
    """Mean over each window (zero padding; divisor per PyTorch's count_include_pad rule)."""

    layer_id: str = eqx.field(static=True)
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: tuple[int, ...] = eqx.field(static=True)
    ceil_mode: bool = eqx.field(static=True)
    count_include_pad: bool = eqx.field(static=True)
    divisor_override: int | None = eqx.field(static=True)

    def __init__(
        self,
        layer_id: str,
        n_spatial: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ):
        self.layer_id = layer_id
        self.kernel_size = as_tuple(kernel_size, n_spatial, "kernel_size", layer_id)
        self.stride = as_tuple(stride or kernel_size, n_spatial, "stride", layer_id)
        self.padding = as_tuple(padding, n_spatial, "padding", layer_id)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        xb, added = batched(x, len(self.kernel_size), self.layer_id)
        y = _average(
            xb,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )
        return unbatched(y, added)


class LPPool(AbstractLayer):
    """Power-average pooling (Σ_window x^p)^(1/p), computed as PyTorch does from AvgPool."""

    layer_id: str = eqx.field(static=True)
    norm_type: float = eqx.field(static=True)
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    ceil_mode: bool = eqx.field(static=True)

    def __init__(
        self,
        layer_id: str,
        n_spatial: int,
        norm_type: float,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        ceil_mode: bool = False,
    ):
        self.layer_id = layer_id
        self.norm_type = float(norm_type)
        self.kernel_size = as_tuple(kernel_size, n_spatial, "kernel_size", layer_id)
        self.stride = as_tuple(stride or kernel_size, n_spatial, "stride", layer_id)
        self.ceil_mode = bool(ceil_mode)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        n = len(self.kernel_size)
        xb, added = batched(x, n, self.layer_id)
        p = self.norm_type
        mean = _average(xb**p, self.kernel_size, self.stride, (0,) * n, self.ceil_mode, True, None)
        y = (jnp.sign(mean) * jnp.maximum(jnp.abs(mean), 0) * math.prod(self.kernel_size)) ** (
            1 / p
        )
        return unbatched(y, added)


def _adaptive(x: Array, output_size: tuple[int | None, ...], reduce: Callable) -> Array:
    n = len(output_size)
    for i, out in enumerate(output_size):
        axis = x.ndim - n + i
        length = x.shape[axis]
        if out is None or out == length:
            continue
        pieces = []
        for j in range(out):
            start, end = (j * length) // out, -((-(j + 1) * length) // out)
            piece = lax.slice_in_dim(x, start, end, axis=axis)
            pieces.append(reduce(piece, axis=axis, keepdims=True))
        x = jnp.concatenate(pieces, axis=axis)
    return x


class AdaptivePool(AbstractLayer):
    """Adaptive max or mean pooling to a fixed output size (None keeps an axis as it is).

    Windows on different axes are independent, so the n-d pool is n one-axis pools in a row.
    """

    layer_id: str = eqx.field(static=True)
    output_size: tuple[int | None, ...] = eqx.field(static=True)
    kind: str = eqx.field(static=True)

    def __init__(
        self,
        layer_id: str,
        n_spatial: int,
        kind: str,
        output_size: int | Sequence[int | None],
        return_indices: bool = False,
    ):
        _check_no_indices(return_indices, layer_id)
        if kind not in ("max", "avg"):
            raise ModelError(f"Layer '{layer_id}': adaptive pooling is 'max' or 'avg'.")
        self.layer_id = layer_id
        self.kind = kind
        if isinstance(output_size, int):
            sizes: tuple[int | None, ...] = (output_size,) * n_spatial
        else:
            sizes = tuple(None if s is None else int(s) for s in output_size)
            if len(sizes) == 1:
                sizes = sizes * n_spatial
        if len(sizes) != n_spatial:
            raise ModelError(
                f"Layer '{layer_id}': output_size has {len(sizes)} entries, expected {n_spatial}."
            )
        self.output_size = sizes

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        xb, added = batched(x, len(self.output_size), self.layer_id)
        reduce = jnp.max if self.kind == "max" else jnp.mean
        return unbatched(_adaptive(xb, self.output_size, reduce), added)
