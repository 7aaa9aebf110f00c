"""Solvers by name: the strings `simulate(..., solver=...)` accepts, and what each one is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import diffrax

from .._errors import InputError
from .bdf import BDF
from .rosenbrock import Rodas5P, Rosenbrock23


@dataclass(frozen=True)
class SolverInfo:
    """A named solver: how to build it, whether it is implicit (stiff-capable), its order."""

    make: Callable[[], diffrax.AbstractSolver]
    implicit: bool
    order: int
    description: str


SOLVERS: dict[str, SolverInfo] = {
    "tsit5": SolverInfo(diffrax.Tsit5, False, 5, "Tsitouras 5(4), explicit; the default"),
    "dopri5": SolverInfo(diffrax.Dopri5, False, 5, "Dormand–Prince 5(4), explicit"),
    "dopri8": SolverInfo(diffrax.Dopri8, False, 8, "Dormand–Prince 8(7), explicit"),
    "bosh3": SolverInfo(diffrax.Bosh3, False, 3, "Bogacki–Shampine 3(2), explicit"),
    "kvaerno3": SolverInfo(diffrax.Kvaerno3, True, 3, "ESDIRK 3(2), L-stable"),
    "kvaerno4": SolverInfo(diffrax.Kvaerno4, True, 4, "ESDIRK 4(3), L-stable"),
    "kvaerno5": SolverInfo(diffrax.Kvaerno5, True, 5, "ESDIRK 5(4), L-stable"),
    "rodas5p": SolverInfo(Rodas5P, True, 5, "Rosenbrock 5(4), L-stable; the stiff default"),
    "rosenbrock23": SolverInfo(
        Rosenbrock23, True, 2, "Rosenbrock 2(3), L-stable; for loose tolerances"
    ),
    # simulate() rebuilds it with the solve's rtol/atol, which BDF needs (see BDF's docstring).
    "bdf": SolverInfo(BDF, True, 5, "BDF orders 1-5 with Newton and Jacobian reuse (like CVODE)"),
}

# Rodas5P: 12-69x faster than Kvaerno5, 1.8-8x faster than CVODE at rtol 1e-6 (docs/benchmarks.md).
STIFF_DEFAULT = "rodas5p"
NONSTIFF_DEFAULT = "tsit5"


def solver_info(name: str) -> SolverInfo:
    """The registry entry for `name`, or an error listing the names that exist."""
    try:
        return SOLVERS[name.lower()]
    except KeyError:
        known = ", ".join(sorted(SOLVERS))
        raise InputError(
            f"Unknown solver {name!r}. Use one of: {known}, 'auto', or a diffrax solver instance."
        ) from None


def rhs_evaluations_per_step(solver: diffrax.AbstractSolver) -> int | None:
    """Vector-field evaluations one step of `solver` costs, when that number is fixed.

    Explicit Runge–Kutta methods evaluate every stage once per step, minus one when the last
    stage is reused as the next step's first (FSAL). Implicit methods vary with their Newton
    iterations: `None`.
    """
    if isinstance(solver, diffrax.AbstractERK):
        tableau = solver.tableau
        return len(tableau.c) + 1 - int(tableau.fsal)
    return None
