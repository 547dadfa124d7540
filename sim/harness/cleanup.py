"""One registry of cleanup callbacks, run on exit, exceptions, SIGINT and SIGTERM, so no harness run leaves debris.

Every harness resource (swap file, cgroup, redis-server) registers its cleanup here while it is alive
and unregisters when its context manager exits normally. The registry runs what is left:

* at interpreter exit (``atexit``);
* from a SIGINT / SIGTERM handler, which then raises ``KeyboardInterrupt`` (SIGINT, shell status 130)
  or ``SystemExit(143)`` (SIGTERM) so the stack still unwinds normally.

A signal that arrives while a cleanup is running is deferred until the cleanups are done, so an impatient
second Ctrl-C cannot abort a half-finished teardown. SIGKILL cannot be caught: :func:`sweep_leftovers`
removes what a killed run left behind (cgroups, swap files, data dirs), judged stale when the pid
embedded in the name is no longer alive.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: Every harness artefact name starts with this, followed by the owner pid: ``rbsim-<pid>-<hex>``.
NAME_PREFIX = "rbsim"
_OWNED_NAME = re.compile(r"^rbsim-(?:[a-z]+-)?(?P<pid>\d+)-[0-9a-f]{8,32}(?:\.swap)?$")

_EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
PR_SET_PDEATHSIG = 1
PARENT_FLAG = "--parent"
"""Command-line flag naming the harness process a worker (ping loop, write load) belongs to."""
WORKER_MODULES = (b"sim.harness.sampler", b"sim.harness.loadgen")
_TMP_RECORD = re.compile(r"^\..+\.pid(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def owned_name(kind: str | None = None) -> str:
    """A fresh artefact name ``rbsim[-kind]-<ourpid>-<hex12>``; the pid lets a later sweep tell stale from live."""
    import uuid

    middle = f"{kind}-" if kind else ""
    return f"{NAME_PREFIX}-{middle}{os.getpid()}-{uuid.uuid4().hex[:12]}"


def owner_pid(name: str) -> int | None:
    """The owner pid embedded in an artefact name, or None if the name is not one of ours."""
    m = _OWNED_NAME.match(name)
    return int(m.group("pid")) if m else None


def pid_alive(pid: int) -> bool:
    """True if a process (not a zombie) with this pid exists."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in (b"Z", b"X")


def die_with_parent(parent: int) -> None:
    """In a worker: have the kernel SIGKILL us when ``parent`` dies (even by SIGKILL); exit if it already has."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl (not Linux): the leftover sweep still finds us
        pass
    if os.getppid() != parent:
        os._exit(1)


def stray_workers() -> list[int]:
    """Pids of harness workers whose ``--parent`` harness process is gone (left by a SIGKILLed run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not any(m in argv for m in WORKER_MODULES) or PARENT_FLAG.encode() not in argv:
            continue
        parent = argv[argv.index(PARENT_FLAG.encode()) + 1 :][:1]
        if parent and parent[0].isdigit() and not pid_alive(int(parent[0])) and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@dataclass
class _Entry:
    name: str
    fn: Callable[[], None]


@dataclass
class CleanupRegistry:
    """LIFO registry of cleanup callbacks; each callback runs at most once."""

    _entries: dict[int, _Entry] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=itertools.count)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _running: int = 0
    _pending_signal: int | None = None

    def register(self, fn: Callable[[], None], name: str = "") -> int:
        """Register ``fn`` and return a token for :meth:`run` / :meth:`unregister`; installs signal handlers."""
        install_signal_handlers()
        with self._lock:
            token = next(self._ids)
            self._entries[token] = _Entry(name or getattr(fn, "__qualname__", repr(fn)), fn)
            return token

    def unregister(self, token: int) -> None:
        """Forget a callback without running it."""
        with self._lock:
            self._entries.pop(token, None)

    def pending(self) -> list[str]:
        """Names of the callbacks still registered, newest first."""
        with self._lock:
            return [e.name for _, e in sorted(self._entries.items(), reverse=True)]

    def run(self, token: int) -> None:
        """Run one callback now (if still registered) and forget it; exceptions propagate."""
        self._running += 1  # before popping: a signal arriving now must not lose this entry
        try:
            with self._lock:
                entry = self._entries.pop(token, None)
            if entry is not None:
                entry.fn()
        finally:
            self._running -= 1
            self._raise_deferred_signal()

    def run_all(self) -> list[BaseException]:
        """Run every registered callback, newest first; errors are logged and returned, never raised."""
        errors: list[BaseException] = []
        self._running += 1
        try:
            while True:
                with self._lock:
                    if not self._entries:
                        break
                    token = max(self._entries)
                    entry = self._entries.pop(token)
                try:
                    entry.fn()
                except BaseException as exc:  # noqa: BLE001 - a cleanup must not stop the others
                    log.warning("cleanup %s failed: %r", entry.name, exc)
                    errors.append(exc)
        finally:
            self._running -= 1
        self._raise_deferred_signal()
        return errors

    # -- signals ---------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame) -> None:
        if self._running:
            self._pending_signal = signum  # finish the teardown in progress first
            return
        self.run_all()
        _raise_for(signum)

    def _raise_deferred_signal(self) -> None:
        if self._running or self._pending_signal is None:
            return
        signum, self._pending_signal = self._pending_signal, None
        self.run_all()
        _raise_for(signum)


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(_EXIT_CODES.get(signum, 128 + signum))


