"""Figures of the trust diagnostics: Lipschitz distributions, FTLE maps, the OOD report."""

from __future__ import annotations

import textwrap

import numpy as np
from jaxtyping import ArrayLike, Float
from matplotlib.figure import Figure

from .._diagnostics.lipschitz import LipschitzReport
from .._diagnostics.ood import OODReport


def plot_lipschitz(report: LipschitzReport, *, ax=None) -> Figure:
    """Histograms of log10 ||J_f(x)||_2 on the training and the test region."""
    fig = Figure(figsize=(5, 3.5)) if ax is None else ax.figure
    ax = fig.subplots() if ax is None else ax
    floor = np.finfo(float).tiny
    train = np.log10(np.maximum(report.train, floor))
    test = np.log10(np.maximum(report.test, floor))
    lo, hi = min(train.min(), test.min()), max(train.max(), test.max())
    bins = np.linspace(lo - 0.05, hi + 0.05, 30)
    ax.hist(train, bins=bins, alpha=0.6, density=True, label="training region")
    ax.hist(test, bins=bins, alpha=0.6, density=True, label="test region")
    for level, color in ((report.train_level, "C0"), (report.test_level, "C1")):
        ax.axvline(np.log10(max(level, floor)), color=color, ls="--")
    ax.set_xlabel("log10 local Lipschitz constant ||J_f(x)||_2")
    ax.set_ylabel("density")
    ax.set_title(f"test/train ratio {report.ratio:.3g}", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


def plot_ftle_map(
    grid_x: Float[ArrayLike, " a"],
    grid_y: Float[ArrayLike, " b"],
    values: Float[ArrayLike, "b a"],
    *,
    labels: tuple[str, str] = ("x1", "x2"),
) -> Figure:
    """A map of the largest FTLE over a grid of initial states (diverging colours around 0)."""
    values = np.asarray(values)
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    bound = float(np.nanmax(np.abs(values))) or 1.0
    mesh = ax.pcolormesh(
        np.asarray(grid_x), np.asarray(grid_y), values, cmap="RdBu_r", vmin=-bound, vmax=bound
    )
    fig.colorbar(mesh, ax=ax, label="largest FTLE")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    return fig


def plot_ood(report: OODReport) -> Figure:
    """The out-of-distribution report as a figure: the training states and the condition's
    trajectory (first two principal components of the training states, or the two species when
    n = 2), distance from the training states against time, local Lipschitz constant along the
    trajectory against the training distribution, and (with data) the held-out error."""
    panels = 4 if report.error is not None else 3
    fig = Figure(figsize=(4.2 * panels, 4.0), layout="constrained")
    axes = fig.subplots(1, panels)
    train, test = report.train_states, report.states
    n = train.shape[1]
    names = report.species or tuple(f"x{i + 1}" for i in range(n))
    if n == 1:
        axes[0].plot(np.zeros(len(train)), train[:, 0], ".", ms=2, alpha=0.4, label="training")
        axes[0].plot(np.ones(len(test)), test[:, 0], ".", ms=3, label=report.condition)
        axes[0].set_ylabel(names[0])
    else:
        if n == 2:
            center, basis, xlabel, ylabel = np.zeros(2), np.eye(2), names[0], names[1]
        else:
            center = train.mean(axis=0)
            _, _, vt = np.linalg.svd(train - center, full_matrices=False)
            basis, xlabel, ylabel = vt[:2].T, "PC 1 (training states)", "PC 2"
        p_train, p_test = (train - center) @ basis, (test - center) @ basis
        axes[0].plot(p_train[:, 0], p_train[:, 1], ".", ms=2, alpha=0.4, label="training states")
        axes[0].plot(p_test[:, 0], p_test[:, 1], "-", lw=1.5, color="C3", label=report.condition)
        axes[0].plot(p_test[0, 0], p_test[0, 1], "o", color="C3")
        axes[0].set_xlabel(xlabel)
        axes[0].set_ylabel(ylabel)
    axes[0].legend(fontsize="small")
    axes[0].set_title("state space", fontsize="medium")
    axes[1].plot(report.ts, report.distance, color="C3")
    axes[1].axhline(report.thresholds.distance, color="k", ls="--", lw=1, label="threshold")
    axes[1].set_xlabel("time")
    axes[1].set_ylabel("distance to training states (spreads)")
    axes[1].legend(fontsize="small")
    lip = report.lipschitz
    axes[2].plot(report.ts, lip.test, color="C3", label="along the condition")
    axes[2].axhspan(
        float(np.min(lip.train)),
        float(np.max(lip.train)),
        color="C0",
        alpha=0.2,
        label="range in training",
    )
    axes[2].axhline(lip.train_level, color="C0", ls="--", lw=1, label="training level")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("time")
    axes[2].set_ylabel("||J_f(x)||_2")
    axes[2].legend(fontsize="small")
    if report.error is not None:
        axes[3].plot(report.ts, report.error, color="C3")
        axes[3].set_xlabel("time")
        axes[3].set_ylabel("held-out RMSE")
    title = textwrap.fill(f"{report.condition}: {report.verdict}", width=40 * panels)
    fig.suptitle(title, fontsize="medium")
    return fig
