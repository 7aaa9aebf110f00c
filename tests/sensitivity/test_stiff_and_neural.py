"""Gradients of a stiff mechanistic model (Robertson, implicit solver) and of a neural ODE."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode as cd


def robertson(t, x, u, log_k):
    k1, k2, k3 = jnp.exp(log_k)
    y1, y2, y3 = x
    return jnp.stack([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2**2 - k3 * y2 * y3, k2 * y2**2])


LOG_K = jnp.log(jnp.array([0.04, 3e7, 1e4]))
R_X0 = jnp.array([1.0, 0.0, 0.0])
R_TS = jnp.array([1.0, 10.0, 100.0])


def robertson_loss(log_k, x0, sensitivity=None, solver="kvaerno5"):
    traj = cd.simulate(
        cd.FunctionField(robertson, log_k),
        x0,
        R_TS,
        t0=0.0,
        solver=solver,
        rtol=1e-8,
        atol=1e-10,
        sensitivity=sensitivity,
    )
    return jnp.sum(traj.xs[:, 0]) + 1e4 * jnp.sum(traj.xs[:, 1])


@pytest.mark.slow
@pytest.mark.parametrize(("solver", "rtol"), [("kvaerno5", 1e-6), ("rodas5p", 1e-6), ("bdf", 1e-5)])
def test_robertson_gradients_with_an_implicit_solver(solver, rtol):
    """Forward sensitivities and the checkpointed adjoint (whose backward solve uses the same
    implicit solver as the forward one: ESDIRK, Rosenbrock or BDF) agree with the discrete
    adjoint and with central differences in log k. With Kvaerno5, backsolve, which integrates
    this stiff system backwards, does not give a usable gradient."""
    grad = eqx.filter_jit(jax.grad(robertson_loss, argnums=(0, 1)))
    reference = grad(LOG_K, R_X0, cd.DiscreteAdjoint(), solver)
    loss = jax.jit(robertson_loss, static_argnums=(2, 3))
    h = 1e-6
    fd = [
        (
            loss(LOG_K.at[i].add(h), R_X0, None, solver)
            - loss(LOG_K.at[i].add(-h), R_X0, None, solver)
        )
        / (2 * h)
        for i in range(3)
    ]
    np.testing.assert_allclose(reference[0], fd, rtol=1e-4)
    for method in (cd.ForwardSensitivity(), cd.CheckpointedAdjoint(checkpoints=4)):
        g_k, g_x0 = grad(LOG_K, R_X0, method, solver)
        np.testing.assert_allclose(g_k, reference[0], rtol=rtol, err_msg=type(method).__name__)
        np.testing.assert_allclose(g_x0, reference[1], rtol=rtol, err_msg=type(method).__name__)
    if solver == "kvaerno5":
        g_k, _ = grad(LOG_K, R_X0, cd.BacksolveAdjoint(), solver)
        usable = np.all(np.isfinite(g_k)) and np.allclose(g_k, reference[0], rtol=1e-3)
        assert not usable


class NeuralField(cd.AbstractVectorField):
    mlp: eqx.nn.MLP

    def __call__(self, t, x, u):
        return self.mlp(x**3)


def neural_loss(field, ts, sensitivity):
    traj = cd.simulate(
        field,
        jnp.array([2.0, 0.0]),
        ts,
        t0=0.0,
        solver="tsit5",
        rtol=1e-9,
        atol=1e-9,
        sensitivity=sensitivity,
    )
    return jnp.mean((traj.xs - jnp.array([1.0, -0.5])) ** 2)


@pytest.fixture(scope="module")
def neural():
    mlp = eqx.nn.MLP(2, 2, 8, 1, activation=jnp.tanh, key=jax.random.key(0))
    mlp = jax.tree.map(lambda a: a.astype(jnp.float64) * 0.3 if eqx.is_inexact_array(a) else a, mlp)
    field = NeuralField(mlp)
    ts = jnp.linspace(0.1, 2.0, 10)
    grad = eqx.filter_jit(eqx.filter_grad(neural_loss))
    methods = {
        "discrete": cd.DiscreteAdjoint(),
        "forward": cd.ForwardSensitivity(),
        "checkpointed": cd.CheckpointedAdjoint(checkpoints=2),
        "backsolve": cd.BacksolveAdjoint(),
    }
    grads = {name: grad(field, ts, m) for name, m in methods.items()}
    return field, ts, grads


def test_neural_ode_methods_agree(neural):
    _, _, grads = neural
    ref = jax.flatten_util.ravel_pytree(eqx.filter(grads["discrete"], eqx.is_inexact_array))[0]
    assert ref.shape == (2 * 8 + 8 + 8 * 2 + 2,)
    for name, g in grads.items():
        flat = jax.flatten_util.ravel_pytree(eqx.filter(g, eqx.is_inexact_array))[0]
        np.testing.assert_allclose(
            flat, ref, rtol=1e-6, atol=1e-9 * np.abs(ref).max(), err_msg=name
        )


def test_neural_ode_directional_derivatives_match_central_differences(neural):
    """grad . v against (L(theta + h v) - L(theta - h v)) / 2h along random directions v."""
    field, ts, grads = neural
    params, static = eqx.partition(field, eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    loss = eqx.filter_jit(lambda p: neural_loss(eqx.combine(unravel(p), static), ts, None))
    g = jax.flatten_util.ravel_pytree(eqx.filter(grads["checkpointed"], eqx.is_inexact_array))[0]
    rng = np.random.default_rng(0)
    h = 1e-5
    for _ in range(3):
        v = jnp.asarray(rng.standard_normal(flat.shape))
        fd = (loss(flat + h * v) - loss(flat - h * v)) / (2 * h)
        np.testing.assert_allclose(g @ v, fd, rtol=1e-6)
