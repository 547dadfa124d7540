"""Memory layout of typed keys (string, hash, set, zset, list) and what each write command rewrites.

Pure functions of numbers. A group of keys becomes one :class:`GroupLayout` per encoding its keys take:
every allocation a key owns (allocator slot sizes), its ``used_memory`` per key, and per command the
allocations the command rewrites (a rewritten allocation dirties its pages under copy-on-write) and the
change of ``used_memory``. Struct sizes and behaviours are read from the Redis 7.0.15 source (URLs beside
each figure); Redis 6.x differs in ziplists, ``dict`` and ``quicklistNode``; 7.2 adds listpack sets and
lists and value-less set dicts. Valkey is modelled as Redis 7.2.

Reads rewrite nothing during a save: lookupKey skips the LRU/LFU update while a child process is active
("Don't do it if we have a saving child, as this will trigger a copy on write madness",
https://github.com/redis/redis/blob/7.0.15/src/db.c#L112-L122), so only write commands have effects here.
Rewrite sizes include same-class allocations made together with the rewritten one (they share its pages);
checked against rdb_last_cow_size of real saves by ``scripts/typed_cow_experiment.py``.

Element counts and sizes may be a number, a sequence of ``(value, weight)`` pairs or any object with
``values`` and ``weights`` (such as the scenario's spreads): every point is laid out on its own, so a size
distribution integrates over the allocator's size classes instead of using the class of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sim.physics.encodings import (
    EncodingParams,
    encoding_of,
    list_node_capacity,
    sets_use_listpack,
    uses_listpack,
    version_tuple,
)
from sim.physics.layout import (
    DICT_ENTRY_BYTES,
    DICT_POINTER_BYTES,
    ROBJ_BYTES,
    jemalloc_size_class,
    libc_chunk_size,
    sds_header,
)
from sim.physics.listpack import entry_bytes, packed_bytes

DICT_STRUCT_BYTES = 56
"""sizeof(dict) in 7.0: type, ht_table[2], ht_used[2], rehashidx, pauserehash, ht_size_exp[2],
https://github.com/redis/redis/blob/7.0.15/src/dict.h#L79-L91 (6.x: 96 bytes with two dictht and privdata,
https://github.com/redis/redis/blob/6.2.0/src/dict.h#L80-L86)."""
DICT_STRUCT_BYTES_6 = 96
CLUSTER_ENTRY_METADATA = 16
"""clusterDictEntryMetadata {prev, next}: what cluster mode adds to each db dictEntry in Redis 7.0-7.2."""
NO_VALUE_ENTRY_BYTES = 16
"""Redis 7.2 set dicts keep a lone key in its bucket and chain the rest in 16-byte dictEntryNoValue
(setDictType .no_value/.keys_are_odd, https://github.com/redis/redis/blob/7.2.0/src/server.c#L442-L450,
dict.c#L77-L80)."""
OS_PAGE_BYTES = 4096
"""server.page_size, the threshold of dismissObject's per-node test (dismissObject does nothing on huge pages:
the cow model then releases nothing whatever this says)."""
QUICKLIST_BYTES = 40
"""sizeof(quicklist): head, tail, count, len and three bitfields,
https://github.com/redis/redis/blob/7.0.15/src/quicklist.h#L106-L115."""
QUICKLIST_NODE_BYTES = 40
"""sizeof(quicklistNode) in 7.0 (size_t sz): https://github.com/redis/redis/blob/7.0.15/src/quicklist.h#L46-L58;
6.x has an unsigned int sz, 32 bytes (https://github.com/redis/redis/blob/6.2.0/src/quicklist.h#L46-L57)."""
QUICKLIST_NODE_BYTES_6 = 32
ZSET_STRUCT_BYTES = 16
"""struct zset {dict *dict; zskiplist *zsl;}, server.h of 7.0.15."""
ZSKIPLIST_BYTES = 32
"""struct zskiplist {header, tail, unsigned long length, int level}, server.h of 7.0.15."""
ZSKIPLIST_NODE_BYTES = 24
ZSKIPLIST_LEVEL_BYTES = 16
"""A skiplist node is ele, score, backward (24 bytes) + 16 bytes (forward, span) per level (zslCreateNode)."""
ZSKIPLIST_P = 0.25
ZSKIPLIST_MAXLEVEL = 32
"""ZSKIPLIST_MAXLEVEL 32, ZSKIPLIST_P 0.25: https://github.com/redis/redis/blob/7.0.15/src/server.h#L482-L483
(64 in 5.0: https://github.com/redis/redis/blob/5.0.0/src/server.h#L349)."""
INTSET_HEADER_BYTES = 8
"""intset: uint32 encoding + uint32 length, then the members (intset.h)."""
SDS_MAX_PREALLOC = 1024 * 1024
"""sdsMakeRoomFor doubles the new length below 1 MB (sds.h SDS_MAX_PREALLOC), so APPEND over-allocates."""

COMMANDS: dict[str, tuple[str, ...]] = {
    "string": ("SET", "INCR", "APPEND"),
    "hash": ("HSET", "HINCRBY"),
    "set": ("SADD", "SREM"),
    "zset": ("ZADD", "ZINCRBY"),
    "list": ("LPUSH", "RPUSH", "LPOP", "RPOP"),
}
ANY_TYPE_COMMANDS = ("NEW", "DEL", "EXPIRE")
"""The write commands modelled per data type, and those of any type: the one list the scenario schema, the
harness and the physics share."""

Dist = float | Sequence[tuple[float, float]] | Any


