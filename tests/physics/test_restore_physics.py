"""Restore physics against closed forms, the RDB version table, and the restore step of a run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.physics import restore as phys
from sim.physics.layout import used_memory
from sim.platform import load_platform
from sim.prepare import prepare
from sim.rdb_versions import load_refusal, rdb_version_written
from sim.restore import RESTORE_OUTCOMES, lzf_raw_bytes, restore_fields, smallest_target
from sim.run import run
from sim.scenario import parse_scenario
from sim.summary import as_dict

GiB = 1024**3


def scenario(
    restore: str,
    dataset: str = "{keys: 1M, value_size: 1KB}",
    node: str = "{type: cache.r6g.large}",
    engine: str = '{name: redis, version: "7.0.15"}',
    platform: str = "lab",
):
    return parse_scenario(
        textwrap.dedent(f"""\
        name: t
        engine: {engine}
        node: {node}
        platform: {platform}
        dataset: {dataset}
        workload: {{writes_per_sec: 1k}}
        restore: {restore}
    """)
    )


def test_load_seconds_is_the_sum_of_its_three_costs():
    # 2M keys at 0.5 us, 1 GB of values at 500 MB/s, 0.5 GB LZF at 1 GB/s: 1 + 2 + 0.5 s
    assert phys.load_seconds(2_000_000, 1e9, 5e8, 0.5, 5e8, 1e9) == pytest.approx(3.5)
    assert phys.load_seconds(2_000_000, 1e9, 0, 0.5, 5e8, 1e9) == pytest.approx(3.0)


@settings(max_examples=40, deadline=None)
@given(keys=st.integers(1, 10**8), vs=st.integers(1, 10**5), k=st.floats(1.1, 4))
def test_load_time_grows_with_keys_and_is_linear(keys, vs, k):
    a = phys.load_seconds(keys, keys * vs, 0, 0.4, 4.5e8, 1e9)
    b = phys.load_seconds(int(keys * k), int(keys * k) * vs, 0, 0.4, 4.5e8, 1e9)
    assert b == pytest.approx(a * int(keys * k) / keys, rel=1e-9)


def test_full_sync_overlaps_save_and_transfer_then_loads():
    # 2 GB to one replica at 100 MB/s = 20 s, slower than a 12 s save: 0.1 + 20 + 8
    transfer = phys.transfer_seconds(2e9, 1, 1e8)
    assert transfer == pytest.approx(20.0)
    assert phys.full_sync_seconds(0.1, 12.0, transfer, 8.0) == pytest.approx(28.1)
    assert phys.transfer_seconds(2e9, 2, 1e8) == pytest.approx(40.0)  # two replicas share the link
    assert phys.transfer_seconds(2e9, 0, 1e8) == 0.0
    assert phys.sync_cow_writes(1000, 0.1, 12.0, 20.0) == pytest.approx(20_100)


def test_slots_spread_evenly_over_shards():
    assert phys.slots_per_shard(3) == [5462, 5461, 5461]
    assert sum(phys.slots_per_shard(7)) == 16384
    with pytest.raises(ValueError):
        phys.slots_per_shard(0)


def test_rdb_versions_follow_the_engines_headers():
    assert rdb_version_written("redis", (7, 0, 15)) == 10
    assert rdb_version_written("redis", (6, 2, 14)) == 9
    assert rdb_version_written("redis", (7, 2, 4)) == 11
    assert rdb_version_written("valkey", (8, 1, 0)) == 11
    assert rdb_version_written("valkey", (9, 0, 0)) == 80
    assert load_refusal(10, "redis", (6, 2, 0)) is not None  # Redis 7 backup onto 6.x: refused
    assert load_refusal(9, "redis", (7, 0, 0)) is None  # older formats load
    assert load_refusal(12, "valkey", (8, 0, 0)) is not None  # Redis 7.4 RDB: Valkey's foreign range
    assert load_refusal(11, "valkey", (9, 0, 0)) is None
    assert load_refusal(80, "redis", (8, 6, 0)) is not None  # Valkey 9's VALKEY magic


def test_lzf_raw_bytes_only_for_compressible_values_with_compression_on():
    assert lzf_raw_bytes(10, 1000, "repetitive", True) == 10_000
    assert lzf_raw_bytes(10, 1000, "repetitive", False) == 0
    assert lzf_raw_bytes(10, 1000, "random", True) == 0  # stored raw: LZF cannot shrink them
    assert lzf_raw_bytes(10, 20, "repetitive", True) == 0  # Redis tries LZF only above 20 bytes


def test_restore_fields_match_the_closed_form_of_the_profile():
    s = scenario("{node_type: cache.r6g.large}")
    p = prepare(s)
    cost = load_platform("lab").restore
    f = restore_fields(p)
    rss = (
        load_platform("lab").memory.rss_base
        + used_memory(p.keys, p.key_size, p.value_size) * load_platform("lab").memory.fragmentation
    )
    expect = (
        p.keys * cost.us_per_key / 1e6
        + p.keys * p.value_size / cost.value_bytes_per_sec
        + (rss - load_platform("lab").memory.rss_base) / 4096 * cost.first_touch_us_per_page / 1e6
    )  # host faults
    assert cost.first_touch_us_per_page > 0
    assert f["restore_load_s"] == pytest.approx(expect)
    assert f["restore_peak_memory_bytes"] == pytest.approx(rss + cost.peak_extra)
    assert f["restore_outcome"] == "ok" and f["restore_fits"] and f["replica_sync_s"] is None
    assert f["restore_outcome"] in RESTORE_OUTCOMES


def test_downsizing_below_the_data_does_not_fit():
    # 8M x 1 KB (about 8.7 GiB used) onto a cache.r6g.large (9.8 GiB maxmemory) fits; onto an m6g.large it does not
    big = "{keys: 8M, value_size: 1KB}"
    assert restore_fields(prepare(scenario("{node_type: cache.r6g.large}", big)))["restore_outcome"] == "ok"
    f = restore_fields(prepare(scenario("{node_type: cache.m6g.large}", big)))
    assert f["restore_outcome"] == "oom" and not f["restore_fits"]
    f = restore_fields(prepare(scenario("{memory: 9GiB, reserved_memory_percent: 25}", big)))
    assert f["restore_outcome"] == "over-maxmemory" and not f["restore_fits"]
    assert any("maxmemory" in m for m in f["restore_messages"])


def test_engine_and_node_type_checks():
    f = restore_fields(prepare(scenario('{node_type: cache.r6g.large, engine: {name: redis, version: "6.2.6"}}')))
    assert f["restore_outcome"] == "unreadable-rdb" and "6.2.6" in f["restore_messages"][-1]
    f = restore_fields(prepare(scenario("{node_type: cache.t1.micro}", "{keys: 1k, value_size: 100B}")))
    assert f["restore_outcome"] == "unsupported-node"


def test_cluster_seeding_loads_the_biggest_shard():
    even = restore_fields(prepare(scenario("{node_type: cache.r6g.large, shards: 4}")))
    skewed = restore_fields(prepare(scenario("{node_type: cache.r6g.large, shards: 4, skew: [4, 2, 1, 1]}")))
    one = restore_fields(prepare(scenario("{node_type: cache.r6g.large}")))
    assert len(even["restore_shards"]) == 4 and even["restore_load_s"] == pytest.approx(
        one["restore_load_s"] / 4, rel=0.01
    )
    assert skewed["restore_load_s"] == pytest.approx(one["restore_load_s"] / 2, rel=0.01)  # 4/8 of the data
    assert sum(s["slots"] for s in skewed["restore_shards"]) == 16384


def test_replica_sync_grows_with_returning_writes_and_can_outgrow_the_node():
    quiet = restore_fields(prepare(scenario("{node_type: cache.r6g.large, replicas: 1, writes_per_sec: 0}")))
    busy = restore_fields(prepare(scenario("{node_type: cache.r6g.large, replicas: 1, writes_per_sec: 100k}")))
    assert quiet["replica_sync_s"] > quiet["restore_load_s"]  # fork + save + the replica's own load
    assert busy["restore_sync_peak_memory_bytes"] > quiet["restore_sync_peak_memory_bytes"]
    # small values: each write copies a whole 4 KiB page but buffers only ~130 bytes for the replica
    tight = restore_fields(
        prepare(
            scenario(
                "{memory: 8GiB, reserved_memory_percent: 0, replicas: 1, writes_per_sec: 30k}",
                "{keys: 35M, value_size: 100B}",
            )
        )
    )
    assert tight["restore_outcome"] == "sync-oom" and tight["restore_fits"]
    assert tight["restore_sync_buffer_bytes"] < tight["restore_output_buffer_limit_bytes"]


def test_a_replica_sync_whose_buffered_writes_overflow_fails():
    # 6M x 1 KB syncing for about a minute under 50k writes/s buffers ~3 GB, beyond the r6g.large's ~1.3 GB
    f = restore_fields(
        prepare(
            scenario("{node_type: cache.r6g.large, replicas: 1, writes_per_sec: 50k}", "{keys: 6M, value_size: 1KB}")
        )
    )
    assert f["restore_outcome"] == "sync-fails" and f["restore_fits"]
    expect = 50_000 * f["replica_sync_s"] * (4 + 4 + 5 + 2 + 3 + 16 + 2 + 4 + 3 + 1000 + 2)
    assert f["restore_sync_buffer_bytes"] == pytest.approx(expect)
    assert f["restore_output_buffer_limit_bytes"] < f["restore_sync_buffer_bytes"]


def test_smallest_target_is_the_first_that_fits():
    p = prepare(scenario("{node_type: cache.r6g.large}", "{keys: 8M, value_size: 1KB}"))
    name, fields = smallest_target(p, ["cache.r6g.2xlarge", "cache.m6g.large", "cache.r6g.large", "cache.r6g.xlarge"])
    assert name == "cache.r6g.large" and fields["restore_outcome"] == "ok"


def test_run_reports_restore_fields_in_json_and_table(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\nnode: {type: cache.r6g.large}\nplatform: nitro\ndataset: {keys: 1M, value_size: 1KB}\n"
        "restore: {node_type: cache.r6g.large, replicas: 1}\n"
    )
    out = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--json", str(path)], capture_output=True, text=True)
    summary = json.loads(out.stdout)[0]
    for key in ("restore_outcome", "restore_load_s", "restore_peak_memory_bytes", "restore_fits", "replica_sync_s"):
        assert key in summary
    assert summary["restore_costs_calibrated"] is False  # nitro's restore costs are scaled, not measured
    table = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(path)], capture_output=True, text=True).stdout
    assert "restore load" in table and "not checked by harness runs" in table


def test_bad_restore_block_is_one_clear_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: t\nnode: {type: cache.r6g.large}\ndataset: {keys: 1M, value_size: 1KB}\n"
        "restore: {node_type: cache.r6g.lage}\n"
    )
    out = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(path)], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "restore.node_type" in out.stderr and "cache.r6g.large" in out.stderr
    path.write_text(
        "name: t\nnode: {type: cache.r6g.large}\ndataset: {keys: 1M, value_size: 1KB}\nrestore: {shards: 2}\n"
    )
    out = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(path)], capture_output=True, text=True)
    assert out.returncode == 2 and "restore" in out.stderr and "node_type" in out.stderr


def test_plan_restores_onto_each_candidate_and_checks_the_rto():
    from sim.planner.objectives import violations
    from sim.planner.spec import Objectives
    from sim.planner.variants import Config, Window, variant

    base = {
        "name": "t",
        "node": {"type": "cache.r6g.large"},
        "dataset": {"keys": "1M", "value_size": "1KB"},
        "restore": {"node_type": "cache.r6g.large", "replicas": 1},
    }
    data = variant(base, Config("cache.m6g.large", 35.0, "replica"), Window(0.0, 1000.0, 0.0))
    assert data["restore"] == {"replicas": 1, "node_type": "cache.m6g.large", "reserved_memory_percent": 35.0}
    s = scenario("{node_type: cache.r6g.large, replicas: 1}", platform="nitro")
    summary = as_dict(run(s).summary)  # the planner judges the mappings its runner returns
    ready = summary["restore_ready_s"]
    assert ready == pytest.approx(summary["restore_load_s"] + summary["replica_sync_s"])
    missed = violations(Objectives(restore_within=ready * 0.9), summary, 3600)
    assert [v.objective for v in missed] == ["restore_within"] and "until every node serves" in missed[0].message
    assert violations(Objectives(restore_within=ready * 1.1), summary, 3600) == []


def test_validation_split_keeps_repeats_together_and_fits_on_the_fastest():
    from sim.validation.calibrate import split_by_scenario
    from sim.validation.restore import contention, fastest_per_scenario

    def rec(name, i, cpu, outcome="ok"):
        return {
            "id": f"{name}-{i}",
            "scenario": {"name": name},
            "measured": {"outcome": outcome, "loaded": outcome != "oom", "load_cpu_s": cpu},
        }

    records = [rec(f"s{j}", i, 1.0 + i + j) for j in range(10) for i in range(2)] + [rec("bad", 0, None, "oom")]
    train, held = split_by_scenario(records)
    names = lambda rs: {r["scenario"]["name"] for r in rs}  # noqa: E731 - a one-line helper local to this test
    assert not names(train) & names(held) and len(train) + len(held) == len(records)
    assert len(names(held)) == 4 and names(train) >= {"bad"} and len(names(train)) == 7  # a lone outcome trains
    best = fastest_per_scenario(train)
    assert all(r["id"].endswith("-0") for r in best if r["measured"]["loaded"])
    assert contention(0.5, 0.4) == 1.0 and contention(1.0, 0.4) == pytest.approx(1.2) and contention(0.3, 0.4) == 1.0


def test_fit_recovers_the_first_touch_cost_of_loads_on_a_reporting_vm():
    # loads made by known costs: those on a VM with free page reporting pay 6 us per page more
    from sim.validation.restore import fit_costs

    lab = load_platform("lab")
    truth = lab.restore.model_copy(
        update={"us_per_key": 0.5, "value_bytes_per_sec": 600_000_000, "first_touch_us_per_page": 0.0}
    )
    records = []
    for i, (keys, size, on) in enumerate(
        [
            (200_000, "1KB", False),
            (1_000_000, "100B", False),
            (50_000, "8KB", False),
            (400_000, "2KB", False),
            (300_000, "1KB", True),
            (80_000, "4KB", True),
        ]
    ):
        text = textwrap.dedent(f"""\
            name: t{i}
            node: {{memory: 4GiB}}
            platform: lab
            dataset: {{keys: {keys}, value_size: {size}}}
            backup: {{compression: false}}
            restore: {{memory: 8GiB}}
        """)
        p = prepare(parse_scenario(text), platform=lab.model_copy(update={"restore": truth}))
        f = restore_fields(p)
        pages = (f["restore_shards"][0]["rss_bytes"] - lab.memory.rss_base) / 4096
        cpu = f["restore_load_s"] + (6e-6 * pages if on else 0.0)
        records.append(
            {
                "id": f"t{i}",
                "scenario_yaml": text,
                "scenario_file": f"t{i}.yaml",
                "machine": {"free_page_reporting": on},
                "measured": {
                    "loaded": True,
                    "load_cpu_s": cpu,
                    "machine_busy_share": 0.5,
                    "used_memory_rss": f["restore_shards"][0]["rss_bytes"],
                },
            }
        )
    fitted, facts = fit_costs(records, lab)
    assert facts["first_touch_runs"] == 2
    assert fitted.restore.first_touch_us_per_page == pytest.approx(6.0, rel=0.02)
    assert fitted.restore.us_per_key == pytest.approx(0.5, rel=0.02)
