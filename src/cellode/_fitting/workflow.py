"""The main job as one call: fit a model file to a measurement table and write a report.

`fit_model_file` is what `cellode fit MODEL DATA` runs: read the model (TOML) and the tidy data
(CSV), build a mechanistic, hybrid (known stoichiometry, learned rates) or neural model, fit it
(multistart Levenberg–Marquardt for mechanistic models, Adam for learned ones), and write the
fitted parameters, figures and a reloadable result into a folder.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from .._data.experiment import Experiment
from .._data.measurements_csv import read_measurements
from .._data.noise import Gaussian
from .._data.observables import Observables
from .._errors import InputError
from .._models.hybrid import HybridRates
from .._models.neural import NeuralField
from .._networks.model_file import NetworkModel, load_model
from .conditions import read_conditions
from .multistart import multistart
from .optimise import FitResult, fit, load_result
from .problem import Estimate, Problem


@dataclass(frozen=True)
class ModelSpec:
    """How to build the estimate from a model file: kind, learned reactions, network sizes."""

    kind: str = "mechanistic"  # "mechanistic", "hybrid" or "neural"
    learned: tuple[str, ...] = ()
    observables: tuple[str, ...] = ()
    width: int = 32
    depth: int = 2
    sigma: float = 0.05
    estimate_sigma: bool = False
    seed: int = 0


def build_estimate(model: NetworkModel, spec: ModelSpec) -> Estimate:
    """The initial estimate for `spec` (deterministic given `spec.seed`)."""
    network = model.network
    key = jax.random.key(spec.seed)
    if spec.kind == "mechanistic":
        field_ = network.vector_field(log_scale=True)
    elif spec.kind == "hybrid":
        field_ = HybridRates.from_network(
            network, list(spec.learned), key=key, width=spec.width, depth=spec.depth
        )
    elif spec.kind == "neural":
        field_ = NeuralField(
            network.n_species,
            key=key,
            width=spec.width,
            depth=spec.depth,
            n_inputs=len(network.inputs),
        )
    else:
        raise InputError(f"model kind must be mechanistic, hybrid or neural; got {spec.kind!r}.")
    observed = list(spec.observables) or list(network.species)
    unknown = [o for o in observed if o not in network.species]
    if unknown:
        raise InputError(f"observables {unknown} are not species of {network.name!r}.")
    obs = Observables.from_species(network.species, observed)
    return Estimate(
        field_, obs, Gaussian(spec.sigma, estimate=spec.estimate_sigma, use_data_sigma=True)
    )


@dataclass
class FitReport:
    """What `fit_model_file` produced."""

    result: FitResult
    files: list[Path] = field(default_factory=list)
    summary: str = ""


def experiments_for(
    model: NetworkModel, data: str | Path, observables: Sequence[str], conditions: str | Path | None
) -> list[Experiment]:
    """Read the measurements, giving each experiment its condition (or the model's defaults)."""
    conds = read_conditions(conditions, model) if conditions is not None else {}
    inputs = {k: c.inputs for k, c in conds.items()}
    x0 = {k: c.x0 for k, c in conds.items()}
    experiments = read_measurements(data, observables, inputs=inputs, x0=x0)
    if model.inputs is not None:
        experiments = [
            e
            if e.inputs is not None
            else eqx.tree_at(lambda x: x.inputs, e, model.inputs, is_leaf=lambda v: v is None)
            for e in experiments
        ]
    return experiments


def fit_model_file(
    model_path: str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    spec: ModelSpec = ModelSpec(),
    conditions: str | Path | None = None,
    starts: int = 8,
    steps: int = 500,
    learning_rate: float = 1e-2,
    executor: str = "serial",
    workers: int | None = None,
    progress: bool = True,
) -> FitReport:
    """Fit a model file to a tidy measurement CSV; write results and figures to `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(model_path)
    estimate = build_estimate(model, spec)
    names = list(estimate.observables.names)
    experiments = experiments_for(model, data_path, names, conditions)
    # Mechanistic starts range over e^{±1} of every rate constant: some of them are stiff even
    # when the file's values are not, so they get an L-stable solver; learned models use `auto`.
    # A step cap makes a pathological start fail fast (NaN loss) instead of grinding.
    solver = "rodas5p" if spec.kind == "mechanistic" else "auto"
    problem = Problem.create(estimate, experiments, x0=model.x0, solver=solver, max_steps=20_000)
    files: list[Path] = []
    if spec.kind == "mechanistic":
        ms = multistart(
            problem, estimate, n_starts=starts, key=jax.random.key(spec.seed),
            lower=np.asarray(estimate.model.parameters) - 1.0,
            upper=np.asarray(estimate.model.parameters) + 1.0,
            executor=executor, workers=workers,
        )  # fmt: skip
        result = ms.best
        ms.waterfall().savefig(out / "waterfall.png", dpi=110)
        files.append(out / "waterfall.png")
    else:
        result = fit(problem, estimate, steps=steps, learning_rate=learning_rate, progress=progress,
                     checkpoint_dir=out / "checkpoints", resume=out / "checkpoints")  # fmt: skip
    result.info["spec"] = spec.__dict__ | {"learned": list(spec.learned), "observables": names}
    result.info["model_file"] = Path(model_path).read_text(encoding="utf-8")
    result.save(out / "result")
    files += [out / "result"]
    files += write_parameter_table(out / "parameters.csv", model, spec, result.estimate)
    fig = plot_fit(problem, result.estimate, title=f"{model.network.name}: {spec.kind} fit")
    fig.savefig(out / "fit_vs_data.png", dpi=110)
    fig = plot_loss(result.history)
    fig.savefig(out / "loss.png", dpi=110)
    files += [out / "fit_vs_data.png", out / "loss.png"]
    summary = (
        f"{spec.kind} fit of {model.network.name}: nllh {result.loss:.6g} after {result.steps} "
        f"steps ({result.stopped}); solver {result.solver}; {len(experiments)} experiments, "
        f"{problem.n_observations} observations"
    )
    return FitReport(result, files, summary)


def write_parameter_table(
    path: Path, model: NetworkModel, spec: ModelSpec, estimate: Estimate
) -> list[Path]:
    """Fitted rate constants (mechanistic and hybrid known part) next to the file's values."""
    field_ = estimate.model
    known = field_.known if isinstance(field_, HybridRates) else field_
    if known is None or not hasattr(known, "network") or not hasattr(known, "parameters"):
        return []
    values = (
        np.exp(np.asarray(known.parameters)) if known.log_scale else np.asarray(known.parameters)
    )
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["parameter", "fitted", "model_file"])
        for name, value in zip(known.network.parameter_names, values, strict=True):
            writer.writerow(
                [name, f"{value:.8g}", f"{model.network.parameters.get(name, float('nan')):.8g}"]
            )
    return [path]


