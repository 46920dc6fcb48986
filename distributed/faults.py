"""Worker crashes in the Ray Data jobs: bounded retries, a last pass for rows a crash took with it, and
the test-only switch that makes a worker die on a chosen row.

Ray Data restarts a dead actor and retries its task without limit by default, so an input that crashes
its worker every time (a "poison row") would loop forever. The jobs instead bound the task retries, let
Ray drop a block whose retries ran out (``max_errored_blocks=-1``), run the rows that were lost that way
once more one row per block (a crash may have taken innocent rows of its block along), and record the
rows lost again as error rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import ray

CRASH_HOW = ("exit", "kill")


def actor_stage(min_size: int, max_size: int, max_retries: int, last_pass: bool = False) -> dict:
    """``map_batches`` arguments of an actor stage: a dead actor is always restarted (a pool never shrinks
    for good) and its task retried ``max_retries`` times; in the last pass an actor runs one task at a
    time, so a poison row takes no other row down with it.
    """
    strategy = ray.data.ActorPoolStrategy(min_size=min_size, max_size=max_size,
                                          max_tasks_in_flight_per_actor=1 if last_pass else None)  # fmt: skip
    return {"compute": strategy, "max_restarts": -1, "max_task_retries": max_retries}


def tolerate_lost_blocks(ds: ray.data.Dataset) -> ray.data.Dataset:
    """``ds`` executing past blocks whose retries ran out (the caller accounts for their rows)."""
    ds.context.max_errored_blocks = -1
    return ds


def lost_reason(uri: str, max_retries: int) -> str:
    """The error-row reason of a row whose worker died on every attempt."""
    attempts = 2 * (max_retries + 1)
    return (
        f"{uri}: the worker process died on each of {attempts} attempts at this input (a crash in native "
        "code, out of memory, or lost nodes); it was left out so the rest could finish"
    )


@dataclass(frozen=True)
class CrashSwitch:
    """Test-only: the worker that processes row ``row_id`` dies (``exit``: ``os._exit(1)``; ``kill``:
    ``ray.kill`` of its own actor) on its first ``times`` attempts, or on every attempt when ``times`` is
    -1 (a poison row). Attempts are counted by marker files in ``marker_dir``, which outlive the process.

    Spec string: ``HOW:ROW_ID:TIMES:MARKER_DIR``; the jobs' ``crash_on`` option holds one or several,
    comma-separated.
    """

    how: str
    row_id: str
    times: int
    marker_dir: str

    @classmethod
    def parse(cls, spec: str) -> CrashSwitch:
        """The switch of ``spec``; ValueError naming the spec when it is malformed."""
        how, row_id, times, marker_dir = [*spec.split(":", 3), "", "", ""][:4]
        if how not in CRASH_HOW or not row_id or not marker_dir or not times.lstrip("-").isdigit():
            raise ValueError(f"crash_on {spec!r}: expected HOW:ROW_ID:TIMES:MARKER_DIR, HOW in {CRASH_HOW}")
        return cls(how, row_id, int(times), marker_dir)

    def attempts(self) -> int:
        """How many times the switch fired so far."""
        return len(list(Path(self.marker_dir).glob(f"{self.row_id}.*")))

    def maybe_crash(self, row_id: str) -> None:
        """Die here if ``row_id`` is the switch's row and it has attempts left."""
        if row_id != self.row_id:
            return
        fired = self.attempts()
        if 0 <= self.times <= fired:
            return
        Path(self.marker_dir).mkdir(parents=True, exist_ok=True)
        Path(self.marker_dir, f"{row_id}.{fired}.{os.getpid()}").touch()
        if self.how == "exit":
            os._exit(1)
        ray.kill(ray.get_runtime_context().current_actor, no_restart=False)


def crash_switches(specs: str | None) -> tuple[CrashSwitch, ...]:
    """The switches of the comma-separated ``specs`` (none for None)."""
    return tuple(CrashSwitch.parse(spec) for spec in (specs or "").split(",") if spec)


def crash_if_switched(switches: tuple[CrashSwitch, ...], row_id: str) -> None:
    """Test-only: die here when one of ``switches`` is set for ``row_id``."""
    for switch in switches:
        switch.maybe_crash(row_id)
