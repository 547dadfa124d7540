"""Harness container tests: a real redis-server in a fresh memory cgroup (optionally swapping) leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
from helpers import REPO_ROOT

from sim.harness.cgroup import MemoryCgroup, find_rbsim_cgroups, memory_cgroup_available
from sim.harness.cleanup import CleanupRegistry, owner_pid, pid_alive
from sim.harness.janitor import sweep_leftovers
from sim.harness.oom import _KILLED, _OOM_KILL, OomWatcher, parse_kmsg_record
from sim.harness.server import DEFAULT_BINARY, RedisServer
from sim.harness.swap import SwapError, SwapFile, active_swap_files

MiB = 1 << 20
REPO = REPO_ROOT

_why_not = memory_cgroup_available()
if _why_not is None and not os.access(DEFAULT_BINARY, os.X_OK):
    _why_not = f"{DEFAULT_BINARY} not installed"
if _why_not:
    print(f"skipping harness container tests: {_why_not}", file=sys.stderr)

pytestmark = pytest.mark.harness
needs_container = pytest.mark.skipif(_why_not is not None, reason=f"harness: {_why_not}")


def _our_cgroups() -> list[Path]:
    return [p for p in find_rbsim_cgroups() if owner_pid(p.name) == os.getpid()]


def _our_swap_files() -> list[Path]:
    return [p for p in active_swap_files() if owner_pid(p.name) == os.getpid()]


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """Every test must leave no rbsim cgroup or active swap file of this process."""
    yield
    if _why_not is None:
        assert _our_cgroups() == []
        assert _our_swap_files() == []


def test_registry_runs_lifo_once_and_defers_a_signal_during_cleanup():
    reg = CleanupRegistry()
    order: list[str] = []
    previous = signal.signal(signal.SIGINT, reg._on_signal)
    try:
        reg.register(lambda: order.append("first"), name="first")

        def second() -> None:  # a Ctrl-C while this cleanup runs must not abort it
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            order.append("second")

        token = reg.register(second, name="second")
        with pytest.raises(KeyboardInterrupt):
            reg.run(token)
        assert order == ["second", "first"] and reg.pending() == []
        reg.run(token)  # already run: no-op
        assert order == ["second", "first"]
    finally:
        signal.signal(signal.SIGINT, previous)


def _assert_gone(cgroup_path: Path, pids: list[int], data_dir: Path | None) -> None:
    assert not cgroup_path.exists(), f"cgroup {cgroup_path} left behind"
    for pid in pids:
        assert not pid_alive(pid), f"process {pid} still alive"
    if data_dir is not None:
        assert not data_dir.exists(), f"data dir {data_dir} left behind"


def test_swap_file_refuses_politely_without_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SwapError, match="need root"):
        SwapFile(16 * MiB).create()


def test_kernel_oom_records_parse():
    seq, text = parse_kmsg_record(
        "3,1234,621052347,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        "oom_memcg=/a/rbsim-1-abcdef012345,task_memcg=/a/rbsim-1-abcdef012345,task=redis-server,pid=4429,uid=0\n"
    )
    m = _OOM_KILL.search(text)
    assert seq == "1234" and m["memcg"] == "/a/rbsim-1-abcdef012345" and m["pid"] == "4429"
    m = _KILLED.search(
        "Memory cgroup out of memory: Killed process 4429 (redis-server) total-vm:129432kB, "
        "anon-rss:65024kB, file-rss:9396kB, shmem-rss:0kB, UID:0 pgtables:244kB oom_score_adj:0"
    )
    assert m["pid"] == "4429" and m["anon"] == "65024"


@needs_container
def test_bgsave_in_256mib_cgroup_and_clean_exit():
    limit = 256 * MiB
    with MemoryCgroup(limit) as cg, RedisServer(cg) as srv:
        assert srv.pid in cg.pids()
        assert srv.version.major >= 7 and srv.allocator.startswith("jemalloc")
        c = srv.client()
        c.execute_command("DEBUG", "POPULATE", 100_000, "key", 1000)
        assert c.dbsize() == 100_000
        dataset = 100_000 * 1000
        persistence = srv.bgsave(timeout=60)
        assert persistence["rdb_last_bgsave_status"] == "ok"
        assert srv.rdb_path.stat().st_size > 0
        assert srv.seen_child_pids, "the BGSAVE child was never seen"
        st = cg.stats()
        assert dataset < st.usage_bytes <= limit
        assert st.usage_bytes <= st.max_usage_bytes <= limit
        assert st.anon_bytes > dataset
        assert st.swap_bytes == 0 and st.oom_kills == 0
        cg.reset_max_usage()
        assert cg.stats().max_usage_bytes <= st.max_usage_bytes
        path, pids, data_dir = cg.path, [srv.pid, *srv.seen_child_pids], srv.dir
    assert srv.returncode is not None
    _assert_gone(path, pids, data_dir)


@needs_container
def test_oom_parent_killed_when_populating_past_limit():
    with MemoryCgroup(64 * MiB) as cg, RedisServer(cg) as srv, OomWatcher(cg, srv) as watch:
        assert watch.victim() is None
        with pytest.raises(redis.RedisError):  # the server is SIGKILLed mid-command
            srv.client().execute_command("DEBUG", "POPULATE", 100_000, "key", 1000)
        deadline = time.monotonic() + 5
        while srv.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not srv.alive() and srv.returncode == -9
        kills = watch.kills()
        assert watch.victim() == "parent", kills
        assert kills[0].pid == srv.pid and cg.stats().oom_kills >= 1
        path, data_dir = cg.path, srv.dir
    _assert_gone(path, [srv.pid], data_dir)


def _cow_oom(oom_score_adj: str | None) -> tuple[str | None, RedisServer, list]:
    """Populate ~115 MB under a 160 MiB limit, then overwrite keys during a slowed BGSAVE until something dies."""
    with MemoryCgroup(160 * MiB) as cg, RedisServer(cg, rdb_key_save_delay=-2, oom_score_adj=oom_score_adj) as srv:
        c = srv.client()
        c.execute_command("DEBUG", "POPULATE", 100_000, "key", 1000)
        with OomWatcher(cg, srv) as watch:
            c.bgsave()
            assert srv.child_pids()
            value = b"x" * 1000
            deadline = time.monotonic() + 20
            n = 0
            try:
                while time.monotonic() < deadline and watch.victim() is None:
                    pipe = c.pipeline(transaction=False)
                    for i in range(200):
                        pipe.set(f"key:{(n + i) * 7919 % 100_000}", value)
                    pipe.execute()
                    n += 200
                    if not c.info("persistence")["rdb_bgsave_in_progress"]:
                        break
            except Exception:  # noqa: BLE001 - the parent was killed under us
                pass
            time.sleep(0.2)
            victim, kills = watch.victim(), watch.kills()
            if victim == "child":
                assert srv.alive()
                assert c.info("persistence")["rdb_last_bgsave_status"] == "err"
            elif victim == "parent":
                assert not srv.alive()
        path = cg.path
    _assert_gone(path, [srv.pid, *srv.seen_child_pids], srv.dir)
    return victim, srv, kills


@needs_container
def test_oom_during_bgsave_cow_default_config_reports_a_victim():
    victim, srv, kills = _cow_oom(None)
    print(f"COW OOM with oom-score-adj no: victim={victim} kills={kills}")
    assert victim in ("parent", "child")


@needs_container
def test_oom_during_bgsave_cow_child_killed_with_oom_score_adj():
    victim, srv, kills = _cow_oom("yes")  # default values 0 200 800: the BGSAVE child gets +800
    assert victim == "child", kills
    assert kills[0].pid in srv.seen_child_pids


@needs_container
def test_swapping_container_and_swap_file_removed():
    with SwapFile(256 * MiB) as sw:
        assert sw.path in active_swap_files()
        with MemoryCgroup(128 * MiB, swap_bytes=256 * MiB) as cg, RedisServer(cg) as srv:
            c = srv.client()
            c.execute_command("DEBUG", "POPULATE", 190_000, "key", 1000)  # ~200 MiB used_memory
            assert srv.info("memory")["used_memory"] > 190 * MiB
            st = cg.stats()
            assert st.swap_bytes > 0 and st.usage_bytes <= 128 * MiB
            assert st.swap_limit_bytes == 256 * MiB
            assert srv.alive() and c.get("key:7").startswith(b"value:7")
            assert sw.used_bytes() > 0
            path, data_dir = cg.path, srv.dir
        _assert_gone(path, [srv.pid], data_dir)
        swap_path = sw.path
    assert swap_path not in active_swap_files()
    assert not swap_path.exists()
    shown = subprocess.run(["swapon", "--show=NAME", "--noheadings"], capture_output=True, text=True).stdout
    assert str(swap_path) not in shown
    print(f"swapon --show after exit: {shown.strip() or '(empty)'}")


@needs_container
def test_swap_size_zero_is_noop():
    with SwapFile(0) as sw:
        assert sw.path is None


_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from sim.harness.cgroup import MemoryCgroup
    from sim.harness.server import RedisServer
    from sim.harness.swap import SwapFile
    with SwapFile(64 << 20) as sw, MemoryCgroup(128 << 20, swap_bytes=64 << 20) as cg, \\
            RedisServer(cg, rdb_key_save_delay=1000) as srv:
        c = srv.client()
        c.execute_command("DEBUG", "POPULATE", 20000, "key", 1000)
        c.bgsave()
        kids = srv.child_pids()
        print(json.dumps({"cgroup": str(cg.path), "swap": str(sw.path), "dir": str(srv.dir),
                          "pids": [srv.pid, *kids]}), flush=True)
        time.sleep(60)
    """
)


