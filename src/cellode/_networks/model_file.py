"""Model files: a reaction network with initial values, parameters and inputs, in TOML.

    name = "Michaelis–Menten enzyme"
    reactions = '''
    E + S <-> ES ; k1, k2
    ES -> E + P ; kcat
    '''

    [species]            # every species with its initial value (concentration)
    E = 1.0
    S = 10.0
    ES = 0.0
    P = 0.0

    [parameters]         # every parameter the rates use, with its value
    k1 = 1.0
    k2 = 0.5
    kcat = 0.3

    [inputs]             # optional inputs u(t), in this order; rates use them by name
    L = 2.0                                        # constant
    # L = { times = [10.0], values = [0.0, 1.0] }  # piecewise constant: values[0] before 10
    # L = { times = [0.0, 5.0], values = [0.0, 1.0], kind = "linear" }  # ramp

    [simulation]         # optional defaults for `cellode simulate`
    t_end = 50.0
    n_points = 201

`reactions` is a multi-line string in the text syntax of `ReactionNetwork.from_text` (or a list
of one-line strings). Everything is declared: a name in a reaction or rate that is not a
species, parameter or input is an error naming its line in the file.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jaxtyping import Float

from .._errors import ModelError
from .._inputs import AbstractInput, Constant, PiecewiseConstant, PiecewiseLinear, Stacked
from .network import ReactionNetwork
from .text_parser import parse_network_text

_TOP_KEYS = {"name", "description", "reactions", "species", "parameters", "inputs", "simulation"}


@dataclass(frozen=True, eq=False)
class NetworkModel:
    """What a model file holds: the network (with parameter values), x0, inputs u(t), defaults."""

    network: ReactionNetwork
    x0: Float[np.ndarray, " n"]
    inputs: AbstractInput | None
    t_end: float | None
    n_points: int | None
    path: Path | None = None

    def vector_field(self, *, log_scale: bool = False):
        """The model's vector field with the file's parameter values."""
        return self.network.vector_field(log_scale=log_scale)


def _number(value, where: str, *, nonnegative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelError(f"{where} must be a finite number; got {value!r}.")
    if nonnegative and value < 0:
        raise ModelError(f"{where} must be >= 0 (a concentration); got {value!r}.")
    return float(value)


def _parse_input(name: str, spec, where: str) -> AbstractInput:
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return Constant([_number(spec, where)])
    if not isinstance(spec, dict):
        raise ModelError(
            f"{where}: give a number (constant input) or a table "
            "`{ times = [...], values = [...] }`."
        )
    unknown = set(spec) - {"times", "values", "kind"}
    if unknown:
        raise ModelError(f"{where}: unknown keys {sorted(unknown)}; use times, values, kind.")
    kind = spec.get("kind", "piecewise_constant")
    times = [_number(t, f"{where}.times") for t in spec.get("times", [])]
    values = [_number(v, f"{where}.values") for v in spec.get("values", [])]
    if kind == "piecewise_constant":
        return PiecewiseConstant(times, values)
    if kind == "linear":
        return PiecewiseLinear(times, values)
    raise ModelError(f"{where}: kind {kind!r} is unknown; use 'piecewise_constant' or 'linear'.")


def _reaction_lines(raw_lines: list[str], reactions) -> tuple[list[str], list[int]]:
    """The reaction lines and, for error messages, their line numbers in the file."""
    if isinstance(reactions, str):
        lines = reactions.splitlines()
    elif isinstance(reactions, list) and all(isinstance(r, str) for r in reactions):
        lines = list(reactions)
    else:
        raise ModelError("`reactions` must be a multi-line string or a list of strings.")
    start = next(
        (i for i, line in enumerate(raw_lines) if line.lstrip().startswith("reactions")), 0
    )
    numbers, cursor = [], start
    for line in lines:
        text = line.strip()
        found = None
        if text:
            for i in range(cursor, len(raw_lines)):
                if text in raw_lines[i]:
                    found = i
                    break
        if found is None:
            numbers.append(cursor + 1)
        else:
            numbers.append(found + 1)
            cursor = found + 1
    return lines, numbers


def load_model(path: str | Path) -> NetworkModel:
    """Read a TOML model file (format in this module's docstring) into a `NetworkModel`."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ModelError(f"cannot read model file {str(path)!r}: {e.strerror}.") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as e:
        raise ModelError(f"{path.name}: not valid TOML: {e}.") from None
    return model_from_dict(data, source=path.name, raw=raw, path=path)


def model_from_dict(
    data: dict, *, source: str = "model", raw: str = "", path: Path | None = None
) -> NetworkModel:
    """Build a `NetworkModel` from the parsed contents of a model file."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ModelError(
            f"{source}: unknown keys {sorted(unknown)}; a model file has {sorted(_TOP_KEYS)}."
        )
    for key in ("reactions", "species"):
        if key not in data:
            raise ModelError(f"{source}: `{key}` is missing; see the model-file format.")
    species_table = data["species"]
    if not isinstance(species_table, dict):
        raise ModelError(f"{source}: `[species]` must be a table `NAME = initial value`.")
    initial = {
        s: _number(v, f"{source}: initial value of species {s!r}", nonnegative=True)
        for s, v in species_table.items()
    }
    params_table = data.get("parameters", {})
    if not isinstance(params_table, dict):
        raise ModelError(f"{source}: `[parameters]` must be a table `NAME = value`.")
    parameters = {p: _number(v, f"{source}: parameter {p!r}") for p, v in params_table.items()}
    inputs_table = data.get("inputs", {})
    if not isinstance(inputs_table, dict):
        raise ModelError(f"{source}: `[inputs]` must be a table `NAME = value or {{...}}`.")
    protocols = [
        _parse_input(name, spec, f"{source}: input {name!r}") for name, spec in inputs_table.items()
    ]
    lines, numbers = _reaction_lines(raw.splitlines(), data["reactions"])
    network = parse_network_text(
        lines,
        species=list(initial),
        parameters=parameters,
        inputs=list(inputs_table),
        initial=initial,
        name=str(data.get("name", path.stem if path else "model")),
        source=f"{source}, line",
        line_numbers=numbers,
    )
    unused = [p for p in parameters if p not in network.parameter_names]
    if unused:
        raise ModelError(
            f"{source}: parameters {unused} are declared but no rate uses them; remove them or "
            "fix the spelling in the reactions."
        )
    sim = data.get("simulation", {})
    unknown_sim = set(sim) - {"t_end", "n_points"}
    if unknown_sim:
        raise ModelError(f"{source}: unknown [simulation] keys {sorted(unknown_sim)}.")
    t_end = _number(sim["t_end"], f"{source}: simulation.t_end") if "t_end" in sim else None
    n_points = int(sim["n_points"]) if "n_points" in sim else None
    if inputs_table:
        inputs: AbstractInput | None = protocols[0] if len(protocols) == 1 else Stacked(*protocols)
    else:
        inputs = None
    return NetworkModel(network, network.x0(), inputs, t_end, n_points, path)
