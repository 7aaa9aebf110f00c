"""`load_petab` and `PetabProblem`: a PEtab problem as one compiled objective of theta."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jaxtyping import Array, ArrayLike, Float

from .._sensitivity.base import AbstractSensitivity, DiscreteAdjoint
from .._sensitivity.checkpointed_adjoint import CheckpointedAdjoint
from .._sensitivity.forward import ForwardSensitivity
from .._solvers.rosenbrock import Rodas5P
from .conditions import KEEP, Pool, condition_overrides
from .errors import PetabError, where
from .experiments import ExperimentGroup, layout_experiments, read_plans
from .formulas import Formula, parse_formula, placeholders
from .measurements import MeasurementLayout, layout_measurements, split_cell
from .noise import DISTRIBUTIONS, TRANSFORMS
from .objective import (
    Frozen,
    GroupArrays,
    Objective,
    ObservableRows,
    SolverSettings,
    as_int,
)
from .parameters import (
    ParameterTable,
    neg_log_prior,
    prior_residuals,
    read_parameter_table,
    read_parameter_table_v2,
    scale_codes,
)
from .tables import PetabFiles, read_files

NOISE_ALIASES = {
    # noiseDistribution -> (distribution, transformation that overrides observableTransformation)
    "normal": ("normal", None),
    "laplace": ("laplace", None),
    "log-normal": ("normal", "log"),
    "lognormal": ("normal", "log"),
    "log10-normal": ("normal", "log10"),
    "log-laplace": ("laplace", "log"),
}


class PetabProblem:
    """A PEtab parameter-estimation problem: model, data, noise, parameters, and its objective.

    theta is the vector of estimated parameters on their parameter scale, in the order of
    `parameter_ids`. `nllh(theta)` is -log L; `objective(theta)` adds the priors' -log p;
    `nllh_and_gradient(theta)` differentiates by `sensitivity` (the checkpointed adjoint by
    default; `with_sensitivity(ForwardSensitivity())` for forward sensitivities). Each function is traced and
    compiled once for all conditions.
    """

    def __init__(
        self,
        files: PetabFiles,
        model: Any,
        objective: Objective,
        table: ParameterTable,
        layout: MeasurementLayout,
        sensitivity: AbstractSensitivity,
    ):
        self.files = files
        self.model = model
        self.table = table
        self.layout = layout
        self.sensitivity = sensitivity
        self._objective = objective

    # -- parameters ------------------------------------------------------------------------
    @property
    def parameter_ids(self) -> tuple[str, ...]:
        """Ids of the estimated parameters: the entries of theta."""
        return self.table.estimated_ids

    @property
    def parameter_scales(self) -> tuple[str, ...]:
        return self.table.estimated_scales

    @property
    def nominal_theta(self) -> Float[np.ndarray, " k"]:
        """The parameter table's nominal values of the estimated parameters, on their scale."""
        return self.table.nominal_theta()

    @property
    def bounds(self) -> tuple[Float[np.ndarray, " k"], Float[np.ndarray, " k"]]:
        """(lower, upper) bounds of theta, on the parameter scale."""
        return self.table.theta_bounds()

    def with_sensitivity(self, sensitivity: AbstractSensitivity) -> PetabProblem:
        """The same problem with gradients by another method (e.g. `CheckpointedAdjoint()`)."""
        return PetabProblem(
            self.files, self.model, self._objective, self.table, self.layout, sensitivity
        )

    # -- objective -------------------------------------------------------------------------
    def _theta(self, theta: ArrayLike | None) -> Array:
        if theta is None:
            theta = self.nominal_theta
        theta = jnp.asarray(theta, dtype=jnp.float64)
        if theta.shape != (len(self.parameter_ids),):
            raise PetabError(
                f"theta must have one entry per estimated parameter ({len(self.parameter_ids)}: "
                f"{', '.join(self.parameter_ids)}); got shape {theta.shape}."
            )
        return theta

    def nllh(self, theta: Float[ArrayLike, " k"] | None = None) -> Float[Array, ""]:
        """-log L(theta), the negative log-likelihood of all measurements (nominal if None)."""
        return _nllh(self._objective, self._theta(theta))

    def chi2(self, theta: Float[ArrayLike, " k"] | None = None) -> Float[Array, ""]:
        """Sum of squared weighted residuals."""
        return _chi2(self._objective, self._theta(theta))

    def neg_log_prior(self, theta: Float[ArrayLike, " k"] | None = None) -> Float[Array, ""]:
        """-log p(theta) of the objective priors of the parameter table (0 without priors)."""
        return neg_log_prior(self._theta(theta), self.table)

    def objective(self, theta: Float[ArrayLike, " k"] | None = None) -> Float[Array, ""]:
        """-log L(theta) - log p(theta): what a fit minimises."""
        return self.nllh(theta) + self.neg_log_prior(theta)

    def nllh_and_gradient(
        self, theta: Float[ArrayLike, " k"] | None = None
    ) -> tuple[Float[Array, ""], Float[Array, " k"]]:
        """(-log L, d(-log L)/dtheta) with the problem's sensitivity method."""
        return _nllh_and_grad(self._objective, self._theta(theta), self.sensitivity)

    def objective_and_gradient(
        self, theta: Float[ArrayLike, " k"] | None = None
    ) -> tuple[Float[Array, ""], Float[Array, " k"]]:
        """(-log L - log p, its gradient)."""
        theta = self._theta(theta)
        value, grad = self.nllh_and_gradient(theta)
        prior, prior_grad = jax.value_and_grad(lambda t: neg_log_prior(t, self.table))(theta)
        return value + prior, grad + prior_grad

    def residuals(self, theta: Float[ArrayLike, " k"] | None = None) -> Float[Array, " R"]:
        """The objective as least squares: 1/2 |residuals|^2 = -log L - log p + const.

        [weighted data residuals; residuals of the estimated noise (`Objective.residuals`);
        (v - mean) / sd of every normal prior]. Needs normal noise on every row and normal or
        uniform priors (a `PetabError` otherwise). Entries are inf where a solve failed.
        """
        theta = self._theta(theta)
        self._check_least_squares()
        r, ok = _residuals(self._objective, theta, self.sensitivity)
        r = jnp.where(ok, r, jnp.inf)
        return jnp.concatenate([r, prior_residuals(theta, self.table)])

    def residuals_and_jacobian(
        self, theta: Float[ArrayLike, " k"] | None = None
    ) -> tuple[Float[Array, " R"], Float[Array, "R k"]]:
        """(residuals, d residuals / d theta): the Gauss–Newton model of the objective.

        The Jacobian has a column per parameter and at least a row per measurement. With no more
        parameters than measurements it is forward mode (`ForwardSensitivity`: one solve carries
        every column), whatever `sensitivity` the gradient uses: on Boehm (96 x 9) about 20x
        faster per call than one batched adjoint pass per residual, at half the compile time
        (docs/benchmarks.md). With more parameters than measurements (large networks) it is
        reverse mode through the problem's adjoint.
        """
        theta = self._theta(theta)
        self._check_least_squares()
        sensitivity = self.sensitivity
        if theta.size <= len(self.files.measurements) and not isinstance(
            sensitivity, ForwardSensitivity
        ):
            sensitivity = ForwardSensitivity()
        r, ok, jac = _residuals_and_jacobian(self._objective, theta, sensitivity)
        r = jnp.where(ok, r, jnp.inf)
        prior = prior_residuals(theta, self.table)
        prior_jac = jax.jacfwd(lambda t: prior_residuals(t, self.table))(theta)
        return jnp.concatenate([r, prior]), jnp.concatenate([jac, prior_jac])

    @property
    def least_squares_form(self) -> str | None:
        """None when the objective is a sum of squares (see `residuals`), else why not."""
        laplace = np.flatnonzero(np.asarray(self._objective.laplace))
        if laplace.size:
            ids = sorted({str(self.files.measurements.iloc[i]["observableId"]) for i in laplace})
            return f"observable(s) {', '.join(ids)} have Laplace noise (|r| is not a square)"
        try:
            prior_residuals(jnp.asarray(self.nominal_theta), self.table)
        except PetabError as error:
            return str(error)
        return None

    def _check_least_squares(self) -> None:
        reason = self.least_squares_form
        if reason is not None:
            raise PetabError(f"{self.files.yaml_path.name}: no least-squares form: {reason}.")

    def evaluate(self, theta: Float[ArrayLike, " k"] | None = None) -> Evaluation:
        """nllh, chi2 and the simulation table at theta, from one solve (one compiled function)."""
        nllh, chi2, y, sigma = _evaluate(self._objective, self._theta(theta))
        df = self.files.measurements.drop(columns=["measurement"])
        df = df.assign(simulation=np.asarray(y))
        return Evaluation(float(nllh), float(chi2), df, np.asarray(sigma))

    def simulate(self, theta: Float[ArrayLike, " k"] | None = None) -> pd.DataFrame:
        """The measurement table with a `simulation` column (PEtab's simulation table)."""
        return self.evaluate(theta).simulations


