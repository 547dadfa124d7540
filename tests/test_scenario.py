"""Scenario loading: valid files become models; bad ones get one clear message, never a traceback."""

import textwrap

import pytest

from sim.keydist import HotSet, Uniform, Zipf
from sim.scenario import ScenarioError, load_scenario, parse_scenario

GOOD = """
name: orders-cache
engine: {name: redis, version: "7.0.15"}
node:
  type: cache.r6g.large
  swap: 0B
  reserved_memory_percent: 25
platform: nitro
dataset: {keys: 8M, value_size: 1KB}
workload:
  writes_per_sec: 20k
  reads_per_sec: 50k
  key_distribution: uniform
backup: {source: primary, method: auto, rdb_key_save_delay_us: 0}
"""


def bad(text: str) -> str:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(textwrap.dedent(text), source="s.yaml")
    return str(err.value)


def with_(**changes) -> str:
    """GOOD with single lines replaced: key 'old' -> 'new'."""
    text = GOOD
    for old, new in changes.values():
        assert old in text
        text = text.replace(old, new)
    return text


def test_issue_example_loads_with_units_parsed():
    s = parse_scenario(GOOD)
    assert s.dataset.keys == 8_000_000 and s.dataset.value_size == 1000
    assert s.workload.writes_per_sec == 20_000 and isinstance(s.workload.key_distribution, Uniform)
    assert s.node.reserved_percent == 25 and s.engine.can_fork_less


def test_distributions():
    z = parse_scenario(with_(a=("key_distribution: uniform", "key_distribution: {zipf: 0.99}")))
    assert isinstance(z.workload.key_distribution, Zipf) and z.workload.key_distribution.zipf == 0.99
    h = parse_scenario(with_(a=("key_distribution: uniform", "key_distribution: {hot_set: {keys: 10%, writes: 90%}}")))
    assert isinstance(h.workload.key_distribution, HotSet)
    assert h.workload.key_distribution.hot_set.keys == pytest.approx(0.1)


def test_old_engine_cannot_fork_less():
    s = parse_scenario(with_(a=('version: "7.0.15"', 'version: "2.8.19"')))
    assert not s.engine.can_fork_less
    assert "2.8.22" in bad(with_(a=('version: "7.0.15"', 'version: "2.8.19"'), b=("method: auto", "method: forkless")))


def test_malformed_yaml_names_file_and_line():
    message = bad("name: x\nnode: {type: cache.r6g.large\ndataset: [\n")
    assert message.startswith("s.yaml:") and "malformed YAML" in message


def test_unknown_field_suggests_the_close_name():
    message = bad(with_(a=("writes_per_sec: 20k", "writes_per_second: 20k")))
    assert "s.yaml:11: workload.writes_per_second: unknown field" in message
    assert "did you mean 'writes_per_sec'" in message


def test_unknown_node_type_suggests():
    message = bad(with_(a=("type: cache.r6g.large", "type: cache.r6g.larg")))
    assert "node.type" in message and "cache.r6g.large" in message and "s.yaml:5" in message


@pytest.mark.parametrize(
    "old, new, fragment",
    [
        ("swap: 0B", "swap: -1GiB", "negative"),
        ("swap: 0B", "swap: 1400", "no unit"),
        ("swap: 0B", "swap: 20k/s", "is a rate"),
        ("writes_per_sec: 20k", "writes_per_sec: 20KB", "is a size"),
        ("value_size: 1KB", "value_size: 1KB, used_memory: 1GiB", "not all three"),
        ("reserved_memory_percent: 25", "reserved_memory_percent: 125", "less than or equal to 100"),
        ("key_distribution: uniform", "key_distribution: zipfian", "zipf"),
        ("source: primary", "source: standby", "'primary' or 'replica'"),
        ("platform: nitro", "platform: nitr0", "did you mean 'nitro'"),
    ],
)
def test_bad_values_name_field_and_what_is_allowed(old, new, fragment):
    message = bad(with_(a=(old, new)))
    assert fragment in message
    assert message.startswith("s.yaml:")


def test_memory_and_type_both_or_neither():
    both = bad(with_(a=("type: cache.r6g.large", "type: cache.r6g.large\n  memory: 1.4GiB")))
    assert "exactly one of node.type" in both and "both" in both
    neither = bad(with_(a=("type: cache.r6g.large", "transparent_huge_pages: false")))
    assert "neither" in neither


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(err.value) and "cannot read" in str(err.value)


def test_every_example_scenario_loads():
    from pathlib import Path

    files = sorted(Path(__file__).parent.parent.glob("scenarios/*.yaml"))
    assert len(files) >= 4
    for path in files:
        assert load_scenario(path).name
