"""PEtab-SciML layers: PyTorch's layouts and conventions checked on hand-computed values, against
brute-force loops written from the PyTorch definitions, and by mathematical identities."""

from __future__ import annotations

import itertools

import equinox as eqx
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode
from cellode._sciml.conv import Conv, ConvTranspose
from cellode._sciml.flatten import Flatten
from cellode._sciml.linear import Bilinear, Linear
from cellode._sciml.normalisation import BatchNorm, InstanceNorm
from cellode._sciml.pooling import AdaptivePool, AvgPool, MaxPool
from cellode._sciml.yaml_format import network_from_dict


def test_linear_uses_out_by_in_weight():
    layer = Linear("l", 2, 3).with_parameters(
        {"weight": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "bias": [0.5, -1.0, 2.0]}
    )
    np.testing.assert_allclose(layer(jnp.array([1.0, -1.0])), [-0.5, -2.0, 1.0])
    # A batch of rows is mapped row by row.
    batch = jnp.array([[1.0, -1.0], [0.0, 1.0]])
    np.testing.assert_allclose(layer(batch), [[-0.5, -2.0, 1.0], [2.5, 3.0, 8.0]])


def test_bilinear_is_x1_A_x2_plus_b():
    weight = np.arange(12.0).reshape(2, 2, 3)
    layer = Bilinear("b", 2, 3, 2).with_parameters({"weight": weight, "bias": [1.0, -1.0]})
    x1, x2 = np.array([1.0, 2.0]), np.array([0.5, -1.0, 2.0])
    expected = [x1 @ weight[k] @ x2 + b for k, b in enumerate([1.0, -1.0])]
    np.testing.assert_allclose(layer(jnp.asarray(x1), jnp.asarray(x2)), expected)


def test_conv2d_is_an_unflipped_cross_correlation():
    layer = Conv("c", 2, 1, 1, (2, 2)).with_parameters(
        {"weight": [[[[1.0, 2.0], [3.0, 4.0]]]], "bias": [0.0]}
    )
    x = jnp.arange(9.0).reshape(1, 3, 3)  # unbatched (C, H, W)
    np.testing.assert_allclose(layer(x), [[[27.0, 37.0], [57.0, 67.0]]])


def _conv_loop(x, w, b, stride, padding, dilation, groups):
    """y[n,o,i,j] = b[o] + Σ W[o,c,ki,kj] x_pad[n, g·C/g + c, i·s + ki·d, j·s + kj·d]."""
    n, _, h, wd = x.shape
    c_out, c_per, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, c_out, oh, ow))
    out_per = c_out // groups
    for b_, o, i, j in itertools.product(range(n), range(c_out), range(oh), range(ow)):
        g = o // out_per
        acc = b[o]
        for c, ki, kj in itertools.product(range(c_per), range(kh), range(kw)):
            acc += (
                w[o, c, ki, kj]
                * xp[
                    b_,
                    g * c_per + c,
                    i * stride[0] + ki * dilation[0],
                    j * stride[1] + kj * dilation[1],
                ]
            )
        y[b_, o, i, j] = acc
    return y


