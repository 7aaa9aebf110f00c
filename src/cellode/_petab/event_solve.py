"""SBML events inside the differentiable solves of the PEtab objective.

An event without a delay fires when its trigger turns from false to true: its assignments
change the state at once, x(t*+) = h(t*, x(t*-), p), and the solve goes on from there. The
firing time t* of a state-dependent trigger r(t, x(t), p) = 0 moves with theta, and so does
everything after it. A solve is split at the firing times:

1. *Locate* (not differentiated): a diffrax solve from the segment's start, stopping where the
   first trigger turns true (for an armed event) or false (for a fired one, which is then armed
   again): the largest of the signed root functions turns positive there, and bisection on the
   step's interpolant gives t*.
2. *Integrate* (differentiated by the objective's sensitivity method, forward or adjoint): the
   segment from its start to t*, saving at the output times clipped to [start, t*].
3. *Jump*: by the implicit function theorem,
   dt*/dtheta = -(dr/dtheta + dr/dx dx/dtheta) / (dr/dt + dr/dx f). The Newton step
   delta = -r / stop_gradient(dr/dt + dr/dx f), r at the integrated state X(t*), carries exactly
   that derivative; its value moves the event to where the integrated solution crosses (a
   rounding error away, except where the interpolant is poor, as at a kink of the right-hand
   side). Then x(t*-) = X + f(t*, X) delta, the assignments give x(t*+) at time t* + delta,
   and the next segment starts at t* from x(t*+) - f(t*, x(t*+)) delta (starting delta later
   is starting that far back along the flow). Both corrections are exact to first order, so
   the gradient is that of the event-driven solution for every sensitivity method.

At a firing time the events whose triggers hold fire one after the other, by decreasing priority
(ties: the order of the file), and their triggers are checked again after each, so events
cascade (each fires at most once per instant). The trigger states ("was it true") travel with
the simulation across periods and pre-equilibration, as SBML and PEtab require. Events due at
the start of a solve are the caller's (`fire_due`), because they run after the condition
changes of that time; so does an event whose trigger turns true exactly at the end of a solve.

A solve has room for `max_stops` firings or re-armings; one more makes it fail (nllh = inf), so
that a missed event never passes silently. The stops are one `lax.scan`: the located and the
integrated segment are compiled once, whatever the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import diffrax
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, Bool, Float

from .._sbml.event_rules import EventRules
from .._sensitivity.base import AbstractSensitivity
from .._simulation.problem import ODEProblem, rhs

sg = jax.lax.stop_gradient
ProblemMaker = Callable[[Array, Array, Array, Array], ODEProblem]
"""(p, x0, ts, t0) -> the ODE problem of one segment under the condition's constants p."""

ROOT_TOL = 1e-12  # relative and absolute tolerance of the event times
NEWTON_REACH = 1e-6  # largest relative correction of a located event time (see `_jump`)


def initial_states(rules: EventRules, batch: int) -> Bool[Array, "U E"]:
    """The trigger states before the first time: each trigger's `initialValue`."""
    values = jnp.asarray([e.initial_value for e in rules.events], dtype=bool)
    return jnp.broadcast_to(values, (batch, len(rules)))


def _execute(rules: EventRules, event: int, t: Array, x: Array, p: Array) -> Array:
    """x after event `event`'s assignments, their values computed at (t, x)."""
    return rules.apply(event, t, x, p, rules.values(t, x, p)[event])


def fire_due(
    rules: EventRules,
    t: Array,
    x: Float[Array, " n"],
    p: Float[Array, " P"],
    state: Bool[Array, " E"],
    force: Array | None = None,
) -> tuple[Float[Array, " n"], Bool[Array, " E"]]:
    """Run every event due at time t (trigger true now, false before: `state`), by priority,
    re-checking the triggers after each; returns the state and the trigger states after.

    `force` (E,) of -1/0/1 overrides the first check of each trigger (1: true, -1: false): the
    event a root finder stopped at is due even if its root lands a rounding error short.
    """
    n_events = len(rules)
    branches = [(lambda tt, xx, pp, e=e: _execute(rules, e, tt, xx, pp)) for e in range(n_events)]
    force = jnp.zeros(n_events, jnp.int32) if force is None else force

    def one_round(_, carry):
        x, state, force = carry
        trig = rules.triggers(t, x, p)
        trig = jnp.where(force > 0, True, jnp.where(force < 0, False, trig))
        state = state & trig  # a trigger that is false is armed again
        due = trig & ~state
        priority = rules.priorities(t, x, p)
        priority = jnp.where(jnp.isnan(priority), -jnp.inf, priority)
        # argmax takes the first of equal priorities: the order of the file.
        event = jnp.argmax(jnp.where(due, jnp.maximum(priority, -1e300), -jnp.inf))
        fire = jnp.any(due)
        after = jax.lax.switch(event, branches, t, x, p)
        x = jnp.where(fire, after, x)
        state = state.at[event].set(state[event] | fire)
        return x, state, jnp.zeros_like(force)

    x, state, _ = jax.lax.fori_loop(0, n_events, one_round, (x, state, force))
    return x, state & rules.triggers(t, x, p)


def _located_rhs(t, y, args):
    model, inputs, _ = args
    return rhs(t, y, (model, inputs))


def _signed_roots(rules: EventRules, t, y, p, sign) -> Float[Array, " E"]:
    return sign * rules.roots(t, y, p)


def _first_root(rules: EventRules, t, y, args, **kwargs) -> Array:
    """The largest signed root: it turns positive where the first trigger changes."""
    model, _, sign = args
    return jnp.max(_signed_roots(rules, t, y, model.p, sign))


