"""Fitting: gradient descent with optax (neural and hybrid models) and Levenberg–Marquardt
(mechanistic models), with progress, early stopping, checkpoints and exact resume."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import optimistix as optx
from jaxtyping import Array, PRNGKeyArray, PyTree
from tqdm.auto import tqdm

from .._errors import InputError
from .checkpoint import load_checkpoint, save_checkpoint
from .problem import Estimate, Problem, trainable
from .shooting import AbstractObjective, AbstractShooting, SingleShooting, Windows, window_terms


@dataclass
class FitResult:
    """The outcome of a fit: the fitted estimate, the loss history and why it stopped."""

    estimate: Estimate
    loss: float
    history: list[float]
    steps: int
    stopped: str
    seconds: float
    method: str
    solver: str
    info: dict[str, Any] = field(default_factory=dict)

    def save(self, folder: str | Path) -> Path:
        """Write `estimate.eqx` (equinox serialisation) and `result.json` (everything else)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        eqx.tree_serialise_leaves(folder / "estimate.eqx", self.estimate)
        meta = {k: v for k, v in dataclasses.asdict(self).items() if k != "estimate"}
        (folder / "result.json").write_text(json.dumps(meta, indent=1))
        return folder


def load_result(folder: str | Path, like: Estimate) -> FitResult:
    """Read a saved `FitResult`; `like` is an estimate of the same structure (e.g. the initial one)."""
    folder = Path(folder)
    for name in ("estimate.eqx", "result.json"):
        if not (folder / name).is_file():
            raise InputError(f"{folder} has no {name}: is it a folder written by FitResult.save?")
    meta = json.loads((folder / "result.json").read_text())
    estimate = eqx.tree_deserialise_leaves(folder / "estimate.eqx", like)
    return FitResult(estimate=estimate, **meta)


@functools.lru_cache(maxsize=32)
def default_optimizer(
    learning_rate: float | optax.Schedule, clip: float = 10.0
) -> optax.GradientTransformation:
    """Adam with global-norm gradient clipping; steps with a non-finite loss are skipped.

    Cached: the same settings give the same optimiser object, so compiled steps are reused.
    """
    return optax.apply_if_finite(
        optax.chain(optax.clip_by_global_norm(clip), optax.adam(learning_rate)),
        max_consecutive_errors=20,
    )


