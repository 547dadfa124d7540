"""Engines before 2.8.22: always fork, and the backup fails when its change log overflows the buffer."""

import pytest
from helpers import scenario

from sim.engine import simulate
from sim.physics.changelog import command_bytes, output_buffer_limit
from sim.prepare import prepare
from sim.scenario import parse_scenario

OLD = {"engine": {"version": "2.8.19"}}


def test_command_bytes_is_the_resp_encoding():
    key, value = b"k" * 16, b"v" * 1000
    resp = b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$1000\r\n" + value + b"\r\n"
    assert command_bytes(16, 1000) == len(resp)


def test_buffer_limit_from_the_catalog_or_ten_percent():
    assert output_buffer_limit(1403718103, 14037181030) == 1403718103
    assert output_buffer_limit(None, 10_000) == 1000


def test_change_log_grows_memory_and_fails_the_backup_when_it_overflows():
    s = scenario(
        **OLD,
        workload={"writes_per_sec": "50k", "reads_per_sec": 0},
        backup={"rdb_key_save_delay_us": 10, "method": "auto"},
    )
    p = prepare(s)
    r = simulate(s, p)
    assert r["outcome"] == "failed" and not r["backup_completed"] and r["oom_victim"] is None
    assert "output buffer" in r["failure"]
    # it fails when 50k writes/s of change log pass 10 % of node memory
    overflow_at = p.output_buffer_limit / (50_000 * command_bytes(16, 1000))
    fail_time = [t for t, what in r.events if "overflow" in what][0]
    fork_end = [t for t, what in r.events if what == "fork"][0] + r["fork_stall_s"]
    assert fail_time - fork_end == pytest.approx(overflow_at, rel=0.05)
    tail = r.timeline[r.timeline["phase"] == "failed"]
    assert len(tail) and (tail["cow_bytes"] == 0).all() and (tail["parent_rss_bytes"] > 0).all()


def test_light_writes_fit_the_buffer():
    r = simulate(scenario(**OLD, workload={"writes_per_sec": "1k"}))
    assert r["outcome"] == "ok" and r["method"] == "fork"
    assert r["peak_memory_bytes"] > simulate(scenario(workload={"writes_per_sec": "1k"}))["peak_memory_bytes"]


def test_new_engines_keep_no_change_log():
    r = simulate(scenario(workload={"writes_per_sec": "50k", "reads_per_sec": 0}, backup={"rdb_key_save_delay_us": 10}))
    assert r["outcome"] != "failed" and r.timeline["change_log_bytes"].max() == 0


def test_xen_example_stalls_for_seconds():
    text = (
        "engine: {version: '2.8.19'}\nnode: {type: cache.m2.4xlarge, reserved_memory_percent: 50}\n"
        "platform: xen-pv\ndataset: {used_memory: 33GiB, value_size: 2KB}\n"
    )
    assert simulate(parse_scenario(text))["fork_stall_s"] > 5
