"""The error an SBML import raises."""

from __future__ import annotations

from .._errors import InputError


class SbmlError(InputError):
    """An SBML file cannot be read, or uses elements cellode does not simulate.

    The message names the file, every offending element with its id, and what to do.
    """
