"""PEtab v2 experiments: conditions applied in time, laid out as one compiled objective.

A v2 experiment is a sequence of *periods*. A period starts at a time t_k with the changes of
its conditions (targetId = targetValue, all evaluated at once at (t_k, x(t_k⁻), p) and then
assigned; values persist until changed again); a period at time -inf is the pre-equilibration:
its changes are applied to the model's initial state, which is then run to steady state. A
measurement at time t belongs to the last period with t_k <= t (so a measurement at t_k sees
the changes of that period); one at time inf is the steady state after the last period.

Experiments with the same shape of work (pre-equilibration or not, number of periods, whether
the last period is integrated, steady-state rows or not) form a *batch*: each period is one
vmapped solve over the batch from its start times to its padded output grid, whose last entry is
the period's end. Only the changes, which are formulas, are evaluated experiment by experiment.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jaxtyping import Array, Float, Int

from .._sensitivity.base import AbstractSensitivity
from .errors import PetabError, where
from .formulas import Formula, parse_formula
from .measurements import (
    MeasurementLayout,
    observable_of,
    placeholder_indices,
    stack_placeholders,
    time_and_value,
)

if TYPE_CHECKING:
    from .conditions import Pool
    from .objective import Objective
    from .tables import PetabFiles

Changes = tuple[tuple[str, Formula], ...]
"""(target id, formula of its new value) of the conditions of one period."""


@dataclass(frozen=True)
class Plan:
    """One experiment: the changes before pre-equilibration (None: no pre-equilibration) and
    its periods' start times and changes, in time order."""

    id: str
    preequilibration: Changes | None
    starts: tuple[float, ...]
    changes: tuple[Changes, ...]


def _text(cell: object) -> str:
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return ""
    return str(cell).strip()


def read_plans(
    files: PetabFiles,
    settable: set[str],
    known: set[str],
    aliases: dict[str, str],
) -> dict[str, Plan]:
    """The experiments of a v2 problem, with every condition change parsed and checked.

    A target must be settable in the model (`settable`: constants, species, rate-rule targets;
    `aliases` maps mapping-table ids to model ids); a target value may use `known` names.
    """
    cond_file = files.name("condition")
    conditions: dict[str, list[tuple[str, Formula]]] = {}
    for row, (_, rec) in enumerate(files.conditions.iterrows(), start=2):
        cid = _text(rec["conditionId"])
        target = _text(rec["targetId"])
        target = aliases.get(target, target)
        if target not in settable:
            raise PetabError(
                f"{where(cond_file, row, 'targetId')} ({cid}): {target!r} cannot be changed by "
                "a condition: it is not a parameter, compartment or species of the model (or the "
                "model computes it by a rule or an initial assignment)."
            )
        if _text(rec["targetValue"]) == "":
            raise PetabError(
                f"{where(cond_file, row, 'targetValue')} ({cid}): no value for {target!r}; write "
                "a number or a formula."
            )
        formula = parse_formula(rec["targetValue"], cond_file, row, "targetValue", cid)
        unknown = sorted(formula.names - known)
        if unknown:
            raise PetabError(
                f"{where(cond_file, row, 'targetValue')} ({cid}): unknown name(s) "
                f"{', '.join(map(repr, unknown))} in {formula.text!r}; a target value may use "
                "model symbols, parameter-table ids and `time`."
            )
        changes = conditions.setdefault(cid, [])
        if any(t == target for t, _ in changes):
            raise PetabError(
                f"{where(cond_file, row, 'targetId')}: condition {cid!r} changes {target!r} twice."
            )
        changes.append((target, formula))

    exp_file = files.name("experiment")
    periods: dict[str, dict[float, list[tuple[str, int]]]] = {}
    experiments = files.experiments if files.experiments is not None else pd.DataFrame()
    for row, (_, rec) in enumerate(experiments.iterrows(), start=2):
        eid = _text(rec["experimentId"])
        try:
            t = float(rec["time"])
        except (TypeError, ValueError):
            raise PetabError(
                f"{where(exp_file, row, 'time')} ({eid}): the period start {rec['time']!r} is not "
                "a number (-inf marks a pre-equilibration)."
            ) from None
        if math.isnan(t) or t == math.inf:
            raise PetabError(
                f"{where(exp_file, row, 'time')} ({eid}): a period starts at a finite time or at "
                f"-inf (pre-equilibration), not at {t}."
            )
        cid = _text(rec.get("conditionId"))
        if cid and cid not in conditions:
            raise PetabError(
                f"{where(exp_file, row, 'conditionId')} ({eid}): unknown condition {cid!r}; add "
                "its changes to the condition table."
            )
        periods.setdefault(eid, {}).setdefault(t, []).append((cid, row))

    plans: dict[str, Plan] = {}
    for eid, by_time in periods.items():
        merged = {t: _merge(conditions, cids, exp_file, eid) for t, cids in by_time.items()}
        starts = tuple(sorted(t for t in merged if math.isfinite(t)))
        if not starts:  # only a pre-equilibration: the experiment then runs from time 0
            merged[0.0] = ()
            starts = (0.0,)
        plans[eid] = Plan(
            id=eid,
            preequilibration=merged.get(-math.inf),
            starts=starts,
            changes=tuple(merged[t] for t in starts),
        )
    return plans


