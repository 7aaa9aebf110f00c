"""The functions a PEtab-SciML forward graph may call, by their PyTorch names.

A `call_function` or `call_method` node names its target the way torch.fx records it (`relu`,
`tanh`, `cat`, `softmax`, ...). Each entry here is written from the PyTorch definition of that
function, with PyTorch's keyword names and defaults, so a node's `kwargs` pass straight through.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._errors import ModelError

# SELU's fixed point constants (Klambauer et al. 2017), as PyTorch uses them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _dim(x: Array, dim: int) -> int:
    return dim % max(x.ndim, 1)


def _implicit_softmax_dim(x: Array) -> int:
    # PyTorch's legacy rule when `dim` is not given: dim 0 for 0-, 1- and 3-d input, else 1.
    return 0 if x.ndim in (0, 1, 3) else 1


def relu(x: Array) -> Array:
    return jnp.maximum(x, 0)


def relu6(x: Array) -> Array:
    return jnp.clip(x, 0, 6)


def hardtanh(x: Array, min_val: float = -1.0, max_val: float = 1.0) -> Array:
    return jnp.clip(x, min_val, max_val)


def hardsigmoid(x: Array) -> Array:
    return jnp.clip(x + 3, 0, 6) / 6


def hardswish(x: Array) -> Array:
    return x * hardsigmoid(x)


def selu(x: Array) -> Array:
    return SELU_SCALE * jnp.where(x > 0, x, SELU_ALPHA * jnp.expm1(jnp.minimum(x, 0)))


def elu(x: Array, alpha: float = 1.0) -> Array:
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0)))


def celu(x: Array, alpha: float = 1.0) -> Array:
    return jnp.maximum(x, 0) + alpha * jnp.expm1(jnp.minimum(x, 0) / alpha)


def leaky_relu(x: Array, negative_slope: float = 0.01) -> Array:
    return jnp.where(x >= 0, x, negative_slope * x)


def gelu(x: Array, approximate: str = "tanh") -> Array:
    """GELU; without an explicit `approximate` the tanh form 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).

    PyTorch's own default is the exact form x·Φ(x), but a PEtab-SciML file records no
    `approximate` for a default call, and the format's reference implementations (PEtab.jl with
    Lux, AMICI with JAX) evaluate the tanh form: the suite's stored outputs (ml_model_import
    029) and the Ko_NeurIPS2023 benchmark's expected likelihood are only reproduced with it.
    """
    if approximate not in ("none", "tanh"):
        raise ModelError(f"gelu takes approximate='none' or 'tanh', not {approximate!r}.")
    return jax.nn.gelu(x, approximate=approximate == "tanh")


def softplus(x: Array, beta: float = 1.0, threshold: float = 20.0) -> Array:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's cut-off)."""
    smooth = jnp.logaddexp(0, beta * x) / beta
    return jnp.where(beta * x > threshold, x, smooth)


def log_sigmoid(x: Array) -> Array:
    return -jnp.logaddexp(0, -x)


def tanhshrink(x: Array) -> Array:
    return x - jnp.tanh(x)


def softsign(x: Array) -> Array:
    return x / (1 + jnp.abs(x))


def silu(x: Array) -> Array:
    return x * jax.nn.sigmoid(x)


def mish(x: Array) -> Array:
    return x * jnp.tanh(jnp.logaddexp(0, x))


def softmax(x: Array, dim: int | None = None) -> Array:
    axis = _implicit_softmax_dim(x) if dim is None else _dim(x, dim)
    return jax.nn.softmax(x, axis=axis)


def log_softmax(x: Array, dim: int | None = None) -> Array:
    axis = _implicit_softmax_dim(x) if dim is None else _dim(x, dim)
    return jax.nn.log_softmax(x, axis=axis)


def cat(tensors: Sequence[Array], dim: int = 0) -> Array:
    return jnp.concatenate(tuple(tensors), axis=dim)


