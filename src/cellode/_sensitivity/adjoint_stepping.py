"""The backward stepping loop of the checkpointed adjoint: one adaptive integration per segment
that lands on every observation time and applies the adjoint's jump there, without restarting.

diffrax's `diffeqsolve` integrates from one time to another; the adjoint jumps at every
observation, so driving it with `diffeqsolve` meant one solve per observation interval, each
paying solver initialisation, a fresh step-size history and its loop's start-up (on the spiral
benchmark, 100 restarts cost 8x backpropagation through the forward steps). Here one
`lax.while_loop` per checkpoint segment takes the steps, with diffrax's PID controller choosing
them; the step size carries over from one observation to the next and from one segment to the
next.

The loop runs in reversed time s = -t (the solver and the controller see increasing time, as in
diffrax itself for t1 < t0), on the state (a, g): the adjoint a and the parameter gradient g,
flat. The step itself is taken one of two ways:

- explicit Runge–Kutta solvers (Dopri5, Tsit5, ...): the stages are written out from the
  solver's Butcher tableau. x is read from the dense output at all stage times at once, each
  stage is one vector–Jacobian product in x only, and the quadrature of g uses the solution
  weights b_i with one batched product over the stages, g += h sum_i b_i (df/dtheta)^T(t_i) a_i.
  That is exactly the Runge–Kutta step of the augmented system (a, g) (g does not feed back),
  at a fraction of the operations, which dominate the cost of small models.
- any other solver (implicit ones, as stiff problems need): the solver's own `step` on the flat
  state, so an implicit forward solve gives an implicit backward one.
"""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Bool, Float, Int

from .._simulation.problem import ODEProblem
from ._common import vector_field

# A backward step may span at most this many forward steps, so that the dense output is searched
# in a window around the current step instead of over its whole buffer at every stage.
MESH_WINDOW = 8


def flat_leaves(tree: Any, dtype: Any) -> Array:
    """The leaves of a parameter-shaped tree as one flat vector (the order of `ravel_pytree`)."""
    leaves = [leaf.ravel().astype(dtype) for leaf in jax.tree.leaves(tree)]
    return jnp.concatenate(leaves) if leaves else jnp.zeros((0,), dtype)


def evaluate_dense(
    x_of_t: diffrax.Solution, t: Float[Array, ""], t_start: Array, t_end: Array
) -> Array:
    """x(t) from the segment's dense output, a hair inside the segment.

    With Kvaerno5 (VeryChord) a backward solve whose field read the dense output exactly at
    its first time stalled, taking ever smaller steps towards it (measured on Robertson from
    t0 = 0); 1e-13 of the segment changes x by ~1e-13 |f| and removes the stall.
    """
    return x_of_t.evaluate(jnp.clip(t, t_start + 1e-13 * (t_end - t_start), t_end))


class ReversedAdjointField(eqx.Module):
    """The adjoint system in reversed time s = -t, on the flat state y = (a, g), with x(t) from
    the segment's dense output:

        da/ds = (df/dx)^T a,      dg/ds = (df/dtheta)^T a,

    (da/dt = -(df/dx)^T a read backwards), both by one vector–Jacobian product of f.
    Used with solvers other than explicit Runge–Kutta.
    """

    n: int = eqx.field(static=True)

    def __call__(self, s: Array, y: Array, args: tuple) -> Array:
        params, static, x_of_t, t_start, t_end = args
        t = -s
        x = evaluate_dense(x_of_t, t, t_start, t_end)
        _, vjp = jax.vjp(lambda x_, p_: vector_field(t, x_, p_, static), x, params)
        a_dot, g_dot = vjp(y[: self.n])
        return jnp.concatenate([a_dot, flat_leaves(g_dot, y.dtype)])


