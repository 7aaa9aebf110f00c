"""`simulate`: one entry point for ODE, SDE and discrete-time models (SPEC A1–A3, D1–D3)."""

from __future__ import annotations

import dataclasses
import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._errors import InputError, ModelError, PrecisionError
from .._inputs import AbstractInput
from .._models.discrete_map import AbstractDiscreteMap
from .._models.sde import SDE
from .._models.vector_field import AbstractVectorField
from .._sensitivity.base import AbstractSensitivity, DiscreteAdjoint
from .._solvers.auto import choose_solver
from .._solvers.bdf import BDF
from .._solvers.registry import NONSTIFF_DEFAULT, solver_info
from .._solvers.rosenbrock import AbstractRosenbrock
from .discrete import simulate_map
from .failure import explain_failure
from .ode import simulate_ode, step_size_controller
from .problem import ODEProblem
from .sde import simulate_sde
from .trajectory import RESULTS, Trajectory, is_concrete

Model = AbstractVectorField | SDE | AbstractDiscreteMap

# Tolerances below this need float64 arithmetic to mean anything.
FLOAT32_RTOL_LIMIT = 1e-7


def simulate(
    model: Model,
    x0: Float[ArrayLike, " n"],
    ts: Float[ArrayLike, " T"],
    *,
    inputs: AbstractInput | None = None,
    t0: float | None = None,
    solver: str | diffrax.AbstractSolver = "auto",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    dt0: float | None = None,
    max_steps: int = 100_000,
    sensitivity: AbstractSensitivity | None = None,
    key: PRNGKeyArray | None = None,
    throw: bool = True,
) -> Trajectory:
    """Simulate `model` from x(t0) = x0 and return the states at the times `ts`.

    The model decides the method:
    - `AbstractVectorField` (ODE dx/dt = f(t, x, u)): adaptive solver to `rtol`/`atol`.
      `solver` is a name (`"tsit5"`, `"kvaerno5"`, ...; see `cellode.SOLVERS`), a diffrax solver,
      or `"auto"`, which looks at the Jacobian spectrum at x0 and picks an explicit or an
      implicit method (`trajectory.stats.choice` says why). `dt0` is the first step (default:
      chosen automatically). `sensitivity` says how `jax.grad` flows through the solve (default
      `DiscreteAdjoint()`, backpropagation through the solver steps; also
      `ForwardSensitivity()`, `CheckpointedAdjoint(checkpoints=K)`, `BacksolveAdjoint()`,
      see docs/gradients.md).
    - `SDE` (dx = f dt + G dW, Itô): Euler–Maruyama on a fixed grid of step `dt0` (default: 1/1000
      of the time span) merged with `ts` and the input jumps; needs a PRNG `key`. Ensembles:
      `jax.vmap` over keys.
    - `AbstractDiscreteMap` (x_{k+1} = F(x_k, u_k) + eps_k): `ts` are integer step indices;
      a `key` is needed when the map has noise.

    `t0` defaults to `ts[0]`. Inputs u(t) are evaluated at every stage and the solver steps
    exactly onto each of their discontinuities. The float64 switch must be on for implicit
    solvers or `rtol` below 1e-7 (see the package docstring).

    Outside `jit`/`vmap`/`grad`, a failed solve raises `SolveError` explaining what happened and
    what to try (unless `throw=False`); inside, check `trajectory.result`.
    """
    if inputs is not None and not isinstance(inputs, AbstractInput):
        raise InputError(
            f"`inputs` must be an AbstractInput (Constant, PiecewiseConstant, PiecewiseLinear, "
            f"Stacked); got {type(inputs).__name__}."
        )
    x0 = _as_state(x0)
    if isinstance(model, AbstractDiscreteMap):
        return _simulate_discrete(model, x0, ts, inputs, key)
    ts = _as_times(ts, x0.dtype)
    if t0 is None:
        t0_arr = ts[0]
    elif is_concrete(t0):
        t0_arr = np.asarray(t0, dtype=x0.dtype)
    else:
        t0_arr = jnp.asarray(t0, dtype=x0.dtype)
    if is_concrete((t0_arr, ts)) and float(t0_arr) > float(ts[0]):
        raise InputError(
            f"`t0` = {float(t0_arr)} is after the first save time ts[0] = {float(ts[0])}."
        )
    if not (rtol > 0 and atol > 0):
        raise InputError(f"`rtol` and `atol` must be positive; got rtol={rtol}, atol={atol}.")
    if isinstance(model, SDE):
        return _simulate_stochastic(model, x0, t0_arr, ts, inputs, dt0, solver, key)
    if not isinstance(model, AbstractVectorField):
        raise ModelError(
            f"simulate() takes an AbstractVectorField, an SDE or an AbstractDiscreteMap; got "
            f"{type(model).__name__}. Wrap a plain function with `FunctionField(fn, params)`."
        )
    return _simulate_deterministic(
        model, x0, t0_arr, ts, inputs, solver, rtol, atol, dt0, max_steps, sensitivity, throw
    )


