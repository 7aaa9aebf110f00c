"""The PEtab parameter table: scales, bounds, which parameters are estimated, and priors.

theta, the vector an optimiser sees, holds the *estimated* parameters on their parameter scale
(`lin`, `log` = natural log, `log10`), in table order. Fixed parameters keep their nominal value
(always given on the linear scale in PEtab). A v2 table has no scales (every parameter is
estimated on the linear scale), `estimate` true/false, and priors that are truncated at the
bounds (`distributions.TruncatedPrior`); an estimated v2 parameter without a prior has the
uniform prior on its bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd
from jaxtyping import Array, Float

from .distributions import TruncatedPrior
from .errors import PetabError, where

SCALES = ("lin", "log", "log10")
# prior type -> on the parameter scale?  (PEtab v1: the parameterScale* priors act on theta,
# the others on the linear value)
PRIORS = {
    "uniform": False,
    "normal": False,
    "laplace": False,
    "logNormal": False,
    "logLaplace": False,
    "parameterScaleUniform": True,
    "parameterScaleNormal": True,
    "parameterScaleLaplace": True,
}


@dataclass(frozen=True)
class Prior:
    """An objective prior on one estimated parameter: its type and the two numbers of the type
    (uniform: lower, upper; normal/laplace: location, scale; logNormal/logLaplace: the location
    and scale of log x)."""

    kind: str
    a: float
    b: float


@dataclass(frozen=True)
class ParameterTable:
    """The rows of a PEtab parameter table, as arrays (one entry per row, table order)."""

    ids: tuple[str, ...]
    scales: tuple[str, ...]
    lower: np.ndarray  # linear scale
    upper: np.ndarray
    nominal: np.ndarray  # linear scale
    estimate: np.ndarray  # bool
    priors: tuple[Prior | TruncatedPrior | None, ...]

    @property
    def estimated_ids(self) -> tuple[str, ...]:
        return tuple(i for i, e in zip(self.ids, self.estimate, strict=True) if e)

    @property
    def estimated_scales(self) -> tuple[str, ...]:
        return tuple(s for s, e in zip(self.scales, self.estimate, strict=True) if e)

    def index(self, parameter_id: str) -> int:
        return self.ids.index(parameter_id)

    def nominal_theta(self) -> np.ndarray:
        """The nominal values of the estimated parameters on their parameter scale."""
        return to_scale(self.nominal[self.estimate], self.estimated_scales)

    def theta_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of theta (on the parameter scale)."""
        scales = self.estimated_scales
        return to_scale(self.lower[self.estimate], scales), to_scale(
            self.upper[self.estimate], scales
        )


def to_scale(values: np.ndarray, scales: tuple[str, ...]) -> np.ndarray:
    """Linear values -> parameter scale (NumPy; for tables and start points)."""
    values = np.asarray(values, dtype=float)
    out = values.copy()
    for i, s in enumerate(scales):
        if s == "log":
            out[i] = np.log(values[i])
        elif s == "log10":
            out[i] = np.log10(values[i])
    return out


def to_linear(theta: Float[Array, " k"], codes: np.ndarray) -> Float[Array, " k"]:
    """Parameter scale -> linear values (JAX): codes 0 = lin, 1 = log, 2 = log10."""
    codes = jnp.asarray(codes)
    return jnp.where(codes == 1, jnp.exp(theta), jnp.where(codes == 2, 10.0**theta, theta))


def scale_codes(scales: tuple[str, ...]) -> np.ndarray:
    return np.array([SCALES.index(s) for s in scales], dtype=np.int32)


