"""One harness run: the scenario file the simulator reads, played against a real redis-server, as one record.

:func:`run_scenario_file` loads the scenario, :func:`plan_run` turns it into limits and settings (a fresh
memory cgroup of the node's memory, a swap file of ``node.swap``, ``maxmemory`` = the budget's data limit
with ``noeviction``, ``rdb-key-save-delay``, ``rdbcompression``, ``oom-score-adj``) and :func:`execute`
does the run: fill, write load + ping loop, ~2 s of steady state, BGSAVE, 100 ms samples until the save ends
or the server dies or the time budget runs out, then collect and tear everything down. A server killed by
the OOM killer, a failed save or a run past its time budget are outcomes written to the record, not errors.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from sim.errors import RbsimError
from sim.harness import DEFAULT_TIMEOUT_S, STEADY_S  # defaults live in the light package: `rbsim --help` needs them
from sim.harness.cgroup import MemoryCgroup, memory_cgroup_available
from sim.harness.fill import DatasetShape, FillError, FillResult, check_fits, dataset_shape, fill
from sim.harness.groups import TypedDataset, typed_dataset
from sim.harness.loadgen import TYPED_ONE_PROCESS_MAX_RATE, WriteLoad, write_spec
from sim.harness.oom import OomWatcher
from sim.harness.podman import PodmanServer, podman_version, runtime_version
from sim.harness.record import SCHEMA, TIMELINE_FIELDS, new_id, now_iso, thin_pings
from sim.harness.sampler import PingLoop, Sampler, latency_stats
from sim.harness.server import DEFAULT_BINARY, RedisServer, RedisServerError, server_version
from sim.harness.swap import DEFAULT_SWAP_DIR, SwapFile
from sim.harness.typedfill import fill_groups
from sim.prepare import node_budget
from sim.scenario import Scenario, load_scenario
from sim.units import GIB

MiB = 1 << 20
PAGING_SWAP_BYTES = MiB
TEARDOWN_MARGIN_S = 5.0
MACHINE_HEADROOM = GIB
"""Memory left to the rest of the machine when checking that a node's memory fits here."""


class HarnessError(RbsimError, RuntimeError):
    """A scenario the harness cannot run here (unsupported field, too big for this machine); says why."""


class _Timeout(Exception):
    """The run's wall-time budget ran out in the named phase."""


# -- planning ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs, derived from the scenario before anything is started."""

    scenario: Scenario
    scenario_file: str
    scenario_yaml: str
    shape: DatasetShape | None  # the shorthand's one string group (None for typed groups)
    limit_bytes: int
    swap_bytes: int
    maxmemory: int
    reserved_bytes: int
    writes_per_sec: float
    rdb_key_save_delay: int
    oom_score_adj: bool
    compression: bool
    warnings: tuple[str, ...] = ()
    typed: TypedDataset | None = None

    @property
    def maxmemory_policy(self) -> str:
        """The eviction policy of the run (typed groups: the scenario's; the shorthand: noeviction)."""
        return self.typed.engine.maxmemory_policy if self.typed else "noeviction"

    def server_settings(self) -> dict[str, Any]:
        """Keyword arguments for :class:`RedisServer`."""
        return {
            "maxmemory": self.maxmemory,
            "maxmemory_policy": self.maxmemory_policy,
            "rdb_key_save_delay": self.rdb_key_save_delay,
            "oom_score_adj": "yes" if self.oom_score_adj else None,
            "extra_config": {"rdbcompression": "yes" if self.compression else "no"},
        }


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[name] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out


def unsupported(scenario: Scenario) -> list[str]:
    """Scenario fields this harness cannot reproduce on one local server (empty when runnable)."""
    problems = []
    if scenario.cluster is not None and scenario.cluster.shards > 1:
        problems.append("cluster: the harness runs one server, not a cluster of shards")
    if scenario.backup.source != "primary":
        problems.append("backup.source replica: the harness backs up the primary it fills")
    if scenario.backup.method == "forkless":
        problems.append("backup.method forkless: no local engine here has a forkless save (BGSAVE forks)")
    if scenario.node.transparent_huge_pages:
        problems.append("node.transparent_huge_pages: Redis turns THP off for itself on this machine")
    if scenario.workload.daily_profile is not None:
        problems.append("workload.daily_profile: give a constant workload.writes_per_sec for a harness run")
    return problems


