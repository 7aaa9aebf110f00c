"""SDE sample paths (Ornstein–Uhlenbeck moments) and discrete-time maps."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import cellode as cd


def decay(t, x, u, p):
    return -p * x


THETA, SIGMA, N_PATHS = 1.0, 0.5, 4000
TS = jnp.linspace(0.0, 2.0, 5)


@pytest.fixture(scope="module")
def ou_ensemble():
    ou = cd.SDE(cd.FunctionField(decay, jnp.array(THETA)), cd.AdditiveNoise([SIGMA]))
    keys = jr.split(jr.key(0), N_PATHS)
    run = jax.vmap(lambda k: cd.simulate(ou, jnp.array([1.0]), TS, key=k, dt0=0.005).xs[:, 0])
    return np.asarray(run(keys))


def test_ornstein_uhlenbeck_mean_and_variance_within_sampling_error(ou_ensemble):
    t = np.asarray(TS)
    mean = np.exp(-THETA * t)
    var = SIGMA**2 / (2 * THETA) * (1 - np.exp(-2 * THETA * t))
    se_mean = np.sqrt(var / N_PATHS)
    se_var = var * np.sqrt(2 / (N_PATHS - 1))
    assert np.all(np.abs(ou_ensemble.mean(0) - mean) <= 4 * se_mean + 5e-3)
    assert np.all(np.abs(ou_ensemble.var(0) - var) <= 4 * se_var + 5e-3)
    assert ou_ensemble[:, 0].std() == 0.0  # every path starts at x0


def test_sde_paths_reproducible_and_key_dependent():
    ou = cd.SDE(cd.FunctionField(decay, jnp.array(THETA)), cd.AdditiveNoise([SIGMA]))
    a = cd.simulate(ou, jnp.array([1.0]), TS, key=jr.key(1)).xs
    b = cd.simulate(ou, jnp.array([1.0]), TS, key=jr.key(1)).xs
    c = cd.simulate(ou, jnp.array([1.0]), TS, key=jr.key(2)).xs
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[1:], c[1:])


def test_general_noise_with_one_shared_wiener_process():
    """G = [[s], [s]]: both components receive the same noise, so x1 - x2 stays deterministic."""
    field = cd.FunctionField(decay, jnp.array(0.3))
    shared = cd.FunctionDiffusion(lambda t, x, u, p: p * jnp.ones((2, 1)), jnp.array(0.4), dim=1)
    traj = cd.simulate(cd.SDE(field, shared), jnp.array([1.0, 3.0]), TS, key=jr.key(3))
    np.testing.assert_allclose(
        traj.xs[:, 1] - traj.xs[:, 0], 2.0 * np.exp(-0.3 * np.asarray(TS)), rtol=2e-3
    )


def test_sde_with_zero_noise_is_the_ode():
    sde = cd.SDE(cd.FunctionField(decay, jnp.array(THETA)), cd.MultiplicativeNoise([0.0]))
    traj = cd.simulate(sde, jnp.array([1.0]), TS, key=jr.key(0), dt0=1e-3)
    np.testing.assert_allclose(traj.xs[:, 0], np.exp(-np.asarray(TS)), rtol=2e-3)


def test_sde_needs_a_key():
    sde = cd.SDE(cd.FunctionField(decay, jnp.array(THETA)), cd.AdditiveNoise([SIGMA]))
    with pytest.raises(cd.InputError, match="PRNG `key`"):
        cd.simulate(sde, jnp.array([1.0]), TS)


def logistic_map(k, x, u, p):
    return p * x * (1 - x) + u


def test_discrete_map_equals_hand_loop_with_inputs():
    r = 3.2
    model = cd.FunctionMap(logistic_map, jnp.array(r), dt=0.5)
    inputs = cd.PiecewiseConstant([2.0], [0.0, 0.01])  # switches on at t = 2 (step k = 4)
    steps = np.array([0, 3, 4, 5, 10])
    traj = cd.simulate(model, jnp.array([0.2]), steps, inputs=inputs)
    x, path = 0.2, [0.2]
    for k in range(10):
        x = r * x * (1 - x) + (0.01 if k * 0.5 >= 2.0 else 0.0)
        path.append(x)
    np.testing.assert_allclose(traj.xs[:, 0], np.array(path)[steps], rtol=1e-12)
    np.testing.assert_allclose(traj.ts, steps * 0.5)


def test_noisy_discrete_map_residuals_have_the_noise_scale():
    model = cd.FunctionMap(lambda k, x, u, p: p * x, jnp.array(0.0), noise_std=[0.3])
    traj = cd.simulate(model, jnp.array([0.0]), np.arange(2001), key=jr.key(5))
    residuals = np.asarray(traj.xs[1:, 0])  # F(x) = 0, so x_{k+1} = eps_k
    assert abs(residuals.std() - 0.3) < 4 * 0.3 / np.sqrt(2 * 2000)
    with pytest.raises(cd.InputError, match="noise"):
        cd.simulate(model, jnp.array([0.0]), np.arange(5))
