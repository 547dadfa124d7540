"""The podman backend: the harness's redis-server in a real podman container instead of a bare memory cgroup.

No registry and no network: :func:`rootfs_for` copies the server binary and the shared libraries ``ldd``
names into a cached root filesystem (``~/.cache/rbsim/rootfs-<hash>``), and :class:`PodmanServer` starts it
with ``podman run --rootfs <dir>:O`` (an overlay, so the cache stays as built) under runc and podman's
cgroupfs manager, on the host's network, with ``--memory``/``--memory-swap`` of the scenario and this
process's own open-file limit, process limit (at most podman's 32768) and oom_score_adj: what a server the
cgroup backend starts inherits (podman's default, 1,048,576 files, cannot be set without CAP_SYS_RESOURCE,
which this machine's root lacks). The harness then talks to it on its port and reads the memory cgroup
podman made (:class:`ContainerCgroup`) exactly as it reads its own. Containers are named
``rbsim-podman-<pid>-<hex>`` and labelled ``rbsim.owner=<pid>``: they are removed on exit, Ctrl-C and
SIGTERM, and the next run's sweep (:mod:`sim.harness.cleanup`) removes those of dead owners.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import resource
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from sim.harness import DEFAULT_BINARY
from sim.harness.cgroup import CgroupStats, MemoryCgroup, hierarchy_mounts, memory_cgroup_of, own_memory_cgroup
from sim.harness.cleanup import owned_name, registry
from sim.harness.server import RedisServer, RedisServerError, _PortTaken

RUNTIME = "runc"
GLOBAL_FLAGS = ("--runtime", RUNTIME, "--cgroup-manager", "cgroupfs")
"""Podman's global flags for every call: runc (no crun here) and cgroupfs (no systemd to delegate to)."""
OWNER_LABEL = "rbsim.owner"
DATA_MOUNT = "/data"
"""Where the server's data dir (config, log, RDB) is mounted inside the container."""
ROOTFS_ETC = {"etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\n", "etc/group": "root:x:0:\n"}


class PodmanError(RedisServerError):
    """podman is missing, refused a command, or the root filesystem could not be built; the message says why."""


