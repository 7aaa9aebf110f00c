"""Library functions behind `cellode network FILE` and `cellode simulate FILE`.

Each is a plain call a user can make from Python; the command-line layer only parses arguments.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from .._io.csv import write_trajectory_csv
from .._networks.conservation import conservation_drift
from .._networks.model_file import load_model
from .._networks.reduction import choose_dependent_species


def describe_network(path: str | Path) -> str:
    """A readable description of a model file: species (with x0), reactions and rate laws,
    parameters, inputs, the stoichiometric matrix S, the conservation laws with their totals,
    and the reduced system (which species are eliminated, and how they are recovered)."""
    model = load_model(path)
    net = model.network
    out = [f"{net.name}: {net.n_species} species, {net.n_reactions} reactions", ""]
    out.append("Species (initial value):")
    out += [f"  {s} = {x:g}" for s, x in zip(net.species, model.x0, strict=True)]
    out += ["", "Reactions:"]
    out += [
        f"  {name}: {r.equation()} ; {r.rate.describe()}"
        for name, r in zip(net.reaction_names, net.reactions, strict=True)
    ]
    if net.parameters:
        out += ["", "Parameters:"]
        out += [f"  {p} = {net.parameters[p]:g}" for p in net.parameter_names]
    if net.inputs:
        out += ["", f"Inputs u(t): {', '.join(net.inputs)}"]
    out += ["", "Stoichiometric matrix S (species x reactions):", _matrix_table(net)]
    laws = net.conservation_laws()
    out += ["", f"Conservation laws ({len(laws)}; W S = 0, so W x(t) = W x0):"]
    if len(laws) == 0:
        out.append("  none: S has full row rank")
    else:
        kind = "non-negative (conserved moieties)" if laws.nonnegative else "mixed sign"
        out += [f"  {line}" for line in laws.describe(model.x0).splitlines()]
        out.append(f"  basis: {kind}, integer coefficients")
    out += ["", "Reduced system:"]
    if len(laws) == 0:
        out.append("  nothing to eliminate")
    else:
        dep = choose_dependent_species(laws, model.x0)
        ind = [i for i in range(net.n_species) if i not in set(dep.tolist())]
        out.append(f"  {len(ind)} independent species: {', '.join(net.species[i] for i in ind)}")
        out.append("  eliminated (largest coefficient x abundance, QR column pivoting):")
        out += [f"    {line}" for line in _elimination_formulas(laws, dep, model.x0)]
    return "\n".join(out)


_MAX_TABLE_ENTRIES = 4000  # larger S is summarised, not printed


def _matrix_table(net) -> str:
    S = net.stoichiometry
    if S.size > _MAX_TABLE_ENTRIES:
        return (
            f"  {S.shape[0]} x {S.shape[1]} with {np.count_nonzero(S)} non-zero entries (too "
            "large to print; use `ReactionNetwork.from_file(path).stoichiometry`)"
        )
    names = net.reaction_names
    width = max([len(s) for s in net.species] + [1])
    cols = [max(len(n), 2) for n in names]
    head = " " * (width + 2) + " ".join(n.rjust(c) for n, c in zip(names, cols, strict=True))
    rows = [head]
    for s, row in zip(net.species, S, strict=True):
        cells = " ".join(str(v).rjust(c) for v, c in zip(row, cols, strict=True))
        rows.append(f"  {s.ljust(width)}{cells}")
    return "\n".join(rows)


def _elimination_formulas(laws, dep: np.ndarray, x0: np.ndarray) -> list[str]:
    """x_D = W_D^{-1} (T - W_I x_I) written out with exact rational coefficients."""
    W = [[Fraction(int(v)) for v in row] for row in laws.matrix]
    k, n = len(W), len(laws.species)
    totals = [Fraction(float(t)).limit_denominator(10**12) for t in np.asarray(laws.totals(x0))]
    # Gauss–Jordan on [W_D | W | T] gives x_D + (W_D^-1 W_I) x_I = W_D^-1 T exactly
    aug = [[W[a][d] for d in dep] + W[a] + [totals[a]] for a in range(k)]
    for c in range(k):
        piv = next(r for r in range(c, k) if aug[r][c] != 0)
        aug[c], aug[piv] = aug[piv], aug[c]
        inv = 1 / aug[c][c]
        aug[c] = [v * inv for v in aug[c]]
        for r in range(k):
            if r != c and aug[r][c] != 0:
                f = aug[r][c]
                aug[r] = [a - f * b for a, b in zip(aug[r], aug[c], strict=True)]
    lines = []
    for c, d in enumerate(dep):
        row, total = aug[c][k : k + n], aug[c][-1]
        text = f"{laws.species[d]} = {float(total):g}"
        for i in range(n):
            if i in set(dep.tolist()) or row[i] == 0:
                continue
            coef = -row[i]
            mag = "" if abs(coef) == 1 else f"{abs(coef)} "
            text += f" {'-' if coef < 0 else '+'} {mag}{laws.species[i]}"
        lines.append(text)
    return lines


def simulate_model_file(
    path: str | Path,
    out_dir: str | Path,
    t_end: float | None = None,
    n_points: int | None = None,
) -> list[Path]:
    """Simulate a model file from its x0 over [0, t_end] and write `<name>.csv` and
    `<name>.png` (the trajectories) into `out_dir`.

    `t_end` and `n_points` default to the file's `[simulation]` table, else 10 and 201. The
    solver is chosen automatically (`cellode.simulate(..., solver="auto")`). The CSV has the
    columns time, the inputs (if any), then the species. With conservation laws,
    `<name>_conservation.txt` lists each law, its total and its largest drift. Returns the
    paths written.
    """
    from .._simulation.simulate import simulate

    model = load_model(path)
    t_end = t_end if t_end is not None else (model.t_end if model.t_end is not None else 10.0)
    n_points = n_points if n_points is not None else (model.n_points or 201)
    if not t_end > 0:
        raise InputError(f"t_end must be positive; got {t_end}.")
    if n_points < 2:
        raise InputError(f"n_points must be at least 2; got {n_points}.")
    ts = jnp.linspace(0.0, float(t_end), int(n_points))
    traj = simulate(
        model.vector_field(), jnp.asarray(model.x0), ts, inputs=model.inputs, rtol=1e-8, atol=1e-10
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(path).stem
    csv_path, png_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.png"
    net = model.network
    write_trajectory_csv(csv_path, traj, net.species, inputs=model.inputs, input_names=net.inputs)
    xs = np.asarray(traj.xs)
    _plot(png_path, np.asarray(traj.ts), xs, model, traj.stats.solver)
    laws = model.network.conservation_laws()
    if len(laws):
        drift = np.asarray(conservation_drift(laws, xs))
        (out_dir / f"{stem}_conservation.txt").write_text(
            "\n".join(
                f"{expr} = {total:.10g}   max drift {d:.3g}"
                for expr, total, d in zip(
                    laws.expressions(), np.asarray(laws.totals(model.x0)), drift, strict=True
                )
            )
            + "\n"
        )
        return [csv_path, png_path, out_dir / f"{stem}_conservation.txt"]
    return [csv_path, png_path]


def _plot(path: Path, ts: np.ndarray, xs: np.ndarray, model, solver: str) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for i, s in enumerate(model.network.species):
        ax.plot(ts, xs[:, i], label=s)
    ax.set_xlabel("time")
    ax.set_ylabel("concentration")
    ax.set_title(f"{model.network.name} ({solver})")
    ax.legend(loc="best", fontsize="small", ncol=2 if xs.shape[1] > 8 else 1)
    fig.savefig(path, dpi=120)
