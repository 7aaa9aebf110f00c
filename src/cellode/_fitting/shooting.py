"""Single and multiple shooting: how a fit turns the model into predictions of each series.

Single shooting simulates every experiment once, from its initial state, over all its
observation times. On a long oscillatory series that objective is full of local minima: a small
change of a rate shifts every later peak, and a fit from a poor start settles on a wrong period
or amplitude.

Multiple shooting cuts each experiment's observation times into W consecutive windows. Window 0
starts from the experiment's initial state x0 at t0; window w >= 1 starts at its first
observation time tau_w from a free state s_w, fitted with the parameters. Every window is
simulated on its own (all windows of a group in one `jax.vmap`), and the objective is

    L(theta, s) = sum_windows nllh(y_w | h(x_w(t; theta, s_w)))
                  + continuity / 2 * sum_{w < W-1} || x_w(tau_{w+1}; theta, s_w) - s_{w+1} ||^2,

the data misfit of every window plus a penalty on the gap between where window w ends and where
window w+1 starts. Short windows cannot drift far from the data, so the landscape in theta is
much smoother; as the fit converges the gaps close and L approaches the single-shooting nllh.
"""

from __future__ import annotations

import abc
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from .._errors import InputError
from .._inputs import AbstractInput
from .._networks.expressions import Name
from .._simulation.batch import map_simulations
from .._simulation.simulate import simulate
from .._simulation.trajectory import RESULTS
from .problem import Estimate, ExperimentGroup, Problem


class AbstractObjective(eqx.Module):
    """What a compiled fitting step minimises: a loss of the estimate and of auxiliary fitted
    states (none for single shooting), optionally on a random minibatch."""

    @abc.abstractmethod
    def loss(
        self, estimate: Estimate, states: PyTree, key: PRNGKeyArray, batch_size: int | None
    ) -> Float[Array, ""]:
        """The objective; with `batch_size`, an unbiased minibatch estimate of it."""


class AbstractShooting(eqx.Module):
    """How a fit simulates each experiment: `SingleShooting()` or `MultipleShooting(windows=W)`."""

    @abc.abstractmethod
    def objective(self, problem: Problem, estimate: Estimate) -> tuple[AbstractObjective, PyTree]:
        """The objective to minimise and the initial value of its auxiliary states."""


class WholeSeries(AbstractObjective):
    """The problem's nllh, each experiment simulated once over all its times (single shooting).

    Holds only the stacked groups (no per-experiment records), so that calling a compiled step
    flattens a handful of arrays, not one pytree per experiment.
    """

    problem: Problem

    def loss(self, estimate, states, key, batch_size):
        del states
        if batch_size is None:
            return self.problem.nllh(estimate)
        total = jnp.zeros(())
        for g, group in enumerate(self.problem.groups):
            n = group.x0.shape[0]
            if batch_size >= n:
                chosen, scale = group, 1.0
            else:
                index = jr.choice(jr.fold_in(key, g), n, (batch_size,), replace=False)
                chosen = jax.tree_util.tree_map(lambda leaf, i=index: leaf[i], group)
                scale = n / batch_size
            sub = dataclasses.replace(self.problem, groups=(chosen,))
            total = total + scale * sub.nllh(estimate)
        return total


class SingleShooting(AbstractShooting):
    """Each experiment is one simulation from its initial state over all its times (default)."""

    def objective(self, problem, estimate):
        return WholeSeries(dataclasses.replace(problem, experiments=())), None


class WindowGroup(eqx.Module):
    """The windows of one experiment group, flattened to N = E * W rows (experiment-major).

    Row r simulates from `t_start[r]` over `ts[r]`: its observation times, then the start time
    of the next window (at column `end[r]`, unobserved here: the next window observes it), then
    padding past the end (unobserved). `first[r]` marks window 0, which starts from the
    experiment's `x0`; the others start from the fitted state of row r. `linked[r]` is True when
    row r + 1 is the next window of the same experiment.
    """

    t_start: Float[Array, " N"]
    ts: Float[Array, "N L"]
    y: Float[Array, "N L q"]
    mask: Bool[Array, "N L q"]
    sigma: Float[Array, "N L q"]
    x0: Float[Array, "N n"]
    first: Bool[Array, " N"]
    linked: Bool[Array, " N"]
    end: Int[Array, " N"]
    experiment: Int[Array, " N"]
    inputs: AbstractInput | None  # stacked per experiment (leading axis E), as in the group


