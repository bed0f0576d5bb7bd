"""Wall-clock timing of a repeated call, shared by the speed benchmarks (benchmarks/speed.py, speed_v2.py)."""

import os
import statistics
import time
from collections.abc import Callable
from typing import Any


def measure(fn: Callable[[int], Any], warmup: int, repeats: int, setup: Callable[[int], Any] | None = None) -> dict:
    """Time `fn(i)` `repeats` times after `warmup` untimed calls; `setup(i)` runs untimed before each call. Seconds
    as min / median / max and every run, with the load averages around it (other work on a 2-core machine slows
    the figures)."""
    load_before = os.getloadavg()
    seconds = []
    for i in range(warmup + repeats):
        if setup is not None:
            setup(i)
        start = time.perf_counter()
        fn(i)
        if i >= warmup:
            seconds.append(time.perf_counter() - start)
    return {
        "min": min(seconds),
        "median": statistics.median(seconds),
        "max": max(seconds),
        "runs": [round(s, 4) for s in seconds],
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
