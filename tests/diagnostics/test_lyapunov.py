"""Finite-time Lyapunov exponents: linear systems (exact), Liouville's formula, Lorenz-63,
conservation laws, vmapped maps, failures and bad input."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import cellode
from cellode import FunctionField, InputError, ModelError, SolveError

LORENZ = (10.0, 28.0, 8.0 / 3.0)
LORENZ_LARGEST = 0.9056  # the classic value (e.g. Sprott, Chaos and Time-Series Analysis)
LORENZ_SEGMENTS = 500
TOL = dict(solver="tsit5", rtol=1e-8, atol=1e-10)


def linear(t, x, u, A):
    return A @ x


def lorenz(t, x, u, p):
    sigma, rho, beta = p[0], p[1], p[2]
    return jnp.stack([sigma * (x[1] - x[0]), x[0] * (rho - x[2]) - x[1], x[0] * x[1] - beta * x[2]])


def blow_up(t, x, u, c):
    return c * x**2


def exact_largest(A, T):
    """(1/T) log sigma_max(e^{A T}): the definition, for a linear system."""
    return np.log(np.linalg.norm(scipy.linalg.expm(np.asarray(A) * T), 2)) / T


@pytest.mark.parametrize(
    "A",
    [
        [[-0.5, 2.0], [-2.0, -0.5]],  # normal: decaying rotation, eigenvalues -0.5 +- 2i
        [[0.3, 0.0], [0.0, -0.7]],  # normal: diagonal
    ],
)
def test_normal_linear_system_has_the_largest_real_part_of_the_eigenvalues(A):
    A = np.asarray(A)
    result = cellode.ftle(FunctionField(linear, jnp.asarray(A)), [1.0, 0.5], 3.0, **TOL)
    real_parts = np.sort(np.linalg.eigvals(A).real)[::-1]
    assert float(result.largest) == pytest.approx(real_parts[0], abs=1e-7)
    np.testing.assert_allclose(result.spectrum, real_parts, atol=1e-7)


@pytest.mark.parametrize("T", [3.0, 60.0])
def test_damped_oscillator_is_negative_and_matches_the_matrix_exponential(T):
    # x'' + 0.4 x' + 4 x = 0: non-normal, eigenvalues -0.2 +- 1.99i.
    A = np.array([[0.0, 1.0], [-4.0, -0.4]])
    result = cellode.ftle(FunctionField(linear, jnp.asarray(A)), [1.0, 0.0], T, **TOL)
    assert float(result.largest) == pytest.approx(exact_largest(A, T), abs=1e-7)
    assert float(result.largest) < 0
    # Liouville: the exponents sum to (1/T) log det Phi(T) = trace(A).
    assert float(jnp.sum(result.spectrum)) == pytest.approx(np.trace(A), abs=1e-7)
    if T > 10:
        assert float(result.largest) == pytest.approx(-0.2, abs=0.02)


@pytest.fixture(scope="module")
def lorenz_field():
    return FunctionField(lorenz, jnp.asarray(LORENZ))


@pytest.fixture(scope="module")
def on_attractor(lorenz_field):
    """A state on the attractor (after a transient of 20 time units)."""
    warm = cellode.ftle(lorenz_field, [1.0, 1.0, 20.0], 20.0, segments=LORENZ_SEGMENTS, **TOL)
    return np.asarray(warm.x_end)


def test_lorenz_exponents_sum_to_the_constant_divergence(lorenz_field, on_attractor):
    sigma, _, beta = LORENZ
    result = cellode.ftle(lorenz_field, on_attractor, 10.0, segments=LORENZ_SEGMENTS, **TOL)
    assert float(jnp.sum(result.spectrum)) == pytest.approx(-(sigma + 1 + beta), rel=1e-6)


def test_lorenz_largest_exponent_over_a_long_horizon(lorenz_field, on_attractor):
    result = cellode.ftle(lorenz_field, on_attractor, 1000.0, segments=LORENZ_SEGMENTS, **TOL)
    assert float(result.largest) == pytest.approx(LORENZ_LARGEST, rel=0.03)
    assert float(result.spectrum[0]) == pytest.approx(LORENZ_LARGEST, rel=0.03)
    assert abs(float(result.spectrum[1])) < 0.01  # the direction of the flow
    assert float(result.spectrum[2]) == pytest.approx(-14.572, rel=0.01)


@pytest.mark.slow
def test_lorenz_largest_exponent_within_one_percent(lorenz_field, on_attractor):
    result = cellode.ftle(lorenz_field, on_attractor, 5000.0, segments=LORENZ_SEGMENTS, **TOL)
    assert float(result.spectrum[0]) == pytest.approx(LORENZ_LARGEST, rel=0.01)


def test_ftle_map_equals_a_loop_of_ftle(lorenz_field, on_attractor):
    x0s = on_attractor[None, :] + np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [-3.0, 1.0, 2.0]])
    kwargs = dict(segments=LORENZ_SEGMENTS, **TOL)
    batch = cellode.ftle_map(lorenz_field, x0s, 2.0, **kwargs)
    loop = [float(cellode.ftle(lorenz_field, x0, 2.0, **kwargs).largest) for x0 in x0s]
    assert batch.largest.shape == (3,) and batch.spectrum.shape == (3, 3)
    np.testing.assert_allclose(batch.largest, loop, rtol=1e-7)
    assert np.ptp(loop) > 0.05  # the initial states really differ
    assert bool(jnp.all(batch.succeeded))


@pytest.fixture(scope="module")
def binding():
    net = cellode.ReactionNetwork.from_text(
        "A + B <-> C ; k1, k2", parameters={"k1": 1.0, "k2": 0.5}
    )
    return net.vector_field(), net.conservation_laws(), np.array([1.0, 0.6, 0.2])


def test_conservation_laws_give_zero_exponents_that_projection_removes(binding):
    field, laws, x0 = binding
    T = 40.0
    full = cellode.ftle(field, x0, T, **TOL)
    projected = cellode.ftle(field, x0, T, laws=laws, **TOL)
    reduced_field = cellode.ReducedField(field, laws, x0)
    reduced = cellode.ftle(reduced_field, reduced_field.reduce_state(x0), T, **TOL)
    assert len(laws) == 2
    # Full state: one exponent near 0 per law (O(1/T) at finite T), then the binding mode.
    assert full.spectrum.shape == (3,)
    assert np.all(np.abs(np.asarray(full.spectrum[:2])) < 0.02)
    # Projected onto null(W): the zero exponents are gone and what is left is the reduced
    # model's exponent, -(1/T) int (k1 (A + B) + k2) dt, about -1.55 here.
    assert projected.spectrum.shape == (1,) and reduced.spectrum.shape == (1,)
    assert float(projected.largest) == pytest.approx(float(reduced.largest), rel=1e-6)
    assert float(projected.largest) < -1.5
    assert float(full.spectrum[2]) == pytest.approx(float(projected.largest), rel=0.02)
    # With the laws in, the largest exponent tells that the dynamics contract.
    assert float(full.largest) > -0.02


def test_a_solution_that_blows_up_raises_and_maps_give_nan():
    field = FunctionField(blow_up, jnp.asarray(1.0))  # x' = x^2 blows up at t = 1 / x0
    with pytest.raises(SolveError, match="variational equation"):
        cellode.ftle(field, [1.0], 2.0, segments=2, **TOL)
    batch = cellode.ftle_map(field, [[0.1], [1.0]], 2.0, segments=2, **TOL)
    assert np.asarray(batch.succeeded).tolist() == [True, False]
    assert np.isnan(float(batch.largest[1]))
    # x' = x^2: Phi(T) = (x(T) / x0)^2 = (1 - x0 T)^-2, so lambda = -2 log(1 - x0 T) / T.
    assert float(batch.largest[0]) == pytest.approx(-2 * np.log(1 - 0.1 * 2.0) / 2.0, rel=1e-7)


def test_bad_input_names_the_argument():
    field = FunctionField(linear, -jnp.eye(2))
    with pytest.raises(ModelError, match="x0"):
        cellode.ftle(field, [1.0, 2.0, 3.0], 1.0, **TOL)
    with pytest.raises(InputError, match=r"x0.*non-finite"):
        cellode.ftle(field, [1.0, np.nan], 1.0, **TOL)
    with pytest.raises(InputError, match="horizon"):
        cellode.ftle(field, [1.0, 2.0], 0.0, **TOL)
    with pytest.raises(InputError, match="segments"):
        cellode.ftle(field, [1.0, 2.0], 1.0, segments=0, **TOL)
    with pytest.raises(InputError, match=r"x0s.*shape"):
        cellode.ftle_map(field, [1.0, 2.0], 1.0, **TOL)
    with pytest.raises(InputError, match=r"x0s.*shape"):
        cellode.ftle_map(field, np.zeros((0, 2)), 1.0, **TOL)
    with pytest.raises(InputError, match=r"laws.*directions"):
        cellode.ftle(field, [1.0, 2.0], 1.0, laws=[[1, 1]], directions=np.eye(2), **TOL)


def test_new_states_horizons_and_parameters_reuse_the_compiled_solve():
    traces = []

    def counted(t, x, u, A):
        traces.append(1)  # runs only while JAX traces the function
        return A @ x

    cellode.ftle(FunctionField(counted, -jnp.eye(2)), [1.0, 2.0], 1.0, **TOL)
    first = len(traces)
    cellode.ftle(FunctionField(counted, -2 * jnp.eye(2)), [3.0, 2.0], 2.5, **TOL)
    cellode.ftle(FunctionField(counted, jnp.ones((2, 2))), [0.0, 1.0], 4.0, **TOL)
    assert first > 2
    assert len(traces) - first == 2  # one shape check per call, no retrace of the solve


def dosed(t, x, u, A):
    return u[0] * (A @ x)


def test_time_dependent_inputs_are_followed_across_their_jumps():
    # x' = u(t) A x with normal A: Phi(T) = exp(A int_0^T u dt), so
    # lambda = max Re eig(A) * (1/T) int_0^T u dt exactly.
    A = np.array([[-0.5, 2.0], [-2.0, -0.5]])
    dose = cellode.PiecewiseConstant([0.7, 2.2], [1.0, 4.0, 0.5])
    T = 3.0
    mean_dose = (0.7 * 1.0 + 1.5 * 4.0 + 0.8 * 0.5) / T
    result = cellode.ftle(
        FunctionField(dosed, jnp.asarray(A)), [1.0, 0.0], T, inputs=dose, segments=4, **TOL
    )
    assert float(result.largest) == pytest.approx(-0.5 * mean_dose, rel=1e-7)
