"""Training throughput and multistart wall time, in one run.

    pip install -e '.[bench]'      # torch (CPU) and torchdiffeq
    python benchmarks/training.py [--iters 200] [--skip-torch]

(1) The spiral neural ODE of torchdiffeq's examples/ode_demo.py: dy/dt = (y^3) A,
    A = [[-0.1, 2], [-2, -0.1]], y0 = [2, 0], 1000 time points on [0, 25] as data. Each
    iteration trains on ode_demo's random windows: batch_size 20 windows of batch_time 10
    points, each started from the true state at its first point. Model MLP 2-50-2 (tanh) on y^3,
    same initial weights everywhere; Adam lr 1e-3 (no clipping); Dopri5 (tsit5 in cellode)
    rtol 1e-6 atol 1e-8; float64 everywhere; loss: squared error on the window (cellode: its
    Gaussian nllh with sigma 1, a rescaled sum of squares; Adam is nearly scale-invariant).
    Iterations per second after compilation; compile (+ first step) reported apart. The loss
    reached after N iterations is the mean |y_model - y_true| over the whole trajectory
    (ode_demo's test metric), evaluated for every method by the same JAX solve.
(2) Multistart wall time on a small mechanistic fit (A -> B ; k1, B -> ; k2, Levenberg–Marquardt,
    4 starts): executor "serial", and "processes" with 1 and 2 workers (spawned workers compile
    on their own, which is included).
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
import optax

import cellode as cd

jax.config.update("jax_enable_x64", True)

TRUE_A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
Y0 = np.array([2.0, 0.0])
DATA_SIZE, BATCH_TIME, BATCH_SIZE = 1000, 10, 20
T = np.linspace(0.0, 25.0, DATA_SIZE)
RTOL, ATOL, LR = 1e-6, 1e-8, 1e-3


def spiral_fn(t, x, u, params):
    """Module-level vector field: the MLP applied to x^3."""
    return params(x**3)


def spiral_data() -> np.ndarray:
    from scipy.integrate import solve_ivp

    sol = solve_ivp(lambda t, y: (y**3) @ TRUE_A, (0.0, 25.0), Y0, t_eval=T, rtol=1e-10, atol=1e-12)
    return sol.y.T


def spiral_mlp() -> eqx.nn.MLP:
    mlp = eqx.nn.MLP(2, 2, 50, 1, activation=jnp.tanh, key=jax.random.key(0))
    rng = np.random.default_rng(0)

    def init(leaf):  # ode_demo's init: weights N(0, 0.1), biases 0
        if not eqx.is_inexact_array(leaf):
            return leaf
        if leaf.ndim == 2:
            return jnp.asarray(rng.normal(0.0, 0.1, leaf.shape))
        return jnp.zeros(leaf.shape)

    return jax.tree.map(init, mlp)


def solve(mlp, y0, ts):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, m: m(y**3)),
        diffrax.Dopri5(),
        ts[0],
        ts[-1],
        None,
        y0,
        mlp,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
        max_steps=100_000,
    )
    return sol.ys


@eqx.filter_jit
def test_metric(mlp, data):
    return jnp.mean(jnp.abs(solve(mlp, jnp.asarray(Y0), jnp.asarray(T)) - data))


def time_loop(step, iters):
    """step() runs one iteration and returns its loss (blocking). Returns compile+first, it/s."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return first, iters / (time.perf_counter() - start)


