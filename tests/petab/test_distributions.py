"""PEtab v2 priors: the test suite's log densities, truncation to the bounds, errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from cellode._petab.distributions import TruncatedPrior
from cellode._petab.errors import PetabError

INF = math.inf
# name: (kind, parameters, (bounds of case 0025), log p(5) in case 0024 [0, 10], in case 0025)
PRIORS = {
    "uniform": ("uniform", (2, 8), (2, 8), -1.79175946922805, -1.79175946922805),
    "normal": ("normal", (4, 2), (-INF, INF), -1.71269052620973, -1.73708571376462),
    "log-normal": ("log-normal", (5, 2), (0, INF), -2.23619159741645, -4.65851253490362),
    "cauchy": ("cauchy", (3, 5), (-INF, INF), -2.15728237835358, -2.90258780340177),
    "chisquare": ("chisquare", (4,), (0, INF), -2.23558885282238, -2.27685644868579),
    "exponential": ("exponential", (3,), (0, INF), -2.72895309496787, -2.76527895533478),
    "gamma": ("gamma", (3, 5), (0, INF), -2.17348344324312, -3.30258509299405),
    "laplace": ("laplace", (3, 5), (-INF, INF), -2.19557833470717, -2.70258509299405),
    "log-laplace": ("log-laplace", (3, 5), (0, INF), -3.35750526098019, -4.19013542294133),
    "log-uniform": ("log-uniform", (3, 5), (3, 5), -0.93771092034198, -0.93771092034198),
    "rayleigh": ("rayleigh", (3,), (0, INF), -1.9728021416671, -1.97667555379101),
}


@pytest.mark.parametrize("name", list(PRIORS))
def test_log_density_equals_the_suites_value_truncated_and_not(name):
    kind, q, bounds, truncated, untruncated = PRIORS[name]
    at5 = jnp.asarray(5.0)
    got = -float(TruncatedPrior.from_table(kind, q, 0.0, 10.0, "t").neg_log_density(at5))
    assert got == pytest.approx(truncated, rel=1e-12, abs=1e-13)
    got = -float(TruncatedPrior.from_table(kind, q, *bounds, "t").neg_log_density(at5))
    assert got == pytest.approx(untruncated, rel=1e-12, abs=1e-13)


def test_implicit_uniform_prior_on_the_bounds():
    prior = TruncatedPrior.from_table("uniform", (0.0, 2.0), 0.0, 2.0, "t")
    assert -float(prior.neg_log_density(jnp.asarray(1.0))) == pytest.approx(-math.log(2))
    assert float(prior.neg_log_density(jnp.asarray(2.5))) == math.inf


@pytest.mark.parametrize("name", ["normal", "gamma", "log-laplace", "cauchy", "rayleigh"])
def test_truncated_density_integrates_to_one_over_the_bounds(name):
    kind, q, *_ = PRIORS[name]
    prior = TruncatedPrior.from_table(kind, q, 1.0, 7.0, "t")
    density = jax.jit(lambda x: jnp.exp(-prior.neg_log_density(x)))
    mass, _ = quad(lambda x: float(density(jnp.asarray(x))), 1.0, 7.0)
    assert mass == pytest.approx(1.0, abs=1e-10)
    assert float(density(jnp.asarray(0.5))) == 0.0


@pytest.mark.parametrize("name", list(PRIORS))
def test_gradient_is_finite_inside_the_support(name):
    kind, q, bounds, *_ = PRIORS[name]
    prior = TruncatedPrior.from_table(kind, q, *bounds, "t")
    grad = jax.grad(prior.neg_log_density)(jnp.asarray(4.5))
    assert np.isfinite(float(grad))


def test_bad_priors_are_named():
    with pytest.raises(PetabError, match=r"row 3.*'weibull'"):
        TruncatedPrior.from_table("weibull", (1.0,), 0.0, 1.0, "file p.tsv, row 3")
    with pytest.raises(PetabError, match="gamma prior takes 2"):
        TruncatedPrior.from_table("gamma", (1.0,), 0.0, 1.0, "file p.tsv, row 3")