@dataclass(frozen=True)
class Evaluation:
    """The objective's parts at one theta: -log L, chi2, and the simulated value and noise
    sigma of every measurement row (`simulations` is PEtab's simulation table)."""

    nllh: float
    chi2: float
    simulations: pd.DataFrame
    sigma: np.ndarray


@eqx.filter_jit
def _nllh(objective: Objective, theta: Array) -> Array:
    return objective.nllh(theta, DiscreteAdjoint())


@eqx.filter_jit
def _chi2(objective: Objective, theta: Array) -> Array:
    return objective.chi2(theta, DiscreteAdjoint())


@eqx.filter_jit
def _evaluate(objective: Objective, theta: Array):
    return objective.evaluate(theta, DiscreteAdjoint())


@eqx.filter_jit
def _nllh_and_grad(objective: Objective, theta: Array, sensitivity: AbstractSensitivity):
    return jax.value_and_grad(lambda t: objective.nllh(t, sensitivity))(theta)


@eqx.filter_jit
def _residuals(objective: Objective, theta: Array, sensitivity: AbstractSensitivity):
    return objective.residuals(theta, sensitivity)


@eqx.filter_jit
def _residuals_and_jacobian(
    objective: Objective, theta: Array, sensitivity: AbstractSensitivity
) -> tuple[Array, Array, Array]:
    def f(t):
        r, ok = objective.residuals(t, sensitivity)
        return r, (r, ok)

    forward = isinstance(sensitivity, ForwardSensitivity)
    jac, (r, ok) = (jax.jacfwd if forward else jax.jacrev)(f, has_aux=True)(theta)
    return r, ok, jac


