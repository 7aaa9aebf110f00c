"""cellode's own translation of SBML MathML (libsbml's `ASTNode` trees) into JAX operations.

A formula in an SBML file is never turned into text and never eval-ed. The translator walks the
`ASTNode` tree once, at load time, and builds a small immutable expression tree of tuples
(hashable, so a model built on it is a static part of a jitted function):

    ("c", value)                  a number
    ("v", id)                     the value of an SBML symbol (species, parameter, ...)
    ("t",)                        the csymbol time
    ("rateof", id)                the csymbol rateOf applied to a symbol
    ("op", name, (args, ...))     an operator or function of MathML
    ("pw", ((value, cond), ...), otherwise)   piecewise

User function definitions are inlined with their arguments substituted (nested definitions too).
`evaluate` turns such a tree into `jax.numpy` operations given an environment of values. Every
value is a float64 scalar: relations and logical operators give 1.0 (true) or 0.0 (false), and a
number used as a condition is true when it is non-zero (as the SBML test suite's
BoolNumericSwap cases expect).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping

import jax.numpy as jnp
import jax.scipy.special as jsp
import libsbml

Expr = tuple

# SBML Level 3 Version 2 value of Avogadro's constant (the csymbol `avogadro`).
AVOGADRO = 6.02214179e23


class Unsupported(Exception):
    """A MathML construct cellode cannot translate (e.g. the csymbol `delay`)."""


def _const(value: float) -> Expr:
    return ("c", float(value))


_UNARY = {
    libsbml.AST_FUNCTION_ABS: "abs",
    libsbml.AST_FUNCTION_EXP: "exp",
    libsbml.AST_FUNCTION_LN: "ln",
    libsbml.AST_FUNCTION_FLOOR: "floor",
    libsbml.AST_FUNCTION_CEILING: "ceiling",
    libsbml.AST_FUNCTION_FACTORIAL: "factorial",
    libsbml.AST_FUNCTION_SIN: "sin",
    libsbml.AST_FUNCTION_COS: "cos",
    libsbml.AST_FUNCTION_TAN: "tan",
    libsbml.AST_FUNCTION_SEC: "sec",
    libsbml.AST_FUNCTION_CSC: "csc",
    libsbml.AST_FUNCTION_COT: "cot",
    libsbml.AST_FUNCTION_SINH: "sinh",
    libsbml.AST_FUNCTION_COSH: "cosh",
    libsbml.AST_FUNCTION_TANH: "tanh",
    libsbml.AST_FUNCTION_SECH: "sech",
    libsbml.AST_FUNCTION_CSCH: "csch",
    libsbml.AST_FUNCTION_COTH: "coth",
    libsbml.AST_FUNCTION_ARCSIN: "arcsin",
    libsbml.AST_FUNCTION_ARCCOS: "arccos",
    libsbml.AST_FUNCTION_ARCTAN: "arctan",
    libsbml.AST_FUNCTION_ARCSEC: "arcsec",
    libsbml.AST_FUNCTION_ARCCSC: "arccsc",
    libsbml.AST_FUNCTION_ARCCOT: "arccot",
    libsbml.AST_FUNCTION_ARCSINH: "arcsinh",
    libsbml.AST_FUNCTION_ARCCOSH: "arccosh",
    libsbml.AST_FUNCTION_ARCTANH: "arctanh",
    libsbml.AST_FUNCTION_ARCSECH: "arcsech",
    libsbml.AST_FUNCTION_ARCCSCH: "arccsch",
    libsbml.AST_FUNCTION_ARCCOTH: "arccoth",
    libsbml.AST_LOGICAL_NOT: "not",
}

_NARY = {
    libsbml.AST_PLUS: "plus",
    libsbml.AST_TIMES: "times",
    libsbml.AST_LOGICAL_AND: "and",
    libsbml.AST_LOGICAL_OR: "or",
    libsbml.AST_LOGICAL_XOR: "xor",
    libsbml.AST_RELATIONAL_EQ: "eq",
    libsbml.AST_RELATIONAL_NEQ: "neq",
    libsbml.AST_RELATIONAL_LT: "lt",
    libsbml.AST_RELATIONAL_LEQ: "leq",
    libsbml.AST_RELATIONAL_GT: "gt",
    libsbml.AST_RELATIONAL_GEQ: "geq",
    libsbml.AST_FUNCTION_MAX: "max",
    libsbml.AST_FUNCTION_MIN: "min",
    libsbml.AST_LOGICAL_IMPLIES: "implies",
}

_BINARY = {
    libsbml.AST_DIVIDE: "divide",
    libsbml.AST_POWER: "power",
    libsbml.AST_FUNCTION_POWER: "power",
    libsbml.AST_FUNCTION_QUOTIENT: "quotient",
    libsbml.AST_FUNCTION_REM: "rem",
}


class FunctionDef:
    """A user function (SBML `functionDefinition`): argument names and the body's ASTNode."""

    def __init__(self, fid: str, args: tuple[str, ...], body: libsbml.ASTNode | None):
        self.id = fid
        self.args = args
        self.body = body


