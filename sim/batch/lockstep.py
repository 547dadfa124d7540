"""Many fork backups advanced at once with numpy: the engine's step rules, vectorised over runs.

Sweeps and the planner need summaries of thousands of variants; the SimPy engine
(:mod:`sim.engine`) spends most of a run in per-step Python and small-array numpy overhead.
Here every array holds one value per run: each loop iteration moves every unfinished run one
step of its own length, with the engine's phases (steady, fork stall, save, after), its fluid
queue, copy-on-write, paging feedback, CPU sharing, daily rates and the OOM killer (crossing
found by the same bisection, same victim rule). Peaks are running maxima; only the latency
inputs are kept per step, for the same quantiles. The engine stays the reference (and the only
path with a timeline); :func:`supported` says which runs this path takes: fork backups of
engines 2.8.22+ (forkless saves and the change log of older engines go to the engine).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..dayload import DAY
from ..engine import MAX_STEPS_PER_SAVE, MIN_STEP_S, NO_PROGRESS, SAVE_STEP_LIMIT, STEPS_PER_SAVE, STEPS_PER_STEADY
from ..physics import oom
from ..physics.eviction import Churn, churn_step, reuse_pages, union_pages
from ..prepare import Prepared
from ..result import Result, RunRecord, request_stalls, summarize
from ..summary import Event

STEADY, FORK, SAVE, AFTER, FAILED, LOST, DONE = range(7)
PHASES = ("steady", "fork", "save", "after", "failed", "lost")
FORK_STEPS = 4
BISECTIONS = 40
TOGETHER_MIN = 12
"""Fewer runs than this are faster one by one on the engine: a lockstep iteration has a fixed numpy cost."""


def supported(p: Prepared) -> str | None:
    """None if this path simulates ``p`` like the engine, else why the engine must."""
    if p.method != "fork":
        return "forkless saves run on the engine"
    if p.old_engine:
        return "engines before 2.8.22 (change log) run on the engine"
    if not (np.isfinite(p.load.writes).all() and np.isfinite(p.load.reads).all()):
        return "non-finite rates run on the engine"
    return None


class Runs:
    """Per-run constants as arrays (one entry per run)."""

    def __init__(self, preps: list[Prepared]):
        def arr(f):
            return np.array([f(p) for p in preps], dtype=float)

        self.preps = preps
        self.service0 = arr(lambda p: p.service_s)
        self.ppk = arr(lambda p: p.pages_per_key)
        self.fault_s = arr(lambda p: p.platform.paging.fault_us / 1e6)
        self.page_out_s = arr(lambda p: p.platform.paging.page_out_us / 1e6)
        self.cow_fault_s = arr(lambda p: p.cow_fault_s)
        self.save_s = arr(lambda p: p.save_s)
        self.keys = arr(lambda p: p.keys)
        self.cores = arr(lambda p: p.cores)
        self.client_s = arr(lambda p: p.platform.cpu.client_us_per_request / 1e6)
        self.clients = arr(lambda p: p.scenario.workload.clients)
        self.rss = arr(lambda p: p.rss)
        self.churn = Churn(*(arr(lambda p, f=f: getattr(p.churn, f)) for f in CHURN_CONSTANTS))
        self.churns = self.churn.active
        self.used0 = arr(lambda p: p.used_memory)
        self.evictable0 = arr(lambda p: p.evictable_keys)
        self.slot_sizes, self.slot_shares = _padded(
            [np.array(p.slot_sizes, float) for p in preps], [np.array(p.slot_byte_shares) for p in preps], 0.0, 1.0
        )
        self.data_pages = arr(lambda p: p.data_pages)
        self.page_tables = arr(lambda p: p.page_tables)
        self.rdb = arr(lambda p: p.rdb_bytes)
        self.node = arr(lambda p: p.budget.node_memory)
        self.hard = arr(lambda p: p.budget.hard_limit)
        self.stall = arr(lambda p: p.fork_stall_s)
        self.before = arr(lambda p: p.scenario.simulation.before)
        self.after = arr(lambda p: p.scenario.simulation.after)
        self.nominal = np.maximum(MIN_STEP_S, self.save_s / STEPS_PER_SAVE)
        self.child_adjusted = np.array([p.scenario.node.oom_score_adj for p in preps])
        self.total_memory = arr(lambda p: p.budget.node_memory + p.budget.swap)
        stalls = np.array([request_stalls(p) for p in preps], dtype=float).reshape(len(preps), 3)
        self.swap_fault_stall, self.cow_fault_stall = stalls[:, 1], stalls[:, 2]
        self.cow_base = arr(lambda p: p.cow.base_bytes)
        self.page_size = arr(lambda p: p.page_size)
        self.one_row = all(len(p.cow.rows) == 1 for p in preps)
        if self.one_row:  # (runs, 1, classes): one string group each
            self.probs, self.shares = _padded3([p.cow.row_probs for p in preps], [p.cow.row_shares for p in preps])
        else:  # every run's hit rows back to back in one array (no padding: runs differ by 1000x in entries)
            flat = [p.cow.flat_rows for p in preps]
            self.probs = np.concatenate([f[0] for f in flat])
            self.shares = np.concatenate([f[1] for f in flat])
            sizes = np.array([len(f[0]) for f in flat])
            self.entry_run = np.repeat(np.arange(len(preps)), sizes)
            self.run_offset = np.concatenate([[0], np.cumsum(sizes)])
            rows = max(len(p.cow.rows) for p in preps)
            # a row's [begin, end) entries; unused rows are empty ranges at the run's own start
            self.bounds = np.repeat(self.run_offset[:-1], 2 * rows).reshape(len(preps), 2, rows)
            for k, (_, _, row) in enumerate(flat):
                ends = np.cumsum(np.bincount(row))
                self.bounds[k, 1, : len(ends)] = ends + self.run_offset[k]
                self.bounds[k, 0, : len(ends)] = ends - np.bincount(row) + self.run_offset[k]
        self.pages, self.slots = _padded(
            [np.array([c.pages for c in p.cow.classes]) for p in preps], [p.cow.exponents for p in preps], 1.0
        )
        self.dismissed, self.rows = _padded(
            [np.array([c.dismissed_share for c in p.cow.classes]) for p in preps],
            [p.cow.class_rows for p in preps],
        )
        self.rows = self.rows.astype(int)
        self.t0 = arr(lambda p: p.fork_time_of_day - p.scenario.simulation.before)
        self.primary = np.array([p.scenario.backup.source == "primary" for p in preps])
        starts = [p.load.starts for p in preps]
        self.starts, self.writes = _padded(starts, [p.load.writes for p in preps], pad_a=np.inf)
        _, self.reads = _padded(starts, [p.load.reads for p in preps])

    def rates(self, i: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(writes/s, reads/s) at simulation time ``t`` of runs ``i`` (reads are 0 on a replica backup)."""
        tod = (self.t0[i] + t) % DAY
        k = (self.starts[i] <= tod[:, None]).sum(1) - 1
        rows = np.arange(len(i))
        return self.writes[i][rows, k], np.where(self.primary[i], self.reads[i][rows, k], 0.0)

    def cow(self, i: np.ndarray, n: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dirty pages after ``n`` overwrites at progress ``x``, and the pages one more overwrite copies."""
        step = np.maximum(1.0, 0.01 * n)
        both = np.stack([n, n + step], 1)  # (runs, 2)
        if self.one_row:  # every page class reads row 0 (one string group): broadcast it
            missed = np.multiply(both[:, :, None, None], self.probs[i][:, None])  # one big temporary, reused in place
            np.negative(missed, out=missed)
            np.expm1(missed, out=missed)  # -(chance a key of the class was written)
            q = np.minimum(-np.einsum("skrc,src->skr", missed, self.shares[i]), 1.0)  # (runs, 2, 1)
            clean = (1.0 - q) ** self.slots[i][:, None, :]
        else:
            q = self._hit_fractions(i, both)
            clean = (1.0 - np.take_along_axis(q, self.rows[i][:, None, :], 2)) ** self.slots[i][:, None, :]
        kept = 1.0 - self.dismissed[i] * x[:, None]
        dirty = ((1.0 - clean) * (kept * self.pages[i])[:, None, :]).sum(-1)
        return dirty[:, 0], (dirty[:, 1] - dirty[:, 0]) / step

    def _hit_fractions(self, i: np.ndarray, both: np.ndarray) -> np.ndarray:
        """(runs, 2, hit rows) written shares of runs ``i`` (ascending, as every caller passes them) after
        ``both`` write counts, from their own entries only."""
        active = np.zeros(len(self.run_offset) - 1, bool)
        active[i] = True
        sel = np.flatnonzero(active[self.entry_run])  # the entries of runs i, run by run in order
        where = np.empty(len(active), int)
        where[i] = np.arange(len(i))
        missed = both[where[self.entry_run[sel]]] * self.probs[sel][:, None]  # (entries, 2)
        np.negative(missed, out=missed)
        np.expm1(missed, out=missed)
        missed *= self.shares[sel][:, None]
        total = np.zeros((len(sel) + 1, 2))
        np.cumsum(-missed, axis=0, out=total[1:])
        counts = self.run_offset[i + 1] - self.run_offset[i]
        shift = self.run_offset[i] - (np.cumsum(counts) - counts)  # global entry index -> index in sel
        local = self.bounds[i] - shift[:, None, None]  # (runs, 2, rows)
        q = total[local[:, 1]] - total[local[:, 0]]  # (runs, rows, 2)
        return np.minimum(q.transpose(0, 2, 1), 1.0)


def _padded3(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two lists of (rows, columns) arrays as zero-padded (runs, rows, columns) arrays."""
    rows, width = max(x.shape[0] for x in a), max(x.shape[1] for x in a)
    out_a, out_b = np.zeros((len(a), rows, width)), np.zeros((len(a), rows, width))
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        out_a[k, : x.shape[0], : x.shape[1]] = x
        out_b[k, : y.shape[0], : y.shape[1]] = y
    return out_a, out_b


def _padded(a: list[np.ndarray], b: list[np.ndarray], pad_b: float = 0.0, pad_a: float = 0.0):
    width = max(len(x) for x in a)
    out_a = np.full((len(a), width), pad_a, float)
    out_b = np.full((len(a), width), pad_b, float)
    for row, (x, y) in enumerate(zip(a, b, strict=False)):
        out_a[row, : len(x)] = x
        out_b[row, : len(y)] = y
    return out_a, out_b


CHURN_CONSTANTS = tuple(f.name for f in fields(Churn))
CHURN = (
    "used",
    "pool",
    "evictable",
    "fresh",
    "reused",
    "reuse_per_write",
    "evicted",
    "expired",
    "rejected",
    "executed",
)
"""The engine's memory churn fields (``NodeState.churn``: ``Churned.used_memory`` ... ``rejected_writes``)."""
STATE = ("t", "backlog", "served", "n", "prog", "stall", "deferred", "service", "pace")
"""State fields of every run; a batch whose memory churns also carries ``CHURN``."""


def _memory(r: Runs, i: np.ndarray, s: dict) -> dict:
    """Memory of runs ``i`` in state ``s`` (the engine's ``_memory`` for fork backups)."""
    forking = s["child"]
    dirty, slope = r.cow(i, s["n"], s["prog"])
    parent = r.rss[i]
    if r.churns:
        parent = parent + s["fresh"]
        freed = (s["reused"] + s["pool"]) / r.used0[i]  # share of the slots freed
        pages, per_byte = reuse_pages(
            s["reused"], r.slot_sizes[i], r.slot_shares[i], freed, r.page_size[i], r.data_pages[i]
        )
        dirty, slope = union_pages(dirty, slope, pages, s["reuse_per_write"] * per_byte, r.data_pages[i])
    parent = np.where(s["parent"], parent, 0.0)
    cow = np.where(forking, np.minimum(r.cow_base[i] + r.page_size[i] * dirty, r.rss[i]), 0.0)
    kernel = np.where(forking, r.page_tables[i], 0.0)
    demand = parent + cow + kernel
    swap = np.maximum(0.0, np.minimum(demand, r.hard[i]) - r.node[i])
    written = np.where(forking | (s["prog"] >= 1.0), r.rdb[i] * s["prog"], 0.0)
    cache = np.maximum(0.0, np.minimum(written, r.node[i] - demand))
    return {"cow": cow, "demand": demand, "swap": swap, "cache": cache, "copies": np.where(forking, slope, 0.0)}


def _advance(r: Runs, i: np.ndarray, s: dict, m: dict, dt: np.ndarray) -> dict:
    """State of runs ``i`` after ``dt`` (the engine's ``_advance`` for fork backups)."""
    w, rd = r.rates(i, s["t"])
    arrivals = w + rd
    write_share = np.divide(w, arrivals, out=np.zeros_like(w), where=arrivals > 0)
    share_out = np.where(
        m["demand"] > 0,
        np.clip(np.divide(m["swap"], m["demand"], out=np.zeros_like(w), where=m["demand"] > 0), 0.0, 1.0),
        0.0,
    )
    service = r.service0[i] + r.ppk[i] * share_out * r.fault_s[i]
    forking = s["child"]
    service = service + np.where(forking, write_share * m["copies"] * r.cow_fault_s[i], 0.0)
    service = service + np.where(forking & (m["demand"] > r.node[i]), write_share * m["copies"] * r.page_out_s[i], 0.0)
    save_s = r.save_s[i] + r.keys[i] * share_out * r.ppk[i] * r.fault_s[i]
    busy = np.minimum(1.0, arrivals * service) + arrivals * r.client_s[i]
    cpu = np.minimum(1.0, r.cores[i] / (1.0 + busy))  # engine.child_cpu_share
    pace = np.where(forking & (s["phase"] == SAVE), cpu / save_s, 0.0)
    capacity = 1.0 / service
    stalled = np.minimum(dt, s["stall"])
    offered = s["backlog"] + arrivals * stalled + arrivals * (dt - stalled)
    served = np.minimum(offered, capacity * (dt - stalled))
    backlog = offered - served
    deferred = np.maximum(0.0, backlog - r.clients[i])
    backlog = backlog - deferred
    writes = served * write_share
    progress = s["prog"] + dt * pace
    churn = _churn(r, i, s, writes, dt, forking)
    executed = churn["executed"] if churn else 1.0  # refused writes copy nothing
    return churn | {
        "t": s["t"],
        "phase": s["phase"],
        "child": s["child"],
        "parent": s["parent"],
        "backlog": backlog,
        "served": np.divide(writes, dt, out=np.zeros_like(w), where=dt > 0),
        "n": s["n"] + np.where(s["child"], writes * executed, 0.0),
        "prog": np.where(progress > 1.0 - 1e-9, 1.0, progress),
        "stall": np.maximum(0.0, s["stall"] - dt),
        "deferred": s["deferred"] + deferred,
        "service": service,
        "pace": pace,
    }


def _per(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def _churn(r: Runs, i: np.ndarray, s: dict, writes: np.ndarray, dt: np.ndarray, forking: np.ndarray) -> dict:
    """The memory churn fields after ``dt`` (the engine's ``_churn``)."""
    if not r.churns:
        return {}
    c = Churn(*(getattr(r.churn, f)[i] for f in CHURN_CONSTANTS))
    step = churn_step(c, s["used"], s["pool"], s["evictable"], writes, dt)
    alive = s["parent"]
    reused = np.where(forking & alive, step.reused_uncopied, 0.0)
    return {
        "used": np.where(alive, step.used, s["used"]),
        "pool": np.where(alive, step.pool, s["pool"]),
        "evictable": np.where(alive, step.evictable, s["evictable"]),
        "fresh": s["fresh"] + np.where(alive, step.fresh, 0.0),
        "reused": s["reused"] + reused,
        "reuse_per_write": _per(reused, writes),
        "evicted": s["evicted"] + np.where(alive, step.evicted_keys, 0.0),
        "expired": s["expired"] + np.where(alive, step.expired_keys, 0.0),
        "rejected": s["rejected"] + np.where(alive, step.rejected_writes, 0.0),
        "executed": np.where(alive, step.executed, 1.0),
    }


@dataclass
class _BatchRun:
    """One run of a batch, as :func:`~sim.result.summarize` reads a finished run."""

    p: Prepared
    record: RunRecord
    oom_victim: str | None
    oom_choice: oom.Choice | None
    failure: str | None
    events: list[Event]
    backup_started_at: float | None
    save_ended_at: float | None


class Lockstep:
    """The runs' state arrays, their records and the phase machine."""

    def __init__(self, preps: list[Prepared]):
        self.r = r = Runs(preps)
        size = len(preps)
        self.s = {k: np.zeros(size) for k in STATE + (CHURN if r.churns else ())}
        self.s["service"] = r.service0.copy()
        if r.churns:
            self.s["used"], self.s["evictable"] = r.used0.copy(), r.evictable0.copy()
            self.s["executed"][:] = 1.0
        self.s.update(phase=np.full(size, STEADY), child=np.zeros(size, bool), parent=np.ones(size, bool))
        self.end = r.before.copy()
        self.dt_phase = r.before / STEPS_PER_STEADY
        self.triggered = np.zeros(size, bool)
        self.started = np.full(size, np.nan)
        self.ended = np.full(size, np.nan)
        self.victim = np.full(size, None, object)
        self.failure = np.full(size, None, object)
        self.save_steps = np.zeros(size, int)
        self.events: list[list[Event]] = [[] for _ in preps]
        self.peaks = {k: np.full(size, -np.inf) for k in ("cow", "demand", "container", "swap", "wait", "worst")}
        self.choice: list[oom.Choice | None] = [None] * size
        self.min_served = np.full(size, np.nan)
        self.log: list[tuple[np.ndarray, ...]] = []
        self.mem = {k: np.zeros(size) for k in ("cow", "demand", "swap", "cache", "copies")}
        self.fresh = np.zeros(size, bool)  # mem holds the memory of the current state

    def memory(self, i: np.ndarray) -> dict:
        """Memory of runs ``i`` now, computed once per state (like the engine's cache)."""
        stale = i[~self.fresh[i]]
        if len(stale):
            for k, v in _memory(self.r, stale, self._sub(stale)).items():
                self.mem[k][stale] = v
            self.fresh[stale] = True
        return {k: v[i] for k, v in self.mem.items()}

    def _changed(self, i: np.ndarray, **values) -> None:
        """Set state fields of runs ``i`` that memory depends on (their cached memory goes stale)."""
        for k, v in values.items():
            self.s[k][i] = v
        self.fresh[i] = False

    def _sub(self, i: np.ndarray) -> dict:
        return {k: v[i] for k, v in self.s.items()}

    def _put(self, i: np.ndarray, values: dict) -> None:
        for k, v in values.items():
            self.s[k][i] = v

    def record(self, i: np.ndarray) -> None:
        """What the engine's ``_record`` keeps, for runs ``i`` in their current state."""
        if not len(i):
            return
        s, r = self._sub(i), self.r
        m = self.memory(i)
        w, rd = r.rates(i, s["t"])
        wait = s["stall"] + s["backlog"] * s["service"]
        container = np.minimum(m["demand"], r.node[i]) + m["cache"]
        forking = np.isin(s["phase"], (FORK, SAVE)) & (m["cow"] > 0)
        worst = (
            wait
            + s["service"]
            + np.where(m["swap"] > 0, r.swap_fault_stall[i], 0.0)
            + np.where(forking, r.cow_fault_stall[i], 0.0)
        )  # the engine's RunRecord.worst_request_s
        for key, value in (
            ("cow", m["cow"]),
            ("demand", m["demand"]),
            ("container", container),
            ("swap", m["swap"]),
            ("wait", wait),
            ("worst", worst),
        ):
            self.peaks[key][i] = np.maximum(self.peaks[key][i], value)
        saving = s["phase"] == SAVE
        lower = saving & ~(s["served"] >= self.min_served[i])
        self.min_served[i[lower]] = s["served"][lower]
        self.log.append((i.copy(), s["t"], wait, s["service"], w + rd, s["phase"]))

    def run(self) -> None:
        """Step every unfinished run until all are done (the engine's lifecycle, run by run)."""
        r, s = self.r, self.s
        everyone = np.arange(len(r.preps))
        self.record(everyone)
        self._transitions(everyone)
        while True:
            i = np.flatnonzero(s["phase"] != DONE)
            if not len(i):
                return
            self._step(i)

    def _step(self, i: np.ndarray) -> None:
        """One step of runs ``i`` (the engine's ``_step``: save steps by pace, OOM crossing by bisection)."""
        r, st = self.r, self._sub(i)
        saving = st["phase"] == SAVE
        dt = np.minimum(self.dt_phase[i], self.end[i] - st["t"])
        pace = st["pace"]
        slow = np.where(
            pace > 0, np.maximum(r.nominal[i], 1.0 / (MAX_STEPS_PER_SAVE * np.where(pace > 0, pace, 1.0))), r.nominal[i]
        )
        dt = np.where(saving, slow, dt)
        m = self.memory(i)
        if saving.any():  # never past the end of the save at the current pace
            first = saving & (pace <= 0)
            pace_now = pace.copy()
            if first.any():
                probe = _advance(r, i, st, m, np.where(first, np.minimum(dt, 1e-6), dt))
                pace_now = np.where(first, probe["pace"], pace)
            finish = np.where(
                pace_now > 0, np.maximum(1e-9, (1.0 - st["prog"]) / np.where(pace_now > 0, pace_now, 1.0)), np.inf
            )
            dt = np.where(saving & (pace_now > 0), np.minimum(dt, finish), dt)
        nxt = _advance(r, i, st, m, dt)
        mn = _memory(r, i, nxt)
        crossing = ~self.triggered[i] & (mn["demand"] > r.hard[i])
        if crossing.any():
            c = np.flatnonzero(crossing)
            sub, msub = {k: v[c] for k, v in st.items()}, {k: v[c] for k, v in m.items()}
            lo, hi = np.zeros(len(c)), dt[c].copy()
            for _ in range(BISECTIONS):
                mid = (lo + hi) / 2
                over = _memory(r, i[c], _advance(r, i[c], sub, msub, mid))["demand"] > r.hard[i[c]]
                hi, lo = np.where(over, mid, hi), np.where(over, lo, mid)
            dt[c] = hi
            again = _advance(r, i[c], sub, msub, hi)
            for k in nxt:
                nxt[k][c] = again[k]
            mn = _memory(r, i, nxt)
        nxt["t"] = st["t"] + dt
        self._put(i, nxt)
        for k, v in mn.items():
            self.mem[k][i] = v
        self.fresh[i] = True
        self.record(i)
        killed = i[crossing]
        if len(killed):
            self._oom(killed)
        self.save_steps[i[saving]] += 1
        stuck = i[saving & ~crossing & (self.save_steps[i] >= SAVE_STEP_LIMIT) & (self.s["prog"][i] < 1.0)]
        if len(stuck):
            self._no_progress(stuck)
        self._transitions(i[~crossing])

    def _no_progress(self, i: np.ndarray) -> None:
        """The engine's failed save: still running after SAVE_STEP_LIMIT steps."""
        for k in i:
            self.failure[k] = NO_PROGRESS
            self.events[k].append(Event(float(self.s["t"][k]), "the save makes no progress: backup fails"))
        self.s["phase"][i] = FAILED
        self._changed(i, child=False)
        self.record(i)
        self._timed(i, FAILED, self.r.after[i], STEPS_PER_STEADY)

    def _oom(self, i: np.ndarray) -> None:
        """The engine's OOM killer: the process with the highest badness (:mod:`.physics.oom`)."""
        s, r = self.s, self.r
        self.triggered[i] = True
        m = self.memory(i)
        parent_rss = np.where(s["parent"][i], r.rss[i] + (s["fresh"][i] if r.churns else 0.0), 0.0)
        child_rss = r.rss[i] - r.page_size[i] * (r.pages[i] * r.dismissed[i]).sum(1) * s["prog"][i]
        child = np.zeros(len(i), bool)
        for j, k in enumerate(i):
            if s["child"][k] and s["parent"][k]:
                self.choice[k] = oom.choose(
                    parent_rss[j],
                    child_rss[j],
                    m["swap"][j],
                    r.page_tables[k],
                    r.total_memory[k],
                    bool(r.child_adjusted[k]),
                )
                child[j] = self.choice[k].victim == "child"
            else:
                child[j] = not s["parent"][k]
        for k, was_child in zip(i, child, strict=True):
            self.victim[k] = "child" if was_child else "parent"
            self.events[k].append(Event(float(s["t"][k]), f"OOM kills the {self.victim[k]}"))
        s["phase"][i] = np.where(child, FAILED, LOST)
        self._changed(i, parent=child, child=False)
        self.record(i)
        alive = i[child]
        self._timed(alive, FAILED, r.after[alive], STEPS_PER_STEADY)
        s["phase"][i[~child]] = DONE

    def _timed(self, i: np.ndarray, phase: int, duration: np.ndarray, steps: int) -> None:
        """Start a phase of fixed ``duration`` in ``steps`` steps (the engine's ``_run``)."""
        self.s["phase"][i] = phase
        self.end[i] = self.s["t"][i] + duration
        self.dt_phase[i] = duration / steps
        self.s["phase"][i[duration <= 0]] = DONE if phase in (AFTER, FAILED) else phase

    def _transitions(self, i: np.ndarray) -> None:
        """Phase changes of runs ``i`` at their current time (repeated: a phase may last zero seconds)."""
        s, r = self.s, self.r
        for _ in range(6):
            ph, t = s["phase"][i], s["t"][i]
            timed_out = (t >= self.end[i] - 1e-12) | (self.dt_phase[i] <= 0)
            fork = i[(ph == STEADY) & timed_out]
            if len(fork):
                self.started[fork] = s["t"][fork]
                for k in fork:
                    self.events[k].append(Event(float(s["t"][k]), "fork"))
                s["phase"][fork] = FORK
                self._changed(fork, child=True, stall=r.stall[fork])
                self.record(fork)
                self._timed(fork, FORK, r.stall[fork], FORK_STEPS)
            saves = i[(ph == FORK) & timed_out & ~np.isin(i, fork)]
            if len(saves):
                s["stall"][saves] = 0.0
                s["phase"][saves] = SAVE
            done = i[(ph == SAVE) & ~(s["prog"][i] < 1.0)]  # the engine's `while progress < 1.0`
            if len(done):
                self.ended[done] = s["t"][done]
                for k in done:
                    self.events[k].append(Event(float(s["t"][k]), "save done"))
                s["phase"][done] = AFTER
                self._changed(done, child=False)
                self.record(done)
                self._timed(done, AFTER, r.after[done], STEPS_PER_STEADY)
            finished = i[np.isin(ph, (AFTER, FAILED)) & timed_out]
            s["phase"][finished] = DONE
            if not (len(fork) or len(saves) or len(done) or len(finished)):
                return

    def results(self) -> list[Result]:
        """One summary per run, by the engine's own :func:`sim.result.summarize`."""
        ids = np.concatenate([x[0] for x in self.log])
        cols = [np.concatenate([x[j] for x in self.log]) for j in range(1, 6)]
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        cols = [c[order] for c in cols]
        bounds = np.searchsorted(ids, np.arange(len(self.r.preps) + 1))
        out = []
        for k, p in enumerate(self.r.preps):
            lo, hi = bounds[k], bounds[k + 1]
            rec = RunRecord(p.budget, timeline=False)
            zeros = np.zeros(hi - lo)
            rec.step_table = np.column_stack(
                [cols[0][lo:hi], cols[1][lo:hi], cols[2][lo:hi], cols[3][lo:hi], zeros, zeros]
            )
            rec.phases = [PHASES[c] for c in cols[4][lo:hi]]
            rec.max_wait_s = float(self.peaks["wait"][k])
            rec.worst_request_s = float(self.peaks["worst"][k])
            rec.cow_peak, rec.demand_peak = self.peaks["cow"][k], self.peaks["demand"][k]
            rec.container_peak, rec.swap_peak = self.peaks["container"][k], self.peaks["swap"][k]
            rec.min_served_in_save = self.min_served[k]
            rec.deferred_requests = float(self.s["deferred"][k])
            if self.r.churns:
                rec.evicted_keys, rec.expired_keys = float(self.s["evicted"][k]), float(self.s["expired"][k])
                rec.rejected_writes = float(self.s["rejected"][k])
            run = _BatchRun(
                p=p,
                record=rec,
                oom_victim=self.victim[k],
                oom_choice=self.choice[k],
                failure=self.failure[k],
                events=self.events[k],
                backup_started_at=None if np.isnan(self.started[k]) else float(self.started[k]),
                save_ended_at=None if np.isnan(self.ended[k]) else float(self.ended[k]),
            )
            out.append(summarize(run))
        return out


def simulate_many(preps: list[Prepared]) -> list[Result]:
    """Summaries (no timelines) of many runs :func:`supported` accepts, advanced together."""
    if not preps:
        return []
    lock = Lockstep(preps)
    lock.run()
    return lock.results()
