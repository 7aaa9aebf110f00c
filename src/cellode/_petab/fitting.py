"""Multistart maximum-likelihood fitting of a PEtab problem.

Starts are Latin-hypercube samples of the box of parameter bounds (on the parameter scale, as
PEtab intends: log-scaled parameters are sampled uniformly in log), via cellode's
`latin_hypercube`. All starts share one compiled objective, so compile time is paid once.

Local methods:

* `"lbfgsb"`: bounded quasi-Newton (L-BFGS-B) with the exact gradient of
  `PetabProblem.objective_and_gradient`; for every objective (Laplace noise, any prior). A fit
  whose line search ended on a failed solve is restarted from its last accepted point with a
  fresh Hessian approximation (up to `restarts` times, while it improves).
* `"trust-region"`, where the objective is a sum of squares (normal noise, normal or uniform
  priors): a bounded trust-region reflective least-squares fit (SciPy's `trf`) of
  1/2 |r(theta)|^2 = -log L - log p + const with the exact residual Jacobian
  (`PetabProblem.residuals_and_jacobian`, estimated noise included), i.e. the Gauss–Newton
  model J^T J. A trial point where a solve fails has infinite residuals; the trust region
  shrinks. On Boehm and Crauste it did not beat L-BFGS-B (docs/benchmarks.md): SciPy's TRF
  creeps along the bounds (most fits end at the evaluation limit), so it is not the default.
* `"fides"` (the default): the interior trust-region reflective method of Fides (Fröhlich &
  Sorger 2022; the optimiser PEtab benchmark studies run through pyPESTO) with a BFGS Hessian
  approximation and the exact gradient; for every objective. A trial point where a solve fails has an infinite objective, so the trust
  region shrinks instead of the fit ending. As in Fides' own benchmark, a fit stops only when
  its step falls below 1e-6 (in Fides' scaled coordinates) or at `max_iterations`: no test on
  the objective or gradient, which on Crauste ended fits that creep along a flat valley. On
  Boehm and Crauste it reached the best known optimum from more starts than L-BFGS-B
  (docs/benchmarks.md), hence the default.
* `"fides-hybrid"`, where the objective is a sum of squares: Fides with the Gauss–Newton Hessian
  J^T J of the residual Jacobian for the first iterations, then BFGS (Fides' `HybridFixed`).
* `"auto"`: trust-region where the objective is a sum of squares, else L-BFGS-B.

A start whose objective is not finite (the solve fails at random parameters of a delicate model)
is replaced by a uniform draw in the bounds (up to `resample` times), as pyPESTO does.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import jax.random as jr
import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import least_squares, minimize

from .._fitting.multistart import apply_jax_settings, jax_settings, latin_hypercube
from .errors import PetabError
from .problem import PetabProblem


@dataclass
class PetabFit:
    """One local fit: the start, the optimum theta, its objective value and the optimiser's word.

    `index` is the start's place in the Latin-hypercube sample (0 is the nominal point with
    `include_nominal`)."""

    start: np.ndarray
    theta: np.ndarray
    value: float
    iterations: int
    evaluations: int
    message: str
    seconds: float
    resampled: int = 0
    restarts: int = 0
    method: str = "lbfgsb"
    index: int = 0


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


METHODS = ("auto", "trust-region", "lbfgsb", "fides", "fides-hybrid")
EXECUTORS = ("serial", "processes")


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
    method: str = "fides",
    executor: str = "serial",
    workers: int | None = None,
    progress: Callable[[int, PetabFit], None] | None = None,
) -> PetabMultistart:
    """Minimise -log L - log p from `n_starts` Latin-hypercube starts within the bounds.

    `method` is `"lbfgsb"`, `"trust-region"` (least squares with the residual Jacobian),
    `"fides"` (Fides' trust region with BFGS), `"fides-hybrid"` (Fides with Gauss–Newton, then
    BFGS) or `"auto"` (trust-region where the objective is a sum of squares, else L-BFGS-B; see
    the module docstring). `max_iterations` bounds the iterations (L-BFGS-B, Fides) or the
    residual evaluations (trust-region) of each start; `tol` is the relative objective (and
    step) tolerance of L-BFGS-B and trust-region (Fides stops on the step length). A start
    where the objective is not finite is replaced by a uniform draw in the bounds (at most
    `resample` draws, from a generator seeded by (seed, start index)); an L-BFGS-B fit that
    stops in a line search is restarted from its last point (at most `restarts` times).
    `executor`: `"serial"` (this process) or `"processes"` (`workers` local processes, default
    one per core; each receives the problem once and compiles it once). The fits do not depend
    on the executor. `progress(i, fit)` is called when start i ends.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}.")
    if executor not in EXECUTORS:
        raise PetabError(f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}.")
    reason = problem.least_squares_form
    if method == "auto":
        method = "trust-region" if reason is None else "lbfgsb"
    if method in ("trust-region", "fides-hybrid") and reason is not None:
        raise PetabError(
            f"method {method!r} fits least squares, but this objective has no least-squares "
            f"form: {reason}; use 'lbfgsb' or 'fides'."
        )
    lower, upper = _box(problem)
    starts = np.asarray(latin_hypercube(jr.key(seed), n_starts, lower, upper))
    if include_nominal:
        starts = np.vstack([np.asarray(problem.nominal_theta)[None], starts])
    options = _StartOptions(method, seed, max_iterations, tol, resample, restarts)
    started = time.perf_counter()
    fits: list[PetabFit] = []
    if executor == "serial":
        for i, start in enumerate(starts):
            fits.append(_fit_start(problem, i, start, options))
            if progress is not None:
                progress(i, fits[-1])
    else:
        workers = max(1, min(workers or os.cpu_count() or 1, len(starts)))
        context = multiprocessing.get_context("spawn")  # never fork a process that runs XLA
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(pickle.dumps(problem), jax_settings()),
        )
        with pool:
            futures = {
                pool.submit(_fit_in_worker, i, start, options): i for i, start in enumerate(starts)
            }
            for future in as_completed(futures):
                fits.append(future.result())
                if progress is not None:
                    progress(futures[future], fits[-1])
    fits.sort(key=lambda f: f.value if math.isfinite(f.value) else math.inf)
    return PetabMultistart(fits, problem.parameter_ids, time.perf_counter() - started)


