"""A small PEtab v2 likelihood for the PEtab-SciML suite's hybrid cases (test code only).

It checks `HybridSbmlModel` end to end while the project's PEtab objective does not yet read
PEtab v2 problems. It covers what the suite's Lotka-Volterra problems use: experiments with one
initial condition at t = 0, conditions assigning numbers or parameter ids, normal noise with a
formula noise, `lin` observables, and priors (uniform, normal) for log-posterior cases.
log L = Σ -½ log(2π σ²) - ½ ((y - m)/σ)².
"""

from __future__ import annotations

import math
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import yaml

import cellode
from cellode._networks.expressions import evaluate, free_names, parse_expression
from cellode._sciml.hybrid_model import HybridSbmlModel, build_hybrid_model
from cellode._sciml.parameter_table import expand_parameter_table
from cellode._sciml.problem_files import read_sciml_problem

# Tsit5 tolerances: the suite checks gradients of size ~1e3 to 0.1 absolute, and the ReLU
# networks in the right-hand side (cases 036, 038) make the solution only once differentiable,
# which costs accuracy at 1e-10.
RTOL = ATOL = 1e-12


def _table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _tables(problem: dict, key: str, root: Path) -> pd.DataFrame:
    files = problem.get(key) or []
    if not files:
        return pd.DataFrame()
    return pd.concat([_table(root / f) for f in files], ignore_index=True)