def load_petab(
    yaml_path: str | Path,
    *,
    model_loader: Callable[[Path], Any] | None = None,
    sensitivity: AbstractSensitivity | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    max_steps: int = 20_000,
    max_event_stops: int | None = None,
) -> PetabProblem:
    """Read a PEtab problem (v1 or v2: YAML, SBML model, tables) and build its objective.

    `model_loader` turns the model file into an object with the SBML model interface
    (`state_ids`, `constant_ids`, `constant_values`, `rhs`, `initial_state`, `symbols`); the
    default is `cellode.load_sbml`, with the model's SBML events (fired inside every solve,
    gradients through the event times: `event_solve`; delayed events are refused). Each solve
    has room for `max_event_stops` firings (default: one per event); one more gives nllh = inf.
    Solves use Rodas5P at `rtol`/`atol` (AMICI's reference settings are 1e-8). Errors name the
    file, row and element.
    """
    files = read_files(Path(yaml_path))
    if model_loader is None:
        from .._sbml.api import load_sbml

        model = load_sbml(files.model_path, allow_events=True)
    else:
        model = model_loader(files.model_path)
    settings = SolverSettings(
        Rodas5P(), rtol=rtol, atol=atol, max_steps=max_steps, max_event_stops=max_event_stops
    )
    return build_problem(files, model, settings, sensitivity or CheckpointedAdjoint())


