"""The `ReactionNetwork` view of an SBML model (for conservation analysis and reduction)."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from .._errors import ModelError
from .._networks import expressions as ne
from .._networks.network import ExpressionRate, Reaction, ReactionNetwork
from .mathml import Expr
from .structure import Structure

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_BINARY = {"plus": "+", "minus": "-", "times": "*", "divide": "/", "power": "^"}
_CALLS = {
    "exp": "exp",
    "ln": "log",
    "abs": "abs",
    "sin": "sin",
    "cos": "cos",
    "tanh": "tanh",
    "max": "max",
    "min": "min",
}


class _NotExpressible(Exception):
    pass


def network_view(s: Structure, value_of: Callable[[str], float]) -> ReactionNetwork | None:
    """The model as a `ReactionNetwork` over the species amounts (the state), or None.

    Possible when every state is a species amount changed only by reactions with constant
    integer stoichiometry (no rate rules, conversion factors or variable stoichiometry), and
    every rate law is written with `+ - * / ^`, exp, log, abs, sin, cos, tanh, min and max
    once the assignment rules are substituted. Species concentrations become amount / size, so
    the network's vector field equals the model's. `value_of(id)` gives a time-invariant id's
    value (they become the network's parameters).
    """
    if not all(s.state_is_amount) or s.dyn_stoich or any(c is not None for c in s.conversion):
        return None
    if not np.array_equal(s.stoich, np.round(s.stoich)):
        return None
    names = (*s.state_ids, *s.reaction_ids, *s.time_invariant)
    if any(
        not _IDENT.match(n) or n in ne.FUNCTIONS or n in ne.CONSTANTS or n == ne.TIME for n in names
    ):
        return None
    try:
        reactions = []
        for j, rid in enumerate(s.reaction_ids):
            tree = _convert(s.run_defs[rid], s, depth=0)
            col = s.stoich[:, j]
            reactants = {s.state_ids[i]: int(-c) for i, c in enumerate(col) if c < 0}
            products = {s.state_ids[i]: int(c) for i, c in enumerate(col) if c > 0}
            rate = ExpressionRate(ne.to_text(tree), tree)
            reactions.append(Reaction(tuple(reactants.items()), tuple(products.items()), rate, rid))
        used = set()
        for r in reactions:
            used |= ne.free_names(r.rate.tree)
        if not used <= set(s.time_invariant) | set(s.state_ids) | {ne.TIME}:
            return None
        params = {k: float(value_of(k)) for k in sorted(used) if k in s.time_invariant}
        return ReactionNetwork(s.state_ids, tuple(reactions), params, name="sbml", strict=False)
    except (_NotExpressible, ModelError):
        return None


def _convert(e: Expr, s: Structure, depth: int) -> ne.Expr:
    if depth > 500:
        raise _NotExpressible
    kind = e[0]
    if kind == "c":
        if not np.isfinite(e[1]):
            raise _NotExpressible
        return ne.Num(e[1]) if e[1] >= 0 else ne.Neg(ne.Num(-e[1]))
    if kind == "v":
        name = e[1]
        if name.startswith("@amount:"):
            return ne.Name(name[len("@amount:") :])
        if name in s.run_defs:
            return _convert(s.run_defs[name], s, depth + 1)
        return ne.Name(name)
    if kind == "t":
        return ne.Name(ne.TIME)
    if kind == "op":
        op, args = e[1], [_convert(a, s, depth + 1) for a in e[2]]
        if op == "neg":
            return ne.Neg(args[0])
        if op in _BINARY and args:
            out = args[0]
            for a in args[1:]:
                out = ne.BinOp(_BINARY[op], out, a)
            return out
        if op in ("plus", "times") and not args:
            return ne.Num(0.0 if op == "plus" else 1.0)
        if op in _CALLS and (len(args) >= 2 or op not in ("max", "min")):
            return ne.Call(_CALLS[op], tuple(args))
    raise _NotExpressible
