"""What a simulation returns: the saved states, solver statistics and a result code."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._errors import SolveError


class RESULTS(diffrax.RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """Result codes of a solve: diffrax's, plus the breakdowns cellode detects itself."""

    nonfinite_state = (
        "The state became non-finite (NaN or inf): the vector field broke down (division by "
        "zero, log of a negative number, overflow) or the solution blew up."
    )


class SolverStats(eqx.Module):
    """Work done by the solver.

    `num_rhs_evaluations` counts vector-field evaluations where the solver's cost per step is
    fixed (explicit Runge–Kutta), and is `None` where it varies (implicit methods' Newton
    iterations). `solver` names the method used and `choice` says why ("auto": the stiffness
    estimate that decided it).
    """

    num_steps: Int[Array, ""]
    num_accepted_steps: Int[Array, ""]
    num_rejected_steps: Int[Array, ""]
    num_rhs_evaluations: Int[Array, ""] | None
    solver: str = eqx.field(static=True)
    choice: str = eqx.field(static=True, default="given")


class Trajectory(eqx.Module):
    """A simulated trajectory: states `xs[i]` at times `ts[i]`.

    For a failed solve the states after the failure are `inf`; `result` says what happened.
    Outside `jit`, `simulate` raises instead (unless called with `throw=False`); inside `jit`
    check `trajectory.result` or call `trajectory.raise_if_failed()` on the concrete output.
    """

    ts: Float[Array, " T"]
    xs: Float[Array, "T n"]
    stats: SolverStats
    result: RESULTS
    t_reached: Float[Array, ""]
    x_reached: Float[Array, " n"]

    @property
    def succeeded(self) -> Array:
        """Boolean array: True where the solve reached its last time."""
        return self.result == RESULTS.successful

    def raise_if_failed(self, explanation: str | None = None) -> Trajectory:
        """Raise `SolveError` if the (concrete) solve failed; return self otherwise."""
        codes = np.atleast_1d(np.asarray(self.result._value))
        if np.all(codes == RESULTS.successful._value):
            return self
        if explanation is None:
            messages = np.atleast_1d(np.asarray(RESULTS[self.result]))
            explanation = str(messages[codes != RESULTS.successful._value][0])
        raise SolveError(explanation)


def failed_result(result: diffrax.RESULTS | RESULTS, x_reached: Array) -> RESULTS:
    """Promote a diffrax result to cellode's, flagging a non-finite state at the point reached."""
    if not isinstance(result, RESULTS):
        result = RESULTS.promote(result)
    nonfinite = jnp.logical_not(jnp.all(jnp.isfinite(x_reached)))
    return RESULTS.where(nonfinite, RESULTS.nonfinite_state, result)


def is_concrete(x: object) -> bool:
    """True outside any JAX transformation (values can be inspected and errors raised)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(x))
