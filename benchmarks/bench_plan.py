"""How long the planner takes over every node type in the catalog x 5 reserved-memory settings x 24
backup windows, with its Monte-Carlo (100 runs), for the example orders cache (best of N).

Run: .venv/bin/python benchmarks/bench_plan.py [--repeats 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml
from common import ROOT, busy, line

from sim.batch.runner import Runner
from sim.elasticache.catalog import load_catalog
from sim.planner import plan


def plan_file(folder: Path) -> Path:
    """The example plan with every node type, 5 reserved settings and the default 24 windows."""
    data = yaml.safe_load((ROOT / "scenarios" / "plan-orders-cache.yaml").read_text())
    data["plan"]["node_types"] = list(load_catalog())
    data["plan"]["reserved_memory_percent"] = [10, 25, 35, 50, 60]
    data["plan"].pop("windows", None)
    path = folder / "plan-every-node-type.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (1: in this process)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = plan_file(Path(folder))
        times, result = [], None
        for _ in range(args.repeats):
            with Runner(workers=args.workers) as runner:
                start = time.perf_counter()
                result = plan(path, runner)
                times.append(time.perf_counter() - start)
        p = result.planner
        print(f"planner, best of {args.repeats}, workers={args.workers}; {busy()}")
        line(
            f"plan: {len(result.spec.node_types)} node types x 5 reserved x {len(p.windows)} windows + MC",
            f"{min(times):.2f} s ({sorted(times)[len(times) // 2]:.2f})",
            "<= 3 s",
        )
        rec = result.recommendation
        print(
            f"  ({len(p._cache)} distinct runs simulated; recommends "
            f"{rec.config.node_type if rec else 'nothing'}; {len(result.found.skipped)} skipped)"
        )


if __name__ == "__main__":
    main()
