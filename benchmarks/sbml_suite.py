"""Run the SBML semantic test suite (time-course cases) through cellode's SBML import.

Run:  PYTHONPATH=src python benchmarks/sbml_suite.py [--cases pure-ode|all|sample|00001,00002]
          [--integrator scipy|diffrax] [--processes 1] [--out sbml_suite.csv] [--sample 60]

Cases come from `$CELLODE_SHARED_DATA/sbml-test-suite` (default ../shared/data relative to the
repository root); `case_index.csv` there says which cases are pure ODEs and their tier. Each
case is loaded from its highest SBML level/version, simulated at the output times with
rtol = relative/1e4 and atol = absolute/1e4 of the case's settings, and judged as the suite
does (|sim - expected| <= absolute + relative |expected|, in amounts or concentrations as the
settings say). Writes one row per case (case, tier, passed, reason, max_error, seconds) and
prints totals by tier and by reason.

`--integrator diffrax` integrates with diffrax (Tsit5, Kvaerno5 when Tsit5 fails) in one
jit-compiled solve per case; `scipy` (default) integrates the jit-compiled right-hand side and
Jacobian with SciPy's LSODA, which compiles far less per case.
"""

from __future__ import annotations

import argparse
import collections
import csv
import math
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    return Path(os.environ.get("CELLODE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def read_index(suite: Path) -> dict[str, dict[str, str]]:
    with open(suite / "case_index.csv", newline="") as f:
        return {row["case"]: row for row in csv.DictReader(f)}


def choose(index: dict[str, dict[str, str]], which: str, sample: int) -> list[str]:
    timecourse = [c for c, r in index.items() if r["testType"] == "TimeCourse"]
    pure = [c for c in timecourse if r_pure(index[c])]
    if which == "all":
        return timecourse
    if which == "pure-ode":
        return pure
    if which == "non-pure":
        return [c for c in timecourse if not r_pure(index[c])]
    if which == "sample":
        # Deterministic: every k-th pure-ODE case of each tier.
        out = []
        for tier in sorted({index[c]["tier"] for c in pure}):
            cases = [c for c in pure if index[c]["tier"] == tier]
            step = max(1, len(cases) * 3 // sample)
            out += cases[::step]
        return sorted(out)
    return [c.strip().zfill(5) for c in which.split(",") if c.strip()]


def r_pure(row: dict[str, str]) -> bool:
    return row["pure_ode"] == "1"


def _init_worker() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_disable_most_optimizations", True)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def _run(args: tuple[str, str, float]):
    folder, integrator, timeout = args
    from cellode._sbml.testsuite import CaseResult, run_case

    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(timeout))
    try:
        return run_case(Path(folder), integrator)
    except _Timeout:
        return CaseResult(Path(folder).name, False, f"timeout ({timeout:.0f} s)", math.nan, timeout)
    finally:
        signal.alarm(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="pure-ode")
    parser.add_argument("--integrator", default="scipy", choices=["scipy", "diffrax"])
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--sample", type=int, default=60)
    parser.add_argument("--out", default="sbml_suite.csv")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    args = parser.parse_args()

    suite = shared_data() / "sbml-test-suite"
    index = read_index(suite)
    cases = choose(index, args.cases, args.sample)
    jobs = [(str(suite / "semantic" / c), args.integrator, args.timeout) for c in cases]
    start = time.perf_counter()
    if args.processes > 1:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.processes, initializer=_init_worker) as pool:
            results = list(pool.imap(_run, jobs, chunksize=4))
    else:
        _init_worker()
        results = []
        for n, job in enumerate(jobs, 1):
            results.append(_run(job))
            r = results[-1]
            status = "pass" if r.passed else f"FAIL {r.reason}"
            print(
                f"[{n}/{len(jobs)}] {r.case} {r.seconds:.1f}s {status}", file=sys.stderr, flush=True
            )
    elapsed = time.perf_counter() - start

    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "tier", "passed", "reason", "max_error", "seconds"])
        for r in results:
            tier = index.get(r.case, {}).get("tier", "") or "-"
            w.writerow(
                [r.case, tier, int(r.passed), r.reason, f"{r.max_error:.3g}", f"{r.seconds:.2f}"]
            )

    by_tier: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    reasons = collections.Counter()
    for r in results:
        tier = index.get(r.case, {}).get("tier", "") or "-"
        by_tier[tier][0] += r.passed
        by_tier[tier][1] += 1
        if not r.passed:
            reasons[r.reason] += 1
    passed = sum(r.passed for r in results)
    print(
        f"{passed}/{len(results)} passed ({100 * passed / max(1, len(results)):.1f}%) in "
        f"{elapsed:.0f} s with --integrator {args.integrator}"
    )
    for tier, (p, n) in sorted(by_tier.items()):
        print(f"  tier {tier}: {p}/{n}")
    for reason, n in reasons.most_common():
        print(f"  {n:4d}  {reason}")


if __name__ == "__main__":
    main()
