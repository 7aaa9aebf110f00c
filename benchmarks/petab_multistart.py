"""Multistart fits of PEtab benchmark problems from random starts: does cellode reach the best
known -log L? (Boehm 138.221978, Crauste 190.963977: PEtab.jl's best over ~1000 starts,
data/petab/SOURCES.md.)

    PYTHONPATH=src python benchmarks/petab_multistart.py --starts 10 --seed 0 [--method fides] \
        [--executor processes --workers 2]

Latin-hypercube starts in the parameter bounds (parameter scale); each start is L-BFGS-B with
the exact adjoint gradient (`--method lbfgsb`, the default), Fides' trust region with BFGS
(`--method fides`) or with Gauss–Newton then BFGS (`--method fides-hybrid`), or a trust-region
least-squares fit with the exact residual Jacobian (`--method trust-region`).
Prints, per problem, the final objective of every start and how many reached the best known
value within 0.1.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax

BEST_KNOWN = {"Boehm_JProteomeRes2014": 138.221978, "Crauste_CellSystems2017": 190.963977}


def main() -> None:
    jax.config.update("jax_enable_x64", True)
    import cellode

    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iterations", type=int, default=400)
    parser.add_argument(
        "--method",
        default="lbfgsb",
        choices=("auto", "trust-region", "lbfgsb", "fides", "fides-hybrid"),
    )
    parser.add_argument("--executor", default="serial", choices=("serial", "processes"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("problems", nargs="*", default=list(BEST_KNOWN))
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    data = Path(os.environ.get("CELLODE_SHARED_DATA", root.parent / "shared" / "data"))
    for name in args.problems:
        problem = cellode.load_petab(data / "petab" / "benchmark" / name / f"{name}.yaml")
        started = time.perf_counter()
        result = cellode.fit_petab(
            problem,
            n_starts=args.starts,
            seed=args.seed,
            max_iterations=args.max_iterations,
            method=args.method,
            executor=args.executor,
            workers=args.workers,
            progress=lambda i, f: print(
                f"  start {i}: {f.value:.4f} [{f.method}, {f.iterations} it, "
                f"{f.evaluations} ev, {f.seconds:.0f} s] {f.message}",
                flush=True,
            ),
        )
        hits = int((result.values < BEST_KNOWN[name] + 0.1).sum())
        print(
            f"{name}: best {result.best.value:.6f} (best known {BEST_KNOWN[name]}), "
            f"{hits}/{args.starts} starts within 0.1, {time.perf_counter() - started:.0f} s in all "
            f"(compile included); per start: "
            + ", ".join(
                f"{f.value:.3f} [{f.iterations} it, {f.evaluations} ev, {f.seconds:.0f} s]"
                for f in result.fits
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
