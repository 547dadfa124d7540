"""The harness record: one JSON file per real run of a scenario (schema ``rbsim-harness-record/1``).

Top-level blocks: ``schema, id, created, label, scenario_file, scenario_yaml, scenario, machine, server,
config, fill, load, measured, timeline, pings, log_tail`` (see README of reports/validation and
:data:`REQUIRED`). Files are written atomically (a temp file in the same folder, then ``os.replace``) so a
reader never sees half a record; :func:`load_records` reads a folder of them back.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

SCHEMA = "rbsim-harness-record/1"
MAX_PINGS = 5000

REQUIRED: dict[str, tuple[str, ...]] = {
    "": ("schema", "id", "created", "label", "scenario_file", "scenario_yaml", "scenario", "machine", "server",
         "config", "fill", "load", "measured", "timeline", "pings", "log_tail"),
    "machine": ("kernel", "cpus", "mem_total", "thp", "overcommit", "loadavg_before", "loadavg_after"),
    "server": ("binary", "flavor", "version", "allocator"),
    "config": ("limit_bytes", "swap_bytes", "maxmemory", "rdb_key_save_delay", "oom_score_adj", "compression"),
    "fill": ("method", "seconds", "keys", "key_name_bytes_mean", "used_memory", "used_memory_rss"),
    "load": ("target_writes_per_sec", "served_writes_per_sec_during_save", "served_writes_per_sec_before",
             "distribution"),
    "measured": ("outcome", "oom_victim", "backup_completed", "bgsave_status", "fork_usec", "rdb_last_cow_size",
                 "save_duration_s", "rdb_bytes", "peak_container_bytes", "peak_anon_bytes", "swap_peak_bytes",
                 "major_faults_during_save", "ping_max_ms", "ping_p50_ms", "ping_p99_ms", "ping_p999_ms",
                 "ping_max_ms_before"),
}
TIMELINE_FIELDS = ("t", "in_progress", "current_cow_size", "keys_processed", "usage", "anon", "cache", "swap",
                   "pgmajfault", "set_calls")
OUTCOMES = ("ok", "paging", "oom", "failed", "timeout")


class RecordError(ValueError):
    """A file that is not a valid harness record; the message names the file and what is wrong."""


def new_id(name: str, when: datetime | None = None) -> str:
    """A record id: ``<scenario name>-<UTC yyyymmddThhmmss>-<6 hex>`` (safe as a file name)."""
    when = when or datetime.now(timezone.utc)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "scenario"
    return f"{safe}-{when.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def now_iso() -> str:
    """UTC now, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def thin_pings(pings: list[list[float]], max_points: int = MAX_PINGS) -> list[list[float]]:
    """At most ``max_points`` pings: the series cut into that many runs, keeping each run's slowest ping."""
    if len(pings) <= max_points:
        return [list(p) for p in pings]
    out = []
    n = len(pings)
    for k in range(max_points):
        chunk = pings[k * n // max_points: (k + 1) * n // max_points]
        if chunk:
            out.append(list(max(chunk, key=lambda p: p[1])))
    return out


def missing_fields(record: dict[str, Any]) -> list[str]:
    """Dotted names of required fields the record lacks (empty when complete)."""
    missing = []
    for block, names in REQUIRED.items():
        holder = record if not block else record.get(block)
        if not isinstance(holder, dict):
            missing.append(block)
            continue
        missing += [f"{block}.{n}" if block else n for n in names if n not in holder]
    return missing


def write_record(record: dict[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write ``<out_dir>/<id>.json`` atomically; returns the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{record['id']}.json"
    fd, tmp = tempfile.mkstemp(prefix=f".{record['id']}.", suffix=".tmp", dir=out)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1, default=_json_default)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check one record file."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: cannot read a record: {exc}") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise RecordError(f"{path}: not a {SCHEMA} record (schema {record.get('schema') if isinstance(record, dict) else None!r})")
    missing = missing_fields(record)
    if missing:
        raise RecordError(f"{path}: missing fields {', '.join(missing)}")
    return record


def load_records(paths: Iterable[str | os.PathLike] | str | os.PathLike) -> list[dict[str, Any]]:
    """Records from files and/or folders (every ``*.json`` in a folder), sorted by creation time."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    records = [load_record(f) for f in files]
    return sorted(records, key=lambda r: (r["created"], r["id"]))