def read_parameter_table(df: pd.DataFrame, file: str) -> ParameterTable:
    """Check and convert a parameter table read by `petab`; errors name the row and column."""
    for column in ("parameterScale", "lowerBound", "upperBound", "nominalValue", "estimate"):
        if column not in df.columns:
            raise PetabError(
                f"{where(file, column=column)}: the required column is missing; a PEtab parameter "
                "table has parameterId, parameterScale, lowerBound, upperBound, nominalValue and "
                "estimate."
            )
    ids, scales, priors = [], [], []
    lower, upper, nominal, estimate = [], [], [], []
    for row, (pid, rec) in enumerate(df.iterrows(), start=2):
        scale = str(rec["parameterScale"]).strip()
        if scale not in SCALES:
            raise PetabError(
                f"{where(file, row, 'parameterScale')}: parameter {pid!r} has scale {scale!r}; "
                f"use one of {', '.join(SCALES)}."
            )
        est = int(rec["estimate"])
        if est not in (0, 1):
            raise PetabError(f"{where(file, row, 'estimate')}: must be 0 or 1, got {est}.")
        value = float(rec["nominalValue"]) if pd.notna(rec["nominalValue"]) else math.nan
        lo = float(rec["lowerBound"]) if pd.notna(rec["lowerBound"]) else -math.inf
        hi = float(rec["upperBound"]) if pd.notna(rec["upperBound"]) else math.inf
        if est and not lo < hi:
            raise PetabError(
                f"{where(file, row)}: parameter {pid!r} has lowerBound {lo} >= upperBound {hi}."
            )
        ids.append(str(pid))
        scales.append(scale)
        lower.append(lo)
        upper.append(hi)
        nominal.append(value)
        estimate.append(bool(est))
        priors.append(_prior(rec, est, file, row, str(pid)))
    return ParameterTable(
        ids=tuple(ids),
        scales=tuple(scales),
        lower=np.array(lower),
        upper=np.array(upper),
        nominal=np.array(nominal),
        estimate=np.array(estimate, dtype=bool),
        priors=tuple(priors),
    )


def _truthy(cell: object, file: str, row: int) -> bool:
    text = str(cell).strip().lower()
    if text in ("true", "1", "1.0"):
        return True
    if text in ("false", "0", "0.0"):
        return False
    raise PetabError(f"{where(file, row, 'estimate')}: must be true or false, got {cell!r}.")


def read_parameter_table_v2(df: pd.DataFrame, file: str) -> ParameterTable:
    """Check and convert a PEtab v2 parameter table (linear scale; truncated priors)."""
    for column in ("nominalValue", "estimate"):
        if column not in df.columns:
            raise PetabError(
                f"{where(file, column=column)}: the required column is missing; a PEtab v2 "
                "parameter table has parameterId, lowerBound, upperBound, nominalValue and "
                "estimate."
            )
    ids, priors, lower, upper, nominal, estimate = [], [], [], [], [], []
    for row, (pid, rec) in enumerate(df.iterrows(), start=2):
        est = _truthy(rec["estimate"], file, row)
        value = float(rec["nominalValue"]) if pd.notna(rec["nominalValue"]) else math.nan
        lo = _bound(rec, "lowerBound", -math.inf)
        hi = _bound(rec, "upperBound", math.inf)
        if est and not lo < hi:
            raise PetabError(
                f"{where(file, row)}: parameter {pid!r} has lowerBound {lo} >= upperBound {hi}."
            )
        if not est and math.isnan(value):
            raise PetabError(
                f"{where(file, row, 'nominalValue')}: the fixed parameter {pid!r} needs a "
                "nominal value."
            )
        prior = None
        if est:
            kind = rec.get("priorDistribution")
            if kind is None or (isinstance(kind, float) and math.isnan(kind)) or kind == "":
                kind, numbers = "uniform", (lo, hi)  # the implicit prior of v2
            else:
                numbers = _numbers(rec.get("priorParameters"), file, row, str(pid))
            prior = TruncatedPrior.from_table(
                str(kind).strip(),
                numbers,
                lo,
                hi,
                f"{where(file, row, 'priorDistribution')} ({pid})",
            )
        ids.append(str(pid))
        lower.append(lo)
        upper.append(hi)
        nominal.append(value)
        estimate.append(est)
        priors.append(prior)
    return ParameterTable(
        ids=tuple(ids),
        scales=("lin",) * len(ids),
        lower=np.array(lower),
        upper=np.array(upper),
        nominal=np.array(nominal),
        estimate=np.array(estimate, dtype=bool),
        priors=tuple(priors),
    )


def _bound(rec: pd.Series, column: str, default: float) -> float:
    value = rec.get(column)
    return float(value) if value is not None and pd.notna(value) else default


def _numbers(cell: object, file: str, row: int, pid: str) -> tuple[float, ...]:
    if isinstance(cell, (int, float, np.integer, np.floating)) and not math.isnan(cell):
        return (float(cell),)
    text = "" if cell is None or (isinstance(cell, float) and math.isnan(cell)) else str(cell)
    try:
        return tuple(float(v) for v in text.split(";") if v.strip())
    except ValueError:
        raise PetabError(
            f"{where(file, row, 'priorParameters')}: the prior of {pid!r} needs numbers "
            f"separated by ';', got {text!r}."
        ) from None


