"""The static description of an imported SBML model: which ids are states, constants, rules.

`Structure` is what `load_sbml` builds from the file and `SbmlModel` evaluates. It holds only
Python data (expression trees from `mathml`, tuples, a NumPy stoichiometric matrix), so it can
be a static field of the model; it is compared by identity, so a model reuses its compiled code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .mathml import Expr

AMOUNT_PREFIX = "@amount:"  # never an SBML id: ids are letters, digits and '_'


def amount_key(species: str) -> str:
    """The name under which a species' amount lives in an environment."""
    return AMOUNT_PREFIX + species


@dataclass(frozen=True)
class EventSpec:
    """One SBML event: its trigger, delay, priority and assignments (expression trees)."""

    id: str
    trigger: Expr
    initial_value: bool
    persistent: bool
    delay: Expr | None
    priority: Expr | None
    use_trigger_values: bool
    assignments: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, eq=False)
class Structure:
    """Everything `SbmlModel` needs to evaluate a model; built once by `load_sbml`.

    - `state_ids`/`state_is_amount`: the ODE states; an "amount" state holds the amount of a
      species changed by reactions (dn/dt = conversion factor * sum_j stoich_ij v_j), any other
      state holds the SBML value of a rate-rule target (species in its SBML units, parameter,
      compartment, species reference).
    - `constant_ids`/`constant_values`: time-invariant quantities set directly in the file.
    - `init_defs`: id -> expression of its SBML value at the initial time (initial assignments,
      assignment rules, file values, amount/concentration conversions, reaction rates).
    - `run_defs`: id -> expression of its SBML value at any time (assignment rules, reaction
      rates, the concentration of an amount state).
    - `rate_rules`: id -> expression of d(value)/dt.
    - `stoich`: n_state x n_reactions constant stoichiometry of the amount states;
      `dyn_stoich`: (state index, reaction index, expression) for stoichiometries that are
      variables (species-reference ids, stoichiometryMath); `conversion`: per state, the
      conversion factor expression or None.
    """

    source: str
    state_ids: tuple[str, ...]
    state_is_amount: tuple[bool, ...]
    constant_ids: tuple[str, ...]
    constant_values: tuple[float, ...]
    init_defs: dict[str, Expr]
    run_defs: dict[str, Expr]
    rate_rules: dict[str, Expr]
    reaction_ids: tuple[str, ...]
    stoich: np.ndarray
    dyn_stoich: tuple[tuple[int, int, Expr], ...]
    conversion: tuple[Expr | None, ...]
    species_compartment: dict[str, str]
    amount_valued: frozenset[str]
    symbol_ids: tuple[str, ...]
    jump_exprs: tuple[Expr, ...] = ()
    time_invariant: frozenset[str] = field(default_factory=frozenset)
    kinds: dict[str, str] = field(default_factory=dict)
    events: tuple[EventSpec, ...] = ()
