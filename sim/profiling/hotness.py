"""Which keys are hot, from OBJECT IDLETIME: a Zipf exponent that makes the model's distinct-key curve match
the share of sampled keys accessed within the last few seconds.

Copy-on-write grows with the distinct keys the writes hit, so a profile that writes ``uniform`` for a skewed
cache overstates it (a mixed cache profiled under Zipf 0.99 writes: +42 % self-check error). A key's idle
time is the seconds since its last access (the LRU clock, 1 s resolution; reads count too, so a read-heavy
cache looks flatter: the safe side). With writes at ``W`` per second for longer than ``T`` seconds, the share
of keys with an idle time below ``T`` is the distinct fraction after ``W x T`` writes
(:meth:`sim.physics.keyspace.Popularity.distinct_fraction`); the exponent whose curve passes nearest the
observed shares over the windows that tell something (2-50 % of keys touched) is the one written. A save
freezes the LRU clock of the keys it runs beside (``lookupKey`` skips the update while a child lives), so
right after one the short windows read low and the fit comes out steeper.
"""

from __future__ import annotations

import numpy as np

from ..keydist import Uniform, Zipf
from ..physics.keyspace import popularity

WINDOWS_S = (2, 4, 8, 15, 30, 60, 120)
"""Idle-time windows compared: longer than the LRU clock's 1 s, shorter than a profiled server's uptime."""
EXPONENTS = tuple(round(0.05 * i, 2) for i in range(0, 33))
"""Zipf exponents tried, 0 (uniform) to 1.6 in steps of 0.05."""
MIN_SAMPLES = 30
INFORMATIVE = (0.02, 0.5)
"""Windows touching 2-50 % of the sampled keys: fewer says nothing the sample can resolve, and above half the
keys' idle times reach back to when they were loaded (a restart or a bulk fill), not to a write."""


def fit_zipf(
    idle_s: list[int], keys: int, writes_per_sec: float, live_s: float = float("inf")
) -> tuple[float | None, str]:
    """(Zipf exponent, 0.0 meaning uniform; or None when the sample cannot tell) and a line saying why.

    ``live_s``: seconds the LRU clock has run since the last save ended (windows reaching further back would
    see the save's frozen clock)."""
    if len(idle_s) < MIN_SAMPLES or writes_per_sec <= 0 or keys < 2:
        return None, f"too few idle times ({len(idle_s)}) or no writes to fit hot keys"
    idle = np.asarray(idle_s, float)
    windows = [t for t in WINDOWS_S if t <= live_s and INFORMATIVE[0] <= float(np.mean(idle < t)) <= INFORMATIVE[1]]
    if not windows:
        if live_s < WINDOWS_S[-1]:
            return None, f"a save ended {live_s:.0f} s before the sample and froze the keys' LRU clock"
        return None, "no idle-time window touched between 2 % and 50 % of the sampled keys"
    observed = np.array([np.mean(idle < t) for t in windows])
    writes = writes_per_sec * np.asarray(windows, float)
    best, best_error = 0.0, float("inf")
    for s in EXPONENTS:
        dist = Uniform() if s == 0 else Zipf(zipf=s)
        model = np.asarray(popularity(dist, keys).distinct_fraction(writes))
        error = float(np.sum((model - observed) ** 2))
        if error < best_error:
            best, best_error = s, error
    shown = ", ".join(f"{100 * o:.0f}% within {t}s" for o, t in zip(observed, windows, strict=True))
    return best, f"OBJECT IDLETIME of {len(idle_s)} sampled keys: {shown} at {writes_per_sec:.4g} writes/s"
