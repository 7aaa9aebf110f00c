"""gradient_check and gradient_error_vs_tolerance (SPEC C6)."""

import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

import cellode as cd

matplotlib.use("Agg")


def decay(t, x, u, k):
    return -k * x


TS = jnp.linspace(0.5, 3.0, 6)


def loss(params, sensitivity, rtol=1e-10, atol=1e-12):
    k, x0 = params
    traj = cd.simulate(
        cd.FunctionField(decay, k),
        x0,
        TS,
        t0=0.0,
        solver="tsit5",
        rtol=rtol,
        atol=atol,
        sensitivity=sensitivity,
    )
    return jnp.sum(traj.xs**2)


PARAMS = (jnp.array([0.7, 0.3]), jnp.array([2.0, 1.0]))
METHODS = {"discrete": cd.DiscreteAdjoint(), "checkpointed": cd.CheckpointedAdjoint(checkpoints=2)}


def test_gradient_check_passes_for_correct_methods():
    check = cd.gradient_check(loss, PARAMS, methods=METHODS, rtol=1e-6)
    assert check.passed, str(check)
    assert check.directions.shape == (4, 4)  # coordinate directions: 2 rates + 2 initial states
    assert set(check.pairwise) == {("discrete", "checkpointed")}


class Wrong(cd.AbstractSensitivity):
    """A deliberately wrong method: the true solve, gradients scaled by 1.1."""

    def solve(self, problem):
        import jax

        out = cd.DiscreteAdjoint().solve(problem)
        xs = out.xs
        scaled = 1.1 * xs - jax.lax.stop_gradient(0.1 * xs)
        return type(out)(
            scaled,
            out.t_reached,
            out.x_reached,
            out.num_steps,
            out.num_accepted_steps,
            out.num_rejected_steps,
            out.result,
        )


def test_gradient_check_flags_a_wrong_gradient():
    check = cd.gradient_check(loss, PARAMS, methods={**METHODS, "wrong": Wrong()}, rtol=1e-6)
    assert not check.passed
    assert check.fd_errors["wrong"] == pytest.approx(0.1, rel=1e-3)
    assert any("wrong" in line for line in check.failures())


def test_gradient_error_shrinks_with_tolerance_and_plots():
    study = cd.gradient_error_vs_tolerance(
        loss, PARAMS, methods=METHODS, tolerances=(1e-3, 1e-5, 1e-7), atol_ratio=1e-2
    )
    for name, errors in study.errors.items():
        assert np.all(np.diff(np.log10(errors)) < 0), (name, errors)
        assert errors[-1] < 1e-5
    assert all(slope > 0.5 for slope in study.slopes().values()), study.slopes()
    fig = study.plot()
    assert len(fig.axes[0].lines) == len(METHODS)
