"""Real restores: a tiny RDB loaded by a real redis-server in a memory cgroup, a replica's full sync, and a
target too small that the kernel kills while it loads. Needs root, a memory cgroup and /usr/bin/redis-server
(skipped with the reason otherwise). About 10 s."""

from __future__ import annotations

import argparse
import os
import textwrap
from pathlib import Path

import pytest

from sim.harness.cgroup import find_rbsim_cgroups
from sim.harness.cleanup import owner_pid
from sim.harness.cli import register
from sim.harness.restore import execute_restore, plan_restore
from sim.harness.run import HarnessError, check_environment
from sim.harness.server import DEFAULT_BINARY
from sim.scenario import load_scenario

_why_not = check_environment(DEFAULT_BINARY)
pytestmark = [pytest.mark.harness, pytest.mark.skipif(_why_not is not None, reason=f"harness: {_why_not}")]

FITS = """\
name: t-restore
platform: lab
node: {memory: 512MiB}
dataset: {keys: 60k, value_size: 1KB, key_size: 9B, value_pattern: repetitive}
backup: {compression: true}
restore: {memory: 256MiB, replicas: 1, writes_per_sec: 1k}
"""
TOO_SMALL = """\
name: t-restore-oom
platform: lab
node: {memory: 512MiB}
dataset: {keys: 100k, value_size: 1KB, key_size: 9B, value_pattern: random}
restore: {memory: 64MiB}
"""


@pytest.fixture(autouse=True)
def nothing_left_behind():
    yield
    assert [p for p in find_rbsim_cgroups() if owner_pid(p.name) == os.getpid()] == []
    tmp = Path("/tmp")
    assert [d for d in tmp.glob(f"rbsim-redis-{os.getpid()}-*")] == []


def _restore(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return execute_restore(plan_restore(load_scenario(path), str(path), path.read_text()))


def test_a_small_rdb_restores_and_a_replica_syncs(tmp_path):
    r = _restore(tmp_path, FITS)
    m, s = r["measured"], r["replica_sync"]
    assert m["outcome"] == "ok" and m["loaded"]
    assert m["keys_loaded"] == 60_000 == m["rdb_last_load_keys_loaded"]
    assert 0 < m["load_log_s"] <= m["load_wall_s"] and 0 < m["load_cpu_s"]
    assert 0 <= m["machine_busy_share"] <= 1
    # 60k x 1 KB is ~66 MiB of used_memory: the cgroup saw at least that, and no more than its limit
    assert 60_000 * 1000 < m["used_memory"] <= m["peak_container_bytes"] <= 256 * 2**20
    assert r["source"]["rdb_bytes"] < 60_000 * 1000 / 5  # repetitive values compress
    assert s["status"] == "ok" and s["replica_keys"] == 60_000 and s["sync_wall_s"] > 0
    assert s["primary_fork_usec"] > 0


def test_a_target_too_small_is_killed_while_loading(tmp_path):
    r = _restore(tmp_path, TOO_SMALL)
    m = r["measured"]
    assert m["outcome"] == "oom" and not m["loaded"] and m["oom_kills"] >= 1
    assert m["peak_container_bytes"] <= 64 * 2**20


def test_harness_command_refuses_a_cluster_restore(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(FITS).replace("replicas: 1", "shards: 2"))
    with pytest.raises(HarnessError, match="restore.shards 2"):
        plan_restore(load_scenario(path), str(path))
    parser = argparse.ArgumentParser(prog="rbsim")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["harness", str(path), "--quiet-wait", "0", "--out", str(tmp_path / "out")])
    assert args.handler(args) == 2
    assert "restore.shards 2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_free_page_reporting_reads_the_bound_balloon_feature_bit(tmp_path):
    from sim.harness.run import VIRTIO_BALLOON_F_REPORTING, free_page_reporting

    driver = tmp_path / "virtio_balloon"
    assert not free_page_reporting(driver)  # no balloon driver at all
    device = driver / "virtio0"
    device.mkdir(parents=True)
    bits = ["0"] * 64
    bits[1] = "1"  # a statistics queue alone does not hand pages back
    (device / "features").write_text("".join(bits))
    assert not free_page_reporting(driver)
    bits[VIRTIO_BALLOON_F_REPORTING] = "1"
    (device / "features").write_text("".join(bits))
    assert free_page_reporting(driver)
