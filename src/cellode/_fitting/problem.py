"""An estimation problem: model + data + observables + noise -> nllh(theta) (SPEC C1).

L(theta) = sum over experiments e and observed entries of -log p(y_e(t_k) | h(x_e(t_k), theta)),
which for Gaussian noise is the weighted least-squares sum of SPEC C1 plus the normalisation.
Experiments whose conditions have the same structure (same input protocol shape, same number of
time points after padding) are stacked and simulated together with `jax.vmap`: one compiled
simulation per group, whatever the number of experiments.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PyTree

from .._data.experiment import Experiment
from .._data.noise import AbstractNoiseModel
from .._data.observables import Observables
from .._errors import InputError
from .._inputs import AbstractInput
from .._models.vector_field import AbstractVectorField
from .._sensitivity.base import AbstractSensitivity, DiscreteAdjoint
from .._sensitivity.forward import ForwardSensitivity
from .._simulation.batch import map_simulations
from .._simulation.simulate import simulate
from .._simulation.trajectory import RESULTS
from .._solvers.auto import choose_solver


class Estimate(eqx.Module):
    """Everything a fit adjusts: the model's parameters, observable scalings, noise levels."""

    model: AbstractVectorField
    observables: Observables
    noise: AbstractNoiseModel


def trainable(estimate: Estimate) -> PyTree[bool]:
    """Filter spec of the fitted arrays: every floating array, except fixed noise levels."""
    spec = jax.tree_util.tree_map(eqx.is_inexact_array, estimate)
    if hasattr(estimate.noise, "log_sigma") and not getattr(estimate.noise, "estimate", True):
        spec = eqx.tree_at(lambda e: e.noise.log_sigma, spec, False)
    return spec


# Forward sensitivities cost one extra state vector per parameter; reverse mode a fixed multiple
# of one solve. Measured (docs/benchmarks.md, Gradients): forward beats the adjoints on small
# mechanistic models (Robertson, 3 parameters: 0.59x the discrete adjoint) and loses above a few
# dozen parameters (Brusselator crossover near 64).
FORWARD_MAX_PARAMETERS = 32


def choose_sensitivity(
    estimate: Estimate, given: AbstractSensitivity | None
) -> tuple[AbstractSensitivity, str]:
    """The gradient method for fitting `estimate`, and why: forward sensitivities for few
    parameters, backpropagation through the solver (discrete adjoint) for many."""
    if given is not None:
        return given, f"given: {type(given).__name__}"
    params = eqx.filter(estimate, trainable(estimate))
    n = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(params))
    if n <= FORWARD_MAX_PARAMETERS:
        return (
            ForwardSensitivity(),
            f"{n} parameters <= {FORWARD_MAX_PARAMETERS}: forward sensitivities",
        )
    return (
        DiscreteAdjoint(),
        f"{n} parameters > {FORWARD_MAX_PARAMETERS}: discrete adjoint (reverse mode)",
    )


class ExperimentGroup(eqx.Module):
    """Experiments of one structure, stacked along a leading axis (padded to a common length)."""

    ts: Float[Array, "E T"]
    y: Float[Array, "E T q"]
    mask: Bool[Array, "E T q"]
    sigma: Float[Array, "E T q"]  # NaN where the data give no standard deviation
    inputs: AbstractInput | None
    x0: Float[Array, "E n"]
    names: tuple[str, ...] = eqx.field(static=True)


def _structure(exp: Experiment) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(exp.inputs)
    return (treedef, tuple(np.shape(leaf) for leaf in leaves))


def _pad_times(ts: np.ndarray, length: int) -> np.ndarray:
    """Extend observation times past the last one (padding points are never observed)."""
    extra = length - ts.size
    if extra == 0:
        return ts
    step = 1e-6 * max(ts[-1] - ts[0], 1.0)
    return np.concatenate([ts, ts[-1] + step * np.arange(1, extra + 1)])


def stack_experiments(
    experiments: Sequence[Experiment], x0_default: np.ndarray | None
) -> list[ExperimentGroup]:
    """Group experiments by structure and stack each group (one compiled simulation per group)."""
    groups: dict[tuple, list[Experiment]] = {}
    for exp in experiments:
        groups.setdefault(_structure(exp), []).append(exp)
    stacked = []
    for members in groups.values():
        length = max(int(e.ts.shape[0]) for e in members)
        q = int(members[0].y.shape[1])
        ts, y, mask, sigma, x0 = [], [], [], [], []
        for e in members:
            pad = length - int(e.ts.shape[0])
            ts.append(_pad_times(np.asarray(e.ts), length))
            y.append(np.pad(np.asarray(e.y), ((0, pad), (0, 0))))
            mask.append(np.pad(np.asarray(e.mask), ((0, pad), (0, 0))))
            given = np.full(e.y.shape, np.nan) if e.sigma is None else np.asarray(e.sigma)
            sigma.append(np.pad(given, ((0, pad), (0, 0)), constant_values=np.nan))
            if e.x0 is None and x0_default is None:
                raise InputError(
                    f"Experiment {e.name!r} has no initial state and the problem has no default "
                    "`x0`; give one of them."
                )
            x0.append(np.asarray(e.x0 if e.x0 is not None else x0_default, dtype=np.float64))
        if any(np.shape(v) != (q,) for v in [row[0] for row in y]):
            raise InputError("All experiments must have the same observables (columns of y).")
        inputs = None
        if members[0].inputs is not None:
            inputs = jax.tree_util.tree_map(
                lambda *leaves: jnp.stack(leaves), *[e.inputs for e in members]
            )
        stacked.append(
            ExperimentGroup(
                ts=jnp.asarray(np.stack(ts)),
                y=jnp.asarray(np.stack(y)),
                mask=jnp.asarray(np.stack(mask)),
                sigma=jnp.asarray(np.stack(sigma)),
                inputs=inputs,
                x0=jnp.asarray(np.stack(x0)),
                names=tuple(e.name for e in members),
            )
        )
    return stacked


