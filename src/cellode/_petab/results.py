"""Writing what a PEtab fit found: the parameter table, the simulation table and figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .parameters import to_linear_numpy
from .problem import PetabProblem


def parameter_table(problem: PetabProblem, theta: np.ndarray) -> pd.DataFrame:
    """The problem's parameter table with the estimated parameters' nominalValue set to theta
    (converted to the linear scale, as PEtab stores nominal values)."""
    df = problem.files.parameters.copy()
    linear = to_linear_numpy(np.asarray(theta), problem.parameter_scales)
    for pid, value in zip(problem.parameter_ids, linear, strict=True):
        df.loc[pid, "nominalValue"] = value
    return df


def write_parameter_table(problem: PetabProblem, theta: np.ndarray, path: str | Path) -> Path:
    """Write `parameter_table(problem, theta)` as a PEtab TSV file."""
    import petab.v1 as petab

    path = Path(path)
    petab.write_parameter_df(parameter_table(problem, theta), path)
    return path


def plot_fit(problem: PetabProblem, theta: np.ndarray) -> Figure:
    """Data (markers) and simulation (lines) against time, one panel per observable, one colour
    per simulation condition (v1) or experiment (v2)."""
    sim = problem.simulate(theta)
    data = problem.files.measurements.fillna({problem.files.condition_column: ""})
    column = problem.files.condition_column
    observables = list(dict.fromkeys(data["observableId"]))
    cols = min(3, len(observables))
    rows = -(-len(observables) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, oid in zip(axes, observables, strict=False):
        mask = data["observableId"] == oid
        for k, (cid, rows_c) in enumerate(data[mask].groupby(column, sort=False)):
            order = np.argsort(rows_c["time"].to_numpy(), kind="stable")
            t = rows_c["time"].to_numpy()[order]
            colour = f"C{k % 10}"
            ax.plot(t, rows_c["measurement"].to_numpy()[order], "o", ms=3, color=colour)
            ax.plot(
                t,
                sim.loc[rows_c.index, "simulation"].to_numpy()[order],
                "-",
                color=colour,
                label=str(cid),
            )
        ax.set_title(oid, fontsize=9)
        ax.set_xlabel("time")
    for ax in axes[len(observables) :]:
        ax.set_visible(False)
    if len(set(data[column])) <= 8:
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
