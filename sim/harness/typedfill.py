"""Fill a harness server with typed key groups: each group's keys in id order, pipelined over raw RESP.

Before the fill the scenario's engine parameters are applied with CONFIG SET (encoding thresholds, eviction
policy). Each group is one create command per key (SET, HSET with all fields, SADD, ZADD, RPUSH), plus
EXPIRE for the group's TTL share (exponential TTLs of the group's mean, so keys expire at the rate
``share x keys / mean`` the model assumes). Per group the fill records keys, elements, its used_memory delta
(INFO before and after) and the OBJECT ENCODING of a sample of keys.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import redis

from sim.harness.fill import FillError
from sim.harness.groups import EngineConfig, GroupSpec, Payloads, WriteBuilder, create_command, resp
from sim.harness.resp import RespConnection

if TYPE_CHECKING:
    from sim.harness.server import RedisServer

FILL_BATCH_BYTES = 1 << 20
FILL_BATCH_COMMANDS = 2000
ENCODING_SAMPLE = 200
"""Keys per group whose OBJECT ENCODING the record keeps (a seeded sample)."""


@dataclass(frozen=True)
class GroupFill:
    """How one group's fill went (an entry of the record's ``fill.groups``)."""

    name: str
    type: str
    keys: int
    elements: int
    keys_with_ttl: int
    seconds: float
    used_memory_delta: int
    encodings: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


ZIPLIST_NAMES = {
    "hash-max-listpack-entries": "hash-max-ziplist-entries",
    "hash-max-listpack-value": "hash-max-ziplist-value",
    "zset-max-listpack-entries": "zset-max-ziplist-entries",
    "zset-max-listpack-value": "zset-max-ziplist-value",
    "list-max-listpack-size": "list-max-ziplist-size",
}
"""Before Redis 7.0 the listpack parameters were called ziplist (7.0 renamed them, keeping aliases)."""


def apply_engine_config(server: RedisServer, config: EngineConfig) -> None:
    """CONFIG SET every engine parameter (a pre-7.0 server by its ziplist name); FillError naming the parameter
    when the server refuses it."""
    client = server.client()
    for name, value in (*config.settings, ("maxmemory-policy", config.maxmemory_policy)):
        try:
            try:
                client.config_set(name, value)
            except redis.ResponseError:
                if name not in ZIPLIST_NAMES:
                    raise
                client.config_set(ZIPLIST_NAMES[name], value)
        except redis.ResponseError as exc:
            raise FillError(
                f"engine.parameters.{name}: {server.version.flavor} {server.version.string} refuses {value!r}: {exc}"
            ) from None


def fill_group(server: RedisServer, group: GroupSpec, seed: int = 12345, deadline: float | None = None) -> GroupFill:
    """Create keys ``0 .. keys-1`` of the group in id order; -OOM or other refusals raise FillError."""
    pay = Payloads(seed)
    rng = np.random.default_rng([seed, *group.name.encode()])
    ttl_keys = (rng.random(group.keys) < group.ttl_share).nonzero()[0] if group.ttl_share > 0 else np.empty(0, int)
    has_ttl = np.zeros(group.keys, bool)
    has_ttl[ttl_keys] = True
    ttls = WriteBuilder(pay, rng)
    before = int(server.info("memory")["used_memory"])
    t0 = time.monotonic()
    with RespConnection(server.listening_port, timeout=60) as conn:
        parts: list[bytes] = []
        size = 0
        for i in range(group.keys):
            cmd = create_command(group, i, pay)
            parts.append(cmd)
            size += len(cmd)
            if has_ttl[i]:
                parts.append(resp(b"EXPIRE", group.key(i), b"%d" % ttls.ttl(group)))
            if size >= FILL_BATCH_BYTES or len(parts) >= FILL_BATCH_COMMANDS or i == group.keys - 1:
                conn.send(b"".join(parts))
                errors = conn.read_replies(len(parts))
                if errors:
                    raise FillError(
                        f"group {group.name}: the server refused {errors} writes while filling key {i:,}: "
                        f"{conn.last_error}"
                    )
                parts, size = [], 0
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"fill of group {group.name} still running at key {i:,} of {group.keys:,}")
    seconds = time.monotonic() - t0
    after = int(server.info("memory")["used_memory"])
    return GroupFill(
        name=group.name,
        type=group.type,
        keys=group.keys,
        elements=int(group.counts.sum()),
        keys_with_ttl=int(has_ttl.sum()),
        seconds=round(seconds, 3),
        used_memory_delta=after - before,
        encodings=sample_encodings(server, group, rng),
    )


def sample_encodings(server: RedisServer, group: GroupSpec, rng: np.random.Generator) -> dict[str, int]:
    """OBJECT ENCODING of up to :data:`ENCODING_SAMPLE` keys of the group: encoding -> keys (expired: ``none``)."""
    ids = rng.choice(group.keys, size=min(group.keys, ENCODING_SAMPLE), replace=False)
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for i in ids.tolist():
        pipe.object("encoding", group.key(i))
    found = Counter(e.decode() if isinstance(e, bytes) else str(e) if e is not None else "none" for e in pipe.execute())
    return dict(sorted(found.items()))


def fill_groups(
    server: RedisServer,
    groups: tuple[GroupSpec, ...],
    config: EngineConfig,
    deadline: float | None = None,
) -> tuple[list[GroupFill], float]:
    """Apply the engine config, then fill every group in order; (per-group results, seconds in all)."""
    apply_engine_config(server, config)
    t0 = time.monotonic()
    done = [fill_group(server, g, seed=12345 + k, deadline=deadline) for k, g in enumerate(groups)]
    return done, time.monotonic() - t0
