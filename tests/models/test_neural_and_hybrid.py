"""Neural, hybrid and correction vector fields: shapes, positivity, exact conservation."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import cellode as cd

NETWORK = cd.ReactionNetwork.from_text(
    """
    bind: R -> LR ; rate = kon*L*R
    unbind: LR -> R ; koff
    activate: LR + K -> LR + Kp ; kcat
    deactivate: Kp -> K ; kdp
    express: Kp -> Kp + G ; ktx
    degrade: G -> ; kdg
    """,
    parameters={"kon": 2.0, "koff": 0.5, "kcat": 5.0, "kdp": 1.0, "ktx": 0.5, "kdg": 0.1},
    inputs=["L"],
    initial={"R": 1.0, "K": 1.0},
)
DOSE = cd.PiecewiseConstant([2.0, 8.0], [0.0, 1.0, 0.0])


def test_neural_field_reads_state_inputs_and_time():
    field = cd.NeuralField(3, key=jr.key(0), width=8, depth=2, n_inputs=1, use_time=True)
    assert field.mlp.in_size == 5
    dx = field(0.5, jnp.ones(3), jnp.array([2.0]))
    assert dx.shape == (3,)
    with pytest.raises(cd.ModelError, match="reads 1 input"):
        field(0.0, jnp.ones(3), None)


def test_hybrid_keeps_known_rates_and_learns_the_rest():
    hybrid = cd.HybridRates.from_network(NETWORK, ["activate", "deactivate"], key=jr.key(1))
    mech = NETWORK.vector_field()
    x = jnp.array([0.6, 0.4, 0.7, 0.3, 1.2])
    u = jnp.array([1.0])
    v_h, v_m = hybrid.rates(0.0, x, u), mech.rates(0.0, x, u)
    known = [0, 1, 4, 5]
    np.testing.assert_allclose(v_h[np.array(known)], v_m[np.array(known)], rtol=1e-12)
    assert np.all(np.asarray(v_h) >= 0)
    # Known constants are fitted parameters on log scale; learned reactions' constants are gone.
    assert hybrid.known.network.parameter_names == ("kon", "koff", "ktx", "kdg")
    np.testing.assert_allclose(jnp.exp(hybrid.known.parameters), [2.0, 0.5, 0.5, 0.1])


def test_learned_rate_vanishes_without_its_reactant():
    hybrid = cd.HybridRates.from_network(NETWORK, ["activate", "deactivate"], key=jr.key(2))
    x = jnp.array([0.6, 0.4, 0.0, 0.3, 1.2])  # no inactive kinase K
    v = hybrid.rates(0.0, x, jnp.array([1.0]))
    assert float(v[2]) == 0.0  # activate needs LR and K
    assert float(v[3]) > 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hybrid_conserves_every_law_exactly_for_any_weights(seed):
    key_init, key_perturb = jr.split(jr.key(seed))
    hybrid = cd.HybridRates.from_network(NETWORK, ["activate", "deactivate"], key=key_init)
    # Random weights, far from any trained state.
    params, static = eqx.partition(hybrid, eqx.is_inexact_array)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jr.split(key_perturb, len(leaves))
    leaves = [leaf + jr.normal(k, leaf.shape) for leaf, k in zip(leaves, keys, strict=True)]
    hybrid = eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)
    x0 = jnp.asarray(NETWORK.x0())
    traj = cd.simulate(hybrid, x0, jnp.linspace(0, 10, 21), inputs=DOSE, rtol=1e-8, atol=1e-10)
    drift = cd.conservation_drift(NETWORK.conservation_laws(), traj.xs)
    assert float(jnp.max(drift)) < 1e-12
    assert np.all(np.asarray(traj.xs) > -1e-8)  # gated rates keep concentrations non-negative


def test_plain_neural_ode_does_not_conserve():
    field = cd.NeuralField(5, key=jr.key(3), width=16, depth=2, n_inputs=1)
    x0 = jnp.asarray(NETWORK.x0())
    traj = cd.simulate(field, x0, jnp.linspace(0, 10, 21), inputs=DOSE, solver="tsit5")
    drift = cd.conservation_drift(NETWORK.conservation_laws(), traj.xs)
    assert float(jnp.max(drift)) > 1e-3


def test_correction_starts_near_mechanistic_and_touches_only_its_species():
    mech = NETWORK.vector_field()
    ude = cd.Correction(mech, 5, key=jr.key(4), species_index=[4], n_inputs=1)
    x, u = jnp.array([0.6, 0.4, 0.7, 0.3, 1.2]), jnp.array([1.0])
    diff = ude(0.0, x, u) - mech(0.0, x, u)
    np.testing.assert_array_equal(diff[:4], 0.0)
    assert 0 < abs(float(diff[4])) < 0.1


def test_bad_hybrid_specifications_are_named():
    with pytest.raises(cd.ModelError, match=r"\['transcribe'\] are not in network"):
        cd.HybridRates.from_network(NETWORK, ["transcribe"], key=jr.key(0))
    with pytest.raises(cd.ModelError, match="positivity"):
        cd.NeuralRates(2, 1, key=jr.key(0), positivity="relu")
    with pytest.raises(cd.ModelError, match="species_index"):
        cd.Correction(NETWORK.vector_field(), 5, key=jr.key(0), species_index=[7])