@dataclass(frozen=True)
class ObservableSpec:
    """One row of the observable table, parsed: formulas, placeholder names (v1:
    observableParameter{k}_{id}; v2: the observablePlaceholders/noisePlaceholders columns),
    the transformation code and whether the noise is Laplace."""

    formula: Formula
    noise: Formula
    placeholders: tuple[str, ...]
    noise_placeholders: tuple[str, ...]
    transform: int
    laplace: bool


def read_observables(
    files: PetabFiles, model: Any, table: ParameterTable
) -> dict[str, ObservableSpec]:
    """Parse and check the observable table; errors name the file, row, column and id."""
    obs_file = files.name("observable")
    known = set(table.ids) | set(_model_symbols(model)) | {"time", "t", "pi"}
    specs: dict[str, ObservableSpec] = {}
    for row, (oid, rec) in enumerate(files.observables.iterrows(), start=2):
        oid = str(oid)
        f_obs = parse_formula(rec["observableFormula"], obs_file, row, "observableFormula", oid)
        f_noise = parse_formula(rec["noiseFormula"], obs_file, row, "noiseFormula", oid)
        transform = _cell(rec, "observableTransformation", "lin")
        dist = _cell(rec, "noiseDistribution", "normal")
        if dist not in NOISE_ALIASES:
            raise PetabError(
                f"{where(obs_file, row, 'noiseDistribution')}: unknown noise distribution "
                f"{dist!r} for {oid!r}; use normal, laplace, log-normal or log-laplace (v1 also: "
                "observableTransformation lin, log or log10)."
            )
        base, forced = NOISE_ALIASES[dist]
        transform = forced or transform
        if transform not in TRANSFORMS:
            raise PetabError(
                f"{where(obs_file, row, 'observableTransformation')}: unknown transformation "
                f"{transform!r} for {oid!r}; use lin, log or log10."
            )
        assert base in DISTRIBUTIONS
        names = []
        for f, column, kind in (
            (f_obs, "observablePlaceholders", "observableParameter"),
            (f_noise, "noisePlaceholders", "noiseParameter"),
        ):
            if files.version == 1:
                n = placeholders(f, kind, oid)
                names.append(tuple(f"{kind}{k}_{oid}" for k in range(1, n + 1)))
            else:
                names.append(tuple(str(c) for c in split_cell(rec.get(column))))
        for f, column, own in (
            (f_obs, "observableFormula", names[0]),
            (f_noise, "noiseFormula", (*names[0], *names[1], oid)),  # oid: the value
        ):
            unknown = sorted(f.names - known - set(own))
            if unknown:
                raise PetabError(
                    f"{where(obs_file, row, column)} ({oid}): unknown name(s) "
                    f"{', '.join(map(repr, unknown))} in {f.text!r}; a formula may use model "
                    "symbols, parameter-table ids, `time` and its own placeholders (a noise "
                    "formula also its observable's id)."
                )
        specs[oid] = ObservableSpec(
            f_obs, f_noise, names[0], names[1], TRANSFORMS.index(transform), base == "laplace"
        )
    return specs


