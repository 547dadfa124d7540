"""How fast the command starts: `rbsim --help`, `rbsim run` of one scenario, and one `rbsim run --json`
of 20 scenarios of a 24M-key node at 100k writes/s whose saves take about 12 minutes (best of N wall).

Run: .venv/bin/python benchmarks/bench_cli.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from common import RBSIM, ROOT, best_wall, busy, line

BIG_NODE = """\
name: {name}
node: {{type: cache.r6g.2xlarge, swap: 8GiB}}
platform: nitro
dataset: {{keys: 24M, value_size: {value}B}}
workload: {{writes_per_sec: 100k, reads_per_sec: 50k, key_distribution: {dist}}}
backup: {{method: fork, rdb_key_save_delay_us: -3}}
"""


def big_node_files(folder: Path) -> list[str]:
    """20 variants: value sizes 700-985 B, half uniform and half Zipf (s 0.8-1.25)."""
    paths = []
    for k in range(20):
        dist = "uniform" if k % 2 == 0 else f"{{zipf: {0.8 + 0.05 * (k // 2):.2f}}}"
        path = folder / f"big-{k:02d}.yaml"
        path.write_text(BIG_NODE.format(name=f"big-{k:02d}", value=700 + 15 * k, dist=dist))
        paths.append(str(path))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"CLI start, best of {args.repeats} (median in brackets); {busy()}")
    best, median = best_wall([RBSIM, "--help"], args.repeats)
    line("rbsim --help", f"{best:.3f} s ({median:.3f})", "<= 0.2 s")
    best, median = best_wall([RBSIM, "run", "scenarios/comfortable.yaml"], args.repeats)
    line("rbsim run scenarios/comfortable.yaml", f"{best:.3f} s ({median:.3f})", "<= 0.3 s")
    with tempfile.TemporaryDirectory() as folder:
        files = big_node_files(Path(folder))
        out = json.loads(
            subprocess.run(
                [RBSIM, "run", "--json", *files], capture_output=True, text=True, check=True, cwd=ROOT
            ).stdout
        )
        saves = [r["save_duration_s"] / 60 for r in out if r["save_duration_s"]]
        outcomes = sorted({r["outcome"] for r in out})
        best, median = best_wall([RBSIM, "run", "--json", *files], max(3, args.repeats // 2))
        line(
            f"rbsim run --json: 20 x 24M keys, 100k w/s, saves {min(saves):.0f}-{max(saves):.0f} min",
            f"{best:.3f} s ({median:.3f})",
            "<= 2 s",
        )
        print(f"  ({len(saves)} of 20 saves complete; outcomes {', '.join(outcomes)})")


if __name__ == "__main__":
    main()
