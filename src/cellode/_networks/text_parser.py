"""Reading reaction networks written as text, one reaction per line.

Line syntax (`#` starts a comment; blank lines are skipped):

    [NAME:] LEFT ARROW RIGHT ; RATE [; RATE]

* ARROW is `->` (one reaction) or `<->` (reversible: a forward and a reverse reaction, named
  NAME_fwd and NAME_rev when the line is named).
* LEFT and RIGHT are `+`-separated terms `[COEFF] SPECIES` with COEFF a positive integer
  (`2 A` or `2*A`); an empty side (or `0`, `∅`) means synthesis or degradation.
* RATE is one of
    - `k`                          mass action with rate constant k;
    - `kf, kr`                     (reversible lines only) forward, reverse mass-action constants;
    - `rate = EXPR`                any expression of species, parameters, inputs and time `t`;
    - `michaelis_menten(Vmax, Km)` Vmax S/(Km + S) with S the reaction's single reactant;
    - `hill(Vmax, K, n)`           Vmax S^n/(K^n + S^n) with S the reaction's single reactant.
  A reversible line takes either `kf, kr` or two RATE parts separated by `;`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .._errors import ModelError
from .expressions import TIME, free_names
from .network import (
    ExpressionRate,
    HillRate,
    MassActionRate,
    MichaelisMentenRate,
    RateLaw,
    Reaction,
    ReactionNetwork,
)

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_LABEL = re.compile(rf"^\s*({_NAME})\s*:(?!\s*$)(.*)$")
_ARROWLIKE = re.compile(r"<?[-=~]+>|<[-=~]+|=")
_TERM = re.compile(rf"^(?:(?P<coeff>[-+]?\d+(?:\.\d*)?)\s*\*?\s*)?(?P<species>{_NAME})$")
_HELPER = re.compile(r"^(?P<fn>michaelis_menten|hill)\s*\((?P<args>.*)\)$")


class _LineError(ModelError):
    pass


def _parse_side(text: str) -> list[tuple[str, int]]:
    text = text.strip()
    if text in ("", "0", "∅"):
        return []
    out = []
    for term in text.split("+"):
        term = term.strip()
        m = _TERM.match(term)
        if m is None:
            if term == "":
                raise _LineError("empty term between '+' signs; remove the extra '+'.")
            raise _LineError(
                f"cannot read the term {term!r}; write `COEFFICIENT SPECIES`, e.g. `2 A` or `A`."
            )
        coeff_text = m.group("coeff")
        if coeff_text is not None:
            coeff = float(coeff_text)
            if coeff < 0 or coeff_text.startswith("-"):
                raise _LineError(
                    f"negative coefficient in {term!r}; coefficients are positive integers: move "
                    "the species to the other side of the arrow instead."
                )
            if not coeff.is_integer() or coeff == 0:
                raise _LineError(
                    f"coefficient in {term!r} must be a positive integer (1, 2, 3, ...)."
                )
            out.append((m.group("species"), int(coeff)))
        else:
            out.append((m.group("species"), 1))
    return out


def _split_arrow(equation: str) -> tuple[str, str, bool]:
    arrows = [m.group(0) for m in _ARROWLIKE.finditer(equation)]
    bad = [a for a in arrows if a not in ("->", "<->")]
    if bad:
        raise _LineError(
            f"unknown arrow {bad[0]!r}; use '->' (irreversible) or '<->' (reversible)."
        )
    if len(arrows) == 0:
        raise _LineError("no arrow; write e.g. `A + B -> C` or `A <-> B`.")
    if len(arrows) > 1:
        raise _LineError("more than one arrow; write one reaction per line.")
    if "<->" in equation:
        left, right = equation.split("<->")
        return left, right, True
    left, right = equation.split("->")
    return left, right, False


def _parse_rate(spec: str, reactants: list[tuple[str, int]]) -> RateLaw:
    spec = spec.strip()
    if spec.startswith("rate"):
        head, sep, body = spec.partition("=")
        if sep and head.strip() == "rate":
            return ExpressionRate(body.strip())
    m = _HELPER.match(spec)
    if m is not None:
        args = [a.strip() for a in m.group("args").split(",")]
        fn = m.group("fn")
        want = 2 if fn == "michaelis_menten" else 3
        usage = "michaelis_menten(Vmax, Km)" if want == 2 else "hill(Vmax, K, n)"
        if len(args) != want or not all(re.fullmatch(_NAME, a) for a in args):
            raise _LineError(
                f"{fn} as a rate takes {want} parameter names: `{usage}`; for other forms write "
                f"`rate = {fn}(S, ...)`."
            )
        distinct = {s for s, _ in reactants}
        if len(distinct) != 1:
            raise _LineError(
                f"`{usage}` needs exactly one reactant species (its substrate); this reaction has "
                f"{len(distinct)}. Write the rate out instead: `rate = {fn}(S, ...)`."
            )
        (substrate,) = distinct
        if fn == "michaelis_menten":
            return MichaelisMentenRate(args[0], args[1], substrate)
        return HillRate(args[0], args[1], args[2], substrate)
    if re.fullmatch(_NAME, spec):
        return MassActionRate(spec)
    if spec == "":
        raise _LineError("missing rate after ';'; write e.g. `; k` or `; rate = k*A`.")
    raise _LineError(
        f"cannot read the rate {spec!r}; write a rate-constant name (`; k`), `; rate = EXPR`, "
        "`; michaelis_menten(Vmax, Km)` or `; hill(Vmax, K, n)`."
    )


def parse_reaction_line(line: str) -> list[Reaction]:
    """Parse one line into one reaction (`->`) or two (`<->`); raises on malformed text.

    Errors here carry no line number; `parse_network_text` adds it.
    """
    text = line.split("#", 1)[0].strip()
    name = None
    m = _LABEL.match(text)
    if m is not None:
        name, text = m.group(1), m.group(2).strip()
    equation, sep, rate_part = text.partition(";")
    if not sep:
        raise _LineError("no rate; add `; k` (mass action) or `; rate = EXPR` after the reaction.")
    left, right, reversible = _split_arrow(equation)
    reactants, products = _parse_side(left), _parse_side(right)
    specs = [s.strip() for s in rate_part.split(";")]
    if reversible:
        if len(specs) == 1:
            parts = [p.strip() for p in specs[0].split(",")]
            if len(parts) != 2 or not all(re.fullmatch(_NAME, p) for p in parts):
                raise _LineError(
                    "a reversible reaction needs two rates: `; kf, kr` (mass action) or "
                    "`; RATE_FORWARD ; RATE_REVERSE`."
                )
            specs = parts
        if len(specs) != 2:
            raise _LineError("a reversible reaction takes exactly two rates (forward, reverse).")
        fwd = _parse_rate(specs[0], reactants)
        rev = _parse_rate(specs[1], products)
        names = (f"{name}_fwd", f"{name}_rev") if name else (None, None)
        return [
            Reaction(tuple(reactants), tuple(products), fwd, names[0]),
            Reaction(tuple(products), tuple(reactants), rev, names[1]),
        ]
    if len(specs) != 1 or ("," in specs[0] and not specs[0].startswith(("rate", "hill", "mich"))):
        raise _LineError(
            "an irreversible reaction ('->') takes one rate; for a reversible one use '<->'."
        )
    return [Reaction(tuple(reactants), tuple(products), _parse_rate(specs[0], reactants), name)]


def parse_network_text(
    text: str | Sequence[str],
    *,
    species: Sequence[str] | None = None,
    parameters: Mapping[str, float] | None = None,
    inputs: Sequence[str] = (),
    initial: Mapping[str, float] | None = None,
    name: str = "network",
    source: str = "line",
    line_numbers: Sequence[int] | None = None,
) -> ReactionNetwork:
    """Parse reaction lines into a `ReactionNetwork`, naming the line in every error.

    `source` prefixes line numbers in messages (e.g. "model.toml, reactions line");
    `line_numbers` maps each entry of `text` to the line number to report.
    """
    lines = text.splitlines() if isinstance(text, str) else list(text)
    numbers = list(line_numbers) if line_numbers is not None else list(range(1, len(lines) + 1))
    strict = species is not None or parameters is not None
    declared_species = list(species) if species is not None else []
    inputs = tuple(inputs)
    reactions: list[Reaction] = []
    origin: list[tuple[int, str]] = []
    seen_names: dict[str, int] = {}
    for lineno, raw in zip(numbers, lines, strict=True):
        body = raw.split("#", 1)[0].strip()
        if not body:
            continue

        def err(message: str, lineno=lineno, raw=raw) -> ModelError:
            return ModelError(f"{source} {lineno} ({raw.strip()!r}): {message}")

        try:
            new = parse_reaction_line(raw)
        except ModelError as e:
            raise err(str(e)) from None
        for r in new:
            if r.name is not None:
                if r.name in seen_names:
                    raise err(
                        f"reaction name {r.name!r} is already used on line {seen_names[r.name]}; "
                        "give each reaction its own name."
                    )
                seen_names[r.name] = lineno
            for s, _ in r.reactants + r.products:
                if s in inputs:
                    raise err(
                        f"{s!r} is an input, not a species; inputs enter rates (e.g. "
                        f"`rate = kon*{s}*R`), they are not consumed or produced."
                    )
                if species is None:
                    if s not in declared_species:
                        declared_species.append(s)
                elif s not in declared_species:
                    verb = "consumes" if s in dict(r.reactants) else "produces"
                    label = r.name or f"R{len(reactions) + 1}"
                    raise err(
                        f"reaction {label!r} {verb} {s!r}, which is not a declared species; add "
                        "it to `species`."
                    )
            reactions.append(r)
            origin.append((lineno, raw))
    # names used in rate laws: species, inputs, t, or parameters
    known_params = set(parameters) if parameters is not None else None
    for (lineno, raw), r in zip(origin, reactions, strict=True):
        if isinstance(r.rate, ExpressionRate):
            used = free_names(r.rate.tree)
        else:
            used = set(r.rate.parameters())
            used |= {s for s in (getattr(r.rate, "substrate", None),) if s}
            used |= {s for s in (getattr(r.rate, "activator", None),) if s}
        for n in sorted(used):
            if n in declared_species or n in inputs or n == TIME:
                continue
            if known_params is not None and n not in known_params:
                raise ModelError(
                    f"{source} {lineno} ({raw.strip()!r}): the rate uses {n!r}, which is neither "
                    "a declared species, parameter nor input; declare it (under `species`, "
                    "`parameters` or `inputs`) or fix the spelling."
                )
    return ReactionNetwork(
        species=tuple(declared_species),
        reactions=tuple(reactions),
        parameters=dict(parameters or {}),
        initial=dict(initial or {}),
        inputs=inputs,
        name=name,
        strict=strict,
    )