def run_cellode(data, iters):
    n_windows = DATA_SIZE - BATCH_TIME
    ts = T[:BATCH_TIME]
    experiments = [
        cd.Experiment(ts, data[s : s + BATCH_TIME], x0=data[s], name=f"w{s}")
        for s in range(n_windows)
    ]
    estimate = cd.Estimate(
        cd.FunctionField(spiral_fn, spiral_mlp()),
        cd.Observables.from_species(["y1", "y2"]),
        cd.Gaussian(1.0),
    )
    problem = cd.Problem.create(estimate, experiments, solver="tsit5", rtol=RTOL, atol=ATOL)
    opt = optax.adam(LR)
    # cellode.fit runs a whole fit per call; its compiled step is module-level, so the first
    # (1-step) call compiles and the timed call reuses it.
    start = time.perf_counter()
    cd.fit(problem, estimate, steps=1, optimizer=opt, batch_size=BATCH_SIZE, progress=False)
    first = time.perf_counter() - start
    # Timed from the end of step 1 to the end of the last step (via the callback), so that the
    # full-data loss fit computes after a minibatch fit (990 windows, eager) is not counted.
    stamps = []
    result = cd.fit(
        problem,
        estimate,
        steps=iters + 1,
        optimizer=opt,
        batch_size=BATCH_SIZE,
        progress=False,
        callback=lambda step, loss: stamps.append(time.perf_counter()),
    )
    rate = iters / (stamps[-1] - stamps[0])
    return first, rate, result.estimate.model.params


def run_diffrax(data, iters):
    data_j = jnp.asarray(data)
    ts = jnp.asarray(T[:BATCH_TIME])
    opt = optax.adam(LR)
    mlp = spiral_mlp()
    state = [mlp, opt.init(eqx.filter(mlp, eqx.is_inexact_array)), jax.random.key(1)]

    @eqx.filter_jit
    def step(mlp, opt_state, key):
        key, sub = jax.random.split(key)
        s = jax.random.choice(sub, DATA_SIZE - BATCH_TIME, (BATCH_SIZE,), replace=False)
        idx = s[:, None] + jnp.arange(BATCH_TIME)[None, :]
        batch_y = data_j[idx]  # (B, T, 2)

        def loss_fn(m):
            pred = jax.vmap(lambda y0: solve(m, y0, ts))(batch_y[:, 0])
            return jnp.mean((pred - batch_y) ** 2)

        loss, grads = eqx.filter_value_and_grad(loss_fn)(mlp)
        updates, opt_state = opt.update(grads, opt_state, eqx.filter(mlp, eqx.is_inexact_array))
        return eqx.apply_updates(mlp, updates), opt_state, key, loss

    def one():
        mlp, opt_state, key, loss = step(*state)
        state[:] = [mlp, opt_state, key]
        return float(loss)

    first, rate = time_loop(one, iters)
    return first, rate, state[0]


def run_torch(data, iters, adjoint):
    import torch
    from torchdiffeq import odeint, odeint_adjoint

    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    integrate = odeint_adjoint if adjoint else odeint

    class ODEFunc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(2, 50), torch.nn.Tanh(), torch.nn.Linear(50, 2)
            )

        def forward(self, t, y):
            return self.net(y**3)

    func = ODEFunc()
    mlp = spiral_mlp()
    with torch.no_grad():
        func.net[0].weight.copy_(torch.tensor(np.asarray(mlp.layers[0].weight)))
        func.net[0].bias.copy_(torch.tensor(np.asarray(mlp.layers[0].bias)))
        func.net[2].weight.copy_(torch.tensor(np.asarray(mlp.layers[1].weight)))
        func.net[2].bias.copy_(torch.tensor(np.asarray(mlp.layers[1].bias)))
    true_y = torch.tensor(data)
    t = torch.tensor(T)
    optimizer = torch.optim.Adam(func.parameters(), lr=LR)
    rng = np.random.default_rng(1)

    def one():  # ode_demo's get_batch and training step
        s = torch.from_numpy(rng.choice(DATA_SIZE - BATCH_TIME, BATCH_SIZE, replace=False))
        batch_y0 = true_y[s]
        batch_t = t[:BATCH_TIME]
        batch_y = torch.stack([true_y[s + i] for i in range(BATCH_TIME)], dim=0)
        optimizer.zero_grad()
        pred = integrate(func, batch_y0, batch_t, rtol=RTOL, atol=ATOL, method="dopri5")
        loss = torch.mean((pred - batch_y) ** 2)
        loss.backward()
        optimizer.step()
        return loss.item()

    first, rate = time_loop(one, iters)
    trained = eqx.tree_at(
        lambda m: (m.layers[0].weight, m.layers[0].bias, m.layers[1].weight, m.layers[1].bias),
        mlp,
        tuple(jnp.asarray(p.detach().numpy().copy()) for p in func.net.parameters()),
    )
    return first, rate, trained


