"""Peak memory of a stretch of code: the one RSS sampler (the app, the CLI and the benchmarks all use it).

On the CPU the kernel keeps only a process's lifetime peak (`ru_maxrss`), which never goes down, so the peak of one
call is measured by a thread that samples the resident set size during it and keeps the largest; a spike shorter
than the sampling interval can be missed.
"""

import threading

import psutil
import torch


RSS_SAMPLE_SECONDS = 0.005


class PeakRSS:
    """Peak resident set size of a process (this one by default), with its children when `children`, sampled every
    `interval` seconds in a thread while the context is open. `peak_bytes` holds the largest sample."""

    def __init__(self, pid: int | None = None, children: bool = False, interval: float = RSS_SAMPLE_SECONDS) -> None:
        self.process = psutil.Process(pid)
        self.children = children
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def rss(self) -> int:
        """The resident set size now, bytes (the children's added when `children`; one that exits is skipped)."""
        processes = [self.process, *(self.process.children(recursive=True) if self.children else [])]
        total = 0
        for p in processes:
            try:
                total += p.memory_info().rss
            except psutil.Error:  # a process that exited between the listing and the reading
                pass
        return total

    def _sample(self) -> None:
        while True:
            self.peak_bytes = max(self.peak_bytes, self.rss())
            if self._stop.wait(self.interval):
                break

    def __enter__(self) -> "PeakRSS":
        self.peak_bytes = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self.rss())


class PeakMemory:
    """Peak memory of one call on `device`, as a context manager: CUDA's peak-allocated counter (reset on entry) on
    a GPU, this process's RSS sampled every 5 ms (`PeakRSS`) on the CPU. `kind` says which."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "CUDA allocated" if device.type == "cuda" else "process RSS"
        self.peak_bytes = 0
        self._rss: PeakRSS | None = None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._rss = PeakRSS().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
        else:
            self._rss.__exit__(*exc)
            self.peak_bytes = self._rss.peak_bytes
