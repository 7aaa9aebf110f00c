"""A region of state space: the states a model is examined on (SPEC D4).

Omega_train is the set of states the training data visit; Omega_test the states a new condition
(new inputs, initial state or parameters) visits. Both are finite samples: the states of one or
more trajectories, with the time and input value at each state (f may depend on t and u), or
states drawn from a box.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._errors import InputError
from .._inputs import AbstractInput
from .._simulation.trajectory import Trajectory


class Region(eqx.Module):
    """A finite sample of state space: states `xs[i]` with their times `ts[i]` and input values
    `us[i]` (`None` when the model has no inputs). The vector field is evaluated at
    (ts[i], xs[i], us[i]).

    Build one with `region(...)`, which accepts states, `Trajectory`s or another `Region`.
    """

    xs: Float[Array, "m n"]
    ts: Float[Array, " m"]
    us: Float[Array, "m p"] | None

    @property
    def n_states(self) -> int:
        return int(self.xs.shape[0])

    @property
    def dim(self) -> int:
        return int(self.xs.shape[1])

    @property
    def span(self) -> float:
        """max(ts) - min(ts): the time the region's trajectories cover."""
        ts = np.asarray(self.ts)
        return float(ts.max() - ts.min())


RegionLike = Region | Trajectory | Sequence[Trajectory] | Float[ArrayLike, "m n"]


def region(
    value: RegionLike,
    *,
    inputs: AbstractInput | None = None,
    ts: Float[ArrayLike, " m"] | None = None,
    name: str = "region",
) -> Region:
    """A `Region` from states `(m, n)`, a `Trajectory`, a list of trajectories, or a `Region`.

    For trajectories, the input values are u(ts) from `inputs` (the inputs they were simulated
    with). For a bare array of states, `ts` are their times (default 0). Errors name the
    argument `name` (e.g. "train_region"): empty samples, wrong shapes and non-finite states
    are refused.
    """
    if isinstance(value, Region):
        out = value
    elif isinstance(value, Trajectory):
        out = _from_trajectories([value], inputs, name)
    elif isinstance(value, list | tuple) and value and isinstance(value[0], Trajectory):
        if not all(isinstance(v, Trajectory) for v in value):
            raise InputError(f"`{name}`: a list must hold only Trajectory objects.")
        out = _from_trajectories(list(value), inputs, name)
    else:
        try:
            xs = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"`{name}` must be states of shape (m, n), a Trajectory, a list of trajectories "
                f"or a Region; got {type(value).__name__}."
            ) from None
        if xs.ndim != 2:
            raise InputError(f"`{name}` must be states of shape (m, n); got shape {xs.shape}.")
        times = np.zeros(xs.shape[0]) if ts is None else np.asarray(ts, dtype=np.float64)
        if times.shape != (xs.shape[0],):
            raise InputError(
                f"`{name}`: `ts` must give one time per state, shape ({xs.shape[0]},); got "
                f"{times.shape}."
            )
        us = None if inputs is None else _input_values(inputs, times)
        out = Region(jnp.asarray(xs), jnp.asarray(times), us)
    _check(out, name)
    return out


def _from_trajectories(
    trajectories: list[Trajectory], inputs: AbstractInput | None, name: str
) -> Region:
    xs, ts = [], []
    for i, traj in enumerate(trajectories):
        x = np.asarray(traj.xs)
        if x.ndim != 2:
            raise InputError(
                f"`{name}`: trajectory {i} has states of shape {x.shape}; pass single "
                "trajectories (not a vmapped batch), e.g. a list of them."
            )
        keep = np.all(np.isfinite(x), axis=1)
        if not np.all(keep):
            raise InputError(
                f"`{name}`: trajectory {i} has non-finite states (a failed solve?) from t = "
                f"{float(np.asarray(traj.ts)[~keep][0]):g}; check `trajectory.result`."
            )
        xs.append(x)
        ts.append(np.asarray(traj.ts))
    xs_all, ts_all = np.concatenate(xs), np.concatenate(ts)
    us = None if inputs is None else _input_values(inputs, ts_all)
    return Region(jnp.asarray(xs_all), jnp.asarray(ts_all), us)


def _input_values(inputs: AbstractInput, ts: np.ndarray) -> Array:
    """u(t) at every time, shape (m, p)."""
    if not isinstance(inputs, AbstractInput):
        raise InputError(f"`inputs` must be an AbstractInput; got {type(inputs).__name__}.")
    return inputs.at(ts)


def _check(r: Region, name: str) -> None:
    xs = np.asarray(r.xs)
    if xs.ndim != 2 or xs.shape[0] == 0 or xs.shape[1] == 0:
        raise InputError(f"`{name}` is empty: it needs at least one state; got shape {xs.shape}.")
    bad = ~np.all(np.isfinite(xs), axis=1)
    if np.any(bad):
        rows = np.flatnonzero(bad)[:5].tolist()
        raise InputError(f"`{name}` has non-finite states (NaN or inf) at rows {rows}.")
    if r.us is not None and np.asarray(r.us).shape[0] != xs.shape[0]:
        raise InputError(f"`{name}`: input values `us` must have one row per state.")


def sample_box(
    key: PRNGKeyArray,
    lower: Float[ArrayLike, " n"],
    upper: Float[ArrayLike, " n"],
    n_samples: int,
    *,
    t: float = 0.0,
    u: Float[ArrayLike, " p"] | None = None,
) -> Region:
    """`n_samples` states drawn uniformly from the box lower <= x <= upper (at time `t`, input `u`)."""
    lo, hi = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    if lo.ndim != 1 or lo.shape != hi.shape:
        raise InputError(
            f"`lower` and `upper` must be 1-D of the same length; got {lo.shape} and {hi.shape}."
        )
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi >= lo)):
        raise InputError("`lower` and `upper` must be finite with upper >= lower.")
    if n_samples < 1:
        raise InputError(f"`n_samples` must be at least 1; got {n_samples}.")
    unit = jax.random.uniform(key, (n_samples, lo.size))
    xs = jnp.asarray(lo, unit.dtype) + unit * jnp.asarray(hi - lo, unit.dtype)
    us = None if u is None else jnp.broadcast_to(jnp.asarray(u), (n_samples, np.size(u)))
    return Region(xs, jnp.full((n_samples,), t, dtype=unit.dtype), us)
