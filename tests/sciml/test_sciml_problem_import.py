"""PEtab-SciML test suite, `sciml_problem_import`: hybrid Lotka-Volterra problems (a network in
the right-hand side, before simulation, in an observable, or mixtures) at the nominal parameters.
The log-likelihood (or log-posterior) and the simulations must match within 1e-3, and the
gradients ∂llh/∂θ of the mechanistic and network parameters within 0.1 elementwise, as the
suite prescribes.

Two routes: `cellode.load_petab_sciml` (the project's PEtab objective: Rodas5P, checkpointed
adjoint) for every case, and the test-side likelihood of `suite_harness` (Tsit5 through
`cellode.simulate`, `jax.grad`), which checks `HybridSbmlModel` independently of the PEtab layer."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import yaml

import cellode

from .suite_harness import SuiteProblem, gradient_blocks

CASES = [f"{i:03d}" for i in range(1, 40)]


@pytest.fixture(scope="module")
def suite(shared_data: Path) -> Path:
    root = shared_data / "petab_sciml" / "testsuite" / "test_cases" / "sciml_problem_import"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    return root


def _objective(problem: SuiteProblem, solution: dict):
    def objective(theta_mech, theta_nn):
        llh, sims = problem.simulate_and_llh(theta_mech, theta_nn)
        if "log_posterior" in solution:
            llh = llh + problem.log_prior(theta_mech, theta_nn)
        return llh, sims

    return objective


def _check_values(folder: Path, solution: dict, value, sims) -> None:
    reference = solution.get("llh", solution.get("log_posterior"))
    tol = solution.get("tol_llh", solution.get("tol_log_posterior"))
    assert abs(float(value) - reference) < tol
    table = pd.read_csv(folder / solution["simulation_files"][0], sep="\t")
    np.testing.assert_allclose(
        np.asarray(sims), table["simulation"].to_numpy(), atol=solution["tol_simulations"], rtol=0
    )


def _check_gradients(folder: Path, solution: dict, model, mech_grad: dict, g_nn) -> None:
    tol = solution["tol_grad"]
    mech = pd.read_csv(folder / solution["grad_files"]["mech"], sep="\t")
    for _, row in mech.iterrows():
        assert abs(float(mech_grad[row["parameterId"]]) - row["value"]) < tol, row["parameterId"]
    blocks = gradient_blocks(model, g_nn)
    for net_id, name in solution["grad_files"].items():
        if net_id == "mech":
            continue
        reference = cellode.read_sciml_parameters(folder / name, net_id)
        for layer_id, arrays in reference.items():
            for array_id, value in arrays.items():
                if value.size == 0:  # a frozen array: the suite stores no gradient
                    continue
                np.testing.assert_allclose(
                    blocks[net_id][layer_id][array_id], value, atol=tol, rtol=0
                )


@pytest.mark.conformance
def test_mixed_hybrid_case_values(suite: Path):
    """Bounded default check: case 011, one network in the right-hand side and one setting a
    parameter before simulation; log-likelihood and all 20 simulated measurements."""
    folder = suite / "011"
    solution = yaml.safe_load((folder / "solutions.yaml").read_text())
    problem = SuiteProblem(folder / "petab" / "problem.yaml")
    value, sims = jax.jit(_objective(problem, solution))(
        jnp.asarray(problem.theta_mech), jnp.asarray(problem.theta_nn)
    )
    _check_values(folder, solution, value, sims)


@pytest.mark.slow
@pytest.mark.conformance
@pytest.mark.parametrize("case", CASES)
def test_sciml_problem_import_case_with_harness(suite: Path, case: str):
    folder = suite / case
    solution = yaml.safe_load((folder / "solutions.yaml").read_text())
    problem = SuiteProblem(folder / "petab" / "problem.yaml")
    value_and_grad = jax.jit(
        jax.value_and_grad(_objective(problem, solution), argnums=(0, 1), has_aux=True)
    )
    (value, sims), (g_mech, g_nn) = value_and_grad(
        jnp.asarray(problem.theta_mech), jnp.asarray(problem.theta_nn)
    )
    _check_values(folder, solution, value, sims)
    mech = dict(zip(problem.estimated, np.asarray(g_mech), strict=True))
    _check_gradients(folder, solution, problem.model, mech, g_nn)


@pytest.mark.slow
@pytest.mark.conformance
@pytest.mark.parametrize("case", CASES)
def test_sciml_problem_import_case_with_petab_objective(suite: Path, case: str):
    """The same checks through `load_petab_sciml`: theta = mechanistic parameters and every
    non-frozen network weight; the suite's llh is -nllh, its gradients -∂nllh/∂theta."""
    folder = suite / case
    solution = yaml.safe_load((folder / "solutions.yaml").read_text())
    problem = cellode.load_petab_sciml(folder / "petab" / "problem.yaml", rtol=1e-12, atol=1e-12)
    if "log_posterior" in solution:
        value, grad = problem.objective_and_gradient()
    else:
        value, grad = problem.nllh_and_gradient()
    sims = problem.simulate()["simulation"].to_numpy()
    _check_values(folder, solution, -value, sims)
    g = dict(zip(problem.parameter_ids, -np.asarray(grad), strict=True))
    flat = np.array([g.get(e, np.nan) for e in problem.model.parameter_element_ids])
    _check_gradients(folder, solution, problem.model, g, flat)