def plan_run(
    scenario: Scenario,
    scenario_file: str = "",
    scenario_yaml: str = "",
    memory: dict[str, int] | None = None,
    typed: TypedDataset | None = None,
) -> RunPlan:
    """Limits and settings of a run; raises HarnessError if this machine cannot run the scenario.

    ``typed`` (typed key groups, their write mix and engine settings; default: the scenario's, see
    :func:`~sim.harness.groups.typed_dataset`) replaces the shorthand's string keys.
    """
    problems = unsupported(scenario)
    if problems:
        raise HarnessError(f"{scenario_file or scenario.name}: cannot run on the harness: " + "; ".join(problems))
    budget = node_budget(scenario.node)
    memory = memory or meminfo()
    room = memory.get("MemAvailable", memory.get("MemTotal", 0)) - MACHINE_HEADROOM
    if budget.node_memory > room:
        what = f"node.type {scenario.node.type} (maxmemory" if scenario.node.type else "node.memory ("
        raise HarnessError(
            f"{scenario_file or scenario.name}: {what} {budget.node_memory / GIB:.2f} GiB) does not fit this "
            f"machine: {room / GIB:.2f} GiB available after keeping {MACHINE_HEADROOM / GIB:.0f} GiB for the rest; "
            f"use a smaller node.memory"
        )
    if budget.swap:
        free = shutil.disk_usage(DEFAULT_SWAP_DIR).free
        if budget.swap + GIB > free:
            raise HarnessError(
                f"{scenario_file}: node.swap {budget.swap / GIB:.2f} GiB does not fit the "
                f"{free / GIB:.1f} GiB free in {DEFAULT_SWAP_DIR}"
            )
    typed = typed if typed is not None else typed_dataset(scenario)
    shape = None if typed else dataset_shape(scenario)
    try:
        if shape is not None:
            check_fits(shape, budget.maxmemory)
    except FillError as exc:
        raise HarnessError(f"{scenario_file or scenario.name}: {exc}") from None
    warnings = []
    if scenario.workload.reads_per_sec:
        warnings.append("workload.reads_per_sec is not driven: the PING loop is the only reader")
    return RunPlan(
        scenario=scenario,
        scenario_file=scenario_file,
        scenario_yaml=scenario_yaml,
        shape=shape,
        limit_bytes=budget.node_memory,
        swap_bytes=budget.swap,
        maxmemory=budget.maxmemory,
        reserved_bytes=budget.reserved,
        writes_per_sec=float(scenario.workload.writes_per_sec),
        rdb_key_save_delay=scenario.backup.rdb_key_save_delay_us,
        oom_score_adj=scenario.node.oom_score_adj,
        compression=scenario.backup.compression,
        warnings=tuple(warnings),
        typed=typed,
    )


def server_problems(plan: RunPlan, version: Any) -> list[str]:
    """Settings of ``plan`` the server binary (its :class:`ServerVersion`) does not accept (empty when fine)."""
    problems = []
    if plan.rdb_key_save_delay < 0 and version.flavor == "redis" and version.major < 7:
        problems.append(
            f"backup.rdb_key_save_delay_us {plan.rdb_key_save_delay}: {version.flavor} {version.string} "
            "accepts only delays >= 0 (negative delays came with Redis 7.0)"
        )
    return problems


def check_environment(binary: str = DEFAULT_BINARY) -> str | None:
    """None if runs can happen here, else a sentence saying why not (not root, no cgroup, no server binary)."""
    why = memory_cgroup_available()
    if why:
        return why
    if not os.access(binary, os.X_OK):
        return f"server binary {binary} is not an executable file"
    try:
        server_version(binary)
    except RedisServerError as exc:
        return str(exc)
    return None


