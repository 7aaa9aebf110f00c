"""Local Lipschitz constants of a vector field and the Groenwall growth they imply (SPEC D4).

The local Lipschitz constant of f at x is the spectral norm of its Jacobian,

    L(x) = ||J_f(x)||_2 = sigma_max(J_f(x)),   J_f = df/dx,

the largest factor by which f stretches a small displacement at x. If two solutions stay in a
region where L(x) <= L, their distance grows at most like e^{L t} (Groenwall's inequality):
||x(t) - y(t)|| <= e^{L t} ||x(0) - y(0)||, and a model error of size eps in f gives a solution
error of at most eps (e^{L t} - 1) / L. So a model whose Lipschitz constant is much larger on the
states a new condition visits than on the states it was trained on amplifies its errors there.

Two ways to compute sigma_max:
- "svd": the full Jacobian by forward-mode differentiation (n jvps) and its singular values;
  exact, O(n^3).
- "power": power iteration on J^T J using one jvp (J v) and one vjp (J^T w) per step, never
  forming J: v <- J^T J v / ||J^T J v||, sigma = ||J v||, until sigma changes by less than a
  relative `tol`. Cost O(steps x cost of f); it converges from below, the error shrinking by
  (sigma_2 / sigma_1)^2 per step (slowly when the top two singular values are close).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InputError, ModelError
from .._inputs import AbstractInput
from .._models.vector_field import AbstractVectorField
from .region import Region, RegionLike, region

# Above this state dimension "auto" uses power iteration instead of a dense SVD.
SVD_MAX_DIM = 64
Method = Literal["auto", "svd", "power"]


def _resolve_method(method: str, n: int) -> str:
    if method not in ("auto", "svd", "power"):
        raise InputError(f"`method` must be 'auto', 'svd' or 'power'; got {method!r}.")
    if method == "auto":
        return "svd" if n <= SVD_MAX_DIM else "power"
    return method


def _norm_svd(model: AbstractVectorField, t: Array, x: Array, u: Array | None) -> Array:
    jac = jax.jacfwd(lambda y: model(t, y, u))(x)
    return jnp.linalg.svd(jac, compute_uv=False)[0]


def _norm_power(
    model: AbstractVectorField,
    t: Array,
    x: Array,
    u: Array | None,
    v0: Array,
    max_iterations: int,
    tol: float,
) -> Array:
    f = lambda y: model(t, y, u)
    _, jvp = jax.linearize(f, x)
    vjp = jax.linear_transpose(jvp, x)
    tiny = jnp.finfo(x.dtype).tiny

    def step(state):
        i, v, _, sigma = state
        w = jvp(v)
        g = vjp(w)[0]
        return i + 1, g / jnp.maximum(jnp.linalg.norm(g), tiny), sigma, jnp.linalg.norm(w)

    def going(state):
        i, _, previous, sigma = state
        return (i < max_iterations) & (jnp.abs(sigma - previous) > tol * sigma)

    inf = jnp.asarray(jnp.inf, x.dtype)
    start = (jnp.asarray(0), v0 / jnp.linalg.norm(v0), inf, jnp.asarray(0.0, x.dtype))
    _, v, _, _ = jax.lax.while_loop(going, step, step(start))
    return jnp.linalg.norm(jvp(v))


@eqx.filter_jit
def _lipschitz_compiled(
    model: AbstractVectorField,
    xs: Array,
    ts: Array,
    us: Array | None,
    v0: Array,
    method: str,
    max_iterations: int,
    tol: float,
) -> Array:
    if method == "svd":
        return jax.vmap(lambda t, x, u: _norm_svd(model, t, x, u))(ts, xs, us)
    return jax.vmap(lambda t, x, u, v: _norm_power(model, t, x, u, v, max_iterations, tol))(
        ts, xs, us, v0
    )


def local_lipschitz(
    model: AbstractVectorField,
    states: RegionLike,
    *,
    inputs: AbstractInput | None = None,
    method: Method = "auto",
    max_iterations: int = 1000,
    tol: float = 1e-10,
    key: PRNGKeyArray | None = None,
) -> Float[Array, " m"]:
    """L(x) = ||J_f(x)||_2 at every state of `states` (see the module docstring).

    `states` is an array (m, n) of states (evaluated at t = 0), a `Trajectory` or list of them
    (evaluated at their times, with u(t) from `inputs`), or a `Region`. `method` is "svd"
    (exact), "power" (power iteration, one jvp/vjp pair per step, started from a random vector
    drawn with `key`, default `jax.random.key(0)`, until the estimate changes by less than
    `tol` relative, at most `max_iterations` steps) or "auto" (SVD up to n = 64).
    One compiled function per model structure and shape: new states or parameters reuse it.
    """
    if not isinstance(model, AbstractVectorField):
        raise ModelError(
            f"`model` must be an AbstractVectorField; got {type(model).__name__}. Wrap a plain "
            "function with `FunctionField(fn, params)`."
        )
    reg = region(states, inputs=inputs, name="states")
    how = _resolve_method(method, reg.dim)
    if max_iterations < 1:
        raise InputError(f"`max_iterations` must be at least 1; got {max_iterations}.")
    if not tol >= 0:
        raise InputError(f"`tol` must be >= 0; got {tol}.")
    key = jax.random.key(0) if key is None else key
    v0 = jax.random.normal(key, reg.xs.shape, dtype=reg.xs.dtype)
    _check_field_shape(model, reg)
    return _lipschitz_compiled(
        model, reg.xs, reg.ts, reg.us, v0, how, int(max_iterations), float(tol)
    )


def _check_field_shape(model: AbstractVectorField, reg: Region) -> None:
    u = None if reg.us is None else reg.us[0]
    try:
        out = jax.eval_shape(model, reg.ts[0], reg.xs[0], u)
    except Exception as e:  # shape errors inside the user's field
        raise ModelError(
            f"evaluating {type(model).__name__} at a state of shape ({reg.dim},) failed: {e}. "
            "Do the states have one entry per species of the model?"
        ) from e
    if getattr(out, "shape", None) != (reg.dim,):
        raise ModelError(
            f"{type(model).__name__} returned dx/dt of shape {getattr(out, 'shape', '?')} for "
            f"states of shape ({reg.dim},); the states must match the model's state dimension."
        )


@dataclass(frozen=True, eq=False)
class LipschitzReport:
    """Local Lipschitz constants on the training region and on a test region, compared.

    `train[i]`, `test[j]`: L(x) = ||J_f(x)||_2 at each state. Summaries: `level` is the
    `quantile` (default 0.95) of each sample, `ratio` = level(test) / level(train), and
    `growth` = e^{L_test T} with L_test = max over the test states and T = `horizon`: the
    Groenwall factor by which a perturbation (or a model error) can grow over the prediction
    horizon on the test region (`train_growth` the same with the training maximum).
    """

    train: Float[np.ndarray, " m"]
    test: Float[np.ndarray, " k"]
    horizon: float
    quantile: float

    @property
    def train_level(self) -> float:
        return float(np.quantile(self.train, self.quantile))

    @property
    def test_level(self) -> float:
        return float(np.quantile(self.test, self.quantile))

    @property
    def ratio(self) -> float:
        """level(test) / level(train) (inf when the field is flat on the training region)."""
        denom = self.train_level
        return float(self.test_level / denom) if denom > 0 else float("inf")

    @property
    def train_max(self) -> float:
        return float(np.max(self.train))

    @property
    def test_max(self) -> float:
        return float(np.max(self.test))

    @property
    def growth(self) -> float:
        """Groenwall factor e^{L_test T} over the horizon (inf on overflow)."""
        with np.errstate(over="ignore"):
            return float(np.exp(self.test_max * self.horizon))

    @property
    def train_growth(self) -> float:
        with np.errstate(over="ignore"):
            return float(np.exp(self.train_max * self.horizon))

    def summary(self) -> str:
        q = "max" if self.quantile == 1.0 else f"{100 * self.quantile:g}th percentile"
        return (
            f"Local Lipschitz constant ||J_f(x)||_2 ({q}): {self.train_level:.3g} on the training "
            f"region ({self.train.size} states), {self.test_level:.3g} on the test region "
            f"({self.test.size} states): ratio {self.ratio:.3g}.\n"
            f"Groenwall factor over the horizon T = {self.horizon:.3g}: e^(L T) = "
            f"e^({self.test_max:.3g} T) = {self.growth:.3g} on the test region, "
            f"{self.train_growth:.3g} on the training region (L = max over each region)."
        )


def lipschitz_report(
    model: AbstractVectorField,
    train_region: RegionLike,
    test_region: RegionLike,
    *,
    horizon: float | None = None,
    inputs: AbstractInput | None = None,
    test_inputs: AbstractInput | None = None,
    quantile: float = 0.95,
    method: Method = "auto",
    max_iterations: int = 1000,
    tol: float = 1e-10,
    key: PRNGKeyArray | None = None,
) -> LipschitzReport:
    """Compare ||J_f(x)||_2 on Omega_train (states the training data visit) and Omega_test
    (states a new condition visits), with the Groenwall growth e^{L T} over the prediction
    horizon T.

    Regions are anything `cellode.region` accepts (states, trajectories, a `Region`); the input
    values of trajectories come from `inputs` (training) and `test_inputs` (test; default
    `inputs`). `horizon` defaults to the time span of the test region.
    """
    train = region(train_region, inputs=inputs, name="train_region")
    test = region(
        test_region, inputs=inputs if test_inputs is None else test_inputs, name="test_region"
    )
    if train.dim != test.dim:
        raise InputError(
            f"`train_region` has states of dimension {train.dim} but `test_region` has "
            f"{test.dim}; both must be states of the same model."
        )
    if not 0.0 < quantile <= 1.0:
        raise InputError(f"`quantile` must be in (0, 1]; got {quantile}.")
    if horizon is None:
        horizon = test.span
    if not (np.isfinite(horizon) and horizon >= 0):
        raise InputError(f"`horizon` must be a finite time >= 0; got {horizon}.")
    kwargs = dict(method=method, max_iterations=max_iterations, tol=tol, key=key)
    l_train = np.asarray(local_lipschitz(model, train, **kwargs))
    l_test = np.asarray(local_lipschitz(model, test, **kwargs))
    for name, values in (("train_region", l_train), ("test_region", l_test)):
        if not np.all(np.isfinite(values)):
            raise ModelError(
                f"the Jacobian of {type(model).__name__} is not finite at some states of "
                f"`{name}`; the vector field breaks down there."
            )
    return LipschitzReport(l_train, l_test, float(horizon), float(quantile))
