"""Resumable checkpoints, written atomically: a crash loses at most the last interval.

A checkpoint is a folder `step-000100/` with `state.eqx` (equinox leaf serialisation of the
optimiser's state pytree: parameters, optimiser moments, PRNG key data) and `meta.json`
(step, loss history, settings). It is written under a temporary name and renamed into place,
then `LATEST` (a one-line file naming it) is replaced atomically. No pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import equinox as eqx
from jaxtyping import PyTree

from .._errors import InputError

LATEST = "LATEST"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    folder: str | Path, step: int, state: PyTree, meta: dict[str, Any], keep: int = 2
) -> Path:
    """Write `state` and `meta` as checkpoint `step` in `folder`; keep the newest `keep`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:09d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))
    with (tmp / "state.eqx").open("wb") as handle:
        eqx.tree_serialise_leaves(handle, state)
        handle.flush()
        os.fsync(handle.fileno())
    with (tmp / "meta.json").open("w") as handle:
        json.dump({"step": step, **meta}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    final = folder / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    pointer = folder / f".{LATEST}.tmp"
    pointer.write_text(name + "\n")
    os.replace(pointer, folder / LATEST)
    _fsync_dir(folder)
    old = sorted(p for p in folder.glob("step-*") if p.is_dir())[:-keep]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return final


def load_checkpoint(folder: str | Path, like: PyTree) -> tuple[PyTree, dict[str, Any]] | None:
    """The newest checkpoint in `folder` as (state, meta), read into the structure of `like`;
    None when the folder holds no checkpoint yet."""
    folder = Path(folder)
    pointer = folder / LATEST
    if not pointer.is_file():
        return None
    path = folder / pointer.read_text().strip()
    if not (path / "state.eqx").is_file():
        raise InputError(f"Checkpoint {path} named in {pointer} is missing; remove {pointer}.")
    meta = json.loads((path / "meta.json").read_text())
    with (path / "state.eqx").open("rb") as handle:
        state = eqx.tree_deserialise_leaves(handle, like)
    return state, meta
