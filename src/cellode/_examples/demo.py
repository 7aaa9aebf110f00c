"""The main job on built-in data: what `cellode demo` (and `make demo`) runs.

1. Simulate the built-in ligand–receptor–kinase cascade (ODE, and an SDE ensemble).
2. Generate noisy measurements of LR, Kp and G from it at three ligand doses (ground truth known),
   and write them as cellode's own tidy CSV and conditions file.
3. Fit two models to them with the same call `cellode fit` makes: a hybrid (the network's
   stoichiometry known, the kinase activation and deactivation rates learned by a network) and a
   plain neural ODE.
4. Compare both on a held-out dose protocol (two pulses): prediction error against the truth,
   and drift of the conserved receptor and kinase totals.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from .._data.experiment import Experiment
from .._data.measurements_csv import write_measurements
from .._fitting.workflow import ModelSpec, fit_model_file
from .._inputs import PiecewiseConstant
from .._io.csv import write_trajectory_csv
from .._models.sde import SDE, MultiplicativeNoise
from .._networks.conservation import conservation_drift
from .._networks.model_file import load_model
from .._plotting.trajectory import plot_ensemble, plot_trajectory
from .._simulation.simulate import simulate
from .builtin import builtin_model_path

OBSERVED = ("LR", "Kp", "G")
TRAINING_DOSES = (0.5, 1.0, 2.0)
NOISE = 0.02


@dataclass(frozen=True)
class DemoReport:
    """What the demo wrote and the summary it printed."""

    files: tuple[Path, ...]
    summary: str


def _pulse(dose: float) -> PiecewiseConstant:
    return PiecewiseConstant([5.0, 25.0], [0.0, dose, 0.0])


HELD_OUT = PiecewiseConstant([5.0, 15.0, 40.0, 50.0], [0.0, 1.5, 0.0, 1.5, 0.0])


def make_data(out: Path, seed: int) -> tuple[Path, Path]:
    """Noisy measurements of the true cascade at the training doses: CSV and conditions TOML."""
    model = load_model(builtin_model_path("cascade"))
    truth = model.network.vector_field()
    index = [model.network.species.index(s) for s in OBSERVED]
    rng = np.random.default_rng(seed)
    ts = np.linspace(2.0, 60.0, 30)
    experiments, lines = [], []
    for dose in TRAINING_DOSES:
        xs = simulate(truth, model.x0, ts, t0=0.0, inputs=_pulse(dose), rtol=1e-10, atol=1e-12).xs
        y = np.asarray(xs)[:, index] + NOISE * rng.standard_normal((ts.size, len(index)))
        name = f"dose {dose:g}"
        experiments.append(Experiment(ts, y, name=name))
        lines += [
            f'[conditions."{name}"]',
            f"inputs.L = {{ times = [5.0, 25.0], values = [0.0, {dose}, 0.0] }}",
            "",
        ]
    data = write_measurements(out / "measurements.csv", experiments, OBSERVED)
    conditions = out / "conditions.toml"
    conditions.write_text("\n".join(lines))
    return data, conditions


def run_demo(
    out_dir: str | Path, *, n_paths: int = 100, steps: int = 600, seed: int = 0
) -> DemoReport:
    """Run the whole demo into `out_dir`; returns the files written and a text summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(builtin_model_path("cascade"))
    network = model.network
    species = list(network.species)
    truth = network.vector_field()
    x0 = jnp.asarray(model.x0)
    files: list[Path] = []

    # 1. Simulation: ODE under the file's dose protocol, and an SDE ensemble.
    ts = jnp.linspace(0.0, model.t_end or 80.0, model.n_points or 401)
    ode = simulate(truth, x0, ts, inputs=model.inputs, rtol=1e-8, atol=1e-10)
    files.append(
        write_trajectory_csv(
            out / "ode_trajectory.csv",
            ode,
            species,
            inputs=model.inputs,
            input_names=network.inputs,
        )
    )
    plot_trajectory(
        ode, species, inputs=model.inputs, input_names=network.inputs, title=f"{network.name} (ODE)"
    ).savefig(out / "ode_trajectory.png", dpi=110)
    sde = SDE(truth, MultiplicativeNoise(0.05 * jnp.ones(len(species))))
    keys = jax.random.split(jax.random.key(seed), n_paths)
    paths = np.asarray(
        jax.vmap(lambda k: simulate(sde, x0, ts, inputs=model.inputs, key=k, dt0=0.02).xs)(keys)
    )
    plot_ensemble(ts, paths, species, show=["Kp", "G"], reference=ode).savefig(
        out / "sde_ensemble.png", dpi=110
    )
    files += [out / "ode_trajectory.png", out / "sde_ensemble.png"]

    # 2. Data, written in cellode's own formats.
    data, conditions = make_data(out / "data", seed)
    files += [data, conditions]

    # 3. Fits: hybrid (known S, learned activation/deactivation) and a plain neural ODE.
    model_path = builtin_model_path("cascade")
    fits = {}
    for kind, learned in (("hybrid", ("activate", "deactivate")), ("neural", ())):
        spec = ModelSpec(kind=kind, learned=learned, observables=OBSERVED, seed=seed, sigma=NOISE)
        report = fit_model_file(
            model_path,
            data,
            out / kind,
            spec=spec,
            conditions=conditions,
            steps=steps,
            learning_rate=1e-2,
            progress=False,
        )
        fits[kind] = report.result
        files += report.files

    # 4. Held-out protocol: error against the truth and conservation drift.
    t_test = jnp.linspace(0.0, 80.0, 161)
    true_test = simulate(truth, x0, t_test, inputs=HELD_OUT, rtol=1e-10, atol=1e-12)
    laws = network.conservation_laws()
    index = np.array([species.index(s) for s in OBSERVED])
    rows = []
    predictions = {}
    for kind, result in fits.items():
        pred = simulate(
            result.estimate.model,
            x0,
            t_test,
            inputs=HELD_OUT,
            solver="tsit5",
            rtol=1e-8,
            atol=1e-10,
        )
        predictions[kind] = pred
        rmse = float(
            np.sqrt(
                np.mean((np.asarray(pred.xs)[:, index] - np.asarray(true_test.xs)[:, index]) ** 2)
            )
        )
        drift = float(np.max(conservation_drift(laws, pred.xs)))
        rows.append((kind, result.loss, rmse, drift))
    fig = _plot_held_out(t_test, true_test, predictions, species)
    fig.savefig(out / "held_out.png", dpi=110)
    files.append(out / "held_out.png")

    lines = [
        f"cellode demo: {network.name}",
        f"ODE: solver {ode.stats.solver}; conservation laws "
        + "; ".join(laws.describe(x0).splitlines()),
        f"data: {len(TRAINING_DOSES)} training doses x 30 times x {len(OBSERVED)} observables ({', '.join(OBSERVED)}), noise sd {NOISE}",
        "held-out protocol: two pulses of L = 1.5 on [5, 15) and [40, 50)",
        "model    training nllh   held-out RMSE   conservation drift",
    ]
    lines += [
        f"{k:<8} {loss:>13.4g}   {rmse:>13.4g}   {drift:>18.2e}" for k, loss, rmse, drift in rows
    ]
    summary = "\n".join(lines)
    (out / "summary.txt").write_text(summary + "\n")
    (out / "summary.html").write_text(_html(summary))
    files += [out / "summary.txt", out / "summary.html"]
    return DemoReport(tuple(files), summary)


def _plot_held_out(ts, truth, predictions, species) -> Figure:
    fig = Figure(figsize=(11, 3.6))
    axes = fig.subplots(1, len(OBSERVED))
    for ax, name in zip(axes, OBSERVED, strict=True):
        i = species.index(name)
        ax.plot(ts, np.asarray(truth.xs)[:, i], "k-", lw=2, label="truth")
        for kind, pred in predictions.items():
            ax.plot(ts, np.asarray(pred.xs)[:, i], "--", label=kind)
        ax.set_title(f"{name} (held-out protocol)")
        ax.set_xlabel("time")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def _html(summary: str) -> str:
    images = "".join(
        f'<h2>{title}</h2><img src="{src}" style="max-width:100%">'
        for title, src in [
            ("Held-out protocol", "held_out.png"),
            ("Hybrid fit", "hybrid/fit_vs_data.png"),
            ("Neural ODE fit", "neural/fit_vs_data.png"),
            ("Simulation", "ode_trajectory.png"),
            ("SDE ensemble", "sde_ensemble.png"),
        ]
    )
    return f"<html><body><h1>cellode demo</h1><pre>{html.escape(summary)}</pre>{images}</body></html>\n"
