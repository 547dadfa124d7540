"""SimPy model of one backup on one node: steady state, fork stall, save, and after.

Two processes share a :class:`NodeState`:

* ``lifecycle`` walks the backup's phases, integrating load, save progress and memory in
  steps of ``dt`` (a fluid model: writes are a rate, never one event per write);
* ``oom_killer`` sleeps until demand passes memory plus swap, then picks a victim the way
  the kernel does and interrupts the lifecycle (the child dies: the backup fails; the parent
  dies: the cache is lost).

Each step appends one row to the timeline; :func:`simulate` returns a :class:`Result`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import simpy

from .physics import latency
from .prepare import Prepared, prepare
from .result import Result, summarize
from .scenario import Scenario

STEPS_PER_SAVE = 400
STEPS_PER_STEADY = 20
MIN_STEP_S = 1e-3


@dataclass(frozen=True)
class NodeState:
    """The node at one instant (bytes, requests, seconds)."""

    time: float = 0.0
    phase: str = "steady"
    child_alive: bool = False
    parent_alive: bool = True
    backlog: float = 0.0  # requests waiting at the main thread
    served_writes_per_sec: float = 0.0
    overwrites_since_fork: float = 0.0
    new_keys: float = 0.0
    progress: float = 0.0  # share of keys the child has saved
    stall_left: float = 0.0  # seconds of fork stall still to come


@dataclass(frozen=True)
class Memory:
    """Memory at one instant, derived from a :class:`NodeState`."""

    parent_rss: float
    cow: float
    child_kernel: float
    demand: float  # anonymous + kernel memory that cannot be dropped
    page_cache: float
    swap: float


class BackupSimulation:
    """The SimPy environment, processes and timeline of one run."""

    def __init__(self, prepared: Prepared):
        self.p = prepared
        self.env = simpy.Environment()
        self.state = NodeState()
        self.rows: list[dict] = []
        self.events: list[tuple[float, str]] = []
        self.over_limit = self.env.event()
        self.oom_victim: str | None = None
        self.fork_started_at: float | None = None
        self.save_ended_at: float | None = None
        self.max_wait_s = 0.0  # longest wait at the forking node's main thread
        self.lifecycle_process = self.env.process(self.lifecycle())
        self.env.process(self.oom_killer())

    # -- processes -------------------------------------------------------------------------
    def lifecycle(self):
        """Phases of the backup, each integrated in steps; an OOM kill interrupts it."""
        sim = self.p.scenario.simulation
        try:
            yield from self._run("steady", sim.before)
            yield from self._fork()
            yield from self._save()
        except simpy.Interrupt:
            pass
        if self.state.parent_alive:
            yield from self._run("after" if self.state.phase != "failed" else "failed", sim.after)

    def oom_killer(self):
        """Wait for demand over memory + swap, then kill the process the kernel would pick."""
        yield self.over_limit
        victim = self._oom_victim()
        self.oom_victim = victim
        self.events.append((self.env.now, f"OOM killer takes the {victim}"))
        if victim == "child":
            self.state = replace(self.state, child_alive=False, phase="failed")
        else:
            self.state = replace(self.state, parent_alive=False, child_alive=False, phase="lost")
        self._record()
        self.lifecycle_process.interrupt(victim)

    # -- phases ----------------------------------------------------------------------------
    def _fork(self):
        p = self.p
        self.fork_started_at = self.env.now
        self.events.append((self.env.now, "fork"))
        wait = latency.stall_wait_seconds(p.fork_stall_s, self.state.backlog, p.service_s)
        self.max_wait_s = max(self.max_wait_s, wait)
        self.state = replace(self.state, phase="fork", child_alive=True, stall_left=p.fork_stall_s, overwrites_since_fork=0.0)
        yield from self._run("fork", p.fork_stall_s)
        self.state = replace(self.state, stall_left=0.0)

    def _save(self):
        self.state = replace(self.state, phase="save")
        dt = max(MIN_STEP_S, self.p.save_s / STEPS_PER_SAVE)
        while self.state.progress < 1.0:
            step = min(dt, self._time_to_finish())
            yield from self._step(max(step, 1e-9))
        self.save_ended_at = self.env.now
        self.events.append((self.env.now, "save done"))
        self.state = replace(self.state, phase="after", child_alive=False)
        self._record()

    def _run(self, phase: str, duration: float):
        """Hold ``phase`` for ``duration`` seconds in a few steps."""
        self.state = replace(self.state, phase=phase)
        if duration <= 0:
            return
        steps = STEPS_PER_STEADY if phase != "fork" else 4
        end = self.env.now + duration
        while self.env.now < end - 1e-12:
            yield from self._step(min(duration / steps, end - self.env.now))

    def _step(self, dt: float):
        """Advance the state by ``dt``, or to the instant demand crosses memory + swap."""
        nxt = self._advance(self.state, dt)
        crossing = not self.over_limit.triggered and self._memory(nxt).demand > self.p.budget.hard_limit
        if crossing:
            dt = self._crossing(dt)
            nxt = self._advance(self.state, dt)
        yield self.env.timeout(dt)
        self.state = replace(nxt, time=self.env.now)
        self._record()
        if crossing:
            self.over_limit.succeed()
            yield self.env.timeout(0)  # the OOM killer acts now, interrupting this process

    # -- physics of one step ---------------------------------------------------------------
    def _advance(self, s: NodeState, dt: float) -> NodeState:
        """State after ``dt`` seconds: fluid queue, writes since fork, save progress."""
        p = self.p
        writes_rate, reads_rate = p.rates(s.time)
        arrivals = writes_rate + reads_rate
        stalled = min(dt, s.stall_left)
        backlog, served = latency.drain(s.backlog + arrivals * stalled, arrivals, 1.0 / p.service_s, dt - stalled)
        write_share = writes_rate / arrivals if arrivals > 0 else 0.0
        writes = served * write_share
        overwrites = s.overwrites_since_fork + (writes * p.overwrite_share if s.child_alive else 0.0)
        progress = s.progress
        if s.child_alive and s.phase == "save":
            progress = min(1.0, progress + dt / p.save_s) if p.save_s > 0 else 1.0
        return replace(
            s,
            backlog=backlog,
            served_writes_per_sec=writes / dt if dt > 0 else 0.0,
            overwrites_since_fork=overwrites,
            new_keys=s.new_keys + writes * (1.0 - p.overwrite_share),
            progress=progress,
            stall_left=max(0.0, s.stall_left - dt),
        )

    def _memory(self, s: NodeState) -> Memory:
        p = self.p
        parent = p.rss + s.new_keys * p.bytes_per_key if s.parent_alive else 0.0
        cow = float(p.cow.cow_bytes(s.overwrites_since_fork, s.progress)) if s.child_alive else 0.0
        cow = min(cow, p.rss)
        kernel = p.page_tables if s.child_alive else 0.0
        demand = parent + cow + kernel
        swap = max(0.0, min(demand, p.budget.hard_limit) - p.budget.node_memory)
        written = p.rdb_bytes * s.progress if s.child_alive or s.progress >= 1.0 else 0.0
        cache = max(0.0, min(written, p.budget.node_memory - demand))
        return Memory(parent, cow, kernel, demand, cache, swap)

    def _time_to_finish(self) -> float:
        return (1.0 - self.state.progress) * self.p.save_s

    def _crossing(self, dt: float) -> float:
        """Bisect the step for the instant demand first exceeds memory + swap."""
        lo, hi = 0.0, dt
        for _ in range(40):
            mid = (lo + hi) / 2
            if self._memory(self._advance(self.state, mid)).demand > self.p.budget.hard_limit:
                hi = mid
            else:
                lo = mid
        return hi

    def _oom_victim(self) -> str:
        """The kernel kills the task with the highest badness (RSS scaled by oom_score_adj).

        Parent and child map the same pages, so their RSS ties but for the parent's own new
        allocations; the parent goes first. Redis's ``oom-score-adj yes`` gives the save
        child +800 (``oom-score-adj-values 0 200 800``), so then the child goes.
        """
        if self.state.child_alive and (self.p.scenario.node.oom_score_adj or not self.state.parent_alive):
            return "child"
        return "parent"

    # -- recording -------------------------------------------------------------------------
    def _record(self) -> None:
        s, p = self.state, self.p
        m = self._memory(s)
        waiting = s.stall_left + s.backlog * p.service_s
        self.rows.append(
            {
                "time_s": self.env.now,
                "phase": s.phase,
                "served_writes_per_sec": s.served_writes_per_sec,
                "writes_since_fork": s.overwrites_since_fork if s.child_alive else 0.0,
                "save_progress": s.progress,
                "parent_rss_bytes": m.parent_rss,
                "cow_bytes": m.cow,
                "child_kernel_bytes": m.child_kernel,
                "demand_bytes": m.demand,
                "page_cache_bytes": m.page_cache,
                "container_usage_bytes": min(m.demand, p.budget.node_memory) + m.page_cache,
                "swap_bytes": m.swap,
                "memory_limit_bytes": p.budget.node_memory,
                "maxmemory_bytes": p.budget.maxmemory,
                "hard_limit_bytes": p.budget.hard_limit,
                "backlog_requests": s.backlog,
                "latency_ms": 1000 * (waiting + p.service_s),
            }
        )


def simulate(scenario: Scenario, prepared: Prepared | None = None) -> Result:
    """Simulate one backup of ``scenario`` and return its summary and timeline."""
    prepared = prepared or prepare(scenario)
    run = BackupSimulation(prepared)
    run._record()
    run.env.run()
    return summarize(run)

