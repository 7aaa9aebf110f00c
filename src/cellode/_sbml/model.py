"""`SbmlModel`: an SBML model as a cellode vector field, evaluated from its expression trees."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._models.vector_field import AbstractVectorField, InputValue, Scalar
from .errors import SbmlError
from .mathml import Expr, evaluate
from .structure import Structure, amount_key


class _Env:
    """Values of SBML ids at one time, computed lazily from their definitions (trace time only).

    `base` holds given values; `defs` maps ids to expressions evaluated on first use; ids found in
    neither come from `fallback` (the initial-time environment, for time-invariant ids).
    `overrides` (id -> value, NaN = keep) replace the computed value of an id.
    """

    def __init__(
        self,
        t,
        base: dict,
        defs: Mapping[str, Expr],
        rate_of: Callable[[_Env, str], object],
        fallback: _Env | None = None,
        overrides: Mapping[str, object] | None = None,
    ):
        self.t = t
        self.values = dict(base)
        self.defs = defs
        self._rate_of = rate_of
        self.fallback = fallback
        self.overrides = overrides or {}
        self._busy: set[str] = set()
        self._rates: dict[str, object] = {}
        self.point = None  # (t, x, p) of a run-time environment

    def get(self, name: str):
        if name in self.values:
            return self.values[name]
        if name in self.defs:
            if name in self._busy:
                raise SbmlError(
                    f"the definitions of {name!r} depend on each other in a cycle "
                    f"({', '.join(sorted(self._busy))}); SBML rules must be acyclic."
                )
            self._busy.add(name)
            value = evaluate(self.defs[name], self.get, self.rate, self.t)
            self._busy.discard(name)
        elif self.fallback is not None:
            value = self.fallback.get(name)
        else:
            raise SbmlError(f"no value for {name!r}")
        if name in self.overrides:
            ov = jnp.asarray(self.overrides[name], dtype=float)
            value = jnp.where(jnp.isnan(ov), value, ov)
        value = jnp.asarray(value, dtype=float)
        self.values[name] = value
        return value

    def rate(self, name: str):
        if name not in self._rates:
            self._rates[name] = self._rate_of(self, name)
        return self._rates[name]


class SbmlModel(AbstractVectorField):
    """A model read from SBML: dx/dt = f(t, x, p), with p the values of `constant_ids`.

    The state `x` (ids in `state_ids`) holds the *amount* of every species changed by reactions
    (so a varying compartment needs no special care: d(amount)/dt = conversion factor times
    sum_j stoichiometry_ij * rate_j, rates in substance/time), and the SBML value of every
    rate-rule target. `symbols(t, x, p)` gives every id in SBML units (species as concentration
    = amount / compartment size unless `hasOnlySubstanceUnits`).

    `constant_ids` are the time-invariant quantities whose value the file states directly:
    global parameters, compartment sizes, and constant or boundary species (in their SBML
    units); ids set by initial assignments are computed, not settable. Calling the model,
    `model(t, x, u)`, uses `constant_values`, so `cellode.simulate(model,
    model.initial_state(), ts)` runs it.
    """

    constant_values: Float[Array, " p"]
    structure: Structure = eqx.field(static=True)
    t0: float = eqx.field(static=True, default=0.0)

    # --- names -----------------------------------------------------------------------------------
    @property
    def state_ids(self) -> tuple[str, ...]:
        return self.structure.state_ids

    @property
    def constant_ids(self) -> tuple[str, ...]:
        return self.structure.constant_ids

    @property
    def reaction_ids(self) -> tuple[str, ...]:
        return self.structure.reaction_ids

    @property
    def symbol_ids(self) -> tuple[str, ...]:
        """Every id `symbols` returns: species, compartments, parameters, reactions, ..."""
        return self.structure.symbol_ids

    @property
    def network(self):
        """The model as a `cellode.ReactionNetwork` over the species amounts (same vector
        field, for conservation laws), or None when rate rules, conversion factors, variable
        or fractional stoichiometry, or rate laws with piecewise/relational parts prevent it."""
        from .network import network_view

        env = self._init_env(None)
        return network_view(self.structure, lambda i: float(env.get(i)))

    def with_constants(self, values: Mapping[str, float]) -> SbmlModel:
        """The model with some constants (by id) set to other values."""
        unknown = [k for k in values if k not in self.constant_ids]
        if unknown:
            raise SbmlError(
                f"{', '.join(map(repr, unknown))} not among the model's settable constants "
                f"{self.constant_ids}; initial-assignment targets and rule targets are computed."
            )
        idx = {k: i for i, k in enumerate(self.constant_ids)}
        p = np.asarray(self.constant_values, dtype=float).copy()
        for k, v in values.items():
            p[idx[k]] = v
        return eqx.tree_at(lambda m: m.constant_values, self, jnp.asarray(p))

    # --- environments ----------------------------------------------------------------------------
    def _p(self, p) -> Array:
        return self.constant_values if p is None else jnp.asarray(p, dtype=float)

    def _init_env(self, p, overrides=None) -> _Env:
        s = self.structure
        pv = self._p(p)
        base = {k: pv[i] for i, k in enumerate(s.constant_ids)}
        return _Env(self.t0, base, s.init_defs, self._rate_of, overrides=overrides)

    def _run_env(self, t, x, p) -> _Env:
        s = self.structure
        pv = self._p(p)
        base = {k: pv[i] for i, k in enumerate(s.constant_ids)}
        for i, (sid, is_amt) in enumerate(zip(s.state_ids, s.state_is_amount, strict=True)):
            base[amount_key(sid) if is_amt else sid] = x[i]
        base.update(_concentrations(s, x, pv))
        env = _Env(t, base, s.run_defs, self._rate_of, fallback=self._init_env(p))
        env.point = (t, x, p)
        return env

    def _amount_rates(self, env: _Env) -> Array:
        """d(amount)/dt of the amount states (zero rows for the other states).

        The constant stoichiometry as a sum over reactions of column_j * rate_j: every rate has
        one user, so XLA fuses the whole sum into one CPU kernel, also in the forward-sensitivity
        (tangent) system. The matrix product with the stacked rates gave the tangent system a
        kernel per reaction; row-by-row sums give a rate with several users, and a rate law
        with a division or power then gets a kernel of its own (see
        `benchmarks/petab_kernels.py`).
        """
        s = self.structure
        dn = jnp.zeros(len(s.state_ids))
        for j, reaction in enumerate(s.reaction_ids):
            column = s.stoich[:, j]
            if np.any(column != 0):
                dn = dn + jnp.asarray(column) * env.get(reaction)
        if s.dyn_stoich:
            rows = np.array([i for i, _, _ in s.dyn_stoich])
            extra = jnp.stack(
                [
                    evaluate(e, env.get, env.rate, env.t) * env.get(s.reaction_ids[j])
                    for _, j, e in s.dyn_stoich
                ]
            )
            dn = dn.at[rows].add(extra)
        if any(c is not None for c in s.conversion):
            cf = jnp.stack(
                [
                    jnp.asarray(1.0) if c is None else evaluate(c, env.get, env.rate, env.t)
                    for c in s.conversion
                ]
            )
            dn = dn * cf
        return dn

    def _species_rate(self, env: _Env, i: int):
        """d(amount)/dt of amount state i, reading only the reactions that change it (so a
        rate law may use rateOf of species it does not change)."""
        s = self.structure
        out = jnp.asarray(0.0)
        for j in np.flatnonzero(s.stoich[i]):
            out = out + float(s.stoich[i, j]) * env.get(s.reaction_ids[j])
        for row, j, e in s.dyn_stoich:
            if row == i:
                out = out + evaluate(e, env.get, env.rate, env.t) * env.get(s.reaction_ids[j])
        c = s.conversion[i]
        return out if c is None else out * evaluate(c, env.get, env.rate, env.t)

    def _rate_of(self, env: _Env, name: str):
        """d/dt of the SBML value of `name` (the csymbol rateOf)."""
        s = self.structure
        if name in s.rate_rules:
            return evaluate(s.rate_rules[name], env.get, env.rate, env.t)
        if name in s.state_ids and s.state_is_amount[s.state_ids.index(name)]:
            dn = self._species_rate(env, s.state_ids.index(name))
            if name in s.amount_valued:
                return dn
            comp = s.species_compartment[name]
            return (dn - env.get(name) * env.rate(comp)) / env.get(comp)
        if name in s.run_defs:
            # An assignment-rule target or reaction rate: its total time derivative
            # d/dt g(t, x) = dg/dt + dg/dx . dx/dt, by a forward-mode derivative.
            if env.point is None:
                t, p = env.t, None
                x = self.initial_state(p)
            else:
                t, x, p = env.point
            dx = self.rhs(t, x, p)

            def value(tt, xx):
                return self._run_env(tt, xx, p).get(name)

            tt = jnp.asarray(t, dtype=float)
            return jax.jvp(value, (tt, x), (jnp.ones_like(tt), dx))[1]
        return jnp.asarray(0.0)

    # --- the model -------------------------------------------------------------------------------
    def rhs(
        self, t: Scalar, x: Float[Array, " n"], p: Float[ArrayLike, " p"]
    ) -> Float[Array, " n"]:
        """dx/dt at time `t`, state `x`, constants `p` (ordered as `constant_ids`)."""
        s = self.structure
        env = self._run_env(t, x, p)
        dx = self._amount_rates(env)
        for i, (sid, is_amt) in enumerate(zip(s.state_ids, s.state_is_amount, strict=True)):
            if not is_amt:
                rule = s.rate_rules.get(sid)
                value = 0.0 if rule is None else evaluate(rule, env.get, env.rate, env.t)
                dx = dx.at[i].set(value)
        return dx

    def __call__(self, t: Scalar, x: Float[Array, " n"], u: InputValue) -> Float[Array, " n"]:
        return self.rhs(t, x, self.constant_values)

    def initial_state(
        self,
        p: Float[ArrayLike, " p"] | None = None,
        overrides: Mapping[str, Scalar] | None = None,
    ) -> Float[Array, " n"]:
        """x(t0) from the file's initial values, initial assignments and assignment rules.

        `overrides` maps ids to values in their SBML units (species: concentration unless
        `hasOnlySubstanceUnits`); a NaN keeps the model's value, so a fixed key set can be
        vmapped over conditions. An override replaces the id's initial assignment.
        """
        s = self.structure
        if overrides:
            unknown = [k for k in overrides if k not in s.init_defs]
            if unknown:
                raise SbmlError(
                    f"initial value given for {', '.join(map(repr, unknown))}, which the model "
                    "does not define; use a species, parameter or compartment id."
                )
            fixed = [k for k in overrides if k in s.constant_ids]
            if fixed:
                raise SbmlError(
                    f"{', '.join(map(repr, fixed))} are constants of the model: set them "
                    "through p (ordered as `constant_ids`), not as initial values."
                )
        env = self._init_env(p, overrides)
        out = []
        for sid, is_amt in zip(s.state_ids, s.state_is_amount, strict=True):
            value = env.get(sid)
            if is_amt and sid not in s.amount_valued:
                value = value * env.get(s.species_compartment[sid])
            out.append(value)
        return jnp.stack(out) if out else jnp.zeros(0)

    def symbols(
        self,
        t: Scalar,
        x: Float[Array, " n"],
        p: Float[ArrayLike, " p"] | None = None,
        ids: Iterable[str] | None = None,
    ) -> dict[str, Array]:
        """The SBML value of every id (or of `ids`) at time `t` and state `x`.

        Species in their SBML units, compartments, parameters, species-reference
        stoichiometries, assignment-rule targets, and reaction ids (= their rates).
        """
        env = self._run_env(t, x, p)
        wanted = self.symbol_ids if ids is None else tuple(ids)
        unknown = [i for i in wanted if i not in self.structure.init_defs]
        if unknown:
            raise SbmlError(f"the model defines no {', '.join(map(repr, unknown))}.")
        return {i: env.get(i) for i in wanted}

    def amounts(self, t: Scalar, x: Float[Array, " n"], p=None, ids: Iterable[str] = ()):
        """The amount of each species in `ids` (concentration times compartment size)."""
        env = self._run_env(t, x, p)
        s = self.structure
        out = {}
        for i in ids:
            v = env.get(i)
            if s.kinds.get(i) == "species" and i not in s.amount_valued:
                v = v * env.get(s.species_compartment[i])
            out[i] = v
        return out

    @property
    def settable_ids(self) -> tuple[str, ...]:
        """Ids `assign` may set: the constants and every state (species, rate-rule targets)."""
        return self.constant_ids + self.state_ids

    def assign(
        self,
        t: Scalar,
        x: Float[Array, " n"],
        p: Float[ArrayLike, " p"],
        values: Mapping[str, Scalar],
    ) -> tuple[Float[Array, " n"], Float[Array, " p"]]:
        """(x, p) after setting ids to values (SBML units) at time t, all at once.

        Constants take their new values in p, rate-rule targets in x. A species changed by
        reactions (an amount state) takes its new amount, or, if it is concentration-valued,
        the new concentration times the compartment size after the change; a
        concentration-valued species that is not assigned keeps its concentration when its
        compartment is resized (PEtab v2's rule for condition changes).
        """
        s = self.structure
        unknown = [k for k in values if k not in self.settable_ids]
        if unknown:
            raise SbmlError(
                f"{', '.join(map(repr, unknown))} cannot be set: the model computes them "
                f"(assignment rules, initial assignments, reactions); settable ids are "
                f"{self.settable_ids}."
            )
        x = jnp.asarray(x)
        before = self._run_env(t, x, p)
        pv = self._p(p)
        constant_pos = {c: i for i, c in enumerate(s.constant_ids)}
        for k, v in values.items():
            if k in constant_pos:
                pv = pv.at[constant_pos[k]].set(v)
        for i, (sid, is_amt) in enumerate(zip(s.state_ids, s.state_is_amount, strict=True)):
            if not is_amt and sid in values:
                x = x.at[i].set(values[sid])
        after = self._run_env(t, x, pv)
        for i, (sid, is_amt) in enumerate(zip(s.state_ids, s.state_is_amount, strict=True)):
            if not is_amt:
                continue
            if sid in s.amount_valued:
                if sid in values:
                    x = x.at[i].set(values[sid])
                continue
            concentration = values[sid] if sid in values else before.get(sid)
            x = x.at[i].set(concentration * after.get(s.species_compartment[sid]))
        return x, pv

    def jump_times(self, p: Float[ArrayLike, " p"] | None = None) -> Float[Array, " k"]:
        """Times t* where the right-hand side may jump: comparisons `time op t*` in the model's
        rules and rates whose t* is a constant (unique list, possibly empty)."""
        s = self.structure
        if not s.jump_exprs:
            return jnp.zeros(0)
        env = self._init_env(p)
        return jnp.stack([evaluate(e, env.get, env.rate, env.t) for e in s.jump_exprs])


def _concentrations(s: Structure, x: Array, pv: Array) -> dict[str, Array]:
    """amount / compartment size of every amount state whose compartment is a constant, by one
    vector division.

    The same numbers as the scalar divisions of `run_defs`, but XLA gives every scalar division
    with several users (a concentration appears in several rate laws) a kernel of its own, and
    on the CPU each kernel launch costs about as much as the arithmetic of a small model's whole
    right-hand side: one division for all species removes a kernel per species from every
    right-hand-side evaluation (about 40% of the kernels of a Rodas5P step on Boehm's model).
    """
    constant = {k: i for i, k in enumerate(s.constant_ids)}
    names, rows, sizes = [], [], []
    for i, sid in enumerate(s.state_ids):
        compartment = s.species_compartment.get(sid)
        quotient = ("op", "divide", (("v", amount_key(sid)), ("v", compartment)))
        if compartment in constant and s.run_defs.get(sid) == quotient:
            names.append(sid)
            rows.append(i)
            sizes.append(constant[compartment])
    if not names:
        return {}
    values = x[np.array(rows)] / pv[np.array(sizes)]
    return {sid: values[k] for k, sid in enumerate(names)}
