"""The harness's two backends side by side: server start and teardown, then the same scenario's records.

Needs root, redis-server, podman and runc. Starts (to the first PONG) and stops a redis-server N times in a
memory cgroup of ours and in a podman container, alternating, then runs one scenario (100k x 1 KB random
values, 5k writes/s, a BGSAVE under 256 MiB) R times on each backend and prints fork time, copy-on-write,
container peak and save time, median (min-max).

Run: .venv/bin/python benchmarks/harness_backends.py [--starts 7] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import busy

from sim.harness.cgroup import MemoryCgroup
from sim.harness.podman import PodmanServer, rootfs_for
from sim.harness.run import execute, plan_run
from sim.harness.server import RedisServer
from sim.scenario import load_scenario

MiB = 1 << 20
SCENARIO = """\
name: backends
platform: lab
node: {memory: 256MiB}
dataset: {keys: 100k, value_size: 1KB, key_size: 10B, value_pattern: random}
workload: {writes_per_sec: 5k, key_distribution: uniform}
"""


def start_stop(backend: str) -> tuple[float, float]:
    """Seconds to start a server to its first PONG, and to stop and remove it."""
    t0 = time.perf_counter()
    if backend == "podman":
        server: RedisServer = PodmanServer(limit_bytes=256 * MiB).start()
        cg = None
    else:
        cg = MemoryCgroup(256 * MiB).create()
        server = RedisServer(cg).start()
    t1 = time.perf_counter()
    server.close()
    if cg is not None:
        cg.close()
    return t1 - t0, time.perf_counter() - t1


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rootfs_for()  # built once, outside the timings
    print(f"harness backends; {busy()}")
    times: dict[str, list[tuple[float, float]]] = {"cgroup": [], "podman": []}
    for _ in range(args.starts):
        for backend in times:
            times[backend].append(start_stop(backend))
    for backend, pairs in times.items():
        start = spread([a for a, _ in pairs], ".3f")
        stop = spread([b for _, b in pairs], ".3f")
        print(f"{backend:<7} start to PONG {start} s   stop and remove {stop} s")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "backends.yaml"
        path.write_text(SCENARIO)
        plan = plan_run(load_scenario(path), str(path), SCENARIO)
        records: dict[str, list[dict]] = {"cgroup": [], "podman": []}
        for _ in range(args.runs):
            for backend in records:
                records[backend].append(execute(plan, steady_s=1.5, backend=backend)["measured"])
    for backend, ms in records.items():
        print(
            f"{backend:<7} outcomes {','.join(sorted({m['outcome'] for m in ms}))}  "
            f"fork {spread([m['fork_usec'] / 1000 for m in ms], '.1f')} ms  "
            f"COW {spread([m['rdb_last_cow_size'] / MiB for m in ms], '.1f')} MiB  "
            f"peak {spread([m['peak_container_bytes'] / MiB for m in ms], '.0f')} MiB  "
            f"anon peak {spread([m['peak_anon_bytes'] / MiB for m in ms], '.0f')} MiB  "
            f"save {spread([m['save_duration_s'] for m in ms], '.2f')} s"
        )


if __name__ == "__main__":
    main()
