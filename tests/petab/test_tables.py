"""PEtab tables without simulation: noise densities, priors, scales, and errors that name the
file, row and element."""

from __future__ import annotations

import math
import shutil

import jax.numpy as jnp
import numpy as np
import pandas as pd
import petab.v1 as petab
import pytest

import cellode
from cellode._petab.noise import negative_log_likelihood
from cellode._petab.parameters import ParameterTable, Prior, neg_log_prior, to_linear

CASE = "petab_testsuite/cases/v1.0.0/sbml/0001"


@pytest.mark.parametrize("distribution", ["normal", "laplace"])
@pytest.mark.parametrize("scale", ["lin", "log", "log10"])
def test_noise_nllh_equals_petab_reference_implementation(distribution, scale):
    rng = np.random.default_rng(0)
    m, y, sigma = rng.uniform(0.2, 3.0, 3)
    code = ("lin", "log", "log10").index(scale)
    ours = negative_log_likelihood(
        jnp.array([y]),
        jnp.array([m]),
        jnp.array([sigma]),
        jnp.array([code]),
        jnp.array([distribution == "laplace"]),
    )
    reference = -petab.calculate_single_llh(m, y, scale, distribution, sigma)
    np.testing.assert_allclose(float(ours[0]), reference, rtol=1e-13)


def test_log_normal_density_integrates_to_one_over_the_measurement():
    # -log p(m) with the Jacobian of h: p must be a density in m, not in log m.
    m = jnp.linspace(1e-4, 60.0, 400_001)
    ones = jnp.ones_like(m)
    for code in (1, 2):
        p = jnp.exp(-negative_log_likelihood(2.0 * ones, m, 0.2 * ones, code * ones, ones < 0))
        assert abs(float(jnp.trapezoid(p, m)) - 1.0) < 1e-4


def test_priors_are_closed_form_densities_on_the_right_scale():
    table = ParameterTable(
        ids=("a", "b", "c"),
        scales=("log10", "log", "lin"),
        lower=np.array([1e-3, 1e-3, 0.0]),
        upper=np.array([1e3, 1e3, 10.0]),
        nominal=np.array([1.0, 1.0, 1.0]),
        estimate=np.array([True, True, True]),
        priors=(
            Prior("parameterScaleNormal", 0.5, 0.2),
            Prior("normal", 2.0, 0.5),
            Prior("uniform", 0.0, 4.0),
        ),
    )
    theta = jnp.array([0.3, math.log(2.5), 1.0])
    expected = (
        0.5 * math.log(2 * math.pi * 0.04)
        + 0.5 * ((0.3 - 0.5) / 0.2) ** 2  # on log10 scale
        + 0.5 * math.log(2 * math.pi * 0.25)
        + 0.5 * ((2.5 - 2.0) / 0.5) ** 2  # on linear x
        + math.log(4.0)
    )
    np.testing.assert_allclose(float(neg_log_prior(theta, table)), expected, rtol=1e-13)
    lin = to_linear(jnp.array([2.0, 0.0, -1.5]), np.array([2, 1, 0]))
    np.testing.assert_allclose(np.asarray(lin), [100.0, 1.0, -1.5])


@pytest.fixture
def case_copy(shared_data, tmp_path):
    folder = tmp_path / "case"
    shutil.copytree(shared_data / CASE, folder)
    return folder


def test_unknown_observable_names_file_row_and_id(case_copy):
    path = case_copy / "_measurements.tsv"
    df = pd.read_csv(path, sep="\t")
    df.loc[1, "observableId"] = "obs_typo"
    df.to_csv(path, sep="\t", index=False)
    with pytest.raises(
        cellode.PetabError,
        match=r"_measurements.tsv, row 3, column observableId"
        r".*'obs_typo'",
    ):
        cellode.load_petab(case_copy / "_0001.yaml")


def test_import_in_a_formula_is_refused_with_its_location(case_copy):
    path = case_copy / "_observables.tsv"
    df = pd.read_csv(path, sep="\t")
    df.loc[0, "observableFormula"] = "__import__('os').system('true')"
    df.to_csv(path, sep="\t", index=False)
    with pytest.raises(
        cellode.PetabError,
        match=r"_observables.tsv, row 2, column "
        r"observableFormula \(obs_a\).*__import__",
    ):
        cellode.load_petab(case_copy / "_0001.yaml")


def test_unknown_name_in_a_formula_is_refused(case_copy):
    path = case_copy / "_observables.tsv"
    df = pd.read_csv(path, sep="\t")
    df["noiseFormula"] = df["noiseFormula"].astype(str)
    df.loc[0, "noiseFormula"] = "sigma_missing * 2"
    df.to_csv(path, sep="\t", index=False)
    with pytest.raises(cellode.PetabError, match=r"row 2, column noiseFormula.*'sigma_missing'"):
        cellode.load_petab(case_copy / "_0001.yaml")


def test_missing_file_names_the_yaml_entry(case_copy):
    (case_copy / "_conditions.tsv").unlink()
    with pytest.raises(
        cellode.PetabError,
        match=r"_0001.yaml, entry condition_files.*"
        r"'_conditions.tsv' does not exist",
    ):
        cellode.load_petab(case_copy / "_0001.yaml")
    with pytest.raises(cellode.PetabError, match="does not exist"):
        cellode.load_petab(case_copy / "no_such_problem.yaml")
