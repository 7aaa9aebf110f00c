"""Prior distributions of PEtab v2 parameter tables, truncated to the parameter bounds.

-log p(x) = -log f(x) + log(F(ub) - F(lb)) on [lb, ub] (+inf outside), with f the density and
F the distribution function; the normaliser is a constant of the table, computed once. Values
are on the linear scale. Parameterisations (checked against the PEtab test suite's priors):
uniform (a; b), normal (mean; sd), laplace (location; scale), log-normal and log-laplace (the
same of log x), cauchy (location; scale), chisquare (degrees of freedom), exponential (scale),
gamma (shape; scale), rayleigh (scale), log-uniform (a; b: density 1/(x log(b/a))).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import scipy.stats as st
from jax.scipy.special import gammaln, xlogy
from jaxtyping import Array, Float

from .errors import PetabError

N_PARAMETERS = {
    "uniform": 2,
    "normal": 2,
    "laplace": 2,
    "log-normal": 2,
    "log-laplace": 2,
    "cauchy": 2,
    "chisquare": 1,
    "exponential": 1,
    "gamma": 2,
    "rayleigh": 1,
    "log-uniform": 2,
}
DISTRIBUTIONS: tuple[str, ...] = tuple(N_PARAMETERS)


def _scipy(kind: str, q: tuple[float, ...]):
    """The same distribution in SciPy, for its distribution function (normaliser only)."""
    if kind == "uniform":
        return st.uniform(q[0], q[1] - q[0])
    if kind == "normal":
        return st.norm(q[0], q[1])
    if kind == "laplace":
        return st.laplace(q[0], q[1])
    if kind == "log-normal":
        return st.lognorm(q[1], scale=math.exp(q[0]))
    if kind == "log-laplace":
        return st.loglaplace(1.0 / q[1], scale=math.exp(q[0]))
    if kind == "cauchy":
        return st.cauchy(q[0], q[1])
    if kind == "chisquare":
        return st.chi2(q[0])
    if kind == "exponential":
        return st.expon(scale=q[0])
    if kind == "gamma":
        return st.gamma(q[0], scale=q[1])
    if kind == "rayleigh":
        return st.rayleigh(scale=q[0])
    return st.loguniform(q[0], q[1])


@dataclass(frozen=True)
class TruncatedPrior:
    """A v2 prior on one parameter, truncated to its bounds [lower, upper]."""

    kind: str
    parameters: tuple[float, ...]
    lower: float
    upper: float
    log_normaliser: float  # log(F(upper) - F(lower))

    @classmethod
    def from_table(
        cls, kind: str, parameters: tuple[float, ...], lower: float, upper: float, where: str
    ) -> TruncatedPrior:
        """The prior of a parameter-table row; `where` names the row in errors."""
        if kind not in N_PARAMETERS:
            raise PetabError(
                f"{where}: unknown prior distribution {kind!r}; use one of "
                f"{', '.join(DISTRIBUTIONS)}."
            )
        if len(parameters) != N_PARAMETERS[kind]:
            raise PetabError(
                f"{where}: the {kind} prior takes {N_PARAMETERS[kind]} number(s) in "
                f"priorParameters (separated by ';'), got {len(parameters)}."
            )
        dist = _scipy(kind, tuple(parameters))
        mass = float(dist.cdf(upper)) - float(dist.cdf(lower))
        if not mass > 0:
            raise PetabError(
                f"{where}: the {kind} prior has no mass between the bounds {lower} and {upper}."
            )
        return cls(kind, tuple(float(v) for v in parameters), lower, upper, math.log(mass))

    def neg_log_density(self, x: Float[Array, ""]) -> Float[Array, ""]:
        """-log p(x) of the truncated prior; +inf outside the bounds or the support."""
        q, kind = self.parameters, self.kind
        inside = (x >= self.lower) & (x <= self.upper)
        positive = kind in ("log-normal", "log-laplace", "chisquare", "exponential", "gamma")
        positive = positive or kind in ("rayleigh", "log-uniform")
        if positive:
            inside = inside & (x > 0)
        safe = jnp.where(inside, x, 1.0 if positive else 0.0)
        if positive and kind == "log-uniform":
            inside = inside & (x >= q[0]) & (x <= q[1])
            safe = jnp.where(inside, x, q[0])
        lx = jnp.log(safe) if positive else safe
        if kind == "uniform":
            inside = inside & (x >= q[0]) & (x <= q[1])
            nll = jnp.asarray(math.log(q[1] - q[0]), dtype=jnp.result_type(float))
        elif kind == "normal":
            nll = 0.5 * math.log(2 * math.pi * q[1] ** 2) + 0.5 * ((safe - q[0]) / q[1]) ** 2
        elif kind == "laplace":
            nll = math.log(2 * q[1]) + jnp.abs(safe - q[0]) / q[1]
        elif kind == "log-normal":
            nll = 0.5 * math.log(2 * math.pi * q[1] ** 2) + lx + 0.5 * ((lx - q[0]) / q[1]) ** 2
        elif kind == "log-laplace":
            nll = math.log(2 * q[1]) + lx + jnp.abs(lx - q[0]) / q[1]
        elif kind == "cauchy":
            nll = math.log(math.pi * q[1]) + jnp.log1p(((safe - q[0]) / q[1]) ** 2)
        elif kind == "chisquare":
            k = q[0] / 2
            nll = k * math.log(2) + gammaln(k) - xlogy(k - 1, safe) + safe / 2
        elif kind == "exponential":
            nll = math.log(q[0]) + safe / q[0]
        elif kind == "gamma":
            shape, scale = q
            nll = gammaln(shape) + shape * math.log(scale) - (shape - 1) * lx + safe / scale
        elif kind == "rayleigh":
            nll = 2 * math.log(q[0]) - lx + safe**2 / (2 * q[0] ** 2)
        else:  # log-uniform
            nll = lx + math.log(math.log(q[1] / q[0]))
        return jnp.where(inside, nll + self.log_normaliser, jnp.inf)
