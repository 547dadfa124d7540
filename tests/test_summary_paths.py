"""Summaries do not depend on how a run is recorded: with or without a timeline, and the running
peaks agree with the timeline they summarise. The step count stays bounded whatever the rates."""

from pathlib import Path

import numpy as np
import pytest
from helpers import scenario

from sim.engine import MAX_STEPS_PER_SAVE, SAVE_STEP_LIMIT, STEPS_PER_STEADY
from sim.run import run
from sim.scenario import load_scenario
from sim.summary import as_dict

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_summary_without_timeline_is_the_same(path):
    s = load_scenario(path)
    full, lean = run(s, source_dir=path.parent), run(s, source_dir=path.parent, timeline=False)
    a, b = as_dict(full.summary), as_dict(lean.summary)
    assert a.keys() == b.keys()
    different = {k for k in a if not _same(a[k], b[k])}
    assert not different
    with pytest.raises(ValueError, match="without a timeline"):
        lean.timeline  # noqa: B018 - the property access is what must raise


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_running_peaks_are_the_timeline_maxima(path):
    r = run(load_scenario(path), source_dir=path.parent)
    tl, s = r.timeline, r.summary
    assert s["cow_peak_bytes"] == tl["cow_bytes"].max()
    assert s["peak_memory_bytes"] == tl["demand_bytes"].max()
    assert s["peak_container_usage_bytes"] == tl["container_usage_bytes"].max()
    assert s["swap_peak_bytes"] == tl["swap_bytes"].max()
    assert s["headroom_bytes"] == s["memory_limit_bytes"] - tl["demand_bytes"].max()
    assert s["writes_delayed"] == tl["delayed_writes"].iloc[-1]
    assert s["requests_deferred"] == tl["deferred_requests"].iloc[-1]
    saving = tl.loc[tl["phase"] == "save", "served_writes_per_sec"]
    assert (
        s["min_served_writes_per_sec"] == pytest.approx(saving.min())
        if len(saving)
        else np.isnan(s["min_served_writes_per_sec"])
    )
    if s["backup_source"] == "primary":  # the longest wait, plus the stalls only some requests meet
        assert s["max_latency_ms"] >= s["baseline_latency_ms"] + tl["wait_ms"].max()
        assert s["max_latency_ms"] >= tl["latency_ms"].max()


@pytest.mark.parametrize(
    "overrides",
    [
        {"workload": {"writes_per_sec": 1e8}},
        {"workload": {"writes_per_sec": 1e8, "reads_per_sec": 1e8}},
        {"workload": {"writes_per_sec": 1e8}, "node": {"memory": "1.5GiB", "swap": "8GiB"}},
        {
            "workload": {"writes_per_sec": 1e8},
            "backup": {"method": "forkless"},
            "engine": {"name": "valkey", "version": "9.2.0"},
        },
    ],
    ids=["writes", "reads", "paging", "forkless"],
)
def test_steps_do_not_grow_with_the_offered_rate(overrides):
    r = run(scenario(**overrides))
    bound = 2 * STEPS_PER_STEADY + 4 + MAX_STEPS_PER_SAVE + 10
    assert len(r.timeline) <= bound
    assert r["backup_completed"] or r["outcome"] == "oom"


def test_an_even_500_shard_cluster_simulates_one_shard():
    s = scenario(
        cluster={"shards": 500},
        dataset={"keys": "50M", "value_size": "100B"},
        node={"type": "cache.r6g.large", "memory": None},
    )
    r = run(s, timeline=False)
    assert r["cluster"]["shards"] == 500 and len(r["shards"]) == 500
    assert len({x["scenario"] for x in r["shards"]}) == 500
    assert len({x["cow_peak_bytes"] for x in r["shards"]}) == 1


def test_new_keys_outgrowing_memory_after_the_backup_kill_the_parent():
    # the backup completes, then new keys alone pass memory + swap during the steady state after it
    r = run(scenario(workload={"writes_per_sec": "20k", "new_keys_fraction": 1.0}, simulation={"after": "1h"}))
    assert r["backup_completed"] and r["outcome"] == "oom" and r["oom_victim"] == "parent"
    assert r["peak_memory_bytes"] <= r["memory_limit_bytes"] + 1


def test_a_skewed_cluster_without_timeline_advances_its_shards_together_like_the_engine():
    s = scenario(
        cluster={"shards": 16, "skew": {"zipf": 1.0}},
        dataset={"keys": "8M", "value_size": "200B"},
        workload={"writes_per_sec": "150k"},
        node={"type": "cache.r6g.large", "memory": None},
    )
    lean, full = run(s, timeline=False), run(s, timeline=True)
    assert len({x["scenario"] for x in lean["shards"]}) == 16
    for a, b in zip(map(as_dict, lean.summary.shards), map(as_dict, full.summary.shards), strict=True):
        for key, value in b.items():
            if isinstance(value, float) and not np.isnan(value):
                assert a[key] == pytest.approx(value, rel=0.01), key
            elif not isinstance(value, float):
                assert a[key] == value, key


def test_a_save_starved_of_cpu_ends_in_bounded_steps():
    # the largest offered load the input takes (2^53 reads/s from local clients) leaves the save child
    # almost no CPU: the save crawls, the step count stays bounded and the node is flagged overloaded
    r = run(scenario(workload={"writes_per_sec": 1000, "reads_per_sec": 2.0**53}))
    assert r["outcome"] == "overloaded" and r["save_duration_s"] > 1e6
    assert len(r.timeline) <= 2 * STEPS_PER_STEADY + 4 + max(SAVE_STEP_LIMIT, MAX_STEPS_PER_SAVE) + 10
