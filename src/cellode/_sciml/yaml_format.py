"""Reading PEtab-SciML network files (the portable YAML format) into `SciMLNetwork`s.

A network file names its layers with PyTorch's class names and constructor arguments, and its
forward pass as torch.fx nodes. Nothing in the file is executed: layer types and function names
are looked up in fixed tables, arguments are plain data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path

import jax
import yaml
from jaxtyping import PRNGKeyArray

from .._errors import ModelError
from .array_data import read_parameters
from .conv import Conv, ConvTranspose
from .dropout import AlphaDropout, Dropout
from .flatten import Flatten
from .layer import AbstractLayer
from .linear import Bilinear, Linear
from .network import SciMLNetwork, make_node
from .normalisation import BatchNorm, InstanceNorm, LayerNorm
from .pooling import AdaptivePool, AvgPool, LPPool, MaxPool

_WITH_KEY = (Linear, Bilinear, Conv, ConvTranspose)


def _layer_types() -> dict[str, Callable[..., AbstractLayer]]:
    types: dict[str, Callable[..., AbstractLayer]] = {
        "Linear": Linear,
        "Bilinear": Bilinear,
        "Flatten": Flatten,
        "Dropout": functools.partial(Dropout, n_spatial=0),
        "AlphaDropout": AlphaDropout,
        "LayerNorm": LayerNorm,
    }
    for n in (1, 2, 3):
        types[f"Conv{n}d"] = functools.partial(Conv, n_spatial=n)
        types[f"ConvTranspose{n}d"] = functools.partial(ConvTranspose, n_spatial=n)
        types[f"MaxPool{n}d"] = functools.partial(MaxPool, n_spatial=n)
        types[f"AvgPool{n}d"] = functools.partial(AvgPool, n_spatial=n)
        types[f"LPPool{n}d"] = functools.partial(LPPool, n_spatial=n)
        types[f"AdaptiveMaxPool{n}d"] = functools.partial(AdaptivePool, n_spatial=n, kind="max")
        types[f"AdaptiveAvgPool{n}d"] = functools.partial(AdaptivePool, n_spatial=n, kind="avg")
        types[f"AdaptiveMeanPool{n}d"] = types[f"AdaptiveAvgPool{n}d"]
        types[f"BatchNorm{n}d"] = functools.partial(BatchNorm, n_spatial=n)
        types[f"InstanceNorm{n}d"] = functools.partial(InstanceNorm, n_spatial=n)
        types[f"Dropout{n}d"] = functools.partial(Dropout, n_spatial=n)
    return types


LAYER_TYPES = _layer_types()


def _needs_key(layer_type: str) -> bool:
    factory = LAYER_TYPES[layer_type]
    cls = factory.func if isinstance(factory, functools.partial) else factory
    return cls in _WITH_KEY


def build_layer(
    layer_id: str, layer_type: str, args: Mapping[str, object], key: PRNGKeyArray | None
) -> AbstractLayer:
    """The layer `layer_type(**args)` (PyTorch class name and keywords), weights drawn from `key`
    as PyTorch initialises them, or zeros when no key is given."""
    if layer_type not in LAYER_TYPES:
        raise ModelError(
            f"Layer '{layer_id}' has type '{layer_type}', which cellode does not implement; "
            f"supported types: {', '.join(sorted(LAYER_TYPES))}."
        )
    factory = LAYER_TYPES[layer_type]
    extra = {"key": key} if _needs_key(layer_type) else {}
    try:
        return factory(layer_id, **dict(args), **extra)
    except TypeError as error:
        raise ModelError(
            f"Layer '{layer_id}' ({layer_type}) has arguments {sorted(args)} that do not match "
            f"PyTorch's {layer_type}: {error}."
        ) from None


def network_from_dict(
    spec: Mapping[str, object], *, key: PRNGKeyArray | None = None, source: str = "network file"
) -> SciMLNetwork:
    """Build a network from the parsed YAML mapping (`nn_model_id`, `inputs`, `layers`,
    `forward`)."""
    missing = [k for k in ("layers", "forward") if k not in spec]
    if missing:
        raise ModelError(f"The {source} lacks the required section(s) {missing}.")
    net_id = str(spec.get("nn_model_id", "net"))
    layer_specs = list(spec["layers"])  # type: ignore[arg-type]
    keys = (
        list(jax.random.split(key, len(layer_specs)))
        if key is not None
        else [None] * len(layer_specs)
    )
    layers: dict[str, AbstractLayer] = {}
    for entry, layer_key in zip(layer_specs, keys, strict=True):
        layer_id = str(entry["layer_id"])
        if layer_id in layers:
            raise ModelError(f"Network '{net_id}' defines layer '{layer_id}' twice in {source}.")
        layers[layer_id] = build_layer(
            layer_id, str(entry["layer_type"]), entry.get("args") or {}, layer_key
        )
    graph = tuple(
        make_node(n["name"], n["op"], n["target"], n.get("args") or (), n.get("kwargs") or {})
        for n in spec["forward"]  # type: ignore[union-attr]
    )
    inputs = tuple(str(i["input_id"]) for i in spec.get("inputs") or ())  # type: ignore[union-attr]
    return SciMLNetwork(net_id=net_id, layers=layers, graph=graph, input_ids=inputs)


def read_network_yaml(path: str | Path, *, key: PRNGKeyArray | None = None) -> SciMLNetwork:
    """Read a PEtab-SciML network YAML file (weights drawn from `key`, or zeros)."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ModelError(f"Cannot read the network file {path}: {error}.") from None
    if not isinstance(spec, Mapping):
        raise ModelError(f"The network file {path} does not hold a YAML mapping.")
    return network_from_dict(spec, key=key, source=f"network file {path}")


def load_sciml_network(
    path: str | Path,
    weights: str | Path | Mapping[str, Mapping[str, object]] | None = None,
    *,
    key: PRNGKeyArray | None = None,
    net_id: str | None = None,
) -> SciMLNetwork:
    """Load a neural network from a PEtab-SciML YAML file as an equinox Module.

    `weights` is a PEtab-SciML HDF5 array file (parameters/<netId>/<layerId>/<weight|bias>, in
    PyTorch's layout) or a mapping {layer_id: {"weight": array, "bias": array}}. Without
    weights, parameters are drawn from `key` with PyTorch's default initialisation.
    `net_id` picks the network in a file holding several (default: the file's own id, or its
    only network).
    """
    net = read_network_yaml(path, key=key)
    if weights is None:
        called = {n.target for n in net.graph if n.op == "call_module"}
        if key is None and any(lid in called for lid in net.parameters()):
            raise ModelError(
                f"Network '{net.net_id}' from {path} has parameters but neither `weights=` (an "
                "HDF5 parameter file) nor `key=` (to draw PyTorch's initialisation) was given."
            )
        return net
    if isinstance(weights, str | Path):
        values = read_parameters(weights, net_id or net.net_id)
    else:
        values = weights
    return net.with_parameters(values)
