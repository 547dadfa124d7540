"""Typed data in a scenario: key groups, the write mix and engine parameters, validated and normalized."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.keydist import Zipf
from sim.keygroups import LOGNORMAL_POINTS, SizeLogNormal, Spread, spread_of
from sim.scenario import ScenarioError, parse_scenario

NODE = "node: {memory: 2GiB}\n"


def scenario(text: str):
    return parse_scenario(NODE + text, source="typed.yaml")


def error(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        scenario(text)
    return str(caught.value)


MIXED = """
dataset:
  groups:
    - {name: sessions, type: hash, keys: 200k, elements: 20, element_size: 64B, ttl: {share: 30%, mean: 1h}}
    - {name: counters, keys: 1M, values: integers, key_distribution: {zipf: 0.99}, locality: clustered}
    - {name: queue, type: list, keys: 10, elements: 1000, element_size: 200B}
workload:
  writes_per_sec: 20k
  mix:
    - {group: sessions, command: hset, share: 60%}
    - {group: counters, command: INCR, share: 30%}
    - {group: queue, command: LPUSH, share: 5%}
    - {group: queue, command: RPOP, share: 5%}
"""


def test_groups_resolve_with_their_defaults():
    groups = {g.name: g for g in scenario(MIXED).key_groups()}
    sessions, counters, queue = groups["sessions"], groups["counters"], groups["queue"]
    assert (sessions.type, sessions.keys, sessions.field_size, sessions.key_size) == ("hash", 200_000, 10, 16)
    assert sessions.keys_with_ttl == pytest.approx(60_000)
    assert sessions.ttl_mean_s == 3600
    assert counters.type == "string" and counters.values == "integers"
    assert counters.key_distribution == Zipf(zipf=0.99) and counters.locality == "clustered"
    assert sessions.locality == "scattered"  # the default
    assert queue.elements.mean() == 1000 and queue.element_size.mean() == 200


def test_the_mix_keeps_its_order_and_upper_cases_commands():
    mix = scenario(MIXED).write_mix()
    assert [(e.group, e.command) for e in mix] == [
        ("sessions", "HSET"),
        ("counters", "INCR"),
        ("queue", "LPUSH"),
        ("queue", "RPOP"),
    ]
    assert sum(e.share for e in mix) == pytest.approx(1.0)


def test_default_mix_splits_writes_by_key_count_with_each_types_default_commands():
    s = scenario(
        """
dataset:
  groups:
    - {name: a, keys: 300}
    - {name: b, type: set, keys: 100}
