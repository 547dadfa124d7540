"""A scenario's key groups and write mix as the numbers a run needs: memory per group, the copy-on-write
model, and how used_memory moves (growth, frees, expiry, eviction).

Each group is laid out by :func:`sim.physics.datatypes.group_layouts` (one layout per encoding its keys
take); each mix entry's command effect says which allocations a write rewrites (copy-on-write targets,
with the group's own key popularity and locality) and how much ``used_memory`` it adds or frees. The
shorthand dataset (``keys``/``value_size``) is one string group and gives the figures it always gave.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields

import numpy as np

from .keygroups import KeyGroup, MixEntry, dataset_sizes
from .physics.cow import CowModel, Target, cow_model_of, page_spans
from .physics.datatypes import GroupLayout, group_layouts
from .physics.encodings import EncodingParams
from .physics.eviction import Churn, evictable_keys, expiry_per_sec
from .physics.keyspace import Popularity, popularity
from .physics.layout import EMPTY_SERVER_USED_MEMORY
from .physics.save import RDB_FIXED_BYTES, lzf_scanned_bytes, rdb_bytes
from .scenario import Scenario

DENYOOM = ("SET", "INCR", "APPEND", "HSET", "HINCRBY", "SADD", "ZADD", "ZINCRBY", "LPUSH", "RPUSH", "NEW")
"""Commands flagged DENYOOM, refused while used_memory is over maxmemory (``"command_flags"`` in
https://github.com/redis/redis/tree/7.0.15/src/commands, e.g. set.json, hset.json, lpush.json); DEL, SREM,
LPOP, RPOP and EXPIRE are not. NEW is a SET of a new key."""


@dataclass(frozen=True)
class KeyModel:
    """What the key groups and the write mix come to (bytes, counts, per write command)."""

    keys: int
    used_memory: int  # the server's used_memory: every group plus an empty server
    used_by_group: tuple[tuple[str, int], ...]  # each group's used_memory
    bytes_per_key: float
    key_size: float  # mean key name bytes
    value_size: int  # mean value payload bytes of a key (all its elements)
    cow: CowModel
    churn: Churn
    evictable_keys: float
    maxmemory_policy: str
    slot_sizes: tuple[int, ...]  # the slot sizes new allocations use (the growing groups' allocations)
    slot_byte_shares: tuple[float, ...]  # each size's share of the allocated bytes (by each group's growth)
    pages_per_key: float  # pages the save (or a request) touches for one key, its bucket page included
    rdb_bytes: int
    lzf_bytes: int  # bytes the save compresses
    repetitive: bool  # every group's values compress well (the save's LZF pace)
    rotated_queue_bytes: float  # copy-on-write LPUSH would add if the lists' head nodes were partly full


@dataclass(frozen=True)
class _Group:
    """One group's share of the figures (bytes and rates per write command or second)."""

    used: float  # used_memory of the group's keys
    slots: dict[int, float]  # bytes in each slot size
    pages: float  # pages the keys' allocations overlap
    targets: dict[tuple, Target]  # copy-on-write targets by (group, layout, rewrite name, size, per key)
    forkless: Popularity  # the keys' popularity per write command to existing keys
    grow: float
    denied_share: float  # share of the writes Redis refuses over maxmemory (DENYOOM commands)
    shrink: float
    shrink_copied: float  # of shrink, bytes the freeing commands had written (list pops)
    expiring_keys: float  # per second
    payload: float  # value bytes a key holds
    rotated_queue_bytes: float  # pages LPUSH would copy if the head nodes were half full, not full (bytes)


def key_model(
    scenario: Scenario, maxmemory: int, page_size: int, dismiss_large_values: bool = False, base_bytes: int = 0
) -> KeyModel:
    """The :class:`KeyModel` of ``scenario`` on a server of ``maxmemory`` bytes, for pages of ``page_size``."""
    groups, compression = scenario.key_groups(), scenario.backup.compression
    by_group: dict[str, list[MixEntry]] = defaultdict(list)
    for entry in scenario.write_mix():
        by_group[entry.group].append(entry)
    db_keys = sum(g.keys for g in groups)
    params = scenario.engine_parameters()
    encoding = EncodingParams(
        **{f.name: getattr(params, f.name) for f in fields(EncodingParams) if getattr(params, f.name) is not None}
    )
    parts = [_group(scenario, g, by_group.get(g.name, []), db_keys, page_size, encoding) for g in groups]
    policy = params.maxmemory_policy
    data = sum(part.used for part in parts)
    mean_key = data / db_keys
    used_by_group = [(g.name, int(part.used)) for g, part in zip(groups, parts, strict=True)]
    if scenario.dataset.groups is None:  # the shorthand keeps the used_memory it was given
        used = dataset_sizes(scenario)[2]
        used_by_group = [(used_by_group[0][0], used - EMPTY_SERVER_USED_MEMORY)]
    else:
        used = int(EMPTY_SERVER_USED_MEMORY + data)
    ttl_keys = sum(g.keys_with_ttl for g in groups)
    ttl_bytes = sum(g.keys_with_ttl * part.used / g.keys for g, part in zip(groups, parts, strict=True))
    grow = sum(part.grow for part in parts)
    churn = Churn(
        grow=grow,
        shrink=sum(part.shrink for part in parts),
        expired_keys_per_s=sum(part.expiring_keys for part in parts),
        expired_bytes_per_s=sum(part.expiring_keys * part.used / g.keys for g, part in zip(groups, parts, strict=True)),
        maxmemory=float(maxmemory),
        key_bytes=ttl_bytes / ttl_keys if policy.startswith("volatile-") and ttl_keys > 0 else mean_key,
        deny_share=sum(part.denied_share for part in parts),
        floor=EMPTY_SERVER_USED_MEMORY,
        shrink_copied=sum(part.shrink_copied for part in parts),
    )
    forkless = Popularity(
        np.concatenate([part.forkless.counts for part in parts]),
        np.concatenate([part.forkless.probs for part in parts]),
    )
    targets = [t for part in parts for t in part.targets.values()]
    slots = _growth_slots(parts)
    payloads = [round(part.payload) for part in parts]
    return KeyModel(
        keys=db_keys,
        used_memory=used,
        used_by_group=tuple(used_by_group),
        bytes_per_key=mean_key,
        key_size=sum(g.keys * g.key_size for g in groups) / db_keys,
        value_size=round(sum(g.keys * part.payload for g, part in zip(groups, parts, strict=True)) / db_keys),
        cow=cow_model_of(targets, forkless, page_size, dismiss_large_values, base_bytes),
        churn=churn,
        evictable_keys=evictable_keys(policy, ttl_keys),
        maxmemory_policy=policy,
        slot_sizes=tuple(slots),
        slot_byte_shares=tuple(held / sum(slots.values()) for held in slots.values()),
        pages_per_key=sum(part.pages for part in parts) / db_keys + 1.0,
        rdb_bytes=RDB_FIXED_BYTES
        + sum(
            rdb_bytes(g.keys, g.key_size, v, g.value_pattern, compression) - RDB_FIXED_BYTES
            for g, v in zip(groups, payloads, strict=True)
        ),
        lzf_bytes=sum(lzf_scanned_bytes(g.keys, v, compression) for g, v in zip(groups, payloads, strict=True)),
        repetitive=all(g.value_pattern == "repetitive" for g in groups),
        rotated_queue_bytes=sum(part.rotated_queue_bytes for part in parts),
    )


def _group(
    scenario: Scenario, g: KeyGroup, entries: list[MixEntry], db_keys: int, page_size: int, encoding: EncodingParams
) -> _Group:
    """Lay out group ``g`` and apply its mix ``entries``: memory, copy-on-write targets, growth and frees."""
    engine = scenario.engine
    layouts = group_layouts(
        g.type,
        g.keys,
        _spread(g.elements),
        _spread(g.element_size),
        field_size=g.field_size or 10,
        key_size=g.key_size,
        integers=g.values == "integers",
        ttl_share=g.ttl_share,
        params=encoding,
        engine_version=engine.version,
        engine=engine.name,
        allocator=engine.allocator,
        db_keys=db_keys,
        append_bytes=next((e.bytes for e in entries if e.command == "APPEND"), 16),
        compressible=g.value_pattern == "repetitive" and scenario.backup.compression,
    )
    slots: dict[int, float] = defaultdict(float)
    for share, layout in layouts:
        for a in layout.allocations:
            if "bucket" not in a.name:  # bucket arrays are not slots a key frees
                slots[a.size] += g.keys * share * a.per_key * a.size
    pop = popularity(g.key_distribution, g.keys)
    targets: dict[tuple, Target] = {}
    grow = shrink = shrink_copied = hitting = denied = 0.0  # hitting: share of the writes on existing keys
    for e in entries:
        delta = copied = 0.0
        for k, (share, layout) in enumerate(layouts):
            effect = layout.effect(e.command)
            delta += share * effect.used_memory_delta
            copied += share * effect.used_memory_delta if effect.frees_written else 0.0
            for r in effect.rewrites:
                key = (g.name, k, r.name, r.size, r.per_key)
                rate = (targets[key].per_write if key in targets else 0.0) + e.share * r.count
                targets[key] = Target(
                    r.name, r.size, pop, r.per_key, rate, share, g.locality == "clustered", r.dismissable
                )
        if delta > 0:
            grow += e.share * delta
        else:
            shrink -= e.share * delta
            shrink_copied -= e.share * copied
        hitting += e.share if e.command != "NEW" else 0.0
        denied += e.share if e.command in DENYOOM else 0.0
    return _Group(
        used=g.keys * sum(share * layout.bytes_per_key for share, layout in layouts),
        slots=dict(slots),
        pages=g.keys * sum(share * _pages(layout, page_size) for share, layout in layouts),
        targets=targets,
        forkless=Popularity(pop.counts, pop.probs * hitting),
        grow=grow,
        denied_share=denied,
        shrink=shrink,
        shrink_copied=shrink_copied,
        expiring_keys=expiry_per_sec(g.keys, g.ttl_share, g.ttl_mean_s or 0.0),
        payload=_payload(g),
        rotated_queue_bytes=_rotated_queue_bytes(g, layouts, entries),
    )


def _rotated_queue_bytes(g: KeyGroup, layouts, entries: list[MixEntry]) -> float:
    """Lists are laid out as built by RPUSH, head node full, so LPUSH makes new nodes and copies no listpack.
    In a queue that has rotated for a while the head node is half full on average and the first push
    after the fork copies it: the most that adds, every list of the group reached (an upper bound)."""
    if g.type != "list" or not any(e.command == "LPUSH" for e in entries):
        return 0.0
    total = 0.0
    for share, layout in layouts:
        packs = [a for a in layout.allocations if a.name in ("listpack", "ziplist") and a.per_key > 1]
        total += sum(g.keys * share * a.size / 2 for a in packs)
    return total


def _growth_slots(parts: list[_Group]) -> dict[int, float]:
    """Bytes per slot size that new allocations fill: each group's slots in the share it grows by.

    Freed slots are reused by what the writes allocate, so a queue's pushes refill list-node slots, not the
    small entries of another group's keys. Without growth (frees only) the data's own mix is kept.
    """
    grown = sum(part.grow for part in parts)
    slots: dict[int, float] = defaultdict(float)
    for part in parts:
        held = sum(part.slots.values())
        for size, bytes_ in part.slots.items():
            slots[size] += part.grow * bytes_ / held if grown > 0 else bytes_
    return dict(slots)


def _spread(spread) -> tuple[tuple[float, float], ...] | float:
    """A keygroups Spread as datatypes reads it: one number, or (value, weight) points."""
    if spread.is_fixed:
        return spread.values[0]
    return tuple(zip(spread.values, spread.weights, strict=True))


def _pages(layout: GroupLayout, page_size: int) -> float:
    """Pages one key's allocations overlap (the bucket arrays left out)."""
    return sum(a.per_key * page_spans(a.size, page_size)[0] for a in layout.allocations if "bucket" not in a.name)


def _payload(g: KeyGroup) -> float:
    """Mean value bytes one key holds: its elements (hash: field names too), what the RDB stores for it."""
    if g.type == "string":
        return g.element_size.mean()
    return g.elements.mean() * (g.element_size.mean() + (g.field_size if g.type == "hash" else 0))
