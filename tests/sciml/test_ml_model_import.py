"""PEtab-SciML test suite, `ml_model_import`: every network's output for the stored inputs and
parameters equals the stored PyTorch reference (tolerance 1e-3 as AMICI and PEtab.jl use; 2e-2 for
dropout, whose reference is a mean over the suite's number of random training-mode passes)."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import cellode

CASES = [f"{i:03d}" for i in range(1, 55)]
TOL = 1e-3
TOL_DROPOUT = 2e-2


@eqx.filter_jit
def _forward(net, inputs):
    return net(*inputs)


@eqx.filter_jit
def _dropout_mean(net, inputs, keys):
    return jnp.mean(jax.vmap(lambda k: net(*inputs, key=k))(keys), axis=0)


def _only_array(path: Path) -> np.ndarray:
    (arrays,) = cellode.read_sciml_inputs(path).values()
    (array,) = arrays.values()
    return array


def _output(path: Path) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as handle:
        return np.asarray(handle["outputs/output0/data"][()], dtype=np.float64)


@pytest.fixture(scope="module")
def suite(shared_data: Path) -> Path:
    root = shared_data / "petab_sciml" / "testsuite" / "test_cases" / "ml_model_import"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    return root


@pytest.mark.conformance
@pytest.mark.parametrize("case", CASES)
def test_network_output_matches_reference(suite: Path, case: str):
    folder = suite / case
    solution = yaml.safe_load((folder / "solutions.yaml").read_text())
    n_args = 1 if "net_input" in solution else 2
    for i in range(3):
        ps = solution.get("net_ps")
        net = cellode.load_sciml_network(
            folder / solution["net_file"], folder / ps[i] if ps else None
        )
        if n_args == 1:
            names = [solution["net_input"][i]]
        else:
            names = [solution[f"net_input_arg{a}"][i] for a in range(n_args)]
        inputs = tuple(jnp.asarray(_only_array(folder / name)) for name in names)
        reference = _output(folder / solution["net_output"][i])
        if "dropout" in solution:
            keys = jax.random.split(jax.random.key(i), int(solution["dropout"]))
            got, tol = _dropout_mean(net, inputs, keys), TOL_DROPOUT
        else:
            got, tol = _forward(net, inputs), TOL
        assert got.shape == reference.shape
        np.testing.assert_allclose(np.asarray(got), reference, atol=tol, rtol=0)
