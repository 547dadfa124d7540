"""Copy-on-write of typed write commands on a real redis-server, against the pages their Rewrites predict.

Fills one group (one type/encoding), starts a slowed BGSAVE (rdb-key-save-delay), sends N commands to
uniformly random keys while the child runs, and reads rdb_last_cow_size. The prediction assumes the key's
allocations of one slot size interleave on the allocator's pages (they are made one key after another):
a class's pages are dirtied at the summed hit rate of the rewrites of that size. Prints one line per case.

    .venv/bin/python scripts/typed_cow_experiment.py [LABEL-SUBSTRING ...]
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.physics.datatypes import group_layouts
from tests.realserver import PAGE, key_name, predicted_cow_pages, redis_server, save_cow_bytes, text

KEY = 16


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
    ("list RPOP", "list", 400, 1000, 50, lambda p, i: p.rpush(key_name(i, KEY), *[text(50, j) for j in range(1000)]),
     lambda p, i, r: p.rpop(key_name(i, KEY)), "RPOP", {}),
    ("set hashtable SADD", "set", 1000, 120, 20,
     lambda p, i: p.sadd(key_name(i, KEY), *[field(j, 20) for j in range(120)]),
     lambda p, i, r: p.sadd(key_name(i, KEY), field(10**4 + r.randrange(10**5), 20)), "SADD", {}),
    ("set intset SADD", "set", 8000, 100, 6, lambda p, i: p.sadd(key_name(i, KEY), *[10**5 + j for j in range(100)]),
     lambda p, i, r: p.sadd(key_name(i, KEY), 10**5 + 1000 + r.randrange(10**5)), "SADD", {"integers": True}),
    ("string EXPIRE", "string", 40000, 1, 100, lambda p, i: p.set(key_name(i, KEY), text(100, i)),
     lambda p, i, r: p.expire(key_name(i, KEY), 3600), "EXPIRE", {}),
    ("string NEW", "string", 40000, 1, 100, lambda p, i: p.set(key_name(i, KEY), text(100, i)),
     lambda p, i, r: p.set(key_name(10**6 + r.randrange(10**7), KEY), text(100, 1)), "NEW", {}),
    ("string DEL", "string", 40000, 1, 100, lambda p, i: p.set(key_name(i, KEY), text(100, i)),
     lambda p, i, r: p.delete(key_name(i, KEY)), "DEL", {}),
]  # fmt: skip


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
    baseline = save_cow_bytes(client, None, 0)
    client.config_set("rdb-key-save-delay", delay)
    rng = random.Random(seed)
    measured = save_cow_bytes(client, lambda p: command(p, rng.randrange(keys), rng), n)
    ((share, layout),) = group_layouts(type_, keys, elements, size, key_size=KEY, **kw)
    return measured / PAGE, baseline / PAGE, predicted_cow_pages(layout, keys, name, n)


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
