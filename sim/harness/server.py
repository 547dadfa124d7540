"""A throw-away redis-server (or compatible binary) in a temp dir, on a loopback port, inside a memory cgroup.

The server joins the cgroup before ``exec`` (a tiny ``preexec_fn`` writes its pid to ``cgroup.procs``), so
every byte it ever allocates is charged there. It runs in its own session (terminal Ctrl-C reaches only the
harness, which then tears it down) with the parent-death signal set to SIGKILL. Its process group is killed
on stop, which takes a BGSAVE child with it. The server is never reaped before that kill, so its pid (and
process group id) cannot be reused in between.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sim.errors import RbsimError
from sim.harness import DEFAULT_BINARY
from sim.harness.cleanup import owned_name, registry

if TYPE_CHECKING:
    from sim.harness.cgroup import MemoryCgroup

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


class RedisServerError(RbsimError, RuntimeError):
    """The server binary could not be identified or started; the message carries the end of its log."""


@dataclass(frozen=True)
class ServerVersion:
    """What ``<binary> --version`` says: flavour (redis/valkey/...), version numbers and allocator."""

    flavor: str
    major: int
    minor: int
    patch: int
    malloc: str | None
    text: str

    @property
    def string(self) -> str:
        """``major.minor.patch``."""
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def has_enable_debug_command(self) -> bool:
        """True if the config knows ``enable-debug-command`` (Redis >= 7, every Valkey)."""
        return self.flavor == "valkey" or self.major >= 7


_VERSION_RE = re.compile(r"^(?P<flavor>\S+) server v=(?P<maj>\d+)\.(?P<min>\d+)\.(?P<pat>\d+)", re.I)


def server_version(binary: str | os.PathLike = DEFAULT_BINARY) -> ServerVersion:
    """Run ``<binary> --version`` and parse it."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RedisServerError(f"cannot run {binary} --version: {exc}") from exc
    m = _VERSION_RE.match(out)
    if not m:
        raise RedisServerError(f"unrecognised version output from {binary}: {out!r}")
    malloc = re.search(r"malloc=(\S+)", out)
    return ServerVersion(
        m["flavor"].lower(), int(m["maj"]), int(m["min"]), int(m["pat"]), malloc.group(1) if malloc else None, out
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "\\\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _proc_children(pid: int) -> list[int]:
    """Direct children of ``pid`` (via /proc/<pid>/task/*/children, else by scanning /proc)."""
    kids: set[int] = set()
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tids = list(task_dir.iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return []
    found_file = False
    for tid in tids:
        try:
            kids.update(int(x) for x in (tid / "children").read_text().split())
            found_file = True
        except (FileNotFoundError, ProcessLookupError):
            continue
    if not found_file:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except (FileNotFoundError, ProcessLookupError):
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    kids.add(int(entry.name))
    return sorted(kids)


def _no_retry() -> Retry:
    """redis-py >= 6 retries 3-10 times with backoff by default, which hides a dead (OOM-killed) server."""
    return Retry(NoBackoff(), 0)


def _pgid_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


class RedisServer:
    """Context manager: a redis-server in a fresh temp dir on a free loopback port, inside ``cgroup``."""

    def __init__(
        self,
        cgroup: MemoryCgroup | None,
        binary: str | os.PathLike = DEFAULT_BINARY,
        *,
        maxmemory: int | None = None,
        maxmemory_policy: str | None = None,
        rdb_key_save_delay: int | None = None,
        oom_score_adj: str | None = None,
        oom_score_adj_values: tuple[int, int, int] | str | None = None,
        extra_config: dict[str, Any] | None = None,
        base_dir: str | os.PathLike | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.cgroup = cgroup
        self.binary = str(binary)
        self.settings: dict[str, Any] = {}
        if maxmemory is not None:
            self.settings["maxmemory"] = int(maxmemory)
        if maxmemory_policy is not None:
            self.settings["maxmemory-policy"] = maxmemory_policy
        if rdb_key_save_delay is not None:
            self.settings["rdb-key-save-delay"] = int(rdb_key_save_delay)
        if oom_score_adj is not None:
            self.settings["oom-score-adj"] = oom_score_adj
        if oom_score_adj_values is not None:
            vals = oom_score_adj_values
            self.settings["oom-score-adj-values"] = vals if isinstance(vals, str) else " ".join(map(str, vals))
        self.settings.update(extra_config or {})
        self.base_dir = Path(base_dir) if base_dir is not None else Path(tempfile.gettempdir())
        self.start_timeout = start_timeout
        self.version: ServerVersion = server_version(self.binary)
        self.dir: Path | None = None
        self.port: int | None = None
        self.seen_child_pids: set[int] = set()
        self._proc: subprocess.Popen | None = None
        self._client: redis.Redis | None = None
        self._token: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def pid(self) -> int:
        """The server's pid."""
        if self._proc is None:
            raise RedisServerError("server not started")
        return self._proc.pid

    @property
    def conf_path(self) -> Path:
        """The generated config file."""
        return self._need_dir() / "redis.conf"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self._need_dir() / "redis.log"

    @property
    def rdb_path(self) -> Path:
        """Where BGSAVE writes the snapshot."""
        return self._need_dir() / "dump.rdb"

    def _need_dir(self) -> Path:
        if self.dir is None:
            raise RedisServerError("server not started")
        return self.dir

    def server_dir(self) -> Path:
        """The data dir as the server sees it (a container sees its mount point instead)."""
        return self._need_dir()

    def config_text(self, port: int) -> str:
        """The config file for a start on ``port``."""
        d = self.server_dir()
        lines = {
            "bind": "127.0.0.1",
            "port": port,
            "protected-mode": "yes",
            "daemonize": "no",
            "dir": _quote(d),
            "dbfilename": "dump.rdb",
            "save": '""',
            "appendonly": "no",
            "logfile": _quote(d / "redis.log"),
        }
        if self.version.has_enable_debug_command:
            lines["enable-debug-command"] = "yes"
        for key, value in self.settings.items():
            lines[key] = value if key == "save" else _quote(value)
        return "".join(f"{k} {v}\n" for k, v in lines.items())

    def start(self) -> RedisServer:
        """Create the dir, write the config, start the server in the cgroup and wait until it answers PING."""
        if self._proc is not None:
            return self
        self._token = registry.register(self._destroy, name=f"redis-server in {self.cgroup}")
        try:
            self.dir = self.base_dir / owned_name("redis")
            self.dir.mkdir(mode=0o700)
            last_error: Exception | None = None
            for _attempt in range(3):
                try:
                    self._launch(free_port())
                    return self
                except _PortTaken as exc:  # another process grabbed the port between probe and bind
                    last_error = exc
            raise RedisServerError(f"could not bind a free port: {last_error}")
        except BaseException:
            self.close()
            raise

    def _launch(self, port: int) -> None:
        self.conf_path.write_text(self.config_text(port))
        procs_file = str(self.cgroup.procs_file) if self.cgroup is not None else None
        pdeathsig = threading.current_thread() is threading.main_thread()
        libc = ctypes.CDLL(None, use_errno=True) if pdeathsig else None
        prctl = libc.prctl if libc is not None else None

        def _preexec() -> None:  # runs in the child between fork and exec: keep it to raw syscalls
            if procs_file is not None:
                fd = os.open(procs_file, os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
            if prctl is not None:
                prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

        self.log_path.unlink(missing_ok=True)
        self._proc = subprocess.Popen(
            [self.binary, str(self.conf_path)],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_preexec,
            close_fds=True,
        )
        self.port = port
        self._await_ping(port)
        if self._proc.stderr is not None:
            self._proc.stderr.close()

    def _exited_during_start(self) -> None:
        """Forget a server that died before answering PING; raise why (_PortTaken: try another port)."""
        assert self._proc is not None
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        tail = self.log_tail(20)
        self._reap(timeout=1)
        self._proc = None
        if "Address already in use" in tail + err:
            raise _PortTaken(tail)
        raise RedisServerError(f"{self.binary} exited during start-up:\n{err}{tail}")

    def _await_ping(self, port: int) -> None:
        """Wait until the server on ``port`` answers PING (RedisServerError if it dies or takes too long)."""
        deadline = time.monotonic() + self.start_timeout
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1, retry=_no_retry())
        try:
            while True:
                if not self.alive():
                    self._exited_during_start()
                try:
                    if client.ping():
                        break
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise RedisServerError(
                        f"{self.binary} did not answer PING within {self.start_timeout}s:\n{self.log_tail(20)}"
                    )
                time.sleep(0.02)
        finally:
            client.close()

    def close(self) -> None:
        """Stop the server and remove its directory (idempotent, never raises because the server died)."""
        if self._token is not None:
            token, self._token = self._token, None
            registry.run(token)

    def _destroy(self) -> None:
        try:
            self.stop()
        finally:
            if self.dir is not None and self.dir.exists():
                for _ in range(20):
                    shutil.rmtree(self.dir, ignore_errors=True)
                    if not self.dir.exists():
                        break
                    time.sleep(0.05)
                if self.dir.exists():
                    log.warning("could not remove %s", self.dir)

    # -- process state -------------------------------------------------------------------------------

    def alive(self) -> bool:
        """True while the server process runs (does not reap it, so its pid stays reserved)."""
        if self._proc is None or self._proc.returncode is not None:
            return False
        try:
            res = os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return res is None

    @property
    def returncode(self) -> int | None:
        """Exit status once stopped (negative = killed by that signal, e.g. -9 after an OOM kill)."""
        if self._proc is None:
            return None
        if self._proc.returncode is None and not self.alive():
            try:
                res = os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return self._proc.returncode
            if res is not None:
                return -res.si_status if res.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else res.si_status
        return self._proc.returncode

    def child_pids(self) -> list[int]:
        """Pids of the server's forked children right now (a BGSAVE / AOF-rewrite child); remembered for OOM triage."""
        if not self.alive():
            return []
        kids = _proc_children(self.pid)
        self.seen_child_pids.update(kids)
        return kids

    def stop(self, timeout: float = 3.0) -> int | None:
        """SHUTDOWN NOSAVE, then SIGKILL the process group if still there; reap; returns the exit status."""
        proc = self._proc
        if proc is None:
            return None
        kids = self.child_pids()
        self._shutdown(timeout)
        if proc.returncode is None:
            # Not reaped yet, so the pgid is still ours: this also kills a BGSAVE child.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            for kid in kids:
                if _pgid_of(kid) == proc.pid:
                    try:
                        os.kill(kid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            self._reap(timeout=10)
        return proc.returncode

    def _shutdown(self, timeout: float) -> None:
        """Close our client and ask a live server to SHUTDOWN NOSAVE; wait up to ``timeout`` for it to be done."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if not self.alive():
            return
        # SHUTDOWN has no reply (the connection closes when the process is gone): send it raw, don't wait.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"SHUTDOWN NOSAVE\r\n")
        except OSError:
            pass
        # Once the server logs "ready to exit, bye bye" nothing is left to wait for; a process with
        # swapped-out memory can then spend seconds in its exit path, which SIGKILL skips.
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            if "ready to exit, bye bye" in self.log_tail(3):
                break
            time.sleep(0.01)

    def _reap(self, timeout: float) -> None:
        assert self._proc is not None
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    # -- talking to it -----------------------------------------------------------------------------

    @property
    def listening_port(self) -> int:
        """The port a started server listens on (RedisServerError before it is started)."""
        if self.port is None:
            raise RedisServerError("server not started")
        return self.port

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client to the server (the shared one when called without arguments); no silent retries."""
        if self.port is None:
            raise RedisServerError("server not started")
        if kwargs:
            return redis.Redis(**{"host": "127.0.0.1", "port": self.port, "retry": _no_retry(), **kwargs})
        if self._client is None:
            self._client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=60, retry=_no_retry())
        return self._client

    def info(self, section: str | None = None) -> dict[str, Any]:
        """``INFO [section]`` as a dict."""
        return self.client().info(section) if section else self.client().info()

    @property
    def allocator(self) -> str:
        """The allocator the server reports (``mem_allocator``, e.g. ``jemalloc-5.3.0``)."""
        return str(self.info("memory")["mem_allocator"])

    def bgsave(self, timeout: float = 600.0, poll: float = 0.05) -> dict[str, Any]:
        """Run BGSAVE, wait for it to finish and return INFO persistence (check ``rdb_last_bgsave_status``)."""
        c = self.client()
        c.bgsave()  # replies after the fork, when rdb_bgsave_in_progress is already 1
        deadline = time.monotonic() + timeout
        while True:
            self.child_pids()
            p = c.info("persistence")
            if not p["rdb_bgsave_in_progress"]:
                return p
            if time.monotonic() > deadline:
                raise TimeoutError(f"BGSAVE still running after {timeout}s")
            time.sleep(poll)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log ('' if there is none)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (FileNotFoundError, RedisServerError):
            return ""

    def __repr__(self) -> str:
        pid = self._proc.pid if self._proc else None
        return f"RedisServer({self.version.flavor} {self.version.string}, pid={pid}, port={self.port}, dir={self.dir})"


class _PortTaken(RedisServerError):
    """The chosen port was taken before the server could bind it."""
