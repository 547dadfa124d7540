"""ElastiCache's forkless ("cooperative background processing") backup.

AWS documents only the behaviour: with too little free memory for a fork, engines from 2.8.22
save without forking, "the forkless method can affect both latency and throughput", and "if the
write load is high during a forkless backup, writes to the cache are delayed" (docs/elasticache.md
§3.1). Its implementation is not public. rbsim follows the closest published design, Valkey's
forkless save (docs/literature.md §4.3, ``bgiteration.c``), and marks every figure as an assumption:

* the main thread gives the snapshot at least ``min_share`` of its time when busy (a 1 ms slice
  every 2 ms cycle) and any idle time; a ``main_thread_share`` of the serialization work runs
  there (1.0: all of it, as "cooperative" suggests), the rest on a background thread;
* a write to a key the snapshot has not reached yet saves that key first ("expedite"); values up
  to ``clone_max_value`` are cloned and the write goes on, larger ones delay the write by the
  time to serialize the key;
* no fork, so no stall and no copy-on-write; memory grows only by the bounded clone pool.
"""

from __future__ import annotations

import numpy as np

from .keyspace import Popularity

SLICE_S = 0.001
"""Main-thread slice of one snapshot step: Valkey's BGITER_CYCLE_BUDGET_MS = 1 ms (docs/literature.md §4.3)."""


def snapshot_share(utilization: float, min_share: float) -> float:
    """Share of main-thread time the snapshot takes: idle time, but at least ``min_share``."""
    return float(min(1.0, max(min_share, 1.0 - utilization)))


def unsaved_write_fraction(popularity: Popularity, writes_since_start: float, progress: float) -> float:
    """Share of writes hitting a key neither saved yet nor already expedited.

    A key is still unsaved with probability ``1 - progress`` (the scan order ignores popularity)
    and not yet expedited if no earlier write hit it: ``sum_j c_j p_j exp(-p_j n)``.
    """
    untouched = float(popularity.counts @ (popularity.probs * np.exp(-popularity.probs * writes_since_start)))
    return max(0.0, 1.0 - progress) * untouched


def progress_rate(share: float, work_s: float, main_thread_share: float) -> float:
    """Save progress per second when the snapshot gets ``share`` of the main thread.

    ``work_s`` is the single-core serialization time; the main-thread part advances with
    ``share``, the background part at full speed; the slower of the two sets the pace.
    """
    if work_s <= 0:
        return float("inf")
    main = share / (main_thread_share * work_s) if main_thread_share > 0 else float("inf")
    background = 1.0 / ((1.0 - main_thread_share) * work_s) if main_thread_share < 1 else float("inf")
    return min(main, background)
