"""External inputs u(t): ligand dose protocols, pulses, ramps and measured input curves (SPEC A1).

Every input knows the times where it (or its slope) jumps: `simulate` makes the step-size
controller stop exactly on each of them, so a dose change is never smeared across a step.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._errors import InputError


class AbstractInput(eqx.Module):
    """An input signal u(t) with `n_inputs` channels."""

    @abc.abstractmethod
    def __call__(self, t: Float[ArrayLike, ""]) -> Float[Array, " p"]:
        """The input value u(t), shape `(n_inputs,)`."""

    @property
    @abc.abstractmethod
    def n_inputs(self) -> int:
        """Number of input channels p."""

    @property
    @abc.abstractmethod
    def discontinuities(self) -> Float[Array, " k"]:
        """Times where u(t) or its first derivative jumps (the solver steps onto each one)."""

    def at(self, ts: Float[ArrayLike, " T"]) -> Float[Array, "T p"]:
        """u at every time of `ts`, in one vectorised call (for tables and plots)."""
        return jax.vmap(self)(jnp.asarray(ts))


def _as_2d_values(values: ArrayLike, name: str) -> Array:
    values = jnp.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise InputError(f"`{name}` must have shape (k,) or (k, p); got shape {values.shape}.")
    return values


def _check_increasing(times: Array, name: str) -> None:
    if isinstance(times, jax.core.Tracer):  # built inside jit: checked where it is built concretely
        return
    concrete = np.asarray(times)
    if concrete.size and not np.all(np.isfinite(concrete)):
        raise InputError(f"`{name}` contains non-finite times: {concrete}.")
    if concrete.size > 1 and np.any(np.diff(concrete) <= 0):
        raise InputError(f"`{name}` must be strictly increasing; got {concrete}.")


class Constant(AbstractInput):
    """A constant input u(t) = value."""

    value: Float[Array, " p"]

    def __init__(self, value: ArrayLike):
        self.value = jnp.atleast_1d(jnp.asarray(value, dtype=float))

    def __call__(self, t: Float[ArrayLike, ""]) -> Float[Array, " p"]:
        return self.value

    @property
    def n_inputs(self) -> int:
        return self.value.shape[0]

    @property
    def discontinuities(self) -> Float[Array, " k"]:
        return jnp.zeros((0,), dtype=self.value.dtype)


class PiecewiseConstant(AbstractInput):
    """A dose protocol that holds `values[i]` on [times[i-1], times[i]) (right-continuous).

    `times` has k change points and `values` has k + 1 rows: `values[0]` before the first
    change, `values[k]` after the last.

        PiecewiseConstant(times=[2.0, 5.0], values=[0.0, 10.0, 0.0])  # a dose of 10 on [2, 5)
    """

    times: Float[Array, " k"]
    values: Float[Array, "k+1 p"]

    def __init__(self, times: ArrayLike, values: ArrayLike):
        self.times = jnp.atleast_1d(jnp.asarray(times, dtype=float))
        self.values = _as_2d_values(values, "values")
        if self.values.shape[0] != self.times.shape[0] + 1:
            raise InputError(
                f"PiecewiseConstant needs one more value than change times: got "
                f"{self.times.shape[0]} times and {self.values.shape[0]} values. "
                "Give the value before the first change as values[0]."
            )
        _check_increasing(self.times, "times")

    @classmethod
    def pulses(
        cls,
        starts: Sequence[float] | ArrayLike,
        duration: float,
        amplitude: float | ArrayLike,
        baseline: float = 0.0,
    ) -> PiecewiseConstant:
        """Rectangular pulses of height `amplitude` starting at each of `starts`, each `duration` long."""
        starts = np.atleast_1d(np.asarray(starts, dtype=float))
        if duration <= 0:
            raise InputError(f"Pulse `duration` must be positive; got {duration}.")
        if starts.size > 1 and np.any(np.diff(starts) <= duration):
            raise InputError("Pulses overlap: each start must come after the previous pulse ends.")
        amplitude = np.broadcast_to(np.asarray(amplitude, dtype=float), starts.shape)
        times = np.stack([starts, starts + duration], axis=1).reshape(-1)
        values = [baseline]
        for a in amplitude:
            values += [a, baseline]
        return cls(times, np.asarray(values))

    def __call__(self, t: Float[ArrayLike, ""]) -> Float[Array, " p"]:
        return self.values[jnp.searchsorted(self.times, t, side="right")]

    @property
    def n_inputs(self) -> int:
        return self.values.shape[1]

    @property
    def discontinuities(self) -> Float[Array, " k"]:
        return self.times


class PiecewiseLinear(AbstractInput):
    """Linear interpolation between measured points (a ramp, or a measured input curve).

    Held constant at `values[0]` before `times[0]` and at `values[-1]` after `times[-1]`; the
    slope jumps at every knot, so the knots are the discontinuities the solver steps onto.
    """

    times: Float[Array, " k"]
    values: Float[Array, "k p"]

    def __init__(self, times: ArrayLike, values: ArrayLike):
        self.times = jnp.atleast_1d(jnp.asarray(times, dtype=float))
        self.values = _as_2d_values(values, "values")
        if self.values.shape[0] != self.times.shape[0]:
            raise InputError(
                f"PiecewiseLinear needs one value per time: got {self.times.shape[0]} times and "
                f"{self.values.shape[0]} values."
            )
        if self.times.shape[0] < 1:
            raise InputError("PiecewiseLinear needs at least one (time, value) point.")
        _check_increasing(self.times, "times")

    def __call__(self, t: Float[ArrayLike, ""]) -> Float[Array, " p"]:
        return jnp.stack(
            [jnp.interp(t, self.times, self.values[:, j]) for j in range(self.values.shape[1])]
        )

    @property
    def n_inputs(self) -> int:
        return self.values.shape[1]

    @property
    def discontinuities(self) -> Float[Array, " k"]:
        return self.times


class Stacked(AbstractInput):
    """Several inputs side by side: u(t) = concat(u_1(t), u_2(t), ...)."""

    parts: tuple[AbstractInput, ...]

    def __init__(self, *parts: AbstractInput):
        if not parts:
            raise InputError("Stacked needs at least one input.")
        self.parts = tuple(parts)

    def __call__(self, t: Float[ArrayLike, ""]) -> Float[Array, " p"]:
        return jnp.concatenate([part(t) for part in self.parts])

    @property
    def n_inputs(self) -> int:
        return sum(part.n_inputs for part in self.parts)

    @property
    def discontinuities(self) -> Float[Array, " k"]:
        return jnp.sort(jnp.concatenate([part.discontinuities for part in self.parts]))