# -- machine and log facts ----------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    """Facts about this machine that change the numbers."""
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "mem_total": meminfo().get("MemTotal"),
        "thp": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "overcommit": _read("/proc/sys/vm/overcommit_memory"),
        "page_size": os.sysconf("SC_PAGE_SIZE"),
        "hostname": platform.node(),
        "free_page_reporting": free_page_reporting(),
        "damon": _read("/sys/kernel/mm/damon/admin/kdamonds/0/state"),
    }


VIRTIO_BALLOON_F_REPORTING = 5
"""Feature bit of a virtio balloon that hands freed guest pages back to the host (Linux virtio_balloon.h)."""


def free_page_reporting(driver: Path = Path("/sys/bus/virtio/drivers/virtio_balloon")) -> bool:
    """True when a bound virtio balloon reports free pages to the host.

    Then every page Redis touches for the first time since the kernel freed it costs a host fault: on the
    lab VM a 4 GiB RDB load took 22.8 s with reporting and 10.5 s with the balloon driver unbound, and a
    1 GiB load 4.7 s against 1.7 s. A dedicated node (EC2, ElastiCache) has no such cost, so records taken
    with it on overstate first-touch costs (restore loads, copy-on-write copies).
    """
    for device in driver.glob("virtio*") if driver.is_dir() else ():
        features = _read(str(device / "features")) or ""
        if len(features) > VIRTIO_BALLOON_F_REPORTING and features[VIRTIO_BALLOON_F_REPORTING] == "1":
            return True
    return False


_LOG_LINE = re.compile(
    r"^(?P<pid>\d+):(?P<role>[A-Z]) (?P<ts>\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3}) . (?P<msg>.*)$"
)
_COW_7 = re.compile(r"Fork CoW for RDB: current (\d+) MB, peak (\d+) MB, average (\d+) MB")
_COW_6 = re.compile(r"RDB: (\d+) MB of memory used by copy-on-write")


def parse_save_log(text: str) -> dict[str, Any]:
    """Timings (ms resolution) and status of the last BGSAVE in a server log.

    ``save_duration_s``: "Background saving started by pid" -> "Background saving terminated ..." (or
    "Background saving error"); ``save_status_log``: ok / error / killed / None (no end line: the server died).
    """
    lines = text.splitlines()
    start = max((i for i, ln in enumerate(lines) if "Background saving started by pid" in ln), default=None)
    out: dict[str, Any] = {
        "save_duration_s": None,
        "save_status_log": None,
        "child_write_s": None,
        "cow_log_peak_bytes": None,
        "cow_log_current_bytes": None,
    }
    if start is None:
        return out

    def ts(line: str) -> datetime | None:
        m = _LOG_LINE.match(line)
        return datetime.strptime(m["ts"], "%d %b %Y %H:%M:%S.%f") if m else None

    t0 = ts(lines[start])
    for ln in lines[start + 1 :]:
        t = ts(ln)
        secs = (t - t0).total_seconds() if t is not None and t0 is not None else None
        if "DB saved on disk" in ln:
            out["child_write_s"] = secs
        elif m := _COW_7.search(ln):
            out["cow_log_current_bytes"], out["cow_log_peak_bytes"] = int(m[1]) * MiB, int(m[2]) * MiB
        elif m := _COW_6.search(ln):
            out["cow_log_current_bytes"] = out["cow_log_peak_bytes"] = int(m[1]) * MiB
        elif "Background saving terminated" in ln or "Background saving error" in ln:
            out["save_duration_s"] = secs
            if "success" in ln:
                out["save_status_log"] = "ok"
            elif "signal" in ln:
                out["save_status_log"] = "killed"
            else:
                out["save_status_log"] = "error"
            break
    return out


# -- the run ------------------------------------------------------------------------------------------


@dataclass
class RunState:
    """What a run collected so far (filled in phase by phase)."""

    phase: str = "setup"
    timed_out_in: str | None = None
    died_in: str | None = None
    fill: FillResult | None = None
    mem_before_fork: dict[str, Any] = field(default_factory=dict)
    t_bgsave: float | None = None
    bgsave_error: str | None = None
    fork_usec: int | None = None
    save_end: str | None = None
    persistence_after: dict[str, Any] = field(default_factory=dict)
    allocator: str | None = None
    load_result: dict | None = None
    load_procs: int = 0
    pings: list[list[float]] = field(default_factory=list)
    phase_s: dict[str, float] = field(default_factory=dict)
    stats_before: dict[str, Any] = field(default_factory=dict)
    stats_after: dict[str, Any] = field(default_factory=dict)
    used_memory_end: int | None = None


