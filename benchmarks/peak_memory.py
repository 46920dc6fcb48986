"""Memory of a benchmark run: the summed PSS of a process tree, and samplers polled in a background thread."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(pid)] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return found


def tree_pss_mib(root: int | None = None) -> float:
    """Summed PSS (MiB) of ``root`` (default: this process) and all its descendants (a local Ray's
    processes included): shared pages are split between the processes, so nothing counts twice."""
    total = 0
    for pid in _descendants(root or os.getpid()):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


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


class Timeline(PeakMemory):
    """A :class:`PeakMemory` that also keeps every ``(progress(), sample())`` pair, to show how memory
    follows the work done."""

    def __init__(self, sample: Callable[[], float], progress: Callable[[], int], period: float = 0.5) -> None:
        super().__init__(sample, period)
        self.progress, self.points = progress, []

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self.sample()
            self.peak = max(self.peak, value)
            self.points.append((self.progress(), value))
            time.sleep(self.period)

    def peak_between(self, low: int, high: int) -> float:
        """Largest sample taken while progress was in ``[low, high)`` (0 when none was)."""
        return max((v for done, v in self.points if low <= done < high), default=0.0)
