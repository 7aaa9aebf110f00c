"""Tidy measurement tables: one row per measurement, read into `Experiment`s.

Columns: `experiment, time, observable, value` and optionally `sigma`. Errors name the file, the
line and what to change. Values are parsed as numbers, never evaluated.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .._errors import InputError
from .._inputs import AbstractInput
from .experiment import Experiment

REQUIRED = ("experiment", "time", "observable", "value")


def _number(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {column} {text!r} is not a number.") from None
    return value


def read_measurements(
    path: str | Path,
    observables: Sequence[str],
    *,
    inputs: Mapping[str, AbstractInput] | None = None,
    x0: Mapping[str, Sequence[float]] | None = None,
) -> list[Experiment]:
    """Read a tidy CSV into one `Experiment` per experiment id, in order of first appearance.

    `observables` fixes the column order of y; `inputs` and `x0` give each experiment's condition
    by id. Missing measurements (an observable not measured at a time) become masked entries; an
    empty `value` cell is a missing value too.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Measurement file {str(path)!r} does not exist.")
    index = {name: j for j, name in enumerate(observables)}
    rows: dict[str, dict[float, dict[int, tuple[float, float]]]] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(
                f"{path}: missing column(s) {missing}; a measurement table needs columns "
                f"{', '.join(REQUIRED)} (and optionally sigma)."
            )
        has_sigma = "sigma" in header
        for line, raw in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            where = f"{path}, line {line}"
            exp = row["experiment"]
            if not exp:
                raise InputError(f"{where}: empty experiment id.")
            obs = row["observable"]
            if obs not in index:
                raise InputError(
                    f"{where}: unknown observable {obs!r}; known observables: "
                    f"{', '.join(observables)}."
                )
            t = _number(row["time"], "time", where)
            if not math.isfinite(t) or t < 0:
                raise InputError(f"{where}: time {row['time']!r} must be finite and non-negative.")
            value = math.nan if row["value"] == "" else _number(row["value"], "value", where)
            if math.isinf(value):
                raise InputError(f"{where}: value {row['value']!r} is infinite.")
            sigma = math.nan
            if has_sigma and row.get("sigma", ""):
                sigma = _number(row["sigma"], "sigma", where)
                if not sigma > 0:
                    raise InputError(f"{where}: sigma {row['sigma']!r} must be positive.")
            slot = rows.setdefault(exp, {}).setdefault(t, {})
            if index[obs] in slot:
                raise InputError(
                    f"{where}: duplicate measurement of {obs!r} at time {t:g} in experiment "
                    f"{exp!r}; keep one row per (experiment, time, observable) or average them."
                )
            slot[index[obs]] = (value, sigma)
    if not rows:
        raise InputError(f"{path}: no measurements.")
    experiments = []
    for exp, by_time in rows.items():
        ts = np.array(sorted(by_time))
        y = np.full((ts.size, len(observables)), np.nan)
        sigma = np.full_like(y, np.nan)
        for i, t in enumerate(ts):
            for j, (value, s) in by_time[t].items():
                y[i, j], sigma[i, j] = value, s
        condition_inputs = (inputs or {}).get(exp)
        condition_x0 = (x0 or {}).get(exp)
        kept_sigma = sigma if has_sigma else None
        experiments.append(
            Experiment(ts, y, sigma=kept_sigma, name=exp, inputs=condition_inputs, x0=condition_x0)
        )
    return experiments


def write_measurements(
    path: str | Path, experiments: Sequence[Experiment], observables: Sequence[str]
) -> Path:
    """Write experiments as a tidy CSV (the format `read_measurements` reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*REQUIRED, "sigma"])
        for exp in experiments:
            y, mask = np.asarray(exp.y), np.asarray(exp.mask)
            sigma = None if exp.sigma is None else np.asarray(exp.sigma)
            for i, t in enumerate(np.asarray(exp.ts)):
                for j, name in enumerate(observables):
                    if mask[i, j]:
                        s = (
                            ""
                            if sigma is None or not np.isfinite(sigma[i, j])
                            else f"{sigma[i, j]:.10g}"
                        )
                        writer.writerow([exp.name, f"{t:.10g}", name, f"{y[i, j]:.10g}", s])
    return path
