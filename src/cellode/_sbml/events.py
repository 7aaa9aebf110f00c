"""`simulate_sbml`: SBML time courses with events, by a stepping loop around an ODE solver.

Between events the jit-compiled right-hand side (and its Jacobian) is integrated by SciPy's
LSODA (an explicit Runge-Kutta pair takes over when LSODA stalls on a discontinuous right-hand
side); every event trigger is a root function located by the solver's root finder
(a - b for a comparison a > b, min/max for and/or; any other condition as its truth value
minus 1/2). At an event time the loop applies SBML's rules:

- a trigger fires on a false -> true transition; `initialValue` is its value before t0, so a
  trigger true at t0 with initialValue false fires at t0;
- with a delay the assignments run at t + delay; `useValuesFromTriggerTime` decides whether
  their values are computed when the trigger fires or when they run;
- a non-persistent event is cancelled when its trigger turns false before it runs;
- simultaneous events run one at a time by decreasing priority (re-evaluated after each),
  ties in random order (seeded); triggers are re-checked after each, so events can cascade.

The output at an event time shows the values after the event. This path is for running SBML
files faithfully; it is not differentiable (use `SbmlModel.rhs` with `cellode.simulate` for
gradients of event-free models).
"""

from __future__ import annotations

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate
from jaxtyping import ArrayLike, Float

from .errors import SbmlError
from .event_rules import EventRules
from .model import SbmlModel


class _Budget(Exception):
    """The right-hand side was evaluated more often than allowed."""


class _Compiled:
    """The jit-compiled pieces of one model for the stepping loop."""

    def __init__(self, model: SbmlModel):
        self.model = model

        def rhs(t, x, p):
            return model.rhs(t, x, p)

        self.f = jax.jit(rhs)
        self.jac = jax.jit(jax.jacfwd(rhs, argnums=1))
        rules = EventRules(model)
        self.events = rules.events
        if not rules.events:
            return
        self.triggers = jax.jit(rules.triggers)
        self.roots = jax.jit(rules.roots)
        self.side = jax.jit(lambda t, x, p: (rules.priorities(t, x, p), rules.delays(t, x, p)))
        self.values = jax.jit(rules.values)
        self.apply = [jax.jit(partial(rules.apply, e)) for e in range(len(rules))]


def simulate_sbml(
    model: SbmlModel,
    ts: Float[ArrayLike, " T"],
    *,
    p: Float[ArrayLike, " p"] | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_events: int = 100_000,
    max_rhs_evaluations: int = 400_000,
    seed: int = 0,
) -> tuple[np.ndarray, bool]:
    """The states at the times `ts` (rows) and whether the simulation reached the end.

    Starts from `model.initial_state(p)` at `ts[0]`; applies the model's events (see the module
    docstring). Times are output after the events that happen at them. Simultaneous events
    of equal priority run in an order drawn from `numpy.random.default_rng(seed)`.
    """
    return _Loop(_Compiled(model), p, rtol, atol, max_events, max_rhs_evaluations, seed).run(
        np.asarray(ts, dtype=float)
    )


