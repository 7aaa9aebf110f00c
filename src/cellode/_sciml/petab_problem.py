"""`load_petab_sciml`: a PEtab-SciML problem (PEtab v2 + networks) as a cellode `PetabProblem`.

The PEtab layer reads PEtab v1 tables. A PEtab-SciML problem is PEtab v2, so this reads its v2
tables and hands the PEtab layer the equivalent v1 tables. The model is a `HybridSbmlModel`,
which has the SBML import's interface.

* Each experiment becomes one v1 simulation condition, with the assignments of its initial
  condition. The suite's experiments have a single period starting at t = 0.
* Each experiment also gets the selector constants of the array inputs for its condition.
* Network rows of the parameter table become one row per weight (`expand_parameter_table`).
* v2 priors (`priorDistribution`, `priorParameters`) become v1 objective priors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .._errors import ModelError
from .._petab.objective import SolverSettings
from .._petab.problem import PetabProblem, build_problem
from .._petab.tables import PetabFiles
from .._sbml.api import load_sbml
from .._sensitivity.base import AbstractSensitivity
from .._sensitivity.checkpointed_adjoint import CheckpointedAdjoint
from .._solvers.rosenbrock import Rodas5P
from .hybrid_model import HybridSbmlModel, build_hybrid_model
from .parameter_table import expand_parameter_table
from .problem_files import SciMLProblemFiles, read_sciml_problem

DEFAULT_EXPERIMENT = "__all_measurements"


def _table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _tables(problem: dict, key: str, root: Path) -> tuple[pd.DataFrame, list[Path]]:
    paths = [root / f for f in problem.get(key) or []]
    if not paths:
        return pd.DataFrame(), []
    return pd.concat([_table(p) for p in paths], ignore_index=True), paths


def v1_tables(
    yaml_path: Path, files: SciMLProblemFiles, model: HybridSbmlModel
) -> tuple[PetabFiles, dict]:
    """The PEtab v1 tables equivalent to the v2 tables of a PEtab-SciML problem."""
    root = yaml_path.parent
    problem = yaml.safe_load(yaml_path.read_text())
    experiments, exp_paths = _tables(problem, "experiment_files", root)
    conditions, cond_paths = _tables(problem, "condition_files", root)
    measurements, meas_paths = _tables(problem, "measurement_files", root)
    observables, obs_paths = _tables(problem, "observable_files", root)
    parameters, par_paths = _tables(problem, "parameter_files", root)
    if experiments.empty:
        experiments = pd.DataFrame(
            {"experimentId": [DEFAULT_EXPERIMENT], "time": ["0"], "conditionId": [""]}
        )
        measurements["experimentId"] = DEFAULT_EXPERIMENT
    rows = {}
    for eid, group in experiments.groupby("experimentId", sort=False):
        if len(group) != 1 or float(group["time"].iloc[0]) != 0.0:
            raise ModelError(
                f"Experiment '{eid}' has {len(group)} period(s) starting at "
                f"{list(group['time'])}; cellode's PEtab-SciML import handles one period from t = 0."
            )
        cid = group["conditionId"].iloc[0]
        row: dict[str, object] = {}
        if cid and not conditions.empty:
            for _, c in conditions[conditions["conditionId"] == cid].iterrows():
                value = c["targetValue"].strip()
                try:
                    row[c["targetId"].strip()] = float(value)
                except ValueError:
                    row[c["targetId"].strip()] = value
        for array_id in model.array_ids:
            row[f"{array_id}[condition]"] = model.selector_value(array_id, cid or "")
        rows[eid] = row
    condition_df = pd.DataFrame.from_dict(rows, orient="index")
    if condition_df.shape[1] == 0:
        condition_df["conditionName"] = ""
    condition_df.index.name = "conditionId"
    measurement_df = measurements.rename(columns={"experimentId": "simulationConditionId"})
    measurement_df["measurement"] = measurement_df["measurement"].astype(float)
    measurement_df["time"] = measurement_df["time"].astype(float)
    observable_df = observables.set_index("observableId")
    expanded = expand_parameter_table(parameters, files, model.blocks)
    expanded["estimate"] = [
        1 if str(v).lower() in ("true", "1") else 0 for v in expanded["estimate"]
    ]
    for column in ("nominalValue", "lowerBound", "upperBound"):
        expanded[column] = [
            np.nan if str(v).strip() in ("", "array") else float(v) for v in expanded[column]
        ]
    if "parameterScale" not in expanded:
        expanded["parameterScale"] = "lin"
    expanded["parameterScale"] = expanded["parameterScale"].replace("", "lin")
    if "priorDistribution" in expanded:
        expanded = expanded.rename(
            columns={
                "priorDistribution": "objectivePriorType",
                "priorParameters": "objectivePriorParameters",
            }
        )
    parameter_df = expanded.set_index("parameterId")
    (model_spec,) = problem["model_files"].values()
    files_v1 = PetabFiles(
        yaml_path=yaml_path,
        model_path=root / model_spec["location"],
        paths={
            "parameter": par_paths,
            "model": [root / model_spec["location"]],
            "condition": cond_paths or exp_paths,
            "measurement": meas_paths,
            "observable": obs_paths,
        },
        conditions=condition_df,
        measurements=measurement_df,
        observables=observable_df,
        parameters=parameter_df,
    )
    return files_v1, problem


def load_petab_sciml(
    yaml_path: str | Path,
    *,
    sensitivity: AbstractSensitivity | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    max_steps: int = 20_000,
) -> PetabProblem:
    """Read a PEtab-SciML problem: SBML model plus networks, as one `PetabProblem`.

    Its theta holds the estimated mechanistic parameters and every non-frozen network weight
    (ids `net.parameters[layer].weight[i, j]`), all on their parameter scale. Solves use
    Rodas5P at `rtol`/`atol`; gradients use `sensitivity` (default: the checkpointed adjoint,
    as for `load_petab`).
    """
    yaml_path = Path(yaml_path)
    files = read_sciml_problem(yaml_path)
    problem = yaml.safe_load(yaml_path.read_text())
    (model_spec,) = problem["model_files"].values()
    model = build_hybrid_model(files, load_sbml(yaml_path.parent / model_spec["location"]))
    files_v1, _ = v1_tables(yaml_path, files, model)
    settings = SolverSettings(Rodas5P(), rtol=rtol, atol=atol, max_steps=max_steps)
    return build_problem(files_v1, model, settings, sensitivity or CheckpointedAdjoint())
