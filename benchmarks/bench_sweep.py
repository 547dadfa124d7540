"""How fast a Monte-Carlo sweep runs: one process, local worker processes, and a local Dask cluster.

Run: .venv/bin/python benchmarks/bench_sweep.py [--runs 10000] [--workers N] [--scenario FILE] [--modes serial,local,dask]
Prints runs per second for each way of running (not a test; needs the ``dask`` extra for the Dask line).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sim.batch import Runner
from sim.sweep import sweep

SMALL_NODE = """\
name: bench-small-node
node: {type: cache.t4g.small}
dataset: {keys: 100k, value_size: 1KB}
workload: {writes_per_sec: 5k, reads_per_sec: 5k}
"""
SAMPLES = ["workload.writes_per_sec={range: [1k, 50k]}", "dataset.keys={range: [50k, 200k]}"]


def timed(path: Path, runs: int, runner: Runner) -> tuple[float, int]:
    """(runs per second, runs that raised) for one sweep of ``runs`` draws."""
    start = time.perf_counter()
    table = sweep(path, samples=SAMPLES, runs=runs, seed=1, runner=runner)
    return runs / (time.perf_counter() - start), int(table["error"].notna().sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--scenario", type=Path, help="scenario to sweep (default: a 100k-key cache.t4g.small)")
    parser.add_argument("--modes", default="serial,local,dask", help="which of serial, local, dask to time")
    args = parser.parse_args()
    modes = set(args.modes.split(","))
    with tempfile.TemporaryDirectory() as folder:
        path = args.scenario or Path(folder) / "bench.yaml"
        if args.scenario is None:
            path.write_text(SMALL_NODE)
        print(f"sweep of {path.name}: {', '.join(SAMPLES)}; {os.cpu_count()} CPUs")
        if "serial" in modes:
            serial_runs = min(args.runs, 200)
            rate, errors = timed(path, serial_runs, Runner())
            print(f"{'one process':<32} {serial_runs:>6} runs {rate:8.1f} runs/s  errors {errors}", flush=True)
        if "local" in modes:
            with Runner(workers=args.workers) as runner:
                rate, errors = timed(path, args.runs, runner)
            print(f"{f'local processes (workers={args.workers})':<32} {args.runs:>6} runs {rate:8.1f} runs/s  "
                  f"errors {errors}", flush=True)
        if "dask" not in modes:
            return
        try:
            from distributed import LocalCluster
        except ImportError:
            print("dask: not installed (pip install 'rbsim[dask]')")
            return
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Runner(scheduler=cluster.scheduler_address) as runner:
                rate, errors = timed(path, args.runs, runner)
        print(f"{f'dask LocalCluster ({args.workers} workers)':<32} {args.runs:>6} runs {rate:8.1f} runs/s  errors {errors}")


if __name__ == "__main__":
    main()
