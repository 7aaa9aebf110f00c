"""AMICI side of benchmarks/petab_timing.py; runs in a separate venv with AMICI installed
(`/work/amici-venv/bin/python benchmarks/_amici_petab.py MODEL_YAML BUILD_DIR`), prints one JSON
line: llh and the median wall time of simulate_petab without sensitivities, with forward and with
adjoint sensitivities (atol = rtol = 1e-8, AMICI's benchmark settings). Not imported by cellode."""

from __future__ import annotations

import json
import statistics
import sys
import time

import amici.sim.sundials as sim
import petab.v1 as petab
from amici.importers.petab.v1 import import_petab_problem
from amici.sim.sundials.petab.v1 import simulate_petab


def timed(fn, repeats):
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    yaml_path, build = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    problem = petab.Problem.from_yaml(yaml_path)
    started = time.perf_counter()
    model = import_petab_problem(problem, output_dir=build, compile_=None)
    import_seconds = time.perf_counter() - started
    out = {"import_seconds": import_seconds}
    for label, method in (
        ("sim", None),
        ("forward", sim.SensitivityMethod.forward),
        ("adjoint", sim.SensitivityMethod.adjoint),
    ):
        solver = model.create_solver()
        solver.set_absolute_tolerance(1e-8)
        solver.set_relative_tolerance(1e-8)
        solver.set_max_steps(10_000)
        if method is not None:
            solver.set_sensitivity_order(sim.SensitivityOrder.first)
            solver.set_sensitivity_method(method)

        def run(solver=solver):
            return simulate_petab(
                problem,
                amici_model=model,
                solver=solver,
                scaled_parameters=True,
                scaled_gradients=True,
            )

        result = run()
        out[f"llh_{label}"] = float(result["llh"])
        out[f"seconds_{label}"] = timed(run, repeats)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
