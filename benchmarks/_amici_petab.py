"""AMICI side of benchmarks/petab_timing.py; runs in a separate venv with AMICI installed.

    /work/amici-venv/bin/python benchmarks/_amici_petab.py MODEL_YAML BUILD_DIR [REPEATS]

Prints one JSON line: ``import_seconds`` (model import; it includes the compilation only when
BUILD_DIR holds no build yet) and, without sensitivities ("sim"), with forward and with adjoint
sensitivities, at the PEtab nominal parameters (atol = rtol = 1e-8, AMICI's benchmark settings),
the llh and two timings of one objective (+ gradient) evaluation:

* ``seconds_{label}``: median wall time of ``simulate_petab``, which redoes the PEtab parameter
  mapping and the ExpData objects in Python on every call;
* ``seconds_core_{label}``: median wall time of ``run_simulations`` alone, on ExpData objects
  created and parameterised once (AMICI's core time).

Checks of the core path against ``simulate_petab`` (gradients are w.r.t. the estimated parameters
on their parameter-table scale): ``llh_core_rel_diff`` and ``sllh_core_rel_diff`` (the largest
relative difference of the llh and of any gradient entry), ``core_matches_petab`` (both <= 1e-6),
``sllh_core_forward_adjoint_rel_diff`` and ``sllh_core_forward_adjoint_abs_diff`` (largest
entrywise difference of the forward and adjoint gradients) and ``nan_core_{label}`` (a failed
condition or a non-finite llh or gradient). Not imported by cellode.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import amici.sim.sundials as sim
import petab.v1 as petab
from amici.importers.petab.v1 import import_petab_problem
from amici.sim._parameter_mapping import ParameterMapping
from amici.sim.sundials.petab.v1 import create_edatas, fill_in_parameters, simulate_petab
from amici.sim.sundials.petab.v1._parameter_mapping import create_parameter_mapping

ATOL = RTOL = 1e-8
MAX_STEPS = 10_000
MATCH_RTOL = 1e-6
METHODS = {
    "sim": None,
    "forward": sim.SensitivityMethod.forward,
    "adjoint": sim.SensitivityMethod.adjoint,
}


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls of `fn` after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def rel_diff(a: float, b: float) -> float:
    """|a - b| relative to the larger magnitude (0 if both are 0)."""
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale > 0 else 0.0


def max_rel_diff(a: dict[str, float], b: dict[str, float]) -> float:
    """Largest entrywise `rel_diff` of two gradients with the same keys."""
    if a.keys() != b.keys():
        return math.inf
    return max((rel_diff(a[key], b[key]) for key in a), default=0.0)


def make_solver(model: sim.Model, method: sim.SensitivityMethod | None) -> sim.Solver:
    solver = model.create_solver()
    solver.set_absolute_tolerance(ATOL)
    solver.set_relative_tolerance(RTOL)
    solver.set_max_steps(MAX_STEPS)
    if method is not None:
        solver.set_sensitivity_order(sim.SensitivityOrder.first)
        solver.set_sensitivity_method(method)
    return solver


def core_gradient(
    model: sim.Model,
    mapping: ParameterMapping,
    edatas: Sequence[sim.ExpData],
    rdatas: Sequence[sim.ReturnDataView],
) -> dict[str, float]:
    """Sum of the conditions' sllh per estimated PEtab parameter (entry i of a condition's sllh is
    w.r.t. the model parameter edata.plist[i], which the mapping sends to a PEtab parameter)."""
    model_ids = model.get_free_parameter_ids()
    gradient: dict[str, float] = {}
    for condition, edata, rdata in zip(mapping, edatas, rdatas, strict=True):
        for index, value in zip(edata.plist, rdata.sllh, strict=True):
            petab_id = condition.map_sim_var[model_ids[index]]
            gradient[petab_id] = gradient.get(petab_id, 0.0) + float(value)
    return gradient


def main() -> None:
    yaml_path, build = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    problem = petab.Problem.from_yaml(yaml_path)
    started = time.perf_counter()
    model = import_petab_problem(problem, output_dir=build, compile_=None)
    out: dict[str, float | bool] = {"import_seconds": time.perf_counter() - started}

    # Core path: mapping and ExpData objects once, parameters (nominal values on the
    # parameter-table scale, as simulate_petab takes them by default) filled in once; with
    # scaled_parameters=True this also sets the ExpData pscale to the table's scales, so sllh
    # is w.r.t. the scaled parameters.
    conditions = problem.get_simulation_conditions_from_measurement_df()
    mapping = create_parameter_mapping(
        petab_problem=problem,
        simulation_conditions=conditions,
        scaled_parameters=True,
        amici_model=model,
    )
    free = mapping.free_symbols
    nominal = {
        par_id: value
        for par_id, value in zip(problem.x_ids, problem.get_x_nominal(scaled=True), strict=True)
        if par_id in free
    }
    edatas = create_edatas(
        amici_model=model, petab_problem=problem, simulation_conditions=conditions
    )
    fill_in_parameters(
        edatas=edatas,
        problem_parameters=nominal,
        scaled_parameters=True,
        parameter_mapping=mapping,
        amici_model=model,
    )

    llh_diffs, sllh_diffs, core_gradients = [], [], {}
    for label, method in METHODS.items():
        solver = make_solver(model, method)

        def run_petab(solver: sim.Solver = solver) -> dict:
            return simulate_petab(
                problem,
                amici_model=model,
                solver=solver,
                scaled_parameters=True,
                scaled_gradients=True,
            )

        def run_core(solver: sim.Solver = solver) -> list[sim.ReturnDataView]:
            return sim.run_simulations(model, solver, edatas)

        result = run_petab()
        out[f"llh_{label}"] = float(result["llh"])
        out[f"seconds_{label}"] = timed(run_petab, repeats)

        rdatas = run_core()
        llh = sum(float(rdata.llh) for rdata in rdatas)
        failed = any(rdata.status != sim.AMICI_SUCCESS for rdata in rdatas)
        out[f"llh_core_{label}"] = llh
        out[f"seconds_core_{label}"] = timed(run_core, repeats)
        llh_diffs.append(rel_diff(llh, out[f"llh_{label}"]))
        finite = math.isfinite(llh)
        if method is not None:
            gradient = core_gradient(model, mapping, edatas, rdatas)
            core_gradients[label] = gradient
            finite = finite and all(map(math.isfinite, gradient.values()))
            sllh_diffs.append(max_rel_diff(gradient, result["sllh"] or {}))
        out[f"nan_core_{label}"] = failed or not finite

    out["llh_core_rel_diff"] = max(llh_diffs)
    out["sllh_core_rel_diff"] = max(sllh_diffs)
    out["core_matches_petab"] = max(llh_diffs + sllh_diffs) <= MATCH_RTOL
    forward, adjoint = core_gradients["forward"], core_gradients["adjoint"]
    out["sllh_core_forward_adjoint_rel_diff"] = max_rel_diff(forward, adjoint)
    out["sllh_core_forward_adjoint_abs_diff"] = max(
        (abs(forward[key] - adjoint.get(key, math.nan)) for key in forward), default=0.0
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
