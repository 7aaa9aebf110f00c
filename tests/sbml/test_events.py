"""Events with known solutions: a reset at a time, a delayed switch, values from trigger time."""

from __future__ import annotations

import numpy as np
import pytest

from cellode import SbmlError, load_sbml, simulate_sbml

from .builder import SbmlBuilder


def decay_with_events() -> str:
    """X' = -k X, X(0) = 1, k = 1. E1: at t = 1 set X = 10 (reset). E2: when X < 2 after the
    reset (first at t = 1 + ln 5), after a delay of 0.5 set k to the value k had at the
    trigger time times 0 + 0.25, computed at the trigger time."""
    return (
        SbmlBuilder()
        .compartment("C", 1.0)
        .species("X", "C", amount=1.0)
        .parameter("k", 1.0, constant=False)
        .reaction("decay", {"X": 1}, {}, "k * X")
        .event("E1", "time >= 1", "X", "10")
        .event("E2", "X < 2 && time > 1", "k", "k / 4", delay="0.5")
        .text()
    )


@pytest.fixture(scope="module")
def run():
    model = load_sbml(decay_with_events(), allow_events=True)
    ts = np.linspace(0.0, 4.0, 41)
    xs, ok = simulate_sbml(model, ts, rtol=1e-10, atol=1e-12)
    assert ok
    return model, ts, xs


def test_events_are_refused_unless_allowed():
    with pytest.raises(SbmlError, match="event 'E1'"):
        load_sbml(decay_with_events())


def test_reset_and_delayed_switch_follow_the_analytic_solution(run):
    model, ts, xs = run
    assert model.state_ids == ("X", "k")  # an event target becomes a state
    t_trig = 1.0 + np.log(5.0)  # 10 e^-(t-1) = 2
    t_run = t_trig + 0.5
    x_run = 10.0 * np.exp(-(t_run - 1.0))
    expected = np.where(
        ts < 1.0,
        np.exp(-ts),
        np.where(ts < t_run, 10.0 * np.exp(-(ts - 1.0)), x_run * np.exp(-0.25 * (ts - t_run))),
    )
    np.testing.assert_allclose(xs[:, 0], expected, rtol=1e-7)
    np.testing.assert_allclose(xs[ts >= t_run, 1], 0.25)
    # The output at t = 1 shows the value after the event.
    np.testing.assert_allclose(xs[10, 0], 10.0)
