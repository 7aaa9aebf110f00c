"""Models that ship with cellode, for the demo, tutorials and tests."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUILTIN_MODELS = {"cascade": "cascade.toml"}


def builtin_model_path(name: str) -> Path:
    """Path of a built-in model file (`cellode.builtin_model_path("cascade")`)."""
    from .._errors import ModelError

    if name not in BUILTIN_MODELS:
        raise ModelError(f"No built-in model {name!r}; available: {sorted(BUILTIN_MODELS)}.")
    return Path(str(resources.files(__package__) / BUILTIN_MODELS[name]))
