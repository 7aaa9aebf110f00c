"""BDF: order of each formula, convergence, test-set accuracy, input jumps, derivatives, vmap."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import comb

from cellode._examples.stiff_testset import Robertson, mixed_error_digits, stiff_testset
from cellode._solvers.bdf import _MAX_ORDER, BDF, _BDFState


def _smooth(t, y, args):
    """Non-autonomous and nonlinear: x1 = sin t + e^{-t}, x2 = 1/(1 - t)."""
    return jnp.stack([-(y[0] - jnp.sin(t)) + jnp.cos(t), y[1] ** 2])


def _exact(t):
    return np.stack([np.sin(t) + np.exp(-t), 1 / (1 - t)], axis=-1)


def _slope(h, err):
    return np.polyfit(np.log(h), np.log(err), 1)[0]


@eqx.filter_jit
def _STEP(solver, term, t0, t1, y0, state):
    return solver.step(term, t0, t1, y0, None, state, False)


@pytest.mark.parametrize("order", range(1, _MAX_ORDER + 1))
def test_local_error_order_of_each_formula(order):
    """From an exact history at spacing h, one step of order k errs by O(h^(k+1))."""
    solver = BDF(rtol=1e-13, atol=1e-13)
    term = diffrax.ODETerm(_smooth)
    t0 = 0.1
    hs = np.array([0.04, 0.02, 0.01])
    errors = []
    for h in hs:
        past = _exact(t0 - h * np.arange(order + 1))  # y_n, y_{n-1}, ..., y_{n-k}
        D = np.zeros((_MAX_ORDER + 3, 2))
        for j in range(order + 1):
            D[j] = sum((-1) ** i * comb(j, i) * past[i] for i in range(j + 1))
        y0 = jnp.asarray(past[0])
        jac = jax.jacfwd(lambda y: _smooth(t0, y, None))(y0)
        state = _BDFState(
            jnp.asarray(D),
            jnp.asarray(order, jnp.int32),
            jnp.asarray(h),
            jnp.asarray(0, jnp.int32),
            jac,
        )
        y1, *_ = _STEP(solver, term, t0, t0 + h, y0, state)
        errors.append(np.abs(np.asarray(y1) - _exact(t0 + h)).max())
    assert abs(_slope(hs, np.array(errors)) - (order + 1)) < 0.4, errors


@pytest.mark.parametrize(("max_order", "steps"), [(1, [64, 128, 256, 512]), (2, [16, 32, 64, 128])])
def test_fixed_step_convergence(max_order, steps):
    """Started at order 1, the method converges with order 1 and 2 when capped there (higher
    caps are limited to order 2 by the start-up; each formula's order is tested above)."""
    solve = jax.jit(
        lambda dt0: diffrax.diffeqsolve(
            diffrax.ODETerm(_smooth),
            BDF(rtol=1e-12, atol=1e-12, max_order=max_order),
            0.0,
            0.5,
            dt0,
            jnp.array([1.0, 1.0]),
            stepsize_controller=diffrax.ConstantStepSize(),
            max_steps=512,
        ).ys[-1]
    )
    h = 0.5 / np.array(steps)
    err = np.array([np.abs(np.asarray(solve(jnp.asarray(dt))) - _exact(0.5)).max() for dt in h])
    assert abs(_slope(h, err) - max_order) < 0.3, err


def _solve(problem, rtol, **kwargs):
    atol = rtol * problem.atol_scale
    return diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, f: f(t, y, None)),
        BDF(rtol=rtol, atol=atol),
        problem.t0,
        problem.t1,
        None,
        jnp.asarray(problem.x0),
        args=problem.field,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=100_000,
        **kwargs,
    )


@pytest.mark.parametrize("name", ["ROBER", "HIRES", "POLLU"])
def test_stiff_testset_end_points(name):
    problem = stiff_testset()[name]
    digits = {}
    for rtol in (1e-5, 1e-8):
        x1 = _solve(problem, rtol, saveat=diffrax.SaveAt(t1=True)).ys[-1]
        digits[rtol] = mixed_error_digits(x1, problem.reference, rtol, rtol * problem.atol_scale)
        # Up to two digits lost over the integration, as CVODE loses (docs/benchmarks.md).
        assert digits[rtol] >= -np.log10(rtol) - 2.0
    assert digits[1e-8] > digits[1e-5] + 1  # tolerance proportionality