@dataclass(frozen=True)
class Rewrite:
    """Allocations of one kind a command rewrites: copy-on-write dirties the pages they sit on."""

    name: str
    size: int  # bytes each one occupies on its pages: its slot, plus same-class slots allocated with it
    #            (a dictEntry and its 32 B key sds interleave, so 64 B of dictEntry pages per key)
    per_key: float  # how many allocations of this kind a key holds; the command hits one of them
    count: float = 1.0  # allocations of this kind one command rewrites
    dismissable: bool = True  # the save child may release its pages once saved (dismissObject), if a page or more


@dataclass(frozen=True)
class CommandEffect:
    """What one command does to memory: the allocations it rewrites and the change of used_memory."""

    rewrites: tuple[Rewrite, ...]
    used_memory_delta: float
    frees_written: bool = False  # the memory it frees is memory it wrote first (a pop drains its node)


@dataclass(frozen=True)
class Allocation:
    """``per_key`` allocations of ``size`` bytes (slot size) that each key of a layout owns (a mean)."""

    name: str
    size: int
    per_key: float

    @property
    def bytes(self) -> float:
        return self.size * self.per_key


@dataclass(frozen=True)
class GroupLayout:
    """The keys of a group that share one encoding: their allocations and each command's effect."""

    type: str
    encoding: str
    keys: int
    bytes_per_key: float  # used_memory per key, dict/expires table shares included
    allocations: tuple[Allocation, ...]
    effects: tuple[tuple[str, CommandEffect], ...] = field(repr=False)

    def effect(self, command: str) -> CommandEffect:
        """Effect of ``command`` on one key of this layout (ValueError naming the allowed commands)."""
        for name, eff in self.effects:
            if name == command.upper():
                return eff
        allowed = ", ".join(name for name, _ in self.effects)
        raise ValueError(f"{command!r} is not a command for a {self.type} key ({self.encoding}); allowed: {allowed}")


def points(dist: Dist) -> tuple[tuple[float, float], ...]:
    """``(value, weight)`` pairs of a distribution, weights summing to 1."""
    if isinstance(dist, int | float):
        return ((float(dist), 1.0),)
    if hasattr(dist, "values") and hasattr(dist, "weights"):
        pairs = list(zip(dist.values, dist.weights, strict=True))
    else:
        pairs = [(float(v), float(w)) for v, w in dist]
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        raise ValueError("a distribution needs at least one point with a positive weight")
    return tuple((float(v), w / total) for v, w in pairs if w > 0)


def _whole(pairs: Sequence[tuple[float, float]]) -> tuple[tuple[int, float], ...]:
    """Points rounded to whole bytes/counts (at least 1), equal values merged."""
    merged: dict[int, float] = {}
    for value, weight in pairs:
        key = max(1, int(round(value)))
        merged[key] = merged.get(key, 0.0) + weight
    return tuple(sorted(merged.items()))


def _mean(pairs: Sequence[tuple[int, float]], f: Callable[[int], float]) -> float:
    return sum(w * f(v) for v, w in pairs)


def _per_slot(
    name: str, sizes: Sequence[tuple[int, float]], slot_of: Callable[[int], int]
) -> tuple[list[Allocation], tuple[Rewrite, ...]]:
    """One allocation and one rewrite per slot size a spread of sizes lands in, each for its share of the keys.

    A key's value sits in its own size class, so 100 B and 2 KB values fill 112 B and 2 KB slots: 36 and 2 to
    a page. One slot of the mean size (1 KB, 4 to a page) would make a write copy pages as if its neighbours
    were other keys of the group (typed run t26: +69 % copy-on-write).
    """
    shares: dict[int, float] = {}
    for size, weight in sizes:
        slot = slot_of(size)
        shares[slot] = shares.get(slot, 0.0) + weight
    allocations = [Allocation(name, slot, share) for slot, share in shares.items()]
    return allocations, tuple(Rewrite(name, slot, share, share) for slot, share in shares.items())


def buckets(entries: float) -> int:
    """Bucket count of a dict holding ``entries``: a power of two >= entries, at least 4 (_dictExpandIfNeeded
    doubles at a 1:1 fill, DICT_HT_INITIAL_SIZE 4: https://github.com/redis/redis/blob/7.0.15/src/dict.c#L1010-L1030)."""
    return 1 << max(2, math.ceil(math.log2(max(entries, 1))))


def chained_share(entries: float) -> float:
    """Share of a dict's entries that are not first in their bucket: entries hash uniformly over
    :func:`buckets` buckets, of which ``B (1 - exp(-n / B))`` are non-empty, one head each."""
    if entries <= 1:
        return 0.0
    table = buckets(entries)
    return 1 - table * (1 - math.exp(-entries / table)) / entries


def rehash_leftover(entries: int, presized: int, steps_per_insert: int) -> tuple[int, float]:
    """(buckets of the old table, probability it is still allocated) for a dict filled by ``entries`` inserts.

    After doubling from S to 2S buckets (at insert S+1), each later insert moves ``steps_per_insert`` non-empty
    old buckets (_dictRehashStep; dictRehash visits at most 10 empty ones, dict.c#L212). The non-empty buckets
    of S holding S keys number about S (1 - 1/e) with variance S e^-1 (1 - 2 e^-1) (occupancy at load 1), so
    the old table lives on with the probability that they outnumber the (entries - S - 1) * steps moves.
    A dict presized to ``presized`` (a listpack/intset converted, or RDB loading with dictExpand) starts there.
    """
    table = max(buckets(entries), buckets(presized) if presized else 0)
    old = table // 2
    if old < 4 or (presized and table <= buckets(presized)):
        return 0, 0.0
    moves = max(0, entries - old - 1) * steps_per_insert
    mean = old * (1 - (1 - 1 / old) ** old)
    sd = math.sqrt(old * math.exp(-1) * (1 - 2 * math.exp(-1)))
    return old, 0.5 * math.erfc((moves + 0.5 - mean) / (sd * math.sqrt(2)))  # the normal's upper tail


