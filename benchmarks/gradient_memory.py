"""Peak memory of one gradient versus the integration horizon (number of solver steps).

    python benchmarks/gradient_memory.py

Problem: 4 weakly damped linear oscillators (d = 8), x' = A x, terminal loss |x(T)|^2, Tsit5
at rtol = atol = 1e-8, T = 25 ... 400 (about 220 ... 2,500 steps). Memory is XLA's temporary
buffer size of the compiled gradient (`jax.jit(grad).lower(...).compile().memory_analysis()`),
which is what one gradient needs beyond its inputs and outputs. `max_steps` is twice the
steps the horizon needs, so a method that stores every step pays for every step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import cellode as cd

jax.config.update("jax_enable_x64", True)

D = 8
A = jnp.kron(jnp.eye(D // 2), jnp.array([[-0.01, 1.0], [-1.0, -0.01]]))
X0 = jnp.ones(D)


def oscillators(t, x, u, a):
    return a @ x


def gradient_memory(horizon: float, sensitivity, max_steps: int) -> tuple[int, np.ndarray]:
    """(temporary bytes of the compiled gradient, the gradient with respect to x0)."""

    def loss(a, x0):
        traj = cd.simulate(
            cd.FunctionField(oscillators, a),
            x0,
            jnp.array([horizon]),
            t0=0.0,
            solver="tsit5",
            rtol=1e-8,
            atol=1e-8,
            max_steps=max_steps,
            sensitivity=sensitivity,
        )
        return jnp.sum(traj.xs[-1] ** 2)

    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(A, X0).compile()
    grad = compiled(A, X0)
    return compiled.memory_analysis().temp_size_in_bytes, np.asarray(grad[1])


def steps_needed(horizon: float) -> int:
    traj = cd.simulate(
        cd.FunctionField(oscillators, A),
        X0,
        jnp.array([horizon]),
        t0=0.0,
        solver="tsit5",
        rtol=1e-8,
        atol=1e-8,
    )
    return int(traj.stats.num_steps)


def main() -> None:
    horizons = [25.0, 100.0, 400.0]
    methods = {
        "DiscreteAdjoint(checkpoints=max_steps) (every step stored)": lambda ms: cd.DiscreteAdjoint(
            checkpoints=ms
        ),
        "DiscreteAdjoint() (diffrax recursive checkpointing)": lambda ms: cd.DiscreteAdjoint(),
        "CheckpointedAdjoint(16, segment_max_steps=200)": lambda ms: cd.CheckpointedAdjoint(
            checkpoints=16, segment_max_steps=200
        ),
        "CheckpointedAdjoint(16) (default segment buffer)": lambda ms: cd.CheckpointedAdjoint(
            checkpoints=16
        ),
    }
    print(f"d = {D}; temporary memory of one compiled gradient, kB")
    steps = {h: steps_needed(h) for h in horizons}
    print("| method | " + " | ".join(f"T={h:g} ({steps[h]} steps)" for h in horizons) + " |")
    print("|---|" + "---|" * len(horizons))
    for name, make in methods.items():
        cells = []
        for h in horizons:
            ms = 2 * steps[h]
            mem, grad = gradient_memory(h, make(ms), ms)
            cells.append(
                f"{mem / 1e3:.1f}"
                + ("" if np.all(np.isfinite(grad)) else " (NaN: buffer too small)")
            )
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nCheckpointedAdjoint memory versus K at T = 100 (segment_max_steps=200):")
    for k in (8, 64, 256):
        mem, grad = gradient_memory(
            100.0, cd.CheckpointedAdjoint(checkpoints=k, segment_max_steps=200), 2 * steps[100.0]
        )
        print(f"  K = {k:4d}: {mem / 1e3:.1f} kB")


if __name__ == "__main__":
    main()