def part_training(iters, skip_torch):
    print(
        f"\n## (1) spiral neural ODE training: {iters} iterations, random windows "
        f"(batch_size {BATCH_SIZE}, batch_time {BATCH_TIME}), Dopri5/Tsit5 rtol {RTOL:g} "
        f"atol {ATOL:g}"
    )
    data = spiral_data()
    data_j = jnp.asarray(data)
    initial = float(test_metric(spiral_mlp(), data_j))
    runs = {
        "cellode fit (tsit5)": lambda: run_cellode(data, iters),
        "diffrax + optax (Dopri5, jit step)": lambda: run_diffrax(data, iters),
    }
    if skip_torch:
        print("(torch skipped: --skip-torch)")
    else:
        try:
            import torch  # noqa: F401
            import torchdiffeq  # noqa: F401

            runs["torchdiffeq odeint (backprop)"] = lambda: run_torch(data, iters, False)
            runs["torchdiffeq odeint_adjoint"] = lambda: run_torch(data, iters, True)
        except ImportError:
            print("(torch/torchdiffeq not installed: torch rows skipped)")
    rows = []
    for name, run in runs.items():
        first, rate, mlp = run()
        rows.append((name, rate, first, float(test_metric(mlp, data_j))))
        print(f"  done: {name}", flush=True)
    base = rows[0][1]
    print(f"\ninitial test metric (mean |y - y_true| over [0, 25]): {initial:.4f}\n")
    print(
        "| method | iterations / s | ratio to cellode | compile + first step | "
        f"mean abs error after {iters} it |"
    )
    print("|---|---|---|---|---|")
    for name, rate, first, metric in rows:
        print(f"| {name} | {rate:.1f} | {rate / base:.2f} | {first:.1f} s | {metric:.4f} |")


def part_multistart():
    print("\n## (2) multistart, A -> B ; k1 and B -> ; k2, Levenberg–Marquardt, 4 starts")
    net = cd.ReactionNetwork.from_text("A -> B ; k1\nB -> ; k2")
    true = cd.MassAction(net, {"k1": 0.7, "k2": 0.2})
    ts = np.linspace(0.5, 20.0, 40)
    x0 = np.array([1.0, 0.0])
    xs = np.asarray(cd.simulate(true, jnp.asarray(x0), jnp.asarray(ts), t0=0.0).xs)
    y = xs + 0.01 * np.random.default_rng(0).standard_normal(xs.shape)
    estimate = cd.Estimate(
        cd.MassAction(net, {"k1": 1.0, "k2": 1.0}),
        cd.Observables.from_species(list(net.species)),
        cd.Gaussian(0.01),
    )
    problem = cd.Problem.create(estimate, [cd.Experiment(ts, y)], x0=x0, solver="tsit5")
    rows = []
    for executor, workers in (("serial", 1), ("processes", 1), ("processes", 2)):
        result = cd.multistart(
            problem,
            estimate,
            n_starts=4,
            lower=0.01,
            upper=3.0,
            key=jax.random.key(0),
            executor=executor,
            workers=workers,
        )
        rows.append((executor, workers, result.seconds, result.best.loss))
        print(f"  done: {executor} x{workers}", flush=True)
    base = rows[0][2]
    print("\n| executor | workers | wall time | ratio to serial | best loss |")
    print("|---|---|---|---|---|")
    for executor, workers, seconds, loss in rows:
        print(f"| {executor} | {workers} | {seconds:.1f} s | {seconds / base:.2f} | {loss:.4g} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=500)
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--part", choices=["1", "2"], default=None)
    args = parser.parse_args()
    print(
        f"jax {jax.__version__}, diffrax {diffrax.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )
    if args.part in (None, "1"):
        part_training(args.iters, args.skip_torch)
    if args.part in (None, "2"):
        part_multistart()


if __name__ == "__main__":
    main()