def skiplist_levels() -> tuple[tuple[int, float], ...]:
    """(level, probability) of a new skiplist node: zslRandomLevel draws level L with p^(L-1)(1-p), capped."""
    out = [(lvl, (1 - ZSKIPLIST_P) * ZSKIPLIST_P ** (lvl - 1)) for lvl in range(1, ZSKIPLIST_MAXLEVEL)]
    out.append((ZSKIPLIST_MAXLEVEL, ZSKIPLIST_P ** (ZSKIPLIST_MAXLEVEL - 1)))
    return tuple(out)


@dataclass(frozen=True)
class _Ctx:
    """What every layout of a group needs: sizes, allocator and version facts."""

    type: str
    keys: int
    db_keys: int
    key_size: int
    field_size: int
    integers: bool
    ttl_share: float
    expiring_keys: float
    params: Any
    version: str
    engine: str
    chunk: Callable[[int], int]
    score: float
    append_bytes: int
    from_rdb: bool
    cluster: bool
    compressible: bool  # the values compress well and the save compresses (the RDB holds them smaller)

    @property
    def modern(self) -> bool:
        return uses_listpack(self.engine, self.version)

    def sds(self, length: int) -> int:
        return self.chunk(sds_header(length) + length + 1)

    def integer(self, size: int) -> int | None:
        """The integer an element of ``size`` digits stands for when the group holds integers."""
        return 10 ** (min(size, 19) - 1) if self.integers and size <= 19 else None

    def packed(self, size: int) -> int:
        return entry_bytes(size, self.integer(size), ziplist=not self.modern)

    def packed_text(self, size: int) -> int:
        """A packed entry that is never an integer: a hash's field names are text whatever its values are."""
        return entry_bytes(size, None, ziplist=not self.modern)

    def db_entry(self) -> int:
        """Slot of a db dictEntry: 24 B, plus 16 B of slot-to-key links in cluster mode on Redis 7.0-7.2
        (dictEntryMetadataSize, https://github.com/redis/redis/blob/7.0.15/src/server.c#L374-L380 and
        clusterDictEntryMetadata, cluster.h#L162-L167; 7.4 and Valkey 8 keep a dict per slot instead)."""
        major_minor = version_tuple(self.version)
        linked = (7, 0) <= major_minor < ((8, 0) if self.engine == "valkey" else (7, 4))
        return self.chunk(DICT_ENTRY_BYTES + (CLUSTER_ENTRY_METADATA if self.cluster and linked else 0))

    def entry_stride(self) -> int:
        """Bytes of pages per db dictEntry: dbAdd allocates the key sds and the entry together, so when they
        share a size class they alternate on the same pages (db.c dbAdd: sdsdup(key), then dictAddRaw)."""
        entry = self.db_entry()
        return entry + (entry if self.sds(self.key_size) == entry else 0)

    def beside_key_name(self, slot: int) -> int:
        """Bytes of pages per value object of ``slot`` bytes: the command that creates a key makes its value
        object (setCommand's tryObjectEncoding, createHashObject, ...) just before dbAdd copies the key name
        (sdsdup), so when both fall in one size class they alternate on the same pages (measured: INCR on 3.5M
        int counters with 12-byte names copied twice the pages of 16-byte robjs alone)."""
        return slot + (slot if self.sds(self.key_size) == slot else 0)

    def dict_struct(self) -> int:
        return self.chunk(DICT_STRUCT_BYTES if self.modern else DICT_STRUCT_BYTES_6)


def _key_allocations(c: _Ctx) -> list[Allocation]:
    """The key's entry in the db dict, its name, its share of the bucket array, and its TTL entry."""
    out = [
        Allocation("db dict entry", c.db_entry(), 1.0),
        Allocation("key", c.sds(c.key_size), 1.0),
        Allocation("db bucket", DICT_POINTER_BYTES, buckets(c.db_keys) / max(c.db_keys, 1)),
    ]
    if c.ttl_share > 0:
        # setExpire adds an entry to db->expires whose key is the same sds (db.c setExpire)
        out.append(Allocation("expires dict entry", c.chunk(DICT_ENTRY_BYTES), c.ttl_share))
        share = buckets(c.expiring_keys) / max(c.keys, 1)
        out.append(Allocation("expires bucket", DICT_POINTER_BYTES, share))
    return out


