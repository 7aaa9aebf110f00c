"""A fixed sample of SBML test-suite cases (every tier) and the six PEtab benchmark models."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cellode import load_sbml
from cellode._sbml.testsuite import read_settings, run_case, within_tolerance

# Deterministic sample covering tier A (compartments, species, reactions, parameters), tier B
# (rules, initial assignments, function definitions) and tier C (time, stoichiometry math,
# rateOf, avogadro), including varying compartments, conversion factors, hasOnlySubstanceUnits,
# 0-D compartments, uncommon MathML and piecewise.
SAMPLE = {
    "A": ["00001", "00241", "00998", "01647"],
    "B": ["00133", "00305", "00338", "00644", "00903", "01452"],
    "C": ["00727", "00880", "00959", "01259", "01323", "01343"],
}
CASES = [(tier, case) for tier, cases in SAMPLE.items() for case in cases]

BENCHMARKS = [
    "Bachmann_MSB2011",
    "Boehm_JProteomeRes2014",
    "Crauste_CellSystems2017",
    "Fujita_SciSignal2010",
    "Weber_BMC2015",
    "Zheng_PNAS2012",
]


def test_tolerance_rule_matches_the_suite():
    sim = np.array([1.0, 1.00011, np.nan, np.inf, 0.0])
    exp = np.array([1.0, 1.0, np.nan, np.inf, 1e-9])
    np.testing.assert_array_equal(
        within_tolerance(sim, exp, absolute=1e-8, relative=1e-4), [True, False, True, True, True]
    )


@pytest.mark.conformance
@pytest.mark.parametrize(("tier", "case"), CASES, ids=[f"{t}-{c}" for t, c in CASES])
def test_suite_case_passes(shared_data, tier, case):
    folder = shared_data / "sbml-test-suite" / "semantic" / case
    settings = read_settings(folder / f"{case}-settings.txt")
    assert settings.steps > 0
    result = run_case(folder, integrator="scipy")
    assert result.passed, result.reason


@pytest.mark.conformance
def test_suite_case_with_diffrax(shared_data):
    """One case through the jit-compiled diffrax solve as well (the default integrator)."""
    result = run_case(shared_data / "sbml-test-suite" / "semantic" / "00001")
    assert result.passed, result.reason


@pytest.mark.conformance
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_models_load_and_evaluate(shared_data, name):
    model = load_sbml(shared_data / "petab" / "benchmark" / name / f"model_{name}.xml")
    x0 = model.initial_state()
    assert x0.shape == (len(model.state_ids),)
    dx = jax.jit(lambda t, x, p: model.rhs(t, x, p))(0.0, x0, model.constant_values)
    assert bool(jnp.all(jnp.isfinite(x0))) and bool(jnp.all(jnp.isfinite(dx)))
    assert len(model.constant_ids) == model.constant_values.shape[0]
