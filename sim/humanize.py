"""Numbers as people read them in run output and report axes: ``8.09 s`` not ``8.09e+03 ms``, ``0 B`` not ``-0 B``."""

from __future__ import annotations

import math

from .units import format_bytes


def latency(ms: float | None) -> str:
    """A latency given in milliseconds: ``24.6 µs``, ``24.9 ms``, ``128 ms``, ``8.09 s``, ``2.5 min``."""
    if ms is None or not math.isfinite(ms):
        return "n/a"
    if ms < 1:
        return f"{ms * 1000:.3g} µs"
    if ms < 1000:
        return f"{ms:.3g} ms"
    if ms < 120_000:
        return f"{ms / 1000:.3g} s"
    return f"{ms / 60_000:.3g} min"


def size(n: float) -> str:
    """Bytes, IEC units; below half a byte either way is ``0 B`` (no ``-0 B``)."""
    return format_bytes(0 if abs(n) < 0.5 else n)


def per_second(n: float) -> str:
    """A rate: ``950/s``, ``3.9k/s``, ``600k/s``, ``1.2M/s`` (two or three significant digits)."""
    for suffix, unit in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= unit:
            return f"{n / unit:.3g}{suffix}/s"
    return f"{n:.3g}/s"


def nice_round(x: float) -> float:
    """The closest of 1, 1.5, 2, 3, 5, 7 x 10^k to ``x`` (on a log scale): ticks people can read."""
    if x <= 0:
        return x
    exp = math.floor(math.log10(x))
    steps = [m * 10.0**e for e in (exp - 1, exp, exp + 1) for m in (1, 1.5, 2, 3, 5, 7)]
    return min(steps, key=lambda s: abs(math.log(s / x)))