class _Loop:
    def __init__(self, c: _Compiled, p, rtol, atol, max_events, budget, seed):
        self.c = c
        self.p = c.model.constant_values if p is None else jnp.asarray(p, dtype=float)
        self.rtol, self.atol = rtol, atol
        self.max_events = max_events
        self.budget = budget
        self.state = [e.initial_value for e in c.events]
        self.pending: list[tuple[float, int, int, np.ndarray | None]] = []
        self.ready: list[tuple[int, int, np.ndarray | None]] = []
        self.seq = itertools.count()
        self.fired = 0
        self.rng = np.random.default_rng(seed)

    # --- events --------------------------------------------------------------------------------
    def _values(self, t, x, e):
        return np.asarray(self.c.values(t, x, self.p)[e])

    def _check(self, t, x):
        cur = np.asarray(self.c.triggers(t, x, self.p))
        delays = None
        for e, ev in enumerate(self.c.events):
            if cur[e] and not self.state[e]:
                if delays is None:
                    delays = np.asarray(self.c.side(t, x, self.p)[1])
                vals = self._values(t, x, e) if ev.use_trigger_values else None
                if ev.delay is not None and delays[e] > 0:
                    self.pending.append((t + float(delays[e]), next(self.seq), e, vals))
                else:
                    self.ready.append((next(self.seq), e, vals))
            elif not cur[e] and self.state[e] and not ev.persistent:
                self.pending = [q for q in self.pending if q[2] != e]
                self.ready = [q for q in self.ready if q[1] != e]
            self.state[e] = bool(cur[e])

    def _process(self, t, x):
        if not self.c.events:
            return x
        self._check(t, x)
        due = [q for q in self.pending if q[0] <= t + 1e-13 * max(1.0, abs(t))]
        self.pending = [q for q in self.pending if q not in due]
        self.ready += [(seq, e, vals) for _, seq, e, vals in sorted(due, key=lambda q: q[:2])]
        while self.ready:
            self.fired += 1
            if self.fired > self.max_events:
                raise SbmlError(f"more than {self.max_events} events; the model may loop.")
            pri = np.asarray(self.c.side(t, x, self.p)[0])
            levels = [pri[e] for _, e, _ in self.ready]
            top = [k for k, v in enumerate(levels) if v == max(levels)]
            # Ties between simultaneous events run in random order (SBML), from a seeded stream.
            best = top[0] if len(top) == 1 else int(self.rng.choice(top))
            _, e, vals = self.ready.pop(best)
            if vals is None:
                vals = self._values(t, x, e)
            x = np.asarray(self.c.apply[e](t, jnp.asarray(x), self.p, jnp.asarray(vals)))
            self._check(t, x)
        return x

    # --- integration ----------------------------------------------------------------------------
    def _segment(self, t, t_stop, x):
        c, p = self.c, self.p
        calls = [0]

        def rhs(tt, y):
            calls[0] += 1
            if calls[0] > self._limit:
                raise _Budget
            return np.asarray(c.f(tt, y, p))

        roots = []
        cache: dict[str, object] = {}

        def root_values(tt, y):
            key = (tt, y.tobytes())
            if cache.get("key") != key:
                cache["key"], cache["value"] = key, np.asarray(c.roots(tt, y, p))
            return cache["value"]

        for e in range(len(c.events)):

            def g(tt, y, e=e):
                return float(root_values(tt, y)[e])

            g.terminal = True
            g.direction = -1.0 if self.state[e] else 1.0
            roots.append(g)
        # LSODA first; a right-hand side with state-dependent jumps (floor, ceiling, piecewise
        # in a species) can stall its stiff branch, then an explicit Runge-Kutta pair takes over.
        for method, budget in (("LSODA", 20_000), ("DOP853", self.budget)):
            kwargs = {"jac": lambda tt, y: np.asarray(c.jac(tt, y, p))} if method == "LSODA" else {}
            calls[0] = 0
            self._limit = budget
            try:
                sol = scipy.integrate.solve_ivp(
                    rhs,
                    (t, t_stop),
                    x,
                    method=method,
                    dense_output=True,
                    events=roots or None,
                    rtol=self.rtol,
                    atol=self.atol,
                    max_step=self.max_step,
                    **kwargs,
                )
            except _Budget:
                continue
            if sol.status >= 0:
                return sol
        return None

    def run(self, ts: np.ndarray) -> tuple[np.ndarray, bool]:
        model = self.c.model
        x = np.asarray(model.initial_state(self.p), dtype=float)
        # Roots are found between solver steps: with events, no step spans more than a tenth
        # of an output interval, so a trigger that flips and flips back within a long step
        # (a narrow window such as 0.18 < S < 0.19) is not missed.
        gaps = np.diff(ts)
        gaps = gaps[gaps > 0]
        self.max_step = float(gaps.min()) / 10 if self.c.events and gaps.size else np.inf
        n = x.shape[0]
        xs = np.full((len(ts), n), np.nan)
        t, t_end = float(ts[0]), float(ts[-1])
        jumps = np.asarray(model.jump_times(self.p), dtype=float)
        jumps = np.sort(jumps[np.isfinite(jumps)])
        x = self._process(t, x)
        k = 0  # next output index
        while True:
            while k < len(ts) and ts[k] <= t:
                xs[k] = x
                k += 1
            if t >= t_end:
                return xs, True
            stops = [t_end, *(q[0] for q in self.pending), *jumps[jumps > t]]
            t_stop = min(stops)
            if n == 0 or t_stop <= t:
                t_new, x_new = t_stop, x
                # no state: triggers depend on time only; step to the next root by sampling
                if n == 0 and self.c.events:
                    t_new = self._time_only_root(t, t_stop, x)
                self._record(ts, xs, k, t, t_new, None, x)
                k = np.searchsorted(ts, t_new, side="left")
                t, x = t_new, x_new
                x = self._process(t, x)
                continue
            sol = self._segment(t, t_stop, x)
            if sol is None:
                return xs, False
            t_new = float(sol.t[-1])
            inside = (ts > t) & (ts < t_new) if sol.status == 1 else (ts > t) & (ts < t_stop)
            if inside.any():
                xs[inside] = sol.sol(ts[inside]).T
            k = int(np.searchsorted(ts, t_new, side="left"))
            x = sol.y[:, -1]
            if sol.status == 1:
                if t_stop - t_new <= 1e-9 * max(1.0, abs(t_stop)):
                    # The root is the stop itself (a trigger like `time >= t*`): land on it
                    # exactly, so triggers comparing time with t* see t = t*.
                    x, t_new = sol.sol(t_stop), t_stop
                else:
                    x = self._past_root(sol, t_new, x)
                    t_new = self._t_after
            t = t_new
            x = self._process(t, x)

    def _past_root(self, sol, t_r, x):
        """The state just past a located root, so the trigger shows its new value."""
        self._t_after = t_r
        cur = np.asarray(self.c.triggers(t_r, x, self.p))
        if any(bool(cur[e]) != self.state[e] for e in range(len(self.state))):
            return x
        dt = 1e-12 * max(1.0, abs(t_r))
        for _ in range(40):
            t2 = t_r + dt
            x2 = np.asarray(self.c.f(t_r, x, self.p)) * dt + x
            cur = np.asarray(self.c.triggers(t2, x2, self.p))
            if any(bool(cur[e]) != self.state[e] for e in range(len(self.state))):
                self._t_after = t2
                return x2
            dt *= 2.0
        return x

    def _time_only_root(self, t, t_stop, x):
        """Next time in (t, t_stop] where a trigger changes, for models without states."""
        if t_stop <= t:
            return t_stop
        grid = np.linspace(t, t_stop, 2001)[1:]
        for a, b in itertools.pairwise([t, *grid]):
            cur = np.asarray(self.c.triggers(b, x, self.p))
            if any(bool(cur[e]) != self.state[e] for e in range(len(self.state))):
                lo, hi = a, b
                for _ in range(60):
                    mid = 0.5 * (lo + hi)
                    c2 = np.asarray(self.c.triggers(mid, x, self.p))
                    if any(bool(c2[e]) != self.state[e] for e in range(len(self.state))):
                        hi = mid
                    else:
                        lo = mid
                return hi
        return t_stop

    @staticmethod
    def _record(ts, xs, k, t, t_new, sol, x):
        inside = (ts > t) & (ts < t_new)
        xs[inside] = x
