"""Multistart fitting: Latin-hypercube starts, run serially, in local processes, or on Ray.

Each start is a whole fit (`fit_least_squares` or `fit`) from a different initial parameter
vector; results are returned per start, best first, with a waterfall plot of the final losses.
The sampled vector is the flat vector of all fitted arrays (`jax.flatten_util.ravel_pytree` of
the trainable part of the estimate), between `lower` and `upper` (scalars or one value per entry).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import ArrayLike, Float, PRNGKeyArray
from matplotlib.figure import Figure

from .._errors import InputError
from .optimise import FitResult, fit, fit_least_squares
from .problem import Estimate, Problem, trainable

EXECUTORS = ("serial", "processes", "ray")


def latin_hypercube(
    key: PRNGKeyArray, n: int, lower: Float[ArrayLike, " d"], upper: Float[ArrayLike, " d"]
) -> Float[np.ndarray, "n d"]:
    """n points in the box [lower, upper]: each coordinate's range is cut into n equal strata and
    every stratum holds exactly one point (a random permutation per coordinate)."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    d = lower.shape[0]
    k_perm, k_u = jr.split(key)
    perms = np.asarray(jax.vmap(lambda k: jr.permutation(k, n))(jr.split(k_perm, d))).T
    u = np.asarray(
        jr.uniform(k_u, (n, d), dtype=jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    )
    return lower + (perms + u) / n * (upper - lower)


def sample_starts(
    estimate: Estimate,
    n: int,
    lower: float | Float[ArrayLike, " d"],
    upper: float | Float[ArrayLike, " d"],
    *,
    key: PRNGKeyArray,
) -> list[Estimate]:
    """n estimates whose fitted arrays are Latin-hypercube samples between lower and upper."""
    params, static = eqx.partition(estimate, trainable(estimate))
    flat, unravel = ravel_pytree(params)
    d = flat.shape[0]
    lower = np.broadcast_to(np.asarray(lower, dtype=float), (d,))
    upper = np.broadcast_to(np.asarray(upper, dtype=float), (d,))
    if np.any(lower >= upper):
        raise InputError("Every lower bound must be below its upper bound.")
    points = latin_hypercube(key, n, lower, upper)
    return [eqx.combine(unravel(jnp.asarray(p, dtype=flat.dtype)), static) for p in points]


@dataclass
class MultistartResult:
    """Fits from every start, best (lowest loss) first."""

    results: list[FitResult]
    seconds: float
    executor: str
    workers: int

    @property
    def best(self) -> FitResult:
        return self.results[0]

    @property
    def losses(self) -> np.ndarray:
        return np.array([r.loss for r in self.results])

    def waterfall(self, title: str = "") -> Figure:
        """Final losses of all starts, sorted: plateaus are local optima found repeatedly."""
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        losses = self.losses
        finite = np.isfinite(losses)
        offset = losses[finite] - losses[finite].min() + 1.0 if finite.any() else losses
        ax.plot(np.flatnonzero(finite) + 1, offset, "o-")
        ax.set_yscale("log")
        ax.set_xlabel("start (sorted by final loss)")
        ax.set_ylabel("loss - best loss + 1")
        ax.set_title(title or f"Waterfall: {len(losses)} starts, best loss {losses.min():.6g}")
        fig.tight_layout()
        return fig


def _run_start(
    problem: Problem, start: Estimate, method: str, options: dict[str, Any], x64: bool
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """One fit; runs in the calling process, a worker process or a Ray task."""
    jax.config.update("jax_enable_x64", x64)
    if method == "least_squares":
        result = fit_least_squares(problem, start, **options)
    else:
        result = fit(problem, start, progress=False, **options)
    leaves = [
        np.asarray(leaf)
        for leaf in jax.tree_util.tree_leaves(eqx.filter(result.estimate, eqx.is_array))
    ]
    meta = {
        k: getattr(result, k)
        for k in ("loss", "history", "steps", "stopped", "seconds", "method", "solver", "info")
    }
    return leaves, meta


_WORKER_SETTINGS = (
    "jax_enable_x64",
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
)


def jax_settings() -> dict[str, Any]:
    """This process's precision and persistent compilation cache, for worker processes: with the
    same cache, a worker loads what this process compiled instead of compiling it again."""
    return {name: getattr(jax.config, name) for name in _WORKER_SETTINGS}


def apply_jax_settings(settings: dict[str, Any]) -> None:
    """Take the settings of `jax_settings()` (in a worker, before any array is unpickled)."""
    for name, value in settings.items():
        if value is not None:
            jax.config.update(name, value)


def _settings_env(settings: dict[str, Any]) -> dict[str, str]:
    """The same settings as environment variables (read when JAX starts, e.g. in Ray tasks),
    with equinox's error mode, which decides whether compiled functions can be cached."""
    env = {name.upper(): str(value) for name, value in settings.items() if value is not None}
    if "EQX_ON_ERROR" in os.environ:
        env["EQX_ON_ERROR"] = os.environ["EQX_ON_ERROR"]
    return env


def _init_worker(settings: dict[str, Any]) -> None:
    """Set the precision and compilation cache before any task's arrays are unpickled."""
    apply_jax_settings(settings)


def _rebuild(like: Estimate, leaves: list[np.ndarray], meta: dict[str, Any]) -> FitResult:
    arrays, static = eqx.partition(like, eqx.is_array)
    treedef = jax.tree_util.tree_structure(arrays)
    estimate = eqx.combine(
        jax.tree_util.tree_unflatten(treedef, [jnp.asarray(v) for v in leaves]), static
    )
    return FitResult(estimate=estimate, **meta)


def multistart(
    problem: Problem,
    estimate: Estimate,
    *,
    n_starts: int = 10,
    lower: float | Float[ArrayLike, " d"],
    upper: float | Float[ArrayLike, " d"],
    key: PRNGKeyArray,
    method: str = "least_squares",
    executor: str = "processes",
    workers: int | None = None,
    options: dict[str, Any] | None = None,
) -> MultistartResult:
    """Fit from `n_starts` Latin-hypercube starts and return every result, best first.

    `method` is "least_squares" (Levenberg–Marquardt) or "adam" (`fit`); `options` go to that
    function. `executor`: "serial" (this process), "processes" (local worker processes, the
    default; each compiles once) or "ray" (a running Ray cluster, or a local one started with
    `workers` CPUs; needs the `ray` extra). Models must be picklable to leave this process:
    define vector-field functions at module level, not as lambdas.
    """
    if executor not in EXECUTORS:
        raise InputError(f"executor must be one of {EXECUTORS}; got {executor!r}.")
    if method not in ("least_squares", "adam"):
        raise InputError(f"method must be 'least_squares' or 'adam'; got {method!r}.")
    starts = sample_starts(estimate, n_starts, lower, upper, key=key)
    workers = max(1, min(workers or os.cpu_count() or 1, n_starts))
    options = dict(options or {})
    x64 = bool(jax.config.jax_enable_x64)
    started = time.perf_counter()
    if executor == "serial":
        outputs = [_run_start(problem, s, method, options, x64) for s in starts]
    elif executor == "processes":
        _check_picklable(problem, estimate)
        context = multiprocessing.get_context("spawn")  # never fork a process that runs XLA
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(jax_settings(),),
        )
        with pool:
            futures = [pool.submit(_run_start, problem, s, method, options, x64) for s in starts]
            outputs = [f.result() for f in futures]
    else:
        outputs = _run_on_ray(problem, starts, method, options, x64, workers)
    results = [_rebuild(estimate, leaves, meta) for leaves, meta in outputs]
    results.sort(key=lambda r: r.loss if math.isfinite(r.loss) else math.inf)
    return MultistartResult(results, time.perf_counter() - started, executor, workers)


def _run_on_ray(problem, starts, method, options, x64, workers):
    try:
        import ray
    except ImportError:
        raise InputError(
            "executor='ray' needs Ray: pip install 'cellode[ray]' (or use executor='processes')."
        ) from None
    if not ray.is_initialized():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    # Arrays are unpickled before the task runs: the precision (and the compilation cache) must
    # be set when JAX starts.
    env = {**_settings_env(jax_settings()), "JAX_ENABLE_X64": "1" if x64 else "0"}
    task = ray.remote(_run_start).options(runtime_env={"env_vars": env})
    problem_ref = ray.put(problem)
    return ray.get([task.remote(problem_ref, s, method, options, x64) for s in starts])


def _check_picklable(problem: Problem, estimate: Estimate) -> None:
    import pickle  # only to test that the objects can be sent to workers; nothing is saved

    try:
        pickle.dumps((problem, estimate))
    except Exception as error:
        raise InputError(
            "The problem or model cannot be sent to worker processes (it is not picklable: "
            f"{error}). Define vector-field functions at module level instead of lambdas, or use "
            "executor='serial'."
        ) from None
