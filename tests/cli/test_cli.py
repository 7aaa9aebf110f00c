"""The command line: version, help, demo output, network description, model-file simulation."""

import csv

import numpy as np
from typer.testing import CliRunner

import cellode
from cellode._cli.app import app
from cellode._examples.builtin import builtin_model_path

# Wide, colourless output so long paths in error boxes are not wrapped (xdist workers have no tty).
runner = CliRunner(env={"COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"})


def test_version_and_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"cellode {cellode.__version__}"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "network", "simulate"):
        assert command in result.stdout


def test_demo_fits_a_hybrid_that_conserves_and_writes_its_report(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--paths", "8", "--steps", "20"])
    assert result.exit_code == 0, result.output
    for name in ("ode_trajectory.png", "sde_ensemble.png", "held_out.png", "summary.html",
                 "hybrid/fit_vs_data.png", "neural/loss.png", "data/measurements.csv"):  # fmt: skip
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "ode_trajectory.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["time", "L", "R", "LR", "K", "Kp", "G"]
    receptor = np.array([float(r["R"]) + float(r["LR"]) for r in rows])
    np.testing.assert_allclose(receptor, 1.0, atol=1e-9)
    table = {}
    for line in (tmp_path / "summary.txt").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] in ("hybrid", "neural"):
            table[parts[0]] = [float(v) for v in parts[1:]]
    assert table["hybrid"][2] < 1e-10  # conservation drift of the hybrid: round-off only
    assert table["neural"][2] > 1e3 * table["hybrid"][2]
    # The hybrid, with the network's structure, beats the neural ODE on training and held-out data.
    assert table["hybrid"][0] < table["neural"][0]
    assert table["hybrid"][1] < table["neural"][1]


def test_fit_command_recovers_the_cascade_constants(tmp_path):
    from cellode._examples.demo import make_data

    data, conditions = make_data(tmp_path / "data", seed=3)
    out = tmp_path / "fit"
    args = ["fit", str(builtin_model_path("cascade")), str(data), "--conditions", str(conditions),
            "--out", str(out), "--starts", "2"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with (out / "parameters.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    fitted = {r["parameter"]: float(r["fitted"]) for r in rows}
    truth = {r["parameter"]: float(r["model_file"]) for r in rows}
    for name in truth:
        assert abs(fitted[name] / truth[name] - 1) < 0.15, (name, fitted[name], truth[name])
    reloaded = cellode.load(out / "result")
    np.testing.assert_allclose(
        np.exp(reloaded.estimate.model.parameters), [fitted[n] for n in truth], rtol=1e-6
    )
    assert (out / "waterfall.png").is_file()


def test_fit_command_names_a_bad_observable(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("experiment,time,observable,value\ne,1.0,Kinase,0.3\n")
    result = runner.invoke(app, ["fit", str(builtin_model_path("cascade")), str(data)])
    assert result.exit_code != 0
    assert "['Kinase'] are not species" in str(result.exception)


def test_network_command_prints_laws_with_totals():
    result = runner.invoke(app, ["network", str(builtin_model_path("cascade"))])
    assert result.exit_code == 0, result.output
    assert "R + LR = 1" in result.stdout
    assert "K + Kp = 1" in result.stdout


def test_missing_model_file_is_named(tmp_path):
    result = runner.invoke(app, ["network", str(tmp_path / "nope.toml")])
    assert result.exit_code != 0
    assert "nope.toml" in result.output
