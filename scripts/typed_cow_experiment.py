"""Copy-on-write of typed write commands on a real redis-server, against the pages their Rewrites predict.

Fills one group (one type/encoding), starts a slowed BGSAVE (rdb-key-save-delay), sends N commands to
uniformly random keys while the child runs, and reads rdb_last_cow_size. The prediction assumes the key's
allocations of one slot size interleave on the allocator's pages (they are made one key after another):
a class's pages are dirtied at the summed hit rate of the rewrites of that size. Prints one line per case.

    .venv/bin/python scripts/typed_cow_experiment.py [LABEL-SUBSTRING ...]
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.physics.datatypes import GroupLayout, group_layouts
from tests.realserver import key_name, redis_server, text

PAGE = 4096
KEY = 16


def predicted_pages(layout: GroupLayout, keys: int, command: str, n: int) -> float:
    """Pages dirtied by ``n`` commands on uniform keys, each Rewrite kind on its own pages: ``keys * per_key``
    units of ``size`` bytes hit ``n * count`` times. Units of 1 KB and more: each hit unit dirties the pages
    it overlaps ((size + PAGE - gcd) / PAGE on average); smaller ones: pages * (1 - exp(-hits / pages))."""
    total = 0.0
    for r in layout.effect(command).rewrites:
        units = keys * r.per_key
        if r.size >= 1024:
            spans = (r.size + PAGE - math.gcd(r.size, PAGE)) / PAGE
            total += units * (1 - math.exp(-n * r.count / units)) * spans
        else:
            pages = max(units * r.size / PAGE, 1.0)
            total += pages * (1 - math.exp(-n * r.count / pages))
    return total


def field(j: int, size: int = 10) -> bytes:
    return text(size - 4, 0) + f"{j:04d}".encode()


CASES = [
    # label, type, keys, elements, size, fill(pipe, i), command(pipe, i, rng), command name, model options
    (
        "string SET 100B",
        "string",
        40000,
        1,
        100,
        lambda p, i: p.set(key_name(i, KEY), text(100, i)),
        lambda p, i, r: p.set(key_name(i, KEY), text(100, r.randrange(9))),
        "SET",
        {},
    ),
    (
        "string INCR",
        "string",
        40000,
        1,
        8,
        lambda p, i: p.set(key_name(i, KEY), 10**7 + i),
        lambda p, i, r: p.incr(key_name(i, KEY)),
        "INCR",
        {"integers": True},
    ),
    (
        "hash listpack HSET",
        "hash",
        8000,
        20,
        30,
        lambda p, i: p.hset(key_name(i, KEY), mapping={field(j): text(30, j) for j in range(20)}),
        lambda p, i, r: p.hset(key_name(i, KEY), field(r.randrange(20)), text(30, r.randrange(9))),
        "HSET",
        {},
    ),
    (
        "hash hashtable HSET",
        "hash",
        400,
        600,
        20,
        lambda p, i: p.hset(key_name(i, KEY), mapping={field(j): text(20, j) for j in range(600)}),
        lambda p, i, r: p.hset(key_name(i, KEY), field(r.randrange(600)), text(20, r.randrange(9))),
        "HSET",
        {},
    ),
    (
        "zset skiplist ZADD",
        "zset",
        400,
        600,
        20,
        lambda p, i: p.zadd(key_name(i, KEY), {field(j, 20): j for j in range(600)}),
        lambda p, i, r: p.zadd(key_name(i, KEY), {field(r.randrange(600), 20): r.randrange(10**6)}),
        "ZADD",
        {},
    ),
    (
        "list LPUSH",
        "list",
        400,
        1000,
        50,
        lambda p, i: p.rpush(key_name(i, KEY), *[text(50, j) for j in range(1000)]),
        lambda p, i, r: p.lpush(key_name(i, KEY), text(50, 1)),
        "LPUSH",
        {},
    ),
]


def run(client, case, n: int, seed: int = 1) -> tuple[float, float, float]:
    label, type_, keys, elements, size, fill, command, name, kw = case
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for i in range(keys):
        fill(pipe, i)
        if i % 200 == 199:
            pipe.execute()
    pipe.execute()
    if type_ == "list":  # a queue's head node is part-full: push 0..150 items on each head first
        rng = random.Random(seed + 1)
        for i in range(keys):
            items = [text(size, 1)] * rng.randrange(151)
            if items:
                pipe.lpush(key_name(i, KEY), *items)
        pipe.execute()
    delay = max(1, int(3_000_000 / keys))  # a save of about 3 s
    client.config_set("rdb-key-save-delay", delay)
    baseline = _cow(client, None, 0)
    client.config_set("rdb-key-save-delay", delay)
    rng = random.Random(seed)
    measured = _cow(client, lambda p: command(p, rng.randrange(keys), rng), n)
    ((share, layout),) = group_layouts(type_, keys, elements, size, key_size=KEY, **kw)
    return measured / PAGE, baseline / PAGE, predicted_pages(layout, keys, name, n)


def _cow(client, command, n: int) -> int:
    # freed pages jemalloc purges during the save leave the child as private pages: purge them first
    client.execute_command("MEMORY PURGE")
    client.bgsave()
    time.sleep(0.2)
    if command is not None:
        pipe = client.pipeline(transaction=False)
        for k in range(n):
            command(pipe)
            if k % 500 == 499:
                pipe.execute()
        pipe.execute()
    while client.info("persistence")["rdb_bgsave_in_progress"]:
        time.sleep(0.05)
    return int(client.info("persistence")["rdb_last_cow_size"])


def main() -> None:
    wanted = sys.argv[1:]
    with redis_server() as client:
        for case in [c for c in CASES if not wanted or any(w in c[0] for w in wanted)]:
            for n in (2000, 20000):
                measured, baseline, predicted = run(client, case, n)
                extra = measured - baseline
                print(
                    f"{case[0]:22s} n={n:6d}  cow {measured:8.0f} pages (idle save {baseline:5.0f}; "
                    f"writes {extra:8.0f})  predicted {predicted:8.0f}  ratio {predicted / max(extra, 1):5.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
