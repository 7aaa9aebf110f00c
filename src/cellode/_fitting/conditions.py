"""Experimental conditions from a TOML file: each experiment's inputs and initial values.

    [conditions."dose 1.0"]
    inputs.L = { times = [5.0, 25.0], values = [0.0, 1.0, 0.0] }
    species.R = 0.8            # initial value (others from the model file)

Experiments not listed use the model file's inputs and initial values.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import InputError
from .._inputs import AbstractInput, Stacked
from .._networks.model_file import NetworkModel, _parse_input


@dataclass(frozen=True)
class Condition:
    """Inputs u(t) and initial state x0 of one experiment."""

    inputs: AbstractInput | None
    x0: np.ndarray


def read_conditions(path: str | Path, model: NetworkModel) -> dict[str, Condition]:
    """Conditions by experiment id, each completed from the model file's defaults."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read conditions file {str(path)!r}: {e.strerror}.") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path.name}: not valid TOML: {e}.") from None
    table = data.get("conditions")
    if not isinstance(table, dict) or set(data) - {"conditions"}:
        raise InputError(f"{path.name}: expected only `[conditions.<experiment id>]` tables.")
    network = model.network
    out = {}
    for exp, spec in table.items():
        where = f"{path.name}: condition {exp!r}"
        unknown = set(spec) - {"inputs", "species"}
        if unknown:
            raise InputError(f"{where}: unknown keys {sorted(unknown)}; use inputs and species.")
        given_inputs = spec.get("inputs", {})
        bad = [u for u in given_inputs if u not in network.inputs]
        if bad:
            raise InputError(
                f"{where}: {bad} are not inputs of the model ({list(network.inputs)})."
            )
        x0 = model.x0.copy()
        for s, value in spec.get("species", {}).items():
            if s not in network.species:
                raise InputError(f"{where}: {s!r} is not a species of the model.")
            x0[network.species.index(s)] = float(value)
        inputs = model.inputs
        if network.inputs:
            defaults = list(inputs.parts) if isinstance(inputs, Stacked) else [inputs]
            parts = [
                _parse_input(u, given_inputs[u], f"{where}: input {u!r}") if u in given_inputs
                else defaults[i]
                for i, u in enumerate(network.inputs)
            ]  # fmt: skip
            inputs = parts[0] if len(parts) == 1 else Stacked(*parts)
        out[exp] = Condition(inputs, x0)
    return out
