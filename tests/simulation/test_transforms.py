"""simulate() under jax.jit, jax.vmap and jax.grad; compiled once per model structure."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import cellode as cd


def lotka_volterra(t, x, u, p):
    prey, pred = x
    return jnp.stack([p["a"] * prey - p["b"] * prey * pred, p["c"] * prey * pred - p["d"] * pred])


PARAMS = {"a": jnp.array(1.1), "b": jnp.array(0.4), "c": jnp.array(0.1), "d": jnp.array(0.4)}
X0 = jnp.array([10.0, 5.0])
TS = jnp.linspace(0.0, 10.0, 21)


def final_prey(params, x0=X0):
    field = cd.FunctionField(lotka_volterra, params)
    return cd.simulate(field, x0, TS, solver="tsit5", rtol=1e-10, atol=1e-10).xs[-1, 0]


def test_vmap_over_initial_conditions_equals_loop():
    field = cd.FunctionField(lotka_volterra, PARAMS)
    x0s = jnp.array([[10.0, 5.0], [8.0, 3.0], [2.0, 9.0]])
    batched = jax.vmap(lambda x0: cd.simulate(field, x0, TS, solver="tsit5").xs)(x0s)
    looped = jnp.stack([cd.simulate(field, x0, TS, solver="tsit5").xs for x0 in x0s])
    np.testing.assert_allclose(batched, looped, rtol=1e-6, atol=1e-8)


def test_vmap_over_parameters_equals_loop():
    a_values = jnp.array([0.9, 1.1, 1.3, 1.5])
    stacked = {**PARAMS, "a": a_values}

    def run(params):
        return cd.simulate(cd.FunctionField(lotka_volterra, params), X0, TS, solver="tsit5").xs

    axes = {"a": 0, "b": None, "c": None, "d": None}
    batched = jax.vmap(run, in_axes=(axes,))(stacked)
    looped = jnp.stack([run({**PARAMS, "a": a}) for a in a_values])
    np.testing.assert_allclose(batched, looped, rtol=1e-6, atol=1e-8)


def test_jit_returns_the_same_trajectory():
    field = cd.FunctionField(lotka_volterra, PARAMS)
    eager = cd.simulate(field, X0, TS, solver="tsit5")
    jitted = eqx.filter_jit(lambda f: cd.simulate(f, X0, TS, solver="tsit5"))(field)
    np.testing.assert_allclose(jitted.xs, eager.xs, rtol=1e-12)


def test_grad_matches_central_finite_differences():
    grads = jax.grad(final_prey)(PARAMS)
    for name in PARAMS:
        h = 1e-5
        plus = final_prey({**PARAMS, name: PARAMS[name] + h})
        minus = final_prey({**PARAMS, name: PARAMS[name] - h})
        fd = (plus - minus) / (2 * h)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-5, err_msg=name)


def test_grad_with_respect_to_initial_state_and_input_level():
    def loss(x0, dose):
        field = cd.FunctionField(lambda t, x, u, p: -p * x + u, jnp.array(0.7))
        inputs = cd.PiecewiseConstant([1.0], jnp.stack([jnp.zeros(1), dose]))
        traj = cd.simulate(field, x0, jnp.array([0.0, 4.0]), inputs=inputs, rtol=1e-10, atol=1e-12)
        return traj.xs[-1, 0]

    dx0, ddose = jax.grad(loss, argnums=(0, 1))(jnp.array([2.0]), jnp.array([3.0]))
    # x(4) = x0 e^{-0.7*4} + dose (1 - e^{-0.7*3}) / 0.7
    np.testing.assert_allclose(dx0, [np.exp(-2.8)], rtol=1e-7)
    np.testing.assert_allclose(ddose, [(1 - np.exp(-2.1)) / 0.7], rtol=1e-7)


def test_no_retracing_for_new_parameter_values():
    """A second call with new values of the same shapes (parameters, x0, tolerances) runs compiled
    code: the Python vector field is not called again (it is only called while tracing)."""
    calls = []

    def counted(t, x, u, p):
        calls.append(1)
        return -p * x

    x0 = jnp.array([1.0, 2.0])
    cd.simulate(cd.FunctionField(counted, jnp.array(0.5)), x0, TS)
    after_first = len(calls)
    assert after_first > 0
    for k, rtol in [(0.6, 1e-6), (0.7, 1e-7), (0.8, 1e-8)]:
        traj = cd.simulate(cd.FunctionField(counted, jnp.array(k)), x0 * k, TS, rtol=rtol)
        np.testing.assert_allclose(traj.xs[-1], x0 * k * np.exp(-k * 10.0), rtol=1e-5)
    assert len(calls) == after_first
