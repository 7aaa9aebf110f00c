"""The PEtab-SciML part of a PEtab problem: networks, mapping, hybridization, arrays, nominals.

This reads what the extension adds to a PEtab v2 problem and resolves it to plain objects; it
does not touch the mechanistic model or the likelihood. The extension section is accepted in all
three spellings in use:

    extensions: {petab_sciml: {neural_networks: ...}}   the format specification
    extensions: {sciml:       {neural_networks: ...}}   the PEtab-SciML test suite
    extensions: {sciml:       {neural_nets: ...}}       the PEtab-SciML benchmark collection

and a network's hybridization type as `static: true` (specification) or `pre_initialization:
true` (suite, benchmarks): the network is evaluated once per experiment before simulation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import yaml

from .._errors import ModelError
from .array_data import read_inputs, read_parameters
from .mapping import ModelEntity, parse_model_entity
from .network import SciMLNetwork
from .yaml_format import read_network_yaml

EXTENSION_KEYS = ("petab_sciml", "sciml")
NETWORK_KEYS = ("neural_networks", "neural_nets")
STATIC_KEYS = ("static", "pre_initialization")
TRUE = {"true", "1", "1.0", "yes"}
FALSE = {"false", "0", "0.0", "no"}


@dataclasses.dataclass(frozen=True)
class NetworkEntry:
    """A network of the problem YAML: its file and whether it runs before simulation."""

    net_id: str
    path: Path
    static: bool


def _extension(problem: Mapping, yaml_path: Path) -> Mapping:
    extensions = problem.get("extensions") or {}
    found = [k for k in EXTENSION_KEYS if k in extensions]
    if not found:
        raise ModelError(
            f"{yaml_path} has no PEtab-SciML section; expected `extensions:` with one of "
            f"{', '.join(EXTENSION_KEYS)}."
        )
    return extensions[found[0]]


def network_entries(problem: Mapping, yaml_path: Path) -> dict[str, NetworkEntry]:
    """The networks listed in the problem YAML's PEtab-SciML section."""
    section = _extension(problem, yaml_path)
    nets_key = next((k for k in NETWORK_KEYS if k in section), None)
    if nets_key is None:
        raise ModelError(
            f"{yaml_path}: the PEtab-SciML section lists no networks; add `neural_networks:` "
            "(or `neural_nets:`)."
        )
    entries = {}
    for net_id, spec in (section[nets_key] or {}).items():
        fmt = str(spec.get("format", "yaml")).lower()
        if fmt != "yaml":
            raise ModelError(
                f"{yaml_path}: network '{net_id}' is given in format {fmt!r}; cellode reads only "
                "the PEtab-SciML YAML format (it never runs code files). Export the network to "
                "YAML with the petab_sciml library."
            )
        static_key = next((k for k in STATIC_KEYS if k in spec), None)
        if static_key is None:
            raise ModelError(
                f"{yaml_path}: network '{net_id}' needs `static:` (or `pre_initialization:`) "
                "saying whether it runs once before simulation."
            )
        entries[str(net_id)] = NetworkEntry(
            str(net_id), yaml_path.parent / str(spec["location"]), _as_bool(spec[static_key])
        )
    return entries


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ModelError(f"Expected true or false, got {value!r}.")


def _files(section: Mapping, key: str, root: Path) -> list[Path]:
    return [root / str(name) for name in section.get(key) or ()]


def _table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _select(array: np.ndarray, index: tuple[int, ...] | None) -> tuple:
    return (...,) if index is None else tuple(index)


@dataclasses.dataclass
class SciMLProblemFiles:
    """The resolved PEtab-SciML extension of one problem.

    networks       net id -> SciMLNetwork with its nominal parameters (array files, then the
                   parameter table's numbers, less specific ids first)
    static         net id -> True when the network runs once before simulation
    frozen         net id -> {layer: {array: bool mask}}, True where `estimate` is false
    mapping        PEtab id -> ModelEntity (inputs, outputs, parameters of networks)
    hybridization  (targetId, targetValue) rows of all hybridization tables, in file order
    array_inputs   PEtab input id -> {condition ids (None: all) -> array in PyTorch layout}
    parameter_ids  the parameter-table ids that stand for network parameters
    """

    yaml_path: Path
    networks: dict[str, SciMLNetwork]
    static: dict[str, bool]
    frozen: dict[str, dict[str, dict[str, np.ndarray]]]
    mapping: dict[str, ModelEntity]
    hybridization: list[tuple[str, str]]
    array_inputs: dict[str, dict[tuple[str, ...] | None, np.ndarray]]
    parameter_ids: tuple[str, ...]

    def outputs_of(self, net_id: str) -> dict[str, ModelEntity]:
        """PEtab ids of the network's outputs."""
        return {k: e for k, e in self.mapping.items() if e.net_id == net_id and e.kind == "outputs"}

    def inputs_of(self, net_id: str) -> dict[str, ModelEntity]:
        """PEtab ids of the network's inputs."""
        return {k: e for k, e in self.mapping.items() if e.net_id == net_id and e.kind == "inputs"}


