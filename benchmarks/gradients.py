"""Time per gradient: cellode's sensitivity methods side by side with diffrax's adjoints and
torchdiffeq, in one run.

    pip install -e '.[bench]'      # torch (CPU) and torchdiffeq
    python benchmarks/gradients.py [--skip-torch] [--part a|b|c]

(a) The spiral neural ODE of torchdiffeq's examples/ode_demo.py: dy/dt = (y^3) A,
    A = [[-0.1, 2], [-2, -0.1]], y0 = [2, 0]; model MLP 2-50-2 (tanh) applied to y^3; 100
    observations on [0, 25]; loss mean |y_model - y_true|; Dopri5, rtol 1e-6, atol 1e-8; float64
    everywhere (torch too).
(b) Forward sensitivities versus the checkpointed adjoint as the parameter count grows: the
    2-D Brusselator on an N x N periodic grid (2 N^2 states) with per-cell parameters
    (a, b, diffusion of u, diffusion of v: 4 N^2), N = 1 ... 10 (Ma et al. 2021's scaling).
(c) A stiff mechanistic gradient: Robertson, d/d log k of a loss at 3 times, Kvaerno5.
(d) The spiral's gradient error against a tight-tolerance reference as rtol shrinks.
Times are medians after compilation; compile time is reported apart.
"""

from __future__ import annotations

import argparse
import platform
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import cellode as cd
from _timing import first_call_seconds, median_seconds

jax.config.update("jax_enable_x64", True)

TRUE_A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
Y0 = np.array([2.0, 0.0])
TS = np.linspace(0.0, 25.0, 100)
RTOL, ATOL = 1e-6, 1e-8
ROUNDS = 30


class SpiralField(cd.AbstractVectorField):
    mlp: eqx.nn.MLP

    def __call__(self, t, x, u):
        return self.mlp(x**3)


def spiral_data() -> np.ndarray:
    from scipy.integrate import solve_ivp

    sol = solve_ivp(
        lambda t, y: (y**3) @ TRUE_A, (0.0, 25.0), Y0, t_eval=TS, rtol=1e-10, atol=1e-12
    )
    return sol.y.T


def spiral_mlp() -> eqx.nn.MLP:
    mlp = eqx.nn.MLP(2, 2, 50, 1, activation=jnp.tanh, key=jax.random.key(0))
    rng = np.random.default_rng(0)

    def init(leaf):
        if not eqx.is_inexact_array(leaf):
            return leaf
        if leaf.ndim == 2:
            return jnp.asarray(rng.normal(0.0, 0.1, leaf.shape))
        return jnp.zeros(leaf.shape)

    return jax.tree.map(init, mlp)


