"""Noise models: the negative log-likelihood of observations given predictions (SPEC C1).

Each model returns -log p(y | yhat) summed over the observed entries (mask True); missing values
contribute nothing. Standard deviations are fixed, given per data point, or estimated (array
fields on log scale, fitted with the model).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._errors import ModelError

LOG_2PI = float(np.log(2 * np.pi))


class AbstractNoiseModel(eqx.Module):
    """-log p(y | yhat) for observations y (T, q), predictions yhat (T, q), a mask of observed entries."""

    @abc.abstractmethod
    def nllh(
        self,
        y: Float[Array, "T q"],
        yhat: Float[Array, "T q"],
        mask: Bool[Array, "T q"],
        sigma: Float[Array, "T q"] | None,
    ) -> Float[Array, ""]:
        """Negative log-likelihood; `sigma` holds per-point standard deviations from the data."""

    def weighted_residuals(
        self,
        y: Float[Array, "T q"],
        yhat: Float[Array, "T q"],
        mask: Bool[Array, "T q"],
        sigma: Float[Array, "T q"] | None,
    ) -> Float[Array, "T q"]:
        """Residuals whose half sum of squares is the data-dependent part of the nllh."""
        raise ModelError(
            f"{type(self).__name__} has no least-squares form; fit it with a gradient optimiser."
        )


def _sigma_array(log_sigma: Array, q: int) -> Array:
    return jnp.broadcast_to(jnp.exp(log_sigma), (q,))


class Gaussian(AbstractNoiseModel):
    """Independent Gaussian noise, y = yhat + sigma * eps: diagonal Sigma.

    `sigma` is one value per observable (or one for all). `estimate=True` fits log sigma;
    `use_data_sigma=True` takes sigma from the data's `sigma` column where given.
    nllh = sum over observed entries of ((y - yhat) / sigma)^2 / 2 + log(sigma) + log(2 pi) / 2.
    """

    log_sigma: Float[Array, " q"]
    estimate: bool = eqx.field(static=True, default=False)
    use_data_sigma: bool = eqx.field(static=True, default=False)

    def __init__(
        self, sigma: ArrayLike = 1.0, *, estimate: bool = False, use_data_sigma: bool = False
    ):
        sigma = np.atleast_1d(np.asarray(sigma, dtype=np.float64))
        if np.any(sigma <= 0) or not np.all(np.isfinite(sigma)):
            raise ModelError(f"Noise standard deviations must be positive and finite; got {sigma}.")
        self.log_sigma = jnp.asarray(np.log(sigma))
        self.estimate = estimate
        self.use_data_sigma = use_data_sigma

    def _sigma(self, yhat: Array, sigma_data: Array | None) -> Array:
        sigma = _sigma_array(self.log_sigma, yhat.shape[-1]).astype(yhat.dtype)
        sigma = jnp.broadcast_to(sigma, yhat.shape)
        if self.use_data_sigma and sigma_data is not None:
            sigma = jnp.where(jnp.isfinite(sigma_data), sigma_data, sigma)
        return sigma

    def nllh(self, y, yhat, mask, sigma=None):
        s = self._sigma(yhat, sigma)
        r = jnp.where(mask, (y - yhat) / s, 0.0)
        terms = 0.5 * r**2 + jnp.where(mask, jnp.log(s) + 0.5 * LOG_2PI, 0.0)
        return jnp.sum(terms)

    def weighted_residuals(self, y, yhat, mask, sigma=None):
        return jnp.where(mask, (y - yhat) / self._sigma(yhat, sigma), 0.0)


class GaussianFull(AbstractNoiseModel):
    """Correlated Gaussian noise across observables at one time: full covariance Sigma = L L^T.

    `log_diag` and `off_diag` parametrise the Cholesky factor L (positive diagonal). With missing
    values the likelihood is that of the observed sub-vector: Sigma_oo, exactly.
    """

    log_diag: Float[Array, " q"]
    off_diag: Float[Array, " r"]

    def __init__(self, covariance: ArrayLike):
        cov = np.asarray(covariance, dtype=np.float64)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
            raise ModelError(f"`covariance` must be a square matrix; got shape {cov.shape}.")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ModelError("`covariance` must be symmetric positive definite.") from None
        self.log_diag = jnp.asarray(np.log(np.diag(chol)))
        self.off_diag = jnp.asarray(chol[np.tril_indices(cov.shape[0], -1)])

    @property
    def covariance(self) -> Float[Array, "q q"]:
        """Sigma = L L^T."""
        q = self.log_diag.shape[0]
        chol = jnp.zeros((q, q), self.log_diag.dtype).at[jnp.tril_indices(q, -1)].set(self.off_diag)
        chol = chol + jnp.diag(jnp.exp(self.log_diag))
        return chol @ chol.T

    def nllh(self, y, yhat, mask, sigma=None):
        cov = self.covariance.astype(yhat.dtype)

        def one_time(y_t, yhat_t, m_t):
            # Marginal of the observed entries: unobserved rows/columns become the identity.
            mm = jnp.outer(m_t, m_t)
            cov_t = jnp.where(mm, cov, jnp.eye(cov.shape[0], dtype=cov.dtype))
            r = jnp.where(m_t, y_t - yhat_t, 0.0)
            chol = jnp.linalg.cholesky(cov_t)
            z = jnp.linalg.solve(chol, r)
            logdet = 2 * jnp.sum(jnp.log(jnp.diag(chol)))
            return 0.5 * z @ z + 0.5 * logdet + 0.5 * LOG_2PI * jnp.sum(m_t.astype(cov.dtype))

        return jnp.sum(jax.vmap(one_time)(y, yhat, mask))


class LogNormal(AbstractNoiseModel):
    """Multiplicative noise: log y = log yhat + sigma * eps (needs y > 0 and yhat > 0).

    nllh = sum over observed entries of ((log y - log yhat) / sigma)^2 / 2 + log(sigma) + log(y)
    + log(2 pi) / 2 (the log y term is the Jacobian of the change of variables).
    """

    log_sigma: Float[Array, " q"]
    estimate: bool = eqx.field(static=True, default=False)

    def __init__(self, sigma: ArrayLike = 0.1, *, estimate: bool = False):
        sigma = np.atleast_1d(np.asarray(sigma, dtype=np.float64))
        if np.any(sigma <= 0):
            raise ModelError(f"Noise standard deviations must be positive; got {sigma}.")
        self.log_sigma = jnp.asarray(np.log(sigma))
        self.estimate = estimate

    def nllh(self, y, yhat, mask, sigma=None):
        s = jnp.broadcast_to(_sigma_array(self.log_sigma, yhat.shape[-1]), yhat.shape)
        s = s.astype(yhat.dtype)
        safe_y = jnp.where(mask, y, 1.0)
        safe_yhat = jnp.where(mask, jnp.maximum(yhat, jnp.finfo(yhat.dtype).tiny), 1.0)
        r = jnp.where(mask, (jnp.log(safe_y) - jnp.log(safe_yhat)) / s, 0.0)
        terms = 0.5 * r**2 + jnp.where(mask, jnp.log(s) + jnp.log(safe_y) + 0.5 * LOG_2PI, 0.0)
        return jnp.sum(terms)

    def weighted_residuals(self, y, yhat, mask, sigma=None):
        s = jnp.broadcast_to(_sigma_array(self.log_sigma, yhat.shape[-1]), yhat.shape)
        safe_y = jnp.where(mask, y, 1.0)
        safe_yhat = jnp.where(mask, jnp.maximum(yhat, jnp.finfo(yhat.dtype).tiny), 1.0)
        return jnp.where(mask, (jnp.log(safe_y) - jnp.log(safe_yhat)) / s.astype(yhat.dtype), 0.0)
