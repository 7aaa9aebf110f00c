"""The PEtab objective as one compiled JAX function of theta.

Conditions are stacked and solved as vmapped batches (one batch per group of simulations with
the same kind of work, see `measurements.Group`), observables are evaluated per observable on
its rows, and the negative log-likelihood is summed. Everything that depends on the tables is
an integer index array or a compile-time constant, so one trace serves every theta.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._models.vector_field import AbstractVectorField
from .._sbml.event_rules import EventRules
from .._sensitivity.base import AbstractSensitivity
from .._simulation.batch import map_simulations
from .._simulation.problem import ODEProblem, SolveOutput
from .event_solve import fire_due, initial_states, solve_with_events
from .formulas import Formula
from .noise import negative_log_likelihood, residual
from .parameters import to_linear
from .preequilibration import is_steady, steady_grid


def flatten(a: Array) -> Array:
    """(U, W, n) -> (U W, n), also for n = 0 (a model without states)."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


NOISE_OFFSET = 50.0  # keeps log(2 pi sigma^2) + offset > 0 for sigma > 1e-11 (see `residuals`)


class Frozen:
    """Holds the model in a static field: it is a compile-time constant of the objective (its
    arrays are not optimisation parameters). `key` says when two models are the same constant
    (the loader passes a hash of the model file, so loading a problem again reuses the compiled
    objective); without a key, models compare by identity."""

    __slots__ = ("key", "value")

    def __init__(self, value: Any, key: object = None):
        self.value = value
        self.key = ("id", id(value)) if key is None else key

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Frozen) and (other.value is self.value or other.key == self.key)


class ConditionField(AbstractVectorField):
    """The model under one condition: dx/dt = rhs(t, x, p) with the condition's constants p.

    p is the only floating-point array, so a sensitivity method differentiates with respect to
    the condition's constants (and x0), never the model's internal tables.
    """

    model: Frozen = eqx.field(static=True)
    p: Float[Array, " P"]

    def __call__(self, t, x, u):
        return self.model.value.rhs(t, x, self.p)


class SolverSettings(eqx.Module):
    """Tolerances and limits of every solve of the objective (AMICI's reference: 1e-8)."""

    solver: diffrax.AbstractSolver
    rtol: float = eqx.field(static=True, default=1e-8)
    atol: float = eqx.field(static=True, default=1e-8)
    max_steps: int = eqx.field(static=True, default=20_000)
    steady_state_time: float = eqx.field(static=True, default=1e6)
    steady_state_tol: float = eqx.field(static=True, default=1e-6)
    # Room for event firings (or re-armings) per solve; None: one per event of the model.
    max_event_stops: int | None = eqx.field(static=True, default=None)


def controller(
    settings: SolverSettings, model: Any, p: Array
) -> diffrax.AbstractStepSizeController:
    """PI control to rtol/atol; when the model knows the times of its input switches
    (`jump_times(p)`), the steps land exactly on them."""
    pid = diffrax.PIDController(
        rtol=settings.rtol, atol=settings.atol, pcoeff=0.3, icoeff=0.3, dtmin=None
    )
    jump_times = getattr(model, "jump_times", None)
    if jump_times is None:
        return pid
    # Switch times are not differentiated (as for every sensitivity method's time grid); a
    # tangent on them would reach the custom derivative rules' non-differentiable arguments.
    jumps = jax.lax.stop_gradient(jump_times(p))
    if jumps is None or jumps.shape[0] == 0:
        return pid
    return diffrax.ClipStepSizeController(pid, jump_ts=jumps)


def make_problem(
    model: Frozen,
    settings: SolverSettings,
    p: Array,
    x0: Array,
    ts: Array,
    t0: Array | float = 0.0,
) -> ODEProblem:
    """The ODE problem x(ts) from x(t0) = x0 under the condition's constants p."""
    return ODEProblem(
        ConditionField(model, p),
        None,
        x0,
        jnp.asarray(t0, x0.dtype),
        ts,
        settings.solver,
        controller(settings, model.value, p),
        settings.max_steps,
        None,
    )


def solve(
    model: Frozen,
    p: Array,
    x0: Array,
    ts: Array,
    settings: SolverSettings,
    sensitivity: AbstractSensitivity,
    t0: Array | float = 0.0,
) -> SolveOutput:
    """x(ts) from x(t0) = x0 under constants p, differentiable by `sensitivity`."""
    return sensitivity.solve(make_problem(model, settings, p, x0, ts, t0))