def stack(tensors: Sequence[Array], dim: int = 0) -> Array:
    return jnp.stack(tuple(tensors), axis=dim)


def flatten(x: Array, start_dim: int = 0, end_dim: int = -1) -> Array:
    """Merge dimensions start_dim..end_dim in row-major (C) order, as `torch.flatten` does."""
    if x.ndim == 0:
        return jnp.reshape(x, (1,))
    start, end = _dim(x, start_dim), _dim(x, end_dim)
    merged = math.prod(x.shape[start : end + 1])
    return jnp.reshape(x, (*x.shape[:start], merged, *x.shape[end + 1 :]))


def reshape(x: Array, *shape: int | Sequence[int]) -> Array:
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        shape = tuple(shape[0])
    return jnp.reshape(x, shape)


def unsqueeze(x: Array, dim: int) -> Array:
    return jnp.expand_dims(x, dim % (x.ndim + 1))


def squeeze(x: Array, dim: int | None = None) -> Array:
    if dim is None:
        return jnp.squeeze(x)
    axis = _dim(x, dim)
    return jnp.squeeze(x, axis) if x.shape[axis] == 1 else x


def transpose(x: Array, dim0: int, dim1: int) -> Array:
    return jnp.swapaxes(x, dim0, dim1)


def permute(x: Array, *dims: int | Sequence[int]) -> Array:
    if len(dims) == 1 and isinstance(dims[0], Sequence):
        dims = tuple(dims[0])
    return jnp.transpose(x, dims)


def _unary(fn: Callable[[Array], Array]) -> Callable[[Array], Array]:
    return lambda x: fn(x)


FUNCTIONS: dict[str, Callable[..., Array]] = {
    "relu": relu,
    "relu6": relu6,
    "hardtanh": hardtanh,
    "hardswish": hardswish,
    "hardsigmoid": hardsigmoid,
    "selu": selu,
    "silu": silu,
    "leaky_relu": leaky_relu,
    "gelu": gelu,
    "logsigmoid": log_sigmoid,
    "log_sigmoid": log_sigmoid,
    "tanhshrink": tanhshrink,
    "softsign": softsign,
    "softplus": softplus,
    "tanh": _unary(jnp.tanh),
    "sigmoid": _unary(jax.nn.sigmoid),
    "mish": mish,
    "elu": elu,
    "celu": celu,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "exp": _unary(jnp.exp),
    "log": _unary(jnp.log),
    "sqrt": _unary(jnp.sqrt),
    "abs": _unary(jnp.abs),
    "sin": _unary(jnp.sin),
    "cos": _unary(jnp.cos),
    "neg": _unary(jnp.negative),
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "truediv": jnp.divide,
    "div": jnp.divide,
    "pow": jnp.power,
    "cat": cat,
    "concat": cat,
    "stack": stack,
    "flatten": flatten,
    "reshape": reshape,
    "view": reshape,
    "unsqueeze": unsqueeze,
    "squeeze": squeeze,
    "transpose": transpose,
    "permute": permute,
}

# Keywords torch.fx records that carry no mathematics here (in-place writes, warning depth).
IGNORED_KWARGS = frozenset({"inplace", "_stacklevel"})


def call_function(name: str, args: Sequence[object], kwargs: dict[str, object]) -> Array:
    """Apply the PyTorch function `name` to already-evaluated arguments."""
    try:
        fn = FUNCTIONS[name]
    except KeyError:
        known = ", ".join(sorted(FUNCTIONS))
        raise ModelError(
            f"The network's forward graph calls '{name}', which cellode does not implement; "
            f"use one of: {known}."
        ) from None
    kwargs = {
        k: v
        for k, v in kwargs.items()
        if k not in IGNORED_KWARGS and not (k == "dtype" and v is None)
    }
    try:
        return fn(*args, **kwargs)
    except TypeError as error:
        raise ModelError(
            f"Forward-graph call '{name}' got unsupported arguments: {error}."
        ) from None
