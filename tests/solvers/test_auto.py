"""`solver="auto"` and the failure message for explicit solvers on stiff problems."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import cellode
from cellode._examples.stiff_testset import Robertson, stiff_testset
from cellode._solvers.auto import choose_solver, decay_rates, jacobian

ROBER = stiff_testset()["ROBER"]


def test_auto_finds_stiffness_that_builds_up_after_x0():
    x0 = jnp.asarray(ROBER.x0)
    # At x0 = (1, 0, 0) Robertson has a single decaying mode: not stiff there ...
    assert decay_rates(np.asarray(jacobian(Robertson(), 0.0, x0, None))).ratio == 1.0
    # ... but the pilot solve finds the stiffness a moment later.
    choice = choose_solver(Robertson(), 0.0, x0, None, 1e11)
    assert choice.name == "rodas5p"
    assert choice.spectrum.ratio > 1e6
    assert "at t = " in choice.reason


def test_auto_keeps_explicit_for_a_non_stiff_oscillator():
    field = cellode.FunctionField(lambda t, x, u, w: jnp.stack([x[1], -w * x[0]]), jnp.array(4.0))
    assert choose_solver(field, 0.0, jnp.array([1.0, 0.0]), None, 10.0).name == "tsit5"


def test_simulate_auto_solves_robertson_to_the_reference():
    traj = cellode.simulate(
        Robertson(), jnp.asarray(ROBER.x0), jnp.array([1e11]), t0=0.0, rtol=1e-8, atol=1e-14
    )
    assert traj.stats.solver == "rodas5p"
    np.testing.assert_allclose(traj.xs[-1], ROBER.reference, rtol=1e-5)


def test_explicit_solver_on_a_stiff_problem_says_so():
    with pytest.raises(cellode.SolveError, match=r"looks stiff.*solver='rodas5p'"):
        cellode.simulate(
            Robertson(), jnp.asarray(ROBER.x0), jnp.array([1e3]), t0=0.0, solver="tsit5",
            max_steps=1000,
        )  # fmt: skip


def test_auto_sees_stiffness_switched_on_by_an_input():
    """x' = (-x1, -u x2) with u = 1 before t = 5 and 1e5 after: not stiff at x0, stiff later."""
    field = cellode.FunctionField(
        lambda t, x, u, p: jnp.stack([-p * x[0], -u[0] * x[1]]), jnp.array(1.0)
    )
    dose = cellode.PiecewiseConstant(times=[5.0], values=[1.0, 1.0e5])
    x0 = jnp.array([1.0, 1.0])
    choice = choose_solver(field, 0.0, x0, dose(jnp.array(0.0)), 10.0, inputs=dose)
    assert choice.name == "rodas5p"
    assert choice.spectrum.ratio == pytest.approx(1e5)
    # Held at its initial value the input never makes the problem stiff.
    held = choose_solver(field, 0.0, x0, dose(jnp.array(0.0)), 10.0)
    assert held.name == "tsit5"
