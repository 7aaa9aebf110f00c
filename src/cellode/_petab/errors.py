"""The error a PEtab problem raises when its files are wrong: it names the file, row and element."""

from __future__ import annotations

from .._errors import InputError


class PetabError(InputError):
    """A PEtab problem is malformed: a missing file, an unknown id, a formula that cannot be read.

    The message names the table file, the row (1-based, counting the header as row 1, as a
    spreadsheet shows it) and the offending element, and says how to fix it.
    """


def where(file: str, row: int | None = None, column: str | None = None) -> str:
    """'file observables.tsv, row 3, column observableFormula' (the parts that are known)."""
    parts = [f"file {file}"]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column}")
    return ", ".join(parts)