class GroupArrays(eqx.Module):
    """One batch of PEtab v1 simulations (see `measurements.Group`) as index arrays."""

    p_sim: Int[Array, "U P"]
    species_sim: Int[Array, "U S"]
    reinit: Array  # (U, n) bool: states re-initialised by the simulation condition after preeq
    p_pre: Int[Array, "U P"] | None
    species_pre: Int[Array, "U S"] | None
    ts: Float[Array, "U T"]
    has_dynamic: bool = eqx.field(static=True)
    has_steady: bool = eqx.field(static=True)

    def simulate(
        self, objective: Objective, pool: Array, sensitivity: AbstractSensitivity
    ) -> tuple[Float[Array, "N n"], Float[Array, "N P"], Array]:
        """States and model constants at every output of the batch (simulation-major), and
        whether every solve succeeded. Events run from time 0 of the pre-equilibration (their
        trigger states carried into the simulation) or of the simulation."""
        p_sim, x_sim = jax.vmap(lambda pi, si: objective.initial(pool, pi, si))(
            self.p_sim, self.species_sim
        )
        ok = jnp.array(True)
        zero = jnp.zeros(x_sim.shape[0], x_sim.dtype)
        triggers = objective.initial_triggers(x_sim.shape[0])
        if self.p_pre is not None:
            p_pre, x_pre0 = jax.vmap(lambda pi, si: objective.initial(pool, pi, si))(
                self.p_pre, self.species_pre
            )
            x_pre0, triggers = objective.fire(zero, x_pre0, p_pre, triggers)
            x_pre, triggers, good = objective.settle(p_pre, x_pre0, sensitivity, triggers)
            ok = ok & good
            x_sim = jnp.where(self.reinit, x_sim, x_pre)
        x_sim, triggers = objective.fire(zero, x_sim, p_sim, triggers)
        parts = []
        x_last, t_last = x_sim, zero
        if self.has_dynamic:
            xs, triggers, good = objective.solve_batch(p_sim, x_sim, self.ts, sensitivity, triggers)
            ok = ok & good
            parts.append(xs)
            x_last, t_last = xs[:, -1], self.ts[:, -1]
        if self.has_steady:
            x_ss, _, good = objective.settle(p_sim, x_last, sensitivity, triggers, t_last)
            ok = ok & good
            parts.append(x_ss[:, None, :])
        xs = jnp.concatenate(parts, axis=1)
        ps = jnp.broadcast_to(p_sim[:, None, :], (*xs.shape[:2], p_sim.shape[-1]))
        return flatten(xs), flatten(ps), ok


class ObservableRows(eqx.Module):
    """The measurement rows of one observable."""

    rows: Int[Array, " r"]  # positions in the measurement table
    output_row: Int[Array, " r"]
    times: Float[Array, " r"]
    observable_pars: Int[Array, "r K"]
    noise_pars: Int[Array, "r L"]
    observable: Formula = eqx.field(static=True)
    noise: Formula = eqx.field(static=True)
    observable_names: tuple[str, ...] = eqx.field(static=True)
    noise_names: tuple[str, ...] = eqx.field(static=True)
    observable_id: str = eqx.field(static=True, default="")


