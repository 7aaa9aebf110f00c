"""`load_sbml`: the public entry point of the SBML import."""

from __future__ import annotations

import os

import jax.numpy as jnp

from .load import build_structure, read_document
from .model import SbmlModel


def load_sbml(source: str | os.PathLike, *, allow_events: bool = False) -> SbmlModel:
    """Read an SBML model (a file path or the SBML text itself) as an `SbmlModel`.

    libsbml parses the file; cellode translates every formula from MathML into JAX operations
    (nothing is eval-ed). Invalid SBML raises `SbmlError` naming the file and libsbml's first
    errors; a model using elements cellode does not simulate (events, algebraic rules, fast
    reactions, delays, packages such as comp) raises one `SbmlError` listing every such element.

    Events: by default a model with events is refused (the vector field alone cannot apply
    them). With `allow_events=True` they are read into `model.events` and
    `cellode.simulate_sbml` simulates them (root-found triggers, delays, priorities,
    persistence, initial values, values from the trigger time).
    """
    doc, name = read_document(source)
    structure = build_structure(doc, name, allow_events=allow_events)
    return SbmlModel(jnp.asarray(structure.constant_values, dtype=float), structure)
