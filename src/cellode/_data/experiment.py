"""An experiment: observation times, observed values with missing entries, and its condition."""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._errors import InputError
from .._inputs import AbstractInput


class Experiment(eqx.Module):
    """Measurements of one condition: y[i, j] of observable j at time ts[i].

    `mask[i, j]` is False where a value is missing (its y is ignored). `sigma` optionally holds
    a standard deviation per point (NaN where not given). The condition is the input protocol
    u(t) (`inputs`) and the initial state `x0` (None: the problem's default).
    """

    ts: Float[Array, " T"]
    y: Float[Array, "T q"]
    mask: Bool[Array, "T q"]
    sigma: Float[Array, "T q"] | None
    inputs: AbstractInput | None
    x0: Float[Array, " n"] | None
    name: str = eqx.field(static=True, default="experiment")

    def __init__(
        self,
        ts: ArrayLike,
        y: ArrayLike,
        *,
        mask: ArrayLike | None = None,
        sigma: ArrayLike | None = None,
        inputs: AbstractInput | None = None,
        x0: ArrayLike | None = None,
        name: str = "experiment",
    ):
        ts = np.asarray(ts, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if ts.ndim != 1 or y.ndim != 2 or y.shape[0] != ts.shape[0]:
            raise InputError(
                f"Experiment {name!r}: `y` must have one row per time; got ts {ts.shape}, "
                f"y {y.shape}."
            )
        if ts.size == 0:
            raise InputError(f"Experiment {name!r} has no observation times.")
        if np.any(ts < 0) or not np.all(np.isfinite(ts)) or np.any(np.diff(ts) <= 0):
            raise InputError(
                f"Experiment {name!r}: observation times must be finite, non-negative and "
                f"strictly increasing; got {ts}."
            )
        mask = np.isfinite(y) if mask is None else np.asarray(mask, dtype=bool)
        if mask.shape != y.shape:
            raise InputError(f"Experiment {name!r}: mask shape {mask.shape} != y shape {y.shape}.")
        if np.any(mask & ~np.isfinite(y)):
            raise InputError(f"Experiment {name!r}: observed values (mask True) must be finite.")
        if not mask.any():
            raise InputError(f"Experiment {name!r} has no observed values.")
        if sigma is not None:
            sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), y.shape).copy()
            if np.any(sigma[np.isfinite(sigma)] <= 0):
                raise InputError(f"Experiment {name!r}: given sigma values must be positive.")
        self.ts = jax.numpy.asarray(ts)
        self.y = jax.numpy.asarray(np.where(mask, y, 0.0))
        self.mask = jax.numpy.asarray(mask)
        self.sigma = None if sigma is None else jax.numpy.asarray(sigma)
        self.inputs = inputs
        self.x0 = None if x0 is None else jax.numpy.asarray(np.asarray(x0, dtype=np.float64))
        self.name = name

    @property
    def n_observations(self) -> int:
        """Number of observed values (missing ones excluded)."""
        return int(np.asarray(self.mask).sum())
