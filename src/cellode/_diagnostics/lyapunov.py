"""Finite-time Lyapunov exponents from the variational equation (SPEC D4).

A small perturbation dx(0) of the initial state evolves, to first order, as dx(t) = Phi(t) dx(0),
where the fundamental matrix Phi solves the variational equation along the solution x(t):

    dx/dt = f(t, x, u(t)),   dPhi/dt = J(t, x(t)) Phi,   Phi(0) = I,   J = df/dx.

The largest finite-time Lyapunov exponent (FTLE) over the horizon T is

    lambda = (1/T) log sigma_max(Phi(T)):

perturbations grow (lambda > 0: unstable or chaotic dynamics, predictions lose accuracy like
e^{lambda t}) or shrink (lambda < 0) at this average exponential rate. For a linear system
x' = A x with normal A, Phi(T) = e^{A T} and lambda = max Re eig(A) exactly.

Long horizons: Phi(T) grows or shrinks exponentially and its columns all turn towards the most
expanding direction. We integrate over `segments` pieces t_0 < t_1 < ... < t_K = t0 + T; after
each, QR-factorise the evolved directions, Q_j R_j = Phi(t_j, t_{j-1}) Q_{j-1}, and continue
from the orthonormal Q_j. Then Phi(T) Q_0 = Q_K R_K ... R_1, so
- the full spectrum (Benettin's method) is lambda_i = (1/T) sum_j log |(R_j)_ii|; the sum of
  all exponents is exactly (1/T) log |det Phi(T)| = (1/T) int tr J dt (Liouville);
- sigma_max(Phi(T) Q_0) = sigma_max(R_K ... R_1), accumulated with a scalar rescaling per
  segment so it neither overflows nor underflows.

Conservation laws W x = const (W S = 0) make W Phi(t) = W: each law contributes an exponent 0
on the full state, which can hide a negative largest exponent of the dynamics that matter. Pass
the laws (`laws=`) to start from Q_0 = an orthonormal basis of the null space of W: the
variational dynamics then stay in that subspace (J maps into range(S), inside it) and the
spectrum has n - k exponents, those of the reduced model (or simulate a `ReducedField`). After
each segment the directions are projected back onto that null space: round-off in the conserved
directions neither grows nor decays, and renormalisation would otherwise amplify it.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jaxtyping import Array, ArrayLike, Float, Int

from .._errors import InputError, ModelError, SolveError
from .._inputs import AbstractInput
from .._models.vector_field import AbstractVectorField, InputValue, Scalar, State
from .._networks.conservation import ConservationLaws
from .._simulation.simulate import simulate
from .._simulation.trajectory import RESULTS, is_concrete
from .._solvers.auto import choose_solver


class VariationalField(AbstractVectorField):
    """The model together with its variational equation, on the flat state y = (x, vec(Phi)):
    dx/dt = f(t, x, u), dPhi/dt = J(t, x, u) Phi with Phi of shape (n, k). J Phi is k
    Jacobian-vector products (`jax.linearize`); J itself is never formed."""

    model: AbstractVectorField
    n: int = eqx.field(static=True)
    k: int = eqx.field(static=True)

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        state, phi = x[: self.n], x[self.n :].reshape(self.n, self.k)
        dx, jvp = jax.linearize(lambda y: self.model(t, y, u), state)
        dphi = jax.vmap(jvp, in_axes=1, out_axes=1)(phi)
        return jnp.concatenate([dx, dphi.reshape(-1)])


class FTLE(eqx.Module):
    """Finite-time Lyapunov exponents of one solution (or a batch, from `ftle_map`).

    `largest` = (1/T) log sigma_max(Phi(T) Q_0); `spectrum` the k exponents from the QR
    accumulation, in decreasing order (Benettin; for T -> infinity both tend to the Lyapunov
    exponents); `horizon` T; `x_end` the state x(t0 + T); `result` the solver's result code
    (`RESULTS.successful` unless a segment failed, in which case the exponents are NaN).
    """

    largest: Float[Array, "*batch"]
    spectrum: Float[Array, "*batch k"]
    horizon: Float[Array, "*batch"]
    x_end: Float[Array, "*batch n"]
    result: RESULTS

    @property
    def succeeded(self) -> Array:
        return self.result == RESULTS.successful


def nullspace_directions(laws: ConservationLaws | Int[ArrayLike, "k n"]) -> Float[Array, "n r"]:
    """An orthonormal basis (columns) of {v : W v = 0}: the directions that keep every conserved
    total fixed."""
    W = np.asarray(laws.matrix if isinstance(laws, ConservationLaws) else laws, dtype=np.float64)
    if W.ndim != 2:
        raise InputError(f"`laws` must be a (k, n) matrix; got shape {W.shape}.")
    if W.shape[0] == 0:
        return jnp.eye(W.shape[1])
    return jnp.asarray(scipy.linalg.null_space(W))


@eqx.filter_jit
def _ftle_compiled(
    model: AbstractVectorField,
    x0: Array,
    t0: Array,
    horizon: Array,
    q0: Array,
    projector: Array | None,
    inputs: AbstractInput | None,
    segments: int,
    solver: object,
    rtol: float,
    atol: float,
    max_steps: int,
) -> FTLE:
    n, k = q0.shape
    field = VariationalField(model, n, k)
    tiny = jnp.finfo(x0.dtype).tiny
    bounds = t0 + horizon * jnp.arange(segments + 1, dtype=x0.dtype) / segments

    def segment(carry, times):
        x, q, logs, tri, log_scale, failed = carry
        y0 = jnp.concatenate([x, q.reshape(-1)])
        traj = simulate(
            field,
            y0,
            times[1][None],
            t0=times[0],
            inputs=inputs,
            solver=solver,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            throw=False,
        )
        y1 = traj.xs[-1]
        evolved = y1[n:].reshape(n, k)
        if projector is not None:
            # Round-off leaks into the conserved directions, where it neither grows nor decays;
            # renormalising would amplify it segment after segment. Project it away.
            evolved = projector @ evolved
        q_new, r = jnp.linalg.qr(evolved)
        d = jnp.diagonal(r)
        sign = jnp.where(d < 0, -1.0, 1.0).astype(x0.dtype)
        q_new, r = q_new * sign[None, :], r * sign[:, None]
        tri = r @ tri
        scale = jnp.maximum(jnp.max(jnp.abs(tri)), tiny)
        failed = failed | (traj.result != RESULTS.successful)
        carry = (
            y1[:n],
            q_new,
            logs + jnp.log(jnp.maximum(jnp.abs(d), tiny)),
            tri / scale,
            log_scale + jnp.log(scale),
            failed,
        )
        return carry, None

    start = (x0, q0, jnp.zeros(k, x0.dtype), jnp.eye(k, dtype=x0.dtype), jnp.zeros((), x0.dtype))
    pairs = jnp.stack([bounds[:-1], bounds[1:]], axis=1)
    (x_end, _, logs, tri, log_scale, failed), _ = jax.lax.scan(
        segment, (*start, jnp.asarray(False)), pairs
    )
    sigma = jnp.linalg.svd(tri, compute_uv=False)[0]
    largest = (log_scale + jnp.log(jnp.maximum(sigma, tiny))) / horizon
    spectrum = jnp.sort(logs / horizon)[::-1]
    nan = jnp.asarray(jnp.nan, x0.dtype)
    result = RESULTS.where(failed, RESULTS.nonfinite_state, RESULTS.successful)
    return FTLE(
        largest=jnp.where(failed, nan, largest),
        spectrum=jnp.where(failed, nan, spectrum),
        horizon=horizon,
        x_end=x_end,
        result=result,
    )


def _prepare(
    model: AbstractVectorField,
    x0: Array,
    horizon: float,
    t0: float,
    laws,
    directions,
    segments: int,
    inputs: AbstractInput | None,
    x0_name: str,
):
    if not isinstance(model, AbstractVectorField):
        raise ModelError(
            f"`model` must be an AbstractVectorField; got {type(model).__name__}. Wrap a plain "
            "function with `FunctionField(fn, params)`."
        )
    n = x0.shape[-1]
    if not (np.isfinite(horizon) and horizon > 0):
        raise InputError(f"`horizon` must be a finite positive time; got {horizon}.")
    if not np.isfinite(t0):
        raise InputError(f"`t0` must be finite; got {t0}.")
    if int(segments) != segments or segments < 1:
        raise InputError(f"`segments` must be a positive integer; got {segments}.")
    if laws is not None and directions is not None:
        raise InputError("give `laws` or `directions`, not both.")
    if laws is not None:
        q0 = nullspace_directions(laws)
        if q0.shape[0] != n:
            raise InputError(
                f"`laws` are over {q0.shape[0]} species but `{x0_name}` has {n} entries."
            )
    elif directions is not None:
        q0, _ = jnp.linalg.qr(jnp.asarray(directions, dtype=x0.dtype))
    else:
        q0 = jnp.eye(n, dtype=x0.dtype)
    if q0.ndim != 2 or q0.shape[0] != n or q0.shape[1] == 0:
        raise InputError(
            f"the initial directions must be an (n, k) matrix with n = {n} (the length of "
            f"`{x0_name}`) and k >= 1; got shape {q0.shape}."
        )
    q0 = q0.astype(x0.dtype)
    projector = None if laws is None else q0 @ q0.T
    try:
        out = jax.eval_shape(
            model, jnp.zeros((), x0.dtype), jnp.zeros(n, x0.dtype), _u0(inputs, t0)
        )
    except Exception as e:  # shape errors inside the user's field
        raise ModelError(
            f"evaluating {type(model).__name__} at a state of shape ({n},) (the length of "
            f"`{x0_name}`) failed: {e}"
        ) from e
    if getattr(out, "shape", None) != (n,):
        raise ModelError(
            f"{type(model).__name__} returned dx/dt of shape {getattr(out, 'shape', '?')} for a "
            f"state of shape ({n},); `{x0_name}` must have one entry per state component."
        )
    return q0, projector


def _u0(inputs: AbstractInput | None, t0: float):
    return None if inputs is None else inputs(jnp.asarray(t0))


def _as_states(x0: ArrayLike, name: str, ndim: int) -> Array:
    try:
        x = np.asarray(x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"`{name}` must be a numeric array.") from None
    if x.ndim != ndim or x.shape[-1] == 0 or (ndim == 2 and x.shape[0] == 0):
        want = "(n,)" if ndim == 1 else "(m, n) with m >= 1"
        raise InputError(f"`{name}` must have shape {want}; got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise InputError(f"`{name}` has non-finite entries (NaN or inf).")
    return jnp.asarray(x0, dtype=jnp.result_type(float))


def _resolve_solver(solver, model, x0, t0, horizon, inputs):
    if not (isinstance(solver, str) and solver.lower() == "auto"):
        return solver
    return choose_solver(model, t0, x0, _u0(inputs, t0), t0 + horizon, inputs=inputs).name


def ftle(
    model: AbstractVectorField,
    x0: Float[ArrayLike, " n"],
    horizon: float,
    *,
    t0: float = 0.0,
    inputs: AbstractInput | None = None,
    segments: int = 10,
    laws: ConservationLaws | Int[ArrayLike, "k n"] | None = None,
    directions: Float[ArrayLike, "n k"] | None = None,
    solver: str | object = "auto",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
) -> FTLE:
    """Finite-time Lyapunov exponents of the solution from x(t0) = x0 over [t0, t0 + horizon].

    Integrates x and the variational equation together (see the module docstring), in
    `segments` pieces with QR re-orthonormalisation between them. `laws` projects out
    conservation directions (Phi(0) = orthonormal basis of null(W)); `directions` gives any
    other initial subspace Q_0 (columns, orthonormalised). `solver="auto"` picks an explicit or
    implicit method from the stiffness at x0. Raises `SolveError` if a segment's solve fails.
    Compiled once per model structure, number of segments and solver.
    """
    x = _as_states(x0, "x0", 1)
    q0, projector = _prepare(model, x, horizon, t0, laws, directions, segments, inputs, "x0")
    solver = _resolve_solver(solver, model, x, t0, horizon, inputs)
    out = _ftle_compiled(
        model,
        x,
        jnp.asarray(t0, x.dtype),
        jnp.asarray(horizon, x.dtype),
        q0,
        projector,
        inputs,
        int(segments),
        solver,
        float(rtol),
        float(atol),
        int(max_steps),
    )
    if is_concrete(out) and not bool(out.succeeded):
        raise SolveError(
            f"the solve of the variational equation from x0 = {np.asarray(x0)} over a horizon "
            f"of {horizon:g} failed (state or Jacobian not finite, or max_steps reached); try a "
            "shorter horizon, tighter tolerances or another `solver`."
        )
    return out


def ftle_map(
    model: AbstractVectorField,
    x0s: Float[ArrayLike, "m n"],
    horizon: float,
    *,
    t0: float = 0.0,
    inputs: AbstractInput | None = None,
    segments: int = 10,
    laws: ConservationLaws | Int[ArrayLike, "k n"] | None = None,
    directions: Float[ArrayLike, "n k"] | None = None,
    solver: str | object = "auto",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
) -> FTLE:
    """FTLEs from many initial states at once (a grid or a sample, rows of `x0s`), by `jax.vmap`.

    Returns an `FTLE` whose fields have a leading batch axis of length m. Failed solves give
    NaN exponents and a non-successful `result` in their row instead of raising.
    `solver="auto"` decides once, from the stiffness at the first row. For a grid,
    build the rows with `np.stack(np.meshgrid(...), -1).reshape(-1, n)` and reshape `largest`.
    """
    xs = _as_states(x0s, "x0s", 2)
    q0, projector = _prepare(model, xs[0], horizon, t0, laws, directions, segments, inputs, "x0s")
    solver = _resolve_solver(solver, model, xs[0], t0, horizon, inputs)
    run = jax.vmap(
        _ftle_compiled,
        in_axes=(None, 0, *([None] * 10)),
    )
    return run(
        model,
        xs,
        jnp.asarray(t0, xs.dtype),
        jnp.asarray(horizon, xs.dtype),
        q0,
        projector,
        inputs,
        int(segments),
        solver,
        float(rtol),
        float(atol),
        int(max_steps),
    )
