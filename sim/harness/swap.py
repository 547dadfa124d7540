"""A temporary swap file (create, mkswap, swapon; swapoff and delete on exit) so a run can model a swapping host.

The file is allocated with ``fallocate`` (no holes; ext4 and xfs accept that for swap) and, if ``swapon``
rejects it, rewritten with zeros (the ``dd`` way). Size 0 makes the context manager a no-op. Swap is a
machine-wide resource, so exit it *after* the cgroup whose processes used it (their pages are then freed
rather than read back in by ``swapoff``).
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from sim.errors import RbsimError
from sim.harness.cleanup import owned_name, registry

log = logging.getLogger(__name__)

DEFAULT_SWAP_DIR = Path("/var/tmp")
PAGE = os.sysconf("SC_PAGE_SIZE")
MIN_PAGES = 10  # mkswap refuses smaller areas


class SwapError(RbsimError, RuntimeError):
    """A swap file could not be set up or taken down; the message says why."""


def active_swap_files() -> set[Path]:
    """Paths of the swap files currently active (from /proc/swaps)."""
    out: set[Path] = set()
    try:
        lines = Path("/proc/swaps").read_text().splitlines()[1:]
    except FileNotFoundError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "file":
            out.add(Path(parts[0].replace("\\040", " ").removesuffix("(deleted)")))
    return out


def _run(*cmd: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SwapError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")


def swapoff(path: str | os.PathLike) -> None:
    """Deactivate a swap file (raises SwapError if the kernel refuses, e.g. not enough RAM to take pages back)."""
    _run("swapoff", str(path))


def _zero_fill(path: Path, size: int) -> None:
    chunk = b"\0" * (1 << 20)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        left = size
        while left > 0:
            left -= os.write(fd, chunk[: min(left, len(chunk))])
        os.fsync(fd)
    finally:
        os.close(fd)


class SwapFile:
    """Context manager: an active swap file of ``size_bytes`` in ``directory``, swapped off and deleted on exit."""

    def __init__(
        self, size_bytes: int, directory: str | os.PathLike | None = None, priority: int | None = None
    ) -> None:
        if size_bytes < 0:
            raise ValueError(f"size_bytes must be >= 0, got {size_bytes}")
        pages = -(-int(size_bytes) // PAGE)
        if 0 < pages < MIN_PAGES:
            raise ValueError(f"a swap file needs at least {MIN_PAGES * PAGE} bytes, got {size_bytes}")
        self.size_bytes = pages * PAGE
        self.directory = Path(directory) if directory is not None else DEFAULT_SWAP_DIR
        self.priority = priority
        self.path: Path | None = None
        self.method: str | None = None  # "fallocate" or "zero-fill", once active
        self._token: int | None = None
        self._active = False

    def __enter__(self) -> SwapFile:
        self.create()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def create(self) -> SwapFile:
        """Allocate, format and activate the swap file (no-op for size 0 or if already active)."""
        if self.size_bytes == 0 or self.path is not None:
            return self
        if os.geteuid() != 0:
            raise SwapError(f"swap files need root (mkswap/swapon); this process runs as uid {os.geteuid()}")
        if not self.directory.is_dir():
            raise SwapError(f"swap directory {self.directory} does not exist")
        self.path = self.directory / (owned_name("swap") + ".swap")
        self._token = registry.register(self._destroy, name=f"swap {self.path}")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.posix_fallocate(fd, 0, self.size_bytes)
            finally:
                os.close(fd)
            self.method = "fallocate"
            try:
                self._activate()
            except SwapError as exc:
                log.info("swapon refused the fallocated file (%s); zero-filling it instead", exc)
                _zero_fill(self.path, self.size_bytes)
                self.method = "zero-fill"
                self._activate()
        except BaseException:
            self.close()
            raise
        return self

    def _activate(self) -> None:
        assert self.path is not None
        _run("mkswap", str(self.path))
        cmd = ["swapon"] + (["-p", str(self.priority)] if self.priority is not None else []) + [str(self.path)]
        _run(*cmd)
        self._active = True

    def close(self) -> None:
        """Swap off and delete the file (idempotent)."""
        if self._token is not None:
            token, self._token = self._token, None
            registry.run(token)

    def _destroy(self) -> None:
        if self.path is None:
            return
        if self._active or self.path in active_swap_files():
            swapoff(self.path)  # raises rather than delete a file the kernel still swaps to
            self._active = False
        self.path.unlink(missing_ok=True)

    def used_bytes(self) -> int:
        """Bytes of this swap file in use right now (from /proc/swaps)."""
        if self.path is None:
            return 0
        for line in Path("/proc/swaps").read_text().splitlines()[1:]:
            parts = line.split()
            if parts and Path(parts[0].replace("\\040", " ")) == self.path:
                return int(parts[3]) * 1024
        return 0

    def __repr__(self) -> str:
        return f"SwapFile(path={self.path}, size={self.size_bytes}, method={self.method}, active={self._active})"