def _split_group(group: ExperimentGroup, windows: int, t0: float) -> WindowGroup:
    ts = np.asarray(group.ts)
    n_exp, n_times = ts.shape
    if n_times < windows:
        raise InputError(
            f"Experiments {list(group.names)} have {n_times} observation times, fewer than the "
            f"{windows} shooting windows; use MultipleShooting(windows={n_times}) or fewer."
        )
    chunks = np.array_split(np.arange(n_times), windows)
    length = max(c.size for c in chunks) + 1
    span = max(float(ts.max() - min(t0, ts.min())), 1.0)
    rows: dict[str, list] = {k: [] for k in ("t", "ts", "y", "mask", "sigma", "end", "first")}
    y, mask, sigma = np.asarray(group.y), np.asarray(group.mask), np.asarray(group.sigma)
    q = y.shape[2]
    for e in range(n_exp):
        for w, idx in enumerate(chunks):
            times = list(ts[e, idx])
            if w + 1 < windows:
                times.append(ts[e, chunks[w + 1][0]])
            end = idx.size  # column of the next window's start (ignored for the last window)
            pad = length - len(times)
            times = np.concatenate([times, times[-1] + 1e-6 * span * np.arange(1, pad + 1)])
            extra = length - idx.size
            rows["t"].append(t0 if w == 0 else ts[e, idx[0]])
            rows["ts"].append(times)
            rows["y"].append(np.concatenate([y[e, idx], np.zeros((extra, q))]))
            rows["mask"].append(np.concatenate([mask[e, idx], np.zeros((extra, q), bool)]))
            rows["sigma"].append(np.concatenate([sigma[e, idx], np.full((extra, q), np.nan)]))
            rows["end"].append(min(end, length - 1))
            rows["first"].append(w == 0)
    linked = np.tile(np.arange(windows) + 1 < windows, n_exp)
    return WindowGroup(
        t_start=jnp.asarray(np.array(rows["t"], dtype=np.float64)),
        ts=jnp.asarray(np.stack(rows["ts"])),
        y=jnp.asarray(np.stack(rows["y"])),
        mask=jnp.asarray(np.stack(rows["mask"])),
        sigma=jnp.asarray(np.stack(rows["sigma"])),
        x0=jnp.repeat(group.x0, windows, axis=0),
        first=jnp.asarray(np.array(rows["first"])),
        linked=jnp.asarray(linked),
        end=jnp.asarray(np.array(rows["end"])),
        experiment=jnp.asarray(np.repeat(np.arange(n_exp), windows)),
        inputs=group.inputs,
    )


def _directly_observed(estimate: Estimate) -> list[tuple[int, int]]:
    """(observable column, species index) for every observable that is a species itself."""
    obs = estimate.observables
    return [
        (j, obs.species.index(tree.id))
        for j, tree in enumerate(obs.trees)
        if isinstance(tree, Name) and tree.id in obs.species
    ]


class Windows(AbstractObjective):
    """The multiple-shooting objective: nllh of every window plus the continuity penalty.

    The auxiliary states are one array (N, n) per group: the start state of every window (rows
    of first windows are unused: those start from the experiment's x0).
    """

    problem: Problem  # settings only (solver, tolerances, sensitivity); no groups
    groups: tuple[WindowGroup, ...]
    continuity: float = eqx.field(static=True)

    def simulate_windows(
        self, estimate: Estimate, group: WindowGroup, states: Float[Array, "N n"]
    ) -> Float[Array, "N L n"]:
        """States of every window at its times (NaN where a window's solve failed)."""
        problem = self.problem
        starts = jnp.where(group.first[:, None], group.x0, states)
        inputs = None
        if group.inputs is not None:
            inputs = jax.tree_util.tree_map(lambda leaf: leaf[group.experiment], group.inputs)

        def one(t_start, ts, x_start, u):
            traj = simulate(
                estimate.model, x_start, ts, inputs=u, t0=t_start, solver=problem.solver,
                rtol=problem.rtol, atol=problem.atol, max_steps=problem.max_steps,
                sensitivity=problem.sensitivity,
            )  # fmt: skip
            return jnp.where(traj.result != RESULTS.successful, jnp.nan, traj.xs)

        return map_simulations(one, group.t_start, group.ts, starts, inputs)

    def _group_terms(self, estimate, group, states, following):
        """Per-window nllh (N,), continuity penalty (N,) and gap (N, n); `states` are the
        windows' own start states, `following` those of the windows after them."""
        xs = self.simulate_windows(estimate, group, states)
        yhat = jax.vmap(jax.vmap(estimate.observables))(xs)
        nllh = jax.vmap(estimate.noise.nllh)(group.y, yhat, group.mask, group.sigma)
        ends = jnp.take_along_axis(xs, group.end[:, None, None], axis=1)[:, 0]
        gap = jnp.where(group.linked[:, None], ends - following, 0.0)
        return nllh, 0.5 * self.continuity * jnp.sum(gap**2, axis=1), gap

    def loss(self, estimate, states, key, batch_size):
        total = jnp.zeros(())
        for g, (group, s) in enumerate(zip(self.groups, states, strict=True)):
            n = group.t_start.shape[0]
            if batch_size is None or batch_size >= n:
                nllh, penalty, _ = self._group_terms(estimate, group, s, jnp.roll(s, -1, axis=0))
                total = total + jnp.sum(nllh) + jnp.sum(penalty)
                continue
            index = jr.choice(jr.fold_in(key, g), n, (batch_size,), replace=False)
            # Windows are drawn; the inputs stay indexed by experiment (`group.experiment`).
            rows = dataclasses.replace(group, inputs=None)
            chosen = jax.tree_util.tree_map(lambda leaf, i=index: leaf[i], rows)
            chosen = dataclasses.replace(chosen, inputs=group.inputs)
            nllh, penalty, _ = self._group_terms(estimate, chosen, s[index], s[(index + 1) % n])
            total = total + (n / batch_size) * (jnp.sum(nllh) + jnp.sum(penalty))
        return total

    def terms(
        self, estimate: Estimate, states: PyTree
    ) -> list[tuple[Float[Array, " N"], Float[Array, " N"], Float[Array, "N n"]]]:
        """Per group and window: its nllh, its continuity penalty, and its gap
        x_w(tau_{w+1}) - s_{w+1} (zero for last windows). `loss` is the sum of the first two."""
        return [
            self._group_terms(estimate, g, s, jnp.roll(s, -1, axis=0))
            for g, s in zip(self.groups, states, strict=True)
        ]


