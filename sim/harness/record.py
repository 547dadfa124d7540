"""The harness record: one JSON file per real run of a scenario (schema ``rbsim-harness-record/1``).

Top-level blocks: ``schema, id, created, label, scenario_file, scenario_yaml, scenario, machine, server,
config, fill, load, measured, timeline, pings, log_tail`` (see README of reports/validation and
:data:`REQUIRED`). Files are written atomically (a temp file in the same folder, then ``os.replace``) so a
reader never sees half a record; :func:`load_records` reads a folder of them back.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.inputs import MAX_RECORD_BYTES, FileReadError, InputError, read_text, shown

SCHEMA = "rbsim-harness-record/1"
MAX_PINGS = 5000

REQUIRED: dict[str, tuple[str, ...]] = {
    "": (
        "schema",
        "id",
        "created",
        "label",
        "scenario_file",
        "scenario_yaml",
        "scenario",
        "machine",
        "server",
        "config",
        "fill",
        "load",
        "measured",
        "timeline",
        "pings",
        "log_tail",
    ),
    "machine": ("kernel", "cpus", "mem_total", "thp", "overcommit", "loadavg_before", "loadavg_after"),
    "server": ("binary", "flavor", "version", "allocator"),
    "config": ("limit_bytes", "swap_bytes", "maxmemory", "rdb_key_save_delay", "oom_score_adj", "compression"),
    "fill": ("method", "seconds", "keys", "key_name_bytes_mean", "used_memory", "used_memory_rss"),
    "load": (
        "target_writes_per_sec",
        "served_writes_per_sec_during_save",
        "served_writes_per_sec_before",
        "distribution",
    ),
    "measured": (
        "outcome",
        "oom_victim",
        "backup_completed",
        "bgsave_status",
        "fork_usec",
        "rdb_last_cow_size",
        "save_duration_s",
        "rdb_bytes",
        "peak_container_bytes",
        "peak_anon_bytes",
        "swap_peak_bytes",
        "major_faults_during_save",
        "ping_max_ms",
        "ping_p50_ms",
        "ping_p99_ms",
        "ping_p999_ms",
        "ping_max_ms_before",
    ),
}
TIMELINE_FIELDS = (
    "t",
    "in_progress",
    "current_cow_size",
    "keys_processed",
    "usage",
    "anon",
    "cache",
    "swap",
    "pgmajfault",
    "set_calls",
    "write_calls",
)
OUTCOMES = ("ok", "paging", "oom", "failed", "timeout")

TEXT, NUMBER, OPT_NUMBER, FLAG, OPT_TEXT, MAPPING, LIST = (
    "text",
    "number",
    "number or null",
    "true/false",
    "text or null",
    "mapping",
    "list",
)
FIELD_TYPES: dict[str, dict[str, str]] = {
    "": {
        "schema": TEXT,
        "id": TEXT,
        "created": TEXT,
        "label": TEXT,
        "scenario_file": TEXT,
        "scenario_yaml": TEXT,
        "scenario": MAPPING,
        "timeline": LIST,
        "pings": LIST,
    },
    "machine": {"cpus": NUMBER, "mem_total": NUMBER, "loadavg_before": LIST, "loadavg_after": LIST},
    "server": {"binary": TEXT, "flavor": TEXT, "version": TEXT, "allocator": TEXT},
    "config": {
        "limit_bytes": NUMBER,
        "swap_bytes": NUMBER,
        "maxmemory": NUMBER,
        "rdb_key_save_delay": NUMBER,
        "oom_score_adj": FLAG,
        "compression": FLAG,
    },
    "fill": {
        "method": TEXT,
        "seconds": OPT_NUMBER,
        "keys": NUMBER,
        "key_name_bytes_mean": NUMBER,
        "used_memory": NUMBER,
        "used_memory_rss": NUMBER,
    },
    "load": {
        "target_writes_per_sec": NUMBER,
        "served_writes_per_sec_during_save": OPT_NUMBER,
        "served_writes_per_sec_before": OPT_NUMBER,
        "distribution": MAPPING,
    },
    "measured": {
        "outcome": TEXT,
        "oom_victim": OPT_TEXT,
        "backup_completed": FLAG,
        "bgsave_status": OPT_TEXT,
        **{name: OPT_NUMBER for name in REQUIRED["measured"][4:]},
    },
}
"""The type of every field validate and calibrate read (numbers are finite and, but for :data:`SIGNED`, not
negative)."""
SIGNED = {"rdb_key_save_delay"}
LIMITS = (
    ("fork_usec", 3.6e9),
    ("_ms", 3.6e6),
    ("_s", 86400.0),
    ("seconds", 86400.0),
    ("per_sec", 1e8),
    ("rdb_key_save_delay", 1e6),
    ("", 2.0**50),
)
"""Largest plausible value by field-name ending (an hour's fork or ping, a day's save, 1 PiB, 100M writes/s):
a record past them is corrupt, and fitting it would stretch simulations without end."""
"""Redis's rdb-key-save-delay may be negative (sleep 1 µs with probability 1/N)."""


