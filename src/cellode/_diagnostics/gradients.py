"""Trust the gradients (SPEC C6): compare sensitivity methods with each other and with finite
differences, and measure how the gradient error shrinks with the solver tolerances."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PyTree

from .._sensitivity.backsolve import BacksolveAdjoint
from .._sensitivity.base import AbstractSensitivity, DiscreteAdjoint
from .._sensitivity.checkpointed_adjoint import CheckpointedAdjoint
from .._sensitivity.forward import ForwardSensitivity


def default_methods() -> dict[str, AbstractSensitivity]:
    """The four methods, by name."""
    return {
        "discrete": DiscreteAdjoint(),
        "forward": ForwardSensitivity(),
        "checkpointed": CheckpointedAdjoint(),
        "backsolve": BacksolveAdjoint(),
    }


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| (absolute when b = 0)."""
    scale = float(np.linalg.norm(b))
    diff = float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
    return diff / scale if scale > 0 else diff


def _flat_gradient(grad: PyTree) -> np.ndarray:
    return np.asarray(ravel_pytree(eqx.filter(grad, eqx.is_inexact_array))[0])


@dataclass(frozen=True)
class GradientCheck:
    """The outcome of `gradient_check`.

    `gradients[name]` is method `name`'s gradient flattened over the inexact arrays of `params`;
    `directions` (k, P) the unit directions v of the finite differences, `finite_differences` the
    central differences (L(theta + h v) - L(theta - h v)) / 2h along them and
    `directional[name]` = gradient . v. `fd_errors[name]` is the relative error of the directional
    derivatives against the finite differences, `pairwise[(a, b)]` the relative difference
    ||g_a - g_b|| / ||g_b|| of two methods' gradients.
    """

    gradients: dict[str, np.ndarray]
    directions: np.ndarray
    finite_differences: np.ndarray
    directional: dict[str, np.ndarray]
    fd_errors: dict[str, float]
    pairwise: dict[tuple[str, str], float]
    rtol: float

    @property
    def passed(self) -> bool:
        """Every method within `rtol` of the finite differences and of every other method."""
        errors = [*self.fd_errors.values(), *self.pairwise.values()]
        return all(np.isfinite(e) and e <= self.rtol for e in errors)

    def failures(self) -> list[str]:
        """One line per comparison that exceeds `rtol`."""
        lines = [
            f"{name} vs finite differences: relative error {err:.2e}"
            for name, err in self.fd_errors.items()
            if not (np.isfinite(err) and err <= self.rtol)
        ]
        lines += [
            f"{a} vs {b}: relative difference {err:.2e}"
            for (a, b), err in self.pairwise.items()
            if not (np.isfinite(err) and err <= self.rtol)
        ]
        return lines

    def __str__(self) -> str:
        lines = [f"gradient check (rtol {self.rtol:g}): {'passed' if self.passed else 'FAILED'}"]
        lines += [f"  {n} vs finite differences: {e:.2e}" for n, e in self.fd_errors.items()]
        lines += [f"  {a} vs {b}: {e:.2e}" for (a, b), e in self.pairwise.items()]
        return "\n".join(lines)


