"""Noise models of PEtab measurements: the negative log-likelihood of one data point.

A measurement m of an observable with simulated value y and noise parameter sigma:

    normal:   -log p = 1/2 log(2 pi sigma^2) + 1/2 ((h(m) - h(y)) / sigma)^2 + log |h'(m)|^-1...
    laplace:  -log p = log(2 sigma) + |h(m) - h(y)| / sigma + ...

where h is the observable transformation (`lin`: h(v) = v; `log`: h(v) = ln v; `log10`:
h(v) = log10 v) and the density is that of m, so the Jacobian of h enters:
+ ln m for `log`, + ln(m ln 10) for `log10`. "log-normal" is `normal` with `log`, "log10-normal"
`normal` with `log10`.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, Float

TRANSFORMS = ("lin", "log", "log10")
DISTRIBUTIONS = ("normal", "laplace")


def transform(v: Array, code: Array) -> Array:
    """h(v) for transformation codes 0 = lin, 1 = log, 2 = log10."""
    safe = jnp.where(code == 0, 1.0, v)
    return jnp.where(code == 0, v, jnp.where(code == 1, jnp.log(safe), jnp.log10(safe)))


def residual(
    y: Float[Array, " m"], m: Float[Array, " m"], sigma: Float[Array, " m"], code: Array
) -> Float[Array, " m"]:
    """(h(m) - h(y)) / sigma: the weighted residual PEtab's chi2 squares."""
    return (transform(m, code) - transform(y, code)) / sigma


def negative_log_likelihood(
    y: Float[Array, " m"],
    m: Float[Array, " m"],
    sigma: Float[Array, " m"],
    transform_code: Array,
    laplace: Array,
) -> Float[Array, " m"]:
    """-log p(m | y, sigma) for every data point (see the module docstring)."""
    r = residual(y, m, sigma, transform_code)
    normal = 0.5 * jnp.log(2 * math.pi * sigma**2) + 0.5 * r**2
    lap = jnp.log(2 * sigma) + jnp.abs(r)
    safe_m = jnp.where(transform_code == 0, 1.0, m)
    jacobian = jnp.where(
        transform_code == 0,
        0.0,
        jnp.where(transform_code == 1, jnp.log(safe_m), jnp.log(safe_m * math.log(10.0))),
    )
    return jnp.where(laplace, lap, normal) + jacobian
