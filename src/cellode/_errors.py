"""Errors cellode raises. Each message names the offending element and says how to fix it."""

from __future__ import annotations


class CellodeError(Exception):
    """Base class of every error cellode raises on purpose."""


class ModelError(CellodeError, ValueError):
    """A model is malformed: wrong shapes, unknown species, bad parameters."""


class InputError(CellodeError, ValueError):
    """An input protocol u(t) or an argument of `simulate` is malformed."""


class PrecisionError(CellodeError, RuntimeError):
    """Float64 work was asked for while JAX runs in float32 (x64 is off)."""


class SolveError(CellodeError, RuntimeError):
    """A differential-equation solve broke down; the message says what happened and what to try."""
