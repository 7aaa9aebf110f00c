"""A small, safe expression language for rate laws written as text.

Rate expressions from model files are *data*, never code: they are tokenised and parsed here by a
recursive-descent parser that knows only numbers, names, the operators `+ - * / ^ **`, parentheses
and a fixed table of functions. Nothing is passed to `eval`, `exec`, `sympify` or Python's `ast`.
The parse tree is a tree of frozen (hashable) dataclasses, so it can live in a static field of an
`equinox.Module`; `evaluate` turns it into JAX operations when the vector field is traced.

Grammar (usual precedence; `^` and `**` are right-associative and bind tighter than unary minus,
so `-x^2` is `-(x^2)`):

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := ("+" | "-") unary | power
    power   := atom (("^" | "**") unary)?
    atom    := NUMBER | NAME | NAME "(" expr ("," expr)* ")" | "(" expr ")"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jax.numpy as jnp

from .._errors import ModelError


@dataclass(frozen=True)
class Num:
    """A numeric literal."""

    value: float


@dataclass(frozen=True)
class Name:
    """A species, parameter, input or `t` (time)."""

    id: str


@dataclass(frozen=True)
class Neg:
    """Unary minus."""

    arg: Expr


@dataclass(frozen=True)
class BinOp:
    """A binary operation: one of `+ - * / ^`."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    """A call of one of the functions in `FUNCTIONS`."""

    fn: str
    args: tuple[Expr, ...]


Expr = Num | Name | Neg | BinOp | Call


def _michaelis_menten(s, vmax, km):
    return vmax * s / (km + s)


def _hill(s, vmax, k, n):
    return vmax * s**n / (k**n + s**n)


def _hill_repression(s, vmax, k, n):
    return vmax * k**n / (k**n + s**n)


def _min(*args):
    out = args[0]
    for a in args[1:]:
        out = jnp.minimum(out, a)
    return out


def _max(*args):
    out = args[0]
    for a in args[1:]:
        out = jnp.maximum(out, a)
    return out


# name -> (function, minimum arity, maximum arity (None: any), one-line meaning)
FUNCTIONS: dict[str, tuple[Callable, int, int | None, str]] = {
    "exp": (jnp.exp, 1, 1, "e^x"),
    "log": (jnp.log, 1, 1, "natural logarithm"),
    "ln": (jnp.log, 1, 1, "natural logarithm"),
    "log10": (jnp.log10, 1, 1, "base-10 logarithm"),
    "sqrt": (jnp.sqrt, 1, 1, "square root"),
    "abs": (jnp.abs, 1, 1, "|x|"),
    "sin": (jnp.sin, 1, 1, "sine"),
    "cos": (jnp.cos, 1, 1, "cosine"),
    "tanh": (jnp.tanh, 1, 1, "hyperbolic tangent"),
    "pow": (jnp.power, 2, 2, "pow(x, y) = x^y"),
    "min": (_min, 2, None, "smallest argument"),
    "max": (_max, 2, None, "largest argument"),
    "michaelis_menten": (
        _michaelis_menten,
        3,
        3,
        "michaelis_menten(S, Vmax, Km) = Vmax S/(Km + S)",
    ),
    "hill": (_hill, 4, 4, "hill(S, Vmax, K, n) = Vmax S^n/(K^n + S^n)"),
    "hill_repression": (
        _hill_repression,
        4,
        4,
        "hill_repression(S, Vmax, K, n) = Vmax K^n/(K^n + S^n)",
    ),
}

CONSTANTS: dict[str, float] = {"pi": 3.141592653589793}
TIME = "t"

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),]))"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            raise ModelError(
                f"unexpected character {bad!r} in rate expression {text.strip()!r}; expressions "
                "may only contain numbers, names, + - * / ^ ** ( ) and commas."
            )
        kind = m.lastgroup
        assert kind is not None
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text.strip()
        self.tokens = _tokenize(text)
        self.i = 0

    def error(self, msg: str) -> ModelError:
        return ModelError(f"in rate expression {self.text!r}: {msg}.")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.error("unexpected end of expression")
        self.i += 1
        return tok

    def accept(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in ops:
            self.i += 1
            return tok[1]
        return None

    def parse(self) -> Expr:
        if not self.tokens:
            raise ModelError("empty rate expression; write e.g. `rate = k * A`.")
        node = self.expr()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def expr(self) -> Expr:
        node = self.term()
        while (op := self.accept("+", "-")) is not None:
            node = BinOp(op, node, self.term())
        return node

    def term(self) -> Expr:
        node = self.unary()
        while (op := self.accept("*", "/")) is not None:
            node = BinOp(op, node, self.unary())
        return node

    def unary(self) -> Expr:
        if self.accept("-"):
            return Neg(self.unary())
        if self.accept("+"):
            return self.unary()
        return self.power()

    def power(self) -> Expr:
        node = self.atom()
        if self.accept("^", "**"):
            node = BinOp("^", node, self.unary())
        return node

    def atom(self) -> Expr:
        kind, value = self.take()
        if kind == "num":
            return Num(float(value))
        if kind == "name":
            if value.startswith("__"):
                raise self.error(
                    f"names may not start with '__' (got {value!r}); rename the species or "
                    "parameter"
                )
            if self.accept("("):
                return self.call(value)
            return Name(value)
        if value == "(":
            node = self.expr()
            if not self.accept(")"):
                raise self.error("missing ')'")
            return node
        raise self.error(f"unexpected {value!r}")

    def call(self, fn: str) -> Expr:
        if fn not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.error(f"unknown function {fn!r}; the functions available are {known}")
        args = [self.expr()]
        while self.accept(","):
            args.append(self.expr())
        if not self.accept(")"):
            raise self.error(f"missing ')' after the arguments of {fn}")
        _, lo, hi, meaning = FUNCTIONS[fn]
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            raise self.error(f"{fn} takes {want} arguments ({meaning}), got {len(args)}")
        return Call(fn, tuple(args))


def parse_expression(text: str) -> Expr:
    """Parse a rate expression such as `Vmax*A/(Km + A)` into a tree; raises `ModelError`."""
    return _Parser(text).parse()


def free_names(node: Expr) -> set[str]:
    """The names an expression refers to (species, parameters, inputs, `t`), without constants."""
    if isinstance(node, Num):
        return set()
    if isinstance(node, Name):
        return set() if node.id in CONSTANTS else {node.id}
    if isinstance(node, Neg):
        return free_names(node.arg)
    if isinstance(node, BinOp):
        return free_names(node.left) | free_names(node.right)
    out: set[str] = set()
    for a in node.args:
        out |= free_names(a)
    return out


def evaluate(node: Expr, env: Mapping[str, object]):
    """Evaluate the tree with JAX operations; `env` maps every free name to a value."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        if node.id in env:
            return env[node.id]
        return CONSTANTS[node.id]
    if isinstance(node, Neg):
        return -evaluate(node.arg, env)
    if isinstance(node, BinOp):
        a, b = evaluate(node.left, env), evaluate(node.right, env)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if node.op == "/":
            return a / b
        if isinstance(node.right, Num) and float(node.right.value).is_integer():
            # integer powers by repeated multiplication: exact, and differentiable at 0
            return _integer_power(a, int(node.right.value))
        return a**b
    fn = FUNCTIONS[node.fn][0]
    return fn(*(evaluate(a, env) for a in node.args))


def _integer_power(a, n: int):
    if n == 0:
        return 1.0
    if n < 0:
        return 1.0 / _integer_power(a, -n)
    out = a
    for _ in range(n - 1):
        out = out * a
    return out


def to_text(node: Expr) -> str:
    """A readable rendering of the tree (fully parenthesised where precedence needs it)."""
    if isinstance(node, Num):
        v = node.value
        return str(int(v)) if float(v).is_integer() else repr(v)
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Neg):
        return f"-{_wrap(node.arg, 3)}"
    if isinstance(node, BinOp):
        prec = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}[node.op]
        right_prec = prec + 1 if node.op in "-/" else prec
        left_prec = prec + 1 if node.op == "^" else prec
        sep = " " if prec == 1 else ""
        return f"{_wrap(node.left, left_prec)}{sep}{node.op}{sep}{_wrap(node.right, right_prec)}"
    return f"{node.fn}({', '.join(to_text(a) for a in node.args)})"


def _wrap(node: Expr, prec: int) -> str:
    mine = 5
    if isinstance(node, BinOp):
        mine = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}[node.op]
    elif isinstance(node, Neg):
        mine = 3
    text = to_text(node)
    return f"({text})" if mine < prec else text
