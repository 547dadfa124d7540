"""Harness runs end to end: a scenario file played against a real redis-server in a memory cgroup -> one record.

Needs root, a memory cgroup and /usr/bin/redis-server; skipped (with the reason printed) otherwise. About 45 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

import pytest

from sim.harness.cgroup import find_rbsim_cgroups
from sim.harness.cleanup import owner_pid
from sim.harness.cli import register
from sim.harness.record import REQUIRED, SCHEMA, load_record, load_records, missing_fields, thin_pings
from sim.harness.run import check_environment, execute, parse_save_log, ping_windows, plan_run
from sim.harness.server import DEFAULT_BINARY
from sim.harness.swap import active_swap_files
from sim.scenario import load_scenario

_why_not = check_environment(DEFAULT_BINARY)
if _why_not:
    print(f"skipping harness run tests: {_why_not}", file=sys.stderr)

pytestmark = pytest.mark.harness
needs_container = pytest.mark.skipif(_why_not is not None, reason=f"harness: {_why_not}")

SMALL = """\
# 150k x 1 KB random values, 5k uniform writes/s, a ~2-3 s save
name: t-small
platform: lab
node: {memory: 320MiB}
dataset: {keys: 150k, value_size: 1KB, key_size: 10B, value_pattern: random}
workload: {writes_per_sec: 5k, key_distribution: uniform}
"""
OOM = """\
# COW of 20k uniform writes/s outgrows a 256 MiB limit with no swap: the OOM killer takes the parent
name: t-oom
platform: lab
node: {memory: 256MiB}
dataset: {keys: 150k, value_size: 1KB, key_size: 10B, value_pattern: random}
workload: {writes_per_sec: 20k}
backup: {rdb_key_save_delay_us: -5}
"""
SWAP = """\
# COW pages into swap under a 160 MiB limit
name: t-swap
platform: lab
node: {memory: 160MiB, swap: 384MiB}
dataset: {keys: 100k, value_size: 1KB, key_size: 10B, value_pattern: random}
workload: {writes_per_sec: 8k}
backup: {rdb_key_save_delay_us: -3}   # a longer save: clearly past the limit, not on its edge
"""


def _ours_running() -> list[int]:
    """Pids of processes started from this process's harness server dirs (redis-server and its save child)."""
    tag = f"rbsim-redis-{os.getpid()}-".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if tag in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(autouse=True)
def nothing_left_behind():
    yield
    if _why_not is None:
        assert [p for p in find_rbsim_cgroups() if owner_pid(p.name) == os.getpid()] == []
        assert [p for p in active_swap_files() if owner_pid(p.name) == os.getpid()] == []
        assert _ours_running() == []


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rbsim")
    register(parser.add_subparsers(dest="command"))
    return parser


def _run(path: Path) -> dict:
    scenario = load_scenario(path)
    return execute(plan_run(scenario, str(path), path.read_text()), timeout=90, steady_s=1.5)


# -- no server needed ---------------------------------------------------------------------------------


def test_parse_save_log_reads_ms_timings_and_status():
    log = textwrap.dedent("""\
        10:M 23 Nov 2026 19:23:13.351 * Background saving started by pid 11
        11:C 23 Nov 2026 19:23:16.397 * DB saved on disk
        11:C 23 Nov 2026 19:23:16.403 * Fork CoW for RDB: current 59 MB, peak 61 MB, average 35 MB
        10:M 23 Nov 2026 19:23:16.443 * Background saving terminated with success
        """)
    out = parse_save_log(log)
    assert out["save_duration_s"] == pytest.approx(3.092)
    assert out["save_status_log"] == "ok" and out["cow_log_peak_bytes"] == 61 << 20
    killed = parse_save_log(log.replace("terminated with success", "terminated by signal 9"))
    assert killed["save_status_log"] == "killed"
    assert parse_save_log("")["save_duration_s"] is None


def test_thin_pings_keeps_the_slowest():
    pings = [[i * 0.005, 0.1] for i in range(20_000)]
    pings[12_345][1] = 250.0
    thin = thin_pings(pings, 5000)
    assert len(thin) == 5000 and max(ms for _, ms in thin) == 250.0


