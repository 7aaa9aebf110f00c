"""Reading the files of a PEtab v1 problem with the `petab` library, with errors that name them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import PetabError


@dataclass(frozen=True)
class PetabFiles:
    """The tables of a single-model PEtab v1 problem and the paths they came from."""

    yaml_path: Path
    model_path: Path
    paths: dict[str, list[Path]]
    conditions: pd.DataFrame
    measurements: pd.DataFrame
    observables: pd.DataFrame
    parameters: pd.DataFrame

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


def read_files(yaml_path: Path) -> PetabFiles:
    """Load the YAML and every table it lists (v1 layout: one problem, one SBML file)."""
    import petab.v1 as petab

    if not yaml_path.is_file():
        raise PetabError(f"file {yaml_path}: the PEtab problem file does not exist.")
    try:
        spec = petab.load_yaml(yaml_path)
    except Exception as error:
        raise PetabError(f"file {yaml_path.name}: not a readable YAML file ({error}).") from None
    version = str(spec.get("format_version", ""))
    if not version.startswith("1"):
        raise PetabError(
            f"file {yaml_path.name}: format_version {version!r}; cellode reads PEtab v1 problems "
            "(convert v2 files with `petab` first)."
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
        frames = []
        for p in paths[kind]:
            try:
                frames.append(reader(p))
            except Exception as error:
                raise PetabError(f"file {p.name}: cannot read the {kind} table ({error}).") from None
        return pd.concat(frames) if len(frames) > 1 else frames[0]

    return PetabFiles(
        yaml_path=yaml_path,
        model_path=paths["model"][0],
        paths=paths,
        conditions=read("condition", petab.get_condition_df),
        measurements=read("measurement", petab.get_measurement_df).reset_index(drop=True),
        observables=read("observable", petab.get_observable_df),
        parameters=read("parameter", petab.get_parameter_df),
    )