def _prior(rec: pd.Series, est: int, file: str, row: int, pid: str) -> Prior | None:
    kind = rec.get("objectivePriorType")
    if not est or kind is None or (isinstance(kind, float) and math.isnan(kind)):
        return None
    kind = str(kind).strip()
    if kind not in PRIORS:
        raise PetabError(
            f"{where(file, row, 'objectivePriorType')}: unknown prior {kind!r} for {pid!r}; use "
            f"one of {', '.join(PRIORS)}."
        )
    text = str(rec.get("objectivePriorParameters", ""))
    try:
        a, b = (float(v) for v in text.split(";"))
    except ValueError:
        raise PetabError(
            f"{where(file, row, 'objectivePriorParameters')}: prior {kind!r} of {pid!r} needs two "
            f"numbers separated by ';', got {text!r}."
        ) from None
    return Prior(kind, a, b)


def neg_log_prior(theta: Float[Array, " k"], table: ParameterTable) -> Float[Array, ""]:
    """-log p(theta): the sum over estimated parameters with an objective prior.

    parameterScale* priors are densities of theta itself; the others are densities of the
    linear value x (no Jacobian term, as PEtab v1 defines the objective).
    """
    total = jnp.zeros((), theta.dtype)
    scales = table.estimated_scales
    priors = [p for p, e in zip(table.priors, table.estimate, strict=True) if e]
    for i, prior in enumerate(priors):
        if prior is None:
            continue
        v = theta[i]
        if isinstance(prior, TruncatedPrior):
            total = total + prior.neg_log_density(to_linear(v, scale_codes((scales[i],)))[0])
            continue
        if not PRIORS[prior.kind]:
            v = to_linear(v, scale_codes((scales[i],)))[0]
        total = total + _neg_log_density(prior, v)
    return total


# Priors whose -log p is, up to a constant, a square (normal) or constant in the bounds (uniform)
SQUARE_PRIORS = ("normal", "parameterScaleNormal", "uniform", "parameterScaleUniform")


def prior_residuals(theta: Float[Array, " k"], table: ParameterTable) -> Float[Array, " q"]:
    """-log p(theta) as 1/2 |residuals|^2 + const: (v - mean) / sd for every normal prior
    (v = theta for parameterScaleNormal, the linear value for normal). Uniform priors are
    constant inside the bounds and add nothing. Other priors have no such form: a
    `PetabError` says which (fit with L-BFGS-B instead)."""
    scales = table.estimated_scales
    priors = [p for p, e in zip(table.priors, table.estimate, strict=True) if e]
    out = []
    for i, prior in enumerate(priors):
        if prior is None or prior.kind in ("uniform", "parameterScaleUniform"):
            continue
        if isinstance(prior, TruncatedPrior) and prior.kind == "normal":
            v = to_linear(theta[i], scale_codes((scales[i],)))[0]
            out.append((v - prior.parameters[0]) / prior.parameters[1])
            continue
        if prior.kind not in SQUARE_PRIORS:
            raise PetabError(
                f"the {prior.kind} prior of {table.estimated_ids[i]!r} is not a sum of squares; "
                "least-squares fitting needs normal or uniform priors (use method='lbfgsb')."
            )
        v = theta[i]
        if not PRIORS[prior.kind]:
            v = to_linear(v, scale_codes((scales[i],)))[0]
        out.append((v - prior.a) / prior.b)
    return jnp.stack(out) if out else jnp.zeros((0,), theta.dtype)


def _neg_log_density(prior: Prior, v: Array) -> Array:
    a, b = prior.a, prior.b
    kind = prior.kind.replace("parameterScale", "").lower()
    if kind == "uniform":
        inside = (v >= a) & (v <= b)
        return jnp.where(inside, math.log(b - a), jnp.inf)
    if kind == "normal":
        return 0.5 * math.log(2 * math.pi * b**2) + 0.5 * ((v - a) / b) ** 2
    if kind == "laplace":
        return math.log(2 * b) + jnp.abs(v - a) / b
    if kind == "lognormal":
        lv = jnp.log(v)
        return 0.5 * math.log(2 * math.pi * b**2) + lv + 0.5 * ((lv - a) / b) ** 2
    # loglaplace
    lv = jnp.log(v)
    return math.log(2 * b) + lv + jnp.abs(lv - a) / b


def to_linear_numpy(theta: np.ndarray, scales: tuple[str, ...]) -> np.ndarray:
    """Parameter scale -> linear values (NumPy)."""
    out = np.asarray(theta, dtype=float).copy()
    for i, s in enumerate(scales):
        if s == "log":
            out[i] = np.exp(out[i])
        elif s == "log10":
            out[i] = 10.0 ** out[i]
    return out
