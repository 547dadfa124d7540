"""Typed key groups through the whole pipeline: the shorthand's figures, TTL expiry, eviction policies,
fragmentation, locality."""

import numpy as np
import pytest

from sim.prepare import prepare
from sim.run import run
from sim.scenario import parse_scenario

NODE = "node: {memory: 2GiB, reserved_memory_percent: 25}\nplatform: lab\nbackup: {method: fork}\n"


def scenario(text: str):
    return parse_scenario(NODE + text, source="typed.yaml")


def summary(text: str) -> dict:
    return run(scenario(text), timeline=False).summary


def test_one_string_group_is_the_shorthand():
    """The shorthand is one string group: spelled out as a group, every figure is the same."""
    load = "workload: {writes_per_sec: 30k, key_distribution: {zipf: 0.9}}\n"
    short = summary("dataset: {keys: 800k, value_size: 700B}\n" + load)
    typed = summary("dataset: {groups: [{name: strings, keys: 800k, element_size: 700B}]}\n" + load)
    for key in (
        "cow_peak_bytes",
        "used_memory_bytes",
        "rss_bytes",
        "rdb_bytes",
        "save_duration_s",
        "peak_memory_bytes",
    ):
        assert typed[key] == pytest.approx(short[key], rel=1e-9), key
    assert typed["used_memory_by_group"]["strings"] == pytest.approx(short["used_memory_by_group"]["strings"], rel=1e-6)


def test_keys_expire_at_share_times_keys_over_the_mean_ttl():
    s = summary(
        "dataset: {groups: [{name: s, keys: 600k, element_size: 100B, ttl: {share: 50%, mean: 10min}}]}\n"
        "workload: {writes_per_sec: 10k}\nsimulation: {before: 30s, after: 30s}\n"
    )
    simulated = 30 + s["backup_duration_s"] + 30
    assert s["expired_keys"] == pytest.approx(300_000 / 600 * simulated, rel=0.02)


GROWING = (
    "dataset:\n  groups:\n"
    "    - {name: s, keys: 1M, element_size: 1KB, ttl: {share: %s, mean: 1d}}\n"
    "workload: {writes_per_sec: 20k, mix: [{group: s, command: NEW, share: 100%%}]}\n"
    "engine: {parameters: {maxmemory-policy: %s}}\nsimulation: {after: 10min}\n"
)


def test_allkeys_policy_evicts_to_stay_at_maxmemory():
    s = summary(GROWING % ("0%", "allkeys-lru"))
    assert s["evicted_keys"] > 0 and s["rejected_writes"] == 0 and s["outcome"] == "ok"
    assert any("allkeys-lru evicted" in w for w in s["warnings"])
    # what enters past maxmemory leaves: new keys x their size = evicted keys x theirs (same size here)
    room = (s["maxmemory_bytes"] - s["used_memory_bytes"]) / (s["used_memory_bytes"] / 1e6)
    simulated = s["backup_duration_s"] + 600 + 1.0
    assert s["evicted_keys"] == pytest.approx(20_000 * simulated - room, rel=0.03)


def test_noeviction_and_volatile_without_ttl_keys_refuse_the_writes():
    for policy in ("noeviction", "volatile-lru"):
        s = summary(GROWING % ("0%", policy))
        assert s["evicted_keys"] == 0 and s["rejected_writes"] > 0, policy
        assert any(f"{policy} refused" in w for w in s["warnings"]), policy


def test_volatile_policy_evicts_only_keys_with_a_ttl_then_refuses():
    s = summary(GROWING % ("1%", "volatile-ttl"))
    assert s["evicted_keys"] == pytest.approx(10_000, rel=0.02)  # 1 % of 1M keys carry a TTL
    assert s["rejected_writes"] > 0


def test_evicting_during_the_save_copies_the_pages_of_reused_slots():
    """At maxmemory, allkeys-lru frees slots the new keys reuse: no RSS growth, but copy-on-write of the pages
    they sit on; noeviction refuses the new keys, so neither grows."""
    near = GROWING.replace("keys: 1M", "keys: 1.4M")  # ~50 MB below maxmemory
    evicting, refusing = (summary(near % ("0%", policy)) for policy in ("allkeys-lru", "noeviction"))
    assert evicting["evicted_keys"] > 100_000 and refusing["rejected_writes"] > 100_000
    assert evicting["cow_peak_bytes"] > refusing["cow_peak_bytes"] + 100 * 1024**2
    grown = evicting["peak_memory_bytes"] - evicting["cow_peak_bytes"] - evicting["rss_bytes"]
    assert grown < 1.01 * (evicting["maxmemory_bytes"] - evicting["used_memory_bytes"]) + 20 * 1024**2


def test_fragmentation_sets_the_rss():
    base = "dataset: {groups: [{name: s, keys: 500k, element_size: 200B}]%s}\nworkload: {writes_per_sec: 1k}\n"
    plain, fragmented = (prepare(scenario(base % extra)) for extra in ("", ", fragmentation: 1.5"))
    assert fragmented.rss - plain.rss == pytest.approx(
        plain.used_memory * (1.5 - plain.platform.memory.fragmentation), rel=1e-6
    )