def _common_effects(c: _Ctx, allocs: list[Allocation], per_key: float) -> list[tuple[str, CommandEffect]]:
    """NEW, DEL and EXPIRE: they write the db dict's (and expires dict's) bucket array and entries."""
    db_bucket = Rewrite("db bucket", DICT_POINTER_BYTES, buckets(c.db_keys) / max(c.db_keys, 1))
    owned = sum(a.bytes for a in allocs if "bucket" not in a.name)
    expires_entry = c.chunk(DICT_ENTRY_BYTES)
    exp_bucket = Rewrite("expires bucket", DICT_POINTER_BYTES, buckets(max(c.expiring_keys, 1)) / max(c.keys, 1))
    # EXPIRE on a key with a TTL rewrites its expires entry; on one without, it links a new entry (fresh memory)
    # at the head of its bucket (setExpire: dictAddOrFind, then the value), writing only the bucket.
    refresh = (Rewrite("expires dict entry", expires_entry, c.ttl_share, c.ttl_share),) if c.ttl_share else ()
    expire = CommandEffect(
        (*refresh, replace(exp_bucket, count=1 - c.ttl_share)),
        (1 - c.ttl_share) * (expires_entry + DICT_POINTER_BYTES),
    )
    new: tuple[Rewrite, ...] = (db_bucket,)
    # dictGenericDelete unlinks the entry: the bucket when it heads its chain, else the previous entry's next
    # (https://github.com/redis/redis/blob/7.0.15/src/dict.c dictGenericDelete)
    behind = chained_share(c.db_keys)
    delete: tuple[Rewrite, ...] = (
        replace(db_bucket, count=1 - behind),
        Rewrite("db dict entry", c.entry_stride(), 1.0, behind),
        replace(exp_bucket, count=c.ttl_share),
    )
    if c.db_entry() != c.chunk(DICT_ENTRY_BYTES):
        # cluster mode: slotToKeyAdd links the key in front of its slot's list (the old head's prev);
        # slotToKeyDel unlinks it (prev's next, next's prev): https://github.com/redis/redis/blob/7.0.15/src/cluster.c
        new += (Rewrite("db dict entry", c.entry_stride(), 1.0),)
        delete += (Rewrite("db dict entry", c.entry_stride(), 1.0, 2.0),)
    return [("NEW", CommandEffect(new, per_key)), ("DEL", CommandEffect(delete, -owned)), ("EXPIRE", expire)]


def _layout(c: _Ctx, encoding: str, value: list[Allocation], effects: list[tuple[str, CommandEffect]]) -> GroupLayout:
    allocs = _key_allocations(c) + value
    per_key = sum(a.bytes for a in allocs)
    all_effects = effects + _common_effects(c, allocs, per_key)
    return GroupLayout(c.type, encoding, c.keys, per_key, tuple(allocs), tuple(all_effects))


def _string(c: _Ctx, sizes: Sequence[tuple[int, float]], encoding: str) -> GroupLayout:
    """robj + sds, one embstr allocation, or an int-encoded robj (object.c createStringObject, tryObjectEncoding)."""
    robj = c.chunk(ROBJ_BYTES)
    if encoding == "int":
        value = [Allocation("value object (int)", robj, 1.0)]
        rewrite_set = (
            Rewrite("db dict entry", c.entry_stride(), 1.0),
            Rewrite("value object (int)", c.beside_key_name(robj), 1.0),
        )
        append_delta = _mean(sizes, lambda n: c.sds(_greedy(n + c.append_bytes)))
        effects = [
            ("SET", CommandEffect(rewrite_set, 0.0)),
            # incrDecrCommand updates a non-shared int robj in place (only o->ptr is written):
            # https://github.com/redis/redis/blob/7.0.15/src/t_string.c#L614-L626
            ("INCR", CommandEffect((Rewrite("value object (int)", c.beside_key_name(robj), 1.0),), 0.0)),
            ("APPEND", CommandEffect(rewrite_set, append_delta)),
        ]
        return _layout(c, encoding, value, effects)
    if encoding == "embstr":
        size = _mean(sizes, lambda n: c.chunk(ROBJ_BYTES + 3 + n + 1))
        value, value_rw = _per_slot("value (embstr)", sizes, lambda n: c.chunk(ROBJ_BYTES + 3 + n + 1))
        embstr_set = (Rewrite("db dict entry", c.entry_stride(), 1.0), *value_rw)
        # APPEND unshares an embstr into a raw robj + sds grown greedily (dbUnshareStringValue, sdsMakeRoomFor)
        unshared = _mean(sizes, lambda n: robj + c.sds(_greedy(n + c.append_bytes)))
        effects = [("SET", CommandEffect(embstr_set, 0.0)), ("APPEND", CommandEffect(embstr_set, unshared - size))]
        return _layout(c, encoding, value, effects)
    value_bytes, bytes_rw = _per_slot("value bytes", sizes, c.sds)
    value = [Allocation("value object", robj, 1.0), *value_bytes]
    set_rw = (
        Rewrite("db dict entry", c.entry_stride(), 1.0),
        Rewrite("value object", c.beside_key_name(robj), 1.0),
        *bytes_rw,
    )
    # APPEND on a raw string: o->ptr = sdscatlen(o->ptr, ...) writes the sds and the robj (t_string.c
    # appendCommand). sdsMakeRoomFor doubles the length when it reallocates, so over many appends used_memory
    # grows by the appended bytes; the first APPEND after a SET (exact-size sds) costs the doubling: measured
    # 128 B per 16 B append on 100 B values (redis 7.0.15), which this long-run figure does not include.
    append = (Rewrite("value object", c.beside_key_name(robj), 1.0), *bytes_rw)
    effects = [("SET", CommandEffect(set_rw, 0.0)), ("APPEND", CommandEffect(append, float(c.append_bytes)))]
    return _layout(c, encoding, value, effects)


def _greedy(length: int) -> int:
    """Allocated length of an sds grown by sdsMakeRoomFor to ``length`` bytes (doubling below 1 MB)."""
    return 2 * length if length < SDS_MAX_PREALLOC else length + SDS_MAX_PREALLOC


def _packed_value(c: _Ctx, name: str, bytes_: float) -> tuple[Allocation, Allocation, Rewrite, Rewrite]:
    """A listpack/ziplist value: robj + one packed allocation; a write rewrites both (o->ptr is reassigned)."""
    robj = c.chunk(ROBJ_BYTES)
    slot = c.chunk(math.ceil(bytes_))
    return (
        Allocation("value object", robj, 1.0),
        Allocation(name, slot, 1.0),
        Rewrite("value object", c.beside_key_name(robj), 1.0),
        Rewrite(name, slot, 1.0),
    )


