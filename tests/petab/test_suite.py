"""The PEtab test suite (v1 and v2, SBML): chi2, llh, log priors and every simulated value
within each case's tolerances. All cases run under the `conformance` mark; a bounded sample
runs by default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import cellode

V1 = [f"{i:04d}" for i in range(1, 21)]
# The default suite runs a fixed sample of features; the other cases are `slow` conformance checks
# (`pytest -m conformance`; the full run is recorded in docs/petab.md).
DEFAULT = ("0001", "0005", "0009", "0016")  # plain, condition overrides, preeq, log-normal
V2 = [f"{i:04d}" for i in range(1, 33) if i != 19]
# preeq + late start, periods resizing, priors, an SBML event during pre-equilibration (0016
# and 0030, events at a period's start, are conformance checks; tests/petab/test_events.py
# checks event times and their gradients)
V2_DEFAULT = ("0018", "0022", "0024", "0023")


def check_case(shared_data: Path, case: str, version: str = "v1.0.0") -> cellode.PetabProblem:
    folder = shared_data / "petab_testsuite" / "cases" / version / "sbml" / case
    solution = yaml.safe_load((folder / f"_{case}_solution.yaml").read_text())
    problem = cellode.load_petab(folder / f"_{case}.yaml")
    result = problem.evaluate()
    assert abs(-result.nllh - solution["llh"]) < solution["tol_llh"]
    assert abs(result.chi2 - solution["chi2"]) < solution["tol_chi2"]
    if "unnorm_log_posterior" in solution:
        posterior = -result.nllh - float(problem.neg_log_prior())
        assert (
            abs(posterior - solution["unnorm_log_posterior"]) < solution["tol_unnorm_log_posterior"]
        )
    expected = pd.concat(
        [pd.read_csv(folder / f, sep="\t") for f in solution["simulation_files"]],
        ignore_index=True,
    )
    simulated = result.simulations
    column = problem.files.condition_column
    key = ["observableId", column, "time"]
    got, want = simulated[key].fillna(""), expected[key].fillna("")
    assert (got.astype(str).to_numpy() == want.astype(str).to_numpy()).all()
    np.testing.assert_allclose(
        simulated["simulation"], expected["simulation"], atol=solution["tol_simulations"]
    )
    return problem


@pytest.mark.parametrize("case", DEFAULT)
def test_sample_of_cases(shared_data, case):
    check_case(shared_data, case)


@pytest.mark.slow
@pytest.mark.conformance
@pytest.mark.parametrize("case", [c for c in V1 if c not in DEFAULT])
def test_case(shared_data, case):
    check_case(shared_data, case)


@pytest.mark.parametrize("case", V2_DEFAULT)
def test_v2_sample_of_cases(shared_data, case):
    check_case(shared_data, case, "v2.0.0")


@pytest.mark.slow
@pytest.mark.conformance
@pytest.mark.parametrize("case", [c for c in V2 if c not in V2_DEFAULT])
def test_v2_case(shared_data, case):
    check_case(shared_data, case, "v2.0.0")


def _copy_case(shared_data: Path, case: str, tmp_path: Path) -> Path:
    folder = shared_data / "petab_testsuite" / "cases" / "v2.0.0" / "sbml" / case
    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    return tmp_path / f"_{case}.yaml"


@pytest.mark.parametrize(
    ("table", "old", "new", "message"),
    [
        (
            "_conditions.tsv",
            "c0\tA\t",
            "c0\tnot_a_species\t",
            r"row 2, column targetId.*'not_a_spe",
        ),
        ("_conditions.tsv", "c0\tA\t0.8", "c0\tA\t__import__('os')", "targetValue"),
        ("_measurements.tsv", "\tobs_a\te1\t10.0", "\tobs_a\te9\t10.0", r"unknown experiment 'e9'"),
        ("_experiments.tsv", "e1\t0.0\tc0", "e1\t0.0\tc7", r"unknown condition 'c7'"),
    ],
)
def test_v2_bad_tables_name_the_row(shared_data, tmp_path, table, old, new, message):
    yaml_path = _copy_case(shared_data, "0002", tmp_path)
    text = (tmp_path / table).read_text()
    assert old in text
    (tmp_path / table).write_text(text.replace(old, new, 1))
    with pytest.raises(cellode.InputError, match=message):
        cellode.load_petab(yaml_path)


@pytest.mark.parametrize("case", [pytest.param("0018", marks=pytest.mark.slow), "0031"])
def test_v2_gradient_through_periods_equals_central_differences(shared_data, case):
    """Adjoint and forward gradients cross pre-equilibration and state-dependent period changes
    (0031: A <- A + 5 and B <- B + 3 at t = 10)."""
    folder = shared_data / "petab_testsuite" / "cases" / "v2.0.0" / "sbml" / case
    problem = cellode.load_petab(folder / f"_{case}.yaml", rtol=1e-10, atol=1e-12)
    theta = problem.nominal_theta * 1.1
    _, grad = problem.nllh_and_gradient(theta)
    _, grad_fwd = problem.with_sensitivity(cellode.ForwardSensitivity()).nllh_and_gradient(theta)
    h = 1e-5
    fd = [
        (float(problem.nllh(theta + h * e)) - float(problem.nllh(theta - h * e))) / (2 * h)
        for e in np.eye(theta.size)
    ]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_fwd, fd, rtol=1e-5, atol=1e-6)
