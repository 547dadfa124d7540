"""Remove what killed harness runs left behind: cgroups and their tasks, swap files, data dirs, containers,
half-built root filesystems, stray load workers and half-written records.

A run registers its own cleanups (:mod:`sim.harness.cleanup`); SIGKILL skips them, so every run starts by
sweeping: an ``rbsim-*`` artefact is stale when the pid embedded in its name is no longer alive. This module
sits above the resource modules (cgroup, swap, podman), which themselves only need the registry.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sim.harness import cgroup as cg
from sim.harness import podman as pm
from sim.harness import swap as sw
from sim.harness.cleanup import NAME_PREFIX, TMP_RECORD, owner_pid, pid_alive, stray_workers

log = logging.getLogger(__name__)


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
    report = SweepReport()
    for name in pm.rbsim_containers():
        if not _stale(name, include_live):
            continue
        try:
            pm.remove_container(name)
            report.containers.append(name)
        except pm.PodmanError as exc:
            log.warning("could not remove stale container %s: %r", name, exc)
    report.cgroups += pm.remove_empty_parents()
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
            m = TMP_RECORD.match(path.name)
            if m and (include_live or not pid_alive(int(m["pid"]))):
                path.unlink(missing_ok=True)
                report.tmp_records.append(str(path))
    return report