class RecordError(InputError):
    """A file that is not a valid harness record; the message names the file and what is wrong."""


def new_id(name: str, when: datetime | None = None) -> str:
    """A record id: ``<scenario name>-<UTC yyyymmddThhmmss>-<6 hex>`` (safe as a file name)."""
    when = when or datetime.now(UTC)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "scenario"
    return f"{safe}-{when.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def now_iso() -> str:
    """UTC now, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _latency(ping: Sequence[float]) -> float:
    """A ping's round-trip time (a ping is [seconds since the fork, milliseconds])."""
    return ping[1]


def thin_pings(pings: Sequence[Sequence[float]], max_points: int = MAX_PINGS) -> list[list[float]]:
    """At most ``max_points`` pings: the series cut into that many runs, keeping each run's slowest ping."""
    if len(pings) <= max_points:
        return [list(p) for p in pings]
    out = []
    n = len(pings)
    for k in range(max_points):
        chunk = pings[k * n // max_points : (k + 1) * n // max_points]
        if chunk:
            slowest = max(chunk, key=_latency)
            out.append(list(slowest))
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
    fd, tmp = tempfile.mkstemp(
        prefix=f".{record['id']}.pid{os.getpid()}.", suffix=".tmp", dir=out
    )  # pid: see sweep_leftovers
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
        record = json.loads(read_text(path, limit=MAX_RECORD_BYTES))
    except FileReadError as exc:
        raise RecordError(str(exc)) from None
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise RecordError(
            f"{path}{f':{line}' if line else ''}: not a JSON record: {getattr(exc, 'msg', exc)}"
        ) from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        schema = record.get("schema") if isinstance(record, dict) else None
        raise RecordError(f"{path}: not a {SCHEMA} record (schema {shown(schema)})")
    missing = missing_fields(record)
    if missing:
        raise RecordError(f"{path}: missing fields {', '.join(missing)}")
    problems = type_problems(record)
    if problems:
        raise RecordError(f"{path}: {'; '.join(problems[:3])}")
    _check_scenario(record, path)
    return record


def type_problems(record: dict[str, Any]) -> list[str]:
    """``field: expected TYPE, got VALUE`` for every field of :data:`FIELD_TYPES` with a wrong type."""
    problems = []
    for block, fields in FIELD_TYPES.items():
        holder = record if not block else record[block]
        for name, kind in fields.items():
            value = holder.get(name)
            where = f"{block + '.' if block else ''}{name}"
            if not _is(value, kind, signed=name in SIGNED):
                problems.append(f"{where}: expected {kind}, got {shown(value)}")
            elif kind in (NUMBER, OPT_NUMBER) and value is not None:
                limit = next(top for end, top in LIMITS if name.endswith(end))
                if abs(value) > limit:
                    problems.append(f"{where}: {shown(value)} is beyond any real run (at most {limit:.3g})")
    outcome = record["measured"].get("outcome")
    if isinstance(outcome, str) and outcome not in OUTCOMES:
        problems.append(f"measured.outcome: expected one of {', '.join(OUTCOMES)}, got {shown(outcome)}")
    for i, row in enumerate(record["timeline"] if isinstance(record["timeline"], list) else []):
        bad = (
            [f for f in TIMELINE_FIELDS if not _is(row.get(f), OPT_NUMBER, signed=True)]
            if isinstance(row, dict)
            else ["row"]
        )
        if bad:
            problems.append(
                f"timeline[{i}].{bad[0]}: expected number or null, got "
                f"{shown(row.get(bad[0]) if isinstance(row, dict) else row)}"
            )
            break
    for i, ping in enumerate(record["pings"] if isinstance(record["pings"], list) else []):
        if not (isinstance(ping, list) and len(ping) == 2 and all(_is(v, NUMBER, signed=True) for v in ping)):
            problems.append(f"pings[{i}]: expected [time, ms], got {shown(ping)}")
            break
    return problems


def _is(value: Any, kind: str, signed: bool = False) -> bool:
    if kind in (OPT_NUMBER, OPT_TEXT) and value is None:
        return True
    if kind in (NUMBER, OPT_NUMBER):
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (signed or value >= 0)
        )
    return isinstance(value, {TEXT: str, OPT_TEXT: str, FLAG: bool, MAPPING: dict, LIST: list}[kind])


def _check_scenario(record: dict[str, Any], path: Path) -> None:
    """The record's scenario_yaml must be a valid scenario (validate and calibrate simulate it)."""
    from sim.scenario import ScenarioError, parse_scenario

    try:
        parse_scenario(record["scenario_yaml"], source=f"{path} (scenario_yaml)")
    except ScenarioError as exc:
        raise RecordError(str(exc).splitlines()[0]) from None


def load_records(paths: Iterable[str | os.PathLike] | str | os.PathLike) -> list[dict[str, Any]]:
    """Records from files and/or folders (every ``*.json`` in a folder), sorted by creation time."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    records = [load_record(f) for f in files]
    return sorted(records, key=lambda r: (r["created"], r["id"]))
