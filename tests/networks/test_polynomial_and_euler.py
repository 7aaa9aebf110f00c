"""SPEC B5 (quadratic-activation network equals mass action) and B6 (ResNet = forward Euler)."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from cellode import (
    EulerResNet,
    ExactPolynomialNet,
    MassAction,
    ReactionNetwork,
    euler_resnet_convergence,
)


def random_mass_action(seed: int, n: int, m: int, max_order: int = 3) -> MassAction:
    """Random reactions of orders 0..max_order (uni-, bi-, trimolecular, with repeats)."""
    rng = np.random.default_rng(seed)
    A = np.zeros((n, m), dtype=np.int64)
    B = np.zeros((n, m), dtype=np.int64)
    for j in range(m):
        order = j % (max_order + 1)  # every order appears
        for i in rng.integers(0, n, size=order):
            A[i, j] += 1
        for i in rng.integers(0, n, size=rng.integers(0, 3)):
            B[i, j] += 1
    k = rng.uniform(0.1, 3.0, size=m)
    return MassAction.from_matrices(A, B, k)


@pytest.mark.parametrize("seed", range(6))
def test_exact_polynomial_net_equals_mass_action(seed):
    rng = np.random.default_rng(100 + seed)
    n, m = int(rng.integers(2, 7)), int(rng.integers(4, 12))
    model = random_mass_action(seed, n, m)
    net = ExactPolynomialNet.from_mass_action(model)
    xs = jnp.asarray(rng.uniform(0.0, 3.0, size=(50, n)))
    f = eqx.filter_vmap(lambda x: model(0.0, x, None))(xs)
    g = eqx.filter_vmap(lambda x: net(0.0, x, None))(xs)
    scale = jnp.maximum(1.0, jnp.max(jnp.abs(f)))
    assert float(jnp.max(jnp.abs(f - g)) / scale) < 1e-12
    # the mass-action field is not trivially zero here, so the comparison has teeth
    assert float(jnp.max(jnp.abs(f))) > 1e-3


def test_polynomial_net_size_and_depth():
    text = "A + B + C -> D ; k1\n2 A -> B ; k2\n-> A ; k3\nD -> ; k4"
    net = ReactionNetwork.from_text(text, parameters={"k1": 1, "k2": 2, "k3": 3, "k4": 4})
    model = net.vector_field()
    size = ExactPolynomialNet.from_mass_action(model).size
    assert size["hidden_layers"] == 2  # degree 3: one layer per extra degree
    # layer 1: A*B (2 units), A^2 (1), carry D and C (2 each); layer 2: ABC (2), carry A^2, D
    assert size["widths"] == [7, 6]
    linear = ReactionNetwork.from_text("A -> B ; k", parameters={"k": 1.0}).vector_field()
    lin = ExactPolynomialNet.from_mass_action(linear)
    assert lin.size["hidden_layers"] == 1
    x = jnp.array([2.0, 1.0])
    np.testing.assert_allclose(lin(0.0, x, None), linear(0.0, x, None), rtol=0, atol=1e-14)


def test_euler_resnet_converges_with_order_one():
    net = ReactionNetwork.from_text(
        "X1 + X2 <-> X3 ; kf, kr\nX3 -> X1 ; k", parameters={"kf": 2.0, "kr": 1.0, "k": 0.5}
    )
    result = euler_resnet_convergence(
        net.vector_field(), jnp.array([1.0, 0.5, 0.0]), 2.0, depths=(128, 256, 512, 1024, 2048)
    )
    assert abs(result.slope - 1.0) < 0.1
    assert np.all(np.diff(result.errors) < 0)
    assert result.errors[-1] < 1e-3
    assert "fitted order" in str(result)


def test_euler_resnet_is_forward_euler():
    model = ReactionNetwork.from_text("A -> B ; k", parameters={"k": 1.0}).vector_field()
    resnet = EulerResNet(model, 1.0, 4)
    x = np.array([1.0, 0.0])
    for _ in range(4):  # x_{k+1} = x_k + h * (-a, a), h = 1/4
        x = x + 0.25 * np.array([-x[0], x[0]])
    np.testing.assert_allclose(resnet(jnp.array([1.0, 0.0])), x, rtol=1e-15)