def function_definitions(model: libsbml.Model) -> dict[str, FunctionDef]:
    """The model's function definitions by id (the lambda's bound variables and body)."""
    out = {}
    for fd in model.getListOfFunctionDefinitions():
        args = tuple(fd.getArgument(i).getName() for i in range(fd.getNumArguments()))
        out[fd.getId()] = FunctionDef(fd.getId(), args, fd.getBody())
    return out


def translate(
    node: libsbml.ASTNode | None,
    functions: Mapping[str, FunctionDef],
    bindings: Mapping[str, Expr] | None = None,
    *,
    _depth: int = 0,
) -> Expr:
    """The expression tree of one MathML formula.

    `bindings` maps names to expressions substituted for them (a function's arguments, or a
    reaction's local parameters). Raises `Unsupported` naming the construct it cannot translate.
    """
    if node is None:
        raise Unsupported("a missing <math> element")
    if _depth > 200:
        raise Unsupported("function definitions that call themselves (recursion)")
    bindings = bindings or {}
    t = node.getType()
    kids = [node.getChild(i) for i in range(node.getNumChildren())]

    def sub(n: libsbml.ASTNode) -> Expr:
        return translate(n, functions, bindings, _depth=_depth + 1)

    if t == libsbml.AST_INTEGER:
        return _const(node.getInteger())
    if t in (libsbml.AST_REAL, libsbml.AST_REAL_E):
        return _const(node.getReal())
    if t == libsbml.AST_RATIONAL:
        return _const(node.getNumerator() / node.getDenominator())
    if t == libsbml.AST_CONSTANT_PI:
        return _const(math.pi)
    if t == libsbml.AST_CONSTANT_E:
        return _const(math.e)
    if t == libsbml.AST_CONSTANT_TRUE:
        return _const(1.0)
    if t == libsbml.AST_CONSTANT_FALSE:
        return _const(0.0)
    if t == libsbml.AST_NAME_AVOGADRO:
        return _const(AVOGADRO)
    if t == libsbml.AST_NAME_TIME:
        return ("t",)
    if t == libsbml.AST_NAME:
        name = node.getName()
        if name in bindings:
            return bindings[name]
        return ("v", name)
    if t == libsbml.AST_FUNCTION_DELAY:
        raise Unsupported("the csymbol delay (a delay differential equation)")
    if t == libsbml.AST_FUNCTION_RATE_OF:
        if len(kids) != 1 or kids[0].getType() != libsbml.AST_NAME:
            raise Unsupported("rateOf applied to something other than a single symbol")
        name = kids[0].getName()
        if name in bindings:
            bound = bindings[name]
            if bound[0] == "c":
                return _const(0.0)  # a number, e.g. a reaction's local parameter
            if bound[0] != "v":
                raise Unsupported("rateOf of a function argument that is not a symbol")
            name = bound[1]
        return ("rateof", name)
    if t == libsbml.AST_FUNCTION:
        name = node.getName()
        fd = functions.get(name)
        if fd is None or fd.body is None:
            raise Unsupported(f"a call of the undefined function {name!r}")
        if len(kids) != len(fd.args):
            raise Unsupported(
                f"function {name!r} called with {len(kids)} arguments; it takes {len(fd.args)}"
            )
        # The body sees only its own arguments (SBML lambdas are closed).
        inner = {a: sub(k) for a, k in zip(fd.args, kids, strict=True)}
        return translate(fd.body, functions, inner, _depth=_depth + 1)
    if t == libsbml.AST_FUNCTION_PIECEWISE:
        args = [sub(k) for k in kids]
        pieces = tuple((args[i], args[i + 1]) for i in range(0, len(args) - 1, 2))
        otherwise = args[-1] if len(args) % 2 == 1 else None
        return ("pw", pieces, otherwise)
    if t == libsbml.AST_MINUS:
        if len(kids) == 1:
            return ("op", "neg", (sub(kids[0]),))
        return ("op", "minus", tuple(sub(k) for k in kids))
    if t == libsbml.AST_FUNCTION_ROOT:
        if len(kids) == 1:
            return ("op", "root", (_const(2.0), sub(kids[0])))
        return ("op", "root", (sub(kids[0]), sub(kids[1])))
    if t == libsbml.AST_FUNCTION_LOG:
        if len(kids) == 1:
            return ("op", "log", (_const(10.0), sub(kids[0])))
        return ("op", "log", (sub(kids[0]), sub(kids[1])))
    if t in _UNARY:
        if len(kids) != 1:
            raise Unsupported(f"{_UNARY[t]} with {len(kids)} arguments")
        return ("op", _UNARY[t], (sub(kids[0]),))
    if t in _BINARY:
        if len(kids) != 2:
            raise Unsupported(f"{_BINARY[t]} with {len(kids)} arguments")
        return ("op", _BINARY[t], (sub(kids[0]), sub(kids[1])))
    if t in _NARY:
        return ("op", _NARY[t], tuple(sub(k) for k in kids))
    if t == libsbml.AST_LAMBDA:
        raise Unsupported("a lambda outside a function definition")
    raise Unsupported(f"the MathML element {node.getName() or libsbml.formulaToL3String(node)!r}")


