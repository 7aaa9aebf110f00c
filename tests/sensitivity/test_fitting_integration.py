"""The fitting objective (vmapped experiments) differentiates with every sensitivity method."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode as cd


def decay(t, x, u, p):
    return -jnp.exp(p["log_k"]) * x


@pytest.mark.slow
def test_negative_log_likelihood_gradient_agrees_across_methods():
    rng = np.random.default_rng(1)
    ts = np.linspace(0.5, 5.0, 10)
    experiments = [
        cd.Experiment(ts, (x0 * np.exp(-0.8 * ts) + 0.01 * rng.standard_normal(10))[:, None],
                      x0=[x0], name=f"e{i}")
        for i, x0 in enumerate([1.0, 2.0, 3.0])
    ]  # fmt: skip
    model = cd.FunctionField(decay, {"log_k": jnp.array(0.0)})
    estimate = cd.Estimate(model, cd.Observables.from_species(["x"]), cd.Gaussian(0.01))
    grads = {}
    for name, method in [
        ("discrete", None),
        ("checkpointed", cd.CheckpointedAdjoint(checkpoints=2)),
        ("forward", cd.ForwardSensitivity()),
    ]:
        problem = cd.Problem.create(
            estimate, experiments, solver="tsit5", rtol=1e-9, atol=1e-11, sensitivity=method
        )
        grad = eqx.filter_grad(lambda e, p=problem: p.nllh(e))(estimate)
        grads[name] = jax.flatten_util.ravel_pytree(eqx.filter(grad, eqx.is_inexact_array))[0]
    assert np.all(np.abs(grads["discrete"]) > 0)
    for name, g in grads.items():
        np.testing.assert_allclose(g, grads["discrete"], rtol=1e-6, err_msg=name)
