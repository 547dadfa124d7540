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
    slot_sizes: tuple[int, ...]  # the slot sizes the keys' allocations use (what a freed key leaves)
    slot_byte_shares: tuple[float, ...]  # each size's share of the keys' allocated bytes
    pages_per_key: float  # pages the save (or a request) touches for one key, its bucket page included
    rdb_bytes: int
    lzf_bytes: int  # bytes the save compresses
    repetitive: bool  # every group's values compress well (the save's LZF pace)


def key_model(
    scenario: Scenario, maxmemory: int, page_size: int, dismiss_large_values: bool = False, base_bytes: int = 0
) -> KeyModel:
    """The :class:`KeyModel` of ``scenario`` on a server of ``maxmemory`` bytes, for pages of ``page_size``."""
    engine, backup = scenario.engine, scenario.backup
    groups, mix = scenario.key_groups(), scenario.write_mix()
    params = scenario.engine_parameters()
    encoding = EncodingParams(
        **{f.name: getattr(params, f.name) for f in fields(EncodingParams) if getattr(params, f.name) is not None}
    )
    db_keys = sum(g.keys for g in groups)
    by_group: dict[str, list[MixEntry]] = defaultdict(list)
    for entry in mix:
        by_group[entry.group].append(entry)
    targets: dict[tuple, Target] = {}
    forkless_pops = []
    grow = shrink = growing_share = 0.0
    expiring_keys = expiring_bytes = ttl_keys = ttl_bytes = data = pages = 0.0
    slots: dict[int, float] = defaultdict(float)  # bytes in each slot size
    rdb, lzf, payload_bytes, used_by_group = RDB_FIXED_BYTES, 0, 0.0, []
    for g in groups:
        entries = by_group.get(g.name, [])
        appended = next((e.bytes for e in entries if e.command == "APPEND"), 16)
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
            append_bytes=appended,
        )
        per_key = sum(share * layout.bytes_per_key for share, layout in layouts)
        used_by_group.append((g.name, int(g.keys * per_key)))
        data += g.keys * per_key
        for share, layout in layouts:
            for a in layout.allocations:
                if "bucket" not in a.name:  # bucket arrays are not slots a key frees
                    slots[a.size] += g.keys * share * a.per_key * a.size
        pages += g.keys * sum(share * _pages(layout, page_size) for share, layout in layouts)
        pop = popularity(g.key_distribution, g.keys)
        hitting = 0.0  # share of the writes that hit existing keys of this group
        for e in entries:
            delta = 0.0
            for k, (share, layout) in enumerate(layouts):
                effect = layout.effect(e.command)
                delta += share * effect.used_memory_delta
                for r in effect.rewrites:
                    key = (g.name, k, r.name, r.size, r.per_key)
                    old = targets.get(key)
                    rate = (old.per_write if old else 0.0) + e.share * r.count
                    clustered = g.locality == "clustered"
                    targets[key] = Target(r.name, r.size, pop, r.per_key, rate, share, clustered)
            if delta > 0:
                grow, growing_share = grow + e.share * delta, growing_share + e.share
            else:
                shrink -= e.share * delta
            hitting += e.share if e.command != "NEW" else 0.0
        forkless_pops.append(Popularity(pop.counts, pop.probs * hitting))
        rate = expiry_per_sec(g.keys, g.ttl_share, g.ttl_mean_s or 0.0)
        expiring_keys, expiring_bytes = expiring_keys + rate, expiring_bytes + rate * per_key
        ttl_keys, ttl_bytes = ttl_keys + g.keys_with_ttl, ttl_bytes + g.keys_with_ttl * per_key
        payload = _payload(g)
        payload_bytes += g.keys * payload
        rdb += rdb_bytes(g.keys, g.key_size, round(payload), g.value_pattern, backup.compression) - RDB_FIXED_BYTES
        lzf += lzf_scanned_bytes(g.keys, round(payload), backup.compression)
    policy = params.maxmemory_policy
    mean_key = data / db_keys
    if scenario.dataset.groups is None:  # the shorthand keeps the used_memory it was given
        used = dataset_sizes(scenario)[2]
        used_by_group = [(used_by_group[0][0], used - EMPTY_SERVER_USED_MEMORY)]
    else:
        used = int(EMPTY_SERVER_USED_MEMORY + data)
    evicted_key = ttl_bytes / ttl_keys if policy.startswith("volatile-") and ttl_keys > 0 else mean_key
    churn = Churn(
        grow=grow,
        shrink=shrink,
        expired_keys_per_s=expiring_keys,
        expired_bytes_per_s=expiring_bytes,
        maxmemory=float(maxmemory),
        key_bytes=evicted_key,
        growing_write_bytes=grow / growing_share if growing_share > 0 else mean_key,
        floor=EMPTY_SERVER_USED_MEMORY,
    )
    cow = cow_model_of(
        list(targets.values()),
        Popularity(np.concatenate([p.counts for p in forkless_pops]), np.concatenate([p.probs for p in forkless_pops])),
        page_size,
        dismiss_large_values,
        base_bytes,
    )
    return KeyModel(
        keys=db_keys,
        used_memory=used,
        used_by_group=tuple(used_by_group),
        bytes_per_key=mean_key,
        key_size=sum(g.keys * g.key_size for g in groups) / db_keys,
        value_size=round(payload_bytes / db_keys),
        cow=cow,
        churn=churn,
        evictable_keys=evictable_keys(policy, ttl_keys),
        maxmemory_policy=policy,
        slot_sizes=tuple(slots),
        slot_byte_shares=tuple(b / sum(slots.values()) for b in slots.values()),
        pages_per_key=pages / db_keys + 1.0,
        rdb_bytes=int(rdb),
        lzf_bytes=int(lzf),
        repetitive=all(g.value_pattern == "repetitive" for g in groups),
    )


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