def backward_pid(problem: ODEProblem) -> tuple[diffrax.PIDController, Float[Array, " J"]]:
    """The forward PID controller and the input jump times, which the loop lands on itself.

    The controller sees the adjoint a only: the parameter gradient g is a quadrature along the
    same steps, and measuring its error too would make hundreds of components of a neural
    network steer the step size (SUNDIALS likewise leaves quadratures out of error control).
    """
    controller = problem.controller
    jump_ts = jnp.zeros((0,), problem.ts.dtype)
    if isinstance(controller, diffrax.ClipStepSizeController):
        if controller.step_ts is not None:
            raise ValueError(
                "CheckpointedAdjoint's backward pass lands on the inputs' jump times itself and "
                "does not support `step_ts`; pass the times as `jump_ts` instead."
            )
        if controller.jump_ts is not None:
            jump_ts = jnp.asarray(controller.jump_ts, problem.ts.dtype)
        controller = controller.controller
    if not isinstance(controller, diffrax.PIDController):
        raise ValueError(
            f"CheckpointedAdjoint needs an adaptive PID step-size controller; got "
            f"{type(controller).__name__}. Use a solver with an error estimate and rtol/atol."
        )
    return eqx.tree_at(lambda c: c.norm, controller, optx.rms_norm), jump_ts


class NormOfAdjoint(eqx.Module):
    """RMS norm of the adjoint a only: the first n components of the flat state (a, g)."""

    n: int = eqx.field(static=True)

    def __call__(self, y: Array) -> Array:
        return optx.rms_norm(y[: self.n])


def with_root_finder_tolerances(
    solver: diffrax.AbstractSolver, pid: diffrax.PIDController, n: int
) -> diffrax.AbstractSolver:
    """An implicit solver whose root finder takes rtol and atol from the controller where left
    unset (what `diffeqsolve` does before stepping; here the loop steps itself), and measures
    convergence on the adjoint a only, as the controller does."""
    if not isinstance(solver, diffrax.AbstractImplicitSolver):
        return solver
    finder = solver.root_finder
    unset = []
    for attr, is_set in (
        ("rtol", lambda v: isinstance(v, (int, float, np.ndarray, jax.Array))),
        ("atol", lambda v: isinstance(v, (int, float, np.ndarray, jax.Array))),
        ("norm", callable),
    ):
        if hasattr(finder, attr) and not is_set(getattr(finder, attr)):
            unset.append(attr)
    if not unset:
        return solver
    return eqx.tree_at(
        lambda s: tuple(getattr(s.root_finder, attr) for attr in unset),
        solver,
        tuple(NormOfAdjoint(n) if attr == "norm" else getattr(pid, attr) for attr in unset),
        is_leaf=lambda v: v is None,
    )


class BackwardState(eqx.Module):
    """What the backward pass carries from one segment to the next."""

    a: Float[Array, " n"]  # the adjoint, (dL/dx(t))^T
    g: Float[Array, " p"]  # the parameter gradient accumulated so far, flat
    h: Float[Array, ""]  # the step size to try next (in reversed time)
    pid_state: Any
    interval: Int[Array, ""]  # index of the observation interval being integrated
    next_jump: Int[Array, ""]  # index into the reversed input jump times
    num_steps: Int[Array, ""]
    failed: Bool[Array, ""]


def uses_tableau(solver: diffrax.AbstractSolver) -> bool:
    """Whether the backward step is written out from the solver's explicit Butcher tableau."""
    tableau = getattr(solver, "tableau", None)
    return isinstance(solver, diffrax.AbstractERK) and isinstance(tableau, diffrax.ButcherTableau)


