"""SBML events inside the PEtab objective: values and gradients through state-dependent
event times, against the closed-form solution."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellode

from ..sbml.builder import SbmlBuilder

TIMES = (0.5, 2.0, 3.0, 5.0)
VALUES = (0.8, 0.9, 0.5, 0.7)
SIGMA = 0.1
THETA = (0.5, 1.0)  # k, b


def write_problem(folder: Path, times=TIMES, delay: str | None = None) -> Path:
    """X' = -k X, X(0) = 1; event `refill`: when X < 1/2, X = X + b. From THETA the event
    fires at t1 = ln 2 / k and t2 = t1 + ln(1 + 2b) / k, between the measurements."""
    model = (
        SbmlBuilder()
        .compartment("C", 1.0)
        .species("X", "C", amount=1.0)
        .parameter("k", 0.5)
        .parameter("b", 1.0)
        .reaction("decay", {"X": 1}, {}, "k * X")
        .event("refill", "X < 0.5", "X", "X + b", delay=delay)
        .text()
    )
    (folder / "model.xml").write_text(model)
    (folder / "conditions.tsv").write_text("conditionId\nc0\n")
    (folder / "observables.tsv").write_text(
        f"observableId\tobservableFormula\tnoiseFormula\nobs_x\tX\t{SIGMA}\n"
    )
    rows = "".join(f"obs_x\tc0\t{t}\t{m}\n" for t, m in zip(times, VALUES, strict=False))
    (folder / "measurements.tsv").write_text(
        "observableId\tsimulationConditionId\ttime\tmeasurement\n" + rows
    )
    (folder / "parameters.tsv").write_text(
        "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\n"
        f"k\tlin\t0.1\t2\t{THETA[0]}\t1\nb\tlin\t0.1\t5\t{THETA[1]}\t1\n"
    )
    (folder / "problem.yaml").write_text(
        "format_version: 1\nparameter_file: parameters.tsv\nproblems:\n"
        "- condition_files: [conditions.tsv]\n  measurement_files: [measurements.tsv]\n"
        "  observable_files: [observables.tsv]\n  sbml_files: [model.xml]\n"
    )
    return folder / "problem.yaml"


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


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    path = write_problem(tmp_path_factory.mktemp("events"))
    return cellode.load_petab(path, rtol=1e-10, atol=1e-10, max_event_stops=2)


def test_events_fire_at_state_dependent_times(problem):
    theta = jnp.asarray(THETA)
    expected = closed_form_nllh(theta)
    assert problem.nllh(theta) == pytest.approx(float(expected), abs=1e-6)
    # The event must matter: without it X(5) = e^-2.5 and the nllh is far off.
    m = np.asarray(VALUES)
    no_event = np.sum(0.5 * ((m - np.exp(-0.5 * np.asarray(TIMES))) / SIGMA) ** 2)
    assert abs(float(expected) - no_event) > 10.0


@pytest.mark.parametrize("sensitivity", ["forward", "adjoint"])
def test_gradient_carries_the_event_times(problem, sensitivity):
    """d nllh / d(k, b) includes dt*/dtheta from the implicit function theorem: the closed
    form's gradient differs from one with the event times held fixed."""
    theta = jnp.asarray(THETA)
    expected = jax.grad(closed_form_nllh)(theta)
    if sensitivity == "forward":
        problem = problem.with_sensitivity(cellode.ForwardSensitivity())
    _, grad = problem.nllh_and_gradient(theta)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-5)
    frozen = jax.grad(lambda th: closed_form_nllh(th, fixed_event_times=True))(theta)
    assert np.max(np.abs(np.asarray(frozen - expected))) > 1.0


def test_more_firings_than_the_budget_give_an_infinite_objective(tmp_path):
    """By default a solve has room for one firing per event; X < 1/2 happens twice before
    t = 5, so the objective fails loudly rather than missing the second refill."""
    problem = cellode.load_petab(write_problem(tmp_path))
    assert not np.isfinite(float(problem.nllh(jnp.asarray(THETA))))
    (tmp_path / "early").mkdir()
    early = cellode.load_petab(write_problem(tmp_path / "early", times=TIMES[:3]))
    assert float(early.nllh(jnp.asarray(THETA))) == pytest.approx(
        float(closed_form_nllh(jnp.asarray(THETA), TIMES[:3])), abs=1e-5
    )


def test_delayed_events_are_refused_by_id(tmp_path):
    with pytest.raises(cellode.InputError, match=r"'refill'.*delay"):
        cellode.load_petab(write_problem(tmp_path, delay="1"))