def test_clustered_hot_keys_copy_less_than_scattered_ones():
    text = (
        "dataset: {groups: [{name: h, type: hash, keys: 2M, elements: 4, element_size: 20B, locality: %s}]}\n"
        "workload: {writes_per_sec: 40k, key_distribution: {zipf: 1.1}}\n"
    )
    scattered, clustered = (summary(text % where)["cow_peak_bytes"] for where in ("scattered", "clustered"))
    assert clustered < 0.8 * scattered


def test_incr_rewrites_one_small_object_set_rewrites_three_allocations():
    """INCR updates an int-encoded robj (16 B slots, 256 to a page) in place; SET on a raw value rewrites
    entry, robj and value."""
    incr = "dataset: {groups: [{name: c, keys: 2M, values: integers}]}\n" + (
        "workload: {writes_per_sec: 2k, mix: [{group: c, command: INCR, share: 100%}]}\n"
    )
    counters = summary(incr)
    strings = summary(
        "dataset: {groups: [{name: s, keys: 2M, element_size: 100B}]}\n"
        "workload: {writes_per_sec: 2k, mix: [{group: s, command: SET, share: 100%}]}\n"
    )
    base = prepare(scenario(incr)).cow.base_bytes
    pages, writes = 2_000_000 * 16 / 4096, 2_000 * counters["backup_duration_s"]  # uniform writes: P (1 - e^(-n/P))
    assert counters["cow_peak_bytes"] - base == pytest.approx(4096 * pages * -np.expm1(-writes / pages), rel=0.03)
    assert strings["cow_peak_bytes"] - base > 2.5 * (counters["cow_peak_bytes"] - base)


def test_a_cluster_splits_every_group_over_its_shards():
    text = (
        "dataset: {groups: [{name: a, keys: 800k, element_size: 100B},\n"
        "                   {name: b, type: set, keys: 40k, elements: 30}]}\n"
        "workload: {writes_per_sec: 8k}\ncluster: {shards: 4}\n"
    )
    whole = summary(text.replace("cluster: {shards: 4}\n", ""))
    shard = summary(text)
    for name in ("a", "b"):
        assert shard["used_memory_by_group"][name] == pytest.approx(whole["used_memory_by_group"][name] / 4, rel=0.01)


def test_a_queue_refills_its_own_slots_not_another_groups():
    """Pushes reuse freed list-node slots: a big group of small strings beside the queue leaves the slot sizes
    new allocations use to the queue's own (growth-weighted)."""
    from sim.keymodel import key_model

    queue = "{name: q, type: list, keys: 500, elements: 500, element_size: 200B}"
    mix = (
        "workload: {writes_per_sec: 2k, "
        "mix: [{group: q, command: LPUSH, share: 60%}, {group: q, command: RPOP, share: 40%}]}"
    )
    alone = key_model(parse_scenario(f"node: {{memory: 2GiB}}\ndataset: {{groups: [{queue}]}}\n{mix}\n"), 2**31, 4096)
    beside = key_model(
        parse_scenario(
            f"node: {{memory: 2GiB}}\ndataset: {{groups: [{queue}, {{name: s, keys: 3M, element_size: 8B}}]}}\n{mix}\n"
        ),
        2**31,
        4096,
    )
    assert dict(zip(beside.slot_sizes, beside.slot_byte_shares, strict=True)) == pytest.approx(
        dict(zip(alone.slot_sizes, alone.slot_byte_shares, strict=True))
    )


@pytest.mark.parametrize(
    "engine, unchecked",
    [
        ("{name: redis, version: 7.0.15}", False),
        ("{name: redis, version: 7.2.4}", True),
        ("{name: valkey, version: 9.1.2}", True),
    ],
)
def test_typed_groups_are_unvalidated_on_engines_no_harness_run_used(engine, unchecked):
    """Typed layouts were checked on Redis 7.0 only; other versions' layouts come from their sources."""
    s = summary(
        f"engine: {engine}\ndataset: {{groups: [{{name: h, type: hash, keys: 100k, elements: 10}}]}}\n"
        "workload: {writes_per_sec: 1k}\n"
    )
    assert any(u.startswith("typed key groups") for u in s["unvalidated"]) == unchecked


def test_lpush_onto_lists_built_by_rpush_warns_what_a_rotated_queue_would_add():
    """Lists are laid out as RPUSH builds them (head nodes full): LPUSH copies no listpack. A rotated queue's
    half-full head nodes would: the warning bounds that by half a node listpack per list."""
    queue = "dataset: {groups: [{name: q, type: list, keys: 10k, elements: %d, element_size: 100B}]}\n"
    mix = (
        "workload: {writes_per_sec: 5k, mix: [{group: q, command: %s, share: 50%%}, "
        "{group: q, command: RPOP, share: 50%%}]}\n"
    )
    p = prepare(scenario(queue % 400 + mix % "LPUSH"))
    (line,) = [w for w in p.warnings if "built by RPUSH" in w]
    bound = float(line.split("up to ")[1].split(" MiB")[0]) * 2**20
    assert 10_000 * 2048 < bound <= 10_000 * 4096  # half of a node listpack of at most 8 KB (list-max-listpack-size -2)
    for text in (queue % 400 + mix % "RPUSH", queue % 40 + mix % "LPUSH"):  # RPUSH only; one node with room
        assert not any("built by RPUSH" in w for w in prepare(scenario(text)).warnings)
