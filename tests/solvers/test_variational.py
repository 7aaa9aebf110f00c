"""The variational term: an ODE with its sensitivities, and the Rosenbrock block solve it allows."""

from __future__ import annotations

import diffrax
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from cellode._solvers.bdf import BDF
from cellode._solvers.rosenbrock import Rodas5P
from cellode._solvers.variational import (
    VariationalTerm,
    block_solver,
    unwrap_variational,
    variational_rhs,
)


def robertson(t, x, p, rest):
    """Robertson's stiff kinetics with log rate constants p; `rest` scales the first rate in t."""
    k1, k2, k3 = jnp.exp(p)
    k1 = k1 * (1.0 + rest * jnp.sin(t))
    return jnp.array(
        [
            -k1 * x[0] + k3 * x[1] * x[2],
            k1 * x[0] - k3 * x[1] * x[2] - k2 * x[1] ** 2,
            k2 * x[1] ** 2,
        ]
    )


P = jnp.log(jnp.array([0.04, 3e7, 1e4]))
X0 = jnp.array([1.0, 0.0, 0.0])
S0 = jnp.concatenate([jnp.zeros((3, 3)), jnp.eye(3)], axis=1)  # theta columns, then x0 columns
TS = jnp.array([0.1, 1.0, 10.0, 40.0])


def _solve(term, y0, args, solver=None):
    return diffrax.diffeqsolve(
        term,
        Rodas5P() if solver is None else solver,
        0.0,
        40.0,
        1e-6,
        y0,
        args,
        saveat=diffrax.SaveAt(ts=TS),
        stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-11),
        max_steps=20_000,
    )


def test_block_solve_is_the_exact_inverse_of_the_augmented_matrix():
    """(I - hγ ∂G)⁻¹ b by block substitution equals the dense solve with the augmented Jacobian."""
    x = jnp.array([0.7, 2e-5, 0.3])
    s = jax.random.normal(jax.random.PRNGKey(0), (3, 6))
    rest, t, hg = 0.3, 0.8, 0.05
    term = VariationalTerm(robertson)
    solve = block_solver(term, jnp.asarray(1), jnp.asarray(t), (x, s), (P, rest), 1.0, hg)

    def g(flat):
        fx, ds = variational_rhs(robertson, t, flat[:3], flat[3:].reshape(3, 6), P, rest)
        return jnp.concatenate([fx, ds.ravel()])

    y = jnp.concatenate([x, s.ravel()])
    matrix = jnp.eye(y.shape[0]) - hg * jax.jacfwd(g)(y)
    b = jax.random.normal(jax.random.PRNGKey(1), y.shape)
    expected = jnp.linalg.solve(matrix, b)
    u_x, u_s = solve((b[:3], b[3:].reshape(3, 6)))
    got = jnp.concatenate([u_x, u_s.ravel()])
    np.testing.assert_allclose(
        got, expected, rtol=1e-9, atol=1e-12 * float(jnp.abs(expected).max())
    )


@pytest.fixture(scope="module")
def solutions():
    block = jax.jit(lambda: _solve(VariationalTerm(robertson), (X0, S0), (P, 0.3)))()
    # The same augmented system as a plain ODE term: Rodas5P factorises its 21 x 21 Jacobian.
    dense_term = diffrax.ODETerm(lambda t, y, a: variational_rhs(robertson, t, *y, P, 0.3))
    dense = jax.jit(lambda: _solve(dense_term, (X0, S0), None))()
    return block, dense


