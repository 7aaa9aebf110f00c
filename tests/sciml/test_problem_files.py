"""PEtab-SciML problem files: mapping-table entity ids, the three spellings of the extension
section, and nominal network parameters (the suite's `initialization` cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import cellode
from cellode._sciml.mapping import ModelEntity, parse_model_entity
from cellode._sciml.problem_files import network_entries, read_sciml_problem


def test_model_entity_grammar():
    assert parse_model_entity("net1.inputs[0][1]") == ModelEntity("net1", "inputs", 0, index=(1,))
    assert parse_model_entity("net3.inputs[0]") == ModelEntity("net3", "inputs", 0)
    assert parse_model_entity("net1.outputs[0][0]") == ModelEntity("net1", "outputs", 0, index=(0,))
    assert parse_model_entity("net1.parameters") == ModelEntity("net1", "parameters")
    entity = parse_model_entity("net1.parameters[conv1].weight[0, 2]")
    assert (entity.layer, entity.array, entity.index, entity.specificity) == (
        "conv1",
        "weight",
        (0, 2),
        3,
    )
    with pytest.raises(cellode.ModelError, match=r"net1\.parameters\.weight"):
        parse_model_entity("net1.parameters.weight")  # breaks the hierarchy


@pytest.mark.parametrize(
    ("extension", "nets", "static"),
    [
        ("petab_sciml", "neural_networks", "static"),  # format specification
        ("sciml", "neural_networks", "pre_initialization"),  # test suite
        ("sciml", "neural_nets", "pre_initialization"),  # benchmark collection
    ],
)
def test_three_spellings_of_the_extension(tmp_path: Path, extension, nets, static):
    problem = {
        "extensions": {
            extension: {nets: {"net1": {"location": "n.yaml", "format": "YAML", static: True}}}
        }
    }
    entries = network_entries(problem, tmp_path / "problem.yaml")
    assert entries["net1"].static is True
    assert entries["net1"].path == tmp_path / "n.yaml"


def test_code_formats_are_refused(tmp_path: Path):
    problem = {
        "extensions": {
            "sciml": {
                "neural_networks": {"n": {"location": "n.py", "format": "pytorch", "static": False}}
            }
        }
    }
    with pytest.raises(cellode.ModelError, match="never runs code files"):
        network_entries(problem, tmp_path / "problem.yaml")


@pytest.fixture(scope="module")
def suite(shared_data: Path) -> Path:
    root = shared_data / "petab_sciml" / "testsuite" / "test_cases"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    return root


@pytest.mark.conformance
@pytest.mark.parametrize("case", ["001", "002", "003"])
def test_initialization_cases(suite: Path, case: str):
    """Nominal parameters: array file, then the parameter table's 0.0 for layer1 / its weight /
    its bias (the more specific id wins) — compared with the suite's reference file."""
    folder = suite / "initialization" / case
    solution = yaml.safe_load((folder / "solutions.yaml").read_text())
    problem = read_sciml_problem(folder / "petab" / "problem.yaml")
    for net_id, ref_file in solution["parameter_files"].items():
        reference = cellode.read_sciml_parameters(folder / ref_file, net_id)
        got = problem.networks[net_id].parameters()
        assert set(got) == set(reference)
        for layer_id, arrays in reference.items():
            for name, value in arrays.items():
                np.testing.assert_allclose(got[layer_id][name], value, atol=solution["tol"])


@pytest.mark.conformance
def test_frozen_layers_and_arrays(suite: Path):
    """Cases 023 (layer1 frozen) and 026 (layer1.weight frozen): estimate=false masks exactly
    those arrays; case 015 keeps condition-specific array inputs apart."""
    root = suite / "sciml_problem_import"
    frozen = read_sciml_problem(root / "023" / "petab" / "problem.yaml").frozen["net1"]
    assert frozen["layer1"]["weight"].all() and frozen["layer1"]["bias"].all()
    assert not frozen["layer2"]["weight"].any()
    frozen = read_sciml_problem(root / "026" / "petab" / "problem.yaml").frozen["net1"]
    assert frozen["layer1"]["weight"].all() and not frozen["layer1"]["bias"].any()
    inputs = read_sciml_problem(root / "015" / "petab" / "problem.yaml").array_inputs["input0"]
    assert set(inputs) == {("cond1",), ("cond2",)}
    assert inputs[("cond1",)].shape == (3, 10, 10)
    assert not np.array_equal(inputs[("cond1",)], inputs[("cond2",)])


@pytest.mark.conformance
def test_parameter_table_expands_to_one_row_per_weight(suite: Path):
    """Case 034: `net1_ps` (prior normal 0;1) and the more specific `net1.parameters[layer1].weight`
    (normal 0;2) become one row per weight; case 026 freezes exactly layer1.weight."""
    import pandas as pd

    from cellode._sciml.hybrid_model import build_hybrid_model
    from cellode._sciml.parameter_table import expand_parameter_table

    for case, check in (("034", "prior"), ("026", "frozen")):
        petab = suite / "sciml_problem_import" / case / "petab"
        files = read_sciml_problem(petab / "problem.yaml")
        model = build_hybrid_model(files, cellode.load_sbml(petab / "lv.xml"))
        table = pd.read_csv(petab / "parameters.tsv", sep="\t", dtype=str, keep_default_na=False)
        expanded = expand_parameter_table(table, files, model.blocks).set_index("parameterId")
        elements = model.parameter_element_ids
        assert len(elements) == 2 * 5 + 5 + 5 * 5 + 5 + 5 + 1
        assert set(elements) <= set(expanded.index)
        assert not set(files.parameter_ids) & set(expanded.index)
        weight = "net1.parameters[layer1].weight[4, 1]"
        bias = "net1.parameters[layer1].bias[0]"
        nominal = files.networks["net1"].parameters()["layer1"]["weight"][4, 1]
        assert float(expanded.loc[weight, "nominalValue"]) == float(nominal)
        if check == "prior":
            assert expanded.loc[weight, "priorParameters"] == "0.0;2.0"
            assert expanded.loc[bias, "priorParameters"] == "0.0;1.0"
        else:
            assert expanded.loc[weight, "estimate"] == "false"
            assert expanded.loc[bias, "estimate"] == "true"