class Objective(eqx.Module):
    """The compiled pieces of a PEtab problem: theta -> simulations -> negative log-likelihood."""

    model: Frozen = eqx.field(static=True)
    fixed: Float[Array, " F"]
    scale_codes: Int[Array, " k"]
    species_ids: tuple[str, ...] = eqx.field(static=True)
    groups: tuple[Any, ...]  # GroupArrays (v1) or experiments.ExperimentGroup (v2)
    observables: tuple[ObservableRows, ...]
    table_names: tuple[str, ...] = eqx.field(static=True)  # parameter-table ids for formulas
    table_index: Int[Array, " q"]
    values: Float[Array, " M"]
    transform: Int[Array, " M"]
    laplace: Array  # (M,) bool
    settings: SolverSettings
    varying_noise: Int[Array, " v"]  # rows whose sigma depends on theta (see `residuals`)
    aliases: tuple[tuple[str, str], ...] = eqx.field(static=True, default=())  # v2 mapping
    events: Frozen | None = eqx.field(static=True, default=None)  # EventRules of the model

    def pool(self, theta: Float[Array, " k"]) -> Float[Array, " N"]:
        """[linear values of the estimated parameters | fixed numbers]."""
        return jnp.concatenate([to_linear(theta, self.scale_codes), self.fixed])

    def initial(self, pool: Array, p_index: Array, species_index: Array) -> tuple[Array, Array]:
        """(p, x0) of a v1 condition: constants by pool index, initial values overridden where
        `species_index` >= 0."""
        p = pool[p_index]
        values = jnp.where(species_index >= 0, pool[jnp.maximum(species_index, 0)], jnp.nan)
        overrides = {s: values[i] for i, s in enumerate(self.species_ids)}
        return p, self.model.value.initial_state(p, overrides)

    @property
    def rules(self) -> EventRules | None:
        """The model's events (None: it has none)."""
        return None if self.events is None else self.events.value

    def initial_triggers(self, batch: int) -> Bool[Array, "U E"]:
        """Every simulation's trigger states before its first time (E = 0 without events)."""
        if self.rules is None:
            return jnp.zeros((batch, 0), dtype=bool)
        return initial_states(self.rules, batch)

    def fire(
        self,
        ts: Float[Array, " U"],
        xs: Float[Array, "U n"],
        ps: Float[Array, "U P"],
        states: Bool[Array, "U E"],
    ) -> tuple[Float[Array, "U n"], Bool[Array, "U E"]]:
        """Run the events due at each simulation's time (after the changes of that time)."""
        if self.rules is None:
            return xs, states
        return jax.vmap(partial(fire_due, self.rules))(ts, xs, ps, states)

    def solve_one(
        self,
        p: Float[Array, " P"],
        x: Float[Array, " n"],
        ts: Float[Array, " T"],
        t0: Array,
        state: Bool[Array, " E"],
        sensitivity: AbstractSensitivity,
    ) -> tuple[Float[Array, "T n"], Bool[Array, " E"], Array]:
        """x(ts) from x(t0) = x under constants p, with the model's events from the trigger
        states `state`; the trigger states at ts[-1] and whether the solve succeeded."""
        if self.rules is None:
            out = solve(self.model, p, x, ts, self.settings, sensitivity, t0)
            return out.xs, state, out.result == diffrax.RESULTS.successful
        stops = self.settings.max_event_stops
        return solve_with_events(
            self.rules,
            partial(make_problem, self.model, self.settings),
            sensitivity,
            p,
            x,
            ts,
            t0,
            state,
            len(self.rules) if stops is None else stops,
        )

    def solve_batch(
        self,
        ps: Float[Array, "U P"],
        xs: Float[Array, "U n"],
        grids: Float[Array, "U T"],
        sensitivity: AbstractSensitivity,
        states: Bool[Array, "U E"],
        t0: Float[Array, " U"] | None = None,
    ) -> tuple[Float[Array, "U T n"], Bool[Array, "U E"], Array]:
        """x on each simulation's grid from its (p, x) and trigger states at t0 (default 0),
        one batched solve (`map_simulations`); the trigger states at the grids' ends and
        whether every solve succeeded."""
        t0 = jnp.zeros(xs.shape[0], xs.dtype) if t0 is None else t0
        out, states, good = map_simulations(
            lambda p, x, ts, t, s: self.solve_one(p, x, ts, t, s, sensitivity),
            ps,
            xs,
            grids,
            t0,
            states,
        )
        return out, states, jnp.all(good)

    def settle(
        self,
        ps: Float[Array, "U P"],
        xs: Float[Array, "U n"],
        sensitivity: AbstractSensitivity,
        states: Bool[Array, "U E"],
        t0: Float[Array, " U"] | None = None,
    ) -> tuple[Float[Array, "U n"], Bool[Array, "U E"], Array]:
        """The steady state reached from each (p, x) at time t0 (default 0; see
        `preequilibration`), one batched solve (`map_simulations`); the trigger states there and whether every
        simulation reached it."""
        t0 = jnp.zeros(xs.shape[0], xs.dtype) if t0 is None else t0
        grids = t0[:, None] + steady_grid(self.settings, xs.dtype)[None, :]
        out, states, good = self.solve_batch(ps, xs, grids, sensitivity, states, t0)
        x_ss = out[:, -1]
        rhs, tol = self.model.value.rhs, self.settings.steady_state_tol
        steady = jax.vmap(lambda x, p, t: is_steady(rhs, t, x, p, tol))(x_ss, ps, grids[:, 0])
        return x_ss, states, good & jnp.all(steady)

    def environment(self, pool: Array, t: Array, x: Array, p: Array) -> dict[str, Array]:
        """The names a PEtab formula may use at (t, x, p): parameter-table ids, the model's
        symbols (overriding table ids that are model constants) and `time`."""
        table = pool[self.table_index]
        env = {name: table[i] for i, name in enumerate(self.table_names)}
        env.update(self.model.value.symbols(t, x, p))
        env.update({petab_id: env[model_id] for petab_id, model_id in self.aliases})
        env["time"] = t
        env["t"] = t
        return env

    def outputs(
        self, theta: Float[Array, " k"], sensitivity: AbstractSensitivity
    ) -> tuple[Float[Array, "N n"], Float[Array, "N P"], Array]:
        """States and model constants at every output of every simulation (stacked as the
        layout says), and whether every solve succeeded."""
        pool = self.pool(theta)
        xs, ps, ok = [], [], jnp.array(True)
        for g in self.groups:
            x, p, good = g.simulate(self, pool, sensitivity)
            xs.append(x)
            ps.append(p)
            ok = ok & good
        return jnp.concatenate(xs, axis=0), jnp.concatenate(ps, axis=0), ok

    def observe(
        self, theta: Float[Array, " k"], sensitivity: AbstractSensitivity
    ) -> tuple[Float[Array, " M"], Float[Array, " M"], Array]:
        """Simulated observable y and noise sigma at every measurement row, and success."""
        pool = self.pool(theta)
        states, constants, ok = self.outputs(theta, sensitivity)
        t_ss = self.settings.steady_state_time
        ys, sigmas, rows = [], [], []
        for o in self.observables:

            def one(t, x, p, obs_idx, noise_idx, o=o):
                t = jnp.where(jnp.isinf(t), t_ss, t)
                env = self.environment(pool, t, x, p)
                obs_vals, noise_vals = pool[obs_idx], pool[noise_idx]
                env.update({n: obs_vals[k] for k, n in enumerate(o.observable_names)})
                env.update({n: noise_vals[k] for k, n in enumerate(o.noise_names)})
                y = jnp.asarray(o.observable(env), dtype=x.dtype)
                env[o.observable_id] = y  # a noise formula may use the simulated value
                sigma = jnp.asarray(o.noise(env), dtype=x.dtype)
                return y, sigma

            y, sigma = jax.vmap(one)(
                o.times,
                states[o.output_row],
                constants[o.output_row],
                o.observable_pars,
                o.noise_pars,
            )
            ys.append(y)
            sigmas.append(sigma)
            rows.append(o.rows)
        order = jnp.argsort(jnp.concatenate(rows))
        return jnp.concatenate(ys)[order], jnp.concatenate(sigmas)[order], ok

    def nllh(self, theta: Float[Array, " k"], sensitivity: AbstractSensitivity) -> Array:
        """-log L(theta) = sum over rows of -log p(m | y, sigma); inf when a solve failed."""
        y, sigma, ok = self.observe(theta, sensitivity)
        terms = negative_log_likelihood(y, self.values, sigma, self.transform, self.laplace)
        return jnp.where(ok, jnp.sum(terms), jnp.inf)

    def evaluate(self, theta: Float[Array, " k"], sensitivity: AbstractSensitivity) -> tuple:
        """(nllh, chi2, y, sigma) from one simulation."""
        y, sigma, ok = self.observe(theta, sensitivity)
        terms = negative_log_likelihood(y, self.values, sigma, self.transform, self.laplace)
        chi2 = jnp.sum(residual(y, self.values, sigma, self.transform) ** 2)
        return jnp.where(ok, jnp.sum(terms), jnp.inf), chi2, y, sigma

    def residuals(
        self, theta: Float[Array, " k"], sensitivity: AbstractSensitivity
    ) -> tuple[Float[Array, " R"], Array]:
        """The objective as a sum of squares, for Gauss–Newton and trust-region least squares.

        For normal noise, -log L = 1/2 sum_m (r_m^2 + log(2 pi sigma_m^2)) + const with the
        weighted residuals r_m = (h(m) - h(y)) / sigma_m. A row whose sigma depends on theta
        adds the noise residual s_m = sqrt(log(2 pi sigma_m^2) + NOISE_OFFSET), so that
        1/2 |[r; s]|^2 = -log L + const: the residuals' Jacobian gives the Gauss–Newton
        approximation of the Hessian including the estimated noise. Only for normal noise
        (`laplace` rows have no smooth residual form). Returns ([r; s], every solve succeeded).
        """
        y, sigma, ok = self.observe(theta, sensitivity)
        r = residual(y, self.values, sigma, self.transform)
        s = sigma[self.varying_noise]
        noise = jnp.sqrt(jnp.log(2 * jnp.pi * s**2) + NOISE_OFFSET)
        return jnp.concatenate([r, noise]), ok

    def chi2(self, theta: Float[Array, " k"], sensitivity: AbstractSensitivity) -> Array:
        """sum of squared weighted residuals ((h(m) - h(y)) / sigma)^2."""
        y, sigma, _ = self.observe(theta, sensitivity)
        return jnp.sum(residual(y, self.values, sigma, self.transform) ** 2)


def as_int(a: np.ndarray) -> Array:
    return jnp.asarray(np.asarray(a, dtype=np.int64))