def gradient_check(
    loss: Callable[[PyTree, AbstractSensitivity], Float[Array, ""]],
    params: PyTree,
    *,
    methods: Mapping[str, AbstractSensitivity] | None = None,
    step: float = 1e-6,
    directions: int | None = None,
    key: jax.Array | None = None,
    rtol: float = 1e-4,
) -> GradientCheck:
    """Check every sensitivity method against central finite differences and against each other.

    `loss(params, sensitivity)` is a scalar loss that simulates with `sensitivity=sensitivity`;
    `params` any pytree (a model, a dict of arrays, a tuple (model, x0), ...): its inexact arrays
    are the parameters theta. For each method the gradient g = dL/dtheta is computed with
    `jax.grad`. Finite differences are central, along unit directions v:

        (L(theta + h v) - L(theta - h v)) / (2 h)  ~  g . v,  error O(h^2) + O(eps_solve / h),

    with h = `step`. `directions=None` uses the coordinate axes when theta has at most 20
    entries and 8 random directions (from `key`) otherwise; an integer asks for that many random
    directions. The values of L for the finite differences come from the first method.
    Returns a `GradientCheck` (`.passed`, `.failures()`, `print(...)`).
    """
    methods = dict(default_methods() if methods is None else methods)
    if not methods:
        raise ValueError("`methods` is empty: give at least one sensitivity method.")
    dynamic, static = eqx.partition(params, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(dynamic)
    n = flat.shape[0]
    if directions is None and n <= 20:
        vs = np.eye(n)
    else:
        count = 8 if directions is None else int(directions)
        key = jax.random.key(0) if key is None else key
        vs = np.asarray(jax.random.normal(key, (count, n), dtype=flat.dtype))
        vs /= np.linalg.norm(vs, axis=1, keepdims=True)

    first = next(iter(methods.values()))

    def loss_of_flat(theta: Array) -> Array:
        return loss(eqx.combine(unravel(theta), static), first)

    fd = np.array(
        [
            (float(loss_of_flat(flat + step * v)) - float(loss_of_flat(flat - step * v)))
            / (2 * step)
            for v in jnp.asarray(vs)
        ]
    )
    gradients = {
        name: _flat_gradient(eqx.filter_grad(lambda p, m=method: loss(p, m))(params))
        for name, method in methods.items()
    }
    directional = {name: vs @ g for name, g in gradients.items()}
    fd_errors = {name: relative_error(d, fd) for name, d in directional.items()}
    pairwise = {
        (a, b): relative_error(gradients[a], gradients[b])
        for a, b in itertools.combinations(gradients, 2)
    }
    return GradientCheck(gradients, vs, fd, directional, fd_errors, pairwise, rtol)


@dataclass(frozen=True)
class ToleranceStudy:
    """Gradient error against a tight-tolerance reference, per method and tolerance.

    `errors[name][i]` = ||g(tolerances[i]) - g_ref|| / ||g_ref||, with g_ref from
    `reference_method` at `reference_tolerance`.
    """

    tolerances: np.ndarray
    errors: dict[str, np.ndarray]
    reference_tolerance: float
    reference: np.ndarray

    def slopes(self) -> dict[str, float]:
        """Least-squares slope of log10(error) against log10(tol) per method (finite errors only)."""
        out = {}
        for name, err in self.errors.items():
            ok = np.isfinite(err) & (err > 0)
            if ok.sum() >= 2:
                out[name] = float(
                    np.polyfit(np.log10(self.tolerances[ok]), np.log10(err[ok]), 1)[0]
                )
            else:
                out[name] = float("nan")
        return out

    def plot(self, ax: Any = None) -> Any:
        """Log–log plot of gradient error versus tolerance, one line per method. Returns the
        matplotlib Figure."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(5, 4))
        else:
            fig = ax.figure
        for name, err in self.errors.items():
            ax.loglog(self.tolerances, err, marker="o", label=name)
        ax.set_xlabel("rtol (atol scaled with it)")
        ax.set_ylabel("relative gradient error")
        ax.set_title(f"gradient error vs tolerance (reference tol {self.reference_tolerance:g})")
        ax.invert_xaxis()
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        return fig


def gradient_error_vs_tolerance(
    loss: Callable[[PyTree, AbstractSensitivity, float, float], Float[Array, ""]],
    params: PyTree,
    *,
    methods: Mapping[str, AbstractSensitivity] | None = None,
    tolerances: Sequence[float] = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8),
    atol_ratio: float = 1.0,
    reference_tolerance: float = 1e-12,
    reference_method: AbstractSensitivity | None = None,
) -> ToleranceStudy:
    """Measure the bias that solver error puts into gradients (SPEC C6).

    `loss(params, sensitivity, rtol, atol)` simulates with those settings. For each method and
    each rtol in `tolerances` (atol = rtol * `atol_ratio`) the gradient is compared with a
    reference computed at rtol = `reference_tolerance` by `reference_method` (default
    `DiscreteAdjoint()`). Both passes contribute error: the forward solution, and for the
    continuous adjoints the backward solve and the interpolated x(t). The error should fall
    roughly in proportion to the tolerance; `.slopes()` fits the exponent and `.plot()` draws it.
    """
    methods = dict(default_methods() if methods is None else methods)
    reference_method = DiscreteAdjoint() if reference_method is None else reference_method
    ref_tol = float(reference_tolerance)
    reference = _flat_gradient(
        eqx.filter_grad(lambda p: loss(p, reference_method, ref_tol, ref_tol * atol_ratio))(params)
    )
    tols = np.asarray(tolerances, dtype=float)
    errors = {}
    for name, method in methods.items():
        errs = []
        for tol in tols:
            grad = eqx.filter_grad(lambda p, m=method, r=float(tol): loss(p, m, r, r * atol_ratio))(
                params
            )
            errs.append(relative_error(_flat_gradient(grad), reference))
        errors[name] = np.array(errs)
    return ToleranceStudy(tols, errors, ref_tol, reference)
