"""The typed, frozen records a run produces, and their one JSON form.

A :class:`Summary` is what ``rbsim run --json`` prints for one scenario: its fields ARE the JSON keys,
in the order of README.md's *Results* list (``tests/test_readme_fields.py`` pins the two together).
Each layer of the pipeline adds its own small record instead of writing into a dict: the engine
(:func:`sim.result.summarize`) builds a node's summary once, a cluster adds :class:`ClusterTotals` and
its shards' summaries, the managed-service rules a :class:`Managed` record, a ``restore:`` block a
:class:`RestoreSummary` (:func:`sim.run.finish` derives the run's record with ``dataclasses.replace``).

:func:`plain` turns any record (or list, dict, number) into JSON-ready Python values and :func:`to_json`
into text: every JSON file and ``--json`` output of rbsim is written by :func:`to_json`.

Adding a summary field is a one-place change: add it to :class:`Summary` below (typed, with a comment,
in the README's order), give its value where :func:`sim.result.summarize` builds the record, and name
it in README.md's Results list.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

FLATTEN = {"json": "flatten"}
"""Field metadata: a sub-record whose fields are top-level keys (left out while it is None)."""
OMIT_NONE = {"json": "omit"}
"""Field metadata: a key left out of the JSON while the field is None (e.g. a cluster's keys on one node)."""


class Record:
    """Base of the result records: read a field by its JSON key (``summary["outcome"]``), as scripts,
    the notebook and the README's examples do; code in the package reads attributes."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        for name, kind in _layout(type(self)):
            if kind == "flatten":
                inner = getattr(self, name)
                if inner is not None and any(key == n for n, _ in _layout(type(inner))):
                    return inner[key]
            elif name == key and not (kind == "omit" and getattr(self, name) is None):
                return getattr(self, name)
        raise KeyError(key)


class Event(NamedTuple):
    """A moment of the run the timeline marks (``fork``, ``save done``, ``OOM kills the child``...)."""

    time_s: float
    what: str


@dataclass(frozen=True, slots=True)
class Managed(Record):
    """What ElastiCache's managed-backup rules add to a run (:mod:`sim.elasticache.managed`, `.costs`)."""

    operations_blocked_s: float | None  # ElastiCache refuses other API/CLI operations meanwhile: the backup's duration
    backups_kept: int  # days of retention, times the backups a day for manual ones
    backup_storage_usd_month: float  # storage beyond the one free backup, at $0.085/GB-month


@dataclass(frozen=True, slots=True)
class ClusterTotals(Record):
    """A cluster's totals over its shards (the JSON key ``cluster``)."""

    shards: int
    outcome: str  # the worst shard's
    shards_failing: int  # shards whose outcome is not ok
    used_memory_bytes: int
    writes_per_sec: float


@dataclass(frozen=True, slots=True)
class RestoreShard(Record):
    """One shard of the restore target: the share of the backup it loads and how (:mod:`sim.restore`)."""

    keys: int
    used_memory_bytes: int
    rss_bytes: float
    rdb_bytes: int
    load_s: float
    peak_memory_bytes: float
    fits: bool
    replica_sync_s: float | None  # None without replicas
    sync_peak_memory_bytes: float | None
    sync_buffer_bytes: float | None
    slots: int


@dataclass(frozen=True, slots=True)
class RestoreSummary(Record):
    """The ``restore_*`` figures of a scenario with a ``restore:`` block (:func:`sim.restore.restore_fields`)."""

    restore_outcome: str  # one of sim.restore.RESTORE_OUTCOMES
    restore_fits: bool  # the data fits the target's maxmemory and the load fits the node
    restore_load_s: float  # the largest shard's time answering -LOADING
    restore_peak_memory_bytes: float  # RSS at the end of the load
    replica_sync_s: float | None  # one replica's full sync; None without replicas
    restore_ready_s: float  # load + sync
    restore_used_memory_bytes: int
    restore_maxmemory_bytes: int
    restore_node_memory_bytes: int
    restore_node_type: str | None
    restore_engine: str
    restore_rdb_version: int
    restore_shards: tuple[RestoreShard, ...]
    restore_sync_peak_memory_bytes: float | None
    restore_sync_buffer_bytes: float | None
    restore_output_buffer_limit_bytes: int
    restore_costs_calibrated: bool
    restore_messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Summary(Record):
    """One simulated backup (a node's, or a cluster's worst shard's with the cluster's totals), field by
    field as README.md's Results list describes it. Sizes in bytes, times in seconds, latencies in ms."""

    scenario: str  # the scenario's name (a shard's: NAME/shard-N)
    outcome: str  # ok, overloaded, paging, failed, oom (sim.outcomes.OUTCOMES)
    failure: str | None  # why the save failed, in words
    oom_victim: str | None  # parent or child
    oom_consequence: str | None  # what the kill costs, in words
    oom_assumption: str | None  # the kernel rule and figures behind the victim
    method: str  # fork or forkless
    engine_build: str
    backup_source: str  # primary or replica
    backup_completed: bool  # a cluster's: every shard's
    fork_stall_s: float
    save_duration_s: float | None  # None when the save did not finish
    backup_duration_s: float | None  # stall + save; a cluster's: the longest shard's
    cow_peak_bytes: float
    peak_memory_bytes: float  # parent RSS + copies + the child's page tables: memory that cannot be dropped
    peak_container_usage_bytes: float  # plus page cache of the RDB file, as a cgroup counts it
    memory_limit_bytes: int
    maxmemory_bytes: int
    reserved_memory_bytes: int
    swap_limit_bytes: int
    swap_peak_bytes: float
    headroom_bytes: float  # memory limit - peak memory
    data_growth_to_maxmemory: float  # maxmemory / used_memory
    max_latency_ms: float  # the longest modelled wait, >= every percentile; a cluster's: any shard's
    p50_latency_ms: float  # p50..p99.9 during the backup (nan: no request met it)
    p99_latency_ms: float
    p999_latency_ms: float
    p50_latency_before_ms: float
    p99_latency_before_ms: float
    baseline_latency_ms: float  # M/M/1 mean before the backup
    writes_delayed: float  # writes a forkless save held back
    min_served_writes_per_sec: float | None  # lowest served write rate during the save; None without one
    requests_deferred: float  # requests clients could not send while every connection waited
    offered_load_per_sec: float
    throughput_ceiling_per_sec: float
    throughput_ceiling_source: str
    overloaded: bool  # offered load above the ceiling; a cluster's: any shard's
    replica_lag_s: float
    rdb_bytes: int  # a cluster's: all shards'
    used_memory_bytes: int
    rss_bytes: int
    keys: int
    value_size_bytes: int
    writes_per_sec: float
    platform: str
    platform_calibrated: bool
    unvalidated: tuple[str, ...]  # figures no real run has checked
    warnings: tuple[str, ...]
    managed: Managed | None = field(default=None, metadata=FLATTEN)  # a run's, not a shard's
    worst_shard: str | None = field(default=None, metadata=OMIT_NONE)  # clusters only
    cluster: ClusterTotals | None = field(default=None, metadata=OMIT_NONE)
    shards: tuple[Summary, ...] | None = field(default=None, metadata=OMIT_NONE)  # every shard's own summary
    restore: RestoreSummary | None = field(default=None, metadata=FLATTEN)  # with a restore: block


_LAYOUTS: dict[type, tuple[tuple[str, str], ...]] = {}


def _layout(kind: type) -> tuple[tuple[str, str], ...]:
    """(field name, how it goes into JSON: "" as a key, "omit" left out while None, "flatten") per field."""
    layout = _LAYOUTS.get(kind)
    if layout is None:
        layout = _LAYOUTS[kind] = tuple((f.name, f.metadata.get("json", "")) for f in fields(kind))
    return layout


def as_dict(record: Record) -> dict[str, Any]:
    """A record's JSON keys and raw values (nested records as dicts, tuples as lists, nan kept): the
    form sweeps and the planner receive from worker processes."""
    out: dict[str, Any] = {}
    for name, kind in _layout(type(record)):
        value = getattr(record, name)
        if kind and value is None:
            continue
        if kind == "flatten":
            out.update(as_dict(value))
        else:
            out[name] = _raw(value)
    return out


def _raw(value: Any) -> Any:
    if isinstance(value, Record):
        return as_dict(value)
    if isinstance(value, tuple):
        return [_raw(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """JSON-ready Python values: records as dicts, non-finite floats as None (standard JSON has no
    NaN), numpy scalars as Python numbers."""
    if isinstance(value, Record):
        value = as_dict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # a numpy scalar
        return plain(value.item())
    return value


def to_json(value: Any, indent: int | None = 2) -> str:
    """The JSON text of a result, a list of them or any mapping holding them: the one JSON writer of rbsim
    (``indent=None``: on one line, as a table cell)."""
    return json.dumps(plain(value), indent=indent)
