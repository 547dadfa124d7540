"""Is the machine quiet? Timings of a run taken next to other work measure the neighbour, not the run.

A CPU-bound save doubles when other work shares the cores, so the harness waits for idle CPUs before
each run (``--quiet-wait``) and the validation scripts refuse to start on a busy machine.
"""

from __future__ import annotations

import time
from pathlib import Path


def cpu_idle_share(window_s: float = 2.0) -> float:
    """Share of all CPUs' time spent idle over the next ``window_s`` seconds (/proc/stat)."""

    def read() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    idle0, total0 = read()
    time.sleep(window_s)
    idle1, total1 = read()
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_until_idle(max_wait_s: float, idle_share: float = 0.9) -> bool:
    """Wait until other work leaves the CPUs idle, so timings measure the run and not a neighbour."""
    end = time.monotonic() + max_wait_s
    while time.monotonic() < end:
        if cpu_idle_share() >= idle_share:
            return True
    return False