def fit(
    problem: Problem,
    estimate: Estimate,
    *,
    steps: int = 1000,
    learning_rate: float | optax.Schedule = 1e-2,
    optimizer: optax.GradientTransformation | None = None,
    batch_size: int | None = None,
    shooting: AbstractShooting | None = None,
    key: PRNGKeyArray | None = None,
    project: Callable[[Estimate], Estimate] | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 100,
    resume: str | Path | None = None,
    progress: bool = True,
    log_every: int = 1,
    callback: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Minimise the problem's nllh by gradient steps (optax; default Adam with clipping).

    `batch_size` draws that many experiments per step from each group (a minibatch, rescaled to
    an unbiased estimate of the full loss). `shooting=MultipleShooting(windows=W)` fits long
    series window by window (then `batch_size` counts windows, and the start state of every
    window is fitted too; see `MultipleShooting`); the returned `loss` is then the problem's
    single-shooting nllh of the fitted estimate. `project` maps an estimate back into its bounds
    after every step. `patience` stops when the loss has not improved by `min_delta` for that many
    steps. With `checkpoint_dir` the state is written atomically every `checkpoint_every` steps;
    `resume=<that folder>` continues from its newest checkpoint and gives bit-for-bit the same
    result as an uninterrupted run. `callback(step, loss)` is called after every step.
    """
    method = "adam" if optimizer is None else "optax"
    optimizer = optimizer or default_optimizer(learning_rate)
    key = jr.key(0) if key is None else key
    shooting = SingleShooting() if shooting is None else shooting
    if not isinstance(shooting, AbstractShooting):
        raise InputError(
            f"`shooting` must be SingleShooting() or MultipleShooting(windows=...); got "
            f"{type(shooting).__name__}."
        )
    target, states = shooting.objective(problem, estimate)
    fitted_part, static = eqx.partition(estimate, trainable(estimate))
    params = (fitted_part, states)
    opt_state = optimizer.init(params)

    history: list[float] = []
    start_step, best, since_best = 0, math.inf, 0
    if resume is not None:
        loaded = load_checkpoint(resume, (params, opt_state, jr.key_data(key)))
        if loaded is not None:
            (params, opt_state, key_data), meta = loaded
            key = jr.wrap_key_data(key_data)
            start_step, history = meta["step"], list(meta["history"])
            best, since_best = meta["best"], meta["since_best"]
    # Strongly typed leaves from here on. An estimate built from Python floats holds weakly typed
    # arrays (`jnp.array(0.0)`), a checkpoint read back holds strongly typed ones; the two trace
    # and compile the step differently, and the executables may round differently (FMA fusion),
    # which had a resumed fit drift from the uninterrupted one in the 7th digit.
    params, opt_state = _strongly_typed((params, opt_state))
    started = time.perf_counter()
    stopped = "max steps"
    bar = tqdm(total=steps, initial=start_step, disable=not progress, desc="fit", unit="step")
    step = start_step
    for step in range(start_step, steps):
        params, opt_state, loss = _train_step(
            params, opt_state, key, np.int64(step), static, target, optimizer, batch_size, project
        )
        loss = float(loss)
        history.append(loss)
        if loss < best - min_delta:
            best, since_best = loss, 0
        else:
            since_best += 1
        if progress and (step % log_every == 0 or step == steps - 1):
            bar.set_postfix(loss=f"{loss:.5g}", best=f"{best:.5g}")
        bar.update(1)
        if callback is not None:
            callback(step, loss)
        done = step + 1
        if checkpoint_dir is not None and (done % checkpoint_every == 0 or done == steps):
            meta = {"history": history, "best": best, "since_best": since_best}
            save_checkpoint(checkpoint_dir, done, (params, opt_state, jr.key_data(key)), meta)
        if patience is not None and since_best >= patience:
            stopped = f"no improvement by {min_delta:g} in {patience} steps"
            break
    bar.close()
    fitted = eqx.combine(params[0], static)
    info = {"solver_choice": problem.solver_reason, "sensitivity": problem.sensitivity_reason}
    if isinstance(target, Windows):
        gaps = [np.abs(np.asarray(g)) for _, _, g in window_terms(target, fitted, params[1])]
        info["shooting"] = f"multiple shooting, {shooting.windows} windows per experiment"
        info["max_continuity_gap"] = float(max(np.max(g) for g in gaps))
    if batch_size is not None or isinstance(target, Windows):
        final = float(objective(problem.for_values(), fitted))
    else:
        final = history[-1] if history else math.nan
    return FitResult(
        estimate=fitted, loss=final, history=history, steps=len(history), stopped=stopped,
        seconds=time.perf_counter() - started, method=method, solver=problem.solver, info=info,
    )  # fmt: skip


def _strongly_typed(tree: PyTree) -> PyTree:
    return jax.tree_util.tree_map(
        lambda leaf: jnp.asarray(leaf, dtype=leaf.dtype) if eqx.is_array(leaf) else leaf, tree
    )


@eqx.filter_jit
def objective(problem: Problem, estimate: Estimate) -> Array:
    """The problem's nllh, compiled once per problem and estimate structure."""
    return problem.nllh(estimate)


@eqx.filter_jit
def _train_step(
    params: PyTree,
    opt_state: PyTree,
    key: PRNGKeyArray,
    step: Array,
    static: PyTree,
    target: AbstractObjective,
    optimizer: optax.GradientTransformation,
    batch_size: int | None,
    project: Callable[[Estimate], Estimate] | None,
) -> tuple[PyTree, PyTree, Array]:
    """One optimiser step on params = (fitted arrays of the estimate, auxiliary states).
    Module-level, so repeated fits (multistart, resume) reuse the compiled step for the same
    problem structure and optimiser. The step's key is derived here, not on the host."""
    batch_key = jr.fold_in(key, step)

    def loss_fn(p):
        return target.loss(eqx.combine(p[0], static), p[1], batch_key, batch_size)

    loss, grads = eqx.filter_value_and_grad(loss_fn)(params)
    # optax mixes Python scalars and integer step counts; let it promote as it expects even
    # when the caller runs JAX with strict dtype promotion.
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = optimizer.update(grads, opt_state, params)
    params = eqx.apply_updates(params, updates)
    if project is not None:
        fitted, states = params
        estimate = project(eqx.combine(fitted, static))
        spec = jax.tree_util.tree_map(eqx.is_inexact_array, fitted)
        params = (eqx.partition(estimate, spec)[0], states)
    return params, opt_state, loss


def fit_least_squares(
    problem: Problem,
    estimate: Estimate,
    *,
    max_steps: int = 200,
    rtol: float = 1e-8,
    atol: float = 1e-8,
) -> FitResult:
    """Levenberg–Marquardt on the weighted residuals (Gaussian or log-normal noise with fixed
    sigma): the standard method for mechanistic models. Fits the model and observable
    parameters; noise levels stay fixed."""
    spec = trainable(estimate)
    spec = eqx.tree_at(lambda e: e.noise, spec, jax.tree_util.tree_map(lambda _: False, spec.noise))
    params, static = eqx.partition(estimate, spec)
    started = time.perf_counter()

    solution = _levenberg_marquardt(params, static, problem, rtol, atol, max_steps)
    fitted = eqx.combine(solution.value, static)
    loss = float(objective(problem.for_values(), fitted))
    ok = bool(solution.result == optx.RESULTS.successful)
    return FitResult(
        estimate=fitted, loss=loss, history=[loss], steps=int(solution.stats["num_steps"]),
        stopped="converged" if ok else str(optx.RESULTS[solution.result]),
        seconds=time.perf_counter() - started, method="levenberg-marquardt",
        solver=problem.solver, info={"solver_choice": problem.solver_reason, "sensitivity": problem.sensitivity_reason},
    )  # fmt: skip


@eqx.filter_jit
def _levenberg_marquardt(params, static, problem, rtol, atol, max_steps):
    def residuals(p, _):
        return problem.residuals(eqx.combine(p, static))

    solver = optx.LevenbergMarquardt(rtol=rtol, atol=atol)
    return optx.least_squares(
        residuals, solver, params, options={"jac": "bwd"}, max_steps=max_steps, throw=False
    )
