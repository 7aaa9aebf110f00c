"""`HybridSbmlModel`: an SBML model with PEtab-SciML networks wired in, behind the SBML interface.

The hybrid model presents the interface of the SBML import (`state_ids`, `constant_ids`,
`constant_values`, `rhs(t, x, p)`, `initial_state(p, overrides)`, `symbols(t, x, p)`), so any
code that simulates and observes an SBML model (the PEtab objective) runs it unchanged. Its
constants p are, in order:

    the SBML model's constants
    extra constants: inputs of pre-simulation networks set by the parameter or condition table
    one selector per array input: which stored array (condition) to use, an integer as float
    every network parameter element, named `net.parameters[layer].weight[i, j]`, row-major

Three ways a network enters (PEtab-SciML hybridization):
  dynamic (static: false)   inputs are expressions in species, parameters and time, evaluated
                            at (t, x); an output assigned to a model parameter replaces that
                            parameter in the right-hand side at every time;
  pre-simulation (static)   inputs are parameters or arrays; outputs set a model parameter or a
                            species' initial value before simulation (they are functions of p
                            alone, so they are the same at every time);
  observable                an output id not assigned to anything is a symbol: observable
                            formulas read it from `symbols(t, x, p)`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._errors import ModelError
from .._models.vector_field import AbstractVectorField, InputValue, Scalar
from .._networks.expressions import Expr, evaluate, free_names, parse_expression
from .network import SciMLNetwork
from .problem_files import SciMLProblemFiles

TIME_NAMES = ("t", "time")


@dataclasses.dataclass(frozen=True)
class InputSlot:
    """Where one value enters a network: argument, element (None: the whole argument), and
    either a formula or the id of an array input."""

    argument: int
    index: tuple[int, ...] | None
    formula: Expr | None = None
    array_id: str | None = None


@dataclasses.dataclass(frozen=True)
class Wiring:
    """How one network is connected: its inputs, its outputs' PEtab ids, and what they set."""

    net_id: str
    static: bool
    inputs: tuple[InputSlot, ...]
    outputs: tuple[tuple[str, int, tuple[int, ...] | None], ...]  # (petab id, argument, index)
    assigns: tuple[tuple[str, str], ...]  # (model target id, petab output id)


@dataclasses.dataclass(frozen=True)
class ParameterBlock:
    """One parameter array of one network inside the flat constant vector."""

    net_id: str
    layer_id: str
    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def element_ids(block: ParameterBlock) -> list[str]:
    """PEtab-SciML ids of the block's elements, row-major: `net.parameters[layer].name[i, j]`."""
    prefix = f"{block.net_id}.parameters[{block.layer_id}].{block.name}"
    return [f"{prefix}[{', '.join(map(str, idx))}]" for idx in np.ndindex(*block.shape)]


def _with_flat(net: SciMLNetwork, blocks: Iterable[ParameterBlock], flat: Array) -> SciMLNetwork:
    blocks = list(blocks)
    if not blocks:
        return net
    new = [flat[b.offset : b.offset + b.size].reshape(b.shape) for b in blocks]
    return eqx.tree_at(lambda n: [getattr(n.layers[b.layer_id], b.name) for b in blocks], net, new)


