"""SimPy model of one backup on one node: steady state, fork stall or forkless save, and after.

Two processes share a :class:`NodeState`:

* ``lifecycle`` walks the backup's phases, integrating load, save progress and memory in
  steps (a fluid model: writes are a rate, never one event per write);
* ``oom_killer`` sleeps until demand passes memory plus swap, then picks a victim the way
  the kernel does and interrupts the lifecycle (the child dies: the backup fails; the parent
  dies: the cache is lost).

Paging feeds back within each step: swapped pages slow requests (fewer writes served, so less
copy-on-write) and the save (a longer save, so more). Each step updates the running maxima and
the latency record, and with ``timeline=True`` appends a timeline row; :func:`simulate` returns a
:class:`Result`. Memory (and with it copy-on-write) is evaluated once per state and cached on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import simpy

from .physics import eviction, forkless, latency, oom, paging
from .physics.changelog import command_bytes
from .prepare import Prepared, prepare
from .result import Result, RunRecord, request_stalls, summarize
from .scenario import Scenario
from .summary import Event

STEPS_PER_SAVE = 400
MAX_STEPS_PER_SAVE = 4 * STEPS_PER_SAVE
"""A save slowed more than 4x (by load or paging) takes longer steps, so no rate makes a run endless."""
SAVE_STEP_LIMIT = 4 * MAX_STEPS_PER_SAVE
"""A save still running after this many steps makes no progress (its child gets no CPU): it fails."""
NO_PROGRESS = "the save makes no progress: its child gets no CPU at this load"
STEPS_PER_STEADY = 20
MIN_STEP_S = 1e-3


@dataclass(frozen=True, slots=True)
class Churned:
    """How the data's memory has moved (physics.eviction); shared unchanged by states while nothing moves."""

    used_memory: float = 0.0  # the data's used_memory now (grows, expires, is evicted)
    free_pool: float = 0.0  # freed bytes the allocator holds for reuse
    evictable: float = 0.0  # keys the maxmemory-policy may still evict
    fresh_bytes: float = 0.0  # RSS the parent allocated beyond its RSS at the start
    reused_in_fork: float = 0.0  # bytes written into freed slots while a fork child lived
    reuse_per_write: float = 0.0  # of those, per write command in the last step
    executed: float = 1.0  # share of the last step's write commands that ran (the rest refused at maxmemory)
    evicted_keys: float = 0.0
    expired_keys: float = 0.0
    rejected_writes: float = 0.0


