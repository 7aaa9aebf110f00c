"""`cellode fit problem.yaml`: a PEtab problem fitted from random starts; its output files; and
the gradient it uses against finite differences and the other sensitivity method."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import cellode
from cellode._cli.app import app

CASE = "petab_testsuite/cases/v1.0.0/sbml/0001"


def test_cli_fit_recovers_the_optimum_and_writes_petab_files(shared_data, tmp_path):
    problem_dir = tmp_path / "problem"
    shutil.copytree(shared_data / CASE, problem_dir)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "fit",
            str(problem_dir / "_0001.yaml"),
            "--out",
            str(out),
            "--starts",
            "2",
            "--sensitivity",
            "forward",
            "--method",
            "auto",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(trust-region)" in result.output  # normal noise: least squares with the Jacobian
    for name in ("waterfall.png", "fit_vs_data.png", "parameters.tsv", "simulations.tsv"):
        assert (out / name).stat().st_size > 0, name
    # Two data points, four parameters (a0, b0, k1, k2): the model can pass through both
    # measurements, so the optimum has zero residuals: -log L = 2 * 1/2 log(2 pi 0.5^2).
    fitted = pd.read_csv(out / "parameters.tsv", sep="\t", index_col=0)
    problem = cellode.load_petab(
        problem_dir / "_0001.yaml", sensitivity=cellode.ForwardSensitivity()
    )
    theta = fitted.loc[list(problem.parameter_ids), "nominalValue"].to_numpy()
    value, grad = problem.nllh_and_gradient(theta)
    assert abs(float(value) - np.log(2 * np.pi * 0.25)) < 1e-6
    data = pd.read_csv(problem_dir / "_measurements.tsv", sep="\t")
    simulated = pd.read_csv(out / "simulations.tsv", sep="\t")
    np.testing.assert_allclose(simulated["simulation"], data["measurement"], atol=1e-3)

    # the forward-sensitivity gradient the fit used, against central differences at a non-optimal point
    theta = problem.nominal_theta + np.array([0.1, 0.2, -0.1, 0.05])
    _, grad = problem.nllh_and_gradient(theta)
    h = 1e-5
    fd = [
        (problem.evaluate(theta + h * e).nllh - problem.evaluate(theta - h * e).nllh) / (2 * h)
        for e in np.eye(theta.size)
    ]
    np.testing.assert_allclose(np.asarray(grad), fd, rtol=1e-5, atol=1e-7)


def test_fides_fits_reach_the_zero_residual_optimum(shared_data):
    """Fides (BFGS, and Gauss–Newton switching to BFGS) on the same problem: every start reaches
    the optimum where the model passes through both measurements."""
    problem = cellode.load_petab(
        shared_data / CASE / "_0001.yaml", sensitivity=cellode.ForwardSensitivity()
    )
    optimum = np.log(2 * np.pi * 0.25)
    for method in ("fides", "fides-hybrid"):
        result = cellode.fit_petab(problem, n_starts=2, seed=0, method=method)
        assert {f.method for f in result.fits} == {method}
        np.testing.assert_allclose(result.values, optimum, atol=1e-6)