def _alive_info(server: RedisServer, section: str) -> dict[str, Any]:
    try:
        return server.client(socket_timeout=5).info(section) if server.alive() else {}
    except (redis.RedisError, OSError):
        return {}


def _check_deadline(deadline: float, phase: str) -> None:
    if time.monotonic() > deadline:
        raise _Timeout(phase)


def do_fill(plan: RunPlan, server: RedisServer, state: RunState, deadline: float) -> None:
    """Fill the dataset (phase ``fill``)."""
    state.phase = "fill"
    t = time.monotonic()
    try:
        if plan.typed:
            state.fill = fill_typed(server, plan.typed, deadline)
        else:
            assert plan.shape is not None
            state.fill = fill(server, plan.shape, deadline=deadline)
    except (TimeoutError, redis.TimeoutError):
        raise _Timeout("fill") from None
    finally:
        state.phase_s["fill"] = round(time.monotonic() - t, 3)
    state.allocator = str(server.info("memory").get("mem_allocator"))


def fill_typed(server: RedisServer, typed: TypedDataset, deadline: float) -> FillResult:
    """Fill typed groups and read INFO memory: the ``fill`` block with one entry per group."""
    groups, seconds = fill_groups(server, typed.groups, typed.engine, deadline=deadline)
    mem = server.info("memory")
    return FillResult(
        method="pipelined-typed",
        seconds=round(seconds, 3),
        keys=int(server.client().dbsize()),
        key_name_bytes_mean=round(typed.key_name_bytes_mean(), 3),
        used_memory=int(mem["used_memory"]),
        used_memory_rss=int(mem["used_memory_rss"]),
        used_memory_dataset=mem.get("used_memory_dataset"),
        mem_fragmentation_ratio=mem.get("mem_fragmentation_ratio"),
        groups=[g.as_dict() for g in groups],
    )


def wait_for_load(plan: RunPlan, sampler: Sampler, state: RunState, deadline: float, limit_s: float = 15.0) -> None:
    """Wait until the writers' first writes reach the server (their start-up takes a few hundred ms)."""
    state.phase = "load-start"
    if plan.writes_per_sec <= 0:
        return
    start = sampler.sample().get("write_calls") or 0
    end = min(deadline, time.monotonic() + limit_s)
    while time.monotonic() < end:
        time.sleep(0.05)
        calls = sampler.sample().get("write_calls")
        if calls is not None and calls > start:
            sampler.rows.clear()
            return
    raise _Timeout("load-start")


def do_steady(plan: RunPlan, sampler: Sampler, state: RunState, steady_s: float) -> None:
    """Let the write load settle (phase ``steady``), sampling as during the save (``sampler.t0`` provisional)."""
    state.phase = "steady"
    sampler.run_for(steady_s)


def do_bgsave(server: RedisServer, sampler: Sampler, state: RunState) -> tuple[float, bool]:
    """Read memory, fork the save and read the fork time (phase ``fork``); (when it was asked, whether it forked)."""
    state.phase = "fork"
    state.mem_before_fork = dict(server.info("memory"))
    state.stats_before = _alive_info(server, "stats")
    sampler.sample()  # last row before the fork
    state.t_bgsave = t_bgsave = time.monotonic()
    try:
        server.client().bgsave()
    except redis.ResponseError as exc:
        state.bgsave_error = str(exc)
        return t_bgsave, False
    stats = _alive_info(server, "stats")
    state.fork_usec = stats.get("latest_fork_usec")
    return t_bgsave, True


