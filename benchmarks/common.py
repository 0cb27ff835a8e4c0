"""What every benchmark script shares: timing a call several times."""

from __future__ import annotations

import statistics
import time


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(median, best) seconds over `repeat` calls, and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result
