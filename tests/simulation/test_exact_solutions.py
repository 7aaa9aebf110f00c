"""simulate() against closed-form solutions: linear systems, logistic growth, inputs with jumps."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import cellode as cd


def linear(t, x, u, p):
    return p["A"] @ x


def logistic(t, x, u, p):
    return p["r"] * x * (1.0 - x / p["K"])


def relaxation(t, x, u, p):
    return -p["k"] * x + u


A = jnp.array([[-0.5, 1.0, 0.0], [-1.0, -0.5, 0.2], [0.0, 0.3, -2.0]])


@pytest.mark.parametrize("solver", ["tsit5", "dopri8", "kvaerno5"])
def test_linear_system_matches_matrix_exponential(solver):
    field = cd.FunctionField(linear, {"A": A})
    x0 = jnp.array([1.0, 0.0, 2.0])
    ts = jnp.linspace(0.0, 5.0, 11)
    traj = cd.simulate(field, x0, ts, solver=solver, rtol=1e-10, atol=1e-12)
    exact = np.stack([scipy.linalg.expm(np.asarray(A) * t) @ np.asarray(x0) for t in ts])
    np.testing.assert_allclose(traj.xs, exact, rtol=1e-7, atol=1e-9)
    assert traj.stats.solver == solver


def test_logistic_growth_matches_closed_form():
    r, K, x0 = 1.3, 10.0, 0.2
    field = cd.FunctionField(logistic, {"r": jnp.array(r), "K": jnp.array(K)})
    ts = jnp.linspace(0.0, 8.0, 17)
    traj = cd.simulate(field, jnp.array([x0]), ts, rtol=1e-10, atol=1e-12)
    exact = K / (1.0 + (K / x0 - 1.0) * np.exp(-r * np.asarray(ts)))
    np.testing.assert_allclose(traj.xs[:, 0], exact, rtol=1e-8)


def _step_response(t, k, t_on, t_off, dose):
    """x' = -k x + u, x(0) = 0, u = dose on [t_on, t_off)."""
    t = np.asarray(t)
    rise = dose / k * (1 - np.exp(-k * np.clip(t - t_on, 0, None)))
    at_off = dose / k * (1 - np.exp(-k * (t_off - t_on)))
    fall = at_off * np.exp(-k * (t - t_off))
    return np.where(t < t_on, 0.0, np.where(t < t_off, rise, fall))


def test_step_input_is_resolved_exactly():
    k, t_on, t_off, dose = 0.7, 1.0, 2.5, 3.0
    field = cd.FunctionField(relaxation, {"k": jnp.array(k)})
    inputs = cd.PiecewiseConstant([t_on, t_off], [0.0, dose, 0.0])
    ts = jnp.array([0.5, 1.0, 1.7, 2.5, 3.0, 6.0])
    traj = cd.simulate(field, jnp.array([0.0]), ts, t0=0.0, inputs=inputs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(traj.xs[:, 0], _step_response(ts, k, t_on, t_off, dose), atol=1e-9)


def test_without_stepping_onto_the_jump_the_error_is_much_larger():
    """The same input written as a function of t hides its jumps from the solver.

    Measured at rtol 1e-6: about 100x the error and 7x the steps (most of them rejected).
    """
    k, t_on, t_off, dose = 0.7, 1.0, 2.5, 3.0
    exact = _step_response(np.array([6.0]), k, t_on, t_off, dose)

    def hidden_step(t, x, u, p):
        u_t = jnp.where((t >= t_on) & (t < t_off), dose, 0.0)
        return -p["k"] * x + u_t

    smeared = cd.simulate(
        cd.FunctionField(hidden_step, {"k": jnp.array(k)}),
        jnp.array([0.0]),
        jnp.array([0.0, 6.0]),
        rtol=1e-6,
        atol=1e-9,
    )
    stepped = cd.simulate(
        cd.FunctionField(relaxation, {"k": jnp.array(k)}),
        jnp.array([0.0]),
        jnp.array([0.0, 6.0]),
        inputs=cd.PiecewiseConstant([t_on, t_off], [0.0, dose, 0.0]),
        rtol=1e-6,
        atol=1e-9,
    )
    err_stepped = abs(float(stepped.xs[-1, 0]) - exact[0])
    err_smeared = abs(float(smeared.xs[-1, 0]) - exact[0])
    assert err_stepped < 1e-6
    assert err_smeared > 10 * err_stepped
    assert int(smeared.stats.num_steps) > 3 * int(stepped.stats.num_steps)


def test_ramp_input_matches_closed_form():
    """x' = -k x + u with u a ramp from 0 at t=1 to 2 at t=3, then held: exact piecewise solution."""
    k = 0.5
    field = cd.FunctionField(relaxation, {"k": jnp.array(k)})
    inputs = cd.PiecewiseLinear([1.0, 3.0], [0.0, 2.0])
    ts = jnp.array([0.0, 1.0, 2.0, 3.0, 5.0])
    traj = cd.simulate(field, jnp.array([0.0]), ts, inputs=inputs, rtol=1e-10, atol=1e-12)

    slope = 1.0  # u = slope (t - 1) on [1, 3]

    def ramp_part(t):  # solution of x' = -k x + slope (t - 1), x(1) = 0
        s = t - 1.0
        return slope * (s / k - (1 - np.exp(-k * s)) / k**2)

    x3 = ramp_part(3.0)
    expected = [0.0, 0.0, ramp_part(2.0), x3, 2.0 / k + (x3 - 2.0 / k) * np.exp(-k * 2.0)]
    np.testing.assert_allclose(traj.xs[:, 0], expected, atol=1e-9)


def test_pulse_train_protocol_and_stacked_inputs():
    pulses = cd.PiecewiseConstant.pulses(starts=[1.0, 4.0], duration=1.0, amplitude=[2.0, 5.0])
    np.testing.assert_allclose(pulses.discontinuities, [1.0, 2.0, 4.0, 5.0])
    values = [float(pulses(t)[0]) for t in [0.5, 1.0, 1.99, 2.0, 4.5, 6.0]]
    assert values == [0.0, 2.0, 2.0, 0.0, 5.0, 0.0]
    both = cd.Stacked(pulses, cd.Constant(7.0))
    assert both.n_inputs == 2
    np.testing.assert_allclose(both(1.5), [2.0, 7.0])
    np.testing.assert_allclose(both.discontinuities, [1.0, 2.0, 4.0, 5.0])


def test_non_autonomous_field_uses_time():
    """x' = cos(t): x(t) = sin(t)."""
    field = cd.FunctionField(lambda t, x, u, p: jnp.cos(t) * jnp.ones_like(x), {})
    ts = jnp.linspace(0.0, 10.0, 21)
    traj = cd.simulate(field, jnp.array([0.0]), ts, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(traj.xs[:, 0], np.sin(ts), atol=1e-9)


def test_t0_before_first_save_time():
    field = cd.FunctionField(linear, {"A": A})
    x0 = jnp.array([1.0, 0.0, 2.0])
    traj = cd.simulate(field, x0, jnp.array([2.0, 3.0]), t0=0.0, rtol=1e-10, atol=1e-12)
    exact = scipy.linalg.expm(np.asarray(A) * 2.0) @ np.asarray(x0)
    np.testing.assert_allclose(traj.xs[0], exact, rtol=1e-8)
