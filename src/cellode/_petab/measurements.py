"""The measurement table as integer arrays: which simulation, time, observable and placeholders.

Simulations are the distinct (preequilibrationConditionId, simulationConditionId) pairs. Each
is run once on the sorted distinct finite times of its rows; rows at time `inf` are the steady
state of the simulation condition. Simulations with the same shape of work (pre-equilibration or
not, steady-state rows or not) form a *group* that is solved as one vmapped batch; time grids
are padded with the last time (padded outputs are never read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .conditions import KEEP, Pool
from .errors import PetabError, where


@dataclass(frozen=True)
class Group:
    """Simulations solved together: their condition ids, padded time grids, and flags."""

    preeq: tuple[str, ...] | None  # preequilibration condition per simulation (None: none)
    sim: tuple[str, ...]
    ts: np.ndarray  # (U, T) finite output times, padded
    has_dynamic: bool  # any finite times
    has_steady: bool  # any rows at time inf

    @property
    def n_outputs(self) -> int:
        return (self.ts.shape[1] if self.has_dynamic else 0) + int(self.has_steady)


@dataclass(frozen=True)
class MeasurementLayout:
    """Per measurement row: where its state is, its observable, its placeholders, its value."""

    groups: tuple[Group, ...]
    output_row: np.ndarray  # index into the stacked outputs of all groups
    times: np.ndarray  # simulation time (inf for steady state)
    simulation: np.ndarray  # index of (preeq, sim) pair, global
    sim_condition: tuple[str, ...]  # simulationConditionId per row
    observable: np.ndarray  # index into observable ids
    observable_pars: np.ndarray  # (M, K) pool indices
    noise_pars: np.ndarray  # (M, K') pool indices
    values: np.ndarray


def _split(cell: object) -> list[object]:
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return [float(cell)]
    text = str(cell).strip()
    return [] if text == "" else [part.strip() for part in text.split(";")]


def observable_of(rec: pd.Series, known: dict[str, int], file: str, row: int) -> str:
    """The row's observableId, which must be in the observable table."""
    oid = str(rec["observableId"]).strip()
    if oid not in known:
        raise PetabError(
            f"{where(file, row, 'observableId')}: unknown observable {oid!r}; it is not in "
            f"the observable table (known: {', '.join(known)})."
        )
    return oid


def placeholder_indices(
    rec: pd.Series,
    columns: pd.Index,
    file: str,
    row: int,
    oid: str,
    n_obs: int,
    n_noise: int,
    pool: Pool,
) -> tuple[list[int], list[int]]:
    """Pool indices of a measurement row's observableParameters and noiseParameters, checked
    against the number of placeholders of its observable."""
    out = []
    for column, need in (("observableParameters", n_obs), ("noiseParameters", n_noise)):
        cells = _split(rec[column]) if column in columns else []
        if len(cells) != need:
            raise PetabError(
                f"{where(file, row, column)}: observable {oid!r} has {need} placeholder(s) "
                f"but the row gives {len(cells)} value(s); separate values with ';'."
            )
        out.append([pool.lookup(c, file, row, column) for c in cells])
    if any(idx == KEEP for ph in out for idx in ph):
        raise PetabError(f"{where(file, row)}: a placeholder value is NaN; give a number.")
    return out[0], out[1]


def time_and_value(rec: pd.Series, file: str, row: int) -> tuple[float, float]:
    """The row's time and measurement, which must be numbers."""
    try:
        return float(rec["time"]), float(rec["measurement"])
    except (TypeError, ValueError):
        raise PetabError(
            f"{where(file, row)}: time and measurement must be numbers; got "
            f"{rec['time']!r}, {rec['measurement']!r}."
        ) from None


