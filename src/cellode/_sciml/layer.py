"""The base of every PEtab-SciML layer, and the helpers layers share.

Layers keep their parameters in PyTorch's layout (a Linear weight is out x in, a Conv2d weight is
out x in/groups x kH x kW, a ConvTranspose weight is in x out/groups x k...) and act on
channel-first arrays exactly as the PyTorch layer of the same name does, batched or not. The
HDF5 parameter files of PEtab-SciML therefore load without any transposition.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from .._errors import ModelError

PARAMETER_NAMES = ("weight", "bias")


def float_dtype() -> jnp.dtype:
    """JAX's default floating type: float64 when x64 is on, else float32."""
    return jnp.result_type(float)


def as_float(value: object) -> Array:
    return jnp.asarray(np.asarray(value), dtype=float_dtype())


def uniform(key: PRNGKeyArray | None, shape: tuple[int, ...], bound: float) -> Array:
    """U(-bound, bound) as PyTorch draws default weights; zeros when no key is given."""
    if key is None:
        return jnp.zeros(shape, dtype=float_dtype())
    return jax.random.uniform(key, shape, float_dtype(), -bound, bound)


def as_tuple(value: int | Sequence[int] | None, n: int, name: str, layer: str) -> tuple[int, ...]:
    """Expand PyTorch's int-or-tuple arguments (kernel_size=3 means (3, 3) in 2d)."""
    if value is None:
        raise ModelError(f"Layer '{layer}' needs `{name}`.")
    if isinstance(value, int | np.integer):
        return (int(value),) * n
    values = tuple(int(v) for v in value)
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ModelError(f"Layer '{layer}': `{name}` has {len(values)} entries, expected {n}.")
    return values


def batched(x: Array, n_spatial: int, layer: str) -> tuple[Array, bool]:
    """Give a channel-first array a batch axis if it has none: (C, *S) -> (1, C, *S)."""
    if x.ndim == n_spatial + 1:
        return x[None], True
    if x.ndim == n_spatial + 2:
        return x, False
    raise ModelError(
        f"Layer '{layer}' takes (N, C, {n_spatial} spatial) or (C, {n_spatial} spatial) input; "
        f"got shape {x.shape}."
    )


def unbatched(y: Array, added: bool) -> Array:
    return y[0] if added else y


def fan_in_bound(fan_in: int) -> float:
    return 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0


class AbstractLayer(eqx.Module):
    """A layer of a PEtab-SciML network, named and parametrised as its PyTorch counterpart.

    Parameters are the array fields named `weight` and `bias` (absent layers carry `None`);
    `parameters()` lists them in PyTorch's names and shapes, `with_parameters` returns a copy with
    new values after checking the shapes.
    """

    layer_id: eqx.AbstractVar[str]

    @abc.abstractmethod
    def __call__(self, *xs: Array, key: PRNGKeyArray | None = None) -> Array:
        """The layer's output for the input array(s); `key` only matters for dropout."""

    def parameters(self) -> dict[str, Array]:
        """The layer's parameter arrays by PyTorch name (`weight`, `bias`), in PyTorch's shapes."""
        out = {}
        for name in PARAMETER_NAMES:
            value = getattr(self, name, None)
            if value is not None:
                out[name] = value
        return out

    def with_parameters(self, values: Mapping[str, object]) -> AbstractLayer:
        """A copy with the given parameters replaced; shapes must match PyTorch's."""
        own = self.parameters()
        layer = self
        for name, value in values.items():
            if name not in own:
                raise ModelError(
                    f"Layer '{self.layer_id}' ({type(self).__name__}) has no parameter "
                    f"'{name}'; it has {sorted(own) or 'none'}."
                )
            array = as_float(value)
            if array.shape != own[name].shape:
                raise ModelError(
                    f"Parameter '{self.layer_id}.{name}' has PyTorch shape {own[name].shape}; "
                    f"the value given has shape {array.shape}."
                )
            layer = eqx.tree_at(lambda m, n=name: getattr(m, n), layer, array)
        return layer
