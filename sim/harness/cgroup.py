"""A fresh, memory-limited child cgroup (v1 or v2) per harness run, so each Redis lives in its own box.

On cgroup v1 the group is ``<memory mount>/<own cgroup>/rbsim-<pid>-<hex>``: ``memory.limit_in_bytes`` is the
RAM limit and ``memory.memsw.limit_in_bytes`` = RAM + swap allowance, so a swap allowance of 0 forbids swapping.
On cgroup v2 the equivalents are ``memory.max`` and ``memory.swap.max``. On exit every task still in the group
is SIGKILLed and reaped by the kernel, then the directory is removed; the cleanup is registered with
:mod:`sim.harness.cleanup` so Ctrl-C / SIGTERM remove it too.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from sim.errors import RbsimError
from sim.harness.cleanup import NAME_PREFIX, owned_name, registry

log = logging.getLogger(__name__)

UNLIMITED_V1 = 9223372036854771712  # PAGE_COUNTER_MAX * 4096 as shown by memory.limit_in_bytes


class CgroupError(RbsimError, RuntimeError):
    """The memory cgroup could not be found, created, configured or removed; the message says why."""


@dataclass(frozen=True)
class CgroupStats:
    """One reading of a memory cgroup's counters (bytes unless named otherwise)."""

    usage_bytes: int  # v1 memory.usage_in_bytes / v2 memory.current (RAM: anon + page cache + kernel)
    max_usage_bytes: int  # v1 memory.max_usage_in_bytes / v2 memory.peak (since reset_max_usage)
    anon_bytes: int  # v1 total_rss / v2 anon: mapped anonymous memory resident in RAM
    page_cache_bytes: int  # v1 total_cache / v2 file
    swap_cache_bytes: int  # swapcached: anon pages in RAM that also have a swap copy (e.g. read back by a child)
    swap_bytes: int  # v1 total_swap / v2 memory.swap.current
    major_faults: int  # pgmajfault (hierarchical): page-ins from swap or disk
    oom_kills: int  # v1 memory.oom_control oom_kill / v2 memory.events oom_kill
    failcnt: int  # times a charge hit the limit: v1 memory.failcnt + memory.memsw.failcnt / v2 memory.events max
    limit_bytes: int
    swap_limit_bytes: int  # swap allowance on top of limit_bytes (0 = no swapping)


# -- discovery -----------------------------------------------------------------------------------


def _mountinfo() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fstype, super options) for every cgroup mount of this process."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
                out.append((fields[3], fields[4].replace("\\040", " "), rfields[0], rfields[2]))
    return out


def hierarchy_mounts() -> list[Path]:
    """Mount points of every cgroup hierarchy (v1 controllers, or the one v2 tree)."""
    return [Path(mnt) for _, mnt, _, _ in _mountinfo()]


def _join(mount: str, mount_root: str, cg_path: str) -> Path:
    rel = cg_path
    if mount_root != "/" and (cg_path == mount_root or cg_path.startswith(mount_root.rstrip("/") + "/")):
        rel = cg_path[len(mount_root) :]
    return Path(mount) / rel.lstrip("/")


def own_memory_cgroup() -> tuple[str, Path]:
    """("v1"|"v2", directory) of this process's own memory cgroup; raises CgroupError if none is usable."""
    return memory_cgroup_of("self")


