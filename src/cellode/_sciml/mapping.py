"""PEtab-SciML model-entity ids of the mapping table (`modelEntityId` column).

    net1.inputs[0][1]                  argument 0 of net1's forward pass, element 1
    net3.inputs[0]                     the whole argument 0 (an array input)
    net1.outputs[0][0]                 output 0, element 0
    net1.parameters                    every parameter of net1
    net1.parameters[layer1]            the parameters of one layer
    net1.parameters[layer1].weight     one parameter array
    net1.parameters[layer1].weight[0, 2]   one element of it

Indices are zero-based and follow PyTorch's axis order. The ids are parsed by a regular grammar,
never evaluated.
"""

from __future__ import annotations

import dataclasses
import re

from .._errors import ModelError

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_INDEX = r"\[\s*-?\d+(?:\s*,\s*-?\d+)*\s*\]"
_IO = re.compile(
    rf"^(?P<net>{_ID})\.(?P<kind>inputs|outputs)(?P<arg>\[\s*\d+\s*\])?(?P<index>{_INDEX})?$"
)
_PARAMS = re.compile(
    rf"^(?P<net>{_ID})\.parameters(?:\[(?P<layer>{_ID})\](?:\.(?P<array>{_ID})(?P<index>{_INDEX})?)?)?$"
)


def _indices(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    return tuple(int(part) for part in text.strip()[1:-1].split(","))


@dataclasses.dataclass(frozen=True)
class ModelEntity:
    """A network input, output or parameter (set) named in the mapping table.

    `kind` is "inputs", "outputs" or "parameters". For inputs/outputs, `argument` is the
    forward-pass argument (or output) number and `index` the element inside it (None: all of
    it). For parameters, `layer`, `array` and `index` narrow the selection; None means all.
    """

    net_id: str
    kind: str
    argument: int | None = None
    layer: str | None = None
    array: str | None = None
    index: tuple[int, ...] | None = None

    @property
    def specificity(self) -> int:
        """0 for a whole network, 1 a layer, 2 an array, 3 an element (more specific wins)."""
        return sum(x is not None for x in (self.layer, self.array, self.index))


def parse_model_entity(text: str) -> ModelEntity:
    """Parse a `modelEntityId` of a PEtab-SciML mapping table."""
    source = str(text).strip()
    if m := _IO.match(source):
        argument = m.group("arg")
        return ModelEntity(
            net_id=m.group("net"),
            kind=m.group("kind"),
            argument=int(argument.strip()[1:-1]) if argument else 0,
            index=_indices(m.group("index")),
        )
    if m := _PARAMS.match(source):
        return ModelEntity(
            net_id=m.group("net"),
            kind="parameters",
            layer=m.group("layer"),
            array=m.group("array"),
            index=_indices(m.group("index")),
        )
    raise ModelError(
        f"Mapping-table entry {source!r} is not a PEtab-SciML model entity; write "
        "`net.inputs[i][j]`, `net.outputs[i][j]`, `net.parameters`, `net.parameters[layer]`, "
        "or `net.parameters[layer].weight[...]`."
    )
