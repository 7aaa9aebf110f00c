"""The parts of SBML events as pure JAX functions of (t, x, p).

`EventRules` is what an event simulation needs, written once: `simulate_sbml` jit-compiles
these pieces around SciPy's root-finding solver, and a differentiable event solve can trace
them. For each event it gives

- `triggers`: the truth value of every trigger;
- `roots`: a continuous function per trigger, positive where the trigger holds (a - b for a
  comparison a > b, min/max for and/or; any other condition as its truth value minus 1/2), whose
  zeros a root finder locates;
- `priorities` and `delays` (priority -inf and delay 0 where the file gives none);
- `values` (the assignments' right-hand sides) and `apply` (the state after the assignments).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array, Float

from .mathml import Expr, evaluate
from .model import SbmlModel


def root_expr(e: Expr) -> Expr:
    """A continuous function positive where the condition `e` holds, for the root finder:
    a - b for a > b (and >=), b - a for a < b, min/max for and/or, minus for not; any other
    condition becomes (e ? 1 : 0) - 1/2, a jump the root finder brackets as well."""
    if e[0] == "op":
        op, args = e[1], e[2]
        if op in ("gt", "geq") and len(args) == 2:
            return ("op", "minus", (args[0], args[1]))
        if op in ("lt", "leq") and len(args) == 2:
            return ("op", "minus", (args[1], args[0]))
        if op == "and" and args:
            return ("op", "min", tuple(root_expr(a) for a in args))
        if op == "or" and args:
            return ("op", "max", tuple(root_expr(a) for a in args))
        if op == "not" and len(args) == 1:
            return ("op", "neg", (root_expr(args[0]),))
    return ("op", "minus", (("op", "neq", (e, ("c", 0.0))), ("c", 0.5)))


class EventRules:
    """The events of one SBML model, evaluated with JAX (see the module docstring)."""

    def __init__(self, model: SbmlModel):
        self.model = model
        self.events = model.structure.events
        self._roots = tuple(root_expr(e.trigger) for e in self.events)
        self._apply = tuple(_applier(model, e.assignments) for e in self.events)

    def __len__(self) -> int:
        return len(self.events)

    def _each(self, t, x, p, exprs, default) -> Array:
        env = self.model._run_env(t, x, p)
        return jnp.stack(
            [
                jnp.asarray(default, dtype=float)
                if e is None
                else jnp.asarray(evaluate(e, env.get, env.rate, t), dtype=float)
                for e in exprs
            ]
        )

    def triggers(self, t, x, p) -> Array:
        """(E,) bool: whether each trigger holds at (t, x, p)."""
        return self._each(t, x, p, [e.trigger for e in self.events], 0.0) != 0.0

    def roots(self, t, x, p) -> Float[Array, " E"]:
        """(E,) the root functions: > 0 where the trigger holds."""
        return self._each(t, x, p, self._roots, 0.0)

    def priorities(self, t, x, p) -> Float[Array, " E"]:
        return self._each(t, x, p, [e.priority for e in self.events], -jnp.inf)

    def delays(self, t, x, p) -> Float[Array, " E"]:
        return self._each(t, x, p, [e.delay for e in self.events], 0.0)

    def values(self, t, x, p) -> tuple[Array, ...]:
        """Per event, the values of its assignments at (t, x, p), in SBML units."""
        env = self.model._run_env(t, x, p)
        return tuple(
            jnp.stack([evaluate(a, env.get, env.rate, t) for _, a in e.assignments])
            if e.assignments
            else jnp.zeros(0)
            for e in self.events
        )

    def apply(self, event: int, t, x, p, values: Array) -> Array:
        """The state after event `event` assigned `values` at time t."""
        return self._apply[event](t, x, p, values)


def _applier(model: SbmlModel, assignments) -> Callable:
    """apply(t, x, p, values) -> x after the event's assignments (SBML units -> state)."""
    s = model.structure
    index = {k: i for i, k in enumerate(s.state_ids)}
    assigned = {target for target, _ in assignments}
    # Species values are assigned (in their SBML units) with the compartment sizes before the
    # event; a concentration-valued state (rate-rule species) in a compartment the event
    # resizes then keeps its amount: c_new = c * V_old / V_new (as the test suite expects).
    rescaled = [
        (index[sid], comp)
        for sid, comp in s.species_compartment.items()
        if comp in assigned
        and sid in index
        and not s.state_is_amount[index[sid]]
        and sid not in s.amount_valued
    ]

    def apply(t, x, p, vals):
        before = model._run_env(t, x, p)
        old_sizes = {comp: before.get(comp) for _, comp in rescaled}
        # Value states (compartments, parameters, rate-rule species) take their new values;
        # species amounts are then set from concentrations times the sizes before the event.
        for k, (target, _) in enumerate(assignments):
            i = index.get(target)
            if i is not None and not s.state_is_amount[i]:
                x = x.at[i].set(vals[k])
        env = model._run_env(t, x, p)
        for i, comp in rescaled:
            x = x.at[i].multiply(old_sizes[comp] / env.get(comp))
        for k, (target, _) in enumerate(assignments):
            i = index.get(target)
            if i is not None and s.state_is_amount[i]:
                if target in s.amount_valued:
                    x = x.at[i].set(vals[k])
                else:
                    x = x.at[i].set(vals[k] * before.get(s.species_compartment[target]))
        return x

    return apply
