"""Write the typed validation scenarios (reports/validation/typed-scenarios/*.yaml) from one table.

Run ``.venv/bin/python reports/validation/make_typed_scenarios.py``; then ``reports/validation/run_typed.sh``
(see reports/validation/README.md). Each scenario is real-cache shaped: hashes (listpack and hashtable),
sorted sets, list queues, counters, sets, TTLs, eviction at maxmemory, clustered against scattered hot keys,
values on both sides of a jemalloc size class, a mixed cache. Key counts put used_memory at 100-400 MiB: they
come from the harness's own fill of each shape at 1/10 scale on redis 7.0.15 (jemalloc 5.2), in ``PROBE``
below. ``backup.rdb_key_save_delay_us`` stretches each save to ~6-11 s on a quiet machine: it sleeps ~58 us
real per sleeping key (usleep(1) with the kernel's 50 us timer slack; 1 in N keys for -N), over the save's
own time. ``key_size`` is the mean length of the harness's key names ``<group>:<i>``.

Split: each file's ``description`` starts ``[held-out]`` or ``[training]``: the split
:func:`sim.validation.calibrate.split_by_scenario` makes of the records (a hash of the scenario name, 60 % of each
outcome fitted on), taken here with the outcomes the scenarios are built for (OOM for the two tight ones, ok
for the rest), so the files and rbsim's own split of their records agree. Every type has a held-out run.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from sim.harness.resp import mean_key_name_bytes

OUT = Path(__file__).resolve().parent / "typed-scenarios"
SLEEP_US = 58.0
"""Real time of one ``usleep(1)`` in the save child on the lab machine (timer slack), per sleeping key."""
TARGET_SAVE_S = 10.0
"""The save time aimed at, against the probe's save times: the probe ran on a busy machine (load ~5 on 2
cores), where saves take ~1.5-2x as long as on a quiet one, so quiet runs save in ~6-11 s."""


def G(name, type_, keys, elements=1, size="64B", **more):
    """One key group row (``keys`` in thousands)."""
    return {"name": name, "type": type_, "keys": keys, "elements": elements, "element_size": size, **more}


# id, what, groups, writes/s, key distribution, mix [(group, command, %)] or None, engine params,
#   save delay (None: from the key count), limit (x<f> of used_memory, or MiB; or (that, reserved %)), compression
ROWS = [
    (
        "t01-hash-listpack-zipf",
        "session hashes of 20 x 64 B fields (listpack), HSET Zipf 0.99 at 10k/s",
        [G("sessions", "hash", 150, 20, "64B")],
        10_000,
        {"zipf": 0.99},
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t02-hash-hashtable-uniform",
        "hashes of 600 x 64 B fields (past 7.0's default 512: hashtable), HSET uniform at 10k/s",
        [G("profiles", "hash", 3, 600, "64B")],
        10_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t03-hash-value60-listpack",
        "20 fields of 60 B: under hash-max-listpack-value 64, listpack; HSET 10k/s",
        [G("carts", "hash", 150, 20, "60B")],
        10_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t04-hash-value70-hashtable",
        "20 fields of 70 B: past hash-max-listpack-value 64, hashtable; HSET 10k/s",
        [G("carts", "hash", 100, 20, "70B")],
        10_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t05-hash-hincrby-counters",
        "integer hashes of 30 fields, HINCRBY Zipf 0.9 at 20k/s",
        [G("stats", "hash", 300, 30, "8B", values="integers")],
        20_000,
        {"zipf": 0.9},
        [("stats", "HINCRBY", 100)],
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t06-zset-listpack-leaderboard",
        "leaderboards of 100 x 20 B members (listpack), ZINCRBY Zipf 0.99 at 10k/s",
        [G("boards", "zset", 100, 100, "20B")],
        10_000,
        {"zipf": 0.99},
        [("boards", "ZINCRBY", 100)],
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t07-zset-skiplist-uniform",
        "sorted sets of 1000 x 20 B members (skiplist), ZADD uniform at 10k/s",
        [G("ranks", "zset", 3, 1000, "20B")],
        10_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t08-zset-param-listpack",
        "300-member zsets kept listpack by zset-max-listpack-entries 512, ZADD 10k/s",
        [G("ranks", "zset", 25, 300, "20B")],
        10_000,
        "uniform",
        None,
        {"zset-max-listpack-entries": 512},
        None,
        "x2.2",
        True,
    ),
    (
        "t09-list-queue",
        "work queues of 200 x 100 B items, LPUSH + RPOP at 20k/s",
        [G("jobs", "list", 12, 200, "100B")],
        20_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t10-list-queue-1k-items",
        "queues of 50 x 1 KB items, LPUSH + RPOP at 10k/s, hot set 10%/90%",
        [G("mail", "list", 5, 50, "1000B")],
        10_000,
        {"hot_set": {"keys": "10%", "writes": "90%"}},
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t11-counters-incr",
        "3.5M integer counters, INCR Zipf 0.99 at 30k/s",
        [G("hits", "string", 3500, 1, "8B", values="integers")],
        30_000,
        {"zipf": 0.99},
        [("hits", "INCR", 100)],
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t12-set-intset",
        "sets of 200 integer ids (intset), SADD + SREM at 10k/s",
        [G("follows", "set", 250, 200, "8B", values="integers")],
        10_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t13-set-hashtable",
        "sets of 100 x 16 B strings (hashtable on 7.0), SADD + SREM at 10k/s",
        [G("tags", "set", 30, 100, "16B")],
        10_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t14-ttl-heavy-strings",
        "500 B values, 80% with a TTL of mean 5 min (expiring ~1k/s) + NEW replacing them",
        [G("cache", "string", 450, 1, "500B", ttl={"share": "80%", "mean": "5min"})],
        10_000,
        "uniform",
        [("cache", "SET", 80), ("cache", "NEW", 20)],
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t15-ttl-hash-expire",
        "session hashes, 50% with TTL mean 10 min, HSET + EXPIRE refresh",
        [G("sessions", "hash", 150, 20, "64B", ttl={"share": "50%", "mean": "10min"})],
        10_000,
        {"zipf": 0.8},
        [("sessions", "HSET", 70), ("sessions", "EXPIRE", 30)],
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t16-evict-allkeys-lru",
        "1 KB values filled to 95% of maxmemory, NEW at 5k/s: allkeys-lru evicts in the save",
        [G("cache", "string", 372, 1, "1000B")],
        10_000,
        "uniform",
        [("cache", "SET", 50), ("cache", "NEW", 50)],
        {"maxmemory-policy": "allkeys-lru"},
        None,
        (1024, 60),
        True,
    ),
    (
        "t17-evict-noeviction",
        "as t16 with noeviction: past maxmemory the writes are refused (-OOM)",
        [G("cache", "string", 372, 1, "1000B")],
        10_000,
        "uniform",
        [("cache", "SET", 50), ("cache", "NEW", 50)],
        {"maxmemory-policy": "noeviction"},
        None,
        (1024, 60),
        True,
    ),
    (
        "t18-strings-clustered-hot",
        "1 KB values, Zipf 0.99 with the hot keys inserted together (clustered), 20k/s",
        [G("feed", "string", 280, 1, "1000B", locality="clustered")],
        20_000,
        {"zipf": 0.99},
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t19-strings-scattered-hot",
        "as t18 with the hot keys scattered over memory",
        [G("feed", "string", 280, 1, "1000B", locality="scattered")],
        20_000,
        {"zipf": 0.99},
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t20-hash-clustered-hot5",
        "session hashes, hot set 5%/95% clustered (recent sessions), HSET 10k/s",
        [G("sessions", "hash", 150, 20, "64B", locality="clustered")],
        10_000,
        {"hot_set": {"keys": "5%", "writes": "95%"}},
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t21-sizeclass-1010b",
        "1010 B values: the value's allocation is 1014 B, jemalloc class 1024",
        [G("blobs", "string", 280, 1, "1010B")],
        10_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t22-sizeclass-1030b",
        "1030 B values (2 % more): allocation 1034 B, jemalloc class 1280",
        [G("blobs", "string", 280, 1, "1030B")],
        10_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t23-embstr-44b",
        "44 B values: embstr (object and value in one 64 B allocation)",
        [G("tokens", "string", 2500, 1, "44B")],
        20_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t24-raw-45b",
        "45 B values: raw (a 16 B object plus a 56 B value allocation)",
        [G("tokens", "string", 2500, 1, "45B")],
        20_000,
        "uniform",
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t25-hash-lognormal-fields",
        "hashes of lognormal(20, 0.9) fields with hash-max-listpack-entries 64: ~10% hashtable; HSET 10k/s",
        [G("docs", "hash", 120, {"lognormal": {"median": 20, "sigma": 0.9}}, "40B")],
        10_000,
        {"zipf": 0.9},
        None,
        {"hash-max-listpack-entries": 64},
        None,
        "x2.2",
        True,
    ),
    (
        "t26-strings-histogram-sizes",
        "strings half 100 B, half 2 KB (a size histogram), SET Zipf 0.8 at 10k/s",
        [
            G(
                "pages",
                "string",
                280,
                1,
                {"histogram": [{"size": "100B", "share": "50%"}, {"size": "2KB", "share": "50%"}]},
            )
        ],
        10_000,
        {"zipf": 0.8},
        None,
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t27-mixed-cache",
        "sessions hashes + counters + leaderboard zset + queue, one mix at 20k/s",
        [
            G("sessions", "hash", 80, 20, "64B", ttl={"share": "30%", "mean": "30min"}),
            G("counters", "string", 800, 1, "8B", values="integers"),
            G("board", "zset", 0.5, 1000, "20B"),
            G("queue", "list", 0.5, 500, "200B"),
        ],
        20_000,
        {"zipf": 0.99},
        [
            ("sessions", "HSET", 50),
            ("counters", "INCR", 30),
            ("board", "ZINCRBY", 10),
            ("queue", "LPUSH", 5),
            ("queue", "RPOP", 5),
        ],
        {},
        None,
        "x2.2",
        True,
    ),
    (
        "t28-mixed-cache-oom",
        "the mixed cache at 40k/s in a deliberately tight limit (OOM expected)",
        [
            G("sessions", "hash", 80, 20, "64B", ttl={"share": "30%", "mean": "30min"}),
            G("counters", "string", 800, 1, "8B", values="integers"),
            G("board", "zset", 0.5, 1000, "20B"),
            G("queue", "list", 0.5, 500, "200B"),
        ],
        40_000,
        "uniform",
        [
            ("sessions", "HSET", 60),
            ("counters", "INCR", 20),
            ("board", "ZADD", 10),
            ("queue", "LPUSH", 5),
            ("queue", "RPOP", 5),
        ],
        {},
        None,
        ("x1.2", 10),
        True,
    ),
    (
        "t29-hash-hashtable-oom",
        "hashtable hashes at 20k/s uniform in a deliberately tight limit (OOM expected)",
        [G("profiles", "hash", 3, 600, "64B")],
        20_000,
        "uniform",
        None,
        {},
        None,
        ("x1.2", 10),
        True,
    ),
]
PROBE = {
    # id: (used_memory MiB per 1000 keys of each group, BGSAVE seconds per 1000 keys without delay), measured by
    # filling each scenario at 1/10 of its keys with the harness's fill on redis 7.0.15 (jemalloc 5.2)
    "t01-hash-listpack-zipf": ([1.781], 0.0421),
    "t02-hash-hashtable-uniform": ([81.28], 1.004),
    "t03-hash-value60-listpack": ([1.536], 0.0239),
    "t04-hash-value70-hashtable": ([2.945], 0.0543),
    "t05-hash-hincrby-counters": ([0.681], 0.00747),
    "t06-zset-listpack-leaderboard": ([2.516], 0.0388),
    "t07-zset-skiplist-uniform": ([120.6], 0.668),
    "t08-zset-param-listpack": ([7.915], 0.140),
    "t09-list-queue": ([20.79], 0.376),
    "t10-list-queue-1k-items": ([49.36], 0.909),
    "t11-counters-incr": ([0.0692], 0.000948),
    "t12-set-intset": ([0.930], 0.0103),
    "t13-set-hashtable": ([7.704], 0.0677),
    "t14-ttl-heavy-strings": ([0.603], 0.0108),
    "t15-ttl-hash-expire": ([1.801], 0.0221),
    "t16-evict-allkeys-lru": ([1.047], 0.0177),
    "t17-evict-noeviction": ([1.047], 0.0106),
    "t18-strings-clustered-hot": ([1.048], 0.00765),
    "t19-strings-scattered-hot": ([1.048], 0.00867),
    "t20-hash-clustered-hot5": ([1.781], 0.0368),
    "t21-sizeclass-1010b": ([1.048], 0.0224),
    "t22-sizeclass-1030b": ([1.292], 0.0197),
    "t23-embstr-44b": ([0.1269], 0.00232),
    "t24-raw-45b": ([0.1422], 0.00342),
    "t25-hash-lognormal-fields": ([2.233], 0.0359),
    "t26-strings-histogram-sizes": ([1.101], 0.0225),
    "t27-mixed-cache": ([1.800, 0.0731, 120.6, 98.48], 0.00855),
    "t28-mixed-cache-oom": ([1.800, 0.0731, 120.6, 98.48], 0.0109),
    "t29-hash-hashtable-oom": ([81.28], 1.004),
}


def key_size(name: str, keys: int) -> int:
    """Mean length of ``<name>:<i>`` over i in [0, keys)."""
    return round(mean_key_name_bytes(keys) - 4 + len(name) + 1)


def delay_for(keys: int, base_s: float) -> int:
    """An ``rdb_key_save_delay_us`` stretching a save of ``keys`` keys (``base_s`` without delay) to TARGET_SAVE_S."""
    extra = max(0.5, TARGET_SAVE_S - base_s)
    per_key_us = extra * 1e6 / keys
    if per_key_us >= SLEEP_US:
        return max(1, round(per_key_us - SLEEP_US))
    return -max(1, round(SLEEP_US / per_key_us))


def render(row, used_mib: float, base_save_s: float, held: bool) -> str:
    """The scenario YAML of one row (``used_mib``: its expected used_memory)."""
    sid, what, groups, rate, dist, mix, params, delay, limit, comp = row
    keys_total = round(sum(g["keys"] for g in groups) * 1000)
    limit, reserved = limit if isinstance(limit, tuple) else (limit, None)
    limit_mib = int(math.ceil(used_mib * float(limit[1:]) / 16) * 16) if isinstance(limit, str) else limit
    if delay is None:
        delay = delay_for(keys_total, base_save_s)
    out_groups = []
    for g in groups:
        g = dict(g)
        n = round(g["keys"] * 1000)
        g["keys"] = f"{n // 1000}k" if n % 1000 == 0 else n
        g["key_size"] = f"{key_size(g['name'], n)}B"
        out_groups.append(g)
    engine = {"name": "redis", "version": "7.0.15", "parameters": {"maxmemory-policy": "noeviction", **params}}
    doc = {
        "name": sid,
        "description": f"[{'held-out' if held else 'training'}] {what}",
        "platform": "lab",
        "engine": engine,
        "node": {"memory": f"{limit_mib}MiB", **({"reserved_memory_percent": reserved} if reserved else {})},
        "dataset": {"groups": out_groups},
        "workload": {"writes_per_sec": rate, "key_distribution": dist},
        "backup": {"method": "fork", "rdb_key_save_delay_us": delay, "compression": comp},
    }
    if mix:
        doc["workload"]["mix"] = [{"group": g, "command": c, "share": f"{s}%"} for g, c, s in mix]
    head = f"# {what}\n# expected used_memory ~{used_mib:.0f} MiB; save ~{max(TARGET_SAVE_S, base_save_s):.0f} s\n"
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120)


EXPECTED_OOM = ("t28-mixed-cache-oom", "t29-hash-hashtable-oom")


def held_out() -> set[str]:
    """Names of the held-out scenarios: rbsim's split of records by scenario, on the outcomes aimed at."""
    from sim.validation.calibrate import split_by_scenario

    firsts = [
        {"id": row[0], "scenario": {"name": row[0]}, "measured": {"outcome": "oom" if row[0] in EXPECTED_OOM else "ok"}}
        for row in ROWS
    ]
    return {r["scenario"]["name"] for r in split_by_scenario(firsts)[1]}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    held = held_out()
    for row in ROWS:
        sid, groups = row[0], row[2]
        mib_per_1k, save_per_1k = PROBE[sid]
        used = sum(m * g["keys"] for m, g in zip(mib_per_1k, groups, strict=True))
        base_save = save_per_1k * sum(g["keys"] for g in groups)
        (OUT / f"{sid}.yaml").write_text(render(row, used, base_save, sid in held))
    print(f"wrote {len(ROWS)} scenarios to {OUT}")


if __name__ == "__main__":
    main()
