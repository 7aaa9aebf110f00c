"""Chemical Langevin noise: respects every conservation law exactly; right stationary variance."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cellode import ReactionNetwork, chemical_langevin, simulate


def test_noise_respects_conservation_laws():
    net = ReactionNetwork.from_text(
        "E + S <-> ES ; k1, k2\nES -> E + P ; kcat", parameters={"k1": 2, "k2": 1, "kcat": 0.5}
    )
    sde = chemical_langevin(net.vector_field(), system_size=100.0)
    x = jnp.array([0.7, 3.0, 0.3, 1.0])
    G = np.asarray(sde.diffusion(0.0, x, None))
    assert G.shape == (4, 3)
    laws = net.conservation_laws().matrix
    np.testing.assert_array_equal(laws @ G, 0.0)  # exactly: w^T S = 0 in integers
    v = np.asarray(sde.drift.rates(0.0, x, None))
    # G G^T = S diag(v / Omega) S^T, the covariance rate of the reaction counts
    S = net.stoichiometry
    np.testing.assert_allclose(G @ G.T, S @ np.diag(v / 100.0) @ S.T, rtol=1e-14)


def test_birth_death_stationary_distribution():
    """-> X (k), X -> (d): stationary mean k/d and variance k/(d Omega) (linear noise)."""
    net = ReactionNetwork.from_text("-> X ; k\nX -> ; d", parameters={"k": 2.0, "d": 1.0})
    omega = 50.0
    sde = chemical_langevin(net.vector_field(), omega)
    ts = np.array([0.0, 5.0])  # 5 relaxation times
    run = jax.vmap(lambda key: simulate(sde, np.array([2.0]), ts, key=key, dt0=0.02).xs[-1, 0])
    xs = np.asarray(run(jax.random.split(jax.random.key(0), 400)))
    assert abs(xs.mean() - 2.0) < 0.05  # standard error 0.01
    assert abs(xs.var() / (2.0 / omega) - 1.0) < 0.25  # standard error about 7%