# --- inspection --------------------------------------------------------------------------------


def walk(expr: Expr):
    """Every node of an expression tree, depth first."""
    yield expr
    kind = expr[0]
    if kind == "op":
        for a in expr[2]:
            yield from walk(a)
    elif kind == "pw":
        for v, c in expr[1]:
            yield from walk(v)
            yield from walk(c)
        if expr[2] is not None:
            yield from walk(expr[2])


def symbols_used(expr: Expr) -> set[str]:
    """The SBML ids whose values the expression reads (rateOf targets excluded)."""
    return {n[1] for n in walk(expr) if n[0] == "v"}


def rates_used(expr: Expr) -> set[str]:
    """The ids whose rate of change (csymbol rateOf) the expression reads."""
    return {n[1] for n in walk(expr) if n[0] == "rateof"}


def uses_time(expr: Expr) -> bool:
    return any(n[0] == "t" for n in walk(expr))


def substitute(expr: Expr, values: Mapping[str, Expr]) -> Expr:
    """The expression with the symbols in `values` replaced by the given expressions."""
    kind = expr[0]
    if kind == "v":
        return values.get(expr[1], expr)
    if kind == "op":
        return ("op", expr[1], tuple(substitute(a, values) for a in expr[2]))
    if kind == "pw":
        pieces = tuple((substitute(v, values), substitute(c, values)) for v, c in expr[1])
        other = None if expr[2] is None else substitute(expr[2], values)
        return ("pw", pieces, other)
    return expr


# --- evaluation --------------------------------------------------------------------------------


def _truth(x):
    return x != 0.0


def _bool(b):
    return jnp.where(b, 1.0, 0.0)


def _chain(rel, args):
    out = jnp.asarray(True)
    for a, b in itertools.pairwise(args):
        out = out & rel(a, b)
    return _bool(out)


def _xor(args):
    out = jnp.asarray(False)
    for a in args:
        out = out ^ _truth(a)
    return _bool(out)


def _factorial(x):
    return jnp.exp(jsp.gammaln(x + 1.0))


def _root(n, x):
    # An odd integer root of a negative number is real: (-8)^(1/3) = -2.
    odd = (jnp.floor(n) == n) & (jnp.mod(n, 2.0) == 1.0)
    principal = jnp.power(x, 1.0 / n)
    real_odd = jnp.sign(x) * jnp.power(jnp.abs(x), 1.0 / n)
    return jnp.where(odd & (x < 0), real_odd, principal)


def _minus(args):
    out = args[0]
    for a in args[1:]:
        out = out - a
    return out


def _sum(args):
    out = jnp.asarray(0.0)
    for a in args:
        out = out + a
    return out


def _product(args):
    out = jnp.asarray(1.0)
    for a in args:
        out = out * a
    return out