@dataclass(frozen=True)
class _StartOptions:
    """What every start of one multistart shares (sent to worker processes)."""

    method: str
    seed: int
    max_iterations: int
    tol: float
    resample: int
    restarts: int


def _fit_start(
    problem: PetabProblem, index: int, start: np.ndarray, options: _StartOptions
) -> PetabFit:
    """Start `index` of a multistart: its first feasible point (the start or a uniform redraw
    where the objective is finite), then the local fit from there."""
    t0 = time.perf_counter()
    lower, upper = _box(problem)
    rng = np.random.default_rng((options.seed, index))
    start = np.asarray(start, dtype=float)
    value, resampled = float(problem.objective(start)), 0
    while not math.isfinite(value) and resampled < options.resample:
        start = rng.uniform(lower, upper)
        value, resampled = float(problem.objective(start)), resampled + 1
    if not math.isfinite(value):
        fit = PetabFit(
            start=start,
            theta=start,
            value=math.inf,
            iterations=0,
            evaluations=options.resample + 1,
            message=f"the solve failed at the start and at {options.resample} redraws",
            seconds=0.0,
        )
    else:
        local = {
            "trust-region": _trust_region,
            "lbfgsb": _lbfgsb,
            "fides": _fides,
            "fides-hybrid": functools.partial(_fides, hybrid=True),
        }[options.method]
        fit = local(problem, start, value, options)
    fit.method, fit.resampled, fit.index = options.method, resampled, index
    fit.seconds = time.perf_counter() - t0
    return fit


_WORKER: dict[str, PetabProblem] = {}  # the problem of this worker process


def _init_worker(problem: bytes, settings: dict[str, object]) -> None:
    """Take the parent's JAX settings (the precision before the problem's arrays are unpickled;
    its compilation cache, so workers reuse what it compiled) and keep the problem, so the
    worker compiles its objective at most once for all the starts it runs."""
    apply_jax_settings(settings)
    _WORKER["problem"] = pickle.loads(problem)


def _fit_in_worker(index: int, start: np.ndarray, options: _StartOptions) -> PetabFit:
    return _fit_start(_WORKER["problem"], index, start, options)


def _box(problem: PetabProblem) -> tuple[np.ndarray, np.ndarray]:
    """The bounds of theta (parameter scale) as float arrays."""
    lower, upper = problem.bounds
    return np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)


