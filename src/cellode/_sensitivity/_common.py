"""Pieces shared by the continuous sensitivity methods (forward, checkpointed and backsolve adjoint).

The differentiable inputs of a solve are the floating-point arrays of the model and of the inputs
u(t) (`theta`), and the initial state x0. The times (t0, ts, the jumps of u) and the tolerances
are not differentiated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from .._simulation.problem import ODEProblem, SolveOutput, rhs

Params = PyTree[Array]


def split_parameters(problem: ODEProblem) -> tuple[Params, Any]:
    """(theta, static): the floating-point arrays of (model, inputs), and everything else."""
    return eqx.partition((problem.model, problem.inputs), eqx.is_inexact_array)


def detach(problem: ODEProblem) -> tuple[tuple[Any, Any, Array], ODEProblem]:
    """((model, inputs, x0), the rest): the differentiated part of a problem, and the problem
    without it (custom derivative rules take the two as separate arguments)."""
    rest = dataclasses.replace(problem, model=None, inputs=None, x0=None)
    return (problem.model, problem.inputs, problem.x0), rest


def attach(diff: tuple[Any, Any, Array], rest: ODEProblem) -> ODEProblem:
    """The inverse of `detach`."""
    model, inputs, x0 = diff
    return dataclasses.replace(rest, model=model, inputs=inputs, x0=x0)


def vector_field(t: Array, x: Array, params: Params, static: Any) -> Array:
    """f(t, x, theta): the model with parameters `params`, evaluated with u(t)."""
    return rhs(t, x, eqx.combine(params, static))


def save_times(problem: ODEProblem, extra: Float[Array, " k"]) -> tuple[Array, Array]:
    """Merge the observation times `ts` with `extra` times (checkpoints).

    Returns the sorted merged grid and `order`, where `merged = concat(ts, extra)[order]`.
    A stable sort keeps an observation before a checkpoint at the same time.
    """
    times = jnp.concatenate([problem.ts, extra.astype(problem.ts.dtype)])
    order = jnp.argsort(times, stable=True)
    return times[order], order


def forward_solve(
    problem: ODEProblem,
    saveat_ts: Float[Array, " M"],
    y0: PyTree[Array] | None = None,
    term: diffrax.AbstractTerm | None = None,
    args: Any = None,
) -> diffrax.Solution:
    """One undifferentiated solve from t0 to ts[-1], saving at `saveat_ts` and at the end."""
    saveat = diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=saveat_ts), diffrax.SubSaveAt(t1=True)])
    return diffrax.diffeqsolve(
        problem.term if term is None else term,
        problem.solver,
        problem.t0,
        problem.ts[-1],
        problem.dt0,
        problem.x0 if y0 is None else y0,
        problem.args if args is None else args,
        saveat=saveat,
        stepsize_controller=problem.controller,
        max_steps=problem.max_steps,
        throw=False,
    )


def solve_output(sol: diffrax.Solution, xs: Array, x_end: Array) -> SolveOutput:
    """Dress a diffrax solution as a `SolveOutput` with the given saved and final states."""
    return SolveOutput(
        xs=xs,
        t_reached=sol.ts[1][0],
        x_reached=x_end,
        num_steps=sol.stats["num_steps"],
        num_accepted_steps=sol.stats["num_accepted_steps"],
        num_rejected_steps=sol.stats["num_rejected_steps"],
        result=sol.result,
    )


def zeros_if_none(cotangent: Array | None, like: Array) -> Array:
    return jnp.zeros_like(like) if cotangent is None else cotangent


def poison(tree: PyTree[Array], failed: Array) -> PyTree[Array]:
    """NaN in every leaf when `failed`: a gradient from a failed backward solve must not look valid."""
    return jax.tree.map(lambda leaf: jnp.where(failed, jnp.nan, leaf), tree)
