"""Figures of simulated trajectories and SDE ensembles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jaxtyping import Array, Float
from matplotlib.figure import Figure

from .._inputs import AbstractInput
from .._simulation.trajectory import Trajectory


def plot_trajectory(
    trajectory: Trajectory,
    species: Sequence[str],
    *,
    inputs: AbstractInput | None = None,
    input_names: Sequence[str] = (),
    title: str = "",
) -> Figure:
    """Species against time; the inputs u(t) in a panel above when given."""
    ts = np.asarray(trajectory.ts)
    xs = np.asarray(trajectory.xs)
    rows = 2 if inputs is not None else 1
    fig = Figure(figsize=(8, 2.2 + 3.0 * rows - 1.2 * (rows - 1)))
    axes = fig.subplots(rows, 1, sharex=True, height_ratios=[1, 3][-rows:], squeeze=False)[:, 0]
    if inputs is not None:
        dense = np.linspace(ts[0], ts[-1], 2000)
        values = np.asarray(inputs.at(dense))
        names = list(input_names) or [f"u{i}" for i in range(values.shape[1])]
        for j, name in enumerate(names):
            axes[0].plot(dense, values[:, j], drawstyle="steps-post", label=name)
        axes[0].set_ylabel("input")
        axes[0].legend(loc="upper right", fontsize="small")
    for i, name in enumerate(species):
        axes[-1].plot(ts, xs[:, i], label=name)
    axes[-1].set_xlabel("time")
    axes[-1].set_ylabel("concentration")
    axes[-1].legend(loc="upper right", fontsize="small", ncol=min(len(species), 4))
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def plot_ensemble(
    ts: Float[Array, " T"],
    paths: Float[Array, "E T n"],
    species: Sequence[str],
    *,
    show: Sequence[str] | None = None,
    reference: Trajectory | None = None,
    title: str = "",
) -> Figure:
    """Median and 5–95 % band of an ensemble of sample paths, per species; ODE for reference."""
    ts = np.asarray(ts)
    paths = np.asarray(paths)
    show = list(show or species)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for name in show:
        i = list(species).index(name)
        lo, mid, hi = np.quantile(paths[:, :, i], [0.05, 0.5, 0.95], axis=0)
        (line,) = ax.plot(ts, mid, label=f"{name} median")
        ax.fill_between(ts, lo, hi, color=line.get_color(), alpha=0.25, linewidth=0)
        if reference is not None:
            ax.plot(reference.ts, np.asarray(reference.xs)[:, i], "--", color=line.get_color())
    ax.set_xlabel("time")
    ax.set_ylabel("concentration")
    ax.set_title(title or f"{paths.shape[0]} sample paths: median, 5–95 % band (dashed: ODE)")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    return fig
