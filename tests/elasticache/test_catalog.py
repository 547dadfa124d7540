"""Tests for the ElastiCache node-type catalog (sim/data/node_types.csv and sim.elasticache.catalog)."""

import csv
import dataclasses
import itertools
import re
from collections import Counter
from importlib import resources

import pytest

from sim.elasticache.catalog import (
    COLUMNS,
    NodeType,
    UnknownNodeTypeError,
    get_node_type,
    load_catalog,
    node_type_names,
)

# Rows per family, counted by hand from the "| cache." rows of the research notes' tables (docs/elasticache.md):
# section 1.2, the Redis OSS table, has 91 rows and section 1.3, the Valkey-only table, 21 (m8g, r8g, c8gn, 7 each).
# A grep for "^| cache\." in those two sections gave the same 91 + 21 = 112.
FAMILY_COUNTS = {
    "t1": 1,
    "t2": 3,
    "t3": 3,
    "t4g": 3,
    "m1": 4,
    "m2": 3,
    "m3": 4,
    "m4": 5,
    "m5": 6,
    "m6g": 7,
    "m7g": 7,
    "c1": 1,
    "r3": 5,
    "r4": 6,
    "r5": 6,
    "r6g": 7,
    "r6gd": 6,
    "r7g": 7,
    "c7gn": 7,
    "m8g": 7,
    "r8g": 7,
    "c8gn": 7,
}
EXPECTED_ROWS = 112


def _raw_lines() -> list[str]:
    return resources.files("sim").joinpath("data", "node_types.csv").read_text(encoding="utf-8").splitlines()


def _raw_rows() -> list[list[str]]:
    return list(csv.reader(line for line in _raw_lines() if not line.startswith("#")))


def test_row_count_matches_reference_tables():
    """The catalog holds every type of the two reference tables, family by family."""
    assert sum(FAMILY_COUNTS.values()) == EXPECTED_ROWS
    assert len(load_catalog()) == EXPECTED_ROWS
    assert Counter(node.family for node in load_catalog().values()) == FAMILY_COUNTS


def test_every_row_parses_with_the_right_types():
    """Every data line has all columns and loads into typed fields."""
    header, *rows = _raw_rows()
    assert tuple(header) == COLUMNS
    assert len(rows) == EXPECTED_ROWS
    assert all(len(row) == len(COLUMNS) for row in rows)
    for node in load_catalog().values():
        assert isinstance(node.maxmemory_bytes, int) and node.maxmemory_bytes > 0
        assert node.vcpu is None or (isinstance(node.vcpu, int) and node.vcpu > 0)
        assert node.price_usd_per_hour is None or node.price_usd_per_hour > 0
        assert node.replica_output_buffer_limit_bytes is None or isinstance(node.replica_output_buffer_limit_bytes, int)
        for flag in (node.backup_supported, node.data_tiering, node.valkey_only):
            assert isinstance(flag, bool)
        assert node.generation in ("current", "previous")
        assert node.sources


def test_names_unique_and_prefixed():
    """No type appears twice in the file and every name looks like cache.<family>.<size>."""
    names = [row[0] for row in _raw_rows()[1:]]
    assert len(names) == len(set(names))
    for name in names:
        assert name.startswith("cache.")
        assert re.fullmatch(r"cache\.[a-z0-9]+\.[a-z0-9]+", name), name
        assert load_catalog()[name].family == name.split(".")[1]


def test_t3_micro_maxmemory_matches_info_at_default_reservation():
    """AWS shows INFO maxmemory 402653184 on a t3.micro: 75 % of the table value, exactly."""
    maxmemory = get_node_type("cache.t3.micro").maxmemory_bytes
    assert maxmemory == 536870912
    assert maxmemory * 3 % 4 == 0
    assert maxmemory * 3 // 4 == 402653184


def test_m5_xlarge_maxmemory_matches_info_at_default_reservation():
    """AWS shows INFO maxmemory 10418941287 on an m5.xlarge: 75 % of the table value, to a byte."""
    maxmemory = get_node_type("cache.m5.xlarge").maxmemory_bytes
    assert maxmemory == 13891921715
    assert abs(round(maxmemory * 0.75) - 10418941287) <= 1


def test_r6g_large_memory_gib():
    """memory_gib converts with 2**30, giving the advertised 13.07 GiB."""
    assert get_node_type("cache.r6g.large").memory_gib == pytest.approx(13.07, abs=0.005)
    assert get_node_type("cache.t3.micro").memory_gib == 0.5


def test_m4_xlarge_uses_current_maxmemory():
    """The current table value is used, not the 2023 one (11496376320)."""
    assert get_node_type("cache.m4.xlarge").maxmemory_bytes == 15328501760


def test_only_t1_micro_lacks_backup_support():
    """Backups are unsupported only on cache.t1.micro."""
    assert [n for n, node in load_catalog().items() if not node.backup_supported] == ["cache.t1.micro"]


