"""The podman backend: harness records of a real redis-server in a real podman container (no registry, no network).

Needs root, a memory cgroup, /usr/bin/redis-server, podman and runc (``make test`` installs them); skipped with
the reason printed otherwise. About 20 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import REPO_ROOT

from sim.harness.cli import register
from sim.harness.janitor import sweep_leftovers
from sim.harness.podman import (
    OWNER_LABEL,
    podman,
    podman_available,
    rbsim_containers,
    remove_empty_parents,
    rootfs_for,
    shared_libraries,
)
from sim.harness.record import load_record, missing_fields
from sim.harness.run import check_environment
from sim.harness.server import DEFAULT_BINARY

REPO = REPO_ROOT
_why_not = check_environment(DEFAULT_BINARY) or podman_available()
if _why_not:
    print(f"skipping podman harness tests: {_why_not}", file=sys.stderr)

pytestmark = pytest.mark.harness
needs_podman = pytest.mark.skipif(_why_not is not None, reason=f"podman backend: {_why_not}")

SMALL = """\
# 100k x 1 KB random values, 5k writes/s, then a BGSAVE
name: p-small
platform: lab
node: {memory: 256MiB}
dataset: {keys: 100k, value_size: 1KB, key_size: 10B, value_pattern: random}
workload: {writes_per_sec: 5k, key_distribution: uniform}
"""
OOM = """\
# the cgroup backend's OOM test scenario: copy-on-write outgrows the container's 256 MiB, the parent is killed
name: p-oom
platform: lab
node: {memory: 256MiB}
dataset: {keys: 150k, value_size: 1KB, key_size: 10B, value_pattern: random}
workload: {writes_per_sec: 20k}
backup: {rdb_key_save_delay_us: -5}
"""


def _our_containers() -> list[str]:
    out = podman("ps", "--all", "--filter", f"label={OWNER_LABEL}={os.getpid()}", "--format", "{{.Names}}")
    return out.stdout.split()


@pytest.fixture(autouse=True)
def nothing_left_behind():
    yield
    if _why_not is None:
        assert _our_containers() == []


def _harness(tmp_path: Path, name: str, text: str, *extra: str) -> tuple[int, list[Path]]:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(textwrap.dedent(text))
    parser = argparse.ArgumentParser(prog="rbsim")
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / f"records-{name}"
    args = parser.parse_args(
        ["harness", str(scenario), "--out", str(out), "--steady", "1", "--quiet-wait", "0", "--timeout", "60", *extra]
    )
    rc = args.handler(args)
    return rc, sorted(out.glob("*.json"))


def test_rootfs_holds_the_binary_and_every_library_ldd_names(tmp_path):
    libs = shared_libraries(DEFAULT_BINARY)
    assert any(p.name.startswith("libc.so") for p in libs) and any("ld-linux" in p.name for p in libs)
    root = rootfs_for(DEFAULT_BINARY, cache=tmp_path)
    for path in [Path(DEFAULT_BINARY), *libs]:
        copy = root / path.relative_to("/")
        assert copy.is_file() and not copy.is_symlink() and copy.stat().st_size == path.stat().st_size
    assert (root / "data").is_dir() and (root / "etc/passwd").read_text().startswith("root:")
    assert rootfs_for(DEFAULT_BINARY, cache=tmp_path) == root  # built once per content
    assert [p.name for p in tmp_path.iterdir()] == [root.name]  # no build dir left beside it


def test_backend_podman_without_podman_exits_2(tmp_path, capsys, monkeypatch):
    if check_environment(DEFAULT_BINARY):
        pytest.skip(f"harness: {check_environment(DEFAULT_BINARY)}")
    monkeypatch.setenv("PATH", str(tmp_path))  # no podman, no runc
    rc, records = _harness(tmp_path, "small", SMALL, "--backend", "podman")
    assert rc == 2 and records == []
    assert "needs podman" in capsys.readouterr().err


@needs_podman
def test_restore_scenarios_refuse_the_podman_backend(tmp_path, capsys):
    restore = REPO / "reports/validation/restore-scenarios/r21-100b-rep-1g-replica.yaml"
    rc, records = _harness(tmp_path, "restore", restore.read_text(), "--backend", "podman")
    assert rc == 2 and records == []
    assert "restore runs have only the cgroup backend" in capsys.readouterr().err


@needs_podman
def test_record_in_a_podman_container(tmp_path):
    rc, records = _harness(tmp_path, "small", SMALL, "--backend", "podman")
    assert rc == 0 and len(records) == 1
    rec = load_record(records[0])
    cfg, m = rec["config"], rec["measured"]
    assert missing_fields(rec) == [] and cfg["backend"] == "podman"
    assert cfg["container"]["engine"].startswith("podman ") and cfg["container"]["runtime"].startswith("runc")
    assert "libpod" in cfg["container"]["cgroup"] and not Path(cfg["container"]["cgroup"]).exists()
    assert m["outcome"] == "ok" and m["backup_completed"] and m["fork_usec"] > 0 and m["rdb_last_cow_size"] > 0
    # the container's own cgroup was read: it holds the data, and never more than the container's limit
    assert m["used_memory_before_fork"] < m["usage_before_fork"] <= m["peak_container_bytes"] <= cfg["limit_bytes"]
    assert m["peak_anon_bytes"] > 100_000 * 1000
    assert rec["timeline"][-1]["usage"] <= cfg["limit_bytes"]
    assert remove_empty_parents() == []  # the run removed podman's libpod_parent/conmon groups itself


@needs_podman
@pytest.mark.parametrize("oom_score_adj, victim", [(False, "parent"), (True, "child")])
def test_oom_in_a_podman_container_is_reported_like_the_cgroup_backend(tmp_path, monkeypatch, oom_score_adj, victim):
    """As on the cgroup backend: the parent dies, unless Redis's oom-score-adj gives the save child +800."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    text = OOM.replace("{memory: 256MiB}", f"{{memory: 256MiB, oom_score_adj: {str(oom_score_adj).lower()}}}")
    rc, records = _harness(tmp_path, "oom", text, "--backend", "podman")
    assert rc == 0 and len(records) == 1
    assert list(cwd.iterdir()) == []  # conmon's "oom" marker file lands in the removed data dir, not here
    rec = load_record(records[0])
    m = rec["measured"]
    assert m["outcome"] == "oom" and m["oom_victim"] == victim and not m["backup_completed"]
    kill = m["oom_kills"][0]
    assert kill["role"] == victim and kill["comm"] == "redis-server" and kill["source"] == "kmsg"
    # read from the container's cgroup even when podman removed it with the killed server: up to the limit, plus
    # the few pages the kernel lets a dying OOM victim charge past it (mm/memcontrol.c try_charge, "force:";
    # seen here: one page over)
    assert m["usage_before_fork"] < m["peak_container_bytes"] <= rec["config"]["limit_bytes"] + (1 << 20)


