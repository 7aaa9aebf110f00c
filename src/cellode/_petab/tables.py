"""Reading the files of a PEtab problem (v1 or v2) with the `petab` library, with errors that
name them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import PetabError


@dataclass(frozen=True)
class PetabFiles:
    """The tables of a single-model PEtab problem and the paths they came from.

    v1 conditions are wide (one row per condition, one column per target); v2 conditions are
    long (conditionId, targetId, targetValue) and the v2 experiment table orders them in time.
    """

    yaml_path: Path
    model_path: Path
    paths: dict[str, list[Path]]
    conditions: pd.DataFrame
    measurements: pd.DataFrame
    observables: pd.DataFrame
    parameters: pd.DataFrame
    version: int = 1
    experiments: pd.DataFrame | None = None
    mappings: pd.DataFrame | None = None

    @property
    def condition_column(self) -> str:
        """The measurement column that names a row's simulation: condition (v1), experiment (v2)."""
        return "simulationConditionId" if self.version == 1 else "experimentId"

    def name(self, kind: str) -> str:
        """The file name(s) of a table kind, for error messages."""
        return ", ".join(p.name for p in self.paths[kind])


def _existing(base: Path, names: list[str] | str, key: str, yaml_path: Path) -> list[Path]:
    out = []
    for name in [names] if isinstance(names, str) else names:
        path = base / name
        if not path.is_file():
            raise PetabError(
                f"file {yaml_path.name}, entry {key}: the file {name!r} does not exist (looked "
                f"for {path}); fix the path in the YAML file."
            )
        out.append(path)
    return out


def _read(kind: str, paths: list[Path], reader, empty: list[str]) -> pd.DataFrame:
    frames = []
    for p in paths:
        try:
            frames.append(reader(p))
        except Exception as error:
            raise PetabError(f"file {p.name}: cannot read the {kind} table ({error}).") from None
    if not frames:
        return pd.DataFrame(columns=empty)
    return pd.concat(frames) if len(frames) > 1 else frames[0]


def read_files(yaml_path: Path) -> PetabFiles:
    """Load the YAML and every table it lists (one problem, one SBML model; v1 or v2)."""
    import petab.v1 as petab

    if not yaml_path.is_file():
        raise PetabError(f"file {yaml_path}: the PEtab problem file does not exist.")
    try:
        spec = petab.load_yaml(yaml_path)
    except Exception as error:
        raise PetabError(f"file {yaml_path.name}: not a readable YAML file ({error}).") from None
    version = str(spec.get("format_version", ""))
    if version.startswith("2"):
        return _read_v2(yaml_path, spec)
    if not version.startswith("1"):
        raise PetabError(
            f"file {yaml_path.name}: format_version {version!r}; cellode reads PEtab 1.x and "
            "2.x problems."
        )
    problems = spec.get("problems") or []
    if len(problems) != 1:
        raise PetabError(
            f"file {yaml_path.name}: {len(problems)} problems listed; cellode reads exactly one."
        )
    base = yaml_path.parent
    sub = problems[0]
    paths = {
        "parameter": _existing(base, spec["parameter_file"], "parameter_file", yaml_path),
        "model": _existing(base, sub.get("sbml_files", []), "sbml_files", yaml_path),
        "condition": _existing(base, sub["condition_files"], "condition_files", yaml_path),
        "measurement": _existing(base, sub["measurement_files"], "measurement_files", yaml_path),
        "observable": _existing(base, sub["observable_files"], "observable_files", yaml_path),
    }
    if len(paths["model"]) != 1:
        raise PetabError(f"file {yaml_path.name}: exactly one SBML file is needed (sbml_files).")

    def read(kind: str, reader) -> pd.DataFrame:
        return _read(kind, paths[kind], reader, [])

    return PetabFiles(
        yaml_path=yaml_path,
        model_path=paths["model"][0],
        paths=paths,
        conditions=read("condition", petab.get_condition_df),
        measurements=read("measurement", petab.get_measurement_df).reset_index(drop=True),
        observables=read("observable", petab.get_observable_df),
        parameters=read("parameter", petab.get_parameter_df),
    )


def _read_v2(yaml_path: Path, spec: dict) -> PetabFiles:
    """A v2 problem: model_files, and lists of condition, experiment, measurement, observable,
    parameter and mapping files."""
    import petab.v2 as petab2

    base = yaml_path.parent
    models = spec.get("model_files") or {}
    if len(models) != 1:
        raise PetabError(
            f"file {yaml_path.name}: {len(models)} models listed in model_files; cellode reads "
            "problems with exactly one model."
        )
    ((model_id, model),) = models.items()
    language = str(model.get("language", "")).lower()
    if language != "sbml":
        raise PetabError(
            f"file {yaml_path.name}, model {model_id!r}: language {language!r}; cellode reads "
            "SBML models."
        )

    def listed(key: str, required: bool = True) -> list[Path]:
        names = spec.get(key)
        if names is None and required:
            raise PetabError(f"file {yaml_path.name}: the entry {key} is missing.")
        return _existing(base, names or [], key, yaml_path)

    paths = {
        "model": _existing(base, str(model.get("location", "")), "model_files", yaml_path),
        "parameter": listed("parameter_files"),
        "condition": listed("condition_files", required=False),
        "experiment": listed("experiment_files", required=False),
        "measurement": listed("measurement_files"),
        "observable": listed("observable_files"),
        "mapping": listed("mapping_files", required=False),
    }
    measurements = _read(
        "measurement", paths["measurement"], petab2.get_measurement_df, []
    ).reset_index(drop=True)
    if "modelId" in measurements.columns:
        other = {str(m) for m in measurements["modelId"].dropna()} - {"", model_id}
        if other:
            raise PetabError(
                f"file {', '.join(p.name for p in paths['measurement'])}: modelId "
                f"{', '.join(sorted(other))} is not the problem's model {model_id!r}."
            )
    return PetabFiles(
        yaml_path=yaml_path,
        model_path=paths["model"][0],
        paths=paths,
        conditions=_read(
            "condition",
            paths["condition"],
            petab2.get_condition_df,
            ["conditionId", "targetId", "targetValue"],
        ),
        measurements=measurements,
        observables=_read("observable", paths["observable"], petab2.get_observable_df, []),
        parameters=_read("parameter", paths["parameter"], petab2.get_parameter_df, []),
        version=2,
        experiments=_read(
            "experiment",
            paths["experiment"],
            petab2.get_experiment_df,
            ["experimentId", "time", "conditionId"],
        ),
        mappings=_read(
            "mapping",
            paths["mapping"],
            petab2.get_mapping_df,
            ["petabEntityId", "modelEntityId"],
        ),
    )
