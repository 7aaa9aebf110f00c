"""Test set-up: float64 on (as the CLI does), a persistent compilation cache, shared data location."""

from __future__ import annotations

import os
from pathlib import Path

# equinox's runtime checks (diffrax, lineax) are host callbacks by default, and JAX never writes
# a function with host callbacks to the persistent compilation cache: with "nan" they are not
# callbacks, so compiled objectives are shared between test processes. Before equinox loads.
os.environ.setdefault("EQX_ON_ERROR", "nan")

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
_CACHE = Path(__file__).resolve().parent.parent / ".jax_cache"
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_addoption(parser: pytest.Parser) -> None:
    default = os.environ.get(
        "CELLODE_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    parser.addoption(
        "--shared-data",
        default=default,
        help="Folder with the external test data (PEtab, SBML test suite, single-cell data).",
    )


@pytest.fixture(scope="session")
def shared_data(request: pytest.FixtureRequest) -> Path:
    """The external data folder; tests that need it skip with the reason when it is absent."""
    path = Path(request.config.getoption("--shared-data"))
    if not path.is_dir():
        pytest.skip(
            f"shared data folder {path} is absent (set CELLODE_SHARED_DATA or --shared-data)"
        )
    return path
