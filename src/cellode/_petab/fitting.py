"""Multistart maximum-likelihood fitting of a PEtab problem.

Starts are Latin-hypercube samples of the box of parameter bounds (on the parameter scale, as
PEtab intends: log-scaled parameters are sampled uniformly in log), via cellode's
`latin_hypercube`. Each start is a bounded quasi-Newton fit (L-BFGS-B) of the objective
-log L - log p with the exact gradient of `PetabProblem.objective_and_gradient`; all starts share
one compiled objective, so compile time is paid once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import jax.random as jr
import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import minimize

from .._fitting.multistart import latin_hypercube
from .problem import PetabProblem


@dataclass
class PetabFit:
    """One local fit: the start, the optimum theta, its objective value and the optimiser's word."""

    start: np.ndarray
    theta: np.ndarray
    value: float
    iterations: int
    evaluations: int
    message: str
    seconds: float


@dataclass
class PetabMultistart:
    """Every start's fit, best (lowest objective) first."""

    fits: list[PetabFit]
    parameter_ids: tuple[str, ...]
    seconds: float

    @property
    def best(self) -> PetabFit:
        return self.fits[0]

    @property
    def values(self) -> np.ndarray:
        return np.array([f.value for f in self.fits])

    def waterfall(self, title: str = "") -> Figure:
        """Sorted final objective values: a plateau reached by many starts is a robust optimum."""
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        values = self.values
        finite = np.isfinite(values)
        if finite.any():
            ax.plot(np.flatnonzero(finite) + 1, values[finite] - values[finite].min() + 1, "o-")
        ax.set_yscale("log")
        ax.set_xlabel("start (sorted by final objective)")
        ax.set_ylabel("objective - best + 1")
        best = values.min() if finite.any() else math.nan
        ax.set_title(title or f"Waterfall: {len(values)} starts, best {best:.6f}")
        fig.tight_layout()
        return fig


def fit_petab(
    problem: PetabProblem,
    *,
    n_starts: int = 10,
    seed: int = 0,
    max_iterations: int = 500,
    tol: float = 1e-10,
    include_nominal: bool = False,
) -> PetabMultistart:
    """Minimise -log L - log p from `n_starts` Latin-hypercube starts within the bounds."""
    lower, upper = problem.bounds
    starts = latin_hypercube(jr.key(seed), n_starts, lower, upper)
    if include_nominal:
        starts = np.vstack([problem.nominal_theta[None], starts])
    started = time.perf_counter()

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = problem.objective_and_gradient(theta)
        value, grad = float(value), np.asarray(grad)
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            return 1e20, np.zeros_like(theta)  # a failed solve: L-BFGS-B backtracks
        return value, grad

    fits = []
    for start in starts:
        t0 = time.perf_counter()
        result = minimize(
            fun,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lower, upper)),
            options={"maxiter": max_iterations, "ftol": tol, "gtol": 1e-8, "maxcor": 20},
        )
        value = float(result.fun) if result.fun < 1e20 else math.inf
        fits.append(
            PetabFit(
                start=np.asarray(start),
                theta=np.asarray(result.x),
                value=value,
                iterations=int(result.nit),
                evaluations=int(result.nfev),
                message=str(result.message),
                seconds=time.perf_counter() - t0,
            )
        )
    fits.sort(key=lambda f: f.value if math.isfinite(f.value) else math.inf)
    return PetabMultistart(fits, problem.parameter_ids, time.perf_counter() - started)
