"""The result of one simulated backup: its Summary record (sim.summary), events and timeline DataFrame."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .dayload import DAY
from .elasticache.flavor import ELASTICACHE
from .physics import latency, oom
from .physics.budget import MIN_DATA_GROWTH
from .physics.forkless import SLICE_S
from .summary import Event, Summary

if TYPE_CHECKING:
    import pandas as pd

    from .engine import Memory, NodeState
    from .physics.budget import MemoryBudget
    from .prepare import Prepared

PAGING_MIN_SWAP = 1024**2
"""Swap below 1 MiB is not called paging (the harness's threshold: the kernel swaps a few pages anyway)."""
SUB_STEPS = 6
QUANTILES = (0.5, 0.99, 0.999)


class Result:
    """The run's :class:`~sim.summary.Summary`, its events and its timeline (a DataFrame built on first use)."""

    def __init__(
        self,
        summary: Summary,
        timeline: pd.DataFrame | None = None,
        events: list[Event] | None = None,
        columns: dict | None = None,
    ):
        self.summary = summary
        self.events = events if events is not None else []
        self._timeline = timeline
        self._columns = columns

    def __getitem__(self, key: str) -> Any:
        """A summary field by its JSON key: ``result["outcome"]``."""
        return self.summary[key]

    @property
    def timeline(self) -> pd.DataFrame:
        """One row per step; only runs simulated with ``timeline=True`` have one."""
        if self._timeline is None:
            if self._columns is None:
                raise ValueError(f"{self.summary.scenario}: simulated without a timeline (timeline=False)")
            import pandas as pd

            self._timeline = pd.DataFrame(self._columns)
        return self._timeline

    def with_summary(self, summary: Summary) -> Result:
        """The same run (timeline, events) under another summary."""
        return Result(summary, self._timeline, self.events, self._columns)


TIMELINE_COLUMNS = (
    "time_s",
    "arrivals_per_sec",
    "served_writes_per_sec",
    "writes_since_fork",
    "save_progress",
    "parent_rss_bytes",
    "cow_bytes",
    "child_kernel_bytes",
    "change_log_bytes",
    "demand_bytes",
    "page_cache_bytes",
    "container_usage_bytes",
    "swap_bytes",
    "backlog_requests",
    "service_us",
    "snapshot_share",
    "delayed_share",
    "delayed_writes",
    "deferred_requests",
    "wait_ms",
    "latency_ms",
)
"""Numeric timeline columns in the order a row tuple holds them (``phase`` and the limit lines are added)."""
LIMIT_COLUMNS = ("memory_limit_bytes", "maxmemory_bytes", "hard_limit_bytes")
"""The node's limits, constant over a run, drawn as lines."""
TIMELINE_SCHEMA: dict[str, str] = {
    name: "str" if name == "phase" else "int64" if name in LIMIT_COLUMNS else "float64"
    for name in ("time_s", "phase", *TIMELINE_COLUMNS[1:13], *LIMIT_COLUMNS, *TIMELINE_COLUMNS[13:])
}
"""The timeline's columns, in the order of the CSV and Parquet files, and their dtypes (one row per step;
``phase`` is steady, fork, save, after, failed or lost)."""


def request_stalls(p: Prepared) -> tuple[float, float, float]:
    """Stalls only some requests meet, in seconds: an expedited key save (forkless), a major fault on every
    page of a key (paging), a copy-on-write fault on every page of a key (a forked save)."""
    cow_fault = p.pages_per_key * p.cow_fault_s if p.method == "fork" else 0.0
    return p.save_s / p.keys, p.pages_per_key * p.platform.paging.fault_us / 1e6, cow_fault


class RunRecord:
    """What a run keeps per step: running peaks, the latency inputs and, if asked, the timeline rows."""

    def __init__(
        self, budget: MemoryBudget, timeline: bool = True, stalls: tuple[float, float, float] = (0.0, 0.0, 0.0)
    ):
        self.budget = budget
        self.stalls = stalls
        self.keep_rows = timeline
        self.rows: list[tuple] = []
        self.phases: list[str] = []
        self.steps: list[tuple[float, float, float, float, float, float]] = []  # time, wait, service, arrivals, shares
        self.step_table: np.ndarray | None = None  # the same steps as one array, when a batch engine hands them over
        self.max_wait_s = 0.0  # longest wait at the forking node's main thread
        self.worst_request_s = 0.0  # longest wait + service + the stalls a request of that step may meet
        self.cow_peak = self.demand_peak = self.container_peak = self.swap_peak = -math.inf
        self.min_served_in_save = math.nan
        self.delayed_writes = self.deferred_requests = 0.0

    def step_array(self) -> np.ndarray:
        """The steps as an (n, 6) float array: time, wait, service, arrivals and the two shares."""
        if self.step_table is not None:
            return self.step_table
        return np.array(self.steps, dtype=float).reshape(-1, 6)

    def add(self, now: float, s: NodeState, m: Memory, arrivals: float) -> None:
        """Record the state ``s`` (memory ``m``) reached at time ``now``."""
        wait = s.stall_left + s.backlog * s.service_s
        container = min(m.demand, self.budget.node_memory) + m.page_cache
        self.max_wait_s = max(self.max_wait_s, wait)
        key_save, swap_fault, cow_fault = self.stalls
        worst = (
            wait
            + s.service_s
            + (SLICE_S if s.snapshot_share > 0 else 0.0)
            + (key_save if s.delayed_share > 0 else 0.0)
            + (swap_fault if m.swap > 0 else 0.0)
            + (cow_fault if s.phase in ("fork", "save") and m.cow > 0 else 0.0)
        )
        self.worst_request_s = max(self.worst_request_s, worst)
        self.cow_peak = max(self.cow_peak, m.cow)
        self.demand_peak = max(self.demand_peak, m.demand)
        self.container_peak = max(self.container_peak, container)
        self.swap_peak = max(self.swap_peak, m.swap)
        if s.phase == "save" and not s.served_writes_per_sec >= self.min_served_in_save:
            self.min_served_in_save = s.served_writes_per_sec
        self.delayed_writes, self.deferred_requests = s.delayed_writes, s.deferred_requests
        self.phases.append(s.phase)
        self.steps.append((now, wait, s.service_s, arrivals, s.snapshot_share, s.delayed_share))
        if self.keep_rows:
            self.rows.append(
                (
                    now,
                    arrivals,
                    s.served_writes_per_sec,
                    s.overwrites_since_fork if s.child_alive else 0.0,
                    s.progress,
                    m.parent_rss,
                    m.cow,
                    m.child_kernel,
                    s.change_log,
                    m.demand,
                    m.page_cache,
                    container,
                    m.swap,
                    s.backlog,
                    s.service_s * 1e6,
                    s.snapshot_share,
                    s.delayed_share,
                    s.delayed_writes,
                    s.deferred_requests,
                    1000 * wait,
                    1000 * (wait + s.service_s),
                )
            )

    def columns(self) -> dict | None:
        """The timeline as columns (None without rows)."""
        if not self.keep_rows:
            return None
        values = np.array(self.rows, dtype=float).reshape(len(self.rows), len(TIMELINE_COLUMNS))
        columns = {name: values[:, i] for i, name in enumerate(TIMELINE_COLUMNS)}
        n, b = len(self.rows), self.budget
        columns["phase"] = np.array(self.phases, dtype=object)
        for name, value in zip(LIMIT_COLUMNS, (b.node_memory, b.maxmemory, b.hard_limit), strict=True):
            columns[name] = np.full(n, value)
        return {name: columns[name] for name in TIMELINE_SCHEMA}


class FinishedRun(Protocol):
    """What :func:`summarize` reads of a finished run (the event engine's or one run of a lockstep batch)."""

    p: Prepared
    record: RunRecord
    oom_victim: str | None
    oom_choice: oom.Choice | None
    failure: str | None
    events: list[Event]
    backup_started_at: float | None
    save_ended_at: float | None


def summarize(run: FinishedRun) -> Result:
    """Turn a finished run (:class:`~sim.engine.BackupSimulation` or a lockstep batch's) into a :class:`Result`."""
    p, rec = run.p, run.record
    budget = p.budget
    peak_demand = float(rec.demand_peak)
    swap_peak = float(rec.swap_peak)
    offered = _offered_per_sec(p, rec.step_array()[:, 0])
    overloaded = offered > p.throughput_ceiling
    if run.oom_victim:
        outcome = "oom"
    elif run.failure:
        outcome = "failed"
    elif swap_peak > PAGING_MIN_SWAP:
        outcome = "paging"
    elif overloaded:
        outcome = "overloaded"
    else:
        outcome = "ok"
    ended, started = run.save_ended_at, run.backup_started_at
    completed = ended is not None
    stall = p.fork_stall_s if p.method == "fork" else 0.0
    save_duration = ended - started - stall if ended is not None and started is not None else None
    before, during = client_latency(run)
    primary_rho = sum(p.load.at(p.fork_time_of_day)) * p.service_s
    clients = p.scenario.workload.clients  # a saturated server makes its clients wait, not queue forever
    base_ms = 1000 * min(latency.mm1_mean_sojourn(p.service_s, primary_rho), clients * p.service_s)
    on_primary = p.scenario.backup.source == "primary"
    max_latency = max(
        base_ms + (1000 * rec.max_wait_s if on_primary else 0.0),
        1000 * rec.worst_request_s if on_primary else base_ms,
        *[x for x in before + during if math.isfinite(x)],
    )
    summary = Summary(
        scenario=p.scenario.name,
        outcome=outcome,
        failure=run.failure,
        oom_victim=run.oom_victim,
        oom_consequence=_oom_consequence(run),
        oom_assumption=_oom_assumption(run),
        method=p.method,
        engine_build=p.scenario.build,
        backup_source=p.scenario.backup.source,
        backup_completed=completed,
        fork_stall_s=stall,
        save_duration_s=save_duration,
        backup_duration_s=(stall + save_duration) if save_duration is not None else None,
        cow_peak_bytes=float(rec.cow_peak),
        peak_memory_bytes=peak_demand,
        peak_container_usage_bytes=float(rec.container_peak),
        memory_limit_bytes=budget.node_memory,
        maxmemory_bytes=budget.maxmemory,
        reserved_memory_bytes=budget.reserved,
        swap_limit_bytes=budget.swap,
        swap_peak_bytes=swap_peak,
        headroom_bytes=budget.node_memory - peak_demand,
        data_growth_to_maxmemory=budget.maxmemory / p.used_memory,
        max_latency_ms=float(max_latency),
        p50_latency_ms=float(during[0]),
        p99_latency_ms=float(during[1]),
        p999_latency_ms=float(during[2]),
        p50_latency_before_ms=float(before[0]),
        p99_latency_before_ms=float(before[1]),
        baseline_latency_ms=base_ms,
        writes_delayed=float(rec.delayed_writes),
        min_served_writes_per_sec=None if math.isnan(rec.min_served_in_save) else float(rec.min_served_in_save),
        requests_deferred=float(rec.deferred_requests),
        offered_load_per_sec=offered,
        throughput_ceiling_per_sec=p.throughput_ceiling,
        throughput_ceiling_source=p.ceiling_source,
        overloaded=overloaded,
        replica_lag_s=rec.max_wait_s if not on_primary else 0.0,
        rdb_bytes=p.rdb_bytes,
        used_memory_bytes=p.used_memory,
        rss_bytes=p.rss,
        keys=p.keys,
        value_size_bytes=p.value_size,
        writes_per_sec=p.writes_per_sec,
        platform=p.platform.name,
        platform_calibrated=p.platform.calibration is not None,
        unvalidated=tuple(p.unvalidated),
        warnings=tuple(p.warnings) + tuple(_load_warnings(p, offered, overloaded)),
    )
    return Result(summary=summary, events=run.events, columns=rec.columns())


def _offered_per_sec(p: Prepared, times: np.ndarray) -> float:
    """Highest request rate (writes + reads) the primary receives at the recorded step times."""
    tod = (p.fork_time_of_day - p.scenario.simulation.before + times) % DAY
    k = np.searchsorted(p.load.starts, tod, side="right") - 1
    return float((np.asarray(p.load.writes)[k] + np.asarray(p.load.reads)[k]).max())


def _load_warnings(p: Prepared, offered: float, overloaded: bool) -> list[str]:
    """Say when the offered load exceeds one node's ceiling, and when the data nearly fills maxmemory."""
    out = []
    if overloaded:
        out.append(
            f"offered load {offered:,.0f} requests/s exceeds the ~{p.throughput_ceiling:,.0f}/s one node serves "
            f"({p.ceiling_source}): requests queue up to workload.clients ({p.scenario.workload.clients}) and "
            "latency is clients x service time; shard the load (cluster) or add read replicas"
        )
    growth = p.budget.maxmemory / p.used_memory
    if 1.0 <= growth < MIN_DATA_GROWTH:
        out.append(
            f"used_memory is {1 / growth:.0%} of maxmemory: the data can grow only x{growth:.2f} before Redis "
            f"evicts or refuses writes (rbsim's minimum is x{MIN_DATA_GROWTH:g})"
        )
    return out


def _oom_consequence(run: FinishedRun) -> str | None:
    """What the OOM kill costs, in words (None without one)."""
    if run.oom_victim is None:
        return None
    return oom.consequence(run.oom_victim, run.p.scenario.backup.source, run.p.scenario.build == ELASTICACHE)


def _oom_assumption(run: FinishedRun) -> str | None:
    """The kernel rule and figures behind the victim (None without an OOM kill)."""
    if run.oom_victim is None:
        return None
    container = run.p.scenario.node.type is None
    if run.oom_choice is None:
        return "no save child was alive: the server was the only candidate"
    return oom.assumption(run.oom_choice, run.p.scenario.node.oom_score_adj, container)


def client_latency(run: FinishedRun) -> tuple[list[float], list[float]]:
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
    steps = run.record.step_array()
    t = steps[:, 0]
    phase = np.array(run.record.phases, dtype=object)
    start = run.backup_started_at if run.backup_started_at is not None else np.inf
    end = run.save_ended_at if run.save_ended_at is not None else t[-1]
    before_mask = t[1:] <= start
    during_mask = (t[:-1] >= start - 1e-12) & (t[1:] <= end + 1e-12) & (phase[1:] != "steady")
    key_delay = p.save_s / p.keys  # an expedited write waits for one key's share of the save
    if before_mask.any():
        before = _quantiles(steps, before_mask, 0.0)
    else:  # no steady state simulated: the M/M/1 figures of the load at the fork
        rho = sum(p.load.at(p.fork_time_of_day)) * p.service_s
        cap = p.scenario.workload.clients * p.service_s
        before = [1000 * min(latency.mm1_sojourn_quantile(p.service_s, rho, q), cap) for q in QUANTILES]
    during = _quantiles(steps, during_mask, key_delay) if during_mask.any() else before
    return before, during


def _quantiles(steps: np.ndarray, mask: np.ndarray, key_delay_s: float) -> list[float]:
    if not mask.any():
        return [float("nan")] * len(QUANTILES)
    t, wait = steps[:, 0], steps[:, 1]
    service = steps[1:, 2]
    arrivals = steps[:-1, 3]
    share = steps[1:, 4]
    delayed = steps[1:, 5]
    dt = np.diff(t)
    rho = np.minimum(arrivals * service, 0.95)
    if (arrivals * dt * mask).sum() <= 0:  # no requests: what a probe (a ping) sent then would wait
        arrivals = np.ones_like(arrivals)
        dt = dt if (dt * mask).sum() > 0 else np.ones_like(dt)
    rate = (1 - rho) / service
    weight_parts, shift_parts, rate_parts = [], [], []
    for k in range(SUB_STEPS):
        frac = (k + 0.5) / SUB_STEPS
        w = wait[:-1] + frac * (wait[1:] - wait[:-1])
        base = arrivals * dt * mask / SUB_STEPS
        for weight, extra in (
            (base * (1 - share) * (1 - delayed), 0.0),
            (base * share * (1 - delayed), SLICE_S / 2),
            (base * delayed, key_delay_s),
        ):
            weight_parts.append(weight)
            shift_parts.append(w + extra)
            rate_parts.append(rate)
    weights, shifts, rates = (np.concatenate(x) for x in (weight_parts, shift_parts, rate_parts))
    if weights.sum() <= 0:
        return [float("nan")] * len(QUANTILES)
    return [1000 * x for x in latency.mixture_quantiles(weights, shifts, rates, QUANTILES)]