@dataclass(slots=True)
class NodeState:
    """The forking node at one instant (bytes, requests, seconds); ``memory`` caches
    :meth:`BackupSimulation._memory`."""

    time: float = 0.0
    phase: str = "steady"
    child_alive: bool = False  # a fork child, or the forkless snapshot, is running
    parent_alive: bool = True
    backlog: float = 0.0  # requests waiting at the main thread
    served_writes_per_sec: float = 0.0
    writes_since_fork: float = 0.0  # write commands served while the child lives (they drive copy-on-write)
    churn: Churned = field(default_factory=Churned)  # used_memory moving: physics.eviction
    progress: float = 0.0  # share of keys saved
    stall_left: float = 0.0  # seconds of fork stall still to come
    change_log: float = 0.0  # bytes of writes buffered for the backup (engines before 2.8.22)
    delayed_writes: float = 0.0
    deferred_requests: float = 0.0  # requests clients could not send while all waited on replies
    service_s: float = 0.0  # mean main-thread time per request now
    progress_per_s: float = 0.0  # save pace now
    snapshot_share: float = 0.0  # main-thread share the forkless snapshot takes now
    delayed_share: float = 0.0  # share of arriving requests delayed by a forkless save
    memory: Memory | None = field(default=None, init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Memory:
    """Memory at one instant, derived from a :class:`NodeState`."""

    parent_rss: float
    cow: float
    child_kernel: float
    demand: float  # anonymous + kernel memory that cannot be dropped
    page_cache: float
    swap: float
    new_pages_per_write: float = 0.0  # pages one more overwrite copies now (forking only)


class BackupSimulation:
    """The SimPy environment, processes and timeline of one run."""

    def __init__(self, prepared: Prepared, timeline: bool = True):
        p = self.p = prepared
        self.env = simpy.Environment()
        self.state = NodeState(service_s=p.service_s, churn=Churned(p.used_memory, evictable=p.evictable_keys))
        self.record = RunRecord(p.budget, timeline, request_stalls(p))
        # constants of the hot loop, read once
        prof = p.platform
        self._forks = p.method == "fork"
        self._fault_s, self._page_out_s = prof.paging.fault_us / 1e6, prof.paging.page_out_us / 1e6
        self._client_s = prof.cpu.client_us_per_request / 1e6
        self._clients = p.scenario.workload.clients
        self._node_memory, self._hard_limit = p.budget.node_memory, p.budget.hard_limit
        self._command_bytes = command_bytes(p.key_size, p.value_size) if p.old_engine else 0.0
        self._big_values = p.value_size > prof.forkless.clone_max_value
        self._churns = p.churn.active
        self.events: list[Event] = []
        self.over_limit = self.env.event()
        self.oom_victim: str | None = None
        self.oom_choice: oom.Choice | None = None
        self.failure: str | None = None
        self.backup_started_at: float | None = None
        self.save_ended_at: float | None = None
        self.lifecycle_process = self.env.process(self.lifecycle())
        self.env.process(self.oom_killer())

    # -- processes -------------------------------------------------------------------------
    def lifecycle(self):
        """Phases of the backup; an OOM kill or a failed backup interrupts them."""
        sim = self.p.scenario.simulation
        try:
            yield from self._run("steady", sim.before)
            if self.p.method == "fork":
                yield from self._fork()
            yield from self._save()
        except simpy.Interrupt:
            pass
        if self.state.parent_alive:
            try:  # new keys alone can still outgrow memory + swap after the backup
                yield from self._run("failed" if self.state.phase == "failed" else "after", sim.after)
            except simpy.Interrupt:
                pass

    def oom_killer(self):
        """Wait for demand over memory + swap, then kill the process the kernel would pick."""
        yield self.over_limit
        victim = self._oom_victim()
        self.oom_victim = victim
        self.events.append(Event(self.env.now, f"OOM kills the {victim}"))
        if victim == "child":
            self.state = replace(self.state, child_alive=False, phase="failed")
        else:
            self.state = replace(self.state, parent_alive=False, child_alive=False, phase="lost")
        self._record()
        self.lifecycle_process.interrupt(victim)

    # -- phases ----------------------------------------------------------------------------
    def _fork(self):
        p = self.p
        self.backup_started_at = self.env.now
        self.events.append(Event(self.env.now, "fork"))
        self.state = replace(self.state, phase="fork", child_alive=True, stall_left=p.fork_stall_s)
        self._record()
        yield from self._run("fork", p.fork_stall_s)
        self.state = replace(self.state, stall_left=0.0)

    def _save(self):
        if self.backup_started_at is None:
            self.backup_started_at = self.env.now
            self.events.append(Event(self.env.now, "forkless save"))
        self.state = replace(self.state, phase="save", child_alive=True)
        nominal = max(MIN_STEP_S, self.p.save_s / STEPS_PER_SAVE)
        steps = 0
        while self.state.progress < 1.0:
            pace = self.state.progress_per_s
            yield from self._step(max(nominal, 1.0 / (MAX_STEPS_PER_SAVE * pace)) if pace > 0 else nominal)
            steps += 1
            if steps >= SAVE_STEP_LIMIT and self.failure is None:
                self.failure = NO_PROGRESS
                self.events.append(Event(self.env.now, "the save makes no progress: backup fails"))
            if self.failure:
                self.state = replace(self.state, child_alive=False, phase="failed")
                self._record()
                return
        self.save_ended_at = self.env.now
        self.events.append(Event(self.env.now, "save done"))
        self.state = replace(self.state, phase="after", child_alive=False, change_log=0.0)
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
        """Advance by ``dt``, ending early when the save completes or demand crosses memory + swap."""
        if self.state.phase == "save":
            dt = min(dt, self._time_to_finish(self.state, dt))
        nxt = self._advance(self.state, dt)
        crossing = not self.over_limit.triggered and self._memory(nxt).demand > self._hard_limit
        if crossing:
            dt = self._crossing(dt)
            nxt = self._advance(self.state, dt)
        yield self.env.timeout(dt)
        nxt.time = self.env.now
        self.state = nxt
        self._check_change_log()
        self._record()
        if crossing:
            self.over_limit.succeed()
            yield self.env.timeout(0)  # the OOM killer acts now, interrupting this process

    # -- physics of one step ---------------------------------------------------------------
    def _advance(self, s: NodeState, dt: float) -> NodeState:
        """State after ``dt``: fluid queue, writes since fork, save progress, paging slowdown."""
        p, prof = self.p, self.p.platform
        writes_rate, reads_rate = p.rates(s.time)
        arrivals = writes_rate + reads_rate
        write_share = writes_rate / arrivals if arrivals > 0 else 0.0
        mem = self._memory(s)
        share_out = paging.out_share(mem.swap, mem.demand)
        fault_s = self._fault_s
        service = paging.request_service_s(p.service_s, share_out, p.pages_per_key, fault_s)
        forking = s.child_alive and self._forks
        if forking:
            copies = mem.new_pages_per_write
            service += write_share * copies * p.cow_fault_s
            if mem.demand > self._node_memory:
                service += write_share * paging.reclaim_s_per_write(copies, self._page_out_s)
        save_s = p.save_s + p.keys * paging.save_s_per_key(share_out, p.pages_per_key, fault_s)

        share, delayed_share, progress_per_s = 0.0, 0.0, 0.0
        if s.child_alive and s.phase == "save":
            if forking:
                busy = min(1.0, arrivals * service) + arrivals * self._client_s
                progress_per_s = child_cpu_share(p.cores, busy) / save_s
            else:
                share = forkless.snapshot_share(arrivals * service, prof.forkless.min_share)
                progress_per_s = forkless.progress_rate(share, save_s, prof.forkless.main_thread_share)
                share = min(share, progress_per_s * save_s * prof.forkless.main_thread_share)
                delayed_share = write_share * self._delayed_write_fraction(s)
        capacity = (1.0 - share) / service

        stalled = min(dt, s.stall_left)
        backlog, served = latency.drain(s.backlog + arrivals * stalled, arrivals, capacity, dt - stalled)
        deferred = max(0.0, backlog - self._clients)  # clients wait for replies: no more are sent
        backlog -= deferred
        writes = served * write_share
        churn = self._churn(s, writes, dt, forking)  # refused writes copy nothing
        return NodeState(
            s.time,
            s.phase,
            s.child_alive,
            s.parent_alive,
            backlog=backlog,
            served_writes_per_sec=writes / dt if dt > 0 else 0.0,
            writes_since_fork=s.writes_since_fork + (writes * churn.executed if s.child_alive else 0.0),
            churn=churn,
            progress=_clip_progress(s.progress + dt * progress_per_s),
            stall_left=max(0.0, s.stall_left - dt),
            change_log=s.change_log + (writes * self._command_bytes if forking else 0.0),
            delayed_writes=s.delayed_writes + served * delayed_share,
            deferred_requests=s.deferred_requests + deferred,
            service_s=service,
            progress_per_s=progress_per_s,
            snapshot_share=share,
            delayed_share=delayed_share,
        )

    def _memory(self, s: NodeState) -> Memory:
        """Memory of state ``s``, computed once per state (one copy-on-write evaluation)."""
        if s.memory is not None:
            return s.memory
        p = self.p
        c = s.churn
        parent = (p.rss + c.fresh_bytes + s.change_log) if s.parent_alive else 0.0
        forking = s.child_alive and self._forks
        copies = 0.0
        if forking:
            dirty, copies = p.cow.dirty_pages_and_slope(s.writes_since_fork, s.progress)
            if c.reused_in_fork:  # writes into freed slots copy their pages (eviction.reuse_pages)
                freed = (c.reused_in_fork + c.free_pool) / p.used_memory  # share of the slots freed
                pages, per_byte = eviction.reuse_pages(
                    c.reused_in_fork, p.slot_sizes, p.slot_byte_shares, freed, p.page_size, p.data_pages
                )
                union, slope = eviction.union_pages(
                    dirty, copies, float(pages), c.reuse_per_write * float(per_byte), p.data_pages
                )
                dirty, copies = float(union), float(slope)
            cow = min(p.cow.base_bytes + p.page_size * dirty, p.rss)
        elif s.child_alive:
            cow = float(p.forkless_buffer_bytes)
        else:
            cow = 0.0
        kernel = p.page_tables if forking else 0.0
        demand = parent + cow + kernel
        swap = max(0.0, min(demand, self._hard_limit) - self._node_memory)
        written = p.rdb_bytes * s.progress if s.child_alive or s.progress >= 1.0 else 0.0
        cache = max(0.0, min(written, self._node_memory - demand))
        s.memory = Memory(parent, cow, kernel, demand, cache, swap, copies)
        return s.memory

    def _delayed_write_fraction(self, s: NodeState) -> float:
        """Share of writes a forkless save delays: big values of keys not yet saved."""
        if not self._big_values:
            return 0.0
        return forkless.unsaved_write_fraction(self.p.cow.popularity, s.writes_since_fork, s.progress)

    def _churn(self, s: NodeState, writes: float, dt: float, forking: bool) -> Churned:
        """How memory moved over ``dt`` with ``writes`` write commands: growth, expiry, eviction (eviction.py)."""
        c = s.churn
        if not (s.parent_alive and self._churns):
            return c if not c.reuse_per_write and c.executed == 1.0 else replace(c, reuse_per_write=0.0, executed=1.0)
        step = eviction.churn_step(self.p.churn, c.used_memory, c.free_pool, c.evictable, writes, dt)
        reused = float(step.reused_uncopied) if forking else 0.0
        return Churned(
            used_memory=float(step.used),
            free_pool=float(step.pool),
            evictable=float(step.evictable),
            fresh_bytes=c.fresh_bytes + float(step.fresh),
            reused_in_fork=c.reused_in_fork + reused,
            reuse_per_write=reused / writes if writes > 0 else 0.0,
            evicted_keys=c.evicted_keys + float(step.evicted_keys),
            expired_keys=c.expired_keys + float(step.expired_keys),
            rejected_writes=c.rejected_writes + float(step.rejected_writes),
            executed=float(step.executed),
        )

    def _check_change_log(self) -> None:
        """Before 2.8.22 the backup fails once its change log overflows the output buffer."""
        if self.failure is None and self.state.change_log > self.p.output_buffer_limit:
            self.failure = "change log exceeded the client output buffer limit"
            self.events.append(Event(self.env.now, "output buffer overflow: backup fails"))

    def _time_to_finish(self, s: NodeState, dt: float) -> float:
        """Time until the save completes at the current pace (at most ``dt``)."""
        pace = s.progress_per_s or self._advance(s, min(dt, 1e-6)).progress_per_s
        return dt if pace <= 0 else min(dt, max(1e-9, (1.0 - s.progress) / pace))

    def _crossing(self, dt: float) -> float:
        """Bisect the step for the instant demand first exceeds memory + swap."""
        lo, hi = 0.0, dt
        for _ in range(40):
            mid = (lo + hi) / 2
            if self._memory(self._advance(self.state, mid)).demand > self._hard_limit:
                hi = mid
            else:
                lo = mid
        return hi

    def _oom_victim(self) -> str:
        """The process the kernel picks (highest badness, :mod:`.physics.oom`); the choice is kept for the summary."""
        fork_child = self.state.child_alive and self.p.method == "fork"
        if not fork_child or not self.state.parent_alive:
            return "parent" if self.state.parent_alive else "child"
        p, m = self.p, self._memory(self.state)
        child_rss = p.rss - p.cow.released_bytes(self.state.progress)
        self.oom_choice = oom.choose(
            m.parent_rss,
            child_rss,
            m.swap,
            m.child_kernel,
            p.budget.node_memory + p.budget.swap,
            p.scenario.node.oom_score_adj,
        )
        return self.oom_choice.victim

    # -- recording -------------------------------------------------------------------------
    def _record(self) -> None:
        s, p = self.state, self.p
        writes_rate, reads_rate = p.rates(s.time)
        self.record.add(self.env.now, s, self._memory(s), writes_rate + reads_rate)


def child_cpu_share(cores: float, other_busy: float) -> float:
    """Share of a core the save child gets when other threads keep ``other_busy`` cores busy.

    Alone on a free core it runs at full speed; once the runnable demand passes the cores, the
    scheduler shares them fairly: ``cores / (1 + other_busy)``.
    """
    return min(1.0, cores / (1.0 + other_busy))


def _clip_progress(value: float) -> float:
    """Save progress, snapped to 1 within rounding error so the last step ends the save."""
    return 1.0 if value > 1.0 - 1e-9 else value


def simulate(scenario: Scenario, prepared: Prepared | None = None, timeline: bool = True) -> Result:
    """Simulate one backup of ``scenario`` and return its summary (and, with ``timeline``, its timeline)."""
    prepared = prepared or prepare(scenario)
    run = BackupSimulation(prepared, timeline)
    run._record()
    run.env.run()
    return summarize(run)
