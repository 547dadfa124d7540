"""Watch a harness run: a 100 ms sampler of INFO and cgroup counters, and a ~5 ms PING latency loop.

* :class:`Sampler` (in the harness process) reads ``INFO persistence``, ``INFO commandstats`` and the
  cgroup's counters every ~100 ms and keeps one timeline row per reading; it also records the server's
  fork children so an OOM victim can be named. A dead server is an outcome, not an error: the sampler
  reports it and stops.
* :class:`PingLoop` runs ``python -m sim.harness.sampler ping`` as a separate process (so the harness's own
  work never delays a PING): one PING at a time over a raw socket, ~5 ms apart, each latency stored with
  its send time (``time.monotonic()``, the same clock in every process). A fork stall shows as one long PING.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from sim.harness.cleanup import PARENT_FLAG, StopFlag, die_with_parent, registry

if TYPE_CHECKING:
    from sim.harness.cgroup import MemoryCgroup
    from sim.harness.server import RedisServer

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_EVERY_S = 0.1
PING_EVERY_S = 0.005


# -- the 100 ms sampler ----------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (``/proc/<pid>/stat``), None when it is gone.

    The save child's CPU time against its wall time tells how much of a core it got.
    """
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Sampler:
    """Timeline of one run: rows of INFO persistence + commandstats + cgroup counters, ``t`` relative to ``t0``."""

    server: RedisServer
    cgroup: MemoryCgroup
    t0: float = 0.0
    interval: float = SAMPLE_EVERY_S
    rows: list[dict[str, Any]] = field(default_factory=list)
    _client: redis.Redis | None = None
    info_timeouts: int = 0
    write_commands: tuple[str, ...] = ("set",)
    """Commands whose calls (INFO commandstats) count as writes: ``write_calls`` in the timeline."""

    def client(self) -> redis.Redis:
        """A dedicated client with a short timeout (a stalled server must not stall the sampler)."""
        if self._client is None:
            self._client = self.server.client(socket_timeout=2.0, socket_connect_timeout=2.0)
        return self._client

    def close(self) -> None:
        """Close the client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def info(self) -> dict[str, Any] | None:
        """INFO persistence + commandstats, or None if the server did not answer (dead or stalled)."""
        try:
            c = self.client()
            p = c.info("persistence")
            p.update(c.info("commandstats"))
            return p
        except redis.TimeoutError:
            self.info_timeouts += 1
            self.close()
            return None
        except (redis.ConnectionError, OSError):
            self.close()
            return None

    def sample(self) -> dict[str, Any]:
        """Take one reading now and append it to the timeline."""
        self.server.child_pids()  # remember fork children for OOM triage
        now = time.monotonic()
        p = self.info()
        try:
            st = self.cgroup.stats()
        except OSError:
            st = None
        row: dict[str, Any] = {"t": round(now - self.t0, 3)}
        if p is not None:
            row.update(
                in_progress=int(p.get("rdb_bgsave_in_progress", 0)),
                current_cow_size=int(p.get("current_cow_size", 0) or 0),
                keys_processed=int(p.get("current_save_keys_processed", 0) or 0),
                set_calls=int(p.get("cmdstat_set", {}).get("calls", 0)),
                write_calls=sum(int(p.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in self.write_commands),
            )
        else:
            row.update(in_progress=None, current_cow_size=None, keys_processed=None, set_calls=None, write_calls=None)
        row.update(
            server_cpu_s=process_cpu_seconds(self.server.pid),
            child_cpu_s=sum(process_cpu_seconds(pid) or 0.0 for pid in self.server.child_pids()) or None,
            loadavg=os.getloadavg()[0],
        )
        if st is not None:
            row.update(
                usage=st.usage_bytes,
                anon=st.anon_bytes,
                cache=st.page_cache_bytes,
                swap=st.swap_bytes,
                pgmajfault=st.major_faults,
                oom_kills=st.oom_kills,
            )
        self.rows.append(row)
        return row

    def run_for(self, seconds: float) -> None:
        """Sample every interval for ``seconds`` (steady state before the save)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sample()
            time.sleep(max(0.0, min(self.interval, end - time.monotonic())))

    def until_save_ends(self, deadline: float) -> str:
        """Sample until the BGSAVE ends: returns ``"done"``, ``"dead"`` (server gone) or ``"timeout"``."""
        next_t = time.monotonic()
        while True:
            row = self.sample()
            if not self.server.alive():
                return "dead"
            if row["in_progress"] == 0:
                return "done"
            if time.monotonic() > deadline:
                return "timeout"
            next_t += self.interval
            time.sleep(max(0.0, next_t - time.monotonic()))