def podman(*args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``podman <global flags> args`` in its own session (a Ctrl-C meant for the harness must not cut it
    short and leave a half-made container); PodmanError when it fails and ``check``."""
    try:
        proc = subprocess.run(
            ["podman", *GLOBAL_FLAGS, *args], capture_output=True, text=True, timeout=timeout, start_new_session=True
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PodmanError(f"podman {args[0]}: {exc}") from exc
    if check and proc.returncode != 0:
        raise PodmanError(f"podman {' '.join(args[:1])} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def podman_available() -> str | None:
    """None if podman containers can be started here, else a sentence saying why not."""
    if os.geteuid() != 0:
        return "the podman backend needs root (rootful podman with cgroupfs)"
    for tool in ("podman", RUNTIME):
        if shutil.which(tool) is None:
            return f"the podman backend needs {tool} on PATH (Debian: apt-get install podman runc)"
    return None


def podman_version() -> str:
    """``podman --version``'s number, e.g. ``4.3.1``."""
    return podman("--version", timeout=20).stdout.split()[-1]


def runtime_version() -> str:
    """The OCI runtime and its version, e.g. ``runc 1.1.5+ds1``."""
    try:
        out = subprocess.run([RUNTIME, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return RUNTIME
    words = out.split()
    return f"{RUNTIME} {words[2]}" if len(words) > 2 else RUNTIME


# -- the root filesystem ------------------------------------------------------------------------------

_LDD_LINE = re.compile(r"^\s*(?:(?P<name>\S+) => )?(?P<path>/\S+|not found)(?: \(0x[0-9a-f]+\))?\s*$")


def shared_libraries(binary: str | os.PathLike) -> list[Path]:
    """Absolute paths of the shared libraries (and the dynamic loader) ``binary`` needs, from ``ldd``."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        if "not a dynamic executable" in proc.stdout + proc.stderr:
            return []  # statically linked: nothing to copy
        raise PodmanError(f"ldd {binary} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    libs = []
    for line in proc.stdout.splitlines():
        m = _LDD_LINE.match(line)
        if m is None:
            continue  # linux-vdso.so.1: provided by the kernel
        if m["path"] == "not found":
            raise PodmanError(f"{binary} needs {m['name']}, which ldd cannot find")
        libs.append(Path(m["path"]))
    return libs


def cache_dir() -> Path:
    """Where built root filesystems are kept: ``$XDG_CACHE_HOME/rbsim`` or ``~/.cache/rbsim``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rbsim"


def _contents_hash(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path).encode() + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def rootfs_for(binary: str | os.PathLike = DEFAULT_BINARY, cache: Path | None = None) -> Path:
    """A root filesystem holding ``binary`` and its libraries at their host paths, built once per content.

    Built in a ``rbsim-rootfs-<pid>-<hex>`` directory beside the cache entry (removed on failure, Ctrl-C, or
    by the next run's sweep) and renamed into place, so a reader never sees half a tree.
    """
    binary = Path(binary).absolute()
    files = [binary, *shared_libraries(binary)]
    cache = cache or cache_dir()
    final = cache / f"rootfs-{_contents_hash(files)}"
    if final.is_dir():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    build = cache / owned_name("rootfs")
    token = registry.register(lambda: shutil.rmtree(build, ignore_errors=True), name=f"rootfs build {build}")
    try:
        for path in files:
            dest = build / path.relative_to("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)  # follows symlinks: the name the loader asks for, holding the real file
        for rel, text in ROOTFS_ETC.items():
            (build / rel).parent.mkdir(parents=True, exist_ok=True)
            (build / rel).write_text(text)
        (build / DATA_MOUNT.lstrip("/")).mkdir()
        try:
            build.rename(final)
        except OSError:  # another run built it first
            if not final.is_dir():
                raise
    finally:
        registry.run(token)  # removes the build dir if it was not renamed
    return final


# -- stray containers ---------------------------------------------------------------------------------


def rbsim_containers() -> list[str]:
    """Names of every container (running or not) that a harness run labelled as its own."""
    if shutil.which("podman") is None:
        return []
    try:
        proc = podman("ps", "--all", "--filter", f"label={OWNER_LABEL}", "--format", "{{.Names}}")
    except PodmanError:  # a podman that cannot even list has made no containers to sweep
        return []
    return sorted(proc.stdout.split())


def remove_container(name: str) -> None:
    """``podman rm --force``: kill every process in the container (a save child too) and remove it and its
    cgroup; a container that is already gone is fine."""
    for attempt in range(5):
        try:
            podman("rm", "--force", "--ignore", "--time", "0", name)
            return
        except PodmanError as exc:
            # podman 4.3 races a process that dies (an OOM kill) while it removes the container: "could not
            # be stopped ... container state improper: stopped"; asked again, it sees it stopped and removes it
            if "state improper" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))


PODMAN_PARENT = "libpod_parent"
"""The cgroup podman's cgroupfs manager makes in every hierarchy for its containers, with ``conmon/`` beneath
for the monitors; podman removes a container's own group but leaves these two behind."""


def remove_empty_parents(settle_s: float = 0.0) -> list[str]:
    """Remove podman's ``libpod_parent/conmon`` and ``libpod_parent`` cgroups wherever nothing runs in them.

    rmdir refuses a cgroup holding tasks or children, so groups of containers still running (another
    podman user's too) stay; podman makes them again for its next container. A container's conmon outlives
    ``podman rm`` by a few milliseconds: ``settle_s`` retries for that long while a group is still busy.
    """
    removed: list[str] = []
    deadline = time.monotonic() + settle_s
    while True:
        busy = False
        for mount in hierarchy_mounts():
            for path in (mount / PODMAN_PARENT / "conmon", mount / PODMAN_PARENT):
                try:
                    path.rmdir()
                    removed.append(str(path))
                except FileNotFoundError:
                    pass
                except OSError:
                    busy = True
        if not busy or time.monotonic() >= deadline:
            return removed
        time.sleep(0.05)


# -- the container ------------------------------------------------------------------------------------


class ContainerCgroup(MemoryCgroup):
    """The memory cgroup podman made for a container, read like the harness's own; podman creates and removes
    it (``limit_bytes`` and ``swap_bytes`` are what the container was given).

    Podman removes the group as soon as the container's process exits (an OOM kill of the server, say), before
    the record is written: :meth:`stats` then returns the last reading, which :class:`PodmanServer` takes the
    moment it sees its process gone.
    """

    def __init__(self, limit_bytes: int, swap_bytes: int = 0) -> None:
        super().__init__(limit_bytes, swap_bytes)
        self.last: CgroupStats | None = None

    def stats(self) -> CgroupStats:
        """The counters now, or the last reading once podman has removed the group."""
        if self.path is not None and self.path.is_dir():
            reading = super().stats()
            if self.path.is_dir():  # not removed while being read (its files would have read as 0)
                self.last = reading
                return reading
        if self.last is None:
            raise FileNotFoundError(f"memory cgroup {self.path} is gone and was never read")
        return self.last

    def create(self) -> ContainerCgroup:
        """Nothing to make: :meth:`adopt` finds the container's group."""
        return self

    def adopt(self, pid: int) -> None:
        """Read the memory cgroup of the container's process ``pid`` from now on."""
        self.version, self.path = memory_cgroup_of(pid)
        peak = self.path / "memory.peak"
        if self.version == "v2" and peak.exists():
            self._peak_fd = os.open(peak, os.O_RDWR)

    def close(self) -> None:
        """Forget the group (podman removes it with the container)."""
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None


PODMAN_NPROC = 32768
"""The process limit podman gives its container monitor (``podman run --help``: default nproc=32768:32768); a
container cannot be given more without CAP_SYS_RESOURCE, and when only nofile is set podman asks for 1,048,576."""


def _own_limit(which: int, cap: int | None = None) -> str:
    """This process's soft:hard limit (``-1``: unlimited), at most ``cap``."""
    inf = resource.RLIM_INFINITY
    limits = [cap if cap is not None and (v == inf or v > cap) else v for v in resource.getrlimit(which)]
    return ":".join("-1" if v == inf else str(v) for v in limits)


class PodmanServer(RedisServer):
    """A :class:`RedisServer` in a podman container of ``limit_bytes`` RAM and ``swap_bytes`` swap; ``cgroup``
    is the container's memory cgroup once started. Other keywords as for :class:`RedisServer`."""

    cgroup: ContainerCgroup

    def __init__(self, binary: str | os.PathLike = DEFAULT_BINARY, *, limit_bytes: int, swap_bytes: int = 0, **kw: Any):
        super().__init__(ContainerCgroup(limit_bytes, swap_bytes), binary, **kw)
        self.name: str | None = None
        self.rootfs: Path | None = None
        self.start_s: float | None = None
        """Seconds from ``podman run`` to the first PONG."""
        self._run: subprocess.Popen | None = None
        self._host_pid: int | None = None
        self._pidfd: int | None = None
        self._seen_dead = False
        self._exit: int | None = None

    @property
    def pid(self) -> int:
        """The server's pid on the host (its pid inside the container is 1)."""
        if self._host_pid is None:
            raise RedisServerError("server not started")
        return self._host_pid

    def server_dir(self) -> Path:
        """The data dir as the server sees it: its mount point in the container."""
        return Path(DATA_MOUNT)

    def start(self) -> PodmanServer:
        """Build (or reuse) the root filesystem, then start as :meth:`RedisServer.start` does (idempotent)."""
        if self.name is not None:
            return self
        self.rootfs = rootfs_for(self.binary)
        super().start()
        return self

    def run_args(self, port: int) -> list[str]:
        """The ``podman run`` arguments of a start on ``port`` (every option before ``--rootfs``: what
        follows the root filesystem is the container's command line)."""
        cg, dir_ = self.cgroup, self._need_dir()
        args = ["run", "--detach", "--name", str(self.name), "--label", f"{OWNER_LABEL}={os.getpid()}"]
        args += ["--network", "host", "--memory", str(cg.limit_bytes)]
        args += ["--memory-swap", str(cg.limit_bytes + cg.swap_bytes)]
        if own_memory_cgroup()[0] == "v1":  # v2 has no per-group swappiness
            args += ["--memory-swappiness", str(cg.swappiness)]
        args += ["--ulimit", f"nofile={_own_limit(resource.RLIMIT_NOFILE)}"]
        args += ["--ulimit", f"nproc={_own_limit(resource.RLIMIT_NPROC, PODMAN_NPROC)}"]
        args += ["--oom-score-adj", Path("/proc/self/oom_score_adj").read_text().strip()]
        args += ["--volume", f"{dir_}:{DATA_MOUNT}", "--rootfs", f"{self.rootfs}:O"]
        return [*args, self.binary, f"{DATA_MOUNT}/redis.conf"]

    def _launch(self, port: int) -> None:
        self.conf_path.write_text(self.config_text(port))
        self.log_path.unlink(missing_ok=True)
        self.name = owned_name("podman")
        t = time.monotonic()
        self._run = subprocess.Popen(
            ["podman", *GLOBAL_FLAGS, *self.run_args(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            cwd=self.dir,  # conmon, which stays, writes a file "oom" into its working dir on an OOM kill
        )
        _, err = self._run.communicate(timeout=self.start_timeout)
        if self._run.returncode != 0:
            raise PodmanError(f"podman run failed ({self._run.returncode}): {err.strip()}")
        pid = int(podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout.strip() or 0)
        try:
            self._pidfd = os.pidfd_open(pid) if pid > 0 else None
        except ProcessLookupError:
            self._pidfd = None
        self._host_pid, self.port = pid, port
        if self._pidfd is not None:
            self.cgroup.adopt(pid)
        self._await_ping(port)
        self.start_s = time.monotonic() - t

    def _exited_during_start(self) -> None:
        tail = self.log_tail(20)
        out = podman("logs", str(self.name), check=False)
        self._remove()
        if "Address already in use" in tail:
            raise _PortTaken(tail)
        raise RedisServerError(f"{self.binary} exited during start-up in its container:\n{out.stderr}{tail}")

    def alive(self) -> bool:
        """True while the server process runs (a pidfd: never confused by a reused pid). The first time it finds
        the process gone it reads the cgroup, before podman's exit clean-up removes it."""
        if self._pidfd is None:
            return False
        readable, _, _ = select.select([self._pidfd], [], [], 0)
        if readable and not self._seen_dead:
            self._seen_dead = True
            with contextlib.suppress(OSError):
                self.cgroup.stats()
        return not readable

    @property
    def returncode(self) -> int | None:
        """Exit status once stopped, as for a bare server (-9: SIGKILLed; podman reports 128 + signal)."""
        if self._exit is None and self.name is not None and self._host_pid and not self.alive():
            proc = podman("wait", self.name, check=False, timeout=30)
            if proc.returncode == 0 and proc.stdout.strip().lstrip("-").isdigit():
                code = int(proc.stdout.strip())
                self._exit = 128 - code if code > 128 else code
        return self._exit

    def stop(self, timeout: float = 3.0) -> int | None:
        """SHUTDOWN NOSAVE, then remove the container (which kills whatever is left in it)."""
        if self._run is not None and self._run.poll() is None:  # a start cut short: let podman finish it first
            try:
                self._run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._run.kill()
        if self.name is None:
            return self._exit
        self.child_pids()
        self._shutdown(timeout)
        code = self.returncode if not self.alive() else None
        self._remove()
        if code is None and self._host_pid:
            self._exit = code = -9  # still running when removed: podman SIGKILLed it
        return code

    def _remove(self) -> None:
        name, self.name = self.name, None
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        self.cgroup.close()
        if name is not None:
            remove_container(name)
            remove_empty_parents(settle_s=2.0)

    def __repr__(self) -> str:
        return f"PodmanServer({self.name}, pid={self._host_pid}, port={self.port}, rootfs={self.rootfs})"
