"""Observable and noise formulas of a PEtab problem, read by cellode's safe expression parser.

Formulas are data: they go through `cellode._networks.expressions` (a tokenizer and a
recursive-descent parser over a fixed table of functions), never through `eval` or `sympify`.
Every name must be a model symbol (species, parameter, compartment, assignment-rule target,
reaction), a parameter of the parameter table, `time`, or one of the row's placeholders
`observableParameter{k}_{observableId}` / `noiseParameter{k}_{observableId}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .._errors import ModelError
from .._networks.expressions import Expr, evaluate, free_names, parse_expression
from .errors import PetabError, where

TIME_NAMES = ("time", "t")


@dataclass(frozen=True)
class Formula:
    """A parsed formula and where it came from (for error messages)."""

    tree: Expr
    text: str
    names: frozenset[str]

    def __call__(self, env: Mapping[str, object]):
        return evaluate(self.tree, env)


def parse_formula(text: object, file: str, row: int, column: str, element: str) -> Formula:
    """Parse one table cell; a `PetabError` names the file, row, column and observable."""
    source = str(text).strip()
    try:
        tree = parse_expression(source)
    except ModelError as error:
        message = str(error).replace("rate expression", "formula")
        raise PetabError(f"{where(file, row, column)} ({element}): {message}") from None
    return Formula(tree, source, frozenset(free_names(tree)))


def placeholders(formula: Formula, kind: str, observable_id: str) -> int:
    """How many placeholders `{kind}{k}_{observable_id}` the formula uses (the largest k)."""
    pattern = re.compile(rf"^{kind}(\d+)_{re.escape(observable_id)}$")
    ks = [int(m.group(1)) for name in formula.names if (m := pattern.match(name))]
    return max(ks, default=0)
