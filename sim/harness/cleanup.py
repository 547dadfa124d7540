"""One registry of cleanup callbacks, run on exit, exceptions, SIGINT and SIGTERM, so no harness run leaves debris.

Every harness resource (swap file, cgroup, redis-server) registers its cleanup here while it is alive
and unregisters when its context manager exits normally. The registry runs what is left:

* at interpreter exit (``atexit``);
* from a SIGINT / SIGTERM handler, which then raises ``KeyboardInterrupt`` (SIGINT, shell status 130)
  or ``SystemExit(143)`` (SIGTERM) so the stack still unwinds normally.

A signal that arrives while a cleanup is running is deferred until the cleanups are done, so an impatient
second Ctrl-C cannot abort a half-finished teardown. SIGKILL cannot be caught:
:func:`sim.harness.janitor.sweep_leftovers` removes what a killed run left behind (cgroups, swap files,
data dirs, containers), judged stale when the pid embedded in the name is no longer alive.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
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
TMP_RECORD = re.compile(r"^\..+\.pid(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


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


class StopFlag:
    """Set by SIGTERM or SIGINT: lets a worker process finish its loop and report before exiting."""

    def __init__(self) -> None:
        self.stopped = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum, frame) -> None:
        self.stopped = True