class _ExplicitStepper(eqx.Module):
    """One explicit Runge–Kutta step of (a, g) in reversed time, from the solver's tableau."""

    tableau: diffrax.ButcherTableau = eqx.field(static=True)

    def mesh_index(self, mesh: Array, k: Array, t: Array, last: Array) -> Array:
        """The forward step that holds time(s) t, searched among MESH_WINDOW steps below k."""
        width = min(MESH_WINDOW, mesh.shape[0])
        start = jnp.clip(k - (width - 1), 0, mesh.shape[0] - width)
        window = jax.lax.dynamic_slice(mesh, (start,), (width,))
        below = jnp.sum(window[1:] < t[..., None], axis=-1, dtype=k.dtype)
        return jnp.clip(start + below, 0, last)

    def mesh_floor(self, mesh: Array, k: Array) -> Array:
        """The earliest time a step from forward step k may reach (see MESH_WINDOW)."""
        width = min(MESH_WINDOW, mesh.shape[0])
        return mesh[jnp.clip(k - (width - 1), 0, mesh.shape[0] - width)]

    def __call__(self, s, s1, a, k, args):
        params, static, x_of_t, t_start, t_end = args
        tab = self.tableau
        dtype = a.dtype
        interp = x_of_t.interpolation
        mesh = interp.ts
        last = jnp.asarray(interp.ts_size - 2, k.dtype)
        h = s1 - s
        c = np.concatenate([[0.0], tab.c])
        t_stage = -(s + jnp.asarray(c, dtype) * h)
        t_stage = jnp.clip(t_stage, t_start + 1e-13 * (t_end - t_start), t_end)
        index = self.mesh_index(mesh, k, t_stage, last)

        def local(i, t):
            infos = jax.tree.map(lambda leaf: leaf[i], interp.infos)
            return interp.interpolation_cls(t0=mesh[i], t1=mesh[i + 1], **infos).evaluate(t)

        x_stage = jax.vmap(local)(index, t_stage)

        stages = []  # (a_i, k_i): the stage value of a and its derivative
        for i in range(tab.num_stages):
            a_i = a
            if i > 0:
                for j, coeff in enumerate(tab.a_lower[i - 1]):
                    if coeff != 0:
                        a_i = a_i + (float(coeff) * h) * stages[j][1]
            _, vjp = jax.vjp(
                lambda x_, t_=t_stage[i]: vector_field(t_, x_, params, static), x_stage[i]
            )
            (k_i,) = vjp(a_i)
            stages.append((a_i, k_i))

        a1 = a
        error = jnp.zeros_like(a)
        for (_, k_i), b, e in zip(stages, tab.b_sol, tab.b_error, strict=True):
            if b != 0:
                a1 = a1 + (float(b) * h) * k_i
            if e != 0:
                error = error + (float(e) * h) * k_i

        # The quadrature of g with the same weights, one batched product over the stages.
        used = [i for i, b in enumerate(tab.b_sol) if b != 0]
        weights = jnp.asarray(np.asarray(tab.b_sol)[used], dtype) * h
        cotangent = jnp.stack([stages[i][0] for i in used]) * weights[:, None]
        t_used, x_used = t_stage[np.asarray(used)], x_stage[np.asarray(used)]

        def batched(p):
            return jax.vmap(lambda t, x: vector_field(t, x, p, static))(t_used, x_used)

        _, vjp_params = jax.vjp(batched, params)
        (g_step,) = vjp_params(cotangent)
        k_new = self.mesh_index(mesh, k, -s1, last)
        return a1, error, flat_leaves(g_step, dtype), k_new


