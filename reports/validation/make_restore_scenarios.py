"""Write the restore validation scenarios (reports/validation/restore-scenarios/*.yaml) from one table.

Run ``.venv/bin/python reports/validation/make_restore_scenarios.py`` (the installed ``sim``; no PYTHONPATH); then
``reports/validation/run_restores.sh``
(``rbsim harness`` over the folder, sequential, at nice 0). Each file describes the backed-up dataset (the
source node, filled and saved by the harness) and a ``restore:`` block: the target's memory limit, its reserve,
replicas to sync and the writes that return meanwhile. Key counts put the simulator's used_memory at the target.
"""

from __future__ import annotations

from pathlib import Path

from make_scenarios import keys_for  # this script's folder is on sys.path when it runs

OUT = Path(__file__).resolve().parent / "restore-scenarios"

# name, what it covers, used_memory MiB, value B, pattern, rdbcompression, target MiB, reserved %, replicas, writes/s
ROWS = [
    (
        "r01-100b-rand-256m",
        "0.25 GiB of random 100 B values, compressed RDB (LZF cannot shrink them)",
        256,
        100,
        "random",
        True,
        512,
        25,
        0,
        0,
    ),
    (
        "r02-1k-rep-512m",
        "0.5 GiB of repetitive 1 KB values, compressed: LZF on load",
        512,
        1000,
        "repetitive",
        True,
        1024,
        25,
        0,
        0,
    ),
    (
        "r03-1k-rep-512m-nocomp",
        "the same with rdbcompression no: a 0.5 GiB RDB read raw",
        512,
        1000,
        "repetitive",
        False,
        1024,
        25,
        0,
        0,
    ),
    (
        "r04-1k-rand-1g",
        "1 GiB random 1 KB, compressed (stored raw: incompressible)",
        1024,
        1000,
        "random",
        True,
        2048,
        25,
        0,
        0,
    ),
    ("r05-4k-rand-1g-nocomp", "1 GiB random 4 KB, rdbcompression no", 1024, 4096, "random", False, 2048, 25, 0, 0),
    (
        "r06-10k-rep-2g",
        "2 GiB repetitive 10 KB, compressed: few keys, much LZF",
        2048,
        10000,
        "repetitive",
        True,
        3072,
        25,
        0,
        0,
    ),
    (
        "r07-32b-rand-1g",
        "1 GiB of random 32 B values (embstr): many keys, per-key cost dominates",
        1024,
        32,
        "random",
        True,
        2048,
        25,
        0,
        0,
    ),
    ("r08-1k-rep-4g", "4 GiB repetitive 1 KB, compressed", 4096, 1000, "repetitive", True, 6144, 25, 0, 0),
    (
        "r09-4k-rep-6g-nocomp",
        "6 GiB repetitive 4 KB, rdbcompression no: a 6 GiB RDB",
        6144,
        4096,
        "repetitive",
        False,
        8704,
        25,
        0,
        0,
    ),
    ("r10-100b-rand-2g-nocomp", "2 GiB random 100 B, rdbcompression no", 2048, 100, "random", False, 3072, 25, 0, 0),
    (
        "r11-1k-rand-1g-oom",
        "too small: 1 GiB random 1 KB onto a 768 MiB node: killed while loading",
        1024,
        1000,
        "random",
        True,
        768,
        25,
        0,
        0,
    ),
    (
        "r12-1k-rep-1g-overmax",
        "too small: 1 GiB onto 1.25 GiB with 25% reserved: loads, but above maxmemory",
        1024,
        1000,
        "repetitive",
        True,
        1280,
        25,
        0,
        0,
    ),
    (
        "r13-1k-rand-1g-replica",
        "1 GiB random 1 KB restored, then one replica syncs under 5k writes/s",
        1024,
        1000,
        "random",
        True,
        2048,
        25,
        1,
        5000,
    ),
    (
        "r14-4k-rep-2g-replica",
        "2 GiB repetitive 4 KB restored, one replica syncs under 10k writes/s",
        2048,
        4096,
        "repetitive",
        True,
        3072,
        25,
        1,
        10000,
    ),
    ("r15-10k-rand-6g", "6 GiB random 10 KB, compressed (stored raw)", 6144, 10000, "random", True, 8704, 25, 0, 0),
    (
        "r16-100b-rep-512m-oom",
        "too small: 0.5 GiB of 100 B values onto 400 MiB: killed while loading",
        512,
        100,
        "repetitive",
        True,
        400,
        25,
        0,
        0,
    ),
    (
        "r17-16b-rep-512m",
        "0.5 GiB of 16 B values (below LZF's 20-byte floor): the per-key cost alone",
        512,
        16,
        "repetitive",
        True,
        1024,
        25,
        0,
        0,
    ),
    (
        "r18-300b-rand-1g-nocomp",
        "1 GiB random 300 B values, rdbcompression no",
        1024,
        300,
        "random",
        False,
        2048,
        25,
        0,
        0,
    ),
    (
        "r19-2k-rep-3g-nocomp",
        "3 GiB repetitive 2 KB values, rdbcompression no",
        3072,
        2000,
        "repetitive",
        False,
        4608,
        25,
        0,
        0,
    ),
    (
        "r20-1k-rep-512m-oom-edge",
        "too small by a little: 0.5 GiB onto 500 MiB with no reserve: killed near the end",
        512,
        1000,
        "repetitive",
        True,
        500,
        0,
        0,
        0,
    ),
    (
        "r21-100b-rep-1g-replica",
        "1 GiB of 100 B values restored, one replica syncs under 20k writes/s",
        1024,
        100,
        "repetitive",
        True,
        2048,
        25,
        1,
        20000,
    ),
]


def render(row) -> str:
    name, what, used, vs, pattern, comp, target, reserved, replicas, writes = row
    keys, ks = keys_for(used, vs, "jemalloc")
    restore = f"memory: {target}MiB, reserved_memory_percent: {reserved}"
    if replicas:
        restore += f", replicas: {replicas}, writes_per_sec: {writes}"
    return (
        "\n".join(
            [
                f"# {what}",
                f"name: {name}",
                "platform: lab",
                f"node: {{memory: {int(used * 1.6)}MiB}}",
                f"dataset: {{keys: {keys // 1000}k, value_size: {vs}B, key_size: {ks}B, value_pattern: {pattern}}}",
                "workload: {writes_per_sec: 0, key_distribution: uniform}",
                f"backup: {{method: fork, compression: {'true' if comp else 'false'}}}",
                f"restore: {{{restore}}}",
            ]
        )
        + "\n"
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for row in ROWS:
        (OUT / f"{row[0]}.yaml").write_text(render(row))
    print(f"wrote {len(ROWS)} scenarios to {OUT}")


if __name__ == "__main__":
    main()