_OPS: dict[str, Callable] = {
    "plus": _sum,
    "times": _product,
    "minus": _minus,
    "neg": lambda a: -a[0],
    "divide": lambda a: a[0] / a[1],
    "power": lambda a: jnp.power(a[0], a[1]),
    "root": lambda a: _root(a[0], a[1]),
    "log": lambda a: jnp.log(a[1]) / jnp.log(a[0]),
    "quotient": lambda a: jnp.trunc(a[0] / a[1]),
    "rem": lambda a: jnp.fmod(a[0], a[1]),
    "max": lambda a: jnp.max(jnp.stack(a)),
    "min": lambda a: jnp.min(jnp.stack(a)),
    "abs": lambda a: jnp.abs(a[0]),
    "exp": lambda a: jnp.exp(a[0]),
    "ln": lambda a: jnp.log(a[0]),
    "floor": lambda a: jnp.floor(a[0]),
    "ceiling": lambda a: jnp.ceil(a[0]),
    "factorial": lambda a: _factorial(a[0]),
    "sin": lambda a: jnp.sin(a[0]),
    "cos": lambda a: jnp.cos(a[0]),
    "tan": lambda a: jnp.tan(a[0]),
    "sec": lambda a: 1.0 / jnp.cos(a[0]),
    "csc": lambda a: 1.0 / jnp.sin(a[0]),
    "cot": lambda a: 1.0 / jnp.tan(a[0]),
    "sinh": lambda a: jnp.sinh(a[0]),
    "cosh": lambda a: jnp.cosh(a[0]),
    "tanh": lambda a: jnp.tanh(a[0]),
    "sech": lambda a: 1.0 / jnp.cosh(a[0]),
    "csch": lambda a: 1.0 / jnp.sinh(a[0]),
    "coth": lambda a: 1.0 / jnp.tanh(a[0]),
    "arcsin": lambda a: jnp.arcsin(a[0]),
    "arccos": lambda a: jnp.arccos(a[0]),
    "arctan": lambda a: jnp.arctan(a[0]),
    "arcsec": lambda a: jnp.arccos(1.0 / a[0]),
    "arccsc": lambda a: jnp.arcsin(1.0 / a[0]),
    "arccot": lambda a: jnp.arctan(1.0 / a[0]),
    "arcsinh": lambda a: jnp.arcsinh(a[0]),
    "arccosh": lambda a: jnp.arccosh(a[0]),
    "arctanh": lambda a: jnp.arctanh(a[0]),
    "arcsech": lambda a: jnp.arccosh(1.0 / a[0]),
    "arccsch": lambda a: jnp.arcsinh(1.0 / a[0]),
    "arccoth": lambda a: jnp.arctanh(1.0 / a[0]),
    "not": lambda a: _bool(~_truth(a[0])),
    "and": lambda a: _bool(jnp.all(jnp.stack([_truth(x) for x in a]))) if a else _const_one(),
    "or": lambda a: _bool(jnp.any(jnp.stack([_truth(x) for x in a]))) if a else _const_zero(),
    "xor": _xor,
    "implies": lambda a: _bool(~_truth(a[0]) | _truth(a[1])),
    "eq": lambda a: _chain(lambda x, y: x == y, a),
    "neq": lambda a: _chain(lambda x, y: x != y, a),
    "lt": lambda a: _chain(lambda x, y: x < y, a),
    "leq": lambda a: _chain(lambda x, y: x <= y, a),
    "gt": lambda a: _chain(lambda x, y: x > y, a),
    "geq": lambda a: _chain(lambda x, y: x >= y, a),
}


def _const_one():
    return jnp.asarray(1.0)


def _const_zero():
    return jnp.asarray(0.0)


def evaluate(expr: Expr, lookup: Callable[[str], object], rate_of: Callable[[str], object], t):
    """The value of `expr` as a JAX scalar.

    `lookup(id)` gives the current value of a symbol, `rate_of(id)` its time derivative (for the
    csymbol rateOf) and `t` the time.
    """
    kind = expr[0]
    if kind == "c":
        return jnp.asarray(expr[1])
    if kind == "v":
        return lookup(expr[1])
    if kind == "t":
        return jnp.asarray(t, dtype=float)
    if kind == "rateof":
        return rate_of(expr[1])
    if kind == "op":
        args = [evaluate(a, lookup, rate_of, t) for a in expr[2]]
        return _OPS[expr[1]](args)
    if kind == "pw":
        out = jnp.asarray(jnp.nan) if expr[2] is None else evaluate(expr[2], lookup, rate_of, t)
        for value, cond in reversed(expr[1]):
            c = _truth(evaluate(cond, lookup, rate_of, t))
            out = jnp.where(c, evaluate(value, lookup, rate_of, t), out)
        return out
    raise AssertionError(f"unknown expression node {kind!r}")


def constant_value(expr: Expr) -> float | None:
    """The value of an expression without symbols or time, or None (used for jump times)."""
    if any(n[0] in ("v", "t", "rateof") for n in walk(expr)):
        return None
    return float(evaluate(expr, lambda s: None, lambda s: None, 0.0))
