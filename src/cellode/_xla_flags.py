"""XLA:CPU compiles small while loops into one function: set before JAX starts its backend.

An ODE solve is a while loop over solver steps. By default XLA:CPU runs a loop body as a
sequence of kernels (thunks), each launched separately at about 0.1 µs; for the tens of states
of a cell model a Rosenbrock step is some 70–180 of them, so the launches, not the arithmetic,
are the cost of a solve. XLA's small-while-loop hoisting instead emits a loop whose buffers
total fewer than `xla_cpu_small_while_loop_byte_threshold` bytes as a single compiled function.
Its default threshold is too small for a solver loop's state; cellode raises it to
`SMALL_LOOP_BYTES`. Loops with larger state (big networks, where multithreaded kernels pay) are
unaffected, and a loop containing a custom call (LAPACK) is never hoisted, which is why the small
solves of `cellode._solvers.linear_solve` are written in XLA operations.

XLA reads its flags once, when JAX creates its first backend. So this takes effect when cellode
is imported before the first JAX computation, and not at all if XLA_FLAGS already sets
`xla_backend_extra_options` (the user's own setting wins) or CELLODE_XLA_FLAGS=0. Imported
after the first computation, cellode warns that the setting came too late.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, MutableMapping

SMALL_LOOP_BYTES = 1_000_000
_OPTION = "xla_backend_extra_options"


def backend_started() -> bool:
    """Whether JAX has already created its backends, after which XLA_FLAGS is not read again."""
    try:
        from jax._src import xla_bridge
    except ImportError:
        return False
    return bool(getattr(xla_bridge, "backends_are_initialized", lambda: False)())


def add_small_loop_flag(
    environ: MutableMapping[str, str] = os.environ,
    started: Callable[[], bool] = backend_started,
) -> bool:
    """Append the small-while-loop threshold to XLA_FLAGS; True if it was added.

    Warns (RuntimeWarning) when JAX's backend is already running, since XLA then never sees it.
    """
    flags = environ.get("XLA_FLAGS", "")
    if environ.get("CELLODE_XLA_FLAGS", "1") == "0" or _OPTION in flags:
        return False
    setting = f"--{_OPTION}=xla_cpu_small_while_loop_byte_threshold={SMALL_LOOP_BYTES}"
    environ["XLA_FLAGS"] = f"{flags} {setting}".strip()
    if started():
        warnings.warn(
            "cellode was imported after JAX ran its first computation, so XLA:CPU will not "
            "compile solver loops as one function and solves run several times slower. Import "
            "cellode before any JAX computation, or start Python with "
            f"XLA_FLAGS='{setting}'.",
            RuntimeWarning,
            stacklevel=2,
        )
    return True


add_small_loop_flag()