def test_conv2d_matches_loop_with_stride_padding_dilation_groups():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 7, 8))
    w = rng.normal(size=(6, 2, 3, 2))
    b = rng.normal(size=6)
    kwargs = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    layer = Conv("c", 2, 4, 6, (3, 2), **kwargs).with_parameters({"weight": w, "bias": b})
    np.testing.assert_allclose(layer(jnp.asarray(x)), _conv_loop(x, w, b, **kwargs), atol=1e-12)


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x), y> = <x, convᵀ(y)> for the same weight tensor (PyTorch's in x out/g layout)."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(6, 2, 3, 2))
    conv = Conv("c", 2, 4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2, bias=False)
    convt = ConvTranspose(
        "t",
        2,
        6,
        4,
        (3, 2),
        stride=2,
        padding=1,
        dilation=(1, 2),
        groups=2,
        bias=False,
        output_padding=(1, 0),
    )
    conv, convt = conv.with_parameters({"weight": w}), convt.with_parameters({"weight": w})
    x = jnp.asarray(rng.normal(size=(1, 4, 10, 9)))
    y = jnp.asarray(rng.normal(size=conv(x).shape))
    assert convt(y).shape == x.shape
    np.testing.assert_allclose(jnp.vdot(conv(x), y), jnp.vdot(x, convt(y)), rtol=1e-12)


def test_flatten_is_row_major_from_start_dim():
    x = jnp.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(Flatten("f")(x), np.arange(24.0).reshape(2, 12))
    np.testing.assert_array_equal(Flatten("f", 0)(x), np.arange(24.0))


def _pool_loop(x, k, s, p, ceil_mode, kind, count_include_pad=True):
    """1-d pooling from PyTorch's definition (window start o·s - p, clipped as PyTorch clips)."""
    length = x.shape[-1]
    span = length + 2 * p - (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    y = np.zeros((*x.shape[:-1], out))
    for o in range(out):
        start = o * s - p
        end = min(start + k, length + p)
        size = end - start
        lo, hi = max(start, 0), min(end, length)
        window = x[..., lo:hi]
        if kind == "max":
            y[..., o] = window.max(axis=-1)
        else:
            y[..., o] = window.sum(axis=-1) / (size if count_include_pad else hi - lo)
    return y


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_pooling_windows_follow_pytorch(ceil_mode, count_include_pad):
    x = np.random.default_rng(2).normal(size=(2, 3, 10))
    got_max = MaxPool("m", 1, 3, stride=2, padding=1, ceil_mode=ceil_mode)(jnp.asarray(x))
    got_avg = AvgPool(
        "a", 1, 3, stride=2, padding=1, ceil_mode=ceil_mode, count_include_pad=count_include_pad
    )(jnp.asarray(x))
    np.testing.assert_allclose(got_max, _pool_loop(x, 3, 2, 1, ceil_mode, "max"))
    np.testing.assert_allclose(
        got_avg, _pool_loop(x, 3, 2, 1, ceil_mode, "avg", count_include_pad), atol=1e-14
    )


def test_adaptive_pool_bins():
    x = jnp.arange(5.0).reshape(1, 1, 5)
    # Bins [floor(iL/n), ceil((i+1)L/n)) for L=5, n=3: [0,2), [1,4), [3,5).
    np.testing.assert_allclose(AdaptivePool("a", 1, "avg", 3)(x)[0, 0], [0.5, 2.0, 3.5])
    np.testing.assert_allclose(AdaptivePool("a", 1, "max", 3)(x)[0, 0], [1.0, 3.0, 4.0])


def test_normalisations_standardise():
    x = jnp.asarray(np.random.default_rng(3).normal(2.0, 3.0, size=(4, 3, 6)))
    y = BatchNorm("b", 1, 3, eps=0.0)(x)
    np.testing.assert_allclose(jnp.mean(y, axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(jnp.var(y, axis=(0, 2)), 1, atol=1e-12)
    z = InstanceNorm("i", 1, 3, eps=0.0)(x)
    np.testing.assert_allclose(jnp.mean(z, axis=2), 0, atol=1e-12)
    np.testing.assert_allclose(jnp.var(z, axis=2), 1, atol=1e-12)


NET = {
    "nn_model_id": "net1",
    "inputs": [{"input_id": "input0"}],
    "layers": [
        {
            "layer_id": "conv",
            "layer_type": "Conv1d",
            "args": {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
        },
        {"layer_id": "flat", "layer_type": "Flatten", "args": {"start_dim": 0}},
        {"layer_id": "lin", "layer_type": "Linear", "args": {"in_features": 12, "out_features": 2}},
    ],
    "forward": [
        {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}},
        {"name": "conv", "op": "call_module", "target": "conv", "args": ["x"], "kwargs": {}},
        {
            "name": "act",
            "op": "call_function",
            "target": "softplus",
            "args": ["conv"],
            "kwargs": {},
        },
        {"name": "flat", "op": "call_module", "target": "flat", "args": ["act"], "kwargs": {}},
        {"name": "lin", "op": "call_module", "target": "lin", "args": ["flat"], "kwargs": {}},
        {"name": "output", "op": "output", "target": "output", "args": ["lin"], "kwargs": {}},
    ],
}


def test_parameters_round_trip_through_hdf5_in_pytorch_layout(tmp_path):
    net = network_from_dict(NET, key=jax.random.key(0))
    path = tmp_path / "ps.hdf5"
    cellode.write_sciml_parameters(path, "net1", net.parameters())
    with h5py.File(path, "r") as handle:
        assert handle["parameters/net1/conv/weight"].shape == (3, 2, 3)
        assert handle["parameters/net1/lin/weight"].shape == (2, 12)
    back = cellode.read_sciml_parameters(path, "net1")
    for layer_id, arrays in net.parameters().items():
        for name, value in arrays.items():
            np.testing.assert_array_equal(back[layer_id][name], value)
    # A column-major file (as Julia writes it) stores reversed axes; reading restores them.
    with h5py.File(tmp_path / "col.hdf5", "w") as handle:
        handle.create_dataset("metadata/perm", data="column")
        for layer_id, arrays in net.parameters().items():
            for name, value in arrays.items():
                handle.create_dataset(
                    f"parameters/net1/{layer_id}/{name}", data=np.asarray(value).T
                )
    col = cellode.read_sciml_parameters(tmp_path / "col.hdf5", "net1")
    np.testing.assert_array_equal(col["conv"]["weight"], net.parameters()["conv"]["weight"])


def test_parameter_gradient_matches_finite_differences():
    net = network_from_dict(NET, key=jax.random.key(1))
    x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 6)))

    def loss(n):
        return jnp.sum(jnp.sin(n(x)))

    grad = eqx.filter_grad(loss)(net)
    direction = jax.tree.map(
        lambda a: jnp.asarray(np.random.default_rng(5).normal(size=a.shape)),
        eqx.filter(net, eqx.is_array),
    )
    h = 1e-6
    shift = lambda s: eqx.apply_updates(net, jax.tree.map(lambda d: s * d, direction))
    fd = (loss(shift(h)) - loss(shift(-h))) / (2 * h)
    analytic = sum(
        jnp.vdot(g, d)
        for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction), strict=True)
    )
    np.testing.assert_allclose(analytic, fd, rtol=1e-7)


def test_unknown_layer_and_function_are_named():
    bad = dict(
        NET, layers=[*NET["layers"], {"layer_id": "z", "layer_type": "Transformer", "args": {}}]
    )
    with pytest.raises(cellode.ModelError, match="'z' has type 'Transformer'"):
        network_from_dict(bad)
    forward = [dict(n) for n in NET["forward"]]
    forward[2]["target"] = "swishy"
    net = network_from_dict(dict(NET, forward=forward), key=jax.random.key(0))
    with pytest.raises(cellode.ModelError, match="'swishy'"):
        net(jnp.zeros((2, 6)))


def test_gelu_default_is_the_tanh_form_and_none_is_exact():
    from jax.scipy.special import erf

    from cellode._sciml.functional import call_function

    x = jnp.linspace(-3.0, 3.0, 13)
    tanh_form = 0.5 * x * (1 + jnp.tanh(jnp.sqrt(2 / jnp.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(call_function("gelu", (x,), {}), tanh_form, atol=1e-15)
    exact = 0.5 * x * (1 + erf(x / jnp.sqrt(2.0)))
    np.testing.assert_allclose(
        call_function("gelu", (x,), {"approximate": "none"}), exact, atol=1e-15
    )
