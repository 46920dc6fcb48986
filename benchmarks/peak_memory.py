"""Peak memory of a benchmark run: a sampler (MiB) polled in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class PeakMemory:
    """Context manager keeping the largest value ``sample()`` (MiB) returned while it was open."""

    def __init__(self, sample: Callable[[], float], period: float = 0.2) -> None:
        self.sample, self.period, self.peak, self._stop = sample, period, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            time.sleep(self.period)
