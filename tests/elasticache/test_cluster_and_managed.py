"""Cluster mode (shards back up together, skewed data and load) and ElastiCache's backup rules."""

import numpy as np
import pytest

from sim.elasticache.cluster import shard_scenarios, shard_weights
from sim.run import run
from sim.scenario import ScenarioError, parse_scenario

BASE = (
    "node: {memory: 2GiB}\nplatform: lab\ndataset: {keys: 900k, value_size: 1KB}\n"
    "workload: {writes_per_sec: 30k}\nbackup: {method: fork}\n"
)


def test_weights():
    s = parse_scenario(BASE + "cluster: {shards: 3, skew: [1, 1, 2]}\n")
    assert shard_weights(s.cluster) == pytest.approx([0.25, 0.25, 0.5])
    z = parse_scenario(BASE + "cluster: {shards: 4, skew: {zipf: 1}}\n")
    w = shard_weights(z.cluster)
    assert w.sum() == pytest.approx(1) and np.all(np.diff(w) < 0)


def test_shards_split_data_and_load():
    s = parse_scenario(BASE + "cluster: {shards: 3, skew: [1, 1, 2]}\n")
    shards = shard_scenarios(s)
    assert sum(x.dataset.keys for x in shards) == pytest.approx(900_000, abs=2)
    assert sum(x.workload.writes_per_sec for x in shards) == pytest.approx(30_000)
    assert all(x.cluster is None for x in shards)


def test_cluster_result_reports_worst_shard_and_totals():
    r = run(parse_scenario(BASE + "cluster: {shards: 3, skew: [1, 1, 4]}\n"))
    assert len(r["shards"]) == 3 and r["cluster"]["shards"] == 3
    assert r["worst_shard"].endswith("shard-3")
    assert r["rdb_bytes"] == sum(x["rdb_bytes"] for x in r["shards"])
    assert r["backup_duration_s"] == max(x["backup_duration_s"] for x in r["shards"])
    single = run(parse_scenario(BASE))
    assert r["cow_peak_bytes"] < single["cow_peak_bytes"]


def test_more_than_twenty_manual_backups_a_day_is_refused():
    with pytest.raises(ScenarioError, match="at most 20 manual backups"):
        parse_scenario(BASE.replace("backup: {method: fork}\n", "") + "backup: {kind: manual, per_day: 21}\n")


def test_shard_level_backup_in_cluster_mode_is_refused():
    with pytest.raises(ScenarioError, match="whole cluster"):
        parse_scenario(BASE.replace("backup: {method: fork}", "backup: {scope: shard}") + "cluster: {shards: 2}\n")


def test_retention_is_capped_at_35_days():
    with pytest.raises(ScenarioError, match="backup.retention_days"):
        parse_scenario(BASE.replace("backup: {method: fork}", "backup: {retention_days: 40}"))


def test_final_backup_comes_from_the_primary():
    r = run(parse_scenario(BASE.replace("backup: {method: fork}", "backup: {kind: final, source: replica}")))
    assert r["backup_source"] == "primary" and any("final backup" in w for w in r["warnings"])


def test_long_automatic_backup_outlasts_the_window():
    r = run(
        parse_scenario(
            BASE.replace("backup: {method: fork}", "backup: {rdb_key_save_delay_us: 5000}").replace("30k", "0")
        )
    )
    assert r["backup_duration_s"] > 3600 and any("60-minute" in w for w in r["warnings"])
    assert r["operations_blocked_s"] == r["backup_duration_s"]


def test_t1_micro_warns_that_backups_are_unsupported():
    r = run(parse_scenario("node: {type: cache.t1.micro}\ndataset: {keys: 10k, value_size: 1KB}\n"))
    assert any("does not support backups" in w for w in r["warnings"])


def test_storage_cost_follows_retention_and_the_free_backup():
    one = run(parse_scenario(BASE.replace("backup: {method: fork}", "backup: {retention_days: 1}")))
    week = run(parse_scenario(BASE.replace("backup: {method: fork}", "backup: {retention_days: 7}")))
    assert one["backup_storage_usd_month"] == 0  # the one backup per cluster is free
    assert week["backup_storage_usd_month"] == pytest.approx(6 * week["rdb_bytes"] / 2**30 * 0.085)


def test_cluster_max_latency_is_the_longest_wait_on_any_shard():
    """The cluster's max latency is the longest wait on any shard and bounds every shard's percentiles."""
    text = (
        "node: {memory: 1.2GiB}\nplatform: lab\ndataset: {keys: 1.2M, value_size: 1KB}\n"
        "workload: {writes_per_sec: 60k}\nbackup: {method: fork}\ncluster: {shards: 2, skew: [1, 3]}\n"
    )
    r = run(parse_scenario(text))
    assert r["max_latency_ms"] == max(x["max_latency_ms"] for x in r["shards"])
    assert all(r["max_latency_ms"] >= x[k] for x in r["shards"] for k in ("p99_latency_ms", "p999_latency_ms"))