def plot_fit(problem: Problem, estimate: Estimate, title: str = "") -> Figure:
    """Data (points) and fitted observables (lines), one panel per experiment."""
    problem = problem.for_values()
    groups = problem.groups
    n = sum(len(g.names) for g in groups)
    fig = Figure(figsize=(4.2 * min(n, 3), 3.3 * ((n + 2) // 3)))
    axes = np.atleast_1d(fig.subplots((n + 2) // 3, min(n, 3), squeeze=False)).ravel()
    i = 0
    names = estimate.observables.names
    for group in groups:
        ts_dense = jax.vmap(lambda ts: jnp.linspace(problem.t0, ts[-1], 200))(group.ts)
        dense = eqx.tree_at(lambda g: g.ts, group, ts_dense)
        yhat = np.asarray(problem.predictions(estimate, dense))
        for e, name in enumerate(group.names):
            ax = axes[i]
            for j, obs in enumerate(names):
                m = np.asarray(group.mask[e, :, j])
                (line,) = ax.plot(ts_dense[e], yhat[e, :, j], label=obs)
                ax.plot(
                    np.asarray(group.ts[e])[m],
                    np.asarray(group.y[e, :, j])[m],
                    "o",
                    ms=3,
                    color=line.get_color(),
                )
            ax.set_title(name, fontsize="small")
            ax.set_xlabel("time")
            i += 1
    axes[0].legend(fontsize="small")
    for ax in axes[i:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_loss(history: Sequence[float]) -> Figure:
    """Loss (nllh) against optimisation step."""
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.plot(np.arange(1, len(history) + 1), history)
    ax.set_xlabel("step")
    ax.set_ylabel("nllh")
    finite = np.asarray(history)[np.isfinite(history)]
    if finite.size and finite.min() > 0:
        ax.set_yscale("log")
    fig.tight_layout()
    return fig


def load_fit(folder: str | Path) -> FitResult:
    """Reload a result written by `fit_model_file` (or `cellode fit`): the model is rebuilt from
    the model file and settings stored with it, then its fitted arrays are read."""
    import tempfile

    folder = Path(folder)
    meta_path = folder / "result.json"
    if not meta_path.is_file():
        raise InputError(
            f"{folder} has no result.json: is it the `result` folder of `cellode fit`?"
        )
    info = json.loads(meta_path.read_text())["info"]
    if "model_file" not in info or "spec" not in info:
        raise InputError(
            f"{folder} was not written by `cellode fit`; use cellode.load_result(folder, like=...)."
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.toml"
        path.write_text(info["model_file"], encoding="utf-8")
        model = load_model(path)
    raw = info["spec"]
    spec = ModelSpec(
        **{**raw, "learned": tuple(raw["learned"]), "observables": tuple(raw["observables"])}
    )
    return load_result(folder, like=build_estimate(model, spec))
