"""A PEtab-SciML neural network: named layers and the forward graph that wires them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
from jaxtyping import Array, PRNGKeyArray

from .._errors import InputError, ModelError
from .dropout import AlphaDropout, Dropout
from .functional import call_function
from .layer import AbstractLayer

OPS = ("placeholder", "call_module", "call_function", "call_method", "output")


@dataclasses.dataclass(frozen=True)
class GraphNode:
    """One torch.fx node of the forward graph: `name = target(*args, **kwargs)`.

    Arguments that are strings naming earlier nodes stand for those nodes' values; everything
    else (numbers, lists, strings that name no node) is passed as it is.
    """

    name: str
    op: str
    target: str
    args: tuple = ()
    kwargs: tuple[tuple[str, object], ...] = ()


def _frozen(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in value.items())
    return value


def make_node(name: str, op: str, target: str, args: Sequence, kwargs: Mapping) -> GraphNode:
    if op not in OPS:
        raise ModelError(f"Forward-graph node '{name}' has op '{op}'; expected one of {OPS}.")
    return GraphNode(
        str(name),
        op,
        str(target),
        tuple(_frozen(a) for a in args),
        tuple((str(k), _frozen(v)) for k, v in kwargs.items()),
    )


def _resolve(value: object, env: Mapping[str, object]) -> object:
    if isinstance(value, str):
        return env.get(value, value)
    if isinstance(value, tuple):
        return tuple(_resolve(v, env) for v in value)
    return value


class SciMLNetwork(eqx.Module):
    """A neural network read from a PEtab-SciML model file, called as its PyTorch original.

    `net(x1, ..., xk)` evaluates the forward graph on k input arrays (PyTorch's shapes and axis
    order) and returns the output array, or a tuple when the graph returns several. Dropout
    layers act only when a `key` is given (PyTorch's training mode); without one the network is
    deterministic. Parameters are the layers' `weight`/`bias` arrays in PyTorch's layout.
    """

    net_id: str = eqx.field(static=True)
    layers: dict[str, AbstractLayer]
    graph: tuple[GraphNode, ...] = eqx.field(static=True)
    input_ids: tuple[str, ...] = eqx.field(static=True)

    def __check_init__(self):
        placeholders = [n for n in self.graph if n.op == "placeholder"]
        outputs = [n for n in self.graph if n.op == "output"]
        if len(outputs) != 1:
            raise ModelError(
                f"Network '{self.net_id}': the forward graph needs exactly one 'output' node; "
                f"it has {len(outputs)}."
            )
        if self.input_ids and len(self.input_ids) != len(placeholders):
            raise ModelError(
                f"Network '{self.net_id}' declares {len(self.input_ids)} input(s) "
                f"{list(self.input_ids)} but its forward graph has {len(placeholders)} "
                "placeholder node(s); list one input per placeholder."
            )
        for node in self.graph:
            if node.op == "call_module" and node.target not in self.layers:
                raise ModelError(
                    f"Network '{self.net_id}': forward node '{node.name}' calls layer "
                    f"'{node.target}', which is not among the layers {sorted(self.layers)}."
                )

    @property
    def n_inputs(self) -> int:
        return sum(n.op == "placeholder" for n in self.graph)

    def __call__(self, *inputs: Array, key: PRNGKeyArray | None = None) -> Array | tuple:
        if len(inputs) != self.n_inputs:
            raise InputError(
                f"Network '{self.net_id}' takes {self.n_inputs} input array(s); got {len(inputs)}."
            )
        stochastic = [
            n.name
            for n in self.graph
            if n.op == "call_module" and isinstance(self.layers[n.target], Dropout | AlphaDropout)
        ]
        keys: dict[str, PRNGKeyArray] = {}
        if key is not None and stochastic:
            keys = dict(zip(stochastic, jax.random.split(key, len(stochastic)), strict=True))
        env: dict[str, object] = {}
        remaining = iter(inputs)
        for node in self.graph:
            args = _resolve(node.args, env)
            kwargs = {k: _resolve(v, env) for k, v in node.kwargs}
            if node.op == "placeholder":
                env[node.name] = next(remaining)
            elif node.op == "call_module":
                layer = self.layers[node.target]
                env[node.name] = layer(*args, key=keys.get(node.name), **kwargs)
            elif node.op in ("call_function", "call_method"):
                env[node.name] = call_function(node.target, args, kwargs)
            else:
                (result,) = args if len(args) == 1 else (args,)
                return result
        raise AssertionError("unreachable: __check_init__ guarantees an output node")

    def parameters(self) -> dict[str, dict[str, Array]]:
        """Every parameter array as {layer_id: {"weight": ..., "bias": ...}} in PyTorch's layout."""
        return {lid: p for lid, layer in self.layers.items() if (p := layer.parameters())}

    def with_parameters(self, values: Mapping[str, Mapping[str, object]]) -> SciMLNetwork:
        """A copy with the given layers' parameters replaced (others keep their values)."""
        layers = dict(self.layers)
        for layer_id, arrays in values.items():
            if layer_id not in layers:
                raise ModelError(
                    f"Network '{self.net_id}' has no layer '{layer_id}'; its layers are "
                    f"{sorted(layers)}."
                )
            layers[layer_id] = layers[layer_id].with_parameters(arrays)
        return eqx.tree_at(lambda n: n.layers, self, layers)