def _merge(
    conditions: dict[str, list[tuple[str, Formula]]],
    cids: list[tuple[str, int]],
    file: str,
    eid: str,
) -> Changes:
    """The changes of the conditions that start together, checked for clashing targets."""
    out: list[tuple[str, Formula]] = []
    for cid, row in cids:
        for target, formula in conditions.get(cid, []) if cid else []:
            if any(t == target for t, _ in out):
                raise PetabError(
                    f"{where(file, row, 'conditionId')} ({eid}): {target!r} is changed by two "
                    "conditions that start at the same time."
                )
            out.append((target, formula))
    return tuple(out)


DEFAULT_EXPERIMENT = Plan("", None, (0.0,), ((),))
"""A measurement without experimentId: the model from time 0, no changes."""


@dataclass(frozen=True)
class Batch:
    """Experiments simulated together: their plans, and per period their start times (U,) and
    padded output grids (U, width + 1) whose last column is the period's end."""

    plans: tuple[Plan, ...]
    starts: np.ndarray  # (K, U)
    grids: tuple[np.ndarray, ...]
    widths: tuple[int, ...]
    has_preeq: bool
    solve_last: bool
    has_steady: bool

    @property
    def n_outputs(self) -> int:
        return sum(self.widths) + int(self.has_steady)


def layout_experiments(
    df: pd.DataFrame,
    file: str,
    observable_ids: tuple[str, ...],
    n_obs_placeholders: dict[str, int],
    n_noise_placeholders: dict[str, int],
    plans: dict[str, Plan],
    pool: Pool,
) -> MeasurementLayout:
    """Check every measurement row of a v2 table and lay the experiments out in batches."""
    obs_pos = {o: i for i, o in enumerate(observable_ids)}
    rows = []
    for row, (_, rec) in enumerate(df.iterrows(), start=2):
        oid = observable_of(rec, obs_pos, file, row)
        eid = _text(rec.get("experimentId"))
        plan = plans.get(eid, DEFAULT_EXPERIMENT if eid == "" else None)
        if plan is None:
            raise PetabError(
                f"{where(file, row, 'experimentId')}: unknown experiment {eid!r}; add it to the "
                "experiment table."
            )
        t, value = time_and_value(rec, file, row)
        k = len(plan.starts) if math.isinf(t) else bisect.bisect_right(plan.starts, t) - 1
        if k < 0 or t == -math.inf:
            raise PetabError(
                f"{where(file, row, 'time')}: time {t} is before experiment {eid!r} starts (at "
                f"{plan.starts[0]})."
            )
        ph_obs, ph_noise = placeholder_indices(
            rec,
            df.columns,
            file,
            row,
            oid,
            n_obs_placeholders[oid],
            n_noise_placeholders[oid],
            pool,
        )
        rows.append((plan, k, t, obs_pos[oid], ph_obs, ph_noise, value))

    used: dict[str, Plan] = {}
    for plan, *_ in rows:
        used.setdefault(plan.id, plan)
    collected = {eid: [set() for _ in plan.starts] for eid, plan in used.items()}
    steady = dict.fromkeys(used, False)
    for plan, k, t, *_ in rows:
        if math.isinf(t):
            steady[plan.id] = True
        else:
            collected[plan.id][k].add(t)
    times = {eid: [sorted(ts) for ts in sets] for eid, sets in collected.items()}
    kinds: dict[tuple, list[Plan]] = {}
    for eid, plan in used.items():
        key = (
            plan.preequilibration is not None,
            len(plan.starts),
            bool(times[eid][-1]),
            steady[eid],
        )
        kinds.setdefault(key, []).append(plan)

    batches, where_exp, offset = [], {}, 0
    for (has_preeq, n_periods, solve_last, has_steady), members in kinds.items():
        widths = tuple(max(len(times[p.id][k]) for p in members) for k in range(n_periods))
        grids = []
        for k, width in enumerate(widths):
            grid = np.zeros((len(members), width + 1))
            for u, plan in enumerate(members):
                out = times[plan.id][k]
                end = plan.starts[k + 1] if k + 1 < n_periods else max(out, default=plan.starts[k])
                grid[u, : len(out)] = out
                grid[u, len(out) :] = end
            grids.append(grid)
        batch = Batch(
            plans=tuple(members),
            starts=np.array([[p.starts[k] for p in members] for k in range(n_periods)]),
            grids=tuple(grids),
            widths=widths,
            has_preeq=has_preeq,
            solve_last=solve_last,
            has_steady=has_steady,
        )
        for u, plan in enumerate(members):
            where_exp[plan.id] = (offset, u, batch)
        offset += len(members) * batch.n_outputs
        batches.append(batch)

    out_row = np.zeros(len(rows), dtype=np.int64)
    for i, (plan, k, t, *_) in enumerate(rows):
        start, u, batch = where_exp[plan.id]
        if math.isinf(t):
            position = sum(batch.widths)
        else:
            position = sum(batch.widths[:k]) + times[plan.id][k].index(t)
        out_row[i] = start + u * batch.n_outputs + position
    obs_pars = stack_placeholders([r[4] for r in rows])
    noise_pars = stack_placeholders([r[5] for r in rows])
    ids = list(used)
    return MeasurementLayout(
        groups=tuple(batches),
        output_row=out_row,
        times=np.array([r[2] for r in rows]),
        simulation=np.array([ids.index(r[0].id) for r in rows], dtype=np.int64),
        sim_condition=tuple(r[0].id for r in rows),
        observable=np.array([r[3] for r in rows], dtype=np.int64),
        observable_pars=obs_pars,
        noise_pars=noise_pars,
        values=np.array([r[6] for r in rows]),
    )