def _inside(start: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """`start` moved strictly inside the box (by 1e-10 of its width where it is on a bound):
    interior trust-region methods (TRF, Fides) need a strictly feasible start."""
    margin = 1e-10 * (upper - lower)
    return np.clip(start, lower + margin, upper - margin)


def _trust_region(
    problem: PetabProblem, start: np.ndarray, value: float, options: _StartOptions
) -> PetabFit:
    """One trust-region reflective least-squares fit from `start`."""
    del value
    lower, upper = _box(problem)
    tol = options.tol

    def residuals(theta: np.ndarray) -> np.ndarray:
        r = np.asarray(problem.residuals(theta), dtype=float)
        # a failed solve: every residual infinite, so SciPy rejects the step and shrinks
        return r if np.all(np.isfinite(r)) else np.full_like(r, np.inf)

    def jacobian(theta: np.ndarray) -> np.ndarray:
        _, jac = problem.residuals_and_jacobian(theta)
        jac = np.asarray(jac, dtype=float)
        # rows of a (rare) non-finite derivative carry no curvature information
        return np.where(np.isfinite(jac), jac, 0.0)

    theta0 = _inside(start, lower, upper)
    result = least_squares(
        residuals,
        theta0,
        jac=jacobian,
        bounds=(lower, upper),
        method="trf",
        x_scale="jac",
        ftol=tol,
        xtol=tol,
        gtol=tol,
        max_nfev=options.max_iterations,
    )
    final = float(problem.objective(result.x))
    return PetabFit(
        start=np.asarray(start),
        theta=np.asarray(result.x),
        value=final if math.isfinite(final) else math.inf,
        iterations=int(result.njev),
        evaluations=int(result.nfev),
        message=str(result.message),
        seconds=0.0,
        method="trust-region",
    )


def _lbfgsb(
    problem: PetabProblem, start: np.ndarray, value: float, options: _StartOptions
) -> PetabFit:
    """One L-BFGS-B fit from `start` (objective `value` there), restarted after a failed
    line search."""
    lower, upper = _box(problem)
    max_iterations, tol = options.max_iterations, options.tol
    last = [value]  # the latest finite objective value
    failed: set[bytes] = set()  # points where the solve failed

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = problem.objective_and_gradient(theta)
        value, grad = float(value), np.asarray(grad, dtype=float)
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            failed.add(np.asarray(theta, dtype=float).tobytes())
            # A failed solve must look only moderately worse than where the optimiser stands: a
            # huge value (1e20, inf) passes L-BFGS-B's relative-reduction test and ends the fit
            # at its start with status "converged".
            return last[0] + 10.0 * (1.0 + abs(last[0])), np.zeros_like(theta)
        last[0] = value
        return value, grad

    def local_fit(theta0: np.ndarray):
        return minimize(
            fun,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lower, upper, strict=True)),
            options={"maxiter": max_iterations, "ftol": tol, "gtol": 1e-8, "maxcor": 20},
        )

    result = local_fit(start)
    iterations, evaluations, restarted = int(result.nit), int(result.nfev), 0
    while (
        restarted < options.restarts
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
    return PetabFit(
        start=np.asarray(start),
        theta=np.asarray(result.x),
        value=value,
        iterations=iterations,
        evaluations=evaluations,
        message=str(result.message),
        seconds=0.0,
        restarts=restarted,
        method="lbfgsb",
    )


def _fides(
    problem: PetabProblem,
    start: np.ndarray,
    value: float,
    options: _StartOptions,
    hybrid: bool = False,
) -> PetabFit:
    """One Fides fit from `start`: BFGS, or (`hybrid`) Gauss–Newton switching to BFGS."""
    import fides

    lower, upper = _box(problem)
    counts = [0]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        counts[0] += 1
        value, grad = problem.objective_and_gradient(theta)
        value, grad = float(value), np.asarray(grad, dtype=float)
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            return math.inf, np.full_like(theta, math.nan)  # Fides shrinks the trust region
        return value, grad

    def gauss_newton(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        counts[0] += 1
        r, jac = problem.residuals_and_jacobian(theta)
        r, jac = np.asarray(r, dtype=float), np.asarray(jac, dtype=float)
        if not np.all(np.isfinite(r)):
            nan = np.full_like(theta, math.nan)
            return math.inf, nan, np.outer(nan, nan)
        jac = np.where(np.isfinite(jac), jac, 0.0)
        # 1/2 |r|^2 differs from -log L - log p by a constant; report the objective itself
        return 0.5 * float(r @ r) + offset, jac.T @ r, jac.T @ jac

    if hybrid:
        r0 = np.asarray(problem.residuals(start), dtype=float)
        offset = value - 0.5 * float(r0 @ r0)
        fun, update = gauss_newton, fides.HybridFixed(happ=fides.BFGS(), switch_iteration=20)
    else:
        fun, update = objective, fides.BFGS()
    theta0 = _inside(start, lower, upper)
    optimizer = fides.Optimizer(
        fun,
        ub=upper,
        lb=lower,
        verbose=logging.ERROR,
        hessian_update=update,
        options={
            fides.Options.MAXITER: options.max_iterations,
            # as in Fides' own benchmark: stop on the step length only. On Crauste, a relative
            # objective test (even 1e-10) ends fits that creep along a flat valley towards the
            # optimum (docs/benchmarks.md).
            fides.Options.FATOL: 0.0,
            fides.Options.FRTOL: 0.0,
            fides.Options.GATOL: 0.0,
            fides.Options.XTOL: 1e-6,
        },
    )
    # the objective at the returned theta (Fides accepts only finite values)
    final, theta, _, _ = optimizer.minimize(theta0)
    return PetabFit(
        start=np.asarray(start),
        theta=np.asarray(theta),
        value=float(final),
        iterations=int(optimizer.iteration),
        evaluations=counts[0],
        message=optimizer.exitflag.name,
        seconds=0.0,
        method="fides-hybrid" if hybrid else "fides",
    )