class HybridSbmlModel(AbstractVectorField):
    """An SBML model with neural networks in its right-hand side, its initialisation, or its
    observables, as described by a PEtab-SciML problem (see the module docstring)."""

    base: Any
    networks: dict[str, SciMLNetwork]
    arrays: dict[str, Array]
    constant_values: Float[Array, " p"]
    wiring: tuple[Wiring, ...] = eqx.field(static=True)
    extra_ids: tuple[str, ...] = eqx.field(static=True)
    array_ids: tuple[str, ...] = eqx.field(static=True)
    array_conditions: tuple[tuple[tuple[str, ...] | None, ...], ...] = eqx.field(static=True)
    blocks: tuple[ParameterBlock, ...] = eqx.field(static=True)

    # --- names -----------------------------------------------------------------------------------
    @property
    def state_ids(self) -> tuple[str, ...]:
        return tuple(self.base.state_ids)

    @property
    def n_base(self) -> int:
        return len(self.base.constant_ids)

    @property
    def selector_ids(self) -> tuple[str, ...]:
        return tuple(f"{a}[condition]" for a in self.array_ids)

    @property
    def parameter_element_ids(self) -> tuple[str, ...]:
        return tuple(i for b in self.blocks for i in element_ids(b))

    @property
    def constant_ids(self) -> tuple[str, ...]:
        return (
            tuple(self.base.constant_ids)
            + self.extra_ids
            + self.selector_ids
            + self.parameter_element_ids
        )

    @property
    def output_ids(self) -> tuple[str, ...]:
        return tuple(o[0] for w in self.wiring for o in w.outputs)

    @property
    def symbol_ids(self) -> tuple[str, ...]:
        return tuple(self.base.symbol_ids) + self.extra_ids + self.output_ids

    def selector_value(self, array_id: str, condition_id: str) -> float:
        """The selector constant that picks array input `array_id` for condition `condition_id`."""
        keys = self.array_conditions[self.array_ids.index(array_id)]
        for k, key in enumerate(keys):
            if key is None or condition_id in key:
                return float(k)
        raise ModelError(
            f"Array input '{array_id}' has no array for condition '{condition_id}'; the array "
            f"files give it for {[k for k in keys]}."
        )

    # --- evaluation ------------------------------------------------------------------------------
    def _split(self, p: Array) -> tuple[Array, dict[str, Array], Array, Array]:
        nb, ne, na = self.n_base, len(self.extra_ids), len(self.array_ids)
        extras = {k: p[nb + i] for i, k in enumerate(self.extra_ids)}
        return p[:nb], extras, p[nb + ne : nb + ne + na], p[nb + ne + na :]

    def _net(self, net_id: str, flat: Array) -> SciMLNetwork:
        return _with_flat(
            self.networks[net_id], (b for b in self.blocks if b.net_id == net_id), flat
        )

    def _run(self, w: Wiring, env: Mapping[str, Array], selectors: Array, flat: Array) -> dict:
        """The network's outputs {petab output id: value} for the inputs evaluated in `env`."""
        net = self._net(w.net_id, flat)
        args: dict[int, Array] = {}
        scalars: dict[int, list[tuple[tuple[int, ...], Array]]] = {}
        for slot in w.inputs:
            if slot.array_id is not None:
                k = self.array_ids.index(slot.array_id)
                stack = self.arrays[slot.array_id]
                args[slot.argument] = stack[jnp.asarray(selectors[k], dtype=int)]
            else:
                value = jnp.asarray(evaluate(slot.formula, env), dtype=float)
                if slot.index is None:
                    args[slot.argument] = value
                else:
                    scalars.setdefault(slot.argument, []).append((slot.index, value))
        for a, entries in scalars.items():
            shape = tuple(max(i[d] for i, _ in entries) + 1 for d in range(len(entries[0][0])))
            vector = jnp.zeros(shape, dtype=float)
            for index, value in entries:
                vector = vector.at[index].set(value)
            args[a] = vector
        out = net(*(args[a] for a in range(len(args))))
        outs = out if isinstance(out, tuple) else (out,)
        values = {}
        for pid, arg, index in w.outputs:
            value = outs[arg] if index is None else outs[arg][index]
            # An element id such as `outputs[0][0]` names one number even when PyTorch's output
            # keeps a leading batch axis of length 1 (shape (1, k)).
            values[pid] = jnp.reshape(value, ()) if value.size == 1 else value
        return values

    def _static(self, p: Array) -> tuple[Array, dict[str, Array], dict[str, Array]]:
        """Base constants with pre-simulation outputs applied; species initial values they set;
        and every static output by PEtab id."""
        p_base, extras, selectors, flat = self._split(p)
        env = {k: p_base[i] for i, k in enumerate(self.base.constant_ids)} | extras
        species: dict[str, Array] = {}
        outputs: dict[str, Array] = {}
        for w in self.wiring:
            if not w.static:
                continue
            values = self._run(w, env, selectors, flat)
            outputs |= values
            for target, pid in w.assigns:
                if target in self.base.constant_ids:
                    p_base = p_base.at[self.base.constant_ids.index(target)].set(values[pid])
                else:
                    species[target] = values[pid]
        return p_base, species, outputs

    def _dynamic(self, t, x, p, p_base) -> tuple[Array, dict[str, Array]]:
        _, extras, selectors, flat = self._split(p)
        outputs: dict[str, Array] = {}
        needed = sorted(
            {
                n
                for w in self.wiring
                if not w.static
                for s in w.inputs
                if s.formula is not None
                for n in free_names(s.formula)
            }
            - set(TIME_NAMES)
            - set(extras)
        )
        env = dict(self.base.symbols(t, x, p_base, ids=needed)) if needed else {}
        env |= extras | dict.fromkeys(TIME_NAMES, jnp.asarray(t, dtype=float))
        p_out = p_base
        for w in self.wiring:
            if w.static:
                continue
            values = self._run(w, env, selectors, flat)
            outputs |= values
            for target, pid in w.assigns:
                p_out = p_out.at[self.base.constant_ids.index(target)].set(values[pid])
        return p_out, outputs

    def _p(self, p) -> Array:
        return self.constant_values if p is None else jnp.asarray(p, dtype=float)

    def rhs(
        self, t: Scalar, x: Float[Array, " n"], p: Float[ArrayLike, " p"]
    ) -> Float[Array, " n"]:
        """dx/dt of the SBML model with every network output in place of its target parameter."""
        p = self._p(p)
        p_base, _, _ = self._static(p)
        p_base, _ = self._dynamic(t, x, p, p_base)
        return self.base.rhs(t, x, p_base)

    def __call__(self, t: Scalar, x: Float[Array, " n"], u: InputValue) -> Float[Array, " n"]:
        return self.rhs(t, x, self.constant_values)

    def initial_state(
        self,
        p: Float[ArrayLike, " p"] | None = None,
        overrides: Mapping[str, Scalar] | None = None,
    ) -> Float[Array, " n"]:
        """x(t0): the SBML initial state with pre-simulation outputs applied (a network output
        assigned to a species replaces every other initialisation of it)."""
        p = self._p(p)
        p_base, species, _ = self._static(p)
        merged = dict(overrides or {}) | species
        return self.base.initial_state(p_base, merged or None)

    def symbols(
        self,
        t: Scalar,
        x: Float[Array, " n"],
        p: Float[ArrayLike, " p"] | None = None,
        ids: Iterable[str] | None = None,
    ) -> dict[str, Array]:
        """SBML symbols at (t, x), plus extra constants and every network output by PEtab id."""
        p = self._p(p)
        wanted = self.symbol_ids if ids is None else tuple(ids)
        p_static, _, outputs = self._static(p)
        p_dyn, dyn_outputs = self._dynamic(t, x, p, p_static)
        outputs |= dyn_outputs
        _, extras, _, _ = self._split(p)
        base_ids = [i for i in wanted if i not in outputs and i not in extras]
        out = dict(self.base.symbols(t, x, p_dyn, ids=base_ids)) if base_ids else {}
        for i in wanted:
            if i in outputs:
                out[i] = outputs[i]
            elif i in extras:
                out[i] = extras[i]
        return out