@eqx.filter_jit
def window_terms(target: Windows, estimate: Estimate, states: PyTree) -> list:
    """`target.terms(estimate, states)`, compiled once per problem structure."""
    return target.terms(estimate, states)


class MultipleShooting(AbstractShooting):
    """Fit long series window by window: `windows` consecutive windows per experiment, each
    from its own fitted start state, tied together by a continuity penalty
    `continuity / 2 * ||x_w(end) - s_{w+1}||^2` (in state units; a gap of 1/sqrt(continuity)
    costs as much as one standard deviation of data misfit).

    `start` initialises the window states: `"data"` (default) takes a directly observed species
    from its measurement at the window's first time and every other species from a simulation
    of the initial model; `"simulation"` takes all of them from that simulation. With
    `fit(..., batch_size=B)`, each step draws B windows per group (not experiments).
    Polish the result with single shooting (`fit_least_squares` or `fit` without `shooting`)
    once the windows agree: the penalty leaves a small bias while the gaps are not zero.
    """

    windows: int = eqx.field(static=True)
    continuity: float = eqx.field(static=True, default=100.0)
    start: str = eqx.field(static=True, default="data")

    def __check_init__(self):
        if not (isinstance(self.windows, int) and self.windows >= 1):
            raise InputError(f"MultipleShooting needs windows >= 1; got {self.windows!r}.")
        if not self.continuity > 0:
            raise InputError(
                f"MultipleShooting needs a positive continuity weight; got {self.continuity!r}."
            )
        if self.start not in ("data", "simulation"):
            raise InputError(f"MultipleShooting(start={self.start!r}): use 'data' or 'simulation'.")

    def objective(self, problem, estimate):
        groups = tuple(_split_group(g, self.windows, problem.t0) for g in problem.groups)
        settings = dataclasses.replace(problem, experiments=(), groups=())
        states = tuple(
            self.initial_states(problem, estimate, g, wg)
            for g, wg in zip(problem.groups, groups, strict=True)
        )
        return Windows(settings, groups, float(self.continuity)), states

    def initial_states(
        self, problem: Problem, estimate: Estimate, group: ExperimentGroup, windows: WindowGroup
    ) -> Float[Array, "N n"]:
        """Start states of every window: the initial model's simulation at the window starts,
        with directly observed species replaced by their data (`start="data"`)."""
        xs = np.asarray(eqx.filter_jit(problem.simulate_group)(estimate.model, group))
        n_exp, n_times, _ = xs.shape
        chunks = np.array_split(np.arange(n_times), self.windows)
        first = np.array([c[0] for c in chunks])
        states = xs[:, first]  # (E, W, n)
        x0 = np.asarray(group.x0)[:, None, :]
        states = np.where(np.isfinite(states), states, x0)
        if self.start == "data":
            y, mask = np.asarray(group.y)[:, first], np.asarray(group.mask)[:, first]
            for j, i in _directly_observed(estimate):
                states[:, :, i] = np.where(mask[:, :, j], y[:, :, j], states[:, :, i])
        return jnp.asarray(states.reshape(n_exp * self.windows, -1))