def memory_cgroup_of(pid: int | str) -> tuple[str, Path]:
    """("v1"|"v2", directory) of a process's memory cgroup (e.g. one a container runtime made); CgroupError if
    none is usable."""
    v1_path = v2_path = None
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                v1_path = path
            elif hid == "0" and controllers == "":
                v2_path = path
    mounts = _mountinfo()
    if v1_path is not None:
        for root, mnt, fstype, opts in mounts:
            if fstype == "cgroup" and "memory" in opts.split(","):
                d = _join(mnt, root, v1_path)
                if (d / "memory.limit_in_bytes").exists():
                    return "v1", d
    if v2_path is not None:
        for root, mnt, fstype, _ in mounts:
            if fstype == "cgroup2":
                d = _join(mnt, root, v2_path)
                ctl = Path(mnt) / "cgroup.controllers"
                if d.is_dir() and ctl.exists() and "memory" in ctl.read_text().split():
                    return "v2", d
    raise CgroupError(
        "no usable memory cgroup: need a cgroup v1 'memory' hierarchy or a cgroup v2 hierarchy with the memory "
        f"controller (see /proc/{pid}/cgroup and /proc/self/mountinfo)"
    )


def memory_cgroup_available() -> str | None:
    """None if a memory cgroup can be created here, else a sentence saying why not."""
    if os.geteuid() != 0:
        return "creating memory cgroups needs root"
    try:
        own_memory_cgroup()
    except (CgroupError, OSError) as exc:
        return str(exc)
    return None


def _v2_parent(own: Path) -> Path:
    """Where to create a v2 child: our own group if it can delegate memory, else a sibling (no-internal-process
    rule)."""
    ctl = own / "cgroup.subtree_control"
    if "memory" in ctl.read_text().split():
        return own
    try:
        _write(ctl, "+memory")
        return own
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
    if (own / "memory.max").exists() and own.parent != own:
        return own.parent  # the parent already delegates memory to us, so it does to a sibling too
    raise CgroupError(f"cannot enable the memory controller below {own} (it holds processes); run from a leaf group")


def find_rbsim_cgroups() -> list[Path]:
    """Every ``rbsim-*`` memory cgroup on this machine (any owner), found by walking the hierarchy."""
    try:
        version, own = own_memory_cgroup()
    except (CgroupError, OSError):
        return []
    roots = {
        mnt
        for _, mnt, fstype, opts in _mountinfo()
        if (fstype == "cgroup" and "memory" in opts.split(",")) or (version == "v2" and fstype == "cgroup2")
    }
    found: list[Path] = []
    for root in roots:
        for dirpath, dirnames, _ in os.walk(root):
            found += [Path(dirpath) / d for d in dirnames if d.startswith(NAME_PREFIX + "-")]
            dirnames[:] = [d for d in dirnames if not d.startswith(NAME_PREFIX + "-")]
    return sorted(found)


# -- low-level file helpers ----------------------------------------------------------------------


