"""PEtab-SciML array-data files (HDF5): network parameters and network input arrays.

Layout (arrays in PyTorch's axis order and row-major memory order):

    metadata/pytorch_format   bool (test suite)  or  metadata/perm  "row" | "column" (spec)
    inputs/<inputId>/<"0" | "cond1;cond2">      input arrays, "0" meaning every condition
    parameters/<netId>/<layerId>/<weight|bias>  parameter arrays, e.g. Linear weight out x in

A file written column-major (perm = "column", as Julia writes) stores every array with its axes
reversed; reading undoes that, so callers always see PyTorch's shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from .._errors import ModelError


def _column_major(handle: h5py.File) -> bool:
    meta = handle.get("metadata")
    if meta is None or "perm" not in meta:
        return False
    perm = meta["perm"][()]
    perm = perm.decode() if isinstance(perm, bytes) else str(perm)
    if perm not in ("row", "column"):
        raise ModelError(
            f"{handle.filename}: metadata/perm is {perm!r}; expected 'row' or 'column'."
        )
    return perm == "column"


def _array(dataset: h5py.Dataset, column_major: bool) -> np.ndarray:
    value = np.asarray(dataset[()], dtype=np.float64)
    return value.T if column_major else value


def read_parameters(
    path: str | Path, net_id: str | None = None, *, exact: bool = False
) -> dict[str, dict[str, np.ndarray]]:
    """The parameters of network `net_id` as {layer_id: {array_id: array}} (PyTorch shapes).

    When `net_id` is not in the file but the file holds exactly one network, that one is read
    (network files and problem files may name the same network differently), unless `exact`;
    with `exact`, a file without `net_id` gives an empty mapping.
    """
    with h5py.File(path, "r") as handle:
        nets = handle.get("parameters")
        if nets is None or not len(nets):
            raise ModelError(f"The array file {path} holds no 'parameters' group.")
        if net_id not in nets:
            if exact:
                return {}
            if len(nets) != 1:
                raise ModelError(
                    f"The array file {path} holds parameters of networks {sorted(nets)}, not "
                    f"'{net_id}'; pass the right `net_id`."
                )
            (net_id,) = nets
        column = _column_major(handle)
        return {
            layer_id: {name: _array(data, column) for name, data in group.items()}
            for layer_id, group in nets[net_id].items()
        }


def write_parameters(
    path: str | Path, net_id: str, parameters: Mapping[str, Mapping[str, object]]
) -> None:
    """Write {layer_id: {array_id: array}} as PEtab-SciML parameters in PyTorch's layout."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("metadata/pytorch_format", data=True)
        handle.create_dataset("metadata/perm", data="row")
        for layer_id, arrays in parameters.items():
            for name, value in arrays.items():
                handle.create_dataset(
                    f"parameters/{net_id}/{layer_id}/{name}", data=np.asarray(value, np.float64)
                )


def read_inputs(path: str | Path) -> dict[str, dict[tuple[str, ...] | None, np.ndarray]]:
    """The input arrays as {input_id: {conditions: array}}; conditions None means all of them,
    else the tuple of condition ids that share the array."""
    out: dict[str, dict[tuple[str, ...] | None, np.ndarray]] = {}
    with h5py.File(path, "r") as handle:
        column = _column_major(handle)
        for input_id, group in (handle.get("inputs") or {}).items():
            arrays: dict[tuple[str, ...] | None, np.ndarray] = {}
            for name, data in group.items():
                conditions = None if name == "0" else tuple(c for c in name.split(";") if c)
                arrays[conditions] = _array(data, column)
            out[input_id] = arrays
    return out


def write_inputs(path: str | Path, inputs: Mapping[str, Mapping[str, object]]) -> None:
    """Write {input_id: {"0" or "cond1;cond2": array}} as PEtab-SciML input arrays."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("metadata/pytorch_format", data=True)
        handle.create_dataset("metadata/perm", data="row")
        for input_id, arrays in inputs.items():
            for name, value in arrays.items():
                handle.create_dataset(
                    f"inputs/{input_id}/{name}", data=np.asarray(value, np.float64)
                )