#: The process-wide registry used by every harness context manager.
registry = CleanupRegistry()
_installed = False


def install_signal_handlers(force: bool = False) -> bool:
    """Route SIGINT/SIGTERM through the registry (main thread only); keeps handlers a user installed unless
    ``force``."""
    global _installed
    if _installed and not force:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    defaults = {signal.SIGINT: (signal.default_int_handler, signal.SIG_DFL), signal.SIGTERM: (signal.SIG_DFL,)}
    for signum, default in defaults.items():
        current = signal.getsignal(signum)
        if force or current in default or current is None:
            signal.signal(signum, registry._on_signal)
    _installed = True
    return True


atexit.register(registry.run_all)


# -- sweeping what crashed runs left behind -----------------------------------------------------


@dataclass
class SweepReport:
    """What :func:`sweep_leftovers` removed."""

    cgroups: list[str] = field(default_factory=list)
    killed_pids: list[int] = field(default_factory=list)
    swap_files: list[str] = field(default_factory=list)
    data_dirs: list[str] = field(default_factory=list)
    workers: list[int] = field(default_factory=list)
    tmp_records: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        """True if nothing was found."""
        return not (
            self.cgroups
            or self.killed_pids
            or self.swap_files
            or self.data_dirs
            or self.workers
            or self.tmp_records
            or self.containers
        )


def _stale(name: str, include_live: bool) -> bool:
    pid = owner_pid(name)
    if pid is None:
        return False
    return include_live or (pid != os.getpid() and not pid_alive(pid))


def sweep_leftovers(
    include_live: bool = False,
    swap_dirs: list[str | os.PathLike] | None = None,
    data_dirs: list[str | os.PathLike] | None = None,
    record_dirs: Sequence[str | os.PathLike] = (),
) -> SweepReport:
    """Remove ``rbsim-*`` cgroups (killing their tasks), podman containers, swap files, data dirs and half-built
    container root filesystems whose owner process is gone, kill worker processes whose harness is gone, and
    delete half-written ``.tmp`` records of dead writers.

    ``include_live=True`` also removes artefacts of live owners (only for use when no other harness runs).
    """
    from sim.harness import cgroup as cg  # local import: cgroup.py imports this module
    from sim.harness import podman as pm
    from sim.harness import swap as sw

    report = SweepReport()
    for name in pm.rbsim_containers():
        if not _stale(name, include_live):
            continue
        try:
            pm.remove_container(name)
            report.containers.append(name)
        except pm.PodmanError as exc:
            log.warning("could not remove stale container %s: %r", name, exc)
    for path in cg.find_rbsim_cgroups():
        if not _stale(path.name, include_live):
            continue
        try:
            report.killed_pids += cg.destroy_cgroup_dir(path)
            report.cgroups.append(str(path))
        except OSError as exc:
            log.warning("could not remove stale cgroup %s: %r", path, exc)

    active = sw.active_swap_files()
    dirs = {Path(d) for d in (swap_dirs or [sw.DEFAULT_SWAP_DIR])}
    candidates = {p for p in active if p.name.startswith(NAME_PREFIX + "-swap-")}
    for d in dirs:
        if d.is_dir():
            candidates |= set(d.glob(NAME_PREFIX + "-swap-*"))
    for path in sorted(candidates):
        if not _stale(path.name, include_live):
            continue
        try:
            if path in active:
                sw.swapoff(path)
            path.unlink(missing_ok=True)
            report.swap_files.append(str(path))
        except (OSError, RuntimeError) as exc:
            log.warning("could not remove stale swap file %s: %r", path, exc)

    for d in {Path(x) for x in (data_dirs or [tempfile.gettempdir()])}:
        if not d.is_dir():
            continue
        for path in d.glob(NAME_PREFIX + "-redis-*"):
            if path.is_dir() and _stale(path.name, include_live):
                shutil.rmtree(path, ignore_errors=True)
                report.data_dirs.append(str(path))
    for path in pm.cache_dir().glob(NAME_PREFIX + "-rootfs-*") if pm.cache_dir().is_dir() else ():
        if _stale(path.name, include_live):
            shutil.rmtree(path, ignore_errors=True)
            report.data_dirs.append(str(path))

    for pid in stray_workers():
        try:
            os.kill(pid, signal.SIGKILL)
            report.workers.append(pid)
        except ProcessLookupError:
            pass
    for d in map(Path, record_dirs):
        for path in d.glob(".*.tmp") if d.is_dir() else []:
            m = _TMP_RECORD.match(path.name)
            if m and (include_live or not pid_alive(int(m["pid"]))):
                path.unlink(missing_ok=True)
                report.tmp_records.append(str(path))
    return report


class StopFlag:
    """Set by SIGTERM or SIGINT: lets a worker process finish its loop and report before exiting."""

    def __init__(self) -> None:
        self.stopped = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum, frame) -> None:
        self.stopped = True
