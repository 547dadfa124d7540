"""How long rbsim takes to simulate standard scenarios on the SimPy engine, timeline included
(prints a table; not a test).

Run: make bench   (or .venv/bin/python benchmarks/bench_simulate.py)
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from common import busy

from sim.run import run
from sim.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parent.parent

HOUR_AT_100K = """
name: 1h-at-100k-writes-26GiB
node: {type: cache.r6g.xlarge, swap: 16GiB}
platform: nitro
dataset: {keys: 14M, value_size: 1KB}
workload: {writes_per_sec: 100k, reads_per_sec: 100k, key_distribution: {zipf: 0.99}}
backup: {method: fork, rdb_key_save_delay_us: 200}
simulation: {before: 60s, after: 60s}
"""


def time_one(scenario, repeats: int = 5) -> tuple[float, float, int, float, str]:
    """(median seconds, worst seconds, timeline rows, simulated seconds, outcome)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run(scenario)
        times.append(time.perf_counter() - start)
    simulated = float(result.timeline["time_s"].iloc[-1])
    return statistics.median(times), max(times), len(result.timeline), simulated, result["outcome"]


def main() -> None:
    cases = [(p.stem, load_scenario(p)) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    cases.append(("1h-at-100k-writes-26GiB", parse_scenario(HOUR_AT_100K)))
    print(f"one engine run with its timeline, median and worst of 5; {busy()}")
    print(f"{'scenario':<28} {'outcome':<8} {'simulated':>10} {'rows':>6} {'median':>9} {'worst':>9}")
    for name, scenario in cases:
        median, worst, rows, simulated, outcome = time_one(scenario)
        print(f"{name:<28} {outcome:<8} {simulated:>9.0f}s {rows:>6} {median * 1000:>7.1f}ms {worst * 1000:>7.1f}ms")


if __name__ == "__main__":
    main()