def do_save(server: RedisServer, sampler: Sampler, state: RunState, deadline: float) -> None:
    """Sample every 100 ms until the save ends, the server dies or the budget runs out (phase ``save``)."""
    state.phase = "save"
    t = time.monotonic()
    state.save_end = sampler.until_save_ends(deadline)
    state.phase_s["save_wait"] = round(time.monotonic() - t, 3)
    if state.save_end == "timeout":
        state.timed_out_in = "save"
    elif state.save_end == "dead":
        state.died_in = "save"
    state.persistence_after = _alive_info(server, "persistence")
    state.stats_after = _alive_info(server, "stats")
    state.used_memory_end = _alive_info(server, "memory").get("used_memory")


def write_load(plan: RunPlan, server: RedisServer) -> WriteLoad:
    """The run's writers: SETs of the shorthand's keys, or the typed mix (its spec file in the server's dir)."""
    if plan.typed:
        spec = server.dir / "loadgen-spec.pickle"  # type: ignore[operator]
        write_spec(spec, plan.typed.groups, plan.typed.mix)
        procs = 2 if plan.writes_per_sec > TYPED_ONE_PROCESS_MAX_RATE else 1
        return WriteLoad(server.listening_port, plan.typed.keys, 0, plan.writes_per_sec, procs=procs, spec_path=spec)
    shape = plan.shape
    assert shape is not None
    return WriteLoad(
        server.listening_port,
        shape.keys,
        shape.value_size,
        plan.writes_per_sec,
        distribution=plan.scenario.workload.key_distribution,
        pattern=shape.pattern,
        new_keys_fraction=plan.scenario.workload.new_keys_fraction,
    )


def _rebase(rows: list[dict[str, Any]], old_t0: float, new_t0: float) -> None:
    shift = old_t0 - new_t0
    for r in rows:
        r["t"] = round(r["t"] + shift, 3)


def execute(
    plan: RunPlan,
    *,
    binary: str = DEFAULT_BINARY,
    label: str = "",
    timeout: float = DEFAULT_TIMEOUT_S,
    steady_s: float = STEADY_S,
    backend: str = "cgroup",
) -> dict[str, Any]:
    """Run one scenario on a real server and return its record (outcomes, not exceptions, for OOM/timeouts);
    ``backend``: the server in a memory cgroup of ours (``cgroup``) or in a podman container (``podman``)."""
    problems = server_problems(plan, server_version(binary))
    if problems:
        raise HarnessError(f"{plan.scenario_file or plan.scenario.name}: " + "; ".join(problems))
    t_start = time.monotonic()
    deadline = t_start + timeout - TEARDOWN_MARGIN_S
    machine = machine_info()
    machine["loadavg_before"] = list(os.getloadavg())
    state = RunState()
    created = now_iso()
    with contextlib.ExitStack() as stack:
        stack.enter_context(SwapFile(plan.swap_bytes))  # exits last: after the cgroup that used it
        t = time.monotonic()
        cg, server = _start_server(stack, plan, binary, backend)
        state.phase_s["start"] = round(time.monotonic() - t, 3)
        oom = stack.enter_context(OomWatcher(cg, server))
        sampler = Sampler(server, cg)
        stack.callback(sampler.close)
        load = write_load(plan, server)
        if plan.typed:
            sampler.write_commands = plan.typed.write_commands()
        pinger = PingLoop(server.listening_port)
        try:
            do_fill(plan, server, state, deadline)
            _check_deadline(deadline, "fill")
            pinger.start()
            load.start()
            wait_for_load(plan, sampler, state, deadline)
            state.load_procs = load.procs if plan.writes_per_sec > 0 else 0
            provisional = sampler.t0 = time.monotonic() + steady_s  # rebased to the BGSAVE time below
            do_steady(plan, sampler, state, steady_s)
            cg.reset_max_usage()
            t_bgsave, forked = do_bgsave(server, sampler, state)
            _rebase(sampler.rows, provisional, t_bgsave)
            if forked:
                sampler.t0 = t_bgsave
                do_save(server, sampler, state, deadline)
        except _Timeout as exc:
            state.timed_out_in = str(exc)
        except (redis.ConnectionError, ConnectionError, FillError, redis.TimeoutError) as exc:
            if server.alive():
                if isinstance(exc, FillError):  # the data does not fit, or a parameter was refused: bad input
                    raise HarnessError(f"{plan.scenario_file or plan.scenario.name}: {exc}") from None
                raise
            state.died_in = state.phase  # the OOM killer (or a crash) took the server: an outcome
            state.bgsave_error = state.bgsave_error or f"server died during {state.phase}: {exc!r}"
        state.load_result = load.stop()
        state.pings = pinger.stop()
        if state.died_in or (state.persistence_after.get("rdb_last_bgsave_status") not in (None, "ok")):
            time.sleep(0.3)  # let the kernel log the OOM kill
        record = build_record(
            plan, state, machine, server, cg, oom, sampler, label=label, created=created, binary=binary
        )
    record["machine"]["loadavg_after"] = list(os.getloadavg())
    record["measured"]["wall_s"] = round(time.monotonic() - t_start, 2)
    return record