_CHILD = textwrap.dedent(
    """
    import json, time
    from sim.harness.podman import PodmanServer
    with PodmanServer(limit_bytes=128 << 20, rdb_key_save_delay=1000) as srv:
        c = srv.client()
        c.execute_command("DEBUG", "POPULATE", 20000, "key", 100)
        c.bgsave()
        print(json.dumps({"name": srv.name, "dir": str(srv.dir), "cgroup": str(srv.cgroup.path),
                          "pids": [srv.pid, *srv.child_pids()]}), flush=True)
        time.sleep(60)
    """
)


def _child_harness(sig: int) -> dict:
    """A harness process holding a container mid-BGSAVE, sent ``sig``; what it had made."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        info = json.loads(line)
        assert len(info["pids"]) == 2, "BGSAVE child not running"
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert " failed" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return info


def _gone(info: dict) -> None:
    assert info["name"] not in rbsim_containers()
    assert not Path(info["dir"]).exists() and not Path(info["cgroup"]).exists()
    for pid in info["pids"]:
        assert not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes().split()[2:3]


@needs_podman
def test_sigterm_removes_the_container():
    _gone(_child_harness(signal.SIGTERM))


@needs_podman
def test_a_killed_runs_container_is_swept():
    info = _child_harness(signal.SIGKILL)
    assert info["name"] in rbsim_containers()  # nothing could clean up ...
    report = sweep_leftovers()  # ... until the next run's sweep
    assert info["name"] in report.containers and info["dir"] in report.data_dirs
    _gone(info)
