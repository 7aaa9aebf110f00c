"""Stiffness along a trajectory from the spectrum of the Jacobian J(x) = df/dx (SPEC D2)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float
from matplotlib.figure import Figure

from .._errors import InputError
from .._inputs import AbstractInput
from .._models.vector_field import AbstractVectorField
from .._solvers.auto import ZERO_EIGENVALUE_TOL, decay_rate_range

__all__ = ["StiffnessReport", "plot_stiffness", "stiffness"]


class StiffnessReport(eqx.Module):
    """The linearised dynamics at each time of a trajectory.

    `eigenvalues[i]` are the eigenvalues λ of J(x(ts[i])). Over those with Re λ < 0 (modes that
    decay; eigenvalues within `zero_tol`·max|λ| of zero, e.g. from conservation laws, are left
    out) `fastest[i]` = max |Re λ|, `slowest[i]` = min |Re λ| and `ratio[i]` = fastest/slowest,
    the stiffness ratio (1 where fewer than one decaying mode exists). `fastest` also bounds the
    stable step of an explicit method: h ≲ 3/fastest for Tsit5 and Dopri5.
    """

    ts: Float[Array, " T"]
    eigenvalues: Complex[Array, "T n"]
    fastest: Float[Array, " T"]
    slowest: Float[Array, " T"]
    ratio: Float[Array, " T"]
    zero_tol: float = eqx.field(static=True, default=ZERO_EIGENVALUE_TOL)

    @property
    def max_ratio(self) -> Array:
        """The largest stiffness ratio along the trajectory."""
        return jnp.max(self.ratio)

    @property
    def t_max_ratio(self) -> Array:
        """The time where the stiffness ratio is largest."""
        return self.ts[jnp.argmax(self.ratio)]


def stiffness(
    model: AbstractVectorField,
    ts: Float[ArrayLike, " T"] | object,
    xs: Float[ArrayLike, "T n"] | None = None,
    inputs: AbstractInput | None = None,
    *,
    zero_tol: float = ZERO_EIGENVALUE_TOL,
) -> StiffnessReport:
    """Eigenvalues of J = df/dx and the stiffness ratio at every state of a trajectory.

    Call as `stiffness(model, ts, xs, inputs)` or `stiffness(model, trajectory, inputs=inputs)`
    with the `Trajectory` that `simulate` returned. J is computed by forward-mode autodiff at
    (ts[i], xs[i], u(ts[i])); the ratio is max |Re λ| / min |Re λ| over decaying modes (see
    `StiffnessReport`). Jit-safe; `plot_stiffness` draws the result.
    """
    if xs is None:
        if not (hasattr(ts, "ts") and hasattr(ts, "xs")):
            raise InputError(
                "stiffness(model, ts, xs) needs the states `xs`, or pass the Trajectory that "
                "simulate() returned: stiffness(model, trajectory)."
            )
        ts, xs = ts.ts, ts.xs
    ts = jnp.asarray(ts)
    xs = jnp.asarray(xs)
    if xs.ndim != 2 or ts.shape != xs.shape[:1]:
        raise InputError(
            f"stiffness() needs ts of shape (T,) and xs of shape (T, n); got {ts.shape} and "
            f"{xs.shape}."
        )

    def jac(t, x):
        u = None if inputs is None else inputs(t)
        return jax.jacfwd(lambda y: model(t, y, u))(x)

    eigenvalues = jnp.linalg.eigvals(jax.vmap(jac)(ts, xs))
    fastest, slowest = jax.vmap(lambda lam: decay_rate_range(lam, zero_tol))(eigenvalues)
    ratio = jnp.where(slowest > 0, fastest / jnp.where(slowest > 0, slowest, 1.0), 1.0)
    return StiffnessReport(ts, eigenvalues, fastest, slowest, ratio, zero_tol)


def plot_stiffness(report: StiffnessReport, *, title: str | None = None) -> Figure:
    """Two panels over time: |Re λ| of every mode (blue decaying, red growing; eigenvalues
    counted as zero, e.g. from conservation laws, are not drawn), and the stiffness ratio.

    Returns a matplotlib `Figure` (not attached to pyplot; save it with `fig.savefig(path)`).
    """
    ts = np.asarray(report.ts)
    eig = np.asarray(report.eigenvalues)
    fig = Figure(figsize=(7.0, 5.5), layout="constrained")
    ax_rates, ax_ratio = fig.subplots(2, 1, sharex=True)
    rates = -eig.real
    scale = np.max(np.abs(eig), axis=1, keepdims=True)
    zero = np.abs(rates) <= report.zero_tol * scale
    tt = np.broadcast_to(ts[:, None], rates.shape)
    for mask, color, label in (
        (~zero & (rates > 0), "tab:blue", "decaying: -Re λ"),
        (~zero & (rates < 0), "tab:red", "growing: Re λ"),
    ):
        if np.any(mask):
            ax_rates.scatter(tt[mask], np.abs(rates[mask]), s=6, color=color, label=label)
    ax_rates.plot(ts, np.asarray(report.fastest), color="k", lw=0.8, label="fastest decay")
    ax_rates.set_yscale("log")
    ax_rates.set_ylabel("|Re λ| of J(x(t))")
    ax_rates.legend(loc="best", fontsize="small")
    ax_ratio.plot(ts, np.asarray(report.ratio), color="tab:purple")
    ax_ratio.set_yscale("log")
    ax_ratio.set_ylabel("stiffness ratio")
    ax_ratio.set_xlabel("t")
    if ts.size > 1 and ts[0] > 0 and ts[-1] / ts[0] > 1e3:
        ax_ratio.set_xscale("log")
    fig.suptitle(title or f"Stiffness: max ratio {float(report.max_ratio):.2g}")
    return fig
