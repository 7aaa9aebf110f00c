"""One ODE solve, fully specified: what every sensitivity method receives."""

from __future__ import annotations

import diffrax
import equinox as eqx
from jaxtyping import Array, Float

from .._inputs import AbstractInput
from .._models.vector_field import AbstractVectorField, InputValue


def rhs(t: Array, x: Array, args: tuple[AbstractVectorField, AbstractInput | None]) -> Array:
    """The diffrax vector field: the model evaluated with the input value u(t).

    Model and inputs travel as `args` (not in a closure) so that every method of taking
    gradients sees their parameters.
    """
    model, inputs = args
    u: InputValue = None if inputs is None else inputs(t)
    return model(t, x, u)


class ODEProblem(eqx.Module):
    """x' = model(t, x, u(t)), x(t0) = x0, saved at `ts` (t0 <= ts[0] < ... < ts[-1])."""

    model: AbstractVectorField
    inputs: AbstractInput | None
    x0: Float[Array, " n"]
    t0: Float[Array, ""]
    ts: Float[Array, " T"]
    solver: diffrax.AbstractSolver
    controller: diffrax.AbstractStepSizeController
    max_steps: int = eqx.field(static=True)
    dt0: float | None = eqx.field(static=True, default=None)

    @property
    def term(self) -> diffrax.ODETerm:
        return diffrax.ODETerm(rhs)

    @property
    def args(self) -> tuple[AbstractVectorField, AbstractInput | None]:
        return (self.model, self.inputs)


class SolveOutput(eqx.Module):
    """The raw outcome of one solve, before it is dressed as a `Trajectory`."""

    xs: Float[Array, "T n"]
    t_reached: Float[Array, ""]
    x_reached: Float[Array, " n"]
    num_steps: Array
    num_accepted_steps: Array
    num_rejected_steps: Array
    result: diffrax.RESULTS


def solve_with_diffrax(problem: ODEProblem, adjoint: diffrax.AbstractAdjoint) -> SolveOutput:
    """Solve `problem` with `diffrax.diffeqsolve`, saving at `ts` and at the point reached."""
    saveat = diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=problem.ts), diffrax.SubSaveAt(t1=True)])
    sol = diffrax.diffeqsolve(
        problem.term,
        problem.solver,
        problem.t0,
        problem.ts[-1],
        problem.dt0,
        problem.x0,
        problem.args,
        saveat=saveat,
        stepsize_controller=problem.controller,
        adjoint=adjoint,
        max_steps=problem.max_steps,
        throw=False,
    )
    xs, x_end = sol.ys
    t_end = sol.ts[1]
    return SolveOutput(
        xs=xs,
        t_reached=t_end[0],
        x_reached=x_end[0],
        num_steps=sol.stats["num_steps"],
        num_accepted_steps=sol.stats["num_accepted_steps"],
        num_rejected_steps=sol.stats["num_rejected_steps"],
        result=sol.result,
    )