def build_problem(
    files: PetabFiles, model: Any, settings: SolverSettings, sensitivity: AbstractSensitivity
) -> PetabProblem:
    """Check the tables against each other and the model; lay out the objective."""
    if files.version == 1:
        table = read_parameter_table(files.parameters, files.name("parameter"))
    else:
        table = read_parameter_table_v2(files.parameters, files.name("parameter"))
    pool = Pool(table)
    constant_ids = tuple(model.constant_ids)
    values = np.asarray(model.constant_values, dtype=float)
    defaults = np.array(
        [pool.model_default(c, values[i]) for i, c in enumerate(constant_ids)], dtype=np.int64
    )
    specs = read_observables(files, model, table)
    observable_ids = list(specs)
    n_obs = {o: len(specs[o].placeholders) for o in observable_ids}
    n_noise = {o: len(specs[o].noise_placeholders) for o in observable_ids}
    if files.version == 1:
        layout, groups, species_ids = _layout_v1(files, model, pool, defaults, n_obs, n_noise)
        aliases: dict[str, str] = {}
    else:
        aliases = _aliases(files)
        known = set(table.ids) | set(_model_symbols(model)) | {"time", "t", "pi"} | set(aliases)
        plans = read_plans(files, set(getattr(model, "settable_ids", ())), known, aliases)
        layout = layout_experiments(
            files.measurements,
            files.name("measurement"),
            tuple(observable_ids),
            n_obs,
            n_noise,
            plans,
            pool,
        )
        groups = [ExperimentGroup.from_batch(b, defaults) for b in layout.groups]
        species_ids = ()
    observables = []
    for k, oid in enumerate(observable_ids):
        rows = np.flatnonzero(layout.observable == k)
        if rows.size == 0:
            continue
        spec = specs[oid]
        observables.append(
            ObservableRows(
                rows=as_int(rows),
                output_row=as_int(layout.output_row[rows]),
                times=jnp.asarray(layout.times[rows]),
                observable_pars=as_int(layout.observable_pars[rows]),
                noise_pars=as_int(layout.noise_pars[rows]),
                observable=spec.formula,
                noise=spec.noise,
                observable_names=spec.placeholders,
                noise_names=spec.noise_placeholders,
                observable_id=oid,
            )
        )
    row_specs = [specs[observable_ids[o]] for o in layout.observable]
    transform = np.array([spec.transform for spec in row_specs], dtype=np.int64)
    laplace = np.array([spec.laplace for spec in row_specs], dtype=bool)
    varying = _varying_noise(
        [spec.noise for spec in row_specs],
        [spec.noise_placeholders for spec in row_specs],
        layout.noise_pars,
        pool.n_estimated,
        set(table.ids) - set(table.estimated_ids),
    )
    model_key = (type(model), hashlib.sha256(files.model_path.read_bytes()).hexdigest())
    objective = Objective(
        model=Frozen(model, model_key if model_is_file_model(model) else None),
        fixed=jnp.asarray(pool.fixed_array()),
        scale_codes=as_int(scale_codes(table.estimated_scales)),
        species_ids=species_ids,
        groups=tuple(groups),
        observables=tuple(observables),
        table_names=table.ids,
        table_index=as_int(np.array([pool.names[i] for i in table.ids])),
        values=jnp.asarray(layout.values),
        transform=as_int(transform),
        laplace=jnp.asarray(laplace),
        settings=settings,
        varying_noise=as_int(np.flatnonzero(varying)),
        aliases=tuple(aliases.items()),
        events=_event_rules(model, files, model_key if model_is_file_model(model) else None),
    )
    return PetabProblem(files, model, objective, table, layout, sensitivity)