def read_sciml_problem(yaml_path: str | Path) -> SciMLProblemFiles:
    """Read the PEtab-SciML extension of the PEtab problem at `yaml_path`."""
    yaml_path = Path(yaml_path)
    problem = yaml.safe_load(yaml_path.read_text())
    root = yaml_path.parent
    section = _extension(problem, yaml_path)
    entries = network_entries(problem, yaml_path)

    mapping: dict[str, ModelEntity] = {}
    for path in _files(problem, "mapping_files", root):
        for _, row in _table(path).iterrows():
            entity_text = row["modelEntityId"].strip()
            if "." not in entity_text or entity_text.split(".")[0] not in entries:
                continue  # an ordinary PEtab v2 alias, not a network entity
            mapping[row["petabEntityId"].strip()] = parse_model_entity(entity_text)

    hybridization: list[tuple[str, str]] = []
    for path in _files(section, "hybridization_files", root):
        for _, row in _table(path).iterrows():
            hybridization.append((row["targetId"].strip(), row["targetValue"].strip()))

    array_files = _files(section, "array_files", root)
    array_inputs: dict[str, dict[tuple[str, ...] | None, np.ndarray]] = {}
    for path in array_files:
        for input_id, arrays in read_inputs(path).items():
            array_inputs.setdefault(input_id, {}).update(arrays)

    table = pd.concat([_table(p) for p in _files(problem, "parameter_files", root)])
    rows = [
        (row["parameterId"].strip(), mapping[row["parameterId"].strip()], row)
        for _, row in table.iterrows()
        if row["parameterId"].strip() in mapping
        and mapping[row["parameterId"].strip()].kind == "parameters"
    ]
    rows.sort(key=lambda r: r[1].specificity)

    networks, frozen = {}, {}
    for net_id, entry in entries.items():
        net = read_network_yaml(entry.path)
        values = {
            lid: {name: np.array(a, dtype=np.float64) for name, a in arrays.items()}
            for lid, arrays in net.parameters().items()
        }
        have = {lid: dict.fromkeys(arrays, False) for lid, arrays in values.items()}
        for path in array_files:
            with h5py.File(path, "r") as handle:
                if "parameters" not in handle:
                    continue
            stored = read_parameters(path, net_id, exact=True)
            for lid, arrays in stored.items():
                for name, array in arrays.items():
                    _assign(values, have, net_id, lid, name, None, array, path)
        mask = {
            lid: {n: np.zeros(a.shape, bool) for n, a in arrays.items()}
            for lid, arrays in values.items()
        }
        for pid, entity, row in rows:
            if entity.net_id != net_id:
                continue
            nominal = str(row.get("nominalValue", "")).strip()
            estimate = _as_bool(row.get("estimate", "true") or "true")
            for lid, name in _targets(values, entity, pid):
                if nominal not in ("", "array"):
                    number = float(nominal)
                    if math.isnan(number):
                        raise ModelError(
                            f"Parameter '{pid}': nominalValue {nominal!r} is not a number."
                        )
                    _assign(values, have, net_id, lid, name, entity.index, number, pid)
                mask[lid][name][_select(mask[lid][name], entity.index)] = not estimate
        missing = [f"{lid}.{n}" for lid, names in have.items() for n, ok in names.items() if not ok]
        if missing:
            raise ModelError(
                f"Network '{net_id}': no nominal value for {', '.join(missing)}; give them in an "
                "array file (parameters/<netId>/<layerId>/...) or as a number in the parameter "
                "table."
            )
        networks[net_id] = net.with_parameters(values)
        frozen[net_id] = mask
    return SciMLProblemFiles(
        yaml_path=yaml_path,
        networks=networks,
        static={k: e.static for k, e in entries.items()},
        frozen=frozen,
        mapping=mapping,
        hybridization=hybridization,
        array_inputs=array_inputs,
        parameter_ids=tuple(pid for pid, _, _ in rows),
    )


def _targets(values: Mapping, entity: ModelEntity, pid: str) -> list[tuple[str, str]]:
    layers = [entity.layer] if entity.layer is not None else list(values)
    out = []
    for lid in layers:
        if lid not in values:
            raise ModelError(
                f"Parameter '{pid}' refers to layer '{lid}' of network '{entity.net_id}', which "
                f"has no parameters there; parametrised layers: {sorted(values)}."
            )
        names = [entity.array] if entity.array is not None else list(values[lid])
        for name in names:
            if name not in values[lid]:
                raise ModelError(
                    f"Parameter '{pid}': layer '{lid}' of network '{entity.net_id}' has no "
                    f"array '{name}'; it has {sorted(values[lid])}."
                )
            out.append((lid, name))
    return out


def _assign(values, have, net_id, lid, name, index, value, source) -> None:
    if lid not in values or name not in values[lid]:
        raise ModelError(
            f"{source}: parameters of network '{net_id}' name '{lid}.{name}', which the network "
            "does not have."
        )
    target = values[lid][name]
    if index is None and not np.isscalar(value):
        array = np.asarray(value, dtype=np.float64)
        if array.shape != target.shape:
            raise ModelError(
                f"{source}: '{net_id}.{lid}.{name}' has shape {array.shape}; the network's "
                f"PyTorch layout needs {target.shape}."
            )
        values[lid][name] = array
    else:
        target[_select(target, index)] = value
    if index is None:
        have[lid][name] = True
