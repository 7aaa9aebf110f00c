"""Multistart: Latin-hypercube starts; serial, local processes and Ray give the same fits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode as cd

NETWORK = cd.ReactionNetwork.from_text("A -> B ; k1\nB -> ; k2", parameters={"k1": 0.7, "k2": 0.3})


@pytest.fixture(scope="module")
def decay_problem():
    truth = NETWORK.vector_field(log_scale=True)
    obs = cd.Observables.from_species(NETWORK.species)
    ts = np.linspace(0.5, 8.0, 12)
    x0 = np.array([1.0, 0.0])
    rng = np.random.default_rng(2)
    xs = cd.simulate(truth, x0, ts, t0=0.0, rtol=1e-10, atol=1e-12).xs
    y = np.asarray(xs) + 0.005 * rng.standard_normal(xs.shape)
    estimate = cd.Estimate(truth, obs, cd.Gaussian(0.005))
    problem = cd.Problem.create(estimate, [cd.Experiment(ts, y)], x0=x0, solver="tsit5")
    return problem, estimate


def test_latin_hypercube_puts_one_point_in_every_stratum():
    points = cd.latin_hypercube(jax.random.key(0), 8, [0.0, -1.0], [1.0, 1.0])
    assert points.shape == (8, 2)
    for j, (lo, hi) in enumerate([(0.0, 1.0), (-1.0, 1.0)]):
        strata = np.floor((points[:, j] - lo) / (hi - lo) * 8).astype(int)
        assert sorted(strata) == list(range(8))


def test_serial_multistart_finds_the_optimum_from_every_start(decay_problem):
    problem, estimate = decay_problem
    result = cd.multistart(
        problem, estimate, n_starts=4, lower=-3.0, upper=1.0, key=jax.random.key(1),
        executor="serial",
    )  # fmt: skip
    assert len(result.results) == 4
    assert np.all(np.diff(result.losses) >= 0)
    np.testing.assert_allclose(
        jnp.exp(result.best.estimate.model.parameters), [0.7, 0.3], rtol=0.05
    )
    assert result.losses[-1] - result.losses[0] < 1e-6  # a convex-enough problem: one optimum
    fig = result.waterfall()
    assert fig.axes[0].get_yscale() == "log"


# Ray starts its own cluster (~20 s) and recompiles in each of its workers: `slow`. The process
# pool checks the same contract (a pickled problem, the serial result) in the default suite.
@pytest.mark.parametrize("executor", ["processes", pytest.param("ray", marks=pytest.mark.slow)])
def test_parallel_executors_match_serial(decay_problem, executor):
    problem, estimate = decay_problem
    kwargs = dict(n_starts=2, lower=-3.0, upper=1.0, key=jax.random.key(1), workers=2)
    serial = cd.multistart(problem, estimate, executor="serial", **kwargs)
    if executor == "ray":
        ray = pytest.importorskip("ray")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        parallel = cd.multistart(problem, estimate, executor=executor, **kwargs)
    finally:
        if executor == "ray":
            ray.shutdown()
    np.testing.assert_allclose(parallel.losses, serial.losses, rtol=1e-9)
    assert parallel.executor == executor and parallel.workers == 2


def test_lambda_models_cannot_leave_the_process_and_say_so(decay_problem):
    problem, _ = decay_problem
    lam = cd.Estimate(
        cd.FunctionField(lambda t, x, u, p: -p * x, jnp.array([0.1, 0.1])),
        cd.Observables.from_species(NETWORK.species),
        cd.Gaussian(0.005),
    )
    with pytest.raises(cd.InputError, match="picklable"):
        cd.multistart(problem, lam, n_starts=2, lower=0.0, upper=1.0, key=jax.random.key(0),
                      executor="processes", workers=1)  # fmt: skip
