"""Running cases of the SBML semantic test suite (time courses) and judging them as it does.

A case folder `NNNNN/` holds `NNNNN-settings.txt` (start, duration, steps, variables,
tolerances, which species are compared as amounts or concentrations), the model at several
SBML levels/versions and the expected `NNNNN-results.csv`. A value U passes against the expected
C when |C - U| <= absolute + relative * |C| (NaN matches NaN, an infinity matches itself).
"""

from __future__ import annotations

import csv
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from .errors import SbmlError
from .events import simulate_sbml
from .load import build_structure, read_document
from .model import SbmlModel

_LEVEL = re.compile(r"-sbml-l(\d)v(\d)\.xml$")


@dataclass(frozen=True)
class CaseSettings:
    """The `NNNNN-settings.txt` of a test case."""

    start: float
    duration: float
    steps: int
    variables: tuple[str, ...]
    absolute: float
    relative: float
    amount: tuple[str, ...]
    concentration: tuple[str, ...]

    @property
    def times(self) -> np.ndarray:
        return np.linspace(self.start, self.start + self.duration, self.steps + 1)


def read_settings(path: Path) -> CaseSettings:
    """Parse a settings file (`key: value` lines, lists separated by commas)."""
    values: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            values[key.strip().lower()] = value.strip()

    def names(key: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in values.get(key, "").split(",") if v.strip())

    if not values.get("duration") or not values.get("steps"):
        raise SbmlError(f"{path}: not a time-course case (no duration/steps).")
    return CaseSettings(
        start=float(values.get("start") or 0.0),
        duration=float(values["duration"]),
        steps=int(float(values["steps"])),
        variables=names("variables"),
        absolute=float(values.get("absolute") or 0.0),
        relative=float(values.get("relative") or 0.0),
        amount=names("amount"),
        concentration=names("concentration"),
    )