def part_a(skip_torch: bool) -> None:
    print("\n## (a) spiral neural ODE, 100 observations on [0, 25], Dopri5 rtol 1e-6 atol 1e-8")
    data = jnp.asarray(spiral_data())
    field = SpiralField(spiral_mlp())
    y0, ts = jnp.asarray(Y0), jnp.asarray(TS)

    def cellode_loss(field, sensitivity):
        traj = cd.simulate(
            field, y0, ts, solver="dopri5", rtol=RTOL, atol=ATOL, sensitivity=sensitivity
        )
        return jnp.mean(jnp.abs(traj.xs - data))

    def diffrax_loss(field, adjoint):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, f: f(t, y, None)),
            diffrax.Dopri5(),
            ts[0],
            ts[-1],
            None,
            y0,
            field,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
            adjoint=adjoint,
            max_steps=100_000,
        )
        return jnp.mean(jnp.abs(sol.ys - data))

    rows = []
    methods = {
        "cellode DiscreteAdjoint": (cellode_loss, cd.DiscreteAdjoint()),
        "cellode CheckpointedAdjoint(K=1)": (cellode_loss, cd.CheckpointedAdjoint(checkpoints=1)),
        "cellode CheckpointedAdjoint(K=4, default)": (cellode_loss, cd.CheckpointedAdjoint()),
        "cellode CheckpointedAdjoint(K=16)": (
            cellode_loss,
            cd.CheckpointedAdjoint(checkpoints=16),
        ),
        "cellode BacksolveAdjoint": (cellode_loss, cd.BacksolveAdjoint()),
        "cellode ForwardSensitivity": (cellode_loss, cd.ForwardSensitivity()),
        "diffrax RecursiveCheckpointAdjoint": (diffrax_loss, diffrax.RecursiveCheckpointAdjoint()),
        "diffrax BacksolveAdjoint": (diffrax_loss, diffrax.BacksolveAdjoint()),
    }
    reference = None
    compiled = {}
    for name, (loss, method) in methods.items():
        grad = eqx.filter_jit(eqx.filter_grad(lambda f, m=method, lo=loss: lo(f, m)))
        compile_s = first_call_seconds(lambda g=grad: g(field))
        flat = np.asarray(
            jax.flatten_util.ravel_pytree(eqx.filter(grad(field), eqx.is_inexact_array))[0]
        )
        if reference is None:
            reference = flat
        err = np.linalg.norm(flat - reference) / np.linalg.norm(reference)
        compiled[name] = (grad, compile_s, err)
    # Interleaved rounds (each method once per round), so that a changing load on a shared
    # machine hits every method alike; the median and the minimum over rounds are reported.
    samples = {name: [] for name in compiled}
    for _ in range(ROUNDS):
        for name, (grad, _, _) in compiled.items():
            start = time.perf_counter()
            jax.block_until_ready(grad(field))
            samples[name].append(time.perf_counter() - start)
    rows = [
        (name, float(np.median(samples[name])), compile_s, err, float(np.min(samples[name])))
        for name, (_, compile_s, err) in compiled.items()
    ]
    if not skip_torch:
        rows += torch_rows(np.asarray(data), reference)
    base = dict((r[0], r[1]) for r in rows)["diffrax RecursiveCheckpointAdjoint"]
    base_min = dict((r[0], r[4]) for r in rows)["diffrax RecursiveCheckpointAdjoint"]
    print(
        "| method | time per gradient (median) | ratio to diffrax RecursiveCheckpointAdjoint | min | ratio of minima | compile + first | rel. diff. to cellode DiscreteAdjoint |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, seconds, compile_s, err, fastest in rows:
        print(
            f"| {name} | {seconds * 1e3:.2f} ms | {seconds / base:.2f} | {fastest * 1e3:.2f} ms "
            f"| {fastest / base_min:.2f} | {compile_s:.1f} s | {err:.1e} |"
        )


def torch_rows(
    data: np.ndarray, reference: np.ndarray
) -> list[tuple[str, float, float, float, float]]:
    import torch
    from torchdiffeq import odeint, odeint_adjoint

    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)

    class ODEFunc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(2, 50), torch.nn.Tanh(), torch.nn.Linear(50, 2)
            )

        def forward(self, t, y):
            return self.net(y**3)

    func = ODEFunc()
    # Same weights as the JAX model.
    mlp = spiral_mlp()
    with torch.no_grad():
        func.net[0].weight.copy_(torch.tensor(np.asarray(mlp.layers[0].weight)))
        func.net[0].bias.copy_(torch.tensor(np.asarray(mlp.layers[0].bias)))
        func.net[2].weight.copy_(torch.tensor(np.asarray(mlp.layers[1].weight)))
        func.net[2].bias.copy_(torch.tensor(np.asarray(mlp.layers[1].bias)))
    y0 = torch.tensor(Y0)
    ts = torch.tensor(TS)
    target = torch.tensor(data)
    rows = []
    for name, solve in (
        ("torchdiffeq odeint (backprop)", odeint),
        ("torchdiffeq odeint_adjoint", odeint_adjoint),
    ):

        def grad(solve=solve):
            func.zero_grad()
            pred = solve(func, y0, ts, rtol=RTOL, atol=ATOL, method="dopri5")
            loss = torch.mean(torch.abs(pred - target))
            loss.backward()
            return (
                torch.cat([p.grad.reshape(-1) for p in func.parameters()]).detach().numpy().copy()
            )

        start = time.perf_counter()
        g = grad()
        first = time.perf_counter() - start
        samples = []
        for _ in range(3):
            start = time.perf_counter()
            grad()
            samples.append(time.perf_counter() - start)
        # torch parameter order: W1, b1, W2, b2; equinox ravel order is the same.
        err = np.linalg.norm(g - reference) / np.linalg.norm(reference)
        rows.append((name, float(np.median(samples)), first, err, float(np.min(samples))))
    return rows


