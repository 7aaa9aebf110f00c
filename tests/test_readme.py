"""The README's Python tour runs and computes what its comments say."""

import math
import re
from pathlib import Path

import numpy as np


def test_readme_tour_runs_and_its_comments_hold():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # our own README, not a model file
    jax, jnp, net = namespace["jax"], namespace["jnp"], namespace["net"]
    assert net.conservation_laws().describe(net.x0()).splitlines() == [
        "E + ES = 1",
        "S + ES + P = 10",
    ]
    grad = float(jax.grad(namespace["loss"])(jnp.array(0.7)))
    assert math.isclose(grad, -2 * math.exp(-1.4), rel_tol=1e-5)
    assert namespace["batch"].shape == (16, 2, 1)
    assert namespace["paths"].shape == (500, 51, 1)
    assert np.isfinite(np.asarray(namespace["paths"])).all()
