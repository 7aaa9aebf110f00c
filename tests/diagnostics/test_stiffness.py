"""Stiffness diagnostics: eigenvalues of J along a trajectory and the stiffness ratio."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.figure import Figure

import cellode
from cellode._diagnostics.stiffness import plot_stiffness, stiffness

# A = V diag(-1, -1e3, -1e6, 0) V⁻¹: a non-normal linear field with known spectrum, one zero
# eigenvalue standing for a conservation law.
_RNG = np.random.default_rng(0)
_V = np.eye(4) + 0.3 * _RNG.standard_normal((4, 4))
_A = _V @ np.diag([-1.0, -1.0e3, -1.0e6, 0.0]) @ np.linalg.inv(_V)


def _linear():
    return cellode.FunctionField(lambda t, x, u, a: a @ x, jnp.asarray(_A))


def test_ratio_of_a_known_spectrum_ignores_the_zero_eigenvalue():
    ts = jnp.array([0.0, 1.0])
    xs = jnp.ones((2, 4))
    report = stiffness(_linear(), ts, xs)
    np.testing.assert_allclose(
        np.sort(np.asarray(report.eigenvalues[0]).real), [-1e6, -1e3, -1.0, 0.0], atol=1e-6
    )
    np.testing.assert_allclose(report.fastest, 1e6, rtol=1e-9)
    np.testing.assert_allclose(report.slowest, 1.0, rtol=1e-9)
    np.testing.assert_allclose(report.ratio, 1e6, rtol=1e-9)


def test_state_and_input_dependence():
    """f = -u (x1², x2): J = -u diag(2 x1, 1); the ratio follows the state and the input."""
    field = cellode.FunctionField(
        lambda t, x, u, p: -u[0] * jnp.stack([x[0] ** 2, x[1]]), jnp.zeros(())
    )
    ts = jnp.array([0.0, 1.0, 2.0])
    xs = jnp.array([[0.5, 1.0], [5.0, 1.0], [50.0, 1.0]])
    report = stiffness(field, ts, xs, inputs=cellode.Constant(3.0))
    np.testing.assert_allclose(report.ratio, [1.0, 10.0, 100.0], rtol=1e-12)
    np.testing.assert_allclose(report.fastest, [3.0, 30.0, 300.0], rtol=1e-12)
    assert float(report.t_max_ratio) == 2.0
    assert float(report.max_ratio) == pytest.approx(100.0)


def test_growing_modes_do_not_count():
    field = cellode.FunctionField(lambda t, x, u, d: d * x, jnp.array([2.0, -1.0, -10.0]))
    report = stiffness(field, jnp.zeros(1), jnp.ones((1, 3)))
    np.testing.assert_allclose(report.ratio, [10.0])


def test_accepts_a_trajectory_and_is_jit_safe():
    field = _linear()
    traj = cellode.simulate(field, jnp.ones(4), jnp.array([0.0, 0.5, 1.0]), solver="rodas5p")
    direct = stiffness(field, traj.ts, traj.xs)
    from_traj = stiffness(field, traj)
    jitted = eqx.filter_jit(stiffness)(field, traj.ts, traj.xs)
    np.testing.assert_allclose(from_traj.ratio, direct.ratio)
    np.testing.assert_allclose(jitted.ratio, direct.ratio, rtol=1e-10)


def test_missing_states_is_a_clear_error():
    with pytest.raises(cellode.InputError, match="Trajectory"):
        stiffness(_linear(), jnp.array([0.0, 1.0]))


def test_plot_returns_a_figure_with_both_panels():
    field = cellode.FunctionField(lambda t, x, u, p: -jnp.stack([x[0] ** 2, x[1]]), jnp.zeros(()))
    ts = jnp.array([0.0, 1.0, 2.0])
    xs = jnp.array([[0.5, 1.0], [5.0, 1.0], [50.0, 1.0]])
    fig = plot_stiffness(stiffness(field, ts, xs))
    assert isinstance(fig, Figure)
    rates_ax, ratio_ax = fig.axes
    assert rates_ax.get_yscale() == "log" and ratio_ax.get_yscale() == "log"
    np.testing.assert_allclose(ratio_ax.lines[0].get_ydata(), [1.0, 10.0, 100.0])