def test_data_tiering_is_exactly_r6gd():
    """Data tiering is flagged on the six r6gd types and nowhere else."""
    tiered = {n for n, node in load_catalog().items() if node.data_tiering}
    assert tiered == {n for n, node in load_catalog().items() if node.family == "r6gd"}
    assert len(tiered) == 6


def test_valkey_only_families():
    """Only m8g, r8g and c8gn are Valkey-only, and they carry no secondary figures."""
    valkey = [node for node in load_catalog().values() if node.valkey_only]
    assert {node.family for node in valkey} == {"m8g", "r8g", "c8gn"}
    assert len(valkey) == 21
    for node in valkey:
        assert node.vcpu is None and node.price_usd_per_hour is None
        assert node.replica_output_buffer_limit_bytes is None
        assert node.sources == "PCUR"


def test_previous_generation_families():
    """t1, m1, m2, m3, c1 and r3 are previous generation; everything else is current."""
    previous = {node.family for node in load_catalog().values() if node.generation == "previous"}
    assert previous == {"t1", "m1", "m2", "m3", "c1", "r3"}


def test_missing_figures_are_none_not_zero():
    """Unknown vCPU, price and buffer limits load as None."""
    assert get_node_type("cache.t1.micro").vcpu is None
    assert get_node_type("cache.t2.micro").price_usd_per_hour is None
    assert get_node_type("cache.t2.micro").vcpu == 1
    assert get_node_type("cache.m7g.large").replica_output_buffer_limit_bytes is None
    assert get_node_type("cache.m7g.large").price_usd_per_hour == 0.158


def test_replica_buffer_limit_is_about_a_tenth_of_maxmemory():
    """The 2023 replica buffer limits are 9.6-10.4 % of maxmemory (m4.xlarge's maxmemory has changed since)."""
    for name, node in load_catalog().items():
        limit = node.replica_output_buffer_limit_bytes
        if limit is None or name == "cache.m4.xlarge":
            continue
        assert 0.096 <= limit / node.maxmemory_bytes <= 0.104, name
    assert get_node_type("cache.m4.xlarge").replica_output_buffer_limit_bytes == 1149637632


def test_sizes_grow_together_within_a_family():
    """Within a family, vCPU and price rise with memory (catches swapped or mistyped cells)."""
    by_family: dict[str, list[NodeType]] = {}
    for node in load_catalog().values():
        by_family.setdefault(node.family, []).append(node)
    for family, nodes in by_family.items():
        nodes.sort(key=lambda node: node.maxmemory_bytes)
        vcpus = [node.vcpu for node in nodes if node.vcpu is not None]
        assert vcpus == sorted(vcpus), family  # burstable sizes can share a vCPU count
        prices = [node.price_usd_per_hour for node in nodes if node.price_usd_per_hour is not None]
        assert all(a < b for a, b in itertools.pairwise(prices)), family


def test_every_source_tag_is_explained_in_the_header():
    """Each tag in the sources column is defined in the file's comment header with a URL."""
    header = "\n".join(line for line in _raw_lines() if line.startswith("#"))
    tags = {tag for node in load_catalog().values() for tag in node.sources.split(";")}
    for tag in tags:
        # A definition is "#   TAG  text" plus its more deeply indented continuation lines.
        definition = re.search(rf"^# {{3}}{tag} +.*(?:\n# {{5,}}.*)*", header, re.MULTILINE)
        assert definition and "://" in definition.group(), tag
    assert "SECONDARY" in header and "us-east-1" in header


def test_misspelled_name_suggests_the_right_one():
    """A typo names the bad type and suggests the intended one."""
    with pytest.raises(UnknownNodeTypeError) as info:
        get_node_type("cache.r6g.larg")
    assert str(info.value) == "unknown node type 'cache.r6g.larg'; did you mean 'cache.r6g.large'?"
    assert info.value.suggestions == ["cache.r6g.large"]
    assert isinstance(info.value, ValueError)


def test_missing_prefix_and_case_still_suggest():
    """Leaving out 'cache.' or using capitals still gets a useful suggestion, not a match."""
    for typed in ("r6g.large", "CACHE.R6G.LARGE"):
        with pytest.raises(UnknownNodeTypeError) as info:
            get_node_type(typed)
        assert info.value.suggestions[0] == "cache.r6g.large"


def test_hopeless_name_says_how_to_list_types():
    """With nothing close, the message points at node_type_names()."""
    with pytest.raises(UnknownNodeTypeError) as info:
        get_node_type("redis")
    assert info.value.suggestions == []
    assert "node_type_names()" in str(info.value)
    assert f"{EXPECTED_ROWS} known types" in str(info.value)


def test_catalog_copies_and_frozen_rows():
    """Callers cannot change the cached catalog or its rows."""
    catalog = load_catalog()
    catalog.pop("cache.t3.micro")
    assert "cache.t3.micro" in load_catalog()
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_node_type("cache.t3.micro").maxmemory_bytes = 1  # type: ignore[misc]


def test_names_in_file_order():
    """node_type_names() lists every type in file order."""
    names = node_type_names()
    assert names == list(load_catalog())
    assert names[0] == "cache.t1.micro"
    assert names[-1] == "cache.c8gn.16xlarge"