def stack_placeholders(rows: list[list[int]]) -> np.ndarray:
    """Per-row lists of pool indices as one (rows, max(K, 1)) array (unused entries 0)."""
    out = np.zeros((len(rows), max((len(r) for r in rows), default=0) or 1), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def split_cell(cell: object) -> list[object]:
    """A ';'-separated table cell as its parts (empty or NaN: none)."""
    return _split(cell)


def layout_measurements(
    df: pd.DataFrame,
    file: str,
    observable_ids: tuple[str, ...],
    n_obs_placeholders: dict[str, int],
    n_noise_placeholders: dict[str, int],
    condition_ids: set[str],
    pool: Pool,
) -> MeasurementLayout:
    """Check every row (ids exist, placeholder counts match) and build the index arrays."""
    obs_pos = {o: i for i, o in enumerate(observable_ids)}
    has_preeq = "preequilibrationConditionId" in df.columns
    rows = []
    for row, (_, rec) in enumerate(df.iterrows(), start=2):
        oid = observable_of(rec, obs_pos, file, row)
        sim = str(rec["simulationConditionId"]).strip()
        pre = rec["preequilibrationConditionId"] if has_preeq else None
        pre = None if pre is None or (isinstance(pre, float) and math.isnan(pre)) else str(pre)
        if pre == "":
            pre = None
        for cid, col in ((sim, "simulationConditionId"), (pre, "preequilibrationConditionId")):
            if cid is not None and cid not in condition_ids:
                raise PetabError(
                    f"{where(file, row, col)}: unknown condition {cid!r}; add it to the "
                    "condition table."
                )
        t, value = time_and_value(rec, file, row)
        placeholders = placeholder_indices(
            rec,
            df.columns,
            file,
            row,
            oid,
            n_obs_placeholders[oid],
            n_noise_placeholders[oid],
            pool,
        )
        rows.append((pre, sim, t, obs_pos[oid], placeholders[0], placeholders[1], value))

    pairs: list[tuple[str | None, str]] = []
    for pre, sim, *_ in rows:
        if (pre, sim) not in pairs:
            pairs.append((pre, sim))
    finite_times = {
        p: sorted({r[2] for r in rows if (r[0], r[1]) == p and math.isfinite(r[2])}) for p in pairs
    }
    steady = {p: any(math.isinf(r[2]) for r in rows if (r[0], r[1]) == p) for p in pairs}
    kinds: dict[tuple[bool, bool, bool], list[tuple[str | None, str]]] = {}
    for p in pairs:
        kinds.setdefault((p[0] is not None, bool(finite_times[p]), steady[p]), []).append(p)

    groups, where_pair, offset = [], {}, 0
    for (pre_flag, dyn, ss), members in kinds.items():
        width = max((len(finite_times[p]) for p in members), default=0) if dyn else 0
        ts = np.zeros((len(members), max(width, 1)))
        for u, p in enumerate(members):
            grid = finite_times[p] or [0.0]
            ts[u, : len(grid)] = grid
            ts[u, len(grid) :] = grid[-1]
        group = Group(
            preeq=tuple(p[0] for p in members) if pre_flag else None,  # type: ignore[misc]
            sim=tuple(p[1] for p in members),
            ts=ts,
            has_dynamic=dyn,
            has_steady=ss,
        )
        for u, p in enumerate(members):
            where_pair[p] = (offset, u, group.n_outputs, width)
        offset += len(members) * group.n_outputs
        groups.append(group)

    out_row = np.zeros(len(rows), dtype=np.int64)
    for i, (pre, sim, t, *_) in enumerate(rows):
        start, u, n_out, width = where_pair[(pre, sim)]
        k = width if math.isinf(t) else finite_times[(pre, sim)].index(t)
        out_row[i] = start + u * n_out + k
    obs_pars = stack_placeholders([r[4] for r in rows])
    noise_pars = stack_placeholders([r[5] for r in rows])
    return MeasurementLayout(
        groups=tuple(groups),
        output_row=out_row,
        times=np.array([r[2] for r in rows]),
        simulation=np.array([pairs.index((r[0], r[1])) for r in rows], dtype=np.int64),
        sim_condition=tuple(r[1] for r in rows),
        observable=np.array([r[3] for r in rows], dtype=np.int64),
        observable_pars=obs_pars,
        noise_pars=noise_pars,
        values=np.array([r[6] for r in rows]),
    )
