"""Experiments, observables, noise models and the tidy measurement CSV."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import cellode as cd

SPECIES = ["A", "B", "C"]


def test_observables_from_expressions_with_parameters():
    obs = cd.Observables.from_expressions(
        {"total": "A + B + C", "scaled": "scale * B + offset"},
        species=SPECIES,
        parameters={"scale": 2.0, "offset": 0.5},
    )
    np.testing.assert_allclose(obs(jnp.array([1.0, 2.0, 3.0])), [6.0, 4.5])
    assert obs.values == {"scale": 2.0, "offset": 0.5}


def test_observable_errors_name_the_unknown_names():
    with pytest.raises(cd.ModelError, match=r"'pB' = 'k \* B' uses \['k'\]"):
        cd.Observables.from_expressions({"pB": "k * B"}, species=SPECIES)
    with pytest.raises(cd.ModelError):
        cd.Observables.from_expressions({"x": "__import__('os')"}, species=SPECIES)


def test_gaussian_nllh_matches_scipy_and_ignores_missing_values():
    rng = np.random.default_rng(0)
    y, yhat = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    mask = np.ones((5, 2), bool)
    mask[2, 1] = False
    noise = cd.Gaussian([0.3, 0.7])
    expected = -scipy.stats.norm(yhat, [0.3, 0.7]).logpdf(y)[mask].sum()
    got = noise.nllh(jnp.asarray(y), jnp.asarray(yhat), jnp.asarray(mask), None)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_data_sigma_overrides_where_given():
    y, yhat = jnp.array([[1.0, 2.0]]), jnp.array([[0.0, 0.0]])
    sigma = jnp.array([[0.5, jnp.nan]])
    noise = cd.Gaussian(1.0, use_data_sigma=True)
    expected = -scipy.stats.norm(0, 0.5).logpdf(1.0) - scipy.stats.norm(0, 1.0).logpdf(2.0)
    got = noise.nllh(y, yhat, jnp.ones((1, 2), bool), sigma)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_full_covariance_uses_the_marginal_of_observed_entries():
    cov = np.array([[1.0, 0.5, 0.2], [0.5, 2.0, 0.3], [0.2, 0.3, 1.5]])
    noise = cd.GaussianFull(cov)
    np.testing.assert_allclose(noise.covariance, cov, rtol=1e-12)
    y, yhat = np.array([[0.3, -1.0, 2.0]]), np.zeros((1, 3))
    mask = np.array([[True, False, True]])
    keep = [0, 2]
    expected = -scipy.stats.multivariate_normal(np.zeros(2), cov[np.ix_(keep, keep)]).logpdf(
        y[0, keep]
    )
    got = noise.nllh(jnp.asarray(y), jnp.asarray(yhat), jnp.asarray(mask), None)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_lognormal_nllh_matches_scipy():
    y, yhat = np.array([[1.5, 0.2]]), np.array([[1.0, 0.3]])
    noise = cd.LogNormal(0.25)
    expected = -scipy.stats.lognorm(s=0.25, scale=yhat).logpdf(y).sum()
    got = noise.nllh(jnp.asarray(y), jnp.asarray(yhat), jnp.ones((1, 2), bool), None)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_experiment_validation():
    with pytest.raises(cd.InputError, match="strictly increasing"):
        cd.Experiment([0.0, 2.0, 1.0], np.ones((3, 1)), name="bad")
    with pytest.raises(cd.InputError, match="one row per time"):
        cd.Experiment([0.0, 1.0], np.ones((3, 1)))
    exp = cd.Experiment([0.0, 1.0], [[1.0, np.nan], [2.0, 3.0]])
    assert exp.n_observations == 3


def _write(path, text):
    path.write_text(text)
    return path


def test_measurement_csv_round_trip(tmp_path):
    exps = [
        cd.Experiment([1.0, 2.0], [[1.0, np.nan], [2.0, 3.0]], name="e1"),
        cd.Experiment([0.5], [[4.0, 5.0]], sigma=[[0.1, 0.2]], name="e2"),
    ]
    path = cd.write_measurements(tmp_path / "m.csv", exps, ["A", "B"])
    back = cd.read_measurements(path, ["A", "B"])
    assert [e.name for e in back] == ["e1", "e2"]
    np.testing.assert_array_equal(back[0].mask, [[True, False], [True, True]])
    np.testing.assert_allclose(back[0].y[1], [2.0, 3.0])
    np.testing.assert_allclose(back[1].sigma, [[0.1, 0.2]])


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ("e1,1.0,Z,2.0\n", r"line 3: unknown observable 'Z'; known observables: A, B"),
        ("e1,1.0,A,high\n", r"line 3: value 'high' is not a number"),
        ("e1,-1.0,A,2.0\n", r"line 3: time '-1.0' must be finite and non-negative"),
        ("e1,0.0,A,2.0\n", r"line 3: duplicate measurement of 'A' at time 0"),
        ("e1,1.0,A,2.0,-0.1\n", r"line 3: sigma '-0.1' must be positive"),
    ],
)
def test_bad_measurement_rows_name_the_line(tmp_path, rows, match):
    header = "experiment,time,observable,value,sigma\n"
    path = _write(tmp_path / "bad.csv", header + "e1,0.0,A,1.0,\n" + rows)
    with pytest.raises(cd.InputError, match=match):
        cd.read_measurements(path, ["A", "B"])


def test_missing_columns_and_missing_file(tmp_path):
    path = _write(tmp_path / "cols.csv", "experiment,time,value\ne1,0,1\n")
    with pytest.raises(cd.InputError, match=r"missing column\(s\) \['observable'\]"):
        cd.read_measurements(path, ["A"])
    with pytest.raises(cd.InputError, match="does not exist"):
        cd.read_measurements(tmp_path / "none.csv", ["A"])
