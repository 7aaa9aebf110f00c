"""The global error shrinks with the tolerance, for explicit and implicit solvers."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import cellode as cd


def linear(t, x, u, p):
    return p @ x


A = jnp.array([[-1.0, 4.0], [-4.0, -1.0]])  # a damped rotation


@pytest.mark.parametrize("solver", ["tsit5", "kvaerno5"])
def test_error_decreases_with_tolerance(solver):
    field = cd.FunctionField(linear, A)
    x0 = jnp.array([1.0, 0.5])
    ts = jnp.array([0.0, 3.0])
    exact = scipy.linalg.expm(np.asarray(A) * 3.0) @ np.asarray(x0)
    tols = np.array([1e-4, 1e-6, 1e-8, 1e-10])
    errors = []
    for tol in tols:
        traj = cd.simulate(field, x0, ts, solver=solver, rtol=float(tol), atol=float(tol) * 1e-2)
        errors.append(np.max(np.abs(np.asarray(traj.xs[-1]) - exact)))
    errors = np.array(errors)
    assert np.all(np.diff(errors) < 0), errors
    # Error is proportional to the tolerance to within a modest factor (tolerance proportionality).
    slope = np.polyfit(np.log10(tols), np.log10(errors), 1)[0]
    assert 0.7 < slope < 1.3, (slope, errors)
    assert errors[-1] < 1e-8