def test_dense_output_between_steps():
    ts = jnp.linspace(0.0, 0.5, 23)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_smooth),
        BDF(rtol=1e-9, atol=1e-12),
        0.0,
        0.5,
        None,
        jnp.array([1.0, 1.0]),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-12),
    )
    np.testing.assert_allclose(sol.ys, _exact(np.asarray(ts)), rtol=1e-6)


def test_restarts_after_an_input_jump():
    """x' = -x + u(t), u = 0 before t = 1 and 1 after: the history is discarded at the jump."""

    def field(t, x, args):
        return -x + jnp.where(t >= 1.0, 1.0, 0.0)

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        BDF(rtol=1e-8, atol=1e-10),
        0.0,
        3.0,
        None,
        jnp.array([1.0]),
        saveat=diffrax.SaveAt(ts=jnp.array([0.5, 1.0, 2.0, 3.0])),
        stepsize_controller=diffrax.ClipStepSizeController(
            diffrax.PIDController(rtol=1e-8, atol=1e-10), jump_ts=jnp.array([1.0])
        ),
    )
    t = np.array([0.5, 1.0, 2.0, 3.0])
    exact = np.where(t < 1.0, np.exp(-t), 1 + (np.exp(-1.0) - 1) * np.exp(-(t - 1)))
    np.testing.assert_allclose(np.asarray(sol.ys)[:, 0], exact, rtol=1e-6)


def _robertson_end(log_k):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, f: f(t, y, None)),
        BDF(rtol=1e-9, atol=1e-15),
        0.0,
        40.0,
        1e-4,
        jnp.array([1.0, 0.0, 0.0]),
        args=Robertson(jnp.exp(log_k)),
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-15),
        adjoint=diffrax.ForwardMode(),
    )
    return sol.ys[-1]


def test_forward_mode_derivative_matches_finite_differences():
    log_k = jnp.log(jnp.array([0.04, 3.0e7, 1.0e4]))
    direction = jnp.array([1.0, -0.5, 0.25])
    _, tangent = jax.jit(lambda p, v: jax.jvp(_robertson_end, (p,), (v,)))(log_k, direction)
    end = jax.jit(_robertson_end)
    eps = 1e-5
    fd = (end(log_k + eps * direction) - end(log_k - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(tangent, fd, rtol=1e-4, atol=1e-9)
    assert np.abs(np.asarray(fd)).max() > 1e-3


def test_vmap_equals_loop():
    log_ks = jnp.log(jnp.array([[0.04, 3.0e7, 1.0e4], [0.02, 1.0e7, 3.0e4]]))
    end = jax.jit(_robertson_end)
    np.testing.assert_allclose(
        jax.vmap(end)(log_ks), jnp.stack([end(k) for k in log_ks]), rtol=1e-8, atol=1e-16
    )


def test_simulate_by_name_uses_the_solve_tolerances():
    import cellode

    problem = stiff_testset()["ROBER"]
    traj = cellode.simulate(
        problem.field, jnp.asarray(problem.x0), jnp.array([1e11]), t0=0.0, solver="bdf",
        rtol=1e-7, atol=1e-13,
    )  # fmt: skip
    assert traj.stats.solver == "bdf"
    assert mixed_error_digits(traj.xs[-1], problem.reference, 1e-7, 1e-13) >= 5.0


@pytest.mark.slow  # ~25 s on the shared 2-core machine: compiling the reverse pass dominates
def test_reverse_mode_gradient_matches_finite_differences():
    """With reverse_mode=True the Newton loop has a fixed length, so jax.grad passes."""

    def loss(log_k):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, f: f(t, y, None)),
            BDF(rtol=1e-9, atol=1e-15, reverse_mode=True),
            0.0,
            40.0,
            1e-4,
            jnp.array([1.0, 0.0, 0.0]),
            args=Robertson(jnp.exp(log_k)),
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-15),
            max_steps=4096,
        )
        return jnp.sum(sol.ys[-1] * jnp.array([1.0, 1e4, 0.0]))

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
    np.testing.assert_allclose(grad, fd, rtol=1e-5)
    assert np.all(np.abs(fd) > 1e-2)
