"""A SIGKILLed ``rbsim harness`` leaves no worker running, and the next run's sweep clears what is left.

The real-kill test needs root, a memory cgroup and redis-server (about 15 s); the sweep test needs only /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import REPO_ROOT

from sim.harness.cgroup import find_rbsim_cgroups
from sim.harness.cleanup import PARENT_FLAG, WORKER_MODULES, owner_pid
from sim.harness.janitor import sweep_leftovers
from sim.harness.run import check_environment
from sim.harness.server import DEFAULT_BINARY

REPO = REPO_ROOT
_why_not = check_environment(DEFAULT_BINARY)


def _workers_of(parent: int) -> list[int]:
    """Pids of harness worker processes started with ``--parent parent``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if any(m in argv for m in WORKER_MODULES) and [PARENT_FLAG.encode(), str(parent).encode()] in [
            argv[i : i + 2] for i in range(len(argv) - 1)
        ]:
            pids.append(int(entry.name))
    return pids


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _wait_for(predicate, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_sweep_kills_workers_of_a_dead_harness_and_removes_its_tmp_records(tmp_path):
    dead = _dead_pid()
    # a worker as an older rbsim left it: no parent-death signal, still looping after its harness died
    straggler = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(120)",
            "-m",
            "sim.harness.sampler",
            "ping",
            PARENT_FLAG,
            str(dead),
        ],
        start_new_session=True,
    )
    try:
        assert _wait_for(lambda: _workers_of(dead) == [straggler.pid], 10)
        stale = tmp_path / f".v01-x-20260101T000000-abcdef.pid{dead}.k2j4h1x_.tmp"
        live = tmp_path / f".v02-y-20260101T000000-abcdef.pid{os.getpid()}.a8b9c0d1.tmp"
        stale.write_text("{")
        live.write_text("{")
        report = sweep_leftovers(swap_dirs=[tmp_path], data_dirs=[tmp_path], record_dirs=[tmp_path])
        assert straggler.pid in report.workers and report.tmp_records == [str(stale)]
        assert straggler.wait(timeout=5) == -signal.SIGKILL
        assert not stale.exists() and live.exists()
    finally:
        if straggler.poll() is None:
            straggler.kill()
            straggler.wait()


@pytest.mark.harness
@pytest.mark.skipif(_why_not is not None, reason=f"harness: {_why_not}")
def test_sigkill_of_the_harness_leaves_no_worker_and_the_next_sweep_cleans_up(tmp_path):
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(
        textwrap.dedent("""\
        name: t-kill
        platform: lab
        node: {memory: 200MiB}
        dataset: {keys: 20k, value_size: 1KB, key_size: 10B}
        workload: {writes_per_sec: 2k}
        """)
    )
    out = tmp_path / "records"
    with open(tmp_path / "harness.log", "wb") as log:
        harness = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sim.cli",
                "harness",
                str(scenario),
                "--out",
                str(out),
                "--steady",
                "60",
                "--quiet-wait",
                "0",
            ],
            cwd=REPO,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        assert _wait_for(lambda: len(_workers_of(harness.pid)) >= 2, 60), (tmp_path / "harness.log").read_text()
        workers = _workers_of(harness.pid)
        harness.send_signal(signal.SIGKILL)
        harness.wait()
        assert _wait_for(lambda: _workers_of(harness.pid) == [], 5), f"workers {workers} outlived the harness"
        report = sweep_leftovers(record_dirs=[out])
        assert any(owner_pid(Path(c).name) == harness.pid for c in report.cgroups)
        assert [c for c in find_rbsim_cgroups() if owner_pid(c.name) == harness.pid] == []
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
        for pid in _workers_of(harness.pid):
            os.kill(pid, signal.SIGKILL)
        sweep_leftovers(record_dirs=[out])
