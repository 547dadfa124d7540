"""Measure fork time, BGSAVE duration, copy-on-write vs write rate and rdb-key-save-delay cost on a real redis-server.

Run ``.venv/bin/python scripts/explore_fork_cow.py [--only fork,size,random,delay,cow] [--quick]`` as root (a
research script beside the package: it uses the installed ``sim`` harness and writes into this checkout). Every save
runs in a fresh, generously limited memory cgroup; each one appends a JSON line (parameters, INFO fields,
cgroup peaks, log-derived ms timings and a 100 ms timeline) to ``reports/exploration/fork_cow_lab.jsonl``,
and the tables are printed (as Markdown) at the end. The numbers calibrate the simulator's fork, save and
COW models.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.harness.cgroup import MemoryCgroup, memory_cgroup_available
from sim.harness.loadgen import WriteLoad
from sim.harness.server import DEFAULT_BINARY, RedisServer
from sim.units import GIB, MIB

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "reports" / "exploration" / "fork_cow_lab.jsonl"

_LOG_TS = re.compile(r"^(?P<pid>\d+):(?P<role>[A-Z]) (?P<ts>\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3}) . (?P<msg>.*)$")
_COW_LINE = re.compile(r"Fork CoW for RDB: current (\d+) MB, peak (\d+) MB, average (\d+) MB")


# -- environment --------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def environment() -> dict[str, Any]:
    """Machine facts that change the numbers (kernel, CPUs, THP, overcommit, page size)."""
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "mem_total_kib": int(
            next((ln.split()[1] for ln in _read("/proc/meminfo").splitlines() if ln.startswith("MemTotal:")), 0)
        ),
        "thp": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "overcommit_memory": _read("/proc/sys/vm/overcommit_memory"),
        "page_size": os.sysconf("SC_PAGE_SIZE"),
    }


# -- filling the dataset ------------------------------------------------------------------------


def bytes_per_key(srv: RedisServer, value_size: int, probe: int = 20_000) -> float:
    """used_memory per key for DEBUG POPULATE values of this size (probed on a throw-away prefix, then flushed)."""
    c = srv.client()
    c.flushall()
    base = srv.info("memory")["used_memory"]
    c.execute_command("DEBUG", "POPULATE", probe, "probe", value_size)
    per = (srv.info("memory")["used_memory"] - base) / probe
    c.flushall()
    return per


def populate(srv: RedisServer, n_keys: int, value_size: int) -> None:
    """Make keys ``key:0..n-1`` exist (DEBUG POPULATE skips the ones already there)."""
    c = srv.client(socket_timeout=600)
    try:
        c.execute_command("DEBUG", "POPULATE", n_keys, "key", value_size)
    finally:
        c.close()


def fill_random(srv: RedisServer, n_keys: int, value_size: int, batch: int = 1000, pool: int = 4096) -> None:
    """Set ``key:0..n-1`` to incompressible (os.urandom) values, as real data is closer to than DEBUG POPULATE's."""
    values = [os.urandom(value_size) for _ in range(pool)]
    c = srv.client()
    for start in range(0, n_keys, batch):
        pipe = c.pipeline(transaction=False)
        for i in range(start, min(start + batch, n_keys)):
            pipe.set(b"key:%d" % i, values[i % pool])
        pipe.execute()


# -- one measured BGSAVE ------------------------------------------------------------------------


def _parse_log_save(log_text: str) -> dict[str, Any]:
    """ms timings and the child's COW report for the last BGSAVE in the server log."""
    lines = log_text.splitlines()
    start_idx = max((i for i, ln in enumerate(lines) if "Background saving started by pid" in ln), default=None)
    out: dict[str, Any] = {}
    if start_idx is None:
        return out

    def ts(line: str) -> datetime | None:
        m = _LOG_TS.match(line)
        return datetime.strptime(m["ts"], "%d %b %Y %H:%M:%S.%f") if m else None

    t0 = ts(lines[start_idx])
    for ln in lines[start_idx + 1 :]:
        t = ts(ln)
        if t is None or t0 is None:
            continue
        ms = (t - t0).total_seconds() * 1000
        if "DB saved on disk" in ln:
            out["child_write_ms_log"] = ms
        elif m := _COW_LINE.search(ln):
            out["cow_log_current_mb"], out["cow_log_peak_mb"], out["cow_log_average_mb"] = map(int, m.groups())
        elif "Background saving terminated" in ln:
            out["save_ms_log"] = ms
            out["save_status_log"] = "ok" if "success" in ln else ln.split(" ", 4)[-1]
    return out


