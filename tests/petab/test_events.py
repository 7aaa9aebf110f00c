"""SBML events inside the PEtab objective: values and gradients through state-dependent
event times, against the closed-form solution, in a batch whose members fire at different
times."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode
from cellode._examples.refill import SIGMA, THETA, TIMES, VALUES, write_refill_problem


def write_problem(folder: Path, delay: str | None = None) -> Path:
    """The refill problem (`cellode._examples.refill`), optionally with a delayed event."""
    path = write_refill_problem(folder)
    if delay is not None:
        model = folder / "model.xml"
        delayed = f"<delay><math xmlns='http://www.w3.org/1998/Math/MathML'><cn>{delay}</cn>"
        model.write_text(model.read_text().replace("<trigger", delayed + "</math></delay><trigger"))
    return path


def closed_form_nllh(theta, times=TIMES, fixed_event_times=False):
    """-log L from the exact event-driven solution (differentiable in k and b); with
    `fixed_event_times` the event times do not move with theta (a wrong gradient)."""
    k, b = theta[0], theta[1]
    t1 = jnp.log(2.0) / k
    t2 = t1 + jnp.log(1.0 + 2.0 * b) / k
    if fixed_event_times:
        t1, t2 = jax.lax.stop_gradient(t1), jax.lax.stop_gradient(t2)
    ts = jnp.asarray(times)
    after = (0.5 + b) * jnp.exp(-k * (ts - t1))
    after2 = (0.5 + b) * jnp.exp(-k * (ts - t2))
    x = jnp.where(ts < t1, jnp.exp(-k * ts), jnp.where(ts < t2, after, after2))
    m = jnp.asarray(VALUES[: len(times)])
    return jnp.sum(0.5 * ((m - x) / SIGMA) ** 2 + jnp.log(jnp.sqrt(2 * jnp.pi) * SIGMA))


K_FAST = 0.8
FAST_TIMES = TIMES[:3]  # the second refill of the fast condition is at t = 2.24


def write_two_conditions(folder: Path) -> Path:
    """The refill problem under two conditions, simulated as one vmapped batch whose members
    fire at different times: c0 with k, c1 with k_fast; theta = (k, b, k_fast)."""
    path = write_problem(folder)
    (folder / "conditions.tsv").write_text("conditionId\tkd\nc0\tkd\nc1\tkd_fast\n")
    rows = [("c0", t, m) for t, m in zip(TIMES, VALUES, strict=True)]
    rows += [("c1", t, m) for t, m in zip(FAST_TIMES, VALUES, strict=False)]
    (folder / "measurements.tsv").write_text(
        "observableId\tsimulationConditionId\ttime\tmeasurement\n"
        + "".join(f"obs_x\t{c}\t{t}\t{m}\n" for c, t, m in rows)
    )
    with (folder / "parameters.tsv").open("a") as table:
        table.write(f"kd_fast\tlin\t0.1\t2\t{K_FAST}\t1\n")
    return path


def two_conditions_nllh(theta, fixed_event_times=False):
    k, b, k_fast = theta
    slow = closed_form_nllh(jnp.stack([k, b]), TIMES, fixed_event_times)
    fast = closed_form_nllh(jnp.stack([k_fast, b]), FAST_TIMES, fixed_event_times)
    return slow + fast


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    path = write_two_conditions(tmp_path_factory.mktemp("events"))
    return cellode.load_petab(path, rtol=1e-10, atol=1e-10, max_event_stops=2)


THETA3 = (*THETA, K_FAST)


def test_events_fire_at_state_dependent_times(problem):
    theta = jnp.asarray(THETA3)
    expected = two_conditions_nllh(theta)
    assert problem.nllh(theta) == pytest.approx(float(expected), abs=1e-6)
    # The event must matter: without it X(5) = e^-2.5 and the nllh is far off.
    m = np.asarray(VALUES)
    no_event = np.sum(0.5 * ((m - np.exp(-0.5 * np.asarray(TIMES))) / SIGMA) ** 2)
    assert abs(float(closed_form_nllh(jnp.asarray(THETA))) - no_event) > 10.0


@pytest.mark.parametrize("sensitivity", ["forward", "adjoint"])
def test_gradient_carries_the_event_times(problem, sensitivity):
    """d nllh / d(k, b, k_fast) includes dt*/dtheta from the implicit function theorem: the
    closed form's gradient differs from one with the event times held fixed."""
    theta = jnp.asarray(THETA3)
    expected = jax.grad(two_conditions_nllh)(theta)
    if sensitivity == "forward":
        problem = problem.with_sensitivity(cellode.ForwardSensitivity())
    _, grad = problem.nllh_and_gradient(theta)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-5)
    frozen = jax.grad(lambda th: two_conditions_nllh(th, fixed_event_times=True))(theta)
    assert np.max(np.abs(np.asarray(frozen - expected))) > 1.0


def test_more_firings_than_the_budget_give_an_infinite_objective(tmp_path):
    """By default a solve has room for one firing per event; X < 1/2 happens twice before
    t = 5, so the objective fails loudly rather than missing the second refill (room for two
    firings gives the closed form: `problem`)."""
    problem = cellode.load_petab(write_problem(tmp_path))
    assert not np.isfinite(float(problem.nllh(jnp.asarray(THETA))))


def test_delayed_events_are_refused_by_id(tmp_path):
    with pytest.raises(cellode.InputError, match=r"'refill'.*delay"):
        cellode.load_petab(write_problem(tmp_path, delay="1"))
