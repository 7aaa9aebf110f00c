"""cellode's solvers as diffrax solvers: pytree states, dense solutions, the registry."""

from __future__ import annotations

import diffrax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode
from cellode._solvers.registry import SOLVERS, STIFF_DEFAULT


def _decay(t, y, args):
    return {"a": -2.0 * y["a"], "b": -y["b"] * jnp.array([1.0, 3.0])}


@pytest.mark.parametrize(
    "solver", [cellode.Rodas5P(), cellode.Rosenbrock23(), cellode.BDF(rtol=1e-8, atol=1e-10)]
)
def test_pytree_state_and_dense_solution(solver):
    y0 = {"a": jnp.array([1.0]), "b": jnp.array([1.0, 2.0])}
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_decay),
        solver,
        0.0,
        1.0,
        0.01,
        y0,
        saveat=diffrax.SaveAt(dense=True, t1=True),
        stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-10),
    )
    for t in (0.37, 1.0):
        y = sol.evaluate(t)
        np.testing.assert_allclose(y["a"], np.exp(-2.0 * t), rtol=1e-4)
        np.testing.assert_allclose(y["b"], [np.exp(-t), 2 * np.exp(-3 * t)], rtol=1e-4)


def test_registry_names_the_new_solvers():
    assert STIFF_DEFAULT == "rodas5p"
    for name, cls in (("rodas5p", cellode.Rodas5P), ("rosenbrock23", cellode.Rosenbrock23)):
        info = SOLVERS[name]
        assert info.implicit and isinstance(info.make(), cls)
    assert SOLVERS["rodas5p"].order == 5 and SOLVERS["rosenbrock23"].order == 2
    assert SOLVERS["bdf"].implicit and isinstance(SOLVERS["bdf"].make(), cellode.BDF)
