"""Fitting recovers known parameters; checkpoints resume bit-for-bit, also after a kill."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode as cd

from . import _decay_fit

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def cascade_problem():
    """Noisy data from the built-in cascade at three ligand doses (ground truth known)."""
    net = cd.load_model(cd.builtin_model_path("cascade")).network
    truth = net.vector_field(log_scale=True)
    obs = cd.Observables.from_species(net.species, ["LR", "Kp", "G"])
    rng = np.random.default_rng(0)
    exps = []
    for dose in [0.5, 1.0, 2.0]:
        inputs = cd.PiecewiseConstant([5.0, 25.0], [0.0, dose, 0.0])
        ts = np.linspace(1.0, 60.0, 30)
        xs = cd.simulate(truth, net.x0(), ts, t0=0.0, inputs=inputs, rtol=1e-10, atol=1e-12).xs
        y = np.asarray(jax.vmap(obs)(xs)) + 0.02 * rng.standard_normal((30, 3))
        exps.append(cd.Experiment(ts, y, inputs=inputs, name=f"dose {dose}"))
    truth_est = cd.Estimate(truth, obs, cd.Gaussian(0.02))
    problem = cd.Problem.create(truth_est, exps, x0=net.x0())
    return net, truth_est, problem


def test_experiments_of_one_structure_share_one_compiled_group(cascade_problem):
    _, _, problem = cascade_problem
    assert len(problem.groups) == 1
    assert problem.groups[0].names == ("dose 0.5", "dose 1.0", "dose 2.0")
    assert problem.n_observations == 270  # 3 experiments x 30 times x 3 observables


def test_levenberg_marquardt_recovers_rate_constants(cascade_problem):
    _, truth, problem = cascade_problem
    rng = np.random.default_rng(7)
    k_true = truth.model.parameters
    guess = eqx.tree_at(lambda e: e.model.parameters, truth, k_true + 0.5 * rng.standard_normal(6))
    assert float(problem.nllh(guess)) > float(problem.nllh(truth)) + 1000
    result = cd.fit_least_squares(problem, guess)
    assert result.stopped == "converged"
    # At least as good as the truth (it is the maximum-likelihood estimate), and close to it.
    assert result.loss <= float(problem.nllh(truth)) + 1e-6
    rel = np.abs(np.exp(result.estimate.model.parameters) / np.exp(k_true) - 1)
    assert np.all(rel < 0.1), rel


def test_adam_decreases_the_loss_and_early_stopping_stops(cascade_problem):
    _, truth, problem = cascade_problem
    guess = eqx.tree_at(lambda e: e.model.parameters, truth, truth.model.parameters + 0.3)
    result = cd.fit(problem, guess, steps=60, learning_rate=0.05, progress=False)
    assert result.history[-1] < 0.2 * result.history[0]
    # Same optimiser settings (so the compiled step is reused); no step improves by 1e9.
    stalled = cd.fit(problem, truth, steps=200, learning_rate=0.05, patience=5, progress=False,
                     min_delta=1e9)  # fmt: skip
    assert stalled.steps == 6 and "no improvement" in stalled.stopped


def test_fixed_noise_is_not_fitted_and_estimated_noise_is(cascade_problem):
    _, truth, problem = cascade_problem
    fixed = cd.fit(problem, truth, steps=3, learning_rate=0.05, progress=False).estimate
    np.testing.assert_array_equal(fixed.noise.log_sigma, truth.noise.log_sigma)
    free = eqx.tree_at(lambda e: e.noise, truth, cd.Gaussian(0.2, estimate=True))
    fitted = cd.fit(problem, free, steps=40, learning_rate=0.05, progress=False).estimate
    assert float(jnp.exp(fitted.noise.log_sigma[0])) < 0.15  # moves towards the true 0.02


def test_result_save_and_load_round_trip(cascade_problem, tmp_path):
    _, truth, problem = cascade_problem
    result = cd.fit(problem, truth, steps=2, learning_rate=0.05, progress=False)
    result.save(tmp_path / "fit")
    back = cd.load_result(tmp_path / "fit", like=truth)
    np.testing.assert_array_equal(back.estimate.model.parameters, result.estimate.model.parameters)
    assert back.history == result.history
    with pytest.raises(cd.InputError, match=r"no estimate\.eqx"):
        cd.load_result(tmp_path, like=truth)


def test_resume_in_process_is_bit_for_bit(tmp_path):
    full = _decay_fit.run(tmp_path / "full", 20)
    _decay_fit.run(tmp_path / "part", 10)
    # The fresh fit starts from weakly typed jnp.array(0.0), the resumed one from a strongly typed
    # array read from disk: both must run the step compiled for the first fit (no new trace),
    # or the two executables may round differently.
    traces = []

    def listen(event, duration, **kwargs):
        if event == "/jax/core/compile/jaxpr_trace_duration":
            traces.append(kwargs.get("fun_name"))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        resumed = _decay_fit.run(tmp_path / "part", 20, resume=tmp_path / "part")
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert "_train_step" not in traces
    assert resumed.history == full.history
    np.testing.assert_array_equal(
        resumed.estimate.model.params["log_k"], full.estimate.model.params["log_k"]
    )


def test_resume_after_kill_gives_the_uninterrupted_result(tmp_path):
    full = _decay_fit.run(tmp_path / "full", 40)  # compiles, and fills the compilation cache
    folder = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    cache = f"--cache={jax.config.jax_compilation_cache_dir}"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_decay_fit.py"), str(folder), "40", cache, "--slow"], env=env
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (folder / "step-000000010").is_dir():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (folder / "LATEST").is_file(), "the subprocess never wrote a checkpoint"
    written = (folder / "LATEST").read_text().strip()
    assert written != "step-000000040", "the fit finished before it was killed"
    resumed = _decay_fit.run(folder, 40, resume=folder)
    assert resumed.history == full.history
    np.testing.assert_array_equal(
        resumed.estimate.model.params["log_k"], full.estimate.model.params["log_k"]
    )
    assert abs(float(jnp.exp(full.estimate.model.params["log_k"])) - 0.8) < 0.2