def read_results(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """The expected table: column names (after `time`) and the values (first column time)."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    header = tuple(h.strip() for h in rows[0])
    data = np.array([[_number(v) for v in r] for r in rows[1:]], dtype=float)
    return header[1:], data


def _number(text: str) -> float:
    t = text.strip().lower()
    if t in ("nan", ""):
        return math.nan
    if t in ("inf", "+inf", "infinity"):
        return math.inf
    if t in ("-inf", "-infinity"):
        return -math.inf
    return float(t)


def case_model_file(folder: Path) -> Path:
    """The case's SBML file of the highest level and version."""
    files = [
        (tuple(map(int, m.groups())), p)
        for p in folder.glob("*-sbml-l*v*.xml")
        if (m := _LEVEL.search(p.name))
    ]
    if not files:
        raise SbmlError(f"{folder} holds no SBML file.")
    return max(files)[1]


def within_tolerance(sim: np.ndarray, expected: np.ndarray, absolute: float, relative: float):
    """Elementwise pass/fail: |C - U| <= absolute + relative |C|; NaN ~ NaN, inf ~ same inf."""
    sim = np.asarray(sim, dtype=float)
    expected = np.asarray(expected, dtype=float)
    with np.errstate(invalid="ignore"):
        close = np.abs(expected - sim) <= absolute + relative * np.abs(expected)
    both_nan = np.isnan(sim) & np.isnan(expected)
    same_inf = np.isinf(expected) & (sim == expected)
    return close | both_nan | same_inf


def simulate_outputs(
    model: SbmlModel,
    settings: CaseSettings,
    *,
    rtol: float,
    atol: float,
    solver: diffrax.AbstractSolver,
    max_steps: int = 200_000,
) -> tuple[np.ndarray, bool]:
    """The compared quantities at the output times (rows: times, columns: `variables`), and
    whether the solver succeeded. One jit-compiled function per case."""
    ts = settings.times
    observe = _observer(model, settings)
    jumps = _jumps_inside(model, ts)

    def run(p):
        model_t0 = model if model.t0 == ts[0] else _with_t0(model, float(ts[0]))
        x0 = model_t0.initial_state(p)
        if x0.shape[0] == 0:
            xs = jnp.zeros((len(ts), 0))
            ok = jnp.asarray(True)
        else:
            term = diffrax.ODETerm(lambda t, x, args: model_t0.rhs(t, x, args))
            controller = diffrax.PIDController(rtol=rtol, atol=atol)
            if jumps.size:
                controller = diffrax.ClipStepSizeController(controller, jump_ts=jnp.asarray(jumps))
            sol = diffrax.diffeqsolve(
                term,
                solver,
                ts[0],
                ts[-1],
                None,
                x0,
                args=p,
                saveat=diffrax.SaveAt(ts=jnp.asarray(ts)),
                stepsize_controller=controller,
                max_steps=max_steps,
                throw=False,
            )
            xs = sol.ys
            ok = sol.result == diffrax.RESULTS.successful
        values = jax.vmap(lambda t, x: observe(t, x, p))(jnp.asarray(ts), xs)
        return values, ok

    values, ok = jax.jit(run)(model.constant_values)
    return np.asarray(values), bool(ok)


def _observer(model: SbmlModel, settings: CaseSettings):
    """observe(t, x, p): the compared quantities, species as amounts or concentrations."""
    s = model.structure
    amount, conc = set(settings.amount), set(settings.concentration)

    def observe(t, x, p):
        env = model._run_env(t, x, p)
        out = []
        for v in settings.variables:
            value = env.get(v)
            if s.kinds.get(v) == "species":
                comp = env.get(s.species_compartment[v])
                is_amount_valued = v in s.amount_valued
                if v in amount and not is_amount_valued:
                    value = value * comp
                elif v in conc and is_amount_valued:
                    value = value / comp
            out.append(value)
        return jnp.stack(out)

    return observe


def _jumps_inside(model: SbmlModel, ts: np.ndarray) -> np.ndarray:
    jumps = np.asarray(model.jump_times(), dtype=float)
    return np.unique(jumps[np.isfinite(jumps) & (jumps > ts[0]) & (jumps < ts[-1])])


def simulate_outputs_scipy(
    model: SbmlModel, settings: CaseSettings, *, rtol: float, atol: float
) -> tuple[np.ndarray, bool]:
    """As `simulate_outputs`, with `simulate_sbml` (SciPy's LSODA on the jit-compiled
    right-hand side and Jacobian, events applied by a stepping loop): a few small compilations
    instead of one of a whole solver loop, so the fast choice for running the suite."""
    ts = settings.times
    p = model.constant_values
    observe = jax.jit(jax.vmap(_observer(model, settings), in_axes=(0, 0, None)))
    xs, ok = simulate_sbml(model, ts, rtol=rtol, atol=atol)
    return np.asarray(observe(jnp.asarray(ts), jnp.asarray(xs), p)), ok


def _with_t0(model: SbmlModel, t0: float) -> SbmlModel:
    return SbmlModel(model.constant_values, model.structure, t0)


@dataclass(frozen=True)
class CaseResult:
    """The verdict on one case: `passed`, a `reason` (empty when passed), the largest error
    relative to the allowed one, and the wall time in seconds."""

    case: str
    passed: bool
    reason: str
    max_error: float
    seconds: float


def run_case(folder: Path, integrator: str = "diffrax") -> CaseResult:
    """Load, simulate and judge one test case (errors become a failed result with a reason)."""
    folder = Path(folder)
    case = folder.name
    start = time.perf_counter()

    def done(passed, reason, err=math.nan):
        return CaseResult(case, passed, reason, err, time.perf_counter() - start)

    try:
        settings = read_settings(folder / f"{case}-settings.txt")
        columns, expected = read_results(folder / f"{case}-results.csv")
        doc, name = read_document(case_model_file(folder))
        structure = build_structure(doc, name, allow_events=integrator == "scipy")
        model = SbmlModel(
            jnp.asarray(structure.constant_values, dtype=float), structure, float(settings.start)
        )
    except SbmlError as err:
        text = str(err)
        return done(
            False,
            "unsupported: " + _first_item(text)
            if "does not simulate" in text
            else "load error: " + text.splitlines()[0],
        )
    missing = [v for v in settings.variables if v not in model.structure.init_defs]
    if missing:
        return done(False, f"unknown variable {missing[0]!r}")
    rtol = max(settings.relative * 1e-4, 1e-12)
    atol = max(settings.absolute * 1e-4, 1e-16)
    try:
        if integrator == "scipy":
            values, ok = simulate_outputs_scipy(model, settings, rtol=rtol, atol=atol)
        else:
            values, ok = simulate_outputs(
                model, settings, rtol=rtol, atol=atol, solver=diffrax.Tsit5()
            )
        if not ok and integrator != "scipy":
            values, ok = simulate_outputs(
                model, settings, rtol=rtol, atol=atol, solver=diffrax.Kvaerno5()
            )
    except SbmlError as err:
        return done(False, "error: " + str(err).splitlines()[0])
    if not ok:
        return done(False, "solver failed")
    order = [columns.index(v) + 1 for v in settings.variables]
    exp = expected[:, order]
    good = within_tolerance(values, exp, settings.absolute, settings.relative)
    with np.errstate(invalid="ignore"):
        allowed = settings.absolute + settings.relative * np.abs(exp)
        ratio = np.where(good, 0.0, np.abs(values - exp) / allowed)
    worst = float(np.nanmax(np.where(np.isnan(ratio), np.inf, ratio))) if ratio.size else 0.0
    if good.all():
        ok_err = np.abs(values - exp) / allowed
        finite = ok_err[np.isfinite(ok_err)]
        return done(True, "", float(finite.max()) if finite.size else 0.0)
    bad_col = int(np.argwhere(~good)[0][1])
    return done(False, f"wrong values ({settings.variables[bad_col]})", worst)


def _first_item(text: str) -> str:
    for line in text.splitlines():
        if line.strip().startswith("- "):
            item = line.strip()[2:]
            return re.sub(r"'[^']*'", "…", item)
    return text.splitlines()[0]