def _as_state(x0: ArrayLike) -> Array | np.ndarray:
    """x0 as a floating 1-D array: NumPy when concrete (no eager JAX dispatch), else the tracer."""
    if is_concrete(x0):
        x0 = np.asarray(x0)
        dtype = x0.dtype if np.issubdtype(x0.dtype, np.floating) else np.dtype(float)
        x0 = x0.astype(jax.dtypes.canonicalize_dtype(dtype), copy=False)
        if x0.ndim == 1 and not np.all(np.isfinite(x0)):
            bad = np.flatnonzero(~np.isfinite(x0)).tolist()
            raise InputError(f"`x0` has non-finite entries at positions {bad}: {x0}.")
    elif not jnp.issubdtype(x0.dtype, jnp.floating):
        x0 = x0.astype(float)
    if x0.ndim != 1:
        raise InputError(
            f"`x0` must be a 1-D state vector of shape (n,); got shape {x0.shape}. For many "
            "initial conditions use jax.vmap over simulate."
        )
    return x0


def _as_times(ts: ArrayLike, dtype: np.dtype) -> Array | np.ndarray:
    if not is_concrete(ts):
        ts = jnp.asarray(ts, dtype=dtype)
    else:
        ts = np.asarray(ts, dtype=dtype)
        if ts.ndim == 1 and not np.all(np.isfinite(ts)):
            raise InputError(f"`ts` has non-finite entries: {ts}.")
        if ts.ndim == 1 and np.any(np.diff(ts) <= 0):
            i = int(np.flatnonzero(np.diff(ts) <= 0)[0])
            raise InputError(
                f"`ts` must be strictly increasing; ts[{i}] = {ts[i]} is followed by "
                f"ts[{i + 1}] = {ts[i + 1]}."
            )
    if ts.ndim != 1 or ts.shape[0] == 0:
        raise InputError(f"`ts` must be a non-empty 1-D array of save times; got shape {ts.shape}.")
    return ts


def _require_float64(dtype: jnp.dtype, why: str) -> None:
    if dtype == jnp.float64:
        return
    if not jax.config.jax_enable_x64:
        raise PrecisionError(
            f"{why} needs float64, but JAX's x64 mode is off so the state is {dtype}. Put "
            "`jax.config.update('jax_enable_x64', True)` at the start of your program."
        )
    raise PrecisionError(f"{why} needs float64, but `x0` is {dtype}; pass a float64 state.")


def _resolve_solver(
    solver: str | diffrax.AbstractSolver,
    model: AbstractVectorField,
    x0: Array,
    t0: Array,
    ts: Array,
    inputs: AbstractInput | None,
) -> tuple[diffrax.AbstractSolver, bool, str, str]:
    """(solver, implicit?, label, why) for the `solver` argument."""
    if isinstance(solver, diffrax.AbstractSolver):
        implicit = isinstance(solver, (diffrax.AbstractImplicitSolver, AbstractRosenbrock, BDF))
        return solver, implicit, type(solver).__name__, "given"
    if not isinstance(solver, str):
        raise InputError(
            f"`solver` must be a name or a diffrax solver; got {type(solver).__name__}."
        )
    if solver.lower() != "auto":
        info = solver_info(solver)
        return info.make(), info.implicit, solver.lower(), "given"
    if not is_concrete((model, x0, t0, ts, inputs)):
        info = solver_info(NONSTIFF_DEFAULT)
        why = (
            "auto under jit/vmap/grad: values unknown when tracing, so the non-stiff default; "
            "pass solver= explicitly for stiff models"
        )
        return info.make(), info.implicit, NONSTIFF_DEFAULT, why
    u0 = None if inputs is None else inputs(t0)
    choice = choose_solver(model, t0, x0, u0, ts[-1], inputs=inputs)
    info = solver_info(choice.name)
    return info.make(), info.implicit, choice.name, choice.reason


