"""Failed solves and bad arguments give clear errors naming what is wrong and what to try."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import cellode as cd


def decay(t, x, u, p):
    return -p * x


def stiff(t, x, u, p):
    return jnp.stack([-1e6 * (x[0] - jnp.cos(t)), -x[1]])


FIELD = cd.FunctionField(decay, jnp.array(1.0))
TS = jnp.linspace(0.0, 1.0, 3)


def test_explicit_solver_on_stiff_problem_says_it_looks_stiff():
    with pytest.raises(cd.SolveError, match=r"looks stiff .*solver='rodas5p'"):
        cd.simulate(
            cd.FunctionField(stiff, {}), jnp.array([1.0, 1.0]), TS, solver="tsit5", max_steps=500
        )


def test_auto_chooses_an_implicit_solver_for_the_stiff_problem_and_says_why():
    traj = cd.simulate(cd.FunctionField(stiff, {}), jnp.array([1.0, 1.0]), TS)
    assert traj.stats.solver == "rodas5p"
    assert "stiffness ratio 1e+06" in traj.stats.choice
    np.testing.assert_allclose(traj.xs[-1, 0], np.cos(1.0), rtol=1e-5)
    auto_nonstiff = cd.simulate(FIELD, jnp.array([1.0]), TS)
    assert auto_nonstiff.stats.solver == "tsit5"


def test_blow_up_is_reported_with_its_time():
    blowup = cd.FunctionField(lambda t, x, u, p: x**2, {})
    with pytest.raises(cd.SolveError, match=r"grows without bound at t = 1 "):
        cd.simulate(blowup, jnp.array([1.0]), jnp.array([0.0, 2.0]), solver="tsit5")


def test_non_finite_vector_field_is_named():
    broken = cd.FunctionField(lambda t, x, u, p: jnp.where(t > 0.5, jnp.nan, -x), {})
    with pytest.raises(cd.SolveError, match=r"non-finite values for state components \[0\]"):
        cd.simulate(broken, jnp.array([1.0]), jnp.array([0.0, 2.0]), solver="tsit5")


def test_inside_jit_failure_comes_back_as_result_code():
    blowup = cd.FunctionField(lambda t, x, u, p: x**2, {})
    run = eqx.filter_jit(
        lambda f: cd.simulate(f, jnp.array([1.0]), jnp.array([0.0, 2.0]), solver="tsit5")
    )
    traj = run(blowup)
    assert not bool(traj.succeeded)
    assert bool(traj.result == cd.RESULTS.max_steps_reached)
    assert np.isinf(np.asarray(traj.xs[-1, 0]))
    with pytest.raises(cd.SolveError, match="maximum number of solver steps"):
        traj.raise_if_failed()


def test_throw_false_returns_the_failed_trajectory():
    blowup = cd.FunctionField(lambda t, x, u, p: x**2, {})
    traj = cd.simulate(blowup, jnp.array([1.0]), jnp.array([0.0, 2.0]), solver="tsit5", throw=False)
    assert not bool(traj.succeeded)
    assert 0.99 < float(traj.t_reached) < 1.01


@pytest.mark.parametrize(
    ("x0", "ts", "match"),
    [
        (jnp.ones((2, 2)), TS, r"`x0` must be a 1-D state vector"),
        (jnp.array([1.0, jnp.nan]), TS, r"`x0` has non-finite entries at positions \[1\]"),
        (jnp.array([1.0]), jnp.array([0.0, 2.0, 1.0]), r"ts\[1\] = 2\.0 is followed by ts\[2\]"),
        (jnp.array([1.0]), jnp.zeros((0,)), r"non-empty 1-D array"),
    ],
)
def test_bad_arguments_are_named(x0, ts, match):
    with pytest.raises(cd.InputError, match=match):
        cd.simulate(FIELD, x0, ts)


def test_wrong_output_shape_names_the_model():
    bad = cd.FunctionField(lambda t, x, u, p: jnp.zeros(3), {})
    with pytest.raises(cd.ModelError, match=r"FunctionField returned dx/dt of shape \(3,\)"):
        cd.simulate(bad, jnp.array([1.0, 2.0]), TS, solver="tsit5")


def test_unknown_solver_lists_the_known_ones():
    with pytest.raises(cd.InputError, match=r"Unknown solver 'rk99'.*kvaerno5.*tsit5"):
        cd.simulate(FIELD, jnp.array([1.0]), TS, solver="rk99")


def test_implicit_solver_in_float32_fails_loudly():
    with pytest.raises(cd.PrecisionError, match=r"needs float64.*float32"):
        cd.simulate(FIELD, jnp.array([1.0], dtype=jnp.float32), TS, solver="kvaerno5")


def test_float32_neural_style_simulation_stays_float32():
    field = cd.FunctionField(decay, jnp.array(1.0, dtype=jnp.float32))
    traj = cd.simulate(field, jnp.array([1.0], dtype=jnp.float32), TS, solver="tsit5", rtol=1e-5)
    assert traj.xs.dtype == jnp.float32
    np.testing.assert_allclose(traj.xs[-1, 0], np.exp(-1.0), rtol=1e-4)


def test_bad_input_protocols_are_rejected():
    with pytest.raises(cd.InputError, match="one more value than change times"):
        cd.PiecewiseConstant([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(cd.InputError, match="strictly increasing"):
        cd.PiecewiseLinear([2.0, 1.0], [0.0, 1.0])
    with pytest.raises(cd.InputError, match="overlap"):
        cd.PiecewiseConstant.pulses([1.0, 1.5], duration=1.0, amplitude=1.0)
    with pytest.raises(cd.InputError, match="AbstractInput"):
        cd.simulate(FIELD, jnp.array([1.0]), TS, inputs=lambda t: t)
