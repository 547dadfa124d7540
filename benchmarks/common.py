"""Shared helpers of the benchmark scripts: best-of-N timing and how busy the machine is."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RBSIM = str(Path(sys.executable).with_name("rbsim"))


def busy() -> str:
    """Load averages and CPU count: other processes share the cores, so figures vary with them."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def best_wall(argv: list[str], repeats: int) -> tuple[float, float]:
    """(best, median) wall seconds of running ``argv`` ``repeats`` times (output discarded).

    Timed as an installed rbsim starts: from compiled bytecode (one untimed run writes it), even where
    PYTHONDONTWRITEBYTECODE is set (it is on the development VM, where every start compiled all modules)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT, env=env)
    subprocess.run(argv, **run)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, **run)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[0], times[len(times) // 2]


def line(what: str, figure: str, target: str) -> None:
    print(f"{what:<58} {figure:>22}   target {target}", flush=True)