def measure_bgsave(
    srv: RedisServer,
    cg: MemoryCgroup,
    *,
    n_keys: int,
    value_size: int,
    write_rate: float = 0,
    sample_every: float = 0.1,
    warmup: float = 1.0,
    timeout: float = 900,
) -> dict[str, Any]:
    """BGSAVE with an optional paced write load; sample INFO persistence and the cgroup every 100 ms until done."""
    c = srv.client()
    mem = srv.info("memory")
    with WriteLoad(srv.port, n_keys, value_size, write_rate) as load:
        if write_rate:
            time.sleep(warmup)
        set_calls0 = c.info("commandstats").get("cmdstat_set", {}).get("calls", 0)
        cg.reset_max_usage()
        before = cg.stats()
        t_sent = time.perf_counter()
        c.bgsave()
        t_reply = time.perf_counter()
        child = (srv.child_pids() or [None])[0]
        samples: list[list[float]] = []
        peak_cow = 0
        next_sample = t_reply
        while True:
            now = time.perf_counter()
            p = c.info("persistence")
            if not p["rdb_bgsave_in_progress"]:
                t_done = now
                break
            if now >= next_sample:
                st = cg.stats()
                cow = int(p.get("current_cow_size", 0))
                peak_cow = max(peak_cow, cow)
                samples.append(
                    [
                        round(now - t_reply, 3),
                        cow,
                        int(p.get("current_save_keys_processed", 0)),
                        st.usage_bytes,
                        st.anon_bytes,
                        st.page_cache_bytes,
                    ]
                )
                next_sample += sample_every
            if now - t_reply > timeout:
                raise TimeoutError(f"BGSAVE still running after {timeout}s")
            time.sleep(0.01)
        set_calls1 = c.info("commandstats").get("cmdstat_set", {}).get("calls", 0)
    after = cg.stats()
    pers = c.info("persistence")
    stats = srv.info("stats")
    save_s = t_done - t_reply
    rec: dict[str, Any] = {
        "n_keys": n_keys,
        "value_size": value_size,
        "used_memory": mem["used_memory"],
        "used_memory_rss": mem["used_memory_rss"],
        "used_memory_dataset": mem.get("used_memory_dataset"),
        "mem_fragmentation_ratio": mem.get("mem_fragmentation_ratio"),
        "latest_fork_usec": stats["latest_fork_usec"],
        "fork_ms_per_gib_rss": stats["latest_fork_usec"] / 1000 / (mem["used_memory_rss"] / GIB),
        "bgsave_reply_ms": (t_reply - t_sent) * 1000,
        "rdb_last_bgsave_status": pers["rdb_last_bgsave_status"],
        "rdb_last_bgsave_time_sec": pers["rdb_last_bgsave_time_sec"],
        "rdb_last_cow_size": pers.get("rdb_last_cow_size"),
        "cow_peak_current": peak_cow,
        "save_ms_poll": save_s * 1000,
        "rdb_bytes": srv.rdb_path.stat().st_size if srv.rdb_path.exists() else None,
        "cg_usage_before": before.usage_bytes,
        "cg_anon_before": before.anon_bytes,
        "cg_peak_usage": after.max_usage_bytes,
        "cg_peak_over_before": after.max_usage_bytes - before.usage_bytes,
        "cg_peak_anon": max([s[4] for s in samples], default=before.anon_bytes),
        "cg_page_cache_after": after.page_cache_bytes,
        "write_rate_target": write_rate,
        "write_rate_achieved": (set_calls1 - set_calls0) / save_s if save_s > 0 else 0.0,
        "loadgen": load.result,
        "child_pid": child,
        "samples": samples,  # [t_s, current_cow_size, keys_processed, cg usage, cg anon, cg page cache]
    }
    rec.update(_parse_log_save(srv.log_tail(200)))
    save_ms = rec.get("save_ms_log", rec["save_ms_poll"])
    rec["save_ms"] = save_ms
    rec["save_us_per_key"] = save_ms * 1000 / n_keys if n_keys else None
    rec["save_mib_per_s_used_memory"] = (mem["used_memory"] / MIB) / (save_ms / 1000) if save_ms else None
    rec["save_mib_per_s_rdb"] = (rec["rdb_bytes"] or 0) / MIB / (save_ms / 1000) if save_ms else None
    return rec


