"""`cellode diagnose MODEL`: condition syntax, the report and figure for a model file."""

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

import cellode
from cellode import Constant, InputError, PiecewiseConstant
from cellode._cli.app import app
from cellode._cli.diagnose_command import parse_condition

# Wide, colourless output so long paths in error boxes are not wrapped (xdist workers have no tty).
runner = CliRunner(env={"COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"})


@pytest.fixture(scope="module")
def cascade():
    return cellode.load_model(cellode.builtin_model_path("cascade"))


def test_diagnose_is_a_command():
    result = runner.invoke(app, ["diagnose", "--help"])
    assert result.exit_code == 0
    assert "--condition" in result.output and "--data" in result.output


def test_condition_syntax(cascade, tmp_path):
    change = parse_condition(["L=2.0", "x0.R=0.5", "K=0.7", "kon=4"], cascade)
    assert change.initial == {"R": 0.5, "K": 0.7}
    assert change.parameters == {"kon": 4.0}
    assert isinstance(change.inputs["L"], Constant)
    assert float(change.inputs["L"].value[0]) == 2.0
    path = tmp_path / "pulse.toml"
    path.write_text(
        "[species]\nG = 0.3\n[parameters]\nkdg = 0.2\n"
        "[inputs]\nL = { times = [1.0], values = [0.0, 3.0] }\n"
    )
    change = parse_condition([str(path)], cascade)
    assert change.initial == {"G": 0.3} and change.parameters == {"kdg": 0.2}
    assert isinstance(change.inputs["L"], PiecewiseConstant)
    assert parse_condition([], cascade).empty


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("Lig=2", r"'Lig' is not a species, parameter or input.*known names: R, LR"),
        ("x0.Q=1", r"'Q' is not a species"),
        ("R=abc", r"'abc' is not a number"),
        ("R=-1", r"initial value of 'R' must be >= 0"),
        ("kon=nan", r"must be finite"),
        ("L2.0", r"write NAME=VALUE"),
    ],
)
def test_bad_conditions_name_the_problem(cascade, item, message):
    with pytest.raises(InputError, match=message):
        parse_condition([item], cascade)


def test_bad_condition_file(cascade, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[parameters]\nkoff2 = 1.0\n")
    with pytest.raises(InputError, match=r"bad\.toml.*koff2"):
        parse_condition([str(path)], cascade)


ISOMERISATION = """
name = "isomerisation"
reactions = "A <-> B ; kf, kb"
[species]
A = 1.0
B = 0.0
[parameters]
kf = 2.0
kb = 1.0
[simulation]
t_end = 3.0
n_points = 31
"""


def test_diagnose_writes_report_and_figure(tmp_path):
    model = tmp_path / "iso.toml"
    model.write_text(ISOMERISATION)
    out = tmp_path / "a"
    diagnosis = cellode.diagnose_model_file(model, out, conditions=["A=5"])
    report = diagnosis.report
    # Five times the material: states far from the nominal run, same (linear) Lipschitz.
    assert report.extrapolating
    assert report.verdict.startswith("extrapolating: ")
    assert "Lipschitz" not in report.verdict
    assert report.lipschitz.ratio == pytest.approx(1.0)
    np.testing.assert_allclose(report.states.sum(axis=1), 5.0, rtol=1e-9)  # A + B conserved
    assert report.drift is not None and np.max(report.drift) < 1e-9
    # The one decaying mode (rate kf + kb = 3) once the law A + B is projected out.
    assert report.ftle == pytest.approx(-3.0, rel=1e-6)
    text = (out / "diagnosis.txt").read_text()
    assert text.startswith("isomerisation") and "Condition 'A=5': extrapolating" in text
    assert "Conservation drift" in text
    assert diagnosis.files == (out / "diagnosis.txt", out / "diagnosis.png")
    assert (out / "diagnosis.png").stat().st_size > 10_000


def test_diagnose_command_with_training_data(tmp_path):
    model = tmp_path / "iso.toml"
    model.write_text(ISOMERISATION)
    # Training data = the exact nominal solution, A(t) = 1/3 + (2/3) e^{-3t}: inside.
    data = tmp_path / "train.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["time", "B", "A"])  # columns found by name, in any order
        for t in np.linspace(0.0, 3.0, 31):
            a = 1 / 3 + (2 / 3) * np.exp(-3 * t)
            writer.writerow([t, 1 - a, a])
    out = tmp_path / "b"
    result = runner.invoke(app, ["diagnose", str(model), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Condition 'nominal': inside the training region" in result.output
    assert f"wrote {out / 'diagnosis.png'}" in result.output


@pytest.mark.slow
def test_diagnose_the_builtin_cascade_under_a_higher_dose(tmp_path):
    model = str(cellode.builtin_model_path("cascade"))
    result = runner.invoke(
        app,
        ["diagnose", model, "--condition", "L=3.0", "--out", str(tmp_path), "--t-end", "20"],
    )
    assert result.exit_code == 0, result.output
    assert "Condition 'L=3.0': extrapolating" in result.output
    assert (tmp_path / "diagnosis.png").stat().st_size > 10_000
