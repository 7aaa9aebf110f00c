"""PEtab benchmark problems: compile time and time of one objective (+ gradient) evaluation.

    PYTHONPATH=src python benchmarks/petab_timing.py [--amici /work/amici-venv/bin/python] [MODEL ...]

MODEL is a benchmark-collection name, or `refill`: cellode's own problem with an SBML event
whose firing times depend on the parameters (`cellode._examples.refill`, written to a temporary
folder; run it with `--forward refill` for forward sensitivities).

For each model: -log L at the nominal parameters, first-call (compile + run) and median times of
nllh, of nllh + gradient by the checkpointed adjoint, and by forward sensitivities (only for the
models in --forward, default Boehm and Crauste). With --amici, AMICI runs the
same problem in that Python (benchmarks/_amici_petab.py, same machine, same run) at
atol = rtol = 1e-8: its `simulate_petab` (PEtab mapping in Python on every call) and its core
`run_simulations` on prepared ExpData; the ratios cellode / AMICI core are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import jax

from _timing import block, first_call_seconds, median_seconds

LABELS = ("sim", "forward", "adjoint")  # AMICI runs: no, forward, adjoint sensitivities
MODELS = [
    "Boehm_JProteomeRes2014",
    "Crauste_CellSystems2017",
    "Fujita_SciSignal2010",
    "Weber_BMC2015",
    "Zheng_PNAS2012",
    "Bachmann_MSB2011",
]


def amici_times(python: str, yaml_path: Path, build: Path) -> dict | None:
    script = Path(__file__).resolve().parent / "_amici_petab.py"
    try:
        out = subprocess.run(
            [python, str(script), str(yaml_path), str(build), "5"],
            capture_output=True,
            text=True,
            timeout=1800,
            cwd=build.parent,
            # AMICI compiles the model with the swig of its venv (Debian's swig 4.1 builds a
            # module that fails to load), so that venv's bin goes first on the PATH.
            env={**os.environ, "PATH": f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}"},
        )
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def measure(cellode, problem, forward: bool, repeats: int) -> tuple[float, ...]:
    """nllh, compile and median times of nllh, adjoint and forward nllh + gradient."""
    theta = problem.nominal_theta
    compile_nllh = first_call_seconds(lambda: problem.nllh(theta))
    nllh = float(problem.nllh(theta))
    t_nllh = median_seconds(lambda: problem.nllh(theta), repeats=repeats, min_time=0.0)
    compile_adj = first_call_seconds(lambda: problem.nllh_and_gradient(theta))
    t_adj = median_seconds(lambda: problem.nllh_and_gradient(theta), repeats=repeats, min_time=0.0)
    compile_fwd = t_fwd = float("nan")
    if forward:
        fwd = problem.with_sensitivity(cellode.ForwardSensitivity())
        compile_fwd = first_call_seconds(lambda: fwd.nllh_and_gradient(theta))
        start = time.perf_counter()
        for _ in range(3):
            block(fwd.nllh_and_gradient(theta))
        t_fwd = (time.perf_counter() - start) / 3
    return nllh, compile_nllh, t_nllh, compile_adj, t_adj, compile_fwd, t_fwd


def main() -> None:
    jax.config.update("jax_enable_x64", True)
    import cellode

    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=MODELS)
    parser.add_argument("--amici", default=None, help="Python of a venv with AMICI installed.")
    parser.add_argument("--forward", nargs="*", default=MODELS[:2])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    data = Path(os.environ.get("CELLODE_SHARED_DATA", root.parent / "shared" / "data"))
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"jax {jax.__version__}, cellode {cellode.__version__}"
    )
    header = (
        "model",
        "nllh",
        "compile nllh s",
        "nllh ms",
        "compile adj s",
        "nllh+grad adj ms",
        "compile fwd s",
        "nllh+grad fwd ms",
    )
    print("| " + " | ".join(header) + " |")
    amici_rows = []
    scratch = tempfile.TemporaryDirectory()
    for name in args.models:
        if name == "refill":
            from cellode._examples.refill import write_refill_problem

            yaml_path = write_refill_problem(Path(scratch.name) / "refill")
            problem = cellode.load_petab(yaml_path, max_event_stops=2)  # it fires twice
        else:
            yaml_path = data / "petab" / "benchmark" / name / f"{name}.yaml"
            problem = cellode.load_petab(yaml_path)
        nllh, compile_nllh, t_nllh, compile_adj, t_adj, compile_fwd, t_fwd = measure(
            cellode, problem, name in args.forward, args.repeats
        )
        print(
            f"| {name} | {nllh:.6f} | {compile_nllh:.1f} | {1e3 * t_nllh:.2f} | "
            f"{compile_adj:.1f} | {1e3 * t_adj:.1f} | {compile_fwd:.1f} | {1e3 * t_fwd:.1f} |",
            flush=True,
        )
        if args.amici:
            with tempfile.TemporaryDirectory() as tmp:
                amici = amici_times(args.amici, yaml_path, Path(tmp) / "model")
            amici_rows.append((name, t_nllh, t_adj, t_fwd, amici))
    if amici_rows:
        print(
            "\n| model | AMICI -llh | AMICI simulate_petab sim / fwd / adj ms | "
            "AMICI core sim / fwd / adj ms | cellode / AMICI core: sim | fwd | adj |"
        )
        for name, t_nllh, t_adj, t_fwd, a in amici_rows:
            if a is None:
                print(f"| {name} | AMICI failed | | | | | |")
                continue
            wrapped = " / ".join(f"{1e3 * a[f'seconds_{k}']:.2f}" for k in LABELS)
            core = " / ".join(f"{1e3 * a[f'seconds_core_{k}']:.2f}" for k in LABELS)
            print(
                f"| {name} | {-a['llh_sim']:.6f} | {wrapped} | {core} | "
                f"{t_nllh / a['seconds_core_sim']:.1f} | {t_fwd / a['seconds_core_forward']:.1f} | "
                f"{t_adj / a['seconds_core_adjoint']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
