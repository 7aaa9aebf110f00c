"""Small timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import time
from collections.abc import Callable

import jax


def block(x):
    """Wait for every JAX array in `x` to be computed."""
    return jax.block_until_ready(x)


def first_call_seconds(fn: Callable[[], object]) -> float:
    """Wall time of the first call (compilation plus one run)."""
    start = time.perf_counter()
    block(fn())
    return time.perf_counter() - start


def median_seconds(fn: Callable[[], object], repeats: int = 20, min_time: float = 0.2) -> float:
    """Median wall time of one call, over `repeats` timed batches of calls."""
    block(fn())
    n = 1
    while True:  # calls per batch so that a batch lasts at least min_time / repeats
        start = time.perf_counter()
        for _ in range(n):
            block(fn())
        if time.perf_counter() - start >= min_time / repeats or n >= 1 << 16:
            break
        n *= 2
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            block(fn())
        samples.append((time.perf_counter() - start) / n)
    samples.sort()
    return samples[len(samples) // 2]
