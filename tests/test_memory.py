"""The one RSS sampler (mimir/memory.py): it sees a short-lived allocation that the process's RSS no longer shows at
the end, counts children when asked (benchmarks/vote_load.py measures the app and its workers), and `PeakMemory`
says what it measured."""

import subprocess
import sys
import time

import numpy as np
import torch

from mimir.memory import PeakMemory, PeakRSS


MiB = 2**20


def test_peak_rss_sees_an_allocation_that_is_gone_by_the_end():
    before = PeakRSS().rss()
    with PeakRSS() as peak:
        block = np.ones(64 * MiB, dtype=np.uint8)  # 64 MiB, touched
        time.sleep(0.05)  # ten sampling intervals
        del block
    assert peak.peak_bytes >= before + 48 * MiB
    assert PeakRSS().rss() < peak.peak_bytes  # ...which the process no longer holds


def test_children_count_only_when_asked():
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; b = bytearray(96 * 2**20); print(flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
    )
    try:
        child.stdout.readline()  # the child holds its 96 MiB from here on
        alone, family = PeakRSS().rss(), PeakRSS(children=True).rss()
        assert family >= alone + 80 * MiB
        with PeakRSS(children=True, interval=0.01) as peak:
            time.sleep(0.03)
        assert peak.peak_bytes >= alone + 80 * MiB
    finally:
        child.kill()
        child.wait()


def test_peak_memory_on_the_cpu_is_the_process_rss():
    with PeakMemory(torch.device("cpu")) as memory:
        torch.ones(8 * MiB // 4)  # 8 MiB of float32
    assert memory.kind == "process RSS" and memory.peak_bytes > 8 * MiB
