"""Multistart maximum-likelihood fitting of a PEtab problem.

Starts are Latin-hypercube samples of the box of parameter bounds (on the parameter scale, as
PEtab intends: log-scaled parameters are sampled uniformly in log), via cellode's
`latin_hypercube`. Each start is a bounded quasi-Newton fit (L-BFGS-B) of the objective
-log L - log p with the exact gradient of `PetabProblem.objective_and_gradient`; all starts share
one compiled objective, so compile time is paid once.

Random parameters of a delicate model can make the solve fail. Two safeguards, as pyPESTO has:
a start whose objective is not finite is replaced by a uniform draw in the bounds (up to
`resample` times), and a fit whose line search ended on a failed solve is restarted from its
last accepted point with a fresh Hessian approximation (up to `restarts` times, while it improves).
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
    resampled: int = 0
    restarts: int = 0


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
    resample: int = 20,
    restarts: int = 3,
) -> PetabMultistart:
    """Minimise -log L - log p from `n_starts` Latin-hypercube starts within the bounds.

    A start where the objective is not finite is replaced by a uniform draw in the bounds (at most
    `resample` draws); a fit that stops in a line search is restarted from its last point (at most
    `restarts` times, while the objective keeps falling).
    """
    lower, upper = problem.bounds
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    starts = np.asarray(latin_hypercube(jr.key(seed), n_starts, lower, upper))
    if include_nominal:
        starts = np.vstack([np.asarray(problem.nominal_theta)[None], starts])
    rng = np.random.default_rng(seed)
    started = time.perf_counter()

    def evaluate(theta: np.ndarray) -> tuple[float, np.ndarray, bool]:
        value, grad = problem.objective_and_gradient(theta)
        value, grad = float(value), np.asarray(grad, dtype=float)
        return value, grad, math.isfinite(value) and bool(np.all(np.isfinite(grad)))

    last = [0.0]  # the latest finite objective value
    failed: set[bytes] = set()  # points where the solve failed

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad, ok = evaluate(theta)
        if not ok:
            failed.add(np.asarray(theta, dtype=float).tobytes())
            # A failed solve must look only moderately worse than where the optimiser stands: a
            # huge value (1e20, inf) passes L-BFGS-B's relative-reduction test and ends the fit
            # at its start with status "converged".
            return last[0] + 10.0 * (1.0 + abs(last[0])), np.zeros_like(theta)
        last[0] = value
        return value, grad

    def feasible(start: np.ndarray) -> tuple[np.ndarray, int, float]:
        """The start, or the first uniform redraw where the objective is finite."""
        for draw in range(resample + 1):
            value, _, ok = evaluate(start)
            if ok:
                return start, draw, value
            start = rng.uniform(lower, upper)
        return start, resample, math.inf

    def local_fit(start: np.ndarray):
        return minimize(
            fun,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lower, upper, strict=True)),
            options={"maxiter": max_iterations, "ftol": tol, "gtol": 1e-8, "maxcor": 20},
        )

    fits = []
    for start in starts:
        t0 = time.perf_counter()
        start, resampled, last[0] = feasible(np.asarray(start, dtype=float))
        if not math.isfinite(last[0]):
            fits.append(
                PetabFit(
                    start=np.asarray(start),
                    theta=np.asarray(start),
                    value=math.inf,
                    iterations=0,
                    evaluations=resample + 1,
                    message=f"the solve failed at the start and at {resample} redraws",
                    seconds=time.perf_counter() - t0,
                    resampled=resample,
                )
            )
            continue
        result = local_fit(start)
        iterations, evaluations, restarted = int(result.nit), int(result.nfev), 0
        while (
            restarted < restarts
            and result.status == 2  # L-BFGS-B's abnormal end: its line search failed
            and iterations < max_iterations
        ):
            again = local_fit(result.x)
            iterations += int(again.nit)
            evaluations += int(again.nfev)
            restarted += 1
            if not again.fun < result.fun - tol * max(1.0, abs(result.fun)):
                result = again if again.fun <= result.fun else result
                break
            result = again
        ended_on_failure = np.asarray(result.x, dtype=float).tobytes() in failed
        value = math.inf if ended_on_failure or not math.isfinite(result.fun) else float(result.fun)
        fits.append(
            PetabFit(
                start=np.asarray(start),
                theta=np.asarray(result.x),
                value=value,
                iterations=iterations,
                evaluations=evaluations,
                message=str(result.message),
                seconds=time.perf_counter() - t0,
                resampled=resampled,
                restarts=restarted,
            )
        )
    fits.sort(key=lambda f: f.value if math.isfinite(f.value) else math.inf)
    return PetabMultistart(fits, problem.parameter_ids, time.perf_counter() - started)