def _start_server(
    stack: contextlib.ExitStack, plan: RunPlan, binary: str, backend: str
) -> tuple[MemoryCgroup, RedisServer]:
    """The started server and the memory cgroup it is charged to: one made here, or the one podman made."""
    if backend == "podman":
        container = PodmanServer(
            binary, limit_bytes=plan.limit_bytes, swap_bytes=plan.swap_bytes, **plan.server_settings()
        )
        stack.enter_context(container)
        return container.cgroup, container
    cg = stack.enter_context(MemoryCgroup(plan.limit_bytes, plan.swap_bytes))
    return cg, stack.enter_context(RedisServer(cg, binary, **plan.server_settings()))


# -- the record ---------------------------------------------------------------------------------------


def _served_rate(rows: list[dict[str, Any]], t_from: float, t_to: float) -> float | None:
    """Write calls per second between the rows nearest ``t_from`` and ``t_to`` (from commandstats deltas)."""
    valid = [r for r in rows if r.get("write_calls") is not None]
    a = [r for r in valid if r["t"] <= t_from]
    b = [r for r in valid if r["t"] <= t_to]
    if not a or not b:
        return None
    r0, r1 = a[-1], b[-1]
    if r1["t"] - r0["t"] <= 0.05:
        return None
    return (r1["write_calls"] - r0["write_calls"]) / (r1["t"] - r0["t"])


def outcome_of(victim: str | None, timed_out: bool, died: bool, backup_completed: bool, swap_peak: int) -> str:
    """oom > timeout > failed (save failed, server crashed) > paging (swap used > 1 MiB) > ok."""
    if victim is not None:
        return "oom"
    if timed_out:
        return "timeout"
    if died or not backup_completed:
        return "failed"
    if swap_peak > PAGING_SWAP_BYTES:
        return "paging"
    return "ok"


