"""Rosenbrock solvers: order conditions, stability, convergence order, dense output, gradients."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cellode._examples.stiff_testset import Robertson
from cellode._solvers.rosenbrock import Rodas5P, Rosenbrock23

SOLVERS = [Rodas5P, Rosenbrock23]


# --- order conditions -------------------------------------------------------------------------
def _rooted_trees(max_order: int) -> dict[int, list[tuple]]:
    """Rooted trees by number of vertices; a tree is the sorted tuple of its subtrees."""
    trees: dict[int, list[tuple]] = {1: [()]}
    for n in range(2, max_order + 1):
        found: set[tuple] = set()

        def extend(remaining: int, children: list[tuple], found: set[tuple] = found) -> None:
            if remaining == 0:
                found.add(tuple(sorted(children)))
                return
            for k in range(1, remaining + 1):
                for t in trees[k]:
                    extend(remaining - k, [*children, t], found)

        extend(n - 1, [])
        trees[n] = sorted(found)
    return trees


def _density(tree: tuple) -> int:
    """γ(t): the tree's order times the densities of its subtrees."""

    def size(t: tuple) -> int:
        return 1 + sum(size(c) for c in t)

    result = size(tree)
    for child in tree:
        result *= _density(child)
    return result


def _weights(tree: tuple, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Elementary weights of a Rosenbrock method with exact Jacobian (Hairer–Wanner IV.7):
    a vertex with one child is reached through β = α + Γ (the f' and J terms), a vertex with
    several children through α alone (J is linear)."""
    if not tree:
        return np.ones(alpha.shape[0])
    if len(tree) == 1:
        return beta @ _weights(tree[0], alpha, beta)
    out = np.ones(alpha.shape[0])
    for child in tree:
        out = out * (alpha @ _weights(child, alpha, beta))
    return out


@pytest.mark.parametrize("solver", SOLVERS)
def test_order_conditions(solver):
    tab = solver.tableau
    alpha, gammas, b, b_embedded = tab.original()
    beta = alpha + gammas
    trees = _rooted_trees(max(tab.order, tab.embedded_order) + 1)
    # Recovering (α, Γ) from the transformed form reproduces the nodes and f_t weights.
    np.testing.assert_allclose(alpha.sum(axis=1), tab.c, atol=1e-12)
    np.testing.assert_allclose(gammas.sum(axis=1), tab.d, atol=1e-12)
    for weights, order in ((b, tab.order), (b_embedded, tab.embedded_order)):
        residuals = {
            n: max(abs(weights @ _weights(t, alpha, beta) - 1 / _density(t)) for t in trees[n])
            for n in trees
        }
        for n in range(1, order + 1):
            assert residuals[n] < 1e-12, (n, residuals[n])
        # ... and the order is exactly `order`: some condition of the next order fails.
        assert residuals[order + 1] > 1e-4


@pytest.mark.parametrize("solver", SOLVERS)
def test_l_stability(solver):
    """R(z) = 1 + z bᵀ (I - z B)⁻¹ 1 is bounded by 1 on the imaginary axis and vanishes at ∞."""
    alpha, gammas, b, _ = solver.tableau.original()
    beta = alpha + gammas
    ones = np.ones(len(b))

    def stability(z):
        return 1 + z * b @ np.linalg.solve(np.eye(len(b)) - z * beta, ones)

    assert all(abs(stability(1j * y)) <= 1 + 1e-12 for y in np.logspace(-3, 6, 200))
    assert abs(stability(-1e12)) < 1e-6
    assert abs(stability(-1.0) - np.exp(-1.0)) < 0.1  # consistent


# --- convergence order with fixed steps -------------------------------------------------------
def _smooth(t, y, args):
    """Non-autonomous and nonlinear: x1 = sin t + e^{-t}, x2 = 1/(1 - t)."""
    return jnp.stack([-(y[0] - jnp.sin(t)) + jnp.cos(t), y[1] ** 2])


def _exact(t):
    return np.stack([np.sin(t) + np.exp(-t), 1 / (1 - t)], axis=-1)


_T1 = 0.5
_TS = np.array([0.13, 0.37])  # off every grid point below: exercises dense output


@pytest.fixture(scope="module")
def fixed_step_errors():
    steps = np.array([4, 8, 16, 32])
    out = {}
    for solver in SOLVERS:

        @jax.jit
        def solve(dt0, solver=solver):
            sol = diffrax.diffeqsolve(
                diffrax.ODETerm(_smooth),
                solver(),
                0.0,
                _T1,
                dt0,
                jnp.array([1.0, 1.0]),
                saveat=diffrax.SaveAt(ts=jnp.asarray([*_TS, _T1])),
                stepsize_controller=diffrax.ConstantStepSize(),
                max_steps=64,
            )
            return sol.ys

        ys = np.stack([np.asarray(solve(jnp.asarray(_T1 / n))) for n in steps])
        err = np.abs(ys - _exact(np.array([*_TS, _T1]))).max(axis=-1)  # (steps, times)
        out[solver] = (_T1 / steps, err[:, -1], err[:, :-1].max(axis=-1))
    return out


def _slope(h, err):
    return np.polyfit(np.log(h), np.log(err), 1)[0]


@pytest.mark.parametrize("solver", SOLVERS)
def test_convergence_order(solver, fixed_step_errors):
    h, end_err, _ = fixed_step_errors[solver]
    order = solver.tableau.order
    assert abs(_slope(h, end_err) - order) < 0.35, (end_err, _slope(h, end_err))


@pytest.mark.parametrize(("solver", "dense_order"), [(Rodas5P, 4), (Rosenbrock23, 2)])
def test_dense_output_order(solver, dense_order, fixed_step_errors):
    h, _, dense_err = fixed_step_errors[solver]
    assert _slope(h, dense_err) > dense_order - 0.35, dense_err


# --- adaptive solves: time reversal, gradients, vmap ------------------------------------------
def _robertson_solve(field, t1=40.0, rtol=1e-8, solver=Rodas5P):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, f: f(t, y, None)),
        solver(),
        0.0,
        t1,
        1e-4,
        jnp.array([1.0, 0.0, 0.0]),
        args=field,
        saveat=diffrax.SaveAt(ts=jnp.array([1.0, t1])),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=rtol * 1e-6),
        adjoint=diffrax.RecursiveCheckpointAdjoint(),
        max_steps=4096,
    )
    return sol.ys


@pytest.mark.parametrize("solver", SOLVERS)
def test_backward_in_time(solver):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_smooth),
        solver(),
        _T1,
        0.0,
        -0.01,
        jnp.asarray(_exact(np.array(_T1))),
        saveat=diffrax.SaveAt(ts=jnp.array([0.25, 0.0])),
        stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-10),
    )
    np.testing.assert_allclose(sol.ys, _exact(np.array([0.25, 0.0])), rtol=1e-5)


def test_gradient_matches_finite_differences():
    def loss(log_k):
        ys = _robertson_solve(Robertson(jnp.exp(log_k)))
        return jnp.sum(ys[:, 0] + 1e4 * ys[:, 1])

    log_k = jnp.log(jnp.array([0.04, 3.0e7, 1.0e4]))
    grad = jax.jit(jax.grad(loss))(log_k)
    loss_jit = jax.jit(loss)
    eps = 1e-5
    fd = np.array(
        [
            (loss_jit(log_k.at[i].add(eps)) - loss_jit(log_k.at[i].add(-eps))) / (2 * eps)
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-7)
    assert np.all(np.abs(fd) > 1e-4)  # every rate matters: the comparison is not vacuous


def test_vmap_equals_loop():
    ks = jnp.array([[0.04, 3.0e7, 1.0e4], [0.02, 1.0e7, 3.0e4], [0.08, 5.0e7, 5.0e3]])
    solve = jax.jit(lambda k: _robertson_solve(Robertson(k)))
    batched = jax.vmap(solve)(ks)
    looped = jnp.stack([solve(k) for k in ks])
    np.testing.assert_allclose(batched, looped, rtol=1e-7, atol=1e-14)
    assert not np.allclose(looped[0], looped[1])  # different parameters, different answers


def test_no_retrace_between_calls():
    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def solve(field):
        return _robertson_solve(field)

    solve(Robertson())
    solve(Robertson(jnp.array([0.05, 2.0e7, 1.0e4])))
