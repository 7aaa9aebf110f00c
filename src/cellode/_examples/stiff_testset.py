"""The standard stiff test problems with their published reference solutions.

Problems and reference end values are those of the *Test Set for IVP Solvers* (F. Mazzia,
C. Magherini et al., University of Bari, release 2.4, 2008; http://www.dm.uniba.it/~testset),
which took several of them from Hairer & Wanner, *Solving Ordinary Differential Equations II*
(2nd ed., 1996), §IV.10. Each reference was computed there with RADAU5 in extended precision
(rtol = atol = 1.1e-18); the values below are copied from the `solut` subroutines of the Test
Set's Fortran files, named per problem.

Each vector field is an `AbstractVectorField` whose rate constants are its fields, so the
problems also serve for gradient and `vmap` tests.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._models.vector_field import AbstractVectorField, InputValue, Scalar, State

__all__ = [
    "E5",
    "E5Reduced",
    "Hires",
    "Oregonator",
    "Pollution",
    "Robertson",
    "StiffProblem",
    "VanDerPol",
    "mixed_error_digits",
    "stiff_testset",
]


def _params(values: ArrayLike | None, default: tuple[float, ...]) -> Float[Array, " k"]:
    return jnp.asarray(default if values is None else values, dtype=float)


class Robertson(AbstractVectorField):
    """ROBER: Robertson's autocatalytic reaction A → B (k1), 2B → B + C (k2), B + C → A + C (k3).

    x1 + x2 + x3 is conserved. `k` = (k1, k2, k3) = (0.04, 3e7, 1e4).
    """

    k: Float[Array, " 3"]

    def __init__(self, k: ArrayLike | None = None):
        self.k = _params(k, (0.04, 3.0e7, 1.0e4))

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        del t, u
        k1, k2, k3 = self.k
        r1 = k1 * x[0]
        r2 = k2 * x[1] ** 2
        r3 = k3 * x[1] * x[2]
        return jnp.stack([-r1 + r3, r1 - r2 - r3, r2])


class Hires(AbstractVectorField):
    """HIRES: 8 species of plant photomorphogenesis (Schäfer 1975), a 'High Irradiance RESponse'.

    `k` = (k1, ..., k9, o_ks) as in the Test Set's `hires.f`.
    """

    k: Float[Array, " 10"]

    def __init__(self, k: ArrayLike | None = None):
        self.k = _params(k, (1.71, 0.43, 8.32, 0.69, 0.035, 8.32, 280.0, 0.69, 0.69, 0.0007))

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        del t, u
        k1, k2, k3, k4, k5, k6, k7, k8, k9, oks = self.k
        y1, y2, y3, y4, y5, y6, y7, y8 = x
        f7 = k7 * y6 * y8 - (k2 + k8 + k9) * y7
        return jnp.stack(
            [
                -k1 * y1 + k2 * y2 + k6 * y3 + oks,
                k1 * y1 - (k2 + k3) * y2,
                -(k6 + k1) * y3 + k2 * y4 + k5 * y5,
                k3 * y2 + k1 * y3 - (k4 + k2) * y4,
                -(k5 + k1) * y5 + k2 * (y6 + y7),
                -k7 * y6 * y8 + k8 * y4 + k1 * y5 - k2 * y6 + k8 * y7,
                f7,
                -f7,
            ]
        )


class Oregonator(AbstractVectorField):
    """OREGO: the Oregonator model of the Belousov–Zhabotinsky reaction (Field & Noyes 1974).

    `p` = (s, w, q) = (77.27, 0.161, 8.375e-6).
    """

    p: Float[Array, " 3"]

    def __init__(self, p: ArrayLike | None = None):
        self.p = _params(p, (77.27, 0.161, 8.375e-6))

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        del t, u
        s, w, q = self.p
        y1, y2, y3 = x
        return jnp.stack(
            [
                s * (y2 + y1 * (1 - q * y1 - y2)),
                (y3 - (1 + y1) * y2) / s,
                w * (y1 - y3),
            ]
        )


# (reactant indices, product indices with multiplicity) of the 25 POLLU reactions, 0-based.
_POLLU_REACTANTS = (
    (0,), (1, 3), (4, 1), (6,), (6,), (6, 5), (8,), (8, 5), (10, 1), (10, 0), (12,), (9, 1),
    (13,), (0, 5), (2,), (3,), (3,), (15,), (15,), (16, 5), (18,), (18,), (0, 3), (18, 0), (19,),
)  # fmt: skip
_POLLU_PRODUCTS = (
    (1, 2), (0,), (0, 5), (4, 4, 7), (7,), (4, 7), (4, 7, 9), (10,), (0, 9, 11), (12,), (0, 10),
    (0, 13), (4, 6), (14,), (3,), (15,), (2,), (5, 5), (2,), (4, 17), (1,), (0, 2), (18,), (19,),
    (0, 18),
)  # fmt: skip


class Pollution(AbstractVectorField):
    """POLLU: the air-pollution model of the Dutch National Institute of Public Health
    (Verwer 1994): 20 species, 25 mass-action reactions with rate constants `k`.
    """

    k: Float[Array, " 25"]

    def __init__(self, k: ArrayLike | None = None):
        self.k = _params(
            k,
            (
                0.35, 26.6, 1.23e4, 8.6e-4, 8.2e-4, 1.5e4, 1.3e-4, 2.4e4, 1.65e4, 9.0e3, 0.022,
                1.2e4, 1.88, 1.63e4, 4.8e6, 3.5e-4, 0.0175, 1.0e8, 4.44e11, 1.24e3, 2.1, 5.78,
                0.0474, 1.78e3, 3.12,
            ),
        )  # fmt: skip

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        del t, u
        rates = [
            self.k[r] * math.prod(x[i] for i in reactants)
            for r, reactants in enumerate(_POLLU_REACTANTS)
        ]
        dx = [jnp.zeros((), dtype=x.dtype) for _ in range(20)]
        for r, (reactants, products) in enumerate(
            zip(_POLLU_REACTANTS, _POLLU_PRODUCTS, strict=True)
        ):
            for i in reactants:
                dx[i] = dx[i] - rates[r]
            for i in products:
                dx[i] = dx[i] + rates[r]
        return jnp.stack(dx)


class VanDerPol(AbstractVectorField):
    """VDPOL: the van der Pol oscillator x1' = x2, x2' = μ (1 - x1²) x2 - x1, with μ = 1e3
    (the Test Set's 'VDPOLM', unscaled time)."""

    mu: Float[Array, ""]

    def __init__(self, mu: ArrayLike = 1.0e3):
        self.mu = jnp.asarray(mu, dtype=float)

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        del t, u
        return jnp.stack([x[1], self.mu * (1 - x[0] ** 2) * x[1] - x[0]])


class E5(AbstractVectorField):
    """E5: a chemical pyrolysis (Enright, Hull & Lindberg 1975, stiff DETEST), integrated to
    t = 1e13. `p` = (A, B, C, M) = (7.89e-10, 1.1e7, 1.13e3, 1e6)."""

    p: Float[Array, " 4"]

    def __init__(self, p: ArrayLike | None = None):
        self.p = _params(p, (7.89e-10, 1.1e7, 1.13e3, 1.0e6))

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        del t, u
        a, b, c, m = self.p
        y1, y2, y3, y4 = x
        f1 = -a * y1 - b * y1 * y3
        f2 = a * y1 - m * c * y2 * y3
        f4 = b * y1 * y3 - c * y4
        return jnp.stack([f1, f2, f2 - f4, f4])


class E5Reduced(AbstractVectorField):
    """E5 with its conservation law x2 - x3 - x4 = 0 eliminated: state (x1, x2, x4), x3 = x2 - x4.

    In E5's late phase x2 ≈ x3 ≈ 1e-22 decay together while x4 = x2 - x3 ≈ 1e-55; an error of
    1e-20 in the conserved quantity lets x3 collapse to zero. Rosenbrock methods keep linear
    invariants only as well as the Jacobian's round-off allows (times h, here up to 1e11), so they
    need the reduced system; that is what SPEC B2's reduction before implicit solves is for.
    """

    p: Float[Array, " 4"]

    def __init__(self, p: ArrayLike | None = None):
        self.p = _params(p, (7.89e-10, 1.1e7, 1.13e3, 1.0e6))

    def __call__(self, t: Scalar, x: State, u: InputValue) -> State:
        del t, u
        a, b, c, m = self.p
        y1, y2, y4 = x
        y3 = y2 - y4
        return jnp.stack([-a * y1 - b * y1 * y3, a * y1 - m * c * y2 * y3, b * y1 * y3 - c * y4])


def _e5_full_state(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.stack([x[..., 0], x[..., 1], x[..., 1] - x[..., 2], x[..., 2]], axis=-1)


@dataclasses.dataclass(frozen=True)
class StiffProblem:
    """A test problem: vector field, x(t0) = x0, end time t1, reference x(t1) and its source.

    `atol_scale` is the absolute tolerance the problem needs relative to rtol (its components'
    magnitude). `x0` and `reference` are float64 NumPy arrays. `reference` is the published
    full state; when `field` is a reduced model, `full_state` maps its state back to it.
    """

    name: str
    field: AbstractVectorField
    x0: np.ndarray
    t0: float
    t1: float
    reference: np.ndarray
    source: str
    atol_scale: float = 1.0
    to_full: Callable[[np.ndarray], np.ndarray] | None = None

    def full_state(self, x: ArrayLike) -> np.ndarray:
        """The published problem's state from the state of `field` (identity unless reduced)."""
        x = np.asarray(x, dtype=np.float64)
        return x if self.to_full is None else self.to_full(x)


def mixed_error_digits(x: ArrayLike, reference: ArrayLike, rtol: float, atol: float) -> float:
    """The Test Set's 'mescd': -log10 max_i |x_i - ref_i| / (atol/rtol + |ref_i|).

    The number of significant correct digits, relative for components above atol/rtol and
    absolute below. A solve at tolerance rtol should score about -log10(rtol) or a little less.
    """
    x = np.asarray(x, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    err = np.max(np.abs(x - reference) / (atol / rtol + np.abs(reference)))
    return float(-np.log10(max(err, 1e-300)))


def stiff_testset() -> dict[str, StiffProblem]:
    """The six problems, by name: ROBER, HIRES, OREGO, POLLU, VDPOL, E5 (E5 in reduced form)."""
    problems = [
        StiffProblem(
            "ROBER",
            Robertson(),
            np.array([1.0, 0.0, 0.0]),
            0.0,
            1.0e11,
            np.array([0.2083340149701255e-07, 0.8333360770334713e-13, 0.9999999791665050]),
            "Test Set for IVP Solvers, rober.f (Hairer & Wanner II, §IV.1)",
            atol_scale=1e-6,
        ),
        StiffProblem(
            "HIRES",
            Hires(),
            np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057]),
            0.0,
            321.8122,
            np.array(
                [
                    0.7371312573325668e-3,
                    0.1442485726316185e-3,
                    0.5888729740967575e-4,
                    0.1175651343283149e-2,
                    0.2386356198831331e-2,
                    0.6238968252742796e-2,
                    0.2849998395185769e-2,
                    0.2850001604814231e-2,
                ]
            ),
            "Test Set for IVP Solvers, hires.f (Hairer & Wanner II, §IV.10)",
            atol_scale=1e-3,
        ),
        StiffProblem(
            "OREGO",
            Oregonator(),
            np.array([1.0, 2.0, 3.0]),
            0.0,
            360.0,
            np.array([0.1000814870318523e1, 0.1228178521549917e4, 0.1320554942846706e3]),
            "Test Set for IVP Solvers, orego.f (Hairer & Wanner II, §IV.10)",
        ),
        StiffProblem(
            "POLLU",
            Pollution(),
            np.array(
                [0, 0.2, 0, 0.04, 0, 0, 0.1, 0.3, 0.01, 0, 0, 0, 0, 0, 0, 0, 0.007, 0, 0, 0],
                dtype=np.float64,
            ),
            0.0,
            60.0,
            np.array(
                [
                    0.5646255480022769e-01,
                    0.1342484130422339e00,
                    0.4139734331099427e-08,
                    0.5523140207484359e-02,
                    0.2018977262302196e-06,
                    0.1464541863493966e-06,
                    0.7784249118997964e-01,
                    0.3245075353396018e00,
                    0.7494013383880406e-02,
                    0.1622293157301561e-07,
                    0.1135863833257075e-07,
                    0.2230505975721359e-02,
                    0.2087162882798630e-03,
                    0.1396921016840158e-04,
                    0.8964884856898295e-02,
                    0.4352846369330103e-17,
                    0.6899219696263405e-02,
                    0.1007803037365946e-03,
                    0.1772146513969984e-05,
                    0.5682943292316392e-04,
                ]
            ),
            "Test Set for IVP Solvers, pollu.f (Verwer 1994)",
            atol_scale=1e-3,
        ),
        StiffProblem(
            "VDPOL",
            VanDerPol(),
            np.array([2.0, 0.0]),
            0.0,
            2000.0,
            np.array([0.1706167732170469e1, -0.8928097010248125e-3]),
            "Test Set for IVP Solvers, vdpolm.f (μ = 1e3; Hairer & Wanner II, §IV.10)",
        ),
        StiffProblem(
            "E5",
            E5Reduced(),
            np.array([1.76e-3, 0.0, 0.0]),
            0.0,
            1.0e13,
            np.array(
                [0.1152903278711829e-290, 0.8867655517642120e-22, 0.8854814626268838e-22, 0.0]
            ),
            "Test Set for IVP Solvers, e5.f (Hairer & Wanner II, §IV.10); solved reduced",
            atol_scale=1e-20,
            to_full=_e5_full_state,
        ),
    ]
    return {p.name: p for p in problems}