def _run_child_and_signal(sig: int) -> tuple[int, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line, "child harness did not start"
        info = json.loads(line)
        assert len(info["pids"]) == 2, "BGSAVE child not running"
        assert Path(info["swap"]) in active_swap_files()
        proc.send_signal(sig)
        rc = proc.wait(timeout=30)
        err = proc.stderr.read()
        assert "KeyboardInterrupt" in err or sig != signal.SIGINT, err
        assert " failed" not in err, err  # a failed cleanup is logged as "cleanup ... failed: ..."
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rc, info


def _assert_child_left_nothing(info: dict) -> None:
    _assert_gone(Path(info["cgroup"]), info["pids"], Path(info["dir"]))
    assert Path(info["swap"]) not in active_swap_files()
    assert not Path(info["swap"]).exists()


@needs_container
def test_sigint_mid_run_leaves_nothing_behind():
    rc, info = _run_child_and_signal(signal.SIGINT)
    assert rc in (-signal.SIGINT, 130), rc
    _assert_child_left_nothing(info)


@needs_container
def test_sigterm_mid_run_leaves_nothing_behind():
    rc, info = _run_child_and_signal(signal.SIGTERM)
    assert rc == 143, rc
    _assert_child_left_nothing(info)


@needs_container
def test_sigkill_leftovers_are_swept():
    rc, info = _run_child_and_signal(signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert Path(info["cgroup"]).exists()  # nothing could clean up ...
    report = sweep_leftovers()  # ... until the sweep
    assert info["cgroup"] in report.cgroups
    assert info["swap"] in report.swap_files
    assert info["dir"] in report.data_dirs
    _assert_child_left_nothing(info)