def build_record(
    plan: RunPlan,
    state: RunState,
    machine: dict[str, Any],
    server: RedisServer,
    cg: MemoryCgroup,
    oom: OomWatcher,
    sampler: Sampler,
    *,
    label: str,
    created: str,
    binary: str,
) -> dict[str, Any]:
    """Assemble the record while the cgroup and server dir still exist."""
    scenario = plan.scenario
    rows = sampler.rows
    try:
        final = cg.stats()
    except OSError:
        final = None
    log_text = ""
    with contextlib.suppress(OSError, RedisServerError):
        log_text = server.log_path.read_text(errors="replace")
    log = parse_save_log(log_text)
    kills = oom.kills()
    victim = kills[0].role if kills else None
    pers = state.persistence_after
    if state.t_bgsave is None:
        bgsave_status = None
    elif state.bgsave_error and state.died_in is None:
        bgsave_status = "fork-failed"
    else:
        bgsave_status = pers.get("rdb_last_bgsave_status")
    completed = state.save_end == "done" and bgsave_status == "ok" and log["save_status_log"] in ("ok", None)
    save_rows = [r for r in rows if r["t"] >= 0]
    t_end = save_rows[-1]["t"] if save_rows else 0.0
    swap_peak = max([r.get("swap") or 0 for r in save_rows] + [final.swap_bytes if final else 0])
    swap_before = max([r.get("swap") or 0 for r in rows if r["t"] < 0], default=0)
    faults0 = next((r["pgmajfault"] for r in reversed(rows) if r["t"] < 0 and "pgmajfault" in r), None)
    faults1 = final.major_faults if final else (save_rows[-1].get("pgmajfault") if save_rows else None)
    t0 = state.t_bgsave or 0.0
    pings = [[round(t - t0, 4), ms] for t, ms in state.pings]
    during, before = ping_windows(pings, t_end)
    duration = log["save_duration_s"]
    if duration is None and state.save_end == "done" and save_rows:
        duration = next((r["t"] for r in save_rows if r.get("in_progress") == 0), None)
    rdb_bytes = None
    with contextlib.suppress(OSError, RedisServerError):
        if completed and server.rdb_path.exists():
            rdb_bytes = server.rdb_path.stat().st_size
    cow_sampled = max([r.get("current_cow_size") or 0 for r in save_rows], default=0)
    mem = state.mem_before_fork or {}
    fill = (
        state.fill.as_dict()
        if state.fill
        else {
            "method": None,
            "seconds": None,
            "keys": None,
            "key_name_bytes_mean": plan.typed.key_name_bytes_mean() if plan.typed else plan.shape.key_name_bytes_mean,  # type: ignore[union-attr]
            "used_memory": None,
            "used_memory_rss": None,
        }
    )
    ver = server.version
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "id": new_id(scenario.name),
        "created": created,
        "label": label,
        "scenario_file": plan.scenario_file,
        "scenario_yaml": plan.scenario_yaml,
        "scenario": scenario.model_dump(mode="json"),
        "machine": {**machine, "loadavg_after": None},
        "server": {
            "binary": str(binary),
            "flavor": ver.flavor,
            "version": ver.string,
            "allocator": state.allocator or ver.malloc,
            "version_text": ver.text,
        },
        "config": {
            "limit_bytes": plan.limit_bytes,
            "swap_bytes": plan.swap_bytes,
            "maxmemory": plan.maxmemory,
            "reserved_bytes": plan.reserved_bytes,
            "maxmemory_policy": plan.maxmemory_policy,
            "rdb_key_save_delay": plan.rdb_key_save_delay,
            "oom_score_adj": plan.oom_score_adj,
            "compression": plan.compression,
            "swappiness": cg.swappiness,
            "cgroup_version": cg.version,
            "backend": "podman" if isinstance(server, PodmanServer) else "cgroup",
            "container": container_info(server),
        },
        "fill": fill,
        "load": {
            "target_writes_per_sec": plan.writes_per_sec,
            "served_writes_per_sec_during_save": _rate_or_zero(plan, _served_rate(rows, 0.0, t_end)),
            "served_writes_per_sec_before": _rate_or_zero(
                plan, _served_rate(rows, max(-1.5, rows[0]["t"] if rows else 0), -0.001)
            ),
            "distribution": scenario.workload.key_distribution.model_dump(mode="json"),
            "value_pattern": plan.shape.pattern if plan.shape else None,
            "new_keys_fraction": scenario.workload.new_keys_fraction,
            "processes": state.load_procs,
            "loadgen": state.load_result,
            "commands_sent": (state.load_result or {}).get("commands"),
            **({"mix": [asdict(m) for m in plan.typed.mix]} if plan.typed else {}),
        },
        "measured": {
            "outcome": outcome_of(
                victim, state.timed_out_in is not None, state.died_in is not None, completed, swap_peak
            ),
            "oom_victim": victim,
            "oom_kills": [
                {"pid": k.pid, "role": k.role, "comm": k.comm, "anon_rss_bytes": k.anon_rss_bytes, "source": k.source}
                for k in kills
            ],
            "backup_completed": completed,
            "bgsave_status": bgsave_status,
            "bgsave_error": state.bgsave_error,
            "timed_out_in": state.timed_out_in,
            "server_died_in": state.died_in,
            "fork_usec": state.fork_usec,
            "rdb_last_cow_size": pers.get("rdb_last_cow_size") if completed else None,
            "cow_peak_sampled_bytes": cow_sampled,
            "cow_log_peak_bytes": log["cow_log_peak_bytes"],
            "save_duration_s": duration,
            "save_status_log": log["save_status_log"],
            "child_write_s": log["child_write_s"],
            "rdb_bytes": rdb_bytes,
            "used_memory_before_fork": mem.get("used_memory"),
            "used_memory_rss_before_fork": mem.get("used_memory_rss"),
            "usage_before_fork": next((r.get("usage") for r in reversed(rows) if r["t"] < 0), None),
            "peak_container_bytes": final.max_usage_bytes if final else None,
            "peak_anon_bytes": max([r.get("anon") or 0 for r in save_rows], default=None),
            "swap_peak_bytes": swap_peak,
            "swap_before_bytes": swap_before,
            "major_faults_during_save": (faults1 - faults0) if faults0 is not None and faults1 is not None else None,
            "ping_max_ms": during["max"],
            "ping_p50_ms": during["p50"],
            "ping_p99_ms": during["p99"],
            "ping_p999_ms": during["p999"],
            "ping_count": during["n"],
            "ping_max_ms_before": before["max"],
            "ping_p99_ms_before": before["p99"],
            "sampler_info_timeouts": sampler.info_timeouts,
            "phase_s": state.phase_s,
            "evicted_keys_before_save": state.stats_before.get("evicted_keys"),
            "evicted_keys_after_save": state.stats_after.get("evicted_keys"),
            "expired_keys_before_save": state.stats_before.get("expired_keys"),
            "expired_keys_after_save": state.stats_after.get("expired_keys"),
            "used_memory_end": state.used_memory_end,
            "warnings": list(plan.warnings) + _engine_warnings(plan, ver),
        },
        "timeline": [{k: r.get(k) for k in TIMELINE_FIELDS} for r in rows],
        "pings": thin_pings(pings),
        "log_tail": "\n".join(log_text.splitlines()[-40:]),
    }
    return record


