"""The command line: version, help, demo output, network description, model-file simulation."""

import csv

import numpy as np
from typer.testing import CliRunner

import cellode
from cellode._cli.app import app
from cellode._examples.builtin import builtin_model_path

runner = CliRunner()


def test_version_and_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"cellode {cellode.__version__}"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "network", "simulate"):
        assert command in result.stdout


def test_demo_writes_figures_and_conserving_trajectories(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--paths", "8"])
    assert result.exit_code == 0, result.output
    for name in ("ode_trajectory.png", "sde_ensemble.png", "ode_trajectory.csv", "summary.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "ode_trajectory.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["time", "L", "R", "LR", "K", "Kp", "G"]
    receptor = np.array([float(r["R"]) + float(r["LR"]) for r in rows])
    kinase = np.array([float(r["K"]) + float(r["Kp"]) for r in rows])
    np.testing.assert_allclose(receptor, 1.0, atol=1e-9)
    np.testing.assert_allclose(kinase, 1.0, atol=1e-9)
    dose = np.array([float(r["L"]) for r in rows])
    assert dose.max() == 2.0 and dose[0] == 0.0
    quantiles = np.loadtxt(tmp_path / "sde_quantiles.csv", delimiter=",", skiprows=1)
    assert quantiles.shape == (len(rows), 1 + 3 * 5)
    assert np.all(quantiles[:, 1] <= quantiles[:, 2]) and np.all(quantiles[:, 2] <= quantiles[:, 3])


def test_network_command_prints_laws_with_totals():
    result = runner.invoke(app, ["network", str(builtin_model_path("cascade"))])
    assert result.exit_code == 0, result.output
    assert "R + LR = 1" in result.stdout
    assert "K + Kp = 1" in result.stdout


def test_missing_model_file_is_named(tmp_path):
    result = runner.invoke(app, ["network", str(tmp_path / "nope.toml")])
    assert result.exit_code != 0
    assert "nope.toml" in result.output
