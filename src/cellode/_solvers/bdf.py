"""Variable-order (1–5), variable-step BDF as a diffrax solver.

Backward differentiation formulas in the backward-difference form of Shampine & Reichelt (The
MATLAB ODE suite, SIAM J. Sci. Comput. 18, 1997, §2), with κ = 0 (BDF, not NDF). The history is
the array of backward differences D_j = ∇^j y_n (j = 0..k+2) at spacing h. A step of order k:

    predict   y⁽⁰⁾ = Σ_{j≤k} D_j,    ψ = Σ_{j=1..k} γ_j D_j / γ_k,   γ_j = Σ_{i≤j} 1/i
    correct   d - (h/γ_k) f(t_{n+1}, y⁽⁰⁾ + d) + ψ = 0   (simplified Newton, matrix I - (h/γ_k) J)
    error     d / (k+1)

The multistep history lives in the solver state, which diffrax keeps only from accepted steps,
so the one-step interface of `diffeqsolve` hosts the method: a change of step size h_old → h
rescales the differences (D ← (R(h/h_old) U)ᵀ D, ibid. eq. 2.5), the order is chosen after each
step from the error estimates of orders k-1, k, k+1, and the Jacobian is reused across steps and
recomputed only when Newton fails to converge (for a `VariationalTerm`, a state with its forward
sensitivities, only the blocks J and M of its block-triangular Jacobian are kept and Newton
factorises n x n, see `variational.py`). The step size itself is the controller's: the
error estimate is returned rescaled so that a controller built for `error_order()` = 3 takes the
step-size exponent 1/(k+1) of the current order k. That needs the tolerances: pass the
controller's `rtol` and `atol` to `BDF(rtol=..., atol=...)` too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.flatten_util as jfu
import jax.lax as lax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jaxtyping import Array, Float, Int

from .linear_solve import shifted_solve
from .variational import BlockJacobian, block_jacobian, unwrap_variational

__all__ = ["BDF"]

_MAX_ORDER = 5
_GAMMA = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, _MAX_ORDER + 1))])  # γ_0..γ_5
_ERROR_ORDER = 3  # what the controller is told; the estimate is rescaled to the real order


class _BDFState(eqx.Module):
    D: Float[Array, "k n"]  # backward differences ∇^j y at spacing h, j = 0.._MAX_ORDER+2
    order: Int[Array, ""]
    h: Float[Array, ""]
    steps_at_order: Int[Array, ""]
    jac: Float[Array, "n n"] | BlockJacobian  # BlockJacobian for a VariationalTerm


def _change_matrix(factor: Array, order: Array, dtype) -> Array:
    """(R(ρ) U) restricted to the first `order` differences, identity beyond (ibid. eq. 2.5)."""
    idx = np.arange(1, _MAX_ORDER + 1)
    i, j = idx[:, None], idx[None, :]

    jf = jnp.asarray(j, dtype)

    def r_matrix(rho):
        # R_ij = Π_{m=1..i} (m - 1 - ρ j) / m
        out = jnp.ones((_MAX_ORDER, _MAX_ORDER), dtype)
        for m in range(1, _MAX_ORDER + 1):
            out = out * jnp.where(i >= m, (m - 1 - rho * jf) / m, 1.0)
        return out

    mask = jnp.asarray(idx, order.dtype) <= order
    keep = mask[:, None] & mask[None, :]
    r = jnp.where(keep, r_matrix(factor), 0.0)
    u = jnp.where(keep, r_matrix(jnp.ones((), dtype)), 0.0)
    return r @ u + jnp.diag(jnp.where(mask, 0.0, 1.0).astype(dtype))


class BDFInterpolation(diffrax.AbstractLocalInterpolation):
    """Dense output: the order-k polynomial through y_{n+1}, y_n, ..., y_{n+1-k} (spacing h)."""

    t0: Array
    t1: Array
    D: object  # pytree like y, each leaf with a leading axis over ∇^0..∇^5
    order: Array
    h: Array

    def evaluate(self, t0, t1=None, left: bool = True):
        del left
        if t1 is not None:
            return jtu.tree_map(jnp.subtract, self.evaluate(t1), self.evaluate(t0))
        dtype = self.h.dtype
        m = jnp.arange(_MAX_ORDER, dtype=dtype)
        h = jnp.where(self.h == 0, 1.0, self.h)
        x = (jnp.asarray(t0, dtype) - jnp.asarray(self.t1, dtype) + h * m) / (h * (1 + m))
        orders = jnp.arange(1, _MAX_ORDER + 1, dtype=dtype)
        p = jnp.where(orders <= jnp.asarray(self.order, dtype), jnp.cumprod(x), 0.0)
        return jtu.tree_map(
            lambda d: d[0] + jnp.tensordot(p.astype(d.dtype), d[1:], axes=1), self.D
        )


class BDF(diffrax.AbstractAdaptiveSolver):
    """Variable-order (1–5), variable-step BDF with simplified Newton and Jacobian reuse.

    `rtol`/`atol` must match the step-size controller's: they set the Newton tolerance, the
    order selection and the rescaling of the error estimate to the current order (see the
    module docstring). `max_order` caps the order (5 at most; lower it for problems with
    eigenvalues near the imaginary axis, where BDF of order > 2 is not A-stable).
    `reverse_mode=True` runs a fixed `newton_max_iters` Newton iterations (frozen once
    converged) instead of a `while_loop`, so that `jax.grad` with `RecursiveCheckpointAdjoint`
    passes through; it costs 1.3–2× the time. Forward mode (`diffrax.ForwardMode()`) works either
    way.
    """

    rtol: float | Float[Array, ""] = 1e-6
    atol: float | Float[Array, ""] = 1e-9
    max_order: int = eqx.field(static=True, default=_MAX_ORDER)
    newton_max_iters: int = eqx.field(static=True, default=4)
    reverse_mode: bool = eqx.field(static=True, default=False)

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar = BDFInterpolation

    def __check_init__(self):
        if not 1 <= self.max_order <= _MAX_ORDER:
            raise ValueError(f"BDF max_order must be in 1..5; got {self.max_order}.")

    def order(self, terms) -> int:
        del terms
        return 1  # guaranteed order; it runs at up to `max_order`

    def error_order(self, terms) -> int:
        del terms
        return _ERROR_ORDER

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)

    def _rhs(self, terms, args, unravel, unit, dtype):
        def rhs(t, y_flat):
            out = terms.vf_prod(t, unravel(y_flat), args, unit)
            return jfu.ravel_pytree(out)[0].astype(dtype)

        return rhs

    def _unit(self, terms, t0, t1):
        h = jnp.asarray(t1 - t0)
        control = terms.contr(t0, t1)
        safe_h = jnp.where(h == 0, 1.0, h)
        return jtu.tree_map(lambda c: jnp.where(h == 0, 1.0, c / safe_h), control)

    def _jacobian(self, terms, args, unravel, unit, rhs):
        """(t, y_flat) ↦ the Jacobian the Newton iteration factorises: dense, or for a
        `VariationalTerm` the blocks J and M of its block-triangular Jacobian."""
        variational = unwrap_variational(terms)
        if variational is None:
            return lambda t, y_flat: jax.jacfwd(lambda y: rhs(t, y))(y_flat)
        term, direction = variational
        return lambda t, y_flat: block_jacobian(term, direction, t, unravel(y_flat), args, unit)

    @staticmethod
    def _factorise(jac, c, unravel) -> Callable[[Array], Array]:
        """The solve r ↦ (I - c jac)⁻¹ r on the flat state."""
        if isinstance(jac, BlockJacobian):
            block = jac.factorise(c)
            return lambda r: jfu.ravel_pytree(block(unravel(r)))[0]
        return shifted_solve(jac, c)

    def _start(self, rhs, jacobian, t0, y0_flat, h) -> _BDFState:
        n = y0_flat.shape[0]
        dtype = y0_flat.dtype
        D = jnp.zeros((_MAX_ORDER + 3, n), dtype)
        D = D.at[0].set(y0_flat).at[1].set(h.astype(dtype) * rhs(t0, y0_flat))
        jac = jacobian(t0, y0_flat)
        one, zero = jnp.ones((), jnp.int32), jnp.zeros((), jnp.int32)
        return _BDFState(D, one, h.astype(dtype), zero, jac)

    def init(self, terms, t0, t1, y0, args) -> _BDFState:
        y0_flat, unravel = jfu.ravel_pytree(y0)
        unit = self._unit(terms, t0, t1)
        rhs = self._rhs(terms, args, unravel, unit, y0_flat.dtype)
        jacobian = self._jacobian(terms, args, unravel, unit, rhs)
        return self._start(rhs, jacobian, t0, y0_flat, jnp.asarray(t1 - t0))

    def step(self, terms, t0, t1, y0, args, solver_state: _BDFState, made_jump):
        y0_flat, unravel = jfu.ravel_pytree(y0)
        dtype = y0_flat.dtype
        unit = self._unit(terms, t0, t1)
        rhs = self._rhs(terms, args, unravel, unit, dtype)
        jacobian = self._jacobian(terms, args, unravel, unit, rhs)
        h = jnp.asarray(t1 - t0).astype(dtype)
        # After a jump of the vector field the history is invalid: restart at order 1.
        state = lax.cond(
            jnp.asarray(made_jump),
            lambda: self._start(rhs, jacobian, t0, y0_flat, h),
            lambda: solver_state,
        )
        k = state.order
        rows = jnp.arange(_MAX_ORDER + 3, dtype=k.dtype)
        # Rescale the differences to the new spacing h.
        factor = h / jnp.where(state.h == 0, 1.0, state.h)
        change = _change_matrix(factor, k, dtype)
        D = state.D.at[1 : _MAX_ORDER + 1].set(change.T @ state.D[1 : _MAX_ORDER + 1])
        D = jnp.where((rows > k)[:, None] & (rows <= _MAX_ORDER)[:, None], state.D, D)

        gamma = jnp.asarray(_GAMMA, dtype)
        used = (rows[: _MAX_ORDER + 1] <= k).astype(dtype)
        y_pred = used @ D[: _MAX_ORDER + 1]
        psi = ((gamma * used)[1:] @ D[1 : _MAX_ORDER + 1]) / gamma[k]
        c = h / gamma[k]
        scale = self.atol + self.rtol * jnp.abs(y_pred)
        eps = jnp.finfo(dtype).eps
        newton_tol = jnp.maximum(10 * eps / self.rtol, jnp.minimum(0.03, self.rtol**0.5))

        def norm(v):
            return jnp.sqrt(jnp.mean((v / scale) ** 2))

        def newton(jac):
            solve = self._factorise(jac, c, unravel)

            def cond(carry):
                it, _, _, _, converged, failed = carry
                return (it < self.newton_max_iters) & ~converged & ~failed

            def body(carry):
                it, y, d, old_norm, _, _ = carry
                f = rhs(t1, y)
                dy = solve(c * f - psi - d)
                dy_norm = norm(dy)
                rate = jnp.where(old_norm > 0, dy_norm / jnp.where(old_norm > 0, old_norm, 1), 0)
                failed = (it > 0) & (
                    (rate >= 1)
                    | (
                        rate ** (self.newton_max_iters - it).astype(dtype) / (1 - rate) * dy_norm
                        > newton_tol
                    )
                )
                failed = failed | ~jnp.all(jnp.isfinite(dy))
                converged = (dy_norm == 0) | ((it > 0) & (rate / (1 - rate) * dy_norm < newton_tol))
                return it + 1, y + dy, d + dy, dy_norm, converged, failed

            zero = jnp.zeros((), dtype)
            false = jnp.asarray(False)
            init = (jnp.zeros((), jnp.int32), y_pred, jnp.zeros_like(y_pred), zero, false, false)
            if self.reverse_mode:
                # A fixed number of iterations (frozen once done): reverse mode can pass it.
                def masked(_, carry):
                    new = body(carry)
                    return jtu.tree_map(lambda a, b: jnp.where(cond(carry), a, b), new, carry)

                final = lax.fori_loop(0, self.newton_max_iters, masked, init)
            else:
                final = lax.while_loop(cond, body, init)
            _, y, d, _, converged, _ = final
            return y, d, converged

        y1, d, converged = newton(state.jac)
        # Jacobian reuse: recompute it only when Newton with the old one fails.
        fresh_jac = lax.cond(converged, lambda: state.jac, lambda: jacobian(t1, y_pred))
        y1, d, converged = lax.cond(
            converged, lambda: (y1, d, converged), lambda: newton(fresh_jac)
        )

        error = d / (k + 1).astype(dtype)
        err_norm = norm(error)
        # Rescale so that the controller's exponent 1/_ERROR_ORDER acts as 1/(k+1).
        power = _ERROR_ORDER / (k + 1).astype(dtype) - 1
        safe_norm = jnp.where(err_norm > 0, err_norm, 1.0)
        error = error * safe_norm**power
        error = jnp.where(converged & jnp.all(jnp.isfinite(y1)), error, jnp.inf)
        y1 = jnp.where(converged, y1, y0_flat)

        # Update the differences (used only if the step is accepted).
        D_new = jnp.where((rows == k + 2)[:, None], d - D[k + 1], D)
        D_new = jnp.where((rows == k + 1)[:, None], d, D_new)
        upto = (rows <= k + 1)[:, None]
        summed = jnp.flip(jnp.cumsum(jnp.flip(jnp.where(upto, D_new, 0.0), 0), 0), 0)
        D_new = jnp.where((rows <= k)[:, None], summed, D_new)

        # Order selection from the error estimates of orders k-1, k, k+1.
        scale_new = self.atol + self.rtol * jnp.abs(y1)

        def scaled(v):
            return jnp.sqrt(jnp.mean((v / scale_new) ** 2))

        kf = k.astype(dtype)
        err_m = jnp.where(k > 1, scaled(D_new[k] / kf), jnp.inf)
        err_k = scaled(d / (kf + 1))
        err_p = jnp.where(k < self.max_order, scaled(D_new[k + 2] / (kf + 2)), jnp.inf)
        tiny = jnp.finfo(dtype).tiny
        factors = jnp.stack(
            [
                jnp.maximum(err_m, tiny) ** (-1 / kf),
                jnp.maximum(err_k, tiny) ** (-1 / (kf + 1)),
                jnp.maximum(err_p, tiny) ** (-1 / (kf + 2)),
            ]
        )
        may_change = state.steps_at_order + 1 >= k + 1
        delta = jnp.where(may_change, jnp.argmax(factors).astype(k.dtype) - 1, 0)
        new_order = jnp.clip(k + delta, 1, self.max_order).astype(jnp.int32)
        steps_at_order = jnp.where(new_order == k, state.steps_at_order + 1, 0).astype(jnp.int32)
        new_state = _BDFState(D_new, new_order, h, steps_at_order, fresh_jac)

        # The order goes in as a float: diffrax pre-fills its dense-output buffers with inf.
        dense_info = dict(D=jax.vmap(unravel)(D_new[: _MAX_ORDER + 1]), order=kf, h=h)
        return unravel(y1), unravel(error), dense_info, new_state, diffrax.RESULTS.successful
