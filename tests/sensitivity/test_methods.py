"""Every sensitivity method against analytic gradients, finite differences and each other (SPEC C2–C5)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode as cd

METHODS = {
    "discrete": cd.DiscreteAdjoint(),
    "forward": cd.ForwardSensitivity(),
    "checkpointed": cd.CheckpointedAdjoint(checkpoints=3),
    "backsolve": cd.BacksolveAdjoint(),
}


def decay(t, x, u, k):
    return -k * x


K = jnp.array([0.7, 0.3])
X0 = jnp.array([2.0, 1.0])


@eqx.filter_jit
def decay_grad(k, x0, ts, weights, sensitivity):
    def loss(k, x0):
        traj = cd.simulate(
            cd.FunctionField(decay, k),
            x0,
            ts,
            t0=0.0,
            solver="tsit5",
            rtol=1e-10,
            atol=1e-12,
            sensitivity=sensitivity,
        )
        return jnp.sum(weights * traj.xs**2)

    return jax.grad(loss, argnums=(0, 1))(k, x0)


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("n_obs", [1, 200])
def test_linear_decay_matches_analytic_gradient(name, n_obs):
    """x_i' = -k_i x_i, L = sum_k w_k . x(t_k)^2: dL/dk_i = sum_k -2 w t_k x_i(t_k)^2,
    dL/dx0_i = sum_k 2 w x_i(t_k) e^{-k_i t_k}. Observations at 1 and at 200 times."""
    ts = jnp.linspace(0.5, 4.0, n_obs)
    weights = jnp.linspace(1.0, 2.0, 2 * n_obs).reshape(n_obs, 2)
    grad_k, grad_x0 = decay_grad(K, X0, ts, weights, METHODS[name])
    t = np.asarray(ts)[:, None]
    x = np.asarray(X0) * np.exp(-np.asarray(K) * t)
    exact_k = np.sum(-2 * weights * t * x**2, axis=0)
    exact_x0 = np.sum(2 * weights * x * np.exp(-np.asarray(K) * t), axis=0)
    np.testing.assert_allclose(grad_k, exact_k, rtol=1e-7)
    np.testing.assert_allclose(grad_x0, exact_x0, rtol=1e-7)


def test_checkpointed_matches_the_discrete_adjoint_with_200_observations():
    """200 observation times: 200 jumps of the adjoint inside the checkpointed adjoint's
    backward loop, three segments. Same gradient as backpropagation through the steps (both
    also match the analytic one above); reuses the compiled gradients of that test."""
    ts = jnp.linspace(0.5, 4.0, 200)
    weights = jnp.linspace(1.0, 2.0, 400).reshape(200, 2)
    discrete = decay_grad(K, X0, ts, weights, METHODS["discrete"])
    checkpointed = decay_grad(K, X0, ts, weights, METHODS["checkpointed"])
    for got, want in zip(checkpointed, discrete, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-8)


def lotka_volterra(t, x, u, p):
    prey, pred = x
    return jnp.stack([p[0] * prey - p[1] * prey * pred, p[2] * prey * pred - p[3] * pred])


LV_P = jnp.array([1.1, 0.4, 0.1, 0.4])
LV_X0 = jnp.array([10.0, 5.0])
LV_TS = jnp.linspace(1.0, 10.0, 10)


def lv_loss(p, x0, sensitivity=None, rtol=1e-10):
    traj = cd.simulate(
        cd.FunctionField(lotka_volterra, p),
        x0,
        LV_TS,
        t0=0.0,
        solver="dopri5",
        rtol=rtol,
        atol=rtol,
        sensitivity=sensitivity,
    )
    return jnp.sum((traj.xs - 3.0) ** 2) / 2


@pytest.fixture(scope="module")
def lv_gradients():
    grad = eqx.filter_jit(jax.grad(lv_loss, argnums=(0, 1)))
    return {name: grad(LV_P, LV_X0, method) for name, method in METHODS.items()}


def test_lotka_volterra_methods_match_central_differences(lv_gradients):
    loss = jax.jit(lv_loss)
    h = 1e-6
    fd_p = [
        (loss(LV_P.at[i].add(h), LV_X0) - loss(LV_P.at[i].add(-h), LV_X0)) / (2 * h)
        for i in range(4)
    ]
    fd_x0 = [
        (loss(LV_P, LV_X0.at[i].add(h)) - loss(LV_P, LV_X0.at[i].add(-h))) / (2 * h)
        for i in range(2)
    ]
    for name, (g_p, g_x0) in lv_gradients.items():
        np.testing.assert_allclose(g_p, fd_p, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(g_x0, fd_x0, rtol=1e-5, err_msg=name)


def test_lotka_volterra_methods_match_each_other(lv_gradients):
    """At rtol = atol = 1e-10 the continuous methods and the discrete adjoint agree to ~1e-8."""
    reference_p, reference_x0 = lv_gradients["discrete"]
    for name, (g_p, g_x0) in lv_gradients.items():
        np.testing.assert_allclose(g_p, reference_p, rtol=1e-7, err_msg=name)
        np.testing.assert_allclose(g_x0, reference_x0, rtol=1e-7, err_msg=name)


def test_forward_sensitivity_supports_forward_mode():
    """ForwardSensitivity is a custom JVP: jax.jacfwd works, and equals the reverse-mode gradient."""
    jac = eqx.filter_jit(jax.jacfwd(lv_loss, argnums=(0, 1)))(LV_P, LV_X0, cd.ForwardSensitivity())
    grad = eqx.filter_jit(jax.grad(lv_loss, argnums=(0, 1)))(LV_P, LV_X0, cd.ForwardSensitivity())
    np.testing.assert_allclose(jac[0], grad[0], rtol=1e-12)
    np.testing.assert_allclose(jac[1], grad[1], rtol=1e-12)


def dosed_decay(t, x, u, k):
    return -k * x + u


@eqx.filter_jit
def dose_grad(k, x0, doses, sensitivity):
    def loss(k, x0, doses):
        inputs = cd.PiecewiseConstant([1.0, 2.5], doses)
        ts = jnp.array([1.5, 4.0])
        traj = cd.simulate(
            cd.FunctionField(dosed_decay, k),
            x0,
            ts,
            t0=0.0,
            inputs=inputs,
            solver="tsit5",
            rtol=1e-10,
            atol=1e-12,
            sensitivity=sensitivity,
        )
        return traj.xs[0, 0] + traj.xs[1, 0]

    return jax.grad(loss, argnums=(0, 1, 2))(k, x0, doses)


@pytest.mark.parametrize("name", list(METHODS))
def test_step_input_gradients_with_respect_to_doses(name):
    """x' = -k x + u(t), u = d0 on [0,1), d1 on [1,2.5), d2 after. x(t) is linear in x0 and the
    doses: x(t) = x0 e^{-kt} + sum_j d_j (e^{-k(t-b_j)} - e^{-k(t-a_j)}) / k over the pieces
    [a_j, b_j] before t. The adjoint must respect the jumps of u in the backward pass."""
    k, x0, doses = jnp.array(0.8), jnp.array([2.0]), jnp.array([0.5, 3.0, 1.0])
    g_k, g_x0, g_doses = dose_grad(k, x0, doses, METHODS[name])
    kk = 0.8
    pieces = [(0.0, 1.0), (1.0, 2.5), (2.5, np.inf)]

    def dx_dd(t):
        out = []
        for a, b in pieces:
            b = min(b, t)
            out.append(0.0 if b <= a else (np.exp(-kk * (t - b)) - np.exp(-kk * (t - a))) / kk)
        return np.array(out)

    np.testing.assert_allclose(g_doses, dx_dd(1.5) + dx_dd(4.0), rtol=1e-7)
    np.testing.assert_allclose(g_x0, [np.exp(-kk * 1.5) + np.exp(-kk * 4.0)], rtol=1e-7)

    def x_of(t, kk):
        total = 2.0 * np.exp(-kk * t)
        for (a, b), d in zip(pieces, [0.5, 3.0, 1.0], strict=True):
            b = min(b, t)
            if b > a:
                total += d * (np.exp(-kk * (t - b)) - np.exp(-kk * (t - a))) / kk
        return total

    h = 1e-6
    exact_k = sum((x_of(t, kk + h) - x_of(t, kk - h)) / (2 * h) for t in (1.5, 4.0))
    np.testing.assert_allclose(g_k, exact_k, rtol=1e-7)


def test_vmap_of_gradients_equals_loop():
    x0s = jnp.array([[2.0, 1.0], [0.5, 3.0], [1.0, 1.0]])
    ts = jnp.linspace(0.5, 4.0, 10)
    weights = jnp.ones((10, 2))
    for method in (cd.CheckpointedAdjoint(checkpoints=3), cd.ForwardSensitivity()):
        batched = jax.vmap(lambda x0, m=method: decay_grad(K, x0, ts, weights, m))(x0s)
        for i, x0 in enumerate(x0s):
            looped = decay_grad(K, x0, ts, weights, method)
            np.testing.assert_allclose(batched[0][i], looped[0], rtol=1e-10)
            np.testing.assert_allclose(batched[1][i], looped[1], rtol=1e-10)


@eqx.filter_jit
def running_cost_grad(k, x0, sensitivity):
    def loss(k, x0):
        traj, q = cd.simulate_with_cost(
            cd.FunctionField(decay, k),
            x0,
            jnp.array([1.0, 3.0]),
            lambda t, x, u, model: model.params[0] * jnp.sum(x**2),
            t0=0.0,
            solver="tsit5",
            rtol=1e-10,
            atol=1e-12,
            sensitivity=sensitivity,
        )
        return q[-1] + traj.xs[0, 0]

    return jax.grad(loss, argnums=(0, 1))(k, x0)


@pytest.mark.parametrize("name", list(METHODS))
def test_running_cost_and_observation_together(name):
    """L = integral_0^3 k_0 |x|^2 dt + x_0(1) with x_i = x0_i e^{-k_i t}:
    the running-cost term is k_0 sum_i x0_i^2 (1 - e^{-2 k_i T}) / (2 k_i)."""
    g_k, g_x0 = running_cost_grad(K, X0, METHODS[name])
    k, x0, T = np.asarray(K), np.asarray(X0), 3.0

    def loss(k, x0):
        return k[0] * np.sum(x0**2 * (1 - np.exp(-2 * k * T)) / (2 * k)) + x0[0] * np.exp(-k[0])

    h = 1e-6
    fd_k = [(loss(k + h * e, x0) - loss(k - h * e, x0)) / (2 * h) for e in np.eye(2)]
    fd_x0 = [(loss(k, x0 + h * e) - loss(k, x0 - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(g_k, fd_k, rtol=1e-7)
    np.testing.assert_allclose(g_x0, fd_x0, rtol=1e-7)


def test_checkpointed_gradient_does_not_depend_on_the_number_of_checkpoints():
    ts = jnp.linspace(0.5, 4.0, 10)
    weights = jnp.ones((10, 2))
    one = decay_grad(K, X0, ts, weights, cd.CheckpointedAdjoint(checkpoints=1))
    many = decay_grad(K, X0, ts, weights, cd.CheckpointedAdjoint(checkpoints=7))
    np.testing.assert_allclose(one[0], many[0], rtol=1e-8)
    np.testing.assert_allclose(one[1], many[1], rtol=1e-8)


def test_checkpointed_segment_overflow_gives_nan_not_a_wrong_gradient():
    """A segment that needs more steps than `segment_max_steps` poisons the gradient."""
    ts = jnp.array([4.0])
    weights = jnp.ones((1, 2))
    method = cd.CheckpointedAdjoint(checkpoints=1, segment_max_steps=3)
    grad_k, grad_x0 = decay_grad(K, X0, ts, weights, method)
    assert np.all(np.isnan(grad_k)) and np.all(np.isnan(grad_x0))


@pytest.mark.parametrize("name", ["forward", "checkpointed", "backsolve"])
def test_observation_at_the_initial_time(name):
    """ts[0] = t0: the first interval has zero length and xs[0] = x0 passes its cotangent
    straight to the x0 gradient."""
    ts = jnp.linspace(0.0, 4.0, 5)
    weights = jnp.ones((5, 2))
    grad_k, grad_x0 = decay_grad(K, X0, ts, weights, METHODS[name])
    t = np.asarray(ts)[:, None]
    x = np.asarray(X0) * np.exp(-np.asarray(K) * t)
    np.testing.assert_allclose(grad_k, np.sum(-2 * t * x**2, axis=0), rtol=1e-7)
    np.testing.assert_allclose(
        grad_x0, np.sum(2 * x * np.exp(-np.asarray(K) * t), axis=0), rtol=1e-7
    )