def brusselator(n: int):
    """2-D Brusselator on an n x n periodic grid: u' = b + u^2 v - (a + 1) u + du Lap u,
    v' = a u - u^2 v + dv Lap v, with a, b, du, dv per cell (4 n^2 parameters)."""

    def lap(z):
        return (
            jnp.roll(z, 1, 0) + jnp.roll(z, -1, 0) + jnp.roll(z, 1, 1) + jnp.roll(z, -1, 1) - 4 * z
        )

    def rhs(t, x, u, p):
        uu, vv = x[: n * n].reshape(n, n), x[n * n :].reshape(n, n)
        a, b, du, dv = p
        du_dt = b + uu**2 * vv - (a + 1) * uu + du * lap(uu)
        dv_dt = a * uu - uu**2 * vv + dv * lap(vv)
        return jnp.concatenate([du_dt.reshape(-1), dv_dt.reshape(-1)])

    rng = np.random.default_rng(n)
    params = (
        jnp.asarray(3.4 + 0.1 * rng.standard_normal((n, n))),
        jnp.asarray(1.0 + 0.1 * rng.standard_normal((n, n))),
        jnp.full((n, n), 0.1),
        jnp.full((n, n), 0.1),
    )
    x0 = jnp.asarray(np.concatenate([1 + 0.1 * rng.random(n * n), 3 + 0.1 * rng.random(n * n)]))
    return rhs, params, x0


def part_b() -> None:
    print("\n## (b) Brusselator: forward sensitivities vs checkpointed adjoint as parameters grow")
    print(
        "| N | states | parameters | ForwardSensitivity | CheckpointedAdjoint(K=4) | DiscreteAdjoint | forward / checkpointed |"
    )
    print("|---|---|---|---|---|---|---|")
    ts = jnp.linspace(0.5, 5.0, 10)
    for n in (1, 2, 3, 4, 6, 8, 10):
        rhs, params, x0 = brusselator(n)

        def loss(p, sensitivity, rhs=rhs, x0=x0):
            traj = cd.simulate(
                cd.FunctionField(rhs, p),
                x0,
                ts,
                t0=0.0,
                solver="tsit5",
                rtol=1e-6,
                atol=1e-8,
                sensitivity=sensitivity,
            )
            return jnp.sum(traj.xs**2)

        times = {}
        for name, method in (
            ("forward", cd.ForwardSensitivity()),
            ("checkpointed", cd.CheckpointedAdjoint(checkpoints=4)),
            ("discrete", cd.DiscreteAdjoint()),
        ):
            grad = jax.jit(jax.grad(loss), static_argnums=1)
            first_call_seconds(lambda g=grad, m=method, p=params: g(p, m))
            times[name] = median_seconds(lambda g=grad, m=method, p=params: g(p, m), repeats=5)
        print(
            f"| {n} | {2 * n * n} | {4 * n * n} | {times['forward'] * 1e3:.1f} ms | "
            f"{times['checkpointed'] * 1e3:.1f} ms | {times['discrete'] * 1e3:.1f} ms | "
            f"{times['forward'] / times['checkpointed']:.2f} |"
        )


