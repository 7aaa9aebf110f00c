"""How gradients flow through an ODE solve: the strategy objects of `simulate(sensitivity=...)`."""

from __future__ import annotations

import abc

import diffrax
import equinox as eqx

from .._simulation.problem import ODEProblem, SolveOutput, solve_with_diffrax


class AbstractSensitivity(eqx.Module):
    """A method of differentiating an ODE solve (SPEC C2–C5).

    `solve` runs the forward solve and attaches the method's derivative rule, so that `jax.grad`
    of any loss of the trajectory gives gradients with respect to the model's arrays, x0 and the
    input parameters. Every method must agree with every other and with finite differences.
    """

    @abc.abstractmethod
    def solve(self, problem: ODEProblem) -> SolveOutput:
        """Solve `problem`, differentiable by this method."""


class DiscreteAdjoint(AbstractSensitivity):
    """Discretise-then-optimise (SPEC C5): reverse-mode backpropagation through the solver's steps.

    Exact gradient of the *discrete* solution. Memory is bounded by recursive checkpointing
    (diffrax's `RecursiveCheckpointAdjoint`): `checkpoints=None` chooses a number that is
    logarithmic in `max_steps`.
    """

    checkpoints: int | None = eqx.field(static=True, default=None)

    def solve(self, problem: ODEProblem) -> SolveOutput:
        adjoint = diffrax.RecursiveCheckpointAdjoint(checkpoints=self.checkpoints)
        return solve_with_diffrax(problem, adjoint)