def _hash(c: _Ctx, n: int, sizes: Sequence[tuple[int, float]], encoding: str) -> GroupLayout:
    if encoding in ("listpack", "ziplist"):
        lp = packed_bytes(n * (c.packed_text(c.field_size) + _mean(sizes, c.packed)), ziplist=not c.modern)
        obj, pack, obj_rw, pack_rw = _packed_value(c, encoding, lp)
        # hashTypeSet on a listpack replaces the value in place (lpReplace memmoves the tail) and reassigns o->ptr
        eff = CommandEffect((obj_rw, pack_rw), 0.0)
        return _layout(c, encoding, [obj, pack], [("HSET", eff), ("HINCRBY", eff)])
    entry, field_sds, value_sds = c.chunk(DICT_ENTRY_BYTES), c.sds(c.field_size), _mean(sizes, c.sds)
    # converted by count: dictExpand(513) (t_hash.c hashTypeConvertListpack); by a long value: from empty.
    # hashTypeSet does dictFind then dictAdd: two rehash steps per new field (t_hash.c#L229-L240).
    fits = max(c.field_size, max(s for s, _ in sizes)) <= c.params.hash_max_listpack_value
    presized = c.params.hash_max_listpack_entries + 1 if fits else 0
    value = _dict_value(c, n, entry, presized, 2) + [
        Allocation("field", field_sds, n),
        Allocation("field value", round(value_sds), n),
    ]
    # HSET frees the old value sds, then copies the new one, which reuses the freed slot, and stores it in the
    # dictEntry (hashTypeSet, https://github.com/redis/redis/blob/7.0.15/src/t_hash.c#L229-L239). A field's sds,
    # value sds and dictEntry are allocated one after another, so when value and entry share a size class they
    # share a page: one page written. HINCRBY makes the new value first (sdsfromlonglong, HASH_SET_TAKE_VALUE),
    # into a slot some earlier command freed: the entry and another page.
    same = sum(w for size, w in sizes if c.sds(size) == entry)
    other = [(size, w) for size, w in sizes if c.sds(size) != entry]
    hset = []
    if same:
        stride = 2 * entry + (entry if field_sds == entry else 0)  # field, value, entry allocated in a row
        hset.append(Rewrite("field entry + value", stride, n * same, same))
    if other:
        rest = 1 - same
        other_sds = round(_mean(other, c.sds) / rest)
        hset += [Rewrite("field entry", entry, n * rest, rest), Rewrite("field value", other_sds, n * rest, rest)]
    hincr = (Rewrite("field entry", entry, n), Rewrite("field value", round(value_sds), n))
    effects = [("HSET", CommandEffect(tuple(hset), 0.0)), ("HINCRBY", CommandEffect(hincr, 0.0))]
    return _layout(c, encoding, value, effects)


def _dict_value(c: _Ctx, n: int, entry: int, presized: int, steps: int) -> list[Allocation]:
    """robj + dict struct + bucket array(s) + one dictEntry per element."""
    out = [
        Allocation("value object", c.chunk(ROBJ_BYTES), 1.0),
        Allocation("dict", c.dict_struct(), 1.0),
        Allocation("buckets", c.chunk(DICT_POINTER_BYTES * buckets(n)), 1.0),
        Allocation("field entry", entry, n),
    ]
    old, alive = (0, 0.0) if c.from_rdb else rehash_leftover(n, presized, steps)
    if alive > 0.001:
        out.append(Allocation("buckets being rehashed", c.chunk(DICT_POINTER_BYTES * old), alive))
    return out


def _set(c: _Ctx, n: int, sizes: Sequence[tuple[int, float]], encoding: str) -> GroupLayout:
    if encoding == "intset":
        width = _mean(sizes, lambda s: _intset_width(c.integer(s) or 0))
        obj, pack, obj_rw, pack_rw = _packed_value(c, "intset", INTSET_HEADER_BYTES + n * width)
        # intsetAdd/intsetRemove resize (realloc) and memmove the members after the position (intset.c)
        add, rem = CommandEffect((obj_rw, pack_rw), width), CommandEffect((obj_rw, pack_rw), -width)
        return _layout(c, encoding, [obj, pack], [("SADD", add), ("SREM", rem)])
    if encoding == "listpack":
        each = _mean(sizes, c.packed)
        obj, pack, obj_rw, pack_rw = _packed_value(c, "listpack", packed_bytes(n * each, ziplist=False))
        add, rem = CommandEffect((obj_rw, pack_rw), each), CommandEffect((obj_rw, pack_rw), -each)
        return _layout(c, encoding, [obj, pack], [("SADD", add), ("SREM", rem)])
    member = _mean(sizes, c.sds)
    table = buckets(n)
    if sets_use_listpack(c.engine, c.version):
        # 7.2: a bucket holding one member points at the sds itself; the others chain in 16-byte entries
        chained = n - table * (1 - math.exp(-n / table))
        entry_size, entries = c.chunk(NO_VALUE_ENTRY_BYTES), chained
    else:
        entry_size, entries = c.chunk(DICT_ENTRY_BYTES), float(n)
    value = [
        Allocation("value object", c.chunk(ROBJ_BYTES), 1.0),
        Allocation("dict", c.dict_struct(), 1.0),
        Allocation("buckets", c.chunk(DICT_POINTER_BYTES * table), 1.0),
        Allocation("member entry", entry_size, entries),
        Allocation("member", round(member), n),
    ]
    # converted from an intset (7.2: also a listpack) with dictExpand(length) (t_set.c#L249); 7.0 builds a
    # non-integer set as a dict from its first member. setTypeAdd's dictAddRaw is one rehash step per member.
    if c.integers:
        presized = c.params.set_max_intset_entries + 1
    elif sets_use_listpack(c.engine, c.version):
        presized = c.params.set_max_listpack_entries + 1
    else:
        presized = 0
    old, alive = (0, 0.0) if c.from_rdb else rehash_leftover(n, presized, 1)
    if alive > 0.001:
        value.append(Allocation("buckets being rehashed", c.chunk(DICT_POINTER_BYTES * old), alive))
    # setTypeAdd/setTypeRemove link or unlink one entry at the head of its bucket and update ht_used (dict.c)
    touched = (
        Rewrite("dict", c.dict_struct(), 1.0),
        Rewrite("bucket", DICT_POINTER_BYTES, table),
    )
    # SREM unlinks an entry: the previous entry of its chain when it is not the head (dictGenericDelete)
    unlink = (Rewrite("member entry", entry_size, entries, chained_share(n)),) if n > 1 and entries > 0 else ()
    removed = touched + unlink
    # a member's entry and sds, plus the bucket table's doubling amortised over the members that fill it
    per_member = entry_size * entries / n + member + DICT_POINTER_BYTES
    return _layout(
        c,
        encoding,
        value,
        [("SADD", CommandEffect(touched, per_member)), ("SREM", CommandEffect(removed, -per_member))],
    )