def part_c() -> None:
    print("\n## (c) Robertson (stiff), gradient in log k of a loss at t = 1, 10, 100; Kvaerno5")

    def robertson(t, x, u, log_k):
        k1, k2, k3 = jnp.exp(log_k)
        y1, y2, y3 = x
        return jnp.stack([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2**2 - k3 * y2 * y3, k2 * y2**2])

    log_k = jnp.log(jnp.array([0.04, 3e7, 1e4]))
    x0 = jnp.array([1.0, 0.0, 0.0])
    ts = jnp.array([1.0, 10.0, 100.0])
    solvers = ["kvaerno5"] + [s for s in ("rodas5p",) if s in cd.SOLVERS]

    def loss(lk, sensitivity, solver):
        traj = cd.simulate(
            cd.FunctionField(robertson, lk),
            x0,
            ts,
            t0=0.0,
            solver=solver,
            rtol=1e-8,
            atol=1e-10,
            sensitivity=sensitivity,
        )
        return jnp.sum(traj.xs[:, 0]) + 1e4 * jnp.sum(traj.xs[:, 1])

    print(
        "| solver | method | time per gradient | ratio to DiscreteAdjoint | rel. diff. to DiscreteAdjoint |"
    )
    print("|---|---|---|---|---|")
    for solver in solvers:
        base = ref = None
        for name, method in (
            ("DiscreteAdjoint", cd.DiscreteAdjoint()),
            ("ForwardSensitivity", cd.ForwardSensitivity()),
            ("CheckpointedAdjoint(K=4)", cd.CheckpointedAdjoint(checkpoints=4)),
        ):
            grad = jax.jit(jax.grad(loss), static_argnums=(1, 2))
            first_call_seconds(lambda g=grad, m=method, s=solver: g(log_k, m, s))
            seconds = median_seconds(lambda g=grad, m=method, s=solver: g(log_k, m, s), repeats=5)
            g = np.asarray(grad(log_k, method, solver))
            if base is None:
                base, ref = seconds, g
            err = np.linalg.norm(g - ref) / np.linalg.norm(ref)
            print(
                f"| {solver} | {name} | {seconds * 1e3:.1f} ms | {seconds / base:.2f} | {err:.1e} |"
            )


def part_d() -> None:
    print("\n## (d) spiral: relative gradient error vs tolerance (reference: rtol 1e-12)")
    data = jnp.asarray(spiral_data())
    field = SpiralField(spiral_mlp())
    y0, ts = jnp.asarray(Y0), jnp.asarray(TS)

    def loss(field, sensitivity, rtol, atol):
        traj = cd.simulate(
            field, y0, ts, solver="dopri5", rtol=rtol, atol=atol, sensitivity=sensitivity
        )
        return jnp.mean(jnp.abs(traj.xs - data))

    tolerances = (1e-4, 1e-6, 1e-8, 1e-10)
    study = cd.gradient_error_vs_tolerance(
        loss,
        field,
        methods={
            "DiscreteAdjoint": cd.DiscreteAdjoint(),
            "CheckpointedAdjoint(K=1)": cd.CheckpointedAdjoint(checkpoints=1),
            "BacksolveAdjoint": cd.BacksolveAdjoint(),
        },
        tolerances=tolerances,
        atol_ratio=1e-2,
    )
    print("| method | " + " | ".join(f"rtol {t:g}" for t in tolerances) + " | slope |")
    print("|---|" + "---|" * (len(tolerances) + 1))
    slopes = study.slopes()
    for name, errors in study.errors.items():
        cells = " | ".join(f"{e:.1e}" for e in errors)
        print(f"| {name} | {cells} | {slopes[name]:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--part", choices=["a", "b", "c", "d"], default=None)
    args = parser.parse_args()
    print(
        f"jax {jax.__version__}, diffrax {diffrax.__version__}, {platform.processor() or platform.machine()}"
    )
    if args.part in (None, "a"):
        part_a(args.skip_torch)
    if args.part in (None, "b"):
        part_b()
    if args.part in (None, "c"):
        part_c()
    if args.part in (None, "d"):
        part_d()


if __name__ == "__main__":
    main()
