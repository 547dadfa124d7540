"""The result of one simulated backup: a flat summary and a timeline DataFrame."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from .physics import latency

if TYPE_CHECKING:
    from .engine import BackupSimulation

OUTCOMES = ("ok", "paging", "oom")
"""ok: demand stayed within node memory; paging: it spilled to swap; oom: the kernel killed a process."""


@dataclass
class Result:
    """Summary figures (JSON-ready) and the per-step timeline of one run."""

    summary: dict
    timeline: pd.DataFrame
    events: list[tuple[float, str]] = field(default_factory=list)

    def __getitem__(self, key: str):
        return self.summary[key]

    def to_json(self) -> str:
        return json.dumps(self.summary, indent=2, default=_jsonable)


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def summarize(run: "BackupSimulation") -> Result:
    """Turn a finished :class:`BackupSimulation` into a :class:`Result`."""
    p = run.p
    timeline = pd.DataFrame(run.rows)
    budget = p.budget
    peak_demand = float(timeline["demand_bytes"].max())
    swap_peak = float(timeline["swap_bytes"].max())
    if run.oom_victim:
        outcome = "oom"
    elif swap_peak > 0:
        outcome = "paging"
    else:
        outcome = "ok"
    rho = sum(p.load.at(p.fork_time_of_day)) * p.service_s  # the primary's clients
    base_ms = 1000 * latency.mm1_mean_sojourn(p.service_s, rho)
    stall_affects_clients = p.scenario.backup.source == "primary"
    max_latency_ms = base_ms + (1000 * run.max_wait_s if stall_affects_clients else 0.0)
    completed = run.save_ended_at is not None
    save_duration = run.save_ended_at - run.fork_started_at - p.fork_stall_s if completed else None
    summary = {
        "scenario": p.scenario.name,
        "outcome": outcome,
        "method": p.method,
        "backup_source": p.scenario.backup.source,
        "backup_completed": completed,
        "oom_victim": run.oom_victim,
        "fork_stall_s": p.fork_stall_s,
        "save_duration_s": save_duration,
        "backup_duration_s": (p.fork_stall_s + save_duration) if completed else None,
        "cow_peak_bytes": float(timeline["cow_bytes"].max()),
        "peak_memory_bytes": peak_demand,
        "peak_container_usage_bytes": float(timeline["container_usage_bytes"].max()),
        "memory_limit_bytes": budget.node_memory,
        "maxmemory_bytes": budget.maxmemory,
        "reserved_memory_bytes": budget.reserved,
        "swap_limit_bytes": budget.swap,
        "swap_peak_bytes": swap_peak,
        "headroom_bytes": budget.node_memory - peak_demand,
        "max_latency_ms": max_latency_ms,
        "baseline_latency_ms": base_ms,
        "replica_lag_s": run.max_wait_s if p.scenario.backup.source == "replica" else 0.0,
        "rdb_bytes": p.rdb_bytes,
        "used_memory_bytes": p.used_memory,
        "rss_bytes": p.rss,
        "keys": p.keys,
        "value_size_bytes": p.value_size,
        "writes_per_sec": p.writes_per_sec,
        "platform": p.platform.name,
        "platform_calibrated": p.platform.calibration is not None,
        "warnings": list(p.warnings),
    }
    return Result(summary=summary, timeline=timeline, events=run.events)