# -- experiments --------------------------------------------------------------------------------


class Lab:
    """Runs the experiments and writes one JSON line per measured save."""

    def __init__(self, out: Path, binary: str, quick: bool) -> None:
        self.out = out
        self.binary = binary
        self.quick = quick
        self.env = environment()
        self.records: list[dict[str, Any]] = []
        out.parent.mkdir(parents=True, exist_ok=True)

    def _box(self, limit: int, **server_kw: Any) -> tuple[MemoryCgroup, RedisServer]:
        cg = MemoryCgroup(limit).create()
        try:
            srv = RedisServer(cg, self.binary, **server_kw).start()
        except BaseException:
            cg.close()
            raise
        return cg, srv

    def _emit(self, experiment: str, srv: RedisServer, rec: dict[str, Any], **extra: Any) -> dict[str, Any]:
        rec = {
            "experiment": experiment,
            **extra,
            **rec,
            "server": f"{srv.version.flavor} {srv.version.string}",
            "allocator": srv.allocator,
            "timerslack_ns": int(_read(f"/proc/{srv.pid}/timerslack_ns") or 0),
            "env": self.env,
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.records.append(rec)
        with self.out.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        brief = {
            k: rec.get(k)
            for k in (
                "experiment",
                "value_size",
                "n_keys",
                "rdb_key_save_delay",
                "write_rate_target",
                "latest_fork_usec",
                "save_ms",
                "rdb_last_cow_size",
            )
        }
        print("  ", json.dumps(brief), flush=True)
        return rec

    def _limit_for(self, target: int) -> int:
        return max(4 * GIB, 3 * target + GIB)

    def size_sweep(
        self, value_sizes: list[int], targets: list[float], reps: dict[int, int], uncompressed: bool = True
    ) -> None:
        """Fork time and save duration vs dataset size (no delay, no load), DEBUG POPULATE values."""
        for vs in value_sizes:
            cg, srv = self._box(self._limit_for(int(max(targets) * GIB)))
            try:
                per_key = bytes_per_key(srv, vs)
                for target in targets:
                    n = int(target * GIB / per_key)
                    populate(srv, n, vs)
                    for r in range(reps.get(vs, 1)):
                        rec = measure_bgsave(srv, cg, n_keys=n, value_size=vs)
                        self._emit(
                            "size",
                            srv,
                            rec,
                            target_gib=target,
                            rep=r,
                            rdbcompression="yes",
                            value_kind="populate",
                            rdb_key_save_delay=0,
                        )
                    if uncompressed:
                        srv.client().config_set("rdbcompression", "no")
                        rec = measure_bgsave(srv, cg, n_keys=n, value_size=vs)
                        self._emit(
                            "size",
                            srv,
                            rec,
                            target_gib=target,
                            rep=0,
                            rdbcompression="no",
                            value_kind="populate",
                            rdb_key_save_delay=0,
                        )
                        srv.client().config_set("rdbcompression", "yes")
            finally:
                srv.close()
                cg.close()

    def random_values(self, target: float, value_size: int = 1000) -> None:
        """Save cost with incompressible values (LZF tries and gives up) with and without rdbcompression."""
        cg, srv = self._box(self._limit_for(int(target * GIB)))
        try:
            per_key = bytes_per_key(srv, value_size)
            n = int(target * GIB / per_key)
            fill_random(srv, n, value_size)
            for comp in ("yes", "no"):
                srv.client().config_set("rdbcompression", comp)
                rec = measure_bgsave(srv, cg, n_keys=n, value_size=value_size)
                self._emit(
                    "random",
                    srv,
                    rec,
                    target_gib=target,
                    rdbcompression=comp,
                    value_kind="random",
                    rdb_key_save_delay=0,
                )
        finally:
            srv.close()
            cg.close()

    def delay_cost(self, delays: list[int], value_size: int = 1000, budget_s: float = 4.0) -> dict[int, float]:
        """Extra save time per key caused by rdb-key-save-delay D (µs; negative = sleep 1 µs with probability 1/|D|)."""
        guess_us = {d: (60.0 + d if d > 0 else 65.0 / -d) for d in delays}  # 50 µs timer slack dominates
        groups: dict[int, list[int]] = {}
        for d in delays:
            n = int(min(500_000, max(20_000, budget_s * 1e6 / (guess_us[d] + 3))))
            n = int(round(n, -4))
            groups.setdefault(n, []).append(d)
        costs: dict[int, float] = {}
        cg, srv = self._box(4 * GIB)
        try:
            c = srv.client()
            for n in sorted(groups):
                c.flushall()
                populate(srv, n, value_size)
                c.config_set("rdb-key-save-delay", 0)
                base = measure_bgsave(srv, cg, n_keys=n, value_size=value_size)
                self._emit("delay", srv, base, rdb_key_save_delay=0, extra_us_per_key=0.0)
                for d in groups[n]:
                    c.config_set("rdb-key-save-delay", d)
                    rec = measure_bgsave(srv, cg, n_keys=n, value_size=value_size)
                    extra = rec["save_us_per_key"] - base["save_us_per_key"]
                    costs[d] = extra
                    self._emit(
                        "delay",
                        srv,
                        rec,
                        rdb_key_save_delay=d,
                        extra_us_per_key=extra,
                        base_us_per_key=base["save_us_per_key"],
                    )
                c.config_set("rdb-key-save-delay", 0)
        finally:
            srv.close()
            cg.close()
        return costs

    def cow_vs_rate(
        self,
        rates: list[float],
        n_keys: int,
        value_size: int = 1000,
        target_save_s: float = 10.0,
        sleep_us: float | None = None,
    ) -> None:
        """COW at the end of a save stretched to ~target_save_s (negative rdb-key-save-delay) vs paced write rate."""
        cg, srv = self._box(self._limit_for(int(n_keys * value_size * 1.2)))
        try:
            c = srv.client()
            populate(srv, n_keys, value_size)
            base = measure_bgsave(srv, cg, n_keys=n_keys, value_size=value_size)
            self._emit("cow", srv, base, rdb_key_save_delay=0, calibration=True)
            if sleep_us is None:  # cost of one usleep(1) in the child, measured with D=-1 on a slice
                sleep_us = 65.0
            extra = target_save_s * 1e6 / n_keys - base["save_us_per_key"]
            delay = -max(1, round(sleep_us / extra)) if extra > 0 else 0
            c.config_set("rdb-key-save-delay", delay)
            for rate in rates:
                rec = measure_bgsave(srv, cg, n_keys=n_keys, value_size=value_size, write_rate=rate)
                self._emit("cow", srv, rec, rdb_key_save_delay=delay, calibration=False)
        finally:
            srv.close()
            cg.close()


# -- reporting ----------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def summarize(records: list[dict[str, Any]]) -> str:
    """Markdown tables of the measured numbers."""
    out: list[str] = []
    size = [r for r in records if r["experiment"] == "size"]
    if size:
        rows = []
        for r in sorted(size, key=lambda r: (r["value_size"], r["target_gib"], r["rdbcompression"], r["rep"])):
            rows.append(
                [
                    r["value_size"],
                    r["rdbcompression"],
                    r["rep"],
                    r["n_keys"],
                    r["used_memory"] / GIB,
                    r["used_memory_rss"] / GIB,
                    r["latest_fork_usec"] / 1000,
                    r["fork_ms_per_gib_rss"],
                    r["save_ms"],
                    r["save_mib_per_s_used_memory"],
                    r["save_us_per_key"],
                    (r["rdb_bytes"] or 0) / MIB,
                    r["cg_peak_usage"] / GIB,
                ]
            )
        out.append("### Fork time and save duration vs dataset (DEBUG POPULATE values, no load, no delay)\n")
        out.append(
            _table(
                [
                    "value B",
                    "rdbcompr",
                    "rep",
                    "keys",
                    "used GiB",
                    "rss GiB",
                    "fork ms",
                    "fork ms/GiB rss",
                    "save ms",
                    "save MiB/s (used)",
                    "save µs/key",
                    "rdb MiB",
                    "cg peak GiB",
                ],
                rows,
            )
        )
    rnd = [r for r in records if r["experiment"] == "random"]
    if rnd:
        rows = [
            [
                r["value_size"],
                r["rdbcompression"],
                r["n_keys"],
                r["used_memory"] / GIB,
                r["latest_fork_usec"] / 1000,
                r["save_ms"],
                r["save_mib_per_s_used_memory"],
                r["save_us_per_key"],
                (r["rdb_bytes"] or 0) / MIB,
            ]
            for r in rnd
        ]
        out.append("\n### Incompressible (random) values\n")
        out.append(
            _table(
                [
                    "value B",
                    "rdbcompr",
                    "keys",
                    "used GiB",
                    "fork ms",
                    "save ms",
                    "save MiB/s (used)",
                    "save µs/key",
                    "rdb MiB",
                ],
                rows,
            )
        )
    dl = [r for r in records if r["experiment"] == "delay"]
    if dl:
        rows = [
            [r["rdb_key_save_delay"], r["n_keys"], r["save_ms"], r["save_us_per_key"], r.get("extra_us_per_key")]
            for r in dl
        ]
        out.append("\n### rdb-key-save-delay: save time per key (1 KB values)\n")
        out.append(_table(["delay D", "keys", "save ms", "µs/key", "extra µs/key vs D=0"], rows))
    cow = [r for r in records if r["experiment"] == "cow"]
    if cow:
        rows = [
            [
                r["write_rate_target"],
                r["write_rate_achieved"],
                r["rdb_key_save_delay"],
                r["save_ms"],
                (r["rdb_last_cow_size"] or 0) / MIB,
                r["cow_peak_current"] / MIB,
                100 * (r["rdb_last_cow_size"] or 0) / r["used_memory_rss"],
                (r["cg_peak_anon"] - r["cg_anon_before"]) / MIB,
                r["cg_peak_over_before"] / MIB,
                r.get("cow_log_peak_mb"),
            ]
            for r in cow
        ]
        out.append("\n### Copy-on-write vs write rate (1 KB values, uniform random keys)\n")
        out.append(
            _table(
                [
                    "target w/s",
                    "achieved w/s",
                    "delay D",
                    "save ms",
                    "rdb_last_cow MiB",
                    "peak current_cow MiB",
                    "COW % of rss",
                    "cg anon growth MiB",
                    "cg peak over start MiB",
                    "log CoW peak MB",
                ],
                rows,
            )
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only",
        default="fork,size,random,delay,cow",
        help="comma list of experiments: fork (1 KB sizes, 3 reps), size (100 B/10 KB), random, delay, cow",
    )
    ap.add_argument("--quick", action="store_true", help="small datasets, for a smoke test")
    ap.add_argument("--binary", default=DEFAULT_BINARY)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = ap.parse_args(argv)
    why = memory_cgroup_available()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    only = set(a.only.split(","))
    lab = Lab(a.out, a.binary, a.quick)
    targets = [0.05, 0.1] if a.quick else [0.25, 0.5, 1.0, 2.0]
    if "fork" in only:
        print("fork/size sweep, 1 KB values", flush=True)
        lab.size_sweep([1000], targets, reps={1000: 1 if a.quick else 3})
    if "size" in only:
        print("size sweep, 100 B and 10 KB values", flush=True)
        lab.size_sweep([100, 10_000], targets, reps={})
    if "random" in only:
        print("incompressible values", flush=True)
        lab.random_values(0.05 if a.quick else 1.0)
    costs: dict[int, float] = {}
    if "delay" in only:
        print("rdb-key-save-delay cost", flush=True)
        costs = lab.delay_cost([1, 10, 100, -1, -2, -5, -10], budget_s=1.0 if a.quick else 4.0)
    if "cow" in only:
        print("COW vs write rate", flush=True)
        lab.cow_vs_rate(
            [0, 2000, 10_000, 20_000],
            n_keys=50_000 if a.quick else 1_000_000,
            target_save_s=2.0 if a.quick else 10.0,
            sleep_us=costs.get(-1),
        )
    print()
    print(summarize(lab.records))
    print(f"\nappended {len(lab.records)} records to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
