"""How fast a Monte-Carlo sweep runs: one process, local worker processes, and a local Dask cluster
with 1 and with 2 workers (the same code path: chunks of runs advanced together, sim.batch.lockstep).

Run: .venv/bin/python benchmarks/bench_sweep.py [--runs 10000] [--workers N] [--scenario FILE] [--modes
serial,local,dask]
Prints runs per second for each way of running (not a test; needs the ``dask`` extra for the Dask lines).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import busy

from sim.batch.runner import Runner
from sim.batch.sweep import sweep

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
        print(f"sweep of {path.name}: {', '.join(SAMPLES)}; {busy()}")
        if "serial" in modes:
            serial_runs = min(args.runs, 1000)
            rate, errors = timed(path, serial_runs, Runner())
            report("one process", serial_runs, rate, errors)
        if "local" in modes:
            with Runner(workers=args.workers) as runner:
                rate, errors = timed(path, args.runs, runner)
            report(f"local processes (workers={args.workers})", args.runs, rate, errors, target=True)
        if "dask" not in modes:
            return
        try:
            import dask
            from distributed import LocalCluster
        except ImportError:
            print("dask: not installed (pip install 'rbsim[dask]')")
            return
        # Dask's statistical profiler samples each worker's stack every 10 ms: with pure-Python tasks
        # on busy cores it cost ~30 % of the 2-worker rate here (README, Speed). Sweep clusters turn it off.
        dask.config.set({"distributed.worker.profile.enabled": False})
        for workers in sorted({1, args.workers}):
            with LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster:
                with Runner(scheduler=cluster.scheduler_address) as runner:
                    rate, errors = timed(path, args.runs, runner)
            report(f"dask LocalCluster ({workers} worker{'s' if workers > 1 else ''})", args.runs, rate, errors)


def report(what: str, runs: int, rate: float, errors: int, target: bool = False) -> None:
    goal = f"   target >= 170 runs/s ({runs} runs in {runs / rate:.0f} s)" if target else ""
    print(f"{what:<34} {runs:>6} runs {rate:8.1f} runs/s  errors {errors}{goal}", flush=True)


if __name__ == "__main__":
    main()