class SuiteProblem:
    """One `sciml_problem_import` case: its hybrid model, data and nominal parameters."""

    def __init__(self, yaml_path: Path):
        root = yaml_path.parent
        problem = yaml.safe_load(yaml_path.read_text())
        self.files = read_sciml_problem(yaml_path)
        (model_spec,) = problem["model_files"].values()
        base = cellode.load_sbml(root / model_spec["location"])
        self.model: HybridSbmlModel = build_hybrid_model(self.files, base)
        params = _tables(problem, "parameter_files", root)
        nn_ids = set(self.files.parameter_ids)
        ids = self.model.constant_ids
        self.nominal = {}
        self.estimated: list[str] = []
        self.priors: list[tuple[str, str, list[float]]] = []
        for _, row in params.iterrows():
            pid = row["parameterId"]
            if pid in nn_ids:
                continue
            if row["nominalValue"] not in ("", "array"):
                self.nominal[pid] = float(row["nominalValue"])
            if row["estimate"].lower() in ("true", "1"):
                self.estimated.append(pid)
            if row.get("priorDistribution", ""):
                pars = [float(v) for v in row["priorParameters"].split(";")]
                self.priors.append((pid, row["priorDistribution"], pars))
        self.nn_priors = self._nn_priors(params)
        p0 = np.asarray(self.model.constant_values, dtype=float).copy()
        for pid, value in self.nominal.items():
            if pid in ids:
                p0[ids.index(pid)] = value
        self.p0 = p0
        self.nn_start = len(ids) - len(self.model.parameter_element_ids)
        self.theta_mech = np.array([self.nominal[i] for i in self.estimated])
        self.theta_nn = p0[self.nn_start :].copy()

        experiments = _tables(problem, "experiment_files", root)
        conditions = _tables(problem, "condition_files", root)
        measurements = _tables(problem, "measurement_files", root)
        observables = _tables(problem, "observable_files", root)
        self.measurements = measurements
        self.observables = {
            r["observableId"]: (
                parse_expression(r["observableFormula"]),
                parse_expression(r["noiseFormula"]),
            )
            for _, r in observables.iterrows()
        }
        self.experiments = []
        if experiments.empty:  # no experiment table: one simulation from t = 0
            experiments = pd.DataFrame({"experimentId": [""], "time": ["0.0"], "conditionId": [""]})
            measurements["experimentId"] = measurements.get("experimentId", "")
        for _, e in experiments.iterrows():
            cid = e["conditionId"]
            if cid and not conditions.empty:
                rows = conditions[conditions["conditionId"] == cid]
            else:
                rows = pd.DataFrame(columns=["targetId", "targetValue"])
            assignments = [
                (r["targetId"], parse_expression(r["targetValue"])) for _, r in rows.iterrows()
            ]
            selectors = {a: self.model.selector_value(a, cid or "") for a in self.model.array_ids}
            m = measurements[measurements["experimentId"] == e["experimentId"]]
            self.experiments.append((float(e["time"]), assignments, selectors, m))

    def _nn_priors(self, params: pd.DataFrame) -> list[tuple[np.ndarray, str, list[float]]]:
        """Network priors element by element, from the expanded parameter table."""
        expanded = expand_parameter_table(params, self.files, self.model.blocks)
        elements = list(self.model.parameter_element_ids)
        position = {e: i for i, e in enumerate(elements)}
        groups: dict[tuple[str, str], list[int]] = {}
        for _, row in expanded.iterrows():
            if row["parameterId"] in position and row.get("priorDistribution", ""):
                key = (row["priorDistribution"], row["priorParameters"])
                groups.setdefault(key, []).append(position[row["parameterId"]])
        return [
            (np.array(idx), dist, [float(v) for v in pars.split(";")])
            for (dist, pars), idx in groups.items()
        ]

    # --- the likelihood --------------------------------------------------------------------------
    def _p(self, theta_mech, theta_nn):
        ids = self.model.constant_ids
        p = jnp.asarray(self.p0)
        for k, pid in enumerate(self.estimated):
            if pid in ids:
                p = p.at[ids.index(pid)].set(theta_mech[k])
        return p.at[self.nn_start :].set(theta_nn)

    def _env(self, theta_mech) -> dict:
        env = {k: jnp.asarray(v) for k, v in self.nominal.items()}
        for k, pid in enumerate(self.estimated):
            env[pid] = theta_mech[k]
        return env

    def simulate_and_llh(self, theta_mech, theta_nn):
        model = self.model
        ids = model.constant_ids
        p_all = self._p(theta_mech, theta_nn)
        env = self._env(theta_mech)
        n_rows = len(self.measurements)
        sims = jnp.zeros(n_rows)
        llh = jnp.asarray(0.0)
        for t0, assignments, selectors, m in self.experiments:
            p = p_all
            overrides = {}
            for target, expr in assignments:
                value = jnp.asarray(evaluate(expr, env), dtype=float)
                if target in ids:
                    p = p.at[ids.index(target)].set(value)
                else:
                    overrides[target] = value
            for a, k in selectors.items():
                p = p.at[ids.index(f"{a}[condition]")].set(k)
            x0 = model.initial_state(p, overrides or None)
            times = np.array(sorted(set(m["time"].astype(float))))
            field = eqx.tree_at(lambda mdl: mdl.constant_values, model, p)
            traj = cellode.simulate(
                field, x0, jnp.asarray(times), t0=t0, solver="tsit5", rtol=RTOL, atol=ATOL
            )
            for oid, group in m.groupby("observableId", sort=False):
                f_obs, f_noise = self.observables[oid]
                names = sorted((free_names(f_obs) | free_names(f_noise)) - {"t", "time"})
                k = np.searchsorted(times, group["time"].astype(float).to_numpy())

                def observe(t, x, p=p, f_obs=f_obs, f_noise=f_noise, names=names):
                    symbols = model.symbols(t, x, p, ids=names) | {"t": t, "time": t}
                    y = jnp.asarray(evaluate(f_obs, symbols), dtype=float)
                    return y, jnp.asarray(evaluate(f_noise, symbols), dtype=float)

                y, sigma = jax.vmap(observe)(jnp.asarray(times[k]), traj.xs[k])
                data = group["measurement"].astype(float).to_numpy()
                r = (data - y) / sigma
                llh = llh + jnp.sum(-0.5 * jnp.log(2 * jnp.pi * sigma**2) - 0.5 * r**2)
                sims = sims.at[group.index.to_numpy()].set(y)
        return llh, sims

    def log_prior(self, theta_mech, theta_nn):
        total = jnp.asarray(0.0)
        for pid, dist, pars in self.priors:
            if pid not in self.estimated:
                continue
            total = total + _log_density(theta_mech[self.estimated.index(pid)], dist, pars)
        for idx, dist, pars in self.nn_priors:
            total = total + jnp.sum(_log_density(theta_nn[idx], dist, pars))
        return total


def _log_density(x, dist: str, pars: list[float]):
    if dist == "uniform":
        lo, hi = pars
        return jnp.where((x >= lo) & (x <= hi), -math.log(hi - lo), -jnp.inf)
    if dist == "normal":
        mu, sd = pars
        return -0.5 * math.log(2 * math.pi * sd**2) - 0.5 * ((x - mu) / sd) ** 2
    raise NotImplementedError(f"prior {dist!r}")


def gradient_blocks(model: HybridSbmlModel, flat) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Flat network-parameter vector -> {net: {layer: {array: PyTorch-shaped array}}}."""
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    flat = np.asarray(flat)
    for b in model.blocks:
        out.setdefault(b.net_id, {}).setdefault(b.layer_id, {})[b.name] = flat[
            b.offset : b.offset + b.size
        ].reshape(b.shape)
    return out