class ExperimentGroup(eqx.Module):
    """One batch of v2 experiments (see `Batch`) ready to simulate."""

    base: Int[Array, " P"]  # pool index of every model constant before any change
    starts: Float[Array, "K U"]
    grids: tuple[Float[Array, "U W"], ...]
    plans: tuple[Plan, ...] = eqx.field(static=True)
    widths: tuple[int, ...] = eqx.field(static=True)
    has_preeq: bool = eqx.field(static=True)
    solve_last: bool = eqx.field(static=True)
    has_steady: bool = eqx.field(static=True)

    @staticmethod
    def from_batch(batch: Batch, base: np.ndarray) -> ExperimentGroup:
        return ExperimentGroup(
            base=jnp.asarray(np.asarray(base, dtype=np.int64)),
            starts=jnp.asarray(batch.starts),
            grids=tuple(jnp.asarray(g) for g in batch.grids),
            plans=batch.plans,
            widths=batch.widths,
            has_preeq=batch.has_preeq,
            solve_last=batch.solve_last,
            has_steady=batch.has_steady,
        )

    def simulate(
        self, objective: Objective, pool: Array, sensitivity: AbstractSensitivity
    ) -> tuple[Float[Array, "N n"], Float[Array, "N P"], Array]:
        """States and model constants at every output of the batch (experiment-major), and
        whether every solve succeeded."""
        from .objective import flatten

        model = objective.model
        p0 = pool[self.base]
        x0 = model.value.initial_state(p0)
        n_exp = len(self.plans)
        xs = jnp.broadcast_to(x0, (n_exp, *x0.shape))
        ps = jnp.broadcast_to(p0, (n_exp, *p0.shape))
        ok = jnp.array(True)

        def apply(changes: list[Changes], ts: Array, xs: Array, ps: Array):
            if not any(changes):
                return xs, ps
            new_x, new_p = [], []
            for u, change in enumerate(changes):
                x, p = xs[u], ps[u]
                if change:
                    env = objective.environment(pool, ts[u], x, p)
                    values = {target: jnp.asarray(f(env), x.dtype) for target, f in change}
                    x, p = model.value.assign(ts[u], x, p, values)
                new_x.append(x)
                new_p.append(p)
            return jnp.stack(new_x), jnp.stack(new_p)

        triggers = objective.initial_triggers(n_exp)
        if self.has_preeq:
            changes = [plan.preequilibration or () for plan in self.plans]
            zero = jnp.zeros(n_exp, x0.dtype)
            xs, ps = apply(changes, zero, xs, ps)
            xs, triggers = objective.fire(zero, xs, ps, triggers)
            xs, triggers, good = objective.settle(ps, xs, sensitivity, triggers)
            ok = ok & good
        parts: list[tuple[Array, Array]] = []
        for k, width in enumerate(self.widths):
            t0 = t_now = self.starts[k]
            xs, ps = apply([plan.changes[k] for plan in self.plans], t0, xs, ps)
            # Events due at a period's start run after its changes (SBML time t0 semantics).
            xs, triggers = objective.fire(t0, xs, ps, triggers)
            if k + 1 < len(self.widths) or self.solve_last:
                out, triggers, good = objective.solve_batch(
                    ps, xs, self.grids[k], sensitivity, triggers, t0
                )
                ok = ok & good
                if width:
                    parts.append((out[:, :width], ps))
                xs, t_now = out[:, -1], self.grids[k][:, -1]
        if self.has_steady:
            # The steady state is approached from where the experiment ends (time-dependent
            # triggers then keep their meaning).
            x_ss, _, good = objective.settle(ps, xs, sensitivity, triggers, t_now)
            ok = ok & good
            parts.append((x_ss[:, None, :], ps))
        states = jnp.concatenate([x for x, _ in parts], axis=1)
        constants = jnp.concatenate(
            [jnp.broadcast_to(p[:, None, :], (*x.shape[:2], p.shape[-1])) for x, p in parts],
            axis=1,
        )
        return flatten(states), flatten(constants), ok