def integrate_segment(
    state: BackwardState,
    *,
    problem: ODEProblem,
    pid: diffrax.PIDController,
    args: tuple,
    starts: Float[Array, " M"],
    ends: Float[Array, " M"],
    jumps: Float[Array, "M n"],
    first_interval: Int[Array, ""],
    jump_s: Float[Array, " J"],
) -> BackwardState:
    """Integrate (a, g) backwards over one segment, through its observation intervals.

    Observation interval i runs from `ends[i]` down to `starts[i]` (forward times); the adjoint
    jumps by `jumps[i]` on entering it. `state.interval` is the interval being integrated (its
    jump already added) and counts down to `first_interval`, the segment's first. On landing at
    an input jump time the step continues from just before it (the side where u has the value
    of the next interval), with the solver told that the field jumped.
    """
    n = state.a.shape[0]
    solver = with_root_finder_tolerances(problem.solver, pid, n)
    x_of_t = args[2]
    explicit = uses_tableau(solver)
    s0 = -ends[state.interval]
    if explicit:
        stepper = _ExplicitStepper(solver.tableau)
        error_order = solver.error_order(diffrax.ODETerm(ReversedAdjointField(n)))
        solver_state = None
        mesh_k = jnp.asarray(x_of_t.interpolation.ts_size - 2, state.interval.dtype)
    else:
        term = diffrax.ODETerm(ReversedAdjointField(n))
        error_order = solver.error_order(term)
        y0 = jnp.concatenate([state.a, state.g])
        solver_state = solver.init(term, s0, s0 + state.h, y0, args)
        mesh_k = jnp.asarray(0, state.interval.dtype)
    num_jumps = jump_s.shape[0]

    def next_jump_time(p):
        if num_jumps == 0:
            return jnp.asarray(jnp.inf, s0.dtype)
        return jnp.where(p < num_jumps, jump_s[jnp.minimum(p, num_jumps - 1)], jnp.inf)

    def enter_previous(i, a, landed):
        """Landed at the start of interval i: move to interval i - 1, adding its jump."""
        i = i - landed.astype(i.dtype)
        add = landed & (i >= first_interval)
        return i, a + jnp.where(add, jumps[jnp.maximum(i, 0)], 0.0)

    def land(c):
        """A zero-length interval (an observation at t0, or at a checkpoint): no step."""
        s, a, g, h, pid_state, solver_state, _, k, i, p, steps, failed = c
        i, a = enter_previous(i, a, jnp.array(True))
        return s, a, g, h, pid_state, solver_state, jnp.array(True), k, i, p, steps, failed

    def step(c):
        s, a, g, h, pid_state, solver_state, made_jump, k, i, p, steps, failed = c
        stop_grid = -starts[i]
        stop_jump = next_jump_time(p)
        stop = jnp.minimum(stop_grid, stop_jump)
        if explicit:
            stop = jnp.minimum(stop, -stepper.mesh_floor(x_of_t.interpolation.ts, k))
        s_try = s + h
        # Land on the stop rather than leave a sliver of an interval before it.
        s1 = jnp.where(s_try >= stop - 1e-9 * h, stop, s_try)
        if explicit:
            a1, error, g_step, k1 = stepper(s, s1, a, k, args)
            g1 = g + g_step
            new_solver_state, solver_result = None, diffrax.RESULTS.successful
        else:
            y = jnp.concatenate([a, g])
            y1, y_error, _, new_solver_state, solver_result = solver.step(
                term, s, s1, y, args, solver_state, made_jump
            )
            a1, g1, error, k1 = y1[:n], y1[n:], y_error[:n], k
        error = jnp.where(jnp.isnan(error), jnp.inf, error)
        keep, _, next_s1, _, new_pid_state, pid_result = pid.adapt_step_size(
            s, s1, a, a1, args, error, error_order, pid_state
        )
        h_next = next_s1 - s1
        # A step shortened to land on a stop says nothing against the step size tried before.
        h_next = jnp.where(keep & (s1 < s_try), jnp.maximum(h_next, h), h_next)
        h_next = jnp.where(keep, h_next, next_s1 - s)
        on_jump = keep & (s1 >= stop_jump)
        s_new = jnp.where(keep, s1, s)
        s_new = jnp.where(on_jump, jnp.nextafter(s_new, jnp.inf), s_new)

        def keep_or(new, old):
            return jax.tree.map(lambda n_, o: jnp.where(keep, n_, o), new, old)

        a, g, k = keep_or((a1, g1, k1), (a, g, k))
        solver_state = keep_or(new_solver_state, solver_state)
        pid_state = jax.tree.map(jnp.asarray, new_pid_state)
        # The adjoint jumps at an observation time: applied as soon as the step lands there.
        on_stop = keep & (s1 >= stop_grid)
        i, a = enter_previous(i, a, on_stop)
        made_jump = jnp.where(keep, on_jump | on_stop, made_jump)
        failed = failed | (keep & (solver_result != diffrax.RESULTS.successful))
        failed = failed | (pid_result != diffrax.RESULTS.successful)
        p = p + on_jump.astype(p.dtype)
        return s_new, a, g, h_next, pid_state, solver_state, made_jump, k, i, p, steps + 1, failed

    def body(c):
        s, i = c[0], c[8]
        return jax.lax.cond(s >= -starts[i], land, step, c)

    def cond(c):
        i, steps, failed = c[8], c[10], c[11]
        return (i >= first_interval) & (steps < problem.max_steps) & ~failed

    init = (
        s0,
        state.a,
        state.g,
        state.h,
        state.pid_state,
        solver_state,
        jnp.array(False),
        mesh_k,
        state.interval,
        state.next_jump,
        state.num_steps,
        state.failed,
    )
    out = jax.lax.while_loop(cond, body, init)
    _, a, g, h, pid_state, _, _, _, i, p, steps, failed = out
    failed = failed | (i >= first_interval)  # ran out of steps
    return BackwardState(a, g, h, pid_state, i, p, steps, failed)
