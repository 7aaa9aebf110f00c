"""The checkpointed adjoint's own backward stepping loop: an implicit backward solve for a stiff
problem, and backward steps much longer than the forward ones (x read from the dense output far
apart). Many observations (200 jumps of the adjoint inside one loop) are checked in
test_methods.py against the analytic gradient and the discrete adjoint."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import cellode as cd


def stiff_matrix(k):
    """x1 <-> x2 fast exchange (rates ~1e3) next to a slow decay of x2 (rate ~1): eigenvalues
    ~ -2000 and ~ -0.5."""
    kf, kb, kd = k
    return np.array([[-kf, kb], [kf, -kb - kd]])


def stiff_linear(t, x, u, log_k):
    kf, kb, kd = jnp.exp(log_k)
    return jnp.stack([-kf * x[0] + kb * x[1], kf * x[0] - kb * x[1] - kd * x[1]])


def test_stiff_problem_with_an_implicit_backward_solve_matches_the_exact_gradient():
    """Kvaerno5 forward, so Kvaerno5 backward (the solver's own step, its root finder given the
    controller's tolerances), 30 observations from 1e-3 to 5. x' = A x is solved exactly:
    x(t) = e^{At} x0, dx(t)/dtheta_i = [e^{Mt}]_{12} x0 with M = [[A, dA/dtheta_i], [0, A]]
    (the derivative of the matrix exponential as a block exponential), so for
    L = sum_k x2(t_k)^2 + x1(t_k) the gradient in log k and in x0 is known to 1e-14."""
    from scipy.linalg import expm

    ts = np.geomspace(1e-3, 5.0, 30)
    k = np.array([1e3, 1e3, 1.0])
    x0 = np.array([1.0, 0.0])

    @eqx.filter_jit
    def grad(log_k, x0):
        def loss(log_k, x0):
            traj = cd.simulate(
                cd.FunctionField(stiff_linear, log_k),
                x0,
                jnp.asarray(ts),
                t0=0.0,
                solver="kvaerno5",
                rtol=1e-9,
                atol=1e-11,
                sensitivity=cd.CheckpointedAdjoint(checkpoints=2),
            )
            return jnp.sum(traj.xs[:, 1] ** 2) + jnp.sum(traj.xs[:, 0])

        return jax.grad(loss, argnums=(0, 1))(log_k, x0)

    g_k, g_x0 = grad(jnp.log(jnp.asarray(k)), jnp.asarray(x0))
    a = stiff_matrix(k)
    # dA/dlog k_i = k_i dA/dk_i
    da_dlogk = [
        k[0] * np.array([[-1.0, 0.0], [1.0, 0.0]]),
        k[1] * np.array([[0.0, 1.0], [0.0, -1.0]]),
        k[2] * np.array([[0.0, 0.0], [0.0, -1.0]]),
    ]
    exact_k, exact_x0 = np.zeros(3), np.zeros(2)
    for t in ts:
        x = expm(a * t) @ x0
        dl_dx = np.array([1.0, 2 * x[1]])
        exact_x0 += expm(a * t).T @ dl_dx
        for i, da in enumerate(da_dlogk):
            block = expm(np.block([[a, da], [np.zeros((2, 2)), a]]) * t)
            exact_k[i] += dl_dx @ (block[:2, 2:] @ x0)
    # The parameter gradient is a quadrature outside the error control (a only): a few 1e-6.
    np.testing.assert_allclose(g_k, exact_k, rtol=1e-5, atol=1e-9 * np.abs(exact_k).max())
    np.testing.assert_allclose(g_x0, exact_x0, rtol=1e-7)


def decoupled(t, x, u, k):
    """x1 decays; x2 is driven at frequency 200 (many small forward steps) and unobserved."""
    return jnp.stack([-k[0] * x[0], -k[1] * x[1] + jnp.sin(200.0 * t)])


def test_backward_steps_longer_than_the_forward_ones():
    """L = sum_k x1(t_k)^2 does not see x2, so the adjoint is smooth and its steps span many of
    the forward steps forced by x2's oscillation: x1 must still be read at the right place of
    the dense output. Analytic: dL/dk1 = sum_k -2 t_k x1(t_k)^2, dL/dk2 = 0,
    dL/dx1(0) = sum_k 2 x1(t_k) e^{-k1 t_k}."""
    ts = jnp.array([1.0, 2.5, 4.0])
    k = jnp.array([0.6, 0.3])
    x0 = jnp.array([1.5, 0.0])

    @eqx.filter_jit
    def grad(k, x0):
        def loss(k, x0):
            traj = cd.simulate(
                cd.FunctionField(decoupled, k),
                x0,
                ts,
                t0=0.0,
                solver="tsit5",
                rtol=1e-10,
                atol=1e-12,
                sensitivity=cd.CheckpointedAdjoint(checkpoints=2),
            )
            return jnp.sum(traj.xs[:, 0] ** 2)

        return jax.grad(loss, argnums=(0, 1))(k, x0)

    g_k, g_x0 = grad(k, x0)
    t = np.asarray(ts)
    x1 = 1.5 * np.exp(-0.6 * t)
    np.testing.assert_allclose(g_k[0], np.sum(-2 * t * x1**2), rtol=1e-8)
    assert abs(float(g_k[1])) < 1e-12
    np.testing.assert_allclose(g_x0[0], np.sum(2 * x1 * np.exp(-0.6 * t)), rtol=1e-8)
    assert abs(float(g_x0[1])) < 1e-12