def test_a_ping_stalled_by_the_fork_counts_in_the_save():
    pings = [[-0.5, 0.1], [-0.001, 40.0], [0.05, 0.2], [2.0, 0.3], [5.0, 9.0]]
    during, before = ping_windows(pings, t_end=3.0)
    assert during["max"] == 40.0 and during["n"] == 3
    assert before["max"] == 0.1 and before["n"] == 1


def test_cli_bad_scenario_exits_2(tmp_path, capsys):
    bad = _write(
        tmp_path,
        "bad",
        "name: x\nnode: {memory: 1GiB}\ndataset: {keys: 1k, value_size: 1KB}\nworkload: {writes_per_second: 5}\n",
    )
    args = _parser().parse_args(["harness", str(bad), "--out", str(tmp_path / "rec")])
    assert args.handler(args) == 2
    err = capsys.readouterr().err
    assert "writes_per_second" in err and "writes_per_sec" in err
    assert not (tmp_path / "rec").exists()


def test_cli_without_root_or_cgroup_exits_2(tmp_path, capsys, monkeypatch):
    import sim.harness.run as run_mod

    monkeypatch.setattr(run_mod, "check_environment", lambda binary: "creating memory cgroups needs root")
    path = _write(tmp_path, "small", SMALL)
    args = _parser().parse_args(["harness", str(path), "--out", str(tmp_path / "rec")])
    assert args.handler(args) == 2
    assert "needs root" in capsys.readouterr().err


def test_cli_unrunnable_scenario_exits_2(tmp_path, capsys):
    huge = _write(tmp_path, "huge", "name: x\nnode: {memory: 4TiB}\ndataset: {keys: 1k, value_size: 1KB}\n")
    args = _parser().parse_args(["harness", str(huge), "--out", str(tmp_path / "rec")])
    assert args.handler(args) == 2
    assert "does not fit" in capsys.readouterr().err


# -- real runs ----------------------------------------------------------------------------------------


@needs_container
def test_small_run_via_cli_writes_a_complete_record(tmp_path, capsys):
    path = _write(tmp_path, "small", SMALL)
    out = tmp_path / "records"
    args = _parser().parse_args(
        ["harness", str(path), "--out", str(out), "--label", "test", "--steady", "1.5", "--quiet-wait", "0"]
    )
    assert args.handler(args) == 0
    files = list(out.glob("*.json"))
    assert len(files) == 1 and not list(out.glob(".*tmp"))
    rec = load_record(files[0])
    assert load_records(out)[0]["id"] == rec["id"]
    assert rec["schema"] == SCHEMA and missing_fields(rec) == [] and rec["label"] == "test"
    assert set(REQUIRED[""]) <= set(rec)
    assert rec["scenario"]["dataset"]["keys"] == 150_000 and rec["scenario_yaml"].startswith("# 150k")
    m, load = rec["measured"], rec["load"]
    assert m["outcome"] == "ok" and m["backup_completed"] and m["bgsave_status"] == "ok"
    assert m["fork_usec"] > 0 and m["save_duration_s"] > 0 and m["rdb_last_cow_size"] > 0
    assert m["rdb_bytes"] > 100 << 20  # random 1 KB values barely compress
    assert load["served_writes_per_sec_during_save"] == pytest.approx(5000, rel=0.10)
    assert load["served_writes_per_sec_before"] == pytest.approx(5000, rel=0.10)
    assert rec["fill"]["keys"] == 150_000 and rec["config"]["maxmemory"] == int(320 * 2**20 * 0.75)
    assert m["ping_max_ms"] >= m["ping_p99_ms"] >= m["ping_p50_ms"] > 0
    assert any(r["in_progress"] == 1 for r in rec["timeline"]) and rec["timeline"][0]["t"] < 0
    assert 0 < len(rec["pings"]) <= 5000
    assert "t-small" in capsys.readouterr().out


@needs_container
def test_oom_run_records_the_victim(tmp_path):
    rec = _run(_write(tmp_path, "oom", OOM))
    m = rec["measured"]
    assert m["outcome"] == "oom" and m["oom_victim"] == "parent"
    assert not m["backup_completed"] and m["fork_usec"] > 0


@needs_container
def test_swap_run_pages(tmp_path):
    rec = _run(_write(tmp_path, "swap", SWAP))
    m = rec["measured"]
    assert m["outcome"] == "paging", m
    assert m["swap_peak_bytes"] > 1 << 20 and m["backup_completed"]
    assert rec["config"]["swap_bytes"] == 384 << 20
