"""The library functions behind `cellode network FILE` and `cellode simulate FILE`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from cellode._cli.network_commands import describe_network, simulate_model_file

MODEL = Path(__file__).parent / "models" / "enzyme.toml"


def test_describe_network_lists_structure_laws_and_reduction():
    text = describe_network(MODEL)
    assert "4 species, 5 reactions" in text
    assert "bind_fwd: E + S -> ES ; k1" in text
    assert "R4: -> S ; rate = ksyn*L" in text
    assert "E + ES = 1" in text  # the law with its total from x0
    assert "E = 1 - ES" in text  # the reduced system
    # S as a table: the row of E reads -1 1 1 0 0
    row = next(line for line in text.splitlines() if line.strip().startswith("E ") and "-1" in line)
    assert row.split()[1:] == ["-1", "1", "1", "0", "0"]


def test_simulate_model_file_writes_csv_png_and_drift(tmp_path):
    paths = simulate_model_file(MODEL, tmp_path, t_end=4.0, n_points=9)
    assert [p.name for p in paths] == ["enzyme.csv", "enzyme.png", "enzyme_conservation.txt"]
    with paths[0].open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["time", "L", "E", "S", "ES", "P"]
    data = np.array(rows[1:], dtype=float)
    assert data.shape == (9, 6)
    np.testing.assert_allclose(data[:, 0], np.linspace(0.0, 4.0, 9))
    np.testing.assert_allclose(data[:, 1], 1.0)  # the input is on until t = 5
    np.testing.assert_allclose(data[:, 2] + data[:, 4], 1.0, atol=1e-9)  # E + ES conserved
    assert data[-1, 5] > 0.1  # product was made
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "E + ES = 1" in paths[2].read_text()
