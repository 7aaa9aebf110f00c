"""The PEtab objective as least squares: residuals, their Jacobian, and when there is no such form.

Boehm estimates the noise of all its observables, so its residual vector carries a noise residual
sqrt(log(2 pi sigma^2) + NOISE_OFFSET) for every row: 1/2 |r|^2 = -log L + NOISE_OFFSET M / 2.
The Jacobian is checked on PEtab test case 0015 (one observable, estimated noise; reverse mode) in
the default suite and on Boehm (three noise parameters; forward mode) as a `slow` check.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

import cellode
from cellode._petab.errors import PetabError
from cellode._petab.objective import NOISE_OFFSET


@pytest.fixture(scope="module")
def boehm(shared_data) -> cellode.PetabProblem:
    name = "Boehm_JProteomeRes2014"
    return cellode.load_petab(shared_data / "petab" / "benchmark" / name / f"{name}.yaml")


@pytest.fixture(scope="module")
def point(shared_data, boehm) -> np.ndarray:
    """A parameter vector away from the optimum (pyPESTO's reference point 1)."""
    folder = shared_data / "petab" / "reference" / "Boehm_JProteomeRes2014_pyPESTO"
    points = pd.read_csv(folder / "Parameters_PyPesto.csv", index_col=0)
    return points.loc[1, list(boehm.parameter_ids)].to_numpy(dtype=float)


def test_half_squared_residuals_are_the_nllh_plus_a_constant(boehm, point):
    m = len(boehm.files.measurements)
    assert boehm.least_squares_form is None
    for theta in (boehm.nominal_theta, point):
        r = np.asarray(boehm.residuals(theta))
        assert r.shape == (2 * m,)  # a data and a noise residual per row: every sigma estimated
        assert 0.5 * r @ r == pytest.approx(float(boehm.nllh(theta)) + 0.5 * NOISE_OFFSET * m)


@pytest.fixture(scope="module")
def case_0015(shared_data) -> cellode.PetabProblem:
    """Two species A <-> B, observable A, its noise sd an estimated parameter."""
    folder = shared_data / "petab_testsuite" / "cases" / "v1.0.0" / "sbml" / "0015"
    return cellode.load_petab(folder / "_0015.yaml")


@pytest.fixture(
    params=["0015", pytest.param("boehm", marks=pytest.mark.slow)], ids=["case0015", "boehm"]
)
def problem_and_point(request) -> tuple[cellode.PetabProblem, np.ndarray, tuple[int, ...]]:
    """A problem with estimated noise, a point away from its optimum, the columns to difference."""
    if request.param == "boehm":
        return request.getfixturevalue("boehm"), request.getfixturevalue("point"), (0, 4, 8)
    problem = request.getfixturevalue("case_0015")
    point = np.asarray(problem.nominal_theta) * np.array([1.3, 1.0, 0.7, 1.2, 0.4])
    point[1] = 0.25  # b0 = 0 at the nominal values
    return problem, point, tuple(range(len(point)))


def test_jacobian_is_the_derivative_of_the_residuals(problem_and_point):
    problem, point, columns = problem_and_point
    r, jac = problem.residuals_and_jacobian(point)
    r, jac = np.asarray(r), np.asarray(jac)
    # the same residuals to the solver's tolerance (forward mode's step control also sees the
    # sensitivities, so its steps differ from those of the plain solve)
    np.testing.assert_allclose(r, np.asarray(problem.residuals(point)), rtol=1e-6, atol=1e-9)
    # J^T r is the gradient of 1/2 |r|^2, i.e. of -log L
    _, grad = problem.nllh_and_gradient(point)
    np.testing.assert_allclose(jac.T @ r, np.asarray(grad), rtol=1e-4, atol=1e-4)
    h = 1e-5
    for j in columns:
        e = np.zeros_like(point)
        e[j] = h
        central = np.asarray(problem.residuals(point + e)) - np.asarray(
            problem.residuals(point - e)
        )
        np.testing.assert_allclose(jac[:, j], central / (2 * h), rtol=1e-4, atol=1e-6)


def test_jacobian_is_forward_mode_up_to_as_many_parameters_as_measurements(case_0015):
    """0015 has 5 parameters and 2 measurements: reverse mode through the adjoint; forward
    sensitivities (Boehm's case above: 9 parameters, 48 measurements) give the same matrix."""
    point = np.asarray(case_0015.nominal_theta) + 0.2
    assert point.size > len(case_0015.files.measurements)
    _, reverse = case_0015.residuals_and_jacobian(point)
    forward = case_0015.with_sensitivity(cellode.ForwardSensitivity())
    _, jac = forward.residuals_and_jacobian(point)
    np.testing.assert_allclose(jac, reverse, rtol=1e-6, atol=1e-9)


def test_laplace_noise_has_no_least_squares_form(shared_data, tmp_path):
    source = shared_data / "petab_testsuite" / "cases" / "v1.0.0" / "sbml" / "0001"
    shutil.copytree(source, tmp_path / "case")
    observables = tmp_path / "case" / "_observables.tsv"
    table = pd.read_csv(observables, sep="\t")
    table["noiseDistribution"] = "laplace"
    table.to_csv(observables, sep="\t", index=False)
    problem = cellode.load_petab(tmp_path / "case" / "_0001.yaml")
    assert "Laplace noise" in problem.least_squares_form
    with pytest.raises(PetabError, match=r"no least-squares form.*obs_a"):
        problem.residuals()
    # the automatic choice falls back to L-BFGS-B
    fits = cellode.fit_petab(problem, n_starts=1, method="auto").fits
    assert {f.method for f in fits} == {"lbfgsb"}
