"""The library call behind `cellode diagnose MODEL`: the out-of-distribution report for a model
file under a new condition.

A condition changes the file's nominal experiment. Each change is `NAME=VALUE`:
- a species name (or `x0.NAME`): its initial value;
- a parameter name: its value;
- an input name: that input held constant at VALUE (`L=2.0`).
Or a TOML file with the same tables as a model file, each optional:

    [species]      # initial values
    R = 0.5
    [parameters]
    kon = 4.0
    [inputs]       # same syntax as in a model file
    L = { times = [5.0], values = [0.0, 3.0] }

The training region is the nominal simulation of the file (its x0, inputs and parameters over
[0, t_end]) or, with `data`, the states in a CSV file (a header naming the species; an optional
`time` column).
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .._diagnostics.ood import Condition, OODReport, ood_report
from .._diagnostics.region import region
from .._errors import InputError, ModelError
from .._inputs import AbstractInput, Constant, Stacked
from .._networks.model_file import NetworkModel, _parse_input, load_model
from .._simulation.simulate import simulate


@dataclass(frozen=True)
class ConditionChange:
    """A parsed condition: new initial values, parameter values and input protocols by name."""

    initial: dict[str, float]
    parameters: dict[str, float]
    inputs: dict[str, AbstractInput]
    label: str

    @property
    def empty(self) -> bool:
        return not (self.initial or self.parameters or self.inputs)


def _value(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {text!r} is not a number.") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: the value must be finite; got {text!r}.")
    return value


def parse_condition(items: Sequence[str], model: NetworkModel) -> ConditionChange:
    """Parse `NAME=VALUE` items and TOML condition files (module docstring) against a model."""
    net = model.network
    initial: dict[str, float] = {}
    parameters: dict[str, float] = {}
    inputs: dict[str, AbstractInput] = {}
    for item in items:
        if "=" not in item:
            path = Path(item)
            if not path.is_file():
                raise InputError(
                    f"condition {item!r}: write NAME=VALUE (e.g. 'L=2.0', 'x0.R=0.5', 'kon=4') "
                    "or give an existing TOML condition file."
                )
            _parse_condition_file(path, model, initial, parameters, inputs)
            continue
        name, text = (part.strip() for part in item.split("=", 1))
        where = f"condition {item!r}"
        if name.startswith("x0."):
            species = name[3:]
            if species not in net.species:
                raise InputError(
                    f"{where}: {species!r} is not a species; species: {', '.join(net.species)}."
                )
            initial[species] = _value(text, where)
        elif name in net.species:
            initial[name] = _value(text, where)
        elif name in net.parameter_names:
            parameters[name] = _value(text, where)
        elif name in net.inputs:
            inputs[name] = Constant([_value(text, where)])
        else:
            known = [*net.species, *net.parameter_names, *net.inputs]
            raise InputError(
                f"{where}: {name!r} is not a species, parameter or input of the model; known "
                f"names: {', '.join(known)}."
            )
    for species, value in initial.items():
        if value < 0:
            raise InputError(f"initial value of {species!r} must be >= 0; got {value}.")
    label = ", ".join(items) if items else "nominal"
    return ConditionChange(initial, parameters, inputs, label)


def _parse_condition_file(path, model, initial, parameters, inputs) -> None:
    net = model.network
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"condition file {str(path)!r} cannot be read: {e}.") from None
    unknown = set(data) - {"species", "parameters", "inputs"}
    if unknown:
        raise InputError(
            f"{path.name}: unknown tables {sorted(unknown)}; use [species], [parameters], [inputs]."
        )
    for table, known, target in (
        ("species", net.species, initial),
        ("parameters", net.parameter_names, parameters),
    ):
        for name, value in data.get(table, {}).items():
            if name not in known:
                raise InputError(f"{path.name}: [{table}] {name!r} is not one of {list(known)}.")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{path.name}: [{table}] {name} must be a number.")
            target[name] = _value(str(value), f"{path.name}: [{table}] {name}")
    for name, spec in data.get("inputs", {}).items():
        if name not in net.inputs:
            raise InputError(f"{path.name}: [inputs] {name!r} is not one of {list(net.inputs)}.")
        try:
            inputs[name] = _parse_input(name, spec, f"{path.name}: input {name!r}")
        except ModelError as e:
            raise InputError(str(e)) from None


def _input_parts(model: NetworkModel) -> list[AbstractInput]:
    if model.inputs is None:
        return []
    if isinstance(model.inputs, Stacked) and len(model.inputs.parts) == len(model.network.inputs):
        return list(model.inputs.parts)
    return [model.inputs]


def _condition_inputs(model: NetworkModel, change: ConditionChange) -> AbstractInput | None:
    parts = _input_parts(model)
    if not change.inputs:
        return model.inputs
    names = model.network.inputs
    if len(parts) != len(names):
        raise InputError(
            f"cannot change single inputs: the model's inputs are not one protocol per input "
            f"({', '.join(names)}); give every input in a condition file instead."
        )
    parts = [change.inputs.get(name, part) for name, part in zip(names, parts, strict=True)]
    return parts[0] if len(parts) == 1 else Stacked(*parts)


def _read_states_csv(path: Path, species: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with Path(path).open(newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as e:
        raise InputError(f"--data {str(path)!r} cannot be read: {e.strerror}.") from None
    if len(rows) < 2:
        raise InputError(f"--data {str(path)!r} needs a header row and at least one data row.")
    header = [h.strip() for h in rows[0]]
    missing = [s for s in species if s not in header]
    if missing:
        raise InputError(
            f"--data {str(path)!r} has no column for species {missing}; the header must name "
            f"every species ({', '.join(species)})."
        )
    try:
        table = np.array([[float(v) for v in row] for row in rows[1:] if row], dtype=np.float64)
    except ValueError as e:
        raise InputError(f"--data {str(path)!r}: a value is not a number ({e}).") from None
    xs = table[:, [header.index(s) for s in species]]
    time_col = next((c for c in ("time", "t") if c in header), None)
    ts = table[:, header.index(time_col)] if time_col else None
    return xs, ts


@dataclass(frozen=True)
class Diagnosis:
    """The report and the files `diagnose_model_file` wrote."""

    report: OODReport
    files: tuple[Path, ...]


def diagnose_model_file(
    path: str | Path,
    out_dir: str | Path = ".",
    *,
    conditions: Sequence[str] = (),
    data: str | Path | None = None,
    t_end: float | None = None,
    n_points: int | None = None,
) -> Diagnosis:
    """Judge a model file's prediction under a new condition (`cellode.ood_report`) and write
    `diagnosis.txt` (the summary) and `diagnosis.png` (the figure) into `out_dir`.

    `conditions`: changes to the nominal experiment (`NAME=VALUE` or TOML files; see the
    module docstring). The training region is the nominal simulation over [0, t_end] (the
    file's `[simulation]` defaults, else 10 and 201 points), or the states in the CSV `data`.
    Conservation laws of the network are checked along the prediction and projected out of
    the FTLE.
    """
    from .._plotting.diagnostics import plot_ood

    model = load_model(path)
    net = model.network
    change = parse_condition(conditions, model)
    t_end = t_end if t_end is not None else (model.t_end if model.t_end is not None else 10.0)
    n_points = n_points if n_points is not None else (model.n_points or 201)
    if not t_end > 0:
        raise InputError(f"t_end must be positive; got {t_end}.")
    if n_points < 2:
        raise InputError(f"n_points must be at least 2; got {n_points}.")
    ts = np.linspace(0.0, float(t_end), int(n_points))
    field = model.vector_field()
    if data is None:
        nominal = simulate(field, model.x0, ts, inputs=model.inputs, rtol=1e-8, atol=1e-10)
        train = region(nominal, inputs=model.inputs, name="the nominal simulation")
    else:
        xs, data_ts = _read_states_csv(Path(data), net.species)
        train = region(xs, ts=data_ts, inputs=model.inputs, name="--data")
    condition_model = None
    if change.parameters:
        condition_model = net.vector_field({**net.parameters, **change.parameters})
    condition = Condition(
        x0=jnp.asarray(net.x0({**model.network.initial, **change.initial})),
        ts=jnp.asarray(ts),
        inputs=_condition_inputs(model, change),
        model=condition_model,
        name=change.label,
    )
    laws = net.conservation_laws()
    report = ood_report(
        field,
        train,
        condition,
        laws=laws if len(laws) else None,
        species=tuple(net.species),
        rtol=1e-8,
        atol=1e-10,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text_path, png_path = out / "diagnosis.txt", out / "diagnosis.png"
    text_path.write_text(f"{net.name}\n\n{report.summary()}\n", encoding="utf-8")
    plot_ood(report).savefig(png_path, dpi=120)
    return Diagnosis(report, (text_path, png_path))