# -- the PING latency loop -------------------------------------------------------------------------


def ping_loop(port: int, interval: float = PING_EVERY_S, host: str = "127.0.0.1") -> list[list[float]]:
    """PING one at a time until SIGTERM or the server goes away; returns [[send time (monotonic), ms], ...]."""
    flag = StopFlag()
    out: list[list[float]] = []
    try:
        sock = socket.create_connection((host, port), timeout=2)
    except OSError:
        return out
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(0.2)
    while not flag.stopped:
        t_send = time.monotonic()
        try:
            sock.sendall(b"PING\r\n")
        except OSError:
            break
        buf = b""
        gone = False
        while not buf.endswith(b"\r\n"):
            try:
                chunk = sock.recv(64)
            except TimeoutError:
                if flag.stopped:
                    break
                continue
            except OSError:
                gone = True
                break
            if not chunk:
                gone = True
                break
            buf += chunk
        t_recv = time.monotonic()
        if buf.endswith(b"\r\n") or flag.stopped:
            out.append([round(t_send, 6), round((t_recv - t_send) * 1000, 4)])
        if gone:
            break
        time.sleep(max(0.0, interval - (time.monotonic() - t_recv)))
    sock.close()
    while not flag.stopped:  # wait to be asked for the results
        time.sleep(0.05)
    return out


class PingLoop:
    """Context manager: the ping loop as a child process; ``pings`` ([[monotonic t, ms], ...]) after stop."""

    def __init__(self, port: int, interval: float = PING_EVERY_S) -> None:
        self.args = [
            sys.executable,
            "-m",
            "sim.harness.sampler",
            "ping",
            "--port",
            str(port),
            "--interval",
            str(interval),
            PARENT_FLAG,
            str(os.getpid()),
        ]
        self.pings: list[list[float]] = []
        self._proc: subprocess.Popen | None = None
        self._token: int | None = None

    def __enter__(self) -> PingLoop:
        return self.start()

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.stop()
        elif self._token is not None:
            token, self._token = self._token, None
            registry.run(token)

    def start(self) -> PingLoop:
        """Start the ping process."""
        if self._proc is not None:
            return self
        self._token = registry.register(self._kill, name="ping loop")
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self._proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT, start_new_session=True
        )
        return self

    def stop(self) -> list[list[float]]:
        """Stop the loop and collect its pings."""
        if self._proc is None:
            return self.pings
        self._proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self._proc.communicate(timeout=30)
            self.pings = json.loads(out) if out.strip() else []
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        except json.JSONDecodeError:
            self.pings = []
        self._proc = None
        if self._token is not None:
            registry.unregister(self._token)
            self._token = None
        return self.pings

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
        self._proc = None


def latency_stats(ms: list[float]) -> dict[str, float | None]:
    """max / p50 / p99 / p99.9 of a list of latencies (ms); None when empty."""
    import numpy as np

    if not ms:
        return {"max": None, "p50": None, "p99": None, "p999": None, "n": 0}
    a = np.asarray(ms, float)
    return {
        "max": float(a.max()),
        "p50": float(np.percentile(a, 50)),
        "p99": float(np.percentile(a, 99)),
        "p999": float(np.percentile(a, 99.9)),
        "n": int(a.size),
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m sim.harness.sampler ping --port P``: run the ping loop, print its pings as JSON on SIGTERM."""
    ap = argparse.ArgumentParser(description="PING latency loop of the harness")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ping")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--interval", type=float, default=PING_EVERY_S)
    p.add_argument(PARENT_FLAG, type=int, required=True, help="the harness process; the loop dies with it")
    a = ap.parse_args(argv)
    die_with_parent(a.parent)
    sys.stdout.write(json.dumps(ping_loop(a.port, a.interval, a.host)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
