"""Why a solve failed and what to try: the message `simulate` raises outside jit (SPEC A3)."""

from __future__ import annotations

import numpy as np

from .._solvers.auto import decay_rates, jacobian, looks_stiff
from .._solvers.registry import STIFF_DEFAULT
from .problem import ODEProblem, rhs
from .trajectory import RESULTS, Trajectory


def explain_failure(problem: ODEProblem, trajectory: Trajectory, implicit: bool) -> str:
    """A plain explanation of a failed (concrete) ODE solve, naming the time and a remedy."""
    t = float(trajectory.t_reached)
    x = np.asarray(trajectory.x_reached)
    t1 = float(problem.ts[-1])
    where = f"at t = {t:.6g} (of [{float(problem.t0):.6g}, {t1:.6g}])"
    if not np.all(np.isfinite(x)):
        return (
            f"The state became non-finite {where}. The vector field broke down (division by zero, "
            "log of a negative number, overflow) or the solution blew up; check the model there."
        )
    # The solver was stuck at t: look at f there and just after, where its stages were evaluated.
    span = max(t1 - float(problem.t0), 1e-300)
    for probe in (t, t + 1e-10 * span, t + 1e-7 * span, t + 1e-4 * span):
        t_probe = np.asarray(probe, dtype=np.asarray(problem.ts).dtype)
        dx = np.asarray(rhs(t_probe, trajectory.x_reached, problem.args))
        if not np.all(np.isfinite(dx)):
            bad = np.flatnonzero(~np.isfinite(dx)).tolist()
            return (
                f"The vector field returned non-finite values for state components {bad} at "
                f"t = {probe:.6g}, x = {x.tolist()}; the solve stopped {where}. Check the model "
                "for division by zero, log or sqrt of negative values, or overflow there."
            )
    if bool(trajectory.result == RESULTS.max_steps_reached):
        x0_scale = 1.0 + float(np.max(np.abs(np.asarray(problem.x0))))
        if float(np.max(np.abs(x))) > 1e8 * x0_scale:
            return (
                f"The solution grows without bound {where} (|x| = {np.max(np.abs(x)):.3g}): a "
                "finite-time blow-up. Check signs and rate constants of the model."
            )
        u = None if problem.inputs is None else problem.inputs(trajectory.t_reached)
        spectrum = decay_rates(
            np.asarray(jacobian(problem.model, trajectory.t_reached, trajectory.x_reached, u))
        )
        if not implicit and looks_stiff(spectrum, t1 - t):
            return (
                f"This problem looks stiff (stiffness ratio ≈ {spectrum.ratio:.1e}, fastest decay "
                f"rate ≈ {spectrum.fastest:.1e}) {where}: the explicit solver's step is limited by "
                f"stability, not accuracy, and max_steps = {problem.max_steps} ran out. Use "
                f"solver='{STIFF_DEFAULT}' (or solver='auto')."
            )
        return (
            f"max_steps = {problem.max_steps} steps were taken and the solve stopped {where}. "
            "Increase `max_steps`, loosen `rtol`/`atol`, or check for very fast dynamics."
        )
    return f"The solve failed {where}: {RESULTS[trajectory.result]}"