def _layout_v1(
    files: PetabFiles,
    model: Any,
    pool: Pool,
    defaults: np.ndarray,
    n_obs: dict[str, int],
    n_noise: dict[str, int],
) -> tuple[MeasurementLayout, list[GroupArrays], tuple[str, ...]]:
    """v1: conditions as pool indices, simulations as (pre-equilibration, simulation) pairs."""
    constant_ids = tuple(model.constant_ids)
    state_ids = tuple(model.state_ids)
    initial_ids = tuple(i for i in _model_symbols(model) if i not in constant_ids)
    cond_params, cond_species, species_ids = condition_overrides(
        files.conditions, files.name("condition"), constant_ids, initial_ids, pool, defaults
    )
    layout = layout_measurements(
        files.measurements,
        files.name("measurement"),
        tuple(n_obs),
        n_obs,
        n_noise,
        set(cond_params),
        pool,
    )
    state_pos = {s: i for i, s in enumerate(state_ids)}
    groups = []
    for g in layout.groups:
        sim_species = np.stack([cond_species[c] for c in g.sim]).reshape(len(g.sim), -1)
        reinit = np.zeros((len(g.sim), len(state_ids)), dtype=bool)
        for u in range(len(g.sim)):
            for j, s in enumerate(species_ids):
                if sim_species[u, j] != KEEP and s in state_pos:
                    reinit[u, state_pos[s]] = True
        groups.append(
            GroupArrays(
                p_sim=as_int(np.stack([cond_params[c] for c in g.sim])),
                species_sim=as_int(sim_species),
                reinit=jnp.asarray(reinit),
                p_pre=None
                if g.preeq is None
                else as_int(np.stack([cond_params[c] for c in g.preeq])),
                species_pre=None
                if g.preeq is None
                else as_int(np.stack([cond_species[c] for c in g.preeq]).reshape(len(g.sim), -1)),
                ts=jnp.asarray(g.ts),
                has_dynamic=g.has_dynamic,
                has_steady=g.has_steady,
            )
        )
    return layout, groups, species_ids


def _aliases(files: PetabFiles) -> dict[str, str]:
    """petabEntityId -> modelEntityId of the mapping table (rows that only name an entity,
    with no modelEntityId, map nothing)."""
    out: dict[str, str] = {}
    if files.mappings is None:
        return out
    for _, rec in files.mappings.iterrows():
        model_id = rec.get("modelEntityId")
        if model_id is not None and not (isinstance(model_id, float) and math.isnan(model_id)):
            if str(model_id).strip():
                out[str(rec["petabEntityId"]).strip()] = str(model_id).strip()
    return out


def _varying_noise(
    noise: list[Formula],
    placeholder: list[tuple[str, ...]],
    noise_pars: np.ndarray,
    n_estimated: int,
    fixed: set[str],
) -> np.ndarray:
    """Per measurement row: may its sigma depend on theta? Yes when its noise formula names
    anything but a fixed parameter-table id, `time` or a noise placeholder that the row fills
    with a fixed number (pool indices from `n_estimated` on are fixed): an estimated parameter
    or a model symbol (states depend on theta) makes sigma vary."""
    out = np.zeros(len(noise), dtype=bool)
    for m, formula in enumerate(noise):
        filled = {name: k for k, name in enumerate(placeholder[m])}
        for name in formula.names - {"time", "t", "pi"} - fixed:
            out[m] |= name not in filled or bool(noise_pars[m, filled[name]] < n_estimated)
    return out


def _event_rules(model: Any, files: PetabFiles, key: object) -> Frozen | None:
    """The model's SBML events for the objective's solves (`event_solve`); None without
    events. Delayed events are refused by id: the objective fires events at once."""
    structure = getattr(model, "structure", None)
    events = getattr(structure, "events", ())
    if not events:
        return None
    delayed = [e.id for e in events if e.delay is not None]
    if delayed:
        raise PetabError(
            f"file {files.model_path.name}: event(s) {', '.join(map(repr, delayed))} have a "
            "delay, which a PEtab objective does not support yet; remove the delay, or run "
            "the model with cellode.simulate_sbml."
        )
    from .._sbml.event_rules import EventRules

    return Frozen(EventRules(model), None if key is None else (key, "events"))


def model_is_file_model(model: Any) -> bool:
    """True for the SBML import's models, which are a function of their file alone."""
    from .._sbml.model import SbmlModel

    return isinstance(model, SbmlModel)


def _cell(rec: pd.Series, column: str, default: str) -> str:
    value = rec.get(column, default)
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "":
        return default
    return str(value).strip()


def _model_symbols(model: Any) -> tuple[str, ...]:
    ids = getattr(model, "symbol_ids", None)
    if ids is not None:
        return tuple(ids)
    return tuple(model.state_ids) + tuple(model.constant_ids)
