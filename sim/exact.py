"""Per-request reference for short windows: one event per request, every key on its pages, every page copy counted.

The engine is a fluid model: writes are a rate, copy-on-write is an expectation over keys and
pages, the queue is a fluid plus M/M/1 jitter. This reference plays the same backup request by
request, so tests can check those approximations: Poisson arrivals at the scenario's rates, each
write picks a key from the key distribution and dirties the pages its rewritten allocations sit on
(slots laid back to back from page-aligned starts, keys on slots in random order, as the model
assumes), a single FIFO server with exponential service plus the page-copy fault of each page a
write copies, frozen for the fork stall. It is slow on purpose: keep windows to seconds and
datasets to ~10^5 keys. Fork backups only, without child dismissal (values under a page or Redis < 7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .physics.datatypes import group_layouts
from .physics.keyspace import sample_keys
from .prepare import Prepared


@dataclass
class ExactRun:
    """What the per-request play of a backup window measured."""

    writes: int  # writes executed between the fork and the end of the window
    cow_bytes: float  # pages copied by then (plus the model's fixed base), bytes
    latencies_s: np.ndarray  # of the requests arriving between the fork and the end of the window
    stall_s: float


def play(p: Prepared, window_s: float, rng: np.random.Generator, warmup_s: float = 0.2) -> ExactRun:
    """Play the fork at time 0 and ``window_s`` seconds after it (constant rates, a warm queue at the fork)."""
    scenario = p.scenario
    writes_rate, reads_rate = p.rates(scenario.simulation.before)
    rate = writes_rate + reads_rate
    count = rng.poisson(rate * (warmup_s + window_s))
    arrivals = np.sort(rng.uniform(-warmup_s, window_s, count))
    is_write = rng.random(count) < writes_rate / rate
    keys = sample_keys(scenario.workload.key_distribution, p.keys, count, rng)
    service = rng.exponential(p.service_s, count)
    engine = scenario.engine
    ((_, layout),) = group_layouts(
        "string",
        p.keys,
        p.value_size,
        p.value_size,
        key_size=p.key_size,
        engine_version=engine.version,
        engine=engine.name,
        allocator=engine.allocator,
    )
    slot_of_key = rng.permutation(p.keys)  # keys sit on slots independently of their popularity
    first, last, dirty = [], [], []
    for rewrite in layout.effect("SET").rewrites:  # the stride a rewritten slot repeats at (its class's neighbours)
        offset = slot_of_key * rewrite.size
        first.append(offset // p.page_size)
        last.append((offset + rewrite.size - 1) // p.page_size)
        dirty.append(np.zeros(int(last[-1].max()) + 1, dtype=bool))

    stall_end = p.fork_stall_s
    free_at = -np.inf  # when the server finishes the request ahead
    latencies = np.empty(count)
    writes = copied = 0
    for k in range(count):
        start = max(float(arrivals[k]), free_at)
        if 0.0 <= start < stall_end:  # the fork freezes the main thread
            start = stall_end
        work = service[k]
        if is_write[k] and start >= 0.0:  # after the fork a write copies the pages it touches first
            key = keys[k]
            new = 0
            for f, end, d in zip(first, last, dirty, strict=True):
                pages = d[f[key] : end[key] + 1]
                new += int(pages.size - pages.sum())
                pages[:] = True
            work += new * p.cow_fault_s
            if start < window_s:
                writes += 1
                copied += new
        free_at = start + work
        latencies[k] = free_at - arrivals[k]
    during = arrivals >= 0.0
    return ExactRun(
        writes=writes,
        cow_bytes=p.cow.base_bytes + copied * p.page_size,
        latencies_s=latencies[during],
        stall_s=stall_end,
    )
