"""Typed-key layouts and encodings as pure functions: closed forms, version rules, properties, Monte-Carlo."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.physics.datatypes import (
    COMMANDS,
    buckets,
    chained_share,
    group_layouts,
    rehash_leftover,
    skiplist_levels,
)
from sim.physics.encodings import EncodingParams, encoding_of, list_node_capacity
from sim.physics.listpack import listpack_entry_bytes, ziplist_entry_bytes

P = EncodingParams()


def one(type_, keys, elements, size, **kw):
    (share, layout), *rest = group_layouts(type_, keys, elements, size, **kw)
    assert share == 1.0 and not rest
    return layout


def test_a_listpack_hash_by_hand():
    """20 fields of 10 B and values of 30 B: 7 + 20 * ((1+10+1) + (1+30+1)) = 887 B -> jemalloc class 896."""
    layout = one("hash", 1024, 20, 30, key_size=16)
    sizes = {a.name: a.size for a in layout.allocations}
    assert sizes["listpack"] == 896
    # dictEntry 32 + key sds 32 (1+16+1) + robj 16 + listpack 896 + 8 B of bucket per key (1024 buckets)
    assert layout.bytes_per_key == 32 + 32 + 16 + 896 + 8


def test_string_encodings_by_hand():
    embstr = one("string", 1024, 1, 44, key_size=16)
    raw = one("string", 1024, 1, 45, key_size=16)
    assert embstr.encoding == "embstr" and raw.encoding == "raw"
    assert {a.name: a.size for a in embstr.allocations}["value (embstr)"] == 64  # 16 + 3 + 44 + 1
    # robj 16 + sds 3 + 45 + 1 = 49 -> 64
    assert raw.bytes_per_key - embstr.bytes_per_key == 16 + 64 - 64


def test_listpack_entry_sizes():
    assert listpack_entry_bytes(63) == 1 + 63 + 1
    assert listpack_entry_bytes(64) == 2 + 64 + 1
    assert listpack_entry_bytes(200) == 2 + 200 + 2  # 202 encoded bytes need a two-byte backlen
    assert listpack_entry_bytes(3, integer=100) == 2  # 7-bit uint + backlen
    assert listpack_entry_bytes(4, integer=1000) == 3  # 13-bit int
    assert ziplist_entry_bytes(10, previous=12) == 1 + 1 + 10
    assert ziplist_entry_bytes(10, previous=300) == 5 + 1 + 10
    assert ziplist_entry_bytes(1, integer=7) == 1 + 1  # 0..12 live in the encoding byte


@pytest.mark.parametrize(
    ("type_", "limit_field", "value_field"),
    [
        ("hash", "hash_max_listpack_entries", "hash_max_listpack_value"),
        ("zset", "zset_max_listpack_entries", "zset_max_listpack_value"),
    ],
)
def test_listpack_switch_exactly_at_the_thresholds(type_, limit_field, value_field):
    entries, value = getattr(P, limit_field), getattr(P, value_field)
    small = "listpack"
    big = "hashtable" if type_ == "hash" else "skiplist"
    assert encoding_of(type_, entries, value, False, P, "7.0.15") == small
    assert encoding_of(type_, entries + 1, value, False, P, "7.0.15") == big
    assert encoding_of(type_, entries, value + 1, False, P, "7.0.15") == big
    assert encoding_of(type_, entries, value, False, P, "6.2.6") == "ziplist"


def test_set_encodings_by_version():
    assert encoding_of("set", 512, 5, True, P, "7.0.15") == "intset"
    assert encoding_of("set", 513, 5, True, P, "7.0.15") == "hashtable"
    assert encoding_of("set", 10, 5, False, P, "7.0.15") == "hashtable"  # no listpack sets before 7.2
    assert encoding_of("set", 128, 64, False, P, "7.2.4") == "listpack"
    assert encoding_of("set", 129, 64, False, P, "7.2.4") == "hashtable"
    assert encoding_of("set", 10, 5, False, P, "8.0.1", engine="valkey") == "listpack"
    assert encoding_of("list", 10, 5, False, P, "7.0.15") == "quicklist"
    assert encoding_of("list", 10, 5, False, P, "7.2.4") == "listpack"


def test_default_thresholds_are_the_compiled_in_ones():
    """config.c of 7.0.15: hash 512/64, zset 128/64, intset 512, list -2 (the README of SPEC10 said 128 for hashes)."""
    assert (P.hash_max_listpack_entries, P.hash_max_listpack_value) == (512, 64)
    assert (P.zset_max_listpack_entries, P.set_max_intset_entries, P.list_max_listpack_size) == (128, 512, -2)
    aliased = EncodingParams.from_mapping({"hash-max-ziplist-entries": 64, "zset-max-listpack-value": 32})
    assert aliased.hash_max_listpack_entries == 64 and aliased.zset_max_listpack_value == 32


def test_quicklist_node_capacity_fills_8kb():
    """-2: a node admits an item while listpack bytes + item + 8 <= 8192; closed form for 50 B items (52 B each)."""
    cap = list_node_capacity(50, P)
    assert 7 + (cap - 1) * 52 + 50 + 8 <= 8192 < 7 + cap * 52 + 50 + 8
    assert list_node_capacity(50, EncodingParams(list_max_listpack_size=-1)) < cap
    assert list_node_capacity(50, EncodingParams(list_max_listpack_size=16)) == 16


def test_skiplist_levels_are_geometric():
    levels = skiplist_levels()
    assert sum(p for _, p in levels) == pytest.approx(1.0)
    assert sum(lvl * p for lvl, p in levels) == pytest.approx(1 / (1 - 0.25), rel=1e-9)
    # zslRandomLevel, simulated: level += 1 while (random() & 0xFFFF) < 0.25 * 0xFFFF
    rng = random.Random(3)
    draws = []
    for _ in range(200_000):
        level = 1
        while (rng.getrandbits(16)) < 0.25 * 0xFFFF and level < 32:
            level += 1
        draws.append(level)
    assert sum(draws) / len(draws) == pytest.approx(4 / 3, rel=0.01)


def test_rehash_leftover_against_a_simulated_dict():
    """Insert keys one by one into a chained table that doubles at 1:1 and moves one non-empty old bucket per
    step (dict.c); the share of 400 simulated dicts whose old table is still alive matches the model."""
    rng = random.Random(5)

    def alive(n: int, steps: int) -> bool:
        size, old, rehash = 4, None, 0
        table = [0] * 4
        for i in range(n):
            for _ in range(steps):
                if old is not None:
                    empty = 0
                    while rehash < len(old) and old[rehash] == 0 and empty < 10:
                        rehash += 1
                        empty += 1
                    if rehash < len(old) and old[rehash]:
                        for _ in range(old[rehash]):
                            table[rng.randrange(size)] += 1
                        old[rehash] = 0
                        rehash += 1
                    if not any(old):  # ht_used[0] == 0: the old table is freed at the end of the step
                        old = None
            if old is None and i >= size:
                old, table, size, rehash = table, [0] * (2 * size), 2 * size, 0
            table[rng.randrange(size)] += 1
        return old is not None

    for n, steps in ((50, 1), (52, 1), (40, 1), (20, 2), (300, 2), (140, 1)):
        share = sum(alive(n, steps) for _ in range(400)) / 400
        assert rehash_leftover(n, 0, steps)[1] == pytest.approx(share, abs=0.1), (n, steps, share)
    assert rehash_leftover(600, 513, 2) == (0, 0.0)  # presized to 1024 by the conversion: no doubling yet
    assert rehash_leftover(300, 0, 2)[0] == 256


@settings(max_examples=60, deadline=None)
@given(
    type_=st.sampled_from(["string", "hash", "set", "zset", "list"]),
    elements=st.integers(1, 700),
    size=st.integers(1, 5000),
)
def test_memory_grows_with_element_size(type_, elements, size):
    """A larger element never takes less memory (within an encoding, and across the listpack switch)."""

    def total(s):
        return sum(sh * lay.bytes_per_key for sh, lay in group_layouts(type_, 1000, elements, s))

    assert total(size + 1) >= total(size) - 1e-9


@settings(max_examples=40, deadline=None)
@given(type_=st.sampled_from(["hash", "set", "zset"]), elements=st.integers(1, 60), low=st.integers(5, 60))
def test_a_spread_over_the_value_limit_splits_keys_by_the_power_law(type_, elements, low):
    """Independent sizes: a key stays small-encoded only if all its elements fit, probability F(limit)^n."""
    layouts = group_layouts(type_, 1000, elements, [(low, 0.3), (100, 0.7)], engine_version="7.2.4")  # listpack sets
    small = sum(share for share, lay in layouts if lay.encoding == "listpack")
    assert small == pytest.approx(0.3**elements, abs=1e-12)
    assert sum(share for share, _ in layouts) == pytest.approx(1.0)


def test_counts_spread_lays_out_each_count():
    mixed = group_layouts("hash", 1000, [(10, 0.5), (1000, 0.5)], 20)
    by_encoding = {lay.encoding: (share, lay) for share, lay in mixed}
    assert by_encoding["listpack"][0] == by_encoding["hashtable"][0] == 0.5
    assert by_encoding["listpack"][1].bytes_per_key == one("hash", 1000, 10, 20).bytes_per_key
    merged = group_layouts("hash", 1000, [(10, 0.5), (20, 0.5)], 20)
    assert len(merged) == 1
    expected = (one("hash", 1000, 10, 20).bytes_per_key + one("hash", 1000, 20, 20).bytes_per_key) / 2
    assert merged[0][1].bytes_per_key == pytest.approx(expected)
    # rewrites of the merged layout keep units (per_key) and hits (count) in proportion
    rewrites = [r for r in merged[0][1].effect("HSET").rewrites if r.name == "listpack"]
    assert sum(r.count for r in rewrites) == pytest.approx(1.0)
    assert sum(r.per_key for r in rewrites) == pytest.approx(1.0)


def test_command_effects():
    counter = one("string", 1000, 1, 8, integers=True)
    assert [r.name for r in counter.effect("INCR").rewrites] == ["value object (int)"]  # in place, t_string.c
    raw = one("string", 1000, 1, 500)
    assert {r.name for r in raw.effect("SET").rewrites} == {"db dict entry", "value object", "value bytes"}
    assert raw.effect("APPEND").used_memory_delta == 16
    assert raw.effect("NEW").used_memory_delta == raw.bytes_per_key
    assert raw.effect("DEL").used_memory_delta < 0
    table = one("hash", 1000, 1000, 20)
    # 20 B values: sds 1+20+1 -> 32 B, the dictEntry's class: allocated together, one page per HSET
    (pair,) = table.effect("HSET").rewrites
    assert (pair.name, pair.size, pair.per_key, pair.count) == ("field entry + value", 64, 1000, 1)
    apart = one("hash", 1000, 1000, 100).effect("HSET").rewrites
    assert [(r.name, r.size, r.count) for r in apart] == [("field entry", 32, 1), ("field value", 112, 1)]
    packed = one("hash", 1000, 20, 20)
    assert any(r.name == "listpack" and r.per_key == 1 for r in packed.effect("HSET").rewrites)
    queue = one("list", 1000, 5000, 50)
    assert queue.effect("LPUSH").used_memory_delta == pytest.approx(-queue.effect("RPOP").used_memory_delta)
    assert 52 < queue.effect("LPUSH").used_memory_delta < 60  # entry + its share of node overhead
    # pops free the node listpacks they drained (wrote); DEL frees memory it never wrote
    assert queue.effect("RPOP").frees_written and queue.effect("LPOP").frees_written
    assert not queue.effect("LPUSH").frees_written and not raw.effect("DEL").frees_written
    with pytest.raises(ValueError, match="HSET, HINCRBY, NEW, DEL, EXPIRE"):
        packed.effect("ZADD")


def test_skiplist_zadd_hits_high_level_nodes_more_often_than_their_share():
    """Per update: the old node, two neighbours and two predecessors per level (delete + insert); a level-i
    predecessor has level >= i, so tall nodes (few) take many hits: hits per node grow with the level."""
    layout = one("zset", 1000, 5000, 20)
    nodes = [r for r in layout.effect("ZADD").rewrites if r.name.startswith("skiplist node")]
    assert [r.size for r in nodes[:4]] == [48, 64, 80, 96]  # 24 + 16 * level, jemalloc classes
    per_node = [r.count / r.per_key for r in nodes]
    assert per_node == sorted(per_node)
    levels = math.ceil(math.log(5000, 4)) + 1
    # every update writes 1 + 2 + 2 * levels nodes; a level's predecessor is the header (one allocation,
    # written once) when no node of that level precedes the position: about 1 / (1 + n 4^(1-i))
    to_header = sum(2 / (1 + 5000 * 0.25 ** (i - 1)) for i in range(1, levels + 1))
    assert sum(r.count for r in nodes) == pytest.approx(1 + 2 + 2 * levels - to_header, rel=0.01)
    header = next(r for r in layout.effect("ZADD").rewrites if r.name == "skiplist header")
    assert header.count == pytest.approx(min(1.0, to_header))


def test_ttl_and_db_table_shares():
    plain = one("string", 3000, 1, 100)
    ttl = one("string", 3000, 1, 100, ttl_share=0.5)
    # half the keys hold a 32 B expires dictEntry; 1500 of them share a 2048-bucket table
    assert ttl.bytes_per_key - plain.bytes_per_key == pytest.approx(0.5 * 32 + 8 * 2048 / 3000)
    assert buckets(3000) == 4096 and buckets(4096) == 4096 and buckets(1) == 4


def test_every_type_answers_its_commands():
    for type_, commands in COMMANDS.items():
        for _, layout in group_layouts(type_, 100, 30, 20):
            for command in (*commands, "NEW", "DEL", "EXPIRE"):
                if command == "INCR" and layout.encoding != "int":
                    continue
                effect = layout.effect(command)
                assert all(r.size > 0 and r.per_key > 0 for r in effect.rewrites)


def test_chained_share_against_random_hashing():
    """Share of entries behind another in their bucket: Monte-Carlo of uniform hashing vs the closed form."""
    rng = random.Random(11)
    for n in (40_000, 3_000, 100):
        table = buckets(n)
        counts: dict[int, int] = {}
        for _ in range(n):
            slot = rng.randrange(table)
            counts[slot] = counts.get(slot, 0) + 1
        assert chained_share(n) == pytest.approx(1 - len(counts) / n, abs=0.02)


def test_del_and_expire_rewrites():
    """DEL writes the bucket or, for a key behind another in its chain, that entry; EXPIRE rewrites an entry
    only for keys that already have a TTL (a new one is fresh memory)."""
    plain = one("string", 40_000, 1, 100)
    rewrites = {r.name: r for r in plain.effect("DEL").rewrites}
    assert rewrites["db dict entry"].count == pytest.approx(chained_share(40_000))
    assert rewrites["db bucket"].count == pytest.approx(1 - chained_share(40_000))
    assert [r.name for r in plain.effect("EXPIRE").rewrites] == ["expires bucket"]
    half = one("string", 40_000, 1, 100, ttl_share=0.5)
    refresh = next(r for r in half.effect("EXPIRE").rewrites if r.name == "expires dict entry")
    assert (refresh.per_key, refresh.count) == (0.5, 0.5)
