"""The PEtab test suite (v1, SBML): chi2, llh and every simulated value within each case's
tolerances. All cases run under the `conformance` mark; a bounded sample runs by default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import cellode

V1 = [f"{i:04d}" for i in range(1, 21)]
DEFAULT = ("0001", "0009", "0016")  # plain, pre-equilibration, log-normal observable


def check_case(shared_data: Path, case: str) -> cellode.PetabProblem:
    folder = shared_data / "petab_testsuite" / "cases" / "v1.0.0" / "sbml" / case
    solution = yaml.safe_load((folder / f"_{case}_solution.yaml").read_text())
    problem = cellode.load_petab(folder / f"_{case}.yaml")
    result = problem.evaluate()
    assert abs(-result.nllh - solution["llh"]) < solution["tol_llh"]
    assert abs(result.chi2 - solution["chi2"]) < solution["tol_chi2"]
    expected = pd.concat(
        [pd.read_csv(folder / f, sep="\t") for f in solution["simulation_files"]],
        ignore_index=True,
    )
    simulated = result.simulations
    key = ["observableId", "simulationConditionId", "time"]
    assert (simulated[key].to_numpy() == expected[key].to_numpy()).all()
    np.testing.assert_allclose(
        simulated["simulation"], expected["simulation"], atol=solution["tol_simulations"]
    )
    return problem


@pytest.mark.parametrize("case", DEFAULT)
def test_sample_of_cases(shared_data, case):
    check_case(shared_data, case)


@pytest.mark.conformance
@pytest.mark.parametrize("case", [c for c in V1 if c not in DEFAULT])
def test_case(shared_data, case):
    check_case(shared_data, case)
