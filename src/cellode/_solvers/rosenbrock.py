"""Rosenbrock–Wanner (linearly implicit) solvers for stiff ODEs, as diffrax solvers.

A Rosenbrock method replaces the nonlinear solve of an implicit Runge–Kutta method by `s` linear
solves with one matrix per step. In the transformed form of Hairer & Wanner (Solving ODEs II,
§IV.7, eq. 7.25), with `u_i` the stage increments, `J = df/dy (t0, y0)` and `f_t = df/dt (t0, y0)`:

    (I - h γ J) u_i = h γ f(t0 + c_i h, y0 + Σ_{j<i} a_ij u_j) + γ Σ_{j<i} C_ij u_j + h² γ d_i f_t
    y1 = y0 + Σ_i m_i u_i,        error estimate Σ_i e_i u_i.

One Jacobian (`jax.jacfwd`), one time derivative (`jax.jvp`), one factorisation per step
(`linear_solve.shifted_solve`), reused by every stage. For a `VariationalTerm` (a state with its forward sensitivities) the
factorisation is of the state's n x n block only (`variational.block_solver`). Every step is a pure function of its inputs, so `diffrax.diffeqsolve`
differentiates through it (`RecursiveCheckpointAdjoint`) and `jax.vmap` batches it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.flatten_util as jfu
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jaxtyping import Array, PyTree

from .linear_solve import shifted_solve
from .variational import block_solver, unwrap_variational

__all__ = ["AbstractRosenbrock", "Rodas5P", "Rosenbrock23", "RosenbrockTableau"]


@dataclasses.dataclass(frozen=True)
class RosenbrockTableau:
    """Coefficients of a Rosenbrock method in Hairer–Wanner's transformed form.

    `a`, `C`: strictly lower-triangular `(s, s)`; `c`, `d`: nodes and time-derivative weights;
    `m`: solution weights; `e`: error weights (`m` minus the embedded method's weights);
    `H`: `(k, s)` dense-output matrix, the interpolant being
    `y(θ) = (1-θ) y0 + θ (y1 + (1-θ) Σ_r θ^r (H u)_r)`.
    `order` is the order of `y1`, `embedded_order` that of the embedded solution (higher than
    `order` for Rosenbrock23, whose error estimate comes from a third-order companion).
    """

    gamma: float
    a: np.ndarray
    C: np.ndarray
    c: np.ndarray
    d: np.ndarray
    m: np.ndarray
    e: np.ndarray
    H: np.ndarray
    order: int
    embedded_order: int

    @classmethod
    def from_original(
        cls,
        alpha: np.ndarray,
        gammas: np.ndarray,
        b: np.ndarray,
        b_embedded: np.ndarray,
        dense_k: np.ndarray,
        order: int,
        embedded_order: int,
    ) -> RosenbrockTableau:
        """Build the transformed tableau from the original coefficients (α_ij, γ_ij, b_i, b̂_i).

        `gammas` is lower triangular with the constant γ on its diagonal. `dense_k` gives the
        dense-output vectors as combinations of the original stages `k_i = h·(stage slope)`.
        With Γ = `gammas`: a = α Γ⁻¹, C = diag(1/γ) − Γ⁻¹, m = b Γ⁻¹ (Hairer–Wanner eq. 7.26).
        """
        gamma = float(gammas[0, 0])
        inv = np.linalg.inv(gammas)
        return cls(
            gamma=gamma,
            a=np.tril(alpha @ inv, -1),
            C=np.tril(np.eye(len(b)) / gamma - inv, -1),
            c=alpha.sum(axis=1),
            d=gammas.sum(axis=1),
            m=b @ inv,
            e=(b - b_embedded) @ inv,
            H=dense_k @ inv,
            order=order,
            embedded_order=embedded_order,
        )

    def original(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The original coefficients (α, Γ, b, b̂), recovered by inverting the transformation."""
        s = len(self.m)
        gammas = np.linalg.inv(np.eye(s) / self.gamma - self.C)
        return self.a @ gammas, gammas, self.m @ gammas, (self.m - self.e) @ gammas


class RosenbrockInterpolation(diffrax.AbstractLocalInterpolation):
    """Dense output of a Rosenbrock step: y(θ) = (1-θ) y0 + θ (y1 + (1-θ) Σ_r θ^r k_r)."""

    t0: Array
    t1: Array
    y0: PyTree[Array]
    y1: PyTree[Array]
    k: PyTree[Array]  # each leaf has a leading axis over the dense-output vectors

    def evaluate(self, t0, t1=None, left: bool = True) -> PyTree[Array]:
        del left
        if t1 is not None:
            return jtu.tree_map(jnp.subtract, self.evaluate(t1), self.evaluate(t0))
        dt = self.t1 - self.t0
        theta = jnp.where(dt == 0, 0.0, (t0 - self.t0) / jnp.where(dt == 0, 1.0, dt))

        def _eval(y0, y1, k):
            theta_ = theta.astype(y0.dtype)
            poly = k[-1]
            for r in range(k.shape[0] - 2, -1, -1):
                poly = k[r] + theta_ * poly
            return (1 - theta_) * y0 + theta_ * (y1 + (1 - theta_) * poly)

        return jtu.tree_map(_eval, self.y0, self.y1, self.k)


class AbstractRosenbrock(diffrax.AbstractAdaptiveSolver):
    """A Rosenbrock–Wanner method given by a `RosenbrockTableau`, for ODE terms.

    Works inside `diffrax.diffeqsolve` with any adaptive step-size controller, `SaveAt` (dense
    output) and `RecursiveCheckpointAdjoint`. The Jacobian is exact (forward-mode autodiff), as
    the order conditions of these methods assume.
    """

    tableau: eqx.AbstractClassVar[RosenbrockTableau]
    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar[Callable[..., RosenbrockInterpolation]] = RosenbrockInterpolation

    def order(self, terms) -> int:
        del terms
        return self.tableau.order

    def error_order(self, terms) -> int:
        # The error estimate is y1 minus the embedded solution: O(h^(min order + 1)).
        del terms
        return min(self.tableau.order, self.tableau.embedded_order) + 1

    def init(self, terms, t0, t1, y0, args) -> None:
        del terms, t0, t1, y0, args
        return None

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        tab = self.tableau
        s = len(tab.m)
        y0_flat, unravel = jfu.ravel_pytree(y0)
        dtype = y0_flat.dtype
        h = jnp.asarray(t1 - t0)
        # d(y)/d(t) = vf_prod(t, y, control) / (t1 - t0): correct for diffrax's time reversal.
        control = terms.contr(t0, t1)
        safe_h = jnp.where(h == 0, 1.0, h)
        unit = jtu.tree_map(lambda c: jnp.where(h == 0, 1.0, c / safe_h), control)

        def rhs(t, y_flat):
            out = terms.vf_prod(t, unravel(y_flat), args, unit)
            return jfu.ravel_pytree(out)[0].astype(dtype)

        f0, f_t = jax.jvp(lambda t: rhs(t, y0_flat), (t0,), (jnp.ones_like(t0),))
        h_y = h.astype(dtype)
        hg = h_y * tab.gamma
        variational = unwrap_variational(terms)
        if variational is None:
            jac = jax.jacfwd(lambda y: rhs(t0, y))(y0_flat)
            solve = shifted_solve(jac, hg)
        else:
            # x with its sensitivities: the block lower-triangular Jacobian needs one n x n LU.
            block = block_solver(*variational, t0, y0, args, unit, hg)

            def solve(b: Array) -> Array:
                return jfu.ravel_pytree(block(unravel(b)))[0]

        us: list[Array] = []
        for i in range(s):
            if i == 0:
                fi = f0
            else:
                yi = y0_flat
                for j in range(i):
                    if tab.a[i, j] != 0:
                        yi = yi + float(tab.a[i, j]) * us[j]
                fi = rhs(t0 + float(tab.c[i]) * h, yi)
            b = hg * fi
            for j in range(i):
                if tab.C[i, j] != 0:
                    b = b + float(tab.gamma * tab.C[i, j]) * us[j]
            if tab.d[i] != 0:
                b = b + (hg * h_y * float(tab.d[i])) * f_t
            us.append(solve(b))

        u = jnp.stack(us)
        y1_flat = y0_flat + jnp.asarray(tab.m, dtype) @ u
        err_flat = jnp.asarray(tab.e, dtype) @ u
        # A singular or overflowing step: report an infinite error so the controller shrinks h.
        bad = ~jnp.all(jnp.isfinite(y1_flat))
        err_flat = jnp.where(bad, jnp.inf, err_flat)
        y1_flat = jnp.where(bad, y0_flat, y1_flat)
        k = jnp.asarray(tab.H, dtype) @ u
        y1 = unravel(y1_flat)
        dense_info = dict(y0=y0, y1=y1, k=jax.vmap(unravel)(k))
        return y1, unravel(err_flat), dense_info, None, diffrax.RESULTS.successful


# --- Rodas5P ----------------------------------------------------------------------------------
# Steinebach, "Construction of Rosenbrock–Wanner method Rodas5P and numerical benchmarks within
# the Julia Differential Equations package", BIT Numer. Math. 63 (2023) 27. Eight stages, order
# 5 with an embedded order-4 solution, stiffly accurate (L-stable), dense output of order 4.
# Coefficients in the transformed form; the last three stages are evaluated at t0 + h without
# time-derivative terms, y1 = (argument of stage 8) + u8, and the error estimate is u8.
_R5P_A = {
    (1, 0): 3.0,
    (2, 0): 2.849394379747939,
    (2, 1): 0.45842242204463923,
    (3, 0): -6.954028509809101,
    (3, 1): 2.489845061869568,
    (3, 2): -10.358996098473584,
    (4, 0): 2.8029986275628964,
    (4, 1): 0.5072464736228206,
    (4, 2): -0.3988312541770524,
    (4, 3): -0.04721187230404641,
    (5, 0): -7.502846399306121,
    (5, 1): 2.561846144803919,
    (5, 2): -11.627539656261098,
    (5, 3): -0.18268767659942256,
    (5, 4): 0.030198172008377946,
}
_R5P_C = [
    [-14.155112264123755],
    [-17.97296035885952, -2.859693295451294],
    [147.12150275711716, -1.41221402718213, 71.68940251302358],
    [165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306],
    [
        24.854864614690072,
        -3.0009227002832186,
        47.4931110020768,
        5.5814197821558125,
        -0.6610691825249471,
    ],
    [
        30.91273214028599,
        -3.1208243349937974,
        77.79954646070892,
        34.28646028294783,
        -19.097331116725623,
        -28.087943162872662,
    ],
    [
        37.80277123390563,
        -3.2571969029072276,
        112.26918849496327,
        66.9347231244047,
        -40.06618937091002,
        -54.66780262877968,
        -9.48861652309627,
    ],
]
_R5P_GAMMA = 0.21193756319429014
_R5P_c = [0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716, 0.4288403609558664]
_R5P_d = [
    0.21193756319429014,
    -0.42387512638858027,
    -0.3384627126235924,
    1.8046452872882734,
    2.325825639765069,
]
_R5P_H = [
    [
        25.948786856663858,
        -2.5579724845846235,
        10.433815404888879,
        -2.3679251022685204,
        0.524948541321073,
        1.1241088310450404,
        0.4272876194431874,
        -0.17202221070155493,
    ],
    [
        -9.91568850695171,
        -0.9689944594115154,
        3.0438037242978453,
        -24.495224566215796,
        20.176138334709044,
        15.98066361424651,
        -6.789040303419874,
        -6.710236069923372,
    ],
    [
        11.419903575922262,
        2.8879645146136994,
        72.92137995996029,
        80.12511834622643,
        -52.072871366152654,
        -59.78993625266729,
        -0.15582684282751913,
        4.883087185713722,
    ],
]


def _rodas5p_tableau() -> RosenbrockTableau:
    s = 8
    a = np.zeros((s, s))
    for (i, j), v in _R5P_A.items():
        a[i, j] = v
    # Stages 7 and 8 are evaluated at y0 + Σ a_6j u_j + u6 (+ u7): the stiffly accurate end.
    a[6, :5] = a[5, :5]
    a[6, 5] = 1.0
    a[7, :6] = a[6, :6]
    a[7, 6] = 1.0
    C = np.zeros((s, s))
    for i, row in enumerate(_R5P_C, start=1):
        C[i, : len(row)] = row
    m = np.concatenate([a[7, :7], [1.0]])
    e = np.zeros(s)
    e[7] = 1.0
    return RosenbrockTableau(
        gamma=_R5P_GAMMA,
        a=a,
        C=C,
        c=np.array([*_R5P_c, 1.0, 1.0, 1.0]),
        d=np.array([*_R5P_d, 0.0, 0.0, 0.0]),
        m=m,
        e=e,
        H=np.array(_R5P_H),
        order=5,
        embedded_order=4,
    )


# --- Rosenbrock23 -----------------------------------------------------------------------------
# Shampine & Reichelt, "The MATLAB ODE suite", SIAM J. Sci. Comput. 18 (1997) 1–22 (ode23s):
# d = 1/(2+√2), e32 = 6+√2. Written as a 3-stage Rosenbrock method (α, Γ): stage 2 at t0 + h/2,
# stage 3 at y1 = y0 + k2; y1 has order 2 (b = e2), the embedded (k1 + 4 k2 + k3)/6 order 3;
# L-stable. Dense output y0 + θ(1-θ)/(1-2d) k1 + θ(θ-2d)/(1-2d) k2.
def _rosenbrock23_tableau() -> RosenbrockTableau:
    d = 1.0 / (2.0 + math.sqrt(2.0))
    e32 = 6.0 + math.sqrt(2.0)
    alpha = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 1.0, 0.0]])
    gammas = np.array([[d, 0.0, 0.0], [-d, d, 0.0], [d * (e32 - 2.0), -e32 * d, d]])
    b = np.array([0.0, 1.0, 0.0])
    b_embedded = np.array([1.0, 4.0, 1.0]) / 6.0
    # y(θ) = (1-θ) y0 + θ y1 + θ(1-θ)(k1 - k2)/(1-2d)
    dense_k = np.array([[1.0, -1.0, 0.0]]) / (1.0 - 2.0 * d)
    return RosenbrockTableau.from_original(alpha, gammas, b, b_embedded, dense_k, 2, 3)


class Rodas5P(AbstractRosenbrock):
    """Rodas5P (Steinebach 2023): 8-stage, order-5 Rosenbrock method with embedded order-4
    error estimate and order-4 dense output; L-stable and stiffly accurate.

    The stiff solver of choice for tolerances from 1e-4 to 1e-10. One Jacobian, one LU
    factorisation and eight right-hand-side evaluations per step.
    """

    tableau: ClassVar[RosenbrockTableau] = _rodas5p_tableau()


class Rosenbrock23(AbstractRosenbrock):
    """Rosenbrock23 (Shampine & Reichelt 1997, MATLAB's ode23s): order 2 with an embedded
    order-3 error estimate, L-stable; cheap steps for loose tolerances (rtol ≳ 1e-3).
    """

    tableau: ClassVar[RosenbrockTableau] = _rosenbrock23_tableau()
