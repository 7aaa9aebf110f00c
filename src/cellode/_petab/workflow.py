"""`cellode fit problem.yaml`: multistart fit of a PEtab problem and its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import petab.v1 as petab

from .._sensitivity.checkpointed_adjoint import CheckpointedAdjoint
from .._sensitivity.forward import ForwardSensitivity
from .errors import PetabError
from .fitting import PetabMultistart, fit_petab
from .problem import load_petab
from .results import plot_fit, write_parameter_table


@dataclass
class PetabFitReport:
    """What the command wrote and a text summary."""

    result: PetabMultistart
    files: list[Path]
    summary: str


def fit_petab_file(
    yaml_path: str | Path,
    out: str | Path,
    *,
    starts: int = 10,
    seed: int = 0,
    max_iterations: int = 500,
    sensitivity: str = "adjoint",
    method: str = "fides",
    executor: str = "serial",
) -> PetabFitReport:
    """Load, fit from `starts` random starts, and write to `out`: `waterfall.png`,
    `parameters.tsv` (the best fit as a PEtab parameter table), `simulations.tsv` (PEtab
    simulation table at the best fit), `fit_vs_data.png` and `summary.txt`. `sensitivity`:
    gradients by the checkpointed "adjoint" (many parameters) or "forward" sensitivities (few
    parameters and states; compiles faster). `method` and `executor` as in `fit_petab`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    methods = {"adjoint": CheckpointedAdjoint, "forward": ForwardSensitivity}
    if sensitivity not in methods:
        raise PetabError(f"sensitivity must be 'adjoint' or 'forward'; got {sensitivity!r}.")
    problem = load_petab(yaml_path, sensitivity=methods[sensitivity]())
    result = fit_petab(
        problem,
        n_starts=starts,
        seed=seed,
        max_iterations=max_iterations,
        method=method,
        executor=executor,
    )
    best = result.best
    files = [
        write_parameter_table(problem, best.theta, out / "parameters.tsv"),
    ]
    evaluation = problem.evaluate(best.theta)
    petab.write_simulation_df(evaluation.simulations, out / "simulations.tsv")
    files.append(out / "simulations.tsv")
    for name, fig in (
        ("waterfall.png", result.waterfall()),
        ("fit_vs_data.png", plot_fit(problem, best.theta)),
    ):
        fig.savefig(out / name, dpi=120)
        files.append(out / name)
    lines = [
        f"PEtab problem {Path(yaml_path).name}: {len(problem.parameter_ids)} estimated "
        f"parameters, {len(problem.files.measurements)} measurements",
        f"{starts} starts ({result.best.method}) in {result.seconds:.1f} s; best objective {best.value:.6f} "
        f"(-log L {evaluation.nllh:.6f}, chi2 {evaluation.chi2:.4f})",
        "final objective of every start: " + ", ".join(f"{v:.4f}" for v in result.values),
        "best parameters (parameter scale):",
        *(f"  {pid} = {v:.6g}" for pid, v in zip(problem.parameter_ids, best.theta, strict=True)),
    ]
    summary = "\n".join(lines)
    (out / "summary.txt").write_text(summary + "\n")
    files.append(out / "summary.txt")
    return PetabFitReport(result, files, summary)