def build_hybrid_model(files: SciMLProblemFiles, base: Any) -> HybridSbmlModel:
    """Wire the networks of a PEtab-SciML problem into an SBML model (the SBML interface)."""
    base_constants = tuple(base.constant_ids)
    base_symbols = set(base.symbol_ids)
    slots: dict[str, list[InputSlot]] = {n: [] for n in files.networks}
    assigns: dict[str, list[tuple[str, str]]] = {n: [] for n in files.networks}
    array_ids: list[str] = []
    assigned_inputs: set[str] = set()
    for target, value in files.hybridization:
        entity = files.mapping.get(target)
        if entity is not None and entity.kind == "inputs":
            assigned_inputs.add(target)
            if value == "array":
                if target not in files.array_inputs:
                    raise ModelError(
                        f"Hybridization assigns 'array' to input '{target}', but no array file "
                        f"has inputs/{target}; list the file under `array_files`."
                    )
                array_ids.append(target)
                slots[entity.net_id].append(
                    InputSlot(entity.argument or 0, entity.index, array_id=target)
                )
            else:
                slots[entity.net_id].append(
                    InputSlot(entity.argument or 0, entity.index, formula=parse_expression(value))
                )
            continue
        source = files.mapping.get(value)
        if source is not None and source.kind == "outputs":
            if target not in base_constants and target not in base.state_ids:
                raise ModelError(
                    f"Hybridization sets '{target}' from network output '{value}', but "
                    f"'{target}' is neither a constant parameter nor a species of the model."
                )
            assigns[source.net_id].append((target, value))
            continue
        raise ModelError(
            f"Hybridization row '{target}' <- '{value}': the target is no network input and the "
            "value is no network output of the mapping table."
        )
    extra_ids: list[str] = []
    for pid, entity in files.mapping.items():
        if entity.kind != "inputs" or pid in assigned_inputs:
            continue
        if not files.static[entity.net_id]:
            raise ModelError(
                f"Input '{pid}' of network '{entity.net_id}' (in the right-hand side) has no "
                "value; assign it an expression in the hybridization table."
            )
        if pid in files.array_inputs:
            array_ids.append(pid)
            slots[entity.net_id].append(InputSlot(entity.argument or 0, entity.index, array_id=pid))
        else:
            # set by the parameter table or the condition table, like any constant
            extra_ids.append(pid)
            slots[entity.net_id].append(
                InputSlot(entity.argument or 0, entity.index, formula=parse_expression(pid))
            )
    for net_id, net_slots in slots.items():
        for slot in net_slots:
            if slot.formula is None:
                continue
            unknown = sorted(
                free_names(slot.formula) - base_symbols - set(extra_ids) - set(TIME_NAMES)
            )
            if unknown:
                raise ModelError(
                    f"An input of network '{net_id}' refers to {unknown}, which the model does "
                    "not define."
                )
    wiring = []
    blocks: list[ParameterBlock] = []
    flat: list[np.ndarray] = []
    offset = 0
    for net_id, net in files.networks.items():
        outputs = tuple(
            (pid, e.argument or 0, e.index) for pid, e in files.outputs_of(net_id).items()
        )
        wiring.append(
            Wiring(
                net_id, files.static[net_id], tuple(slots[net_id]), outputs, tuple(assigns[net_id])
            )
        )
        for layer_id, arrays in net.parameters().items():
            for name, value in arrays.items():
                block = ParameterBlock(net_id, layer_id, name, tuple(value.shape), offset)
                blocks.append(block)
                flat.append(np.asarray(value, dtype=np.float64).ravel())
                offset += block.size
    arrays, conditions = {}, []
    for a in array_ids:
        keys = tuple(files.array_inputs[a])
        arrays[a] = jnp.asarray(np.stack([files.array_inputs[a][k] for k in keys]), dtype=float)
        conditions.append(keys)
    values = np.concatenate(
        [
            np.asarray(base.constant_values, dtype=np.float64),
            np.zeros(len(extra_ids)),
            np.zeros(len(array_ids)),
            *flat,
        ]
    )
    return HybridSbmlModel(
        base=base,
        networks=dict(files.networks),
        arrays=arrays,
        constant_values=jnp.asarray(values, dtype=float),
        wiring=tuple(wiring),
        extra_ids=tuple(extra_ids),
        array_ids=tuple(array_ids),
        array_conditions=tuple(conditions),
        blocks=tuple(blocks),
    )
