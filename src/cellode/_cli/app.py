"""The `cellode` command. Thin: every command is one library call a user could make from Python."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._version import __version__

app = typer.Typer(
    name="cellode",
    help="Mechanistic, neural and hybrid ODEs for cellular dynamics: simulate, learn, diagnose.",
    no_args_is_help=True,
    add_completion=False,
)


def _enable_float64() -> None:
    """The command line runs mechanistic work in float64 (library users switch it on themselves)."""
    import jax

    jax.config.update("jax_enable_x64", True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cellode {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """cellode: mechanistic, neural and hybrid ODEs for cellular dynamics."""
    _enable_float64()


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for figures, CSVs and the summary.")
    ] = Path("demo-output"),
    paths: Annotated[int, typer.Option(help="Number of SDE sample paths.")] = 100,
    steps: Annotated[int, typer.Option(help="Optimisation steps of each fit.")] = 600,
) -> None:
    """Run the main job on built-in data and write its figures and tables to OUT."""
    from .._examples.demo import run_demo

    report = run_demo(out, n_paths=paths, steps=steps)
    typer.echo(report.summary)
    typer.echo(f"wrote {len(report.files)} files to {out}")


@app.command()
def network(
    model_file: Annotated[
        Path, typer.Argument(help="TOML model file.", exists=True, dir_okay=False)
    ],
) -> None:
    """Print species, reactions, S, conservation laws with totals, and the reduced system."""
    from .network_commands import describe_network

    typer.echo(describe_network(model_file))


@app.command()
def simulate(
    model_file: Annotated[
        Path, typer.Argument(help="TOML model file.", exists=True, dir_okay=False)
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the CSV and PNG.")] = Path("."),
    t_end: Annotated[float | None, typer.Option(help="End time (default: the file's).")] = None,
    n_points: Annotated[int | None, typer.Option(help="Number of save times.")] = None,
) -> None:
    """Simulate a model file from its initial state; write a CSV and a PNG of the trajectories."""
    from .network_commands import simulate_model_file

    for path in simulate_model_file(model_file, out, t_end=t_end, n_points=n_points):
        typer.echo(f"wrote {path}")


@app.command("fit")
def fit_command(
    model_file: Annotated[
        Path,
        typer.Argument(
            help="TOML model file, or a PEtab problem (.yaml) which holds its own data.",
            exists=True,
            dir_okay=False,
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Argument(
            help="Tidy CSV: experiment,time,observable,value[,sigma] (not for PEtab).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for results and figures.")] = Path(
        "fit-output"
    ),
    conditions: Annotated[
        Path | None, typer.Option(help="TOML file of per-experiment inputs and initial values.")
    ] = None,
    kind: Annotated[str, typer.Option(help="mechanistic, hybrid or neural.")] = "mechanistic",
    learn: Annotated[
        str, typer.Option(help="Hybrid: comma-separated reactions whose rates are learned.")
    ] = "",
    starts: Annotated[int, typer.Option(help="Mechanistic: number of multistart starts.")] = 8,
    steps: Annotated[int, typer.Option(help="Hybrid/neural: optimisation steps.")] = 500,
    learning_rate: Annotated[float, typer.Option(help="Hybrid/neural: Adam learning rate.")] = 1e-2,
    executor: Annotated[
        str,
        typer.Option(
            help="Multistart executor: serial, processes or ray (PEtab: serial, processes)."
        ),
    ] = "serial",
    seed: Annotated[int, typer.Option(help="Random seed (starts, network initialisation).")] = 0,
    sensitivity: Annotated[
        str, typer.Option(help="PEtab: gradient by 'adjoint' or 'forward' sensitivities.")
    ] = "adjoint",
    method: Annotated[
        str,
        typer.Option(
            help="PEtab: local optimiser, 'lbfgsb', 'trust-region' (least squares with the "
            "residual Jacobian), 'fides' (Fides' trust region with BFGS), 'fides-hybrid' "
            "(Fides, Gauss-Newton then BFGS) or 'auto' (trust-region where the objective is a "
            "sum of squares, else L-BFGS-B)."
        ),
    ] = "fides",
) -> None:
    """Fit a model file to measurements; write parameters, figures and the reloadable result.

    With a PEtab problem (.yaml): a multistart maximum-likelihood fit from STARTS random starts
    within the parameter bounds; writes the waterfall plot, the best parameters as a PEtab
    parameter table, the simulation table and the fits-vs-data figure."""
    if model_file.suffix.lower() in (".yaml", ".yml"):
        from .._petab.workflow import fit_petab_file

        petab_report = fit_petab_file(
            model_file,
            out,
            starts=starts,
            seed=seed,
            sensitivity=sensitivity,
            method=method,
            executor=executor,
        )
        typer.echo(petab_report.summary)
        for path in petab_report.files:
            typer.echo(f"wrote {path}")
        return
    if data is None:
        raise typer.BadParameter("a TOML model file needs a DATA csv file.", param_hint="DATA")
    from .._data.measurements_csv import observables_in
    from .._fitting.workflow import ModelSpec, fit_model_file

    spec = ModelSpec(
        kind=kind,
        learned=tuple(r.strip() for r in learn.split(",") if r.strip()),
        observables=tuple(observables_in(data)),
        seed=seed,
    )
    report = fit_model_file(
        model_file, data, out, spec=spec, conditions=conditions, starts=starts, steps=steps,
        learning_rate=learning_rate, executor=executor,
    )  # fmt: skip
    typer.echo(report.summary)
    for path in report.files:
        typer.echo(f"wrote {path}")


@app.command()
def diagnose(
    model_file: Annotated[
        Path, typer.Argument(help="TOML model file.", exists=True, dir_okay=False)
    ],
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help="A change to the nominal experiment: NAME=VALUE for a species' initial value "
            "(or x0.NAME=VALUE), a parameter, or an input held constant; or a TOML condition "
            "file. Repeat for several changes.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="CSV of training states (a column per species, optional time column); default: "
            "the nominal simulation.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the report and figure.")] = Path(
        "."
    ),
    t_end: Annotated[float | None, typer.Option(help="End time (default: the file's).")] = None,
    n_points: Annotated[int | None, typer.Option(help="Number of save times.")] = None,
) -> None:
    """Can the model be trusted under a new condition? Write the out-of-distribution report
    (distance from the training states, Lipschitz ratio, FTLE, conservation drift) and figure."""
    from .diagnose_command import diagnose_model_file

    result = diagnose_model_file(
        model_file, out, conditions=condition or (), data=data, t_end=t_end, n_points=n_points
    )
    typer.echo(result.report.summary())
    for path in result.files:
        typer.echo(f"wrote {path}")


def main() -> None:
    """Entry point of the `cellode` console script."""
    app()
