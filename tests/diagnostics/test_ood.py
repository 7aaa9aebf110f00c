"""The out-of-distribution report: a Hopf limit cycle (mechanistic and learned), held-out
errors, conservation drift, parameter changes, breakdowns, the figure and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from matplotlib.figure import Figure

import cellode
from cellode import Condition, FunctionField, InputError

OMEGA = 2.0
TS = np.linspace(0.0, 4.0, 81)
SOLVE = dict(solver="tsit5")


def hopf(t, x, u, p):
    """Hopf normal form scaled by p[1]: r' = s r (1 - r^2), theta' = s omega (limit cycle r = 1)."""
    omega, scale = p[0], p[1]
    r2 = x[0] ** 2 + x[1] ** 2
    return scale * jnp.stack([x[0] - omega * x[1] - x[0] * r2, omega * x[0] + x[1] - x[1] * r2])


def hopf_solution(r0, theta0, ts):
    """Closed form: r(t) = (1 + (1/r0^2 - 1) e^{-2t})^{-1/2}, theta(t) = theta0 + omega t."""
    r = 1.0 / np.sqrt(1.0 + (1.0 / r0**2 - 1.0) * np.exp(-2.0 * ts))
    theta = theta0 + OMEGA * ts
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


@pytest.fixture(scope="module")
def training():
    """States of 8 trajectories that start in the annulus 0.6 < r < 1.4 around the cycle."""
    rng = np.random.default_rng(3)
    starts = zip(rng.uniform(0.6, 1.4, 8), rng.uniform(0.0, 2 * np.pi, 8), strict=True)
    xs = np.concatenate([hopf_solution(r, a, TS) for r, a in starts])
    return cellode.region(xs, ts=np.tile(TS, 8))


@pytest.fixture(scope="module")
def truth():
    return FunctionField(hopf, jnp.asarray([OMEGA, 1.0]))


def condition(x0, **kwargs):
    return Condition(jnp.asarray(x0, dtype=float), jnp.asarray(TS), **kwargs)


def test_mechanistic_model_inside_and_far_outside(truth, training):
    inside = cellode.ood_report(truth, training, condition([0.0, 1.1]), **SOLVE)
    assert not inside.extrapolating
    assert inside.verdict.startswith("inside the training region")
    assert float(np.max(inside.distance)) < 0.5
    assert inside.ftle < 0.1  # on a stable limit cycle nothing grows much
    far = cellode.ood_report(truth, training, condition([3.0, 3.0]), **SOLVE)
    assert far.extrapolating
    # ||J|| grows like 3 r^2 for the cubic terms: near r = 4.2 it is ~8x the training maximum.
    assert far.lipschitz.ratio > 5
    assert far.verdict.startswith("extrapolating: Lipschitz")
    assert f"e^{{{far.lipschitz.test_max:.2g} t}}" in far.verdict
    assert far.lipschitz.growth == pytest.approx(np.exp(far.lipschitz.test_max * 4.0))


def test_a_parameter_change_is_judged_with_the_changed_model(truth, training):
    faster = FunctionField(hopf, jnp.asarray([OMEGA, 5.0]))  # same cycle, 5x the rates
    report = cellode.ood_report(
        truth, training, condition([0.0, 1.0], model=faster, name="5x rates"), **SOLVE
    )
    assert float(np.max(report.distance)) < 0.5  # the states stay on the training cycle...
    # ...but f is 5x steeper there, so its Lipschitz constants are 5x the fitted model's.
    nominal = cellode.local_lipschitz(truth, report.states)
    np.testing.assert_allclose(report.lipschitz.test, 5.0 * np.asarray(nominal), rtol=1e-12)
    assert report.lipschitz.ratio > 2
    assert report.extrapolating and "Lipschitz" in report.verdict
    assert "5x rates" in report.summary()


def test_held_out_error_against_data(truth, training):
    exact = hopf_solution(1.2, 0.3, TS)
    x0 = exact[0]
    good = cellode.ood_report(truth, training, condition(x0, observed=jnp.asarray(exact)), **SOLVE)
    assert good.relative_error < 1e-4
    assert not any("held-out" in w for w in good.warnings)
    shifted = exact + 0.5
    shifted[::3, 1] = np.nan  # missing values are left out
    bad = cellode.ood_report(truth, training, condition(x0, observed=jnp.asarray(shifted)), **SOLVE)
    assert np.nanmax(bad.error) == pytest.approx(0.5, rel=1e-4)
    assert any("held-out error" in w for w in bad.warnings)


def test_conservation_drift_is_checked_against_the_laws(truth, training):
    # x1 + 0 x2 is not conserved by the Hopf flow: a drift warning, and the FTLE is computed on
    # the subspace {x1 = 0} of directions that keep the "law".
    report = cellode.ood_report(truth, training, condition([1.0, 0.0]), laws=[[1, 0]], **SOLVE)
    assert report.drift.shape == (1,) and report.drift[0] > 0.5
    assert any("drift" in w for w in report.warnings)


def test_a_solution_that_breaks_down_is_reported(truth, training):
    unstable = FunctionField(hopf, jnp.asarray([OMEGA, -1.0]))  # r' = -r (1 - r^2): blows up
    report = cellode.ood_report(truth, training, condition([1.5, 0.0], model=unstable), **SOLVE)
    assert report.breakdown is not None and 0 < report.breakdown < 4.0
    assert report.extrapolating and "breaks down" in report.verdict
    assert np.isnan(report.ftle)


def test_figure(truth, training, tmp_path):
    exact = hopf_solution(2.0, 0.0, TS)
    report = cellode.ood_report(
        truth, training, condition(exact[0], observed=jnp.asarray(exact)), **SOLVE
    )
    fig = cellode.plot_ood(report)
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # states, distance, Lipschitz, error
    fig.savefig(tmp_path / "ood.png")
    assert (tmp_path / "ood.png").stat().st_size > 10_000
    lip = cellode.plot_lipschitz(report.lipschitz)
    assert isinstance(lip, Figure)
    grid = np.linspace(-1.0, 1.0, 5)
    ftle_map = cellode.plot_ftle_map(grid, grid[:4], np.zeros((4, 5)) - 0.3)
    assert len(ftle_map.axes) == 2  # the map and its colour bar


@pytest.fixture(scope="module")
def learned(training):
    """A neural ODE (MLP 2-32-32-2, softplus) fitted to dx/dt on the training states."""
    xs = training.xs
    targets = jax.vmap(lambda x: hopf(0.0, x, None, jnp.asarray([OMEGA, 1.0])))(xs)
    model = cellode.NeuralField(2, key=jax.random.key(0), width=32, depth=2)
    optimiser = optax.adam(1e-2)
    state = optimiser.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def step(model, state):
        def loss(m):
            return jnp.mean((jax.vmap(lambda x: m(0.0, x, None))(xs) - targets) ** 2)

        value, grads = eqx.filter_value_and_grad(loss)(model)
        updates, state = optimiser.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state, value

    with jax.numpy_dtype_promotion("standard"):  # optax mixes its int32 step count with floats
        for _ in range(400):
            model, state, value = step(model, state)
    return model, float(value)


def test_learned_limit_cycle_is_trusted_inside_and_flagged_far_outside(learned, training):
    model, final_loss = learned
    assert final_loss < 0.02  # the fit is good on the training region
    inside = cellode.ood_report(model, training, condition([0.0, 1.05]), **SOLVE)
    assert not inside.extrapolating, inside.summary()
    outside = cellode.ood_report(model, training, condition([3.0, -3.0]), **SOLVE)
    assert outside.extrapolating
    assert outside.outside_fraction > 0.5
    assert "training spreads" in outside.verdict


def test_bad_input_names_the_argument(truth, training):
    with pytest.raises(InputError, match="condition"):
        cellode.ood_report(truth, training, {"x0": [1.0, 0.0]})
    with pytest.raises(InputError, match=r"condition\.x0"):
        cellode.ood_report(truth, training, condition([1.0, 0.0, 0.0]))
    with pytest.raises(InputError, match=r"condition\.x0.*non-finite"):
        cellode.ood_report(truth, training, condition([np.inf, 0.0]))
    with pytest.raises(InputError, match=r"train_region.*empty"):
        cellode.ood_report(truth, np.zeros((0, 2)), condition([1.0, 0.0]))
    with pytest.raises(InputError, match=r"condition\.observed"):
        cellode.ood_report(
            truth, training, condition([1.0, 0.0], observed=jnp.zeros((3, 2))), **SOLVE
        )


def test_growing_perturbations_are_warned_about(truth, training):
    # Near the unstable focus at the origin, perturbations grow like e^t until the cycle.
    report = cellode.ood_report(truth, training, condition([0.01, 0.0]), **SOLVE)
    assert report.ftle * report.horizon > 1
    assert any("positive finite-time Lyapunov exponent" in w for w in report.warnings)
