"""The continuous adjoint with checkpoints (SPEC C3, C4): memory O(K d), cost independent of #theta."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from .._simulation.problem import ODEProblem, SolveOutput
from ._common import (
    attach,
    detach,
    forward_solve,
    poison,
    save_times,
    solve_output,
    split_parameters,
    zeros_if_none,
)
from .adjoint_stepping import BackwardState, backward_pid, integrate_segment
from .base import AbstractSensitivity

DEFAULT_SEGMENT_STEPS_CAP = 4096
DEFAULT_SEGMENT_BYTES = 4_000_000


def first_backward_step(dense: diffrax.Solution, t_start: Array, t_end: Array) -> Array:
    """The first step of the backward solve from t_end: the forward step that ended there (the
    adjoint has the same time scales as x), at most the interval. Started from scratch, every
    observation interval cost several tiny steps (387 backward steps against 68 forward on the
    spiral benchmark)."""
    step_ts = dense.interpolation.ts
    k = jnp.clip(jnp.searchsorted(step_ts, t_end, side="left"), 1, step_ts.shape[0] - 1)
    forward_step = step_ts[k] - step_ts[k - 1]
    length = t_end - t_start
    step = jnp.where(jnp.isfinite(forward_step), jnp.minimum(length, forward_step), length)
    return jnp.where(step > 0, step, jnp.ones_like(step))


def checkpoint_times(problem: ODEProblem, checkpoints: int) -> Float[Array, " K-1"]:
    """K - 1 interior times that cut [t0, ts[-1]] into K segments of equal length."""
    fractions = jnp.arange(1, checkpoints, dtype=problem.ts.dtype) / checkpoints
    return problem.t0 + (problem.ts[-1] - problem.t0) * fractions


class CheckpointedAdjoint(AbstractSensitivity):
    """Optimise-then-discretise with checkpoints (SPEC C3, C4): the method of choice for many
    parameters (neural and hybrid models), at memory independent of the number of steps.

    Forward pass: one solve that keeps the states at the observation times `ts` (returned anyway)
    and at `checkpoints - 1` extra times c_1 < ... < c_{K-1} that cut [t0, T] into K segments of
    equal length; nothing else.

    Backward pass, segment by segment from the last: re-integrate x from the checkpoint with
    dense output (once per segment), then integrate the adjoint a(t) = (dL/dx(t))^T and the
    parameter gradient g backwards through the segment,

        da/dt = -(df/dx)^T a,    dg/dt = -(df/dtheta)^T a,

    by vector–Jacobian products, landing on every observation time t_k, where the adjoint jumps:
    a(t_k^-) = a(t_k^+) + (dL/dx(t_k))^T. One adaptive stepping loop per segment does this
    without restarting at the observations (the step size carries over; see
    `adjoint_stepping`). With `jax.custom_vjp` these jumps are exactly the cotangents of
    `xs[k]`, whatever the loss (terminal, discrete observations, or both).
    At the end grad_theta L = g(t0) = integral_{t0}^{T} (df/dtheta)^T a dt and grad_{x0} L = a(t0).
    A running cost integral r(t, x, theta) dt is handled by the same adjoint once it is part of
    the state (`simulate_with_cost`): then da/dt gets the term -(dr/dx)^T.

    The backward solve uses the forward solver's method (implicit when the forward one was, as
    stiff problems need; an explicit Runge–Kutta method's stages are written out from its
    tableau) and the same tolerances; it steps exactly onto every jump of u(t), in reverse.
    Its error control measures a only: g is a quadrature along the same steps (as in SUNDIALS,
    whose quadratures are left out of error control by default).

    Memory: the K checkpoint states (besides the returned xs) plus the dense output of one
    segment, a buffer of `segment_max_steps` steps (default `max_steps // checkpoints`, between
    256 and 4096 and at most about 4 MB): O(K d + B s d) for s stages, whatever the horizon.
    If a segment needs more steps than the buffer holds, the gradient is NaN (never silently
    wrong): raise `checkpoints` or `segment_max_steps`. Compute: one more forward solve plus the
    backward solve, plus a fixed cost per segment (a solver start and the buffer). The default
    K = 4 keeps that cost small (on the spiral benchmark K = 16 costs 1.4–1.6x the time of
    K = 1, K = 4 1.1x) while holding up to 4 x 4096 forward steps (fewer for large states, by
    the 4 MB cap); raise K or `segment_max_steps` for longer solves.

    The gradient is that of the exact solution, up to solver error in both passes (SPEC C6);
    it converges to `DiscreteAdjoint`'s as rtol, atol shrink. Gradients with respect to the
    times (t0, ts, the switching times of u) are not computed (they are zero).
    """

    checkpoints: int = eqx.field(static=True, default=4)
    segment_max_steps: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.checkpoints < 1:
            raise ValueError(f"`checkpoints` must be at least 1; got {self.checkpoints}.")
        if self.segment_max_steps is not None and self.segment_max_steps < 1:
            raise ValueError(f"`segment_max_steps` must be positive; got {self.segment_max_steps}.")

    def solve(self, problem: ODEProblem) -> SolveOutput:
        diff, rest = detach(problem)
        return _solve_with_checkpoints(diff, rest, self._segment_steps(problem), self.checkpoints)

    def _segment_steps(self, problem: ODEProblem) -> int:
        if self.segment_max_steps is not None:
            return self.segment_max_steps
        # A static buffer of this many steps is filled per segment. Sized to the horizon it
        # would cost max_steps / K steps of dense output, so it is capped, by step count and by
        # bytes: diffrax's dense re-integration slows sharply with a large buffer (Brusselator,
        # 128 states: 0.3 ms at 256 steps, 1.5 ms at 2048, 42 ms at 4096 for the same 12 steps).
        # A segment that needs more steps gives a NaN gradient.
        tableau = getattr(problem.solver, "tableau", None)
        stages = getattr(tableau, "num_stages", 7)
        x0 = problem.x0
        per_step = (stages + 2) * x0.shape[0] * x0.dtype.itemsize  # y0, y1 and the stages
        by_bytes = DEFAULT_SEGMENT_BYTES // per_step
        by_horizon = -(-problem.max_steps // self.checkpoints)
        return max(256, min(DEFAULT_SEGMENT_STEPS_CAP, by_horizon, by_bytes))


def _forward(diff: tuple, problem: ODEProblem, checkpoints: int) -> tuple[SolveOutput, tuple]:
    problem = attach(diff, problem)
    extra = checkpoint_times(problem, checkpoints)
    grid, order = save_times(problem, extra)
    sol = forward_solve(problem, grid)
    states, x_end = sol.ys[0], sol.ys[1][0]
    inverse = jnp.argsort(order)
    n_obs = problem.ts.shape[0]
    xs = states[inverse[:n_obs]]
    return solve_output(sol, xs, x_end), (grid, order, states)


@eqx.filter_custom_vjp
def _solve_with_checkpoints(diff, problem, segment_steps, checkpoints):
    out, _ = _forward(diff, problem, checkpoints)
    return out


@_solve_with_checkpoints.def_fwd
def _fwd(perturbed, diff, problem, segment_steps, checkpoints):
    del perturbed
    return _forward(diff, problem, checkpoints)


@_solve_with_checkpoints.def_bwd
def _bwd(residuals, cotangent, perturbed, diff, problem, segment_steps, checkpoints):
    del perturbed
    grid, order, states = residuals
    problem = attach(diff, problem)
    x0 = problem.x0
    params, static = split_parameters(problem)

    n_obs = problem.ts.shape[0]
    ct_xs = zeros_if_none(cotangent.xs, states[:n_obs])
    ct_end = zeros_if_none(cotangent.x_reached, x0)
    jumps = jnp.concatenate([ct_xs, jnp.zeros((grid.shape[0] - n_obs, x0.shape[0]), x0.dtype)])
    jumps = jumps[order].at[-1].add(ct_end)
    starts_t = jnp.concatenate([problem.t0[None], grid[:-1]])

    # Segment j runs from checkpoint c_j to c_{j+1} (c_0 = t0, c_K = T); its start state is x0 or
    # the stored state at the checkpoint time.
    interior = checkpoint_times(problem, checkpoints)
    inverse = jnp.argsort(order)
    seg_t0 = jnp.concatenate([problem.t0[None], interior])
    seg_t1 = jnp.concatenate([interior, problem.ts[-1:]])
    seg_x0 = jnp.concatenate([x0[None], states[inverse[n_obs:]]])
    segment_of = jnp.searchsorted(interior, starts_t, side="right")

    def resolve(j):
        """x on segment j with dense output: the one forward re-integration per segment."""
        return diffrax.diffeqsolve(
            problem.term,
            problem.solver,
            seg_t0[j],
            seg_t1[j],
            problem.dt0,
            seg_x0[j],
            problem.args,
            saveat=diffrax.SaveAt(t1=True, dense=True),
            stepsize_controller=problem.controller,
            max_steps=segment_steps,
            throw=False,
        )

    # The parameter gradient is carried flat (one array for the solver's stage arithmetic).
    flat_params, unravel = ravel_pytree(params)
    pid, jump_ts = backward_pid(problem)
    jump_s = jnp.sort(-jump_ts)
    segments = jnp.arange(checkpoints, dtype=segment_of.dtype)
    first_interval = jnp.searchsorted(segment_of, segments, side="left")
    last_interval = jnp.searchsorted(segment_of, segments, side="right") - 1

    def segment(state: BackwardState, j):
        dense = resolve(j)
        i = last_interval[j]
        # The first backward step is the last forward one (the adjoint has the time scales of
        # x); later segments continue with the step size reached.
        h = jnp.where(jnp.isnan(state.h), first_backward_step(dense, seg_t0[j], seg_t1[j]), state.h)
        failed = state.failed | (dense.result != diffrax.RESULTS.successful)
        state = eqx.tree_at(
            lambda st: (st.a, st.h, st.interval, st.failed),
            state,
            (state.a + jumps[i], h, i, failed),
        )
        state = integrate_segment(
            state,
            problem=problem,
            pid=pid,
            args=(params, static, dense, seg_t0[j], seg_t1[j]),
            starts=starts_t,
            ends=grid,
            jumps=jumps,
            first_interval=first_interval[j],
            jump_s=jump_s,
        )
        return state, None

    last = jnp.asarray(checkpoints - 1, segment_of.dtype)
    t_end = problem.ts[-1]
    _, pid_state = pid.init(None, -t_end, -t_end, x0, jnp.ones_like(t_end), None, None, None)
    init = BackwardState(
        a=jnp.zeros_like(x0),
        g=jnp.zeros(flat_params.shape, x0.dtype),
        h=jnp.asarray(jnp.nan, t_end.dtype),
        pid_state=jax.tree.map(jnp.asarray, pid_state),
        interval=last_interval[last],
        next_jump=jnp.searchsorted(jump_s, -t_end, side="right"),
        num_steps=jnp.asarray(0, segment_of.dtype),
        failed=jnp.array(False),
    )
    final, _ = jax.lax.scan(segment, init, segments, reverse=True)
    a0, g, failed = final.a, unravel(final.g.astype(flat_params.dtype)), final.failed
    (grad_model, grad_inputs), grad_x0 = poison((g, a0), failed)
    return grad_model, grad_inputs, grad_x0