def _intset_width(value: int) -> int:
    """Bytes per member of an intset holding ``value`` (INTSET_ENC_INT16/32/64, intset.c _intsetValueEncoding)."""
    if -(2**15) <= value < 2**15:
        return 2
    return 4 if -(2**31) <= value < 2**31 else 8


def _score_entry(c: _Ctx) -> int:
    """Listpack bytes of a score: zzlInsertAt stores d2string(score), an integer when the score is integral."""
    score = c.score
    if score == int(score) and abs(score) < 2**53:
        text = str(int(score))
        return entry_bytes(len(text), int(score), ziplist=not c.modern)
    return entry_bytes(len(repr(score)), None, ziplist=not c.modern)


def _zset(c: _Ctx, n: int, sizes: Sequence[tuple[int, float]], encoding: str) -> GroupLayout:
    if encoding in ("listpack", "ziplist"):
        lp = packed_bytes(n * (_mean(sizes, c.packed) + _score_entry(c)), ziplist=not c.modern)
        obj, pack, obj_rw, pack_rw = _packed_value(c, encoding, lp)
        # zsetAdd on a listpack deletes the member and inserts it at its new rank (zzlDelete + zzlInsert)
        eff = CommandEffect((obj_rw, pack_rw), 0.0)
        return _layout(c, encoding, [obj, pack], [("ZADD", eff), ("ZINCRBY", eff)])
    entry, member = c.chunk(DICT_ENTRY_BYTES), _mean(sizes, c.sds)
    levels = skiplist_levels()
    # zsetConvert makes an empty dict (no dictExpand in 7.0); zsetAdd does dictFind + dictAdd (two steps)
    value = (
        _dict_value(c, n, entry, 0, 2)
        + [
            Allocation("zset", c.chunk(ZSET_STRUCT_BYTES), 1.0),
            Allocation("skiplist", c.chunk(ZSKIPLIST_BYTES), 1.0),
            Allocation("skiplist header", _node_slot(c, ZSKIPLIST_MAXLEVEL), 1.0),
            Allocation("member", round(member), n),
        ]
        + [Allocation(f"skiplist node level {lvl}", _node_slot(c, lvl), n * p) for lvl, p in levels]
    )
    # A new score at another rank (zslUpdateScore, https://github.com/redis/redis/blob/7.0.15/src/t_zset.c#L260-L302):
    # zslDeleteNode and zslInsert each write one predecessor per level of the list (forward or span) and a
    # level-0 neighbour's backward pointer; the old node is written (x->ele = NULL) before it is freed, and the
    # new node lands in the slot the previous update freed (a page already dirty); zsetAdd points the dictEntry
    # at the new node's score. A level-i predecessor is a node of level >= i, or the header.
    hits = {lvl: p for lvl, p in levels}  # the old node: any node
    top = min(ZSKIPLIST_MAXLEVEL, 1 + math.ceil(math.log(max(n, 2), 1 / ZSKIPLIST_P)))
    header_hits = 0.0
    for i in range(1, top + 1):
        above = ZSKIPLIST_P ** (i - 1)  # P(level >= i)
        header = 1 / (1 + n * above)  # no node of level >= i before the position
        header_hits += 2 * header
        for lvl, p in levels:
            weight = (p / above if lvl >= i else 0.0) * 2 * (1 - header)
            hits[lvl] += weight + (2 * p if i == 1 else 0.0)  # the predecessors, and (once) the two neighbours
    # zsetAdd allocates the member sds and then its dictEntry: same class, same pages
    rewrites = [Rewrite("field entry", entry + (entry if round(member) == entry else 0), n)]
    rewrites += [
        Rewrite(f"skiplist node level {lvl}", _node_slot(c, lvl), n * p, hits[lvl])
        for lvl, p in levels
        if n * p >= 0.01
    ]
    header_slot = c.chunk(ZSKIPLIST_NODE_BYTES + ZSKIPLIST_LEVEL_BYTES * ZSKIPLIST_MAXLEVEL)
    rewrites.append(Rewrite("skiplist header", header_slot, 1.0, min(header_hits, 1.0)))
    eff = CommandEffect(tuple(rewrites), 0.0)
    # ZINCRBY by a small step keeps the member's rank: zslUpdateScore's fast path writes the node's score in
    # place ("we can just update the score without actually removing and re-inserting", t_zset.c#L271-L283)
    # and zsetAdd re-points the dictEntry; a score that jumps ranks is written as a ZADD.
    in_place = [rewrites[0]] + [
        Rewrite(f"skiplist node level {lvl}", _node_slot(c, lvl), n * p, p) for lvl, p in levels if n * p >= 0.01
    ]
    return _layout(c, encoding, value, [("ZADD", eff), ("ZINCRBY", CommandEffect(tuple(in_place), 0.0))])


