"""Is a prediction under a new condition believable? The out-of-distribution report (SPEC D4, E3).

A model fitted on Omega_train (the states its training data visit) is asked about a new
condition: new inputs u(t), a new initial state, or changed parameters. We simulate the
condition and look at the states Omega_test it visits:

- distance: for every visited state x, d(x) = min over training states y of
  sqrt(mean_k ((x_k - y_k) / s_k)^2), the nearest-neighbour distance in units of the training
  spread s_k (standard deviation of species k over Omega_train, floored at 1e-3 max_k s_k);
- Lipschitz: L(x) = ||J_f(x)||_2 on both regions; the ratio of their maxima and the Groenwall
  factor e^{L T} with L = max over Omega_test (errors may grow like e^{L t});
- FTLE: lambda = (1/T) log sigma_max(Phi(T)) along the condition's solution; lambda T > 1 means
  perturbations grow more than e-fold over the horizon (unstable or chaotic learned dynamics);
- held-out error (when data for the condition exist): RMSE over observed entries, relative to
  the data's spread;
- conservation drift (when conservation laws are given): max_t |w^T x(t) - w^T x(0)| relative
  to the total.

The verdict says "extrapolating" when the visited states leave the training region (distance
above threshold) or the Lipschitz constant there is much larger; the other findings are listed
as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import equinox as eqx
import numpy as np
import scipy.spatial
from jaxtyping import Array, ArrayLike, Float, Int

from .._errors import InputError, ModelError, SolveError
from .._inputs import AbstractInput
from .._models.vector_field import AbstractVectorField
from .._networks.conservation import ConservationLaws
from .._simulation.simulate import simulate
from .lipschitz import LipschitzReport, local_lipschitz
from .lyapunov import ftle
from .region import Region, RegionLike, region


class Condition(eqx.Module):
    """A new condition to predict: initial state `x0`, save times `ts` (from `t0`, default
    ts[0]), inputs u(t), optionally a changed `model` (new parameter values; default: the
    fitted model) and `observed` states (T, n) at `ts` (NaN where not measured) to score the
    prediction against. `name` labels reports and figures."""

    x0: Float[Array, " n"]
    ts: Float[Array, " T"]
    inputs: AbstractInput | None = None
    model: AbstractVectorField | None = None
    observed: Float[Array, "T n"] | None = None
    t0: float | None = eqx.field(static=True, default=None)
    name: str = eqx.field(static=True, default="condition")


@dataclass(frozen=True)
class OODThresholds:
    """When the report calls a condition extrapolating (or warns).

    `distance`: visited states farther than this many training spreads from every training
    state are outside. `lipschitz_ratio`: test/train ratio of the largest Lipschitz constants
    above which the dynamics on the test region are much more sensitive. `ftle_growth`: lambda T above this
    is called unstable. `error`: held-out RMSE relative to the data's spread. `drift`:
    conservation drift relative to the total.
    """

    distance: float = 0.5
    lipschitz_ratio: float = 2.0
    ftle_growth: float = 1.0
    error: float = 0.1
    drift: float = 1e-6


@dataclass(frozen=True, eq=False)
class OODReport:
    """What `ood_report` found; `verdict` is the one-line answer, `summary()` the details,
    `cellode.plot_ood(report)` the figure.

    Arrays: `train_states` (m, n), `ts`/`states` (T, n) the condition's simulated trajectory
    (rows up to a breakdown), `distance` (T,) nearest-neighbour distances in training spreads,
    `lipschitz` the `LipschitzReport` (train vs the visited states), `ftle` the largest FTLE
    (NaN if its solve failed), `error` (T,) per-time RMSE against `observed` (None without
    data), `drift` (k,) relative conservation drift (None without laws).
    """

    condition: str
    train_states: Float[np.ndarray, "m n"]
    ts: Float[np.ndarray, " T"]
    states: Float[np.ndarray, "T n"]
    observed: Float[np.ndarray, "T n"] | None
    distance: Float[np.ndarray, " T"]
    lipschitz: LipschitzReport
    ftle: float
    horizon: float
    error: Float[np.ndarray, " T"] | None
    relative_error: float | None
    drift: Float[np.ndarray, " k"] | None
    breakdown: float | None
    thresholds: OODThresholds
    species: tuple[str, ...] | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def outside_fraction(self) -> float:
        return float(np.mean(self.distance > self.thresholds.distance))

    @property
    def reasons(self) -> list[str]:
        """Why the condition counts as extrapolating (empty when it does not)."""
        out = []
        if self.breakdown is not None:
            out.append(f"the model's solution breaks down at t = {self.breakdown:.3g}")
        if self.lipschitz.ratio > self.thresholds.lipschitz_ratio:
            out.append(
                f"Lipschitz {self.lipschitz.ratio:.2g}x larger than in training, errors may "
                f"grow like e^{{{self.lipschitz.test_max:.2g} t}}"
            )
        if self.outside_fraction > 0:
            out.append(
                f"{100 * self.outside_fraction:.0f}% of the visited states lie more than "
                f"{self.thresholds.distance:g} training spreads from every training state "
                f"(farthest {float(np.max(self.distance)):.2g})"
            )
        return out

    @property
    def warnings(self) -> list[str]:
        """Findings that do not by themselves mean extrapolation."""
        out = []
        th = self.thresholds
        if np.isfinite(self.ftle) and self.ftle * self.horizon > th.ftle_growth:
            out.append(
                f"positive finite-time Lyapunov exponent {self.ftle:.3g} over T = "
                f"{self.horizon:.3g}: nearby solutions separate e^{self.ftle * self.horizon:.2g}-"
                "fold (unstable or chaotic dynamics)"
            )
        if self.relative_error is not None and self.relative_error > th.error:
            out.append(f"held-out error {100 * self.relative_error:.3g}% of the data's spread")
        if self.drift is not None and np.max(self.drift, initial=0.0) > th.drift:
            out.append(
                f"conservation laws drift by up to {float(np.max(self.drift)):.2g} of their "
                "totals (tighten rtol/atol)"
            )
        return out + list(self.notes)

    @property
    def extrapolating(self) -> bool:
        return bool(self.reasons)

    @property
    def verdict(self) -> str:
        if self.extrapolating:
            return "extrapolating: " + "; ".join(self.reasons)
        return (
            "inside the training region: visited states lie within "
            f"{float(np.max(self.distance)):.2g} training spreads of training states, "
            f"Lipschitz {self.lipschitz.ratio:.2g}x that in training"
        )

    def summary(self) -> str:
        lines = [f"Condition {self.condition!r}: {self.verdict}.", ""]
        lines.append(
            f"Distance from the training states (nearest neighbour, in training spreads): "
            f"median {float(np.median(self.distance)):.3g}, max {float(np.max(self.distance)):.3g}; "
            f"{100 * self.outside_fraction:.0f}% beyond {self.thresholds.distance:g}."
        )
        lines.append(self.lipschitz.summary())
        if np.isfinite(self.ftle):
            lines.append(
                f"Largest finite-time Lyapunov exponent over T = {self.horizon:.3g}: "
                f"{self.ftle:.3g} ({'growing' if self.ftle > 0 else 'contracting'} "
                "perturbations)."
            )
        if self.relative_error is not None:
            rmse = float(np.sqrt(np.nanmean(self.error**2)))
            lines.append(
                f"Held-out error: RMSE {rmse:.3g} ({100 * self.relative_error:.3g}% of the data's "
                "spread)."
            )
        if self.drift is not None:
            lines.append(
                f"Conservation drift (relative to the totals): max {float(np.max(self.drift, initial=0.0)):.2g}."
            )
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def training_spread(train_states: Float[ArrayLike, "m n"]) -> Float[np.ndarray, " n"]:
    """Per-species standard deviation over the training states, floored at 1e-3 of the largest
    (a species that never moved in training still gets a finite unit)."""
    xs = np.asarray(train_states, dtype=np.float64)
    s = xs.std(axis=0)
    floor = 1e-3 * max(float(s.max(initial=0.0)), 0.0)
    if floor == 0.0:
        floor = 1e-3 * max(float(np.abs(xs).max(initial=0.0)), 1.0)
    return np.maximum(s, floor)


def distance_to_training(
    states: Float[ArrayLike, "T n"], train_states: Float[ArrayLike, "m n"]
) -> Float[np.ndarray, " T"]:
    """d(x) = min_y sqrt(mean_k ((x_k - y_k) / s_k)^2) for every state x: nearest-neighbour
    distance to the training states y in units of the training spread s (k-d tree, exact)."""
    train = np.asarray(train_states, dtype=np.float64)
    test = np.asarray(states, dtype=np.float64)
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise InputError(
            f"states {test.shape} and training states {train.shape} must be (., n) arrays "
            "with the same n."
        )
    s = training_spread(train)
    tree = scipy.spatial.cKDTree(train / s)
    d, _ = tree.query(test / s)
    return np.asarray(d) / np.sqrt(train.shape[1])


def ood_report(
    model: AbstractVectorField,
    train_region: RegionLike,
    condition: Condition,
    *,
    train_inputs: AbstractInput | None = None,
    laws: ConservationLaws | Int[ArrayLike, "k n"] | None = None,
    thresholds: OODThresholds = OODThresholds(),
    solver: str = "auto",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    species: tuple[str, ...] | None = None,
) -> OODReport:
    """Simulate `condition` with the fitted `model` and judge the prediction (module docstring).

    `train_region`: the training states (states (m, n), trajectories or a `Region`; input values
    of trajectories from `train_inputs`). `laws`: conservation laws to check (and to project out
    of the FTLE). `species` names the state components in the figure.
    """
    if not isinstance(model, AbstractVectorField):
        raise ModelError(f"`model` must be an AbstractVectorField; got {type(model).__name__}.")
    if not isinstance(condition, Condition):
        raise InputError(
            f"`condition` must be a cellode.Condition(x0, ts, ...); got {type(condition).__name__}."
        )
    train = region(train_region, inputs=train_inputs, name="train_region")
    x0 = np.asarray(condition.x0, dtype=np.float64)
    if x0.shape != (train.dim,):
        raise InputError(
            f"`condition.x0` has shape {x0.shape}; the training states have {train.dim} components."
        )
    if not np.all(np.isfinite(x0)):
        raise InputError("`condition.x0` has non-finite entries (NaN or inf).")
    test_model = model if condition.model is None else condition.model
    traj = simulate(
        test_model,
        x0,
        condition.ts,
        inputs=condition.inputs,
        t0=condition.t0,
        solver=solver,
        rtol=rtol,
        atol=atol,
        throw=False,
    )
    ts, xs = np.asarray(traj.ts), np.asarray(traj.xs)
    ok = np.all(np.isfinite(xs), axis=1)
    breakdown = None
    if not np.all(ok):
        breakdown = float(np.asarray(traj.t_reached))
        ts, xs = ts[ok], xs[ok]
    if xs.shape[0] == 0:
        xs, ts = x0[None, :], np.asarray([condition.t0 or float(np.asarray(condition.ts)[0])])
    t_start = float(ts[0]) if condition.t0 is None else float(condition.t0)
    horizon = float(np.asarray(condition.ts)[-1]) - t_start
    test = region(xs, ts=ts, inputs=condition.inputs, name="the condition's trajectory")
    train_np = np.asarray(train.xs)
    distance = distance_to_training(xs, train_np)
    lip = LipschitzReport(
        _finite_lipschitz(model, train, "train_region"),
        _finite_lipschitz(test_model, test, "the condition's trajectory"),
        horizon,
        1.0,
    )
    notes = []
    lam = float("nan")
    if breakdown is None and horizon > 0:
        try:
            lam = float(
                ftle(
                    test_model,
                    x0,
                    horizon,
                    t0=t_start,
                    inputs=condition.inputs,
                    laws=laws,
                    # The solver simulate chose for the condition (its "auto" knows best).
                    solver=traj.stats.solver if solver == "auto" else solver,
                    rtol=rtol,
                    atol=atol,
                ).largest
            )
        except SolveError:
            notes.append("the variational equation could not be solved over the horizon")
    error = relative = None
    observed = None
    if condition.observed is not None:
        observed = np.asarray(condition.observed, dtype=np.float64)
        full_ts = np.asarray(condition.ts)
        if observed.shape != (full_ts.shape[0], train.dim):
            raise InputError(
                f"`condition.observed` must have shape ({full_ts.shape[0]}, {train.dim}) (one "
                f"row per save time); got {observed.shape}."
            )
        observed = observed[ok] if observed.shape[0] == ok.shape[0] else observed
        residual = xs - observed
        with np.errstate(invalid="ignore"):
            error = np.sqrt(np.nanmean(residual**2, axis=1))
        spread = float(np.nanstd(observed)) or float(np.mean(training_spread(train_np)))
        rmse = float(np.sqrt(np.nanmean(residual**2)))
        relative = rmse / spread
    drift = None
    if laws is not None:
        W = np.asarray(laws.matrix if isinstance(laws, ConservationLaws) else laws, float)
        values = xs @ W.T
        floor = 1e-12 * max(1.0, float(np.abs(xs).max()))
        scale = np.maximum(np.abs(values[0]), floor)
        drift = np.max(np.abs(values - values[0]), axis=0) / scale
    return OODReport(
        condition=condition.name,
        train_states=train_np,
        ts=ts,
        states=xs,
        observed=observed,
        distance=distance,
        lipschitz=lip,
        ftle=lam,
        horizon=horizon,
        error=error,
        relative_error=relative,
        drift=drift,
        breakdown=breakdown,
        thresholds=thresholds,
        species=species,
        notes=tuple(notes),
    )


def _finite_lipschitz(model: AbstractVectorField, reg: Region, name: str) -> np.ndarray:
    values = np.asarray(local_lipschitz(model, reg))
    if not np.all(np.isfinite(values)):
        raise ModelError(
            f"the Jacobian of {type(model).__name__} is not finite at some states of {name}; "
            "the vector field breaks down there."
        )
    return values