def _simulate_deterministic(
    model: AbstractVectorField,
    x0: Array,
    t0: Array,
    ts: Array,
    inputs: AbstractInput | None,
    solver: str | diffrax.AbstractSolver,
    rtol: float,
    atol: float,
    dt0: float | None,
    max_steps: int,
    sensitivity: AbstractSensitivity | None,
    throw: bool,
) -> Trajectory:
    solver_obj, implicit, label, why = _resolve_solver(solver, model, x0, t0, ts, inputs)
    if label == "bdf":  # BDF's Newton tolerance and order choice use the solve's tolerances;
        # reverse_mode so that jax.grad through simulate works as for every other solver.
        solver_obj = BDF(rtol=float(rtol), atol=float(atol), reverse_mode=True)
    if implicit:
        _require_float64(x0.dtype, f"The implicit solver '{label}'")
    if rtol < FLOAT32_RTOL_LIMIT:
        _require_float64(x0.dtype, f"rtol = {rtol:g}")
    if sensitivity is None:
        sensitivity = DiscreteAdjoint()
    # Tolerances as arrays, not Python floats: a new tolerance reuses the compiled solve.
    tols = np.asarray(rtol, x0.dtype), np.asarray(atol, x0.dtype)
    if dt0 is not None and not dt0 > 0:
        raise InputError(f"`dt0` must be positive; got {dt0}.")
    trajectory = simulate_ode(
        model,
        inputs,
        x0,
        t0,
        ts,
        solver_obj,
        *tols,
        implicit,
        int(max_steps),
        dt0,
        sensitivity,
        label,
    )
    if why != trajectory.stats.choice:
        # The reason carries numbers; set it outside the compiled function so it never retraces.
        stats = dataclasses.replace(trajectory.stats, choice=why)
        trajectory = dataclasses.replace(trajectory, stats=stats)
    if throw and is_concrete(trajectory.result._value):
        if np.any(np.asarray(trajectory.result._value) != RESULTS.successful._value):
            controller = step_size_controller(*tols, implicit, inputs)
            problem = ODEProblem(
                model, inputs, x0, t0, ts, solver_obj, controller, int(max_steps), dt0
            )
            trajectory.raise_if_failed(explain_failure(problem, trajectory, implicit))
    return trajectory


def _simulate_stochastic(
    model: SDE,
    x0: Array,
    t0: Array,
    ts: Array,
    inputs: AbstractInput | None,
    dt0: float | None,
    solver: str | diffrax.AbstractSolver,
    key: PRNGKeyArray | None,
) -> Trajectory:
    if key is None:
        raise InputError("Simulating an SDE needs a PRNG `key` (e.g. jax.random.key(0)).")
    if not is_concrete((t0, ts)):
        raise InputError(
            "SDE simulation needs concrete `ts` and `t0`: they fix the size of the step grid. "
            "Close over them instead of passing them through jit."
        )
    span = float(ts[-1] - t0)
    step = span / 1000 if dt0 is None else float(dt0)
    if step <= 0:
        raise InputError(f"`dt0` must be positive; got {dt0}.")
    n_uniform = max(1, math.ceil(span / step - 1e-9))
    if isinstance(solver, diffrax.AbstractSolver):
        solver_obj, label = solver, type(solver).__name__
    elif solver in ("auto", "euler_maruyama", "euler"):
        solver_obj, label = diffrax.Euler(), "euler_maruyama"
    else:
        raise InputError(
            f"Unknown SDE solver {solver!r}: use 'euler_maruyama' (Itô, the default) or a diffrax "
            "SDE solver instance."
        )
    return simulate_sde(model, inputs, x0, t0, ts, n_uniform, key, solver_obj, label)


def _simulate_discrete(
    model: AbstractDiscreteMap,
    x0: Array,
    ts: ArrayLike,
    inputs: AbstractInput | None,
    key: PRNGKeyArray | None,
) -> Trajectory:
    steps = np.asarray(ts)
    if steps.ndim != 1 or steps.size == 0 or not np.issubdtype(steps.dtype, np.integer):
        raise InputError(
            "For a discrete-time map `ts` are integer step indices, e.g. np.arange(50); got "
            f"{steps.dtype} array of shape {steps.shape}."
        )
    if np.any(np.diff(steps) <= 0) or steps[0] < 0:
        raise InputError(
            f"Step indices `ts` must be non-negative and strictly increasing: {steps}."
        )
    if model.noise_std is not None and key is None:
        raise InputError("This discrete map has noise (`noise_std`); pass a PRNG `key`.")
    k0, n_steps = int(steps[0]), int(steps[-1] - steps[0])
    return simulate_map(model, inputs, x0, jnp.asarray(steps), k0, n_steps, key)