def _node_slot(c: _Ctx, level: int) -> int:
    """Allocator slot of a skiplist node of ``level`` levels (zslCreateNode)."""
    return c.chunk(ZSKIPLIST_NODE_BYTES + ZSKIPLIST_LEVEL_BYTES * level)


def _list(c: _Ctx, n: int, sizes: Sequence[tuple[int, float]], encoding: str) -> GroupLayout:
    each = _mean(sizes, c.packed)
    mean_size = round(_mean(sizes, float))
    if encoding == "listpack":
        obj, pack, obj_rw, pack_rw = _packed_value(c, "listpack", packed_bytes(n * each, ziplist=False))
        push, pop = CommandEffect((obj_rw, pack_rw), each), CommandEffect((obj_rw, pack_rw), -each, True)
        effects = [("LPUSH", push), ("RPUSH", push), ("LPOP", pop), ("RPOP", pop)]
        return _layout(c, encoding, [obj, pack], effects)
    ziplist = not c.modern
    cap = list_node_capacity(mean_size, c.params, entry=math.ceil(each))
    full, rest = divmod(n, cap)
    node_struct = c.chunk(QUICKLIST_NODE_BYTES if c.modern else QUICKLIST_NODE_BYTES_6)
    full_pack = c.chunk(math.ceil(packed_bytes(cap * each, ziplist)))
    nodes = full + (1 if rest else 0)
    pack_total = full * full_pack + (c.chunk(math.ceil(packed_bytes(rest * each, ziplist))) if rest else 0)
    value = [
        Allocation("value object", c.chunk(ROBJ_BYTES), 1.0),
        Allocation("quicklist", c.chunk(QUICKLIST_BYTES), 1.0),
        Allocation("quicklist node", node_struct, nodes),
        Allocation("listpack" if c.modern else "ziplist", round(pack_total / nodes), nodes),
    ]
    # The list is modelled as built by pushes to its tail (RPUSH, as the harness fills): the head node is full
    # and the tail node holds the rest. A push or pop edits its end node's listpack (lpInsert/lpDelete; a head
    # edit memmoves all of it) and updates the node's sz/count and the quicklist's count (quicklistPushHead,
    # quicklistDelIndex in quicklist.c). A push onto a full end node makes a new node instead
    # (_quicklistNodeAllowInsert): memory the fork did not share, so nothing of the old listpack is copied
    # (real server: 100-190 pages copied by 1,500 LPUSH onto full heads against 2,500 onto partial ones).
    # Pops drain their end node first, then the full nodes behind it, one per ``cap`` pops.
    dumped = full * packed_bytes(cap * each, ziplist) + (packed_bytes(rest * each, ziplist) if rest else 0)
    # The child releases a quicklist's node listpacks only when the key's dump averages a page or more per
    # node (dismissListObject, https://github.com/redis/redis/blob/7.0.15/src/object.c#L377-L396); values
    # LZF compresses well dump far smaller than they sit in memory.
    dismissable = not c.compressible and dumped / nodes >= OS_PAGE_BYTES
    head = min(n, cap)
    tail = rest or head

    def end(which: str, items: int) -> tuple[Rewrite, ...]:
        """The listpack of the ``which`` end node, holding ``items`` (one node: both ends are the same)."""
        name = f"{which} listpack" if nodes > 1 else "only listpack"
        return (Rewrite(name, c.chunk(math.ceil(packed_bytes(items * each, ziplist))), 1.0, 1.0, dismissable),)

    metadata = (Rewrite("quicklist", c.chunk(QUICKLIST_BYTES), 1.0), Rewrite("quicklist end node", node_struct, 1.0))
    behind = (Rewrite("listpack behind the end", full_pack, nodes - 1, 1 / cap, dismissable),) if nodes > 1 else ()
    step = each + (node_struct + full_pack - cap * each) / cap
    effects = [
        ("LPUSH", CommandEffect(metadata + (() if head == cap else end("head", head)), step)),
        ("RPUSH", CommandEffect(metadata + (() if tail == cap else end("tail", tail)), step)),
        ("LPOP", CommandEffect(metadata + end("head", head) + behind, -step, True)),
        ("RPOP", CommandEffect(metadata + end("tail", tail) + behind, -step, True)),
    ]
    return _layout(c, encoding, value, effects)


BUILDERS = {"string": None, "hash": _hash, "set": _set, "zset": _zset, "list": _list}


