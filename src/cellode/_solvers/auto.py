"""`solver="auto"`: pick an explicit or an implicit method from the spectrum of the Jacobian (SPEC D2)."""

from __future__ import annotations

from typing import NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from .._inputs import AbstractInput
from .._models.vector_field import AbstractVectorField, InputValue
from .registry import NONSTIFF_DEFAULT, STIFF_DEFAULT
from .rosenbrock import Rosenbrock23

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


# Eigenvalues with |Re λ| below this fraction of max |λ| count as zero: conservation laws put
# exact zeros in the spectrum, which round-off moves by ~1e-16 max|λ|; a physical slow mode is
# kept down to 1e-12 of the fastest (Robertson's at t = 1e11).
ZERO_EIGENVALUE_TOL = 1e-12
# Where the pilot solve looks at the spectrum, as fractions of [t0, t1]: log-spaced early, to
# catch stiffness that builds up in an initial transient (Robertson's x2 rises in 1e-4 s), then
# linear.
PILOT_FRACTIONS = (0.0, 1e-7, 1e-5, 1e-3, 1e-2, 0.05, 0.2, 0.4, 0.6, 0.8, 1.0)
PILOT_RTOL = 1e-3
PILOT_MAX_STEPS = 2000


@eqx.filter_jit
def jacobian(model: AbstractVectorField, t: Array, x: Array, u: InputValue) -> Float[Array, "n n"]:
    """J = df/dx at (t, x, u), by forward-mode differentiation (compiled once per model structure)."""
    return jax.jacfwd(lambda y: model(t, y, u))(x)


def decay_rate_range(
    eigenvalues: Complex[Array, " n"], zero_tol: float = ZERO_EIGENVALUE_TOL, xp=jnp
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """(fastest, slowest) |Re λ| over eigenvalues with Re λ < -zero_tol·max|λ|; (0, 0) if none.

    The cut-off drops the (numerically tiny) eigenvalues that conservation laws put at zero.
    The one rule both `auto` (with `xp=numpy`, no dispatch cost) and `cellode.stiffness` (with
    `xp=jax.numpy`, jit-safe) use.
    """
    scale = xp.maximum(xp.max(xp.abs(eigenvalues), initial=0.0), xp.finfo(float).tiny)
    rates = -xp.real(eigenvalues)
    decaying = rates > zero_tol * scale
    fastest = xp.max(xp.where(decaying, rates, 0.0), initial=0.0)
    slowest = xp.min(xp.where(decaying, rates, xp.inf), initial=xp.inf)
    return fastest, xp.where(xp.isfinite(slowest), slowest, 0.0)


def decay_rates(jac: np.ndarray, zero_tol: float = ZERO_EIGENVALUE_TOL) -> SpectrumSummary:
    """Summarise the eigenvalues of a (concrete) Jacobian as decay rates."""
    eig = np.linalg.eigvals(np.asarray(jac, dtype=float))
    fastest, slowest = (float(v) for v in decay_rate_range(eig, zero_tol, xp=np))
    if slowest == 0.0:
        return SpectrumSummary(0.0, 0.0, 1.0)
    return SpectrumSummary(fastest, slowest, fastest / slowest)


def looks_stiff(spectrum: SpectrumSummary, horizon: float) -> bool:
    """True when an explicit method would be limited by stability rather than accuracy."""
    return (
        spectrum.ratio >= STIFFNESS_RATIO_THRESHOLD
        and spectrum.fastest * horizon >= STABILITY_STEPS_THRESHOLD
    )


@eqx.filter_jit
def _pilot(model, inputs, u0, t0, t1, x0, probe_ts):
    """States at `probe_ts` from a cheap, loose, L-stable solve (Rosenbrock23, rtol 1e-3), and
    the Jacobians there, in one compiled call."""

    def u_at(t):
        return u0 if inputs is None else inputs(t)

    def rhs(t, x, args):
        return model(t, x, u_at(t))

    scale = 1.0 + jnp.max(jnp.abs(x0))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs),
        Rosenbrock23(),
        t0,
        t1,
        None,
        x0,
        saveat=diffrax.SaveAt(ts=probe_ts),
        stepsize_controller=diffrax.PIDController(rtol=PILOT_RTOL, atol=PILOT_RTOL * 1e-3 * scale),
        max_steps=PILOT_MAX_STEPS,
        throw=False,
    )
    # After a pilot failure (max steps, blow-up) the saved states are inf; their Jacobians are
    # discarded by the caller.
    states = jnp.where(jnp.isfinite(sol.ys), sol.ys, x0)
    jacs = jax.vmap(lambda t, x: jax.jacfwd(lambda y: model(t, y, u_at(t)))(x))(probe_ts, states)
    return sol.ys, jacs


def choose_solver(
    model: AbstractVectorField,
    t0: float,
    x0: Array,
    u0: InputValue,
    t1: float,
    *,
    inputs: AbstractInput | None = None,
) -> SolverChoice:
    """Choose a solver for x' = model(t, x, u) on [t0, t1] from the Jacobian spectrum.

    The spectrum at x0 alone misses stiffness that builds up later (Robertson's is not stiff at
    x0 = (1, 0, 0), very stiff a millisecond later). So a loose pilot solve (Rosenbrock23,
    rtol 1e-3, at most 2000 steps) visits states at 11 times across [t0, t1], log-spaced early;
    the problem is stiff when at some visited time t the stiffness ratio is at least 1e3 and
    an explicit method would need at least 1e3 steps over the remaining t1 - t just to stay
    stable. The reason string names that time and ratio.
    """
    horizon = float(t1 - t0)
    x0 = jnp.asarray(x0)
    probe_ts = jnp.asarray(t0, dtype=x0.dtype) + horizon * jnp.asarray(
        PILOT_FRACTIONS, dtype=x0.dtype
    )
    t0_, t1_ = (jnp.asarray(t, dtype=x0.dtype) for t in (t0, t1))  # traced, not static
    states, jacs = (np.asarray(a) for a in _pilot(model, inputs, u0, t0_, t1_, x0, probe_ts))
    spectra: list[tuple[float, SpectrumSummary]] = []
    for t, x, jac in zip(np.asarray(probe_ts), states, jacs, strict=True):
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(jac))):
            break  # the pilot stopped here (max steps or blow-up)
        spectra.append((float(t), decay_rates(jac)))
    if not spectra:  # x0 itself is not finite: nothing to measure; simulate reports it
        spectra = [(float(t0), SpectrumSummary(0.0, 0.0, 1.0))]
    stiff_at = [(t, sp) for t, sp in spectra if looks_stiff(sp, float(t1) - t)]
    if stiff_at:
        t_star, spectrum = max(stiff_at, key=lambda item: item[1].ratio)
    else:
        t_star, spectrum = max(spectra, key=lambda item: item[1].ratio)
    stiff = bool(stiff_at)
    name = STIFF_DEFAULT if stiff else NONSTIFF_DEFAULT
    reason = (
        f"auto: stiffness ratio {spectrum.ratio:.3g}, fastest decay rate {spectrum.fastest:.3g} "
        f"at t = {t_star:.3g} over a horizon of {horizon:.3g} "
        f"-> {'stiff' if stiff else 'non-stiff'}: {name}"
    )
    return SolverChoice(name, spectrum, horizon, reason)