class Problem(eqx.Module):
    """Experiments to explain, and how to simulate them: the objective of a fit.

    `solver="auto"` is resolved once, here, from the initial model on the first experiment (the
    objective is traced, and a traced solve cannot choose). `sensitivity` says how gradients are
    taken; by default `choose_sensitivity` picks it from the number of fitted parameters, and
    `sensitivity_reason` says what it chose and why.
    """

    experiments: tuple[Experiment, ...]
    groups: tuple[ExperimentGroup, ...]
    sensitivity: AbstractSensitivity
    solver: str = eqx.field(static=True)
    solver_reason: str = eqx.field(static=True)
    sensitivity_reason: str = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    t0: float = eqx.field(static=True)

    @classmethod
    def create(
        cls,
        estimate: Estimate,
        experiments: Sequence[Experiment],
        *,
        x0: ArrayLike | None = None,
        t0: float = 0.0,
        solver: str = "auto",
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_steps: int = 100_000,
        sensitivity: AbstractSensitivity | None = None,
    ) -> Problem:
        """Build the problem; checks that data, observables and noise fit together."""
        experiments = tuple(experiments)
        if not experiments:
            raise InputError("A problem needs at least one experiment.")
        q = len(estimate.observables.names)
        for e in experiments:
            if int(e.y.shape[1]) != q:
                raise InputError(
                    f"Experiment {e.name!r} has {int(e.y.shape[1])} observable columns; the "
                    f"observables are {list(estimate.observables.names)} ({q})."
                )
            if float(e.ts[0]) < t0:
                raise InputError(f"Experiment {e.name!r} observes before t0 = {t0}.")
        x0_default = None if x0 is None else np.asarray(x0, dtype=np.float64)
        groups = tuple(stack_experiments(experiments, x0_default))
        reason = "given"
        if solver == "auto":
            first = experiments[0]
            x_first = np.asarray(first.x0 if first.x0 is not None else x0_default)
            u0 = None if first.inputs is None else first.inputs(jnp.asarray(t0))
            choice = choose_solver(
                estimate.model, t0, jnp.asarray(x_first), u0, float(first.ts[-1]),
                inputs=first.inputs,
            )  # fmt: skip
            solver, reason = choice.name, choice.reason
        sensitivity, why = choose_sensitivity(estimate, sensitivity)
        return cls(experiments, groups, sensitivity, solver, reason, why, rtol, atol, max_steps, t0)

    def for_values(self) -> Problem:
        """The same problem for values only (final losses, plotted predictions): its solves
        carry no sensitivities. Forward sensitivities integrate S = dx/dtheta with x in every
        solve, differentiated or not, which costs a compile of the augmented system."""
        return eqx.tree_at(lambda p: p.sensitivity, self, DiscreteAdjoint())

    @property
    def n_observations(self) -> int:
        """Number of observed values over all experiments."""
        return sum(int(np.asarray(g.mask).sum()) for g in self.groups)

    def simulate_group(self, model: AbstractVectorField, group: ExperimentGroup) -> Array:
        """States (E, T, n) of every experiment of a group at its observation times."""

        def one(ts, inputs, x0):
            traj = simulate(
                model, x0, ts, inputs=inputs, t0=self.t0, solver=self.solver, rtol=self.rtol,
                atol=self.atol, max_steps=self.max_steps, sensitivity=self.sensitivity,
            )  # fmt: skip
            failed = traj.result != RESULTS.successful
            return jnp.where(failed, jnp.nan, traj.xs)

        return map_simulations(one, group.ts, group.inputs, group.x0)

    def predictions(self, estimate: Estimate, group: ExperimentGroup) -> Array:
        """Predicted observables h(x(t_k)) of a group, shape (E, T, q)."""
        xs = self.simulate_group(estimate.model, group)
        return jax.vmap(jax.vmap(estimate.observables))(xs)

    def nllh(self, estimate: Estimate) -> Float[Array, ""]:
        """Negative log-likelihood of all data; NaN when a simulation failed."""
        total = jnp.zeros(())
        for group in self.groups:
            yhat = self.predictions(estimate, group)
            per_experiment = jax.vmap(estimate.noise.nllh)(group.y, yhat, group.mask, group.sigma)
            total = total + jnp.sum(per_experiment)
        return total

    def residuals(self, estimate: Estimate) -> Float[Array, " N"]:
        """Weighted residuals of every observed entry (zeros where missing), concatenated."""
        parts = []
        for group in self.groups:
            yhat = self.predictions(estimate, group)
            noise = estimate.noise
            r = jax.vmap(noise.weighted_residuals)(group.y, yhat, group.mask, group.sigma)
            parts.append(r.reshape(-1))
        return jnp.concatenate(parts)