def _write(path: Path, value: str | int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _read_int(path: Path, default: int = 0) -> int:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return default
    return UNLIMITED_V1 if text == "max" else int(text)


def _read_kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            k, _, v = line.partition(" ")
            if v.strip().lstrip("-").isdigit():
                out[k] = int(v)
    except FileNotFoundError:
        pass
    return out


def _pids_in(path: Path) -> list[int]:
    pids: set[int] = set()
    for name in ("cgroup.procs", "tasks", "cgroup.threads"):
        try:
            pids.update(int(x) for x in (path / name).read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return sorted(pids)


def destroy_cgroup_dir(path: Path, timeout: float = 10.0) -> list[int]:
    """SIGKILL every task in ``path`` (and sub-groups), wait until it is empty, then rmdir it; returns pids killed."""
    path = Path(path)
    if not path.is_dir():
        return []
    killed: list[int] = []
    for sub in sorted((p for p in path.iterdir() if p.is_dir()), reverse=True):
        killed += destroy_cgroup_dir(sub, timeout)
    kill_file = path / "cgroup.kill"  # v2, Linux >= 5.14: kills atomically, racing forks included
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        pids = _pids_in(path)
        if pids and kill_file.exists():
            try:
                _write(kill_file, 1)
            except OSError:
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                if pid not in killed:
                    killed.append(pid)
            except ProcessLookupError:
                pass
        try:
            os.rmdir(path)
            return killed
        except FileNotFoundError:
            return killed
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise CgroupError(f"cannot remove cgroup {path}: {exc}") from exc
        if time.monotonic() > deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    # Still busy: tasks that would not die (e.g. stuck in D state). Move them out, then remove the group.
    for pid in _pids_in(path):
        try:
            _write(path.parent / "cgroup.procs", pid)
        except OSError as exc:
            log.warning("could not move pid %s out of %s: %r", pid, path, exc)
    for _ in range(50):
        try:
            os.rmdir(path)
            return killed
        except FileNotFoundError:
            return killed
        except OSError:
            time.sleep(0.1)
    raise CgroupError(f"cgroup {path} still busy after killing {killed}; remaining tasks {_pids_in(path)}")


# -- the context manager -------------------------------------------------------------------------


class MemoryCgroup:
    """Context manager: a fresh memory cgroup with a RAM limit and a swap allowance, destroyed with its tasks on
    exit."""

    def __init__(
        self,
        limit_bytes: int,
        swap_bytes: int = 0,
        swappiness: int | None = None,
        parent: str | os.PathLike | None = None,
    ) -> None:
        if limit_bytes <= 0:
            raise ValueError(f"limit_bytes must be positive, got {limit_bytes}")
        if swap_bytes < 0:
            raise ValueError(f"swap_bytes must be >= 0, got {swap_bytes}")
        self.limit_bytes = int(limit_bytes)
        self.swap_bytes = int(swap_bytes)
        # 60 is the kernel default: anon and file pages both reclaimable, as on an ordinary host with swap.
        # 0 with no allowance: memcg reclaim then never tries to swap anonymous pages.
        self.swappiness = swappiness if swappiness is not None else (60 if swap_bytes else 0)
        self._parent_override = Path(parent) if parent is not None else None
        self.version: str | None = None
        self.path: Path | None = None
        self._token: int | None = None
        self._peak_fd: int | None = None

    # lifecycle

    def __enter__(self) -> MemoryCgroup:
        self.create()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def create(self) -> MemoryCgroup:
        """Create and configure the cgroup (idempotent)."""
        if self.path is not None:
            return self
        version, own = own_memory_cgroup()
        parent = self._parent_override or (own if version == "v1" else _v2_parent(own))
        path = parent / owned_name()
        self._token = registry.register(self._destroy, name=f"cgroup {path}")
        self.version, self.path = version, path
        try:
            os.mkdir(path)
            self._configure()
        except BaseException:
            self.close()
            raise
        return self

    def _configure(self) -> None:
        p = self.path
        assert p is not None
        if self.version == "v1":
            _write(p / "memory.limit_in_bytes", self.limit_bytes)
            memsw = p / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                _write(memsw, self.limit_bytes + self.swap_bytes)
            elif self.swap_bytes == 0:
                log.warning("no swap accounting (memory.memsw.*): cannot forbid swapping in %s", p)
            try:
                _write(p / "memory.swappiness", self.swappiness)
            except OSError as exc:
                log.warning("could not set memory.swappiness=%s: %r", self.swappiness, exc)
        else:
            _write(p / "memory.max", self.limit_bytes)
            swap_max = p / "memory.swap.max"
            if swap_max.exists():
                _write(swap_max, self.swap_bytes)
            elif self.swap_bytes == 0:
                log.warning("no memory.swap.max: cannot forbid swapping in %s", p)
            # v2 has no per-group swappiness; the global vm.swappiness applies.
            peak = p / "memory.peak"
            if peak.exists():
                self._peak_fd = os.open(peak, os.O_RDWR)

    def close(self) -> None:
        """Kill every task in the group and remove it (idempotent)."""
        if self._token is not None:
            token, self._token = self._token, None
            registry.run(token)

    def _destroy(self) -> None:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        if self.path is not None:
            destroy_cgroup_dir(self.path)

    # operations

    @property
    def name(self) -> str:
        """The group's directory name (``rbsim-<pid>-<hex>``)."""
        return self._need().name

    @property
    def procs_file(self) -> Path:
        """The file a pid is written to in order to join the group."""
        return self._need() / "cgroup.procs"

    def _need(self) -> Path:
        if self.path is None:
            raise CgroupError("cgroup not created (use it as a context manager)")
        return self.path

    def add_pid(self, pid: int) -> None:
        """Move a process (all its threads) into the group."""
        _write(self.procs_file, int(pid))

    def pids(self) -> list[int]:
        """Processes (thread-group ids) currently in the group."""
        try:
            return sorted(int(x) for x in (self._need() / "cgroup.procs").read_text().split())
        except FileNotFoundError:
            return []

    def kill_all(self) -> list[int]:
        """SIGKILL every process in the group now (the group stays); returns the pids signalled."""
        sent = []
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
                sent.append(pid)
            except ProcessLookupError:
                pass
        return sent

    def reset_max_usage(self) -> None:
        """Restart the high-water mark at the current usage."""
        p = self._need()
        if self.version == "v1":
            _write(p / "memory.max_usage_in_bytes", 0)
        elif self._peak_fd is not None:  # Linux >= 6.12: per-fd reset of memory.peak
            try:
                os.lseek(self._peak_fd, 0, os.SEEK_SET)
                os.write(self._peak_fd, b"reset")
            except OSError as exc:
                log.warning("memory.peak cannot be reset on this kernel: %r", exc)

    def stats(self) -> CgroupStats:
        """Read the memory counters now."""
        p = self._need()
        if self.version == "v1":
            st = _read_kv(p / "memory.stat")
            oom = _read_kv(p / "memory.oom_control")
            limit = _read_int(p / "memory.limit_in_bytes")
            memsw_limit = _read_int(p / "memory.memsw.limit_in_bytes", limit)
            return CgroupStats(
                usage_bytes=_read_int(p / "memory.usage_in_bytes"),
                max_usage_bytes=_read_int(p / "memory.max_usage_in_bytes"),
                anon_bytes=st.get("total_rss", st.get("rss", 0)),
                page_cache_bytes=st.get("total_cache", st.get("cache", 0)),
                swap_cache_bytes=st.get("total_swapcached", st.get("swapcached", 0)),
                swap_bytes=st.get("total_swap", st.get("swap", 0)),
                major_faults=st.get("total_pgmajfault", st.get("pgmajfault", 0)),
                oom_kills=oom.get("oom_kill", 0),
                failcnt=_read_int(p / "memory.failcnt") + _read_int(p / "memory.memsw.failcnt"),
                limit_bytes=limit,
                swap_limit_bytes=max(0, memsw_limit - limit),
            )
        st = _read_kv(p / "memory.stat")
        ev = _read_kv(p / "memory.events")
        if self._peak_fd is not None:
            os.lseek(self._peak_fd, 0, os.SEEK_SET)
            peak = int(os.read(self._peak_fd, 64).decode().strip() or 0)
        else:
            peak = 0
        return CgroupStats(
            usage_bytes=_read_int(p / "memory.current"),
            max_usage_bytes=peak,
            anon_bytes=st.get("anon", 0),
            page_cache_bytes=st.get("file", 0),
            swap_cache_bytes=st.get("swapcached", 0),
            swap_bytes=_read_int(p / "memory.swap.current"),
            major_faults=st.get("pgmajfault", 0),
            oom_kills=ev.get("oom_kill", 0),
            failcnt=ev.get("max", 0),
            limit_bytes=_read_int(p / "memory.max"),
            swap_limit_bytes=_read_int(p / "memory.swap.max"),
        )

    def __repr__(self) -> str:
        return (
            f"MemoryCgroup(path={self.path}, version={self.version}, limit={self.limit_bytes}, "
            f"swap={self.swap_bytes}, swappiness={self.swappiness})"
        )
