"""CPU kernel launches of one PEtab objective call: the machine-independent cost of small models.

    PYTHONPATH=src python benchmarks/petab_kernels.py [--calls 3] [MODEL ...]

For the small systems of cell models, a solver step costs what its XLA kernels cost to launch
(about 0.1 us each on the CPU), not their arithmetic. This script records `--calls` calls of
nllh, of nllh + gradient by forward sensitivities and by the checkpointed adjoint under the JAX
profiler (after a first, compiling call) and counts the kernels (XLA:CPU thunks) executed per
call; for nllh also the LU factorisations per call (one per Rodas5P step) and the kernels per
step. Unlike a wall time the count is the same on a busy machine, so it compares
two versions of the code exactly. Prints one JSON line per model.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

from _timing import block
from petab_calls import objective_calls

MODELS = ["Boehm_JProteomeRes2014", "Crauste_CellSystems2017"]
# Trace events that are not kernels: Python frames ($...), end markers, runtime wrappers.
NOT_KERNELS = ("$", "end:", "Thread", "ThunkExecutor", "Pjit", "Common")


def kernel_counts(fn, calls: int) -> tuple[float, float]:
    """(kernels per call, LU factorisations per call) of `fn()`."""
    block(fn())
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            for _ in range(calls):
                block(fn())
        (trace,) = Path(folder).rglob("*.trace.json.gz")
        with gzip.open(trace) as handle:
            events = json.load(handle)["traceEvents"]
    names = collections.Counter(
        e["name"] for e in events if e.get("ph") == "X" and not e["name"].startswith(NOT_KERNELS)
    )
    lu = sum(n for name, n in names.items() if name.split(".")[0] == "lu")
    return sum(names.values()) / calls, lu / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=MODELS)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    import cellode

    root = Path(os.environ.get("CELLODE_SHARED_DATA", "../shared/data")) / "petab" / "benchmark"
    for name in args.models:
        problem = cellode.load_petab(root / name / f"{name}.yaml")
        print(json.dumps({"model": name} | measure(cellode, problem, args.calls)), flush=True)


def measure(cellode, problem, calls: int) -> dict:
    """Kernels per call of nllh and of its forward and adjoint gradients, nominal parameters."""
    theta = np.asarray(problem.nominal_theta)
    functions = objective_calls(cellode, problem)
    out = {"nllh": float(problem.nllh(theta))}
    for label, fn in functions.items():
        per_call, steps = kernel_counts(fn, calls)
        out[f"{label} kernels/call"] = round(per_call)
        if label == "nllh":
            out["nllh steps"] = round(steps)
            out["nllh kernels/step"] = round(per_call / steps, 1)
    return out


if __name__ == "__main__":
    main()
