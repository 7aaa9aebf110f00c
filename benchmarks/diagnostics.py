"""Cost of the trust diagnostics: exact SVD against power iteration for ||J_f(x)||_2 as the
state dimension n grows, and finite-time Lyapunov exponents of Lorenz-63.

    python benchmarks/diagnostics.py

Lipschitz problem: f(x) = -x + W tanh(x), W n x n Gaussian / sqrt(n), at 16 states. "svd" forms
the Jacobian with n forward-mode jvps and takes its singular values; "power" runs power iteration on
J^T J (one jvp and one vjp per step) until the estimate changes by less than 1e-10 relative. Reported: median time per call after
compilation, ratio power/svd, and the relative error of power iteration against the SVD.
FTLE problem: Lorenz-63 (sigma 10, rho 28, beta 8/3) from a state on the attractor, T = 1000,
500 QR segments, Tsit5 at rtol 1e-8; and 64 initial states by ftle_map against a loop.
"""

from __future__ import annotations

import platform

import jax
import jax.numpy as jnp
import numpy as np

import cellode as cd
from _timing import first_call_seconds, median_seconds

jax.config.update("jax_enable_x64", True)


def tanh_net(t, x, u, W):
    return -x + W @ jnp.tanh(x)


def lorenz(t, x, u, p):
    return jnp.stack([p[0] * (x[1] - x[0]), x[0] * (p[1] - x[2]) - x[1], x[0] * x[1] - p[2] * x[2]])


def lipschitz_table() -> None:
    rng = np.random.default_rng(0)
    print(
        "| n | svd per call (16 states) | power (to rel. change 1e-10) | ratio power/svd | power rel. error |"
    )
    print("|---|---|---|---|---|")
    for n in (8, 32, 64, 128, 256):
        W = jnp.asarray(rng.normal(size=(n, n)) / np.sqrt(n))
        field = cd.FunctionField(tanh_net, W)
        states = rng.normal(size=(16, n))

        def svd(field=field, states=states):
            return cd.local_lipschitz(field, states, method="svd")

        def power(field=field, states=states):
            return cd.local_lipschitz(field, states, method="power")

        t_svd, t_power = median_seconds(svd, repeats=3), median_seconds(power, repeats=3)
        err = float(np.max(np.abs(np.asarray(power()) / np.asarray(svd()) - 1)))
        print(
            f"| {n} | {1e3 * t_svd:.2f} ms | {1e3 * t_power:.2f} ms | {t_power / t_svd:.2f} "
            f"| {err:.1e} |"
        )


def ftle_numbers() -> None:
    field = cd.FunctionField(lorenz, jnp.asarray([10.0, 28.0, 8.0 / 3.0]))
    opts = dict(segments=500, solver="tsit5", rtol=1e-8, atol=1e-10)
    x = np.asarray(cd.ftle(field, [1.0, 1.0, 20.0], 20.0, **opts).x_end)
    first = first_call_seconds(lambda: cd.ftle(field, x, 1000.0, **opts).largest)
    run = median_seconds(lambda: cd.ftle(field, x, 1000.0, **opts).largest, repeats=3)
    result = cd.ftle(field, x, 1000.0, **opts)
    print(
        f"Lorenz-63, T = 1000: largest {float(result.largest):.4f} (spectrum "
        f"{np.round(np.asarray(result.spectrum), 4).tolist()}), {run:.2f} s per call "
        f"(first call {first:.2f} s)"
    )
    rng = np.random.default_rng(1)
    x0s = x + rng.normal(size=(64, 3))
    short = dict(opts, segments=20)
    batch = lambda: cd.ftle_map(field, x0s, 5.0, **short).largest
    loop = lambda: [cd.ftle(field, x0, 5.0, **short).largest for x0 in x0s]
    t_batch, t_loop = median_seconds(batch, repeats=3), median_seconds(loop, repeats=3)
    print(
        f"64 initial states, T = 5: ftle_map {1e3 * t_batch:.0f} ms, loop of ftle "
        f"{1e3 * t_loop:.0f} ms: {t_loop / t_batch:.1f}x"
    )


def main() -> None:
    print(f"jax {jax.__version__}, {platform.processor() or platform.machine()}")
    lipschitz_table()
    ftle_numbers()


if __name__ == "__main__":
    main()
