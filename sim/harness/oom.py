"""Tell which process the OOM killer took in a harness cgroup: the Redis parent or its BGSAVE child.

Primary evidence is the kernel log (``/dev/kmsg``, read from the moment the watcher starts): the
``oom-kill:...,task_memcg=<cgroup>,task=<comm>,pid=<pid>`` record names the cgroup and the victim, and the
following ``Killed process <pid> (...) anon-rss:...`` record adds its size. The pid is mapped to a role with
the server pid and the child pids the harness saw. If the kernel log cannot be read, the role is inferred
from the cgroup's oom_kill counter and from which process died of SIGKILL.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sim.harness.cgroup import MemoryCgroup
    from sim.harness.server import RedisServer

Role = Literal["parent", "child", "other"]

_OOM_KILL = re.compile(r"oom-kill:.*?task_memcg=(?P<memcg>[^,]*),task=(?P<comm>.*),pid=(?P<pid>\d+),uid=")
_KILLED = re.compile(
    r"Killed process (?P<pid>\d+) \((?P<comm>.*?)\) total-vm:(?P<vm>\d+)kB, anon-rss:(?P<anon>\d+)kB, "
    r"file-rss:(?P<file>\d+)kB"
)


@dataclass(frozen=True)
class OomKill:
    """One OOM kill in the watched cgroup."""

    pid: int
    role: Role
    comm: str = ""
    task_memcg: str | None = None
    anon_rss_bytes: int | None = None
    source: Literal["kmsg", "inferred"] = "kmsg"


def parse_kmsg_record(record: str) -> tuple[str, str] | None:
    """The message text of one /dev/kmsg record (``prio,seq,usec,flags;text``), as (seq, text)."""
    head, sep, text = record.partition(";")
    if not sep:
        return None
    parts = head.split(",")
    return (parts[1] if len(parts) > 1 else "", text.split("\n", 1)[0])


@dataclass
class OomWatcher:
    """Context manager watching one cgroup (and optionally its RedisServer) for OOM kills from now on."""

    cgroup: MemoryCgroup
    server: RedisServer | None = None
    server_pid: int | None = None
    _fd: int | None = field(default=None, repr=False)
    _baseline: int = 0
    _kills: list[OomKill] = field(default_factory=list)
    _pending: dict[int, dict] = field(default_factory=dict, repr=False)
    kmsg_error: str | None = None

    def __enter__(self) -> OomWatcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> OomWatcher:
        """Remember the cgroup's oom_kill count and open the kernel log at its current end."""
        if self.server_pid is None and self.server is not None:
            self.server_pid = self.server.pid
        self._baseline = self.cgroup.stats().oom_kills
        try:
            self._fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self._fd, 0, os.SEEK_END)
        except OSError as exc:
            self._fd = None
            self.kmsg_error = f"cannot read /dev/kmsg: {exc}"
        return self

    def close(self) -> None:
        """Stop reading the kernel log."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def note_children(self) -> list[int]:
        """Record the server's current children (call while a BGSAVE runs so a killed child can be recognised)."""
        return self.server.child_pids() if self.server is not None else []

    def _children(self) -> set[int]:
        return set(self.server.seen_child_pids) if self.server is not None else set()

    def _role(self, pid: int, memcg: str | None) -> Role:
        if pid == self.server_pid:
            return "parent"
        if pid in self._children():
            return "child"
        if memcg is not None and self.cgroup.path is not None and memcg.rstrip("/").endswith("/" + self.cgroup.name):
            return "child"  # only the server and its forks run in a harness cgroup
        return "other"

    def _read_kmsg(self) -> None:
        if self._fd is None:
            return
        ours = "/" + self.cgroup.name if self.cgroup.path is not None else None
        while True:
            try:
                raw = os.read(self._fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # records overwritten while we were away; carry on
                    continue
                raise
            if not raw:
                break
            parsed = parse_kmsg_record(raw.decode(errors="replace"))
            if parsed is None:
                continue
            text = parsed[1]
            m = _OOM_KILL.search(text)
            if m:
                memcg = m["memcg"]
                if ours is not None and memcg.rstrip("/").endswith(ours):
                    pid = int(m["pid"])
                    self._pending[pid] = {"comm": m["comm"], "memcg": memcg}
                continue
            m = _KILLED.search(text)
            if m and int(m["pid"]) in self._pending:
                pid = int(m["pid"])
                info = self._pending.pop(pid)
                self._kills.append(
                    OomKill(
                        pid=pid,
                        role=self._role(pid, info["memcg"]),
                        comm=m["comm"],
                        task_memcg=info["memcg"],
                        anon_rss_bytes=int(m["anon"]) * 1024,
                    )
                )
        # an oom-kill record whose "Killed process" line we missed still counts
        for pid, info in list(self._pending.items()):
            if not any(k.pid == pid for k in self._kills) and not self._pid_alive(pid):
                self._kills.append(
                    OomKill(pid=pid, role=self._role(pid, info["memcg"]), comm=info["comm"], task_memcg=info["memcg"])
                )
                del self._pending[pid]

    @staticmethod
    def _pid_alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
        except (FileNotFoundError, ProcessLookupError):
            return False

    def _infer(self) -> None:
        """Without kernel-log access: attribute oom_kill counts to whoever died of SIGKILL."""
        if self._fd is not None:
            return  # the kernel log is authoritative (the counter moves a moment before the log line)
        try:
            count = self.cgroup.stats().oom_kills - self._baseline
        except Exception:  # noqa: BLE001 - cgroup already gone
            return
        missing = count - len(self._kills)
        if missing <= 0:
            return
        if (
            self.server is not None
            and self.server.returncode == -9
            and not any(k.role == "parent" for k in self._kills)
        ):
            self._kills.append(OomKill(pid=self.server.pid, role="parent", source="inferred"))
            missing -= 1
        for pid in sorted(self._children()):
            if missing <= 0:
                break
            if not self._pid_alive(pid) and not any(k.pid == pid for k in self._kills):
                self._kills.append(OomKill(pid=pid, role="child", source="inferred"))
                missing -= 1

    def kills(self) -> list[OomKill]:
        """Every OOM kill in the cgroup since start(), oldest first."""
        self._read_kmsg()
        self._infer()
        return list(self._kills)

    def victim(self) -> Role | None:
        """Role of the first process the OOM killer took since start(), or None if there was no OOM kill."""
        kills = self.kills()
        return kills[0].role if kills else None