def container_info(server: RedisServer) -> dict[str, Any] | None:
    """For a podman run: podman's and the runtime's versions, the root filesystem and the container's cgroup."""
    if not isinstance(server, PodmanServer):
        return None
    return {
        "engine": f"podman {podman_version()}",
        "runtime": runtime_version(),
        "rootfs": server.rootfs.name if server.rootfs else None,
        "cgroup": str(server.cgroup.path) if server.cgroup.path else None,
        "start_s": round(server.start_s, 3) if server.start_s is not None else None,
    }


def ping_windows(pings: list[list[float]], t_end: float) -> tuple[dict, dict]:
    """Latency stats of the pings answered during the save and of those answered before the BGSAVE.

    A ping belongs to the save when it *ends* after the BGSAVE was sent (a PING sent 1 ms before the fork
    waits the whole fork) and starts before the save ended.
    """
    during = [ms for t, ms in pings if t + ms / 1000 >= 0 and t <= t_end + 0.05]
    before = [ms for t, ms in pings if t + ms / 1000 < 0]
    return latency_stats(during), latency_stats(before)


def _rate_or_zero(plan: RunPlan, rate: float | None) -> float | None:
    if plan.writes_per_sec <= 0:
        return 0.0 if rate is None else round(rate, 1)
    return None if rate is None else round(rate, 1)


def _engine_warnings(plan: RunPlan, ver: Any) -> list[str]:
    eng = plan.scenario.engine
    out = []
    if eng.name != ver.flavor or eng.version != ver.string:
        out.append(f"scenario engine {eng.name} {eng.version} but the server is {ver.flavor} {ver.string}")
    malloc = (ver.malloc or "").split("-")[0]
    if malloc and malloc != eng.allocator:
        out.append(f"scenario allocator {eng.allocator} but the server uses {ver.malloc}")
    return out


def run_scenario_file(path: str | os.PathLike, **kwargs: Any) -> dict[str, Any]:
    """Load, plan and execute one scenario file; ScenarioError / HarnessError for bad input."""
    path = Path(path)
    scenario = load_scenario(path)
    plan = plan_run(scenario, str(path), path.read_text())
    return execute(plan, **kwargs)