def locate(
    rules: EventRules, problem: ODEProblem, state: Bool[Array, " E"]
) -> tuple[Array, Array, Array, Array]:
    """(t*, event, found, ok): the first time in (problem.t0, problem.ts[-1]) where a trigger
    turns true (an armed event) or false (a fired one). Not differentiated.

    Every signed root (the root function, negated for a fired event) is <= 0 at the start, as
    `fire_due` leaves the trigger states consistent; the first to turn positive makes their
    maximum turn positive, a single scalar event for diffrax's bisection.
    """
    sign = jnp.where(state, -1.0, 1.0)
    # Bisection detects the direction per batch member, and expands rather than raises when a
    # bracket holds no root: under vmap diffrax runs the root find also for members without an
    # event (on t_end - t, whose root it then uses), where a bracket check would fail.
    event = diffrax.Event(
        partial(_first_root, rules),
        optx.Bisection(rtol=ROOT_TOL, atol=ROOT_TOL, expand_if_necessary=True),
        direction=True,
    )
    t_end = problem.ts[-1]
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_located_rhs),
        problem.solver,
        problem.t0,
        t_end,
        problem.dt0,
        problem.x0,
        (problem.model, problem.inputs, sign),
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=problem.controller,
        event=event,
        max_steps=problem.max_steps,
        throw=False,
    )
    t_hit, y_hit = sol.ts[-1], sol.ys[-1]
    hit = sol.result == diffrax.RESULTS.event_occurred
    # A trigger that turns true exactly at the end is left to the caller (see the docstring).
    found = hit & (t_hit < t_end - ROOT_TOL * (1.0 + jnp.abs(t_end)))
    event_index = jnp.argmax(_signed_roots(rules, t_hit, y_hit, problem.model.p, sign))
    ok = (sol.result == diffrax.RESULTS.successful) | hit
    return t_hit, event_index, found, ok


def solve_with_events(
    rules: EventRules,
    make_problem: ProblemMaker,
    sensitivity: AbstractSensitivity,
    p: Float[Array, " P"],
    x0: Float[Array, " n"],
    ts: Float[Array, " T"],
    t0: Array,
    state: Bool[Array, " E"],
    max_stops: int,
) -> tuple[Float[Array, "T n"], Bool[Array, " E"], Array]:
    """x(ts) from x(t0) = x0 with the model's events (module docstring), the trigger states at
    ts[-1] and whether the solve succeeded."""
    ts = sg(ts)
    t_end = ts[-1]

    def one_stop(carry, stop):
        t_a, x_a, state, xs, ok = carry
        t_hit, event, found, good = locate(rules, make_problem(sg(p), sg(x_a), ts, t_a), state)
        last = stop == max_stops
        ok = ok & good & ~(last & found)  # one firing more than the budget: fail, not miss it
        found = found & ~last
        t_b = jnp.where(found, jnp.clip(t_hit, t_a, t_end), t_end)
        out = sensitivity.solve(make_problem(p, x_a, jnp.clip(ts, t_a, t_b), t_a))
        ok = ok & (out.result == diffrax.RESULTS.successful)
        xs = jnp.where(((ts >= t_a) | (stop == 0))[:, None], out.xs, xs)
        x_raw = out.xs[-1]
        x_next, new_state = _jump(rules, p, t_b, x_raw, state, event)
        x_a = jnp.where(found, x_next, x_raw)
        state = jnp.where(found, new_state, state)
        return (sg(t_b), x_a, state, xs, ok), None

    t0 = sg(jnp.asarray(t0, x0.dtype))
    xs = jnp.zeros((ts.shape[0], x0.shape[0]), x0.dtype)
    carry = (t0, x0, state, xs, jnp.array(True))
    (_, _, state, xs, ok), _ = jax.lax.scan(one_stop, carry, jnp.arange(max_stops + 1))
    return xs, state, ok


def _jump(
    rules: EventRules,
    p: Array,
    t: Array,
    x: Array,
    state: Bool[Array, " E"],
    event: Array,
) -> tuple[Array, Bool[Array, " E"]]:
    """The state the next segment starts from after the stop at t for `event` (module
    docstring, step 3), and the trigger states after it."""
    f_minus = rules.model.rhs(t, x, p)
    sign = jnp.where(state[event], -1.0, 1.0)

    def root(tt, xx):
        return sign * rules.roots(tt, xx, p)[event]

    r = root(t, x)
    _, r_dot = jax.jvp(root, (sg(t), sg(x)), (jnp.ones_like(t), sg(f_minus)))
    r_dot = sg(r_dot)
    usable = jnp.abs(r_dot) > 1e-300
    r_dot = jnp.where(usable, r_dot, 1.0)
    # One Newton step on r(t, x(t)) = 0 from the integrated state: its value moves the event
    # to where the integrated solution crosses (the located time comes from an interpolant,
    # poor where the right-hand side has a kink at the root), its derivative is dt*/dtheta.
    newton = -r / r_dot
    small = jnp.abs(sg(newton)) <= NEWTON_REACH * (1.0 + jnp.abs(t))
    delta = jnp.where(usable, jnp.where(small, newton, -(r - sg(r)) / r_dot), 0.0)
    x_minus = x + sg(f_minus) * delta
    force = jnp.zeros(len(rules), jnp.int32).at[event].set(jnp.where(state[event], -1, 1))
    x_plus, new_state = fire_due(rules, t + delta, x_minus, p, state, force)
    f_plus = sg(rules.model.rhs(t, x_plus, p))
    return x_plus - f_plus * delta, new_state
