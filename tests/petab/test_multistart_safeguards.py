"""fit_petab's safeguards against failed solves, on a problem whose objective fails in a region.

The objective is a quadratic with its minimum at theta* = (1, -2) that, like a stiff model at
random parameters, returns a non-finite value wherever theta_0 > 2.5 (a third of the box).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cellode import PetabError, fit_petab

OPTIMUM = np.array([1.0, -2.0])


class FailingQuadratic:
    """|theta - theta*|^2 = 1/2 |sqrt(2) (theta - theta*)|^2, failing where theta_0 > 2.5."""

    parameter_ids = ("a", "b")
    bounds = (np.array([-3.0, -4.0]), np.array([5.0, 4.0]))
    nominal_theta = np.array([0.0, 0.0])
    least_squares_form = None

    def residuals(self, theta):
        theta = np.asarray(theta, dtype=float)
        if theta[0] > 2.5:
            return np.full(2, np.inf)
        return math.sqrt(2.0) * (theta - OPTIMUM)

    def residuals_and_jacobian(self, theta):
        return self.residuals(theta), math.sqrt(2.0) * np.eye(2)

    def objective(self, theta):
        r = self.residuals(theta)
        return 0.5 * float(r @ r)

    def objective_and_gradient(self, theta):
        theta = np.asarray(theta, dtype=float)
        if theta[0] > 2.5:
            return math.inf, np.full(2, np.nan)
        d = theta - OPTIMUM
        return float(d @ d), 2.0 * d


@pytest.mark.parametrize("method", ["trust-region", "lbfgsb", "fides", "fides-hybrid"])
def test_failing_starts_are_resampled_and_every_fit_reaches_the_optimum(method):
    problem = FailingQuadratic()
    result = fit_petab(problem, n_starts=12, seed=3, method=method)
    assert len(result.fits) == 12
    assert all(f.method == method for f in result.fits)
    # Latin-hypercube starts cover the failing third of the box: some were replaced.
    assert sum(f.resampled for f in result.fits) >= 1
    for fit in result.fits:
        assert fit.start[0] <= 2.5  # every start the optimiser saw was feasible
        np.testing.assert_allclose(fit.theta, OPTIMUM, atol=1e-6)
        assert fit.value < 1e-10


def test_a_problem_that_fails_everywhere_reports_infinite_values():
    class Broken(FailingQuadratic):
        def objective(self, theta):
            return math.inf

    result = fit_petab(Broken(), n_starts=2, seed=0, resample=3)
    assert all(f.resampled == 3 for f in result.fits)
    assert np.all(np.isinf(result.values))


def test_multistart_in_worker_processes_equals_the_serial_one():
    """The problem travels to two spawned worker processes once; each start's fit, including the
    redraws of its failing starts, depends only on the seed and the start's index."""
    problem = FailingQuadratic()
    serial = fit_petab(problem, n_starts=6, seed=3, method="fides")
    seen = []
    parallel = fit_petab(
        problem,
        n_starts=6,
        seed=3,
        method="fides",
        executor="processes",
        workers=2,
        progress=lambda i, fit: seen.append(i),
    )
    assert sorted(seen) == list(range(6))
    assert sum(f.resampled for f in serial.fits) >= 1  # some starts fell in the failing third
    by_index = sorted(parallel.fits, key=lambda f: f.index)
    for a, b in zip(sorted(serial.fits, key=lambda f: f.index), by_index, strict=True):
        np.testing.assert_array_equal(a.start, b.start)
        assert a.resampled == b.resampled
        np.testing.assert_array_equal(a.theta, b.theta)
        assert a.iterations == b.iterations


def test_an_unknown_executor_is_refused():
    with pytest.raises(PetabError, match="executor must be one of serial, processes"):
        fit_petab(FailingQuadratic(), n_starts=1, executor="ray")
