"""Trajectories as tidy CSV tables: one row per time point, one column per species and input."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._inputs import AbstractInput
from .._simulation.trajectory import Trajectory


def write_trajectory_csv(
    path: str | Path,
    trajectory: Trajectory,
    species: Sequence[str],
    *,
    inputs: AbstractInput | None = None,
    input_names: Sequence[str] = (),
) -> Path:
    """Write `time, <inputs...>, <species...>` rows; returns the path written."""
    path = Path(path)
    ts = np.asarray(trajectory.ts)
    xs = np.asarray(trajectory.xs)
    columns = [xs]
    header = ["time"]
    if inputs is not None:
        names = list(input_names) or [f"u{i}" for i in range(inputs.n_inputs)]
        header += names
        columns.insert(0, np.asarray(inputs.at(trajectory.ts)))
    header += list(species)
    table = np.column_stack([ts, *columns])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[f"{v:.10g}" for v in row] for row in table])
    return path
