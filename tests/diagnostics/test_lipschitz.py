"""Local Lipschitz constants ||J_f(x)||_2: exact answers, SVD against power iteration, reports."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode
from cellode import FunctionField, InputError, ModelError, PiecewiseConstant


def linear(t, x, u, A):
    return A @ x


def tanh_net(t, x, u, W):
    """f(x) = -x + W tanh(x): J(x) = -I + W diag(1 - tanh(x)^2)."""
    return -x + W @ jnp.tanh(x)


def squares(t, x, u, c):
    """f(x) = c x^2 elementwise: J = diag(2 c x), so ||J||_2 = 2 |c| max_i |x_i|."""
    return c * x**2


def dosed(t, x, u, A):
    return u[0] * (A @ x)


def tanh_jacobian(W, x):
    return -np.eye(len(x)) + W * (1 - np.tanh(x) ** 2)[None, :]


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(8)


def test_linear_field_lipschitz_is_largest_singular_value(rng):
    A = rng.normal(size=(4, 4))
    sigma = np.linalg.svd(A, compute_uv=False)
    assert sigma[1] / sigma[0] < 0.9  # a gap, so 200 power steps converge far below 1e-8
    field = FunctionField(linear, jnp.asarray(A))
    states = rng.normal(size=(6, 4))
    exact = cellode.local_lipschitz(field, states, method="svd")
    power = cellode.local_lipschitz(field, states, method="power")
    np.testing.assert_allclose(exact, sigma[0], rtol=1e-12)
    np.testing.assert_allclose(power, sigma[0], rtol=1e-8)


def test_nonlinear_field_matches_the_analytic_jacobian_norm(rng):
    n = 6
    W = rng.normal(size=(n, n)) / np.sqrt(n)
    states = 2 * rng.normal(size=(10, n))
    expected = [np.linalg.norm(tanh_jacobian(W, x), 2) for x in states]
    got = cellode.local_lipschitz(FunctionField(tanh_net, jnp.asarray(W)), states)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.ptp(expected) > 0.1  # the constant really varies from state to state


def test_power_iteration_is_used_for_large_states_and_agrees_with_svd(rng):
    n = cellode._diagnostics.lipschitz.SVD_MAX_DIM + 16
    W = rng.normal(size=(n, n)) / np.sqrt(n)
    states = rng.normal(size=(3, n))
    field = FunctionField(tanh_net, jnp.asarray(W))
    expected = [np.linalg.norm(tanh_jacobian(W, x), 2) for x in states]
    auto = cellode.local_lipschitz(field, states)  # auto -> power for n > 64
    svd = cellode.local_lipschitz(field, states, method="svd")
    np.testing.assert_allclose(svd, expected, rtol=1e-10)
    # Power iteration approaches sigma_max from below.
    assert np.all(np.asarray(auto) <= np.asarray(expected) * (1 + 1e-12))
    np.testing.assert_allclose(auto, expected, rtol=1e-7)


def test_along_a_trajectory_the_input_at_each_time_is_used(rng):
    A = jnp.asarray([[-1.0, 0.5], [0.0, -2.0]])
    dose = PiecewiseConstant([1.0], [1.0, 3.0])
    field = FunctionField(dosed, A)
    traj = cellode.simulate(
        field, [1.0, 1.0], np.linspace(0.0, 2.0, 9), inputs=dose, solver="tsit5"
    )
    got = np.asarray(cellode.local_lipschitz(field, traj, inputs=dose))
    scale = np.where(np.asarray(traj.ts) < 1.0, 1.0, 3.0)
    np.testing.assert_allclose(got, scale * np.linalg.norm(A, 2), rtol=1e-12)


def test_report_ratio_and_groenwall_factor():
    field = FunctionField(squares, jnp.asarray(0.5))  # ||J(x)||_2 = max |x_i|
    train = np.array([[0.5, -1.0], [0.2, 0.1], [-0.9, 0.3]])
    test = np.array([[4.0, 0.0], [1.0, 2.0]])
    report = cellode.lipschitz_report(field, train, test, horizon=2.0, quantile=1.0)
    np.testing.assert_allclose(report.train, [1.0, 0.2, 0.9], rtol=1e-12)
    np.testing.assert_allclose(report.test, [4.0, 2.0], rtol=1e-12)
    assert report.ratio == pytest.approx(4.0)
    assert report.growth == pytest.approx(np.exp(4.0 * 2.0))
    assert report.train_growth == pytest.approx(np.exp(1.0 * 2.0))
    assert "ratio 4" in report.summary()
    median = cellode.lipschitz_report(field, train, test, horizon=2.0, quantile=0.5)
    assert median.ratio == pytest.approx(3.0 / 0.9)


def test_report_horizon_defaults_to_the_test_region_time_span():
    field = FunctionField(linear, -jnp.eye(2))
    test = cellode.region(np.ones((6, 2)), ts=np.linspace(0.5, 3.0, 6))
    report = cellode.lipschitz_report(field, np.ones((3, 2)), test)
    assert report.horizon == pytest.approx(2.5)
    assert report.ratio == pytest.approx(1.0)


def test_sampled_box_region():
    region = cellode.sample_box(jax.random.key(1), [0.0, -1.0], [1.0, 1.0], 50)
    xs = np.asarray(region.xs)
    assert xs.shape == (50, 2)
    assert np.all(xs >= [0.0, -1.0]) and np.all(xs <= [1.0, 1.0])
    assert xs[:, 1].min() < -0.5 < 0.5 < xs[:, 1].max()
    got = cellode.local_lipschitz(FunctionField(squares, jnp.asarray(0.5)), region)
    np.testing.assert_allclose(got, np.abs(xs).max(axis=1), rtol=1e-12)


def test_bad_input_names_the_argument():
    field = FunctionField(linear, -jnp.eye(2))
    good = np.ones((3, 2))
    with pytest.raises(InputError, match=r"train_region.*empty"):
        cellode.lipschitz_report(field, np.zeros((0, 2)), good, horizon=1.0)
    with pytest.raises(InputError, match=r"test_region.*non-finite.*rows \[1\]"):
        cellode.lipschitz_report(field, good, [[1.0, 1.0], [np.nan, 0.0]], horizon=1.0)
    with pytest.raises(InputError, match=r"train_region.*shape \(m, n\)"):
        cellode.lipschitz_report(field, np.ones(2), good, horizon=1.0)
    with pytest.raises(InputError, match=r"dimension 3.*2"):
        cellode.lipschitz_report(field, np.ones((2, 3)), good, horizon=1.0)
    with pytest.raises(ModelError, match="shape"):
        cellode.local_lipschitz(field, np.ones((2, 3)))
    with pytest.raises(InputError, match="method"):
        cellode.local_lipschitz(field, good, method="qr")
    with pytest.raises(InputError, match="horizon"):
        cellode.lipschitz_report(field, good, good, horizon=-1.0)
    with pytest.raises(InputError, match="upper >= lower"):
        cellode.sample_box(jax.random.key(0), [1.0], [0.0], 3)


def test_new_states_and_parameters_reuse_the_compiled_function():
    traces = []

    def counted(t, x, u, A):
        traces.append(1)  # runs only while JAX traces the function
        return A @ x

    cellode.local_lipschitz(FunctionField(counted, -jnp.eye(2)), np.ones((3, 2)))
    first = len(traces)
    got = cellode.local_lipschitz(FunctionField(counted, 2 * jnp.eye(2)), np.zeros((3, 2)))
    np.testing.assert_allclose(got, 2.0)
    assert len(traces) - first == 1  # the shape check only
