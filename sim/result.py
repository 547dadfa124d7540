"""The result of one simulated backup: a flat summary and a timeline DataFrame."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .physics import latency
from .physics.forkless import SLICE_S

if TYPE_CHECKING:
    from .engine import BackupSimulation

OUTCOMES = ("ok", "paging", "failed", "oom")
"""In rising severity. ok: demand stayed within node memory; paging: it spilled to swap; failed: the
backup failed but the server lives (output buffer overflow); oom: the kernel killed a process."""
PAGING_MIN_SWAP = 1024**2
"""Swap below 1 MiB is not called paging (the harness's threshold: the kernel swaps a few pages anyway)."""
SUB_STEPS = 6
QUANTILES = (0.5, 0.99, 0.999)


@dataclass
class Result:
    """Summary figures (JSON-ready) and the per-step timeline of one run."""

    summary: dict
    timeline: pd.DataFrame
    events: list[tuple[float, str]] = field(default_factory=list)

    def __getitem__(self, key: str):
        return self.summary[key]

    def to_json(self) -> str:
        return json.dumps(finite(self.summary), indent=2, default=_jsonable)


def finite(value):
    """The value with non-finite floats replaced by None, so the JSON stays standard."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return None
    return value


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
    elif run.failure:
        outcome = "failed"
    elif swap_peak > PAGING_MIN_SWAP:
        outcome = "paging"
    else:
        outcome = "ok"
    completed = run.save_ended_at is not None
    stall = p.fork_stall_s if p.method == "fork" else 0.0
    save_duration = run.save_ended_at - run.backup_started_at - stall if completed else None
    before, during = client_latency(run, timeline)
    primary_rho = sum(p.load.at(p.fork_time_of_day)) * p.service_s
    clients = p.scenario.workload.clients  # a saturated server makes its clients wait, not queue forever
    base_ms = 1000 * min(latency.mm1_mean_sojourn(p.service_s, primary_rho), clients * p.service_s)
    on_primary = p.scenario.backup.source == "primary"
    summary = {
        "scenario": p.scenario.name,
        "outcome": outcome,
        "method": p.method,
        "backup_source": p.scenario.backup.source,
        "backup_completed": completed,
        "failure": run.failure,
        "oom_victim": run.oom_victim,
        "fork_stall_s": stall,
        "save_duration_s": save_duration,
        "backup_duration_s": (stall + save_duration) if completed else None,
        "cow_peak_bytes": float(timeline["cow_bytes"].max()),
        "peak_memory_bytes": peak_demand,
        "peak_container_usage_bytes": float(timeline["container_usage_bytes"].max()),
        "memory_limit_bytes": budget.node_memory,
        "maxmemory_bytes": budget.maxmemory,
        "reserved_memory_bytes": budget.reserved,
        "swap_limit_bytes": budget.swap,
        "swap_peak_bytes": swap_peak,
        "headroom_bytes": budget.node_memory - peak_demand,
        "max_latency_ms": base_ms + (1000 * run.max_wait_s if on_primary else 0.0),
        "p50_latency_ms": during[0],
        "p99_latency_ms": during[1],
        "p999_latency_ms": during[2],
        "p50_latency_before_ms": before[0],
        "p99_latency_before_ms": before[1],
        "baseline_latency_ms": base_ms,
        "writes_delayed": float(timeline["delayed_writes"].iloc[-1]),
        "min_served_writes_per_sec": _min_served(timeline),
        "requests_deferred": float(timeline["deferred_requests"].iloc[-1]),
        "replica_lag_s": run.max_wait_s if not on_primary else 0.0,
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


def _min_served(timeline: pd.DataFrame) -> float:
    during = timeline[timeline["phase"] == "save"]
    return float(during["served_writes_per_sec"].min()) if len(during) else float("nan")


def client_latency(run: "BackupSimulation", timeline: pd.DataFrame) -> tuple[list[float], list[float]]:
    """p50/p99/p99.9 latency (ms) of client requests before the backup and while it runs.

    Each step's requests meet the fluid wait of that moment (interpolated within the step) plus
    M/M/1 jitter; a forkless save adds slices of main-thread time and delays writes to unsaved
    keys by the time to save them. A replica backup leaves the primary's clients at baseline.
    """
    p = run.p
    if p.scenario.backup.source != "primary":
        rho = sum(p.load.at(p.fork_time_of_day)) * p.service_s
        cap = p.scenario.workload.clients * p.service_s
        base = [1000 * min(latency.mm1_sojourn_quantile(p.service_s, rho, q), cap) for q in QUANTILES]
        return base, base
    t = timeline["time_s"].to_numpy()
    phase = timeline["phase"].to_numpy()
    start = run.backup_started_at if run.backup_started_at is not None else np.inf
    end = run.save_ended_at if run.save_ended_at is not None else t[-1]
    before_mask = t[1:] <= start
    during_mask = (t[:-1] >= start - 1e-12) & (t[1:] <= end + 1e-12) & (phase[1:] != "steady")
    key_delay = p.save_s / p.keys  # an expedited write waits for one key's share of the save
    return (_quantiles(timeline, before_mask, 0.0), _quantiles(timeline, during_mask, key_delay))


def _quantiles(tl: pd.DataFrame, mask: np.ndarray, key_delay_s: float) -> list[float]:
    if not mask.any():
        return [float("nan")] * len(QUANTILES)
    t = tl["time_s"].to_numpy()
    wait = tl["wait_ms"].to_numpy() / 1000
    service = tl["service_us"].to_numpy()[1:] / 1e6
    arrivals = tl["arrivals_per_sec"].to_numpy()[:-1]
    share = tl["snapshot_share"].to_numpy()[1:]
    delayed = tl["delayed_share"].to_numpy()[1:]
    dt = np.diff(t)
    rho = np.minimum(arrivals * service, 0.95)
    rate = (1 - rho) / service
    weights, shifts, rates = [], [], []
    for k in range(SUB_STEPS):
        frac = (k + 0.5) / SUB_STEPS
        w = wait[:-1] + frac * (wait[1:] - wait[:-1])
        base = arrivals * dt * mask / SUB_STEPS
        for weight, extra in (
            (base * (1 - share) * (1 - delayed), 0.0),
            (base * share * (1 - delayed), SLICE_S / 2),
            (base * delayed, key_delay_s),
        ):
            weights.append(weight)
            shifts.append(w + extra)
            rates.append(rate)
    weights, shifts, rates = (np.concatenate(x) for x in (weights, shifts, rates))
    if weights.sum() <= 0:
        return [float("nan")] * len(QUANTILES)
    return [1000 * x for x in latency.mixture_quantiles(weights, shifts, rates, QUANTILES)]
