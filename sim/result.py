"""The result of one simulated backup: a flat summary and a timeline DataFrame."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .flavor import ELASTICACHE
from .physics import latency, oom
from .physics.budget import MIN_DATA_GROWTH
from .physics.forkless import SLICE_S

if TYPE_CHECKING:
    from .engine import BackupSimulation

OUTCOMES = ("ok", "overloaded", "paging", "failed", "oom")
"""In rising severity. ok: demand stayed within node memory and the node served its load; overloaded:
memory was fine but the offered requests exceed what one node serves (clients queue, see
``throughput_ceiling_per_sec``); paging: demand spilled to swap; failed: the backup failed but the
server lives (output buffer overflow); oom: the kernel killed a process."""
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
    offered = _offered_per_sec(p, timeline)
    overloaded = offered > p.throughput_ceiling
    if outcome == "ok" and overloaded:
        outcome = "overloaded"
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
        "max_latency_ms": max(base_ms + (1000 * run.max_wait_s if on_primary else 0.0),
                              _worst_request_ms(run, timeline) if on_primary else base_ms,
                              *[x for x in before + during if math.isfinite(x)]),
        "p50_latency_ms": during[0],
        "p99_latency_ms": during[1],
        "p999_latency_ms": during[2],
        "p50_latency_before_ms": before[0],
        "p99_latency_before_ms": before[1],
        "baseline_latency_ms": base_ms,
        "writes_delayed": float(timeline["delayed_writes"].iloc[-1]),
        "min_served_writes_per_sec": _min_served(timeline),
        "offered_load_per_sec": offered,
        "throughput_ceiling_per_sec": p.throughput_ceiling,
        "throughput_ceiling_source": p.ceiling_source,
        "overloaded": overloaded,
        "data_growth_to_maxmemory": budget.maxmemory / p.used_memory,
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
        "oom_consequence": _oom_consequence(run),
        "oom_assumption": _oom_assumption(run),
        "engine_build": p.scenario.build,
        "unvalidated": list(p.unvalidated),
        "warnings": list(p.warnings) + _load_warnings(p, offered, overloaded),
    }
    return Result(summary=summary, timeline=timeline, events=run.events)


def _min_served(timeline: pd.DataFrame) -> float | None:
    """Fewest writes/s served during the save (None when the run never reached the save)."""
    during = timeline[timeline["phase"] == "save"]
    return float(during["served_writes_per_sec"].min()) if len(during) else None


def _offered_per_sec(p, timeline: pd.DataFrame) -> float:
    """Highest request rate (writes + reads) the primary receives during the simulated span."""
    start = p.fork_time_of_day - p.scenario.simulation.before
    return max(sum(p.load.at(start + t)) for t in timeline["time_s"].to_numpy())


def _load_warnings(p, offered: float, overloaded: bool) -> list[str]:
    """Say when the offered load exceeds one node's ceiling, and when the data nearly fills maxmemory."""
    out = []
    if overloaded:
        out.append(f"offered load {offered:,.0f} requests/s exceeds the ~{p.throughput_ceiling:,.0f}/s one node serves "
                   f"({p.ceiling_source}): requests queue up to workload.clients ({p.scenario.workload.clients}) and "
                   "latency is clients x service time; shard the load (cluster) or add read replicas")
    growth = p.budget.maxmemory / p.used_memory
    if 1.0 <= growth < MIN_DATA_GROWTH:
        out.append(f"used_memory is {1 / growth:.0%} of maxmemory: the data can grow only x{growth:.2f} before Redis "
                   f"evicts or refuses writes (rbsim's minimum is x{MIN_DATA_GROWTH:g})")
    return out


def _oom_consequence(run: "BackupSimulation") -> str | None:
    """What the OOM kill costs, in words (None without one)."""
    if run.oom_victim is None:
        return None
    return oom.consequence(run.oom_victim, run.p.scenario.backup.source, run.p.scenario.build == ELASTICACHE)


def _oom_assumption(run: "BackupSimulation") -> str | None:
    """The kernel rule and figures behind the victim (None without an OOM kill)."""
    if run.oom_victim is None:
        return None
    container = run.p.scenario.node.type is None
    if run.oom_choice is None:
        return "no save child was alive: the server was the only candidate"
    return oom.assumption(run.oom_choice, run.p.scenario.node.oom_score_adj, container)


def _worst_request_ms(run: "BackupSimulation", timeline: pd.DataFrame) -> float:
    """The longest a request waits in the model: the fluid wait of its moment plus its own service and the
    stalls only some requests meet (a forkless slice or an expedited key save, a copy-on-write fault of every
    page of its key, a major fault of every page of its key)."""
    p = run.p
    extra = (np.where(timeline["snapshot_share"] > 0, SLICE_S, 0.0)
             + np.where(timeline["delayed_share"] > 0, p.save_s / p.keys, 0.0)
             + np.where(timeline["swap_bytes"] > 0, p.pages_per_key * p.platform.paging.fault_us / 1e6, 0.0))
    if p.method == "fork":
        forking = timeline["phase"].isin(["fork", "save"]) & (timeline["cow_bytes"] > 0)
        extra = extra + np.where(forking, p.pages_per_key * p.cow_fault_s, 0.0)
    return float((timeline["latency_ms"] + 1000 * extra).max())


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
    if before_mask.any():
        before = _quantiles(timeline, before_mask, 0.0)
    else:  # no steady state simulated: the M/M/1 figures of the load at the fork
        rho = sum(p.load.at(p.fork_time_of_day)) * p.service_s
        cap = p.scenario.workload.clients * p.service_s
        before = [1000 * min(latency.mm1_sojourn_quantile(p.service_s, rho, q), cap) for q in QUANTILES]
    during = _quantiles(timeline, during_mask, key_delay) if during_mask.any() else before
    return before, during


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
    if (arrivals * dt * mask).sum() <= 0:  # no requests: what a probe (a ping) sent then would wait
        arrivals = np.ones_like(arrivals)
        dt = dt if (dt * mask).sum() > 0 else np.ones_like(dt)
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
    return [1000 * x for x in latency.mixture_quantiles(weights, shifts, rates, QUANTILES)]
