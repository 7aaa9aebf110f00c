"""Fastest and median wall time of one PEtab objective call, and forward vs adjoint gradients.

    PYTHONPATH=src python benchmarks/petab_calls.py [--calls 30] [MODEL ...]

For each model at its nominal parameters: the fastest and the median of `--calls` timed calls
(after a first, compiling call) of nllh, of nllh + gradient by the checkpointed adjoint and by
forward sensitivities, in ms; and the two gradients' largest relative difference and the ratio
adjoint / forward of every entry (a ratio that is the same in every entry means the same
direction, a different length). Where the objective is a sum of squares, also the residual
Jacobian (`residuals_and_jacobian`) in forward mode (what it uses with no more parameters than
measurements) and in reverse mode through the adjoint: first (compiling) call in s, fastest and
median call in ms, and the two matrices' largest relative difference. Prints one JSON line.
For before/after comparisons run it alternately with `PYTHONPATH=<other checkout>/src`: on a
noisy machine the fastest call is the steadiest statistic.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import jax
import numpy as np

from _timing import block, first_call_seconds

MODELS = ["Boehm_JProteomeRes2014", "Crauste_CellSystems2017"]


def fastest_and_median_ms(fn, calls: int) -> tuple[float, float]:
    block(fn())
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        block(fn())
        samples.append(1e3 * (time.perf_counter() - start))
    return round(min(samples), 2), round(statistics.median(samples), 2)


def objective_calls(cellode, problem) -> dict:
    """nllh and nllh + gradient (checkpointed adjoint, forward) at the nominal parameters."""
    forward = problem.with_sensitivity(cellode.ForwardSensitivity())
    theta = np.asarray(problem.nominal_theta)
    return {
        "nllh": lambda: problem.nllh(theta),
        "adjoint": lambda: problem.nllh_and_gradient(theta),
        "forward": lambda: forward.nllh_and_gradient(theta),
    }


def measure(cellode, problem, calls: int) -> dict:
    """Call times and the forward/adjoint gradient comparison at the nominal parameters."""
    functions = objective_calls(cellode, problem)
    out = {label: fastest_and_median_ms(fn, calls) for label, fn in functions.items()}
    g_adj = np.asarray(functions["adjoint"]()[1])
    g_fwd = np.asarray(functions["forward"]()[1])
    scale = np.maximum(np.abs(g_fwd), 1e-12)
    out["gradient max rel diff"] = float(np.max(np.abs(g_adj - g_fwd) / scale))
    out["adjoint / forward"] = [round(float(r), 3) for r in g_adj / g_fwd]
    if problem.least_squares_form is None:
        out |= jacobians(cellode, problem, np.asarray(problem.nominal_theta), calls)
    return out


def jacobians(cellode, problem, theta, calls: int) -> dict:
    """The residual Jacobian in forward mode and in reverse mode through the adjoint."""
    from cellode._petab.problem import _residuals_and_jacobian

    objective, theta = problem._objective, jax.numpy.asarray(theta)
    modes = {"forward": cellode.ForwardSensitivity(), "reverse": cellode.CheckpointedAdjoint()}
    out, matrices = {}, {}
    for label, sensitivity in modes.items():

        def call(sensitivity=sensitivity):
            return _residuals_and_jacobian(objective, theta, sensitivity)

        out[f"jacobian {label} first call s"] = round(first_call_seconds(call), 2)
        matrices[label] = np.asarray(call()[2])
        out[f"jacobian {label} ms"] = fastest_and_median_ms(call, calls)
    scale = np.max(np.abs(matrices["reverse"]))
    out["jacobian max rel diff"] = float(
        np.max(np.abs(matrices["forward"] - matrices["reverse"])) / scale
    )
    out["jacobian shape"] = list(matrices["forward"].shape)
    return out


def main() -> None:
    jax.config.update("jax_enable_x64", True)
    import cellode

    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=MODELS)
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    data = Path(os.environ.get("CELLODE_SHARED_DATA", root.parent / "shared" / "data"))
    out = {
        name: measure(
            cellode,
            cellode.load_petab(data / "petab" / "benchmark" / name / f"{name}.yaml"),
            args.calls,
        )
        for name in args.models
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