def test_block_solve_takes_the_same_steps_as_the_dense_solve(solutions):
    block, dense = solutions
    assert int(block.stats["num_steps"]) == int(dense.stats["num_steps"])
    assert int(block.stats["num_rejected_steps"]) == int(dense.stats["num_rejected_steps"])
    for got, want in zip(block.ys, dense.ys, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_sensitivities_match_differentiation_of_the_solution(solutions):
    """S_theta and S_x0 against reverse-mode derivatives of x(t_k) through the solver."""
    block, _ = solutions

    def xs(p, x0):
        return _solve(diffrax.ODETerm(lambda t, y, a: robertson(t, y, p, 0.3)), x0, None).ys

    d_p, d_x0 = jax.jacrev(xs, argnums=(0, 1))(P, X0)
    s = block.ys[1]
    np.testing.assert_allclose(s[:, :, :3], d_p, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(s[:, :, 3:], d_x0, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(block.ys[0], xs(P, X0), rtol=1e-7, atol=1e-12)


def test_other_solvers_see_the_augmented_ode():
    """Through an explicit solver the term is just the ODE of (x, S)."""
    field = lambda t, x, p, rest: -jnp.exp(p) * x  # dx/dt = -k x
    sol = diffrax.diffeqsolve(
        VariationalTerm(field),
        diffrax.Tsit5(),
        0.0,
        2.0,
        0.01,
        (jnp.array([2.0]), jnp.zeros((1, 1))),
        (jnp.array([0.0]), None),
        stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-12),
    )
    x, s = sol.ys
    # x = 2 e^{-k t}, k = e^p: dx/dp = -k t x = -2 * 2 e^{-2} at p = 0, t = 2.
    np.testing.assert_allclose(x[0, 0], 2 * np.exp(-2.0), rtol=1e-9)
    np.testing.assert_allclose(s[0, 0, 0], -4 * np.exp(-2.0), rtol=1e-8)


def test_only_a_variational_term_is_recognised():
    assert unwrap_variational(diffrax.ODETerm(lambda t, y, a: y)) is None
    term = VariationalTerm(robertson)
    found, direction = unwrap_variational(term)
    assert found is term and int(direction) == 1


def _lu_shapes(jaxpr) -> set[tuple[int, ...]]:
    """The shapes of every matrix factorised anywhere in a jaxpr, sub-jaxprs included: LAPACK's
    `lu`, or for small systems `gauss_jordan_inverse` (a custom_jvp call of that function)."""
    shapes = set()
    for eqn in jaxpr.eqns:
        called = eqn.params.get("call_jaxpr")
        source = called.jaxpr.debug_info.func_src_info if called is not None else ""
        if eqn.primitive.name == "lu" or source.startswith("gauss_jordan_inverse "):
            shapes.add(tuple(eqn.invars[0].aval.shape))
    for sub in jax.extend.core.subjaxprs(jaxpr):
        shapes |= _lu_shapes(sub)
    return shapes


def test_rosenbrock_factorises_only_the_state_block():
    term = VariationalTerm(robertson)
    block = jax.make_jaxpr(lambda: _solve(term, (X0, S0), (P, 0.3)))()
    assert _lu_shapes(block.jaxpr) == {(3, 3)}
    dense_term = diffrax.ODETerm(lambda t, y, a: variational_rhs(robertson, t, *y, P, 0.3))
    dense = jax.make_jaxpr(lambda: _solve(dense_term, (X0, S0), None))()
    assert _lu_shapes(dense.jaxpr) == {(21, 21)}


def test_bdf_keeps_the_blocks_and_factorises_only_the_state_block():
    """BDF with the block Jacobian takes the same steps as with the dense augmented one, and its
    sensitivities match the Rodas5P ones."""
    bdf = BDF(rtol=1e-9, atol=1e-11)
    term = VariationalTerm(robertson)
    dense_term = diffrax.ODETerm(lambda t, y, a: variational_rhs(robertson, t, *y, P, 0.3))
    block = jax.jit(lambda: _solve(term, (X0, S0), (P, 0.3), bdf))()
    dense = jax.jit(lambda: _solve(dense_term, (X0, S0), None, bdf))()
    assert int(block.stats["num_steps"]) == int(dense.stats["num_steps"])
    for got, want in zip(block.ys, dense.ys, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-13)
    rodas = jax.jit(lambda: _solve(term, (X0, S0), (P, 0.3)))()
    np.testing.assert_allclose(block.ys[1], rodas.ys[1], rtol=1e-4, atol=1e-7)
    jaxpr = jax.make_jaxpr(lambda: _solve(term, (X0, S0), (P, 0.3), bdf))()
    assert _lu_shapes(jaxpr.jaxpr) == {(3, 3)}
