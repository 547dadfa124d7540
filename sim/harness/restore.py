"""A real restore of a scenario's backup: make the RDB, load it into a memory-limited server, sync a replica.

The scenario's ``dataset`` (and ``backup.compression``) is filled into a source server and saved with SAVE; the
file is hard-linked into the data directory of a fresh target server in its own memory cgroup of the
``restore:`` block's memory (``maxmemory`` = that minus the reserve, ``noeviction``), which loads it at start-up.
While it loads, every 50 ms we read the cgroup's usage and the server's CPU time (/proc/<pid>/stat); the
machine's busy share (/proc/stat) over the load says how much others' work inflated the wall time. With
``restore.replicas`` >= 1 a second server in its own cgroup then runs REPLICAOF against the loaded one
(diskless sync, no delay, replica output buffer limited to 10 % of the node's memory as the model assumes)
while the returning writes (``restore.writes_per_sec``) arrive; we time it until the link is up. An OOM kill during
the load is an outcome, not an error. One JSON record per run
(schema ``rbsim-restore-record/1``); every process, cgroup and directory goes away, also on failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from sim.harness.cgroup import MemoryCgroup
from sim.harness.cleanup import owned_name, registry
from sim.harness.fill import DatasetShape, FillError, check_fits, dataset_shape, fill
from sim.harness.loadgen import WriteLoad
from sim.harness.record import new_id, now_iso
from sim.harness.run import MACHINE_HEADROOM, HarnessError, machine_info, meminfo
from sim.harness.sampler import process_cpu_seconds
from sim.harness.server import DEFAULT_BINARY, RedisServer, RedisServerError, server_version
from sim.physics.changelog import output_buffer_limit
from sim.restore import target_budget
from sim.scenario import Scenario
from sim.units import GIB

SCHEMA = "rbsim-restore-record/1"
DEFAULT_OUT = "reports/validation/restore-records"
SAMPLE_S = 0.05
LOAD_TIMEOUT_S = 900.0
SYNC_TIMEOUT_S = 900.0
SOURCE_HEADROOM = 1.15
"""The source server's cgroup: the dataset's used_memory estimate x this + 256 MiB (it only has to hold it)."""
_LOADED = re.compile(r"DB loaded from disk: ([0-9.]+) seconds")


@dataclass(frozen=True)
class RestorePlan:
    """Everything a restore run needs, derived from the scenario before anything starts."""

    scenario: Scenario
    scenario_file: str
    scenario_yaml: str
    shape: DatasetShape
    source_limit: int
    target_limit: int
    target_maxmemory: int
    target_reserved: int
    compression: bool
    replicas: int
    writes_per_sec: float


def plan_restore(
    scenario: Scenario, scenario_file: str = "", scenario_yaml: str = "", memory: dict[str, int] | None = None
) -> RestorePlan:
    """Limits of a restore run; HarnessError when this machine cannot run it."""
    r = scenario.restore
    name = scenario_file or scenario.name
    if r is None:
        raise HarnessError(f"{name}: no restore: block")
    if r.shards > 1:
        raise HarnessError(f"{name}: restore.shards {r.shards}: the harness restores onto one server")
    if r.replicas > 1:
        raise HarnessError(f"{name}: restore.replicas {r.replicas}: the harness syncs at most one replica")
    budget = target_budget(r)
    shape = dataset_shape(scenario)
    source = int(shape.estimated_used_memory * SOURCE_HEADROOM) + 256 * 2**20
    try:
        check_fits(shape, source)
    except FillError as exc:
        raise HarnessError(f"{name}: {exc}") from None
    memory = memory or meminfo()
    room = memory.get("MemAvailable", memory.get("MemTotal", 0)) - MACHINE_HEADROOM
    need = max(source, budget.node_memory * (1 + (r.replicas > 0))) + shape.estimated_used_memory  # + RDB page cache
    if need > room:
        raise HarnessError(
            f"{name}: needs about {need / GIB:.1f} GiB (source, target, replica and the RDB's page "
            f"cache) but {room / GIB:.1f} GiB are available here"
        )
    writes = scenario.workload.writes_per_sec if r.writes_per_sec is None else r.writes_per_sec
    return RestorePlan(
        scenario=scenario,
        scenario_file=scenario_file,
        scenario_yaml=scenario_yaml,
        shape=shape,
        source_limit=source,
        target_limit=budget.node_memory,
        target_maxmemory=budget.maxmemory,
        target_reserved=budget.reserved,
        compression=scenario.backup.compression,
        replicas=r.replicas,
        writes_per_sec=float(writes),
    )


class PreloadedServer(RedisServer):
    """A server whose data directory holds ``rdb`` (hard-linked, no copy) before it starts, so it loads it."""

    def __init__(self, rdb: Path, *args: Any, **kwargs: Any) -> None:
        self.rdb_source = Path(rdb)
        super().__init__(*args, **kwargs)

    def _launch(self, port: int) -> None:
        if not self.rdb_path.exists():
            os.link(self.rdb_source, self.rdb_path)
        super()._launch(port)


def machine_cpu_times() -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of all CPUs from /proc/stat (busy = all but idle and iowait; steal = time
    the hypervisor gave the vCPUs to others)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values), values[7] if len(values) > 7 else 0


class LoadWatch:
    """Samples, every 50 ms in a thread, the cgroup's usage and the server's CPU seconds while it starts."""

    def __init__(self, server: RedisServer, cgroup: MemoryCgroup) -> None:
        self.server, self.cgroup = server, cgroup
        self.rows: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = 0.0

    def __enter__(self) -> LoadWatch:
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            row: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 3)}
            with contextlib.suppress(OSError):
                st = self.cgroup.stats()
                row.update(usage=st.usage_bytes, anon=st.anon_bytes, cache=st.page_cache_bytes)
            try:
                row["cpu_s"] = process_cpu_seconds(self.server.pid)
            except RedisServerError:  # not launched yet, or gone
                row["cpu_s"] = None
            self.rows.append(row)
            self._stop.wait(SAMPLE_S)


def make_rdb(plan: RestorePlan, binary: str, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """Fill a source server with the dataset, SAVE, and hard-link its RDB into ``workdir``; returns (path, facts)."""
    compression = {"rdbcompression": "yes" if plan.compression else "no"}
    with (
        MemoryCgroup(plan.source_limit) as cg,
        RedisServer(
            cg, binary, maxmemory=plan.source_limit, maxmemory_policy="noeviction", extra_config=compression
        ) as server,
    ):
        filled = fill(server, plan.shape)
        t = time.monotonic()
        server.client(socket_timeout=LOAD_TIMEOUT_S).save()
        save_s = time.monotonic() - t
        rdb = workdir / "backup.rdb"
        os.link(server.rdb_path, rdb)
        mem = server.info("memory")
    return rdb, {
        "fill": filled.as_dict(),
        "save_s": round(save_s, 3),
        "rdb_bytes": rdb.stat().st_size,
        "used_memory": int(mem["used_memory"]),
        "used_memory_rss": int(mem["used_memory_rss"]),
    }


def load(plan: RestorePlan, rdb: Path, binary: str, stack: contextlib.ExitStack) -> tuple[RedisServer | None, dict]:
    """Start the target on ``rdb`` in its cgroup; returns (the running server or None if it died, measurements)."""
    cg = stack.enter_context(MemoryCgroup(plan.target_limit))
    server = PreloadedServer(
        rdb,
        cg,
        binary,
        maxmemory=plan.target_maxmemory,
        maxmemory_policy="noeviction",
        extra_config={"repl-diskless-sync-delay": 0},
        start_timeout=LOAD_TIMEOUT_S,
    )
    stack.callback(server.close)
    busy0 = machine_cpu_times()
    t = time.monotonic()
    died = None
    with LoadWatch(server, cg) as watch:
        try:
            server.start()
        except RedisServerError as exc:
            died = str(exc)
        wall = time.monotonic() - t
        cpu = process_cpu_seconds(server.pid) if died is None else None
    busy1 = machine_cpu_times()
    stats = cg.stats()
    cpu_seen = max([r["cpu_s"] for r in watch.rows if r.get("cpu_s") is not None], default=None)
    out: dict[str, Any] = {
        "load_wall_s": round(wall, 3),
        "load_cpu_s": cpu if cpu is not None else cpu_seen,
        "machine_busy_share": round((busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 4),
        "machine_steal_share": round((busy1[2] - busy0[2]) / max(1, busy1[1] - busy0[1]), 4),
        "peak_container_bytes": stats.max_usage_bytes,
        "peak_anon_sampled_bytes": max([r.get("anon") or 0 for r in watch.rows], default=None),
        "page_cache_bytes_end": stats.page_cache_bytes,
        "oom_kills": stats.oom_kills,
        "timeline": watch.rows[:: max(1, len(watch.rows) // 400)],
    }
    if died is not None:
        out.update(loaded=False, outcome="oom" if stats.oom_kills else "failed", error=died[-2000:])
        return None, out
    log_text = server.log_path.read_text(errors="replace")
    m = _LOADED.search(log_text)
    mem, pers = server.info("memory"), server.info("persistence")
    used = int(mem["used_memory"])
    out.update(
        loaded=True,
        outcome="ok" if used <= plan.target_maxmemory else "over-maxmemory",
        load_log_s=float(m.group(1)) if m else None,
        keys_loaded=int(server.client().dbsize()),
        rdb_last_load_keys_loaded=pers.get("rdb_last_load_keys_loaded"),
        used_memory=used,
        used_memory_rss=int(mem["used_memory_rss"]),
        used_memory_peak=int(mem["used_memory_peak"]),
        log_tail="\n".join(log_text.splitlines()[-12:]),
    )
    return server, out


def replica_sync(plan: RestorePlan, primary: RedisServer, binary: str) -> dict[str, Any]:
    """A fresh replica (own cgroup, same limit) syncs from ``primary`` under the returning writes; timings."""
    out: dict[str, Any] = {}
    if primary.cgroup is None:
        raise HarnessError("a restore's primary runs in its own memory cgroup")
    primary_cg = primary.cgroup
    limit = output_buffer_limit(None, plan.target_limit)  # the model's rule for a node with no published limit
    primary.client().config_set("client-output-buffer-limit", f"replica {limit} {limit} 0")
    primary.client().config_resetstat()
    with contextlib.ExitStack() as stack:
        cg = stack.enter_context(MemoryCgroup(plan.target_limit))
        replica = stack.enter_context(
            RedisServer(cg, binary, maxmemory=plan.target_maxmemory, maxmemory_policy="noeviction")
        )
        load = WriteLoad(
            primary.listening_port,
            plan.shape.keys,
            plan.shape.value_size,
            plan.writes_per_sec,
            distribution=plan.scenario.workload.key_distribution,
            pattern=plan.shape.pattern,
        )
        stack.callback(load.stop)
        load.start()
        time.sleep(1.0 if plan.writes_per_sec > 0 else 0.0)
        primary_cg.reset_max_usage()
        client = replica.client(socket_timeout=5)
        stack.callback(client.close)
        busy0 = machine_cpu_times()
        t = time.monotonic()
        client.execute_command("REPLICAOF", "127.0.0.1", primary.listening_port)
        deadline = t + SYNC_TIMEOUT_S
        status = "timeout"
        while time.monotonic() < deadline:
            if not replica.alive() or not primary.alive():
                status = "died"
                break
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                info = client.info("replication")
                if info.get("master_link_status") == "up" and not info.get("master_sync_in_progress"):
                    status = "ok"
                    break
            time.sleep(SAMPLE_S)
        sync_s = time.monotonic() - t
        busy1 = machine_cpu_times()
        out["writes"] = load.stop()
        p_stats, r_stats = primary_cg.stats(), cg.stats()
        pers = primary.info("persistence") if primary.alive() else {}
        stats = primary.info("stats") if primary.alive() else {}
        log_text = primary.log_path.read_text(errors="replace")
        out.update(
            status=status,
            sync_wall_s=round(sync_s, 3),
            machine_busy_share=round((busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 4),
            primary_fork_usec=stats.get("latest_fork_usec"),
            primary_full_syncs=stats.get("sync_full"),
            output_buffer_drops=log_text.count("overcoming of output buffer limits"),
            primary_rdb_last_cow_size=pers.get("rdb_last_cow_size"),
            primary_peak_container_bytes=p_stats.max_usage_bytes,
            replica_peak_container_bytes=r_stats.max_usage_bytes,
            replica_cpu_s=process_cpu_seconds(replica.pid),
            replica_keys=int(client.dbsize()) if status == "ok" else None,
            target_writes_per_sec=plan.writes_per_sec,
            output_buffer_limit=limit,
        )
    return out


def execute_restore(plan: RestorePlan, *, binary: str = DEFAULT_BINARY, label: str = "") -> dict[str, Any]:
    """Make the RDB, restore it, sync a replica if asked; the record (outcomes, not exceptions, for OOM kills)."""
    created = now_iso()
    machine = machine_info()
    machine["loadavg_before"] = list(os.getloadavg())
    t0 = time.monotonic()
    workdir = Path(tempfile.gettempdir()) / owned_name("redis")
    workdir.mkdir(mode=0o700)
    token = registry.register(lambda: shutil.rmtree(workdir, ignore_errors=True), name=f"restore dir {workdir}")
    try:
        rdb, source = make_rdb(plan, binary, workdir)
        with contextlib.ExitStack() as stack:
            server, measured = load(plan, rdb, binary, stack)
            sync = replica_sync(plan, server, binary) if server is not None and plan.replicas > 0 else None
    finally:
        registry.run(token)
    scenario = plan.scenario
    ver = server_version(binary)
    machine["loadavg_after"] = list(os.getloadavg())
    return {
        "schema": SCHEMA,
        "id": new_id(scenario.name),
        "created": created,
        "label": label,
        "scenario_file": plan.scenario_file,
        "scenario_yaml": plan.scenario_yaml,
        "scenario": scenario.model_dump(mode="json"),
        "machine": machine,
        "server": {"binary": str(binary), "flavor": ver.flavor, "version": ver.string, "allocator": ver.malloc},
        "config": {
            "target_limit_bytes": plan.target_limit,
            "target_maxmemory": plan.target_maxmemory,
            "target_reserved_bytes": plan.target_reserved,
            "compression": plan.compression,
            "replicas": plan.replicas,
            "rdb_in_page_cache": True,
        },
        "source": source,
        "measured": measured,
        "replica_sync": sync,
        "wall_s": round(time.monotonic() - t0, 2),
    }


def summary_line(record: dict[str, Any], path: Path) -> str:
    """One line per restore: outcome, load wall/CPU, machine busy share, peak, keys, replica sync, record path."""
    m, s = record["measured"], record["replica_sync"]

    def num(x: Any, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    sync = f" sync {s['status']} {s['sync_wall_s']:.2f}s" if s else ""
    return (
        f"{record['scenario_file']}: restore {m['outcome']} load {num(m.get('load_log_s'), '.2f')}s "
        f"(wall {m['load_wall_s']:.2f}s, cpu {num(m['load_cpu_s'], '.2f')}s, busy {m['machine_busy_share']:.0%}) "
        f"peak {num(m['peak_container_bytes'] and m['peak_container_bytes'] / 2**20, '.0f')}MiB "
        f"keys {num(m.get('keys_loaded'), ',')}{sync} wall {record['wall_s']:.0f}s -> {path}"
    )


def run_restores(plans: list[RestorePlan], args: Any) -> int:
    """``rbsim harness`` for checked restore plans: 0 all recorded, 1 a run failed."""
    import sys
    import traceback

    from sim.errors import EXIT_FAILED, EXIT_OK
    from sim.harness.janitor import sweep_leftovers
    from sim.harness.quiet import wait_until_idle
    from sim.harness.record import write_record

    sweep_leftovers()
    status = EXIT_OK
    for plan in plans:
        for _ in range(args.repeat):
            if args.quiet_wait > 0 and not wait_until_idle(args.quiet_wait):
                print(f"rbsim harness: the machine stayed busy; restoring {plan.scenario_file} anyway", file=sys.stderr)
            try:
                record = execute_restore(plan, binary=args.server, label=args.label)
            except Exception as exc:  # noqa: BLE001 - report (context managers cleaned up) and go on
                print(f"rbsim harness: {plan.scenario_file} restore failed: {exc!r}", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
                status = EXIT_FAILED
                continue
            path = write_record(record, args.out or DEFAULT_OUT)
            print(summary_line(record, path), flush=True)
    return status
