"""Writing results into files: the target checked before any simulation, unique names, atomic files.

A bad ``--out`` (an existing file, a folder that cannot be made, a name the file system refuses) is
found before hours of simulation, not after. Files are written to a temporary name and renamed, so a
reader (or a concurrent run writing the same name) never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .inputs import InputError, cut

MAX_STEM_CHARS = 100
"""Longest file-name stem taken from a scenario name (file systems allow 255 bytes per name)."""


class OutputError(InputError):
    """An output path that cannot be written; ``str()`` names the option, the path and why."""


def _path(out: str | os.PathLike) -> str:
    """A path for a message, quoted, cut if absurdly long."""
    return repr(cut(str(out), 160))


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_out_dir(out: str | os.PathLike, option: str = "--out") -> Path:
    """Make the folder ``out`` (and parents) and check a file can be created in it."""
    path = Path(out)
    if os.path.lexists(path) and not os.path.isdir(path):  # os.path: no OSError for over-long names
        raise OutputError(f"{option} {_path(out)}: exists and is not a folder; name a folder for the results")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".rbsim-check-"):
            pass
    except OSError as exc:
        raise OutputError(f"{option} {_path(out)}: cannot write there: {_why(exc)}") from None
    return path


def check_out_file(out: str | os.PathLike, option: str = "--out") -> Path:
    """Check the file ``out`` can be written (its folder made, the name accepted) before the work starts."""
    path = Path(out)
    if os.path.isdir(path):
        raise OutputError(f"{option} {_path(out)}: is a folder; name a file")
    try:
        folder = check_out_dir(path.parent, option)
    except OutputError as exc:
        raise OutputError(str(exc).replace(_path(path.parent), _path(out), 1)) from None
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    if len(os.fsencode(path.name)) > longest:
        raise OutputError(f"{option} {_path(out)}: the file name is longer than {longest} bytes")
    return path


def safe_stem(name: str) -> str:
    """A file-name stem from a scenario name: letters, digits and ``-_.``, at most :data:`MAX_STEM_CHARS`."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:MAX_STEM_CHARS].lstrip(".")
    return stem or "scenario"


def unique_stems(names: list[str]) -> list[str]:
    """One stem per name; a stem already taken gets ``-2``, ``-3``... so no run overwrites another's files."""
    taken: set[str] = set()
    out = []
    for name in names:
        stem, n = safe_stem(name), 1
        while (stem if n == 1 else f"{stem}-{n}").lower() in taken:
            n += 1
        stem = stem if n == 1 else f"{stem}-{n}"
        taken.add(stem.lower())
        out.append(stem)
    return out


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path`` (same extension), then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:MAX_STEM_CHARS]}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
