"""The MathML translator against known values (formulas built with libsbml, evaluated by cellode)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import libsbml
import numpy as np
import pytest

from cellode import SbmlError, load_sbml
from cellode._sbml.mathml import AVOGADRO, Unsupported, evaluate, translate


def value(formula: str, env: dict | None = None, t: float = 0.0, functions=None, rates=None):
    node = libsbml.parseL3Formula(formula)
    assert node is not None, libsbml.getLastParseL3Error()
    expr = translate(node, functions or {})
    env = env or {}
    return float(evaluate(expr, lambda s: jnp.asarray(env[s]), lambda s: jnp.asarray(rates[s]), t))


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("2 + 3 * 4 - 6 / 4", 12.5),
        ("-x^2", -9.0),
        ("log(2, 8)", 3.0),
        ("log10(1000)", 3.0),
        ("ln(exp(2))", 2.0),
        ("root(3, -8)", -2.0),
        ("sqrt(16)", 4.0),
        ("factorial(5)", 120.0),
        ("floor(-2.5) + ceil(2.1)", 0.0),
        ("abs(-3)", 3.0),
        ("sec(0.3)", 1 / math.cos(0.3)),
        ("arccot(2)", math.atan(0.5)),
        ("arcsech(0.5)", math.acosh(2.0)),
        ("coth(0.7)", 1 / math.tanh(0.7)),
        ("max(1, x, 2)", 3.0),
        ("min(1, x, 2)", 1.0),
        ("quotient(7, 2)", 3.0),
        ("rem(-7, 2)", -1.0),
        ("pi", math.pi),
        ("exponentiale", math.e),
        ("INF", math.inf),
        ("true + true", 2.0),
        ("(x > 2) * 10", 10.0),
        ("and(x > 2, x < 4, true)", 1.0),
        ("or(x < 2, false)", 0.0),
        ("xor(true, true, true)", 1.0),
        ("not(x)", 0.0),
        ("eq(3, x, 3)", 1.0),
        ("piecewise(1, x < 2, 5, x < 4, 9)", 5.0),
        ("piecewise(1, x < 2, 9)", 9.0),
    ],
)
def test_operators_have_their_mathml_values(formula, expected):
    assert value(formula, {"x": 3.0}) == pytest.approx(expected, rel=1e-12)


def test_piecewise_without_otherwise_is_nan_when_no_piece_holds():
    assert math.isnan(value("piecewise(1, x > 5)", {"x": 3.0}))


def test_time_avogadro_and_rate_of_csymbols():
    time_node = libsbml.ASTNode(libsbml.AST_NAME_TIME)
    assert float(evaluate(translate(time_node, {}), None, None, 2.5)) == 2.5
    avo = libsbml.ASTNode(libsbml.AST_NAME_AVOGADRO)
    assert float(evaluate(translate(avo, {}), None, None, 0.0)) == AVOGADRO
    assert value("2 * rateOf(S)", rates={"S": 0.25}) == 0.5
    delay = libsbml.parseL3Formula("delay(S, 1)")
    with pytest.raises(Unsupported, match="delay"):
        translate(delay, {})


FUNCTIONS_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="f">
    <listOfFunctionDefinitions>
      <functionDefinition id="sq"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <lambda><bvar><ci>x</ci></bvar><apply><times/><ci>x</ci><ci>x</ci></apply></lambda>
      </math></functionDefinition>
      <functionDefinition id="f"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <lambda><bvar><ci>a</ci></bvar><bvar><ci>b</ci></bvar>
          <apply><plus/><apply><ci>sq</ci><ci>a</ci></apply><ci>b</ci></apply></lambda>
      </math></functionDefinition>
    </listOfFunctionDefinitions>
    <listOfParameters>
      <parameter id="k" value="3" constant="true"/>
      <parameter id="y" constant="true"/>
    </listOfParameters>
    <listOfInitialAssignments>
      <initialAssignment symbol="y"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><ci>f</ci><ci>k</ci><cn>1</cn></apply></math></initialAssignment>
    </listOfInitialAssignments>
  </model>
</sbml>"""


def test_nested_function_definitions_are_inlined():
    model = load_sbml(FUNCTIONS_MODEL)
    sym = model.symbols(0.0, model.initial_state())
    np.testing.assert_allclose(sym["y"], 3.0**2 + 1.0)
    assert model.constant_ids == ("k",)  # y comes from its initial assignment
    sym2 = model.symbols(0.0, model.initial_state(), jnp.array([2.0]))
    np.testing.assert_allclose(sym2["y"], 5.0)


def test_undefined_function_is_reported():
    bad = FUNCTIONS_MODEL.replace("<ci>f</ci><ci>k</ci>", "<ci>g</ci><ci>k</ci>")
    with pytest.raises(SbmlError, match="undefined function 'g'"):
        load_sbml(bad)
