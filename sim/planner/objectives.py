"""Check one simulated backup against the plan's objectives and say, in words, what it broke.

Two checks always apply: the data must fit under maxmemory (else Redis evicts or refuses writes)
and the backup must complete; ``min_data_growth`` (default ×1.25) asks for room for the data to grow. The p99
objective uses the summary's ``p99_latency_ms`` and falls back
to the maximum latency (an upper bound) for simulators that do not report percentiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..units import format_bytes, format_duration
from .spec import Objectives


@dataclass(frozen=True)
class Violation:
    """One objective missed: which, what happened (with numbers), and the limit as a phrase."""

    objective: str
    message: str
    limit: str  # completes "... before <limit>", e.g. "swap exceeds 300 MB"


def format_limit(n: float) -> str:
    """Bytes as the user most likely wrote them: ``300 MB``, ``2 GiB``, else IEC with decimals."""
    n = int(n)
    for units, base in ((("GB", 3), ("MB", 2), ("KB", 1)), 1000), ((("GiB", 3), ("MiB", 2), ("KiB", 1)), 1024):
        for name, power in units:
            if n and n % base**power == 0:
                return f"{n // base**power} {name}"
    return format_bytes(n)


def _ms(value: float) -> str:
    return "unbounded (the node is saturated)" if math.isinf(value) else f"{value:.3g} ms"


def violations(objectives: Objectives, summary: dict, window_s: float) -> list[Violation]:
    """Every objective ``summary`` misses (empty: the candidate meets them all)."""
    if "error" in summary:
        return [Violation("simulator", f"the simulator failed: {summary['error']}", "the simulator fails")]
    s, o, out = summary, objectives, []
    if s["used_memory_bytes"] > s["maxmemory_bytes"]:
        out.append(
            Violation(
                "data_fits",
                f"used_memory {format_bytes(s['used_memory_bytes'])} exceeds maxmemory "
                f"{format_bytes(s['maxmemory_bytes'])}",
                "the data outgrows maxmemory",
            )
        )
    growth = s["maxmemory_bytes"] / s["used_memory_bytes"]
    if o.min_data_growth is not None and 1.0 <= growth < o.min_data_growth:
        out.append(
            Violation(
                "min_data_growth",
                f"the data can grow only ×{growth:.2f} before it outgrows maxmemory "
                f"{format_bytes(s['maxmemory_bytes'])} (at least ×{o.min_data_growth:g} wanted)",
                f"the data nearly fills maxmemory (less than ×{o.min_data_growth:g} growth left)",
            )
        )
    if s.get("overloaded"):
        out.append(
            Violation(
                "throughput",
                f"the offered {s['offered_load_per_sec']:,.0f} requests/s exceed the "
                f"~{s['throughput_ceiling_per_sec']:,.0f}/s one node serves",
                "the load exceeds what one node serves",
            )
        )
    if o.no_oom and s["outcome"] == "oom":
        out.append(
            Violation("no_oom", f"the OOM killer takes the {s.get('oom_victim') or 'process'}", "the OOM killer acts")
        )
    if not s["backup_completed"] and s["outcome"] != "oom":
        reason = s.get("failure") or s["outcome"]
        out.append(Violation("backup_completes", f"the backup fails ({reason})", "the backup fails"))
    if o.max_swap is not None and s["swap_peak_bytes"] > o.max_swap:
        allowed = "no swapping allowed" if o.max_swap == 0 else f"above {format_limit(o.max_swap)}"
        out.append(
            Violation(
                "max_swap",
                f"swaps {format_bytes(s['swap_peak_bytes'])} ({allowed})",
                "the node starts to swap" if o.max_swap == 0 else f"swap exceeds {format_limit(o.max_swap)}",
            )
        )
    if o.max_latency_ms is not None and s["max_latency_ms"] > o.max_latency_ms:
        out.append(
            Violation(
                "max_latency_ms",
                f"max latency {_ms(s['max_latency_ms'])} exceeds {o.max_latency_ms:g} ms",
                f"max latency exceeds {o.max_latency_ms:g} ms",
            )
        )
    if o.max_p99_latency_ms is not None:
        p99, what = s.get("p99_latency_ms"), "p99 latency"
        if p99 is None or math.isnan(p99):
            p99, what = s["max_latency_ms"], "max latency (p99 not simulated)"
        if p99 > o.max_p99_latency_ms:
            out.append(
                Violation(
                    "max_p99_latency_ms",
                    f"{what} {_ms(p99)} exceeds {o.max_p99_latency_ms:g} ms",
                    f"p99 latency exceeds {o.max_p99_latency_ms:g} ms",
                )
            )
    duration = s.get("backup_duration_s")
    if o.backup_within_window and s["backup_completed"] and duration is not None and duration > window_s:
        out.append(
            Violation(
                "backup_within_window",
                f"the backup takes {format_duration(duration)}, longer than its {format_duration(window_s)} window",
                "the backup outlasts its window",
            )
        )
    if o.min_headroom is not None and s["headroom_bytes"] < o.min_headroom:
        out.append(
            Violation(
                "min_headroom",
                f"memory headroom {format_bytes(s['headroom_bytes'])} is below {format_limit(o.min_headroom)}",
                f"headroom falls below {format_limit(o.min_headroom)}",
            )
        )
    if o.restore_within is not None:
        out += _restore_violations(o.restore_within, s)
    return out


def _restore_violations(limit_s: float, s: dict) -> list[Violation]:
    """The ``restore_within`` objective: the backup restores onto the candidate and is in sync within ``limit_s``."""
    if "restore_outcome" not in s:
        return [
            Violation(
                "restore_within",
                "the scenario has no restore: block to judge the restore by",
                "a restore cannot be judged",
            )
        ]
    if s["restore_outcome"] != "ok":
        return [
            Violation(
                "restore_within",
                f"the backup does not restore onto it ({s['restore_outcome']}: "
                f"{'; '.join(s['restore_messages'][-1:])})",
                "the backup no longer restores",
            )
        ]
    if s["restore_ready_s"] > limit_s:
        return [
            Violation(
                "restore_within",
                f"a restore takes {format_duration(s['restore_ready_s'])} until every "
                f"node serves, more than {format_duration(limit_s)}",
                "a restore outlasts its RTO",
            )
        ]
    return []


def describe(objectives: Objectives) -> list[str]:
    """The objectives in words, for reports."""
    o = objectives
    out = ["the data fits under maxmemory", "the backup completes"]
    if o.min_data_growth is not None:
        out.append(f"the data can grow ×{o.min_data_growth:g} before it outgrows maxmemory")
    if o.no_oom:
        out.append("no OOM kill")
    if o.max_swap is not None:
        out.append("no swapping" if o.max_swap == 0 else f"swap at most {format_limit(o.max_swap)}")
    if o.max_p99_latency_ms is not None:
        out.append(f"p99 latency at most {o.max_p99_latency_ms:g} ms")
    if o.max_latency_ms is not None:
        out.append(f"max latency at most {o.max_latency_ms:g} ms")
    if o.backup_within_window:
        out.append("the backup ends within its window")
    if o.min_headroom is not None:
        out.append(f"memory headroom at least {format_limit(o.min_headroom)}")
    if o.restore_within is not None:
        out.append(f"a restore serves within {format_duration(o.restore_within)}")
    return out