def _split(
    c: _Ctx, n: int, sizes: Sequence[tuple[int, float]]
) -> list[tuple[float, str, tuple[tuple[int, float], ...]]]:
    """(share, encoding, element sizes) of the keys with ``n`` elements: a key is small-encoded only while every
    element fits the value limit, so with sizes drawn independently that share is F(limit)^n."""
    encs: dict[str, list[tuple[int, float]]] = {}
    for size, weight in sizes:
        enc = encoding_of(c.type, n, size, c.integers, c.params, c.version, c.engine, c.field_size)
        encs.setdefault(enc, []).append((size, weight))
    if c.type == "list":  # a list's nodes are sized by the mean item, so one encoding for all its sizes
        mean = round(sum(s * w for s, w in sizes))
        return [(1.0, encoding_of("list", n, mean, c.integers, c.params, c.version, c.engine), tuple(sizes))]
    if len(encs) == 1 or c.type == "string":
        return [(sum(w for _, w in s), e, _normal(s)) for e, s in encs.items()]
    big = encoding_of(c.type, n, 2**31, False, c.params, c.version, c.engine, c.field_size)
    small_enc = next(e for e in encs if e != big)
    small = encs[small_enc]
    fits = sum(w for _, w in small)
    share_small = fits**n
    # element sizes of the large-encoded keys: the overall distribution minus the small keys' part
    big_sizes = [(s, w - (share_small * w / fits if (s, w) in small else 0.0)) for s, w in sizes]
    big_sizes = [(s, max(w, 0.0)) for s, w in big_sizes]
    out = [(share_small, small_enc, _normal(small))]
    if share_small < 1:
        out.append((1 - share_small, big, _normal(big_sizes)))
    return [o for o in out if o[0] > 0]


def _normal(pairs: Sequence[tuple[int, float]]) -> tuple[tuple[int, float], ...]:
    total = sum(w for _, w in pairs)
    return tuple((s, w / total) for s, w in pairs if w > 0)


def group_layouts(
    type_: str,
    keys: int,
    elements: Dist,
    element_size: Dist,
    *,
    field_size: int = 10,
    key_size: int = 16,
    integers: bool = False,
    ttl_share: float = 0.0,
    params: Any = None,
    engine_version: str = "7.0.15",
    engine: str = "redis",
    allocator: str = "jemalloc",
    db_keys: int | None = None,
    score: float = 1000.0,
    append_bytes: int = 16,
    from_rdb: bool = False,
    cluster: bool = False,
    compressible: bool = False,
) -> tuple[tuple[float, GroupLayout], ...]:
    """(share of the group's keys, layout) per encoding the group's keys take.

    ``elements``/``element_size``: per key count and per element size (hash: the field value; string: the
    value) as a number or a distribution. ``db_keys``: keys in the whole db (the db dict's bucket array is
    shared by all groups; default ``keys``). ``score``: a typical zset score (integral scores pack smaller).
    ``from_rdb``: keys loaded from an RDB have presized dicts; keys built by commands may keep a half-rehashed
    old bucket table (:func:`rehash_leftover`). ``cluster``: cluster mode (larger db dict entries on 7.0-7.2).
    ``compressible``: the values compress well and the save compresses them (which pages the child releases).
    """
    if type_ not in COMMANDS:
        raise ValueError(f"unknown type {type_!r}; allowed: {', '.join(COMMANDS)}")
    c = _Ctx(
        type=type_,
        keys=keys,
        db_keys=db_keys or keys,
        key_size=key_size,
        field_size=field_size,
        integers=integers,
        ttl_share=ttl_share,
        expiring_keys=keys * ttl_share,
        params=params or EncodingParams(),
        version=engine_version,
        engine=engine,
        chunk=jemalloc_size_class if allocator == "jemalloc" else libc_chunk_size,
        score=score,
        append_bytes=append_bytes,
        from_rdb=from_rdb,
        cluster=cluster,
        compressible=compressible,
    )
    sizes = _whole(points(element_size))
    counts = ((1, 1.0),) if type_ == "string" else _whole(points(elements))
    parts: dict[str, list[tuple[float, GroupLayout]]] = {}
    for n, weight in counts:
        for share, enc, enc_sizes in _split(c, n, sizes):
            if type_ == "string":
                layout = _string(c, enc_sizes, enc)
            else:
                layout = BUILDERS[type_](c, n, enc_sizes, enc)  # type: ignore[misc]
            parts.setdefault(enc, []).append((weight * share, layout))
    return tuple((sum(w for w, _ in group), merge(group)) for group in parts.values())


def merge(weighted: Sequence[tuple[float, GroupLayout]]) -> GroupLayout:
    """One layout standing for several of the same encoding: allocations and rewrites keep their sizes, their
    ``per_key`` and ``count`` scaled by each part's share (and summed where name and size agree), so the
    units and hits of every slot size stay right."""
    if len(weighted) == 1:
        return weighted[0][1]
    total = sum(w for w, _ in weighted)
    shares = [(w / total, lay) for w, lay in weighted]
    first = shares[0][1]
    allocs: dict[tuple[str, int], float] = {}
    for s, lay in shares:
        for a in lay.allocations:
            allocs[(a.name, a.size)] = allocs.get((a.name, a.size), 0.0) + a.per_key * s
    effects = []
    for command, _ in first.effects:
        hits: dict[tuple[str, int], tuple[float, float]] = {}
        for s, lay in shares:
            for r in lay.effect(command).rewrites:
                units, count = hits.get((r.name, r.size), (0.0, 0.0))
                hits[(r.name, r.size)] = (units + r.per_key * s, count + r.count * s)
        rewrites = tuple(Rewrite(name, size, units, count) for (name, size), (units, count) in hits.items())
        delta = sum(s * lay.effect(command).used_memory_delta for s, lay in shares)
        effects.append((command, CommandEffect(rewrites, delta)))
    per_key = sum(s * lay.bytes_per_key for s, lay in shares)
    merged = tuple(Allocation(name, size, per_key) for (name, size), per_key in allocs.items())
    return GroupLayout(first.type, first.encoding, first.keys, per_key, merged, tuple(effects))
