"""A small deterministic fit used by the resume tests (run in-process and as a subprocess).

python _decay_fit.py CHECKPOINT_DIR STEPS [--slow]
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import cellode as cd  # noqa: E402


def decay(t, x, u, p):
    return -jnp.exp(p["log_k"]) * x


def setup():
    rng = np.random.default_rng(1)
    ts = np.linspace(0.5, 5.0, 10)
    exps = []
    for i, x0 in enumerate([1.0, 2.0, 3.0, 4.0]):
        y = x0 * np.exp(-0.8 * ts) + 0.01 * rng.standard_normal(10)
        exps.append(cd.Experiment(ts, y[:, None], x0=[x0], name=f"e{i}"))
    model = cd.FunctionField(decay, {"log_k": jnp.array(0.0)})
    estimate = cd.Estimate(model, cd.Observables.from_species(["x"]), cd.Gaussian(0.01))
    # The default sensitivity (forward, 1 parameter). Resume is bit-for-bit because `fit` makes
    # every leaf strongly typed before the first step: the weakly typed jnp.array(0.0) above and
    # its strongly typed copy read from a checkpoint used to compile two different steps.
    problem = cd.Problem.create(estimate, exps, solver="tsit5")
    return problem, estimate


def run(checkpoint_dir, steps, resume=None, slow=False):
    problem, estimate = setup()
    # Slow mode: each step waits, so the parent can kill the process mid-fit.
    callback = (lambda step, loss: time.sleep(0.05)) if slow else None
    return cd.fit(
        problem, estimate, steps=steps, learning_rate=0.05, batch_size=2, key=jax.random.key(3),
        checkpoint_dir=checkpoint_dir, checkpoint_every=5, resume=resume, progress=False,
        callback=callback,
    )  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[3].startswith("--cache="):
        # Share the test session's persistent compilation cache: the parent compiled this fit.
        jax.config.update("jax_compilation_cache_dir", sys.argv[3].split("=", 1)[1])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    run(sys.argv[1], int(sys.argv[2]), slow="--slow" in sys.argv)
