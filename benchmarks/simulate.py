"""simulate() on a small mass-action system, side by side with scipy's solve_ivp and plain diffrax.

    python benchmarks/simulate.py

The problem: the built-in ligand–receptor–kinase cascade (5 species, 6 reactions) with a constant
ligand dose, on [0, 80], saved at 401 times, rtol 1e-6, atol 1e-9, Tsit5 / RK45 / LSODA.
Reports compile time apart from run time, time per solve, and ratios against cellode.
"""

from __future__ import annotations

import platform

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy
from scipy.integrate import solve_ivp

import cellode as cd
from _timing import first_call_seconds, median_seconds

jax.config.update("jax_enable_x64", True)

RTOL, ATOL = 1e-6, 1e-9


def main() -> None:
    model = cd.load_model(cd.builtin_model_path("cascade"))
    network = model.network
    field = network.vector_field()
    inputs = cd.Constant([1.0])
    x0 = jnp.asarray(model.x0)
    ts = jnp.linspace(0.0, 80.0, 401)
    u = jnp.array([1.0])

    def run_cellode(solver: str = "tsit5"):
        return cd.simulate(field, x0, ts, inputs=inputs, solver=solver, rtol=RTOL, atol=ATOL).xs

    @jax.jit
    def run_diffrax(field, x0):
        term = diffrax.ODETerm(lambda t, x, f: f(t, x, u))
        sol = diffrax.diffeqsolve(
            term, diffrax.Tsit5(), 0.0, 80.0, None, x0, field,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
            max_steps=100_000,
        )  # fmt: skip
        return sol.ys

    S = np.asarray(network.stoichiometry, dtype=float)
    k = dict(zip(network.parameter_names, np.asarray(field.parameters), strict=True))

    def rhs_numpy(t, x, k=k):
        """The same vector field written in NumPy, as a scipy user would."""
        R, LR, K, Kp, G = x
        v = [
            k["kon"] * R,
            k["koff"] * LR,
            k["kcat"] * LR * K,
            k["kdp"] * Kp,
            k["ktx"] * Kp,
            k["kdg"] * G,
        ]
        return S @ np.array(v)

    def run_scipy(method: str):
        return solve_ivp(
            rhs_numpy, (0.0, 80.0), np.asarray(x0), method=method, t_eval=np.asarray(ts),
            rtol=RTOL, atol=ATOL,
        ).y.T  # fmt: skip

    # Same answer first: every method agrees with a tight reference.
    ref = np.asarray(
        cd.simulate(field, x0, ts, inputs=inputs, solver="dopri8", rtol=1e-12, atol=1e-14).xs
    )
    rows = []
    compile_cellode = first_call_seconds(run_cellode)
    compile_diffrax = first_call_seconds(lambda: run_diffrax(field, x0))

    @eqx.filter_jit
    def run_cellode_in_jit(field, x0):
        return cd.simulate(field, x0, ts, inputs=inputs, solver="tsit5", rtol=RTOL, atol=ATOL).xs

    candidates = {
        "cellode simulate (tsit5)": lambda: run_cellode("tsit5"),
        "cellode simulate (tsit5) inside the caller's jit": lambda: run_cellode_in_jit(field, x0),
        "cellode simulate (auto)": lambda: run_cellode("auto"),
        "diffrax diffeqsolve (Tsit5, jit)": lambda: run_diffrax(field, x0),
        "scipy solve_ivp RK45 (NumPy rhs)": lambda: run_scipy("RK45"),
        "scipy solve_ivp LSODA (NumPy rhs)": lambda: run_scipy("LSODA"),
    }
    for name, fn in candidates.items():
        err = float(np.max(np.abs(np.asarray(fn()) - ref)))
        rows.append((name, median_seconds(fn), err))

    # A population: 256 parameter sets (vmap) against a Python loop of solve_ivp.
    keys = jax.random.split(jax.random.key(0), 256)
    scale = jnp.exp(0.2 * jax.vmap(lambda k: jax.random.normal(k, field.parameters.shape))(keys))
    fields = jax.vmap(lambda s: eqx.tree_at(lambda f: f.parameters, field, field.parameters * s))(
        scale
    )

    @jax.jit
    def population(fields):
        return jax.vmap(
            lambda f: cd.simulate(f, x0, ts, inputs=inputs, solver="tsit5", rtol=RTOL, atol=ATOL).xs
        )(fields)

    compile_pop = first_call_seconds(lambda: population(fields))
    t_pop = median_seconds(lambda: population(fields), repeats=5)

    names = network.parameter_names
    all_k = np.asarray(fields.parameters)

    def scipy_population():
        out = []
        for row in all_k:
            k_i = dict(zip(names, row, strict=True))
            sol = solve_ivp(
                rhs_numpy, (0.0, 80.0), np.asarray(x0), method="LSODA", t_eval=np.asarray(ts),
                rtol=RTOL, atol=ATOL, args=(k_i,),
            )  # fmt: skip
            out.append(sol.y)
        return out

    t_scipy_pop = median_seconds(scipy_population, repeats=1, min_time=0.0)

    base = rows[0][1]
    print(
        f"machine: {platform.processor() or platform.machine()}, {jax.device_count()} CPU device(s); "
        f"jax {jax.__version__}, diffrax {diffrax.__version__}, scipy {scipy.__version__}"
    )
    print(f"compile + first run: cellode {compile_cellode:.2f} s, diffrax {compile_diffrax:.2f} s")
    print()
    print("| method | time per solve | ratio to cellode (tsit5) | max error vs reference |")
    print("|---|---|---|---|")
    for name, seconds, err in rows:
        print(f"| {name} | {seconds * 1e3:.3f} ms | {seconds / base:.2f} | {err:.1e} |")
    print()
    print(
        f"population of 256 parameter sets: cellode vmap {t_pop * 1e3:.1f} ms "
        f"({t_pop / 256 * 1e3:.3f} ms per solve; compile {compile_pop:.1f} s), "
        f"scipy LSODA loop {t_scipy_pop * 1e3:.0f} ms; ratio {t_scipy_pop / t_pop:.0f}x"
    )


if __name__ == "__main__":
    main()
