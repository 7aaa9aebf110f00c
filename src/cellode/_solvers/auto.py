"""`solver="auto"`: pick an explicit or an implicit method from the spectrum of the Jacobian (SPEC D2)."""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, Float

from .._models.vector_field import AbstractVectorField, InputValue
from .registry import NONSTIFF_DEFAULT, STIFF_DEFAULT

# A problem is treated as stiff when the fastest decaying mode is this many times faster than the
# slowest one AND an explicit method would need this many steps just to stay stable.
STIFFNESS_RATIO_THRESHOLD = 1e3
STABILITY_STEPS_THRESHOLD = 1e3


class SpectrumSummary(NamedTuple):
    """Decay rates of the linearised dynamics at one state.

    `fastest` and `slowest` are the largest and smallest |Re λ| over eigenvalues of J = df/dx
    with negative real part (near-zero eigenvalues, e.g. from conservation laws, are ignored);
    `ratio` = fastest / slowest is the stiffness ratio.
    """

    fastest: float
    slowest: float
    ratio: float


class SolverChoice(NamedTuple):
    """The solver `auto` chose and the numbers that decided it."""

    name: str
    spectrum: SpectrumSummary
    horizon: float
    reason: str


@eqx.filter_jit
def jacobian(model: AbstractVectorField, t: Array, x: Array, u: InputValue) -> Float[Array, "n n"]:
    """J = df/dx at (t, x, u), by forward-mode differentiation (compiled once per model structure)."""
    return jax.jacfwd(lambda y: model(t, y, u))(x)


def decay_rates(jac: np.ndarray, zero_tol: float = 1e-10) -> SpectrumSummary:
    """Summarise the eigenvalues of a (concrete) Jacobian as decay rates."""
    eig = np.linalg.eigvals(np.asarray(jac, dtype=float))
    scale = max(float(np.max(np.abs(eig))) if eig.size else 0.0, np.finfo(float).tiny)
    rates = -eig.real[eig.real < -zero_tol * scale]
    if rates.size == 0:
        return SpectrumSummary(0.0, 0.0, 1.0)
    fastest, slowest = float(rates.max()), float(rates.min())
    return SpectrumSummary(fastest, slowest, fastest / slowest)


def looks_stiff(spectrum: SpectrumSummary, horizon: float) -> bool:
    """True when an explicit method would be limited by stability rather than accuracy."""
    return (
        spectrum.ratio >= STIFFNESS_RATIO_THRESHOLD
        and spectrum.fastest * horizon >= STABILITY_STEPS_THRESHOLD
    )


def choose_solver(
    model: AbstractVectorField, t0: float, x0: Array, u0: InputValue, t1: float
) -> SolverChoice:
    """Choose a solver for x' = model(t, x, u) on [t0, t1] from the Jacobian spectrum at x0."""
    spectrum = decay_rates(np.asarray(jacobian(model, t0, x0, u0)))
    horizon = float(t1 - t0)
    stiff = looks_stiff(spectrum, horizon)
    name = STIFF_DEFAULT if stiff else NONSTIFF_DEFAULT
    reason = (
        f"auto: stiffness ratio {spectrum.ratio:.3g}, fastest decay rate {spectrum.fastest:.3g} "
        f"over a horizon of {horizon:.3g} at x0 -> {'stiff' if stiff else 'non-stiff'}: {name}"
    )
    return SolverChoice(name, spectrum, horizon, reason)
