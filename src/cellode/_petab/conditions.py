"""Mapping a PEtab problem onto the model's constants: the parameter pool and its indices.

All values the objective needs live in one vector, the *pool*:

    pool = [ linear values of the estimated parameters (from theta) | fixed numbers ]

Fixed numbers are the nominal values of fixed parameters, the SBML values of model constants the
parameter table does not list, and every number written in the condition or measurement table.
Each condition, each placeholder of each measurement and each species override is an integer
index into the pool, so the whole problem is a few integer arrays and one gather: conditions
can be stacked and vmapped, and a new theta never changes the compiled function.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import PetabError, where
from .parameters import ParameterTable

KEEP = -1  # species override "NaN": keep the model's (or the pre-equilibration's) value


class Pool:
    """Builder of the pool layout: names and numbers -> indices."""

    def __init__(self, table: ParameterTable):
        self.table = table
        self.names: dict[str, int] = {}
        est = [i for i, e in zip(table.ids, table.estimate) if e]
        self.n_estimated = len(est)
        for k, pid in enumerate(est):
            self.names[pid] = k
        self.fixed: list[float] = []
        self._numbers: dict[float, int] = {}
        for pid, e, value in zip(table.ids, table.estimate, table.nominal):
            if not e:
                self.names[pid] = self._add(float(value))

    def _add(self, value: float) -> int:
        self.fixed.append(value)
        return self.n_estimated + len(self.fixed) - 1

    def number(self, value: float) -> int:
        if value not in self._numbers:
            self._numbers[value] = self._add(value)
        return self._numbers[value]

    def model_default(self, model_id: str, value: float) -> int:
        """The index of a model constant: the parameter table's entry, else the SBML value."""
        if model_id in self.names:
            return self.names[model_id]
        key = f"\x00sbml:{model_id}"
        if key not in self.names:
            self.names[key] = self._add(value)
        return self.names[key]

    def lookup(self, cell: object, file: str, row: int, column: str) -> int:
        """A table cell that is a number or a parameter id -> its pool index (NaN -> KEEP)."""
        number = _as_number(cell)
        if number is not None:
            return KEEP if math.isnan(number) else self.number(number)
        name = str(cell).strip()
        if name in self.names and not name.startswith("\x00"):
            return self.names[name]
        raise PetabError(
            f"{where(file, row, column)}: {name!r} is neither a number nor a parameter of the "
            "parameter table; add it to the parameter table or write a number."
        )

    def fixed_array(self) -> np.ndarray:
        return np.asarray(self.fixed, dtype=float)


def _as_number(cell: object) -> float | None:
    if cell is None:
        return math.nan
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return float(cell)
    text = str(cell).strip()
    if text == "" or text.lower() == "nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def condition_overrides(
    condition_df: pd.DataFrame,
    file: str,
    constant_ids: tuple[str, ...],
    initial_ids: tuple[str, ...],
    pool: Pool,
    defaults: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], tuple[str, ...]]:
    """Per condition id: the pool index of every model constant, and of every overridden species
    (KEEP where the table says NaN); and the ids of the overridden species (column order).

    A column is a model constant (parameter or constant compartment size: its value is replaced)
    or a species/state (its initial value is replaced). Anything else is an error naming the
    column.
    """
    constant_pos = {c: i for i, c in enumerate(constant_ids)}
    species_cols: list[str] = []
    param_cols: list[str] = []
    for column in condition_df.columns:
        if column == "conditionName":
            continue
        if column in constant_pos:
            param_cols.append(column)
        elif column in initial_ids:
            species_cols.append(column)
        else:
            raise PetabError(
                f"{where(file, 1, column)}: the condition table column {column!r} is neither a "
                "constant of the model (parameter, compartment) nor a species of it; check the "
                "spelling against the SBML file."
            )
    params: dict[str, np.ndarray] = {}
    species: dict[str, np.ndarray] = {}
    for row, (cid, rec) in enumerate(condition_df.iterrows(), start=2):
        p = defaults.copy()
        for column in param_cols:
            idx = pool.lookup(rec[column], file, row, column)
            if idx != KEEP:
                p[constant_pos[column]] = idx
        params[str(cid)] = p
        species[str(cid)] = np.array(
            [pool.lookup(rec[c], file, row, c) for c in species_cols], dtype=np.int64
        )
    return params, species, tuple(species_cols)
