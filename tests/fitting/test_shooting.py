"""Multiple shooting: windows cover the series, reproduce single shooting at the truth, and
escape the local minimum that single shooting falls into on a long oscillatory series."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode as cd
from cellode._fitting.optimise import objective
from cellode._fitting.shooting import Windows, window_terms

TRUE_RATES = np.array([1.0, 0.1, 1.5, 0.075])  # prey growth, predation, predator death, conversion
POOR_START = np.array([0.6, 0.15, 1.0, 0.05])
X0 = np.array([10.0, 5.0])
TS = np.linspace(0.75, 30.0, 40)  # about five predator-prey cycles
SIGMA = 1.0


def lotka_volterra(t, x, u, log_rates):
    a, b, c, d = jnp.exp(log_rates)
    prey, predator = x[0], x[1]
    return jnp.stack([a * prey - b * prey * predator, d * prey * predator - c * predator])


def estimate_with(rates):
    model = cd.FunctionField(lotka_volterra, jnp.asarray(np.log(rates)))
    return cd.Estimate(model, cd.Observables.from_species(["prey", "predator"]), cd.Gaussian(SIGMA))


@pytest.fixture(scope="module")
def predator_prey():
    truth = estimate_with(TRUE_RATES)
    clean = cd.simulate(truth.model, X0, TS, t0=0.0, solver="tsit5", rtol=1e-10, atol=1e-10).xs
    y = np.asarray(clean) + SIGMA * np.random.default_rng(0).standard_normal((TS.size, 2))
    experiment = cd.Experiment(TS, y, x0=X0, name="cycles")
    problem = cd.Problem.create(truth, [experiment], solver="tsit5", rtol=1e-6, atol=1e-6)
    return problem, truth, np.asarray(clean)


def test_windows_partition_the_observation_times(predator_prey):
    problem, truth, _ = predator_prey
    target, states = cd.MultipleShooting(windows=5).objective(problem, truth)
    (group,) = target.groups
    ts, mask, end = np.asarray(group.ts), np.asarray(group.mask), np.asarray(group.end)
    t_start, linked = np.asarray(group.t_start), np.asarray(group.linked)
    assert ts.shape[0] == 5 and states[0].shape == (5, 2)
    # Every observation is in exactly one window, in order.
    np.testing.assert_array_equal(ts[mask[:, :, 0]], TS)
    assert t_start[0] == 0.0 and list(np.asarray(group.first)) == [True] + [False] * 4
    # Window w starts at its first observation and runs on to the start of window w + 1.
    np.testing.assert_array_equal(t_start[1:], ts[1:, 0])
    assert list(linked) == [True] * 4 + [False]
    np.testing.assert_array_equal(ts[np.arange(4), end[:4]], t_start[1:])
    assert not mask[np.arange(4), end[:4]].any()  # the next window observes that point
    assert np.all(np.diff(ts, axis=1) > 0)


def test_initial_window_states_come_from_the_data_of_observed_species(predator_prey):
    problem, truth, _ = predator_prey
    _, (states,) = cd.MultipleShooting(windows=5).objective(problem, truth)
    y = np.asarray(problem.groups[0].y[0])
    firsts = [0, 8, 16, 24, 32]  # 40 times in 5 windows of 8
    np.testing.assert_array_equal(np.asarray(states)[1:], y[firsts[1:]])


def test_multiple_shooting_escapes_the_local_minimum_of_single_shooting(predator_prey):
    problem, truth, _ = predator_prey
    start = estimate_with(POOR_START)
    best = float(objective(problem, truth))
    assert float(objective(problem, start)) > 50 * best
    options = dict(steps=150, learning_rate=0.05, progress=False)
    single = cd.fit(problem, start, **options)
    # Single shooting settles on a wrong cycle: the loss stays far above the truth's and the
    # predator death rate is off by more than a third.
    assert single.loss > 20 * best
    assert abs(float(jnp.exp(single.estimate.model.params[2])) / 1.5 - 1) > 0.3
    multiple = cd.fit(problem, start, shooting=cd.MultipleShooting(windows=5, continuity=10.0),
                      **options)  # fmt: skip
    # `loss` is the single-shooting nllh of the fitted model: at the maximum-likelihood level.
    assert multiple.loss < best + 5.0
    rates = np.exp(np.asarray(multiple.estimate.model.params))
    np.testing.assert_allclose(rates, TRUE_RATES, rtol=0.05)
    assert multiple.info["max_continuity_gap"] < 1.0


def test_multiple_shooting_resumes_bit_for_bit(predator_prey, tmp_path):
    # Same settings as above, so the compiled step is reused; the window states are checkpointed
    # with the parameters.
    problem, _, _ = predator_prey
    options = dict(learning_rate=0.05, progress=False, checkpoint_every=3,
                   shooting=cd.MultipleShooting(windows=5, continuity=10.0))  # fmt: skip
    start = estimate_with(POOR_START)
    full = cd.fit(problem, start, steps=6, checkpoint_dir=tmp_path / "full", **options)
    cd.fit(problem, start, steps=3, checkpoint_dir=tmp_path / "part", **options)
    resumed = cd.fit(problem, start, steps=6, checkpoint_dir=tmp_path / "part",
                     resume=tmp_path / "part", **options)  # fmt: skip
    assert resumed.history == full.history and resumed.loss == full.loss
    assert full.history[-1] < 0.8 * full.history[0]


def test_windows_on_the_true_trajectory_give_the_single_shooting_nllh(predator_prey):
    problem, truth, clean = predator_prey
    target, _ = cd.MultipleShooting(windows=5, continuity=10.0).objective(problem, truth)
    states = (jnp.asarray(np.concatenate([X0[None], clean[[8, 16, 24, 32]]])),)
    # The compiled function `fit` uses for its report (shared with the test above).
    ((nllh, penalty, gaps),) = window_terms(target, truth, states)
    # Same model, same data: only the restarts (at the states of an rtol 1e-10 solve) differ.
    single = float(objective(problem, truth))
    np.testing.assert_allclose(float(jnp.sum(nllh)), single, rtol=1e-5)
    assert np.max(np.abs(np.asarray(gaps))) < 1e-4 and float(jnp.sum(penalty)) < 1e-6


def test_a_window_minibatch_is_the_rescaled_sum_of_the_drawn_windows(predator_prey):
    problem, truth, _ = predator_prey
    target, states = cd.MultipleShooting(windows=5, continuity=10.0).objective(problem, truth)
    key = jax.random.key(3)
    got = eqx.filter_jit(Windows.loss)(target, truth, states, key, 2)
    # The draw `loss` makes for group 0: 2 of the 5 windows, without replacement.
    drawn = np.asarray(jax.random.choice(jax.random.fold_in(key, 0), 5, (2,), replace=False))
    ((nllh, penalty, _),) = window_terms(target, truth, states)
    expected = 5 / 2 * (np.sum(np.asarray(nllh)[drawn]) + np.sum(np.asarray(penalty)[drawn]))
    np.testing.assert_allclose(float(got), expected, rtol=1e-9)
    assert float(jnp.sum(penalty)) > 1.0  # data-started windows do not join up: a real check


def test_multiple_shooting_settings_are_checked(predator_prey):
    problem, truth, _ = predator_prey
    with pytest.raises(cd.InputError, match="windows >= 1"):
        cd.MultipleShooting(windows=0)
    with pytest.raises(cd.InputError, match="positive continuity"):
        cd.MultipleShooting(windows=4, continuity=0.0)
    with pytest.raises(cd.InputError, match=r"\['cycles'\] have 40 observation times"):
        cd.MultipleShooting(windows=41).objective(problem, truth)
