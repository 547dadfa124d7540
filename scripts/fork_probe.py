"""Fork time of a bare redis-server on this machine: DEBUG POPULATE ~0.27, 0.53 and 1.04 GiB of 1000-byte
values, 5 BGSAVEs each, the median ``latest_fork_usec`` beside what the shipped ``lab`` profile predicts.
No cgroup, no load: how fast this machine forks, to set against the harness records' sessions.

    .venv/bin/python scripts/fork_probe.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realserver import redis_server

from sim.platform import load_platform
from sim.units import GIB

BYTES_PER_KEY = 1130
"""used_memory_rss per 1000-byte DEBUG POPULATE key (value, key, robj, dictEntry, buckets)."""


def main() -> None:
    fork = load_platform("lab").fork
    for gib in (0.27, 0.53, 1.04):
        with redis_server("--enable-debug-command", "yes") as client:
            client.execute_command("DEBUG", "POPULATE", int(gib * GIB / BYTES_PER_KEY), "k", 1000)
            rss = int(client.info("memory")["used_memory_rss"]) / GIB
            forks = []
            for _ in range(5):
                client.bgsave()
                while client.info("persistence")["rdb_bgsave_in_progress"]:
                    time.sleep(0.05)
                forks.append(int(client.info("stats")["latest_fork_usec"]) / 1000)
                time.sleep(0.3)
            model = fork.base_ms + fork.ms_per_gib * rss
            print(f"RSS {rss:.2f} GiB: fork median {statistics.median(forks):.1f} ms of {forks}; lab {model:.1f} ms")


if __name__ == "__main__":
    main()