workload: {writes_per_sec: 1k, new_keys_fraction: 20%}
"""
    )
    shares = {(e.group, e.command): e.share for e in s.write_mix()}
    assert shares[("a", "SET")] == pytest.approx(0.75 * 0.8)
    assert shares[("b", "SADD")] == shares[("b", "SREM")] == pytest.approx(0.25 * 0.8 / 2)
    assert shares[("a", "NEW")] == pytest.approx(0.75 * 0.2)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_the_shorthand_is_one_string_group_of_the_same_size():
    s = parse_scenario(NODE + "dataset: {used_memory: 1GiB, value_size: 1KB, key_size: 20B}\n")
    (group,) = s.key_groups()
    assert (group.name, group.type, group.key_size) == ("strings", "string", 20)
    assert group.element_size.mean() == 1000
    assert 900_000 < group.keys < 1_073_741_824 / 1000  # used_memory holds fewer keys than bytes / value size
    (entry,) = s.write_mix()
    assert (entry.group, entry.command, entry.share) == ("strings", "SET", 1.0)


@pytest.mark.parametrize(
    "text, where, says",
    [
        ("dataset: {groups: [{name: a, keys: 1}, {name: a, keys: 2}]}", "dataset.groups", "used twice"),
        ("dataset: {keys: 5, groups: [{name: a, keys: 1}]}", "dataset", "not both"),
        (
            "dataset: {groups: [{name: a, keys: 1}]}\nworkload: {mix: [{group: a, command: HSETT, share: 1}]}",
            "workload.mix.0.command",
            "did you mean HSET",
        ),
        (
            "dataset: {groups: [{name: a, keys: 1}]}\nworkload: {mix: [{group: a, command: HSET, share: 1}]}",
            "workload.mix.0",
            "does not apply to string group",
        ),
        (
            "dataset: {groups: [{name: sessions, keys: 1}]}\n"
            "workload: {mix: [{group: sesions, command: SET, share: 1}]}",
            "workload.mix.0",
            "did you mean 'sessions'",
        ),
        (
            "dataset: {groups: [{name: a, keys: 1}]}\nworkload: {mix: [{group: a, command: SET, share: 50%}]}",
            "",
            "add up to 50.0%",
        ),
        (
            "dataset: {groups: [{name: a, keys: 1}]}\nworkload: {mix: [{group: a, command: INCR, share: 1}]}",
            "workload.mix.0",
            "values: integers",
        ),
        (
            "dataset: {groups: [{name: a, keys: 1}]}\n"
            "workload: {new_keys_fraction: 10%, mix: [{group: a, command: SET, share: 1}]}",
            "",
            "NEW entry",
        ),
        ("dataset: {groups: [{name: a, keys: 1, elements: 3}]}", "dataset.groups.0", "elements must be 1"),
        ("dataset: {groups: [{name: a, keys: 1, field_size: 3B}]}", "dataset.groups.0", "field names"),
        ("dataset: {groups: [{name: 'a b', keys: 1}]}", "dataset.groups.0.name", "key prefix"),
        (
            "dataset: {groups: [{name: a, type: hash, keys: 1, element_size: {foo: 1}}]}",
            "dataset.groups.0.element_size",
            "lognormal",
        ),
        (
            "dataset: {groups: [{name: a, type: hash, keys: 1, elements: {histogram: [{count: 3, share: 40%}]}}]}",
            "dataset.groups.0.elements.histogram",
            "add up to 40.0%",
        ),
        ("dataset: {groups: [{name: a, keys: 1, element_sise: 3B}]}", "dataset.groups.0.element_sise", "element_size"),
        (
            "engine: {parameters: {hash-max-listpack-entrie: 3}}\ndataset: {keys: 1, value_size: 1B}",
            "engine.parameters.hash-max-listpack-entrie",
            "did you mean 'hash-max-listpack-entries'",
        ),
        (
            "engine: {parameters: {maxmemory-policy: lru}}\ndataset: {keys: 1, value_size: 1B}",
            "engine.parameters.maxmemory-policy",
            "allkeys-lru",
        ),
        (
            "engine: {parameters: {set-max-listpack-entries: 3}}\ndataset: {keys: 1, value_size: 1B}",
            "engine.parameters",
            "Redis 7.2",
        ),
        (
            "engine: {parameters: {list-max-listpack-size: 0}}\ndataset: {keys: 1, value_size: 1B}",
            "engine.parameters.list-max-listpack-size",
            "not 0",
        ),
    ],
)
def test_bad_typed_input_names_the_field_and_what_is_allowed(text, where, says):
    message = error(text)
    assert message.count("\n") == 0, message  # one problem, one line
    assert "typed.yaml" in message
    if where:
        assert f" {where}: " in message, message
    assert says in message


def test_a_whole_scenario_rule_points_at_the_line_of_its_field():
    message = error(
        "dataset: {groups: [{name: a, keys: 1}]}\nworkload:\n  mix:\n    - {group: b, command: SET, share: 1}"
    )
    assert message.startswith("typed.yaml:5: workload.mix.0:"), message


def test_engine_parameters_default_by_version_and_build_and_take_ziplist_names():
    s = scenario("engine: {version: 6.2.6}\ndataset: {keys: 1, value_size: 1B}")
    p = s.engine_parameters()
    assert (p.hash_max_listpack_entries, p.zset_max_listpack_entries, p.set_max_intset_entries) == (512, 128, 512)
    assert p.set_max_listpack_entries is None  # no listpack sets before 7.2
    assert p.maxmemory_policy == "noeviction"  # open source: a container node
    managed = parse_scenario("node: {type: cache.r6g.large}\ndataset: {keys: 1, value_size: 1B}")
    assert managed.engine_parameters().maxmemory_policy == "volatile-lru"
    valkey = scenario(
        "engine: {name: valkey, version: 8.0.1, parameters: {hash-max-ziplist-entries: 64}}\n"
        "dataset: {keys: 1, value_size: 1B}"
    )
    params = valkey.engine_parameters()
    assert params.hash_max_listpack_entries == 64 and params.set_max_listpack_entries == 128
    assert params.as_config()["hash-max-listpack-entries"] == "64"


def test_one_parameter_under_both_names_is_refused():
    message = error(
        "engine: {parameters: {hash-max-ziplist-entries: 64, hash-max-listpack-entries: 32}}\n"
        "dataset: {keys: 1, value_size: 1B}"
    )
    assert "same parameter" in message


@settings(max_examples=40, deadline=None)
@given(median=st.floats(16, 1e5), sigma=st.floats(0.05, 1.2))  # every point stays above 1 byte
def test_a_lognormal_keeps_its_exact_mean_and_median(median, sigma):
    spread = spread_of(SizeLogNormal.model_validate({"lognormal": {"median": f"{median}B", "sigma": sigma}}))
    assert abs(spread.median - median) <= 1  # a size is whole bytes
    exact_mean = spread.median * math.exp(sigma**2 / 2)
    assert spread.mean() == pytest.approx(exact_mean)
    assert float(np.dot(spread.values, spread.weights)) == pytest.approx(exact_mean, rel=1e-6)
    assert len(spread.values) == LOGNORMAL_POINTS
    assert spread.quantile(0.5) == pytest.approx(spread.median)


def test_samples_follow_the_spread():
    rng = np.random.default_rng(7)
    lognormal = spread_of(SizeLogNormal.model_validate({"lognormal": {"median": "100B", "sigma": 0.5}}))
    drawn = lognormal.sample(200_000, rng)
    assert drawn.min() >= 1
    assert drawn.mean() == pytest.approx(lognormal.mean(), rel=0.01)
    assert np.median(drawn) == pytest.approx(100, rel=0.02)
    groups = scenario(
        "dataset: {groups: [{name: a, type: hash, keys: 1, "
        "element_size: {histogram: [{size: 32B, share: 25%}, {size: 200B, share: 75%}]}}]}"
    ).key_groups()
    histogram = groups[0].element_size
    drawn = histogram.sample(100_000, rng)
    assert set(np.unique(drawn)) == {32, 200}
    assert (drawn == 32).mean() == pytest.approx(0.25, abs=0.01)
    assert histogram.quantile(0.2) == 32 and histogram.quantile(0.3) == 200


def test_a_fixed_spread_is_one_point():
    spread = Spread.fixed(64)
    assert spread.is_fixed and spread.mean() == 64 and spread.quantile(0.99) == 64


def test_a_scenario_with_spreads_serializes_without_warnings():
    import json
    import warnings

    s = scenario(
        "dataset: {groups: [{name: a, type: hash, keys: 10, elements: {lognormal: {median: 20, sigma: 0.5}}, "
        "element_size: {histogram: [{size: 32B, share: 50%}, {size: 64B, share: 50%}]}}]}"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dumped = json.loads(s.model_dump_json())  # cluster runs compare shards by this dump
    group = dumped["dataset"]["groups"][0]
    assert group["elements"] == {"lognormal": {"median": 20.0, "sigma": 0.5}}
    assert group["element_size"]["histogram"][1] == {"size": 64, "share": 0.5}
