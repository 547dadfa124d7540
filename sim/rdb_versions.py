"""Which RDB format version an engine release writes, and whether another release can load it.

The table is ``sim/data/rdb_versions.csv`` (one row per first release of a format, with the URL of the
engine's own ``rdb.h`` at that tag). Rules: Redis loads every version up to its own and only files with the
``REDIS`` magic; Valkey loads up to 11 and, from 9.0, its own 80 (``VALKEY`` magic), and refuses the
"foreign" range 12-79 that Redis CE 7.4+ writes unless ``rdb-version-check relaxed`` is set.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

VALKEY_FOREIGN = range(12, 80)
"""Valkey's RDB_FOREIGN_VERSION_MIN 12 .. MAX 79 (valkey src/rdb.h, 9.0.0)."""
VALKEY_NATIVE_MIN = 80


@dataclass(frozen=True)
class FormatRow:
    """From ``from_version`` on (until the next row), ``engine`` writes RDB ``rdb_version``."""

    engine: str
    from_version: tuple[int, int, int]
    rdb_version: int
    sources: str


def _version(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return parts[0], parts[1], parts[2]


@cache
def format_table() -> tuple[FormatRow, ...]:
    """Every row of the table, in file order."""
    text = resources.files("sim").joinpath("data", "rdb_versions.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return tuple(
        FormatRow(r["engine"], _version(r["from_version"]), int(r["rdb_version"]), r["sources"]) for r in reader
    )


def rdb_version_written(engine: str, version: tuple[int, int, int]) -> int:
    """The RDB format version ``engine`` at ``version`` writes (its RDB_VERSION); ValueError before the table starts."""
    rows = [r for r in format_table() if r.engine == engine and r.from_version <= version]
    if not rows:
        raise ValueError(
            f"no RDB format known for {engine} {'.'.join(map(str, version))} (the table starts at "
            f"{min(r.from_version for r in format_table() if r.engine == engine)})"
        )
    return max(rows, key=lambda r: r.from_version).rdb_version


def load_refusal(rdb_version: int, engine: str, version: tuple[int, int, int]) -> str | None:
    """None if ``engine`` at ``version`` loads an RDB of ``rdb_version``, else why not (one sentence)."""
    own = rdb_version_written(engine, version)
    name = f"{engine} {'.'.join(map(str, version))}"
    if engine == "redis":
        if rdb_version >= VALKEY_NATIVE_MIN:
            return f"{name} cannot load an RDB written by Valkey 9.0+ (format {rdb_version}, VALKEY magic)"
        if rdb_version > own:
            return (
                f"{name} reads RDB formats up to {own}; this backup is format {rdb_version} (written by a newer engine)"
            )
        return None
    if rdb_version in VALKEY_FOREIGN:
        return (
            f"{name} refuses RDB format {rdb_version} (Redis 7.4+, Valkey's foreign range 12-79) unless "
            "rdb-version-check is relaxed"
        )
    if rdb_version > own:
        return f"{name} reads RDB formats up to {own}; this backup is format {rdb_version}"
    return None
