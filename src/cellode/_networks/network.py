"""Reaction networks: species, reactions with stoichiometric coefficients, rate laws, S (SPEC B1).

A network with n species and m reactions has the n x m stoichiometric matrix S, S[i, j] = (number
of species i produced by reaction j) - (number consumed). With the rate vector v(t, x, u) the model
is dx/dt = S v(t, x, u).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from jaxtyping import Float, Int

from .._errors import ModelError
from .expressions import (
    CONSTANTS,
    FUNCTIONS,
    TIME,
    BinOp,
    Call,
    Expr,
    Name,
    Num,
    free_names,
    parse_expression,
    to_text,
)

if TYPE_CHECKING:
    from .._models.vector_field import AbstractVectorField
    from .conservation import ConservationLaws

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESERVED = {TIME: "time", **{c: "a constant" for c in CONSTANTS}} | {
    f: "a function" for f in FUNCTIONS
}


def _check_identifier(name: str, what: str) -> None:
    if not isinstance(name, str) or not _IDENT.match(name) or name.startswith("__"):
        raise ModelError(
            f"{what} name {name!r} is not a valid name; use letters, digits and '_', starting "
            "with a letter (e.g. 'ATP', 'k_on', 'X1')."
        )


# --- rate laws -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MassActionRate:
    """Mass action: v = k * prod_i x_i^(a_i), with a_i the reactant coefficients."""

    k: str

    def parameters(self) -> tuple[str, ...]:
        return (self.k,)

    def expression(self, reaction: Reaction) -> Expr:
        node: Expr = Name(self.k)
        for s, c in reaction.reactants:
            node = BinOp("*", node, Name(s) if c == 1 else BinOp("^", Name(s), Num(float(c))))
        return node

    def describe(self) -> str:
        return self.k


@dataclass(frozen=True)
class MichaelisMentenRate:
    """Michaelis–Menten kinetics: v = Vmax * S / (Km + S) for substrate S."""

    vmax: str
    km: str
    substrate: str

    def parameters(self) -> tuple[str, ...]:
        return (self.vmax, self.km)

    def expression(self, reaction: Reaction) -> Expr:
        return Call("michaelis_menten", (Name(self.substrate), Name(self.vmax), Name(self.km)))

    def describe(self) -> str:
        return f"rate = michaelis_menten({self.substrate}, {self.vmax}, {self.km})"


@dataclass(frozen=True)
class HillRate:
    """Hill kinetics: v = Vmax * S^n / (K^n + S^n) for activator (or substrate) S."""

    vmax: str
    k: str
    n: str
    activator: str

    def parameters(self) -> tuple[str, ...]:
        return (self.vmax, self.k, self.n)

    def expression(self, reaction: Reaction) -> Expr:
        args = (Name(self.activator), Name(self.vmax), Name(self.k), Name(self.n))
        return Call("hill", args)

    def describe(self) -> str:
        return f"rate = hill({self.activator}, {self.vmax}, {self.k}, {self.n})"


@dataclass(frozen=True)
class ExpressionRate:
    """A rate given as a text expression in species, parameters, inputs and `t`.

    Parsed by cellode's own expression parser (see `cellode._networks.expressions`), never eval-ed.
    """

    text: str
    tree: Expr = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.tree is None:
            object.__setattr__(self, "tree", parse_expression(self.text))

    def parameters(self) -> tuple[str, ...]:
        return ()  # resolved against the network's declarations (see ReactionNetwork)

    def expression(self, reaction: Reaction) -> Expr:
        return self.tree

    def describe(self) -> str:
        return f"rate = {to_text(self.tree)}"


RateLaw = MassActionRate | MichaelisMentenRate | HillRate | ExpressionRate


# --- reactions -------------------------------------------------------------------------------


def _side(side: Mapping[str, int] | Iterable[tuple[str, int]] | None, name: str, where: str):
    if side is None:
        return ()
    items = side.items() if isinstance(side, Mapping) else side
    merged: dict[str, int] = {}
    for species, coeff in items:
        _check_identifier(species, "species")
        if isinstance(coeff, bool) or not float(coeff).is_integer() or coeff <= 0:
            raise ModelError(
                f"{where}: coefficient {coeff!r} of {species!r} among the {name} is not a positive "
                "integer; stoichiometric coefficients are whole numbers >= 1 (put products on "
                "the right of the arrow instead of using negative coefficients)."
            )
        merged[species] = merged.get(species, 0) + int(coeff)
    return tuple(merged.items())


@dataclass(frozen=True)
class Reaction:
    """One reaction: sum a_i X_i -> sum b_i X_i with a rate law.

    `reactants` and `products` are (species, positive integer coefficient) pairs (or mappings),
    an empty side is synthesis (`-> X`) or degradation (`X ->`).
    """

    reactants: tuple[tuple[str, int], ...]
    products: tuple[tuple[str, int], ...]
    rate: RateLaw
    name: str | None = None

    def __post_init__(self) -> None:
        where = f"reaction {self.name!r}" if self.name else "reaction"
        object.__setattr__(self, "reactants", _side(self.reactants, "reactants", where))
        object.__setattr__(self, "products", _side(self.products, "products", where))
        if self.name is not None:
            _check_identifier(self.name, "reaction")
        if not isinstance(
            self.rate, MassActionRate | MichaelisMentenRate | HillRate | ExpressionRate
        ):
            raise ModelError(
                f"{where}: rate {self.rate!r} is not a rate law; use MassActionRate('k'), "
                "MichaelisMentenRate, HillRate or ExpressionRate('...')."
            )

    @classmethod
    def mass_action(
        cls,
        reactants: Mapping[str, int] | None,
        products: Mapping[str, int] | None,
        k: str,
        name: str | None = None,
    ) -> Reaction:
        """A mass-action reaction, e.g. `Reaction.mass_action({"A": 2}, {"A2": 1}, "k")`."""
        return cls(reactants or (), products or (), MassActionRate(k), name)  # type: ignore[arg-type]

    @property
    def order(self) -> int:
        """Molecularity: the sum of the reactant coefficients."""
        return sum(c for _, c in self.reactants)

    def equation(self) -> str:
        """The reaction written as text, e.g. `2 A + B -> C`."""

        def side(items):
            return " + ".join(s if c == 1 else f"{c} {s}" for s, c in items)

        left, right = side(self.reactants), side(self.products)
        return f"{left} -> {right}".strip()

    def __str__(self) -> str:
        prefix = f"{self.name}: " if self.name else ""
        return f"{prefix}{self.equation()} ; {self.rate.describe()}"


# --- the network -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ReactionNetwork:
    """Species, reactions and rate laws of a well-mixed reaction network (SPEC B1).

    `species` fixes the order of the state vector x. `parameters` and `initial` optionally hold
    values (by name); `inputs` names the external inputs u(t) that rate expressions may use, in
    the order of the components of u. Build one from text (`from_text`), from a model file
    (`from_file`) or directly from `Reaction` objects.

    Equality and hashing are structural: species, reactions with their rate laws, inputs and
    name. Parameter and initial values are data, not structure (models carry their parameters as
    arrays), so a network read again from the same file, or with other values, reuses the
    compiled code of models built on it. Compare `.parameters` / `.initial` for the values.
    """

    species: tuple[str, ...]
    reactions: tuple[Reaction, ...]
    parameters: Mapping[str, float] = field(default_factory=dict)
    initial: Mapping[str, float] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    name: str = "network"
    strict: bool = True

    def _structure(self) -> tuple:
        return (self.species, self.reactions, self.inputs, self.name, self.strict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReactionNetwork):
            return NotImplemented
        return self._structure() == other._structure()

    def __hash__(self) -> int:
        return hash(self._structure())

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", tuple(self.species))
        object.__setattr__(self, "reactions", tuple(self.reactions))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "parameters", dict(self.parameters))
        object.__setattr__(self, "initial", dict(self.initial))
        self._validate()

    # validation ---------------------------------------------------------------------------------
    def _validate(self) -> None:
        seen: set[str] = set()
        for s in (*self.species, *self.inputs):
            if s in _RESERVED:
                raise ModelError(
                    f"{s!r} cannot name a species or input: rate expressions use it for "
                    f"{_RESERVED[s]}; rename it (e.g. {s + '_'!r})."
                )
        for s in self.species:
            _check_identifier(s, "species")
            if s in seen:
                raise ModelError(f"species {s!r} is declared twice; declare each species once.")
            seen.add(s)
        for s in self.inputs:
            _check_identifier(s, "input")
            if s in seen:
                raise ModelError(
                    f"{s!r} is declared both as a species and as an input; rename one."
                )
        names: set[str] = set()
        declared = set(self.species)
        for j, r in enumerate(self.reactions):
            label = self.reaction_names[j]
            if r.name is not None:
                if r.name in names:
                    raise ModelError(
                        f"reaction name {r.name!r} is used twice; give each reaction its own name."
                    )
                names.add(r.name)
            for s, _ in r.reactants + r.products:
                if s not in declared:
                    verb = "consumes" if s in dict(r.reactants) else "produces"
                    raise ModelError(
                        f"reaction {label!r} {verb} {s!r}, which is not a declared species; add it "
                        "to `species`."
                    )
            for s in self._rate_species(r):
                if s not in declared:
                    raise ModelError(
                        f"reaction {label!r}: rate law uses {s!r} as its substrate, which is not "
                        "a declared species; add it to `species`."
                    )
        for p in self.parameter_names:
            if p in declared or p in self.inputs or p == TIME:
                raise ModelError(
                    f"parameter {p!r} has the same name as a species, an input or time 't'; "
                    "rename it."
                )
        if self.strict and self.parameters:
            missing = [p for p in self.parameter_names if p not in self.parameters]
            if missing:
                raise ModelError(
                    f"rate laws use {', '.join(map(repr, missing))}, which "
                    f"{'is' if len(missing) == 1 else 'are'} neither a declared species, "
                    "parameter nor input; declare it under `parameters` (or `species`/`inputs`) "
                    "or fix the spelling."
                )
        for s in self.initial:
            if s not in declared:
                raise ModelError(f"initial value given for {s!r}, which is not a declared species.")

    @staticmethod
    def _rate_species(r: Reaction) -> tuple[str, ...]:
        if isinstance(r.rate, MichaelisMentenRate):
            return (r.rate.substrate,)
        if isinstance(r.rate, HillRate):
            return (r.rate.activator,)
        return ()

    # structure ----------------------------------------------------------------------------------
    @property
    def n_species(self) -> int:
        return len(self.species)

    @property
    def n_reactions(self) -> int:
        return len(self.reactions)

    @property
    def reaction_names(self) -> tuple[str, ...]:
        """Each reaction's name; unnamed reactions are called R1, R2, ... by position (with a
        suffix when that name is taken by a named reaction)."""
        taken = {r.name for r in self.reactions if r.name}
        out = []
        for j, r in enumerate(self.reactions):
            name = r.name
            if name is None:
                name = f"R{j + 1}"
                while name in taken:
                    name += "_"
            out.append(name)
        return tuple(out)

    @property
    def stoichiometry(self) -> Int[np.ndarray, "n m"]:
        """The stoichiometric matrix S (n_species x n_reactions), integer: products - reactants."""
        return self.product_matrix - self.reactant_matrix

    @property
    def reactant_matrix(self) -> Int[np.ndarray, "n m"]:
        """Reactant coefficients a_ij >= 0 (the exponents of mass-action rates)."""
        return self._side_matrix("reactants")

    @property
    def product_matrix(self) -> Int[np.ndarray, "n m"]:
        """Product coefficients b_ij >= 0."""
        return self._side_matrix("products")

    def _side_matrix(self, side: str) -> np.ndarray:
        index = {s: i for i, s in enumerate(self.species)}
        out = np.zeros((self.n_species, self.n_reactions), dtype=np.int64)
        for j, r in enumerate(self.reactions):
            for s, c in getattr(r, side):
                out[index[s], j] += c
        return out

    @property
    def is_mass_action(self) -> bool:
        """True when every reaction follows mass action (so f is a polynomial in x)."""
        return all(isinstance(r.rate, MassActionRate) for r in self.reactions)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The parameters the rate laws use, in order of first appearance."""
        out: dict[str, None] = {}
        reserved = set(self.species) | set(self.inputs) | {TIME}
        for r in self.reactions:
            if isinstance(r.rate, ExpressionRate):
                tree = r.rate.tree
                for name in _names_in_order(tree):
                    if name not in reserved:
                        out.setdefault(name, None)
            else:
                for p in r.rate.parameters():
                    out.setdefault(p, None)
        return tuple(out)

    def rate_expressions(self) -> tuple[Expr, ...]:
        """Every reaction's rate as an expression tree (mass action written out as k * A * B)."""
        return tuple(r.rate.expression(r) for r in self.reactions)

    # values -------------------------------------------------------------------------------------
    def parameter_values(
        self, values: Mapping[str, float] | None = None
    ) -> Float[np.ndarray, " q"]:
        """Parameter values in `parameter_names` order, from `values` or the stored ones."""
        given = dict(self.parameters)
        given.update(values or {})
        missing = [p for p in self.parameter_names if p not in given]
        if missing:
            raise ModelError(
                f"no value for parameter(s) {', '.join(map(repr, missing))}; pass them as "
                "`parameters={...}` or declare them in the model file."
            )
        return np.array([float(given[p]) for p in self.parameter_names], dtype=np.float64)

    def x0(self, values: Mapping[str, float] | None = None) -> Float[np.ndarray, " n"]:
        """Initial state in `species` order (stored initial values, overridden by `values`).

        Species without a value start at 0.
        """
        given = dict(self.initial)
        given.update(values or {})
        unknown = [s for s in given if s not in self.species]
        if unknown:
            raise ModelError(f"initial value for unknown species {unknown}; known: {self.species}.")
        return np.array([float(given.get(s, 0.0)) for s in self.species], dtype=np.float64)

    # constructors -------------------------------------------------------------------------------
    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        species: Sequence[str] | None = None,
        parameters: Mapping[str, float] | None = None,
        inputs: Sequence[str] = (),
        initial: Mapping[str, float] | None = None,
        name: str = "network",
    ) -> ReactionNetwork:
        """Read a network written one reaction per line.

            E + S <-> ES ; k1, k2          # reversible: two mass-action reactions
            ES -> E + P ; kcat
            -> mRNA ; k_tx                 # synthesis; `mRNA -> ; d` is degradation
            2 A -> A2 ; k
            R5: A -> B ; rate = Vmax*A/(Km + A)
            A -> B ; michaelis_menten(Vmax, Km)   # substrate: the single reactant
            -> P ; rate = hill(TF, vmax, K, n)

        Without `species`, the species are the names that appear in reactions, in order of
        appearance, and every other name in a rate is a parameter. With `species` (or
        `parameters`) given, every name must be declared: a typo becomes an error naming the line.
        """
        from .text_parser import parse_network_text

        return parse_network_text(
            text,
            species=species,
            parameters=parameters,
            inputs=inputs,
            initial=initial,
            name=name,
        )

    @classmethod
    def from_file(cls, path) -> ReactionNetwork:
        """Read a TOML model file (see `cellode.load_model` for the format)."""
        from .model_file import load_model

        return load_model(path).network

    # derived objects ----------------------------------------------------------------------------
    def conservation_laws(self) -> ConservationLaws:
        """A basis of the conservation laws w^T S = 0 (integer; non-negative where possible)."""
        from .conservation import conservation_laws

        return conservation_laws(self)

    def vector_field(
        self, parameters: Mapping[str, float] | None = None, *, log_scale: bool = False
    ) -> AbstractVectorField:
        """The model dx/dt = S v(t, x, u): `MassAction` when every rate is mass action, else
        `RateLawField`. Parameter values come from `parameters` or the stored ones."""
        from .._models.mass_action import MassAction
        from .._models.rate_laws import RateLawField

        if self.is_mass_action:
            return MassAction(self, parameters, log_scale=log_scale)
        return RateLawField(self, parameters, log_scale=log_scale)

    def to_text(self) -> str:
        """The network as text, one reaction per line (readable by `from_text`)."""
        return "\n".join(str(r) for r in self.reactions)

    def __str__(self) -> str:
        lines = [
            f"{self.name}: {self.n_species} species, {self.n_reactions} reactions",
            f"species: {', '.join(self.species)}",
        ]
        lines += [
            f"  {n}: {r.equation()} ; {r.rate.describe()}"
            for n, r in zip(self.reaction_names, self.reactions, strict=True)
        ]
        return "\n".join(lines)


def _names_in_order(node: Expr) -> list[str]:
    out: list[str] = []

    def walk(n: Expr) -> None:
        if isinstance(n, Name):
            if n.id in free_names(n) and n.id not in out:
                out.append(n.id)
        elif isinstance(n, BinOp):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, Call):
            for a in n.args:
                walk(a)
        elif not isinstance(n, Num):
            walk(n.arg)

    walk(node)
    return out
