"""Small linear solves (Gauss–Jordan inverse, its derivative, no LAPACK in a solve loop) and the
XLA flag that compiles such loops as one function."""

from __future__ import annotations

import os
import subprocess
import sys

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cellode._examples.stiff_testset import Robertson
from cellode._solvers.linear_solve import INVERSE_MAX_SIZE, factorise, gauss_jordan_inverse
from cellode._solvers.rosenbrock import Rodas5P
from cellode._xla_flags import SMALL_LOOP_BYTES, add_small_loop_flag, backend_started


@pytest.mark.parametrize("n", [0, 1, 3, 12, INVERSE_MAX_SIZE])
def test_inverse_times_matrix_is_identity(n):
    a = np.random.default_rng(n).normal(size=(n, n)) + 0.1 * np.eye(n)
    np.testing.assert_allclose(gauss_jordan_inverse(jnp.asarray(a)) @ a, np.eye(n), atol=1e-10)


def test_inverse_pivots_past_a_zero_diagonal():
    # Without row swaps the first pivot is 0 and elimination divides by it.
    a = jnp.array([[0.0, 2.0, 1.0], [1.0, 0.0, 0.0], [3.0, 1.0, 0.0]])
    np.testing.assert_allclose(gauss_jordan_inverse(a), np.linalg.inv(np.asarray(a)), rtol=1e-12)


def test_inverse_derivative_is_minus_inverse_da_inverse():
    a = jnp.asarray(np.random.default_rng(0).normal(size=(5, 5)) + 3 * np.eye(5))
    da = jnp.asarray(np.random.default_rng(1).normal(size=(5, 5)))
    _, tangent = jax.jvp(gauss_jordan_inverse, (a,), (da,))
    inverse = np.linalg.inv(np.asarray(a))
    np.testing.assert_allclose(tangent, -inverse @ np.asarray(da) @ inverse, rtol=1e-10)
    grad = jax.grad(lambda m: gauss_jordan_inverse(m)[0, 1])(a)
    np.testing.assert_allclose(grad, -np.outer(inverse[0, :], inverse[:, 1]), rtol=1e-10)


def test_large_systems_keep_lu():
    n = INVERSE_MAX_SIZE + 1
    a = np.random.default_rng(2).normal(size=(n, n)) + n * np.eye(n)
    b = np.arange(n, dtype=float)
    np.testing.assert_allclose(factorise(jnp.asarray(a))(b), np.linalg.solve(a, b), rtol=1e-10)


def test_stiff_solve_loop_has_no_lapack_call():
    """A custom call in the step loop stops XLA:CPU compiling the loop as one function."""

    def solve(y0):
        field = Robertson()
        return diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, args: field(t, y, None)),
            Rodas5P(),
            0.0,
            1.0,
            1e-4,
            y0,
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-10),
        ).ys

    hlo = jax.jit(solve).lower(jnp.array([1.0, 0.0, 0.0])).as_text()
    assert "while" in hlo
    assert "lapack" not in hlo.lower()


def not_started() -> bool:
    return False


def test_small_loop_flag_respects_the_users_setting():
    env = {"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"}
    assert add_small_loop_flag(env, not_started)
    assert env["XLA_FLAGS"].endswith(f"xla_cpu_small_while_loop_byte_threshold={SMALL_LOOP_BYTES}")
    assert env["XLA_FLAGS"].startswith("--xla_cpu_enable_fast_math=false ")
    assert not add_small_loop_flag(env, not_started)  # already there: not added twice
    own = {"XLA_FLAGS": "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1"}
    assert not add_small_loop_flag(own, not_started) and own["XLA_FLAGS"].endswith("=1")
    off = {"CELLODE_XLA_FLAGS": "0"}
    assert not add_small_loop_flag(off, not_started) and "XLA_FLAGS" not in off


def test_small_loop_flag_warns_when_jax_already_ran():
    with pytest.warns(RuntimeWarning, match="imported after JAX ran"):
        assert add_small_loop_flag({}, lambda: True)
    jax.numpy.ones(1).block_until_ready()
    assert backend_started()  # the private JAX query the warning relies on still answers


def stderr_of_fresh_python(code: str) -> str:
    """The warnings a new interpreter prints running `code`, without the caller's XLA settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "CELLODE_XLA_FLAGS")}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stderr


def test_import_after_a_jax_computation_warns_in_a_fresh_process():
    late = "import jax; jax.numpy.ones(1).block_until_ready(); import cellode"
    assert "imported after JAX ran" in stderr_of_fresh_python(late)
    early = "import cellode, jax; jax.numpy.ones(1).block_until_ready()"
    assert "imported after JAX ran" not in stderr_of_fresh_python(early)
