"""Work-precision of stiff solvers: cellode's Rosenbrock methods against CVODE, scipy and Kvaerno5.

Problems: ROBER, HIRES and POLLU from the Test Set for IVP Solvers (reference end values from
there) and a 25-species mass-action signalling cascade (reference: scipy Radau at rtol 1e-12,
checked against cellode's Rodas5P at the same tolerance). Error = the Test Set's mixed
significant digits at the end point. Times are wall-clock per solve, best of `--repeat` runs;
the jit compile time of the JAX solvers is reported apart. The baselines get a NumPy right-hand
side (their usual use from Python) and their own finite-difference Jacobians.

    python benchmarks/stiff.py            # full run, a few minutes on 2 cores
    python benchmarks/stiff.py --quick    # rtol 1e-6 only

Needs `scikit-sundae` (the `bench` extra) for CVODE.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jaxtyping import Array, Float  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from cellode import BDF, AbstractVectorField, Rodas5P, Rosenbrock23  # noqa: E402
from cellode._examples.stiff_testset import (  # noqa: E402
    _POLLU_PRODUCTS,
    _POLLU_REACTANTS,
    mixed_error_digits,
    stiff_testset,
)

try:
    from sksundae.cvode import CVODE
except ImportError:  # pragma: no cover - optional
    CVODE = None


# --- a 25-species mass-action signalling cascade ----------------------------------------------
# Ligand-receptor binding, then three kinase tiers (each phosphorylation an enzyme-substrate
# complex E + S <-> ES -> E + P, with phosphatases), then slow transcription of an mRNA M that
# induces the first-tier phosphatase: fast binding (1e3 /s) next to slow expression (1e-4 /s).
SPECIES = (
    "L R LR K1 LR_K1 K1p P1 K1p_P1 K2 K2_K1p K2p K2p_K1p K2pp P2 K2p_P2 K2pp_P2 "
    "K3 K3_K2pp K3p K3p_K2pp K3pp P3 K3p_P3 K3pp_P3 M"
).split()


def _cascade_reactions() -> list[tuple[tuple[str, ...], tuple[str, ...], float]]:
    reactions = [(("L", "R"), ("LR",), 10.0), (("LR",), ("L", "R"), 1.0)]

    def enzymatic(enzyme, substrate, complex_, product, kon, koff, kcat):
        reactions.extend(
            [
                ((enzyme, substrate), (complex_,), kon),
                ((complex_,), (enzyme, substrate), koff),
                ((complex_,), (enzyme, product), kcat),
            ]
        )

    enzymatic("LR", "K1", "LR_K1", "K1p", 100.0, 1.0, 10.0)
    enzymatic("P1", "K1p", "K1p_P1", "K1", 100.0, 1.0, 5.0)
    enzymatic("K1p", "K2", "K2_K1p", "K2p", 500.0, 1.0, 20.0)
    enzymatic("K1p", "K2p", "K2p_K1p", "K2pp", 500.0, 1.0, 20.0)
    enzymatic("P2", "K2p", "K2p_P2", "K2", 300.0, 1.0, 10.0)
    enzymatic("P2", "K2pp", "K2pp_P2", "K2p", 300.0, 1.0, 10.0)
    enzymatic("K2pp", "K3", "K3_K2pp", "K3p", 1000.0, 1.0, 50.0)
    enzymatic("K2pp", "K3p", "K3p_K2pp", "K3pp", 1000.0, 1.0, 50.0)
    enzymatic("P3", "K3p", "K3p_P3", "K3", 300.0, 1.0, 10.0)
    enzymatic("P3", "K3pp", "K3pp_P3", "K3p", 300.0, 1.0, 10.0)
    reactions += [
        (("K3pp",), ("K3pp", "M"), 1e-3),  # transcription
        (("M",), (), 1e-4),  # mRNA decay
        (("M",), ("M", "P1"), 1e-3),  # phosphatase induction (negative feedback)
        (("P1",), (), 1e-4),
        (("LR",), (), 1e-3),  # receptor internalisation
        ((), ("R",), 5e-5),  # receptor synthesis
    ]
    return reactions


class MassAction(AbstractVectorField):
    """dx/dt = S v(x), v_r = k_r x_i x_j for reactions with at most two reactants.

    `pairs[r]` holds the reactant indices, padded with `n` (a constant 1 appended to x).
    """

    log_k: Float[Array, " m"]
    pairs: tuple[tuple[int, int], ...] = eqx.field(static=True)
    stoich: tuple[tuple[float, ...], ...] = eqx.field(static=True)

    def __call__(self, t, x, u):
        del t, u
        pairs = np.asarray(self.pairs)
        ext = jnp.concatenate([x, jnp.ones(1, dtype=x.dtype)])
        v = jnp.exp(self.log_k) * ext[pairs[:, 0]] * ext[pairs[:, 1]]
        return jnp.asarray(np.asarray(self.stoich), dtype=x.dtype) @ v


def mass_action(reactants, products, k, n) -> MassAction:
    m = len(k)
    pairs = np.full((m, 2), n, dtype=np.int64)
    stoich = np.zeros((n, m))
    for r, (reac, prod) in enumerate(zip(reactants, products, strict=True)):
        pairs[r, : len(reac)] = reac
        for i in reac:
            stoich[i, r] -= 1
        for i in prod:
            stoich[i, r] += 1
    return MassAction(
        jnp.log(jnp.asarray(k, dtype=float)),
        tuple(map(tuple, pairs.tolist())),
        tuple(map(tuple, stoich.tolist())),
    )


def numpy_rhs(field: MassAction) -> Callable:
    k = np.exp(np.asarray(field.log_k))
    pairs, stoich = np.asarray(field.pairs), np.asarray(field.stoich)

    def rhs(t, y):
        ext = np.append(y, 1.0)
        return stoich @ (k * ext[pairs[:, 0]] * ext[pairs[:, 1]])

    return rhs


def cascade() -> tuple[MassAction, np.ndarray]:
    idx = {s: i for i, s in enumerate(SPECIES)}
    reactions = _cascade_reactions()
    field = mass_action(
        [[idx[s] for s in r] for r, _, _ in reactions],
        [[idx[s] for s in p] for _, p, _ in reactions],
        [k for _, _, k in reactions],
        len(SPECIES),
    )
    x0 = np.zeros(len(SPECIES))
    for name, value in {"L": 1.0, "R": 0.5, "K1": 1.0, "P1": 0.3, "K2": 1.0, "P2": 0.3}.items():
        x0[idx[name]] = value
    x0[idx["K3"]], x0[idx["P3"]] = 1.0, 0.3
    return field, x0


# --- problems ---------------------------------------------------------------------------------
def problems() -> dict[str, dict]:
    ts = stiff_testset()
    out = {}

    def rober(t, y):
        return np.array(
            [
                -0.04 * y[0] + 1e4 * y[1] * y[2],
                0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
                3e7 * y[1] ** 2,
            ]
        )

    def hires(t, y):
        f7 = 280.0 * y[5] * y[7] - 1.81 * y[6]
        return np.array(
            [
                -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007,
                1.71 * y[0] - 8.75 * y[1],
                -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4],
                8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3],
                -1.745 * y[4] + 0.43 * (y[5] + y[6]),
                -280.0 * y[5] * y[7] + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6],
                f7,
                -f7,
            ]
        )

    pollu_np = mass_action(_POLLU_REACTANTS, _POLLU_PRODUCTS, np.asarray(ts["POLLU"].field.k), 20)
    for name, rhs in (("ROBER", rober), ("HIRES", hires), ("POLLU", numpy_rhs(pollu_np))):
        p = ts[name]
        out[name] = dict(
            field=p.field, x0=p.x0, t1=p.t1, ref=p.reference, atol_scale=p.atol_scale, rhs=rhs
        )
    field, x0 = cascade()
    out["CASCADE-25"] = dict(
        field=field, x0=x0, t1=1.0e4, ref=None, atol_scale=1e-4, rhs=numpy_rhs(field)
    )
    return out


# --- runners ----------------------------------------------------------------------------------
def _best_time(fn: Callable[[], np.ndarray], repeat: int) -> tuple[float, np.ndarray]:
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def make_diffrax(prob):
    @eqx.filter_jit
    def solve(solver, field, x0, rtol, atol):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, f: f(t, y, None)),
            solver,
            0.0,
            prob["t1"],
            None,
            x0,
            args=field,
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            max_steps=500_000,
            throw=False,
        )
        return sol.ys[-1], sol.stats["num_steps"]

    return solve


def run_diffrax(solver, prob, rtol, repeat, cache):
    key = (type(solver).__name__, id(prob))
    x0 = jnp.asarray(prob["x0"])
    tols = (jnp.asarray(rtol), jnp.asarray(rtol * prob["atol_scale"]))
    if isinstance(solver, BDF):  # its Newton and order control use the tolerances too
        solver = BDF(*tols)
    args = (solver, prob["field"], x0, *tols)
    compile_s = None
    if key not in cache:
        cache[key] = make_diffrax(prob)
        start = time.perf_counter()
        jax.block_until_ready(cache[key](*args))
        compile_s = time.perf_counter() - start
    solve = cache[key]
    seconds, (y, steps) = _best_time(lambda: jax.block_until_ready(solve(*args)), repeat)
    return seconds, np.asarray(y), int(steps), compile_s


def run_scipy(method, prob, rtol, repeat):
    def go():
        sol = solve_ivp(
            prob["rhs"],
            (0.0, prob["t1"]),
            prob["x0"],
            method=method,
            rtol=rtol,
            atol=rtol * prob["atol_scale"],
        )
        return sol.y[:, -1], sol.nfev

    seconds, (y, nfev) = _best_time(go, repeat)
    return seconds, y, nfev, None


def run_cvode(prob, rtol, repeat):
    rhs = prob["rhs"]

    def rhsfn(t, y, yp):
        yp[:] = rhs(t, y)

    def go():
        solver = CVODE(
            rhsfn, method="BDF", rtol=rtol, atol=rtol * prob["atol_scale"], max_num_steps=500_000
        )
        sol = solver.solve(np.array([0.0, prob["t1"]]), np.asarray(prob["x0"], dtype=float))
        return sol.y[-1], sol.nfev if hasattr(sol, "nfev") else -1

    seconds, (y, nfev) = _best_time(go, repeat)
    return seconds, np.asarray(y), nfev, None


def reference(prob) -> np.ndarray:
    if prob["ref"] is not None:
        return prob["ref"]
    sol = solve_ivp(
        prob["rhs"], (0.0, prob["t1"]), prob["x0"], method="Radau", rtol=1e-12, atol=1e-16
    )
    ref = sol.y[:, -1]
    own = run_diffrax(Rodas5P(), prob, 1e-12, 1, {})[1]
    digits = mixed_error_digits(own, ref, 1e-12, 1e-12 * prob["atol_scale"])
    print(f"# reference: Radau rtol 1e-12; Rodas5P at 1e-12 agrees to {digits:.1f} digits")
    prob["ref"] = ref
    return ref


def vmap_line(repeat: int) -> str:
    """One stiff model, 256 parameter sets: vmap against a Python loop of the same jit solve."""
    field, x0 = cascade()
    prob = dict(field=field, x0=x0, t1=1.0e4, atol_scale=1e-4)
    solve = make_diffrax(prob)
    rng = np.random.default_rng(0)
    log_ks = jnp.asarray(
        np.asarray(field.log_k) + 0.1 * rng.standard_normal((256, field.log_k.shape[0]))
    )
    x0j = jnp.asarray(x0)
    tol = (jnp.asarray(1e-6), jnp.asarray(1e-10))

    def one(log_k):
        return solve(Rodas5P(), eqx.tree_at(lambda f: f.log_k, field, log_k), x0j, *tol)[0]

    batched = jax.jit(jax.vmap(one))
    jax.block_until_ready(batched(log_ks))
    single = jax.jit(one)
    jax.block_until_ready(single(log_ks[0]))
    t_vmap, ys = _best_time(lambda: jax.block_until_ready(batched(log_ks)), repeat)
    t_loop, ys_loop = _best_time(
        lambda: np.stack([np.asarray(jax.block_until_ready(single(k))) for k in log_ks]), 1
    )
    assert np.allclose(np.asarray(ys), ys_loop, rtol=1e-8, atol=1e-14)
    return (
        f"vmap over 256 parameter sets of CASCADE-25 (Rodas5P, rtol 1e-6): "
        f"{t_vmap / 256 * 1e3:.2f} ms per solve batched vs {t_loop / 256 * 1e3:.2f} ms in a "
        f"loop ({t_loop / t_vmap:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="rtol 1e-6 only")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rtols = [1e-6] if args.quick else [1e-4, 1e-6, 1e-8, 1e-10]
    probs = problems()
    cache: dict = {}
    rows = []
    print("| problem | rtol | solver | time [ms] | digits | steps/nfev | compile [s] |")
    print("|---|---|---|---|---|---|---|")
    for name, prob in probs.items():
        ref = reference(prob)
        for rtol in rtols:
            atol = rtol * prob["atol_scale"]
            runs = {
                "cellode Rodas5P": lambda p=prob, r=rtol: run_diffrax(
                    Rodas5P(), p, r, args.repeat, cache
                ),
                "cellode Rosenbrock23": lambda p=prob, r=rtol: run_diffrax(
                    Rosenbrock23(), p, r, args.repeat, cache
                ),
                "cellode BDF": lambda p=prob, r=rtol: run_diffrax(BDF(), p, r, args.repeat, cache),
                "diffrax Kvaerno5": lambda p=prob, r=rtol: run_diffrax(
                    diffrax.Kvaerno5(), p, r, args.repeat, cache
                ),
                "scipy BDF": lambda p=prob, r=rtol: run_scipy("BDF", p, r, args.repeat),
                "scipy Radau": lambda p=prob, r=rtol: run_scipy("Radau", p, r, args.repeat),
                "scipy LSODA": lambda p=prob, r=rtol: run_scipy("LSODA", p, r, args.repeat),
            }
            if CVODE is not None:
                runs["SUNDIALS CVODE"] = lambda p=prob, r=rtol: run_cvode(p, r, args.repeat)
            if rtol < 1e-8:
                runs.pop("cellode Rosenbrock23")  # second order: 1e5+ steps, not its job
            for label, run in runs.items():
                seconds, y, work, compile_s = run()
                digits = mixed_error_digits(y, ref, rtol, atol)
                rows.append((name, rtol, label, seconds))
                comp = "" if compile_s is None else f"{compile_s:.1f}"
                print(
                    f"| {name} | {rtol:.0e} | {label} | {seconds * 1e3:.2f} | {digits:.1f} | "
                    f"{work} | {comp} |",
                    flush=True,
                )
    print()
    print("Ratios at rtol 1e-6 (time of the other solver / time of cellode Rodas5P):")
    for name in probs:
        times = {label: s for n, r, label, s in rows if n == name and r == 1e-6}
        base = times["cellode Rodas5P"]
        ratios = ", ".join(
            f"{label} {t / base:.1f}x" for label, t in times.items() if label != "cellode Rodas5P"
        )
        print(f"- {name}: {ratios}")
    print()
    print(vmap_line(args.repeat))


if __name__ == "__main__":
    main()
